//! The connection pool of one of the three databases, and statement execution.
//!
//! [`Db`] runs [`Sql`] statements on whichever database is configured and returns rows as
//! plain [`Row`]s of [`Cell`]s, decoded by the column types the caller expects, so that the
//! query and write code above it is written once. Driver errors are classified here
//! ([`crate::error::ErrorPolicy`]) into the storage contract's errors.

use std::time::Duration;

use sqlx::{
    Arguments as _, AssertSqlSafe, Database, Executor, IntoArguments, MySql, Postgres, Row as _,
    Sqlite, Transaction,
};
use storage_api::{Result, StorageError};

use crate::dialect::Dialect;
use crate::error::ErrorPolicy;
use crate::sql::{Bind, Sql};

/// The type a selected column is decoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    /// A non-null 64-bit integer.
    Int,
    /// A nullable 64-bit integer.
    OptInt,
    /// Non-null text (binary columns on MySQL are read as UTF-8).
    Text,
    /// Nullable text.
    OptText,
    /// A boolean.
    Bool,
}

/// One decoded column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
}

/// One decoded row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row(pub(crate) Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> &Cell {
        self.0.get(i).unwrap_or(&Cell::Null)
    }

    /// Column `i` as an integer (0 when NULL or not an integer: columns are decoded by
    /// [`Col`], so this does not happen).
    pub(crate) fn int(&self, i: usize) -> i64 {
        match self.cell(i) {
            Cell::Int(n) => *n,
            _ => 0,
        }
    }

    /// Column `i` as a nullable integer.
    pub(crate) fn opt_int(&self, i: usize) -> Option<i64> {
        match self.cell(i) {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Column `i` as text ("" when NULL).
    pub(crate) fn text(&self, i: usize) -> &str {
        match self.cell(i) {
            Cell::Text(s) => s,
            _ => "",
        }
    }

    /// Column `i` as nullable text.
    pub(crate) fn opt_text(&self, i: usize) -> Option<&str> {
        match self.cell(i) {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Moves column `i` out as text ("" when NULL).
    pub(crate) fn take_text(&mut self, i: usize) -> String {
        match self.0.get_mut(i).map(|c| std::mem::replace(c, Cell::Null)) {
            Some(Cell::Text(s)) => s,
            _ => String::new(),
        }
    }

    /// Column `i` as a boolean.
    pub(crate) fn bool(&self, i: usize) -> bool {
        matches!(self.cell(i), Cell::Bool(true))
    }
}

/// A database the layer can run on: binds values and decodes rows.
trait Backend: Database {
    fn arguments(binds: &[Bind]) -> std::result::Result<Self::Arguments, sqlx::error::BoxDynError>;
    fn decode(row: &Self::Row, cols: &[Col]) -> std::result::Result<Row, sqlx::Error>;
}

macro_rules! decode_row {
    ($row:expr, $cols:expr) => {{
        let row = $row;
        let mut cells = Vec::with_capacity($cols.len());
        for (i, col) in $cols.iter().enumerate() {
            let cell = match col {
                Col::Int => Cell::Int(row.try_get::<i64, _>(i)?),
                Col::OptInt => row
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Cell::Null, Cell::Int),
                // Unchecked: MySQL reports VARBINARY columns as binary; they hold UTF-8 here.
                Col::Text | Col::OptText => row
                    .try_get_unchecked::<Option<String>, _>(i)?
                    .map_or(Cell::Null, Cell::Text),
                Col::Bool => Cell::Bool(row.try_get::<bool, _>(i)?),
            };
            cells.push(cell);
        }
        Ok(Row(cells))
    }};
}

impl Backend for Postgres {
    fn arguments(binds: &[Bind]) -> std::result::Result<Self::Arguments, sqlx::error::BoxDynError> {
        let mut args = <Self as Database>::Arguments::default();
        for bind in binds {
            match bind {
                Bind::Text(v) => args.add(v.as_str())?,
                Bind::Int(v) => args.add(*v)?,
                Bind::OptInt(v) => args.add(*v)?,
                Bind::Float(v) => args.add(v.get())?,
                Bind::TextArray(v) => args.add(v.as_slice())?,
                Bind::IntArray(v) => args.add(v.as_slice())?,
                Bind::OptIntArray(v) => args.add(v.as_slice())?,
            }
        }
        Ok(args)
    }

    fn decode(row: &Self::Row, cols: &[Col]) -> std::result::Result<Row, sqlx::Error> {
        decode_row!(row, cols)
    }
}

macro_rules! scalar_backend {
    ($db:ty) => {
        impl Backend for $db {
            fn arguments(
                binds: &[Bind],
            ) -> std::result::Result<Self::Arguments, sqlx::error::BoxDynError> {
                let mut args = <Self as Database>::Arguments::default();
                for bind in binds {
                    match bind {
                        Bind::Text(v) => args.add(v.as_str())?,
                        Bind::Int(v) => args.add(*v)?,
                        Bind::OptInt(v) => args.add(*v)?,
                        Bind::Float(v) => args.add(v.get())?,
                        Bind::TextArray(_) | Bind::IntArray(_) | Bind::OptIntArray(_) => {
                            return Err("array parameters are PostgreSQL-only".into());
                        }
                    }
                }
                Ok(args)
            }

            fn decode(row: &Self::Row, cols: &[Col]) -> std::result::Result<Row, sqlx::Error> {
                decode_row!(row, cols)
            }
        }
    };
}

scalar_backend!(MySql);
scalar_backend!(Sqlite);

async fn fetch_on<'c, DB, E>(
    executor: E,
    sql: &Sql,
    cols: &[Col],
) -> std::result::Result<Vec<Row>, sqlx::Error>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB>,
    E: Executor<'c, Database = DB>,
{
    let args = DB::arguments(sql.binds()).map_err(sqlx::Error::Encode)?;
    let rows = executor
        .fetch_all(sqlx::query_with(AssertSqlSafe(sql.text().to_owned()), args))
        .await?;
    rows.iter().map(|row| DB::decode(row, cols)).collect()
}

async fn execute_on<'c, DB, E>(executor: E, sql: &Sql) -> std::result::Result<u64, sqlx::Error>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB>,
    E: Executor<'c, Database = DB>,
    DB::QueryResult: QueryResultExt,
{
    let args = DB::arguments(sql.binds()).map_err(sqlx::Error::Encode)?;
    let result = executor
        .execute(sqlx::query_with(AssertSqlSafe(sql.text().to_owned()), args))
        .await?;
    Ok(result.affected())
}

/// The number of rows a statement affected, for each driver.
trait QueryResultExt {
    fn affected(&self) -> u64;
}

impl QueryResultExt for sqlx::postgres::PgQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl QueryResultExt for sqlx::mysql::MySqlQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl QueryResultExt for sqlx::sqlite::SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// The pool of the configured database.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// MySQL or MariaDB.
    MySql(sqlx::MySqlPool),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
}

