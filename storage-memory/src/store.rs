//! The one store of a factory: every object of every resource and cluster, the revision
//! counter and the change history that watches resume from.
//!
//! # Invariants
//!
//! - **One lock.** Everything lives in one [`Store`] behind one `RwLock` ([`Shared`]): owner
//!   queries span the resources of a cluster and collection resources span resources, so a
//!   single lock gives every read a consistent snapshot. Lock order: the only locks taken
//!   while it is held are the watch channels' internal ones (`broadcast` send and subscribe),
//!   which never wait for it; it is never held across an `.await`, and JSON work (field
//!   selectors, path orders, `onlyMetadata`, event injection, watch filtering) runs after it
//!   is released, on `Arc` snapshots of the objects.
//! - **Revision ordering.** [`Store::revision`] only grows, and only under the write lock. Each
//!   write (create, update, upsert, delete, and each object removed by a clean) takes the next
//!   revision, stamps it into the stored JSON's `metadata.resourceVersion`, appends one
//!   [`ChangeRecord`] to the history and sends it to the resource's watchers, all before the
//!   lock is released. So the history and every watch channel carry records in strictly
//!   increasing revision order, and a reader holding the lock sees exactly the records up to
//!   the revision it reads.
//! - **Member versions are kept.** The stored JSON carries the layer's revision, while
//!   [`storage_api::IndexedFields::resource_version`] keeps the member cluster's own
//!   `resourceVersion`: the synchro resumes from those ([`Store::resource_versions`]) and
//!   `orderby resource_version` sorts by them.
//! - **Compact objects.** An object is stored once as an `Arc<ResourceObject>` whose JSON is one
//!   exact-size [`Bytes`]; cluster, group/version/resource and kind are interned `Arc`s; the
//!   ordered set is keyed by the object's own cluster/namespace/name (no copy of the key).

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use storage_api::{
    ClusterResourceVersions, Gvr, ObjectEvent, ObjectKey, ResourceObject, ResourceStorageConfig,
    Result, StorageError, StoredResourceType,
};
use tokio::sync::broadcast;

use crate::config::MemoryConfig;
use crate::index::{Indexes, Line, ObjectId, Place};
use storage_api::resource_version::{RevisionSlot, with_member_version};

/// The state shared by a factory and every storage and watch it made.
pub(crate) struct Shared {
    store: RwLock<Store>,
    /// The configuration the factory was built with.
    pub(crate) config: MemoryConfig,
}

impl Shared {
    /// An empty store.
    pub(crate) fn new(config: MemoryConfig) -> Self {
        Self {
            store: RwLock::new(Store::new(&config)),
            config,
        }
    }

    /// The store, for reading. A poisoned lock is recovered: every write leaves the store
    /// consistent before anything that could panic.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store, for writing.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Shared {
    /// A summary (never the objects).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = self.read();
        f.debug_struct("Shared")
            .field("revision", &store.revision)
            .field("resources", &store.tables.len())
            .field(
                "objects",
                &store.tables.values().map(Table::len).sum::<usize>(),
            )
            .field("history", &store.history.records.len())
            .field("config", &self.config)
            .finish()
    }
}

/// What a [`ChangeRecord`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    /// A new object.
    Added,
    /// An object replaced ([`ChangeRecord::previous`] is what it replaced).
    Modified,
    /// An object removed ([`ChangeRecord::object`] is its last stored state).
    Deleted,
}

/// One write, as the history keeps it and watchers receive it.
#[derive(Debug)]
pub(crate) struct ChangeRecord {
    /// The revision the write took.
    pub(crate) revision: u64,
    /// What happened.
    pub(crate) kind: ChangeKind,
    /// The object after the write; for [`ChangeKind::Deleted`], its last stored state (whose
    /// JSON still carries the revision of its last write: watchers restamp it with
    /// [`ChangeRecord::revision`]).
    pub(crate) object: Arc<ResourceObject>,
    /// For [`ChangeKind::Modified`], the state it replaced (watch filters need both).
    pub(crate) previous: Option<Arc<ResourceObject>>,
}

/// The sending side of a resource's watch channel.
pub(crate) type ChangeSender = broadcast::Sender<Arc<ChangeRecord>>;
/// The receiving side of a resource's watch channel.
pub(crate) type ChangeReceiver = broadcast::Receiver<Arc<ChangeRecord>>;

