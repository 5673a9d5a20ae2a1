//! The responses handlers build: a `200` JSON body, a handler's result labelled for the
//! metrics, and the mark of a stream that must not be compressed.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::ApiError;
use crate::metrics::RequestInfo;

/// Marks a response that must not be compressed (a stream of events must reach the client as
/// each event is written).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoCompression;

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
