//! Running several clustersynchro-manager replicas against one host cluster.
//!
//! - **Leader election** (`--leader-elect`, the original's behaviour): the replicas of one
//!   `--sharding-name` compete for the Lease `<resource-name>[-<sharding-name>]`; only the
//!   holder syncs. A leader that cannot renew within `--leader-elect-renew-deadline` stops
//!   syncing and exits (its Pod restarts as a candidate), as client-go's leaders do.
//! - **Cluster sharding** (`--shard-clusters`, this project's): every replica of a sharding
//!   name renews its own replica Lease (`<base>-replica-<identity>`, label
//!   [`FLEET_LABEL`]`=<base>`, [`ROLE_LABEL`]`=replica`); the live replicas are those whose
//!   Lease changed within the lease duration. Each PediaCluster has its own Lease
//!   (`<base>-cluster-<cluster>`, role `cluster`); the replica that ranks first for the cluster
//!   by rendezvous hashing over the live replicas takes it, and a replica that holds a cluster
//!   it no longer ranks first for (a replica joined) drains its synchro, then releases the
//!   Lease. Only the holder of a cluster's Lease runs its synchro: a replica that cannot renew
//!   it within the renew deadline stops the synchro without draining, before the Lease can
//!   expire for the others (renew deadline + the synchro's 5 s stop bound ≤ lease duration).
//!
//! Hand-over bounds, with `D` the lease duration and `R` the retry period: a dead replica's
//! clusters are taken within `D + 2R` of its last renewal, plus the duration of one round of
//! Lease calls (each bounded by half the renew deadline); a joining replica gets its share
//! within `2R` + the owner's drain (at most 10 s). The new owner resumes from the storage's
//! resource versions, so nothing is listed into storage twice and nothing is lost.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::lease::LeaseLock;
use crate::manager::{ClusterInput, Manager};
use crate::options::LeaderElectionOptions;

/// The label naming the group of replicas (the base Lease name) on every fleet Lease.
pub const FLEET_LABEL: &str = "clusterpedia.io/clustersynchro-fleet";
/// The label saying whether a fleet Lease is a `replica`'s or a `cluster`'s.
pub const ROLE_LABEL: &str = "clusterpedia.io/clustersynchro-lease";

/// This process's identity in leader election: `$POD_NAME`, else `$HOSTNAME`, else the host
/// name, followed by `_` and a random suffix (two processes never share one).
pub fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "clustersynchro".into());
    format!("{host}_{:08x}", fastrand::u32(..))
}

/// A name usable in a Lease name: lowercase alphanumerics, `-` and `.`.
fn dns_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Waits for the Lease and returns it held, retrying every retry period.
pub async fn acquire_leadership(
    options: &LeaderElectionOptions,
    sharding_name: &str,
    client: kube::Client,
    identity: &str,
) -> LeaseLock {
    let name = options.lease_name(sharding_name);
    let namespace = options.namespace();
    let mut lock = LeaseLock::new(
        Api::namespaced(client, &namespace),
        name.clone(),
        identity,
        options.lease_duration,
        BTreeMap::new(),
    );
    tracing::info!(lease = %format!("{namespace}/{name}"), identity, "attempting to acquire the leader lease");
    loop {
        match tokio::time::timeout(options.retry_period, lock.try_acquire_or_renew()).await {
            Ok(Ok(true)) => {
                tracing::info!(lease = %format!("{namespace}/{name}"), identity, "successfully acquired the leader lease, syncing");
                return lock;
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(lease = %format!("{namespace}/{name}"), error = %e, "cannot acquire the leader lease")
            }
            Err(_) => {
                tracing::warn!(lease = %format!("{namespace}/{name}"), "acquiring the leader lease timed out")
            }
        }
        tokio::time::sleep(options.retry_period).await;
    }
}

