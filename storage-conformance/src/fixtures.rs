//! A deterministic generator of realistic Kubernetes objects: the data every conformance check
//! runs on, and the pods of the memory benchmarks.
//!
//! One [`FixtureSpec`] and its seed always give the same objects, byte for byte. The objects are
//! shaped like what a synchro receives from real member clusters (see
//! `reference/baseline.md`), and are chosen to trip the usual storage bugs:
//!
//! - **ownership chains**: `Widget` (a custom resource, `example.io/v1`) → `Deployment` →
//!   `ReplicaSet` → `Pod`, `StatefulSet` → `Pod`, `DaemonSet` → `Pod` and `Service` →
//!   `EndpointSlice`, each with a `controller: true` owner reference; a widget, a deployment and
//!   a service share one name, so an owner query by name must honour `ownerGR`;
//! - **same names everywhere**: every cluster has the same namespaces, node names and
//!   `kube-root-ca.crt` configmaps, and deployment names repeat across namespaces (a layer that
//!   deduplicates by name, as the original memory storage did, loses objects);
//! - **missing labels**: `tier`, `version` and `env` are absent on some objects, nodes have no
//!   `app` at all (exercises `!=`, `notin` and `!key`, which hold for a missing label); label
//!   values with dots and dashes (`v1.4.2`, `dev.canary`), an empty label value
//!   (`node-role.kubernetes.io/control-plane`), integer label values for `>`/`<`
//!   (`apps.kubernetes.io/pod-index`, `pod-template-generation`);
//! - **dotted annotation keys** (`example.io/team`), and the pruned ones
//!   (`kubectl.kubernetes.io/last-applied-configuration`, `managedFields`) on the input;
//! - **creation times** spread over distinct seconds, with ties (pods of one replica set are
//!   created two per second);
//! - **resource versions** numeric and distinct across every object and event, crossing a
//!   power of ten within each cluster (`99999998` then `100000001`: a layer sorting them as text
//!   gets the order wrong);
//! - **pending pods** without `status.podIP` (an order on that path sees missing values);
//! - **events** (`v1` `Event`, involved object a pod), some about pods that are not stored.
//!
//! Every object went through [`prepare_member_object`] (pruned, cluster annotation) and
//! [`ResourceObject::parse`], as the synchro would hand it to a layer. The order of
//! [`Fixtures::objects`] is shuffled (deterministically), so that a layer returning insertion
//! order does not pass by chance.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use storage_api::ResourceStorageConfig;
use storage_api::object::{
    Gvr, ObjectEvent, ResourceObject, format_rfc3339, prepare_member_object,
};

/// The size of the generated data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureSpec {
    /// Member clusters.
    pub clusters: usize,
    /// Namespaces per cluster (the same names in every cluster).
    pub namespaces: usize,
    /// Deployments per namespace (each with a service, an endpoint slice and a configmap).
    pub deployments: usize,
    /// Pods of each current replica set (and of each stateful set).
    pub pods_per_replicaset: usize,
    /// The seed: the same spec and seed always give the same objects.
    pub seed: u64,
}

impl Default for FixtureSpec {
    /// Small and fast: 3 clusters × 3 namespaces × 3 deployments × 3 pods: 314 objects, 175 events.
    fn default() -> Self {
        Self {
            clusters: 3,
            namespaces: 3,
            deployments: 3,
            pods_per_replicaset: 3,
            seed: 0x00c1_u64 << 40 | 0x5eed,
        }
    }
}

/// A generated data set: objects of every fixture resource and the events about some of them.
#[derive(Debug, Clone)]
pub struct Fixtures {
    /// Every object, of every resource and cluster, in a shuffled order.
    pub objects: Vec<ResourceObject>,
    /// Events whose involved object is a pod; a few are about pods that are not in `objects`.
    pub events: Vec<ObjectEvent>,
    clusters: Vec<String>,
}

/// The group/version/resource of each fixture kind, with its kind and scope.
const RESOURCES: &[(&str, &str, &str, &str, bool)] = &[
    ("apps", "v1", "deployments", "Deployment", true),
    ("apps", "v1", "replicasets", "ReplicaSet", true),
    ("apps", "v1", "statefulsets", "StatefulSet", true),
    ("apps", "v1", "daemonsets", "DaemonSet", true),
    ("", "v1", "pods", "Pod", true),
    ("", "v1", "services", "Service", true),
    ("", "v1", "configmaps", "ConfigMap", true),
    ("", "v1", "nodes", "Node", false),
    (
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
    ),
    ("example.io", "v1", "widgets", "Widget", true),
];

const CLUSTER_NAMES: &[&str] = &[
    "prod-eu-1",
    "prod-us-1",
    "staging",
    "edge-10",
    "edge-2",
    "edge-1",
];
const NAMESPACE_NAMES: &[&str] = &[
    "payments",
    "default",
    "web-frontend",
    "ml-pipeline",
    "observability",
    "search",
];
/// Application names; `web` and `webapp` sort differently bytewise (`web-…` first) than in
/// locale collations that ignore punctuation (`webapp-…` first): orders compare bytes.
const APP_NAMES: &[&str] = &[
    "api",
    "web",
    "worker",
    "webapp",
    "auth-proxy",
    "checkout",
    "billing-v2",
    "search-indexer",
    "gateway",
    "scheduler",
];
const NODE_NAMES: &[&str] = &["control-plane", "worker-1", "worker-2"];
const TIERS: &[&str] = &["frontend", "backend", "cache"];
const ENVS: &[&str] = &["prod", "staging", "dev.canary"];
const TEAMS: &[&str] = &["payments.core", "platform", "web-ux"];
const ZONES: &[&str] = &["eu-west-1a", "eu-west-1b", "us-east-1a"];
/// The alphabet Kubernetes uses for generated name suffixes and hashes.
const HASH_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// The number of decimal digits the resource versions of the n-th cluster cross into.
const RV_DIGITS: &[u32] = &[9, 10, 5, 6, 7, 8];
/// 2024-03-01T08:00:00Z, in milliseconds.
const EPOCH_MILLIS: i64 = 1_709_280_000_000;

