//! The `internal` layer on PostgreSQL, MariaDB and SQLite: ingest rate, storage size and the
//! latency of the queries of `reference/baseline.md`, at 100,000 pods.
//!
//! For each database (a fresh schema, database or file, dropped at the end): load 100,000
//! generated pods over 10 clusters (`storage_conformance::fixtures::generate_pods`: about
//! 3.5 KB of JSON each, pruned and stamped as the synchro hands them over), then their 10,000
//! replica sets, 1,000 deployments and 100 widgets (custom resources owning the deployments),
//! then 50,000 `v1` events as objects of their own resource (the shared-table situation of the
//! original's issue #488) and recorded on their pods; all through `apply` batches of 500 (events:
//! `record_events` batches of 500), one resource after the other. The size is measured after
//! the pods (`VACUUM ANALYZE` / `ANALYZE TABLE` first; SQLite without statistics, as deployed:
//! nothing runs `ANALYZE` on it), then every query runs
//! sequentially through the layer (`ResourceStorage::list`/`get`, options parsed from URL
//! queries as the apiserver does; timing includes decoding the rows into objects), 100 times or
//! for 10 seconds, whichever comes first, after one warm-up run. Prints one Markdown table and
//! the PostgreSQL plans of some queries.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run: 1,000 pods,
//! 3 runs per query.
//!
//! Run: `cargo bench -p storage-internal --bench internal_queries` (all three), or name some:
//! `cargo bench -p storage-internal --bench internal_queries -- postgres sqlite`. The servers
//! are those of the tests (`INTERNAL_TEST_POSTGRES_URL`, `INTERNAL_TEST_MYSQL_URL`).
//! `INTERNAL_BENCH_PODS=20000` makes a smaller data set; `INTERNAL_BENCH_KEEP=1` keeps the
//! databases (their names are printed) for a look with psql or mysql.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storage_api::object::prepare_member_object;
use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{
    Change, Gvr, ListOptions, ObjectEvent, ResourceObject, ResourceStorage, ResourceStorageConfig,
    StorageFactory,
};
use storage_conformance::fixtures::generate_pods;

/// Whether this is a real run (`cargo bench` passes `--bench`); else (`cargo test
/// --all-targets` runs bench targets too) a smoke run on a small data set.
static BENCH: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::args().any(|a| a == "--bench"));
/// Pods generated (`INTERNAL_BENCH_PODS` overrides, for quick runs).
static PODS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("INTERNAL_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if *BENCH { 100_000 } else { 1_000 })
});
/// Events generated.
static EVENTS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| *PODS / 2);
const CLUSTERS: usize = 10;
const SEED: u64 = 0x00c1_5eed;
const BATCH: usize = 500;
/// Timed runs of each query (at most; see [`BUDGET`]).
fn runs() -> usize {
    if *BENCH { 100 } else { 3 }
}
/// Time spent on one query at most (after 5 runs).
const BUDGET: Duration = Duration::from_secs(10);

/// The generated objects, per resource, and the events.
struct Dataset {
    resources: Vec<(ResourceStorageConfig, Vec<ResourceObject>)>,
    events: Vec<ObjectEvent>,
    /// A deployment (cluster, uid) and a widget (cluster, uid), for owner queries.
    deployment: (String, String),
    widget: (String, String),
    /// A pod, for get and fuzzy name.
    pod: ResourceObject,
}

fn config(group: &str, resource: &str, kind: &str) -> ResourceStorageConfig {
    let version = "v1";
    ResourceStorageConfig {
        gvr: Gvr::new(group, version, resource),
        kind: kind.into(),
        namespaced: true,
    }
}

fn finish(cluster: &str, gvr: &Gvr, mut value: Value) -> ResourceObject {
    prepare_member_object(&mut value, cluster);
    let raw = serde_json::to_vec(&value).expect("json");
    ResourceObject::parse(cluster.into(), Arc::new(gvr.clone()), raw.into()).expect("valid object")
}

fn uid(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        rng.u16(..0x1000),
        rng.u64(..1 << 48)
    )
}

