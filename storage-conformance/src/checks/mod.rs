//! The checks, by theme. Each check is `pub async fn <check>(harness: Harness)`, runs against a
//! fresh layer, and panics at the first difference with a message naming the query and the
//! first differing item. Its documentation says what it asserts and why.

pub mod bad_input;
pub mod cleanup;
pub mod collections;
pub mod crud;
pub mod events;
pub mod full_text;
pub mod list_filters;
pub mod order;
pub mod owner;
pub mod paging;
pub mod resource_versions;
pub mod watch;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::harness::Harness;
use storage_api::object::{Gvr, ResourceObject};

pub(crate) fn pods() -> Gvr {
    Gvr::new("", "v1", "pods")
}

pub(crate) fn deployments() -> Gvr {
    Gvr::new("apps", "v1", "deployments")
}

pub(crate) fn replicasets() -> Gvr {
    Gvr::new("apps", "v1", "replicasets")
}

pub(crate) fn services() -> Gvr {
    Gvr::new("", "v1", "services")
}

pub(crate) fn configmaps() -> Gvr {
    Gvr::new("", "v1", "configmaps")
}

pub(crate) fn nodes() -> Gvr {
    Gvr::new("", "v1", "nodes")
}

pub(crate) fn endpointslices() -> Gvr {
    Gvr::new("discovery.k8s.io", "v1", "endpointslices")
}

pub(crate) fn widgets() -> Gvr {
    Gvr::new("example.io", "v1", "widgets")
}

/// Parses JSON made by the suite back into an object of the same cluster and resource.
pub(crate) fn reparse(like: &ResourceObject, value: &Value) -> ResourceObject {
    let raw = serde_json::to_vec(value).expect("edited objects serialize");
    ResourceObject::parse(
        like.fields.cluster.clone(),
        like.fields.gvr.clone(),
        raw.into(),
    )
    .expect("edited objects parse")
}

/// A copy of `object` changed by `edit`, with a higher member resource version (as a new
/// version of the object from its member cluster would have).
pub(crate) fn edited(object: &ResourceObject, edit: impl FnOnce(&mut Value)) -> ResourceObject {
    let mut value = object.to_value().expect("fixture objects are JSON");
    let rv = object.fields.resource_version_number().unwrap_or(0) + 1_000_003;
    value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
    edit(&mut value);
    reparse(object, &value)
}

/// A new object made from `template`: another name and a fresh uid (same cluster, namespace,
/// resource, labels and content).
pub(crate) fn renamed(template: &ResourceObject, name: &str) -> ResourceObject {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    edited(template, |v| {
        v["metadata"]["name"] = Value::String(name.to_owned());
        v["metadata"]["uid"] = Value::String(format!("c0fe0000-0000-4000-8000-{n:012x}"));
    })
}

/// The distinct namespaces of the fixture objects, sorted.
pub(crate) fn namespaces(harness: &Harness) -> Vec<String> {
    let mut namespaces: Vec<String> = harness
        .fixtures()
        .objects
        .iter()
        .map(|o| o.fields.namespace.clone())
        .filter(|ns| !ns.is_empty())
        .collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

/// The fixture object of `gvr` that comes first in key order (a stable pick).
pub(crate) fn first_fixture(harness: &Harness, gvr: &Gvr) -> ResourceObject {
    harness
        .fixtures()
        .of(gvr)
        .into_iter()
        .min_by_key(|o| o.fields.key())
        .cloned()
        .unwrap_or_else(|| panic!("no fixture object of {gvr}"))
}