impl Fixtures {
    /// Generates the data set of `spec` (deterministic per spec and seed).
    pub fn generate(spec: &FixtureSpec) -> Self {
        let mut generator = Generator::new(spec.seed, spec.clusters);
        for cluster in 0..spec.clusters {
            generator.cluster(spec, cluster);
        }
        let Generator {
            mut rng,
            objects,
            events,
            clusters,
            ..
        } = generator;
        let mut objects: Vec<ResourceObject> = objects;
        rng.shuffle(&mut objects);
        Self {
            objects,
            events,
            clusters: clusters.into_iter().map(|c| c.name).collect(),
        }
    }

    /// The storage configurations of the fixture resources, in a fixed order.
    pub fn gvrs(&self) -> Vec<ResourceStorageConfig> {
        RESOURCES
            .iter()
            .map(
                |&(group, version, resource, kind, namespaced)| ResourceStorageConfig {
                    gvr: Gvr::new(group, version, resource),
                    kind: kind.into(),
                    namespaced,
                },
            )
            .collect()
    }

    /// The objects of one resource, in the order of [`Fixtures::objects`].
    pub fn of(&self, gvr: &Gvr) -> Vec<&ResourceObject> {
        self.objects
            .iter()
            .filter(|o| *o.fields.gvr == *gvr)
            .collect()
    }

    /// The member cluster names, in generation order.
    pub fn clusters(&self) -> Vec<String> {
        self.clusters.clone()
    }
}

/// `count` realistic pods (about 3.5 KB of JSON each, like those of `reference/baseline.md`)
/// spread over `clusters` clusters and namespaces of 100 pods, for memory benchmarks. Their owner
/// references point at replica sets that are not generated.
pub fn generate_pods(count: usize, clusters: usize, seed: u64) -> Vec<ResourceObject> {
    let clusters = clusters.max(1);
    let mut generator = Generator::new(seed, clusters);
    let per_cluster = count.div_ceil(clusters);
    let mut pods = Vec::with_capacity(count);
    'outer: for cluster in 0..clusters {
        let nodes: Vec<NodeInfo> = (0..8)
            .map(|i| NodeInfo {
                name: format!("worker-{}", i + 1),
                ip: format!("10.{}.0.{}", 10 + cluster, 10 + i),
            })
            .collect();
        let mut made = 0;
        let mut app_index = 0;
        while made < per_cluster {
            if pods.len() == count {
                break 'outer;
            }
            let namespace = format!("team-{}", made / 100);
            let app = generator.app(
                &namespace,
                app_index,
                APP_NAMES[app_index % APP_NAMES.len()].to_owned(),
            );
            app_index += 1;
            let hash = generator.hash(10);
            let owner = Owner {
                kind: "ReplicaSet",
                api_version: "apps/v1",
                name: format!("{}-{hash}", app.name),
                uid: generator.uid(),
            };
            let mut labels = app.labels.clone();
            labels.insert("pod-template-hash".into(), hash);
            for _ in 0..10 {
                if made == per_cluster || pods.len() == count {
                    break;
                }
                let name = format!("{}-{}", owner.name, generator.hash(5));
                let node = &nodes[generator.rng.usize(..nodes.len())];
                let value = generator.pod(cluster, &app, &labels, &owner, &name, node);
                pods.push(generator.finish(cluster, POD, value));
                made += 1;
            }
        }
    }
    pods
}

/// Indexes of [`RESOURCES`].
const DEPLOYMENT: usize = 0;
const REPLICASET: usize = 1;
const STATEFULSET: usize = 2;
const DAEMONSET: usize = 3;
const POD: usize = 4;
const SERVICE: usize = 5;
const CONFIGMAP: usize = 6;
const NODE: usize = 7;
const ENDPOINTSLICE: usize = 8;
const WIDGET: usize = 9;

struct ClusterState {
    name: String,
    cluster: Arc<str>,
    /// The next resource version (before the stride is applied).
    rv: u64,
    /// The creation clock, in milliseconds.
    clock: i64,
}

struct NodeInfo {
    name: String,
    ip: String,
}

/// A controller owner reference to write into a child.
struct Owner {
    kind: &'static str,
    api_version: &'static str,
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

/// What a deployment (or stateful set) stamps on its pods.
struct App {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    image: String,
    port: u64,
    sidecar: bool,
    cpu_request: &'static str,
    memory_limit: &'static str,
}

struct Generator {
    rng: fastrand::Rng,
    gvrs: Vec<Arc<Gvr>>,
    clusters: Vec<ClusterState>,
    cluster_count: u64,
    uids: HashSet<String>,
    objects: Vec<ResourceObject>,
    events: Vec<ObjectEvent>,
}

impl Generator {
    fn new(seed: u64, clusters: usize) -> Self {
        let cluster_count = clusters.max(1) as u64;
        let clusters = (0..clusters)
            .map(|i| {
                let name = CLUSTER_NAMES
                    .get(i)
                    .map_or_else(|| format!("cluster-{i}"), |n| (*n).to_owned());
                // Start 150 steps below a power of ten, so that the resource versions of
                // each cluster gain a digit part-way (string order != numeric order).
                let digits = RV_DIGITS[i % RV_DIGITS.len()] + (i / RV_DIGITS.len()) as u32 * 3;
                let target = 10u64.pow(digits - 1);
                ClusterState {
                    cluster: Arc::from(name.as_str()),
                    name,
                    rv: target / cluster_count - 150,
                    clock: EPOCH_MILLIS + i as i64 * 37_000,
                }
            })
            .collect();
        Self {
            rng: fastrand::Rng::with_seed(seed),
            gvrs: RESOURCES
                .iter()
                .map(|&(g, v, r, _, _)| Arc::new(Gvr::new(g, v, r)))
                .collect(),
            clusters,
            cluster_count,
            uids: HashSet::new(),
            objects: Vec::new(),
            events: Vec::new(),
        }
    }

