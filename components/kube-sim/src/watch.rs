//! WATCH: a chunked stream of `{"type":...,"object":...}` lines.
//!
//! - From `resourceVersion=N`: the retained changes after `N`, then live ones; an `N` older
//!   than the retained history gets one `ERROR` event with a `410 Expired` Status ("too old
//!   resource version"), as from a kube-apiserver after compaction. A watcher that falls
//!   behind the bounded history gets the same error.
//! - From an unset or `"0"` resource version: synthetic `ADDED` events for the current
//!   objects first, then live changes ("get state and start at most recent").
//! - `sendInitialEvents=true` (WatchList, with `resourceVersionMatch=NotOlderThan` and
//!   `allowWatchBookmarks=true`): the initial `ADDED` events, then a `BOOKMARK` annotated
//!   `k8s.io/initial-events-end: "true"`.
//! - `allowWatchBookmarks=true`: periodic `BOOKMARK` events carrying only `apiVersion`, `kind`
//!   and `metadata.resourceVersion`.
//! - Label and field selectors apply to both states of a change: an object entering the
//!   selection is `ADDED`, one leaving it `DELETED` (with its previous content).
//! - `timeoutSeconds` ends the stream; without it the stream ends after a random duration
//!   between the minimum request timeout and twice that.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use bytes::Bytes;
use kube_wire::EventType;
use serde_json::json;
use tokio::sync::mpsc;

use crate::api::{Query, Representation, Target};
use crate::error::{ApiError, ApiResult};
use crate::list::{parse_revision, wait_for_revision};
use crate::selector::Filter;
use crate::state::State;
use crate::store::{ChangeKind, ReadError, with_revision};

/// Changes taken from the history per store read.
const CHANGES_PER_READ: usize = 1000;
/// Objects read per store read for the initial events.
const INITIAL_CHUNK: usize = 1000;

