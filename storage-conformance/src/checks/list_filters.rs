//! Every filter of a list, alone and combined: clusters, namespaces, names, label and field
//! selectors, fuzzy names, creation-time ranges, metadata-only items. Each answer must equal
//! the reference evaluator's over the same objects.

use super::{configmaps, deployments, endpointslices, namespaces, nodes, pods, widgets};
use crate::harness::{Harness, Query, Target, note};
use storage_api::object::{Gvr, format_rfc3339};

/// Checks every query on every resource given; returns how many answers were compared.
async fn check_all(h: &mut Harness, gvrs: &[Gvr], queries: &[Query]) -> usize {
    let mut compared = 0;
    for gvr in gvrs {
        for query in queries {
            if h.check(&Target::Resource(gvr.clone()), query).await {
                compared += 1;
            }
        }
    }
    compared
}

fn labels(selector: &str) -> Query {
    Query::new().param("labelSelector", selector)
}

fn fields(selector: &str) -> Query {
    Query::new().param("fieldSelector", selector)
}

/// A list without options returns every object of the resource, in the default order
/// (cluster, namespace, name), for every fixture resource.
pub async fn list_everything(mut h: Harness) {
    h.load().await;
    let gvrs: Vec<Gvr> = h.fixtures().gvrs().into_iter().map(|c| c.gvr).collect();
    check_all(&mut h, &gvrs, &[Query::new()]).await;
}

/// Clusters (path scope, `clusters=`, the search label), namespaces (path, `namespaces=`, the
/// search label), names (`names=`, the search label), alone and together, on namespaced and
/// cluster-scoped resources. The same names exist in every cluster and namespace.
pub async fn clusters_namespaces_and_names(mut h: Harness) {
    h.load().await;
    let clusters = h.fixtures().clusters();
    let ns = namespaces(&h);
    let (c0, c1, c2) = (&clusters[0], &clusters[1], &clusters[2]);
    let (n0, n1, n2) = (&ns[0], &ns[1], &ns[2]);
    let queries = [
        Query::new().in_cluster(c0),
        Query::new().param("clusters", c1),
        Query::new().param("clusters", format!("{c2},{c0}")),
        labels(&format!("search.clusterpedia.io/clusters in ({c2},{c1})")),
        Query::new().in_namespace(n1),
        Query::new().param("namespaces", format!("{n0},{n2}")),
        labels(&format!("search.clusterpedia.io/namespaces={n2}")),
        Query::new().in_cluster(c1).in_namespace(n0),
        Query::new()
            .param("clusters", format!("{c0},{c1}"))
            .param("namespaces", n1),
        Query::new().param(
            "names",
            "api,web,redis-0,kube-root-ca.crt,worker-1,standalone",
        ),
        labels("search.clusterpedia.io/names in (worker,redis,control-plane)"),
        Query::new()
            .in_cluster(c2)
            .param("names", "kube-root-ca.crt"),
        Query::new()
            .param("clusters", c0)
            .param("namespaces", format!("{n0},{n1}"))
            .param("names", "api,kube-root-ca.crt"),
    ];
    check_all(
        &mut h,
        &[pods(), deployments(), configmaps(), nodes(), widgets()],
        &queries,
    )
    .await;
}

/// Every label operator: `=`, `==`, `!=`, `in`, `notin`, exists, `!key`, alone and combined;
/// `!=` and `notin` hold for objects without the label (the fixtures leave `tier`, `version`
/// and `env` off some objects, and nodes have no `app`); values with dots and dashes; empty
/// values; dotted and prefixed keys.
pub async fn label_selectors(mut h: Harness) {
    h.load().await;
    let queries: Vec<Query> = [
        "app=api",
        "app==web",
        "app!=api",
        "app in (api,redis,node-exporter)",
        "app notin (api,web)",
        "tier in (frontend,cache)",
        "tier notin (frontend)",
        "tier notin (frontend,backend,cache)",
        "version",
        "!version",
        "env=dev.canary",
        "env!=prod",
        "version in (v1.0.0,v2.3.6,v3.9.20)",
        "app=api,tier!=backend",
        "tier=backend,!env",
        "app,tier,version,env",
        "app=",
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/control-plane=",
        "!node-role.kubernetes.io/control-plane",
        "kubernetes.io/arch!=amd64",
        "topology.kubernetes.io/zone in (eu-west-1a,us-east-1a)",
        "example.io/size=large",
        "example.io/size notin (large),app",
        "apps.kubernetes.io/pod-index=1",
        "pod-template-hash",
    ]
    .iter()
    .map(|s| labels(s))
    .collect();
    check_all(
        &mut h,
        &[pods(), deployments(), configmaps(), nodes(), widgets()],
        &queries,
    )
    .await;
}

