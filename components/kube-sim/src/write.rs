//! Writes: create, update (PUT), patch (merge, JSON, strategic; server-side apply answers
//! 415), delete (finalizers, propagation, namespaces and CRDs), delete-collection, and the
//! `status` subresource, with the rules of a kube-apiserver:
//!
//! - the server sets `uid`, `creationTimestamp`, `resourceVersion`, `generation` and
//!   `managedFields`; `generateName` makes a name;
//! - `apiVersion`/`kind` must match the path, the name of the body the name of the path, the
//!   namespace of the body the namespace of the path, and namespaced objects need an existing,
//!   non-terminating namespace;
//! - updates are optimistic: a stale `metadata.resourceVersion` is a `409 Conflict`; custom
//!   resources need one; an update that changes nothing writes nothing;
//! - the main resource ignores `status` changes and the `status` subresource everything but
//!   `status`, when the subresource exists;
//! - deleting an object with finalizers sets `deletionTimestamp` and keeps it until an update
//!   removes the last finalizer; no finalizer can be added meanwhile;
//! - dependents (by `ownerReferences`) are deleted after their owner, unless the propagation
//!   policy is `Orphan`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::{Query, Target};
use crate::error::{ApiError, ApiResult, bytes_response, json_response};
use crate::meta::{finalizers, generate_name, meta_str, metadata_mut, new_uid, now_rfc3339};
use crate::resources::{Builtin, ResourceDef};
use crate::schema::Cause;
use crate::state::State;
use crate::store::WriteError;
use crate::validate;

/// Namespaces that cannot be deleted.
const UNDELETABLE_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// How unknown fields are treated (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Options common to writes.
#[derive(Debug, Clone)]
struct WriteOptions {
    dry_run: bool,
    field_manager: String,
    validation: FieldValidation,
}

