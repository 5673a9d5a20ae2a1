//! Collection resources (reference §3.9): one filter, one order and one paging over several
//! resources; `resource_types` are the distinct types of the page's items in order of first
//! appearance.

use super::namespaces;
use crate::harness::{Harness, Query, Target};
use storage_api::collection::{self, CollectionResourceType, parse_any_types};

/// The queries every collection is checked with.
fn queries(h: &Harness) -> Vec<Query> {
    let clusters = h.fixtures().clusters();
    let ns = namespaces(h);
    vec![
        Query::new(),
        Query::new().in_cluster(&clusters[1]),
        Query::new().param("namespaces", format!("{},{}", ns[0], ns[2])),
        Query::new().param(
            "labelSelector",
            "app in (api,redis,node-exporter),tier!=cache",
        ),
        Query::new().param("fieldSelector", "metadata.generation=1"),
        Query::new().param("names", "api,redis,kube-root-ca.crt"),
        Query::new().param("fuzzyName", "e"),
        Query::new().param("orderby", "created_at desc"),
        Query::new().param("orderby", "resource desc,name"),
        Query::new().param("onlyMetadata", "true").param("limit", 5),
        Query::new()
            .param("limit", 4)
            .param("withRemainingCount", "true"),
    ]
}

async fn check_collection(h: &mut Harness, name: &str, types: Vec<CollectionResourceType>) {
    let storage = h.collection(name).await;
    let target = Target::Collection { storage, types };
    for query in queries(h) {
        h.check(&target, &query).await;
    }
    h.walk(&target, &Query::new(), 7).await;
}

/// The layer offers the built-in collections (`any`, `workloads`, `kuberesources`) as
/// [`collection::builtin`] defines them.
pub async fn builtin_collections_offered(h: Harness) {
    let offered = h.factory().collection_resources();
    for builtin in collection::builtin() {
        let found = offered.iter().find(|c| c.name == builtin.name);
        assert_eq!(
            found,
            Some(&builtin),
            "collection_resources() must offer the built-in {}",
            builtin.name
        );
    }
}

/// `workloads`: deployments, stateful sets and daemon sets together (replica sets and pods are
/// not workloads), with filters, orders and paging across the three resources.
pub async fn workloads(mut h: Harness) {
    h.load().await;
    let types = h
        .collection(collection::WORKLOADS)
        .await
        .collection()
        .resource_types
        .clone();
    check_collection(&mut h, collection::WORKLOADS, types).await;
}

/// `kuberesources`: every object of the Kubernetes built-in groups (core, apps,
/// discovery.k8s.io) and none of the custom resource `example.io/widgets`.
pub async fn kuberesources(mut h: Harness) {
    h.load().await;
    let types = h
        .collection(collection::KUBE_RESOURCES)
        .await
        .collection()
        .resource_types
        .clone();
    check_collection(&mut h, collection::KUBE_RESOURCES, types).await;
}

/// `any` with the types a request names: whole groups, one version of a group, single
/// resources (core and custom), cluster-scoped resources, and `groups=*` (everything).
pub async fn any_with_explicit_types(mut h: Harness) {
    h.load().await;
    for query in [
        "groups=apps&resources=/pods,example.io/v1/widgets",
        "resources=/nodes,discovery.k8s.io/endpointslices",
        "groups=apps/v1",
        "groups=*",
        "groups=example.io/v2",
    ] {
        let types = parse_any_types(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        check_collection(&mut h, collection::ANY, types).await;
    }
}

/// Orders special to collections (`group`, `version`, `resource`, both directions, combined)
/// and paging across resource types with several page sizes, over every stored object.
pub async fn order_and_paging_across_types(mut h: Harness) {
    h.load().await;
    let storage = h.collection(collection::ANY).await;
    let target = Target::Collection {
        storage,
        types: vec![CollectionResourceType::all()],
    };
    for order in [
        "group",
        "group desc",
        "resource",
        "resource desc,namespace desc",
        "version,created_at",
        "name,group desc",
    ] {
        let query = Query::new().param("orderby", order);
        if h.check(&target, &query).await {
            h.walk(&target, &query, 50).await;
        }
    }
    for limit in [2, 33] {
        h.walk(&target, &Query::new(), limit).await;
    }
}
