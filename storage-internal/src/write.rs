//! The write path: batched upserts and deletes, and the single-object create / update / delete
//! of the original (reference §3.3).
//!
//! An `apply` batch runs in one transaction. Consecutive upserts become multi-row upserts
//! (`INSERT … SELECT … FROM UNNEST(…) ON CONFLICT … DO UPDATE` on PostgreSQL: one statement,
//! a fixed number of array parameters; `INSERT … VALUES (…), (…) ON DUPLICATE KEY UPDATE` on
//! MySQL; `… ON CONFLICT … DO UPDATE` on SQLite), consecutive deletes one `DELETE` per chunk.
//! An upsert never touches an object's events; a delete removes them with the row.

use std::collections::HashMap;

use storage_api::{Change, Gvr, ObjectKey, ResourceObject, Result, StorageError};

use crate::db::{Db, Tx};
use crate::dialect::{Dialect, JsonKind};
use crate::rows::ObjectValues;
use crate::sql::{Bind, Sql};

/// Rows per multi-row statement.
const ROWS_PER_STATEMENT: usize = 500;
/// JSON bytes per multi-row statement (below MySQL's default `max_allowed_packet` of 16 MiB).
const BYTES_PER_STATEMENT: usize = 8 << 20;

/// The columns written, in the order of [`push_values_row`].
const COLUMNS: &str = "api_group, api_version, resource, cluster, namespace, name, kind, uid, \
                       owner_uid, resource_version, rv_number, created_at, deleted_at, synced_at, \
                       labels, object";

/// The unique key an upsert collides on.
const KEY: &str = "(api_group, api_version, resource, cluster, namespace, name)";

/// The columns an upsert replaces (all but the key and the events).
const UPDATED: [&str; 10] = [
    "kind",
    "uid",
    "owner_uid",
    "resource_version",
    "rv_number",
    "created_at",
    "deleted_at",
    "synced_at",
    "labels",
    "object",
];

/// PostgreSQL also writes the words of each object for full-text search ([`crate::full_text`]).
const FULL_TEXT_COLUMNS: &str = ", search_vector, search_version";

/// [`UPDATED`] and the full-text columns (PostgreSQL).
const UPDATED_WITH_FULL_TEXT: [&str; 12] = [
    "kind",
    "uid",
    "owner_uid",
    "resource_version",
    "rv_number",
    "created_at",
    "deleted_at",
    "synced_at",
    "labels",
    "object",
    "search_vector",
    "search_version",
];

/// Milliseconds since the Unix epoch, now.
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Checks that `object` belongs to the storage of `gvr`.
fn check_resource(gvr: &Gvr, object: &ResourceObject) -> Result<()> {
    if *object.fields.gvr == *gvr {
        Ok(())
    } else {
        Err(StorageError::invalid(
            "object",
            format!(
                "{} is an object of {}, not of {gvr}",
                object.fields.key(),
                object.fields.gvr
            ),
        ))
    }
}

/// One change of a batch, ready to write.
enum Step {
    Upsert(ObjectValues),
    Delete(ObjectKey),
}

/// Applies a batch of changes in order, in one transaction.
pub(crate) async fn apply(db: &Db, gvr: &Gvr, changes: Vec<Change>) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let what = "apply";
    // The rows are made before the transaction, which then only waits on its statements.
    let dialect = db.dialect();
    let mut steps = Vec::with_capacity(changes.len());
    for change in changes {
        steps.push(match change {
            Change::Upsert(object) => {
                check_resource(gvr, &object)?;
                Step::Upsert(ObjectValues::of(&object)?.with_search(dialect))
            }
            Change::Delete(key) => Step::Delete(key),
        });
    }
    let mut tx = db.begin(what).await?;
    let mut upserts: Vec<ObjectValues> = Vec::new();
    let mut deletes: Vec<ObjectKey> = Vec::new();
    for step in steps {
        match step {
            Step::Upsert(values) => {
                if !deletes.is_empty() {
                    delete_keys(&mut tx, gvr, &std::mem::take(&mut deletes)).await?;
                }
                upserts.push(values);
            }
            Step::Delete(key) => {
                if !upserts.is_empty() {
                    upsert(&mut tx, gvr, std::mem::take(&mut upserts), true).await?;
                }
                deletes.push(key);
            }
        }
    }
    if !upserts.is_empty() {
        upsert(&mut tx, gvr, upserts, true).await?;
    }
    if !deletes.is_empty() {
        delete_keys(&mut tx, gvr, &deletes).await?;
    }
    tx.commit(what).await
}

