//! The connection pool, statements with bound values, and the one place where MySQL, PostgreSQL
//! and SQLite disagree about placeholders.
//!
//! The layer talks to all three through sqlx's `Any` driver: one pool type, one row type, and
//! SQL written once, with `?` placeholders. [`Database::statement`] rewrites them to `$1, $2, …`
//! for PostgreSQL. The only other differences are in the schema ([`crate::schema`]) and in the
//! error codes ([`crate::error`]).

use std::fmt::Write as _;

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::query::Query;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, AssertSqlSafe, ConnectOptions as _};
use storage_api::Result;
use tracing::log::LevelFilter;

use crate::config::{DatabaseType, SampleConfig};
use crate::error::classify;

/// A statement ready to bind values to and run.
pub(crate) type Statement = Query<'static, Any, AnyArguments>;

/// A pool of connections to the layer's database. Cloning is cheap (the pool is shared).
#[derive(Debug, Clone)]
pub(crate) struct Database {
    pool: AnyPool,
    kind: DatabaseType,
}

impl Database {
    /// Opens a pool to the database of `config` (waiting for the server as sqlx does, up to
    /// its acquire timeout of 30 s, so that a database that starts with the pod is not an
    /// error).
    pub(crate) async fn connect(config: &SampleConfig) -> Result<Self> {
        // `Any` finds the driver of a URL among the installed ones; installing twice is a no-op.
        sqlx::any::install_default_drivers();
        let target = describe(config);
        let options = connect_options(config)
            .map_err(|e| classify(&format!("cannot configure {target}"), e))?;
        let pool = AnyPoolOptions::new()
            .connect_with(options)
            .await
            .map_err(|e| classify(&format!("cannot connect to {target}"), e))?;
        Ok(Self {
            pool,
            kind: config.database_type,
        })
    }

    /// The kind of database.
    pub(crate) fn kind(&self) -> DatabaseType {
        self.kind
    }

    /// The pool, to run statements on or to begin transactions from.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `sql` (with `?` placeholders) as a statement of this database. Values are always bound,
    /// never written into the SQL: `sql` is a constant of the layer or built from constants.
    pub(crate) fn statement(&self, sql: &str) -> Statement {
        let sql = match self.kind {
            DatabaseType::Postgres => numbered_placeholders(sql),
            DatabaseType::Mysql | DatabaseType::Sqlite => sql.to_owned(),
        };
        sqlx::query(AssertSqlSafe(sql))
    }

    /// `head` followed by the `WHERE` clause of `filter`, with its values bound.
    pub(crate) fn filtered(&self, head: &str, filter: Filter) -> Statement {
        let mut statement = self.statement(&format!("{head}{}", filter.where_clause()));
        for value in filter.values {
            statement = statement.bind(value);
        }
        statement
    }

    /// Closes every connection (waiting for the ones in use to come back).
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// A `WHERE` clause under construction: conditions joined by `AND`, each with `?` placeholders,
/// and the text values they bind, in order.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    conditions: Vec<String>,
    values: Vec<String>,
}

impl Filter {
    /// No condition: every row.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// And `column = value`.
    pub(crate) fn equals(mut self, column: &'static str, value: &str) -> Self {
        self.conditions.push(format!("{column} = ?"));
        self.values.push(value.to_owned());
        self
    }

    /// And `column IN (values…)`; no condition when `values` is empty (a list option that is
    /// not given means "any").
    pub(crate) fn one_of(mut self, column: &'static str, values: &[String]) -> Self {
        if !values.is_empty() {
            let marks = vec!["?"; values.len()].join(", ");
            self.conditions.push(format!("{column} IN ({marks})"));
            self.values.extend(values.iter().cloned());
        }
        self
    }

    /// And `(alternative OR alternative …)`; matches nothing when there is no alternative.
    pub(crate) fn any_of(mut self, alternatives: Vec<Filter>) -> Self {
        if alternatives.is_empty() {
            self.conditions.push("1 = 0".into());
            return self;
        }
        let mut sql = String::from("(");
        for (i, alternative) in alternatives.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            let _ = write!(sql, "({})", alternative.conditions.join(" AND "));
            self.values.extend(alternative.values);
        }
        sql.push(')');
        self.conditions.push(sql);
        self
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// The sqlx connection options of `config`, as the `Any` driver takes them: each driver's
/// options are built with its own typed builder (which escapes what must be escaped), then
/// turned into a URL.
fn connect_options(config: &SampleConfig) -> std::result::Result<AnyConnectOptions, sqlx::Error> {
    let host = config.host.as_deref().unwrap_or("127.0.0.1");
    let url = match config.database_type {
        DatabaseType::Mysql => {
            let mut options = MySqlConnectOptions::new()
                .host(host)
                .port(config.port.unwrap_or(3306))
                .database(&config.database);
            if let Some(user) = &config.user {
                options = options.username(user);
            }
            if let Some(password) = &config.password {
                options = options.password(password);
            }
            options.to_url_lossy()
        }
        DatabaseType::Postgres => {
            let mut options = PgConnectOptions::new()
                .host(host)
                .port(config.port.unwrap_or(5432))
                .database(&config.database);
            if let Some(user) = &config.user {
                options = options.username(user);
            }
            if let Some(password) = &config.password {
                options = options.password(password);
            }
            options.to_url_lossy()
        }
        DatabaseType::Sqlite => SqliteConnectOptions::new()
            .filename(&config.database)
            .create_if_missing(true)
            .to_url_lossy(),
    };
    let options = AnyConnectOptions::from_url(&url)?;
    Ok(match &config.log {
        Some(log) => options
            .log_statements(LevelFilter::Debug)
            .log_slow_statements(LevelFilter::Warn, log.slow_threshold),
        None => options.disable_statement_logging(),
    })
}

/// Where the database is, for messages (never with the password).
fn describe(config: &SampleConfig) -> String {
    let host = config.host.as_deref().unwrap_or("127.0.0.1");
    match config.database_type {
        DatabaseType::Mysql => format!(
            "mysql database \"{}\" at {host}:{}",
            config.database,
            config.port.unwrap_or(3306)
        ),
        DatabaseType::Postgres => format!(
            "postgres database \"{}\" at {host}:{}",
            config.database,
            config.port.unwrap_or(5432)
        ),
        DatabaseType::Sqlite => format!("sqlite database {}", config.database),
    }
}

/// `?` placeholders rewritten as PostgreSQL's `$1, $2, …`. The layer's SQL has no `?` elsewhere
/// (no string literals), so every `?` is a placeholder.
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut number = 0;
    for c in sql.chars() {
        if c == '?' {
            number += 1;
            let _ = write!(out, "${number}");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            numbered_placeholders("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
    }

    #[test]
    fn filters_bind_in_order_and_empty_lists_mean_any() {
        let filter = Filter::new()
            .equals("cluster", "c1")
            .one_of("namespace", &[])
            .one_of("name", &["a".into(), "b".into()])
            .any_of(vec![
                Filter::new()
                    .equals("api_group", "apps")
                    .equals("resource", "deployments"),
                Filter::new().equals("api_group", ""),
            ]);
        assert_eq!(
            filter.where_clause(),
            " WHERE cluster = ? AND name IN (?, ?) AND \
             ((api_group = ? AND resource = ?) OR (api_group = ?))"
        );
        assert_eq!(filter.values, ["c1", "a", "b", "apps", "deployments", ""]);
        assert_eq!(Filter::new().where_clause(), "");
        assert_eq!(
            Filter::new().any_of(Vec::new()).where_clause(),
            " WHERE 1 = 0"
        );
    }
}
