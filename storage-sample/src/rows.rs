//! Rows and objects: the values an object is written as, and how a fetched row becomes a
//! [`ResourceObject`] again.
//!
//! A row keeps the object's JSON exactly as received. Reading it back goes through
//! [`ResourceObject::parse`], the same door every object enters by, so the indexed fields the
//! evaluator filters on are the ones the synchro saw.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;
use sqlx::Row as _;
use sqlx::any::AnyRow;
use storage_api::{
    Gvr, ObjectEvent, ObjectKey, ResourceObject, ResourceStorageConfig, Result, StorageError,
    StoredResourceType,
};

use crate::database::{Filter, Statement};
use crate::error::classify;

/// The start of every read of whole rows: the columns [`StoredRow::decode`] reads.
pub(crate) const SELECT_ROWS: &str = "SELECT api_group, version, resource, cluster, kind, \
     namespaced, object, events FROM sample_resources";

/// The start of every write of a new row: the columns [`bind_object`] binds, in order
/// (a new object has no events yet).
pub(crate) const INSERT_ROW: &str = "INSERT INTO sample_resources (api_group, version, \
     resource, cluster, namespace, name, kind, namespaced, uid, object, events) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')";

/// The condition that selects the row of one object; bind its values with [`bind_key`].
pub(crate) const WHERE_KEY: &str = " WHERE api_group = ? AND version = ? AND resource = ? \
     AND cluster = ? AND namespace = ? AND name = ?";

/// The rows of resource `gvr`.
pub(crate) fn resource_filter(gvr: &Gvr) -> Filter {
    Filter::new()
        .equals("api_group", &gvr.group)
        .equals("version", &gvr.version)
        .equals("resource", &gvr.resource)
}

/// Binds the values of [`WHERE_KEY`]: the object `key` of resource `gvr`.
pub(crate) fn bind_key(statement: Statement, gvr: &Gvr, key: &ObjectKey) -> Statement {
    statement
        .bind(gvr.group.clone())
        .bind(gvr.version.clone())
        .bind(gvr.resource.clone())
        .bind(key.cluster.clone())
        .bind(key.namespace.clone())
        .bind(key.name.clone())
}

/// Binds the columns of [`INSERT_ROW`] for `object`, stored under `config`.
pub(crate) fn bind_object(
    statement: Statement,
    config: &ResourceStorageConfig,
    object: &ResourceObject,
) -> Result<Statement> {
    let fields = &object.fields;
    Ok(statement
        .bind(config.gvr.group.clone())
        .bind(config.gvr.version.clone())
        .bind(config.gvr.resource.clone())
        .bind(fields.cluster.to_string())
        .bind(fields.namespace.clone())
        .bind(fields.name.clone())
        .bind(config.kind.clone())
        .bind(i64::from(config.namespaced))
        .bind(fields.uid.clone())
        .bind(json_text(&object.raw)?.to_owned()))
}

/// An object read back, with what the layer keeps beside it.
#[derive(Debug)]
pub(crate) struct StoredRow {
    /// The object, parsed from its stored JSON.
    pub(crate) object: ResourceObject,
    /// The cluster and resource it is stored under, with the resource's kind and scope.
    pub(crate) resource_type: StoredResourceType,
    /// Its events.
    pub(crate) events: Events,
}

impl StoredRow {
    /// Reads a row selected with [`SELECT_ROWS`].
    pub(crate) fn decode(row: &AnyRow) -> Result<Self> {
        let resource_type = decode_resource_type(row)?;
        let object = ResourceObject::parse(
            Arc::from(resource_type.cluster.as_str()),
            Arc::new(resource_type.gvr.clone()),
            Bytes::from(text(row, "object")?),
        )?;
        let events = Events::parse(&text(row, "events")?)?;
        Ok(Self {
            object,
            resource_type,
            events,
        })
    }
}

