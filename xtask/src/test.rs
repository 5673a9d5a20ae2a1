//! `cargo xtask test`: the whole test suite, as CI runs it.

/// Runs the workspace tests with every feature, then the feature matrix, then the scaffold check
/// of `cargo xtask new-storage-layer` (in the workspace and standalone), the demo check, and `cargo xtask check-dist`.
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
    // A layer in a project of its own, outside the workspace: built, conformance on SQLite,
    // listed by its binaries, shipped by its own `cargo xtask dist`.
    crate::standalone::check(std::path::Path::new("."))?;
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
pub(crate) use xtask::cargo;
