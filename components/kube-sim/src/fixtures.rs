//! Generated fixtures: the objects of a realistic cluster at a given size.
//!
//! A cluster has the system namespaces (`default`, `kube-system`, `kube-public`,
//! `kube-node-lease`), nodes, the `kubernetes` service, the CRDs of [`crate::crds`], and per
//! fixture namespace: its `kube-root-ca.crt` configmap and `default` service account, then
//! deployments, each with its replica set, pods (controller owner references, labels
//! `app`/`tier`/`version`/`pod-template-hash`, a `Running` status with `podIP` and
//! `containerStatuses`, or now and then `Pending`), a service and events about its pods;
//! configmaps; and `Widget` custom objects. Objects carry what a real apiserver serves:
//! `uid`, `resourceVersion`, `creationTimestamp`, `generation`, `managedFields`.
//!
//! Generation is deterministic per [`FixtureSpec`] (uids and names derive from the seed;
//! creation times are relative to the start). Namespaces are generated in parallel: each one has
//! a fixed number of objects, hence a fixed range of resource versions.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::meta::{new_uid, random_suffix, rfc3339, rfc3339_micros};

/// The size of a generated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureSpec {
    /// Fixture namespaces (besides the system ones).
    pub namespaces: usize,
    /// Deployments per namespace, each with a replica set and a service.
    pub deployments_per_namespace: usize,
    /// Pods of each deployment.
    pub replicas: usize,
    /// Configmaps per namespace (besides `kube-root-ca.crt`).
    pub configmaps_per_namespace: usize,
    /// Events per deployment, about its pods.
    pub events_per_deployment: usize,
    /// `Widget` objects (`example.io/v1`), spread over the namespaces.
    pub widgets: usize,
    /// Nodes.
    pub nodes: usize,
    /// The seed of names, uids and choices.
    pub seed: u64,
}

impl Default for FixtureSpec {
    fn default() -> Self {
        Self::small()
    }
}

impl FixtureSpec {
    /// No fixture namespace: the system namespaces, one node and the CRDs only.
    pub fn empty() -> Self {
        Self {
            namespaces: 0,
            deployments_per_namespace: 0,
            replicas: 0,
            configmaps_per_namespace: 0,
            events_per_deployment: 0,
            widgets: 0,
            nodes: 1,
            seed: 1,
        }
    }

    /// A small cluster for tests: 3 namespaces × 4 deployments × 3 pods (36 pods), 2 configmaps
    /// per namespace, 2 events per deployment, 4 widgets, 3 nodes.
    pub fn small() -> Self {
        Self {
            namespaces: 3,
            deployments_per_namespace: 4,
            replicas: 3,
            configmaps_per_namespace: 2,
            events_per_deployment: 2,
            widgets: 4,
            nodes: 3,
            seed: 1,
        }
    }

    /// The "100k" set of the benchmarks (`reference/baseline.md`): 100 namespaces × 100
    /// deployments × 10 pods = 100,000 pods; 10,000 deployments, replica sets and services;
    /// 10,000 configmaps; 50,000 events; 6 widgets; 50 nodes.
    pub fn preset_100k() -> Self {
        Self {
            namespaces: 100,
            deployments_per_namespace: 100,
            replicas: 10,
            configmaps_per_namespace: 100,
            events_per_deployment: 5,
            widgets: 6,
            nodes: 50,
            seed: 1,
        }
    }

    /// A preset by name: `empty`, `small` or `100k`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "empty" => Some(Self::empty()),
            "small" => Some(Self::small()),
            "100k" => Some(Self::preset_100k()),
            _ => None,
        }
    }

    fn widgets_in(&self, namespace: usize) -> usize {
        if self.namespaces == 0 {
            return 0;
        }
        self.widgets / self.namespaces + usize::from(namespace < self.widgets % self.namespaces)
    }

    /// Objects of fixture namespace `namespace` (fixed, so that revision ranges are known).
    fn objects_in(&self, namespace: usize) -> usize {
        3 + self.deployments_per_namespace * (3 + self.replicas + self.events_per_deployment)
            + self.configmaps_per_namespace
            + self.widgets_in(namespace)
    }

    /// The number of pods.
    pub fn pods(&self) -> usize {
        self.namespaces * self.deployments_per_namespace * self.replicas
    }
}

/// The names of the fixture namespaces.
pub fn namespace_name(index: usize) -> String {
    const NAMES: &[&str] = &[
        "payments",
        "web-frontend",
        "ml-pipeline",
        "observability",
        "search",
        "checkout",
    ];
    NAMES
        .get(index)
        .map_or_else(|| format!("team-{index:03}"), |n| (*n).to_owned())
}