/// The label operators `>` and `<` (integer comparisons: `apps.kubernetes.io/pod-index>0`,
/// `pod-template-generation<2`; a non-integer label value never matches). A layer may refuse
/// them with `422 Invalid` (a note says so); any answer must equal the oracle's.
pub async fn label_selectors_greater_and_less(mut h: Harness) {
    h.load().await;
    let queries: Vec<Query> = [
        "apps.kubernetes.io/pod-index>0",
        "apps.kubernetes.io/pod-index<2",
        "apps.kubernetes.io/pod-index<1,app=redis",
        "pod-template-generation<2",
        "pod-template-generation>1,app=node-exporter",
        "version>1",
    ]
    .iter()
    .map(|s| labels(s))
    .collect();
    let total = queries.len();
    let compared = check_all(&mut h, &[pods()], &queries).await;
    if compared < total {
        note(format!(
            "label selectors with > or <: {compared} of {total} answered, the rest refused with 422"
        ));
    }
}

/// The enhanced field selector on scalar fields: strings, numbers (`spec.replicas=3`, compared
/// as their JSON text), booleans, missing fields (`!=`, `notin` and `!path` hold), dotted keys
/// (`metadata.annotations['example.io/team']`, `data['app.yaml']`), the quoted segment forms,
/// an empty string value, `>`/`<` on numbers, and several requirements together.
pub async fn field_selectors(mut h: Harness) {
    h.load().await;
    let pod = super::first_fixture(&h, &pods());
    let pod_queries: Vec<Query> = [
        "status.phase=Running".to_owned(),
        "status.phase!=Running".to_owned(),
        "status.phase in (Pending,Failed)".to_owned(),
        "spec.nodeName=worker-1".to_owned(),
        format!("metadata.name={}", pod.fields.name),
        format!("metadata.namespace!={}", pod.fields.namespace),
        "!status.podIP".to_owned(),
        "status.podIP".to_owned(),
        "metadata.annotations['example.io/team']=platform".to_owned(),
        ".metadata.annotations['example.io/team'] notin (platform)".to_owned(),
        "metadata.annotations.'example.io/team'==web-ux".to_owned(),
        "metadata.annotations[\"example.io/team\"]".to_owned(),
        "metadata.labels.app=api".to_owned(),
        "metadata.labels['apps.kubernetes.io/pod-index']=0".to_owned(),
        "spec.terminationGracePeriodSeconds=30".to_owned(),
        "status.phase=Running,spec.nodeName!=worker-2,metadata.labels.tier".to_owned(),
        "metadata.annotations['shadow.clusterpedia.io/cluster-name']=staging".to_owned(),
    ]
    .iter()
    .map(|s| fields(s))
    .collect();
    check_all(&mut h, &[pods()], &pod_queries).await;

    let deployment_queries: Vec<Query> = [
        "spec.replicas=3",
        "spec.replicas!=3",
        "spec.replicas in (0,3)",
        "metadata.generation=2",
        "spec.replicas>2",
        "metadata.generation<2",
        "status.availableReplicas>0,metadata.annotations['example.io/team']",
        "spec.strategy.rollingUpdate.maxSurge=25%",
    ]
    .iter()
    .map(|s| fields(s))
    .collect();
    check_all(&mut h, &[deployments()], &deployment_queries).await;

    let misc: Vec<Query> = [
        "spec.paused=true",
        "spec.paused!=true",
        "spec.color in (red,blue)",
        "status.phase=Reconciling",
        "data.LOG_FORMAT=json",
        "data.FEATURE_FLAGS=",
        "data['app.yaml']",
        "!data['ca.crt']",
        "status.nodeInfo.architecture=arm64",
        "spec.podCIDR",
    ]
    .iter()
    .map(|s| fields(s))
    .collect();
    check_all(&mut h, &[widgets(), configmaps(), nodes()], &misc).await;
}

