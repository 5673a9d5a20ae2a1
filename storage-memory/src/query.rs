//! Lists: the reference evaluator over the store, with the store's order as an index.
//!
//! Every query feature is evaluated by [`storage_api::evaluator`], so the memory layer answers
//! exactly what the conformance oracle answers. The store only narrows and orders the walk:
//!
//! - the clusters (and, with clusters, the namespaces) of a query are key ranges of a table;
//! - in the default order (cluster, namespace, name) a table's key order *is* the list order,
//!   so a page is one ordered walk from the continue position that stops after `limit` items
//!   (plus the count of the rest, when asked): no sort, and a deep page costs what the first
//!   does;
//! - a one-field order with an index walks that index from the continue position's place in
//!   it; when a label or owner index narrows the candidates, the walk keeps only the
//!   candidates' entries (by id: the label or owner set's id bitmap, or a bitset of the
//!   objects found; the entries skipped are not read) and stops after the page; the walk is given as many steps as selecting the candidates would
//!   cost, so a large share of the table is always walked; when the walk would be long (few
//!   candidates) or gives up (candidates bunched at the far end of the order), only the page's
//!   share of the candidates is selected by the order's key (linear in the candidates, no
//!   full sort);
//! - any other order (and collection resources, which interleave tables) goes through
//!   [`Evaluator::page`].
//!
//! # Lock hold times
//!
//! Only cheap work runs under the store's read lock (writers wait for it). A default-order page
//! without a field selector is walked under the lock, since it stops after `limit` items and
//! needs no JSON. Anything that parses JSON (field selectors, orders by a path) or sorts
//! (other orders, collections) first takes a snapshot of the candidates under the lock (the
//! objects passing the indexed filters, as `Arc` clones) and does the rest after releasing it.
//! Presenting the items (`onlyMetadata`, `inject-events`) also runs without the lock.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use roaring::RoaringBitmap;
use storage_api::collection::CollectionResourceType;
use storage_api::evaluator::{Evaluator, present, resolve_owner_uids};
use storage_api::query::label_selector::{LabelOperator, LabelSelector};
use storage_api::query::paging::{Listed, Page, Pager};
use storage_api::query::{OrderBy, OrderField, SortValue};
use storage_api::{
    CollectionPage, Gvr, IndexedFields, ListOptions, ListPage, ResourceObject, Result,
    StorageError, StoredResourceType,
};

use crate::index::{
    BY_CLUSTER, BY_CREATED, BY_NAME, BY_NAMESPACE, BY_RV, IdSet, MemberSet, ObjectId, compare_keys,
    first_in_order, group_key, key_of, key_range, namespace_range, objects_named, position_key,
    sort_by, walk,
};
use crate::store::{KeyRef, Scope, Shared, Slot, Store, Table};

/// The name of the owner parameter `options` uses, for errors.
pub(crate) fn owner_parameter(options: &ListOptions) -> &'static str {
    match &options.owner {
        Some(owner) if owner.uid.is_none() && owner.name.is_some() => "ownerName",
        _ => "ownerUID",
    }
}

