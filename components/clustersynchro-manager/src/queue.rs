//! The pressure queue between a resource's informer and its writer (the original's
//! `resourcesynchro/queue`).
//!
//! - One pending event per key: a new event for a key that already has one is merged into it
//!   ([`merge`], reference §14.7), so a burst of updates to one object costs one write.
//! - Keys are served first in, first out.
//! - A key handed to the writer stays "processing" until [`PressureQueue::done`]: events for it
//!   that arrive meanwhile wait (merged) and the key is queued again only when the writer is
//!   done, so two writes of one object never race and their order is kept.
//! - Nothing is ever dropped: the informer waits ([`PressureQueue::wait_for_room`]) when the
//!   queue is full instead.
//! - [`PressureQueue::mark`] says when everything queued up to a point (the end of the initial
//!   list) is written, however many later events keep the queue busy.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The object appeared (or is seen for the first time).
    Added,
    /// The object changed.
    Updated,
    /// The object is gone.
    Deleted,
}

/// One pending event: an action and the payload that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<T> {
    /// What happened.
    pub action: Action,
    /// The object (or, for deletions, whatever identifies it).
    pub object: T,
}

impl<T> Event<T> {
    /// A new event.
    pub fn new(action: Action, object: T) -> Self {
        Self { action, object }
    }
}

/// Merges a newer event for a key into the older pending one, exactly as the original's
/// `pressureEvents` does:
///
/// | older   | newer   | result                 |
/// |---------|---------|------------------------|
/// | x       | none    | x                      |
/// | none    | x       | x                      |
/// | any     | Deleted | Deleted                |
/// | x       | x       | newer                  |
/// | Added   | Updated | Added (newer object)   |
/// | Deleted | Updated | Deleted (older kept)   |
/// | Updated | Added   | Added                  |
/// | Deleted | Added   | Updated (newer object) |
pub fn merge<T>(older: Option<Event<T>>, newer: Option<Event<T>>) -> Option<Event<T>> {
    let Some(mut newer) = newer else {
        return older;
    };
    let Some(older) = older else {
        return Some(newer);
    };
    if newer.action == Action::Deleted || older.action == newer.action {
        return Some(newer);
    }
    match (older.action, newer.action) {
        (Action::Deleted, Action::Updated) => Some(older),
        (Action::Added, Action::Updated) => {
            newer.action = Action::Added;
            Some(newer)
        }
        (Action::Deleted, Action::Added) => {
            newer.action = Action::Updated;
            Some(newer)
        }
        _ => Some(newer),
    }
}

struct Inner<K, T> {
    /// The pending event of each key (queued or waiting for its key to be done), and whether it
    /// holds an event queued before the [`mark`](PressureQueue::mark).
    pending: HashMap<K, (Event<T>, bool)>,
    /// Keys with a pending event that may be handed out, oldest first.
    order: VecDeque<K>,
    /// Keys handed out and not done yet, and whether their write carries an event queued
    /// before the mark.
    processing: HashMap<K, bool>,
    /// After [`mark`](PressureQueue::mark): how many keys still hold an event queued before it
    /// that is not written yet.
    before_mark: Option<usize>,
    closed: bool,
}

/// A FIFO of keys with one merged pending event each (see the module docs).
pub struct PressureQueue<K, T> {
    inner: Mutex<Inner<K, T>>,
    /// Signalled when a key becomes available, or the queue closes.
    readable: Notify,
    /// Signalled when the number of pending events drops, or the queue closes.
    writable: Notify,
}

