//! The manager's flags and feature gates.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The clustersynchro-manager's own flags (the storage flags are common to every component).
#[derive(Debug, Clone, clap::Args)]
pub struct SynchroOptions {
    /// The kubeconfig of the host cluster that holds the PediaCluster objects (default: the
    /// in-cluster service account, then $KUBECONFIG and ~/.kube/config).
    #[arg(long = "kubeconfig", value_name = "FILE")]
    pub host_kubeconfig: Option<PathBuf>,

    /// Read PediaClusters (and ClusterSyncResources) from this YAML file of documents instead of
    /// a host cluster; changes to the file are picked up. Status is then only logged.
    #[arg(long, value_name = "FILE")]
    pub clusters_config: Option<PathBuf>,

    /// How many storage writes run at once, across all clusters and resources.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub worker_number: u32,

    /// The page size of the LISTs of member resources.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,

    /// The most changes written to storage in one batch.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub write_batch_size: u32,

    /// Sync only the PediaClusters whose spec.shardingName is this (default: those without).
    #[arg(long, value_name = "NAME", default_value = "")]
    pub sharding_name: String,

    /// The address the metrics server listens on. It serves `/metrics` (cluster names, sync
    /// state and object counts per resource), `/livez`, `/readyz` (the storage answers and the
    /// manager runs) and `/healthz` over plain HTTP without
    /// authentication, so only this host can reach it by default; to let Prometheus or a probe
    /// reach it from elsewhere, pass e.g. `--metrics-host 0.0.0.0`.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub metrics_host: IpAddr,

    /// The port of the metrics server (`/metrics`, `/livez`, `/readyz`, `/healthz`); 0 disables
    /// it.
    #[arg(long, value_name = "PORT", default_value_t = 8081)]
    pub metrics_port: u16,

    /// How often each member's `/readyz` is checked.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub health_check_interval: Duration,

    /// How often each member's discovery is read again (new CRDs, removed resources).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub discovery_interval: Duration,

    /// Feature gates, `Name=true|false,...`: AllowSyncAllResources, AllowSyncAllCustomResources,
    /// IgnoreSyncLease, ClusterAuthenticationFromSecret, SyncMemberRBAC (every cluster's RBAC
    /// objects synced too, for the apiserver's --member-rbac-filter) (all false by default);
    /// PruneManagedFields and PruneLastAppliedConfiguration are always on.
    #[arg(long, value_name = "GATES", default_value = "", value_parser = FeatureGates::parse)]
    pub feature_gates: FeatureGates,

    /// Leader election on a Lease in the host cluster (ignored with --clusters-config).
    #[command(flatten)]
    pub leader_election: LeaderElectionOptions,

    /// Share the PediaClusters of this --sharding-name among every replica started with this
    /// flag: each cluster is synced by exactly one live replica, which holds the cluster's Lease
    /// (`<resource-name>[-<sharding-name>]-cluster-<cluster>`); a dead replica's clusters are
    /// taken over once their Leases expire (--leader-elect-lease-duration), and clusters move to
    /// a replica that joins. Replaces the single leader of --leader-elect.
    #[arg(long, default_value_t = false)]
    pub shard_clusters: bool,
}

/// The original's `--leader-elect*` flags (client-go's leader election configuration).
#[derive(Debug, Clone, clap::Args)]
pub struct LeaderElectionOptions {
    /// Start a leader election client and gain leadership before syncing: of the replicas with
    /// the same --sharding-name only the leader syncs.
    #[arg(long = "leader-elect", value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// How long a candidate waits after the last observed renewal before taking the Lease of
    /// a leader that stopped renewing it.
    #[arg(long = "leader-elect-lease-duration", value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// How long the leader tries to renew before it stops syncing (less than the lease
    /// duration).
    #[arg(long = "leader-elect-renew-deadline", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,

    /// How often candidates try to acquire and leaders to renew.
    #[arg(long = "leader-elect-retry-period", value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,

    /// The kind of lock object; only `leases` is supported.
    #[arg(
        long = "leader-elect-resource-lock",
        value_name = "KIND",
        default_value = "leases"
    )]
    pub resource_lock: String,

    /// The name of the Lease (`-<sharding-name>` is appended when one is given).
    #[arg(
        long = "leader-elect-resource-name",
        value_name = "NAME",
        default_value = "clusterpedia-clustersynchro-manager"
    )]
    pub resource_name: String,

    /// The namespace of the Lease (default: $CLUSTERPEDIA_NAMESPACE, else
    /// clusterpedia-system).
    #[arg(
        long = "leader-elect-resource-namespace",
        value_name = "NAMESPACE",
        default_value = ""
    )]
    pub resource_namespace: String,
}

