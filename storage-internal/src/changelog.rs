//! The change log: one row per create, update or delete of an object, written in the
//! transaction of the write, so that nothing is announced that was not stored and nothing
//! stored goes unannounced. Its `revision` is the layer's resource version: global to the
//! database, so every apiserver replica over it serves the same versions.
//!
//! # Commit order is revision order
//!
//! A sequence or auto-increment id is allocated before commit: a reader polling `id > last`
//! could see revision 12 committed before revision 11 and skip 11 for ever. Here every write
//! transaction first locks the one row of `resource_change_state` (`UPDATE … SET revision =
//! revision`: a row lock held until commit on PostgreSQL and InnoDB; SQLite has one writer at
//! a time anyway) and takes its revisions from that row. Writers are therefore serialized on
//! the change log, and a transaction's revisions are all above those of every transaction that
//! committed before it: a reader that sees revision N has seen every revision below N.
//!
//! # Retention
//!
//! [`Retention`]: at most `max_count` changes and none older than `max_age` are kept. Pruning
//! happens in write transactions (by count as soon as 10% more than `max_count` are held; by
//! age at most every `max_age / 10`, between 1 s and 1 min); `pruned` records the highest
//! pruned revision, and a watch from a version below it is `410 Expired`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use storage_api::{Gvr, ResourceObject, Result, StorageError};

use crate::db::{Col, Db, Reader, Tx};
use crate::dialect::Dialect;
use crate::sql::{Bind, Sql};

/// The PostgreSQL channel writers notify and watchers listen on.
pub(crate) const NOTIFY_CHANNEL: &str = "clusterpedia_changes";

/// Rows per multi-row insert of change rows.
const ROWS_PER_STATEMENT: usize = 500;

/// How long changes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    /// Changes kept at most.
    pub(crate) max_count: u64,
    /// The oldest a kept change may be.
    pub(crate) max_age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_count: 100_000,
            max_age: Duration::from_secs(3600),
        }
    }
}

/// What an entry of the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// The object was created.
    Added,
    /// The object was replaced.
    Modified,
    /// The object was deleted (the row holds its last state).
    Deleted,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "ADDED" => Ok(Self::Added),
            "MODIFIED" => Ok(Self::Modified),
            "DELETED" => Ok(Self::Deleted),
            other => Err(StorageError::Internal {
                message: format!("change log: unknown operation {other:?}"),
                source: None,
            }),
        }
    }
}

/// One entry of the log, read back.
#[derive(Debug, Clone)]
pub(crate) struct ChangeRecord {
    /// Its revision (the layer's resource version).
    pub(crate) revision: i64,
    /// What happened.
    pub(crate) op: Op,
    /// The new state (the last state for a deletion), as the member sent it.
    pub(crate) object: ResourceObject,
    /// The state before a modification (stored as `''` when there is none).
    pub(crate) previous: Option<ResourceObject>,
}

/// The state row: the last revision written and the highest pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogState {
    /// The last revision written.
    pub(crate) revision: i64,
    /// Changes up to this revision are gone.
    pub(crate) pruned: i64,
}

/// When the layer last pruned by age (shared by the storages of one factory).
#[derive(Debug, Default)]
pub(crate) struct PruneClock(AtomicI64);

/// The change log settings of a factory.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChangeLog {
    pub(crate) retention: Retention,
    pub(crate) clock: Arc<PruneClock>,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn state_cols() -> [Col; 2] {
    [Col::Int, Col::Int]
}

/// The state in the first two columns of the first of `rows` (a state read, or a
/// [`push_with_state`] query).
pub(crate) fn state_of(rows: &[crate::db::Row]) -> Result<LogState> {
    let row = rows.first().ok_or_else(|| StorageError::Internal {
        message: "change log: the state row is missing".into(),
        source: None,
    })?;
    Ok(LogState {
        revision: row.int(0),
        pruned: row.int(1),
    })
}

/// The state of the log, read on its own.
pub(crate) async fn state(db: &Db) -> Result<LogState> {
    let mut sql = db.sql();
    sql.push("SELECT revision, pruned FROM resource_change_state WHERE id = 1");
    state_of(&db.fetch("change log state", &sql, &state_cols()).await?)
}

