//! Database errors, sorted the way the synchro needs them: retry later
//! ([`StorageError::Unavailable`]), or give up on this change ([`StorageError::Internal`]).
//! A unique violation on `create` is an [`StorageError::AlreadyExists`], decided where it
//! happens ([`is_unique_violation`]).
//!
//! Getting this right matters more than it seems: the synchro retries a recoverable error
//! forever and drops a change after a non-recoverable one. A lost connection classified as
//! internal loses data; a bad statement classified as recoverable blocks a resource forever.

use clusterpedia_sqlx_support::RetryPolicy;
use storage_api::StorageError;

/// `error` as a storage error, with `context` (what was being done) in its message: a retry may
/// fix it ([`clusterpedia_sqlx_support`]'s rules, shared by every sqlx-based layer), or not.
///
/// The cause is written into the message, once, rather than kept as the error's `source`:
/// sqlx's errors repeat their text in their own source chain, and a one-line message is what
/// both the logs and the Kubernetes `Status` of a failed request should show.
pub(crate) fn classify(context: &str, error: sqlx::Error) -> StorageError {
    let message = format!("{context}: {error}");
    if RetryPolicy::new().is_transient(&error) {
        StorageError::Unavailable {
            message,
            source: None,
        }
    } else {
        StorageError::Internal {
            message,
            source: None,
        }
    }
}

/// Whether `error` says that a row with the same primary key exists.
pub(crate) use clusterpedia_sqlx_support::is_unique_violation;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_recoverable_and_the_rest_is_not() {
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(classify("select", refused).is_recoverable());
        assert!(classify("select", sqlx::Error::PoolTimedOut).is_recoverable());
        let missing = classify("select", sqlx::Error::RowNotFound);
        assert!(!missing.is_recoverable());
        assert!(missing.to_string().starts_with("select: "), "{missing}");
    }

    #[test]
    fn sqlstates() {
        use clusterpedia_sqlx_support::is_transient_sqlstate as transient_sqlstate;

        for state in ["08006", "40001", "40P01", "53300", "57P01"] {
            assert!(transient_sqlstate(state), "{state}");
        }
        for state in ["23505", "42P01", "HY000"] {
            assert!(!transient_sqlstate(state), "{state}");
        }
    }
}
