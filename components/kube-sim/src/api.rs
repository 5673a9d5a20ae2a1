//! Request routing: authentication, health, discovery and the resource paths of the kube API
//! (`/api/v1/...`, `/apis/<group>/<version>/...`), dispatched to list, watch, get and the
//! write handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, header};
use bytes::Bytes;
use kube_wire::table::ListMeta;
use serde_json::Value;

use crate::discovery;
use crate::error::{ApiError, ApiResult, bytes_response, json_response};
use crate::resources::ResourceDef;
use crate::state::State;
use crate::table;

/// The largest accepted request body (the kube-apiserver's limit).
pub(crate) const MAX_BODY: usize = 3 * 1024 * 1024;

/// The query parameters of a request (the last value of a repeated one wins).
pub(crate) type Query = HashMap<String, String>;

/// A request on a resource path.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) def: Arc<ResourceDef>,
    /// The version of the path.
    pub(crate) version: String,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
}

impl Target {
    /// The store key of the named object.
    pub(crate) fn key(&self) -> String {
        let name = self.name.as_deref().unwrap_or_default();
        if self.def.namespaced {
            crate::meta::object_key(self.namespace.as_deref(), name)
        } else {
            name.to_owned()
        }
    }

    /// The key prefix of the collection (`ns/`, or empty).
    pub(crate) fn prefix(&self) -> String {
        match (&self.namespace, self.def.namespaced) {
            (Some(ns), true) => format!("{ns}/"),
            _ => String::new(),
        }
    }

    /// `apiVersion` of the path.
    pub(crate) fn api_version(&self) -> String {
        self.def.api_version(&self.version)
    }

    /// Converts a stored object to the version of the path (CRDs serve several versions of one
    /// stored object with conversion `None`: only `apiVersion` changes).
    pub(crate) fn view(&self, raw: Bytes) -> Bytes {
        if self.version == self.def.storage_version {
            return raw;
        }
        match serde_json::from_slice::<Value>(&raw) {
            Ok(mut value) => {
                value["apiVersion"] = Value::String(self.api_version());
                serde_json::to_vec(&value).map(Bytes::from).unwrap_or(raw)
            }
            Err(_) => raw,
        }
    }
}

/// What the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Representation {
    Json,
    Table,
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Picks the response representation from `Accept`, rejecting protobuf-only clients.
fn negotiate(accept: &str) -> ApiResult<Representation> {
    if accept.is_empty() {
        return Ok(Representation::Json);
    }
    let mut acceptable = false;
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let media = params.first().copied().unwrap_or_default();
        match media {
            "application/json" | "*/*" | "application/*" | "application/yaml" => {
                if params.contains(&"as=Table") {
                    return Ok(Representation::Table);
                }
                if params.iter().any(|p| p.starts_with("as=")) {
                    // PartialObjectMetadata and others: answer plain JSON only if also offered.
                    continue;
                }
                acceptable = true;
            }
            _ => {}
        }
    }
    if acceptable {
        Ok(Representation::Json)
    } else {
        Err(ApiError::not_acceptable(accept))
    }
}

fn parse_query(uri: &axum::http::Uri) -> Query {
    uri.query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Handles one request.
pub(crate) async fn handle(state: Arc<State>, request: Request<Body>) -> Response<Body> {
    state.counters.requests.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    tracing::debug!(%method, uri = %request.uri(), "request");
    match route(state, request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(%method, %path, code = error.code, message = %error.message, "error");
            error.into_response()
        }
    }
}

