//! API errors, rendered as `metav1.Status` bodies (the model of `kube-wire`) with the codes and
//! reasons a kube-apiserver uses.

use std::ops::Deref;

use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use kube_wire::status::{Status, StatusCause, StatusDetails, StatusReason, qualified_resource};
use serde_json::Value;

/// An error answered to a client: a `Status` (read its members through `Deref`), with optional
/// `details` and list metadata (the fresh continue token of an expired one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError(Box<Status>);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

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

    fn with_details(mut self, details: StatusDetails) -> Self {
        self.0.details = Some(details);
        self
    }

    /// Replaces the details by `details`: name, group and kind of the object, and causes
    /// (`(reason, field, message)`).
    pub(crate) fn set_details(
        &mut self,
        object: (&str, &str, &str),
        causes: &[(&str, &str, &str)],
    ) {
        let (group, resource, name) = object;
        self.0.details = Some(StatusDetails {
            causes: causes
                .iter()
                .map(|(reason, field, message)| StatusCause {
                    reason: (*reason).into(),
                    message: (*message).into(),
                    field: (*field).into(),
                })
                .collect(),
            ..StatusDetails::object(group, resource, name)
        });
    }

    /// 400 `BadRequest`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Status::bad_request(message).into()
    }

    /// 401 `Unauthorized`.
    pub(crate) fn unauthorized() -> Self {
        Status::unauthorized().into()
    }

    /// 403 `Forbidden` about an object.
    pub(crate) fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            StatusReason::Forbidden,
            format!(
                "{} \"{name}\" is forbidden: {why}",
                qualified_resource(group, resource)
            ),
        )
        .with_details(StatusDetails::object(group, resource, name))
    }

    /// 404 `NotFound` for an object.
    pub(crate) fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Status::not_found(group, resource, name).into()
    }

    /// 404 `NotFound` for a path the server does not serve.
    pub(crate) fn path_not_found() -> Self {
        Self::new(
            StatusReason::NotFound,
            "the server could not find the requested resource",
        )
        .with_details(StatusDetails::default())
    }

    /// 405 `MethodNotAllowed`.
    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusReason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({method})"),
        )
        .with_details(StatusDetails::default())
    }

    /// 406 `NotAcceptable`.
    pub(crate) fn not_acceptable(accept: &str) -> Self {
        Self::new(
            StatusReason::NotAcceptable,
            format!(
                "only the following media types are accepted: application/json, application/yaml (got {accept})"
            ),
        )
    }

    /// 409 `AlreadyExists`.
    pub(crate) fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            StatusReason::AlreadyExists,
            format!(
                "{} \"{name}\" already exists",
                qualified_resource(group, resource)
            ),
        )
        .with_details(StatusDetails::object(group, resource, name))
    }

    /// 409 `Conflict` for a stale resource version.
    pub(crate) fn conflict(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict_because(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 `Conflict` with a given cause.
    pub(crate) fn conflict_because(group: &str, resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            StatusReason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified_resource(group, resource)
            ),
        )
        .with_details(StatusDetails::object(group, resource, name))
    }

    /// 410 `Expired`: a resource version or continue token older than the retained history.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusReason::Expired, message)
    }

    /// 410 `Expired` for a stale continue token, with the token to continue inconsistently.
    pub(crate) fn expired_continue(fresh: Option<String>) -> Self {
        let mut error = Self::expired(
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter, or use the continue token \
             in this response to retrieve the remainder of the results. Continuing with the \
             provided token results in an inconsistent list - objects that were created, \
             modified, or deleted between the time the first chunk was returned and now may show \
             up in the list.",
        );
        if let Some(token) = fresh {
            error
                .0
                .metadata
                .insert("continue".into(), Value::String(token));
        }
        error
    }

    /// 413 `RequestEntityTooLarge`.
    pub(crate) fn request_entity_too_large(limit: usize) -> Self {
        Self::new(
            StatusReason::RequestEntityTooLarge,
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 `UnsupportedMediaType`.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusReason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type:?})"
            ),
        )
    }

    /// 422 `Invalid` with field causes (`(type, field, message)`).
    pub(crate) fn invalid(
        group: &str,
        kind: &str,
        name: &str,
        causes: &[(&'static str, String, String)],
    ) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|(_, field, message)| format!("{field}: {message}"))
            .collect();
        let subject = qualified_resource(group, kind);
        let message = match summary.as_slice() {
            [one] => format!("{subject} \"{name}\" is invalid: {one}"),
            many => format!("{subject} \"{name}\" is invalid: [{}]", many.join(", ")),
        };
        let mut error = Self::new(StatusReason::Invalid, message);
        error.set_details(
            (group, kind, name),
            &causes
                .iter()
                .map(|(reason, field, message)| (*reason, field.as_str(), message.as_str()))
                .collect::<Vec<_>>(),
        );
        error
    }

    /// 500 `InternalError`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusReason::InternalError,
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// 504 `Timeout`: a resource version newer than the server has.
    pub(crate) fn too_large_resource_version(wanted: u64, current: u64) -> Self {
        Self::new(
            StatusReason::Timeout,
            format!("Too large resource version: {wanted}, current: {current}"),
        )
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                reason: "ResourceVersionTooLarge".into(),
                message: "Too large resource version".into(),
                field: String::new(),
            }],
            retry_after_seconds: Some(1),
            ..StatusDetails::default()
        })
    }

    /// The HTTP response.
    pub(crate) fn into_response(self) -> Response<Body> {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        bytes_response(code, self.to_json())
    }
}

/// A JSON response of `value`.
pub(crate) fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    bytes_response(code, serde_json::to_vec(value).unwrap_or_default())
}

/// A JSON response of already serialized bytes.
pub(crate) fn bytes_response(code: StatusCode, body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The result of a request handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_details_causes_and_the_fresh_continue_token() {
        let invalid = ApiError::invalid(
            "",
            "Pod",
            "p",
            &[("FieldValueRequired", "spec".into(), "Required value".into())],
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&invalid.to_json()).expect("json"),
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Pod \"p\" is invalid: spec: Required value", "reason": "Invalid",
                "details": {"name": "p", "kind": "Pod", "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec"}]},
                "code": 422})
        );
        let expired = ApiError::expired_continue(Some("fresh".into()));
        assert_eq!(expired.metadata["continue"], "fresh");
        assert_eq!((expired.code, expired.reason.as_str()), (410, "Expired"));
        let too_new =
            serde_json::from_slice::<Value>(&ApiError::too_large_resource_version(9, 8).to_json())
                .expect("json");
        assert_eq!(
            too_new["details"],
            serde_json::json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1})
        );
        assert_eq!(
            ApiError::path_not_found().to_string(),
            "404 NotFound: the server could not find the requested resource"
        );
    }
}
