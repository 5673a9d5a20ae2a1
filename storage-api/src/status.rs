//! The Kubernetes `meta.k8s.io/v1` `Status` object every error is answered with.

use serde::{Deserialize, Serialize};

/// A Kubernetes `Status` reason, with its HTTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// 409: the object already exists.
    AlreadyExists,
    /// 409: a concurrent modification.
    Conflict,
    /// 410: the resource is gone.
    Gone,
    /// 410: the resource version or continue token is too old.
    Expired,
    /// 422: the request is well formed but cannot be served.
    Invalid,
    /// 429: slow down.
    TooManyRequests,
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
            Self::AlreadyExists | Self::Conflict => 409,
            Self::Gone | Self::Expired => 410,
            Self::Invalid => 422,
            Self::TooManyRequests => 429,
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
            Self::AlreadyExists => "AlreadyExists",
            Self::Conflict => "Conflict",
            Self::Gone => "Gone",
            Self::Expired => "Expired",
            Self::Invalid => "Invalid",
            Self::TooManyRequests => "TooManyRequests",
            Self::InternalError => "InternalError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Timeout => "Timeout",
        }
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
    /// Always empty.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Always `Failure`.
    pub status: String,
    /// A human-readable description.
    pub message: String,
    /// The machine-readable reason.
    pub reason: StatusReason,
    /// The field-level causes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP code.
    pub code: u16,
}

/// The `details` of a [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDetails {
    /// The field-level causes.
    #[serde(default)]
    pub causes: Vec<StatusCause>,
}

/// One cause of a [`Status`]: which field, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusCause {
    /// Always `FieldValueInvalid` here.
    pub reason: String,
    /// What is wrong.
    pub message: String,
    /// The parameter at fault.
    pub field: String,
}

impl Status {
    /// A failure with `reason` and `message`.
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

    /// Adds a field-level cause.
    pub fn with_cause(mut self, field: &str, message: &str) -> Self {
        self.details
            .get_or_insert_with(|| StatusDetails { causes: Vec::new() })
            .causes
            .push(StatusCause {
                reason: "FieldValueInvalid".into(),
                message: message.into(),
                field: field.into(),
            });
        self
    }
}
