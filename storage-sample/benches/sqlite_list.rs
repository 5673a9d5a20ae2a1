//! What the sample layer's design costs: load rate and list latency on SQLite, by store size.
//!
//! For each size N, N realistic pods (`storage_conformance::fixtures::generate_pods`,
//! about 3.5 KB of JSON each, over 4 clusters and namespaces of 100 pods) are written through
//! `apply` batches of 500 into a new SQLite file, then three reads are timed (median of 11):
//!
//! - **get**: one pod by key;
//! - **list namespace**: `/clusters/<c>/namespaces/<ns>/pods?limit=50`, the pushdown's best case;
//! - **list all, label**: `/pods?labelSelector=app=<app>&limit=50`: every row of the resource is
//!   read and parsed, since the sample pushes labels down to nothing.
//!
//! Prints one Markdown table row per size. Run:
//! `cargo bench -p storage-sample --bench sqlite_list` (sizes 1000 and 10000), or with sizes:
//! `cargo bench -p storage-sample --bench sqlite_list -- 500 20000`. Without `--bench` (as
//! `cargo test --all-targets` runs it) it measures 200 pods only, as a smoke test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{Change, Gvr, ResourceStorage, ResourceStorageConfig, StorageFactory};
use storage_conformance::fixtures::generate_pods;
use storage_sample::{DatabaseType, SampleConfig, SampleStorageFactory};

/// The sizes measured by `cargo bench` when none are given.
const DEFAULT_SIZES: &[usize] = &[1_000, 10_000];
/// Member clusters the pods are spread over.
const CLUSTERS: usize = 4;
/// The generator's seed (fixed: the same pods every run).
const SEED: u64 = 0x00c1_5eed;
/// Changes per `apply` call.
const BATCH: usize = 500;
/// Runs of each read; the median is reported.
const RUNS: usize = 11;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = if args.iter().any(|a| a == "--bench") {
            DEFAULT_SIZES.to_vec()
        } else {
            vec![200]
        };
    }
    let runtime = tokio::runtime::Runtime::new()?;
    println!(
        "Sample layer on SQLite: generated pods over {CLUSTERS} clusters, loaded with `apply` \
         batches of {BATCH}; reads are the median of {RUNS}.\n"
    );
    println!(
        "| objects | load time | objects/s | get | list namespace, limit 50 | list all, labelSelector, limit 50 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for size in sizes {
        runtime.block_on(measure(size))?;
    }
    Ok(())
}

async fn measure(size: usize) -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("sample-bench-{}-{size}.db", std::process::id()));
    let factory = SampleStorageFactory::connect(&SampleConfig {
        database_type: DatabaseType::Sqlite,
        host: None,
        port: None,
        user: None,
        password: None,
        database: path.display().to_string(),
        log: None,
    })
    .await?;
    let pods = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("", "v1", "pods"),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await?;
    let objects = generate_pods(size, CLUSTERS, SEED);
    let middle = objects[objects.len() / 2].fields.clone();

    let start = Instant::now();
    for batch in objects.chunks(BATCH) {
        pods.apply(batch.iter().cloned().map(Change::Upsert).collect())
            .await?;
    }
    let load = start.elapsed();

    let get = median(RUNS, || async {
        pods.get(&middle.cluster, &middle.namespace, &middle.name)
            .await
            .map(drop)
    })
    .await?;
    let in_namespace = RequestScope {
        cluster: Some(middle.cluster.to_string()),
        namespace: Some(middle.namespace.clone()),
        access: None,
    };
    let list_namespace = list(&pods, "limit=50", &in_namespace).await?;
    let app = middle.labels.get("app").unwrap_or_default();
    let list_label = list(
        &pods,
        &format!("labelSelector=app%3D{app}&limit=50"),
        &RequestScope::default(),
    )
    .await?;

    println!(
        "| {size} | {:.2} s | {:.0} | {} | {} | {} |",
        load.as_secs_f64(),
        size as f64 / load.as_secs_f64(),
        millis(get),
        millis(list_namespace),
        millis(list_label),
    );
    factory.shutdown().await?;
    std::fs::remove_file(&path)?;
    Ok(())
}

/// The median time of `runs` lists of `query` in `scope`.
async fn list(
    pods: &Arc<dyn ResourceStorage>,
    query: &str,
    scope: &RequestScope,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let options = parse_list_options(query, scope)?;
    median(RUNS, || async { pods.list(&options).await.map(drop) }).await
}

/// The median duration of `runs` calls of `call`.
async fn median<F, Fut>(runs: usize, call: F) -> Result<Duration, Box<dyn std::error::Error>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = storage_api::Result<()>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        call().await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[runs / 2])
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
