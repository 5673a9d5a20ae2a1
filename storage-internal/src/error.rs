//! Driver errors classified into the storage contract's errors (reference §3.1, `errors.go`).
//!
//! - A unique violation is [`StorageError::AlreadyExists`] (PostgreSQL `23505`, MySQL `1062`,
//!   SQLite `2067`/`1555`).
//! - What a retry may fix is [`StorageError::Unavailable`], which the synchro retries without
//!   dropping the change: the rules shared by every sqlx-based layer
//!   ([`clusterpedia_sqlx_support`]: lost or refused connections, pool timeouts, deadlocks,
//!   lock timeouts, server shutdown, SQLite `BUSY`/`LOCKED`, …), plus the codes the
//!   configuration adds (`postgres.recoverableErrCodes`, `mysql.recoverableErrNumbers`).
//! - Everything else is [`StorageError::Internal`].

use clusterpedia_sqlx_support::{ErrorClass, RetryPolicy};
use storage_api::StorageError;

use crate::dialect::Dialect;

/// How the errors of one database are classified.
#[derive(Debug, Clone)]
pub(crate) struct ErrorPolicy {
    dialect: Dialect,
    retry: RetryPolicy,
}

impl ErrorPolicy {
    /// The policy for `dialect`, with extra recoverable codes from the configuration.
    pub(crate) fn new(
        dialect: Dialect,
        postgres_codes: impl IntoIterator<Item = String>,
        mysql_numbers: impl IntoIterator<Item = u16>,
    ) -> Self {
        Self {
            dialect,
            retry: RetryPolicy::new()
                .with_postgres_codes(postgres_codes)
                .with_mysql_numbers(mysql_numbers),
        }
    }

    /// The storage error for `error`, raised while doing `what`.
    pub(crate) fn classify(&self, what: &str, error: sqlx::Error) -> StorageError {
        let message = format!("{} {what}: {error}", self.dialect.name());
        match (self.retry.classify(&error), &error) {
            (ErrorClass::UniqueViolation, sqlx::Error::Database(db)) => {
                StorageError::AlreadyExists {
                    what: format!("{what}: {}", db.message()),
                }
            }
            (ErrorClass::StatementTimeout, _) => StorageError::Timeout {
                message: format!(
                    "{} {what}: the query was cancelled at the statement timeout \
                     (statementTimeout of the storage configuration)",
                    self.dialect.name()
                ),
            },
            (ErrorClass::Transient, _) => StorageError::unavailable(message, error),
            _ => StorageError::internal(message, error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_recoverable() {
        let policy = ErrorPolicy::new(Dialect::Postgres, [], []);
        let refused = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        let error = policy.classify("list pods", refused);
        assert!(error.is_recoverable(), "{error}");
        assert!(
            policy
                .classify("x", sqlx::Error::PoolTimedOut)
                .is_recoverable()
        );
        assert!(
            !policy
                .classify("x", sqlx::Error::RowNotFound)
                .is_recoverable()
        );
    }
}
