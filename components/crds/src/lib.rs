//! The clusterpedia CRD types of `cluster.clusterpedia.io/v1alpha2`:
//!
//! - [`PediaCluster`]: one member cluster to sync — how to reach it ([`ClusterSpec`]'s
//!   credentials), which resources to sync, and the progress of the sync ([`ClusterStatus`]);
//! - [`ClusterSyncResources`]: a shared list of resources that `PediaCluster`s refer to by name
//!   (`spec.syncResourcesRefName`).
//!
//! Both are cluster-scoped; `PediaCluster` has a status subresource. The field names, condition
//! types and reasons are those of the original Clusterpedia, so PediaCluster objects and
//! tooling written for it keep working.
//!
//! The CustomResourceDefinition manifests in `deploy/crds/` are generated from these types by
//! [`crds`] and [`to_yaml`]; a test fails when they are stale
//! (`UPDATE_CRDS=1 cargo test -p clusterpedia-crds` rewrites them).
//!
//! ```
//! use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, PediaCluster};
//!
//! let cluster = PediaCluster::new(
//!     "cluster-1",
//!     ClusterSpec {
//!         apiserver: "https://10.0.0.1:6443".into(),
//!         sync_resources: vec![ClusterGroupResources {
//!             group: "apps".into(),
//!             resources: vec!["deployments".into()],
//!             ..Default::default()
//!         }],
//!         ..Default::default()
//!     },
//! );
//! assert_eq!(cluster.spec.sync_resources[0].resources, ["deployments"]);
//! ```

use k8s_openapi::ByteString;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of the clusterpedia CRDs.
pub const GROUP: &str = "cluster.clusterpedia.io";
/// The API version of the clusterpedia CRDs.
pub const VERSION: &str = "v1alpha2";

/// The finalizer the clustersynchro-manager puts on every `PediaCluster` it syncs, so that the
/// cluster's data is removed from storage before the object goes away.
pub const CLUSTER_SYNCHRO_FINALIZER: &str = "clusterpedia.io/cluster-synchro-controller";

/// Condition types of [`ClusterStatus::conditions`].
pub mod condition {
    /// The spec was checked: credentials build a client config and `syncResources` is usable.
    pub const VALIDATED: &str = "Validated";
    /// The cluster's synchro is running.
    pub const SYNCHRO_RUNNING: &str = "SynchroRunning";
    /// The member cluster answers its health check.
    pub const CLUSTER_HEALTHY: &str = "ClusterHealthy";
    /// True iff the three conditions above are true.
    pub const READY: &str = "Ready";
    /// A condition of old versions, removed whenever the status is written.
    pub const DEPRECATED_CLUSTER_SYNCHRO_INITIALIZED: &str = "ClusterSynchroInitialized";
}

/// Condition reasons of [`ClusterStatus::conditions`].
pub mod reason {
    /// `Validated=False`: the credentials do not make a client configuration.
    pub const INVALID_CONFIG: &str = "InvalidConfig";
    /// `Validated=False`: `syncResources` cannot be used (unknown reference, forbidden wildcard).
    pub const INVALID_SYNC_RESOURCES: &str = "InvalidSyncResources";
    /// `Validated=True`.
    pub const VALIDATED: &str = "Validated";

    /// `SynchroRunning=False`: validated, the synchro is not created yet.
    pub const SYNCHRO_WAIT_INIT: &str = "WaitInit";
    /// `SynchroRunning=False`: creating the synchro failed (discovery, storage); retried.
    pub const SYNCHRO_INITIAL_FAILED: &str = "InitialFailed";
    /// `SynchroRunning=False`: the synchro is created and about to run.
    pub const SYNCHRO_PENDING: &str = "Pending";
    /// `SynchroRunning=True`.
    pub const SYNCHRO_RUNNING: &str = "Running";
    /// `SynchroRunning=False`: the synchro was shut down.
    pub const SYNCHRO_SHUTDOWN: &str = "Shutdown";

