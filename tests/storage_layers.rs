//! The binaries list exactly the storage layers their cargo features link.
//!
//! Run under every `*-storage` feature alone by `cargo xtask test`. Which layer crates a build
//! links comes from the manifest (see `build.rs`), so a new layer needs no line here.

use std::process::Command;

/// The storage layer crates this build links, from the manifest's enabled `*-storage` features.
fn linked_layer_crates() -> Vec<String> {
    let mut crates: Vec<String> = env!("CLUSTERPEDIA_LINKED_LAYER_CRATES")
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    crates.sort();
    crates
}

/// `(layer name, crate)` of each layer `binary storage-layers` lists.
fn listed_layers(binary: &str) -> Vec<(String, String)> {
    let output = Command::new(binary)
        .arg("storage-layers")
        .env_remove("STORAGE_PLUGINS")
        .output()
        .expect("run the binary");
    assert!(
        output.status.success(),
        "{binary} storage-layers failed: {output:?}"
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    stdout
        .lines()
        .skip(1)
        .map(|line| {
            let mut columns = line.split_whitespace();
            let name = columns.next().expect("a name column").to_owned();
            let layer_crate = columns.next().expect("a crate column").to_owned();
            (name, layer_crate)
        })
        .collect()
}

#[test]
fn every_binary_lists_exactly_the_linked_layers() {
    let expected = linked_layer_crates();
    assert!(
        !expected.is_empty(),
        "every feature set of the matrix links a layer"
    );
    let reference = listed_layers(env!("CARGO_BIN_EXE_apiserver"));
    for binary in [
        env!("CARGO_BIN_EXE_apiserver"),
        env!("CARGO_BIN_EXE_clustersynchro-manager"),
        env!("CARGO_BIN_EXE_binding-apiserver"),
    ] {
        let listed = listed_layers(binary);
        let mut crates: Vec<String> = listed.iter().map(|(_, c)| c.clone()).collect();
        crates.sort();
        crates.dedup();
        assert_eq!(crates, expected, "{binary}: the crates of its layers");
        assert_eq!(listed, reference, "{binary} lists what apiserver lists");
    }
}

#[test]
fn every_storage_feature_is_linked_into_the_binaries() {
    let lib = include_str!("../src/lib.rs");
    for layer_crate in env!("CLUSTERPEDIA_LAYER_CRATES")
        .split(',')
        .filter(|c| !c.is_empty())
    {
        let line = format!("=> {},", layer_crate.replace('-', "_"));
        assert!(
            lib.contains(&line),
            "src/lib.rs lacks `\"<feature>\" {line}` in link_storage_layers!"
        );
    }
}

#[test]
fn storage_plugins_env_is_answered_not_ignored() {
    let output = Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .arg("storage-layers")
        .env("STORAGE_PLUGINS", "/var/lib/clusterpedia/plugins")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("compiled into this binary"), "{stderr}");
    assert!(
        stderr.contains("STORAGE_PLUGINS=/var/lib/clusterpedia/plugins"),
        "{stderr}"
    );
}

#[test]
fn unknown_storage_name_lists_the_linked_layers() {
    let output = Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .args(["--storage-name", "no-such-layer"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"no-such-layer\" is not linked into this binary"),
        "{stderr}"
    );
    assert!(stderr.contains("linked layers:"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn missing_storage_config_is_named() {
    let layers = listed_layers(env!("CARGO_BIN_EXE_clustersynchro-manager"));
    let layer = &layers.first().expect("a linked layer").0;
    let output = Command::new(env!("CARGO_BIN_EXE_clustersynchro-manager"))
        .args([
            "--storage-name",
            layer.as_str(),
            "--storage-config",
            "/no/such/file.yaml",
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/no/such/file.yaml"), "{stderr}");
}
