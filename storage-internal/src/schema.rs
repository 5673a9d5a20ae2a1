//! The schema: versioned migrations per dialect (`migrations/<dialect>/NNNN_*.sql`, embedded),
//! applied at start-up by sqlx's migrator (which takes a database lock, so that components
//! starting together migrate once), and PostgreSQL's optional trigram index and lz4
//! compression.
//!
//! A new schema version is a new file (never an edit of an applied one: the migrator checks
//! their checksums) added to [`migrations`].

use std::borrow::Cow;

use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use storage_api::{Result, StorageError};

use crate::db::{Col, Db, Pool};
use crate::dialect::Dialect;
use crate::sql::Sql;

/// The table that records applied migrations (its own name, so that a database shared with
/// other sqlx applications keeps their histories apart).
const MIGRATIONS_TABLE: &str = "clusterpedia_schema_migrations";

/// The migrations of `dialect`, in order.
fn migrations(dialect: Dialect) -> Vec<Migration> {
    let files: &[(i64, &str, &'static str)] = match dialect {
        Dialect::Postgres => &[
            (
                1,
                "resources",
                include_str!("../migrations/postgres/0001_resources.sql"),
            ),
            (
                14,
                "change log",
                include_str!("../migrations/postgres/0014_change_log.sql"),
            ),
            (
                20,
                "full text",
                include_str!("../migrations/postgres/0020_full_text.sql"),
            ),
            (
                21,
                "gin fastupdate off",
                include_str!("../migrations/postgres/0021_gin_fastupdate.sql"),
            ),
            (
                22,
                "hot updates",
                include_str!("../migrations/postgres/0022_hot_updates.sql"),
            ),
            (
                23,
                "pending words by resource",
                include_str!("../migrations/postgres/0023_pending_words_by_resource.sql"),
            ),
        ],
        Dialect::MySql => &[
            (
                1,
                "resources",
                include_str!("../migrations/mysql/0001_resources.sql"),
            ),
            (
                14,
                "change log",
                include_str!("../migrations/mysql/0014_change_log.sql"),
            ),
        ],
        Dialect::Sqlite => &[
            (
                1,
                "resources",
                include_str!("../migrations/sqlite/0001_resources.sql"),
            ),
            (
                14,
                "change log",
                include_str!("../migrations/sqlite/0014_change_log.sql"),
            ),
        ],
    };
    files
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect()
}

/// Brings the schema up to date.
pub(crate) async fn migrate(db: &Db) -> Result<()> {
    let mut migrator = Migrator::with_migrations(migrations(db.dialect()));
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    let result = match db.pool() {
        Pool::Postgres(pool) => migrator.run(pool).await,
        Pool::MySql(pool) => migrator.run(pool).await,
        Pool::Sqlite(pool) => migrator.run(pool).await,
    };
    result.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(source) => db.error("schema migration", source),
        other => StorageError::internal(format!("{} schema migration", db.dialect().name()), other),
    })?;
    match db.dialect() {
        Dialect::Postgres => {
            trigram_index(db).await;
            lz4_compression(db).await;
            let filled = crate::full_text::catch_up_all(db).await?;
            if filled > 0 {
                tracing::info!(
                    rows = filled,
                    "full-text search: filled in the words of stored objects"
                );
            }
        }
        Dialect::Sqlite => sqlite_label_index(db).await?,
        Dialect::MySql => {}
    }
    Ok(())
}

/// SQLite: the label index, `resource_labels` (one row per label of each object, kept by
/// triggers), so that `key=value`, `key in (…)` and `key` selectors look labels up instead of
/// extracting them from every row's JSON (SQLite has no index on JSON members of dynamic
/// keys). Created, with its triggers, and filled from the stored objects if missing, in one
/// transaction (idempotent: components starting together create it once).
async fn sqlite_label_index(db: &Db) -> Result<()> {
    const STATEMENTS: [&str; 6] = [
        "CREATE TABLE IF NOT EXISTS resource_labels (\
         key TEXT NOT NULL, value TEXT NOT NULL, resource_id INTEGER NOT NULL, \
         PRIMARY KEY (key, value, resource_id)) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS resource_labels_resource ON resource_labels (resource_id)",
        "CREATE TRIGGER IF NOT EXISTS resources_labels_insert AFTER INSERT ON resources BEGIN \
         INSERT OR IGNORE INTO resource_labels (key, value, resource_id) \
         SELECT key, value, new.id FROM json_each(new.labels); END",
        "CREATE TRIGGER IF NOT EXISTS resources_labels_update AFTER UPDATE OF labels ON resources \
         WHEN old.labels IS NOT new.labels BEGIN \
         DELETE FROM resource_labels WHERE resource_id = old.id; \
         INSERT OR IGNORE INTO resource_labels (key, value, resource_id) \
         SELECT key, value, new.id FROM json_each(new.labels); END",
        "CREATE TRIGGER IF NOT EXISTS resources_labels_delete AFTER DELETE ON resources BEGIN \
         DELETE FROM resource_labels WHERE resource_id = old.id; END",
        // Objects stored before the index existed (a no-op once it is filled).
        "INSERT OR IGNORE INTO resource_labels (key, value, resource_id) \
         SELECT j.key, j.value, r.id FROM resources r, json_each(r.labels) j \
         WHERE NOT EXISTS (SELECT 1 FROM resource_labels)",
    ];
    let what = "create the SQLite label index";
    let mut tx = db.begin(what).await?;
    for statement in STATEMENTS {
        let mut sql = db.sql();
        sql.push(statement);
        tx.execute(what, &sql).await?;
    }
    tx.commit(what).await
}

