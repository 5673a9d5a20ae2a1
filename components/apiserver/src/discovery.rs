//! Kubernetes discovery documents (`APIVersions`, `APIGroupList`, `APIGroup`,
//! `APIResourceList`): those of the `clusterpedia.io/v1beta1` group itself, and those of the
//! Kubernetes API roots under `.../resources` built from what is stored.
//!
//! Only the legacy (unaggregated) discovery format is served: client-go asks for the
//! aggregated `apidiscovery.k8s.io` format first and falls back to this one when the answer's
//! content type is plain `application/json`.

use std::cmp::Ordering;

use bytes::Bytes;
use serde::Serialize;
use storage_api::Gvr;

/// The API group of this server.
pub(crate) const GROUP: &str = "clusterpedia.io";
/// The API version of this server.
pub(crate) const VERSION: &str = "v1beta1";
/// `clusterpedia.io/v1beta1`.
pub(crate) const GROUP_VERSION: &str = "clusterpedia.io/v1beta1";

/// One servable resource: its stored group/version/resource, kind and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceInfo {
    /// The stored group/version/resource.
    pub(crate) gvr: Gvr,
    /// The kind of its objects.
    pub(crate) kind: String,
    /// Whether its objects live in namespaces.
    pub(crate) namespaced: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResource<'a> {
    name: &'a str,
    singular_name: String,
    namespaced: bool,
    kind: &'a str,
    verbs: &'a [&'a str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    short_names: &'static [&'static str],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    categories: &'static [&'static str],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResourceList<'a> {
    kind: &'static str,
    api_version: &'static str,
    group_version: &'a str,
    resources: Vec<ApiResource<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupVersionForDiscovery {
    group_version: String,
    version: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    name: &'a str,
    versions: Vec<GroupVersionForDiscovery>,
    preferred_version: GroupVersionForDiscovery,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroupList<'a> {
    kind: &'static str,
    api_version: &'static str,
    groups: Vec<ApiGroup<'a>>,
}

fn to_bytes(value: &impl Serialize) -> Bytes {
    // Serializing these plain structs of strings cannot fail.
    serde_json::to_vec(value)
        .map(Bytes::from)
        .unwrap_or_default()
}

fn group_version(group: &str, version: &str) -> GroupVersionForDiscovery {
    GroupVersionForDiscovery {
        group_version: format!("{group}/{version}"),
        version: version.to_owned(),
    }
}

fn api_group_value<'a>(group: &'a str, versions: &[&str]) -> ApiGroup<'a> {
    ApiGroup {
        kind: None,
        api_version: None,
        name: group,
        versions: versions.iter().map(|v| group_version(group, v)).collect(),
        preferred_version: group_version(group, versions.first().copied().unwrap_or_default()),
    }
}

/// The `APIResourceList` of one group version (`v1` or `group/version`).
pub(crate) fn api_resource_list(gv: &str, resources: &[&ResourceInfo], verbs: &[&str]) -> Bytes {
    to_bytes(&ApiResourceList {
        kind: "APIResourceList",
        api_version: "v1",
        group_version: gv,
        resources: resources
            .iter()
            .map(|r| ApiResource {
                name: &r.gvr.resource,
                singular_name: r.kind.to_ascii_lowercase(),
                namespaced: r.namespaced,
                kind: &r.kind,
                verbs,
                short_names: short_names(&r.gvr.group, &r.gvr.resource),
                categories: categories(&r.gvr.group, &r.gvr.resource),
            })
            .collect(),
    })
}

/// The `APIGroup` of `group`, whose versions are given in order of preference.
pub(crate) fn api_group(group: &str, versions: &[&str]) -> Bytes {
    to_bytes(&ApiGroup {
        kind: Some("APIGroup"),
        api_version: Some("v1"),
        ..api_group_value(group, versions)
    })
}

/// The `APIGroupList` of the given groups (each with its versions in order of preference).
pub(crate) fn api_group_list(groups: &[(&str, Vec<&str>)]) -> Bytes {
    to_bytes(&ApiGroupList {
        kind: "APIGroupList",
        api_version: "v1",
        groups: groups
            .iter()
            .map(|(group, versions)| api_group_value(group, versions))
            .collect(),
    })
}

/// The `APIVersions` of a legacy `/api` root.
pub(crate) fn api_versions(versions: &[&str]) -> Bytes {
    #[derive(Serialize)]
    struct ApiVersions<'a> {
        kind: &'static str,
        versions: &'a [&'a str],
    }
    to_bytes(&ApiVersions {
        kind: "APIVersions",
        versions,
    })
}

/// `/apis` of the server root: the `clusterpedia.io` group.
pub(crate) fn root_group_list() -> Bytes {
    api_group_list(&[(GROUP, vec![VERSION])])
}

/// `/apis/clusterpedia.io`.
pub(crate) fn root_group() -> Bytes {
    api_group(GROUP, &[VERSION])
}

