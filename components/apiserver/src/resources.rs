//! `.../resources[/clusters/<cluster>]/...`: a Kubernetes API root over what is stored, for all
//! clusters or one.
//!
//! - Discovery: `/api`, `/api/v1`, `/apis`, `/apis/<group>`, `/apis/<group>/<version>`, built
//!   from the stored resource types (of the cluster, or of all clusters).
//! - `/api/v1[/namespaces/<ns>]/<resource>` and `/apis/<g>/<v>[/namespaces/<ns>]/<resource>`:
//!   list (or `?watch=1`); with `/<name>`: get, only with a cluster.
//!
//! Errors, as the original answers them: a resource request for a cluster that stores nothing →
//! `400 the server could not find the requested cluster` (its discovery is that of all clusters,
//! see [`in_scope`]); a resource not stored (in that scope), a namespaced path
//! for a cluster-scoped resource, a subresource, `/clusters` or `/clusters/<c>` alone →
//! `404 the server could not find the requested resource`; get without a cluster → `400
//! please specify the cluster name ...`; a method other than GET → `405`; watch on a layer
//! without watch → `405`; a bad query → the `400` of the query parser.

use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use storage_api::query::params::RequestScope;
use storage_api::{ListPage, ResourceStorage};

use crate::catalog::Scope;
use crate::discovery::{self, ResourceInfo};
use crate::error::{ApiError, CLUSTER_NOT_FOUND, GET_NEEDS_CLUSTER};
use crate::list::{
    Paging, Render, list_json, list_response, partial_list_json, push_partial_object,
};
use crate::metrics::RequestInfo;
use crate::negotiate::{self, Representation};
use crate::request::{RequestQuery, ensure_read};
use crate::response::{json, respond};
use crate::state::AppState;
use crate::table::{ResourceTable, printer_for};
use crate::watch;

/// Handles a request below `.../resources` (`rest`: the path segments after it).
pub(crate) async fn handle(
    state: &AppState,
    method: &Method,
    query: &RequestQuery,
    rest: &[&str],
    user: Option<&crate::auth::User>,
) -> Response {
    let (cluster, rest) = match rest {
        ["clusters", cluster, rest @ ..] if !cluster.is_empty() && !rest.is_empty() => {
            (Some(*cluster), rest)
        }
        ["clusters", ..] => {
            return respond(
                RequestInfo::resource("get", "", ""),
                Err(ApiError::resource_not_found()),
            );
        }
        rest => (None, rest),
    };
    let discovery_info = RequestInfo::resource("get", "", "");
    match rest {
        ["version"] => respond(discovery_info, Ok(json(discovery::version()))),
        ["api"] => respond(
            discovery_info,
            in_scope(state, cluster, |_| Some(discovery::api_versions(&["v1"]))).await,
        ),
        ["api", "v1"] => respond(
            discovery_info,
            in_scope(state, cluster, |scope| Some(scope.core_v1())).await,
        ),
        ["apis"] => respond(
            discovery_info,
            in_scope(state, cluster, |scope| Some(scope.groups())).await,
        ),
        ["apis", group] => respond(
            discovery_info,
            in_scope(state, cluster, |scope| scope.group(group)).await,
        ),
        ["apis", group, version] => respond(
            discovery_info,
            in_scope(state, cluster, |scope| scope.group_version(group, version)).await,
        ),
        ["api", "v1", path @ ..] => {
            let target = Target {
                cluster,
                group: "",
                version: "v1",
            };
            resource(state, method, query, target, path, user).await
        }
        ["apis", group, version, path @ ..] => {
            let target = Target {
                cluster,
                group,
                version,
            };
            resource(state, method, query, target, path, user).await
        }
        _ => respond(discovery_info, Err(ApiError::resource_not_found())),
    }
}

/// Looks `find` up in the scope of `cluster`, refreshing the snapshot first when it misses.
/// `Err(400)` when the cluster is unknown, `Ok(None)` when `find` finds nothing.
async fn lookup<T>(
    state: &AppState,
    cluster: Option<&str>,
    find: impl Fn(&Scope) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    let snapshot = state
        .catalog
        .snapshot_for(|snapshot| snapshot.scope(cluster).and_then(&find).is_none())
        .await;
    match snapshot.scope(cluster) {
        None => Err(ApiError::bad_request(CLUSTER_NOT_FOUND)),
        Some(scope) => Ok(find(scope)),
    }
}

