//! [`ListOptions`] to the query DSL: pure functions, golden-tested without a server.
//!
//! Every filter goes into `bool.filter` (no scoring, cacheable):
//!
//! | option | query |
//! |---|---|
//! | resource (or collection types) | `term` on `group`, `version`, `resource` |
//! | `clusters`, `namespaces`, `names` | `terms` on the keyword |
//! | label `k=v`, `k==v` | `term label_kv: "k=v"` |
//! | label `k!=v` | `must_not term label_kv: "k=v"` (objects without `k` match, as in Kubernetes) |
//! | label `k in (a,b)` / `notin` | `terms label_kv: ["k=a","k=b"]` / its `must_not` |
//! | label `k` / `!k` | `term label_keys: "k"` / its `must_not` |
//! | label `k>n`, `k<n` | not pushed: the evaluator answers it (see [`is_exact`]) |
//! | `fuzzyName` | `wildcard` query on the `name` keyword, `*part*` (escaped), case-sensitive |
//! | `since` / `before` | `range` on `created_at` (milliseconds; `before` also excludes missing times) |
//! | owner | `terms owner_uid` of the uids resolved level by level ([`owner_roots`], [`owner_children`]) |
//! | field selector | not pushed: the evaluator answers it over the narrowed documents |
//! | full text (`query`) | `match` on `text` (the shared tokenizer's words, `whitespace` analyzer), operator `and` |
//! | access scope (per-user results) | `should` of `term cluster` (whole cluster) or `term cluster` + `terms namespace` per visible cluster; `match_none` when none |
//!
//! Order: [`ListOptions::effective_order`] as `sort` on keyword / long fields, ending in the
//! stable unique key (cluster, namespace, name, group, version, resource). Paging: `search_after`
//! with the continue position's values ([`search_after`]); the remaining count: `_count` of the
//! documents after the position ([`after_position`]).

use serde_json::{Value, json};
use storage_api::collection::CollectionResourceType;
use storage_api::query::label_selector::LabelOperator;
use storage_api::query::{
    AccessScope, NamespaceAccess, OrderBy, OrderField, OwnerQuery, SortValue,
};
use storage_api::{Gvr, ListOptions};

use crate::mapping::MISSING;

/// The document field an order field sorts on, and whether it is a long; `None` for a field
/// path (not indexed).
pub fn sort_field(field: &OrderField) -> Option<(&'static str, bool)> {
    Some(match field {
        OrderField::Cluster => ("cluster", false),
        OrderField::Namespace => ("namespace", false),
        OrderField::Name => ("name", false),
        OrderField::Group => ("group", false),
        OrderField::Version => ("version", false),
        OrderField::Resource => ("resource", false),
        OrderField::CreatedAt => ("created_at", true),
        OrderField::ResourceVersion => ("rv_num", true),
        _ => return None,
    })
}

/// Whether the query DSL answers `options` exactly: then the server sorts and pages. Otherwise
/// (a field selector, a label `>`/`<`, an order by a field path, relevance order) the layer
/// walks the documents the DSL narrows to, and storage-api's evaluator answers the rest.
///
/// Relevance is storage-api's reference score (occurrences of the query's words), which
/// every layer shares and continue tokens carry; the server's `_score` (BM25) is another
/// number, so a full-text list without `orderby` is ranked by the evaluator over the
/// documents that match every word.
pub fn is_exact(options: &ListOptions) -> bool {
    options.field_selector.is_empty()
        && options.label_selector.requirements().iter().all(|r| {
            !matches!(
                r.operator,
                LabelOperator::GreaterThan | LabelOperator::LessThan
            )
        })
        && options
            .effective_order()
            .iter()
            .all(|o| sort_field(&o.field).is_some())
}

/// The documents of resource `gvr`.
pub fn resource_filter(gvr: &Gvr) -> Vec<Value> {
    vec![
        json!({"term": {"group": gvr.group}}),
        json!({"term": {"version": gvr.version}}),
        json!({"term": {"resource": gvr.resource}}),
    ]
}

