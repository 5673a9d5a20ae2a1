//! The conformance suite: the one behaviour suite every storage layer must pass.
//!
//! A layer's test file runs every check with one macro call:
//!
//! ```text
//! // storage-memory/tests/conformance.rs
//! async fn new_factory() -> std::sync::Arc<dyn storage_api::StorageFactory> {
//!     std::sync::Arc::new(storage_memory::MemoryStorageFactory::default()) // a fresh, empty layer
//! }
//!
//! storage_conformance::conformance_tests!(new_factory);
//! ```
//!
//! with `storage-conformance.workspace = true` in the layer's `[dev-dependencies]`; the layer
//! needs no tokio dependency for it. The macro expands to one
//! `#[test]` per check, named `conformance::<theme>::<check>` (run one theme with
//! `cargo test --test conformance conformance::paging`), each on its own multi-thread tokio
//! runtime, with a time limit ([`CHECK_TIMEOUT`]) so that a hanging layer fails instead of
//! blocking the run.
//!
//! The suite proves itself in `tests/reference.rs`: it passes on the contract's reference
//! layer ([`storage_api::testing::ReferenceStorageFactory`]) and rejects each of its
//! deliberately broken variants ([`storage_api::testing::ReferenceBug`]).
//!
//! # The constructor's job: isolation
//!
//! Every check calls `new_factory` once and needs a factory **that holds nothing**: checks run in
//! parallel (one test thread each) and each assumes it owns the whole store. An in-process layer
//! builds a new instance; a SQL layer creates a fresh database or schema (e.g. a random name)
//! per call, an Elasticsearch layer a fresh index prefix. The constructor may panic (with a
//! message) when it cannot build the layer: the check fails naming the reason. The suite calls
//! `shutdown` at the end of each check that passes.
//!
//! # How it judges
//!
//! The oracle is the reference evaluator ([`storage_api::evaluator`]) over a model of what the suite
//! wrote: every list answer must be exactly the evaluator's (same items in the same order, same
//! JSON, continue token present exactly when more items remain, exact remaining count); owner
//! queries are resolved with [`storage_api::evaluator::resolve_owner_uids`] over every stored object of
//! the cluster. Items are compared by identity (cluster, resource, namespace, name), then by
//! their indexed fields and their JSON. The data are the [`fixtures`]: a few hundred realistic
//! objects built to trip the usual bugs (same names everywhere, missing labels, time ties,
//! resource versions crossing a power of ten, owner chains, events). List options are always
//! built the way the apiserver builds them, through
//! [`storage_api::query::params::parse_list_options`]; so are the next pages (`continue=<token>`).
//!
//! # What a layer author must know
//!
//! - **Resource versions.** `metadata.resourceVersion` is ignored when comparing JSON and
//!   `IndexedFields::resource_version` when comparing fields: a watch-capable layer may replace
//!   it with its own. But `resource_versions(cluster)` must report the **member cluster's**
//!   version of each object (what the synchro compares after a restart), `order by
//!   resource_version` sorts by the member version **as a number**, and every event of a watch
//!   carries the layer's version in `metadata.resourceVersion`, strictly increasing (compared
//!   as numbers where they are digits, e.g. `12 < 101`, `a.9 < a.10`).
//! - **`422 Invalid`.** A layer may refuse a well-formed query with [`StorageError::Invalid`]
//!   only for a field selector on a list field (`spec.containers[].name`, `[0]`) and for a label
//!   selector with `>` or `<`; the suite prints a note for each refusal. Every other query must
//!   be answered, and every answer must equal the oracle's.
//! - **Injected events.** With `search.clusterpedia.io/inject-events=true` every item carries the
//!   annotation `shadow.clusterpedia.io/events`, a JSON array of exactly the events recorded for
//!   it; **an object without events carries an empty array `[]`**, not a missing annotation
//!   (this is what [`storage_api::evaluator::present`] does). The order of the events in the array is
//!   free (the suite orders them by uid); an event recorded again with the same uid replaces
//!   the previous one; events follow their object: an upsert keeps them, a delete drops them.
//!   Events are matched by cluster and `involvedObject.uid` among the objects of the storage
//!   they are recorded on; events of unknown objects are dropped without error.
//! - **Stored resource types** must list each (cluster, resource) with at least one stored
//!   object, with the kind and scope of its configuration, and none of a cleaned cluster or
//!   cleaned resource.
//! - **Collections.** Every layer offers [`storage_api::collection::builtin`] (`any`, `workloads`,
//!   `kuberesources`); [`CollectionPage::resource_types`](storage_api::CollectionPage) are the
//!   distinct [`StoredResourceType`](storage_api::StoredResourceType)s of the page's items
//!   (cluster included) in order of first appearance.
//! - **Watch.** Checked only when `supported_verbs()` has [`Verb::Watch`](storage_api::Verb);
//!   otherwise every watch check asserts that `watch` answers `405 MethodNotSupported`. A
//!   watch-capable layer sets `ListPage::resource_version`; a watch without a resource version
//!   starts with `ADDED` for every matching object; one from a version (of a list or of an
//!   event) delivers exactly the later changes; watches honour clusters, namespaces, names and
//!   both selectors; a version older than the layer keeps answers `410 Expired` (the suite
//!   writes up to [`checks::watch::EXPIRY_BOUND`] changes to find the window); a malformed one
//!   `400`.
//!
//! - **Full-text search.** Checked only when `supports_full_text()` is true; otherwise every
//!   full-text check asserts that a list with the `query` parameter answers `400` naming
//!   `query` ([`StorageError::full_text_unsupported`]). Under the relevance order (no
//!   `orderby`) items are compared as sets (the score is the layer's own) and the order through
//!   paging; with an `orderby`, exactly.
//!
//! No check is ever skipped: there is no opt-out list. A check that does not apply to a layer
//! (watch, full-text search) asserts the layer's refusal instead.

