//! A database that drops the layer's connections (a restart, a failover) costs at most one
//! recoverable error per call in flight: the pool reconnects, nothing written is lost.

mod support;

use std::sync::Arc;

use sqlx::{AssertSqlSafe, Connection as _, Executor as _};
use storage_api::{Change, Gvr, ListOptions, ResourceObject, StorageFactory};

fn pod(name: &str) -> ResourceObject {
    let value = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "resourceVersion": "1"}});
    ResourceObject::parse(
        "c1".into(),
        Arc::new(Gvr::new("", "v1", "pods")),
        serde_json::to_vec(&value).expect("json").into(),
    )
    .expect("valid pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_by_the_server_are_replaced() {
    let factory = support::postgres().await;
    let pods = support::pods(&factory).await;
    pods.apply(vec![Change::Upsert(pod("a"))])
        .await
        .expect("apply");

    // The server ends every connection of the layer (SQLSTATE 57P01 for a busy one).
    let mut admin = sqlx::PgConnection::connect(&support::postgres_url())
        .await
        .expect("postgres");
    admin
        .execute(AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}'",
            factory.probe().name()
        )))
        .await
        .expect("terminate");

    // At most one failure, recoverable; then the pool has reconnected.
    let mut written = false;
    for attempt in 0..3 {
        match pods.apply(vec![Change::Upsert(pod("b"))]).await {
            Ok(()) => {
                written = true;
                break;
            }
            Err(error) => assert!(
                error.is_recoverable() && attempt == 0,
                "attempt {attempt}: {error}"
            ),
        }
    }
    assert!(written, "the write went through after reconnecting");
    let names: Vec<String> = pods
        .list(&ListOptions::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|o| o.fields.name.clone())
        .collect();
    assert_eq!(names, ["a", "b"], "nothing lost");
    factory.shutdown().await.expect("shutdown");
}
