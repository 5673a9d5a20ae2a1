//! `/livez`, `/readyz` (and the deprecated `/healthz`), as the kube-apiserver answers them:
//! `ok` or a failure with HTTP 500, and with `?verbose` one `[+]check ok` / `[-]check failed`
//! line per check. Checks: `ping` (always), and for readiness `storage`
//! ([`StorageFactory::check_ready`](storage_api::StorageFactory::check_ready)) and
//! `discovery` (the stored resource types were read at least once).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// One check's outcome: its name and the failure, if any.
type Check = (&'static str, Option<String>);

fn answer(endpoint: &str, checks: &[Check], query: Option<&str>) -> Response {
    let mut excluded = Vec::new();
    let mut verbose = false;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "verbose" => verbose = true,
            "exclude" => excluded.push(value.into_owned()),
            _ => {}
        }
    }
    let checks: Vec<&Check> = checks
        .iter()
        .filter(|(name, _)| !excluded.iter().any(|e| e == name))
        .collect();
    let failed = checks.iter().any(|(_, failure)| failure.is_some());
    let code = if failed {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    if !verbose && !failed {
        return (code, "ok").into_response();
    }
    let mut text = String::new();
    for (name, failure) in &checks {
        match failure {
            None => text.push_str(&format!("[+]{name} ok\n")),
            Some(reason) => text.push_str(&format!("[-]{name} failed: {reason}\n")),
        }
    }
    text.push_str(&format!(
        "{endpoint} check {}\n",
        if failed { "failed" } else { "passed" }
    ));
    (code, text).into_response()
}

/// `GET /livez`: the process serves requests.
pub(crate) async fn livez(RawQuery(query): RawQuery) -> Response {
    answer("livez", &[("ping", None)], query.as_deref())
}

/// `GET /readyz`: the storage answers and discovery is loaded.
pub(crate) async fn readyz(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let storage = state
        .catalog
        .storage()
        .check_ready()
        .await
        .err()
        .map(|e| e.to_string());
    let discovery = (!state.catalog.current().loaded)
        .then(|| "the stored resource types have not been read yet".to_owned());
    answer(
        "readyz",
        &[
            ("ping", None),
            ("storage", storage),
            ("discovery", discovery),
        ],
        query.as_deref(),
    )
}
