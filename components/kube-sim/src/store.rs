//! The object store: the current objects of every resource, one global revision counter (like
//! etcd's), and a bounded history of changes.
//!
//! The history serves watches from a resource version and reads at an older revision
//! (continue tokens, `resourceVersionMatch=Exact`): the state at revision `r` is the current
//! state with every key changed after `r` replaced by its value before the first such change.
//! A revision older than the oldest retained change is *compacted*: reads and watches from it
//! fail with `410 Expired`, as they do against a real apiserver after etcd compaction.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// The watch event type.
    pub(crate) fn event_type(self) -> kube_wire::EventType {
        match self {
            Self::Added => kube_wire::EventType::Added,
            Self::Modified => kube_wire::EventType::Modified,
            Self::Deleted => kube_wire::EventType::Deleted,
        }
    }
}

/// One change of one object, at one revision.
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) revision: u64,
    pub(crate) resource: Arc<str>,
    pub(crate) key: Arc<str>,
    pub(crate) kind: ChangeKind,
    /// The object after the change (for a deletion: its last state, at the deletion revision).
    pub(crate) object: Bytes,
    /// The object before the change (`None` for a creation).
    pub(crate) prev: Option<Bytes>,
}

/// A stored object: its JSON and the revision of its last change.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) revision: u64,
    pub(crate) raw: Bytes,
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteError {
    NotFound,
    Exists,
    /// The object changed since the expected revision.
    Conflict,
    /// The object could not be serialized.
    Encode(String),
}

/// Why a read at a revision cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Older than the retained history; `compacted` is the compaction revision.
    TooOld { compacted: u64 },
    /// Newer than the store.
    TooNew { current: u64 },
}

/// A page read from the store.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// The revision the page was read at.
    pub(crate) revision: u64,
    /// `(key, object)` in key order.
    pub(crate) items: Vec<(Arc<str>, Bytes)>,
    /// Whether more objects follow the last item.
    pub(crate) more: bool,
    /// How many objects follow the last item, when asked for.
    pub(crate) remaining: Option<usize>,
}

/// A committed write: the new revision and the object as stored (or, for a deletion, as
/// deleted).
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub(crate) revision: u64,
    pub(crate) raw: Bytes,
}

/// The objects of one resource, by key.
type Bucket = BTreeMap<Arc<str>, Stored>;

#[derive(Debug)]
struct Inner {
    revision: u64,
    buckets: HashMap<Arc<str>, Bucket>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    compacted: u64,
}

/// The store shared by the request handlers, the churn and the admin endpoints.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    revision_tx: watch::Sender<u64>,
}

/// Sets `metadata.resourceVersion` and serializes.
fn encode_at(mut object: Value, revision: u64) -> Result<Bytes, WriteError> {
    if let Some(meta) = crate::meta::metadata_mut(&mut object) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
    let mut raw = serde_json::to_vec(&object).map_err(|e| WriteError::Encode(e.to_string()))?;
    raw.shrink_to_fit();
    Ok(Bytes::from(raw))
}

/// The same object JSON with another `metadata.resourceVersion`.
pub(crate) fn with_revision(raw: &Bytes, revision: u64) -> Bytes {
    match serde_json::from_slice::<Value>(raw) {
        Ok(value) => encode_at(value, revision).unwrap_or_else(|_| raw.clone()),
        Err(_) => raw.clone(),
    }
}