/// `/apis/clusterpedia.io/v1beta1`: `collectionresources` (get, list) and `resources` (the
/// Kubernetes API roots, reached by path).
pub(crate) fn root_resource_list() -> Bytes {
    to_bytes(&ApiResourceList {
        kind: "APIResourceList",
        api_version: "v1",
        group_version: GROUP_VERSION,
        resources: vec![
            ApiResource {
                name: "collectionresources",
                singular_name: "collectionresource".into(),
                namespaced: false,
                kind: "CollectionResource",
                verbs: &["get", "list"],
                short_names: &[],
                categories: &[],
            },
            ApiResource {
                name: "resources",
                singular_name: "resources".into(),
                namespaced: false,
                kind: "Resources",
                verbs: &[],
                short_names: &[],
                categories: &[],
            },
        ],
    })
}

/// `/version`: this server's version in the shape of the Kubernetes `version.Info`.
pub(crate) fn version() -> Bytes {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Info {
        major: &'static str,
        minor: &'static str,
        git_version: String,
        platform: String,
    }
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    to_bytes(&Info {
        major: parts.next().unwrap_or("0"),
        minor: parts.next().unwrap_or("0"),
        git_version: format!("v{version}-clusterpedia-rs"),
        platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}

/// A parsed Kubernetes-style version: `v<major>[(alpha|beta)<minor>]`.
fn kube_version(version: &str) -> Option<(u64, u8, u64)> {
    let rest = version.strip_prefix('v')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major: u64 = rest[..digits].parse().ok()?;
    if major == 0 {
        return None;
    }
    let rest = &rest[digits..];
    if rest.is_empty() {
        return Some((major, 2, 0));
    }
    let (stability, minor) = if let Some(minor) = rest.strip_prefix("beta") {
        (1, minor)
    } else if let Some(minor) = rest.strip_prefix("alpha") {
        (0, minor)
    } else {
        return None;
    };
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((major, stability, minor.parse().ok()?))
}

/// Orders versions by Kubernetes priority, most preferred first: GA before beta before alpha,
/// higher numbers first (`v2`, `v1`, `v1beta2`, `v1beta1`, `v1alpha1`), then versions that do
/// not look like Kubernetes versions, alphabetically.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    match (kube_version(a), kube_version(b)) {
        (Some((a_major, a_stability, a_minor)), Some((b_major, b_stability, b_minor))) => {
            b_stability
                .cmp(&a_stability)
                .then(b_major.cmp(&a_major))
                .then(b_minor.cmp(&a_minor))
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The short names kubectl knows the built-in resources by.
fn short_names(group: &str, resource: &str) -> &'static [&'static str] {
    match (group, resource) {
        ("", "pods") => &["po"],
        ("", "services") => &["svc"],
        ("", "configmaps") => &["cm"],
        ("", "namespaces") => &["ns"],
        ("", "nodes") => &["no"],
        ("", "persistentvolumes") => &["pv"],
        ("", "persistentvolumeclaims") => &["pvc"],
        ("", "serviceaccounts") => &["sa"],
        ("", "events") | ("events.k8s.io", "events") => &["ev"],
        ("", "endpoints") => &["ep"],
        ("", "replicationcontrollers") => &["rc"],
        ("", "limitranges") => &["limits"],
        ("", "resourcequotas") => &["quota"],
        ("apps", "deployments") | ("extensions", "deployments") => &["deploy"],
        ("apps", "replicasets") | ("extensions", "replicasets") => &["rs"],
        ("apps", "statefulsets") => &["sts"],
        ("apps", "daemonsets") | ("extensions", "daemonsets") => &["ds"],
        ("batch", "cronjobs") => &["cj"],
        ("networking.k8s.io", "ingresses") | ("extensions", "ingresses") => &["ing"],
        ("networking.k8s.io", "networkpolicies") => &["netpol"],
        ("autoscaling", "horizontalpodautoscalers") => &["hpa"],
        ("policy", "poddisruptionbudgets") => &["pdb"],
        ("storage.k8s.io", "storageclasses") => &["sc"],
        ("scheduling.k8s.io", "priorityclasses") => &["pc"],
        ("apiextensions.k8s.io", "customresourcedefinitions") => &["crd", "crds"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["csr"],
        _ => &[],
    }
}

/// The categories of the built-in resources (`kubectl get all`).
fn categories(group: &str, resource: &str) -> &'static [&'static str] {
    match (group, resource) {
        ("", "pods" | "services" | "replicationcontrollers")
        | ("apps", "deployments" | "replicasets" | "statefulsets" | "daemonsets")
        | ("batch", "jobs" | "cronjobs")
        | ("autoscaling", "horizontalpodautoscalers") => &["all"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_kubernetes_priority() {
        let mut versions = vec![
            "v1alpha1", "v1beta1", "foo", "v2", "v1", "v1beta2", "v10", "bar", "v2beta1",
        ];
        versions.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            versions,
            [
                "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo"
            ]
        );
    }

    #[test]
    fn root_documents_name_the_group() {
        let list: serde_json::Value = serde_json::from_slice(&root_group_list()).expect("json");
        assert_eq!(list["groups"][0]["name"], GROUP);
        assert_eq!(
            list["groups"][0]["preferredVersion"]["groupVersion"],
            GROUP_VERSION
        );
        let resources: serde_json::Value =
            serde_json::from_slice(&root_resource_list()).expect("json");
        assert_eq!(resources["resources"][0]["name"], "collectionresources");
        assert_eq!(
            resources["resources"][0]["verbs"],
            serde_json::json!(["get", "list"])
        );
    }
}
