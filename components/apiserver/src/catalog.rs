//! What the server knows about the storage: which resource types are stored for which cluster
//! (a snapshot of [`StorageFactory::stored_resource_types`], with the discovery documents built
//! from it), and the storages of resources and collection resources, created once and reused.
//!
//! The snapshot is refreshed in the background every [`Catalog::REFRESH_INTERVAL`], and on
//! demand when a request names a cluster or resource the snapshot does not have (at most once
//! per [`Catalog::MIN_REFRESH_AGE`]), so that a newly synced resource is served at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use storage_api::collection::CollectionResource;
use storage_api::{
    CollectionResourceStorage, Gvr, ResourceStorage, ResourceStorageConfig, StorageFactory,
    StoredResourceType,
};

use crate::discovery::{self, ResourceInfo};
use crate::error::ApiError;

/// The resources of one scope (one cluster, or the union of all clusters) and their discovery
/// documents, built once per snapshot.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    resources: HashMap<Gvr, Arc<ResourceInfo>>,
    /// `/api/v1`.
    core_v1: Bytes,
    /// `/apis`.
    groups: Bytes,
    /// `/apis/<group>`, by group.
    group: HashMap<String, Bytes>,
    /// `/apis/<group>/<version>`, by group and version.
    group_version: HashMap<(String, String), Bytes>,
}

impl Scope {
    fn build<'a>(types: impl Iterator<Item = &'a StoredResourceType>, verbs: &[&str]) -> Self {
        // group -> version -> resource -> info
        let mut tree: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, Arc<ResourceInfo>>>> =
            BTreeMap::new();
        let mut resources = HashMap::new();
        for t in types {
            let info = resources
                .entry(t.gvr.clone())
                .or_insert_with(|| {
                    Arc::new(ResourceInfo {
                        gvr: t.gvr.clone(),
                        kind: t.kind.clone(),
                        namespaced: t.namespaced,
                    })
                })
                .clone();
            tree.entry(t.gvr.group.as_str())
                .or_default()
                .entry(t.gvr.version.as_str())
                .or_default()
                .entry(t.gvr.resource.as_str())
                .or_insert(info);
        }

        let mut scope = Self {
            resources,
            ..Self::default()
        };
        let core: Vec<&ResourceInfo> = tree
            .get("")
            .and_then(|versions| versions.get("v1"))
            .map(|r| r.values().map(|i| &**i).collect())
            .unwrap_or_default();
        scope.core_v1 = discovery::api_resource_list("v1", &core, verbs);

        let mut groups = Vec::new();
        for (group, versions) in tree.iter().filter(|(g, _)| !g.is_empty()) {
            let mut ordered: Vec<&str> = versions.keys().copied().collect();
            ordered.sort_by(|a, b| discovery::compare_versions(a, b));
            for (version, resources) in versions {
                let list: Vec<&ResourceInfo> = resources.values().map(|i| &**i).collect();
                scope.group_version.insert(
                    ((*group).to_owned(), (*version).to_owned()),
                    discovery::api_resource_list(&format!("{group}/{version}"), &list, verbs),
                );
            }
            scope
                .group
                .insert((*group).to_owned(), discovery::api_group(group, &ordered));
            groups.push((*group, ordered));
        }
        scope.groups = discovery::api_group_list(&groups);
        scope
    }

    /// The resource `group/version/resource`, if stored in this scope.
    pub(crate) fn resource(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Option<&Arc<ResourceInfo>> {
        self.resources.get(&Gvr::new(group, version, resource))
    }

    /// The stored group/version/resources of this scope, in no order.
    pub(crate) fn gvrs(&self) -> impl Iterator<Item = &Gvr> {
        self.resources.keys()
    }

    /// The `APIResourceList` of `/api/v1`.
    pub(crate) fn core_v1(&self) -> Bytes {
        self.core_v1.clone()
    }

    /// The `APIGroupList` of `/apis`.
    pub(crate) fn groups(&self) -> Bytes {
        self.groups.clone()
    }

    /// The `APIGroup` of `/apis/<group>`.
    pub(crate) fn group(&self, group: &str) -> Option<Bytes> {
        self.group.get(group).cloned()
    }

    /// The `APIResourceList` of `/apis/<group>/<version>`.
    pub(crate) fn group_version(&self, group: &str, version: &str) -> Option<Bytes> {
        self.group_version
            .get(&(group.to_owned(), version.to_owned()))
            .cloned()
    }
}

