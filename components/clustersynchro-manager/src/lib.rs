//! The clustersynchro-manager: list/watches the resources of every member cluster described by a
//! `PediaCluster` and writes them into a storage layer.
//!
//! The synchro itself is the subject of its own issue; this crate holds its flags and entry point.

use std::sync::Arc;

use storage_api::StorageFactory;

/// The manager's own flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SynchroOptions {
    /// How many resources are written to storage concurrently.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub worker_number: u32,
}

/// Runs the manager on `storage` until shutdown.
pub async fn run(options: SynchroOptions, storage: Arc<dyn StorageFactory>) -> anyhow::Result<()> {
    let _ = (options, storage);
    anyhow::bail!(
        "the clustersynchro-manager is not implemented yet: the storage layer was built and is ready, but nothing syncs into it"
    )
}