/// Renews a held Lease every retry period; returns when it could not be renewed for the renew
/// deadline or another holder took it (leadership is lost).
pub async fn keep_leadership(
    options: &LeaderElectionOptions,
    lock: &tokio::sync::Mutex<LeaseLock>,
) {
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(options.retry_period).await;
        let mut held = lock.lock().await;
        match tokio::time::timeout(options.retry_period, held.try_acquire_or_renew()).await {
            Ok(Ok(true)) => renewed = Instant::now(),
            Ok(Ok(false)) => {
                tracing::error!(
                    lease = held.name(),
                    "the leader lease was taken by another replica"
                );
                held.abandon();
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(lease = held.name(), error = %e, "cannot renew the leader lease")
            }
            Err(_) => tracing::warn!(lease = held.name(), "renewing the leader lease timed out"),
        }
        if renewed.elapsed() >= options.renew_deadline {
            tracing::error!(lease = held.name(), deadline = ?options.renew_deadline, "failed to renew the leader lease within the renew deadline");
            held.abandon();
            return;
        }
    }
}

/// The rank of `replica` for `cluster` (rendezvous hashing: the highest wins). FNV-1a with a
/// SplitMix64 finish: stable across processes and versions.
fn rank(cluster: &str, replica: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cluster.bytes().chain([0]).chain(replica.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The replica of `replicas` that should own `cluster`.
fn owner_of<'a>(cluster: &str, replicas: &'a BTreeSet<String>) -> Option<&'a str> {
    replicas
        .iter()
        .max_by_key(|r| (rank(cluster, r), *r))
        .map(String::as_str)
}

/// What the host source told the fleet, and what the fleet owns.
#[derive(Default)]
struct Shared {
    /// The latest input of every cluster of this sharding name.
    inputs: BTreeMap<String, ClusterInput>,
    /// The clusters whose Lease this replica holds (their synchro runs unless deleting).
    owned: BTreeSet<String>,
}

struct Inner {
    manager: Manager,
    identity: String,
    base: String,
    leases: Api<Lease>,
    options: LeaderElectionOptions,
    shared: Mutex<Shared>,
    wake: Notify,
}

/// The replica's part in cluster sharding (cheap to clone); see the module doc.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("identity", &self.inner.identity)
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}

fn deleting(input: &ClusterInput) -> bool {
    input.cluster.metadata.deletion_timestamp.is_some()
}

