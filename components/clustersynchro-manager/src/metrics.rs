//! Prometheus metrics of the resource synchros (namespace `clustersynchro`, subsystem
//! `resourcesynchro`, as the original) and the server that exposes them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use storage_api::{Gvr, StorageFactory};

/// The labels of `clustersynchro_cluster_owner`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OwnerLabels {
    /// The member cluster.
    pub cluster: String,
    /// The identity of the replica holding the cluster's Lease (this process).
    pub replica: String,
}

/// The labels of every resource synchro metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    /// The member cluster.
    pub cluster: String,
    /// The stored resource's group.
    pub group: String,
    /// The stored resource's version.
    pub version: String,
    /// The stored resource.
    pub resource: String,
}

impl ResourceLabels {
    /// The labels of `gvr` in `cluster`.
    pub fn new(cluster: &str, gvr: &Gvr) -> Self {
        Self {
            cluster: cluster.into(),
            group: gvr.group.clone(),
            version: gvr.version.clone(),
            resource: gvr.resource.clone(),
        }
    }
}

fn new_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

type DurationFamily = Family<ResourceLabels, Histogram, fn() -> Histogram>;

/// Every metric of the manager.
pub struct Metrics {
    registry: Registry,
    stored: Family<ResourceLabels, Gauge>,
    added: Family<ResourceLabels, Counter>,
    updated: Family<ResourceLabels, Counter>,
    deleted: Family<ResourceLabels, Counter>,
    failed: Family<ResourceLabels, Counter>,
    retried: Family<ResourceLabels, Counter>,
    events: Family<ResourceLabels, Counter>,
    storage_duration: DurationFamily,
    owner: Family<OwnerLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let stored = Family::default();
        let added = Family::default();
        let updated = Family::default();
        let deleted = Family::default();
        let failed = Family::default();
        let retried = Family::default();
        let events = Family::default();
        let storage_duration: DurationFamily = Family::new_with_constructor(new_duration_histogram);
        let owner = Family::<OwnerLabels, Gauge>::default();
        registry.sub_registry_with_prefix("clustersynchro").register(
            "cluster_owner",
            "1 for each cluster this replica syncs as the holder of its Lease (--shard-clusters)",
            owner.clone(),
        );
        let sub = registry
            .sub_registry_with_prefix("clustersynchro")
            .sub_registry_with_prefix("resourcesynchro");
        sub.register(
            "storaged_resource_total",
            "Objects of a resource stored for a cluster",
            stored.clone(),
        );
        sub.register("resource_added", "Objects added to storage", added.clone());
        sub.register(
            "resource_updated",
            "Objects updated in storage",
            updated.clone(),
        );
        sub.register(
            "resource_deleted",
            "Objects deleted from storage",
            deleted.clone(),
        );
        sub.register(
            "resource_failed",
            "Changes dropped because storage rejected them (not recoverable)",
            failed.clone(),
        );
        sub.register(
            "resource_retry",
            "Storage writes retried after a recoverable error",
            retried.clone(),
        );
        sub.register(
            "events_recorded",
            "Events recorded with their objects",
            events.clone(),
        );
        sub.register(
            "storage_duration_seconds",
            "Duration of one storage batch write",
            storage_duration.clone(),
        );
        Self {
            registry,
            stored,
            added,
            updated,
            deleted,
            failed,
            retried,
            events,
            storage_duration,
            owner,
        }
    }

    /// Records whether `replica` (this process) owns `cluster`.
    pub fn set_cluster_owner(&self, cluster: &str, replica: &str, owned: bool) {
        let labels = OwnerLabels {
            cluster: cluster.into(),
            replica: replica.into(),
        };
        if owned {
            self.owner.get_or_create(&labels).set(1);
        } else {
            self.owner.remove(&labels);
        }
    }

    /// The metrics of one resource of one cluster.
    pub fn resource(&self, labels: &ResourceLabels) -> ResourceMetrics {
        ResourceMetrics {
            stored: self.stored.get_or_create(labels).clone(),
            added: self.added.get_or_create(labels).clone(),
            updated: self.updated.get_or_create(labels).clone(),
            deleted: self.deleted.get_or_create(labels).clone(),
            failed: self.failed.get_or_create(labels).clone(),
            retried: self.retried.get_or_create(labels).clone(),
            events: self.events.get_or_create(labels).clone(),
            storage_duration: self.storage_duration.get_or_create(labels).clone(),
        }
    }

    /// Forgets the series of a resource that is no longer synced.
    pub fn remove(&self, labels: &ResourceLabels) {
        self.stored.remove(labels);
        self.added.remove(labels);
        self.updated.remove(labels);
        self.deleted.remove(labels);
        self.failed.remove(labels);
        self.retried.remove(labels);
        self.events.remove(labels);
        self.storage_duration.remove(labels);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// The metrics of one resource of one cluster (cheap handles to the shared series).
#[derive(Clone, Debug)]
pub struct ResourceMetrics {
    /// Objects stored.
    pub stored: Gauge,
    /// Objects added.
    pub added: Counter,
    /// Objects updated.
    pub updated: Counter,
    /// Objects deleted.
    pub deleted: Counter,
    /// Changes dropped.
    pub failed: Counter,
    /// Writes retried.
    pub retried: Counter,
    /// Events recorded.
    pub events: Counter,
    /// Batch write durations.
    pub storage_duration: Histogram,
}

/// What `/readyz` checks: the storage answers and the manager runs.
#[derive(Clone)]
pub struct Readiness {
    storage: Arc<dyn StorageFactory>,
    running: Arc<AtomicBool>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("running", &self.running.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Readiness {
    /// Readiness of a manager on `storage`, not yet running.
    pub fn new(storage: Arc<dyn StorageFactory>) -> Self {
        Self {
            storage,
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the manager as running (`true`) or stopped / shutting down (`false`).
    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    /// The failed checks (`storage`, `manager`), empty when ready.
    async fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if let Err(e) = self.storage.check_ready().await {
            failures.push(format!("[-]storage failed: {e}"));
        }
        if !self.running.load(Ordering::Relaxed) {
            failures.push("[-]manager failed: the cluster synchros are not running".to_owned());
        }
        failures
    }
}

/// The routes of the metrics server: `/metrics`, `/livez` (the process serves), `/readyz` (the
/// storage answers and the manager runs: `ok`, else `500` with one line per failed check) and
/// `/healthz` (as `/livez`).
pub fn router(metrics: Arc<Metrics>, readiness: Readiness) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    let failures = readiness.failures().await;
                    if failures.is_empty() {
                        (http::StatusCode::OK, "ok".to_owned())
                    } else {
                        (
                            http::StatusCode::INTERNAL_SERVER_ERROR,
                            format!("{}\nreadyz check failed\n", failures.join("\n")),
                        )
                    }
                }
            }),
        )
}