fn authenticated(state: &State, request: &Request<Body>) -> bool {
    if request
        .extensions()
        .get::<crate::server::ClientCertificate>()
        .is_some_and(|c| c.0)
    {
        return true;
    }
    let headers = request.headers();
    let value = header_str(headers, header::AUTHORIZATION);
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return false;
    };
    // Constant-time comparison of the token.
    let expected = state.settings.token.as_bytes();
    let given = token.trim().as_bytes();
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn route(state: Arc<State>, request: Request<Body>) -> ApiResult<Response<Body>> {
    if !authenticated(&state, &request) {
        return Err(ApiError::unauthorized());
    }
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => Ok(health(&state, &parts, request.uri())),
        ["version"] => Ok(json_response(
            StatusCode::OK,
            &discovery::version(&state.settings.git_version),
        )),
        ["_sim", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            crate::admin::handle(state, &rest, request).await
        }
        ["api"] => {
            let accept = header_str(request.headers(), header::ACCEPT);
            if let Some((version, media)) = discovery::aggregated_version(accept) {
                let body = discovery::aggregated(&state.catalog(), true, version);
                return Ok(with_content_type(
                    json_response(StatusCode::OK, &body),
                    media,
                ));
            }
            let address = state
                .address
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            Ok(json_response(
                StatusCode::OK,
                &discovery::api_versions(address.trim_start_matches("https://")),
            ))
        }
        ["apis"] => {
            let accept = header_str(request.headers(), header::ACCEPT);
            if let Some((version, media)) = discovery::aggregated_version(accept) {
                let body = discovery::aggregated(&state.catalog(), false, version);
                return Ok(with_content_type(
                    json_response(StatusCode::OK, &body),
                    media,
                ));
            }
            Ok(json_response(
                StatusCode::OK,
                &discovery::api_group_list(&state.catalog()),
            ))
        }
        ["api", "v1"] => discovery::api_resource_list(&state.catalog(), "", "v1")
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        ["apis", group] => discovery::api_group(&state.catalog(), group)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        ["apis", group, version] => discovery::api_resource_list(&state.catalog(), group, version)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(ApiError::path_not_found),
        ["apis", "authentication.k8s.io", "v1", "tokenreviews"]
            if request.method() == Method::POST =>
        {
            let body = read_body(request).await?;
            crate::access::token_review(&state, &body)
        }
        ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"]
            if request.method() == Method::POST =>
        {
            let body = read_body(request).await?;
            crate::access::subject_access_review(&state, &body)
        }
        ["api", "v1", rest @ ..] => {
            let target = resolve(&state, "", "v1", rest)?;
            resource(state, target, request).await
        }
        ["apis", group, version, rest @ ..] => {
            let target = resolve(&state, group, version, rest)?;
            resource(state, target, request).await
        }
        _ => Err(ApiError::path_not_found()),
    }
}

fn with_content_type(mut response: Response<Body>, media: &'static str) -> Response<Body> {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(media),
    );
    response
}

