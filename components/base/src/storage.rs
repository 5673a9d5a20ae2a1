//! Selecting the storage layer at run time among the layers linked at compile time.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use storage_api::{StorageFactory, registry};

/// The environment variable the original used to load Go plugins from a directory.
const STORAGE_PLUGINS_ENV: &str = "STORAGE_PLUGINS";

/// The storage flags of every component.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageOptions {
    /// The storage layer to use: one of the layers linked into this binary (list them with the
    /// `storage-layers` subcommand).
    #[arg(long, value_name = "NAME", default_value = "internal")]
    pub storage_name: String,

    /// The storage layer's configuration file (YAML; its keys depend on the layer). Without it
    /// a layer uses its embedded default, if it has one.
    #[arg(long, value_name = "FILE")]
    pub storage_config: Option<PathBuf>,
}

impl StorageOptions {
    /// Builds the selected layer's factory and checks that it can serve.
    ///
    /// Fails with one line naming the problem: an unknown layer (listing the linked ones), a
    /// missing or unreadable config file, or the layer's own configuration error.
    pub async fn build_factory(&self) -> anyhow::Result<Arc<dyn StorageFactory>> {
        if let Some(notice) = storage_plugins_notice() {
            tracing::warn!("{notice}");
        }
        let layer = registry::find(&self.storage_name)?;
        if let Some(path) = &self.storage_config {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("--storage-config {}", path.display()))?;
            if meta.is_dir() {
                bail!(
                    "--storage-config {} is a directory, not a file",
                    path.display()
                );
            }
        }
        let factory = (layer.new_factory)(self.storage_config.clone())
            .await
            .with_context(|| format!("storage layer \"{}\"", self.storage_name))?;
        factory
            .check_ready()
            .await
            .with_context(|| format!("storage layer \"{}\" is not ready", self.storage_name))?;
        Ok(factory)
    }
}

/// A table of the linked storage layers: name, the crate that provides it, description.
pub fn storage_layers_table() -> String {
    let layers = registry::layers();
    if layers.is_empty() {
        return format!("no storage layers: {}\n", registry::layer_names());
    }
    let width = layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let crate_width = layers
        .iter()
        .map(|l| l.package.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = format!("{:width$}  {:crate_width$}  DESCRIPTION\n", "NAME", "CRATE");
    for layer in layers {
        out.push_str(&format!(
            "{:width$}  {:crate_width$}  {}\n",
            layer.name, layer.package, layer.description
        ));
    }
    out
}

/// When `STORAGE_PLUGINS` is set (a habit from the original's Go plugins), a message saying that
/// storage layers are compiled in, and which ones are.
pub fn storage_plugins_notice() -> Option<String> {
    let dir = std::env::var_os(STORAGE_PLUGINS_ENV)?;
    Some(format!(
        "{STORAGE_PLUGINS_ENV}={} is ignored: storage layers are compiled into this binary \
         (select one with --storage-name; rebuild with a cargo feature to add one, see \
         docs/storage-layer-guide.md); linked layers: {}",
        dir.to_string_lossy(),
        registry::layer_names()
    ))
}