/// The owner uids an owner query of `options` selects (`None` without an owner query).
///
/// Owners are resolved within one cluster (every resource of it), so an owner query must name
/// exactly one cluster (the request parser enforces it; options built by hand may not).
fn owner_uids(store: &Store, options: &ListOptions) -> Result<Option<HashSet<String>>> {
    let Some(owner) = &options.owner else {
        return Ok(None);
    };
    let [cluster] = options.clusters.as_slice() else {
        return Err(StorageError::bad_request(
            owner_parameter(options),
            "an owner query must name exactly one cluster",
        ));
    };
    // Only the objects the resolution can pick are handed to it: those named like the owner
    // (by the name indexes) and those owned, down the chain, by what was found before (by the
    // owner indexes). The resolution itself (which of them count) is the shared one.
    let mut objects: Vec<&IndexedFields> = Vec::new();
    let mut level: HashSet<&str> = match (&owner.uid, &owner.name) {
        (Some(uid), _) => HashSet::from([uid.as_str()]),
        (None, Some(name)) => {
            let named = store
                .tables()
                .flat_map(|table| objects_named(&table.indexes.by_name, name, Some(cluster)))
                .map(|entry| &entry.object.fields);
            objects.extend(named);
            objects.iter().map(|o| o.uid.as_str()).collect()
        }
        (None, None) => HashSet::new(),
    };
    for _ in 0..owner.seniority {
        if level.is_empty() {
            break;
        }
        let mut next = HashSet::new();
        for table in store.tables() {
            for uid in &level {
                let Some(owned) = table.indexes.owned_by(uid) else {
                    continue;
                };
                for object in key_range(&owned.objects, Some((cluster, "", "")))
                    .take_while(|o| *o.fields.cluster == **cluster)
                {
                    objects.push(&object.fields);
                    next.insert(object.fields.uid.as_str());
                }
            }
        }
        level = next;
    }
    Ok(Some(resolve_owner_uids(
        owner,
        &options.namespaces,
        &objects,
    )))
}

/// Where a continue position in the default order lets a walk of one table start: the key of
/// its first three values (cluster, namespace, name), when they are texts.
fn seek_key(values: &[SortValue]) -> Option<KeyRef<'_>> {
    match values {
        [
            SortValue::Str(cluster),
            SortValue::Str(namespace),
            SortValue::Str(name),
            ..,
        ] => Some(KeyRef {
            cluster,
            namespace,
            name,
        }),
        _ => None,
    }
}

/// A page whose items are still as stored.
type RawPage = Page<Arc<ResourceObject>>;

/// [`Evaluator::page`] for the default order over `objects` already in key order.
///
/// In the default order (cluster, namespace, name, group, version, resource) the objects of one
/// resource sort exactly as their keys, so a walk in key order yields them ordered: skip to the
/// continue position (or past the offset), fetch what the [`Pager`] asks, then count the
/// matching rest only as far as the options need it. The page is the one
/// [`Evaluator::page`] would return, continue token included.
fn key_order_page<'a>(
    objects: impl IntoIterator<Item = &'a Arc<ResourceObject>>,
    evaluator: &Evaluator<'_>,
    pager: &Pager<'_>,
) -> Result<RawPage> {
    let position = pager.position();
    let offset = pager.offset();
    let fetch = pager
        .fetch_limit()
        .map(|f| usize::try_from(f).unwrap_or(usize::MAX));
    let counting = pager.counts_remaining();
    let mut fetched: Vec<Arc<ResourceObject>> = Vec::new();
    let mut passed_position = false;
    // The matching objects after the position, the offset's included.
    let mut counted = 0u64;
    for object in objects {
        if !counting && fetch.is_some_and(|f| fetched.len() >= f) {
            // The extra item fetched is all a continue token needs to know.
            break;
        }
        if let Some(position) = position
            && !passed_position
        {
            // Only the few objects between the seek key and the position itself compare here.
            let key = evaluator.sort_key(object)?;
            if evaluator.compare(&key, &position.values).is_le() {
                continue;
            }
            passed_position = true;
        }
        if !evaluator.matches(object)? {
            continue;
        }
        counted += 1;
        if counted > offset && fetch.is_none_or(|f| fetched.len() < f) {
            fetched.push(object.clone());
        }
    }
    pager.finish(fetched, counting.then_some(counted), |last| {
        evaluator.sort_key(last)
    })
}

/// The objects of `tables` within the scope of `options` that pass the indexed filters, from
/// `from` on (a snapshot: `Arc` clones).
fn candidates<'a>(
    tables: impl IntoIterator<Item = &'a Table>,
    scope: &Scope,
    from: Option<KeyRef<'_>>,
    evaluator: &Evaluator<'_>,
) -> Vec<Arc<ResourceObject>> {
    tables
        .into_iter()
        .flat_map(|table| table.scan(scope, from))
        .filter(|slot| evaluator.matches_fields(&slot.object.fields))
        .map(|slot| slot.object.clone())
        .collect()
}

