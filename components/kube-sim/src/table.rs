//! Server-side tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), as `kubectl get`
//! asks for: the built-in columns of common kinds, the `additionalPrinterColumns` of custom
//! resources, and `Name`/`Created At` otherwise.

use serde_json::{Value, json};

use crate::api::Target;
use crate::meta::{human_duration, now_seconds, parse_rfc3339};
use crate::resources::{Builtin, PrinterColumn};

fn column(name: &str, type_: &str, format: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

fn name_column() -> Value {
    column(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    )
}

fn age_column() -> Value {
    column(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    )
}

fn age(object: &Value) -> String {
    object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .map_or_else(
            || "<unknown>".to_owned(),
            |t| human_duration(now_seconds() - t),
        )
}

fn s<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn n(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "<none>".to_owned()
    } else {
        text.to_owned()
    }
}

fn containers_and_images(object: &Value) -> (String, String) {
    let containers = object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn selector_text(object: &Value) -> String {
    let labels = object
        .pointer("/spec/selector/matchLabels")
        .or_else(|| object.pointer("/spec/selector"))
        .and_then(Value::as_object);
    labels.map_or_else(
        || "<none>".to_owned(),
        |m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(",")
        },
    )
}

fn pod_cells(pod: &Value) -> Vec<Value> {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses.iter().map(|c| n(c, "/restartCount")).sum();
    let mut reason = s(pod, "/status/phase").to_owned();
    if let Some(waiting) = statuses
        .iter()
        .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str))
    {
        reason = waiting.to_owned();
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    vec![
        json!(s(pod, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        json!(age(pod)),
        json!(or_none(s(pod, "/status/podIP"))),
        json!(or_none(s(pod, "/spec/nodeName"))),
        json!(or_none(s(pod, "/status/nominatedNodeName"))),
        json!("<none>"),
    ]
}

fn columns_and_cells(target: &Target, objects: &[Value]) -> (Vec<Value>, Vec<Vec<Value>>) {
    let name = |o: &Value| json!(s(o, "/metadata/name"));
    let text = |t: &str| column(t, "string", "", 0, "");
    let int = |t: &str| column(t, "integer", "", 0, "");
    let wide = |t: &str| column(t, "string", "", 1, "");
    match target.def.builtin {
        Some(Builtin::Pod) => (
            vec![
                name_column(),
                text("Ready"),
                text("Status"),
                text("Restarts"),
                age_column(),
                wide("IP"),
                wide("Node"),
                wide("Nominated Node"),
                wide("Readiness Gates"),
            ],
            objects.iter().map(pod_cells).collect(),
        ),
        Some(Builtin::Deployment) => (
            vec![
                name_column(),
                text("Ready"),
                int("Up-to-date"),
                int("Available"),
                age_column(),
                wide("Containers"),
                wide("Images"),
                wide("Selector"),
            ],
            objects
                .iter()
                .map(|o| {
                    let (containers, images) = containers_and_images(o);
                    vec![
                        name(o),
                        json!(format!(
                            "{}/{}",
                            n(o, "/status/readyReplicas"),
                            n(o, "/spec/replicas")
                        )),
                        json!(n(o, "/status/updatedReplicas")),
                        json!(n(o, "/status/availableReplicas")),
                        json!(age(o)),
                        json!(containers),
                        json!(images),
                        json!(selector_text(o)),
                    ]
                })
                .collect(),
        ),
        Some(Builtin::ReplicaSet) => (
            vec![
                name_column(),
                int("Desired"),
                int("Current"),
                int("Ready"),
                age_column(),
                wide("Containers"),
                wide("Images"),
                wide("Selector"),
            ],
            objects
                .iter()
                .map(|o| {
                    let (containers, images) = containers_and_images(o);
                    vec![
                        name(o),
                        json!(n(o, "/spec/replicas")),
                        json!(n(o, "/status/replicas")),
                        json!(n(o, "/status/readyReplicas")),
                        json!(age(o)),
                        json!(containers),
                        json!(images),
                        json!(selector_text(o)),
                    ]
                })
                .collect(),
        ),
        Some(Builtin::Service) => (
            vec![
                name_column(),
                text("Type"),
                text("Cluster-IP"),
                text("External-IP"),
                text("Port(s)"),
                age_column(),
                wide("Selector"),
            ],
            objects
                .iter()
                .map(|o| {
                    let ports: Vec<String> = o
                        .pointer("/spec/ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|p| format!("{}/{}", n(p, "/port"), s(p, "/protocol")))
                        .collect();
                    vec![
                        name(o),
                        json!(s(o, "/spec/type")),
                        json!(or_none(s(o, "/spec/clusterIP"))),
                        json!("<none>"),
                        json!(if ports.is_empty() {
                            "<none>".to_owned()
                        } else {
                            ports.join(",")
                        }),
                        json!(age(o)),
                        json!(selector_text(o)),
                    ]
                })
                .collect(),
        ),
        Some(Builtin::ConfigMap) => (
            vec![name_column(), int("Data"), age_column()],
            objects
                .iter()
                .map(|o| {
                    let data = o
                        .get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                        + o.get("binaryData")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len());
                    vec![name(o), json!(data), json!(age(o))]
                })
                .collect(),
        ),
        Some(Builtin::Namespace) => (
            vec![name_column(), text("Status"), age_column()],
            objects
                .iter()
                .map(|o| vec![name(o), json!(s(o, "/status/phase")), json!(age(o))])
                .collect(),
        ),
        Some(Builtin::Node) => (
            vec![
                name_column(),
                text("Status"),
                text("Roles"),
                age_column(),
                text("Version"),
            ],
            objects
                .iter()
                .map(|o| {
                    let ready = o
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
                    let roles: Vec<&str> = o
                        .pointer("/metadata/labels")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect();
                    vec![
                        name(o),
                        json!(if ready { "Ready" } else { "NotReady" }),
                        json!(or_none(&roles.join(","))),
                        json!(age(o)),
                        json!(s(o, "/status/nodeInfo/kubeletVersion")),
                    ]
                })
                .collect(),
        ),
        Some(Builtin::Event) => (
            vec![
                text("Last Seen"),
                text("Type"),
                text("Reason"),
                text("Object"),
                text("Message"),
            ],
            objects
                .iter()
                .map(|o| {
                    let last = parse_rfc3339(s(o, "/lastTimestamp"))
                        .or_else(|| parse_rfc3339(s(o, "/metadata/creationTimestamp")))
                        .map_or_else(
                            || "<unknown>".to_owned(),
                            |t| human_duration(now_seconds() - t),
                        );
                    vec![
                        json!(last),
                        json!(s(o, "/type")),
                        json!(s(o, "/reason")),
                        json!(format!(
                            "{}/{}",
                            s(o, "/involvedObject/kind").to_ascii_lowercase(),
                            s(o, "/involvedObject/name")
                        )),
                        json!(s(o, "/message")),
                    ]
                })
                .collect(),
        ),
        Some(_) => (
            vec![
                name_column(),
                column(
                    "Created At",
                    "date",
                    "",
                    0,
                    "CreationTimestamp is a timestamp representing the server time when this object was created.",
                ),
            ],
            objects
                .iter()
                .map(|o| vec![name(o), json!(s(o, "/metadata/creationTimestamp"))])
                .collect(),
        ),
        None => custom_columns(target, objects),
    }
}

fn custom_columns(target: &Target, objects: &[Value]) -> (Vec<Value>, Vec<Vec<Value>>) {
    let defined: Vec<PrinterColumn> = target
        .def
        .version(&target.version)
        .map(|v| v.columns.clone())
        .unwrap_or_default();
    let columns: Vec<PrinterColumn> = if defined.is_empty() {
        vec![PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }]
    } else {
        defined
    };
    let mut definitions = vec![name_column()];
    definitions.extend(
        columns
            .iter()
            .map(|c| column(&c.name, &c.type_, &c.format, c.priority, &c.description)),
    );
    let rows = objects
        .iter()
        .map(|o| {
            let mut cells = vec![json!(s(o, "/metadata/name"))];
            for c in &columns {
                let value = json_path(o, &c.json_path);
                cells.push(match (c.type_.as_str(), value) {
                    ("date", Some(Value::String(t))) => {
                        json!(parse_rfc3339(&t).map_or(t, |t| human_duration(now_seconds() - t)))
                    }
                    (_, Some(v)) => v,
                    (_, None) => Value::Null,
                });
            }
            cells
        })
        .collect();
    (definitions, rows)
}

/// Evaluates the JSONPath subset of printer columns: `.a.b`, `.a[0].b` and
/// `.a[?(@.f=='v')].b`.
pub(crate) fn json_path(object: &Value, path: &str) -> Option<Value> {
    let mut current = vec![object.clone()];
    let mut rest = path
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            let inside = &stripped[..end];
            rest = stripped[end + 1..].trim_start_matches('.');
            let mut next = Vec::new();
            for value in &current {
                let items = value.as_array()?;
                if let Some(filter) = inside
                    .strip_prefix("?(@.")
                    .and_then(|f| f.strip_suffix(')'))
                {
                    let (field, wanted) = filter.split_once("==")?;
                    let field = field.trim();
                    let wanted = wanted.trim().trim_matches(|c| c == '\'' || c == '"');
                    next.extend(
                        items
                            .iter()
                            .filter(|i| i.get(field).and_then(Value::as_str) == Some(wanted))
                            .cloned(),
                    );
                } else if inside == "*" {
                    next.extend(items.iter().cloned());
                } else {
                    next.extend(items.get(inside.parse::<usize>().ok()?).cloned());
                }
            }
            current = next;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let field = &rest[..end];
            rest = rest[end..].trim_start_matches('.');
            current = current
                .iter()
                .filter_map(|v| v.get(field).cloned())
                .collect();
        }
    }
    match current.len() {
        0 => None,
        1 => current.pop(),
        _ => Some(Value::String(
            current
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
        )),
    }
}

fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A `meta.k8s.io/v1` `Table` of `objects`.
pub(crate) fn table(
    target: &Target,
    objects: &[Value],
    revision: Option<u64>,
    continue_token: Option<&str>,
    include_object: &str,
) -> Value {
    let (columns, cells) = columns_and_cells(target, objects);
    let rows: Vec<Value> = objects
        .iter()
        .zip(cells)
        .map(|(object, cells)| {
            let mut row = json!({"cells": cells});
            match include_object {
                "None" => {}
                "Object" => row["object"] = object.clone(),
                _ => row["object"] = partial_metadata(object),
            }
            row
        })
        .collect();
    let mut metadata = json!({});
    if let Some(revision) = revision {
        metadata["resourceVersion"] = json!(revision.to_string());
    }
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        let object = json!({"status": {"conditions": [
            {"type": "Validated", "status": "True"},
            {"type": "Ready", "status": "False"},
        ], "version": "v1.36.0"}});
        assert_eq!(
            json_path(&object, ".status.version"),
            Some(json!("v1.36.0"))
        );
        assert_eq!(
            json_path(&object, ".status.conditions[?(@.type=='Ready')].status"),
            Some(json!("False"))
        );
        assert_eq!(
            json_path(&object, ".status.conditions[0].type"),
            Some(json!("Validated"))
        );
        assert_eq!(json_path(&object, ".spec.x"), None);
    }
}
