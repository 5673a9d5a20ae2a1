//! The connection pool of one of the three databases, and statement execution.
//!
//! [`Db`] runs [`Sql`] statements on whichever database is configured and returns rows as
//! plain [`Row`]s of [`Cell`]s, decoded by the column types the caller expects, so that the
//! query and write code above it is written once. Driver errors are classified here
//! ([`crate::error::ErrorPolicy`]) into the storage contract's errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{
    Arguments as _, AssertSqlSafe, Database, Executor, IntoArguments, MySql, Postgres, Row as _,
    Sqlite, Transaction,
};
use storage_api::{Result, StorageError};

use crate::config::FullTextScope;
use crate::dialect::Dialect;
use crate::error::ErrorPolicy;
use crate::sql::{Bind, Sql};
use crate::statistics::Statistics;

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
    /// A non-null 64-bit float (PostgreSQL `double precision`).
    Float,
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
    /// A float.
    Float(storage_api::query::Float),
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

    /// Column `i` as a float (0 when NULL or not a float).
    pub(crate) fn float(&self, i: usize) -> f64 {
        match self.cell(i) {
            Cell::Float(f) => f.get(),
            _ => 0.0,
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
                Col::Float => Cell::Float(row.try_get::<f64, _>(i)?.into()),
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
    /// The statement deadline enforced in process on SQLite (the other databases enforce it
    /// themselves).
    sqlite_deadline: Option<Duration>,
    /// Rows written, for the planner statistics ([`crate::statistics`]).
    statistics: Arc<Statistics>,
    /// Which resources get full-text words (PostgreSQL; [`crate::full_text`]).
    full_text: Arc<FullTextScope>,
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
            sqlite_deadline: None,
            statistics: Arc::default(),
            full_text: Arc::default(),
        }
    }

    /// Leaves the full-text words out for the resources `scope` excludes.
    pub(crate) fn with_full_text(mut self, scope: FullTextScope) -> Self {
        self.full_text = Arc::new(scope);
        self
    }

    /// Which resources get full-text words.
    pub(crate) fn full_text(&self) -> &FullTextScope {
        &self.full_text
    }

    /// Whether objects of `gvr` are written with their full-text words: on PostgreSQL, unless
    /// `fullTextSearch.exclude` names the resource.
    pub(crate) fn stores_words(&self, gvr: &storage_api::Gvr) -> bool {
        self.dialect == Dialect::Postgres && self.full_text.includes(&gvr.group, &gvr.resource)
    }

    /// The count of rows written through this pool ([`crate::statistics`]).
    pub(crate) fn statistics(&self) -> &Statistics {
        &self.statistics
    }

    /// On SQLite, interrupts a cancellable statement ([`Db::fetch_cancellable`]) still running
    /// after `timeout` (SQLite has no statement timeout of its own).
    pub(crate) fn with_sqlite_deadline(mut self, timeout: Option<Duration>) -> Self {
        self.sqlite_deadline = timeout;
        self
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
        let started = Instant::now();
        let result = match &self.pool {
            Pool::Postgres(pool) => fetch_on(pool, sql, cols).await,
            Pool::MySql(pool) => fetch_on(pool, sql, cols).await,
            Pool::Sqlite(pool) => fetch_on(pool, sql, cols).await,
        };
        self.trace(what, sql, started.elapsed());
        result.map_err(|e| self.error(what, e))
    }

    /// [`Db::fetch`] for queries that may run long (list pages and counts): when the caller
    /// drops the future before the answer (the client went away, the request timed out), the
    /// statement is cancelled from a separate connection (PostgreSQL `pg_cancel_backend`,
    /// MySQL/MariaDB `KILL QUERY`), and its connection is closed instead of going back to the
    /// pool (so the cancel cannot hit another query). On SQLite a progress handler interrupts
    /// the statement at the statement deadline ([`Db::with_sqlite_deadline`]) or when the
    /// future is dropped (the connection is then closed too).
    pub(crate) async fn fetch_cancellable(
        &self,
        what: &str,
        sql: &Sql,
        cols: &[Col],
    ) -> Result<Vec<Row>> {
        macro_rules! cancellable {
            ($pool:expr, $id_query:expr, $kind:ident) => {
                async {
                    let mut conn = $pool.acquire().await?;
                    let id: i64 = sqlx::query_scalar($id_query).fetch_one(&mut *conn).await?;
                    let mut guard = CancelOnDrop {
                        conn: Some(Conn::$kind(conn, $pool.clone())),
                        id,
                    };
                    let rows = match guard.conn.as_mut() {
                        Some(Conn::$kind(conn, _)) => fetch_on(&mut **conn, sql, cols).await,
                        _ => Ok(Vec::new()),
                    };
                    // Answered: the connection goes back to the pool.
                    drop(guard.conn.take());
                    rows
                }
            };
        }
        let started = Instant::now();
        let result = match &self.pool {
            Pool::Postgres(pool) => {
                cancellable!(pool, "SELECT pg_backend_pid()::bigint", Postgres).await
            }
            Pool::MySql(pool) => {
                cancellable!(pool, "SELECT CAST(CONNECTION_ID() AS SIGNED)", MySql).await
            }
            Pool::Sqlite(pool) => self.fetch_interruptible(pool, sql, cols).await,
        };
        self.trace(what, sql, started.elapsed());
        result.map_err(|e| self.error(what, e))
    }

    /// The SQLite part of [`Db::fetch_cancellable`].
    async fn fetch_interruptible(
        &self,
        pool: &sqlx::SqlitePool,
        sql: &Sql,
        cols: &[Col],
    ) -> std::result::Result<Vec<Row>, sqlx::Error> {
        let mut guard = self.interruptible(pool).await?;
        let rows = match guard.conn.as_mut() {
            Some(conn) => fetch_on(&mut **conn, sql, cols).await,
            None => Ok(Vec::new()),
        };
        guard.release().await?;
        rows
    }

    /// A pooled SQLite connection whose statements are interrupted at the statement deadline
    /// (counted from now) or when the guard is dropped.
    async fn interruptible(
        &self,
        pool: &sqlx::SqlitePool,
    ) -> std::result::Result<InterruptOnDrop, sqlx::Error> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut conn = pool.acquire().await?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let deadline = self.sqlite_deadline.map(|t| Instant::now() + t);
        {
            let flag = cancelled.clone();
            // Every 1,000 virtual machine instructions (a few microseconds).
            conn.lock_handle()
                .await?
                .set_progress_handler(1000, move || {
                    !flag.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d)
                });
        }
        Ok(InterruptOnDrop {
            conn: Some(conn),
            cancelled,
        })
    }

    /// Runs a statement; returns the number of rows it affected.
    pub(crate) async fn execute(&self, what: &str, sql: &Sql) -> Result<u64> {
        let started = Instant::now();
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
        let started = Instant::now();
        let inner = match &self.pool {
            Pool::Postgres(pool) => pool.begin().await.map(TxInner::Postgres),
            Pool::MySql(pool) => pool.begin().await.map(TxInner::MySql),
            Pool::Sqlite(pool) => pool.begin().await.map(TxInner::Sqlite),
        }
        .map_err(|e| self.error(what, e))?;
        tracing::trace!(
            target: "storage_internal::sql",
            operation = what,
            elapsed_us = started.elapsed().as_micros() as u64,
            sql = "BEGIN (with the pool's acquire)",
        );
        Ok(Tx { db: self, inner })
    }

    /// Starts a transaction and runs `statement` (no parameters, no rows) first in it; on
    /// PostgreSQL in the same round trip as `BEGIN` (one simple query).
    pub(crate) async fn begin_then(&self, what: &str, statement: &'static str) -> Result<Tx<'_>> {
        let started = Instant::now();
        if let Pool::Postgres(pool) = &self.pool {
            let tx = pool
                .begin_with(AssertSqlSafe(format!("BEGIN; {statement}")))
                .await
                .map_err(|e| self.error(what, e))?;
            tracing::trace!(
                target: "storage_internal::sql",
                operation = what,
                elapsed_us = started.elapsed().as_micros() as u64,
                sql = format!("BEGIN; {statement} (with the pool's acquire)"),
            );
            return Ok(Tx {
                db: self,
                inner: TxInner::Postgres(tx),
            });
        }
        let mut tx = self.begin(what).await?;
        let mut sql = self.sql();
        sql.push(statement);
        tx.execute(what, &sql).await?;
        Ok(tx)
    }

    /// Starts a read-only transaction whose statements all read one snapshot of the database
    /// (PostgreSQL `REPEATABLE READ`, InnoDB's consistent snapshot; SQLite's read transaction
    /// is one snapshot from its first read). Dropped before it is finished (the client went
    /// away), its running statement is cancelled as by [`Db::fetch_cancellable`]; on SQLite its
    /// statements are also interrupted at the statement deadline, counted from the start.
    pub(crate) async fn snapshot(&self, what: &str) -> Result<Snapshot<'_>> {
        let inner = match &self.pool {
            // BEGIN and the backend's id in one round trip (one simple query; the id is the
            // transaction's first query, where its snapshot is taken).
            Pool::Postgres(pool) => {
                async {
                    let mut conn = pool.acquire().await?;
                    let rows = sqlx::raw_sql(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                         SELECT pg_backend_pid()::bigint",
                    )
                    .fetch_all(&mut *conn)
                    .await?;
                    let id: i64 = match rows.first() {
                        Some(row) => row.try_get(0)?,
                        None => return Err(sqlx::Error::RowNotFound),
                    };
                    Ok::<_, sqlx::Error>(SnapshotInner::Cancellable(CancelOnDrop {
                        conn: Some(Conn::Postgres(conn, pool.clone())),
                        id,
                    }))
                }
                .await
            }
            Pool::MySql(pool) => {
                async {
                    let mut conn = pool.acquire().await?;
                    let id: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
                        .fetch_one(&mut *conn)
                        .await?;
                    conn.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                        .await?;
                    Ok::<_, sqlx::Error>(SnapshotInner::Cancellable(CancelOnDrop {
                        conn: Some(Conn::MySql(conn, pool.clone())),
                        id,
                    }))
                }
                .await
            }
            Pool::Sqlite(pool) => {
                async {
                    let mut guard = self.interruptible(pool).await?;
                    if let Some(conn) = guard.conn.as_mut() {
                        conn.execute("BEGIN").await?;
                    }
                    Ok(SnapshotInner::Interruptible(guard))
                }
                .await
            }
        }
        .map_err(|e| self.error(what, e))?;
        Ok(Snapshot { db: self, inner })
    }

    /// Whether [`Db::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Postgres(pool) => pool.is_closed(),
            Pool::MySql(pool) => pool.is_closed(),
            Pool::Sqlite(pool) => pool.is_closed(),
        }
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

