//! The storage layers the e2e benchmarks run on, each on a fresh database: `memory`, and the
//! `internal` layer on the local PostgreSQL (`postgres`) or on a SQLite file (`sqlite`).

use std::path::Path;
use std::sync::Arc;

use storage_api::StorageFactory;
use storage_internal as _;

/// The local PostgreSQL's maintenance database (creates and drops the benchmarks' databases).
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs one statement on the local PostgreSQL's `postgres` database.
pub(crate) async fn postgres_admin(statement: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let mut connection = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await?;
    // The statements are built from constants of the benchmarks only.
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// The storage layer `storage` (`memory`, `postgres` or `sqlite`) on a fresh database:
/// PostgreSQL database `database` (dropped and created again; with `reuse`, as it is: kept by
/// an earlier run), or `<dir>/<database>.db`.
pub(crate) async fn factory(
    storage: &str,
    dir: &Path,
    database: &str,
    reuse: bool,
) -> anyhow::Result<Arc<dyn StorageFactory>> {
    let yaml = match storage {
        "memory" => return Ok(Arc::new(storage_memory::MemoryStorageFactory::default())),
        "postgres" if reuse => format!(
            "type: postgres\nhost: 127.0.0.1\nport: 5432\nuser: postgres\ndatabase: {database}\n"
        ),
        "postgres" => {
            postgres_admin(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await?;
            postgres_admin(&format!("CREATE DATABASE {database}")).await?;
            format!(
                "type: postgres\nhost: 127.0.0.1\nport: 5432\nuser: postgres\ndatabase: {database}\n"
            )
        }
        "sqlite" => {
            let file = dir.join(format!("{database}.db"));
            let _ = std::fs::remove_file(&file);
            format!("type: sqlite\ndsn: {}\n", file.display())
        }
        other => anyhow::bail!("unknown storage {other:?}: want memory, postgres or sqlite"),
    };
    std::fs::create_dir_all(dir)?;
    let config = dir.join(format!("{database}.yaml"));
    std::fs::write(&config, yaml)?;
    Ok(storage_api::registry::new_factory("internal", Some(config)).await?)
}

/// Drops what [`factory`] created for `storage` (a PostgreSQL database; a SQLite file
/// goes with `dir`).
pub(crate) async fn drop_database(storage: &str, database: &str) -> anyhow::Result<()> {
    if storage == "postgres" {
        postgres_admin(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await?;
    }
    Ok(())
}