/// The events of each item, when the options inject them (under a short read lock).
fn events_of(
    shared: &Shared,
    items: &[Arc<ResourceObject>],
    options: &ListOptions,
) -> Vec<Vec<Bytes>> {
    if !options.inject_events {
        return Vec::new();
    }
    let store = shared.read();
    items
        .iter()
        .map(|item| {
            store
                .table(&item.fields.gvr)
                .and_then(|table| table.get(KeyRef::of(item)))
                .filter(|slot| slot.object.fields.uid == item.fields.uid)
                .map(Slot::event_bytes)
                .unwrap_or_default()
        })
        .collect()
}

/// Readies a page for the response: events and `onlyMetadata` ([`present`]), without the lock.
fn finish(
    shared: &Shared,
    page: RawPage,
    revision: u64,
    options: &ListOptions,
) -> Result<ListPage> {
    let events = events_of(shared, &page.items, options);
    let mut events = events.into_iter();
    let items = page
        .items
        .into_iter()
        .map(|item| {
            let object = Arc::unwrap_or_clone(item);
            if options.inject_events || options.only_metadata {
                present(options, object, &events.next().unwrap_or_default())
            } else {
                Ok(object)
            }
        })
        .collect::<Result<_>>()?;
    Ok(ListPage {
        items,
        continue_token: page.continue_token,
        remaining_item_count: page.remaining_item_count,
        resource_version: Some(revision.to_string()),
    })
}

/// Narrowed candidates at most this many are collected and sorted for a non-default order;
/// more are filtered while walking the order's index (which stops after the page).
const SORT_CAP: usize = 4_096;
/// For a one-field order with an index and a full-text query, narrowed candidates at most this
/// many are sorted by the order's key; more are filtered while walking the order.
const NARROW_SORT_CAP: usize = 50_000;
/// Fuzzy-name hits at most this many are looked up; with more, the name filter is cheap
/// enough to apply while walking (one object in a hundred or more matches).
const FUZZY_CAP: usize = 10_000;

/// The smallest set of candidates an index gives for `options` (a superset of the matches).
enum Narrow<'a> {
    /// Sets of objects (a label's, one per wanted value; an owner's, one per owner uid), each
    /// in key order, no object in two of them.
    Sets(Vec<&'a MemberSet>, Covers),
    /// Objects by key (fuzzy-name hits, names), in no particular order.
    Objects(Vec<Found<'a>>),
}

/// An object of a table found by key, with its id.
#[derive(Debug, Clone, Copy)]
struct Found<'a> {
    object: &'a Arc<ResourceObject>,
    id: ObjectId,
}

/// Which filter of the options membership in [`Narrow::Sets`] decides by itself.
#[derive(Debug, Clone, Copy)]
enum Covers {
    /// The label requirement at this index (`=`, `==` or `in`: the sets of its values).
    Label(usize),
    /// The owner query (the sets of the owner uids it selects).
    Owner,
}

/// `options` without the filter that `covers` (what the rest must still check of candidates
/// taken from the sets).
fn residual(options: &ListOptions, covers: Covers) -> ListOptions {
    let mut residual = options.clone();
    match covers {
        Covers::Label(index) => {
            let mut requirements = options.label_selector.requirements().to_vec();
            requirements.remove(index);
            residual.label_selector = LabelSelector::from_requirements(requirements);
        }
        Covers::Owner => residual.owner = None,
    }
    residual
}

impl<'a> Narrow<'a> {
    fn len(&self) -> usize {
        match self {
            Narrow::Sets(sets, _) => sets.iter().map(|s| s.len()).sum(),
            Narrow::Objects(objects) => objects.len(),
        }
    }

