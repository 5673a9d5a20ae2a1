//! Watch on the change log, beyond the conformance suite: concurrent writers are delivered in
//! revision order with no gap (PostgreSQL, MariaDB, SQLite), two factories ("replicas") over one
//! PostgreSQL database serve the same stream, a watch resumed after a restart continues
//! exactly, cleanups produce deletions, retention by age answers `410 Expired`, and retention by
//! count holds when one batch writes more changes than it keeps.
//!
//! Run with `cargo test -p storage-internal --test watch`.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use storage_api::{
    Change, Gvr, ListOptions, ResourceObject, ResourceStorage, ResourceStorageConfig,
    StorageFactory, WatchEvent, WatchStream,
};
use storage_internal::{InternalConfig, InternalStorageFactory};

const WAIT: Duration = Duration::from_secs(20);

fn gvr() -> Gvr {
    Gvr::new("", "v1", "configmaps")
}

fn config() -> ResourceStorageConfig {
    ResourceStorageConfig {
        gvr: gvr(),
        kind: "ConfigMap".into(),
        namespaced: true,
    }
}

fn configmap(cluster: &str, name: &str, member_rv: u64, data: &str) -> ResourceObject {
    let raw = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default","uid":"uid-{name}","resourceVersion":"{member_rv}","creationTimestamp":"2024-01-01T00:00:00Z","labels":{{"app":"w"}}}},"data":{{"d":"{data}"}}}}"#
    );
    ResourceObject::parse(Arc::from(cluster), Arc::new(gvr()), Bytes::from(raw)).expect("object")
}

fn from(rv: &str) -> ListOptions {
    let mut options = ListOptions::default();
    options.resource_version = Some(rv.to_owned());
    options
}

/// (type, cluster/name, layer resource version) of an event.
fn describe(event: &WatchEvent) -> (String, String, String) {
    let (kind, object) = match event {
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        other => panic!("unexpected {other:?}"),
    };
    let value: serde_json::Value = serde_json::from_slice(&object.raw).expect("json");
    (
        kind.to_owned(),
        format!("{}/{}", object.fields.cluster, object.fields.name),
        value["metadata"]["resourceVersion"]
            .as_str()
            .expect("resourceVersion")
            .to_owned(),
    )
}

async fn take(stream: &mut WatchStream, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let item = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events within {WAIT:?}", out.len()))
            .expect("the watch ended");
        out.push(describe(&item.unwrap_or_else(|e| {
            panic!("watch error after {} events: {e}", out.len())
        })));
    }
    out
}

async fn list_rv(storage: &dyn ResourceStorage) -> String {
    storage
        .list(&ListOptions::default())
        .await
        .expect("list")
        .resource_version
        .expect("a list resource version")
}

/// Writers on `factories` (in turn), 6 tasks × 40 single-object writes each, while a watch from
/// the list's version runs: the watch sees every write, in strictly consecutive revisions.
async fn concurrent_writers(factories: &[Arc<dyn StorageFactory>]) {
    let watcher = factories[0]
        .new_resource_storage(config())
        .await
        .expect("storage");
    let start = list_rv(&*watcher).await;
    let mut stream = watcher.watch(&from(&start)).await.expect("watch");
    let tasks = 6;
    let per_task = 40;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let storage = factories[t % factories.len()]
            .new_resource_storage(config())
            .await
            .expect("storage");
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let object = configmap("c1", &format!("w{t}-{i}"), 1, "x");
                storage
                    .apply(vec![Change::Upsert(object)])
                    .await
                    .expect("write");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("writer");
    }
    let events = take(&mut stream, tasks * per_task).await;
    let first: u64 = start.parse().expect("number");
    for (i, (kind, key, rv)) in events.iter().enumerate() {
        assert_eq!(kind, "ADDED", "{key}");
        assert_eq!(
            rv.parse::<u64>().expect("number"),
            first + 1 + i as u64,
            "event {i} ({key}): revisions must be delivered consecutively, in commit order"
        );
    }
    let keys: BTreeSet<&String> = events.iter().map(|(_, key, _)| key).collect();
    assert_eq!(
        keys.len(),
        tasks * per_task,
        "every write is delivered once"
    );
}

