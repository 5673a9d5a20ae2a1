//! The object model: an object's raw JSON bytes plus the fields every layer indexes, parsed once.
//!
//! Objects enter the system at the synchro, where [`prepare_member_object`] prunes what is not
//! worth storing and stamps the cluster annotation, and [`ResourceObject::parse`] reads the
//! indexed fields. From then on the JSON is never re-serialized on the read path: the apiserver
//! splices [`ResourceObject::raw`] into its responses.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Result, StorageError};
use crate::query::label_selector::LabelSet;

/// The annotation stamped on every stored object with the name of its member cluster.
pub const CLUSTER_NAME_ANNOTATION: &str = "shadow.clusterpedia.io/cluster-name";
/// The annotation that carries an object's events when a list asks for `inject-events`.
pub const EVENTS_ANNOTATION: &str = "shadow.clusterpedia.io/events";
/// The annotation pruned at sync time: kubectl's copy of the last applied object.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A group, version and resource, e.g. `apps/v1/deployments` (core group: `v1/pods`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gvr {
    /// The API group; empty for the core group.
    pub group: String,
    /// The API version.
    pub version: String,
    /// The plural resource name.
    pub resource: String,
}

impl Gvr {
    /// A new group/version/resource.
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }

    /// The `apiVersion` of objects of this resource: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group and resource, without the version.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.resource.clone(),
        }
    }
}

impl fmt::Display for Gvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}/{}", self.version, self.resource)
        } else {
            write!(f, "{}/{}/{}", self.group, self.version, self.resource)
        }
    }
}

/// A group and resource, written `resource.group` (`deployments.apps`, `pods`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupResource {
    /// The API group; empty for the core group.
    pub group: String,
    /// The plural resource name.
    pub resource: String,
}

impl GroupResource {
    /// Parses `resource.group` the way Kubernetes does: everything after the first dot is the
    /// group (`deployments.apps` → `apps`/`deployments`, `pods` → core/`pods`).
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((resource, group)) => Self {
                group: group.into(),
                resource: resource.into(),
            },
            None => Self {
                group: String::new(),
                resource: s.into(),
            },
        }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// Where one object lives within a resource: cluster, namespace (empty when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    /// The member cluster.
    pub cluster: String,
    /// The namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// The object name.
    pub name: String,
}

impl ObjectKey {
    /// A new key.
    pub fn new(cluster: &str, namespace: &str, name: &str) -> Self {
        Self {
            cluster: cluster.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key the synchro and [`crate::ClusterResourceVersions`] use within one cluster:
    /// `namespace/name`, or `name` when cluster-scoped.
    pub fn namespaced_name(&self) -> String {
        namespaced_name(&self.namespace, &self.name)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "\"{}\" in cluster \"{}\"", self.name, self.cluster)
        } else {
            write!(
                f,
                "\"{}/{}\" in cluster \"{}\"",
                self.namespace, self.name, self.cluster
            )
        }
    }
}

/// `namespace/name`, or `name` when the namespace is empty.
pub fn namespaced_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

/// An object's labels, sorted by key (compact: one allocation per key and value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels(Box<[(Box<str>, Box<str>)]>);

impl Labels {
    /// The labels from any list of pairs; a repeated key keeps its last value.
    pub fn new<K: Into<Box<str>>, V: Into<Box<str>>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: BTreeMap<Box<str>, Box<str>> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self(map.into_iter().collect())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl LabelSet for Labels {
    fn get(&self, key: &str) -> Option<&str> {
        Labels::get(self, key)
    }
}

/// The fields of an object that every storage layer indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFields {
    /// The member cluster the object comes from.
    pub cluster: Arc<str>,
    /// The storage group/version/resource.
    pub gvr: Arc<Gvr>,
    /// The object's `kind`.
    pub kind: Arc<str>,
    /// `metadata.namespace`; empty when cluster-scoped.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion` as the member cluster wrote it.
    pub resource_version: String,
    /// `metadata.creationTimestamp`, in milliseconds since the Unix epoch.
    pub creation_timestamp: Option<i64>,
    /// `metadata.deletionTimestamp`, in milliseconds since the Unix epoch.
    pub deletion_timestamp: Option<i64>,
    /// `metadata.labels`.
    pub labels: Labels,
    /// The uid of the owner reference with `controller: true`, or empty.
    pub owner_uid: String,
}

