//! The write path: batched upserts and deletes, and the single-object create / update / delete
//! of the original (reference §3.3).
//!
//! An `apply` batch runs in one transaction. Consecutive upserts become multi-row upserts
//! (`INSERT … SELECT … FROM UNNEST(…) ON CONFLICT … DO UPDATE` on PostgreSQL: one statement,
//! a fixed number of array parameters; `INSERT … VALUES (…), (…) ON DUPLICATE KEY UPDATE` on
//! MySQL; `… ON CONFLICT … DO UPDATE` on SQLite), consecutive deletes one `DELETE` per chunk.
//! An upsert never touches an object's events; a delete removes them with the row.
//!
//! Every write transaction also appends to the change log ([`crate::changelog`]): it locks the
//! log first, reads the stored state of the keys it writes (one `SELECT` per 500 keys: the
//! previous state of each change, `ADDED` or `MODIFIED`), and records one entry per change
//! (a delete of an absent object records nothing).

use std::collections::HashMap;
use std::sync::Arc;

use storage_api::{Change, Gvr, ObjectKey, ResourceObject, Result, StorageError};

use crate::changelog::{self, ChangeLog, Op, now_millis};
use crate::db::{Col, Db, Tx};
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
                       labels, object, revision";

/// The unique key an upsert collides on.
const KEY: &str = "(api_group, api_version, resource, cluster, namespace, name)";

/// The columns an upsert replaces (all but the key and the events).
const UPDATED: [&str; 11] = [
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
    "revision",
];

/// PostgreSQL also writes the words of each object for full-text search ([`crate::full_text`]),
/// and that they are not pending.
const FULL_TEXT_COLUMNS: &str = ", search_vector, search_pending";

/// The full-text columns an upsert also replaces (PostgreSQL).
const UPDATED_FULL_TEXT: [&str; 2] = ["search_vector", "search_pending"];

/// The indexed columns an upsert leaves as stored when the new value is equal, so that an
/// update that changes neither (a status update) stays HOT on PostgreSQL (migration 22).
const KEPT_WHEN_EQUAL: [&str; 2] = ["labels", "search_vector"];

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

/// What a write is allowed to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A batch of upserts and deletes.
    Apply,
    /// One object that must not be stored yet.
    Create,
    /// One object that must be stored already.
    Update,
}

/// Applies a batch of changes in order, in one transaction.
pub(crate) async fn apply(db: &Db, log: &ChangeLog, gvr: &Gvr, changes: Vec<Change>) -> Result<()> {
    write(db, log, gvr, changes, Mode::Apply).await
}

/// Inserts one object; [`StorageError::AlreadyExists`] when its key is taken.
pub(crate) async fn create(
    db: &Db,
    log: &ChangeLog,
    gvr: &Gvr,
    object: ResourceObject,
) -> Result<()> {
    write(db, log, gvr, vec![Change::Upsert(object)], Mode::Create).await
}

/// Replaces one stored object; [`StorageError::NotFound`] when it is not stored.
pub(crate) async fn update(
    db: &Db,
    log: &ChangeLog,
    gvr: &Gvr,
    object: ResourceObject,
) -> Result<()> {
    write(db, log, gvr, vec![Change::Upsert(object)], Mode::Update).await
}

/// Removes one object (absent: not an error).
pub(crate) async fn delete(db: &Db, log: &ChangeLog, gvr: &Gvr, key: &ObjectKey) -> Result<()> {
    write(db, log, gvr, vec![Change::Delete(key.clone())], Mode::Apply).await
}

