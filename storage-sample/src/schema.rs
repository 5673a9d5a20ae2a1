//! The layer's one table, `sample_resources`, created when the layer starts if it is absent.
//!
//! One row per stored object. The primary key is the object's identity (resource, cluster,
//! namespace, name), in the order the queries narrow it: every list names its resource first,
//! then often clusters and namespaces, so the key doubles as the index of the pushdown
//! ([`crate::storage`]).
//!
//! | column | what |
//! |---|---|
//! | `api_group`, `version`, `resource` | the stored group/version/resource (`group` is an SQL keyword) |
//! | `cluster`, `namespace`, `name` | the object's key (`namespace` is empty when cluster-scoped) |
//! | `kind`, `namespaced` | the resource's kind and scope, from its storage configuration (for `stored_resource_types`) |
//! | `uid` | `metadata.uid`, to find the object an event is about |
//! | `object` | the object's JSON, exactly as received: served without re-serializing |
//! | `events` | the object's events: a JSON object, event uid → event JSON |
//!
//! Everything else the queries need (labels, owner, creation time, any field) is read from
//! `object` by the reference evaluator. A layer that wants to filter in the database adds
//! columns (and indexes) for what it pushes down: see the `internal` layer.
//!
//! The column sizes follow Kubernetes' limits on names (DNS labels: 63; subdomains: 253) and
//! keep the primary key within MySQL's 3072-byte index limit in `utf8mb4`.

use storage_api::Result;

use crate::config::DatabaseType;
use crate::database::Database;
use crate::error::classify;
use crate::rows::INSERT_ROW;

/// Creates the table if it does not exist.
pub(crate) async fn create_table(database: &Database) -> Result<()> {
    database
        .statement(&create_table_sql(database.kind()))
        .execute(database.pool())
        .await
        .map_err(|e| classify("cannot create the table sample_resources", e))?;
    Ok(())
}

/// The `CREATE TABLE` statement for `kind`. Two things differ:
///
/// - MySQL's `TEXT` holds at most 64 KiB: objects need `LONGTEXT`;
/// - MySQL compares text case-insensitively by default, and `Pod` is not `pod`: the table uses
///   the binary collation, so that keys and filters compare exactly, as PostgreSQL and SQLite do.
fn create_table_sql(kind: DatabaseType) -> String {
    let (json_text, table_options) = match kind {
        DatabaseType::Mysql => ("LONGTEXT", " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"),
        DatabaseType::Postgres | DatabaseType::Sqlite => ("TEXT", ""),
    };
    // `namespaced` is a BIGINT (0 or 1): the one integer type every database of the `Any`
    // driver reads back alike.
    format!(
        "CREATE TABLE IF NOT EXISTS sample_resources (
            api_group  VARCHAR(63)  NOT NULL,
            version    VARCHAR(63)  NOT NULL,
            resource   VARCHAR(63)  NOT NULL,
            cluster    VARCHAR(253) NOT NULL,
            namespace  VARCHAR(63)  NOT NULL,
            name       VARCHAR(253) NOT NULL,
            kind       VARCHAR(253) NOT NULL,
            namespaced BIGINT       NOT NULL,
            uid        VARCHAR(253) NOT NULL,
            object     {json_text}  NOT NULL,
            events     {json_text}  NOT NULL,
            PRIMARY KEY (api_group, version, resource, cluster, namespace, name)
        ){table_options}"
    )
}

/// The statement `apply` writes each upserted object with: [`crate::rows::INSERT_ROW`], or,
/// when the key is taken, an update of the object's columns. `events` is not touched: an object
/// keeps its events across updates.
pub(crate) fn upsert_sql(kind: DatabaseType) -> String {
    let on_conflict = match kind {
        DatabaseType::Mysql => {
            " ON DUPLICATE KEY UPDATE kind = VALUES(kind), namespaced = VALUES(namespaced), \
             uid = VALUES(uid), object = VALUES(object)"
        }
        DatabaseType::Postgres | DatabaseType::Sqlite => {
            " ON CONFLICT (api_group, version, resource, cluster, namespace, name) DO UPDATE SET \
             kind = excluded.kind, namespaced = excluded.namespaced, uid = excluded.uid, \
             object = excluded.object"
        }
    };
    format!("{INSERT_ROW}{on_conflict}")
}

/// What ends a `SELECT` that reads a row in order to rewrite it in the same transaction: a row
/// lock, so that a concurrent writer waits instead of overwriting. SQLite has no row locks and
/// needs none: a transaction that read a row another one has changed since cannot write
/// (`SQLITE_BUSY`, which is recoverable: the synchro retries).
pub(crate) fn lock_rows(kind: DatabaseType) -> &'static str {
    match kind {
        DatabaseType::Mysql | DatabaseType::Postgres => " FOR UPDATE",
        DatabaseType::Sqlite => "",
    }
}
