//! `--max-requests-inflight`: at most that many requests are served at once, watches excepted;
//! more get `429 TooManyRequests`. The middleware also keeps the gauge
//! `apiserver_current_inflight_requests` (requests being served; a watch only until its stream
//! starts).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::request::RequestQuery;

/// The permits of `--max-requests-inflight` and the gauge of requests being served.
#[derive(Debug, Clone)]
pub(crate) struct InflightLimit {
    permits: Option<Arc<Semaphore>>,
    gauge: Gauge,
}

impl InflightLimit {
    /// At most `permits` requests at once (`None`: no limit), counted in `gauge`.
    pub(crate) fn new(permits: Option<usize>, gauge: Gauge) -> Self {
        Self {
            permits: permits.map(|n| Arc::new(Semaphore::new(n))),
            gauge,
        }
    }
}

/// Decrements the gauge when the request ends, even if it is cancelled.
struct Serving(Gauge);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The middleware: a permit (unless the request is a watch) or `429`, then counts the request
/// in the gauge until its response head is ready.
pub(crate) async fn limit(
    State(limit): State<InflightLimit>,
    request: Request,
    next: Next,
) -> Response {
    let watch = request
        .extensions()
        .get::<RequestQuery>()
        .is_some_and(|query| query.watch);
    let _permit = match &limit.permits {
        Some(permits) if !watch => match permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => return ApiError::too_many_requests().into_response(),
        },
        _ => None,
    };
    limit.gauge.inc();
    let serving = Serving(limit.gauge.clone());
    let response = next.run(request).await;
    drop(serving);
    response
}
