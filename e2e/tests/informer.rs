//! End to end: a kube-rs informer (`kube::runtime::watcher` + reflector) against the apiserver
//! over PostgreSQL (the `internal` layer), fed by the clustersynchro-manager from two kube-sim
//! member clusters under churn (pod updates, creates and deletes), through a restart of the
//! synchro and a restart of the apiserver. The informers re-list or resume by themselves; at
//! the end each one's store equals the members' truth: the same (cluster, namespace, name) and,
//! for each, the member's resourceVersion (kept in `shadow.clusterpedia.io/resource-version`).
//!
//! Two informers run side by side: the classic list-then-watch one (paged lists of 25, so a
//! list spans several pages while the members change) and the streaming-list one
//! (`sendInitialEvents=true`, as client-go and kubectl from Kubernetes 1.32 on).
//!
//! Needs the local PostgreSQL (`INTERNAL_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): the test makes its own database and drops it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterpedia_apiserver::{ApiserverOptions, Server};
use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, ClusterStatus, PediaCluster};
use clusterpedia_synchro::{ClusterInput, Manager, SyncResourcesRef, SynchroOptions};
use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt as _, watcher::Event};
use kube::{Api, ResourceExt as _};
use kube_sim::{FixtureSpec, Simulator, SimulatorHandle};
use sqlx::Connection as _;
use storage_api::StorageFactory;
use storage_api::object::CLUSTER_NAME_ANNOTATION;
use storage_api::resource_version::MEMBER_RESOURCE_VERSION_ANNOTATION;
use storage_internal as _;
use tokio::task::JoinHandle;

/// The bearer token of the test user.
const TOKEN: &str = "informer-token";
/// The Kubernetes API root over every cluster.
const RESOURCES: &str = "/apis/clusterpedia.io/v1beta1/resources";
/// The member clusters.
const CLUSTERS: &[&str] = &["member-a", "member-b"];
/// Churn updates per second, per member.
const CHURN_PER_SECOND: f64 = 40.0;
/// How long the informers may take to catch up at the end.
const SETTLE: Duration = Duration::from_secs(30);

/// Panics anywhere in the process (spawned tasks included, whose panics the runtime swallows).
static PANICS: AtomicU64 = AtomicU64::new(0);

/// Counts every panic, then reports it as usual.
fn count_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        report(info);
    }));
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn postgres_url() -> String {
    std::env::var("INTERNAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Runs one statement on the database of [`postgres_url`].
async fn postgres_admin(statement: String) {
    let url = postgres_url();
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    // Statements built from this file's constants and a generated name only.
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut connection)
        .await
        .expect("admin statement");
    let _ = connection.close().await;
}

/// A fresh PostgreSQL database (dropped by [`Database::drop_it`]) and the layer config on it.
struct Database {
    name: String,
    config: PathBuf,
}

impl Database {
    async fn create(dir: &Path) -> Self {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("cp_test_{seconds}_informer_{}", std::process::id());
        postgres_admin(format!("DROP DATABASE IF EXISTS {name}")).await;
        postgres_admin(format!("CREATE DATABASE {name}")).await;
        // The same server and user, the new database.
        let url = postgres_url();
        let server = url
            .rsplit_once('/')
            .map_or(url.as_str(), |(server, _)| server);
        let config = dir.join("storage.yaml");
        std::fs::write(&config, format!("type: postgres\ndsn: {server}/{name}\n"))
            .expect("storage config");
        Self { name, config }
    }

    /// A new factory on the database: what a new process of a component would open.
    async fn factory(&self) -> Arc<dyn StorageFactory> {
        storage_api::registry::new_factory("internal", Some(self.config.clone()))
            .await
            .expect("the internal layer on PostgreSQL")
    }

    async fn drop_it(&self) {
        postgres_admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clusterpedia-informer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The apiserver, as its own process would run it: a factory of its own on the database, a
/// certificate and port that survive a restart.
struct Apiserver {
    factory: Arc<dyn StorageFactory>,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: JoinHandle<anyhow::Result<()>>,
}

fn apiserver_options(dir: &Path, port: u16) -> ApiserverOptions {
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},tester,1000,\"viewers\"\n")).expect("tokens");
    ApiserverOptions {
        bind_address: "127.0.0.1".parse().expect("ip"),
        secure_port: port,
        cert_dir: Some(dir.join("certs")),
        token_auth_file: Some(tokens),
        shutdown_grace_period: Duration::from_secs(1),
        ..ApiserverOptions::default()
    }
}

