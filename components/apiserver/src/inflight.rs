//! The admission and deadline of every request, watches excepted:
//!
//! - `--max-requests-inflight`: at most that many requests are served at once; more get
//!   `429 TooManyRequests`;
//! - `--max-expensive-requests-inflight`: at most that many *expensive* list requests
//!   ([`ListOptions::cost_class`](storage_api::ListOptions::cost_class): field-path `orderby`,
//!   field selectors on object fields, `fuzzyName`, long value lists, deep offsets) at once;
//!   more get `429 TooManyRequests` with `Retry-After`, while cheap requests are still served,
//!   so that slow queries cannot take every database connection;
//! - `--request-timeout`: a request whose response is not ready in time is answered `504
//!   Timeout` with kube's message, and its storage call is dropped (cancelled).
//!
//! A streamed response (an unlimited list, encoded page by page) keeps its permits until its
//! body ends, and the deadline covers the body too: a body still streaming at the deadline is
//! cut (the status line is already sent, so the client sees a truncated response, as with
//! kube-apiserver) and its storage stream dropped.
//!
//! The middleware also keeps the gauge `apiserver_current_inflight_requests` (requests being
//! served; a watch only until its stream starts).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::gauge::Gauge;
use storage_api::query::CostClass;
use storage_api::status::StatusReason;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;
use crate::request::RequestQuery;

/// kube-apiserver's message for a request that ran out of time.
pub(crate) const TIMEOUT_MESSAGE: &str = "the server was unable to return a response in the \
     time allotted, but may still be processing the request";

/// The permits of `--max-requests-inflight` and `--max-expensive-requests-inflight`, the
/// `--request-timeout`, and the gauge of requests being served.
#[derive(Debug, Clone)]
pub(crate) struct InflightLimit {
    permits: Option<Arc<Semaphore>>,
    expensive: Option<Arc<Semaphore>>,
    timeout: Option<Duration>,
    gauge: Gauge,
}

impl InflightLimit {
    /// At most `permits` requests at once (`None`: no limit), counted in `gauge`; no separate
    /// limit on expensive requests and no deadline (see [`InflightLimit::with_expensive`] and
    /// [`InflightLimit::with_timeout`]).
    pub(crate) fn new(permits: Option<usize>, gauge: Gauge) -> Self {
        Self {
            permits: permits.map(|n| Arc::new(Semaphore::new(n))),
            expensive: None,
            timeout: None,
            gauge,
        }
    }

    /// At most `permits` expensive requests at once (`None`: no separate limit).
    pub(crate) fn with_expensive(mut self, permits: Option<usize>) -> Self {
        self.expensive = permits.map(|n| Arc::new(Semaphore::new(n)));
        self
    }

    /// Requests (watches excepted) end with `504 Timeout` after `timeout`.
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Decrements the gauge when the request ends, even if it is cancelled.
struct Serving(Gauge);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `429` for an expensive request over `--max-expensive-requests-inflight`.
fn too_many_expensive() -> ApiError {
    ApiError::new(
        StatusReason::TooManyRequests,
        "Too many expensive requests (orderby on field paths, field selectors on object fields, \
         fuzzyName, long value lists) are being served, please try again later or narrow the \
         query.",
    )
}

/// Whether the request is a watch, and its cost class (cheap when its list options do not
/// parse: the handler answers `400`), from the query [`request::parse`](crate::request::parse)
/// left in the extensions (or parsed now).
fn classify(request: &Request, with_cost: bool) -> (bool, CostClass) {
    let parsed;
    let query = match request.extensions().get::<RequestQuery>() {
        Some(query) => query,
        None => {
            parsed = RequestQuery::from_raw(request.uri().query().unwrap_or_default());
            &parsed
        }
    };
    let cost = if with_cost && !query.watch {
        query.cost_class()
    } else {
        CostClass::Cheap
    };
    (query.watch, cost)
}

/// The body of a streamed response: holds the request's permits until it ends, and ends with
/// an error at the request's deadline.
struct Guarded {
    inner: axum::body::BodyDataStream,
    deadline: Option<Pin<Box<Sleep>>>,
    permits: Option<[Option<OwnedSemaphorePermit>; 2]>,
}

impl futures::Stream for Guarded {
    type Item = Result<Bytes, axum::BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.permits.is_none() {
            return Poll::Ready(None);
        }
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            self.permits = None;
            self.deadline = None;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                TIMEOUT_MESSAGE,
            )
            .into())));
        }
        let next = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        match next {
            Some(Ok(bytes)) => Poll::Ready(Some(Ok(bytes))),
            Some(Err(error)) => {
                self.permits = None;
                Poll::Ready(Some(Err(error.into())))
            }
            None => {
                self.permits = None;
                Poll::Ready(None)
            }
        }
    }
}

