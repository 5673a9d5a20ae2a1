//! RBAC evaluation as the kube-apiserver's RBAC authorizer does it (`plugin/pkg/auth/authorizer/
//! rbac`): a user and groups, a request (a verb on a resource, or on a non-resource path), and
//! the `Role`, `ClusterRole`, `RoleBinding` and `ClusterRoleBinding` objects of a cluster.
//!
//! - A request is allowed when a rule of a role bound to the user (by name), to one of its
//!   groups, or to its service account (`system:serviceaccount:<ns>:<name>`) allows it. Cluster
//!   role bindings count everywhere; role bindings only in their namespace (a role binding to a
//!   `ClusterRole` grants that role's rules in the binding's namespace).
//! - A rule allows a verb (`*`: all), an API group (`*`), a resource (`*`, `pods`,
//!   `pods/log`, `*/scale`), optionally only some `resourceNames`; non-resource rules allow
//!   paths (`/healthz`, or a prefix ending in `*`).
//! - Members of `system:masters` are allowed everything (the kube-apiserver's privileged
//!   group, decided before RBAC).
//!
//! - An aggregated `ClusterRole` (`aggregationRule.clusterRoleSelectors`) grants its written
//!   rules plus those of every other `ClusterRole` whose labels one of its selectors matches
//!   (`matchLabels`, `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`): what the
//!   kube-controller-manager's aggregation controller writes into it, so a role it has not filled
//!   in yet (or an object written without it) grants the same. One level: the matched roles'
//!   written rules.
//!
//! The objects are read as JSON, as served by a kube-apiserver; malformed parts are skipped
//! (they grant nothing).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::Value;

/// The group whose members may do everything.
pub const SYSTEM_MASTERS: &str = "system:masters";

/// What a request does, as a `SubjectAccessReview` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// A verb on a resource.
    Resource {
        /// `get`, `list`, `watch`, ...
        verb: &'a str,
        /// The namespace (`""`: cluster scope or all namespaces).
        namespace: &'a str,
        /// The API group (`""`: core).
        group: &'a str,
        /// The resource (plural).
        resource: &'a str,
        /// The subresource (`""`: none).
        subresource: &'a str,
        /// The object name (`""`: none).
        name: &'a str,
    },
    /// A verb on a path that is not a resource.
    NonResource {
        /// The verb (`get`, ...).
        verb: &'a str,
        /// The path.
        path: &'a str,
    },
}

/// A rule of a role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    /// Verbs (`*`: all).
    pub verbs: Vec<String>,
    /// API groups (`*`: all).
    pub api_groups: Vec<String>,
    /// Resources (`*`, `pods`, `pods/log`, `*/scale`).
    pub resources: Vec<String>,
    /// Object names (empty: all).
    pub resource_names: Vec<String>,
    /// Non-resource paths (`*` or a prefix ending in `*` match several).
    #[serde(rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

impl PolicyRule {
    /// Whether this rule allows `action`.
    pub fn allows(&self, action: &Action<'_>) -> bool {
        match *action {
            Action::Resource {
                verb,
                group,
                resource,
                subresource,
                name,
                ..
            } => {
                has(&self.verbs, verb)
                    && has(&self.api_groups, group)
                    && self.resource_matches(resource, subresource)
                    && (self.resource_names.is_empty()
                        || self.resource_names.iter().any(|n| n == name))
            }
            Action::NonResource { verb, path } => {
                has(&self.verbs, verb)
                    && self.non_resource_urls.iter().any(|url| {
                        url == "*"
                            || url == path
                            || url
                                .strip_suffix('*')
                                .is_some_and(|prefix| path.starts_with(prefix))
                    })
            }
        }
    }

    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == "*"
                || (subresource.is_empty() && r == resource)
                || (!subresource.is_empty()
                    && (r.strip_prefix('*').and_then(|s| s.strip_prefix('/')) == Some(subresource)
                        || r.split_once('/') == Some((resource, subresource))))
        })
    }
}

