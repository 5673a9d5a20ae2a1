//! The apiserver's flags (the names of the Go original's generic apiserver flags).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// The apiserver's own flags.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ApiserverOptions {
    /// The address to serve HTTPS on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// The port to serve HTTPS on (0: any free port).
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    pub secure_port: u16,

    /// The directory of the self-signed certificate used when --tls-cert-file is not given:
    /// `apiserver.crt` (the certificate followed by its CA) and `apiserver.key` are reused when
    /// present, else generated and written there. Without it the certificate is generated in
    /// memory at every start.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// The PEM file of the serving certificate (and its intermediates).
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// The PEM file of the serving certificate's private key.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,

    /// The PEM file of the CAs that sign client certificates. A client presenting a certificate
    /// signed by one of them is authenticated as its Common Name, in the groups of its
    /// Organizations.
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,

    /// The Kubernetes static token file: CSV lines `token,user,uid[,"group1,group2"]`. A
    /// request with `Authorization: Bearer <token>` is authenticated as that user.
    #[arg(long, value_name = "FILE")]
    pub token_auth_file: Option<PathBuf>,

    /// Serve requests without credentials as the user `system:anonymous` (group
    /// `system:unauthenticated`); otherwise they get `401 Unauthorized`.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub anonymous_auth: bool,

    /// The most requests served at once, watches excepted (0: no limit); more get
    /// `429 TooManyRequests`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_requests_inflight: usize,

    /// The most connections open at once; the listener accepts no more until one closes, so
    /// that file descriptors cannot run out.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// How long a new connection may take to send the headers of its first request (after the
    /// TLS handshake) before it is closed (a slow or silent client holds no connection longer).
    #[arg(long, value_name = "DURATION", default_value = "32s", value_parser = storage_api::duration::parse_flag)]
    pub request_header_timeout: Duration,

    /// How long a connection with no request in flight stays open (kept-alive connections
    /// between requests; a watch is in flight until it ends).
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = storage_api::duration::parse_flag)]
    pub idle_connection_timeout: Duration,

    /// The longest a request may take, watches excepted: then it is answered `504 Timeout` and
    /// its storage query is cancelled.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = storage_api::duration::parse_flag)]
    pub request_timeout: Duration,

    /// The most expensive list requests served at once (field-path `orderby`, field selectors
    /// on object fields, `fuzzyName`, full-text `query`, long value lists; see docs/security.md); more get
    /// `429 TooManyRequests`, while cheap requests are still served. 0: no separate limit.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_expensive_requests_inflight: usize,

    /// The PEM file of the CAs that sign the front proxy's client certificate (the host
    /// kube-apiserver's `--proxy-client-cert-file`, when it serves this server as an aggregated
    /// API). Over a connection with such a certificate (and a Common Name of
    /// `--requestheader-allowed-names`), the identity headers name the user; on any other
    /// connection they are ignored.
    #[arg(long, value_name = "FILE")]
    pub requestheader_client_ca_file: Option<PathBuf>,

    /// The Common Names the front proxy's certificate may have (comma-separated; empty: any
    /// name signed by `--requestheader-client-ca-file`).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,

    /// The headers naming the user behind the front proxy (the first present wins).
    #[arg(
        long,
        value_name = "HEADERS",
        value_delimiter = ',',
        default_value = "X-Remote-User"
    )]
    pub requestheader_username_headers: Vec<String>,

    /// The headers naming the uid of the user behind the front proxy (the first present wins;
    /// Kubernetes 1.32's flag, none by default: `X-Remote-Uid` is the usual one).
    #[arg(long, value_name = "HEADERS", value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,

    /// The headers naming the groups of the user behind the front proxy (every value counts).
    #[arg(
        long,
        value_name = "HEADERS",
        value_delimiter = ',',
        default_value = "X-Remote-Group"
    )]
    pub requestheader_group_headers: Vec<String>,

    /// The prefixes of the headers carrying the user's extra attributes behind the front proxy.
    #[arg(
        long,
        value_name = "PREFIXES",
        value_delimiter = ',',
        default_value = "X-Remote-Extra-"
    )]
    pub requestheader_extra_headers_prefix: Vec<String>,

    /// The kubeconfig of the host cluster to check bearer tokens with (`TokenReview`); it needs
    /// the right to create `tokenreviews.authentication.k8s.io` (ClusterRole
    /// `system:auth-delegator`). Tokens of `--token-auth-file` are checked first.
    #[arg(long, value_name = "FILE")]
    pub authentication_kubeconfig: Option<PathBuf>,

    /// Without `--authentication-kubeconfig` or `--authorization-kubeconfig`, talk to the
    /// cluster this server runs in with its pod's service account instead (what the Go
    /// original does implicitly; the Helm chart sets it).
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub delegate_in_cluster: bool,

    /// Do not read the `kube-system/extension-apiserver-authentication` ConfigMap of the host
    /// cluster. Otherwise, when `--requestheader-client-ca-file` (or `--client-ca-file`) is not
    /// given and there is a host cluster, the front proxy's CA, allowed names and headers (and
    /// the client CA) are read from it at start, as a Kubernetes aggregated API server does.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub authentication_skip_lookup: bool,

    /// How long the answers of `TokenReview` (successes and failures) are cached.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = storage_api::duration::parse_flag)]
    pub authentication_token_webhook_cache_ttl: Duration,

    /// The kubeconfig of the host cluster to authorize requests with (`SubjectAccessReview`);
    /// it needs the right to create `subjectaccessreviews.authorization.k8s.io` (ClusterRole
    /// `system:auth-delegator`).
    #[arg(long, value_name = "FILE")]
    pub authorization_kubeconfig: Option<PathBuf>,

    /// How requests are authorized: `Webhook` (`SubjectAccessReview` against the host cluster
    /// of `--authorization-kubeconfig`) or `AlwaysAllow` (development only: every
    /// authenticated user may read everything). Default: `Webhook` when
    /// `--authorization-kubeconfig` is given, else `AlwaysAllow`.
    #[arg(long, value_name = "MODE", value_enum)]
    pub authorization_mode: Option<crate::authz::AuthorizationMode>,

    /// Paths every authenticated user may read without a `SubjectAccessReview` (comma-separated;
    /// a trailing `*` matches a prefix). `/livez`, `/readyz`, `/healthz` and `/metrics` are
    /// served before authentication anyway.
    #[arg(
        long,
        value_name = "PATHS",
        value_delimiter = ',',
        default_value = "/healthz,/readyz,/livez"
    )]
    pub authorization_always_allow_paths: Vec<String>,

    /// How long allowed answers of `SubjectAccessReview` are cached.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = storage_api::duration::parse_flag)]
    pub authorization_webhook_cache_authorized_ttl: Duration,

    /// How long denied answers of `SubjectAccessReview` are cached.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = storage_api::duration::parse_flag)]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,

    /// Per-user results: each user sees, in each member cluster, only the objects that
    /// cluster's own RBAC lets the same user name and groups list (Roles, ClusterRoles and
    /// their bindings as synced into storage; a cluster whose RBAC is not stored shows nothing).
    /// Filtered inside the storage query (paging, counts and watches stay exact). RBAC changes
    /// are seen within the synchro's delay on a layer with watch, else plus 10 s.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub member_rbac_filter: bool,

    /// With `--member-rbac-filter`: a YAML file naming the request's users and groups as each
    /// member cluster knows them (per cluster `userPrefix`, `groupPrefix`, `users`, `groups`;
    /// see docs/security.md). Without it, the same names in every member cluster.
    #[arg(long, value_name = "FILE")]
    pub member_rbac_identity_map: Option<PathBuf>,

    /// The file of the key that signs continue tokens (at least 32 bytes; surrounding
    /// whitespace is ignored). Replicas serving the same clients must share it. Without it a
    /// random key is made at start: tokens then do not survive a restart and only work on the
    /// replica that made them.
    #[arg(long, value_name = "FILE")]
    pub continue_token_key_file: Option<PathBuf>,

    /// On SIGTERM (or Ctrl-C) the server stops accepting connections, ends watches and lets
    /// the requests in flight (streamed lists included) finish for at most this long, then
    /// exits 0. Keep it under the pod's terminationGracePeriodSeconds (30s in the charts).
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = storage_api::duration::parse_flag)]
    pub shutdown_grace_period: Duration,
}

