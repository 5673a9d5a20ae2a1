//! Unit tests of the store, its resource versions and watches (the conformance suite in
//! `tests/conformance.rs` covers the query semantics).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use storage_api::evaluator::Evaluator;
use storage_api::query::label_selector::LabelSelector;
use storage_api::query::paging::Listed;
use storage_api::query::{ContinuePosition, OrderBy, OrderField};
use storage_api::{
    Change, Gvr, ListOptions, ObjectEvent, ObjectKey, ResourceObject, ResourceStorage,
    ResourceStorageConfig, StorageError, StorageFactory, WatchEvent, WatchStream,
};

use crate::{MemoryConfig, MemoryStorageFactory};

fn pods_gvr() -> Gvr {
    Gvr::new("", "v1", "pods")
}

fn pod_json(cluster: &str, namespace: &str, name: &str, rv: u64, app: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": format!("uid-{cluster}-{namespace}-{name}"),
            "resourceVersion": rv.to_string(),
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "labels": {"app": app},
            "annotations": {"shadow.clusterpedia.io/cluster-name": cluster}
        },
        "spec": {"nodeName": "node-1"}
    })
}

fn object(value: &Value, cluster: &str) -> ResourceObject {
    let raw = Bytes::from(serde_json::to_vec(value).expect("json"));
    ResourceObject::parse(cluster.into(), Arc::new(pods_gvr()), raw).expect("parse")
}

fn pod(cluster: &str, namespace: &str, name: &str, rv: u64, app: &str) -> ResourceObject {
    object(&pod_json(cluster, namespace, name, rv, app), cluster)
}

async fn setup(config: MemoryConfig) -> (MemoryStorageFactory, Arc<dyn ResourceStorage>) {
    let factory = MemoryStorageFactory::new(config);
    let storage = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: pods_gvr(),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    (factory, storage)
}

fn json_rv(object: &ResourceObject) -> u64 {
    let value: Value = serde_json::from_slice(&object.raw).expect("json");
    value["metadata"]["resourceVersion"]
        .as_str()
        .expect("string rv")
        .parse()
        .expect("numeric rv")
}

fn current(factory: &MemoryStorageFactory) -> u64 {
    factory.current_resource_version().parse().expect("numeric")
}

fn options_at(resource_version: &str) -> ListOptions {
    let mut options = ListOptions::default();
    options.resource_version = Some(resource_version.into());
    options
}

/// The next watch event, failing after a second.
async fn next(stream: &mut WatchStream) -> Option<storage_api::Result<WatchEvent>> {
    tokio::time::timeout(Duration::from_secs(1), stream.next())
        .await
        .expect("a watch event within a second")
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    next(stream).await.expect("stream open").expect("no error")
}

/// Asserts that nothing arrives for a while.
async fn quiet(stream: &mut WatchStream) {
    let waited = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
    assert!(waited.is_err(), "unexpected watch item: {:?}", waited.ok());
}

fn describe(event: &WatchEvent) -> (String, String, u64) {
    let (kind, object) = match event {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        WatchEvent::Bookmark { resource_version } => {
            return (
                "BOOKMARK".into(),
                String::new(),
                resource_version.parse().expect("rv"),
            );
        }
        other => panic!("unexpected watch event {other:?}"),
    };
    (kind.into(), object.fields.name.clone(), json_rv(object))
}

#[tokio::test]
async fn writes_stamp_the_revision_and_keep_the_member_version() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    let start = current(&factory);
    pods.create(pod("c1", "ns", "a", 500, "web"))
        .await
        .expect("create");
    let got = pods.get("c1", "ns", "a").await.expect("get");
    assert_eq!(
        json_rv(&got),
        start + 1,
        "the JSON carries the layer's revision"
    );
    assert_eq!(
        got.fields.resource_version, "500",
        "the indexed fields keep the member's"
    );
    assert_eq!(got.fields.namespace, "ns");

    pods.update(pod("c1", "ns", "a", 501, "web"))
        .await
        .expect("update");
    pods.create(pod("c2", "ns", "a", 7, "web"))
        .await
        .expect("create in another cluster");
    let page = pods.list(&ListOptions::default()).await.expect("list");
    assert_eq!(page.resource_version, Some((start + 3).to_string()));
    let revisions: Vec<u64> = page.items.iter().map(json_rv).collect();
    assert_eq!(revisions, vec![start + 2, start + 3]);

    pods.delete(&ObjectKey::new("c1", "ns", "a"))
        .await
        .expect("delete");
    assert_eq!(current(&factory), start + 4, "a delete takes a revision");
    pods.delete(&ObjectKey::new("c1", "ns", "a"))
        .await
        .expect("deleting the absent is fine");
    assert_eq!(
        current(&factory),
        start + 4,
        "deleting nothing takes no revision"
    );

    let versions = factory.resource_versions("c2").await.expect("versions");
    assert_eq!(versions[&pods_gvr()].resources["ns/a"], "7");
    assert!(
        factory
            .resource_versions("c1")
            .await
            .expect("versions")
            .is_empty()
    );
}

#[tokio::test]
async fn create_update_delete_report_kube_errors() {
    let (_factory, pods) = setup(MemoryConfig::default()).await;
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");
    let err = pods
        .create(pod("c1", "ns", "a", 2, "web"))
        .await
        .expect_err("taken");
    assert!(err.is_already_exists(), "{err}");
    let err = pods
        .update(pod("c1", "ns", "b", 2, "web"))
        .await
        .expect_err("absent");
    assert!(err.is_not_found(), "{err}");
    let err = pods.get("c1", "ns", "b").await.expect_err("absent");
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("pods"), "{err}");

    let deployment = {
        let mut value = pod_json("c1", "ns", "d", 1, "web");
        value["kind"] = json!("Deployment");
        let raw = Bytes::from(serde_json::to_vec(&value).expect("json"));
        ResourceObject::parse(
            "c1".into(),
            Arc::new(Gvr::new("apps", "v1", "deployments")),
            raw,
        )
        .expect("parse")
    };
    let err = pods.create(deployment).await.expect_err("wrong resource");
    assert_eq!(err.status().code, 422, "{err}");
}

