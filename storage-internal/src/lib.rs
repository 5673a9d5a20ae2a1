//! The storage layer `internal` (the default `--storage-name`): Kubernetes objects in a
//! relational database, PostgreSQL, MySQL/MariaDB or SQLite, through sqlx.
//!
//! # Overview
//!
//! One table, `resources`, holds one row per object: the object's JSON exactly as received
//! (returned byte for byte, never re-serialized), and real, indexed columns for everything a
//! list filters or sorts on: cluster, group/version/resource, namespace, name, uid, controller
//! owner uid, creation time (epoch milliseconds), the member resource version as a number, and
//! the labels (a `jsonb` column with a GIN index on PostgreSQL; JSON text elsewhere). Recorded
//! events live in the row of their object.
//!
//! - **Reads**: every [`storage_api::ListOptions`] feature becomes SQL with bound values only
//!   (see the `query` and `dialect` modules): scope, label and enhanced field selectors, fuzzy
//!   names (a pg_trgm index on PostgreSQL), creation-time ranges, owners at any seniority,
//!   every order, keyset continue tokens (page N costs what page 1 costs), the remaining count,
//!   only-metadata, inject-events, collection resources. The object JSON is read only for the
//!   rows of the page.
//! - **Writes**: an `apply` batch is one transaction of multi-row upserts and deletes; `create`
//!   / `update` / `delete` / `record_events` keep the original's semantics. Connection loss and
//!   timeouts are [`storage_api::StorageError::Unavailable`] (the synchro retries), a unique
//!   violation is `AlreadyExists`.
//! - **Watch**: every write transaction also appends to a change log whose revision is the
//!   layer's resource version, global to the database (see the `changelog` and `watch`
//!   modules, and docs/storage-internal.md): resume without gap or duplicate, `410` beyond the
//!   retention, PostgreSQL `LISTEN`/`NOTIFY`, polling on MySQL and SQLite.
//! - **Schema**: versioned migrations per dialect, applied at start-up.
//!
//! # Configuration
//!
//! `--storage-config FILE`: the YAML of the original internalstorage ([`InternalConfig`]),
//! with the `DB_*` environment overrides. Without a file (and without `DB_TYPE`), an embedded
//! SQLite database file ([`config::default_sqlite_path`], logged at start-up) is used, so the
//! components run with no database server.
//!
//! ```yaml
//! type: postgres
//! host: 127.0.0.1
//! port: 5432
//! user: postgres
//! database: clusterpedia
//! ```
//!
//! # Using it directly
//!
//! ```no_run
//! use storage_internal::{InternalConfig, InternalStorageFactory};
//!
//! # async fn run() -> storage_api::Result<()> {
//! let config = InternalConfig::from_yaml("type: sqlite\ndsn: /tmp/clusterpedia.db\n")?;
//! let factory = InternalStorageFactory::connect(config.connection()?).await?;
//! # let _ = factory; Ok(()) }
//! ```

mod changelog;
pub mod config;
mod db;
pub mod dialect;
mod error;
mod events;
mod factory;
mod full_text;
mod private;
mod query;
mod resource;
mod rows;
mod schema;
mod sql;
mod statistics;
mod watch;
mod write;

pub use config::{Connection, InternalConfig};
pub use dialect::Dialect;
pub use factory::InternalStorageFactory;
pub use resource::{InternalCollectionStorage, InternalResourceStorage};

/// The name `--storage-name` selects this layer by (the default).
pub const LAYER_NAME: &str = "internal";

storage_api::register_storage_layer! {
    name: LAYER_NAME,
    description: "Relational store: PostgreSQL, MySQL/MariaDB or SQLite (embedded default)",
    new_factory: factory::new_factory,
}
