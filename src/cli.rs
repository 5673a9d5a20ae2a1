//! The command lines of the three binaries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use clusterpedia_apiserver::ApiserverOptions;
use clusterpedia_synchro::SynchroOptions;
use component_base::{LogOptions, StorageOptions, storage_layers_table, storage_plugins_notice};

/// Subcommands every binary has besides running.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print the storage layers linked into this binary, with their descriptions.
    StorageLayers,
}

/// The clusterpedia apiserver: kubectl-compatible search across all synced clusters.
#[derive(Debug, Parser)]
#[command(name = "apiserver", version)]
struct ApiserverCli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    storage: StorageOptions,
    #[command(flatten)]
    server: ApiserverOptions,
    #[command(flatten)]
    log: LogOptions,
}

/// The clusterpedia clustersynchro-manager: syncs member clusters' resources into storage.
#[derive(Debug, Parser)]
#[command(name = "clustersynchro-manager", version)]
struct SynchroCli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    storage: StorageOptions,
    #[command(flatten)]
    synchro: SynchroOptions,
    #[command(flatten)]
    log: LogOptions,
}

/// The apiserver and the clustersynchro-manager in one process, sharing one storage layer
/// (required for the in-process `memory` layer).
#[derive(Debug, Parser)]
#[command(name = "binding-apiserver", version)]
struct BindingCli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    storage: StorageOptions,
    #[command(flatten)]
    server: ApiserverOptions,
    #[command(flatten)]
    synchro: SynchroOptions,
    #[command(flatten)]
    log: LogOptions,
}

/// Prints the linked layers (and the `STORAGE_PLUGINS` notice) when asked; `true` if it did.
fn list_layers_if_asked(command: &Option<Command>) -> bool {
    match command {
        Some(Command::StorageLayers) => {
            if let Some(notice) = storage_plugins_notice() {
                eprintln!("{notice}");
            }
            print!("{}", storage_layers_table());
            true
        }
        None => false,
    }
}

/// Runs `body` on a multi-threaded runtime and turns its error into one line on stderr.
fn run(name: &str, body: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `apiserver` binary.
pub fn apiserver_main() -> ExitCode {
    let cli = ApiserverCli::parse();
    if list_layers_if_asked(&cli.command) {
        return ExitCode::SUCCESS;
    }
    cli.log.init();
    run("apiserver", async move {
        let storage = cli.storage.build_factory().await?;
        clusterpedia_apiserver::run(cli.server, storage).await
    })
}

/// The `clustersynchro-manager` binary.
pub fn clustersynchro_manager_main() -> ExitCode {
    let cli = SynchroCli::parse();
    if list_layers_if_asked(&cli.command) {
        return ExitCode::SUCCESS;
    }
    cli.log.init();
    run("clustersynchro-manager", async move {
        let storage = cli.storage.build_factory().await?;
        clusterpedia_synchro::run(cli.synchro, storage).await
    })
}

/// The `binding-apiserver` binary.
pub fn binding_apiserver_main() -> ExitCode {
    let cli = BindingCli::parse();
    if list_layers_if_asked(&cli.command) {
        return ExitCode::SUCCESS;
    }
    cli.log.init();
    run("binding-apiserver", async move {
        let storage = cli.storage.build_factory().await?;
        // As the original's binding-apiserver: every replica syncs into its own (possibly
        // in-process) storage, so none waits for a leader nor shares clusters.
        let mut synchro = cli.synchro;
        synchro.leader_election.enabled = false;
        synchro.shard_clusters = false;
        tokio::try_join!(
            clusterpedia_synchro::run(synchro, storage.clone()),
            clusterpedia_apiserver::run(cli.server, storage),
        )?;
        Ok(())
    })
}