fn validate(query: &Query) -> ApiResult<()> {
    let rv_match = query
        .get("resourceVersionMatch")
        .map(String::as_str)
        .unwrap_or_default();
    let mut causes = Vec::new();
    if query.contains_key("sendInitialEvents") {
        if rv_match != "NotOlderThan" {
            causes.push((
                "FieldValueForbidden",
                "resourceVersionMatch".to_owned(),
                "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".to_owned(),
            ));
        }
        if !flag(query, "allowWatchBookmarks") {
            causes.push((
                "FieldValueForbidden",
                "allowWatchBookmarks".to_owned(),
                "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"
                    .to_owned(),
            ));
        }
    }
    if !rv_match.is_empty() {
        if !query.contains_key("sendInitialEvents") {
            causes.push((
                "FieldValueForbidden",
                "resourceVersionMatch".to_owned(),
                "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided".to_owned(),
            ));
        }
        if rv_match != "NotOlderThan" {
            causes.push((
                "FieldValueNotSupported",
                "resourceVersionMatch".to_owned(),
                format!("Unsupported value: \"{rv_match}\": supported values: \"NotOlderThan\""),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", &causes))
    }
}

fn flag(query: &Query, name: &str) -> bool {
    query
        .get(name)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True"))
}

/// One watch event line.
fn event_line(event_type: EventType, object: &[u8]) -> Bytes {
    Bytes::from(kube_wire::watch::event_line(event_type, object))
}

fn bookmark(target: &Target, revision: u64, initial_events_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({
        "kind": target.def.kind,
        "apiVersion": target.api_version(),
        "metadata": metadata,
    });
    event_line(EventType::Bookmark, object.to_string().as_bytes())
}

fn expired(message: String) -> Bytes {
    event_line(EventType::Error, &ApiError::expired(message).to_json())
}

/// Where a watch starts.
struct Start {
    /// The revision after which changes are streamed.
    cursor: u64,
    /// Whether the objects at `cursor` are sent first as `ADDED`.
    initial_events: bool,
    /// Whether the initial events end with an annotated bookmark (WatchList).
    initial_bookmark: bool,
}

/// Handles a WATCH request.
pub(crate) async fn watch(
    state: Arc<State>,
    target: Target,
    query: &Query,
    representation: Representation,
) -> ApiResult<Response<Body>> {
    validate(query)?;
    let filter = Filter::new(
        &target.def,
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )?;
    let bookmarks = flag(query, "allowWatchBookmarks");
    let send_initial = query.get("sendInitialEvents").map(|v| v == "true");
    let rv = query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or_default();
    let timeout = match query
        .get("timeoutSeconds")
        .filter(|t| !t.is_empty() && t.as_str() != "0")
    {
        Some(text) => Duration::from_secs(
            text.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {text}")))?,
        ),
        None => {
            let min = state.settings.min_watch_timeout;
            let jitter = state.with_rng(|rng| rng.f64());
            min + min.mul_f64(jitter)
        }
    };
    let start = match rv {
        "" | "0" => Start {
            cursor: state.store.revision(),
            initial_events: send_initial.unwrap_or(true),
            initial_bookmark: send_initial == Some(true),
        },
        n => {
            let n = parse_revision(n)?;
            wait_for_revision(&state, n).await?;
            if send_initial == Some(true) {
                Start {
                    cursor: state.store.revision(),
                    initial_events: true,
                    initial_bookmark: true,
                }
            } else {
                Start {
                    cursor: n,
                    initial_events: false,
                    initial_bookmark: false,
                }
            }
        }
    };

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let task_state = state.clone();
    tokio::spawn(async move {
        task_state
            .counters
            .watches_open
            .fetch_add(1, Ordering::Relaxed);
        let stream = Stream {
            state: task_state.clone(),
            target,
            filter,
            bookmarks,
            table: representation == Representation::Table,
            tx,
        };
        tokio::select! {
            () = stream.run(start) => {}
            () = tokio::time::sleep(timeout) => {}
        }
        task_state
            .counters
            .watches_open
            .fetch_sub(1, Ordering::Relaxed);
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

struct Stream {
    state: Arc<State>,
    target: Target,
    filter: Filter,
    bookmarks: bool,
    /// Whether objects are sent as one-row tables (`kubectl get --watch`).
    table: bool,
    tx: mpsc::Sender<Bytes>,
}

impl Stream {
    /// The object of an event as the client asked for it.
    fn render(&self, raw: Bytes) -> Bytes {
        let raw = self.target.view(raw);
        if !self.table {
            return raw;
        }
        match crate::table::table(
            &self.target,
            [&raw[..]],
            &kube_wire::table::ListMeta::default(),
            "Metadata",
        ) {
            Ok(table) => Bytes::from(table),
            Err(_) => raw,
        }
    }

    async fn send(&self, line: Bytes) -> bool {
        self.tx.send(line).await.is_ok()
    }

    async fn run(self, start: Start) {
        let mut shutdown = self.state.shutdown_signal();
        tokio::select! {
            () = self.stream(start) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
            () = self.tx.closed() => {}
        }
    }

    async fn initial(&self, cursor: u64) -> bool {
        let prefix = self.target.prefix();
        let mut after: Option<String> = None;
        loop {
            let page = match self.state.store.read_range(
                &self.target.def.id,
                &prefix,
                after.as_deref(),
                Some(cursor),
                INITIAL_CHUNK,
                false,
            ) {
                Ok(page) => page,
                Err(error) => {
                    let message = match error {
                        ReadError::TooOld { compacted } => {
                            format!("too old resource version: {cursor} ({compacted})")
                        }
                        ReadError::TooNew { current } => {
                            format!("too large resource version: {cursor} ({current})")
                        }
                    };
                    self.send(expired(message)).await;
                    return false;
                }
            };
            for (key, raw) in &page.items {
                if self.filter.matches(raw)
                    && !self
                        .send(event_line(EventType::Added, &self.render(raw.clone())))
                        .await
                {
                    return false;
                }
                after = Some(key.to_string());
            }
            if !page.more {
                return true;
            }
        }
    }

    async fn stream(&self, start: Start) {
        let mut cursor = start.cursor;
        if start.initial_events {
            if !self.initial(cursor).await {
                return;
            }
            if start.initial_bookmark && !self.send(bookmark(&self.target, cursor, true)).await {
                return;
            }
        }
        let mut revisions = self.state.store.subscribe();
        let interval = self.state.settings.bookmark_interval;
        let mut next_bookmark = tokio::time::Instant::now() + interval;
        let prefix = self.target.prefix();
        loop {
            revisions.borrow_and_update();
            let (changes, upto) = match self.state.store.changes_since(
                &self.target.def.id,
                &prefix,
                cursor,
                CHANGES_PER_READ,
            ) {
                Ok(found) => found,
                Err(ReadError::TooOld { compacted }) => {
                    self.send(expired(format!(
                        "too old resource version: {cursor} ({compacted})"
                    )))
                    .await;
                    return;
                }
                Err(ReadError::TooNew { .. }) => return,
            };
            let full = changes.len() == CHANGES_PER_READ;
            for change in changes {
                let line = self.translate(&change);
                if let Some(line) = line
                    && !self.send(line).await
                {
                    return;
                }
            }
            cursor = upto;
            if full {
                continue;
            }
            tokio::select! {
                changed = revisions.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep_until(next_bookmark), if self.bookmarks => {
                    next_bookmark = tokio::time::Instant::now() + interval;
                    if !self.send(bookmark(&self.target, cursor, false)).await {
                        return;
                    }
                }
            }
        }
    }

    /// The event a change produces for this watch, if any.
    fn translate(&self, change: &crate::store::Change) -> Option<Bytes> {
        let view = |raw: &Bytes| self.render(raw.clone());
        if self.filter.is_empty() {
            return Some(event_line(change.kind.event_type(), &view(&change.object)));
        }
        match change.kind {
            ChangeKind::Added | ChangeKind::Deleted => self
                .filter
                .matches(&change.object)
                .then(|| event_line(change.kind.event_type(), &view(&change.object))),
            ChangeKind::Modified => {
                let now = self.filter.matches(&change.object);
                let before = change
                    .prev
                    .as_ref()
                    .is_some_and(|prev| self.filter.matches(prev));
                match (now, before) {
                    (true, true) => Some(event_line(EventType::Modified, &view(&change.object))),
                    (true, false) => Some(event_line(EventType::Added, &view(&change.object))),
                    (false, true) => change.prev.as_ref().map(|prev| {
                        event_line(
                            EventType::Deleted,
                            &view(&with_revision(prev, change.revision)),
                        )
                    }),
                    (false, false) => None,
                }
            }
        }
    }
}