/// The documents of any of the collection `types` (`None`: every document, for the wildcard).
pub fn collection_filter(types: &[CollectionResourceType]) -> Option<Value> {
    if types.iter().any(CollectionResourceType::is_all) {
        return None;
    }
    let alternatives: Vec<Value> = types
        .iter()
        .map(|t| {
            let mut filter = vec![json!({"term": {"group": t.group}})];
            if !t.version.is_empty() {
                filter.push(json!({"term": {"version": t.version}}));
            }
            if !t.resource.is_empty() {
                filter.push(json!({"term": {"resource": t.resource}}));
            }
            json!({"bool": {"filter": filter}})
        })
        .collect();
    if alternatives.is_empty() {
        return Some(json!({"match_none": {}}));
    }
    Some(json!({"bool": {"should": alternatives, "minimum_should_match": 1}}))
}

/// Escapes `*`, `?` and `\` for a `wildcard` query.
fn wildcard_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The filters of `options` (the pushed-down part), appended to `filter` and `must_not`.
/// `owner_uids` are the resolved owners when `options.owner` is set.
pub fn option_filters(
    options: &ListOptions,
    owner_uids: Option<&[String]>,
    filter: &mut Vec<Value>,
    must_not: &mut Vec<Value>,
) {
    for (field, values) in [
        ("cluster", &options.clusters),
        ("namespace", &options.namespaces),
        ("name", &options.names),
    ] {
        if !values.is_empty() {
            filter.push(json!({"terms": {field: values}}));
        }
    }
    for requirement in options.label_selector.requirements() {
        let key = &requirement.key;
        let pairs: Vec<String> = requirement
            .values
            .iter()
            .map(|v| format!("{key}={v}"))
            .collect();
        match requirement.operator {
            LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In => {
                filter.push(json!({"terms": {"label_kv": pairs}}));
            }
            LabelOperator::NotEquals | LabelOperator::NotIn => {
                must_not.push(json!({"terms": {"label_kv": pairs}}));
            }
            LabelOperator::Exists => filter.push(json!({"term": {"label_keys": key}})),
            LabelOperator::DoesNotExist => must_not.push(json!({"term": {"label_keys": key}})),
            // `>` and `<` need the object to have the label: pushed as exists, compared by
            // the evaluator.
            _ => filter.push(json!({"term": {"label_keys": key}})),
        }
    }
    for part in &options.fuzzy_names {
        filter
            .push(json!({"wildcard": {"name": {"value": format!("*{}*", wildcard_escape(part))}}}));
    }
    if options.since.is_some() || options.before.is_some() {
        let mut range = serde_json::Map::new();
        match options.since {
            Some(since) => range.insert("gte".into(), json!(since)),
            None => range.insert("gt".into(), json!(MISSING)),
        };
        if let Some(before) = options.before {
            range.insert("lt".into(), json!(before));
        }
        filter.push(json!({"range": {"created_at": range}}));
    }
    if options.owner.is_some() {
        filter.push(terms_in_chunks("owner_uid", owner_uids.unwrap_or_default()));
    }
    if let Some(access) = &options.access {
        filter.push(access_filter(access));
    }
    if let Some(full_text) = &options.full_text {
        // The words are the shared tokenizer's (lowercased alphanumeric runs), and so are the
        // indexed tokens: a whitespace analysis on both sides matches exactly.
        filter.push(json!({"match": {"text": {
            "query": full_text.terms().join(" "),
            "operator": "and",
        }}}));
    }
}

/// The objects `access` lets the user see: per visible cluster, all of it or its listed
/// namespaces (never a cluster-scoped object, whose namespace is empty).
pub fn access_filter(access: &AccessScope) -> Value {
    let clusters: Vec<Value> = access
        .clusters
        .iter()
        .map(|(cluster, namespaces)| match namespaces {
            NamespaceAccess::All => json!({"term": {"cluster": cluster}}),
            NamespaceAccess::Only(namespaces) => {
                let namespaces: Vec<String> = namespaces
                    .iter()
                    .filter(|n| !n.is_empty())
                    .cloned()
                    .collect();
                json!({"bool": {"filter": [
                    {"term": {"cluster": cluster}},
                    terms_in_chunks("namespace", &namespaces),
                ]}})
            }
        })
        .collect();
    if clusters.is_empty() {
        return json!({"match_none": {}});
    }
    json!({"bool": {"should": clusters, "minimum_should_match": 1}})
}

