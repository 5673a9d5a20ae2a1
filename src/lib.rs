//! The clusterpedia binaries: `apiserver`, `clustersynchro-manager` and `binding-apiserver`,
//! linked with the storage layers chosen by cargo features.
//!
//! | feature | layer (`--storage-name`) |
//! |---|---|
//! | `internal-storage` (default) | `internal` |
//! | `memory-storage` (default) | `memory` |
//! | `sample-storage` | `sample-storage-layer` |
//! | `elasticsearch-storage` | `elasticsearch` |

// rustc links only the crates a binary names: name each feature-selected layer once so that its
// registration reaches the registry. `tests/storage_layers.rs` checks that this works.
#[cfg(feature = "elasticsearch-storage")]
extern crate storage_elasticsearch as _;
#[cfg(feature = "internal-storage")]
extern crate storage_internal as _;
#[cfg(feature = "memory-storage")]
extern crate storage_memory as _;
#[cfg(feature = "sample-storage")]
extern crate storage_sample as _;

mod cli;

pub use cli::{apiserver_main, binding_apiserver_main, clustersynchro_manager_main};
