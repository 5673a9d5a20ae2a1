//! Owner queries (reference §14.5): children of an owner given by uid or by name (optionally
//! pinned to a group/resource and restricted to the request's namespaces), at seniority 0
//! (children), 1 (grandchildren: pods of a deployment) and 2 (pods of a widget that owns a
//! deployment). The oracle resolves owners over every stored object of the cluster, of every
//! resource.

use super::{deployments, endpointslices, namespaces, pods, replicasets};
use crate::harness::{Harness, Query, Target};
use storage_api::object::{Gvr, ResourceObject};

/// The deployment owned by a widget of the same name in the first namespace of `cluster`.
fn widget_deployment(h: &Harness, cluster: &str) -> ResourceObject {
    let ns = &namespaces(h)[0];
    h.model()
        .objects(&deployments())
        .into_iter()
        .find(|d| {
            &*d.fields.cluster == cluster
                && d.fields.namespace == *ns
                && !d.fields.owner_uid.is_empty()
        })
        .cloned()
        .unwrap_or_else(|| panic!("a widget-owned deployment in {cluster}/{ns}"))
}

fn replicaset_of(h: &Harness, deployment: &ResourceObject) -> ResourceObject {
    h.model()
        .objects(&replicasets())
        .into_iter()
        .filter(|r| {
            r.fields.cluster == deployment.fields.cluster
                && r.fields.owner_uid == deployment.fields.uid
        })
        .max_by_key(|r| r.fields.labels.get("pod-template-hash").map(str::len))
        .cloned()
        .unwrap_or_else(|| panic!("a replica set of deployment {}", deployment.fields.name))
}

async fn check_all(h: &mut Harness, queries: &[(Gvr, Query)]) {
    for (gvr, query) in queries {
        h.check(&Target::Resource(gvr.clone()), query).await;
    }
}

/// By owner uid: pods of a replica set (seniority 0), pods of a deployment (seniority 1), pods
/// of a widget (seniority 2), replica sets of a deployment; an unknown uid matches nothing; the
/// uid wins over a name given with it. In every cluster.
pub async fn owner_uid(mut h: Harness) {
    h.load().await;
    for cluster in h.fixtures().clusters() {
        let deployment = widget_deployment(&h, &cluster);
        let replicaset = replicaset_of(&h, &deployment);
        let c = Query::new().in_cluster(&cluster);
        let queries = [
            (pods(), c.clone().param("ownerUID", &replicaset.fields.uid)),
            (
                pods(),
                c.clone()
                    .param("ownerUID", &deployment.fields.uid)
                    .param("ownerSeniority", 1),
            ),
            (
                pods(),
                c.clone()
                    .param("ownerUID", &deployment.fields.owner_uid)
                    .param("ownerSeniority", 2),
            ),
            (
                replicasets(),
                c.clone().param("ownerUID", &deployment.fields.uid),
            ),
            (
                deployments(),
                c.clone().param("ownerUID", &deployment.fields.owner_uid),
            ),
            (
                pods(),
                c.clone()
                    .param("ownerUID", "no-such-uid")
                    .param("ownerSeniority", 1),
            ),
            (
                pods(),
                c.clone()
                    .param("ownerUID", &replicaset.fields.uid)
                    .param("ownerName", "no-such-owner"),
            ),
            (
                pods(),
                c.clone().param(
                    "labelSelector",
                    format!("search.clusterpedia.io/owner-uid={}", replicaset.fields.uid),
                ),
            ),
        ];
        check_all(&mut h, &queries).await;
    }
}

/// By owner name, at seniority 0, 1 and 2: the name alone matches owners of every kind with that
/// name (a widget, a deployment and a service share it), across the namespaces of the cluster;
/// an unknown name matches nothing.
pub async fn owner_name_and_seniority(mut h: Harness) {
    h.load().await;
    for cluster in h.fixtures().clusters() {
        let deployment = widget_deployment(&h, &cluster);
        let name = deployment.fields.name.clone();
        let c = Query::new().in_cluster(&cluster);
        let queries = [
            (replicasets(), c.clone().param("ownerName", &name)),
            (pods(), c.clone().param("ownerName", &name).param("ownerSeniority", 1)),
            (pods(), c.clone().param("ownerName", &name).param("ownerSeniority", 2)),
            (deployments(), c.clone().param("ownerName", &name)),
            (endpointslices(), c.clone().param("ownerName", &name)),
            (pods(), c.clone().param("ownerName", "redis")),
            (pods(), c.clone().param("ownerName", "node-exporter").param("ownerSeniority", 0)),
            (pods(), c.clone().param("ownerName", "no-such-owner").param("ownerSeniority", 1)),
            (
                pods(),
                c.clone().param(
                    "labelSelector",
                    format!("search.clusterpedia.io/owner-name={name},search.clusterpedia.io/owner-seniority=1"),
                ),
            ),
        ];
        check_all(&mut h, &queries).await;
    }
}

