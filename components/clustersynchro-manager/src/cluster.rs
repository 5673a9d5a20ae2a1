//! The synchro of one member cluster (the original's `ClusterSynchro`): reads discovery,
//! negotiates the resources to sync, runs one [`ResourceSynchro`] per stored resource, checks
//! the member's health (stopping every list/watch while it is unhealthy) and reports its part
//! of the PediaCluster status.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterpedia_crds::{
    ClusterGroupResources, ClusterGroupResourcesStatus, ClusterResourceStatus,
    ClusterResourceSyncCondition, ResourceSyncStatus, condition, reason,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use storage_api::{ClusterResourceVersions, Gvr, ResourceStorageConfig, StorageFactory};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::discovery::{ClusterDiscovery, discover};
use crate::health::{Health, check, health_client};
use crate::metrics::Metrics;
use crate::negotiate::{Negotiation, negotiate};
use crate::options::FeatureGates;
use crate::resource_synchro::{ResourceSynchro, SynchroContext};
use crate::status::{FALSE, TRUE, UNKNOWN, new_condition, now};

/// What to sync, from the PediaCluster spec (with `syncResourcesRefName` merged in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SyncSpec {
    /// The resources to sync.
    pub sync_resources: Vec<ClusterGroupResources>,
    /// Also every custom resource.
    pub sync_all_custom_resources: bool,
}

/// The part of the PediaCluster status a cluster synchro reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SynchroReport {
    /// The member's `gitVersion` (empty until known).
    pub version: String,
    /// `SynchroRunning`.
    pub running: Condition,
    /// `ClusterHealthy`.
    pub healthy: Condition,
    /// The synced resources (`None` until negotiated).
    pub sync_resources: Option<Vec<ClusterGroupResourcesStatus>>,
}

impl SynchroReport {
    fn initial() -> Self {
        Self {
            version: String::new(),
            running: new_condition(
                condition::SYNCHRO_RUNNING,
                FALSE,
                reason::SYNCHRO_PENDING,
                "cluster synchro is created, wait running",
            ),
            healthy: new_condition(
                condition::CLUSTER_HEALTHY,
                UNKNOWN,
                reason::CLUSTER_MONITOR_STOP,
                "wait cluster synchro's healthy monitor running",
            ),
            sync_resources: None,
        }
    }
}

/// What a cluster synchro needs from the manager.
#[derive(Clone)]
pub(crate) struct SynchroDeps {
    /// The storage layer.
    pub storage: Arc<dyn StorageFactory>,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Bounds concurrent storage writes.
    pub workers: Arc<Semaphore>,
    /// LIST page size.
    pub page_size: u32,
    /// Most changes per storage write.
    pub batch_size: usize,
    /// How often `/readyz` is checked.
    pub health_interval: Duration,
    /// How often discovery is read again.
    pub discovery_interval: Duration,
    /// Feature gates.
    pub gates: FeatureGates,
}

/// A running cluster synchro, as the manager holds it.
pub(crate) struct ClusterSynchroHandle {
    spec_tx: watch::Sender<SyncSpec>,
    report_rx: watch::Receiver<SynchroReport>,
    shutdown_tx: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

impl ClusterSynchroHandle {
    /// Starts the synchro of cluster `name`, reaching it with `config`.
    pub(crate) fn start(
        name: &str,
        config: kube::Config,
        spec: SyncSpec,
        deps: SynchroDeps,
    ) -> Self {
        let (spec_tx, spec_rx) = watch::channel(spec);
        let (report_tx, report_rx) = watch::channel(SynchroReport::initial());
        let (shutdown_tx, shutdown_rx) = watch::channel(None);
        let synchro = ClusterSynchro {
            name: Arc::from(name),
            config,
            deps,
            report_tx,
            report: SynchroReport::initial(),
            resources: BTreeMap::new(),
            create_errors: BTreeMap::new(),
            negotiation: Negotiation::default(),
            negotiated_at: now(),
            discovery: ClusterDiscovery::default(),
            runner_tx: watch::channel(false).0,
            status_changed: Arc::new(Notify::new()),
            dirty: true,
            negotiated: false,
        };
        let task = tokio::spawn(synchro.run(spec_rx, shutdown_rx));
        Self {
            spec_tx,
            report_rx,
            shutdown_tx,
            task,
        }
    }