/// One snapshot of what is stored.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Every cluster together.
    pub(crate) all: Scope,
    /// Each cluster.
    pub(crate) clusters: HashMap<String, Scope>,
    /// Whether this snapshot was read from the storage (not the empty start value).
    pub(crate) loaded: bool,
    taken: Instant,
}

impl Snapshot {
    fn empty(verbs: &[&str]) -> Self {
        Self {
            all: Scope::build(std::iter::empty(), verbs),
            clusters: HashMap::new(),
            loaded: false,
            taken: Instant::now(),
        }
    }

    fn build(types: &[StoredResourceType], verbs: &[&str]) -> Self {
        let mut by_cluster: BTreeMap<&str, Vec<&StoredResourceType>> = BTreeMap::new();
        for t in types {
            by_cluster.entry(t.cluster.as_str()).or_default().push(t);
        }
        Self {
            all: Scope::build(types.iter(), verbs),
            clusters: by_cluster
                .into_iter()
                .map(|(cluster, types)| {
                    (cluster.to_owned(), Scope::build(types.into_iter(), verbs))
                })
                .collect(),
            loaded: true,
            taken: Instant::now(),
        }
    }

    /// The scope of `cluster` (`None`: all clusters); `None` when the cluster is unknown.
    pub(crate) fn scope(&self, cluster: Option<&str>) -> Option<&Scope> {
        match cluster {
            None => Some(&self.all),
            Some(cluster) => self.clusters.get(cluster),
        }
    }
}

/// The storage, its snapshot of stored types and its cached storages.
pub(crate) struct Catalog {
    storage: Arc<dyn StorageFactory>,
    verbs: Vec<&'static str>,
    snapshot: RwLock<Arc<Snapshot>>,
    refreshing: tokio::sync::Mutex<()>,
    resources: RwLock<HashMap<Gvr, Arc<dyn ResourceStorage>>>,
    collections: RwLock<HashMap<String, Arc<dyn CollectionResourceStorage>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("verbs", &self.verbs)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// How often the snapshot is refreshed in the background.
    pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(10);
    /// A request for something unknown refreshes a snapshot only when it is at least this old.
    pub(crate) const MIN_REFRESH_AGE: Duration = Duration::from_secs(1);

    /// A catalog of `storage`, with an empty snapshot until [`Catalog::refresh`].
    pub(crate) fn new(storage: Arc<dyn StorageFactory>) -> Self {
        let verbs: Vec<&'static str> = storage
            .supported_verbs()
            .iter()
            .map(|v| v.as_str())
            .collect();
        Self {
            snapshot: RwLock::new(Arc::new(Snapshot::empty(&verbs))),
            verbs,
            storage,
            refreshing: tokio::sync::Mutex::new(()),
            resources: RwLock::new(HashMap::new()),
            collections: RwLock::new(HashMap::new()),
        }
    }

    /// The storage layer.
    pub(crate) fn storage(&self) -> &Arc<dyn StorageFactory> {
        &self.storage
    }

    /// Whether `group`/`resource` is stored for some cluster (in some version), as far as the
    /// current snapshot knows.
    pub(crate) fn stores(&self, group: &str, resource: &str) -> bool {
        self.current()
            .all
            .resources
            .keys()
            .any(|gvr| gvr.group == group && gvr.resource == resource)
    }

    /// Whether the layer supports `verb` (`get`, `list`, `watch`).
    pub(crate) fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The current snapshot.
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the stored types again and replaces the snapshot.
    pub(crate) async fn refresh(&self) -> Result<Arc<Snapshot>, ApiError> {
        let started = Instant::now();
        let _guard = self.refreshing.lock().await;
        let current = self.current();
        if current.loaded && current.taken >= started {
            // Refreshed by another request while this one waited.
            return Ok(current);
        }
        let types = self.storage.stored_resource_types().await?;
        let snapshot = Arc::new(Snapshot::build(&types, &self.verbs));
        match self.snapshot.write() {
            Ok(mut guard) => *guard = snapshot.clone(),
            Err(poisoned) => *poisoned.into_inner() = snapshot.clone(),
        }
        Ok(snapshot)
    }

