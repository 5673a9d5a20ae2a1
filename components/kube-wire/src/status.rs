//! The Kubernetes `meta.k8s.io/v1` `Status` object every error is answered with.
//!
//! One model for every server of the workspace: the storage contract maps its errors into it
//! (`storage_api::StorageError::status`), the clusterpedia apiserver and the kube API simulator
//! answer failures with it (their `ApiError`s are thin wrappers that add the HTTP response).

use serde::{Deserialize, Serialize};

/// A Kubernetes `Status` reason, with its HTTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StatusReason {
    /// 400: the request is malformed.
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: the credentials may not do this.
    Forbidden,
    /// 404: no such object or resource.
    NotFound,
    /// 405: the verb is not supported for this resource.
    MethodNotAllowed,
    /// 406: no media type of the `Accept` header can be produced.
    NotAcceptable,
    /// 409: the object already exists.
    AlreadyExists,
    /// 409: a concurrent modification.
    Conflict,
    /// 410: the resource is gone.
    Gone,
    /// 410: the resource version or continue token is too old.
    Expired,
    /// 413: the request body is too large.
    RequestEntityTooLarge,
    /// 414: the request URI is longer than the server reads (no Kubernetes reason exists; this
    /// one is named after the HTTP status).
    #[serde(rename = "RequestURITooLong")]
    RequestUriTooLong,
    /// 415: the request body is in a format the server does not read.
    UnsupportedMediaType,
    /// 422: the request is well formed but cannot be served.
    Invalid,
    /// 429: slow down.
    TooManyRequests,
    /// 431: the request headers are larger than the server reads (named after the HTTP status).
    RequestHeaderFieldsTooLarge,
    /// 500: a server fault.
    InternalError,
    /// 503: the storage is (temporarily) unreachable.
    ServiceUnavailable,
    /// 504: the request timed out.
    Timeout,
}

impl StatusReason {
    /// The HTTP status code of this reason.
    pub fn code(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable => 406,
            Self::AlreadyExists | Self::Conflict => 409,
            Self::Gone | Self::Expired => 410,
            Self::RequestEntityTooLarge => 413,
            Self::RequestUriTooLong => 414,
            Self::UnsupportedMediaType => 415,
            Self::Invalid => 422,
            Self::TooManyRequests => 429,
            Self::RequestHeaderFieldsTooLarge => 431,
            Self::InternalError => 500,
            Self::ServiceUnavailable => 503,
            Self::Timeout => 504,
        }
    }

    /// The reason as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BadRequest",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "NotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotAcceptable => "NotAcceptable",
            Self::AlreadyExists => "AlreadyExists",
            Self::Conflict => "Conflict",
            Self::Gone => "Gone",
            Self::Expired => "Expired",
            Self::RequestEntityTooLarge => "RequestEntityTooLarge",
            Self::RequestUriTooLong => "RequestURITooLong",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::Invalid => "Invalid",
            Self::TooManyRequests => "TooManyRequests",
            Self::RequestHeaderFieldsTooLarge => "RequestHeaderFieldsTooLarge",
            Self::InternalError => "InternalError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Timeout => "Timeout",
        }
    }
}

impl std::fmt::Display for StatusReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `meta.k8s.io/v1` `Status` (always a failure here: successes are the objects themselves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `Status`.
    pub kind: String,
    /// Always `v1`.
    pub api_version: String,
    /// The list metadata: empty, or the fresh `continue` token of an expired one.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Always `Failure`.
    pub status: String,
    /// A human-readable description.
    pub message: String,
    /// The machine-readable reason.
    pub reason: StatusReason,
    /// What the failure is about, and the field-level causes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP code.
    pub code: u16,
}

/// The `details` of a [`Status`]: which object, and field-level causes (empty members are
/// left out, as Kubernetes writes them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// The object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The resource (Kubernetes writes the resource here, or the kind for `Invalid`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The field-level causes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// How long a client should wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

impl StatusDetails {
    /// The details of a failure about one object: `name` of `resource` in `group`.
    pub fn object(group: &str, resource: &str, name: &str) -> Self {
        Self {
            name: name.into(),
            group: group.into(),
            kind: resource.into(),
            ..Self::default()
        }
    }
}