pub mod checks;
pub mod fixtures;
pub mod harness;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

pub use fixtures::{FixtureSpec, Fixtures, generate_pods};
pub use harness::{Harness, Query};

use storage_api::StorageFactory;
use storage_api::error::StorageError;

/// The longest a single check may take before it fails (a layer call hangs).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the suite waits for the layer's constructor.
pub const FACTORY_TIMEOUT: Duration = Duration::from_secs(60);

/// What the macro hands to [`run`]: a fresh, empty layer.
pub type FactoryFuture = BoxFuture<'static, Arc<dyn StorageFactory>>;

/// One check of the suite.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Its theme (a module of [`checks`](mod@checks)).
    pub theme: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Runs it against the layer in the harness.
    pub run: fn(Harness) -> BoxFuture<'static, ()>,
}

/// Runs one check against a fresh layer from `new_factory`, on a new multi-thread tokio runtime,
/// within [`CHECK_TIMEOUT`]; panics (failing the test) on the first difference.
pub fn run<C, F>(name: &str, new_factory: fn() -> FactoryFuture, check: C)
where
    C: FnOnce(Harness) -> F,
    F: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the conformance check");
    runtime.block_on(async {
        let factory = tokio::time::timeout(FACTORY_TIMEOUT, new_factory())
            .await
            .unwrap_or_else(|_| {
                panic!("{name}: the layer's constructor did not finish within {FACTORY_TIMEOUT:?}")
            });
        let harness = Harness::new(factory.clone(), harness::default_fixtures());
        if tokio::time::timeout(CHECK_TIMEOUT, check(harness))
            .await
            .is_err()
        {
            panic!("{name}: the check did not finish within {CHECK_TIMEOUT:?}: a layer call hangs");
        }
        factory
            .shutdown()
            .await
            .unwrap_or_else(|e: StorageError| panic!("{name}: shutdown failed: {e}"));
    });
}

