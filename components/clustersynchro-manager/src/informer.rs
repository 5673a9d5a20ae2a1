//! The informer of one resource: paginated LIST, then WATCH with bookmarks from the list's
//! resource version, re-watching when a watch ends and re-listing on `410 Gone`.
//!
//! It reads only what it needs of each object (`metadata.name`, `namespace`,
//! `resourceVersion`), decides with [`KnownObjects`] whether storage must change, and queues
//! the object's JSON untouched (a slice of the page or watch line): converting and writing is
//! the writer's job, so listing and writing overlap.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clusterpedia_crds::ResourceSyncStatus;
use futures::AsyncBufReadExt;
use kube::core::Request;
use kube::core::params::{ListParams, WatchParams};
use serde::Deserialize;
use serde_json::value::RawValue;
use storage_api::object::namespaced_name;
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::known::KnownObjects;
use crate::queue::{Action, Event, Payload, SyncQueue};
use crate::sync_state::SyncState;

/// What to list and watch.
pub(crate) struct ListWatch {
    /// The member's client.
    pub client: kube::Client,
    /// The collection path, e.g. `/api/v1/pods`.
    pub path: String,
    /// A field selector (events of one kind).
    pub field_selector: Option<String>,
    /// The LIST page size.
    pub page_size: u32,
}

/// When an informer may run: the cluster is healthy, the resource is not stopped, and an
/// optional prerequisite (the events informer waits for its objects' first list) is met.
pub(crate) struct RunGate {
    runner: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    ready: Option<watch::Receiver<bool>>,
}

impl RunGate {
    /// A gate over the cluster's runner, the resource's stop signal and a prerequisite.
    pub(crate) fn new(
        runner: watch::Receiver<bool>,
        stop: watch::Receiver<bool>,
        ready: Option<watch::Receiver<bool>>,
    ) -> Self {
        Self {
            runner,
            stop,
            ready,
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn running(&self) -> bool {
        !self.stopped() && *self.runner.borrow() && self.ready.as_ref().is_none_or(|r| *r.borrow())
    }

    async fn changed(&mut self) {
        let ready = async {
            match &mut self.ready {
                Some(r) => {
                    if r.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = self.runner.changed() => if r.is_err() { self.stop_now() },
            r = self.stop.changed() => if r.is_err() { self.stop_now() },
            () = ready => {}
        }
    }

    fn stop_now(&mut self) {
        // A dropped sender means the owner is gone: behave as stopped.
        let (tx, rx) = watch::channel(true);
        drop(tx);
        self.stop = rx;
    }

    /// Waits until the informer may run (`true`) or is stopped (`false`).
    async fn wait_running(&mut self) -> bool {
        loop {
            if self.stopped() {
                return false;
            }
            if self.running() {
                return true;
            }
            self.changed().await;
        }
    }

    /// Completes when the informer must stop running (paused or stopped).
    async fn interrupted(&mut self) {
        while self.running() {
            self.changed().await;
        }
    }

    /// Whether the cluster runner is off (the informer is paused, not stopped).
    fn paused(&self) -> bool {
        !self.stopped() && !*self.runner.borrow()
    }
}

#[derive(Debug, thiserror::Error)]
enum InformerError {
    /// The resource version is too old: list again.
    #[error("resource version expired")]
    Gone,
    /// A request failed.
    #[error("{0}")]
    Client(#[from] kube::Error),
    /// The member sent something that is not what a kube-apiserver sends.
    #[error("cannot decode the response: {0}")]
    Decode(String),
    /// The watch reported an error.
    #[error("watch error: {0}")]
    Watch(String),
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 410)
}

#[derive(Deserialize)]
struct ListBody<'a> {
    #[serde(borrow, default)]
    metadata: ListMeta<'a>,
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListMeta<'a> {
    #[serde(borrow, default)]
    resource_version: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "continue")]
    continue_: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ObjectHead<'a> {
    #[serde(borrow)]
    metadata: ObjectMeta<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectMeta<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource_version: Option<Cow<'a, str>>,
}

impl ObjectMeta<'_> {
    fn key(&self) -> Result<Box<str>, InformerError> {
        let name = self
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| InformerError::Decode("an object has no metadata.name".into()))?;
        Ok(namespaced_name(self.namespace.as_deref().unwrap_or_default(), name).into_boxed_str())
    }

    fn rv(&self) -> &str {
        self.resource_version.as_deref().unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct WatchLine<'a> {
    #[serde(rename = "type", borrow)]
    type_: Cow<'a, str>,
    #[serde(borrow)]
    object: &'a RawValue,
}

