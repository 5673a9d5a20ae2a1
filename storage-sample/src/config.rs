//! The configuration file (`--storage-config`, YAML). Its keys are those of the example plugin of
//! the Go original, so that its files keep working:
//!
//! ```yaml
//! type: mysql              # mysql (MySQL or MariaDB) | postgres | sqlite
//! host: 127.0.0.1          # default 127.0.0.1 (not used by sqlite)
//! port: "3306"             # a string or a number; default 3306 / 5432 (not used by sqlite)
//! user: root               # default: the driver's (root / postgres)
//! password: dangerous0     # or leave it out and set DB_PASSWORD (how the charts pass a Secret)
//! database: clusterpedia   # for sqlite: the database file, created if missing
//! log:                     # without it, nothing is logged
//!   stdout: true
//!   colorful: true
//!   slowThreshold: 100ms   # Go syntax (500ms, 1m30s); a bare number is seconds
//! ```
//!
//! Unknown keys and bad values are refused with a
//! [`StorageError::Config`](storage_api::StorageError::Config) naming the file and
//! the key: a typo must stop the process at start-up, not be ignored.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use storage_api::{ConfigError, Result, config};

use crate::LAYER_NAME;

/// The environment variable that supplies the password when the file has none. The Helm charts
/// of the original set it from a Secret (`storage.componentEnv`), so that the password is not
/// written in the ConfigMap.
pub const PASSWORD_ENV: &str = "DB_PASSWORD";

/// The default of [`LogConfig::slow_threshold`] (the original's).
pub const DEFAULT_SLOW_THRESHOLD: Duration = Duration::from_millis(200);

/// The database server (or file) to store into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseType {
    /// MySQL 8 or MariaDB 10.5 and later.
    Mysql,
    /// PostgreSQL 12 and later.
    Postgres,
    /// A SQLite database file (`sqlite3` is accepted too, as in the original).
    #[serde(alias = "sqlite3")]
    Sqlite,
}

/// The layer's configuration: where the database is, and what to log.
///
/// Its `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// The kind of database.
    #[serde(rename = "type")]
    pub database_type: DatabaseType,
    /// The server's host name or address; `None`: 127.0.0.1.
    #[serde(default)]
    pub host: Option<String>,
    /// The server's port; `None`: the default port of the database type.
    #[serde(default, deserialize_with = "deserialize_port")]
    pub port: Option<u16>,
    /// The user to log in as; `None`: the driver's default.
    #[serde(default)]
    pub user: Option<String>,
    /// The password; `None`: [`PASSWORD_ENV`] if set, else none.
    #[serde(default)]
    pub password: Option<String>,
    /// The database (it must exist: creating databases is the deployment's job, as in the
    /// original's charts); for SQLite, the path of the database file, created if missing.
    pub database: String,
    /// Logging of the SQL statements; `None`: nothing is logged.
    #[serde(default)]
    pub log: Option<LogConfig>,
}

/// What the layer logs about its SQL statements.
///
/// They go to the component's log (stderr, in the format chosen by `--logging-format`) under
/// the target `sqlx::query`: every statement at debug level (shown with `-v 1`), statements
/// slower than [`LogConfig::slow_threshold`] as warnings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogConfig {
    /// Accepted for compatibility with the original's files, where `false` meant "to a file";
    /// here the component's log is the one destination.
    #[serde(default)]
    pub stdout: bool,
    /// Accepted for compatibility with the original's files; colours follow the component's
    /// log format.
    #[serde(default)]
    pub colorful: bool,
    /// Statements that take longer are logged as warnings.
    #[serde(
        default = "default_slow_threshold",
        deserialize_with = "storage_api::duration::deserialize"
    )]
    pub slow_threshold: Duration,
}

fn default_slow_threshold() -> Duration {
    DEFAULT_SLOW_THRESHOLD
}

impl SampleConfig {
    /// Reads and validates the YAML file at `path`; the password comes from [`PASSWORD_ENV`]
    /// when the file has none.
    ///
    /// Fails with [`StorageError::Config`](storage_api::StorageError::Config) naming the file (and the key, for a bad or unknown
    /// key).
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut config: Self = config::load_yaml(LAYER_NAME, path)?;
        config
            .validate()
            .map_err(|message| ConfigError::new(message).in_file(LAYER_NAME, path))?;
        if config.password.is_none() {
            config.password = std::env::var(PASSWORD_ENV).ok();
        }
        Ok(config)
    }

    /// Parses and validates a YAML document. The error names the key at fault.
    pub fn from_yaml(text: &str) -> std::result::Result<Self, String> {
        let config: Self = config::parse_yaml(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// The checks serde cannot make. The error names the key.
    fn validate(&self) -> std::result::Result<(), String> {
        if self.database.trim().is_empty() {
            return Err("database: must not be empty".into());
        }
        if self.database_type == DatabaseType::Sqlite && self.database.contains(":memory:") {
            // Each pooled connection would open its own empty in-memory database, and the
            // pool closes idle connections: the data would vanish.
            return Err(
                "database: an in-memory SQLite database cannot be shared by the \
                        connections of a pool; give a file path"
                    .into(),
            );
        }
        Ok(())
    }
}

impl fmt::Debug for SampleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            database_type,
            host,
            port,
            user,
            password,
            database,
            log,
        } = self;
        f.debug_struct("SampleConfig")
            .field("database_type", database_type)
            .field("host", host)
            .field("port", port)
            .field("user", user)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .field("database", database)
            .field("log", log)
            .finish()
    }
}