    /// `ClusterHealthy=Unknown`: no health monitor runs for the cluster.
    pub const CLUSTER_MONITOR_STOP: &str = "MonitorStop";
    /// `ClusterHealthy=True`.
    pub const CLUSTER_HEALTHY: &str = "Healthy";
    /// `ClusterHealthy=False`: the health endpoint answered, but not `ok`.
    pub const CLUSTER_UNHEALTHY: &str = "Unhealthy";
    /// `ClusterHealthy=False`: the health endpoint could not be reached.
    pub const CLUSTER_NOT_REACHABLE: &str = "NotReachable";

    /// `Ready=True`.
    pub const READY: &str = "Ready";
    /// `Ready=False`.
    pub const NOT_READY: &str = "NotReady";
}

/// The spec of a PediaCluster: how to reach a member cluster and what to sync from it.
///
/// Credentials, in order of precedence: `kubeconfig`; else `apiserver` with `tokenData` or
/// `certData` + `keyData`, verified with `caData` (without a CA the server certificate is not
/// verified).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "cluster.clusterpedia.io",
    version = "v1alpha2",
    kind = "PediaCluster",
    status = "ClusterStatus",
    derive = "PartialEq",
    doc = "A member cluster whose resources the clustersynchro-manager syncs into storage.",
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type == 'Ready')].status"}"#,
    printcolumn = r#"{"name": "Version", "type": "string", "jsonPath": ".status.version"}"#,
    printcolumn = r#"{"name": "APIServer", "type": "string", "jsonPath": ".status.apiserver"}"#,
    printcolumn = r#"{"name": "Validated", "type": "string", "jsonPath": ".status.conditions[?(@.type == 'Validated')].reason", "priority": 10}"#,
    printcolumn = r#"{"name": "SynchroRunning", "type": "string", "jsonPath": ".status.conditions[?(@.type == 'SynchroRunning')].reason", "priority": 10}"#,
    printcolumn = r#"{"name": "ClusterHealthy", "type": "string", "jsonPath": ".status.conditions[?(@.type == 'ClusterHealthy')].reason", "priority": 10}"#,
    printcolumn = r#"{"name": "ShardingName", "type": "string", "jsonPath": ".status.shardingName", "priority": 10}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// A whole kubeconfig file (base64 in JSON); its current context is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bytes_schema")]
    pub kubeconfig: Option<ByteString>,

    /// The URL of the member's kube-apiserver, e.g. `https://10.0.0.1:6443`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub apiserver: String,

    /// A bearer token (base64 in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bytes_schema")]
    pub token_data: Option<ByteString>,

    /// PEM CA certificates that sign the member's serving certificate (base64 in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bytes_schema")]
    pub ca_data: Option<ByteString>,

    /// A PEM client certificate (base64 in JSON); used with `keyData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bytes_schema")]
    pub cert_data: Option<ByteString>,

    /// The PEM private key of `certData` (base64 in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bytes_schema")]
    pub key_data: Option<ByteString>,

    /// Credentials read from Secrets of the clusterpedia namespace, used only when no inline
    /// credential is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_from: Option<ClusterAuthentication>,

    /// The resources to sync, by group. `group: "*"` syncs every resource; `resources: ["*"]`
    /// every resource of the group.
    pub sync_resources: Vec<ClusterGroupResources>,

    /// Also sync every custom resource of the member.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sync_all_custom_resources: bool,

    /// The name of a ClusterSyncResources whose resources are added to `syncResources`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sync_resources_ref_name: String,

    /// The manager (by its `--sharding-name`) that syncs this cluster; empty for the default one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sharding_name: String,
}

/// Secret references for the credentials of a PediaCluster spec.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAuthentication {
    /// A kubeconfig file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<ClusterAuthenticationSource>,
    /// PEM CA certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<ClusterAuthenticationSource>,
    /// A PEM client key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<ClusterAuthenticationSource>,
    /// A PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<ClusterAuthenticationSource>,
    /// A bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<ClusterAuthenticationSource>,
}

/// One key of a Secret in the clusterpedia namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterAuthenticationSource {
    /// The Secret's name.
    pub name: String,
    /// The key within the Secret's data.
    pub key: String,
}