/// The write path: one transaction that locks the change log, reads the stored state of the
/// keys written (the previous state of each change, and whether it is an `ADDED` or a
/// `MODIFIED`), writes the rows, each stamped with the revision of its last change, and the
/// change log.
async fn write(
    db: &Db,
    log: &ChangeLog,
    gvr: &Gvr,
    changes: Vec<Change>,
    mode: Mode,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    for change in &changes {
        if let Change::Upsert(object) = change {
            check_resource(gvr, object)?;
        }
    }
    let what = match mode {
        Mode::Apply => "apply",
        Mode::Create => "create",
        Mode::Update => "update",
    };
    let mut tx = db.begin_then(what, changelog::LOCK).await?;
    let keys: Vec<ObjectKey> = changes
        .iter()
        .map(|c| match c {
            Change::Upsert(object) => object.fields.key(),
            Change::Delete(key) => key.clone(),
        })
        .collect();
    let (mut current, state) = stored_objects(&mut tx, gvr, &keys).await?;
    let mut appender = changelog::Appender::new(state);
    if mode != Mode::Apply {
        let key = &keys[0];
        match (mode, current.contains_key(key)) {
            (Mode::Create, true) => {
                return Err(StorageError::AlreadyExists {
                    what: format!("{gvr} {key}"),
                });
            }
            (Mode::Update, false) => {
                return Err(StorageError::not_found(format!("{gvr} {key}")));
            }
            _ => {}
        }
    }
    let written = changes.len() as u64;
    let words = db.stores_words(gvr);
    let mut upserts: Vec<(ResourceObject, i64)> = Vec::new();
    let mut deletes: Vec<ObjectKey> = Vec::new();
    for change in changes {
        match change {
            Change::Upsert(object) => {
                if !deletes.is_empty() {
                    delete_keys(&mut tx, gvr, &std::mem::take(&mut deletes)).await?;
                }
                let text = object_text(&object)?;
                let key = object.fields.key();
                let previous = current.insert(key, text.clone());
                let op = if previous.is_some() {
                    Op::Modified
                } else {
                    Op::Added
                };
                let revision = appender.push(op, object.fields.cluster.clone(), text, previous);
                upserts.push((object, revision));
            }
            Change::Delete(key) => {
                if !upserts.is_empty() {
                    upsert(&mut tx, words, gvr, std::mem::take(&mut upserts)).await?;
                }
                if let Some(last) = current.remove(&key) {
                    appender.push(Op::Deleted, Arc::from(key.cluster.as_str()), last, None);
                    deletes.push(key);
                }
            }
        }
    }
    // The last run of upserts or deletes (the other kind was flushed when it began): its
    // last statement goes with the change log's (one statement on PostgreSQL).
    let dialect = tx.sql().dialect();
    let mut rest = if upserts.is_empty() {
        delete_statements(dialect, gvr, &deletes)
    } else {
        upsert_statements(dialect, words, gvr, upserts)?
    };
    let last = rest.pop();
    for (what, sql) in &rest {
        tx.execute(what, sql).await?;
    }
    appender.finish(&mut tx, Some(gvr), log, last).await?;
    tx.commit(what).await?;
    crate::statistics::wrote(db, written);
    Ok(())
}

/// The JSON text of an object.
fn object_text(object: &ResourceObject) -> Result<String> {
    std::str::from_utf8(&object.raw)
        .map(str::to_owned)
        .map_err(|e| {
            StorageError::invalid(
                "object",
                format!("{}: JSON is not UTF-8: {e}", object.fields.key()),
            )
        })
}

/// The stored JSON of those of `keys` that are stored, and the change log's state (read with
/// the first keys: the transaction holds the log's lock, taken by its first statement).
async fn stored_objects(
    tx: &mut Tx<'_>,
    gvr: &Gvr,
    keys: &[ObjectKey],
) -> Result<(HashMap<ObjectKey, String>, changelog::LogState)> {
    let mut unique: Vec<&ObjectKey> = keys.iter().collect();
    unique.sort();
    unique.dedup();
    let mut found = HashMap::new();
    let mut state = None;
    for chunk in unique.chunks(ROWS_PER_STATEMENT) {
        let mut query = tx.sql();
        let columns = if query.dialect() == Dialect::Postgres {
            "r.cluster, r.namespace, r.name, r.object::text AS object"
        } else {
            "r.cluster, r.namespace, r.name, r.object"
        };
        push_select_by_keys(&mut query, columns, gvr, chunk);
        let at = if state.is_none() { 2 } else { 0 };
        let rows = if state.is_none() {
            let mut sql = tx.sql();
            changelog::push_with_state(&mut sql, &query);
            let cols = [
                Col::Int,
                Col::Int,
                Col::OptText,
                Col::OptText,
                Col::OptText,
                Col::OptText,
            ];
            let rows = tx.fetch("read stored objects", &sql, &cols).await?;
            state = Some(changelog::state_of(&rows)?);
            rows
        } else {
            let cols = [Col::Text, Col::Text, Col::Text, Col::Text];
            tx.fetch("read stored objects", &query, &cols).await?
        };
        for mut row in rows {
            let (Some(cluster), Some(namespace), Some(name)) =
                (row.opt_text(at), row.opt_text(at + 1), row.opt_text(at + 2))
            else {
                // The state's row when no key is stored.
                continue;
            };
            let key = ObjectKey::new(cluster, namespace, name);
            found.insert(key, row.take_text(at + 3));
        }
    }
    let state = state.ok_or_else(|| StorageError::Internal {
        message: "change log: a write without keys read no state".into(),
        source: None,
    })?;
    Ok((found, state))
}