/// A subject of a binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// The namespace (service accounts).
    pub namespace: String,
}

impl Subject {
    /// Whether this subject names `user` or one of `groups`; `binding_namespace` is the
    /// namespace of a service account subject without one.
    pub fn applies_to(&self, user: &str, groups: &[String], binding_namespace: &str) -> bool {
        match self.kind.as_str() {
            "User" => self.name == user,
            "Group" => groups.contains(&self.name),
            "ServiceAccount" => {
                let namespace = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                user.strip_prefix("system:serviceaccount:")
                    .and_then(|rest| rest.split_once(':'))
                    == Some((namespace, self.name.as_str()))
            }
            _ => false,
        }
    }
}

/// A binding: who gets the rules of which role.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    name: String,
    /// `""` for a cluster role binding.
    namespace: String,
    /// `Role` or `ClusterRole`.
    role_kind: String,
    role_name: String,
    subjects: Vec<Subject>,
}

/// The decision on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether it is allowed.
    pub allowed: bool,
    /// Why (which binding allowed it), as the RBAC authorizer says it; empty when denied.
    pub reason: String,
}

/// Where a user may do a verb on a resource (see [`Rbac::scope`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// In every namespace (and at the cluster scope).
    All,
    /// Only in these namespaces (empty: nowhere).
    Namespaces(BTreeSet<String>),
}