fn write_options(query: &Query, headers: &HeaderMap) -> ApiResult<WriteOptions> {
    let dry_run = match query.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "CreateOptions",
                "",
                &[(
                    "FieldValueNotSupported",
                    "dryRun".into(),
                    format!("Unsupported value: \"{other}\": supported values: \"All\""),
                )],
            ));
        }
    };
    let validation = match query.get("fieldValidation").map(String::as_str) {
        None | Some("" | "Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\" but got {other:?}"
            )));
        }
    };
    let field_manager = match query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(manager) => {
            if manager.len() > 128 {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "CreateOptions",
                    "",
                    &[(
                        "FieldValueTooLong",
                        "fieldManager".into(),
                        "Too long: may not be more than 128 bytes".into(),
                    )],
                ));
            }
            manager.clone()
        }
        None => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|p| !p.is_empty())
            .unwrap_or("unknown")
            .chars()
            .take(128)
            .collect(),
    };
    Ok(WriteOptions {
        dry_run,
        field_manager,
        validation,
    })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn decode_json(body: &Bytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the body of the request was empty"));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

fn decode_object(headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    match content_type(headers).as_str() {
        "application/json" | "" | "*/*" => decode_json(body),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn invalid(def: &ResourceDef, name: &str, causes: &[Cause]) -> ApiError {
    ApiError::invalid(&def.group, &def.kind, name, causes)
}

/// Checks (or, for built-ins, fills) `apiVersion` and `kind`, and stores the storage version.
fn type_meta(target: &Target, object: &mut Value) -> ApiResult<()> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    let expected_version = target.api_version();
    let def = &target.def;
    for (field, expected) in [
        ("apiVersion", expected_version.as_str()),
        ("kind", def.kind.as_str()),
    ] {
        match map
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            None if def.is_custom() => {
                let field = if field == "kind" {
                    "Kind"
                } else {
                    "apiVersion"
                };
                return Err(ApiError::bad_request(format!(
                    "Object '{field}' is missing in '{}'",
                    Value::Object(map.clone())
                )));
            }
            None => {
                map.insert(field.into(), json!(expected));
            }
            Some(found) if found != expected => {
                let what = if field == "kind" {
                    "kind"
                } else {
                    "API version"
                };
                return Err(ApiError::bad_request(format!(
                    "the {what} in the data ({found}) does not match the expected {what} ({expected})"
                )));
            }
            Some(_) => {}
        }
    }
    map.insert(
        "apiVersion".into(),
        json!(def.api_version(&def.storage_version)),
    );
    Ok(())
}

/// Upserts the `managedFields` entry of `manager`.
fn record_manager(
    object: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let mut fields = Map::new();
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    let mut meta = Map::new();
                    for part in ["labels", "annotations", "finalizers", "ownerReferences"] {
                        if let Some(Value::Object(entries)) = value.get(part) {
                            let mut keys = Map::new();
                            keys.insert(".".into(), json!({}));
                            for k in entries.keys() {
                                keys.insert(format!("f:{k}"), json!({}));
                            }
                            meta.insert(format!("f:{part}"), Value::Object(keys));
                        } else if value.get(part).is_some() {
                            meta.insert(format!("f:{part}"), json!({}));
                        }
                    }
                    if !meta.is_empty() {
                        fields.insert("f:metadata".into(), Value::Object(meta));
                    }
                }
                "status" if subresource.is_none() => {}
                _ if subresource == Some("status") && key != "status" => {}
                _ => {
                    fields.insert(format!("f:{key}"), json!({}));
                }
            }
        }
    }
    let mut entry = json!({
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(sub) = subresource {
        entry["subresource"] = json!(sub);
    }
    let Some(meta) = metadata_mut(object) else {
        return;
    };
    let list = meta
        .entry("managedFields")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(entries) = list {
        entries.retain(|e| {
            !(e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Update")
                && e.get("subresource").and_then(Value::as_str) == subresource)
        });
        entries.push(entry);
    }
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    copy
}

/// Applies the kind's defaults, validation, typed decoding or schema; returns warnings.
fn admit(
    target: &Target,
    options: &WriteOptions,
    object: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Vec<String>> {
    let def = &target.def;
    let name = meta_str(object, "name").unwrap_or_default().to_owned();
    let mut causes = validate::metadata(def, object);
    let mut dropped = Vec::new();
    match def.builtin {
        Some(builtin) => {
            validate::defaults(builtin, object, old.is_none());
            let (decoded, lost) = validate::typed(builtin, object.clone()).map_err(|e| {
                if e.starts_with("missing field") {
                    invalid(
                        def,
                        &name,
                        &[(
                            "FieldValueRequired",
                            String::new(),
                            format!("Required value: {e}"),
                        )],
                    )
                } else {
                    ApiError::bad_request(format!(
                        "{} in version \"{}\" cannot be handled as a {}: {e}",
                        def.kind, target.version, def.kind
                    ))
                }
            })?;
            *object = decoded;
            dropped = lost;
            causes.extend(validate::builtin(builtin, object, old));
        }
        None => {
            if let Some(schema) = def.version(&target.version).and_then(|v| v.schema.clone()) {
                let before = object.clone();
                causes.extend(schema.apply_to_object(object));
                validate::dropped_fields(&before, object, "", &mut dropped);
            }
        }
    }
    if !causes.is_empty() {
        return Err(invalid(def, &name, &causes));
    }
    let dropped: Vec<String> = dropped
        .into_iter()
        .filter(|p| !p.starts_with("metadata.") || p.starts_with("metadata.managedFields"))
        .filter(|p| !p.starts_with("metadata.managedFields"))
        .collect();
    match options.validation {
        FieldValidation::Strict if !dropped.is_empty() => {
            let list: Vec<String> = dropped
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect();
            Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                list.join(", ")
            )))
        }
        FieldValidation::Warn => Ok(dropped
            .iter()
            .map(|p| format!("unknown field \"{p}\""))
            .collect()),
        _ => Ok(Vec::new()),
    }
}