const APP_NAMES: &[&str] = &[
    "api",
    "web",
    "worker",
    "webapp",
    "auth-proxy",
    "checkout",
    "billing",
    "search-indexer",
    "gateway",
    "scheduler",
];
const TIERS: &[&str] = &["frontend", "backend", "cache"];
const ENVS: &[&str] = &["prod", "staging", "dev"];
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A generated object: `(resource id, key, revision, JSON)`.
pub(crate) type Generated = (Arc<str>, Arc<str>, u64, Bytes);

/// Interned resource ids.
struct Ids {
    namespaces: Arc<str>,
    nodes: Arc<str>,
    pods: Arc<str>,
    services: Arc<str>,
    configmaps: Arc<str>,
    serviceaccounts: Arc<str>,
    events: Arc<str>,
    deployments: Arc<str>,
    replicasets: Arc<str>,
    widgets: Arc<str>,
    crds: Arc<str>,
}

impl Ids {
    fn new() -> Self {
        Self {
            namespaces: Arc::from("namespaces"),
            nodes: Arc::from("nodes"),
            pods: Arc::from("pods"),
            services: Arc::from("services"),
            configmaps: Arc::from("configmaps"),
            serviceaccounts: Arc::from("serviceaccounts"),
            events: Arc::from("events"),
            deployments: Arc::from("deployments.apps"),
            replicasets: Arc::from("replicasets.apps"),
            widgets: Arc::from("widgets.example.io"),
            crds: Arc::from("customresourcedefinitions.apiextensions.k8s.io"),
        }
    }
}

/// Maps revisions to creation times: objects were created over the 30 days before `now`, in
/// revision order.
#[derive(Clone, Copy)]
struct Clock {
    base_revision: u64,
    start_millis: i64,
    millis_per_object: i64,
}

impl Clock {
    fn seconds(&self, revision: u64) -> i64 {
        let offset = i64::try_from(revision.saturating_sub(self.base_revision)).unwrap_or(0);
        (self.start_millis + offset * self.millis_per_object) / 1000
    }
}

struct Gen<'a> {
    spec: &'a FixtureSpec,
    ids: &'a Ids,
    rng: fastrand::Rng,
    clock: Clock,
    next: u64,
    out: Vec<Generated>,
    nodes: usize,
}

/// A controller owner reference.
struct Owner {
    api_version: &'static str,
    kind: &'static str,
    name: String,
    uid: String,
}

impl Owner {
    fn reference(&self) -> Value {
        json!([{
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }])
    }
}

