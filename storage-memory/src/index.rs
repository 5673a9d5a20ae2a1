//! The secondary indexes of a table, so that label, fuzzy-name and ordered queries do not scan
//! or sort the whole resource per request.
//!
//! - **Labels**: key → value → the objects with that label, each set in key order (cluster,
//!   namespace, name), so a default-order page of a `key=value` / `key in (…)` selector walks
//!   only the matching objects and stops after the page; and their ids in a compressed bitmap
//!   (`roaring`), so a label + `orderby` page walks the order's index testing each entry's id.
//! - **Orders**: one ordered set per sortable field (name, namespace, creation time, member
//!   resource version), keyed by the field, then cluster, namespace, name: exactly the total
//!   order [`ListOptions::effective_order`](storage_api::ListOptions::effective_order) gives an
//!   `orderby` of that one field. A page walks the set from the continue position and stops
//!   after the page (descending: value groups from the highest, each group walked upwards,
//!   since ties stay ascending). The table's own key set is the cluster order.
//! - **Owners**: controller owner uid → the objects it owns, in key order (and by id), so that an owner
//!   query (and the resolution of its chain of owners) reads only the owned objects.
//! - **Names**: every name of the table in one byte arena (`name NUL namespace NUL cluster
//!   LF` per object), searched with SIMD substring search for `fuzzyName`: a few milliseconds
//!   for a million names, and only the hits are looked up.
//!
//! Index entries hold the object's `Arc` and its dense id in the table (no copy of keys or
//! values beyond one per distinct label): a walk filters entries by id without reading the
//! objects. Indexes only narrow or order candidates: every candidate still goes through the
//! reference evaluator, so whatever an index does not cover (other operators, field selectors,
//! options added later) is evaluated as before.

use std::borrow::Borrow;
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeSet, HashMap, btree_set};
use std::iter::Rev;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use roaring::RoaringBitmap;
use storage_api::query::{Float, SortValue};
use storage_api::{IndexedFields, ResourceObject};

/// The first field of an index's order: a borrowed [`SortValue`] (same order: missing, then
/// numbers, then texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum First<'a> {
    /// A missing value.
    Null,
    /// A number.
    Int(i64),
    /// A text.
    Str(&'a str),
    /// A score (relevance; never the first field of an index, kept for a total mapping).
    Float(Float),
}

impl<'a> First<'a> {
    /// The borrowed form of a sort value.
    pub(crate) fn of(value: &'a SortValue) -> Self {
        match value {
            SortValue::Null => Self::Null,
            SortValue::Int(n) => Self::Int(*n),
            SortValue::Str(s) => Self::Str(s),
            SortValue::Float(f) => Self::Float(*f),
        }
    }
}

/// Which field an index orders by first.
pub(crate) const BY_CLUSTER: u8 = 0;
/// Ordered by name.
pub(crate) const BY_NAME: u8 = 1;
/// Ordered by namespace.
pub(crate) const BY_NAMESPACE: u8 = 2;
/// Ordered by creation time.
pub(crate) const BY_CREATED: u8 = 3;
/// Ordered by member resource version (as a number).
pub(crate) const BY_RV: u8 = 4;

/// The value of index field `F` for `fields`, as the evaluator's sort key has it.
fn first_of<const F: u8>(fields: &IndexedFields) -> First<'_> {
    match F {
        BY_NAME => First::Str(&fields.name),
        BY_NAMESPACE => First::Str(&fields.namespace),
        BY_CREATED => fields.creation_timestamp.map_or(First::Null, First::Int),
        BY_RV => fields
            .resource_version_number()
            .and_then(|n| i64::try_from(n).ok())
            .map_or(First::Null, First::Int),
        _ => First::Str(&fields.cluster),
    }
}

/// The position of an object in an index: the index's field, then the object key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct IndexKey<'a> {
    first: First<'a>,
    cluster: &'a str,
    namespace: &'a str,
    name: &'a str,
}

