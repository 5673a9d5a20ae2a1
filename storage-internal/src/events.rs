//! Events attached to their objects (reference §3.5): `events` holds a JSON map of event uid →
//! event, `event_resource_versions` a map of event `namespace/name` → event resource version.
//!
//! A batch of events is merged per object first (a later event with the same uid replaces an
//! earlier one), then written with one statement per batch on PostgreSQL (`UPDATE … FROM
//! UNNEST(…)`, top-level keys replaced with `||`) and one `JSON_SET`/`json_set` statement per
//! object, in one transaction, on MySQL and SQLite. Events of objects that are not stored
//! match no row and are dropped.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::value::RawValue;
use storage_api::{Gvr, ObjectEvent, Result, StorageError};

use crate::db::Db;
use crate::sql::{Bind, Sql};

/// Objects per statement on PostgreSQL.
const PG_CHUNK: usize = 1000;

/// The events of one object in a batch.
#[derive(Debug, Default)]
struct ObjectEvents<'a> {
    /// Event uid → event JSON.
    events: BTreeMap<&'a str, &'a str>,
    /// Event `namespace/name` → resource version.
    versions: BTreeMap<&'a str, &'a str>,
}

/// The stored events of an object (the `events` column), as raw JSON values.
pub(crate) fn event_list(events: Option<&str>) -> Result<Vec<Bytes>> {
    let Some(text) = events else {
        return Ok(Vec::new());
    };
    let map: HashMap<&str, &RawValue> = serde_json::from_str(text)
        .map_err(|e| StorageError::internal("stored events are not a JSON map", e))?;
    Ok(map
        .into_values()
        .map(|v| Bytes::copy_from_slice(v.get().as_bytes()))
        .collect())
}

/// Whether `key` can be written as a quoted MySQL/SQLite JSON path member.
fn path_safe(key: &str) -> bool {
    !key.contains(['"', '\\'])
}

/// `$."key"`.
fn member_path(key: &str) -> String {
    format!("$.\"{key}\"")
}

/// Records `events` on the objects of `gvr` they are about.
pub(crate) async fn record(db: &Db, gvr: &Gvr, events: &[ObjectEvent]) -> Result<()> {
    let mut by_object: BTreeMap<(&str, &str), ObjectEvents<'_>> = BTreeMap::new();
    for event in events {
        let text = std::str::from_utf8(&event.raw).map_err(|e| {
            StorageError::invalid("event", format!("event {} is not UTF-8: {e}", event.key))
        })?;
        // PostgreSQL writes any key (as an array element); JSON paths cannot quote every one.
        let writable =
            db.dialect().binds_arrays() || (path_safe(&event.uid) && path_safe(&event.key));
        if !writable {
            tracing::warn!(
                event = %event.key,
                uid = %event.uid,
                "event dropped: its uid or name cannot be a JSON path member"
            );
            continue;
        }
        let entry = by_object
            .entry((&event.cluster, &event.involved_uid))
            .or_default();
        entry.events.insert(&event.uid, text);
        entry.versions.insert(&event.key, &event.resource_version);
    }
    if by_object.is_empty() {
        return Ok(());
    }
    let what = "record events";
    if db.dialect().binds_arrays() {
        let objects: Vec<_> = by_object.into_iter().collect();
        for chunk in objects.chunks(PG_CHUNK) {
            let mut clusters = Vec::with_capacity(chunk.len());
            let mut uids = Vec::with_capacity(chunk.len());
            let mut maps = Vec::with_capacity(chunk.len());
            let mut versions = Vec::with_capacity(chunk.len());
            for ((cluster, uid), object) in chunk {
                clusters.push((*cluster).to_owned());
                uids.push((*uid).to_owned());
                maps.push(json_map(&object.events, true));
                versions.push(json_map(&object.versions, false));
            }
            let mut sql = db.sql();
            sql.push(
                "UPDATE resources AS r SET \
                 events = COALESCE(r.events, '{}'::jsonb) || CAST(u.events AS jsonb), \
                 event_resource_versions = COALESCE(r.event_resource_versions, '{}'::jsonb) \
                 || CAST(u.versions AS jsonb) \
                 FROM UNNEST(",
            )
            .bind(Bind::TextArray(clusters))
            .push("::text[], ")
            .bind(Bind::TextArray(uids))
            .push("::text[], ")
            .bind(Bind::TextArray(maps))
            .push("::text[], ")
            .bind(Bind::TextArray(versions))
            .push("::text[]) AS u(cluster, uid, events, versions) WHERE r.api_group = ")
            .bind(&gvr.group)
            .push(" AND r.api_version = ")
            .bind(&gvr.version)
            .push(" AND r.resource = ")
            .bind(&gvr.resource)
            .push(" AND r.cluster = u.cluster AND r.uid = u.uid");
            db.execute(what, &sql).await?;
        }
    } else {
        let mut tx = db.begin(what).await?;
        for ((cluster, uid), object) in &by_object {
            let mut sql = tx.sql();
            push_json_set_update(&mut sql, gvr, cluster, uid, object);
            tx.execute(what, &sql).await?;
        }
        tx.commit(what).await?;
    }
    Ok(())
}

/// A JSON object text of `map`: values are JSON (`raw`) or strings.
fn json_map(map: &BTreeMap<&str, &str>, raw: bool) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(*key).to_string());
        out.push(':');
        if raw {
            out.push_str(value);
        } else {
            out.push_str(&serde_json::Value::from(*value).to_string());
        }
    }
    out.push('}');
    out
}

/// MySQL/SQLite: `UPDATE resources SET events = JSON_SET(…), event_resource_versions =
/// JSON_SET(…) WHERE <resource> AND cluster = ? AND uid = ?`.
fn push_json_set_update(
    sql: &mut Sql,
    gvr: &Gvr,
    cluster: &str,
    uid: &str,
    object: &ObjectEvents<'_>,
) {
    let dialect = sql.dialect();
    sql.push("UPDATE resources SET events = ");
    let events = object
        .events
        .iter()
        .map(|(uid, event)| (member_path(uid), *event));
    dialect.push_json_set(sql, "events", events, true);
    sql.push(", event_resource_versions = ");
    let versions = object
        .versions
        .iter()
        .map(|(key, version)| (member_path(key), *version));
    dialect.push_json_set(sql, "event_resource_versions", versions, false);
    sql.push(" WHERE ")
        .push_resource_is(gvr, "")
        .push(" AND cluster = ")
        .bind(cluster)
        .push(" AND uid = ")
        .bind(uid);
}

/// The event resource versions stored on an object (`event_resource_versions`).
pub(crate) fn event_versions(text: Option<&str>) -> Result<Vec<(String, String)>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let map: HashMap<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| {
        StorageError::internal("stored event resource versions are not a JSON map", e)
    })?;
    Ok(map
        .into_iter()
        .map(|(key, value)| {
            let version = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (key, version)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_json() {
        let mut map = BTreeMap::new();
        map.insert("u\"1", r#"{"a":null}"#);
        assert_eq!(json_map(&map, true), r#"{"u\"1":{"a":null}}"#);
        let mut versions = BTreeMap::new();
        versions.insert("ns/e", "42");
        assert_eq!(json_map(&versions, false), r#"{"ns/e":"42"}"#);
        assert_eq!(
            event_list(Some(r#"{"x":{"b":1}}"#)).expect("list"),
            [Bytes::from_static(br#"{"b":1}"#)]
        );
        assert_eq!(
            event_versions(Some(r#"{"ns/e":"7","n/f":8}"#))
                .expect("versions")
                .len(),
            2
        );
    }
}