fn managed(
    manager: &str,
    api_version: &str,
    time: &str,
    fields: Value,
    subresource: Option<&str>,
) -> Value {
    let mut entry = json!({
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(sub) = subresource {
        entry["subresource"] = json!(sub);
    }
    entry
}

fn label_fields(labels: &Map<String, Value>) -> Value {
    let mut fields = Map::new();
    fields.insert(".".into(), json!({}));
    for key in labels.keys() {
        fields.insert(format!("f:{key}"), json!({}));
    }
    Value::Object(fields)
}

impl Gen<'_> {
    /// Allocates the next revision; returns it with the creation time text and a uid.
    fn allocate(&mut self) -> (u64, String, String) {
        let revision = self.next;
        self.next += 1;
        let created = rfc3339(self.clock.seconds(revision));
        (revision, created, new_uid(&mut self.rng))
    }

    fn metadata(
        revision: u64,
        created: &str,
        uid: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Map<String, Value> {
        let mut meta = Map::new();
        meta.insert("name".into(), json!(name));
        if let Some(ns) = namespace {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
        meta.insert("creationTimestamp".into(), json!(created));
        meta
    }

    fn emit(
        &mut self,
        resource: &Arc<str>,
        namespace: Option<&str>,
        name: &str,
        revision: u64,
        value: &Value,
    ) {
        let key = crate::meta::object_key(namespace, name);
        let mut raw = serde_json::to_vec(value).unwrap_or_default();
        raw.shrink_to_fit();
        self.out.push((
            resource.clone(),
            Arc::from(key.as_str()),
            revision,
            Bytes::from(raw),
        ));
    }

    fn namespace(&mut self, name: &str) {
        let (rv, created, uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &uid, None, name);
        meta.insert(
            "labels".into(),
            json!({"kubernetes.io/metadata.name": name}),
        );
        meta.insert(
            "managedFields".into(),
            json!([managed(
                "kube-apiserver",
                "v1",
                &created,
                json!({"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}),
                None
            )]),
        );
        let value = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        let ids = self.ids;
        self.emit(&ids.namespaces, None, name, rv, &value);

        let (rv, created, uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &uid, Some(name), "kube-root-ca.crt");
        meta.insert("annotations".into(), json!({"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}));
        meta.insert(
            "managedFields".into(),
            json!([managed("kube-controller-manager", "v1", &created, json!({"f:data": {".": {}, "f:ca.crt": {}}, "f:metadata": {"f:annotations": {".": {}, "f:kubernetes.io/description": {}}}}), None)]),
        );
        let certificate = format!(
            "-----BEGIN CERTIFICATE-----\nMIIDBTCCAe2gAwIBAgIIW{}\n-----END CERTIFICATE-----\n",
            random_suffix(&mut self.rng, 48)
        );
        let value = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"ca.crt": certificate}});
        self.emit(&ids.configmaps, Some(name), "kube-root-ca.crt", rv, &value);

        let (rv, created, uid) = self.allocate();
        let meta = Self::metadata(rv, &created, &uid, Some(name), "default");
        let value = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta});
        self.emit(&ids.serviceaccounts, Some(name), "default", rv, &value);
    }

    fn node(&mut self, index: usize) {
        let name = format!("node-{index}");
        let (rv, created, uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &uid, None, &name);
        let zone = ["zone-a", "zone-b", "zone-c"][index % 3];
        let mut labels = json!({
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": zone,
        });
        if index == 0 {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
        }
        meta.insert("labels".into(), labels);
        meta.insert("annotations".into(), json!({"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}));
        meta.insert(
            "managedFields".into(),
            json!([
                managed(
                    "kubelet",
                    "v1",
                    &created,
                    json!({"f:metadata": {"f:annotations": {}, "f:labels": {}}}),
                    None
                ),
                managed(
                    "kubelet",
                    "v1",
                    &created,
                    json!({"f:status": {"f:conditions": {}, "f:nodeInfo": {}}}),
                    Some("status")
                ),
            ]),
        );
        let ip = format!("172.18.{}.{}", index / 250, 2 + index % 250);
        let value = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": meta,
            "spec": {
                "podCIDR": format!("10.244.{index}.0/24"),
                "podCIDRs": [format!("10.244.{index}.0/24")],
                "providerID": format!("kind://docker/kube-sim/{name}"),
            },
            "status": {
                "capacity": {"cpu": "8", "ephemeral-storage": "102625208Ki", "memory": "32863636Ki", "pods": "110"},
                "allocatable": {"cpu": "8", "ephemeral-storage": "102625208Ki", "memory": "32863636Ki", "pods": "110"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": created, "lastTransitionTime": created, "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                    {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": created, "lastTransitionTime": created, "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                    {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": created, "lastTransitionTime": created, "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                    {"type": "Ready", "status": "True", "lastHeartbeatTime": created, "lastTransitionTime": created, "reason": "KubeletReady", "message": "kubelet is posting ready status"},
                ],
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": random_suffix(&mut self.rng, 32),
                    "systemUUID": new_uid(&mut self.rng),
                    "bootID": new_uid(&mut self.rng),
                    "kernelVersion": "6.12.0-1-amd64",
                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "containerRuntimeVersion": "containerd://2.1.1",
                    "kubeletVersion": "v1.36.0",
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        });
        let ids = self.ids;
        self.emit(&ids.nodes, None, &name, rv, &value);
    }

    fn kubernetes_service(&mut self) {
        let (rv, created, uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &uid, Some("default"), "kubernetes");
        meta.insert(
            "labels".into(),
            json!({"component": "apiserver", "provider": "kubernetes"}),
        );
        let value = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "clusterIP": "10.96.0.1",
                "clusterIPs": ["10.96.0.1"],
                "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                "sessionAffinity": "None",
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        });
        let ids = self.ids;
        self.emit(&ids.services, Some("default"), "kubernetes", rv, &value);
    }

    fn crd(&mut self, mut crd: Value) {
        let (rv, created, uid) = self.allocate();
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let status = crate::crds::established_status(&crd, &created);
        if let Some(meta) = crate::meta::metadata_mut(&mut crd) {
            meta.extend(Self::metadata(rv, &created, &uid, None, &name));
            meta.insert("generation".into(), json!(1));
        }
        crd["status"] = status;
        let ids = self.ids;
        self.emit(&ids.crds, None, &name, rv, &crd);
    }

    /// A fixture namespace and everything in it.
    fn fixture_namespace(&mut self, index: usize) {
        let namespace = namespace_name(index);
        self.namespace(&namespace);
        let per_ns = self.spec.deployments_per_namespace;
        for d in 0..per_ns {
            let global = index * per_ns + d;
            self.application(&namespace, global);
        }
        for c in 0..self.spec.configmaps_per_namespace {
            self.configmap(&namespace, index, c);
        }
        for w in 0..self.spec.widgets_in(index) {
            self.widget(&namespace, w);
        }
    }

    fn app_labels(&mut self, name: &str, base: &str) -> Map<String, Value> {
        let mut labels = Map::new();
        labels.insert("app".into(), json!(name));
        labels.insert("app.kubernetes.io/name".into(), json!(base));
        if self.rng.u8(..4) != 0 {
            labels.insert("tier".into(), json!(TIERS[self.rng.usize(..TIERS.len())]));
        }
        if self.rng.u8(..5) != 0 {
            let version = format!(
                "v{}.{}.{}",
                self.rng.u8(1..4),
                self.rng.u8(..10),
                self.rng.u8(..21)
            );
            labels.insert("version".into(), json!(version));
        }
        if self.rng.u8(..3) != 0 {
            labels.insert("env".into(), json!(ENVS[self.rng.usize(..ENVS.len())]));
        }
        labels
    }

    fn container(name: &str, image: &str, port: u64) -> Value {
        json!({
            "name": name,
            "image": image,
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            "env": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
            ],
            "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"}, "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": port, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        })
    }

    fn template(labels: &Map<String, Value>, container: &Value) -> Value {
        json!({
            "metadata": {"labels": labels},
            "spec": {
                "containers": [container],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        })
    }

    /// A deployment, its replica set, pods, service and events.
    fn application(&mut self, namespace: &str, global: usize) {
        let ids = self.ids;
        let replicas = self.spec.replicas;
        let base = APP_NAMES[global % APP_NAMES.len()];
        let name = format!("{base}-{global}");
        let labels = self.app_labels(&name, base);
        let version = labels
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("latest")
            .to_owned();
        let port = [8080u64, 8443, 9000, 3000][global % 4];
        let image = format!("registry.example.io/{namespace}/{base}:{version}");
        let container = Self::container(base, &image, port);
        let selector = json!({"matchLabels": {"app": name}});

        // Deployment.
        let (rv, created, deploy_uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &deploy_uid, Some(namespace), &name);
        meta.insert("generation".into(), json!(1));
        meta.insert("labels".into(), Value::Object(labels.clone()));
        meta.insert(
            "annotations".into(),
            json!({"deployment.kubernetes.io/revision": "1"}),
        );
        meta.insert(
            "managedFields".into(),
            json!([
                managed("kubectl-client-side-apply", "apps/v1", &created, json!({"f:metadata": {"f:labels": label_fields(&labels)}, "f:spec": {"f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {}, "f:selector": {}, "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}}, "f:template": {"f:metadata": {"f:labels": label_fields(&labels)}, "f:spec": {"f:containers": {}, "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}}}), None),
                managed("kube-controller-manager", "apps/v1", &created, json!({"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}, "f:status": {"f:availableReplicas": {}, "f:conditions": {}, "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}, "f:updatedReplicas": {}}}), Some("status")),
            ]),
        );
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": replicas,
                "selector": selector,
                "template": Self::template(&labels, &container),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": {
                "observedGeneration": 1,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "lastUpdateTime": created, "lastTransitionTime": created, "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "lastUpdateTime": created, "lastTransitionTime": created, "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{name}\" has successfully progressed.")},
                ],
            },
        });
        self.emit(&ids.deployments, Some(namespace), &name, rv, &deployment);
        let deployment_owner = Owner {
            api_version: "apps/v1",
            kind: "Deployment",
            name: name.clone(),
            uid: deploy_uid,
        };

        // Replica set.
        let hash = random_suffix(&mut self.rng, 10);
        let rs_name = format!("{name}-{hash}");
        let mut pod_labels = labels.clone();
        pod_labels.insert("pod-template-hash".into(), json!(hash));
        let (rv, created, rs_uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &rs_uid, Some(namespace), &rs_name);
        meta.insert("generation".into(), json!(1));
        meta.insert("labels".into(), Value::Object(pod_labels.clone()));
        meta.insert("annotations".into(), json!({
            "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
            "deployment.kubernetes.io/max-replicas": (replicas + replicas.div_ceil(4)).to_string(),
            "deployment.kubernetes.io/revision": "1",
        }));
        meta.insert("ownerReferences".into(), deployment_owner.reference());
        meta.insert(
            "managedFields".into(),
            json!([
                managed("kube-controller-manager", "apps/v1", &created, json!({"f:metadata": {"f:annotations": {}, "f:labels": label_fields(&pod_labels), "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{}\"}}", deployment_owner.uid): {}}}, "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {}}}), None),
                managed("kube-controller-manager", "apps/v1", &created, json!({"f:status": {"f:availableReplicas": {}, "f:fullyLabeledReplicas": {}, "f:observedGeneration": {}, "f:readyReplicas": {}, "f:replicas": {}}}), Some("status")),
            ]),
        );
        let replicaset = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": meta,
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name, "pod-template-hash": hash}},
                "template": Self::template(&pod_labels, &container),
            },
            "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1},
        });
        self.emit(&ids.replicasets, Some(namespace), &rs_name, rv, &replicaset);
        let rs_owner = Owner {
            api_version: "apps/v1",
            kind: "ReplicaSet",
            name: rs_name.clone(),
            uid: rs_uid,
        };

        // Pods.
        let template = PodTemplate::new(&rs_owner, &pod_labels, &container);
        let mut pods = Vec::with_capacity(replicas);
        for i in 0..replicas {
            let pod_index = global * replicas + i;
            let pod = self.pod(namespace, &template, pod_index);
            pods.push(pod);
        }

        // Service.
        let (rv, created, uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &uid, Some(namespace), &name);
        meta.insert("labels".into(), Value::Object(labels.clone()));
        meta.insert(
            "managedFields".into(),
            json!([managed("kubectl-client-side-apply", "v1", &created, json!({"f:metadata": {"f:labels": label_fields(&labels)}, "f:spec": {"f:internalTrafficPolicy": {}, "f:ports": {}, "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}}), None)]),
        );
        let ip = format!("10.96.{}.{}", 1 + global / 250 % 250, 2 + global % 250);
        let service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "clusterIP": ip,
                "clusterIPs": [ip],
                "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": port}],
                "selector": {"app": name},
                "sessionAffinity": "None",
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        });
        self.emit(&ids.services, Some(namespace), &name, rv, &service);

        // Events about the pods.
        for e in 0..self.spec.events_per_deployment {
            let (pod_name, pod_uid, pod_rv, node) = match pods.get(e % pods.len().max(1)) {
                Some(p) => p.clone(),
                None => (
                    format!("{rs_name}-gone"),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
            };
            self.event(namespace, base, &pod_name, &pod_uid, &pod_rv, &node, e);
        }
    }

    /// A pod; returns `(name, uid, resourceVersion, node)`. Pods are most of a cluster, so
    /// their JSON is written from the fragments of their replica set's [`PodTemplate`].
    fn pod(
        &mut self,
        namespace: &str,
        template: &PodTemplate,
        pod_index: usize,
    ) -> (String, String, String, String) {
        use std::fmt::Write as _;
        let ids = self.ids;
        let name = format!(
            "{}-{}",
            template.owner_name,
            random_suffix(&mut self.rng, 5)
        );
        let (rv, created, uid) = self.allocate();
        let node_index = pod_index % self.nodes.max(1);
        let node = format!("node-{node_index}");
        let host_ip = format!("172.18.{}.{}", node_index / 250, 2 + node_index % 250);
        let pending = self.rng.u8(..20) == 0;
        let token_volume = format!("kube-api-access-{}", random_suffix(&mut self.rng, 5));
        let started = rfc3339(self.clock.seconds(rv) + 2);
        let ready = rfc3339(self.clock.seconds(rv) + 9);
        let image_id = format!("{}@sha256:{}", template.image_repo, hex(&mut self.rng, 64));
        let restarts = if pending {
            0
        } else {
            u32::from(self.rng.u8(..8) == 0)
        };
        let container_id = if pending {
            String::new()
        } else {
            hex(&mut self.rng, 64)
        };
        let ns = js(namespace);
        let mut out = String::with_capacity(5600);
        // `write!` to a String cannot fail.
        let _ = write!(
            out,
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":{ns},"uid":"{uid}","resourceVersion":"{rv}","creationTimestamp":"{created}","generateName":"{owner}-","generation":1,"labels":{labels},"ownerReferences":{owners},"managedFields":[{{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","time":"{created}","fieldsType":"FieldsV1","fieldsV1":{kcm}}},{{"manager":"kubelet","operation":"Update","apiVersion":"v1","time":"{created}","fieldsType":"FieldsV1","fieldsV1":{{"f:status":{{"f:conditions":{{}},"f:containerStatuses":{{}},"f:hostIP":{{}},"f:hostIPs":{{}},"f:phase":{{}},"f:podIP":{{}},"f:podIPs":{{}},"f:startTime":{{}}}}}},"subresource":"status"}}]}},"#,
            owner = template.owner_name,
            labels = template.labels_json,
            owners = template.owner_json,
            kcm = template.kcm_fields_json,
        );
        let _ = write!(
            out,
            r#""spec":{{"volumes":[{{"name":"{token_volume}","projected":{{"defaultMode":420,"sources":[{{"serviceAccountToken":{{"expirationSeconds":3607,"path":"token"}}}},{{"configMap":{{"name":"kube-root-ca.crt","items":[{{"key":"ca.crt","path":"ca.crt"}}]}}}},{{"downwardAPI":{{"items":[{{"path":"namespace","fieldRef":{{"apiVersion":"v1","fieldPath":"metadata.namespace"}}}}]}}}}]}}}}],"containers":[{container},"volumeMounts":[{{"name":"{token_volume}","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}}]}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","nodeName":"{node}","securityContext":{{}},"schedulerName":"default-scheduler","tolerations":[{{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}},{{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"}},"#,
            container = template.container_open,
        );
        let condition = |out: &mut String, kind: &str, ok: bool, at: &str| {
            let status = if ok { "True" } else { "False" };
            let _ = write!(
                out,
                r#"{{"type":"{kind}","status":"{status}","lastProbeTime":null,"lastTransitionTime":"{at}"}}"#
            );
        };
        let phase = if pending { "Pending" } else { "Running" };
        let _ = write!(
            out,
            r#""status":{{"observedGeneration":1,"phase":"{phase}","conditions":["#
        );
        condition(&mut out, "PodReadyToStartContainers", !pending, &started);
        out.push(',');
        condition(&mut out, "Initialized", true, &created);
        out.push(',');
        condition(&mut out, "Ready", !pending, &ready);
        out.push(',');
        condition(&mut out, "ContainersReady", !pending, &ready);
        out.push(',');
        condition(&mut out, "PodScheduled", true, &created);
        let _ = write!(
            out,
            r#"],"hostIP":"{host_ip}","hostIPs":[{{"ip":"{host_ip}"}}],"#
        );
        if !pending {
            let ip = format!(
                "10.{}.{}.{}",
                244 + pod_index / 65_000,
                (pod_index / 250) % 256,
                2 + pod_index % 250
            );
            let _ = write!(out, r#""podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"#);
        }
        let ready_flag = !pending;
        let state = if pending {
            r#"{"waiting":{"reason":"ContainerCreating"}}"#.to_owned()
        } else {
            format!(r#"{{"running":{{"startedAt":"{started}"}}}}"#)
        };
        let container_id = if pending {
            String::new()
        } else {
            format!(r#","containerID":"containerd://{container_id}""#)
        };
        let _ = write!(
            out,
            r#""startTime":"{created}","containerStatuses":[{{"name":{cname},"image":{image},"imageID":{image_id},"ready":{ready_flag},"restartCount":{restarts},"started":{ready_flag},"lastState":{{}},"volumeMounts":[{{"name":"{token_volume}","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true,"recursiveReadOnly":"Disabled"}}],"state":{state}{container_id}}}],"qosClass":"Burstable"}}}}"#,
            cname = js(&template.container_name),
            image = js(&template.image),
            image_id = js(&image_id),
        );
        let key = crate::meta::object_key(Some(namespace), &name);
        let mut raw = out.into_bytes();
        raw.shrink_to_fit();
        self.out.push((
            ids.pods.clone(),
            Arc::from(key.as_str()),
            rv,
            Bytes::from(raw),
        ));
        (name, uid, rv.to_string(), node)
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        namespace: &str,
        container: &str,
        pod: &str,
        pod_uid: &str,
        pod_rv: &str,
        node: &str,
        index: usize,
    ) {
        let ids = self.ids;
        let (rv, created, uid) = self.allocate();
        let name = format!("{pod}.{}", hex(&mut self.rng, 16));
        let (kind, reason, message, component) = match index % 5 {
            0 => (
                "Normal",
                "Scheduled",
                format!("Successfully assigned {namespace}/{pod} to {node}"),
                "default-scheduler",
            ),
            1 => (
                "Normal",
                "Pulled",
                "Container image already present on machine".to_owned(),
                "kubelet",
            ),
            2 => (
                "Normal",
                "Created",
                format!("Created container: {container}"),
                "kubelet",
            ),
            3 => (
                "Normal",
                "Started",
                format!("Started container {container}"),
                "kubelet",
            ),
            _ => (
                "Warning",
                "BackOff",
                "Back-off restarting failed container".to_owned(),
                "kubelet",
            ),
        };
        let mut meta = Self::metadata(rv, &created, &uid, Some(namespace), &name);
        meta.insert(
            "managedFields".into(),
            json!([managed(component, "v1", &created, json!({"f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {}, "f:lastTimestamp": {}, "f:message": {}, "f:reason": {}, "f:reportingComponent": {}, "f:reportingInstance": {}, "f:source": {"f:component": {}, "f:host": {}}, "f:type": {}}), None)]),
        );
        let mut involved =
            json!({"kind": "Pod", "namespace": namespace, "name": pod, "apiVersion": "v1"});
        if !pod_uid.is_empty() {
            involved["uid"] = json!(pod_uid);
            involved["resourceVersion"] = json!(pod_rv);
        }
        if component == "kubelet" {
            involved["fieldPath"] = json!(format!("spec.containers{{{container}}}"));
        }
        let mut event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": meta,
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": created,
            "lastTimestamp": created,
            "count": 1 + (index / 5),
            "type": kind,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": if component == "kubelet" { node.to_owned() } else { String::new() },
        });
        if component == "kubelet" {
            event["source"]["host"] = json!(node);
        }
        if component == "default-scheduler" {
            event["eventTime"] =
                json!(rfc3339_micros(self.clock.seconds(rv) * 1_000_000 + 123_456));
            event["firstTimestamp"] = Value::Null;
            event["lastTimestamp"] = Value::Null;
            event["count"] = Value::Null;
            event["action"] = json!("Binding");
            event["reportingInstance"] = json!("default-scheduler-control-plane");
        }
        if let Some(map) = event.as_object_mut() {
            map.retain(|_, v| !v.is_null());
            if component != "default-scheduler" {
                map.insert("eventTime".into(), Value::Null);
            }
        }
        self.emit(&ids.events, Some(namespace), &name, rv, &event);
    }

    fn configmap(&mut self, namespace: &str, ns_index: usize, index: usize) {
        let ids = self.ids;
        let per_ns = self.spec.deployments_per_namespace;
        let name = if index < per_ns {
            let global = ns_index * per_ns + index;
            format!("{}-{global}-config", APP_NAMES[global % APP_NAMES.len()])
        } else {
            format!("extra-config-{index}")
        };
        let (rv, created, uid) = self.allocate();
        let mut meta = Self::metadata(rv, &created, &uid, Some(namespace), &name);
        meta.insert(
            "labels".into(),
            json!({"app.kubernetes.io/managed-by": "Helm"}),
        );
        meta.insert("annotations".into(), json!({"meta.helm.sh/release-name": namespace, "meta.helm.sh/release-namespace": namespace}));
        meta.insert(
            "managedFields".into(),
            json!([managed("helm", "v1", &created, json!({"f:data": {".": {}, "f:app.yaml": {}, "f:LOG_LEVEL": {}}, "f:metadata": {"f:annotations": {}, "f:labels": {}}}), None)]),
        );
        let value = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {
                "LOG_LEVEL": "info",
                "app.yaml": format!("server:\n  port: 8080\n  name: {name}\nfeatures:\n  tracing: {}\n", self.rng.bool()),
            },
        });
        self.emit(&ids.configmaps, Some(namespace), &name, rv, &value);
    }

    fn widget(&mut self, namespace: &str, index: usize) {
        let ids = self.ids;
        let name = format!("widget-{index}");
        let (rv, created, uid) = self.allocate();
        let size = ["small", "medium", "large"][self.rng.usize(..3)];
        let mut meta = Self::metadata(rv, &created, &uid, Some(namespace), &name);
        meta.insert("generation".into(), json!(1));
        meta.insert("labels".into(), json!({"example.io/size": size}));
        meta.insert("finalizers".into(), json!(["example.io/cleanup"]));
        meta.insert(
            "managedFields".into(),
            json!([managed(
                "widget-operator",
                "example.io/v1",
                &created,
                json!({"f:spec": {".": {}, "f:color": {}, "f:size": {}}}),
                None
            )]),
        );
        let value = json!({
            "apiVersion": "example.io/v1",
            "kind": "Widget",
            "metadata": meta,
            "spec": {"size": size, "color": (["red", "green", "blue"][self.rng.usize(..3)]), "replicas": self.rng.u8(1..6), "paused": false},
            "status": {"phase": "Ready", "observedGeneration": 1},
        });
        self.emit(&ids.widgets, Some(namespace), &name, rv, &value);
    }
}

/// JSON text of a string.
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The parts of a replica set's pods that are the same for all of them, as JSON text.
struct PodTemplate {
    owner_name: String,
    labels_json: String,
    owner_json: String,
    kcm_fields_json: String,
    /// The container object without its closing brace (the pod adds `volumeMounts`).
    container_open: String,
    container_name: String,
    image: String,
    image_repo: String,
}

impl PodTemplate {
    fn new(owner: &Owner, labels: &Map<String, Value>, container: &Value) -> Self {
        let container_name = container["name"].as_str().unwrap_or("app").to_owned();
        let image = container["image"].as_str().unwrap_or_default().to_owned();
        let image_repo = image.split(':').next().unwrap_or_default().to_owned();
        let kcm = json!({"f:metadata": {"f:generateName": {}, "f:labels": label_fields(labels), "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{}\"}}", owner.uid): {}}}, "f:spec": {"f:containers": {format!("k:{{\"name\":\"{container_name}\"}}"): {".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": {}, "f:name": {}, "f:ports": {}, "f:readinessProbe": {}, "f:resources": {}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}}, "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}});
        let mut container_open = container.to_string();
        container_open.pop();
        Self {
            owner_name: owner.name.clone(),
            labels_json: Value::Object(labels.clone()).to_string(),
            owner_json: owner.reference().to_string(),
            kcm_fields_json: kcm.to_string(),
            container_open,
            container_name,
            image,
            image_repo,
        }
    }
}

fn hex(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.u32(..16), 16).unwrap_or('0'))
        .collect()
}

/// Generates the objects of `spec`, with resource versions from `first_revision` on, created
/// over the 30 days before `now_seconds`, and the CRD objects `crds`.
pub(crate) fn generate(
    spec: &FixtureSpec,
    first_revision: u64,
    now_seconds: i64,
    crds: &[Value],
) -> Vec<Generated> {
    let ids = Ids::new();
    let system = 4 * 3 + 1 + spec.nodes + crds.len();
    let fixture_total: usize = (0..spec.namespaces).map(|i| spec.objects_in(i)).sum();
    let total = (system + fixture_total).max(1);
    let window_millis: i64 = 30 * 24 * 3600 * 1000;
    let clock = Clock {
        base_revision: first_revision,
        start_millis: (now_seconds - 30 * 24 * 3600) * 1000,
        millis_per_object: (window_millis / i64::try_from(total).unwrap_or(i64::MAX)).max(1),
    };
    let new_gen = |seed: u64, next: u64| Gen {
        spec,
        ids: &ids,
        rng: fastrand::Rng::with_seed(seed),
        clock,
        next,
        out: Vec::new(),
        nodes: spec.nodes,
    };

    let mut system_gen = new_gen(spec.seed, first_revision);
    for crd in crds {
        system_gen.crd(crd.clone());
    }
    for index in 0..spec.nodes {
        system_gen.node(index);
    }
    for namespace in SYSTEM_NAMESPACES {
        system_gen.namespace(namespace);
    }
    system_gen.kubernetes_service();
    let mut starts = Vec::with_capacity(spec.namespaces);
    let mut next = system_gen.next;
    for i in 0..spec.namespaces {
        starts.push(next);
        next += spec.objects_in(i) as u64;
    }
    let mut out = system_gen.out;
    out.reserve(fixture_total);

    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8)
        .min(spec.namespaces.max(1));
    let results: Vec<Vec<Generated>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let starts = &starts;
                let new_gen = &new_gen;
                scope.spawn(move || {
                    let mut produced = Vec::new();
                    for index in (worker..spec.namespaces).step_by(workers) {
                        let seed =
                            spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (index as u64 + 1);
                        let mut generator = new_gen(seed, starts[index]);
                        generator.out.reserve(spec.objects_in(index));
                        generator.fixture_namespace(index);
                        debug_assert_eq!(
                            generator.next - starts[index],
                            spec.objects_in(index) as u64
                        );
                        produced.append(&mut generator.out);
                    }
                    produced
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for mut part in results {
        out.append(&mut part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_revisions_are_exact() {
        let spec = FixtureSpec::small();
        let objects = generate(&spec, 100, 1_750_000_000, &crate::crds::defaults(true, &[]));
        let mut revisions: Vec<u64> = objects.iter().map(|o| o.2).collect();
        revisions.sort_unstable();
        revisions.dedup();
        assert_eq!(revisions.len(), objects.len());
        assert_eq!(revisions.first(), Some(&100));
        assert_eq!(revisions.last(), Some(&(100 + objects.len() as u64 - 1)));
        let count = |id: &str| objects.iter().filter(|o| &*o.0 == id).count();
        assert_eq!(count("pods"), spec.pods());
        assert_eq!(count("deployments.apps"), 12);
        assert_eq!(count("events"), 24);
        assert_eq!(count("widgets.example.io"), 4);
        assert_eq!(count("namespaces"), 7);
        for (_, _, revision, raw) in &objects {
            let value: Value = serde_json::from_slice(raw).expect("json");
            assert_eq!(value["metadata"]["resourceVersion"], revision.to_string());
            assert!(value["metadata"]["uid"].is_string());
        }
    }

    #[test]
    fn deterministic() {
        let spec = FixtureSpec::small();
        let a = generate(&spec, 1, 1_750_000_000, &crate::crds::defaults(false, &[]));
        let b = generate(&spec, 1, 1_750_000_000, &crate::crds::defaults(false, &[]));
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.3 == y.3));
    }

    #[test]
    fn objects_are_valid_for_their_kind() {
        let spec = FixtureSpec::small();
        let catalog = crate::resources::Catalog::new(&[]);
        for (id, key, _, raw) in
            generate(&spec, 1, 1_750_000_000, &crate::crds::defaults(true, &[]))
        {
            let value: Value = serde_json::from_slice(&raw).expect("json");
            let Some(def) = catalog.by_id(&id) else {
                continue;
            };
            let builtin = def.builtin.expect("built-in");
            let (_, dropped) = crate::validate::typed(builtin, value.clone())
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(dropped.is_empty(), "{key}: dropped {dropped:?}");
            let causes = crate::validate::builtin(builtin, &value, None);
            assert!(causes.is_empty(), "{key}: {causes:?}");
            let causes = crate::validate::metadata(&def, &value);
            assert!(causes.is_empty(), "{key}: {causes:?}");
        }
    }
}