    /// A fresh, unique uid shaped like a Kubernetes one.
    fn uid(&mut self) -> String {
        loop {
            let a = self.rng.u64(..);
            let b = self.rng.u64(..);
            let uid = format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                0x8000 | (b >> 48) & 0x3fff,
                b & 0xffff_ffff_ffff
            );
            if self.uids.insert(uid.clone()) {
                return uid;
            }
        }
    }

    fn hash(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| HASH_ALPHABET[self.rng.usize(..HASH_ALPHABET.len())] as char)
            .collect()
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.rng.u32(..16), 16).unwrap_or('0'))
            .collect()
    }

    /// The next resource version of a cluster: distinct across clusters (the cluster index is
    /// the remainder modulo the number of clusters) and increasing within one.
    fn next_rv(&mut self, cluster: usize) -> String {
        let step = self.rng.u64(1..4);
        let state = &mut self.clusters[cluster];
        state.rv += step;
        (state.rv * self.cluster_count + cluster as u64).to_string()
    }

    /// The next creation time of a cluster: usually some seconds later, sometimes the same
    /// second (a tie).
    fn tick(&mut self, cluster: usize) -> i64 {
        let advance = if self.rng.u8(..8) == 0 {
            0
        } else {
            self.rng.i64(1..90) * 1000
        };
        let state = &mut self.clusters[cluster];
        state.clock += advance;
        state.clock
    }

    fn time(&self, cluster: usize) -> i64 {
        self.clusters[cluster].clock
    }

    /// Common metadata; `extra` members are merged in.
    fn metadata(
        &mut self,
        cluster: usize,
        namespace: Option<&str>,
        name: &str,
        created: i64,
        extra: Value,
    ) -> Value {
        let mut meta = json!({
            "name": name,
            "uid": self.uid(),
            "resourceVersion": self.next_rv(cluster),
            "creationTimestamp": format_rfc3339(created),
        });
        if let Some(ns) = namespace {
            meta["namespace"] = json!(ns);
        }
        if let (Some(meta), Value::Object(extra)) = (meta.as_object_mut(), extra) {
            meta.extend(extra);
        }
        meta
    }

    /// Stamps the cluster annotation, parses and keeps the object; returns a copy.
    fn push(&mut self, cluster: usize, resource: usize, value: Value) -> ResourceObject {
        let object = self.finish(cluster, resource, value);
        self.objects.push(object.clone());
        object
    }

    fn finish(&self, cluster: usize, resource: usize, mut value: Value) -> ResourceObject {
        let state = &self.clusters[cluster];
        prepare_member_object(&mut value, &state.name);
        let raw = Bytes::from(serde_json::to_vec(&value).expect("fixture objects serialize"));
        ResourceObject::parse(state.cluster.clone(), self.gvrs[resource].clone(), raw)
            .expect("fixture objects parse")
    }

    fn cluster(&mut self, spec: &FixtureSpec, cluster: usize) {
        let nodes = self.nodes(cluster);
        for ns_index in 0..spec.namespaces {
            let namespace = NAMESPACE_NAMES
                .get(ns_index)
                .map_or_else(|| format!("team-{ns_index}"), |n| (*n).to_owned());
            self.namespace(spec, cluster, ns_index, &namespace, &nodes);
        }
        if spec.namespaces > 0 {
            let namespace = NAMESPACE_NAMES[0];
            self.daemonset(cluster, namespace, &nodes);
        }
    }

    fn nodes(&mut self, cluster: usize) -> Vec<NodeInfo> {
        let mut nodes = Vec::new();
        for (i, name) in NODE_NAMES.iter().enumerate() {
            let created = self.tick(cluster);
            let ip = format!("10.{}.0.{}", 10 + cluster, 10 + i);
            let zone = ZONES[(cluster + i) % ZONES.len()];
            let mut labels = json!({
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": if i == 2 { "arm64" } else { "amd64" },
                "topology.kubernetes.io/zone": zone,
            });
            if i == 0 {
                labels["node-role.kubernetes.io/control-plane"] = json!("");
            }
            let metadata = self.metadata(
                cluster,
                None,
                name,
                created,
                json!({
                    "labels": labels,
                    "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                }),
            );
            let ready_since = format_rfc3339(created + 40_000);
            let value = json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": metadata,
                "spec": {
                    "podCIDR": format!("10.{}.{i}.0/24", 100 + cluster),
                    "providerID": format!("kind://docker/{}/{name}", self.clusters[cluster].name),
                    "taints": if i == 0 { json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]) } else { json!([]) },
                },
                "status": {
                    "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                    "allocatable": {"cpu": "7800m", "memory": "31Gi", "pods": "110", "ephemeral-storage": "95Gi"},
                    "conditions": [
                        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastTransitionTime": ready_since},
                        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastTransitionTime": ready_since},
                        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastTransitionTime": ready_since},
                    ],
                    "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                    "nodeInfo": {
                        "kubeletVersion": "v1.31.2",
                        "containerRuntimeVersion": "containerd://1.7.18",
                        "osImage": "Debian GNU/Linux 12 (bookworm)",
                        "architecture": if i == 2 { "arm64" } else { "amd64" },
                    },
                },
            });
            self.push(cluster, NODE, value);
            nodes.push(NodeInfo {
                name: (*name).to_owned(),
                ip,
            });
        }
        nodes
    }

    /// The labels and pod template of an application (a deployment or stateful set).
    fn app(&mut self, namespace: &str, index: usize, name: String) -> App {
        let mut labels = BTreeMap::from([("app".to_owned(), name.clone())]);
        if self.rng.u8(..4) != 0 {
            labels.insert("tier".into(), TIERS[self.rng.usize(..TIERS.len())].into());
        }
        if self.rng.u8(..5) != 0 {
            let version = format!(
                "v{}.{}.{}",
                self.rng.u8(1..4),
                self.rng.u8(..10),
                self.rng.u8(..21)
            );
            labels.insert("version".into(), version);
        }
        if self.rng.u8(..6) != 0 {
            labels.insert("env".into(), ENVS[self.rng.usize(..ENVS.len())].into());
        }
        let mut annotations = BTreeMap::new();
        if self.rng.u8(..3) != 0 {
            annotations.insert(
                "example.io/team".to_owned(),
                TEAMS[(index + self.rng.usize(..2)) % TEAMS.len()].to_owned(),
            );
        }
        if self.rng.bool() {
            annotations.insert("prometheus.io/scrape".into(), "true".into());
            annotations.insert("prometheus.io/port".into(), "9090".into());
        }
        let version = labels
            .get("version")
            .cloned()
            .unwrap_or_else(|| "latest".into());
        App {
            image: format!("registry.example.io/{namespace}/{name}:{version}"),
            namespace: namespace.to_owned(),
            port: [8080, 8443, 9000, 3000][index % 4],
            sidecar: self.rng.u8(..3) == 0,
            cpu_request: ["50m", "100m", "250m", "500m"][self.rng.usize(..4)],
            memory_limit: ["256Mi", "512Mi", "1Gi"][self.rng.usize(..3)],
            name,
            labels,
            annotations,
        }
    }

    fn namespace(
        &mut self,
        spec: &FixtureSpec,
        cluster: usize,
        ns_index: usize,
        namespace: &str,
        nodes: &[NodeInfo],
    ) {
        let created = self.tick(cluster);
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            "kube-root-ca.crt",
            created,
            json!({"annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}}),
        );
        let certificate = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            self.hex(96)
        );
        self.push(
            cluster,
            CONFIGMAP,
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata,
                "data": {"ca.crt": certificate},
            }),
        );

        let mut widget_owner = None;
        for index in 0..spec.deployments {
            let base = APP_NAMES[(index + ns_index) % APP_NAMES.len()];
            let name = if index >= APP_NAMES.len() {
                format!("{base}-{}", index / APP_NAMES.len())
            } else {
                base.to_owned()
            };
            let app = self.app(namespace, index + ns_index, name);
            // The first application of a namespace is run by an operator: a Widget of the
            // same name owns its deployment.
            if index == 0 {
                widget_owner = Some(self.widget(cluster, namespace, &app.name, true));
            }
            self.deployment(spec, cluster, namespace, &app, widget_owner.take(), nodes);
        }
        self.widget(cluster, namespace, "standalone", false);

        let app = self.app(namespace, ns_index, "redis".into());
        self.statefulset(spec, cluster, namespace, &app, nodes);
    }

    /// A Widget; when `owns` it will own the deployment of the same name (returned).
    fn widget(&mut self, cluster: usize, namespace: &str, name: &str, owns: bool) -> Owner {
        let created = self.tick(cluster);
        let size = if self.rng.bool() { "large" } else { "small" };
        let mut labels = json!({"example.io/size": size});
        if owns {
            labels["app"] = json!(name);
        }
        let generation = self.rng.u8(1..5);
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            name,
            created,
            json!({"labels": labels, "generation": generation, "finalizers": ["example.io/cleanup"]}),
        );
        let uid = metadata["uid"].as_str().unwrap_or_default().to_owned();
        let value = json!({
            "apiVersion": "example.io/v1",
            "kind": "Widget",
            "metadata": metadata,
            "spec": {"size": size, "color": (["red", "green", "blue"][self.rng.usize(..3)]), "replicas": self.rng.u8(1..6), "paused": self.rng.u8(..4) == 0},
            "status": {"phase": if self.rng.u8(..5) == 0 { "Reconciling" } else { "Ready" }, "observedGeneration": 1},
        });
        self.push(cluster, WIDGET, value);
        Owner {
            kind: "Widget",
            api_version: "example.io/v1",
            name: name.to_owned(),
            uid,
        }
    }

    fn pod_template(app: &App, labels: &BTreeMap<String, String>) -> Value {
        let mut containers = vec![json!({
            "name": app.name,
            "image": app.image,
            "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": app.cpu_request, "memory": "128Mi"}, "limits": {"memory": app.memory_limit}},
        })];
        if app.sidecar {
            containers.push(json!({"name": "envoy", "image": "envoyproxy/envoy:v1.31.0", "ports": [{"name": "admin", "containerPort": 9901, "protocol": "TCP"}]}));
        }
        json!({
            "metadata": {"labels": labels, "annotations": app.annotations},
            "spec": {"containers": containers, "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"},
        })
    }

    fn deployment(
        &mut self,
        spec: &FixtureSpec,
        cluster: usize,
        namespace: &str,
        app: &App,
        owner: Option<Owner>,
        nodes: &[NodeInfo],
    ) {
        let created = self.tick(cluster);
        let replicas = spec.pods_per_replicaset;
        let revision = if self.rng.bool() { 2 } else { 1 };
        let mut annotations = app.annotations.clone();
        annotations.insert(
            "deployment.kubernetes.io/revision".into(),
            revision.to_string(),
        );
        annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            format!("{{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{{\"name\":\"{}\"}}}}", app.name),
        );
        let mut extra = json!({
            "labels": app.labels,
            "annotations": annotations,
            "generation": revision,
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
        });
        if let Some(owner) = &owner {
            extra["ownerReferences"] = owner.reference();
        }
        let metadata = self.metadata(cluster, Some(namespace), &app.name, created, extra);
        let uid = metadata["uid"].as_str().unwrap_or_default().to_owned();
        let template = Self::pod_template(app, &app.labels);
        let available = format_rfc3339(created + 20_000);
        self.push(
            cluster,
            DEPLOYMENT,
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": app.name}},
                    "template": template,
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                },
                "status": {
                    "observedGeneration": revision,
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": replicas,
                    "availableReplicas": replicas,
                    "conditions": [
                        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": available, "lastTransitionTime": available},
                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "lastUpdateTime": available, "lastTransitionTime": available},
                    ],
                },
            }),
        );
        let deployment = Owner {
            kind: "Deployment",
            api_version: "apps/v1",
            name: app.name.clone(),
            uid,
        };
        // An old, scaled-down replica set for deployments at revision 2.
        if revision == 2 {
            self.replicaset(cluster, namespace, app, &deployment, 0, 1, nodes);
        }
        self.replicaset(
            cluster,
            namespace,
            app,
            &deployment,
            replicas,
            revision,
            nodes,
        );
        self.service(cluster, namespace, app);
        self.configmap(cluster, namespace, app);
    }

    #[allow(clippy::too_many_arguments)]
    fn replicaset(
        &mut self,
        cluster: usize,
        namespace: &str,
        app: &App,
        deployment: &Owner,
        replicas: usize,
        revision: u32,
        nodes: &[NodeInfo],
    ) {
        let created = self.tick(cluster);
        let hash = self.hash(10);
        let name = format!("{}-{hash}", app.name);
        let mut labels = app.labels.clone();
        labels.insert("pod-template-hash".into(), hash.clone());
        let mut annotations = app.annotations.clone();
        annotations.insert(
            "deployment.kubernetes.io/revision".into(),
            revision.to_string(),
        );
        annotations.insert(
            "deployment.kubernetes.io/desired-replicas".into(),
            replicas.to_string(),
        );
        annotations.insert(
            "deployment.kubernetes.io/max-replicas".into(),
            (replicas + 1).to_string(),
        );
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            &name,
            created,
            json!({"labels": labels, "annotations": annotations, "ownerReferences": deployment.reference(), "generation": 1}),
        );
        let uid = metadata["uid"].as_str().unwrap_or_default().to_owned();
        self.push(
            cluster,
            REPLICASET,
            json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": metadata,
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": app.name, "pod-template-hash": hash}},
                    "template": Self::pod_template(app, &labels),
                },
                "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1},
            }),
        );
        let owner = Owner {
            kind: "ReplicaSet",
            api_version: "apps/v1",
            name: name.clone(),
            uid,
        };
        let start = self.time(cluster);
        for i in 0..replicas {
            // Two pods per second: creation-time ties.
            self.clusters[cluster].clock = start + 1000 * (1 + i as i64 / 2);
            let pod_name = format!("{name}-{}", self.hash(5));
            let node = &nodes[1 + (i + cluster) % (nodes.len() - 1)];
            let value = self.pod(cluster, app, &labels, &owner, &pod_name, node);
            let pending = value["status"]["phase"] == "Pending";
            let pod = self.push(cluster, POD, value);
            self.pod_events(cluster, &pod, pending);
        }
    }

    fn statefulset(
        &mut self,
        spec: &FixtureSpec,
        cluster: usize,
        namespace: &str,
        app: &App,
        nodes: &[NodeInfo],
    ) {
        let created = self.tick(cluster);
        let replicas = spec.pods_per_replicaset;
        let revision = format!("{}-{}", app.name, self.hash(10));
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            &app.name,
            created,
            json!({"labels": app.labels, "annotations": app.annotations, "generation": 1}),
        );
        let uid = metadata["uid"].as_str().unwrap_or_default().to_owned();
        self.push(
            cluster,
            STATEFULSET,
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": metadata,
                "spec": {
                    "replicas": replicas,
                    "serviceName": format!("{}-headless", app.name),
                    "selector": {"matchLabels": {"app": app.name}},
                    "template": Self::pod_template(app, &app.labels),
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}],
                    "podManagementPolicy": "OrderedReady",
                },
                "status": {"replicas": replicas, "readyReplicas": replicas, "currentRevision": revision, "updateRevision": revision, "observedGeneration": 1},
            }),
        );
        let owner = Owner {
            kind: "StatefulSet",
            api_version: "apps/v1",
            name: app.name.clone(),
            uid,
        };
        for i in 0..replicas {
            self.tick(cluster);
            let pod_name = format!("{}-{i}", app.name);
            let mut labels = app.labels.clone();
            labels.insert("apps.kubernetes.io/pod-index".into(), i.to_string());
            labels.insert(
                "statefulset.kubernetes.io/pod-name".into(),
                pod_name.clone(),
            );
            labels.insert("controller-revision-hash".into(), revision.clone());
            let node = &nodes[1 + (i + cluster) % (nodes.len() - 1)];
            let value = self.pod(cluster, app, &labels, &owner, &pod_name, node);
            let pending = value["status"]["phase"] == "Pending";
            let pod = self.push(cluster, POD, value);
            self.pod_events(cluster, &pod, pending);
        }
    }

    fn daemonset(&mut self, cluster: usize, namespace: &str, nodes: &[NodeInfo]) {
        let created = self.tick(cluster);
        let mut app = self.app(namespace, cluster, "node-exporter".into());
        app.port = 9100;
        let generation = 1 + self.rng.u8(..3);
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            &app.name,
            created,
            json!({"labels": app.labels, "annotations": app.annotations, "generation": generation}),
        );
        let uid = metadata["uid"].as_str().unwrap_or_default().to_owned();
        let count = nodes.len();
        self.push(
            cluster,
            DAEMONSET,
            json!({
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": metadata,
                "spec": {
                    "selector": {"matchLabels": {"app": app.name}},
                    "template": Self::pod_template(&app, &app.labels),
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                },
                "status": {"currentNumberScheduled": count, "desiredNumberScheduled": count, "numberReady": count, "numberAvailable": count, "observedGeneration": generation},
            }),
        );
        let owner = Owner {
            kind: "DaemonSet",
            api_version: "apps/v1",
            name: app.name.clone(),
            uid,
        };
        let revision = self.hash(10);
        for (i, node) in nodes.iter().enumerate() {
            self.tick(cluster);
            let mut labels = app.labels.clone();
            // Pods of older generations are still around on some nodes.
            let pod_generation = if i == 0 {
                generation.max(2) - 1
            } else {
                generation
            };
            labels.insert("pod-template-generation".into(), pod_generation.to_string());
            labels.insert("controller-revision-hash".into(), revision.clone());
            let name = format!("{}-{}", app.name, self.hash(5));
            let value = self.pod(cluster, &app, &labels, &owner, &name, node);
            self.push(cluster, POD, value);
        }
    }

    /// A pod as the kubelet reports it: running (most) or pending.
    fn pod(
        &mut self,
        cluster: usize,
        app: &App,
        labels: &BTreeMap<String, String>,
        owner: &Owner,
        name: &str,
        node: &NodeInfo,
    ) -> Value {
        let created = self.time(cluster);
        let pending = self.rng.u8(..6) == 0;
        let started = format_rfc3339(created + 2_000);
        let ready = format_rfc3339(created + 9_000);
        let token_volume = format!("kube-api-access-{}", self.hash(5));
        let mut env = vec![
            json!({"name": "LOG_LEVEL", "value": (["info", "debug", "warn"][self.rng.usize(..3)])}),
            json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
            json!({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}}),
        ];
        if self.rng.bool() {
            env.push(json!({"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": format!("{}-db", app.name), "key": "url"}}}));
        }
        let probe = json!({"httpGet": {"path": "/healthz", "port": app.port, "scheme": "HTTP"}, "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3});
        let mounts = json!([
            {"name": "config", "mountPath": "/etc/app", "readOnly": true},
            {"name": token_volume, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true},
        ]);
        let mut containers = vec![json!({
            "name": app.name,
            "image": app.image,
            "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
            "env": env,
            "resources": {"requests": {"cpu": app.cpu_request, "memory": "128Mi"}, "limits": {"memory": app.memory_limit}},
            "volumeMounts": mounts,
            "livenessProbe": probe,
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        })];
        if app.sidecar {
            containers.push(json!({
                "name": "envoy",
                "image": "envoyproxy/envoy:v1.31.0",
                "ports": [{"name": "admin", "containerPort": 9901, "protocol": "TCP"}],
                "imagePullPolicy": "IfNotPresent",
            }));
        }
        let mut statuses = Vec::new();
        for container in &containers {
            let image = container["image"].as_str().unwrap_or_default().to_owned();
            let image_repo = image.split(':').next().unwrap_or_default().to_owned();
            let mut status = json!({
                "name": container["name"],
                "image": image,
                "imageID": format!("{image_repo}@sha256:{}", self.hex(64)),
                "ready": !pending,
                "restartCount": if pending { 0 } else { self.rng.u32(..3) },
                "started": !pending,
                "lastState": {},
            });
            if pending {
                status["state"] = json!({"waiting": {"reason": "ContainerCreating"}});
            } else {
                status["state"] = json!({"running": {"startedAt": started}});
                status["containerID"] = json!(format!("containerd://{}", self.hex(64)));
            }
            statuses.push(status);
        }
        let condition = |kind: &str, ok: bool, at: &str| json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": at});
        let mut status = json!({
            "phase": if pending { "Pending" } else { "Running" },
            "conditions": [
                condition("Initialized", true, &started),
                condition("Ready", !pending, &ready),
                condition("ContainersReady", !pending, &ready),
                condition("PodScheduled", true, &format_rfc3339(created)),
            ],
            "hostIP": node.ip,
            "hostIPs": [{"ip": node.ip}],
            "startTime": format_rfc3339(created + 1_000),
            "containerStatuses": statuses,
            "qosClass": "Burstable",
        });
        if !pending {
            let ip = format!(
                "10.{}.{}.{}",
                100 + cluster,
                self.rng.u8(..4),
                self.rng.u8(2..250)
            );
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        let metadata = self.metadata(
            cluster,
            Some(&app.namespace),
            name,
            created,
            json!({
                "generateName": format!("{}-", owner.name),
                "labels": labels,
                "annotations": app.annotations,
                "ownerReferences": owner.reference(),
            }),
        );
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                "volumes": [
                    {"name": "config", "configMap": {"name": format!("{}-config", app.name), "defaultMode": 420}},
                    {"name": token_volume, "projected": {"defaultMode": 420, "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    ]}},
                ],
                "containers": containers,
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default",
                "serviceAccount": "default",
                "nodeName": node.name,
                "securityContext": {},
                "schedulerName": "default-scheduler",
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                ],
                "priority": 0,
                "preemptionPolicy": "PreemptLowerPriority",
            },
            "status": status,
        })
    }

    /// 0 to 3 events about a pod; now and then one about a pod that is gone.
    fn pod_events(&mut self, cluster: usize, pod: &ResourceObject, pending: bool) {
        let reasons: &[(&str, &str, &str)] = if pending {
            &[(
                "Warning",
                "FailedScheduling",
                "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
            )]
        } else {
            &[
                (
                    "Normal",
                    "Scheduled",
                    "Successfully assigned the pod to a node",
                ),
                (
                    "Normal",
                    "Pulled",
                    "Container image already present on machine",
                ),
                ("Normal", "Started", "Started container"),
            ]
        };
        let count = self.rng.usize(..=reasons.len());
        for &(kind, reason, message) in &reasons[..count] {
            let involved = (
                pod.fields.uid.clone(),
                pod.fields.name.clone(),
                pod.fields.namespace.clone(),
            );
            self.event(cluster, involved, kind, reason, message);
        }
        if self.rng.u8(..12) == 0 {
            // An event about a pod that was deleted before it was synced: dropped by layers.
            let gone = (
                self.uid(),
                format!("{}-gone", pod.fields.name),
                pod.fields.namespace.clone(),
            );
            self.event(cluster, gone, "Normal", "Killing", "Stopping container");
        }
    }

    fn event(
        &mut self,
        cluster: usize,
        involved: (String, String, String),
        kind: &str,
        reason: &str,
        message: &str,
    ) {
        let (uid, name, namespace) = involved;
        let at = format_rfc3339(self.time(cluster) + 3_000);
        let event_name = format!("{name}.{}", self.hex(16));
        let value = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": event_name,
                "namespace": namespace,
                "uid": self.uid(),
                "resourceVersion": self.next_rv(cluster),
                "creationTimestamp": at,
            },
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": namespace, "uid": uid, "fieldPath": "spec.containers{main}"},
            "reason": reason,
            "message": message,
            "source": {"component": if reason == "FailedScheduling" || reason == "Scheduled" { "default-scheduler" } else { "kubelet" }},
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
            "type": kind,
            "eventTime": null,
            "reportingComponent": "kubelet",
            "reportingInstance": "",
        });
        let raw = Bytes::from(serde_json::to_vec(&value).expect("events serialize"));
        let event = ObjectEvent::parse(self.clusters[cluster].cluster.clone(), raw)
            .expect("fixture events parse");
        self.events.push(event);
    }

    fn service(&mut self, cluster: usize, namespace: &str, app: &App) {
        let created = self.tick(cluster);
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            &app.name,
            created,
            json!({
                "labels": {"app": app.name},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Service\"}"},
            }),
        );
        let uid = metadata["uid"].as_str().unwrap_or_default().to_owned();
        let cluster_ip = format!("10.96.{}.{}", self.rng.u8(..255), self.rng.u8(1..255));
        self.push(
            cluster,
            SERVICE,
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata,
                "spec": {
                    "type": "ClusterIP",
                    "selector": {"app": app.name},
                    "ports": [{"name": "http", "port": 80, "targetPort": app.port, "protocol": "TCP"}],
                    "clusterIP": cluster_ip,
                    "clusterIPs": [cluster_ip],
                    "sessionAffinity": "None",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "internalTrafficPolicy": "Cluster",
                },
                "status": {"loadBalancer": {}},
            }),
        );
        // The endpoint slice the service controls (a child of a service named like a deployment).
        self.tick(cluster);
        let created = self.time(cluster);
        let slice_name = format!("{}-{}", app.name, self.hash(5));
        let owner = Owner {
            kind: "Service",
            api_version: "v1",
            name: app.name.clone(),
            uid,
        };
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            &slice_name,
            created,
            json!({
                "generateName": format!("{}-", app.name),
                "labels": {"kubernetes.io/service-name": app.name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                "ownerReferences": owner.reference(),
            }),
        );
        let endpoints: Vec<Value> = (0..2)
            .map(|i| json!({"addresses": [format!("10.{}.{i}.{}", 100 + cluster, self.rng.u8(2..250))], "conditions": {"ready": true}, "nodeName": NODE_NAMES[1 + i]}))
            .collect();
        self.push(
            cluster,
            ENDPOINTSLICE,
            json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": metadata,
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "http", "port": app.port, "protocol": "TCP"}],
            }),
        );
    }

    fn configmap(&mut self, cluster: usize, namespace: &str, app: &App) {
        let created = self.tick(cluster);
        let mut labels = json!({"app": app.name});
        if let Some(tier) = app.labels.get("tier") {
            labels["tier"] = json!(tier);
        }
        let metadata = self.metadata(
            cluster,
            Some(namespace),
            &format!("{}-config", app.name),
            created,
            json!({"labels": labels}),
        );
        let flags = ["new-checkout", "dark-mode,beta-search", ""][self.rng.usize(..3)];
        self.push(
            cluster,
            CONFIGMAP,
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata,
                "data": {
                    "LOG_FORMAT": "json",
                    "FEATURE_FLAGS": flags,
                    "app.yaml": format!("server:\n  port: {}\n  readTimeout: 30s\nupstream: http://{}.{namespace}.svc\n", app.port, app.name),
                },
            }),
        );
    }
}

