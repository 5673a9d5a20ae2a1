//! [`InternalStorageFactory`]: the connection pool, the schema, and what spans resources
//! (resource versions, stored resource types, cleanup, collections).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _};
use storage_api::collection::CollectionResource;
use storage_api::registry::FactoryFuture;
use storage_api::{
    ClusterResourceVersions, CollectionResourceStorage, Gvr, ListOptions, ResourceStorage,
    ResourceStorageConfig, Result, StorageError, StorageFactory, StoredResourceType, Verb,
    object::namespaced_name,
};

use crate::changelog::{self, ChangeLog};
use crate::config::{ConnectOptions, Connection, InternalConfig, default_sqlite_path};
use crate::db::{Col, Db, Pool};
use crate::dialect::Dialect;
use crate::error::ErrorPolicy;
use crate::events;
use crate::query::{ListQuery, Scope};
use crate::resource::{InternalCollectionStorage, InternalResourceStorage};
use crate::schema;
use crate::sql::Sql;
use crate::watch::Hub;

/// The `internal` layer: one connection pool shared by every storage it makes.
#[derive(Debug, Clone)]
pub struct InternalStorageFactory {
    db: Db,
    target: String,
    log: ChangeLog,
    hub: Arc<Hub>,
}

/// The registry's constructor: the configuration file when given (with the `DB_*`
/// environment overrides), else the `DB_*` variables alone when they name a database type,
/// else the embedded SQLite database file.
pub(crate) fn new_factory(path: Option<PathBuf>) -> FactoryFuture {
    Box::pin(async move {
        let factory = build(path, &|name| std::env::var(name).ok()).await?;
        Ok(Arc::new(factory) as Arc<dyn StorageFactory>)
    })
}