/// The state of the log, read in a list's snapshot.
pub(crate) async fn state_on(reader: &mut Reader<'_, '_>, dialect: Dialect) -> Result<LogState> {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT revision, pruned FROM resource_change_state WHERE id = 1");
    state_of(
        &reader
            .fetch("change log state", &sql, &state_cols())
            .await?,
    )
}

/// An entry to write: revision, operation, cluster, object, previous state.
type Entry = (i64, Op, Arc<str>, String, Option<String>);

/// The entries being appended by one write transaction (which holds the log's lock).
#[derive(Debug)]
pub(crate) struct Appender {
    /// The state when the lock was taken.
    start: LogState,
    rows: Vec<Entry>,
    /// Revisions taken by statements that wrote their entries themselves (cleanups).
    extra: i64,
}

/// The statement that locks the log until the transaction ends (see the module docs): the
/// first of every write transaction ([`Db::begin_then`](crate::db::Db::begin_then) sends it with
/// `BEGIN` on PostgreSQL), before any read.
pub(crate) const LOCK: &str = "UPDATE resource_change_state SET revision = revision WHERE id = 1";

/// `query`'s rows, each after the log's state in two leading columns (`revision`, `pruned`):
/// one row with the state and `NULL`s when `query` finds nothing. Read after [`LOCK`], the
/// state is the one every revision of the transaction follows.
pub(crate) fn push_with_state(sql: &mut Sql, query: &Sql) {
    sql.push("SELECT s.revision, s.pruned, f.* FROM resource_change_state s LEFT JOIN (")
        .append(query)
        .push(") f ON 1 = 1 WHERE s.id = 1");
}

/// Locks the log for the transaction `tx` (until it ends) and returns an appender.
pub(crate) async fn lock(tx: &mut Tx<'_>) -> Result<Appender> {
    let mut sql = tx.sql();
    sql.push(LOCK);
    let rows = if sql.dialect() == Dialect::MySql {
        // MariaDB has no `UPDATE … RETURNING`: the row is read under the lock just taken.
        tx.execute("lock change log", &sql).await?;
        let mut sql = tx.sql();
        sql.push("SELECT revision, pruned FROM resource_change_state WHERE id = 1 FOR UPDATE");
        tx.fetch("lock change log", &sql, &state_cols()).await?
    } else {
        sql.push(" RETURNING revision, pruned");
        tx.fetch("lock change log", &sql, &state_cols()).await?
    };
    Ok(Appender::new(state_of(&rows)?))
}

impl Appender {
    /// An appender for a transaction that holds the log's lock, taken at `start`.
    pub(crate) fn new(start: LogState) -> Self {
        Self {
            start,
            rows: Vec::new(),
            extra: 0,
        }
    }

    /// The revision the next entry gets.
    fn next(&self) -> i64 {
        self.start.revision + self.extra + self.rows.len() as i64 + 1
    }

    /// Records a change of an object of `cluster`; returns its revision.
    pub(crate) fn push(
        &mut self,
        op: Op,
        cluster: Arc<str>,
        object: String,
        previous: Option<String>,
    ) -> i64 {
        let revision = self.next();
        self.rows.push((revision, op, cluster, object, previous));
        revision
    }

    /// Records a deletion of every row of `resources` matching `condition` (a ` WHERE …`
    /// clause on alias `r`, e.g. a whole cluster), by one `INSERT … SELECT`.
    pub(crate) async fn push_deletions_where(
        &mut self,
        tx: &mut Tx<'_>,
        condition: &(dyn Fn(&mut Sql) + Sync),
    ) -> Result<()> {
        let mut sql = tx.sql();
        let object = if sql.dialect() == Dialect::Postgres {
            "r.object::text"
        } else {
            "r.object"
        };
        sql.push(
            "INSERT INTO resource_changes (revision, changed_at, op, api_group, api_version, \
             resource, cluster, object, previous) SELECT ",
        )
        .bind(self.next() - 1)
        .push(" + ROW_NUMBER() OVER (ORDER BY r.id), ")
        .bind(now_millis())
        .push(", 'DELETED', r.api_group, r.api_version, r.resource, r.cluster, ")
        .push(object)
        .push(", NULL FROM resources r");
        condition(&mut sql);
        let written = tx.execute("record deletions", &sql).await?;
        self.extra += i64::try_from(written).unwrap_or(i64::MAX);
        Ok(())
    }