/// A port written as a number (`3306`) or a string (`"3306"`), as the original accepted both.
fn deserialize_port<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<u16>, D::Error> {
    struct PortVisitor;

    impl Visitor<'_> for PortVisitor {
        type Value = Option<u16>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port number (1-65535), as a number or a string")
        }

        fn visit_u64<E: de::Error>(self, port: u64) -> std::result::Result<Self::Value, E> {
            u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .map(Some)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(port), &self))
        }

        fn visit_i64<E: de::Error>(self, port: i64) -> std::result::Result<Self::Value, E> {
            u64::try_from(port)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(port), &self))
                .and_then(|port| self.visit_u64(port))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Self::Value, E> {
            let port: u64 = text
                .trim()
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))?;
            self.visit_u64(port)
        }

        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
    }

    deserializer.deserialize_any(PortVisitor)
}

#[cfg(test)]
mod tests {
    use storage_api::StorageError;

    use super::*;

    /// The file shipped with the crate, which is the user's example.
    const EXAMPLE: &str = include_str!("../example-config.yaml");

    #[test]
    fn the_shipped_example_is_the_users_example() {
        let config = SampleConfig::from_yaml(EXAMPLE).expect("example-config.yaml is valid");
        assert_eq!(
            config,
            SampleConfig {
                database_type: DatabaseType::Mysql,
                host: Some("127.0.0.1".into()),
                port: Some(3306),
                user: Some("root".into()),
                password: Some("dangerous0".into()),
                database: "clusterpedia".into(),
                log: Some(LogConfig {
                    stdout: true,
                    colorful: true,
                    slow_threshold: Duration::from_millis(100),
                }),
            }
        );
    }

    #[test]
    fn ports_are_numbers_or_strings_and_the_rest_is_optional() {
        let config = SampleConfig::from_yaml("type: postgres\nport: 5433\ndatabase: cp\n")
            .expect("number port");
        assert_eq!(
            (config.database_type, config.port, config.host, config.log),
            (DatabaseType::Postgres, Some(5433), None, None)
        );
        let config = SampleConfig::from_yaml("type: sqlite3\ndatabase: /tmp/cp.db\nlog: {}\n")
            .expect("sqlite3 alias");
        assert_eq!(config.database_type, DatabaseType::Sqlite);
        assert_eq!(
            config.log.map(|l| l.slow_threshold),
            Some(DEFAULT_SLOW_THRESHOLD)
        );
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let cases = [
            ("type: oracle\ndatabase: x", "oracle"),
            ("type: mysql\ndatabase: x\nhots: db", "hots"),
            ("type: mysql\ndatabase: x\nport: \"33o6\"", "port"),
            ("type: mysql\ndatabase: x\nport: 70000", "port"),
            ("type: mysql\ndatabase: \"\"", "database"),
            ("type: mysql", "database"),
            ("database: x", "type"),
            ("type: sqlite\ndatabase: \":memory:\"", "in-memory"),
            (
                "type: mysql\ndatabase: x\nlog: {slowThreshold: soon}",
                "slowThreshold",
            ),
            (
                "type: mysql\ndatabase: x\nlog: {slowThreshold: 100d}",
                "slowThreshold",
            ),
            ("type: mysql\ndatabase: x\nlog: {level: info}", "level"),
        ];
        for (text, expected) in cases {
            let message = SampleConfig::from_yaml(text).expect_err(text);
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn files_are_named_in_errors() {
        let dir =
            std::env::temp_dir().join(format!("storage-sample-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("sample.yaml");
        std::fs::write(&path, "type: mysql\ndatabse: cp\n").expect("write");
        let error = SampleConfig::from_file(&path).expect_err("unknown key");
        let text = error.to_string();
        assert!(
            text.contains("sample.yaml") && text.contains("databse"),
            "{text}"
        );
        assert!(matches!(error, StorageError::Config { .. }), "{error:?}");
        let missing = SampleConfig::from_file(&dir.join("absent.yaml")).expect_err("missing");
        assert!(missing.to_string().contains("absent.yaml"), "{missing}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    /// `log.slowThreshold` read from `text`.
    fn slow_threshold(text: &str) -> Option<Duration> {
        SampleConfig::from_yaml(&format!(
            "type: mysql\ndatabase: x\nlog: {{slowThreshold: {text}}}"
        ))
        .ok()?
        .log
        .map(|log| log.slow_threshold)
    }

    #[test]
    fn durations_take_units() {
        for (text, millis) in [
            ("100ms", 100),
            ("2s", 2_000),
            ("1m", 60_000),
            ("1h", 3_600_000),
        ] {
            assert_eq!(
                slow_threshold(text),
                Some(Duration::from_millis(millis)),
                "{text}"
            );
        }
        // The one duration grammar of every layer (`storage_api::Duration`): Go's fractions and
        // compound units, and a bare number is seconds (it used to be refused here).
        assert_eq!(slow_threshold("1.5s"), Some(Duration::from_millis(1_500)));
        assert_eq!(slow_threshold("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(slow_threshold("250"), Some(Duration::from_secs(250)));
        assert_eq!(slow_threshold("\"250\""), Some(Duration::from_secs(250)));
        assert_eq!(slow_threshold("soon"), None);
    }

    #[test]
    fn debug_leaves_the_password_out() {
        let config = SampleConfig::from_yaml(EXAMPLE).expect("valid");
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(!shown.contains("dangerous0"), "{shown}");
            assert!(
                shown.contains("<redacted>") && shown.contains("clusterpedia"),
                "{shown}"
            );
        }
    }
}