impl Default for ApiserverOptions {
    /// The flag defaults: every address, port 443, a generated certificate, no authenticator
    /// (so every request gets `401` unless `anonymous_auth` is set), no host cluster (so
    /// `AlwaysAllow`).
    fn default() -> Self {
        Self {
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            secure_port: 443,
            cert_dir: None,
            tls_cert_file: None,
            tls_private_key_file: None,
            client_ca_file: None,
            token_auth_file: None,
            anonymous_auth: false,
            max_requests_inflight: 0,
            max_connections: 4096,
            request_header_timeout: Duration::from_secs(32),
            idle_connection_timeout: Duration::from_secs(90),
            request_timeout: Duration::from_secs(60),
            max_expensive_requests_inflight: 8,
            continue_token_key_file: None,
            shutdown_grace_period: Duration::from_secs(20),
            requestheader_client_ca_file: None,
            requestheader_allowed_names: Vec::new(),
            requestheader_username_headers: vec!["X-Remote-User".into()],
            requestheader_uid_headers: Vec::new(),
            requestheader_group_headers: vec!["X-Remote-Group".into()],
            requestheader_extra_headers_prefix: vec!["X-Remote-Extra-".into()],
            authentication_kubeconfig: None,
            delegate_in_cluster: false,
            authentication_skip_lookup: false,
            member_rbac_filter: false,
            member_rbac_identity_map: None,
            authentication_token_webhook_cache_ttl: Duration::from_secs(10),
            authorization_kubeconfig: None,
            authorization_mode: None,
            authorization_always_allow_paths: vec![
                "/healthz".into(),
                "/readyz".into(),
                "/livez".into(),
            ],
            authorization_webhook_cache_authorized_ttl: Duration::from_secs(10),
            authorization_webhook_cache_unauthorized_ttl: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        options: ApiserverOptions,
    }

    #[test]
    fn defaults_match_default() {
        let cli = Cli::try_parse_from(["apiserver"]).expect("parse");
        assert_eq!(cli.options, ApiserverOptions::default());
    }

    #[test]
    fn anonymous_auth_takes_an_optional_value() {
        for (args, expected) in [
            (vec!["x", "--anonymous-auth"], true),
            (vec!["x", "--anonymous-auth=true"], true),
            (vec!["x", "--anonymous-auth=false"], false),
        ] {
            let cli = Cli::try_parse_from(args).expect("parse");
            assert_eq!(cli.options.anonymous_auth, expected);
        }
    }

    #[test]
    fn cert_and_key_go_together() {
        assert!(Cli::try_parse_from(["x", "--tls-cert-file", "a.crt"]).is_err());
        let cli = Cli::try_parse_from([
            "x",
            "--tls-cert-file",
            "a.crt",
            "--tls-private-key-file",
            "a.key",
            "--secure-port",
            "6443",
        ])
        .expect("parse");
        assert_eq!(cli.options.secure_port, 6443);
    }
}