    /// Writes the entries (of resource `gvr`), prunes what retention allows, advances the
    /// state and (PostgreSQL) notifies the listeners at commit, after `last` (the
    /// transaction's last write of objects, named for the trace), if any. On PostgreSQL, when
    /// the entries fit one statement and pruning keeps clear of them, `last`, the entries,
    /// the pruning and the advance are one statement (data-modifying `WITH`: one snapshot,
    /// every part run once): two round trips fewer while the log is locked.
    pub(crate) async fn finish(
        self,
        tx: &mut Tx<'_>,
        gvr: Option<&Gvr>,
        log: &ChangeLog,
        last: Option<(&str, Sql)>,
    ) -> Result<()> {
        let Self { start, rows, extra } = self;
        let written = extra + rows.len() as i64;
        if written == 0 {
            if let Some((what, sql)) = &last {
                tx.execute(what, sql).await?;
            }
            return Ok(());
        }
        let revision = start.revision + written;
        let target = prune_target(tx, log, revision, start.pruned).await?;
        let changed_at = now_millis();
        let records = |tx: &Tx<'_>, gvr: &Gvr| -> Vec<Sql> {
            rows.chunks(ROWS_PER_STATEMENT)
                .map(|chunk| {
                    let mut sql = tx.sql();
                    push_record(&mut sql, gvr, changed_at, chunk);
                    sql
                })
                .collect()
        };
        let mut prune = tx.sql();
        if target > start.pruned {
            prune
                .push("DELETE FROM resource_changes WHERE revision <= ")
                .bind(target);
        }
        let mut advance = tx.sql();
        push_advance(&mut advance, revision, target.max(start.pruned));
        let merged = match (&last, gvr) {
            (Some((what, last)), Some(gvr))
                if tx.sql().dialect() == Dialect::Postgres
                    && rows.len() <= ROWS_PER_STATEMENT
                    && target <= start.revision =>
            {
                let mut sql = tx.sql();
                sql.push("WITH ");
                for record in records(tx, gvr) {
                    sql.push("recorded AS (").append(&record).push("), ");
                }
                if !prune.text().is_empty() {
                    sql.push("pruned AS (").append(&prune).push("), ");
                }
                sql.push("advanced AS (")
                    .append(&advance)
                    .push(") ")
                    .append(last);
                Some((*what, sql))
            }
            _ => None,
        };
        if let Some((what, sql)) = merged {
            return tx.execute(what, &sql).await.map(drop);
        }
        if let Some((what, sql)) = &last {
            tx.execute(what, sql).await?;
        }
        if let Some(gvr) = gvr {
            for record in records(tx, gvr) {
                tx.execute("record changes", &record).await?;
            }
        }
        if !prune.text().is_empty() {
            tx.execute("prune change log", &prune).await?;
        }
        if tx.sql().dialect() == Dialect::Postgres {
            tx.fetch("advance change log", &advance, &[]).await?;
        } else {
            tx.execute("advance change log", &advance).await?;
        }
        Ok(())
    }
}

/// The insert of `entries` (of resource `gvr`) into the log.
fn push_record(sql: &mut Sql, gvr: &Gvr, changed_at: i64, entries: &[Entry]) {
    sql.push(
        "INSERT INTO resource_changes (revision, changed_at, op, api_group, api_version, \
         resource, cluster, object, previous) ",
    );
    if sql.dialect().binds_arrays() {
        // One statement text for any number of rows (see `Dialect::binds_arrays`).
        let text = |f: fn(&Entry) -> String| Bind::TextArray(entries.iter().map(f).collect());
        sql.push("SELECT u.revision, ")
            .bind(changed_at)
            .push(", u.op, ")
            .bind_resource(gvr)
            .push(", u.cluster, u.object, u.previous FROM UNNEST(")
            .bind(Bind::IntArray(entries.iter().map(|e| e.0).collect()))
            .push("::bigint[], ")
            .bind(text(|e| e.1.as_str().to_owned()))
            .push("::text[], ")
            .bind(text(|e| e.2.to_string()))
            .push("::text[], ")
            .bind(text(|e| e.3.clone()))
            .push("::text[], ")
            .bind(text(|e| e.4.clone().unwrap_or_default()))
            .push("::text[]) AS u(revision, op, cluster, object, previous)");
    } else {
        sql.push("VALUES ");
        sql.join(
            entries,
            ", ",
            |sql, (revision, op, cluster, object, previous)| {
                sql.push("(")
                    .bind(*revision)
                    .push(", ")
                    .bind(changed_at)
                    .push(", ")
                    .bind(op.as_str())
                    .push(", ")
                    .bind_resource(gvr)
                    .push(", ")
                    .bind(&**cluster)
                    .push(", ")
                    .bind(object.as_str())
                    .push(", ")
                    .bind(previous.clone().unwrap_or_default())
                    .push(")");
            },
        );
    }
}

