//! Database errors, sorted the way the synchro needs them: retry later
//! ([`StorageError::Unavailable`]), or give up on this change ([`StorageError::Internal`]).
//! A unique violation on `create` is an [`StorageError::AlreadyExists`], decided where it
//! happens ([`is_unique_violation`]).
//!
//! Getting this right matters more than it seems: the synchro retries a recoverable error
//! forever and drops a change after a non-recoverable one. A lost connection classified as
//! internal loses data; a bad statement classified as recoverable blocks a resource forever.

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::mysql::MySqlDatabaseError;
use sqlx::sqlite::SqliteError;
use storage_api::StorageError;

/// `error` as a storage error, with `context` (what was being done) in its message.
///
/// The cause is written into the message, once, rather than kept as the error's `source`:
/// sqlx's errors repeat their text in their own source chain, and a one-line message is what
/// both the logs and the Kubernetes `Status` of a failed request should show.
pub(crate) fn classify(context: &str, error: sqlx::Error) -> StorageError {
    let message = format!("{context}: {error}");
    if is_recoverable(&error) {
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
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.kind() == ErrorKind::UniqueViolation)
}

/// Whether retrying may succeed: the connection was lost or refused, the pool had no free
/// connection in time, or the database asked to retry (deadlock, lock timeout, shutdown).
fn is_recoverable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => is_transient(e.as_ref()),
        _ => false,
    }
}

/// Database errors worth retrying. The `Any` driver hands over each driver's own error type.
fn is_transient(error: &dyn DatabaseError) -> bool {
    if let Some(mysql) = error.try_downcast_ref::<MySqlDatabaseError>() {
        // 1205: lock wait timeout; 1290: read-only (e.g. during a fail-over).
        return matches!(mysql.number(), 1205 | 1290)
            || mysql.code().is_some_and(transient_sqlstate);
    }
    if let Some(sqlite) = error.try_downcast_ref::<SqliteError>() {
        // The primary result code is the low byte of the extended one: 5 BUSY, 6 LOCKED.
        let code = sqlite.code().and_then(|c| c.parse::<i32>().ok());
        return code.is_some_and(|c| matches!(c & 0xff, 5 | 6));
    }
    error.code().is_some_and(|state| transient_sqlstate(&state))
}

/// SQLSTATE classes worth retrying: 08 connection exception, 40 transaction rollback
/// (serialization failure, deadlock), 53 insufficient resources, 57P0x server shutting down or
/// starting up.
fn transient_sqlstate(state: &str) -> bool {
    ["08", "40", "53", "57P0"]
        .iter()
        .any(|class| state.starts_with(class))
}

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
        for state in ["08006", "40001", "40P01", "53300", "57P01"] {
            assert!(transient_sqlstate(state), "{state}");
        }
        for state in ["23505", "42P01", "HY000"] {
            assert!(!transient_sqlstate(state), "{state}");
        }
    }
}
