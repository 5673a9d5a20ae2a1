//! What the kube-apiserver checks and fills on writes: metadata rules, the defaults and
//! validation of the built-in kinds (a subset: the rules that most often reject real
//! requests), decoding through the typed (`k8s-openapi`) structs, which rejects wrong types and
//! drops unknown fields as the typed decoder of a real apiserver does, and the rules of
//! `CustomResourceDefinition`s.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::meta::{dns1123_label, dns1123_subdomain, label_value, qualified_name};
use crate::resources::{Builtin, ResourceDef};
use crate::schema::Cause;

fn invalid(field: impl Into<String>, value: &impl std::fmt::Display, message: &str) -> Cause {
    (
        "FieldValueInvalid",
        field.into(),
        format!("Invalid value: {value}: {message}"),
    )
}

fn required(field: impl Into<String>) -> Cause {
    ("FieldValueRequired", field.into(), "Required value".into())
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// The metadata rules every object follows (`ValidateObjectMeta`).
pub(crate) fn metadata(def: &ResourceDef, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        causes.push((
            "FieldValueRequired",
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else {
        for problem in def.name_rule.check(name) {
            causes.push(invalid("metadata.name", &quoted(name), &problem));
        }
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (key, value) in labels {
            for problem in qualified_name(key) {
                causes.push(invalid("metadata.labels", &quoted(key), &problem));
            }
            match value.as_str() {
                Some(text) => {
                    for problem in label_value(text) {
                        causes.push(invalid("metadata.labels", &quoted(text), &problem));
                    }
                }
                None => causes.push(invalid("metadata.labels", value, "must be a string")),
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut size = 0;
        for (key, value) in annotations {
            size += key.len() + value.as_str().map_or(0, str::len);
            for problem in qualified_name(&key.to_ascii_lowercase()) {
                causes.push(invalid("metadata.annotations", &quoted(key), &problem));
            }
        }
        if size > 256 * 1024 {
            causes.push((
                "FieldValueTooLong",
                "metadata.annotations".into(),
                "Too long: must have at most 262144 bytes".into(),
            ));
        }
    }
    if let Some(finalizers) = meta.get("finalizers").and_then(Value::as_array) {
        for (i, finalizer) in finalizers.iter().enumerate() {
            let text = finalizer.as_str().unwrap_or_default();
            for problem in qualified_name(text) {
                causes.push(invalid(
                    format!("metadata.finalizers[{i}]"),
                    &quoted(text),
                    &problem,
                ));
            }
        }
    }
    if let Some(owners) = meta.get("ownerReferences").and_then(Value::as_array) {
        let mut controllers = 0;
        for (i, owner) in owners.iter().enumerate() {
            for field in ["apiVersion", "kind", "name", "uid"] {
                if owner
                    .get(field)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(invalid(
                        format!("metadata.ownerReferences[{i}].{field}"),
                        &"\"\"",
                        &format!("{field} must not be empty"),
                    ));
                }
            }
            if owner.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers += 1;
            }
        }
        if controllers > 1 {
            causes.push(invalid(
                "metadata.ownerReferences",
                &"[...]",
                "Only one reference can have Controller set to true",
            ));
        }
    }
    causes
}

/// Decodes through the typed struct and encodes back: wrong types are errors, unknown fields
/// are dropped. Returns the decoded object and the paths of the dropped fields.
pub(crate) fn typed(builtin: Builtin, object: Value) -> Result<(Value, Vec<String>), String> {
    use k8s_openapi::api::{apps::v1 as apps, coordination::v1 as coordination, core::v1 as core};
    use k8s_openapi::api::{policy::v1 as policy, rbac::v1 as rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
    fn round_trip<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Value, String> {
        let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    let decoded = match builtin {
        Builtin::Namespace => round_trip::<core::Namespace>(&object),
        Builtin::Node => round_trip::<core::Node>(&object),
        Builtin::Pod => round_trip::<core::Pod>(&object),
        Builtin::Service => round_trip::<core::Service>(&object),
        Builtin::ConfigMap => round_trip::<core::ConfigMap>(&object),
        Builtin::Secret => round_trip::<core::Secret>(&object),
        Builtin::ServiceAccount => round_trip::<core::ServiceAccount>(&object),
        Builtin::Event => round_trip::<core::Event>(&object),
        Builtin::Deployment => round_trip::<apps::Deployment>(&object),
        Builtin::ReplicaSet => round_trip::<apps::ReplicaSet>(&object),
        Builtin::StatefulSet => round_trip::<apps::StatefulSet>(&object),
        Builtin::DaemonSet => round_trip::<apps::DaemonSet>(&object),
        Builtin::Lease => round_trip::<coordination::Lease>(&object),
        Builtin::CustomResourceDefinition => {
            round_trip::<apiextensions::CustomResourceDefinition>(&object)
        }
        Builtin::ClusterRole => round_trip::<rbac::ClusterRole>(&object),
        Builtin::ClusterRoleBinding => round_trip::<rbac::ClusterRoleBinding>(&object),
        Builtin::Role => round_trip::<rbac::Role>(&object),
        Builtin::RoleBinding => round_trip::<rbac::RoleBinding>(&object),
        Builtin::PodDisruptionBudget => round_trip::<policy::PodDisruptionBudget>(&object),
        Builtin::ApiService => round_trip::<apiregistration::APIService>(&object),
    }?;
    let mut dropped = Vec::new();
    dropped_fields(&object, &decoded, "", &mut dropped);
    Ok((decoded, dropped))
}

/// The paths present (and not null) in `input` but missing from `output`.
pub(crate) fn dropped_fields(input: &Value, output: &Value, path: &str, dropped: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match b.get(key) {
                    Some(out) => dropped_fields(value, out, &child, dropped),
                    None if value.is_null() => {}
                    None if value.as_object().is_some_and(Map::is_empty) => {}
                    None if value.as_array().is_some_and(Vec::is_empty) => {}
                    None => dropped.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                dropped_fields(x, y, &format!("{path}[{i}]"), dropped);
            }
        }
        _ => {}
    }
}

fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_owned(), value);
    }
}

