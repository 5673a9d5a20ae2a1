//! Churn: updates to random pods at a given rate, through the same write path as clients'
//! patches, so that watchers see `MODIFIED` events. Each update is one of: a status change (a
//! container restart count and the `Ready` condition's probe time, by `kubelet`), an annotation
//! change, or a label change (by `churn-controller`). The metadata changes also stamp
//! [`CHURNED_AT_ANNOTATION`] with the write time, so that a benchmark can measure how long a
//! change takes to become queryable downstream.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::api::Target;
use crate::state::State;

/// The annotation a metadata churn update stamps with its write time, in microseconds since the
/// Unix epoch.
pub const CHURNED_AT_ANNOTATION: &str = "kube-sim.io/churned-at";

/// A churn update that stamped [`CHURNED_AT_ANNOTATION`]: which pod, and the stamp. Announced
/// to [`SimulatorHandle::subscribe_churn`](crate::SimulatorHandle::subscribe_churn) once the
/// update is stored (visible to watches), so that a benchmark can poll for it downstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnStamp {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The stamp written into the annotation: microseconds since the Unix epoch.
    pub at_micros: u64,
}

/// Microseconds since the Unix epoch.
fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// How often the churn loop wakes up.
const TICK: Duration = Duration::from_millis(10);
/// How often the list of pods is re-read.
const REFRESH: Duration = Duration::from_secs(5);

/// Runs churn until the simulator stops; the rate (updates per second) is read from `rate`.
pub(crate) async fn run(state: Arc<State>, mut rate: watch::Receiver<f64>) {
    let mut shutdown = state.shutdown_signal();
    let mut keys: Vec<Arc<str>> = Vec::new();
    let mut refreshed = tokio::time::Instant::now() - REFRESH;
    let mut budget = 0.0_f64;
    let mut last = tokio::time::Instant::now();
    let mut counter: u64 = 0;
    loop {
        let per_second = *rate.borrow_and_update();
        if per_second <= 0.0 {
            budget = 0.0;
            tokio::select! {
                changed = rate.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|s| *s) => return,
            }
            last = tokio::time::Instant::now();
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = rate.changed() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = tokio::time::Instant::now();
        budget = (budget + per_second * (now - last).as_secs_f64()).min(per_second.max(1.0));
        last = now;
        if now - refreshed >= REFRESH || keys.is_empty() {
            keys = state.store.keys("pods", "");
            refreshed = now;
            if keys.is_empty() {
                continue;
            }
        }
        while budget >= 1.0 {
            budget -= 1.0;
            let index = state.with_rng(|rng| rng.usize(..keys.len()));
            counter += 1;
            if update_pod(&state, &keys[index], counter) {
                state.counters.churn_updates.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One churn update of the pod at `key` (`namespace/name`); false when it is gone.
fn update_pod(state: &Arc<State>, key: &str, counter: u64) -> bool {
    let Some((namespace, name)) = key.split_once('/') else {
        return false;
    };
    let Some(def) = state.catalog().lookup("", "v1", "pods") else {
        return false;
    };
    let choice = state.with_rng(|rng| rng.u8(..4));
    let status = choice < 2;
    let target = Target {
        def,
        version: "v1".into(),
        namespace: Some(namespace.to_owned()),
        name: Some(name.to_owned()),
        subresource: status.then(|| "status".to_owned()),
    };
    let now = crate::meta::now_rfc3339();
    let mut stamp = None;
    let manager = if status {
        "kubelet"
    } else {
        "churn-controller"
    };
    let result = crate::write::system_update(state, &target, manager, |current| {
        let mut next = current.clone();
        match choice {
            0 | 1 => {
                if let Some(Value::Array(statuses)) = next.pointer_mut("/status/containerStatuses")
                    && let Some(first) = statuses.first_mut()
                {
                    let restarts = first
                        .get("restartCount")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    first["restartCount"] = json!(restarts + i64::from(choice == 0));
                    first["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": now}});
                }
                if let Some(Value::Array(conditions)) = next.pointer_mut("/status/conditions") {
                    for condition in conditions.iter_mut() {
                        if condition.get("type").and_then(Value::as_str) == Some("Ready") {
                            condition["lastProbeTime"] = json!(now);
                        }
                    }
                }
            }
            2 => {
                if let Some(meta) = crate::meta::metadata_mut(&mut next) {
                    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
                    annotations["kube-sim.io/churn"] = json!(counter.to_string());
                    let at = now_micros();
                    stamp = Some(at);
                    annotations[CHURNED_AT_ANNOTATION] = json!(at.to_string());
                }
            }
            _ => {
                if let Some(meta) = crate::meta::metadata_mut(&mut next) {
                    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
                    let at = now_micros();
                    stamp = Some(at);
                    annotations[CHURNED_AT_ANNOTATION] = json!(at.to_string());
                    let labels = meta.entry("labels").or_insert_with(|| json!({}));
                    let flip = if labels.get("churn").and_then(Value::as_str) == Some("a") {
                        "b"
                    } else {
                        "a"
                    };
                    labels["churn"] = json!(flip);
                }
            }
        }
        Ok((next, None))
    });
    if result.is_ok()
        && let Some(at) = stamp
    {
        // Nobody listening is the common case: not an error.
        let _ = state.churn_stamps.send(ChurnStamp {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            at_micros: u64::try_from(at).unwrap_or(u64::MAX),
        });
    }
    result.is_ok()
}
