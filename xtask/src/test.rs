//! `cargo xtask test`: the whole test suite, as CI runs it.

use std::process::Command;

use anyhow::{Context as _, bail};

/// Runs the workspace tests with every feature, then the feature matrix, then the scaffold check
/// of `cargo xtask new-storage-layer`, the demo check, and `cargo xtask check-dist`.
pub(crate) fn run() -> anyhow::Result<()> {
    cargo(&["test", "--workspace", "--all-features", "--all-targets"])?;
    cargo(&["test", "--workspace", "--all-features", "--doc"])?;
    // Each storage layer feature alone: the binaries must list exactly that layer.
    for feature in crate::manifest::storage_features()? {
        cargo(&[
            "test",
            "--package",
            "clusterpedia",
            "--test",
            "storage_layers",
            "--no-default-features",
            "--features",
            &feature,
        ])?;
    }
    crate::new_storage_layer::check(std::path::Path::new("."))?;
    // The README's first command: every kubectl command the demo prints must work, end to end
    // (simulated clusters → synchro → storage → apiserver → kubectl), on both default layers.
    for storage in ["internal", "memory"] {
        crate::demo::run(&crate::demo::DemoArgs::check(storage))?;
    }
    // What ships: `dist` (dev profile, internal) and its OCI images, then every chart (lint,
    // golden renders, kube-sim). See xtask/src/check_dist.rs.
    crate::check_dist::run(false)?;
    Ok(())
}

/// Runs cargo (the one that runs xtask) with `args`, failing on a non-zero exit.
pub(crate) fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
