//! The state shared by the request handlers and background tasks of one simulator.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

use crate::resources::Catalog;
use crate::store::Store;

/// Behaviour settings of a running simulator.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `gitVersion` of `/version`.
    pub(crate) git_version: String,
    /// Interval of BOOKMARK events on watches that allow them.
    pub(crate) bookmark_interval: Duration,
    /// The accepted bearer token.
    pub(crate) token: String,
    /// Watches without `timeoutSeconds` end after a random duration in `[min, 2*min)`.
    pub(crate) min_watch_timeout: Duration,
    /// The users `TokenReview` knows besides the admin.
    pub(crate) users: Vec<crate::access::User>,
}

/// Counters exposed by the admin endpoint.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) watches_open: AtomicU64,
    pub(crate) churn_updates: AtomicU64,
}

/// Requests to the task that owns the listener.
#[derive(Debug)]
pub(crate) enum Control {
    /// Stop the simulator.
    Stop,
    /// Close (`false`) or reopen (`true`) the listener; acknowledged when done.
    SetReachable(bool, tokio::sync::oneshot::Sender<()>),
    /// Close the listener for a while.
    Disconnect(Duration),
}

/// Stamped churn updates a slow subscriber may fall behind by before it misses some.
const CHURN_STAMPS_CAPACITY: usize = 16_384;

/// One simulator's state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) store: Store,
    catalog: RwLock<Arc<Catalog>>,
    pub(crate) settings: Settings,
    healthy: AtomicBool,
    rng: Mutex<fastrand::Rng>,
    shutdown: watch::Sender<bool>,
    pub(crate) counters: Counters,
    /// The `https://host:port` clients use (for `/api`'s `serverAddressByClientCIDRs`).
    pub(crate) address: RwLock<String>,
    /// Churn updates per second.
    pub(crate) churn_rate: watch::Sender<f64>,
    /// Where the churn announces its stamped updates (see [`crate::ChurnStamp`]).
    pub(crate) churn_stamps: broadcast::Sender<crate::ChurnStamp>,
    /// Requests to the listener's owner.
    pub(crate) control: mpsc::UnboundedSender<Control>,
}

impl State {
    /// A state over `store`.
    pub(crate) fn new(
        store: Store,
        settings: Settings,
        seed: u64,
        control: mpsc::UnboundedSender<Control>,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        let (churn_rate, _) = watch::channel(0.0);
        let (churn_stamps, _) = broadcast::channel(CHURN_STAMPS_CAPACITY);
        let state = Self {
            store,
            catalog: RwLock::new(Arc::new(Catalog::new(&[]))),
            settings,
            healthy: AtomicBool::new(true),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            shutdown,
            counters: Counters::default(),
            address: RwLock::new(String::new()),
            churn_rate,
            churn_stamps,
            control,
        };
        state.refresh_catalog();
        state
    }

    /// The resources served now.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Rebuilds the catalog from the stored CRDs (after a CRD changed).
    pub(crate) fn refresh_catalog(&self) {
        let crds: Vec<Value> = self
            .store
            .objects("customresourcedefinitions.apiextensions.k8s.io", "")
            .into_iter()
            .filter_map(|(_, stored)| serde_json::from_slice(&stored.raw).ok())
            .collect();
        let catalog = Arc::new(Catalog::new(&crds));
        *self
            .catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = catalog;
    }

    /// Whether `/readyz` and friends answer ok.
    pub(crate) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Makes the health endpoints answer ok or fail.
    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Runs `f` with the shared random generator.
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut rng)
    }

    /// A receiver that turns `true` when the simulator stops.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Signals every task and connection to stop.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether the simulator is stopping.
    pub(crate) fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}