fn dataset() -> Dataset {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let pods = generate_pods(*PODS, CLUSTERS, SEED);
    let pods_config = config("", "pods", "Pod");
    let rs_config = config("apps", "replicasets", "ReplicaSet");
    let deploy_config = config("apps", "deployments", "Deployment");
    let widget_config = config("example.io", "widgets", "Widget");
    let events_config = config("", "events", "Event");
    let mut rv: u64 = 900_000_000;
    let mut next_rv = || {
        rv += 1;
        rv.to_string()
    };
    // Replica sets from the pods' owner references; deployments from the replica set names;
    // one widget per namespace owning its deployments.
    let mut replicasets: BTreeMap<(String, String, String), (String, String)> = BTreeMap::new();
    for pod in &pods {
        let value = pod.to_value().expect("json");
        let owner = &value["metadata"]["ownerReferences"][0];
        let name = owner["name"].as_str().unwrap_or_default().to_owned();
        let app = name
            .rsplit_once('-')
            .map_or(name.as_str(), |(a, _)| a)
            .to_owned();
        replicasets
            .entry((
                pod.fields.cluster.to_string(),
                pod.fields.namespace.clone(),
                name,
            ))
            .or_insert((pod.fields.owner_uid.clone(), app));
    }
    let mut widgets: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut deployments: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for (cluster, namespace, _) in replicasets.keys() {
        widgets
            .entry((cluster.clone(), namespace.clone()))
            .or_insert_with(|| uid(&mut rng));
    }
    for ((cluster, namespace, _), (_, app)) in &replicasets {
        deployments
            .entry((cluster.clone(), namespace.clone(), app.clone()))
            .or_insert_with(|| uid(&mut rng));
    }
    let created = "2024-03-01T08:00:00Z";
    let meta = |name: &str, namespace: &str, uid: &str, rv: String, app: &str| {
        json!({"name": name, "namespace": namespace, "uid": uid, "resourceVersion": rv,
               "creationTimestamp": created, "labels": {"app": app}})
    };
    let owner_ref = |kind: &str, api: &str, name: &str, uid: &str| {
        json!([{"apiVersion": api, "kind": kind, "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true}])
    };
    let widget_objects: Vec<ResourceObject> = widgets
        .iter()
        .map(|((cluster, namespace), uid)| {
            let value = json!({"apiVersion": "example.io/v1", "kind": "Widget",
                "metadata": meta("platform", namespace, uid, next_rv(), "platform"),
                "spec": {"color": "blue", "size": 3}});
            finish(cluster, &widget_config.gvr, value)
        })
        .collect();
    let deployment_objects: Vec<ResourceObject> = deployments
        .iter()
        .map(|((cluster, namespace, app), uid)| {
            let mut metadata = meta(app, namespace, uid, next_rv(), app);
            let widget = &widgets[&(cluster.clone(), namespace.clone())];
            metadata["ownerReferences"] = owner_ref("Widget", "example.io/v1", "platform", widget);
            let value = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                "spec": {"replicas": 10, "selector": {"matchLabels": {"app": app}},
                         "template": {"metadata": {"labels": {"app": app}},
                                      "spec": {"containers": [{"name": app, "image": format!("registry.example.io/{namespace}/{app}:v1")}]}}},
                "status": {"replicas": 10, "readyReplicas": 10, "availableReplicas": 10}});
            finish(cluster, &deploy_config.gvr, value)
        })
        .collect();
    let rs_objects: Vec<ResourceObject> = replicasets
        .iter()
        .map(|((cluster, namespace, name), (uid, app))| {
            let mut metadata = meta(name, namespace, uid, next_rv(), app);
            let deployment = &deployments[&(cluster.clone(), namespace.clone(), app.clone())];
            metadata["ownerReferences"] = owner_ref("Deployment", "apps/v1", app, deployment);
            let value = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": metadata,
                "spec": {"replicas": 10, "selector": {"matchLabels": {"app": app}}},
                "status": {"replicas": 10, "readyReplicas": 10, "availableReplicas": 10}});
            finish(cluster, &rs_config.gvr, value)
        })
        .collect();
    let mut event_objects = Vec::with_capacity(*EVENTS);
    let mut events = Vec::with_capacity(*EVENTS);
    for i in 0..*EVENTS {
        let pod = &pods[rng.usize(..pods.len())];
        let f = &pod.fields;
        let name = format!("{}.{:016x}", f.name, rng.u64(..));
        let reason = ["Scheduled", "Pulled", "Created", "Started"][i % 4];
        let value = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": f.namespace, "uid": uid(&mut rng),
                         "resourceVersion": next_rv(), "creationTimestamp": created},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": f.name,
                               "namespace": f.namespace, "uid": f.uid,
                               "fieldPath": "spec.containers{app}"},
            "reason": reason,
            "message": format!("Successfully assigned {}/{} to worker-{}", f.namespace, f.name, i % 8 + 1),
            "source": {"component": "kubelet", "host": format!("worker-{}", i % 8 + 1)},
            "firstTimestamp": created, "lastTimestamp": created, "count": 1, "type": "Normal",
            "eventTime": null, "reportingComponent": "kubelet",
            "reportingInstance": format!("worker-{}", i % 8 + 1)});
        let object = finish(&f.cluster, &events_config.gvr, value);
        events
            .push(ObjectEvent::parse(f.cluster.clone(), object.raw.clone()).expect("valid event"));
        event_objects.push(object);
    }
    let deployment = deployment_objects[deployment_objects.len() / 2]
        .fields
        .clone();
    let widget = widget_objects[widget_objects.len() / 3].fields.clone();
    Dataset {
        pod: pods[*PODS / 3].clone(),
        resources: vec![
            (pods_config, pods),
            (rs_config, rs_objects),
            (deploy_config, deployment_objects),
            (widget_config, widget_objects),
            (events_config, event_objects),
        ],
        events,
        deployment: (deployment.cluster.to_string(), deployment.uid.clone()),
        widget: (widget.cluster.to_string(), widget.uid.clone()),
    }
}

