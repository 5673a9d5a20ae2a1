//! Printers of the core group: pods, services, endpoints, configmaps, secrets, service
//! accounts, namespaces, nodes, events (also `events.k8s.io`), persistent volumes and claims.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::format::{self, Count, nullable};
use super::{AGE, Cell, Column, Context, NAME, Printable, Printer, Row, column, parse, wide};

/// The printers of this module, by group and resource.
pub(super) const PRINTERS: &[(&str, &str, &Printer)] = &[
    ("", "pods", &POD),
    ("", "services", &SERVICE),
    ("", "endpoints", &ENDPOINTS),
    ("", "configmaps", &CONFIGMAP),
    ("", "secrets", &SECRET),
    ("", "serviceaccounts", &SERVICE_ACCOUNT),
    ("", "namespaces", &NAMESPACE),
    ("", "nodes", &NODE),
    ("", "events", &EVENT),
    ("events.k8s.io", "events", &EVENT),
    ("", "persistentvolumes", &PERSISTENT_VOLUME),
    ("", "persistentvolumeclaims", &PERSISTENT_VOLUME_CLAIM),
];

// ---------------------------------------------------------------------------------------------
// pods

static POD: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        column(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        column(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        wide("IP", "string", "podIP address allocated to the pod."),
        wide(
            "Node",
            "string",
            "NodeName is the node the pod is scheduled onto.",
        ),
        wide(
            "Nominated Node",
            "string",
            "nominatedNodeName is set when this pod preempts other pods on the node.",
        ),
        wide(
            "Readiness Gates",
            "string",
            "If specified, all readiness gates will be evaluated for pod readiness.",
        ),
    ],
    print: print_pod,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Pod {
    metadata: Option<Box<RawValue>>,
    spec: PodSpec,
    status: PodStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodSpec {
    #[serde(deserialize_with = "nullable")]
    containers: Vec<IgnoredAny>,
    #[serde(deserialize_with = "nullable")]
    init_containers: Vec<InitContainer>,
    #[serde(deserialize_with = "nullable")]
    node_name: String,
    #[serde(deserialize_with = "nullable")]
    readiness_gates: Vec<ReadinessGate>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct InitContainer {
    name: String,
    restart_policy: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ReadinessGate {
    condition_type: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodStatus {
    #[serde(deserialize_with = "nullable")]
    phase: String,
    #[serde(deserialize_with = "nullable")]
    reason: String,
    #[serde(deserialize_with = "nullable")]
    conditions: Vec<Condition>,
    #[serde(deserialize_with = "nullable")]
    init_container_statuses: Vec<ContainerStatus>,
    #[serde(deserialize_with = "nullable")]
    container_statuses: Vec<ContainerStatus>,
    #[serde(rename = "podIPs", deserialize_with = "nullable")]
    pod_ips: Vec<PodIp>,
    #[serde(rename = "podIP", deserialize_with = "nullable")]
    pod_ip: String,
    #[serde(deserialize_with = "nullable")]
    nominated_node_name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    #[serde(deserialize_with = "nullable")]
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodIp {
    ip: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerStatus {
    name: String,
    restart_count: i64,
    ready: bool,
    started: Option<bool>,
    state: ContainerState,
    last_state: ContainerState,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContainerState {
    waiting: Option<Waiting>,
    running: Option<IgnoredAny>,
    terminated: Option<Terminated>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Waiting {
    #[serde(deserialize_with = "nullable")]
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Terminated {
    #[serde(deserialize_with = "nullable")]
    reason: String,
    exit_code: i64,
    signal: i64,
    finished_at: Option<String>,
}

const POD_SUCCEEDED: &str = r#"[{"type":"Completed","status":"True","reason":"Succeeded","message":"The pod has completed successfully."}]"#;
const POD_FAILED: &str =
    r#"[{"type":"Completed","status":"True","reason":"Failed","message":"The pod failed."}]"#;

fn print_pod(object: &Printable<'_>, context: &Context) -> Result<Row, serde_json::Error> {
    let mut pod: Pod = parse(object)?;
    let metadata = pod.metadata.take();
    let (spec, status) = (&pod.spec, &pod.status);
    let mut restarts = 0i64;
    let mut restartable_restarts = 0i64;
    let mut total = spec.containers.len();
    let mut ready = 0usize;
    let mut last_restart: Option<i64> = None;
    let mut last_restartable_restart: Option<i64> = None;
    let later = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };

    let mut reason = if status.reason.is_empty() {
        status.phase.clone()
    } else {
        status.reason.clone()
    };
    if status
        .conditions
        .iter()
        .any(|c| c.kind == "PodScheduled" && c.reason == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let restartable = |name: &str| {
        spec.init_containers
            .iter()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };
    total += spec
        .init_containers
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .count();

    let mut initializing = false;
    for (i, container) in status.init_container_statuses.iter().enumerate() {
        restarts += container.restart_count;
        let finished = container
            .last_state
            .terminated
            .as_ref()
            .and_then(|t| format::time(t.finished_at.as_deref()));
        last_restart = later(last_restart, finished);
        let is_restartable = restartable(&container.name);
        if is_restartable {
            restartable_restarts += container.restart_count;
            last_restartable_restart = later(last_restartable_restart, finished);
        }
        let state = &container.state;
        match (&state.terminated, &state.waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            _ if is_restartable && container.started == Some(true) => {
                if container.ready {
                    ready += 1;
                }
                continue;
            }
            (Some(t), _) => {
                reason = if !t.reason.is_empty() {
                    format!("Init:{}", t.reason)
                } else if t.signal != 0 {
                    format!("Init:Signal:{}", t.signal)
                } else {
                    format!("Init:ExitCode:{}", t.exit_code)
                };
            }
            (None, Some(w)) if !w.reason.is_empty() && w.reason != "PodInitializing" => {
                reason = format!("Init:{}", w.reason);
            }
            _ => reason = format!("Init:{i}/{}", spec.init_containers.len()),
        }
        initializing = true;
        break;
    }

    let initialized = status
        .conditions
        .iter()
        .any(|c| c.kind == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for container in status.container_statuses.iter().rev() {
            restarts += container.restart_count;
            let finished = container
                .last_state
                .terminated
                .as_ref()
                .and_then(|t| format::time(t.finished_at.as_deref()));
            last_restart = later(last_restart, finished);
            let state = &container.state;
            if let Some(w) = state.waiting.as_ref().filter(|w| !w.reason.is_empty()) {
                reason = w.reason.clone();
            } else if let Some(t) = &state.terminated {
                reason = if !t.reason.is_empty() {
                    t.reason.clone()
                } else if t.signal != 0 {
                    format!("Signal:{}", t.signal)
                } else {
                    format!("ExitCode:{}", t.exit_code)
                };
            } else if container.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status
                .conditions
                .iter()
                .any(|c| c.kind == "Ready" && c.status == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }

    let terminal = matches!(status.phase.as_str(), "Succeeded" | "Failed");
    if object.deletion_timestamp.is_some() {
        if status.reason == "NodeLost" {
            reason = "Unknown".into();
        } else if !terminal {
            reason = "Terminating".into();
        }
    }

    let restarts_text = match last_restart {
        Some(at) if restarts != 0 => {
            format!(
                "{restarts} ({} ago)",
                crate::time::human_duration(context.now - at)
            )
        }
        _ => restarts.to_string(),
    };

    let ip = status
        .pod_ips
        .first()
        .map(|p| p.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .or_else(|| Some(status.pod_ip.as_str()).filter(|ip| !ip.is_empty()))
        .unwrap_or("<none>");
    let readiness_gates = if spec.readiness_gates.is_empty() {
        "<none>".to_owned()
    } else {
        let true_conditions = spec
            .readiness_gates
            .iter()
            .filter(|gate| {
                status
                    .conditions
                    .iter()
                    .find(|c| c.kind == gate.condition_type)
                    .is_some_and(|c| c.status == "True")
            })
            .count();
        format!("{true_conditions}/{}", spec.readiness_gates.len())
    };

    Ok(Row {
        metadata,
        cells: vec![
            object.name.into(),
            format!("{ready}/{total}").into(),
            reason.into(),
            restarts_text.into(),
            format::since(object.creation_timestamp, context.now).into(),
            ip.into(),
            or_none(&spec.node_name).into(),
            or_none(&status.nominated_node_name).into(),
            readiness_gates.into(),
        ],
        conditions: match status.phase.as_str() {
            "Succeeded" => POD_SUCCEEDED,
            "Failed" => POD_FAILED,
            _ => "",
        },
    })
}

/// `value`, or `<none>` when empty.
fn or_none(value: &str) -> &str {
    if value.is_empty() { "<none>" } else { value }
}

// ---------------------------------------------------------------------------------------------
// services and endpoints

static SERVICE: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Type",
            "string",
            "type determines how the Service is exposed.",
        ),
        column(
            "Cluster-IP",
            "string",
            "clusterIP is the IP address of the service.",
        ),
        column(
            "External-IP",
            "string",
            "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
        ),
        column(
            "Port(s)",
            "string",
            "The list of ports that are exposed by this service.",
        ),
        AGE,
        wide(
            "Selector",
            "string",
            "Route service traffic to pods with label keys and values matching this selector.",
        ),
    ],
    print: print_service,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Service {
    metadata: Option<Box<RawValue>>,
    spec: ServiceSpec,
    status: ServiceStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServiceSpec {
    #[serde(rename = "type", deserialize_with = "nullable")]
    kind: String,
    #[serde(rename = "clusterIP", deserialize_with = "nullable")]
    cluster_ip: String,
    #[serde(rename = "clusterIPs", deserialize_with = "nullable")]
    cluster_ips: Vec<String>,
    #[serde(rename = "externalIPs", deserialize_with = "nullable")]
    external_ips: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    external_name: String,
    #[serde(deserialize_with = "nullable")]
    ports: Vec<ServicePort>,
    #[serde(deserialize_with = "nullable")]
    selector: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServicePort {
    port: i64,
    node_port: i64,
    #[serde(deserialize_with = "nullable")]
    protocol: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ServiceStatus {
    load_balancer: LoadBalancerStatus,
}

/// `status.loadBalancer` of services and ingresses.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct LoadBalancerStatus {
    #[serde(deserialize_with = "nullable")]
    ingress: Vec<LoadBalancerIngress>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoadBalancerIngress {
    #[serde(deserialize_with = "nullable")]
    ip: String,
    #[serde(deserialize_with = "nullable")]
    hostname: String,
}

impl LoadBalancerStatus {
    /// The addresses, sorted and distinct (the server always prints them unclipped: wide).
    pub(super) fn addresses(&self) -> String {
        let set: BTreeSet<&str> = self
            .ingress
            .iter()
            .filter_map(|i| {
                if !i.ip.is_empty() {
                    Some(i.ip.as_str())
                } else if !i.hostname.is_empty() {
                    Some(i.hostname.as_str())
                } else {
                    None
                }
            })
            .collect();
        set.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn print_service(object: &Printable<'_>, context: &Context) -> Result<Row, serde_json::Error> {
    let mut service: Service = parse(object)?;
    let metadata = service.metadata.take();
    let spec = &service.spec;
    let kind = if spec.kind.is_empty() {
        "ClusterIP"
    } else {
        spec.kind.as_str()
    };
    let cluster_ip = spec
        .cluster_ips
        .first()
        .map(String::as_str)
        .or_else(|| Some(spec.cluster_ip.as_str()).filter(|ip| !ip.is_empty()))
        .unwrap_or("<none>");
    let external_ips = spec.external_ips.join(",");
    let external = match kind {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_owned()
            } else {
                external_ips
            }
        }
        "LoadBalancer" => {
            let lb = service.status.load_balancer.addresses();
            match (lb.is_empty(), external_ips.is_empty()) {
                (false, false) => format!("{lb},{external_ips}"),
                (true, false) => external_ips,
                (false, true) => lb,
                (true, true) => "<pending>".to_owned(),
            }
        }
        "ExternalName" => spec.external_name.clone(),
        _ => "<unknown>".to_owned(),
    };
    let ports: Vec<String> = spec
        .ports
        .iter()
        .map(|p| {
            let protocol = if p.protocol.is_empty() {
                "TCP"
            } else {
                &p.protocol
            };
            if p.node_port > 0 {
                format!("{}:{}/{protocol}", p.port, p.node_port)
            } else {
                format!("{}/{protocol}", p.port)
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    };
    Ok(Row::with(
        metadata,
        vec![
            object.name.into(),
            kind.into(),
            cluster_ip.into(),
            external.into(),
            ports.into(),
            format::since(object.creation_timestamp, context.now).into(),
            format::labels(&spec.selector).into(),
        ],
    ))
}

static ENDPOINTS: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Endpoints",
            "string",
            "The set of all endpoints is the union of all subsets.",
        ),
        AGE,
    ],
    print: print_endpoints,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Endpoints {
    metadata: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    subsets: Vec<EndpointSubset>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointSubset {
    #[serde(deserialize_with = "nullable")]
    addresses: Vec<EndpointAddress>,
    #[serde(deserialize_with = "nullable")]
    ports: Vec<EndpointPort>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointAddress {
    ip: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointPort {
    port: i64,
}

fn print_endpoints(object: &Printable<'_>, context: &Context) -> Result<Row, serde_json::Error> {
    let mut endpoints: Endpoints = parse(object)?;
    let metadata = endpoints.metadata.take();
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut count = 0usize;
    for subset in &endpoints.subsets {
        if subset.ports.is_empty() {
            count += subset.addresses.len();
            list.extend(
                subset
                    .addresses
                    .iter()
                    .take(MAX.saturating_sub(list.len()))
                    .map(|a| a.ip.clone()),
            );
            continue;
        }
        for port in &subset.ports {
            count += subset.addresses.len();
            for address in &subset.addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(if address.ip.contains(':') {
                    format!("[{}]:{}", address.ip, port.port)
                } else {
                    format!("{}:{}", address.ip, port.port)
                });
            }
        }
    }
    let text = if endpoints.subsets.is_empty() {
        "<none>".to_owned()
    } else if count > MAX {
        format!("{} + {} more...", list.join(","), count - MAX)
    } else {
        list.join(",")
    };
    Ok(Row::with(
        metadata,
        vec![
            object.name.into(),
            text.into(),
            format::since(object.creation_timestamp, context.now).into(),
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// configmaps, secrets, service accounts, namespaces

static CONFIGMAP: Printer = Printer {
    columns: &[
        NAME,
        column("Data", "string", "Data contains the configuration data."),
        AGE,
    ],
    print: |object, context| {
        #[derive(Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct ConfigMap {
            metadata: Option<Box<RawValue>>,
            data: Count,
            binary_data: Count,
        }
        let mut config_map: ConfigMap = parse(object)?;
        let metadata = config_map.metadata.take();
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                (config_map.data.0 + config_map.binary_data.0).into(),
                format::since(object.creation_timestamp, context.now).into(),
            ],
        ))
    },
};

static SECRET: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Type",
            "string",
            "Used to facilitate programmatic handling of secret data.",
        ),
        column("Data", "string", "Data contains the secret data."),
        AGE,
    ],
    print: |object, context| {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Secret {
            metadata: Option<Box<RawValue>>,
            #[serde(rename = "type", deserialize_with = "nullable")]
            kind: String,
            data: Count,
        }
        let mut secret: Secret = parse(object)?;
        let metadata = secret.metadata.take();
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                secret.kind.into(),
                secret.data.0.into(),
                format::since(object.creation_timestamp, context.now).into(),
            ],
        ))
    },
};

static SERVICE_ACCOUNT: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Secrets",
            "string",
            "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
        ),
        AGE,
    ],
    print: |object, context| {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct ServiceAccount {
            metadata: Option<Box<RawValue>>,
            secrets: Count,
        }
        let mut account: ServiceAccount = parse(object)?;
        let metadata = account.metadata.take();
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                account.secrets.0.into(),
                format::since(object.creation_timestamp, context.now).into(),
            ],
        ))
    },
};

static NAMESPACE: Printer = Printer {
    columns: &[
        NAME,
        column("Status", "string", "The status of the namespace"),
        AGE,
    ],
    print: |object, context| {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Namespace {
            metadata: Option<Box<RawValue>>,
            status: Phase,
        }
        let mut namespace: Namespace = parse(object)?;
        let metadata = namespace.metadata.take();
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                namespace.status.phase.into(),
                format::since(object.creation_timestamp, context.now).into(),
            ],
        ))
    },
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Phase {
    #[serde(deserialize_with = "nullable")]
    phase: String,
}

// ---------------------------------------------------------------------------------------------
// nodes

static NODE: Printer = Printer {
    columns: &[
        NAME,
        column("Status", "string", "The status of the node"),
        column("Roles", "string", "The roles of the node"),
        AGE,
        column("Version", "string", "Kubelet Version reported by the node."),
        wide(
            "Internal-IP",
            "string",
            "List of addresses reachable to the node.",
        ),
        wide(
            "External-IP",
            "string",
            "List of addresses reachable to the node.",
        ),
        wide(
            "OS-Image",
            "string",
            "OS Image reported by the node from /etc/os-release.",
        ),
        wide(
            "Kernel-Version",
            "string",
            "Kernel Version reported by the node from 'uname -r'.",
        ),
        wide(
            "Container-Runtime",
            "string",
            "ContainerRuntime Version reported by the node through runtime remote API.",
        ),
    ],
    print: print_node,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Node {
    metadata: Option<Box<RawValue>>,
    spec: NodeSpec,
    status: NodeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeSpec {
    unschedulable: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NodeStatus {
    #[serde(deserialize_with = "nullable")]
    conditions: Vec<Condition>,
    #[serde(deserialize_with = "nullable")]
    addresses: Vec<NodeAddress>,
    node_info: NodeInfo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeAddress {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NodeInfo {
    kubelet_version: String,
    os_image: String,
    kernel_version: String,
    container_runtime_version: String,
}

fn print_node(object: &Printable<'_>, context: &Context) -> Result<Row, serde_json::Error> {
    let mut node: Node = parse(object)?;
    let metadata = node.metadata.take();
    let mut status: Vec<String> = node
        .status
        .conditions
        .iter()
        .rev()
        .find(|c| c.kind == "Ready")
        .map(|c| {
            if c.status == "True" {
                "Ready".to_owned()
            } else {
                "NotReady".to_owned()
            }
        })
        .into_iter()
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if node.spec.unschedulable {
        status.push("SchedulingDisabled".into());
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Labels {
        #[serde(deserialize_with = "nullable")]
        labels: BTreeMap<String, String>,
    }
    let labels: Labels = match &metadata {
        Some(metadata) => serde_json::from_str(metadata.get())?,
        None => Labels::default(),
    };
    let roles: BTreeSet<&str> = labels
        .labels
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .filter_map(|(key, value)| {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                Some(role).filter(|r| !r.is_empty())
            } else if key == "kubernetes.io/role" {
                Some(value).filter(|v| !v.is_empty())
            } else {
                None
            }
        })
        .collect();
    let roles = if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let address = |kind: &str| {
        node.status
            .addresses
            .iter()
            .find(|a| a.kind == kind)
            .map_or_else(|| "<none>".to_owned(), |a| a.address.clone())
    };
    let unknown = |value: &str| {
        if value.is_empty() {
            "<unknown>".to_owned()
        } else {
            value.to_owned()
        }
    };
    let info = &node.status.node_info;
    Ok(Row::with(
        metadata,
        vec![
            object.name.into(),
            status.join(",").into(),
            roles.into(),
            format::since(object.creation_timestamp, context.now).into(),
            info.kubelet_version.as_str().into(),
            address("InternalIP").into(),
            address("ExternalIP").into(),
            unknown(&info.os_image).into(),
            unknown(&info.kernel_version).into(),
            unknown(&info.container_runtime_version).into(),
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// events (core/v1 and events.k8s.io/v1, whose fields are renamed)

static EVENT: Printer = Printer {
    columns: &[
        column(
            "Last Seen",
            "string",
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        column(
            "Type",
            "string",
            "Type of this event (Normal, Warning), new types could be added in the future",
        ),
        column(
            "Reason",
            "string",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        column("Object", "string", "The object that this event is about."),
        wide(
            "Subobject",
            "string",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
        ),
        wide("Source", "string", "The component reporting this event."),
        column(
            "Message",
            "string",
            "A human-readable description of the status of this operation.",
        ),
        wide(
            "First Seen",
            "string",
            "The time at which the event was first recorded.",
        ),
        wide(
            "Count",
            "string",
            "The number of times this event has occurred.",
        ),
        Column {
            priority: 1,
            ..NAME
        },
    ],
    print: print_event,
};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Event {
    metadata: Option<Box<RawValue>>,
    #[serde(alias = "deprecatedFirstTimestamp")]
    first_timestamp: Option<String>,
    #[serde(alias = "deprecatedLastTimestamp")]
    last_timestamp: Option<String>,
    event_time: Option<String>,
    series: Option<EventSeries>,
    #[serde(alias = "deprecatedCount")]
    count: Option<i64>,
    #[serde(alias = "regarding")]
    involved_object: ObjectReference,
    #[serde(rename = "type", deserialize_with = "nullable")]
    kind: String,
    #[serde(deserialize_with = "nullable")]
    reason: String,
    #[serde(alias = "deprecatedSource")]
    source: Option<EventSource>,
    #[serde(alias = "reportingComponent", deserialize_with = "nullable")]
    reporting_controller: String,
    #[serde(deserialize_with = "nullable")]
    reporting_instance: String,
    #[serde(alias = "note", deserialize_with = "nullable")]
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EventSeries {
    count: i64,
    last_observed_time: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ObjectReference {
    #[serde(deserialize_with = "nullable")]
    kind: String,
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    field_path: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventSource {
    #[serde(deserialize_with = "nullable")]
    component: String,
    #[serde(deserialize_with = "nullable")]
    host: String,
}

fn print_event(object: &Printable<'_>, context: &Context) -> Result<Row, serde_json::Error> {
    let mut event: Event = parse(object)?;
    let metadata = event.metadata.take();
    let now = context.now;
    let first = match format::time(event.first_timestamp.as_deref()) {
        Some(t) => format::since(Some(t), now),
        None => format::since(format::time(event.event_time.as_deref()), now),
    };
    let mut last = match format::time(event.last_timestamp.as_deref()) {
        Some(t) => format::since(Some(t), now),
        None => first.clone(),
    };
    let mut count = event.count.unwrap_or(0);
    if let Some(series) = &event.series {
        last = format::since(format::time(series.last_observed_time.as_deref()), now);
        count = series.count;
    } else if count == 0 {
        count = 1;
    }
    let involved = &event.involved_object;
    let target = if involved.name.is_empty() {
        involved.kind.to_lowercase()
    } else {
        format!("{}/{}", involved.kind.to_lowercase(), involved.name)
    };
    let source = event.source.unwrap_or_default();
    let component = if source.component.is_empty() {
        event.reporting_controller
    } else {
        source.component
    };
    let host = if source.host.is_empty() {
        event.reporting_instance
    } else {
        source.host
    };
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    Ok(Row::with(
        metadata,
        vec![
            last.into(),
            event.kind.into(),
            event.reason.into(),
            target.into(),
            involved.field_path.as_str().into(),
            source.into(),
            event.message.trim().into(),
            first.into(),
            Cell::Int(count),
            object.name.into(),
        ],
    ))
}

// ---------------------------------------------------------------------------------------------
// persistent volumes and claims

static PERSISTENT_VOLUME: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Capacity",
            "string",
            "capacity is the description of the persistent volume's resources and capacity.",
        ),
        column(
            "Access Modes",
            "string",
            "accessModes contains all ways the volume can be mounted.",
        ),
        column(
            "Reclaim Policy",
            "string",
            "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
        ),
        column(
            "Status",
            "string",
            "phase indicates if a volume is available, bound to a claim, or released by a claim.",
        ),
        column(
            "Claim",
            "string",
            "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
        ),
        column("StorageClass", "string", "StorageClass of the pv"),
        column(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        column(
            "Reason",
            "string",
            "reason is a brief CamelCase string that describes any failure.",
        ),
        AGE,
        wide(
            "VolumeMode",
            "string",
            "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
        ),
    ],
    print: print_persistent_volume,
};

/// The annotation older clusters name the storage class with.
const STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

#[derive(Deserialize, Default)]
#[serde(default)]
struct VolumeMetadata {
    #[serde(deserialize_with = "nullable")]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PersistentVolume {
    metadata: VolumeMetadata,
    spec: PersistentVolumeSpec,
    status: VolumeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PersistentVolumeSpec {
    #[serde(deserialize_with = "nullable")]
    capacity: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    access_modes: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    persistent_volume_reclaim_policy: String,
    claim_ref: Option<ClaimRef>,
    storage_class_name: Option<String>,
    volume_attributes_class_name: Option<String>,
    volume_mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaimRef {
    #[serde(deserialize_with = "nullable")]
    namespace: String,
    #[serde(deserialize_with = "nullable")]
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct VolumeStatus {
    #[serde(deserialize_with = "nullable")]
    phase: String,
    #[serde(deserialize_with = "nullable")]
    reason: String,
    #[serde(deserialize_with = "nullable")]
    access_modes: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    capacity: BTreeMap<String, String>,
}

/// Access modes as kubectl abbreviates them, in a fixed order: `RWO,ROX,RWX,RWOP`.
fn access_modes(modes: &[String]) -> String {
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.iter().any(|m| m == mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn print_persistent_volume(
    object: &Printable<'_>,
    context: &Context,
) -> Result<Row, serde_json::Error> {
    let volume: PersistentVolume = parse(object)?;
    let spec = &volume.spec;
    let claim = spec
        .claim_ref
        .as_ref()
        .map(|c| format!("{}/{}", c.namespace, c.name))
        .unwrap_or_default();
    let phase = if object.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        volume.status.phase.clone()
    };
    let class = volume
        .metadata
        .annotations
        .get(STORAGE_CLASS_ANNOTATION)
        .cloned()
        .or_else(|| spec.storage_class_name.clone())
        .unwrap_or_default();
    Ok(Row::new(vec![
        object.name.into(),
        spec.capacity
            .get("storage")
            .cloned()
            .unwrap_or_else(|| "0".into())
            .into(),
        access_modes(&spec.access_modes).into(),
        spec.persistent_volume_reclaim_policy.as_str().into(),
        phase.into(),
        claim.into(),
        class.into(),
        spec.volume_attributes_class_name
            .clone()
            .unwrap_or_else(|| "<unset>".into())
            .into(),
        volume.status.reason.as_str().into(),
        format::since(object.creation_timestamp, context.now).into(),
        spec.volume_mode
            .clone()
            .unwrap_or_else(|| "<unset>".into())
            .into(),
    ]))
}

static PERSISTENT_VOLUME_CLAIM: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Status",
            "string",
            "phase represents the current phase of PersistentVolumeClaim.",
        ),
        column(
            "Volume",
            "string",
            "volumeName is the binding reference to the PersistentVolume backing this claim.",
        ),
        column(
            "Capacity",
            "string",
            "capacity represents the actual resources of the underlying volume.",
        ),
        column(
            "Access Modes",
            "string",
            "accessModes contains the actual access modes the volume backing the PVC has.",
        ),
        column("StorageClass", "string", "StorageClass of the pvc"),
        column(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        AGE,
        wide(
            "VolumeMode",
            "string",
            "volumeMode defines what type of volume is required by the claim.",
        ),
    ],
    print: print_persistent_volume_claim,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct PersistentVolumeClaim {
    metadata: VolumeMetadata,
    spec: PersistentVolumeClaimSpec,
    status: VolumeStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PersistentVolumeClaimSpec {
    #[serde(deserialize_with = "nullable")]
    volume_name: String,
    storage_class_name: Option<String>,
    volume_attributes_class_name: Option<String>,
    volume_mode: Option<String>,
}

fn print_persistent_volume_claim(
    object: &Printable<'_>,
    context: &Context,
) -> Result<Row, serde_json::Error> {
    let claim: PersistentVolumeClaim = parse(object)?;
    let spec = &claim.spec;
    let phase = if object.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        claim.status.phase.clone()
    };
    let (capacity, modes) = if spec.volume_name.is_empty() {
        (String::new(), String::new())
    } else {
        (
            claim
                .status
                .capacity
                .get("storage")
                .cloned()
                .unwrap_or_else(|| "0".into()),
            access_modes(&claim.status.access_modes),
        )
    };
    let class = claim
        .metadata
        .annotations
        .get(STORAGE_CLASS_ANNOTATION)
        .cloned()
        .or_else(|| spec.storage_class_name.clone())
        .unwrap_or_default();
    Ok(Row::new(vec![
        object.name.into(),
        phase.into(),
        spec.volume_name.as_str().into(),
        capacity.into(),
        modes.into(),
        class.into(),
        spec.volume_attributes_class_name
            .clone()
            .unwrap_or_else(|| "<unset>".into())
            .into(),
        format::since(object.creation_timestamp, context.now).into(),
        spec.volume_mode
            .clone()
            .unwrap_or_else(|| "<unset>".into())
            .into(),
    ]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{cells, s};
    use super::*;

    const POD: (&str, &str, &str) = ("", "v1", "pods");

    fn pod(spec: serde_json::Value, status: serde_json::Value) -> serde_json::Value {
        json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2024-03-01T08:00:00Z"}, "spec": spec, "status": status})
    }

    #[test]
    fn running_pod_with_restarts() {
        let cells = cells(
            POD,
            pod(
                json!({"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "worker-1"}),
                json!({"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
                       "containerStatuses": [
                         {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                          "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-03-01T09:55:00Z"}}},
                         {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": null}}}]}),
            ),
        );
        assert_eq!(
            cells,
            [
                s("p"),
                s("2/2"),
                s("Running"),
                s("2 (5m ago)"),
                s("120m"),
                s("10.0.0.1"),
                s("worker-1"),
                s("<none>"),
                s("<none>")
            ]
        );
    }

    #[test]
    fn pod_statuses() {
        let status = |status: serde_json::Value| {
            cells(POD, pod(json!({"containers": [{"name": "a"}]}), status))[2].clone()
        };
        assert_eq!(status(json!({"phase": "Pending"})), s("Pending"));
        assert_eq!(
            status(
                json!({"phase": "Pending", "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]})
            ),
            s("ImagePullBackOff")
        );
        assert_eq!(
            status(
                json!({"phase": "Running", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]})
            ),
            s("Signal:9")
        );
        assert_eq!(
            status(
                json!({"phase": "Succeeded", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
            ),
            s("Completed")
        );
        assert_eq!(
            status(
                json!({"phase": "Pending", "reason": "x", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
            ),
            s("SchedulingGated")
        );
        let init = cells(
            POD,
            pod(
                json!({"containers": [{"name": "a"}], "initContainers": [{"name": "i1"}, {"name": "i2"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                    {"name": "i2", "state": {"running": {}}}]}),
            ),
        );
        assert_eq!(init[2], s("Init:1/2"));
        let crash = cells(
            POD,
            pod(
                json!({"containers": [{"name": "a"}], "initContainers": [{"name": "i1"}]}),
                json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
            ),
        );
        assert_eq!(
            (crash[2].clone(), crash[3].clone()),
            (s("Init:CrashLoopBackOff"), s("3"))
        );
        let sidecar = cells(
            POD,
            pod(
                json!({"containers": [{"name": "a"}], "initContainers": [{"name": "proxy", "restartPolicy": "Always"}]}),
                json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                       "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "state": {"running": {}}}],
                       "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}}]}),
            ),
        );
        assert_eq!(
            (sidecar[1].clone(), sidecar[2].clone()),
            (s("2/2"), s("Running"))
        );
    }

    #[test]
    fn terminating_pod() {
        let mut json = pod(json!({"containers": []}), json!({"phase": "Running"}));
        json["metadata"]["deletionTimestamp"] = json!("2024-03-01T09:00:00Z");
        assert_eq!(cells(POD, json)[2], s("Terminating"));
    }

    #[test]
    fn services() {
        let service = |spec: serde_json::Value, status: serde_json::Value| {
            cells(
                ("", "v1", "services"),
                json!({"kind": "Service", "metadata": {"name": "svc", "creationTimestamp": "2024-03-01T09:59:30Z"}, "spec": spec, "status": status}),
            )
        };
        assert_eq!(
            service(
                json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 80}], "selector": {"b": "2", "a": "1"}}),
                json!({})
            ),
            [
                s("svc"),
                s("ClusterIP"),
                s("10.96.0.10"),
                s("<none>"),
                s("53/UDP,80/TCP"),
                s("30s"),
                s("a=1,b=2")
            ]
        );
        let lb = service(
            json!({"type": "LoadBalancer", "clusterIP": "10.0.0.1", "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example.com"}]}}),
        );
        assert_eq!(lb[3], s("1.2.3.4,lb.example.com"));
        assert_eq!(lb[4], s("443:30443/TCP"));
        assert_eq!(
            service(json!({"type": "LoadBalancer"}), json!({}))[3],
            s("<pending>")
        );
        assert_eq!(
            service(
                json!({"type": "ExternalName", "externalName": "db.example.com"}),
                json!({})
            )[3],
            s("db.example.com")
        );
    }

    #[test]
    fn nodes_events_volumes_and_counts() {
        let node = cells(
            ("", "v1", "nodes"),
            json!({"kind": "Node", "metadata": {"name": "n1", "creationTimestamp": "2024-02-20T10:00:00Z",
                     "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "master"}},
                   "spec": {"unschedulable": true},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}],
                              "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
                              "nodeInfo": {"kubeletVersion": "v1.30.2", "osImage": "Debian"}}}),
        );
        assert_eq!(
            node,
            [
                s("n1"),
                s("Ready,SchedulingDisabled"),
                s("control-plane,master"),
                s("10d"),
                s("v1.30.2"),
                s("10.0.0.5"),
                s("<none>"),
                s("Debian"),
                s("<unknown>"),
                s("<unknown>")
            ]
        );

        let event = cells(
            ("", "v1", "events"),
            json!({"kind": "Event", "metadata": {"name": "e1"}, "type": "Warning", "reason": "BackOff",
                   "message": " Back-off restarting \n", "count": 4,
                   "firstTimestamp": "2024-03-01T09:00:00Z", "lastTimestamp": "2024-03-01T09:58:00Z",
                   "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{a}"},
                   "source": {"component": "kubelet", "host": "worker-1"}}),
        );
        assert_eq!(
            event,
            [
                s("2m"),
                s("Warning"),
                s("BackOff"),
                s("pod/web-1"),
                s("spec.containers{a}"),
                s("kubelet, worker-1"),
                s("Back-off restarting"),
                s("60m"),
                Cell::Int(4),
                s("e1")
            ]
        );
        let new_event = cells(
            ("events.k8s.io", "v1", "events"),
            json!({"kind": "Event", "metadata": {"name": "e2"}, "type": "Normal", "reason": "Scheduled",
                   "note": "assigned", "eventTime": "2024-03-01T09:59:00.000000Z",
                   "regarding": {"kind": "Pod", "name": "web-2"}, "reportingController": "scheduler"}),
        );
        assert_eq!(new_event[0], s("60s"));
        assert_eq!(new_event[3], s("pod/web-2"));
        assert_eq!(new_event[5], s("scheduler"));
        assert_eq!(new_event[6], s("assigned"));
        assert_eq!(new_event[8], Cell::Int(1));

        let pvc = cells(
            ("", "v1", "persistentvolumeclaims"),
            json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "creationTimestamp": "2024-03-01T09:00:00Z"},
                   "spec": {"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem"},
                   "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "10Gi"}}}),
        );
        assert_eq!(
            pvc,
            [
                s("data"),
                s("Bound"),
                s("pv-1"),
                s("10Gi"),
                s("RWO,RWX"),
                s("standard"),
                s("<unset>"),
                s("60m"),
                s("Filesystem")
            ]
        );
        let pv = cells(
            ("", "v1", "persistentvolumes"),
            json!({"kind": "PersistentVolume", "metadata": {"name": "pv-1", "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
                   "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                            "claimRef": {"namespace": "ns", "name": "data"}},
                   "status": {"phase": "Bound"}}),
        );
        assert_eq!(
            pv,
            [
                s("pv-1"),
                s("10Gi"),
                s("RWO"),
                s("Retain"),
                s("Bound"),
                s("ns/data"),
                s("old"),
                s("<unset>"),
                s(""),
                s("<unknown>"),
                s("<unset>")
            ]
        );

        let secret = cells(
            ("", "v1", "secrets"),
            json!({"kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eA==", "b": "eQ=="}}),
        );
        assert_eq!(secret[1..3], [s("Opaque"), Cell::Int(2)]);
        let account = cells(
            ("", "v1", "serviceaccounts"),
            json!({"kind": "ServiceAccount", "metadata": {"name": "default"}, "secrets": [{"name": "t"}]}),
        );
        assert_eq!(account[1], Cell::Int(1));
        let namespace = cells(
            ("", "v1", "namespaces"),
            json!({"kind": "Namespace", "metadata": {"name": "ns"}, "status": {"phase": "Active"}}),
        );
        assert_eq!(namespace[1], s("Active"));
        let endpoints = cells(
            ("", "v1", "endpoints"),
            json!({"kind": "Endpoints", "metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]}]}),
        );
        assert_eq!(
            endpoints[1],
            s("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...")
        );
    }
}