impl Store {
    /// An empty store at `revision`, keeping at most `history_limit` changes.
    pub(crate) fn new(revision: u64, history_limit: usize) -> Self {
        let (revision_tx, _) = watch::channel(revision);
        Self {
            inner: Mutex::new(Inner {
                revision,
                buckets: HashMap::new(),
                history: VecDeque::new(),
                history_limit: history_limit.max(1),
                compacted: revision,
            }),
            revision_tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current revision.
    pub(crate) fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// The compaction revision: reads and watches need a revision at least this.
    pub(crate) fn compacted(&self) -> u64 {
        self.lock().compacted
    }

    /// A receiver of the current revision, notified on every commit.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision_tx.subscribe()
    }

    /// One object.
    pub(crate) fn get(&self, resource: &str, key: &str) -> Option<Stored> {
        self.lock().buckets.get(resource)?.get(key).cloned()
    }

    /// Number of objects of a resource.
    pub(crate) fn count(&self, resource: &str) -> usize {
        self.lock().buckets.get(resource).map_or(0, BTreeMap::len)
    }

    /// The keys of a resource starting with `prefix`.
    pub(crate) fn keys(&self, resource: &str, prefix: &str) -> Vec<Arc<str>> {
        let inner = self.lock();
        let Some(bucket) = inner.buckets.get(resource) else {
            return Vec::new();
        };
        bucket
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The current objects of a resource starting with `prefix`.
    pub(crate) fn objects(&self, resource: &str, prefix: &str) -> Vec<(Arc<str>, Stored)> {
        let inner = self.lock();
        let Some(bucket) = inner.buckets.get(resource) else {
            return Vec::new();
        };
        bucket
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The ids of the resources that have objects.
    pub(crate) fn resources(&self) -> Vec<Arc<str>> {
        self.lock()
            .buckets
            .iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Up to `max` objects of the state at revision `at` (`None`: current) whose key starts with
    /// `prefix` and sorts after `after`, in key order.
    pub(crate) fn read_range(
        &self,
        resource: &str,
        prefix: &str,
        after: Option<&str>,
        at: Option<u64>,
        max: usize,
        count_rest: bool,
    ) -> Result<Page, ReadError> {
        let inner = self.lock();
        let at = at.unwrap_or(inner.revision);
        if at > inner.revision {
            return Err(ReadError::TooNew {
                current: inner.revision,
            });
        }
        if at < inner.compacted {
            return Err(ReadError::TooOld {
                compacted: inner.compacted,
            });
        }
        let in_range = |key: &str| key.starts_with(prefix) && after.is_none_or(|after| key > after);
        // The value at `at` of every key changed after `at`: the state before its first change.
        let mut overrides: BTreeMap<Arc<str>, Option<Bytes>> = BTreeMap::new();
        if at < inner.revision {
            let start = inner.history.partition_point(|c| c.revision <= at);
            for change in inner.history.range(start..) {
                if &*change.resource == resource && in_range(&change.key) {
                    overrides
                        .entry(change.key.clone())
                        .or_insert_with(|| change.prev.clone());
                }
            }
        }
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let empty = Bucket::new();
        let bucket = inner.buckets.get(resource).unwrap_or(&empty);
        let mut current = bucket
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| !overrides.contains_key(&***k))
            .map(|(k, v)| (k.clone(), v.raw.clone()))
            .peekable();
        let past: Vec<(Arc<str>, Bytes)> = overrides
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let mut past = past.into_iter().peekable();
        let mut next = || match (current.peek(), past.peek()) {
            (Some((a, _)), Some((b, _))) => {
                if a < b {
                    current.next()
                } else {
                    past.next()
                }
            }
            (Some(_), None) => current.next(),
            (None, Some(_)) => past.next(),
            (None, None) => None,
        };
        let mut items = Vec::with_capacity(max.min(4096));
        let mut more = false;
        while let Some(item) = next() {
            if items.len() == max {
                more = true;
                break;
            }
            items.push(item);
        }
        let remaining = if count_rest {
            let mut n = usize::from(more);
            while next().is_some() {
                n += 1;
            }
            Some(n)
        } else {
            None
        };
        Ok(Page {
            revision: at,
            items,
            more,
            remaining,
        })
    }

    /// The changes of `resource` (with a key starting with `prefix`) after revision `cursor`,
    /// at most `max`, and the revision up to which the history was examined.
    pub(crate) fn changes_since(
        &self,
        resource: &str,
        prefix: &str,
        cursor: u64,
        max: usize,
    ) -> Result<(Vec<Arc<Change>>, u64), ReadError> {
        let inner = self.lock();
        if cursor < inner.compacted {
            return Err(ReadError::TooOld {
                compacted: inner.compacted,
            });
        }
        let start = inner.history.partition_point(|c| c.revision <= cursor);
        let mut changes = Vec::new();
        let mut examined = inner.revision.max(cursor);
        for change in inner.history.range(start..) {
            if changes.len() == max {
                examined = change.revision - 1;
                break;
            }
            if &*change.resource == resource && change.key.starts_with(prefix) {
                changes.push(change.clone());
            }
        }
        Ok((changes, examined))
    }

    fn commit(&self, mut inner: MutexGuard<'_, Inner>, change: Change) {
        let revision = change.revision;
        inner.history.push_back(Arc::new(change));
        while inner.history.len() > inner.history_limit {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.revision;
            }
        }
        drop(inner);
        self.revision_tx.send_replace(revision);
    }

    /// Creates an object that must not exist.
    pub(crate) fn create(
        &self,
        resource: &Arc<str>,
        key: &str,
        object: Value,
    ) -> Result<Committed, WriteError> {
        let mut inner = self.lock();
        let revision = inner.revision + 1;
        let bucket = inner.buckets.entry(resource.clone()).or_default();
        if bucket.contains_key(key) {
            return Err(WriteError::Exists);
        }
        let raw = encode_at(object, revision)?;
        let key: Arc<str> = Arc::from(key);
        bucket.insert(
            key.clone(),
            Stored {
                revision,
                raw: raw.clone(),
            },
        );
        inner.revision = revision;
        self.commit(
            inner,
            Change {
                revision,
                resource: resource.clone(),
                key,
                kind: ChangeKind::Added,
                object: raw.clone(),
                prev: None,
            },
        );
        Ok(Committed { revision, raw })
    }

    /// Replaces an object last changed at revision `expected`.
    pub(crate) fn update(
        &self,
        resource: &Arc<str>,
        key: &str,
        expected: u64,
        object: Value,
    ) -> Result<Committed, WriteError> {
        let mut inner = self.lock();
        let revision = inner.revision + 1;
        let bucket = inner
            .buckets
            .get_mut(resource)
            .ok_or(WriteError::NotFound)?;
        let Some((key, stored)) = bucket.get_key_value(key) else {
            return Err(WriteError::NotFound);
        };
        if stored.revision != expected {
            return Err(WriteError::Conflict);
        }
        let key = key.clone();
        let raw = encode_at(object, revision)?;
        let prev = bucket.insert(
            key.clone(),
            Stored {
                revision,
                raw: raw.clone(),
            },
        );
        inner.revision = revision;
        self.commit(
            inner,
            Change {
                revision,
                resource: resource.clone(),
                key,
                kind: ChangeKind::Modified,
                object: raw.clone(),
                prev: prev.map(|p| p.raw),
            },
        );
        Ok(Committed { revision, raw })
    }

    /// Deletes an object (last changed at `expected`, when given).
    pub(crate) fn delete(
        &self,
        resource: &Arc<str>,
        key: &str,
        expected: Option<u64>,
    ) -> Result<Committed, WriteError> {
        let mut inner = self.lock();
        let revision = inner.revision + 1;
        let bucket = inner
            .buckets
            .get_mut(resource)
            .ok_or(WriteError::NotFound)?;
        let Entry::Occupied(entry) = bucket.entry(Arc::from(key)) else {
            return Err(WriteError::NotFound);
        };
        if expected.is_some_and(|e| e != entry.get().revision) {
            return Err(WriteError::Conflict);
        }
        let (key, prev) = entry.remove_entry();
        let raw = with_revision(&prev.raw, revision);
        inner.revision = revision;
        self.commit(
            inner,
            Change {
                revision,
                resource: resource.clone(),
                key,
                kind: ChangeKind::Deleted,
                object: raw.clone(),
                prev: Some(prev.raw),
            },
        );
        Ok(Committed { revision, raw })
    }

    /// Loads objects without history (fixtures): `(resource, key, revision, json)`, revisions
    /// increasing and above the current one. The compaction revision moves to the last one.
    pub(crate) fn load(&self, objects: impl IntoIterator<Item = (Arc<str>, Arc<str>, u64, Bytes)>) {
        let mut inner = self.lock();
        let mut last = inner.revision;
        for (resource, key, revision, raw) in objects {
            last = last.max(revision);
            inner
                .buckets
                .entry(resource)
                .or_default()
                .insert(key, Stored { revision, raw });
        }
        inner.revision = last;
        inner.compacted = last;
        drop(inner);
        self.revision_tx.send_replace(last);
    }

    /// Drops the whole history: every older revision becomes compacted.
    pub(crate) fn compact(&self) -> u64 {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted = inner.revision;
        inner.compacted
    }

    /// Number of retained changes.
    pub(crate) fn history_len(&self) -> usize {
        self.lock().history.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(name: &str, v: i32) -> Value {
        json!({"metadata": {"name": name}, "v": v})
    }

    fn names(page: &Page) -> Vec<String> {
        page.items
            .iter()
            .map(|(k, raw)| {
                let v: Value = serde_json::from_slice(raw).expect("json");
                format!("{k}={}", v["v"])
            })
            .collect()
    }

    #[test]
    fn reads_at_older_revisions() {
        let store = Store::new(10, 100);
        let res: Arc<str> = Arc::from("pods");
        store.create(&res, "ns/a", obj("a", 1)).expect("a");
        store.create(&res, "ns/b", obj("b", 1)).expect("b");
        let at = store.revision();
        store.update(&res, "ns/a", 11, obj("a", 2)).expect("update");
        store.delete(&res, "ns/b", None).expect("delete");
        store.create(&res, "ns/c", obj("c", 1)).expect("c");
        let then = store
            .read_range("pods", "ns/", None, Some(at), 10, true)
            .expect("read");
        assert_eq!(names(&then), ["ns/a=1", "ns/b=1"]);
        let now = store
            .read_range("pods", "ns/", None, None, 10, true)
            .expect("read");
        assert_eq!(names(&now), ["ns/a=2", "ns/c=1"]);
        let first = store
            .read_range("pods", "", None, Some(at), 1, true)
            .expect("read");
        assert!(first.more);
        assert_eq!(first.remaining, Some(1));
        let rest = store
            .read_range("pods", "", Some("ns/a"), Some(at), 1, false)
            .expect("read");
        assert_eq!(names(&rest), ["ns/b=1"]);
        assert!(!rest.more);
        let (changes, upto) = store.changes_since("pods", "", at, 100).expect("changes");
        assert_eq!(changes.len(), 3);
        assert_eq!(upto, store.revision());
        store.compact();
        assert_eq!(
            store.read_range("pods", "", None, Some(at), 1, false).err(),
            Some(ReadError::TooOld {
                compacted: store.revision()
            })
        );
        assert!(store.changes_since("pods", "", at, 10).is_err());
    }

    #[test]
    fn bounded_history_compacts() {
        let store = Store::new(0, 2);
        let res: Arc<str> = Arc::from("cm");
        for i in 0..5 {
            store
                .create(&res, &format!("k{i}"), obj("x", i))
                .expect("create");
        }
        assert_eq!(store.history_len(), 2);
        assert_eq!(store.compacted(), 3);
        assert!(store.changes_since("cm", "", 2, 10).is_err());
        assert_eq!(store.changes_since("cm", "", 3, 10).expect("ok").0.len(), 2);
    }

    #[test]
    fn optimistic_concurrency() {
        let store = Store::new(0, 10);
        let res: Arc<str> = Arc::from("cm");
        let c = store.create(&res, "a", obj("a", 1)).expect("create");
        assert_eq!(
            store.create(&res, "a", obj("a", 1)).err(),
            Some(WriteError::Exists)
        );
        assert_eq!(
            store.update(&res, "a", c.revision + 5, obj("a", 2)).err(),
            Some(WriteError::Conflict)
        );
        store
            .update(&res, "a", c.revision, obj("a", 2))
            .expect("update");
        let deleted = store.delete(&res, "a", None).expect("delete");
        let v: Value = serde_json::from_slice(&deleted.raw).expect("json");
        assert_eq!(
            v["metadata"]["resourceVersion"],
            deleted.revision.to_string()
        );
    }
}
