//! The reference layer: a small, correct layer in memory on top of the reference evaluator, with
//! watch. It rewrites `metadata.resourceVersion` with its own counter, as watch-capable layers
//! do. The conformance suite proves itself on it (and on its broken variants, [`ReferenceBug`]);
//! components use it in their tests where they need "a layer".

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;

use crate::collection::{CollectionResource, CollectionResourceType};
use crate::error::{Result, StorageError};
use crate::evaluator::{Evaluator, present, resolve_owner_uids};
use crate::object::{Gvr, IndexedFields, ObjectEvent, ObjectKey, ResourceObject};
use crate::query::label_selector::LabelOperator;
use crate::query::paging::Listed;
use crate::query::{ContinuePosition, ListOptions};
use crate::storage::{
    Change, ClusterResourceVersions, CollectionPage, CollectionResourceStorage, ListPage,
    ResourceStorage, ResourceStorageConfig, StorageFactory, StoredResourceType, Verb, WatchEvent,
    WatchStream,
};

/// How many changes the layer remembers for watches.
const WINDOW: usize = 2_000;

/// A deliberate bug of the reference layer, to show that the conformance suite catches it (the
/// suite's own tests build each variant with [`ReferenceStorageFactory::with_bug`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceBug {
    /// No bug: the correct layer.
    #[default]
    None,
    /// Lists keep one object per name (the original memory storage deduplicated by name).
    DedupByName,
    /// A continue token whenever the page is full (the original's offset paging).
    TokenWhenPageFull,
    /// A continue token resumes at the last item instead of after it.
    ResumeInclusive,
    /// `!=` and `notin` require the label to be present.
    NotEqualsNeedsLabel,
    /// Objects without events get no events annotation.
    NoEmptyEventsArray,
    /// Events stay behind when their object is deleted.
    EventsSurviveDelete,
    /// The layer's own resource version replaces the member's in the indexed fields.
    MemberVersionReplaced,
    /// Watches ignore their filters after the initial events.
    WatchUnfiltered,
    /// The watch history is never trimmed: nothing expires.
    NoExpiry,
    /// Owner queries by name ignore `ownerGR`.
    OwnerIgnoresGroupResource,
    /// `before` includes its bound.
    BeforeInclusive,
    /// Not a bug: a layer without watch (`supported_verbs()` is get and list).
    WithoutWatch,
    /// Does not advertise watch, but serves it anyway.
    UnadvertisedWatch,
    /// Not a bug: a layer without full-text search (refuses the `query` parameter).
    WithoutFullText,
    /// Does not advertise full-text search, but serves it anyway.
    UnadvertisedFullText,
    /// Lists ignore the full-text query.
    FullTextIgnored,
    /// A full-text query matches on its first word only.
    FullTextFirstWordOnly,
}

#[derive(Default)]
struct State {
    bug: ReferenceBug,
    configs: BTreeMap<Gvr, ResourceStorageConfig>,
    /// Objects as served (layer resource version in the JSON; member one in the fields).
    objects: BTreeMap<Gvr, BTreeMap<ObjectKey, ResourceObject>>,
    events: HashMap<(Gvr, ObjectKey), BTreeMap<String, ObjectEvent>>,
    revision: u64,
    log: VecDeque<(u64, WatchEvent)>,
    /// The revision of the last change dropped from the log.
    forgotten: u64,
}

impl State {
    fn stamp(&mut self, object: &ResourceObject) -> ResourceObject {
        self.revision += 1;
        let mut value = object.to_value().expect("stored objects are JSON");
        value["metadata"]["resourceVersion"] = serde_json::Value::String(self.revision.to_string());
        let mut fields = object.fields.clone();
        if self.bug == ReferenceBug::MemberVersionReplaced {
            fields.resource_version = self.revision.to_string();
        }
        ResourceObject {
            fields,
            raw: Bytes::from(serde_json::to_vec(&value).expect("json")),
        }
    }

    fn record(&mut self, event: WatchEvent) {
        self.log.push_back((self.revision, event));
        while self.log.len() > WINDOW && self.bug != ReferenceBug::NoExpiry {
            if let Some((revision, _)) = self.log.pop_front() {
                self.forgotten = revision;
            }
        }
    }