impl<'a> IndexKey<'a> {
    /// The lowest key with first value `first`.
    fn lowest(first: First<'a>) -> Self {
        Self {
            first,
            cluster: "",
            namespace: "",
            name: "",
        }
    }
}

/// Anything with a position in index `F`: entries, and borrowed keys to search with.
pub(crate) trait EntryKey<const F: u8> {
    /// The position.
    fn index_key(&self) -> IndexKey<'_>;
}

impl<const F: u8> EntryKey<F> for IndexKey<'_> {
    fn index_key(&self) -> IndexKey<'_> {
        *self
    }
}

impl<const F: u8> PartialEq for dyn EntryKey<F> + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.index_key() == other.index_key()
    }
}

impl<const F: u8> Eq for dyn EntryKey<F> + '_ {}

impl<const F: u8> PartialOrd for dyn EntryKey<F> + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const F: u8> Ord for dyn EntryKey<F> + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index_key().cmp(&other.index_key())
    }
}

/// The dense id of an object within its table (see [`Ids`]): what an index entry carries
/// besides the object, so that membership in a set of objects ([`IdSet`], [`MemberSet`]) is known without
/// reading the object.
pub(crate) type ObjectId = u32;

/// One object in index `F`, with its id.
#[derive(Debug, Clone)]
pub(crate) struct Entry<const F: u8> {
    /// The object.
    pub(crate) object: Arc<ResourceObject>,
    /// Its id in the table.
    pub(crate) id: ObjectId,
}

impl<const F: u8> Entry<F> {
    fn new(object: &Arc<ResourceObject>, id: ObjectId) -> Self {
        Self {
            object: object.clone(),
            id,
        }
    }
}

impl<const F: u8> EntryKey<F> for Entry<F> {
    fn index_key(&self) -> IndexKey<'_> {
        key_of::<F>(&self.object.fields)
    }
}

impl<'a, const F: u8> Borrow<dyn EntryKey<F> + 'a> for Entry<F> {
    fn borrow(&self) -> &(dyn EntryKey<F> + 'a) {
        self
    }
}

impl<const F: u8> PartialEq for Entry<F> {
    fn eq(&self, other: &Self) -> bool {
        self.index_key() == other.index_key()
    }
}

impl<const F: u8> Eq for Entry<F> {}

impl<const F: u8> PartialOrd for Entry<F> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const F: u8> Ord for Entry<F> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index_key().cmp(&other.index_key())
    }
}

/// An ordered set of objects, by index `F`.
pub(crate) type OrderSet<const F: u8> = BTreeSet<Entry<F>>;

fn remove_from<const F: u8>(set: &mut OrderSet<F>, fields: &IndexedFields) -> bool {
    set.remove(&key_of::<F>(fields) as &dyn EntryKey<F>)
}