/// One measured query: its name, and how to make its options.
struct Measure {
    name: String,
    scope: RequestScope,
    query: String,
}

impl Measure {
    fn new(name: &str, cluster: Option<&str>, namespace: Option<&str>, query: &str) -> Self {
        Self {
            name: name.to_owned(),
            scope: RequestScope {
                cluster: cluster.map(Into::into),
                namespace: namespace.map(Into::into),
                access: None,
            },
            query: query.to_owned(),
        }
    }

    fn options(&self) -> ListOptions {
        parse_list_options(&self.query, &self.scope)
            .unwrap_or_else(|e| panic!("{}: {e}", self.query))
    }
}

/// Timing of one query: p50 and p99 in milliseconds, and the items of its answer.
struct Timing {
    p50: f64,
    p99: f64,
    items: usize,
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

/// What one database measured: (row name, cell text) in table order, and plans.
struct Results {
    rows: Vec<(String, String)>,
    plans: Vec<(String, String)>,
}

async fn run(dialect: &str, data: &Dataset) -> Results {
    let factory = match dialect {
        "postgres" => support::postgres().await,
        "mysql" => support::mysql().await,
        _ => support::sqlite().await,
    };
    let mut rows = Vec::new();
    let mut storages: HashMap<Gvr, Arc<dyn ResourceStorage>> = HashMap::new();
    for (config, _) in &data.resources {
        let storage = factory
            .new_resource_storage(config.clone())
            .await
            .expect("storage");
        storages.insert(config.gvr.clone(), storage);
    }
    // Ingest: pods first (then the size), the rest after.
    let mut objects = 0;
    let mut load_time = Duration::ZERO;
    let mut size = String::new();
    for (config, items) in &data.resources {
        let storage = &storages[&config.gvr];
        let started = Instant::now();
        for batch in items.chunks(BATCH) {
            storage
                .apply(batch.iter().cloned().map(Change::Upsert).collect())
                .await
                .expect("apply");
        }
        load_time += started.elapsed();
        objects += items.len();
        if config.gvr.resource == "pods" {
            size = factory.probe().table_size(items.len()).await;
        }
    }
    rows.push((
        "ingest (apply batches of 500), objects/s".into(),
        format!("{:.0}", objects as f64 / load_time.as_secs_f64()),
    ));
    let pods_storage = storages[&Gvr::new("", "v1", "pods")].clone();
    let started = Instant::now();
    for batch in data.events.chunks(BATCH) {
        pods_storage
            .record_events(batch.to_vec())
            .await
            .expect("record events");
    }
    rows.push((
        "record_events (batches of 500), events/s".into(),
        format!(
            "{:.0}",
            data.events.len() as f64 / started.elapsed().as_secs_f64()
        ),
    ));
    rows.push(("bytes per stored pod (table, TOAST, indexes)".into(), size));
    rows.push((
        format!("bytes per object, all {objects} objects (events recorded)"),
        factory.probe().table_size(objects).await,
    ));
    // PostgreSQL's autovacuum and MariaDB's persistent statistics analyze on their own;
    // nothing runs ANALYZE on a deployed SQLite file, so SQLite is measured without statistics.
    if dialect != "sqlite" {
        factory.probe().analyze().await;
    }
    let mut samples = Vec::new();
    let mut types = 0;
    for _ in 0..20 {
        let t = Instant::now();
        types = factory.stored_resource_types().await.expect("types").len();
        samples.push(t.elapsed());
    }
    let t = timing(samples, types);
    rows.push((
        "stored_resource_types (discovery) — p50 / p99 ms".into(),
        format!("{:.2} / {:.2} ({} types)", t.p50, t.p99, t.items),
    ));

    let (dep_cluster, dep_uid) = &data.deployment;
    let (widget_cluster, widget_uid) = &data.widget;
    let pod = &data.pod.fields;
    let suffix = pod.name.rsplit_once('-').map_or("", |(_, s)| s).to_owned();
    let measures = [
        Measure::new("list pods, limit=500", None, None, "limit=500"),
        Measure::new(
            "namespace + labelSelector app=api, limit=500 (100 hits)",
            None,
            Some("team-5"),
            "labelSelector=app%3Dapi&limit=500",
        ),
        Measure::new(
            "… the same, orderby=created_at",
            None,
            Some("team-5"),
            "labelSelector=app%3Dapi&limit=500&orderby=created_at",
        ),
        Measure::new(
            "cluster + namespace + app=api (10 hits)",
            Some(&pod.cluster),
            Some("team-5"),
            "labelSelector=app%3Dapi",
        ),
        Measure::new(
            "orderby=name desc, limit=500",
            None,
            None,
            "orderby=name%20desc&limit=500",
        ),
        Measure::new(
            "fuzzyName (1 hit), limit=500",
            None,
            None,
            &format!("fuzzyName={suffix}&limit=500"),
        ),
        Measure::new(
            "owner: deployment → pods (ownerSeniority=1)",
            Some(dep_cluster),
            None,
            &format!("ownerUID={dep_uid}&ownerSeniority=1"),
        ),
        Measure::new(
            "owner: widget → pods (ownerSeniority=2)",
            Some(widget_cluster),
            None,
            &format!("ownerUID={widget_uid}&ownerSeniority=2"),
        ),
        Measure::new(
            "list pods, limit=500, withRemainingCount",
            None,
            None,
            "limit=500&withRemainingCount=true",
        ),
    ];
    let mut plans = Vec::new();
    for measure in &measures {
        let options = measure.options();
        let t = time_list(pods_storage.as_ref(), &options).await;
        rows.push((
            format!("{} — p50 / p99 ms", measure.name),
            format!("{:.2} / {:.2} ({} items)", t.p50, t.p99, t.items),
        ));
        // PostgreSQL's plans, and SQLite's of the label and owner queries (planned without
        // statistics).
        if dialect == "postgres"
            || (dialect == "sqlite"
                && (measure.name.contains("label") || measure.name.contains("owner")))
        {
            let plan = factory
                .inner()
                .explain(&Gvr::new("", "v1", "pods"), &options)
                .await
                .expect("explain");
            plans.push((format!("{} `{}`", measure.name, measure.query), plan));
        }
    }
    // Full-text search (`query`): PostgreSQL answers it, the others refuse it (400).
    let full_text = [
        Measure::new(
            "full text: query=api (a common word), limit=500",
            None,
            None,
            "query=api&limit=500",
        ),
        Measure::new(
            "full text: query=api team 5 (three words), limit=500",
            None,
            None,
            "query=api%20team%205&limit=500",
        ),
        Measure::new(
            "full text: a pod's own name word (1 hit), limit=500",
            None,
            None,
            &format!("query={suffix}&limit=500"),
        ),
    ];
    for measure in &full_text {
        let options = measure.options();
        let value = if factory.supports_full_text() {
            let t = time_list(pods_storage.as_ref(), &options).await;
            format!("{:.2} / {:.2} ({} items)", t.p50, t.p99, t.items)
        } else {
            let refused = pods_storage.list(&options).await.expect_err("refused");
            format!("refused ({})", refused.status().code)
        };
        rows.push((format!("{} — p50 / p99 ms", measure.name), value));
        if dialect == "postgres" {
            let plan = factory
                .inner()
                .explain(&Gvr::new("", "v1", "pods"), &options)
                .await
                .expect("explain");
            plans.push((format!("{} `{}`", measure.name, measure.query), plan));
        }
    }
    // Deep paging: walk limit=500 pages; time page 1 and page 100 with their tokens.
    let first = Measure::new("", None, None, "limit=500").options();
    // Page 100 (or the middle page of a smaller data set).
    let deep_page = (*PODS / 500 / 2).clamp(2, 100);
    let mut options = first.clone();
    let mut walk_started = Instant::now();
    let mut pages = 0;
    let mut page_100 = None;
    let mut walk_total = None;
    loop {
        let page = pods_storage.list(&options).await.expect("list");
        pages += 1;
        let Some(token) = page.continue_token else {
            walk_total = walk_total.or(Some(walk_started.elapsed()));
            break;
        };
        let next = Measure::new("", None, None, &format!("limit=500&continue={token}")).options();
        if pages == deep_page - 1 {
            page_100 = Some(next.clone());
        }
        options = next;
        if pages == 1 {
            // Time the whole walk from here on too (the first page was a warm-up).
            walk_started = Instant::now() - walk_started.elapsed();
        }
    }
    let page_100 = page_100.expect("a deep page");
    let t1 = time_list(pods_storage.as_ref(), &first).await;
    let t100 = time_list(pods_storage.as_ref(), &page_100).await;
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
        format!("{:.2}", walk_total.unwrap_or_default().as_secs_f64()),
    ));
    if dialect == "postgres" {
        let plan = factory
            .inner()
            .explain(&Gvr::new("", "v1", "pods"), &page_100)
            .await
            .expect("explain");
        plans.push((format!("page {deep_page} of a limit=500 walk"), plan));
    }
    // Single get.
    let mut samples = Vec::new();
    for _ in 0..runs() {
        let t = Instant::now();
        let got = pods_storage
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
    if std::env::var_os("INTERNAL_BENCH_KEEP").is_some() {
        eprintln!(
            "{dialect}: kept {} (INTERNAL_BENCH_KEEP)",
            factory.probe().name()
        );
    } else {
        factory.shutdown().await.expect("shutdown");
    }
    Results { rows, plans }
}