    fn upsert(&mut self, gvr: &Gvr, object: ResourceObject) {
        let stamped = self.stamp(&object);
        let key = object.fields.key();
        let previous = self
            .objects
            .entry(gvr.clone())
            .or_default()
            .insert(key, stamped.clone());
        self.record(if previous.is_some() {
            WatchEvent::Modified(stamped)
        } else {
            WatchEvent::Added(stamped)
        });
    }

    fn delete(&mut self, gvr: &Gvr, key: &ObjectKey) {
        let removed = self.objects.get_mut(gvr).and_then(|m| m.remove(key));
        if self.bug != ReferenceBug::EventsSurviveDelete {
            self.events.remove(&(gvr.clone(), key.clone()));
        }
        if let Some(removed) = removed {
            let stamped = self.stamp(&removed);
            self.record(WatchEvent::Deleted(stamped));
        }
    }
}

/// The reference layer's factory: every object in memory, every query answered by the
/// reference evaluator, watch included. Each [`new`](Self::new) is a fresh, empty store; its
/// clones share it.
#[derive(Clone)]
pub struct ReferenceStorageFactory {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for ReferenceStorageFactory {
    fn default() -> Self {
        Self::with_bug(ReferenceBug::None)
    }
}

impl std::fmt::Debug for ReferenceStorageFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceStorageFactory")
            .field("bug", &self.lock().bug)
            .finish_non_exhaustive()
    }
}

impl ReferenceStorageFactory {
    /// A fresh, empty, correct reference layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh, empty reference layer with a deliberate bug (for the suite's own tests).
    pub fn with_bug(bug: ReferenceBug) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                bug,
                ..State::default()
            })),
            changed: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("state lock")
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().expect("state lock")
}

fn evaluator_owner_uids(
    state: &State,
    options: &ListOptions,
) -> Option<std::collections::HashSet<String>> {
    options.owner.as_ref().map(|owner| {
        let cluster = options
            .clusters
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let fields: Vec<&IndexedFields> = state
            .objects
            .values()
            .flat_map(BTreeMap::values)
            .filter(|o| &*o.fields.cluster == cluster)
            .map(|o| &o.fields)
            .collect();
        resolve_owner_uids(owner, &options.namespaces, &fields)
    })
}

fn list_page(
    state: &State,
    listed: Listed<'_>,
    candidates: Vec<&ResourceObject>,
    options: &ListOptions,
) -> Result<ListPage> {
    if state.bug == ReferenceBug::WithoutFullText && options.full_text.is_some() {
        return Err(StorageError::full_text_unsupported("reference"));
    }
    let mut buggy = options.clone();
    match state.bug {
        ReferenceBug::FullTextIgnored => buggy.full_text = None,
        ReferenceBug::FullTextFirstWordOnly => {
            buggy.full_text = buggy.full_text.as_ref().and_then(|query| {
                crate::query::full_text::FullTextQuery::parse(
                    query.terms().iter().take(1).map(String::as_str),
                )
                .ok()
            });
        }
        _ => {}
    }
    match state.bug {
        ReferenceBug::OwnerIgnoresGroupResource => {
            if let Some(owner) = &mut buggy.owner {
                owner.group_resource = None;
            }
        }
        ReferenceBug::BeforeInclusive => buggy.before = buggy.before.map(|b| b + 1),
        _ => {}
    }
    let options = &buggy;
    let owner_uids = evaluator_owner_uids(state, options);
    let evaluator = Evaluator::new(options, owner_uids);
    let mut page = match (state.bug, &options.continue_from) {
        (ReferenceBug::ResumeInclusive, Some(position)) => {
            let unpaged = ListOptions {
                continue_from: None,
                limit: None,
                ..options.clone()
            };
            let all = Evaluator::new(&unpaged, evaluator_owner_uids(state, options))
                .page(listed, candidates)?
                .items;
            let start = all
                .iter()
                .position(|o| {
                    evaluator
                        .compare(&evaluator.sort_key(o).unwrap_or_default(), &position.values)
                        .is_ge()
                })
                .unwrap_or(all.len());
            let end = options
                .limit
                .map_or(all.len(), |l| (start + l as usize).min(all.len()));
            ListPage {
                items: all[start..end].to_vec(),
                continue_token: (end < all.len()).then(|| {
                    ContinuePosition::new(
                        listed,
                        evaluator.sort_key(&all[end - 1]).unwrap_or_default(),
                    )
                    .encode(options)
                }),
                remaining_item_count: options
                    .with_remaining_count
                    .then_some((all.len() - end) as u64),
                resource_version: None,
            }
        }
        _ => evaluator.page(listed, candidates)?,
    };
    match state.bug {
        ReferenceBug::DedupByName => {
            let mut names = std::collections::HashSet::new();
            page.items.retain(|o| names.insert(o.fields.name.clone()));
        }
        ReferenceBug::TokenWhenPageFull if page.continue_token.is_none() => {
            if let (Some(limit), Some(last)) = (options.limit, page.items.last())
                && page.items.len() as u64 == limit
            {
                let values = evaluator.sort_key(last)?;
                page.continue_token = Some(ContinuePosition::new(listed, values).encode(options));
            }
        }
        ReferenceBug::NotEqualsNeedsLabel => {
            let negative: Vec<&str> = options
                .label_selector
                .requirements()
                .iter()
                .filter(|r| matches!(r.operator, LabelOperator::NotEquals | LabelOperator::NotIn))
                .map(|r| r.key.as_str())
                .collect();
            page.items
                .retain(|o| negative.iter().all(|k| o.fields.labels.get(k).is_some()));
        }
        _ => {}
    }
    page.items = page
        .items
        .into_iter()
        .map(|item| {
            let events: Vec<Bytes> = state
                .events
                .get(&(item.fields.gvr.as_ref().clone(), item.fields.key()))
                .map(|e| e.values().map(|e| e.raw.clone()).collect())
                .unwrap_or_default();
            if state.bug == ReferenceBug::NoEmptyEventsArray && events.is_empty() {
                return present(
                    &ListOptions {
                        inject_events: false,
                        ..options.clone()
                    },
                    item,
                    &events,
                );
            }
            present(options, item, &events)
        })
        .collect::<Result<_>>()?;
    page.resource_version = Some(state.revision.to_string());
    Ok(page)
}

