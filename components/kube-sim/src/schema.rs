//! Structural schemas of custom resources (`openAPIV3Schema`): pruning of unknown fields,
//! defaulting and the validations a kube-apiserver applies (types, required, enums, bounds,
//! formats), with its messages.
//!
//! Not evaluated: `pattern`, CEL rules (`x-kubernetes-validations`), `oneOf`/`anyOf`/`allOf`,
//! and list-type uniqueness.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

/// A node of a structural schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Schema {
    type_: Option<String>,
    format: Option<String>,
    properties: BTreeMap<String, Schema>,
    items: Option<Box<Schema>>,
    additional_properties: Option<Box<Schema>>,
    preserve_unknown: bool,
    int_or_string: bool,
    embedded_resource: bool,
    nullable: bool,
    required: Vec<String>,
    enum_: Vec<Value>,
    default: Option<Value>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
}

/// A validation error: `(reason, field path, message)`, as the causes of a 422 `Invalid`.
pub(crate) type Cause = (&'static str, String, String);

impl Schema {
    /// Reads a schema from its JSON form.
    pub(crate) fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or("a schema must be an object")?;
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
        let flag = |k: &str| object.get(k).and_then(Value::as_bool).unwrap_or(false);
        let number = |k: &str| object.get(k).and_then(Value::as_u64);
        let mut properties = BTreeMap::new();
        if let Some(props) = object.get("properties").and_then(Value::as_object) {
            for (name, schema) in props {
                properties.insert(name.clone(), Self::from_json(schema)?);
            }
        }
        let items = object
            .get("items")
            .map(|s| Self::from_json(s).map(Box::new))
            .transpose()?;
        let additional_properties = match object.get("additionalProperties") {
            Some(Value::Object(_)) => object
                .get("additionalProperties")
                .map(|s| Self::from_json(s).map(Box::new))
                .transpose()?,
            Some(Value::Bool(true)) => Some(Box::new(Self {
                preserve_unknown: true,
                ..Self::default()
            })),
            _ => None,
        };
        Ok(Self {
            type_: text("type"),
            format: text("format"),
            properties,
            items,
            additional_properties,
            preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
            int_or_string: flag("x-kubernetes-int-or-string"),
            embedded_resource: flag("x-kubernetes-embedded-resource"),
            nullable: flag("nullable"),
            required: object
                .get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            enum_: object
                .get("enum")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            default: object.get("default").cloned(),
            min_items: number("minItems"),
            max_items: number("maxItems"),
            min_length: number("minLength"),
            max_length: number("maxLength"),
            minimum: object.get("minimum").and_then(Value::as_f64),
            maximum: object.get("maximum").and_then(Value::as_f64),
        })
    }

    /// Prunes, defaults and validates a whole custom object (the root's `apiVersion`, `kind`
    /// and `metadata` are left to the metadata rules).
    pub(crate) fn apply_to_object(&self, object: &mut Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        let Some(map) = object.as_object_mut() else {
            causes.push((
                "FieldValueTypeInvalid",
                String::new(),
                "must be an object".into(),
            ));
            return causes;
        };
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match self.properties.get(&key) {
                Some(schema) => {
                    if map.get(&key).is_some_and(Value::is_null) && !schema.nullable {
                        map.remove(&key);
                        continue;
                    }
                    if let Some(value) = map.get_mut(&key) {
                        schema.prune_and_default(value);
                    }
                }
                None if !self.preserve_unknown => {
                    map.remove(&key);
                }
                None => {}
            }
        }
        for (key, schema) in &self.properties {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if !map.contains_key(key)
                && let Some(default) = &schema.default
            {
                map.insert(key.clone(), default.clone());
            }
        }
        for key in &self.required {
            if !map.contains_key(key) {
                causes.push(("FieldValueRequired", key.clone(), "Required value".into()));
            }
        }
        for (key, schema) in &self.properties {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(value) = map.get(key) {
                schema.validate(value, key, &mut causes);
            }
        }
        causes
    }

    /// Drops unknown fields and non-nullable nulls, and fills defaults, below this node.
    fn prune_and_default(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    let embedded_meta = self.embedded_resource
                        && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
                    let schema = self
                        .properties
                        .get(&key)
                        .or(self.additional_properties.as_deref());
                    match schema {
                        Some(schema) => {
                            if map.get(&key).is_some_and(Value::is_null) && !schema.nullable {
                                map.remove(&key);
                            } else if let Some(child) = map.get_mut(&key) {
                                schema.prune_and_default(child);
                            }
                        }
                        None if self.preserve_unknown || embedded_meta => {}
                        None => {
                            map.remove(&key);
                        }
                    }
                }
                for (key, schema) in &self.properties {
                    if !map.contains_key(key)
                        && let Some(default) = &schema.default
                    {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            Value::Array(items) => {
                if let Some(schema) = &self.items {
                    items.retain(|item| !item.is_null() || schema.nullable);
                    for item in items {
                        schema.prune_and_default(item);
                    }
                }
            }
            _ => {}
        }
    }

    fn validate(&self, value: &Value, path: &str, causes: &mut Vec<Cause>) {
        if value.is_null() {
            if !self.nullable {
                causes.push((
                    "FieldValueTypeInvalid",
                    path.to_owned(),
                    format!(
                        "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                        self.type_.as_deref().unwrap_or("object")
                    ),
                ));
            }
            return;
        }
        if self.int_or_string {
            if !(value.is_string() || value.is_i64() || value.is_u64()) {
                causes.push(type_error(path, "integer or string", value));
            }
            return;
        }
        if let Some(type_) = &self.type_ {
            let ok = match type_.as_str() {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !ok {
                causes.push(type_error(path, type_, value));
                return;
            }
        }
        if !self.enum_.is_empty() && !self.enum_.contains(value) {
            let supported: Vec<String> = self.enum_.iter().map(Value::to_string).collect();
            causes.push((
                "FieldValueNotSupported",
                path.to_owned(),
                format!(
                    "Unsupported value: {value}: supported values: {}",
                    supported.join(", ")
                ),
            ));
        }
        match value {
            Value::Object(map) => self.validate_object(map, path, causes),
            Value::Array(items) => {
                let len = items.len() as u64;
                if let Some(min) = self.min_items
                    && len < min
                {
                    causes.push((
                        "FieldValueInvalid",
                        path.to_owned(),
                        format!(
                            "Invalid value: {len}: {path} in body should have at least {min} items"
                        ),
                    ));
                }
                if let Some(max) = self.max_items
                    && len > max
                {
                    causes.push((
                        "FieldValueTooMany",
                        path.to_owned(),
                        format!("Too many: {len}: must have at most {max} items"),
                    ));
                }
                if let Some(schema) = &self.items {
                    for (i, item) in items.iter().enumerate() {
                        schema.validate(item, &format!("{path}[{i}]"), causes);
                    }
                }
            }
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if let Some(min) = self.min_length
                    && len < min
                {
                    causes.push((
                        "FieldValueInvalid",
                        path.to_owned(),
                        format!("Invalid value: \"{s}\": {path} in body should be at least {min} chars long"),
                    ));
                }
                if let Some(max) = self.max_length
                    && len > max
                {
                    causes.push((
                        "FieldValueTooLong",
                        path.to_owned(),
                        format!("Too long: may not be more than {max} bytes"),
                    ));
                }
                match self.format.as_deref() {
                    Some("byte")
                        if base64::engine::general_purpose::STANDARD
                            .decode(s.as_bytes())
                            .is_err() =>
                    {
                        causes.push((
                            "FieldValueInvalid",
                            path.to_owned(),
                            format!("Invalid value: \"{s}\": {path} in body must be of type byte: \"{s}\""),
                        ));
                    }
                    Some("date-time") if kube_wire::time::parse_rfc3339_millis(s).is_none() => {
                        causes.push((
                            "FieldValueInvalid",
                            path.to_owned(),
                            format!("Invalid value: \"{s}\": {path} in body must be of type date-time: \"{s}\""),
                        ));
                    }
                    _ => {}
                }
            }
            Value::Number(n) => {
                if let (Some(min), Some(x)) = (self.minimum, n.as_f64())
                    && x < min
                {
                    causes.push((
                        "FieldValueInvalid",
                        path.to_owned(),
                        format!("Invalid value: {n}: {path} in body should be greater than or equal to {min}"),
                    ));
                }
                if let (Some(max), Some(x)) = (self.maximum, n.as_f64())
                    && x > max
                {
                    causes.push((
                        "FieldValueInvalid",
                        path.to_owned(),
                        format!("Invalid value: {n}: {path} in body should be less than or equal to {max}"),
                    ));
                }
            }
            _ => {}
        }
    }

    fn validate_object(&self, map: &Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
        for key in &self.required {
            if !map.contains_key(key) {
                causes.push((
                    "FieldValueRequired",
                    format!("{path}.{key}"),
                    "Required value".into(),
                ));
            }
        }
        for (key, value) in map {
            if let Some(schema) = self.properties.get(key) {
                schema.validate(value, &format!("{path}.{key}"), causes);
            } else if let Some(schema) = &self.additional_properties {
                schema.validate(value, &format!("{path}.{key}"), causes);
            }
        }
    }
}

