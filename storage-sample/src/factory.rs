//! [`SampleStorageFactory`]: the entry point of the layer, and the constructor the registry
//! calls ([`new_factory`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use storage_api::collection::CollectionResource;
use storage_api::registry::FactoryFuture;
use storage_api::{
    ClusterResourceVersions, CollectionResourceStorage, Gvr, ResourceStorage,
    ResourceStorageConfig, Result, StorageError, StorageFactory, StoredResourceType, Verb,
};

use crate::LAYER_NAME;
use crate::config::SampleConfig;
use crate::database::{Database, Filter};
use crate::error::classify;
use crate::rows::{SELECT_ROWS, StoredRow, decode_resource_type, resource_filter};
use crate::schema;
use crate::storage::{SampleCollectionStorage, SampleResourceStorage};

/// The verbs of every resource: no watch (see [`crate::storage`]).
const VERBS: &[Verb] = &[Verb::Get, Verb::List];

/// The layer: a pool of connections to the database holding the table `sample_resources`.
///
/// Every storage it makes shares the pool. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct SampleStorageFactory {
    database: Database,
}

impl SampleStorageFactory {
    /// Connects to the database of `config` and creates the table if it is absent.
    pub async fn connect(config: &SampleConfig) -> Result<Self> {
        let database = Database::connect(config).await?;
        schema::create_table(&database).await?;
        Ok(Self { database })
    }
}

/// The registry's constructor: `--storage-config` is required (there is no sensible default
/// database to write into).
pub(crate) fn new_factory(config: Option<PathBuf>) -> FactoryFuture {
    Box::pin(async move {
        let path = config.ok_or_else(|| {
            StorageError::config(format!(
                "{LAYER_NAME} needs --storage-config FILE (see its example-config.yaml)"
            ))
        })?;
        let config = SampleConfig::from_file(&path)?;
        let factory = SampleStorageFactory::connect(&config).await?;
        tracing::info!(
            database_type = ?config.database_type,
            database = %config.database,
            "{LAYER_NAME} ready"
        );
        Ok(Arc::new(factory) as Arc<dyn StorageFactory>)
    })
}

#[async_trait]
impl StorageFactory for SampleStorageFactory {
    fn supported_verbs(&self) -> &'static [Verb] {
        VERBS
    }

    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> Result<HashMap<Gvr, ClusterResourceVersions>> {
        let rows = self
            .database
            .filtered(SELECT_ROWS, Filter::new().equals("cluster", cluster))
            .fetch_all(self.database.pool())
            .await
            .map_err(|e| classify("select the objects of the cluster", e))?;
        let mut versions: HashMap<Gvr, ClusterResourceVersions> = HashMap::new();
        for row in &rows {
            let row = StoredRow::decode(row)?;
            let fields = &row.object.fields;
            let entry = versions.entry(row.resource_type.gvr).or_default();
            // The member cluster's version, as received: what the synchro compares.
            entry.resources.insert(
                fields.key().namespaced_name(),
                fields.resource_version.clone(),
            );
            for event in row.events.parsed(&fields.cluster)? {
                entry.events.insert(event.key, event.resource_version);
            }
        }
        Ok(versions)
    }

    async fn stored_resource_types(&self) -> Result<Vec<StoredResourceType>> {
        self.database
            .statement(
                "SELECT DISTINCT api_group, version, resource, cluster, kind, namespaced \
                 FROM sample_resources",
            )
            .fetch_all(self.database.pool())
            .await
            .map_err(|e| classify("select the stored resource types", e))?
            .iter()
            .map(decode_resource_type)
            .collect()
    }

    /// Every resource lives in the one table: a storage is just the pool and the configuration.
    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> Result<Arc<dyn ResourceStorage>> {
        Ok(Arc::new(SampleResourceStorage::new(
            self.database.clone(),
            config,
        )))
    }

    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>> {
        Ok(Arc::new(SampleCollectionStorage::new(
            self.database.clone(),
            collection.clone(),
        )))
    }

    async fn clean_cluster(&self, cluster: &str) -> Result<()> {
        self.database
            .filtered(
                "DELETE FROM sample_resources",
                Filter::new().equals("cluster", cluster),
            )
            .execute(self.database.pool())
            .await
            .map_err(|e| classify("clean cluster", e))?;
        Ok(())
    }

    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> Result<()> {
        let filter = resource_filter(gvr).equals("cluster", cluster);
        self.database
            .filtered("DELETE FROM sample_resources", filter)
            .execute(self.database.pool())
            .await
            .map_err(|e| classify("clean cluster resource", e))?;
        Ok(())
    }

    /// Ready when the database answers.
    async fn check_ready(&self) -> Result<()> {
        self.database
            .statement("SELECT 1")
            .execute(self.database.pool())
            .await
            .map_err(|e| classify("check the database", e))?;
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        self.database.close().await;
        Ok(())
    }
}
