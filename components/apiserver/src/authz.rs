//! Authorization, as a Kubernetes aggregated API server does it: the request's attributes
//! (`k8s.io/apiserver`'s `RequestInfoFactory`), then, in order: paths of
//! `--authorization-always-allow-paths`, members of `system:masters`, and the mode of
//! `--authorization-mode`:
//!
//! - `Webhook`: a `SubjectAccessReview` to the host cluster of `--authorization-kubeconfig`
//!   (answers cached, see [`crate::host`]);
//! - `AlwaysAllow` (development): every authenticated user may read everything.
//!
//! A refusal is a `403 Forbidden` kube `Status` saying who was refused what, worded as the
//! kube-apiserver words it; a review that cannot be made is a `500`.
//!
//! The attributes are those the Go original is authorized with: the paths under
//! `/apis/clusterpedia.io/v1beta1/resources/...` are the resource `resources` of
//! `clusterpedia.io` (its name and subresource are the next two path segments, as the Go
//! request-info parser reads them: `get resources/v1 "api"` for `.../resources/api/v1/pods`),
//! and `.../collectionresources[/<name>]` are `list`/`get` of `collectionresources`.

use crate::auth::User;
use crate::error::ApiError;
use crate::host::AccessReviewer;

/// The group allowed everything without asking.
pub(crate) const SYSTEM_MASTERS: &str = "system:masters";

/// The resource part of a request's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResourceAttributes {
    pub(crate) namespace: String,
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) resource: String,
    pub(crate) subresource: String,
    pub(crate) name: String,
}

/// What a request does, as an authorizer sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Attributes {
    /// `get`, `list`, `watch`, ... (the lowercase method for a non-resource request).
    pub(crate) verb: String,
    /// The path.
    pub(crate) path: String,
    /// `None` for a non-resource request (`/version`, `/apis`, ...).
    pub(crate) resource: Option<ResourceAttributes>,
}

/// Subresources of namespaces that do not make the next segment a resource.
const NAMESPACE_SUBRESOURCES: [&str; 3] = ["status", "finalize", "proxy"];

fn watch_param(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "watch")
        .is_some_and(|(_, v)| v != "0" && !v.eq_ignore_ascii_case("false"))
}

impl Attributes {
    /// The attributes of a request (the Go `RequestInfoFactory` rules for `/api` and `/apis`;
    /// any other path is a non-resource request).
    pub(crate) fn of(method: &str, path: &str, query: &str) -> Self {
        let mut verb = method.to_ascii_lowercase();
        let non_resource = |verb: String| Self {
            verb,
            path: path.to_owned(),
            resource: None,
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, mut parts) = match segments.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return non_resource(verb),
        };
        if parts.is_empty() {
            return non_resource(verb);
        }
        let mut resource = ResourceAttributes {
            group: group.to_owned(),
            version: version.to_owned(),
            ..ResourceAttributes::default()
        };
        let method_verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        };
        verb = method_verb.to_owned();
        if parts.first() == Some(&"watch") {
            verb = "watch".into();
            parts = &parts[1..];
        }
        if parts.first() == Some(&"namespaces")
            && let Some(namespace) = parts.get(1)
        {
            resource.namespace = (*namespace).to_owned();
            if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
                parts = &parts[2..];
            }
        }
        if parts.len() >= 3 {
            resource.subresource = parts[2].to_owned();
        }
        if parts.len() >= 2 {
            resource.name = parts[1].to_owned();
        }
        if let Some(first) = parts.first() {
            resource.resource = (*first).to_owned();
        }
        if resource.name.is_empty() && verb == "get" {
            verb = if watch_param(query) { "watch" } else { "list" }.into();
        }
        if resource.name.is_empty() && verb == "delete" {
            verb = "deletecollection".into();
        }
        Self {
            verb,
            path: path.to_owned(),
            resource: Some(resource),
        }
    }
}

/// The `403` of a refused request, worded as the kube-apiserver words it.
pub(crate) fn forbidden(user: &User, attributes: &Attributes, reason: &str) -> ApiError {
    let mut message = match &attributes.resource {
        None => format!(
            "User {:?} cannot {} path {:?}",
            user.name, attributes.verb, attributes.path
        ),
        Some(r) => {
            let resource = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let scope = if r.namespace.is_empty() {
                "at the cluster scope".to_owned()
            } else {
                format!("in the namespace {:?}", r.namespace)
            };
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
                user.name, attributes.verb, resource, r.group
            )
        }
    };
    if !reason.is_empty() {
        message = format!("{message}: {reason}");
    }
    let (group, resource, name) = attributes
        .resource
        .as_ref()
        .map(|r| (r.group.as_str(), r.resource.as_str(), r.name.as_str()))
        .unwrap_or_default();
    kube_wire::Status::forbidden(group, resource, name, &message).into()
}