/// A discovery document of a scope; `404` when `find` finds nothing.
///
/// The discovery of a cluster that stores nothing is that of all clusters: client-go reads
/// discovery errors without decoding their `Status` (kubectl would print "the server rejected
/// our request for an unknown reason"), so the clear `400 the server could not find the
/// requested cluster` is given by the resource request that follows.
async fn in_scope(
    state: &AppState,
    cluster: Option<&str>,
    find: impl Fn(&Scope) -> Option<bytes::Bytes>,
) -> Result<Response, ApiError> {
    let snapshot = state
        .catalog
        .snapshot_for(|snapshot| snapshot.scope(cluster).and_then(&find).is_none())
        .await;
    let scope = snapshot.scope(cluster).unwrap_or(&snapshot.all);
    let body = find(scope).ok_or_else(ApiError::resource_not_found)?;
    Ok(json(body))
}

/// What the path of a resource request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ResourcePath<'a> {
    namespace: Option<&'a str>,
    resource: &'a str,
    name: Option<&'a str>,
    subresource: bool,
}

/// Reads `[namespaces/<ns>/]<resource>[/<name>[/<subresource>...]]` (`namespaces/<ns>` alone is
/// the namespace object itself).
fn resource_path<'a>(path: &[&'a str]) -> Option<ResourcePath<'a>> {
    let (namespace, path) = match path {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        path => (None, path),
    };
    let parsed = match path {
        [resource] => ResourcePath {
            namespace,
            resource,
            name: None,
            subresource: false,
        },
        [resource, name, rest @ ..] => ResourcePath {
            namespace,
            resource,
            name: Some(*name),
            subresource: !rest.is_empty(),
        },
        [] => return None,
    };
    let empty = parsed.resource.is_empty()
        || parsed.name.is_some_and(str::is_empty)
        || parsed.namespace.is_some_and(str::is_empty);
    (!empty).then_some(parsed)
}

/// The cluster (if any) and group version of a resource request's path.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    cluster: Option<&'a str>,
    group: &'a str,
    version: &'a str,
}

/// A request for a resource: where it points, its verb, its method and its query.
#[derive(Debug, Clone, Copy)]
struct ResourceRequest<'a> {
    target: Target<'a>,
    path: ResourcePath<'a>,
    /// `get`, `list` or `watch`.
    verb: &'static str,
    method: &'a Method,
    query: &'a RequestQuery,
    /// The authenticated user (for per-user results).
    user: Option<&'a crate::auth::User>,
}

async fn resource(
    state: &AppState,
    method: &Method,
    query: &RequestQuery,
    target: Target<'_>,
    path: &[&str],
    user: Option<&crate::auth::User>,
) -> Response {
    let Some(path) = resource_path(path) else {
        return respond(
            RequestInfo::resource("get", target.group, ""),
            Err(ApiError::resource_not_found()),
        );
    };
    let verb = if path.name.is_some() {
        "get"
    } else if query.watch {
        "watch"
    } else {
        "list"
    };
    let info = RequestInfo::resource(verb, target.group, path.resource);
    let request = ResourceRequest {
        target,
        path,
        verb,
        method,
        query,
        user,
    };
    respond(info, serve(state, request).await)
}

