//! Watches, with the semantics of the kube-apiserver watch cache.
//!
//! - **Start.** `resourceVersion` unset, `""` or `"0"`: one synthetic `ADDED` per matching
//!   object, then live changes. `"N"`: the retained changes after `N`, then live changes; when
//!   changes after `N` are no longer retained (or `N` is newer than anything this store wrote,
//!   e.g. it comes from an earlier process), the first item is [`StorageError::Expired`]
//!   (`410 Gone`) and the client lists again. Anything else is a `400 BadRequest`.
//! - **No gap, no duplicate.** The watcher subscribes to the resource's channel and takes the
//!   snapshot (or replay) under the same write lock, at revision `R`: everything up to `R` comes
//!   from the snapshot, everything after from the channel; channel records at or below `R` are
//!   skipped (they cannot occur, the check is cheap insurance).
//! - **Filters.** The same [`ListOptions`] as a list (clusters, namespaces, names, label and
//!   field selectors, fuzzy names, creation time), through the reference evaluator. As in the
//!   kube watch cache, an object that starts matching is `ADDED`, one that stops matching is
//!   `DELETED` (its previous state, with the change's revision), and a deletion is `DELETED`
//!   carrying the last stored object stamped with the deletion's revision. Owner queries cannot
//!   be watched (the owner set changes over time): `422 Invalid`.
//! - **Slow watchers** never block writers: each resource's channel holds
//!   [`crate::MemoryConfig::watch_buffer`] changes; a watcher that falls further behind gets
//!   [`StorageError::Expired`] and its stream ends (the client re-lists, as with kube).
//! - **Bookmarks** (when allowed): every [`crate::MemoryConfig::bookmark_interval`] without
//!   other events, a `BOOKMARK` with the current revision, sent only once every change up to it
//!   has been delivered.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use storage_api::evaluator::{Evaluator, present};
use storage_api::{
    Gvr, ListOptions, ResourceObject, Result, StorageError, WatchEvent, WatchStream,
};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::query::owner_parameter;
use crate::store::{ChangeKind, ChangeReceiver, ChangeRecord, KeyRef, Scope, Shared, Store};
use storage_api::resource_version::{WatchStart as Start, with_revision};

/// An item waiting to be turned into a watch event.
#[derive(Debug)]
enum Pending {
    /// An object of the initial state.
    Initial(Arc<ResourceObject>),
    /// A change.
    Change(Arc<ChangeRecord>),
    /// A bookmark at this revision.
    Bookmark(u64),
    /// The error the stream ends with.
    Error(StorageError),
}

/// The state of one watch stream.
struct Watch {
    shared: Arc<Shared>,
    gvr: Arc<Gvr>,
    /// The filters (ordering and paging cleared).
    options: ListOptions,
    receiver: ChangeReceiver,
    pending: VecDeque<Pending>,
    /// Changes up to this revision came with the snapshot or replay.
    delivered_through: u64,
    bookmarks: Option<Interval>,
    done: bool,
}

/// Starts a watch of resource `gvr` for `options`.
pub(crate) fn watch(
    shared: &Arc<Shared>,
    gvr: Arc<Gvr>,
    options: &ListOptions,
) -> Result<WatchStream> {
    let start = Start::parse(options.resource_version.as_deref())?;
    if options.owner.is_some() {
        return Err(StorageError::invalid(
            owner_parameter(options),
            "owner queries cannot be watched; list them instead",
        ));
    }
    let options = options.filters_only();
    // Subscribe and take the snapshot under one lock: a read lock when the resource's channel
    // exists (the usual case), else the write lock to create it.
    let (receiver, current, pending) = {
        let store = shared.read();
        match store.subscribe_existing(&gvr) {
            Some(receiver) => {
                let (current, pending) = initial(&store, &gvr, &options, start);
                (receiver, current, pending)
            }
            None => {
                drop(store);
                let mut store = shared.write();
                let receiver = store.subscribe(&gvr)?;
                let (current, pending) = initial(&store, &gvr, &options, start);
                (receiver, current, pending)
            }
        }
    };
    let bookmarks = options.allow_watch_bookmarks.then(|| {
        let period = shared.config.bookmark_interval;
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    let state = Watch {
        shared: shared.clone(),
        gvr,
        options,
        receiver,
        pending,
        delivered_through: current,
        bookmarks,
        done: false,
    };
    Ok(futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    })
    .boxed())
}

