//! The conformance suite (`storage-conformance`) against the `internal` layer on PostgreSQL (a new schema per check; `INTERNAL_TEST_POSTGRES_URL`).
//!
//! Run one theme with `cargo test -p storage-internal --test conformance_postgres conformance::paging`.

mod support;

use std::sync::Arc;

use storage_api::StorageFactory;

/// A fresh, empty layer per check.
async fn new_factory() -> Arc<dyn StorageFactory> {
    Arc::new(support::postgres().await)
}

storage_conformance::conformance_tests!(new_factory);
