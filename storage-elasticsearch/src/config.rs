//! The configuration file (`--storage-config`, YAML). The keys of the original plugin
//! (`clusterpedia-io/elasticsearch-storage`) work unchanged, so that its files keep working:
//!
//! ```yaml
//! addresses:                   # or env ES_ADDRESSES (comma-separated); default http://127.0.0.1:9200
//!   - http://127.0.0.1:9200
//! user: elastic                # or env ES_USER (alias: username)
//! password: changeme           # or env ES_PASSWORD
//! # everything below is optional
//! apiKey: BASE64(id:key)       # or env ES_API_KEY; instead of user/password
//! caFile: /etc/es/ca.pem       # PEM CA bundle to verify the server's certificate
//! insecureSkipVerify: false    # true: no certificate verification (tests only)
//! indexPrefix: clusterpedia    # every index, alias and template starts with it
//! shards: 1                    # number_of_shards of each index
//! replicas: 0                  # number_of_replicas of each index
//! bulkSize: 1000               # actions per _bulk request
//! refresh: wait_for            # wait_for | true | false: the refresh of writes
//! requestTimeout: 30s          # Go syntax, or a number of seconds
//! ```
//!
//! Unknown keys and bad values are refused with a
//! [`StorageError::Config`](storage_api::StorageError::Config) naming the file and the key.
//! The password and the API key never reach a log: [`ElasticsearchConfig`]'s `Debug` leaves
//! them out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use storage_api::{ConfigError, Result, config};

use crate::LAYER_NAME;

/// The environment variable with the server addresses (comma-separated), as in the original.
pub const ADDRESSES_ENV: &str = "ES_ADDRESSES";
/// The environment variable with the user name, as in the original.
pub const USER_ENV: &str = "ES_USER";
/// The environment variable with the password, as in the original.
pub const PASSWORD_ENV: &str = "ES_PASSWORD";
/// The environment variable with an API key (base64 of `id:key`).
pub const API_KEY_ENV: &str = "ES_API_KEY";

/// The address used when neither the file nor [`ADDRESSES_ENV`] gives one.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:9200";
/// The default [`ElasticsearchConfig::index_prefix`].
pub const DEFAULT_INDEX_PREFIX: &str = "clusterpedia";
/// The default [`ElasticsearchConfig::bulk_size`].
pub const DEFAULT_BULK_SIZE: usize = 1000;
/// The default [`ElasticsearchConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// When a write becomes visible to searches (the `refresh` parameter of `_bulk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Each write returns once a refresh made it searchable (read-your-writes; the default).
    #[default]
    WaitFor,
    /// Each write forces a refresh (costly; for tests).
    True,
    /// Writes become searchable at the next periodic refresh (about a second); a list right
    /// after a write may not see it.
    False,
}

impl RefreshPolicy {
    /// The value of the `refresh` URL parameter.
    pub fn as_param(self) -> &'static str {
        match self {
            Self::WaitFor => "wait_for",
            Self::True => "true",
            Self::False => "false",
        }
    }
}

/// The layer's configuration.
///
/// Its `Debug` leaves the password and API key out.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ElasticsearchConfig {
    /// The server URLs (`http://` or `https://`); requests go round-robin.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Basic authentication user.
    #[serde(default, alias = "username")]
    pub user: Option<String>,
    /// Basic authentication password.
    #[serde(default)]
    pub password: Option<String>,
    /// An API key (base64 of `id:key`, as Elasticsearch returns it in `encoded`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// A PEM file with the CA certificate(s) that sign the server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (never in production).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// The prefix of every index, alias and template of the layer.
    #[serde(default = "default_prefix")]
    pub index_prefix: String,
    /// `number_of_shards` of each index.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// `number_of_replicas` of each index.
    #[serde(default)]
    pub replicas: u32,
    /// Actions per `_bulk` request.
    #[serde(default = "default_bulk_size")]
    pub bulk_size: usize,
    /// When writes become searchable.
    #[serde(default)]
    pub refresh: RefreshPolicy,
    /// The timeout of each request.
    #[serde(
        default = "default_timeout",
        deserialize_with = "storage_api::duration::deserialize"
    )]
    pub request_timeout: Duration,
}