impl IndexedFields {
    /// The object's key within its resource.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(&self.cluster, &self.namespace, &self.name)
    }

    /// The member resource version as a number, the way the synchro compares them; `None`
    /// when it is not a decimal number.
    pub fn resource_version_number(&self) -> Option<u64> {
        self.resource_version.parse().ok()
    }
}

/// One stored object: its JSON exactly as stored, plus its indexed fields.
///
/// Cloning is cheap: the JSON is shared ([`Bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceObject {
    /// The indexed fields, parsed from [`ResourceObject::raw`] once.
    pub fields: IndexedFields,
    /// The object's JSON, as stored and served.
    pub raw: Bytes,
}

#[derive(Deserialize)]
struct RawObject<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    metadata: Option<RawMetadata<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    creation_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    deletion_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    labels: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow, default)]
    owner_references: Option<Vec<RawOwnerReference<'a>>>,
}

#[derive(Deserialize)]
struct RawOwnerReference<'a> {
    #[serde(borrow, default)]
    uid: Option<Cow<'a, str>>,
    #[serde(default)]
    controller: Option<bool>,
}

impl ResourceObject {
    /// Reads the indexed fields of `raw`, an object of resource `gvr` from member `cluster`.
    ///
    /// Fails (non-recoverably, naming the problem) when the JSON is not an object, or lacks
    /// `kind` or `metadata.name`, or carries a malformed timestamp.
    pub fn parse(cluster: Arc<str>, gvr: Arc<Gvr>, raw: Bytes) -> Result<Self> {
        let invalid = |what: String| StorageError::Invalid {
            parameter: "object".into(),
            message: format!("{gvr} object from cluster \"{cluster}\": {what}"),
        };
        let object: RawObject<'_> =
            serde_json::from_slice(&raw).map_err(|e| invalid(format!("not a JSON object: {e}")))?;
        let kind = object
            .kind
            .filter(|k| !k.is_empty())
            .ok_or_else(|| invalid("kind is required".into()))?;
        let meta = object
            .metadata
            .ok_or_else(|| invalid("metadata is required".into()))?;
        let name = meta
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("metadata.name is required".into()))?;
        let timestamp = |field: &str, value: Option<Cow<'_, str>>| -> Result<Option<i64>> {
            value
                .map(|v| {
                    parse_rfc3339_millis(&v).ok_or_else(|| {
                        invalid(format!("metadata.{field} {v:?} is not an RFC 3339 time"))
                    })
                })
                .transpose()
        };
        let creation_timestamp = timestamp("creationTimestamp", meta.creation_timestamp)?;
        let deletion_timestamp = timestamp("deletionTimestamp", meta.deletion_timestamp)?;
        let owner_uid = meta
            .owner_references
            .unwrap_or_default()
            .into_iter()
            .find(|o| o.controller == Some(true))
            .and_then(|o| o.uid)
            .map(Cow::into_owned)
            .unwrap_or_default();
        let fields = IndexedFields {
            kind: Arc::from(&*kind),
            namespace: meta.namespace.map(Cow::into_owned).unwrap_or_default(),
            name: name.into_owned(),
            uid: meta.uid.map(Cow::into_owned).unwrap_or_default(),
            resource_version: meta
                .resource_version
                .map(Cow::into_owned)
                .unwrap_or_default(),
            creation_timestamp,
            deletion_timestamp,
            labels: Labels::new(
                meta.labels
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned())),
            ),
            owner_uid,
            cluster,
            gvr,
        };
        Ok(Self { fields, raw })
    }

    /// The object's JSON as a `serde_json::Value` (parsed on demand: for evaluators, not the
    /// read path).
    pub fn to_value(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.raw).map_err(|e| {
            StorageError::internal(
                format!("stored object {} is not JSON", self.fields.key()),
                e,
            )
        })
    }
}

/// RFC 3339 times as Kubernetes writes them (one parser for the workspace, in `kube-wire`).
pub use kube_wire::time::{format_rfc3339, parse_rfc3339_millis};

