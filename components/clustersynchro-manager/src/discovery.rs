//! Discovery of a member cluster's resources: which groups, versions and resources it serves,
//! in the server's priority order (preferred version first).

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;

/// One resource as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    /// The plural name, e.g. `deployments`.
    pub name: String,
    /// The singular name (may be empty on old servers).
    pub singular_name: String,
    /// The kind of its objects.
    pub kind: String,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
    /// The verbs it supports.
    pub verbs: Vec<String>,
}

impl ApiResource {
    /// Whether the resource can be listed and watched (the synchro skips others).
    pub fn has_list_and_watch(&self) -> bool {
        self.verbs.iter().any(|v| v == "list") && self.verbs.iter().any(|v| v == "watch")
    }

    /// Whether `name` designates this resource: its plural or singular name (or kind), in any
    /// case.
    fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || (!self.singular_name.is_empty() && self.singular_name.eq_ignore_ascii_case(name))
            || self.kind.eq_ignore_ascii_case(name)
    }
}

/// The resources of one group version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVersion {
    /// The version, e.g. `v1`.
    pub version: String,
    /// Its resources (subresources excluded).
    pub resources: Vec<ApiResource>,
}

/// One API group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGroup {
    /// The group name; empty for the core group.
    pub name: String,
    /// Its versions in the server's priority order (preferred first).
    pub versions: Vec<GroupVersion>,
}

/// What a member cluster serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDiscovery {
    /// The groups, core group first, in the server's order.
    pub groups: Vec<ApiGroup>,
}

