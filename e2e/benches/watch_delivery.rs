//! Write → watch delivery: how long a change written to the `internal` layer takes to reach
//! the clients watching it through the apiserver, and what the change log costs when idle.
//!
//! One run (a fresh process): the `internal` layer on a fresh database (`postgres`: the local
//! PostgreSQL; `sqlite`: a file), 1,000 configmaps of one cluster, the apiserver over it
//! (in-process, HTTPS), and N clients each holding one HTTP/1.1 watch of all configmaps
//! (`GET …/resources/api/v1/configmaps?watch=1&resourceVersion=R&allowWatchBookmarks=true`,
//! every cluster). A writer then updates configmaps at the given rate for the given time, in
//! one `apply` per 10 ms tick (as the synchro batches), each object stamped with the time just
//! before its write; PostgreSQL writes through a factory of its own (as a separate
//! clustersynchro-manager process would), SQLite through the apiserver's (as the
//! `binding-apiserver` runs). Delivery = when a client read the event's line − the stamp; it
//! includes the write itself. Then the writes stop and, with the watches still open, the
//! process's SQL statements (sqlx's statement log, counted) and CPU time are measured for 10 s.
//!
//! `cargo xtask bench watch-delivery` runs the table (PostgreSQL and SQLite, 10 and 100
//! watchers, 500 updates/s for 15 s). One run by hand:
//! `cargo bench -p clusterpedia-e2e --bench watch_delivery -- --storage postgres --watchers 10`.
//! Under `cargo test` (no `--bench`) it is a short smoke run on SQLite.

#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt as _;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use storage_api::{Change, Gvr, ResourceObject, ResourceStorageConfig, StorageFactory};
use storage_internal as _;
use support::{Harness, RESOURCES, TOKEN};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The PostgreSQL database a `postgres` run creates and drops.
const BENCH_DATABASE: &str = "clusterpedia_bench_watch_delivery";
/// The annotation holding the write time of an update (µs since the epoch).
const STAMP: &str = "bench.clusterpedia.io/written-at";
/// Configmaps written (and updated round-robin).
const OBJECTS: usize = 1000;
/// The writer's tick.
const TICK: Duration = Duration::from_millis(10);
/// How long the idle cost is measured.
const IDLE: Duration = Duration::from_secs(10);

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn gvr() -> Gvr {
    Gvr::new("", "v1", "configmaps")
}

/// Configmap `i` at member version `version`, stamped `stamp`.
fn configmap(i: usize, version: u64, stamp: u64) -> ResourceObject {
    let raw = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i:04}","namespace":"default","uid":"uid-{i}","resourceVersion":"{version}","creationTimestamp":"2024-01-01T00:00:00Z","labels":{{"app":"bench"}},"annotations":{{"{STAMP}":"{stamp}"}}}},"data":{{"version":"{version}"}}}}"#
    );
    ResourceObject::parse(Arc::from("bench"), Arc::new(gvr()), Bytes::from(raw)).expect("object")
}

/// Counts the SQL statements sqlx logs (target `sqlx::query`).
struct StatementCounter(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// User and system CPU time of this process so far (`/proc/self/stat`, 100 ticks a second).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
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

/// The layer config of a run (statements logged at info, to count them), on a fresh database.
async fn storage_config(
    storage: &str,
    dir: &std::path::Path,
) -> anyhow::Result<std::path::PathBuf> {
    let yaml = match storage {
        "postgres" => {
            postgres_admin(&format!(
                "DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"
            ))
            .await?;
            postgres_admin(&format!("CREATE DATABASE {BENCH_DATABASE}")).await?;
            format!(
                "type: postgres\nhost: 127.0.0.1\nport: 5432\nuser: postgres\n\
                 database: {BENCH_DATABASE}\nlog: {{level: Info}}\n"
            )
        }
        "sqlite" => format!(
            "type: sqlite\ndsn: {}\nlog: {{level: Info}}\n",
            dir.join("watch.db").display()
        ),
        other => anyhow::bail!("unknown storage {other:?}: want postgres or sqlite"),
    };
    let config = dir.join("storage.yaml");
    std::fs::write(&config, yaml)?;
    Ok(config)
}

async fn open(config: &std::path::Path) -> Arc<dyn StorageFactory> {
    storage_api::registry::new_factory("internal", Some(config.to_owned()))
        .await
        .expect("the storage starts")
}

/// One watch over its own HTTP/1.1 connection: the delivery times (µs) of the stamped events,
/// until `stop`.
async fn watch(
    client: support::Client,
    path: String,
    ready: tokio::sync::mpsc::Sender<()>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<u32>> {
    let tls = client.connect_tls().await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .uri(format!("https://127.0.0.1{path}"))
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(
        response.status() == 200,
        "the watch answered {}",
        response.status()
    );
    ready.send(()).await?;
    let marker = format!("\"{STAMP}\":\"");
    let mut body = response.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    let mut delays = Vec::new();
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(frame) = frame else {
            anyhow::bail!("the watch ended early");
        };
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let now = now_micros();
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let Some(at) = find(&line, marker.as_bytes()) else {
                continue;
            };
            let digits = &line[at + marker.len()..];
            let stamp: u64 = digits
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0, |n, b| n * 10 + u64::from(b - b'0'));
            delays.push(u32::try_from(now.saturating_sub(stamp)).unwrap_or(u32::MAX));
        }
    }
    Ok(delays)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `q` quantile of sorted `values` (µs), in milliseconds.
