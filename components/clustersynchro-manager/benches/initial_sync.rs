//! Initial sync throughput and peak memory of the synchro.
//!
//! ```text
//! kube-sim --size 100k --kubeconfig /tmp/member.yaml --cluster-name member &
//! cargo bench -p clusterpedia-synchro --bench initial_sync -- --kubeconfig /tmp/member.yaml [--storage null|memory]
//! ```
//!
//! Without `--kubeconfig` an in-process simulator with the `small` fixtures is used (a smoke
//! run; its memory counts in the peak RSS). `null` storage drops what it is given, so the peak
//! RSS is the synchro's own; `memory` keeps every object.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, PediaCluster, ResourceSyncStatus};
use clusterpedia_synchro::{ClusterInput, Manager, SyncResourcesRef, SynchroOptions};
use k8s_openapi::ByteString;
use storage_api::{
    Change, ClusterResourceVersions, CollectionResource, CollectionResourceStorage, Gvr,
    ListOptions, ListPage, ObjectEvent, ObjectKey, ResourceObject, ResourceStorage,
    ResourceStorageConfig, StorageError, StorageFactory, StoredResourceType, Verb,
};

/// Stores nothing; counts what it is given.
#[derive(Default)]
struct NullFactory {
    changes: Arc<AtomicU64>,
}

struct NullStorage {
    config: ResourceStorageConfig,
    changes: Arc<AtomicU64>,
}

#[async_trait]
impl StorageFactory for NullFactory {
    fn supported_verbs(&self) -> &'static [Verb] {
        &[Verb::Get, Verb::List]
    }
    async fn prepare_cluster(&self, _: &str) -> storage_api::Result<()> {
        Ok(())
    }
    async fn resource_versions(
        &self,
        _: &str,
    ) -> storage_api::Result<HashMap<Gvr, ClusterResourceVersions>> {
        Ok(HashMap::new())
    }
    async fn stored_resource_types(&self) -> storage_api::Result<Vec<StoredResourceType>> {
        Ok(Vec::new())
    }
    fn collection_resources(&self) -> Vec<CollectionResource> {
        Vec::new()
    }
    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> storage_api::Result<Arc<dyn ResourceStorage>> {
        Ok(Arc::new(NullStorage {
            config,
            changes: self.changes.clone(),
        }))
    }
    async fn new_collection_resource_storage(
        &self,
        _: &CollectionResource,
    ) -> storage_api::Result<Arc<dyn CollectionResourceStorage>> {
        Err(StorageError::config("no collections"))
    }
    async fn clean_cluster(&self, _: &str) -> storage_api::Result<()> {
        Ok(())
    }
    async fn clean_cluster_resource(&self, _: &str, _: &Gvr) -> storage_api::Result<()> {
        Ok(())
    }
    async fn check_ready(&self) -> storage_api::Result<()> {
        Ok(())
    }
    async fn shutdown(&self) -> storage_api::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl ResourceStorage for NullStorage {
    fn config(&self) -> &ResourceStorageConfig {
        &self.config
    }
    async fn get(&self, _: &str, _: &str, name: &str) -> storage_api::Result<ResourceObject> {
        Err(StorageError::not_found(name))
    }
    async fn list(&self, _: &ListOptions) -> storage_api::Result<ListPage> {
        Ok(ListPage::default())
    }
    async fn create(&self, _: ResourceObject) -> storage_api::Result<()> {
        Ok(())
    }
    async fn update(&self, _: ResourceObject) -> storage_api::Result<()> {
        Ok(())
    }
    async fn delete(&self, _: &ObjectKey) -> storage_api::Result<()> {
        Ok(())
    }
    async fn apply(&self, changes: Vec<Change>) -> storage_api::Result<()> {
        self.changes
            .fetch_add(changes.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn record_events(&self, _: Vec<ObjectEvent>) -> storage_api::Result<()> {
        Ok(())
    }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn group(group: &str, resources: &[&str]) -> ClusterGroupResources {
    ClusterGroupResources {
        group: group.into(),
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let storage_name = arg("--storage").unwrap_or_else(|| "null".into());
    let mut sim = None;
    let kubeconfig = match arg("--kubeconfig") {
        Some(path) => std::fs::read_to_string(&path)?,
        None => {
            let handle = kube_sim::Simulator::builder().start().await?;
            let kubeconfig = handle.kubeconfig_yaml("member");
            sim = Some(handle);
            kubeconfig
        }
    };
    let null = Arc::new(NullFactory::default());
    let storage: Arc<dyn StorageFactory> = match storage_name.as_str() {
        "memory" => Arc::new(storage_memory::MemoryStorageFactory::default()),
        _ => null.clone(),
    };
    let mut options = SynchroOptions::defaults();
    options.metrics_port = 0;
    if let Some(n) = arg("--page-size") {
        options.page_size = n.parse()?;
    }
    if let Some(n) = arg("--worker-number") {
        options.worker_number = n.parse()?;
    }
    let manager = Manager::new(
        &options,
        storage.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    let cluster = PediaCluster::new(
        "member",
        ClusterSpec {
            kubeconfig: Some(ByteString(kubeconfig.into_bytes())),
            sync_resources: vec![
                group(
                    "",
                    &[
                        "pods",
                        "services",
                        "configmaps",
                        "events",
                        "namespaces",
                        "nodes",
                    ],
                ),
                group("apps", &["deployments", "replicasets"]),
                group("example.io", &["*"]),
            ],
            ..Default::default()
        },
    );
    let started = Instant::now();
    manager.apply(ClusterInput {
        cluster,
        sync_resources_ref: SyncResourcesRef::None,
    });
    let mut statuses = manager.statuses();
    loop {
        let done = statuses.borrow_and_update().get("member").is_some_and(|s| {
            !s.sync_resources.is_empty()
                && s.sync_resources.iter().all(|g| {
                    g.resources.iter().all(|r| {
                        r.sync_conditions.iter().all(|c| {
                            c.status == ResourceSyncStatus::Syncing && !c.initial_list_phase
                        })
                    })
                })
        });
        if done {
            break;
        }
        tokio::time::timeout(Duration::from_secs(600), statuses.changed()).await??;
    }
    let elapsed = started.elapsed();
    let objects = match storage_name.as_str() {
        "memory" => storage
            .resource_versions("member")
            .await?
            .values()
            .map(|v| v.resources.len() as u64)
            .sum(),
        _ => null.changes.load(Ordering::Relaxed),
    };
    println!(
        "initial sync: {objects} objects in {:.2} s = {:.0} objects/s; peak RSS {:.0} MiB (storage: {storage_name})",
        elapsed.as_secs_f64(),
        objects as f64 / elapsed.as_secs_f64(),
        peak_rss_mib()
    );
    manager.shutdown().await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(())
}
