//! The compile-time registry of storage layers.
//!
//! A layer crate registers itself once:
//!
//! ```no_run
//! use std::path::PathBuf;
//! use storage_api::registry::FactoryFuture;
//!
//! /// Builds the layer from its `--storage-config` file (here: refuses to).
//! fn new_factory(config: Option<PathBuf>) -> FactoryFuture {
//!     Box::pin(async move {
//!         Err(storage_api::StorageError::config(format!("cannot use {config:?} yet")))
//!     })
//! }
//!
//! storage_api::register_storage_layer! {
//!     name: "my-layer",
//!     description: "What it stores into, in one line",
//!     new_factory: new_factory,
//! }
//! # fn main() {}
//! ```
//!
//! Cargo features decide which layer crates are linked into the binaries; `--storage-name`
//! picks one of the linked layers at run time. There is no dynamic loading. Pitfall: rustc does
//! not link a crate the binary never names, so the binaries name each feature-gated layer crate
//! once (`extern crate storage_memory as _;`).

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::{Result, StorageError};
use crate::storage::StorageFactory;

/// What a layer's constructor returns.
pub type FactoryFuture = BoxFuture<'static, Result<Arc<dyn StorageFactory>>>;

/// A storage layer linked into this binary.
#[derive(Debug)]
pub struct StorageLayer {
    /// The name `--storage-name` selects it by.
    pub name: &'static str,
    /// One line saying what it stores into.
    pub description: &'static str,
    /// The cargo package that registered it (filled in by [`register_storage_layer!`]).
    pub package: &'static str,
    /// Builds the factory from the `--storage-config` file, if one was given.
    pub new_factory: fn(config: Option<PathBuf>) -> FactoryFuture,
}

inventory::collect!(StorageLayer);

/// Registers a storage layer in the registry (at most once per crate, outside any function).
#[macro_export]
macro_rules! register_storage_layer {
    (name: $name:expr, description: $description:expr, new_factory: $new_factory:expr $(,)?) => {
        $crate::__inventory::submit! {
            $crate::registry::StorageLayer {
                name: $name,
                description: $description,
                package: ::core::env!("CARGO_PKG_NAME"),
                new_factory: $new_factory,
            }
        }
    };
}

/// Every linked layer, sorted by name.
pub fn layers() -> Vec<&'static StorageLayer> {
    let mut layers: Vec<_> = inventory::iter::<StorageLayer>.into_iter().collect();
    layers.sort_by_key(|l| l.name);
    layers
}

/// The names of the linked layers, sorted, comma-separated (for messages).
pub fn layer_names() -> String {
    let names: Vec<_> = layers().iter().map(|l| l.name).collect();
    if names.is_empty() {
        "none (build with a storage feature, e.g. --features memory-storage)".into()
    } else {
        names.join(", ")
    }
}

/// Why a layer name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No linked layer has this name.
    #[error("storage layer \"{name}\" is not linked into this binary; linked layers: {linked}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The linked layers, comma-separated.
        linked: String,
    },
    /// Two linked crates registered the same name.
    #[error("storage layer \"{name}\" is registered by more than one linked crate")]
    Duplicate {
        /// The name registered twice.
        name: String,
    },
}

/// The linked layer named `name`.
pub fn find(name: &str) -> std::result::Result<&'static StorageLayer, RegistryError> {
    let mut matches = inventory::iter::<StorageLayer>
        .into_iter()
        .filter(|l| l.name == name);
    let layer = matches.next().ok_or_else(|| RegistryError::Unknown {
        name: name.into(),
        linked: layer_names(),
    })?;
    if matches.next().is_some() {
        return Err(RegistryError::Duplicate { name: name.into() });
    }
    Ok(layer)
}

/// Builds the factory of the layer named `name` from its configuration file.
pub async fn new_factory(name: &str, config: Option<PathBuf>) -> Result<Arc<dyn StorageFactory>> {
    let layer = find(name).map_err(|e| StorageError::config(e.to_string()))?;
    (layer.new_factory)(config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuse(_config: Option<PathBuf>) -> FactoryFuture {
        Box::pin(async { Err(StorageError::config("test layers build nothing")) })
    }

    crate::register_storage_layer! { name: "test-b", description: "second", new_factory: refuse }
    crate::register_storage_layer! { name: "test-a", description: "first", new_factory: refuse }
    crate::register_storage_layer! { name: "test-twice", description: "one", new_factory: refuse }
    crate::register_storage_layer! { name: "test-twice", description: "two", new_factory: refuse }

    #[test]
    fn layers_are_listed_sorted_by_name() {
        let names: Vec<_> = layers().iter().map(|l| l.name).collect();
        assert_eq!(names, ["test-a", "test-b", "test-twice", "test-twice"]);
        assert_eq!(layer_names(), "test-a, test-b, test-twice, test-twice");
    }

    #[test]
    fn find_by_name_and_unknown_names_list_the_linked_layers() {
        assert_eq!(find("test-a").expect("linked").description, "first");
        let err = find("nope").expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "storage layer \"nope\" is not linked into this binary; linked layers: test-a, test-b, test-twice, test-twice"
        );
        assert_eq!(
            find("test-twice").expect_err("duplicate"),
            RegistryError::Duplicate {
                name: "test-twice".into()
            }
        );
    }

    #[tokio::test]
    async fn new_factory_reports_the_layer_error() {
        let err = new_factory("test-b", None).await.err().expect("refused");
        assert!(
            err.to_string().contains("test layers build nothing"),
            "{err}"
        );
        let err = new_factory("nope", None).await.err().expect("unknown");
        assert!(err.to_string().contains("not linked"), "{err}");
    }
}