/// [`new_factory`] with the environment read through `env`.
async fn build(
    path: Option<PathBuf>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<InternalStorageFactory> {
    let config = match &path {
        Some(path) => InternalConfig::from_file(path)?.with_env(env),
        None => {
            let from_env = InternalConfig::default().with_env(env);
            if from_env.db_type.is_some() {
                from_env
            } else {
                let file = default_sqlite_path(env);
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::private::create_private_dir(dir).map_err(|e| {
                        StorageError::config(format!(
                            "embedded SQLite database: cannot create {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                tracing::info!(
                    path = %file.display(),
                    "no --storage-config: the internal storage uses an embedded SQLite database"
                );
                InternalConfig::sqlite(&file)
            }
        }
    };
    InternalStorageFactory::connect(config.connection()?).await
}

/// How long a readiness check waits for the database.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sets the statement timeout of a MySQL or MariaDB connection: MariaDB's
/// `max_statement_time` (seconds), else MySQL's `max_execution_time` (milliseconds, `SELECT`
/// only).
async fn set_mysql_statement_timeout(
    conn: &mut sqlx::MySqlConnection,
    ms: u64,
) -> std::result::Result<(), sqlx::Error> {
    let mariadb = format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0);
    if conn.execute(AssertSqlSafe(mariadb)).await.is_ok() {
        return Ok(());
    }
    conn.execute(AssertSqlSafe(format!(
        "SET SESSION max_execution_time = {ms}"
    )))
    .await
    .map(|_| ())
}

impl InternalStorageFactory {
    /// Connects (one connection is opened now, so that an unreachable database is reported
    /// at start-up, naming where it was looked for) and brings the schema up to date.
    pub async fn connect(connection: Connection) -> Result<Self> {
        let settings = connection.pool.clone();
        let target = connection.target.clone();
        let dialect = connection.dialect;
        let unreachable = |e: sqlx::Error| {
            StorageError::unavailable(
                format!("cannot connect to {} at {target}: {e}", dialect.name()),
                e,
            )
        };
        // One direct connection first: the pool would retry a refused connection until its
        // acquire timeout, and the answer "it is not there" should come at once.
        if let ConnectOptions::Sqlite(options) = &connection.options {
            let file = options.get_filename();
            crate::private::create_private_file(file).map_err(|e| {
                StorageError::config(format!(
                    "SQLite database: cannot create {}: {e}",
                    file.display()
                ))
            })?;
        }
        let probe = async {
            match &connection.options {
                ConnectOptions::Postgres(o) => o.connect().await?.close().await,
                ConnectOptions::MySql(o) => o.connect().await?.close().await,
                ConnectOptions::Sqlite(o) => o.connect().await?.close().await,
            }
        };
        match tokio::time::timeout(settings.acquire_timeout, probe).await {
            Ok(result) => result.map_err(unreachable)?,
            Err(_) => {
                return Err(StorageError::Unavailable {
                    message: format!(
                        "cannot connect to {} at {target}: no answer within {:?}",
                        dialect.name(),
                        settings.acquire_timeout
                    ),
                    source: None,
                });
            }
        }
        macro_rules! pool_options {
            ($options:ty) => {
                <$options>::new()
                    .max_connections(settings.max_connections)
                    .min_connections(settings.min_connections)
                    .max_lifetime(settings.max_lifetime)
                    .acquire_timeout(settings.acquire_timeout)
            };
        }
        // The statement timeout of every connection, in milliseconds (an integer: safe to
        // write into the statement, which takes no parameter).
        let timeout_ms = settings
            .statement_timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1));
        let pool = match connection.options {
            ConnectOptions::Postgres(options) => Pool::Postgres(
                pool_options!(sqlx::postgres::PgPoolOptions)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            if let Some(ms) = timeout_ms {
                                conn.execute(AssertSqlSafe(format!(
                                    "SET statement_timeout = {ms}; \
                                     SET idle_in_transaction_session_timeout = {ms}"
                                )))
                                .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(unreachable)?,
            ),
            ConnectOptions::MySql(options) => {
                let session = Arc::new(connection.mysql_session.clone());
                Pool::MySql(
                    pool_options!(sqlx::mysql::MySqlPoolOptions)
                        .after_connect(move |conn, _| {
                            let session = session.clone();
                            Box::pin(async move {
                                for (name, value) in session.iter() {
                                    // The name is validated by the configuration (letters,
                                    // digits, '_' and '.'); the value is bound.
                                    let statement = format!("SET SESSION {name} = ?");
                                    conn.execute(
                                        sqlx::query(AssertSqlSafe(statement)).bind(value.as_str()),
                                    )
                                    .await?;
                                }
                                if let Some(ms) = timeout_ms {
                                    set_mysql_statement_timeout(conn, ms).await?;
                                }
                                Ok(())
                            })
                        })
                        .connect_with(options)
                        .await
                        .map_err(unreachable)?,
                )
            }
            ConnectOptions::Sqlite(options) => Pool::Sqlite(
                pool_options!(sqlx::sqlite::SqlitePoolOptions)
                    .connect_with(options)
                    .await
                    .map_err(unreachable)?,
            ),
        };
        let errors = ErrorPolicy::new(
            dialect,
            connection.recoverable_postgres.clone(),
            connection.recoverable_mysql.clone(),
        );
        let db = Db::new(pool, errors)
            .with_sqlite_deadline(settings.statement_timeout)
            .with_full_text(connection.full_text.clone());
        schema::migrate(&db).await?;
        tracing::info!(database = dialect.name(), at = %target, "internal storage ready");
        let log = ChangeLog {
            retention: connection.watch.retention,
            clock: Arc::default(),
        };
        let hub = Hub::new(db.clone(), connection.watch.clone());
        Ok(Self {
            db,
            target,
            log,
            hub,
        })
    }

    /// The database family.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// Where the database is (`host:port/database`, or the SQLite file).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The kind and scope of each resource a storage was created for.
    async fn resource_configs(&self) -> Result<HashMap<Gvr, (String, bool)>> {
        let mut sql = self.db.sql();
        sql.push("SELECT api_group, api_version, resource, kind, namespaced FROM resource_types");
        let rows = self
            .db
            .fetch(
                "resource types",
                &sql,
                &[Col::Text, Col::Text, Col::Text, Col::Text, Col::Bool],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    Gvr::new(r.text(0), r.text(1), r.text(2)),
                    (r.text(3).to_owned(), r.bool(4)),
                )
            })
            .collect())
    }

    /// Whether objects of `gvr` live in namespaces, from its storage configuration (or from
    /// `namespace` when none was recorded).
    pub(crate) async fn scope_of(&self) -> Result<impl Fn(&Gvr, &str) -> bool + use<>> {
        let configs = self.resource_configs().await?;
        Ok(move |gvr: &Gvr, namespace: &str| {
            configs
                .get(gvr)
                .map_or(!namespace.is_empty(), |(_, namespaced)| *namespaced)
        })
    }
}