/// Resources of one API group to sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGroupResources {
    /// The API group (empty for the core group; `*` for every group).
    pub group: String,

    /// The versions to sync. Empty: built-in kinds sync their first served known version,
    /// custom resources their first three served versions; `*`: every served version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,

    /// Plural (or singular, any case) resource names; `*` for every resource of the group.
    #[schemars(length(min = 1))]
    pub resources: Vec<String>,

    /// Resources (of `resources`, or `*`) whose events are recorded with their objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events_involved_resources: Vec<String>,
}

/// The status of a PediaCluster, written by the clustersynchro-manager.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The URL the member is reached at.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub apiserver: String,

    /// The member's `gitVersion`, e.g. `v1.36.2`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,

    /// `Validated`, `SynchroRunning`, `ClusterHealthy` and `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// The resources being synced and their progress, by group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_resources: Vec<ClusterGroupResourcesStatus>,

    /// The sharding name of the manager that syncs the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding_name: Option<String>,
}

impl ClusterStatus {
    /// The condition of type `type_`, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether resources are synced and every one of them is past its initial list (watching).
    pub fn past_initial_lists(&self) -> bool {
        !self.sync_resources.is_empty()
            && self.sync_resources.iter().all(|g| {
                g.resources.iter().all(|r| {
                    r.sync_conditions
                        .iter()
                        .all(|c| c.status == ResourceSyncStatus::Syncing && !c.initial_list_phase)
                })
            })
    }
}

/// The synced resources of one API group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterGroupResourcesStatus {
    /// The API group.
    pub group: String,
    /// Its synced resources.
    pub resources: Vec<ClusterResourceStatus>,
}

/// One synced resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterResourceStatus {
    /// The plural resource name.
    pub name: String,
    /// The kind of its objects.
    pub kind: String,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
    /// One entry per synced version.
    pub sync_conditions: Vec<ClusterResourceSyncCondition>,
}

/// The sync state of one version of a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterResourceSyncCondition {
    /// The version asked for (negotiated from `syncResources`).
    pub version: String,

    /// The version actually listed and watched, when it differs from `version`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sync_version: String,

    /// The resource actually synced (`resource.group`), when it differs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sync_resource: String,

    /// The version objects are stored as.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_version: String,

    /// The resource objects are stored as (`resource.group`), when it differs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_resource: String,

    /// The state.
    pub status: ResourceSyncStatus,

    /// Why, in one word, e.g. `SynchroCreating`, `ResourceWatchFailed`, `Pause`,
    /// `StorageExpection` (sic, as the original spells it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,

    /// Details.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,

    /// Whether the initial list is still being stored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub initial_list_phase: bool,

    /// When `status` last changed.
    pub last_transition_time: Time,
}

/// The state of a resource's sync.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ResourceSyncStatus {
    /// Created, not yet listing.
    #[default]
    Pending,
    /// Listing or watching.
    Syncing,
    /// Stopped: the member is unhealthy (`Pause`), the storage is failing (`StorageExpection`),
    /// or the resource was removed.
    Stop,
    /// No synchro is known for the resource.
    Unknown,
    /// Listing or watching failed (`ResourceWatchFailed`).
    Error,
}

impl ResourceSyncStatus {
    /// The status as written in the object.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Syncing => "Syncing",
            Self::Stop => "Stop",
            Self::Unknown => "Unknown",
            Self::Error => "Error",
        }
    }
}

/// The spec of a ClusterSyncResources: resources shared by the `PediaCluster`s naming it in
/// `spec.syncResourcesRefName`.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "cluster.clusterpedia.io",
    version = "v1alpha2",
    kind = "ClusterSyncResources",
    plural = "clustersyncresources",
    singular = "clustersyncresources",
    derive = "PartialEq",
    doc = "A list of resources to sync, shared by the PediaClusters that name it in spec.syncResourcesRefName."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSyncResourcesSpec {
    /// The resources to sync, by group (same format as `PediaCluster.spec.syncResources`).
    pub sync_resources: Vec<ClusterGroupResources>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn bytes_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "format": "byte",
        "nullable": true,
    })
}

/// The CustomResourceDefinitions of this crate with the file names they are committed under
/// in `deploy/crds/`.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        (
            "cluster.clusterpedia.io_pediaclusters.yaml",
            PediaCluster::crd(),
        ),
        (
            "cluster.clusterpedia.io_clustersyncresources.yaml",
            ClusterSyncResources::crd(),
        ),
    ]
}