/// A pooled connection running a cancellable statement, with its pool (for a separate
/// connection to cancel from).
enum Conn {
    Postgres(sqlx::pool::PoolConnection<Postgres>, sqlx::PgPool),
    MySql(sqlx::pool::PoolConnection<MySql>, sqlx::MySqlPool),
}

/// Where a list reads: the pool (each statement on its own), or an open transaction (one
/// snapshot for the list and the resource version it is served at).
pub(crate) enum Reader<'r, 'a> {
    /// The pool; long queries are cancelled when abandoned ([`Db::fetch_cancellable`]).
    Pool(&'a Db),
    /// A snapshot.
    Snapshot(&'r mut Snapshot<'a>),
}

impl Reader<'_, '_> {
    /// Runs a query and decodes its rows as `cols`.
    pub(crate) async fn fetch(&mut self, what: &str, sql: &Sql, cols: &[Col]) -> Result<Vec<Row>> {
        match self {
            Self::Pool(db) => db.fetch_cancellable(what, sql, cols).await,
            Self::Snapshot(snapshot) => snapshot.fetch(what, sql, cols).await,
        }
    }
}

/// A read-only transaction on one snapshot ([`Db::snapshot`]).
pub(crate) struct Snapshot<'a> {
    db: &'a Db,
    inner: SnapshotInner,
}

