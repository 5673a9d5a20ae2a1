//! Member cluster credentials: from a `PediaCluster` spec (or the Secrets it refers to) to a
//! `kube::Config` (the original's `BuildClusterRestConfig`).
//!
//! Precedence: `kubeconfig`; else `apiserver` with `tokenData` and/or `certData` + `keyData`,
//! verified with `caData` — or, without a CA, not verified at all (as the original does). Secret
//! references (`authenticationFrom`) are used only when no inline credential is set.
//!
//! Unlike client-go, a kubeconfig given in a `PediaCluster` may not run an exec plugin or an
//! auth provider, nor refer to files: whoever may write PediaClusters would otherwise run
//! commands or read files as the manager.

use clusterpedia_crds::{ClusterAuthentication, ClusterSpec};
use k8s_openapi::ByteString;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Errors building a member's client configuration (reported as `Validated=False`,
/// reason `InvalidConfig`, message `invalid cluster config: <error>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// Neither a kubeconfig nor an API server URL.
    #[error("Cluster APIServer Endpoint is required")]
    MissingApiServer,
    /// An API server URL without a token or a client certificate and key.
    #[error("Cluster APIServer's Token or Cert is required")]
    MissingCredential,
    /// The kubeconfig does not parse or lacks what is needed.
    #[error("invalid kubeconfig: {0}")]
    Kubeconfig(String),
    /// The kubeconfig asks for something a PediaCluster may not use.
    #[error("kubeconfig not allowed: {0}")]
    Forbidden(String),
    /// The credentials do not make a client configuration (bad URL, bad PEM).
    #[error("{0}")]
    Config(String),
    /// A Secret named by `authenticationFrom` could not be read.
    #[error("Cluster Authentication Error: {0}")]
    Secret(String),
}

/// A boxed future of a Secret value (or why it cannot be read).
pub type SecretFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// Where `authenticationFrom` Secret values come from (the host cluster).
pub trait SecretSource: Send + Sync {
    /// The value of `key` in Secret `name` of the clusterpedia namespace; an error message when
    /// it is missing or empty.
    fn secret_value<'a>(&'a self, name: &'a str, key: &'a str) -> SecretFuture<'a>;
}

/// The resolved credentials of a member cluster (compared to decide whether a running synchro
/// must be rebuilt).
#[derive(Clone, PartialEq, Eq)]
pub enum ClusterCredentials {
    /// A whole kubeconfig file; its current context is used.
    Kubeconfig(Vec<u8>),
    /// An API server URL with inline credentials.
    Direct {
        /// The URL.
        apiserver: String,
        /// PEM CA certificates; `None` disables verification.
        ca: Option<Vec<u8>>,
        /// A bearer token.
        token: Option<Vec<u8>>,
        /// A PEM client certificate and its key.
        cert_and_key: Option<(Vec<u8>, Vec<u8>)>,
    },
}

impl fmt::Debug for ClusterCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kubeconfig(k) => write!(f, "Kubeconfig({} bytes)", k.len()),
            Self::Direct {
                apiserver,
                ca,
                token,
                cert_and_key,
            } => f
                .debug_struct("Direct")
                .field("apiserver", apiserver)
                .field("ca", &ca.is_some())
                .field("token", &token.is_some())
                .field("cert_and_key", &cert_and_key.is_some())
                .finish(),
        }
    }
}

fn non_empty(b: &Option<ByteString>) -> Option<Vec<u8>> {
    b.as_ref().filter(|b| !b.0.is_empty()).map(|b| b.0.clone())
}

impl ClusterCredentials {
    /// The credentials of `spec`, reading `authenticationFrom` Secrets through `secrets` when no
    /// inline credential is set.
    pub async fn from_spec(
        spec: &ClusterSpec,
        secrets: Option<&dyn SecretSource>,
    ) -> Result<Self, CredentialsError> {
        let kubeconfig = non_empty(&spec.kubeconfig);
        let token = non_empty(&spec.token_data);
        let cert = non_empty(&spec.cert_data);
        let key = non_empty(&spec.key_data);
        let inline = kubeconfig.is_some() || token.is_some() || (cert.is_some() && key.is_some());
        if !inline && let Some(from) = &spec.authentication_from {
            let Some(secrets) = secrets else {
                return Err(CredentialsError::Secret(
                    "authenticationFrom needs the host cluster and the feature gate ClusterAuthenticationFromSecret".into(),
                ));
            };
            return Self::from_secrets(&spec.apiserver, from, secrets)
                .await
                .map_err(CredentialsError::Secret);
        }
        if let Some(kubeconfig) = kubeconfig {
            return Ok(Self::Kubeconfig(kubeconfig));
        }
        if spec.apiserver.is_empty() {
            return Err(CredentialsError::MissingApiServer);
        }
        let cert_and_key = cert.zip(key);
        if token.is_none() && cert_and_key.is_none() {
            return Err(CredentialsError::MissingCredential);
        }
        Ok(Self::Direct {
            apiserver: spec.apiserver.clone(),
            ca: non_empty(&spec.ca_data),
            token,
            cert_and_key,
        })
    }