#[async_trait]
impl StorageFactory for InternalStorageFactory {
    fn supported_verbs(&self) -> &'static [Verb] {
        &[Verb::Get, Verb::List, Verb::Watch]
    }

    fn supports_full_text(&self) -> bool {
        // PostgreSQL's tsvector and GIN index (crate::full_text); MySQL and SQLite refuse it.
        self.db.dialect() == Dialect::Postgres
    }

    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> Result<HashMap<Gvr, ClusterResourceVersions>> {
        let mut sql = self.db.sql();
        sql.push("SELECT api_group, api_version, resource, namespace, name, resource_version, ")
            .push(self.db.dialect().event_versions_column())
            .push(" FROM resources WHERE cluster = ")
            .bind(cluster);
        let rows = self
            .db
            .fetch(
                "resource versions",
                &sql,
                &[
                    Col::Text,
                    Col::Text,
                    Col::Text,
                    Col::Text,
                    Col::Text,
                    Col::Text,
                    Col::OptText,
                ],
            )
            .await?;
        let mut map: HashMap<Gvr, ClusterResourceVersions> = HashMap::new();
        for row in &rows {
            let versions = map
                .entry(Gvr::new(row.text(0), row.text(1), row.text(2)))
                .or_default();
            versions.resources.insert(
                namespaced_name(row.text(3), row.text(4)),
                row.text(5).to_owned(),
            );
            versions
                .events
                .extend(events::event_versions(row.opt_text(6))?);
        }
        Ok(map)
    }

    /// For each configured resource, its clusters by a loose index scan: `MIN(cluster)` after
    /// the previous one, one index seek per (resource, cluster) pair, instead of grouping every
    /// row. Kind and scope are those of the resource's configuration (every storage records it
    /// before it writes).
    async fn stored_resource_types(&self) -> Result<Vec<StoredResourceType>> {
        let configs = self.resource_configs().await?;
        let mut types = Vec::new();
        for (gvr, (kind, namespaced)) in configs {
            let mut after: Option<String> = None;
            loop {
                let mut sql = self.db.sql();
                sql.push("SELECT MIN(cluster) FROM resources WHERE ")
                    .push_resource_is(&gvr, "");
                if let Some(after) = &after {
                    sql.push(" AND cluster > ").bind(after);
                }
                let rows = self
                    .db
                    .fetch("stored resource types", &sql, &[Col::OptText])
                    .await?;
                let Some(cluster) = rows.first().and_then(|r| r.opt_text(0)) else {
                    break;
                };
                types.push(StoredResourceType {
                    cluster: cluster.to_owned(),
                    gvr: gvr.clone(),
                    kind: kind.clone(),
                    namespaced,
                });
                after = Some(cluster.to_owned());
            }
        }
        types.sort();
        Ok(types)
    }

    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> Result<Arc<dyn ResourceStorage>> {
        let gvr = &config.gvr;
        let mut sql = self.db.sql();
        sql.push("INSERT INTO resource_types (api_group, api_version, resource, kind, namespaced) VALUES (")
            .bind_resource(gvr)
            .push(", ")
            .bind(&config.kind)
            .push(", ");
        let dialect = self.db.dialect();
        dialect.push_bool(&mut sql, config.namespaced);
        sql.push(")");
        dialect.push_on_conflict_update(
            &mut sql,
            "resource_types",
            "(api_group, api_version, resource)",
            &["kind", "namespaced"],
            &[],
        );
        self.db.execute("register resource", &sql).await?;
        Ok(Arc::new(InternalResourceStorage::new(
            self.db.clone(),
            config,
            self.log.clone(),
            self.hub.clone(),
        )))
    }

    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>> {
        Ok(Arc::new(InternalCollectionStorage::new(
            self.clone(),
            collection.clone(),
        )))
    }

    async fn clean_cluster(&self, cluster: &str) -> Result<()> {
        self.clean("clean cluster", &|sql: &mut Sql| {
            sql.push(" WHERE r.cluster = ").bind(cluster);
        })
        .await
    }

    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> Result<()> {
        self.clean("clean cluster resource", &|sql: &mut Sql| {
            sql.push(" WHERE r.cluster = ")
                .bind(cluster)
                .push(" AND ")
                .push_resource_is(gvr, "r.");
        })
        .await
    }

    async fn check_ready(&self) -> Result<()> {
        // Not through the pool's queue: user queries holding every connection do not make
        // the database unready.
        self.db.ping(READINESS_TIMEOUT).await
    }

    async fn shutdown(&self) -> Result<()> {
        self.db.close().await;
        Ok(())
    }
}

