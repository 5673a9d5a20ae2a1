//! The URL query of a list request, and the search labels in its `labelSelector`, parsed into
//! one [`ListOptions`] ([`parse_list_options`]).
//!
//! # URL parameters
//!
//! | parameter | value | `ListOptions` field |
//! |---|---|---|
//! | `clusters`, `namespaces`, `names` | comma list | `clusters`, `namespaces`, `names` |
//! | `fuzzyName` (new) | comma list of substrings | `fuzzy_names` |
//! | `labelSelector` | Kubernetes label selector, search labels inside (below) | `label_selector` |
//! | `fieldSelector` | Clusterpedia's enhanced field selector | `field_selector` |
//! | `orderby` | `name desc,cluster`: items `field`, `field desc` or `field asc` | `order_by` |
//! | `ownerUID`, `ownerName` | text | `owner` |
//! | `ownerGR` | `resource.group`, e.g. `deployments.apps` | `owner.group_resource` |
//! | `ownerSeniority` | integer from 0 to [`MAX_OWNER_SENIORITY`] | `owner.seniority` |
//! | `since`, `before` | a time ([`parse_time`]: RFC 3339, `2006-01-02 15:04:05`, `2006-01-02`, Unix seconds or milliseconds) | `since`, `before` |
//! | `limit` | non-negative integer; `0`: no limit | `limit` |
//! | `offset` (new) | non-negative integer | `offset` |
//! | `continue` | a continue token, or a number (the original's offset token) | `continue_from` / `offset` |
//! | `withContinue`, `withRemainingCount`, `onlyMetadata`, `allowWatchBookmarks` | boolean | the field of that name |
//! | `resourceVersion` | text | `resource_version` |
//! | `query` (new) | full-text words ([`full_text`](super::full_text)), e.g. `query=nginx web` | `full_text` |
//!
//! - **Comma lists**: items are trimmed, empty items dropped, duplicates dropped (the first one
//!   kept), the written order kept; a repeated parameter appends to the list.
//! - **Single values**: surrounding whitespace is trimmed; an empty value is the same as no
//!   parameter (except for booleans); a parameter repeated with different values is a `400`.
//!   `labelSelector` and `fieldSelector` given several times are joined with `,` (all must hold).
//! - **Booleans**: an empty value (`?withRemainingCount`), `true` or `1` is true; `false` or `0`
//!   is false (case-insensitive); anything else is a `400` naming the parameter. The original
//!   turned any other value into true.
//! - **Raw SQL** (`whereSQL`, `whereSQLStatement`, `whereSQLParam`, `whereSQLJSONParams`) is
//!   not supported: `400`, pointing to the field selector. It is never silently ignored.
//! - Parameters that are not list options (`watch`, `timeoutSeconds`, `pretty`,
//!   `resourceVersionMatch`, `sendInitialEvents`, `includeObject`, the `groups` and `resources`
//!   of a collection request, ...) are ignored here.
//!
//! # Search labels
//!
//! Requirements of the `labelSelector` whose key is a search label set list options and are
//! removed from the selector; the other requirements, in written order, are the label selector
//! on `metadata.labels`. Values of keys containing `clusterpedia.io/` are not checked against the
//! label value rule (they are cluster names, times, ...).
//!
//! | search label | value | like |
//! |---|---|---|
//! | `search.clusterpedia.io/clusters`, `/namespaces`, `/names` | one or more | `clusters`, `namespaces`, `names` |
//! | `search.clusterpedia.io/orderby` | one or more of `field`, `field_desc`, `field_asc` | `orderby` |
//! | `internalstorage.clusterpedia.io/fuzzy-name` (or `search.clusterpedia.io/fuzzy-name`) | one or more | `fuzzyName` |
//! | `search.clusterpedia.io/owner-uid`, `/owner-name`, `/owner-gr`, `/owner-seniority` | one | `ownerUID`, `ownerName`, `ownerGR`, `ownerSeniority` |
//! | `search.clusterpedia.io/since`, `/before` | one | `since`, `before` |
//! | `search.clusterpedia.io/limit`, `/offset` | one | `limit`, `offset` |
//! | `search.clusterpedia.io/with-continue`, `/with-remaining-count` | one boolean | `withContinue`, `withRemainingCount` |
//! | `search.clusterpedia.io/inject-events` | one boolean | (no URL form) |
//! | `search.clusterpedia.io/query` | one or more (their words together) | `query` |
//!
//! - **Operators**: `=`, `==` and `in`. Labels with one value accept `in` with exactly one
//!   value. Any other operator (`!=`, `notin`, exists, `!key`, `>`, `<`) is a `400` naming the
//!   label and the operator: the original silently treated every operator as `in`.
//! - **Order**: the values of `in` keep their written order (`search.clusterpedia.io/orderby in
//!   (name_desc,cluster)` orders by name descending, then cluster). The original lost it.
//! - An empty value is a `400`, except for booleans (empty is true, as for URL booleans).
//! - A search label given twice is a `400`.
//! - `search.clusterpedia.io/forward` is a `400`: forwarding requests to member clusters is not
//!   supported. Any other key containing `clusterpedia.io/` is a `400` listing the known search
//!   labels ([`SEARCH_LABELS`]); the original passed them on to the storage layer.
//!
//! # Precedence
//!
//! - A URL parameter wins over its search label; the label applies only when the URL value is
//!   absent or empty. `limit` is the exception of the original: the label applies when the URL
//!   limit is absent **or 0** (kubectl always sends `limit=500`, so with kubectl the label limit
//!   never applies, as in the original).
//! - Every value given is validated, even one that loses to another.
//! - The request path wins over both: a path cluster (`.../clusters/<c>/...`) replaces
//!   `clusters`, a path namespace replaces `namespaces`.
//! - Offset: a numeric `continue` wins over `offset`, which wins over the `offset` label (the
//!   original's next-page offset travels in `continue`, while kubectl resends the first
//!   request's labels on every page).
//!
//! # Order fields
//!
//! `cluster`, `namespace`, `name`, `created_at`, `resource_version`, `group`, `version`,
//! `resource`, or a field path of the object of at least two segments such as
//! `metadata.labels.app` or `spec.containers[0].image` (`[N]` is allowed, `[]` is not: it has no
//! single value; a single word must be a column, so a typo like `nmae` is an error). Anything
//! else is a `400`; a field given twice is a `400`. (The original pasted the text into SQL.)
//!
//! # Owner
//!
//! `ownerUID` or `ownerName` needs exactly one cluster (after the path scope), else `400 If
//! searching by owner uid or name, then the cluster must be specified`. The uid wins over the
//! name (both are kept; evaluators use the uid first). `ownerGR` or `ownerSeniority` without a
//! uid or a name is a `400` (the original ignored them).
//!
//! # Continue
//!
//! A `continue` made only of digits is the original's offset token: it is the offset. Any other
//! value is a continue token ([`ContinuePosition`]), decoded after everything else is parsed: a
//! token only resumes the query that made it (same filters and order), else `400`. With a
//! token, the offset is ignored: the token holds the position.
//!
//! # Limits
//!
//! Every list, selector, order and value is capped ([`super::limits`], with the table of caps):
//! a request over a cap, or with a control character in a name, namespace, cluster, fuzzy name,
//! owner, resource version or search label value (NUL in a field selector value), is a `400`
//! naming the parameter and the cap.
//!
//! # Errors
//!
//! Every error is a [`StorageError::BadRequest`] naming the parameter (the URL name, e.g.
//! `since`, or the search label key, e.g. `search.clusterpedia.io/since`); selector syntax
//! errors name `labelSelector` or `fieldSelector`. Messages of the original are kept where it
//! had one (`Invalid Query OrderBy(...)`, `Invalid Query OwnerSeniority(...)`, `Invalid
//! datetime: ...`, `Invalid Query, Since is after Before`, ...).

use std::collections::HashMap;

use super::field_selector::{FieldPath, FieldSelector, PathSegment};
use super::full_text::FullTextQuery;
use super::label_selector::{LabelOperator, LabelRequirement, LabelSelector};
use super::limits::{
    MAX_FIELD_REQUIREMENTS, MAX_FULL_TEXT_BYTES, MAX_FULL_TEXT_WORDS, MAX_FUZZY_NAMES,
    MAX_LABEL_REQUIREMENTS, MAX_LIST_VALUES, MAX_ORDER_PATHS, MAX_PATH_LIST_SEGMENTS,
    MAX_PATH_SEGMENTS, MAX_QUERY_BYTES, MAX_SELECTOR_VALUES, check_count, check_no_nul, check_text,
};
use super::time::parse_time;
use super::{ContinuePosition, ListOptions, OrderBy, OrderField, OwnerQuery};
use crate::error::{Result, StorageError};
use crate::object::GroupResource;

// URL parameters.
const CLUSTERS: &str = "clusters";
const NAMESPACES: &str = "namespaces";
const NAMES: &str = "names";
const FUZZY_NAME: &str = "fuzzyName";
const LABEL_SELECTOR: &str = "labelSelector";
const FIELD_SELECTOR: &str = "fieldSelector";
const ORDER_BY: &str = "orderby";
const OWNER_UID: &str = "ownerUID";
const OWNER_NAME: &str = "ownerName";
const OWNER_GR: &str = "ownerGR";
const OWNER_SENIORITY: &str = "ownerSeniority";
const SINCE: &str = "since";
const BEFORE: &str = "before";
const LIMIT: &str = "limit";
const OFFSET: &str = "offset";
const CONTINUE: &str = "continue";
const WITH_CONTINUE: &str = "withContinue";
const WITH_REMAINING_COUNT: &str = "withRemainingCount";
const ONLY_METADATA: &str = "onlyMetadata";
const RESOURCE_VERSION: &str = "resourceVersion";
const ALLOW_WATCH_BOOKMARKS: &str = "allowWatchBookmarks";
/// The full-text query (the name the original's Elasticsearch layer used).
const FULL_TEXT: &str = "query";
/// Not a parameter: the whole URL query, named in the error for its length (the message says
/// "the URL query", which tells it from the full-text parameter of the same name).
const QUERY: &str = "query";

/// The URL parameters that take one value.
const SINGLE_VALUED: &[&str] = &[
    OWNER_UID,
    OWNER_NAME,
    OWNER_GR,
    OWNER_SENIORITY,
    SINCE,
    BEFORE,
    LIMIT,
    OFFSET,
    CONTINUE,
    WITH_CONTINUE,
    WITH_REMAINING_COUNT,
    ONLY_METADATA,
    RESOURCE_VERSION,
    ALLOW_WATCH_BOOKMARKS,
    FULL_TEXT,
];