fn respond(code: StatusCode, target: &Target, raw: Bytes, warnings: &[String]) -> Response<Body> {
    let mut response = bytes_response(code, target.view(raw));
    for warning in warnings {
        let text = format!("299 - \"{}\"", warning.replace('"', "\\\""));
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn encode(object: &Value) -> ApiResult<Bytes> {
    serde_json::to_vec(object)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn parse_stored(raw: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(raw).map_err(|e| ApiError::internal(e.to_string()))
}

/// Checks that a namespace exists and is not terminating, for creates in it.
fn check_namespace(
    state: &Arc<State>,
    namespace: &str,
    def: &ResourceDef,
    name: &str,
) -> ApiResult<()> {
    let Some(stored) = state.store.get("namespaces", namespace) else {
        return Err(ApiError::not_found("", "namespaces", namespace));
    };
    let value = parse_stored(&stored.raw)?;
    if value.pointer("/metadata/deletionTimestamp").is_some() {
        let mut error = ApiError::forbidden(
            &def.group,
            &def.plural,
            name,
            &format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
        );
        error.set_details(
            (&def.group, &def.plural, name),
            &[(
                "NamespaceTerminating",
                "metadata.namespace",
                &format!("namespace {namespace} is being terminated"),
            )],
        );
        return Err(error);
    }
    Ok(())
}

/// Sets and checks the namespace of a body against the path.
fn namespace_of(target: &Target, object: &mut Value) -> ApiResult<()> {
    let def = &target.def;
    let Some(meta) = metadata_mut(object) else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    if def.namespaced {
        let path_ns = target.namespace.clone().unwrap_or_default();
        match meta
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            None => {
                meta.insert("namespace".into(), json!(path_ns));
            }
            Some(ns) if ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            Some(_) => {}
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// Handles POST on a collection.
pub(crate) fn create(
    state: &Arc<State>,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response<Body>> {
    let options = write_options(query, headers)?;
    let mut object = decode_object(headers, &body)?;
    type_meta(target, &mut object)?;
    namespace_of(target, &mut object)?;
    let def = &target.def;
    let now = now_rfc3339();
    let Some(meta) = metadata_mut(&mut object) else {
        return Err(ApiError::bad_request("metadata must be an object"));
    };
    if meta
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name = match meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(name) => name.to_owned(),
        None => match meta
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(base) => {
                let name = state.with_rng(|rng| generate_name(rng, base));
                meta.insert("name".into(), json!(name));
                name
            }
            None => String::new(),
        },
    };
    meta.insert("uid".into(), json!(state.with_rng(new_uid)));
    meta.insert("creationTimestamp".into(), json!(now));
    for cleared in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "resourceVersion",
    ] {
        meta.remove(cleared);
    }
    if def.generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if def.namespaced {
        let namespace = target.namespace.as_deref().unwrap_or_default();
        check_namespace(state, namespace, def, &name)?;
    }
    // The status of a resource with a status subresource cannot be set on create.
    if def.is_custom()
        && def.version(&target.version).is_some_and(|v| v.status)
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
    if def.builtin == Some(Builtin::CustomResourceDefinition) {
        let status = crate::crds::established_status(&object, &now);
        object["status"] = status;
    }
    let warnings = admit(target, &options, &mut object, None)?;
    record_manager(
        &mut object,
        &options.field_manager,
        &target.api_version(),
        None,
        &now,
    );
    if options.dry_run {
        return Ok(respond(
            StatusCode::CREATED,
            target,
            encode(&object)?,
            &warnings,
        ));
    }
    let key = crate::meta::object_key(
        target.namespace.as_deref().filter(|_| def.namespaced),
        &name,
    );
    let committed = state
        .store
        .create(&def.id, &key, object)
        .map_err(|e| match e {
            WriteError::Exists => ApiError::already_exists(&def.group, &def.plural, &name),
            other => ApiError::internal(format!("{other:?}")),
        })?;
    if def.builtin == Some(Builtin::CustomResourceDefinition) {
        state.refresh_catalog();
    }
    Ok(respond(
        StatusCode::CREATED,
        target,
        committed.raw,
        &warnings,
    ))
}

/// The outcome of an update attempt.
enum Prepared {
    /// Nothing changes: answer the current object.
    Unchanged,
    /// Write this object.
    Write(Value),
}

/// Builds the object an update writes from the current one and the submitted one.
fn prepare_update(
    target: &Target,
    options: &WriteOptions,
    current: &Value,
    mut new: Value,
) -> ApiResult<(Prepared, Vec<String>)> {
    let def = &target.def;
    let name = target.name.clone().unwrap_or_default();
    type_meta(target, &mut new)?;
    let body_name = meta_str(&new, "name").unwrap_or_default().to_owned();
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    namespace_of(target, &mut new)?;
    let uid = meta_str(current, "uid").unwrap_or_default().to_owned();
    if let Some(body_uid) = meta_str(&new, "uid").filter(|u| !u.is_empty())
        && body_uid != uid
    {
        return Err(ApiError::conflict_because(
            &def.group,
            &def.plural,
            &name,
            &format!(
                "Precondition failed: UID in precondition: {body_uid}, UID in object meta: {uid}"
            ),
        ));
    }
    let subresource = target.subresource.as_deref();
    let status_subresource = def.version(&target.version).is_some_and(|v| v.status);
    match subresource {
        Some("status") => {
            let status = new.get("status").cloned();
            let managed = new.pointer("/metadata/managedFields").cloned();
            let mut merged = current.clone();
            match status {
                Some(status) => merged["status"] = status,
                None => {
                    if let Some(map) = merged.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
            if let (Some(managed), Some(meta)) = (managed, metadata_mut(&mut merged)) {
                meta.insert("managedFields".into(), managed);
            }
            new = merged;
        }
        Some("finalize") => {
            let finalizers = new.pointer("/spec/finalizers").cloned();
            let mut merged = current.clone();
            match finalizers {
                Some(f) => merged["spec"]["finalizers"] = f,
                None => {
                    if let Some(spec) = merged.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("finalizers");
                    }
                }
            }
            new = merged;
        }
        _ if status_subresource => match current.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        },
        _ => {}
    }
    // Server-owned metadata comes from the current object.
    {
        let current_meta = current
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Some(meta) = metadata_mut(&mut new) else {
            return Err(ApiError::bad_request("metadata must be an object"));
        };
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
            "resourceVersion",
        ] {
            match current_meta.get(field) {
                Some(value) => {
                    meta.insert(field.into(), value.clone());
                }
                None => {
                    meta.remove(field);
                }
            }
        }
        meta.remove("selfLink");
        if !meta.contains_key("managedFields")
            && let Some(managed) = current_meta.get("managedFields")
        {
            meta.insert("managedFields".into(), managed.clone());
        }
    }
    if current.pointer("/metadata/deletionTimestamp").is_some() {
        let old = finalizers(current);
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !old.contains(f))
            .collect();
        if !added.is_empty() {
            return Err(invalid(
                def,
                &name,
                &[(
                    "FieldValueForbidden",
                    "metadata.finalizers".into(),
                    format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{}\"}}",
                        added.join("\", \"")
                    ),
                )],
            ));
        }
    }
    if def.builtin == Some(Builtin::CustomResourceDefinition) && subresource.is_none() {
        let mut status = crate::crds::established_status(&new, &now_rfc3339());
        if let Some(stored) = current
            .pointer("/status/storedVersions")
            .and_then(Value::as_array)
        {
            let mut versions = stored.clone();
            for v in status["storedVersions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if !versions.contains(&v) {
                    versions.push(v);
                }
            }
            status["storedVersions"] = Value::Array(versions);
        }
        if let Some(conditions) = current.pointer("/status/conditions") {
            status["conditions"] = conditions.clone();
        }
        new["status"] = status;
    }
    let warnings = admit(target, options, &mut new, Some(current))?;
    if def.generation {
        let strip = |v: &Value| {
            let mut copy = v.clone();
            if let Some(map) = copy.as_object_mut() {
                map.remove("metadata");
                if status_subresource || def.builtin.is_some() {
                    map.remove("status");
                }
            }
            copy
        };
        if strip(&new) != strip(current) {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            if let Some(meta) = metadata_mut(&mut new) {
                meta.insert("generation".into(), json!(generation));
            }
        }
    }
    if without_managed_fields(&new) == without_managed_fields(current) {
        return Ok((Prepared::Unchanged, warnings));
    }
    record_manager(
        &mut new,
        &options.field_manager,
        &target.api_version(),
        subresource,
        &now_rfc3339(),
    );
    Ok((Prepared::Write(new), warnings))
}

