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
//!   slowThreshold: 100ms
//! ```
//!
//! Unknown keys and bad values are refused with a [`StorageError::Config`] naming the file and
//! the key: a typo must stop the process at start-up, not be ignored.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use storage_api::{Result, StorageError};

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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
        deserialize_with = "deserialize_duration"
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
    /// Fails with [`StorageError::Config`] naming the file (and the key, for a bad or unknown
    /// key).
    pub fn from_file(path: &Path) -> Result<Self> {
        let error = |message: String| {
            StorageError::config(format!("{LAYER_NAME} config {}: {message}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
        let mut config = Self::from_yaml(&text).map_err(error)?;
        if config.password.is_none() {
            config.password = std::env::var(PASSWORD_ENV).ok();
        }
        Ok(config)
    }

    /// Parses and validates a YAML document. The error names the key at fault.
    pub fn from_yaml(text: &str) -> std::result::Result<Self, String> {
        let config: Self = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        if config.database.trim().is_empty() {
            return Err("database: must not be empty".into());
        }
        if config.database_type == DatabaseType::Sqlite && config.database.contains(":memory:") {
            // Each pooled connection would open its own empty in-memory database, and the
            // pool closes idle connections: the data would vanish.
            return Err(
                "database: an in-memory SQLite database cannot be shared by the \
                        connections of a pool; give a file path"
                    .into(),
            );
        }
        Ok(config)
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

/// A duration written with its unit (`100ms`, `2s`, `1m`, `1h`): a bare number is refused, as
/// it would mean nanoseconds to the original and milliseconds to a reader.
fn deserialize_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Duration, D::Error> {
    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as 100ms, 2s, 1m or 1h")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Duration, E> {
            parse_duration(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
        }
    }

    deserializer.deserialize_any(DurationVisitor)
}

/// Parses `100ms`, `2s`, `1m` or `1h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
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
                "type: mysql\ndatabase: x\nlog: {slowThreshold: 100}",
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

    #[test]
    fn durations_take_units() {
        for (text, millis) in [
            ("100ms", 100),
            ("2s", 2_000),
            ("1m", 60_000),
            ("1h", 3_600_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(millis)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("250"), None);
    }
}