#[tokio::test]
async fn apply_is_one_batch_in_order() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    let start = current(&factory);
    pods.apply(vec![
        Change::Upsert(pod("c1", "ns", "a", 1, "web")),
        Change::Upsert(pod("c1", "ns", "b", 2, "web")),
        Change::Upsert(pod("c1", "ns", "a", 3, "api")),
        Change::Delete(ObjectKey::new("c1", "ns", "b")),
        Change::Delete(ObjectKey::new("c1", "ns", "zzz")),
    ])
    .await
    .expect("apply");
    assert_eq!(current(&factory), start + 4);
    let page = pods.list(&ListOptions::default()).await.expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].fields.resource_version, "3");
    assert_eq!(page.items[0].fields.labels.get("app"), Some("api"));
    assert_eq!(factory.object_count(), 1);
}

#[tokio::test]
async fn watch_from_now_lists_then_follows() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");
    pods.create(pod("c1", "ns", "b", 2, "web"))
        .await
        .expect("create");
    let start = current(&factory);
    let mut watch = pods.watch(&ListOptions::default()).await.expect("watch");
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("ADDED".into(), "a".into(), start - 1)
    );
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("ADDED".into(), "b".into(), start)
    );
    quiet(&mut watch).await;

    pods.update(pod("c1", "ns", "a", 3, "web"))
        .await
        .expect("update");
    pods.delete(&ObjectKey::new("c1", "ns", "b"))
        .await
        .expect("delete");
    pods.create(pod("c1", "ns", "c", 4, "web"))
        .await
        .expect("create");
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("MODIFIED".into(), "a".into(), start + 1)
    );
    let deleted = next_event(&mut watch).await;
    assert_eq!(
        describe(&deleted),
        ("DELETED".into(), "b".into(), start + 2)
    );
    let WatchEvent::Deleted(last) = deleted else {
        unreachable!()
    };
    assert_eq!(
        last.fields.resource_version, "2",
        "the last stored state, member version kept"
    );
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("ADDED".into(), "c".into(), start + 3)
    );

    for rv in ["", "0"] {
        let mut watch = pods.watch(&options_at(rv)).await.expect("watch");
        let names: Vec<String> = vec![
            describe(&next_event(&mut watch).await).1,
            describe(&next_event(&mut watch).await).1,
        ];
        assert_eq!(names, ["a", "c"], "rv {rv:?}");
        quiet(&mut watch).await;
    }
}

#[tokio::test]
async fn watch_from_a_version_replays_what_followed() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");
    let listed = pods.list(&ListOptions::default()).await.expect("list");
    let from = listed.resource_version.expect("list rv");
    pods.create(pod("c1", "ns", "b", 2, "web"))
        .await
        .expect("create");
    pods.delete(&ObjectKey::new("c1", "ns", "a"))
        .await
        .expect("delete");
    let start: u64 = from.parse().expect("rv");

    let mut watch = pods.watch(&options_at(&from)).await.expect("watch");
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("ADDED".into(), "b".into(), start + 1)
    );
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("DELETED".into(), "a".into(), start + 2)
    );
    quiet(&mut watch).await;
    pods.create(pod("c1", "ns", "c", 3, "web"))
        .await
        .expect("create");
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("ADDED".into(), "c".into(), start + 3)
    );

    let latest = factory.current_resource_version();
    let mut watch = pods
        .watch(&options_at(&latest))
        .await
        .expect("watch from now");
    quiet(&mut watch).await;
}

#[tokio::test]
async fn watch_from_a_forgotten_or_future_version_is_expired() {
    let config = MemoryConfig {
        watch_history: 2,
        ..MemoryConfig::default()
    };
    let (factory, pods) = setup(config).await;
    let start = current(&factory);
    for i in 0..4 {
        pods.create(pod("c1", "ns", &format!("p{i}"), i, "web"))
            .await
            .expect("create");
    }
    // Changes start+3 and start+4 are kept: a watch can start at start+2 or later.
    let mut ok = pods
        .watch(&options_at(&(start + 2).to_string()))
        .await
        .expect("watch");
    assert_eq!(describe(&next_event(&mut ok).await).2, start + 3);
    assert_eq!(describe(&next_event(&mut ok).await).2, start + 4);

    for rv in [start + 1, start - 5, 1, start + 100] {
        let mut watch = pods
            .watch(&options_at(&rv.to_string()))
            .await
            .expect("watch starts");
        match next(&mut watch).await {
            Some(Err(StorageError::Expired { message })) => assert!(!message.is_empty()),
            other => panic!("rv {rv}: want Expired, got {other:?}"),
        }
        assert!(
            next(&mut watch).await.is_none(),
            "the stream ends after the error"
        );
    }
    let err = StorageError::Expired {
        message: "x".into(),
    };
    assert_eq!(
        (err.status().code, err.status().reason.as_str()),
        (410, "Expired")
    );

    let err = pods
        .watch(&options_at("yesterday"))
        .await
        .err()
        .expect("bad rv");
    assert_eq!(err.status().code, 400);
}

