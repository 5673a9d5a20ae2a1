//! A continue token resumes only the list that made it: a token of pods is a `400` naming
//! `continue` on deployments and on a collection (SQLite; the check runs before any SQL).

mod support;

use std::sync::Arc;

use storage_api::collection::CollectionResourceType;
use storage_api::query::ContinuePosition;
use storage_api::{
    Change, Gvr, ListOptions, ResourceObject, ResourceStorageConfig, StorageError, StorageFactory,
};

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

fn assert_refused(context: &str, result: Result<impl std::fmt::Debug, StorageError>) {
    let err = result.expect_err(context);
    assert_eq!(err.status().code, 400, "{context}: {err}");
    assert!(err.to_string().starts_with("continue:"), "{context}: {err}");
}

#[tokio::test]
async fn a_pods_token_resumes_only_pods() {
    let factory = support::sqlite().await;
    let storage = |gvr: Gvr, kind: &str| ResourceStorageConfig {
        gvr,
        kind: kind.into(),
        namespaced: true,
    };
    let pods = factory
        .new_resource_storage(storage(Gvr::new("", "v1", "pods"), "Pod"))
        .await
        .expect("storage");
    let deployments = factory
        .new_resource_storage(storage(Gvr::new("apps", "v1", "deployments"), "Deployment"))
        .await
        .expect("storage");
    pods.apply(vec![Change::Upsert(pod("a")), Change::Upsert(pod("b"))])
        .await
        .expect("apply");

    let mut options = {
        let mut options = ListOptions::default();
        options.limit = Some(1);
        options
    };
    let token = pods
        .list(&options)
        .await
        .expect("list")
        .continue_token
        .expect("more remain");
    options.continue_from = Some(ContinuePosition::decode(&token, &options).expect("token"));
    let next = pods.list(&options).await.expect("the token resumes pods");
    assert_eq!(next.items.len(), 1);

    assert_refused(
        "a pods token on deployments",
        deployments.list(&options).await,
    );
    let collection = factory
        .collection_resources()
        .into_iter()
        .find(|c| !c.resource_types.is_empty())
        .expect("a collection with types");
    let workloads = factory
        .new_collection_resource_storage(&collection)
        .await
        .expect("collection storage");
    assert_refused(
        "a pods token on a collection",
        workloads.list(&collection.resource_types, &options).await,
    );
    let core = [CollectionResourceType::group("")];
    assert_refused(
        "a pods token on the core group of any",
        workloads.list(&core, &options).await,
    );
}