/// The entries of `set` between `lower` and `upper`.
fn range<'a, const F: u8>(
    set: &'a OrderSet<F>,
    lower: Bound<IndexKey<'_>>,
    upper: Bound<IndexKey<'_>>,
) -> btree_set::Range<'a, Entry<F>> {
    fn bound<'k, 'b, const F: u8>(
        bound: &'b Bound<IndexKey<'k>>,
    ) -> Bound<&'b (dyn EntryKey<F> + 'k)> {
        match bound {
            Bound::Included(key) => Bound::Included(key as &(dyn EntryKey<F> + 'k)),
            Bound::Excluded(key) => Bound::Excluded(key as &(dyn EntryKey<F> + 'k)),
            Bound::Unbounded => Bound::Unbounded,
        }
    }
    set.range::<dyn EntryKey<F> + '_, _>((bound::<F>(&lower), bound::<F>(&upper)))
}

/// Where a continue position of a one-field `orderby` on index field `F` sits in that index.
///
/// The position's values follow the effective order: the field, then those of cluster,
/// namespace and name that are not the field itself; the index key holds the same values.
/// `None` when the values do not have that shape (a token of another list is refused before).
pub(crate) fn position_key<const F: u8>(values: &[SortValue]) -> Option<IndexKey<'_>> {
    let first = First::of(values.first()?);
    let rest = |i: usize| match values.get(i) {
        Some(SortValue::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let (cluster, namespace, name) = match F {
        BY_CLUSTER => (rest(0)?, rest(1)?, rest(2)?),
        BY_NAME => (rest(1)?, rest(2)?, rest(0)?),
        BY_NAMESPACE => (rest(1)?, rest(0)?, rest(2)?),
        _ => (rest(1)?, rest(2)?, rest(3)?),
    };
    Some(IndexKey {
        first,
        cluster,
        namespace,
        name,
    })
}

/// The lowest index key of the group of a continue position's first value (any position: the
/// walk from there skips what is not after the position).
pub(crate) fn group_key(values: &[SortValue]) -> Option<IndexKey<'_>> {
    values.first().map(|v| IndexKey::lowest(First::of(v)))
}

/// The order of a one-field `orderby` on index field `F` (`descending`: the field descending,
/// ties still in ascending key order): the evaluator's order for it.
pub(crate) fn compare_keys(a: &IndexKey<'_>, b: &IndexKey<'_>, descending: bool) -> CmpOrdering {
    let first = if descending {
        b.first.cmp(&a.first)
    } else {
        a.first.cmp(&b.first)
    };
    first.then_with(|| (a.cluster, a.namespace, a.name).cmp(&(b.cluster, b.namespace, b.name)))
}

/// The index key of `fields` in index `F`.
pub(crate) fn key_of<const F: u8>(fields: &IndexedFields) -> IndexKey<'_> {
    IndexKey {
        first: first_of::<F>(fields),
        cluster: &fields.cluster,
        namespace: &fields.namespace,
        name: &fields.name,
    }
}

/// The objects of `set` that `keep` accepts, in the order of its field (`descending`: value
/// groups from the highest, each group in ascending key order: the evaluator's order for a
/// one-field `orderby … desc`), from index key `from` on (in that order; all when `None`).
///
/// `keep` is asked about the id of every entry walked, before the walk reads the object (so
/// membership in an [`IdSet`] or a [`MemberSet`]'s ids makes skipped entries cost no object read).
pub(crate) fn walk<'a, const F: u8>(
    set: &'a OrderSet<F>,
    from: Option<IndexKey<'a>>,
    descending: bool,
    keep: impl Fn(ObjectId) -> bool + 'a,
) -> Box<dyn Iterator<Item = &'a Arc<ResourceObject>> + 'a> {
    if !descending {
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        return Box::new(
            range(set, lower, Bound::Unbounded)
                .filter(move |e| keep(e.id))
                .map(|e| &e.object),
        );
    }
    Box::new(Descending::new(set, from, keep))
}

/// Equal values buffered at most this many while walking an index backwards; a larger group
/// is walked forwards from its start (one search), so that a page costs the same whatever the
/// size of its groups (e.g. thousands of objects created in the same second).
const GROUP_BUFFER: usize = 64;
/// While a large group is walked forwards, every this many entries skipped (not kept) one is
/// read to see whether the group has ended.
const GROUP_PROBE: u32 = 32;

/// The descending walk of an index: its set iterated backwards once, each run of equal first
/// values handed out in ascending key order (small runs buffered, large ones walked forwards);
/// only the entries `keep` accepts are read and handed out.
struct Descending<'a, const F: u8, K> {
    set: &'a OrderSet<F>,
    /// The entries below the current group, backwards.
    below: Rev<btree_set::Range<'a, Entry<F>>>,
    /// The next kept entry of `below`, already taken from it (the first of the next group).
    peeked: Option<&'a Entry<F>>,
    /// The current group when small, descending (popped from the end: ascending).
    group: Vec<&'a Arc<ResourceObject>>,
    /// The current group when large (or the group of the start), walked forwards: its value
    /// and the entries from where the walk is in it.
    forward: Option<(First<'a>, btree_set::Range<'a, Entry<F>>)>,
    keep: K,
}

