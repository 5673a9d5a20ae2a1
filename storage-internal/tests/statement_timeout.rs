//! `statementTimeout`: an expensive query is cancelled by PostgreSQL at the statement timeout
//! and answered with a `504 Timeout`, not a `500`; the pool still answers a cheap query right
//! after (the security test: slow `orderby` queries ran for minutes and held the pool).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{
    Change, Gvr, ResourceObject, ResourceStorage, ResourceStorageConfig, StorageFactory,
};

fn pod(i: usize) -> ResourceObject {
    let labels: serde_json::Map<String, serde_json::Value> = (0..20)
        .map(|l| {
            (
                format!("l{l}"),
                serde_json::Value::from(format!("v{}", (i * 7 + l) % 97)),
            )
        })
        .collect();
    let value = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i}"), "namespace": "default", "uid": format!("uid-{i}"),
                     "resourceVersion": "1", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "nginx", "padding": "x".repeat(2000)}]}});
    ResourceObject::parse(
        "c1".into(),
        Arc::new(Gvr::new("", "v1", "pods")),
        serde_json::to_vec(&value).expect("json").into(),
    )
    .expect("valid pod")
}

/// The pods storage of `factory` with 6,000 pods of 20 labels and 2 KB each.
async fn load(factory: &support::ScratchFactory) -> Arc<dyn ResourceStorage> {
    let pods = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("", "v1", "pods"),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    // Small batches, retried: a busy machine may take the 100 ms on a write too (a timeout is
    // recoverable, and upserts are idempotent).
    for chunk in (0..6000).collect::<Vec<_>>().chunks(50) {
        let mut attempts = 0;
        loop {
            let changes = chunk.iter().map(|i| Change::Upsert(pod(*i))).collect();
            match pods.apply(changes).await {
                Ok(_) => break,
                Err(e) if e.is_recoverable() && attempts < 50 => attempts += 1,
                Err(e) => panic!("apply: {e}"),
            }
        }
    }

    pods
}

/// Five label paths, a field selector through a list and a substring: every row is parsed
/// several times before the page is cut.
const EXPENSIVE: &str = "orderby=metadata.labels.l0,metadata.labels.l1 desc,metadata.labels.l2,\
    metadata.labels.l3 desc,metadata.labels.l4&fieldSelector=spec.containers[].image!=x,\
    spec.containers[].padding!=y&fuzzyName=pod&limit=10";

#[tokio::test]
async fn postgres_cancels_an_expensive_query_at_the_statement_timeout() {
    let factory = support::postgres_with(|config| {
        config.statement_timeout = Some("100ms".into());
    })
    .await;
    expensive_query_is_cut_at_the_statement_timeout(factory).await;
}

#[tokio::test]
async fn mariadb_cancels_an_expensive_query_at_the_statement_timeout() {
    let factory = support::mysql_with(|config| {
        config.statement_timeout = Some("100ms".into());
    })
    .await;
    expensive_query_is_cut_at_the_statement_timeout(factory).await;
}

/// SQLite has no statement timeout: a progress handler interrupts the list statement (before,
/// the query ran to its end, however long).
#[tokio::test]
async fn sqlite_interrupts_an_expensive_query_at_the_statement_timeout() {
    let factory = support::sqlite_with(|config| {
        config.statement_timeout = Some("50ms".into());
    })
    .await;
    expensive_query_is_cut_at_the_statement_timeout(factory).await;
}

/// The expensive list on `factory` (statement timeout ≤ 100 ms) is a `504` naming the
/// statement timeout, and every pooled connection answers a cheap query after it.
async fn expensive_query_is_cut_at_the_statement_timeout(factory: support::ScratchFactory) {
    let pods = load(&factory).await;

    let options = parse_list_options(EXPENSIVE, &RequestScope::default()).expect("parses");
    let started = Instant::now();
    let err = pods.list(&options).await.expect_err("cancelled at 100ms");
    assert_eq!(err.status().code, 504, "{err}");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    // Every connection of the pool still answers a cheap query at once.
    let cheap = parse_list_options("names=pod-1&limit=1", &RequestScope::default()).expect("ok");
    for _ in 0..6 {
        let page = pods
            .list(&cheap)
            .await
            .expect("a cheap query after the timeout");
        assert_eq!(page.items.len(), 1);
    }
    factory.shutdown().await.expect("shutdown");
}

