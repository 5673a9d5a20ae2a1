//! A Kubernetes API simulator: a real HTTPS server speaking the kube wire protocol for generic
//! resources, with generated fixtures, churn and failure modes, for the tests, benchmarks and
//! demo of clusterpedia-rs.
//!
//! There is no real kube-apiserver on this project's machines, so the synchro is tested against
//! this one, driven by kube-rs exactly as a real cluster would be. It serves:
//!
//! - discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`, and
//!   aggregated discovery (`apidiscovery.k8s.io/v2`) when the `Accept` header asks for it;
//! - built-in resources (namespaces, nodes, pods, services, configmaps, secrets,
//!   serviceaccounts, events, deployments, replicasets, statefulsets, daemonsets, leases,
//!   customresourcedefinitions) and the custom resources of the stored CRDs (the fixture
//!   `widgets.example.io` and clusterpedia's `pediaclusters`/`clustersyncresources`); a CRD
//!   created through the API is served at once;
//! - LIST with `limit`/`continue`, `resourceVersion`/`resourceVersionMatch`, label and field
//!   selectors (see [`list`](crate::list)), WATCH with bookmarks and `410 Expired` after
//!   compaction (see [`watch`](crate::watch)), server-side tables for `kubectl get`;
//! - create, update, patch (merge, JSON, strategic), delete with finalizers and propagation,
//!   the `status` subresource, with the validation a kube-apiserver does (see
//!   [`write`](crate::write)): what a real apiserver rejects is rejected;
//! - `/readyz`, `/livez`, `/healthz`; bearer-token or client-certificate authentication
//!   (`401` otherwise);
//! - what an aggregated API server asks its host cluster: `TokenReview` and
//!   `SubjectAccessReview`, evaluated from the stored RBAC objects (see `access`);
//! - admin endpoints under `/_sim/` (health, compaction, churn, disconnection, stop).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use kube_sim::{FixtureSpec, Simulator};
//!
//! let sim = Simulator::builder().fixtures(FixtureSpec::small()).start().await?;
//! let kubeconfig = sim.kubeconfig_yaml("member-1");
//! sim.set_healthy(false);
//! sim.compact();
//! sim.shutdown().await;
//! # drop(kubeconfig);
//! # Ok(())
//! # }
//! ```

mod access;
mod admin;
mod api;
mod churn;
mod controllers;
mod crds;
mod discovery;
mod error;
mod fixtures;
mod kubeconfig;
mod list;
mod meta;
mod patch;
mod resources;
mod schema;
mod selector;
mod server;
mod state;
mod store;
mod table;
mod tls;
mod validate;
mod watch;
mod write;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch as watch_channel};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use churn::{CHURNED_AT_ANNOTATION, ChurnStamp};
pub use fixtures::{FixtureSpec, namespace_name};
pub use tls::Pki;

use state::{Control, Settings, State};
use store::Store;

/// The simulator: see [`Simulator::builder`].
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// A builder with the defaults: the [`FixtureSpec::small`] fixtures, TLS, `127.0.0.1` on
    /// an ephemeral port, a random token, no churn, 100,000 retained changes, bookmarks every
    /// 10 s, `v1.36.0`, the clusterpedia CRDs served.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }
}

/// Configures and starts a simulator.
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    fixtures: FixtureSpec,
    bind: SocketAddr,
    tls: bool,
    token: Option<String>,
    churn_per_second: f64,
    history_limit: usize,
    bookmark_interval: Duration,
    min_watch_timeout: Duration,
    git_version: String,
    host_crds: bool,
    crds: Vec<serde_json::Value>,
    cert_dir: Option<PathBuf>,
    extra_hosts: Vec<String>,
    first_revision: u64,
    users: Vec<access::User>,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        Self {
            fixtures: FixtureSpec::small(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            token: None,
            churn_per_second: 0.0,
            history_limit: 100_000,
            bookmark_interval: Duration::from_secs(10),
            min_watch_timeout: Duration::from_secs(1800),
            git_version: "v1.36.0".into(),
            host_crds: true,
            crds: Vec::new(),
            cert_dir: None,
            extra_hosts: Vec::new(),
            first_revision: 1000,
            users: Vec::new(),
        }
    }
}