impl Fleet {
    /// The fleet of `manager`'s sharding name, with Leases in the host cluster of `client`.
    pub fn new(
        manager: Manager,
        client: kube::Client,
        options: &LeaderElectionOptions,
        identity: impl Into<String>,
    ) -> Self {
        let base = options.lease_name(manager.sharding_name());
        Self {
            inner: Arc::new(Inner {
                leases: Api::namespaced(client, &options.namespace()),
                manager,
                identity: identity.into(),
                base,
                options: options.clone(),
                shared: Mutex::new(Shared::default()),
                wake: Notify::new(),
            }),
        }
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.inner
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This replica's identity (the holder of its Leases).
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// The retry period (how often Leases are renewed and taken).
    pub fn retry_period(&self) -> Duration {
        self.inner.options.retry_period
    }

    /// Whether this replica holds the cluster's Lease.
    pub fn owns(&self, cluster: &str) -> bool {
        self.shared().owned.contains(cluster)
    }

    /// The clusters this replica holds.
    pub fn owned(&self) -> BTreeSet<String> {
        self.shared().owned.clone()
    }

    /// A cluster of this sharding name, new or changed: synced here if this replica holds it.
    pub fn offer(&self, input: ClusterInput) {
        let name = input.cluster.name_any();
        let mut shared = self.shared();
        let apply = shared.owned.contains(&name) && !deleting(&input);
        let new = shared.inputs.insert(name, input.clone()).is_none();
        drop(shared);
        if apply {
            self.inner.manager.apply(input);
        } else if new {
            self.inner.wake.notify_one();
        }
    }

    /// A cluster that left this sharding name or was deleted: its synchro stops here (without
    /// cleaning) and its Lease is given up.
    pub async fn withdraw(&self, cluster: &str) {
        let owned = {
            let mut shared = self.shared();
            shared.inputs.remove(cluster);
            shared.owned.contains(cluster)
        };
        if owned {
            self.inner.manager.forget(cluster).await;
        }
        self.inner.wake.notify_one();
    }

    /// Forgets the clusters that are not in `present` (deleted from the host cluster); their
    /// Leases are given up.
    pub fn retain(&self, present: &BTreeSet<String>) {
        let mut shared = self.shared();
        let before = shared.inputs.len();
        shared.inputs.retain(|name, _| present.contains(name));
        if shared.inputs.len() != before {
            drop(shared);
            self.inner.wake.notify_one();
        }
    }

    fn replica_lease(&self) -> LeaseLock {
        let labels = BTreeMap::from([
            (FLEET_LABEL.to_owned(), dns_part(&self.inner.base)),
            (ROLE_LABEL.to_owned(), "replica".to_owned()),
        ]);
        LeaseLock::new(
            self.inner.leases.clone(),
            format!(
                "{}-replica-{}",
                self.inner.base,
                dns_part(&self.inner.identity)
            ),
            self.inner.identity.clone(),
            self.inner.options.lease_duration,
            labels,
        )
    }

    fn cluster_lease(&self, cluster: &str) -> LeaseLock {
        let labels = BTreeMap::from([
            (FLEET_LABEL.to_owned(), dns_part(&self.inner.base)),
            (ROLE_LABEL.to_owned(), "cluster".to_owned()),
        ]);
        LeaseLock::new(
            self.inner.leases.clone(),
            format!("{}-cluster-{cluster}", self.inner.base),
            self.inner.identity.clone(),
            self.inner.options.lease_duration,
            labels,
        )
    }

    fn set_owned(&self, cluster: &str, owned: bool) {
        let mut shared = self.shared();
        if owned {
            shared.owned.insert(cluster.to_owned());
        } else {
            shared.owned.remove(cluster);
        }
        drop(shared);
        self.inner
            .manager
            .metrics()
            .set_cluster_owner(cluster, &self.inner.identity, owned);
    }

    /// Keeps this replica's Leases until `stop` completes, then stops its synchros (draining)
    /// and gives its Leases up so that the other replicas take its clusters at once.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let retry = self.inner.options.retry_period;
        let mut state = LoopState {
            replica: self.replica_lease(),
            replica_renewed: Instant::now(),
            seen: HashMap::new(),
            locks: BTreeMap::new(),
            holders: HashMap::new(),
        };
        tracing::info!(identity = %self.inner.identity, fleet = %self.inner.base, "sharding clusters among the live replicas");
        loop {
            self.tick(&mut state).await;
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(retry) => {}
                () = self.inner.wake.notified() => {}
            }
        }
        // Hand everything over: drain every synchro at once, then give the Leases up.
        tracing::info!(
            clusters = state.holders.len(),
            "stopping: handing the clusters over"
        );
        for holder in state.holders.values() {
            let _ = holder.release.send(true);
        }
        for (_, holder) in state.holders.drain() {
            let _ = holder.task.await;
        }
        self.inner.manager.shutdown().await;
        let _ = state.replica.release().await;
    }

    async fn tick(&self, state: &mut LoopState) {
        let options = &self.inner.options;
        // Each call of a round, bounded so that a slow API server cannot stall the round
        // (the held clusters' Leases are renewed by their own tasks meanwhile).
        let timeout = options.renew_deadline / 2;
        // This replica is alive.
        match tokio::time::timeout(timeout, state.replica.try_acquire_or_renew()).await {
            Ok(Ok(true)) => state.replica_renewed = Instant::now(),
            Ok(Ok(false)) => tracing::warn!(
                lease = state.replica.name(),
                "the replica lease is held by another identity"
            ),
            Ok(Err(e)) => {
                tracing::warn!(lease = state.replica.name(), error = %e, "cannot renew the replica lease")
            }
            Err(_) => tracing::warn!(
                lease = state.replica.name(),
                "renewing the replica lease timed out"
            ),
        }
        // Holders that ended (handed over, or the Lease was lost) give their lock back.
        let ended: Vec<String> = state
            .holders
            .iter()
            .filter(|(_, h)| h.task.is_finished())
            .map(|(n, _)| n.clone())
            .collect();
        for name in ended {
            if let Some(holder) = state.holders.remove(&name)
                && let Ok(lock) = holder.task.await
            {
                state.locks.insert(name, lock);
            }
        }

        // Who is alive, and who holds which cluster.
        let selector = format!("{FLEET_LABEL}={}", dns_part(&self.inner.base));
        let listed = match tokio::time::timeout(
            timeout,
            self.inner
                .leases
                .list(&ListParams::default().labels(&selector)),
        )
        .await
        {
            Ok(Ok(list)) => Some(list.items),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot list the fleet's leases");
                None
            }
            Err(_) => {
                tracing::warn!("listing the fleet's leases timed out");
                None
            }
        };
        let inputs = self.shared().inputs.clone();
        let mut replicas = BTreeSet::from([self.inner.identity.clone()]);
        let mut live_holders: HashMap<String, String> = HashMap::new();
        if let Some(leases) = &listed {
            for lease in leases {
                let name = lease.name_any();
                let version = lease.resource_version().unwrap_or_default();
                let spec = lease.spec.clone().unwrap_or_default();
                let holder = spec.holder_identity.clone().unwrap_or_default();
                let duration = spec
                    .lease_duration_seconds
                    .map_or(options.lease_duration, |s| {
                        Duration::from_secs(u64::try_from(s).unwrap_or(0))
                    });
                let seen = state
                    .seen
                    .entry(name.clone())
                    .or_insert_with(|| (version.clone(), Instant::now()));
                if seen.0 != version {
                    *seen = (version, Instant::now());
                }
                let live = !holder.is_empty() && seen.1.elapsed() < duration;
                match lease.labels().get(ROLE_LABEL).map(String::as_str) {
                    Some("replica") if live => {
                        replicas.insert(holder);
                    }
                    Some("cluster") if live => {
                        live_holders.insert(name, holder);
                    }
                    _ => {}
                }
            }
            let names: BTreeSet<String> = leases.iter().map(ResourceExt::name_any).collect();
            state.seen.retain(|n, _| names.contains(n));
        }
        // Without a view of the replicas, or while this replica's own Lease is not renewed (the
        // others may think it dead), keep what is held and take nothing new.
        let view = listed.is_some() && state.replica_renewed.elapsed() < options.renew_deadline;

        // Hand over what belongs to another live replica, or left the source.
        for (cluster, holder) in &state.holders {
            let wanted = inputs.contains_key(cluster);
            let successor = owner_of(cluster, &replicas).unwrap_or_default();
            if (!wanted || (view && successor != self.inner.identity)) && !*holder.release.borrow()
            {
                if wanted {
                    tracing::info!(cluster, to = %successor, "handing the cluster over to the replica it belongs to");
                }
                let _ = holder.release.send(true);
            }
        }
        if !view {
            return;
        }
        // Take, all at once, the free clusters that belong here.
        let mut candidates = Vec::new();
        for cluster in inputs.keys() {
            if state.holders.contains_key(cluster)
                || owner_of(cluster, &replicas) != Some(self.inner.identity.as_str())
            {
                continue;
            }
            let lock = state
                .locks
                .entry(cluster.clone())
                .or_insert_with(|| self.cluster_lease(cluster));
            // Leave a live holder alone (it hands over when it sees this replica).
            if live_holders
                .get(lock.name())
                .is_some_and(|h| *h != self.inner.identity)
            {
                continue;
            }
            candidates.push(cluster.clone());
        }
        let mut attempts = Vec::new();
        for (cluster, lock) in state.locks.iter_mut() {
            if !candidates.contains(cluster) {
                continue;
            }
            if let Some((version, at)) = state.seen.get(lock.name()) {
                lock.seen(version, *at);
            }
            attempts.push(async move {
                let result = tokio::time::timeout(timeout, lock.try_acquire_or_renew()).await;
                (cluster.clone(), result)
            });
        }
        let results = futures::future::join_all(attempts).await;
        for (cluster, result) in results {
            match result {
                Ok(Ok(true)) => {
                    let Some(lock) = state.locks.remove(&cluster) else {
                        continue;
                    };
                    self.set_owned(&cluster, true);
                    tracing::info!(cluster, identity = %self.inner.identity, lease = %lock.name(), "acquired the cluster lease, syncing the cluster (resuming from the stored resource versions)");
                    if let Some(input) = inputs.get(&cluster)
                        && !deleting(input)
                    {
                        self.inner.manager.apply(input.clone());
                    }
                    let (release, release_rx) = watch::channel(false);
                    let task = tokio::spawn(self.clone().hold(cluster.clone(), lock, release_rx));
                    state.holders.insert(cluster, Holder { release, task });
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(cluster, error = %e, "cannot acquire the cluster lease")
                }
                Err(_) => tracing::warn!(cluster, "acquiring the cluster lease timed out"),
            }
        }
        // Forget the locks of clusters that left the source.
        state
            .locks
            .retain(|cluster, _| inputs.contains_key(cluster));
    }

    /// Renews the Lease of a cluster this replica syncs, on its own task so that no other
    /// cluster's Lease delays it. Returns the lock when asked to hand the cluster over (the
    /// synchro drained, then the Lease released) or when the Lease is lost: taken by another
    /// replica, or not renewed within the renew deadline — then the synchro stops at once.
    async fn hold(
        self,
        cluster: String,
        mut lock: LeaseLock,
        mut release: watch::Receiver<bool>,
    ) -> LeaseLock {
        let options = &self.inner.options;
        let mut renewed = Instant::now();
        loop {
            let remaining = options.renew_deadline.saturating_sub(renewed.elapsed());
            tokio::select! {
                () = async { drop(release.wait_for(|r| *r).await) } => {
                    // Drain while the Lease is still ours (the drain is shorter than the lease
                    // duration), then give it up.
                    self.inner.manager.forget(&cluster).await;
                    self.set_owned(&cluster, false);
                    if let Err(e) = lock.release().await {
                        tracing::warn!(cluster, error = %e, "cannot release the cluster lease");
                    }
                    return lock;
                }
                () = tokio::time::sleep(options.retry_period.min(remaining)) => {}
            }
            // One attempt may take what is left of the deadline (as client-go's renewals).
            let remaining = options.renew_deadline.saturating_sub(renewed.elapsed());
            let attempt = tokio::time::timeout(remaining, lock.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::error!(
                        cluster,
                        "the cluster lease was taken by another replica, stopping its synchro"
                    );
                    break;
                }
                Ok(Err(e)) => tracing::warn!(cluster, error = %e, "cannot renew the cluster lease"),
                Err(_) => tracing::warn!(cluster, "renewing the cluster lease timed out"),
            }
            if renewed.elapsed() >= options.renew_deadline {
                tracing::error!(cluster, deadline = ?options.renew_deadline, "cannot renew the cluster lease within the renew deadline, stopping its synchro");
                break;
            }
        }
        lock.abandon();
        self.inner.manager.abandon(&cluster).await;
        self.set_owned(&cluster, false);
        lock
    }
}

