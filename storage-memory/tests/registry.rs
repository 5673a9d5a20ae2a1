//! The layer registers itself as `memory` and reads its configuration file.

use storage_api::{Verb, registry};

// Name the crate so that it is linked (and its registration with it).
use storage_memory as _;

#[tokio::test]
async fn the_layer_is_registered_as_memory() {
    let layer = registry::find(storage_memory::LAYER_NAME).expect("registered");
    assert_eq!(layer.name, "memory");
    assert!(!layer.description.is_empty() && !layer.description.contains('\n'));
    assert!(registry::layer_names().contains("memory"));

    let factory = registry::new_factory("memory", None)
        .await
        .expect("defaults");
    assert_eq!(
        factory.supported_verbs(),
        &[Verb::Get, Verb::List, Verb::Watch]
    );
    factory.check_ready().await.expect("ready");
    factory.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_config_file_is_read_and_checked() {
    let dir = std::env::temp_dir().join(format!("storage-memory-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let good = dir.join("good.yaml");
    std::fs::write(&good, "watchHistory: 50\nbookmarkInterval: 5s\n").expect("write");
    registry::new_factory("memory", Some(good))
        .await
        .expect("valid file");

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "watchHistory: 50\nbookmarkIntervall: 5s\n").expect("write");
    let err = registry::new_factory("memory", Some(bad))
        .await
        .err()
        .expect("unknown key");
    let message = err.to_string();
    assert!(
        message.contains("bad.yaml") && message.contains("bookmarkIntervall"),
        "{message}"
    );

    let missing = registry::new_factory("memory", Some(dir.join("missing.yaml")))
        .await
        .err()
        .expect("missing file");
    assert!(missing.to_string().contains("missing.yaml"), "{missing}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
