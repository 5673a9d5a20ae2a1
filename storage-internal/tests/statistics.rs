//! PostgreSQL upkeep that keeps writes and plans steady: the layer analyzes `resources` itself
//! once enough rows were written (autovacuum would only come on its next round, and until then
//! the planner plans for an almost empty table), its GIN indexes have no pending list (whose
//! merge stalls one write for tens of milliseconds every few megabytes of inserts), and the
//! stored JSON is compressed with lz4 (much faster to read back than pglz), and an update that
//! changes no indexed column (a status update) is HOT: no new entry in any index.

mod support;

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection as _, Row as _};
use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{Change, ResourceObject, ResourceStorage, StorageFactory};
use storage_conformance::fixtures::generate_pods;

/// The row of the scratch schema's `resources` in `pg_stat_user_tables`, with `columns`.
async fn table_statistics(url: &str, schema: &str, columns: &str) -> sqlx::postgres::PgRow {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {columns} FROM pg_stat_user_tables \
         WHERE schemaname = $1 AND relname = 'resources'"
    )))
    .bind(schema)
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_user_tables");
    conn.close().await.expect("close");
    row
}

/// When `ANALYZE` last ran on the scratch schema's `resources` by hand (not by autovacuum,
/// which sets `last_autoanalyze`), as text.
async fn last_analyze(url: &str, schema: &str) -> Option<String> {
    table_statistics(url, schema, "last_analyze::text")
        .await
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_analyzes_resources_after_a_bulk_write() {
    let factory = support::postgres().await;
    let (url, schema) = support::postgres_schema(&factory);
    let storage = support::pods(&factory).await;
    let pods = generate_pods(12_000, 2, 7);
    let mut pods = pods.into_iter();
    // Below the threshold: nothing analyzed yet.
    storage
        .apply(pods.by_ref().take(500).map(Change::Upsert).collect())
        .await
        .expect("apply");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        last_analyze(&url, &schema).await,
        None,
        "analyzed too early"
    );
    loop {
        let batch: Vec<Change> = pods.by_ref().take(500).map(Change::Upsert).collect();
        if batch.is_empty() {
            break;
        }
        storage.apply(batch).await.expect("apply");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while last_analyze(&url, &schema).await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "resources not analyzed 60 s after 12,000 rows were written"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    factory.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gin_indexes_have_no_pending_list() {
    let factory = support::postgres().await;
    let (url, schema) = support::postgres_schema(&factory);
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("postgres");
    let rows = sqlx::query(
        "SELECT c.relname::text, COALESCE(array_to_string(c.reloptions, ','), '') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_am a ON a.oid = c.relam \
         WHERE n.nspname = $1 AND c.relkind = 'i' AND a.amname = 'gin' ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    .expect("pg_class");
    conn.close().await.expect("close");
    let indexes: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let names: Vec<&str> = indexes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "resources_labels",
            "resources_name_trgm",
            "resources_search"
        ],
        "the GIN indexes of the schema"
    );
    for (name, options) in &indexes {
        assert!(
            options.split(',').any(|o| o == "fastupdate=off"),
            "{name} has a pending list (options: {options:?})"
        );
    }
    factory.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_compresses_stored_json_with_lz4() {
    let factory = support::postgres().await;
    let (url, schema) = support::postgres_schema(&factory);
    let storage = support::pods(&factory).await;
    let pods = generate_pods(20, 1, 3);
    storage
        .apply(pods.into_iter().map(Change::Upsert).collect())
        .await
        .expect("apply");
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("postgres");
    let columns = sqlx::query(
        "SELECT c.relname::text || '.' || a.attname::text, a.attcompression::text \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND (c.relname, a.attname) IN \
         (('resources', 'object'), ('resource_changes', 'object'), ('resource_changes', 'previous')) \
         ORDER BY 1",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    .expect("pg_attribute");
    let columns: Vec<(String, String)> = columns.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        columns,
        [
            ("resource_changes.object".to_owned(), "l".to_owned()),
            ("resource_changes.previous".to_owned(), "l".to_owned()),
            ("resources.object".to_owned(), "l".to_owned()),
        ]
    );
    // The pods just written are stored with it (a 3.5 KB pod is compressed).
    let methods = sqlx::query(AssertSqlSafe(format!(
        "SELECT DISTINCT COALESCE(pg_column_compression(object), 'none') FROM {schema}.resources"
    )))
    .fetch_all(&mut conn)
    .await
    .expect("pg_column_compression");
    let methods: Vec<String> = methods.iter().map(|r| r.get(0)).collect();
    assert_eq!(methods, ["lz4"]);
    conn.close().await.expect("close");
    factory.shutdown().await.expect("shutdown");
}

/// `object` as its member writes it next: a new resource version, and `edit` applied.
fn next_version(
    object: &ResourceObject,
    edit: impl FnOnce(&mut serde_json::Value),
) -> ResourceObject {
    let mut value: serde_json::Value = serde_json::from_slice(&object.raw).expect("json");
    let version: u64 = object
        .fields
        .resource_version
        .parse()
        .expect("a numeric version");
    value["metadata"]["resourceVersion"] = serde_json::json!((version + 1).to_string());
    edit(&mut value);
    ResourceObject::parse(
        object.fields.cluster.clone(),
        object.fields.gvr.clone(),
        serde_json::to_vec(&value).expect("json").into(),
    )
    .expect("valid object")
}

/// The updates and the HOT updates of the scratch schema's `resources` (the server's counters,
/// which a backend reports within a second or so of its transactions).
async fn updates(url: &str, schema: &str) -> (i64, i64) {
    let row = table_statistics(url, schema, "n_tup_upd, n_tup_hot_upd").await;
    (row.get(0), row.get(1))
}

/// The updates and HOT updates since `before` (updates) once the server reports `expected`
/// of them (or after 30 s).
async fn updates_since(url: &str, schema: &str, before: i64, expected: i64) -> (i64, i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (updated, hot) = updates(url, schema).await;
        if updated - before >= expected || tokio::time::Instant::now() > deadline {
            return (updated - before, hot);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A PostgreSQL layer (its configuration tuned by `tune`) with 20 pods stored: the layer, its
/// pods storage and the pods.
async fn twenty_pods(
    tune: impl FnOnce(&mut storage_internal::InternalConfig),
) -> (
    support::ScratchFactory,
    Arc<dyn ResourceStorage>,
    Vec<ResourceObject>,
) {
    let factory = support::postgres_with(tune).await;
    let storage = support::pods(&factory).await;
    let pods = generate_pods(20, 1, 3);
    storage
        .apply(pods.iter().cloned().map(Change::Upsert).collect())
        .await
        .expect("apply");
    (factory, storage, pods)
}

async fn names(storage: &dyn ResourceStorage, query: &str) -> Vec<String> {
    let options = parse_list_options(query, &RequestScope::default()).expect("query");
    let list = storage.list(&options).await.expect("list");
    list.items.iter().map(|o| o.fields.name.clone()).collect()
}

/// Status updates leave every indexed column (labels and full-text words included) as stored,
/// so PostgreSQL updates the row in place of its page (HOT) without touching the table's eleven
/// indexes; a label change is a normal update, and every change is read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_status_updates_are_hot() {
    let (factory, storage, pods) = twenty_pods(|_| {}).await;
    let (url, schema) = support::postgres_schema(&factory);
    let (before, _) = updates(&url, &schema).await;

    const STATUS_UPDATES: i64 = 10;
    let mut pod = pods[0].clone();
    for restarts in 0..STATUS_UPDATES {
        pod = next_version(&pod, |v| {
            v["status"]["containerStatuses"] = serde_json::json!([{"restartCount": restarts}]);
        });
        storage
            .apply(vec![Change::Upsert(pod.clone())])
            .await
            .expect("status update");
    }
    let relabeled = next_version(&pods[1], |v| {
        v["metadata"]["labels"]["hot-test"] = serde_json::json!("relabeled");
    });
    storage
        .apply(vec![Change::Upsert(relabeled.clone())])
        .await
        .expect("label update");

    let (updated, hot) = updates_since(&url, &schema, before, STATUS_UPDATES + 1).await;
    assert_eq!(updated, STATUS_UPDATES + 1, "updates counted");
    // Each status update's old row version is dead once it commits, so the next one finds room
    // on the page; allow a couple to land on another page all the same.
    assert!(
        hot >= STATUS_UPDATES - 2,
        "{hot} of {STATUS_UPDATES} status updates were HOT"
    );
    assert!(
        hot <= STATUS_UPDATES,
        "the label change cannot be HOT ({hot})"
    );

    // What was kept as stored is still right, and what changed is read back.
    let stored = storage
        .get(&pod.fields.cluster, &pod.fields.namespace, &pod.fields.name)
        .await
        .expect("get");
    assert_eq!(stored.fields.resource_version, pod.fields.resource_version);
    assert_eq!(
        names(&*storage, "labelSelector=hot-test%3Drelabeled").await,
        std::slice::from_ref(&relabeled.fields.name)
    );
    let name = &pod.fields.name;
    assert!(
        names(&*storage, &format!("query={name}"))
            .await
            .contains(name),
        "the words of a HOT-updated pod still find it"
    );
    factory.shutdown().await.expect("shutdown");
}

/// With pods in `fullTextSearch.exclude`, an update that changes the object's words (here an
/// annotation, as most changes of a busy resource) but no label is HOT too: the pods' words
/// stay absent (and pending) instead of being rewritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_updates_of_excluded_resources_are_hot() {
    let (factory, storage, pods) =
        twenty_pods(|c| c.full_text_search.exclude = vec!["pods".into()]).await;
    let (url, schema) = support::postgres_schema(&factory);
    let (before, hot_before) = updates(&url, &schema).await;
    const UPDATES: i64 = 10;
    let mut pod = pods[0].clone();
    for i in 0..UPDATES {
        pod = next_version(&pod, |v| {
            v["metadata"]["annotations"]["stamp"] = serde_json::json!(format!("word{i}"));
        });
        storage
            .apply(vec![Change::Upsert(pod.clone())])
            .await
            .expect("annotation update");
    }
    let (updated, hot) = updates_since(&url, &schema, before, UPDATES).await;
    assert_eq!(updated, UPDATES, "updates counted");
    assert!(
        hot - hot_before >= UPDATES - 2,
        "{} of {UPDATES} updates were HOT",
        hot - hot_before
    );
    let stored = storage
        .get(&pod.fields.cluster, &pod.fields.namespace, &pod.fields.name)
        .await
        .expect("get");
    assert_eq!(stored.fields.resource_version, pod.fields.resource_version);
    factory.shutdown().await.expect("shutdown");
}
