//! The conformance suite (`storage-conformance`) against the `internal` layer on MySQL/MariaDB (a new database per check; `INTERNAL_TEST_MYSQL_URL`).
//!
//! Run one theme with `cargo test -p storage-internal --test conformance_mysql conformance::paging`.

mod support;

use std::sync::Arc;

use storage_api::StorageFactory;

/// A fresh, empty layer per check.
async fn new_factory() -> Arc<dyn StorageFactory> {
    Arc::new(support::mysql().await)
}

storage_conformance::conformance_tests!(new_factory);