/// Whether a `SELECT COUNT(*) …` counts at least one row (false when it fails: the optional
/// PostgreSQL steps below then leave things as they are).
async fn counts_any(db: &Db, what: &str, sql: &Sql) -> bool {
    db.fetch(what, sql, &[Col::Int])
        .await
        .is_ok_and(|rows| rows.first().is_some_and(|r| r.int(0) > 0))
}

/// The JSON columns PostgreSQL compresses with lz4 when it can ([`lz4_compression`]).
const LZ4_COLUMNS: [(&str, &str, &str); 3] = [
    (
        "resources",
        "object",
        "ALTER TABLE resources ALTER COLUMN object SET COMPRESSION lz4",
    ),
    (
        "resource_changes",
        "object",
        "ALTER TABLE resource_changes ALTER COLUMN object SET COMPRESSION lz4",
    ),
    (
        "resource_changes",
        "previous",
        "ALTER TABLE resource_changes ALTER COLUMN previous SET COMPRESSION lz4",
    ),
];

/// PostgreSQL: compresses the stored JSON with lz4 instead of pglz (`ALTER TABLE … SET
/// COMPRESSION lz4`, PostgreSQL 14 and later built with lz4, as Debian's and the official
/// images are). Reading back the 501 TOASTed objects of a list page took 6.8–7.3 ms with pglz
/// and 5.6–5.9 ms with lz4 (docs/storage-internal.md), for about 20% more bytes. Values written before keep their compression until rewritten.
/// Optional, like the trigram index: without lz4 the layer works as before, and says so.
async fn lz4_compression(db: &Db) {
    for (table, column, alter) in LZ4_COLUMNS {
        let mut sql = db.sql();
        sql.push("SELECT COUNT(*) FROM pg_attribute WHERE attrelid = to_regclass(")
            .bind(table)
            .push(") AND attname = ")
            .bind(column)
            .push(" AND attcompression <> 'l'");
        if !counts_any(db, "check compression", &sql).await {
            continue;
        }
        let what = "set lz4 compression";
        let altered = async {
            let mut tx = db.begin(what).await?;
            // A catalog change, but it waits for every query on the table: never for long.
            let mut sql = db.sql();
            sql.push("SET LOCAL lock_timeout = '5s'");
            tx.execute(what, &sql).await?;
            let mut sql = db.sql();
            sql.push(alter);
            tx.execute(what, &sql).await?;
            tx.commit(what).await
        }
        .await;
        if let Err(error) = altered {
            tracing::warn!(%error, table, column, "stored JSON stays compressed with pglz (slower to read): cannot switch to lz4");
            return;
        }
    }
}

/// PostgreSQL: a `pg_trgm` GIN index on names, so that fuzzy-name searches (`LIKE '%x%'`) use
/// an index. Optional: without the permission to create the extension (or with it installed
/// in a schema outside the search path) the layer works without it, and says so.
async fn trigram_index(db: &Db) {
    let exists = |name: &'static str| async move {
        let mut sql = db.sql();
        sql.push(
            "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ",
        )
        .bind(name);
        counts_any(db, "check index", &sql).await
    };
    if exists("resources_name_trgm").await {
        // Indexes made before version 21 have a pending list (see that migration).
        let mut sql = db.sql();
        sql.push(
            "SELECT COUNT(*) FROM pg_class WHERE oid = to_regclass('resources_name_trgm') \
             AND NOT ('fastupdate=off' = ANY(COALESCE(reloptions, '{}')))",
        );
        if counts_any(db, "check index", &sql).await {
            let mut sql = db.sql();
            sql.push("ALTER INDEX resources_name_trgm SET (fastupdate = off)");
            if let Err(error) = db.execute("alter index resources_name_trgm", &sql).await {
                tracing::warn!(%error, "cannot turn fastupdate off on the pg_trgm index");
            }
        }
        return;
    }
    let mut sql = db.sql();
    sql.push("CREATE EXTENSION IF NOT EXISTS pg_trgm");
    if let Err(error) = db.execute("create extension pg_trgm", &sql).await {
        tracing::warn!(%error, "fuzzy-name searches will scan: cannot create the extension pg_trgm");
        return;
    }
    let mut sql = db.sql();
    sql.push(
        "CREATE INDEX IF NOT EXISTS resources_name_trgm ON resources USING gin (name gin_trgm_ops) \
         WITH (fastupdate = off)",
    );
    if let Err(error) = db.execute("create index resources_name_trgm", &sql).await
        && !exists("resources_name_trgm").await
    {
        tracing::warn!(%error, "fuzzy-name searches will scan: cannot create the pg_trgm index");
    }
}
