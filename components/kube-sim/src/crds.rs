//! The `CustomResourceDefinition`s a simulator starts with: the fixture CRD `widgets.example.io`
//! (served as `v1` and `v1beta1`), and clusterpedia's `pediaclusters` and
//! `clustersyncresources` (`cluster.clusterpedia.io/v1alpha2`, cluster-scoped) so that it can
//! be the host cluster of a synchro manager.

use serde_json::{Value, json};

fn string() -> Value {
    json!({"type": "string"})
}

fn bytes() -> Value {
    json!({"type": "string", "format": "byte"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn secret_ref() -> Value {
    json!({"type": "object", "properties": {"name": string(), "key": string()}})
}

fn sync_resources() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["group", "resources"],
            "properties": {
                "group": string(),
                "versions": strings(),
                "resources": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "eventsInvolvedResources": strings(),
            },
        },
    })
}

fn condition() -> Value {
    json!({
        "type": "object",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "type": {"type": "string", "maxLength": 316},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "reason": {"type": "string", "maxLength": 1024, "minLength": 1},
            "message": {"type": "string", "maxLength": 32768},
        },
    })
}

fn metadata(name: &str) -> Value {
    json!({"name": name, "annotations": {"controller-gen.kubebuilder.io/version": "v0.16.5"}})
}

/// `pediaclusters.cluster.clusterpedia.io`.
pub(crate) fn pediaclusters() -> Value {
    let sync_condition = json!({
        "type": "object",
        "required": ["status", "lastTransitionTime"],
        "properties": {
            "version": string(),
            "syncVersion": string(),
            "syncResource": string(),
            "storageVersion": string(),
            "storageResource": string(),
            "status": string(),
            "reason": string(),
            "message": string(),
            "initialListPhase": {"type": "boolean"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
        },
    });
    let schema = json!({
        "type": "object",
        "properties": {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["syncResources"],
                "properties": {
                    "kubeconfig": bytes(),
                    "apiserver": string(),
                    "tokenData": bytes(),
                    "caData": bytes(),
                    "certData": bytes(),
                    "keyData": bytes(),
                    "authenticationFrom": {
                        "type": "object",
                        "properties": {
                            "kubeconfig": secret_ref(),
                            "ca": secret_ref(),
                            "cert": secret_ref(),
                            "key": secret_ref(),
                            "token": secret_ref(),
                        },
                    },
                    "syncResources": sync_resources(),
                    "syncAllCustomResources": {"type": "boolean"},
                    "syncResourcesRefName": string(),
                    "shardingName": string(),
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "apiserver": string(),
                    "version": string(),
                    "shardingName": string(),
                    "conditions": {
                        "type": "array",
                        "items": condition(),
                        "x-kubernetes-list-map-keys": ["type"],
                        "x-kubernetes-list-type": "map",
                    },
                    "syncResources": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["group", "resources"],
                            "properties": {
                                "group": string(),
                                "resources": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["name", "kind", "namespaced"],
                                        "properties": {
                                            "name": string(),
                                            "kind": string(),
                                            "namespaced": {"type": "boolean"},
                                            "syncConditions": {"type": "array", "items": sync_condition},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    });
    let reason = |t: &str| json!({"name": t, "type": "string", "priority": 1, "jsonPath": format!(".status.conditions[?(@.type == '{t}')].reason")});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata("pediaclusters.cluster.clusterpedia.io"),
        "spec": {
            "group": "cluster.clusterpedia.io",
            "names": {"kind": "PediaCluster", "listKind": "PediaClusterList", "plural": "pediaclusters", "singular": "pediacluster"},
            "scope": "Cluster",
            "versions": [{
                "name": "v1alpha2",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type == 'Ready')].status"},
                    {"name": "Version", "type": "string", "jsonPath": ".status.version"},
                    {"name": "APIServer", "type": "string", "jsonPath": ".status.apiserver"},
                    reason("Validated"),
                    reason("SynchroRunning"),
                    reason("ClusterHealthy"),
                    {"name": "ShardingName", "type": "string", "priority": 1, "jsonPath": ".spec.shardingName"},
                ],
            }],
        },
    })
}

/// `clustersyncresources.cluster.clusterpedia.io`.
pub(crate) fn clustersyncresources() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata("clustersyncresources.cluster.clusterpedia.io"),
        "spec": {
            "group": "cluster.clusterpedia.io",
            "names": {"kind": "ClusterSyncResources", "listKind": "ClusterSyncResourcesList", "plural": "clustersyncresources", "singular": "clustersyncresources"},
            "scope": "Cluster",
            "versions": [{
                "name": "v1alpha2",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": string(),
                        "kind": string(),
                        "metadata": {"type": "object"},
                        "spec": {"type": "object", "properties": {"syncResources": sync_resources()}},
                    },
                }},
                "additionalPrinterColumns": [
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    })
}

/// `widgets.example.io`, the fixture CRD: `v1` (stored) and `v1beta1`.
pub(crate) fn widgets() -> Value {
    let schema = json!({
        "type": "object",
        "properties": {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "string", "enum": ["small", "medium", "large"]},
                    "color": string(),
                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                    "paused": {"type": "boolean"},
                },
            },
            "status": {
                "type": "object",
                "properties": {
                    "phase": string(),
                    "observedGeneration": {"type": "integer", "format": "int64"},
                },
            },
        },
    });
    let version = |name: &str, storage: bool| {
        json!({
            "name": name,
            "served": true,
            "storage": storage,
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
            "selectableFields": [{"jsonPath": ".spec.color"}],
            "additionalPrinterColumns": [
                {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
        })
    };
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata("widgets.example.io"),
        "spec": {
            "group": "example.io",
            "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget", "shortNames": ["wd"], "categories": ["all"]},
            "scope": "Namespaced",
            "versions": [version("v1", true), version("v1beta1", false)],
        },
    })
}

/// The CRDs a simulator starts with: `widgets`, the clusterpedia ones when `host`, and `extra`
/// (replacing a default one of the same name).
pub(crate) fn defaults(host: bool, extra: &[Value]) -> Vec<Value> {
    let mut crds = vec![widgets()];
    if host {
        crds.push(pediaclusters());
        crds.push(clustersyncresources());
    }
    for crd in extra {
        let name = crd.pointer("/metadata/name");
        match crds
            .iter()
            .position(|c| c.pointer("/metadata/name") == name)
        {
            Some(i) => crds[i] = crd.clone(),
            None => crds.push(crd.clone()),
        }
    }
    crds
}

/// The status a kube-apiserver's CRD controllers give an accepted CRD.
pub(crate) fn established_status(crd: &Value, now: &str) -> Value {
    let names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut accepted = names.clone();
    if accepted.get("singular").is_none()
        && let Some(kind) = names.get("kind").and_then(Value::as_str)
    {
        accepted["singular"] = json!(kind.to_ascii_lowercase());
    }
    if accepted.get("listKind").is_none()
        && let Some(kind) = names.get("kind").and_then(Value::as_str)
    {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": stored,
    })
}
