//! The CRD manifests committed in `deploy/crds/` must be exactly what the types generate.
//!
//! Run `UPDATE_CRDS=1 cargo test -p clusterpedia-crds` after changing the types.

use std::path::PathBuf;

#[test]
fn committed_crd_yaml_is_up_to_date() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| !v.is_empty() && v != "0");
    let mut stale = Vec::new();
    for (file, crd) in clusterpedia_crds::crds() {
        let path = dir.join(file);
        let generated = clusterpedia_crds::to_yaml(&crd).expect("CRD serializes to YAML");
        if update {
            std::fs::create_dir_all(&dir).expect("create deploy/crds");
            std::fs::write(&path, &generated).expect("write CRD YAML");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == generated => {}
            Ok(_) => stale.push(format!("{} is stale", path.display())),
            Err(e) => stale.push(format!("{} cannot be read: {e}", path.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nThe CRD manifests are generated from components/crds/src/lib.rs; regenerate them with\n\n    UPDATE_CRDS=1 cargo test -p clusterpedia-crds\n",
        stale.join("\n")
    );
}
