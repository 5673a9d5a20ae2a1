//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the strategic merge
//! patch of built-in kinds (merge keys of the common lists, `$patch` and
//! `$deleteFromPrimitiveList` directives; `$setElementOrder` and `$retainKeys` are accepted and
//! ignored).

use serde_json::{Map, Value};

/// Applies a JSON merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest.split('/').map(unescape_token).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut current = doc;
    for token in tokens {
        current = match current {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("doc is missing path: {token}"))?,
            Value::Array(items) => {
                let index: usize = token
                    .parse()
                    .map_err(|_| format!("invalid array index {token:?}"))?;
                items
                    .get_mut(index)
                    .ok_or_else(|| format!("array index {index} out of bounds"))?
            }
            _ => return Err(format!("doc is missing path: {token}")),
        };
    }
    Ok(current)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Result<&'a Value, String> {
    let mut current = doc;
    for token in tokens {
        current = match current {
            Value::Object(map) => map
                .get(token)
                .ok_or_else(|| format!("doc is missing path: {token}"))?,
            Value::Array(items) => token
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .ok_or_else(|| format!("array index {token:?} out of bounds"))?,
            _ => return Err(format!("doc is missing path: {token}")),
        };
    }
    Ok(current)
}

fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let index: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if index > items.len() {
                return Err(format!("array index {index} out of bounds"));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!("cannot add at {last:?}: parent is not a container")),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match parent_mut(doc, parents)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| format!("unable to remove nonexistent key: {last}: missing value")),
        Value::Array(items) => {
            let index: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if index >= items.len() {
                return Err(format!("array index {index} out of bounds"));
            }
            Ok(items.remove(index))
        }
        _ => Err(format!("cannot remove {last:?}: parent is not a container")),
    }
}

/// Applies a JSON patch (a list of operations).
pub(crate) fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch
        .as_array()
        .ok_or("a JSON patch must be a list of operations")?;
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("operation is missing \"op\"")?;
        let path = split_pointer(
            op.get("path")
                .and_then(Value::as_str)
                .ok_or("operation is missing \"path\"")?,
        )?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation {kind} is missing \"value\""))
        };
        let from = || -> Result<Vec<String>, String> {
            split_pointer(
                op.get("from")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("operation {kind} is missing \"from\""))?,
            )
        };
        match kind {
            "add" => add(doc, &path, value()?)?,
            "remove" => {
                remove(doc, &path)?;
            }
            "replace" => {
                let value = value()?;
                if path.is_empty() {
                    *doc = value;
                } else {
                    let target = parent_mut(doc, &path).map_err(|_| {
                        format!(
                            "replace operation does not apply: doc is missing key: /{}: missing value",
                            path.join("/")
                        )
                    })?;
                    *target = value;
                }
            }
            "move" => {
                let from = from()?;
                let moved = remove(doc, &from)?;
                add(doc, &path, moved)?;
            }
            "copy" => {
                let copied = get(doc, &from()?)?.clone();
                add(doc, &path, copied)?;
            }
            "test" => {
                let expected = value()?;
                // As the kube-apiserver's JSON patch library: a missing path tests equal to
                // null (kube-runtime's finalizer helper relies on it).
                let found = get(doc, &path).ok().unwrap_or(&Value::Null);
                if *found != expected {
                    return Err(format!(
                        "testing value /{} failed: test failed",
                        path.join("/")
                    ));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

/// The merge key of a list field in a strategic merge patch, by field name and the path of
/// the list.
fn merge_key(field: &str, path: &[String]) -> Option<MergeStrategy> {
    let in_container = path.iter().any(|p| {
        matches!(
            p.as_str(),
            "containers" | "initContainers" | "ephemeralContainers"
        )
    });
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses" => "name",
        "ports" if in_container => "containerPort",
        "ports" => "port",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "finalizers" => return Some(MergeStrategy::PrimitiveUnion),
        _ => return None,
    };
    Some(MergeStrategy::Key(key))
}

enum MergeStrategy {
    Key(&'static str),
    PrimitiveUnion,
}

/// Applies a strategic merge patch to a built-in object.
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), String> {
    strategic(target, patch, &mut Vec::new())
}

fn strategic(target: &mut Value, patch: &Value, path: &mut Vec<String>) -> Result<(), String> {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other}")),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return Ok(());
    };
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(remove)) = (map.get_mut(field), value) {
                items.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if value.is_null() {
            map.remove(key);
            continue;
        }
        path.push(key.clone());
        match (merge_key(key, path), value) {
            (Some(MergeStrategy::Key(merge)), Value::Array(items)) => {
                let existing = map
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !existing.is_array() {
                    *existing = Value::Array(Vec::new());
                }
                if let Value::Array(current) = existing {
                    merge_list(current, items, merge, path)?;
                }
            }
            (Some(MergeStrategy::PrimitiveUnion), Value::Array(items)) => {
                let existing = map
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(current) = existing {
                    for item in items {
                        if !current.contains(item) {
                            current.push(item.clone());
                        }
                    }
                } else {
                    *existing = value.clone();
                }
            }
            (_, Value::Object(_)) => {
                let child = map.entry(key.clone()).or_insert(Value::Null);
                strategic(child, value, path)?;
                if child.is_null() {
                    map.remove(key);
                }
            }
            _ => {
                map.insert(key.clone(), value.clone());
            }
        }
        path.pop();
    }
    Ok(())
}

