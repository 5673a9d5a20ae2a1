//! The configuration file of the `internal` layer (`--storage-config`, YAML), with the keys of
//! the original internalstorage (reference §3.1) and its environment overrides.
//!
//! ```yaml
//! type: postgres            # postgres | mysql | sqlite (sqlite3); required
//! host: 127.0.0.1           # or DB_HOST
//! port: 5432                # or DB_PORT
//! user: postgres            # or DB_USER
//! password: ""              # or DB_PASSWORD
//! database: clusterpedia    # or DB_DATABASE; required without dsn
//! # dsn: postgres://user@host:5432/db   (or libpq "host=… dbname=…", a go-sql-driver MySQL
//! #      DSN "user:pw@tcp(host:3306)/db?…", a SQLite file path); or DB_DSN
//! sslMode: disable          # disable | prefer | require | verify-ca | verify-full | skip-verify
//! sslRootCertFile: /etc/ssl/ca.pem
//! params: {search_path: cp} # PostgreSQL run-time parameters, MySQL session variables
//! connPool: {maxIdleConns: 5, maxOpenConns: 40, connMaxLifetime: 1h}
//! log: {stdout: true, level: Warn, slowThreshold: 200ms}
//! postgres: {recoverableErrCodes: ["57P03"]}
//! mysql: {recoverableErrNumbers: [1317]}
//! watch: {maxAge: 1h, maxCount: 100000, pollInterval: 250ms, bookmarkInterval: 1m}
//! fullTextSearch: {exclude: [pods, events]}
//! ```
//!
//! `watch` (not in the original) sets the change log's retention (changes older than `maxAge`
//! or beyond the last `maxCount` are pruned; watching from before them is `410 Expired`), how
//! often MySQL/SQLite watchers poll the log (PostgreSQL is woken by `NOTIFY` and polls at that
//! interval only as a fallback), and how often a watch that allows bookmarks gets one.
//!
//! `fullTextSearch` (not in the original; PostgreSQL) names the resources (`resource` for the
//! core group, else `resource.group`, as kubectl writes them) whose objects get no full-text
//! words: their writes skip the words' index (an update that changes no label stays a HOT
//! update), and a full-text query of them is refused. Taking a resource off the list later
//! fills its words in at the next start.
//!
//! Every key of the original is accepted, so that its configuration files keep working; a few
//! only matter to Go drivers (`network`, most `mysql.*` driver switches, `log.logger`,
//! `metrics`) and are accepted and ignored (a warning names them). An unknown key, a missing
//! `type` or `database`, or a bad value is a [`StorageError::Config`] naming the key.
//!
//! The environment variables `DB_TYPE`, `DB_DSN`, `DB_HOST`, `DB_PORT`, `DB_USER`,
//! `DB_PASSWORD`, `DB_DATABASE` (and `DB_NETWORK`) override the file when set and not empty.
//! As in the original, a DSN without a password takes `DB_PASSWORD`.
//!
//! Without any configuration file the layer uses an embedded SQLite database file
//! ([`default_sqlite_path`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use storage_api::{Result, StorageError, config};

use crate::LAYER_NAME;
use crate::dialect::Dialect;

/// The default `connPool.maxIdleConns`.
pub const DEFAULT_MAX_IDLE_CONNS: u32 = 5;
/// The default `connPool.maxOpenConns` (two components stay below MySQL's default limit of 100).
pub const DEFAULT_MAX_OPEN_CONNS: u32 = 40;
/// The default `log.slowThreshold`.
pub const DEFAULT_SLOW_THRESHOLD: Duration = Duration::from_millis(200);
/// How long a caller waits for a connection before the call fails (recoverably).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long SQLite waits for another connection's write lock.
/// The default `statementTimeout`.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `internal` layer's configuration file, as written (see the module documentation).
///
/// Its `Debug` leaves out the password and the DSN (which may hold one).
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct InternalConfig {
    /// `postgres`, `mysql` or `sqlite` (`sqlite3`).
    #[serde(rename = "type")]
    pub db_type: Option<String>,
    /// A complete data source name; wins over host, port, user, password and database.
    pub dsn: Option<String>,
    /// `tcp` or `unix` (accepted for compatibility; unused, as in the original).
    pub network: Option<String>,
    /// The server host.
    pub host: Option<String>,
    /// The server port.
    #[serde(deserialize_with = "scalar_string")]
    pub port: Option<String>,
    /// The user.
    pub user: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// The database (schema on MySQL; the file on SQLite when there is no dsn).
    pub database: Option<String>,
    /// TLS: `disable`/`false`, `prefer`/`allow`/`skip-verify` (no verification), `require`,
    /// `verify-ca`, `verify-full`.
    pub ssl_mode: Option<String>,
    /// The client certificate (PEM).
    pub ssl_cert_file: Option<PathBuf>,
    /// The client key (PEM).
    pub ssl_key_file: Option<PathBuf>,
    /// The CA certificates to verify the server with (PEM).
    pub ssl_root_cert_file: Option<PathBuf>,
    /// PostgreSQL run-time parameters (e.g. `search_path`) or MySQL session variables.
    #[serde(deserialize_with = "scalar_map")]
    pub params: BTreeMap<String, String>,
    /// The connection pool.
    pub conn_pool: ConnPoolConfig,
    /// Statement logging; absent: no statement is logged.
    pub log: Option<LogConfig>,
    /// MySQL driver options.
    pub mysql: MySqlOptions,
    /// PostgreSQL options.
    pub postgres: PostgresOptions,
    /// Database statistics metrics (accepted for compatibility; unused).
    pub metrics: MetricsConfig,
    /// The longest one SQL statement may run (Go duration; default 30s, `0`: no limit): set on
    /// every connection (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`, MySQL
    /// `max_execution_time`); on SQLite list statements are interrupted by a progress handler
    /// at that time. A statement cancelled by it is a `504 Timeout`.
    #[serde(deserialize_with = "scalar_string")]
    pub statement_timeout: Option<String>,
    /// Watch: the change log's retention and how watchers are woken.
    pub watch: WatchConfig,
    /// Full-text search (PostgreSQL): the resources whose objects get no words.
    pub full_text_search: FullTextSearchConfig,
}

