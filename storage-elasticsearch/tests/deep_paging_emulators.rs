//! What the conformance fixtures are too small to reach: walks longer than one request (read
//! in a point in time), offsets beyond the servers' 10 000-hit window, and continue tokens
//! deep into a large list, each compared with storage-api's reference evaluator. Needs
//! `ES_TEST_OSMEM_URL` (and `ES_TEST_NOIDA_URL` for the smaller check on noida-db); a missing
//! emulator fails the test.

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

fn pod(i: usize) -> ResourceObject {
    let raw = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("pod-{i:05}"), "namespace": format!("ns-{}", i % 7),
            "uid": format!("uid-{i}"), "resourceVersion": format!("{}", 1000 + i),
            "creationTimestamp": format!("2024-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            "labels": {"app": format!("app-{}", i % 5)},
        },
        "status": {"phase": if i.is_multiple_of(3) { "Running" } else { "Pending" }},
    });
    ResourceObject::parse(
        Arc::from(if i.is_multiple_of(2) { "c1" } else { "c2" }),
        Arc::new(pods()),
        Bytes::from(raw.to_string()),
    )
    .expect("pod")
}

async fn check(variable: &str, count: usize, queries: &[&str]) {
    let layer = support::connect(variable).await;
    let storage = layer
        .new_resource_storage(ResourceStorageConfig {
            gvr: pods(),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let objects: Vec<ResourceObject> = (0..count).map(pod).collect();
    for chunk in objects.chunks(2000) {
        storage
            .apply(chunk.iter().cloned().map(Change::Upsert).collect())
            .await
            .expect("apply");
    }
    let key = |items: &[ResourceObject]| -> Vec<String> {
        items.iter().map(|o| o.fields.key().to_string()).collect()
    };
    for query in queries {
        let options = parse_list_options(query, &RequestScope::default()).expect("options");
        let got = storage.list(&options).await.expect(query);
        let want = Evaluator::new(&options, None)
            .page(Listed::Resource(&pods()), objects.iter())
            .expect("reference");
        assert!(!want.items.is_empty(), "{query}: the fixture must match");
        assert_eq!(key(&got.items), key(&want.items), "{variable} {query}");
        assert_eq!(
            got.remaining_item_count, want.remaining_item_count,
            "{variable} {query}"
        );
        // The next page, through the token.
        if let (Some(token), Some(want_token)) = (&got.continue_token, &want.continue_token) {
            let next = |t: &str| {
                parse_list_options(&format!("{query}&continue={t}"), &RequestScope::default())
                    .expect("next page")
            };
            let got_next = storage.list(&next(token)).await.expect("next page");
            let want_next = Evaluator::new(&next(want_token), None)
                .page(Listed::Resource(&pods()), objects.iter())
                .expect("reference next");
            assert_eq!(
                key(&got_next.items),
                key(&want_next.items),
                "{variable} {query} page 2"
            );
        } else {
            assert_eq!(
                got.continue_token.is_some(),
                want.continue_token.is_some(),
                "{query}"
            );
        }
    }
    layer.destroy().await.expect("delete the indices");
}

/// 10 600 pods: offsets past 10 000, walks of many requests in a point in time.
#[tokio::test(flavor = "multi_thread")]
async fn deep_pages_on_osmem_emulator() {
    check(
        support::OSMEM_URL,
        10_600,
        &[
            "offset=10500&limit=5&withRemainingCount=true",
            "offset=9990&limit=20",
            "orderby=created_at+desc&offset=10200&limit=3",
            // walked in several requests, answered by the evaluator (field selector)
            "fieldSelector=status.phase%3DRunning&limit=7&offset=3400&withRemainingCount=true",
            "orderby=metadata.name+desc&limit=4",
            "labelSelector=app%3Dapp-3&limit=2000&withRemainingCount=true",
            "orderby=resource_version+desc&limit=1500",
        ],
    )
    .await;
}

/// 2 500 pods: walks of three requests in an Elasticsearch point in time.
#[tokio::test(flavor = "multi_thread")]
async fn long_walks_on_noida_emulator() {
    check(
        support::NOIDA_URL,
        2_500,
        &[
            "fieldSelector=status.phase%3DPending&limit=5&offset=1500&withRemainingCount=true",
            "offset=2100&limit=10",
            "limit=1200&withRemainingCount=true",
        ],
    )
    .await;
}
