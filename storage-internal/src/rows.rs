//! Between stored rows and [`ResourceObject`]s: the column values of an object, and the object
//! rebuilt from its columns (its JSON is returned exactly as stored, never re-serialized).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use storage_api::object::Labels;
use storage_api::resource_version::served;
use storage_api::{Gvr, IndexedFields, ResourceObject, Result, StorageError};

use crate::db::{Col, Row};

/// `created_at` of an object without `metadata.creationTimestamp`: lower than any time, so that
/// it sorts as "missing" (lowest) and never passes `since`/`before`.
pub(crate) const NO_TIME: i64 = i64::MIN;
/// `rv_number` of an object whose resource version is not a number: lower than any version.
pub(crate) const NO_RESOURCE_VERSION: i64 = -1;

/// The column types of [`crate::dialect::Dialect::object_columns`], in order.
pub(crate) const OBJECT_COLS: [Col; 15] = [
    Col::Text,   // cluster
    Col::Text,   // api_group
    Col::Text,   // api_version
    Col::Text,   // resource
    Col::Text,   // kind
    Col::Text,   // namespace
    Col::Text,   // name
    Col::Text,   // uid
    Col::Text,   // owner_uid
    Col::Text,   // resource_version
    Col::Int,    // created_at
    Col::OptInt, // deleted_at
    Col::Text,   // labels
    Col::Text,   // object
    Col::Int,    // revision (of the last change: the layer's resource version)
];

/// The stored values of one object.
#[derive(Debug, Clone)]
pub(crate) struct ObjectValues {
    pub(crate) cluster: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) uid: String,
    pub(crate) owner_uid: String,
    pub(crate) resource_version: String,
    pub(crate) rv_number: i64,
    pub(crate) created_at: i64,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) labels: String,
    pub(crate) object: String,
    /// PostgreSQL: the `tsvector` text of the object's words ([`crate::full_text`]).
    pub(crate) search: Option<String>,
}

impl ObjectValues {
    /// The column values of `object`. Fails when its JSON is not UTF-8 (it always is when it
    /// went through [`ResourceObject::parse`]).
    pub(crate) fn of(object: &ResourceObject) -> Result<Self> {
        let f = &object.fields;
        let text = std::str::from_utf8(&object.raw).map_err(|e| {
            StorageError::invalid("object", format!("{}: JSON is not UTF-8: {e}", f.key()))
        })?;
        let labels: BTreeMap<&str, &str> = f.labels.iter().collect();
        Ok(Self {
            cluster: f.cluster.to_string(),
            namespace: f.namespace.clone(),
            name: f.name.clone(),
            kind: f.kind.to_string(),
            uid: f.uid.clone(),
            owner_uid: f.owner_uid.clone(),
            resource_version: f.resource_version.clone(),
            rv_number: f
                .resource_version_number()
                .and_then(|n| i64::try_from(n).ok())
                .unwrap_or(NO_RESOURCE_VERSION),
            created_at: f.creation_timestamp.unwrap_or(NO_TIME),
            deleted_at: f.deletion_timestamp,
            labels: serde_json::to_string(&labels).unwrap_or_else(|_| "{}".to_owned()),
            object: text.to_owned(),
            search: None,
        })
    }

    /// These values with the words of the object for full-text search when `words`
    /// ([`crate::db::Db::stores_words`]).
    pub(crate) fn with_search(mut self, words: bool) -> Self {
        if words {
            self.search = Some(crate::full_text::vector_text(&self.object));
        }
        self
    }
}

/// Shares the `Arc`s of repeated clusters, kinds and resources between the objects of a page.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    strings: HashMap<String, Arc<str>>,
    gvrs: HashMap<(String, String, String), Arc<Gvr>>,
}

impl Interner {
    /// An interner that already knows `gvr`.
    pub(crate) fn with_gvr(gvr: &Arc<Gvr>) -> Self {
        let mut interner = Self::default();
        interner.gvrs.insert(
            (gvr.group.clone(), gvr.version.clone(), gvr.resource.clone()),
            gvr.clone(),
        );
        interner
    }

    fn string(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.strings.insert(s.to_owned(), shared.clone());
        shared
    }

    fn gvr(&mut self, group: &str, version: &str, resource: &str) -> Arc<Gvr> {
        let key = (group.to_owned(), version.to_owned(), resource.to_owned());
        self.gvrs
            .entry(key)
            .or_insert_with(|| Arc::new(Gvr::new(group, version, resource)))
            .clone()
    }
}

/// Rebuilds the object whose [`OBJECT_COLS`] start at column `at` of `row`; its
/// `metadata.resourceVersion` is the layer's (the revision of the row's last change), its
/// indexed `resource_version` the member's.
pub(crate) fn object_from_row(
    row: &mut Row,
    at: usize,
    interner: &mut Interner,
) -> Result<ResourceObject> {
    let labels_text = row.take_text(at + 12);
    let labels: BTreeMap<String, String> = serde_json::from_str(&labels_text).map_err(|e| {
        StorageError::internal(
            format!("stored labels are not a JSON map: {labels_text}"),
            e,
        )
    })?;
    let created_at = row.int(at + 10);
    let fields = IndexedFields {
        cluster: interner.string(row.text(at)),
        gvr: interner.gvr(row.text(at + 1), row.text(at + 2), row.text(at + 3)),
        kind: interner.string(row.text(at + 4)),
        namespace: row.take_text(at + 5),
        name: row.take_text(at + 6),
        uid: row.take_text(at + 7),
        owner_uid: row.take_text(at + 8),
        resource_version: row.take_text(at + 9),
        creation_timestamp: (created_at != NO_TIME).then_some(created_at),
        deletion_timestamp: row.opt_int(at + 11),
        labels: Labels::new(labels),
    };
    let raw = Bytes::from(row.take_text(at + 13));
    // Rows written before the change log (revision 0) keep the member's version.
    let raw = match u64::try_from(row.int(at + 14)) {
        Ok(revision) if revision > 0 => served(&raw, &fields.resource_version, revision)?,
        _ => raw,
    };
    Ok(ResourceObject { fields, raw })
}
