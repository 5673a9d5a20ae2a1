//! `.../collectionresources`: the collection resources of the storage layer (`any`,
//! `workloads`, `kuberesources`), and `.../collectionresources/<name>?<query>`: one page of
//! the objects of every type of the collection, in one order (reference §3.9, §5.7).
//!
//! JSON as the original writes it (`CollectionResourceList`, `CollectionResource` with
//! `resourceTypes`, `items`, `continue`, `remainingItemCount`), or a `Table`: `Name`,
//! `Resources` for the list; `Cluster`, `Group`, `Version`, `Kind`, `Namespace`, `Name`, `Age`
//! for a collection's objects.

use axum::http::Method;
use axum::response::Response;
use serde::Serialize;
use storage_api::collection::{self, CollectionResource, CollectionResourceType};
use storage_api::query::params::RequestScope;
use storage_api::{Gvr, ListPage, StoredResourceType};

use crate::auth::User;
use crate::discovery::GROUP_VERSION;
use crate::error::ApiError;
use crate::list::{MAX_LIMIT, metadata_of, push_json_str, push_partial_object};
use crate::member_rbac::MemberRbac;
use crate::metrics::RequestInfo;
use crate::negotiate::{IncludeObject, MetaVersion, Representation};
use crate::request::{RequestQuery, ensure_read};
use crate::response::{json, respond};
use crate::state::AppState;
use crate::table::{AGE, Cell, Column, Context, NAME, RowObject, builder, column, format};

mod per_user;

/// The resource name of collection resources.
const RESOURCE: &str = "collectionresources";

/// One type of a collection, as the original's `CollectionResourceType` JSON writes it.
#[derive(Debug, Serialize)]
struct WireType<'a> {
    group: &'a str,
    version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
    resource: &'a str,
}

impl<'a> From<&'a CollectionResourceType> for WireType<'a> {
    fn from(t: &'a CollectionResourceType) -> Self {
        Self {
            group: &t.group,
            version: &t.version,
            kind: "",
            resource: &t.resource,
        }
    }
}

impl<'a> From<&'a StoredResourceType> for WireType<'a> {
    fn from(t: &'a StoredResourceType) -> Self {
        Self {
            group: &t.gvr.group,
            version: &t.gvr.version,
            kind: &t.kind,
            resource: &t.gvr.resource,
        }
    }
}

#[derive(Debug, Serialize)]
struct Name<'a> {
    name: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Definition<'a> {
    metadata: Name<'a>,
    resource_types: Vec<WireType<'a>>,
}

/// Handles `.../collectionresources[/<name>]` (`rest`: the segments after it).
pub(crate) async fn handle(
    state: &AppState,
    method: &Method,
    query: &RequestQuery,
    rest: &[&str],
    user: Option<&User>,
) -> Response {
    let verb = if rest.is_empty() { "list" } else { "get" };
    let info = RequestInfo::resource(verb, crate::discovery::GROUP, RESOURCE);
    let result = match ensure_read(method) {
        Err(error) => Err(error),
        Ok(()) => match rest {
            [] => definitions(state, query),
            [name] if !name.is_empty() => search(state, query, name, user).await,
            _ => Err(ApiError::resource_not_found()),
        },
    };
    respond(info, result)
}

