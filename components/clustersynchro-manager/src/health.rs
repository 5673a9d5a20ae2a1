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

/// Checks the member's health once.
pub(crate) async fn check(client: &kube::Client) -> Health {
    let attempt = async {
        match get(client, "/readyz").await {
            Err(kube::Error::Api(status)) if status.code == 404 => get(client, "/healthz").await,
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
