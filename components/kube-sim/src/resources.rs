//! The catalog of served resources: the built-in kinds of a kube-apiserver the simulator
//! serves, and the custom resources defined by the `CustomResourceDefinition` objects it stores.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::meta::NameRule;
use crate::schema::Schema;

/// A built-in kind with behaviour of its own (defaults, validation, table columns, typed
/// decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub(crate) enum Builtin {
    Namespace,
    Node,
    Pod,
    Service,
    ConfigMap,
    Secret,
    ServiceAccount,
    Event,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Lease,
    CustomResourceDefinition,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
    PodDisruptionBudget,
    ApiService,
}

/// A column of the server-side table (`additionalPrinterColumns` of CRDs, or built-in ones).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrinterColumn {
    pub(crate) name: String,
    pub(crate) type_: String,
    pub(crate) format: String,
    pub(crate) description: String,
    pub(crate) priority: i64,
    /// A JSONPath (simple dotted paths and `[?(@.f=='v')]` filters are evaluated).
    pub(crate) json_path: String,
}

/// One served version of a resource.
#[derive(Debug, Clone)]
pub(crate) struct VersionDef {
    pub(crate) name: String,
    /// Whether the `status` subresource is enabled.
    pub(crate) status: bool,
    /// The structural schema of custom resources (validation, pruning, defaults).
    pub(crate) schema: Option<Arc<Schema>>,
    /// Extra table columns of custom resources.
    pub(crate) columns: Vec<PrinterColumn>,
}

/// A served resource: its names, scope, versions and server behaviour.
#[derive(Debug, Clone)]
pub(crate) struct ResourceDef {
    /// The store identity: `pods`, `deployments.apps`.
    pub(crate) id: Arc<str>,
    pub(crate) group: String,
    pub(crate) plural: String,
    pub(crate) singular: String,
    pub(crate) kind: String,
    pub(crate) list_kind: String,
    pub(crate) namespaced: bool,
    pub(crate) short_names: Vec<String>,
    pub(crate) categories: Vec<String>,
    /// Served versions, the preferred first.
    pub(crate) versions: Vec<VersionDef>,
    /// The version objects are stored in.
    pub(crate) storage_version: String,
    pub(crate) builtin: Option<Builtin>,
    /// Field selector paths besides `metadata.name` and `metadata.namespace`.
    pub(crate) field_selectors: Vec<String>,
    /// Whether `metadata.generation` is maintained.
    pub(crate) generation: bool,
    /// Whether PUT without `metadata.resourceVersion` is allowed.
    pub(crate) unconditional_update: bool,
    /// Whether DELETE answers the deleted object (else a `Status`).
    pub(crate) return_deleted_object: bool,
    pub(crate) name_rule: NameRule,
}

impl ResourceDef {
    /// The served version `name`.
    pub(crate) fn version(&self, name: &str) -> Option<&VersionDef> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// `apiVersion` of objects served in `version`.
    pub(crate) fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether this is a custom resource.
    pub(crate) fn is_custom(&self) -> bool {
        self.builtin.is_none()
    }
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs of every served resource.
pub(crate) fn verbs() -> &'static [&'static str] {
    VERBS
}

struct BuiltinSpec {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    builtin: Builtin,
    fields: &'static [&'static str],
    generation: bool,
    return_deleted: bool,
    name_rule: NameRule,
}