/// `fullTextSearch`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FullTextSearchConfig {
    /// Resources (`pods`, `deployments.apps`) whose objects get no full-text words.
    pub exclude: Vec<String>,
}

/// `watch`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WatchConfig {
    /// The oldest change kept (Go duration; default 1h).
    #[serde(deserialize_with = "scalar_string")]
    pub max_age: Option<String>,
    /// Changes kept at most (default 100000; at least 1).
    pub max_count: Option<u64>,
    /// How often the change log is read while someone watches (Go duration; default 250ms).
    #[serde(deserialize_with = "scalar_string")]
    pub poll_interval: Option<String>,
    /// How often a watch that allows bookmarks gets one (Go duration; default 1m).
    #[serde(deserialize_with = "scalar_string")]
    pub bookmark_interval: Option<String>,
}

/// The validated `fullTextSearch`: which resources get full-text words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FullTextScope {
    /// `(group, resource)` of the excluded resources.
    pub(crate) excluded: Vec<(String, String)>,
}

impl FullTextScope {
    /// Whether objects of `group`/`resource` get words.
    pub(crate) fn includes(&self, group: &str, resource: &str) -> bool {
        !self
            .excluded
            .iter()
            .any(|(g, r)| g == group && r == resource)
    }
}

/// The validated `watch` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatchSettings {
    pub(crate) retention: crate::changelog::Retention,
    pub(crate) poll_interval: Duration,
    pub(crate) bookmark_interval: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            retention: crate::changelog::Retention::default(),
            poll_interval: Duration::from_millis(250),
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// `connPool`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ConnPoolConfig {
    /// Idle connections kept (default 5); must not exceed `maxOpenConns`.
    pub max_idle_conns: Option<u32>,
    /// Connections open at most (default 40).
    pub max_open_conns: Option<u32>,
    /// How long a connection lives at most (`1h`, `90m`); under one hour it is raised to one
    /// hour, as in the original.
    #[serde(deserialize_with = "scalar_string")]
    pub conn_max_lifetime: Option<String>,
}

/// `log`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LogConfig {
    /// Log to standard output (statements always go through `tracing` here).
    pub stdout: bool,
    /// `Silent`, `Error`, `Warn` (default: slow statements) or `Info` (every statement).
    pub level: Option<String>,
    /// Accepted for compatibility.
    pub colorful: bool,
    /// Accepted for compatibility.
    pub ignore_record_not_found_error: bool,
    /// Statements slower than this are logged as warnings (default 200ms).
    #[serde(deserialize_with = "scalar_string")]
    pub slow_threshold: Option<String>,
    /// The original's log file rotation (accepted for compatibility; logs go through `tracing`).
    pub logger: Option<LumberjackConfig>,
}

/// `log.logger` (the original's lumberjack log file).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LumberjackConfig {
    /// The log file.
    pub filename: Option<String>,
    /// Megabytes per file.
    pub maxsize: Option<u64>,
    /// Days to keep old files.
    pub maxage: Option<u64>,
    /// Old files to keep.
    pub maxbackups: Option<u64>,
    /// Local times in backup names.
    pub localtime: bool,
    /// Compress old files.
    pub compress: bool,
}

/// `mysql`: the go-sql-driver options of the original. Only `recoverableErrNumbers`,
/// `serverPubKey`-free TLS settings and timeouts matter here; the rest are accepted.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MySqlOptions {
    /// How long to wait for a connection (default 30s).
    #[serde(deserialize_with = "scalar_string")]
    pub dial_timeout: Option<String>,
    /// Accepted for compatibility.
    #[serde(deserialize_with = "scalar_string")]
    pub read_timeout: Option<String>,
    /// Accepted for compatibility.
    #[serde(deserialize_with = "scalar_string")]
    pub write_timeout: Option<String>,
    /// Accepted for compatibility.
    pub server_pub_key: Option<String>,
    /// Accepted for compatibility (times are stored as epoch milliseconds).
    pub loc: Option<String>,
    /// Accepted for compatibility.
    pub max_allowed_packet: Option<u64>,
    /// Accepted for compatibility.
    pub allow_all_files: Option<bool>,
    /// Accepted for compatibility.
    pub allow_cleartext_passwords: Option<bool>,
    /// Accepted for compatibility.
    pub allow_native_passwords: Option<bool>,
    /// Accepted for compatibility.
    pub allow_old_passwords: Option<bool>,
    /// Accepted for compatibility.
    pub check_conn_liveness: Option<bool>,
    /// Accepted for compatibility (the driver always reports matched rows).
    pub client_found_rows: Option<bool>,
    /// Accepted for compatibility.
    pub columns_with_alias: Option<bool>,
    /// Accepted for compatibility (statements are always prepared).
    pub interpolate_params: Option<bool>,
    /// Accepted for compatibility.
    pub multi_statements: Option<bool>,
    /// Accepted for compatibility (always true in the original).
    pub parse_time: Option<bool>,
    /// Accepted for compatibility.
    pub reject_read_only: Option<bool>,
    /// More MySQL error numbers a retry may fix.
    pub recoverable_err_numbers: Vec<u16>,
}

/// `postgres`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PostgresOptions {
    /// More SQLSTATE codes a retry may fix.
    pub recoverable_err_codes: Vec<String>,
}