fn quantile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted[index.min(sorted.len() - 1)]) / 1000.0
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
    if bench && arg("--storage").is_none() {
        return table(&arg("--seconds"));
    }
    let storage = arg("--storage").unwrap_or_else(|| "sqlite".into());
    let watchers: usize =
        arg("--watchers").map_or(Ok(if bench { 10 } else { 3 }), |w| w.parse())?;
    let rate: f64 = arg("--rate").map_or(Ok(if bench { 500.0 } else { 100.0 }), |r| r.parse())?;
    let seconds: u64 = match arg("--seconds") {
        Some(s) => s.parse()?,
        None if bench => 15,
        None => 2,
    };
    let idle = if bench { IDLE } else { Duration::from_secs(1) };
    let row = run_once(&storage, watchers, rate, seconds, idle)?;
    println!("| {storage} | {watchers} | {row}");
    Ok(())
}

const STORAGES: &[&str] = &["postgres", "sqlite"];
const WATCHERS: &[&str] = &["10", "100"];

/// One child process per storage × watchers; prints the table.
fn table(seconds: &Option<String>) -> anyhow::Result<()> {
    let seconds = seconds.clone().unwrap_or_else(|| "15".into());
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for storage in STORAGES {
        for watchers in WATCHERS {
            eprintln!("watch-delivery: {storage}, {watchers} watchers...");
            let output = std::process::Command::new(&exe)
                .args(["--bench", "--storage", storage, "--watchers", watchers])
                .args(["--rate", "500", "--seconds", &seconds])
                .stderr(std::process::Stdio::inherit())
                .output()?;
            let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !output.status.success() {
                anyhow::bail!("the {storage} run with {watchers} watchers failed: {line}");
            }
            eprintln!("{line}");
            rows.push(line);
        }
    }
    println!(
        "The `internal` layer on a fresh database with {OBJECTS} configmaps, served by the \
         apiserver (in-process, HTTPS); N clients each hold one HTTP/1.1 watch of all configmaps \
         of every cluster. A writer updates configmaps at 500/s for {seconds} s, one `apply` \
         per 10 ms tick; PostgreSQL through a factory of its own (as a separate \
         clustersynchro-manager), SQLite through the apiserver's (as `binding-apiserver`). \
         Delivery = a client read the event − the object's stamp taken just before its write \
         (so it includes the write, whose mean is its own column), over every event of every \
         watcher (ms). Default `watch` settings (SQLite polls the change log every 250 ms; \
         PostgreSQL is woken by `NOTIFY`). Idle: the writes stopped, the watches open, for \
         {} s: the SQL statements of the process (sqlx's statement log) per second, and its \
         CPU time (apiserver, layer and idle clients) as a share of one core. One fresh \
         process (and database) per row.\n",
        IDLE.as_secs()
    );
    println!(
        "| storage | watchers | updates/s achieved | events delivered | lost | p50 ms | p99 ms | \
         max ms | write ms (mean) | idle statements/s | idle CPU % of a core |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// One run; returns the row's cells after storage and watchers.
fn run_once(
    storage: &str,
    watchers: usize,
    rate: f64,
    seconds: u64,
    idle: Duration,
) -> anyhow::Result<String> {
    let statements = Arc::new(AtomicU64::new(0));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .with(
            StatementCounter(statements.clone()).with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("sqlx::query", tracing::Level::INFO),
            ),
        )
        .init();
    let dir = support::temp_dir("watch-delivery");
    let runtime = tokio::runtime::Runtime::new()?;
    let config = runtime.block_on(storage_config(storage, &dir))?;

    let served_config = config.clone();
    let harness = Harness::start(
        move || async move { open(&served_config).await }.boxed(),
        |factory| {
            async move {
                let objects: Vec<_> = (0..OBJECTS).map(|i| configmap(i, 1, 0)).collect();
                support::load(&*factory, &objects).await;
            }
            .boxed()
        },
        |_, _| {},
    );

    let result = runtime.block_on(async {
        let writer_factory = if storage == "postgres" {
            open(&config).await
        } else {
            harness.factory.clone()
        };
        let writer = writer_factory
            .new_resource_storage(ResourceStorageConfig {
                gvr: gvr(),
                kind: "ConfigMap".into(),
                namespaced: true,
            })
            .await?;
        let mut first = storage_api::ListOptions::default();
        first.limit = Some(1);
        let start_version = writer
            .list(&first)
            .await?
            .resource_version
            .unwrap_or_default();

        // The watchers, each on its own connection, all connected before the writes start.
        let client = support::Client::build(harness.addr, &harness.ca_pem, None, &[b"http/1.1"]);
        let path = format!(
            "{RESOURCES}/api/v1/configmaps?watch=1&resourceVersion={start_version}&allowWatchBookmarks=true"
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (ready, mut readies) = tokio::sync::mpsc::channel(watchers);
        let tasks: Vec<_> = (0..watchers)
            .map(|_| tokio::spawn(watch(client.clone(), path.clone(), ready.clone(), stopped.clone())))
            .collect();
        drop(ready);
        for _ in 0..watchers {
            tokio::time::timeout(Duration::from_secs(30), readies.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("a watcher failed to start"))?;
        }

        // The writes.
        let started = Instant::now();
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut written: u64 = 0;
        let mut write_time = Duration::ZERO;
        let mut applies = 0u32;
        while started.elapsed() < Duration::from_secs(seconds) {
            ticks.tick().await;
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            if due <= written {
                continue;
            }
            let stamp = now_micros();
            let changes: Vec<_> = (written..due)
                .map(|n| {
                    let i = usize::try_from(n).unwrap_or(0) % OBJECTS;
                    Change::Upsert(configmap(i, n + 2, stamp))
                })
                .collect();
            let before = Instant::now();
            writer.apply(changes).await?;
            write_time += before.elapsed();
            applies += 1;
            written = due;
        }
        let achieved = written as f64 / started.elapsed().as_secs_f64();
        // Let the last events arrive, then measure the idle cost with the watches open.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let statements_before = statements.load(Ordering::Relaxed);
        let cpu_before = cpu_time();
        let idle_started = Instant::now();
        tokio::time::sleep(idle).await;
        let idle_seconds = idle_started.elapsed().as_secs_f64();
        let idle_statements =
            (statements.load(Ordering::Relaxed) - statements_before) as f64 / idle_seconds;
        let idle_cpu = (cpu_time() - cpu_before).as_secs_f64() / idle_seconds * 100.0;
        let _ = stop.send(true);
        let mut delays = Vec::new();
        for task in tasks {
            delays.extend(task.await??);
        }
        if storage == "postgres" {
            writer_factory.shutdown().await?;
        }
        let mean_write_ms = write_time.as_secs_f64() * 1000.0 / f64::from(applies.max(1));
        Ok::<_, anyhow::Error>((
            written,
            achieved,
            delays,
            mean_write_ms,
            idle_statements,
            idle_cpu,
        ))
    });
    let (written, achieved, mut delays, mean_write_ms, idle_statements, idle_cpu) = result?;
    let expected = written * watchers as u64;
    let delivered = delays.len() as u64;
    delays.sort_unstable();
    let row = format!(
        "{achieved:.0} | {delivered} | {} | {:.1} | {:.1} | {:.1} | {mean_write_ms:.1} | \
         {idle_statements:.1} | {idle_cpu:.1} |",
        expected.saturating_sub(delivered),
        quantile_ms(&delays, 0.5),
        quantile_ms(&delays, 0.99),
        quantile_ms(&delays, 1.0),
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
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&harness.dir);
    Ok(row)
}
