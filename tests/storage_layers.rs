//! The binaries list exactly the storage layers their cargo features link.
//!
//! Run under several feature sets by `cargo xtask test`. When a layer crate starts registering
//! itself, add its feature and name to `EXPECTED`.

use std::process::Command;

/// (whether the cargo feature is on, the layer name it links). One line per layer.
const EXPECTED: &[(bool, &str)] = &[
    (cfg!(feature = "memory-storage"), "memory"),
    (cfg!(feature = "sample-storage"), "sample-storage-layer"),
    (cfg!(feature = "internal-storage"), "internal"),
    // One line per registered layer: (cfg!(feature = "<layer>-storage"), "<layer name>"),
];

fn listed_layers(binary: &str) -> Vec<String> {
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
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn every_binary_lists_exactly_the_linked_layers() {
    let mut expected: Vec<String> = EXPECTED
        .iter()
        .filter(|(enabled, _)| *enabled)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    expected.sort();
    for binary in [
        env!("CARGO_BIN_EXE_apiserver"),
        env!("CARGO_BIN_EXE_clustersynchro-manager"),
        env!("CARGO_BIN_EXE_binding-apiserver"),
    ] {
        assert_eq!(listed_layers(binary), expected, "{binary}");
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
    let layer = EXPECTED
        .iter()
        .find(|(enabled, _)| *enabled)
        .map(|(_, name)| *name)
        .expect("every feature set of the matrix links a layer");
    let output = Command::new(env!("CARGO_BIN_EXE_clustersynchro-manager"))
        .args([
            "--storage-name",
            layer,
            "--storage-config",
            "/no/such/file.yaml",
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/no/such/file.yaml"), "{stderr}");
}