fn main() -> ExitCode {
    let mut dialects: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let known = ["postgres", "mysql", "sqlite"];
    if let Some(bad) = dialects.iter().find(|d| !known.contains(&d.as_str())) {
        eprintln!("unknown database {bad:?}; want some of {known:?}");
        return ExitCode::FAILURE;
    }
    if dialects.is_empty() {
        dialects = known.iter().map(|s| (*s).to_owned()).collect();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    eprintln!(
        "generating {} pods, their owners and {} events…",
        *PODS, *EVENTS
    );
    let data = dataset();
    let mut results = Vec::new();
    for dialect in &dialects {
        eprintln!("{dialect}: loading and querying…");
        let result = runtime.block_on(run(dialect, &data));
        results.push((dialect.clone(), result));
    }
    let names = |d: &str| match d {
        "postgres" => "PostgreSQL 15",
        "mysql" => "MariaDB 10.11",
        _ => "SQLite (bundled)",
    };
    let mut out = String::new();
    let _ = write!(out, "| measure ({} pods over {CLUSTERS} clusters) |", *PODS);
    for (d, _) in &results {
        let _ = write!(out, " {} |", names(d));
    }
    out.push_str("\n|---|");
    for _ in &results {
        out.push_str("---|");
    }
    out.push('\n');
    let row_names: Vec<String> = results
        .first()
        .map(|(_, r)| r.rows.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default();
    for (i, name) in row_names.iter().enumerate() {
        let _ = write!(out, "| {name} |");
        for (_, r) in &results {
            let _ = write!(out, " {} |", r.rows.get(i).map_or("", |(_, v)| v.as_str()));
        }
        out.push('\n');
    }
    for (d, r) in &results {
        for (name, plan) in &r.plans {
            let _ = write!(out, "\n{} plan — {name}:\n\n```\n{plan}\n```\n", names(d));
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}