/// Deletes the objects of `keys`, in chunks.
async fn delete_keys(tx: &mut Tx<'_>, gvr: &Gvr, keys: &[ObjectKey]) -> Result<()> {
    for (what, sql) in delete_statements(tx.sql().dialect(), gvr, keys) {
        tx.execute(what, &sql).await?;
    }
    Ok(())
}

/// The statements of [`delete_keys`], each named for the trace.
fn delete_statements(dialect: Dialect, gvr: &Gvr, keys: &[ObjectKey]) -> Vec<(&'static str, Sql)> {
    keys.chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            let mut sql = Sql::new(dialect);
            let keys: Vec<&ObjectKey> = chunk.iter().collect();
            push_delete_by_keys(&mut sql, gvr, &keys);
            ("delete", sql)
        })
        .collect()
}

/// `SELECT columns` of the rows `r` of `resources` of `gvr` with one of `keys`.
///
/// PostgreSQL binds the keys as three arrays (`UNNEST`), SQLite as one JSON array
/// (`json_each`, joined first so that each key is one lookup in `resources_key`: without
/// statistics SQLite answered an `OR` of keys by testing every row of the resource against
/// every key, which made ingest quadratic), so a batch of any size is one statement text
/// planned as key lookups. MySQL takes an `OR` of the keys: its range optimizer reads each key
/// through the unique index.
fn push_select_by_keys(sql: &mut Sql, columns: &'static str, gvr: &Gvr, keys: &[&ObjectKey]) {
    sql.push("SELECT ").push(columns);
    match sql.dialect() {
        Dialect::Postgres => {
            sql.push(" FROM ");
            push_unnest_keys(sql, keys);
            sql.push(" JOIN resources r ON ").push(POSTGRES_KEY_JOIN);
        }
        Dialect::Sqlite => {
            let triples: Vec<[&str; 3]> = keys
                .iter()
                .map(|k| [k.cluster.as_str(), k.namespace.as_str(), k.name.as_str()])
                .collect();
            // Texts only: serializing cannot fail.
            let json = serde_json::to_string(&triples).unwrap_or_default();
            sql.push(" FROM json_each(").bind(json).push(
                ") AS k CROSS JOIN resources r ON \
                 r.cluster = json_extract(k.value, '$[0]') \
                 AND r.namespace = json_extract(k.value, '$[1]') \
                 AND r.name = json_extract(k.value, '$[2]')",
            );
        }
        Dialect::MySql => {
            sql.push(" FROM resources r WHERE ");
            push_keys_or(sql, keys, "r.");
        }
    }
    sql.push(if sql.dialect() == Dialect::MySql {
        " AND "
    } else {
        " WHERE "
    });
    sql.push_resource_is(gvr, "r.");
}

/// Deletes the rows of `resources` of `gvr` with one of `keys` (found as
/// [`push_select_by_keys`] finds them).
fn push_delete_by_keys(sql: &mut Sql, gvr: &Gvr, keys: &[&ObjectKey]) {
    match sql.dialect() {
        Dialect::Postgres => {
            sql.push("DELETE FROM resources r USING ");
            push_unnest_keys(sql, keys);
            sql.push(" WHERE ").push(POSTGRES_KEY_JOIN).push(" AND ");
            sql.push_resource_is(gvr, "r.");
        }
        Dialect::Sqlite => {
            sql.push("DELETE FROM resources WHERE id IN (");
            push_select_by_keys(sql, "r.id", gvr, keys);
            sql.push(")");
        }
        Dialect::MySql => {
            // MariaDB takes no alias in a one-table DELETE.
            sql.push("DELETE FROM resources WHERE ");
            push_keys_or(sql, keys, "");
            sql.push(" AND ");
            sql.push_resource_is(gvr, "");
        }
    }
}

/// How the keys of [`push_unnest_keys`] (`k`) meet the rows of `resources` (`r`).
const POSTGRES_KEY_JOIN: &str =
    "r.cluster = k.cluster AND r.namespace = k.namespace AND r.name = k.name";

