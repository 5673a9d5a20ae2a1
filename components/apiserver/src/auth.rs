//! Authentication, as a Kubernetes aggregated API server does it, first match wins:
//!
//! 1. the front proxy: a client certificate signed by `--requestheader-client-ca-file` whose
//!    Common Name is in `--requestheader-allowed-names` (any name when empty) makes the
//!    identity headers count: the user of the first `--requestheader-username-headers` header
//!    present, the groups of every `--requestheader-group-headers` header, the extra of the
//!    headers starting with `--requestheader-extra-headers-prefix`. Without such a
//!    certificate these headers are ignored, and they are removed from every request;
//! 2. a client certificate signed by `--client-ca-file` (Common Name = user, Organizations =
//!    groups);
//! 3. a bearer token of `--token-auth-file`, else of the host cluster (`TokenReview` through
//!    `--authentication-kubeconfig`, answers cached `--authentication-token-webhook-cache-ttl`);
//! 4. the anonymous user when `--anonymous-auth` is on;
//!
//! else `401 Unauthorized`. Every authenticated user is also in `system:authenticated`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::authz::Attributes;
use crate::error::ApiError;
use crate::host::TokenReviewer;
use crate::state::AppState;

/// The group every authenticated user is in.
const AUTHENTICATED: &str = "system:authenticated";

/// An authenticated user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct User {
    /// The user name.
    pub(crate) name: String,
    /// The uid (tokens, and the front proxy's `--requestheader-uid-headers`).
    pub(crate) uid: String,
    /// The groups.
    pub(crate) groups: Vec<String>,
    /// Extra attributes (front proxy and `TokenReview` only).
    pub(crate) extra: BTreeMap<String, Vec<String>>,
}

impl User {
    fn authenticated(mut self) -> Self {
        if !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }
}

/// What the client certificate of a connection proves (set once per TLS connection).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerIdentity {
    /// The user of a certificate signed by `--client-ca-file`.
    pub(crate) user: Option<User>,
    /// The Common Name of a certificate signed by `--requestheader-client-ca-file`.
    pub(crate) front_proxy: Option<String>,
}

/// The identity headers of the front proxy (`--requestheader-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrontProxy {
    /// The Common Names a front proxy's certificate may have (empty: any).
    pub(crate) allowed_names: Vec<String>,
    /// The headers naming the user, first present wins.
    pub(crate) username_headers: Vec<HeaderName>,
    /// The headers naming the user's uid, first present wins (Kubernetes 1.32; none by default).
    pub(crate) uid_headers: Vec<HeaderName>,
    /// The headers naming groups (every value of each).
    pub(crate) group_headers: Vec<HeaderName>,
    /// The prefixes of extra headers (lowercase).
    pub(crate) extra_prefixes: Vec<String>,
}

impl FrontProxy {
    /// The configuration of the flags; a header name that is not one is an error.
    pub(crate) fn new(
        allowed_names: &[String],
        username_headers: &[String],
        uid_headers: &[String],
        group_headers: &[String],
        extra_prefixes: &[String],
    ) -> anyhow::Result<Self> {
        let names = |flag: &str, values: &[String]| -> anyhow::Result<Vec<HeaderName>> {
            values
                .iter()
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    HeaderName::try_from(v.trim().to_ascii_lowercase())
                        .with_context(|| format!("{flag}: {v:?} is not a header name"))
                })
                .collect()
        };
        Ok(Self {
            allowed_names: allowed_names
                .iter()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
            username_headers: names("--requestheader-username-headers", username_headers)?,
            uid_headers: names("--requestheader-uid-headers", uid_headers)?,
            group_headers: names("--requestheader-group-headers", group_headers)?,
            extra_prefixes: extra_prefixes
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        })
    }

    /// The user the headers name, if any.
    fn user(&self, headers: &HeaderMap) -> Option<User> {
        let name = self.username_headers.iter().find_map(|h| {
            headers
                .get_all(h)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .find(|v| !v.is_empty())
        })?;
        let uid = self
            .uid_headers
            .iter()
            .find_map(|h| {
                headers
                    .get_all(h)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(str::trim)
                    .find(|v| !v.is_empty())
            })
            .unwrap_or_default();
        let groups = self
            .group_headers
            .iter()
            .flat_map(|h| headers.get_all(h).iter())
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in headers {
            let Some(key) = self
                .extra_prefixes
                .iter()
                .find_map(|p| header.as_str().strip_prefix(p.as_str()))
            else {
                continue;
            };
            if let Ok(value) = value.to_str() {
                let key = percent_decode(key);
                extra.entry(key).or_default().push(value.to_owned());
            }
        }
        Some(
            User {
                name: name.to_owned(),
                uid: uid.to_owned(),
                groups,
                extra,
            }
            .authenticated(),
        )
    }

    /// Removes the identity headers (they are never read past authentication).
    fn strip(&self, headers: &mut HeaderMap) {
        for header in self
            .username_headers
            .iter()
            .chain(&self.uid_headers)
            .chain(&self.group_headers)
        {
            headers.remove(header);
        }
        let extra: Vec<HeaderName> = headers
            .keys()
            .filter(|h| {
                self.extra_prefixes
                    .iter()
                    .any(|p| h.as_str().starts_with(p.as_str()))
            })
            .cloned()
            .collect();
        for header in extra {
            headers.remove(header);
        }
    }
}