/// The shared update loop: reads the current object, builds the new one with `build` and
/// writes it if the object did not change meanwhile (retrying when the caller gave no
/// resource version).
fn update_with(
    state: &Arc<State>,
    target: &Target,
    options: &WriteOptions,
    mut build: impl FnMut(&Value) -> ApiResult<(Value, Option<u64>)>,
) -> ApiResult<Response<Body>> {
    let def = &target.def;
    let name = target.name.clone().unwrap_or_default();
    let key = target.key();
    for _ in 0..16 {
        let stored = state
            .store
            .get(&def.id, &key)
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, &name))?;
        let current = parse_stored(&stored.raw)?;
        let (new, precondition) = build(&current)?;
        if let Some(rv) = precondition
            && rv != stored.revision
        {
            return Err(ApiError::conflict(&def.group, &def.plural, &name));
        }
        let (prepared, warnings) = prepare_update(target, options, &current, new)?;
        let new = match prepared {
            Prepared::Unchanged => {
                return Ok(respond(StatusCode::OK, target, stored.raw, &warnings));
            }
            Prepared::Write(new) => new,
        };
        let finished =
            new.pointer("/metadata/deletionTimestamp").is_some() && finalizers(&new).is_empty();
        if options.dry_run {
            return Ok(respond(StatusCode::OK, target, encode(&new)?, &warnings));
        }
        match state.store.update(&def.id, &key, stored.revision, new) {
            Ok(committed) => {
                let mut raw = committed.raw;
                if finished
                    && let Ok(deleted) = state.store.delete(&def.id, &key, Some(committed.revision))
                {
                    raw = deleted.raw;
                    after_delete(state, def, &key, &raw, "Background");
                }
                if def.builtin == Some(Builtin::CustomResourceDefinition) {
                    state.refresh_catalog();
                }
                return Ok(respond(StatusCode::OK, target, raw, &warnings));
            }
            Err(WriteError::Conflict) if precondition.is_none() => continue,
            Err(WriteError::Conflict) => {
                return Err(ApiError::conflict(&def.group, &def.plural, &name));
            }
            Err(WriteError::NotFound) => {
                return Err(ApiError::not_found(&def.group, &def.plural, &name));
            }
            Err(other) => return Err(ApiError::internal(format!("{other:?}"))),
        }
    }
    Err(ApiError::conflict(&def.group, &def.plural, &name))
}

