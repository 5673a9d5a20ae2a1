//! The request, parsed once at the door: [`RequestQuery`] holds every query parameter the
//! apiserver reads besides the list options (`watch`, `timeoutSeconds`, `includeObject`) and
//! the representation the `Accept` header asks for. The first middleware ([`parse`]) puts it
//! in the request's extensions; the in-flight limit reads `watch` from it, the handlers
//! everything else, and the list options are parsed from it once the path scope is known
//! ([`RequestQuery::list_options`], the one place that decides `onlyMetadata`).
//!
//! A bad value does not fail the request here: it is kept and reported when a handler asks for
//! it, so that errors come in the order the handlers check them (a request for an unknown
//! resource is a `404` whatever its query).

use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use storage_api::ListOptions;
use storage_api::query::params::{RequestScope, parse_list_options};

use crate::error::ApiError;
use crate::negotiate::{self, IncludeObject, Representation};

/// The length of a watch without `timeoutSeconds` (the kube-apiserver's
/// `--min-request-timeout`).
pub(crate) const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What a request asks for besides its path, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct RequestQuery {
    /// The raw (percent-encoded) query string, for the list options and a collection's types.
    raw: String,
    /// `watch` present and not `0` or `false` (an empty value is true, as in Kubernetes).
    pub(crate) watch: bool,
    /// `timeoutSeconds`, else [`DEFAULT_WATCH_TIMEOUT`].
    timeout: Result<Duration, ApiError>,
    /// `includeObject` (default `Metadata`).
    include_object: Result<IncludeObject, ApiError>,
    /// The representation the `Accept` header asks for.
    representation: Result<Representation, ApiError>,
    /// `sendInitialEvents` (the streaming list), and whether `resourceVersionMatch` is
    /// `NotOlderThan` and `allowWatchBookmarks` true, which it requires.
    send_initial_events: Option<bool>,
    not_older_than: bool,
    bookmarks: bool,
}

impl RequestQuery {
    /// Parses the query string and the `Accept` header of a request.
    pub(crate) fn parse(parts: &Parts) -> Self {
        let mut request = Self::from_query(parts.uri.query().unwrap_or_default());
        request.representation = negotiate::representation(&parts.headers);
        request
    }

    /// Parses a raw query string (one pass; the first `watch` and `timeoutSeconds` count, the
    /// last valid `includeObject` up to the first bad one); the representation is JSON.
    fn from_query(query: &str) -> Self {
        let mut watch = None;
        let mut timeout = None;
        let mut include_object = Ok(IncludeObject::Metadata);
        let mut send_initial_events = None;
        let mut not_older_than = false;
        let mut bookmarks = false;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "sendInitialEvents" if send_initial_events.is_none() => {
                    send_initial_events = Some(value == "true" || value == "1");
                }
                "resourceVersionMatch" => not_older_than = value == "NotOlderThan",
                "allowWatchBookmarks" => bookmarks = value == "true" || value == "1",
                "watch" if watch.is_none() => {
                    watch = Some(value != "0" && !value.eq_ignore_ascii_case("false"));
                }
                "timeoutSeconds" if timeout.is_none() => timeout = Some(parse_timeout(&value)),
                "includeObject" if include_object.is_ok() => {
                    include_object = negotiate::include_object(&value);
                }
                _ => {}
            }
        }
        Self {
            raw: query.to_owned(),
            watch: watch.unwrap_or(false),
            timeout: timeout.unwrap_or(Ok(DEFAULT_WATCH_TIMEOUT)),
            include_object,
            representation: Ok(Representation::Json),
            send_initial_events,
            not_older_than,
            bookmarks,
        }
    }

    /// Whether a watch asks for its initial events (`sendInitialEvents=true`, the streaming
    /// list of Kubernetes 1.32): `400` unless it also sets `resourceVersionMatch=NotOlderThan`
    /// and `allowWatchBookmarks=true`, as the kube-apiserver requires.
    pub(crate) fn send_initial_events(&self) -> Result<bool, ApiError> {
        match self.send_initial_events {
            Some(true) if !self.not_older_than => Err(ApiError::bad_request(
                "resourceVersionMatch: sendInitialEvents requires setting resourceVersionMatch \
                 to NotOlderThan",
            )),
            Some(true) if !self.bookmarks => Err(ApiError::bad_request(
                "allowWatchBookmarks: sendInitialEvents requires setting allowWatchBookmarks to \
                 true",
            )),
            Some(true) => Ok(true),
            _ => Ok(false),
        }
    }

    /// The request's parsed query, taken out of its extensions where [`parse`] put it (parsed
    /// now if that middleware did not run).
    pub(crate) fn take(parts: &mut Parts) -> Self {
        match parts.extensions.remove::<Self>() {
            Some(query) => query,
            None => Self::parse(parts),
        }
    }

    /// Parses a raw query string alone (the representation is JSON).
    pub(crate) fn from_raw(query: &str) -> Self {
        Self::from_query(query)
    }

    /// The cost class of the list options of the query (cheap when they do not parse: the
    /// handler answers `400`).
    pub(crate) fn cost_class(&self) -> storage_api::query::CostClass {
        parse_list_options(&self.raw, &RequestScope::default())
            .map_or(storage_api::query::CostClass::Cheap, |o| o.cost_class())
    }

    /// The raw query string.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// The length of a watch: `timeoutSeconds`, else the default; `400` for a bad value.
    pub(crate) fn timeout(&self) -> Result<Duration, ApiError> {
        self.timeout.clone()
    }

    /// What table rows carry as `object`; `400` for a bad value.
    pub(crate) fn include_object(&self) -> Result<IncludeObject, ApiError> {
        self.include_object.clone()
    }

    /// The representation to answer with; `406` when nothing acceptable is asked for.
    pub(crate) fn representation(&self) -> Result<Representation, ApiError> {
        self.representation.clone()
    }

    /// The list options of the query in the path `scope`, `onlyMetadata` included: asked in
    /// the URL, or implied by a `PartialObjectMetadata` representation.
    pub(crate) fn list_options(&self, scope: &RequestScope) -> Result<ListOptions, ApiError> {
        let mut options = parse_list_options(&self.raw, scope)?;
        if matches!(self.representation, Ok(Representation::PartialMetadata(_))) {
            options.only_metadata = true;
        }
        Ok(options)
    }
}