fn health(state: &State, parts: &[&str], uri: &axum::http::Uri) -> Response<Body> {
    let verbose = parse_query(uri).contains_key("verbose");
    let healthy = state.healthy() && !state.stopping();
    let check = parts.get(1).copied();
    let checks = [
        "ping",
        "log",
        "etcd",
        "informer-sync",
        "poststarthook/start-apiextensions-informers",
    ];
    let body = if verbose {
        let mut lines: Vec<String> = checks
            .iter()
            .filter(|c| check.is_none_or(|only| only == **c))
            .map(|c| {
                if healthy || *c == "ping" {
                    format!("[+]{c} ok")
                } else {
                    format!("[-]{c} failed: reason withheld")
                }
            })
            .collect();
        lines.push(format!(
            "{} check {}",
            parts[0],
            if healthy { "passed" } else { "failed" }
        ));
        lines.join("\n") + "\n"
    } else if healthy {
        "ok".to_owned()
    } else {
        format!(
            "[-]etcd failed: reason withheld\n{} check failed\n",
            parts[0]
        )
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = if healthy {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::HeaderName::from_static("x-content-type-options"),
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

/// Resolves the parts after `/api/v1` or `/apis/<g>/<v>` to a resource target
/// (`k8s.io/apiserver`'s `RequestInfoFactory` rules).
fn resolve(state: &State, group: &str, version: &str, parts: &[&str]) -> ApiResult<Target> {
    let catalog = state.catalog();
    let (namespace, rest): (Option<String>, &[&str]) = match parts {
        ["namespaces", ns, resource, ..] if !matches!(*resource, "status" | "finalize") => {
            (Some((*ns).to_owned()), &parts[2..])
        }
        _ => (None, parts),
    };
    let [plural, rest @ ..] = rest else {
        return Err(ApiError::path_not_found());
    };
    let def = catalog
        .lookup(group, version, plural)
        .ok_or_else(ApiError::path_not_found)?;
    let (name, subresource) = match rest {
        [] => (None, None),
        [name] => (Some((*name).to_owned()), None),
        [name, sub] => (Some((*name).to_owned()), Some((*sub).to_owned())),
        _ => return Err(ApiError::path_not_found()),
    };
    if namespace.is_some() && !def.namespaced {
        return Err(ApiError::path_not_found());
    }
    if def.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::path_not_found());
    }
    if let Some(sub) = &subresource {
        let allowed = match sub.as_str() {
            "status" => def.version(version).is_some_and(|v| v.status),
            "finalize" => def.plural == "namespaces" && def.group.is_empty(),
            _ => false,
        };
        if !allowed {
            return Err(ApiError::path_not_found());
        }
    }
    Ok(Target {
        def,
        version: version.to_owned(),
        namespace,
        name,
        subresource,
    })
}

fn is_watch(query: &Query) -> bool {
    query
        .get("watch")
        .is_some_and(|w| matches!(w.as_str(), "1" | "true" | "True"))
}

async fn resource(
    state: Arc<State>,
    target: Target,
    request: Request<Body>,
) -> ApiResult<Response<Body>> {
    let query = parse_query(request.uri());
    let method = request.method().clone();
    let headers = request.headers().clone();
    let accept = header_str(&headers, header::ACCEPT).to_owned();
    match (&method, target.name.is_some()) {
        (&Method::GET, false) => {
            let representation = negotiate(&accept)?;
            if is_watch(&query) {
                crate::watch::watch(state, target, &query, representation).await
            } else {
                crate::list::list(&state, &target, &query, representation).await
            }
        }
        (&Method::GET, true) => {
            let representation = negotiate(&accept)?;
            get(&state, &target, representation)
        }
        (&Method::POST, false) => {
            let body = read_body(request).await?;
            crate::write::create(&state, &target, &query, &headers, body)
        }
        (&Method::PUT, true) => {
            let body = read_body(request).await?;
            crate::write::update(&state, &target, &query, &headers, body)
        }
        (&Method::PATCH, true) => {
            let body = read_body(request).await?;
            crate::write::patch(&state, &target, &query, &headers, body)
        }
        (&Method::DELETE, true) => {
            let body = read_body(request).await?;
            crate::write::delete(&state, &target, &query, body)
        }
        (&Method::DELETE, false) if target.namespace.is_some() || !target.def.namespaced => {
            let body = read_body(request).await?;
            crate::write::delete_collection(&state, &target, &query, body)
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

async fn read_body(request: Request<Body>) -> ApiResult<Bytes> {
    axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError::request_entity_too_large(MAX_BODY))
}

fn get(
    state: &State,
    target: &Target,
    representation: Representation,
) -> ApiResult<Response<Body>> {
    let name = target.name.as_deref().unwrap_or_default();
    let stored = state
        .store
        .get(&target.def.id, &target.key())
        .ok_or_else(|| ApiError::not_found(&target.def.group, &target.def.plural, name))?;
    let raw = target.view(stored.raw);
    match representation {
        Representation::Json => Ok(bytes_response(StatusCode::OK, raw)),
        Representation::Table => {
            let table = table::table(target, [&raw[..]], &ListMeta::default(), "Metadata")?;
            Ok(bytes_response(StatusCode::OK, table))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate("").ok(), Some(Representation::Json));
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf, application/json").ok(),
            Some(Representation::Json)
        );
        assert_eq!(
            negotiate("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json").ok(),
            Some(Representation::Table)
        );
        assert!(negotiate("application/vnd.kubernetes.protobuf").is_err());
    }
}