impl<'a, const F: u8, K: Fn(ObjectId) -> bool> Descending<'a, F, K> {
    /// The walk from `from` (its group from `from` upwards, then the groups below), or from
    /// the top.
    fn new(set: &'a OrderSet<F>, from: Option<IndexKey<'a>>, keep: K) -> Self {
        let (forward, below) = match from {
            Some(from) => (
                Some((
                    from.first,
                    range(set, Bound::Included(from), Bound::Unbounded),
                )),
                range(
                    set,
                    Bound::Unbounded,
                    Bound::Excluded(IndexKey::lowest(from.first)),
                ),
            ),
            None => (None, range(set, Bound::Unbounded, Bound::Unbounded)),
        };
        Self {
            set,
            below: below.rev(),
            peeked: None,
            group: Vec::new(),
            forward,
            keep,
        }
    }

    /// The next kept entry below the current group.
    fn next_below(&mut self) -> Option<&'a Entry<F>> {
        if let Some(entry) = self.peeked.take() {
            return Some(entry);
        }
        let keep = &self.keep;
        self.below.find(|e| keep(e.id))
    }
}

impl<'a, const F: u8, K: Fn(ObjectId) -> bool> Iterator for Descending<'a, F, K> {
    type Item = &'a Arc<ResourceObject>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(next) = self.group.pop() {
                return Some(next);
            }
            if let Some((first, entries)) = &mut self.forward {
                let keep = &self.keep;
                let mut skipped = 0u32;
                let next = entries.find(|e| {
                    if keep(e.id) {
                        return true;
                    }
                    // Now and then an entry skipped tells whether the group has ended (so that
                    // the walk does not go on through the groups above, handed out before).
                    skipped += 1;
                    skipped.is_multiple_of(GROUP_PROBE) && first_of::<F>(&e.object.fields) != *first
                });
                match next {
                    Some(entry) if first_of::<F>(&entry.object.fields) == *first => {
                        return Some(&entry.object);
                    }
                    _ => self.forward = None,
                }
            }
            let head = self.next_below()?;
            let first = first_of::<F>(&head.object.fields);
            self.group.push(&head.object);
            while let Some(entry) = self.next_below() {
                if first_of::<F>(&entry.object.fields) != first {
                    self.peeked = Some(entry);
                    break;
                }
                self.group.push(&entry.object);
                if self.group.len() >= GROUP_BUFFER {
                    // A large group: from its start upwards, then what is below it.
                    self.group.clear();
                    let lowest = IndexKey::lowest(first);
                    self.forward = Some((
                        first,
                        range(self.set, Bound::Included(lowest), Bound::Unbounded),
                    ));
                    self.below = range(self.set, Bound::Unbounded, Bound::Excluded(lowest)).rev();
                    break;
                }
            }
        }
    }
}

/// The ids of a table's objects: dense (an id freed by a removal is handed out again), so a
/// set of the table's objects is a bitset of `bound()` bits (a million objects: 128 KiB).
#[derive(Debug, Default)]
struct Ids {
    /// One more than the highest id handed out.
    bound: ObjectId,
    /// Ids freed, to hand out again.
    free: Vec<ObjectId>,
}

impl Ids {
    /// An id for a new object.
    fn take(&mut self) -> ObjectId {
        self.free.pop().unwrap_or_else(|| {
            let id = self.bound;
            // Four billion objects of one resource would take terabytes first.
            self.bound = self.bound.saturating_add(1);
            id
        })
    }

    /// Frees `id` (its object was removed).
    fn give_back(&mut self, id: ObjectId) {
        self.free.push(id);
    }
}

