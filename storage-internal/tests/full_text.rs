//! Full-text search on the internal layer beyond the conformance suite: rows whose words were
//! never written (stored before the full-text migration, or rewritten by an earlier version of
//! the layer during a rolling upgrade) are still found exactly; MySQL and SQLite refuse the
//! query naming the dialect.

mod support;

use std::sync::Arc;

use sqlx::{AssertSqlSafe, Connection as _, Executor as _};
use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{Change, Gvr, ResourceObject, ResourceStorage, StorageError, StorageFactory};

fn pod(name: &str, rv: &str, image: &str) -> ResourceObject {
    let value = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "resourceVersion": rv},
        "spec": {"containers": [{"name": "main", "image": image}]}});
    ResourceObject::parse(
        "c1".into(),
        Arc::new(Gvr::new("", "v1", "pods")),
        serde_json::to_vec(&value).expect("json").into(),
    )
    .expect("valid pod")
}

/// The JSON of `object` as the body of an SQL string literal (quotes doubled).
fn sql_text(object: &ResourceObject) -> String {
    std::str::from_utf8(&object.raw)
        .expect("utf-8")
        .replace('\'', "''")
}

async fn search(storage: &dyn ResourceStorage, query: &str) -> Vec<String> {
    let options = parse_list_options(query, &RequestScope::default()).expect("query");
    let mut names: Vec<String> = storage
        .list(&options)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .items
        .iter()
        .map(|o| o.fields.name.clone())
        .collect();
    names.sort();
    names
}

/// Rows without words (as the migration leaves the rows stored before it, pending), rewritten
/// without their words while pending, and a row inserted without its words (as an earlier
/// version of the layer writes during a rolling upgrade: pending by default) are found by
/// their current words at the next full-text list, and not by their old ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_without_words_are_filled_in_before_answering() {
    let factory = support::postgres().await;
    let storage = support::pods(&factory).await;
    storage
        .apply(vec![
            Change::Upsert(pod("a", "1", "nginx:1")),
            Change::Upsert(pod("b", "1", "redis:7")),
            Change::Upsert(pod("c", "1", "nginx:2")),
        ])
        .await
        .expect("apply");
    assert_eq!(search(&*storage, "query=nginx").await, ["a", "c"]);

    let (url, schema) = support::postgres_schema(&factory);
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("postgres");
    // As before the migration: no words at all.
    admin
        .execute(AssertSqlSafe(format!(
            "UPDATE {schema}.resources SET search_vector = NULL, search_pending = true"
        )))
        .await
        .expect("forget the words");
    // As an earlier version writes: a new object and resource version, the words untouched.
    let object = sql_text(&pod("b", "2", "nginx:3"));
    admin
        .execute(AssertSqlSafe(format!(
            "UPDATE {schema}.resources SET object = '{object}', resource_version = '2', \
             rv_number = 2 WHERE name = 'b'"
        )))
        .await
        .expect("an earlier version's write");
    let object = sql_text(&pod("e", "1", "nginx:4"));
    admin
        .execute(AssertSqlSafe(format!(
            "INSERT INTO {schema}.resources (rv_number, created_at, synced_at, api_group, \
             api_version, resource, cluster, namespace, name, kind, uid, owner_uid, \
             resource_version, labels, object) VALUES (1, 0, 0, '', 'v1', 'pods', 'c1', \
             'default', 'e', 'Pod', 'uid-e', '', '1', '{{}}', '{object}')"
        )))
        .await
        .expect("an earlier version's insert");
    admin.close().await.expect("close");

    assert_eq!(search(&*storage, "query=nginx").await, ["a", "b", "c", "e"]);
    assert!(search(&*storage, "query=redis").await.is_empty());
    // Once filled in, the words stay (nothing pending).
    assert_eq!(search(&*storage, "query=nginx 3").await, ["b"]);
    // The single-object writes write the words too.
    storage
        .update(pod("c", "5", "haproxy:1"))
        .await
        .expect("update");
    storage
        .create(pod("d", "1", "haproxy:2"))
        .await
        .expect("create");
    assert_eq!(search(&*storage, "query=haproxy").await, ["c", "d"]);
    assert_eq!(search(&*storage, "query=nginx").await, ["a", "b", "e"]);
    factory.shutdown().await.expect("shutdown");
}

async fn refused(factory: &dyn StorageFactory, dialect: &str) {
    assert!(!factory.supports_full_text(), "{dialect}");
    let storage = support::pods(factory).await;
    let options = parse_list_options("query=nginx", &RequestScope::default()).expect("query");
    match storage.list(&options).await {
        Err(StorageError::BadRequest { parameter, message }) => {
            assert_eq!(parameter, "query");
            assert!(
                message.contains(&format!("internal ({dialect})")),
                "{message}"
            );
        }
        other => panic!("{dialect}: want a 400 naming query, got {other:?}"),
    }
    factory.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_refuses_full_text_naming_the_dialect() {
    refused(&support::mysql().await, "mysql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_full_text_naming_the_dialect() {
    refused(&support::sqlite().await, "sqlite").await;
}
