//! The `elasticsearch` layer on the osmem-server emulator: ingest rate and the latency of the
//! queries of the `internal-queries` benchmark (same generator, seed and URL queries), plus
//! full-text search, at 100,000 pods.
//!
//! Load 100,000 generated pods over 10 clusters (`storage_conformance::fixtures::generate_pods`,
//! the `internal-queries` seed) through `apply` batches of 500 (`_bulk`, `refresh=wait_for`),
//! then run every query sequentially through the layer (`ResourceStorage::list`/`get`, options
//! parsed from URL queries as the apiserver does; timing includes decoding the documents into
//! objects), 100 times or for 10 seconds, whichever comes first, after one warm-up run.
//!
//! **An emulator, not Elasticsearch**: osmem-server is an in-memory OpenSearch-API server
//! without Lucene; its figures say what the layer's requests cost on it, not what a real
//! cluster would answer in.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run: 1,000 pods,
//! 3 runs per query. The server: `ES_BENCH_URL`, else `ES_TEST_OSMEM_URL`; `ES_BENCH_PODS`
//! overrides the number of pods. Its indices are deleted at the end.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{
    Change, Gvr, ListOptions, ResourceStorage, ResourceStorageConfig, StorageFactory,
};
use storage_conformance::fixtures::generate_pods;
use storage_elasticsearch::{ElasticsearchConfig, ElasticsearchStorageFactory};

static BENCH: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::args().any(|a| a == "--bench"));
static PODS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("ES_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if *BENCH { 100_000 } else { 1_000 })
});
const CLUSTERS: usize = 10;
/// The seed of `internal-queries`: the same pods.
const SEED: u64 = 0x00c1_5eed;
const BATCH: usize = 500;
const BUDGET: Duration = Duration::from_secs(10);

fn runs() -> usize {
    if *BENCH { 100 } else { 3 }
}

struct Timing {
    p50: f64,
    p99: f64,
    items: usize,
}

fn timing(mut samples: Vec<Duration>, items: usize) -> Timing {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    Timing {
        p50: at(0.5),
        p99: at(0.99),
        items,
    }
}

fn options(query: &str, cluster: Option<&str>, namespace: Option<&str>) -> ListOptions {
    let scope = RequestScope {
        cluster: cluster.map(str::to_owned),
        namespace: namespace.map(str::to_owned),
        access: None,
    };
    parse_list_options(query, &scope).unwrap_or_else(|e| panic!("{query}: {e}"))
}

async fn time_list(storage: &dyn ResourceStorage, options: &ListOptions) -> Timing {
    let warm = storage.list(options).await.expect("list");
    let mut samples = Vec::with_capacity(runs());
    let started = Instant::now();
    while samples.len() < runs() && (samples.len() < 5 || started.elapsed() < BUDGET) {
        let t = Instant::now();
        let page = storage.list(options).await.expect("list");
        samples.push(t.elapsed());
        std::hint::black_box(page);
    }
    timing(samples, warm.items.len())
}

