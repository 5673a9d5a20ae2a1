//! The traits a storage layer implements, mirroring the original `StorageFactory`,
//! `ResourceStorage` and `CollectionResourceStorage` (reference §2), made async and batched.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::collection::{CollectionResource, CollectionResourceType};
use crate::error::{Result, StorageError};
use crate::object::{Gvr, ObjectEvent, ObjectKey, ResourceObject};
use crate::query::ListOptions;

/// A request verb a storage layer may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Verb {
    /// Read one object.
    Get,
    /// List objects.
    List,
    /// Stream changes.
    Watch,
}

impl Verb {
    /// The verb as Kubernetes discovery writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Watch => "watch",
        }
    }
}

/// What the synchro tells a layer about one kind of stored resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceStorageConfig {
    /// The group/version/resource objects are stored as.
    pub gvr: Gvr,
    /// The kind of the objects.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// One kind of resource a layer holds objects of, for one cluster (discovery is built from these).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredResourceType {
    /// The member cluster.
    pub cluster: String,
    /// The stored group/version/resource.
    pub gvr: Gvr,
    /// The kind of the objects.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// The resource versions a layer holds for one cluster and resource, so that a restarted synchro
/// does not rewrite unchanged objects and deletes those removed while it was down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterResourceVersions {
    /// `namespace/name` (or `name`) → member resource version of each stored object.
    pub resources: HashMap<String, String>,
    /// `namespace/name` of each recorded event → the event's resource version.
    pub events: HashMap<String, String>,
}

/// One change of a batch write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Store the object, replacing any object with the same cluster, namespace and name.
    Upsert(ResourceObject),
    /// Remove the object with this key, if stored.
    Delete(ObjectKey),
}

/// One page of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The items, in [`ListOptions::effective_order`].
    pub items: Vec<ResourceObject>,
    /// A token for the next page: set whenever more items remain, unless `with_continue` is off.
    pub continue_token: Option<String>,
    /// How many matching items come after this page, when `with_remaining_count` was asked.
    pub remaining_item_count: Option<u64>,
    /// The resource version of the list, for layers that keep one (watch-capable layers).
    pub resource_version: Option<String>,
}

/// One page of a collection resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionPage {
    /// The distinct resource types of the items, in order of first appearance.
    pub resource_types: Vec<StoredResourceType>,
    /// The page itself.
    pub page: ListPage,
}

/// One event of a watch stream, with Kubernetes semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// An object was created (or existed when the watch began).
    Added(ResourceObject),
    /// An object changed.
    Modified(ResourceObject),
    /// An object was deleted; carries its last stored state.
    Deleted(ResourceObject),
    /// Nothing to report up to this resource version (only when bookmarks were allowed).
    Bookmark {
        /// The resource version reached.
        resource_version: String,
    },
    /// The bookmark that ends the initial events of a `sendInitialEvents=true` watch (written
    /// with the annotation `k8s.io/initial-events-end: "true"`); the apiserver produces it.
    InitialEventsEnd {
        /// The resource version of the initial state.
        resource_version: String,
    },
}

