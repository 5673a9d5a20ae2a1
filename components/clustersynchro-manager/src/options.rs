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