/// Reads the cluster, resource, kind and scope of a row (selected with [`SELECT_ROWS`], or
/// with `SELECT DISTINCT` of these columns).
pub(crate) fn decode_resource_type(row: &AnyRow) -> Result<StoredResourceType> {
    let namespaced: i64 = row
        .try_get("namespaced")
        .map_err(|e| classify("read column namespaced", e))?;
    Ok(StoredResourceType {
        cluster: text(row, "cluster")?,
        gvr: Gvr {
            group: text(row, "api_group")?,
            version: text(row, "version")?,
            resource: text(row, "resource")?,
        },
        kind: text(row, "kind")?,
        namespaced: namespaced != 0,
    })
}

/// The text of a column.
pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String> {
    row.try_get(column)
        .map_err(|e| classify(&format!("read column {column}"), e))
}

/// An object's JSON as text (it is UTF-8: it was parsed as JSON).
pub(crate) fn json_text(raw: &[u8]) -> Result<&str> {
    std::str::from_utf8(raw).map_err(|e| StorageError::internal("object JSON is not UTF-8", e))
}

/// The events of one object (the `events` column): a JSON object of event uid → event JSON.
/// Recording an event again with the same uid replaces it.
#[derive(Debug, Default)]
pub(crate) struct Events(BTreeMap<String, Box<RawValue>>);

impl Events {
    /// Reads the `events` column.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map(Self)
            .map_err(|e| StorageError::internal("the events column is not a JSON object", e))
    }

    /// The `events` column.
    pub(crate) fn to_text(&self) -> Result<String> {
        serde_json::to_string(&self.0)
            .map_err(|e| StorageError::internal("cannot write the events column", e))
    }

    /// Adds `event`, replacing an event with the same uid.
    pub(crate) fn record(&mut self, event: &ObjectEvent) -> Result<()> {
        let raw = RawValue::from_string(json_text(&event.raw)?.to_owned())
            .map_err(|e| StorageError::internal("event JSON is not JSON", e))?;
        self.0.insert(event.uid.clone(), raw);
        Ok(())
    }

    /// The events' JSON, as [`storage_api::evaluator::present`] takes them.
    pub(crate) fn raw(&self) -> Vec<Bytes> {
        self.0
            .values()
            .map(|raw| Bytes::copy_from_slice(raw.get().as_bytes()))
            .collect()
    }

    /// The events, parsed again (for their keys and resource versions).
    pub(crate) fn parsed(&self, cluster: &Arc<str>) -> Result<Vec<ObjectEvent>> {
        self.raw()
            .into_iter()
            .map(|raw| ObjectEvent::parse(cluster.clone(), raw))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uid: &str, reason: &str) -> ObjectEvent {
        let raw = format!(
            r#"{{"kind":"Event","reason":"{reason}","metadata":{{"name":"e-{uid}","namespace":"ns","uid":"{uid}","resourceVersion":"7"}},"involvedObject":{{"uid":"pod"}}}}"#
        );
        ObjectEvent::parse("c1".into(), Bytes::from(raw)).expect("event")
    }

    #[test]
    fn events_round_trip_and_replace_by_uid() {
        let mut events = Events::parse("{}").expect("empty");
        events.record(&event("u1", "Pulled")).expect("record");
        events.record(&event("u2", "Started")).expect("record");
        events
            .record(&event("u1", "Killing"))
            .expect("record again");
        let again = Events::parse(&events.to_text().expect("text")).expect("parse");
        let raw = again.raw();
        assert_eq!(raw.len(), 2);
        assert!(
            std::str::from_utf8(&raw[0])
                .expect("utf-8")
                .contains("Killing")
        );
        let parsed = again.parsed(&Arc::from("c1")).expect("parsed");
        assert_eq!(
            (parsed[1].key.as_str(), parsed[1].resource_version.as_str()),
            ("ns/e-u2", "7")
        );
        assert!(Events::parse("[]").is_err());
    }
}
