//! Printers of the `apps` group (also the old `extensions` group): deployments, replica sets,
//! stateful sets and daemon sets.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::format::{self, LabelSelector, PodTemplate};
use super::{AGE, Context, NAME, Printable, Printer, Row, column, parse, wide};

/// The printers of this module, by group and resource.
pub(super) const PRINTERS: &[(&str, &str, &Printer)] = &[
    ("apps", "deployments", &DEPLOYMENT),
    ("extensions", "deployments", &DEPLOYMENT),
    ("apps", "replicasets", &REPLICA_SET),
    ("extensions", "replicasets", &REPLICA_SET),
    ("apps", "statefulsets", &STATEFUL_SET),
    ("apps", "daemonsets", &DAEMON_SET),
    ("extensions", "daemonsets", &DAEMON_SET),
];

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";
const SELECTOR: &str = "A label query over pods that should match the replica count.";

/// The fields the workload printers read.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Workload {
    metadata: Option<Box<RawValue>>,
    spec: WorkloadSpec,
    status: WorkloadStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WorkloadSpec {
    /// Absent means 1 (the API default).
    replicas: Option<i64>,
    selector: Option<LabelSelector>,
    template: PodTemplate,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WorkloadStatus {
    replicas: i64,
    ready_replicas: i64,
    updated_replicas: i64,
    available_replicas: i64,
    desired_number_scheduled: i64,
    current_number_scheduled: i64,
    number_ready: i64,
    updated_number_scheduled: i64,
    number_available: i64,
}

static DEPLOYMENT: Printer = Printer {
    columns: &[
        NAME,
        column("Ready", "string", "Number of the pod with ready state"),
        column(
            "Up-to-date",
            "string",
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        column(
            "Available",
            "string",
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        wide("Containers", "string", CONTAINERS),
        wide("Images", "string", IMAGES),
        wide("Selector", "string", "Label selector for pods."),
    ],
    print: |object, context| {
        let mut deployment: Workload = parse(object)?;
        let metadata = deployment.metadata.take();
        let (spec, status) = (&deployment.spec, &deployment.status);
        let (names, images) = format::containers(&spec.template.spec.containers);
        let selector = match spec
            .selector
            .as_ref()
            .map(LabelSelector::to_selector_string)
        {
            None => String::new(),
            Some(Ok(text)) => text,
            Some(Err(())) => "<invalid>".into(),
        };
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                format!("{}/{}", status.ready_replicas, spec.replicas.unwrap_or(1)).into(),
                status.updated_replicas.into(),
                status.available_replicas.into(),
                age(object, context).into(),
                names.into(),
                images.into(),
                selector.into(),
            ],
        ))
    },
};

fn age(object: &Printable<'_>, context: &Context) -> String {
    format::since(object.creation_timestamp, context.now)
}

static REPLICA_SET: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Desired",
            "integer",
            "Replicas is the number of desired replicas.",
        ),
        column(
            "Current",
            "integer",
            "Replicas is the most recently observed number of replicas.",
        ),
        column(
            "Ready",
            "integer",
            "The number of ready replicas for this replica set.",
        ),
        AGE,
        wide("Containers", "string", CONTAINERS),
        wide("Images", "string", IMAGES),
        wide("Selector", "string", SELECTOR),
    ],
    print: |object, context| {
        let mut set: Workload = parse(object)?;
        let metadata = set.metadata.take();
        let (spec, status) = (&set.spec, &set.status);
        let (names, images) = format::containers(&spec.template.spec.containers);
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                spec.replicas.unwrap_or(1).into(),
                status.replicas.into(),
                status.ready_replicas.into(),
                age(object, context).into(),
                names.into(),
                images.into(),
                format::label_selector(spec.selector.as_ref()).into(),
            ],
        ))
    },
};

