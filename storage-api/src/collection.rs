//! Collection resources (reference §3.9): named sets of resource types searched together,
//! such as `workloads` (deployments, daemonsets and statefulsets), with one filter, one order
//! and one paging over all of them.
//!
//! Three are built in ([`builtin`]):
//!
//! - `any`: no types of its own; each request names them with its `groups` and `resources`
//!   URL parameters ([`parse_any_types`]);
//! - `workloads`: `apps` deployments, daemonsets and statefulsets (any version);
//! - `kuberesources`: every Kubernetes built-in API group, whole.
//!
//! A storage layer receives the types to search as a `&[CollectionResourceType]`; a type may be
//! the wildcard [`CollectionResourceType::all`] (from `groups=*`), which matches every resource:
//! test [`CollectionResourceType::is_all`] before turning types into filters.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};
use crate::object::{Gvr, ResourceObject};
use crate::storage::{CollectionPage, ListPage, StoredResourceType};

/// The collection resource whose types each request names (`groups` / `resources`).
pub const ANY: &str = "any";
/// The collection resource of `apps` deployments, daemonsets and statefulsets.
pub const WORKLOADS: &str = "workloads";
/// The collection resource of every Kubernetes built-in API group.
pub const KUBE_RESOURCES: &str = "kuberesources";

/// The group of the wildcard type [`CollectionResourceType::all`]: no API group has this name
/// (group names are DNS subdomains), so it cannot be mistaken for a real one.
pub const ALL_GROUPS: &str = "*";

/// The URL parameter of an `any` request naming whole groups (or group versions).
const GROUPS_PARAMETER: &str = "groups";
/// The URL parameter of an `any` request naming resources.
const RESOURCES_PARAMETER: &str = "resources";

/// The Kubernetes built-in API groups, sorted (`""` is the core group): the groups of the
/// original's legacy scheme (`k8s.io/kubernetes/pkg/apis` plus `apiextensions.k8s.io`), with
/// `resource.k8s.io` and `storagemigration.k8s.io` of newer Kubernetes releases.
const KUBE_GROUPS: &[&str] = &[
    "",
    "admission.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "flowcontrol.apiserver.k8s.io",
    "imagepolicy.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// One type of a collection resource: a group (+ optional version, + optional resource;
/// empty = all).
///
/// The group [`ALL_GROUPS`] (`*`) is the wildcard made by [`CollectionResourceType::all`]: it
/// matches every resource of every group, whatever its version and resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CollectionResourceType {
    /// The API group; empty for the core group; [`ALL_GROUPS`] for the wildcard.
    pub group: String,
    /// The API version; empty for any version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The plural resource name; empty for every resource of the group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
}

impl CollectionResourceType {
    /// A type of `group`, `version` and `resource` (empty version or resource: any).
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }

    /// Every resource of `group`, in any version.
    pub fn group(group: &str) -> Self {
        Self::new(group, "", "")
    }

    /// The wildcard: every resource of every group (`groups=*`).
    pub fn all() -> Self {
        Self::group(ALL_GROUPS)
    }

    /// Whether this is the wildcard [`CollectionResourceType::all`].
    pub fn is_all(&self) -> bool {
        self.group == ALL_GROUPS
    }

    /// Whether objects of `gvr` belong to this type: the group must be equal (or this is the
    /// wildcard); an empty version or resource matches any.
    pub fn matches(&self, gvr: &Gvr) -> bool {
        self.is_all()
            || (self.group == gvr.group
                && (self.version.is_empty() || self.version == gvr.version)
                && (self.resource.is_empty() || self.resource == gvr.resource))
    }
}

/// A named set of resource types searched together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectionResource {
    /// The name, e.g. `workloads`.
    pub name: String,
    /// The types; empty for `any`, whose types each request names.
    #[serde(default)]
    pub resource_types: Vec<CollectionResourceType>,
}

impl CollectionResource {
    /// Whether objects of `gvr` belong to this collection (any of its types matches).
    pub fn matches(&self, gvr: &Gvr) -> bool {
        self.resource_types.iter().any(|t| t.matches(gvr))
    }
}

impl CollectionPage {
    /// `page` with its [`CollectionPage::resource_types`]: the distinct types of its items, in
    /// order of first appearance (the rule of the contract).
    ///
    /// `type_of` gives the type of each item; it is called once per item, in order (so a layer
    /// that fetched the types beside the items can hand them over with an iterator's `next`).
    /// `None` leaves the item out of the types.
    pub fn from_page(
        page: ListPage,
        mut type_of: impl FnMut(&ResourceObject) -> Option<StoredResourceType>,
    ) -> Self {
        let mut resource_types: Vec<StoredResourceType> = Vec::new();
        for item in &page.items {
            if let Some(resource_type) = type_of(item)
                && !resource_types.contains(&resource_type)
            {
                resource_types.push(resource_type);
            }
        }
        Self {
            resource_types,
            page,
        }
    }
}