/// A watch: an endless stream of events; an `Err` item (e.g. [`StorageError::Expired`]) ends it.
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// A configured storage layer: the entry point components hold (one per process).
#[async_trait]
pub trait StorageFactory: Send + Sync + 'static {
    /// The verbs every resource of this layer supports (advertised in discovery).
    fn supported_verbs(&self) -> &'static [Verb];

    /// Whether this layer's lists answer a full-text search
    /// ([`ListOptions::full_text`](crate::ListOptions::full_text), the `query` parameter). A
    /// layer that does not refuses one with [`StorageError::full_text_unsupported`]; the
    /// conformance suite checks either. By default, no.
    fn supports_full_text(&self) -> bool {
        false
    }

    /// Called once for a cluster before its synchro starts writing (by default, nothing to do).
    async fn prepare_cluster(&self, cluster: &str) -> Result<()> {
        let _ = cluster;
        Ok(())
    }

    /// The stored resource versions of a cluster, per stored resource.
    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> Result<HashMap<Gvr, ClusterResourceVersions>>;

    /// The resource types objects are stored for, per cluster.
    async fn stored_resource_types(&self) -> Result<Vec<StoredResourceType>>;

    /// The collection resources this layer offers (by default the built-in ones of the
    /// original, [`crate::collection::builtin`], which the conformance suite checks).
    fn collection_resources(&self) -> Vec<CollectionResource> {
        crate::collection::builtin()
    }

    /// The storage of one resource (called lazily by the apiserver and per resource by the synchro).
    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> Result<Arc<dyn ResourceStorage>>;

    /// The storage of one collection resource.
    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>>;

    /// Removes everything stored for a cluster (the PediaCluster was deleted).
    async fn clean_cluster(&self, cluster: &str) -> Result<()>;

    /// Removes everything stored for one resource of a cluster (it is no longer synced).
    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> Result<()>;

    /// Whether the layer can serve requests now (`/readyz`): e.g. the database answers.
    async fn check_ready(&self) -> Result<()>;

    /// Releases connections and background tasks at process exit.
    async fn shutdown(&self) -> Result<()>;
}

/// The storage of one resource (one [`Gvr`]) across all clusters.
#[async_trait]
pub trait ResourceStorage: Send + Sync + 'static {
    /// What this storage was created for.
    fn config(&self) -> &ResourceStorageConfig;

    /// One object. [`StorageError::NotFound`] when absent.
    async fn get(&self, cluster: &str, namespace: &str, name: &str) -> Result<ResourceObject>;

    /// One page of the objects matching `options`, with every [`ListOptions`] feature.
    /// A layer that cannot evaluate some well-formed option answers [`StorageError::Invalid`]
    /// naming it; it never returns a wrong answer.
    async fn list(&self, options: &ListOptions) -> Result<ListPage>;

    /// A watch of the objects matching `options` (clusters, namespaces, names, selectors),
    /// starting at `options.resource_version`. Layers without watch keep this default.
    async fn watch(&self, options: &ListOptions) -> Result<WatchStream> {
        let _ = options;
        Err(StorageError::MethodNotSupported {
            verb: "watch",
            resource: self.config().gvr.to_string(),
        })
    }

    /// Stores a new object. [`StorageError::AlreadyExists`] when the key is taken.
    async fn create(&self, object: ResourceObject) -> Result<()>;

    /// Replaces a stored object. [`StorageError::NotFound`] when absent.
    async fn update(&self, object: ResourceObject) -> Result<()>;

    /// Removes an object; removing an absent object is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<()>;

    /// Applies a batch of changes in order (the synchro's write path; a layer should override
    /// this with one round trip). The default applies them one by one: an upsert is an
    /// update, or a create when the object is absent.
    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        for change in changes {
            match change {
                Change::Upsert(object) => match self.update(object.clone()).await {
                    Err(e) if e.is_not_found() => self.create(object).await?,
                    other => other?,
                },
                Change::Delete(key) => self.delete(&key).await?,
            }
        }
        Ok(())
    }

    /// Attaches events to the objects they are about (matched by cluster and
    /// `involvedObject.uid`); events of objects not stored are dropped.
    async fn record_events(&self, events: Vec<ObjectEvent>) -> Result<()>;
}

/// The storage of one collection resource: lists objects of several resources at once.
#[async_trait]
pub trait CollectionResourceStorage: Send + Sync + 'static {
    /// The collection served.
    fn collection(&self) -> &CollectionResource;

    /// One page of the objects of `types` (the collection's own types, or those an `any`
    /// request named) matching `options`. Owner queries are not supported here.
    async fn list(
        &self,
        types: &[CollectionResourceType],
        options: &ListOptions,
    ) -> Result<CollectionPage>;
}
