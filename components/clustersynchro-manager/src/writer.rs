//! The writer of one resource: takes batches of merged events from the pressure queue, readies
//! each object for storage (prune `managedFields` and the last-applied annotation, stamp the
//! cluster annotation, read the indexed fields) and writes the batch with one `apply`.
//!
//! Batches form by themselves: the writer takes whatever is queued (up to the batch size) as
//! soon as it is free, so a quiet resource writes each event at once and a busy one writes
//! large batches. Recoverable storage errors are retried with backoff for as long as it takes,
//! holding the batch (newer events for its keys wait, merged, in the queue); a batch the storage
//! rejects is retried change by change so that only the bad changes are dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use storage_api::object::prepare_member_json;
use storage_api::{
    Change, Gvr, ObjectEvent, ObjectKey, ResourceObject, ResourceStorage, StorageError,
};
use tokio::sync::Semaphore;

use crate::backoff::Backoff;
use crate::metrics::ResourceMetrics;
use crate::queue::{Action, Event, Payload, SyncQueue};
use crate::sync_state::SyncState;

/// Where a writer writes.
pub(crate) enum Sink {
    /// Objects of the resource.
    Resource(Arc<dyn ResourceStorage>),
    /// Events of the resource's objects.
    Events(Arc<dyn ResourceStorage>),
}

/// One change ready for storage.
enum Ready {
    Change(Action, Change),
    Event(ObjectEvent),
}

/// The writer of one queue (see the module docs).
pub(crate) struct Writer {
    /// The queue to drain.
    pub queue: Arc<SyncQueue>,
    /// Where to write.
    pub sink: Sink,
    /// The member cluster.
    pub cluster: Arc<str>,
    /// The stored resource.
    pub gvr: Arc<Gvr>,
    /// The kind of the objects (list items carry none).
    pub kind: String,
    /// The API version of the objects as synced.
    pub api_version: String,
    /// Bounds concurrent storage writes.
    pub workers: Arc<Semaphore>,
    /// Most changes per write.
    pub batch_size: usize,
    /// The resource's status (absent for events).
    pub state: Option<Arc<SyncState>>,
    /// The resource's metrics.
    pub metrics: ResourceMetrics,
    /// For logs.
    pub label: String,
}

/// The object's JSON readied for storage: pruned, stamped, with `kind` and `apiVersion`.
pub(crate) fn ready_object(
    raw: &[u8],
    cluster: &Arc<str>,
    gvr: &Arc<Gvr>,
    kind: &str,
    api_version: &str,
) -> Result<ResourceObject, StorageError> {
    let bytes = prepare_member_json(raw, cluster, gvr, kind, api_version)?;
    ResourceObject::parse(cluster.clone(), gvr.clone(), Bytes::from(bytes))
}

/// An event's JSON readied for storage: `managedFields` removed.
fn ready_event(raw: &[u8], cluster: &Arc<str>) -> Result<ObjectEvent, StorageError> {
    let mut value: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| StorageError::invalid("event", format!("event is not JSON: {e}")))?;
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
    }
    if let Some(object) = value.as_object_mut() {
        object.entry("kind").or_insert_with(|| "Event".into());
        object.entry("apiVersion").or_insert_with(|| "v1".into());
    }
    let bytes = serde_json::to_vec(&value)
        .map_err(|e| StorageError::internal("cannot serialize an event", e))?;
    ObjectEvent::parse(cluster.clone(), Bytes::from(bytes))
}

fn object_key(cluster: &str, key: &str) -> ObjectKey {
    match key.split_once('/') {
        Some((namespace, name)) => ObjectKey::new(cluster, namespace, name),
        None => ObjectKey::new(cluster, "", key),
    }
}

impl Writer {
    /// Writes until the queue is closed and empty.
    pub(crate) async fn run(self) {
        loop {
            let batch = self.queue.pop_batch(self.batch_size).await;
            if batch.is_empty() {
                return;
            }
            let ready: Vec<Ready> = batch
                .iter()
                .filter_map(|(key, event)| self.ready(key, event))
                .collect();
            if !ready.is_empty() {
                self.write(ready).await;
            }
            self.queue.done(batch.iter().map(|(k, _)| k));
            if let Some(state) = &self.state {
                state.batch_written(self.queue.written_past_mark());
            }
        }
    }

    fn ready(&self, key: &str, event: &Event<Payload>) -> Option<Ready> {
        let result = match (&self.sink, event.action, &event.object) {
            (Sink::Events(_), Action::Deleted, _) | (Sink::Events(_), _, Payload::Tombstone) => {
                // Recorded events stay with their object.
                return None;
            }
            (Sink::Events(_), _, Payload::Object(raw)) => {
                ready_event(raw, &self.cluster).map(Ready::Event)
            }
            (Sink::Resource(_), Action::Deleted, _)
            | (Sink::Resource(_), _, Payload::Tombstone) => Ok(Ready::Change(
                Action::Deleted,
                Change::Delete(object_key(&self.cluster, key)),
            )),
            (Sink::Resource(_), action, Payload::Object(raw)) => {
                ready_object(raw, &self.cluster, &self.gvr, &self.kind, &self.api_version)
                    .map(|o| Ready::Change(action, Change::Upsert(o)))
            }
        };
        match result {
            Ok(ready) => Some(ready),
            Err(e) => {
                self.metrics.failed.inc();
                tracing::warn!(resource = %self.label, key, error = %e, "dropping an object that cannot be stored");
                None
            }
        }
    }