    /// Changes what is synced.
    pub(crate) fn set_spec(&self, spec: SyncSpec) {
        self.spec_tx.send_if_modified(|current| {
            if *current == spec {
                false
            } else {
                *current = spec;
                true
            }
        });
    }

    /// The synchro's reports.
    pub(crate) fn reports(&self) -> watch::Receiver<SynchroReport> {
        self.report_rx.clone()
    }

    /// Stops the synchro, letting writers store what is queued for up to `drain`.
    pub(crate) async fn shutdown(self, drain: Duration) {
        self.shutdown_tx.send_replace(Some(drain));
        let mut task = self.task;
        // Leave room for stopping the resource synchros and the final report.
        if tokio::time::timeout(drain + Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }
}

struct ClusterSynchro {
    name: Arc<str>,
    config: kube::Config,
    deps: SynchroDeps,
    report_tx: watch::Sender<SynchroReport>,
    report: SynchroReport,
    resources: BTreeMap<Gvr, ResourceSynchro>,
    /// Stored resources whose storage could not be created, with the error (retried at the
    /// next discovery).
    create_errors: BTreeMap<Gvr, String>,
    negotiation: Negotiation,
    negotiated_at: Time,
    discovery: ClusterDiscovery,
    runner_tx: watch::Sender<bool>,
    status_changed: Arc<Notify>,
    dirty: bool,
    negotiated: bool,
}

/// Waits for the shutdown signal; returns the drain time.
async fn shutdown_signal(rx: &mut watch::Receiver<Option<Duration>>) -> Duration {
    loop {
        if let Some(drain) = *rx.borrow_and_update() {
            return drain;
        }
        if rx.changed().await.is_err() {
            return Duration::ZERO;
        }
    }
}

impl ClusterSynchro {
    fn publish(&mut self) {
        self.report.sync_resources = self.negotiated.then(|| self.sync_resources_status());
        self.report_tx.send_if_modified(|current| {
            if *current == self.report {
                false
            } else {
                *current = self.report.clone();
                true
            }
        });
        self.dirty = false;
    }

    fn set_running(&mut self, status: &str, reason: &str, message: String) {
        self.report.running = new_condition(condition::SYNCHRO_RUNNING, status, reason, message);
        self.dirty = true;
    }

    async fn run(
        mut self,
        mut spec_rx: watch::Receiver<SyncSpec>,
        mut shutdown_rx: watch::Receiver<Option<Duration>>,
    ) {
        self.publish();
        let clients = tokio::select! {
            clients = self.init() => clients,
            drain = shutdown_signal(&mut shutdown_rx) => {
                self.shutdown(drain).await;
                return;
            }
        };
        let (client, health_client, versions) = clients;
        self.set_running(
            TRUE,
            reason::SYNCHRO_RUNNING,
            "cluster synchro is running".into(),
        );
        let ctx = SynchroContext {
            cluster: self.name.clone(),
            client: client.clone(),
            page_size: self.deps.page_size,
            batch_size: self.deps.batch_size,
            workers: self.deps.workers.clone(),
            metrics: self.deps.metrics.clone(),
            status_changed: self.status_changed.clone(),
            runner: self.runner_tx.subscribe(),
        };
        // Start (or not) the runner before the first resources so that they do not start
        // listing an unhealthy member.
        self.check_health(&health_client, &client).await;
        let spec = spec_rx.borrow_and_update().clone();
        self.renegotiate(&ctx, &spec, Some(versions)).await;
        self.publish();

        let mut health_tick = tokio::time::interval(self.deps.health_interval);
        health_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health_tick.reset();
        let mut discovery_tick = tokio::time::interval(self.deps.discovery_interval);
        discovery_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        discovery_tick.reset();
        let mut publish_tick = tokio::time::interval(Duration::from_millis(250));
        publish_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let status_changed = self.status_changed.clone();
        let drain = loop {
            tokio::select! {
                drain = shutdown_signal(&mut shutdown_rx) => break drain,
                changed = spec_rx.changed() => {
                    if changed.is_err() {
                        break Duration::ZERO;
                    }
                    let spec = spec_rx.borrow_and_update().clone();
                    self.renegotiate(&ctx, &spec, None).await;
                }
                _ = health_tick.tick() => self.check_health(&health_client, &client).await,
                _ = discovery_tick.tick() => {
                    match discover(&client).await {
                        Ok(discovery) => {
                            if discovery != self.discovery || !self.create_errors.is_empty() {
                                self.discovery = discovery;
                                let spec = spec_rx.borrow().clone();
                                self.renegotiate(&ctx, &spec, None).await;
                            }
                        }
                        Err(e) => tracing::warn!(cluster = %self.name, error = %e, "cannot refresh discovery"),
                    }
                }
                () = status_changed.notified() => self.dirty = true,
                _ = publish_tick.tick() => {
                    if self.dirty {
                        self.publish();
                    }
                }
            }
        };
        self.shutdown(drain).await;
    }

