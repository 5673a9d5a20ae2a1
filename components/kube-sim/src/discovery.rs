//! Discovery: `/version`, the legacy documents (`/api`, `/api/v1`, `/apis`, `/apis/<g>`,
//! `/apis/<g>/<v>`) and aggregated discovery (`apidiscovery.k8s.io/v2` and `v2beta1`), chosen by
//! the `Accept` header as a kube-apiserver v1.36 does.

use serde_json::{Value, json};

use crate::resources::{Catalog, ResourceDef, verbs};

/// The media type of aggregated discovery responses.
pub(crate) const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// The aggregated discovery version the `Accept` header asks for first, if any.
pub(crate) fn aggregated_version(accept: &str) -> Option<(&'static str, &'static str)> {
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if !params.contains(&"as=APIGroupDiscoveryList")
            || !params.contains(&"g=apidiscovery.k8s.io")
        {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some(("v2", AGGREGATED_V2));
        }
        if params.contains(&"v=v2beta1") {
            return Some(("v2beta1", AGGREGATED_V2BETA1));
        }
    }
    None
}

/// The `/version` document of a cluster running `git_version` (`v1.36.0`).
pub(crate) fn version(git_version: &str) -> Value {
    let numbers: Vec<&str> = git_version
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .collect();
    let major = numbers.first().copied().unwrap_or("1");
    let minor = numbers.get(1).copied().unwrap_or("36");
    let min_minor = minor
        .parse::<u32>()
        .map(|m| m.saturating_sub(1).to_string())
        .unwrap_or_else(|_| minor.to_owned());
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": min_minor,
        "gitVersion": git_version,
        "gitCommit": "6c1b7b7b0d2d0e3f6d5b7a3c1e9f0a8b2c4d6e8f",
        "gitTreeState": "clean",
        "buildDate": "2026-04-22T10:00:00Z",
        "goVersion": "go1.25.9",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`: the core group's versions.
pub(crate) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let group_version = |v: &str| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(|v| group_version(v)).collect::<Vec<_>>(),
        "preferredVersion": group_version(versions.first().map_or("v1", String::as_str)),
    })
}

/// `/apis`: the named groups.
pub(crate) fn api_group_list(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = catalog
        .groups()
        .iter()
        .map(|g| group_json(&g.name, &g.versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub(crate) fn api_group(catalog: &Catalog, group: &str) -> Option<Value> {
    let info = catalog.groups().into_iter().find(|g| g.name == group)?;
    let mut value = group_json(&info.name, &info.versions);
    value["kind"] = json!("APIGroup");
    value["apiVersion"] = json!("v1");
    Some(value)
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub(crate) fn api_resource_list(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let defs = catalog.in_group_version(group, version);
    if defs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for def in &defs {
        let mut resource = json!({
            "name": def.plural,
            "singularName": def.singular,
            "namespaced": def.namespaced,
            "kind": def.kind,
            "verbs": verbs(),
            "storageVersionHash": storage_version_hash(def),
        });
        if !def.short_names.is_empty() {
            resource["shortNames"] = json!(def.short_names);
        }
        if !def.categories.is_empty() {
            resource["categories"] = json!(def.categories);
        }
        resources.push(resource);
        if def.version(version).is_some_and(|v| v.status) {
            resources.push(json!({
                "name": format!("{}/status", def.plural),
                "singularName": "",
                "namespaced": def.namespaced,
                "kind": def.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// A stable hash of the storage version, like the apiserver's (base64 of 8 bytes).
fn storage_version_hash(def: &ResourceDef) -> String {
    use base64::Engine as _;
    let text = format!("{}/{}/{}", def.group, def.storage_version, def.kind);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    base64::engine::general_purpose::STANDARD.encode(hash.to_be_bytes())
}

fn resource_discovery(def: &ResourceDef, version: &str) -> Value {
    let mut resource = json!({
        "resource": def.plural,
        "responseKind": {"group": def.group, "version": version, "kind": def.kind},
        "scope": if def.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": def.singular,
        "verbs": verbs(),
    });
    if !def.short_names.is_empty() {
        resource["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        resource["categories"] = json!(def.categories);
    }
    if def.version(version).is_some_and(|v| v.status) {
        resource["subresources"] = json!([{
            "subresource": "status",
            "responseKind": {"group": def.group, "version": version, "kind": def.kind},
            "verbs": ["get", "patch", "update"],
        }]);
    }
    resource
}

fn group_discovery(catalog: &Catalog, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = catalog
                .in_group_version(group, version)
                .iter()
                .map(|def| resource_discovery(def, version))
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata["name"] = json!(group);
    }
    json!({"metadata": metadata, "versions": versions})
}

/// Aggregated discovery of the core group (`/api`) or of the named groups (`/apis`).
pub(crate) fn aggregated(catalog: &Catalog, core: bool, version: &str) -> Value {
    let items: Vec<Value> = if core {
        vec![group_discovery(catalog, "", &["v1".to_owned()])]
    } else {
        catalog
            .groups()
            .iter()
            .map(|g| group_discovery(catalog, &g.name, &g.versions))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let kube_rs = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kube_rs).map(|v| v.0), Some("v2"));
        assert_eq!(aggregated_version("application/json"), None);
    }

    #[test]
    fn documents() {
        let catalog = Catalog::new(&[]);
        let core = api_resource_list(&catalog, "", "v1").expect("core");
        let names: Vec<&str> = core["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"pods") && names.contains(&"pods/status"));
        let groups = api_group_list(&catalog);
        assert!(
            groups["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .any(|g| g["name"] == "apps")
        );
        let agg = aggregated(&catalog, false, "v2");
        assert_eq!(agg["items"][0]["metadata"]["name"], "apps");
        assert_eq!(version("v1.36.0")["minor"], "36");
    }
}
