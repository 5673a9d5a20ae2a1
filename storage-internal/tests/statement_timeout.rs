//! `statementTimeout`: an expensive query is cancelled by PostgreSQL at the statement timeout
//! and answered with a `504 Timeout`, not a `500`; the pool still answers a cheap query right
//! after (the security test: slow `orderby` queries ran for minutes and held the pool).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{Change, Gvr, ResourceObject, ResourceStorage, StorageFactory};

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
    let pods = support::pods(factory).await;
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
    let _alone = SQLITE.lock().await;
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

/// CPU time (clock ticks) used so far by the threads of this process that run SQLite
/// statements (sqlx runs each SQLite connection on a worker thread of its own, named
/// `sqlx-sqlite-worker-N`).
fn sqlite_worker_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("sqlx-sqlite"))
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .map(|stat| {
            // After the `(comm)`: state, ppid, ..., utime (14th field) and stime (15th).
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace()
                .collect();
            let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            field(11).unwrap_or(0) + field(12).unwrap_or(0)
        })
        .sum()
}

/// The SQLite worker threads' CPU ticks over `window`.
async fn sqlite_busy_over(window: Duration) -> u64 {
    let before = sqlite_worker_ticks();
    tokio::time::sleep(window).await;
    sqlite_worker_ticks().saturating_sub(before)
}

/// The costliest list the caps allow, on the 20 labels of [`pod`]: five label orders, 100
/// label and 100 field requirements (one through ten `[]`), 20 substrings every pod holds.
fn costliest() -> String {
    let labels: Vec<String> = (0..100).map(|i| format!("l{}!=x{i}", i % 20)).collect();
    let mut fields = vec![format!("spec{}.x!=y", "[]".repeat(10))];
    fields.extend((1..100).map(|i| format!("spec.containers[].padding!=v{i}")));
    let fuzzy = [
        "p", "o", "d", "-", "1", "po", "od", "d-", "pod", "od-", "pod-", "o", "d", "p", "-", "po",
        "od", "d-", "pod", "pod-",
    ];
    format!(
        "labelSelector={}&fieldSelector={}&fuzzyName={}&orderby=metadata.labels.l0 desc,\
         metadata.labels.l1,metadata.labels.l2 desc,metadata.labels.l3,metadata.labels.l4 desc\
         &limit=10",
        labels.join(","),
        fields.join(","),
        fuzzy.join(",")
    )
}

/// The SQLite tests of this file, one at a time: [`sqlite_worker_ticks`] counts the SQLite
/// threads of the whole process.
static SQLITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// SQLite has no server to cancel from: the list's statement runs on its connection's worker
/// thread until its progress handler says stop. Without a statement timeout, the future of a
/// list that runs for a while is dropped after 250 ms (the client went away), and the worker
/// threads go quiet at once: the statement was interrupted, not left to run to its end (before,
/// an abandoned statement held its thread and its connection until it finished).
#[tokio::test]
async fn sqlite_interrupts_the_query_of_a_dropped_request() {
    let _alone = SQLITE.lock().await;
    let factory = support::sqlite_with(|config| {
        config.statement_timeout = Some("0".into());
    })
    .await;
    let pods = load(&factory).await;
    let options = parse_list_options(&costliest(), &RequestScope::default()).expect("parses");

    // Dropped early: on a quiet machine the whole list ended within the 2 s this test first
    // waited, which made it inconclusive.
    let dropped = tokio::time::timeout(Duration::from_millis(250), pods.list(&options)).await;
    assert!(
        dropped.is_err(),
        "the list answered within 250 ms: too quick for this test to tell anything"
    );
    let dropped_at = Instant::now();
    let mut busy = sqlite_busy_over(Duration::from_millis(250)).await;
    while busy > 1 && dropped_at.elapsed() < Duration::from_secs(1) {
        busy = sqlite_busy_over(Duration::from_millis(250)).await;
    }
    assert!(
        busy <= 1,
        "the abandoned statement still runs {:?} after the drop ({busy} ticks in 250 ms)",
        dropped_at.elapsed()
    );

    // The pool still answers.
    let cheap = parse_list_options("names=pod-1&limit=1", &RequestScope::default()).expect("ok");
    assert_eq!(pods.list(&cheap).await.expect("cheap").items.len(), 1);
    factory.shutdown().await.expect("shutdown");
}

/// Readiness reports the database, not the pool: with every pooled connection held by a list
/// that cannot finish (it waits on a table lock, as slow queries held the pool in the security
/// test), the readiness check still answers at once. Before, it queued for a pool slot and
/// failed after 30 s, so 45 slow clients made the apiserver unready.
#[tokio::test]
async fn postgres_readiness_does_not_wait_for_a_pool_held_by_slow_lists() {
    use sqlx::{AssertSqlSafe, Connection as _, Executor as _};
    let factory = support::postgres_with(|config| {
        config.statement_timeout = Some("0".into());
        config.conn_pool.max_open_conns = Some(2);
        config.conn_pool.max_idle_conns = Some(2);
    })
    .await;
    let pods = support::pods(&factory).await;
    pods.apply(vec![Change::Upsert(pod(1))])
        .await
        .expect("apply");
    let name = factory.probe().name();
    let url = support::postgres_url();
    let mut locker = sqlx::PgConnection::connect(&url).await.expect("locker");
    let mut lock = locker.begin().await.expect("begin");
    lock.execute(AssertSqlSafe(format!(
        "LOCK TABLE {name}.resources IN ACCESS EXCLUSIVE MODE"
    )))
    .await
    .expect("lock");

    let options = parse_list_options("limit=10", &RequestScope::default()).expect("parses");
    let lists: Vec<_> = (0..2)
        .map(|_| {
            let (pods, options) = (pods.clone(), options.clone());
            tokio::spawn(async move { pods.list(&options).await })
        })
        .collect();
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("admin");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND wait_event_type = 'Lock'",
        )
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_stat_activity");
        if waiting == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} lists wait on the lock"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let started = Instant::now();
    let ready = tokio::time::timeout(Duration::from_secs(10), factory.check_ready()).await;
    let took = started.elapsed();
    lock.rollback().await.expect("unlock");
    assert!(
        matches!(ready, Ok(Ok(()))),
        "readiness with the pool held: {ready:?} after {took:?}"
    );
    for list in lists {
        list.await
            .expect("join")
            .expect("the list once the lock is gone");
    }
    factory.shutdown().await.expect("shutdown");
}