impl<K: Eq + Hash + Clone, T> Default for PressureQueue<K, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone, T> PressureQueue<K, T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                pending: HashMap::new(),
                order: VecDeque::new(),
                processing: HashMap::new(),
                before_mark: None,
                closed: false,
            }),
            readable: Notify::new(),
            writable: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, T>> {
        // A panic while holding the lock leaves consistent data (every mutation is a single
        // collection call), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an event for `key`, merging it with the key's pending event if any.
    pub fn push(&self, key: K, event: Event<T>) {
        let mut inner = self.lock();
        let (older, marked) = match inner.pending.remove(&key) {
            Some((older, marked)) => (Some(older), marked),
            None => (None, false),
        };
        let was_pending = older.is_some();
        let Some(merged) = merge(older, Some(event)) else {
            // Created and deleted before it was written: nothing of it is left to write.
            if marked && let Some(n) = inner.before_mark.as_mut() {
                *n -= 1;
            }
            return;
        };
        inner.pending.insert(key.clone(), (merged, marked));
        if !was_pending && !inner.processing.contains_key(&key) {
            inner.order.push_back(key);
            drop(inner);
            self.readable.notify_one();
        }
    }

    /// Hands out up to `max` keys (oldest first) with their events; they are processing until
    /// [`done`](Self::done). Returns an empty batch only when the queue is closed and empty;
    /// otherwise waits for a key.
    pub async fn pop_batch(&self, max: usize) -> Vec<(K, Event<T>)> {
        loop {
            let notified = self.readable.notified();
            {
                let mut inner = self.lock();
                if !inner.order.is_empty() {
                    let n = max.max(1).min(inner.order.len());
                    let mut batch = Vec::with_capacity(n);
                    while batch.len() < n {
                        let Some(key) = inner.order.pop_front() else {
                            break;
                        };
                        if let Some((event, marked)) = inner.pending.remove(&key) {
                            inner.processing.insert(key.clone(), marked);
                            batch.push((key, event));
                        }
                    }
                    drop(inner);
                    self.writable.notify_waiters();
                    return batch;
                }
                if inner.closed {
                    return Vec::new();
                }
            }
            notified.await;
        }
    }

    /// Marks keys handed out by [`pop_batch`](Self::pop_batch) as done: a key that received
    /// events meanwhile is queued again (at the back).
    pub fn done<'a>(&self, keys: impl IntoIterator<Item = &'a K>)
    where
        K: 'a,
    {
        let mut inner = self.lock();
        let mut requeued = false;
        for key in keys {
            let Some(marked) = inner.processing.remove(key) else {
                continue;
            };
            if marked && let Some(n) = inner.before_mark.as_mut() {
                *n -= 1;
            }
            if inner.pending.contains_key(key) {
                inner.order.push_back(key.clone());
                requeued = true;
            }
        }
        drop(inner);
        if requeued {
            self.readable.notify_one();
        }
        self.writable.notify_waiters();
    }

    /// Waits until fewer than `limit` events are pending (or the queue is closed).
    pub async fn wait_for_room(&self, limit: usize) {
        loop {
            let notified = self.writable.notified();
            {
                let inner = self.lock();
                if inner.pending.len() < limit || inner.closed {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Waits until no event is pending or processing (or the queue is closed).
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.writable.notified();
            {
                let inner = self.lock();
                if (inner.pending.is_empty() && inner.processing.is_empty()) || inner.closed {
                    return;
                }
            }
            notified.await;
        }
    }

    /// The number of pending events (queued or waiting for their key to be done).
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Whether no event is pending and no key is processing.
    pub fn is_idle(&self) -> bool {
        let inner = self.lock();
        inner.pending.is_empty() && inner.processing.is_empty()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks every event queued so far (the end of the initial list, say): from now on
    /// [`written_past_mark`](Self::written_past_mark) tells whether all of them are written.
    /// Later events for the same keys do not delay it (a key's write carries its newest event);
    /// no keys are copied. Returns whether they are all written already.
    pub fn mark(&self) -> bool {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut count = 0;
        for (_, marked) in inner.pending.values_mut() {
            *marked = true;
            count += 1;
        }
        // A key processing with no pending event: its write carries its newest event.
        for (key, marked) in inner.processing.iter_mut() {
            if !inner.pending.contains_key(key) {
                *marked = true;
                count += 1;
            }
        }
        inner.before_mark = Some(count);
        count == 0
    }

    /// Whether every event queued before [`mark`](Self::mark) is written (false before a mark).
    pub fn written_past_mark(&self) -> bool {
        self.lock().before_mark == Some(0)
    }

    /// Closes the queue: [`pop_batch`](Self::pop_batch) returns what is left, then empty
    /// batches; waiters wake up.
    pub fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_waiters();
        self.writable.notify_waiters();
    }
}

/// What the queue carries for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// The object's JSON as the member sent it.
    Object(Bytes),
    /// The object was deleted.
    Tombstone,
}