async fn run(url: &str) -> (String, Vec<(String, String)>) {
    let config = ElasticsearchConfig {
        addresses: vec![url.to_owned()],
        index_prefix: format!("bench-{:08x}", fastrand::u32(..)),
        ..ElasticsearchConfig::default()
    };
    let factory = ElasticsearchStorageFactory::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let server = factory.flavour().to_string();
    let pods_config = ResourceStorageConfig {
        gvr: Gvr::new("", "v1", "pods"),
        kind: "Pod".into(),
        namespaced: true,
    };
    let storage = factory
        .new_resource_storage(pods_config)
        .await
        .expect("storage");
    eprintln!("generating {} pods…", *PODS);
    let pods = generate_pods(*PODS, CLUSTERS, SEED);
    let mut rows = Vec::new();
    eprintln!("loading…");
    let started = Instant::now();
    for batch in pods.chunks(BATCH) {
        storage
            .apply(batch.iter().cloned().map(Change::Upsert).collect())
            .await
            .expect("apply");
    }
    rows.push((
        "ingest (apply batches of 500), objects/s".to_owned(),
        format!("{:.0}", pods.len() as f64 / started.elapsed().as_secs_f64()),
    ));
    let pod = &pods[pods.len() / 2].fields;
    let suffix = pod.name.rsplit_once('-').map_or("", |(_, s)| s).to_owned();
    let measures: Vec<(String, ListOptions)> = vec![
        (
            "list pods, limit=500".into(),
            options("limit=500", None, None),
        ),
        (
            "namespace + labelSelector app=api, limit=500 (100 hits)".into(),
            options("labelSelector=app%3Dapi&limit=500", None, Some("team-5")),
        ),
        (
            "… the same, orderby=created_at".into(),
            options(
                "labelSelector=app%3Dapi&limit=500&orderby=created_at",
                None,
                Some("team-5"),
            ),
        ),
        (
            "cluster + namespace + app=api (10 hits)".into(),
            options(
                "labelSelector=app%3Dapi",
                Some(&pod.cluster),
                Some("team-5"),
            ),
        ),
        (
            "orderby=name desc, limit=500".into(),
            options("orderby=name%20desc&limit=500", None, None),
        ),
        (
            "fuzzyName (1 hit), limit=500".into(),
            options(&format!("fuzzyName={suffix}&limit=500"), None, None),
        ),
        (
            "list pods, limit=500, withRemainingCount".into(),
            options("limit=500&withRemainingCount=true", None, None),
        ),
        (
            format!("full text query={suffix} (by relevance), limit=500"),
            options(&format!("query={suffix}&limit=500"), None, None),
        ),
        (
            "namespace + full text query=envoy+api (by relevance), limit=500".into(),
            options("query=envoy+api&limit=500", None, Some("team-5")),
        ),
        (
            "full text query=api, orderby=name, limit=500".into(),
            options("query=api&orderby=name&limit=500", None, None),
        ),
    ];
    for (name, options) in &measures {
        eprintln!("{name}…");
        let t = time_list(storage.as_ref(), options).await;
        rows.push((
            format!("{name} — p50 / p99 ms"),
            format!("{:.2} / {:.2} ({} items)", t.p50, t.p99, t.items),
        ));
    }
    // Deep paging: walk limit=500 pages; time page 1 and page 100 with their tokens.
    eprintln!("walking…");
    let first = options("limit=500", None, None);
    let deep_page = (*PODS / 500 / 2).clamp(2, 100);
    let mut current = first.clone();
    let mut pages = 0;
    let mut deep = None;
    let walk_started = Instant::now();
    loop {
        let page = storage.list(&current).await.expect("list");
        pages += 1;
        let Some(token) = page.continue_token else {
            break;
        };
        let next = options(&format!("limit=500&continue={token}"), None, None);
        if pages == deep_page - 1 {
            deep = Some(next.clone());
        }
        current = next;
    }
    let walk = walk_started.elapsed();
    let deep = deep.expect("a deep page");
    let t1 = time_list(storage.as_ref(), &first).await;
    let t100 = time_list(storage.as_ref(), &deep).await;
    rows.push((
        "page 1 of a limit=500 walk — p50 / p99 ms".into(),
        format!("{:.2} / {:.2}", t1.p50, t1.p99),
    ));
    rows.push((
        format!(
            "page {deep_page} (items {}–{}) — p50 / p99 ms",
            (deep_page - 1) * 500 + 1,
            deep_page * 500
        ),
        format!("{:.2} / {:.2}", t100.p50, t100.p99),
    ));
    rows.push((
        format!("walk all {} pods, limit=500 ({pages} pages), s", *PODS),
        format!("{:.2}", walk.as_secs_f64()),
    ));
    let mut samples = Vec::new();
    for _ in 0..runs() {
        let t = Instant::now();
        let got = storage
            .get(&pod.cluster, &pod.namespace, &pod.name)
            .await
            .expect("get");
        samples.push(t.elapsed());
        std::hint::black_box(got);
    }
    let t = timing(samples, 1);
    rows.push((
        "get one pod — p50 / p99 ms".into(),
        format!("{:.2} / {:.2}", t.p50, t.p99),
    ));
    factory.destroy().await.expect("delete the indices");
    (server, rows)
}

fn main() -> ExitCode {
    let Some(url) = std::env::var("ES_BENCH_URL")
        .ok()
        .or_else(|| std::env::var("ES_TEST_OSMEM_URL").ok())
    else {
        eprintln!("set ES_BENCH_URL (or ES_TEST_OSMEM_URL) to a running osmem-server");
        return ExitCode::FAILURE;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (server, rows) = runtime.block_on(run(&url));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured on the **osmem-server 0.1.6 emulator** (in-memory, OpenSearch API; it answers \
         `GET /` as {server}), not on Elasticsearch: these figures are what the layer's requests \
         cost on that emulator. The pods, seed and queries are those of `internal-queries` \
         (section above), whose PostgreSQL column is the figure to set beside each row; \
         `internal` refuses full-text search.\n"
    );
    if std::env::var_os("ES_BENCH_PODS").is_some() {
        let _ = writeln!(
            out,
            "Data set made smaller with `ES_BENCH_PODS={}` (the default is 100,000).\n",
            *PODS
        );
    }
    let _ = writeln!(
        out,
        "| measure ({} pods over {CLUSTERS} clusters) | elasticsearch layer on osmem-server |",
        *PODS
    );
    out.push_str("|---|---|\n");
    for (name, cell) in rows {
        let _ = writeln!(out, "| {name} | {cell} |");
    }
    print!("{out}");
    ExitCode::SUCCESS
}
