//! What the workspace manifest says, read through `cargo metadata` (never a hand-kept list).

use std::process::Command;

use anyhow::{Context as _, ensure};

/// The root package, whose features select the storage layers.
const ROOT_PACKAGE: &str = "clusterpedia";

/// `cargo metadata` of the workspace of `dir`, without the dependencies when `no_deps`.
pub fn metadata(dir: &std::path::Path, no_deps: bool) -> anyhow::Result<serde_json::Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(dir)
        .args(["metadata", "--format-version", "1"]);
    if no_deps {
        command.arg("--no-deps");
    }
    let output = command
        .output()
        .with_context(|| format!("cannot run {cargo} metadata"))?;
    ensure!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).context("parse the output of cargo metadata")
}

/// The storage layer features of the root package: every feature named `<layer>-storage` that
/// enables exactly one optional dependency, sorted.
pub fn storage_features() -> anyhow::Result<Vec<String>> {
    let metadata = metadata(std::path::Path::new("."), true)?;
    let package = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == ROOT_PACKAGE))
        .with_context(|| format!("cargo metadata lists no package {ROOT_PACKAGE}"))?;
    let features = package["features"]
        .as_object()
        .with_context(|| format!("package {ROOT_PACKAGE} has no features table"))?;
    let mut storage: Vec<String> = features
        .iter()
        .filter(|(name, enables)| {
            name.ends_with("-storage")
                && enables.as_array().is_some_and(|e| {
                    e.len() == 1 && e[0].as_str().is_some_and(|d| d.starts_with("dep:"))
                })
        })
        .map(|(name, _)| name.clone())
        .collect();
    storage.sort();
    ensure!(
        !storage.is_empty(),
        "package {ROOT_PACKAGE} has no `<layer>-storage` feature"
    );
    Ok(storage)
}