/// The configuration a test factory was built with (to open a second factory on it).
fn capture(slot: &Arc<Mutex<Option<InternalConfig>>>) -> impl FnOnce(&mut InternalConfig) {
    let slot = slot.clone();
    move |config: &mut InternalConfig| {
        *slot.lock().expect("slot") = Some(config.clone());
    }
}

async fn replica(slot: &Arc<Mutex<Option<InternalConfig>>>) -> Arc<dyn StorageFactory> {
    let config = slot.lock().expect("slot").clone().expect("captured");
    Arc::new(
        InternalStorageFactory::connect(config.connection().expect("config"))
            .await
            .expect("second factory"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_writers_from_two_replicas_arrive_in_order() {
    let slot = Arc::new(Mutex::new(None));
    let first: Arc<dyn StorageFactory> = Arc::new(support::postgres_with(capture(&slot)).await);
    let second = replica(&slot).await;
    concurrent_writers(&[first.clone(), second.clone()]).await;
    second.shutdown().await.expect("shutdown");
    first.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_concurrent_writers_arrive_in_order() {
    let slot = Arc::new(Mutex::new(None));
    let first: Arc<dyn StorageFactory> = Arc::new(support::mysql_with(capture(&slot)).await);
    let second = replica(&slot).await;
    concurrent_writers(&[first.clone(), second.clone()]).await;
    second.shutdown().await.expect("shutdown");
    first.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_writers_arrive_in_order() {
    let factory: Arc<dyn StorageFactory> = Arc::new(support::sqlite().await);
    concurrent_writers(std::slice::from_ref(&factory)).await;
    factory.shutdown().await.expect("shutdown");
}

/// Two factories over one PostgreSQL database serve the same stream (types, objects and
/// versions); a watch resumed on a new factory, from the last version seen before the first
/// one was shut down, continues exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_agree_and_a_restart_resumes_exactly() {
    let slot = Arc::new(Mutex::new(None));
    let owner: Arc<dyn StorageFactory> = Arc::new(support::postgres_with(capture(&slot)).await);
    let a = replica(&slot).await;
    let b = replica(&slot).await;
    let writer = owner.new_resource_storage(config()).await.expect("storage");
    writer
        .apply(vec![Change::Upsert(configmap("c1", "before", 1, "x"))])
        .await
        .expect("write");
    let on_a = a.new_resource_storage(config()).await.expect("storage");
    let on_b = b.new_resource_storage(config()).await.expect("storage");
    let start = list_rv(&*on_a).await;
    assert_eq!(
        start,
        list_rv(&*on_b).await,
        "replicas list at the same version"
    );
    let mut stream_a = on_a.watch(&from(&start)).await.expect("watch a");
    let mut stream_b = on_b.watch(&from(&start)).await.expect("watch b");
    let mut changes = Vec::new();
    for i in 0..10 {
        changes.push(Change::Upsert(configmap("c1", &format!("o{i}"), 1, "x")));
        changes.push(Change::Upsert(configmap("c1", &format!("o{i}"), 2, "y")));
    }
    changes.push(Change::Delete(storage_api::ObjectKey::new(
        "c1", "default", "o3",
    )));
    writer.apply(changes).await.expect("write");
    let seen_a = take(&mut stream_a, 21).await;
    let seen_b = take(&mut stream_b, 21).await;
    assert_eq!(seen_a, seen_b, "two replicas serve the same stream");
    assert_eq!(seen_a[1].0, "MODIFIED");
    assert_eq!(seen_a[20].0, "DELETED");

    // Restart: replica a goes away after the 21st event; writes continue; a new factory
    // resumes from the last version a delivered.
    let last = seen_a[20].2.clone();
    drop(stream_a);
    drop(on_a);
    a.shutdown().await.expect("shutdown a");
    drop(a);
    let mut more = Vec::new();
    for i in 0..5 {
        more.push(Change::Upsert(configmap("c2", &format!("n{i}"), 1, "z")));
    }
    writer.apply(more).await.expect("write");
    let restarted = replica(&slot).await;
    let on_restarted = restarted
        .new_resource_storage(config())
        .await
        .expect("storage");
    let mut resumed = on_restarted.watch(&from(&last)).await.expect("resume");
    let tail = take(&mut resumed, 5).await;
    let expected_b = take(&mut stream_b, 5).await;
    assert_eq!(tail, expected_b, "the resumed watch continues exactly");
    let last_n: u64 = last.parse().expect("number");
    for (i, (kind, key, rv)) in tail.iter().enumerate() {
        assert_eq!(kind, "ADDED");
        assert_eq!(key, &format!("c2/n{i}"));
        assert_eq!(rv, &(last_n + 1 + i as u64).to_string());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        futures::FutureExt::now_or_never(resumed.next()).is_none(),
        "no duplicate after the resumed events"
    );
    for factory in [restarted, b] {
        factory.shutdown().await.expect("shutdown");
    }
    owner.shutdown().await.expect("shutdown");
}

/// Cleaning a cluster or one of its resources produces a `DELETED` per removed object, with
/// its last state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanups_produce_deletions() {
    for factory in [
        Arc::new(support::sqlite().await) as Arc<dyn StorageFactory>,
        Arc::new(support::postgres().await),
        Arc::new(support::mysql().await),
    ] {
        let storage = factory
            .new_resource_storage(config())
            .await
            .expect("storage");
        storage
            .apply(vec![
                Change::Upsert(configmap("c1", "a", 1, "x")),
                Change::Upsert(configmap("c1", "b", 1, "x")),
                Change::Upsert(configmap("c2", "c", 1, "x")),
            ])
            .await
            .expect("write");
        let start = list_rv(&*storage).await;
        let mut stream = storage.watch(&from(&start)).await.expect("watch");
        factory.clean_cluster("c1").await.expect("clean cluster");
        factory
            .clean_cluster_resource("c2", &gvr())
            .await
            .expect("clean resource");
        let mut events = take(&mut stream, 3).await;
        let n: u64 = start.parse().expect("number");
        let versions: Vec<String> = events.iter().map(|e| e.2.clone()).collect();
        assert_eq!(
            versions,
            [n + 1, n + 2, n + 3].map(|v| v.to_string()).to_vec()
        );
        events.sort();
        let keys: Vec<(&str, &str)> = events
            .iter()
            .map(|(kind, key, _)| (kind.as_str(), key.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("DELETED", "c1/a"),
                ("DELETED", "c1/b"),
                ("DELETED", "c2/c")
            ]
        );
        factory.shutdown().await.expect("shutdown");
    }
}

/// With `watch.maxAge`, a change older than it is pruned at a later write and a watch from
/// before it is `410 Expired`; one from after it still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_age_expires_old_versions() {
    let factory: Arc<dyn StorageFactory> =
        Arc::new(support::sqlite_with(|config| config.watch.max_age = Some("1s".into())).await);
    let storage = factory
        .new_resource_storage(config())
        .await
        .expect("storage");
    // Not from "0" (which means "from now" in Kubernetes).
    storage
        .apply(vec![Change::Upsert(configmap("c1", "first", 1, "x"))])
        .await
        .expect("write");
    let start = list_rv(&*storage).await;
    storage
        .apply(vec![Change::Upsert(configmap("c1", "old", 1, "x"))])
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before_new = list_rv(&*storage).await;
    storage
        .apply(vec![Change::Upsert(configmap("c1", "new", 1, "x"))])
        .await
        .expect("write");
    let mut stream = storage.watch(&from(&start)).await.expect("watch");
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("an answer")
        .expect("an item");
    let error = match first {
        Ok(event) => panic!("want 410 for a pruned version, got {event:?}"),
        Err(error) => error,
    };
    assert_eq!(error.status().code, 410, "{error}");
    let mut stream = storage.watch(&from(&before_new)).await.expect("watch");
    let events = take(&mut stream, 1).await;
    assert_eq!(events[0].1, "c1/new");
    // What get returns carries the layer's version, and the member's in an annotation.
    let object = storage.get("c1", "default", "new").await.expect("get");
    let value: serde_json::Value = serde_json::from_slice(&object.raw).expect("json");
    assert_eq!(value["metadata"]["resourceVersion"], events[0].2.as_str());
    assert_eq!(
        value["metadata"]["annotations"]
            [storage_api::resource_version::MEMBER_RESOURCE_VERSION_ANNOTATION],
        "1"
    );
    assert_eq!(object.fields.resource_version, "1");
    factory.shutdown().await.expect("shutdown");
}

/// A list read in pages reports the resourceVersion of its first page on every page, so that a
/// watch from the last page's version (what an informer does) replays what changed while the
/// client paged: here an object of the first page deleted before the second page is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_list_then_watch_misses_no_change_made_while_paging() {
    let factory = support::sqlite().await;
    let storage = factory
        .new_resource_storage(config())
        .await
        .expect("storage");
    storage
        .apply(
            (0..5)
                .map(|i| Change::Upsert(configmap("c1", &format!("p{i}"), 1, "x")))
                .collect(),
        )
        .await
        .expect("write");
    let mut options = ListOptions::default();
    options.limit = Some(2);
    let first = storage.list(&options).await.expect("page 1");
    let first_rv = first.resource_version.clone().expect("a version");
    assert_eq!(first.items[0].fields.name, "p0");
    // While the client pages, an object it already read is deleted and another one changes.
    storage
        .apply(vec![
            Change::Delete(storage_api::ObjectKey::new("c1", "default", "p0")),
            Change::Upsert(configmap("c1", "p1", 2, "y")),
        ])
        .await
        .expect("write");
    let mut last_rv = first_rv.clone();
    let mut token = first.continue_token;
    while let Some(t) = token {
        options.continue_from =
            Some(storage_api::query::ContinuePosition::decode(&t, &options).expect("token"));
        let page = storage.list(&options).await.expect("next page");
        last_rv = page.resource_version.clone().expect("a version");
        token = page.continue_token;
    }
    assert_eq!(
        last_rv, first_rv,
        "every page reports the version the list started at"
    );
    let mut stream = storage.watch(&from(&last_rv)).await.expect("watch");
    let events = take(&mut stream, 2).await;
    assert_eq!(events[0].0, "DELETED");
    assert_eq!(events[0].1, "c1/p0");
    assert_eq!(events[1].0, "MODIFIED");
    assert_eq!(events[1].1, "c1/p1");
    drop(stream);
    factory.shutdown().await.expect("shutdown");
}

/// With `watch.maxCount` below the size of a batch, the batch's own oldest entries are pruned
/// with it: PostgreSQL writes a batch's last statement, its entries, the pruning and the new
/// state as one statement, whose parts cannot see each other's rows, so such a batch writes
/// them one statement after the other. A watch from just below what is kept is `410 Expired`;
/// from what is kept it replays the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_by_count_smaller_than_a_batch() {
    let factory = support::postgres_with(|config| config.watch.max_count = Some(3)).await;
    let (url, schema) = support::postgres_schema(&factory);
    let storage = factory
        .new_resource_storage(config())
        .await
        .expect("storage");
    for round in 1..=2 {
        storage
            .apply(
                (0..10)
                    .map(|i| Change::Upsert(configmap("c1", &format!("m{i}"), round, "x")))
                    .collect(),
            )
            .await
            .expect("write");
    }
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("postgres");
    let kept: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {schema}.resource_changes"
    )))
    .fetch_one(&mut admin)
    .await
    .expect("count");
    sqlx::Connection::close(admin).await.expect("close");
    assert_eq!(kept, 3, "changes kept with maxCount 3");

    let latest: u64 = list_rv(&*storage).await.parse().expect("a number");
    let mut stream = storage
        .watch(&from(&(latest - 3).to_string()))
        .await
        .expect("watch");
    let names: Vec<String> = take(&mut stream, 3)
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(names, ["c1/m7", "c1/m8", "c1/m9"]);
    let mut stream = storage
        .watch(&from(&(latest - 4).to_string()))
        .await
        .expect("watch");
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Err(error))) => assert_eq!(error.status().code, 410, "{error}"),
        other => panic!("want 410 below what is kept, got {other:?}"),
    }
    factory.shutdown().await.expect("shutdown");
}