/// A CRD as the YAML document committed in `deploy/crds/` (with a leading `---`).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_norway::Error> {
    Ok(format!("---\n{}", serde_norway::to_string(crd)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pediacluster_round_trips_the_original_field_names() {
        let yaml = r#"
apiVersion: cluster.clusterpedia.io/v1alpha2
kind: PediaCluster
metadata:
  name: cluster-1
spec:
  apiserver: https://10.6.100.10:6443
  caData: Y2E=
  tokenData: dG9rZW4=
  syncResources:
  - group: apps
    resources: [deployments]
    eventsInvolvedResources: ["*"]
  - group: ""
    versions: [v1]
    resources: [pods]
  syncAllCustomResources: true
  syncResourcesRefName: common
  shardingName: shard-a
status:
  apiserver: https://10.6.100.10:6443
  version: v1.36.2
  shardingName: shard-a
  conditions:
  - type: Ready
    status: "True"
    reason: Ready
    message: ""
    lastTransitionTime: "2024-01-02T03:04:05Z"
  syncResources:
  - group: apps
    resources:
    - name: deployments
      kind: Deployment
      namespaced: true
      syncConditions:
      - version: v1
        storageVersion: v1
        status: Syncing
        initialListPhase: true
        lastTransitionTime: "2024-01-02T03:04:05Z"
"#;
        let cluster: PediaCluster = serde_norway::from_str(yaml).expect("parse");
        assert_eq!(cluster.spec.ca_data, Some(ByteString(b"ca".to_vec())));
        assert_eq!(cluster.spec.token_data, Some(ByteString(b"token".to_vec())));
        assert_eq!(cluster.spec.sync_resources.len(), 2);
        assert_eq!(
            cluster.spec.sync_resources[0].events_involved_resources,
            ["*"]
        );
        assert!(cluster.spec.sync_all_custom_resources);
        assert_eq!(cluster.spec.sharding_name, "shard-a");
        let status = cluster.status.as_ref().expect("status");
        assert_eq!(
            status.condition(condition::READY).expect("ready").status,
            "True"
        );
        let cond = &status.sync_resources[0].resources[0].sync_conditions[0];
        assert_eq!(cond.status, ResourceSyncStatus::Syncing);
        assert!(cond.initial_list_phase);

        let json = serde_json::to_value(&cluster).expect("json");
        assert_eq!(json["spec"]["caData"], "Y2E=");
        assert_eq!(json["spec"]["syncResourcesRefName"], "common");
        assert!(
            json["spec"].get("kubeconfig").is_none(),
            "unset fields are omitted"
        );
        assert_eq!(
            json["status"]["syncResources"][0]["resources"][0]["syncConditions"][0]["status"],
            "Syncing"
        );
    }

    #[test]
    fn crd_has_the_original_shape() {
        let crd = PediaCluster::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("pediaclusters.cluster.clusterpedia.io")
        );
        assert_eq!(crd.spec.scope, "Cluster");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha2");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        let columns: Vec<(&str, i32)> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| (c.name.as_str(), c.priority.unwrap_or(0)))
            .collect();
        assert_eq!(
            columns,
            [
                ("Ready", 0),
                ("Version", 0),
                ("APIServer", 0),
                ("Validated", 10),
                ("SynchroRunning", 10),
                ("ClusterHealthy", 10),
                ("ShardingName", 10)
            ]
        );
        let schema = serde_json::to_value(&version.schema).expect("json");
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["required"], serde_json::json!(["syncResources"]));
        assert_eq!(spec["properties"]["kubeconfig"]["format"], "byte");
        let item = &spec["properties"]["syncResources"]["items"];
        assert_eq!(item["properties"]["resources"]["minItems"], 1);

        let sync = ClusterSyncResources::crd();
        assert_eq!(
            sync.metadata.name.as_deref(),
            Some("clustersyncresources.cluster.clusterpedia.io")
        );
        assert_eq!(
            sync.spec.names.singular.as_deref(),
            Some("clustersyncresources")
        );
        assert_eq!(sync.spec.scope, "Cluster");
    }
}