/// The update of the log's state to `revision` and `pruned`; on PostgreSQL it also notifies
/// the listeners (at commit) of the new revision.
fn push_advance(sql: &mut Sql, revision: i64, pruned: i64) {
    sql.push("UPDATE resource_change_state SET revision = ")
        .bind(revision)
        .push(", pruned = ")
        .bind(pruned)
        .push(" WHERE id = 1");
    if sql.dialect() == Dialect::Postgres {
        sql.push(" RETURNING pg_notify(")
            .bind(NOTIFY_CHANNEL)
            .push(", ")
            .bind(revision.to_string())
            .push(")");
    }
}

/// The highest revision retention lets go of, once the log is at `revision` (at least
/// `pruned`, the highest already gone).
async fn prune_target(tx: &mut Tx<'_>, log: &ChangeLog, revision: i64, pruned: i64) -> Result<i64> {
    let max_count = i64::try_from(log.retention.max_count).unwrap_or(i64::MAX);
    let mut target = pruned;
    if revision - pruned > max_count.saturating_add((max_count / 10).max(1)) {
        target = revision - max_count;
    }
    let now = now_millis();
    let max_age = i64::try_from(log.retention.max_age.as_millis()).unwrap_or(i64::MAX);
    let every = (max_age / 10).clamp(1_000, 60_000);
    let last = log.clock.0.load(Ordering::Relaxed);
    if now - last >= every {
        log.clock.0.store(now, Ordering::Relaxed);
        let mut sql = tx.sql();
        sql.push("SELECT COALESCE(MAX(revision), 0) FROM resource_changes WHERE changed_at < ")
            .bind(now.saturating_sub(max_age));
        let rows = tx.fetch("prune change log", &sql, &[Col::Int]).await?;
        target = target.max(rows.first().map_or(0, |r| r.int(0)));
    }
    Ok(target.max(pruned))
}

/// The entries after `after` (of resource `gvr`, or of all), at most `limit`, in order.
pub(crate) async fn read_after(
    db: &Db,
    after: i64,
    gvr: Option<&Gvr>,
    limit: i64,
) -> Result<Vec<ChangeRecord>> {
    let mut sql = db.sql();
    sql.push(
        "SELECT revision, op, api_group, api_version, resource, cluster, object, previous \
         FROM resource_changes WHERE ",
    );
    if let Some(gvr) = gvr {
        sql.push_resource_is(gvr, "").push(" AND ");
    }
    sql.push("revision > ")
        .bind(after)
        .push(" ORDER BY revision LIMIT ")
        .bind(limit);
    let rows = db
        .fetch(
            "read change log",
            &sql,
            &[
                Col::Int,
                Col::Text,
                Col::Text,
                Col::Text,
                Col::Text,
                Col::Text,
                Col::Text,
                Col::OptText,
            ],
        )
        .await?;
    let mut gvrs: Vec<Arc<Gvr>> = Vec::new();
    let mut clusters: Vec<Arc<str>> = Vec::new();
    rows.into_iter()
        .map(|mut row| {
            let gvr = Gvr::new(row.text(2), row.text(3), row.text(4));
            let gvr = match gvrs.iter().find(|g| ***g == gvr) {
                Some(known) => known.clone(),
                None => {
                    let new = Arc::new(gvr);
                    gvrs.push(new.clone());
                    new
                }
            };
            let cluster = match clusters.iter().find(|c| ***c == *row.text(5)) {
                Some(known) => known.clone(),
                None => {
                    let new: Arc<str> = Arc::from(row.text(5));
                    clusters.push(new.clone());
                    new
                }
            };
            let parse = |text: String| {
                ResourceObject::parse(cluster.clone(), gvr.clone(), Bytes::from(text))
            };
            let previous = row
                .opt_text(7)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .map(parse)
                .transpose()?;
            Ok(ChangeRecord {
                revision: row.int(0),
                op: Op::parse(row.text(1))?,
                object: parse(row.take_text(6))?,
                previous,
            })
        })
        .collect()
}
