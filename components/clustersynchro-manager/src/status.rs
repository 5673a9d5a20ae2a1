//! PediaCluster status: conditions (with `meta.SetStatusCondition` semantics), the computed
//! `Ready` condition, and where statuses are written.

use clusterpedia_crds::{ClusterStatus, condition, reason};
use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition status `True`.
pub const TRUE: &str = "True";
/// Condition status `False`.
pub const FALSE: &str = "False";
/// Condition status `Unknown`.
pub const UNKNOWN: &str = "Unknown";

/// Now, at second precision (as Kubernetes stores times, so that a status read back compares
/// equal to the one written).
pub fn now() -> Time {
    let now = k8s_openapi::jiff::Timestamp::now();
    Time(k8s_openapi::jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// A condition whose last transition is now.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: now(),
        observed_generation: None,
    }
}

/// Sets `new` in `conditions` like Kubernetes' `meta.SetStatusCondition`: the transition time
/// changes only when the status does; reason and message are always updated.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => conditions.push(new),
        Some(existing) => {
            if existing.status != new.status {
                existing.status = new.status;
                existing.last_transition_time = new.last_transition_time;
            }
            existing.reason = new.reason;
            existing.message = new.message;
            existing.observed_generation = new.observed_generation;
        }
    }
}

/// The `Ready` condition of `conditions`: `True`/`Ready` when `Validated`, `SynchroRunning` and
/// `ClusterHealthy` are all true, else `False`/`NotReady` naming the first that is not.
pub fn ready_condition(conditions: &[Condition]) -> Condition {
    for type_ in [
        condition::VALIDATED,
        condition::SYNCHRO_RUNNING,
        condition::CLUSTER_HEALTHY,
    ] {
        let message = match conditions.iter().find(|c| c.type_ == type_) {
            Some(c) if c.status == TRUE => continue,
            Some(c) => format!("{type_} condition is {}, reason is {}", c.status, c.reason),
            None => format!("{type_} condition is not found"),
        };
        return new_condition(condition::READY, FALSE, reason::NOT_READY, message);
    }
    new_condition(condition::READY, TRUE, reason::READY, "")
}

/// Finishes a status before it is written: drops the deprecated condition and sets `Ready`.
pub fn finalize(status: &mut ClusterStatus) {
    status
        .conditions
        .retain(|c| c.type_ != condition::DEPRECATED_CLUSTER_SYNCHRO_INITIALIZED);
    let ready = ready_condition(&status.conditions);
    set_condition(&mut status.conditions, ready);
}

/// Where PediaCluster statuses go: the host cluster's status subresource, or the log.
pub trait StatusWriter: Send + Sync + 'static {
    /// Writes the status of cluster `name` (only called when it changed).
    fn write<'a>(
        &'a self,
        name: &'a str,
        status: &'a ClusterStatus,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Logs status changes (no host cluster).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogStatusWriter;

impl StatusWriter for LogStatusWriter {
    fn write<'a>(
        &'a self,
        name: &'a str,
        status: &'a ClusterStatus,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let conditions: Vec<String> = status
                .conditions
                .iter()
                .map(|c| {
                    if c.message.is_empty() {
                        format!("{}={}({})", c.type_, c.status, c.reason)
                    } else {
                        format!("{}={}({}: {})", c.type_, c.status, c.reason, c.message)
                    }
                })
                .collect();
            tracing::info!(cluster = name, version = %status.version, conditions = %conditions.join(", "), "cluster status");
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_follows_the_three_conditions() {
        let mut conditions = Vec::new();
        let ready = ready_condition(&conditions);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            (FALSE, "NotReady")
        );
        assert_eq!(ready.message, "Validated condition is not found");

        conditions.push(new_condition(
            condition::VALIDATED,
            TRUE,
            reason::VALIDATED,
            "",
        ));
        conditions.push(new_condition(
            condition::SYNCHRO_RUNNING,
            FALSE,
            reason::SYNCHRO_INITIAL_FAILED,
            "boom",
        ));
        let ready = ready_condition(&conditions);
        assert_eq!(
            ready.message,
            "SynchroRunning condition is False, reason is InitialFailed"
        );

        set_condition(
            &mut conditions,
            new_condition(
                condition::SYNCHRO_RUNNING,
                TRUE,
                reason::SYNCHRO_RUNNING,
                "",
            ),
        );
        conditions.push(new_condition(
            condition::CLUSTER_HEALTHY,
            UNKNOWN,
            reason::CLUSTER_MONITOR_STOP,
            "",
        ));
        assert_eq!(
            ready_condition(&conditions).message,
            "ClusterHealthy condition is Unknown, reason is MonitorStop"
        );
        set_condition(
            &mut conditions,
            new_condition(
                condition::CLUSTER_HEALTHY,
                TRUE,
                reason::CLUSTER_HEALTHY,
                "ok",
            ),
        );
        let ready = ready_condition(&conditions);
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_str(),
                ready.message.as_str()
            ),
            (TRUE, "Ready", "")
        );
    }

    #[test]
    fn set_condition_keeps_the_transition_time_unless_the_status_changes() {
        let old = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).expect("ts"));
        let mut conditions = vec![Condition {
            last_transition_time: old.clone(),
            ..new_condition(condition::VALIDATED, TRUE, reason::VALIDATED, "")
        }];
        set_condition(
            &mut conditions,
            new_condition(condition::VALIDATED, TRUE, reason::VALIDATED, "warning"),
        );
        assert_eq!(conditions[0].last_transition_time, old);
        assert_eq!(conditions[0].message, "warning");
        set_condition(
            &mut conditions,
            new_condition(condition::VALIDATED, FALSE, reason::INVALID_CONFIG, "bad"),
        );
        assert_ne!(conditions[0].last_transition_time, old);
        assert_eq!(conditions.len(), 1);

        let mut status = ClusterStatus {
            conditions: vec![new_condition(
                condition::DEPRECATED_CLUSTER_SYNCHRO_INITIALIZED,
                TRUE,
                "x",
                "",
            )],
            ..Default::default()
        };
        finalize(&mut status);
        let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready"]);
    }
}