/// Inserts one object; [`StorageError::AlreadyExists`] when its key is taken.
pub(crate) async fn create(db: &Db, gvr: &Gvr, object: ResourceObject) -> Result<()> {
    check_resource(gvr, &object)?;
    let key = object.fields.key();
    let what = "create";
    let values = ObjectValues::of(&object)?.with_search(db.dialect());
    let mut tx = db.begin(what).await?;
    match upsert(&mut tx, gvr, vec![values], false).await {
        Err(StorageError::AlreadyExists { .. }) => Err(StorageError::AlreadyExists {
            what: format!("{gvr} {key}"),
        }),
        other => other,
    }?;
    tx.commit(what).await
}

/// Replaces one stored object; [`StorageError::NotFound`] when it is not stored.
pub(crate) async fn update(db: &Db, gvr: &Gvr, object: ResourceObject) -> Result<()> {
    check_resource(gvr, &object)?;
    let values = ObjectValues::of(&object)?.with_search(db.dialect());
    let mut sql = db.sql();
    sql.push("UPDATE resources SET kind = ")
        .bind(values.kind)
        .push(", uid = ")
        .bind(values.uid)
        .push(", owner_uid = ")
        .bind(values.owner_uid)
        .push(", resource_version = ")
        .bind(values.resource_version.clone())
        .push(", rv_number = ")
        .bind(values.rv_number)
        .push(", created_at = ")
        .bind(values.created_at)
        .push(", deleted_at = ")
        .bind(values.deleted_at)
        .push(", synced_at = ")
        .bind(now_millis())
        .push(", labels = ");
    sql.dialect()
        .push_json_value(&mut sql, values.labels, JsonKind::Binary);
    if let Some(search) = values.search {
        sql.push(", search_vector = CAST(")
            .bind(search)
            .push(" AS tsvector), search_version = ")
            .bind(values.resource_version.clone());
    }
    sql.push(", object = ");
    sql.dialect()
        .push_json_value(&mut sql, values.object, JsonKind::Verbatim);
    push_key_condition(
        &mut sql,
        gvr,
        &values.cluster,
        &values.namespace,
        &values.name,
    );
    if db.execute("update", &sql).await? == 0 {
        return Err(StorageError::not_found(format!(
            "{gvr} {}",
            object.fields.key()
        )));
    }
    Ok(())
}

/// Removes one object (absent: not an error).
pub(crate) async fn delete(db: &Db, gvr: &Gvr, key: &ObjectKey) -> Result<()> {
    let mut sql = db.sql();
    sql.push("DELETE FROM resources");
    push_key_condition(&mut sql, gvr, &key.cluster, &key.namespace, &key.name);
    db.execute("delete", &sql).await.map(drop)
}

/// ` WHERE <resource> AND cluster = ? AND namespace = ? AND name = ?`.
fn push_key_condition(sql: &mut Sql, gvr: &Gvr, cluster: &str, namespace: &str, name: &str) {
    sql.push(" WHERE api_group = ")
        .bind(&gvr.group)
        .push(" AND api_version = ")
        .bind(&gvr.version)
        .push(" AND resource = ")
        .bind(&gvr.resource)
        .push(" AND cluster = ")
        .bind(cluster)
        .push(" AND namespace = ")
        .bind(namespace)
        .push(" AND name = ")
        .bind(name);
}

/// Deletes the objects of `keys`, in chunks.
async fn delete_keys(tx: &mut Tx<'_>, gvr: &Gvr, keys: &[ObjectKey]) -> Result<()> {
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut sql = tx.sql();
        sql.push("DELETE FROM resources WHERE api_group = ")
            .bind(&gvr.group)
            .push(" AND api_version = ")
            .bind(&gvr.version)
            .push(" AND resource = ")
            .bind(&gvr.resource)
            .push(" AND (");
        sql.join(chunk, " OR ", |sql, key| {
            sql.push("(cluster = ")
                .bind(&key.cluster)
                .push(" AND namespace = ")
                .bind(&key.namespace)
                .push(" AND name = ")
                .bind(&key.name)
                .push(")");
        });
        sql.push(")");
        tx.execute("delete", &sql).await?;
    }
    Ok(())
}

/// Writes the rows of `objects` (the last one wins for a repeated key); inserts only (a taken
/// key is an error) unless `replace`.
async fn upsert(
    tx: &mut Tx<'_>,
    gvr: &Gvr,
    objects: Vec<ObjectValues>,
    replace: bool,
) -> Result<()> {
    // One row per key: a statement may not touch a row twice.
    let key = |v: &ObjectValues| ObjectKey::new(&v.cluster, &v.namespace, &v.name);
    let mut last_of: HashMap<ObjectKey, usize> = HashMap::with_capacity(objects.len());
    for (i, values) in objects.iter().enumerate() {
        last_of.insert(key(values), i);
    }
    let rows: Vec<ObjectValues> = objects
        .into_iter()
        .enumerate()
        .filter(|(i, values)| last_of.get(&key(values)) == Some(i))
        .map(|(_, values)| values)
        .collect();
    let synced_at = now_millis();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len()
            && end - start < ROWS_PER_STATEMENT
            && (end == start || bytes < BYTES_PER_STATEMENT)
        {
            bytes += rows[end].object.len();
            end += 1;
        }
        let mut sql = tx.sql();
        push_upsert(&mut sql, gvr, &rows[start..end], synced_at, replace);
        tx.execute(if replace { "upsert" } else { "create" }, &sql)
            .await?;
        start = end;
    }
    Ok(())
}