/// Membership in `values`, in `terms` clauses of at most 10 000 values (servers refuse more
/// than 65 536 in one); nothing matches an empty list.
pub fn terms_in_chunks(field: &str, values: &[String]) -> Value {
    if values.is_empty() {
        return json!({"match_none": {}});
    }
    let mut chunks: Vec<Value> = values
        .chunks(10_000)
        .map(|chunk| json!({"terms": {field: chunk}}))
        .collect();
    if chunks.len() == 1 {
        return chunks.remove(0);
    }
    json!({"bool": {"should": chunks, "minimum_should_match": 1}})
}

/// A `bool` query of `filter` and `must_not` (`match_all` when both are empty).
pub fn bool_query(filter: Vec<Value>, must_not: Vec<Value>) -> Value {
    if filter.is_empty() && must_not.is_empty() {
        return json!({"match_all": {}});
    }
    let mut query = serde_json::Map::new();
    if !filter.is_empty() {
        query.insert("filter".into(), Value::Array(filter));
    }
    if !must_not.is_empty() {
        query.insert("must_not".into(), Value::Array(must_not));
    }
    json!({"bool": query})
}

/// The query of a list: `base` (the resource or collection) and the options' filters.
pub fn list_query(base: Vec<Value>, options: &ListOptions, owner_uids: Option<&[String]>) -> Value {
    let mut filter = base;
    let mut must_not = Vec::new();
    option_filters(options, owner_uids, &mut filter, &mut must_not);
    bool_query(filter, must_not)
}

/// The `sort` of `order` (every field of which has a [`sort_field`]).
pub fn sort(order: &[OrderBy]) -> Vec<Value> {
    order
        .iter()
        .filter_map(|o| {
            let (field, _) = sort_field(&o.field)?;
            Some(json!({field: {"order": if o.descending { "desc" } else { "asc" }}}))
        })
        .collect()
}

/// The `_source` fields a list reads: the type and sort-key fields, the object (`meta`, the
/// object stripped to metadata, for `onlyMetadata` when the server answers exactly, else
/// `raw`), and `events` for `inject-events`.
pub fn list_source(options: &ListOptions, exact: bool) -> Vec<&'static str> {
    let mut fields = vec!["stored_type", "cluster", "group", "version", "resource"];
    fields.push(if exact && options.only_metadata {
        "meta"
    } else {
        "raw"
    });
    if options.inject_events {
        fields.push("events");
    }
    fields
}

/// The body of one search: `query` in `order`, `size` documents from `from` (a small offset)
/// or after the position `after` (`search_after`), reading the `_source` fields `source` and
/// the sort fields. Hits are never counted here (`track_total_hits: false`): a remaining count
/// is a `_count`.
pub fn search_body(
    query: &Value,
    order: &[OrderBy],
    size: u64,
    from: u64,
    after: Option<&[Value]>,
    source: &[&str],
) -> Value {
    let mut includes: Vec<&str> = source.to_vec();
    for o in order {
        if let Some((field, _)) = sort_field(&o.field)
            && !includes.contains(&field)
        {
            includes.push(field);
        }
    }
    let mut body = json!({
        "query": query,
        "sort": sort(order),
        "size": size,
        "_source": includes,
        "track_total_hits": false,
    });
    if from > 0 {
        body["from"] = json!(from);
    }
    if let Some(after) = after {
        body["search_after"] = json!(after);
    }
    body
}

/// The stable order of walks: the unique key, ascending.
pub fn stable_order() -> Vec<OrderBy> {
    ListOptions::default().effective_order()
}