impl Apiserver {
    /// Starts on `port` (0: any); returns the server, its address and its CA.
    async fn start(database: &Database, dir: &Path, port: u16) -> (Self, SocketAddr, String) {
        let factory = database.factory().await;
        let options = apiserver_options(dir, port);
        let mut attempts = 0;
        let server = loop {
            match Server::bind(&options, factory.clone()).await {
                Ok(server) => break server,
                // The old listener's port may take a moment to be free again.
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    tracing::warn!(%error, "bind again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("the apiserver binds {port}: {error:#}"),
            }
        };
        let addr = server.local_addr();
        let ca = server
            .ca_certificate_pem()
            .expect("generated CA")
            .to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        (
            Self {
                factory,
                stop,
                serving,
            },
            addr,
            ca,
        )
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.serving
            .await
            .expect("the server task")
            .expect("the server stops cleanly");
        self.factory
            .shutdown()
            .await
            .expect("the factory shuts down");
    }
}

/// A kube-rs client of the apiserver's all-clusters root.
async fn apiserver_client(addr: SocketAddr, ca_pem: &str) -> kube::Client {
    use base64::Engine as _;
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "clusterpedia", "cluster": {
            "server": format!("https://{addr}{RESOURCES}"),
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(ca_pem),
        }}],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [{"name": "clusterpedia", "context": {"cluster": "clusterpedia", "user": "tester"}}],
        "current-context": "clusterpedia",
    });
    let kubeconfig: kube::config::Kubeconfig =
        serde_json::from_value(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

async fn sim_client(sim: &SimulatorHandle) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&sim.kubeconfig_yaml("member")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

fn synchro_options() -> SynchroOptions {
    let mut options = SynchroOptions::defaults();
    options.metrics_port = 0;
    options.page_size = 50;
    options.health_check_interval = Duration::from_millis(200);
    options.discovery_interval = Duration::from_secs(1);
    options
}

/// A synchro over a factory of its own, syncing the pods of every member; with `wait`, once
/// both members are synced past their initial lists. (Under steady churn the synchro's
/// initial-list phase only ends when its queue happens to be empty after a write, which may
/// take long: a restart under churn is not waited for, the end of the test checks the result.)
async fn start_synchro(database: &Database, sims: &[SimulatorHandle], wait: bool) -> Manager {
    let manager = Manager::new(
        &synchro_options(),
        database.factory().await,
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    for (name, sim) in CLUSTERS.iter().zip(sims) {
        manager.apply(ClusterInput {
            cluster: PediaCluster::new(
                name,
                ClusterSpec {
                    kubeconfig: Some(ByteString(sim.kubeconfig_yaml(name).into_bytes())),
                    sync_resources: vec![ClusterGroupResources {
                        group: String::new(),
                        resources: vec!["pods".into()],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ),
            sync_resources_ref: SyncResourcesRef::None,
        });
    }
    if !wait {
        return manager;
    }
    let mut statuses = manager.statuses();
    let synced = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let synced = {
                let statuses = statuses.borrow_and_update();
                CLUSTERS.iter().all(|c| {
                    statuses
                        .get(*c)
                        .is_some_and(ClusterStatus::past_initial_lists)
                })
            };
            if synced {
                return;
            }
            statuses.changed().await.expect("the manager runs");
        }
    })
    .await;
    if synced.is_err() {
        let statuses: Vec<_> = CLUSTERS.iter().map(|c| manager.status(c)).collect();
        panic!(
            "the synchro did not sync both members within 60 s: {}",
            serde_json::to_string_pretty(&statuses).unwrap_or_default()
        );
    }
    manager
}

/// (cluster, namespace, name) → the member's resourceVersion.
type Truth = BTreeMap<(String, String, String), String>;

/// What the members hold now.
async fn members_truth(clients: &[kube::Client]) -> Truth {
    let mut truth = Truth::new();
    for (cluster, client) in CLUSTERS.iter().zip(clients) {
        let pods = Api::<Pod>::all(client.clone())
            .list(&Default::default())
            .await
            .expect("list the member's pods");
        for pod in pods {
            truth.insert(
                (
                    (*cluster).to_owned(),
                    pod.namespace().unwrap_or_default(),
                    pod.name_any(),
                ),
                pod.resource_version().unwrap_or_default(),
            );
        }
    }
    truth
}

/// What an informer's store holds, in the same terms.
fn store_truth(store: &Store<Pod>) -> Truth {
    store
        .state()
        .iter()
        .map(|pod| {
            let annotations = pod.annotations();
            (
                (
                    annotations
                        .get(CLUSTER_NAME_ANNOTATION)
                        .cloned()
                        .unwrap_or_default(),
                    pod.namespace().unwrap_or_default(),
                    pod.name_any(),
                ),
                annotations
                    .get(MEMBER_RESOURCE_VERSION_ANNOTATION)
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// The first differences between two truths.
fn differences(expected: &Truth, actual: &Truth) -> String {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    let stale: Vec<_> = expected
        .iter()
        .filter_map(|(k, v)| {
            actual
                .get(k)
                .filter(|a| *a != v)
                .map(|a| format!("{k:?}: member {v}, informer {a}"))
        })
        .take(5)
        .collect();
    format!(
        "members {} pods, informer {}; missing {missing:?}, extra {extra:?}, stale {stale:?}",
        expected.len(),
        actual.len()
    )
}

/// What an informer went through.
#[derive(Default)]
struct Counters {
    /// Initial lists started (the first one, then every re-list).
    lists: AtomicU64,
    /// Errors the watcher reported (each retried with backoff).
    errors: AtomicU64,
    /// Events of the watch phase whose resourceVersion was not above the previous one's: a
    /// duplicate or a replay.
    out_of_order: Mutex<Vec<String>>,
}

/// Runs a reflector over `config` until told to stop; returns its store.
fn informer(
    client: kube::Client,
    config: watcher::Config,
    counters: Arc<Counters>,
) -> (Store<Pod>, JoinHandle<()>) {
    let (store, writer) = reflector::store::<Pod>();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<Pod>::all(client), config).default_backoff(),
    );
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        let mut last: u64 = 0;
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => {
                    counters.lists.fetch_add(1, Ordering::Relaxed);
                    last = 0;
                }
                Ok(Event::InitApply(_)) => {}
                Ok(Event::InitDone) => {
                    last = 0;
                }
                Ok(Event::Apply(pod) | Event::Delete(pod)) => {
                    let version: u64 = pod
                        .resource_version()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_default();
                    if version <= last {
                        let mut wrong = counters.out_of_order.lock().expect("lock");
                        wrong.push(format!(
                            "{}/{} at {version} after {last}",
                            pod.namespace().unwrap_or_default(),
                            pod.name_any()
                        ));
                    }
                    last = version;
                }
                Err(error) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%error, "watcher error (retried)");
                }
            }
        }
    });
    (store, task)
}

