//! PediaClusters from a YAML file (`--clusters-config`), for running without a host cluster.
//!
//! The file holds YAML documents of kind `PediaCluster` and `ClusterSyncResources`
//! (`cluster.clusterpedia.io/v1alpha2`), as `kubectl apply -f` would take them. It is read
//! again whenever its modification time or size changes: new and changed clusters are synced,
//! clusters removed from the file are deleted (their data cleaned). A file that does not parse
//! is reported and ignored until it is fixed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clusterpedia_crds::{ClusterSyncResources, PediaCluster};
use kube::ResourceExt;
use serde::Deserialize;

use crate::manager::{ClusterInput, Manager, SyncResourcesRef};

/// The documents of a clusters file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClustersFile {
    /// The PediaClusters, by name.
    pub clusters: BTreeMap<String, PediaCluster>,
    /// The ClusterSyncResources, by name.
    pub sync_resources: BTreeMap<String, ClusterSyncResources>,
}

impl ClustersFile {
    /// Parses YAML documents of PediaClusters and ClusterSyncResources.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut file = Self::default();
        for (i, document) in serde_norway::Deserializer::from_str(text).enumerate() {
            let value = serde_json::Value::deserialize(document)
                .map_err(|e| format!("document {}: {e}", i + 1))?;
            if value.is_null() {
                continue;
            }
            let api_version = value
                .get("apiVersion")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let kind = value.get("kind").and_then(|v| v.as_str()).unwrap_or("");
            let expected = format!(
                "{}/{}",
                clusterpedia_crds::GROUP,
                clusterpedia_crds::VERSION
            );
            if api_version != expected {
                return Err(format!(
                    "document {}: apiVersion {api_version:?} is not {expected:?}",
                    i + 1
                ));
            }
            match kind {
                "PediaCluster" => {
                    let cluster: PediaCluster = serde_json::from_value(value)
                        .map_err(|e| format!("document {} (PediaCluster): {e}", i + 1))?;
                    let name = cluster.name_any();
                    if name.is_empty() {
                        return Err(format!("document {}: metadata.name is required", i + 1));
                    }
                    if file.clusters.insert(name.clone(), cluster).is_some() {
                        return Err(format!("PediaCluster {name:?} is defined twice"));
                    }
                }
                "ClusterSyncResources" => {
                    let resources: ClusterSyncResources = serde_json::from_value(value)
                        .map_err(|e| format!("document {} (ClusterSyncResources): {e}", i + 1))?;
                    file.sync_resources.insert(resources.name_any(), resources);
                }
                other => {
                    return Err(format!(
                        "document {}: kind {other:?} is neither PediaCluster nor ClusterSyncResources",
                        i + 1
                    ));
                }
            }
        }
        Ok(file)
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The clusters with their `syncResourcesRefName` resolved.
    pub fn inputs(&self) -> BTreeMap<String, ClusterInput> {
        self.clusters
            .iter()
            .map(|(name, cluster)| {
                let reference = &cluster.spec.sync_resources_ref_name;
                let sync_resources_ref = if reference.is_empty() {
                    SyncResourcesRef::None
                } else {
                    match self.sync_resources.get(reference) {
                        Some(r) => SyncResourcesRef::Found(r.spec.sync_resources.clone()),
                        None => SyncResourcesRef::NotFound,
                    }
                };
                (
                    name.clone(),
                    ClusterInput {
                        cluster: cluster.clone(),
                        sync_resources_ref,
                    },
                )
            })
            .collect()
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Syncs the clusters of `path` into `manager`, reading the file again when it changes, until
/// the future is dropped. Fails only when the file cannot be read at start.
pub async fn run(manager: Manager, path: PathBuf, interval: Duration) -> anyhow::Result<()> {
    let first = ClustersFile::read(&path).map_err(|e| anyhow::anyhow!("--clusters-config: {e}"))?;
    let mut stamp = file_stamp(&path);
    let mut current: BTreeMap<String, ClusterInput> = BTreeMap::new();
    let mut next = Some(first);
    loop {
        if let Some(file) = next.take() {
            let inputs = file.inputs();
            for name in current.keys() {
                if !inputs.contains_key(name) {
                    tracing::info!(cluster = %name, file = %path.display(), "cluster removed from the clusters file");
                    manager.delete(name).await;
                }
            }
            for (name, input) in &inputs {
                let changed = current.get(name).is_none_or(|old| {
                    old.cluster.spec != input.cluster.spec
                        || old.sync_resources_ref != input.sync_resources_ref
                });
                if changed {
                    manager.apply(input.clone());
                }
            }
            current = inputs;
        }
        tokio::time::sleep(interval).await;
        let new_stamp = file_stamp(&path);
        if new_stamp != stamp {
            stamp = new_stamp;
            match ClustersFile::read(&path) {
                Ok(file) => {
                    tracing::info!(file = %path.display(), clusters = file.clusters.len(), "clusters file changed");
                    next = Some(file);
                }
                Err(e) => {
                    tracing::error!(error = %e, "ignoring the changed clusters file until it is fixed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clusters_and_references() {
        let text = r#"
apiVersion: cluster.clusterpedia.io/v1alpha2
kind: PediaCluster
metadata:
  name: c1
spec:
  apiserver: https://127.0.0.1:6443
  tokenData: dG9rZW4=
  syncResources:
  - group: apps
    resources: [deployments]
  syncResourcesRefName: common
---
apiVersion: cluster.clusterpedia.io/v1alpha2
kind: ClusterSyncResources
metadata:
  name: common
spec:
  syncResources:
  - group: ""
    resources: [pods]
---
apiVersion: cluster.clusterpedia.io/v1alpha2
kind: PediaCluster
metadata:
  name: c2
spec:
  kubeconfig: eA==
  syncResources: []
  syncResourcesRefName: missing
"#;
        let file = ClustersFile::parse(text).expect("parse");
        let inputs = file.inputs();
        assert_eq!(inputs.len(), 2);
        assert_eq!(
            inputs["c1"].sync_resources_ref,
            SyncResourcesRef::Found(vec![clusterpedia_crds::ClusterGroupResources {
                group: String::new(),
                resources: vec!["pods".into()],
                ..Default::default()
            }])
        );
        assert_eq!(inputs["c2"].sync_resources_ref, SyncResourcesRef::NotFound);
    }

    #[test]
    fn rejects_what_is_not_a_clusters_file() {
        let err = ClustersFile::parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
            .expect_err("wrong apiVersion");
        assert!(err.contains("apiVersion"), "{err}");
        let err = ClustersFile::parse(
            "apiVersion: cluster.clusterpedia.io/v1alpha2\nkind: PediaCluster\nmetadata: {name: x}\nspec: {}\n",
        )
        .expect_err("missing syncResources");
        assert!(err.contains("syncResources"), "{err}");
        assert_eq!(
            ClustersFile::parse("").expect("empty"),
            ClustersFile::default()
        );
    }
}