impl ClusterDiscovery {
    /// A discovery from explicit groups (tests, fixtures).
    pub fn new(groups: Vec<ApiGroup>) -> Self {
        Self { groups }
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&ApiGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The resource of `group` named `name` (plural, singular or kind, any case) as its
    /// preferred version describes it, and every version that serves it, in priority order.
    pub fn resource_and_versions(
        &self,
        group: &str,
        name: &str,
    ) -> Option<(&ApiResource, Vec<&str>)> {
        let group = self.group(group)?;
        let mut found: Option<&ApiResource> = None;
        let mut versions = Vec::new();
        for gv in &group.versions {
            // Match the exact plural name first, so that a kind equal to another resource's
            // name cannot shadow it.
            let resource = gv
                .resources
                .iter()
                .find(|r| r.name == name)
                .or_else(|| gv.resources.iter().find(|r| r.is_named(name)));
            if let Some(resource) = resource {
                if let Some(first) = found {
                    if first.name != resource.name {
                        continue;
                    }
                } else {
                    found = Some(resource);
                }
                versions.push(gv.version.as_str());
            }
        }
        found.map(|r| (r, versions))
    }

    /// Every resource name of `group` (all versions, first appearance order), or `None` when
    /// the group is not served.
    pub fn group_resource_names(&self, group: &str) -> Option<Vec<String>> {
        let group = self.group(group)?;
        let mut names: Vec<String> = Vec::new();
        for gv in &group.versions {
            for r in &gv.resources {
                if !names.contains(&r.name) {
                    names.push(r.name.clone());
                }
            }
        }
        Some(names)
    }
}

/// Errors of discovery.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A request failed.
    #[error("discovery of {path} failed: {source}")]
    Request {
        /// The path asked for.
        path: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// How many discovery requests run at once.
const CONCURRENT_REQUESTS: usize = 8;

/// Reads the member's groups and resources through `/api` and `/apis`.
///
/// A group version whose resource list cannot be read (an aggregated API that is down) is left
/// out with a warning, as client-go's discovery does; failing to read the group lists fails.
pub async fn discover(client: &kube::Client) -> Result<ClusterDiscovery, DiscoveryError> {
    let core = client
        .list_core_api_versions()
        .await
        .map_err(|source| DiscoveryError::Request {
            path: "/api".into(),
            source,
        })?;
    let groups = client
        .list_api_groups()
        .await
        .map_err(|source| DiscoveryError::Request {
            path: "/apis".into(),
            source,
        })?;

    // (group index, group name, version) for every group version to read.
    let mut wanted: Vec<(String, String)> = core
        .versions
        .iter()
        .map(|v| (String::new(), v.clone()))
        .collect();
    let mut result = vec![ApiGroup {
        name: String::new(),
        versions: Vec::new(),
    }];
    for group in &groups.groups {
        result.push(ApiGroup {
            name: group.name.clone(),
            versions: Vec::new(),
        });
        // The server lists versions in priority order; make sure the preferred one is first.
        let preferred = group.preferred_version.as_ref().map(|p| p.version.as_str());
        let mut versions: Vec<&str> = group.versions.iter().map(|v| v.version.as_str()).collect();
        if let Some(p) = preferred
            && let Some(i) = versions.iter().position(|v| *v == p)
        {
            let v = versions.remove(i);
            versions.insert(0, v);
        }
        wanted.extend(versions.into_iter().map(|v| (group.name.clone(), v.into())));
    }

    let lists: Vec<(String, String, Option<APIResourceList>)> =
        futures::stream::iter(wanted.into_iter().map(|(group, version)| async move {
            let (path, res) = if group.is_empty() {
                (
                    format!("/api/{version}"),
                    client.list_core_api_resources(&version).await,
                )
            } else {
                let gv = format!("{group}/{version}");
                (
                    format!("/apis/{gv}"),
                    client.list_api_group_resources(&gv).await,
                )
            };
            match res {
                Ok(list) => Ok((group, version, Some(list))),
                Err(e) => {
                    tracing::warn!(%path, error = %e, "skipping a group version discovery could not read");
                    Ok::<_, DiscoveryError>((group, version, None))
                }
            }
        }))
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;

    for (group, version, list) in lists {
        let Some(list) = list else { continue };
        let Some(target) = result.iter_mut().find(|g| g.name == group) else {
            continue;
        };
        let resources = list
            .resources
            .into_iter()
            .filter(|r| !r.name.contains('/'))
            .map(|r| ApiResource {
                name: r.name,
                singular_name: r.singular_name,
                kind: r.kind,
                namespaced: r.namespaced,
                verbs: r.verbs,
            })
            .collect();
        target.versions.push(GroupVersion { version, resources });
    }
    result.retain(|g| !g.versions.is_empty());
    Ok(ClusterDiscovery { groups: result })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn resource(name: &str, kind: &str, namespaced: bool) -> ApiResource {
        ApiResource {
            name: name.into(),
            singular_name: name.trim_end_matches('s').into(),
            kind: kind.into(),
            namespaced,
            verbs: ["get", "list", "watch"].map(String::from).to_vec(),
        }
    }

    pub(crate) fn group(name: &str, versions: &[(&str, Vec<ApiResource>)]) -> ApiGroup {
        ApiGroup {
            name: name.into(),
            versions: versions
                .iter()
                .map(|(v, r)| GroupVersion {
                    version: (*v).into(),
                    resources: r.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn lookup_by_plural_singular_or_kind_in_any_case() {
        let d = ClusterDiscovery::new(vec![group(
            "apps",
            &[
                (
                    "v1",
                    vec![
                        resource("deployments", "Deployment", true),
                        resource("replicasets", "ReplicaSet", true),
                    ],
                ),
                ("v1beta1", vec![resource("deployments", "Deployment", true)]),
            ],
        )]);
        for name in ["deployments", "Deployment", "DEPLOYMENTS", "deployment"] {
            let (r, versions) = d.resource_and_versions("apps", name).expect(name);
            assert_eq!(r.name, "deployments");
            assert_eq!(versions, ["v1", "v1beta1"]);
        }
        assert!(d.resource_and_versions("apps", "pods").is_none());
        assert!(d.resource_and_versions("batch", "jobs").is_none());
        assert_eq!(
            d.group_resource_names("apps").expect("apps"),
            ["deployments", "replicasets"]
        );
        assert!(d.group_resource_names("batch").is_none());
    }
}