impl Default for LeaderElectionOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            resource_lock: "leases".into(),
            resource_name: "clusterpedia-clustersynchro-manager".into(),
            resource_namespace: String::new(),
        }
    }
}

impl LeaderElectionOptions {
    /// Checks the durations and lock kind as client-go does.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource_lock != "leases" {
            return Err(format!(
                "--leader-elect-resource-lock={}: only \"leases\" is supported",
                self.resource_lock
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "--leader-elect-lease-duration ({:?}) must be greater than --leader-elect-renew-deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.renew_deadline <= self.retry_period.mul_f64(1.2) {
            return Err(format!(
                "--leader-elect-renew-deadline ({:?}) must be greater than 1.2 × --leader-elect-retry-period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.retry_period.is_zero() {
            return Err("--leader-elect-retry-period must be positive".into());
        }
        if self.resource_name.is_empty() {
            return Err("--leader-elect-resource-name must not be empty".into());
        }
        Ok(())
    }

    /// The Lease's name for `sharding_name`: `<resource-name>[-<sharding-name>]`.
    pub fn lease_name(&self, sharding_name: &str) -> String {
        if sharding_name.is_empty() {
            self.resource_name.clone()
        } else {
            format!("{}-{sharding_name}", self.resource_name)
        }
    }

    /// The Lease's namespace: the flag, else `$CLUSTERPEDIA_NAMESPACE`, else
    /// `clusterpedia-system`.
    pub fn namespace(&self) -> String {
        if self.resource_namespace.is_empty() {
            crate::source::host::clusterpedia_namespace()
        } else {
            self.resource_namespace.clone()
        }
    }
}

impl SynchroOptions {
    /// The defaults, as the command line gives them.
    pub fn defaults() -> Self {
        Self {
            host_kubeconfig: None,
            clusters_config: None,
            worker_number: 5,
            page_size: 500,
            write_batch_size: 500,
            sharding_name: String::new(),
            metrics_host: IpAddr::from([127, 0, 0, 1]),
            metrics_port: 8081,
            health_check_interval: Duration::from_secs(5),
            discovery_interval: Duration::from_secs(30),
            feature_gates: FeatureGates::default(),
            leader_election: LeaderElectionOptions::default(),
            shard_clusters: false,
        }
    }
}

/// The feature gates of the clustersynchro-manager (the original's names and defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureGates {
    /// `AllowSyncAllResources`: allow `group: "*"` in syncResources.
    pub allow_sync_all_resources: bool,
    /// `AllowSyncAllCustomResources`: honour `syncAllCustomResources`.
    pub allow_sync_all_custom_resources: bool,
    /// `IgnoreSyncLease`: never sync `leases.coordination.k8s.io`.
    pub ignore_sync_lease: bool,
    /// `ClusterAuthenticationFromSecret`: read `authenticationFrom` Secrets.
    pub cluster_authentication_from_secret: bool,
    /// `SyncMemberRBAC` (this project's): also sync every cluster's Roles, ClusterRoles,
    /// RoleBindings and ClusterRoleBindings, whatever its syncResources say, for the
    /// apiserver's `--member-rbac-filter`.
    pub sync_member_rbac: bool,
}

impl FeatureGates {
    /// Parses `Name=true,Other=false`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut gates = Self::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("missing bool value for {item}"))?;
            let value: bool = value
                .trim()
                .parse()
                .map_err(|_| format!("invalid value of {name}={value}, err: invalid bool"))?;
            match name.trim() {
                "AllowSyncAllResources" => gates.allow_sync_all_resources = value,
                "AllowSyncAllCustomResources" => gates.allow_sync_all_custom_resources = value,
                "IgnoreSyncLease" => gates.ignore_sync_lease = value,
                "ClusterAuthenticationFromSecret" => {
                    gates.cluster_authentication_from_secret = value;
                }
                "SyncMemberRBAC" => gates.sync_member_rbac = value,
                "PruneManagedFields" | "PruneLastAppliedConfiguration" => {
                    if !value {
                        return Err(format!("{name} cannot be disabled"));
                    }
                }
                // Behaviours that are always on here: health checks use their own connections,
                // lists are always paginated.
                "HealthCheckerWithStandaloneTCP"
                | "ForcePaginatedListForResourceSync"
                | "StreamHandlePaginatedListForResourceSync" => {}
                other => return Err(format!("unrecognized feature gate: {other}")),
            }
        }
        Ok(gates)
    }
}

