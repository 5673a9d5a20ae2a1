//! Support for the storage layers built on sqlx (`internal`, `sample-storage-layer`, and a third
//! party's copy of the sample). This crate is not a layer: it registers nothing.
//!
//! It holds the one rule for sorting sqlx errors the way the synchro needs them: retry later
//! (the layer answers `StorageError::Unavailable`), or give up on this change. Getting this
//! right matters more than it seems: the synchro retries a recoverable error forever and drops
//! a change after a non-recoverable one. A lost connection classified as permanent loses data;
//! a bad statement classified as transient blocks a resource forever.
//!
//! [`RetryPolicy::classify`] sorts an error into an [`ErrorClass`]; the layer turns that into
//! its `StorageError` with its own message.
//!
//! # What a retry may fix ([`ErrorClass::Transient`])
//!
//! | error | why |
//! |---|---|
//! | `sqlx::Error::Io`, `Tls`, `Protocol`, `WorkerCrashed` | the connection broke (refused, reset, TLS handshake, garbled stream): a new one may work |
//! | `sqlx::Error::PoolTimedOut` | no free connection in time: the pool is busy |
//! | `sqlx::Error::PoolClosed` | the pool is closing (shutdown): the change must not be dropped as failed |
//! | `sqlx::Error::BeginFailed` | a transaction could not be started on the connection |
//! | SQLSTATE class `08` | connection exception (`08000`, `08003`, `08006`, `08001`, `08004`, MySQL `08S01`, …) |
//! | SQLSTATE `40000`, `40001`, `40003`, `40P01` | transaction rollback, serialization failure, statement completion unknown, deadlock |
//! | SQLSTATE `53000`, `53200`, `53300`, `53400` | insufficient resources, out of memory, too many connections, configuration limit exceeded |
//! | SQLSTATE `55P03` | lock not available (PostgreSQL `lock_timeout`) |
//! | SQLSTATE `57P01`, `57P02`, `57P03`, `57P05` | admin or crash shutdown, cannot connect now (starting up), idle session timeout |
//! | SQLSTATE `25P03` | idle-in-transaction session timeout: the server ended the session before the transaction committed (a busy client paused between statements); nothing was written |
//! | MySQL `1040`, `1053`, `1205`, `1213`, `1290`, `2006`, `2013` | too many connections, server shutdown, lock wait timeout, deadlock, read-only (fail-over), server gone away, lost connection |
//! | SQLite primary result codes `5` `SQLITE_BUSY`, `6` `SQLITE_LOCKED` | another connection holds the lock |
//! | the layer's own extras ([`RetryPolicy::with_postgres_codes`], [`RetryPolicy::with_mysql_numbers`]) | the original's `postgres.recoverableErrCodes` and `mysql.recoverableErrNumbers` |
//!
//! Deliberately **not** retried, although they sit in the classes above:
//!
//! - `53100` disk full: retrying every two seconds cannot free space, and it would block every
//!   resource's changes behind a failure only an operator can fix; the change is reported as
//!   failed instead (an operator who prefers to wait can add `53100` to the extras);
//! - `40002` transaction integrity constraint violation: a deferred constraint failed, and the
//!   same statement fails the same way again;
//! - `57P04` database dropped: no retry brings it back.
//!
//! A unique violation is [`ErrorClass::UniqueViolation`] (PostgreSQL `23505`, MySQL `1062`,
//! SQLite `2067`/`1555`); whether it is an `AlreadyExists` is the layer's decision.
//! Everything else is [`ErrorClass::Permanent`].

use std::collections::HashSet;

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::mysql::MySqlDatabaseError;
use sqlx::sqlite::SqliteError;

/// SQLSTATEs a retry may fix (see the crate documentation), besides class `08`.
const TRANSIENT_SQLSTATES: &[&str] = &[
    "40000", "40001", "40003", "40P01", "53000", "53200", "53300", "53400", "55P03", "57P01",
    "57P02", "57P03", "57P05", "25P03",
];
/// MySQL error numbers a retry may fix.
const TRANSIENT_MYSQL_NUMBERS: &[u16] = &[1040, 1053, 1205, 1213, 1290, 2006, 2013];
/// SQLite primary result codes a retry may fix: `SQLITE_BUSY`, `SQLITE_LOCKED`.
const TRANSIENT_SQLITE_CODES: &[i64] = &[5, 6];

/// What a sqlx error means to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// A row with the same unique key exists.
    UniqueViolation,
    /// A retry may succeed (the connection, the pool or the database asked to wait).
    Transient,
    /// The database cancelled the statement at its statement timeout (PostgreSQL `57014`
    /// query_canceled, MariaDB 1969 max_statement_time, MySQL 3024 max_execution_time).
    StatementTimeout,
    /// Retrying the same statement fails the same way.
    Permanent,
}

/// Which sqlx errors a retry may fix: the rules of the crate documentation, plus a layer's
/// configured extras.
#[derive(Debug, Clone, Default)]
pub struct RetryPolicy {
    postgres_codes: HashSet<String>,
    mysql_numbers: HashSet<u16>,
}

