//! The HTTPS server: a TLS listener (HTTP/1.1 and HTTP/2 by ALPN), one task per connection,
//! the client certificate's user attached to every request of its connection, a background
//! refresh of the stored resource types, and a graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use storage_api::StorageFactory;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::catalog::Catalog;
use crate::connection::{ConnectionActivity, ConnectionLimits, Linger, serve_until_idle};
use crate::inflight::InflightLimit;
use crate::metrics::Metrics;
use crate::options::ApiserverOptions;
use crate::oversized::{MAX_HEADER_BYTES, MAX_HEADERS, StatusOnParseError};
use crate::routes::router;
use crate::state::AppState;
use crate::tls;
use crate::tls::PeerVerifier;

/// HTTP/2 streams per connection (the original's limit).
const MAX_CONCURRENT_STREAMS: u32 = 1000;

/// A bound apiserver, ready to serve.
///
/// ```no_run
/// # async fn example(storage: std::sync::Arc<dyn storage_api::StorageFactory>) -> anyhow::Result<()> {
/// use clusterpedia_apiserver::{ApiserverOptions, Server};
///
/// let options = ApiserverOptions {
///     bind_address: "127.0.0.1".parse()?,
///     secure_port: 0,
///     anonymous_auth: true,
///     ..ApiserverOptions::default()
/// };
/// let server = Server::bind(&options, storage).await?;
/// println!("serving on https://{}", server.local_addr());
/// server.serve(std::future::pending()).await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    acceptor: TlsAcceptor,
    ca_pem: Option<String>,
    catalog: Arc<Catalog>,
    app: Router,
    shutdown: tokio::sync::watch::Sender<bool>,
    max_connections: u32,
    limits: ConnectionLimits,
    shutdown_grace: Duration,
    peers: Arc<PeerVerifier>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Configures TLS and authentication from `options`, reads the stored resource types once
    /// and binds the listener.
    ///
    /// Fails on a bad flag or file, or when the address cannot be bound. A storage that cannot
    /// list its resource types yet does not fail the start: `/readyz` reports it until the
    /// background refresh succeeds.
    pub async fn bind(
        options: &ApiserverOptions,
        storage: Arc<dyn StorageFactory>,
    ) -> anyhow::Result<Self> {
        let (authenticator, authorizer, looked_up) = crate::auth::configure(options).await?;
        let tls = tls::configure(options, &looked_up)?;
        crate::token_key::install(options.continue_token_key_file.as_deref())?;
        if options.token_auth_file.is_none()
            && options.client_ca_file.is_none()
            && options.requestheader_client_ca_file.is_none()
            && options.authentication_kubeconfig.is_none()
            && !options.delegate_in_cluster
            && !options.anonymous_auth
        {
            tracing::warn!(
                "no --token-auth-file, --client-ca-file, --requestheader-client-ca-file, --authentication-kubeconfig or --anonymous-auth: every request will be refused (401)"
            );
        }
        let member_rbac = match (
            &options.member_rbac_identity_map,
            options.member_rbac_filter,
        ) {
            (Some(_), false) => {
                anyhow::bail!("--member-rbac-identity-map needs --member-rbac-filter")
            }
            (Some(path), true) => Some(crate::member_rbac::IdentityMap::load(path)?),
            (None, true) => Some(crate::member_rbac::IdentityMap::default()),
            (None, false) => None,
        }
        .map(|identities| Arc::new(crate::member_rbac::MemberRbac::new(identities)));
        let catalog = Arc::new(Catalog::new(storage));
        if let Err(error) = catalog.refresh().await {
            tracing::warn!(error = %error.message, "cannot read the stored resource types yet; retrying in the background");
        }
        let (shutdown, shutdown_receiver) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(Metrics::default());
        let state = Arc::new(AppState {
            catalog: catalog.clone(),
            inflight: InflightLimit::new(
                (options.max_requests_inflight > 0).then_some(options.max_requests_inflight),
                metrics.inflight(),
            )
            .with_expensive(
                (options.max_expensive_requests_inflight > 0)
                    .then_some(options.max_expensive_requests_inflight),
            )
            .with_timeout(options.request_timeout),
            metrics,
            auth: Arc::new(authenticator),
            authz: Arc::new(authorizer),
            member_rbac,
            shutdown: shutdown_receiver,
        });
        let listener = TcpListener::bind((options.bind_address, options.secure_port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}",
                    options.bind_address, options.secure_port
                )
            })?;
        let local_addr = listener.local_addr().context("listener address")?;
        Ok(Self {
            listener,
            local_addr,
            acceptor: TlsAcceptor::from(tls.config),
            peers: tls.peers,
            ca_pem: tls.ca_pem,
            catalog,
            app: router(state),
            shutdown,
            max_connections: options.max_connections,
            limits: ConnectionLimits {
                header_timeout: options.request_header_timeout,
                idle_timeout: options.idle_connection_timeout,
            },
            shutdown_grace: options.shutdown_grace_period,
        })
    }

    /// The address the server listens on (with the actual port when `--secure-port 0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The PEM of the CA of the generated certificate (what clients must trust), when no
    /// `--tls-cert-file` was given.
    pub fn ca_certificate_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Serves until `signal` completes, then stops accepting, ends watches and waits (at most
    /// `--shutdown-grace-period`) for the requests in flight to finish.
    pub async fn serve(self, signal: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let Self {
            listener,
            local_addr,
            acceptor,
            catalog,
            app,
            shutdown,
            max_connections,
            limits,
            shutdown_grace,
            peers,
            ..
        } = self;
        tracing::info!(address = %local_addr, "serving https");
        let refresher = tokio::spawn(refresh_periodically(catalog, shutdown.subscribe()));
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(MAX_HEADER_BYTES)
            .max_headers(MAX_HEADERS);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_header_list_size(MAX_HEADER_BYTES as u32);
        let builder = Arc::new(builder);
        let connections = Arc::new(Semaphore::new(max_connections as usize));
        tokio::pin!(signal);
        loop {
            if connections.available_permits() == 0 {
                tracing::warn!(
                    max_connections,
                    "connection limit reached: no new connection until one closes"
                );
            }
            let permit = tokio::select! {
                () = &mut signal => break,
                permit = connections.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let app = app.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            let peers = peers.clone();
            let slots = connections.clone();
            tokio::spawn(async move {
                let _connection_slot = permit;
                let activity = ConnectionActivity::new(limits);
                // The handshake counts against the time to the first request's headers, as in
                // Go's server.
                let handshake = acceptor.accept(stream);
                let tls = match tokio::time::timeout(limits.header_timeout, handshake).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let identity = peers.identify(tls.get_ref().1.peer_certificates());
                let requests = activity.clone();
                let service =
                    tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(identity.clone());
                        let in_flight = requests.begin_request();
                        let app = app.clone();
                        async move {
                            let response = app.oneshot(request).await?;
                            Ok::<_, std::convert::Infallible>(
                                ConnectionActivity::hold_until_body_ends(response, in_flight),
                            )
                        }
                    });
                let connection = builder.serve_connection(
                    TokioIo::new(StatusOnParseError::new(Linger::new(tls, slots))),
                    TowerToHyperService::new(service),
                );
                let connection = async {
                    if let Err(error) = watcher.watch(connection).await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                };
                if serve_until_idle(connection, &activity).await {
                    tracing::debug!(%peer, "closed an idle connection");
                }
            });
        }
        drop(listener);
        tracing::info!(
            grace = ?shutdown_grace,
            "shutting down: no new connections, ending watches, letting requests in flight finish"
        );
        let _ = shutdown.send(true);
        if tokio::time::timeout(shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "some requests were still in flight after the shutdown grace period ({shutdown_grace:?}); stopping anyway"
            );
        } else {
            tracing::info!("every request in flight finished");
        }
        refresher.abort();
        Ok(())
    }
}

/// Refreshes the stored resource types every [`Catalog::REFRESH_INTERVAL`] until shutdown.
async fn refresh_periodically(
    catalog: Arc<Catalog>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(Catalog::REFRESH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(error) = catalog.refresh().await {
                    tracing::warn!(error = %error.message, "cannot refresh the stored resource types");
                }
            }
            () = async { let _ = shutdown.wait_for(|stopping| *stopping).await; } => return,
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn termination() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
