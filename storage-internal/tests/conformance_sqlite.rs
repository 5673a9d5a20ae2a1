//! The conformance suite (`storage-conformance`) against the `internal` layer on SQLite (a new database file per check).
//!
//! Run one theme with `cargo test -p storage-internal --test conformance_sqlite conformance::paging`.

mod support;

use std::sync::Arc;

use storage_api::StorageFactory;

/// A fresh, empty layer per check; its change log keeps 1000 changes, so that the `expired`
/// watch check finds the window within its bound.
async fn new_factory() -> Arc<dyn StorageFactory> {
    Arc::new(support::sqlite_with(|config| config.watch.max_count = Some(1000)).await)
}

storage_conformance::conformance_tests!(new_factory);
