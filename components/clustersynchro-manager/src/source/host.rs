//! PediaClusters from the host cluster: a kube-runtime controller over `PediaCluster` (and the
//! `ClusterSyncResources` they refer to) that keeps the finalizer
//! `clusterpedia.io/cluster-synchro-controller` on every cluster it syncs, so that deleting a
//! PediaCluster cleans its data first; and the status writer that patches
//! `PediaCluster.status`.

use std::sync::Arc;
use std::time::Duration;

use clusterpedia_crds::{
    CLUSTER_SYNCHRO_FINALIZER, ClusterStatus, ClusterSyncResources, PediaCluster,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use crate::credentials::{SecretFuture, SecretSource};
use crate::fleet::Fleet;
use crate::manager::{ClusterInput, Manager, SyncResourcesRef};
use crate::status::StatusWriter;

/// The namespace of `authenticationFrom` Secrets: `$CLUSTERPEDIA_NAMESPACE`, else
/// `clusterpedia-system`.
pub fn clusterpedia_namespace() -> String {
    std::env::var("CLUSTERPEDIA_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "clusterpedia-system".into())
}

/// Writes statuses with a merge patch of the status subresource.
pub struct HostStatusWriter {
    api: Api<PediaCluster>,
}

impl HostStatusWriter {
    /// A writer through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            api: Api::all(client),
        }
    }
}

/// The merge patch that makes the object's status equal to `status` (absent fields are
/// removed with explicit nulls).
pub fn status_patch(status: &ClusterStatus) -> serde_json::Value {
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        for key in [
            "apiserver",
            "version",
            "conditions",
            "syncResources",
            "shardingName",
        ] {
            object.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({ "status": value })
}

impl StatusWriter for HostStatusWriter {
    fn write<'a>(
        &'a self,
        name: &'a str,
        status: &'a ClusterStatus,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let patch = status_patch(status);
            match self
                .api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(()),
                // The object is gone: nothing to report on.
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// Reads `authenticationFrom` Secrets from the clusterpedia namespace.
pub struct HostSecrets {
    api: Api<Secret>,
}

impl HostSecrets {
    /// Secrets of `namespace` through `client`.
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
        }
    }
}

impl SecretSource for HostSecrets {
    fn secret_value<'a>(&'a self, name: &'a str, key: &'a str) -> SecretFuture<'a> {
        Box::pin(async move {
            let secret = self.api.get(name).await.map_err(|e| e.to_string())?;
            secret
                .data
                .and_then(|mut d| d.remove(key))
                .map(|v| v.0)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("secret {name}'s {key} is empty"))
        })
    }
}

struct Context {
    manager: Manager,
    /// With `--shard-clusters`: which clusters this replica holds.
    fleet: Option<Fleet>,
    clusters: Api<PediaCluster>,
    sync_resources: Api<ClusterSyncResources>,
}

#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

async fn resolve_ref(ctx: &Context, cluster: &PediaCluster) -> SyncResourcesRef {
    let name = &cluster.spec.sync_resources_ref_name;
    if name.is_empty() {
        return SyncResourcesRef::None;
    }
    match ctx.sync_resources.get_opt(name).await {
        Ok(Some(r)) => SyncResourcesRef::Found(r.spec.sync_resources),
        Ok(None) => SyncResourcesRef::NotFound,
        Err(e) => SyncResourcesRef::Error(e.to_string()),
    }
}

