//! The manager: one controller task per PediaCluster, fed by a source (host cluster or file),
//! that validates the spec, runs the cluster's synchro, cleans the cluster's data when it is
//! deleted, and composes and writes its status (the original's `clustersynchro_manager.go`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clusterpedia_crds::{
    ClusterGroupResources, ClusterSpec, ClusterStatus, PediaCluster, condition, reason,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use storage_api::StorageFactory;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::backoff::Backoff;
use crate::cluster::{ClusterSynchroHandle, SyncSpec, SynchroDeps, SynchroReport};
use crate::credentials::{ClusterCredentials, SecretSource};
use crate::metrics::Metrics;
use crate::options::{FeatureGates, SynchroOptions};
use crate::status::{FALSE, StatusWriter, TRUE, UNKNOWN, finalize, new_condition, set_condition};

/// How long a stopping synchro may keep writing what it has queued.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// The resources of the `ClusterSyncResources` a PediaCluster names in
/// `spec.syncResourcesRefName`, as the source resolved them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SyncResourcesRef {
    /// No reference.
    #[default]
    None,
    /// The referenced object's resources.
    Found(Vec<ClusterGroupResources>),
    /// The referenced object does not exist (a warning; the cluster is still synced).
    NotFound,
    /// The referenced object could not be read.
    Error(String),
}

/// A PediaCluster to sync, with its resolved `syncResourcesRefName`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInput {
    /// The PediaCluster (its status is what the source last saw).
    pub cluster: PediaCluster,
    /// Its `syncResourcesRefName`, resolved.
    pub sync_resources_ref: SyncResourcesRef,
}

enum Command {
    Apply(Box<ClusterInput>),
    Forget(Duration, oneshot::Sender<()>),
    Delete(oneshot::Sender<()>),
    Shutdown(Duration, oneshot::Sender<()>),
}

struct Inner {
    deps: SynchroDeps,
    sharding_name: String,
    gates: FeatureGates,
    status_writer: Arc<dyn StatusWriter>,
    secrets: Option<Arc<dyn SecretSource>>,
    clusters: Mutex<HashMap<String, mpsc::UnboundedSender<Command>>>,
    statuses: watch::Sender<BTreeMap<String, ClusterStatus>>,
}