/// The middleware: permits (unless the request is a watch) or `429`, then the request under
/// its deadline, counted in the gauge until its response head is ready. A response whose body
/// is still to be streamed keeps the permits and the deadline until its body ends.
pub(crate) async fn limit(
    State(limit): State<InflightLimit>,
    request: Request,
    next: Next,
) -> Response {
    let (watch, cost) = classify(&request, limit.expensive.is_some());
    let permit = match &limit.permits {
        Some(permits) if !watch => match permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return ApiError::too_many_requests().into_response(),
        },
        _ => None,
    };
    let expensive = match &limit.expensive {
        Some(permits) if cost == CostClass::Expensive => {
            match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => return too_many_expensive().into_response(),
            }
        }
        _ => None,
    };
    limit.gauge.inc();
    let serving = Serving(limit.gauge.clone());
    let deadline = limit
        .timeout
        .filter(|_| !watch)
        .map(|timeout| Instant::now() + timeout);
    let response = match deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(StatusReason::Timeout, TIMEOUT_MESSAGE).into_response(),
        },
        None => next.run(request).await,
    };
    drop(serving);
    let streamed =
        response.body().size_hint().exact().is_none() && !response.body().is_end_stream();
    if watch || !streamed || (permit.is_none() && expensive.is_none() && deadline.is_none()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = Guarded {
        inner: body.into_data_stream(),
        deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
        permits: Some([permit, expensive]),
    };
    Response::from_parts(parts, Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use futures::StreamExt as _;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    async fn head(app: &Router, uri: &str) -> Response {
        app.clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response")
    }

    /// The expensive slot is held until a streamed list body ends, not only until its headers
    /// are sent (it was released with the headers, and a client reading slowly held a database
    /// connection without a slot).
    #[tokio::test]
    async fn a_streamed_body_keeps_its_expensive_slot_until_it_ends() {
        let limit = InflightLimit::new(Some(10), Gauge::default()).with_expensive(Some(1));
        let app = app(limit);
        let streaming = head(&app, "/stream?fuzzyName=web&slow=300").await;
        assert_eq!(streaming.status(), StatusCode::OK);
        let (status, _, json) = call(&app, "/list?fuzzyName=web").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
        let body = streaming.into_body().collect().await.expect("body");
        assert_eq!(body.to_bytes().as_ref(), b"rows rows ");
        let (status, _, _) = call(&app, "/list?fuzzyName=web").await;
        assert_eq!(status, StatusCode::OK, "the slot is released with the body");
    }

    /// `--request-timeout` covers a streamed body: one still streaming at the deadline is cut.
    #[tokio::test]
    async fn a_streamed_body_is_cut_at_the_request_timeout() {
        let limit =
            InflightLimit::new(None, Gauge::default()).with_timeout(Duration::from_millis(200));
        let app = app(limit);
        let streaming = head(&app, "/stream?slow=10000").await;
        assert_eq!(streaming.status(), StatusCode::OK);
        let started = std::time::Instant::now();
        let body = tokio::time::timeout(Duration::from_secs(5), streaming.into_body().collect())
            .await
            .expect("the body ends at the deadline, not after 10 s");
        assert!(body.is_err(), "a cut body ends with an error");
        assert!(started.elapsed() < Duration::from_secs(2));
        let fast = head(&app, "/stream?slow=10").await;
        let body = fast.into_body().collect().await.expect("body");
        assert_eq!(body.to_bytes().as_ref(), b"rows rows ");
    }

    /// A router whose handler sleeps for `slow=<ms>` milliseconds, behind `limit`.
    fn app(limit: InflightLimit) -> Router {
        async fn handler(request: Request) -> &'static str {
            let ms = request
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("slow=")))
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "ok"
        }
        /// A body streamed in two chunks, `slow=<ms>` milliseconds apart.
        async fn streamed(request: Request) -> Body {
            let ms = request
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("slow=")))
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0);
            let chunks = futures::stream::iter(0..2).then(move |i| async move {
                if i == 1 {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Ok::<_, std::io::Error>(Bytes::from_static(b"rows "))
            });
            Body::from_stream(chunks)
        }
        Router::new()
            .route("/list", get(handler))
            .route("/stream", get(streamed))
            .layer(from_fn_with_state(limit, super::limit))
    }

    async fn call(app: &Router, uri: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = app
            .clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = response.status();
        let retry = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, retry, json)
    }

    /// The security test's pool exhaustion, one level up: with one expensive permit, a second
    /// concurrent expensive request is refused with `429` while a cheap one is served.
    #[tokio::test]
    async fn a_second_expensive_request_gets_429_while_cheap_ones_are_served() {
        let limit = InflightLimit::new(None, Gauge::default()).with_expensive(Some(1));
        let app = app(limit);
        let slow = tokio::spawn({
            let app = app.clone();
            async move { call(&app, "/list?orderby=metadata.labels.app&slow=500").await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, retry, json) = call(&app, "/list?fuzzyName=web").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(json["reason"], "TooManyRequests");
        assert!(
            json["message"]
                .as_str()
                .is_some_and(|m| m.contains("expensive")),
            "{json}"
        );
        let (status, _, _) = call(&app, "/list?labelSelector=app%3Dweb&limit=10").await;
        assert_eq!(status, StatusCode::OK, "a cheap request is served");
        let (status, _, _) = slow.await.expect("task");
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(&app, "/list?fuzzyName=web").await;
        assert_eq!(status, StatusCode::OK, "the permit is released");
    }

    /// `--request-timeout`: a request not answered in time is a `504 Timeout` with kube's
    /// message; a watch is not cut.
    #[tokio::test]
    async fn a_request_over_the_timeout_is_504() {
        let limit =
            InflightLimit::new(None, Gauge::default()).with_timeout(Duration::from_millis(100));
        let app = app(limit);
        let (status, _, json) = call(&app, "/list?slow=2000").await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(json["kind"], "Status");
        assert_eq!(json["reason"], "Timeout");
        assert_eq!(json["code"], 504);
        assert_eq!(json["message"], TIMEOUT_MESSAGE);
        let (status, _, _) = call(&app, "/list?slow=10").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(&app, "/list?watch=1&slow=300").await;
        assert_eq!(status, StatusCode::OK, "a watch has no deadline");
    }
}
