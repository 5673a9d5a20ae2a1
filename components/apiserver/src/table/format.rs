//! How kubectl's columns format values: ages, label maps, label selectors, container lists,
//! and serde helpers to read only what a printer needs from an object's JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A duration as kubectl writes ages: `45s`, `3m20s`, `5h`, `2d3h`, `400d`, `3y20d`.
pub(crate) fn human_duration(millis: i64) -> String {
    let seconds = millis / 1000;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of a time (milliseconds since the epoch) at `now`; `<unknown>` without a time.
pub(crate) fn since(time: Option<i64>, now: i64) -> String {
    match time {
        Some(time) => human_duration(now - time),
        None => "<unknown>".into(),
    }
}

/// An RFC 3339 time from an object, in milliseconds since the epoch.
pub(crate) fn time(value: Option<&str>) -> Option<i64> {
    value.and_then(storage_api::object::parse_rfc3339_millis)
}

/// A label map as `k1=v1,k2=v2` sorted by key, or `<none>`.
pub(crate) fn labels(map: &BTreeMap<String, String>) -> String {
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
pub(crate) struct LabelSelector {
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
pub(crate) fn label_selector(selector: Option<&LabelSelector>) -> String {
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
pub(crate) struct Container {
    name: String,
    image: String,
}

/// The `Containers` and `Images` cells of a pod template.
pub(crate) fn containers(containers: &[Container]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers.iter().map(|c| c.image.as_str()).collect();
    (names.join(","), images.join(","))
}

/// A pod template: what workload printers read from `spec.template`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PodTemplate {
    pub(crate) spec: PodTemplateSpec,
}

/// The part of a pod template's spec printers read.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodTemplateSpec {
    #[serde(deserialize_with = "nullable")]
    pub(crate) containers: Vec<Container>,
    #[serde(deserialize_with = "nullable")]
    pub(crate) node_selector: BTreeMap<String, String>,
}

/// Deserializes `null` as the default value (Go writes nil slices and maps as `null`).
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// The number of members of a JSON object or elements of an array, read without keeping them
/// (`null` or absent: 0).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) i64);

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

    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;

    #[test]
    fn durations_read_like_kubectl() {
        for (millis, text) in [
            (-5 * S, "<invalid>"),
            (-1500, "0s"),
            (0, "0s"),
            (119 * S, "119s"),
            (2 * M, "2m"),
            (3 * M + 20 * S, "3m20s"),
            (10 * M + 5 * S, "10m"),
            (179 * M, "179m"),
            (3 * H, "3h"),
            (5 * H + 30 * M, "5h30m"),
            (8 * H + 30 * M, "8h"),
            (47 * H, "47h"),
            (2 * D, "2d"),
            (3 * D + 4 * H, "3d4h"),
            (8 * D, "8d"),
            (729 * D, "729d"),
            (730 * D, "2y"),
            (800 * D, "2y70d"),
            (3000 * D, "8y"),
        ] {
            assert_eq!(human_duration(millis), text, "{millis}");
        }
    }

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