const BUILTINS: &[BuiltinSpec] = &[
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        status: true,
        builtin: Builtin::Namespace,
        fields: &["status.phase"],
        generation: false,
        return_deleted: true,
        name_rule: NameRule::Label,
    },
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "nodes",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        status: true,
        builtin: Builtin::Node,
        fields: &["spec.unschedulable"],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "pods",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        status: true,
        builtin: Builtin::Pod,
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        generation: true,
        return_deleted: true,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "services",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        status: true,
        builtin: Builtin::Service,
        fields: &["spec.clusterIP", "spec.type"],
        generation: false,
        return_deleted: true,
        name_rule: NameRule::Dns1035,
    },
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        status: false,
        builtin: Builtin::ConfigMap,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        builtin: Builtin::Secret,
        fields: &["type"],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        status: false,
        builtin: Builtin::ServiceAccount,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status: false,
        builtin: Builtin::Event,
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "apps",
        version: "v1",
        plural: "deployments",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        status: true,
        builtin: Builtin::Deployment,
        fields: &[],
        generation: true,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "apps",
        version: "v1",
        plural: "replicasets",
        kind: "ReplicaSet",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        status: true,
        builtin: Builtin::ReplicaSet,
        fields: &["status.replicas"],
        generation: true,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "apps",
        version: "v1",
        plural: "statefulsets",
        kind: "StatefulSet",
        namespaced: true,
        short_names: &["sts"],
        categories: &["all"],
        status: true,
        builtin: Builtin::StatefulSet,
        fields: &[],
        generation: true,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "apps",
        version: "v1",
        plural: "daemonsets",
        kind: "DaemonSet",
        namespaced: true,
        short_names: &["ds"],
        categories: &["all"],
        status: true,
        builtin: Builtin::DaemonSet,
        fields: &[],
        generation: true,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        builtin: Builtin::Lease,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        status: true,
        builtin: Builtin::CustomResourceDefinition,
        fields: &[],
        generation: true,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        kind: "ClusterRole",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status: false,
        builtin: Builtin::ClusterRole,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::PathSegment,
    },
    BuiltinSpec {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status: false,
        builtin: Builtin::ClusterRoleBinding,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::PathSegment,
    },
    BuiltinSpec {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        kind: "Role",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        builtin: Builtin::Role,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::PathSegment,
    },
    BuiltinSpec {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        kind: "RoleBinding",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        builtin: Builtin::RoleBinding,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::PathSegment,
    },
    BuiltinSpec {
        group: "policy",
        version: "v1",
        plural: "poddisruptionbudgets",
        kind: "PodDisruptionBudget",
        namespaced: true,
        short_names: &["pdb"],
        categories: &[],
        status: true,
        builtin: Builtin::PodDisruptionBudget,
        fields: &[],
        generation: true,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
    BuiltinSpec {
        group: "apiregistration.k8s.io",
        version: "v1",
        plural: "apiservices",
        kind: "APIService",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status: true,
        builtin: Builtin::ApiService,
        fields: &[],
        generation: false,
        return_deleted: false,
        name_rule: NameRule::Subdomain,
    },
];

fn builtin_def(spec: &BuiltinSpec) -> ResourceDef {
    let id = kube_wire::status::qualified_resource(spec.group, spec.plural);
    ResourceDef {
        id: Arc::from(id.as_str()),
        group: spec.group.into(),
        plural: spec.plural.into(),
        singular: spec.kind.to_ascii_lowercase(),
        kind: spec.kind.into(),
        list_kind: format!("{}List", spec.kind),
        namespaced: spec.namespaced,
        short_names: spec.short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: spec.categories.iter().map(|s| (*s).to_owned()).collect(),
        versions: vec![VersionDef {
            name: spec.version.into(),
            status: spec.status,
            schema: None,
            columns: Vec::new(),
        }],
        storage_version: spec.version.into(),
        builtin: Some(spec.builtin),
        field_selectors: spec.fields.iter().map(|s| (*s).to_owned()).collect(),
        generation: spec.generation,
        unconditional_update: true,
        return_deleted_object: spec.return_deleted,
        name_rule: spec.name_rule,
    }
}

/// The definition a `CustomResourceDefinition` object declares, or why it declares none.
pub(crate) fn crd_def(crd: &Value) -> Result<ResourceDef, String> {
    let spec = crd.get("spec").ok_or("spec is missing")?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let list = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let group = text(spec.get("group"));
    let names = spec.get("names").ok_or("spec.names is missing")?;
    let plural = text(names.get("plural"));
    let kind = text(names.get("kind"));
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err("spec.group, spec.names.plural and spec.names.kind are required".into());
    }
    let singular = match text(names.get("singular")) {
        s if s.is_empty() => kind.to_ascii_lowercase(),
        s => s,
    };
    let list_kind = match text(names.get("listKind")) {
        s if s.is_empty() => format!("{kind}List"),
        s => s,
    };
    let mut versions = Vec::new();
    let mut storage_version = String::new();
    let mut field_selectors = Vec::new();
    for version in spec
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = text(version.get("name"));
        if version.get("storage").and_then(Value::as_bool) == Some(true) {
            storage_version.clone_from(&name);
        }
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let schema = version
            .pointer("/schema/openAPIV3Schema")
            .map(|s| Schema::from_json(s).map(Arc::new))
            .transpose()?;
        let columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: text(c.get("name")),
                type_: text(c.get("type")),
                format: text(c.get("format")),
                description: text(c.get("description")),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path: text(c.get("jsonPath")),
            })
            .collect();
        for field in version
            .get("selectableFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = text(field.get("jsonPath"));
            let path = path.trim_start_matches('.').to_owned();
            if !field_selectors.contains(&path) {
                field_selectors.push(path);
            }
        }
        versions.push(VersionDef {
            status: version.pointer("/subresources/status").is_some(),
            name,
            schema,
            columns,
        });
    }
    if versions.is_empty() {
        return Err("no served version".into());
    }
    if storage_version.is_empty() {
        return Err("no storage version".into());
    }
    versions.sort_by(|a, b| compare_versions(&a.name, &b.name));
    let id = kube_wire::status::qualified_resource(&group, &plural);
    Ok(ResourceDef {
        id: Arc::from(id.as_str()),
        namespaced: text(spec.get("scope")) == "Namespaced",
        short_names: list(names.get("shortNames")),
        categories: list(names.get("categories")),
        group,
        plural,
        singular,
        kind,
        list_kind,
        versions,
        storage_version,
        builtin: None,
        field_selectors,
        generation: true,
        unconditional_update: false,
        return_deleted_object: true,
        name_rule: NameRule::Subdomain,
    })
}