/// The raw SQL parameters of the original, refused.
const RAW_SQL: &[&str] = &[
    "whereSQL",
    "whereSQLStatement",
    "whereSQLParam",
    "whereSQLJSONParams",
];

// Search labels.
const LABEL_CLUSTERS: &str = "search.clusterpedia.io/clusters";
const LABEL_NAMESPACES: &str = "search.clusterpedia.io/namespaces";
const LABEL_NAMES: &str = "search.clusterpedia.io/names";
const LABEL_ORDER_BY: &str = "search.clusterpedia.io/orderby";
const LABEL_OWNER_UID: &str = "search.clusterpedia.io/owner-uid";
const LABEL_OWNER_NAME: &str = "search.clusterpedia.io/owner-name";
const LABEL_OWNER_GR: &str = "search.clusterpedia.io/owner-gr";
const LABEL_OWNER_SENIORITY: &str = "search.clusterpedia.io/owner-seniority";
const LABEL_INJECT_EVENTS: &str = "search.clusterpedia.io/inject-events";
const LABEL_WITH_CONTINUE: &str = "search.clusterpedia.io/with-continue";
const LABEL_WITH_REMAINING_COUNT: &str = "search.clusterpedia.io/with-remaining-count";
const LABEL_LIMIT: &str = "search.clusterpedia.io/limit";
const LABEL_OFFSET: &str = "search.clusterpedia.io/offset";
const LABEL_SINCE: &str = "search.clusterpedia.io/since";
const LABEL_BEFORE: &str = "search.clusterpedia.io/before";
const LABEL_FUZZY_NAME: &str = "internalstorage.clusterpedia.io/fuzzy-name";
const LABEL_FUZZY_NAME_ALIAS: &str = "search.clusterpedia.io/fuzzy-name";
const LABEL_FORWARD: &str = "search.clusterpedia.io/forward";
const LABEL_FULL_TEXT: &str = "search.clusterpedia.io/query";

/// Label keys containing this are Clusterpedia's: search labels, or errors.
const CLUSTERPEDIA_IO: &str = "clusterpedia.io/";

/// The search-label keys this parser understands (for docs and error messages).
pub const SEARCH_LABELS: &[&str] = &[
    LABEL_CLUSTERS,
    LABEL_NAMESPACES,
    LABEL_NAMES,
    LABEL_ORDER_BY,
    LABEL_OWNER_UID,
    LABEL_OWNER_NAME,
    LABEL_OWNER_GR,
    LABEL_OWNER_SENIORITY,
    LABEL_INJECT_EVENTS,
    LABEL_WITH_CONTINUE,
    LABEL_WITH_REMAINING_COUNT,
    LABEL_LIMIT,
    LABEL_OFFSET,
    LABEL_SINCE,
    LABEL_BEFORE,
    LABEL_FUZZY_NAME,
    LABEL_FUZZY_NAME_ALIAS,
    LABEL_FULL_TEXT,
];

/// The search labels that take several values.
const MULTI_VALUED_LABELS: &[&str] = &[
    LABEL_CLUSTERS,
    LABEL_NAMESPACES,
    LABEL_NAMES,
    LABEL_ORDER_BY,
    LABEL_FUZZY_NAME,
    LABEL_FUZZY_NAME_ALIAS,
    LABEL_FULL_TEXT,
];

/// The search labels whose value is a boolean (an empty value is true).
const BOOLEAN_LABELS: &[&str] = &[
    LABEL_INJECT_EVENTS,
    LABEL_WITH_CONTINUE,
    LABEL_WITH_REMAINING_COUNT,
];

/// The highest `ownerSeniority` accepted: each level is one more nested lookup in a storage
/// layer, and ownership chains in Kubernetes are short (a pod is seniority 1 of a deployment).
pub const MAX_OWNER_SENIORITY: u32 = 16;

/// The order fields that are not field paths, for error messages.
const ORDER_COLUMNS: &str =
    "cluster, namespace, name, created_at, resource_version, group, version, resource";

/// Where the request path puts the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestScope {
    /// The cluster of a `.../clusters/<cluster>/...` path; replaces `clusters`.
    pub cluster: Option<String>,
    /// The namespace of a `.../namespaces/<namespace>/...` path; replaces `namespaces`.
    pub namespace: Option<String>,
}

/// Parses a raw (percent-encoded) URL query string into ListOptions.
///
/// The rules are in the [module documentation](self). Fails with a `400 BadRequest` naming the
/// parameter or search label at fault; never panics.
pub fn parse_list_options(query: &str, scope: &RequestScope) -> Result<ListOptions> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(StorageError::bad_request(
            QUERY,
            format!(
                "the URL query is {} bytes long, the limit is {MAX_QUERY_BYTES}",
                query.len()
            ),
        ));
    }
    let mut url = UrlQuery::parse(query)?;
    let (label_selector, mut labels) = split_label_selector(&url.label_selectors.join(","))?;
    let field_selector = parse_field_selector(&url.field_selectors.join(","))?;
    let mut options = ListOptions {
        label_selector,
        field_selector,
        ..ListOptions::default()
    };

    let label_clusters = labels.take(LABEL_CLUSTERS);
    let url_clusters = std::mem::take(&mut url.clusters);
    check_list(
        &url_clusters,
        CLUSTERS,
        &label_clusters,
        LABEL_CLUSTERS,
        MAX_LIST_VALUES,
    )?;
    options.clusters = match scoped(scope.cluster.as_deref(), CLUSTERS)? {
        Some(cluster) => vec![cluster],
        None => url_or_label(url_clusters, label_clusters),
    };
    let label_namespaces = labels.take(LABEL_NAMESPACES);
    let url_namespaces = std::mem::take(&mut url.namespaces);
    check_list(
        &url_namespaces,
        NAMESPACES,
        &label_namespaces,
        LABEL_NAMESPACES,
        MAX_LIST_VALUES,
    )?;
    options.namespaces = match scoped(scope.namespace.as_deref(), NAMESPACES)? {
        Some(namespace) => vec![namespace],
        None => url_or_label(url_namespaces, label_namespaces),
    };
    let label_names = labels.take(LABEL_NAMES);
    let url_names = std::mem::take(&mut url.names);
    check_list(
        &url_names,
        NAMES,
        &label_names,
        LABEL_NAMES,
        MAX_LIST_VALUES,
    )?;
    options.names = url_or_label(url_names, label_names);
    let label_fuzzy = match (
        labels.take(LABEL_FUZZY_NAME),
        labels.take(LABEL_FUZZY_NAME_ALIAS),
    ) {
        (Some(_), Some(_)) => {
            return Err(StorageError::bad_request(
                LABEL_FUZZY_NAME_ALIAS,
                format!("given together with {LABEL_FUZZY_NAME}: use one of them"),
            ));
        }
        (Some(values), None) => Some((values, LABEL_FUZZY_NAME)),
        (None, Some(values)) => Some((values, LABEL_FUZZY_NAME_ALIAS)),
        (None, None) => None,
    };
    let url_fuzzy = std::mem::take(&mut url.fuzzy_names);
    let (label_fuzzy, fuzzy_label) = match label_fuzzy {
        Some((values, label)) => (Some(values), label),
        None => (None, LABEL_FUZZY_NAME),
    };
    check_list(
        &url_fuzzy,
        FUZZY_NAME,
        &label_fuzzy,
        fuzzy_label,
        MAX_FUZZY_NAMES,
    )?;
    options.fuzzy_names = url_or_label(url_fuzzy, label_fuzzy);
    options.full_text = parse_full_text(&mut url, &mut labels)?;

    let url_order = parse_order_by(&url.order_by, ORDER_BY, parse_url_order_item)?;
    let label_order = match labels.take(LABEL_ORDER_BY) {
        Some(values) => parse_order_by(&values, LABEL_ORDER_BY, parse_label_order_item)?,
        None => Vec::new(),
    };
    options.order_by = if url_order.is_empty() {
        label_order
    } else {
        url_order
    };

    options.owner = parse_owner(&mut url, &mut labels, options.clusters.len())?;

    let since = either(&mut url, SINCE, &mut labels, LABEL_SINCE, parse_instant)?;
    let before = either(&mut url, BEFORE, &mut labels, LABEL_BEFORE, parse_instant)?;
    if let (Some(since), Some(before)) = (&since, &before)
        && before.value < since.value
    {
        return Err(StorageError::bad_request(
            before.parameter,
            "Invalid Query, Since is after Before",
        ));
    }
    options.since = since.map(|s| s.value);
    options.before = before.map(|b| b.value);

    let url_limit = url
        .take(LIMIT)
        .map(|v| parse_count(&v, LIMIT, "Limit"))
        .transpose()?;
    let label_limit = labels
        .take_single(LABEL_LIMIT)
        .map(|v| parse_count(&v, LABEL_LIMIT, "Limit"))
        .transpose()?;
    options.limit = match url_limit {
        Some(limit) if limit > 0 => Some(limit),
        _ => label_limit.filter(|limit| *limit > 0),
    };

    let mut token = None;
    let mut continue_offset = None;
    if let Some(value) = url.take(CONTINUE) {
        if value.bytes().all(|b| b.is_ascii_digit()) {
            continue_offset = Some(parse_count(&value, CONTINUE, "Offset")?);
        } else {
            token = Some(value);
        }
    }
    let url_offset = url
        .take(OFFSET)
        .map(|v| parse_count(&v, OFFSET, "Offset"))
        .transpose()?;
    let label_offset = labels
        .take_single(LABEL_OFFSET)
        .map(|v| parse_count(&v, LABEL_OFFSET, "Offset"))
        .transpose()?;
    options.offset = continue_offset.or(url_offset).or(label_offset).unwrap_or(0);

    let defaults = ListOptions::default();
    options.with_continue = either_bool(&mut url, WITH_CONTINUE, &mut labels, LABEL_WITH_CONTINUE)?
        .unwrap_or(defaults.with_continue);
    options.with_remaining_count = either_bool(
        &mut url,
        WITH_REMAINING_COUNT,
        &mut labels,
        LABEL_WITH_REMAINING_COUNT,
    )?
    .unwrap_or(defaults.with_remaining_count);
    options.only_metadata = url
        .take_bool(ONLY_METADATA)?
        .unwrap_or(defaults.only_metadata);
    options.allow_watch_bookmarks = url
        .take_bool(ALLOW_WATCH_BOOKMARKS)?
        .unwrap_or(defaults.allow_watch_bookmarks);
    options.inject_events = labels
        .take_bool(LABEL_INJECT_EVENTS)?
        .unwrap_or(defaults.inject_events);
    options.resource_version = url.take(RESOURCE_VERSION);
    if let Some(version) = &options.resource_version {
        check_text(RESOURCE_VERSION, version)?;
    }

    if let Some(token) = token {
        options.continue_from = Some(ContinuePosition::decode(&token, &options)?);
        // The token holds the position: no offset is left to skip.
        options.offset = options.effective_offset();
    }
    Ok(options)
}

