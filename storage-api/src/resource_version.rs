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

/// Whether a map key is the one wanted (read without allocating, escaped or not).
struct KeyIs(bool);

impl KeyIs {
    fn seed(wanted: &str) -> KeySeed<'_> {
        KeySeed(wanted)
    }
}

/// Reads a key and compares it with the wanted one.
struct KeySeed<'w>(&'w str);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = KeyIs;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<KeyIs, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = KeyIs;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> std::result::Result<KeyIs, E> {
        Ok(KeyIs(key == self.0))
    }
}

/// Whether the JSON object `text` has the member `key`, and whether it has any member.
fn has_member(text: &str, key: &str) -> std::result::Result<(bool, bool), serde_json::Error> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};

    struct Scan<'w>(&'w str);

    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = (bool, bool);

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<(bool, bool), A::Error> {
            let (mut found, mut any) = (false, false);
            while let Some(KeyIs(is_key)) = map.next_key_seed(KeyIs::seed(self.0))? {
                map.next_value::<IgnoredAny>()?;
                found |= is_key;
                any = true;
            }
            Ok((found, any))
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(text);
    let answer = deserializer.deserialize_map(Scan(key))?;
    deserializer.end()?;
    Ok(answer)
}

/// The `metadata` member of an object's JSON, as its raw text, found without reading the
/// object past it: the members before it are skipped (still checked to be JSON), those after
/// it (`spec`, `status`: most of an object) are not read at all. `Ok(None)` when the object
/// has no `metadata`; an error when `raw` is not a JSON object up to its `metadata`.
///
/// For objects already checked whole (stored objects went through
/// [`crate::ResourceObject::parse`]): the part after `metadata` is not validated again.
pub fn find_metadata(raw: &[u8]) -> std::result::Result<Option<&RawValue>, serde_json::Error> {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};

    /// Stops the map at `metadata` (an error that is never shown: the slot tells).
    struct Find<'a, 's>(&'s mut Option<&'a RawValue>);

    impl<'de> Visitor<'de> for Find<'de, '_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            while let Some(KeyIs(is_metadata)) = map.next_key_seed(KeyIs::seed("metadata"))? {
                if is_metadata {
                    *self.0 = Some(map.next_value::<&'de RawValue>()?);
                    return Err(serde::de::Error::custom("stop after metadata"));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    match deserializer.deserialize_map(Find(&mut found)) {
        _ if found.is_some() => Ok(found),
        Ok(()) => deserializer.end().map(|()| None),
        Err(e) => Err(e),
    }
}

/// The members of `metadata` the stamps change (`Some` whenever the key is present, even with a
/// `null` value, which is replaced too).
#[derive(Deserialize)]
struct Stamped<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    annotations: Option<&'a RawValue>,
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
        let (meta_start, text) = metadata_of(raw)?;
        let parsed: Stamped<'_> = serde_json::from_str(text).map_err(|e| {
            StorageError::invalid(
                "object",
                format!("cannot read metadata.resourceVersion: {e}"),
            )
        })?;
        Self::in_metadata(meta_start, text, parsed.resource_version)
    }

    /// A copy of `raw` with the resource version set to `revision` (as a JSON string).
    ///
    /// `raw` must be the bytes this slot was located in (else `500 Internal`). The result is
    /// allocated at its exact size, so that the stored [`Bytes`] wastes nothing.
    pub fn stamp(self, raw: &[u8], revision: u64) -> Result<Bytes> {
        let splice = self.splice(revision, false);
        if splice.cut > splice.resume || splice.resume > raw.len() {
            return Err(StorageError::Internal {
                message: "resource version slot does not fit the object".into(),
                source: None,
            });
        }
        Ok(splice_all(raw, &[splice]))
    }

    /// The change that sets the resource version to `revision`; `more_follow` forces the comma
    /// after an inserted member (something else is inserted right after it).
    fn splice(self, revision: u64, more_follow: bool) -> Splice {
        let digits = revision.to_string();
        match self {
            Self::Replace { start, end } => {
                let mut inserted = Vec::with_capacity(digits.len() + 2);
                inserted.push(b'"');
                inserted.extend_from_slice(digits.as_bytes());
                inserted.push(b'"');
                Splice {
                    cut: start,
                    resume: end,
                    inserted,
                }
            }
            Self::Insert { at, comma } => {
                let mut inserted = Vec::with_capacity(KEY.len() + digits.len() + 6);
                inserted.push(b'"');
                inserted.extend_from_slice(KEY.as_bytes());
                inserted.extend_from_slice(b"\":\"");
                inserted.extend_from_slice(digits.as_bytes());
                inserted.push(b'"');
                if comma || more_follow {
                    inserted.push(b',');
                }
                Splice {
                    cut: at,
                    resume: at,
                    inserted,
                }
            }
        }
    }

    /// The slot in `metadata` (the text at `meta_start` of the object, a JSON object) whose
    /// `resourceVersion` member, if any, is `value`.
    fn in_metadata(meta_start: usize, text: &str, value: Option<&RawValue>) -> Result<Self> {
        match value {
            Some(value) => {
                let start = offset_in(text.as_bytes(), value.get()).ok_or_else(|| {
                    StorageError::invalid("object", "metadata.resourceVersion is misplaced")
                })?;
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
}

/// One change of an object's bytes: `raw[cut..resume]` becomes `inserted`.
struct Splice {
    cut: usize,
    resume: usize,
    inserted: Vec<u8>,
}

/// `raw` with `splices` (in order, not overlapping) applied, in one copy allocated at its
/// exact size, so that the stored [`Bytes`] wastes nothing.
fn splice_all(raw: &[u8], splices: &[Splice]) -> Bytes {
    let added: usize = splices.iter().map(|s| s.inserted.len()).sum();
    let removed: usize = splices.iter().map(|s| s.resume - s.cut).sum();
    let mut out = Vec::with_capacity(raw.len() + added - removed);
    let mut at = 0;
    for splice in splices {
        out.extend_from_slice(&raw[at..splice.cut]);
        out.extend_from_slice(&splice.inserted);
        at = splice.resume;
    }
    out.extend_from_slice(&raw[at..]);
    Bytes::from(out)
}

/// An object's `metadata`: where its text starts in the object, and the text.
fn metadata_of(raw: &[u8]) -> Result<(usize, &str)> {
    let invalid = |what: String| StorageError::invalid("object", what);
    let metadata = find_metadata(raw)
        .map_err(|e| invalid(format!("cannot read the object's metadata: {e}")))?
        .ok_or_else(|| invalid("metadata is required".into()))?;
    let text = metadata.get();
    let start =
        offset_in(raw, text).ok_or_else(|| invalid("metadata is not part of the object".into()))?;
    if !text.starts_with('{') {
        return Err(invalid("metadata is not a JSON object".into()));
    }
    Ok((start, text))
}

/// `raw` as a watch-capable layer serves a stored member object: [`with_member_version`], then
/// [`with_revision`], reading the metadata once and copying the object once (a list page does
/// this for each of its objects).
pub fn served(raw: &[u8], member_version: &str, revision: u64) -> Result<Bytes> {
    let (meta_start, text) = metadata_of(raw)?;
    let slots: Stamped<'_> = serde_json::from_str(text).map_err(|e| {
        StorageError::invalid("object", format!("cannot read the object's metadata: {e}"))
    })?;
    let member = member_splice(meta_start, text, slots.annotations, member_version)?;
    let slot = RevisionSlot::in_metadata(meta_start, text, slots.resource_version)?;
    // An annotations member inserted at the same place goes after the resource version.
    let more_follow = member.as_ref().is_some_and(|m| m.cut == meta_start + 1);
    let version = slot.splice(revision, more_follow);
    let splices = match member {
        Some(member) if member.cut < version.cut => vec![member, version],
        Some(member) => vec![version, member],
        None => vec![version],
    };
    Ok(splice_all(raw, &splices))
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
    let (meta_start, text) = metadata_of(&raw)?;
    let annotated: Stamped<'_> = serde_json::from_str(text).map_err(|e| {
        StorageError::invalid("object", format!("cannot read metadata.annotations: {e}"))
    })?;
    match member_splice(meta_start, text, annotated.annotations, member_version)? {
        Some(splice) => Ok(splice_all(&raw, &[splice])),
        None => Ok(raw),
    }
}

