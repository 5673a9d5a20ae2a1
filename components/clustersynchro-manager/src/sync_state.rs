//! The sync status of one resource synchro: written by its informer (listing, watching,
//! paused) and its writer (storage errors, initial list stored), read as `syncConditions`.

use std::sync::{Arc, Mutex, MutexGuard};

use clusterpedia_crds::ResourceSyncStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::{Notify, watch};

use crate::status::now;

/// A resource's sync status as reported in `syncConditions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusSnapshot {
    /// The state.
    pub status: ResourceSyncStatus,
    /// Why.
    pub reason: String,
    /// Details.
    pub message: String,
    /// Whether the initial list is still being stored.
    pub initial_list_phase: bool,
    /// When `status` last changed.
    pub last_transition_time: Time,
}

#[derive(Debug)]
struct StateInner {
    informer: (ResourceSyncStatus, String, String),
    paused: bool,
    storage_error: Option<String>,
    list_done: bool,
    initial_list_phase: bool,
    effective: (ResourceSyncStatus, String, String),
    last_transition_time: Time,
}

/// The status of one resource synchro, updated by its informer and writer.
#[derive(Debug)]
pub(crate) struct SyncState {
    inner: Mutex<StateInner>,
    notify: Arc<Notify>,
    /// Becomes `true` once the initial list is stored.
    stored_tx: watch::Sender<bool>,
}

impl SyncState {
    pub(crate) fn new(notify: Arc<Notify>) -> Self {
        let pending = (ResourceSyncStatus::Pending, String::new(), String::new());
        Self {
            inner: Mutex::new(StateInner {
                informer: pending.clone(),
                paused: false,
                storage_error: None,
                list_done: false,
                initial_list_phase: true,
                effective: pending,
                last_transition_time: now(),
            }),
            notify,
            stored_tx: watch::channel(false).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, StateInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut StateInner)) {
        let mut inner = self.lock();
        let before = (inner.effective.clone(), inner.initial_list_phase);
        f(&mut inner);
        let effective = if inner.paused {
            (ResourceSyncStatus::Stop, "Pause".to_owned(), String::new())
        } else if let Some(e) = &inner.storage_error {
            (
                ResourceSyncStatus::Stop,
                "StorageExpection".to_owned(),
                e.clone(),
            )
        } else {
            inner.informer.clone()
        };
        if effective.0 != inner.effective.0 {
            inner.last_transition_time = now();
        }
        inner.effective = effective;
        let changed = before != (inner.effective.clone(), inner.initial_list_phase);
        let stored = !inner.initial_list_phase;
        drop(inner);
        if changed {
            self.notify.notify_one();
        }
        if stored && !*self.stored_tx.borrow() {
            self.stored_tx.send_replace(true);
        }
    }

    /// The informer's own state.
    pub(crate) fn set_informer(&self, status: ResourceSyncStatus, reason: &str, message: String) {
        self.update(|s| s.informer = (status, reason.into(), message));
    }

    /// The informer is paused (cluster unhealthy) or running.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.update(|s| s.paused = paused);
    }

    /// The writer fails with a recoverable error (`Some`), or writes again (`None`).
    pub(crate) fn set_storage_error(&self, error: Option<String>) {
        let unchanged = self.lock().storage_error == error;
        if !unchanged {
            self.update(|s| s.storage_error = error);
        }
    }

    /// The first list was read entirely; `written` says whether all of it is written already
    /// (the queue's [`mark`](crate::queue::PressureQueue::mark)).
    pub(crate) fn list_completed(&self, written: bool) {
        self.update(|s| {
            s.list_done = true;
            if written {
                s.initial_list_phase = false;
            }
        });
    }

    /// The writer finished a batch; `list_written` says whether every event of the first list
    /// is now written (later events may still be queued: under steady churn the queue is never
    /// empty, and the initial list is stored all the same).
    pub(crate) fn batch_written(&self, list_written: bool) {
        let done = {
            let s = self.lock();
            s.list_done && s.initial_list_phase && list_written
        };
        if done {
            self.update(|s| s.initial_list_phase = false);
        }
    }

    /// A receiver that becomes `true` once the initial list is stored.
    pub(crate) fn initial_list_stored(&self) -> watch::Receiver<bool> {
        self.stored_tx.subscribe()
    }

    /// The current status.
    pub(crate) fn snapshot(&self) -> StatusSnapshot {
        let s = self.lock();
        StatusSnapshot {
            status: s.effective.0,
            reason: s.effective.1.clone(),
            message: s.effective.2.clone(),
            initial_list_phase: s.initial_list_phase,
            last_transition_time: s.last_transition_time.clone(),
        }
    }
}
