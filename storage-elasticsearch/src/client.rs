//! The connection to the server: the official client's transport, the server's flavour
//! (`GET /`), and every request sent as JSON through the client's raw `send`, with its
//! failures classified for the synchro.
//!
//! All requests go through [`Client::request`]: the layer only uses the part of the REST API
//! that Elasticsearch 8/9 and OpenSearch 2/3 share, and the one place they differ (point in
//! time) is chosen by [`Flavour`].

use std::time::Duration;

use elasticsearch::Elasticsearch;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::{
    MultiNodeConnectionPool, SingleNodeConnectionPool, TransportBuilder,
};
use elasticsearch::http::{Method, StatusCode, Url};
use serde_json::Value;
use storage_api::{Result, StorageError};

use crate::config::ElasticsearchConfig;

/// Which server the layer talks to, from `GET /`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavour {
    /// Elasticsearch, with its major version (8 or 9).
    Elasticsearch(u32),
    /// OpenSearch, with its major version (2 or 3).
    OpenSearch(u32),
}

impl Flavour {
    /// Reads the answer of `GET /`: Elasticsearch 8/9 and OpenSearch 2/3 are supported;
    /// anything else is refused with one line naming it.
    pub fn detect(root: &Value) -> std::result::Result<Self, String> {
        let version = &root["version"];
        let number = version["number"].as_str().unwrap_or_default();
        let major: u32 = number
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let distribution = version["distribution"].as_str().unwrap_or_default();
        let flavour = if distribution == "opensearch" {
            Self::OpenSearch(major)
        } else if !number.is_empty() && distribution.is_empty() {
            Self::Elasticsearch(major)
        } else {
            return Err(format!(
                "unsupported search server: distribution {distribution:?} version {number:?} \
                 (supported: Elasticsearch 8/9, OpenSearch 2/3)"
            ));
        };
        match flavour {
            Self::Elasticsearch(8 | 9) | Self::OpenSearch(2 | 3) => Ok(flavour),
            other => Err(format!(
                "unsupported search server: {other} (supported: Elasticsearch 8/9, OpenSearch 2/3)"
            )),
        }
    }

    /// The path and body that close the point in time `id`.
    pub fn close_pit(&self, id: &str) -> (&'static str, Value) {
        match self {
            Self::Elasticsearch(_) => ("/_pit", serde_json::json!({"id": id})),
            Self::OpenSearch(_) => (
                "/_search/point_in_time",
                serde_json::json!({"pit_id": [id]}),
            ),
        }
    }

    /// The path that opens a point in time on `index`.
    pub fn open_pit_path(&self, index: &str) -> String {
        match self {
            Self::Elasticsearch(_) => format!("/{index}/_pit"),
            Self::OpenSearch(_) => format!("/{index}/_search/point_in_time"),
        }
    }
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Elasticsearch(v) => write!(f, "Elasticsearch {v}"),
            Self::OpenSearch(v) => write!(f, "OpenSearch {v}"),
        }
    }
}

/// A request's answer: its status and its JSON body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    /// The server's error type (`error.type`), if any.
    pub(crate) fn error_type(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or_default()
    }
}

