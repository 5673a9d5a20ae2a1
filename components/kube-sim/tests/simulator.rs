//! The simulator driven by real clients: kube-rs (typed and dynamic APIs, discovery, the
//! runtime watcher) and kubectl.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Discovery};
use kube_sim::{FixtureSpec, Simulator, SimulatorHandle};
use serde_json::json;

async fn client_for(sim: &SimulatorHandle) -> Client {
    client_from_yaml(&sim.kubeconfig_yaml("sim")).await
}

async fn client_from_yaml(yaml: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(yaml).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn api_error(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn pediaclusters() -> ApiResource {
    ApiResource {
        group: "cluster.clusterpedia.io".into(),
        version: "v1alpha2".into(),
        api_version: "cluster.clusterpedia.io/v1alpha2".into(),
        kind: "PediaCluster".into(),
        plural: "pediaclusters".into(),
    }
}

async fn start(spec: FixtureSpec) -> SimulatorHandle {
    Simulator::builder()
        .fixtures(spec)
        .bookmark_interval(Duration::from_millis(200))
        .start()
        .await
        .expect("simulator starts")
}

#[tokio::test]
async fn discovery_finds_the_resources() {
    let sim = start(FixtureSpec::small()).await;
    let client = client_for(&sim).await;
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.git_version, "v1.36.0");

    for discovery in [
        Discovery::new(client.clone())
            .run()
            .await
            .expect("legacy discovery"),
        Discovery::new(client.clone())
            .run_aggregated()
            .await
            .expect("aggregated discovery"),
    ] {
        let mut found = BTreeSet::new();
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                found.insert(format!("{}/{}", resource.api_version, resource.plural));
                assert!(caps.supports_operation(kube::discovery::verbs::WATCH));
            }
        }
        for expected in [
            "v1/pods",
            "v1/namespaces",
            "v1/events",
            "apps/v1/deployments",
            "apps/v1/replicasets",
            "example.io/v1/widgets",
            "cluster.clusterpedia.io/v1alpha2/pediaclusters",
            "cluster.clusterpedia.io/v1alpha2/clustersyncresources",
            "apiextensions.k8s.io/v1/customresourcedefinitions",
        ] {
            assert!(found.contains(expected), "{expected} not in {found:?}");
        }
        let widgets = discovery.get("example.io").expect("example.io group");
        let versions: Vec<&str> = widgets.versions().collect();
        assert_eq!(versions, ["v1", "v1beta1"]);
        let (pods, caps) = discovery
            .get("")
            .expect("core")
            .recommended_kind("Pod")
            .expect("pods");
        assert_eq!(pods.plural, "pods");
        assert!(
            caps.subresources
                .iter()
                .any(|(s, _)| s.plural == "pods/status" || s.plural == "status")
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn paginated_list_covers_every_object_once_while_objects_change() {
    let sim = start(FixtureSpec::small()).await;
    let client = client_for(&sim).await;
    let pods: Api<Pod> = Api::all(client.clone());
    sim.set_churn_per_second(300.0);
    let mut names = BTreeSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut first_rv = None;
    loop {
        let mut params = ListParams::default().limit(5);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = pods.list(&params).await.expect("page");
        pages += 1;
        first_rv.get_or_insert(page.metadata.resource_version.clone());
        // Every page is read at the revision of the first one.
        assert_eq!(
            Some(page.metadata.resource_version.clone()),
            first_rv.clone()
        );
        for pod in &page.items {
            let key = format!(
                "{}/{}",
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default()
            );
            assert!(names.insert(key), "a pod listed twice");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    sim.set_churn_per_second(0.0);
    assert_eq!(names.len(), FixtureSpec::small().pods());
    assert_eq!(pages, FixtureSpec::small().pods().div_ceil(5));
    assert!(sim.churn_updates() > 0, "churn ran meanwhile");

    // Namespaced lists, label and field selectors.
    let ns = kube_sim::namespace_name(0);
    let in_ns: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let listed = in_ns.list(&ListParams::default()).await.expect("list");
    assert_eq!(listed.items.len(), 12);
    let app = listed.items[0].metadata.labels.as_ref().expect("labels")["app"].clone();
    let selected = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("label selector");
    assert_eq!(selected.items.len(), 3);
    let events: Api<Event> = Api::all(client.clone());
    let pod_events = events
        .list(
            &ListParams::default()
                .fields("involvedObject.kind=Pod")
                .limit(7),
        )
        .await
        .expect("field selector");
    assert_eq!(pod_events.items.len(), 7);
    assert!(pod_events.metadata.continue_.is_some());
    let none = events
        .list(&ListParams::default().fields("involvedObject.kind=Deployment"))
        .await
        .expect("field selector");
    assert!(none.items.is_empty());
    let (code, _) = api_error(
        pods.list(&ListParams::default().fields("spec.bogus=1"))
            .await
            .expect_err("unsupported field"),
    );
    assert_eq!(code, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn stale_continue_and_exact_reads_expire_after_compaction() {
    let sim = start(FixtureSpec::small()).await;
    let client = client_for(&sim).await;
    let pods: Api<Pod> = Api::all(client.clone());
    let page = pods
        .list(&ListParams::default().limit(3))
        .await
        .expect("page");
    let token = page.metadata.continue_.clone().expect("continue");
    let rv = page.metadata.resource_version.clone().expect("rv");
    // Change something so that the list revision is no longer the current one.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "bump"}, "data": {"a": "b"}}))
            .expect("cm"),
    )
    .await
    .expect("create");
    let exact = pods
        .list(
            &ListParams::default()
                .at(&rv)
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .expect("exact read while retained");
    assert_eq!(
        exact.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );
    sim.compact();
    let (code, reason) = api_error(
        pods.list(&ListParams::default().limit(3).continue_token(&token))
            .await
            .expect_err("expired continue"),
    );
    assert_eq!((code, reason.as_str()), (410, "Expired"));
    let (code, _) = api_error(
        pods.list(
            &ListParams::default()
                .at(&rv)
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .expect_err("expired exact read"),
    );
    assert_eq!(code, 410);
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_streams_changes_bookmarks_and_410() {
    let sim = start(FixtureSpec::small()).await;
    let client = client_for(&sim).await;
    let pods: Api<Pod> = Api::all(client.clone());
    let list = pods
        .list(&ListParams::default().limit(1))
        .await
        .expect("list");
    let rv = list.metadata.resource_version.clone().expect("rv");

    sim.set_churn_per_second(100.0);
    let mut stream = pods
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .expect("watch")
        .boxed();
    let mut modified = 0;
    let mut bookmarks = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while modified < 5 || bookmarks < 1 {
        let event = tokio::time::timeout_at(deadline, stream.try_next())
            .await
            .expect("events in time")
            .expect("no stream error")
            .expect("stream open");
        match event {
            WatchEvent::Modified(pod) => {
                assert!(
                    pod.metadata
                        .resource_version
                        .expect("rv")
                        .parse::<u64>()
                        .expect("numeric")
                        > rv.parse::<u64>().expect("numeric")
                );
                modified += 1;
            }
            WatchEvent::Bookmark(bookmark) => {
                assert!(!bookmark.metadata.resource_version.is_empty());
                bookmarks += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    sim.set_churn_per_second(0.0);
    drop(stream);

    // A resource version older than the history: an ERROR event with 410.
    sim.compact();
    let mut stream = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .expect("watch")
        .boxed();
    match stream
        .try_next()
        .await
        .expect("event")
        .expect("stream open")
    {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }

    // From "0": the current objects as ADDED first.
    let ns = kube_sim::namespace_name(1);
    let in_ns: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut stream = in_ns
        .watch(&WatchParams::default().timeout(2), "0")
        .await
        .expect("watch")
        .boxed();
    let mut added = 0;
    while let Some(event) = stream.try_next().await.expect("event") {
        match event {
            WatchEvent::Added(pod) => {
                assert_eq!(pod.metadata.namespace.as_deref(), Some(ns.as_str()));
                added += 1;
            }
            WatchEvent::Bookmark(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        added, 12,
        "the stream ends at timeoutSeconds after the initial events"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn runtime_watcher_syncs_and_relists_after_compaction() {
    use kube::runtime::watcher;

    let sim = start(FixtureSpec::small()).await;
    let client = client_for(&sim).await;
    let pods: Api<Pod> = Api::all(client.clone());
    for config in [
        watcher::Config::default().page_size(7),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut stream = watcher(pods.clone(), config).boxed();
        let mut initial = 0;
        let mut inits = 0;
        let mut applied = 0;
        let mut expired = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let event = match tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("in time")
                .expect("open")
            {
                Ok(event) => event,
                // The watcher surfaces the 410 of the compacted revision, then re-lists.
                Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                    expired += 1;
                    continue;
                }
                Err(other) => panic!("watcher failed: {other}"),
            };
            match event {
                watcher::Event::Init => inits += 1,
                watcher::Event::InitApply(_) => initial += 1,
                watcher::Event::InitDone => {
                    assert_eq!(initial, FixtureSpec::small().pods());
                    if inits == 1 {
                        sim.set_churn_per_second(50.0);
                    } else {
                        break;
                    }
                    initial = 0;
                }
                watcher::Event::Apply(_) => {
                    applied += 1;
                    if applied == 3 {
                        // A change, then compaction: the next watch (from an older revision)
                        // fails with 410, and the watcher re-lists.
                        sim.set_churn_per_second(0.0);
                        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
                        let cm =
                            serde_json::from_value(json!({"metadata": {"generateName": "bump-"}}))
                                .expect("cm");
                        cms.create(&PostParams::default(), &cm)
                            .await
                            .expect("create");
                        sim.compact();
                        sim.set_reachable(false).await;
                        sim.set_reachable(true).await;
                    }
                }
                watcher::Event::Delete(_) => {}
            }
        }
        assert!(applied >= 3);
        assert_eq!(inits, 2);
        assert_eq!(expired, 1);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn pediacluster_writes_status_and_finalizers() {
    let sim = start(FixtureSpec::empty()).await;
    let client = client_for(&sim).await;
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &pediaclusters());
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.clusterpedia.io/v1alpha2",
        "kind": "PediaCluster",
        "metadata": {"name": "member-1"},
        "spec": {
            "apiserver": "https://127.0.0.1:6443",
            "tokenData": "dG9rZW4=",
            "syncResources": [{"group": "apps", "resources": ["deployments"]}],
            "unknownField": true,
        },
        "status": {"version": "set-on-create-is-dropped"},
    }))
    .expect("object");
    let created = api
        .create(&PostParams::default(), &cluster)
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.creation_timestamp.is_some());
    assert!(
        created.data.get("status").is_none(),
        "status is set through the subresource only"
    );
    assert!(
        created.data["spec"].get("unknownField").is_none(),
        "unknown fields are pruned"
    );
    let (code, reason) = api_error(
        api.create(&PostParams::default(), &cluster)
            .await
            .expect_err("exists"),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    // Validation of the CRD schema.
    let mut bad = cluster.clone();
    bad.data["spec"] = json!({"apiserver": "x"});
    bad.metadata.name = Some("bad".into());
    let (code, _) = api_error(
        api.create(&PostParams::default(), &bad)
            .await
            .expect_err("invalid"),
    );
    assert_eq!(code, 422);
    bad.data["spec"] =
        json!({"syncResources": [{"group": "", "resources": []}], "caData": "not base64!"});
    let (code, _) = api_error(
        api.create(&PostParams::default(), &bad)
            .await
            .expect_err("invalid"),
    );
    assert_eq!(code, 422);

    // Status subresource.
    let status = json!({"status": {
        "version": "v1.36.0",
        "apiserver": "https://127.0.0.1:6443",
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    }});
    let patched = api
        .patch_status("member-1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status patch");
    assert_eq!(patched.data["status"]["version"], "v1.36.0");
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );
    let ignored = api
        .patch(
            "member-1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"version": "main-resource"}})),
        )
        .await
        .expect("main patch");
    assert_eq!(
        ignored.data["status"]["version"], "v1.36.0",
        "the main resource ignores status"
    );
    assert_eq!(
        ignored.metadata.resource_version, patched.metadata.resource_version,
        "a no-op writes nothing"
    );
    let spec_change = api
        .patch(
            "member-1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"shardingName": "a"}})),
        )
        .await
        .expect("spec patch");
    assert_eq!(spec_change.metadata.generation, Some(2));

    // Optimistic concurrency.
    let mut stale = created.clone();
    stale.data["spec"]["shardingName"] = json!("b");
    let (code, reason) = api_error(
        api.replace("member-1", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let mut fresh = api.get("member-1").await.expect("get");
    fresh.data["spec"]["shardingName"] = json!("b");
    let replaced = api
        .replace("member-1", &PostParams::default(), &fresh)
        .await
        .expect("replace");
    assert_eq!(replaced.data["spec"]["shardingName"], "b");
    let mut status_put = replaced.clone();
    status_put.data["status"]["version"] = json!("v1.36.1");
    let replaced = api
        .replace_status("member-1", &PostParams::default(), &status_put)
        .await
        .expect("status put");
    assert_eq!(replaced.data["status"]["version"], "v1.36.1");

    // Finalizers: deletion waits for them.
    let finalizer = "clusterpedia.io/cluster-synchro-controller";
    api.patch(
        "member-1",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": [finalizer]}})),
    )
    .await
    .expect("add finalizer");
    let deleting = api
        .delete("member-1", &DeleteParams::default())
        .await
        .expect("delete");
    let deleting = deleting.left().expect("the object while finalizers remain");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    let still = api.get("member-1").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());
    let (code, _) = api_error(
        api.patch(
            "member-1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"finalizers": [finalizer, "example.io/other"]}})),
        )
        .await
        .expect_err("no new finalizer while deleting"),
    );
    assert_eq!(code, 422);
    // The JSON patch kube-runtime's finalizer helper sends.
    let remove = json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": finalizer},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]);
    let request =
        axum::http::Request::patch("/apis/cluster.clusterpedia.io/v1alpha2/pediaclusters/member-1")
            .header("Content-Type", "application/json-patch+json")
            .body(serde_json::to_vec(&remove).expect("json"))
            .expect("request");
    let last: DynamicObject = client.request(request).await.expect("remove finalizer");
    assert!(last.metadata.finalizers.unwrap_or_default().is_empty());
    let (code, _) = api_error(api.get("member-1").await.expect_err("gone"));
    assert_eq!(code, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn typed_writes_follow_apiserver_rules() {
    let sim = start(FixtureSpec::small()).await;
    let client = client_for(&sim).await;
    let ns = kube_sim::namespace_name(0);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"generateName": "probe-", "labels": {"app": "probe"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }))
    .expect("pod");
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create");
    let name = created.metadata.name.clone().expect("generated name");
    assert!(name.starts_with("probe-") && name.len() == "probe-".len() + 5);
    let spec = created.spec.clone().expect("spec");
    assert_eq!(
        spec.restart_policy.as_deref(),
        Some("Always"),
        "defaults are filled"
    );
    assert_eq!(
        created.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );

    let invalid: Pod = serde_json::from_value(json!({"metadata": {"name": "Not_Valid"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).expect("pod");
    let (code, reason) = api_error(
        pods.create(&PostParams::default(), &invalid)
            .await
            .expect_err("bad name"),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    let no_containers: Pod =
        serde_json::from_value(json!({"metadata": {"name": "empty"}, "spec": {"containers": []}}))
            .expect("pod");
    let (code, _) = api_error(
        pods.create(&PostParams::default(), &no_containers)
            .await
            .expect_err("no containers"),
    );
    assert_eq!(code, 422);
    let elsewhere: Api<Pod> = Api::namespaced(client.clone(), "does-not-exist");
    let (code, _) = api_error(
        elsewhere
            .create(&PostParams::default(), &pod)
            .await
            .expect_err("no namespace"),
    );
    assert_eq!(code, 404);

    // Strategic merge patch of labels; an update of the spec other than images is forbidden.
    let patched = pods
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"extra": "yes"}}})),
        )
        .await
        .expect("strategic patch");
    assert_eq!(
        patched.metadata.labels.as_ref().expect("labels")["extra"],
        "yes"
    );
    let (code, _) = api_error(
        pods.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"restartPolicy": "Never"}})),
        )
        .await
        .expect_err("immutable pod spec"),
    );
    assert_eq!(code, 422);

    // Deleting a deployment deletes its replica set and pods.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = deployments
        .list(&ListParams::default().limit(1))
        .await
        .expect("list")
        .items
        .remove(0);
    let app = deployment.metadata.name.clone().expect("name");
    deployments
        .delete(&app, &DeleteParams::default())
        .await
        .expect("delete");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .expect("list");
        if left.items.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dependents collected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A namespace deletion terminates, empties and removes it.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("delete namespace");
    let (code, _) = api_error(
        pods.create(&PostParams::default(), &pod)
            .await
            .expect_err("terminating"),
    );
    assert_eq!(code, 403);
    // Widgets have a finalizer: the namespace waits for them until their operator removes it.
    let widgets_resource = ApiResource {
        group: "example.io".into(),
        version: "v1".into(),
        api_version: "example.io/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &widgets_resource);
    let mut pending = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while pending.is_empty() {
        pending = widgets
            .list(&ListParams::default())
            .await
            .expect("widgets")
            .items
            .into_iter()
            .filter(|w| w.metadata.deletion_timestamp.is_some())
            .collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "widgets marked for deletion"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        namespaces.get_opt(&ns).await.expect("get").is_some(),
        "waits for finalizers"
    );
    for widget in widgets
        .list(&ListParams::default())
        .await
        .expect("widgets")
        .items
    {
        let name = widget.metadata.name.clone().expect("name");
        widgets
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
            )
            .await
            .expect("remove finalizer");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while namespaces.get_opt(&ns).await.expect("get").is_some() {
        assert!(tokio::time::Instant::now() < deadline, "namespace removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, _) = api_error(
        namespaces
            .delete("default", &DeleteParams::default())
            .await
            .expect_err("default"),
    );
    assert_eq!(code, 403);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_new_crd_is_served_at_once() {
    let sim = start(FixtureSpec::empty()).await;
    let client = client_for(&sim).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let crd = serde_json::from_value(json!({
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Gadget", "plural": "gadgets"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}],
        },
    }))
    .expect("crd");
    let created = crds
        .create(&PostParams::default(), &crd)
        .await
        .expect("create crd");
    let established = created
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    assert!(discovery.get("example.com").is_some());
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let gadget: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"anything": [1, 2]}})).expect("gadget");
    gadgets
        .create(&PostParams::default(), &gadget)
        .await
        .expect("create gadget");
    assert_eq!(
        gadgets
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );
    crds.delete("gadgets.example.com", &DeleteParams::default())
        .await
        .expect("delete crd");
    let (code, _) = api_error(
        gadgets
            .list(&ListParams::default())
            .await
            .expect_err("gone"),
    );
    assert_eq!(code, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn authentication_health_and_reachability() {
    let sim = start(FixtureSpec::empty()).await;
    let wrong = sim
        .kubeconfig_yaml("sim")
        .replace(sim.token(), "wrong-token");
    let client = client_from_yaml(&wrong).await;
    let (code, _) = api_error(client.apiserver_version().await.expect_err("401"));
    assert_eq!(code, 401);
    let pods: Api<Pod> = Api::all(client);
    let (code, _) = api_error(pods.list(&ListParams::default()).await.expect_err("401"));
    assert_eq!(code, 401);

    let by_cert = client_from_yaml(&sim.kubeconfig_yaml_with_client_cert("sim")).await;
    by_cert
        .apiserver_version()
        .await
        .expect("client certificate accepted");

    let client = client_for(&sim).await;
    let readyz = || async {
        let request = axum::http::Request::get("/readyz")
            .body(Vec::new())
            .expect("request");
        client.request_text(request).await
    };
    assert_eq!(readyz().await.expect("ready"), "ok");
    sim.set_healthy(false);
    let (code, _) = api_error(readyz().await.expect_err("unhealthy"));
    assert_eq!(code, 500);
    sim.set_healthy(true);
    readyz().await.expect("ready again");

    sim.set_reachable(false).await;
    assert!(client.apiserver_version().await.is_err(), "unreachable");
    sim.set_reachable(true).await;
    client.apiserver_version().await.expect("reachable again");
    sim.shutdown().await;
}

#[tokio::test]
async fn kubectl_gets_pods_deployments_and_api_resources() {
    let kubectl = std::path::Path::new("/usr/bin/kubectl");
    if !kubectl.exists() {
        eprintln!("kubectl not installed: skipped");
        return;
    }
    let sim = start(FixtureSpec::small()).await;
    let dir = std::env::temp_dir().join(format!("kube-sim-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("config");
    sim.write_kubeconfig(&kubeconfig, "sim")
        .expect("kubeconfig");
    let run = |args: &[&str]| {
        let kubeconfig = kubeconfig.clone();
        let dir = dir.clone();
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        async move {
            let output = tokio::process::Command::new("/usr/bin/kubectl")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .arg("--cache-dir")
                .arg(dir.join("cache"))
                .args(&args)
                .output()
                .await
                .expect("kubectl runs");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(
                output.status.success(),
                "kubectl {args:?} failed: {stderr}\n{stdout}"
            );
            stdout
        }
    };
    let pods = run(&["get", "pods", "-A", "--chunk-size=5"]).await;
    let lines: Vec<&str> = pods.lines().collect();
    assert!(lines[0].starts_with("NAMESPACE"), "{pods}");
    assert!(
        lines[0].contains("READY") && lines[0].contains("STATUS"),
        "{pods}"
    );
    assert_eq!(lines.len(), 1 + FixtureSpec::small().pods(), "{pods}");
    let ns = kube_sim::namespace_name(0);
    let deployments = run(&["get", "deploy", "-n", &ns]).await;
    assert_eq!(deployments.lines().count(), 1 + 4, "{deployments}");
    assert!(deployments.contains("UP-TO-DATE"), "{deployments}");
    let resources = run(&["api-resources"]).await;
    for expected in [
        "pods",
        "deployments",
        "widgets",
        "pediaclusters",
        "customresourcedefinitions",
    ] {
        assert!(resources.contains(expected), "{expected} in {resources}");
    }
    let yaml = run(&["get", "widgets", "-A", "-o", "yaml"]).await;
    assert!(yaml.contains("kind: Widget"), "{yaml}");

    // `get --watch` reads tables from a watch.
    sim.set_churn_per_second(50.0);
    let watching = tokio::process::Command::new("/usr/bin/kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["get", "pods", "-n", &ns, "--watch", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl runs");
    tokio::time::sleep(Duration::from_secs(3)).await;
    sim.set_churn_per_second(0.0);
    let mut watching = watching;
    watching.start_kill().expect("kill");
    let output = watching.wait_with_output().await.expect("output");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines().filter(|l| l.starts_with("ADDED")).count() >= 12,
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("MODIFIED")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
    sim.shutdown().await;
}

#[tokio::test]
async fn serves_the_projects_generated_pediacluster_crd() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let mut builder = Simulator::builder().fixtures(FixtureSpec::empty());
    let mut installed = 0;
    for file in [
        "cluster.clusterpedia.io_pediaclusters.yaml",
        "cluster.clusterpedia.io_clustersyncresources.yaml",
    ] {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            eprintln!("{file} not generated yet: skipped");
            continue;
        };
        let crd: serde_json::Value = serde_norway::from_str(&text).expect("CRD YAML");
        builder = builder.crd(crd);
        installed += 1;
    }
    if installed == 0 {
        return;
    }
    let sim = builder.start().await.expect("the generated CRDs are valid");
    let client = client_for(&sim).await;
    let api: Api<DynamicObject> = Api::all_with(client, &pediaclusters());
    let cluster: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cluster.clusterpedia.io/v1alpha2",
        "kind": "PediaCluster",
        "metadata": {"name": "member-1"},
        "spec": {"apiserver": "https://127.0.0.1:6443", "syncResources": [{"group": "apps", "resources": ["deployments"]}]},
    }))
    .expect("object");
    api.create(&PostParams::default(), &cluster)
        .await
        .expect("create");
    let status = json!({"status": {
        "version": "v1.36.0",
        "conditions": [{"type": "Ready", "status": "False", "reason": "NotReady", "message": "SynchroRunning condition is not found", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "syncResources": [{"group": "apps", "resources": [{"name": "deployments", "kind": "Deployment", "namespaced": true, "syncConditions": [{"version": "v1", "status": "Syncing", "initialListPhase": true, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}],
    }});
    let patched = api
        .patch_status("member-1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(
        patched.data["status"]["syncResources"][0]["resources"][0]["syncConditions"][0]["initialListPhase"],
        true,
        "status fields of the generated schema are kept"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn token_reviews_and_subject_access_reviews_from_stored_rbac() {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    use k8s_openapi::api::authorization::v1::{
        NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};

    let sim = Simulator::builder()
        .fixtures(FixtureSpec::empty())
        .user("alice-token", "alice", &["dev"])
        .start()
        .await
        .expect("simulator starts");
    let client = client_for(&sim).await;
    let reviews: Api<TokenReview> = Api::all(client.clone());
    let review = |token: &str| TokenReview {
        spec: TokenReviewSpec {
            token: token.to_owned(),
            ..TokenReviewSpec::default()
        },
        ..TokenReview::default()
    };
    let alice = reviews
        .create(&PostParams::default(), &review("alice-token"))
        .await
        .expect("token review");
    let status = alice.status.expect("status");
    assert_eq!(status.authenticated, Some(true));
    let user = status.user.expect("user");
    assert_eq!(user.username.as_deref(), Some("alice"));
    assert_eq!(
        user.groups,
        Some(vec!["dev".to_owned(), "system:authenticated".to_owned()])
    );
    let admin = reviews
        .create(&PostParams::default(), &review(sim.token()))
        .await
        .expect("token review");
    assert!(
        admin
            .status
            .expect("status")
            .user
            .expect("user")
            .groups
            .expect("groups")
            .contains(&"system:masters".to_owned())
    );
    let wrong = reviews
        .create(&PostParams::default(), &review("wrong"))
        .await
        .expect("token review");
    let status = wrong.status.expect("status");
    assert_ne!(status.authenticated, Some(true));
    assert!(status.error.is_some());

    let sars: Api<SubjectAccessReview> = Api::all(client.clone());
    let may = |user: &str, groups: &[&str], verb: &str, namespace: &str, resource: &str| {
        let sar = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.to_owned()),
                groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    resource: Some(resource.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let sars = sars.clone();
        async move {
            let answer = sars
                .create(&PostParams::default(), &sar)
                .await
                .expect("subject access review");
            answer.status.expect("status").allowed
        }
    };
    assert!(!may("alice", &["dev"], "list", "ns1", "pods").await);

    // RBAC objects written through the API decide the next review.
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
                          {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}],
            }))
            .expect("cluster role"),
        )
        .await
        .expect("create cluster role");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "ns1"}})).expect("ns"),
        )
        .await
        .expect("namespace");
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), "ns1");
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "devs-read-pods", "namespace": "ns1"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "dev"}],
            }))
            .expect("role binding"),
        )
        .await
        .expect("create role binding");
    assert!(may("alice", &["dev"], "list", "ns1", "pods").await);
    assert!(may("bob", &["dev"], "watch", "ns1", "pods").await);
    assert!(!may("alice", &["dev"], "list", "ns2", "pods").await);
    assert!(!may("alice", &["dev"], "list", "", "pods").await);
    assert!(!may("alice", &["dev"], "delete", "ns1", "pods").await);
    assert!(!may("alice", &[], "list", "ns1", "secrets").await);
    assert!(may("root", &["system:masters"], "delete", "", "nodes").await);

    // A role binding grants nothing outside its namespace, non-resource paths included.
    let path = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("alice".into()),
            groups: Some(vec!["dev".into()]),
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some("/healthz".into()),
                verb: Some("get".into()),
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = sars
        .create(&PostParams::default(), &path)
        .await
        .expect("review");
    assert!(!answer.status.expect("status").allowed);

    // A review without attributes is invalid, as on a kube-apiserver.
    let empty = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("alice".into()),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let (code, reason) = api_error(
        sars.create(&PostParams::default(), &empty)
            .await
            .expect_err("422"),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));

    // The user's token opens TokenReview only, not the simulator's API.
    let as_alice = client_from_yaml(
        &sim.kubeconfig_yaml("sim")
            .replace(sim.token(), "alice-token"),
    )
    .await;
    let (code, _) = api_error(as_alice.apiserver_version().await.expect_err("401"));
    assert_eq!(code, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn churn_announces_each_stamp_once_stored() {
    let sim = start(FixtureSpec::small()).await;
    let client = client_for(&sim).await;
    let mut stamps = sim.subscribe_churn();
    sim.set_churn_per_second(200.0);
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let stamp = tokio::time::timeout(Duration::from_secs(10), stamps.recv())
            .await
            .expect("a stamped churn update within 10 s")
            .expect("not lagged");
        seen.push(stamp);
    }
    sim.set_churn_per_second(0.0);
    for stamp in &seen {
        // Announced after the write: the stored pod carries this stamp or a later one.
        let pod = Api::<Pod>::namespaced(client.clone(), &stamp.namespace)
            .get(&stamp.name)
            .await
            .expect("the churned pod exists");
        let stored: u64 = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(kube_sim::CHURNED_AT_ANNOTATION))
            .and_then(|v| v.parse().ok())
            .expect("the pod carries a churn stamp");
        assert!(stored >= stamp.at_micros, "{stamp:?}: stored {stored}");
    }
    assert!(
        seen.windows(2).all(|w| w[0].at_micros <= w[1].at_micros),
        "announced in write order: {seen:?}"
    );
    sim.shutdown().await;
}