/// The security test saw abandoned queries run on for minutes after their clients left. Here
/// the list waits on a table lock held by another session (so it runs until cancelled); its
/// future is dropped after 200 ms, and no statement of the layer is left running.
#[tokio::test]
async fn postgres_cancels_the_query_of_a_dropped_request() {
    use sqlx::{AssertSqlSafe, Connection as _, Executor as _};
    let factory = support::postgres_with(|config| {
        config.statement_timeout = Some("0".into());
    })
    .await;
    let pods = load(&factory).await;
    let options = parse_list_options(EXPENSIVE, &RequestScope::default()).expect("parses");
    let name = factory.probe().name();
    let url = support::postgres_url();
    let mut locker = sqlx::PgConnection::connect(&url).await.expect("locker");
    let mut lock = locker.begin().await.expect("begin");
    lock.execute(AssertSqlSafe(format!(
        "LOCK TABLE {name}.resources IN ACCESS EXCLUSIVE MODE"
    )))
    .await
    .expect("lock");

    let dropped = tokio::time::timeout(Duration::from_millis(200), pods.list(&options)).await;
    assert!(dropped.is_err(), "the list was not cut");
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("admin");
    let count_active = async |admin: &mut sqlx::PgConnection| {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND state = 'active' AND query LIKE 'SELECT p.%'",
        )
        .bind(&name)
        .fetch_one(admin)
        .await
        .expect("pg_stat_activity")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut active = count_active(&mut admin).await;
    while active > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
        active = count_active(&mut admin).await;
    }
    lock.rollback().await.expect("unlock");
    assert_eq!(active, 0, "the abandoned query still runs");
    factory.shutdown().await.expect("shutdown");
}

/// The same on MariaDB/MySQL: the list waits on a table lock held by another session; its
/// future is dropped after 200 ms, and `KILL QUERY` leaves no statement of the layer running
/// (before, it ran until the lock was released or the statement timeout).
#[tokio::test]
async fn mariadb_cancels_the_query_of_a_dropped_request() {
    use sqlx::{AssertSqlSafe, Connection as _, Executor as _};
    let factory = support::mysql_with(|config| {
        config.statement_timeout = Some("0".into());
    })
    .await;
    let pods = load(&factory).await;
    let options = parse_list_options(EXPENSIVE, &RequestScope::default()).expect("parses");
    let name = factory.probe().name();
    let url = support::mysql_url();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    let mut locker = sqlx::MySqlConnection::connect(&format!("{base}/{name}"))
        .await
        .expect("locker");
    locker
        .execute(AssertSqlSafe("LOCK TABLES resources WRITE".to_owned()))
        .await
        .expect("lock");

    let dropped = tokio::time::timeout(Duration::from_millis(200), pods.list(&options)).await;
    assert!(dropped.is_err(), "the list was not cut");
    let mut admin = sqlx::MySqlConnection::connect(&url).await.expect("admin");
    let count_active = async |admin: &mut sqlx::MySqlConnection| {
        sqlx::query_scalar::<_, i64>(
            "SELECT CAST(count(*) AS SIGNED) FROM information_schema.processlist \
             WHERE db = ? AND command IN ('Query', 'Execute') AND info LIKE 'SELECT p.%'",
        )
        .bind(&name)
        .fetch_one(admin)
        .await
        .expect("processlist")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut active = count_active(&mut admin).await;
    while active > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
        active = count_active(&mut admin).await;
    }
    locker
        .execute(AssertSqlSafe("UNLOCK TABLES".to_owned()))
        .await
        .expect("unlock");
    assert_eq!(active, 0, "the abandoned query still runs");
    factory.shutdown().await.expect("shutdown");
}