/// A set of objects of one table by id, so that a walk of an index filters by membership
/// reading only the entries (one bit per object of the table).
#[derive(Debug)]
pub(crate) struct IdSet {
    words: Vec<u64>,
}

impl IdSet {
    /// An empty set for the ids below `bound`.
    pub(crate) fn new(bound: ObjectId) -> Self {
        Self {
            words: vec![0; (bound as usize).div_ceil(64)],
        }
    }

    /// Adds `id` (an id below the bound the set was made for: those past its last word are
    /// ignored).
    pub(crate) fn insert(&mut self, id: ObjectId) {
        if let Some(word) = self.words.get_mut(id as usize / 64) {
            *word |= 1 << (id % 64);
        }
    }

    /// Whether `id` is in the set.
    pub(crate) fn contains(&self, id: ObjectId) -> bool {
        self.words
            .get(id as usize / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}

/// The objects of a label value or of an owner: in key order (to list them), and their ids in a
/// compressed bitmap (so that a walk of an order's index tests membership by id with nothing to
/// build per query: see `query::walked_page`).
#[derive(Debug, Default)]
pub(crate) struct MemberSet {
    /// The objects, in key order.
    pub(crate) objects: OrderSet<BY_CLUSTER>,
    /// Their ids.
    pub(crate) ids: RoaringBitmap,
}

impl MemberSet {
    fn insert(&mut self, entry: Entry<BY_CLUSTER>) {
        self.ids.insert(entry.id);
        self.objects.insert(entry);
    }

    fn remove(&mut self, fields: &IndexedFields) {
        if let Some(entry) = self
            .objects
            .take(&key_of::<BY_CLUSTER>(fields) as &dyn EntryKey<BY_CLUSTER>)
        {
            self.ids.remove(entry.id);
        }
    }

    /// How many objects.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// The label sets of a table: key → value → objects.
type LabelIndex = HashMap<Box<str>, HashMap<Box<str>, MemberSet>>;

/// The objects of a table by the uid of their controller owner.
type OwnerIndex = HashMap<Box<str>, MemberSet>;

/// What an arena line does not hold: the object is not in the arena (its name or key holds a
/// separator) and is always a fuzzy candidate.
const NOT_IN_ARENA: u64 = u64::MAX;

/// Every name of a table in one byte arena, for substring search (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct NameArena {
    /// Lines `name NUL namespace NUL cluster LF`; removed lines are all NUL but the LF.
    text: Vec<u8>,
    /// Bytes of removed lines.
    dead: usize,
    /// Objects whose key holds a NUL or LF (never in the arena).
    odd: usize,
}

impl NameArena {
    /// Adds the line of `fields`; returns where it starts.
    fn push(&mut self, fields: &IndexedFields) -> u64 {
        let parts = [
            fields.name.as_bytes(),
            fields.namespace.as_bytes(),
            fields.cluster.as_bytes(),
        ];
        if parts.iter().any(|p| p.contains(&0) || p.contains(&b'\n')) {
            self.odd += 1;
            return NOT_IN_ARENA;
        }
        let at = self.text.len() as u64;
        self.text.extend_from_slice(parts[0]);
        self.text.push(0);
        self.text.extend_from_slice(parts[1]);
        self.text.push(0);
        self.text.extend_from_slice(parts[2]);
        self.text.push(b'\n');
        at
    }

    /// Blanks the line at `at`.
    fn remove(&mut self, at: u64) {
        if at == NOT_IN_ARENA {
            self.odd = self.odd.saturating_sub(1);
            return;
        }
        let Ok(start) = usize::try_from(at) else {
            return;
        };
        let Some(rest) = self.text.get_mut(start..) else {
            return;
        };
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        rest[..end].fill(0);
        self.dead += end + 1;
    }

    /// Whether removed lines take more room than live ones (time to rebuild).
    fn wasteful(&self) -> bool {
        self.dead > 4096 && self.dead * 2 > self.text.len()
    }

    /// The keys (cluster, namespace, name) of the lines whose name contains `part`, at most
    /// `cap` of them (`None` when there are more, or when some names are not in the arena).
    fn search(&self, part: &str, cap: usize) -> Option<Vec<(&str, &str, &str)>> {
        if self.odd > 0 || part.is_empty() || part.contains(['\0', '\n']) {
            return None;
        }
        let mut hits = Vec::new();
        let mut last_line = usize::MAX;
        for at in memchr::memmem::find_iter(&self.text, part.as_bytes()) {
            let line_start = memchr::memrchr(b'\n', &self.text[..at]).map_or(0, |p| p + 1);
            if line_start == last_line {
                continue;
            }
            let line_end =
                memchr::memchr(b'\n', &self.text[at..]).map_or(self.text.len(), |p| at + p);
            let line = &self.text[line_start..line_end];
            let mut parts = line.splitn(3, |b| *b == 0);
            let (Some(name), Some(namespace), Some(cluster)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            // A hit in the namespace or cluster part is not a name match.
            if at + part.len() > line_start + name.len() {
                continue;
            }
            last_line = line_start;
            let (Ok(name), Ok(namespace), Ok(cluster)) = (
                std::str::from_utf8(name),
                std::str::from_utf8(namespace),
                std::str::from_utf8(cluster),
            ) else {
                return None;
            };
            if hits.len() >= cap {
                return None;
            }
            hits.push((cluster, namespace, name));
        }
        Some(hits)
    }
}

/// The secondary indexes of one table (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Indexes {
    labels: LabelIndex,
    owners: OwnerIndex,
    pub(crate) by_name: OrderSet<BY_NAME>,
    pub(crate) by_namespace: OrderSet<BY_NAMESPACE>,
    pub(crate) by_created: OrderSet<BY_CREATED>,
    pub(crate) by_rv: OrderSet<BY_RV>,
    pub(crate) names: NameArena,
    ids: Ids,
}

/// What the indexes keep of a stored object besides its entries: its id (the same in every
/// entry, kept while its key is stored) and where its arena line starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    /// The object's id.
    pub(crate) id: ObjectId,
    /// Its arena line.
    pub(crate) line: u64,
}

impl Indexes {
    /// Keeps the indexes in step with a write of `new` over `old` (same key, at `old`'s
    /// place); returns the place of `new` (`old`'s, for an update).
    pub(crate) fn put(
        &mut self,
        old: Option<(&Arc<ResourceObject>, Place)>,
        new: &Arc<ResourceObject>,
    ) -> Place {
        if let Some((old, _)) = old {
            self.remove_sorted(&old.fields);
            self.remove_labels(&old.fields);
            self.remove_owner(&old.fields);
        }
        let place = match old {
            Some((_, place)) => place,
            None => Place {
                id: self.ids.take(),
                line: self.names.push(&new.fields),
            },
        };
        let id = place.id;
        self.by_name.insert(Entry::new(new, id));
        self.by_namespace.insert(Entry::new(new, id));
        self.by_created.insert(Entry::new(new, id));
        self.by_rv.insert(Entry::new(new, id));
        for (key, value) in new.fields.labels.iter() {
            self.labels
                .entry(key.into())
                .or_default()
                .entry(value.into())
                .or_default()
                .insert(Entry::new(new, id));
        }
        if !new.fields.owner_uid.is_empty() {
            self.owners
                .entry(new.fields.owner_uid.as_str().into())
                .or_default()
                .insert(Entry::new(new, id));
        }
        place
    }