/// Readies an object received from member `cluster` for storage, in place: removes
/// `metadata.managedFields` and the last-applied-configuration annotation (they are large and
/// never searched), and stamps the [`CLUSTER_NAME_ANNOTATION`].
pub fn prepare_member_object(object: &mut serde_json::Value, cluster: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) else {
        return;
    };
    metadata.remove("managedFields");
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if !annotations.is_object() {
        *annotations = serde_json::Value::Object(Default::default());
    }
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.remove(LAST_APPLIED_ANNOTATION);
        annotations.insert(
            CLUSTER_NAME_ANNOTATION.into(),
            serde_json::Value::String(cluster.into()),
        );
    }
}

/// A member object's JSON (a list item or a watch object) readied for storage: what
/// [`prepare_member_object`] does (prune `managedFields` and the last-applied annotation, stamp
/// the cluster), plus `kind` when missing or empty and `apiVersion` when missing (list items
/// carry neither). Parses only the top level, `metadata` and its `annotations` when the object
/// is shaped as expected (several times faster), else goes through a `serde_json::Value`; both
/// paths give the same JSON. `Invalid` when `raw` is not JSON.
pub fn prepare_member_json(
    raw: &[u8],
    cluster: &str,
    gvr: &Gvr,
    kind: &str,
    api_version: &str,
) -> Result<Vec<u8>> {
    match prepare_member_shallow(raw, cluster, kind, api_version) {
        Some(bytes) => Ok(bytes),
        None => prepare_member_deep(raw, cluster, gvr, kind, api_version),
    }
}

/// [`prepare_member_object`] (plus `kind` and `apiVersion`) through a `serde_json::Value`.
fn prepare_member_deep(
    raw: &[u8],
    cluster: &str,
    gvr: &Gvr,
    kind: &str,
    api_version: &str,
) -> Result<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| StorageError::invalid("object", format!("{gvr} object is not JSON: {e}")))?;
    if let Some(object) = value.as_object_mut() {
        let has_kind = object
            .get("kind")
            .and_then(|k| k.as_str())
            .is_some_and(|k| !k.is_empty());
        if !has_kind {
            object.insert("kind".into(), kind.into());
        }
        if !object.contains_key("apiVersion") {
            object.insert("apiVersion".into(), api_version.into());
        }
    }
    prepare_member_object(&mut value, cluster);
    serde_json::to_vec(&value).map_err(|e| StorageError::internal("cannot serialize an object", e))
}

/// The fields of a JSON object, values kept as they were written.
type RawFields<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

/// Writes `fields` as a JSON object.
fn write_fields(fields: &RawFields<'_>) -> Option<String> {
    let size = fields
        .iter()
        .map(|(k, v)| k.len() + v.get().len() + 4)
        .sum::<usize>()
        + 2;
    let mut out = String::with_capacity(size);
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).ok()?);
        out.push(':');
        out.push_str(value.get());
    }
    out.push('}');
    Some(out)
}

/// The same result as [`prepare_member_deep`], parsing only the top level, `metadata` and its
/// `annotations` (the rest of the object — most of it — is copied as it is): several times
/// faster. `None` when the object is not shaped as expected (then the deep path decides).
fn prepare_member_shallow(
    raw: &[u8],
    cluster: &str,
    kind: &str,
    api_version: &str,
) -> Option<Vec<u8>> {
    let mut top: RawFields<'_> = serde_json::from_slice(raw).ok()?;
    let mut metadata: RawFields<'_> = serde_json::from_str(top.get("metadata")?.get()).ok()?;
    metadata.remove("managedFields");
    let mut annotations: RawFields<'_> = match metadata.get("annotations") {
        // `null` or not an object: replaced by an object, as `prepare_member_object` does.
        Some(a) => serde_json::from_str(a.get()).unwrap_or_default(),
        None => RawFields::new(),
    };
    annotations.remove(LAST_APPLIED_ANNOTATION);
    let cluster_name = RawValue::from_string(serde_json::to_string(cluster).ok()?).ok()?;
    annotations.insert(Cow::Borrowed(CLUSTER_NAME_ANNOTATION), &cluster_name);
    let annotations = RawValue::from_string(write_fields(&annotations)?).ok()?;
    metadata.insert(Cow::Borrowed("annotations"), &annotations);
    let metadata = RawValue::from_string(write_fields(&metadata)?).ok()?;
    top.insert(Cow::Borrowed("metadata"), &metadata);

    let kind_value = RawValue::from_string(serde_json::to_string(kind).ok()?).ok()?;
    let has_kind = top
        .get("kind")
        .and_then(|k| serde_json::from_str::<Cow<'_, str>>(k.get()).ok())
        .is_some_and(|k| !k.is_empty());
    if !has_kind {
        top.insert(Cow::Borrowed("kind"), &kind_value);
    }
    let api_version_value = RawValue::from_string(serde_json::to_string(api_version).ok()?).ok()?;
    if !top.contains_key("apiVersion") {
        top.insert(Cow::Borrowed("apiVersion"), &api_version_value);
    }
    write_fields(&top).map(String::into_bytes)
}

