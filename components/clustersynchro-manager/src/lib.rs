//! The clustersynchro-manager: lists and watches the resources of every member cluster
//! described by a `PediaCluster` and writes them into a storage layer.
//!
//! # Overview
//!
//! - [`source`]: where PediaClusters come from — the host cluster (a kube-runtime controller
//!   with the `clusterpedia.io/cluster-synchro-controller` finalizer) or, without one, a YAML
//!   file (`--clusters-config`).
//! - [`fleet`]: several replicas against one host cluster — leader election on a Lease
//!   (`--leader-elect*`, the original's) or the clusters shared among the live replicas with a
//!   Lease per cluster (`--shard-clusters`); [`lease`] holds one Lease as client-go does.
//! - [`Manager`]: one controller per cluster that validates the spec (credentials,
//!   `syncResources`), runs the cluster's synchro, cleans the data of deleted clusters, and
//!   writes the status (`Validated`, `SynchroRunning`, `ClusterHealthy`, `Ready`, per-resource
//!   `syncConditions`).
//! - The cluster synchro: discovery, version negotiation ([`negotiate`]), a health check of
//!   `/readyz` every 5 s (an unhealthy member's list/watches stop until it recovers), and one
//!   resource synchro per stored resource.
//! - The resource synchro: paginated LIST then WATCH with bookmarks, resuming from the
//!   storage's resource versions ([`known`]), a merging pressure queue ([`queue`]), and a
//!   writer that prunes, stamps and writes batches, retrying recoverable storage errors
//!   without ever dropping a change.
//!
//! # Running it
//!
//! ```no_run
//! # async fn demo(storage: std::sync::Arc<dyn storage_api::StorageFactory>) -> anyhow::Result<()> {
//! let mut options = clusterpedia_synchro::SynchroOptions::defaults();
//! options.clusters_config = Some("clusters.yaml".into());
//! clusterpedia_synchro::run(options, storage).await
//! # }
//! ```

mod backoff;
mod cluster;
pub mod credentials;
pub mod discovery;
pub mod fleet;
mod health;
mod informer;
pub mod known;
pub mod lease;
mod manager;
pub mod metrics;
pub mod negotiate;
mod options;
pub mod queue;
mod resource_synchro;
pub mod source;
pub mod status;
mod sync_state;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use manager::{ClusterInput, Manager, SyncResourcesRef};
pub use options::{FeatureGates, LeaderElectionOptions, SynchroOptions, parse_duration};
use storage_api::StorageFactory;

/// How often `--clusters-config` is checked for changes.
const CLUSTERS_FILE_INTERVAL: Duration = Duration::from_secs(2);

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Runs the manager on `storage` until shutdown (Ctrl-C / SIGTERM): PediaClusters come from
/// `--clusters-config` when given, else from the host cluster (`--kubeconfig`, in-cluster
/// config, `$KUBECONFIG`, `~/.kube/config`).
pub async fn run(options: SynchroOptions, storage: Arc<dyn StorageFactory>) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new());
    let readiness = metrics::Readiness::new(storage.clone());
    if options.metrics_port != 0 {
        let addr = SocketAddr::new(options.metrics_host, options.metrics_port);
        let listener_metrics = metrics.clone();
        let listener_readiness = readiness.clone();
        let server = tokio::spawn(async move {
            metrics::serve(addr, listener_metrics, listener_readiness).await
        });
        // Fail fast when the port is taken; otherwise leave the server running.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if server.is_finished() {
            match server.await {
                Ok(Err(e)) => return Err(e),
                Ok(Ok(())) => {}
                Err(e) => anyhow::bail!("the metrics server failed: {e}"),
            }
        }
    }

    if let Some(path) = options.clusters_config.clone() {
        tracing::info!(file = %path.display(), "reading PediaClusters from the clusters file (no host cluster): running as a single replica, without leader election or sharding");
        let manager = Manager::new(
            &options,
            storage,
            metrics,
            Arc::new(status::LogStatusWriter),
            None,
        );
        readiness.set_running(true);
        let result = tokio::select! {
            r = source::file::run(manager.clone(), path, CLUSTERS_FILE_INTERVAL) => r,
            () = shutdown_signal() => Ok(()),
        };
        readiness.set_running(false);
        tracing::info!("shutting down the cluster synchros");
        manager.shutdown().await;
        return result;
    }

    options
        .leader_election
        .validate()
        .map_err(|e| anyhow::anyhow!(e))?;
    let config = match &options.host_kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| anyhow::anyhow!("--kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| anyhow::anyhow!("--kubeconfig {}: {e}", path.display()))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            anyhow::anyhow!(
                "no host cluster ({e}): pass --kubeconfig, run in a cluster, or pass --clusters-config FILE"
            )
        })?,
    };
    let client = kube::Client::try_from(config)?;
    run_host(
        options,
        storage,
        metrics,
        readiness,
        client,
        fleet::default_identity(),
        shutdown_signal(),
    )
    .await
}