/// `ownerGR` pins the owner's kind: a deployment and a service share a name, so replica sets
/// of `deployments.apps` are found and none of `services`; endpoint slices of `services` are
/// found and none of `deployments.apps`; pods of `widgets.example.io` at seniority 2.
pub async fn owner_group_resource(mut h: Harness) {
    h.load().await;
    for cluster in h.fixtures().clusters() {
        let name = widget_deployment(&h, &cluster).fields.name.clone();
        let c = Query::new().in_cluster(&cluster).param("ownerName", &name);
        let queries = [
            (
                replicasets(),
                c.clone().param("ownerGR", "deployments.apps"),
            ),
            (replicasets(), c.clone().param("ownerGR", "services")),
            (endpointslices(), c.clone().param("ownerGR", "services")),
            (
                endpointslices(),
                c.clone().param("ownerGR", "deployments.apps"),
            ),
            (
                pods(),
                c.clone()
                    .param("ownerGR", "deployments.apps")
                    .param("ownerSeniority", 1),
            ),
            (
                pods(),
                c.clone()
                    .param("ownerGR", "widgets.example.io")
                    .param("ownerSeniority", 2),
            ),
            (
                pods(),
                c.clone()
                    .param("ownerGR", "replicasets.apps")
                    .param("ownerSeniority", 1),
            ),
            (
                deployments(),
                c.clone().param("ownerGR", "widgets.example.io"),
            ),
            (
                pods(),
                Query::new()
                    .in_cluster(&cluster)
                    .param("ownerName", "redis")
                    .param("ownerGR", "statefulsets.apps"),
            ),
        ];
        check_all(&mut h, &queries).await;
    }
}

/// The request's namespaces restrict the owner found by name (it must live in one of them):
/// deployments of the same name exist in several namespaces of a cluster.
pub async fn owner_namespaces(mut h: Harness) {
    h.load().await;
    let ns = namespaces(&h);
    for cluster in h.fixtures().clusters() {
        let c = Query::new().in_cluster(&cluster);
        // Names that exist in several namespaces of this cluster.
        let mut names: Vec<String> = h
            .model()
            .objects(&deployments())
            .into_iter()
            .filter(|d| *d.fields.cluster == *cluster)
            .map(|d| d.fields.name.clone())
            .collect();
        names.sort();
        let repeated: Vec<String> = names
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0].clone())
            .collect();
        assert!(
            !repeated.is_empty(),
            "the fixtures repeat deployment names across namespaces"
        );
        for name in repeated.iter().take(2) {
            let queries = [
                (
                    pods(),
                    c.clone()
                        .param("ownerName", name)
                        .param("ownerSeniority", 1),
                ),
                (
                    pods(),
                    c.clone()
                        .in_namespace(&ns[1])
                        .param("ownerName", name)
                        .param("ownerSeniority", 1),
                ),
                (
                    pods(),
                    c.clone()
                        .param("namespaces", format!("{},{}", ns[0], ns[2]))
                        .param("ownerName", name)
                        .param("ownerSeniority", 1),
                ),
                (
                    replicasets(),
                    c.clone()
                        .in_namespace(&ns[2])
                        .param("ownerName", name)
                        .param("ownerGR", "deployments.apps"),
                ),
            ];
            check_all(&mut h, &queries).await;
        }
    }
}

/// Owner queries combine with the other filters, orders and paging.
pub async fn owner_with_filters_and_paging(mut h: Harness) {
    h.load().await;
    let cluster = h.fixtures().clusters()[1].clone();
    let name = widget_deployment(&h, &cluster).fields.name.clone();
    let query = Query::new()
        .in_cluster(&cluster)
        .param("ownerName", &name)
        .param("ownerSeniority", 1)
        .param("orderby", "created_at desc");
    let target = Target::Resource(pods());
    h.check(
        &target,
        &query.clone().param("fieldSelector", "status.phase=Running"),
    )
    .await;
    h.check(
        &target,
        &query.clone().param("labelSelector", "tier!=backend"),
    )
    .await;
    h.walk(&target, &query, 1).await;
    h.walk(
        &target,
        &Query::new()
            .in_cluster(&cluster)
            .param("ownerName", "redis"),
        2,
    )
    .await;
}