#[tokio::test]
async fn watch_filters_and_follows_objects_in_and_out_of_the_selection() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");
    pods.create(pod("c1", "ns", "b", 1, "api"))
        .await
        .expect("create");
    pods.create(pod("c2", "ns", "c", 1, "web"))
        .await
        .expect("create");
    let options = {
        let mut options = ListOptions::default();
        options.clusters = vec!["c1".into()];
        options.label_selector = LabelSelector::parse("app=web").expect("selector");
        options
    };
    let start = current(&factory);
    let mut watch = pods.watch(&options).await.expect("watch");
    assert_eq!(describe(&next_event(&mut watch).await).1, "a");
    quiet(&mut watch).await;

    pods.update(pod("c1", "ns", "b", 2, "web"))
        .await
        .expect("b starts matching");
    pods.update(pod("c1", "ns", "a", 2, "api"))
        .await
        .expect("a stops matching");
    pods.update(pod("c2", "ns", "c", 2, "web"))
        .await
        .expect("other cluster");
    pods.update(pod("c1", "ns", "b", 3, "web"))
        .await
        .expect("b changes");
    pods.delete(&ObjectKey::new("c1", "ns", "a"))
        .await
        .expect("a was not matching");
    pods.delete(&ObjectKey::new("c1", "ns", "b"))
        .await
        .expect("b was matching");
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("ADDED".into(), "b".into(), start + 1)
    );
    let left = next_event(&mut watch).await;
    assert_eq!(describe(&left), ("DELETED".into(), "a".into(), start + 2));
    let WatchEvent::Deleted(left) = left else {
        unreachable!()
    };
    assert_eq!(
        left.fields.labels.get("app"),
        Some("web"),
        "the state that matched"
    );
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("MODIFIED".into(), "b".into(), start + 4)
    );
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("DELETED".into(), "b".into(), start + 6)
    );
    quiet(&mut watch).await;
}

#[tokio::test]
async fn watch_of_an_owner_query_is_refused() {
    let (_factory, pods) = setup(MemoryConfig::default()).await;
    let options = {
        let mut options = ListOptions::default();
        options.clusters = vec!["c1".into()];
        options.owner = Some(storage_api::query::OwnerQuery {
            uid: Some("x".into()),
            ..Default::default()
        });
        options
    };
    let err = pods.watch(&options).await.err().expect("refused");
    assert_eq!(err.status().code, 422);
}

#[tokio::test]
async fn slow_watchers_are_expired_not_waited_for() {
    let config = MemoryConfig {
        watch_buffer: 4,
        ..MemoryConfig::default()
    };
    let (_factory, pods) = setup(config).await;
    let mut watch = pods.watch(&ListOptions::default()).await.expect("watch");
    for i in 0..20 {
        pods.create(pod("c1", "ns", &format!("p{i:02}"), i, "web"))
            .await
            .expect("writers never block");
    }
    match next(&mut watch).await {
        Some(Err(StorageError::Expired { message })) => {
            assert!(message.contains("behind"), "{message}")
        }
        other => panic!("want Expired, got {other:?}"),
    }
    assert!(next(&mut watch).await.is_none());
}

#[tokio::test]
async fn bookmarks_carry_the_current_revision_after_every_change() {
    let config = MemoryConfig {
        bookmark_interval: Duration::from_millis(30),
        ..MemoryConfig::default()
    };
    let (factory, pods) = setup(config).await;
    let deployments = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("apps", "v1", "deployments"),
            kind: "Deployment".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let options = {
        let mut options = ListOptions::default();
        options.allow_watch_bookmarks = true;
        options
    };
    let mut watch = pods.watch(&options).await.expect("watch");
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");
    let mut value = pod_json("c1", "ns", "d", 1, "web");
    value["kind"] = json!("Deployment");
    let raw = Bytes::from(serde_json::to_vec(&value).expect("json"));
    let deployment = ResourceObject::parse(
        "c1".into(),
        Arc::new(Gvr::new("apps", "v1", "deployments")),
        raw,
    )
    .expect("parse");
    deployments.create(deployment).await.expect("create");
    let now = current(&factory);
    assert_eq!(describe(&next_event(&mut watch).await).0, "ADDED");
    let bookmark = next_event(&mut watch).await;
    assert_eq!(
        bookmark,
        WatchEvent::Bookmark {
            resource_version: now.to_string()
        },
        "the revision of a write to another resource counts"
    );
    let mut plain = pods
        .watch(&options_at(&factory.current_resource_version()))
        .await
        .expect("watch");
    quiet(&mut plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_reach_a_new_watch_exactly_once() {
    let (_factory, pods) = setup(MemoryConfig::default()).await;
    let total = 2_000;
    let writer = {
        let pods = pods.clone();
        tokio::spawn(async move {
            for i in 0..total {
                pods.create(pod("c1", "ns", &format!("p{i:05}"), i, "web"))
                    .await
                    .expect("create");
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    tokio::task::yield_now().await;
    let mut watch = pods.watch(&ListOptions::default()).await.expect("watch");
    let mut names = BTreeSet::new();
    while names.len() < total as usize {
        let (kind, name, _) = describe(&next_event(&mut watch).await);
        assert_eq!(kind, "ADDED");
        assert!(names.insert(name.clone()), "{name} twice");
    }
    writer.await.expect("writer");
    quiet(&mut watch).await;
}

#[tokio::test]
async fn clean_emits_deletions_and_forgets_the_cluster() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    factory.prepare_cluster("c1").await.expect("prepare");
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");
    pods.create(pod("c1", "ns", "b", 1, "web"))
        .await
        .expect("create");
    pods.create(pod("c2", "ns", "a", 1, "web"))
        .await
        .expect("create");
    let from = factory.current_resource_version();
    let mut watch = pods.watch(&options_at(&from)).await.expect("watch");
    factory.clean_cluster("c1").await.expect("clean");
    let start: u64 = from.parse().expect("rv");
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("DELETED".into(), "a".into(), start + 1)
    );
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("DELETED".into(), "b".into(), start + 2)
    );
    quiet(&mut watch).await;
    let types = factory.stored_resource_types().await.expect("types");
    assert_eq!(types.len(), 1);
    assert_eq!(types[0].cluster, "c2");
    assert_eq!(types[0].kind, "Pod");

    factory
        .clean_cluster_resource("c2", &pods_gvr())
        .await
        .expect("clean");
    assert_eq!(
        describe(&next_event(&mut watch).await),
        ("DELETED".into(), "a".into(), start + 3)
    );
    assert!(
        factory
            .stored_resource_types()
            .await
            .expect("types")
            .is_empty()
    );
    factory
        .clean_cluster_resource("c2", &Gvr::new("x", "v1", "unknown"))
        .await
        .expect("cleaning an unknown resource is fine");

    factory.shutdown().await.expect("shutdown");
    assert!(next(&mut watch).await.is_none(), "shutdown ends watches");
}

fn event(cluster: &str, involved: &str, uid: &str, name: &str, rv: u64) -> ObjectEvent {
    let raw = serde_json::to_vec(&json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": rv.to_string()},
        "involvedObject": {"uid": involved},
        "reason": name,
    }))
    .expect("json");
    ObjectEvent::parse(cluster.into(), Bytes::from(raw)).expect("event")
}

#[tokio::test]
async fn events_attach_by_cluster_and_uid_and_follow_the_object() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");
    pods.create(pod("c2", "ns", "a", 1, "web"))
        .await
        .expect("create");
    let uid = "uid-c1-ns-a";
    pods.record_events(vec![
        event("c1", uid, "e1", "pulled", 10),
        event("c1", uid, "e2", "started", 11),
        event("c1", uid, "e1", "pulled", 12),
        event("c1", "unknown", "e3", "orphan", 13),
        event("c2", uid, "e4", "wrong-cluster", 14),
    ])
    .await
    .expect("record");
    let versions = factory.resource_versions("c1").await.expect("versions");
    let events = &versions[&pods_gvr()].events;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events["ns/pulled"], "12");
    assert_eq!(events["ns/started"], "11");
    assert!(
        factory.resource_versions("c2").await.expect("versions")[&pods_gvr()]
            .events
            .is_empty()
    );

    let options = {
        let mut options = ListOptions::default();
        options.clusters = vec!["c1".into()];
        options.inject_events = true;
        options
    };
    let page = pods.list(&options).await.expect("list");
    let value: Value = serde_json::from_slice(&page.items[0].raw).expect("json");
    let text = value["metadata"]["annotations"]["shadow.clusterpedia.io/events"]
        .as_str()
        .expect("events annotation");
    let injected: Value = serde_json::from_str(text).expect("json");
    assert_eq!(injected.as_array().map(Vec::len), Some(2));

    // An update keeps the events; an object recreated with another uid does not.
    pods.update(pod("c1", "ns", "a", 2, "api"))
        .await
        .expect("update");
    assert_eq!(
        factory.resource_versions("c1").await.expect("v")[&pods_gvr()]
            .events
            .len(),
        2
    );
    let mut recreated = pod_json("c1", "ns", "a", 3, "api");
    recreated["metadata"]["uid"] = json!("uid-new");
    pods.update(object(&recreated, "c1")).await.expect("update");
    assert!(
        factory.resource_versions("c1").await.expect("v")[&pods_gvr()]
            .events
            .is_empty()
    );
    pods.record_events(vec![event("c1", "uid-new", "e5", "new", 15)])
        .await
        .expect("record");
    assert_eq!(
        factory.resource_versions("c1").await.expect("v")[&pods_gvr()]
            .events
            .len(),
        1
    );
    pods.record_events(vec![event("c1", uid, "e6", "old-uid", 16)])
        .await
        .expect("record");
    assert_eq!(
        factory.resource_versions("c1").await.expect("v")[&pods_gvr()]
            .events
            .len(),
        1
    );
}

