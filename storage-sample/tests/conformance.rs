//! The conformance suite (`storage-conformance`) against the sample layer, on each database it supports:
//! MySQL/MariaDB, PostgreSQL and SQLite.
//!
//! Every check gets a database of its own, so that the checks can run in parallel: a new
//! database `sample_<random>` on the server (the servers must be running: an unreachable one
//! fails the checks, it is never skipped), or a new SQLite file in the temporary directory.
//! A check that passes drops its database; one that fails leaves it for inspection.
//!
//! | database | server (environment variable, default) |
//! |---|---|
//! | MySQL/MariaDB | `SAMPLE_TEST_MYSQL_URL`, `mysql://root@127.0.0.1:3306/test` |
//! | PostgreSQL | `SAMPLE_TEST_POSTGRES_URL`, `postgres://postgres@127.0.0.1:5432/postgres` |
//! | SQLite | none |
//!
//! Run one database, or one theme: `cargo test -p storage-sample --test conformance sqlite::`,
//! `cargo test -p storage-sample --test conformance mysql::conformance::paging`.

mod mysql {
    async fn new_factory() -> std::sync::Arc<dyn storage_api::StorageFactory> {
        super::scratch::on_server(
            storage_sample::DatabaseType::Mysql,
            "SAMPLE_TEST_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/test",
        )
        .await
    }

    storage_conformance::conformance_tests!(new_factory);
}

mod postgres {
    async fn new_factory() -> std::sync::Arc<dyn storage_api::StorageFactory> {
        super::scratch::on_server(
            storage_sample::DatabaseType::Postgres,
            "SAMPLE_TEST_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .await
    }

    storage_conformance::conformance_tests!(new_factory);
}

mod sqlite {
    async fn new_factory() -> std::sync::Arc<dyn storage_api::StorageFactory> {
        super::scratch::in_temporary_file().await
    }

    storage_conformance::conformance_tests!(new_factory);
}

/// Fresh, empty layers on throwaway databases, dropped when the layer shuts down.
mod scratch {
    use std::path::PathBuf;
    use std::sync::Arc;

    use async_trait::async_trait;
    use sqlx::any::AnyConnectOptions;
    use sqlx::{AnyConnection, AssertSqlSafe, Connection as _};
    use storage_api::StorageFactory;
    use storage_api::testing::{Forwarding, Probe};
    use storage_sample::{DatabaseType, SampleConfig, SampleStorageFactory};

    /// A name no other check (or run) uses.
    fn unique_name() -> String {
        format!("sample_{:016x}", fastrand::u64(..))
    }

    /// A layer on a new database of the server at `$url_variable` (default `default_url`).
    pub(super) async fn on_server(
        database_type: DatabaseType,
        url_variable: &str,
        default_url: &str,
    ) -> Arc<dyn StorageFactory> {
        let url = std::env::var(url_variable).unwrap_or_else(|_| default_url.to_owned());
        let name = unique_name();
        sqlx::any::install_default_drivers();
        let mut admin = AnyConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!("cannot connect to {url} (set {url_variable} to the test server): {e}")
        });
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name} on {url}: {e}"));
        admin.close().await.ok();
        let server: AnyConnectOptions = url.parse().expect("a database URL");
        let server = server.database_url;
        let config = SampleConfig {
            database_type,
            host: server.host_str().map(str::to_owned),
            port: server.port(),
            user: Some(server.username().to_owned()).filter(|u| !u.is_empty()),
            password: server.password().map(str::to_owned),
            database: name.clone(),
            log: None,
        };
        start(config, Scratch::Database { url, name }).await
    }

    /// A layer on a new SQLite file in the temporary directory.
    pub(super) async fn in_temporary_file() -> Arc<dyn StorageFactory> {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
        let config = SampleConfig {
            database_type: DatabaseType::Sqlite,
            host: None,
            port: None,
            user: None,
            password: None,
            database: path.display().to_string(),
            log: None,
        };
        start(config, Scratch::File(path)).await
    }

    /// What to remove after the layer has shut down.
    enum Scratch {
        Database { url: String, name: String },
        File(PathBuf),
    }

    impl Scratch {
        async fn remove(&self) {
            match self {
                Self::Database { url, name } => {
                    let mut admin = AnyConnection::connect(url).await.expect("reconnect");
                    sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name}")))
                        .execute(&mut admin)
                        .await
                        .unwrap_or_else(|e| panic!("cannot drop database {name}: {e}"));
                    admin.close().await.ok();
                }
                Self::File(path) => {
                    for suffix in ["", "-journal", "-wal", "-shm"] {
                        let mut file = path.clone().into_os_string();
                        file.push(suffix);
                        std::fs::remove_file(file).ok();
                    }
                }
            }
        }
    }

    /// Starts the layer; its scratch database is removed when it shuts down (the suite shuts
    /// down the layer of each check that passes).
    async fn start(config: SampleConfig, scratch: Scratch) -> Arc<dyn StorageFactory> {
        let layer = SampleStorageFactory::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("cannot start the layer on {}: {e}", config.database));
        Arc::new(Forwarding::with_probe(Arc::new(layer), scratch))
    }

    #[async_trait]
    impl Probe for Scratch {
        async fn after_shutdown(&self) {
            self.remove().await;
        }
    }
}
