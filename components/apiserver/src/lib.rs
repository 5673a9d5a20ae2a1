//! The clusterpedia apiserver: serves the stored resources of every member cluster through a
//! kubectl-compatible API under `/apis/clusterpedia.io/v1beta1` (see `docs/apiserver.md`).
//!
//! - `.../resources` is a Kubernetes API root over every cluster, `.../resources/clusters/<name>`
//!   over one: point a kubeconfig's `server` at either and use kubectl (discovery, list with
//!   every search parameter, get, watch, `Table` output with a leading `CLUSTER` column).
//! - `.../collectionresources[/<name>]` searches several resource types at once.
//! - HTTPS only (rustls); authentication and authorization as a Kubernetes aggregated API
//!   server (front-proxy identity headers, client certificates, static tokens, `TokenReview`
//!   and `SubjectAccessReview` against the host cluster; see `docs/security.md`);
//!   `/livez`, `/readyz`, `/metrics` unauthenticated.
//!
//! The read path never re-serializes a stored object: list responses splice each object's
//! stored JSON into the envelope; only `Table` output reads (part of) each object.
//!
//! Module map: [`options`](ApiserverOptions) (flags), `server` (TLS listener), `tls`, `auth`,
//! `routes` (URL layout and layers), `authz` (authorization), `host` (the host cluster's
//! reviews), `request` (the query and `Accept`, parsed once), `state`
//! (what handlers share), `response` (JSON answers), `discovery` and `catalog` (what is
//! stored), `resources`, `collections`, `watch`, `list` (envelopes), `negotiate` (`Accept`),
//! `table` (Table output and the printers of the common kinds), `metrics`, `inflight`
//! (`--max-requests-inflight`), `health`, `error` (kube `Status`).

mod auth;
mod authz;
mod catalog;
mod collections;
mod connection;
mod discovery;
mod error;
mod health;
mod host;
mod inflight;
mod list;
mod member_rbac;
mod metrics;
mod negotiate;
mod options;
mod oversized;
mod request;
mod resources;
mod response;
mod routes;
mod server;
mod state;
mod table;
mod tls;
mod token_key;
mod watch;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use storage_api::StorageFactory;

pub use authz::AuthorizationMode;
pub use options::ApiserverOptions;
pub use server::Server;

/// Runs the apiserver on `storage` until SIGINT or SIGTERM.
pub async fn run(
    options: ApiserverOptions,
    storage: Arc<dyn StorageFactory>,
) -> anyhow::Result<()> {
    Server::bind(&options, storage)
        .await?
        .serve(server::termination())
        .await
}