/// The default-order walk of a table must page exactly like [`Evaluator::page`].
#[tokio::test]
async fn key_order_paging_equals_the_evaluator() {
    let (_factory, pods) = setup(MemoryConfig::default()).await;
    let mut all = Vec::new();
    for cluster in ["c2", "c1", "c3"] {
        for namespace in ["b", "a", ""] {
            for name in ["z", "m", "a1", "a"] {
                let app = if name.starts_with('a') { "web" } else { "api" };
                all.push(pod(cluster, namespace, name, 1, app));
            }
        }
    }
    pods.apply(all.iter().cloned().map(Change::Upsert).collect())
        .await
        .expect("apply");
    let stored = pods
        .list(&ListOptions::default())
        .await
        .expect("list")
        .items;
    let selectors = ["", "app=web", "app!=web"];
    let scopes: [(&[&str], &[&str]); 4] = [
        (&[], &[]),
        (&["c1", "c3"], &[]),
        (&["c3", "c1"], &["a", ""]),
        (&[], &["b"]),
    ];
    for selector in selectors {
        for (clusters, namespaces) in scopes {
            for limit in [None, Some(0), Some(1), Some(5), Some(100)] {
                for offset in [0, 3] {
                    for with_remaining_count in [false, true] {
                        let options = {
                            let mut options = ListOptions::default();
                            options.clusters = clusters.iter().map(|c| c.to_string()).collect();
                            options.namespaces = namespaces.iter().map(|c| c.to_string()).collect();
                            options.label_selector =
                                LabelSelector::parse(selector).expect("selector");
                            options.limit = limit;
                            options.offset = offset;
                            options.with_remaining_count = with_remaining_count;
                            options
                        };
                        let context =
                            format!("{selector} {clusters:?} {namespaces:?} {limit:?} {offset}");
                        let mut options = options;
                        let mut pages = 0;
                        loop {
                            let got = pods.list(&options).await.expect("list");
                            // The layer's pages report the list's first version (carried in
                            // the token); the oracle has no version: it takes the layer's.
                            let mut want = Evaluator::new(&options, None)
                                .page(Listed::Resource(&pods_gvr()), stored.iter())
                                .expect("oracle");
                            want.resource_version = got.resource_version.clone();
                            let want = want.pinned_to_first_page(&options).expect("pinned");
                            let names = |items: &[ResourceObject]| -> Vec<String> {
                                items.iter().map(|o| o.fields.key().to_string()).collect()
                            };
                            assert_eq!(names(&got.items), names(&want.items), "{context}");
                            assert_eq!(got.continue_token, want.continue_token, "{context}");
                            assert_eq!(
                                got.remaining_item_count, want.remaining_item_count,
                                "{context}"
                            );
                            pages += 1;
                            match got.continue_token {
                                Some(token) => {
                                    options.continue_from = Some(
                                        ContinuePosition::decode(&token, &options).expect("token"),
                                    );
                                }
                                None => break,
                            }
                            assert!(pages < 100, "{context}: endless paging");
                        }
                    }
                }
            }
        }
    }
    // Another order goes through the evaluator.
    let options = {
        let mut options = ListOptions::default();
        options.order_by = vec![OrderBy {
            field: OrderField::Name,
            descending: true,
        }];
        options.limit = Some(4);
        options
    };
    let got = pods.list(&options).await.expect("list");
    let mut want = Evaluator::new(&options, None)
        .page(Listed::Resource(&pods_gvr()), stored.iter())
        .expect("oracle");
    want.resource_version = got.resource_version.clone();
    let want = want.pinned_to_first_page(&options).expect("pinned");
    assert_eq!(got.items, want.items);
    assert_eq!(got.continue_token, want.continue_token);
}