/// A database handle: the pool, its dialect and how its errors are classified.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: Pool,
    dialect: Dialect,
    errors: ErrorPolicy,
}

impl Db {
    /// A handle on `pool`.
    pub(crate) fn new(pool: Pool, errors: ErrorPolicy) -> Self {
        let dialect = match &pool {
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::MySql(_) => Dialect::MySql,
            Pool::Sqlite(_) => Dialect::Sqlite,
        };
        Self {
            pool,
            dialect,
            errors,
        }
    }

    /// The dialect of the database.
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A new statement in this database's dialect.
    pub(crate) fn sql(&self) -> Sql {
        Sql::new(self.dialect)
    }

    /// The pool.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Classifies a driver error of the operation `what`.
    pub(crate) fn error(&self, what: &str, error: sqlx::Error) -> StorageError {
        self.errors.classify(what, error)
    }

    /// Runs a query and decodes its rows as `cols`.
    pub(crate) async fn fetch(&self, what: &str, sql: &Sql, cols: &[Col]) -> Result<Vec<Row>> {
        let started = std::time::Instant::now();
        let result = match &self.pool {
            Pool::Postgres(pool) => fetch_on(pool, sql, cols).await,
            Pool::MySql(pool) => fetch_on(pool, sql, cols).await,
            Pool::Sqlite(pool) => fetch_on(pool, sql, cols).await,
        };
        self.trace(what, sql, started.elapsed());
        result.map_err(|e| self.error(what, e))
    }

    /// [`Db::fetch`] for queries that may run long (list pages and counts): on PostgreSQL,
    /// when the caller drops the future before the answer (the client went away, the request
    /// timed out), the statement is cancelled with `pg_cancel_backend` from a separate
    /// connection, and its connection is closed instead of going back to the pool (so the
    /// cancel cannot hit another query). Elsewhere the same as [`Db::fetch`].
    pub(crate) async fn fetch_cancellable(
        &self,
        what: &str,
        sql: &Sql,
        cols: &[Col],
    ) -> Result<Vec<Row>> {
        let Pool::Postgres(pool) = &self.pool else {
            return self.fetch(what, sql, cols).await;
        };
        let started = std::time::Instant::now();
        let result = async {
            let mut conn = pool.acquire().await?;
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await?;
            let mut guard = CancelOnDrop {
                conn: Some(conn),
                pool: pool.clone(),
                pid,
            };
            let rows = match guard.conn.as_mut() {
                Some(conn) => fetch_on(&mut **conn, sql, cols).await,
                None => Ok(Vec::new()),
            };
            // Answered: the connection goes back to the pool.
            drop(guard.conn.take());
            rows
        }
        .await;
        self.trace(what, sql, started.elapsed());
        result.map_err(|e| self.error(what, e))
    }