/// The key of an object within a resource, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KeyRef<'a> {
    /// The member cluster.
    pub(crate) cluster: &'a str,
    /// The namespace; empty when cluster-scoped.
    pub(crate) namespace: &'a str,
    /// The name.
    pub(crate) name: &'a str,
}

impl<'a> KeyRef<'a> {
    /// The key of `object`.
    pub(crate) fn of(object: &'a ResourceObject) -> Self {
        Self {
            cluster: &object.fields.cluster,
            namespace: &object.fields.namespace,
            name: &object.fields.name,
        }
    }

    /// The key `key` names.
    pub(crate) fn from_key(key: &'a ObjectKey) -> Self {
        Self {
            cluster: &key.cluster,
            namespace: &key.namespace,
            name: &key.name,
        }
    }

    /// An owned copy.
    pub(crate) fn to_key(self) -> ObjectKey {
        ObjectKey::new(self.cluster, self.namespace, self.name)
    }
}

/// Anything with an object key: lets a [`BTreeSet<Slot>`] be searched by a borrowed
/// [`KeyRef`] although each slot's key lives inside its object (the set stores no key copy).
pub(crate) trait SlotKey {
    /// The key.
    fn key(&self) -> KeyRef<'_>;
}

impl SlotKey for KeyRef<'_> {
    fn key(&self) -> KeyRef<'_> {
        *self
    }
}

impl PartialEq for dyn SlotKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn SlotKey + '_ {}

impl PartialOrd for dyn SlotKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn SlotKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// One recorded event of an object.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    /// The event's `metadata.uid` (an event recorded again replaces the previous one).
    uid: Box<str>,
    /// The event's `namespace/name`.
    key: Box<str>,
    /// The event's member resource version.
    resource_version: Box<str>,
    /// The event's JSON.
    pub(crate) raw: Bytes,
}

/// The recorded events of one object, in the order first recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectEvents(Vec<StoredEvent>);

/// One stored object and its events. Ordered by the object's key.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    /// The object, with the layer's revision in its JSON.
    pub(crate) object: Arc<ResourceObject>,
    /// Its recorded events (boxed: one pointer for the many objects without any).
    pub(crate) events: Option<Box<ObjectEvents>>,
    /// Where its name is in the table's name arena.
    line: Line,
    /// Its id in the table's indexes.
    pub(crate) id: ObjectId,
}

impl Slot {
    /// The JSON of the recorded events, for `inject-events`.
    pub(crate) fn event_bytes(&self) -> Vec<Bytes> {
        self.events().map(|e| e.raw.clone()).collect()
    }

    fn events(&self) -> impl Iterator<Item = &StoredEvent> {
        self.events.iter().flat_map(|events| events.0.iter())
    }

    /// Its place in the indexes.
    fn place(&self) -> Place {
        Place {
            id: self.id,
            line: self.line.get(),
        }
    }
}

impl SlotKey for Slot {
    fn key(&self) -> KeyRef<'_> {
        KeyRef::of(&self.object)
    }
}

