//! The storage layer contract of clusterpedia.
//!
//! Everything a storage layer and the components agree on lives here:
//!
//! - the object model ([`object`]): an object's raw JSON plus its indexed fields, parsed once;
//! - the query model ([`query`]): [`ListOptions`] with every search parameter of the original,
//!   its URL and search-label parsers, the Kubernetes label selector and the enhanced field
//!   selector, ordering and continue tokens;
//! - the reference evaluator ([`evaluator`]): the oracle of the conformance suite and a
//!   complete query engine for simple layers;
//! - the traits a layer implements ([`StorageFactory`], [`ResourceStorage`],
//!   [`CollectionResourceStorage`]) and the one error type ([`StorageError`]);
//! - the compile-time registry of layers ([`registry`]);
//! - what every layer's configuration needs: the YAML loader ([`config`]) and the duration
//!   syntax of files and flags ([`Duration`]);
//! - with the `testing` feature, the test kit ([`testing`]): the reference layer and a
//!   forwarding wrapper. The conformance suite is the `storage-conformance` crate.

pub mod collection;
pub mod config;
pub mod duration;
pub mod error;
pub mod evaluator;
pub mod object;
pub mod query;
pub mod registry;
pub mod resource_version;
pub mod status;
mod storage;
#[cfg(feature = "testing")]
pub mod testing;

pub use collection::{CollectionResource, CollectionResourceType};
pub use config::ConfigError;
pub use duration::Duration;
pub use error::{BoxError, Result, StorageError};
pub use object::{GroupResource, Gvr, IndexedFields, ObjectEvent, ObjectKey, ResourceObject};
pub use query::ListOptions;
pub use registry::StorageLayer;
pub use status::{Status, StatusReason};
pub use storage::*;

#[doc(hidden)]
pub use inventory as __inventory;