/// The metadata-only form of a stored object: `{"apiVersion","kind","metadata"}`, which is what a
/// list with `onlyMetadata` returns as each item.
pub fn metadata_only(raw: &[u8]) -> Result<Bytes> {
    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase")]
    struct MetadataOnly<'a> {
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        api_version: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        kind: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        metadata: Option<&'a serde_json::value::RawValue>,
    }
    let object: MetadataOnly<'_> = serde_json::from_slice(raw)
        .map_err(|e| StorageError::internal("stored object is not JSON", e))?;
    serde_json::to_vec(&object)
        .map(Bytes::from)
        .map_err(|e| StorageError::internal("cannot write metadata-only object", e))
}

/// Adds the [`EVENTS_ANNOTATION`] to a stored object: a JSON array of `events` (each the JSON of a
/// `v1` `Event`), in the order given. Returns the rewritten object.
pub fn inject_events(raw: &[u8], events: &[Bytes]) -> Result<Bytes> {
    let mut object: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| StorageError::internal("stored object is not JSON", e))?;
    let mut array = Vec::with_capacity(events.len());
    for event in events {
        array.push(
            serde_json::from_slice::<serde_json::Value>(event)
                .map_err(|e| StorageError::internal("stored event is not JSON", e))?,
        );
    }
    let text = serde_json::to_string(&array)
        .map_err(|e| StorageError::internal("cannot write events", e))?;
    if let Some(metadata) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(EVENTS_ANNOTATION.into(), serde_json::Value::String(text));
        }
    }
    serde_json::to_vec(&object)
        .map(Bytes::from)
        .map_err(|e| StorageError::internal("cannot write object with events", e))
}

/// A `v1` `Event` to attach to the object it is about (`RecordEvent` of the original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// The member cluster.
    pub cluster: Arc<str>,
    /// `involvedObject.uid`: the object the event is attached to.
    pub involved_uid: String,
    /// The event's own `metadata.uid` (events of one object are keyed by it).
    pub uid: String,
    /// The event's `namespace/name`, the key of [`crate::ClusterResourceVersions::events`].
    pub key: String,
    /// The event's `metadata.resourceVersion`.
    pub resource_version: String,
    /// The event's JSON (managedFields already pruned).
    pub raw: Bytes,
}