    /// Runs a statement; returns the number of rows it affected.
    pub(crate) async fn execute(&self, what: &str, sql: &Sql) -> Result<u64> {
        let started = std::time::Instant::now();
        let result = match &self.pool {
            Pool::Postgres(pool) => execute_on(pool, sql).await,
            Pool::MySql(pool) => execute_on(pool, sql).await,
            Pool::Sqlite(pool) => execute_on(pool, sql).await,
        };
        self.trace(what, sql, started.elapsed());
        result.map_err(|e| self.error(what, e))
    }

    /// Checks that the database answers, without waiting for a pool slot: an idle pooled
    /// connection if there is one, else a new connection outside the pool (closed at once), so
    /// that readiness reports the database's health, not a pool busy with user queries. Gives
    /// up after `timeout`.
    pub(crate) async fn ping(&self, timeout: Duration) -> Result<()> {
        use sqlx::{ConnectOptions as _, Connection as _};
        macro_rules! ping {
            ($pool:expr) => {
                async {
                    match $pool.try_acquire() {
                        Some(mut conn) => conn.ping().await,
                        None => {
                            let mut conn = $pool.connect_options().connect().await?;
                            conn.ping().await?;
                            conn.close().await
                        }
                    }
                }
            };
        }
        let ping = async {
            match &self.pool {
                Pool::Postgres(pool) => ping!(pool).await,
                Pool::MySql(pool) => ping!(pool).await,
                Pool::Sqlite(pool) => ping!(pool).await,
            }
        };
        match tokio::time::timeout(timeout, ping).await {
            Ok(result) => result.map_err(|e| self.error("readiness check", e)),
            Err(_) => Err(StorageError::Unavailable {
                message: format!(
                    "{} readiness check: no answer within {timeout:?}",
                    self.dialect.name()
                ),
                source: None,
            }),
        }
    }

    /// Starts a transaction.
    pub(crate) async fn begin(&self, what: &str) -> Result<Tx<'_>> {
        let inner = match &self.pool {
            Pool::Postgres(pool) => pool.begin().await.map(TxInner::Postgres),
            Pool::MySql(pool) => pool.begin().await.map(TxInner::MySql),
            Pool::Sqlite(pool) => pool.begin().await.map(TxInner::Sqlite),
        }
        .map_err(|e| self.error(what, e))?;
        Ok(Tx { db: self, inner })
    }

    /// Closes every connection (waits for those in use to be returned).
    pub(crate) async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::MySql(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }

    fn trace(&self, what: &str, sql: &Sql, elapsed: Duration) {
        tracing::trace!(
            target: "storage_internal::sql",
            operation = what,
            elapsed_us = elapsed.as_micros() as u64,
            binds = sql.bind_count(),
            sql = sql.text(),
        );
    }
}

/// A PostgreSQL connection running a statement; dropped before the statement answered, it
/// cancels the statement and closes the connection (off the pool).
struct CancelOnDrop {
    conn: Option<sqlx::pool::PoolConnection<Postgres>>,
    pool: sqlx::PgPool,
    pid: i32,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        use sqlx::{ConnectOptions as _, Connection as _};
        let Some(conn) = self.conn.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // Off the pool: it is closed once the statement is cancelled, never reused.
        let conn = conn.detach();
        let options = self.pool.connect_options();
        let pid = self.pid;
        runtime.spawn(async move {
            match options.connect().await {
                Ok(mut canceller) => {
                    let cancelled = sqlx::query("SELECT pg_cancel_backend($1)")
                        .bind(pid)
                        .execute(&mut canceller)
                        .await;
                    if let Err(error) = cancelled {
                        tracing::debug!(%error, pid, "cannot cancel an abandoned query");
                    }
                    let _ = canceller.close().await;
                }
                Err(error) => tracing::debug!(%error, pid, "cannot cancel an abandoned query"),
            }
            let _ = conn.close().await;
        });
    }
}

enum TxInner {
    Postgres(Transaction<'static, Postgres>),
    MySql(Transaction<'static, MySql>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// An open transaction; rolled back when dropped without [`Tx::commit`].
pub(crate) struct Tx<'a> {
    db: &'a Db,
    inner: TxInner,
}

impl Tx<'_> {
    /// The dialect of the database.
    pub(crate) fn sql(&self) -> Sql {
        self.db.sql()
    }

    /// Runs a statement in the transaction; returns the number of rows it affected.
    pub(crate) async fn execute(&mut self, what: &str, sql: &Sql) -> Result<u64> {
        let result = match &mut self.inner {
            TxInner::Postgres(tx) => execute_on(&mut **tx, sql).await,
            TxInner::MySql(tx) => execute_on(&mut **tx, sql).await,
            TxInner::Sqlite(tx) => execute_on(&mut **tx, sql).await,
        };
        result.map_err(|e| self.db.error(what, e))
    }

    /// Commits the transaction.
    pub(crate) async fn commit(self, what: &str) -> Result<()> {
        let result = match self.inner {
            TxInner::Postgres(tx) => tx.commit().await,
            TxInner::MySql(tx) => tx.commit().await,
            TxInner::Sqlite(tx) => tx.commit().await,
        };
        result.map_err(|e| self.db.error(what, e))
    }
}