/// The clustersynchro-manager core (cheap to clone).
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("sharding_name", &self.inner.sharding_name)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager writing into `storage` and reporting statuses to `status_writer`;
    /// `secrets` serves `authenticationFrom` (host cluster only).
    pub fn new(
        options: &SynchroOptions,
        storage: Arc<dyn StorageFactory>,
        metrics: Arc<Metrics>,
        status_writer: Arc<dyn StatusWriter>,
        secrets: Option<Arc<dyn SecretSource>>,
    ) -> Self {
        let deps = SynchroDeps {
            storage,
            metrics,
            workers: Arc::new(Semaphore::new(options.worker_number as usize)),
            page_size: options.page_size,
            batch_size: options.write_batch_size as usize,
            health_interval: options.health_check_interval,
            discovery_interval: options.discovery_interval,
            gates: options.feature_gates.clone(),
        };
        Self {
            inner: Arc::new(Inner {
                deps,
                sharding_name: options.sharding_name.clone(),
                gates: options.feature_gates.clone(),
                status_writer,
                secrets,
                clusters: Mutex::new(HashMap::new()),
                statuses: watch::channel(BTreeMap::new()).0,
            }),
        }
    }

    fn clusters(&self) -> MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Command>>> {
        self.inner
            .clusters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `--sharding-name` this manager serves.
    pub fn sharding_name(&self) -> &str {
        &self.inner.sharding_name
    }

    fn send(&self, name: &str, command: Command) {
        let mut clusters = self.clusters();
        let tx = clusters.entry(name.to_owned()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let controller = ClusterController::new(name, self.inner.clone());
            tokio::spawn(controller.run(rx));
            tx
        });
        if let Err(mpsc::error::SendError(command)) = tx.send(command) {
            // The controller ended (it never does while the manager lives); start a new one.
            let (new_tx, rx) = mpsc::unbounded_channel();
            let controller = ClusterController::new(name, self.inner.clone());
            tokio::spawn(controller.run(rx));
            let _ = new_tx.send(command);
            *tx = new_tx;
        }
    }

    /// Syncs a PediaCluster (new or changed); returns at once.
    pub fn apply(&self, input: ClusterInput) {
        let name = input.cluster.name_any();
        self.send(&name, Command::Apply(Box::new(input)));
    }

    /// Stops syncing a cluster without cleaning its data (it is handed to another manager),
    /// letting its writers store what is queued for a few seconds.
    pub async fn forget(&self, name: &str) {
        self.stop(name, SHUTDOWN_DRAIN).await;
    }

    /// Stops syncing a cluster at once, dropping what is queued (this replica lost the right to
    /// write it: the next owner lists it again from the storage's resource versions).
    pub async fn abandon(&self, name: &str) {
        self.stop(name, Duration::ZERO).await;
    }

    async fn stop(&self, name: &str, drain: Duration) {
        if !self.clusters().contains_key(name) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.send(name, Command::Forget(drain, tx));
        let _ = rx.await;
    }

    /// Stops syncing a deleted cluster and removes its data from storage; returns when the data
    /// is gone.
    pub async fn delete(&self, name: &str) {
        let (tx, rx) = oneshot::channel();
        self.send(name, Command::Delete(tx));
        let _ = rx.await;
    }

    /// Stops every cluster synchro, writing their final status.
    pub async fn shutdown(&self) {
        self.stop_all(SHUTDOWN_DRAIN).await;
    }

    /// Stops every cluster synchro at once, dropping what is queued (leadership is lost: the
    /// next leader lists again from the storage's resource versions).
    pub async fn abandon_all(&self) {
        self.stop_all(Duration::ZERO).await;
    }

    async fn stop_all(&self, drain: Duration) {
        let senders: Vec<_> = self.clusters().values().cloned().collect();
        let mut replies = Vec::new();
        for tx in senders {
            let (reply, rx) = oneshot::channel();
            if tx.send(Command::Shutdown(drain, reply)).is_ok() {
                replies.push(rx);
            }
        }
        futures::future::join_all(replies).await;
    }

    /// The current status of a cluster, as composed by the manager.
    pub fn status(&self, name: &str) -> Option<ClusterStatus> {
        self.inner.statuses.borrow().get(name).cloned()
    }

    /// Every cluster's status, updated as it changes.
    pub fn statuses(&self) -> watch::Receiver<BTreeMap<String, ClusterStatus>> {
        self.inner.statuses.subscribe()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.deps.metrics
    }
}