    async fn from_secrets(
        apiserver: &str,
        from: &ClusterAuthentication,
        secrets: &dyn SecretSource,
    ) -> Result<Self, String> {
        if let Some(source) = &from.kubeconfig {
            return Ok(Self::Kubeconfig(
                secrets.secret_value(&source.name, &source.key).await?,
            ));
        }
        if apiserver.is_empty() {
            return Err("Cluster APIServer Endpoint is required".into());
        }
        if from.token.is_none() && (from.cert.is_none() || from.key.is_none()) {
            return Err("token or cert is required".into());
        }
        let ca = match &from.ca {
            Some(s) => Some(secrets.secret_value(&s.name, &s.key).await?),
            None => None,
        };
        let cert_and_key = match (&from.cert, &from.key) {
            (Some(c), Some(k)) => Some((
                secrets.secret_value(&c.name, &c.key).await?,
                secrets.secret_value(&k.name, &k.key).await?,
            )),
            _ => None,
        };
        let token = match &from.token {
            Some(s) => Some(secrets.secret_value(&s.name, &s.key).await?),
            None => None,
        };
        Ok(Self::Direct {
            apiserver: apiserver.into(),
            ca,
            token,
            cert_and_key,
        })
    }

    /// The client configuration.
    pub async fn to_config(&self) -> Result<kube::Config, CredentialsError> {
        let kubeconfig = match self {
            Self::Kubeconfig(bytes) => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|e| CredentialsError::Kubeconfig(format!("not UTF-8: {e}")))?;
                let kubeconfig = Kubeconfig::from_yaml(text)
                    .map_err(|e| CredentialsError::Kubeconfig(e.to_string()))?;
                check_kubeconfig(&kubeconfig)?;
                kubeconfig
            }
            Self::Direct {
                apiserver,
                ca,
                token,
                cert_and_key,
            } => {
                check_pem(ca.as_deref(), "caData", "CERTIFICATE")?;
                if let Some((cert, key)) = cert_and_key {
                    check_pem(Some(cert), "certData", "CERTIFICATE")?;
                    check_pem(Some(key), "keyData", "PRIVATE KEY")?;
                }
                let b64 = |b: &Vec<u8>| serde_json::to_value(ByteString(b.clone())).ok();
                let mut cluster = serde_json::json!({ "server": apiserver });
                match ca {
                    Some(ca) => cluster["certificate-authority-data"] = b64(ca).into(),
                    None => cluster["insecure-skip-tls-verify"] = true.into(),
                }
                let mut user = serde_json::json!({});
                if let Some(token) = token {
                    let token = String::from_utf8(token.clone())
                        .map_err(|_| CredentialsError::Config("the token is not UTF-8".into()))?;
                    user["token"] = token.trim().into();
                }
                if let Some((cert, key)) = cert_and_key {
                    user["client-certificate-data"] = b64(cert).into();
                    user["client-key-data"] = b64(key).into();
                }
                let doc = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "member", "cluster": cluster}],
                    "users": [{"name": "member", "user": user}],
                    "contexts": [{"name": "member", "context": {"cluster": "member", "user": "member"}}],
                    "current-context": "member",
                });
                serde_json::from_value(doc).map_err(|e| CredentialsError::Config(e.to_string()))?
            }
        };
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| CredentialsError::Config(e.to_string()))?;
        // Make TLS material errors (bad PEM) show up now, in the Validated condition, rather
        // than at the first request.
        kube::Client::try_from(config.clone())
            .map_err(|e| CredentialsError::Config(e.to_string()))?;
        Ok(config)
    }
}

/// Checks that `data` (when given) holds a PEM block whose label ends with `label`.
fn check_pem(data: Option<&[u8]>, field: &str, label: &str) -> Result<(), CredentialsError> {
    let Some(data) = data else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(data);
    let ok = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
            .is_some_and(|l| l.ends_with(label))
    });
    if ok {
        Ok(())
    } else {
        Err(CredentialsError::Config(format!(
            "{field} is not a PEM {}",
            label.to_lowercase()
        )))
    }
}