/// The task renewing the Lease of a cluster this replica holds.
struct Holder {
    /// Set to ask for a hand-over.
    release: watch::Sender<bool>,
    task: JoinHandle<LeaseLock>,
}

/// The Lease loop's own state.
struct LoopState {
    replica: LeaseLock,
    replica_renewed: Instant,
    /// Lease name → (resourceVersion, when this replica saw it change).
    seen: HashMap<String, (String, Instant)>,
    /// The Leases of the clusters this replica does not hold.
    locks: BTreeMap<String, LeaseLock>,
    /// The clusters this replica holds.
    holders: HashMap<String, Holder>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_spreads_and_moves_little() {
        let three: BTreeSet<String> = ["a_1", "b_2", "c_3"].map(String::from).into();
        let clusters: Vec<String> = (0..300).map(|i| format!("cluster-{i}")).collect();
        let mut counts = HashMap::new();
        for c in &clusters {
            *counts
                .entry(owner_of(c, &three).expect("owner"))
                .or_insert(0) += 1;
        }
        for (replica, n) in &counts {
            assert!((70..=130).contains(n), "{replica} owns {n} of 300");
        }
        // One replica leaves: only its clusters move.
        let two: BTreeSet<String> = ["a_1", "c_3"].map(String::from).into();
        for c in &clusters {
            let before = owner_of(c, &three).expect("owner");
            let after = owner_of(c, &two).expect("owner");
            if before != "b_2" {
                assert_eq!(before, after, "{c} moved needlessly");
            }
        }
        assert_eq!(dns_part("Host_ABC.1"), "host-abc.1");
    }
}
