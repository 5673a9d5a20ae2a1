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
//!
//! Labels only take known values, so that requests cannot grow `/metrics` without bound: a
//! `group`/`resource` pair is kept when the catalog stores it (in some cluster) or it is a
//! Kubernetes built-in resource ([`KUBERNETES_RESOURCES`]); any other pair is counted as
//! `group=""`, `resource="other"`.
//!
//! The in-flight gauge is kept by the in-flight limit ([`crate::inflight`]).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::catalog::Catalog;
use crate::error::ApiError;

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
    /// The gauge of requests being served, for the in-flight limit to keep.
    pub(crate) fn inflight(&self) -> Gauge {
        self.inflight.clone()
    }

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

/// The label of a `group`/`resource` pair that is neither stored nor built in.
const OTHER: &str = "other";

/// The resources of Kubernetes itself (and the collection resources of this server): labels
/// for requests of these are kept even when nothing of them is stored.
const KUBERNETES_RESOURCES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "bindings",
            "componentstatuses",
            "configmaps",
            "endpoints",
            "events",
            "limitranges",
            "namespaces",
            "nodes",
            "persistentvolumeclaims",
            "persistentvolumes",
            "pods",
            "podtemplates",
            "replicationcontrollers",
            "resourcequotas",
            "secrets",
            "serviceaccounts",
            "services",
        ],
    ),
    (
        "admissionregistration.k8s.io",
        &[
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "validatingwebhookconfigurations",
        ],
    ),
    ("apiextensions.k8s.io", &["customresourcedefinitions"]),
    ("apiregistration.k8s.io", &["apiservices"]),
    (
        "apps",
        &[
            "controllerrevisions",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
        ],
    ),
    ("autoscaling", &["horizontalpodautoscalers"]),
    ("batch", &["cronjobs", "jobs"]),
    ("certificates.k8s.io", &["certificatesigningrequests"]),
    ("clusterpedia.io", &["collectionresources"]),
    ("coordination.k8s.io", &["leases"]),
    ("discovery.k8s.io", &["endpointslices"]),
    ("events.k8s.io", &["events"]),
    (
        "flowcontrol.apiserver.k8s.io",
        &["flowschemas", "prioritylevelconfigurations"],
    ),
    (
        "networking.k8s.io",
        &["ingressclasses", "ingresses", "networkpolicies"],
    ),
    ("node.k8s.io", &["runtimeclasses"]),
    ("policy", &["poddisruptionbudgets"]),
    (
        "rbac.authorization.k8s.io",
        &[
            "clusterrolebindings",
            "clusterroles",
            "rolebindings",
            "roles",
        ],
    ),
    ("scheduling.k8s.io", &["priorityclasses"]),
    (
        "storage.k8s.io",
        &[
            "csidrivers",
            "csinodes",
            "csistoragecapacities",
            "storageclasses",
            "volumeattachments",
        ],
    ),
];

/// The `group` and `resource` labels of a request: as asked when empty (not a resource),
/// built in or stored, else [`OTHER`].
fn resource_labels(info: &RequestInfo, stored: impl Fn(&str, &str) -> bool) -> (&str, &str) {
    let (group, resource) = (info.group.as_str(), info.resource.as_str());
    let known = (group.is_empty() && resource.is_empty())
        || KUBERNETES_RESOURCES
            .iter()
            .any(|(g, resources)| *g == group && resources.contains(&resource))
        || (!resource.is_empty() && stored(group, resource));
    if known {
        (group, resource)
    } else {
        ("", OTHER)
    }
}

/// The middleware: counts and times every request, labelled by the [`RequestInfo`] its
/// handler set (else by its HTTP method).
pub(crate) async fn track(
    State((metrics, catalog)): State<(Arc<Metrics>, Arc<Catalog>)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let mut response = next.run(request).await;
    if response.extensions().get::<RequestInfo>().is_none() {
        response.extensions_mut().insert(RequestInfo {
            verb: verb_of_method(&method),
            group: String::new(),
            resource: String::new(),
        });
    }
    metrics.record(&response, started, |group, resource| {
        catalog.stores(group, resource)
    });
    response
}

fn verb_of_method(method: &Method) -> &'static str {
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
    fn record(&self, response: &Response, started: Instant, stored: impl Fn(&str, &str) -> bool) {
        let Some(info) = response.extensions().get::<RequestInfo>() else {
            return;
        };
        let (group, resource) = resource_labels(info, stored);
        self.requests
            .get_or_create(&RequestLabels {
                verb: info.verb.to_owned(),
                group: group.to_owned(),
                resource: resource.to_owned(),
                code: response.status().as_u16().to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                verb: info.verb.to_owned(),
                group: group.to_owned(),
                resource: resource.to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
    }

    /// The response of `GET /metrics`.
    pub(crate) fn response(&self) -> Response {
        match self.encode() {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_known_values_only() {
        let stored = |group: &str, resource: &str| (group, resource) == ("example.com", "widgets");
        let labels = |group: &str, resource: &str| {
            let info = RequestInfo::resource("list", group, resource);
            let (g, r) = resource_labels(&info, stored);
            (g.to_owned(), r.to_owned())
        };
        let pair = |g: &str, r: &str| (g.to_owned(), r.to_owned());
        assert_eq!(labels("", ""), pair("", ""));
        assert_eq!(labels("", "secrets"), pair("", "secrets"));
        assert_eq!(labels("apps", "deployments"), pair("apps", "deployments"));
        assert_eq!(
            labels("example.com", "widgets"),
            pair("example.com", "widgets")
        );
        assert_eq!(labels("example.com", "gadgets"), pair("", OTHER));
        assert_eq!(labels("made-up.io", ""), pair("", OTHER));
        assert_eq!(labels("apps", "made-up"), pair("", OTHER));
    }
}
