//! The whole conformance suite (`storage-conformance`) against the elasticsearch layer on the
//! **osmem-server emulator** (OpenSearch 3 API, from PyPI): the layer's main gate. It is an
//! emulator, not OpenSearch: see docs/storage-elasticsearch.md for what it proves and what not.
//!
//! `ES_TEST_OSMEM_URL` must name a running osmem-server (`.ci/run` starts one); unset or
//! unreachable, every check fails.
//!
//! `cargo test -p storage-elasticsearch --test conformance_osmem_emulator [theme::]`

mod support;

async fn new_factory() -> std::sync::Arc<dyn storage_api::StorageFactory> {
    support::fresh(support::OSMEM_URL).await
}

storage_conformance::conformance_tests!(new_factory);
