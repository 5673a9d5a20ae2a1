//! The storage layer `memory`: every object in the process's memory, with Kubernetes watch
//! semantics. Use it with `binding-apiserver` (synchro and apiserver in one process).
//!
//! # Overview
//!
//! One [`MemoryStorageFactory`] holds one store shared by every storage it makes: owner queries
//! span the resources of a cluster and collection resources span resources. The store keeps
//! each object's JSON once, as exact-size bytes, next to its indexed fields, in one ordered set
//! per resource keyed by (cluster, namespace, name).
//!
//! - **Queries**: every [`storage_api::ListOptions`] feature, evaluated by the reference
//!   evaluator of `storage-api` (so answers are the conformance oracle's), with the store's key
//!   order used as an index for clusters, namespaces and default-order paging.
//! - **Resource versions**: one revision counter per factory; each write takes the next
//!   revision and stamps it into the stored `metadata.resourceVersion`, so objects from `get`,
//!   `list` and `watch` carry versions a client-go informer can resume from. The member
//!   cluster's own version stays in the indexed fields (for the synchro's resume bookkeeping
//!   and `orderby resource_version`).
//! - **Watch**: kube-apiserver watch-cache semantics (initial `ADDED` events or replay from a
//!   resource version, `410 Expired` when too old, filters, bookmarks, slow watchers expired
//!   instead of blocking writers); see the `watch` module.
//!
//! # Configuration
//!
//! `--storage-name memory`, optionally with `--storage-config FILE`, a YAML file read by
//! [`MemoryConfig::from_file`]:
//!
//! ```yaml
//! watchHistory: 10000     # past changes a watch can resume from
//! watchBuffer: 1024       # changes a watcher may fall behind by before it is expired
//! bookmarkInterval: 60s   # how often watches that allow bookmarks get one
//! ```
//!
//! # Using it directly
//!
//! ```
//! use storage_api::{ResourceStorageConfig, Gvr, StorageFactory};
//! use storage_memory::MemoryStorageFactory;
//!
//! # async fn run() -> storage_api::Result<()> {
//! let factory = MemoryStorageFactory::default();
//! let pods = factory
//!     .new_resource_storage(ResourceStorageConfig {
//!         gvr: Gvr::new("", "v1", "pods"),
//!         kind: "Pod".into(),
//!         namespaced: true,
//!     })
//!     .await?;
//! let page = pods.list(&storage_api::ListOptions::default()).await?;
//! assert!(page.items.is_empty());
//! # Ok(()) }
//! ```

mod config;
mod factory;
mod index;
mod query;
mod resource;
mod store;
mod watch;

pub use config::{
    DEFAULT_BOOKMARK_INTERVAL, DEFAULT_WATCH_BUFFER, DEFAULT_WATCH_HISTORY, MemoryConfig,
};
pub use factory::MemoryStorageFactory;
pub use resource::{MemoryCollectionStorage, MemoryResourceStorage};

/// The name `--storage-name` selects this layer by.
pub const LAYER_NAME: &str = "memory";

storage_api::register_storage_layer! {
    name: LAYER_NAME,
    description: "In-process store with Kubernetes watch semantics (use it with binding-apiserver)",
    new_factory: factory::new_factory,
}

#[cfg(test)]
mod tests;
