//! Update → visible under churn: how long a member's change takes to show through the
//! apiserver's single-object GET while the member changes pods at a steady rate.
//!
//! One run (a fresh process): a `kube-sim` member (in-process, its own runtime) with the
//! [`fixture`] set, the synchro syncing it into one storage layer (`postgres`: the `internal`
//! layer on a fresh database of the local PostgreSQL; `sqlite`: the `internal` layer on a fresh
//! file; `memory`), and the apiserver over that same storage (in-process, HTTPS, as the
//! `binding-apiserver` runs them). Once the initial sync is done, kube-sim churns pods at the
//! given rate for the given time. Every churn update that stamps `kube-sim.io/churned-at` (half of
//! them: the other half are status updates) is announced by the simulator once stored; the
//! benchmark then polls `GET …/clusters/member/api/v1/namespaces/NS/pods/NAME` every millisecond
//! until the pod carries that stamp (or a later one). Update → visible = the first such answer
//! minus the stamp. A probe on the storage splits each update's lag into member → write start
//! (watch, queue, batching), the write itself, and written → seen (the read path and the poll
//! interval).
//!
//! `cargo xtask bench churn` runs the table: PostgreSQL, SQLite and memory, at 100 and 500
//! updates/s, three runs each, 30 s each. One run by hand:
//! `cargo bench -p clusterpedia-e2e --bench churn -- --storage postgres --rate 100 --seconds 30`;
//! `--param NAME=VALUE` (repeatable) adds a run-time parameter to the internal layer's `params`
//! (e.g. `--param synchronous_commit=off` on PostgreSQL); `--full-text-exclude pods,events` sets
//! its `fullTextSearch.exclude`; `--no-settle` starts the churn right after the initial sync
//! instead of after a checkpoint and a `sync` (see `settle`). Each run also reports the disk's
//! flush stalls during the churn (`DiskProbe`): on a shared virtual disk an `fdatasync` now and
//! then takes 50–300 ms, and every commit waiting on it with it.
//! Under `cargo test` (no `--bench`) it is a short smoke run on memory.

#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, ClusterStatus, PediaCluster};
use clusterpedia_synchro::{ClusterInput, Manager, SyncResourcesRef, SynchroOptions};
use futures::FutureExt as _;
use k8s_openapi::ByteString;
use kube_sim::{ChurnStamp, FixtureSpec, Simulator};
use storage_api::testing::{AfterWrite, Forwarding, Probe, Write};
use storage_api::{Change, ResourceStorageConfig, StorageFactory};
use storage_internal as _;
use support::{Client, Connection, Harness, RESOURCES, TOKEN};

/// The PostgreSQL database a `postgres` run creates and drops.
const BENCH_DATABASE: &str = "clusterpedia_bench_churn";
/// How long an update may take to show before it counts as lost.
const GIVE_UP: Duration = Duration::from_secs(10);
/// How often a poller asks at least (see [`visible_at`]).
const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The member's objects: 20 namespaces × 100 deployments × 10 pods (the baseline's "20k" set:
/// 20,000 pods, 2,000 deployments, replica sets and services, 2,000 configmaps, 10,000 events).
fn fixture() -> FixtureSpec {
    FixtureSpec {
        namespaces: 20,
        deployments_per_namespace: 100,
        replicas: 10,
        configmaps_per_namespace: 100,
        events_per_deployment: 5,
        widgets: 6,
        nodes: 10,
        seed: 1,
    }
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The churn stamp of a pod's JSON.
fn stamp_of(raw: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    value
        .pointer("/metadata/annotations")?
        .get(kube_sim::CHURNED_AT_ANNOTATION)?
        .as_str()?
        .parse()
        .ok()
}

/// When the storage write of each stamp started and ended (µs since the epoch).
#[derive(Default)]
struct Writes {
    /// Set to the churn's start (µs) to begin recording.
    active: AtomicU64,
    /// stamp → (write started, write ended).
    times: Mutex<HashMap<u64, (u64, u64)>>,
}

struct WriteProbe(Arc<Writes>);

impl Probe for WriteProbe {
    fn before_write(
        &self,
        _: &ResourceStorageConfig,
        write: Write<'_>,
    ) -> storage_api::Result<Option<AfterWrite>> {
        let since = self.0.active.load(Ordering::Relaxed);
        let Write::Apply(changes) = write else {
            return Ok(None);
        };
        if since == 0 {
            return Ok(None);
        }
        let stamps: Vec<u64> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Upsert(object) => stamp_of(&object.raw),
                Change::Delete(_) => None,
            })
            .filter(|t| *t >= since)
            .collect();
        if stamps.is_empty() {
            return Ok(None);
        }
        let started = now_micros();
        let writes = self.0.clone();
        Ok(Some(Box::new(move || {
            let ended = now_micros();
            if let Ok(mut times) = writes.times.lock() {
                for stamp in stamps {
                    // A later status update of the pod carries the same stamp: the first
                    // write of a stamp is the one that made it visible.
                    times.entry(stamp).or_insert((started, ended));
                }
            }
        })))
    }
}