/// The built-in collection resources: `any`, `workloads` and `kuberesources`, in this order.
pub fn builtin() -> Vec<CollectionResource> {
    vec![
        CollectionResource {
            name: ANY.into(),
            resource_types: Vec::new(),
        },
        CollectionResource {
            name: WORKLOADS.into(),
            resource_types: ["deployments", "daemonsets", "statefulsets"]
                .into_iter()
                .map(|resource| CollectionResourceType::new("apps", "", resource))
                .collect(),
        },
        CollectionResource {
            name: KUBE_RESOURCES.into(),
            resource_types: KUBE_GROUPS
                .iter()
                .map(|g| CollectionResourceType::group(g))
                .collect(),
        },
    ]
}

/// The types of an `any` request from its `groups` and `resources` URL parameters
/// (reference §3.9), from a raw (percent-encoded) URL query string.
///
/// - `groups=g1,g2/v1,*`: whole groups, or one version of a group; an empty item or `/` is the
///   core group; `*` means every resource of every group and makes the answer the single
///   wildcard [`CollectionResourceType::all`].
/// - `resources=group/resource,group/version/resource,/pods,//pods`: single resources; the
///   resource part must not be empty.
///
/// Spaces inside items are removed, as in the original. Repeated parameters are appended (the
/// original reads only the first). Duplicate types are dropped, keeping the first.
///
/// Errors (`400 BadRequest`): neither parameter given: ``url query - `groups` or `resources` is
/// required``; a bad item: `groups query: unexpected GroupVersion string: ...` or
/// `resources query: unexpected GroupVersionResource string: ...`.
pub fn parse_any_types(query: &str) -> Result<Vec<CollectionResourceType>> {
    let mut given = false;
    let mut types: Vec<CollectionResourceType> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let parse: fn(&str) -> Result<CollectionResourceType> = match key.as_ref() {
            GROUPS_PARAMETER => parse_group_version,
            RESOURCES_PARAMETER => parse_group_version_resource,
            _ => continue,
        };
        given = true;
        for item in value.split(',') {
            let item: String = item.chars().filter(|c| *c != ' ').collect();
            let parsed = parse(&item)?;
            if !types.contains(&parsed) {
                types.push(parsed);
            }
        }
    }
    if !given {
        return Err(StorageError::bad_request(
            GROUPS_PARAMETER,
            "url query - `groups` or `resources` is required",
        ));
    }
    if types.iter().any(CollectionResourceType::is_all) {
        return Ok(vec![CollectionResourceType::all()]);
    }
    Ok(types)
}

/// `group`, `group/version`, `""` or `/` (core group), or `*`.
fn parse_group_version(item: &str) -> Result<CollectionResourceType> {
    if item == ALL_GROUPS {
        return Ok(CollectionResourceType::all());
    }
    if item.is_empty() || item == "/" {
        return Ok(CollectionResourceType::group(""));
    }
    let parts: Vec<&str> = item.split('/').collect();
    match parts.as_slice() {
        [group] => Ok(CollectionResourceType::group(group)),
        [group, version] => Ok(CollectionResourceType::new(group, version, "")),
        _ => Err(StorageError::bad_request(
            GROUPS_PARAMETER,
            format!(
                "{GROUPS_PARAMETER} query: unexpected GroupVersion string: {item}, \
                 expect <group> or <group>/<version>"
            ),
        )),
    }
}