/// The multi-row insert of `rows`, replacing existing rows when `replace`.
fn push_upsert(sql: &mut Sql, gvr: &Gvr, rows: &[ObjectValues], synced_at: i64, replace: bool) {
    sql.push("INSERT INTO resources (").push(COLUMNS);
    let full_text = sql.dialect() == Dialect::Postgres;
    if full_text {
        sql.push(FULL_TEXT_COLUMNS);
    }
    sql.push(") ");
    if sql.dialect().binds_arrays() {
        let text = |f: fn(&ObjectValues) -> &String| {
            Bind::TextArray(rows.iter().map(|r| f(r).clone()).collect())
        };
        sql.push("SELECT ")
            .bind(&gvr.group)
            .push(", ")
            .bind(&gvr.version)
            .push(", ")
            .bind(&gvr.resource)
            .push(
                ", u.cluster, u.namespace, u.name, u.kind, u.uid, u.owner_uid, \
                 u.resource_version, u.rv_number, u.created_at, u.deleted_at, ",
            )
            .bind(synced_at)
            .push(", CAST(u.labels AS jsonb), CAST(u.object AS json)");
        if full_text {
            sql.push(", CAST(u.search AS tsvector), u.resource_version");
        }
        sql.push(" FROM UNNEST(")
            .bind(text(|r| &r.cluster))
            .push("::text[], ")
            .bind(text(|r| &r.namespace))
            .push("::text[], ")
            .bind(text(|r| &r.name))
            .push("::text[], ")
            .bind(text(|r| &r.kind))
            .push("::text[], ")
            .bind(text(|r| &r.uid))
            .push("::text[], ")
            .bind(text(|r| &r.owner_uid))
            .push("::text[], ")
            .bind(text(|r| &r.resource_version))
            .push("::text[], ")
            .bind(Bind::IntArray(rows.iter().map(|r| r.rv_number).collect()))
            .push("::bigint[], ")
            .bind(Bind::IntArray(rows.iter().map(|r| r.created_at).collect()))
            .push("::bigint[], ")
            .bind(Bind::OptIntArray(
                rows.iter().map(|r| r.deleted_at).collect(),
            ))
            .push("::bigint[], ")
            .bind(text(|r| &r.labels))
            .push("::text[], ")
            .bind(text(|r| &r.object))
            .push("::text[], ")
            .bind(Bind::TextArray(
                rows.iter()
                    .map(|r| r.search.clone().unwrap_or_default())
                    .collect(),
            ))
            .push(
                "::text[]) AS u(cluster, namespace, name, kind, uid, owner_uid, \
                 resource_version, rv_number, created_at, deleted_at, labels, object, search)",
            );
    } else {
        sql.push("VALUES ");
        sql.join(rows, ", ", |sql, row| {
            push_values_row(sql, gvr, row, synced_at)
        });
    }
    if replace {
        let updated: &[&'static str] = if full_text {
            &UPDATED_WITH_FULL_TEXT
        } else {
            &UPDATED
        };
        sql.dialect().push_on_conflict_update(sql, KEY, updated);
    }
}

/// `(?, ?, …)`: one row of [`COLUMNS`].
fn push_values_row(sql: &mut Sql, gvr: &Gvr, row: &ObjectValues, synced_at: i64) {
    sql.push("(")
        .bind(&gvr.group)
        .push(", ")
        .bind(&gvr.version)
        .push(", ")
        .bind(&gvr.resource)
        .push(", ")
        .bind(&row.cluster)
        .push(", ")
        .bind(&row.namespace)
        .push(", ")
        .bind(&row.name)
        .push(", ")
        .bind(&row.kind)
        .push(", ")
        .bind(&row.uid)
        .push(", ")
        .bind(&row.owner_uid)
        .push(", ")
        .bind(&row.resource_version)
        .push(", ")
        .bind(row.rv_number)
        .push(", ")
        .bind(row.created_at)
        .push(", ")
        .bind(row.deleted_at)
        .push(", ")
        .bind(synced_at)
        .push(", ");
    sql.dialect()
        .push_json_value(sql, row.labels.clone(), JsonKind::Binary);
    sql.push(", ");
    sql.dialect()
        .push_json_value(sql, row.object.clone(), JsonKind::Verbatim);
    sql.push(")");
}
