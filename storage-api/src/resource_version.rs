//! Rewriting `metadata.resourceVersion` inside an object's JSON without re-serializing it: the
//! one rule every watch-capable layer follows.
//!
//! A layer that serves watch returns objects carrying its own resource version (the memory
//! layer stamps each write with its revision, `internal` stamps on read with the revision of
//! the row's last change), so that `get`, `list` and `watch` answers carry a resource version a
//! client can watch from. The JSON
//! is never parsed into a DOM for that: [`RevisionSlot::locate`] finds, once and outside the
//! store lock, the byte range the value occupies (or where to insert it), and
//! [`RevisionSlot::stamp`] splices the revision in with two `memcpy`s while the lock is held.

use crate::error::{Result, StorageError};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The key written into `metadata`.
const KEY: &str = "resourceVersion";

/// The annotation that keeps the member cluster's own `metadata.resourceVersion` visible on
/// objects served with a layer's resource version ([`with_member_version`]).
pub const MEMBER_RESOURCE_VERSION_ANNOTATION: &str = "shadow.clusterpedia.io/resource-version";

/// Where the resource version of one object's JSON lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionSlot {
    /// `metadata.resourceVersion` exists: its value (quotes included) spans `start..end`.
    Replace {
        /// First byte of the value.
        start: usize,
        /// One past its last byte.
        end: usize,
    },
    /// `metadata` has no `resourceVersion`: insert the member right after the `{` at `at - 1`.
    Insert {
        /// The byte offset just after `metadata`'s opening brace.
        at: usize,
        /// Whether other members follow (a `,` is needed after the inserted one).
        comma: bool,
    },
}

#[derive(Deserialize)]
struct Outer<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Annotated<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    annotations: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    /// `Some` whenever the key is present, even with a `null` value (which is replaced too).
    #[serde(
        borrow,
        default,
        rename = "resourceVersion",
        deserialize_with = "present"
    )]
    resource_version: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// The byte offset of `part` within `whole` (`part` must be a sub-slice of `whole`).
fn offset_in(whole: &[u8], part: &str) -> Option<usize> {
    let base = whole.as_ptr() as usize;
    let start = (part.as_ptr() as usize).checked_sub(base)?;
    (start + part.len() <= whole.len()).then_some(start)
}

impl RevisionSlot {
    /// Finds where `metadata.resourceVersion` is (or goes) in `raw`, an object's JSON.
    ///
    /// Fails (`422 Invalid`) when `raw` is not a JSON object with an object `metadata`; objects
    /// that went through [`crate::ResourceObject::parse`] always have one.
    pub fn locate(raw: &[u8]) -> Result<Self> {
        let invalid = |what: String| StorageError::invalid("object", what);
        let outer: Outer<'_> = serde_json::from_slice(raw)
            .map_err(|e| invalid(format!("cannot read the object's metadata: {e}")))?;
        let metadata = outer
            .metadata
            .ok_or_else(|| invalid("metadata is required".into()))?;
        let meta_start = offset_in(raw, metadata.get())
            .ok_or_else(|| invalid("metadata is not part of the object".into()))?;
        let text = metadata.get();
        if !text.starts_with('{') {
            return Err(invalid("metadata is not a JSON object".into()));
        }
        let parsed: Metadata<'_> = serde_json::from_str(text)
            .map_err(|e| invalid(format!("cannot read metadata.resourceVersion: {e}")))?;
        match parsed.resource_version {
            Some(value) => {
                let start = offset_in(text.as_bytes(), value.get())
                    .ok_or_else(|| invalid("metadata.resourceVersion is misplaced".into()))?;
                Ok(Self::Replace {
                    start: meta_start + start,
                    end: meta_start + start + value.get().len(),
                })
            }
            None => Ok(Self::Insert {
                at: meta_start + 1,
                comma: !text[1..].trim_start().starts_with('}'),
            }),
        }
    }

