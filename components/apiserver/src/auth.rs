//! Authentication, as the kube-apiserver does it: a client certificate signed by
//! `--client-ca-file` (Common Name = user, Organizations = groups), else a bearer token from
//! `--token-auth-file`, else the anonymous user when `--anonymous-auth` is on, else
//! `401 Unauthorized`. There is no authorization: every authenticated user may read everything.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The group every authenticated user is in.
const AUTHENTICATED: &str = "system:authenticated";

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    /// The user name.
    pub(crate) name: String,
    /// The uid (tokens only).
    pub(crate) uid: String,
    /// The groups.
    pub(crate) groups: Vec<String>,
}

/// The user of the client certificate of a connection (set once per TLS connection).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerIdentity(pub(crate) Option<User>);

/// The authenticators configured by the flags.
#[derive(Debug, Default)]
pub(crate) struct Authenticator {
    /// Bearer token → user.
    pub(crate) tokens: HashMap<String, User>,
    /// Whether requests without credentials are served.
    pub(crate) anonymous: bool,
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
        Ok(Self { tokens, anonymous })
    }

    /// Who sent the request: its connection's certificate user, its bearer token's user, or
    /// the anonymous user; else `401`. A bearer token that is not known is a `401` even when
    /// anonymous requests are allowed (as in Kubernetes).
    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<&PeerIdentity>,
    ) -> Result<User, ApiError> {
        if let Some(user) = peer.and_then(|p| p.0.clone()) {
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
                .filter(|t| !t.is_empty());
            return token
                .and_then(|t| self.tokens.get(t).cloned())
                .ok_or_else(ApiError::unauthorized);
        }
        if self.anonymous {
            return Ok(User {
                name: "system:anonymous".into(),
                uid: String::new(),
                groups: vec!["system:unauthenticated".into()],
            });
        }
        Err(ApiError::unauthorized())
    }
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
        uid: String::new(),
        groups,
    })
}

/// The middleware: authenticates the request or answers `401`.
pub(crate) async fn middleware(
    State(authenticator): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<PeerIdentity>();
    match authenticator.authenticate(request.headers(), peer) {
        Ok(user) => {
            tracing::trace!(user = %user.name, groups = ?user.groups, "authenticated");
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
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
            }
        );
        assert_eq!(tokens["other"].name, "bob");
        assert!(parse_token_file("just,two\n").is_err());
    }

    #[test]
    fn authentication_order() {
        let authenticator = Authenticator {
            tokens: parse_token_file("t1,alice,1").expect("parse"),
            anonymous: false,
        };
        assert_eq!(
            authenticator
                .authenticate(&bearer("t1"), None)
                .expect("alice")
                .name,
            "alice"
        );
        assert_eq!(
            authenticator
                .authenticate(&bearer("nope"), None)
                .expect_err("401")
                .code,
            401
        );
        assert_eq!(
            authenticator
                .authenticate(&HeaderMap::new(), None)
                .expect_err("401")
                .code,
            401
        );
        let peer = PeerIdentity(Some(User {
            name: "cert-user".into(),
            uid: String::new(),
            groups: vec![],
        }));
        assert_eq!(
            authenticator
                .authenticate(&bearer("nope"), Some(&peer))
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
                .expect("anonymous")
                .name,
            "system:anonymous"
        );
        assert_eq!(
            anonymous
                .authenticate(&bearer("bad"), None)
                .expect_err("401")
                .code,
            401
        );
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