impl InternalStorageFactory {
    /// The database's plan of the page query of a list of `gvr` (`EXPLAIN ANALYZE` on
    /// PostgreSQL, `EXPLAIN FORMAT=JSON` on MySQL, `EXPLAIN QUERY PLAN` on SQLite): to check
    /// which indexes a query uses.
    pub async fn explain(&self, gvr: &Gvr, options: &ListOptions) -> Result<String> {
        let gvr = Arc::new(gvr.clone());
        ListQuery::new(&self.db, options, Scope::Resource(&gvr))?
            .explain(&self.db)
            .await
    }

    /// Deletes the rows matching `condition` (on alias `r`), recording a deletion in the
    /// change log for each, in one transaction.
    async fn clean(&self, what: &str, condition: &(dyn Fn(&mut Sql) + Sync)) -> Result<()> {
        let mut tx = self.db.begin(what).await?;
        let mut appender = changelog::lock(&mut tx).await?;
        appender.push_deletions_where(&mut tx, condition).await?;
        let mut sql = self.db.sql();
        sql.push(if self.db.dialect() == Dialect::MySql {
            "DELETE r FROM resources r"
        } else {
            "DELETE FROM resources AS r"
        });
        condition(&mut sql);
        tx.execute(what, &sql).await?;
        appender.finish(&mut tx, None, &self.log, None).await?;
        tx.commit(what).await
    }

    /// The database handle.
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_configuration_an_embedded_sqlite_file_is_used() {
        let dir = std::env::temp_dir().join(format!("cp-internal-embedded-{}", fastrand::u64(..)));
        let data_home = dir.display().to_string();
        let env = move |name: &str| (name == "XDG_DATA_HOME").then(|| data_home.clone());
        let factory = build(None, &env).await.expect("embedded default");
        assert_eq!(factory.dialect(), Dialect::Sqlite);
        let file = dir.join("clusterpedia").join("internal.db");
        assert_eq!(factory.target(), file.display().to_string());
        assert!(file.exists(), "{} was created", file.display());
        factory.check_ready().await.expect("ready");
        #[cfg(unix)]
        {
            // Every synced object is in there: only the owner may read it, the write-ahead
            // log and shared memory included.
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
            };
            assert_eq!(mode(&dir.join("clusterpedia")), 0o700);
            for name in ["internal.db", "internal.db-wal", "internal.db-shm"] {
                let path = dir.join("clusterpedia").join(name);
                assert!(path.exists(), "{} exists", path.display());
                assert_eq!(mode(&path), 0o600, "{}", path.display());
            }
        }
        factory.shutdown().await.expect("shutdown");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn database_variables_alone_select_the_database() {
        let env = |name: &str| match name {
            "DB_TYPE" => Some("postgres".to_owned()),
            "DB_HOST" => Some("127.0.0.1".to_owned()),
            "DB_PORT" => Some("1".to_owned()),
            "DB_DATABASE" => Some("nowhere".to_owned()),
            _ => None,
        };
        let error = build(None, &env)
            .await
            .expect_err("nothing listens on port 1");
        let message = error.to_string();
        assert!(
            message.contains("cannot connect to postgres at 127.0.0.1:1/nowhere"),
            "{message}"
        );
        assert!(error.is_recoverable(), "{message}");
    }
}
