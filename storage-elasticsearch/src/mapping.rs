//! The layout in the search server: index names, the index template (settings and mapping),
//! and the document of an object.
//!
//! | name | what |
//! |---|---|
//! | `{prefix}-resources` | the composable index template of every index below |
//! | `{prefix}-r-{resource}.{group}-1` | the index of one group-resource (core: `{prefix}-r-{resource}-1`) |
//! | `{prefix}-r-{resource}.{group}` | its alias (reads and writes of the resource) |
//! | `{prefix}-all` | the alias over every index of the layer (collections, owners, cleaning) |
//!
//! A document ([`document`]) holds keyword fields for everything filtered or sorted, the labels
//! as two keyword arrays (`label_kv: ["k=v"]`, `label_keys: ["k"]`: exact Kubernetes selector
//! semantics on both Elasticsearch and OpenSearch), the creation time and numeric resource
//! version as longs (missing: [`MISSING`], so that every sort field is always present), and the
//! words of the full-text search in `text` (storage-api's shared tokenizer, joined by spaces,
//! analysed with the built-in `whitespace` analyzer), and the object's JSON as a string (`raw`, plus `meta` for `onlyMetadata`) kept in `_source` and not
//! indexed (`dynamic: false` leaves unmapped fields out of the index). The JSON is a string,
//! not an object, so that the server returns its bytes exactly as they were written.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use storage_api::query::full_text::object_tokens;
use storage_api::{
    Gvr, ObjectKey, ResourceObject, ResourceStorageConfig, Result, StoredResourceType,
};

/// The value stored for a missing creation time or non-numeric resource version: lower than
/// any real value, as storage-api orders missing values.
pub const MISSING: i64 = i64::MIN;

/// The names of one layer's indices, aliases and template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// The names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The alias over every index of the layer.
    pub fn all(&self) -> String {
        format!("{}-all", self.prefix)
    }

    /// The index template's name.
    pub fn template(&self) -> String {
        format!("{}-resources", self.prefix)
    }

    /// The pattern of the template: every resource index.
    pub fn pattern(&self) -> String {
        format!("{}-r-*", self.prefix)
    }

    /// The alias of one group-resource.
    pub fn alias(&self, gvr: &Gvr) -> String {
        let mut name = format!("{}-r-{}", self.prefix, sanitize(&gvr.resource));
        if !gvr.group.is_empty() {
            name.push('.');
            name.push_str(&sanitize(&gvr.group));
        }
        if name.len() > 200 {
            // Index names are at most 255 bytes: long names keep a readable start and a hash.
            let digest = hex(&Sha256::digest(name.as_bytes()));
            name.truncate(180);
            name.push('-');
            name.push_str(&digest[..16]);
        }
        name
    }

    /// The concrete index behind [`Names::alias`] (generation 1 of its mapping).
    pub fn index(&self, gvr: &Gvr) -> String {
        format!("{}-1", self.alias(gvr))
    }
}

/// Index names are lowercase, without `\ / * ? " < > | , # :` or spaces.
fn sanitize(part: &str) -> String {
    part.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect()
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// The document id of an object: a hash of (cluster, namespace, name), so that a get is a
/// real-time `GET _doc/{id}` and an upsert after a delete and re-create lands on the same
/// document (the index is per group-resource).
pub fn document_id(key: &ObjectKey) -> String {
    let mut hasher = Sha256::new();
    for part in [&key.cluster, &key.namespace, &key.name] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex(&hasher.finalize())
}

/// The composable index template of the layer's indices.
pub fn template(names: &Names, shards: u32, replicas: u32) -> Value {
    let keyword = json!({"type": "keyword"});
    let long = json!({"type": "long"});
    let mut properties = serde_json::Map::new();
    for field in [
        "cluster",
        "group",
        "version",
        "resource",
        "kind",
        "namespace",
        "name",
        "uid",
        "owner_uid",
        "resource_version",
        "stored_type",
        "label_kv",
        "label_keys",
    ] {
        properties.insert(field.to_owned(), keyword.clone());
    }
    properties.insert("namespaced".to_owned(), json!({"type": "boolean"}));
    properties.insert("created_at".to_owned(), long.clone());
    properties.insert("rv_num".to_owned(), long);
    // The full-text words (storage-api's shared tokenizer), already lowercased and split:
    // the built-in `whitespace` analyzer keeps them as they are.
    properties.insert(
        "text".to_owned(),
        json!({"type": "text", "analyzer": "whitespace"}),
    );
    json!({
        "index_patterns": [names.pattern()],
        "priority": 100,
        "template": {
            "settings": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
            },
            "mappings": {
                "dynamic": false,
                "properties": properties,
            },
            "aliases": { names.all(): {} },
        },
    })
}

/// The body of the creation of the index of `gvr` (its aliases; the rest is the template's).
pub fn index_body(names: &Names, gvr: &Gvr) -> Value {
    json!({
        "aliases": {
            names.all(): {},
            names.alias(gvr): { "is_write_index": true },
        }
    })
}

/// The stored resource type of an object, as the one keyword `stored_type` (a JSON array), so
/// that one terms aggregation lists the stored types.
pub fn stored_type(config: &ResourceStorageConfig, cluster: &str) -> String {
    let gvr = &config.gvr;
    json!([
        cluster,
        gvr.group,
        gvr.version,
        gvr.resource,
        config.kind,
        config.namespaced
    ])
    .to_string()
}