static STATEFUL_SET: Printer = Printer {
    columns: &[
        NAME,
        column("Ready", "string", "Number of the pod with ready state"),
        AGE,
        wide("Containers", "string", CONTAINERS),
        wide("Images", "string", IMAGES),
    ],
    print: |object, context| {
        let mut set: Workload = parse(object)?;
        let metadata = set.metadata.take();
        let (spec, status) = (&set.spec, &set.status);
        let (names, images) = format::containers(&spec.template.spec.containers);
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                format!("{}/{}", status.ready_replicas, spec.replicas.unwrap_or(1)).into(),
                age(object, context).into(),
                names.into(),
                images.into(),
            ],
        ))
    },
};

static DAEMON_SET: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Desired",
            "integer",
            "The total number of nodes that should be running the daemon pod.",
        ),
        column(
            "Current",
            "integer",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        ),
        column(
            "Ready",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
        ),
        column(
            "Up-to-date",
            "integer",
            "The total number of nodes that are running updated daemon pod.",
        ),
        column(
            "Available",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
        ),
        column(
            "Node Selector",
            "string",
            "NodeSelector is a selector which must be true for the pod to fit on a node.",
        ),
        AGE,
        wide("Containers", "string", CONTAINERS),
        wide("Images", "string", IMAGES),
        wide("Selector", "string", SELECTOR),
    ],
    print: |object, context| {
        let mut set: Workload = parse(object)?;
        let metadata = set.metadata.take();
        let (spec, status) = (&set.spec, &set.status);
        let (names, images) = format::containers(&spec.template.spec.containers);
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                status.desired_number_scheduled.into(),
                status.current_number_scheduled.into(),
                status.number_ready.into(),
                status.updated_number_scheduled.into(),
                status.number_available.into(),
                format::labels(&spec.template.spec.node_selector).into(),
                age(object, context).into(),
                names.into(),
                images.into(),
                format::label_selector(spec.selector.as_ref()).into(),
            ],
        ))
    },
};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Cell;
    use super::super::tests::{cells, s};

    fn workload(
        kind: &str,
        spec: serde_json::Value,
        status: serde_json::Value,
    ) -> serde_json::Value {
        json!({"kind": kind, "metadata": {"name": "web", "creationTimestamp": "2024-03-01T09:00:00Z"}, "spec": spec, "status": status})
    }

    fn template() -> serde_json::Value {
        json!({"metadata": {"creationTimestamp": null}, "spec": {"containers": [{"name": "app", "image": "web:1"}, {"name": "proxy", "image": "envoy:2"}], "nodeSelector": {"os": "linux"}}})
    }

    #[test]
    fn deployment_columns() {
        let cells = cells(
            ("apps", "v1", "deployments"),
            workload(
                "Deployment",
                json!({"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()}),
                json!({"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}),
            ),
        );
        assert_eq!(
            cells,
            [
                s("web"),
                s("2/3"),
                Cell::Int(3),
                Cell::Int(2),
                s("60m"),
                s("app,proxy"),
                s("web:1,envoy:2"),
                s("app=web")
            ]
        );
    }

    #[test]
    fn replica_stateful_and_daemon_sets() {
        let rs = cells(
            ("apps", "v1", "replicasets"),
            workload(
                "ReplicaSet",
                json!({"replicas": 2, "template": template()}),
                json!({"replicas": 2, "readyReplicas": 1}),
            ),
        );
        assert_eq!(rs[1..4], [Cell::Int(2), Cell::Int(2), Cell::Int(1)]);
        assert_eq!(rs[7], s("<none>"));
        let sts = cells(
            ("apps", "v1", "statefulsets"),
            workload(
                "StatefulSet",
                json!({"template": template()}),
                json!({"readyReplicas": 1}),
            ),
        );
        assert_eq!(sts[1], s("1/1"));
        let ds = cells(
            ("apps", "v1", "daemonsets"),
            workload(
                "DaemonSet",
                json!({"selector": {"matchLabels": {"app": "agent"}}, "template": template()}),
                json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}),
            ),
        );
        assert_eq!(
            ds[1..7],
            [
                Cell::Int(3),
                Cell::Int(3),
                Cell::Int(2),
                Cell::Int(3),
                Cell::Int(2),
                s("os=linux")
            ]
        );
        assert_eq!(ds[10], s("app=agent"));
    }
}