#[async_trait]
impl StorageFactory for ReferenceStorageFactory {
    fn supported_verbs(&self) -> &'static [Verb] {
        match self.lock().bug {
            ReferenceBug::WithoutWatch | ReferenceBug::UnadvertisedWatch => {
                &[Verb::Get, Verb::List]
            }
            _ => &[Verb::Get, Verb::List, Verb::Watch],
        }
    }

    fn supports_full_text(&self) -> bool {
        !matches!(
            self.lock().bug,
            ReferenceBug::WithoutFullText | ReferenceBug::UnadvertisedFullText
        )
    }

    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> Result<HashMap<Gvr, ClusterResourceVersions>> {
        let state = self.lock();
        let mut map: HashMap<Gvr, ClusterResourceVersions> = HashMap::new();
        for (gvr, objects) in &state.objects {
            for (key, object) in objects.iter().filter(|(k, _)| k.cluster == cluster) {
                let versions = map.entry(gvr.clone()).or_default();
                versions.resources.insert(
                    key.namespaced_name(),
                    object.fields.resource_version.clone(),
                );
                for event in state
                    .events
                    .get(&(gvr.clone(), key.clone()))
                    .into_iter()
                    .flat_map(BTreeMap::values)
                {
                    versions
                        .events
                        .insert(event.key.clone(), event.resource_version.clone());
                }
            }
        }
        Ok(map)
    }

    async fn stored_resource_types(&self) -> Result<Vec<StoredResourceType>> {
        let state = self.lock();
        let mut types = std::collections::BTreeSet::new();
        for (gvr, objects) in &state.objects {
            let config = &state.configs[gvr];
            for key in objects.keys() {
                types.insert(StoredResourceType {
                    cluster: key.cluster.clone(),
                    gvr: gvr.clone(),
                    kind: config.kind.clone(),
                    namespaced: config.namespaced,
                });
            }
        }
        Ok(types.into_iter().collect())
    }

    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> Result<Arc<dyn ResourceStorage>> {
        self.lock()
            .configs
            .insert(config.gvr.clone(), config.clone());
        Ok(Arc::new(ReferenceStorage {
            config,
            state: self.state.clone(),
            changed: self.changed.clone(),
        }))
    }

    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>> {
        Ok(Arc::new(ReferenceCollection {
            collection: collection.clone(),
            state: self.state.clone(),
        }))
    }

    async fn clean_cluster(&self, cluster: &str) -> Result<()> {
        let mut state = self.lock();
        for objects in state.objects.values_mut() {
            objects.retain(|k, _| k.cluster != cluster);
        }
        state.events.retain(|(_, k), _| k.cluster != cluster);
        Ok(())
    }

    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> Result<()> {
        let mut state = self.lock();
        if let Some(objects) = state.objects.get_mut(gvr) {
            objects.retain(|k, _| k.cluster != cluster);
        }
        state
            .events
            .retain(|(g, k), _| g != gvr || k.cluster != cluster);
        Ok(())
    }

    async fn check_ready(&self) -> Result<()> {
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
}

