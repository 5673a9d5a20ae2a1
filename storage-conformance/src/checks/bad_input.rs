//! Odd but well-formed input: empty keys, unknown clusters, names full of characters that mean
//! something to query languages, an empty layer. Answers, never panics or internal errors.

use super::{configmaps, namespaces, pods};
use crate::harness::{Harness, Query, Target};
use storage_api::object::ObjectEvent;

/// `get` with an empty name, namespace or cluster, or names with quotes, `%`, `_`, `*` and
/// slashes, answers `404 NotFound` (or `400 BadRequest` for the empty name), never a panic or a
/// `500`.
pub async fn get_with_empty_or_unknown_keys(mut h: Harness) {
    h.load_resources(&[configmaps()]).await;
    let storage = h.storage(&configmaps()).await;
    let cluster = h.fixtures().clusters()[0].clone();
    let namespace = namespaces(&h)[0].clone();
    let keys = [
        (cluster.as_str(), namespace.as_str(), ""),
        ("", "", ""),
        ("", namespace.as_str(), "kube-root-ca.crt"),
        (cluster.as_str(), namespace.as_str(), "x' OR '1'='1"),
        (cluster.as_str(), namespace.as_str(), "kube-root-ca.%"),
        (cluster.as_str(), namespace.as_str(), "kube_root_ca.crt"),
        (cluster.as_str(), namespace.as_str(), "*"),
        (cluster.as_str(), namespace.as_str(), "../kube-root-ca.crt"),
        (cluster.as_str(), "%", "kube-root-ca.crt"),
        ("*", namespace.as_str(), "kube-root-ca.crt"),
    ];
    for (cluster, namespace, name) in keys {
        let context = format!("get {cluster:?}/{namespace:?}/{name:?}");
        match storage.get(cluster, namespace, name).await {
            Ok(object) => panic!(
                "{context}: want 404, got {}",
                crate::harness::identity(&object)
            ),
            Err(error) => {
                let code = error.status().code;
                let allowed = code == 404 || (name.is_empty() && code == 400);
                assert!(
                    allowed,
                    "{context}: want 404 NotFound (or 400 for an empty name), got {error:?}"
                );
            }
        }
    }
}

/// Lists of clusters that do not exist answer nothing (not an error); an unknown cluster among
/// known ones is ignored.
pub async fn unknown_clusters_list_nothing(mut h: Harness) {
    h.load_resources(&[pods(), configmaps()]).await;
    let known = h.fixtures().clusters()[2].clone();
    let queries = [
        Query::new().in_cluster("no-such-cluster"),
        Query::new().param("clusters", "no-such-cluster,another-one"),
        Query::new().param("clusters", format!("no-such-cluster,{known}")),
        Query::new()
            .in_cluster("no-such-cluster")
            .param("limit", 2)
            .param("withRemainingCount", "true"),
        Query::new().param(
            "labelSelector",
            "search.clusterpedia.io/clusters in (x,y,z)",
        ),
    ];
    for gvr in [pods(), configmaps()] {
        for query in &queries {
            h.check(&Target::Resource(gvr.clone()), query).await;
        }
    }
}

/// Names, namespaces and fuzzy names are literal text: `%`, `_`, `*`, `.`, quotes and
/// backslashes match only themselves (a layer that pastes them into `LIKE`, a regular
/// expression or a wildcard query finds objects here that do not match).
pub async fn literal_names_and_fuzzy_wildcards(mut h: Harness) {
    h.load_resources(&[pods(), configmaps()]).await;
    // `o_t` would match "root" as a LIKE pattern; `t.c` matches "ca.crt" and, as a regular
    // expression, "root-ca" too.
    let queries = [
        Query::new().param("fuzzyName", "%"),
        Query::new().param("fuzzyName", "_"),
        Query::new().param("fuzzyName", "o_t"),
        Query::new().param("fuzzyName", "*"),
        Query::new().param("fuzzyName", ".*"),
        Query::new().param("fuzzyName", "t.c"),
        Query::new().param("fuzzyName", "ca.crt"),
        Query::new().param("fuzzyName", "\\"),
        Query::new().param("fuzzyName", "'"),
        Query::new().param("names", "%,_,*,kube-root-ca.%"),
        Query::new().param("names", "x' OR '1'='1"),
        Query::new().param("namespaces", "%"),
        Query::new().param("clusters", "%,*"),
    ];
    for gvr in [pods(), configmaps()] {
        for query in &queries {
            h.check(&Target::Resource(gvr.clone()), query).await;
        }
    }
}

/// A fresh layer answers every read with nothing: lists are empty, recording events of objects
/// it does not hold succeeds, a cluster it never saw has no versions and no types.
pub async fn empty_layer(mut h: Harness) {
    for config in h.fixtures().gvrs() {
        h.check(&Target::Resource(config.gvr.clone()), &Query::new())
            .await;
        h.check(
            &Target::Resource(config.gvr),
            &Query::new()
                .param("limit", 1)
                .param("withRemainingCount", "true"),
        )
        .await;
    }
    let events: Vec<ObjectEvent> = h.fixtures().events.iter().take(5).cloned().collect();
    h.record_events(&pods(), events).await;
    h.check(
        &Target::Resource(pods()),
        &Query::new().param("labelSelector", "search.clusterpedia.io/inject-events=true"),
    )
    .await;
    let cluster = h.fixtures().clusters()[0].clone();
    let versions = h
        .factory()
        .resource_versions(&cluster)
        .await
        .expect("resource_versions");
    assert!(
        versions
            .values()
            .all(|v| v.resources.is_empty() && v.events.is_empty()),
        "resource_versions({cluster}) of an empty layer: {versions:?}"
    );
    let types = h
        .factory()
        .stored_resource_types()
        .await
        .expect("stored_resource_types");
    assert!(
        types.is_empty(),
        "stored_resource_types() of an empty layer: {types:?}"
    );
    h.factory()
        .check_ready()
        .await
        .expect("check_ready of a fresh layer");
}