/// Reads a [`stored_type`] back.
pub fn parse_stored_type(text: &str) -> Option<StoredResourceType> {
    let value: Value = serde_json::from_str(text).ok()?;
    let part = |i: usize| value.get(i).and_then(Value::as_str).map(str::to_owned);
    Some(StoredResourceType {
        cluster: part(0)?,
        gvr: Gvr {
            group: part(1)?,
            version: part(2)?,
            resource: part(3)?,
        },
        kind: part(4)?,
        namespaced: value.get(5)?.as_bool()?,
    })
}

/// The fields of the document of `object` stored under `config` (without `events`, which
/// writes of the object keep).
pub fn document(config: &ResourceStorageConfig, object: &ResourceObject) -> Result<Value> {
    let fields = &object.fields;
    let raw = std::str::from_utf8(&object.raw)
        .map_err(|e| storage_api::StorageError::internal("object JSON is not UTF-8", e))?;
    let meta = storage_api::object::metadata_only(&object.raw)?;
    let meta = String::from_utf8(meta.to_vec())
        .map_err(|e| storage_api::StorageError::internal("object JSON is not UTF-8", e))?;
    let label_kv: Vec<String> = fields
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let label_keys: Vec<&str> = fields.labels.iter().map(|(k, _)| k).collect();
    let text = object_tokens(&object.to_value()?).join(" ");
    Ok(json!({
        "cluster": &*fields.cluster,
        "group": config.gvr.group,
        "version": config.gvr.version,
        "resource": config.gvr.resource,
        "kind": config.kind,
        "namespaced": config.namespaced,
        "namespace": fields.namespace,
        "name": fields.name,
        "uid": fields.uid,
        "owner_uid": fields.owner_uid,
        "resource_version": fields.resource_version,
        "rv_num": fields
            .resource_version_number()
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or(MISSING),
        "created_at": fields.creation_timestamp.unwrap_or(MISSING),
        "label_kv": label_kv,
        "label_keys": label_keys,
        "stored_type": stored_type(config, &fields.cluster),
        "text": text,
        "raw": raw,
        "meta": meta,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;

    #[test]
    fn names_are_valid_index_names() {
        let names = Names::new("cp");
        assert_eq!(names.alias(&Gvr::new("", "v1", "pods")), "cp-r-pods");
        assert_eq!(
            names.index(&Gvr::new("apps", "v1", "deployments")),
            "cp-r-deployments.apps-1"
        );
        assert_eq!(names.all(), "cp-all");
        let long = Gvr::new(&"g".repeat(250), "v1", "Things");
        let index = names.index(&long);
        assert!(
            index.len() < 255 && index.starts_with("cp-r-things."),
            "{index}"
        );
        assert_ne!(
            index,
            names.index(&Gvr::new(&"g".repeat(251), "v1", "things"))
        );
    }

    #[test]
    fn ids_hash_cluster_namespace_and_name_without_ambiguity() {
        let a = document_id(&ObjectKey::new("c", "ns", "a"));
        assert_eq!(a.len(), 64);
        assert_eq!(a, document_id(&ObjectKey::new("c", "ns", "a")));
        assert_ne!(
            document_id(&ObjectKey::new("c", "nsa", "")),
            document_id(&ObjectKey::new("c", "ns", "a"))
        );
    }

    #[test]
    fn the_document_has_every_sort_field_and_the_json_as_text() {
        let raw = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns","uid":"u1","resourceVersion":"x7","labels":{"app":"web","tier":""},"ownerReferences":[{"uid":"rs","controller":true}]},"spec":{"n":1.10}}"#;
        let gvr = Arc::new(Gvr::new("", "v1", "pods"));
        let object =
            ResourceObject::parse("c1".into(), gvr.clone(), Bytes::from(raw)).expect("object");
        let config = ResourceStorageConfig {
            gvr: (*gvr).clone(),
            kind: "Pod".into(),
            namespaced: true,
        };
        let doc = document(&config, &object).expect("document");
        assert_eq!(doc["raw"], raw);
        assert_eq!(doc["created_at"], MISSING);
        assert_eq!(doc["rv_num"], MISSING);
        assert_eq!(doc["owner_uid"], "rs");
        assert_eq!(doc["label_kv"], json!(["app=web", "tier="]));
        assert_eq!(doc["label_keys"], json!(["app", "tier"]));
        assert_eq!(doc["text"], "p ns app web tier");
        let stored = parse_stored_type(doc["stored_type"].as_str().expect("text")).expect("type");
        assert_eq!(
            (
                stored.cluster.as_str(),
                stored.kind.as_str(),
                stored.namespaced
            ),
            ("c1", "Pod", true)
        );
        assert!(doc["meta"].as_str().expect("meta").contains("\"labels\""));
        assert!(!doc["meta"].as_str().expect("meta").contains("spec"));
    }

    #[test]
    fn the_template_indexes_only_the_declared_fields() {
        let t = template(&Names::new("cp"), 2, 1);
        assert_eq!(t["index_patterns"], json!(["cp-r-*"]));
        assert_eq!(t["template"]["mappings"]["dynamic"], json!(false));
        let properties = &t["template"]["mappings"]["properties"];
        assert_eq!(properties["label_kv"]["type"], "keyword");
        assert_eq!(properties["created_at"]["type"], "long");
        assert!(properties.get("raw").is_none() && properties.get("events").is_none());
        assert_eq!(t["template"]["settings"]["number_of_shards"], 2);
        assert!(t["template"]["aliases"].get("cp-all").is_some());
    }
}
