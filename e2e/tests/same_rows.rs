//! One object prints the same `kubectl get` row from its member cluster and from clusterpedia.
//!
//! The kube API simulator (a member cluster) and the apiserver both print tables with the
//! printers of `kube-wire`. Here the pods of a simulated cluster (its fixtures, plus one pod with
//! init containers, a restartable sidecar, a crash-looping init container and readiness gates)
//! are read from the simulator as JSON, stored through the storage API and served by the
//! apiserver; every pod's row must be the same from both, but for the apiserver's leading
//! `Cluster` cell.

#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt as _;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_sim::{FixtureSpec, Simulator, SimulatorHandle};
use serde_json::{Value, json};
use storage_api::{Gvr, ResourceObject, StorageFactory};
use support::{Client, Harness, RESOURCES, TOKEN};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// The pod kubectl shows as `0/3` (the restartable `proxy` counts), `Init:CrashLoopBackOff`,
/// `2 (5m ago)`.
fn crash_looping_pod() -> (Value, Value) {
    let finished = kube_wire::time::format_rfc3339(kube_wire::time::now_millis() - 300_000);
    let object = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-init", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-1",
            "readinessGates": [{"conditionType": "example.io/ready"}],
            "initContainers": [
                {"name": "migrate", "image": "example.io/migrate:1"},
                {"name": "proxy", "image": "example.io/proxy:1", "restartPolicy": "Always"}
            ],
            "containers": [
                {"name": "app", "image": "example.io/app:1"},
                {"name": "log", "image": "example.io/log:1"}
            ]
        }
    });
    let status = json!({"status": {
        "phase": "Pending",
        "podIP": "10.0.0.7",
        "podIPs": [{"ip": "10.0.0.7"}],
        "conditions": [
            {"type": "Initialized", "status": "False"},
            {"type": "Ready", "status": "False"},
            {"type": "PodScheduled", "status": "True"}
        ],
        "initContainerStatuses": [
            {
                "name": "migrate", "ready": false, "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": finished}}
            },
            {
                "name": "proxy", "ready": false, "restartCount": 0, "started": false,
                "state": {"waiting": {"reason": "PodInitializing"}}
            }
        ],
        "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}},
            {"name": "log", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        ]
    }});
    (object, status)
}

/// Creates the crash-looping pod in the simulator, as a kube-rs client does.
async fn create_pod(sim: &SimulatorHandle) {
    let kubeconfig = Kubeconfig::from_yaml(&sim.kubeconfig_yaml("sim")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let pods = ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: "Pod".into(),
        plural: "pods".into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &pods);
    let (object, status) = crash_looping_pod();
    let object: DynamicObject = serde_json::from_value(object).expect("pod");
    api.create(&PostParams::default(), &object)
        .await
        .expect("create");
    api.patch_status("web-init", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
}

/// `GET path` with a bearer token, as JSON.
async fn get(client: &Client, token: &str, path: &str, accept: &str) -> Value {
    let bearer = format!("Bearer {token}");
    let answer = client
        .get(path, &[("authorization", &bearer), ("accept", accept)])
        .await
        .expect("GET");
    assert!(
        answer.status.is_success(),
        "{path}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// The rows of a table by `namespace/name`: cells and conditions.
fn rows(table: &Value, skip: usize) -> BTreeMap<String, (Vec<Value>, Value)> {
    table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let metadata = &row["object"]["metadata"];
            let key = format!(
                "{}/{}",
                metadata["namespace"].as_str().unwrap_or_default(),
                metadata["name"].as_str().unwrap_or_default()
            );
            let cells = row["cells"].as_array().expect("cells")[skip..].to_vec();
            (key, (cells, row["conditions"].clone()))
        })
        .collect()
}

#[test]
fn pods_print_the_same_row_from_the_member_and_from_clusterpedia() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (sim, member, objects) = runtime.block_on(async {
        let sim = Simulator::builder()
            .fixtures(FixtureSpec::small())
            .start()
            .await
            .expect("simulator");
        create_pod(&sim).await;
        let member = Client::new(sim.address(), sim.ca_pem());
        let list = get(&member, sim.token(), "/api/v1/pods", "application/json").await;
        let gvr = Arc::new(Gvr::new("", "v1", "pods"));
        let objects: Vec<ResourceObject> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| {
                let mut item = item.clone();
                item["kind"] = json!("Pod");
                item["apiVersion"] = json!("v1");
                let raw = Bytes::from(serde_json::to_vec(&item).expect("json"));
                ResourceObject::parse(Arc::from("member"), gvr.clone(), raw).expect("object")
            })
            .collect();
        (sim, member, objects)
    });
    let pods = objects.len();
    assert!(pods > 30, "{pods} pods");
    let harness = Harness::start(
        || {
            async {
                Arc::new(storage_memory::MemoryStorageFactory::default()) as Arc<dyn StorageFactory>
            }
            .boxed()
        },
        move |factory| async move { support::load(&*factory, &objects).await }.boxed(),
        |_, _| {},
    );
    let clusterpedia = harness.client();

    runtime.block_on(async {
        // Ages and "5m ago" are relative to when each server prints: try again if a boundary
        // passed between the two requests.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let from_member = get(&member, sim.token(), "/api/v1/pods", TABLE).await;
            let from_clusterpedia = get(
                &clusterpedia,
                TOKEN,
                &format!("{RESOURCES}/api/v1/pods?limit=500"),
                TABLE,
            )
            .await;

            let member_columns = from_member["columnDefinitions"]
                .as_array()
                .expect("columns");
            let clusterpedia_columns = from_clusterpedia["columnDefinitions"]
                .as_array()
                .expect("columns");
            assert_eq!(clusterpedia_columns[0]["name"], "Cluster");
            assert_eq!(&clusterpedia_columns[1..], &member_columns[..]);

            let member_rows = rows(&from_member, 0);
            let clusterpedia_rows = rows(&from_clusterpedia, 1);
            assert_eq!(member_rows.len(), pods);
            let crash_looping = &member_rows["default/web-init"].0;
            assert_eq!(
                crash_looping[..4],
                [
                    json!("web-init"),
                    json!("0/3"),
                    json!("Init:CrashLoopBackOff"),
                    json!("2 (5m ago)")
                ]
            );
            if member_rows == clusterpedia_rows {
                break;
            }
            if attempt == 3 {
                assert_eq!(member_rows, clusterpedia_rows);
            }
        }
    });
}
