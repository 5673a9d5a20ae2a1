//! [`ResourceStorage`] and [`CollectionResourceStorage`] over the shared store.

use std::sync::Arc;

use async_trait::async_trait;
use storage_api::collection::{CollectionResource, CollectionResourceType};
use storage_api::{
    Change, CollectionPage, CollectionResourceStorage, Gvr, ListOptions, ListPage, ObjectEvent,
    ObjectKey, ResourceObject, ResourceStorage, ResourceStorageConfig, Result, StorageError,
    WatchStream,
};

use crate::query;
use crate::store::{KeyRef, PreparedObject, PutMode, Shared};
use crate::watch;

/// The storage of one resource: a view of the factory's store.
#[derive(Debug)]
pub struct MemoryResourceStorage {
    shared: Arc<Shared>,
    /// The interned resource.
    gvr: Arc<Gvr>,
    config: ResourceStorageConfig,
}

impl MemoryResourceStorage {
    pub(crate) fn new(shared: Arc<Shared>, gvr: Arc<Gvr>, config: ResourceStorageConfig) -> Self {
        Self {
            shared,
            gvr,
            config,
        }
    }

    fn put(&self, object: ResourceObject, mode: PutMode) -> Result<()> {
        let prepared = PreparedObject::new(&self.gvr, object)?;
        self.shared.write().put(&self.gvr, prepared, mode)
    }
}

#[async_trait]
impl ResourceStorage for MemoryResourceStorage {
    fn config(&self) -> &ResourceStorageConfig {
        &self.config
    }

    async fn get(&self, cluster: &str, namespace: &str, name: &str) -> Result<ResourceObject> {
        let key = KeyRef {
            cluster,
            namespace,
            name,
        };
        let store = self.shared.read();
        store
            .table(&self.gvr)
            .and_then(|table| table.get(key))
            .map(|slot| (*slot.object).clone())
            .ok_or_else(|| {
                StorageError::not_found(format!("{} {}", self.gvr.resource, key.to_key()))
            })
    }

    async fn list(&self, options: &ListOptions) -> Result<ListPage> {
        query::list_resource(&self.shared, &self.gvr, options)?.pinned_to_first_page(options)
    }

    async fn watch(&self, options: &ListOptions) -> Result<WatchStream> {
        watch::watch(&self.shared, self.gvr.clone(), options)
    }

    async fn create(&self, object: ResourceObject) -> Result<()> {
        self.put(object, PutMode::Create)
    }

    async fn update(&self, object: ResourceObject) -> Result<()> {
        self.put(object, PutMode::Update)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.shared.write().delete(&self.gvr, KeyRef::from_key(key))
    }

    /// Applies the batch under one write lock, in order. The JSON of every upsert is examined
    /// before the lock is taken; an object that cannot be stored fails the call before any
    /// change of the batch is applied.
    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        enum Prepared {
            Upsert(PreparedObject),
            Delete(ObjectKey),
        }
        let prepared = changes
            .into_iter()
            .map(|change| match change {
                Change::Upsert(object) => {
                    PreparedObject::new(&self.gvr, object).map(Prepared::Upsert)
                }
                Change::Delete(key) => Ok(Prepared::Delete(key)),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut store = self.shared.write();
        for change in prepared {
            match change {
                Prepared::Upsert(object) => store.put(&self.gvr, object, PutMode::Upsert)?,
                Prepared::Delete(key) => store.delete(&self.gvr, KeyRef::from_key(&key))?,
            }
        }
        Ok(())
    }

    async fn record_events(&self, events: Vec<ObjectEvent>) -> Result<()> {
        let count = events.len();
        let attached = self.shared.write().record_events(&self.gvr, events)?;
        if attached < count {
            tracing::debug!(
                resource = %self.gvr,
                dropped = count - attached,
                "events of objects not stored were dropped"
            );
        }
        Ok(())
    }
}

/// The storage of one collection resource.
#[derive(Debug)]
pub struct MemoryCollectionStorage {
    shared: Arc<Shared>,
    collection: CollectionResource,
}

impl MemoryCollectionStorage {
    pub(crate) fn new(shared: Arc<Shared>, collection: CollectionResource) -> Self {
        Self { shared, collection }
    }
}

#[async_trait]
impl CollectionResourceStorage for MemoryCollectionStorage {
    fn collection(&self) -> &CollectionResource {
        &self.collection
    }

    async fn list(
        &self,
        types: &[CollectionResourceType],
        options: &ListOptions,
    ) -> Result<CollectionPage> {
        query::list_collection(&self.shared, types, options)
    }
}