#[derive(Deserialize)]
struct WatchStatus {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    message: String,
}

fn head(raw: &RawValue) -> Result<ObjectHead<'_>, InformerError> {
    serde_json::from_str(raw.get()).map_err(|e| InformerError::Decode(e.to_string()))
}

/// The informer of one resource (see the module docs).
pub(crate) struct Informer {
    lw: ListWatch,
    known: KnownObjects,
    queue: Arc<SyncQueue>,
    state: Option<Arc<SyncState>>,
    high_water: usize,
    label: String,
    listed_once: bool,
}

impl Informer {
    /// A new informer that queues into `queue`, resuming from `known`.
    pub(crate) fn new(
        lw: ListWatch,
        known: KnownObjects,
        queue: Arc<SyncQueue>,
        state: Option<Arc<SyncState>>,
        high_water: usize,
        label: String,
    ) -> Self {
        Self {
            lw,
            known,
            queue,
            state,
            high_water,
            label,
            listed_once: false,
        }
    }

    fn set_status(&self, status: ResourceSyncStatus, reason: &str, message: String) {
        if let Some(state) = &self.state {
            state.set_informer(status, reason, message);
        }
    }

    /// Lists and watches until stopped, pausing while the cluster is unhealthy.
    pub(crate) async fn run(mut self, mut gate: RunGate) {
        let mut last_rv: Option<String> = None;
        let mut backoff = Backoff::new(Duration::from_millis(800), Duration::from_secs(30));
        loop {
            if gate.paused()
                && let Some(state) = &self.state
            {
                state.set_paused(true);
            }
            if !gate.wait_running().await {
                return;
            }
            if let Some(state) = &self.state {
                state.set_paused(false);
            }
            let outcome = tokio::select! {
                r = self.list_and_watch(&mut last_rv) => Some(r),
                () = gate.interrupted() => None,
            };
            match outcome {
                // Paused or stopped: resume the watch from `last_rv` when running again.
                None => {}
                Some(Ok(())) => backoff.reset(),
                Some(Err(InformerError::Gone)) => {
                    tracing::info!(resource = %self.label, "resource version expired, listing again");
                    last_rv = None;
                }
                Some(Err(e)) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(resource = %self.label, error = %e, retry_in = ?delay, "list/watch failed");
                    self.set_status(
                        ResourceSyncStatus::Error,
                        "ResourceWatchFailed",
                        e.to_string(),
                    );
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = gate.interrupted() => {}
                    }
                }
            }
        }
    }

    async fn list_and_watch(&mut self, last_rv: &mut Option<String>) -> Result<(), InformerError> {
        let rv = match last_rv {
            Some(rv) => rv.clone(),
            None => {
                let rv = self.list().await?;
                *last_rv = Some(rv.clone());
                rv
            }
        };
        self.watch(rv, last_rv).await
    }

    /// Lists every object, page by page; returns the list's resource version.
    async fn list(&mut self) -> Result<String, InformerError> {
        let started = Instant::now();
        let mut continue_token: Option<String> = None;
        let (mut listed, mut changed) = (0usize, 0usize);
        let mut last_progress = started;
        self.known.begin_list();
        loop {
            let mut lp = ListParams::default().limit(self.lw.page_size);
            if let Some(token) = &continue_token {
                lp = lp.continue_token(token);
            }
            if let Some(fs) = &self.lw.field_selector {
                lp = lp.fields(fs);
            }
            let request = Request::new(&self.lw.path)
                .list(&lp)
                .map_err(|e| InformerError::Decode(e.to_string()))?;
            let text = match self.lw.client.request_text(request).await {
                Ok(text) => text,
                Err(e) if is_gone(&e) && continue_token.is_some() => {
                    // The continue token expired mid-list: start over.
                    tracing::info!(resource = %self.label, "continue token expired, listing from the start");
                    continue_token = None;
                    self.known.begin_list();
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if listed == 0 {
                self.set_status(ResourceSyncStatus::Syncing, "", String::new());
            }
            let page = Bytes::from(text.into_bytes());
            let body: ListBody<'_> =
                serde_json::from_slice(&page).map_err(|e| InformerError::Decode(e.to_string()))?;
            self.queue.wait_for_room(self.high_water).await;
            for item in &body.items {
                let head = head(item)?;
                let key = head.metadata.key()?;
                if let Some(action) = self.known.observe(&key, head.metadata.rv()) {
                    let raw = page.slice_ref(item.get().as_bytes());
                    self.queue
                        .push(key, Event::new(action, Payload::Object(raw)));
                    changed += 1;
                }
            }
            listed += body.items.len();
            if last_progress.elapsed() >= Duration::from_secs(10) {
                last_progress = Instant::now();
                tracing::info!(resource = %self.label, listed, changed, elapsed_s = started.elapsed().as_secs(), "listing");
            }
            match body.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => continue_token = Some(token.into_owned()),
                None => {
                    let rv = body
                        .metadata
                        .resource_version
                        .map(Cow::into_owned)
                        .unwrap_or_default();
                    let gone = self.known.end_list();
                    let deleted = gone.len();
                    for key in gone {
                        self.queue
                            .push(key, Event::new(Action::Deleted, Payload::Tombstone));
                    }
                    let elapsed = started.elapsed();
                    tracing::info!(
                        resource = %self.label,
                        listed,
                        changed,
                        deleted,
                        elapsed_ms = elapsed.as_millis() as u64,
                        objects_per_second = (listed as f64 / elapsed.as_secs_f64().max(1e-3)) as u64,
                        "list done"
                    );
                    if let Some(state) = &self.state {
                        if !self.listed_once {
                            state.list_completed(self.queue.mark());
                        }
                        state.set_informer(ResourceSyncStatus::Syncing, "", String::new());
                    }
                    self.listed_once = true;
                    return Ok(rv);
                }
            }
        }
    }

    /// Watches from `rv` until the server ends the watch; keeps `last_rv` current.
    async fn watch(
        &mut self,
        rv: String,
        last_rv: &mut Option<String>,
    ) -> Result<(), InformerError> {
        let mut wp = WatchParams::default().timeout(240 + fastrand::u32(0..50));
        if let Some(fs) = &self.lw.field_selector {
            wp = wp.fields(fs);
        }
        let mut request = Request::new(&self.lw.path)
            .watch(&wp, &rv)
            .map_err(|e| InformerError::Decode(e.to_string()))?;
        request.headers_mut().insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static("identity"),
        );
        let stream = match self.lw.client.request_stream(request).await {
            Ok(stream) => stream,
            Err(e) if is_gone(&e) => return Err(InformerError::Gone),
            Err(e) => return Err(e.into()),
        };
        self.set_status(ResourceSyncStatus::Syncing, "", String::new());
        let mut reader = std::pin::pin!(stream);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(resource = %self.label, error = %e, "watch stream ended");
                    return Ok(());
                }
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line = Bytes::from(line);
            let event: WatchLine<'_> = match serde_json::from_slice(&line) {
                Ok(event) => event,
                Err(e) if e.is_eof() => return Ok(()),
                Err(e) => return Err(InformerError::Decode(e.to_string())),
            };
            match &*event.type_ {
                "ADDED" | "MODIFIED" => {
                    let head = head(event.object)?;
                    let key = head.metadata.key()?;
                    *last_rv = Some(head.metadata.rv().to_owned());
                    if let Some(action) = self.known.observe(&key, head.metadata.rv()) {
                        self.queue.wait_for_room(self.high_water).await;
                        let raw = line.slice_ref(event.object.get().as_bytes());
                        self.queue
                            .push(key, Event::new(action, Payload::Object(raw)));
                    }
                }
                "DELETED" => {
                    let head = head(event.object)?;
                    let key = head.metadata.key()?;
                    *last_rv = Some(head.metadata.rv().to_owned());
                    if self.known.remove(&key) {
                        self.queue.wait_for_room(self.high_water).await;
                        self.queue
                            .push(key, Event::new(Action::Deleted, Payload::Tombstone));
                    }
                }
                "BOOKMARK" => {
                    let head: ObjectHead<'_> = serde_json::from_str(event.object.get())
                        .map_err(|e| InformerError::Decode(e.to_string()))?;
                    if let Some(rv) = head.metadata.resource_version {
                        *last_rv = Some(rv.into_owned());
                    }
                }
                "ERROR" => {
                    let status: WatchStatus = serde_json::from_str(event.object.get())
                        .map_err(|e| InformerError::Decode(e.to_string()))?;
                    if status.code == 410 {
                        return Err(InformerError::Gone);
                    }
                    return Err(InformerError::Watch(format!(
                        "{} (code {})",
                        status.message, status.code
                    )));
                }
                other => {
                    return Err(InformerError::Decode(format!(
                        "unknown watch event type {other:?}"
                    )));
                }
            }
        }
    }
}