impl SimulatorBuilder {
    /// The generated objects.
    pub fn fixtures(mut self, spec: FixtureSpec) -> Self {
        self.fixtures = spec;
        self
    }

    /// The address to listen on (port 0: an ephemeral port).
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.bind = address;
        self
    }

    /// Serve HTTPS (default) or plain HTTP.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// The bearer token clients must present (default: a random one).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Pod updates per second from the start (default 0).
    pub fn churn_per_second(mut self, rate: f64) -> Self {
        self.churn_per_second = rate;
        self
    }

    /// How many changes the history retains; older resource versions get `410 Expired`.
    pub fn history_limit(mut self, changes: usize) -> Self {
        self.history_limit = changes;
        self
    }

    /// The interval of BOOKMARK events.
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Watches without `timeoutSeconds` end after a random duration in `[t, 2t)`.
    pub fn min_watch_timeout(mut self, timeout: Duration) -> Self {
        self.min_watch_timeout = timeout;
        self
    }

    /// The `gitVersion` of `/version`.
    pub fn git_version(mut self, version: impl Into<String>) -> Self {
        self.git_version = version.into();
        self
    }

    /// Whether the clusterpedia CRDs (`pediaclusters`, `clustersyncresources`) are served.
    pub fn host_crds(mut self, serve: bool) -> Self {
        self.host_crds = serve;
        self
    }

    /// Serves one more CRD (a `CustomResourceDefinition` object, as JSON), replacing a
    /// built-in one of the same name: for instance the project's generated `PediaCluster` CRD
    /// instead of the simulator's copy. The CRD must be valid (name, group, scope, exactly one
    /// storage version, a schema per version).
    pub fn crd(mut self, crd: serde_json::Value) -> Self {
        self.crds.push(crd);
        self
    }

    /// Writes `ca.crt`, `tls.crt`, `tls.key`, `client.crt` and `client.key` into `dir`.
    pub fn write_certs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cert_dir = Some(dir.into());
        self
    }

    /// More names (DNS names or IPs) for the server certificate.
    pub fn extra_host(mut self, host: impl Into<String>) -> Self {
        self.extra_hosts.push(host.into());
        self
    }

    /// The resource version of the first generated object (default 1000).
    pub fn first_revision(mut self, revision: u64) -> Self {
        self.first_revision = revision.max(1);
        self
    }

    /// One more user for `TokenReview`: `token` authenticates as `name` in `groups` (and
    /// `system:authenticated`). What the user may do is decided by the stored RBAC objects
    /// (`SubjectAccessReview`); the token does not open the simulator's other endpoints.
    pub fn user(
        mut self,
        token: impl Into<String>,
        name: impl Into<String>,
        groups: &[&str],
    ) -> Self {
        let name = name.into();
        let mut groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        groups.push("system:authenticated".into());
        self.users.push(access::User {
            token: token.into(),
            uid: format!("uid-{name}"),
            name,
            groups,
        });
        self
    }

    /// Generates the fixtures, binds and starts serving.
    pub async fn start(self) -> anyhow::Result<SimulatorHandle> {
        let started = Instant::now();
        let token = self.token.clone().unwrap_or_else(random_token);
        let store = Store::new(self.first_revision - 1, self.history_limit);
        let spec = self.fixtures.clone();
        let first = self.first_revision;
        let crds = crds::defaults(self.host_crds, &self.crds);
        for crd in &crds {
            let mut causes =
                validate::builtin(resources::Builtin::CustomResourceDefinition, crd, None);
            if let Err(error) = resources::crd_def(crd) {
                causes.push(("FieldValueInvalid", "spec".into(), error));
            }
            if !causes.is_empty() {
                let name = crd
                    .pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .unwrap_or_default();
                anyhow::bail!("invalid CRD {name:?}: {causes:?}");
            }
        }
        let now = meta::now_seconds();
        let generated =
            tokio::task::spawn_blocking(move || fixtures::generate(&spec, first, now, &crds))
                .await
                .context("generating fixtures")?;
        let object_count = generated.len();
        let generated_in = started.elapsed();
        store.load(generated);
        tracing::debug!(?generated_in, loaded_in = ?started.elapsed(), "fixtures");
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let settings = Settings {
            git_version: self.git_version.clone(),
            bookmark_interval: self.bookmark_interval,
            token: token.clone(),
            min_watch_timeout: self.min_watch_timeout,
            users: self.users.clone(),
        };
        let state = Arc::new(State::new(store, settings, self.fixtures.seed, control_tx));
        state.churn_rate.send_replace(self.churn_per_second);

        let pki = Pki::generate(&self.extra_hosts)?;
        if let Some(dir) = &self.cert_dir {
            pki.write_to(dir)?;
        }
        let acceptor = if self.tls {
            Some(TlsAcceptor::from(pki.server_config()?))
        } else {
            None
        };
        let listener = TcpListener::bind(self.bind)
            .await
            .with_context(|| format!("binding {}", self.bind))?;
        let address = listener.local_addr()?;
        let scheme = if self.tls { "https" } else { "http" };
        let host = match address {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        let url = format!("{scheme}://{host}:{}", address.port());
        *state
            .address
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = url.clone();
        let serving = server::Listener::start(listener, acceptor.clone(), state.clone());
        let churn = tokio::spawn(churn::run(state.clone(), state.churn_rate.subscribe()));
        let (stopped_tx, stopped_rx) = watch_channel::channel(false);
        let supervisor = tokio::spawn(supervise(
            state.clone(),
            serving,
            address,
            acceptor,
            control_rx,
            stopped_tx,
        ));
        tracing::info!(
            %url,
            objects = object_count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "kube-sim serving"
        );
        Ok(SimulatorHandle {
            state,
            url,
            address,
            pki,
            tls: self.tls,
            token,
            supervisor: Some(supervisor),
            churn,
            stopped: stopped_rx,
            object_count,
        })
    }
}

