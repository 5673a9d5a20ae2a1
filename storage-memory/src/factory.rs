//! [`MemoryStorageFactory`]: the entry point of the layer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use storage_api::collection::CollectionResource;
use storage_api::registry::FactoryFuture;
use storage_api::{
    ClusterResourceVersions, CollectionResourceStorage, Gvr, ResourceStorage,
    ResourceStorageConfig, Result, StorageFactory, StoredResourceType, Verb,
};

use crate::config::MemoryConfig;
use crate::resource::{MemoryCollectionStorage, MemoryResourceStorage};
use crate::store::Shared;

/// The verbs of every resource of the memory layer.
const VERBS: &[Verb] = &[Verb::Get, Verb::List, Verb::Watch];

/// The memory layer: one in-process store shared by every storage it makes.
///
/// Cloning is cheap and clones share the store.
#[derive(Debug, Clone)]
pub struct MemoryStorageFactory {
    shared: Arc<Shared>,
}

impl Default for MemoryStorageFactory {
    fn default() -> Self {
        Self::new(MemoryConfig::default())
    }
}

impl MemoryStorageFactory {
    /// An empty store configured by `config`.
    pub fn new(config: MemoryConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(config)),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MemoryConfig {
        &self.shared.config
    }

    /// The resource version of the last write (what a list served now carries).
    pub fn current_resource_version(&self) -> String {
        self.shared.read().revision().to_string()
    }

    /// How many objects are stored, across resources and clusters.
    pub fn object_count(&self) -> usize {
        self.shared.read().tables().map(|table| table.len()).sum()
    }
}

/// The registry's constructor: defaults without a file, else [`MemoryConfig::from_file`].
pub(crate) fn new_factory(config: Option<PathBuf>) -> FactoryFuture {
    Box::pin(async move {
        let config = match config {
            Some(path) => MemoryConfig::from_file(&path)?,
            None => MemoryConfig::default(),
        };
        tracing::info!(
            watch_history = config.watch_history,
            watch_buffer = config.watch_buffer,
            bookmark_interval = ?config.bookmark_interval,
            "memory storage ready"
        );
        Ok(Arc::new(MemoryStorageFactory::new(config)) as Arc<dyn StorageFactory>)
    })
}

#[async_trait]
impl StorageFactory for MemoryStorageFactory {
    fn supports_full_text(&self) -> bool {
        // The reference evaluator answers it.
        true
    }

    fn supported_verbs(&self) -> &'static [Verb] {
        VERBS
    }

    async fn prepare_cluster(&self, cluster: &str) -> Result<()> {
        self.shared.write().prepare_cluster(cluster);
        Ok(())
    }

    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> Result<HashMap<Gvr, ClusterResourceVersions>> {
        Ok(self.shared.read().resource_versions(cluster))
    }

    async fn stored_resource_types(&self) -> Result<Vec<StoredResourceType>> {
        Ok(self.shared.read().stored_resource_types())
    }

    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> Result<Arc<dyn ResourceStorage>> {
        let gvr = self.shared.write().register(&config);
        Ok(Arc::new(MemoryResourceStorage::new(
            self.shared.clone(),
            gvr,
            config,
        )))
    }

    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>> {
        Ok(Arc::new(MemoryCollectionStorage::new(
            self.shared.clone(),
            collection.clone(),
        )))
    }

    async fn clean_cluster(&self, cluster: &str) -> Result<()> {
        self.shared.write().clean_cluster(cluster);
        Ok(())
    }

    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> Result<()> {
        self.shared.write().clean_cluster_resource(cluster, gvr);
        Ok(())
    }

    async fn check_ready(&self) -> Result<()> {
        Ok(())
    }

    /// Ends every watch; the store stays readable and writable.
    async fn shutdown(&self) -> Result<()> {
        self.shared.write().close_watches();
        Ok(())
    }
}
