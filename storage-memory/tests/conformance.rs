//! The conformance suite (`storage-conformance`) against the memory layer, with its default configuration.
//!
//! Run one theme with `cargo test -p storage-memory --test conformance conformance::watch`.

use std::sync::Arc;

use storage_api::StorageFactory;
use storage_memory::MemoryStorageFactory;

/// A fresh, empty memory layer per check.
async fn new_factory() -> Arc<dyn StorageFactory> {
    Arc::new(MemoryStorageFactory::default())
}

storage_conformance::conformance_tests!(new_factory);