/// What ended a replica's work with the host cluster.
enum Ended {
    Shutdown,
    LeadershipLost,
}

/// Runs one replica against the host cluster of `client` until `shutdown` completes: with
/// `--shard-clusters` as a member of the fleet, else with `--leader-elect` once it leads,
/// else alone. `identity` names it in the Leases (see [`fleet::default_identity`]). Returns an
/// error when leadership is lost (the process should exit and start again as a candidate).
pub async fn run_host(
    options: SynchroOptions,
    storage: Arc<dyn StorageFactory>,
    metrics: Arc<metrics::Metrics>,
    readiness: metrics::Readiness,
    client: kube::Client,
    identity: String,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let secrets: Option<Arc<dyn credentials::SecretSource>> =
        if options.feature_gates.cluster_authentication_from_secret {
            Some(Arc::new(source::host::HostSecrets::new(
                client.clone(),
                &source::host::clusterpedia_namespace(),
            )))
        } else {
            None
        };
    let manager = Manager::new(
        &options,
        storage,
        metrics,
        Arc::new(source::host::HostStatusWriter::new(client.clone())),
        secrets,
    );
    let election = options.leader_election.clone();

    if options.shard_clusters {
        if election.enabled {
            tracing::info!(
                "--shard-clusters: every replica syncs its share of the clusters, no single leader is elected"
            );
        }
        let fleet = fleet::Fleet::new(manager.clone(), client.clone(), &election, identity);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let fleet_task = tokio::spawn(fleet.clone().run(async move {
            let mut stop_rx = stop_rx;
            let _ = stop_rx.wait_for(|s| *s).await;
        }));
        readiness.set_running(true);
        let result = source::host::run_sharded(manager, client, Some(fleet), shutdown).await;
        readiness.set_running(false);
        tracing::info!("shutting down the cluster synchros");
        let _ = stop_tx.send(true);
        let _ = fleet_task.await;
        return result;
    }

    let mut shutdown = Box::pin(shutdown);
    let lock = if election.enabled {
        let acquired = tokio::select! {
            lock = fleet::acquire_leadership(&election, manager.sharding_name(), client.clone(), &identity) => Some(lock),
            () = &mut shutdown => None,
        };
        match acquired {
            Some(lock) => Some(Arc::new(tokio::sync::Mutex::new(lock))),
            None => return Ok(()),
        }
    } else {
        tracing::info!(
            "leader election is disabled (--leader-elect=false): this replica syncs every cluster of its sharding name"
        );
        None
    };
    readiness.set_running(true);
    // The renewals run on their own task (the controller's stop signal must be `Sync`).
    let keeper = lock.clone().map(|lock| {
        let election = election.clone();
        tokio::spawn(async move { fleet::keep_leadership(&election, &lock).await })
    });
    let keeper_abort = keeper.as_ref().map(tokio::task::JoinHandle::abort_handle);
    let ended = {
        let kept = async move {
            match keeper {
                Some(task) => {
                    let _ = task.await;
                }
                None => std::future::pending().await,
            }
        };
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel();
        let stop = async move {
            let ended = tokio::select! {
                () = shutdown => Ended::Shutdown,
                () = kept => Ended::LeadershipLost,
            };
            let _ = ended_tx.send(ended);
        };
        let result = source::host::run(manager.clone(), client, stop).await;
        (result, ended_rx.await.unwrap_or(Ended::Shutdown))
    };
    if let Some(abort) = keeper_abort {
        abort.abort();
    }
    readiness.set_running(false);
    let (result, ended) = ended;
    match ended {
        Ended::Shutdown => {
            tracing::info!("shutting down the cluster synchros");
            manager.shutdown().await;
        }
        Ended::LeadershipLost => {
            tracing::error!("leadership lost: stopping the cluster synchros at once");
            manager.abandon_all().await;
        }
    }
    if let Some(lock) = lock {
        let mut lock = lock.lock().await;
        if let Err(e) = lock.release().await {
            tracing::warn!(error = %e, "cannot release the leader lease");
        }
    }
    result?;
    match ended {
        Ended::Shutdown => Ok(()),
        Ended::LeadershipLost => anyhow::bail!("leader election lost"),
    }
}
