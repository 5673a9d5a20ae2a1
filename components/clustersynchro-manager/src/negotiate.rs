//! Resource negotiation: from a `PediaCluster`'s `syncResources` and the member's discovery to
//! the set of resources to list/watch, with the versions to sync and store them as
//! (the original's `resource_negotiator.go`).
//!
//! Decisions that differ from the original, on purpose:
//!
//! - Objects are stored at the version they are synced at. The original converts built-in kinds
//!   to the kube-apiserver's default storage version through the Kubernetes scheme (a
//!   Deployment synced as `apps/v1beta1` from a 1.10 cluster is stored as `apps/v1`); without
//!   that scheme we store what the member serves, and report it in `storageVersion`. Members
//!   from the last years serve the storage version first, so this only matters for very old
//!   clusters.
//! - `resources: ["*"]` keeps the group's `eventsInvolvedResources` (the original loses them).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use clusterpedia_crds::ClusterGroupResources;
use storage_api::Gvr;

use crate::discovery::ClusterDiscovery;
use crate::options::FeatureGates;

/// The built-in API groups and every version of them the Kubernetes scheme knows (the
/// original's `LegacyResourceScheme`: kube-apiserver, apiextensions and kube-aggregator types).
/// Kinds of these groups are "legacy": exactly one version is synced, the first one the member
/// serves that is known here.
const LEGACY_GROUP_VERSIONS: &[(&str, &[&str])] = &[
    ("", &["v1"]),
    (
        "admissionregistration.k8s.io",
        &["v1", "v1beta1", "v1alpha1"],
    ),
    ("apiextensions.k8s.io", &["v1", "v1beta1"]),
    ("apiregistration.k8s.io", &["v1", "v1beta1"]),
    ("apps", &["v1", "v1beta2", "v1beta1"]),
    ("authentication.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("authorization.k8s.io", &["v1", "v1beta1"]),
    ("autoscaling", &["v1", "v2", "v2beta2", "v2beta1"]),
    ("batch", &["v1", "v1beta1"]),
    ("certificates.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("coordination.k8s.io", &["v1", "v1beta1", "v1alpha2"]),
    ("discovery.k8s.io", &["v1", "v1beta1"]),
    ("events.k8s.io", &["v1", "v1beta1"]),
    ("extensions", &["v1beta1"]),
    (
        "flowcontrol.apiserver.k8s.io",
        &["v1", "v1beta3", "v1beta2", "v1beta1"],
    ),
    ("imagepolicy.k8s.io", &["v1alpha1"]),
    ("internal.apiserver.k8s.io", &["v1alpha1"]),
    ("networking.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("node.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("policy", &["v1", "v1beta1"]),
    ("rbac.authorization.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("resource.k8s.io", &["v1", "v1beta2", "v1beta1", "v1alpha3"]),
    ("scheduling.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("storage.k8s.io", &["v1", "v1beta1", "v1alpha1"]),
    ("storagemigration.k8s.io", &["v1beta1", "v1alpha1"]),
];

/// The versions of a built-in group the Kubernetes scheme knows, or `None` for other groups
/// (custom resources, aggregated APIs).
pub fn legacy_versions(group: &str) -> Option<&'static [&'static str]> {
    LEGACY_GROUP_VERSIONS
        .iter()
        .find(|(g, _)| *g == group)
        .map(|(_, v)| *v)
}

/// Why no version of a resource can be synced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiateError {
    /// Discovery lists no version.
    #[error("The supported versions are empty")]
    NoSupportedVersions,
    /// A built-in kind is served only in versions unknown to the scheme.
    #[error("The supported versions do not contain any known versions")]
    NoKnownVersion,
    /// None of the requested versions is served.
    #[error("The supported versions do not contain any specified sync version")]
    NoWantedVersion,
}

/// The versions to sync of kind `kind` of `group`, given the versions asked for (`want`) and
/// those the member serves (`supported`, priority order); and whether the kind is built-in.
///
/// Built-in kinds: the first served version the scheme knows, whatever was asked. Others: the
/// asked versions that are served (in served order), all served versions for `*`, or the first
/// three served versions when nothing was asked.
pub fn negotiate_sync_versions(
    group: &str,
    _kind: &str,
    want: &[String],
    supported: &[&str],
) -> Result<(Vec<String>, bool), NegotiateError> {
    if supported.is_empty() {
        return Err(NegotiateError::NoSupportedVersions);
    }
    if let Some(known) = legacy_versions(group) {
        return supported
            .iter()
            .find(|v| known.contains(v))
            .map(|v| (vec![(*v).to_owned()], true))
            .ok_or(NegotiateError::NoKnownVersion);
    }
    if want.is_empty() {
        return Ok((
            supported.iter().take(3).map(|v| (*v).to_owned()).collect(),
            false,
        ));
    }
    if want.iter().any(|v| v == "*") {
        return Ok((supported.iter().map(|v| (*v).to_owned()).collect(), false));
    }
    let versions: Vec<String> = supported
        .iter()
        .filter(|v| want.iter().any(|w| w == *v))
        .map(|v| (*v).to_owned())
        .collect();
    if versions.is_empty() {
        return Err(NegotiateError::NoWantedVersion);
    }
    Ok((versions, false))
}

/// How one stored resource is synced.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncConfig {
    /// The kind of the objects.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// The group/version/resource listed and watched on the member.
    pub sync_gvr: Gvr,
    /// The group/version/resource objects are stored as.
    pub storage_gvr: Gvr,
    /// Whether the objects' events are recorded.
    pub sync_events: bool,
}

/// One negotiated resource, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedResource {
    /// The API group.
    pub group: String,
    /// The plural resource name.
    pub resource: String,
    /// The kind of its objects.
    pub kind: String,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
    /// Each synced version with the resource it is stored as (sorted by version).
    pub versions: BTreeMap<String, Gvr>,
}

/// The result of a negotiation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiation {
    /// The resources to report, in the order of `syncResources`.
    pub resources: Vec<NegotiatedResource>,
    /// What to sync, by stored resource.
    pub configs: BTreeMap<Gvr, SyncConfig>,
    /// Requested resources that are not synced, with why (for the status and logs).
    pub skipped: Vec<String>,
}

