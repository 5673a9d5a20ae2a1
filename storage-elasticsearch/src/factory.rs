//! [`ElasticsearchStorageFactory`]: the entry point of the layer, and the constructor the
//! registry calls ([`new_factory`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use elasticsearch::http::Method;
use serde_json::json;
use storage_api::collection::CollectionResource;
use storage_api::registry::FactoryFuture;
use storage_api::{
    ClusterResourceVersions, CollectionResourceStorage, Gvr, ObjectEvent, ResourceStorage,
    ResourceStorageConfig, Result, StorageFactory, StoredResourceType, Verb,
};

use crate::LAYER_NAME;
use crate::client::Flavour;
use crate::config::ElasticsearchConfig;
use crate::dsl;
use crate::mapping;
use crate::storage::{ElasticsearchCollectionStorage, ElasticsearchResourceStorage};
use crate::store::Store;

/// The verbs of every resource: no watch (405, the trait's default).
const VERBS: &[Verb] = &[Verb::Get, Verb::List];

/// The layer: a connection to Elasticsearch or OpenSearch, and the names of its indices.
///
/// Every storage it makes shares the connection. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct ElasticsearchStorageFactory {
    store: Store,
}

impl ElasticsearchStorageFactory {
    /// Connects to the server of `config`, checks what it is (`GET /`: Elasticsearch 8/9 or
    /// OpenSearch 2/3, else a one-line error naming it) and puts the index template.
    pub async fn connect(config: &ElasticsearchConfig) -> Result<Self> {
        Ok(Self {
            store: Store::connect(config).await?,
        })
    }

    /// The server's flavour and major version.
    pub fn flavour(&self) -> &Flavour {
        &self.store.client.flavour
    }

    /// Deletes every index and the index template of this layer's prefix: everything the layer
    /// stored (for tests, and to uninstall).
    pub async fn destroy(&self) -> Result<()> {
        self.store.destroy().await
    }
}

/// The registry's constructor: without `--storage-config`, the defaults and the environment
/// (`ES_ADDRESSES`, `ES_USER`, `ES_PASSWORD`), as the original plugin.
pub(crate) fn new_factory(config: Option<PathBuf>) -> FactoryFuture {
    Box::pin(async move {
        let config = match config {
            Some(path) => ElasticsearchConfig::from_file(&path)?,
            None => ElasticsearchConfig::from_env()?,
        };
        let factory = ElasticsearchStorageFactory::connect(&config).await?;
        tracing::info!(
            server = %factory.flavour(),
            addresses = ?config.effective_addresses(),
            index_prefix = %config.index_prefix,
            "{LAYER_NAME} ready"
        );
        Ok(Arc::new(factory) as Arc<dyn StorageFactory>)
    })
}

#[async_trait]
impl StorageFactory for ElasticsearchStorageFactory {
    fn supported_verbs(&self) -> &'static [Verb] {
        VERBS
    }

    fn supports_full_text(&self) -> bool {
        true
    }

    /// Walks the cluster's documents (every index) for their resource versions and those of
    /// their events.
    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> Result<HashMap<Gvr, ClusterResourceVersions>> {
        let query = json!({"bool": {"filter": [{"term": {"cluster": cluster}}]}});
        let hits = self
            .store
            .walk(
                &self.store.names.all(),
                &query,
                &["resource_version", "events"],
            )
            .await?;
        let cluster: Arc<str> = Arc::from(cluster);
        let mut versions: HashMap<Gvr, ClusterResourceVersions> = HashMap::new();
        for hit in &hits {
            let gvr = Gvr {
                group: hit.text("group"),
                version: hit.text("version"),
                resource: hit.text("resource"),
            };
            let entry = versions.entry(gvr).or_default();
            entry.resources.insert(
                storage_api::object::namespaced_name(&hit.text("namespace"), &hit.text("name")),
                hit.text("resource_version"),
            );
            for (_, raw) in hit.events() {
                let event = ObjectEvent::parse(cluster.clone(), bytes::Bytes::from(raw))?;
                entry.events.insert(event.key, event.resource_version);
            }
        }
        Ok(versions)
    }

    /// One terms aggregation over `stored_type`.
    async fn stored_resource_types(&self) -> Result<Vec<StoredResourceType>> {
        let body = json!({
            "size": 0,
            "track_total_hits": false,
            "aggs": {"types": {"terms": {"field": "stored_type", "size": 65_000}}},
        });
        let answer = self.store.search(&self.store.names.all(), &body).await?;
        let mut types: Vec<StoredResourceType> = answer["aggregations"]["types"]["buckets"]
            .as_array()
            .map(|buckets| {
                buckets
                    .iter()
                    .filter_map(|b| b["key"].as_str().and_then(mapping::parse_stored_type))
                    .collect()
            })
            .unwrap_or_default();
        types.sort();
        Ok(types)
    }

    /// Creates the resource's index (with its aliases) if it is absent.
    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> Result<Arc<dyn ResourceStorage>> {
        self.store.ensure_index(&config.gvr).await?;
        Ok(Arc::new(ElasticsearchResourceStorage::new(
            self.store.clone(),
            config,
        )))
    }

    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>> {
        Ok(Arc::new(ElasticsearchCollectionStorage::new(
            self.store.clone(),
            collection.clone(),
        )))
    }

    /// `_delete_by_query` over every index.
    async fn clean_cluster(&self, cluster: &str) -> Result<()> {
        self.store
            .delete_everywhere(json!({"bool": {"filter": [{"term": {"cluster": cluster}}]}}))
            .await
    }

    /// `_delete_by_query` on the resource's index.
    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> Result<()> {
        let mut filter = dsl::resource_filter(gvr);
        filter.push(json!({"term": {"cluster": cluster}}));
        self.store
            .delete_by_query(
                &self.store.names.index(gvr),
                json!({"bool": {"filter": filter}}),
            )
            .await
    }

    /// Ready when the server answers `GET /`.
    async fn check_ready(&self) -> Result<()> {
        self.store.client.ok(Method::Get, "/", &[], None).await?;
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}
