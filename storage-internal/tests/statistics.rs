//! PostgreSQL upkeep that keeps writes and plans steady: the layer analyzes `resources` itself
//! once enough rows were written (autovacuum would only come on its next round, and until then
//! the planner plans for an almost empty table), its GIN indexes have no pending list (whose
//! merge stalls one write for tens of milliseconds every few megabytes of inserts), and the
//! stored JSON is compressed with lz4 (much faster to read back than pglz).

mod support;

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection as _, Row as _};
use storage_api::{Change, StorageFactory};
use storage_conformance::fixtures::generate_pods;

/// When `ANALYZE` last ran on the scratch schema's `resources` by hand (not by autovacuum,
/// which sets `last_autoanalyze`), as text.
async fn last_analyze(url: &str, schema: &str) -> Option<String> {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
    let row = sqlx::query(
        "SELECT last_analyze::text FROM pg_stat_user_tables \
         WHERE schemaname = $1 AND relname = 'resources'",
    )
    .bind(schema)
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_user_tables");
    conn.close().await.expect("close");
    row.get(0)
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