/// One cause of a [`Status`]: which field, and why (empty members are left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusCause {
    /// The kind of cause (`FieldValueInvalid`, `FieldValueForbidden`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What is wrong.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field or parameter at fault.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// The qualified resource of a message: `pods`, `deployments.apps`.
pub fn qualified_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

impl Status {
    /// A failure with `reason` (which sets the code) and `message`.
    pub fn failure(reason: StatusReason, message: impl Into<String>) -> Self {
        Self {
            kind: "Status".into(),
            api_version: "v1".into(),
            metadata: serde_json::Map::new(),
            status: "Failure".into(),
            message: message.into(),
            reason,
            details: None,
            code: reason.code(),
        }
    }

    /// `400 BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::failure(StatusReason::BadRequest, message)
    }

    /// `401 Unauthorized`, as the kube-apiserver answers a request without valid credentials.
    pub fn unauthorized() -> Self {
        Self::failure(StatusReason::Unauthorized, "Unauthorized")
    }

    /// `404 NotFound` for one object: `pods "web-1" not found`, with its details.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::failure(
            StatusReason::NotFound,
            format!(
                "{} \"{name}\" not found",
                qualified_resource(group, resource)
            ),
        )
        .with_details(StatusDetails::object(group, resource, name))
    }

    /// `403 Forbidden` as the kube-apiserver words it: `<resource> "<name>" is forbidden:
    /// <why>` (`forbidden: <why>` without a resource), with its details.
    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let message = match (resource.is_empty(), name.is_empty()) {
            (true, _) => format!("forbidden: {why}"),
            (false, true) => format!(
                "{} is forbidden: {why}",
                qualified_resource(group, resource)
            ),
            (false, false) => format!(
                "{} \"{name}\" is forbidden: {why}",
                qualified_resource(group, resource)
            ),
        };
        Self::failure(StatusReason::Forbidden, message)
            .with_details(StatusDetails::object(group, resource, name))
    }

    /// Sets the details.
    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds a field-level cause of reason `FieldValueInvalid`.
    pub fn with_cause(self, field: &str, message: &str) -> Self {
        self.with_cause_of("FieldValueInvalid", field, message)
    }

    /// Adds a field-level cause of `reason`.
    pub fn with_cause_of(mut self, reason: &str, field: &str, message: &str) -> Self {
        self.details
            .get_or_insert_with(StatusDetails::default)
            .causes
            .push(StatusCause {
                reason: reason.into(),
                message: message.into(),
                field: field.into(),
            });
        self
    }

    /// The `Status` JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure"}"#.to_vec()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_has_the_kubernetes_shape() {
        let json: serde_json::Value =
            serde_json::from_slice(&Status::not_found("apps", "deployments", "web").to_json())
                .expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "deployments.apps \"web\" not found", "reason": "NotFound",
                "details": {"name": "web", "group": "apps", "kind": "deployments"}, "code": 404
            })
        );
    }

    #[test]
    fn members_are_written_in_the_kubernetes_order_and_empty_ones_left_out() {
        let status = Status::not_found("", "pods", "p").with_cause("spec", "bad");
        assert_eq!(
            String::from_utf8(status.to_json()).expect("utf-8"),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"p\" not found","reason":"NotFound","details":{"name":"p","kind":"pods","causes":[{"reason":"FieldValueInvalid","message":"bad","field":"spec"}]},"code":404}"#
        );
        let empty =
            Status::failure(StatusReason::NotFound, "x").with_details(StatusDetails::default());
        assert!(
            String::from_utf8(empty.to_json())
                .expect("utf-8")
                .contains(r#""details":{}"#)
        );
    }

    #[test]
    fn every_reason_round_trips_with_its_code() {
        for reason in [
            StatusReason::NotAcceptable,
            StatusReason::RequestEntityTooLarge,
            StatusReason::UnsupportedMediaType,
            StatusReason::Timeout,
            StatusReason::RequestUriTooLong,
            StatusReason::RequestHeaderFieldsTooLarge,
            StatusReason::TooManyRequests,
        ] {
            let status = Status::failure(reason, "m");
            let back: Status = serde_json::from_slice(&status.to_json()).expect("status");
            assert_eq!(back, status);
            assert_eq!(
                serde_json::to_value(reason).expect("reason"),
                reason.as_str()
            );
        }
        assert_eq!(StatusReason::UnsupportedMediaType.code(), 415);
    }
}
