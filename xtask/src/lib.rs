//! The library half of the repository automation: what a storage layer kept in a repository of
//! its own reuses, so that there is one implementation. Its `cargo xtask` is a package of its
//! workspace whose `main` is [`project_main`] (`cargo xtask new-storage-layer <name>
//! --standalone <dir>` writes it); this repository's `cargo xtask` is `src/main.rs`.

pub mod dist;
pub mod manifest;

use std::process::Command;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

/// A command running cargo (the one that runs xtask), without the variables `cargo run` set for
/// xtask itself (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, …): build scripts such as ring's
/// declare them with `rerun-if-env-changed`, so that with them a build under xtask and one from
/// a shell (or under another project's xtask) would each compile those crates again.
pub fn cargo_command() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// Runs cargo (the one that runs xtask) with `args` in the current directory, failing on a
/// non-zero exit.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = cargo_command()
        .args(args)
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The tasks of a standalone storage layer project.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct ProjectCli {
    #[command(subcommand)]
    command: ProjectCommand,
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Build this layer's distribution, as clusterpedia's `cargo xtask dist` does for its own
    /// layers: the binaries, tarballs, SHA256SUMS, a manifest, an OCI image per component and
    /// chart values, in dist/<clusterpedia version>-<layer>/.
    Dist(dist::DistArgs),
}

/// The `main` of a standalone layer project's `cargo xtask`, whose workspace root is `root`:
/// runs the task and prints its error.
pub fn project_main(root: &std::path::Path) -> std::process::ExitCode {
    let cli = ProjectCli::parse();
    let result = std::env::set_current_dir(root)
        .with_context(|| format!("cd {}", root.display()))
        .and_then(|()| match cli.command {
            ProjectCommand::Dist(args) => dist::run_project(&args).map(|_| ()),
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
