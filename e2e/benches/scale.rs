//! How cost grows with the work: sync, memory, database size and query latency at 10k, 100k
//! and 1M pods, and the per-cluster overhead of many small clusters.
//!
//! Each step is a fleet of simulated member clusters (kube-sim, served by child processes of
//! this binary: one cluster per process for the size steps, every cluster in one process for
//! the small-cluster step) and one fresh child process that runs the synchro over the
//! `internal` layer on a fresh PostgreSQL database (`clusterpedia_bench_scale` on
//! 127.0.0.1:5432, dropped after). That process measures, once every cluster is past its
//! initial lists: the sync time, its peak RSS (`VmHWM`), its threads and live tokio tasks, the
//! PostgreSQL connections open on the database, and the size of the tables per stored object.
//! Then it starts the apiserver in-process over the same storage (HTTPS, as
//! `binding-apiserver` runs them) and times five queries through it, one at a time on one
//! keep-alive HTTP/2 connection each: a list of 500 pods across every cluster, a label
//! selector matching one replica set's 10 pods, an owner query (the 10 pods of one
//! deployment, `ownerSeniority=1`), the page of 500 after 90% of the pods (its continue token
//! from an offset list) and the list of 500 as a `Table` (kubectl's Accept header), once just
//! after the sync and once after an `ANALYZE` (the statistics autovacuum gives later). Every answer
//! is checked (200 and its item count); every cluster's stored pods are checked against the
//! count its kube-sim serves.
//!
//! A cluster of P pods has P/10 deployments of 10 replicas (each with its replica set and
//! service) over P/1000 namespaces (at least 10, or one per deployment when fewer), one configmap per namespace (besides
//! `kube-root-ca.crt`), one event per deployment and 10 nodes.
//!
//! Run: `cargo xtask bench scale` (10k, 100k, 1M and 100 × 1k), or by hand
//! `cargo bench -p clusterpedia-e2e --bench scale -- --sizes 10k,100k --small-clusters 100`
//! (`--sizes 1M --small-clusters 0` for the 1M step alone; `--clusters N` clusters per size
//! step, default 10; `--small-pods P`; `--samples N` per query, default 40). Under
//! `cargo test` (no `--bench`) it is a smoke run: 2 clusters × 100 pods and 3 × 100.

#[path = "common/storage.rs"]
mod storage;
#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, ClusterStatus, PediaCluster};
use clusterpedia_synchro::{ClusterInput, Manager, SyncResourcesRef, SynchroOptions};
use futures::FutureExt as _;
use k8s_openapi::ByteString;
use kube_sim::{FixtureSpec, Simulator};
use serde_json::{Value, json};
use storage_api::StorageFactory;
use support::{Harness, RESOURCES, TOKEN};

/// The PostgreSQL database of a step (dropped after it).
const BENCH_DATABASE: &str = "clusterpedia_bench_scale";
/// Pods per deployment (and so per replica set: what the label and owner queries match).
const REPLICAS: usize = 10;
/// Requests before the timed ones, per query.
const WARMUP: usize = 3;
/// kubectl's Accept header for `get`.
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// How long the sync of a step may take.
const SYNC_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// The queries, in the table's order.
const QUERIES: &[&str] = &[
    "list 500",
    "label (10 pods)",
    "owner (10 pods)",
    "page after 90%",
    "Table 500",
];

/// The members of cluster `index` with `pods` pods (rounded down to whole deployments).
fn fixture(pods: usize, index: usize) -> FixtureSpec {
    let deployments = (pods / REPLICAS).max(1);
    let namespaces = if deployments >= 1000 {
        deployments / 100
    } else {
        deployments.min(10)
    };
    FixtureSpec {
        namespaces,
        deployments_per_namespace: deployments / namespaces,
        replicas: REPLICAS,
        configmaps_per_namespace: 1,
        events_per_deployment: 1,
        widgets: 0,
        nodes: 10,
        seed: index as u64 + 1,
    }
}

/// The name of member cluster `index`.
fn cluster_name(index: usize) -> String {
    format!("member-{index:03}")
}

