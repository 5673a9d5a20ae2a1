//! A small part of the conformance suite against the elasticsearch layer on the **noida-db
//! emulator** (Elasticsearch 8.15 API, from PyPI), for what osmem-server hides: the
//! Elasticsearch handshake and near-real-time refresh (a write is not searchable until a
//! refresh, so a missing `refresh=wait_for` shows here). noida is slow and memory-hungry, so
//! only these checks run on it; the whole suite runs on osmem-server.
//!
//! `ES_TEST_NOIDA_URL` must name a running noida-db (`.ci/run` starts one); unset or
//! unreachable, every check fails.
//!
//! `cargo test -p storage-elasticsearch --test conformance_noida_emulator`

mod support;

use storage_conformance::checks;
use storage_elasticsearch::Flavour;

fn new_factory() -> storage_conformance::FactoryFuture {
    Box::pin(support::fresh(support::NOIDA_URL))
}

macro_rules! noida_checks {
    ($($theme:ident :: $check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                storage_conformance::run(
                    concat!("noida::", stringify!($theme), "::", stringify!($check)),
                    new_factory,
                    checks::$theme::$check,
                );
            }
        )*
    };
}

noida_checks! {
    crud::create_then_get,
    crud::create_existing_is_already_exists,
    crud::update_missing_is_not_found,
    crud::apply_batch_upserts_and_deletes,
    list_filters::label_selectors,
    list_filters::fuzzy_names,
    order::order_by_several_fields,
    paging::walks_every_page,
    paging::while_writing,
    owner::owner_name_and_seniority,
    events::inject_events,
    resource_versions::follow_writes,
    cleanup::clean_cluster,
    collections::workloads,
}

/// The handshake: noida answers `GET /` as Elasticsearch 8.
#[tokio::test]
async fn detects_elasticsearch_8() {
    let layer = support::connect(support::NOIDA_URL).await;
    assert_eq!(layer.flavour(), &Flavour::Elasticsearch(8));
    layer.destroy().await.expect("delete the indices");
}