/// The enhanced field selector through lists: `[]` (any element) and `[N]` (one element),
/// positive and negative operators. A layer may refuse these with `422 Invalid` (a note says
/// so); any answer must equal the oracle's.
pub async fn field_selectors_on_lists(mut h: Harness) {
    h.load().await;
    let queries: Vec<(Gvr, &str)> = vec![
        (pods(), "spec.containers[].name=envoy"),
        (pods(), "spec.containers[].name!=envoy"),
        (pods(), "spec.containers[0].ports[0].containerPort=8080"),
        (pods(), "status.containerStatuses[].ready=false"),
        (pods(), "spec.containers[1].image"),
        (pods(), "!spec.containers[1].image"),
        (pods(), "spec.containers[].env[].name in (DATABASE_URL)"),
        (deployments(), "spec.template.spec.containers[0].name=api"),
        (endpointslices(), "endpoints[].nodeName=worker-1"),
        (
            nodes(),
            "status.addresses[0].type=InternalIP,spec.taints[].effect=NoSchedule",
        ),
    ];
    let total = queries.len();
    let mut compared = 0;
    for (gvr, selector) in queries {
        if h.check(&Target::Resource(gvr), &fields(selector)).await {
            compared += 1;
        }
    }
    if compared < total {
        note(format!(
            "field selectors on lists: {compared} of {total} answered, the rest refused with 422"
        ));
    }
}

/// Fuzzy names (`fuzzyName=`, `internalstorage.clusterpedia.io/fuzzy-name`, its
/// `search.clusterpedia.io` alias): case-sensitive substrings of the name, all of several.
pub async fn fuzzy_names(mut h: Harness) {
    h.load().await;
    let queries = [
        Query::new().param("fuzzyName", "api"),
        Query::new().param("fuzzyName", "re,di"),
        Query::new().param("fuzzyName", "API"),
        Query::new().param("fuzzyName", "-0"),
        labels("internalstorage.clusterpedia.io/fuzzy-name=work"),
        labels("search.clusterpedia.io/fuzzy-name in (e,r)"),
        Query::new()
            .param("fuzzyName", "kube-root")
            .param("namespaces", namespaces(&h)[0].clone()),
    ];
    check_all(&mut h, &[pods(), configmaps(), nodes()], &queries).await;
}

/// `since` (inclusive) and `before` (exclusive) on the creation time, at the exact creation
/// second of stored objects (ties included), in every accepted format (RFC 3339, date, date and
/// time, Unix seconds and milliseconds) and as search labels.
pub async fn creation_time_ranges(mut h: Harness) {
    h.load().await;
    let mut times: Vec<i64> = h
        .model()
        .objects(&pods())
        .iter()
        .filter_map(|p| p.fields.creation_timestamp)
        .collect();
    times.sort_unstable();
    let middle = times[times.len() / 2];
    let tie = times
        .windows(2)
        .find(|w| w[0] == w[1])
        .map_or(middle, |w| w[0]);
    let rfc = format_rfc3339;
    let datetime = |t: i64| rfc(t).replace('T', " ").trim_end_matches('Z').to_owned();
    let mut queries = Vec::new();
    for t in [middle, tie, times[0], times[times.len() - 1]] {
        queries.extend([
            Query::new().param("since", rfc(t)),
            Query::new().param("before", rfc(t)),
            Query::new()
                .param("since", rfc(t))
                .param("before", rfc(t + 1000)),
            Query::new().param("since", rfc(t)).param("before", rfc(t)),
            Query::new().param("since", datetime(t)),
            Query::new().param("before", (t / 1000).to_string()),
            Query::new().param("since", t.to_string()),
            labels(&format!("search.clusterpedia.io/since={}", t / 1000)),
            labels(&format!("search.clusterpedia.io/before={t}")),
        ]);
    }
    queries.extend([
        Query::new().param("since", &rfc(times[0])[..10]),
        Query::new().param("before", "2024-03-02"),
        Query::new().param("since", "2099-01-01"),
        Query::new().param("before", "2000-01-01T00:00:00+02:00"),
        Query::new()
            .param("since", "2024-03-01T09:30:00+01:00")
            .param("before", "2024-03-01T12:00:00.500Z"),
    ]);
    check_all(&mut h, &[pods(), deployments(), nodes()], &queries).await;
}

