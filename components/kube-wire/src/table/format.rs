//! How kubectl's columns format values: ages, label maps, label selectors, container lists,
//! and serde helpers to read only what a printer needs from an object's JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The age of a time (milliseconds since the epoch) at `now`; `<unknown>` without a time.
pub fn since(time: Option<i64>, now: i64) -> String {
    match time {
        Some(time) => crate::time::human_duration(now - time),
        None => "<unknown>".into(),
    }
}

/// An RFC 3339 time from an object, in milliseconds since the epoch.
pub fn time(value: Option<&str>) -> Option<i64> {
    value.and_then(crate::time::parse_rfc3339_millis)
}

/// A label map as `k1=v1,k2=v2` sorted by key, or `<none>`.
pub fn labels(map: &BTreeMap<String, String>) -> String {
    if map.is_empty() {
        return "<none>".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A `metav1.LabelSelector`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(deserialize_with = "nullable")]
    match_labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    match_expressions: Vec<SelectorRequirement>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SelectorRequirement {
    key: String,
    operator: String,
    #[serde(deserialize_with = "nullable")]
    values: Vec<String>,
}

impl LabelSelector {
    /// The selector as Kubernetes writes it (`app=web,tier in (a,b)`), requirements sorted by
    /// key, set values sorted; `Err` for an unknown operator.
    pub(crate) fn to_selector_string(&self) -> Result<String, ()> {
        let mut requirements: Vec<(&str, String)> = Vec::new();
        for (key, value) in &self.match_labels {
            requirements.push((key, format!("{key}={value}")));
        }
        for expression in &self.match_expressions {
            let mut values: Vec<&str> = expression.values.iter().map(String::as_str).collect();
            values.sort_unstable();
            let key = expression.key.as_str();
            let text = match expression.operator.as_str() {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_owned(),
                "DoesNotExist" => format!("!{key}"),
                _ => return Err(()),
            };
            requirements.push((key, text));
        }
        requirements.sort_by(|a, b| a.0.cmp(b.0));
        Ok(requirements
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join(","))
    }
}

/// A selector as `kubectl get -o wide` shows it: `<none>` when empty or absent, `<error>` when
/// invalid.
pub fn label_selector(selector: Option<&LabelSelector>) -> String {
    match selector.map(LabelSelector::to_selector_string) {
        None => "<none>".into(),
        Some(Err(())) => "<error>".into(),
        Some(Ok(text)) if text.is_empty() => "<none>".into(),
        Some(Ok(text)) => text,
    }
}

/// A container of a pod template: its name and image.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    name: String,
    image: String,
}

/// The `Containers` and `Images` cells of a pod template.
pub fn containers(containers: &[Container]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers.iter().map(|c| c.image.as_str()).collect();
    (names.join(","), images.join(","))
}

/// A pod template: what workload printers read from `spec.template`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PodTemplate {
    /// `spec`.
    pub spec: PodTemplateSpec,
}

/// The part of a pod template's spec printers read.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// `containers`.
    #[serde(deserialize_with = "nullable")]
    pub containers: Vec<Container>,
    /// `nodeSelector`.
    #[serde(deserialize_with = "nullable")]
    pub node_selector: BTreeMap<String, String>,
}

/// Deserializes `null` as the default value (Go writes nil slices and maps as `null`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// The number of members of a JSON object or elements of an array, read without keeping them
/// (`null` or absent: 0).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub i64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object, an array or null")
            }
            fn visit_unit<E>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_none<E>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Count, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        deserializer.deserialize_option(CountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_sorted_by_key_with_sorted_values() {
        let selector: LabelSelector = serde_json::from_str(
            r#"{"matchLabels":{"tier":"web","app":"a"},"matchExpressions":[{"key":"env","operator":"In","values":["prod","dev"]},{"key":"zz","operator":"DoesNotExist"},{"key":"b","operator":"Exists"}]}"#,
        )
        .expect("selector");
        assert_eq!(
            label_selector(Some(&selector)),
            "app=a,b,env in (dev,prod),tier=web,!zz"
        );
        assert_eq!(label_selector(None), "<none>");
        assert_eq!(label_selector(Some(&LabelSelector::default())), "<none>");
        let bad: LabelSelector =
            serde_json::from_str(r#"{"matchExpressions":[{"key":"a","operator":"Near"}]}"#)
                .expect("selector");
        assert_eq!(label_selector(Some(&bad)), "<error>");
    }

    #[test]
    fn counts_members_without_keeping_them() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default)]
            data: Count,
            #[serde(default)]
            list: Count,
            #[serde(default)]
            none: Count,
            #[serde(default)]
            missing: Count,
        }
        let t: T = serde_json::from_str(
            r#"{"data":{"a":"1","b":{"x":[1,2]}},"list":[1,{"y":2},3],"none":null}"#,
        )
        .expect("t");
        assert_eq!((t.data.0, t.list.0, t.none.0, t.missing.0), (2, 3, 0, 0));
    }
}