/// `metrics` (accepted for compatibility).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricsConfig {
    /// Accepted for compatibility.
    pub disable: bool,
    /// Accepted for compatibility.
    #[serde(deserialize_with = "scalar_string")]
    pub db_stats_refresh_interval: Option<String>,
}

/// How to connect: the validated result of a configuration.
///
/// Its `Debug` leaves out the driver options, which hold the password.
#[derive(Clone)]
pub struct Connection {
    /// The database family.
    pub dialect: Dialect,
    /// Where the database is, for messages: `host:port/database`, or the SQLite file.
    pub target: String,
    pub(crate) options: ConnectOptions,
    pub(crate) pool: PoolSettings,
    /// Session variables to set on each new MySQL connection.
    pub(crate) mysql_session: Vec<(String, String)>,
    pub(crate) recoverable_postgres: Vec<String>,
    pub(crate) recoverable_mysql: Vec<u16>,
    pub(crate) watch: WatchSettings,
    pub(crate) full_text: FullTextScope,
}

/// The driver options of one database (no `Debug`: sqlx's shows the password).
#[derive(Clone)]
pub(crate) enum ConnectOptions {
    Postgres(PgConnectOptions),
    MySql(MySqlConnectOptions),
    Sqlite(SqliteConnectOptions),
}

/// Pool sizing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolSettings {
    pub(crate) max_connections: u32,
    pub(crate) min_connections: u32,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) acquire_timeout: Duration,
    /// `statementTimeout`: the longest one statement may run (`None`: no limit).
    pub(crate) statement_timeout: Option<Duration>,
}

/// What `Debug` shows of a secret: whether it is set.
fn redacted(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for InternalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured, so that a new field cannot be forgotten here.
        let Self {
            db_type,
            dsn,
            network,
            host,
            port,
            user,
            password,
            database,
            ssl_mode,
            ssl_cert_file,
            ssl_key_file,
            ssl_root_cert_file,
            params,
            conn_pool,
            log,
            mysql,
            postgres,
            metrics,
            statement_timeout,
            watch,
            full_text_search,
        } = self;
        f.debug_struct("InternalConfig")
            .field("db_type", db_type)
            .field("dsn", &redacted(dsn))
            .field("network", network)
            .field("host", host)
            .field("port", port)
            .field("user", user)
            .field("password", &redacted(password))
            .field("database", database)
            .field("ssl_mode", ssl_mode)
            .field("ssl_cert_file", ssl_cert_file)
            .field("ssl_key_file", ssl_key_file)
            .field("ssl_root_cert_file", ssl_root_cert_file)
            .field("params", params)
            .field("conn_pool", conn_pool)
            .field("log", log)
            .field("mysql", mysql)
            .field("postgres", postgres)
            .field("metrics", metrics)
            .field("statement_timeout", statement_timeout)
            .field("watch", watch)
            .field("full_text_search", full_text_search)
            .finish()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            dialect,
            target,
            options: _,
            pool,
            mysql_session,
            recoverable_postgres,
            recoverable_mysql,
            watch,
            full_text,
        } = self;
        f.debug_struct("Connection")
            .field("dialect", dialect)
            .field("target", target)
            .field("pool", pool)
            .field("mysql_session", mysql_session)
            .field("recoverable_postgres", recoverable_postgres)
            .field("recoverable_mysql", recoverable_mysql)
            .field("watch", watch)
            .field("full_text", full_text)
            .finish_non_exhaustive()
    }
}

impl InternalConfig {
    /// Reads the YAML file at `path`. Errors name the file and the key.
    pub fn from_file(path: &Path) -> Result<Self> {
        Ok(config::load_yaml(LAYER_NAME, path)?)
    }

    /// Parses a YAML document (empty means all defaults). Errors name the key (`unknown field
    /// `hots`, expected one of …`).
    pub fn from_yaml(text: &str) -> Result<Self> {
        Ok(config::parse_yaml(text)?)
    }

    /// The configuration of an embedded SQLite database file.
    pub fn sqlite(path: &Path) -> Self {
        Self {
            db_type: Some("sqlite".into()),
            dsn: Some(path.display().to_string()),
            ..Self::default()
        }
    }

