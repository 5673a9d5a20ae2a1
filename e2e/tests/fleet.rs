//! End to end: clustersynchro-manager replicas sharing the clusters of one host cluster
//! (`--shard-clusters`) or electing a leader (`--leader-elect`), over one PostgreSQL database
//! (a fresh schema of `INTERNAL_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): the deployment several replicas are for (an
//! embedded SQLite file is one process's database).
//!
//! Each replica runs in its own tokio runtime with its own host client and database pool, as a
//! process would; killing it shuts its runtime down at once (no drain, no Lease release),
//! which is what a `SIGKILL` leaves behind. The host cluster and the ten members are kube-sim
//! servers; the members churn their pods while a replica is killed and while another joins.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, PediaCluster};
use clusterpedia_synchro::SynchroOptions;
use clusterpedia_synchro::fleet::{FLEET_LABEL, ROLE_LABEL};
use clusterpedia_synchro::metrics::{Metrics, Readiness};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use kube_sim::{FixtureSpec, Simulator, SimulatorHandle};
use storage_api::testing::{AfterWrite, Forwarding, Probe, Write};
use storage_api::{Change, Gvr, ResourceStorageConfig, StorageFactory};
use tokio::time::Instant;

const CLUSTERS: usize = 10;
const NAMESPACE: &str = "clusterpedia-system";
const LEASE_DURATION: Duration = Duration::from_secs(6);
const RENEW_DEADLINE: Duration = Duration::from_secs(4);
const RETRY_PERIOD: Duration = Duration::from_millis(500);
/// The hand-over bound of `fleet.rs` (D + 2R), plus room for a loaded CI machine.
const HAND_OVER_BOUND: Duration = Duration::from_secs(7 + 8);
const TIMEOUT: Duration = Duration::from_secs(60);

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,clusterpedia_synchro::fleet=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