/// A label selector of an `aggregationRule` (`metav1.LabelSelector`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LabelSelector {
    match_labels: BTreeMap<String, String>,
    match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` requirement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
struct Requirement {
    key: String,
    operator: String,
    values: Vec<String>,
}

impl LabelSelector {
    /// Whether `labels` satisfy every label and expression (an unknown operator: never).
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// A `ClusterRole`: its written rules, its labels, and its aggregation selectors.
#[derive(Debug, Clone, Default)]
struct ClusterRole {
    rules: Vec<PolicyRule>,
    labels: BTreeMap<String, String>,
    selectors: Vec<LabelSelector>,
}

/// The RBAC objects of one cluster, ready to evaluate.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    cluster_roles: HashMap<String, ClusterRole>,
    /// `(namespace, name)` → rules.
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    bindings: Vec<Binding>,
}

fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn rules(object: &Value) -> Vec<PolicyRule> {
    object
        .get("rules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| PolicyRule::deserialize(r).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Rbac {
    /// An empty set (allows nothing but `system:masters`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one object by its `kind` (`Role`, `ClusterRole`, `RoleBinding`,
    /// `ClusterRoleBinding`); other kinds are ignored. Returns whether it was one of them.
    pub fn add(&mut self, object: &Value) -> bool {
        let kind = text(object, "/kind");
        let name = text(object, "/metadata/name");
        let namespace = text(object, "/metadata/namespace");
        match kind.as_str() {
            "ClusterRole" => {
                let labels = object
                    .pointer("/metadata/labels")
                    .and_then(|l| BTreeMap::<String, String>::deserialize(l).ok())
                    .unwrap_or_default();
                let selectors = object
                    .pointer("/aggregationRule/clusterRoleSelectors")
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(|s| LabelSelector::deserialize(s).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                self.cluster_roles.insert(
                    name,
                    ClusterRole {
                        rules: rules(object),
                        labels,
                        selectors,
                    },
                );
            }
            "Role" => {
                self.roles.insert((namespace, name), rules(object));
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                let subjects = object
                    .get("subjects")
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(|s| Subject::deserialize(s).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                self.bindings.push(Binding {
                    name,
                    namespace: if kind == "RoleBinding" {
                        namespace
                    } else {
                        String::new()
                    },
                    role_kind: text(object, "/roleRef/kind"),
                    role_name: text(object, "/roleRef/name"),
                    subjects,
                });
            }
            _ => return false,
        }
        true
    }

    /// The rules a binding grants (none when its role does not exist).
    fn granted(&self, binding: &Binding) -> Cow<'_, [PolicyRule]> {
        match binding.role_kind.as_str() {
            "ClusterRole" => match self.cluster_roles.get(&binding.role_name) {
                Some(role) if !role.selectors.is_empty() => {
                    Cow::Owned(self.aggregated(&binding.role_name, role))
                }
                Some(role) => Cow::Borrowed(&role.rules),
                None => Cow::Borrowed(&[]),
            },
            "Role" if !binding.namespace.is_empty() => Cow::Borrowed(
                self.roles
                    .get(&(binding.namespace.clone(), binding.role_name.clone()))
                    .map_or(&[], Vec::as_slice),
            ),
            _ => Cow::Borrowed(&[]),
        }
    }

    /// The rules of the aggregated cluster role `name`: its written rules, then those of every
    /// other cluster role that one of its selectors matches (in name order, each rule once).
    fn aggregated(&self, name: &str, role: &ClusterRole) -> Vec<PolicyRule> {
        let mut rules = role.rules.clone();
        let mut others: Vec<(&String, &ClusterRole)> = self
            .cluster_roles
            .iter()
            .filter(|(other, _)| *other != name)
            .collect();
        others.sort_by_key(|(other, _)| *other);
        for (_, other) in others {
            if role.selectors.iter().any(|s| s.matches(&other.labels)) {
                for rule in &other.rules {
                    if !rules.contains(rule) {
                        rules.push(rule.clone());
                    }
                }
            }
        }
        rules
    }

    /// The bindings that apply to the user, cluster role bindings first.
    fn bindings_of<'a>(
        &'a self,
        user: &'a str,
        groups: &'a [String],
    ) -> impl Iterator<Item = &'a Binding> + 'a {
        let (cluster, namespaced): (Vec<&Binding>, Vec<&Binding>) = self
            .bindings
            .iter()
            .filter(move |b| {
                b.subjects
                    .iter()
                    .any(|s| s.applies_to(user, groups, &b.namespace))
            })
            .partition(|b| b.namespace.is_empty());
        cluster.into_iter().chain(namespaced)
    }

    /// Whether `user` in `groups` may do `action`, and why.
    pub fn authorize(&self, user: &str, groups: &[String], action: &Action<'_>) -> Decision {
        if groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let namespace = match action {
            Action::Resource { namespace, .. } => *namespace,
            Action::NonResource { .. } => "",
        };
        for binding in self.bindings_of(user, groups) {
            if !binding.namespace.is_empty() && binding.namespace != namespace {
                continue;
            }
            if self.granted(binding).iter().any(|r| r.allows(action)) {
                let subject = binding
                    .subjects
                    .iter()
                    .find(|s| s.applies_to(user, groups, &binding.namespace))
                    .map(|s| format!("{} {:?}", s.kind, s.name))
                    .unwrap_or_default();
                let binding_name = if binding.namespace.is_empty() {
                    format!("ClusterRoleBinding {:?}", binding.name)
                } else {
                    format!(
                        "RoleBinding {:?}",
                        format!("{}/{}", binding.name, binding.namespace)
                    )
                };
                return Decision {
                    allowed: true,
                    reason: format!(
                        "RBAC: allowed by {binding_name} of {} {:?} to {subject}",
                        binding.role_kind, binding.role_name
                    ),
                };
            }
        }
        Decision {
            allowed: false,
            reason: String::new(),
        }
    }

    /// Where `user` in `groups` may `verb` every object of `resource` in `group`: everywhere
    /// (a cluster role binding allows it, or the user is in `system:masters`), or in the
    /// namespaces of the role bindings that allow it. Rules limited to `resourceNames` do not
    /// count (they do not allow listing).
    pub fn scope(
        &self,
        user: &str,
        groups: &[String],
        verb: &str,
        group: &str,
        resource: &str,
    ) -> Scope {
        if groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Scope::All;
        }
        let allows = |rules: &[PolicyRule]| {
            rules.iter().any(|r| {
                r.resource_names.is_empty()
                    && r.allows(&Action::Resource {
                        verb,
                        namespace: "",
                        group,
                        resource,
                        subresource: "",
                        name: "",
                    })
            })
        };
        let mut namespaces = BTreeSet::new();
        for binding in self.bindings_of(user, groups) {
            if allows(&self.granted(binding)) {
                if binding.namespace.is_empty() {
                    return Scope::All;
                }
                namespaces.insert(binding.namespace.clone());
            }
        }
        Scope::Namespaces(namespaces)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rbac() -> Rbac {
        let mut rbac = Rbac::new();
        for object in [
            json!({"kind": "ClusterRole", "metadata": {"name": "pod-reader"},
                   "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "health"},
                   "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/logs/*"]}]}),
            json!({"kind": "Role", "metadata": {"name": "one-cm", "namespace": "ns1"},
                   "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["configmaps"], "resourceNames": ["cm1"]}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "ops-health"},
                   "roleRef": {"kind": "ClusterRole", "name": "health"},
                   "subjects": [{"kind": "Group", "name": "ops"}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "alice-pods", "namespace": "ns1"},
                   "roleRef": {"kind": "ClusterRole", "name": "pod-reader"},
                   "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "bot"}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "alice-cm", "namespace": "ns1"},
                   "roleRef": {"kind": "Role", "name": "one-cm"},
                   "subjects": [{"kind": "User", "name": "alice"}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "bob-pods"},
                   "roleRef": {"kind": "ClusterRole", "name": "pod-reader"},
                   "subjects": [{"kind": "User", "name": "bob"}]}),
        ] {
            assert!(rbac.add(&object));
        }
        rbac
    }

    fn pods<'a>(verb: &'a str, namespace: &'a str, subresource: &'a str) -> Action<'a> {
        Action::Resource {
            verb,
            namespace,
            group: "",
            resource: "pods",
            subresource,
            name: "",
        }
    }

    #[test]
    fn role_bindings_count_in_their_namespace_cluster_role_bindings_everywhere() {
        let rbac = rbac();
        let none: Vec<String> = vec![];
        let alice = rbac.authorize("alice", &none, &pods("list", "ns1", ""));
        assert!(alice.allowed);
        assert_eq!(
            alice.reason,
            r#"RBAC: allowed by RoleBinding "alice-pods/ns1" of ClusterRole "pod-reader" to User "alice""#
        );
        assert!(
            !rbac
                .authorize("alice", &none, &pods("list", "ns2", ""))
                .allowed
        );
        assert!(
            !rbac
                .authorize("alice", &none, &pods("list", "", ""))
                .allowed
        );
        assert!(
            !rbac
                .authorize("alice", &none, &pods("delete", "ns1", ""))
                .allowed
        );
        assert!(
            rbac.authorize("alice", &none, &pods("get", "ns1", "log"))
                .allowed
        );
        assert!(
            !rbac
                .authorize("alice", &none, &pods("get", "ns1", "exec"))
                .allowed
        );
        assert!(rbac.authorize("bob", &none, &pods("list", "", "")).allowed);
        assert!(
            !rbac
                .authorize("bob", &none, &pods("watch", "x", ""))
                .allowed
        );
        assert!(
            rbac.authorize(
                "system:serviceaccount:ns1:bot",
                &none,
                &pods("get", "ns1", "")
            )
            .allowed
        );
        assert!(
            !rbac
                .authorize(
                    "system:serviceaccount:ns2:bot",
                    &none,
                    &pods("get", "ns1", "")
                )
                .allowed
        );
        assert!(
            !rbac
                .authorize("carol", &none, &pods("get", "ns1", ""))
                .allowed
        );
        assert!(
            rbac.authorize("carol", &[SYSTEM_MASTERS.into()], &pods("delete", "", ""))
                .allowed
        );
    }

    #[test]
    fn resource_names_and_non_resource_paths() {
        let rbac = rbac();
        let none: Vec<String> = vec![];
        let cm = |name| Action::Resource {
            verb: "update",
            namespace: "ns1",
            group: "",
            resource: "configmaps",
            subresource: "",
            name,
        };
        assert!(rbac.authorize("alice", &none, &cm("cm1")).allowed);
        assert!(!rbac.authorize("alice", &none, &cm("cm2")).allowed);
        let ops = vec!["ops".to_owned()];
        let path = |path| Action::NonResource { verb: "get", path };
        assert!(rbac.authorize("x", &ops, &path("/healthz")).allowed);
        assert!(rbac.authorize("x", &ops, &path("/logs/a/b")).allowed);
        assert!(!rbac.authorize("x", &ops, &path("/metrics")).allowed);
        assert!(!rbac.authorize("x", &none, &path("/healthz")).allowed);
    }

    #[test]
    fn list_scope() {
        let rbac = rbac();
        let none: Vec<String> = vec![];
        assert_eq!(rbac.scope("bob", &none, "list", "", "pods"), Scope::All);
        assert_eq!(
            rbac.scope("alice", &none, "list", "", "pods"),
            Scope::Namespaces(["ns1".to_owned()].into())
        );
        assert_eq!(
            rbac.scope("alice", &none, "list", "", "configmaps"),
            Scope::Namespaces(BTreeSet::new()),
            "resourceNames do not allow a list"
        );
        assert_eq!(
            rbac.scope("carol", &none, "list", "apps", "deployments"),
            Scope::Namespaces(BTreeSet::new())
        );
    }

    /// An aggregated ClusterRole grants the rules of the roles its selectors match, even when
    /// the controller has not written them into it; other roles' rules are not granted.
    #[test]
    fn aggregated_cluster_roles_grant_the_rules_of_the_roles_they_select() {
        let mut rbac = Rbac::new();
        for object in [
            json!({"kind": "ClusterRole", "metadata": {"name": "monitoring"},
                   "aggregationRule": {"clusterRoleSelectors": [
                       {"matchLabels": {"example.com/aggregate-to-monitoring": "true"}},
                       {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["metrics"]},
                                             {"key": "legacy", "operator": "DoesNotExist"}]},
                   ]},
                   "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["services"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "pods",
                       "labels": {"example.com/aggregate-to-monitoring": "true"}},
                   "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "metrics", "labels": {"tier": "metrics"}},
                   "rules": [{"verbs": ["list"], "apiGroups": ["metrics.k8s.io"], "resources": ["*"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "old-metrics",
                       "labels": {"tier": "metrics", "legacy": "yes"}},
                   "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]}]}),
            json!({"kind": "ClusterRole", "metadata": {"name": "unlabelled"},
                   "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["configmaps"]}]}),
            json!({"kind": "RoleBinding", "metadata": {"name": "carol", "namespace": "ns1"},
                   "roleRef": {"kind": "ClusterRole", "name": "monitoring"},
                   "subjects": [{"kind": "User", "name": "carol"}]}),
        ] {
            assert!(rbac.add(&object));
        }
        let scope = |group: &str, resource: &str, verb: &str| {
            rbac.scope("carol", &[], verb, group, resource)
        };
        let ns1 = Scope::Namespaces(["ns1".to_owned()].into());
        let nowhere = Scope::Namespaces(BTreeSet::new());
        assert_eq!(scope("", "pods", "list"), ns1, "matchLabels");
        assert_eq!(scope("metrics.k8s.io", "nodes", "list"), ns1, "In");
        assert_eq!(scope("", "services", "get"), ns1, "its own rules");
        assert_eq!(scope("", "secrets", "list"), nowhere, "DoesNotExist");
        assert_eq!(scope("", "configmaps", "list"), nowhere, "not selected");
        assert_eq!(scope("", "pods", "delete"), nowhere);
        assert!(
            rbac.authorize("carol", &[], &pods("list", "ns1", ""))
                .allowed,
            "authorize agrees"
        );
    }
}