/// `UNNEST($1::text[], $2::text[], $3::text[]) AS k(cluster, namespace, name)` of `keys`.
fn push_unnest_keys(sql: &mut Sql, keys: &[&ObjectKey]) {
    let column =
        |f: fn(&ObjectKey) -> &String| Bind::TextArray(keys.iter().map(|k| f(k).clone()).collect());
    sql.push("UNNEST(")
        .bind(column(|k| &k.cluster))
        .push("::text[], ")
        .bind(column(|k| &k.namespace))
        .push("::text[], ")
        .bind(column(|k| &k.name))
        .push("::text[]) AS k(cluster, namespace, name)");
}

/// `(cluster = ? AND namespace = ? AND name = ?) OR …` for `keys`, in parentheses, the columns
/// prefixed with `table`.
fn push_keys_or(sql: &mut Sql, keys: &[&ObjectKey], table: &'static str) {
    sql.push("(");
    sql.join(keys, " OR ", |sql, key| {
        sql.push("(")
            .push(table)
            .push("cluster = ")
            .bind(&key.cluster)
            .push(" AND ")
            .push(table)
            .push("namespace = ")
            .bind(&key.namespace)
            .push(" AND ")
            .push(table)
            .push("name = ")
            .bind(&key.name)
            .push(")");
    });
    sql.push(")");
}

/// Writes `objects`, each with the revision of its change (the last one wins for a repeated
/// key), replacing stored rows; with their full-text words when `words` ([`Db::stores_words`]).
async fn upsert(
    tx: &mut Tx<'_>,
    words: bool,
    gvr: &Gvr,
    objects: Vec<(ResourceObject, i64)>,
) -> Result<()> {
    for (what, sql) in upsert_statements(tx.sql().dialect(), words, gvr, objects)? {
        tx.execute(what, &sql).await?;
    }
    Ok(())
}

/// The statements of [`upsert`], each named for the trace.
fn upsert_statements(
    dialect: Dialect,
    words: bool,
    gvr: &Gvr,
    objects: Vec<(ResourceObject, i64)>,
) -> Result<Vec<(&'static str, Sql)>> {
    // One row per key: a statement may not touch a row twice.
    let mut last_of: HashMap<ObjectKey, usize> = HashMap::with_capacity(objects.len());
    for (i, (object, _)) in objects.iter().enumerate() {
        last_of.insert(object.fields.key(), i);
    }
    let mut rows = Vec::with_capacity(last_of.len());
    for (i, (object, revision)) in objects.iter().enumerate() {
        if last_of.get(&object.fields.key()) == Some(&i) {
            rows.push((ObjectValues::of(object)?.with_search(words), *revision));
        }
    }
    let synced_at = now_millis();
    let mut statements = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < rows.len()
            && end - start < ROWS_PER_STATEMENT
            && (end == start || bytes < BYTES_PER_STATEMENT)
        {
            bytes += rows[end].0.object.len();
            end += 1;
        }
        let mut sql = Sql::new(dialect);
        push_upsert(&mut sql, gvr, &rows[start..end], synced_at);
        statements.push(("upsert", sql));
        start = end;
    }
    Ok(statements)
}

