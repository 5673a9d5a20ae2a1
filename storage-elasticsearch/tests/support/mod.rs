//! Fresh layers on the ES-API emulators: every check gets an index prefix of its own
//! (`cpt-<random>`), whose indices and template are deleted when the check passes (a failing
//! check leaves them for inspection).
//!
//! The emulators are found through environment variables; a check whose variable is unset or
//! whose emulator does not answer FAILS (it is never skipped). `.ci/run` installs and starts
//! both and exports the variables.
//!
//! | emulator | variable | what it speaks |
//! |---|---|---|
//! | osmem-server (PyPI) | `ES_TEST_OSMEM_URL` | the OpenSearch 3 API, in memory, every write visible at once |
//! | noida-db (PyPI) | `ES_TEST_NOIDA_URL` | the Elasticsearch 8.15 API, near-real-time refresh |

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use async_trait::async_trait;
use storage_api::StorageFactory;
use storage_api::testing::{Forwarding, Probe};
use storage_elasticsearch::{ElasticsearchConfig, ElasticsearchStorageFactory};

/// The variable with osmem-server's URL.
pub const OSMEM_URL: &str = "ES_TEST_OSMEM_URL";
/// The variable with noida-db's URL.
pub const NOIDA_URL: &str = "ES_TEST_NOIDA_URL";

/// The URL in `variable`; panics naming it when unset.
pub fn emulator_url(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: start the emulator (see .ci/run) and export its URL, \
             e.g. {variable}=http://127.0.0.1:9200"
        )
    })
}

/// A configuration for the emulator at `$variable`, with a prefix no other check uses.
pub fn config(variable: &str) -> ElasticsearchConfig {
    ElasticsearchConfig {
        addresses: vec![emulator_url(variable)],
        index_prefix: format!("cpt-{:016x}", fastrand::u64(..)),
        bulk_size: 100,
        ..ElasticsearchConfig::default()
    }
}

/// A connected layer on the emulator at `$variable` (panics when it cannot connect).
pub async fn connect(variable: &str) -> ElasticsearchStorageFactory {
    let config = config(variable);
    ElasticsearchStorageFactory::connect(&config)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot start the layer on {:?} ({variable}): {e}",
                config.addresses
            )
        })
}

/// A fresh layer whose indices are deleted after it shuts down.
pub async fn fresh(variable: &str) -> Arc<dyn StorageFactory> {
    let layer = connect(variable).await;
    Arc::new(Forwarding::with_probe(
        Arc::new(layer.clone()),
        Scratch(layer),
    ))
}

/// Deletes the layer's indices after shutdown.
struct Scratch(ElasticsearchStorageFactory);

#[async_trait]
impl Probe for Scratch {
    async fn after_shutdown(&self) {
        self.0
            .destroy()
            .await
            .unwrap_or_else(|e| panic!("cannot delete the check's indices: {e}"));
    }
}
