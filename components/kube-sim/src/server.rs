//! The HTTP(S) server: an accept loop over a TCP listener, TLS by rustls, HTTP/1.1 and HTTP/2
//! by hyper, each request handed to [`crate::api::handle`].
//!
//! The listener can be closed and reopened on the same address ("unreachable" failure mode):
//! closing it also drops every open connection, as a crashed or partitioned apiserver would.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::state::State;

/// Whether the connection presented a client certificate signed by the simulator's CA.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientCertificate(pub(crate) bool);

/// A running accept loop.
#[derive(Debug)]
pub(crate) struct Listener {
    /// Turns `true` to close the listener and every connection.
    close: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Starts serving on `listener`.
    pub(crate) fn start(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        state: Arc<State>,
    ) -> Self {
        let (close, closed) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, tls, state, closed));
        Self { close, task }
    }

    /// Closes the listener and every connection, and waits for the accept loop to end.
    pub(crate) async fn close(self) {
        self.close.send_replace(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    mut closed: watch::Receiver<bool>,
) {
    let mut shutdown = state.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = closed.wait_for(|c| *c) => break,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(
                    stream,
                    peer,
                    tls.clone(),
                    state.clone(),
                    closed.clone(),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    mut closed: watch::Receiver<bool>,
) {
    let mut shutdown = state.shutdown_signal();
    let serve = async {
        match tls {
            Some(acceptor) => match acceptor.accept(stream).await {
                Ok(stream) => {
                    let has_cert = stream.get_ref().1.peer_certificates().is_some();
                    serve_io(TokioIo::new(stream), state.clone(), has_cert).await;
                }
                Err(error) => tracing::debug!(%peer, %error, "TLS handshake failed"),
            },
            None => serve_io(TokioIo::new(stream), state.clone(), false).await,
        }
    };
    tokio::select! {
        () = serve => {}
        _ = closed.wait_for(|c| *c) => {}
        _ = shutdown.wait_for(|s| *s) => {}
    }
}

async fn serve_io<I>(io: I, state: Arc<State>, client_cert: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let state = state.clone();
        async move {
            let mut request = request.map(Body::new);
            request
                .extensions_mut()
                .insert(ClientCertificate(client_cert));
            Ok::<_, Infallible>(crate::api::handle(state, request).await)
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(error) = builder.serve_connection_with_upgrades(io, service).await {
        tracing::debug!(%error, "connection ended with an error");
    }
}