impl<'a> Borrow<dyn SlotKey + 'a> for Slot {
    fn borrow(&self) -> &(dyn SlotKey + 'a) {
        self
    }
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Slot {}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slot {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// Which clusters and namespaces a scan visits (sorted, deduplicated); empty lists mean all.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    clusters: Vec<String>,
    namespaces: Vec<String>,
}

impl Scope {
    /// The scope of a query on `clusters` and `namespaces` (empty: all).
    pub(crate) fn new(clusters: &[String], namespaces: &[String]) -> Self {
        let sorted = |list: &[String]| {
            let mut list = list.to_vec();
            list.sort();
            list.dedup();
            list
        };
        Self {
            clusters: sorted(clusters),
            namespaces: sorted(namespaces),
        }
    }
}

/// The objects of one resource, across clusters.
#[derive(Debug)]
pub(crate) struct Table {
    /// The resource (interned).
    pub(crate) gvr: Arc<Gvr>,
    /// The kind of its objects, from the storage config.
    pub(crate) kind: Arc<str>,
    /// Whether its objects live in namespaces.
    pub(crate) namespaced: bool,
    /// The objects, in (cluster, namespace, name) order: the default list order.
    slots: BTreeSet<Slot>,
    /// How many objects each cluster has here (clusters with none are absent).
    counts: HashMap<Arc<str>, usize>,
    /// `uid` → object, per cluster, built the first time events are recorded for a cluster
    /// and kept up to date from then on (resources without events never pay for it).
    uids: HashMap<Arc<str>, HashMap<Box<str>, Arc<ResourceObject>>>,
    /// The watch channel; created by the first watch, dropped when a send finds no receiver.
    sender: Option<ChangeSender>,
    /// Labels, orders and names (see the `index` module).
    pub(crate) indexes: Indexes,
}

impl Table {
    fn new(gvr: Arc<Gvr>, kind: Arc<str>, namespaced: bool) -> Self {
        Self {
            gvr,
            kind,
            namespaced,
            slots: BTreeSet::new(),
            counts: HashMap::new(),
            uids: HashMap::new(),
            sender: None,
            indexes: Indexes::default(),
        }
    }

    /// The slot stored under `key`.
    pub(crate) fn get(&self, key: KeyRef<'_>) -> Option<&Slot> {
        self.slots.get(&key as &dyn SlotKey)
    }

    /// How many objects are stored.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slots within `scope`, in key order, starting at `from` (inclusive) when given.
    ///
    /// With clusters in the scope only their key ranges are visited (and within them only the
    /// scope's namespaces); without, namespaces cannot narrow the walk and are left to the
    /// caller's filter.
    pub(crate) fn scan<'a>(
        &'a self,
        scope: &'a Scope,
        from: Option<KeyRef<'a>>,
    ) -> Box<dyn Iterator<Item = &'a Slot> + 'a> {
        if scope.clusters.is_empty() {
            let start = from.unwrap_or(KeyRef {
                cluster: "",
                namespace: "",
                name: "",
            });
            return Box::new(self.range_from(start));
        }
        let prefixes: Vec<(&'a str, Option<&'a str>)> = if scope.namespaces.is_empty() {
            scope.clusters.iter().map(|c| (c.as_str(), None)).collect()
        } else {
            scope
                .clusters
                .iter()
                .flat_map(|c| {
                    scope
                        .namespaces
                        .iter()
                        .map(move |n| (c.as_str(), Some(n.as_str())))
                })
                .collect()
        };
        Box::new(prefixes.into_iter().flat_map(move |(cluster, namespace)| {
            let lower = KeyRef {
                cluster,
                namespace: namespace.unwrap_or(""),
                name: "",
            };
            let start = from.filter(|f| *f > lower).unwrap_or(lower);
            self.range_from(start).take_while(move |slot| {
                let key = slot.key();
                key.cluster == cluster && namespace.is_none_or(|n| key.namespace == n)
            })
        }))
    }

    /// How many objects of `clusters` are stored (all objects when empty).
    pub(crate) fn count_in(&self, clusters: &[String]) -> usize {
        if clusters.is_empty() {
            return self.slots.len();
        }
        clusters
            .iter()
            .map(|c| self.counts.get(c.as_str()).copied().unwrap_or(0))
            .sum()
    }