/// The change that adds the annotation [`MEMBER_RESOURCE_VERSION_ANNOTATION`] with
/// `member_version` to `metadata` (the text at `meta_start`, whose `annotations` member is
/// `annotations`); `None` when there is nothing to add (no version, or already annotated).
fn member_splice(
    meta_start: usize,
    text: &str,
    annotations: Option<&RawValue>,
    member_version: &str,
) -> Result<Option<Splice>> {
    if member_version.is_empty() {
        return Ok(None);
    }
    let invalid = |what: String| StorageError::invalid("object", what);
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
    let splice = match annotations {
        Some(value) if value.get().starts_with('{') => {
            let (present, any) = has_member(value.get(), MEMBER_RESOURCE_VERSION_ANNOTATION)
                .map_err(|e| invalid(format!("metadata.annotations: {e}")))?;
            if present {
                return Ok(None);
            }
            let at = meta_start
                + offset_in(text.as_bytes(), value.get())
                    .ok_or_else(|| invalid("metadata.annotations is misplaced".into()))?
                + 1;
            let mut inserted = member;
            if any {
                inserted.push(b',');
            }
            Splice {
                cut: at,
                resume: at,
                inserted,
            }
        }
        Some(value) if value.get() == "null" => {
            let start = meta_start
                + offset_in(text.as_bytes(), value.get())
                    .ok_or_else(|| invalid("metadata.annotations is misplaced".into()))?;
            let mut inserted = vec![b'{'];
            inserted.extend_from_slice(&member);
            inserted.push(b'}');
            Splice {
                cut: start,
                resume: start + 4,
                inserted,
            }
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
            Splice {
                cut: at,
                resume: at,
                inserted,
            }
        }
    };
    Ok(Some(splice))
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
    fn served_is_the_member_version_then_the_revision_in_one_copy() {
        let objects = [
            r#"{"kind":"Pod","metadata":{"name":"a","resourceVersion":"7","uid":"u"},"spec":{}}"#,
            r#"{"metadata":{"annotations":{"x":"1"},"name":"a","resourceVersion":"7"}}"#,
            r#"{"metadata":{"resourceVersion":"7","annotations":{ },"name":"a"}}"#,
            r#"{"metadata":{"annotations":null,"resourceVersion":7}}"#,
            r#"{"metadata":{"name":"a"}}"#,
            r#"{"metadata":{}}"#,
            r#"{"metadata":{ }}"#,
            r#"{"metadata":{"annotations":{"x":"1"}}}"#,
            r#"{"metadata":{"resourceVersion":"3","annotations":{"shadow.clusterpedia.io/resource-version":"3"}}}"#,
            "{ \"metadata\" : { \"resourceVersion\" : \"5\" , \"name\":\"a\"} }",
        ];
        for raw in objects {
            for member in ["7", "", "\"q"] {
                let two_steps = with_revision(
                    &with_member_version(Bytes::from(raw), member).expect(raw),
                    42,
                )
                .expect(raw);
                let once = served(raw.as_bytes(), member, 42).expect(raw);
                assert_eq!(
                    std::str::from_utf8(&once).expect("utf8"),
                    std::str::from_utf8(&two_steps).expect("utf8"),
                    "{raw} with member version {member:?}"
                );
                let v: serde_json::Value = serde_json::from_slice(&once).expect("JSON");
                assert_eq!(v["metadata"]["resourceVersion"], "42", "{raw}");
            }
        }
        for bad in [
            "[1]",
            r#"{"kind":"Pod"}"#,
            r#"{"metadata":{"annotations":[]}}"#,
        ] {
            let err = served(bad.as_bytes(), "1", 1).expect_err(bad);
            assert_eq!(err.status().code, 422, "{bad}: {err}");
        }
    }

    #[test]
    fn find_metadata_stops_at_metadata() {
        let found = |raw: &str| {
            find_metadata(raw.as_bytes())
                .expect(raw)
                .map(|m| m.get().to_owned())
        };
        assert_eq!(
            found(
                r#"{"kind":"Pod","spec":{"a":[1,{"b":"}"}]},"metadata":{"name":"a"},"status":{}}"#
            )
            .as_deref(),
            Some(r#"{"name":"a"}"#)
        );
        // An escaped key is still `metadata`; a nested one is not.
        assert_eq!(
            found(r#"{"spec":{"metadata":{"x":1}},"metadata":{"y":2}}"#).as_deref(),
            Some(r#"{"y":2}"#)
        );
        assert_eq!(found(r#"{"kind":"Pod"}"#), None);
        assert_eq!(found("{}"), None);
        // What follows metadata is not read (the stored object was checked whole when parsed).
        assert_eq!(
            found(r#"{"metadata":{"n":1},"spec":"#).as_deref(),
            Some(r#"{"n":1}"#)
        );
        for bad in [
            "[1]",
            "nope",
            r#"{"kind":}"#,
            r#"{"metadata":"#,
            r#"{"kind":"Pod"} x"#,
        ] {
            assert!(find_metadata(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn has_member_reads_keys_without_values() {
        assert_eq!(
            has_member(r#"{"a":1,"b":{"c":2}}"#, "b").expect("ok"),
            (true, true)
        );
        assert_eq!(has_member(r#"{"a":1}"#, "c").expect("ok"), (false, true));
        assert_eq!(has_member(r#"{ }"#, "c").expect("ok"), (false, false));
        assert_eq!(has_member(r#"{"b":1}"#, "b").expect("ok"), (true, true));
        assert!(has_member("[]", "a").is_err());
    }

    #[test]
    fn unicode_and_escapes_are_preserved() {
        let raw = r#"{"metadata":{"name":"é\"x","resourceVersion":"1"},"data":{"k":"\u00e9"}}"#;
        let v = stamped(raw, 10);
        assert_eq!(v["metadata"]["name"], "é\"x");
        assert_eq!(v["data"]["k"], "é");
    }
}