/// The list options given in the URL, before interpretation.
#[derive(Debug, Default)]
struct UrlQuery {
    clusters: Vec<String>,
    namespaces: Vec<String>,
    names: Vec<String>,
    fuzzy_names: Vec<String>,
    /// The raw `orderby` items (trimmed, non-empty), duplicates included.
    order_by: Vec<String>,
    label_selectors: Vec<String>,
    field_selectors: Vec<String>,
    /// Single-valued parameters, trimmed (possibly empty).
    single: HashMap<&'static str, String>,
}

impl UrlQuery {
    fn parse(query: &str) -> Result<Self> {
        let mut url = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                CLUSTERS => push_items(&mut url.clusters, &value, CLUSTERS)?,
                NAMESPACES => push_items(&mut url.namespaces, &value, NAMESPACES)?,
                NAMES => push_items(&mut url.names, &value, NAMES)?,
                FUZZY_NAME => push_items(&mut url.fuzzy_names, &value, FUZZY_NAME)?,
                ORDER_BY => url.order_by.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(str::to_owned),
                ),
                LABEL_SELECTOR => push_selector(&mut url.label_selectors, &value),
                FIELD_SELECTOR => push_selector(&mut url.field_selectors, &value),
                key => {
                    if let Some(name) = RAW_SQL.iter().copied().find(|name| *name == key) {
                        return Err(StorageError::bad_request(
                            name,
                            "raw SQL queries are not supported: filter on any field of the \
                             objects with the fieldSelector instead \
                             (e.g. fieldSelector=status.phase=Running)",
                        ));
                    }
                    if let Some(name) = SINGLE_VALUED.iter().copied().find(|name| *name == key) {
                        url.set_single(name, value.trim())?;
                    }
                }
            }
        }
        Ok(url)
    }

    fn set_single(&mut self, name: &'static str, value: &str) -> Result<()> {
        match self.single.get(name) {
            Some(previous) if previous != value => Err(StorageError::bad_request(
                name,
                "given more than once with different values",
            )),
            Some(_) => Ok(()),
            None => {
                self.single.insert(name, value.to_owned());
                Ok(())
            }
        }
    }

    /// The value of a single-valued parameter; an empty value counts as absent.
    fn take(&mut self, name: &'static str) -> Option<String> {
        self.single.remove(name).filter(|value| !value.is_empty())
    }

    /// The value of a boolean parameter; an empty value is true.
    fn take_bool(&mut self, name: &'static str) -> Result<Option<bool>> {
        self.single
            .remove(name)
            .map(|value| parse_bool(&value, name))
            .transpose()
    }
}

/// Appends the comma-separated items of `value` to `list`: trimmed, non-empty, not yet listed.
/// An item with a control character is a `400` naming `parameter`; so is a list longer than
/// [`MAX_LIST_VALUES`] (checked as it grows, so a huge list is not collected first).
fn push_items(list: &mut Vec<String>, value: &str, parameter: &'static str) -> Result<()> {
    for item in value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        check_text(parameter, item)?;
        push_unique(list, item);
        check_count(parameter, "values", list.len(), MAX_LIST_VALUES)?;
    }
    Ok(())
}

/// Checks the number of values of a list parameter given in the URL (`url`, named `url_name`)
/// or as a search label (`label`, named `label_name`) against `cap`. (Each value was checked
/// for control characters when parsed.)
fn check_list(
    url: &[String],
    url_name: &'static str,
    label: &Option<Vec<String>>,
    label_name: &'static str,
    cap: usize,
) -> Result<()> {
    check_count(url_name, "values", url.len(), cap)?;
    if let Some(values) = label {
        check_count(label_name, "values", values.len(), cap)?;
    }
    Ok(())
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|listed| listed == item) {
        list.push(item.to_owned());
    }
}

fn push_selector(selectors: &mut Vec<String>, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        selectors.push(value.to_owned());
    }
}

/// The scope's value, unless empty; a control character in it is a `400` naming `parameter`.
fn scoped(value: Option<&str>, parameter: &'static str) -> Result<Option<String>> {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if let Some(value) = &value {
        check_text(parameter, value)?;
    }
    Ok(value)
}

/// The URL list unless it is empty, else the search label's values (without duplicates).
fn url_or_label(url: Vec<String>, label: Option<Vec<String>>) -> Vec<String> {
    if !url.is_empty() {
        return url;
    }
    let mut list = Vec::new();
    for value in label.unwrap_or_default() {
        push_unique(&mut list, &value);
    }
    list
}

/// The search labels found in a label selector: key → values (operator and count checked).
#[derive(Debug, Default)]
struct SearchLabels {
    values: HashMap<&'static str, Vec<String>>,
}

impl SearchLabels {
    fn take(&mut self, label: &'static str) -> Option<Vec<String>> {
        self.values.remove(label)
    }

    /// The value of a single-valued label (exactly one value was checked at parsing).
    fn take_single(&mut self, label: &'static str) -> Option<String> {
        self.take(label)
            .and_then(|values| values.into_iter().next())
    }

    fn take_bool(&mut self, label: &'static str) -> Result<Option<bool>> {
        self.take_single(label)
            .map(|value| parse_bool(&value, label))
            .transpose()
    }
}

/// Parses the label selector and splits it into the real label selector and the search labels.
fn split_label_selector(text: &str) -> Result<(LabelSelector, SearchLabels)> {
    let mut labels = SearchLabels::default();
    if text.is_empty() {
        return Ok((LabelSelector::everything(), labels));
    }
    let exempt = |key: &str| key.contains(CLUSTERPEDIA_IO);
    let parsed = LabelSelector::parse_with_exempt_values(text, &exempt)
        .map_err(|e| StorageError::bad_request(LABEL_SELECTOR, e.to_string()))?;
    check_count(
        LABEL_SELECTOR,
        "requirements",
        parsed.requirements().len(),
        MAX_LABEL_REQUIREMENTS,
    )?;
    for requirement in parsed.requirements() {
        check_count(
            LABEL_SELECTOR,
            "values in one requirement",
            requirement.values.len(),
            MAX_SELECTOR_VALUES,
        )?;
    }
    let mut rest = Vec::new();
    for requirement in parsed.requirements() {
        let key = requirement.key.as_str();
        if key == LABEL_FORWARD {
            return Err(StorageError::bad_request(
                LABEL_FORWARD,
                "forwarding requests to member clusters is not supported",
            ));
        }
        match SEARCH_LABELS.iter().copied().find(|label| *label == key) {
            Some(label) => {
                let values = search_label_values(label, requirement)?;
                if labels.values.insert(label, values).is_some() {
                    return Err(StorageError::bad_request(
                        label,
                        "the search label is given more than once",
                    ));
                }
            }
            None if key.contains(CLUSTERPEDIA_IO) => {
                return Err(StorageError::bad_request(
                    LABEL_SELECTOR,
                    format!(
                        "unknown search label {key:?}: the known search labels are {}",
                        SEARCH_LABELS.join(", ")
                    ),
                ));
            }
            None => rest.push(requirement.clone()),
        }
    }
    let selector = if rest.is_empty() {
        LabelSelector::everything()
    } else {
        LabelSelector::from_requirements(rest)
    };
    Ok((selector, labels))
}

/// The values of a search label requirement, after checking its operator and values.
fn search_label_values(label: &'static str, requirement: &LabelRequirement) -> Result<Vec<String>> {
    let multi = MULTI_VALUED_LABELS.contains(&label);
    let operator = requirement.operator;
    if !matches!(
        operator,
        LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In
    ) {
        let allowed = if multi {
            "\"=\", \"==\" or \"in\""
        } else {
            "\"=\", \"==\" or \"in\" with one value"
        };
        return Err(StorageError::bad_request(
            label,
            format!(
                "the operator {} is not supported on search labels: use {allowed}",
                operator_text(operator)
            ),
        ));
    }
    let values: Vec<String> = requirement
        .values
        .iter()
        .map(|v| v.trim().to_owned())
        .collect();
    if values.is_empty() || (!multi && values.len() != 1) {
        let wanted = if multi {
            "at least one value"
        } else {
            "exactly one value"
        };
        return Err(StorageError::bad_request(
            label,
            format!("takes {wanted}, {} given", values.len()),
        ));
    }
    for value in &values {
        check_text(label, value)?;
    }
    if !BOOLEAN_LABELS.contains(&label) && values.iter().any(String::is_empty) {
        return Err(StorageError::bad_request(
            label,
            "a value must not be empty",
        ));
    }
    Ok(values)
}

/// How an operator is written, for error messages.
fn operator_text(operator: LabelOperator) -> &'static str {
    match operator {
        LabelOperator::Equals => "\"=\"",
        LabelOperator::DoubleEquals => "\"==\"",
        LabelOperator::NotEquals => "\"!=\"",
        LabelOperator::In => "\"in\"",
        LabelOperator::NotIn => "\"notin\"",
        LabelOperator::Exists => "exists (a key without operator)",
        LabelOperator::DoesNotExist => "does-not-exist (\"!key\")",
        LabelOperator::GreaterThan => "\">\"",
        LabelOperator::LessThan => "\"<\"",
    }
}

fn parse_field_selector(text: &str) -> Result<FieldSelector> {
    if text.is_empty() {
        return Ok(FieldSelector::everything());
    }
    let selector = FieldSelector::parse(text)
        .map_err(|e| StorageError::bad_request(FIELD_SELECTOR, e.to_string()))?;
    let requirements = selector.requirements();
    check_count(
        FIELD_SELECTOR,
        "requirements",
        requirements.len(),
        MAX_FIELD_REQUIREMENTS,
    )?;
    for requirement in requirements {
        check_path(FIELD_SELECTOR, &requirement.path)?;
        check_count(
            FIELD_SELECTOR,
            "values in one requirement",
            requirement.values.len(),
            MAX_SELECTOR_VALUES,
        )?;
        for value in &requirement.values {
            check_no_nul(FIELD_SELECTOR, value)?;
        }
    }
    Ok(selector)
}