    /// A copy of `raw` with the resource version set to `revision` (as a JSON string).
    ///
    /// `raw` must be the bytes this slot was located in (else `500 Internal`). The result is
    /// allocated at its exact size, so that the stored [`Bytes`] wastes nothing.
    pub fn stamp(self, raw: &[u8], revision: u64) -> Result<Bytes> {
        let digits = revision.to_string();
        let (cut, resume, member) = match self {
            Self::Replace { start, end } => (start, end, false),
            Self::Insert { at, .. } => (at, at, true),
        };
        let (Some(head), Some(tail)) = (raw.get(..cut), raw.get(resume..)) else {
            return Err(StorageError::Internal {
                message: "resource version slot does not fit the object".into(),
                source: None,
            });
        };
        let extra = if member {
            KEY.len() + 4 + usize::from(matches!(self, Self::Insert { comma: true, .. }))
        } else {
            0
        };
        let mut out = Vec::with_capacity(head.len() + digits.len() + 2 + extra + tail.len());
        out.extend_from_slice(head);
        if member {
            out.push(b'"');
            out.extend_from_slice(KEY.as_bytes());
            out.extend_from_slice(b"\":");
        }
        out.push(b'"');
        out.extend_from_slice(digits.as_bytes());
        out.push(b'"');
        if let Self::Insert { comma: true, .. } = self {
            out.push(b',');
        }
        out.extend_from_slice(tail);
        Ok(Bytes::from(out))
    }
}

/// Where a watch starts, read from its `resourceVersion` parameter with Kubernetes semantics:
/// absent, empty or `0` mean "now" (the current state first), a number "after that revision".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// With the current state (synthetic `ADDED` events).
    Now,
    /// After this revision (at most `i64::MAX`, what every layer can store).
    After(u64),
}

impl WatchStart {
    /// Reads the `resourceVersion` of a watch request; anything but a revision is a `400`
    /// naming the parameter.
    pub fn parse(resource_version: Option<&str>) -> Result<Self> {
        match resource_version.map(str::trim) {
            None | Some("" | "0") => Ok(Self::Now),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .and_then(|n| u64::try_from(n).ok())
                .map(Self::After)
                .ok_or_else(|| {
                    StorageError::bad_request(
                        "resourceVersion",
                        format!("invalid resource version {text:?}: expected a number"),
                    )
                }),
        }
    }
}

/// A copy of `raw` with `metadata.resourceVersion` set to `revision`.
pub fn with_revision(raw: &[u8], revision: u64) -> Result<Bytes> {
    RevisionSlot::locate(raw)?.stamp(raw, revision)
}