/// The queue between an informer and its writer, keyed by `namespace/name`.
pub(crate) type SyncQueue = PressureQueue<Box<str>, Payload>;

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn ev(action: Action, object: &'static str) -> Option<Event<&'static str>> {
        Some(Event::new(action, object))
    }

    /// Reference §14.7, `pkg/synchromanager/resourcesynchro/queue/event_test.go`.
    #[test]
    fn merge_table_matches_the_original() {
        let cases = [
            (ev(Added, "old"), ev(Updated, "new"), ev(Added, "new")),
            (ev(Added, "old"), None, ev(Added, "old")),
            (ev(Updated, "old"), None, ev(Updated, "old")),
            (ev(Deleted, "old"), None, ev(Deleted, "old")),
            (None, ev(Updated, "new"), ev(Updated, "new")),
            (None, ev(Added, "new"), ev(Added, "new")),
            (None, ev(Deleted, "new"), ev(Deleted, "new")),
            (ev(Added, "old"), ev(Deleted, "new"), ev(Deleted, "new")),
            (ev(Updated, "old"), ev(Deleted, "new"), ev(Deleted, "new")),
            (ev(Updated, "old"), ev(Added, "new"), ev(Added, "new")),
            (ev(Deleted, "old"), ev(Updated, "new"), ev(Deleted, "old")),
            (ev(Updated, "old"), ev(Updated, "new"), ev(Updated, "new")),
            (ev(Added, "old"), ev(Added, "new"), ev(Added, "new")),
            (ev(Deleted, "old"), ev(Deleted, "new"), ev(Deleted, "new")),
            (ev(Deleted, "old"), ev(Added, "new"), ev(Updated, "new")),
            (None, None, None),
        ];
        for (older, newer, expected) in cases {
            let label = format!("{older:?} + {newer:?}");
            assert_eq!(merge(older, newer), expected, "{label}");
        }
    }

    #[tokio::test]
    async fn one_pending_event_per_key_in_fifo_order() {
        let q = PressureQueue::new();
        q.push("a", Event::new(Added, 1));
        q.push("b", Event::new(Added, 1));
        q.push("a", Event::new(Updated, 2));
        q.push("c", Event::new(Updated, 1));
        assert_eq!(q.len(), 3);
        let batch = q.pop_batch(10).await;
        assert_eq!(
            batch,
            vec![
                ("a", Event::new(Added, 2)),
                ("b", Event::new(Added, 1)),
                ("c", Event::new(Updated, 1)),
            ]
        );
        assert!(q.is_empty());
        assert!(!q.is_idle(), "keys are processing");
        q.done(batch.iter().map(|(k, _)| k));
        assert!(q.is_idle());
    }

    #[tokio::test]
    async fn processing_key_is_not_requeued_until_done() {
        let q = PressureQueue::new();
        q.push("a", Event::new(Added, 1));
        q.push("b", Event::new(Added, 1));
        let first = q.pop_batch(1).await;
        assert_eq!(first, vec![("a", Event::new(Added, 1))]);
        // Events for "a" while it is processing wait, merged.
        q.push("a", Event::new(Updated, 2));
        q.push("a", Event::new(Updated, 3));
        let second = q.pop_batch(10).await;
        assert_eq!(second, vec![("b", Event::new(Added, 1))]);
        // Done: "a" comes back once, with the merged event.
        q.done([&"a"]);
        let third = q.pop_batch(10).await;
        assert_eq!(third, vec![("a", Event::new(Updated, 3))]);
        q.done([&"a", &"b"]);
        assert!(q.is_idle());
    }

    #[tokio::test]
    async fn done_without_new_events_does_not_requeue() {
        let q: PressureQueue<&str, u32> = PressureQueue::new();
        q.push("a", Event::new(Deleted, 0));
        let batch = q.pop_batch(10).await;
        q.done(batch.iter().map(|(k, _)| k));
        q.close();
        assert!(q.pop_batch(10).await.is_empty());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push_and_close_wakes_it() {
        let q = std::sync::Arc::new(PressureQueue::<String, u32>::new());
        let popper = tokio::spawn({
            let q = q.clone();
            async move { q.pop_batch(5).await }
        });
        tokio::task::yield_now().await;
        q.push("x".into(), Event::new(Added, 7));
        let batch = popper.await.expect("join");
        assert_eq!(batch, vec![("x".to_owned(), Event::new(Added, 7))]);

        let popper = tokio::spawn({
            let q = q.clone();
            async move { q.pop_batch(5).await }
        });
        tokio::task::yield_now().await;
        q.close();
        assert!(popper.await.expect("join").is_empty());
    }

    #[tokio::test]
    async fn wait_for_room_blocks_until_the_writer_takes_events() {
        let q = std::sync::Arc::new(PressureQueue::<u32, u32>::new());
        for i in 0..4 {
            q.push(i, Event::new(Added, i));
        }
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.wait_for_room(3).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let batch = q.pop_batch(2).await;
        assert_eq!(batch.len(), 2);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("room made")
            .expect("join");
    }

    #[tokio::test]
    async fn the_mark_is_passed_under_steady_churn() {
        let q = PressureQueue::new();
        q.push("a", Event::new(Added, 1));
        q.push("b", Event::new(Added, 1));
        q.push("c", Event::new(Added, 1));
        let first = q.pop_batch(1).await; // "a" is being written
        q.push("a", Event::new(Updated, 2)); // "a" again, pending behind its write
        q.push("d", Event::new(Added, 1)); // created and ...
        assert!(!q.mark());
        q.push("d", Event::new(Deleted, 1)); // ... deleted before it was written
        q.done(first.iter().map(|(k, _)| k));
        assert!(!q.written_past_mark(), "a's event of the list is pending");
        // Churn after the mark keeps the queue busy for ever: the mark is passed all the same
        // once each key's event from before it is written.
        for round in 0..3 {
            let batch = q.pop_batch(10).await;
            q.push("b", Event::new(Updated, 10 + round));
            q.push("e", Event::new(Added, round));
            q.done(batch.iter().map(|(k, _)| k));
        }
        assert!(!q.is_idle());
        assert!(q.written_past_mark());
    }

    #[tokio::test]
    async fn an_idle_queue_is_past_its_mark_at_once() {
        let q: PressureQueue<&str, u32> = PressureQueue::new();
        assert!(!q.written_past_mark(), "no mark yet");
        let batch = {
            q.push("a", Event::new(Added, 1));
            q.pop_batch(1).await
        };
        assert!(!q.mark(), "a's write is in flight");
        q.done(batch.iter().map(|(k, _)| k));
        assert!(q.written_past_mark());
        assert!(PressureQueue::<&str, u32>::new().mark());
    }
}
