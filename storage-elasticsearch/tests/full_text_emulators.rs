//! The full-text search (`query`) on both ES-API emulators, compared with storage-api's
//! reference evaluator: the same items, in the same order (relevance, then the stable key, or
//! an explicit orderby), page by page. Needs `ES_TEST_OSMEM_URL` and `ES_TEST_NOIDA_URL`
//! (see tests/support/mod.rs): a missing emulator fails the test.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use storage_api::evaluator::Evaluator;
use storage_api::query::paging::Listed;
use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{Change, Gvr, ResourceObject, ResourceStorageConfig, StorageFactory};

fn pods() -> Gvr {
    Gvr::new("", "v1", "pods")
}

/// Pods whose words overlap: names, labels, annotations and images.
fn objects() -> Vec<ResourceObject> {
    let specs = [
        ("web-1", "shop", "app=web", "nginx:1.25", "owner: team web"),
        ("web-2", "shop", "app=web", "nginx:1.27", "owner: team db"),
        ("db-1", "shop", "app=db", "postgres:16", "web web web"),
        ("cache", "infra", "app=cache", "redis:7", "nginx sidecar"),
        (
            "nginx-proxy",
            "infra",
            "app=proxy",
            "nginx:1.25",
            "web nginx",
        ),
        ("batch", "jobs", "app=batch", "busybox", ""),
    ];
    let mut objects = Vec::new();
    for cluster in ["c1", "c2"] {
        for (name, namespace, label, image, note) in specs {
            let (key, value) = label.split_once('=').expect("label");
            let raw = serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": name, "namespace": namespace, "uid": format!("{cluster}-{name}"),
                    "resourceVersion": "1", "creationTimestamp": "2024-01-01T00:00:00Z",
                    "labels": {key: value}, "annotations": {"note": note},
                },
                "spec": {"containers": [{"name": "main", "image": image}]},
            });
            objects.push(
                ResourceObject::parse(
                    Arc::from(cluster),
                    Arc::new(pods()),
                    Bytes::from(raw.to_string()),
                )
                .expect("pod"),
            );
        }
    }
    objects
}

async fn compare(variable: &str) {
    let layer = support::connect(variable).await;
    let storage = layer
        .new_resource_storage(ResourceStorageConfig {
            gvr: pods(),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let objects = objects();
    storage
        .apply(objects.iter().cloned().map(Change::Upsert).collect())
        .await
        .expect("apply");
    for query in [
        "query=nginx",
        "query=web",
        "query=web+nginx",
        "query=NGINX+1",
        "query=team&orderby=name+desc",
        "query=web&limit=2",
        "query=web&limit=3&withRemainingCount=true",
        "query=nothing-like-this",
        "query=web&namespaces=shop",
    ] {
        let mut options = parse_list_options(query, &RequestScope::default()).expect("options");
        let mut page_number = 0;
        loop {
            let got = storage.list(&options).await.expect(query);
            let want = Evaluator::new(&options, None)
                .page(Listed::Resource(&pods()), objects.iter())
                .expect("reference");
            let names = |items: &[ResourceObject]| -> Vec<String> {
                items.iter().map(|o| o.fields.key().to_string()).collect()
            };
            assert_eq!(
                names(&got.items),
                names(&want.items),
                "{variable} {query} page {page_number}"
            );
            assert!(
                !want.items.is_empty() || query.contains("nothing"),
                "{query}: the fixture must match"
            );
            assert_eq!(
                got.remaining_item_count, want.remaining_item_count,
                "{variable} {query} page {page_number}"
            );
            let Some(token) = got.continue_token else {
                assert!(want.continue_token.is_none(), "{query}");
                break;
            };
            options = parse_list_options(
                &format!("{query}&continue={token}"),
                &RequestScope::default(),
            )
            .expect("next page");
            page_number += 1;
        }
    }
    layer.destroy().await.expect("delete the indices");
}

#[tokio::test(flavor = "multi_thread")]
async fn full_text_on_osmem_emulator() {
    compare(support::OSMEM_URL).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_text_on_noida_emulator() {
    compare(support::NOIDA_URL).await;
}