/// Expands `syncResources` against the member's discovery and picks versions.
pub fn negotiate(
    sync_resources: &[ClusterGroupResources],
    sync_all_custom_resources: bool,
    discovery: &ClusterDiscovery,
    gates: &FeatureGates,
) -> Negotiation {
    let mut out = Negotiation::default();
    let mut groups: Vec<ClusterGroupResources> = Vec::new();
    if sync_resources.iter().any(|g| g.group == "*") {
        // Everything the member serves (the manager refuses `*` without the feature gate).
        let all = sync_resources.iter().find(|g| g.group == "*");
        for g in &discovery.groups {
            groups.push(ClusterGroupResources {
                group: g.name.clone(),
                versions: Vec::new(),
                resources: discovery.group_resource_names(&g.name).unwrap_or_default(),
                events_involved_resources: all
                    .map(|a| a.events_involved_resources.clone())
                    .unwrap_or_default(),
            });
        }
    } else {
        for g in sync_resources {
            let mut g = g.clone();
            if g.resources.iter().any(|r| r == "*") {
                match discovery.group_resource_names(&g.group) {
                    Some(names) => g.resources = names,
                    None => {
                        out.skipped
                            .push(format!("group {:?}: not served by the cluster", g.group));
                        g.resources.clear();
                    }
                }
            }
            groups.push(g);
        }
        if sync_all_custom_resources {
            if gates.allow_sync_all_custom_resources {
                for g in &discovery.groups {
                    if legacy_versions(&g.name).is_none() {
                        groups.push(ClusterGroupResources {
                            group: g.name.clone(),
                            versions: Vec::new(),
                            resources: discovery.group_resource_names(&g.name).unwrap_or_default(),
                            events_involved_resources: Vec::new(),
                        });
                    }
                }
            } else {
                out.skipped.push(
                    "syncAllCustomResources: the feature gate AllowSyncAllCustomResources is not enabled"
                        .into(),
                );
            }
        }
    }

    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut skipped_seen: HashSet<String> = HashSet::new();
    let mut skip = |out: &mut Negotiation, message: String| {
        if skipped_seen.insert(message.clone()) {
            out.skipped.push(message);
        }
    };
    for g in &groups {
        let events: BTreeSet<&str> = g
            .events_involved_resources
            .iter()
            .map(String::as_str)
            .collect();
        for name in &g.resources {
            let gr = if g.group.is_empty() {
                name.clone()
            } else {
                format!("{name}.{}", g.group)
            };
            if gates.ignore_sync_lease && gr == "leases.coordination.k8s.io" {
                continue;
            }
            let Some((api, supported)) = discovery.resource_and_versions(&g.group, name) else {
                skip(&mut out, format!("{gr}: not served by the cluster"));
                continue;
            };
            if !api.has_list_and_watch() {
                skip(
                    &mut out,
                    format!(
                        "{gr}: does not support list and watch (verbs {:?})",
                        api.verbs
                    ),
                );
                continue;
            }
            let versions =
                match negotiate_sync_versions(&g.group, &api.kind, &g.versions, &supported) {
                    Ok((versions, _legacy)) => versions,
                    Err(e) => {
                        skip(&mut out, format!("{gr}: {e}"));
                        continue;
                    }
                };
            let sync_events = events.contains("*")
                || events.contains(name.as_str())
                || events.contains(api.name.as_str());
            let key = (g.group.clone(), api.name.clone());
            let i = *index.entry(key).or_insert_with(|| {
                out.resources.push(NegotiatedResource {
                    group: g.group.clone(),
                    resource: api.name.clone(),
                    kind: api.kind.clone(),
                    namespaced: api.namespaced,
                    versions: BTreeMap::new(),
                });
                out.resources.len() - 1
            });
            for version in versions {
                let sync_gvr = Gvr::new(&g.group, &version, &api.name);
                let storage_gvr = sync_gvr.clone();
                out.resources[i]
                    .versions
                    .insert(version.clone(), storage_gvr.clone());
                match out.configs.get_mut(&storage_gvr) {
                    // A stored resource is synced once, from the first version mapped to it.
                    Some(existing) => existing.sync_events |= sync_events,
                    None => {
                        out.configs.insert(
                            storage_gvr.clone(),
                            SyncConfig {
                                kind: api.kind.clone(),
                                namespaced: api.namespaced,
                                sync_gvr,
                                storage_gvr,
                                sync_events,
                            },
                        );
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::tests::{group, resource};

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    /// Reference §14.7, `resource_negotiator_test.go` `TestNegotiateSyncVersions`.
    #[test]
    fn version_negotiation_table() {
        type Case = (
            &'static str,
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            Option<&'static [&'static str]>,
        );
        let cases: &[Case] = &[
            ("apps", "Deployment", &["v1"], &["v1"], Some(&["v1"])),
            (
                "apps",
                "Deployment",
                &["v1beta1"],
                &["v1", "v1beta2", "v1beta1"],
                Some(&["v1"]),
            ),
            (
                "apps",
                "Deployment",
                &["v1alpha1"],
                &["v1beta2", "v1beta1"],
                Some(&["v1beta2"]),
            ),
            (
                "apps",
                "Deployment",
                &[],
                &["v2", "v1", "v1beta2"],
                Some(&["v1"]),
            ),
            (
                "apps",
                "Deployment",
                &[],
                &["v2", "v1beta2"],
                Some(&["v1beta2"]),
            ),
            ("apps", "Deployment", &[], &["v2"], None),
            ("apps", "Deployment", &[], &["v2", "v1alpha2"], None),
            (
                "test.io",
                "CustomKind",
                &[],
                &["v1beta2", "v1beta1"],
                Some(&["v1beta2", "v1beta1"]),
            ),
            (
                "test.io",
                "CustomKind",
                &[],
                &["v1", "v1beta2", "v1beta1", "v1alpha2", "v1alpha1"],
                Some(&["v1", "v1beta2", "v1beta1"]),
            ),
            (
                "test.io",
                "CustomKind",
                &["v1beta2"],
                &["v1", "v1beta2", "v1beta1"],
                Some(&["v1beta2"]),
            ),
            (
                "test.io",
                "CustomKind",
                &["v1beta2", "v1alpha2"],
                &["v1", "v1beta2", "v1beta1", "v1alpha2", "v1alpha1"],
                Some(&["v1beta2", "v1alpha2"]),
            ),
            (
                "test.io",
                "CustomKind",
                &["v2beta1", "v1alpha2"],
                &["v1", "v1beta2", "v1beta1", "v1alpha2", "v1alpha1"],
                Some(&["v1alpha2"]),
            ),
            (
                "test.io",
                "CustomKind",
                &["v2beta1"],
                &["v1", "v1beta2", "v1beta1"],
                None,
            ),
            (
                "test.io",
                "CustomKind",
                &["*"],
                &["v2", "v1"],
                Some(&["v2", "v1"]),
            ),
        ];
        for (group, kind, want, supported, expected) in cases {
            let got = negotiate_sync_versions(group, kind, &v(want), supported);
            let label = format!("{group}/{kind} want {want:?} supported {supported:?}");
            match expected {
                Some(expected) => {
                    let (versions, legacy) = got.expect(&label);
                    assert_eq!(versions, v(expected), "{label}");
                    assert_eq!(legacy, *group == "apps", "{label}");
                }
                None => assert!(got.is_err(), "{label}: {got:?}"),
            }
        }
        assert_eq!(
            negotiate_sync_versions("test.io", "K", &[], &[]),
            Err(NegotiateError::NoSupportedVersions)
        );
    }

    fn discovery() -> ClusterDiscovery {
        let mut binding = resource("bindings", "Binding", true);
        binding.verbs = vec!["create".into()];
        ClusterDiscovery::new(vec![
            group(
                "",
                &[(
                    "v1",
                    vec![
                        resource("pods", "Pod", true),
                        resource("namespaces", "Namespace", false),
                        binding,
                    ],
                )],
            ),
            group(
                "apps",
                &[
                    ("v1", vec![resource("deployments", "Deployment", true)]),
                    ("v1beta2", vec![resource("deployments", "Deployment", true)]),
                ],
            ),
            group(
                "coordination.k8s.io",
                &[("v1", vec![resource("leases", "Lease", true)])],
            ),
            group(
                "test.io",
                &[
                    ("v2", vec![resource("widgets", "Widget", true)]),
                    ("v1", vec![resource("widgets", "Widget", true)]),
                ],
            ),
        ])
    }

    fn gr(group: &str, resources: &[&str]) -> ClusterGroupResources {
        ClusterGroupResources {
            group: group.into(),
            resources: v(resources),
            ..Default::default()
        }
    }

    #[test]
    fn expands_wildcards_and_skips_what_cannot_be_synced() {
        let d = discovery();
        let gates = FeatureGates::default();
        let mut core = gr("", &["*"]);
        core.events_involved_resources = v(&["pods"]);
        let n = negotiate(
            &[
                core,
                gr("apps", &["Deployment", "statefulsets"]),
                gr("nope.io", &["*"]),
            ],
            false,
            &d,
            &gates,
        );
        let stored: Vec<String> = n.configs.keys().map(ToString::to_string).collect();
        assert_eq!(stored, ["v1/namespaces", "v1/pods", "apps/v1/deployments"]);
        assert!(n.configs[&Gvr::new("", "v1", "pods")].sync_events);
        assert!(!n.configs[&Gvr::new("", "v1", "namespaces")].sync_events);
        assert!(!n.configs[&Gvr::new("", "v1", "namespaces")].namespaced);
        let names: Vec<&str> = n.resources.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(names, ["pods", "namespaces", "deployments"]);
        let skipped = n.skipped.join("; ");
        assert!(
            skipped.contains("bindings: does not support list and watch"),
            "{skipped}"
        );
        assert!(
            skipped.contains("statefulsets.apps: not served"),
            "{skipped}"
        );
        assert!(
            skipped.contains("group \"nope.io\": not served"),
            "{skipped}"
        );
    }

    #[test]
    fn custom_resources_versions_and_sync_all() {
        let d = discovery();
        let mut gates = FeatureGates::default();
        let n = negotiate(&[gr("test.io", &["widgets"])], false, &d, &gates);
        let stored: Vec<String> = n.configs.keys().map(ToString::to_string).collect();
        assert_eq!(stored, ["test.io/v1/widgets", "test.io/v2/widgets"]);
        assert_eq!(n.resources[0].versions.len(), 2);

        // syncAllCustomResources needs its gate.
        let n = negotiate(&[gr("", &["pods"])], true, &d, &gates);
        assert_eq!(n.configs.len(), 1);
        assert!(n.skipped[0].contains("AllowSyncAllCustomResources"));
        gates.allow_sync_all_custom_resources = true;
        let n = negotiate(&[gr("", &["pods"])], true, &d, &gates);
        assert_eq!(n.configs.len(), 3, "{:?}", n.configs.keys());

        // group "*" takes everything that can be listed and watched.
        let n = negotiate(&[gr("*", &["*"])], false, &d, &gates);
        assert_eq!(n.configs.len(), 6, "{:?}", n.configs.keys());
        gates.ignore_sync_lease = true;
        let n = negotiate(&[gr("*", &["*"])], false, &d, &gates);
        assert_eq!(n.configs.len(), 5, "{:?}", n.configs.keys());
    }
}