fn random_token() -> String {
    let mut rng = fastrand::Rng::new();
    (0..32)
        .map(|_| char::from_digit(rng.u32(..36), 36).unwrap_or('x'))
        .collect()
}

/// Owns the listener: stops, closes and reopens it on request.
async fn supervise(
    state: Arc<State>,
    serving: server::Listener,
    address: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    mut control: mpsc::UnboundedReceiver<Control>,
    stopped: watch_channel::Sender<bool>,
) {
    let mut serving = Some(serving);
    let reopen = |state: &Arc<State>| {
        let state = state.clone();
        let acceptor = acceptor.clone();
        async move {
            for _ in 0..100 {
                match TcpListener::bind(address).await {
                    Ok(listener) => {
                        return Some(server::Listener::start(listener, acceptor, state));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "rebinding {address}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            None
        }
    };
    while let Some(message) = control.recv().await {
        match message {
            Control::Stop => break,
            Control::SetReachable(reachable, ack) => {
                if reachable {
                    if serving.is_none() {
                        serving = reopen(&state).await;
                    }
                } else if let Some(listener) = serving.take() {
                    listener.close().await;
                }
                let _ = ack.send(());
            }
            Control::Disconnect(duration) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(listener) = serving.take() {
                    listener.close().await;
                }
                let control = state.control.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(duration).await;
                    let (ack, _) = oneshot::channel();
                    let _ = control.send(Control::SetReachable(true, ack));
                });
            }
        }
    }
    state.begin_shutdown();
    if let Some(listener) = serving.take() {
        listener.close().await;
    }
    stopped.send_replace(true);
}

