//! Admin endpoints under `/_sim/` (authenticated like the API), to drive failure modes and
//! churn of a running simulator:
//!
//! | request                                   | effect                                          |
//! |-------------------------------------------|-------------------------------------------------|
//! | `GET /_sim/stats`                         | revision, compaction, object counts, counters   |
//! | `POST /_sim/health {"healthy": false}`    | `/readyz`, `/livez`, `/healthz` answer 500      |
//! | `POST /_sim/compact`                      | drops the history: older revisions get 410      |
//! | `POST /_sim/churn {"perSecond": 100}`     | sets the churn rate                             |
//! | `POST /_sim/disconnect {"seconds": 10}`   | closes the listener and connections for a while |
//! | `POST /_sim/stop`                         | stops the simulator                             |

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, json_response};
use crate::state::{Control, State};

/// The statistics of `GET /_sim/stats`.
pub(crate) fn stats(state: &State) -> Value {
    let mut objects = serde_json::Map::new();
    let mut total = 0;
    for resource in state.store.resources() {
        let count = state.store.count(&resource);
        total += count;
        objects.insert(resource.to_string(), json!(count));
    }
    json!({
        "revision": state.store.revision(),
        "compacted": state.store.compacted(),
        "history": state.store.history_len(),
        "objects": objects,
        "totalObjects": total,
        "requests": state.counters.requests.load(Ordering::Relaxed),
        "watchesOpen": state.counters.watches_open.load(Ordering::Relaxed),
        "churnUpdates": state.counters.churn_updates.load(Ordering::Relaxed),
        "churnPerSecond": *state.churn_rate.borrow(),
        "healthy": state.healthy(),
    })
}

/// Handles `/_sim/<rest>`.
pub(crate) async fn handle(
    state: Arc<State>,
    rest: &[String],
    request: Request<Body>,
) -> ApiResult<Response<Body>> {
    let method = request.method().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let path: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (method, path.as_slice()) {
        (Method::GET, ["stats"]) => Ok(json_response(StatusCode::OK, &stats(&state))),
        (Method::POST, ["health"]) => {
            let healthy = input
                .get("healthy")
                .and_then(Value::as_bool)
                .ok_or_else(|| ApiError::bad_request("expected {\"healthy\": bool}"))?;
            state.set_healthy(healthy);
            Ok(json_response(StatusCode::OK, &json!({"healthy": healthy})))
        }
        (Method::POST, ["compact"]) => {
            let compacted = state.store.compact();
            Ok(json_response(
                StatusCode::OK,
                &json!({"compacted": compacted}),
            ))
        }
        (Method::POST, ["churn"]) => {
            let rate = input
                .get("perSecond")
                .and_then(Value::as_f64)
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| ApiError::bad_request("expected {\"perSecond\": number >= 0}"))?;
            state.churn_rate.send_replace(rate);
            Ok(json_response(StatusCode::OK, &json!({"perSecond": rate})))
        }
        (Method::POST, ["disconnect"]) => {
            let seconds = input
                .get("seconds")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| ApiError::bad_request("expected {\"seconds\": number >= 0}"))?;
            let _ = state
                .control
                .send(Control::Disconnect(Duration::from_secs_f64(seconds)));
            Ok(json_response(
                StatusCode::ACCEPTED,
                &json!({"seconds": seconds}),
            ))
        }
        (Method::POST, ["stop"]) => {
            let _ = state.control.send(Control::Stop);
            Ok(json_response(
                StatusCode::ACCEPTED,
                &json!({"stopping": true}),
            ))
        }
        (_, ["stats" | "health" | "compact" | "churn" | "disconnect" | "stop"]) => {
            Err(ApiError::method_not_allowed("this method"))
        }
        _ => Err(ApiError::path_not_found()),
    }
}
