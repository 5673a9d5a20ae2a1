//! A storage factory that forwards every call to an inner layer, with a [`Probe`] on the way.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::collection::CollectionResource;
use crate::error::Result;
use crate::object::{Gvr, ObjectEvent, ObjectKey, ResourceObject};
use crate::query::ListOptions;
use crate::storage::{
    Change, ClusterResourceVersions, CollectionResourceStorage, ListPage, ResourceStorage,
    ResourceStorageConfig, StorageFactory, StoredResourceType, Verb, WatchStream,
};

/// A write to a resource storage, as a [`Probe`] sees it before it is forwarded.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Write<'a> {
    /// [`ResourceStorage::create`].
    Create(&'a ResourceObject),
    /// [`ResourceStorage::update`].
    Update(&'a ResourceObject),
    /// [`ResourceStorage::delete`].
    Delete(&'a ObjectKey),
    /// [`ResourceStorage::apply`].
    Apply(&'a [Change]),
    /// [`ResourceStorage::record_events`].
    RecordEvents(&'a [ObjectEvent]),
}

/// What a [`Probe`] runs once the inner layer has accepted a write.
pub type AfterWrite = Box<dyn FnOnce() + Send>;

/// What a [`Forwarding`] factory does on the way to its inner layer. Every method has a default
/// that does nothing, so a probe implements only what it needs.
#[async_trait]
pub trait Probe: Send + Sync + 'static {
    /// Called before a write of the storage of `config` reaches the inner layer. An `Err` is
    /// answered instead of writing (fault injection); `Ok(Some(after))` runs `after` once the
    /// inner layer accepted the write (counting, latency), and not when it failed.
    fn before_write(
        &self,
        config: &ResourceStorageConfig,
        write: Write<'_>,
    ) -> Result<Option<AfterWrite>> {
        let _ = (config, write);
        Ok(None)
    }

    /// Called after the inner layer shut down successfully (e.g. drop a scratch database).
    async fn after_shutdown(&self) {}

    /// Called before [`StorageFactory::check_ready`] reaches the inner layer. An `Err` is
    /// answered instead (fault injection: a database that stopped answering).
    fn before_check_ready(&self) -> Result<()> {
        Ok(())
    }
}

/// No probe: plain forwarding.
impl Probe for () {}

/// A [`StorageFactory`] that forwards every call to `inner`, passing the writes of its resource
/// storages through `probe` (see [`Probe`]). Watches, reads and collections are forwarded
/// unchanged.
pub struct Forwarding<F: ?Sized = dyn StorageFactory, P = ()> {
    inner: Arc<F>,
    probe: Arc<P>,
}

impl<F: ?Sized, P> std::fmt::Debug for Forwarding<F, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding").finish_non_exhaustive()
    }
}

impl<F: StorageFactory + ?Sized> Forwarding<F> {
    /// Forwards to `inner`, with no probe.
    pub fn new(inner: Arc<F>) -> Self {
        Self::with_probe(inner, ())
    }
}

impl<F: StorageFactory + ?Sized, P: Probe> Forwarding<F, P> {
    /// Forwards to `inner`, passing writes and shutdown through `probe`.
    pub fn with_probe(inner: Arc<F>, probe: P) -> Self {
        Self {
            inner,
            probe: Arc::new(probe),
        }
    }

    /// The layer calls are forwarded to.
    pub fn inner(&self) -> &Arc<F> {
        &self.inner
    }

    /// The probe.
    pub fn probe(&self) -> &P {
        &self.probe
    }
}

#[async_trait]
impl<F: StorageFactory + ?Sized, P: Probe> StorageFactory for Forwarding<F, P> {
    fn supported_verbs(&self) -> &'static [Verb] {
        self.inner.supported_verbs()
    }

    fn supports_full_text(&self) -> bool {
        self.inner.supports_full_text()
    }

    async fn prepare_cluster(&self, cluster: &str) -> Result<()> {
        self.inner.prepare_cluster(cluster).await
    }

    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> Result<HashMap<Gvr, ClusterResourceVersions>> {
        self.inner.resource_versions(cluster).await
    }

    async fn stored_resource_types(&self) -> Result<Vec<StoredResourceType>> {
        self.inner.stored_resource_types().await
    }

    fn collection_resources(&self) -> Vec<CollectionResource> {
        self.inner.collection_resources()
    }

    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> Result<Arc<dyn ResourceStorage>> {
        let inner = self.inner.new_resource_storage(config).await?;
        Ok(Arc::new(ForwardingStorage {
            inner,
            probe: self.probe.clone(),
        }))
    }

    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>> {
        self.inner.new_collection_resource_storage(collection).await
    }

    async fn clean_cluster(&self, cluster: &str) -> Result<()> {
        self.inner.clean_cluster(cluster).await
    }

    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> Result<()> {
        self.inner.clean_cluster_resource(cluster, gvr).await
    }

    async fn check_ready(&self) -> Result<()> {
        self.probe.before_check_ready()?;
        self.inner.check_ready().await
    }

    async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await?;
        self.probe.after_shutdown().await;
        Ok(())
    }
}

/// The resource storage of a [`Forwarding`] factory: forwards to the inner layer's, passing
/// writes through the probe.
pub struct ForwardingStorage<P = ()> {
    inner: Arc<dyn ResourceStorage>,
    probe: Arc<P>,
}

impl<P> std::fmt::Debug for ForwardingStorage<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardingStorage")
            .field("config", self.inner.config())
            .finish_non_exhaustive()
    }
}

impl<P: Probe> ForwardingStorage<P> {
    fn before(&self, write: Write<'_>) -> Result<Option<AfterWrite>> {
        self.probe.before_write(self.inner.config(), write)
    }
}

#[async_trait]
impl<P: Probe> ResourceStorage for ForwardingStorage<P> {
    fn config(&self) -> &ResourceStorageConfig {
        self.inner.config()
    }

    async fn get(&self, cluster: &str, namespace: &str, name: &str) -> Result<ResourceObject> {
        self.inner.get(cluster, namespace, name).await
    }

    async fn list(&self, options: &ListOptions) -> Result<ListPage> {
        self.inner.list(options).await
    }

    async fn watch(&self, options: &ListOptions) -> Result<WatchStream> {
        self.inner.watch(options).await
    }

    async fn create(&self, object: ResourceObject) -> Result<()> {
        let after = self.before(Write::Create(&object))?;
        self.inner.create(object).await?;
        run(after);
        Ok(())
    }

    async fn update(&self, object: ResourceObject) -> Result<()> {
        let after = self.before(Write::Update(&object))?;
        self.inner.update(object).await?;
        run(after);
        Ok(())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        let after = self.before(Write::Delete(key))?;
        self.inner.delete(key).await?;
        run(after);
        Ok(())
    }

    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        let after = self.before(Write::Apply(&changes))?;
        self.inner.apply(changes).await?;
        run(after);
        Ok(())
    }

    async fn record_events(&self, events: Vec<ObjectEvent>) -> Result<()> {
        let after = self.before(Write::RecordEvents(&events))?;
        self.inner.record_events(events).await?;
        run(after);
        Ok(())
    }
}

/// Runs what the probe asked for after a write the inner layer accepted.
fn run(after: Option<AfterWrite>) {
    if let Some(after) = after {
        after();
    }
}