    /// The candidates (each set in key order, one set after the other; objects as found).
    fn objects(&self) -> Box<dyn Iterator<Item = &'a Arc<ResourceObject>> + '_> {
        match self {
            Narrow::Sets(sets, _) => {
                Box::new(sets.iter().flat_map(|set| key_range(&set.objects, None)))
            }
            Narrow::Objects(objects) => Box::new(objects.iter().map(|found| found.object)),
        }
    }

    /// Membership in the candidates by id: the sets' own bitmaps, or the ids of the objects
    /// found marked in an [`IdSet`] of the table.
    fn members(&self, table: &Table) -> Members<'a> {
        match self {
            Narrow::Sets(sets, _) => Members::Sets(sets.iter().map(|set| &set.ids).collect()),
            Narrow::Objects(objects) => {
                let mut ids = IdSet::new(table.indexes.id_bound());
                objects.iter().for_each(|found| ids.insert(found.id));
                Members::Found(ids)
            }
        }
    }
}

/// Membership in narrowed candidates by object id (see [`Narrow::members`]).
enum Members<'a> {
    /// In one of the sets' id bitmaps (kept by the indexes: nothing built per query).
    Sets(Vec<&'a RoaringBitmap>),
    /// Marked in a bitset built for the query.
    Found(IdSet),
}

impl Members<'_> {
    fn contains(&self, id: ObjectId) -> bool {
        match self {
            Members::Sets(sets) => sets.iter().any(|ids| ids.contains(id)),
            Members::Found(ids) => ids.contains(id),
        }
    }
}

/// The narrowest index candidates of `options` in `table`, if any index applies
/// (`owner_uids`: those an owner query selects).
fn narrow<'a>(
    table: &'a Table,
    options: &'a ListOptions,
    owner_uids: Option<&HashSet<String>>,
) -> Option<Narrow<'a>> {
    let mut best: Option<Narrow<'a>> = None;
    let mut consider = |candidate: Narrow<'a>| {
        if best.as_ref().is_none_or(|b| candidate.len() < b.len()) {
            best = Some(candidate);
        }
    };
    for (index, requirement) in options.label_selector.requirements().iter().enumerate() {
        if matches!(
            requirement.operator,
            LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In
        ) {
            consider(Narrow::Sets(
                table
                    .indexes
                    .label_sets(&requirement.key, &requirement.values),
                Covers::Label(index),
            ));
        }
    }
    if let Some(uids) = owner_uids {
        consider(Narrow::Sets(
            uids.iter()
                .filter_map(|uid| table.indexes.owned_by(uid))
                .collect(),
            Covers::Owner,
        ));
    }
    if let Some(part) = options.fuzzy_names.iter().max_by_key(|p| p.len())
        && let Some(hits) = table.indexes.names_containing(part, FUZZY_CAP)
    {
        consider(Narrow::Objects(
            hits.into_iter()
                .filter_map(|(cluster, namespace, name)| {
                    table.get(KeyRef {
                        cluster,
                        namespace,
                        name,
                    })
                })
                .map(|slot| Found {
                    object: &slot.object,
                    id: slot.id,
                })
                .collect(),
        ));
    }
    if !options.names.is_empty() {
        let mut objects = Vec::new();
        let names: std::collections::BTreeSet<&str> =
            options.names.iter().map(String::as_str).collect();
        for name in names {
            objects.extend(
                objects_named(&table.indexes.by_name, name, None).map(|entry| Found {
                    object: &entry.object,
                    id: entry.id,
                }),
            );
        }
        consider(Narrow::Objects(objects));
    }
    best
}