/// Every check of the suite, in the order of the macro's tests (for custom runners).
pub fn all_checks() -> Vec<Check> {
    macro_rules! registry {
        ([] $($theme:ident { $($check:ident),* $(,)? })*) => {
            vec![$($(
                Check {
                    theme: stringify!($theme),
                    name: stringify!($check),
                    run: |harness| Box::pin(checks::$theme::$check(harness)),
                },
            )*)*]
        };
    }
    crate::__conformance_checks!(registry, [])
}

/// Expands to one `#[test]` per conformance check, each against a fresh, empty layer built by
/// `$new_factory`: the path of an `async fn() -> Arc<dyn StorageFactory>` (it may panic with a
/// message when it cannot build the layer). The tests are named `conformance::<theme>::<check>`.
/// See the [crate] documentation for what the checks assert.
#[macro_export]
macro_rules! conformance_tests {
    ($new_factory:path $(,)?) => {
        #[allow(missing_docs, unused_imports)]
        mod conformance {
            use super::*;

            fn __new_factory() -> $crate::FactoryFuture {
                ::std::boxed::Box::pin(async { $new_factory().await })
            }
            $crate::__conformance_checks!($crate::__conformance_test_fns, [__new_factory]);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ([$new_factory:ident] $($theme:ident { $($check:ident),* $(,)? })*) => {
        $(
            mod $theme {
                $(
                    #[test]
                    fn $check() {
                        $crate::run(
                            concat!(stringify!($theme), "::", stringify!($check)),
                            super::$new_factory,
                            $crate::checks::$theme::$check,
                        );
                    }
                )*
            }
        )*
    };
}

/// The list of every check, by theme: the one place a new check is registered. Calls
/// `$callback! { [$args] theme { check, ... } ... }`.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checks {
    ($($callback:ident)::+, [$($args:tt)*]) => {
        $($callback)::+! {
            [$($args)*]
            crud {
                create_then_get,
                create_existing_is_already_exists,
                update_missing_is_not_found,
                get_missing_is_not_found,
                delete_missing_is_ok,
                delete_then_get_is_not_found,
                update_replaces_object_and_its_index,
                apply_batch_upserts_and_deletes,
                create_every_fixture_object,
            }
            list_filters {
                list_everything,
                clusters_namespaces_and_names,
                label_selectors,
                label_selectors_greater_and_less,
                field_selectors,
                field_selectors_on_lists,
                fuzzy_names,
                creation_time_ranges,
                only_metadata,
                combined_filters,
                empty_results,
                access_scope,
            }
            order {
                order_by_each_field,
                order_by_several_fields,
                default_order,
            }
            paging {
                walks_every_page,
                without_continue,
                continue_tokens_are_bound_to_their_query,
                while_writing,
                offsets,
            }
            owner {
                owner_uid,
                owner_name_and_seniority,
                owner_group_resource,
                owner_namespaces,
                owner_with_filters_and_paging,
            }
            events {
                inject_events,
                events_of_unknown_objects_are_dropped,
                recorded_again_replaces,
                events_follow_their_object,
            }
            resource_versions {
                map_stored_objects_and_events,
                follow_writes,
                unknown_cluster_is_empty,
            }
            cleanup {
                clean_cluster,
                clean_cluster_resource,
                stored_resource_types,
            }
            collections {
                builtin_collections_offered,
                workloads,
                kuberesources,
                any_with_explicit_types,
                order_and_paging_across_types,
            }
            watch {
                initial_and_live_events,
                resume_from_list_resource_version,
                resume_from_event_resource_version,
                filtered,
                expired,
                malformed_resource_version,
            }
            full_text {
                words_of_each_field,
                all_words_any_case,
                relevance_paging,
                explicit_order,
                follows_writes,
            }
            bad_input {
                get_with_empty_or_unknown_keys,
                unknown_clusters_list_nothing,
                literal_names_and_fuzzy_wildcards,
                empty_layer,
            }
        }
    };
}