    /// Applies the `DB_*` environment overrides read through `env` (unset or empty: no
    /// override).
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        let overrides: [(&str, &mut Option<String>); 8] = [
            ("DB_TYPE", &mut self.db_type),
            ("DB_DSN", &mut self.dsn),
            ("DB_NETWORK", &mut self.network),
            ("DB_HOST", &mut self.host),
            ("DB_PORT", &mut self.port),
            ("DB_USER", &mut self.user),
            ("DB_PASSWORD", &mut self.password),
            ("DB_DATABASE", &mut self.database),
        ];
        for (name, field) in overrides {
            if let Some(value) = get(name) {
                *field = Some(value);
            }
        }
        self
    }

    /// Validates the configuration into connection settings. Errors name the key.
    pub fn connection(&self) -> Result<Connection> {
        let dialect = match self.db_type.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(StorageError::config(
                    "type: missing; want postgres, mysql or sqlite (or set DB_TYPE)",
                ));
            }
            Some("postgres" | "postgresql") => Dialect::Postgres,
            Some("mysql" | "mariadb") => Dialect::MySql,
            Some("sqlite" | "sqlite3") => Dialect::Sqlite,
            Some(other) => {
                return Err(StorageError::config(format!(
                    "type: unknown database type {other:?}; want postgres, mysql or sqlite"
                )));
            }
        };
        let pool = self.pool_settings(dialect)?;
        let log = self.statement_logging()?;
        self.warn_ignored();
        let (options, target, mysql_session) = match dialect {
            Dialect::Postgres => {
                let (options, target) = self.postgres_options()?;
                (
                    ConnectOptions::Postgres(apply_log(options, &log)),
                    target,
                    Vec::new(),
                )
            }
            Dialect::MySql => {
                let (options, target, session) = self.mysql_options()?;
                (
                    ConnectOptions::MySql(apply_log(options, &log)),
                    target,
                    session,
                )
            }
            Dialect::Sqlite => {
                let (options, target) = self.sqlite_options()?;
                (
                    ConnectOptions::Sqlite(apply_log(options, &log)),
                    target,
                    Vec::new(),
                )
            }
        };
        Ok(Connection {
            dialect,
            target,
            options,
            pool,
            mysql_session,
            recoverable_postgres: self.postgres.recoverable_err_codes.clone(),
            recoverable_mysql: self.mysql.recoverable_err_numbers.clone(),
            watch: self.watch_settings()?,
            full_text: self.full_text_scope(dialect)?,
        })
    }

    fn full_text_scope(&self, dialect: Dialect) -> Result<FullTextScope> {
        let exclude = &self.full_text_search.exclude;
        if dialect != Dialect::Postgres && !exclude.is_empty() {
            tracing::warn!(
                "fullTextSearch.exclude: only PostgreSQL stores full-text words; ignored on {}",
                dialect.name()
            );
        }
        let mut excluded = Vec::with_capacity(exclude.len());
        for entry in exclude {
            let valid = !entry.is_empty()
                && entry
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !entry.starts_with('.')
                && !entry.ends_with('.');
            if !valid {
                return Err(StorageError::config(format!(
                    "fullTextSearch.exclude: {entry:?} is not a resource; want `pods` (core \
                     group) or `deployments.apps` (resource.group), in lower case"
                )));
            }
            let (resource, group) = entry.split_once('.').unwrap_or((entry.as_str(), ""));
            excluded.push((group.to_owned(), resource.to_owned()));
        }
        Ok(FullTextScope { excluded })
    }

    fn watch_settings(&self) -> Result<WatchSettings> {
        let defaults = WatchSettings::default();
        let w = &self.watch;
        let positive = |key: &str, value: Option<Duration>, default: Duration| match value {
            None => Ok(default),
            Some(d) if d.is_zero() => {
                Err(StorageError::config(format!("{key}: must be more than 0")))
            }
            Some(d) => Ok(d),
        };
        let max_count = w.max_count.unwrap_or(defaults.retention.max_count);
        if max_count == 0 {
            return Err(StorageError::config("watch.maxCount: must be at least 1"));
        }
        Ok(WatchSettings {
            retention: crate::changelog::Retention {
                max_count,
                max_age: positive(
                    "watch.maxAge",
                    duration_of("watch.maxAge", w.max_age.as_ref())?,
                    defaults.retention.max_age,
                )?,
            },
            poll_interval: positive(
                "watch.pollInterval",
                duration_of("watch.pollInterval", w.poll_interval.as_ref())?,
                defaults.poll_interval,
            )?,
            bookmark_interval: positive(
                "watch.bookmarkInterval",
                duration_of("watch.bookmarkInterval", w.bookmark_interval.as_ref())?,
                defaults.bookmark_interval,
            )?,
        })
    }

    fn pool_settings(&self, dialect: Dialect) -> Result<PoolSettings> {
        let max_open = self
            .conn_pool
            .max_open_conns
            .unwrap_or(DEFAULT_MAX_OPEN_CONNS);
        let max_idle = self
            .conn_pool
            .max_idle_conns
            .unwrap_or(DEFAULT_MAX_IDLE_CONNS.min(max_open));
        if max_open == 0 {
            return Err(StorageError::config(
                "connPool.maxOpenConns: must be at least 1",
            ));
        }
        if max_idle > max_open {
            return Err(StorageError::config(format!(
                "connPool.maxIdleConns ({max_idle}) must not exceed connPool.maxOpenConns ({max_open})"
            )));
        }
        let max_lifetime = duration_of(
            "connPool.connMaxLifetime",
            self.conn_pool.conn_max_lifetime.as_ref(),
        )?
        .filter(|d| !d.is_zero())
        .map(|d| d.max(Duration::from_secs(3600)));
        let dial_timeout = duration_of("mysql.dialTimeout", self.mysql.dial_timeout.as_ref())?;
        duration_of("mysql.readTimeout", self.mysql.read_timeout.as_ref())?;
        duration_of("mysql.writeTimeout", self.mysql.write_timeout.as_ref())?;
        duration_of(
            "metrics.dbStatsRefreshInterval",
            self.metrics.db_stats_refresh_interval.as_ref(),
        )?;
        let acquire_timeout = match dialect {
            Dialect::MySql => dial_timeout.unwrap_or(ACQUIRE_TIMEOUT),
            _ => ACQUIRE_TIMEOUT,
        };
        // `statementTimeout`: default 30s, 0 for none.
        let statement_timeout = duration_of("statementTimeout", self.statement_timeout.as_ref())?
            .unwrap_or(DEFAULT_STATEMENT_TIMEOUT);
        Ok(PoolSettings {
            max_connections: max_open,
            min_connections: 0,
            max_lifetime,
            acquire_timeout,
            statement_timeout: (!statement_timeout.is_zero()).then_some(statement_timeout),
        })
    }

    fn statement_logging(&self) -> Result<StatementLog> {
        let Some(log) = &self.log else {
            return Ok(StatementLog::default());
        };
        let slow = duration_of("log.slowThreshold", log.slow_threshold.as_ref())?
            .unwrap_or(DEFAULT_SLOW_THRESHOLD);
        let level = log.level.as_deref().unwrap_or("Warn");
        let (statements, slow_level) = match level.to_ascii_lowercase().as_str() {
            "silent" | "error" => (LevelFilter::Off, LevelFilter::Off),
            "warn" | "warning" => (LevelFilter::Off, LevelFilter::Warn),
            "info" => (LevelFilter::Info, LevelFilter::Warn),
            _ => {
                return Err(StorageError::config(format!(
                    "log.level: unknown level {level:?}; want Silent, Error, Warn or Info"
                )));
            }
        };
        Ok(StatementLog {
            statements,
            slow: slow_level,
            slow_threshold: slow,
        })
    }

    fn warn_ignored(&self) {
        let mut ignored = Vec::new();
        if self.network.is_some() {
            ignored.push("network");
        }
        if self.log.as_ref().is_some_and(|l| l.logger.is_some()) {
            ignored.push("log.logger (logs go through the component's logger)");
        }
        if self.metrics != MetricsConfig::default() {
            ignored.push("metrics");
        }
        if !ignored.is_empty() {
            tracing::warn!(
                keys = %ignored.join(", "),
                "internal storage config: keys of the original accepted and ignored"
            );
        }
    }

    fn ssl_mode(&self) -> Result<Option<SslMode>> {
        let Some(mode) = self.ssl_mode.as_deref().map(str::trim) else {
            return Ok(None);
        };
        Ok(Some(match mode {
            "" | "disable" | "false" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "skip-verify" => SslMode::Require,
            "require" | "true" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(StorageError::config(format!(
                    "sslMode: unknown mode {other:?}; want disable, prefer, require, skip-verify, \
                     verify-ca or verify-full"
                )));
            }
        }))
    }

    fn port_number(&self, default: u16) -> Result<u16> {
        match self.port.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(port) => port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                StorageError::config(format!("port: {port:?} is not a TCP port number"))
            }),
        }
    }

    fn postgres_options(&self) -> Result<(PgConnectOptions, String)> {
        let mut options = match self.dsn.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(dsn) if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") => {
                PgConnectOptions::from_str(dsn)
                    .map_err(|e| StorageError::config(format!("dsn: {e}")))?
            }
            Some(dsn) => parse_libpq_dsn(dsn)?,
            None => {
                let database = self.required_database()?;
                let mut options = PgConnectOptions::new_without_pgpass()
                    .host(self.host.as_deref().unwrap_or("localhost"))
                    .port(self.port_number(5432)?)
                    .database(database);
                if let Some(user) = &self.user {
                    options = options.username(user);
                }
                options
            }
        };
        // As the original: the password may come from DB_PASSWORD (or the file) when the DSN
        // has none.
        let dsn_password = self.dsn.as_deref().is_some_and(pg_dsn_has_password);
        if !dsn_password && let Some(password) = self.password.as_deref().filter(|p| !p.is_empty())
        {
            options = options.password(password);
        }
        if let Some(mode) = self.ssl_mode()? {
            options = options.ssl_mode(match mode {
                SslMode::Disable => PgSslMode::Disable,
                SslMode::Prefer => PgSslMode::Prefer,
                SslMode::Require => PgSslMode::Require,
                SslMode::VerifyCa => PgSslMode::VerifyCa,
                SslMode::VerifyFull => PgSslMode::VerifyFull,
            });
        }
        if let Some(path) = &self.ssl_root_cert_file {
            options = options.ssl_root_cert(path);
        }
        if let Some(path) = &self.ssl_cert_file {
            options = options.ssl_client_cert(path);
        }
        if let Some(path) = &self.ssl_key_file {
            options = options.ssl_client_key(path);
        }
        for key in self.params.keys() {
            validate_parameter_name(key)?;
        }
        // Plans made for the bound values: a generic plan cannot know how selective a label
        // or a name is, and would keep a bad choice for every later value.
        let mut runtime: Vec<(&str, &str)> = vec![("plan_cache_mode", "force_custom_plan")];
        runtime.retain(|(k, _)| !self.params.contains_key(*k));
        runtime.extend(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        options = options.options(runtime);
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        Ok((options, target))
    }

    fn mysql_options(&self) -> Result<(MySqlConnectOptions, String, SessionVariables)> {
        let mut session = Vec::new();
        let mut options = match self.dsn.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(dsn) if dsn.starts_with("mysql://") || dsn.starts_with("mariadb://") => {
                MySqlConnectOptions::from_str(&dsn.replacen("mariadb://", "mysql://", 1))
                    .map_err(|e| StorageError::config(format!("dsn: {e}")))?
            }
            Some(dsn) => {
                let parsed = parse_go_mysql_dsn(dsn)?;
                session.extend(parsed.session);
                parsed.options
            }
            None => {
                let database = self.required_database()?;
                let mut options = MySqlConnectOptions::new()
                    .host(self.host.as_deref().unwrap_or("localhost"))
                    .port(self.port_number(3306)?)
                    .database(database);
                if let Some(user) = &self.user {
                    options = options.username(user);
                }
                options
            }
        };
        if let Some(password) = self.password.as_deref().filter(|p| !p.is_empty())
            && (self.dsn.is_none() || !dsn_has_mysql_password(self.dsn.as_deref().unwrap_or("")))
        {
            options = options.password(password);
        }
        if let Some(mode) = self.ssl_mode()? {
            options = options.ssl_mode(match mode {
                SslMode::Disable => MySqlSslMode::Disabled,
                SslMode::Prefer => MySqlSslMode::Preferred,
                SslMode::Require => MySqlSslMode::Required,
                SslMode::VerifyCa => MySqlSslMode::VerifyCa,
                SslMode::VerifyFull => MySqlSslMode::VerifyIdentity,
            });
        }
        if let Some(path) = &self.ssl_root_cert_file {
            options = options.ssl_ca(path);
        }
        if let Some(path) = &self.ssl_cert_file {
            options = options.ssl_client_cert(path);
        }
        if let Some(path) = &self.ssl_key_file {
            options = options.ssl_client_key(path);
        }
        for (key, value) in &self.params {
            validate_parameter_name(key)?;
            session.push((key.clone(), value.clone()));
        }
        let target = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        Ok((options, target, session))
    }

    fn sqlite_options(&self) -> Result<(SqliteConnectOptions, String)> {
        let path = self
            .dsn
            .as_deref()
            .or(self.database.as_deref())
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                StorageError::config(
                    "dsn: missing; sqlite needs the database file (dsn or database)",
                )
            })?;
        let options = if path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(path)
                .map_err(|e| StorageError::config(format!("dsn: {e}")))?
        } else {
            // A Go-style `file:x.db?cache=shared` keeps its path only.
            let file = path.strip_prefix("file:").unwrap_or(path);
            let file = file.split_once('?').map_or(file, |(f, _)| f);
            SqliteConnectOptions::new().filename(file)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let target = options.get_filename().display().to_string();
        Ok((options, target))
    }

    fn required_database(&self) -> Result<&str> {
        self.database
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                StorageError::config("database: missing; give database (or DB_DATABASE) or a dsn")
            })
    }
}

