//! The one error type of the apiserver: every failure is answered with a Kubernetes
//! `meta.k8s.io/v1` `Status` object (the model of `kube-wire`), so kubectl prints
//! `Error from server (<Reason>): <message>`.

use std::ops::Deref;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kube_wire::status::{Status, StatusReason};
use storage_api::StorageError;

/// A failed request, rendered as a Kubernetes `Status` (read its members through `Deref`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError(Box<Status>);

/// The message of a Kubernetes 404 for a path it does not serve.
pub(crate) const RESOURCE_NOT_FOUND: &str = "the server could not find the requested resource";
/// The message of the original for a cluster it does not know.
pub(crate) const CLUSTER_NOT_FOUND: &str = "the server could not find the requested cluster";
/// The message of the original for a get without a cluster.
pub(crate) const GET_NEEDS_CLUSTER: &str =
    "please specify the cluster name when using the resource name to get a specific resource.";

impl Deref for ApiError {
    type Target = Status;

    fn deref(&self) -> &Status {
        &self.0
    }
}

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        Self(Box::new(status))
    }
}

impl ApiError {
    /// An error of `reason` (which sets the code) with `message`.
    pub(crate) fn new(reason: StatusReason, message: impl Into<String>) -> Self {
        Status::failure(reason, message).into()
    }

    /// `400 BadRequest`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Status::bad_request(message).into()
    }

    /// `401 Unauthorized`, as the kube-apiserver answers a request without valid credentials.
    pub(crate) fn unauthorized() -> Self {
        Status::unauthorized().into()
    }

    /// `404 NotFound` for a path or resource this server does not serve.
    pub(crate) fn resource_not_found() -> Self {
        Self::new(StatusReason::NotFound, RESOURCE_NOT_FOUND)
    }

    /// `404 NotFound` for one object: `pods "web-1" not found`.
    pub(crate) fn object_not_found(group: &str, resource: &str, name: &str) -> Self {
        Status::not_found(group, resource, name).into()
    }

    /// `405 MethodNotAllowed`: the server is read-only, or the layer cannot watch.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusReason::MethodNotAllowed, message)
    }

    /// `406 NotAcceptable`: no media type of the `Accept` header can be produced.
    pub(crate) fn not_acceptable() -> Self {
        Self::new(
            StatusReason::NotAcceptable,
            "only the following media types are accepted: application/json, \
             application/json;as=Table;v=v1;g=meta.k8s.io (or v1beta1), \
             application/json;as=PartialObjectMetadata[List];v=v1;g=meta.k8s.io (or v1beta1)",
        )
    }

    /// `429 TooManyRequests`: `--max-requests-inflight` reached.
    pub(crate) fn too_many_requests() -> Self {
        Self::new(
            StatusReason::TooManyRequests,
            "Too many requests, please try again later.",
        )
    }

    /// `500 InternalError`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusReason::InternalError, message)
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        let status = error.status();
        if status.code >= 500 {
            tracing::error!(error = %error, source = ?std::error::Error::source(&error), "storage failure");
        }
        status.into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (code, self.to_json()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.code == 429 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_is_the_kube_wire_status() {
        // The JSON shape itself is tested in kube-wire (`status_json_has_the_kubernetes_shape`).
        assert_eq!(
            ApiError::object_not_found("apps", "deployments", "web").to_json(),
            Status::not_found("apps", "deployments", "web").to_json()
        );
        assert!(
            String::from_utf8(ApiError::too_many_requests().to_json())
                .expect("utf-8")
                .starts_with(r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests"#)
        );
    }

    #[test]
    fn storage_errors_keep_reason_code_and_causes() {
        let error = ApiError::from(StorageError::bad_request("since", "Invalid datetime: x"));
        assert_eq!((error.code, error.reason.as_str()), (400, "BadRequest"));
        assert_eq!(error.message, "since: Invalid datetime: x");
        let details = error.details.clone().expect("causes");
        assert_eq!(details.causes[0].field, "since");
    }
}