/// The multi-row upsert of `rows` (with their revisions).
fn push_upsert(sql: &mut Sql, gvr: &Gvr, rows: &[(ObjectValues, i64)], synced_at: i64) {
    sql.push("INSERT INTO resources (").push(COLUMNS);
    let full_text = sql.dialect() == Dialect::Postgres;
    // The rows of one resource: all with words, or none (`fullTextSearch.exclude`).
    let words = rows.iter().any(|(r, _)| r.search.is_some());
    if full_text {
        sql.push(FULL_TEXT_COLUMNS);
    }
    sql.push(") ");
    if sql.dialect().binds_arrays() {
        let text = |f: fn(&ObjectValues) -> &String| {
            Bind::TextArray(rows.iter().map(|(r, _)| f(r).clone()).collect())
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
            .push(", CAST(u.labels AS jsonb), CAST(u.object AS json), u.revision");
        if full_text && words {
            sql.push(", CAST(u.search AS tsvector), false");
        } else if full_text {
            // No words, and pending: taking the resource off `fullTextSearch.exclude` fills
            // them in at the next start. Both stay as stored on update (HOT).
            sql.push(", NULL, true");
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
            .bind(Bind::IntArray(
                rows.iter().map(|(r, _)| r.rv_number).collect(),
            ))
            .push("::bigint[], ")
            .bind(Bind::IntArray(
                rows.iter().map(|(r, _)| r.created_at).collect(),
            ))
            .push("::bigint[], ")
            .bind(Bind::OptIntArray(
                rows.iter().map(|(r, _)| r.deleted_at).collect(),
            ))
            .push("::bigint[], ")
            .bind(text(|r| &r.labels))
            .push("::text[], ")
            .bind(text(|r| &r.object))
            .push("::text[], ")
            .bind(Bind::IntArray(rows.iter().map(|(_, rev)| *rev).collect()))
            .push("::bigint[]");
        if words {
            sql.push(", ")
                .bind(Bind::TextArray(
                    rows.iter()
                        .map(|(r, _)| r.search.clone().unwrap_or_default())
                        .collect(),
                ))
                .push("::text[]");
        }
        sql.push(
            ") AS u(cluster, namespace, name, kind, uid, owner_uid, resource_version, rv_number, \
             created_at, deleted_at, labels, object, revision",
        )
        .push(if words { ", search)" } else { ")" });
    } else {
        sql.push("VALUES ");
        sql.join(rows, ", ", |sql, (row, revision)| {
            push_values_row(sql, gvr, row, synced_at, *revision)
        });
    }
    let updated: Vec<&'static str> = if full_text {
        UPDATED.iter().chain(&UPDATED_FULL_TEXT).copied().collect()
    } else {
        UPDATED.to_vec()
    };
    sql.dialect()
        .push_on_conflict_update(sql, "resources", KEY, &updated, &KEPT_WHEN_EQUAL);
}

/// `(?, ?, …)`: one row of [`COLUMNS`].
fn push_values_row(sql: &mut Sql, gvr: &Gvr, row: &ObjectValues, synced_at: i64, revision: i64) {
    sql.push("(")
        .bind_resource(gvr)
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
    sql.push(", ").bind(revision).push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<ObjectKey> {
        (0..n)
            .map(|i| ObjectKey::new("c1", "ns", &format!("pod-{i}")))
            .collect()
    }

    fn select(dialect: Dialect, keys: &[ObjectKey]) -> Sql {
        let mut sql = Sql::new(dialect);
        let keys: Vec<&ObjectKey> = keys.iter().collect();
        push_select_by_keys(&mut sql, "r.name", &Gvr::new("", "v1", "pods"), &keys);
        sql
    }

    fn delete(dialect: Dialect, keys: &[ObjectKey]) -> Sql {
        let mut sql = Sql::new(dialect);
        let keys: Vec<&ObjectKey> = keys.iter().collect();
        push_delete_by_keys(&mut sql, &Gvr::new("", "v1", "pods"), &keys);
        sql
    }

    /// On PostgreSQL and SQLite a batch of any size is one statement text (one prepared
    /// statement, planned as key lookups), the keys bound as arrays (PostgreSQL) or one JSON
    /// array joined first (SQLite: its plan of an `OR` of keys tested every row of the
    /// resource against every key); MySQL keeps an `OR` arm per key.
    #[test]
    fn key_lookups_have_one_text_for_any_batch() {
        for build in [select, delete] {
            let one = build(Dialect::Postgres, &keys(1));
            let many = build(Dialect::Postgres, &keys(300));
            assert_eq!(one.text(), many.text());
            assert!(one.text().contains("UNNEST("), "{}", one.text());
            assert_eq!(many.binds().len(), 6, "three key arrays and the resource");
            match &many.binds()[2] {
                Bind::TextArray(names) => assert_eq!(names.len(), 300),
                other => panic!("names not bound as an array: {other:?}"),
            }

            let one = build(Dialect::Sqlite, &keys(1));
            let many = build(Dialect::Sqlite, &keys(300));
            assert_eq!(one.text(), many.text());
            assert!(
                many.text()
                    .contains("json_each(?) AS k CROSS JOIN resources r"),
                "{}",
                many.text()
            );
            match &many.binds()[0] {
                Bind::Text(json) => {
                    let triples: Vec<[String; 3]> = serde_json::from_str(json).expect("json");
                    assert_eq!(triples.len(), 300);
                    assert_eq!(triples[7], ["c1", "ns", "pod-7"]);
                }
                other => panic!("keys not bound as one JSON text: {other:?}"),
            }

            let one = build(Dialect::MySql, &keys(1));
            let many = build(Dialect::MySql, &keys(3));
            assert_ne!(one.text(), many.text());
            assert_eq!(many.text().matches(" OR ").count(), 2, "{}", many.text());
        }
    }
}