fn kubeconfig_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{}.yaml", cluster_name(index)))
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve-sims") {
        return serve_sims(&args);
    }
    if args.iter().any(|a| a == "--sync") {
        return sync_and_query(&args);
    }
    table(&args)
}

// ---------------------------------------------------------------------------------------------
// The parent: steps, fleets, the table.

/// `10k`, `100k`, `1M`, `2500`: a pod count.
fn parse_count(text: &str) -> anyhow::Result<usize> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, factor) = if let Some(d) = lower.strip_suffix('k') {
        (d, 1_000)
    } else if let Some(d) = lower.strip_suffix('m') {
        (d, 1_000_000)
    } else {
        (lower.as_str(), 1)
    };
    Ok(digits.parse::<usize>()? * factor)
}

/// A row of the table: `clusters` clusters of `pods_per_cluster` pods, served by processes of
/// `per_process` clusters each.
struct Step {
    label: String,
    clusters: usize,
    pods_per_cluster: usize,
    per_process: usize,
}

/// The arguments of the parent.
struct Args {
    smoke: bool,
    steps: Vec<Step>,
    samples: usize,
}

impl Args {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let smoke = !args.iter().any(|a| a == "--bench");
        let sizes = arg_value(args, "--sizes")
            .unwrap_or_else(|| if smoke { "200" } else { "10k,100k,1M" }.into());
        let clusters: usize =
            arg_value(args, "--clusters").map_or(Ok(if smoke { 2 } else { 10 }), |v| v.parse())?;
        let small_clusters: usize = arg_value(args, "--small-clusters")
            .map_or(Ok(if smoke { 3 } else { 100 }), |v| v.parse())?;
        let small_pods = arg_value(args, "--small-pods")
            .map_or(Ok(if smoke { 100 } else { 1000 }), |v| parse_count(&v))?;
        let samples: usize =
            arg_value(args, "--samples").map_or(Ok(if smoke { 3 } else { 40 }), |v| v.parse())?;
        anyhow::ensure!(
            clusters > 0 && samples > 0,
            "--clusters and --samples must be positive"
        );
        let mut steps = Vec::new();
        for size in sizes.split(',').filter(|s| !s.trim().is_empty()) {
            let pods = parse_count(size)?;
            anyhow::ensure!(
                pods >= clusters * REPLICAS,
                "{size}: fewer than {REPLICAS} pods per cluster"
            );
            steps.push(Step {
                label: size.trim().to_owned(),
                clusters,
                pods_per_cluster: pods / clusters,
                per_process: 1,
            });
        }
        if small_clusters > 0 {
            steps.push(Step {
                label: format!("{small_clusters} small"),
                clusters: small_clusters,
                pods_per_cluster: small_pods,
                per_process: small_clusters,
            });
        }
        Ok(Self {
            smoke,
            steps,
            samples,
        })
    }
}

/// A child process serving some member clusters until its stdin closes.
struct SimProcess {
    child: Child,
    /// Objects the clusters serve (every resource, CRDs included).
    objects: usize,
}

impl SimProcess {
    /// Starts the clusters `first..first + count` and waits until they serve.
    fn start(dir: &Path, first: usize, count: usize, pods: usize) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--serve-sims")
            .arg(dir)
            .args([first.to_string(), count.to_string(), pods.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let objects = line
            .strip_prefix("ready ")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("kube-sim host {first}: {line:?}"))?;
        Ok(Self { child, objects })
    }

