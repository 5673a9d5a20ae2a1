//! A broken configuration or an unreachable database is one line naming the problem, through
//! the registry as the components build the layer (`--storage-name internal
//! --storage-config FILE`).

use std::path::PathBuf;

use storage_api::registry;

/// Builds the layer from a configuration file holding `yaml`; returns the error's text.
async fn error_of(yaml: &str) -> (String, bool) {
    // Link the crate (its registration is what is tested).
    let _ = storage_internal::LAYER_NAME;
    let dir = std::env::temp_dir().join(format!("cp-internal-config-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let file: PathBuf = dir.join("internalstorage-config.yaml");
    std::fs::write(&file, yaml).expect("write config");
    let layer = registry::find("internal").expect("the internal layer is registered");
    let result = (layer.new_factory)(Some(file.clone())).await;
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(_) => panic!("{yaml:?} should fail"),
        Err(error) => {
            let message = error.to_string();
            assert!(!message.contains('\n'), "one line: {message:?}");
            (message, error.is_recoverable())
        }
    }
}

#[tokio::test]
async fn an_unknown_key_is_named() {
    let (message, recoverable) =
        error_of("type: postgres\nhots: 127.0.0.1\ndatabase: test\n").await;
    assert!(message.contains("unknown field `hots`"), "{message}");
    assert!(message.contains("internalstorage-config.yaml"), "{message}");
    assert!(!recoverable);
}

#[tokio::test]
async fn a_missing_type_is_named() {
    let (message, _) = error_of("host: 127.0.0.1\ndatabase: test\n").await;
    assert!(message.contains("type: missing"), "{message}");
}

#[tokio::test]
async fn a_bad_value_is_named() {
    let (message, _) = error_of("type: mysql\ndatabase: test\nport: [3306]\n").await;
    assert!(message.contains("port"), "{message}");
    let (message, _) = error_of("type: cassandra\n").await;
    assert!(
        message.contains("type: unknown database type \"cassandra\""),
        "{message}"
    );
}

#[tokio::test]
async fn an_unreachable_database_names_host_and_port() {
    let (message, recoverable) =
        error_of("type: postgres\nhost: 127.0.0.1\nport: 1\nuser: postgres\ndatabase: test\n")
            .await;
    assert!(
        message.contains("cannot connect to postgres at 127.0.0.1:1/test"),
        "{message}"
    );
    assert!(
        recoverable,
        "a database that is down may come back: {message}"
    );
    let (message, _) =
        error_of("type: mysql\nhost: 127.0.0.1\nport: 2\nuser: root\ndatabase: test\n").await;
    assert!(
        message.contains("cannot connect to mysql at 127.0.0.1:2/test"),
        "{message}"
    );
}