async fn client_from_yaml(yaml: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

fn options(shard: bool) -> SynchroOptions {
    let mut options = SynchroOptions::defaults();
    options.metrics_port = 0;
    options.page_size = 50;
    options.health_check_interval = Duration::from_millis(500);
    options.discovery_interval = Duration::from_secs(5);
    options.shard_clusters = shard;
    let election = &mut options.leader_election;
    election.lease_duration = LEASE_DURATION;
    election.renew_deadline = RENEW_DEADLINE;
    election.retry_period = RETRY_PERIOD;
    election.resource_namespace = NAMESPACE.into();
    options
}

/// The resources every cluster syncs, with their collection paths in a member.
fn synced() -> Vec<(Gvr, &'static str)> {
    vec![
        (Gvr::new("", "v1", "pods"), "/api/v1/pods"),
        (Gvr::new("", "v1", "configmaps"), "/api/v1/configmaps"),
        (
            Gvr::new("apps", "v1", "deployments"),
            "/apis/apps/v1/deployments",
        ),
    ]
}

/// Counts the objects each replica upserts, per cluster.
#[derive(Default, Clone)]
struct Upserts(Arc<Mutex<HashMap<String, usize>>>);

impl Upserts {
    fn of(&self, cluster: &str) -> usize {
        self.0
            .lock()
            .expect("lock")
            .get(cluster)
            .copied()
            .unwrap_or(0)
    }
}

impl Probe for Upserts {
    fn before_write(
        &self,
        _: &ResourceStorageConfig,
        write: Write<'_>,
    ) -> storage_api::Result<Option<AfterWrite>> {
        let Write::Apply(changes) = write else {
            return Ok(None);
        };
        let mut counts: HashMap<String, usize> = HashMap::new();
        for change in changes {
            if let Change::Upsert(object) = change {
                *counts.entry(object.fields.cluster.to_string()).or_default() += 1;
            }
        }
        let total = self.0.clone();
        Ok(Some(Box::new(move || {
            let mut total = total.lock().expect("lock");
            for (cluster, n) in counts {
                *total.entry(cluster).or_default() += n;
            }
        })))
    }
}

/// One clustersynchro-manager replica in its own runtime.
struct Replica {
    identity: String,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    metrics: Arc<Metrics>,
    upserts: Upserts,
}

impl Replica {
    fn start(identity: &str, host_kubeconfig: String, database: String, shard: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(identity.to_owned())
            .enable_all()
            .build()
            .expect("runtime");
        let metrics = Arc::new(Metrics::new());
        let upserts = Upserts::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = runtime.spawn({
            let (identity, metrics, upserts) =
                (identity.to_owned(), metrics.clone(), upserts.clone());
            let name = identity.to_owned();
            let body = async move {
                // Everything of this replica lives on its runtime, as in a process.
                let client = client_from_yaml(&host_kubeconfig).await;
                let config = database_config(&database);
                let inner =
                    storage_internal::InternalStorageFactory::connect(config.connection()?).await?;
                let storage: Arc<dyn StorageFactory> = Arc::new(Forwarding::with_probe(
                    Arc::new(inner) as Arc<dyn StorageFactory>,
                    upserts,
                ));
                let readiness = Readiness::new(storage.clone());
                clusterpedia_synchro::run_host(
                    options(shard),
                    storage,
                    metrics,
                    readiness,
                    client,
                    identity,
                    async move {
                        let _ = stopped.await;
                    },
                )
                .await
            };
            async move {
                let result = body.await;
                if let Err(e) = &result {
                    eprintln!("replica {name} failed: {e:#}");
                }
                result
            }
        });
        Self {
            identity: identity.to_owned(),
            runtime: Some(runtime),
            stop: Some(stop),
            done: Some(done),
            metrics,
            upserts,
        }
    }

    /// Like `kill -9`: every task of the replica stops where it is.
    fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Like `SIGTERM`: drains, releases its Leases, returns.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            match tokio::time::timeout(Duration::from_secs(30), done).await {
                Ok(Ok(Ok(()))) => {}
                other => panic!("replica {} did not stop cleanly: {other:?}", self.identity),
            }
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// The clusters this replica's metrics say it owns.
    fn owned(&self) -> BTreeSet<String> {
        self.metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("clustersynchro_cluster_owner{") && l.ends_with(" 1"))
            .filter(|l| l.contains(&format!("replica=\"{}\"", self.identity)))
            .filter_map(|l| {
                let rest = l.split("cluster=\"").nth(1)?;
                Some(rest.split('"').next()?.to_owned())
            })
            .collect()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `namespace/name → resourceVersion` of a member collection.
async fn truth(client: &kube::Client, path: &str) -> HashMap<String, String> {
    let text = client
        .request_text(http::Request::get(path).body(Vec::new()).expect("request"))
        .await
        .expect("list");
    let list: serde_json::Value = serde_json::from_str(&text).expect("json");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            let meta = &item["metadata"];
            let name = meta["name"].as_str().unwrap_or_default();
            let key = match meta["namespace"].as_str() {
                Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
                _ => name.to_owned(),
            };
            let rv = meta["resourceVersion"].as_str().unwrap_or_default();
            (key, rv.to_owned())
        })
        .collect()
}

/// The differences between storage and the members (empty when equal).
async fn differences(
    storage: &dyn StorageFactory,
    members: &BTreeMap<String, (SimulatorHandle, kube::Client)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (cluster, (_, client)) in members {
        let mut stored = storage.resource_versions(cluster).await.expect("versions");
        for (gvr, path) in synced() {
            let expected = truth(client, path).await;
            let have = stored.remove(&gvr).unwrap_or_default().resources;
            let missing = expected.keys().filter(|k| !have.contains_key(*k)).count();
            let phantom = have.keys().filter(|k| !expected.contains_key(*k)).count();
            let stale = expected
                .iter()
                .filter(|(k, v)| have.get(*k).is_some_and(|h| h != *v))
                .count();
            if missing + phantom + stale > 0 {
                out.push(format!(
                    "{cluster} {gvr}: {missing} missing, {phantom} phantom, {stale} stale of {}",
                    expected.len()
                ));
            }
        }
    }
    out
}