/// The objects of `narrow` in key order from `from` on.
fn key_ordered<'a>(
    narrow: Narrow<'a>,
    from: Option<KeyRef<'a>>,
) -> Box<dyn Iterator<Item = &'a Arc<ResourceObject>> + 'a> {
    let from_key = from.map(|k| (k.cluster, k.namespace, k.name));
    match narrow {
        Narrow::Sets(sets, _) if sets.len() == 1 => Box::new(
            sets.into_iter()
                .flat_map(move |set| key_range(&set.objects, from_key)),
        ),
        Narrow::Sets(sets, _) => {
            let mut objects: Vec<_> = sets
                .into_iter()
                .flat_map(|set| key_range(&set.objects, from_key))
                .collect();
            objects.sort_unstable_by(|a, b| KeyRef::of(a).cmp(&KeyRef::of(b)));
            Box::new(objects.into_iter())
        }
        Narrow::Objects(objects) => {
            let mut objects: Vec<&Arc<ResourceObject>> = objects
                .into_iter()
                .map(|found| found.object)
                .filter(|o| from.is_none_or(|f| KeyRef::of(o) >= f))
                .collect();
            objects.sort_unstable_by(|a, b| KeyRef::of(a).cmp(&KeyRef::of(b)));
            Box::new(objects.into_iter())
        }
    }
}

/// The objects of `table` that `keep` accepts, in the order of a one-field `orderby` with an
/// index, from the continue position's place in it (`position`: its sort values) on; `None`
/// when the order has no index. `keep` is asked before the walk reads an object (see
/// [`walk`]).
fn index_ordered<'a>(
    table: &'a Table,
    order: &OrderBy,
    position: Option<&'a [SortValue]>,
    keep: impl Fn(ObjectId) -> bool + 'a,
) -> Option<Box<dyn Iterator<Item = &'a Arc<ResourceObject>> + 'a>> {
    let indexes = &table.indexes;
    let descending = order.descending;
    // Where the position sits in the index (its group's start when the values do not map:
    // the walk skips what is not after the position).
    fn from<const F: u8>(position: Option<&[SortValue]>) -> Option<crate::index::IndexKey<'_>> {
        position.and_then(|values| position_key::<F>(values).or_else(|| group_key(values)))
    }
    Some(match order.field {
        OrderField::Name => walk(
            &indexes.by_name,
            from::<BY_NAME>(position),
            descending,
            keep,
        ),
        OrderField::Namespace => walk(
            &indexes.by_namespace,
            from::<BY_NAMESPACE>(position),
            descending,
            keep,
        ),
        OrderField::CreatedAt => walk(
            &indexes.by_created,
            from::<BY_CREATED>(position),
            descending,
            keep,
        ),
        OrderField::ResourceVersion => {
            walk(&indexes.by_rv, from::<BY_RV>(position), descending, keep)
        }
        OrderField::Cluster if descending => {
            let from = match position.and_then(|values| values.first()) {
                Some(SortValue::Str(cluster)) => Some(cluster.as_str()),
                Some(_) => return None,
                None => None,
            };
            Box::new(
                table
                    .walk_clusters_desc(from)
                    .filter(move |slot| keep(slot.id))
                    .map(|slot| &slot.object),
            )
        }
        _ => return None,
    })
}

/// A walk of an order's index is given this many steps per candidate before it gives up.
///
/// A step reads one B-tree entry and tests its id (see [`Members`]; measured about 60 ns per step
/// at 200,000 pods on the shared 2-core machine: the tree's leaves are cold), where selecting
/// a candidate reads its object and compares by its key (300-600 ns): a walk that gives up
/// (the candidates lie at the far end of the order) costs about what the selection that
/// follows it costs, and a label with an eighth of the table or more is always walked.
const WALK_STEPS_PER_CANDIDATE: usize = 8;

