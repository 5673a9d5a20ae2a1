//! One `coordination.k8s.io/v1` Lease held by one identity, as client-go's `leaderelection`
//! holds it: create it when absent, take it when its holder has not renewed it for its
//! `leaseDurationSeconds`, renew it while held, and write it only with the `resourceVersion`
//! last read, so that of two candidates racing for it one gets `409 Conflict` and loses.
//!
//! Expiry is judged by the local clock from when this process last saw the Lease change (not
//! from the `renewTime` a holder wrote), so clock skew between replicas does not matter.
//!
//! No crate fits here: `kube-leader-election` pins an old kube, and `kube-lease-manager`
//! writes with server-side apply.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

/// The result of a lease operation.
pub type Result<T, E = kube::Error> = std::result::Result<T, E>;

/// What this process last saw of a Lease.
#[derive(Debug, Clone)]
struct Observed {
    resource_version: String,
    at: Instant,
}

/// A Lease this process competes for (see the module doc).
#[derive(Debug)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    labels: BTreeMap<String, String>,
    observed: Option<Observed>,
    /// The Lease as last written by this identity (renewals skip the read).
    held: Option<Lease>,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == code)
}

impl LeaseLock {
    /// The Lease `name` of `api`'s namespace, for `identity`, valid `duration` after each
    /// renewal; `labels` are set when this lock creates the Lease.
    pub fn new(
        api: Api<Lease>,
        name: impl Into<String>,
        identity: impl Into<String>,
        duration: Duration,
        labels: BTreeMap<String, String>,
    ) -> Self {
        Self {
            api,
            name: name.into(),
            identity: identity.into(),
            duration,
            labels,
            observed: None,
            held: None,
        }
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the last acquire or renewal succeeded (and no release followed).
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// Tells the lock that this process saw the Lease at `resource_version` since `at` (from a
    /// list), so that expiry counts from then and not from the lock's first read.
    pub fn seen(&mut self, resource_version: &str, at: Instant) {
        if self
            .observed
            .as_ref()
            .is_none_or(|o| o.resource_version != resource_version || o.at > at)
        {
            self.observed = Some(Observed {
                resource_version: resource_version.to_owned(),
                at,
            });
        }
    }

    fn observe(&mut self, lease: &Lease) {
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if self
            .observed
            .as_ref()
            .is_none_or(|o| o.resource_version != version)
        {
            self.observed = Some(Observed {
                resource_version: version,
                at: Instant::now(),
            });
        }
    }

    fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let time = now();
        let ours = previous
            .and_then(|s| s.holder_identity.as_deref())
            .is_some_and(|h| h == self.identity);
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
            acquire_time: if ours {
                previous.and_then(|s| s.acquire_time.clone())
            } else {
                Some(time.clone())
            },
            renew_time: Some(time),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    /// Acquires the Lease or renews it; `Ok(false)` when another live holder has it or won a
    /// race for it, `Err` when the API server could not be asked.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        // Fast path: renew what we wrote last.
        if let Some(mut lease) = self.held.take() {
            let spec = self.spec(lease.spec.as_ref());
            lease.spec = Some(spec);
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Ok(written) => {
                    self.observe(&written);
                    self.held = Some(written);
                    return Ok(true);
                }
                // Someone else wrote it (or deleted it): look again.
                Err(e) if is_status(&e, 409) || is_status(&e, 404) => {}
                Err(e) => {
                    // Unknown outcome: keep renewing from what we had.
                    self.held = Some(lease);
                    return Err(e);
                }
            }
        }
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(written) => {
                    self.observe(&written);
                    self.held = Some(written);
                    Ok(true)
                }
                Err(e) if is_status(&e, 409) => Ok(false),
                Err(e) => Err(e),
            };
        };
        self.observe(&current);
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().unwrap_or_default();
        if !holder.is_empty() && holder != self.identity {
            let duration = spec
                .lease_duration_seconds
                .map_or(self.duration, |s| Duration::from_secs(s.max(0) as u64));
            let seen = self.observed.as_ref().map_or_else(Instant::now, |o| o.at);
            if seen.elapsed() < duration {
                return Ok(false);
            }
        }
        let mut lease = current;
        lease.spec = Some(self.spec(Some(&spec)));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(&written);
                self.held = Some(written);
                Ok(true)
            }
            Err(e) if is_status(&e, 409) || is_status(&e, 404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up (empties its holder) if this identity holds it, so that another
    /// candidate takes it at once instead of waiting for it to expire.
    pub async fn release(&mut self) -> Result<()> {
        let Some(mut lease) = self.held.take() else {
            return Ok(());
        };
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(1);
        }
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(&written);
                Ok(())
            }
            // Already taken or gone: nothing to give up.
            Err(e) if is_status(&e, 409) || is_status(&e, 404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Forgets that this identity holds the Lease, without writing (it is lost).
    pub fn abandon(&mut self) {
        self.held = None;
    }
}
