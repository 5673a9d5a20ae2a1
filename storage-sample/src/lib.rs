//! The storage layer `sample-storage-layer`: the simplest complete layer, and the template to
//! start your own from (`cargo xtask new-storage-layer <name>` copies it; see
//! `docs/storage-layer-guide.md`).
//!
//! It keeps every object in one relational table (MySQL/MariaDB, PostgreSQL or SQLite, through
//! sqlx) and answers every query feature of clusterpedia with very little code: the database
//! narrows a list to the rows of the resource, clusters and namespaces asked for, and
//! storage-api's reference evaluator does the rest. It passes the whole storage-api conformance
//! suite (`tests/conformance.rs`). Watch is not supported.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `config` | the `--storage-config` YAML file ([`SampleConfig`]) |
//! | `database` | the connection pool, statements and their bound values |
//! | `schema` | the one table, and the SQL that differs between databases |
//! | `rows` | objects to rows and back |
//! | `storage` | the traits' read and write paths: pushdown, then the evaluator |
//! | `factory` | [`SampleStorageFactory`], what the registry builds |
//! | `error` | database errors, classified for the synchro (retry or not) |
//!
//! # Using it
//!
//! ```text
//! cargo build --features sample-storage
//! ./target/debug/apiserver --storage-name=sample-storage-layer --storage-config storage-sample/example-config.yaml
//! ```

mod config;
mod database;
mod error;
mod factory;
mod rows;
mod schema;
mod storage;

pub use config::{DEFAULT_SLOW_THRESHOLD, DatabaseType, LogConfig, PASSWORD_ENV, SampleConfig};
pub use factory::SampleStorageFactory;

/// The name `--storage-name` selects this layer by.
pub const LAYER_NAME: &str = "sample-storage-layer";

// The one line that makes the layer exist: the binaries find it in the registry by its name.
// (They must also link this crate: see the root `src/lib.rs` and the `sample-storage` feature.)
storage_api::register_storage_layer! {
    name: LAYER_NAME,
    description: "One relational table (MySQL/MariaDB, PostgreSQL or SQLite) queried through the reference evaluator",
    new_factory: factory::new_factory,
}