fn merge_list(
    current: &mut Vec<Value>,
    patch: &[Value],
    key: &str,
    path: &mut Vec<String>,
) -> Result<(), String> {
    if patch
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *current = patch
            .iter()
            .filter(|item| item.get("$patch").is_none())
            .cloned()
            .collect();
        return Ok(());
    }
    for item in patch {
        let Some(id) = item.get(key) else {
            current.push(item.clone());
            continue;
        };
        let position = current.iter().position(|c| c.get(key) == Some(id));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = position {
                current.remove(i);
            }
            continue;
        }
        match position {
            Some(i) => strategic(&mut current[i], item, path)?,
            None => {
                let mut added = Value::Null;
                strategic(&mut added, item, path)?;
                current.push(added);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patches() {
        let mut doc = json!({"metadata": {"finalizers": ["a", "b"]}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/metadata/finalizers/0", "value": "a"},
                {"op": "remove", "path": "/metadata/finalizers/0"},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "c"},
                {"op": "add", "path": "/metadata/labels", "value": {"x/y": "1"}},
                {"op": "replace", "path": "/metadata/labels/x~1y", "value": "2"},
            ]),
        )
        .expect("patch");
        assert_eq!(
            doc,
            json!({"metadata": {"finalizers": ["b", "c"], "labels": {"x/y": "2"}}})
        );
        assert!(
            json_patch(
                &mut doc,
                &json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "z"}])
            )
            .is_err()
        );
        assert!(json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        json_patch(
            &mut doc,
            &json!([{"op": "test", "path": "/metadata/absent", "value": null}]),
        )
        .expect("a missing path tests equal to null");
        assert!(
            json_patch(
                &mut doc,
                &json!([{"op": "test", "path": "/metadata/labels", "value": null}])
            )
            .is_err()
        );
    }

    #[test]
    fn strategic() {
        let mut doc = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}, "metadata": {"finalizers": ["f1"]}});
        strategic_merge(
            &mut doc,
            &json!({
                "spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}], "$setElementOrder/containers": [{"name": "a"}]},
                "metadata": {"finalizers": ["f2"]},
            }),
        )
        .expect("patch");
        assert_eq!(
            doc["spec"]["containers"],
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}, {"name": "c", "image": "w"}])
        );
        assert_eq!(doc["metadata"]["finalizers"], json!(["f1", "f2"]));
        strategic_merge(&mut doc, &json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}, "metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"]}})).expect("patch");
        assert_eq!(doc["spec"]["containers"].as_array().map(Vec::len), Some(2));
        assert_eq!(doc["metadata"]["finalizers"], json!(["f2"]));
    }
}