/// The page of a one-field `orderby` with an index among narrowed candidates, found by walking
/// the order's index from the continue position and keeping the candidates' entries (by id,
/// see [`Members`]: no object read for the entries skipped), stopping after the page.
///
/// The walk steps over the entries between the page's items, where selecting among the
/// candidates reads every one of them: it is tried when the candidates spread over the order
/// would give the page within its step budget ([`WALK_STEPS_PER_CANDIDATE`]), which a large
/// share of the table always does (the whole index is within the budget). `None` when the walk
/// does not apply (no limit, a remaining count asked: those need every candidate) or is not
/// expected to pay off, and when it gives up after its step budget: the caller selects instead.
fn walked_page(
    table: &Table,
    order: &OrderBy,
    narrowed: &Narrow<'_>,
    evaluator: &Evaluator<'_>,
    pager: &Pager<'_>,
) -> Option<Result<RawPage>> {
    if pager.counts_remaining() {
        return None;
    }
    let wanted = usize::try_from(pager.fetch_limit()?)
        .ok()?
        .saturating_add(usize::try_from(pager.offset()).ok()?);
    let candidates = narrowed.len().max(1);
    let budget = candidates.saturating_mul(WALK_STEPS_PER_CANDIDATE);
    // The steps to the page's last item when the candidates are spread evenly over the order.
    let spread = wanted.saturating_mul(table.len()) / candidates;
    if spread > budget {
        return None;
    }
    let members = narrowed.members(table);
    let steps = Cell::new(0usize);
    let position = pager.position().map(|p| p.values.as_slice());
    let keep = |id: ObjectId| {
        steps.set(steps.get() + 1);
        // Past the budget every entry is let through, to end the walk at once (below).
        steps.get() > budget || members.contains(id)
    };
    let objects = index_ordered(table, order, position, keep)?;
    let page = key_order_page(
        objects.take_while(|_| steps.get() <= budget),
        evaluator,
        pager,
    );
    (steps.get() <= budget).then_some(page)
}

/// The fetched items of a one-field `orderby` on index field `F` (in that order, the offset
/// skipped) among narrowed `candidates`, and the count of the matching ones after the continue
/// position: the candidates after the position are kept (compared by their index key, no sort
/// key built), and only the page's share of them is selected and sorted, which is linear in
/// the candidates rather than `c log c`. `None` when the continue position does not map onto
/// the index.
///
/// `checker` decides which candidates match (the list's evaluator, or one without the filter
/// the candidates' index already decided); only for options whose filters need no JSON (no
/// field selector, no full-text query).
fn selected_page<'a, const F: u8>(
    candidates: impl Iterator<Item = &'a Arc<ResourceObject>>,
    checker: &Evaluator<'_>,
    pager: &Pager<'_>,
    descending: bool,
) -> Option<(Vec<Arc<ResourceObject>>, u64)> {
    let after = match pager.position() {
        Some(position) => Some(position_key::<F>(&position.values)?),
        None => None,
    };
    let mut kept: Vec<&Arc<ResourceObject>> = candidates
        .filter(|o| {
            after
                .as_ref()
                .is_none_or(|a| compare_keys(&key_of::<F>(&o.fields), a, descending).is_gt())
        })
        .filter(|o| checker.matches_fields(&o.fields))
        .collect();
    let counted = kept.len() as u64;
    let offset = usize::try_from(pager.offset()).unwrap_or(usize::MAX);
    let take = pager
        .fetch_limit()
        .map_or(usize::MAX, |f| usize::try_from(f).unwrap_or(usize::MAX))
        .saturating_add(offset);
    first_in_order::<F>(&mut kept, take, descending);
    Some((kept.into_iter().skip(offset).cloned().collect(), counted))
}

/// The candidates of `narrowed` that pass the indexed filters of `evaluator` (a snapshot).
fn narrowed_snapshot(narrowed: &Narrow<'_>, evaluator: &Evaluator<'_>) -> Vec<Arc<ResourceObject>> {
    narrowed
        .objects()
        .filter(|o| evaluator.matches_fields(&o.fields))
        .cloned()
        .collect()
}

