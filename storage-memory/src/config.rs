//! The configuration of the memory layer (`--storage-config`, YAML).
//!
//! ```yaml
//! # every key is optional
//! watchHistory: 10000     # past changes a watch can resume from (by resourceVersion)
//! watchBuffer: 1024       # changes a watcher may fall behind by before it is expired
//! bookmarkInterval: 60s   # how often watches that allow bookmarks get one (e.g. 500ms, 1m30s;
//!                         # a bare number is seconds)
//! ```
//!
//! Unknown keys are errors, so that a typo is reported at start-up instead of being ignored.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use storage_api::{ConfigError, Result, config};

use crate::LAYER_NAME;

/// The default of [`MemoryConfig::watch_history`].
pub const DEFAULT_WATCH_HISTORY: usize = 10_000;
/// The default of [`MemoryConfig::watch_buffer`].
pub const DEFAULT_WATCH_BUFFER: usize = 1024;
/// The default of [`MemoryConfig::bookmark_interval`].
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// How the memory layer behaves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MemoryConfig {
    /// How many past changes (across all resources) are kept so that a watch can resume from
    /// an older `resourceVersion`; a watch from before them gets `410 Expired` and re-lists.
    /// Each kept change costs about 64 bytes plus the superseded object versions it retains.
    pub watch_history: usize,
    /// How many changes one watcher may fall behind by before it is ended with `410 Expired`
    /// (slow watchers never block writers). At least 1.
    pub watch_buffer: usize,
    /// How often a watch that allows bookmarks receives a `BOOKMARK` with the current revision.
    /// At least 1 ms.
    #[serde(deserialize_with = "storage_api::duration::deserialize")]
    pub bookmark_interval: Duration,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            watch_history: DEFAULT_WATCH_HISTORY,
            watch_buffer: DEFAULT_WATCH_BUFFER,
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
        }
    }
}

impl MemoryConfig {
    /// Reads and validates the YAML file at `path`.
    ///
    /// Fails with [`StorageError::Config`](storage_api::StorageError::Config) naming the file (and the key, for a bad or unknown
    /// key) when the file cannot be read or is not a valid configuration.
    pub fn from_file(path: &Path) -> Result<Self> {
        let config: Self = config::load_yaml(LAYER_NAME, path)?;
        config
            .validate()
            .map_err(|message| ConfigError::new(message).in_file(LAYER_NAME, path))?;
        Ok(config)
    }

    /// Parses and validates a YAML document (empty means all defaults). The error names the key.
    pub fn from_yaml(text: &str) -> std::result::Result<Self, String> {
        let config: Self = config::parse_yaml(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.watch_buffer == 0 {
            return Err("watchBuffer: must be at least 1".into());
        }
        if self.bookmark_interval < Duration::from_millis(1) {
            return Err("bookmarkInterval: must be at least 1ms".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_documents_are_the_defaults() {
        assert_eq!(
            MemoryConfig::from_yaml("").expect("ok"),
            MemoryConfig::default()
        );
        assert_eq!(
            MemoryConfig::from_yaml("# nothing\n").expect("ok"),
            MemoryConfig::default()
        );
        assert_eq!(
            MemoryConfig::from_yaml("~").expect("ok"),
            MemoryConfig::default()
        );
    }

    #[test]
    fn every_key_is_read() {
        let config =
            MemoryConfig::from_yaml("watchHistory: 5\nwatchBuffer: 7\nbookmarkInterval: 250ms\n")
                .expect("ok");
        assert_eq!(config.watch_history, 5);
        assert_eq!(config.watch_buffer, 7);
        assert_eq!(config.bookmark_interval, Duration::from_millis(250));
        for (text, expected) in [
            ("2", 2_000),
            ("3s", 3_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ] {
            let config = MemoryConfig::from_yaml(&format!("bookmarkInterval: {text}")).expect(text);
            assert_eq!(
                config.bookmark_interval,
                Duration::from_millis(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let cases = [
            ("watchHistroy: 5", "watchHistroy"),
            ("watchHistory: -1", "watchHistory"),
            ("watchBuffer: 0", "watchBuffer"),
            ("bookmarkInterval: soon", "bookmarkInterval"),
            ("bookmarkInterval: 0s", "bookmarkInterval"),
            ("- a list", "invalid type"),
        ];
        for (text, expected) in cases {
            let message = MemoryConfig::from_yaml(text).expect_err(text);
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn files_are_named_in_errors() {
        let dir =
            std::env::temp_dir().join(format!("storage-memory-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("memory.yaml");
        std::fs::write(&path, "watchBufer: 3\n").expect("write");
        let err = MemoryConfig::from_file(&path).expect_err("unknown key");
        let text = err.to_string();
        assert!(
            text.contains("memory.yaml") && text.contains("watchBufer"),
            "{text}"
        );
        assert_eq!(err.status().code, 500);
        std::fs::write(&path, "watchBuffer: 3\n").expect("write");
        assert_eq!(MemoryConfig::from_file(&path).expect("ok").watch_buffer, 3);
        let missing = MemoryConfig::from_file(&dir.join("absent.yaml")).expect_err("missing");
        assert!(missing.to_string().contains("absent.yaml"), "{missing}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