fn object_at<'a>(value: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let map = value.as_object_mut()?;
    let child = map.entry(key).or_insert_with(|| json!({}));
    if !child.is_object() {
        *child = json!({});
    }
    child.as_object_mut()
}

fn default_container(container: &mut Value) {
    let Some(map) = container.as_object_mut() else {
        return;
    };
    let image = map
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let tagged = image
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':') || last.contains('@'));
    let latest = !tagged || image.ends_with(":latest");
    set_default(
        map,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    set_default(map, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(map, "terminationMessagePolicy", json!("File"));
    set_default(map, "resources", json!({}));
    if let Some(Value::Array(ports)) = map.get_mut("ports") {
        for port in ports {
            if let Some(port) = port.as_object_mut() {
                set_default(port, "protocol", json!("TCP"));
            }
        }
    }
}

/// Pod spec defaults (`SetDefaults_PodSpec` and the default admission plugins).
fn default_pod_spec(spec: &mut Value) {
    let Some(map) = spec.as_object_mut() else {
        return;
    };
    set_default(map, "restartPolicy", json!("Always"));
    set_default(map, "dnsPolicy", json!("ClusterFirst"));
    set_default(map, "schedulerName", json!("default-scheduler"));
    set_default(map, "terminationGracePeriodSeconds", json!(30));
    set_default(map, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = map.get_mut(list) {
            containers.iter_mut().for_each(default_container);
        }
    }
}

/// Fills the defaults of a built-in kind on create (and, for nested pod specs, on update).
pub(crate) fn defaults(builtin: Builtin, object: &mut Value, creating: bool) {
    match builtin {
        Builtin::Pod => {
            if let Some(spec) = object.get_mut("spec") {
                default_pod_spec(spec);
                if let Some(map) = spec.as_object_mut()
                    && creating
                {
                    set_default(map, "serviceAccountName", json!("default"));
                    let account = map.get("serviceAccountName").cloned();
                    if let Some(account) = account {
                        set_default(map, "serviceAccount", account);
                    }
                    set_default(map, "enableServiceLinks", json!(true));
                    set_default(map, "priority", json!(0));
                    set_default(map, "preemptionPolicy", json!("PreemptLowerPriority"));
                    set_default(
                        map,
                        "tolerations",
                        json!([
                            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                        ]),
                    );
                }
            }
            if creating {
                let qos = if object
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c.get("resources")
                                .and_then(Value::as_object)
                                .is_some_and(|r| !r.is_empty())
                        })
                    }) {
                    "Burstable"
                } else {
                    "BestEffort"
                };
                object["status"] = json!({"phase": "Pending", "qosClass": qos});
            }
        }
        Builtin::Deployment | Builtin::ReplicaSet | Builtin::StatefulSet | Builtin::DaemonSet => {
            if let Some(spec) = object_at(object, "spec") {
                if builtin != Builtin::DaemonSet {
                    set_default(spec, "replicas", json!(1));
                }
                match builtin {
                    Builtin::Deployment => {
                        set_default(
                            spec,
                            "strategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
                        );
                        set_default(spec, "revisionHistoryLimit", json!(10));
                        set_default(spec, "progressDeadlineSeconds", json!(600));
                    }
                    Builtin::StatefulSet => {
                        set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                        set_default(
                            spec,
                            "updateStrategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                        );
                        set_default(spec, "revisionHistoryLimit", json!(10));
                        set_default(
                            spec,
                            "persistentVolumeClaimRetentionPolicy",
                            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
                        );
                    }
                    Builtin::DaemonSet => {
                        set_default(
                            spec,
                            "updateStrategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                        );
                        set_default(spec, "revisionHistoryLimit", json!(10));
                    }
                    _ => {}
                }
            }
            if let Some(spec) = object.pointer_mut("/spec/template/spec") {
                default_pod_spec(spec);
            }
            if creating {
                object["status"] = json!({});
            }
        }
        Builtin::Service => {
            if let Some(spec) = object_at(object, "spec") {
                set_default(spec, "type", json!("ClusterIP"));
                set_default(spec, "sessionAffinity", json!("None"));
                if spec.get("type").and_then(Value::as_str) != Some("ExternalName") {
                    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
                    set_default(spec, "ipFamilies", json!(["IPv4"]));
                    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                }
                if let Some(Value::Array(ports)) = spec.get_mut("ports") {
                    for port in ports {
                        if let Some(port) = port.as_object_mut() {
                            set_default(port, "protocol", json!("TCP"));
                            if let Some(number) = port.get("port").cloned() {
                                set_default(port, "targetPort", number);
                            }
                        }
                    }
                }
            }
            if creating {
                object["status"] = json!({"loadBalancer": {}});
            }
        }
        Builtin::Secret => {
            if let Some(map) = object.as_object_mut() {
                set_default(map, "type", json!("Opaque"));
            }
        }
        Builtin::Namespace => {
            let name = crate::meta::meta_str(object, "name")
                .unwrap_or_default()
                .to_owned();
            if let Some(meta) = crate::meta::metadata_mut(object) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            if creating {
                if let Some(spec) = object_at(object, "spec") {
                    set_default(spec, "finalizers", json!(["kubernetes"]));
                }
                object["status"] = json!({"phase": "Active"});
            }
        }
        _ => {}
    }
}