/// MySQL session variables: (name, value).
type SessionVariables = Vec<(String, String)>;

/// The TLS modes of `sslMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// How statements are logged (through `tracing`).
#[derive(Debug, Clone, Copy)]
struct StatementLog {
    statements: LevelFilter,
    slow: LevelFilter,
    slow_threshold: Duration,
}

impl Default for StatementLog {
    fn default() -> Self {
        Self {
            statements: LevelFilter::Off,
            slow: LevelFilter::Off,
            slow_threshold: DEFAULT_SLOW_THRESHOLD,
        }
    }
}

fn apply_log<O: sqlx::ConnectOptions>(options: O, log: &StatementLog) -> O {
    options
        .log_statements(log.statements)
        .log_slow_statements(log.slow, log.slow_threshold)
}

/// A PostgreSQL run-time parameter or MySQL session variable name: letters, digits, `_`, `.`.
fn validate_parameter_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(StorageError::config(format!(
            "params: {name:?} is not a parameter name (letters, digits, '_' and '.')"
        )))
    }
}

/// Parses a libpq key/value connection string (`host=db port=5432 dbname=x sslmode=require`).
/// Keys libpq does not know become run-time parameters (as pgx does: `search_path=x`).
fn parse_libpq_dsn(dsn: &str) -> Result<PgConnectOptions> {
    let mut options = PgConnectOptions::new_without_pgpass();
    let mut runtime = Vec::new();
    let mut chars = dsn.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(StorageError::config(format!(
                "dsn: expected key=value, found {key:?} without '='"
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(StorageError::config(format!(
                            "dsn: unterminated quoted value of {key:?}"
                        )));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        options =
            match key.as_str() {
                "host" => options.host(&value),
                "port" => options.port(value.parse().map_err(|_| {
                    StorageError::config(format!("dsn: port {value:?} is not a TCP port number"))
                })?),
                "user" => options.username(&value),
                "password" => options.password(&value),
                "dbname" => options.database(&value),
                "sslmode" => options.ssl_mode(value.parse().map_err(|_| {
                    StorageError::config(format!("dsn: unknown sslmode {value:?}"))
                })?),
                "sslrootcert" => options.ssl_root_cert(&value),
                "sslcert" => options.ssl_client_cert(&value),
                "sslkey" => options.ssl_client_key(&value),
                "application_name" => options.application_name(&value),
                "connect_timeout" | "TimeZone" | "timezone" => options,
                _ => {
                    validate_parameter_name(&key)?;
                    runtime.push((key, value));
                    options
                }
            };
    }
    if !runtime.is_empty() {
        options = options.options(runtime.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    Ok(options)
}

/// Whether a PostgreSQL DSN (URL or key/value) carries a password.
fn pg_dsn_has_password(dsn: &str) -> bool {
    match dsn.split_once("://") {
        Some((_, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            authority
                .rsplit_once('@')
                .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        }
        None => dsn.contains("password"),
    }
}

/// A go-sql-driver MySQL DSN: `[user[:password]@][tcp[(host[:port])]]/dbname[?k=v&…]`.
struct GoMySqlDsn {
    options: MySqlConnectOptions,
    session: Vec<(String, String)>,
}

fn dsn_has_mysql_password(dsn: &str) -> bool {
    dsn.rsplit_once('@')
        .is_some_and(|(credentials, _)| credentials.contains(':'))
}

fn parse_go_mysql_dsn(dsn: &str) -> Result<GoMySqlDsn> {
    let bad = |why: &str| {
        StorageError::config(format!(
            "dsn: {why} (want user:password@tcp(host:port)/database)"
        ))
    };
    let (before_params, params) = dsn.split_once('?').unwrap_or((dsn, ""));
    let (address_part, database) = before_params
        .rsplit_once('/')
        .ok_or_else(|| bad("no /database"))?;
    let (credentials, address) = match address_part.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, address_part),
    };
    let mut options = MySqlConnectOptions::new();
    if !database.is_empty() {
        options = options.database(database);
    }
    if let Some(credentials) = credentials {
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        options = options.username(user);
        if !password.is_empty() {
            options = options.password(password);
        }
    }
    if !address.is_empty() {
        let (network, inner) = match address.split_once('(') {
            Some((network, rest)) => (
                network,
                rest.strip_suffix(')')
                    .ok_or_else(|| bad("unclosed '(' in the address"))?,
            ),
            None => ("tcp", address),
        };
        match network {
            "tcp" => {
                let (host, port) = match inner.rsplit_once(':') {
                    Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad("bad port"))?),
                    None => (inner, 3306),
                };
                options = options
                    .host(if host.is_empty() { "localhost" } else { host })
                    .port(port);
            }
            "unix" => options = options.socket(inner),
            other => return Err(bad(&format!("unknown network {other:?}"))),
        }
    }
    let mut session = Vec::new();
    for pair in params.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "charset" => options = options.charset(value.split(',').next().unwrap_or(value)),
            "collation" => options = options.collation(value),
            "tls" => {
                options = options.ssl_mode(match value {
                    "true" | "skip-verify" | "preferred" => MySqlSslMode::Required,
                    "false" => MySqlSslMode::Disabled,
                    _ => MySqlSslMode::VerifyIdentity,
                });
            }
            // Driver switches that do not apply to sqlx.
            "parseTime"
            | "loc"
            | "timeout"
            | "readTimeout"
            | "writeTimeout"
            | "allowNativePasswords"
            | "allowCleartextPasswords"
            | "allowOldPasswords"
            | "allowAllFiles"
            | "clientFoundRows"
            | "columnsWithAlias"
            | "interpolateParams"
            | "multiStatements"
            | "maxAllowedPacket"
            | "rejectReadOnly"
            | "checkConnLiveness"
            | "serverPubKey"
            | "autocommit" => {}
            // Anything else is a system variable, as go-sql-driver sets it.
            _ => {
                validate_parameter_name(key)?;
                session.push((key.to_owned(), value.trim_matches('\'').to_owned()));
            }
        }
    }
    Ok(GoMySqlDsn { options, session })
}

