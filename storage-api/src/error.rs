//! The one error type of the storage contract, and its mapping to a Kubernetes `Status`.

use std::borrow::Cow;

use crate::status::{Status, StatusReason};

/// A boxed error from a driver or another library, kept as the `source` of a [`StorageError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of the storage contract.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Every failure a storage layer or the query model can report.
///
/// Each variant maps to one Kubernetes `Status` reason and HTTP code ([`StorageError::status`]),
/// and says whether the caller should retry ([`StorageError::is_recoverable`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object (or cluster, or resource) does not exist. `404 NotFound`.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `pods "web-1" in cluster "c1"`.
        what: String,
    },

    /// `create` found an object with the same cluster, namespace and name. `409 AlreadyExists`.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What already exists.
        what: String,
    },

    /// A malformed request parameter: a selector that does not parse, a bad time, a bad
    /// continue token. `400 BadRequest`.
    #[error("{parameter}: {message}")]
    BadRequest {
        /// The parameter at fault (URL query name or search label).
        parameter: Cow<'static, str>,
        /// What is wrong with it.
        message: String,
    },

    /// A well-formed request this storage layer cannot answer, e.g. a field selector on a list
    /// field that the layer cannot evaluate. `422 Invalid`.
    #[error("{parameter}: {message}")]
    Invalid {
        /// The parameter at fault.
        parameter: Cow<'static, str>,
        /// Why it cannot be served.
        message: String,
    },

    /// The verb is not supported by this storage layer (e.g. `watch` on a relational layer).
    /// `405 MethodNotAllowed`.
    #[error("{verb} is not supported by the storage layer for {resource}")]
    MethodNotSupported {
        /// The verb, e.g. `watch`.
        verb: &'static str,
        /// The resource it was asked for.
        resource: String,
    },

    /// The requested resource version is older than what the layer still remembers.
    /// `410 Gone` with reason `Expired`: the client must list again.
    #[error("too old resource version: {message}")]
    Expired {
        /// Which version was asked for and what the oldest available one is.
        message: String,
    },

    /// A failure that may succeed when retried: lost connection, timeout, deadlock, the
    /// database restarting. `503 ServiceUnavailable`.
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The operation ran out of time: the database cancelled the statement at its statement
    /// timeout, or the request's deadline passed. `504 Timeout`; recoverable (a retry, or a
    /// cheaper query, may succeed).
    #[error("timeout: {message}")]
    Timeout {
        /// What ran out of time.
        message: String,
    },

    /// The storage configuration is wrong (bad file, unknown key, unknown layer name).
    /// Not recoverable; reported at start-up. `500 InternalError` if it ever reaches a client.
    #[error("invalid storage configuration: {message}")]
    Config {
        /// What is wrong, naming the key or file.
        message: String,
    },

    /// Any other failure. Not recoverable. `500 InternalError`.
    #[error("{message}")]
    Internal {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl StorageError {
    /// A `400 BadRequest` naming the parameter and what is wrong with it.
    pub fn bad_request(
        parameter: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::BadRequest {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// The `400 BadRequest` of a layer that cannot answer a full-text search (the `query`
    /// parameter, [`ListOptions::full_text`](crate::ListOptions::full_text)): `layer` names the
    /// layer, and its dialect where that decides, e.g. `internal (MySQL)`. Every layer says it
    /// this way.
    pub fn full_text_unsupported(layer: &str) -> Self {
        Self::bad_request(
            "query",
            format!(
                "full-text search is not supported by the {layer} storage layer \
                 (remove the query parameter, or use fuzzyName or a field selector)"
            ),
        )
    }

    /// A `422 Invalid` naming the parameter and why the layer cannot serve it.
    pub fn invalid(parameter: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Invalid {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// A `404 NotFound` for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// A recoverable failure (the caller retries) caused by `source`.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A non-recoverable failure caused by `source`.
    pub fn internal(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
        }
    }

    /// Whether retrying the same call may succeed (the synchro retries these with backoff and
    /// never drops the change).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Timeout { .. })
    }

    /// Whether this is a [`StorageError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether this is a [`StorageError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::AlreadyExists { .. })
    }

    /// The Kubernetes `Status` reason of this error.
    pub fn reason(&self) -> StatusReason {
        match self {
            Self::NotFound { .. } => StatusReason::NotFound,
            Self::AlreadyExists { .. } => StatusReason::AlreadyExists,
            Self::BadRequest { .. } => StatusReason::BadRequest,
            Self::Invalid { .. } => StatusReason::Invalid,
            Self::MethodNotSupported { .. } => StatusReason::MethodNotAllowed,
            Self::Expired { .. } => StatusReason::Expired,
            Self::Unavailable { .. } => StatusReason::ServiceUnavailable,
            Self::Timeout { .. } => StatusReason::Timeout,
            Self::Config { .. } | Self::Internal { .. } => StatusReason::InternalError,
        }
    }

    /// The Kubernetes `Status` object a server answers with for this error.
    pub fn status(&self) -> Status {
        let mut status = Status::failure(self.reason(), self.to_string());
        if let Self::Invalid { parameter, message } | Self::BadRequest { parameter, message } = self
        {
            status = status.with_cause(parameter, message);
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_status_code() {
        let cases: Vec<(StorageError, u16, &str, bool)> = vec![
            (
                StorageError::not_found("pods \"a\""),
                404,
                "NotFound",
                false,
            ),
            (
                StorageError::AlreadyExists { what: "x".into() },
                409,
                "AlreadyExists",
                false,
            ),
            (
                StorageError::bad_request("limit", "bad"),
                400,
                "BadRequest",
                false,
            ),
            (
                StorageError::invalid("fieldSelector", "no"),
                422,
                "Invalid",
                false,
            ),
            (
                StorageError::MethodNotSupported {
                    verb: "watch",
                    resource: "pods".into(),
                },
                405,
                "MethodNotAllowed",
                false,
            ),
            (
                StorageError::Expired {
                    message: "1".into(),
                },
                410,
                "Expired",
                false,
            ),
            (
                StorageError::Timeout {
                    message: "list".into(),
                },
                504,
                "Timeout",
                true,
            ),
            (
                StorageError::unavailable("db down", std::io::Error::other("refused")),
                503,
                "ServiceUnavailable",
                true,
            ),
            (StorageError::config("bad"), 500, "InternalError", false),
            (
                StorageError::internal("boom", std::io::Error::other("x")),
                500,
                "InternalError",
                false,
            ),
        ];
        for (error, code, reason, recoverable) in cases {
            let status = error.status();
            assert_eq!(status.code, code, "{error}");
            assert_eq!(status.reason.as_str(), reason, "{error}");
            assert_eq!(error.is_recoverable(), recoverable, "{error}");
            assert_eq!(status.status, "Failure");
        }
    }

    #[test]
    fn bad_request_names_the_parameter_in_message_and_cause() {
        let status = StorageError::bad_request("since", "Invalid datetime: x").status();
        assert_eq!(status.message, "since: Invalid datetime: x");
        let details = status.details.expect("details");
        assert_eq!(details.causes[0].field, "since");
    }
}