/// Fails when `path` has more than [`MAX_PATH_SEGMENTS`] segments or more than
/// [`MAX_PATH_LIST_SEGMENTS`] `[]` segments.
fn check_path(parameter: &'static str, path: &FieldPath) -> Result<()> {
    let segments = path.segments();
    check_count(
        parameter,
        "segments in a field path",
        segments.len(),
        MAX_PATH_SEGMENTS,
    )?;
    let lists = segments
        .iter()
        .filter(|s| matches!(s, PathSegment::AnyIndex))
        .count();
    check_count(
        parameter,
        "[] segments in a field path",
        lists,
        MAX_PATH_LIST_SEGMENTS,
    )
}

/// A value and the parameter or search label it came from.
#[derive(Debug)]
struct Given<T> {
    value: T,
    parameter: &'static str,
}

/// A single value from the URL parameter `name` or, when absent or empty, the search label
/// `label`; both are parsed (and so validated) when given.
fn either<T>(
    url: &mut UrlQuery,
    name: &'static str,
    labels: &mut SearchLabels,
    label: &'static str,
    parse: impl Fn(&str, &'static str) -> Result<T>,
) -> Result<Option<Given<T>>> {
    let from_url = url.take(name).map(|v| parse(&v, name)).transpose()?;
    let from_label = labels
        .take_single(label)
        .map(|v| parse(&v, label))
        .transpose()?;
    Ok(match (from_url, from_label) {
        (Some(value), _) => Some(Given {
            value,
            parameter: name,
        }),
        (None, Some(value)) => Some(Given {
            value,
            parameter: label,
        }),
        (None, None) => None,
    })
}

/// A boolean from the URL parameter `name` (an empty value is true) or the search label.
fn either_bool(
    url: &mut UrlQuery,
    name: &'static str,
    labels: &mut SearchLabels,
    label: &'static str,
) -> Result<Option<bool>> {
    let from_url = url.take_bool(name)?;
    let from_label = labels.take_bool(label)?;
    Ok(from_url.or(from_label))
}

/// `""`, `true`, `1` → true; `false`, `0` → false (case-insensitive); else a `400`.
fn parse_bool(value: &str, parameter: &'static str) -> Result<bool> {
    let value = value.trim();
    if value.is_empty() || value == "1" || value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value == "0" || value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(StorageError::bad_request(
            parameter,
            format!("invalid boolean {value:?}: use true, false, 1 or 0 (no value is true)"),
        ))
    }
}

/// A non-negative integer; `what` names it in the error (`Invalid Query Limit(-1): ...`).
fn parse_count(value: &str, parameter: &'static str, what: &str) -> Result<u64> {
    value.parse::<u64>().map_err(|_| {
        StorageError::bad_request(
            parameter,
            format!("Invalid Query {what}({value}): must be a non-negative integer"),
        )
    })
}

fn parse_instant(value: &str, parameter: &'static str) -> Result<i64> {
    parse_time(value).map_err(|message| StorageError::bad_request(parameter, message))
}

fn parse_seniority(value: &str, parameter: &'static str) -> Result<u32> {
    match value.parse::<u32>() {
        Ok(seniority) if seniority <= MAX_OWNER_SENIORITY => Ok(seniority),
        _ => Err(StorageError::bad_request(
            parameter,
            format!(
                "Invalid Query OwnerSeniority({value}): \
                 must be an integer from 0 to {MAX_OWNER_SENIORITY}"
            ),
        )),
    }
}

fn parse_group_resource(value: &str, parameter: &'static str) -> Result<GroupResource> {
    check_text(parameter, value)?;
    let group_resource = GroupResource::parse(value);
    let bad = |c: char| c == '/' || c.is_whitespace();
    if group_resource.resource.is_empty() || value.contains(bad) {
        return Err(StorageError::bad_request(
            parameter,
            format!(
                "Invalid Query OwnerGR({value}): expected <resource>.<group>, e.g. deployments.apps"
            ),
        ));
    }
    Ok(group_resource)
}

fn parse_owner(
    url: &mut UrlQuery,
    labels: &mut SearchLabels,
    clusters: usize,
) -> Result<Option<OwnerQuery>> {
    let text = |value: &str, parameter: &'static str| {
        check_text(parameter, value)?;
        Ok(value.to_owned())
    };
    let uid = either(url, OWNER_UID, labels, LABEL_OWNER_UID, text)?;
    let name = either(url, OWNER_NAME, labels, LABEL_OWNER_NAME, text)?;
    let group_resource = either(url, OWNER_GR, labels, LABEL_OWNER_GR, parse_group_resource)?;
    let seniority = either(
        url,
        OWNER_SENIORITY,
        labels,
        LABEL_OWNER_SENIORITY,
        parse_seniority,
    )?;

    let Some(owner_parameter) = uid.as_ref().or(name.as_ref()).map(|given| given.parameter) else {
        let refinement = group_resource
            .as_ref()
            .map(|given| given.parameter)
            .or(seniority.as_ref().map(|given| given.parameter));
        return match refinement {
            Some(parameter) => Err(StorageError::bad_request(
                parameter,
                format!(
                    "only applies to an owner search: give {OWNER_UID} or {OWNER_NAME} \
                     (or {LABEL_OWNER_UID} or {LABEL_OWNER_NAME})"
                ),
            )),
            None => Ok(None),
        };
    };
    if clusters != 1 {
        return Err(StorageError::bad_request(
            owner_parameter,
            "If searching by owner uid or name, then the cluster must be specified",
        ));
    }
    Ok(Some(OwnerQuery {
        uid: uid.map(|given| given.value),
        name: name.map(|given| given.value),
        group_resource: group_resource.map(|given| given.value),
        seniority: seniority.map_or(0, |given| given.value),
    }))
}

/// The full-text query of the URL parameter `query` or, when absent or empty, of the search
/// label (the words of all its values); both are validated when given.
fn parse_full_text(url: &mut UrlQuery, labels: &mut SearchLabels) -> Result<Option<FullTextQuery>> {
    let from_url = url
        .take(FULL_TEXT)
        .map(|value| full_text_query(&[value], FULL_TEXT))
        .transpose()?;
    let from_label = labels
        .take(LABEL_FULL_TEXT)
        .map(|values| full_text_query(&values, LABEL_FULL_TEXT))
        .transpose()?;
    Ok(from_url.or(from_label))
}

/// The full-text query of the words of `values`, within the caps.
fn full_text_query(values: &[String], parameter: &'static str) -> Result<FullTextQuery> {
    for value in values {
        check_text(parameter, value)?;
    }
    let bytes: usize = values.iter().map(String::len).sum();
    if bytes > MAX_FULL_TEXT_BYTES {
        return Err(StorageError::bad_request(
            parameter,
            format!(
                "the full-text query is {bytes} bytes long, the limit is {MAX_FULL_TEXT_BYTES}"
            ),
        ));
    }
    let query = FullTextQuery::parse(values.iter().map(String::as_str))
        .map_err(|e| StorageError::bad_request(parameter, e.to_string()))?;
    check_count(parameter, "words", query.terms().len(), MAX_FULL_TEXT_WORDS)?;
    Ok(query)
}

/// Parses order items (`parse_item` splits one into field text and direction) into order
/// fields, refusing unknown fields and fields given twice.
fn parse_order_by(
    items: &[String],
    parameter: &'static str,
    parse_item: fn(&str) -> Result<(&str, bool)>,
) -> Result<Vec<OrderBy>> {
    let mut order: Vec<OrderBy> = Vec::with_capacity(items.len());
    let mut paths = 0;
    for item in items {
        let (field, descending) = parse_item(item)?;
        let field = parse_order_field(field, item, parameter)?;
        if matches!(field, OrderField::Path(_)) {
            paths += 1;
            check_count(parameter, "order field paths", paths, MAX_ORDER_PATHS)?;
        }
        if order.iter().any(|o| o.field == field) {
            return Err(StorageError::bad_request(
                parameter,
                format!("Invalid Query OrderBy({item}): the field {field} is given more than once"),
            ));
        }
        order.push(OrderBy { field, descending });
    }
    Ok(order)
}

/// `field`, `field desc` or `field asc` (`desc`/`asc` case-insensitive).
fn parse_url_order_item(item: &str) -> Result<(&str, bool)> {
    let tokens: Vec<&str> = item.split_whitespace().collect();
    match tokens.as_slice() {
        [field] => Ok((field, false)),
        [field, direction] if direction.eq_ignore_ascii_case("desc") => Ok((field, true)),
        [field, direction] if direction.eq_ignore_ascii_case("asc") => Ok((field, false)),
        _ => Err(StorageError::bad_request(
            ORDER_BY,
            format!(
                "Invalid Query OrderBy({item}): an item is \"field\", \"field desc\" or \
                 \"field asc\", items are separated by commas"
            ),
        )),
    }
}

/// `field`, `field_desc` or `field_asc`.
fn parse_label_order_item(item: &str) -> Result<(&str, bool)> {
    Ok(if let Some(field) = item.strip_suffix("_desc") {
        (field, true)
    } else if let Some(field) = item.strip_suffix("_asc") {
        (field, false)
    } else {
        (item, false)
    })
}

