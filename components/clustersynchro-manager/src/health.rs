//! Member cluster health: `GET /readyz` (falling back to `/healthz` when the server has no
//! `/readyz`), on a client of its own so that busy list/watch connections cannot delay it.

use std::time::Duration;

/// How long a health check may take.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of one health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Health {
    /// The server answered `ok`.
    Healthy,
    /// The server answered, but not `ok` (reason `Unhealthy`).
    Unhealthy(String),
    /// The server could not be reached (reason `NotReachable`).
    NotReachable(String),
}

/// A client for health checks: same credentials, its own connections, short timeouts.
pub(crate) fn health_client(config: &kube::Config) -> Result<kube::Client, kube::Error> {
    let mut config = config.clone();
    config.connect_timeout = Some(HEALTH_TIMEOUT);
    config.read_timeout = Some(HEALTH_TIMEOUT);
    config.write_timeout = Some(HEALTH_TIMEOUT);
    kube::Client::try_from(config)
}

async fn get(client: &kube::Client, path: &str) -> Result<String, kube::Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request_text(request).await
}

/// Whether `error` is one of the connection rather than an answer of the server: a kept-alive
/// connection the member had closed (`SendRequest`), a reset, a refused connection.
fn is_connection_error(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Service(_) | kube::Error::HyperError(_))
}

/// One health request: `/readyz`, or `/healthz` when the server has no `/readyz`.
async fn probe(client: &kube::Client) -> Result<String, kube::Error> {
    match get(client, "/readyz").await {
        Err(kube::Error::Api(status)) if status.code == 404 => get(client, "/healthz").await,
        other => other,
    }
}

/// Checks the member's health once. A connection-level failure is retried once at once (on
/// another connection, as Go's transport retries an idempotent request on a stale kept-alive
/// connection) before the member is reported `NotReachable`: one dropped connection does not
/// flip the cluster's health, a real outage fails both attempts.
pub(crate) async fn check(client: &kube::Client) -> Health {
    let attempt = async {
        match probe(client).await {
            Err(error) if is_connection_error(&error) => {
                tracing::debug!(%error, "health check failed on the connection, retrying once");
                probe(client).await
            }
            other => other,
        }
    };
    match tokio::time::timeout(HEALTH_TIMEOUT, attempt).await {
        Err(_) => Health::NotReachable(format!(
            "the health check timed out after {}s",
            HEALTH_TIMEOUT.as_secs()
        )),
        Ok(Ok(body)) if body.trim() == "ok" => Health::Healthy,
        Ok(Ok(body)) => Health::Unhealthy(format!(
            "cluster health responded without ok: {}",
            body.trim()
        )),
        Ok(Err(kube::Error::Api(status))) => Health::Unhealthy(format!(
            "cluster health responded without ok: {} {}",
            status.code,
            status.message.trim()
        )),
        Ok(Err(e)) => Health::NotReachable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// A member whose first `drop_first` connections are closed as soon as a request arrives
    /// (as a kept-alive connection the member had closed); later ones answer `/readyz` with
    /// `ok`. Returns its URL and the count of connections.
    async fn member(drop_first: usize) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    let _ = stream.read(&mut buffer).await;
                    if n >= drop_first {
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\
                                  content-length: 2\r\nconnection: close\r\n\r\nok",
                            )
                            .await;
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        (url, connections)
    }

    fn client(url: &str) -> kube::Client {
        let config = kube::Config::new(url.parse().expect("url"));
        health_client(&config).expect("client")
    }

    #[tokio::test]
    async fn one_dropped_connection_does_not_make_a_member_unreachable() {
        let (url, connections) = member(1).await;
        assert_eq!(check(&client(&url)).await, Health::Healthy);
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_member_that_keeps_dropping_connections_is_unreachable() {
        let (url, connections) = member(usize::MAX).await;
        let health = check(&client(&url)).await;
        assert!(matches!(health, Health::NotReachable(_)), "{health:?}");
        assert_eq!(connections.load(Ordering::SeqCst), 2, "one retry, no more");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let health = check(&client(&url)).await;
        assert!(matches!(health, Health::NotReachable(_)), "{health:?}");
    }
}