    /// The slots in descending cluster order, each cluster in ascending key order (the
    /// order of `orderby=cluster desc`), from cluster `from` down (all when `None`).
    pub(crate) fn walk_clusters_desc<'a>(
        &'a self,
        from: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Slot> + 'a {
        let mut clusters: Vec<&'a Arc<str>> = self
            .counts
            .keys()
            .filter(|c| from.is_none_or(|f| &***c <= f))
            .collect();
        clusters.sort_unstable_by(|a, b| b.cmp(a));
        clusters
            .into_iter()
            .flat_map(move |c| self.cluster_slots(c))
    }

    /// The slots of `cluster`, in key order.
    pub(crate) fn cluster_slots<'a>(
        &'a self,
        cluster: &'a str,
    ) -> impl Iterator<Item = &'a Slot> + 'a {
        let start = KeyRef {
            cluster,
            namespace: "",
            name: "",
        };
        self.range_from(start)
            .take_while(move |slot| slot.key().cluster == cluster)
    }

    fn range_from<'a>(&'a self, start: KeyRef<'a>) -> impl Iterator<Item = &'a Slot> + 'a {
        self.slots.range::<dyn SlotKey + 'a, _>((
            Bound::Included(&start as &(dyn SlotKey + 'a)),
            Bound::Unbounded,
        ))
    }

    /// Stores `object` in place of whatever has its key; returns the replaced object.
    ///
    /// Recorded events stay with an object while it keeps its uid (an object recreated under
    /// the same name is another object, and starts without events).
    fn put(&mut self, object: Arc<ResourceObject>) -> Option<Arc<ResourceObject>> {
        let mut previous = self.slots.take(&KeyRef::of(&object) as &dyn SlotKey);
        let events = match previous.as_mut() {
            None => {
                *self
                    .counts
                    .entry(object.fields.cluster.clone())
                    .or_default() += 1;
                None
            }
            Some(old) if old.object.fields.uid == object.fields.uid => old.events.take(),
            Some(_) => None,
        };
        self.index_uid(previous.as_ref().map(|p| &p.object), Some(&object));
        let place = self
            .indexes
            .put(previous.as_ref().map(|p| (&p.object, p.place())), &object);
        self.slots.insert(Slot {
            object,
            events,
            line: Line::new(place.line),
            id: place.id,
        });
        previous.map(|p| p.object)
    }

    /// Removes the slot under `key`.
    fn remove(&mut self, key: KeyRef<'_>) -> Option<Slot> {
        let removed = self.slots.take(&key as &dyn SlotKey)?;
        let cluster = &removed.object.fields.cluster;
        if let Some(count) = self.counts.get_mut(cluster) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(cluster);
            }
        }
        self.index_uid(Some(&removed.object), None);
        self.indexes.remove(&removed.object, removed.place());
        if self.indexes.names_wasteful() {
            self.indexes.reset_names();
            for slot in &self.slots {
                slot.line.set(self.indexes.push_name(&slot.object.fields));
            }
        }
        Some(removed)
    }

    /// Keeps the uid index (where built) in step with a write from `old` to `new`.
    fn index_uid(&mut self, old: Option<&Arc<ResourceObject>>, new: Option<&Arc<ResourceObject>>) {
        let cluster = match (old, new) {
            (_, Some(o)) | (Some(o), None) => &o.fields.cluster,
            (None, None) => return,
        };
        let Some(index) = self.uids.get_mut(cluster) else {
            return;
        };
        if let Some(old) = old {
            index.remove(old.fields.uid.as_str());
        }
        if let Some(new) = new.filter(|n| !n.fields.uid.is_empty()) {
            index.insert(new.fields.uid.as_str().into(), new.clone());
        }
    }

    /// The uid index of `cluster`, built on first use.
    fn uid_index(&mut self, cluster: &Arc<str>) -> &HashMap<Box<str>, Arc<ResourceObject>> {
        if !self.uids.contains_key(cluster) {
            let index = self
                .cluster_slots(cluster)
                .filter(|slot| !slot.object.fields.uid.is_empty())
                .map(|slot| (slot.object.fields.uid.as_str().into(), slot.object.clone()))
                .collect();
            self.uids.insert(cluster.clone(), index);
        }
        self.uids.entry(cluster.clone()).or_default()
    }

    /// Subscribes to this resource's changes (creating the channel if needed).
    fn subscribe(&mut self, capacity: usize) -> ChangeReceiver {
        match &self.sender {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(capacity.max(1));
                self.sender = Some(sender);
                receiver
            }
        }
    }

    /// Sends `record` to the watchers; drops the channel when nobody listens any more.
    fn notify(&mut self, record: &Arc<ChangeRecord>) {
        if let Some(sender) = &self.sender
            && sender.send(record.clone()).is_err()
        {
            self.sender = None;
        }
    }
}

/// The bounded list of past changes a watch can resume from.
#[derive(Debug)]
pub(crate) struct History {
    records: VecDeque<Arc<ChangeRecord>>,
    capacity: usize,
    /// Every change up to this revision (inclusive) is forgotten; at start, the start revision.
    evicted_through: u64,
}

