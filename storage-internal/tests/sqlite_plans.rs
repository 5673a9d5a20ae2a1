//! SQLite plans the queries without statistics (nothing runs `ANALYZE` on a deployed SQLite
//! file): namespace + label queries must read the namespace, not the label's every id, and
//! owner queries must still look their children up in the owner index instead of
//! walking the whole resource of the cluster in the default order (issue 15: 59 ms at 20k pods
//! against PostgreSQL's 1.7 ms). Same answers either way (the conformance suite checks them).

mod support;

use std::collections::BTreeSet;

use std::sync::Arc;
use storage_api::query::params::{RequestScope, parse_list_options};

use storage_api::{Change, Gvr, ListOptions, ResourceObject, ResourceStorage, StorageFactory};
use storage_conformance::fixtures::generate_pods;

/// The line of the plan that searches `resources r` for the page (the outer `resources r` is
/// then read by its primary key).
fn page_search(plan: &str) -> &str {
    plan.lines()
        .find(|l| {
            (l.starts_with("SEARCH r ") || l.starts_with("SCAN r ")) && !l.contains("PRIMARY KEY")
        })
        .unwrap_or_else(|| panic!("no plan line for resources r in:\n{plan}"))
}

/// SQLite's plan of a list of pods with `options`.
async fn pods_plan(factory: &support::ScratchFactory, options: &ListOptions) -> String {
    factory
        .inner()
        .explain(&Gvr::new("", "v1", "pods"), options)
        .await
        .expect("explain")
}

/// A fresh SQLite layer with 3,000 generated pods (2 clusters) stored, without statistics.
async fn loaded_pods() -> (
    support::ScratchFactory,
    Arc<dyn ResourceStorage>,
    Vec<ResourceObject>,
) {
    let factory = support::sqlite().await;
    let pods = support::pods(&factory).await;
    let objects = generate_pods(3_000, 2, 7);
    for chunk in objects.chunks(500) {
        pods.apply(chunk.iter().cloned().map(Change::Upsert).collect())
            .await
            .expect("apply");
    }
    (factory, pods, objects)
}

#[tokio::test]
async fn sqlite_owner_queries_use_the_owner_index_without_statistics() {
    let (factory, pods, objects) = loaded_pods().await;
    let owner = &objects[1234].fields;
    let expected: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.fields.cluster == owner.cluster && o.fields.owner_uid == owner.owner_uid)
        .map(|o| o.fields.name.clone())
        .collect();
    assert!(expected.len() > 1, "the owner has several pods");

    let scope = RequestScope {
        cluster: Some(owner.cluster.to_string()),
        ..RequestScope::default()
    };
    for query in [
        format!("ownerUID={}&ownerSeniority=0", owner.owner_uid),
        format!("ownerUID={}&ownerSeniority=0&limit=2", owner.owner_uid),
    ] {
        let options = parse_list_options(&query, &scope).expect("options");
        let plan = pods_plan(&factory, &options).await;
        let line = page_search(&plan);
        assert!(
            line.contains("USING INDEX resources_owner (cluster=? AND owner_uid=?)"),
            "{query}: the page reads {line:?}, not the owner index; plan:\n{plan}"
        );
    }
    let options = parse_list_options(
        &format!("ownerUID={}&ownerSeniority=0", owner.owner_uid),
        &scope,
    )
    .expect("options");
    let page = pods.list(&options).await.expect("list");
    let names: BTreeSet<String> = page.items.iter().map(|o| o.fields.name.clone()).collect();
    assert_eq!(names, expected);
    factory.shutdown().await.expect("shutdown");
}

/// A namespace + label list reads the namespace's rows through the namespace index and probes
/// each one's label; SQLite answered `r.id IN (SELECT … FROM resource_labels …)` by reading
/// every id of the label into a temporary index first (a common label: ten times the rows of
/// the namespace).
#[tokio::test]
async fn sqlite_namespace_and_label_queries_read_the_namespace_first() {
    let (factory, pods, objects) = loaded_pods().await;
    let sample = &objects[1234].fields;
    let app = sample.labels.get("app").expect("app label").to_owned();
    let namespace = sample.namespace.clone();
    let expected: BTreeSet<String> = objects
        .iter()
        .filter(|o| {
            o.fields.namespace == namespace && o.fields.labels.get("app") == Some(app.as_str())
        })
        .map(|o| format!("{}/{}", o.fields.cluster, o.fields.name))
        .collect();
    assert!(
        expected.len() > 1,
        "the namespace has several pods of the app"
    );

    let query = format!("labelSelector=app%3D{app}&limit=500");
    let scope = RequestScope {
        namespace: Some(namespace.clone()),
        ..RequestScope::default()
    };
    let options = parse_list_options(&query, &scope).expect("options");
    let plan = pods_plan(&factory, &options).await;
    let line = page_search(&plan);
    assert!(
        line.contains("USING COVERING INDEX resources_namespace")
            || line.contains("USING INDEX resources_namespace"),
        "{query}: the page reads {line:?}, not the namespace index; plan:\n{plan}"
    );
    assert!(
        !plan.contains("LIST SUBQUERY"),
        "{query}: every id of the label is read into a temporary index first; plan:\n{plan}"
    );
    let page = pods.list(&options).await.expect("list");
    let names: BTreeSet<String> = page
        .items
        .iter()
        .map(|o| format!("{}/{}", o.fields.cluster, o.fields.name))
        .collect();
    assert_eq!(names, expected);
    factory.shutdown().await.expect("shutdown");
}