fn default_prefix() -> String {
    DEFAULT_INDEX_PREFIX.to_owned()
}
fn default_shards() -> u32 {
    1
}
fn default_bulk_size() -> usize {
    DEFAULT_BULK_SIZE
}
fn default_timeout() -> Duration {
    DEFAULT_REQUEST_TIMEOUT
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        Self {
            addresses: Vec::new(),
            user: None,
            password: None,
            api_key: None,
            ca_file: None,
            insecure_skip_verify: false,
            index_prefix: default_prefix(),
            shards: default_shards(),
            replicas: 0,
            bulk_size: DEFAULT_BULK_SIZE,
            refresh: RefreshPolicy::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl ElasticsearchConfig {
    /// Reads and validates the YAML file at `path`, then fills what it leaves out from the
    /// environment ([`ADDRESSES_ENV`], [`USER_ENV`], [`PASSWORD_ENV`], [`API_KEY_ENV`]).
    ///
    /// Fails with [`StorageError::Config`](storage_api::StorageError::Config) naming the file
    /// (and the key, for a bad or unknown key).
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut config: Self = config::load_yaml(LAYER_NAME, path)?;
        config.fill_from_env(|name| std::env::var(name).ok());
        config
            .validate()
            .map_err(|message| ConfigError::new(message).in_file(LAYER_NAME, path))?;
        Ok(config)
    }

    /// The configuration without a file: defaults and the environment.
    pub fn from_env() -> Result<Self> {
        let mut config = Self::default();
        config.fill_from_env(|name| std::env::var(name).ok());
        config.validate().map_err(|message| {
            storage_api::StorageError::config(format!("{LAYER_NAME}: {message}"))
        })?;
        Ok(config)
    }

    /// Parses and validates a YAML document (no environment). The error names the key.
    pub fn from_yaml(text: &str) -> std::result::Result<Self, String> {
        let config: Self = config::parse_yaml(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// What the file leaves out, from the environment (`env` reads a variable).
    pub fn fill_from_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        if self.addresses.is_empty()
            && let Some(list) = env(ADDRESSES_ENV)
        {
            self.addresses = list
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if self.user.is_none() {
            self.user = env(USER_ENV).filter(|v| !v.is_empty());
        }
        if self.password.is_none() {
            self.password = env(PASSWORD_ENV).filter(|v| !v.is_empty());
        }
        if self.api_key.is_none() {
            self.api_key = env(API_KEY_ENV).filter(|v| !v.is_empty());
        }
    }

    /// The server URLs: the configured ones, or [`DEFAULT_ADDRESS`].
    pub fn effective_addresses(&self) -> Vec<String> {
        if self.addresses.is_empty() {
            vec![DEFAULT_ADDRESS.to_owned()]
        } else {
            self.addresses.clone()
        }
    }

    /// The checks serde cannot make. The error names the key.
    fn validate(&self) -> std::result::Result<(), String> {
        for address in &self.addresses {
            let scheme_ok = address.starts_with("http://") || address.starts_with("https://");
            if !scheme_ok || elasticsearch::http::Url::parse(address).is_err() {
                return Err(format!(
                    "addresses: {address:?} is not an http:// or https:// URL"
                ));
            }
        }
        let prefix_ok = !self.index_prefix.is_empty()
            && self.index_prefix.len() <= 100
            && !self.index_prefix.starts_with(['-', '_', '+', '.'])
            && self
                .index_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !prefix_ok {
            return Err(format!(
                "indexPrefix: {:?} must be 1-100 lowercase letters, digits, '-' or '_', \
                 not starting with '-' or '_'",
                self.index_prefix
            ));
        }
        if self.shards == 0 {
            return Err("shards: must be at least 1".into());
        }
        if self.bulk_size == 0 || self.bulk_size > 100_000 {
            return Err(format!("bulkSize: {} is not in 1..=100000", self.bulk_size));
        }
        if self.request_timeout.is_zero() {
            return Err("requestTimeout: must be more than 0".into());
        }
        if self.password.is_some() && self.user.is_none() {
            return Err("password: set without user".into());
        }
        if self.api_key.is_some() && self.user.is_some() {
            return Err("apiKey: give either apiKey or user/password, not both".into());
        }
        if self.insecure_skip_verify && self.ca_file.is_some() {
            return Err("insecureSkipVerify: contradicts caFile".into());
        }
        Ok(())
    }
}

impl fmt::Debug for ElasticsearchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            addresses,
            user,
            password,
            api_key,
            ca_file,
            insecure_skip_verify,
            index_prefix,
            shards,
            replicas,
            bulk_size,
            refresh,
            request_timeout,
        } = self;
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("ElasticsearchConfig")
            .field("addresses", addresses)
            .field("user", user)
            .field("password", &redacted(password))
            .field("api_key", &redacted(api_key))
            .field("ca_file", ca_file)
            .field("insecure_skip_verify", insecure_skip_verify)
            .field("index_prefix", index_prefix)
            .field("shards", shards)
            .field("replicas", replicas)
            .field("bulk_size", bulk_size)
            .field("refresh", refresh)
            .field("request_timeout", request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use storage_api::StorageError;

    use super::*;

    /// The file shipped with the crate, which is the user's example.
    const EXAMPLE: &str = include_str!("../example-config.yaml");

    #[test]
    fn the_original_plugins_file_works_unchanged() {
        // The only key of the original's config file.
        let config = ElasticsearchConfig::from_yaml(
            "addresses:\n  - http://es-0:9200\n  - http://es-1:9200\n",
        )
        .expect("original file");
        assert_eq!(config.addresses, ["http://es-0:9200", "http://es-1:9200"]);
        assert_eq!(config.index_prefix, DEFAULT_INDEX_PREFIX);
        assert_eq!(config.refresh, RefreshPolicy::WaitFor);
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let config = ElasticsearchConfig::from_yaml(EXAMPLE).expect("example-config.yaml is valid");
        assert_eq!(config.addresses, ["http://127.0.0.1:9200"]);
        assert_eq!(config.bulk_size, 1000);
        assert_eq!(config.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn the_environment_fills_what_the_file_leaves_out() {
        let env = |name: &str| match name {
            ADDRESSES_ENV => Some("http://a:9200, http://b:9200".to_owned()),
            USER_ENV => Some("elastic".to_owned()),
            PASSWORD_ENV => Some("s3cret".to_owned()),
            _ => None,
        };
        let mut config = ElasticsearchConfig::default();
        config.fill_from_env(env);
        assert_eq!(config.addresses, ["http://a:9200", "http://b:9200"]);
        assert_eq!(
            (config.user.as_deref(), config.password.as_deref()),
            (Some("elastic"), Some("s3cret"))
        );
        let mut config =
            ElasticsearchConfig::from_yaml("addresses: [\"http://file:9200\"]\nuser: me\n")
                .expect("valid");
        config.fill_from_env(env);
        assert_eq!(config.addresses, ["http://file:9200"]);
        assert_eq!(config.user.as_deref(), Some("me"));
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let cases = [
            ("adresses: [x]", "adresses"),
            ("addresses: [\"es:9200\"]", "addresses"),
            ("indexPrefix: Bad", "indexPrefix"),
            ("indexPrefix: \"_x\"", "indexPrefix"),
            ("shards: 0", "shards"),
            ("shards: -1", "shards"),
            ("bulkSize: 0", "bulkSize"),
            ("refresh: sometimes", "sometimes"),
            ("requestTimeout: soon", "requestTimeout"),
            ("requestTimeout: 0s", "requestTimeout"),
            ("password: x", "password"),
            ("user: u\napiKey: k", "apiKey"),
            ("insecureSkipVerify: true\ncaFile: /x", "insecureSkipVerify"),
        ];
        for (text, expected) in cases {
            let message = ElasticsearchConfig::from_yaml(text).expect_err(text);
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn files_are_named_in_errors() {
        let dir = std::env::temp_dir().join(format!(
            "storage-elasticsearch-config-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("elasticsearch.yaml");
        std::fs::write(&path, "addresses: [\"http://x:9200\"]\nbulksize: 5\n").expect("write");
        let error = ElasticsearchConfig::from_file(&path).expect_err("unknown key");
        let text = error.to_string();
        assert!(
            text.contains("elasticsearch.yaml") && text.contains("bulksize"),
            "{text}"
        );
        assert!(matches!(error, StorageError::Config { .. }), "{error:?}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn debug_leaves_the_secrets_out() {
        let config = ElasticsearchConfig::from_yaml(
            "addresses: [\"http://x:9200\"]\nuser: elastic\npassword: dangerous0\n",
        )
        .expect("valid");
        let keyed = ElasticsearchConfig::from_yaml("apiKey: c2VjcmV0a2V5").expect("valid");
        for shown in [
            format!("{config:?}"),
            format!("{config:#?}"),
            format!("{keyed:?}"),
        ] {
            assert!(
                !shown.contains("dangerous0") && !shown.contains("c2VjcmV0a2V5"),
                "{shown}"
            );
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
}