/// A sort value as the server's `search_after` takes it (a missing long is [`MISSING`]).
pub fn after_value(value: &SortValue, long: bool) -> Value {
    match value {
        SortValue::Null if long => json!(MISSING),
        SortValue::Null => json!(""),
        SortValue::Int(n) => json!(n),
        SortValue::Str(s) => json!(s),
        // Relevance is never a server-side sort field (see `is_exact`).
        SortValue::Float(f) => json!(f.get()),
    }
}

/// The `search_after` of a position `values` in `order`.
pub fn search_after(order: &[OrderBy], values: &[SortValue]) -> Vec<Value> {
    order
        .iter()
        .zip(values)
        .map(|(o, v)| after_value(v, sort_field(&o.field).is_some_and(|(_, long)| long)))
        .collect()
}

/// The documents strictly after the position `values` in `order`: for some field, equal on
/// every field before it and beyond it in its direction (what `search_after` skips to, as a
/// query, for the remaining count).
pub fn after_position(order: &[OrderBy], values: &[SortValue]) -> Value {
    let mut alternatives = Vec::new();
    for (i, (o, v)) in order.iter().zip(values).enumerate() {
        let Some((field, long)) = sort_field(&o.field) else {
            continue;
        };
        let bound_value = after_value(v, long);
        if o.descending && (bound_value == json!("") || bound_value == json!(MISSING)) {
            // Nothing is below the lowest value. (Said rather than sent: osmem-server reads
            // `lt: ""` as no bound at all.)
            continue;
        }
        let mut filter: Vec<Value> = order[..i]
            .iter()
            .zip(values)
            .filter_map(|(p, pv)| {
                let (pf, plong) = sort_field(&p.field)?;
                Some(json!({"term": {pf: after_value(pv, plong)}}))
            })
            .collect();
        let bound = if o.descending { "lt" } else { "gt" };
        filter.push(json!({"range": {field: {bound: bound_value}}}));
        alternatives.push(json!({"bool": {"filter": filter}}));
    }
    if alternatives.is_empty() {
        return json!({"match_none": {}});
    }
    json!({"bool": {"should": alternatives, "minimum_should_match": 1}})
}

/// The sort values of a document (its `_source` fields) in `order`: the continue position of
/// the item, as storage-api's evaluator computes it from the object.
pub fn document_sort_values(order: &[OrderBy], source: &Value) -> Vec<SortValue> {
    order
        .iter()
        .map(|o| match sort_field(&o.field) {
            Some((field, true)) => match source[field].as_i64() {
                Some(MISSING) | None => SortValue::Null,
                Some(n) => SortValue::Int(n),
            },
            Some((field, false)) => {
                SortValue::Str(source[field].as_str().unwrap_or_default().to_owned())
            }
            None => SortValue::Null,
        })
        .collect()
}

/// The first level of an owner query, over the cluster's documents: the owner itself, by name
/// (and group-resource), in the listed namespaces or cluster-scoped. `None` when the owner is
/// given by uid (that uid is the level).
pub fn owner_roots(owner: &OwnerQuery, cluster: &str, namespaces: &[String]) -> Option<Value> {
    if owner.uid.is_some() {
        return None;
    }
    let name = owner.name.as_deref()?;
    let mut filter = vec![
        json!({"term": {"cluster": cluster}}),
        json!({"term": {"name": name}}),
    ];
    if let Some(gr) = &owner.group_resource {
        filter.push(json!({"term": {"group": gr.group}}));
        filter.push(json!({"term": {"resource": gr.resource}}));
    }
    if !namespaces.is_empty() {
        let mut listed: Vec<String> = namespaces.to_vec();
        listed.push(String::new());
        filter.push(json!({"terms": {"namespace": listed}}));
    }
    Some(bool_query(filter, vec![json!({"term": {"uid": ""}})]))
}