/// The distinct `(cluster, namespace, name)` keys of `objects` of one resource, for tests.
#[cfg(test)]
fn keys(objects: &[&ResourceObject]) -> std::collections::BTreeSet<(String, String, String)> {
    objects
        .iter()
        .map(|o| {
            (
                o.fields.cluster.to_string(),
                o.fields.namespace.clone(),
                o.fields.name.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_objects() {
        let spec = FixtureSpec::default();
        let a = Fixtures::generate(&spec);
        let b = Fixtures::generate(&spec);
        assert_eq!(a.objects, b.objects);
        assert_eq!(a.events, b.events);
        let other = Fixtures::generate(&FixtureSpec { seed: 7, ..spec });
        assert_ne!(a.objects, other.objects, "another seed gives other objects");
        assert_eq!(generate_pods(50, 2, 3), generate_pods(50, 2, 3));
    }

    #[test]
    fn default_spec_is_small_and_covers_every_resource() {
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let count = fixtures.objects.len();
        assert!((250..500).contains(&count), "{count} objects");
        assert_eq!(fixtures.clusters(), ["prod-eu-1", "prod-us-1", "staging"]);
        for config in fixtures.gvrs() {
            let objects = fixtures.of(&config.gvr);
            assert!(!objects.is_empty(), "{}", config.gvr);
            for object in objects {
                assert_eq!(*object.fields.kind, config.kind);
                assert_eq!(
                    object.fields.namespace.is_empty(),
                    !config.namespaced,
                    "{}",
                    object.fields.key()
                );
            }
        }
        assert!(!fixtures.events.is_empty());
    }

    #[test]
    fn every_object_is_prepared_and_parses_back() {
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        for object in &fixtures.objects {
            let value = object.to_value().expect("json");
            let meta = &value["metadata"];
            assert_eq!(
                meta["annotations"][storage_api::object::CLUSTER_NAME_ANNOTATION],
                *object.fields.cluster
            );
            assert!(meta.get("managedFields").is_none());
            assert!(
                meta["annotations"]
                    .get(storage_api::object::LAST_APPLIED_ANNOTATION)
                    .is_none()
            );
            let again = ResourceObject::parse(
                object.fields.cluster.clone(),
                object.fields.gvr.clone(),
                object.raw.clone(),
            )
            .expect("parses");
            assert_eq!(again, *object);
            assert!(object.fields.creation_timestamp.is_some());
            assert!(object.fields.resource_version_number().is_some());
        }
    }

    #[test]
    fn uids_and_resource_versions_are_distinct_and_rvs_cross_a_power_of_ten() {
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let mut uids = HashSet::new();
        let mut rvs = HashSet::new();
        for object in &fixtures.objects {
            assert!(
                uids.insert(object.fields.uid.clone()),
                "duplicate uid {}",
                object.fields.uid
            );
            assert!(
                rvs.insert(object.fields.resource_version.clone()),
                "duplicate rv"
            );
        }
        for event in &fixtures.events {
            assert!(uids.insert(event.uid.clone()), "duplicate event uid");
            assert!(
                rvs.insert(event.resource_version.clone()),
                "duplicate event rv"
            );
        }
        for cluster in fixtures.clusters() {
            let lengths: BTreeSet<usize> = fixtures
                .objects
                .iter()
                .filter(|o| *o.fields.cluster == *cluster)
                .map(|o| o.fields.resource_version.len())
                .collect();
            assert!(lengths.len() >= 2, "{cluster}: rv lengths {lengths:?}");
        }
    }

    #[test]
    fn ownership_chains_are_consistent() {
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let by_uid: HashMap<(&str, &str), &ResourceObject> = fixtures
            .objects
            .iter()
            .map(|o| ((&*o.fields.cluster, o.fields.uid.as_str()), o))
            .collect();
        let mut widget_chains = 0;
        for object in &fixtures.objects {
            let kind = &*object.fields.kind;
            let owner = (!object.fields.owner_uid.is_empty())
                .then(|| by_uid.get(&(&*object.fields.cluster, object.fields.owner_uid.as_str())))
                .flatten();
            let expected: &[&str] = match kind {
                "Pod" => &["ReplicaSet", "StatefulSet", "DaemonSet"],
                "ReplicaSet" => &["Deployment"],
                "EndpointSlice" => &["Service"],
                "Deployment" if owner.is_some() => &["Widget"],
                _ => {
                    assert!(
                        object.fields.owner_uid.is_empty(),
                        "{kind} {} has an owner",
                        object.fields.key()
                    );
                    continue;
                }
            };
            let owner = owner
                .unwrap_or_else(|| panic!("{kind} {}: owner not generated", object.fields.key()));
            assert!(
                expected.contains(&&*owner.fields.kind),
                "{kind} owned by {}",
                owner.fields.kind
            );
            assert_eq!(
                owner.fields.namespace, object.fields.namespace,
                "same namespace"
            );
            if kind == "Deployment" {
                widget_chains += 1;
                assert_eq!(
                    owner.fields.name, object.fields.name,
                    "operator pattern: same name"
                );
            }
            if kind == "Pod" && &*owner.fields.kind == "ReplicaSet" {
                assert!(object.fields.name.starts_with(&owner.fields.name));
                let value = object.to_value().expect("json");
                assert_eq!(
                    value["metadata"]["ownerReferences"][0]["name"],
                    owner.fields.name
                );
            }
        }
        assert!(widget_chains > 0);
        // Events: most about stored pods, a few about pods that are gone.
        let pods: HashSet<(&str, &str)> = fixtures
            .of(&Gvr::new("", "v1", "pods"))
            .into_iter()
            .map(|p| (&*p.fields.cluster, p.fields.uid.as_str()))
            .collect();
        let attached = fixtures
            .events
            .iter()
            .filter(|e| pods.contains(&(&*e.cluster, e.involved_uid.as_str())))
            .count();
        assert!(attached > fixtures.events.len() / 2);
    }

    #[test]
    fn names_repeat_across_namespaces_clusters_and_kinds() {
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let deployments = fixtures.of(&Gvr::new("apps", "v1", "deployments"));
        let services = fixtures.of(&Gvr::new("", "v1", "services"));
        let by_name = |objects: &[&ResourceObject]| {
            let mut names: HashMap<String, usize> = HashMap::new();
            for o in objects {
                *names.entry(o.fields.name.clone()).or_default() += 1;
            }
            names
        };
        let names = by_name(&deployments);
        assert!(
            names.values().any(|&n| n > fixtures.clusters().len()),
            "a name in several namespaces"
        );
        assert_eq!(
            keys(&deployments).len(),
            deployments.len(),
            "keys are unique"
        );
        assert_eq!(
            by_name(&services),
            names,
            "every deployment has a service of the same name"
        );
        let configmaps = fixtures.of(&Gvr::new("", "v1", "configmaps"));
        let roots = configmaps
            .iter()
            .filter(|c| c.fields.name == "kube-root-ca.crt")
            .count();
        assert_eq!(roots, 9, "one per namespace and cluster");
    }

    #[test]
    fn labels_are_sometimes_missing_and_times_tie() {
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let pods = fixtures.of(&Gvr::new("", "v1", "pods"));
        for key in ["tier", "version", "env"] {
            let with = pods
                .iter()
                .filter(|p| p.fields.labels.get(key).is_some())
                .count();
            assert!(
                with > 0 && with < pods.len(),
                "{key}: {with} of {}",
                pods.len()
            );
        }
        let mut times = HashMap::new();
        for pod in &pods {
            *times
                .entry((pod.fields.cluster.clone(), pod.fields.creation_timestamp))
                .or_insert(0) += 1;
        }
        assert!(times.values().any(|&n| n > 1), "creation-time ties");
        assert!(times.len() > pods.len() / 3, "mostly distinct times");
        let pending = pods
            .iter()
            .filter(|p| p.to_value().expect("json")["status"].get("podIP").is_none())
            .count();
        assert!(
            pending > 0 && pending < pods.len(),
            "{pending} pods without podIP"
        );
    }

    #[test]
    fn pods_are_about_the_size_of_real_ones() {
        let pods = generate_pods(1000, 3, 42);
        assert_eq!(pods.len(), 1000);
        let clusters: BTreeSet<&str> = pods.iter().map(|p| &*p.fields.cluster).collect();
        assert_eq!(clusters.len(), 3);
        let total: usize = pods.iter().map(|p| p.raw.len()).sum();
        let average = total / pods.len();
        assert!(
            (3_300..3_900).contains(&average),
            "average pod JSON {average} bytes"
        );
        let keys: HashSet<_> = pods.iter().map(|p| p.fields.key()).collect();
        assert_eq!(keys.len(), pods.len(), "distinct keys");
        assert!(pods.iter().all(|p| !p.fields.owner_uid.is_empty()));
    }
}