/// A continue token resumes only the resource that made it: a pods token on deployments is a
/// `400` naming `continue`, also when the deployments table is empty.
#[tokio::test]
async fn a_pods_token_is_refused_on_deployments() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    let deployments = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("apps", "v1", "deployments"),
            kind: "Deployment".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    pods.apply(vec![
        Change::Upsert(pod("c1", "ns", "a", 1, "web")),
        Change::Upsert(pod("c1", "ns", "b", 2, "web")),
    ])
    .await
    .expect("apply");
    let mut options = {
        let mut options = ListOptions::default();
        options.limit = Some(1);
        options
    };
    let token = pods
        .list(&options)
        .await
        .expect("list")
        .continue_token
        .expect("more remain");
    options.continue_from = Some(ContinuePosition::decode(&token, &options).expect("token"));
    let next = pods
        .list(&options)
        .await
        .expect("the pods token resumes pods");
    assert_eq!(next.items.len(), 1);
    let err = deployments
        .list(&options)
        .await
        .expect_err("a pods token on deployments");
    assert_eq!(err.status().code, 400, "{err}");
    assert!(err.to_string().starts_with("continue:"), "{err}");
}

#[tokio::test]
async fn watch_replays_only_its_resource_and_presents_items() {
    let (factory, pods) = setup(MemoryConfig::default()).await;
    let deployments = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("apps", "v1", "deployments"),
            kind: "Deployment".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let from = factory.current_resource_version();
    let mut value = pod_json("c1", "ns", "d", 1, "web");
    value["kind"] = json!("Deployment");
    let raw = Bytes::from(serde_json::to_vec(&value).expect("json"));
    let deployment = ResourceObject::parse(
        "c1".into(),
        Arc::new(Gvr::new("apps", "v1", "deployments")),
        raw,
    )
    .expect("parse");
    deployments.create(deployment).await.expect("create");
    pods.create(pod("c1", "ns", "a", 1, "web"))
        .await
        .expect("create");

    let options = {
        let mut options = options_at(&from);
        options.only_metadata = true;
        options
    };
    let mut watch = pods.watch(&options).await.expect("watch");
    let event = next_event(&mut watch).await;
    assert_eq!(
        describe(&event).1,
        "a",
        "the deployment is not replayed on pods"
    );
    let WatchEvent::Added(object) = event else {
        unreachable!()
    };
    let value: Value = serde_json::from_slice(&object.raw).expect("json");
    assert!(
        value.get("spec").is_none(),
        "onlyMetadata applies to watch events"
    );
    assert_eq!(value["metadata"]["name"], "a");
    quiet(&mut watch).await;
}

/// A pod with the given labels, creation second and member resource version.
fn labelled_pod(
    cluster: &str,
    namespace: &str,
    name: &str,
    rv: &str,
    created_second: u64,
    labels: &[(&str, &str)],
) -> ResourceObject {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    object(
        &json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": format!("uid-{cluster}-{namespace}-{name}"),
                "resourceVersion": rv,
                "creationTimestamp": format!("2024-01-02T03:04:{:02}Z", created_second % 60),
                "labels": labels,
            }
        }),
        cluster,
    )
}