    async fn apply(&self, ready: &[Ready]) -> Result<(), StorageError> {
        let _permit = self
            .workers
            .acquire()
            .await
            .map_err(|_| StorageError::Unavailable {
                message: "the manager is shutting down".into(),
                source: None,
            })?;
        let started = Instant::now();
        let result = match &self.sink {
            Sink::Resource(storage) => {
                let changes = ready
                    .iter()
                    .filter_map(|r| match r {
                        Ready::Change(_, c) => Some(c.clone()),
                        Ready::Event(_) => None,
                    })
                    .collect();
                storage.apply(changes).await
            }
            Sink::Events(storage) => {
                let events = ready
                    .iter()
                    .filter_map(|r| match r {
                        Ready::Event(e) => Some(e.clone()),
                        Ready::Change(..) => None,
                    })
                    .collect();
                storage.record_events(events).await
            }
        };
        self.metrics
            .storage_duration
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Writes `ready`, retrying recoverable errors until they succeed.
    async fn write(&self, ready: Vec<Ready>) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            match self.apply(&ready).await {
                Ok(()) => {
                    self.storage_recovered();
                    self.count(&ready);
                    return;
                }
                Err(e) if e.is_recoverable() => {
                    self.retry_later(&e, &mut backoff).await;
                }
                Err(e) if ready.len() > 1 => {
                    tracing::warn!(resource = %self.label, error = %e, changes = ready.len(), "storage rejected a batch, writing its changes one by one");
                    for one in ready {
                        self.write_one(one).await;
                    }
                    return;
                }
                Err(e) => {
                    self.storage_recovered();
                    self.metrics.failed.inc();
                    tracing::warn!(resource = %self.label, error = %e, "storage rejected a change, dropping it");
                    return;
                }
            }
        }
    }

    async fn write_one(&self, one: Ready) {
        let one = [one];
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            match self.apply(&one).await {
                Ok(()) => {
                    self.storage_recovered();
                    self.count(&one);
                    return;
                }
                Err(e) if e.is_recoverable() => self.retry_later(&e, &mut backoff).await,
                Err(e) => {
                    self.metrics.failed.inc();
                    tracing::warn!(resource = %self.label, error = %e, "storage rejected a change, dropping it");
                    return;
                }
            }
        }
    }

    async fn retry_later(&self, error: &StorageError, backoff: &mut Backoff) {
        let delay = backoff.next_delay();
        self.metrics.retried.inc();
        tracing::warn!(resource = %self.label, error = %error, retry_in = ?delay, "storage write failed, retrying");
        if let Some(state) = &self.state {
            state.set_storage_error(Some(error.to_string()));
        }
        tokio::time::sleep(delay).await;
    }

    fn storage_recovered(&self) {
        if let Some(state) = &self.state {
            state.set_storage_error(None);
        }
    }

    fn count(&self, ready: &[Ready]) {
        for r in ready {
            match r {
                Ready::Change(Action::Added, _) => {
                    self.metrics.added.inc();
                    self.metrics.stored.inc();
                }
                Ready::Change(Action::Updated, _) => {
                    self.metrics.updated.inc();
                }
                Ready::Change(Action::Deleted, _) => {
                    self.metrics.deleted.inc();
                    self.metrics.stored.dec();
                }
                Ready::Event(_) => {
                    self.metrics.events.inc();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_api::object::{CLUSTER_NAME_ANNOTATION, LAST_APPLIED_ANNOTATION};

    #[test]
    fn ready_object_prunes_stamps_and_types_list_items() {
        let raw = serde_json::json!({
            "metadata": {
                "name": "web", "namespace": "ns", "resourceVersion": "12", "uid": "u",
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {LAST_APPLIED_ANNOTATION: "{}", "keep": "me"}
            },
            "spec": {"replicas": 2}
        });
        let raw = serde_json::to_vec(&raw).expect("json");
        let object = ready_object(
            &raw,
            &Arc::from("c1"),
            &Arc::new(Gvr::new("apps", "v1", "deployments")),
            "Deployment",
            "apps/v1",
        )
        .expect("ready");
        assert_eq!(&*object.fields.kind, "Deployment");
        assert_eq!(object.fields.resource_version, "12");
        let value: serde_json::Value = serde_json::from_slice(&object.raw).expect("json");
        assert_eq!(value["apiVersion"], "apps/v1");
        assert!(value["metadata"].get("managedFields").is_none());
        assert_eq!(
            value["metadata"]["annotations"][CLUSTER_NAME_ANNOTATION],
            "c1"
        );
        assert!(
            value["metadata"]["annotations"]
                .get(LAST_APPLIED_ANNOTATION)
                .is_none()
        );
        assert_eq!(value["metadata"]["annotations"]["keep"], "me");
    }

    #[test]
    fn keys_split_into_namespace_and_name() {
        assert_eq!(object_key("c", "ns/a"), ObjectKey::new("c", "ns", "a"));
        assert_eq!(object_key("c", "node-1"), ObjectKey::new("c", "", "node-1"));
    }
}