/// Keep-alive connections to the apiserver, shared by the pollers.
struct Pool {
    client: Client,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<support::Answer> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut connection = match idle {
            Some(c) => c,
            None => self.client.connect().await?,
        };
        let answer = connection.get(path, headers).await?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        Ok(answer)
    }
}

/// Polls the pod of `stamp` until it carries the stamp (or a later one): when it did (µs), or
/// `None` after [`GIVE_UP`].
async fn visible_at(pool: Arc<Pool>, stamp: ChurnStamp) -> Option<u64> {
    let path = format!(
        "{RESOURCES}/clusters/member/api/v1/namespaces/{}/pods/{}",
        stamp.namespace, stamp.name
    );
    let bearer = format!("Bearer {TOKEN}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("accept", "application/json"),
    ];
    let started = Instant::now();
    while started.elapsed() < GIVE_UP {
        if let Ok(answer) = pool.get(&path, &headers).await {
            let now = now_micros();
            if answer.status == 200 && stamp_of(&answer.body).is_some_and(|s| s >= stamp.at_micros)
            {
                return Some(now);
            }
        }
        // Every 1 ms while the update is young, then every tenth of its age: the lag is
        // measured within 10% (+1 ms), and a slow update costs tens of GETs, not thousands (a
        // fixed 1 ms poll made the pollers' own load grow with the lag and feed it).
        let age = Duration::from_micros(now_micros().saturating_sub(stamp.at_micros));
        tokio::time::sleep(POLL_INTERVAL.max(age / 10)).await;
    }
    None
}

fn group(group: &str, resources: &[&str]) -> ClusterGroupResources {
    ClusterGroupResources {
        group: group.into(),
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

/// Runs one statement on the local PostgreSQL's `postgres` database.
async fn postgres_admin(statement: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut connection =
        sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    // The statements are built from constants of this file only.
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// The storage layer of a run, on a fresh database.
async fn factory(
    storage: &str,
    dir: &std::path::Path,
    params: &[(String, String)],
    full_text_exclude: Option<&str>,
) -> anyhow::Result<Arc<dyn StorageFactory>> {
    let mut yaml = match storage {
        "memory" => return Ok(Arc::new(storage_memory::MemoryStorageFactory::default())),
        "postgres" => {
            postgres_admin(&format!("DROP DATABASE IF EXISTS {BENCH_DATABASE}")).await?;
            postgres_admin(&format!("CREATE DATABASE {BENCH_DATABASE}")).await?;
            format!(
                "type: postgres\nhost: 127.0.0.1\nport: 5432\nuser: postgres\ndatabase: {BENCH_DATABASE}\n"
            )
        }
        "sqlite" => format!("type: sqlite\ndsn: {}\n", dir.join("churn.db").display()),
        other => anyhow::bail!("unknown storage {other:?}: want postgres, sqlite or memory"),
    };
    if !params.is_empty() {
        yaml.push_str("params:\n");
        for (name, value) in params {
            yaml.push_str(&format!("  {name}: {value:?}\n"));
        }
    }
    if let Some(resources) = full_text_exclude {
        yaml.push_str(&format!("fullTextSearch: {{exclude: [{resources}]}}\n"));
    }
    let config = dir.join("storage.yaml");
    std::fs::write(&config, yaml)?;
    Ok(storage_api::registry::new_factory("internal", Some(config)).await?)
}

/// After the initial sync: a PostgreSQL `CHECKPOINT` (when `postgres`: it ends the checkpoint
/// the sync's WAL started, and resets the WAL distance to the next), then `sync` of the whole
/// machine's page cache, so that neither writes back under the churn.
async fn settle(postgres: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    if postgres {
        postgres_admin("CHECKPOINT").await?;
    }
    let status =
        tokio::task::spawn_blocking(|| std::process::Command::new("sync").status()).await??;
    anyhow::ensure!(status.success(), "sync: {status}");
    eprintln!("settled in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Flushes 8 KiB to the disk every 10 ms (as a commit does) and counts the flushes over 20 ms:
/// what the disk does to every writer during the churn.
struct DiskProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<std::io::Result<Vec<Duration>>>,
}

impl DiskProbe {
    fn start(dir: &std::path::Path) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let path = dir.join("disk-probe");
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            use std::os::unix::fs::FileExt as _;
            let file = std::fs::File::create(&path)?;
            let block = [0x5au8; 8192];
            let mut stalls = Vec::new();
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                file.write_at(&block, (i % 1024) * 8192)?;
                let started = Instant::now();
                file.sync_data()?;
                let took = started.elapsed();
                if took > Duration::from_millis(20) {
                    stalls.push(took);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            std::fs::remove_file(&path)?;
            Ok(stalls)
        });
        Self { stop, thread }
    }

    /// Stops the probe: "count (max ms)" of the flushes over 20 ms.
    fn stop(self) -> String {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(Ok(stalls)) => match stalls.iter().max() {
                Some(max) => format!("{} ({:.0})", stalls.len(), max.as_secs_f64() * 1000.0),
                None => "0".to_owned(),
            },
            Ok(Err(e)) => format!("probe failed: {e}"),
            Err(_) => "probe panicked".to_owned(),
        }
    }
}

/// The CPU time the hypervisor gave to other guests (`steal` in /proc/stat) over a stretch of
/// time, as a share of the machine's CPU time.
struct StolenCpu {
    started: Instant,
    steal: Option<u64>,
}

impl StolenCpu {
    /// The `steal` ticks (USER_HZ) of all CPUs so far; `None` off Linux.
    fn ticks() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
        cpu.split_whitespace().nth(7)?.parse().ok()
    }

    fn start() -> Self {
        Self {
            started: Instant::now(),
            steal: Self::ticks(),
        }
    }

    /// "n.n %" since [`StolenCpu::start`].
    fn stop(self) -> String {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        match (self.steal, Self::ticks()) {
            (Some(before), Some(after)) => {
                // USER_HZ is 100 on Linux.
                let stolen = after.saturating_sub(before) as f64 / 100.0;
                let share = stolen / (self.started.elapsed().as_secs_f64() * cpus) * 100.0;
                format!("{share:.1} %")
            }
            _ => "n/a".to_owned(),
        }
    }
}