    /// Forgets `old` (removed from the table), at `place`.
    pub(crate) fn remove(&mut self, old: &Arc<ResourceObject>, place: Place) {
        self.remove_sorted(&old.fields);
        self.remove_labels(&old.fields);
        self.remove_owner(&old.fields);
        self.names.remove(place.line);
        self.ids.give_back(place.id);
    }

    /// One more than the highest id of the table's objects (the bound of an [`IdSet`]).
    pub(crate) fn id_bound(&self) -> ObjectId {
        self.ids.bound
    }

    fn remove_sorted(&mut self, fields: &IndexedFields) {
        remove_from(&mut self.by_name, fields);
        remove_from(&mut self.by_namespace, fields);
        remove_from(&mut self.by_created, fields);
        remove_from(&mut self.by_rv, fields);
    }

    fn remove_labels(&mut self, fields: &IndexedFields) {
        for (key, value) in fields.labels.iter() {
            let Some(values) = self.labels.get_mut(key) else {
                continue;
            };
            if let Some(set) = values.get_mut(value) {
                set.remove(fields);
                if set.is_empty() {
                    values.remove(value);
                }
            }
            if values.is_empty() {
                self.labels.remove(key);
            }
        }
    }

    fn remove_owner(&mut self, fields: &IndexedFields) {
        if let Some(set) = self.owners.get_mut(fields.owner_uid.as_str()) {
            set.remove(fields);
            if set.is_empty() {
                self.owners.remove(fields.owner_uid.as_str());
            }
        }
    }