/// Kubernetes version priority: GA before beta before alpha, higher majors and minors first,
/// then non-Kubernetes versions alphabetically (`version.CompareKubeAwareVersionStrings`).
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u32, u32, u32)> {
        let rest = v.strip_prefix('v')?;
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: u32 = rest[..digits_end].parse().ok()?;
        let tail = &rest[digits_end..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (stage, prefix) in [(2, "beta"), (1, "alpha")] {
            if let Some(minor) = tail.strip_prefix(prefix) {
                return minor.parse().ok().map(|m| (stage, major, m));
            }
        }
        None
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.0.cmp(&x.0).then(y.1.cmp(&x.1)).then(y.2.cmp(&x.2)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// An API group for discovery: its name and served versions, the preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupInfo {
    pub(crate) name: String,
    pub(crate) versions: Vec<String>,
}

/// The served resources at one point in time.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    resources: Vec<Arc<ResourceDef>>,
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceDef>>,
}

impl Catalog {
    /// The built-in resources and the custom resources of `crds` (CRD objects; the ones that
    /// do not define a resource are skipped).
    pub(crate) fn new(crds: &[Value]) -> Self {
        let mut resources: Vec<Arc<ResourceDef>> =
            BUILTINS.iter().map(|s| Arc::new(builtin_def(s))).collect();
        let mut custom: Vec<ResourceDef> = crds.iter().filter_map(|c| crd_def(c).ok()).collect();
        custom.sort_by(|a, b| a.group.cmp(&b.group).then(a.plural.cmp(&b.plural)));
        resources.extend(custom.into_iter().map(Arc::new));
        let mut by_gvr = BTreeMap::new();
        for def in &resources {
            for version in &def.versions {
                by_gvr.insert(
                    (def.group.clone(), version.name.clone(), def.plural.clone()),
                    def.clone(),
                );
            }
        }
        Self { resources, by_gvr }
    }

    /// The resource served at `group/version/plural`.
    pub(crate) fn lookup(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<Arc<ResourceDef>> {
        self.by_gvr
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .cloned()
    }

    /// The resource stored under `id`.
    pub(crate) fn by_id(&self, id: &str) -> Option<Arc<ResourceDef>> {
        self.resources.iter().find(|d| &*d.id == id).cloned()
    }

    /// Every served resource, built-ins first.
    pub(crate) fn resources(&self) -> &[Arc<ResourceDef>] {
        &self.resources
    }

    /// The resources served in `group/version`.
    pub(crate) fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.resources
            .iter()
            .filter(|d| d.group == group && d.version(version).is_some())
            .cloned()
            .collect()
    }

    /// The named API groups (not the core group), built-in groups first.
    pub(crate) fn groups(&self) -> Vec<GroupInfo> {
        let mut groups: Vec<GroupInfo> = Vec::new();
        for def in &self.resources {
            if def.group.is_empty() {
                continue;
            }
            let index = match groups.iter().position(|g| g.name == def.group) {
                Some(i) => i,
                None => {
                    groups.push(GroupInfo {
                        name: def.group.clone(),
                        versions: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            for version in &def.versions {
                if !groups[index].versions.contains(&version.name) {
                    groups[index].versions.push(version.name.clone());
                }
            }
        }
        for group in &mut groups {
            group.versions.sort_by(|a, b| compare_versions(a, b));
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v2", "v1beta1", "v1", "foo", "v1beta2"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn builtins_resolve() {
        let catalog = Catalog::new(&[]);
        let pods = catalog.lookup("", "v1", "pods").expect("pods");
        assert_eq!(&*pods.id, "pods");
        let deploy = catalog
            .lookup("apps", "v1", "deployments")
            .expect("deployments");
        assert_eq!(&*deploy.id, "deployments.apps");
        assert!(catalog.groups().iter().any(|g| g.name == "apps"));
    }
}