/// Label, fuzzy-name, names and one-field orders go through the indexes: every page of every
/// such query equals the reference evaluator's, after creates, label changes and deletes (the
/// deletes also rebuild the name arena).
#[tokio::test]
async fn indexed_queries_equal_the_evaluator_after_writes() {
    let (_factory, pods) = setup(MemoryConfig::default()).await;
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let apps = ["web", "api", "db", "cache"];
    let tiers = ["front", "back"];
    let mut all = Vec::new();
    for i in 0..400u64 {
        let cluster = ["c1", "c2", "c3"][next(3) as usize];
        let namespace = ["", "a", "b", "team-1"][next(4) as usize];
        let name = format!(
            "{}-{:x}",
            ["worker", "web", "db"][next(3) as usize],
            next(5000)
        );
        let rv = if i % 37 == 0 {
            "x".to_owned()
        } else {
            next(1000).to_string()
        };
        let app = apps[next(4) as usize];
        let tier = tiers[next(2) as usize];
        let labels: Vec<(&str, &str)> = if i % 11 == 0 {
            vec![("tier", tier)]
        } else {
            vec![("app", app), ("tier", tier)]
        };
        all.push(labelled_pod(
            cluster,
            namespace,
            &name,
            &rv,
            next(5),
            &labels,
        ));
    }
    pods.apply(all.iter().cloned().map(Change::Upsert).collect())
        .await
        .expect("apply");
    // Label changes (the old label sets must forget the objects) and deletes.
    let changed: Vec<Change> = all
        .iter()
        .step_by(3)
        .map(|o| {
            Change::Upsert(labelled_pod(
                &o.fields.cluster,
                &o.fields.namespace,
                &o.fields.name,
                "7",
                9,
                &[("app", "moved")],
            ))
        })
        .collect();
    pods.apply(changed).await.expect("apply");
    let deleted: Vec<Change> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 4 != 0)
        .map(|(_, o)| Change::Delete(o.fields.key()))
        .collect();
    pods.apply(deleted).await.expect("apply");
    // New objects take the ids the deletes freed (index walks filter by id); one of them is
    // then updated (it keeps its id).
    let mut new_pods = vec![Change::Upsert(labelled_pod(
        "c2",
        "a",
        "web-new",
        "5",
        1,
        &[("app", "web")],
    ))];
    for k in 1..5 {
        new_pods.push(Change::Upsert(labelled_pod(
            "c1",
            "b",
            &format!("web-new-{k}"),
            "6",
            k,
            &[("app", "web")],
        )));
    }
    new_pods.push(Change::Upsert(labelled_pod(
        "c1",
        "b",
        "web-new-2",
        "7",
        2,
        &[("app", "db")],
    )));
    pods.apply(new_pods).await.expect("apply");

    let stored = pods
        .list(&ListOptions::default())
        .await
        .expect("list")
        .items;
    assert!(stored.len() > 90 && stored.len() < 110, "{}", stored.len());
    let selectors = [
        "",
        "app=web",
        "app in (web,db)",
        "app=moved",
        "app=nothing",
        "app!=web",
        "tier=front,app=api",
        "app=web,tier",
    ];
    let fuzzy: [&[&str]; 4] = [&[], &["web"], &["-1", "work"], &["zzz"]];
    let orders: Vec<Vec<OrderBy>> = [
        vec![],
        vec![(OrderField::Name, true)],
        vec![(OrderField::Name, false)],
        vec![(OrderField::Namespace, true)],
        vec![(OrderField::CreatedAt, false)],
        vec![(OrderField::CreatedAt, true)],
        vec![(OrderField::ResourceVersion, true)],
        vec![(OrderField::Cluster, true)],
        vec![(OrderField::Namespace, false), (OrderField::Name, true)],
    ]
    .into_iter()
    .map(|fields| {
        fields
            .into_iter()
            .map(|(field, descending)| OrderBy { field, descending })
            .collect()
    })
    .collect();
    let names: [&[&str]; 2] = [&[], &["web-new", "nothing"]];
    let namespaces: [&[&str]; 3] = [&[], &["a"], &["b", ""]];
    let mut checked = 0;
    for selector in selectors {
        for parts in fuzzy {
            for order in &orders {
                for (wanted_names, namespaces) in names
                    .iter()
                    .flat_map(|n| namespaces.iter().map(move |ns| (*n, *ns)))
                {
                    for (limit, offset, count) in
                        [(None, 0, false), (Some(7), 0, true), (Some(3), 2, false)]
                    {
                        let mut options = ListOptions::default();
                        options.label_selector = LabelSelector::parse(selector).expect("selector");
                        options.fuzzy_names = parts.iter().map(|p| p.to_string()).collect();
                        options.names = wanted_names.iter().map(|n| n.to_string()).collect();
                        options.namespaces = namespaces.iter().map(|n| n.to_string()).collect();
                        options.order_by = order.clone();
                        options.limit = limit;
                        options.offset = offset;
                        options.with_remaining_count = count;
                        let context = format!(
                            "{selector:?} fuzzy {parts:?} names {wanted_names:?} namespaces \
                             {namespaces:?} order {order:?} limit {limit:?} offset {offset}"
                        );
                        let mut pages = 0;
                        loop {
                            let got = pods.list(&options).await.expect("list");
                            // The layer's pages report the list's first version (carried in
                            // the token); the oracle has no version: it takes the layer's.
                            let mut want = Evaluator::new(&options, None)
                                .page(Listed::Resource(&pods_gvr()), stored.iter())
                                .expect("oracle");
                            want.resource_version = got.resource_version.clone();
                            let want = want.pinned_to_first_page(&options).expect("pinned");
                            let keys = |items: &[ResourceObject]| -> Vec<String> {
                                items.iter().map(|o| o.fields.key().to_string()).collect()
                            };
                            assert_eq!(keys(&got.items), keys(&want.items), "{context}");
                            assert!(got.items == want.items, "{context}: stale objects");
                            assert_eq!(got.continue_token, want.continue_token, "{context}");
                            assert_eq!(
                                got.remaining_item_count, want.remaining_item_count,
                                "{context}"
                            );
                            checked += 1;
                            pages += 1;
                            match got.continue_token {
                                Some(token) => {
                                    options.continue_from = Some(
                                        ContinuePosition::decode(&token, &options).expect("token"),
                                    );
                                }
                                None => break,
                            }
                            assert!(pages < 200, "{context}: endless paging");
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "{checked} pages compared");
}

/// A pod of `cluster` created at `created_second` (ties on purpose), with label `app` and, when
/// given, a controller owner (by uid).
fn owned_pod(
    cluster: &str,
    namespace: &str,
    name: &str,
    created_second: u64,
    app: &str,
    owner_uid: Option<&str>,
) -> ResourceObject {
    let mut metadata = json!({
        "name": name,
        "namespace": namespace,
        "uid": format!("uid-{cluster}-{namespace}-{name}"),
        "resourceVersion": (created_second * 7 % 13).to_string(),
        "creationTimestamp": format!("2024-01-02T03:04:{:02}Z", created_second % 60),
        "labels": {"app": app},
    });
    if let Some(uid) = owner_uid {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "Pod", "name": "owner", "uid": uid, "controller": true,
        }]);
    }
    object(
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata}),
        cluster,
    )
}

