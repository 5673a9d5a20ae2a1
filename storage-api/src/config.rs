//! Loading a storage layer's configuration file (`--storage-config`, YAML), the same way for
//! every layer.
//!
//! A layer describes its file as a `#[derive(Deserialize)]` struct (with
//! `#[serde(deny_unknown_fields)]`, so that a typo stops the process at start-up) and reads it
//! with [`load_yaml`]:
//!
//! - an empty document (nothing, only comments, or `~`) is read as an empty mapping, so a
//!   `#[serde(default)]` struct gets its defaults and a struct with required keys reports the
//!   first missing one;
//! - every error names the key at fault (`watchBufer: unknown field ...`,
//!   `log.slowThreshold: invalid value ...`), and the errors of [`load_yaml`] also name the
//!   file and the layer;
//! - a [`ConfigError`] becomes a [`StorageError::Config`] with `?`.
//!
//! Checks that serde cannot express (`watchBuffer` at least 1) stay in the layer; report them
//! with [`ConfigError::new`] and [`ConfigError::in_file`] so that they read like the others.
//! Durations are [`crate::Duration`]s.
//!
//! ```
//! use serde::Deserialize;
//! use storage_api::config;
//!
//! #[derive(Debug, Default, Deserialize)]
//! #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
//! struct MyConfig {
//!     endpoint: Option<String>,
//!     batch_size: Option<u32>,
//! }
//!
//! let config: MyConfig = config::parse_yaml("batchSize: 100\n").unwrap();
//! assert_eq!(config.batch_size, Some(100));
//! let error = config::parse_yaml::<MyConfig>("batchSise: 100\n").unwrap_err();
//! assert!(error.to_string().contains("batchSise"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::error::StorageError;

/// What is wrong with a layer's configuration: a message naming the key, and, when it was read
/// from a file, the file and the layer.
///
/// Shown as `FILE (storage layer LAYER): MESSAGE`, or `MESSAGE` without a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
    file: Option<(String, PathBuf)>,
}

impl ConfigError {
    /// An error saying `message` (which should name the key, e.g. `watchBuffer: must be at
    /// least 1`).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            file: None,
        }
    }

    /// This error, as one of the configuration file `path` of storage layer `layer`.
    pub fn in_file(mut self, layer: &str, path: &Path) -> Self {
        self.file = Some((layer.to_owned(), path.to_owned()));
        self
    }

    /// What is wrong, without the file.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The file, when the error is one of a file.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(_, path)| path.as_path())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some((layer, path)) => write!(
                f,
                "{} (storage layer {layer}): {}",
                path.display(),
                self.message
            ),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for StorageError {
    fn from(error: ConfigError) -> Self {
        StorageError::config(error.to_string())
    }
}

/// Parses a YAML document into `T`; an empty document (nothing, only comments, or `~`) is an
/// empty mapping. The error names the key at fault.
pub fn parse_yaml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let error = |e: serde_norway::Error| ConfigError::new(e.to_string());
    let document = if text.trim().is_empty() {
        None
    } else {
        serde_norway::from_str::<Option<T>>(text).map_err(error)?
    };
    match document {
        Some(config) => Ok(config),
        None => serde_norway::from_str("{}").map_err(error),
    }
}

/// Reads the YAML file at `path` into `T` (see [`parse_yaml`]). Every error names the file and
/// storage layer `layer`: a file that cannot be read, a bad or unknown key.
pub fn load_yaml<T: DeserializeOwned>(layer: &str, path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(format!("cannot read: {e}")).in_file(layer, path))?;
    parse_yaml(&text).map_err(|e| e.in_file(layer, path))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::Duration;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
    struct Defaults {
        batch_size: Option<u32>,
        nested: Nested,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
    struct Nested {
        slow_threshold: Option<Duration>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Required {
        database: String,
    }

    #[test]
    fn empty_documents_are_empty_mappings() {
        for text in ["", "  \n", "# nothing\n", "~", "{}"] {
            assert_eq!(
                parse_yaml::<Defaults>(text),
                Ok(Defaults::default()),
                "{text:?}"
            );
            let error = parse_yaml::<Required>(text).expect_err(text);
            assert!(error.message().contains("database"), "{text:?}: {error}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            ("batchSise: 3", "batchSise"),
            ("batchSize: -3", "batchSize"),
            ("nested: {slowThreshold: soon}", "nested.slowThreshold"),
            ("nested: {slowTreshold: 1s}", "slowTreshold"),
            ("- a list", "invalid type"),
        ] {
            let error = parse_yaml::<Defaults>(text).expect_err(text);
            assert!(error.to_string().contains(key), "{text}: {error}");
        }
        let config: Defaults = parse_yaml("nested: {slowThreshold: 1m30s}").expect("valid");
        assert_eq!(
            config.nested.slow_threshold.map(Into::into),
            Some(std::time::Duration::from_secs(90))
        );
    }

    #[test]
    fn files_are_named() {
        let dir = std::env::temp_dir().join(format!("storage-api-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("layer.yaml");
        std::fs::write(&path, "batchSise: 3\n").expect("write");
        let error = load_yaml::<Defaults>("demo", &path).expect_err("unknown key");
        assert_eq!(error.path(), Some(path.as_path()));
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("{} (storage layer demo): ", path.display()))
                && text.contains("batchSise"),
            "{text}"
        );
        let storage = StorageError::from(error);
        assert!(matches!(storage, StorageError::Config { .. }), "{storage}");
        assert_eq!(storage.status().code, 500);
        std::fs::write(&path, "batchSize: 3\n").expect("write");
        assert_eq!(
            load_yaml::<Defaults>("demo", &path)
                .expect("valid")
                .batch_size,
            Some(3)
        );
        let missing = load_yaml::<Defaults>("demo", &dir.join("absent.yaml")).expect_err("absent");
        assert!(
            missing.to_string().contains("absent.yaml")
                && missing.message().contains("cannot read"),
            "{missing}"
        );
        let checked = ConfigError::new("batchSize: must be at least 1").in_file("demo", &path);
        assert!(
            checked
                .to_string()
                .ends_with("layer.yaml (storage layer demo): batchSize: must be at least 1")
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