/// `group/resource` or `group/version/resource` (the group and version may be empty; the
/// resource may not).
fn parse_group_version_resource(item: &str) -> Result<CollectionResourceType> {
    let parts: Vec<&str> = item.split('/').collect();
    match parts.as_slice() {
        [group, resource] if !resource.is_empty() => {
            Ok(CollectionResourceType::new(group, "", resource))
        }
        [group, version, resource] if !resource.is_empty() => {
            Ok(CollectionResourceType::new(group, version, resource))
        }
        _ => Err(StorageError::bad_request(
            RESOURCES_PARAMETER,
            format!(
                "{RESOURCES_PARAMETER} query: unexpected GroupVersionResource string: {item}, \
                 expect <group>/<resource> or <group>/<version>/<resource>"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(group: &str, version: &str, resource: &str) -> CollectionResourceType {
        CollectionResourceType::new(group, version, resource)
    }

    fn message(query: &str) -> String {
        let err = parse_any_types(query).expect_err(query);
        assert_eq!(err.status().code, 400, "{query}");
        match err {
            StorageError::BadRequest { message, .. } => message,
            other => panic!("not a bad request: {other}"),
        }
    }

    #[test]
    fn type_matching() {
        let deployments = Gvr::new("apps", "v1", "deployments");
        let pods = Gvr::new("", "v1", "pods");
        assert!(t("apps", "", "").matches(&deployments));
        assert!(t("apps", "v1", "").matches(&deployments));
        assert!(!t("apps", "v1beta2", "").matches(&deployments));
        assert!(t("apps", "", "deployments").matches(&deployments));
        assert!(t("apps", "v1", "deployments").matches(&deployments));
        assert!(!t("apps", "", "statefulsets").matches(&deployments));
        assert!(!t("", "", "deployments").matches(&deployments));
        assert!(t("", "", "").matches(&pods));
        assert!(!t("", "", "").matches(&deployments));
        assert!(CollectionResourceType::all().matches(&pods));
        assert!(CollectionResourceType::all().matches(&deployments));
        assert!(CollectionResourceType::all().is_all());
        assert!(!t("apps", "", "").is_all());
    }

    #[test]
    fn collection_pages_list_distinct_types_in_order_of_first_appearance() {
        use std::sync::Arc;

        let object = |cluster: &str, gvr: &Gvr, kind: &str, name: &str| {
            let raw = format!(
                r#"{{"apiVersion":"{}","kind":"{kind}","metadata":{{"name":"{name}","namespace":"ns"}}}}"#,
                gvr.api_version()
            );
            ResourceObject::parse(cluster.into(), Arc::new(gvr.clone()), raw.into())
                .expect("object")
        };
        let deployments = Gvr::new("apps", "v1", "deployments");
        let jobs = Gvr::new("batch", "v1", "jobs");
        let items = vec![
            object("c2", &jobs, "Job", "a"),
            object("c1", &deployments, "Deployment", "b"),
            object("c2", &jobs, "Job", "c"),
            object("c1", &jobs, "Job", "d"),
            object("c1", &deployments, "Deployment", "e"),
            object("c3", &jobs, "Job", "skipped"),
        ];
        let page = ListPage {
            items,
            continue_token: Some("next".into()),
            remaining_item_count: None,
            resource_version: None,
        };
        let mut calls = 0;
        let collection = CollectionPage::from_page(page, |item| {
            calls += 1;
            let f = &item.fields;
            (&*f.cluster != "c3").then(|| StoredResourceType {
                cluster: f.cluster.to_string(),
                gvr: (*f.gvr).clone(),
                kind: f.kind.to_string(),
                namespaced: true,
            })
        });
        assert_eq!(calls, 6, "once per item");
        let types: Vec<(&str, &str)> = collection
            .resource_types
            .iter()
            .map(|t| (t.cluster.as_str(), t.gvr.resource.as_str()))
            .collect();
        assert_eq!(
            types,
            [("c2", "jobs"), ("c1", "deployments"), ("c1", "jobs")]
        );
        assert_eq!(collection.page.items.len(), 6);
        assert_eq!(collection.page.continue_token.as_deref(), Some("next"));
    }

    #[test]
    fn builtin_collections() {
        let builtin = builtin();
        let names: Vec<&str> = builtin.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [ANY, WORKLOADS, KUBE_RESOURCES]);

        let any = &builtin[0];
        assert!(any.resource_types.is_empty());
        assert!(!any.matches(&Gvr::new("", "v1", "pods")));

        let workloads = &builtin[1];
        assert_eq!(
            workloads.resource_types,
            [
                t("apps", "", "deployments"),
                t("apps", "", "daemonsets"),
                t("apps", "", "statefulsets")
            ]
        );
        assert!(workloads.matches(&Gvr::new("apps", "v1", "statefulsets")));
        assert!(workloads.matches(&Gvr::new("apps", "v1beta2", "deployments")));
        assert!(!workloads.matches(&Gvr::new("apps", "v1", "replicasets")));
        assert!(!workloads.matches(&Gvr::new("", "v1", "pods")));

        let kube = &builtin[2];
        assert!(
            kube.resource_types
                .iter()
                .all(|t| t.version.is_empty() && t.resource.is_empty())
        );
        let groups: Vec<&str> = kube
            .resource_types
            .iter()
            .map(|t| t.group.as_str())
            .collect();
        let mut sorted = groups.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(groups, sorted, "sorted and distinct");
        for group in [
            "",
            "apps",
            "batch",
            "networking.k8s.io",
            "rbac.authorization.k8s.io",
        ] {
            assert!(groups.contains(&group), "{group}");
        }
        assert!(kube.matches(&Gvr::new("", "v1", "pods")));
        assert!(kube.matches(&Gvr::new("batch", "v1", "cronjobs")));
        assert!(!kube.matches(&Gvr::new("example.com", "v1", "widgets")));
    }

    #[test]
    fn serializes_like_the_api() {
        let json = serde_json::to_value(&builtin()[1]).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "name": "workloads",
                "resourceTypes": [
                    {"group": "apps", "resource": "deployments"},
                    {"group": "apps", "resource": "daemonsets"},
                    {"group": "apps", "resource": "statefulsets"}
                ]
            })
        );
        let back: CollectionResource = serde_json::from_value(json).expect("back");
        assert_eq!(back, builtin()[1]);
        let core: CollectionResourceType = serde_json::from_str(r#"{"group":""}"#).expect("core");
        assert_eq!(core, t("", "", ""));
    }

    #[test]
    fn groups_parameter() {
        assert_eq!(
            parse_any_types("groups=apps,batch/v1").expect("valid"),
            [t("apps", "", ""), t("batch", "v1", "")]
        );
        // Empty item and `/`: the core group (`groups=apps/v1,,batch` is three groups).
        assert_eq!(
            parse_any_types("groups=apps/v1,,batch").expect("valid"),
            [t("apps", "v1", ""), t("", "", ""), t("batch", "", "")]
        );
        assert_eq!(parse_any_types("groups=").expect("valid"), [t("", "", "")]);
        assert_eq!(
            parse_any_types("groups=%2F").expect("valid"),
            [t("", "", "")]
        );
        assert_eq!(
            parse_any_types("groups=/v1").expect("valid"),
            [t("", "v1", "")]
        );
        // Spaces are removed; duplicates dropped.
        assert_eq!(
            parse_any_types("groups=+apps+,apps,batch").expect("valid"),
            [t("apps", "", ""), t("batch", "", "")]
        );
        // Repeated parameters are appended.
        assert_eq!(
            parse_any_types("groups=apps&groups=batch").expect("valid"),
            [t("apps", "", ""), t("batch", "", "")]
        );
    }

    #[test]
    fn star_means_everything() {
        for query in [
            "groups=*",
            "groups=apps,*",
            "groups=*&resources=batch/jobs",
            "groups=%2A",
        ] {
            let types = parse_any_types(query).expect(query);
            assert_eq!(types, [CollectionResourceType::all()], "{query}");
            assert!(types[0].matches(&Gvr::new("example.com", "v1", "widgets")));
        }
    }

    #[test]
    fn resources_parameter() {
        assert_eq!(
            parse_any_types(
                "resources=apps/deployments,batch/v1/jobs,/pods,//configmaps,/v1/secrets"
            )
            .expect("valid"),
            [
                t("apps", "", "deployments"),
                t("batch", "v1", "jobs"),
                t("", "", "pods"),
                t("", "", "configmaps"),
                t("", "v1", "secrets"),
            ]
        );
        assert_eq!(
            parse_any_types("onlyMetadata=true&groups=apps&resources=batch/jobs,batch/cronjobs")
                .expect("valid"),
            [
                t("apps", "", ""),
                t("batch", "", "jobs"),
                t("batch", "", "cronjobs")
            ]
        );
    }

    #[test]
    fn neither_parameter_is_an_error() {
        for query in ["", "limit=10", "group=apps", "resource=pods"] {
            assert_eq!(
                message(query),
                "url query - `groups` or `resources` is required"
            );
        }
    }

    #[test]
    fn bad_items_are_errors() {
        for (query, item) in [
            ("resources=pods", "pods"),
            ("resources=", ""),
            ("resources=apps/", "apps/"),
            ("resources=/", "/"),
            ("resources=apps/v1/", "apps/v1/"),
            ("resources=a/b/c/d", "a/b/c/d"),
            ("resources=apps/deployments,,batch/jobs", ""),
        ] {
            assert_eq!(
                message(query),
                format!(
                    "resources query: unexpected GroupVersionResource string: {item}, \
                     expect <group>/<resource> or <group>/<version>/<resource>"
                ),
                "{query}"
            );
        }
        assert_eq!(
            message("groups=a/b/c"),
            "groups query: unexpected GroupVersion string: a/b/c, \
             expect <group> or <group>/<version>"
        );
        let err = parse_any_types("resources=pods").expect_err("bad");
        assert!(err.to_string().starts_with("resources: "), "{err}");
    }
}