impl ObjectEvent {
    /// Reads an event's JSON. Fails when `involvedObject.uid` or `metadata.uid` is missing.
    pub fn parse(cluster: Arc<str>, raw: Bytes) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RawEvent<'a> {
            #[serde(borrow)]
            metadata: Option<RawMetadata<'a>>,
            #[serde(borrow)]
            involved_object: Option<RawInvolved<'a>>,
        }
        #[derive(Deserialize)]
        struct RawInvolved<'a> {
            #[serde(borrow)]
            uid: Option<Cow<'a, str>>,
        }
        let invalid = |what: &str| {
            StorageError::invalid("event", format!("event from cluster \"{cluster}\": {what}"))
        };
        let event: RawEvent<'_> = serde_json::from_slice(&raw)
            .map_err(|e| invalid(&format!("not a JSON object: {e}")))?;
        let involved_uid = event
            .involved_object
            .and_then(|o| o.uid)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("involvedObject.uid is empty"))?
            .into_owned();
        let meta = event
            .metadata
            .ok_or_else(|| invalid("metadata is required"))?;
        let uid = meta
            .uid
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("metadata.uid is required"))?
            .into_owned();
        let key = namespaced_name(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
        Ok(Self {
            involved_uid,
            uid,
            key,
            resource_version: meta
                .resource_version
                .map(Cow::into_owned)
                .unwrap_or_default(),
            raw,
            cluster,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "uid": "u-1",
                "resourceVersion": "42",
                "creationTimestamp": "2024-01-02T03:04:05Z",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {LAST_APPLIED_ANNOTATION: "{}", "keep": "me"},
                "managedFields": [{"manager": "kubectl"}],
                "ownerReferences": [
                    {"kind": "Node", "uid": "n-1"},
                    {"kind": "ReplicaSet", "uid": "rs-1", "controller": true}
                ]
            },
            "spec": {"nodeName": "node-1"}
        })
    }

    #[test]
    fn parse_reads_every_indexed_field() {
        let raw = Bytes::from(serde_json::to_vec(&pod()).expect("json"));
        let obj = ResourceObject::parse(
            "c1".into(),
            Arc::new(Gvr::new("", "v1", "pods")),
            raw.clone(),
        )
        .expect("parse");
        let f = &obj.fields;
        assert_eq!((&*f.cluster, &*f.kind), ("c1", "Pod"));
        assert_eq!(
            (f.namespace.as_str(), f.name.as_str()),
            ("default", "web-1")
        );
        assert_eq!((f.uid.as_str(), f.resource_version.as_str()), ("u-1", "42"));
        assert_eq!(f.creation_timestamp, Some(1_704_164_645_000));
        assert_eq!(f.deletion_timestamp, None);
        assert_eq!(f.labels.get("app"), Some("web"));
        assert_eq!(f.labels.get("missing"), None);
        assert_eq!(f.owner_uid, "rs-1", "only the controller owner counts");
        assert_eq!(f.resource_version_number(), Some(42));
        assert_eq!(obj.raw, raw, "bytes are kept as given");
    }

    #[test]
    fn parse_rejects_objects_without_kind_name_or_with_bad_times() {
        let gvr = Arc::new(Gvr::new("", "v1", "pods"));
        let cases = [
            (
                serde_json::json!({"metadata": {"name": "a"}}),
                "kind is required",
            ),
            (
                serde_json::json!({"kind": "Pod", "metadata": {}}),
                "metadata.name is required",
            ),
            (serde_json::json!({"kind": "Pod"}), "metadata is required"),
            (
                serde_json::json!({"kind": "Pod", "metadata": {"name": "a", "creationTimestamp": "yesterday"}}),
                "creationTimestamp",
            ),
        ];
        for (value, expected) in cases {
            let raw = Bytes::from(serde_json::to_vec(&value).expect("json"));
            let err = ResourceObject::parse("c".into(), gvr.clone(), raw).expect_err("must fail");
            assert!(err.to_string().contains(expected), "{err}");
            assert_eq!(err.status().code, 422);
        }
        let err = ResourceObject::parse("c".into(), gvr, Bytes::from_static(b"[1,2"))
            .expect_err("garbage");
        assert!(err.to_string().contains("not a JSON object"), "{err}");
    }

    #[test]
    fn prepare_prunes_and_stamps() {
        let mut value = pod();
        prepare_member_object(&mut value, "c9");
        let meta = &value["metadata"];
        assert!(meta.get("managedFields").is_none());
        assert!(meta["annotations"].get(LAST_APPLIED_ANNOTATION).is_none());
        assert_eq!(meta["annotations"]["keep"], "me");
        assert_eq!(meta["annotations"][CLUSTER_NAME_ANNOTATION], "c9");

        let mut bare = serde_json::json!({"kind": "Pod", "metadata": {"name": "x"}});
        prepare_member_object(&mut bare, "c1");
        assert_eq!(
            bare["metadata"]["annotations"][CLUSTER_NAME_ANNOTATION],
            "c1"
        );
    }

    #[test]
    fn metadata_only_keeps_type_and_metadata() {
        let raw = serde_json::to_vec(&pod()).expect("json");
        let only: serde_json::Value =
            serde_json::from_slice(&metadata_only(&raw).expect("ok")).expect("json");
        assert_eq!(only["kind"], "Pod");
        assert_eq!(only["apiVersion"], "v1");
        assert_eq!(only["metadata"]["name"], "web-1");
        assert!(only.get("spec").is_none());
    }

    #[test]
    fn inject_events_adds_the_annotation() {
        let raw = serde_json::to_vec(&pod()).expect("json");
        let event = Bytes::from_static(br#"{"kind":"Event","reason":"Pulled"}"#);
        let out: serde_json::Value =
            serde_json::from_slice(&inject_events(&raw, &[event]).expect("ok")).expect("json");
        let text = out["metadata"]["annotations"][EVENTS_ANNOTATION]
            .as_str()
            .expect("string");
        let events: serde_json::Value = serde_json::from_str(text).expect("json");
        assert_eq!(events[0]["reason"], "Pulled");
    }

    #[test]
    fn event_parse_requires_involved_uid() {
        let ok = Bytes::from_static(
            br#"{"kind":"Event","metadata":{"name":"e1","namespace":"ns","uid":"eu","resourceVersion":"7"},"involvedObject":{"uid":"pod-uid"}}"#,
        );
        let event = ObjectEvent::parse("c".into(), ok).expect("parse");
        assert_eq!(
            (event.involved_uid.as_str(), event.key.as_str()),
            ("pod-uid", "ns/e1")
        );
        let bad = Bytes::from_static(
            br#"{"kind":"Event","metadata":{"name":"e1","uid":"x"},"involvedObject":{}}"#,
        );
        let err = ObjectEvent::parse("c".into(), bad).expect_err("no uid");
        assert!(
            err.to_string().contains("involvedObject.uid is empty"),
            "{err}"
        );
    }

    #[test]
    fn names_and_times_format_like_kubernetes() {
        assert_eq!(
            GroupResource::parse("deployments.apps").to_string(),
            "deployments.apps"
        );
        assert_eq!(GroupResource::parse("pods").group, "");
        assert_eq!(Gvr::new("", "v1", "pods").api_version(), "v1");
        assert_eq!(
            Gvr::new("apps", "v1", "deployments").to_string(),
            "apps/v1/deployments"
        );
        assert_eq!(format_rfc3339(1_704_164_645_123), "2024-01-02T03:04:05Z");
        assert_eq!(
            parse_rfc3339_millis("2024-01-02T03:04:05.5+01:00"),
            Some(1_704_161_045_500)
        );
    }

    #[test]
    fn shallow_preparation_equals_the_deep_one() {
        let cases = [
            serde_json::json!({
                "kind": "Pod", "apiVersion": "v1",
                "metadata": {
                    "name": "a", "namespace": "n", "resourceVersion": "1",
                    "managedFields": [{"manager": "m"}],
                    "annotations": {LAST_APPLIED_ANNOTATION: "{}", "x": "y\\\"\u{e9}"},
                    "labels": {"app": "web"}
                },
                "spec": {"z": 1, "a": [1, {"b": null}]}, "status": {"phase": "Running"}
            }),
            serde_json::json!({"metadata": {"name": "no-annotations"}, "spec": {}}),
            serde_json::json!({"kind": "", "metadata": {"name": "null", "annotations": null}}),
            serde_json::json!({"kind": "Other", "metadata": {"name": "odd", "annotations": "text"}}),
            serde_json::json!({"metadata": {"name": "empty", "annotations": {}}, "apiVersion": "x/v9"}),
        ];
        for case in cases {
            let raw = serde_json::to_vec(&case).expect("json");
            let gvr = Gvr::new("", "v1", "pods");
            let deep = prepare_member_deep(&raw, "c\\\"1", &gvr, "Pod", "v1").expect("deep");
            let shallow = prepare_member_shallow(&raw, "c\\\"1", "Pod", "v1").expect("shallow");
            let deep: serde_json::Value = serde_json::from_slice(&deep).expect("json");
            let shallow: serde_json::Value = serde_json::from_slice(&shallow).expect("json");
            assert_eq!(shallow, deep, "{case}");
        }
        // Shapes the shallow path leaves to the deep one.
        assert!(prepare_member_shallow(b"[1]", "c", "Pod", "v1").is_none());
        assert!(prepare_member_shallow(br#"{"metadata": 3}"#, "c", "Pod", "v1").is_none());
        assert!(prepare_member_shallow(br#"{"kind": "Pod"}"#, "c", "Pod", "v1").is_none());
    }
}
