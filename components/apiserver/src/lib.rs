//! The clusterpedia apiserver: serves the stored resources of every member cluster through a
//! kubectl-compatible API under `/apis/clusterpedia.io/v1beta1`.
//!
//! The server itself is the subject of its own issue; this crate holds its flags and entry point.

use std::sync::Arc;

use storage_api::StorageFactory;

/// The apiserver's own flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiserverOptions {
    /// The address to serve HTTPS on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,

    /// The port to serve HTTPS on.
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    pub secure_port: u16,
}

/// Runs the apiserver on `storage` until shutdown.
pub async fn run(
    options: ApiserverOptions,
    storage: Arc<dyn StorageFactory>,
) -> anyhow::Result<()> {
    let _ = (options, storage);
    anyhow::bail!(
        "the apiserver is not implemented yet: the storage layer was built and is ready, but nothing serves it"
    )
}