/// A column name, or a field path of at least two segments without `[]` (a single word must
/// be a column name, so that a typo such as `nmae` is an error, not a sort by a missing field).
fn parse_order_field(field: &str, item: &str, parameter: &'static str) -> Result<OrderField> {
    if let Some(column) = OrderField::from_column_name(field) {
        return Ok(column);
    }
    let unsupported = |why: String| {
        StorageError::bad_request(
            parameter,
            format!(
                "Invalid Query OrderBy({item}): unsupported field {field:?} ({why}): order by \
                 {ORDER_COLUMNS}, or a field path of the objects without [] such as \
                 metadata.labels.app or spec.containers[0].image"
            ),
        )
    };
    let path = FieldPath::parse(field).map_err(|e| unsupported(e.to_string()))?;
    check_path(parameter, &path)?;
    if path
        .segments()
        .iter()
        .any(|s| matches!(s, PathSegment::AnyIndex))
    {
        return Err(unsupported("[] has no single value".to_owned()));
    }
    if path.segments().len() < 2 {
        return Err(unsupported(
            "not a column, and a field path needs at least two segments".to_owned(),
        ));
    }
    Ok(OrderField::Path(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::SortValue;

    fn query(pairs: &[(&str, &str)]) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    fn parse(q: &str) -> ListOptions {
        parse_list_options(q, &RequestScope::default()).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn parse_pairs(pairs: &[(&str, &str)]) -> ListOptions {
        parse(&query(pairs))
    }

    /// The parameter and message of the `400` for `q`.
    fn fail_in(q: &str, scope: &RequestScope) -> (String, String) {
        match parse_list_options(q, scope) {
            Err(StorageError::BadRequest { parameter, message }) => {
                (parameter.into_owned(), message)
            }
            Err(other) => panic!("{q}: not a bad request: {other}"),
            Ok(options) => panic!("{q}: parsed: {options:?}"),
        }
    }

    fn fail(q: &str) -> (String, String) {
        fail_in(q, &RequestScope::default())
    }

    fn fail_pairs(pairs: &[(&str, &str)]) -> (String, String) {
        fail(&query(pairs))
    }

    fn labels(selector: &str) -> ListOptions {
        parse_pairs(&[("labelSelector", selector)])
    }

    fn fail_labels(selector: &str) -> (String, String) {
        fail_pairs(&[("labelSelector", selector)])
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn order(options: &ListOptions) -> Vec<String> {
        options.order_by.iter().map(ToString::to_string).collect()
    }

    fn label_keys(options: &ListOptions) -> Vec<&str> {
        options
            .label_selector
            .requirements()
            .iter()
            .map(|r| r.key.as_str())
            .collect()
    }

    fn owner_scope() -> RequestScope {
        RequestScope {
            cluster: Some("c1".into()),
            namespace: None,
        }
    }

    #[test]
    fn empty_query_is_the_default() {
        assert_eq!(parse(""), ListOptions::default());
        assert_eq!(parse("&&"), ListOptions::default());
    }

    #[test]
    fn comma_lists_keep_written_order() {
        let options = parse("clusters=b,a&clusters=c,+a+,,&namespaces=ns2,ns1&names=x,y,x");
        assert_eq!(options.clusters, strings(&["b", "a", "c"]));
        assert_eq!(options.namespaces, strings(&["ns2", "ns1"]));
        assert_eq!(options.names, strings(&["x", "y"]));
        assert!(parse("clusters=&namespaces=,,").clusters.is_empty());
    }

    #[test]
    fn fuzzy_names_from_url_and_labels() {
        assert_eq!(
            parse("fuzzyName=web,api").fuzzy_names,
            strings(&["web", "api"])
        );
        assert_eq!(
            labels("internalstorage.clusterpedia.io/fuzzy-name in (web,api)").fuzzy_names,
            strings(&["web", "api"])
        );
        assert_eq!(
            labels("search.clusterpedia.io/fuzzy-name=web").fuzzy_names,
            strings(&["web"])
        );
        let options = parse_pairs(&[
            ("fuzzyName", "url"),
            (
                "labelSelector",
                "internalstorage.clusterpedia.io/fuzzy-name=label",
            ),
        ]);
        assert_eq!(options.fuzzy_names, strings(&["url"]));
        let (parameter, _) = fail_labels(
            "internalstorage.clusterpedia.io/fuzzy-name=a,search.clusterpedia.io/fuzzy-name=b",
        );
        assert_eq!(parameter, "search.clusterpedia.io/fuzzy-name");
    }

    #[test]
    fn full_text_from_url_and_labels() {
        let words = |options: ListOptions| {
            options
                .full_text
                .map(|q| q.terms().to_vec())
                .unwrap_or_default()
        };
        assert_eq!(
            words(parse_pairs(&[("query", " Nginx web-Frontend nginx ")])),
            strings(&["nginx", "web", "frontend"])
        );
        assert_eq!(parse_pairs(&[("query", " ")]).full_text, None);
        assert_eq!(parse("").full_text, None);
        assert_eq!(
            words(labels("search.clusterpedia.io/query=Nginx")),
            strings(&["nginx"])
        );
        assert_eq!(
            words(labels("app=x,search.clusterpedia.io/query in (web,Blue)")),
            strings(&["web", "blue"])
        );
        // The search label is removed from the label selector.
        assert_eq!(
            label_keys(&labels("app=x,search.clusterpedia.io/query=web")),
            ["app"]
        );
        // The URL wins over the label; both are validated.
        let options = parse_pairs(&[
            ("query", "url"),
            ("labelSelector", "search.clusterpedia.io/query=label"),
        ]);
        assert_eq!(words(options), strings(&["url"]));
        let (parameter, _) = fail_pairs(&[
            ("query", "url"),
            ("labelSelector", "search.clusterpedia.io/query=--"),
        ]);
        assert_eq!(parameter, "search.clusterpedia.io/query");
        // A full-text query without `orderby` is ordered by relevance first.
        let options = parse_pairs(&[("query", "web")]);
        assert_eq!(options.effective_order()[0].to_string(), "relevance desc");
        assert!(!options.is_key_order());
        let options = parse_pairs(&[("query", "web"), ("orderby", "name")]);
        assert_eq!(
            options
                .effective_order()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "name",
                "cluster",
                "namespace",
                "group",
                "version",
                "resource"
            ]
        );
    }

    #[test]
    fn full_text_errors_name_the_parameter_and_the_cap() {
        let (parameter, message) = fail_pairs(&[("query", "-- //")]);
        assert_eq!(parameter, "query");
        assert!(message.contains("no word"), "{message}");
        let (parameter, message) = fail_pairs(&[("query", "a"), ("query", "b")]);
        assert_eq!(parameter, "query");
        assert!(message.contains("more than once"), "{message}");
        let many_words: Vec<String> = (0..=MAX_FULL_TEXT_WORDS).map(|i| format!("w{i}")).collect();
        let (parameter, message) = fail_pairs(&[("query", &many_words.join(" "))]);
        assert_eq!(parameter, "query");
        assert!(
            message.contains(&MAX_FULL_TEXT_WORDS.to_string()),
            "{message}"
        );
        // Repeated words count once.
        let repeated = vec!["same"; MAX_FULL_TEXT_WORDS * 2].join(" ");
        assert!(parse_pairs(&[("query", &repeated)]).full_text.is_some());
        let (parameter, message) = fail_pairs(&[("query", &"a ".repeat(MAX_FULL_TEXT_BYTES))]);
        assert_eq!(parameter, "query");
        assert!(
            message.contains(&MAX_FULL_TEXT_BYTES.to_string()),
            "{message}"
        );
        let long_word = "a".repeat(crate::query::full_text::MAX_WORD_BYTES + 1);
        let (parameter, message) = fail_pairs(&[("query", &long_word)]);
        assert_eq!(parameter, "query");
        assert!(message.contains("256"), "{message}");
        let (parameter, _) = fail_pairs(&[("query", "a\u{1}b")]);
        assert_eq!(parameter, "query");
        let selector = format!("search.clusterpedia.io/query in ({})", many_words.join(","));
        assert_eq!(fail_labels(&selector).0, "search.clusterpedia.io/query");
        let (parameter, message) = fail_labels("search.clusterpedia.io/query!=web");
        assert_eq!(parameter, "search.clusterpedia.io/query");
        assert!(message.contains("operator"), "{message}");
    }

    #[test]
    fn percent_encoded_label_selector() {
        let options =
            parse("labelSelector=app%3Dnginx%2Csearch.clusterpedia.io%2Fclusters+in+%28c1%2Cc2%29");
        assert_eq!(options.clusters, strings(&["c1", "c2"]));
        assert_eq!(
            options.label_selector,
            LabelSelector::parse("app=nginx").expect("valid")
        );
    }

    #[test]
    fn search_labels_are_removed_and_the_rest_keeps_its_order() {
        let options = labels("b=1,search.clusterpedia.io/namespaces=ns,a in (x,y),!c");
        assert_eq!(label_keys(&options), ["b", "a", "c"]);
        assert_eq!(options.namespaces, strings(&["ns"]));
        assert_eq!(
            options.label_selector.requirements()[1].values,
            strings(&["x", "y"])
        );
        assert!(
            labels("search.clusterpedia.io/clusters=c1")
                .label_selector
                .is_empty()
        );
    }

    #[test]
    fn label_values_keep_written_order() {
        let options = labels("search.clusterpedia.io/clusters in (b,a)");
        assert_eq!(options.clusters, strings(&["b", "a"]));
        let options = labels("search.clusterpedia.io/orderby in (name_desc,cluster)");
        assert_eq!(order(&options), ["name desc", "cluster"]);
        let options =
            labels("search.clusterpedia.io/names in (z,y,x),search.clusterpedia.io/namespaces==n");
        assert_eq!(options.names, strings(&["z", "y", "x"]));
        assert_eq!(options.namespaces, strings(&["n"]));
    }

    #[test]
    fn label_selector_and_field_selector_errors() {
        let (parameter, message) = fail_pairs(&[("labelSelector", "a in (")]);
        assert_eq!(parameter, "labelSelector");
        assert!(!message.is_empty());
        let (parameter, _) = fail_pairs(&[("labelSelector", "app=no:colon")]);
        assert_eq!(parameter, "labelSelector");
        let (parameter, _) = fail_pairs(&[("fieldSelector", "spec.containers[]==x")]);
        assert_eq!(parameter, "fieldSelector");
        // Values of clusterpedia labels are exempt from the label value rule.
        assert_eq!(
            labels("search.clusterpedia.io/since=2022-01-02T03:04:05Z").since,
            Some(1_641_092_645_000)
        );
    }

    #[test]
    fn field_selector() {
        let options = parse_pairs(&[("fieldSelector", "status.phase=Running")]);
        assert_eq!(
            options.field_selector,
            FieldSelector::parse("status.phase=Running").expect("valid")
        );
        let options = parse_pairs(&[("fieldSelector", "a=1"), ("fieldSelector", "b=2")]);
        assert_eq!(
            options.field_selector,
            FieldSelector::parse("a=1,b=2").expect("valid")
        );
        let options = parse_pairs(&[("labelSelector", "a=1"), ("labelSelector", "b=2")]);
        assert_eq!(label_keys(&options), ["a", "b"]);
    }

    #[test]
    fn url_orderby() {
        assert_eq!(
            order(&parse("orderby=name+desc,cluster")),
            ["name desc", "cluster"]
        );
        assert_eq!(
            order(&parse(
                "orderby=name%20DESC&orderby=created_at+asc,resource_version"
            )),
            ["name desc", "created_at", "resource_version"]
        );
        let options = parse("orderby=metadata.labels.app+desc,spec.containers[0].image");
        assert_eq!(
            order(&options),
            ["metadata.labels.app desc", "spec.containers[0].image"]
        );
        assert!(matches!(options.order_by[0].field, OrderField::Path(_)));
        let all = "cluster,namespace,name,created_at,resource_version,group,version,resource";
        assert_eq!(order(&parse_pairs(&[("orderby", all)])).join(","), all);
    }

    #[test]
    fn url_orderby_errors() {
        let (parameter, message) = fail("orderby=name+cluster");
        assert_eq!(parameter, "orderby");
        assert!(
            message.starts_with("Invalid Query OrderBy(name cluster)"),
            "{message}"
        );
        let (_, message) = fail("orderby=name+cluster+desc");
        assert!(
            message.starts_with("Invalid Query OrderBy(name cluster desc)"),
            "{message}"
        );
        let (_, message) = fail("orderby=name,name+desc");
        assert!(message.contains("more than once"), "{message}");
        let (_, message) = fail("orderby=spec.containers[].image");
        assert!(message.contains("\"spec.containers[].image\""), "{message}");
        let (_, message) = fail("orderby=a..b");
        assert!(message.contains("unsupported field \"a..b\""), "{message}");
        assert!(message.contains("created_at"), "{message}");
        let (_, message) = fail("orderby=JSON_EXTRACT(object,'$.status.podIP')");
        assert!(message.contains("unsupported field"), "{message}");
        let (_, message) = fail("orderby=nmae");
        assert!(
            message.contains("unsupported field \"nmae\""),
            "a typo is not a path: {message}"
        );
    }

    #[test]
    fn label_orderby() {
        assert_eq!(
            order(&labels(
                "search.clusterpedia.io/orderby in (created_at_desc,namespace_asc,resource_version)"
            )),
            ["created_at desc", "namespace", "resource_version"]
        );
        let (parameter, message) =
            fail_labels("search.clusterpedia.io/orderby in (name,name_desc)");
        assert_eq!(parameter, "search.clusterpedia.io/orderby");
        assert!(message.contains("more than once"), "{message}");
        // The URL wins.
        let options = parse_pairs(&[
            ("orderby", "cluster"),
            ("labelSelector", "search.clusterpedia.io/orderby=name_desc"),
        ]);
        assert_eq!(order(&options), ["cluster"]);
    }

    #[test]
    fn owner_by_uid_and_name() {
        let options = parse_list_options(
            "ownerUID=u1&ownerName=web&ownerGR=deployments.apps&ownerSeniority=1",
            &owner_scope(),
        )
        .expect("valid");
        assert_eq!(
            options.owner,
            Some(OwnerQuery {
                uid: Some("u1".into()),
                name: Some("web".into()),
                group_resource: Some(GroupResource::parse("deployments.apps")),
                seniority: 1,
            })
        );
        let options = parse("clusters=c1&ownerName=web");
        assert_eq!(options.owner.and_then(|o| o.name), Some("web".into()));
        let options = labels(
            "search.clusterpedia.io/clusters=c1,search.clusterpedia.io/owner-uid=u2,\
             search.clusterpedia.io/owner-gr=replicasets.apps,\
             search.clusterpedia.io/owner-seniority=2",
        );
        assert_eq!(
            options.owner,
            Some(OwnerQuery {
                uid: Some("u2".into()),
                name: None,
                group_resource: Some(GroupResource::parse("replicasets.apps")),
                seniority: 2,
            })
        );
        // The URL wins over the label.
        let options = parse_pairs(&[
            ("clusters", "c1"),
            ("ownerUID", "url"),
            ("labelSelector", "search.clusterpedia.io/owner-uid=label"),
        ]);
        assert_eq!(options.owner.and_then(|o| o.uid), Some("url".into()));
        assert_eq!(parse("ownerUID=").owner, None);
    }

    #[test]
    fn owner_needs_exactly_one_cluster() {
        let message = "If searching by owner uid or name, then the cluster must be specified";
        assert_eq!(fail("ownerUID=u1"), ("ownerUID".into(), message.into()));
        assert_eq!(
            fail("clusters=a,b&ownerName=x"),
            ("ownerName".into(), message.into())
        );
        assert_eq!(
            fail_labels("search.clusterpedia.io/owner-name=x"),
            ("search.clusterpedia.io/owner-name".into(), message.into())
        );
        // The path cluster counts, and replaces the clusters of the query.
        let options =
            parse_list_options("clusters=a,b&ownerUID=u1", &owner_scope()).expect("valid");
        assert_eq!(options.clusters, strings(&["c1"]));
    }

    #[test]
    fn owner_refinements_need_an_owner() {
        let (parameter, message) = fail("clusters=c1&ownerGR=deployments.apps");
        assert_eq!(parameter, "ownerGR");
        assert!(message.contains("ownerUID"), "{message}");
        assert_eq!(fail("clusters=c1&ownerSeniority=1").0, "ownerSeniority");
        assert_eq!(
            fail_labels("search.clusterpedia.io/owner-seniority=0").0,
            "search.clusterpedia.io/owner-seniority"
        );
    }

    #[test]
    fn owner_value_errors() {
        for value in ["-1", "x", "1.5", "17"] {
            let (parameter, message) = fail_in(
                &format!("ownerUID=u&ownerSeniority={value}"),
                &owner_scope(),
            );
            assert_eq!(parameter, "ownerSeniority");
            assert!(
                message.starts_with(&format!("Invalid Query OwnerSeniority({value})")),
                "{message}"
            );
        }
        let (parameter, _) = fail_in(
            &query(&[
                ("ownerUID", "u"),
                ("labelSelector", "search.clusterpedia.io/owner-seniority=x"),
            ]),
            &owner_scope(),
        );
        assert_eq!(parameter, "search.clusterpedia.io/owner-seniority");
        for value in ["apps/deployments", ".apps"] {
            let (parameter, message) = fail_in(
                &query(&[("ownerName", "x"), ("ownerGR", value)]),
                &owner_scope(),
            );
            assert_eq!(parameter, "ownerGR");
            assert!(message.starts_with("Invalid Query OwnerGR"), "{message}");
        }
        let options =
            parse_list_options("ownerName=x&ownerGR=pods", &owner_scope()).expect("core group");
        assert_eq!(
            options.owner.and_then(|o| o.group_resource),
            Some(GroupResource {
                group: String::new(),
                resource: "pods".into()
            })
        );
    }

    #[test]
    fn since_and_before() {
        let options = parse_pairs(&[("since", "2022-01-02"), ("before", "2022-01-02 03:04:05")]);
        assert_eq!(options.since, Some(1_641_081_600_000));
        assert_eq!(options.before, Some(1_641_092_645_000));
        let options = labels(
            "search.clusterpedia.io/since=1641081600,search.clusterpedia.io/before=1641092645000",
        );
        assert_eq!(options.since, Some(1_641_081_600_000));
        assert_eq!(options.before, Some(1_641_092_645_000));
        // Equal is allowed (an empty range).
        assert!(parse("since=2022-01-02&before=2022-01-02").since.is_some());
        assert_eq!(parse("since=&before=+").since, None);
        // The URL wins over the label.
        let options = parse_pairs(&[
            ("since", "2022-01-02"),
            ("labelSelector", "search.clusterpedia.io/since=1641092645"),
        ]);
        assert_eq!(options.since, Some(1_641_081_600_000));
    }

    #[test]
    fn since_and_before_errors() {
        let (parameter, message) = fail("since=2022-13-01");
        assert_eq!(parameter, "since");
        assert_eq!(
            message,
            "Invalid datetime: 2022-13-01, a valid datetime format: RFC3339, \
             Datetime(2006-01-02 15:04:05), Date(2006-01-02), Unix Timestamp"
        );
        let (parameter, message) = fail("before=12345");
        assert_eq!(parameter, "before");
        assert!(
            message.starts_with("Invalid timestamp: only timestamps"),
            "{message}"
        );
        assert_eq!(
            fail_labels("search.clusterpedia.io/before=abc").0,
            "search.clusterpedia.io/before"
        );
        assert_eq!(
            fail("since=2022-01-03&before=2022-01-02"),
            (
                "before".into(),
                "Invalid Query, Since is after Before".into()
            )
        );
        let (parameter, message) = fail_pairs(&[
            ("since", "2022-01-03"),
            ("labelSelector", "search.clusterpedia.io/before=2022-01-02"),
        ]);
        assert_eq!(parameter, "search.clusterpedia.io/before");
        assert_eq!(message, "Invalid Query, Since is after Before");
    }

    #[test]
    fn limit() {
        assert_eq!(parse("limit=10").limit, Some(10));
        assert_eq!(parse("limit=0").limit, None);
        assert_eq!(parse("limit=").limit, None);
        for value in ["-1", "abc", "1.5", "99999999999999999999999"] {
            let (parameter, message) = fail(&format!("limit={value}"));
            assert_eq!(parameter, "limit");
            assert!(
                message.starts_with(&format!("Invalid Query Limit({value})")),
                "{message}"
            );
        }
        // The label applies when the URL limit is absent or 0, not otherwise.
        assert_eq!(labels("search.clusterpedia.io/limit=5").limit, Some(5));
        let with_url = |limit: &str| {
            parse_pairs(&[
                ("limit", limit),
                ("labelSelector", "search.clusterpedia.io/limit=5"),
            ])
            .limit
        };
        assert_eq!(with_url("0"), Some(5));
        assert_eq!(with_url("500"), Some(500));
        assert_eq!(labels("search.clusterpedia.io/limit=0").limit, None);
        assert_eq!(
            fail_labels("search.clusterpedia.io/limit=-5").0,
            "search.clusterpedia.io/limit"
        );
    }

    #[test]
    fn offset_and_numeric_continue() {
        assert_eq!(parse("offset=20").offset, 20);
        assert_eq!(parse("continue=30").offset, 30);
        assert_eq!(parse("continue=30").continue_from, None);
        assert_eq!(labels("search.clusterpedia.io/offset=7").offset, 7);
        // A numeric continue wins over offset, which wins over the label.
        assert_eq!(
            parse_pairs(&[
                ("continue", "30"),
                ("offset", "20"),
                ("labelSelector", "search.clusterpedia.io/offset=7")
            ])
            .offset,
            30
        );
        assert_eq!(
            parse_pairs(&[
                ("offset", "20"),
                ("labelSelector", "search.clusterpedia.io/offset=7")
            ])
            .offset,
            20
        );
        let (parameter, message) = fail("offset=-1");
        assert_eq!(parameter, "offset");
        assert!(message.starts_with("Invalid Query Offset(-1)"), "{message}");
        assert_eq!(
            fail_labels("search.clusterpedia.io/offset=x").0,
            "search.clusterpedia.io/offset"
        );
        let (parameter, _) = fail("continue=99999999999999999999999");
        assert_eq!(parameter, "continue");
    }

    fn position(options: &ListOptions) -> ContinuePosition {
        let values = options
            .effective_order()
            .iter()
            .map(|o| match o.field {
                OrderField::CreatedAt | OrderField::ResourceVersion => SortValue::Int(42),
                _ => SortValue::Str("x".into()),
            })
            .collect();
        let pods = crate::object::Gvr::new("", "v1", "pods");
        ContinuePosition::new(crate::query::paging::Listed::Resource(&pods), values)
    }

    #[test]
    fn continue_token_round_trip() {
        let first = query(&[
            ("namespaces", "ns"),
            ("orderby", "created_at desc"),
            ("labelSelector", "app=web,search.clusterpedia.io/offset=5"),
            ("limit", "10"),
        ]);
        let options = parse(&first);
        let token = position(&options).encode(&options);
        let next = parse(&format!("{first}&continue={token}"));
        assert_eq!(next.continue_from, Some(position(&options)));
        assert_eq!(next.offset, 0, "the token holds the position");
        assert_eq!(next.limit, Some(10));
        assert_eq!(next.order_by, options.order_by);
    }

    #[test]
    fn continue_token_of_another_query_is_rejected() {
        let options = parse("namespaces=a");
        let token = position(&options).encode(&options);
        let (parameter, _) = fail(&query(&[("namespaces", "b"), ("continue", &token)]));
        assert_eq!(parameter, "continue");
        let (parameter, _) = fail("continue=not-a-token");
        assert_eq!(parameter, "continue");
        assert_eq!(fail("continue=-1").0, "continue");
    }

    #[test]
    fn booleans() {
        let defaults = ListOptions::default();
        assert!(defaults.with_continue);
        assert!(!parse("withContinue=false").with_continue);
        assert!(!parse("withContinue=0").with_continue);
        assert!(!parse("withContinue=FALSE").with_continue);
        assert!(parse("withContinue=True").with_continue);
        assert!(parse("withRemainingCount").with_remaining_count);
        assert!(parse("withRemainingCount=").with_remaining_count);
        assert!(parse("withRemainingCount=1").with_remaining_count);
        assert!(!parse("withRemainingCount=false").with_remaining_count);
        assert!(parse("onlyMetadata=true").only_metadata);
        assert!(parse("allowWatchBookmarks=true").allow_watch_bookmarks);
        for name in [
            "withContinue",
            "withRemainingCount",
            "onlyMetadata",
            "allowWatchBookmarks",
        ] {
            let (parameter, message) = fail(&format!("{name}=yes"));
            assert_eq!(parameter, name);
            assert!(message.contains("\"yes\""), "{message}");
        }
    }

    #[test]
    fn boolean_labels() {
        assert!(!labels("search.clusterpedia.io/with-continue=false").with_continue);
        assert!(labels("search.clusterpedia.io/with-remaining-count=true").with_remaining_count);
        assert!(labels("search.clusterpedia.io/with-remaining-count=").with_remaining_count);
        assert!(labels("search.clusterpedia.io/inject-events=true").inject_events);
        assert!(!labels("search.clusterpedia.io/inject-events=false").inject_events);
        assert_eq!(
            fail_labels("search.clusterpedia.io/inject-events=maybe").0,
            "search.clusterpedia.io/inject-events"
        );
        // The URL wins.
        let options = parse_pairs(&[
            ("withRemainingCount", "false"),
            (
                "labelSelector",
                "search.clusterpedia.io/with-remaining-count=true",
            ),
        ]);
        assert!(!options.with_remaining_count);
    }

    #[test]
    fn resource_version() {
        assert_eq!(
            parse("resourceVersion=123").resource_version,
            Some("123".into())
        );
        assert_eq!(parse("resourceVersion=").resource_version, None);
    }

    #[test]
    fn raw_sql_is_refused() {
        for name in [
            "whereSQL",
            "whereSQLStatement",
            "whereSQLParam",
            "whereSQLJSONParams",
        ] {
            let (parameter, message) = fail(&format!("{name}=1%3D1"));
            assert_eq!(parameter, name);
            assert!(
                message.contains("not supported") && message.contains("fieldSelector"),
                "{message}"
            );
        }
    }

    #[test]
    fn other_parameters_are_ignored() {
        let options = parse(
            "watch=true&timeoutSeconds=5&pretty=true&resourceVersionMatch=NotOlderThan&\
             sendInitialEvents=true&includeObject=Object&groups=apps&resources=pods&Limit=x",
        );
        assert_eq!(options, ListOptions::default());
    }

    #[test]
    fn repeated_single_parameters() {
        assert_eq!(parse("limit=5&limit=5").limit, Some(5));
        let (parameter, message) = fail("limit=5&limit=6");
        assert_eq!(parameter, "limit");
        assert!(message.contains("more than once"), "{message}");
    }

    #[test]
    fn forward_is_refused() {
        for selector in [
            "search.clusterpedia.io/forward",
            "search.clusterpedia.io/forward=true",
            "a=1,search.clusterpedia.io/forward=true,b=2",
        ] {
            assert_eq!(
                fail_labels(selector),
                (
                    "search.clusterpedia.io/forward".into(),
                    "forwarding requests to member clusters is not supported".into()
                ),
                "{selector}"
            );
        }
    }

    #[test]
    fn unknown_clusterpedia_labels_are_refused() {
        for key in [
            "search.clusterpedia.io/size",
            "search.clusterpedia.io/forward-something",
            "internalstorage.clusterpedia.io/other",
            "clusterpedia.io/x",
        ] {
            let (parameter, message) = fail_labels(&format!("{key}=1"));
            assert_eq!(parameter, "labelSelector");
            assert!(message.contains(key), "{message}");
            assert!(
                message.contains("search.clusterpedia.io/owner-seniority"),
                "{message}"
            );
        }
        // A user label that merely mentions clusterpedia.io without the slash is a label.
        assert_eq!(
            label_keys(&labels("example.com/clusterpedia.io=1")),
            ["example.com/clusterpedia.io"]
        );
    }

    #[test]
    fn search_label_operators() {
        for selector in [
            "search.clusterpedia.io/clusters!=a",
            "search.clusterpedia.io/clusters notin (a)",
            "search.clusterpedia.io/clusters",
            "!search.clusterpedia.io/clusters",
            "search.clusterpedia.io/limit>5",
            "search.clusterpedia.io/limit<5",
        ] {
            let (parameter, message) = fail_labels(selector);
            assert!(
                parameter.starts_with("search.clusterpedia.io/"),
                "{selector}"
            );
            assert!(
                message.contains("not supported on search labels"),
                "{message}"
            );
        }
        let (_, message) = fail_labels("search.clusterpedia.io/clusters!=a");
        assert!(message.contains("\"!=\""), "{message}");
        // Single-valued labels take `in` with exactly one value.
        assert_eq!(labels("search.clusterpedia.io/limit in (5)").limit, Some(5));
        assert_eq!(labels("search.clusterpedia.io/limit==5").limit, Some(5));
        let (parameter, message) = fail_labels("search.clusterpedia.io/owner-uid in (a,b)");
        assert_eq!(parameter, "search.clusterpedia.io/owner-uid");
        assert!(message.contains("exactly one value"), "{message}");
    }

    #[test]
    fn search_label_values_must_not_be_empty_or_repeated() {
        let (parameter, message) = fail_labels("search.clusterpedia.io/clusters=");
        assert_eq!(parameter, "search.clusterpedia.io/clusters");
        assert!(message.contains("empty"), "{message}");
        assert_eq!(
            fail_labels("search.clusterpedia.io/clusters in (a,)").0,
            "search.clusterpedia.io/clusters"
        );
        let (parameter, message) =
            fail_labels("search.clusterpedia.io/clusters=a,search.clusterpedia.io/clusters=b");
        assert_eq!(parameter, "search.clusterpedia.io/clusters");
        assert!(message.contains("more than once"), "{message}");
    }

    #[test]
    fn url_wins_over_labels() {
        let options = parse_pairs(&[
            ("clusters", "u1"),
            ("namespaces", "u2"),
            ("names", "u3"),
            (
                "labelSelector",
                "search.clusterpedia.io/clusters=l1,search.clusterpedia.io/namespaces=l2,\
                 search.clusterpedia.io/names=l3,app=x",
            ),
        ]);
        assert_eq!(options.clusters, strings(&["u1"]));
        assert_eq!(options.namespaces, strings(&["u2"]));
        assert_eq!(options.names, strings(&["u3"]));
        assert_eq!(label_keys(&options), ["app"]);
        // An empty URL list lets the label apply.
        let options = parse_pairs(&[
            ("clusters", ","),
            ("labelSelector", "search.clusterpedia.io/clusters=l1"),
        ]);
        assert_eq!(options.clusters, strings(&["l1"]));
    }

    #[test]
    fn mixed_url_and_labels() {
        let options = parse_pairs(&[
            ("clusters", "c1"),
            ("limit", "10"),
            (
                "labelSelector",
                "app=nginx,search.clusterpedia.io/namespaces in (ns2,ns1),\
                 search.clusterpedia.io/orderby=created_at_desc,\
                 search.clusterpedia.io/with-remaining-count=true",
            ),
            ("fieldSelector", "status.phase=Running"),
        ]);
        assert_eq!(options.clusters, strings(&["c1"]));
        assert_eq!(options.namespaces, strings(&["ns2", "ns1"]));
        assert_eq!(order(&options), ["created_at desc"]);
        assert!(options.with_remaining_count);
        assert_eq!(options.limit, Some(10));
        assert_eq!(label_keys(&options), ["app"]);
        assert!(!options.field_selector.is_empty());
    }

    #[test]
    fn path_scope_overrides() {
        let scope = RequestScope {
            cluster: Some("path-cluster".into()),
            namespace: Some("path-ns".into()),
        };
        let q = query(&[
            ("clusters", "a,b"),
            ("namespaces", "x"),
            (
                "labelSelector",
                "search.clusterpedia.io/clusters=l,search.clusterpedia.io/namespaces=l",
            ),
        ]);
        let options = parse_list_options(&q, &scope).expect("valid");
        assert_eq!(options.clusters, strings(&["path-cluster"]));
        assert_eq!(options.namespaces, strings(&["path-ns"]));
        let options = parse_list_options("", &scope).expect("valid");
        assert_eq!(options.clusters, strings(&["path-cluster"]));
        // An empty scope value is no scope.
        let empty = RequestScope {
            cluster: Some(String::new()),
            namespace: None,
        };
        assert_eq!(
            parse_list_options("clusters=a", &empty)
                .expect("valid")
                .clusters,
            strings(&["a"])
        );
    }

    #[test]
    fn search_labels_list_is_complete() {
        assert_eq!(SEARCH_LABELS.len(), 18);
        assert!(SEARCH_LABELS.iter().all(|l| l.contains(CLUSTERPEDIA_IO)));
        assert!(!SEARCH_LABELS.contains(&LABEL_FORWARD));
        // Every search label is consumed: each one alone parses (none left unread).
        for label in SEARCH_LABELS {
            let value = match *label {
                LABEL_SINCE | LABEL_BEFORE => "2022-01-02",
                LABEL_LIMIT | LABEL_OFFSET | LABEL_OWNER_SENIORITY => "1",
                LABEL_INJECT_EVENTS | LABEL_WITH_REMAINING_COUNT => "true",
                LABEL_WITH_CONTINUE => "false",
                LABEL_ORDER_BY => "name",
                LABEL_OWNER_GR => "deployments.apps",
                _ => "v",
            };
            // Owner labels are tried within an owner search on one cluster.
            let (base, scope) = match *label {
                LABEL_OWNER_UID | LABEL_OWNER_NAME => (String::new(), owner_scope()),
                LABEL_OWNER_GR | LABEL_OWNER_SENIORITY => ("ownerUID=u".to_owned(), owner_scope()),
                _ => (String::new(), RequestScope::default()),
            };
            let selector = format!("{label}={value}");
            let with_label = format!("{base}&{}", query(&[("labelSelector", &selector)]));
            let options = parse_list_options(&with_label, &scope)
                .unwrap_or_else(|e| panic!("{selector}: {e}"));
            let base = parse_list_options(&base, &scope).expect("valid");
            assert_ne!(options, base, "{selector} changed nothing");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for q in [
            "%",
            "%ZZ",
            "labelSelector=%FF%FE",
            "orderby=%00",
            "continue=%E2%82%AC",
            "since=%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC",
            "labelSelector=search.clusterpedia.io%2Fsince%3D%E2%82%AC",
            "fieldSelector=((((",
            "orderby=+,+,desc",
        ] {
            let _ = parse_list_options(q, &RequestScope::default());
        }
    }

    /// `n` comma-joined items made by `item`.
    fn many(n: usize, item: impl Fn(usize) -> String) -> String {
        (0..n).map(item).collect::<Vec<_>>().join(",")
    }

    /// Each cap: the value at the cap parses, one more is a `400` naming the parameter and
    /// saying the cap.
    #[test]
    fn caps_are_enforced_with_a_400_naming_the_parameter_and_the_cap() {
        use crate::query::limits::*;
        type Case = (
            &'static str,
            Box<dyn Fn(usize) -> String>,
            usize,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "labelSelector",
                Box::new(|n| many(n, |i| format!("k{i}=v"))),
                MAX_LABEL_REQUIREMENTS,
                "labelSelector",
            ),
            (
                "labelSelector",
                Box::new(|n| format!("k in ({})", many(n, |i| format!("v{i}")))),
                MAX_SELECTOR_VALUES,
                "labelSelector",
            ),
            (
                "fieldSelector",
                Box::new(|n| many(n, |i| format!("metadata.labels.k{i}=v"))),
                MAX_FIELD_REQUIREMENTS,
                "fieldSelector",
            ),
            (
                "fieldSelector",
                Box::new(|n| format!("metadata.name in ({})", many(n, |i| format!("v{i}")))),
                MAX_SELECTOR_VALUES,
                "fieldSelector",
            ),
            (
                "fieldSelector",
                Box::new(|n| format!("metadata{}=x", ".a".repeat(n - 1))),
                MAX_PATH_SEGMENTS,
                "fieldSelector",
            ),
            (
                "fieldSelector",
                Box::new(|n| format!("spec{}.x=y", "[]".repeat(n))),
                MAX_PATH_LIST_SEGMENTS,
                "fieldSelector",
            ),
            (
                "orderby",
                Box::new(|n| many(n, |i| format!("metadata.labels.l{i}"))),
                MAX_ORDER_PATHS,
                "orderby",
            ),
            (
                "orderby",
                Box::new(|n| format!("metadata{}", ".a".repeat(n - 1))),
                MAX_PATH_SEGMENTS,
                "orderby",
            ),
            (
                "fuzzyName",
                Box::new(|n| many(n, |i| format!("f{i}"))),
                MAX_FUZZY_NAMES,
                "fuzzyName",
            ),
            (
                "names",
                Box::new(|n| many(n, |i| format!("n{i}"))),
                MAX_LIST_VALUES,
                "names",
            ),
            (
                "namespaces",
                Box::new(|n| many(n, |i| format!("n{i}"))),
                MAX_LIST_VALUES,
                "namespaces",
            ),
            (
                "clusters",
                Box::new(|n| many(n, |i| format!("c{i}"))),
                MAX_LIST_VALUES,
                "clusters",
            ),
        ];
        for (name, value, cap, parameter) in cases {
            let at_cap = query(&[(name, &value(cap))]);
            assert!(
                parse_list_options(&at_cap, &RequestScope::default()).is_ok(),
                "{name} at the cap {cap}"
            );
            let (got, message) = fail_pairs(&[(name, &value(cap + 1))]);
            assert_eq!(got, parameter, "{name}: {message}");
            assert!(
                message.contains(&format!("the limit is {cap}")),
                "{message}"
            );
        }
        // The search labels are capped too, and named.
        let selector = format!(
            "search.clusterpedia.io/names in ({})",
            many(MAX_SELECTOR_VALUES + 1, |i| format!("n{i}"))
        );
        assert_eq!(fail_labels(&selector).0, "labelSelector");
        let selector = format!(
            "search.clusterpedia.io/orderby in ({})",
            many(MAX_ORDER_PATHS + 1, |i| format!("metadata.labels.l{i}"))
        );
        assert_eq!(fail_labels(&selector).0, "search.clusterpedia.io/orderby");
        let selector = format!(
            "internalstorage.clusterpedia.io/fuzzy-name in ({})",
            many(MAX_FUZZY_NAMES + 1, |i| format!("f{i}"))
        );
        assert_eq!(
            fail_labels(&selector).0,
            "internalstorage.clusterpedia.io/fuzzy-name"
        );
        // The whole query, and one value.
        let long = format!("names={}", "a".repeat(MAX_QUERY_BYTES));
        let (parameter, message) = fail(&long);
        assert_eq!(parameter, "query");
        assert!(message.contains(&MAX_QUERY_BYTES.to_string()), "{message}");
        let (parameter, message) = fail_pairs(&[("names", &"a".repeat(MAX_VALUE_BYTES + 1))]);
        assert_eq!(parameter, "names");
        assert!(message.contains(&MAX_VALUE_BYTES.to_string()), "{message}");
    }

    /// The finding: a NUL byte reached PostgreSQL (500 with its error text). Every text
    /// parameter refuses control characters with a 400 naming it.
    #[test]
    fn nul_and_control_characters_are_refused() {
        for name in [
            "clusters",
            "namespaces",
            "names",
            "fuzzyName",
            "resourceVersion",
        ] {
            for value in ["a\0", "a\u{1}b", "a\nb", "\u{7f}"] {
                let (parameter, message) = fail_pairs(&[(name, value)]);
                assert_eq!(parameter, name, "{value:?}: {message}");
                assert!(message.contains("control character"), "{message}");
            }
        }
        for (name, scope) in [("ownerUID", owner_scope()), ("ownerName", owner_scope())] {
            let (parameter, _) = fail_in(&query(&[(name, "a\0b")]), &scope);
            assert_eq!(parameter, name);
        }
        let (parameter, _) = fail_in(
            &query(&[("ownerName", "x"), ("ownerGR", "a\0")]),
            &owner_scope(),
        );
        assert_eq!(parameter, "ownerGR");
        // (The selector's lexer already refuses it.)
        let (parameter, _) = fail_labels("search.clusterpedia.io/clusters=a\u{0}");
        assert!(
            ["labelSelector", "search.clusterpedia.io/clusters"].contains(&parameter.as_str()),
            "{parameter}"
        );
        assert_eq!(
            fail_pairs(&[("fieldSelector", "metadata.name=a\0")]).0,
            "fieldSelector"
        );
        // The request path's cluster and namespace too.
        let scope = RequestScope {
            cluster: Some("c\0".into()),
            namespace: None,
        };
        assert_eq!(fail_in("", &scope).0, "clusters");
    }

    #[test]
    fn cost_classes() {
        use crate::query::CostClass::{Cheap, Expensive};
        for q in [
            "",
            "limit=10&namespaces=a,b&labelSelector=app%3Dweb",
            "orderby=name%20desc,created_at",
            "fieldSelector=metadata.name%3Da",
            "fieldSelector=.metadata.namespace%3Da",
        ] {
            assert_eq!(parse(q).cost_class(), Cheap, "{q}");
        }
        for q in [
            "orderby=metadata.labels.app",
            "fieldSelector=status.phase%3DRunning",
            "fuzzyName=web",
            "offset=20000",
        ] {
            assert_eq!(parse(q).cost_class(), Expensive, "{q}");
        }
        let names = (0..101)
            .map(|i| format!("n{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(parse_pairs(&[("names", &names)]).cost_class(), Expensive);
    }
}
