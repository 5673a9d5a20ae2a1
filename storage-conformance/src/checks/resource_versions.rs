//! `resource_versions(cluster)`: what a restarted synchro compares against, so that unchanged
//! objects are not written again and objects deleted meanwhile are deleted.

use serde_json::json;

use super::{configmaps, edited, nodes, pods};
use crate::harness::{Harness, comparable_versions};
use storage_api::Change;

async fn assert_versions(h: &Harness, cluster: &str, when: &str) {
    let got = h
        .factory()
        .resource_versions(cluster)
        .await
        .unwrap_or_else(|e| panic!("resource_versions({cluster}) {when} failed: {e}"));
    let got = comparable_versions(got);
    let want = comparable_versions(h.model().resource_versions(cluster));
    if got != want {
        for (gvr, (resources, events)) in &want {
            let (got_resources, got_events) = got.get(gvr).cloned().unwrap_or_default();
            let diff = resources
                .iter()
                .find(|(k, v)| got_resources.get(*k) != Some(v))
                .map(|(k, v)| format!("resources[{k}]: got {:?}, want {v:?}", got_resources.get(k)))
                .or_else(|| {
                    got_resources
                        .keys()
                        .find(|k| !resources.contains_key(*k))
                        .map(|k| format!("resources[{k}] is not stored"))
                })
                .or_else(|| {
                    events
                        .iter()
                        .find(|(k, v)| got_events.get(*k) != Some(v))
                        .map(|(k, v)| {
                            format!("events[{k}]: got {:?}, want {v:?}", got_events.get(k))
                        })
                })
                .or_else(|| {
                    got_events
                        .keys()
                        .find(|k| !events.contains_key(*k))
                        .map(|k| format!("events[{k}] is not recorded for a stored object"))
                });
            if let Some(diff) = diff {
                panic!("resource_versions({cluster}) {when}: {gvr}: {diff}");
            }
        }
        let extra: Vec<String> = got
            .keys()
            .filter(|g| !want.contains_key(*g))
            .map(ToString::to_string)
            .collect();
        panic!(
            "resource_versions({cluster}) {when}: entries for resources with nothing stored in the cluster: {extra:?}"
        );
    }
}

/// Per stored resource of the cluster, `namespace/name` (or `name` when cluster-scoped) → the
/// member resource version of exactly the stored objects of that cluster, and each recorded
/// event's `namespace/name` → the event's resource version. Resources with nothing stored in
/// the cluster may be absent or empty.
pub async fn map_stored_objects_and_events(mut h: Harness) {
    h.load().await;
    for cluster in h.fixtures().clusters() {
        assert_versions(&h, &cluster, "after loading the fixtures").await;
    }
}

/// Updates replace the version, deletes remove the key, new objects add one; a cleaned
/// resource disappears; versions stay the member's even when a layer rewrites
/// `metadata.resourceVersion`.
pub async fn follow_writes(mut h: Harness) {
    h.load_resources(&[configmaps(), nodes(), pods()]).await;
    let cluster = h.fixtures().clusters()[0].clone();
    let mine: Vec<_> = h
        .model()
        .objects(&configmaps())
        .into_iter()
        .filter(|o| *o.fields.cluster == *cluster)
        .take(3)
        .cloned()
        .collect();
    let changes = vec![
        Change::Upsert(edited(&mine[0], |v| v["data"] = json!({"v": "2"}))),
        Change::Delete(mine[1].fields.key()),
        Change::Upsert(super::renamed(&mine[2], "conformance-added")),
    ];
    h.apply(&configmaps(), changes).await;
    let node = h
        .model()
        .objects(&nodes())
        .into_iter()
        .find(|o| *o.fields.cluster == *cluster)
        .cloned()
        .expect("a node");
    h.apply(&nodes(), vec![Change::Delete(node.fields.key())])
        .await;
    assert_versions(&h, &cluster, "after an update, deletes and a create").await;
    h.factory()
        .clean_cluster_resource(&cluster, &pods())
        .await
        .expect("clean_cluster_resource");
    h.model_clean(&cluster, Some(&pods()));
    assert_versions(&h, &cluster, "after clean_cluster_resource(pods)").await;
    for other in h.fixtures().clusters().into_iter().skip(1) {
        assert_versions(&h, &other, "of another cluster after writes to the first").await;
    }
}

/// A cluster the layer holds nothing of (never written, or never prepared) has no versions: an
/// empty map (or only empty entries), not an error.
pub async fn unknown_cluster_is_empty(mut h: Harness) {
    assert_versions(&h, "no-such-cluster", "on an empty layer").await;
    h.load_resources(&[configmaps()]).await;
    assert_versions(&h, "no-such-cluster", "with other clusters stored").await;
    h.factory()
        .prepare_cluster("prepared-only")
        .await
        .expect("prepare_cluster");
    assert_versions(
        &h,
        "prepared-only",
        "for a prepared cluster with nothing stored",
    )
    .await;
}
