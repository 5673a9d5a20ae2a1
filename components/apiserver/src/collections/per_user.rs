//! A collection search under `--member-rbac-filter`: each resource type of the collection is
//! filtered by where the user may `list` it in each member cluster.
//!
//! The types are grouped by their access scope ([`Group`]). One group is one list of the layer,
//! with the group's types and its scope in the options, as for a resource. Several groups are
//! several lists, one per group (each filtered by the layer inside its query), all starting
//! after the same continue position, merged here in the list's total order
//! ([`ListOptions::effective_order`]): the merged page is the page of the union, its remaining
//! count the sum of theirs, so paging, continue tokens and counts stay exact.
//!
//! Bounded cost: each group may supply the whole page, so a merged page is cut to
//! `max_limit / groups` items (with a continue token for the rest, as Kubernetes allows), and
//! the layer is asked for at most `max_limit` items in all. `offset` paging is served within
//! that budget only; continue tokens have no depth limit.

use std::collections::HashMap;

use storage_api::collection::CollectionResourceType;
use storage_api::evaluator::{Evaluator, present};
use storage_api::query::paging::Listed;
use storage_api::query::params::RequestScope;
use storage_api::query::{AccessScope, ContinuePosition, NamespaceAccess, OrderField, SortValue};
use storage_api::{
    CollectionPage, CollectionResourceStorage, Gvr, ListOptions, ListPage, ResourceObject,
    StorageError, StoredResourceType,
};

use crate::error::ApiError;
use crate::request::RequestQuery;

/// Resource types of a collection that the user may list in the same places.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Where the user may list them.
    pub(crate) scope: AccessScope,
    /// The stored types (group, version and resource each).
    pub(crate) types: Vec<CollectionResourceType>,
}

/// One page of the objects of `groups`' types for `query`, each type filtered by its group's
/// scope; the page holds at most `max_limit` items.
pub(crate) async fn list(
    storage: &dyn CollectionResourceStorage,
    query: &RequestQuery,
    groups: &[Group],
    max_limit: u64,
) -> Result<CollectionPage, ApiError> {
    // The union binds a continue token to this user's access, as for resources (the merged
    // list's identity binds it to each group's).
    let request = RequestScope {
        access: Some(union(groups)),
        ..RequestScope::default()
    };
    let mut options = query.list_options(&request)?;
    super::cut_to_a_page(&mut options, max_limit);
    match groups {
        [] => Ok(CollectionPage::default()),
        [group] => Ok(storage.list(&group.types, &options).await?),
        _ => merged(storage, groups, &options, max_limit).await,
    }
}

/// Every (cluster, namespace) of some group.
fn union(groups: &[Group]) -> AccessScope {
    let mut union = AccessScope::default();
    for group in groups {
        for (cluster, access) in &group.scope.clusters {
            let entry = union
                .clusters
                .entry(cluster.clone())
                .or_insert_with(|| NamespaceAccess::Only(Default::default()));
            match (&mut *entry, access) {
                (NamespaceAccess::All, _) => {}
                (_, NamespaceAccess::All) => *entry = NamespaceAccess::All,
                (NamespaceAccess::Only(mine), NamespaceAccess::Only(theirs)) => {
                    mine.extend(theirs.iter().cloned());
                }
            }
        }
    }
    union
}

/// What a merged list is of, for its continue tokens: each group's scope and types (a token
/// resumes only a list of the same types seen in the same places).
fn merged_listed(groups: &[Group]) -> Vec<CollectionResourceType> {
    groups
        .iter()
        .flat_map(|group| {
            std::iter::once(CollectionResourceType::new(
                "",
                "",
                &format!("access {}", group.scope),
            ))
            .chain(group.types.iter().cloned())
        })
        .collect()
}