/// Creates and deletes pods on the members until `stop`: a new pod every 100 ms on each
/// member, and every other round one of the older pods (fixture or new) deleted.
fn mutate(clients: Vec<kube::Client>, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let mut round = 0u64;
        let mut writes = 0;
        while !stop.load(Ordering::Relaxed) {
            round += 1;
            for (cluster, client) in CLUSTERS.iter().zip(&clients) {
                let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
                let pod: Pod = serde_json::from_value(serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": format!("{cluster}-informer-{round}")},
                    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
                }))
                .expect("pod");
                if pods.create(&Default::default(), &pod).await.is_ok() {
                    writes += 1;
                }
                if round.is_multiple_of(2) {
                    let name = format!("{cluster}-informer-{}", round / 2);
                    if pods.delete(&name, &Default::default()).await.is_ok() {
                        writes += 1;
                    }
                    // One fixture pod too.
                    let all = Api::<Pod>::all(client.clone())
                        .list(&Default::default())
                        .await;
                    if let Ok(list) = all
                        && let Some(victim) = list
                            .items
                            .iter()
                            .find(|p| !p.name_any().contains("-informer-"))
                    {
                        let api: Api<Pod> = Api::namespaced(
                            client.clone(),
                            &victim.namespace().unwrap_or_default(),
                        );
                        if api
                            .delete(&victim.name_any(), &Default::default())
                            .await
                            .is_ok()
                        {
                            writes += 1;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        writes
    })
}

async fn start_sim(seed: u64) -> SimulatorHandle {
    Simulator::builder()
        .fixtures(FixtureSpec {
            namespaces: 3,
            deployments_per_namespace: 5,
            replicas: 4,
            configmaps_per_namespace: 0,
            events_per_deployment: 0,
            widgets: 0,
            nodes: 1,
            seed,
        })
        .bookmark_interval(Duration::from_millis(500))
        .start()
        .await
        .expect("simulator")
}

/// Waits until `store` equals the members' truth (read again each time: the members' last
/// churn updates may still be landing).
async fn wait_equal(which: &str, store: &Store<Pod>, clients: &[kube::Client]) -> Truth {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let truth = members_truth(clients).await;
        let seen = store_truth(store);
        if seen == truth {
            return truth;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "the {which} informer does not match the members after {SETTLE:?}: {}",
                differences(&truth, &seen)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informers_follow_churn_through_synchro_and_apiserver_restarts() {
    init_logs();
    count_panics();
    let dir = temp_dir();
    let database = Database::create(&dir).await;
    let sims = vec![start_sim(1).await, start_sim(2).await];
    let mut sim_clients = Vec::new();
    for sim in &sims {
        sim_clients.push(sim_client(sim).await);
    }
    let mut synchro = start_synchro(&database, &sims, true).await;
    let (mut apiserver, addr, ca) = Apiserver::start(&database, &dir, 0).await;
    let client = apiserver_client(addr, &ca).await;

    // Churn on both members, creates and deletes, from before the informers start and through
    // both restarts.
    for sim in &sims {
        sim.set_churn_per_second(CHURN_PER_SECOND);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mutator = mutate(sim_clients.clone(), stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The informers start while the members change: the paged one's list spans changes.
    let counters = [Arc::new(Counters::default()), Arc::new(Counters::default())];
    let (paged, paged_task) = informer(
        client.clone(),
        watcher::Config::default().page_size(25),
        counters[0].clone(),
    );
    let (streaming, streaming_task) = informer(
        client.clone(),
        watcher::Config::default().streaming_lists(),
        counters[1].clone(),
    );
    for store in [&paged, &streaming] {
        tokio::time::timeout(Duration::from_secs(30), store.wait_until_ready())
            .await
            .expect("the informer lists within 30 s")
            .expect("the informer runs");
    }

    tokio::time::sleep(Duration::from_secs(2)).await;

    // (a) The synchro restarts (a new process: a new factory); the members go on changing.
    synchro.shutdown().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    synchro = start_synchro(&database, &sims, false).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // (b) The apiserver restarts on the same port with the same certificate: every watch
    // ends, the informers reconnect and resume (or list again) by themselves.
    apiserver.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (restarted, _, _) = Apiserver::start(&database, &dir, addr.port()).await;
    apiserver = restarted;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The members stop changing; the chain settles.
    stop.store(true, Ordering::Relaxed);
    let writes = mutator.await.expect("mutator");
    for sim in &sims {
        sim.set_churn_per_second(0.0);
    }
    let churned: u64 = sims.iter().map(SimulatorHandle::churn_updates).sum();
    assert!(
        writes > 20 && churned > 100,
        "too few changes: {writes} creates/deletes, {churned} churn updates"
    );
    let truth = wait_equal("list-then-watch", &paged, &sim_clients).await;
    let keys: BTreeSet<_> = truth.keys().map(|(_, ns, name)| (ns, name)).collect();
    assert_eq!(
        keys.len(),
        truth.len(),
        "the members must not share a namespace/name (the reflector keys by those)"
    );
    wait_equal("streaming-list", &streaming, &sim_clients).await;

    for (which, counters) in ["list-then-watch", "streaming-list"].iter().zip(&counters) {
        let out_of_order = counters.out_of_order.lock().expect("lock").clone();
        assert!(
            out_of_order.is_empty(),
            "the {which} informer got events out of order (duplicates or replays): {:?}",
            &out_of_order[..out_of_order.len().min(5)]
        );
        let lists = counters.lists.load(Ordering::Relaxed);
        // The first list; resuming after the apiserver restart needs no new list (the
        // retained change log covers the gap), so at most one more is tolerated.
        assert!(
            lists <= 2,
            "the {which} informer listed {lists} times (a 410 loop?)"
        );
        eprintln!(
            "{which}: {lists} list(s), {} watcher error(s) retried",
            counters.errors.load(Ordering::Relaxed)
        );
    }
    eprintln!(
        "{} pods at the end; {writes} creates/deletes, {churned} churn updates",
        truth.len()
    );

    paged_task.abort();
    streaming_task.abort();
    synchro.shutdown().await;
    apiserver.stop().await;
    for sim in sims {
        sim.shutdown().await;
    }
    database.drop_it().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        PANICS.load(Ordering::Relaxed),
        0,
        "no task of the synchro, the apiserver or the layer panicked (see the output)"
    );
}