    /// `(VmRSS, VmHWM)` in MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        (
            status_kib(&status, "VmRSS:") / 1024.0,
            status_kib(&status, "VmHWM:") / 1024.0,
        )
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A number of `/proc/*/status` (kB for the memory fields).
fn status_kib(status: &str, field: &str) -> f64 {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// What the parent learnt about a step.
struct Measured {
    step: Step,
    sim_objects: usize,
    sim_processes: usize,
    /// Per process: (VmRSS, VmHWM) MiB after the step.
    sim_rss: (f64, f64),
    result: Value,
}

fn table(args: &[String]) -> anyhow::Result<()> {
    let args = Args::parse(args)?;
    let load_before = load_average();
    let mut measured = Vec::new();
    for step in args.steps {
        measured.push(run_step(step, args.samples)?);
    }
    let load_after = load_average();
    if args.smoke {
        eprintln!("smoke run: every cluster synced, pods stored = served, every query answered");
    }
    print_table(&measured, args.samples, &load_before, &load_after);
    Ok(())
}

fn run_step(step: Step, samples: usize) -> anyhow::Result<Measured> {
    let dir = support::temp_dir("scale");
    eprintln!(
        "scale {}: starting {} clusters of {} pods...",
        step.label, step.clusters, step.pods_per_cluster
    );
    let started = Instant::now();
    // Every process starts generating at once; then each is waited for.
    let mut starting = Vec::new();
    let mut first = 0;
    while first < step.clusters {
        let count = step.per_process.min(step.clusters - first);
        let dir = dir.clone();
        let pods = step.pods_per_cluster;
        starting.push(std::thread::spawn(move || {
            SimProcess::start(&dir, first, count, pods)
        }));
        first += count;
    }
    let mut sims = Vec::new();
    for handle in starting {
        let sim = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a kube-sim host panicked"))?;
        sims.push(sim?);
    }
    let sim_objects = sims.iter().map(|s| s.objects).sum();
    eprintln!(
        "scale {}: {} processes serve {sim_objects} objects after {:.1} s; syncing...",
        step.label,
        sims.len(),
        started.elapsed().as_secs_f64()
    );
    let output = Command::new(std::env::current_exe()?)
        .arg("--sync")
        .arg(&dir)
        .args([step.clusters.to_string(), samples.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let rss: Vec<(f64, f64)> = sims.iter().map(SimProcess::rss_mib).collect();
    let sim_processes = sims.len();
    for sim in sims {
        sim.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        output.status.success(),
        "scale {}: the synchro process failed ({}): {stdout}",
        step.label,
        output.status
    );
    let result: Value = serde_json::from_str(stdout.trim())?;
    let expected = step.clusters * fixture(step.pods_per_cluster, 0).pods();
    let (pods, objects) = (result["pods"].as_u64(), result["objects"].as_u64());
    anyhow::ensure!(
        pods == Some(expected as u64) && objects > pods,
        "scale {}: {pods:?} pods and {objects:?} objects stored, want {expected} pods and more objects",
        step.label
    );
    let n = rss.len().max(1) as f64;
    Ok(Measured {
        step,
        sim_objects,
        sim_processes,
        sim_rss: (
            rss.iter().map(|r| r.0).sum::<f64>() / n,
            rss.iter().map(|r| r.1).sum::<f64>() / n,
        ),
        result,
    })
}

fn print_table(measured: &[Measured], samples: usize, load_before: &str, load_after: &str) {
    let first = measured.first();
    let spec = fixture(first.map_or(1000, |m| m.step.pods_per_cluster), 0);
    println!(
        "Each row: member clusters served by kube-sim (its library, in child processes of the \
         benchmark: one cluster per process for the sizes, every cluster in one process for the \
         small clusters), synced by the synchro (defaults: 5 workers, pages of 500, batches of \
         500) into the `internal` layer on a fresh PostgreSQL database, in a fresh process per \
         row; then the apiserver in that process over the same storage (HTTPS). A cluster of P \
         pods: P/{REPLICAS} deployments of {REPLICAS} replicas (each with its replica set and \
         service), {} configmap per namespace, {} event per deployment, {} nodes; objects = \
         rows stored (pods, deployments, replica sets, services, configmaps, events, \
         namespaces, nodes). Sync = until every cluster is past its initial lists. Peak RSS = \
         VmHWM of the synchro process after the sync, before the apiserver starts; PG conns = \
         connections open on the database then; tasks = live tokio tasks of the synchro's \
         runtime. DB bytes/object = pg_total_relation_size of every table (indexes, TOAST) / \
         rows. Queries, after an `ANALYZE` of the database (the statistics autovacuum gives \
         after a while; the second table has them just after the sync, before it): {WARMUP} \
         warm-up then {samples} timed requests one at a time on one keep-alive HTTP/2 \
         connection, p50 / p99 ms (with {samples} samples p99 is about the \
         largest): list 500 = `/api/v1/pods?limit=500` over every cluster; label = a \
         `pod-template-hash` selector (one replica set's {REPLICAS} pods, over every cluster); \
         owner = `clusters/<c>/api/v1/pods?ownerName=<deployment>&ownerGR=deployments.apps\
         &ownerSeniority=1` ({REPLICAS} pods); page after 90% = `limit=500&continue=` the token \
         after 90% of the pods (keyset); Table 500 = the list of 500 with kubectl's Accept \
         header. Load average (1 min) {load_before} at the start, {load_after} at the end.\n",
        spec.configmaps_per_namespace, spec.events_per_deployment, spec.nodes
    );
    let mut heading = "| clusters × pods | pods | objects | sync s | objects/s | synchro peak RSS MiB | DB bytes/object | PG conns | tasks | threads |".to_owned();
    let mut rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned();
    for query in QUERIES {
        heading.push_str(&format!(" {query} p50 / p99 ms |"));
        rule.push_str("---:|");
    }
    println!("{heading}");
    println!("{rule}");
    for m in measured {
        let r = &m.result;
        let f = |key: &str| r[key].as_f64().unwrap_or(f64::NAN);
        let objects = f("objects");
        let mut line = format!(
            "| {} × {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
            m.step.clusters,
            m.step.pods_per_cluster,
            r["pods"],
            r["objects"],
            f("sync_seconds"),
            objects / f("sync_seconds"),
            f("peak_rss_mib"),
            f("db_bytes") / objects,
            r["pg_connections"],
            r["tasks"],
            r["threads"],
        );
        line.push_str(&query_cells(&r["queries"]));
        println!("{line}");
    }
    println!();
    let mut heading = "| just after the sync, before ANALYZE |".to_owned();
    let mut rule = "|---|".to_owned();
    for query in QUERIES {
        heading.push_str(&format!(" {query} p50 / p99 ms |"));
        rule.push_str("---:|");
    }
    println!("{heading}");
    println!("{rule}");
    for m in measured {
        println!(
            "| {} × {} |{}",
            m.step.clusters,
            m.step.pods_per_cluster,
            query_cells(&m.result["queries_fresh"])
        );
    }
    println!();
    println!(
        "| row | kube-sim processes | objects served (CRDs, service accounts included) | RSS per process MiB (now / peak) |"
    );
    println!("|---|---:|---:|---:|");
    for m in measured {
        println!(
            "| {} × {} | {} | {} | {:.0} / {:.0} |",
            m.step.clusters,
            m.step.pods_per_cluster,
            m.sim_processes,
            m.sim_objects,
            m.sim_rss.0,
            m.sim_rss.1
        );
    }
}

/// The cells ` p50 / p99 |` of each query of a result's `queries`.
fn query_cells(queries: &Value) -> String {
    QUERIES
        .iter()
        .map(|query| {
            let q = &queries[*query];
            format!(
                " {:.1} / {:.1} |",
                q["p50_ms"].as_f64().unwrap_or(f64::NAN),
                q["p99_ms"].as_f64().unwrap_or(f64::NAN)
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// `--serve-sims DIR FIRST COUNT PODS`: member clusters until stdin closes.

fn serve_sims(args: &[String]) -> anyhow::Result<()> {
    let at = args
        .iter()
        .position(|a| a == "--serve-sims")
        .ok_or_else(|| anyhow::anyhow!("--serve-sims"))?;
    let value = |i: usize| {
        args.get(at + i)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("--serve-sims DIR FIRST COUNT PODS"))
    };
    let dir = PathBuf::from(value(1)?);
    let first: usize = value(2)?.parse()?;
    let count: usize = value(3)?.parse()?;
    let pods: usize = value(4)?.parse()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let dir = &dir;
    let sims = runtime.block_on(async {
        let starting = (first..first + count).map(|index| async move {
            let sim = Simulator::builder()
                .fixtures(fixture(pods, index))
                .start()
                .await?;
            sim.write_kubeconfig(&kubeconfig_path(dir, index), &cluster_name(index))?;
            Ok::<_, anyhow::Error>(sim)
        });
        futures::future::try_join_all(starting).await
    })?;
    let objects: usize = sims.iter().map(|s| s.fixture_objects()).sum();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready {objects}")?;
    stdout.flush()?;
    // Serve until the parent closes stdin (or exits).
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    runtime.block_on(async {
        for sim in sims {
            sim.shutdown().await;
        }
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `--sync DIR CLUSTERS SAMPLES`: the synchro, then the apiserver and the queries.

fn group(group: &str, resources: &[&str]) -> ClusterGroupResources {
    ClusterGroupResources {
        group: group.into(),
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

/// What the synchro process measured after the sync.
struct Synced {
    seconds: f64,
    peak_rss_mib: f64,
    threads: f64,
    tasks: usize,
    pg_connections: i64,
    db_bytes: i64,
    objects: usize,
    pods: usize,
}

fn sync_and_query(args: &[String]) -> anyhow::Result<()> {
    // kube-client logs an error for each request on a kept-alive connection the member had
    // closed; the synchro's health check retries those at once (its `health` module), and
    // reports a member that stays unreachable itself.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,kube_client::client::builder=off")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let at = args
        .iter()
        .position(|a| a == "--sync")
        .ok_or_else(|| anyhow::anyhow!("--sync"))?;
    let value = |i: usize| {
        args.get(at + i)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("--sync DIR CLUSTERS SAMPLES"))
    };
    let dir = PathBuf::from(value(1)?);
    let clusters: usize = value(2)?.parse()?;
    let samples: usize = value(3)?.parse()?;
    let names: Vec<String> = (0..clusters).map(cluster_name).collect();
    let kubeconfigs = (0..clusters)
        .map(|i| std::fs::read_to_string(kubeconfig_path(&dir, i)))
        .collect::<Result<Vec<_>, _>>()?;

    // The synchro, on its own runtime (as its process would have).
    let runtime = tokio::runtime::Runtime::new()?;
    let data_dir = dir.join("storage");
    let (factory, manager, synced) = runtime.block_on(async {
        let factory = storage::factory("postgres", &data_dir, BENCH_DATABASE, false).await?;
        let mut options = SynchroOptions::defaults();
        options.metrics_port = 0;
        let manager = Manager::new(
            &options,
            factory.clone(),
            Default::default(),
            Arc::new(clusterpedia_synchro::status::LogStatusWriter),
            None,
        );
        let synced = sync(&manager, &factory, &names, &kubeconfigs).await?;
        Ok::<_, anyhow::Error>((factory, manager, synced))
    })?;
    let Synced {
        seconds,
        peak_rss_mib,
        threads,
        tasks,
        pg_connections,
        db_bytes,
        objects,
        pods,
    } = synced;
    eprintln!(
        "synced {objects} objects ({pods} pods) in {seconds:.1} s; peak RSS {peak_rss_mib:.0} MiB; \
         {pg_connections} PG connections; {tasks} tasks; {threads} threads; {db_bytes} table bytes"
    );

    // The apiserver over the same storage, then the queries.
    let served = factory.clone();
    let harness = Harness::start(
        move || async move { served }.boxed(),
        |_| async {}.boxed(),
        |_, _| {},
    );
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Just after the bulk load, then once the planner has statistics (what autovacuum's
    // ANALYZE gives after a while).
    let queries = client_runtime.block_on(async {
        eprintln!("queries just after the sync:");
        let fresh = queries(&harness, pods, samples).await?;
        analyze().await?;
        eprintln!("queries after ANALYZE:");
        let analyzed = queries(&harness, pods, samples).await?;
        Ok::<_, anyhow::Error>((fresh, analyzed))
    });
    runtime.block_on(async {
        manager.shutdown().await;
        let _ = factory.shutdown().await;
        storage::drop_database("postgres", BENCH_DATABASE).await
    })?;
    let _ = std::fs::remove_dir_all(&harness.dir);
    let (queries_fresh, queries) = queries?;
    println!(
        "{}",
        json!({
            "clusters": clusters,
            "pods": pods,
            "objects": objects,
            "sync_seconds": seconds,
            "peak_rss_mib": peak_rss_mib,
            "threads": threads as u64,
            "tasks": tasks,
            "pg_connections": pg_connections,
            "db_bytes": db_bytes,
            "queries": queries,
            "queries_fresh": queries_fresh,
        })
    );
    Ok(())
}

/// Syncs every cluster, checks each one's stored pods against its kube-sim, and measures.
async fn sync(
    manager: &Manager,
    factory: &Arc<dyn StorageFactory>,
    names: &[String],
    kubeconfigs: &[String],
) -> anyhow::Result<Synced> {
    let started = Instant::now();
    for (name, kubeconfig) in names.iter().zip(kubeconfigs) {
        manager.apply(ClusterInput {
            cluster: PediaCluster::new(
                name,
                ClusterSpec {
                    kubeconfig: Some(ByteString(kubeconfig.clone().into_bytes())),
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
                    ],
                    ..Default::default()
                },
            ),
            sync_resources_ref: SyncResourcesRef::None,
        });
    }
    let mut statuses = manager.statuses();
    let mut reported = Instant::now();
    loop {
        let done = {
            let statuses = statuses.borrow_and_update();
            names
                .iter()
                .filter(|n| {
                    statuses
                        .get(n.as_str())
                        .is_some_and(ClusterStatus::past_initial_lists)
                })
                .count()
        };
        if done == names.len() {
            break;
        }
        if reported.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {done} of {} clusters synced after {:.0} s",
                names.len(),
                started.elapsed().as_secs_f64()
            );
            reported = Instant::now();
        }
        anyhow::ensure!(
            started.elapsed() < SYNC_TIMEOUT,
            "{done} of {} clusters synced after {SYNC_TIMEOUT:?}",
            names.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(10), statuses.changed()).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_rss_mib = status_kib(&status, "VmHWM:") / 1024.0;
    let threads = status_kib(&status, "Threads:");
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let pg_connections = pg_connections().await?;

    let mut objects = 0;
    let mut pods = 0;
    for (name, kubeconfig) in names.iter().zip(kubeconfigs) {
        let versions = factory.resource_versions(name).await?;
        objects += versions.values().map(|v| v.resources.len()).sum::<usize>();
        let stored = versions
            .iter()
            .filter(|(gvr, _)| gvr.group.is_empty() && gvr.resource == "pods")
            .map(|(_, v)| v.resources.len())
            .sum::<usize>();
        let served = served_pods(kubeconfig).await?;
        anyhow::ensure!(
            stored == served,
            "{name}: {stored} pods stored, kube-sim serves {served}"
        );
        pods += stored;
    }
    let db_bytes = table_bytes().await?;
    Ok(Synced {
        seconds,
        peak_rss_mib,
        threads,
        tasks,
        pg_connections,
        db_bytes,
        objects,
        pods,
    })
}

/// The pods a member serves (its list's first item and remaining count).
async fn served_pods(kubeconfig: &str) -> anyhow::Result<usize> {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(kubeconfig)?,
        &Default::default(),
    )
    .await?;
    let client = kube::Client::try_from(config)?;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::all(client);
    let list = pods
        .list(&kube::api::ListParams::default().limit(1))
        .await?;
    let remaining = list.metadata.remaining_item_count.unwrap_or(0);
    Ok(list.items.len() + usize::try_from(remaining)?)
}

/// Connections open on the benchmark's database (from another database: not counting itself).
async fn pg_connections() -> anyhow::Result<i64> {
    use sqlx::Connection as _;
    let mut connection =
        sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
        .bind(BENCH_DATABASE)
        .fetch_one(&mut connection)
        .await?;
    connection.close().await?;
    Ok(count)
}

/// The bytes of every table of the benchmark's database, with indexes and TOAST.
async fn table_bytes() -> anyhow::Result<i64> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(&format!(
        "postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
    ))
    .await?;
    let bytes: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(pg_total_relation_size(relid)), 0)::bigint FROM pg_stat_user_tables",
    )
    .fetch_one(&mut connection)
    .await?;
    connection.close().await?;
    Ok(bytes)
}

/// `ANALYZE` of the benchmark's database.
async fn analyze() -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(&format!(
        "postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
    ))
    .await?;
    sqlx::query("ANALYZE").execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

/// The `q` quantile of sorted latencies, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// The items of a list answer (`items`, or a Table's `rows`).
fn item_count(body: &Value) -> usize {
    body.get("items")
        .or_else(|| body.get("rows"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// A query: its name, path, headers and the items its answer must have.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], usize);

/// Times each query; checks every answer (200, its item count).
async fn queries(harness: &Harness, pods: usize, samples: usize) -> anyhow::Result<Value> {
    let client = harness.client();
    let bearer = format!("Bearer {TOKEN}");
    let json_headers = [
        ("authorization", bearer.as_str()),
        ("accept", "application/json"),
    ];
    let table_headers = [("authorization", bearer.as_str()), ("accept", TABLE)];
    let page = 500.min(pods);

    // One pod: its cluster, replica set hash and deployment.
    let mut connection = client.connect().await?;
    let first = connection
        .get(&format!("{RESOURCES}/api/v1/pods?limit=1"), &json_headers)
        .await?;
    anyhow::ensure!(first.status == 200, "first pod: {}", first.status);
    let first = first.json();
    let pod = &first["items"][0];
    let text = |pointer: &str| {
        pod.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let cluster = text("/metadata/annotations/shadow.clusterpedia.io~1cluster-name");
    let hash = text("/metadata/labels/pod-template-hash");
    let deployment = text("/metadata/labels/app");
    anyhow::ensure!(
        !cluster.is_empty() && !hash.is_empty() && !deployment.is_empty(),
        "the first pod lacks its cluster, hash or app: {pod}"
    );

    // The continue token after 90% of the pods: an offset list of one item, then its token.
    let skip = (pods * 9 / 10).max(1);
    let offset = connection
        .get(
            &format!("{RESOURCES}/api/v1/pods?limit=1&offset={}", skip - 1),
            &json_headers,
        )
        .await?;
    anyhow::ensure!(offset.status == 200, "offset list: {}", offset.status);
    let token = offset.json()["metadata"]["continue"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(!token.is_empty(), "no continue token after {skip} pods");
    let deep = format!(
        "{RESOURCES}/api/v1/pods?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("limit", "500")
            .append_pair("continue", &token)
            .finish()
    );
    let list = format!("{RESOURCES}/api/v1/pods?limit=500");
    let label = format!("{RESOURCES}/api/v1/pods?labelSelector=pod-template-hash%3D{hash}");
    let owner = format!(
        "{RESOURCES}/clusters/{cluster}/api/v1/pods?ownerName={deployment}\
         &ownerGR=deployments.apps&ownerSeniority=1"
    );
    let cases: [Case<'_>; 5] = [
        (QUERIES[0], &list, &json_headers, page),
        (QUERIES[1], &label, &json_headers, REPLICAS),
        (QUERIES[2], &owner, &json_headers, REPLICAS),
        (QUERIES[3], &deep, &json_headers, 500.min(pods - skip)),
        (QUERIES[4], &list, &table_headers, page),
    ];
    let mut results = serde_json::Map::new();
    for (name, path, headers, expected) in cases {
        let mut connection = client.connect().await?;
        let mut latencies = Vec::with_capacity(samples);
        for i in 0..WARMUP + samples {
            let sent = Instant::now();
            let answer = connection.get(path, headers).await?;
            let elapsed = sent.elapsed();
            anyhow::ensure!(
                answer.status == 200,
                "{name}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            let items = item_count(&answer.json());
            anyhow::ensure!(
                items == expected,
                "{name}: {items} items, expected {expected} ({path})"
            );
            if i >= WARMUP {
                latencies.push(elapsed);
            }
        }
        latencies.sort_unstable();
        let (p50, p99) = (quantile_ms(&latencies, 0.5), quantile_ms(&latencies, 0.99));
        eprintln!("  {name}: p50 {p50:.2} ms, p99 {p99:.2} ms ({expected} items)");
        results.insert(
            name.to_owned(),
            json!({ "p50_ms": p50, "p99_ms": p99, "items": expected }),
        );
    }
    Ok(Value::Object(results))
}