/// The page of the union of one list per group (`options` already cut to a page).
pub(crate) async fn merged(
    storage: &dyn CollectionResourceStorage,
    groups: &[Group],
    options: &ListOptions,
    max_limit: u64,
) -> Result<CollectionPage, ApiError> {
    let order = options.effective_order();
    if order.iter().any(|o| o.field == OrderField::Relevance) {
        // A layer may score relevance its own way: its order could not be merged exactly.
        return Err(ApiError::bad_request(
            "a full-text search of a collection whose resource types you may list in different \
             places (--member-rbac-filter) needs an orderby: relevance order cannot be merged \
             across them",
        ));
    }
    let listed = merged_listed(groups);
    let position = match &options.continue_from {
        Some(position) => {
            if *position
                != ContinuePosition::new(Listed::Collection(&listed), position.values.clone())
            {
                return Err(StorageError::bad_request(
                    "continue",
                    "the continue token belongs to another list (a token only resumes the list \
                     that made it, for the same user and access rights)",
                )
                .into());
            }
            Some(position.values.clone())
        }
        None => None,
    };
    let budget = (max_limit / groups.len() as u64).max(1);
    let offset = options.effective_offset();
    let wanted = options.limit.unwrap_or(max_limit);
    if wanted > 0 && offset >= budget {
        return Err(ApiError::bad_request(format!(
            "offset {offset} is too deep for a collection whose resource types you may list in \
             different places (--member-rbac-filter): at most {} here; page with continue tokens",
            budget - 1
        )));
    }
    let limit = wanted.min(budget.saturating_sub(offset));
    // Metadata-only items have no JSON to sort by a path: strip them after the merge.
    let strip_later =
        options.only_metadata && order.iter().any(|o| matches!(o.field, OrderField::Path(_)));

    let mut fetched: Vec<ResourceObject> = Vec::new();
    let mut types: HashMap<(String, Gvr), StoredResourceType> = HashMap::new();
    let mut total = 0u64;
    let mut more = false;
    let mut resource_version = None;
    for group in groups {
        let mut sub = options.clone();
        sub.access = Some(group.scope.clone());
        sub.offset = 0;
        sub.limit = Some(offset + limit);
        sub.with_continue = true;
        sub.continue_from = position
            .as_ref()
            .map(|values| ContinuePosition::new(Listed::Collection(&group.types), values.clone()));
        if strip_later {
            sub.only_metadata = false;
        }
        let page = storage.list(&group.types, &sub).await?;
        for t in page.resource_types {
            types.insert((t.cluster.clone(), t.gvr.clone()), t);
        }
        total += page.page.items.len() as u64 + page.page.remaining_item_count.unwrap_or(0);
        more |= page.page.continue_token.is_some();
        if resource_version.is_none() {
            resource_version = page.page.resource_version;
        }
        fetched.extend(page.page.items);
    }

    let evaluator = Evaluator::new(options, None);
    let mut keyed: Vec<(Vec<SortValue>, ResourceObject)> = fetched
        .into_iter()
        .map(|item| Ok((evaluator.sort_key(&item)?, item)))
        .collect::<Result<_, StorageError>>()?;
    keyed.sort_by(|a, b| evaluator.compare(&a.0, &b.0));
    let fetched = keyed.len() as u64;
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut page: Vec<(Vec<SortValue>, ResourceObject)> =
        keyed.into_iter().skip(skip).take(take).collect();
    let taken = page.len() as u64;
    let remaining_item_count = options
        .with_remaining_count
        .then(|| total.saturating_sub(offset + taken));
    let more = match remaining_item_count {
        Some(remaining) => remaining > 0,
        None => more || fetched > offset + taken,
    };
    let continue_token = match page.last() {
        Some((key, _)) if more && options.with_continue => {
            Some(ContinuePosition::new(Listed::Collection(&listed), key.clone()).encode(options))
        }
        _ => None,
    };
    let mut metadata_only = ListOptions::default();
    metadata_only.only_metadata = true;
    let items = page
        .drain(..)
        .map(|(_, item)| {
            if strip_later {
                present(&metadata_only, item, &[])
            } else {
                Ok(item)
            }
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    let page = ListPage {
        items,
        continue_token,
        remaining_item_count,
        resource_version,
    };
    Ok(CollectionPage::from_page(page, |item| {
        types
            .get(&(item.fields.cluster.to_string(), (*item.fields.gvr).clone()))
            .cloned()
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use storage_api::StorageFactory as _;
    use storage_api::query::OrderBy;
    use storage_conformance::fixtures::{FixtureSpec, Fixtures};

    use super::*;

    /// The fixtures in a reference layer, its `any` collection, and the groups of a user who
    /// sees pods in the whole first cluster, and two other types only in some namespaces of
    /// both clusters.
    async fn setup() -> (Arc<dyn CollectionResourceStorage>, Vec<Group>, ListPage) {
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let factory = storage_api::testing::ReferenceStorageFactory::new();
        crate::tests::load(&factory, &fixtures).await;
        let clusters = fixtures.clusters();
        let pods = Gvr::new("", "v1", "pods");
        let others: Vec<Gvr> = fixtures
            .gvrs()
            .into_iter()
            .filter(|c| c.namespaced && c.gvr != pods && !fixtures.of(&c.gvr).is_empty())
            .map(|c| c.gvr)
            .take(2)
            .collect();
        assert_eq!(others.len(), 2, "two more namespaced types");
        let namespaces: BTreeSet<String> = fixtures
            .objects
            .iter()
            .map(|o| o.fields.namespace.to_string())
            .filter(|n| !n.is_empty())
            .collect();
        let some: BTreeSet<String> = namespaces.iter().step_by(2).cloned().collect();
        assert!(!some.is_empty() && some.len() < namespaces.len());
        let concrete =
            |gvr: &Gvr| CollectionResourceType::new(&gvr.group, &gvr.version, &gvr.resource);
        let groups = vec![
            Group {
                scope: AccessScope {
                    clusters: [(clusters[0].clone(), NamespaceAccess::All)].into(),
                },
                types: vec![concrete(&pods)],
            },
            Group {
                scope: AccessScope {
                    clusters: clusters
                        .iter()
                        .map(|c| (c.clone(), NamespaceAccess::Only(some.clone())))
                        .collect(),
                },
                types: others.iter().map(concrete).collect(),
            },
        ];
        let collection = factory.collection_resources()[0].clone();
        let storage = factory
            .new_collection_resource_storage(&collection)
            .await
            .expect("collection");
        // The oracle: the whole collection, unfiltered, in order, kept where each type's scope
        // allows it.
        let all: Vec<CollectionResourceType> =
            groups.iter().flat_map(|g| g.types.clone()).collect();
        let mut whole = storage
            .list(&all, &ListOptions::default())
            .await
            .expect("list")
            .page;
        whole.items.retain(|item| {
            groups.iter().any(|g| {
                g.types.iter().any(|t| t.matches(&item.fields.gvr))
                    && g.scope.allows(&item.fields.cluster, &item.fields.namespace)
            })
        });
        (storage, groups, whole)
    }

    fn key(item: &ResourceObject) -> String {
        format!("{} {}", item.fields.gvr, item.fields.key())
    }

    fn keys(items: &[ResourceObject]) -> Vec<String> {
        items.iter().map(key).collect()
    }

    /// Paged through with continue tokens, the merged list is the oracle's, each page's
    /// remaining count exact; a page is cut to the budget (`max_limit / groups`).
    #[tokio::test]
    async fn merged_pages_are_the_pages_of_the_union() {
        let (storage, groups, whole) = setup().await;
        assert!(whole.items.len() > 20, "{} items", whole.items.len());
        for (limit, max_limit) in [(3, 5000), (7, 5000), (50, 10)] {
            let mut seen = Vec::new();
            let mut token: Option<ContinuePosition> = None;
            loop {
                let mut options = ListOptions::default();
                options.limit = Some(limit);
                options.with_remaining_count = true;
                options.continue_from = token.take();
                options.access = Some(union(&groups));
                let page = merged(&*storage, &groups, &options, max_limit)
                    .await
                    .expect("page");
                let size = page.page.items.len() as u64;
                assert!(size <= limit.min(max_limit / 2), "{size} items");
                seen.extend(keys(&page.page.items));
                assert_eq!(
                    page.page.remaining_item_count,
                    Some((whole.items.len() - seen.len()) as u64),
                    "limit {limit}"
                );
                for item in &page.page.items {
                    assert!(
                        page.resource_types.iter().any(|t| t.gvr == *item.fields.gvr
                            && t.cluster == *item.fields.cluster),
                        "the type of each item is named"
                    );
                }
                match page.page.continue_token {
                    Some(next) => {
                        token = Some(ContinuePosition::decode(&next, &options).expect("token"));
                    }
                    None => break,
                }
            }
            assert_eq!(seen, keys(&whole.items), "limit {limit}, max {max_limit}");
        }
    }

    /// Another order, an offset within the budget, and a token of other access rights.
    #[tokio::test]
    async fn merged_order_offset_and_foreign_tokens() {
        let (storage, groups, whole) = setup().await;
        let order_by = vec![OrderBy {
            field: OrderField::Name,
            descending: true,
        }];
        let mut options = ListOptions::default();
        options.order_by = order_by;
        options.access = Some(union(&groups));
        options.limit = Some(4);
        options.offset = 2;
        let page = merged(&*storage, &groups, &options, 5000)
            .await
            .expect("page");
        let evaluator = Evaluator::new(&options, None);
        let mut sorted: Vec<(Vec<SortValue>, &ResourceObject)> = whole
            .items
            .iter()
            .map(|i| (evaluator.sort_key(i).expect("key"), i))
            .collect();
        sorted.sort_by(|a, b| evaluator.compare(&a.0, &b.0));
        let expected: Vec<String> = sorted[2..6].iter().map(|(_, i)| key(i)).collect();
        assert_eq!(keys(&page.page.items), expected);
        let mut too_deep = options.clone();
        too_deep.offset = 2500;
        let error = merged(&*storage, &groups, &too_deep, 5000)
            .await
            .expect_err("too deep");
        assert!(error.message.contains("offset 2500"), "{}", error.message);

        // A token of the list of other groups (the same types seen elsewhere) is refused.
        let token = page.page.continue_token.expect("more");
        let position = ContinuePosition::decode(&token, &options).expect("token");
        let mut elsewhere = groups.clone();
        elsewhere[0].scope = elsewhere[1].scope.clone();
        elsewhere[1].scope.clusters.clear();
        let mut resumed = options;
        resumed.continue_from = Some(position);
        resumed.offset = 0;
        let error = merged(&*storage, &elsewhere, &resumed, 5000)
            .await
            .expect_err("foreign token");
        assert!(error.message.contains("continue"), "{}", error.message);
    }
}