impl History {
    fn push(&mut self, record: Arc<ChangeRecord>) {
        if self.capacity == 0 {
            self.evicted_through = record.revision;
            return;
        }
        if self.records.len() >= self.capacity
            && let Some(oldest) = self.records.pop_front()
        {
            self.evicted_through = oldest.revision;
        }
        self.records.push_back(record);
    }

    /// The retained records after `revision` of resource `gvr`, or `None` when some changes
    /// after `revision` are forgotten.
    pub(crate) fn after<'a>(
        &'a self,
        revision: u64,
        gvr: &'a Gvr,
    ) -> Option<impl Iterator<Item = &'a Arc<ChangeRecord>> + 'a> {
        if revision < self.evicted_through {
            return None;
        }
        let start = self.records.partition_point(|r| r.revision <= revision);
        Some(
            self.records
                .range(start..)
                .filter(move |r| *r.object.fields.gvr == *gvr),
        )
    }

    /// The oldest revision a watch can start from.
    pub(crate) fn oldest_resumable(&self) -> u64 {
        self.evicted_through
    }
}

/// How [`Store::put`] treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutMode {
    /// Fail with `AlreadyExists` when the key is taken.
    Create,
    /// Fail with `NotFound` when the key is free.
    Update,
    /// Either.
    Upsert,
}

/// An object checked and located outside the lock, ready for [`Store::put`].
#[derive(Debug)]
pub(crate) struct PreparedObject {
    object: ResourceObject,
    slot: RevisionSlot,
}

impl PreparedObject {
    /// Checks that `object` belongs to resource `gvr` and finds where its resource version goes.
    pub(crate) fn new(gvr: &Gvr, object: ResourceObject) -> Result<Self> {
        if *object.fields.gvr != *gvr {
            return Err(StorageError::invalid(
                "object",
                format!(
                    "object {} of {} cannot be stored as {gvr}",
                    object.fields.key(),
                    object.fields.gvr
                ),
            ));
        }
        let mut object = object;
        object.raw = with_member_version(object.raw, &object.fields.resource_version)?;
        let slot = RevisionSlot::locate(&object.raw)?;
        Ok(Self { object, slot })
    }
}

/// Everything stored by one factory.
#[derive(Debug)]
pub(crate) struct Store {
    /// The revision of the last write (the start revision before any).
    revision: u64,
    tables: BTreeMap<Arc<Gvr>, Table>,
    /// Interned cluster names: prepared clusters and clusters with objects.
    clusters: BTreeSet<Arc<str>>,
    /// Interned kinds.
    kinds: HashSet<Arc<str>>,
    history: History,
    watch_buffer: usize,
}

/// The first revision of a new store: the wall clock in microseconds.
///
/// Resource versions must never go back, also across restarts of the process (a client
/// resuming a watch with a resource version of the previous process must get `410 Expired`
/// and re-list, not silently miss changes). Starting at the clock in microseconds puts every
/// revision of a new process above those of an earlier one, unless the earlier one wrote more
/// than a million changes per second over its whole life.
fn start_revision() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2))
}

impl Store {
    fn new(config: &MemoryConfig) -> Self {
        let revision = start_revision();
        Self {
            revision,
            tables: BTreeMap::new(),
            clusters: BTreeSet::new(),
            kinds: HashSet::new(),
            history: History {
                records: VecDeque::new(),
                capacity: config.watch_history,
                evicted_through: revision,
            },
            watch_buffer: config.watch_buffer,
        }
    }

    /// The revision of the last write: the resource version of a list served now.
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    /// The change history.
    pub(crate) fn history(&self) -> &History {
        &self.history
    }

    /// The table of `gvr`, if a storage was ever made for it.
    pub(crate) fn table(&self, gvr: &Gvr) -> Option<&Table> {
        self.tables.get(gvr)
    }