impl Default for FrontProxy {
    /// The Kubernetes defaults: `X-Remote-User`, `X-Remote-Group`, `X-Remote-Extra-`, any
    /// name.
    fn default() -> Self {
        Self {
            allowed_names: Vec::new(),
            username_headers: vec![HeaderName::from_static("x-remote-user")],
            uid_headers: Vec::new(),
            group_headers: vec![HeaderName::from_static("x-remote-group")],
            extra_prefixes: vec!["x-remote-extra-".into()],
        }
    }
}

/// Decodes `%XX` escapes (extra keys are percent-encoded by the front proxy).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The authenticators configured by the flags.
#[derive(Debug, Default)]
pub(crate) struct Authenticator {
    /// Bearer token → user.
    pub(crate) tokens: HashMap<String, User>,
    /// Whether requests without credentials are served.
    pub(crate) anonymous: bool,
    /// The identity headers honoured over a front proxy's certificate.
    pub(crate) front_proxy: FrontProxy,
    /// Bearer tokens the token file does not know are asked to the host cluster.
    pub(crate) token_review: Option<TokenReviewer>,
}

impl Authenticator {
    /// The authenticator of a token file (if any) and the anonymous flag.
    pub(crate) fn new(token_file: Option<&Path>, anonymous: bool) -> anyhow::Result<Self> {
        let tokens = match token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--token-auth-file {}", path.display()))?;
                parse_token_file(&text)
                    .with_context(|| format!("--token-auth-file {}", path.display()))?
            }
            None => HashMap::new(),
        };
        Ok(Self {
            tokens,
            anonymous,
            ..Self::default()
        })
    }

    /// Who sent the request (see the module's documentation for the order); else `401`. A
    /// bearer token that is not known is a `401` even when anonymous requests are allowed (as
    /// in Kubernetes).
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<&PeerIdentity>,
    ) -> Result<User, ApiError> {
        if let Some(proxy) = peer.and_then(|p| p.front_proxy.as_deref()) {
            let allowed = self.front_proxy.allowed_names.is_empty()
                || self.front_proxy.allowed_names.iter().any(|n| n == proxy);
            if allowed {
                if let Some(user) = self.front_proxy.user(headers) {
                    return Ok(user);
                }
            } else {
                tracing::debug!(
                    common_name = proxy,
                    "a front proxy certificate whose name is not in --requestheader-allowed-names: its identity headers are ignored"
                );
            }
        }
        if let Some(user) = peer.and_then(|p| p.user.clone()) {
            return Ok(user);
        }
        if let Some(value) = headers.get(AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    let (scheme, token) = v.trim().split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .filter(|t| !t.is_empty())
                .ok_or_else(ApiError::unauthorized)?;
            if let Some(user) = self.tokens.get(token) {
                return Ok(user.clone());
            }
            let Some(reviewer) = &self.token_review else {
                return Err(ApiError::unauthorized());
            };
            return match reviewer.review(token).await {
                Ok(Some(user)) => Ok(user.authenticated()),
                Ok(None) => Err(ApiError::unauthorized()),
                Err(error) => {
                    tracing::warn!(%error, "cannot authenticate a bearer token");
                    Err(ApiError::unauthorized())
                }
            };
        }
        if self.anonymous {
            return Ok(User {
                name: "system:anonymous".into(),
                groups: vec!["system:unauthenticated".into()],
                ..User::default()
            });
        }
        Err(ApiError::unauthorized())
    }
}

