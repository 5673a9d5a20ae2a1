//! End to end: Kubernetes API simulator → clustersynchro-manager → memory storage.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use clusterpedia_crds::{
    ClusterGroupResources, ClusterSpec, ClusterStatus, PediaCluster, ResourceSyncStatus,
};
use clusterpedia_synchro::{ClusterInput, Manager, SyncResourcesRef, SynchroOptions};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use kube_sim::{FixtureSpec, Simulator, SimulatorHandle};
use storage_api::object::CLUSTER_NAME_ANNOTATION;
use storage_api::testing::{AfterWrite, Forwarding, Probe, Write};
use storage_api::{Change, Gvr, ListOptions, ResourceStorageConfig, StorageError, StorageFactory};
use storage_memory::MemoryStorageFactory;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Logs to the test output (`RUST_LOG` filters; default: warnings and the synchro's info).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,clusterpedia_synchro=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn options() -> SynchroOptions {
    init_logs();
    let mut options = SynchroOptions::defaults();
    options.metrics_port = 0;
    options.page_size = 20;
    options.health_check_interval = Duration::from_millis(200);
    options.discovery_interval = Duration::from_secs(1);
    options
}

/// A storage factory that counts the changes written and can be made unavailable.
type TestFactory = Forwarding<dyn StorageFactory, Faults>;

/// The probe of a [`TestFactory`]: counts the changes applied, fails every write while `down`.
#[derive(Default)]
struct Faults {
    upserts: Arc<AtomicUsize>,
    deletes: Arc<AtomicUsize>,
    down: AtomicBool,
}

fn test_factory(inner: Arc<dyn StorageFactory>) -> Arc<TestFactory> {
    Arc::new(Forwarding::with_probe(inner, Faults::default()))
}

impl Probe for Faults {
    fn before_write(
        &self,
        _: &ResourceStorageConfig,
        write: Write<'_>,
    ) -> storage_api::Result<Option<AfterWrite>> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable {
                message: "the test storage is down".into(),
                source: None,
            });
        }
        let Write::Apply(changes) = write else {
            return Ok(None);
        };
        let upserts = changes
            .iter()
            .filter(|c| matches!(c, Change::Upsert(_)))
            .count();
        let deletes = changes.len() - upserts;
        let (upserted, deleted) = (self.upserts.clone(), self.deletes.clone());
        Ok(Some(Box::new(move || {
            upserted.fetch_add(upserts, Ordering::SeqCst);
            deleted.fetch_add(deletes, Ordering::SeqCst);
        })))
    }
}

