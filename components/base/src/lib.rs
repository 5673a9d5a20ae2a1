//! What every clusterpedia component shares: the storage selection flags
//! (`--storage-name`, `--storage-config`), the `storage-layers` listing, and logging flags.

mod logging;
mod storage;

pub use logging::LogOptions;
pub use storage::{StorageOptions, storage_layers_table, storage_plugins_notice};