/// The CAs read from the host cluster's `extension-apiserver-authentication` ConfigMap (PEM).
#[derive(Debug, Default)]
pub(crate) struct LookedUp {
    /// Its `client-ca-file`, used when `--client-ca-file` is not given.
    pub(crate) client_ca: Option<String>,
    /// Its `requestheader-client-ca-file`, used when `--requestheader-client-ca-file` is not
    /// given (with its allowed names and headers).
    pub(crate) requestheader_ca: Option<String>,
}

/// A JSON list of strings of the ConfigMap (`["a","b"]`).
fn json_list(data: &BTreeMap<String, String>, key: &str) -> anyhow::Result<Vec<String>> {
    match data.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).with_context(|| {
            format!("kube-system/extension-apiserver-authentication: {key} is not a JSON list of strings")
        }),
    }
}

/// The host cluster's client of `flag` (a kubeconfig), or of the pod with
/// `--delegate-in-cluster`.
async fn host_client(
    path: Option<&Path>,
    flag: &str,
    in_cluster: bool,
) -> anyhow::Result<Option<crate::host::HostClient>> {
    use crate::host::HostClient;
    match path {
        Some(path) => Ok(Some(HostClient::from_kubeconfig(path, flag).await?)),
        None if in_cluster => Ok(Some(HostClient::in_cluster()?)),
        None => Ok(None),
    }
}

/// The authenticator and authorizer of the flags, and what was read from the host cluster's
/// `extension-apiserver-authentication` ConfigMap. No review is made before the first request.
pub(crate) async fn configure(
    options: &crate::options::ApiserverOptions,
) -> anyhow::Result<(Authenticator, crate::authz::Authorizer, LookedUp)> {
    use crate::authz::{AuthorizationMode, Authorizer};
    use crate::host::{AccessReviewer, TokenReviewer};

    let mut authenticator =
        Authenticator::new(options.token_auth_file.as_deref(), options.anonymous_auth)?;
    authenticator.front_proxy = FrontProxy::new(
        &options.requestheader_allowed_names,
        &options.requestheader_username_headers,
        &options.requestheader_uid_headers,
        &options.requestheader_group_headers,
        &options.requestheader_extra_headers_prefix,
    )?;
    let mut looked_up = LookedUp::default();
    let authentication = host_client(
        options.authentication_kubeconfig.as_deref(),
        "--authentication-kubeconfig",
        options.delegate_in_cluster,
    )
    .await?;
    if let Some(client) = &authentication {
        authenticator.token_review = Some(TokenReviewer::new(
            client.clone(),
            options.authentication_token_webhook_cache_ttl,
        ));
        let wanted =
            options.requestheader_client_ca_file.is_none() || options.client_ca_file.is_none();
        if wanted && !options.authentication_skip_lookup {
            let data = client.authentication_config().await?;
            if options.client_ca_file.is_none() {
                looked_up.client_ca = data.get("client-ca-file").cloned();
            }
            if options.requestheader_client_ca_file.is_none()
                && let Some(ca) = data.get("requestheader-client-ca-file")
            {
                looked_up.requestheader_ca = Some(ca.clone());
                authenticator.front_proxy = FrontProxy::new(
                    &json_list(&data, "requestheader-allowed-names")?,
                    &json_list(&data, "requestheader-username-headers")?,
                    &json_list(&data, "requestheader-uid-headers")?,
                    &json_list(&data, "requestheader-group-headers")?,
                    &json_list(&data, "requestheader-extra-headers-prefix")?,
                )?;
                tracing::info!(
                    allowed_names = ?authenticator.front_proxy.allowed_names,
                    "front proxy configuration read from kube-system/extension-apiserver-authentication"
                );
            }
        }
    }
    let authorization = match options.authorization_mode {
        Some(AuthorizationMode::AlwaysAllow) => None,
        _ => {
            host_client(
                options.authorization_kubeconfig.as_deref(),
                "--authorization-kubeconfig",
                options.delegate_in_cluster,
            )
            .await?
        }
    };
    let mode = options.authorization_mode.unwrap_or(match authorization {
        Some(_) => AuthorizationMode::Webhook,
        None => AuthorizationMode::AlwaysAllow,
    });
    let reviewer = match (mode, authorization) {
        (AuthorizationMode::Webhook, Some(client)) => Some(AccessReviewer::new(
            client,
            options.authorization_webhook_cache_authorized_ttl,
            options.authorization_webhook_cache_unauthorized_ttl,
        )),
        (AuthorizationMode::Webhook, None) => {
            bail!(
                "--authorization-mode=Webhook needs --authorization-kubeconfig or --delegate-in-cluster"
            )
        }
        (AuthorizationMode::AlwaysAllow, _) => {
            tracing::warn!(
                "--authorization-mode=AlwaysAllow (development): every authenticated user may read every object of every cluster"
            );
            None
        }
    };
    Ok((
        authenticator,
        Authorizer {
            always_allow_paths: options
                .authorization_always_allow_paths
                .iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            reviewer,
        },
        looked_up,
    ))
}