pub use storage_api::duration::parse_flag as parse_duration;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        options: SynchroOptions,
    }

    #[test]
    fn defaults_match_the_command_line() {
        let cli = Cli::try_parse_from(["x"]).expect("parse");
        let d = SynchroOptions::defaults();
        assert_eq!(cli.options.worker_number, d.worker_number);
        assert_eq!(cli.options.page_size, d.page_size);
        assert_eq!(cli.options.write_batch_size, d.write_batch_size);
        assert_eq!(cli.options.metrics_port, d.metrics_port);
        assert_eq!(cli.options.metrics_host, d.metrics_host);
        // The unauthenticated metrics are only reachable from this host unless asked.
        assert_eq!(cli.options.metrics_host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(cli.options.health_check_interval, d.health_check_interval);
        assert_eq!(cli.options.discovery_interval, d.discovery_interval);
        assert_eq!(cli.options.feature_gates, d.feature_gates);
        let (flags, defaults) = (&cli.options.leader_election, &d.leader_election);
        assert!(
            flags.enabled && defaults.enabled,
            "the original elects a leader by default"
        );
        assert_eq!(flags.lease_duration, defaults.lease_duration);
        assert_eq!(flags.renew_deadline, defaults.renew_deadline);
        assert_eq!(flags.retry_period, defaults.retry_period);
        assert_eq!(flags.resource_lock, defaults.resource_lock);
        assert_eq!(flags.resource_name, defaults.resource_name);
        assert_eq!(flags.resource_namespace, defaults.resource_namespace);
        assert_eq!(cli.options.shard_clusters, d.shard_clusters);
        assert_eq!(defaults.validate(), Ok(()));
    }

    #[test]
    fn leader_election_flags() {
        let cli = Cli::try_parse_from([
            "x",
            "--leader-elect=false",
            "--leader-elect-lease-duration=3s",
            "--leader-elect-renew-deadline=2s",
            "--leader-elect-retry-period=500ms",
            "--leader-elect-resource-namespace=ops",
            "--sharding-name=east",
            "--shard-clusters",
        ])
        .expect("parse");
        let le = &cli.options.leader_election;
        assert!(!le.enabled);
        assert!(cli.options.shard_clusters);
        assert_eq!(le.validate(), Ok(()));
        assert_eq!(
            le.lease_name("east"),
            "clusterpedia-clustersynchro-manager-east"
        );
        assert_eq!(le.lease_name(""), "clusterpedia-clustersynchro-manager");
        assert_eq!(le.namespace(), "ops");
        let bare = Cli::try_parse_from(["x", "--leader-elect"]).expect("parse");
        assert!(bare.options.leader_election.enabled);

        let bad = |args: &[&str]| {
            let mut all = vec!["x"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
                .expect("parse")
                .options
                .leader_election
                .validate()
                .expect_err("invalid")
        };
        assert!(bad(&["--leader-elect-resource-lock=configmaps"]).contains("leases"));
        assert!(
            bad(&[
                "--leader-elect-lease-duration=5s",
                "--leader-elect-renew-deadline=5s"
            ])
            .contains("greater than --leader-elect-renew-deadline")
        );
        assert!(bad(&["--leader-elect-retry-period=9s"]).contains("--leader-elect-retry-period"));
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "x",
            "--page-size=100",
            "--feature-gates=AllowSyncAllCustomResources=true,IgnoreSyncLease=true",
            "--health-check-interval=200ms",
            "--clusters-config=/tmp/c.yaml",
        ])
        .expect("parse");
        assert_eq!(cli.options.page_size, 100);
        assert!(cli.options.feature_gates.allow_sync_all_custom_resources);
        assert!(cli.options.feature_gates.ignore_sync_lease);
        assert!(!cli.options.feature_gates.allow_sync_all_resources);
        assert_eq!(
            cli.options.health_check_interval,
            Duration::from_millis(200)
        );
        assert!(Cli::try_parse_from(["x", "--feature-gates=Nope=true"]).is_err());
        assert!(Cli::try_parse_from(["x", "--feature-gates=PruneManagedFields=false"]).is_err());
        assert!(Cli::try_parse_from(["x", "--worker-number=0"]).is_err());
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2d").is_err());
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        // Checked: this used to overflow `n * 3600`.
        assert!(parse_duration("18446744073709551615h").is_err());
    }
}