    /// The objects whose controller owner has uid `uid`, in key order.
    pub(crate) fn owned_by(&self, uid: &str) -> Option<&MemberSet> {
        self.owners.get(uid)
    }

    /// The objects with label `key` set to one of `values`, each set in key order (one set per
    /// distinct value).
    pub(crate) fn label_sets<'a>(&'a self, key: &str, values: &[String]) -> Vec<&'a MemberSet> {
        let Some(by_value) = self.labels.get(key) else {
            return Vec::new();
        };
        let mut sets: Vec<&'a MemberSet> = Vec::new();
        for set in values.iter().filter_map(|v| by_value.get(v.as_str())) {
            // A value listed twice gives its set once.
            if !sets.iter().any(|s| std::ptr::eq(*s, set)) {
                sets.push(set);
            }
        }
        sets
    }

    /// Asserts that every label and owner set's id bitmap holds exactly the ids of its
    /// objects (tests).
    #[cfg(test)]
    pub(crate) fn assert_member_ids(&self) {
        let sets = self
            .labels
            .iter()
            .flat_map(|(key, values)| {
                values
                    .iter()
                    .map(move |(v, set)| (format!("{key}={v}"), set))
            })
            .chain(
                self.owners
                    .iter()
                    .map(|(uid, set)| (format!("owner {uid}"), set)),
            );
        for (name, set) in sets {
            let ids: Vec<ObjectId> = set.ids.iter().collect();
            let mut expected: Vec<ObjectId> = set.objects.iter().map(|e| e.id).collect();
            expected.sort_unstable();
            assert_eq!(ids, expected, "the ids of {name}");
            assert!(!set.is_empty(), "{name} is kept empty");
        }
    }

    /// Whether the arena should be rebuilt.
    pub(crate) fn names_wasteful(&self) -> bool {
        self.names.wasteful()
    }

    /// Starts a new arena; lines are then added again with [`Indexes::push_name`].
    pub(crate) fn reset_names(&mut self) {
        self.names = NameArena::default();
    }

    /// Adds the arena line of `fields` (rebuilding).
    pub(crate) fn push_name(&mut self, fields: &IndexedFields) -> u64 {
        self.names.push(fields)
    }

    /// The keys of the objects whose name contains `part`: `None` when there are more than
    /// `cap` (or the arena cannot tell).
    pub(crate) fn names_containing(
        &self,
        part: &str,
        cap: usize,
    ) -> Option<Vec<(&str, &str, &str)>> {
        self.names.search(part, cap)
    }
}

/// An arena line position kept in a table slot.
#[derive(Debug, Default)]
pub(crate) struct Line(AtomicU64);

impl Line {
    /// A line at `at`.
    pub(crate) fn new(at: u64) -> Self {
        Self(AtomicU64::new(at))
    }

