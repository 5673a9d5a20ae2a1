//! The host cluster, asked what an aggregated API server delegates to it: `TokenReview` (who
//! holds a bearer token) and `SubjectAccessReview` (may this user do that), with the answers
//! cached for a short time in a bounded cache.
//!
//! Neither the token nor the kubeconfig's credentials ever reach a log or an error message:
//! tokens are cached under their SHA-256, and a failed review is reported as such, with the
//! HTTP-level error of the client (which names no credential).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use sha2::Digest as _;

use crate::auth::User;
use crate::authz::Attributes;

/// The most entries of each cache; when full, expired entries go first, then the oldest.
pub(crate) const CACHE_ENTRIES: usize = 10_000;
/// How long a review may take.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// A map whose entries expire, with at most `capacity` entries.
#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// An empty cache of at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The value of `key` if it has not expired.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(expires, _)| *expires > Instant::now())
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` for `ttl` (not at all when `ttl` is zero).
    pub(crate) fn insert(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.capacity {
                // Still full of live entries: drop the one that expires first.
                if let Some(first) = entries
                    .iter()
                    .min_by_key(|(_, (expires, _))| *expires)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&first);
                }
            }
        }
        entries.insert(key, (now + ttl, value));
    }

    /// How many entries are kept (expired ones included).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// A client of the host cluster from a kubeconfig file.
#[derive(Clone)]
pub(crate) struct HostClient {
    client: kube::Client,
}

impl std::fmt::Debug for HostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostClient").finish_non_exhaustive()
    }
}

impl HostClient {
    /// The client of the current context of the kubeconfig at `path` (`flag` names it in
    /// errors).
    pub(crate) async fn from_kubeconfig(path: &Path, flag: &str) -> anyhow::Result<Self> {
        let kubeconfig = kube::config::Kubeconfig::read_from(path)
            .with_context(|| format!("{flag} {}", path.display()))?;
        let mut config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .with_context(|| format!("{flag} {}", path.display()))?;
        config.connect_timeout = Some(REVIEW_TIMEOUT);
        config.read_timeout = Some(REVIEW_TIMEOUT);
        config.write_timeout = Some(REVIEW_TIMEOUT);
        let client =
            kube::Client::try_from(config).with_context(|| format!("{flag} {}", path.display()))?;
        Ok(Self { client })
    }

    /// The client of the cluster this process runs in (the pod's service account).
    pub(crate) fn in_cluster() -> anyhow::Result<Self> {
        let mut config = kube::Config::incluster().context(
            "--delegate-in-cluster: no in-cluster configuration (not running in a pod?)",
        )?;
        config.connect_timeout = Some(REVIEW_TIMEOUT);
        config.read_timeout = Some(REVIEW_TIMEOUT);
        config.write_timeout = Some(REVIEW_TIMEOUT);
        let client = kube::Client::try_from(config).context("--delegate-in-cluster")?;
        Ok(Self { client })
    }

    /// The data of the `kube-system/extension-apiserver-authentication` ConfigMap (empty when
    /// it does not exist).
    pub(crate) async fn authentication_config(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(self.client.clone(), "kube-system");
        match tokio::time::timeout(
            REVIEW_TIMEOUT,
            api.get_opt("extension-apiserver-authentication"),
        )
        .await
        {
            Ok(Ok(found)) => Ok(found.and_then(|c| c.data).unwrap_or_default()),
            Ok(Err(error)) => Err(anyhow::anyhow!(
                "cannot read kube-system/extension-apiserver-authentication (pass --authentication-skip-lookup to do without): {}",
                describe(&error)
            )),
            Err(_) => Err(anyhow::anyhow!(
                "cannot read kube-system/extension-apiserver-authentication: the host cluster did not answer in time"
            )),
        }
    }

    async fn create<T>(&self, path: &str, object: &T) -> Result<T, kube::Error>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
        let request = http::Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(kube::Error::HttpError)?;
        tokio::time::timeout(REVIEW_TIMEOUT, self.client.request::<T>(request))
            .await
            .unwrap_or_else(|_| {
                Err(kube::Error::Service(
                    "the host cluster did not answer in time".into(),
                ))
            })
    }
}

/// Bearer tokens checked with `TokenReview`, the answers cached (successes and failures).
#[derive(Debug)]
pub(crate) struct TokenReviewer {
    client: HostClient,
    ttl: Duration,
    /// SHA-256 of the token → the user (`None`: not authenticated).
    cache: TtlCache<[u8; 32], Option<User>>,
}

impl TokenReviewer {
    /// A reviewer asking `client`, caching answers for `ttl`.
    pub(crate) fn new(client: HostClient, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            cache: TtlCache::new(CACHE_ENTRIES),
        }
    }

    /// The user of `token`; `Ok(None)` when the host cluster does not know it; `Err` when it
    /// cannot be asked.
    pub(crate) async fn review(&self, token: &str) -> anyhow::Result<Option<User>> {
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cache.get(&key) {
            return Ok(answer);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let answer = self
            .client
            .create("/apis/authentication.k8s.io/v1/tokenreviews", &review)
            .await
            .map_err(|e| anyhow::anyhow!("TokenReview failed: {}", describe(&e)))?;
        let user = answer
            .status
            .filter(|s| s.authenticated == Some(true))
            .and_then(|s| s.user)
            .and_then(|u| {
                let name = u.username.filter(|n| !n.is_empty())?;
                Some(User {
                    name,
                    uid: u.uid.unwrap_or_default(),
                    groups: u.groups.unwrap_or_default(),
                    extra: u
                        .extra
                        .map(|e| e.into_iter().collect::<BTreeMap<_, _>>())
                        .unwrap_or_default(),
                })
            });
        self.cache.insert(key, user.clone(), self.ttl);
        Ok(user)
    }
}

/// Requests authorized with `SubjectAccessReview`, the answers cached.
#[derive(Debug)]
pub(crate) struct AccessReviewer {
    client: HostClient,
    allowed_ttl: Duration,
    denied_ttl: Duration,
    /// The review's spec as JSON → (allowed, reason).
    cache: TtlCache<String, (bool, String)>,
}

impl AccessReviewer {
    /// A reviewer asking `client`, caching allowed and denied answers for their TTLs.
    pub(crate) fn new(client: HostClient, allowed_ttl: Duration, denied_ttl: Duration) -> Self {
        Self {
            client,
            allowed_ttl,
            denied_ttl,
            cache: TtlCache::new(CACHE_ENTRIES),
        }
    }

    /// Whether the host cluster allows `attributes` to `user`, and its reason.
    pub(crate) async fn review(
        &self,
        user: &User,
        attributes: &Attributes,
    ) -> anyhow::Result<(bool, String)> {
        let spec = SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| {
                user.extra
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            resource_attributes: attributes.resource.as_ref().map(|r| ResourceAttributes {
                verb: Some(attributes.verb.clone()),
                namespace: Some(r.namespace.clone()),
                group: Some(r.group.clone()),
                version: Some(r.version.clone()),
                resource: Some(r.resource.clone()),
                subresource: Some(r.subresource.clone()),
                name: Some(r.name.clone()),
                ..ResourceAttributes::default()
            }),
            non_resource_attributes: attributes
                .resource
                .is_none()
                .then(|| NonResourceAttributes {
                    path: Some(attributes.path.clone()),
                    verb: Some(attributes.verb.clone()),
                }),
        };
        let key = serde_json::to_string(&spec).unwrap_or_default();
        if let Some(answer) = self.cache.get(&key) {
            return Ok(answer);
        }
        let review = SubjectAccessReview {
            spec,
            ..SubjectAccessReview::default()
        };
        let answer = self
            .client
            .create(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                &review,
            )
            .await
            .map_err(|e| anyhow::anyhow!("SubjectAccessReview failed: {}", describe(&e)))?;
        let status = answer.status.unwrap_or_default();
        let decision = (
            status.allowed && status.denied != Some(true),
            status.reason.unwrap_or_default(),
        );
        let ttl = if decision.0 {
            self.allowed_ttl
        } else {
            self.denied_ttl
        };
        self.cache.insert(key, decision.clone(), ttl);
        Ok(decision)
    }
}

/// A client error, without anything the request carried.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let cache = TtlCache::new(3);
        cache.insert(1, "a", Duration::from_secs(60));
        cache.insert(2, "b", Duration::from_millis(1));
        cache.insert(9, "never", Duration::ZERO);
        assert_eq!(cache.get(&1), Some("a"));
        assert_eq!(cache.get(&9), None, "a zero TTL caches nothing");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get(&2), None, "expired");
        for key in 10..100 {
            cache.insert(key, "x", Duration::from_secs(key));
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&99), Some("x"), "the newest is kept");
    }
}
