//! Fresh, empty `internal` layers on the real databases, one per conformance check, dropped
//! when the check shuts its layer down.
//!
//! - PostgreSQL: a new schema `cp_test_<unix seconds>_<random>` in the database of
//!   `INTERNAL_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`), used
//!   through `search_path` (with `public`, where `pg_trgm` is installed once);
//! - MySQL/MariaDB: a new database `cp_test_<unix seconds>_<random>` on the server of
//!   `INTERNAL_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`);
//! - SQLite: a new file in a temporary directory.
//!
//! A check that fails leaves its schema or database behind; the next run drops those older
//! than an hour. An unreachable server fails the check (it is never skipped).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, Row as _};
use storage_api::testing::{Forwarding, Probe};
use storage_api::{Gvr, ResourceStorage, ResourceStorageConfig, StorageFactory};
use storage_internal::{InternalConfig, InternalStorageFactory};

/// The default PostgreSQL of the test machines.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The default MariaDB of the test machines.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The prefix of every schema or database the tests create.
const PREFIX: &str = "cp_test_";
/// Leftovers older than this are dropped.
const STALE_SECONDS: u64 = 3600;

pub fn postgres_url() -> String {
    std::env::var("INTERNAL_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

pub fn mysql_url() -> String {
    std::env::var("INTERNAL_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.into())
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new unique name: `cp_test_<unix seconds>_<random>`.
pub fn fresh_name() -> String {
    format!("{PREFIX}{}_{:016x}", unix_seconds(), fastrand::u64(..))
}

/// Whether a `cp_test_<seconds>_…` name is older than [`STALE_SECONDS`].
fn is_stale(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|created| created + STALE_SECONDS < unix_seconds())
}

/// The scratch schema, database or file of a layer: dropped when the layer shuts down.
#[derive(Debug, Clone)]
pub enum Scratch {
    PostgresSchema { url: String, schema: String },
    MySqlDatabase { url: String, database: String },
    SqliteDir(PathBuf),
}

impl Scratch {
    async fn drop_it(&self) {
        match self {
            Self::PostgresSchema { url, schema } => {
                let mut admin = sqlx::PgConnection::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
                admin
                    .execute(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .await
                    .unwrap_or_else(|e| panic!("drop schema {schema}: {e}"));
            }
            Self::MySqlDatabase { url, database } => {
                let mut admin = sqlx::MySqlConnection::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("MySQL at {url}: {e}"));
                admin
                    .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database}")))
                    .await
                    .unwrap_or_else(|e| panic!("drop database {database}: {e}"));
            }
            Self::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A layer on a scratch schema/database/file, dropped at shutdown (the probe's teardown).
pub type ScratchFactory = Forwarding<InternalStorageFactory, Scratch>;

#[async_trait]
impl Probe for Scratch {
    async fn after_shutdown(&self) {
        self.drop_it().await;
    }
}

impl Scratch {
    /// The scratch schema or database name (PostgreSQL: also the connections'
    /// `application_name`).
    pub fn name(&self) -> String {
        match self {
            Scratch::PostgresSchema { schema, .. } => schema.clone(),
            Scratch::MySqlDatabase { database, .. } => database.clone(),
            Scratch::SqliteDir(dir) => dir.display().to_string(),
        }
    }

    /// Refreshes the planner statistics (as autovacuum would; SQLite never does it alone).
    pub async fn analyze(&self) {
        match self {
            Scratch::PostgresSchema { url, schema } => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
                conn.execute(AssertSqlSafe(format!("VACUUM ANALYZE {schema}.resources")))
                    .await
                    .expect("vacuum analyze");
            }
            Scratch::MySqlDatabase { url, database } => {
                let mut conn = sqlx::MySqlConnection::connect(url).await.expect("mysql");
                conn.execute(AssertSqlSafe(format!("ANALYZE TABLE {database}.resources")))
                    .await
                    .expect("analyze table");
            }
            Scratch::SqliteDir(dir) => {
                let mut conn = sqlx::SqliteConnection::connect(&format!(
                    "sqlite://{}",
                    dir.join("internal.db").display()
                ))
                .await
                .expect("sqlite");
                conn.execute("ANALYZE").await.expect("analyze");
            }
        }
    }

    /// The bytes the `resources` table takes per object (`objects` rows), with a breakdown.
    pub async fn table_size(&self, objects: usize) -> String {
        self.analyze().await;
        let per = |bytes: i64| bytes as f64 / objects.max(1) as f64;
        match self {
            Scratch::PostgresSchema { url, schema } => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("postgres");
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT pg_total_relation_size(c.oid), pg_relation_size(c.oid), \
                     pg_indexes_size(c.oid), COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = '{schema}' AND c.relname = 'resources'"
                )))
                .fetch_one(&mut conn)
                .await
                .expect("sizes");
                let (total, heap, indexes, toast): (i64, i64, i64, i64) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                let stored: f64 = sqlx::query(AssertSqlSafe(format!(
                    "SELECT CAST(avg(pg_column_size(object)) AS float8) FROM {schema}.resources"
                )))
                .fetch_one(&mut conn)
                .await
                .expect("column size")
                .get(0);
                let per_index: Vec<String> = sqlx::query(AssertSqlSafe(format!(
                    "SELECT indexrelname::text, pg_relation_size(indexrelid) FROM pg_stat_user_indexes \
                     WHERE schemaname = '{schema}' AND relname = 'resources' ORDER BY 1"
                )))
                .fetch_all(&mut conn)
                .await
                .expect("index sizes")
                .iter()
                .map(|r| format!("{} {:.0}", r.get::<String, _>(0), per(r.get::<i64, _>(1))))
                .collect();
                format!(
                    "{:.0} (heap {:.0}, TOAST {:.0} [JSON compressed: {stored:.0}], indexes {:.0}: {})",
                    per(total),
                    per(heap),
                    per(toast),
                    per(indexes),
                    per_index.join(", ")
                )
            }
            Scratch::MySqlDatabase { url, database } => {
                let mut conn = sqlx::MySqlConnection::connect(url).await.expect("mysql");
                let row = sqlx::query(
                    "SELECT CAST(data_length AS SIGNED), CAST(index_length AS SIGNED) \
                     FROM information_schema.tables WHERE table_schema = ? AND table_name = 'resources'",
                )
                .bind(database)
                .fetch_one(&mut conn)
                .await
                .expect("sizes");
                let (data, indexes): (i64, i64) = (row.get(0), row.get(1));
                format!(
                    "{:.0} (data {:.0}, indexes {:.0}; InnoDB estimates)",
                    per(data + indexes),
                    per(data),
                    per(indexes)
                )
            }
            Scratch::SqliteDir(dir) => {
                let file = dir.join("internal.db");
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                        .await
                        .expect("sqlite");
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    .await
                    .expect("checkpoint");
                let bytes = std::fs::metadata(&file).map_or(0, |m| m.len() as i64);
                format!("{:.0} (database file)", per(bytes))
            }
        }
    }
}

/// A fresh layer on a new PostgreSQL schema.
pub async fn postgres() -> ScratchFactory {
    postgres_with(|_| {}).await
}

/// The server URL and scratch schema of a layer made by [`postgres`] (for a look at its
/// catalog with a connection of the test's own).
pub fn postgres_schema(factory: &ScratchFactory) -> (String, String) {
    match factory.probe() {
        Scratch::PostgresSchema { url, schema } => (url.clone(), schema.clone()),
        other => panic!("a PostgreSQL scratch schema, not {other:?}"),
    }
}

/// [`postgres`], with `tune` applied to the configuration first.
pub async fn postgres_with(tune: impl FnOnce(&mut InternalConfig)) -> ScratchFactory {
    let url = postgres_url();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url} (set INTERNAL_TEST_POSTGRES_URL) is unreachable: {e}")
    });
    let stale: Vec<String> =
        sqlx::query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cp\\_test\\_%'")
            .fetch_all(&mut admin)
            .await
            .expect("list schemas")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .filter(|name| is_stale(name))
            .collect();
    for schema in stale {
        let _ = admin
            .execute(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .await;
    }
    // Once per database, in public (a schema dropped later must not take it along); two
    // checks racing to create it is harmless.
    let _ = admin
        .execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        .await;
    let schema = fresh_name();
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap_or_else(|e| panic!("create schema {schema}: {e}"));
    let mut config = InternalConfig {
        db_type: Some("postgres".into()),
        dsn: Some(url.clone()),
        ..InternalConfig::default()
    };
    config.params = HashMap::from([
        ("search_path".to_owned(), format!("{schema},public")),
        // Names the layer's connections, so that a test can find (and kill) them.
        ("application_name".to_owned(), schema.clone()),
    ])
    .into_iter()
    .collect();
    config.conn_pool.max_open_conns = Some(4);
    config.conn_pool.max_idle_conns = Some(1);
    tune(&mut config);
    connect(config, Scratch::PostgresSchema { url, schema }).await
}

