//! Prometheus metrics of the resource synchros (namespace `clustersynchro`, subsystem
//! `resourcesynchro`, as the original) and the server that exposes them.

use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use storage_api::Gvr;

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

/// Serves `/metrics` and `/healthz` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
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
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
    tracing::info!(%addr, "metrics server listening");
    axum::serve(listener, app).await?;
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
}