impl RetryPolicy {
    /// The built-in rules only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also retries PostgreSQL errors with these SQLSTATEs.
    pub fn with_postgres_codes(mut self, codes: impl IntoIterator<Item = String>) -> Self {
        self.postgres_codes.extend(codes);
        self
    }

    /// Also retries MySQL errors with these numbers.
    pub fn with_mysql_numbers(mut self, numbers: impl IntoIterator<Item = u16>) -> Self {
        self.mysql_numbers.extend(numbers);
        self
    }

    /// What `error` means to the caller.
    pub fn classify(&self, error: &sqlx::Error) -> ErrorClass {
        match error {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                ErrorClass::UniqueViolation
            }
            sqlx::Error::Database(db) if is_statement_timeout(db.as_ref()) => {
                ErrorClass::StatementTimeout
            }
            sqlx::Error::Database(db) if self.is_transient_database_error(db.as_ref()) => {
                ErrorClass::Transient
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }

    /// Whether a retry may fix `error`.
    pub fn is_transient(&self, error: &sqlx::Error) -> bool {
        self.classify(error) == ErrorClass::Transient
    }

    /// Whether a retry may fix the database's `error`, whichever driver raised it (the `Any`
    /// driver hands over each driver's own error type).
    pub fn is_transient_database_error(&self, error: &dyn DatabaseError) -> bool {
        if let Some(sqlite) = error.try_downcast_ref::<SqliteError>() {
            // The primary result code is the low byte of the extended one.
            return sqlite
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .is_some_and(|extended| TRANSIENT_SQLITE_CODES.contains(&(extended & 0xff)));
        }
        if let Some(mysql) = error.try_downcast_ref::<MySqlDatabaseError>() {
            return TRANSIENT_MYSQL_NUMBERS.contains(&mysql.number())
                || self.mysql_numbers.contains(&mysql.number())
                || mysql.code().is_some_and(is_transient_sqlstate);
        }
        error.code().is_some_and(|state| {
            is_transient_sqlstate(&state) || self.postgres_codes.contains(state.as_ref())
        })
    }
}

/// Whether the database cancelled the statement at its statement timeout (or a cancel request):
/// PostgreSQL `57014`, MariaDB 1969, MySQL 3024, SQLite `SQLITE_INTERRUPT` (9: a progress
/// handler, which a layer sets for its statement deadline, interrupted it).
pub fn is_statement_timeout(error: &dyn DatabaseError) -> bool {
    if let Some(sqlite) = error.try_downcast_ref::<SqliteError>() {
        return sqlite
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|extended| extended & 0xff == 9);
    }
    if let Some(mysql) = error.try_downcast_ref::<MySqlDatabaseError>() {
        return matches!(mysql.number(), 1969 | 3024);
    }
    error.try_downcast_ref::<SqliteError>().is_none() && error.code().as_deref() == Some("57014")
}

/// Whether a retry may fix an error with SQLSTATE `state` (see the crate documentation).
pub fn is_transient_sqlstate(state: &str) -> bool {
    state.starts_with("08") || TRANSIENT_SQLSTATES.contains(&state)
}

/// Whether `error` says that a row with the same unique key exists.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.kind() == ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_transient_and_the_rest_is_not() {
        let policy = RetryPolicy::new();
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        for error in [
            refused,
            sqlx::Error::Tls("handshake".into()),
            sqlx::Error::Protocol("garbled".into()),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::BeginFailed,
        ] {
            assert_eq!(policy.classify(&error), ErrorClass::Transient, "{error}");
        }
        for error in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            sqlx::Error::Decode("bad".into()),
        ] {
            assert_eq!(policy.classify(&error), ErrorClass::Permanent, "{error}");
            assert!(!is_unique_violation(&error));
        }
    }

    #[test]
    fn sqlstates() {
        for state in [
            "08000", "08006", "08S01", "40001", "40P01", "40003", "53000", "53200", "53300",
            "55P03", "57P01", "57P03", "25P03",
        ] {
            assert!(is_transient_sqlstate(state), "{state}");
        }
        for state in [
            "23505", "42P01", "HY000", "53100", "40002", "57P04", "22001",
        ] {
            assert!(!is_transient_sqlstate(state), "{state}");
        }
    }

    /// Against a real (in-memory) SQLite database: a unique violation, a syntax error.
    #[tokio::test]
    async fn sqlite_errors() {
        use sqlx::Connection as _;

        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("connect");
        sqlx::raw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
            .execute(&mut db)
            .await
            .expect("setup");
        let policy = RetryPolicy::new();
        let duplicate = sqlx::raw_sql("INSERT INTO t VALUES (1)")
            .execute(&mut db)
            .await
            .expect_err("duplicate");
        assert_eq!(policy.classify(&duplicate), ErrorClass::UniqueViolation);
        assert!(is_unique_violation(&duplicate));
        let syntax = sqlx::raw_sql("SELEC 1")
            .execute(&mut db)
            .await
            .expect_err("syntax");
        assert_eq!(policy.classify(&syntax), ErrorClass::Permanent);
    }
}