    /// Where the line starts.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves the line (the arena was rebuilt).
    pub(crate) fn set(&self, at: u64) {
        self.0.store(at, Ordering::Relaxed);
    }
}

impl Clone for Line {
    fn clone(&self) -> Self {
        Self::new(self.get())
    }
}

/// The objects of a key-ordered set from key `from` (inclusive) on.
pub(crate) fn key_range<'a>(
    set: &'a OrderSet<BY_CLUSTER>,
    from: Option<(&'a str, &'a str, &'a str)>,
) -> impl Iterator<Item = &'a Arc<ResourceObject>> + 'a {
    let key = from.map(|(cluster, namespace, name)| IndexKey {
        first: First::Str(cluster),
        cluster,
        namespace,
        name,
    });
    let lower: Bound<&(dyn EntryKey<BY_CLUSTER> + 'a)> = match &key {
        Some(key) => Bound::Included(key as &(dyn EntryKey<BY_CLUSTER> + 'a)),
        None => Bound::Unbounded,
    };
    set.range::<dyn EntryKey<BY_CLUSTER> + 'a, _>((lower, Bound::Unbounded))
        .map(|e| &e.object)
}

/// The entries of the objects named `name` (of cluster `cluster` only, when given), in key
/// order.
pub(crate) fn objects_named<'a>(
    set: &'a OrderSet<BY_NAME>,
    name: &'a str,
    cluster: Option<&'a str>,
) -> impl Iterator<Item = &'a Entry<BY_NAME>> + 'a {
    let from = IndexKey {
        first: First::Str(name),
        cluster: cluster.unwrap_or(""),
        namespace: "",
        name: "",
    };
    range(set, Bound::Included(from), Bound::Unbounded).take_while(move |e| {
        e.object.fields.name == name && cluster.is_none_or(|c| *e.object.fields.cluster == *c)
    })
}

/// The objects of namespace `namespace` in key order (the namespace index holds them by
/// cluster, then name), from key `from` (inclusive) on.
pub(crate) fn namespace_range<'a>(
    set: &'a OrderSet<BY_NAMESPACE>,
    namespace: &'a str,
    from: Option<(&'a str, &'a str)>,
) -> impl Iterator<Item = &'a Arc<ResourceObject>> + 'a {
    let (cluster, name) = from.unwrap_or(("", ""));
    let key = IndexKey {
        first: First::Str(namespace),
        cluster,
        namespace,
        name,
    };
    set.range::<dyn EntryKey<BY_NAMESPACE> + 'a, _>((
        Bound::Included(&key as &(dyn EntryKey<BY_NAMESPACE> + 'a)),
        Bound::Unbounded,
    ))
    .map(|e| &e.object)
    .take_while(move |o| o.fields.namespace == namespace)
}

/// Sorts `objects` in the order of a one-field `orderby` on index field `F` (ties in key order,
/// ascending): the evaluator's order, with no sort key built per object.
pub(crate) fn sort_by<const F: u8>(objects: &mut [Arc<ResourceObject>], descending: bool) {
    objects.sort_unstable_by(|a, b| {
        compare_keys(&key_of::<F>(&a.fields), &key_of::<F>(&b.fields), descending)
    });
}

/// Keeps the first `take` of `objects` in the order of a one-field `orderby` on index field
/// `F`, in that order: a partial selection (linear in the objects), then a sort of those only.
pub(crate) fn first_in_order<const F: u8>(
    objects: &mut Vec<&Arc<ResourceObject>>,
    take: usize,
    descending: bool,
) {
    let order = |a: &&Arc<ResourceObject>, b: &&Arc<ResourceObject>| {
        compare_keys(&key_of::<F>(&a.fields), &key_of::<F>(&b.fields), descending)
    };
    if take == 0 {
        objects.clear();
        return;
    }
    if take < objects.len() {
        objects.select_nth_unstable_by(take - 1, order);
        objects.truncate(take);
    }
    objects.sort_unstable_by(order);
}