    /// Connects, reads discovery, the server version and the stored resource versions;
    /// retried until it succeeds, reporting `InitialFailed` meanwhile.
    async fn init(
        &mut self,
    ) -> (
        kube::Client,
        kube::Client,
        HashMap<Gvr, ClusterResourceVersions>,
    ) {
        let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
        loop {
            match self.try_init().await {
                Ok(result) => return result,
                Err(message) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(cluster = %self.name, error = %message, retry_in = ?delay, "cannot start the cluster synchro");
                    self.set_running(FALSE, reason::SYNCHRO_INITIAL_FAILED, message);
                    self.publish();
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn try_init(
        &mut self,
    ) -> Result<
        (
            kube::Client,
            kube::Client,
            HashMap<Gvr, ClusterResourceVersions>,
        ),
        String,
    > {
        let client = kube::Client::try_from(self.config.clone())
            .map_err(|e| format!("cannot create the cluster client: {e}"))?;
        let health = health_client(&self.config)
            .map_err(|e| format!("cannot create the cluster client: {e}"))?;
        let version = client
            .apiserver_version()
            .await
            .map_err(|e| format!("cannot read the cluster version: {e}"))?;
        self.discovery = discover(&client).await.map_err(|e| e.to_string())?;
        let versions = self
            .deps
            .storage
            .resource_versions(&self.name)
            .await
            .map_err(|e| format!("cannot read the stored resource versions: {e}"))?;
        self.deps
            .storage
            .prepare_cluster(&self.name)
            .await
            .map_err(|e| format!("cannot prepare the storage for the cluster: {e}"))?;
        self.report.version = version.git_version;
        Ok((client, health, versions))
    }

    async fn check_health(&mut self, health_client: &kube::Client, client: &kube::Client) {
        let last = self.report.healthy.clone();
        match check(health_client).await {
            Health::Healthy => {
                if !*self.runner_tx.borrow() {
                    tracing::info!(cluster = %self.name, "cluster is healthy, starting list/watch");
                    self.runner_tx.send_replace(true);
                }
                let mut message = "cluster health responded with ok".to_owned();
                if last.status != TRUE {
                    match client.apiserver_version().await {
                        Ok(v) => self.report.version = v.git_version,
                        Err(e) => {
                            message = format!(
                                "cluster health responded with ok, but get server version: {e}"
                            );
                        }
                    }
                }
                if last.status != TRUE || last.message != message {
                    self.report.healthy = new_condition(
                        condition::CLUSTER_HEALTHY,
                        TRUE,
                        reason::CLUSTER_HEALTHY,
                        message,
                    );
                    self.dirty = true;
                }
            }
            unhealthy => {
                // Unhealthy twice in a row (or never healthy): stop every list/watch.
                if last.status != TRUE && *self.runner_tx.borrow() {
                    tracing::warn!(cluster = %self.name, "cluster is unhealthy, stopping list/watch");
                    self.runner_tx.send_replace(false);
                }
                let (reason, message) = match unhealthy {
                    Health::NotReachable(m) => (reason::CLUSTER_NOT_REACHABLE, m),
                    Health::Unhealthy(m) => (reason::CLUSTER_UNHEALTHY, m),
                    Health::Healthy => (reason::CLUSTER_HEALTHY, String::new()),
                };
                if last.status != FALSE || last.reason != reason || last.message != message {
                    tracing::warn!(cluster = %self.name, reason, message = %message, "cluster health check failed");
                    self.report.healthy =
                        new_condition(condition::CLUSTER_HEALTHY, FALSE, reason, message);
                    self.dirty = true;
                }
            }
        }
    }

    /// Negotiates `spec` against the current discovery and starts, restarts and stops resource
    /// synchros to match. `versions`: the stored resource versions, when already read.
    async fn renegotiate(
        &mut self,
        ctx: &SynchroContext,
        spec: &SyncSpec,
        versions: Option<HashMap<Gvr, ClusterResourceVersions>>,
    ) {
        let first = versions.is_some();
        let negotiation = negotiate(
            &spec.sync_resources,
            spec.sync_all_custom_resources,
            &self.discovery,
            &self.deps.gates,
        );
        for skipped in &negotiation.skipped {
            tracing::info!(cluster = %self.name, reason = %skipped, "skip resource sync");
        }

        // Stop what is no longer wanted, or wanted differently.
        let stale: Vec<Gvr> = self
            .resources
            .iter()
            .filter(|(gvr, rs)| negotiation.configs.get(*gvr) != Some(&rs.config))
            .map(|(gvr, _)| gvr.clone())
            .collect();
        for gvr in stale {
            if let Some(rs) = self.resources.remove(&gvr) {
                rs.stop(Duration::ZERO).await;
            }
            if !negotiation.configs.contains_key(&gvr) {
                self.clean_resource(&gvr).await;
            }
        }
        self.create_errors
            .retain(|gvr, _| negotiation.configs.contains_key(gvr));

        // Start what is new.
        let missing: Vec<_> = negotiation
            .configs
            .iter()
            .filter(|(gvr, _)| !self.resources.contains_key(*gvr))
            .map(|(gvr, config)| (gvr.clone(), config.clone()))
            .collect();
        let mut versions = versions;
        if versions.is_none() && !missing.is_empty() {
            match self.deps.storage.resource_versions(&self.name).await {
                Ok(v) => versions = Some(v),
                Err(e) => {
                    for (gvr, _) in &missing {
                        self.create_errors.insert(
                            gvr.clone(),
                            format!("cannot read the stored resource versions: {e}"),
                        );
                    }
                }
            }
        }
        if let Some(mut versions) = versions {
            if first {
                // Resources stored for this cluster but no longer synced (the spec changed
                // while the manager was down) are cleaned.
                let stale: Vec<Gvr> = versions
                    .keys()
                    .filter(|gvr| !negotiation.configs.contains_key(*gvr))
                    .cloned()
                    .collect();
                for gvr in stale {
                    self.clean_resource(&gvr).await;
                }
            }
            for (gvr, config) in missing {
                let storage_config = ResourceStorageConfig {
                    gvr: config.storage_gvr.clone(),
                    kind: config.kind.clone(),
                    namespaced: config.namespaced,
                };
                match self.deps.storage.new_resource_storage(storage_config).await {
                    Ok(storage) => {
                        self.create_errors.remove(&gvr);
                        let stored = versions.remove(&gvr).unwrap_or_default();
                        tracing::info!(cluster = %self.name, resource = %gvr, stored = stored.resources.len(), events = config.sync_events, "starting resource synchro");
                        let rs = ResourceSynchro::start(ctx, config, storage, stored);
                        self.resources.insert(gvr, rs);
                    }
                    Err(e) => {
                        tracing::warn!(cluster = %self.name, resource = %gvr, error = %e, "cannot create the resource storage");
                        self.create_errors
                            .insert(gvr, format!("new resource storage failed: {e}"));
                    }
                }
            }
        }

        let mut message = "cluster synchro is running".to_owned();
        if !negotiation.skipped.is_empty() {
            message.push_str("; not synced: ");
            message.push_str(&negotiation.skipped.join("; "));
        }
        if self.report.running.status == TRUE && self.report.running.message != message {
            self.set_running(TRUE, reason::SYNCHRO_RUNNING, message);
        }
        if self.negotiation.resources != negotiation.resources {
            self.negotiated_at = now();
        }
        self.negotiation = negotiation;
        self.negotiated = true;
        self.dirty = true;
    }

    async fn clean_resource(&self, gvr: &Gvr) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let started = Instant::now();
        loop {
            match self
                .deps
                .storage
                .clean_cluster_resource(&self.name, gvr)
                .await
            {
                Ok(()) => {
                    tracing::info!(cluster = %self.name, resource = %gvr, "cleaned a resource that is no longer synced");
                    return;
                }
                Err(e) if e.is_recoverable() && started.elapsed() < Duration::from_secs(60) => {
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => {
                    tracing::error!(cluster = %self.name, resource = %gvr, error = %e, "cannot clean a resource that is no longer synced");
                    return;
                }
            }
        }
    }

    fn sync_resources_status(&self) -> Vec<ClusterGroupResourcesStatus> {
        let mut groups: Vec<ClusterGroupResourcesStatus> = Vec::new();
        for resource in &self.negotiation.resources {
            let mut status = ClusterResourceStatus {
                name: resource.resource.clone(),
                kind: resource.kind.clone(),
                namespaced: resource.namespaced,
                sync_conditions: Vec::new(),
            };
            for (version, storage_gvr) in &resource.versions {
                let mut cond = ClusterResourceSyncCondition {
                    version: version.clone(),
                    sync_version: String::new(),
                    sync_resource: String::new(),
                    storage_version: storage_gvr.version.clone(),
                    storage_resource: String::new(),
                    status: ResourceSyncStatus::Unknown,
                    reason: String::new(),
                    message: String::new(),
                    initial_list_phase: false,
                    last_transition_time: self.negotiated_at.clone(),
                };
                if storage_gvr.group != resource.group || storage_gvr.resource != resource.resource
                {
                    cond.storage_resource = storage_gvr.group_resource().to_string();
                }
                if let Some(rs) = self.resources.get(storage_gvr) {
                    let synced = &rs.config.sync_gvr;
                    if synced.group != resource.group || synced.resource != resource.resource {
                        cond.sync_resource = synced.group_resource().to_string();
                    }
                    if synced.version != *version {
                        cond.sync_version = synced.version.clone();
                    }
                    let snapshot = rs.status();
                    cond.status = snapshot.status;
                    cond.reason = snapshot.reason;
                    cond.message = snapshot.message;
                    cond.initial_list_phase = snapshot.initial_list_phase;
                    cond.last_transition_time = snapshot.last_transition_time;
                } else if let Some(error) = self.create_errors.get(storage_gvr) {
                    cond.status = ResourceSyncStatus::Pending;
                    cond.reason = "SynchroCreateFailed".into();
                    cond.message = error.clone();
                } else {
                    cond.reason = "ResourceSynchroNotFound".into();
                    cond.message = "not found resource synchro".into();
                }
                status.sync_conditions.push(cond);
            }
            match groups.iter_mut().find(|g| g.group == resource.group) {
                Some(group) => group.resources.push(status),
                None => groups.push(ClusterGroupResourcesStatus {
                    group: resource.group.clone(),
                    resources: vec![status],
                }),
            }
        }
        groups
    }

    async fn shutdown(mut self, drain: Duration) {
        self.runner_tx.send_replace(false);
        let resources = std::mem::take(&mut self.resources);
        futures::future::join_all(resources.into_values().map(|rs| rs.stop(drain))).await;
        let healthy = &self.report.healthy;
        let mut message = "cluster synchro is shutdown".to_owned();
        if healthy.status == FALSE {
            message = format!(
                "Last Condition Reason: {}, Message: {}",
                healthy.reason, healthy.message
            );
        }
        self.report.healthy = new_condition(
            condition::CLUSTER_HEALTHY,
            UNKNOWN,
            reason::CLUSTER_MONITOR_STOP,
            message,
        );
        self.set_running(
            FALSE,
            reason::SYNCHRO_SHUTDOWN,
            "cluster synchro is shutdown".into(),
        );
        self.publish();
        tracing::info!(cluster = %self.name, "cluster synchro stopped");
    }
}