fn type_error(path: &str, type_: &str, value: &Value) -> Cause {
    let found = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    (
        "FieldValueTypeInvalid",
        path.to_owned(),
        format!("Invalid value: \"{found}\": {path} in body must be of type {type_}: \"{found}\""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::from_json(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "string", "enum": ["small", "large"]},
                        "replicas": {"type": "integer", "minimum": 0, "default": 1},
                        "data": {"type": "string", "format": "byte"},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "list": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    },
                },
                "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
            },
        }))
        .expect("schema")
    }

    #[test]
    fn prunes_defaults_and_validates() {
        let mut object = json!({
            "apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "a"},
            "spec": {"size": "small", "unknown": 1, "free": {"x": {"y": 1}}},
            "status": {"phase": "Ready", "other": true},
            "extra": 1,
        });
        let causes = schema().apply_to_object(&mut object);
        assert!(causes.is_empty(), "{causes:?}");
        assert_eq!(
            object,
            json!({
                "apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "a"},
                "spec": {"size": "small", "replicas": 1, "free": {"x": {"y": 1}}},
                "status": {"phase": "Ready"},
            })
        );
    }

    #[test]
    fn rejects() {
        let mut object =
            json!({"spec": {"size": "huge", "replicas": "x", "data": "***", "list": []}});
        let causes = schema().apply_to_object(&mut object);
        let fields: Vec<&str> = causes.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.data", "spec.list", "spec.replicas", "spec.size"]
        );
        let mut object = json!({"spec": {}});
        let causes = schema().apply_to_object(&mut object);
        assert_eq!(causes[0].1, "spec.size");
    }
}