/// One page of resource `gvr` for `options`.
pub(crate) fn list_resource(shared: &Shared, gvr: &Gvr, options: &ListOptions) -> Result<ListPage> {
    let scope = Scope::new(&options.clusters, &options.namespaces);
    let key_order = options.is_key_order();
    let from = options
        .continue_from
        .as_ref()
        .filter(|_| key_order)
        .and_then(|p| seek_key(&p.values));
    let listed = Listed::Resource(gvr);
    let pager = Pager::new(options, listed)?;
    let (evaluator, revision, snapshot) = {
        let store = shared.read();
        let owners = owner_uids(&store, options)?;
        let owner_narrow = owners.clone();
        let evaluator = Evaluator::new(options, owners);
        let revision = store.revision();
        let Some(table) = store.table(gvr) else {
            let empty = pager.finish(Vec::new(), Some(0), |_| Ok(Vec::new()))?;
            drop(store);
            return finish(shared, empty, revision, options);
        };
        if options.field_selector.is_empty() {
            // Indexes narrow or order the walk; every candidate is still evaluated.
            let narrowed = narrow(table, options, owner_narrow.as_ref())
                .filter(|n| n.len() < table.count_in(&options.clusters));
            if key_order {
                // Cheap per object and stops after the page: walk under the lock.
                let objects: Box<dyn Iterator<Item = &Arc<ResourceObject>>> = match (
                    narrowed,
                    options.clusters.is_empty(),
                    &options.namespaces[..],
                ) {
                    (Some(narrowed), ..) => key_ordered(narrowed, from),
                    // One namespace across clusters: its objects are a range of the
                    // namespace index, in key order.
                    // (A position elsewhere starts the range at its beginning: the walk
                    // skips whatever is not after the position.)
                    (None, true, [namespace]) => Box::new(namespace_range(
                        &table.indexes.by_namespace,
                        namespace,
                        from.filter(|f| f.namespace == namespace)
                            .map(|f| (f.cluster, f.name)),
                    )),
                    (None, ..) => Box::new(table.scan(&scope, from).map(|slot| &slot.object)),
                };
                let page = key_order_page(objects, &evaluator, &pager)?;
                drop(store);
                return finish(shared, page, revision, options);
            }
            let one_field = match options.order_by.as_slice() {
                [order] => Some(order),
                _ => None,
            };
            let indexed_order = one_field.filter(|order| {
                matches!(
                    order.field,
                    OrderField::Name
                        | OrderField::Namespace
                        | OrderField::CreatedAt
                        | OrderField::ResourceVersion
                        | OrderField::Cluster
                )
            });
            if let (Some(order), Some(narrowed)) = (indexed_order, &narrowed)
                && options.full_text.is_none()
            {
                // Narrowed candidates in an indexed order: the page's share of them selected
                // by the order's own key, under the lock (linear in the candidates). Candidates
                // from sets are checked without the filter their set decides (it would read
                // their labels again: several cache misses per candidate).
                if let Some(page) = walked_page(table, order, narrowed, &evaluator, &pager) {
                    drop(store);
                    return finish(shared, page?, revision, options);
                }
                let residual_options;
                let residual_evaluator;
                let checker = match narrowed {
                    Narrow::Sets(_, covers) => {
                        residual_options = residual(options, *covers);
                        residual_evaluator = Evaluator::new(
                            &residual_options,
                            residual_options.owner.as_ref().and(owner_narrow.clone()),
                        );
                        &residual_evaluator
                    }
                    Narrow::Objects(_) => &evaluator,
                };
                let candidates = narrowed.objects();
                let descending = order.descending;
                let selected = match order.field {
                    OrderField::Name => {
                        selected_page::<BY_NAME>(candidates, checker, &pager, descending)
                    }
                    OrderField::Namespace => {
                        selected_page::<BY_NAMESPACE>(candidates, checker, &pager, descending)
                    }
                    OrderField::CreatedAt => {
                        selected_page::<BY_CREATED>(candidates, checker, &pager, descending)
                    }
                    OrderField::ResourceVersion => {
                        selected_page::<BY_RV>(candidates, checker, &pager, descending)
                    }
                    _ => selected_page::<BY_CLUSTER>(candidates, checker, &pager, descending),
                };
                if let Some((fetched, counted)) = selected {
                    drop(store);
                    let page = pager.finish(
                        fetched,
                        pager.counts_remaining().then_some(counted),
                        |last| evaluator.sort_key(last),
                    )?;
                    return finish(shared, page, revision, options);
                }
            }
            if let (Some(order), Some(n)) = (indexed_order, &narrowed)
                && n.len() <= NARROW_SORT_CAP
                && let Some(narrowed) = narrowed
            {
                // With a full-text query (or a continue position that does not map onto the
                // index): candidates sorted by the order's own key (cheap comparisons), outside
                // the lock, then walked with the evaluator.
                let mut snapshot = narrowed_snapshot(&narrowed, &evaluator);
                drop(store);
                let descending = order.descending;
                match order.field {
                    OrderField::Name => sort_by::<BY_NAME>(&mut snapshot, descending),
                    OrderField::Namespace => sort_by::<BY_NAMESPACE>(&mut snapshot, descending),
                    OrderField::CreatedAt => sort_by::<BY_CREATED>(&mut snapshot, descending),
                    OrderField::ResourceVersion => sort_by::<BY_RV>(&mut snapshot, descending),
                    _ => sort_by::<BY_CLUSTER>(&mut snapshot, descending),
                }
                let page = key_order_page(&snapshot, &evaluator, &pager)?;
                return finish(shared, page, revision, options);
            }
            match narrowed {
                Some(narrowed) if narrowed.len() <= SORT_CAP => {
                    // Few candidates: sort them (outside the lock).
                    let snapshot = narrowed_snapshot(&narrowed, &evaluator);
                    drop(store);
                    let page = evaluator.page_items(listed, snapshot)?;
                    return finish(shared, page, revision, options);
                }
                other => drop(other),
            }
            if let [order] = options.order_by.as_slice() {
                let position = options.continue_from.as_ref().map(|p| p.values.as_slice());
                // In the requested order already: walk it, stop after the page.
                let page = index_ordered(table, order, position, |_| true)
                    .map(|objects| key_order_page(objects, &evaluator, &pager));
                if let Some(page) = page {
                    drop(store);
                    return finish(shared, page?, revision, options);
                }
            }
        }
        let snapshot = candidates([table], &scope, from, &evaluator);
        (evaluator, revision, snapshot)
    };
    let page = if key_order {
        key_order_page(&snapshot, &evaluator, &pager)?
    } else {
        evaluator.page_items(listed, snapshot)?
    };
    finish(shared, page, revision, options)
}

