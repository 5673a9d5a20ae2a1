//! The storage layer `elasticsearch`: objects in Elasticsearch 8/9 or OpenSearch 2/3, every
//! query feature pushed down into the query DSL, paged with `search_after`.
//!
//! It is the layer the original's plugin (`clusterpedia-io/elasticsearch-storage`) should have
//! been: its config file works unchanged, and it fixes that plugin's known bugs (from/size
//! paging stopping at 10 000 hits, one request per object, label keys ignored, edit distance
//! instead of substring for fuzzy names, owner lookups capped at 500). See
//! `docs/storage-elasticsearch.md`.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `config` | the `--storage-config` YAML file ([`ElasticsearchConfig`]) |
//! | `client` | the official client's transport, flavour detection ([`Flavour`]), error classification |
//! | `mapping` | index names, the index template, the document of an object |
//! | `dsl` | [`storage_api::ListOptions`] to the query DSL (pure; golden-tested) |
//! | `store` | the requests: bulk writes, searches, walks, counts, owners |
//! | `storage` | the traits' read and write paths |
//! | `factory` | [`ElasticsearchStorageFactory`], what the registry builds |
//!
//! # Using it
//!
//! ```text
//! cargo build --features elasticsearch-storage
//! ./target/debug/apiserver --storage-name=elasticsearch --storage-config storage-elasticsearch/example-config.yaml
//! ```

mod client;
mod config;
pub mod dsl;
mod factory;
pub mod mapping;
mod storage;
mod store;

pub use client::Flavour;
pub use config::{
    ADDRESSES_ENV, API_KEY_ENV, DEFAULT_ADDRESS, DEFAULT_BULK_SIZE, DEFAULT_INDEX_PREFIX,
    DEFAULT_REQUEST_TIMEOUT, ElasticsearchConfig, PASSWORD_ENV, RefreshPolicy, USER_ENV,
};
pub use factory::ElasticsearchStorageFactory;

/// The name `--storage-name` selects this layer by (the original plugin's).
pub const LAYER_NAME: &str = "elasticsearch";

// The one line that makes the layer exist: the binaries find it in the registry by its name.
// (They must also link this crate: see the root `src/lib.rs` and the `elasticsearch-storage` feature.)
storage_api::register_storage_layer! {
    name: LAYER_NAME,
    description: "Elasticsearch 8/9 or OpenSearch 2/3: every query pushed down into the query DSL, paged with search_after",
    new_factory: factory::new_factory,
}