/// Sets the object's finalizers, conditional on its resource version (a conflict retries the
/// reconcile with the newer object).
async fn set_finalizers(
    api: &Api<PediaCluster>,
    cluster: &PediaCluster,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": cluster.resource_version(),
        }
    });
    api.patch(
        &cluster.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

async fn reconcile(
    cluster: Arc<PediaCluster>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let name = cluster.name_any();
    let has_finalizer = cluster
        .finalizers()
        .iter()
        .any(|f| f == CLUSTER_SYNCHRO_FINALIZER);
    if cluster.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            if let Some(fleet) = &ctx.fleet
                && !fleet.owns(&name)
            {
                // Only the holder of the cluster's Lease cleans (no other replica writes it).
                if cluster.spec.sharding_name == ctx.manager.sharding_name() {
                    fleet.offer(ClusterInput {
                        cluster: (*cluster).clone(),
                        sync_resources_ref: SyncResourcesRef::None,
                    });
                }
                return Ok(Action::requeue(fleet.retry_period()));
            }
            // Stop syncing and clean the data, then let the object go.
            ctx.manager.delete(&name).await;
            let others = cluster
                .finalizers()
                .iter()
                .filter(|f| *f != CLUSTER_SYNCHRO_FINALIZER)
                .cloned()
                .collect();
            set_finalizers(&ctx.clusters, &cluster, others).await?;
        }
        if let Some(fleet) = &ctx.fleet {
            fleet.withdraw(&name).await;
        }
        return Ok(Action::await_change());
    }
    if cluster.spec.sharding_name != ctx.manager.sharding_name() {
        // Another manager's cluster: leave it (and its finalizer) alone.
        match &ctx.fleet {
            Some(fleet) => fleet.withdraw(&name).await,
            None => ctx.manager.forget(&name).await,
        }
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        let mut finalizers = cluster.finalizers().to_vec();
        finalizers.push(CLUSTER_SYNCHRO_FINALIZER.into());
        set_finalizers(&ctx.clusters, &cluster, finalizers).await?;
    }
    let sync_resources_ref = resolve_ref(&ctx, &cluster).await;
    let input = ClusterInput {
        cluster: (*cluster).clone(),
        sync_resources_ref,
    };
    match &ctx.fleet {
        Some(fleet) => fleet.offer(input),
        None => ctx.manager.apply(input),
    }
    // Secrets are not watched: look at them again now and then.
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(cluster: Arc<PediaCluster>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    match error {
        ReconcileError::Kube(kube::Error::Api(s)) if s.code == 409 => {
            Action::requeue(Duration::from_millis(200))
        }
        _ => {
            tracing::warn!(cluster = %cluster.name_any(), error = %error, "reconcile failed, retrying");
            Action::requeue(Duration::from_secs(5))
        }
    }
}

/// Syncs the host cluster's PediaClusters into `manager` until `shutdown` completes.
pub async fn run(
    manager: Manager,
    client: kube::Client,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    run_sharded(manager, client, None, shutdown).await
}

/// [`run`], syncing only the clusters whose Lease this replica holds in `fleet` (which must
/// be running, see [`Fleet::run`]) when given.
pub async fn run_sharded(
    manager: Manager,
    client: kube::Client,
    fleet: Option<Fleet>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let clusters: Api<PediaCluster> = Api::all(client.clone());
    let sync_resources: Api<ClusterSyncResources> = Api::all(client.clone());
    if let Err(e) = clusters
        .list(&kube::api::ListParams::default().limit(1))
        .await
    {
        anyhow::bail!(
            "cannot list PediaClusters in the host cluster ({e}); are the CRDs of deploy/crds/ applied?"
        );
    }
    let controller = Controller::new(clusters.clone(), watcher::Config::default());
    let store = controller.store();
    // A deleted PediaCluster is reconciled by its owner only: the other replicas learn that it
    // is gone from the store.
    let pruner = fleet.clone().map(|fleet| {
        let store = store.clone();
        tokio::spawn(async move {
            if store.wait_until_ready().await.is_err() {
                return;
            }
            loop {
                let present = store.state().iter().map(|c| c.name_any()).collect();
                fleet.retain(&present);
                tokio::time::sleep(fleet.retry_period()).await;
            }
        })
    });
    let context = Arc::new(Context {
        manager,
        fleet,
        clusters,
        sync_resources: sync_resources.clone(),
    });
    controller
        .watches(
            sync_resources,
            watcher::Config::default(),
            move |resources| {
                let name = resources.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|c| c.spec.sync_resources_ref_name == name)
                    .map(|c| ObjectRef::from_obj(&*c))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
    if let Some(pruner) = pruner {
        pruner.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patch_removes_absent_fields() {
        let patch = status_patch(&ClusterStatus {
            version: "v1.36.0".into(),
            ..Default::default()
        });
        assert_eq!(patch["status"]["version"], "v1.36.0");
        assert!(patch["status"]["syncResources"].is_null());
        assert!(
            patch["status"]
                .as_object()
                .expect("object")
                .contains_key("syncResources")
        );
    }
}