struct ReferenceStorage {
    config: ResourceStorageConfig,
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl ReferenceStorage {
    fn notify(&self, revision: u64) {
        self.changed.send_replace(revision);
    }
}

#[async_trait]
impl ResourceStorage for ReferenceStorage {
    fn config(&self) -> &ResourceStorageConfig {
        &self.config
    }

    async fn get(&self, cluster: &str, namespace: &str, name: &str) -> Result<ResourceObject> {
        let state = lock(&self.state);
        state
            .objects
            .get(&self.config.gvr)
            .and_then(|m| m.get(&ObjectKey::new(cluster, namespace, name)))
            .cloned()
            .ok_or_else(|| {
                StorageError::not_found(format!(
                    "{} {namespace}/{name} in {cluster}",
                    self.config.gvr
                ))
            })
    }

    async fn list(&self, options: &ListOptions) -> Result<ListPage> {
        let state = lock(&self.state);
        let candidates = state
            .objects
            .get(&self.config.gvr)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        list_page(
            &state,
            Listed::Resource(&self.config.gvr),
            candidates,
            options,
        )
    }

    async fn watch(&self, options: &ListOptions) -> Result<WatchStream> {
        let bug = lock(&self.state).bug;
        if bug == ReferenceBug::WithoutWatch {
            return Err(StorageError::MethodNotSupported {
                verb: "watch",
                resource: self.config.gvr.to_string(),
            });
        }
        let evaluator_options = if bug == ReferenceBug::WatchUnfiltered {
            ListOptions::default()
        } else {
            options.clone()
        };
        let gvr = self.config.gvr.clone();
        let (cursor, initial) = {
            let state = lock(&self.state);
            match &options.resource_version {
                None => {
                    let evaluator = Evaluator::new(options, None);
                    let initial: Vec<WatchEvent> = state
                        .objects
                        .get(&gvr)
                        .into_iter()
                        .flat_map(BTreeMap::values)
                        .filter(|o| evaluator.matches(o).unwrap_or(false))
                        .map(|o| WatchEvent::Added(o.clone()))
                        .collect();
                    (state.revision, initial)
                }
                Some(text) => {
                    let revision: u64 = text.parse().map_err(|_| {
                        StorageError::bad_request(
                            "resourceVersion",
                            format!("{text:?} is not a resource version"),
                        )
                    })?;
                    if revision < state.forgotten {
                        return Err(StorageError::Expired {
                            message: format!("{revision} is older than {}", state.forgotten),
                        });
                    }
                    // A version this store never issued (e.g. of a previous process): the
                    // watch ends at once with `410 Expired` and the client lists again, as
                    // with the memory layer.
                    if revision > state.revision {
                        let expired = StorageError::Expired {
                            message: format!(
                                "{revision} is newer than this store's {}",
                                state.revision
                            ),
                        };
                        return Ok(futures::stream::once(async { Err(expired) }).boxed());
                    }
                    (revision, Vec::new())
                }
            }
        };
        let watcher = Watcher {
            state: self.state.clone(),
            gvr,
            options: evaluator_options,
            cursor,
            changed: self.changed.subscribe(),
            done: false,
        };
        let live = futures::stream::unfold(watcher, Watcher::next);
        Ok(futures::stream::iter(initial.into_iter().map(Ok))
            .chain(live)
            .boxed())
    }

    async fn create(&self, object: ResourceObject) -> Result<()> {
        let revision = {
            let mut state = lock(&self.state);
            let key = object.fields.key();
            if state
                .objects
                .get(&self.config.gvr)
                .is_some_and(|m| m.contains_key(&key))
            {
                return Err(StorageError::AlreadyExists {
                    what: key.to_string(),
                });
            }
            state.upsert(&self.config.gvr, object);
            state.revision
        };
        self.notify(revision);
        Ok(())
    }