/// The documents of the cluster whose controller owner is one of `uids` (one level down).
pub fn owner_children(cluster: &str, uids: &[String]) -> Value {
    bool_query(
        vec![
            json!({"term": {"cluster": cluster}}),
            terms_in_chunks("owner_uid", uids),
        ],
        vec![json!({"term": {"uid": ""}})],
    )
}

#[cfg(test)]
mod tests {
    //! Golden tests: the request body of each ListOptions feature.

    use storage_api::query::ContinuePosition;
    use storage_api::query::paging::Listed;
    use storage_api::query::params::{RequestScope, parse_list_options};

    use super::*;

    fn options(query: &str) -> ListOptions {
        parse_list_options(query, &RequestScope::default()).expect(query)
    }

    fn query_of(query: &str) -> Value {
        list_query(Vec::new(), &options(query), None)
    }

    #[test]
    fn clusters_namespaces_and_names_are_terms() {
        assert_eq!(
            query_of("clusters=c1,c2&namespaces=ns&names=a,b"),
            json!({"bool": {"filter": [
                {"terms": {"cluster": ["c1", "c2"]}},
                {"terms": {"namespace": ["ns"]}},
                {"terms": {"name": ["a", "b"]}},
            ]}})
        );
        assert_eq!(query_of(""), json!({"match_all": {}}));
    }

    #[test]
    fn label_selectors_have_kubernetes_semantics() {
        assert_eq!(
            query_of(
                "labelSelector=app%3Dweb,tier!%3Ddb,env+in+(a,b),zone+notin+(x),owner,!legacy"
            ),
            json!({"bool": {
                "filter": [
                    {"terms": {"label_kv": ["app=web"]}},
                    {"terms": {"label_kv": ["env=a", "env=b"]}},
                    {"term": {"label_keys": "owner"}},
                ],
                "must_not": [
                    {"terms": {"label_kv": ["tier=db"]}},
                    {"terms": {"label_kv": ["zone=x"]}},
                    {"term": {"label_keys": "legacy"}},
                ],
            }})
        );
        let greater = options("labelSelector=rank%3E3");
        assert!(!is_exact(&greater));
        assert_eq!(
            list_query(Vec::new(), &greater, None),
            json!({"bool": {"filter": [{"term": {"label_keys": "rank"}}]}})
        );
    }

    #[test]
    fn fuzzy_names_are_escaped_wildcards_on_the_keyword() {
        assert_eq!(
            query_of("fuzzyName=we*b,x%3F"),
            json!({"bool": {"filter": [
                {"wildcard": {"name": {"value": "*we\\*b*"}}},
                {"wildcard": {"name": {"value": "*x\\?*"}}},
            ]}})
        );
    }

    #[test]
    fn times_are_ranges_that_exclude_missing_times() {
        let since = options("since=2024-01-01T00:00:00Z").since.expect("since");
        let before = options("before=2024-02-01T00:00:00Z")
            .before
            .expect("before");
        assert_eq!(
            query_of("since=2024-01-01T00:00:00Z&before=2024-02-01T00:00:00Z"),
            json!({"bool": {"filter": [{"range": {"created_at": {"gte": since, "lt": before}}}]}})
        );
        assert_eq!(
            query_of("before=2024-02-01T00:00:00Z"),
            json!({"bool": {"filter": [{"range": {"created_at": {"gt": MISSING, "lt": before}}}]}})
        );
    }

