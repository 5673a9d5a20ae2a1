//! Removing a cluster (`clean_cluster`) or one resource of a cluster
//! (`clean_cluster_resource`), and the stored resource types that discovery is built from.

use std::collections::BTreeSet;

use super::{configmaps, deployments, pods};
use crate::harness::{Harness, Query, Target, assert_status, comparable_versions};
use storage_api::object::Gvr;
use storage_api::{Change, StoredResourceType};

/// Asserts that `stored_resource_types()` is exactly the model's (no duplicates).
async fn assert_types(h: &Harness, when: &str) {
    let got = h
        .factory()
        .stored_resource_types()
        .await
        .unwrap_or_else(|e| panic!("stored_resource_types() {when} failed: {e}"));
    let set: BTreeSet<StoredResourceType> = got.iter().cloned().collect();
    assert_eq!(
        set.len(),
        got.len(),
        "stored_resource_types() {when}: duplicates in {got:#?}"
    );
    let want = h.model().stored_types();
    let missing: Vec<_> = want.difference(&set).collect();
    let unexpected: Vec<_> = set.difference(&want).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "stored_resource_types() {when}:\n  missing: {missing:#?}\n  unexpected: {unexpected:#?}"
    );
}

/// Asserts that every fixture resource lists what the model holds, and that the versions of
/// every cluster are the model's.
async fn assert_everything(h: &mut Harness, when: &str) {
    let gvrs: Vec<Gvr> = h.fixtures().gvrs().into_iter().map(|c| c.gvr).collect();
    for gvr in gvrs {
        h.check(&Target::Resource(gvr), &Query::new()).await;
    }
    for cluster in h.fixtures().clusters() {
        let got = h
            .factory()
            .resource_versions(&cluster)
            .await
            .expect("resource_versions");
        assert_eq!(
            comparable_versions(got),
            comparable_versions(h.model().resource_versions(&cluster)),
            "resource_versions({cluster}) {when}"
        );
    }
    assert_types(h, when).await;
}

/// `clean_cluster` removes every object (and event) of that cluster, of every resource, and
/// nothing of the others; `get` of a removed object answers `404`; the cluster can be written
/// again afterwards.
pub async fn clean_cluster(mut h: Harness) {
    h.load().await;
    let clusters = h.fixtures().clusters();
    let victim = clusters[1].clone();
    let sample = h
        .model()
        .objects(&deployments())
        .into_iter()
        .find(|o| *o.fields.cluster == *victim)
        .cloned()
        .expect("a deployment");
    h.factory()
        .clean_cluster(&victim)
        .await
        .expect("clean_cluster");
    h.model_clean(&victim, None);
    assert_everything(&mut h, &format!("after clean_cluster({victim})")).await;
    let storage = h.storage(&deployments()).await;
    let f = &sample.fields;
    assert_status(
        "get of an object of a cleaned cluster",
        storage.get(&f.cluster, &f.namespace, &f.name).await,
        404,
    );
    h.factory()
        .clean_cluster("no-such-cluster")
        .await
        .expect("clean_cluster of an unknown cluster");
    h.apply(&deployments(), vec![Change::Upsert(sample)]).await;
    assert_everything(&mut h, &format!("after writing to {victim} again")).await;
}

/// `clean_cluster_resource` removes the objects of one resource of one cluster only: the same
/// resource of other clusters and the other resources of that cluster stay.
pub async fn clean_cluster_resource(mut h: Harness) {
    h.load().await;
    let cluster = h.fixtures().clusters()[0].clone();
    h.factory()
        .clean_cluster_resource(&cluster, &pods())
        .await
        .expect("clean_cluster_resource");
    h.model_clean(&cluster, Some(&pods()));
    assert_everything(
        &mut h,
        &format!("after clean_cluster_resource({cluster}, pods)"),
    )
    .await;
    h.factory()
        .clean_cluster_resource(&cluster, &Gvr::new("example.io", "v9", "nothing"))
        .await
        .expect("clean_cluster_resource of a resource never stored");
    h.factory()
        .clean_cluster_resource("no-such-cluster", &configmaps())
        .await
        .expect("clean_cluster_resource of an unknown cluster");
    assert_everything(&mut h, "after cleaning resources that are not stored").await;
}

/// `stored_resource_types()` lists each (cluster, resource) with stored objects, with the kind
/// and scope of its configuration, and follows loads and cleans; nothing when nothing is
/// stored.
pub async fn stored_resource_types(mut h: Harness) {
    assert_types(&h, "on an empty layer").await;
    h.load_resources(&[configmaps()]).await;
    assert_types(&h, "after loading configmaps").await;
    h.load().await;
    assert_types(&h, "after loading every fixture").await;
    let clusters = h.fixtures().clusters();
    h.factory()
        .clean_cluster_resource(&clusters[0], &deployments())
        .await
        .expect("clean_cluster_resource");
    h.model_clean(&clusters[0], Some(&deployments()));
    h.factory()
        .clean_cluster(&clusters[2])
        .await
        .expect("clean_cluster");
    h.model_clean(&clusters[2], None);
    assert_types(&h, "after cleaning a resource and a cluster").await;
}