/// How requests are authorized (`--authorization-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthorizationMode {
    /// Development only: every authenticated user may read everything.
    #[value(name = "AlwaysAllow")]
    AlwaysAllow,
    /// `SubjectAccessReview` against the host cluster of `--authorization-kubeconfig`.
    #[value(name = "Webhook")]
    Webhook,
}

/// The authorizer of the flags.
#[derive(Debug)]
pub(crate) struct Authorizer {
    /// Paths allowed to everyone authenticated (`/x`, or a prefix ending in `*`).
    pub(crate) always_allow_paths: Vec<String>,
    /// `None`: `AlwaysAllow`.
    pub(crate) reviewer: Option<AccessReviewer>,
}

impl Default for Authorizer {
    /// `AlwaysAllow`.
    fn default() -> Self {
        Self {
            always_allow_paths: Vec::new(),
            reviewer: None,
        }
    }
}

impl Authorizer {
    /// Whether `user` may do `attributes`: `Ok` or the `403`/`500` to answer.
    pub(crate) async fn authorize(
        &self,
        user: &User,
        attributes: &Attributes,
    ) -> Result<(), ApiError> {
        let always = self.always_allow_paths.iter().any(|p| {
            *p == attributes.path
                || p.strip_suffix('*')
                    .is_some_and(|prefix| attributes.path.starts_with(prefix))
        });
        if always || user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Ok(());
        }
        let Some(reviewer) = &self.reviewer else {
            return Ok(());
        };
        match reviewer.review(user, attributes).await {
            Ok((true, _)) => Ok(()),
            Ok((false, reason)) => {
                tracing::debug!(user = %user.name, verb = %attributes.verb, path = %attributes.path, "forbidden");
                Err(forbidden(user, attributes, &reason))
            }
            Err(error) => {
                tracing::warn!(%error, "cannot authorize a request");
                Err(ApiError::internal(
                    "Internal error occurred: the authorization check against the host cluster failed",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(method: &str, path: &str, query: &str) -> (String, Option<ResourceAttributes>) {
        let a = Attributes::of(method, path, query);
        (a.verb, a.resource)
    }

    #[test]
    fn request_info_as_kubernetes_reads_it() {
        let (verb, resource) = attributes(
            "GET",
            "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods",
            "",
        );
        assert_eq!(verb, "get");
        let r = resource.expect("resource");
        assert_eq!(
            (
                r.group.as_str(),
                r.resource.as_str(),
                r.name.as_str(),
                r.subresource.as_str(),
                r.namespace.as_str()
            ),
            ("clusterpedia.io", "resources", "api", "v1", "")
        );
        let (verb, resource) = attributes(
            "GET",
            "/apis/clusterpedia.io/v1beta1/collectionresources",
            "watch=true",
        );
        assert_eq!(verb, "watch");
        assert_eq!(resource.expect("r").resource, "collectionresources");
        let (verb, resource) = attributes(
            "GET",
            "/apis/clusterpedia.io/v1beta1/collectionresources/any",
            "",
        );
        assert_eq!(
            (verb.as_str(), resource.expect("r").name.as_str()),
            ("get", "any")
        );
        let (verb, resource) = attributes("GET", "/api/v1/namespaces/ns1/pods", "");
        let r = resource.expect("r");
        assert_eq!(
            (verb.as_str(), r.namespace.as_str(), r.resource.as_str()),
            ("list", "ns1", "pods")
        );
        let (verb, resource) = attributes("GET", "/api/v1/namespaces/ns1", "");
        let r = resource.expect("r");
        assert_eq!(
            (verb.as_str(), r.resource.as_str(), r.name.as_str()),
            ("get", "namespaces", "ns1")
        );
        assert_eq!(attributes("GET", "/apis", "").1, None);
        assert_eq!(
            attributes("GET", "/apis/clusterpedia.io/v1beta1", "").1,
            None
        );
        assert_eq!(attributes("GET", "/version", "").0, "get");
    }

    #[test]
    fn forbidden_says_who_was_refused_what() {
        let user = User {
            name: "jane".into(),
            ..User::default()
        };
        let error = forbidden(
            &user,
            &Attributes::of("GET", "/api/v1/namespaces/ns1/pods", ""),
            "",
        );
        assert_eq!((error.code, error.reason.as_str()), (403, "Forbidden"));
        assert_eq!(
            error.message,
            r#"pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "ns1""#
        );
        let error = forbidden(
            &user,
            &Attributes::of(
                "GET",
                "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods",
                "",
            ),
            "no RBAC policy matched",
        );
        assert_eq!(
            error.message,
            r#"resources.clusterpedia.io "api" is forbidden: User "jane" cannot get resource "resources/v1" in API group "clusterpedia.io" at the cluster scope: no RBAC policy matched"#
        );
        let error = forbidden(&user, &Attributes::of("GET", "/version", ""), "");
        assert_eq!(
            error.message,
            r#"forbidden: User "jane" cannot get path "/version""#
        );
    }
}
