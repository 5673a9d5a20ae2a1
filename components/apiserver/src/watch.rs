//! Watch streams (`?watch=1`): one JSON event per line,
//! `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}`, as the kube-apiserver
//! writes them. The object is the stored JSON as is, or a one-row `Table`, or a
//! `PartialObjectMetadata`, following the `Accept` header. A storage error ends the stream with
//! an `ERROR` event carrying its `Status` (e.g. `410 Expired`: the client lists again).
//!
//! A stream ends after `timeoutSeconds` (default 30 minutes, as the kube-apiserver's
//! `--min-request-timeout`; read by [`crate::request`]), when the storage ends it, or when the
//! server shuts down.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use kube_wire::watch::{EventType, event_line};
use storage_api::{
    ListOptions, ListPage, ResourceObject, ResourceStorage, WatchEvent, WatchStream,
};

use crate::discovery::ResourceInfo;
use crate::error::ApiError;
use crate::list::{push_json_str, push_partial_object};
use crate::metrics::LongRunning;
use crate::negotiate::Representation;
use crate::response::NoCompression;
use crate::table::ResourceTable;

/// Turns watch events into lines of the response.
pub(crate) struct Renderer {
    representation: Representation,
    table: Option<ResourceTable>,
    kind: String,
    api_version: String,
    columns_sent: bool,
}

impl Renderer {
    /// A renderer for events of `info` in `representation` (`table` for tables).
    pub(crate) fn new(
        info: &ResourceInfo,
        representation: Representation,
        table: Option<ResourceTable>,
    ) -> Self {
        Self {
            representation,
            table,
            kind: info.kind.clone(),
            api_version: info.gvr.api_version(),
            columns_sent: false,
        }
    }

    fn line(event_type: EventType, object: &[u8]) -> Bytes {
        Bytes::from(event_line(event_type, object))
    }

    fn object(&mut self, object: &ResourceObject) -> Result<Vec<u8>, ApiError> {
        match (self.representation, &self.table) {
            (Representation::Table(_), Some(table)) => {
                let page = ListPage {
                    items: vec![object.clone()],
                    ..ListPage::default()
                };
                let headers = !self.columns_sent;
                self.columns_sent = true;
                table.render(&page, headers)
            }
            (Representation::PartialMetadata(version), _) => {
                let mut out = Vec::new();
                push_partial_object(&mut out, version, object)?;
                Ok(out)
            }
            _ => Ok(object.raw.to_vec()),
        }
    }

    fn bookmark(&self, resource_version: &str, initial_events_end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        // The rest of `metadata` after the resource version.
        let end: &[u8] = if initial_events_end {
            b",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}"
        } else {
            b"}"
        };
        match self.representation {
            Representation::Table(version) => {
                out.extend_from_slice(b"{\"kind\":\"Table\",\"apiVersion\":\"");
                out.extend_from_slice(version.api_version().as_bytes());
                out.extend_from_slice(b"\",\"metadata\":{\"resourceVersion\":");
                push_json_str(&mut out, resource_version);
                out.extend_from_slice(end);
                out.extend_from_slice(b",\"columnDefinitions\":[],\"rows\":[]}");
            }
            Representation::PartialMetadata(version) => {
                out.extend_from_slice(b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"");
                out.extend_from_slice(version.api_version().as_bytes());
                out.extend_from_slice(b"\",\"metadata\":{\"resourceVersion\":");
                push_json_str(&mut out, resource_version);
                out.extend_from_slice(end);
                out.push(b'}');
            }
            Representation::Json => {
                out.extend_from_slice(b"{\"kind\":");
                push_json_str(&mut out, &self.kind);
                out.extend_from_slice(b",\"apiVersion\":");
                push_json_str(&mut out, &self.api_version);
                out.extend_from_slice(b",\"metadata\":{\"resourceVersion\":");
                push_json_str(&mut out, resource_version);
                out.extend_from_slice(end);
                out.push(b'}');
            }
        }
        out
    }

    /// The line of one event.
    pub(crate) fn event(&mut self, event: &WatchEvent) -> Result<Bytes, ApiError> {
        Ok(match event {
            WatchEvent::Added(object) => Self::line(EventType::Added, &self.object(object)?),
            WatchEvent::Modified(object) => Self::line(EventType::Modified, &self.object(object)?),
            WatchEvent::Deleted(object) => Self::line(EventType::Deleted, &self.object(object)?),
            WatchEvent::Bookmark { resource_version } => {
                Self::line(EventType::Bookmark, &self.bookmark(resource_version, false))
            }
            WatchEvent::InitialEventsEnd { resource_version } => {
                Self::line(EventType::Bookmark, &self.bookmark(resource_version, true))
            }
            other => {
                return Err(ApiError::internal(format!(
                    "the storage layer sent a watch event this apiserver cannot encode: {other:?}"
                )));
            }
        })
    }

    /// The `ERROR` line of a failure.
    pub(crate) fn error(error: &ApiError) -> Bytes {
        Self::line(EventType::Error, &error.to_json())
    }
}

/// A watch with its initial events (`sendInitialEvents=true`), for any layer that can watch:
/// one list of the matching objects (its items become `ADDED`), the initial-events-end
/// bookmark at the list's resource version, then the layer's watch from that version, which
/// continues exactly where the list ends (the contract of `ListPage::resource_version`).
pub(crate) async fn with_initial_events(
    storage: &dyn ResourceStorage,
    options: &ListOptions,
) -> Result<WatchStream, ApiError> {
    let mut list = options.filters_only();
    list.resource_version = None;
    let page = storage.list(&list).await?;
    let resource_version = page.resource_version.ok_or_else(|| {
        ApiError::internal("the storage layer serves watch but gave its list no resource version")
    })?;
    let mut from = options.clone();
    from.resource_version = Some(resource_version.clone());
    let live = storage.watch(&from).await?;
    let initial = page
        .items
        .into_iter()
        .map(|object| Ok(WatchEvent::Added(object)))
        .chain(std::iter::once(Ok(WatchEvent::InitialEventsEnd {
            resource_version,
        })));
    Ok(futures::stream::iter(initial).chain(live).boxed())
}

struct Streaming {
    events: WatchStream,
    renderer: Renderer,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    done: bool,
    _open: LongRunning,
}

/// The streaming response of a watch.
pub(crate) fn response(
    events: WatchStream,
    renderer: Renderer,
    timeout: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    open: LongRunning,
) -> Response {
    let stop = Box::pin(async move {
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            _ = shutdown.wait_for(|stopping| *stopping) => {}
        }
    });
    let state = Streaming {
        events,
        renderer,
        stop,
        done: false,
        _open: open,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        let next = tokio::select! {
            () = &mut state.stop => return None,
            next = state.events.next() => next,
        };
        let line = match next? {
            Ok(event) => match state.renderer.event(&event) {
                Ok(line) => line,
                Err(error) => {
                    state.done = true;
                    Renderer::error(&error)
                }
            },
            Err(error) => {
                state.done = true;
                Renderer::error(&ApiError::from(error))
            }
        };
        Some((Ok::<_, Infallible>(line), state))
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.extensions_mut().insert(NoCompression);
    response
}