/// Pages every query of `queries` through with continue tokens and compares each page (items,
/// token, remaining count) with the reference evaluator over `stored`; returns the pages
/// compared and the items listed.
async fn page_like_the_evaluator(
    pods: &dyn ResourceStorage,
    stored: &[ResourceObject],
    queries: Vec<(String, ListOptions)>,
) -> (usize, usize) {
    let mut checked = 0;
    let mut seen = 0;
    for (context, mut options) in queries {
        let owner_uids = options.owner.as_ref().map(|owner| {
            let cluster = options.clusters.first().expect("one cluster");
            let fields: Vec<_> = stored
                .iter()
                .filter(|o| *o.fields.cluster == **cluster)
                .map(|o| &o.fields)
                .collect();
            storage_api::evaluator::resolve_owner_uids(owner, &options.namespaces, &fields)
        });
        let mut pages = 0;
        loop {
            let got = pods.list(&options).await.expect("list");
            let mut want = Evaluator::new(&options, owner_uids.clone())
                .page(Listed::Resource(&pods_gvr()), stored.iter())
                .expect("oracle");
            want.resource_version = got.resource_version.clone();
            let want = want.pinned_to_first_page(&options).expect("pinned");
            let keys = |items: &[ResourceObject]| -> Vec<String> {
                items.iter().map(|o| o.fields.key().to_string()).collect()
            };
            assert_eq!(
                keys(&got.items),
                keys(&want.items),
                "{context} page {pages}"
            );
            assert_eq!(got.continue_token, want.continue_token, "{context}");
            assert_eq!(
                got.remaining_item_count, want.remaining_item_count,
                "{context}"
            );
            seen += got.items.len();
            checked += 1;
            pages += 1;
            match got.continue_token {
                Some(token) => {
                    options.continue_from =
                        Some(ContinuePosition::decode(&token, &options).expect("token"));
                }
                None => break,
            }
            assert!(pages < 100, "{context}: endless paging");
        }
    }
    (checked, seen)
}

/// Orders over large groups of equal values (thousands of pods created in the same second) and
/// label queries with more candidates than any threshold of the layer page exactly like the
/// evaluator, with continue tokens, offsets and remaining counts.
#[tokio::test]
async fn large_tie_groups_and_many_label_candidates_page_like_the_evaluator() {
    let (_factory, pods) = setup(MemoryConfig::default()).await;
    let mut all = Vec::new();
    for i in 0..6000u64 {
        let cluster = ["c1", "c2", "c3"][(i % 3) as usize];
        let namespace = ["a", "b"][(i / 3 % 2) as usize];
        // Three creation seconds: groups of about 2000 equal values.
        let second = [5, 9, 9, 20][(i * 7 % 4) as usize];
        let app = if i % 10 == 0 { "api" } else { "web" };
        let pod = owned_pod(
            cluster,
            namespace,
            &format!("p-{:05}", (i * 7919) % 6000),
            second,
            app,
            None,
        );
        // A label that follows the creation time (the earliest quarter): its pods sit at one end
        // of the creation order, where a walk of that index finds them at once (ascending) or
        // only after every other pod (descending).
        let mut value: Value = serde_json::from_slice(&pod.raw).expect("json");
        value["metadata"]["labels"]["era"] = json!(if second == 5 { "early" } else { "late" });
        // A rare label on the last names: a walk of the name index from the start gives up
        // before it reaches them (too few candidates for a walk of the whole index).
        if (i * 7919) % 6000 >= 5700 {
            value["metadata"]["labels"]["tail"] = json!("yes");
        }
        all.push(object(&value, cluster));
    }
    pods.apply(all.iter().cloned().map(Change::Upsert).collect())
        .await
        .expect("apply");
    let stored = pods
        .list(&ListOptions::default())
        .await
        .expect("list")
        .items;
    assert_eq!(stored.len(), 6000);
    let mut queries = Vec::new();
    for selector in ["", "app=web", "app in (web,api,web)", "app=api", "app=none"] {
        for (field, descending) in [
            (OrderField::CreatedAt, true),
            (OrderField::CreatedAt, false),
            (OrderField::Name, true),
            (OrderField::ResourceVersion, true),
            (OrderField::Cluster, true),
            (OrderField::Namespace, false),
        ] {
            for (limit, offset, count) in [(Some(1500), 0, true), (Some(2500), 3, false)] {
                let mut options = ListOptions::default();
                options.label_selector = LabelSelector::parse(selector).expect("selector");
                options.order_by = vec![OrderBy {
                    field: field.clone(),
                    descending,
                }];
                options.limit = limit;
                options.offset = offset;
                options.with_remaining_count = count;
                queries.push((
                    format!("{selector:?} {field:?} desc={descending} {limit:?} {offset}"),
                    options,
                ));
            }
        }
    }
    // Small pages without a remaining count: the label's candidates found by walking the
    // order's index (spread over the order: the walk ends after the page), or, for the early
    // pods in descending creation order, by selection after the walk gives up (every late pod
    // comes first), then by the walk again from a continue position among them. The rare
    // `tail` pods: walked (descending names: they come first) or selected (ascending: the walk
    // gives up, then finds them at once from the continue position).
    for (selector, limit, offset) in [
        ("app=web", 300, 0),
        ("app in (web,none)", 300, 7),
        ("era=early", 100, 0),
        ("era=early,app=web", 100, 2),
        ("tail=yes", 20, 0),
        ("tail in (yes,no),app=web", 10, 3),
    ] {
        for (field, descending) in [
            (OrderField::CreatedAt, true),
            (OrderField::CreatedAt, false),
            (OrderField::Name, true),
            (OrderField::Name, false),
            (OrderField::ResourceVersion, true),
            (OrderField::Cluster, true),
            (OrderField::Namespace, false),
        ] {
            let mut options = ListOptions::default();
            options.label_selector = LabelSelector::parse(selector).expect("selector");
            options.order_by = vec![OrderBy {
                field: field.clone(),
                descending,
            }];
            options.limit = Some(limit);
            options.offset = offset;
            queries.push((
                format!("{selector:?} {field:?} desc={descending} {limit} {offset}"),
                options,
            ));
        }
    }
    let (checked, seen) = page_like_the_evaluator(&*pods, &stored, queries).await;
    assert!(
        checked >= 150 && seen > 100_000,
        "{checked} pages, {seen} items compared"
    );
}

