//! LIST: paging with `limit`/`continue`, `resourceVersion`/`resourceVersionMatch` semantics,
//! label and field selectors, and the streamed JSON list (or a server-side table).
//!
//! Semantics (as in the API concepts documentation, for a kube-apiserver v1.36):
//!
//! | `resourceVersion` | `resourceVersionMatch` | served at                                  |
//! |-------------------|------------------------|--------------------------------------------|
//! | unset             | unset                  | the current revision                        |
//! | `"0"`             | unset / NotOlderThan   | any (the current revision)                  |
//! | `N`               | unset, with `limit`    | exactly `N` (legacy)                        |
//! | `N`               | unset, no `limit`      | not older than `N` (the current revision)   |
//! | `N`               | NotOlderThan           | the current revision, once it reaches `N`   |
//! | `N`               | Exact                  | exactly `N`                                 |
//!
//! A continue token carries the revision of the first page and the last examined key: the
//! following pages are read at that revision, so that paging is exact even while objects
//! change, until the revision is compacted (`410 Expired`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use kube_wire::table::ListMeta;
use serde_json::{Value, json};

use crate::api::{Query, Representation, Target};
use crate::error::{ApiError, ApiResult, bytes_response};
use crate::selector::Filter;
use crate::state::State;
use crate::store::ReadError;

/// Objects examined per store read when a selector filters them.
const SCAN_CHUNK: usize = 1024;

/// The size of the frames of a list body.
const FRAME: usize = 64 * 1024;

/// How long a read waits for a resource version the store has not reached.
const FRESHNESS_WAIT: Duration = Duration::from_secs(3);

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContinueToken {
    /// The revision of the list.
    pub(crate) revision: u64,
    /// The last examined key, relative to the list prefix.
    pub(crate) start: String,
}

impl ContinueToken {
    /// The opaque token text (the kube-apiserver's format: URL-safe base64 of
    /// `{"v":"meta.k8s.io/v1","rv":N,"start":"key\u0000"}`).
    pub(crate) fn encode(&self) -> String {
        let json = json!({"v": "meta.k8s.io/v1", "rv": self.revision, "start": format!("{}\u{0}", self.start)});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// Decodes a token.
    pub(crate) fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid =
            |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|e| invalid(&e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(&e.to_string()))?;
        if value["v"] != "meta.k8s.io/v1" {
            return Err(invalid(
                "server does not recognize this encoded key (meta.k8s.io/v1)",
            ));
        }
        let revision = value["rv"].as_u64().filter(|rv| *rv > 0).ok_or_else(|| {
            invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        })?;
        let start = value["start"]
            .as_str()
            .ok_or_else(|| invalid("encoded start key missing"))?;
        let start = start.strip_suffix('\u{0}').unwrap_or(start);
        if start.split('/').any(|p| p == ".." || p == ".") {
            return Err(invalid("encoded start key is not valid"));
        }
        Ok(Self {
            revision,
            start: start.to_owned(),
        })
    }
}

/// Parses a resource version parameter.
pub(crate) fn parse_revision(text: &str) -> ApiResult<u64> {
    text.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text}")))
}

/// Waits until the store reaches `wanted`, up to the freshness wait (then 504 like a
/// kube-apiserver whose watch cache does not catch up).
pub(crate) async fn wait_for_revision(state: &State, wanted: u64) -> ApiResult<()> {
    let mut rx = state.store.subscribe();
    let deadline = tokio::time::Instant::now() + FRESHNESS_WAIT;
    loop {
        let current = *rx.borrow_and_update();
        if current >= wanted {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => {
                return Err(ApiError::too_large_resource_version(
                    wanted,
                    state.store.revision(),
                ));
            }
        }
    }
}

