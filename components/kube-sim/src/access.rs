//! What an aggregated API server asks its host cluster: `TokenReview`
//! (`authentication.k8s.io/v1`: who holds this token) and `SubjectAccessReview`
//! (`authorization.k8s.io/v1`: may this user do that), answered as a kube-apiserver does.
//!
//! Tokens: the simulator's own token is the user `kube-sim:admin` in `system:masters`; more
//! users come from [`SimulatorBuilder::user`](crate::SimulatorBuilder::user). Those user tokens
//! are known to `TokenReview` only: the simulator's other endpoints accept the admin token and
//! client certificate alone. Access reviews are evaluated from the `Role`, `ClusterRole`,
//! `RoleBinding` and `ClusterRoleBinding` objects stored at the time of the request
//! ([`kube_wire::rbac`]).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use bytes::Bytes;
use kube_wire::rbac::{Action, Rbac};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, json_response};
use crate::state::State;

/// The user of the simulator's own token.
pub(crate) const ADMIN: &str = "kube-sim:admin";

/// A user known to `TokenReview`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) token: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) groups: Vec<String>,
}

/// The store identities of the RBAC resources.
const RBAC_RESOURCES: [&str; 4] = [
    "clusterroles.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
];

/// The RBAC objects stored now.
pub(crate) fn rbac(state: &State) -> Rbac {
    let mut rbac = Rbac::new();
    for resource in RBAC_RESOURCES {
        for (_, stored) in state.store.objects(resource, "") {
            if let Ok(object) = serde_json::from_slice::<Value>(&stored.raw) {
                rbac.add(&object);
            }
        }
    }
    rbac
}

fn parse(body: &Bytes, kind: &str, api_version: &str) -> ApiResult<Value> {
    let review: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body of a {kind} is not JSON: {e}")))?;
    if review.get("kind").and_then(Value::as_str) != Some(kind)
        || review.get("apiVersion").and_then(Value::as_str) != Some(api_version)
    {
        return Err(ApiError::bad_request(format!(
            "the body must be a {kind} of {api_version}"
        )));
    }
    Ok(review)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /apis/authentication.k8s.io/v1/tokenreviews`.
pub(crate) fn token_review(state: &Arc<State>, body: &Bytes) -> ApiResult<Response<Body>> {
    let mut review = parse(body, "TokenReview", "authentication.k8s.io/v1")?;
    let token = review
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let admin = User {
        token: state.settings.token.clone(),
        name: ADMIN.into(),
        uid: String::new(),
        groups: vec![
            kube_wire::rbac::SYSTEM_MASTERS.into(),
            "system:authenticated".into(),
        ],
    };
    let user = std::iter::once(&admin)
        .chain(state.settings.users.iter())
        .find(|u| !token.is_empty() && constant_time_eq(u.token.as_bytes(), token.as_bytes()));
    // The token is not echoed back (a kube-apiserver keeps it in spec; clients ignore it).
    if let Some(spec) = review.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("token");
    }
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = match user {
        Some(user) => json!({
            "authenticated": true,
            "user": {"username": user.name, "uid": user.uid, "groups": user.groups},
        }),
        None => json!({"user": {}, "error": "invalid bearer token"}),
    };
    Ok(json_response(StatusCode::CREATED, &review))
}

/// `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`.
pub(crate) fn subject_access_review(state: &Arc<State>, body: &Bytes) -> ApiResult<Response<Body>> {
    let mut review = parse(body, "SubjectAccessReview", "authorization.k8s.io/v1")?;
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let text = |pointer: &str| {
        spec.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let user = text("/user");
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let (verb, namespace, group, resource, subresource, name, path, path_verb) = (
        text("/resourceAttributes/verb"),
        text("/resourceAttributes/namespace"),
        text("/resourceAttributes/group"),
        text("/resourceAttributes/resource"),
        text("/resourceAttributes/subresource"),
        text("/resourceAttributes/name"),
        text("/nonResourceAttributes/path"),
        text("/nonResourceAttributes/verb"),
    );
    let action = match (
        spec.get("resourceAttributes").is_some(),
        spec.get("nonResourceAttributes").is_some(),
    ) {
        (true, false) => Action::Resource {
            verb: &verb,
            namespace: &namespace,
            group: &group,
            resource: &resource,
            subresource: &subresource,
            name: &name,
        },
        (false, true) => Action::NonResource {
            verb: &path_verb,
            path: &path,
        },
        _ => {
            return Err(ApiError::invalid(
                "authorization.k8s.io",
                "SubjectAccessReview",
                "",
                &[(
                    "FieldValueRequired",
                    "spec.resourceAttributes".into(),
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified"
                        .into(),
                )],
            ));
        }
    };
    if user.is_empty() && groups.is_empty() {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "",
            &[(
                "FieldValueRequired",
                "spec.user".into(),
                "at least one of user or group must be specified".into(),
            )],
        ));
    }
    let decision = rbac(state).authorize(&user, &groups, &action);
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = if decision.allowed {
        json!({"allowed": true, "reason": decision.reason})
    } else {
        json!({"allowed": false})
    };
    Ok(json_response(StatusCode::CREATED, &review))
}
