//! Repository automation, run as `cargo xtask <command>` (matklad's xtask pattern).

mod bench;
mod check_dist;
mod demo;
mod new_storage_layer;
mod standalone;
mod test;

use clap::{Parser, Subcommand};
use xtask::{dist, manifest};

/// clusterpedia repository tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start three simulated clusters and binding-apiserver syncing them into the embedded
    /// default storage; write a kubeconfig and print kubectl commands that work.
    Demo(demo::DemoArgs),
    /// Run every test: the workspace with all features, then the storage feature matrix
    /// (each build must list exactly the layers it links).
    Test,
    /// Build a distribution per storage layer: release binaries with exactly that layer,
    /// tarballs, SHA256SUMS, a manifest and an OCI image per component, in dist/<version>-<layer>/.
    Dist(dist::DistArgs),
    /// Check what ships: `dist --profile dev --storage internal` and its images (skopeo, umoci,
    /// the unpacked binaries run), then every chart (helm lint, golden renders, install into
    /// kube-sim). `UPDATE_GOLDEN=1` rewrites the golden files.
    CheckDist {
        /// Only the charts (lint, golden renders, install into kube-sim): no dist build.
        #[arg(long)]
        charts_only: bool,
    },
    /// Check `new-storage-layer --standalone` (part of `test`): generate a layer project outside
    /// the workspace, run its conformance suite on SQLite, check that its binaries list its
    /// layer, and build its distribution with its own `cargo xtask dist --profile dev`.
    CheckStandalone,
    /// Run the benchmarks (all, or those named) and write their results to docs/benchmarks.md.
    Bench {
        /// Benchmarks to run, e.g. `memory-per-object`; all when none is given.
        names: Vec<String>,
        /// Arguments after `--` go to each benchmark named (e.g. `cargo xtask bench churn --
        /// --runs 3 --seconds 10`); the section's command line shows them.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Create a new storage layer crate, storage-<NAME>, from the sample layer, wired into the
    /// workspace (cargo feature <NAME>-storage), or with --standalone a project of its own
    /// outside this repository; see docs/storage-layer-guide.md.
    NewStorageLayer {
        /// The layer name (`--storage-name`): lowercase letters, digits and dashes.
        name: String,
        /// Create a complete project in this new directory, outside this repository: the layer,
        /// the three binaries, the conformance test, its own `cargo xtask dist`, a README; the
        /// clusterpedia crates by path to this checkout.
        #[arg(long, value_name = "DIR")]
        standalone: Option<std::path::PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    // Run from the workspace root whatever the caller's directory.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow::anyhow!("xtask has no parent directory"))?;
    // Paths on the command line are the caller's.
    let caller = std::env::current_dir()?;
    std::env::set_current_dir(root)?;
    match Cli::parse().command {
        Command::Demo(args) => demo::run(&args),
        Command::Test => test::run(),
        Command::Dist(args) => dist::run(&args).map(|_| ()),
        Command::CheckDist { charts_only } => check_dist::run(charts_only),
        Command::CheckStandalone => standalone::check(root),
        Command::Bench { names, args } => bench::run(&names, &args),
        Command::NewStorageLayer {
            name,
            standalone: None,
        } => new_storage_layer::run(root, &name),
        Command::NewStorageLayer {
            name,
            standalone: Some(dir),
        } => standalone::run(root, &name, &caller.join(dir)),
    }
}
