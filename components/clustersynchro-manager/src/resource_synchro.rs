//! One resource of one member cluster: an informer (paginated LIST, then WATCH with bookmarks)
//! feeding a pressure queue, and a writer draining it into the resource's storage; optionally
//! the same pair for the events of its objects.
//!
//! ```text
//!  member ──LIST/WATCH──▶ Informer ──(key, event)──▶ PressureQueue ──batch──▶ Writer ──apply──▶ storage
//!                          │ KnownObjects (key → RV)                             │ prune, stamp, parse
//! ```

use std::sync::Arc;
use std::time::Duration;

use storage_api::{ClusterResourceVersions, Gvr, ResourceStorage};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::informer::{Informer, ListWatch, RunGate};
use crate::known::KnownObjects;
use crate::metrics::{Metrics, ResourceLabels};
use crate::negotiate::SyncConfig;
use crate::queue::SyncQueue;
use crate::sync_state::{StatusSnapshot, SyncState};
use crate::writer::{Sink, Writer};

/// What every resource synchro of a cluster shares.
#[derive(Clone)]
pub(crate) struct SynchroContext {
    /// The member cluster's name.
    pub cluster: Arc<str>,
    /// The member's client.
    pub client: kube::Client,
    /// LIST page size.
    pub page_size: u32,
    /// Most changes per storage write.
    pub batch_size: usize,
    /// Bounds the storage writes running at once (`--worker-number`), across clusters.
    pub workers: Arc<Semaphore>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Signalled when a resource's status changes.
    pub status_changed: Arc<Notify>,
    /// Whether the cluster is healthy enough to list/watch (the "runner").
    pub runner: watch::Receiver<bool>,
}

/// The URL path of a resource's collection: `/api/v1/pods`, `/apis/apps/v1/deployments`.
pub(crate) fn collection_path(gvr: &Gvr) -> String {
    if gvr.group.is_empty() {
        format!("/api/{}/{}", gvr.version, gvr.resource)
    } else {
        format!("/apis/{}/{}/{}", gvr.group, gvr.version, gvr.resource)
    }
}

/// How many pending events an informer may queue before it waits for its writer.
fn high_water(ctx: &SynchroContext) -> usize {
    (ctx.page_size as usize * 4).max(ctx.batch_size * 2)
}

/// A running resource synchro (see the module docs).
pub(crate) struct ResourceSynchro {
    /// What it syncs.
    pub config: SyncConfig,
    state: Arc<SyncState>,
    stop_tx: watch::Sender<bool>,
    queues: Vec<Arc<SyncQueue>>,
    tasks: Vec<JoinHandle<()>>,
    labels: ResourceLabels,
    metrics: Arc<Metrics>,
}

impl ResourceSynchro {
    /// Starts syncing `config` into `storage`, resuming from the stored `versions`.
    pub(crate) fn start(
        ctx: &SynchroContext,
        config: SyncConfig,
        storage: Arc<dyn ResourceStorage>,
        versions: ClusterResourceVersions,
    ) -> Self {
        let state = Arc::new(SyncState::new(ctx.status_changed.clone()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let labels = ResourceLabels::new(&ctx.cluster, &config.storage_gvr);
        let metrics = ctx.metrics.resource(&labels);
        let storage_gvr = Arc::new(config.storage_gvr.clone());
        let mut tasks = Vec::new();
        let mut queues = Vec::new();

        let known = KnownObjects::from_versions(versions.resources);
        metrics.stored.set(known.len() as i64);
        let queue = Arc::new(SyncQueue::new());
        queues.push(queue.clone());
        let label = format!("{}/{}", ctx.cluster, config.storage_gvr);
        let informer = Informer::new(
            ListWatch {
                client: ctx.client.clone(),
                path: collection_path(&config.sync_gvr),
                field_selector: None,
                page_size: ctx.page_size,
            },
            known,
            queue.clone(),
            Some(state.clone()),
            high_water(ctx),
            label.clone(),
        );
        let gate = RunGate::new(ctx.runner.clone(), stop_rx.clone(), None);
        tasks.push(tokio::spawn(informer.run(gate)));
        tasks.push(tokio::spawn(
            Writer {
                queue,
                sink: Sink::Resource(storage.clone()),
                cluster: ctx.cluster.clone(),
                gvr: storage_gvr.clone(),
                kind: config.kind.clone(),
                api_version: config.sync_gvr.api_version(),
                workers: ctx.workers.clone(),
                batch_size: ctx.batch_size,
                state: Some(state.clone()),
                metrics: metrics.clone(),
                label: label.clone(),
            }
            .run(),
        ));

        if config.sync_events {
            let known = KnownObjects::from_versions(versions.events);
            let queue = Arc::new(SyncQueue::new());
            queues.push(queue.clone());
            let label = format!("{label} events");
            let informer = Informer::new(
                ListWatch {
                    client: ctx.client.clone(),
                    path: "/api/v1/events".into(),
                    field_selector: Some(format!("involvedObject.kind={}", config.kind)),
                    page_size: ctx.page_size,
                },
                known,
                queue.clone(),
                None,
                high_water(ctx),
                label.clone(),
            );
            // Events are attached to stored objects: start once the initial list is stored.
            let gate = RunGate::new(
                ctx.runner.clone(),
                stop_rx,
                Some(state.initial_list_stored()),
            );
            tasks.push(tokio::spawn(informer.run(gate)));
            tasks.push(tokio::spawn(
                Writer {
                    queue,
                    sink: Sink::Events(storage),
                    cluster: ctx.cluster.clone(),
                    gvr: storage_gvr,
                    kind: "Event".into(),
                    api_version: "v1".into(),
                    workers: ctx.workers.clone(),
                    batch_size: ctx.batch_size,
                    state: None,
                    metrics,
                    label,
                }
                .run(),
            ));
        }
        Self {
            config,
            state,
            stop_tx,
            queues,
            tasks,
            labels,
            metrics: ctx.metrics.clone(),
        }
    }

    /// The current status.
    pub(crate) fn status(&self) -> StatusSnapshot {
        self.state.snapshot()
    }

    /// Stops list/watch, lets the writers store what is queued for up to `drain`, then stops
    /// them. Nothing is lost by stopping early: the next synchro of the resource starts from
    /// the storage's resource versions.
    pub(crate) async fn stop(self, drain: Duration) {
        self.stop_tx.send_replace(true);
        for queue in &self.queues {
            queue.close();
        }
        let mut tasks = self.tasks;
        let all = futures::future::join_all(tasks.iter_mut());
        if tokio::time::timeout(drain, all).await.is_err() {
            for task in &tasks {
                task.abort();
            }
            // Those `join_all` saw finish must not be polled again (a JoinHandle polled after
            // its completion panics).
            for task in tasks {
                if !task.is_finished() {
                    let _ = task.await;
                }
            }
        }
        self.metrics.remove(&self.labels);
    }
}
