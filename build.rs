//! Tells the tests which storage layer crates this build links, read from the manifest: every
//! feature `<layer>-storage = ["dep:<crate>"]` that is enabled. `tests/storage_layers.rs`
//! checks that the binaries list exactly the layers of those crates, so a new layer needs no
//! line in any test.

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let manifest = Path::new(&manifest_dir).join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    let text = fs::read_to_string(&manifest).unwrap_or_default();
    let mut linked = Vec::new();
    let mut all = Vec::new();
    for (feature, layer_crate) in storage_features(&text) {
        all.push(layer_crate.clone());
        let variable = format!(
            "CARGO_FEATURE_{}",
            feature.to_ascii_uppercase().replace('-', "_")
        );
        if env::var_os(variable).is_some() {
            linked.push(layer_crate);
        }
    }
    println!(
        "cargo:rustc-env=CLUSTERPEDIA_LINKED_LAYER_CRATES={}",
        linked.join(",")
    );
    println!(
        "cargo:rustc-env=CLUSTERPEDIA_LAYER_CRATES={}",
        all.join(",")
    );
}

/// The `(feature, crate)` pairs of the `[features]` table whose feature name ends in `-storage`
/// and enables exactly one optional dependency.
fn storage_features(manifest: &str) -> Vec<(String, String)> {
    let mut in_features = false;
    let mut pairs = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        let Some((name, value)) = line.split_once('=').filter(|_| in_features) else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        let dependency = value
            .strip_prefix("[\"dep:")
            .and_then(|rest| rest.strip_suffix("\"]"));
        if let (true, Some(dependency)) = (name.ends_with("-storage"), dependency) {
            pairs.push((name.to_owned(), dependency.to_owned()));
        }
    }
    pairs
}