enum SnapshotInner {
    /// PostgreSQL or MySQL: a connection in a transaction, cancelled when dropped.
    Cancellable(CancelOnDrop),
    /// SQLite: a connection in a transaction, interrupted when dropped or late.
    Interruptible(InterruptOnDrop),
}

impl Snapshot<'_> {
    /// Runs a query in the snapshot.
    pub(crate) async fn fetch(&mut self, what: &str, sql: &Sql, cols: &[Col]) -> Result<Vec<Row>> {
        let started = Instant::now();
        let result = match &mut self.inner {
            SnapshotInner::Cancellable(guard) => match guard.conn.as_mut() {
                Some(Conn::Postgres(conn, _)) => fetch_on(&mut **conn, sql, cols).await,
                Some(Conn::MySql(conn, _)) => fetch_on(&mut **conn, sql, cols).await,
                None => Ok(Vec::new()),
            },
            SnapshotInner::Interruptible(guard) => match guard.conn.as_mut() {
                Some(conn) => fetch_on(&mut **conn, sql, cols).await,
                None => Ok(Vec::new()),
            },
        };
        self.db.trace(what, sql, started.elapsed());
        result.map_err(|e| self.db.error(what, e))
    }

    /// Ends the snapshot (its connection goes back to the pool).
    pub(crate) async fn finish(self, what: &str) -> Result<()> {
        let ended = match self.inner {
            SnapshotInner::Cancellable(mut guard) => {
                let committed = match guard.conn.as_mut() {
                    Some(Conn::Postgres(conn, _)) => conn.execute("COMMIT").await.map(drop),
                    Some(Conn::MySql(conn, _)) => conn.execute("COMMIT").await.map(drop),
                    None => Ok(()),
                };
                if committed.is_ok() {
                    // Answered: the connection goes back to the pool.
                    drop(guard.conn.take());
                }
                committed
            }
            SnapshotInner::Interruptible(mut guard) => {
                let committed = match guard.conn.as_mut() {
                    Some(conn) => conn.execute("COMMIT").await.map(drop),
                    None => Ok(()),
                };
                match committed {
                    Ok(()) => guard.release().await,
                    Err(e) => Err(e),
                }
            }
        };
        ended.map_err(|e| self.db.error(what, e))
    }
}

