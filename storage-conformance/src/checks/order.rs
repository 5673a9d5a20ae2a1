//! Ordering: every order field in both directions, several fields, and the default order. Each
//! order is checked unpaged and walked page by page (keyset continue tokens must work for every
//! order, ties and missing values included).

use super::{deployments, namespaces, nodes, pods};
use crate::harness::{Harness, Query, Target};
use storage_api::object::Gvr;

/// Checks `query` unpaged and walks it with pages of `limit`.
async fn check_and_walk(h: &mut Harness, gvr: &Gvr, query: &Query, limit: u64) {
    let target = Target::Resource(gvr.clone());
    if h.check(&target, query).await {
        h.walk(&target, query, limit).await;
    }
}

/// Every order field, ascending and descending: `cluster`, `namespace`, `name`, `created_at`
/// (with ties), `resource_version` (as a number: the fixtures' versions cross a power of ten,
/// so text order differs), and field paths (`status.podIP`, missing on pending pods, which sort
/// first; `metadata.labels.tier`, missing on some; `spec.nodeName`), written in the URL form
/// and as the search label; ties are broken by the default order.
pub async fn order_by_each_field(mut h: Harness) {
    h.load().await;
    let fields = [
        "cluster",
        "namespace",
        "name",
        "created_at",
        "resource_version",
        "status.podIP",
        "metadata.labels.tier",
        "spec.nodeName",
    ];
    for field in fields {
        // Pages of 7 for columns; larger pages for paths, where every page parses every pod.
        let limit = if field.contains('.') { 30 } else { 7 };
        for (url, label) in [
            (field.to_owned(), field.to_owned()),
            (format!("{field} desc"), format!("{field}_desc")),
        ] {
            let query = Query::new().param("orderby", &url);
            check_and_walk(&mut h, &pods(), &query, limit).await;
            let query = Query::new().param(
                "labelSelector",
                format!("search.clusterpedia.io/orderby={label}"),
            );
            h.check(&Target::Resource(pods()), &query).await;
        }
    }
    for field in [
        "created_at",
        "resource_version desc",
        "name desc",
        "metadata.creationTimestamp",
    ] {
        let query = Query::new().param("orderby", field);
        check_and_walk(&mut h, &deployments(), &query, 4).await;
        check_and_walk(&mut h, &nodes(), &query, 2).await;
    }
}

/// Several order fields: each one breaks the ties of the previous ones (`namespace,name desc`,
/// `created_at desc,cluster`, a path then a column), in the URL form and as the search label
/// (whose written order is kept).
pub async fn order_by_several_fields(mut h: Harness) {
    h.load().await;
    let queries = [
        Query::new().param("orderby", "namespace,name desc"),
        Query::new().param("orderby", "created_at desc,cluster"),
        Query::new().param("orderby", "metadata.labels.tier desc,name"),
        Query::new().param("orderby", "status.phase,resource_version desc"),
        Query::new().param("orderby", "name asc,namespace desc,cluster desc"),
        Query::new().param(
            "labelSelector",
            "search.clusterpedia.io/orderby in (namespace_desc,name)",
        ),
        Query::new()
            .param("orderby", "cluster desc,created_at")
            .param("labelSelector", "tier!=frontend"),
    ];
    for query in &queries {
        check_and_walk(&mut h, &pods(), query, 11).await;
    }
}

/// Without `orderby` items come in the default order (cluster, namespace, name), on every
/// resource, unpaged and paged, whatever order the objects were written in (the fixtures are
/// written shuffled).
pub async fn default_order(mut h: Harness) {
    h.load().await;
    let gvrs: Vec<Gvr> = h.fixtures().gvrs().into_iter().map(|c| c.gvr).collect();
    for gvr in &gvrs {
        check_and_walk(&mut h, gvr, &Query::new(), 6).await;
    }
    let namespace = namespaces(&h)[1].clone();
    check_and_walk(&mut h, &pods(), &Query::new().in_namespace(&namespace), 4).await;
}