/// Serves [`router`] on `addr` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Readiness,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
    tracing::info!(%addr, "metrics server listening");
    axum::serve(listener, router(metrics, readiness)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_like_the_original() {
        let metrics = Metrics::new();
        let labels = ResourceLabels::new("c1", &Gvr::new("apps", "v1", "deployments"));
        let m = metrics.resource(&labels);
        m.added.inc_by(3);
        m.stored.set(3);
        m.storage_duration.observe(0.01);
        let text = metrics.encode();
        assert!(
            text.contains(r#"clustersynchro_resourcesynchro_resource_added_total{cluster="c1",group="apps",version="v1",resource="deployments"} 3"#),
            "{text}"
        );
        assert!(
            text.contains("clustersynchro_resourcesynchro_storaged_resource_total{"),
            "{text}"
        );
        assert!(
            text.contains("clustersynchro_resourcesynchro_storage_duration_seconds_bucket"),
            "{text}"
        );
        metrics.remove(&labels);
        assert!(!metrics.encode().contains("cluster=\"c1\""));
    }

    /// `GET path` on `app`: the status and the body.
    async fn get(app: &axum::Router, path: &str) -> (u16, String) {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let response = app
            .clone()
            .oneshot(
                http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// `/livez` answers while the process serves; `/readyz` only once the manager runs (and
    /// the storage answers), and no more when it shuts down.
    #[tokio::test]
    async fn livez_and_readyz() {
        let readiness = Readiness::new(Arc::new(
            storage_api::testing::ReferenceStorageFactory::new(),
        ));
        let app = router(Arc::new(Metrics::new()), readiness.clone());
        assert_eq!(get(&app, "/livez").await, (200, "ok".into()));
        assert_eq!(get(&app, "/healthz").await, (200, "ok".into()));
        let (status, body) = get(&app, "/readyz").await;
        assert_eq!(status, 500);
        assert!(body.contains("[-]manager failed"), "{body}");
        assert!(!body.contains("storage"), "{body}");
        readiness.set_running(true);
        assert_eq!(get(&app, "/readyz").await, (200, "ok".into()));
        readiness.set_running(false);
        assert_eq!(get(&app, "/readyz").await.0, 500);
    }

    /// A storage whose readiness check fails while `down` is set (a database that stopped
    /// answering).
    #[derive(Default)]
    struct Outage {
        down: AtomicBool,
    }

    impl storage_api::testing::Probe for Outage {
        fn before_check_ready(&self) -> storage_api::Result<()> {
            if self.down.load(Ordering::SeqCst) {
                return Err(storage_api::StorageError::Unavailable {
                    message: "database down".into(),
                    source: None,
                });
            }
            Ok(())
        }
    }

    /// `/readyz` follows the storage: `500` naming it while its check fails (the manager still
    /// runs, `/livez` still answers), `ok` again once it answers.
    #[tokio::test]
    async fn readyz_fails_while_the_storage_fails_and_recovers_with_it() {
        let storage = Arc::new(storage_api::testing::Forwarding::with_probe(
            Arc::new(storage_api::testing::ReferenceStorageFactory::new()),
            Outage::default(),
        ));
        let readiness = Readiness::new(storage.clone());
        readiness.set_running(true);
        let app = router(Arc::new(Metrics::new()), readiness);
        assert_eq!(get(&app, "/readyz").await, (200, "ok".into()));

        storage.probe().down.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            let (status, body) = get(&app, "/readyz").await;
            assert_eq!(status, 500, "{body}");
            assert!(
                body.contains("[-]storage failed: storage unavailable: database down"),
                "{body}"
            );
            assert!(!body.contains("[-]manager"), "{body}");
        }
        assert_eq!(get(&app, "/livez").await, (200, "ok".into()));

        storage.probe().down.store(false, Ordering::SeqCst);
        assert_eq!(get(&app, "/readyz").await, (200, "ok".into()));
    }
}
