//! The conformance suite (`storage-conformance`) against the `internal` layer on MySQL/MariaDB (a new database per check; `INTERNAL_TEST_MYSQL_URL`).
//!
//! Run one theme with `cargo test -p storage-internal --test conformance_mysql conformance::paging`.

mod support;

use std::sync::Arc;

use storage_api::StorageFactory;

/// A fresh, empty layer per check; its change log keeps 1000 changes, so that the `expired`
/// watch check finds the window within its bound.
async fn new_factory() -> Arc<dyn StorageFactory> {
    Arc::new(support::mysql_with(|config| config.watch.max_count = Some(1000)).await)
}

storage_conformance::conformance_tests!(new_factory);