/// The `q` quantile of sorted `values` (µs), in milliseconds.
fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let bench = args.iter().any(|a| a == "--bench");
    // The storage settings, passed on to each run of the table.
    let mut passed = Vec::new();
    for (i, a) in args.iter().enumerate() {
        match a.as_str() {
            "--param" | "--full-text-exclude" => {
                passed.extend(args.get(i..i + 2).unwrap_or_default().iter().cloned());
            }
            "--no-settle" => passed.push(a.clone()),
            _ => {}
        }
    }
    if bench && arg("--storage").is_none() {
        return table(&arg("--runs"), &arg("--seconds"), &passed);
    }
    let storage = arg("--storage").unwrap_or_else(|| "memory".into());
    let rate: f64 = arg("--rate").map_or(Ok(100.0), |r| r.parse())?;
    let seconds: u64 = match arg("--seconds") {
        Some(s) => s.parse()?,
        None if bench => 30,
        None => 3,
    };
    let run = arg("--run").unwrap_or_else(|| "1".into());
    let fixtures = if bench {
        fixture()
    } else {
        FixtureSpec::small()
    };
    let params = args
        .windows(2)
        .filter(|w| w[0] == "--param")
        .map(|w| match w[1].split_once('=') {
            Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
            None => anyhow::bail!("--param {}: want NAME=VALUE", w[1]),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let settings = RunSettings {
        params,
        full_text_exclude: arg("--full-text-exclude"),
        settle: bench && !args.iter().any(|a| a == "--no-settle"),
    };
    let label = match &settings.full_text_exclude {
        Some(resources) => format!("{storage}, no words for {resources}"),
        None => storage.clone(),
    };
    let row = run_once(&storage, rate, seconds, fixtures, settings)?;
    println!("| {label} | {rate} | {run} | {row}");
    Ok(())
}

/// The storages (with the arguments of their runs), rates and runs of the table: PostgreSQL
/// as configured by default and with the busiest resources' full-text words left out.
const STORAGES: &[(&str, &[&str])] = &[
    ("postgres", &[]),
    ("postgres", &["--full-text-exclude", "pods,events"]),
    ("sqlite", &[]),
    ("memory", &[]),
];
const RATES: &[&str] = &["100", "500"];

/// One child process per storage × rate × run; prints the table.
fn table(runs: &Option<String>, seconds: &Option<String>, passed: &[String]) -> anyhow::Result<()> {
    let runs: usize = runs.as_deref().map_or(Ok(3), str::parse)?;
    let seconds = seconds.clone().unwrap_or_else(|| "30".into());
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for (storage, storage_args) in STORAGES {
        for rate in RATES {
            for run in 1..=runs {
                eprintln!("churn: {storage} {storage_args:?} at {rate}/s, run {run}...");
                let output = std::process::Command::new(&exe)
                    .args(["--bench", "--storage", storage, "--rate", rate])
                    .args(["--seconds", &seconds, "--run", &run.to_string()])
                    .args(*storage_args)
                    .args(passed)
                    .stderr(std::process::Stdio::inherit())
                    .output()?;
                let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                if !output.status.success() {
                    anyhow::bail!("the {storage} run at {rate}/s failed: {line}");
                }
                eprintln!("{line}");
                rows.push(line);
            }
        }
    }
    let spec = fixture();
    println!(
        "A kube-sim member of {} pods (the 20k set, {} namespaces), synced by the synchro into \
         the storage, served by the apiserver over the same storage in the same process \
         (HTTPS, as `binding-apiserver`); defaults: 5 workers, batches of at most 500. Then \
         kube-sim updates random pods at the given rate for {seconds} s; each update that stamps \
         `kube-sim.io/churned-at` (half of them) is polled through the single-object GET until \
         it shows, every 1 ms while younger than 10 ms, then every tenth of its age (within \
         10%). Update → visible = first answer carrying the stamp − the stamp (ms). The last \
         three columns are the mean of each stage over the slowest 1% of updates: \
         member → write start (watch, queue, batching), the storage write, written → seen \
         (read path and poll interval). One fresh process (and database) per run. After the \
         initial sync and before the churn the storage settles: PostgreSQL checkpoints, then \
         the machine's page cache is written back (`sync`), so that the churn meets the steady \
         state rather than the write-back of the sync (`--no-settle` skips it). Disk stalls: \
         during the churn a probe writes 8 KiB and `fdatasync`s it every 10 ms in the run's \
         temporary directory (the same disk as PostgreSQL's data here); the count of those \
         that took over 20 ms, and the longest. A commit waits for the same kind of flush. \
         CPU stolen: the share of the machine's CPU time the hypervisor gave to other guests \
         during the churn (`steal` of /proc/stat), which slows every stage at once.\n",
        spec.pods(),
        spec.namespaces
    );
    if !passed.is_empty() {
        println!("Every run with `{}`.\n", passed.join(" "));
    }
    println!(
        "| storage | updates/s | run | updates measured | lost | p50 ms | p99 ms | max ms | \
         slowest 1%: member → write start ms | write ms | written → seen ms | \
         disk stalls > 20 ms (max) | CPU stolen |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// The storage settings of one run.
struct RunSettings {
    /// `--param NAME=VALUE`: run-time parameters of the internal layer.
    params: Vec<(String, String)>,
    /// `--full-text-exclude pods,events`: the internal layer's `fullTextSearch.exclude`.
    full_text_exclude: Option<String>,
    /// Settle after the initial sync (see [`settle`]; benchmark runs only); `--no-settle`
    /// churns right after it.
    settle: bool,
}

/// One run; returns the row's cells after storage, rate and run.
fn run_once(
    storage: &str,
    rate: f64,
    seconds: u64,
    fixtures: FixtureSpec,
    settings: RunSettings,
) -> anyhow::Result<String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let dir = support::temp_dir("churn");

    // The member, on its own runtime.
    let sim_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kube-sim")
        .enable_all()
        .build()?;
    let sim = sim_runtime.block_on(Simulator::builder().fixtures(fixtures).start())?;
    let kubeconfig = sim.kubeconfig_yaml("member");

    // The storage and the apiserver over it, on the harness's runtime.
    let writes = Arc::new(Writes::default());
    let storage_name = storage.to_owned();
    let storage_dir = dir.clone();
    let settle_after_sync = settings.settle;
    let probe = WriteProbe(writes.clone());
    let harness = Harness::start(
        move || {
            async move {
                let inner = factory(
                    &storage_name,
                    &storage_dir,
                    &settings.params,
                    settings.full_text_exclude.as_deref(),
                )
                .await
                .expect("the storage starts");
                Arc::new(Forwarding::with_probe(inner, probe)) as Arc<dyn StorageFactory>
            }
            .boxed()
        },
        |_| async {}.boxed(),
        |_, _| {},
    );

    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async {
        let mut options = SynchroOptions::defaults();
        options.metrics_port = 0;
        let manager = Manager::new(
            &options,
            harness.factory.clone(),
            Default::default(),
            Arc::new(clusterpedia_synchro::status::LogStatusWriter),
            None,
        );
        let cluster = PediaCluster::new(
            "member",
            ClusterSpec {
                kubeconfig: Some(ByteString(kubeconfig.into_bytes())),
                sync_resources: vec![
                    group(
                        "",
                        &["pods", "services", "configmaps", "events", "namespaces", "nodes"],
                    ),
                    group("apps", &["deployments", "replicasets"]),
                ],
                ..Default::default()
            },
        );
        let started = Instant::now();
        manager.apply(ClusterInput {
            cluster,
            sync_resources_ref: SyncResourcesRef::None,
        });
        let mut statuses = manager.statuses();
        loop {
            let done = statuses
                .borrow_and_update()
                .get("member")
                .is_some_and(ClusterStatus::past_initial_lists);
            if done {
                break;
            }
            tokio::time::timeout(Duration::from_secs(600), statuses.changed()).await??;
        }
        eprintln!("synced in {:.1} s", started.elapsed().as_secs_f64());
        // Let the storage settle after the bulk load: the churn measures the steady state, not
        // the write-back of the initial sync (see `settle`).
        if settle_after_sync {
            settle(storage == "postgres").await?;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let disk = DiskProbe::start(&dir);
        let steal = StolenCpu::start();

        let pool = Arc::new(Pool {
            client: harness.client(),
            idle: Mutex::new(Vec::new()),
        });
        let mut stamps = sim.subscribe_churn();
        writes.active.store(now_micros(), Ordering::Relaxed);
        sim.set_churn_per_second(rate);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        let mut pollers = Vec::new();
        let mut lagged = 0u64;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                received = stamps.recv() => match received {
                    Ok(stamp) => {
                        let at = stamp.at_micros;
                        pollers.push(tokio::spawn(visible_at(pool.clone(), stamp)).map(move |r| (at, r.ok().flatten())));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => lagged += n,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        sim.set_churn_per_second(0.0);
        let stalls = disk.stop();
        let stolen = steal.stop();
        let results = futures::future::join_all(pollers).await;
        manager.shutdown().await;
        Ok::<_, anyhow::Error>((results, lagged, stalls, stolen))
    });
    let (results, lagged, stalls, stolen) = result?;
    if lagged > 0 {
        anyhow::bail!("the benchmark fell {lagged} churn updates behind");
    }

    let times = writes.times.lock().map(|t| t.clone()).unwrap_or_default();
    let mut lags = Vec::new();
    let mut lost = 0;
    let mut stages = Vec::new();
    for (stamp, visible) in results {
        let Some(visible) = visible else {
            lost += 1;
            continue;
        };
        let lag = visible.saturating_sub(stamp);
        lags.push(lag);
        let (start, end) = times.get(&stamp).copied().unwrap_or((visible, visible));
        stages.push((
            lag,
            start.saturating_sub(stamp),
            end.saturating_sub(start),
            visible.saturating_sub(end),
        ));
    }
    lags.sort_unstable();
    stages.sort_unstable();
    let median = |f: fn(&(u64, u64, u64, u64)) -> u64| {
        let mut values: Vec<u64> = stages.iter().map(f).collect();
        values.sort_unstable();
        quantile_ms(&values, 0.5)
    };
    eprintln!(
        "median of each stage: member → write start {:.1} ms, write {:.1} ms, written → seen \
         {:.1} ms",
        median(|s| s.1),
        median(|s| s.2),
        median(|s| s.3)
    );
    let tail = &stages[stages.len() - stages.len().div_ceil(100).min(stages.len())..];
    let mean = |f: fn(&(u64, u64, u64, u64)) -> u64| {
        if tail.is_empty() {
            f64::NAN
        } else {
            tail.iter().map(f).sum::<u64>() as f64 / tail.len() as f64 / 1000.0
        }
    };
    let row = format!(
        "{} | {lost} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
        lags.len(),
        quantile_ms(&lags, 0.5),
        quantile_ms(&lags, 0.99),
        quantile_ms(&lags, 1.0),
        mean(|s| s.1),
        mean(|s| s.2),
        mean(|s| s.3),
        stalls,
        stolen,
    );

    runtime.block_on(async {
        let _ = harness.factory.shutdown().await;
        if storage == "postgres" {
            postgres_admin(&format!(
                "DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"
            ))
            .await?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    sim_runtime.block_on(sim.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&harness.dir);
    Ok(row)
}