/// Rejects what a kubeconfig from a PediaCluster may not use (see the module docs).
fn check_kubeconfig(kubeconfig: &Kubeconfig) -> Result<(), CredentialsError> {
    for named in &kubeconfig.auth_infos {
        let Some(user) = &named.auth_info else {
            continue;
        };
        let name = &named.name;
        let forbidden = if user.exec.is_some() {
            Some("an exec plugin")
        } else if user.auth_provider.is_some() {
            Some("an auth provider")
        } else if user.token_file.is_some() {
            Some("a token file")
        } else if user.client_certificate.is_some() || user.client_key.is_some() {
            Some("client certificate files")
        } else {
            None
        };
        if let Some(what) = forbidden {
            return Err(CredentialsError::Forbidden(format!(
                "user {name:?} uses {what}; embed the credentials instead"
            )));
        }
    }
    for named in &kubeconfig.clusters {
        if let Some(cluster) = &named.cluster
            && cluster.certificate_authority.is_some()
        {
            return Err(CredentialsError::Forbidden(format!(
                "cluster {:?} uses a certificate-authority file; use certificate-authority-data",
                named.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(f: impl FnOnce(&mut ClusterSpec)) -> ClusterSpec {
        let mut spec = ClusterSpec::default();
        f(&mut spec);
        spec
    }

    fn bytes(s: &str) -> Option<ByteString> {
        Some(ByteString(s.as_bytes().to_vec()))
    }

    #[tokio::test]
    async fn precedence_and_required_fields() {
        let err = ClusterCredentials::from_spec(&spec(|_| {}), None).await;
        assert_eq!(err, Err(CredentialsError::MissingApiServer));
        let err = ClusterCredentials::from_spec(
            &spec(|s| s.apiserver = "https://127.0.0.1:6443".into()),
            None,
        )
        .await;
        assert_eq!(err, Err(CredentialsError::MissingCredential));
        let err = ClusterCredentials::from_spec(
            &spec(|s| {
                s.apiserver = "https://127.0.0.1:6443".into();
                s.cert_data = bytes("cert");
            }),
            None,
        )
        .await;
        assert_eq!(
            err,
            Err(CredentialsError::MissingCredential),
            "a cert needs its key"
        );

        let direct = ClusterCredentials::from_spec(
            &spec(|s| {
                s.apiserver = "https://127.0.0.1:6443".into();
                s.token_data = bytes("t0k3n\n");
            }),
            None,
        )
        .await
        .expect("token");
        let config = direct.to_config().await.expect("config");
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert!(config.accept_invalid_certs, "no CA: not verified");

        let kubeconfig = ClusterCredentials::from_spec(
            &spec(|s| {
                s.kubeconfig = bytes("x");
                s.apiserver = "https://ignored".into();
                s.token_data = bytes("t");
            }),
            None,
        )
        .await
        .expect("kubeconfig wins");
        assert_eq!(kubeconfig, ClusterCredentials::Kubeconfig(b"x".to_vec()));
        assert!(matches!(
            kubeconfig.to_config().await,
            Err(CredentialsError::Kubeconfig(_))
        ));
    }

    #[tokio::test]
    async fn kubeconfig_is_used_but_may_not_run_commands() {
        let good = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.1.2.3:6443\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: abc\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n";
        let config = ClusterCredentials::Kubeconfig(good.into())
            .to_config()
            .await
            .expect("config");
        assert_eq!(config.cluster_url.to_string(), "https://10.1.2.3:6443/");

        let exec = good.replace(
            "    token: abc\n",
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n",
        );
        let err = ClusterCredentials::Kubeconfig(exec.into())
            .to_config()
            .await
            .expect_err("exec");
        assert!(err.to_string().contains("exec plugin"), "{err}");
    }

    #[tokio::test]
    async fn bad_pem_is_reported_at_validation() {
        let creds = ClusterCredentials::Direct {
            apiserver: "https://127.0.0.1:6443".into(),
            ca: Some(b"not a pem".to_vec()),
            token: Some(b"t".to_vec()),
            cert_and_key: None,
        };
        assert!(creds.to_config().await.is_err());
    }

    struct Secrets;
    impl SecretSource for Secrets {
        fn secret_value<'a>(&'a self, name: &'a str, key: &'a str) -> SecretFuture<'a> {
            Box::pin(async move {
                match (name, key) {
                    ("creds", "token") => Ok(b"from-secret".to_vec()),
                    _ => Err(format!("secret {name}'s {key} is empty")),
                }
            })
        }
    }

    #[tokio::test]
    async fn authentication_from_secrets() {
        use clusterpedia_crds::ClusterAuthenticationSource;
        let s = spec(|s| {
            s.apiserver = "https://127.0.0.1:6443".into();
            s.authentication_from = Some(ClusterAuthentication {
                token: Some(ClusterAuthenticationSource {
                    name: "creds".into(),
                    key: "token".into(),
                }),
                ..Default::default()
            });
        });
        let creds = ClusterCredentials::from_spec(&s, Some(&Secrets))
            .await
            .expect("secret");
        assert!(
            matches!(creds, ClusterCredentials::Direct { token: Some(ref t), .. } if t == b"from-secret")
        );
        let err = ClusterCredentials::from_spec(&s, None)
            .await
            .expect_err("no host");
        assert!(
            err.to_string().contains("ClusterAuthenticationFromSecret"),
            "{err}"
        );
    }
}
