//! Watches over the change log ([`crate::changelog`]), with Kubernetes semantics.
//!
//! - **One reader per factory.** A [`Hub`] reads the log for every watcher of the factory
//!   (all resources) and fans each change out over a broadcast channel: the database sees one
//!   query per wake-up, not one per watcher. It runs only while someone watches (no watcher:
//!   no query at all). PostgreSQL wakes it with `LISTEN`/`NOTIFY` (writers notify at commit),
//!   with a poll every `watch.pollInterval` as a fallback; MySQL/MariaDB and SQLite poll every
//!   `watch.pollInterval` (default 250 ms): idle, that is one primary-key range read returning
//!   nothing, four times a second, per process with watchers.
//! - **Start.** `resourceVersion` unset, `""` or `"0"`: `ADDED` for every matching object, read
//!   in one snapshot with the log's revision `R`, then the changes after `R`. `"N"`: the
//!   changes after `N` (read from the log, page by page), then live ones; `410 Expired` when
//!   changes after `N` were pruned (or `N` is beyond the log). Anything else: `400`.
//! - **No gap, no duplicate.** The watcher subscribes to the hub before it reads the snapshot
//!   or the log: what committed before the subscription is in what it reads, what the hub
//!   broadcasts after it comes from the channel; channel changes at or below what was read are
//!   skipped. Revisions commit in order (the change log's lock), so a reader never sees a
//!   revision before a smaller one.
//! - **Filters**: those of a list, through the reference evaluator; an object that starts
//!   matching is `ADDED`, one that stops is `DELETED` (as the kube watch cache does). Owner
//!   queries cannot be watched (`422`).
//! - **Slow watchers** never block the hub: the channel holds [`CHANNEL_CAPACITY`] changes; a
//!   watcher further behind gets `410 Expired` (the client lists again).
//! - **Bookmarks** (when allowed) every `watch.bookmarkInterval`, at the revision every change
//!   up to which was delivered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use storage_api::evaluator::{Evaluator, present};
use storage_api::resource_version::{WatchStart, served};
use storage_api::{
    Gvr, ListOptions, ResourceObject, Result, StorageError, WatchEvent, WatchStream,
};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::changelog::{self, ChangeRecord, Op};
use crate::config::WatchSettings;
use crate::db::{Db, Pool};

/// Changes the hub's channel holds for the slowest watcher.
pub(crate) const CHANNEL_CAPACITY: usize = 10_000;
/// Changes read per query.
const PAGE: i64 = 1_000;

/// What the hub broadcasts.
#[derive(Debug)]
pub(crate) enum HubItem {
    /// A change.
    Change(Box<ChangeRecord>),
    /// The hub fell behind the log's retention: watchers must list again.
    Expired(String),
}

#[derive(Debug, Default)]
struct HubState {
    sender: Option<broadcast::Sender<Arc<HubItem>>>,
}

/// The change log reader of one factory, shared by its watchers.
#[derive(Debug)]
pub(crate) struct Hub {
    db: Db,
    settings: WatchSettings,
    state: Mutex<HubState>,
    /// Every change up to this revision has been broadcast.
    through: AtomicI64,
}