/// A fresh layer on a new MySQL/MariaDB database.
pub async fn mysql() -> ScratchFactory {
    mysql_with(|_| {}).await
}

/// [`mysql`], with `tune` applied to the configuration first.
pub async fn mysql_with(tune: impl FnOnce(&mut InternalConfig)) -> ScratchFactory {
    let url = mysql_url();
    let mut admin = sqlx::MySqlConnection::connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("MySQL/MariaDB at {url} (set INTERNAL_TEST_MYSQL_URL) is unreachable: {e}")
        });
    let stale: Vec<String> = sqlx::query("SHOW DATABASES LIKE 'cp\\_test\\_%'")
        .fetch_all(&mut admin)
        .await
        .expect("list databases")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .filter(|name| is_stale(name))
        .collect();
    for database in stale {
        let _ = admin
            .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database}")))
            .await;
    }
    let database = fresh_name();
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .await
        .unwrap_or_else(|e| panic!("create database {database}: {e}"));
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    let mut config = InternalConfig {
        db_type: Some("mysql".into()),
        dsn: Some(format!("{base}/{database}")),
        ..InternalConfig::default()
    };
    config.conn_pool.max_open_conns = Some(4);
    config.conn_pool.max_idle_conns = Some(1);
    tune(&mut config);
    connect(config, Scratch::MySqlDatabase { url, database }).await
}

/// A fresh layer on a new SQLite file.
pub async fn sqlite() -> ScratchFactory {
    sqlite_with(|_| {}).await
}

/// [`sqlite`], with `tune` applied to the configuration first.
pub async fn sqlite_with(tune: impl FnOnce(&mut InternalConfig)) -> ScratchFactory {
    let dir = std::env::temp_dir().join(fresh_name());
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let mut config = InternalConfig::sqlite(&dir.join("internal.db"));
    tune(&mut config);
    connect(config, Scratch::SqliteDir(dir)).await
}

async fn connect(config: InternalConfig, scratch: Scratch) -> ScratchFactory {
    let connection = config.connection().expect("a valid configuration");
    let inner = InternalStorageFactory::connect(connection)
        .await
        .unwrap_or_else(|e| panic!("the internal layer on {scratch:?}: {e}"));
    Forwarding::with_probe(Arc::new(inner), scratch)
}

/// The pods storage (`v1/pods`, namespaced) of `factory`.
pub async fn pods(factory: &dyn StorageFactory) -> Arc<dyn ResourceStorage> {
    factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("", "v1", "pods"),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await
        .expect("storage")
}