fn invalid_list_options(causes: &[(&'static str, String, String)]) -> ApiError {
    ApiError::invalid("meta.k8s.io", "ListOptions", "", causes)
}

/// Validation of list options (`ValidateListOptions`).
fn validate(query: &Query) -> ApiResult<()> {
    let rv = query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or_default();
    let mut causes = Vec::new();
    if let Some(m) = query.get("resourceVersionMatch").filter(|m| !m.is_empty()) {
        if rv.is_empty() {
            causes.push((
                "FieldValueForbidden",
                "resourceVersionMatch".to_owned(),
                "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
                    .to_owned(),
            ));
        }
        if query.get("continue").is_some_and(|c| !c.is_empty()) {
            causes.push((
                "FieldValueForbidden",
                "resourceVersionMatch".to_owned(),
                "Forbidden: resourceVersionMatch is forbidden when continue is provided".to_owned(),
            ));
        }
        if m != "Exact" && m != "NotOlderThan" {
            causes.push((
                "FieldValueNotSupported",
                "resourceVersionMatch".to_owned(),
                format!("Unsupported value: \"{m}\": supported values: \"Exact\", \"NotOlderThan\", \"\""),
            ));
        }
        if m == "Exact" && rv == "0" {
            causes.push((
                "FieldValueForbidden",
                "resourceVersionMatch".to_owned(),
                "Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""
                    .to_owned(),
            ));
        }
    }
    if query.contains_key("sendInitialEvents") {
        causes.push((
            "FieldValueForbidden",
            "sendInitialEvents".to_owned(),
            "Forbidden: sendInitialEvents is forbidden for list".to_owned(),
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid_list_options(&causes))
    }
}

/// The `limit` parameter (0: unlimited).
fn limit(query: &Query) -> ApiResult<usize> {
    match query.get("limit").filter(|l| !l.is_empty()) {
        None => Ok(0),
        Some(text) => text
            .parse::<i64>()
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {text}"))),
    }
}

/// The objects of one list response.
pub(crate) struct Listed {
    pub(crate) revision: u64,
    pub(crate) items: Vec<Bytes>,
    pub(crate) continue_token: Option<String>,
    pub(crate) remaining: Option<usize>,
}

/// Reads the list a request asks for.
pub(crate) async fn read_list(state: &State, target: &Target, query: &Query) -> ApiResult<Listed> {
    validate(query)?;
    let filter = Filter::new(
        &target.def,
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )?;
    let limit = limit(query)?;
    let prefix = target.prefix();
    let rv = query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or_default();
    let rv_match = query
        .get("resourceVersionMatch")
        .map(String::as_str)
        .unwrap_or_default();
    let continue_param = query.get("continue").filter(|c| !c.is_empty());

    let (at, mut after) = if let Some(token) = continue_param {
        if !rv.is_empty() && rv != "0" {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let token = ContinueToken::decode(token)?;
        if token.revision < state.store.compacted() {
            let fresh = ContinueToken {
                revision: state.store.revision(),
                start: token.start.clone(),
            };
            return Err(ApiError::expired_continue(Some(fresh.encode())));
        }
        (
            Some(token.revision),
            Some(format!("{prefix}{}", token.start)),
        )
    } else {
        match (rv, rv_match) {
            ("" | "0", _) => (None, None),
            (n, "Exact") => (Some(parse_revision(n)?), None),
            (n, "") if limit > 0 => (Some(parse_revision(n)?), None),
            (n, _) => {
                wait_for_revision(state, parse_revision(n)?).await?;
                (None, None)
            }
        }
    };
    if let Some(at) = at
        && at > state.store.revision()
    {
        wait_for_revision(state, at).await?;
    }

    let mut items = Vec::new();
    let mut revision = at;
    let mut last_key: Option<Arc<str>> = None;
    let mut has_more = false;
    let mut remaining = None;
    loop {
        let want = if limit == 0 {
            usize::MAX
        } else {
            limit - items.len()
        };
        let chunk = if filter.is_empty() { want } else { SCAN_CHUNK };
        let count_rest = limit > 0 && filter.is_empty();
        let page = state
            .store
            .read_range(
                &target.def.id,
                &prefix,
                after.as_deref(),
                revision,
                chunk,
                count_rest,
            )
            .map_err(|e| read_error(e, continue_param.is_some(), &prefix, after.as_deref()))?;
        revision = Some(page.revision);
        let mut stopped = false;
        for (key, raw) in page.items {
            if limit > 0 && items.len() == limit {
                has_more = true;
                stopped = true;
                break;
            }
            if filter.matches(&raw) {
                items.push(target.view(raw));
            }
            last_key = Some(key);
        }
        if stopped {
            break;
        }
        if !page.more {
            break;
        }
        if limit > 0 && items.len() == limit {
            has_more = true;
            remaining = page.remaining;
            break;
        }
        after = last_key.as_deref().map(str::to_owned);
    }
    let revision = revision.unwrap_or_else(|| state.store.revision());
    let continue_token = match (&last_key, has_more) {
        (Some(key), true) => Some(
            ContinueToken {
                revision,
                start: key.strip_prefix(prefix.as_str()).unwrap_or(key).to_owned(),
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(Listed {
        revision,
        items,
        continue_token,
        remaining: if filter.has_selectors() {
            None
        } else {
            remaining
        },
    })
}

fn read_error(error: ReadError, continuing: bool, prefix: &str, after: Option<&str>) -> ApiError {
    match error {
        ReadError::TooOld { compacted } if continuing => {
            let start = after
                .map(|a| a.strip_prefix(prefix).unwrap_or(a).to_owned())
                .unwrap_or_default();
            ApiError::expired_continue(Some(
                ContinueToken {
                    revision: compacted,
                    start,
                }
                .encode(),
            ))
        }
        ReadError::TooOld { .. } => {
            ApiError::expired("The resourceVersion for the provided list is too old.")
        }
        ReadError::TooNew { current } => ApiError::too_large_resource_version(current + 1, current),
    }
}

/// The `metadata` of a list: its revision, continue token and remaining count.
fn list_meta<'a>(listed: &'a Listed, revision: &'a str) -> ListMeta<'a> {
    ListMeta {
        resource_version: Some(revision),
        continue_token: listed.continue_token.as_deref(),
        remaining_item_count: listed.remaining.map(|n| n as u64),
    }
}

/// Handles a LIST request.
pub(crate) async fn list(
    state: &State,
    target: &Target,
    query: &Query,
    representation: Representation,
) -> ApiResult<Response<Body>> {
    let listed = read_list(state, target, query).await?;
    if representation == Representation::Table {
        let include = query
            .get("includeObject")
            .map(String::as_str)
            .unwrap_or("Metadata");
        let revision = listed.revision.to_string();
        let table = crate::table::table(
            target,
            listed.items.iter().map(|raw| &raw[..]),
            &list_meta(&listed, &revision),
            include,
        )?;
        return Ok(bytes_response(StatusCode::OK, table));
    }
    Ok(list_response(target, listed))
}

/// The streamed JSON list: the objects are written as stored, without re-encoding.
pub(crate) fn list_response(target: &Target, listed: Listed) -> Response<Body> {
    let revision = listed.revision.to_string();
    let mut metadata = Vec::new();
    list_meta(&listed, &revision).write(&mut metadata);
    let head = format!(
        "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        target.def.list_kind,
        target.api_version(),
        String::from_utf8_lossy(&metadata)
    );
    // Items are copied into frames of about 64 KiB as the body is read, so that a large list
    // holds one frame at a time besides the stored objects it refers to.
    struct Frames {
        head: Option<String>,
        items: std::vec::IntoIter<Bytes>,
        written: usize,
        done: bool,
    }
    let frames = Frames {
        head: Some(head),
        items: listed.items.into_iter(),
        written: 0,
        done: false,
    };
    let stream = futures::stream::unfold(frames, |mut frames| async move {
        if frames.done {
            return None;
        }
        let mut buffer = BytesMut::with_capacity(FRAME);
        if let Some(head) = frames.head.take() {
            buffer.put_slice(head.as_bytes());
        }
        while buffer.len() < FRAME {
            match frames.items.next() {
                Some(item) => {
                    if frames.written > 0 {
                        buffer.put_u8(b',');
                    }
                    frames.written += 1;
                    buffer.put_slice(&item);
                }
                None => {
                    buffer.put_slice(b"]}");
                    frames.done = true;
                    break;
                }
            }
        }
        Some((Ok::<_, Infallible>(buffer.freeze()), frames))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let token = ContinueToken {
            revision: 42,
            start: "ns/pod-1".into(),
        };
        let text = token.encode();
        assert_eq!(ContinueToken::decode(&text).ok(), Some(token));
        assert!(ContinueToken::decode("garbage!").is_err());
    }
}