/// Reads a Kubernetes static token file: CSV records `token,user,uid[,groups]` where `groups`
/// is one field of comma-separated group names. Records with an empty token are skipped (as
/// in Kubernetes); lines starting with `#` are comments.
pub(crate) fn parse_token_file(text: &str) -> anyhow::Result<HashMap<String, User>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut tokens = HashMap::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("record {}", index + 1))?;
        if record.len() < 3 {
            bail!(
                "record {} has {} columns: a token file needs at least 3 (token, user name, user uid)",
                index + 1,
                record.len()
            );
        }
        let token = &record[0];
        if token.is_empty() {
            tracing::warn!(record = index + 1, "empty token in the token file: skipped");
            continue;
        }
        let mut groups: Vec<String> = record
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        groups.push(AUTHENTICATED.into());
        let user = User {
            name: record[1].to_owned(),
            uid: record[2].to_owned(),
            groups,
            extra: BTreeMap::new(),
        };
        if tokens.insert(token.to_owned(), user).is_some() {
            tracing::warn!(
                record = index + 1,
                "duplicate token in the token file: the last one wins"
            );
        }
    }
    Ok(tokens)
}

/// The user a client certificate names: Common Name = user, Organizations = groups.
pub(crate) fn user_from_certificate(der: &[u8]) -> Option<User> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = certificate.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_owned();
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(str::to_owned)
        .collect();
    groups.push(AUTHENTICATED.into());
    Some(User {
        name,
        groups,
        ..User::default()
    })
}