/// Completes when the synchro reports something new (never when there is none).
async fn report_changed(reports: &mut Option<watch::Receiver<SynchroReport>>) {
    match reports {
        Some(reports) => {
            if reports.changed().await.is_err() {
                // The synchro is gone; its last report stays readable.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Completes when a failed status write should be retried (never when none failed).
async fn retry_delay(failed: bool) {
    if failed {
        tokio::time::sleep(Duration::from_secs(2)).await;
    } else {
        std::future::pending::<()>().await;
    }
}

/// The state of one cluster, owned by its controller task.
struct ClusterController {
    name: String,
    inner: Arc<Inner>,
    synchro: Option<(ClusterSynchroHandle, ClusterCredentials)>,
    reports: Option<watch::Receiver<SynchroReport>>,
    validated: Option<Condition>,
    /// `SynchroRunning` and `ClusterHealthy` while no synchro reports them.
    idle: Option<(Condition, Condition)>,
    apiserver: String,
    /// The status as last composed.
    status: ClusterStatus,
    /// The status the status writer holds (`None`: unknown).
    written: Option<ClusterStatus>,
    initialized: bool,
    /// The spec and resolved reference last reconciled (an unchanged input is not validated
    /// again; the host sends one after every status write).
    last_input: Option<(ClusterSpec, SyncResourcesRef)>,
    /// Whether the status must be composed and written (false once deleted or forgotten).
    active: bool,
    write_failed: bool,
}

impl ClusterController {
    fn new(name: &str, inner: Arc<Inner>) -> Self {
        Self {
            name: name.into(),
            inner,
            synchro: None,
            reports: None,
            validated: None,
            idle: None,
            apiserver: String::new(),
            status: ClusterStatus::default(),
            written: None,
            initialized: false,
            last_input: None,
            active: false,
            write_failed: false,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    None => return,
                    Some(Command::Apply(input)) => self.reconcile(*input).await,
                    Some(Command::Forget(drain, reply)) => {
                        self.stop_synchro(drain).await;
                        self.reset();
                        let _ = reply.send(());
                    }
                    Some(Command::Delete(reply)) => {
                        self.delete().await;
                        let _ = reply.send(());
                    }
                    Some(Command::Shutdown(drain, reply)) => {
                        self.stop_synchro(drain).await;
                        self.write_status().await;
                        let _ = reply.send(());
                    }
                },
                () = report_changed(&mut self.reports) => {}
                () = retry_delay(self.write_failed) => {}
            }
            self.write_status().await;
        }
    }

    fn reset(&mut self) {
        self.reports = None;
        self.validated = None;
        self.idle = None;
        self.apiserver.clear();
        self.status = ClusterStatus::default();
        self.written = None;
        self.initialized = false;
        self.last_input = None;
        self.active = false;
        self.write_failed = false;
        self.inner
            .statuses
            .send_if_modified(|s| s.remove(&self.name).is_some());
    }

    async fn stop_synchro(&mut self, drain: Duration) {
        if let Some((synchro, _)) = self.synchro.take() {
            synchro.shutdown(drain).await;
        }
    }

    async fn delete(&mut self) {
        tracing::info!(cluster = %self.name, "cluster deleted, cleaning its data");
        // No more writes for this cluster before cleaning, and no status for a deleted object.
        self.stop_synchro(Duration::ZERO).await;
        self.reset();
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        loop {
            match self.inner.deps.storage.clean_cluster(&self.name).await {
                Ok(()) => break,
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(cluster = %self.name, error = %e, retry_in = ?delay, "cannot clean the cluster's data");
                    tokio::time::sleep(delay).await;
                }
            }
        }
        tracing::info!(cluster = %self.name, "cluster data cleaned");
    }

    fn invalid(&mut self, reason: &str, message: String) {
        tracing::warn!(cluster = %self.name, reason, message = %message, "invalid PediaCluster");
        self.validated = Some(new_condition(
            condition::VALIDATED,
            FALSE,
            reason,
            message.clone(),
        ));
        if self.synchro.is_none() {
            self.reports = None;
            self.idle = Some((
                new_condition(condition::SYNCHRO_RUNNING, FALSE, reason, message),
                new_condition(
                    condition::CLUSTER_HEALTHY,
                    UNKNOWN,
                    reason::CLUSTER_MONITOR_STOP,
                    "wait cluster synchro",
                ),
            ));
        }
    }

    async fn reconcile(&mut self, input: ClusterInput) {
        let cluster = input.cluster;
        if cluster.spec.sharding_name != self.inner.sharding_name {
            if self.active {
                tracing::info!(cluster = %self.name, sharding = %cluster.spec.sharding_name, "cluster belongs to another sharding, stopping its synchro");
                self.stop_synchro(SHUTDOWN_DRAIN).await;
                self.reset();
            }
            return;
        }
        self.active = true;
        if !self.initialized {
            self.status = cluster.status.clone().unwrap_or_default();
            self.initialized = true;
        }
        // What the status writer holds now.
        self.written = cluster.status.clone();
        let key = (cluster.spec.clone(), input.sync_resources_ref.clone());
        // Secrets may change under an unchanged spec: always resolve those again.
        if cluster.spec.authentication_from.is_none() && self.last_input.as_ref() == Some(&key) {
            return;
        }
        self.last_input = Some(key);

        let spec = &cluster.spec;
        let secrets = if self.inner.gates.cluster_authentication_from_secret {
            self.inner.secrets.as_deref()
        } else {
            None
        };
        let resolved = match ClusterCredentials::from_spec(spec, secrets).await {
            Ok(credentials) => match credentials.to_config().await {
                Ok(config) => Ok((credentials, config)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (credentials, config) = match resolved {
            Ok(ok) => ok,
            Err(e) => {
                self.apiserver = spec.apiserver.clone();
                self.invalid(
                    reason::INVALID_CONFIG,
                    format!("invalid cluster config: {e}"),
                );
                return;
            }
        };
        self.apiserver = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();

        let mut sync_resources = spec.sync_resources.clone();
        let mut warning = String::new();
        match input.sync_resources_ref {
            SyncResourcesRef::None => {}
            SyncResourcesRef::Found(more) => sync_resources.extend(more),
            SyncResourcesRef::NotFound => {
                tracing::warn!(cluster = %self.name, reference = %spec.sync_resources_ref_name, "the cluster's SyncResourcesRef is not found");
                warning = "Warning: sync resource ref is not found".into();
            }
            SyncResourcesRef::Error(e) => {
                self.invalid(
                    reason::INVALID_SYNC_RESOURCES,
                    format!("Failed to get cluster sync resources of cluster: {e}"),
                );
                return;
            }
        }
        if !self.inner.gates.allow_sync_all_resources
            && sync_resources.iter().any(|g| g.group == "*")
        {
            self.invalid(
                reason::INVALID_SYNC_RESOURCES,
                "ClusterSynchro Manager's feature gate `AllowSyncAllResources` is not enabled, cannot use all-resources wildcard".into(),
            );
            return;
        }
        if let Some(i) = sync_resources.iter().position(|g| g.resources.is_empty()) {
            self.invalid(
                reason::INVALID_SYNC_RESOURCES,
                format!("syncResources[{i}].resources: Required value: at least one resource is required"),
            );
            return;
        }
        self.validated = Some(new_condition(
            condition::VALIDATED,
            TRUE,
            reason::VALIDATED,
            warning,
        ));

        if let Some((_, current)) = &self.synchro
            && *current != credentials
        {
            tracing::info!(cluster = %self.name, "cluster config is changed, rebuild cluster synchro");
            self.stop_synchro(SHUTDOWN_DRAIN).await;
        }
        if self.inner.gates.sync_member_rbac {
            // Per-user results need each member's RBAC, listed by the user or not.
            sync_resources.push(ClusterGroupResources {
                group: "rbac.authorization.k8s.io".into(),
                versions: vec!["v1".into()],
                resources: [
                    "clusterroles",
                    "roles",
                    "clusterrolebindings",
                    "rolebindings",
                ]
                .map(str::to_owned)
                .to_vec(),
                ..ClusterGroupResources::default()
            });
        }
        let spec = SyncSpec {
            sync_resources,
            sync_all_custom_resources: cluster.spec.sync_all_custom_resources,
        };
        match &self.synchro {
            Some((synchro, _)) => synchro.set_spec(spec),
            None => {
                tracing::info!(cluster = %self.name, apiserver = %self.apiserver, "starting cluster synchro");
                let synchro =
                    ClusterSynchroHandle::start(&self.name, config, spec, self.inner.deps.clone());
                self.reports = Some(synchro.reports());
                self.idle = None;
                self.synchro = Some((synchro, credentials));
            }
        }
    }

    fn compose(&self) -> ClusterStatus {
        let mut status = self.status.clone();
        if !self.apiserver.is_empty() {
            status.apiserver = self.apiserver.clone();
        }
        if let Some(validated) = &self.validated {
            set_condition(&mut status.conditions, validated.clone());
        }
        if let Some(reports) = &self.reports {
            let report = reports.borrow().clone();
            if !report.version.is_empty() {
                status.version = report.version;
            }
            set_condition(&mut status.conditions, report.running);
            set_condition(&mut status.conditions, report.healthy);
            if let Some(resources) = report.sync_resources {
                status.sync_resources = resources;
            }
        } else if let Some((running, healthy)) = &self.idle {
            set_condition(&mut status.conditions, running.clone());
            set_condition(&mut status.conditions, healthy.clone());
        }
        status.sharding_name = Some(self.inner.sharding_name.clone());
        finalize(&mut status);
        status
    }

    async fn write_status(&mut self) {
        if !self.active {
            return;
        }
        let status = self.compose();
        self.status = status.clone();
        self.inner.statuses.send_if_modified(|all| {
            if all.get(&self.name) == Some(&status) {
                false
            } else {
                all.insert(self.name.clone(), status.clone());
                true
            }
        });
        if self.written.as_ref() == Some(&status) {
            self.write_failed = false;
            return;
        }
        match self.inner.status_writer.write(&self.name, &status).await {
            Ok(()) => {
                self.written = Some(status);
                self.write_failed = false;
            }
            Err(e) => {
                tracing::warn!(cluster = %self.name, error = %e, "cannot write the cluster status, retrying");
                self.write_failed = true;
            }
        }
    }
}