/// Owner queries (by uid, by name, with seniorities) read the owner index: after owners change
/// and objects are deleted, every page equals the evaluator's over the stored objects.
#[tokio::test]
async fn owner_queries_follow_writes_and_page_like_the_evaluator() {
    let (_factory, pods) = setup(MemoryConfig::default()).await;
    // Per cluster: 4 roots, each owning 30 children, each child owning 3 grandchildren.
    let mut all = Vec::new();
    for cluster in ["c1", "c2"] {
        for root in 0..4 {
            let root_name = format!("root-{root}");
            all.push(owned_pod(cluster, "a", &root_name, 1, "root", None));
            let root_uid = format!("uid-{cluster}-a-{root_name}");
            for child in 0..30 {
                let child_name = format!("child-{root}-{child:02}");
                all.push(owned_pod(
                    cluster,
                    ["a", "b"][child % 2],
                    &child_name,
                    (child % 3) as u64,
                    "child",
                    Some(&root_uid),
                ));
                let child_uid = format!("uid-{cluster}-{}-{child_name}", ["a", "b"][child % 2]);
                for grandchild in 0..3 {
                    all.push(owned_pod(
                        cluster,
                        "b",
                        &format!("grandchild-{root}-{child:02}-{grandchild}"),
                        grandchild,
                        "grandchild",
                        Some(&child_uid),
                    ));
                }
            }
        }
    }
    pods.apply(all.iter().cloned().map(Change::Upsert).collect())
        .await
        .expect("apply");
    // Children move from root 0 to root 1 (the old owner's set must forget them); some
    // grandchildren are deleted.
    let moved: Vec<Change> = (0..30)
        .step_by(2)
        .map(|child| {
            Change::Upsert(owned_pod(
                "c1",
                "a",
                &format!("child-0-{child:02}"),
                4,
                "child",
                Some("uid-c1-a-root-1"),
            ))
        })
        .collect();
    pods.apply(moved).await.expect("apply");
    let deleted: Vec<Change> = all
        .iter()
        .filter(|o| o.fields.name.starts_with("grandchild-1-") && o.fields.name.ends_with("-0"))
        .map(|o| Change::Delete(o.fields.key()))
        .collect();
    pods.apply(deleted).await.expect("apply");
    let stored = pods
        .list(&ListOptions::default())
        .await
        .expect("list")
        .items;
    let owners = [
        (Some("uid-c1-a-root-0"), None, 0),
        (Some("uid-c1-a-root-1"), None, 0),
        (Some("uid-c1-a-root-1"), None, 1),
        (None, Some("root-1"), 1),
        (None, Some("root-2"), 0),
        (None, Some("child-1-03"), 0),
        (None, Some("root-3"), 2),
        (Some("uid-none"), None, 0),
    ];
    let mut queries = Vec::new();
    for (uid, name, seniority) in owners {
        for order in [
            vec![],
            vec![(OrderField::CreatedAt, true)],
            vec![(OrderField::Name, false)],
        ] {
            for namespaces in [vec![], vec!["b".to_owned()]] {
                let mut options = ListOptions::default();
                options.clusters = vec!["c1".into()];
                options.namespaces = namespaces.clone();
                options.owner = Some(storage_api::query::OwnerQuery {
                    uid: uid.map(str::to_owned),
                    name: name.map(str::to_owned),
                    group_resource: None,
                    seniority,
                });
                options.order_by = order
                    .iter()
                    .map(|(field, descending)| OrderBy {
                        field: field.clone(),
                        descending: *descending,
                    })
                    .collect();
                options.limit = Some(7);
                options.with_remaining_count = true;
                queries.push((
                    format!("{uid:?} {name:?} seniority {seniority} {namespaces:?} {order:?}"),
                    options,
                ));
            }
        }
    }
    let (checked, seen) = page_like_the_evaluator(&*pods, &stored, queries).await;
    assert!(
        checked > 100 && seen > 500,
        "{checked} pages, {seen} items compared"
    );
}

/// The membership set of an index walk holds exactly the ids added, whatever their place in
/// a word (an id far past its bound is ignored).
#[test]
fn walk_members_hold_exactly_the_ids_added() {
    let mut members = crate::index::IdSet::new(1000);
    for id in (0..1000).step_by(3) {
        members.insert(id);
        members.insert(id);
    }
    members.insert(u32::MAX);
    for id in 0..1100 {
        assert_eq!(members.contains(id), id < 1000 && id % 3 == 0, "id {id}");
    }
    assert!(!members.contains(u32::MAX));
}

/// The id bitmap of each label and owner set follows its objects through updates that change
/// labels and owners, deletes, and ids reused by new objects.
#[test]
fn member_set_ids_follow_updates_deletes_and_reused_ids() {
    use crate::index::{Indexes, Place};
    let pod = |name: &str, app: &str, tier: &str| {
        Arc::new(labelled_pod(
            "c1",
            "ns",
            name,
            "1",
            0,
            &[("app", app), ("tier", tier)],
        ))
    };
    let mut indexes = Indexes::default();
    let mut places: Vec<(Arc<ResourceObject>, Place)> = Vec::new();
    for i in 0..40 {
        let object = pod(&format!("p{i:02}"), ["web", "api"][i % 2], "a");
        let place = indexes.put(None, &object);
        places.push((object, place));
    }
    indexes.assert_member_ids();
    // Updates move every third pod to another app (the old set must forget its id).
    for (i, (object, place)) in places.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
        let updated = pod(&object.fields.name, "worker", ["a", "b"][i % 2]);
        *place = indexes.put(Some((&*object, *place)), &updated);
        *object = updated;
    }
    indexes.assert_member_ids();
    // Deletes free ids, which new pods with other labels take.
    for (object, place) in places.drain(..10) {
        indexes.remove(&object, place);
    }
    indexes.assert_member_ids();
    for i in 0..10 {
        let object = pod(&format!("q{i:02}"), "batch", "c");
        let place = indexes.put(None, &object);
        assert!(place.id < 40, "id {} not reused", place.id);
        places.push((object, place));
    }
    indexes.assert_member_ids();
    let web = indexes.label_sets("app", &["web".to_owned()]);
    assert_eq!(web.len(), 1);
    for (object, place) in &places {
        assert_eq!(
            web[0].ids.contains(place.id),
            object.fields.labels.get("app") == Some("web"),
            "{}",
            object.fields.name
        );
    }
}