/// The middleware: authenticates the request (else `401`), removes the identity headers,
/// then authorizes it (else `403`).
pub(crate) async fn middleware(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<PeerIdentity>();
    let user = match state.auth.authenticate(request.headers(), peer).await {
        Ok(user) => user,
        Err(error) => return error.into_response(),
    };
    state.auth.front_proxy.strip(request.headers_mut());
    tracing::trace!(user = %user.name, groups = ?user.groups, "authenticated");
    let attributes = Attributes::of(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query().unwrap_or_default(),
    );
    if let Err(error) = state.authz.authorize(&user, &attributes).await {
        return error.into_response();
    }
    request.extensions_mut().insert(user);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
        headers
    }

    #[test]
    fn token_file_records() {
        let tokens = parse_token_file(
            "# comment\nsecret,alice,1001,\"admins,dev\"\n  other , bob , 1002\n,nobody,3\n",
        )
        .expect("parse");
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens["secret"],
            User {
                name: "alice".into(),
                uid: "1001".into(),
                groups: vec!["admins".into(), "dev".into(), AUTHENTICATED.into()],
                extra: BTreeMap::new(),
            }
        );
        assert_eq!(tokens["other"].name, "bob");
        assert!(parse_token_file("just,two\n").is_err());
    }

    #[tokio::test]
    async fn authentication_order() {
        let authenticator = Authenticator {
            tokens: parse_token_file("t1,alice,1").expect("parse"),
            ..Authenticator::default()
        };
        assert_eq!(
            authenticator
                .authenticate(&bearer("t1"), None)
                .await
                .expect("alice")
                .name,
            "alice"
        );
        assert_eq!(
            authenticator
                .authenticate(&bearer("nope"), None)
                .await
                .expect_err("401")
                .code,
            401
        );
        assert_eq!(
            authenticator
                .authenticate(&HeaderMap::new(), None)
                .await
                .expect_err("401")
                .code,
            401
        );
        let peer = PeerIdentity {
            user: Some(User {
                name: "cert-user".into(),
                ..User::default()
            }),
            front_proxy: None,
        };
        assert_eq!(
            authenticator
                .authenticate(&bearer("nope"), Some(&peer))
                .await
                .expect("cert")
                .name,
            "cert-user"
        );
        let anonymous = Authenticator {
            anonymous: true,
            ..Authenticator::default()
        };
        assert_eq!(
            anonymous
                .authenticate(&HeaderMap::new(), None)
                .await
                .expect("anonymous")
                .name,
            "system:anonymous"
        );
        assert_eq!(
            anonymous
                .authenticate(&bearer("bad"), None)
                .await
                .expect_err("401")
                .code,
            401
        );
    }

    fn proxied(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::try_from(*name).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    #[tokio::test]
    async fn identity_headers_count_only_over_an_allowed_front_proxy_certificate() {
        let authenticator = Authenticator {
            tokens: parse_token_file("t1,alice,1").expect("parse"),
            front_proxy: FrontProxy::new(
                &["front-proxy".into()],
                &["X-Remote-User".into()],
                &["X-Remote-Uid".into()],
                &["X-Remote-Group".into()],
                &["X-Remote-Extra-".into()],
            )
            .expect("front proxy"),
            ..Authenticator::default()
        };
        let headers = proxied(&[
            ("x-remote-user", "jane"),
            ("x-remote-uid", "uid-1"),
            ("x-remote-group", "viewers"),
            ("x-remote-group", "ops"),
            ("x-remote-extra-scopes", "a"),
            ("x-remote-extra-acme.com%2fproject", "p1"),
            ("authorization", "Bearer t1"),
        ]);
        let proxy = PeerIdentity {
            user: None,
            front_proxy: Some("front-proxy".into()),
        };
        let user = authenticator
            .authenticate(&headers, Some(&proxy))
            .await
            .expect("front proxy");
        assert_eq!(user.name, "jane");
        assert_eq!(user.uid, "uid-1");
        assert_eq!(user.groups, ["viewers", "ops", AUTHENTICATED]);
        assert_eq!(user.extra["scopes"], ["a"]);
        assert_eq!(user.extra["acme.com/project"], ["p1"]);

        // Forged headers: without the certificate, or with another name, they do not count.
        let user = authenticator
            .authenticate(&headers, None)
            .await
            .expect("token");
        assert_eq!(user.name, "alice");
        let other = PeerIdentity {
            user: None,
            front_proxy: Some("someone-else".into()),
        };
        let user = authenticator
            .authenticate(&headers, Some(&other))
            .await
            .expect("token");
        assert_eq!(user.name, "alice");
        let forged = proxied(&[
            ("x-remote-user", "admin"),
            ("x-remote-group", "system:masters"),
        ]);
        assert_eq!(
            authenticator
                .authenticate(&forged, None)
                .await
                .expect_err("401")
                .code,
            401
        );
        // A front proxy without a user header falls through to the other authenticators.
        assert_eq!(
            authenticator
                .authenticate(&bearer("t1"), Some(&proxy))
                .await
                .expect("token")
                .name,
            "alice"
        );

        let mut headers = headers;
        authenticator.front_proxy.strip(&mut headers);
        assert_eq!(headers.len(), 1, "only authorization is left: {headers:?}");
        assert!(FrontProxy::new(&[], &["bad header".into()], &[], &[], &[]).is_err());
        assert!(FrontProxy::new(&[], &[], &["bad header".into()], &[], &[]).is_err());
    }

    #[test]
    fn certificate_subject_names_user_and_groups() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "jane");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "viewers");
        let key = rcgen::KeyPair::generate().expect("key");
        let certificate = params.self_signed(&key).expect("certificate");
        let user = user_from_certificate(certificate.der()).expect("user");
        assert_eq!(user.name, "jane");
        assert_eq!(user.groups, ["viewers", AUTHENTICATED]);
    }
}