/// The connection: the official client and the server's flavour.
#[derive(Clone)]
pub(crate) struct Client {
    client: Elasticsearch,
    timeout: Duration,
    pub(crate) flavour: Flavour,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("flavour", &self.flavour)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the transport of `config` and asks the server what it is.
    pub(crate) async fn connect(config: &ElasticsearchConfig) -> Result<Self> {
        let urls = config
            .effective_addresses()
            .iter()
            .map(|a| {
                Url::parse(a).map_err(|e| StorageError::config(format!("addresses: {a:?}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut builder = match urls.as_slice() {
            [one] => TransportBuilder::new(SingleNodeConnectionPool::new(one.clone())),
            _ => TransportBuilder::new(MultiNodeConnectionPool::round_robin(urls, None)),
        };
        builder = builder.disable_proxy().timeout(config.request_timeout);
        if let Some(key) = &config.api_key {
            builder = builder.auth(Credentials::EncodedApiKey(key.clone()));
        } else if let Some(user) = &config.user {
            builder = builder.auth(Credentials::Basic(
                user.clone(),
                config.password.clone().unwrap_or_default(),
            ));
        }
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                StorageError::config(format!("caFile: cannot read {}: {e}", path.display()))
            })?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                StorageError::config(format!("caFile: {} is not PEM: {e}", path.display()))
            })?;
            builder = builder.cert_validation(CertificateValidation::Full(certificate));
        } else if config.insecure_skip_verify {
            builder = builder.cert_validation(CertificateValidation::None);
        }
        let transport = builder
            .build()
            .map_err(|e| StorageError::config(format!("cannot build the HTTP client: {e}")))?;
        let mut client = Self {
            client: Elasticsearch::new(transport),
            timeout: config.request_timeout,
            flavour: Flavour::Elasticsearch(8),
        };
        let root = client.request(Method::Get, "/", &[], None).await?;
        if root.status != 200 {
            return Err(StorageError::Unavailable {
                message: format!("GET / answered {}: {}", root.status, root.body),
                source: None,
            });
        }
        client.flavour = Flavour::detect(&root.body).map_err(StorageError::config)?;
        Ok(client)
    }

    /// Sends one request (`body` as JSON, or NDJSON text for `_bulk`) and reads its JSON
    /// answer. Transport failures, 429 and 5xx except 500 are [`StorageError::Unavailable`]
    /// (the synchro retries them); other statuses are returned for the caller to judge.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Answer> {
        let what = format!("{} {path}", method_name(&method));
        let response = self
            .client
            .send(
                method,
                path,
                HeaderMap::new(),
                Some(query),
                body,
                Some(self.timeout),
            )
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    StorageError::Timeout {
                        message: format!("{what}: {e}"),
                    }
                } else {
                    StorageError::unavailable(format!("{what}: cannot reach the server"), e)
                }
            })?;
        let status = response.status_code();
        let text = response
            .text()
            .await
            .map_err(|e| StorageError::unavailable(format!("{what}: reading the answer"), e))?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if is_transient(status) {
            return Err(StorageError::Unavailable {
                message: format!("{what}: {status}: {}", short(&body)),
                source: None,
            });
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    /// [`Client::request`], failing with [`StorageError::Internal`] unless the status is 2xx.
    pub(crate) async fn ok(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Value> {
        let name = method_name(&method);
        let answer = self.request(method, path, query, body).await?;
        if (200..300).contains(&answer.status) {
            Ok(answer.body)
        } else {
            Err(failed(&format!("{name} {path}"), &answer))
        }
    }
}

/// The error of a request that answered `answer` (not 2xx).
pub(crate) fn failed(what: &str, answer: &Answer) -> StorageError {
    StorageError::Internal {
        message: format!("{what}: {}: {}", answer.status, short(&answer.body)),
        source: None,
    }
}

/// Statuses a retry can fix: too many requests, a gateway or the server unavailable, a
/// gateway timeout.
pub(crate) fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// An error body, shortened for a message: its reason, or the start of its text.
pub(crate) fn short(body: &Value) -> String {
    if let Some(reason) = body["error"]["reason"].as_str() {
        let kind = body["error"]["type"].as_str().unwrap_or("error");
        return format!("{kind}: {reason}");
    }
    let text = body.to_string();
    text.chars().take(300).collect()
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flavours_are_detected_and_others_refused() {
        let es = json!({"version": {"number": "8.15.3", "build_flavor": "default"}});
        assert_eq!(Flavour::detect(&es), Ok(Flavour::Elasticsearch(8)));
        let es9 = json!({"version": {"number": "9.1.0"}});
        assert_eq!(Flavour::detect(&es9), Ok(Flavour::Elasticsearch(9)));
        let os = json!({"version": {"number": "3.8.0", "distribution": "opensearch"}});
        assert_eq!(Flavour::detect(&os), Ok(Flavour::OpenSearch(3)));
        let os2 = json!({"version": {"number": "2.19.1", "distribution": "opensearch"}});
        assert_eq!(Flavour::detect(&os2), Ok(Flavour::OpenSearch(2)));
        for (root, named) in [
            (json!({"version": {"number": "7.17.0"}}), "Elasticsearch 7"),
            (
                json!({"version": {"number": "1.3.0", "distribution": "opensearch"}}),
                "OpenSearch 1",
            ),
            (
                json!({"version": {"number": "1.0", "distribution": "solr"}}),
                "solr",
            ),
            (json!({"hello": "world"}), "unsupported"),
        ] {
            let message = Flavour::detect(&root).expect_err("refused");
            assert!(
                message.contains(named) && !message.contains('\n'),
                "{message}"
            );
        }
    }

    #[test]
    fn point_in_time_differs_by_flavour() {
        assert_eq!(
            Flavour::Elasticsearch(8).open_pit_path("p-all"),
            "/p-all/_pit"
        );
        assert_eq!(
            Flavour::OpenSearch(3).open_pit_path("p-all"),
            "/p-all/_search/point_in_time"
        );
        assert_eq!(
            Flavour::Elasticsearch(9).close_pit("x"),
            ("/_pit", serde_json::json!({"id": "x"}))
        );
        assert_eq!(
            Flavour::OpenSearch(2).close_pit("x"),
            (
                "/_search/point_in_time",
                serde_json::json!({"pit_id": ["x"]})
            )
        );
    }

    #[test]
    fn transient_statuses_are_retried() {
        for code in [429, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(code).expect("status")));
        }
        for code in [200, 400, 404, 409, 500] {
            assert!(!is_transient(StatusCode::from_u16(code).expect("status")));
        }
    }
}