    async fn update(&self, object: ResourceObject) -> Result<()> {
        let revision = {
            let mut state = lock(&self.state);
            let key = object.fields.key();
            if !state
                .objects
                .get(&self.config.gvr)
                .is_some_and(|m| m.contains_key(&key))
            {
                return Err(StorageError::not_found(key.to_string()));
            }
            state.upsert(&self.config.gvr, object);
            state.revision
        };
        self.notify(revision);
        Ok(())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        let revision = {
            let mut state = lock(&self.state);
            state.delete(&self.config.gvr, key);
            state.revision
        };
        self.notify(revision);
        Ok(())
    }

    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        let revision = {
            let mut state = lock(&self.state);
            for change in changes {
                match change {
                    Change::Upsert(object) => state.upsert(&self.config.gvr, object),
                    Change::Delete(key) => state.delete(&self.config.gvr, &key),
                }
            }
            state.revision
        };
        self.notify(revision);
        Ok(())
    }

    async fn record_events(&self, events: Vec<ObjectEvent>) -> Result<()> {
        let mut state = lock(&self.state);
        let gvr = self.config.gvr.clone();
        for event in events {
            let key = state.objects.get(&gvr).and_then(|objects| {
                objects
                    .values()
                    .find(|o| {
                        o.fields.cluster == event.cluster && o.fields.uid == event.involved_uid
                    })
                    .map(|o| o.fields.key())
            });
            if let Some(key) = key {
                state
                    .events
                    .entry((gvr.clone(), key))
                    .or_default()
                    .insert(event.uid.clone(), event);
            }
        }
        Ok(())
    }
}

/// The live part of a watch: the changes after `cursor` that match `options`.
struct Watcher {
    state: Arc<Mutex<State>>,
    gvr: Gvr,
    options: ListOptions,
    cursor: u64,
    changed: tokio::sync::watch::Receiver<u64>,
    done: bool,
}

impl Watcher {
    async fn next(mut self) -> Option<(Result<WatchEvent>, Self)> {
        if self.done {
            return None;
        }
        loop {
            self.changed.borrow_and_update();
            {
                let state = lock(&self.state);
                if self.cursor < state.forgotten {
                    self.done = true;
                    let message = format!("{} is older than {}", self.cursor, state.forgotten);
                    drop(state);
                    return Some((Err(StorageError::Expired { message }), self));
                }
                let evaluator = Evaluator::new(&self.options, None);
                let next = state.log.iter().find(|(revision, event)| {
                    *revision > self.cursor
                        && match event {
                            WatchEvent::Added(o)
                            | WatchEvent::Modified(o)
                            | WatchEvent::Deleted(o) => {
                                *o.fields.gvr == self.gvr && evaluator.matches(o).unwrap_or(false)
                            }
                            WatchEvent::Bookmark { .. } | WatchEvent::InitialEventsEnd { .. } => {
                                false
                            }
                        }
                });
                match next {
                    Some((revision, event)) => {
                        let (revision, event) = (*revision, event.clone());
                        drop(state);
                        self.cursor = revision;
                        return Some((Ok(event), self));
                    }
                    None => self.cursor = self.cursor.max(state.log.back().map_or(0, |(r, _)| *r)),
                }
            }
            if self.changed.changed().await.is_err() {
                return None;
            }
        }
    }
}

struct ReferenceCollection {
    collection: CollectionResource,
    state: Arc<Mutex<State>>,
}

#[async_trait]
impl CollectionResourceStorage for ReferenceCollection {
    fn collection(&self) -> &CollectionResource {
        &self.collection
    }

    async fn list(
        &self,
        types: &[CollectionResourceType],
        options: &ListOptions,
    ) -> Result<CollectionPage> {
        let state = lock(&self.state);
        let candidates: Vec<&ResourceObject> = state
            .objects
            .iter()
            .filter(|(gvr, _)| types.iter().any(|t| t.matches(gvr)))
            .flat_map(|(_, objects)| objects.values())
            .collect();
        let page = list_page(&state, Listed::Collection(types), candidates, options)?;
        let mut resource_types: Vec<StoredResourceType> = Vec::new();
        for item in &page.items {
            let gvr = item.fields.gvr.as_ref().clone();
            let config = &state.configs[&gvr];
            let stored = StoredResourceType {
                cluster: item.fields.cluster.to_string(),
                gvr,
                kind: config.kind.clone(),
                namespaced: config.namespaced,
            };
            if !resource_types.contains(&stored) {
                resource_types.push(stored);
            }
        }
        Ok(CollectionPage {
            resource_types,
            page,
        })
    }
}