/// `timeoutSeconds`: a non-negative number of seconds.
fn parse_timeout(value: &str) -> Result<Duration, ApiError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| {
            ApiError::bad_request(format!(
                "timeoutSeconds: \"{value}\" is not a non-negative integer"
            ))
        })
}

/// `405` unless the method reads (`GET` or `HEAD`): this server serves no writes.
pub(crate) fn ensure_read(method: &Method) -> Result<(), ApiError> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ))
    }
}

/// The first middleware: parses the request's [`RequestQuery`] into its extensions.
pub(crate) async fn parse(request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let query = RequestQuery::parse(&parts);
    parts.extensions.insert(query);
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_watch(query: &str) -> bool {
        RequestQuery::from_query(query).watch
    }

    fn timeout(query: &str) -> Result<Duration, ApiError> {
        RequestQuery::from_query(query).timeout()
    }

    fn include_object(query: &str) -> Result<IncludeObject, ApiError> {
        RequestQuery::from_query(query).include_object()
    }

    #[test]
    fn watch_parameter() {
        assert!(is_watch("watch=1"));
        assert!(is_watch("limit=5&watch=true"));
        assert!(is_watch("watch="));
        assert!(!is_watch("watch=0"));
        assert!(!is_watch("watch=False"));
        assert!(!is_watch("limit=5"));
    }

    #[test]
    fn timeout_parameter() {
        assert_eq!(timeout("").expect("default"), DEFAULT_WATCH_TIMEOUT);
        assert_eq!(
            timeout("timeoutSeconds=5").expect("5"),
            Duration::from_secs(5)
        );
        assert_eq!(timeout("timeoutSeconds=x").expect_err("400").code, 400);
    }

    #[test]
    fn include_object_parameter() {
        assert_eq!(include_object("").expect("ok"), IncludeObject::Metadata);
        assert_eq!(
            include_object("includeObject=Object").expect("ok"),
            IncludeObject::Object
        );
        assert_eq!(
            include_object("a=b&includeObject=None").expect("ok"),
            IncludeObject::None
        );
        assert_eq!(
            include_object("includeObject=All").expect_err("400").code,
            400
        );
    }

    #[test]
    fn first_bad_include_object_wins_and_first_watch_counts() {
        assert_eq!(
            include_object("includeObject=All&includeObject=None")
                .expect_err("400")
                .code,
            400
        );
        assert_eq!(
            include_object("includeObject=None&includeObject=Object").expect("ok"),
            IncludeObject::Object
        );
        assert!(is_watch("watch=1&watch=0"));
        assert_eq!(
            timeout("timeoutSeconds=5&timeoutSeconds=x").expect("first"),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn partial_metadata_implies_only_metadata() {
        let mut query = RequestQuery::from_query("limit=1");
        let scope = RequestScope::default();
        assert!(!query.list_options(&scope).expect("ok").only_metadata);
        query.representation = Ok(Representation::PartialMetadata(
            crate::negotiate::MetaVersion::V1,
        ));
        assert!(query.list_options(&scope).expect("ok").only_metadata);
    }
}