async fn client_of(sim: &SimulatorHandle) -> kube::Client {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(&sim.kubeconfig_yaml("test")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

fn group(group: &str, resources: &[&str]) -> ClusterGroupResources {
    ClusterGroupResources {
        group: group.into(),
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

fn pedia_cluster(
    name: &str,
    sim: &SimulatorHandle,
    resources: Vec<ClusterGroupResources>,
) -> PediaCluster {
    PediaCluster::new(
        name,
        ClusterSpec {
            kubeconfig: Some(ByteString(sim.kubeconfig_yaml(name).into_bytes())),
            sync_resources: resources,
            ..Default::default()
        },
    )
}

fn input(cluster: PediaCluster) -> ClusterInput {
    ClusterInput {
        cluster,
        sync_resources_ref: SyncResourcesRef::None,
    }
}

/// The default resources of these tests.
fn resources() -> Vec<ClusterGroupResources> {
    vec![
        group("", &["pods", "configmaps", "namespaces"]),
        group("apps", &["deployments"]),
        group("example.io", &["*"]),
    ]
}

fn condition<'a>(
    status: &'a ClusterStatus,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

fn describe(status: &Option<ClusterStatus>) -> String {
    serde_json::to_string_pretty(status).unwrap_or_default()
}

/// Waits until the cluster's status satisfies `pred`.
async fn wait_status(
    manager: &Manager,
    name: &str,
    what: &str,
    pred: impl Fn(&ClusterStatus) -> bool,
) -> ClusterStatus {
    let mut rx = manager.statuses();
    let result = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Some(status) = rx.borrow_and_update().get(name)
                && pred(status)
            {
                return status.clone();
            }
            if rx.changed().await.is_err() {
                panic!("manager gone");
            }
        }
    })
    .await;
    match result {
        Ok(status) => status,
        Err(_) => panic!(
            "timed out waiting for {what} of {name}; status: {}",
            describe(&manager.status(name))
        ),
    }
}

/// Ready, and every resource synced past its initial list.
fn synced(status: &ClusterStatus) -> bool {
    condition(status, "Ready").is_some_and(|c| c.status == "True") && status.past_initial_lists()
}

/// `namespace/name → resourceVersion` of a collection of the simulator.
async fn sim_versions(client: &kube::Client, path: &str) -> HashMap<String, String> {
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
            (
                key,
                meta["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

async fn stored_versions(
    storage: &dyn StorageFactory,
    cluster: &str,
    gvr: &Gvr,
) -> HashMap<String, String> {
    storage
        .resource_versions(cluster)
        .await
        .expect("versions")
        .remove(gvr)
        .unwrap_or_default()
        .resources
}

/// Waits until storage holds exactly the simulator's objects of `gvr` (same versions).
async fn wait_equal(
    client: &kube::Client,
    storage: &dyn StorageFactory,
    cluster: &str,
    gvr: &Gvr,
    path: &str,
) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let expected = sim_versions(client, path).await;
        let stored = stored_versions(storage, cluster, gvr).await;
        if expected == stored {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let missing: Vec<_> = expected
                .keys()
                .filter(|k| !stored.contains_key(*k))
                .take(5)
                .collect();
            let extra: Vec<_> = stored
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .take(5)
                .collect();
            let stale: Vec<_> = expected
                .iter()
                .filter(|(k, v)| stored.get(*k).is_some_and(|s| s != *v))
                .take(5)
                .collect();
            panic!(
                "{gvr} of {cluster}: simulator {} objects, storage {}; missing {missing:?}, extra {extra:?}, stale {stale:?}",
                expected.len(),
                stored.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pods() -> Gvr {
    Gvr::new("", "v1", "pods")
}

fn configmaps() -> Gvr {
    Gvr::new("", "v1", "configmaps")
}

async fn start_sim() -> SimulatorHandle {
    init_logs();
    Simulator::builder()
        .fixtures(FixtureSpec::small())
        .bookmark_interval(Duration::from_millis(500))
        .start()
        .await
        .expect("simulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_matches_the_simulator_and_follows_churn() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let manager = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    manager.apply(input(pedia_cluster("c1", &sim, resources())));
    let status = wait_status(&manager, "c1", "initial sync", synced).await;
    assert_eq!(status.version, "v1.36.0");
    assert!(
        status.apiserver.starts_with("https://127.0.0.1:"),
        "{}",
        status.apiserver
    );
    let names: Vec<String> = status
        .sync_resources
        .iter()
        .flat_map(|g| {
            g.resources
                .iter()
                .map(move |r| format!("{}.{}", r.name, g.group))
        })
        .collect();
    assert_eq!(
        names,
        [
            "pods.",
            "configmaps.",
            "namespaces.",
            "deployments.apps",
            "widgets.example.io"
        ]
    );

    for (gvr, path) in [
        (pods(), "/api/v1/pods"),
        (configmaps(), "/api/v1/configmaps"),
        (Gvr::new("", "v1", "namespaces"), "/api/v1/namespaces"),
        (
            Gvr::new("apps", "v1", "deployments"),
            "/apis/apps/v1/deployments",
        ),
        (
            Gvr::new("example.io", "v1", "widgets"),
            "/apis/example.io/v1/widgets",
        ),
    ] {
        wait_equal(&client, &*memory, "c1", &gvr, path).await;
    }
    assert_eq!(
        stored_versions(&*memory, "c1", &pods()).await.len(),
        FixtureSpec::small().pods()
    );

    // A sample object: stamped, pruned, typed.
    let storage = memory
        .new_resource_storage(ResourceStorageConfig {
            gvr: pods(),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let page = storage.list(&ListOptions::default()).await.expect("list");
    let pod: serde_json::Value = serde_json::from_slice(&page.items[0].raw).expect("json");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["apiVersion"], "v1");
    assert_eq!(
        pod["metadata"]["annotations"][CLUSTER_NAME_ANNOTATION],
        "c1"
    );
    assert!(pod["metadata"].get("managedFields").is_none());

    // Churn reaches storage.
    sim.set_churn_per_second(50.0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.set_churn_per_second(0.0);
    assert!(sim.churn_updates() > 0);
    wait_equal(&client, &*memory, "c1", &pods(), "/api/v1/pods").await;

    // Metrics follow.
    let text = manager.metrics().encode();
    assert!(
        text.contains(r#"clustersynchro_resourcesynchro_resource_updated_total{cluster="c1",group="",version="v1",resource="pods"}"#),
        "{text}"
    );
    manager.shutdown().await;
    let status = manager.status("c1").expect("status");
    assert_eq!(
        condition(&status, "SynchroRunning")
            .expect("running")
            .reason,
        "Shutdown"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_without_rewriting_and_applies_offline_deletions() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let first = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    first.apply(input(pedia_cluster("c1", &sim, resources())));
    wait_status(&first, "c1", "initial sync", synced).await;
    wait_equal(&client, &*memory, "c1", &configmaps(), "/api/v1/configmaps").await;
    first.shutdown().await;

    // While the manager is down: one configmap deleted, one changed.
    let cms = sim_versions(&client, "/api/v1/configmaps").await;
    let mut keys: Vec<&String> = cms
        .keys()
        .filter(|k| k.contains("/app-") || !k.starts_with("kube-"))
        .collect();
    keys.sort();
    let (ns, deleted) = keys[0].split_once('/').expect("namespaced");
    let (ns2, changed) = keys[1].split_once('/').expect("namespaced");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    api.delete(deleted, &DeleteParams::default())
        .await
        .expect("delete");
    let api2: Api<ConfigMap> = Api::namespaced(client.clone(), ns2);
    api2.patch(
        changed,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"changed": "yes"}})),
    )
    .await
    .expect("patch");

    let counting = test_factory(memory.clone());
    let second = Manager::new(
        &options(),
        counting.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    second.apply(input(pedia_cluster("c1", &sim, resources())));
    wait_status(&second, "c1", "resumed sync", synced).await;
    wait_equal(&client, &*memory, "c1", &configmaps(), "/api/v1/configmaps").await;
    wait_equal(&client, &*memory, "c1", &pods(), "/api/v1/pods").await;
    // Only the changed configmap was rewritten and only the deleted one removed.
    assert_eq!(
        counting.probe().upserts.load(Ordering::SeqCst),
        1,
        "unchanged objects must not be rewritten"
    );
    assert_eq!(counting.probe().deletes.load(Ordering::SeqCst), 1);
    second.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_member_pauses_and_resumes_without_losing_changes() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let manager = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    manager.apply(input(pedia_cluster("c1", &sim, resources())));
    wait_status(&manager, "c1", "initial sync", synced).await;

    sim.set_healthy(false);
    let status = wait_status(&manager, "c1", "paused resources", |s| {
        condition(s, "ClusterHealthy")
            .is_some_and(|c| c.status == "False" && c.reason == "Unhealthy")
            && s.sync_resources.iter().all(|g| {
                g.resources.iter().all(|r| {
                    r.sync_conditions
                        .iter()
                        .all(|c| c.status == ResourceSyncStatus::Stop && c.reason == "Pause")
                })
            })
    })
    .await;
    assert_eq!(condition(&status, "Ready").expect("ready").status, "False");
    assert_eq!(
        condition(&status, "Ready").expect("ready").message,
        "ClusterHealthy condition is False, reason is Unhealthy"
    );

    // Changes while paused, and the history compacted: resuming the watches gets
    // `410 Gone`, so the resources are listed again, which also finds the deletion.
    sim.set_churn_per_second(50.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.set_churn_per_second(0.0);
    let cms = sim_versions(&client, "/api/v1/configmaps").await;
    let mut keys: Vec<&String> = cms.keys().collect();
    keys.sort();
    let (ns, name) = keys[0].split_once('/').expect("namespaced");
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete");
    sim.compact();
    sim.set_healthy(true);
    wait_status(&manager, "c1", "resumed sync", synced).await;
    wait_equal(&client, &*memory, "c1", &pods(), "/api/v1/pods").await;
    wait_equal(&client, &*memory, "c1", &configmaps(), "/api/v1/configmaps").await;
    manager.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_outage_is_retried_and_loses_nothing() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let test = test_factory(memory.clone());
    let manager = Manager::new(
        &options(),
        test.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    manager.apply(input(pedia_cluster("c1", &sim, resources())));
    wait_status(&manager, "c1", "initial sync", synced).await;

    test.probe().down.store(true, Ordering::SeqCst);
    sim.set_churn_per_second(50.0);
    wait_status(&manager, "c1", "storage error", |s| {
        s.sync_resources.iter().any(|g| {
            g.resources.iter().any(|r| {
                r.sync_conditions
                    .iter()
                    .any(|c| c.status == ResourceSyncStatus::Stop && c.reason == "StorageExpection")
            })
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.set_churn_per_second(0.0);
    test.probe().down.store(false, Ordering::SeqCst);
    wait_status(&manager, "c1", "recovered sync", synced).await;
    wait_equal(&client, &*memory, "c1", &pods(), "/api/v1/pods").await;
    manager.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_bad_sync_resources_are_reported() {
    let sim = start_sim().await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let manager = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );

    // A kubeconfig that is not one.
    let mut garbage = pedia_cluster("garbage", &sim, resources());
    garbage.spec.kubeconfig = Some(ByteString(b"not: [a kubeconfig".to_vec()));
    manager.apply(input(garbage));
    let status = wait_status(&manager, "garbage", "InvalidConfig", |s| {
        condition(s, "Validated").is_some_and(|c| c.reason == "InvalidConfig")
    })
    .await;
    let validated = condition(&status, "Validated").expect("validated");
    assert_eq!(validated.status, "False");
    assert!(
        validated.message.starts_with("invalid cluster config: "),
        "{}",
        validated.message
    );
    assert_eq!(
        condition(&status, "SynchroRunning")
            .expect("running")
            .reason,
        "InvalidConfig"
    );
    assert_eq!(
        condition(&status, "ClusterHealthy")
            .expect("healthy")
            .reason,
        "MonitorStop"
    );
    assert_eq!(
        condition(&status, "Ready").expect("ready").message,
        "Validated condition is False, reason is InvalidConfig"
    );

    // A wrong token: the member rejects it.
    let mut wrong = pedia_cluster("wrong-token", &sim, resources());
    wrong.spec.kubeconfig = None;
    wrong.spec.apiserver = sim.url().to_owned();
    wrong.spec.ca_data = Some(ByteString(sim.ca_pem().as_bytes().to_vec()));
    wrong.spec.token_data = Some(ByteString(b"not-the-token".to_vec()));
    manager.apply(input(wrong));
    let status = wait_status(&manager, "wrong-token", "InitialFailed", |s| {
        condition(s, "SynchroRunning").is_some_and(|c| c.reason == "InitialFailed")
    })
    .await;
    let running = condition(&status, "SynchroRunning").expect("running");
    assert!(running.message.contains("401"), "{}", running.message);
    assert_eq!(
        condition(&status, "Validated").expect("validated").status,
        "True"
    );

    // group "*" without its feature gate.
    let all = pedia_cluster("all", &sim, vec![group("*", &["*"])]);
    manager.apply(input(all));
    let status = wait_status(&manager, "all", "InvalidSyncResources", |s| {
        condition(s, "Validated").is_some_and(|c| c.reason == "InvalidSyncResources")
    })
    .await;
    assert!(
        condition(&status, "Validated")
            .expect("v")
            .message
            .contains("AllowSyncAllResources")
    );

    // Resources the member does not serve are named in SynchroRunning.
    let unknown = pedia_cluster(
        "unknown",
        &sim,
        vec![
            group("", &["pods", "nosuchthings"]),
            group("nope.io", &["*"]),
        ],
    );
    manager.apply(input(unknown));
    let status = wait_status(&manager, "unknown", "running", |s| {
        condition(s, "SynchroRunning").is_some_and(|c| c.status == "True")
    })
    .await;
    let message = &condition(&status, "SynchroRunning")
        .expect("running")
        .message;
    assert!(
        message.contains("nosuchthings: not served by the cluster"),
        "{message}"
    );
    assert!(
        message.contains("group \"nope.io\": not served by the cluster"),
        "{message}"
    );
    manager.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_credentials() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let manager = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    let pki = sim.pki();
    let mut direct = pedia_cluster("direct", &sim, vec![group("", &["configmaps"])]);
    direct.spec.kubeconfig = None;
    direct.spec.apiserver = sim.url().to_owned();
    direct.spec.ca_data = Some(ByteString(pki.ca_pem.clone().into_bytes()));
    direct.spec.cert_data = Some(ByteString(pki.client_cert_pem.clone().into_bytes()));
    direct.spec.key_data = Some(ByteString(pki.client_key_pem.clone().into_bytes()));
    manager.apply(input(direct));
    let mut from_kubeconfig =
        pedia_cluster("kubeconfig-cert", &sim, vec![group("", &["configmaps"])]);
    from_kubeconfig.spec.kubeconfig = Some(ByteString(
        sim.kubeconfig_yaml_with_client_cert("kubeconfig-cert")
            .into_bytes(),
    ));
    manager.apply(input(from_kubeconfig));
    for name in ["direct", "kubeconfig-cert"] {
        wait_status(&manager, name, "sync", synced).await;
        wait_equal(&client, &*memory, name, &configmaps(), "/api/v1/configmaps").await;
    }
    manager.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_resources_and_deleted_clusters_are_cleaned() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let manager = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    let mut events = group("", &["pods", "configmaps"]);
    events.events_involved_resources = vec!["pods".into()];
    manager.apply(input(pedia_cluster("c1", &sim, vec![events])));
    wait_status(&manager, "c1", "initial sync", synced).await;
    wait_equal(&client, &*memory, "c1", &configmaps(), "/api/v1/configmaps").await;

    // Events of pods are recorded with their pods.
    let expected_events = sim_versions(
        &client,
        "/api/v1/events?fieldSelector=involvedObject.kind%3DPod",
    )
    .await;
    assert!(!expected_events.is_empty(), "the fixtures have pod events");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let recorded = memory
            .resource_versions("c1")
            .await
            .expect("versions")
            .remove(&pods())
            .unwrap_or_default()
            .events;
        if recorded == expected_events {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events: expected {}, recorded {}",
            expected_events.len(),
            recorded.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // configmaps removed from syncResources: their data goes.
    manager.apply(input(pedia_cluster("c1", &sim, vec![group("", &["pods"])])));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !stored_versions(&*memory, "c1", &configmaps())
        .await
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "configmaps not cleaned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = wait_status(&manager, "c1", "one resource", |s| {
        s.sync_resources
            .iter()
            .map(|g| g.resources.len())
            .sum::<usize>()
            == 1
    })
    .await;
    assert_eq!(status.sync_resources[0].resources[0].name, "pods");
    assert!(!stored_versions(&*memory, "c1", &pods()).await.is_empty());

    // The cluster deleted: everything goes.
    manager.delete("c1").await;
    assert!(
        memory
            .resource_versions("c1")
            .await
            .expect("versions")
            .values()
            .all(|v| v.resources.is_empty())
    );
    assert!(manager.status("c1").is_none());
    manager.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_file_is_followed() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let manager = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    let dir = std::env::temp_dir().join(format!("synchro-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("clusters.yaml");
    let cluster = pedia_cluster("from-file", &sim, vec![group("", &["configmaps"])]);
    std::fs::write(&path, serde_norway::to_string(&cluster).expect("yaml")).expect("write");
    let source = tokio::spawn(clusterpedia_synchro::source::file::run(
        manager.clone(),
        path.clone(),
        Duration::from_millis(100),
    ));
    wait_status(&manager, "from-file", "sync", synced).await;
    wait_equal(
        &client,
        &*memory,
        "from-file",
        &configmaps(),
        "/api/v1/configmaps",
    )
    .await;

    // Removing the cluster from the file deletes its data. (Sleep past the mtime granularity.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, "# no cluster\n").expect("write");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !stored_versions(&*memory, "from-file", &configmaps())
        .await
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "not cleaned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    source.abort();
    manager.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_cluster_finalizer_status_and_deletion() {
    let host = Simulator::builder()
        .fixtures(FixtureSpec::empty())
        .start()
        .await
        .expect("host");
    let member = start_sim().await;
    let host_client = client_of(&host).await;
    let member_client = client_of(&member).await;
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let manager = Manager::new(
        &options(),
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::source::host::HostStatusWriter::new(
            host_client.clone(),
        )),
        None,
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let source = tokio::spawn(clusterpedia_synchro::source::host::run(
        manager.clone(),
        host_client.clone(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let api: Api<PediaCluster> = Api::all(host_client.clone());
    let cluster = pedia_cluster("member-1", &member, vec![group("", &["configmaps"])]);
    api.create(&Default::default(), &cluster)
        .await
        .expect("create");

    // The status reaches the host object, with the finalizer.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let object = loop {
        let object = api.get("member-1").await.expect("get");
        if object.status.as_ref().is_some_and(synced) {
            break object;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "host status: {}",
            describe(&object.status)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        object
            .finalizers()
            .iter()
            .any(|f| f == clusterpedia_crds::CLUSTER_SYNCHRO_FINALIZER)
    );
    wait_equal(
        &member_client,
        &*memory,
        "member-1",
        &configmaps(),
        "/api/v1/configmaps",
    )
    .await;

    // Deleting it cleans the data, then releases the object.
    api.delete("member-1", &DeleteParams::default())
        .await
        .expect("delete");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while api.get_opt("member-1").await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the finalizer was not removed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        stored_versions(&*memory, "member-1", &configmaps())
            .await
            .is_empty()
    );
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), source).await;
    manager.shutdown().await;
    let _ = host_client;
    member.shutdown().await;
    host.shutdown().await;
}

/// `SyncMemberRBAC`: every cluster's RBAC objects are synced, though its syncResources do not
/// name them (what the apiserver's `--member-rbac-filter` reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_rbac_is_synced_with_its_gate() {
    let sim = start_sim().await;
    let client = client_of(&sim).await;
    let roles: kube::Api<k8s_openapi::api::rbac::v1::ClusterRole> = kube::Api::all(client.clone());
    roles
        .create(
            &Default::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
            }))
            .expect("role"),
        )
        .await
        .expect("create role");
    let bindings: kube::Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        kube::Api::namespaced(client.clone(), "default");
    bindings
        .create(
            &Default::default(),
            &serde_json::from_value(serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "alice", "namespace": "default"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
            }))
            .expect("binding"),
        )
        .await
        .expect("create binding");
    let memory: Arc<dyn StorageFactory> = Arc::new(MemoryStorageFactory::default());
    let mut options = options();
    options.feature_gates.sync_member_rbac = true;
    let manager = Manager::new(
        &options,
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    manager.apply(input(pedia_cluster(
        "c1",
        &sim,
        vec![group("", &["configmaps"])],
    )));
    wait_status(&manager, "c1", "sync", synced).await;
    for resource in ["clusterroles", "rolebindings"] {
        wait_equal(
            &client,
            &*memory,
            "c1",
            &Gvr::new("rbac.authorization.k8s.io", "v1", resource),
            &format!("/apis/rbac.authorization.k8s.io/v1/{resource}"),
        )
        .await;
    }
    let stored = stored_versions(
        &*memory,
        "c1",
        &Gvr::new("rbac.authorization.k8s.io", "v1", "rolebindings"),
    )
    .await;
    assert!(stored.contains_key("default/alice"), "{stored:?}");
    manager.shutdown().await;
    sim.shutdown().await;
}