/// Where the embedded SQLite database lives when no configuration is given:
/// `$XDG_DATA_HOME/clusterpedia/internal.db`, else `$HOME/.local/share/clusterpedia/internal.db`,
/// else `./clusterpedia.db`.
pub fn default_sqlite_path(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    let non_empty = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(data) = non_empty("XDG_DATA_HOME") {
        return data.join("clusterpedia").join("internal.db");
    }
    if let Some(home) = non_empty("HOME") {
        return home.join(".local/share/clusterpedia/internal.db");
    }
    PathBuf::from("clusterpedia.db")
}

/// Parses the optional duration of configuration key `key` ([`storage_api::Duration`]: Go
/// syntax, or a number of seconds).
fn duration_of(key: &str, text: Option<&String>) -> Result<Option<Duration>> {
    text.map(|t| {
        t.parse::<storage_api::Duration>()
            .map(Duration::from)
            .map_err(|why| StorageError::config(format!("{key}: {why}")))
    })
    .transpose()
}

/// A YAML scalar (string, number or boolean) read as its text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ScalarVisitor;
        impl de::Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(deserializer)?.map(|s| s.0))
}

fn scalar_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    Ok(
        Option::<BTreeMap<String, Scalar>>::deserialize(deserializer)?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn error_of(yaml: &str) -> String {
        match InternalConfig::from_yaml(yaml).and_then(|c| c.with_env(no_env).connection()) {
            Ok(c) => panic!("{yaml:?} should fail, got {:?}", c.target),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn original_files_parse() {
        let yaml = r#"
type: "mysql"
host: "clusterpedia-internalstorage-mysql"
port: 3306
user: root
database: "clusterpedia"
connPool:
  maxIdleConns: 10
  maxOpenConns: 100
  connMaxLifetime: 1h
log:
  stdout: true
  level: "Warn"
  slowThreshold: "100ms"
  logger:
    filename: /var/log/clusterpedia/internalstorage.log
    maxbackups: 3
mysql:
  recoverableErrNumbers: [1317]
  parseTime: true
"#;
        let config = InternalConfig::from_yaml(yaml).expect("parses");
        let connection = config
            .with_env(|name| (name == "DB_PASSWORD").then(|| "secret".to_owned()))
            .connection()
            .expect("valid");
        assert_eq!(connection.dialect, Dialect::MySql);
        assert_eq!(
            connection.target,
            "clusterpedia-internalstorage-mysql:3306/clusterpedia"
        );
        assert_eq!(connection.pool.max_connections, 100);
        assert_eq!(connection.recoverable_mysql, [1317]);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(error_of("type: postgres\nhots: x\n").contains("unknown field `hots`"));
        assert!(
            error_of("host: x\ndatabase: d\n")
                .starts_with("invalid storage configuration: type: missing")
        );
        assert!(error_of("type: oracle\n").contains("type: unknown database type \"oracle\""));
        assert!(error_of("type: postgres\nhost: x\n").contains("database: missing"));
        assert!(error_of("type: postgres\ndatabase: d\nport: http\n").contains("port: \"http\""));
        assert!(
            error_of("type: mysql\ndatabase: d\nconnPool: {maxIdleConns: 9, maxOpenConns: 3}\n")
                .contains("connPool.maxIdleConns (9) must not exceed")
        );
        assert!(
            error_of("type: postgres\ndatabase: d\nsslMode: sometimes\n")
                .contains("sslMode: unknown mode")
        );
        assert!(
            error_of("type: postgres\ndatabase: d\nlog: {level: Loud}\n").contains("log.level")
        );
        assert!(
            error_of("type: postgres\ndatabase: d\nconnPool: {connMaxLifetime: soon}\n")
                .contains("connMaxLifetime")
        );
        assert!(error_of("type: sqlite\n").contains("dsn: missing"));
    }

    #[test]
    fn full_text_exclusions_name_resources() {
        let connection = InternalConfig::from_yaml(
            "type: postgres\ndatabase: d\nfullTextSearch: {exclude: [pods, events.events.k8s.io]}\n",
        )
        .and_then(|c| c.with_env(no_env).connection())
        .expect("valid");
        let scope = &connection.full_text;
        assert!(!scope.includes("", "pods"));
        assert!(!scope.includes("events.k8s.io", "events"));
        assert!(scope.includes("", "events"), "only the group named");
        assert!(scope.includes("apps", "deployments"));
        for bad in ["Pods", "\"\"", ".apps", "pods.", "pods apps"] {
            let yaml =
                format!("type: postgres\ndatabase: d\nfullTextSearch: {{exclude: [{bad}]}}\n");
            assert!(
                error_of(&yaml).contains("fullTextSearch.exclude"),
                "{bad}: {}",
                error_of(&yaml)
            );
        }
    }

    #[test]
    fn watch_settings_have_defaults_and_named_errors() {
        let connection = InternalConfig::from_yaml("type: sqlite\ndsn: /tmp/x.db\n")
            .and_then(|c| c.connection())
            .expect("defaults");
        assert_eq!(connection.watch, WatchSettings::default());
        let connection = InternalConfig::from_yaml(
            "type: sqlite\ndsn: /tmp/x.db\nwatch: {maxAge: 10m, maxCount: 500, pollInterval: 1s, bookmarkInterval: 5s}\n",
        )
        .and_then(|c| c.connection())
        .expect("set");
        assert_eq!(connection.watch.retention.max_count, 500);
        assert_eq!(connection.watch.retention.max_age, Duration::from_secs(600));
        assert_eq!(connection.watch.poll_interval, Duration::from_secs(1));
        assert_eq!(connection.watch.bookmark_interval, Duration::from_secs(5));
        assert!(
            error_of("type: sqlite\ndsn: x\nwatch: {maxCount: 0}\n").contains("watch.maxCount")
        );
        assert!(
            error_of("type: sqlite\ndsn: x\nwatch: {pollInterval: soon}\n")
                .contains("watch.pollInterval")
        );
        assert!(error_of("type: sqlite\ndsn: x\nwatch: {maxAge: 0s}\n").contains("watch.maxAge"));
        assert!(error_of("type: sqlite\ndsn: x\nwatch: {retention: 1}\n").contains("retention"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let config =
            InternalConfig::from_yaml("type: mysql\nhost: a\ndatabase: d\n").expect("parses");
        let env = |name: &str| match name {
            "DB_TYPE" => Some("postgres".to_owned()),
            "DB_HOST" => Some("db.example".to_owned()),
            "DB_PORT" => Some("6543".to_owned()),
            "DB_DATABASE" => Some(String::new()),
            _ => None,
        };
        let connection = config.with_env(env).connection().expect("valid");
        assert_eq!(connection.dialect, Dialect::Postgres);
        assert_eq!(
            connection.target, "db.example:6543/d",
            "empty variables do not override"
        );
    }

    #[test]
    fn dsns_of_each_driver() {
        let pg = parse_libpq_dsn(
            "host=db port=5433 user=u dbname='my db' sslmode=disable search_path=cp",
        )
        .expect("libpq dsn");
        assert_eq!((pg.get_host(), pg.get_port()), ("db", 5433));
        assert_eq!(pg.get_database(), Some("my db"));
        assert!(parse_libpq_dsn("host").is_err());

        let my = parse_go_mysql_dsn(
            "root:pw@tcp(10.0.0.1:3307)/cp?charset=utf8mb4&parseTime=true&sql_mode=ANSI",
        )
        .expect("go dsn");
        assert_eq!(
            (my.options.get_host(), my.options.get_port()),
            ("10.0.0.1", 3307)
        );
        assert_eq!(my.options.get_database(), Some("cp"));
        assert_eq!(my.session, [("sql_mode".to_owned(), "ANSI".to_owned())]);
        assert!(dsn_has_mysql_password("root:pw@tcp(x)/cp"));
        assert!(!dsn_has_mysql_password("root@tcp(x)/cp"));
    }

    #[test]
    fn debug_leaves_secrets_out() {
        let config = InternalConfig::from_yaml(
            "type: postgres\nhost: db\nuser: u\npassword: hunter2\ndatabase: d\n",
        )
        .expect("parses");
        let with_dsn = InternalConfig {
            dsn: Some("postgres://u:hunter2@db:5432/d".into()),
            ..config.clone()
        };
        let mysql = InternalConfig::from_yaml("type: mysql\ndsn: \"u:hunter2@tcp(db:3306)/d\"\n")
            .expect("parses");
        let shown = [
            format!("{config:?}"),
            format!("{with_dsn:#?}"),
            format!("{:?}", config.connection().expect("valid")),
            format!("{:?}", with_dsn.connection().expect("valid")),
            format!("{:?}", mysql.connection().expect("valid")),
        ];
        for shown in shown {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert!(format!("{config:?}").contains("password: Some(\"<redacted>\")"));
    }

    #[test]
    fn durations_and_defaults() {
        let parse_go_duration =
            |text: &str| text.parse::<storage_api::Duration>().map(Duration::from);
        assert_eq!(parse_go_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_go_duration("fast").is_err());
        let connection = InternalConfig::from_yaml(
            "type: postgres\ndatabase: d\nconnPool: {connMaxLifetime: 10m}\n",
        )
        .expect("parses")
        .connection()
        .expect("valid");
        assert_eq!(
            connection.pool.max_lifetime,
            Some(Duration::from_secs(3600))
        );
        assert_eq!(connection.pool.max_connections, DEFAULT_MAX_OPEN_CONNS);
        let home = |name: &str| (name == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(
            default_sqlite_path(home),
            PathBuf::from("/home/u/.local/share/clusterpedia/internal.db")
        );
    }
}
