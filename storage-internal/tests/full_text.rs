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

/// `fullTextSearch.exclude` names pods: they are stored without words (pending), a full-text
/// query of pods is a 400 naming the setting, other resources keep their words; a replica
/// started without the setting fills the pods' words in at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_excluded_resources_get_words_once_included() {
    let factory =
        support::postgres_with(|c| c.full_text_search.exclude = vec!["pods".into()]).await;
    let storage = support::pods(&factory).await;
    storage
        .apply(vec![
            Change::Upsert(pod("a", "1", "nginx:1")),
            Change::Upsert(pod("b", "1", "redis:7")),
        ])
        .await
        .expect("apply");
    storage
        .update(pod("a", "2", "nginx:2"))
        .await
        .expect("update");
    let options = parse_list_options("query=nginx", &RequestScope::default()).expect("query");
    match storage.list(&options).await {
        Err(StorageError::BadRequest { parameter, message }) => {
            assert_eq!(parameter, "query");
            assert!(
                message.contains("pods") && message.contains("fullTextSearch.exclude"),
                "{message}"
            );
        }
        other => panic!("want a 400 naming fullTextSearch.exclude, got {other:?}"),
    }
    let configmaps = factory
        .new_resource_storage(storage_api::ResourceStorageConfig {
            gvr: Gvr::new("", "v1", "configmaps"),
            kind: "ConfigMap".into(),
            namespaced: true,
        })
        .await
        .expect("configmaps");
    let configmap = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "nginx-conf", "namespace": "default", "uid": "uid-conf",
                     "resourceVersion": "1"},
        "data": {"server": "nginx"}});
    configmaps
        .apply(vec![Change::Upsert(
            ResourceObject::parse(
                "c1".into(),
                Arc::new(Gvr::new("", "v1", "configmaps")),
                serde_json::to_vec(&configmap).expect("json").into(),
            )
            .expect("valid configmap"),
        )])
        .await
        .expect("apply configmap");
    assert_eq!(search(&*configmaps, "query=nginx").await, ["nginx-conf"]);

    let (url, schema) = support::postgres_schema(&factory);
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("postgres");
    let (without_words, pending): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT count(*) FILTER (WHERE search_vector IS NULL), \
         count(*) FILTER (WHERE search_pending) FROM {schema}.resources WHERE resource = 'pods'"
    )))
    .fetch_one(&mut admin)
    .await
    .expect("count");
    assert_eq!(
        (without_words, pending),
        (2, 2),
        "pods are stored without words"
    );
    // A pending row of a resource with words is filled in before a collection's full-text list
    // too (the excluded pods' pending rows are skipped).
    admin
        .execute(AssertSqlSafe(format!(
            "UPDATE {schema}.resources SET search_vector = NULL, search_pending = true \
             WHERE resource = 'configmaps'"
        )))
        .await
        .expect("forget the configmap's words");
    admin.close().await.expect("close");
    let collection = factory
        .collection_resources()
        .into_iter()
        .next()
        .expect("a collection");
    let any = factory
        .new_collection_resource_storage(&collection)
        .await
        .expect("collection storage");
    let core = [storage_api::collection::CollectionResourceType::group("")];
    let found: Vec<String> = any
        .list(&core, &options)
        .await
        .expect("collection full-text list")
        .page
        .items
        .iter()
        .map(|o| o.fields.name.clone())
        .collect();
    assert_eq!(found, ["nginx-conf"]);

    // A replica without the setting, on the same database.
    let mut config = storage_internal::InternalConfig {
        db_type: Some("postgres".into()),
        dsn: Some(url.clone()),
        ..Default::default()
    };
    config
        .params
        .insert("search_path".into(), format!("{schema},public"));
    let replica = storage_internal::InternalStorageFactory::connect(
        config.connection().expect("configuration"),
    )
    .await
    .expect("replica");
    let pods = support::pods(&replica).await;
    assert_eq!(search(&*pods, "query=nginx").await, ["a"]);
    assert_eq!(search(&*pods, "query=nginx 2").await, ["a"]);
    assert_eq!(search(&*pods, "query=redis").await, ["b"]);
    replica.shutdown().await.expect("shutdown replica");
    factory.shutdown().await.expect("shutdown");
}
