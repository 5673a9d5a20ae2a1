//! Per-user results (`--member-rbac-filter`): what a user may list in each member cluster,
//! decided by that cluster's own RBAC objects as synced into storage (`Role`, `ClusterRole`,
//! `RoleBinding`, `ClusterRoleBinding` of `rbac.authorization.k8s.io/v1`), evaluated with
//! [`kube_wire::rbac`], and handed to the storage layer as [`ListOptions::access`] so that every
//! layer filters inside its query.
//!
//! Identity mapping ([`IdentityMap`], `--member-rbac-identity-map`): by default the user and
//! groups of the request, unchanged (the same names in every member cluster); per cluster, a
//! prefix and explicit renames. A cluster whose RBAC objects are not stored grants nothing.
//!
//! The RBAC objects are read again when the storage says one changed, and at least every
//! [`SNAPSHOT_TTL`]; each user's answer is cached until the next read. When the layer supports
//! watch, each RBAC resource read is then watched (from the resource version of its list, so no
//! change falls between the two), and any event makes the next request read them again: a change
//! in a member cluster is seen within the synchro's delay. Without watch (or while a watch is
//! down), within the synchro's delay plus [`SNAPSHOT_TTL`].
//!
//! [`ListOptions::access`]: storage_api::ListOptions

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
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

/// How the request's user and groups are named in each member cluster
/// (`--member-rbac-identity-map`, YAML); a cluster not named: the same names.
///
/// ```yaml
/// clusters:
///   prod-eu:
///     userPrefix: "oidc:"        # alice -> oidc:alice
///     groupPrefix: "oidc:"
///     users: {bob: bob@example.com}   # an explicit name wins over the prefix
///     groups: {dev: developers}
/// ```
///
/// Names starting with `system:` (`system:authenticated`, service accounts, ...) are
/// Kubernetes' own and are never renamed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityMap {
    #[serde(default)]
    clusters: BTreeMap<String, ClusterIdentities>,
}

/// The names of one member cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct ClusterIdentities {
    user_prefix: String,
    group_prefix: String,
    users: BTreeMap<String, String>,
    groups: BTreeMap<String, String>,
}

impl ClusterIdentities {
    fn rename(name: &str, prefix: &str, explicit: &BTreeMap<String, String>) -> String {
        match explicit.get(name) {
            Some(renamed) => renamed.clone(),
            None if name.starts_with("system:") => name.to_owned(),
            None => format!("{prefix}{name}"),
        }
    }
}

impl IdentityMap {
    /// The map of the YAML file at `path`; an unknown key is an error.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("--member-rbac-identity-map: cannot read {}", path.display())
        })?;
        serde_norway::from_str(&text).with_context(|| {
            format!(
                "--member-rbac-identity-map: {} is not an identity map",
                path.display()
            )
        })
    }

    /// The user name and groups of `user` in `cluster`.
    fn of<'a>(&self, cluster: &str, user: &'a User) -> (Cow<'a, str>, Cow<'a, [String]>) {
        match self.clusters.get(cluster) {
            None => (Cow::Borrowed(&user.name), Cow::Borrowed(&user.groups)),
            Some(names) => (
                Cow::Owned(ClusterIdentities::rename(
                    &user.name,
                    &names.user_prefix,
                    &names.users,
                )),
                Cow::Owned(
                    user.groups
                        .iter()
                        .map(|g| ClusterIdentities::rename(g, &names.group_prefix, &names.groups))
                        .collect(),
                ),
            ),
        }
    }
}

/// Where `user` may `verb` objects of `group/resource` in each of `clusters` (their RBAC),
/// named in each as `identities` say.
fn evaluate(
    clusters: &BTreeMap<String, Rbac>,
    identities: &IdentityMap,
    user: &User,
    verb: &str,
    group: &str,
    resource: &str,
) -> AccessScope {
    let mut scope = AccessScope::default();
    for (cluster, rbac) in clusters {
        let (name, groups) = identities.of(cluster, user);
        match rbac.scope(&name, &groups, verb, group, resource) {
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
    scope
}

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
    /// How users and groups are named in each member cluster.
    identities: IdentityMap,
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
        Self::new(IdentityMap::default())
    }
}

impl MemberRbac {
    /// Per-user scopes with users and groups named in each member cluster as `identities` say.
    pub(crate) fn new(identities: IdentityMap) -> Self {
        Self {
            snapshot: tokio::sync::Mutex::new(None),
            scopes: TtlCache::new(CACHE_ENTRIES),
            generations: Mutex::new(0),
            changed: Arc::new(AtomicBool::new(false)),
            watches: Mutex::new(HashMap::new()),
            identities,
        }
    }

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
        let scope = evaluate(
            &snapshot.clusters,
            &self.identities,
            user,
            verb,
            group,
            resource,
        );
        self.scopes.insert(key, scope.clone(), SNAPSHOT_TTL);
        Ok(scope)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Two clusters binding `pod-reader` (pods, list) cluster-wide: `same` to `alice` and the
    /// group `dev`, `oidc` to `oidc:alice`, `bob@example.com` and the group `developers`.
    fn clusters() -> BTreeMap<String, Rbac> {
        let bound = |subjects: serde_json::Value| {
            let mut rbac = Rbac::new();
            rbac.add(
                &json!({"kind": "ClusterRole", "metadata": {"name": "pod-reader"},
                "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]}),
            );
            rbac.add(
                &json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
                "roleRef": {"kind": "ClusterRole", "name": "pod-reader"}, "subjects": subjects}),
            );
            rbac
        };
        [
            (
                "same".to_owned(),
                bound(json!([{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "dev"}])),
            ),
            (
                "oidc".to_owned(),
                bound(json!([{"kind": "User", "name": "oidc:alice"},
                             {"kind": "User", "name": "bob@example.com"},
                             {"kind": "Group", "name": "developers"}])),
            ),
        ]
        .into()
    }

    fn user(name: &str, groups: &[&str]) -> User {
        User {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..User::default()
        }
    }

    fn visible(identities: &IdentityMap, user: &User) -> Vec<String> {
        evaluate(&clusters(), identities, user, "list", "", "pods")
            .clusters
            .into_keys()
            .collect()
    }

    #[test]
    fn users_and_groups_are_named_per_member_cluster() {
        let same = IdentityMap::default();
        assert_eq!(visible(&same, &user("alice", &[])), ["same"]);
        let map: IdentityMap = serde_norway::from_str(
            "clusters:\n  oidc:\n    userPrefix: 'oidc:'\n    users: {bob: bob@example.com}\n    groups: {dev: developers}\n",
        )
        .expect("map");
        assert_eq!(visible(&map, &user("alice", &[])), ["oidc", "same"]);
        assert_eq!(visible(&map, &user("bob", &[])), ["oidc"], "explicit name");
        assert_eq!(
            visible(&map, &user("carol", &["dev"])),
            ["oidc", "same"],
            "group"
        );
        // `system:` names are never prefixed.
        let account = user("system:serviceaccount:a:b", &["system:authenticated"]);
        let (name, groups) = map.of("oidc", &account);
        assert_eq!(
            (&*name, &*groups),
            (
                "system:serviceaccount:a:b",
                &["system:authenticated".to_owned()][..]
            )
        );
        assert!(serde_norway::from_str::<IdentityMap>("clusters: {c: {userprefix: x}}").is_err());
    }
}