async fn serve(state: &AppState, request: ResourceRequest<'_>) -> Result<Response, ApiError> {
    let ResourceRequest {
        target: Target {
            cluster,
            group,
            version,
        },
        path,
        verb,
        method,
        query,
        user,
    } = request;
    let info = lookup(state, cluster, |scope| {
        scope.resource(group, version, path.resource).cloned()
    })
    .await?
    .ok_or_else(ApiError::resource_not_found)?;
    if path.subresource || (path.namespace.is_some() && !info.namespaced) {
        return Err(ApiError::resource_not_found());
    }
    ensure_read(method)?;
    if !state.catalog.supports(verb) {
        return Err(ApiError::method_not_allowed(format!(
            "{verb} is not supported by the storage layer for {}",
            info.gvr
        )));
    }
    let representation = query.representation()?;
    let include = query.include_object()?;
    let table = ResourceTable {
        printer: printer_for(group, path.resource),
        version: match representation {
            Representation::Table(version) => version,
            _ => negotiate::MetaVersion::V1,
        },
        include,
    };
    let storage = state.catalog.resource_storage(&info).await?;
    // Per-user results: where the member clusters' RBAC lets this user `verb` the resource.
    let access = match (&state.member_rbac, user) {
        (Some(member_rbac), Some(user)) => Some(
            member_rbac
                .scope(&state.catalog, user, verb, group, path.resource)
                .await?,
        ),
        _ => None,
    };

    if let Some(name) = path.name {
        let Some(cluster) = cluster else {
            return Err(ApiError::bad_request(GET_NEEDS_CLUSTER));
        };
        if access
            .as_ref()
            .is_some_and(|a| !a.allows(cluster, path.namespace.unwrap_or_default()))
        {
            // What the user may not see does not exist for them.
            return Err(ApiError::object_not_found(group, path.resource, name));
        }
        return get(
            &*storage,
            &info,
            representation,
            table,
            cluster,
            path.namespace,
            name,
        )
        .await;
    }

    let scope = RequestScope {
        cluster: cluster.map(str::to_owned),
        namespace: path.namespace.map(str::to_owned),
        access,
    };
    let options = query.list_options(&scope)?;
    if verb == "watch" {
        let timeout = query.timeout()?;
        let events = if query.send_initial_events()? {
            watch::with_initial_events(&*storage, &options).await?
        } else {
            storage.watch(&options).await?
        };
        let renderer = watch::Renderer::new(
            &info,
            representation,
            matches!(representation, Representation::Table(_)).then_some(table),
        );
        return Ok(watch::response(
            events,
            renderer,
            timeout,
            state.shutdown.clone(),
            state.metrics.watch_started(),
        ));
    }

    let render: Render = match representation {
        Representation::Json => {
            let (kind, api_version) = (info.kind.clone(), info.gvr.api_version());
            Box::new(move |page| Ok(list_json(&kind, &api_version, page)))
        }
        Representation::Table(_) => Box::new(move |page| table.render(page, true)),
        Representation::PartialMetadata(version) => {
            Box::new(move |page| partial_list_json(version, page))
        }
    };
    list_response(storage, options, Paging::DEFAULT, render).await
}

async fn get(
    storage: &dyn ResourceStorage,
    info: &Arc<ResourceInfo>,
    representation: Representation,
    table: ResourceTable,
    cluster: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Response, ApiError> {
    let object = match storage
        .get(cluster, namespace.unwrap_or_default(), name)
        .await
    {
        Ok(object) => object,
        Err(error) if error.is_not_found() => {
            return Err(ApiError::object_not_found(
                &info.gvr.group,
                &info.gvr.resource,
                name,
            ));
        }
        Err(error) => return Err(error.into()),
    };
    Ok(json(match representation {
        Representation::Json => object.raw.to_vec(),
        Representation::Table(_) => table.render(
            &ListPage {
                items: vec![object],
                ..ListPage::default()
            },
            true,
        )?,
        Representation::PartialMetadata(version) => {
            let mut out = Vec::new();
            push_partial_object(&mut out, version, &object)?;
            out
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths() {
        let p = |path: &[&'static str]| resource_path(path);
        assert_eq!(
            p(&["pods"]),
            Some(ResourcePath {
                namespace: None,
                resource: "pods",
                name: None,
                subresource: false
            })
        );
        assert_eq!(
            p(&["namespaces", "ns", "pods"]),
            Some(ResourcePath {
                namespace: Some("ns"),
                resource: "pods",
                name: None,
                subresource: false
            })
        );
        assert_eq!(
            p(&["namespaces", "ns", "pods", "web"]),
            Some(ResourcePath {
                namespace: Some("ns"),
                resource: "pods",
                name: Some("web"),
                subresource: false
            })
        );
        assert_eq!(
            p(&["namespaces", "ns", "pods", "web", "log"]),
            Some(ResourcePath {
                namespace: Some("ns"),
                resource: "pods",
                name: Some("web"),
                subresource: true
            })
        );
        assert_eq!(
            p(&["namespaces", "ns"]),
            Some(ResourcePath {
                namespace: None,
                resource: "namespaces",
                name: Some("ns"),
                subresource: false
            })
        );
        assert_eq!(
            p(&["namespaces"]),
            Some(ResourcePath {
                namespace: None,
                resource: "namespaces",
                name: None,
                subresource: false
            })
        );
        assert_eq!(
            p(&["nodes", "n1"]),
            Some(ResourcePath {
                namespace: None,
                resource: "nodes",
                name: Some("n1"),
                subresource: false
            })
        );
        assert_eq!(p(&[]), None);
        assert_eq!(p(&["pods", ""]), None);
        assert_eq!(p(&["namespaces", "", "pods"]), None);
    }
}