/// `coordination.k8s.io/v1` Leases as leader election uses them: create once (409
/// AlreadyExists for the second candidate), replace with the read `resourceVersion` (409
/// Conflict when another holder wrote in between), get, list by label, watch, delete with a
/// resourceVersion precondition.
#[tokio::test]
async fn leases_follow_leader_election_rules() {
    use k8s_openapi::api::coordination::v1::Lease;

    let sim = start(FixtureSpec::empty()).await;
    let client = client_for(&sim).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let mut watch = leases
        .watch(&WatchParams::default().timeout(10), "0")
        .await
        .expect("watch")
        .boxed();
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "lock", "labels": {"fleet": "a"}},
        "spec": {
            "holderIdentity": "replica-1",
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-12-05T03:00:00.000000Z",
            "renewTime": "2026-12-05T03:00:00.000000Z",
            "leaseTransitions": 0,
        },
    }))
    .expect("lease");
    let created = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create");
    let first_version = created.metadata.resource_version.clone().expect("rv");
    let (code, reason) = api_error(
        leases
            .create(&PostParams::default(), &lease)
            .await
            .expect_err("second create"),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    // The holder renews with the version it read.
    let mut renewed = created.clone();
    renewed.spec.as_mut().expect("spec").renew_time =
        Some(serde_json::from_value(json!("2026-12-05T03:00:02.000000Z")).expect("micro time"));
    let renewed = leases
        .replace("lock", &PostParams::default(), &renewed)
        .await
        .expect("renew");
    let renewed_version = renewed.metadata.resource_version.clone().expect("rv");
    assert_ne!(renewed_version, first_version);
    assert_eq!(
        renewed.spec.as_ref().and_then(|s| s.renew_time.clone()),
        serde_json::from_value(json!("2026-12-05T03:00:02.000000Z")).expect("micro time"),
        "microseconds are kept"
    );

    // A candidate that read the lease before the renewal loses the race.
    let mut stale = created.clone();
    let spec = stale.spec.as_mut().expect("spec");
    spec.holder_identity = Some("replica-2".into());
    spec.lease_transitions = Some(1);
    let (code, reason) = api_error(
        leases
            .replace("lock", &PostParams::default(), &stale)
            .await
            .expect_err("stale replace"),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let current = leases.get("lock").await.expect("get");
    assert_eq!(
        current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        Some("replica-1"),
        "the conflicting write changed nothing"
    );
    // With the current version it wins.
    let mut taken = current.clone();
    taken.spec.as_mut().expect("spec").holder_identity = Some("replica-2".into());
    let taken = leases
        .replace("lock", &PostParams::default(), &taken)
        .await
        .expect("take over");

    let listed = leases
        .list(&ListParams::default().labels("fleet=a"))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert!(
        leases
            .list(&ListParams::default().labels("fleet=b"))
            .await
            .expect("list")
            .items
            .is_empty()
    );

    // Delete with a stale precondition fails; with the current one it succeeds.
    let (code, _) = api_error(
        leases
            .delete(
                "lock",
                &DeleteParams::default().preconditions(kube::api::Preconditions {
                    resource_version: Some(renewed_version.clone()),
                    uid: None,
                }),
            )
            .await
            .expect_err("stale delete"),
    );
    assert_eq!(code, 409);
    leases
        .delete(
            "lock",
            &DeleteParams::default().preconditions(kube::api::Preconditions {
                resource_version: taken.metadata.resource_version.clone(),
                uid: None,
            }),
        )
        .await
        .expect("delete");
    assert!(leases.get_opt("lock").await.expect("get").is_none());

    // The watch saw every change, in order.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match tokio::time::timeout(Duration::from_secs(5), watch.try_next()).await {
            Ok(Ok(Some(WatchEvent::Added(l)))) => {
                seen.push(("ADDED", l.spec.and_then(|s| s.holder_identity)))
            }
            Ok(Ok(Some(WatchEvent::Modified(l)))) => {
                seen.push(("MODIFIED", l.spec.and_then(|s| s.holder_identity)))
            }
            Ok(Ok(Some(WatchEvent::Deleted(l)))) => {
                seen.push(("DELETED", l.spec.and_then(|s| s.holder_identity)))
            }
            Ok(Ok(Some(WatchEvent::Bookmark(_)))) => {}
            other => panic!("watch ended early: {other:?}; seen {seen:?}"),
        }
    }
    let holder = |s: &str| Some(s.to_owned());
    assert_eq!(
        seen,
        vec![
            ("ADDED", holder("replica-1")),
            ("MODIFIED", holder("replica-1")),
            ("MODIFIED", holder("replica-2")),
            ("DELETED", holder("replica-2")),
        ]
    );
    sim.shutdown().await;
}