/// A copy of `raw` (a member object, with the member's `metadata.resourceVersion`) that also
/// carries that version in the annotation [`MEMBER_RESOURCE_VERSION_ANNOTATION`], so that it
/// stays visible once a watch-capable layer replaces `metadata.resourceVersion` with its own.
/// `raw` is returned as is when it has no resource version or already has the annotation.
/// The rule every watch-capable layer applies, before [`with_revision`].
pub fn with_member_version(raw: Bytes, member_version: &str) -> Result<Bytes> {
    if member_version.is_empty() {
        return Ok(raw);
    }
    let invalid = |what: String| StorageError::invalid("object", what);
    let outer: Outer<'_> = serde_json::from_slice(&raw)
        .map_err(|e| invalid(format!("cannot read the object's metadata: {e}")))?;
    let metadata = outer
        .metadata
        .ok_or_else(|| invalid("metadata is required".into()))?;
    let text = metadata.get();
    let meta_start = offset_in(&raw, text)
        .ok_or_else(|| invalid("metadata is not part of the object".into()))?;
    if !text.starts_with('{') {
        return Err(invalid("metadata is not a JSON object".into()));
    }
    let annotated: Annotated<'_> = serde_json::from_str(text)
        .map_err(|e| invalid(format!("cannot read metadata.annotations: {e}")))?;
    let member = {
        let mut out = Vec::with_capacity(64);
        serde_json::to_writer(&mut out, MEMBER_RESOURCE_VERSION_ANNOTATION)
            .and_then(|()| {
                out.push(b':');
                serde_json::to_writer(&mut out, member_version)
            })
            .map_err(|e| invalid(format!("cannot write the annotation: {e}")))?;
        out
    };
    // (cut, resume, inserted bytes)
    let (cut, resume, inserted) = match annotated.annotations {
        Some(value) if value.get().starts_with('{') => {
            let existing: std::collections::HashMap<String, serde::de::IgnoredAny> =
                serde_json::from_str(value.get())
                    .map_err(|e| invalid(format!("metadata.annotations: {e}")))?;
            if existing.contains_key(MEMBER_RESOURCE_VERSION_ANNOTATION) {
                return Ok(raw);
            }
            let at = meta_start
                + offset_in(text.as_bytes(), value.get())
                    .ok_or_else(|| invalid("metadata.annotations is misplaced".into()))?
                + 1;
            let mut inserted = member;
            if !existing.is_empty() {
                inserted.push(b',');
            }
            (at, at, inserted)
        }
        Some(value) if value.get() == "null" => {
            let start = meta_start
                + offset_in(text.as_bytes(), value.get())
                    .ok_or_else(|| invalid("metadata.annotations is misplaced".into()))?;
            let mut inserted = vec![b'{'];
            inserted.extend_from_slice(&member);
            inserted.push(b'}');
            (start, start + 4, inserted)
        }
        Some(_) => return Err(invalid("metadata.annotations is not a JSON object".into())),
        None => {
            let at = meta_start + 1;
            let mut inserted = b"\"annotations\":{".to_vec();
            inserted.extend_from_slice(&member);
            inserted.push(b'}');
            if !text[1..].trim_start().starts_with('}') {
                inserted.push(b',');
            }
            (at, at, inserted)
        }
    };
    let mut out = Vec::with_capacity(raw.len() + inserted.len());
    out.extend_from_slice(&raw[..cut]);
    out.extend_from_slice(&inserted);
    out.extend_from_slice(&raw[resume..]);
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_starts_parse_like_kubernetes() {
        assert_eq!(WatchStart::parse(None).expect("none"), WatchStart::Now);
        assert_eq!(WatchStart::parse(Some("")).expect("empty"), WatchStart::Now);
        assert_eq!(WatchStart::parse(Some("0")).expect("zero"), WatchStart::Now);
        assert_eq!(
            WatchStart::parse(Some("42")).expect("n"),
            WatchStart::After(42)
        );
        for bad in ["abc", "-1", "1.5", "0x10", "9223372036854775808"] {
            let err = WatchStart::parse(Some(bad)).expect_err(bad);
            assert_eq!(err.status().code, 400, "{bad}");
            assert!(err.to_string().starts_with("resourceVersion:"), "{err}");
        }
    }

    fn stamped(raw: &str, revision: u64) -> serde_json::Value {
        let bytes = with_revision(raw.as_bytes(), revision).expect("stamp");
        serde_json::from_slice(&bytes).expect("still JSON")
    }

    #[test]
    fn replaces_an_existing_resource_version() {
        let v = stamped(
            r#"{"kind":"Pod","metadata":{"name":"a","resourceVersion":"123","uid":"u"},"spec":{}}"#,
            42,
        );
        assert_eq!(v["metadata"]["resourceVersion"], "42");
        assert_eq!(v["metadata"]["uid"], "u");
        assert_eq!(v["kind"], "Pod");
    }

    #[test]
    fn replaces_a_numeric_or_null_resource_version_and_keeps_spacing() {
        let raw = "{ \"metadata\" : { \"resourceVersion\" : 7 , \"name\":\"a\"} }";
        let out = with_revision(raw.as_bytes(), 9).expect("stamp");
        assert_eq!(
            std::str::from_utf8(&out).expect("utf8"),
            "{ \"metadata\" : { \"resourceVersion\" : \"9\" , \"name\":\"a\"} }"
        );
        let v = stamped(r#"{"metadata":{"resourceVersion":null,"name":"a"}}"#, 1);
        assert_eq!(v["metadata"]["resourceVersion"], "1");
    }

    #[test]
    fn inserts_when_absent() {
        let v = stamped(r#"{"metadata":{"name":"a"},"kind":"Pod"}"#, 5);
        assert_eq!(v["metadata"]["resourceVersion"], "5");
        assert_eq!(v["metadata"]["name"], "a");
        let v = stamped(r#"{"kind":"Pod","metadata":{ }}"#, 6);
        assert_eq!(v["metadata"]["resourceVersion"], "6");
        let v = stamped(r#"{"kind":"Pod","metadata":{}}"#, 7);
        assert_eq!(v["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn ignores_resource_versions_outside_metadata() {
        let raw = r#"{"spec":{"resourceVersion":"1"},"metadata":{"annotations":{"resourceVersion":"x"},"name":"a"},"status":{"metadata":{"resourceVersion":"2"}}}"#;
        let v = stamped(raw, 8);
        assert_eq!(v["metadata"]["resourceVersion"], "8");
        assert_eq!(v["spec"]["resourceVersion"], "1");
        assert_eq!(v["metadata"]["annotations"]["resourceVersion"], "x");
        assert_eq!(v["status"]["metadata"]["resourceVersion"], "2");
    }

    #[test]
    fn rejects_what_is_not_an_object_with_metadata() {
        for raw in [
            "[1]",
            "{\"kind\":\"Pod\"}",
            "{\"metadata\":[]}",
            "{\"metadata\":",
            "nope",
        ] {
            let err = with_revision(raw.as_bytes(), 1).expect_err(raw);
            assert_eq!(err.status().code, 422, "{raw}: {err}");
        }
    }

    fn annotated(raw: &str, member: &str) -> serde_json::Value {
        let out = with_member_version(Bytes::from(raw.to_owned()), member).expect("annotate");
        serde_json::from_slice(&out).expect("still JSON")
    }

    #[test]
    fn the_member_version_goes_into_an_annotation() {
        let key = MEMBER_RESOURCE_VERSION_ANNOTATION;
        let v = annotated(r#"{"metadata":{"name":"a","resourceVersion":"7"}}"#, "7");
        assert_eq!(v["metadata"]["annotations"][key], "7");
        assert_eq!(v["metadata"]["name"], "a");
        let v = annotated(r#"{"metadata":{}}"#, "7");
        assert_eq!(v["metadata"]["annotations"][key], "7");
        let v = annotated(r#"{"metadata":{"annotations":{"x":"1"},"name":"a"}}"#, "8");
        assert_eq!(v["metadata"]["annotations"][key], "8");
        assert_eq!(v["metadata"]["annotations"]["x"], "1");
        let v = annotated(r#"{"metadata":{"annotations":{ },"name":"a"}}"#, "9");
        assert_eq!(v["metadata"]["annotations"][key], "9");
        let v = annotated(r#"{"metadata":{"annotations":null,"name":"a"}}"#, "\"q");
        assert_eq!(v["metadata"]["annotations"][key], "\"q");
        // Idempotent, and then stamped with the layer's version.
        let once = with_member_version(
            Bytes::from_static(br#"{"metadata":{"resourceVersion":"5"}}"#),
            "5",
        )
        .expect("once");
        let twice = with_member_version(once.clone(), "5").expect("twice");
        assert_eq!(once, twice);
        let v: serde_json::Value =
            serde_json::from_slice(&with_revision(&twice, 42).expect("stamp")).expect("json");
        assert_eq!(v["metadata"]["resourceVersion"], "42");
        assert_eq!(v["metadata"]["annotations"][key], "5");
        // Nothing to keep: unchanged.
        let raw = Bytes::from_static(br#"{"metadata":{"name":"a"}}"#);
        assert_eq!(with_member_version(raw.clone(), "").expect("none"), raw);
        assert!(
            with_member_version(
                Bytes::from_static(br#"{"metadata":{"annotations":[]}}"#),
                "1"
            )
            .is_err()
        );
    }

    #[test]
    fn unicode_and_escapes_are_preserved() {
        let raw = r#"{"metadata":{"name":"é\"x","resourceVersion":"1"},"data":{"k":"\u00e9"}}"#;
        let v = stamped(raw, 10);
        assert_eq!(v["metadata"]["name"], "é\"x");
        assert_eq!(v["data"]["k"], "é");
    }
}
