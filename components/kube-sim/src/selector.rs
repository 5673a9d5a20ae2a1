//! Label and field selectors of list and watch requests.
//!
//! Label selectors have the full Kubernetes grammar (`storage-api`'s parser). Field selectors
//! are the kube-apiserver ones (`k8s.io/apimachinery/pkg/fields`): `path=value`,
//! `path==value` and `path!=value` terms separated by commas, with `\` escapes, limited to the
//! fields a resource supports (`metadata.name`, `metadata.namespace` and per-kind ones such as
//! `involvedObject.kind` of events); a missing field compares as the empty string.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use storage_api::query::label_selector::LabelSelector;

use crate::error::ApiError;
use crate::resources::ResourceDef;

/// One field selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldRequirement {
    pub(crate) field: String,
    pub(crate) equal: bool,
    pub(crate) value: String,
}

/// A parsed field selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    pub(crate) requirements: Vec<FieldRequirement>,
}

fn split_unescaped(s: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if escaped {
        current.push('\\');
    }
    parts.push(current);
    parts
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(format!("invalid escape sequence: \\{e}")),
                None => return Err("unterminated escape sequence".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses a field selector.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if s.is_empty() {
            return Ok(Self { requirements });
        }
        for term in split_unescaped(s, ',') {
            if term.is_empty() {
                continue;
            }
            let (field, equal, value) = split_term(&term)
                .ok_or_else(|| format!("invalid selector: '{s}'; can't understand '{term}'"))?;
            requirements.push(FieldRequirement {
                field: unescape(field)?,
                equal,
                value: unescape(value)?,
            });
        }
        Ok(Self { requirements })
    }

    /// Whether every term holds, given a way to read a field.
    pub(crate) fn matches(&self, field: impl Fn(&str) -> String) -> bool {
        self.requirements
            .iter()
            .all(|r| (field(&r.field) == r.value) == r.equal)
    }
}

/// Splits `key<op>value` at the first operator (`!=`, `==`, `=`) not escaped.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if term[i..].starts_with("!=") {
            return Some((&term[..i], false, &term[i + 2..]));
        }
        if term[i..].starts_with("==") {
            return Some((&term[..i], true, &term[i + 2..]));
        }
        if bytes[i] == b'=' {
            return Some((&term[..i], true, &term[i + 1..]));
        }
        i += 1;
    }
    None
}

#[derive(Deserialize)]
struct Lite {
    #[serde(default)]
    metadata: LiteMeta,
}

#[derive(Deserialize, Default)]
struct LiteMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The selectors of a request, validated for a resource.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
    /// Whether some field is outside `metadata` (the whole object must be parsed).
    deep: bool,
}

impl Filter {
    /// Parses and validates `labelSelector` and `fieldSelector` for `def`.
    pub(crate) fn new(
        def: &ResourceDef,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(label_selector.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(field_selector.unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let mut deep = false;
        for requirement in &fields.requirements {
            let field = requirement.field.as_str();
            let metadata =
                field == "metadata.name" || (field == "metadata.namespace" && def.namespaced);
            if !metadata {
                if !def.field_selectors.iter().any(|f| f == field) {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {field}"
                    )));
                }
                deep = true;
            }
        }
        Ok(Self {
            labels,
            fields,
            deep,
        })
    }

    /// Whether the filter matches everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.requirements.is_empty()
    }

    /// Whether the labels are unconstrained (for `remainingItemCount`).
    pub(crate) fn has_selectors(&self) -> bool {
        !self.is_empty()
    }

    /// Whether the object JSON `raw` matches.
    pub(crate) fn matches(&self, raw: &[u8]) -> bool {
        if self.is_empty() {
            return true;
        }
        if self.deep {
            let Ok(value) = serde_json::from_slice::<Value>(raw) else {
                return false;
            };
            return self.matches_value(&value);
        }
        let Ok(lite) = serde_json::from_slice::<Lite>(raw) else {
            return false;
        };
        self.labels.matches(&lite.metadata.labels)
            && self.fields.matches(|field| match field {
                "metadata.name" => lite.metadata.name.clone(),
                "metadata.namespace" => lite.metadata.namespace.clone(),
                _ => String::new(),
            })
    }

    /// Whether a parsed object matches.
    pub(crate) fn matches_value(&self, value: &Value) -> bool {
        let empty = serde_json::Map::new();
        let labels = value
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        self.labels.matches(labels) && self.fields.matches(|field| field_value(value, field))
    }
}

/// The text of a selectable field (`""` when missing).
pub(crate) fn field_value(object: &Value, field: &str) -> String {
    let path = if field == "source" {
        "source.component"
    } else {
        field
    };
    let mut current = object;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            None => return String::new(),
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_field_selectors() {
        let s =
            FieldSelector::parse("involvedObject.kind=Pod,metadata.name!=a\\,b").expect("parse");
        assert_eq!(
            s.requirements,
            vec![
                FieldRequirement {
                    field: "involvedObject.kind".into(),
                    equal: true,
                    value: "Pod".into()
                },
                FieldRequirement {
                    field: "metadata.name".into(),
                    equal: false,
                    value: "a,b".into()
                },
            ]
        );
        assert!(FieldSelector::parse("novalue").is_err());
        assert_eq!(
            FieldSelector::parse("a==b").expect("parse").requirements[0].value,
            "b"
        );
    }

    #[test]
    fn filters_objects() {
        let catalog = crate::resources::Catalog::new(&[]);
        let events = catalog.lookup("", "v1", "events").expect("events");
        let filter =
            Filter::new(&events, Some("app=web"), Some("involvedObject.kind=Pod")).expect("filter");
        let raw =
            br#"{"metadata":{"name":"e","labels":{"app":"web"}},"involvedObject":{"kind":"Pod"}}"#;
        assert!(filter.matches(raw));
        let raw =
            br#"{"metadata":{"name":"e","labels":{"app":"web"}},"involvedObject":{"kind":"Node"}}"#;
        assert!(!filter.matches(raw));
        assert!(Filter::new(&events, None, Some("spec.foo=x")).is_err());
        let pods = catalog.lookup("", "v1", "pods").expect("pods");
        let filter = Filter::new(&pods, None, Some("metadata.name=a")).expect("filter");
        assert!(filter.matches(br#"{"metadata":{"name":"a"}}"#));
        assert!(!filter.matches(br#"{"metadata":{"name":"b"}}"#));
    }
}