fn body_revision(object: &Value) -> ApiResult<Option<u64>> {
    match meta_str(object, "resourceVersion").filter(|rv| !rv.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text}"))),
    }
}

/// Handles PUT on an object or its status.
pub(crate) fn update(
    state: &Arc<State>,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response<Body>> {
    let options = write_options(query, headers)?;
    let object = decode_object(headers, &body)?;
    let precondition = body_revision(&object)?;
    let def = &target.def;
    if precondition.is_none() && !def.unconditional_update {
        let name = target.name.clone().unwrap_or_default();
        return Err(invalid(
            def,
            &name,
            &[(
                "FieldValueInvalid",
                "metadata.resourceVersion".into(),
                "Invalid value: 0x0: must be specified for an update".into(),
            )],
        ));
    }
    update_with(state, target, &options, |_| {
        Ok((object.clone(), precondition))
    })
}

/// Handles PATCH on an object or its status.
pub(crate) fn patch(
    state: &Arc<State>,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response<Body>> {
    let options = write_options(query, headers)?;
    let kind = content_type(headers);
    let def = &target.def;
    let patch = match kind.as_str() {
        "application/merge-patch+json" | "application/json-patch+json" => decode_json(&body)?,
        "application/strategic-merge-patch+json" if def.is_custom() => {
            return Err(ApiError::unsupported_media_type(&kind));
        }
        "application/strategic-merge-patch+json" => decode_json(&body)?,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            return Err(ApiError::unsupported_media_type(&kind));
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    update_with(state, target, &options, |current| {
        let mut patched = current.clone();
        match kind.as_str() {
            "application/merge-patch+json" => crate::patch::merge_patch(&mut patched, &patch),
            "application/json-patch+json" => {
                crate::patch::json_patch(&mut patched, &patch).map_err(|e| {
                    ApiError::invalid(
                        "",
                        "",
                        "",
                        &[(
                            "FieldValueInvalid",
                            "patch".into(),
                            format!("Invalid value: \"{}\": {e}", patch),
                        )],
                    )
                })?;
            }
            _ => crate::patch::strategic_merge(&mut patched, &patch)
                .map_err(ApiError::bad_request)?,
        }
        // A resource version set by the patch is a precondition on the current object.
        let current_rv = meta_str(current, "resourceVersion").unwrap_or_default();
        if meta_str(&patched, "resourceVersion").is_some_and(|rv| rv != current_rv) {
            body_revision(&patched)?;
            let name = target.name.clone().unwrap_or_default();
            return Err(ApiError::conflict(&def.group, &def.plural, &name));
        }
        Ok((patched, None))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOptions {
    #[serde(default)]
    grace_period_seconds: Option<i64>,
    #[serde(default)]
    propagation_policy: Option<String>,
    #[serde(default)]
    orphan_dependents: Option<bool>,
    #[serde(default)]
    preconditions: Option<Preconditions>,
    #[serde(default)]
    dry_run: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

fn delete_options(query: &Query, body: &Bytes) -> ApiResult<DeleteOptions> {
    let mut options: DeleteOptions = if body.is_empty() {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    if let Some(policy) = query.get("propagationPolicy") {
        options.propagation_policy = Some(policy.clone());
    }
    if let Some(grace) = query.get("gracePeriodSeconds") {
        options.grace_period_seconds = grace.parse().ok();
    }
    if query.get("dryRun").is_some_and(|d| d == "All") {
        options.dry_run = Some(vec!["All".into()]);
    }
    if let Some(policy) = &options.propagation_policy
        && !matches!(policy.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            &[(
                "FieldValueNotSupported",
                "propagationPolicy".into(),
                format!(
                    "Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            )],
        ));
    }
    Ok(options)
}

/// The result of deleting one object.
struct Deleted {
    raw: Bytes,
    /// Whether the object is gone (else it waits for finalizers or its contents).
    gone: bool,
}

/// Deletes one object: marks it when it has finalizers (or is a namespace), removes it
/// otherwise, and then collects its dependents.
fn delete_object(
    state: &Arc<State>,
    def: &Arc<ResourceDef>,
    key: &str,
    name: &str,
    options: &DeleteOptions,
) -> ApiResult<Deleted> {
    let dry_run = options
        .dry_run
        .as_ref()
        .is_some_and(|d| d.iter().any(|x| x == "All"));
    let policy = options.propagation_policy.clone().unwrap_or_else(|| {
        if options.orphan_dependents == Some(true) {
            "Orphan".into()
        } else {
            "Background".into()
        }
    });
    let is_namespace = def.builtin == Some(Builtin::Namespace);
    if is_namespace && UNDELETABLE_NAMESPACES.contains(&name) {
        return Err(ApiError::forbidden(
            "",
            "namespaces",
            name,
            "this namespace may not be deleted",
        ));
    }
    for _ in 0..16 {
        let stored = state
            .store
            .get(&def.id, key)
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let current = parse_stored(&stored.raw)?;
        if let Some(pre) = &options.preconditions {
            let uid = meta_str(&current, "uid").unwrap_or_default();
            if let Some(want) = pre.uid.as_deref().filter(|u| !u.is_empty())
                && want != uid
            {
                return Err(ApiError::conflict_because(
                    &def.group,
                    &def.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"
                    ),
                ));
            }
            let rv = stored.revision.to_string();
            if let Some(want) = pre.resource_version.as_deref().filter(|r| !r.is_empty())
                && want != rv
            {
                return Err(ApiError::conflict_because(
                    &def.group,
                    &def.plural,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
                    ),
                ));
            }
        }
        let pending = !finalizers(&current).is_empty() || is_namespace;
        if pending {
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(Deleted {
                    raw: stored.raw,
                    gone: false,
                });
            }
            let mut marked = current.clone();
            let grace = options.grace_period_seconds.unwrap_or(0).max(0);
            if let Some(meta) = metadata_mut(&mut marked) {
                meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
                if def.generation {
                    let generation =
                        meta.get("generation").and_then(Value::as_i64).unwrap_or(0) + 1;
                    meta.insert("generation".into(), json!(generation));
                }
            }
            if is_namespace {
                marked["status"] = json!({"phase": "Terminating"});
            }
            if dry_run {
                return Ok(Deleted {
                    raw: encode(&marked)?,
                    gone: false,
                });
            }
            match state.store.update(&def.id, key, stored.revision, marked) {
                Ok(committed) => {
                    if is_namespace {
                        crate::controllers::spawn_namespace_cleanup(state, name.to_owned());
                    }
                    return Ok(Deleted {
                        raw: committed.raw,
                        gone: false,
                    });
                }
                Err(WriteError::Conflict) => continue,
                Err(WriteError::NotFound) => {
                    return Err(ApiError::not_found(&def.group, &def.plural, name));
                }
                Err(other) => return Err(ApiError::internal(format!("{other:?}"))),
            }
        }
        if dry_run {
            return Ok(Deleted {
                raw: stored.raw,
                gone: true,
            });
        }
        match state.store.delete(&def.id, key, Some(stored.revision)) {
            Ok(committed) => {
                after_delete(state, def, key, &committed.raw, &policy);
                return Ok(Deleted {
                    raw: committed.raw,
                    gone: true,
                });
            }
            Err(WriteError::Conflict) => continue,
            Err(WriteError::NotFound) => {
                return Err(ApiError::not_found(&def.group, &def.plural, name));
            }
            Err(other) => return Err(ApiError::internal(format!("{other:?}"))),
        }
    }
    Err(ApiError::conflict(&def.group, &def.plural, name))
}

/// What follows a removal: CRD instances and catalog, dependents.
fn after_delete(state: &Arc<State>, def: &ResourceDef, key: &str, raw: &Bytes, policy: &str) {
    if def.builtin == Some(Builtin::CustomResourceDefinition) {
        if let Some(crd) = state.catalog().by_id(key) {
            for (object_key, _) in state.store.objects(&crd.id, "") {
                let _ = state.store.delete(&crd.id, &object_key, None);
            }
        }
        state.refresh_catalog();
    }
    if policy == "Orphan" {
        return;
    }
    let Ok(object) = serde_json::from_slice::<Value>(raw) else {
        return;
    };
    let Some(uid) = meta_str(&object, "uid") else {
        return;
    };
    let namespace = if def.namespaced {
        meta_str(&object, "namespace").map(str::to_owned)
    } else {
        None
    };
    crate::controllers::spawn_garbage_collection(state, uid.to_owned(), namespace);
}

/// Deletes one object on behalf of the garbage collector or the namespace controller.
pub(crate) fn delete_for_system(state: &Arc<State>, def: &Arc<ResourceDef>, key: &str) {
    let name = key.rsplit('/').next().unwrap_or(key).to_owned();
    let _ = delete_object(state, def, key, &name, &DeleteOptions::default());
}

fn success_status(def: &ResourceDef, name: &str, raw: &Bytes) -> Value {
    let uid = serde_json::from_slice::<Value>(raw)
        .ok()
        .and_then(|v| meta_str(&v, "uid").map(str::to_owned))
        .unwrap_or_default();
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": def.group, "kind": def.plural, "uid": uid},
    })
}

/// Handles DELETE on an object.
pub(crate) fn delete(
    state: &Arc<State>,
    target: &Target,
    query: &Query,
    body: Bytes,
) -> ApiResult<Response<Body>> {
    if target.subresource.is_some() {
        return Err(ApiError::method_not_allowed("DELETE"));
    }
    let options = delete_options(query, &body)?;
    let name = target.name.clone().unwrap_or_default();
    let deleted = delete_object(state, &target.def, &target.key(), &name, &options)?;
    if deleted.gone && !target.def.return_deleted_object {
        return Ok(json_response(
            StatusCode::OK,
            &success_status(&target.def, &name, &deleted.raw),
        ));
    }
    Ok(respond(StatusCode::OK, target, deleted.raw, &[]))
}

/// Handles DELETE on a collection: deletes the selected objects and answers their list.
pub(crate) fn delete_collection(
    state: &Arc<State>,
    target: &Target,
    query: &Query,
    body: Bytes,
) -> ApiResult<Response<Body>> {
    let options = delete_options(query, &body)?;
    let filter = crate::selector::Filter::new(
        &target.def,
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )?;
    let mut items = Vec::new();
    for (key, stored) in state.store.objects(&target.def.id, &target.prefix()) {
        if !filter.matches(&stored.raw) {
            continue;
        }
        let name = key.rsplit('/').next().unwrap_or(&key).to_owned();
        match delete_object(state, &target.def, &key, &name, &options) {
            Ok(deleted) => items.push(target.view(deleted.raw)),
            Err(error) if error.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    Ok(crate::list::list_response(
        target,
        crate::list::Listed {
            revision: state.store.revision(),
            items,
            continue_token: None,
            remaining: None,
        },
    ))
}

/// An update made by the simulator itself (churn): the same path as a client's PATCH, by
/// `manager`, on the object or its `status`.
pub(crate) fn system_update(
    state: &Arc<State>,
    target: &Target,
    manager: &str,
    build: impl FnMut(&Value) -> ApiResult<(Value, Option<u64>)>,
) -> ApiResult<Response<Body>> {
    let options = WriteOptions {
        dry_run: false,
        field_manager: manager.to_owned(),
        validation: FieldValidation::Ignore,
    };
    update_with(state, target, &options, build)
}