/// What a watch delivers before live changes, and the revision it covers: the matching objects
/// (from now), the retained changes (from a version), or the error the stream ends with.
fn initial(
    store: &Store,
    gvr: &Gvr,
    options: &ListOptions,
    start: Start,
) -> (u64, VecDeque<Pending>) {
    let current = store.revision();
    let mut pending = VecDeque::new();
    match start {
        Start::Now => {
            let evaluator = Evaluator::new(options, None);
            let scope = Scope::new(&options.clusters, &options.namespaces);
            if let Some(table) = store.table(gvr) {
                pending.extend(
                    table
                        .scan(&scope, None)
                        .filter(|slot| evaluator.matches_fields(&slot.object.fields))
                        .map(|slot| Pending::Initial(slot.object.clone())),
                );
            }
        }
        Start::After(revision) if revision > current => {
            pending.push_back(Pending::Error(StorageError::Expired {
                message: format!(
                    "{revision} is newer than the current resource version {current} \
                     (from another server or an earlier process); list again"
                ),
            }));
        }
        Start::After(revision) => match store.history().after(revision, gvr) {
            Some(records) => pending.extend(records.map(|r| Pending::Change(r.clone()))),
            None => pending.push_back(Pending::Error(StorageError::Expired {
                message: format!("{revision} ({})", store.history().oldest_resumable()),
            })),
        },
    }
    (current, pending)
}

impl Watch {
    /// The next event, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(item) = self.pending.pop_front() {
                match self.convert(item) {
                    Ok(Some(event)) => return Some(Ok(event)),
                    Ok(None) => continue,
                    Err(error) => {
                        self.done = true;
                        return Some(Err(error));
                    }
                }
            }
            let received = match &mut self.bookmarks {
                Some(interval) => tokio::select! {
                    received = self.receiver.recv() => Some(received),
                    _ = interval.tick() => None,
                },
                None => Some(self.receiver.recv().await),
            };
            match received {
                Some(Ok(record)) => self.push_change(record),
                Some(Err(RecvError::Lagged(missed))) => self.push_lagged(missed),
                Some(Err(RecvError::Closed)) => return None,
                None => self.push_bookmark(),
            }
        }
    }

    fn push_change(&mut self, record: Arc<ChangeRecord>) {
        if record.revision > self.delivered_through {
            self.pending.push_back(Pending::Change(record));
        }
    }

    fn push_lagged(&mut self, missed: u64) {
        self.pending
            .push_back(Pending::Error(StorageError::Expired {
                message: format!(
                    "{} (the watch of {} fell {missed} changes behind and was closed; list again)",
                    self.delivered_through, self.gvr
                ),
            }));
    }

    /// Delivers what the channel holds, then a bookmark at the current revision: under the
    /// read lock no write is in flight, so every change up to that revision is in the channel.
    fn push_bookmark(&mut self) {
        let shared = self.shared.clone();
        let store = shared.read();
        loop {
            match self.receiver.try_recv() {
                Ok(record) => self.push_change(record),
                Err(TryRecvError::Lagged(missed)) => {
                    self.push_lagged(missed);
                    return;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.pending.push_back(Pending::Bookmark(store.revision()));
    }

    /// The watch event of `item` for this watcher, if any.
    fn convert(&mut self, item: Pending) -> Result<Option<WatchEvent>> {
        let evaluator = Evaluator::new(&self.options, None);
        let record = match item {
            Pending::Error(error) => return Err(error),
            Pending::Bookmark(revision) => {
                self.delivered_through = self.delivered_through.max(revision);
                return Ok(Some(WatchEvent::Bookmark {
                    resource_version: revision.to_string(),
                }));
            }
            Pending::Initial(object) => {
                return Ok(if evaluator.matches(&object)? {
                    Some(WatchEvent::Added(self.present(&object)?))
                } else {
                    None
                });
            }
            Pending::Change(record) => record,
        };
        self.delivered_through = self.delivered_through.max(record.revision);
        let now = record.kind != ChangeKind::Deleted && evaluator.matches(&record.object)?;
        let before = match (record.kind, &record.previous) {
            (ChangeKind::Deleted, _) => evaluator.matches(&record.object)?,
            (_, Some(previous)) => evaluator.matches(previous)?,
            (_, None) => false,
        };
        let event = match (before, now) {
            (false, true) => WatchEvent::Added(self.present(&record.object)?),
            (true, true) => WatchEvent::Modified(self.present(&record.object)?),
            (true, false) => {
                let last = match (record.kind, &record.previous) {
                    (ChangeKind::Deleted, _) | (_, None) => &record.object,
                    (_, Some(previous)) => previous,
                };
                let last = ResourceObject {
                    fields: last.fields.clone(),
                    raw: with_revision(&last.raw, record.revision)?,
                };
                WatchEvent::Deleted(self.present_owned(last)?)
            }
            (false, false) => return Ok(None),
        };
        Ok(Some(event))
    }

    fn present(&self, object: &ResourceObject) -> Result<ResourceObject> {
        self.present_owned(object.clone())
    }

    /// Applies `onlyMetadata` and `inject-events` (with the object's current events).
    fn present_owned(&self, object: ResourceObject) -> Result<ResourceObject> {
        if !self.options.inject_events && !self.options.only_metadata {
            return Ok(object);
        }
        let events = if self.options.inject_events {
            let store = self.shared.read();
            store
                .table(&self.gvr)
                .and_then(|table| table.get(KeyRef::of(&object)))
                .filter(|slot| slot.object.fields.uid == object.fields.uid)
                .map(|slot| slot.event_bytes())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        present(&self.options, object, &events)
    }
}
