//! Initial sync throughput and peak memory of the synchro.
//!
//! `cargo xtask bench initial-sync` builds `kube-sim` in release and runs this with `--bench`:
//! it starts `kube-sim --size 100k` as its own process (190k objects, the baseline's set), then
//! syncs it once per storage (`null`, `memory`, `postgres`), each in a fresh child process so that
//! the peak RSS is that run's own, and prints a Markdown table. `null` storage drops what it is
//! given, so its peak RSS is the synchro's own; `memory` keeps every object in the process;
//! `postgres` is the `internal` layer on the local PostgreSQL (a fresh database, dropped after).
//!
//! One run by hand: `cargo bench -p clusterpedia-e2e --bench initial_sync -- --kubeconfig
//! FILE --storage null|memory|postgres`. Under `cargo test` (no `--bench`) it is a smoke run
//! against an in-process simulator with the `small` fixtures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, ClusterStatus, PediaCluster};
use clusterpedia_synchro::{ClusterInput, Manager, SyncResourcesRef, SynchroOptions};
use k8s_openapi::ByteString;
use storage_api::testing::{AfterWrite, Forwarding, Probe, Write};
use storage_api::{
    Change, ClusterResourceVersions, CollectionResource, CollectionResourceStorage, Gvr,
    ListOptions, ListPage, ObjectEvent, ObjectKey, ResourceObject, ResourceStorage,
    ResourceStorageConfig, StorageError, StorageFactory, StoredResourceType, Verb,
};
use storage_internal as _;

/// Stores nothing; counts what it is given.
#[derive(Default)]
struct NullFactory {
    changes: Arc<AtomicU64>,
}

struct NullStorage {
    config: ResourceStorageConfig,
    changes: Arc<AtomicU64>,
}

#[async_trait]
impl StorageFactory for NullFactory {
    fn supported_verbs(&self) -> &'static [Verb] {
        &[Verb::Get, Verb::List]
    }
    async fn prepare_cluster(&self, _: &str) -> storage_api::Result<()> {
        Ok(())
    }
    async fn resource_versions(
        &self,
        _: &str,
    ) -> storage_api::Result<HashMap<Gvr, ClusterResourceVersions>> {
        Ok(HashMap::new())
    }
    async fn stored_resource_types(&self) -> storage_api::Result<Vec<StoredResourceType>> {
        Ok(Vec::new())
    }
    fn collection_resources(&self) -> Vec<CollectionResource> {
        Vec::new()
    }
    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> storage_api::Result<Arc<dyn ResourceStorage>> {
        Ok(Arc::new(NullStorage {
            config,
            changes: self.changes.clone(),
        }))
    }
    async fn new_collection_resource_storage(
        &self,
        _: &CollectionResource,
    ) -> storage_api::Result<Arc<dyn CollectionResourceStorage>> {
        Err(StorageError::config("no collections"))
    }
    async fn clean_cluster(&self, _: &str) -> storage_api::Result<()> {
        Ok(())
    }
    async fn clean_cluster_resource(&self, _: &str, _: &Gvr) -> storage_api::Result<()> {
        Ok(())
    }
    async fn check_ready(&self) -> storage_api::Result<()> {
        Ok(())
    }
    async fn shutdown(&self) -> storage_api::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl ResourceStorage for NullStorage {
    fn config(&self) -> &ResourceStorageConfig {
        &self.config
    }
    async fn get(&self, _: &str, _: &str, name: &str) -> storage_api::Result<ResourceObject> {
        Err(StorageError::not_found(name))
    }
    async fn list(&self, _: &ListOptions) -> storage_api::Result<ListPage> {
        Ok(ListPage::default())
    }
    async fn create(&self, _: ResourceObject) -> storage_api::Result<()> {
        Ok(())
    }
    async fn update(&self, _: ResourceObject) -> storage_api::Result<()> {
        Ok(())
    }
    async fn delete(&self, _: &ObjectKey) -> storage_api::Result<()> {
        Ok(())
    }
    async fn apply(&self, changes: Vec<Change>) -> storage_api::Result<()> {
        self.changes
            .fetch_add(changes.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn record_events(&self, _: Vec<ObjectEvent>) -> storage_api::Result<()> {
        Ok(())
    }
}

/// Once `active` holds the probe's start time (µs), records for each applied upsert stamped by
/// kube-sim's churn since then how long after the member's write it became queryable (the
/// write returned). A probe of a [`Forwarding`] storage.
struct LagProbe {
    active: Arc<std::sync::atomic::AtomicU64>,
    lags: Arc<std::sync::Mutex<Vec<u64>>>,
    seen: Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The churn write time kube-sim stamped on the object, in microseconds.
fn churned_at(object: &ResourceObject) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(&object.raw).ok()?;
    value
        .pointer("/metadata/annotations")?
        .get(kube_sim::CHURNED_AT_ANNOTATION)?
        .as_str()?
        .parse()
        .ok()
}

impl Probe for LagProbe {
    fn before_write(
        &self,
        _: &ResourceStorageConfig,
        write: Write<'_>,
    ) -> storage_api::Result<Option<AfterWrite>> {
        let Write::Apply(changes) = write else {
            return Ok(None);
        };
        let since = self.active.load(Ordering::Relaxed);
        let stamps: Vec<u64> = if since > 0 {
            // Stamps older than the probe come from earlier runs against the same simulator.
            changes
                .iter()
                .filter_map(|c| match c {
                    Change::Upsert(object) => churned_at(object),
                    Change::Delete(_) => None,
                })
                .filter(|t| *t >= since)
                .collect()
        } else {
            Vec::new()
        };
        if stamps.is_empty() {
            return Ok(None);
        }
        let (lags, seen) = (self.lags.clone(), self.seen.clone());
        Ok(Some(Box::new(move || {
            let now = now_micros();
            if let (Ok(mut lags), Ok(mut seen)) = (lags.lock(), seen.lock()) {
                // A later status-only update of the same pod carries the same stamp: only the
                // first arrival of a stamp is that write becoming queryable.
                lags.extend(
                    stamps
                        .into_iter()
                        .filter(|t| seen.insert(*t))
                        .map(|t| now.saturating_sub(t)),
                );
            }
        })))
    }
}

/// Sets kube-sim's churn rate through its admin endpoint.
async fn set_churn(client: &kube::Client, per_second: f64) -> anyhow::Result<()> {
    let request = http::Request::post("/_sim/churn")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(
            &serde_json::json!({ "perSecond": per_second }),
        )?)?;
    client.request_text(request).await?;
    Ok(())
}

/// The `q` quantile of sorted `values`, in milliseconds.
fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}