/// The `Resources` cell of a collection: its types as `resource.group`, `*` for whole groups.
fn resources_cell(collection: &CollectionResource) -> String {
    if collection.resource_types.is_empty() {
        return "*".into();
    }
    collection
        .resource_types
        .iter()
        .map(|t| {
            let resource = if t.resource.is_empty() {
                "*"
            } else {
                &t.resource
            };
            if t.group.is_empty() || t.is_all() {
                resource.to_owned()
            } else {
                format!("{resource}.{}", t.group)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn definitions(state: &AppState, query: &RequestQuery) -> Result<Response, ApiError> {
    let collections = state.catalog.storage().collection_resources();
    let representation = query.representation()?;
    let wire: Vec<Definition<'_>> = collections
        .iter()
        .map(|c| Definition {
            metadata: Name { name: &c.name },
            resource_types: c.resource_types.iter().map(WireType::from).collect(),
        })
        .collect();
    match representation {
        Representation::Table(version) => {
            const COLUMNS: &[Column] = &[
                NAME,
                column(
                    "Resources",
                    "string",
                    "The resource types of the collection.",
                ),
            ];
            let include = query.include_object()?;
            let mut table = builder(version, &ListPage::default(), COLUMNS, 1024);
            for (collection, definition) in collections.iter().zip(&wire) {
                let object = definition_json(definition)?;
                let metadata = serde_json::value::to_raw_value(&Name {
                    name: &collection.name,
                })
                .map_err(|e| ApiError::internal(e.to_string()))?;
                let row_object = match include {
                    IncludeObject::None => RowObject::None,
                    IncludeObject::Object => RowObject::Raw(&object),
                    IncludeObject::Metadata => RowObject::Metadata(&metadata),
                };
                table.row(
                    &[
                        Cell::Str(collection.name.clone()),
                        Cell::Str(resources_cell(collection)),
                    ],
                    "",
                    row_object,
                );
            }
            Ok(json(table.finish()))
        }
        _ => {
            let mut out = Vec::new();
            out.extend_from_slice(b"{\"kind\":\"CollectionResourceList\",\"apiVersion\":\"");
            out.extend_from_slice(GROUP_VERSION.as_bytes());
            out.extend_from_slice(b"\",\"metadata\":{},\"items\":[");
            for (i, definition) in wire.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&definition_json(definition)?);
            }
            out.extend_from_slice(b"]}");
            Ok(json(out))
        }
    }
}

fn definition_json(definition: &Definition<'_>) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(definition).map_err(|e| ApiError::internal(e.to_string()))
}

async fn search(
    state: &AppState,
    query: &RequestQuery,
    name: &str,
    user: Option<&User>,
) -> Result<Response, ApiError> {
    let collection = state
        .catalog
        .storage()
        .collection_resources()
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ApiError::object_not_found(crate::discovery::GROUP, RESOURCE, name))?;
    let types = if collection.name == collection::ANY {
        collection::parse_any_types(query.raw())?
    } else {
        collection.resource_types.clone()
    };
    let representation = query.representation()?;
    let include = query.include_object()?;
    let storage = state.catalog.collection_storage(&collection).await?;
    let result = match (&state.member_rbac, user) {
        (Some(member_rbac), Some(user)) => {
            let groups = access_groups(state, member_rbac, user, &types).await?;
            per_user::list(&*storage, query, &groups, MAX_LIMIT).await?
        }
        _ => {
            let mut options = query.list_options(&RequestScope::default())?;
            cut_to_a_page(&mut options, MAX_LIMIT);
            storage.list(&types, &options).await?
        }
    };
    let page = &result.page;

    if let Representation::Table(version) = representation {
        return Ok(json(items_table(version, include, page)?));
    }
    let capacity: usize = page.items.iter().map(|i| i.raw.len() + 1).sum();
    let mut out = Vec::with_capacity(capacity + 512);
    out.extend_from_slice(b"{\"kind\":\"CollectionResource\",\"apiVersion\":\"");
    out.extend_from_slice(GROUP_VERSION.as_bytes());
    out.extend_from_slice(b"\",\"metadata\":{\"name\":");
    push_json_str(&mut out, &collection.name);
    out.extend_from_slice(b"},\"resourceTypes\":");
    let wire: Vec<WireType<'_>> = result.resource_types.iter().map(WireType::from).collect();
    out.extend_from_slice(
        &serde_json::to_vec(&wire).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match representation {
            Representation::PartialMetadata(version) => {
                push_partial_object(&mut out, version, item)?;
            }
            _ => out.extend_from_slice(&item.raw),
        }
    }
    out.push(b']');
    if let Some(token) = &page.continue_token {
        out.extend_from_slice(b",\"continue\":");
        push_json_str(&mut out, token);
    }
    if let Some(remaining) = page.remaining_item_count {
        out.extend_from_slice(b",\"remainingItemCount\":");
        out.extend_from_slice(remaining.to_string().as_bytes());
    }
    out.push(b'}');
    Ok(json(out))
}

/// The stored resource types `types` stand for, grouped by where `user` may `list` them in the
/// member clusters (per-user results): one [`AccessScope`] per group, each type in the group
/// of its scope, types the user may list nowhere left out; groups and types in a stable order.
async fn access_groups(
    state: &AppState,
    member_rbac: &MemberRbac,
    user: &User,
    types: &[CollectionResourceType],
) -> Result<Vec<per_user::Group>, ApiError> {
    let mut snapshot = state.catalog.current();
    if !snapshot.loaded {
        snapshot = state.catalog.refresh().await?;
    }
    let mut gvrs: Vec<&Gvr> = snapshot
        .all
        .gvrs()
        .filter(|gvr| types.iter().any(|t| t.matches(gvr)))
        .collect();
    gvrs.sort();
    let mut groups: Vec<per_user::Group> = Vec::new();
    for gvr in gvrs {
        let scope = member_rbac
            .scope(&state.catalog, user, "list", &gvr.group, &gvr.resource)
            .await?;
        if scope.clusters.is_empty() {
            continue;
        }
        let t = CollectionResourceType::new(&gvr.group, &gvr.version, &gvr.resource);
        match groups.iter_mut().find(|g| g.scope == scope) {
            Some(group) => group.types.push(t),
            None => groups.push(per_user::Group {
                scope,
                types: vec![t],
            }),
        }
    }
    Ok(groups)
}

/// As for resources, a page holds at most `max_limit` items, with a continue token for the
/// rest; here a list without a limit is cut too (not streamed: `resourceTypes`, which comes
/// before the items, names the types of all of them, so the whole list would have to be read
/// first), so that a request's memory does not grow with the collection.
fn cut_to_a_page(options: &mut storage_api::ListOptions, max_limit: u64) {
    if options.limit.is_none() {
        options.with_continue = true;
    }
    options.limit = Some(options.limit.unwrap_or(max_limit).min(max_limit));
}

/// The table of a collection's objects.
fn items_table(
    version: MetaVersion,
    include: IncludeObject,
    page: &ListPage,
) -> Result<Vec<u8>, ApiError> {
    const COLUMNS: &[Column] = &[
        column(
            "Cluster",
            "string",
            "The member cluster the object is synced from.",
        ),
        column("Group", "string", "The API group of the object."),
        column("Version", "string", "The API version of the object."),
        column("Kind", "string", "The kind of the object."),
        column("Namespace", "string", "The namespace of the object."),
        NAME,
        AGE,
    ];
    let context = Context::now();
    let mut table = builder(version, page, COLUMNS, page.items.len() * 1024);
    for object in &page.items {
        let fields = &object.fields;
        let cells = [
            Cell::Str(fields.cluster.to_string()),
            Cell::Str(fields.gvr.group.clone()),
            Cell::Str(fields.gvr.version.clone()),
            Cell::Str(fields.kind.to_string()),
            Cell::Str(fields.namespace.clone()),
            Cell::Str(fields.name.clone()),
            Cell::Str(format::since(fields.creation_timestamp, context.now)),
        ];
        let row_object = match include {
            IncludeObject::None => RowObject::None,
            IncludeObject::Object => RowObject::Raw(&object.raw),
            IncludeObject::Metadata => RowObject::Metadata(metadata_of(object)?),
        };
        table.row(&cells, "", row_object);
    }
    Ok(table.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_cells_of_the_builtin_collections() {
        let cells: Vec<(String, String)> = collection::builtin()
            .iter()
            .map(|c| (c.name.clone(), resources_cell(c)))
            .collect();
        assert_eq!(cells[0], ("any".into(), "*".into()));
        assert_eq!(
            cells[1],
            (
                "workloads".into(),
                "deployments.apps,daemonsets.apps,statefulsets.apps".into()
            )
        );
        assert!(
            cells[2].1.starts_with("*,*.admission.k8s.io,"),
            "{}",
            cells[2].1
        );
    }
}