impl Hub {
    /// A hub over `db` (started by the first watcher).
    pub(crate) fn new(db: Db, settings: WatchSettings) -> Arc<Self> {
        Arc::new(Self {
            db,
            settings,
            state: Mutex::new(HubState::default()),
            through: AtomicI64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribes to the changes broadcast from now on, starting the reader if it is not
    /// running (it starts at the log's current revision, read before this returns).
    async fn subscribe(self: &Arc<Self>) -> Result<broadcast::Receiver<Arc<HubItem>>> {
        if let Some(sender) = &self.lock().sender {
            return Ok(sender.subscribe());
        }
        let start = changelog::state(&self.db).await?.revision;
        let mut state = self.lock();
        if let Some(sender) = &state.sender {
            return Ok(sender.subscribe());
        }
        let (sender, receiver) = broadcast::channel(CHANNEL_CAPACITY);
        state.sender = Some(sender.clone());
        self.through.fetch_max(start, Ordering::AcqRel);
        let hub = self.clone();
        tokio::spawn(async move { hub.run(sender, start).await });
        Ok(receiver)
    }

    /// Reads the log and broadcasts it until nobody listens.
    async fn run(self: Arc<Self>, sender: broadcast::Sender<Arc<HubItem>>, start: i64) {
        let mut last = start;
        let mut listener = match self.db.pool() {
            Pool::Postgres(pool) => match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(mut listener) => match listener.listen(changelog::NOTIFY_CHANNEL).await {
                    Ok(()) => Some(listener),
                    Err(error) => {
                        tracing::warn!(%error, "watch: cannot LISTEN; polling the change log");
                        None
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "watch: cannot LISTEN; polling the change log");
                    None
                }
            },
            _ => None,
        };
        loop {
            {
                let mut state = self.lock();
                // Nobody listens, or the factory shut down (the pool waits for the listener's
                // connection: drop it).
                if sender.receiver_count() == 0 || self.db.is_closed() {
                    state.sender = None;
                    return;
                }
            }
            let mut full = false;
            match changelog::read_after(&self.db, last, None, PAGE).await {
                Ok(records) => {
                    full = records.len() as i64 == PAGE;
                    for record in records {
                        if record.revision != last + 1 {
                            let _ = sender.send(Arc::new(HubItem::Expired(format!(
                                "{last}: the changes after it were pruned before this server \
                                 read them; list again"
                            ))));
                        }
                        last = record.revision;
                        let _ = sender.send(Arc::new(HubItem::Change(Box::new(record))));
                    }
                    self.through.fetch_max(last, Ordering::AcqRel);
                }
                Err(error) => tracing::warn!(%error, "watch: cannot read the change log"),
            }
            if full {
                continue;
            }
            let interval = self.settings.poll_interval;
            match &mut listener {
                Some(listener) => {
                    tokio::select! {
                        received = listener.recv() => {
                            if let Err(error) = received {
                                tracing::debug!(%error, "watch: notification listener");
                                tokio::time::sleep(interval).await;
                            }
                        }
                        () = tokio::time::sleep(interval) => {}
                    }
                }
                None => tokio::time::sleep(interval).await,
            }
        }
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// With the current state (synthetic `ADDED` events).
    Now,
    /// After this revision.
    After(i64),
}

/// Reads the `resourceVersion` of a watch request ([`WatchStart::parse`]: revisions fit an
/// `i64`).
fn parse_start(resource_version: Option<&str>) -> Result<Start> {
    Ok(match WatchStart::parse(resource_version)? {
        WatchStart::Now => Start::Now,
        WatchStart::After(revision) => Start::After(i64::try_from(revision).unwrap_or(i64::MAX)),
    })
}

/// An item waiting to be turned into a watch event.
#[derive(Debug)]
enum Pending {
    Initial(Box<ResourceObject>),
    Change(Arc<HubItem>),
    Replayed(Box<ChangeRecord>),
    Bookmark(i64),
    Error(StorageError),
}

/// The state of one watch stream.
struct Watch {
    hub: Arc<Hub>,
    gvr: Arc<Gvr>,
    options: ListOptions,
    receiver: broadcast::Receiver<Arc<HubItem>>,
    pending: VecDeque<Pending>,
    /// Changes up to this revision were read (snapshot, replay or channel).
    delivered_through: i64,
    /// Replaying from the log: the next page starts after this revision.
    replay_after: Option<i64>,
    bookmarks: Option<Interval>,
    done: bool,
}

/// Starts a watch of `gvr`; `snapshot` lists the matching objects and the log revision they
/// were read at (for watches without a resource version).
pub(crate) async fn watch<F, Fut>(
    hub: &Arc<Hub>,
    gvr: Arc<Gvr>,
    options: &ListOptions,
    snapshot: F,
) -> Result<WatchStream>
where
    F: FnOnce(ListOptions) -> Fut,
    Fut: Future<Output = Result<(Vec<ResourceObject>, i64)>>,
{
    let start = parse_start(options.resource_version.as_deref())?;
    if let Some(owner) = &options.owner {
        let parameter = if owner.uid.is_none() && owner.name.is_some() {
            "ownerName"
        } else {
            "ownerUID"
        };
        return Err(StorageError::invalid(
            parameter,
            "owner queries cannot be watched; list them instead",
        ));
    }
    let options = options.filters_only();
    let receiver = hub.subscribe().await?;
    let mut pending = VecDeque::new();
    let (delivered_through, replay_after) = match start {
        Start::Now => {
            let (items, revision) = snapshot(options.clone()).await?;
            pending.extend(items.into_iter().map(|o| Pending::Initial(Box::new(o))));
            (revision, None)
        }
        Start::After(revision) => {
            let state = changelog::state(&hub.db).await?;
            if revision > state.revision {
                pending.push_back(Pending::Error(StorageError::Expired {
                    message: format!(
                        "{revision} is newer than the current resource version {}; list again",
                        state.revision
                    ),
                }));
                (revision, None)
            } else {
                (revision, Some(revision))
            }
        }
    };
    let bookmarks = options.allow_watch_bookmarks.then(|| {
        let period = hub.settings.bookmark_interval;
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    let state = Watch {
        hub: hub.clone(),
        gvr,
        options,
        receiver,
        pending,
        delivered_through,
        replay_after,
        bookmarks,
        done: false,
    };
    Ok(futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    })
    .boxed())
}

impl Watch {
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
            if let Some(after) = self.replay_after {
                self.replay_page(after).await;
                continue;
            }
            let received = match &mut self.bookmarks {
                Some(interval) => tokio::select! {
                    received = self.receiver.recv() => Some(received),
                    _ = interval.tick() => None,
                },
                None => Some(self.receiver.recv().await),
            };
            match received {
                Some(Ok(item)) => self.push_item(item),
                Some(Err(RecvError::Lagged(missed))) => self.push_lagged(missed),
                Some(Err(RecvError::Closed)) => return None,
                None => self.push_bookmark(),
            }
        }
    }

    /// Reads the next page of the log's changes of this resource after `after`.
    async fn replay_page(&mut self, after: i64) {
        let db = &self.hub.db;
        let result = async {
            let records = changelog::read_after(db, after, Some(&self.gvr), PAGE).await?;
            // Read after the page: when nothing after `after` was pruned by now, the page
            // (read before) is complete.
            let state = changelog::state(db).await?;
            Ok::<_, StorageError>((records, state))
        }
        .await;
        match result {
            Err(error) => {
                self.replay_after = None;
                self.pending.push_back(Pending::Error(error));
            }
            Ok((_, state)) if after < state.pruned => {
                self.replay_after = None;
                self.pending
                    .push_back(Pending::Error(StorageError::Expired {
                        message: format!(
                            "{after}: changes up to {} are no longer kept (watch.maxAge, \
                         watch.maxCount); list again",
                            state.pruned
                        ),
                    }));
            }
            Ok((records, _)) => {
                let full = records.len() as i64 == PAGE;
                let last = records.last().map(|r| r.revision);
                self.pending
                    .extend(records.into_iter().map(|r| Pending::Replayed(Box::new(r))));
                match (full, last) {
                    (true, Some(last)) => self.replay_after = Some(last),
                    _ => self.replay_after = None,
                }
                if let Some(last) = last {
                    self.delivered_through = self.delivered_through.max(last);
                }
            }
        }
    }

    fn push_item(&mut self, item: Arc<HubItem>) {
        match &*item {
            HubItem::Change(record) if record.revision > self.delivered_through => {
                self.pending.push_back(Pending::Change(item));
            }
            HubItem::Change(_) => {}
            HubItem::Expired(message) => {
                self.pending
                    .push_back(Pending::Error(StorageError::Expired {
                        message: message.clone(),
                    }));
            }
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

    /// Delivers what the channel holds, then a bookmark at the hub's position: every change
    /// up to it was broadcast before the position was published, so it is now pending.
    fn push_bookmark(&mut self) {
        let through = self.hub.through.load(Ordering::Acquire);
        loop {
            match self.receiver.try_recv() {
                Ok(item) => self.push_item(item),
                Err(TryRecvError::Lagged(missed)) => {
                    self.push_lagged(missed);
                    return;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.pending.push_back(Pending::Bookmark(through));
    }

    /// The watch event of `item` for this watcher, if any.
    fn convert(&mut self, item: Pending) -> Result<Option<WatchEvent>> {
        let evaluator = Evaluator::new(&self.options, None);
        let record = match item {
            Pending::Error(error) => return Err(error),
            Pending::Bookmark(revision) => {
                self.delivered_through = self.delivered_through.max(revision);
                return Ok(Some(WatchEvent::Bookmark {
                    resource_version: self.delivered_through.to_string(),
                }));
            }
            Pending::Initial(object) => {
                return Ok(if evaluator.matches(&object)? {
                    Some(WatchEvent::Added(present(&self.options, *object, &[])?))
                } else {
                    None
                });
            }
            Pending::Replayed(record) => return self.convert_record(&evaluator, &record),
            Pending::Change(item) => item,
        };
        match &*record {
            HubItem::Change(record) => {
                self.delivered_through = self.delivered_through.max(record.revision);
                if *record.object.fields.gvr != *self.gvr {
                    return Ok(None);
                }
                self.convert_record(&evaluator, record)
            }
            HubItem::Expired(message) => Err(StorageError::Expired {
                message: message.clone(),
            }),
        }
    }

    fn convert_record(
        &self,
        evaluator: &Evaluator<'_>,
        record: &ChangeRecord,
    ) -> Result<Option<WatchEvent>> {
        let now = record.op != Op::Deleted && evaluator.matches(&record.object)?;
        let before = match (record.op, &record.previous) {
            (Op::Deleted, _) => evaluator.matches(&record.object)?,
            (_, Some(previous)) => evaluator.matches(previous)?,
            (_, None) => false,
        };
        let revision = u64::try_from(record.revision).unwrap_or(0);
        let stamped = |object: &ResourceObject| -> Result<ResourceObject> {
            let object = ResourceObject {
                fields: object.fields.clone(),
                raw: served(&object.raw, &object.fields.resource_version, revision)?,
            };
            present(&self.options, object, &[])
        };
        Ok(match (before, now) {
            (false, true) => Some(WatchEvent::Added(stamped(&record.object)?)),
            (true, true) => Some(WatchEvent::Modified(stamped(&record.object)?)),
            (true, false) => {
                let last = match (record.op, &record.previous) {
                    (Op::Deleted, _) | (_, None) => &record.object,
                    (_, Some(previous)) => previous,
                };
                Some(WatchEvent::Deleted(stamped(last)?))
            }
            (false, false) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_parse_like_kubernetes() {
        assert_eq!(parse_start(None).expect("none"), Start::Now);
        assert_eq!(parse_start(Some("")).expect("empty"), Start::Now);
        assert_eq!(parse_start(Some("0")).expect("zero"), Start::Now);
        assert_eq!(parse_start(Some("42")).expect("n"), Start::After(42));
        for bad in ["abc", "-1", "1.5", "0x10", "99999999999999999999"] {
            let err = parse_start(Some(bad)).expect_err(bad);
            assert_eq!(err.status().code, 400, "{bad}");
        }
    }
}