fn config_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    match containers {
        None => causes.push(required(format!("{path}.containers"))),
        Some(list) if list.is_empty() => causes.push(required(format!("{path}.containers"))),
        Some(list) => {
            let mut seen = Vec::new();
            for (i, container) in list.iter().enumerate() {
                let name = container
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if name.is_empty() {
                    causes.push(required(format!("{path}.containers[{i}].name")));
                } else {
                    for problem in dns1123_label(name) {
                        causes.push(invalid(
                            format!("{path}.containers[{i}].name"),
                            &quoted(name),
                            &problem,
                        ));
                    }
                    if seen.contains(&name) {
                        causes.push((
                            "FieldValueDuplicate",
                            format!("{path}.containers[{i}].name"),
                            format!("Duplicate value: \"{name}\""),
                        ));
                    }
                    seen.push(name);
                }
                if container
                    .get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(required(format!("{path}.containers[{i}].image")));
                }
            }
        }
    }
}

fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let empty = Map::new();
    let labels = labels.and_then(Value::as_object).unwrap_or(&empty);
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    if match_labels.is_none_or(Map::is_empty) && expressions.is_none_or(Vec::is_empty) {
        return false;
    }
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = expressions.into_iter().flatten().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let values: Vec<&Value> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let found = labels.get(key);
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => found.is_some_and(|f| values.contains(&f)),
            Some("NotIn") => found.is_none_or(|f| !values.contains(&f)),
            Some("Exists") => found.is_some(),
            Some("DoesNotExist") => found.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// Validation of a built-in kind; `old` is the current object on updates.