    /// Every table, by resource.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values()
    }

    /// Creates (or refreshes the kind and scope of) the table of `config.gvr`; returns the
    /// interned resource.
    pub(crate) fn register(&mut self, config: &ResourceStorageConfig) -> Arc<Gvr> {
        let kind = self.intern_kind(&config.kind);
        if let Some(table) = self.tables.get_mut(&config.gvr) {
            table.kind = kind;
            table.namespaced = config.namespaced;
            return table.gvr.clone();
        }
        let gvr = Arc::new(config.gvr.clone());
        self.tables.insert(
            gvr.clone(),
            Table::new(gvr.clone(), kind, config.namespaced),
        );
        gvr
    }

    /// Remembers `cluster` (its name is interned from now on).
    pub(crate) fn prepare_cluster(&mut self, cluster: &str) {
        self.intern_cluster(cluster);
    }

    fn intern_cluster(&mut self, cluster: &str) -> Arc<str> {
        if let Some(interned) = self.clusters.get(cluster) {
            return interned.clone();
        }
        let interned: Arc<str> = Arc::from(cluster);
        self.clusters.insert(interned.clone());
        interned
    }

    fn intern_kind(&mut self, kind: &str) -> Arc<str> {
        if let Some(interned) = self.kinds.get(kind) {
            return interned.clone();
        }
        let interned: Arc<str> = Arc::from(kind);
        self.kinds.insert(interned.clone());
        interned
    }

    fn table_mut(&mut self, gvr: &Gvr) -> Result<&mut Table> {
        self.tables
            .get_mut(gvr)
            .ok_or_else(|| StorageError::not_found(format!("resource {gvr}")))
    }

    /// Stores `prepared` under the next revision (see [`PutMode`]).
    pub(crate) fn put(&mut self, gvr: &Gvr, prepared: PreparedObject, mode: PutMode) -> Result<()> {
        let PreparedObject { mut object, slot } = prepared;
        let cluster = self.intern_cluster(&object.fields.cluster);
        let kind = self.intern_kind(&object.fields.kind);
        let revision = self.revision + 1;
        let table = self.table_mut(gvr)?;
        let exists = table.get(KeyRef::of(&object)).is_some();
        match mode {
            PutMode::Create if exists => {
                return Err(StorageError::AlreadyExists {
                    what: format!("{} {}", gvr.resource, object.fields.key()),
                });
            }
            PutMode::Update if !exists => {
                return Err(StorageError::not_found(format!(
                    "{} {}",
                    gvr.resource,
                    object.fields.key()
                )));
            }
            _ => {}
        }
        object.raw = slot.stamp(&object.raw, revision)?;
        object.fields.cluster = cluster;
        object.fields.kind = kind;
        object.fields.gvr = table.gvr.clone();
        let object = Arc::new(object);
        let (kind, previous) = match table.put(object.clone()) {
            Some(old) => (ChangeKind::Modified, Some(old)),
            None => (ChangeKind::Added, None),
        };
        self.commit(gvr, revision, kind, object, previous);
        Ok(())
    }

    /// Removes the object under `key`, if stored, under the next revision.
    pub(crate) fn delete(&mut self, gvr: &Gvr, key: KeyRef<'_>) -> Result<()> {
        let table = self.table_mut(gvr)?;
        if let Some(removed) = table.remove(key) {
            let revision = self.revision + 1;
            self.commit(gvr, revision, ChangeKind::Deleted, removed.object, None);
        }
        Ok(())
    }

    /// Records a write: bumps the revision, keeps the record and tells the watchers.
    fn commit(
        &mut self,
        gvr: &Gvr,
        revision: u64,
        kind: ChangeKind,
        object: Arc<ResourceObject>,
        previous: Option<Arc<ResourceObject>>,
    ) {
        debug_assert_eq!(revision, self.revision + 1);
        self.revision = revision;
        let record = Arc::new(ChangeRecord {
            revision,
            kind,
            object,
            previous,
        });
        if let Some(table) = self.tables.get_mut(gvr) {
            table.notify(&record);
        }
        self.history.push(record);
    }

    /// Removes every object of `cluster` in the tables of `gvrs`, one revision each.
    fn clean(&mut self, cluster: &str, gvrs: &[Arc<Gvr>]) {
        for gvr in gvrs {
            let Some(table) = self.tables.get_mut(gvr) else {
                continue;
            };
            let keys: Vec<ObjectKey> = table
                .cluster_slots(cluster)
                .map(|slot| slot.key().to_key())
                .collect();
            table.uids.remove(cluster);
            for key in keys {
                let table = match self.tables.get_mut(gvr) {
                    Some(table) => table,
                    None => break,
                };
                if let Some(removed) = table.remove(KeyRef::from_key(&key)) {
                    let revision = self.revision + 1;
                    self.commit(gvr, revision, ChangeKind::Deleted, removed.object, None);
                }
            }
        }
    }

    /// Removes everything of `cluster` (and forgets the cluster).
    pub(crate) fn clean_cluster(&mut self, cluster: &str) {
        let gvrs: Vec<Arc<Gvr>> = self.tables.keys().cloned().collect();
        self.clean(cluster, &gvrs);
        self.clusters.remove(cluster);
    }

    /// Removes every object of `cluster` in resource `gvr`.
    pub(crate) fn clean_cluster_resource(&mut self, cluster: &str, gvr: &Gvr) {
        if let Some((gvr, _)) = self.tables.get_key_value(gvr) {
            let gvr = gvr.clone();
            self.clean(cluster, &[gvr]);
        }
    }

    /// Attaches `events` to the objects of resource `gvr` they are about; events of objects not
    /// stored are dropped. Returns how many were attached. Events are not writes of objects:
    /// they take no revision and make no watch event.
    pub(crate) fn record_events(&mut self, gvr: &Gvr, events: Vec<ObjectEvent>) -> Result<usize> {
        let mut attached = 0;
        for event in events {
            let table = self.table_mut(gvr)?;
            let Some(object) = table
                .uid_index(&event.cluster)
                .get(event.involved_uid.as_str())
                .cloned()
            else {
                continue;
            };
            let Some(mut slot) = table.slots.take(&KeyRef::of(&object) as &dyn SlotKey) else {
                continue;
            };
            let stored = StoredEvent {
                uid: event.uid.into(),
                key: event.key.into(),
                resource_version: event.resource_version.into(),
                raw: event.raw,
            };
            let events = &mut slot.events.get_or_insert_with(Default::default).0;
            match events.iter_mut().find(|e| e.uid == stored.uid) {
                Some(existing) => *existing = stored,
                None => events.push(stored),
            }
            table.slots.insert(slot);
            attached += 1;
        }
        Ok(attached)
    }

    /// The member resource versions of the objects and events of `cluster`, per resource.
    pub(crate) fn resource_versions(&self, cluster: &str) -> HashMap<Gvr, ClusterResourceVersions> {
        let mut out = HashMap::new();
        for table in self.tables.values() {
            if !table.counts.contains_key(cluster) {
                continue;
            }
            let mut versions = ClusterResourceVersions::default();
            for slot in table.cluster_slots(cluster) {
                let fields = &slot.object.fields;
                versions.resources.insert(
                    fields.key().namespaced_name(),
                    fields.resource_version.clone(),
                );
                for event in slot.events() {
                    versions
                        .events
                        .insert(event.key.to_string(), event.resource_version.to_string());
                }
            }
            out.insert((*table.gvr).clone(), versions);
        }
        out
    }

    /// The (cluster, resource) pairs with at least one object, sorted.
    pub(crate) fn stored_resource_types(&self) -> Vec<StoredResourceType> {
        let mut out: Vec<StoredResourceType> = self
            .tables
            .values()
            .flat_map(|table| {
                table.counts.keys().map(|cluster| StoredResourceType {
                    cluster: cluster.to_string(),
                    gvr: (*table.gvr).clone(),
                    kind: table.kind.to_string(),
                    namespaced: table.namespaced,
                })
            })
            .collect();
        out.sort();
        out
    }

    /// Subscribes to the changes of `gvr`, creating its channel if needed.
    pub(crate) fn subscribe(&mut self, gvr: &Gvr) -> Result<ChangeReceiver> {
        let capacity = self.watch_buffer;
        Ok(self.table_mut(gvr)?.subscribe(capacity))
    }

    /// Subscribes to the changes of `gvr` if its channel exists (a read lock is then enough).
    pub(crate) fn subscribe_existing(&self, gvr: &Gvr) -> Option<ChangeReceiver> {
        self.tables
            .get(gvr)?
            .sender
            .as_ref()
            .map(broadcast::Sender::subscribe)
    }

    /// Closes every watch channel (their watches end).
    pub(crate) fn close_watches(&mut self) {
        for table in self.tables.values_mut() {
            table.sender = None;
        }
    }
}
