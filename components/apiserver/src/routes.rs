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
//!
//! The layers, outermost first: tracing, [`request::parse`] (the query and `Accept`, parsed
//! once), [`metrics::track`], [`inflight::limit`], compression, then authentication and
//! authorization ([`auth`], [`crate::authz`]) on every route but health and metrics.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{any, get};
use bytes::Bytes;
use tower_http::compression::predicate::Predicate;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::metrics::{self, RequestInfo};
use crate::request::{self, RequestQuery, ensure_read};
use crate::response::{NoCompression, json, respond};
use crate::state::AppState;
use crate::{auth, collections, discovery, health, inflight, resources};

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
        .route_layer(from_fn_with_state(state.clone(), auth::middleware));
    Router::new()
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz", get(health::readyz))
        .route("/metrics", get(serve_metrics))
        .merge(protected)
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .quality(CompressionLevel::Fastest)
                .compress_when(CompressLarge),
        )
        .layer(from_fn_with_state(state.inflight.clone(), inflight::limit))
        .layer(from_fn_with_state(
            (state.metrics.clone(), state.catalog.clone()),
            metrics::track,
        ))
        .layer(from_fn(request::parse))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /metrics`.
async fn serve_metrics(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.response()
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
fn document(method: &Method, body: Option<Bytes>) -> Result<Response, ApiError> {
    ensure_read(method)?;
    body.map(json).ok_or_else(ApiError::resource_not_found)
}

async fn dispatch(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let query = RequestQuery::take(&mut parts);
    let path = parts.uri.path().to_owned();
    let segments = segments(&path);
    let discovery = RequestInfo::resource("get", "", "");
    match segments.as_slice() {
        ["version"] => respond(
            discovery,
            document(&parts.method, Some(discovery::version())),
        ),
        ["api"] => respond(
            discovery,
            document(&parts.method, Some(discovery::api_versions(&[]))),
        ),
        ["apis"] => respond(
            discovery,
            document(&parts.method, Some(discovery::root_group_list())),
        ),
        ["apis", discovery::GROUP] => respond(
            discovery,
            document(&parts.method, Some(discovery::root_group())),
        ),
        ["apis", discovery::GROUP, discovery::VERSION] => respond(
            discovery,
            document(&parts.method, Some(discovery::root_resource_list())),
        ),
        [
            "apis",
            discovery::GROUP,
            discovery::VERSION,
            "collectionresources",
            rest @ ..,
        ] => {
            let user = parts.extensions.get::<crate::auth::User>();
            collections::handle(&state, &parts.method, &query, rest, user).await
        }
        [
            "apis",
            discovery::GROUP,
            discovery::VERSION,
            "resources",
            rest @ ..,
        ] => {
            let user = parts.extensions.get::<crate::auth::User>();
            resources::handle(&state, &parts.method, &query, rest, user).await
        }
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