    /// The current snapshot, refreshed first if `lacks` says it lacks what the request needs
    /// and it is older than [`Catalog::MIN_REFRESH_AGE`]. A failed refresh keeps the current one.
    pub(crate) async fn snapshot_for(&self, lacks: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        let current = self.current();
        if !lacks(&current) || current.taken.elapsed() < Self::MIN_REFRESH_AGE {
            return current;
        }
        match self.refresh().await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::warn!(error = %error.message, "cannot refresh the stored resource types");
                current
            }
        }
    }

    /// The storage of a resource, created on first use.
    pub(crate) async fn resource_storage(
        &self,
        info: &ResourceInfo,
    ) -> Result<Arc<dyn ResourceStorage>, ApiError> {
        if let Some(storage) = read(&self.resources).get(&info.gvr) {
            return Ok(storage.clone());
        }
        let storage = self
            .storage
            .new_resource_storage(ResourceStorageConfig {
                gvr: info.gvr.clone(),
                kind: info.kind.clone(),
                namespaced: info.namespaced,
            })
            .await?;
        let mut cache = write(&self.resources);
        Ok(cache.entry(info.gvr.clone()).or_insert(storage).clone())
    }

    /// The storage of a collection resource, created on first use.
    pub(crate) async fn collection_storage(
        &self,
        collection: &CollectionResource,
    ) -> Result<Arc<dyn CollectionResourceStorage>, ApiError> {
        if let Some(storage) = read(&self.collections).get(&collection.name) {
            return Ok(storage.clone());
        }
        let storage = self
            .storage
            .new_collection_resource_storage(collection)
            .await?;
        let mut cache = write(&self.collections);
        Ok(cache
            .entry(collection.name.clone())
            .or_insert(storage)
            .clone())
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(
        cluster: &str,
        group: &str,
        version: &str,
        resource: &str,
        kind: &str,
    ) -> StoredResourceType {
        StoredResourceType {
            cluster: cluster.into(),
            gvr: Gvr::new(group, version, resource),
            kind: kind.into(),
            namespaced: resource != "nodes",
        }
    }

    #[test]
    fn snapshot_has_per_cluster_scopes_and_their_union() {
        let types = vec![
            stored("c1", "", "v1", "pods", "Pod"),
            stored("c1", "apps", "v1", "deployments", "Deployment"),
            stored("c2", "", "v1", "nodes", "Node"),
            stored("c2", "apps", "v1beta2", "deployments", "Deployment"),
        ];
        let snapshot = Snapshot::build(&types, &["get", "list"]);
        assert!(snapshot.all.resource("", "v1", "pods").is_some());
        assert!(snapshot.all.resource("", "v1", "nodes").is_some());
        assert!(
            snapshot
                .scope(Some("c1"))
                .expect("c1")
                .resource("", "v1", "nodes")
                .is_none()
        );
        assert!(snapshot.scope(Some("c3")).is_none());
        let apps: serde_json::Value =
            serde_json::from_slice(&snapshot.all.group("apps").expect("apps")).expect("json");
        assert_eq!(apps["preferredVersion"]["version"], "v1");
        assert_eq!(apps["versions"][1]["groupVersion"], "apps/v1beta2");
        let c1_apps: serde_json::Value =
            serde_json::from_slice(&snapshot.clusters["c1"].group("apps").expect("apps"))
                .expect("json");
        assert_eq!(c1_apps["versions"].as_array().map(Vec::len), Some(1));
        let nodes: serde_json::Value =
            serde_json::from_slice(&snapshot.clusters["c2"].core_v1()).expect("json");
        assert_eq!(nodes["resources"][0]["name"], "nodes");
        assert_eq!(nodes["resources"][0]["namespaced"], false);
    }
}