/// One page of the objects of every stored resource that one of `types` matches, and the
/// distinct resource types of its items in order of first appearance.
pub(crate) fn list_collection(
    shared: &Shared,
    types: &[CollectionResourceType],
    options: &ListOptions,
) -> Result<CollectionPage> {
    if options.owner.is_some() {
        return Err(StorageError::invalid(
            owner_parameter(options),
            "owner queries are not supported on collection resources",
        ));
    }
    let evaluator = Evaluator::new(options, None);
    let scope = Scope::new(&options.clusters, &options.namespaces);
    let (revision, snapshot, tables) = {
        let store = shared.read();
        let tables: Vec<&Table> = store
            .tables()
            .filter(|table| types.iter().any(|t| t.matches(&table.gvr)))
            .collect();
        let snapshot = candidates(tables.iter().copied(), &scope, None, &evaluator);
        let tables: Vec<(Arc<Gvr>, Arc<str>, bool)> = tables
            .iter()
            .map(|t| (t.gvr.clone(), t.kind.clone(), t.namespaced))
            .collect();
        (store.revision(), snapshot, tables)
    };
    let page = evaluator.page_items(Listed::Collection(types), snapshot)?;
    let page = finish(shared, page, revision, options)?;
    Ok(CollectionPage::from_page(page, |item| {
        let (gvr, kind, namespaced) = tables.iter().find(|(gvr, ..)| **gvr == *item.fields.gvr)?;
        Some(StoredResourceType {
            cluster: item.fields.cluster.to_string(),
            gvr: (**gvr).clone(),
            kind: kind.to_string(),
            namespaced: *namespaced,
        })
    }))
}
