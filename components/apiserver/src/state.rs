//! What every handler shares: the catalog of the storage, the metrics, the authenticators and
//! the shutdown signal.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::catalog::Catalog;
use crate::inflight::InflightLimit;
use crate::metrics::Metrics;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The storage and what it holds.
    pub(crate) catalog: Arc<Catalog>,
    /// The metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The authenticators.
    pub(crate) auth: Arc<Authenticator>,
    /// The authorizer.
    pub(crate) authz: Arc<crate::authz::Authorizer>,
    /// Per-user results (`--member-rbac-filter`).
    pub(crate) member_rbac: Option<Arc<crate::member_rbac::MemberRbac>>,
    /// Becomes `true` when the server shuts down (watches end).
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    /// `--max-requests-inflight`.
    pub(crate) inflight: InflightLimit,
}