/// `onlyMetadata=true`: items are `{apiVersion, kind, metadata}` of the stored objects, with
/// every other filter and paging still applied.
pub async fn only_metadata(mut h: Harness) {
    h.load().await;
    let queries = [
        Query::new().param("onlyMetadata", "true"),
        Query::new()
            .param("onlyMetadata", "true")
            .param("labelSelector", "app=api")
            .param("limit", 4),
        Query::new()
            .param("onlyMetadata", "")
            .param("fieldSelector", "status.phase=Running"),
    ];
    check_all(&mut h, &[pods(), nodes(), widgets()], &queries).await;
}

/// Several filters at once (scope, lists, label and field selectors, fuzzy name, time range,
/// order and limit): each narrows the others.
pub async fn combined_filters(mut h: Harness) {
    h.load().await;
    let clusters = h.fixtures().clusters();
    let ns = namespaces(&h);
    let queries = [
        Query::new()
            .in_cluster(&clusters[0])
            .param("namespaces", format!("{},{}", ns[0], ns[2]))
            .param("labelSelector", "tier!=backend,app notin (redis)")
            .param("fieldSelector", "status.phase=Running")
            .param("orderby", "created_at desc")
            .param("limit", 5),
        Query::new()
            .param("clusters", format!("{},{}", clusters[1], clusters[2]))
            .param("fuzzyName", "e")
            .param("since", "2024-03-01T08:05:00Z")
            .param("labelSelector", "app,!version")
            .param("orderby", "name desc"),
        Query::new()
            .in_namespace(&ns[1])
            .param("names", "redis-0,redis-1,redis-2")
            .param(
                "labelSelector",
                "search.clusterpedia.io/clusters in (nowhere,".to_owned() + &clusters[2] + ")",
            ),
    ];
    check_all(&mut h, &[pods()], &queries).await;
}

/// Queries that match nothing answer an empty page, with no continue token and a remaining
/// count of 0 (not an error).
pub async fn empty_results(mut h: Harness) {
    h.load().await;
    let queries = [
        Query::new().param("names", "does-not-exist"),
        labels("app=no-such-app"),
        fields("metadata.name=no-such-pod"),
        Query::new().in_namespace("no-such-namespace"),
        Query::new().param("fuzzyName", "zzzz"),
        Query::new()
            .param("since", "2090-01-01")
            .param("limit", 3)
            .param("withRemainingCount", "true"),
    ];
    check_all(&mut h, &[pods(), nodes()], &queries).await;
}

/// Per-user results: the access scope the apiserver adds (whole clusters, namespaces of a
/// cluster, nothing), alone, with other filters, on namespaced and cluster-scoped resources,
/// and paged (continue tokens and remaining counts stay exact).
pub async fn access_scope(mut h: Harness) {
    use std::collections::BTreeMap;
    use storage_api::query::{AccessScope, NamespaceAccess};
    h.load().await;
    let clusters = h.fixtures().clusters();
    let ns = namespaces(&h);
    let scope = |entries: Vec<(&String, NamespaceAccess)>| AccessScope {
        clusters: entries
            .into_iter()
            .map(|(c, a)| (c.clone(), a))
            .collect::<BTreeMap<_, _>>(),
    };
    let only =
        |names: &[&String]| NamespaceAccess::Only(names.iter().map(|n| (*n).clone()).collect());
    let mixed = scope(vec![
        (&clusters[0], NamespaceAccess::All),
        (&clusters[1], only(&[&ns[0], &ns[2]])),
    ]);
    let namespaces_only = scope(vec![(&clusters[2], only(&[&ns[1]]))]);
    let nothing = AccessScope::default();
    let queries = [
        Query::new().with_access(mixed.clone()),
        Query::new().with_access(namespaces_only.clone()),
        Query::new().with_access(nothing.clone()),
        Query::new()
            .param("clusters", format!("{},{}", clusters[1], clusters[2]))
            .with_access(mixed.clone()),
        Query::new().in_namespace(&ns[2]).with_access(mixed.clone()),
        labels("app").with_access(mixed.clone()),
    ];
    let gvrs = [pods(), nodes(), deployments()];
    check_all(&mut h, &gvrs, &queries).await;
    for limit in [1, 3] {
        h.walk(
            &Target::Resource(pods()),
            &Query::new().with_access(mixed.clone()),
            limit,
        )
        .await;
    }
    note(format!("access scopes checked on {} resources", gvrs.len()));
}