async fn wait_equal(
    storage: &dyn StorageFactory,
    members: &BTreeMap<String, (SimulatorHandle, kube::Client)>,
    what: &str,
) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let diff = differences(storage, members).await;
        if diff.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: storage differs from the members: {diff:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `cluster → holder` of the clusters' Leases.
async fn holders(leases: &Api<Lease>) -> BTreeMap<String, String> {
    let list = leases
        .list(&ListParams::default().labels(&format!("{ROLE_LABEL}=cluster")))
        .await
        .expect("leases");
    list.items
        .into_iter()
        .filter(|l| l.labels().contains_key(FLEET_LABEL))
        .filter_map(|l| {
            let cluster = l
                .name_any()
                .strip_prefix("clusterpedia-clustersynchro-manager-cluster-")?
                .to_owned();
            let holder = l.spec?.holder_identity.filter(|h| !h.is_empty())?;
            Some((cluster, holder))
        })
        .collect()
}

/// Waits until every cluster's Lease is held by one of `live` and each live replica's metrics
/// claim exactly the clusters it holds; returns `cluster → holder`.
async fn wait_single_owners(
    leases: &Api<Lease>,
    live: &[&Replica],
    clusters: &BTreeSet<String>,
    what: &str,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let held = holders(leases).await;
        let ids: BTreeSet<&str> = live.iter().map(|r| r.identity.as_str()).collect();
        let mut claimed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for replica in live {
            for cluster in replica.owned() {
                claimed
                    .entry(cluster)
                    .or_default()
                    .push(replica.identity.clone());
            }
        }
        let ok = held.keys().cloned().collect::<BTreeSet<_>>() == *clusters
            && held.values().all(|h| ids.contains(h.as_str()))
            && clusters
                .iter()
                .all(|c| claimed.get(c).map(Vec::as_slice) == Some(std::slice::from_ref(&held[c])));
        if ok {
            return held;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: cluster leases {held:?}, claimed by the replicas' metrics {claimed:?}, live {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn member_spec(seed: u64) -> FixtureSpec {
    FixtureSpec {
        namespaces: 4,
        deployments_per_namespace: 5,
        replicas: 8,
        configmaps_per_namespace: 10,
        events_per_deployment: 0,
        widgets: 0,
        nodes: 2,
        seed,
    }
}

fn postgres_url() -> String {
    std::env::var("INTERNAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Runs one statement (built from this file's constants and a generated name).
async fn postgres(statement: String) {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL (INTERNAL_TEST_POSTGRES_URL)");
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut connection)
        .await
        .expect("statement");
    let _ = connection.close().await;
}

/// A fresh schema of the test database.
async fn new_schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("cp_fleet_{}_{}", std::process::id(), nanos % 1_000_000_000);
    postgres("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public".into()).await;
    postgres(format!("CREATE SCHEMA {name}")).await;
    name
}

/// The internal layer's configuration for `schema`.
fn database_config(schema: &str) -> storage_internal::InternalConfig {
    let mut config = storage_internal::InternalConfig {
        db_type: Some("postgres".into()),
        dsn: Some(postgres_url()),
        ..storage_internal::InternalConfig::default()
    };
    config.params = [("search_path".to_owned(), format!("{schema},public"))]
        .into_iter()
        .collect();
    config
}

async fn edit_configmaps(client: &kube::Client, round: &str) {
    let namespace = kube_sim::namespace_name(0);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let existing = api.list(&ListParams::default()).await.expect("configmaps");
    for old in existing
        .items
        .iter()
        .filter(|c| c.name_any() != "kube-root-ca.crt")
        .take(2)
    {
        api.delete(&old.name_any(), &DeleteParams::default())
            .await
            .expect("delete configmap");
    }
    for i in 0..2 {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("fleet-{round}-{i}")},
            "data": {"round": round},
        }))
        .expect("configmap");
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create configmap");
    }
}

/// The host cluster (with the Leases' namespace), `n` members registered as PediaClusters, and
/// the database.
struct Setup {
    host: SimulatorHandle,
    host_yaml: String,
    leases: Api<Lease>,
    members: BTreeMap<String, (SimulatorHandle, kube::Client)>,
    clusters: BTreeSet<String>,
    database: String,
    storage: Arc<dyn StorageFactory>,
}