pub(crate) fn builtin(builtin: Builtin, object: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    match builtin {
        Builtin::Pod => {
            pod_spec(object.get("spec"), "spec", &mut causes);
            if let Some(old) = old {
                let masked = |pod: &Value| {
                    let mut spec = pod.get("spec").cloned().unwrap_or(Value::Null);
                    if let Some(map) = spec.as_object_mut() {
                        for mutable in [
                            "activeDeadlineSeconds",
                            "tolerations",
                            "terminationGracePeriodSeconds",
                        ] {
                            map.remove(mutable);
                        }
                        for list in ["containers", "initContainers"] {
                            if let Some(Value::Array(containers)) = map.get_mut(list) {
                                for c in containers {
                                    if let Some(c) = c.as_object_mut() {
                                        c.remove("image");
                                    }
                                }
                            }
                        }
                    }
                    spec
                };
                if masked(object) != masked(old) {
                    causes.push((
                        "FieldValueForbidden",
                        "spec".into(),
                        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
                    ));
                }
            }
        }
        Builtin::Deployment | Builtin::ReplicaSet | Builtin::StatefulSet | Builtin::DaemonSet => {
            match object.pointer("/spec/selector") {
                None => causes.push(required("spec.selector")),
                Some(selector) => {
                    let labels = object.pointer("/spec/template/metadata/labels");
                    if !selector_matches(selector, labels) {
                        causes.push(invalid(
                            "spec.template.metadata.labels",
                            &labels.cloned().unwrap_or(Value::Null),
                            "`selector` does not match template `labels`",
                        ));
                    }
                    if let Some(old_selector) = old.and_then(|o| o.pointer("/spec/selector"))
                        && old_selector != selector
                    {
                        causes.push(invalid("spec.selector", selector, "field is immutable"));
                    }
                }
            }
            pod_spec(
                object.pointer("/spec/template/spec"),
                "spec.template.spec",
                &mut causes,
            );
            if object
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .is_some_and(|r| r < 0)
            {
                causes.push(invalid(
                    "spec.replicas",
                    &object
                        .pointer("/spec/replicas")
                        .cloned()
                        .unwrap_or(Value::Null),
                    "must be greater than or equal to 0",
                ));
            }
        }
        Builtin::Service => {
            let spec = object.get("spec");
            let kind = spec
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let headless = spec
                .and_then(|s| s.get("clusterIP"))
                .and_then(Value::as_str)
                == Some("None");
            let ports = spec.and_then(|s| s.get("ports")).and_then(Value::as_array);
            if kind != "ExternalName" && !headless && ports.is_none_or(Vec::is_empty) {
                causes.push(required("spec.ports"));
            }
            for (i, port) in ports.into_iter().flatten().enumerate() {
                let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&number) {
                    causes.push(invalid(
                        format!("spec.ports[{i}].port"),
                        &number,
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
            if let (Some(old), Some(ip)) = (old, spec.and_then(|s| s.get("clusterIP")))
                && let Some(old_ip) = old.pointer("/spec/clusterIP")
                && old_ip != ip
                && !ip.as_str().is_some_and(str::is_empty)
            {
                causes.push(invalid("spec.clusterIPs[0]", ip, "may not change once set"));
            }
        }
        Builtin::ConfigMap | Builtin::Secret => {
            let mut size = 0;
            for field in ["data", "binaryData", "stringData"] {
                for (key, value) in object
                    .get(field)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    size += key.len() + value.as_str().map_or(0, str::len);
                    if !config_key(key) {
                        causes.push(invalid(
                            format!("{field}[{key}]"),
                            &quoted(key),
                            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                        ));
                    }
                }
            }
            if size > 1024 * 1024 {
                causes.push((
                    "FieldValueTooLong",
                    String::new(),
                    "Too long: must have at most 1048576 bytes".into(),
                ));
            }
            if let Some(old) = old
                && old.get("immutable").and_then(Value::as_bool) == Some(true)
            {
                if old.get("data") != object.get("data")
                    || old.get("binaryData") != object.get("binaryData")
                {
                    causes.push((
                        "FieldValueForbidden",
                        "data".into(),
                        "Forbidden: field is immutable when `immutable` is set".into(),
                    ));
                }
                if object.get("immutable").and_then(Value::as_bool) != Some(true) {
                    causes.push((
                        "FieldValueForbidden",
                        "immutable".into(),
                        "Forbidden: field is immutable when `immutable` is set".into(),
                    ));
                }
            }
            if builtin == Builtin::Secret
                && let Some(old) = old
                && old.get("type") != object.get("type")
            {
                causes.push(invalid(
                    "type",
                    object.get("type").unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
        Builtin::Event => {
            let namespace = crate::meta::meta_str(object, "namespace").unwrap_or_default();
            let involved = object
                .pointer("/involvedObject/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !involved.is_empty() && involved != namespace {
                causes.push(invalid(
                    "involvedObject.namespace",
                    &quoted(involved),
                    "does not match event.namespace",
                ));
            }
        }
        Builtin::CustomResourceDefinition => crd(object, old, &mut causes),
        Builtin::ClusterRole | Builtin::Role => rbac_rules(builtin, object, &mut causes),
        Builtin::ClusterRoleBinding | Builtin::RoleBinding => {
            role_binding(builtin, object, &mut causes);
        }
        Builtin::PodDisruptionBudget => {
            let spec = object.get("spec");
            let set = |key: &str| spec.and_then(|s| s.get(key)).is_some_and(|v| !v.is_null());
            if set("minAvailable") && set("maxUnavailable") {
                causes.push(invalid(
                    "spec",
                    &"{...}",
                    "minAvailable and maxUnavailable cannot be both set",
                ));
            }
        }
        Builtin::ApiService => api_service(object, &mut causes),
        _ => {}
    }
    causes
}

/// The rules of roles (`ValidatePolicyRule`): verbs are required; resource rules need an API
/// group; namespaced roles have no non-resource URLs.
fn rbac_rules(builtin: Builtin, object: &Value, causes: &mut Vec<Cause>) {
    let Some(rules) = object.get("rules").and_then(Value::as_array) else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        let list = |key: &str| {
            rule.get(key)
                .and_then(Value::as_array)
                .is_some_and(|l| !l.is_empty())
        };
        if !list("verbs") {
            causes.push((
                "FieldValueRequired",
                format!("rules[{i}].verbs"),
                "Required value: verbs must contain at least one value".into(),
            ));
        }
        if list("nonResourceURLs") {
            if builtin == Builtin::Role {
                causes.push(invalid(
                    format!("rules[{i}].nonResourceURLs"),
                    &"[...]",
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if list("apiGroups") || list("resources") {
                causes.push(invalid(
                    format!("rules[{i}].nonResourceURLs"),
                    &"[...]",
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
        } else {
            if !list("apiGroups") {
                causes.push((
                    "FieldValueRequired",
                    format!("rules[{i}].apiGroups"),
                    "Required value: resource rules must supply at least one api group".into(),
                ));
            }
            if !list("resources") {
                causes.push((
                    "FieldValueRequired",
                    format!("rules[{i}].resources"),
                    "Required value: resource rules must supply at least one resource".into(),
                ));
            }
        }
    }
}

/// `ValidateRoleBinding` / `ValidateClusterRoleBinding`.
fn role_binding(builtin: Builtin, object: &Value, causes: &mut Vec<Cause>) {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    if text("/roleRef/apiGroup") != "rbac.authorization.k8s.io" {
        causes.push(invalid(
            "roleRef.apiGroup",
            &quoted(text("/roleRef/apiGroup")),
            "supported values: \"rbac.authorization.k8s.io\"",
        ));
    }
    let kinds: &[&str] = if builtin == Builtin::ClusterRoleBinding {
        &["ClusterRole"]
    } else {
        &["Role", "ClusterRole"]
    };
    let kind = text("/roleRef/kind");
    if !kinds.contains(&kind) {
        causes.push((
            "FieldValueNotSupported",
            "roleRef.kind".into(),
            format!(
                "Unsupported value: {}: supported values: {}",
                quoted(kind),
                kinds
                    .iter()
                    .map(|k| quoted(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if text("/roleRef/name").is_empty() {
        causes.push(required("roleRef.name"));
    }
    for (i, subject) in object
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = |key: &str| subject.get(key).and_then(Value::as_str).unwrap_or_default();
        if field("name").is_empty() {
            causes.push(required(format!("subjects[{i}].name")));
        }
        match field("kind") {
            "ServiceAccount" => {
                if !field("apiGroup").is_empty() {
                    causes.push((
                        "FieldValueNotSupported",
                        format!("subjects[{i}].apiGroup"),
                        format!("Unsupported value: {}: supported values: \"\"", quoted(field("apiGroup"))),
                    ));
                }
                if builtin == Builtin::ClusterRoleBinding && field("namespace").is_empty() {
                    causes.push(required(format!("subjects[{i}].namespace")));
                }
            }
            "User" | "Group" => {
                if field("apiGroup") != "rbac.authorization.k8s.io" {
                    causes.push((
                        "FieldValueNotSupported",
                        format!("subjects[{i}].apiGroup"),
                        format!("Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"", quoted(field("apiGroup"))),
                    ));
                }
            }
            other => causes.push((
                "FieldValueNotSupported",
                format!("subjects[{i}].kind"),
                format!("Unsupported value: {}: supported values: \"ServiceAccount\", \"User\", \"Group\"", quoted(other)),
            )),
        }
    }
}

/// `ValidateAPIService`: the name is `<version>.<group>`, the priorities are in range, and
/// TLS is either verified (caBundle) or skipped, not both.
fn api_service(object: &Value, causes: &mut Vec<Cause>) {
    let name = crate::meta::meta_str(object, "name").unwrap_or_default();
    let group = object
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = object
        .pointer("/spec/version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let expected = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{version}.{group}")
    };
    if name != expected {
        causes.push(invalid(
            "metadata.name",
            &quoted(name),
            &format!(
                "must be `spec.version+\".\"+spec.group`: {}",
                quoted(&expected)
            ),
        ));
    }
    if version.is_empty() {
        causes.push(required("spec.version"));
    }
    let number = |key: &str| {
        object
            .pointer(&format!("/spec/{key}"))
            .and_then(Value::as_i64)
    };
    let group_priority = number("groupPriorityMinimum").unwrap_or(0);
    if !(1..=20000).contains(&group_priority) {
        causes.push(invalid(
            "spec.groupPriorityMinimum",
            &group_priority,
            "must be positive and less than 20000",
        ));
    }
    let version_priority = number("versionPriority").unwrap_or(0);
    if !(1..=1000).contains(&version_priority) {
        causes.push(invalid(
            "spec.versionPriority",
            &version_priority,
            "must be positive and less than 1000",
        ));
    }
    let skip = object
        .pointer("/spec/insecureSkipTLSVerify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ca = object
        .pointer("/spec/caBundle")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty());
    if skip && ca {
        causes.push(invalid(
            "spec.insecureSkipTLSVerify",
            &true,
            "may not be true if caBundle is present",
        ));
    }
    if let Some(port) = number("service/port")
        && !(1..=65535).contains(&port)
    {
        causes.push(invalid(
            "spec.service.port",
            &port,
            "must be a valid port number",
        ));
    }
}

fn crd(object: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let group = object
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = object
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = object
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = crate::meta::meta_str(object, "name").unwrap_or_default();
    if name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            &quoted(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        causes.push(required("spec.group"));
    } else if !group.contains('.') {
        causes.push(invalid(
            "spec.group",
            &quoted(group),
            "should be a domain with at least one dot",
        ));
    } else {
        for problem in dns1123_subdomain(group) {
            causes.push(invalid("spec.group", &quoted(group), &problem));
        }
    }
    if plural.is_empty() {
        causes.push(required("spec.names.plural"));
    } else {
        for problem in dns1123_label(plural) {
            causes.push(invalid("spec.names.plural", &quoted(plural), &problem));
        }
    }
    if kind.is_empty() {
        causes.push(required("spec.names.kind"));
    }
    match object.pointer("/spec/scope").and_then(Value::as_str) {
        Some("Namespaced" | "Cluster") => {}
        Some(other) => causes.push((
            "FieldValueNotSupported",
            "spec.scope".into(),
            format!(
                "Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        )),
        None => causes.push(required("spec.scope")),
    }
    let versions = object.pointer("/spec/versions").and_then(Value::as_array);
    match versions {
        None => causes.push(required("spec.versions")),
        Some(versions) if versions.is_empty() => causes.push(required("spec.versions")),
        Some(versions) => {
            let storage = versions
                .iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .count();
            if storage != 1 {
                causes.push(invalid(
                    "spec.versions",
                    &"[...]",
                    "must have exactly one version marked as storage version",
                ));
            }
            for (i, version) in versions.iter().enumerate() {
                if version.pointer("/schema/openAPIV3Schema").is_none() {
                    causes.push((
                        "FieldValueRequired",
                        format!("spec.versions[{i}].schema.openAPIV3Schema"),
                        "Required value: schemas are required".into(),
                    ));
                } else if let Some(schema) = version.pointer("/schema/openAPIV3Schema")
                    && let Err(e) = crate::schema::Schema::from_json(schema)
                {
                    causes.push(invalid(
                        format!("spec.versions[{i}].schema.openAPIV3Schema"),
                        &"{...}",
                        &e,
                    ));
                }
            }
        }
    }
    if let Some(old) = old {
        for (field, pointer) in [("spec.scope", "/spec/scope"), ("spec.group", "/spec/group")] {
            if old.pointer(pointer) != object.pointer(pointer) {
                causes.push(invalid(
                    field,
                    object.pointer(pointer).unwrap_or(&Value::Null),
                    "field is immutable",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Catalog;

    #[test]
    fn typed_drops_unknown_and_rejects_types() {
        let (value, dropped) = typed(
            Builtin::ConfigMap,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}, "bogus": 1}),
        )
        .expect("decodes");
        assert_eq!(dropped, ["bogus"]);
        assert!(value.get("bogus").is_none());
        assert!(typed(Builtin::ConfigMap, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": 1}})).is_err());
    }

    #[test]
    fn builtin_rules() {
        let pod = json!({"spec": {"containers": []}});
        assert_eq!(builtin(Builtin::Pod, &pod, None)[0].1, "spec.containers");
        let deploy = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            builtin(Builtin::Deployment, &deploy, None)[0].1,
            "spec.template.metadata.labels"
        );
        let catalog = Catalog::new(&[]);
        let pods = catalog.lookup("", "v1", "pods").expect("pods");
        let causes = metadata(
            &pods,
            &json!({"metadata": {"name": "Bad_Name", "labels": {"a": "-x"}}}),
        );
        assert_eq!(causes.len(), 2);
    }
}