/// A running simulator.
#[derive(Debug)]
pub struct SimulatorHandle {
    state: Arc<State>,
    url: String,
    address: SocketAddr,
    pki: Pki,
    tls: bool,
    token: String,
    supervisor: Option<JoinHandle<()>>,
    churn: JoinHandle<()>,
    stopped: watch_channel::Receiver<bool>,
    object_count: usize,
}

impl SimulatorHandle {
    /// The base URL (`https://127.0.0.1:<port>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The listening address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// The PKI: CA, server and client certificates and keys.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The accepted bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// How many objects the fixtures generated.
    pub fn fixture_objects(&self) -> usize {
        self.object_count
    }

    /// The current revision (the `resourceVersion` of a list now).
    pub fn revision(&self) -> u64 {
        self.state.store.revision()
    }

    /// Makes `/readyz`, `/livez` and `/healthz` answer ok (200) or fail (500).
    pub fn set_healthy(&self, healthy: bool) {
        self.state.set_healthy(healthy);
    }

    /// Drops the change history: watches and reads from any older revision get
    /// `410 Expired`. Returns the compaction revision.
    pub fn compact(&self) -> u64 {
        self.state.store.compact()
    }

    /// Sets the churn rate (pod updates per second; 0 stops it).
    pub fn set_churn_per_second(&self, rate: f64) {
        self.state.churn_rate.send_replace(rate.max(0.0));
    }

    /// The churn updates that stamp [`CHURNED_AT_ANNOTATION`] from now on, each announced
    /// once stored. A subscriber that falls more than 16,384 updates behind misses some
    /// (`RecvError::Lagged`).
    pub fn subscribe_churn(&self) -> tokio::sync::broadcast::Receiver<ChurnStamp> {
        self.state.churn_stamps.subscribe()
    }

    /// Churn updates made so far.
    pub fn churn_updates(&self) -> u64 {
        self.state
            .counters
            .churn_updates
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes (`false`) or reopens (`true`) the listener; closing drops every connection,
    /// as an unreachable apiserver.
    pub async fn set_reachable(&self, reachable: bool) {
        let (ack, done) = oneshot::channel();
        if self
            .state
            .control
            .send(Control::SetReachable(reachable, ack))
            .is_ok()
        {
            let _ = done.await;
        }
    }

    /// The statistics of `GET /_sim/stats`.
    pub fn stats(&self) -> serde_json::Value {
        admin::stats(&self.state)
    }

    /// A kubeconfig for this simulator with one cluster, user and context named `name`,
    /// authenticating with the bearer token.
    pub fn kubeconfig_yaml(&self, name: &str) -> String {
        kubeconfig::render(
            name,
            &self.url,
            self.tls.then_some(self.pki.ca_pem.as_str()),
            kubeconfig::Credentials::Token(&self.token),
        )
    }

    /// A kubeconfig authenticating with the client certificate instead of the token.
    pub fn kubeconfig_yaml_with_client_cert(&self, name: &str) -> String {
        kubeconfig::render(
            name,
            &self.url,
            self.tls.then_some(self.pki.ca_pem.as_str()),
            kubeconfig::Credentials::ClientCertificate {
                cert_pem: &self.pki.client_cert_pem,
                key_pem: &self.pki.client_key_pem,
            },
        )
    }

    /// Writes [`SimulatorHandle::kubeconfig_yaml`] to `path`, readable by its owner only (it
    /// holds the bearer token and the client key).
    pub fn write_kubeconfig(&self, path: &Path, name: &str) -> anyhow::Result<()> {
        tls::write_private(path, self.kubeconfig_yaml(name).as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Waits until the simulator stops (`POST /_sim/stop` or [`SimulatorHandle::shutdown`]).
    pub async fn wait(&mut self) {
        let _ = self.stopped.wait_for(|s| *s).await;
    }

    /// Stops serving: closes the listener and every connection, ends watches and churn.
    pub async fn shutdown(mut self) {
        let _ = self.state.control.send(Control::Stop);
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.await;
        }
        self.churn.abort();
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        let _ = self.state.control.send(Control::Stop);
        self.state.begin_shutdown();
    }
}
