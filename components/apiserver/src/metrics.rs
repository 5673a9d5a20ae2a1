//! Prometheus metrics on `/metrics`, named like the kube-apiserver's:
//!
//! - `apiserver_request_total{verb,group,resource,code}`: requests answered;
//! - `apiserver_request_duration_seconds{verb,group,resource}`: time to the response head
//!   (for a watch: until the stream starts);
//! - `apiserver_current_inflight_requests`: requests being served (watches excepted once
//!   their stream has started);
//! - `apiserver_longrunning_requests`: open watch streams.
//!
//! `verb` is `get`, `list` or `watch` for resources (`GET`, `POST`... for other paths),
//! `resource` the resource (`collectionresources` for collections, empty for discovery, health
//! and metrics).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::ApiError;
use crate::routes::AppState;
use crate::watch::is_watch;

/// What a request was, for metrics: set by handlers as a response extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestInfo {
    /// `get`, `list`, `watch`, or the HTTP method for non-resource paths.
    pub(crate) verb: &'static str,
    /// The API group of the resource.
    pub(crate) group: String,
    /// The resource, or empty.
    pub(crate) resource: String,
}

impl RequestInfo {
    /// A request for a resource.
    pub(crate) fn resource(verb: &'static str, group: &str, resource: &str) -> Self {
        Self {
            verb,
            group: group.to_owned(),
            resource: resource.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    group: String,
    resource: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    verb: String,
    group: String,
    resource: String,
}

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS.iter().copied())
}

/// The metrics of the server.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    inflight: Gauge,
    longrunning: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let inflight = Gauge::default();
        let longrunning = Gauge::default();
        registry.register(
            "apiserver_request",
            "Requests answered, by verb, group, resource and HTTP code",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Time from the request to the response head, by verb, group and resource",
            latency.clone(),
        );
        registry.register(
            "apiserver_current_inflight_requests",
            "Requests being served",
            inflight.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Open watch streams",
            longrunning.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            inflight,
            longrunning,
        }
    }
}

impl Metrics {
    /// A guard counting one open watch stream until dropped.
    pub(crate) fn watch_started(&self) -> LongRunning {
        self.longrunning.inc();
        LongRunning(self.longrunning.clone())
    }

    /// The OpenMetrics text of every metric.
    pub(crate) fn encode(&self) -> Result<String, ApiError> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| ApiError::internal(format!("cannot encode metrics: {e}")))?;
        Ok(text)
    }
}

/// Counts one open watch until dropped.
#[derive(Debug)]
pub(crate) struct LongRunning(Gauge);

impl Drop for LongRunning {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Decrements the in-flight gauge when the request ends, even if it is cancelled.
struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The middleware: `--max-requests-inflight`, then counts and times the request.
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let _permit = match &state.inflight_limit {
        Some(limit) if !is_watch(request.uri().query().unwrap_or_default()) => {
            match limit.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let mut response = ApiError::too_many_requests().into_response();
                    response.extensions_mut().insert(RequestInfo {
                        verb: verb_of_method(&method),
                        group: String::new(),
                        resource: String::new(),
                    });
                    state.metrics.record(&response, started);
                    return response;
                }
            }
        }
        _ => None,
    };
    state.metrics.inflight.inc();
    let guard = InFlight(state.metrics.inflight.clone());
    let mut response = next.run(request).await;
    drop(guard);
    if response.extensions().get::<RequestInfo>().is_none() {
        response.extensions_mut().insert(RequestInfo {
            verb: verb_of_method(&method),
            group: String::new(),
            resource: String::new(),
        });
    }
    state.metrics.record(&response, started);
    response
}

fn verb_of_method(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    fn record(&self, response: &Response, started: Instant) {
        let Some(info) = response.extensions().get::<RequestInfo>() else {
            return;
        };
        self.requests
            .get_or_create(&RequestLabels {
                verb: info.verb.to_owned(),
                group: info.group.clone(),
                resource: info.resource.clone(),
                code: response.status().as_u16().to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                verb: info.verb.to_owned(),
                group: info.group.clone(),
                resource: info.resource.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// `GET /metrics`.
pub(crate) async fn serve(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.encode() {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}
