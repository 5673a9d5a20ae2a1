//! The responses handlers build: a `200` JSON body, and a handler's result labelled for the
//! metrics.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::ApiError;
use crate::metrics::RequestInfo;

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
