//! The suite proves itself: it passes on the reference layer of storage-api, and each
//! deliberately broken variant of that layer fails the check that targets its bug, with a
//! message that names the problem.

use std::sync::Arc;

use storage_api::StorageFactory;
use storage_api::testing::ReferenceStorageFactory;

async fn new_factory() -> Arc<dyn StorageFactory> {
    Arc::new(ReferenceStorageFactory::new())
}

storage_conformance::conformance_tests!(new_factory);

#[test]
fn the_registry_lists_every_check_once() {
    let checks = storage_conformance::all_checks();
    let mut names: Vec<String> = checks
        .iter()
        .map(|c| format!("{}::{}", c.theme, c.name))
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), checks.len());
    assert!(checks.len() >= 50, "{} checks", checks.len());
}

/// Broken variants of the reference layer, each rejected by the check that targets its bug,
/// with a message that names the problem.
mod mutants {
    use std::sync::Arc;

    use storage_api::testing::{ReferenceBug, ReferenceStorageFactory};
    use storage_conformance::{FactoryFuture, checks, run};

    macro_rules! mutants {
        ($($name:ident: $bug:ident fails $theme:ident::$check:ident with $expected:literal;)*) => {$(
            #[test]
            #[should_panic(expected = $expected)]
            fn $name() {
                fn factory() -> FactoryFuture {
                    Box::pin(async { Arc::new(ReferenceStorageFactory::with_bug(ReferenceBug::$bug)) as _ })
                }
                run(stringify!($name), factory, checks::$theme::$check);
            }
        )*};
    }

    /// A layer without watch passes every watch check (each asserts the `405`).
    #[test]
    fn a_layer_without_watch_passes_the_watch_checks() {
        fn factory() -> FactoryFuture {
            Box::pin(async {
                Arc::new(ReferenceStorageFactory::with_bug(
                    ReferenceBug::WithoutWatch,
                )) as _
            })
        }
        for check in storage_conformance::all_checks()
            .into_iter()
            .filter(|c| c.theme == "watch")
        {
            run(check.name, factory, check.run);
        }
    }

    /// A layer without full-text search passes every full-text check (each asserts the `400`).
    #[test]
    fn a_layer_without_full_text_passes_the_full_text_checks() {
        fn factory() -> FactoryFuture {
            Box::pin(async {
                Arc::new(ReferenceStorageFactory::with_bug(
                    ReferenceBug::WithoutFullText,
                )) as _
            })
        }
        for check in storage_conformance::all_checks()
            .into_iter()
            .filter(|c| c.theme == "full_text")
        {
            run(check.name, factory, check.run);
        }
    }

    mutants! {
        dedup_by_name: DedupByName fails crud::create_every_fixture_object with "the items differ";
        dedup_by_name_in_filters: DedupByName fails list_filters::clusters_namespaces_and_names with "missing (first 5)";
        token_when_page_full: TokenWhenPageFull fails paging::walks_every_page with "got a continue token, want no continue token";
        resume_inclusive: ResumeInclusive fails paging::walks_every_page with "the items differ";
        resume_inclusive_while_writing: ResumeInclusive fails paging::while_writing with "while writing, page 2: the items differ";
        not_equals_needs_label: NotEqualsNeedsLabel fails list_filters::label_selectors with "labelSelector=tier notin (frontend): the items differ";
        no_empty_events_array: NoEmptyEventsArray fails events::inject_events with "shadow.clusterpedia.io/events";
        events_survive_delete: EventsSurviveDelete fails events::events_follow_their_object with "the JSON differs";
        member_version_replaced: MemberVersionReplaced fails resource_versions::map_stored_objects_and_events with "resources[";
        member_version_order: MemberVersionReplaced fails order::order_by_each_field with "orderby=resource_version";
        watch_unfiltered: WatchUnfiltered fails watch::filtered with "live changes, event";
        no_expiry: NoExpiry fails watch::expired with "410 Expired";
        owner_ignores_group_resource: OwnerIgnoresGroupResource fails owner::owner_group_resource with "ownerGR=services";
        unadvertised_watch: UnadvertisedWatch fails watch::initial_and_live_events with "want an error with status 405";
        before_inclusive: BeforeInclusive fails list_filters::creation_time_ranges with "before=";
        full_text_ignored: FullTextIgnored fails full_text::words_of_each_field with "query=quokka";
        full_text_first_word_only: FullTextFirstWordOnly fails full_text::all_words_any_case with "query=quokka wombat";
        unadvertised_full_text: UnadvertisedFullText fails full_text::words_of_each_field with "want an error with status 400";
    }
}