async fn setup(n: usize) -> Setup {
    let host = Simulator::builder()
        .fixtures(FixtureSpec::empty())
        .start()
        .await
        .expect("host");
    let host_yaml = host.kubeconfig_yaml("host");
    let host_client = client_from_yaml(&host_yaml).await;
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": NAMESPACE}}))
            .expect("namespace");
    Api::<Namespace>::all(host_client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
    let leases: Api<Lease> = Api::namespaced(host_client.clone(), NAMESPACE);

    let mut members = BTreeMap::new();
    for i in 0..n {
        let sim = Simulator::builder()
            .fixtures(member_spec(i as u64 + 1))
            .bookmark_interval(Duration::from_millis(500))
            .start()
            .await
            .expect("member");
        let client = client_from_yaml(&sim.kubeconfig_yaml("member")).await;
        members.insert(format!("member-{i:02}"), (sim, client));
    }
    let clusters: BTreeSet<String> = members.keys().cloned().collect();

    // The tables exist before the replicas open the database.
    let database = new_schema().await;
    let storage: Arc<dyn StorageFactory> = Arc::new(
        storage_internal::InternalStorageFactory::connect(
            database_config(&database).connection().expect("connection"),
        )
        .await
        .expect("PostgreSQL"),
    );

    let pedia: Api<PediaCluster> = Api::all(host_client.clone());
    for (name, (sim, _)) in &members {
        let cluster = PediaCluster::new(
            name,
            ClusterSpec {
                kubeconfig: Some(ByteString(sim.kubeconfig_yaml(name).into_bytes())),
                sync_resources: vec![
                    ClusterGroupResources {
                        group: String::new(),
                        resources: vec!["pods".into(), "configmaps".into()],
                        ..Default::default()
                    },
                    ClusterGroupResources {
                        group: "apps".into(),
                        resources: vec!["deployments".into()],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        );
        pedia
            .create(&PostParams::default(), &cluster)
            .await
            .expect("pediacluster");
    }
    Setup {
        host,
        host_yaml,
        leases,
        members,
        clusters,
        database,
        storage,
    }
}

async fn teardown(
    host: SimulatorHandle,
    members: BTreeMap<String, (SimulatorHandle, kube::Client)>,
    database: &str,
) {
    for (_, (sim, _)) in members {
        sim.shutdown().await;
    }
    host.shutdown().await;
    postgres(format!("DROP SCHEMA {database} CASCADE")).await;
}

/// Three replicas share ten clusters; one is killed while the members churn, another joins
/// later: every cluster always ends with exactly one owner among the live replicas, within
/// the hand-over bound, and storage equals the members (no lost, stale or phantom object),
/// with the new owners resuming from the stored versions instead of rewriting everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_clusters_and_hand_them_over() {
    init_logs();
    let started = Instant::now();
    let Setup {
        host,
        host_yaml,
        leases,
        members,
        clusters,
        database,
        storage,
    } = setup(CLUSTERS).await;
    for (sim, _) in members.values() {
        sim.set_churn_per_second(4.0);
    }

    let mut replicas: Vec<Replica> = ["replica-a", "replica-b", "replica-c"]
        .iter()
        .map(|id| Replica::start(id, host_yaml.clone(), database.clone(), true))
        .collect();
    // Every replica gets a share once all three have registered.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let owners = wait_single_owners(
            &leases,
            &replicas.iter().collect::<Vec<_>>(),
            &clusters,
            "three replicas start",
        )
        .await;
        if replicas.iter().all(|r| !r.owned().is_empty()) {
            eprintln!("three replicas share the clusters: {owners:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a replica owns nothing: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Storage catches up; then the pods churn again and the replica with the most clusters
    // is killed while it writes their changes.
    for (sim, _) in members.values() {
        sim.set_churn_per_second(0.0);
    }
    wait_equal(&*storage, &members, "initial sync").await;
    let churned_before: HashMap<String, u64> = members
        .iter()
        .map(|(c, (sim, _))| (c.clone(), sim.churn_updates()))
        .collect();
    for (sim, _) in members.values() {
        sim.set_churn_per_second(4.0);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let victim_index = (0..replicas.len())
        .max_by_key(|i| replicas[*i].owned().len())
        .expect("replica");
    let victim = replicas.remove(victim_index);
    let victim_clusters = victim.owned();
    let before: HashMap<String, usize> = victim_clusters
        .iter()
        .map(|c| (c.clone(), replicas.iter().map(|r| r.upserts.of(c)).sum()))
        .collect();
    let victim_id = victim.identity.clone();
    let killed_at = Instant::now();
    victim.kill();
    for cluster in &victim_clusters {
        edit_configmaps(&members[cluster].1, "after-kill").await;
    }
    let owners = wait_single_owners(
        &leases,
        &replicas.iter().collect::<Vec<_>>(),
        &clusters,
        "after the kill",
    )
    .await;
    let hand_over = killed_at.elapsed();
    eprintln!(
        "killed {victim_id} owning {victim_clusters:?}; taken over in {hand_over:?}: {owners:?}"
    );
    assert!(
        hand_over <= HAND_OVER_BOUND,
        "hand-over took {hand_over:?} (bound {HAND_OVER_BOUND:?})"
    );
    for (sim, _) in members.values() {
        sim.set_churn_per_second(0.0);
    }
    wait_equal(&*storage, &members, "after the kill").await;
    // The new owners resumed from the stored versions: they wrote what changed since storage
    // last equalled the member (churned pods, two new configmaps), not the clusters again.
    for cluster in &victim_clusters {
        let written: usize = replicas
            .iter()
            .map(|r| r.upserts.of(cluster))
            .sum::<usize>()
            - before[cluster];
        let churned = members[cluster].0.churn_updates() - churned_before[cluster];
        let objects = storage
            .resource_versions(cluster)
            .await
            .expect("versions")
            .values()
            .map(|v| v.resources.len())
            .sum::<usize>();
        assert!(
            written as u64 <= churned + 2,
            "{cluster}: the new owner wrote {written} objects of {objects}, but only {churned} pods churned and 2 configmaps were created (re-listed into storage?)"
        );
    }

    // A replica joins: it gets a share, every cluster still has one owner, nothing is lost.
    for (sim, _) in members.values() {
        sim.set_churn_per_second(4.0);
    }
    replicas.push(Replica::start(
        "replica-d",
        host_yaml.clone(),
        database.clone(),
        true,
    ));
    let joined_at = Instant::now();
    let deadline = Instant::now() + TIMEOUT;
    while replicas[2].owned().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the joining replica got no cluster"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the joining replica got {:?} in {:?}",
        replicas[2].owned(),
        joined_at.elapsed()
    );
    for cluster in replicas[2].owned() {
        edit_configmaps(&members[&cluster].1, "after-join").await;
    }
    wait_single_owners(
        &leases,
        &replicas.iter().collect::<Vec<_>>(),
        &clusters,
        "after the join",
    )
    .await;
    for (sim, _) in members.values() {
        sim.set_churn_per_second(0.0);
    }
    wait_equal(&*storage, &members, "after the join").await;

    // Fencing: a replica whose cluster Lease is taken from it stops writing the cluster at
    // once; when the taker does not renew, the Lease expires and the cluster is synced again.
    let held = holders(&leases).await;
    let (stolen, victim_id) = held
        .iter()
        .find(|(c, _)| c.as_str() != "member-00")
        .map(|(c, h)| (c.clone(), h.clone()))
        .expect("a held cluster");
    let owner = replicas
        .iter()
        .find(|r| r.identity == victim_id)
        .expect("the owner is live");
    members[&stolen].0.set_churn_per_second(4.0);
    let lease_name = format!("clusterpedia-clustersynchro-manager-cluster-{stolen}");
    let mut lease = leases.get(&lease_name).await.expect("lease");
    if let Some(spec) = lease.spec.as_mut() {
        spec.holder_identity = Some("intruder".into());
    }
    leases
        .replace(&lease_name, &PostParams::default(), &lease)
        .await
        .expect("take the lease");
    let deadline = Instant::now() + TIMEOUT;
    while owner.owned().contains(&stolen) {
        assert!(
            Instant::now() < deadline,
            "{victim_id} kept syncing {stolen}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written = owner.upserts.of(&stolen);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        owner.upserts.of(&stolen),
        written,
        "{victim_id} wrote {stolen} after losing its Lease"
    );
    wait_single_owners(
        &leases,
        &replicas.iter().collect::<Vec<_>>(),
        &clusters,
        "after the stolen Lease expired",
    )
    .await;
    members[&stolen].0.set_churn_per_second(0.0);
    wait_equal(&*storage, &members, "after the stolen Lease expired").await;

    // Deleting a PediaCluster: its owner cleans its data and lets the object go; no replica
    // holds it any more.
    let gone = "member-00";
    let pedia: Api<PediaCluster> = Api::all(client_from_yaml(&host_yaml).await);
    pedia
        .delete(gone, &DeleteParams::default())
        .await
        .expect("delete the PediaCluster");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let object = pedia.get_opt(gone).await.expect("get");
        let stored = storage.resource_versions(gone).await.expect("versions");
        let held = holders(&leases).await;
        let claimed = replicas.iter().any(|r| r.owned().contains(gone));
        if object.is_none()
            && stored.values().all(|v| v.resources.is_empty())
            && !held.contains_key(gone)
            && !claimed
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deleting {gone}: object left {}, stored {:?}, leases {held:?}, claimed {claimed}",
            object.is_some(),
            stored
                .values()
                .map(|v| v.resources.len())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A clean stop gives the Leases up.
    futures::future::join_all(replicas.into_iter().map(Replica::stop)).await;
    assert!(
        holders(&leases).await.is_empty(),
        "leases still held after every replica stopped: {:?}",
        holders(&leases).await
    );
    eprintln!("fleet test took {:?}", started.elapsed());
    teardown(host, members, &database).await;
}

/// `--leader-elect` (the original's way): of two replicas only the leader syncs; killed, the
/// standby takes the Lease once it expires and resumes from the stored versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_from_a_dead_leader() {
    init_logs();
    let Setup {
        host,
        host_yaml,
        leases,
        members,
        clusters: _,
        database,
        storage,
    } = setup(2).await;
    let syncs = |replica: &Replica| {
        replica.metrics.encode().contains(
            "clustersynchro_resourcesynchro_storaged_resource_total{cluster=\"member-00\"",
        )
    };
    let holder = || async {
        leases
            .get_opt("clusterpedia-clustersynchro-manager")
            .await
            .expect("lease")
            .and_then(|l| l.spec?.holder_identity)
            .filter(|h| !h.is_empty())
    };
    let mut replicas: Vec<Replica> = ["leader-a", "leader-b"]
        .iter()
        .map(|id| Replica::start(id, host_yaml.clone(), database.clone(), false))
        .collect();
    wait_equal(&*storage, &members, "the leader syncs").await;
    let leader = holder().await.expect("a leader");
    let leader_index = replicas
        .iter()
        .position(|r| r.identity == leader)
        .expect("the leader is a replica");
    let standby = &replicas[1 - leader_index];
    assert!(syncs(&replicas[leader_index]), "the leader syncs");
    assert!(!syncs(standby), "the standby waits");

    let leader = replicas.remove(leader_index);
    let killed_at = Instant::now();
    leader.kill();
    let standby = replicas.pop().expect("standby");
    for (sim, client) in members.values() {
        sim.set_churn_per_second(0.0);
        edit_configmaps(client, "after-leader").await;
    }
    let deadline = Instant::now() + TIMEOUT;
    while holder().await.as_deref() != Some(standby.identity.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the standby never took the lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = killed_at.elapsed();
    eprintln!("the standby became leader {took:?} after the kill");
    assert!(took <= HAND_OVER_BOUND, "took {took:?}");
    wait_equal(&*storage, &members, "after the standby took over").await;
    assert!(syncs(&standby));
    standby.stop().await;
    assert_eq!(holder().await, None, "a stopping leader releases the lease");
    teardown(host, members, &database).await;
}