    #[test]
    fn owners_are_resolved_uids() {
        let o = options("clusters=c1&ownerName=web&ownerGR=deployments.apps&ownerSeniority=1");
        let owner = o.owner.clone().expect("owner");
        assert_eq!(
            owner_roots(&owner, "c1", &["ns".to_owned()]),
            Some(json!({"bool": {
                "filter": [
                    {"term": {"cluster": "c1"}},
                    {"term": {"name": "web"}},
                    {"term": {"group": "apps"}},
                    {"term": {"resource": "deployments"}},
                    {"terms": {"namespace": ["ns", ""]}},
                ],
                "must_not": [{"term": {"uid": ""}}],
            }}))
        );
        assert_eq!(
            owner_children("c1", &["u1".to_owned()]),
            json!({"bool": {
                "filter": [{"term": {"cluster": "c1"}}, {"terms": {"owner_uid": ["u1"]}}],
                "must_not": [{"term": {"uid": ""}}],
            }})
        );
        assert_eq!(
            list_query(Vec::new(), &o, Some(&["u2".to_owned()])),
            json!({"bool": {"filter": [
                {"terms": {"cluster": ["c1"]}},
                {"terms": {"owner_uid": ["u2"]}},
            ]}})
        );
        assert_eq!(
            list_query(Vec::new(), &o, Some(&[])),
            json!({"bool": {"filter": [
                {"terms": {"cluster": ["c1"]}},
                {"match_none": {}},
            ]}})
        );
        let by_uid = options("clusters=c1&ownerUID=u9").owner.expect("owner");
        assert_eq!(owner_roots(&by_uid, "c1", &[]), None);
        let many: Vec<String> = (0..25_000).map(|i| i.to_string()).collect();
        let chunked = terms_in_chunks("owner_uid", &many);
        assert_eq!(chunked["bool"]["should"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn orders_end_in_the_stable_key() {
        let o = options("orderby=created_at+desc,name");
        assert!(is_exact(&o));
        assert_eq!(
            sort(&o.effective_order()),
            vec![
                json!({"created_at": {"order": "desc"}}),
                json!({"name": {"order": "asc"}}),
                json!({"cluster": {"order": "asc"}}),
                json!({"namespace": {"order": "asc"}}),
                json!({"group": {"order": "asc"}}),
                json!({"version": {"order": "asc"}}),
                json!({"resource": {"order": "asc"}}),
            ]
        );
        let rv = options("orderby=resource_version");
        assert_eq!(
            sort(&rv.effective_order())[0],
            json!({"rv_num": {"order": "asc"}})
        );
        let path = options("orderby=spec.nodeName");
        assert!(!is_exact(&path));
        assert!(!is_exact(&options("fieldSelector=status.phase%3DRunning")));
    }

    #[test]
    fn continue_positions_become_search_after_and_a_count_query() {
        let mut o = options("orderby=created_at+desc&limit=2");
        let order = o.effective_order();
        let values = vec![
            SortValue::Null,
            SortValue::Str("c1".into()),
            SortValue::Str("ns".into()),
            SortValue::Str("a".into()),
            SortValue::Str("".into()),
            SortValue::Str("v1".into()),
            SortValue::Str("pods".into()),
        ];
        o.continue_from = Some(ContinuePosition::new(
            Listed::Resource(&Gvr::new("", "v1", "pods")),
            values.clone(),
        ));
        assert_eq!(
            search_after(&order, &values),
            vec![
                json!(MISSING),
                json!("c1"),
                json!("ns"),
                json!("a"),
                json!(""),
                json!("v1"),
                json!("pods")
            ]
        );
        let after = after_position(&order[..2], &values[..2]);
        assert_eq!(
            after,
            json!({"bool": {"should": [
                // nothing is below a missing time: no `lt` alternative
                {"bool": {"filter": [
                    {"term": {"created_at": MISSING}},
                    {"range": {"cluster": {"gt": "c1"}}},
                ]}},
            ], "minimum_should_match": 1}})
        );
        let mut at = values.clone();
        at[0] = SortValue::Int(5);
        assert_eq!(
            after_position(&order[..1], &at[..1]),
            json!({"bool": {"should": [
                {"bool": {"filter": [{"range": {"created_at": {"lt": 5}}}]}},
            ], "minimum_should_match": 1}})
        );
        let source = json!({"created_at": MISSING, "cluster": "c1", "namespace": "ns", "name": "a",
            "group": "", "version": "v1", "resource": "pods"});
        assert_eq!(document_sort_values(&order, &source), values);
    }

    #[test]
    fn the_access_scope_is_a_should_of_clusters_and_their_namespaces() {
        let mut o = options("limit=5");
        o.access = Some(AccessScope {
            clusters: [
                ("c1".to_owned(), NamespaceAccess::All),
                (
                    "c2".to_owned(),
                    NamespaceAccess::Only(["a".to_owned(), String::new()].into()),
                ),
            ]
            .into(),
        });
        assert_eq!(
            list_query(Vec::new(), &o, None),
            json!({"bool": {"filter": [
                {"bool": {"should": [
                    {"term": {"cluster": "c1"}},
                    {"bool": {"filter": [{"term": {"cluster": "c2"}}, {"terms": {"namespace": ["a"]}}]}},
                ], "minimum_should_match": 1}},
            ]}})
        );
        o.access = Some(AccessScope {
            clusters: Default::default(),
        });
        assert_eq!(
            list_query(Vec::new(), &o, None),
            json!({"bool": {"filter": [{"match_none": {}}]}})
        );
    }

    #[test]
    fn full_text_is_an_and_match_on_the_tokens() {
        let o = options("query=Nginx+web-1");
        assert_eq!(
            list_query(Vec::new(), &o, None),
            json!({"bool": {"filter": [
                {"match": {"text": {"query": "nginx web 1", "operator": "and"}}},
            ]}})
        );
        // Ranked by relevance: the evaluator orders; with an orderby the server does.
        assert!(!is_exact(&o));
        assert!(is_exact(&options("query=nginx&orderby=name")));
    }

    #[test]
    fn pages_are_size_from_or_search_after_and_read_only_what_they_need() {
        let o = options("limit=2&offset=3&onlyMetadata=true");
        let source = list_source(&o, true);
        assert_eq!(
            source,
            [
                "stored_type",
                "cluster",
                "group",
                "version",
                "resource",
                "meta"
            ]
        );
        // The evaluator needs the whole object; inject-events reads the events.
        let e =
            options("onlyMetadata=true&labelSelector=search.clusterpedia.io/inject-events%3Dtrue");
        assert!(list_source(&e, false).ends_with(&["raw", "events"]));
        let order = o.effective_order();
        assert_eq!(
            search_body(&json!({"match_all": {}}), &order, 3, 3, None, &source),
            json!({
                "query": {"match_all": {}},
                "sort": [
                    {"cluster": {"order": "asc"}},
                    {"namespace": {"order": "asc"}},
                    {"name": {"order": "asc"}},
                    {"group": {"order": "asc"}},
                    {"version": {"order": "asc"}},
                    {"resource": {"order": "asc"}},
                ],
                "size": 3,
                "from": 3,
                "_source": ["stored_type", "cluster", "group", "version", "resource", "meta",
                    "namespace", "name"],
                "track_total_hits": false,
            })
        );
        let after = [
            json!("c1"),
            json!("ns"),
            json!("a"),
            json!(""),
            json!("v1"),
            json!("pods"),
        ];
        let body = search_body(&json!({"match_all": {}}), &order, 3, 0, Some(&after), &[]);
        assert_eq!(body["search_after"], json!(after));
        assert!(body.get("from").is_none());
    }

    #[test]
    fn collections_are_alternatives_of_types() {
        let types = vec![
            CollectionResourceType {
                group: "apps".into(),
                version: String::new(),
                resource: String::new(),
            },
            CollectionResourceType {
                group: String::new(),
                version: "v1".into(),
                resource: "pods".into(),
            },
        ];
        assert_eq!(
            collection_filter(&types),
            Some(json!({"bool": {"should": [
                {"bool": {"filter": [{"term": {"group": "apps"}}]}},
                {"bool": {"filter": [
                    {"term": {"group": ""}},
                    {"term": {"version": "v1"}},
                    {"term": {"resource": "pods"}},
                ]}},
            ], "minimum_should_match": 1}}))
        );
        assert_eq!(collection_filter(&[CollectionResourceType::all()]), None);
        assert_eq!(
            resource_filter(&Gvr::new("apps", "v1", "deployments"))[0],
            json!({"term": {"group": "apps"}})
        );
    }
}