/// A connection running a statement; dropped before the statement answered, it cancels the
/// statement (by the server's id of the connection) from a separate connection and closes the
/// connection (off the pool).
struct CancelOnDrop {
    conn: Option<Conn>,
    id: i64,
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
        let id = self.id;
        // Off the pool: it is closed once the statement is cancelled, never reused.
        match conn {
            Conn::Postgres(conn, pool) => {
                let conn = conn.detach();
                let options = pool.connect_options();
                runtime.spawn(async move {
                    match options.connect().await {
                        Ok(mut canceller) => {
                            let cancelled = sqlx::query("SELECT pg_cancel_backend($1::int)")
                                .bind(id)
                                .execute(&mut canceller)
                                .await;
                            if let Err(error) = cancelled {
                                tracing::debug!(%error, id, "cannot cancel an abandoned query");
                            }
                            let _ = canceller.close().await;
                        }
                        Err(error) => {
                            tracing::debug!(%error, id, "cannot cancel an abandoned query");
                        }
                    }
                    let _ = conn.close().await;
                });
            }
            Conn::MySql(conn, pool) => {
                let conn = conn.detach();
                let options = pool.connect_options();
                runtime.spawn(async move {
                    match options.connect().await {
                        Ok(mut canceller) => {
                            // An integer the server gave: safe to write into the statement
                            // (KILL takes no parameter).
                            let cancelled = sqlx::query(AssertSqlSafe(format!("KILL QUERY {id}")))
                                .execute(&mut canceller)
                                .await;
                            if let Err(error) = cancelled {
                                tracing::debug!(%error, id, "cannot cancel an abandoned query");
                            }
                            let _ = canceller.close().await;
                        }
                        Err(error) => {
                            tracing::debug!(%error, id, "cannot cancel an abandoned query");
                        }
                    }
                    let _ = conn.close().await;
                });
            }
        }
    }
}

/// A SQLite connection running an interruptible statement; dropped before the statement
/// answered, it interrupts the statement (its progress handler reads the flag) and closes the
/// connection (off the pool: it still has the handler).
struct InterruptOnDrop {
    conn: Option<sqlx::pool::PoolConnection<Sqlite>>,
    cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl InterruptOnDrop {
    /// The statement answered (or was interrupted): the connection goes back to the pool
    /// without the handler.
    async fn release(mut self) -> std::result::Result<(), sqlx::Error> {
        if let Some(mut conn) = self.conn.take() {
            conn.lock_handle().await?.remove_progress_handler();
        }
        Ok(())
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        use sqlx::Connection as _;
        let Some(conn) = self.conn.take() else {
            return;
        };
        self.cancelled
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let conn = conn.detach();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = conn.close().await;
            });
        }
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
        let started = Instant::now();
        let result = match &mut self.inner {
            TxInner::Postgres(tx) => execute_on(&mut **tx, sql).await,
            TxInner::MySql(tx) => execute_on(&mut **tx, sql).await,
            TxInner::Sqlite(tx) => execute_on(&mut **tx, sql).await,
        };
        self.db.trace(what, sql, started.elapsed());
        result.map_err(|e| self.db.error(what, e))
    }

    /// Runs a query in the transaction and decodes its rows as `cols`.
    pub(crate) async fn fetch(&mut self, what: &str, sql: &Sql, cols: &[Col]) -> Result<Vec<Row>> {
        let started = Instant::now();
        let result = match &mut self.inner {
            TxInner::Postgres(tx) => fetch_on(&mut **tx, sql, cols).await,
            TxInner::MySql(tx) => fetch_on(&mut **tx, sql, cols).await,
            TxInner::Sqlite(tx) => fetch_on(&mut **tx, sql, cols).await,
        };
        self.db.trace(what, sql, started.elapsed());
        result.map_err(|e| self.db.error(what, e))
    }

    /// Commits the transaction.
    pub(crate) async fn commit(self, what: &str) -> Result<()> {
        let started = Instant::now();
        let result = match self.inner {
            TxInner::Postgres(tx) => tx.commit().await,
            TxInner::MySql(tx) => tx.commit().await,
            TxInner::Sqlite(tx) => tx.commit().await,
        };
        tracing::trace!(
            target: "storage_internal::sql",
            operation = what,
            elapsed_us = started.elapsed().as_micros() as u64,
            sql = "COMMIT",
        );
        result.map_err(|e| self.db.error(what, e))
    }
}