/// The `internal` layer on a fresh database of the local PostgreSQL.
async fn postgres_factory() -> anyhow::Result<Arc<dyn StorageFactory>> {
    postgres_admin(&format!("DROP DATABASE IF EXISTS {BENCH_DATABASE}")).await?;
    postgres_admin(&format!("CREATE DATABASE {BENCH_DATABASE}")).await?;
    let config = std::env::temp_dir().join(format!("{BENCH_DATABASE}-{}.yaml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "type: postgres\nhost: 127.0.0.1\nport: 5432\nuser: postgres\ndatabase: {BENCH_DATABASE}\n"
        ),
    )?;
    let factory = storage_api::registry::new_factory("internal", Some(config.clone())).await?;
    let _ = std::fs::remove_file(config);
    Ok(factory)
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

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn group(group: &str, resources: &[&str]) -> ClusterGroupResources {
    ClusterGroupResources {
        group: group.into(),
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

/// The storages the table compares.
const STORAGES: &[&str] = &["null", "memory", "postgres"];
/// The churn rate (updates per second) under which a storing run measures the lag.
const CHURN_PER_SECOND: &str = "500";
/// The PostgreSQL database a `postgres` run creates and drops.
const BENCH_DATABASE: &str = "clusterpedia_bench_initial_sync";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--kubeconfig") {
        return table(&args);
    }
    tokio::runtime::Runtime::new()?.block_on(sync_once())
}

/// Starts `kube-sim` (release, next to this binary), then one child run per storage.
fn table(args: &[String]) -> anyhow::Result<()> {
    let size = args
        .iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1))
        .map_or("100k", String::as_str);
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(std::path::Path::parent)
        .ok_or_else(|| anyhow::anyhow!("no target directory"))?;
    let sim_binary = release.join("kube-sim");
    if !sim_binary.exists() {
        anyhow::bail!(
            "{} is missing: run `cargo build --release -p kube-sim` first (cargo xtask bench does)",
            sim_binary.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("initial-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("member.yaml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut sim = std::process::Command::new(&sim_binary)
        .args(["--size", size, "--cluster-name", "member"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let started = Instant::now();
    while !kubeconfig.exists() {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = sim.kill();
            anyhow::bail!("kube-sim did not start");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let sim_start = started.elapsed();
    let mut rows = Vec::new();
    for storage in STORAGES {
        let mut run = std::process::Command::new(&exe);
        run.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--storage", storage]);
        if *storage != "null" {
            run.args(["--churn", CHURN_PER_SECOND]);
        }
        let output = run.stderr(std::process::Stdio::inherit()).output()?;
        let line = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            let _ = sim.kill();
            anyhow::bail!("the {storage} run failed: {line}");
        }
        rows.push(line.trim().to_owned());
    }
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "Initial sync of `kube-sim --size {size}` (a separate process, started in {:.1} s) by the synchro, \
         one fresh process per storage; goal: 190k objects in ≤ 20 s with ≤ 300 MB \
         (the Go original: 105.7 s, 8.5 GB). Then, in the same process, kube-sim churns pods at \
         {CHURN_PER_SECOND} updates/s for 20 s; the lag runs from kube-sim's write (stamped in an \
         annotation) to the storage's write returning (queryable). The peak RSS is taken before \
         the churn.\n",
        sim_start.as_secs_f64()
    );
    println!(
        "| storage | objects | seconds | objects/s | peak RSS of the synchro process | \
         update → queryable p50 / p99 under {CHURN_PER_SECOND} updates/s (20 s) |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// One sync of the member in `--kubeconfig` (or an in-process `small` simulator) into one storage.
async fn sync_once() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let storage_name = arg("--storage").unwrap_or_else(|| "null".into());
    let mut sim = None;
    let kubeconfig = match arg("--kubeconfig") {
        Some(path) => std::fs::read_to_string(&path)?,
        None => {
            let handle = kube_sim::Simulator::builder().start().await?;
            let kubeconfig = handle.kubeconfig_yaml("member");
            sim = Some(handle);
            kubeconfig
        }
    };
    let null = Arc::new(NullFactory::default());
    let storage: Arc<dyn StorageFactory> = match storage_name.as_str() {
        "memory" => Arc::new(storage_memory::MemoryStorageFactory::default()),
        "postgres" => postgres_factory().await?,
        _ => null.clone(),
    };
    let probing = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let lags = Arc::new(std::sync::Mutex::new(Vec::new()));
    let storage: Arc<dyn StorageFactory> = Arc::new(Forwarding::with_probe(
        storage,
        LagProbe {
            active: probing.clone(),
            lags: lags.clone(),
            seen: Default::default(),
        },
    ));
    let churn_client = match arg("--churn") {
        Some(_) => Some(kube::Client::try_from(
            kube::Config::from_custom_kubeconfig(
                kube::config::Kubeconfig::from_yaml(&kubeconfig)?,
                &Default::default(),
            )
            .await?,
        )?),
        None => None,
    };
    let mut options = SynchroOptions::defaults();
    options.metrics_port = 0;
    if let Some(n) = arg("--page-size") {
        options.page_size = n.parse()?;
    }
    if let Some(n) = arg("--worker-number") {
        options.worker_number = n.parse()?;
    }
    let manager = Manager::new(
        &options,
        storage.clone(),
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
                    &[
                        "pods",
                        "services",
                        "configmaps",
                        "events",
                        "namespaces",
                        "nodes",
                    ],
                ),
                group("apps", &["deployments", "replicasets"]),
                group("example.io", &["*"]),
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
    let elapsed = started.elapsed();
    let objects = match storage_name.as_str() {
        "memory" | "postgres" => storage
            .resource_versions("member")
            .await?
            .values()
            .map(|v| v.resources.len() as u64)
            .sum(),
        _ => null.changes.load(Ordering::Relaxed),
    };
    let peak = peak_rss_mib();
    let lag = match (&churn_client, arg("--churn")) {
        (Some(client), Some(rate)) => {
            let rate: f64 = rate.parse()?;
            probing.store(now_micros(), Ordering::Relaxed);
            set_churn(client, rate).await?;
            tokio::time::sleep(Duration::from_secs(20)).await;
            set_churn(client, 0.0).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut samples = lags.lock().map(|l| l.clone()).unwrap_or_default();
            samples.sort_unstable();
            format!(
                "{:.1} / {:.1} ms ({} updates)",
                quantile_ms(&samples, 0.5),
                quantile_ms(&samples, 0.99),
                samples.len()
            )
        }
        _ => "–".to_owned(),
    };
    println!(
        "| {storage_name} | {objects} | {:.1} | {:.0} | {peak:.0} MiB | {lag} |",
        elapsed.as_secs_f64(),
        objects as f64 / elapsed.as_secs_f64(),
    );
    manager.shutdown().await;
    if storage_name == "postgres" {
        storage.shutdown().await?;
        postgres_admin(&format!("DROP DATABASE IF EXISTS {BENCH_DATABASE}")).await?;
    }
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(())
}
