//! Driver errors classified into the storage contract's errors (reference §3.1, `errors.go`).
//!
//! - A unique violation is [`StorageError::AlreadyExists`] (PostgreSQL `23505`, MySQL `1062`,
//!   SQLite `2067`/`1555`).
//! - What a retry may fix is [`StorageError::Unavailable`], which the synchro retries without
//!   dropping the change: lost or refused connections, I/O and TLS failures, pool timeouts,
//!   PostgreSQL `57P01` (admin shutdown) and the rest of classes `08` (connection), `57P0x`,
//!   `40001`/`40P01` (serialization, deadlock), `53300` (too many connections), `55P03` (lock
//!   not available); MySQL `1053` (server shutdown), `1205` (lock wait timeout), `1213`
//!   (deadlock), `1290` (read-only), `1040` (too many connections), `2006`/`2013` (gone away);
//!   SQLite `BUSY`/`LOCKED`; plus the codes the configuration adds
//!   (`postgres.recoverableErrCodes`, `mysql.recoverableErrNumbers`).
//! - Everything else is [`StorageError::Internal`].

use std::collections::HashSet;

use sqlx::error::{DatabaseError, ErrorKind};
use storage_api::StorageError;

use crate::dialect::Dialect;

/// PostgreSQL SQLSTATEs a retry may fix.
const PG_RECOVERABLE: &[&str] = &[
    "57P01", "57P02", "57P03", "40001", "40P01", "53300", "55P03",
];
/// MySQL error numbers a retry may fix.
const MYSQL_RECOVERABLE: &[u16] = &[1040, 1053, 1205, 1213, 1290, 2006, 2013];
/// SQLite primary result codes a retry may fix: `SQLITE_BUSY`, `SQLITE_LOCKED`.
const SQLITE_RECOVERABLE: &[i64] = &[5, 6];

/// How the errors of one database are classified.
#[derive(Debug, Clone)]
pub(crate) struct ErrorPolicy {
    dialect: Dialect,
    postgres_codes: HashSet<String>,
    mysql_numbers: HashSet<u16>,
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
            postgres_codes: postgres_codes.into_iter().collect(),
            mysql_numbers: mysql_numbers.into_iter().collect(),
        }
    }

    /// The storage error for `error`, raised while doing `what`.
    pub(crate) fn classify(&self, what: &str, error: sqlx::Error) -> StorageError {
        let message = format!("{} {what}: {error}", self.dialect.name());
        match &error {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StorageError::AlreadyExists {
                    what: format!("{what}: {}", db.message()),
                }
            }
            sqlx::Error::Database(db) if self.timed_out(db.as_ref()) => StorageError::Timeout {
                message: format!(
                    "{} {what}: the query was cancelled at the statement timeout \
                     (statementTimeout of the storage configuration)",
                    self.dialect.name()
                ),
            },
            sqlx::Error::Database(db) if self.recoverable(db.as_ref()) => {
                StorageError::unavailable(message, error)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => StorageError::unavailable(message, error),
            _ => StorageError::internal(message, error),
        }
    }

    /// Whether the database cancelled the statement at its statement timeout: PostgreSQL
    /// `57014` (query_canceled), MariaDB 1969 (max_statement_time), MySQL 3024
    /// (max_execution_time).
    fn timed_out(&self, error: &dyn DatabaseError) -> bool {
        match self.dialect {
            Dialect::Postgres => error.code().as_deref() == Some("57014"),
            Dialect::MySql => error
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|e| matches!(e.number(), 1969 | 3024)),
            Dialect::Sqlite => false,
        }
    }

    fn recoverable(&self, error: &dyn DatabaseError) -> bool {
        let code = error.code();
        let code = code.as_deref().unwrap_or_default();
        match self.dialect {
            Dialect::Postgres => {
                code.starts_with("08")
                    || PG_RECOVERABLE.contains(&code)
                    || self.postgres_codes.contains(code)
            }
            Dialect::MySql => error
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|e| {
                    MYSQL_RECOVERABLE.contains(&e.number())
                        || self.mysql_numbers.contains(&e.number())
                }),
            Dialect::Sqlite => code
                .parse::<i64>()
                .is_ok_and(|extended| SQLITE_RECOVERABLE.contains(&(extended & 0xff))),
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
