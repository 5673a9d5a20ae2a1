//! The URL layout: health and metrics (unauthenticated), then, behind authentication, the
//! `clusterpedia.io/v1beta1` group and its discovery, `collectionresources`
//! ([`crate::collections`]) and the Kubernetes API roots under `resources`
//! ([`crate::resources`]).
//!
//! | path | answer |
//! |---|---|
//! | `/livez`, `/readyz`, `/healthz` | health |
//! | `/metrics` | Prometheus metrics |
//! | `/version` | version |
//! | `/api`, `/apis`, `/apis/clusterpedia.io`, `/apis/clusterpedia.io/v1beta1` | discovery of this server |
//! | `/apis/clusterpedia.io/v1beta1/collectionresources[/<name>]` | collection resources |
//! | `/apis/clusterpedia.io/v1beta1/resources[/clusters/<cluster>]/...` | Kubernetes API roots |

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use tokio::sync::Semaphore;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::trace::TraceLayer;

use crate::auth::{self, Authenticator};
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::metrics::{self, Metrics, RequestInfo};
use crate::watch::NoCompression;
use crate::{collections, discovery, health, resources};

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The storage and what it holds.
    pub(crate) catalog: Arc<Catalog>,
    /// The metrics.
    pub(crate) metrics: Metrics,
    /// The authenticators.
    pub(crate) auth: Arc<Authenticator>,
    /// Becomes `true` when the server shuts down (watches end).
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    /// `--max-requests-inflight`.
    pub(crate) inflight_limit: Option<Arc<Semaphore>>,
}

/// Responses smaller than this are sent as they are (the kube-apiserver's threshold).
const COMPRESSION_MIN_BYTES: u64 = 128 * 1024;

/// Compress responses of at least [`COMPRESSION_MIN_BYTES`] (or of unknown size), except
/// streams marked [`NoCompression`].
#[derive(Debug, Clone, Copy)]
struct CompressLarge;

impl Predicate for CompressLarge {
    fn should_compress<B: axum::body::HttpBody>(&self, response: &axum::http::Response<B>) -> bool {
        if response.extensions().get::<NoCompression>().is_some() {
            return false;
        }
        response
            .body()
            .size_hint()
            .exact()
            .is_none_or(|size| size >= COMPRESSION_MIN_BYTES)
    }
}

/// The application: every route and layer.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/", any(dispatch))
        .route("/{*path}", any(dispatch))
        .route_layer(from_fn_with_state(state.auth.clone(), auth::middleware));
    Router::new()
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz", get(health::readyz))
        .route("/metrics", get(metrics::serve))
        .merge(protected)
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .quality(CompressionLevel::Fastest)
                .compress_when(CompressLarge),
        )
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A `200` JSON response.
pub(crate) fn json(body: impl Into<Bytes>) -> Response {
    let mut response = Response::new(Body::from(body.into()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Turns a handler's result into a response labelled with `info` for the metrics.
pub(crate) fn respond(info: RequestInfo, result: Result<Response, ApiError>) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(info);
    response
}

/// The segments of a path, without the leading `/` and one trailing `/`.
fn segments(path: &str) -> Vec<&str> {
    let mut segments: Vec<&str> = path.split('/').skip(1).collect();
    if segments.len() > 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    segments
}

/// A discovery document: `GET` only.
fn document(parts: &Parts, body: Option<Bytes>) -> Result<Response, ApiError> {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    body.map(json).ok_or_else(ApiError::resource_not_found)
}

async fn dispatch(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let segments = segments(&path);
    let discovery = RequestInfo::resource("get", "", "");
    match segments.as_slice() {
        ["version"] => respond(discovery, document(&parts, Some(discovery::version()))),
        ["api"] => respond(
            discovery,
            document(&parts, Some(discovery::api_versions(&[]))),
        ),
        ["apis"] => respond(
            discovery,
            document(&parts, Some(discovery::root_group_list())),
        ),
        ["apis", discovery::GROUP] => {
            respond(discovery, document(&parts, Some(discovery::root_group())))
        }
        ["apis", discovery::GROUP, discovery::VERSION] => respond(
            discovery,
            document(&parts, Some(discovery::root_resource_list())),
        ),
        [
            "apis",
            discovery::GROUP,
            discovery::VERSION,
            "collectionresources",
            rest @ ..,
        ] => collections::handle(&state, &parts, rest).await,
        [
            "apis",
            discovery::GROUP,
            discovery::VERSION,
            "resources",
            rest @ ..,
        ] => resources::handle(&state, &parts, rest).await,
        _ => respond(discovery, Err(ApiError::resource_not_found())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments() {
        assert_eq!(segments("/"), [""]);
        assert_eq!(segments("/apis"), ["apis"]);
        assert_eq!(segments("/apis/"), ["apis"]);
        assert_eq!(segments("/a/b/c"), ["a", "b", "c"]);
        assert_eq!(segments("/a//b"), ["a", "", "b"]);
    }
}
