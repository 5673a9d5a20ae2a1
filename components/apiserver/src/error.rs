//! The one error type of the apiserver: every failure is answered with a Kubernetes
//! `meta.k8s.io/v1` `Status` object, so kubectl prints `Error from server (<Reason>): <message>`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use storage_api::StorageError;

/// A failed request, rendered as a Kubernetes `Status`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// The HTTP code (and `Status.code`).
    pub(crate) code: u16,
    /// The `Status.reason`, as Kubernetes spells it.
    pub(crate) reason: &'static str,
    /// The `Status.message`.
    pub(crate) message: String,
    /// The `Status.details`, when known.
    pub(crate) details: Option<Box<Details>>,
}

/// The `details` of a `Status`: what object it is about and field-level causes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Details {
    /// The object name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) name: String,
    /// The API group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) group: String,
    /// The resource (Kubernetes writes the resource here, not the kind).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) kind: String,
    /// Field-level causes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) causes: Vec<Cause>,
}

/// One field-level cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Cause {
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) field: String,
}

/// The message of a Kubernetes 404 for a path it does not serve.
pub(crate) const RESOURCE_NOT_FOUND: &str = "the server could not find the requested resource";
/// The message of the original for a cluster it does not know.
pub(crate) const CLUSTER_NOT_FOUND: &str = "the server could not find the requested cluster";
/// The message of the original for a get without a cluster.
pub(crate) const GET_NEEDS_CLUSTER: &str =
    "please specify the cluster name when using the resource name to get a specific resource.";

impl ApiError {
    /// An error with `code`, `reason` and `message`.
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// `400 BadRequest`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `401 Unauthorized`, as the kube-apiserver answers a request without valid credentials.
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// `404 NotFound` for a path or resource this server does not serve.
    pub(crate) fn resource_not_found() -> Self {
        Self::new(404, "NotFound", RESOURCE_NOT_FOUND)
    }

    /// `404 NotFound` for one object: `pods "web-1" not found`.
    pub(crate) fn object_not_found(group: &str, resource: &str, name: &str) -> Self {
        let qualified = if group.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource}.{group}")
        };
        Self {
            details: Some(Box::new(Details {
                name: name.into(),
                group: group.into(),
                kind: resource.into(),
                causes: Vec::new(),
            })),
            ..Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
        }
    }

    /// `405 MethodNotAllowed`: the server is read-only, or the layer cannot watch.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// `406 NotAcceptable`: no media type of the `Accept` header can be produced.
    pub(crate) fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, \
             application/json;as=Table;v=v1;g=meta.k8s.io (or v1beta1), \
             application/json;as=PartialObjectMetadata[List];v=v1;g=meta.k8s.io (or v1beta1)",
        )
    }

    /// `429 TooManyRequests`: `--max-requests-inflight` reached.
    pub(crate) fn too_many_requests() -> Self {
        Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        )
    }

    /// `500 InternalError`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` JSON.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Status<'a> {
            kind: &'static str,
            api_version: &'static str,
            metadata: Empty,
            status: &'static str,
            message: &'a str,
            reason: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            details: Option<&'a Details>,
            code: u16,
        }
        #[derive(Serialize)]
        struct Empty {}
        serde_json::to_vec(&Status {
            kind: "Status",
            api_version: "v1",
            metadata: Empty {},
            status: "Failure",
            message: &self.message,
            reason: self.reason,
            details: self.details.as_deref(),
            code: self.code,
        })
        .unwrap_or_else(|_| br#"{"kind":"Status","apiVersion":"v1","status":"Failure"}"#.to_vec())
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        let status = error.status();
        if status.code >= 500 {
            tracing::error!(error = %error, source = ?std::error::Error::source(&error), "storage failure");
        }
        let causes: Vec<Cause> = status
            .details
            .map(|d| {
                d.causes
                    .into_iter()
                    .map(|c| Cause {
                        reason: c.reason,
                        message: c.message,
                        field: c.field,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            code: status.code,
            reason: status.reason.as_str(),
            message: status.message,
            details: (!causes.is_empty()).then(|| {
                Box::new(Details {
                    causes,
                    ..Details::default()
                })
            }),
        }
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
    fn status_json_has_the_kubernetes_shape() {
        let json: serde_json::Value = serde_json::from_slice(
            &ApiError::object_not_found("apps", "deployments", "web").to_json(),
        )
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
    fn storage_errors_keep_reason_code_and_causes() {
        let error = ApiError::from(StorageError::bad_request("since", "Invalid datetime: x"));
        assert_eq!((error.code, error.reason), (400, "BadRequest"));
        assert_eq!(error.message, "since: Invalid datetime: x");
        let details = error.details.expect("causes");
        assert_eq!(details.causes[0].field, "since");
    }
}
