//! Per-user results (`--member-rbac-filter`): what a user may list in each member cluster,
//! decided by that cluster's own RBAC objects as synced into storage (`Role`, `ClusterRole`,
//! `RoleBinding`, `ClusterRoleBinding` of `rbac.authorization.k8s.io/v1`), evaluated with
//! [`kube_wire::rbac`], and handed to the storage layer as [`ListOptions::access`] so that every
//! layer filters inside its query.
//!
//! Identity mapping: the user and groups of the request, unchanged (the same names in every
//! member cluster). A cluster whose RBAC objects are not stored grants nothing.
//!
//! The RBAC objects are read again when the storage says one changed, and at least every
//! [`SNAPSHOT_TTL`]; each user's answer is cached until the next read. When the layer supports
//! watch, each RBAC resource read is then watched (from the resource version of its list, so no
//! change falls between the two), and any event makes the next request read them again: a change
//! in a member cluster is seen within the synchro's delay. Without watch (or while a watch is
//! down), within the synchro's delay plus [`SNAPSHOT_TTL`].
//!
//! [`ListOptions::access`]: storage_api::ListOptions

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kube_wire::rbac::{Rbac, Scope};
use storage_api::query::{AccessScope, NamespaceAccess};
use storage_api::{ListOptions, ResourceStorage, WatchEvent};

use crate::auth::User;
use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::host::{CACHE_ENTRIES, TtlCache};

/// How long the RBAC objects read from storage are used before they are read again.
pub(crate) const SNAPSHOT_TTL: Duration = Duration::from_secs(10);

/// The RBAC resources, as stored.
const RBAC: [&str; 4] = [
    "clusterroles",
    "roles",
    "clusterrolebindings",
    "rolebindings",
];
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The RBAC of every member cluster, read at one time.
#[derive(Debug)]
struct Snapshot {
    read_at: Instant,
    generation: u64,
    clusters: BTreeMap<String, Rbac>,
}

/// Per-user scopes over the member clusters' RBAC.
#[derive(Debug)]
pub(crate) struct MemberRbac {
    snapshot: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    scopes: TtlCache<String, AccessScope>,
    generations: Mutex<u64>,
    /// Set by the watches of the RBAC resources on every change: the next request reads them
    /// again.
    changed: Arc<AtomicBool>,
    /// The watch of each RBAC resource (a finished task: not watched).
    watches: Mutex<HashMap<&'static str, tokio::task::JoinHandle<()>>>,
}

impl Drop for MemberRbac {
    fn drop(&mut self) {
        let watches = self
            .watches
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, task) in watches.drain() {
            task.abort();
        }
    }
}

impl Default for MemberRbac {
    fn default() -> Self {
        Self {
            snapshot: tokio::sync::Mutex::new(None),
            scopes: TtlCache::new(CACHE_ENTRIES),
            generations: Mutex::new(0),
            changed: Arc::new(AtomicBool::new(false)),
            watches: Mutex::new(HashMap::new()),
        }
    }
}

impl MemberRbac {
    async fn snapshot(&self, catalog: &Catalog) -> Result<Arc<Snapshot>, ApiError> {
        let mut current = self.snapshot.lock().await;
        if let Some(snapshot) = current.as_ref()
            && snapshot.read_at.elapsed() < SNAPSHOT_TTL
            && !self.changed.load(Ordering::SeqCst)
        {
            return Ok(snapshot.clone());
        }
        // Changes from now on make the snapshot being read stale.
        self.changed.store(false, Ordering::SeqCst);
        let mut clusters: BTreeMap<String, Rbac> = BTreeMap::new();
        let stored = catalog.current();
        let Some(all) = stored.scope(None) else {
            return Err(ApiError::internal(
                "the stored resource types are not known yet",
            ));
        };
        for resource in RBAC {
            let Some(info) = all.resource(RBAC_GROUP, "v1", resource) else {
                continue;
            };
            let storage = catalog.resource_storage(info).await?;
            let page = storage.list(&ListOptions::default()).await?;
            if catalog.supports("watch") {
                self.watch(resource, &storage, page.resource_version.clone())
                    .await;
            }
            for item in page.items {
                if let Ok(object) = serde_json::from_slice::<serde_json::Value>(&item.raw) {
                    clusters
                        .entry(item.fields.cluster.to_string())
                        .or_default()
                        .add(&object);
                }
            }
        }
        let generation = {
            let mut generations = self
                .generations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *generations += 1;
            *generations
        };
        let snapshot = Arc::new(Snapshot {
            read_at: Instant::now(),
            generation,
            clusters,
        });
        *current = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// Watches `resource` from `from` (the resource version of the list just read), unless it is
    /// watched already; any event marks the snapshot as changed. A watch that cannot start or
    /// ends is started again at the next read (at most [`SNAPSHOT_TTL`] later).
    async fn watch(
        &self,
        resource: &'static str,
        storage: &Arc<dyn ResourceStorage>,
        from: Option<String>,
    ) {
        let watched = self
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(resource)
            .is_some_and(|task| !task.is_finished());
        if watched {
            return;
        }
        let mut options = ListOptions::default();
        options.resource_version = from;
        let mut events = match storage.watch(&options).await {
            Ok(events) => events,
            Err(error) => {
                tracing::debug!(%error, resource, "member RBAC: cannot watch; read every {SNAPSHOT_TTL:?}");
                return;
            }
        };
        let changed = self.changed.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    Ok(WatchEvent::Bookmark { .. } | WatchEvent::InitialEventsEnd { .. }) => {}
                    Ok(_) => changed.store(true, Ordering::SeqCst),
                    Err(error) => {
                        tracing::debug!(%error, resource, "member RBAC: the watch ended");
                        break;
                    }
                }
            }
        });
        self.watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(resource, task);
    }

    /// Where `user` may `verb` (`list`, `watch`, `get`) objects of `group/resource`, per member
    /// cluster.
    pub(crate) async fn scope(
        &self,
        catalog: &Catalog,
        user: &User,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> Result<AccessScope, ApiError> {
        let snapshot = self.snapshot(catalog).await?;
        let key = format!(
            "{}\0{:?}\0{}\0{verb}\0{group}\0{resource}",
            snapshot.generation, user.groups, user.name
        );
        if let Some(scope) = self.scopes.get(&key) {
            return Ok(scope);
        }
        let mut scope = AccessScope::default();
        for (cluster, rbac) in &snapshot.clusters {
            match rbac.scope(&user.name, &user.groups, verb, group, resource) {
                Scope::All => {
                    scope.clusters.insert(cluster.clone(), NamespaceAccess::All);
                }
                Scope::Namespaces(namespaces) if !namespaces.is_empty() => {
                    scope
                        .clusters
                        .insert(cluster.clone(), NamespaceAccess::Only(namespaces));
                }
                Scope::Namespaces(_) => {}
            }
        }
        self.scopes.insert(key, scope.clone(), SNAPSHOT_TTL);
        Ok(scope)
    }
}
