//! The reference evaluator: [`ListOptions`] semantics written once, plainly, over the object model.
//!
//! It is the oracle of the conformance suite (every layer must return what it returns) and a
//! complete query engine for simple layers: fetch candidates with whatever the layer can push
//! down, then let [`Evaluator::page`] filter, order and page them.
//!
//! ```
//! # use storage_api::{evaluator::Evaluator, query::paging::Listed, Gvr, ListOptions};
//! let mut options = ListOptions::default();
//! options.limit = Some(10);
//! let pods = Gvr::new("", "v1", "pods");
//! let page = Evaluator::new(&options, None)
//!     .page(Listed::Resource(&pods), Vec::<storage_api::ResourceObject>::new())
//!     .unwrap();
//! assert!(page.items.is_empty() && page.continue_token.is_none());
//! ```

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashSet;

use bytes::Bytes;

use crate::error::Result;
use crate::object::{IndexedFields, ResourceObject, inject_events, metadata_only};
use crate::query::field_selector::scalar_text;
use crate::query::full_text::object_tokens;
use crate::query::paging::{Listed, Page, Pager};
use crate::query::{Float, ListOptions, OrderBy, OrderField, OwnerQuery, SortValue};
use crate::storage::ListPage;

/// The uids an object's controller owner must have for an owner query: the owner itself at
/// seniority 0, its children at seniority 1, and so on.
///
/// `cluster_objects` must be every stored object of the (single) cluster the query is about,
/// of every resource; `namespaces` are the request's namespaces (an owner found by name must
/// live in one of them, or be cluster-scoped). With neither uid nor name the set is empty.
pub fn resolve_owner_uids(
    owner: &OwnerQuery,
    namespaces: &[String],
    cluster_objects: &[&IndexedFields],
) -> HashSet<String> {
    let mut uids: HashSet<String> = match (&owner.uid, &owner.name) {
        (Some(uid), _) => HashSet::from([uid.clone()]),
        (None, Some(name)) => cluster_objects
            .iter()
            .filter(|o| o.name == *name && !o.uid.is_empty())
            .filter(|o| {
                owner
                    .group_resource
                    .as_ref()
                    .is_none_or(|gr| o.gvr.group == gr.group && o.gvr.resource == gr.resource)
            })
            .filter(|o| {
                namespaces.is_empty() || o.namespace.is_empty() || namespaces.contains(&o.namespace)
            })
            .map(|o| o.uid.clone())
            .collect(),
        (None, None) => HashSet::new(),
    };
    for _ in 0..owner.seniority {
        uids = cluster_objects
            .iter()
            .filter(|o| !o.owner_uid.is_empty() && !o.uid.is_empty() && uids.contains(&o.owner_uid))
            .map(|o| o.uid.clone())
            .collect();
    }
    uids
}

/// Evaluates one [`ListOptions`] over objects.
#[derive(Debug)]
pub struct Evaluator<'a> {
    options: &'a ListOptions,
    order: Vec<OrderBy>,
    owner_uids: Option<HashSet<String>>,
    needs_json: bool,
}

impl<'a> Evaluator<'a> {
    /// An evaluator of `options`. When `options.owner` is set, `owner_uids` must be the result of
    /// [`resolve_owner_uids`] for it (an owner query without them matches nothing).
    pub fn new(options: &'a ListOptions, owner_uids: Option<HashSet<String>>) -> Self {
        let order = options.effective_order();
        let needs_json = !options.field_selector.is_empty()
            || options.full_text.is_some()
            || order.iter().any(|o| matches!(o.field, OrderField::Path(_)));
        Self {
            options,
            order,
            owner_uids,
            needs_json,
        }
    }

    /// The total order items are sorted in.
    pub fn order(&self) -> &[OrderBy] {
        &self.order
    }

    /// Whether `fields` pass every filter that needs no JSON: clusters, namespaces, names,
    /// labels, fuzzy names, creation time, owner.
    pub fn matches_fields(&self, fields: &IndexedFields) -> bool {
        let o = self.options;
        let listed =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        listed(&o.clusters, &fields.cluster)
            && listed(&o.namespaces, &fields.namespace)
            && listed(&o.names, &fields.name)
            && o.fuzzy_names
                .iter()
                .all(|part| fields.name.contains(part.as_str()))
            && o.since
                .is_none_or(|since| fields.creation_timestamp.is_some_and(|t| t >= since))
            && o.before
                .is_none_or(|before| fields.creation_timestamp.is_some_and(|t| t < before))
            && o.label_selector.matches(&fields.labels)
            && self.matches_owner(fields)
    }

    fn matches_owner(&self, fields: &IndexedFields) -> bool {
        if self.options.owner.is_none() {
            return true;
        }
        self.owner_uids
            .as_ref()
            .is_some_and(|uids| !fields.owner_uid.is_empty() && uids.contains(&fields.owner_uid))
    }

    /// Whether `object` passes every filter of the options (paging aside).
    pub fn matches(&self, object: &ResourceObject) -> Result<bool> {
        if !self.matches_fields(&object.fields) {
            return Ok(false);
        }
        if !self.needs_json {
            return Ok(true);
        }
        Ok(self.matches_json(&object.to_value()?).is_some())
    }

    /// Whether the object `json` passes the filters on its JSON (field selector, full-text
    /// query): `None` when not, else its relevance score (`0` without a full-text query).
    fn matches_json(&self, json: &serde_json::Value) -> Option<f64> {
        if !self.options.field_selector.matches(json) {
            return None;
        }
        match &self.options.full_text {
            Some(query) => query.score(&object_tokens(json)),
            None => Some(0.0),
        }
    }

    /// The values of the order fields for `object`: its position in the total order.
    pub fn sort_key(&self, object: &ResourceObject) -> Result<Vec<SortValue>> {
        let json = if self.needs_json {
            Some(object.to_value()?)
        } else {
            None
        };
        let score = json.as_ref().and_then(|json| self.matches_json(json));
        Ok(self.sort_key_with(&object.fields, json.as_ref(), score))
    }

    /// The sort key of an object with `fields`, its JSON (when [`Self::needs_json`]) and its
    /// relevance `score`.
    fn sort_key_with(
        &self,
        fields: &IndexedFields,
        json: Option<&serde_json::Value>,
        score: Option<f64>,
    ) -> Vec<SortValue> {
        let text = |s: &str| SortValue::Str(s.to_owned());
        self.order
            .iter()
            .map(|o| match &o.field {
                OrderField::Cluster => text(&fields.cluster),
                OrderField::Namespace => text(&fields.namespace),
                OrderField::Name => text(&fields.name),
                OrderField::Group => text(&fields.gvr.group),
                OrderField::Version => text(&fields.gvr.version),
                OrderField::Resource => text(&fields.gvr.resource),
                OrderField::CreatedAt => fields
                    .creation_timestamp
                    .map_or(SortValue::Null, SortValue::Int),
                OrderField::ResourceVersion => fields
                    .resource_version_number()
                    .and_then(|n| i64::try_from(n).ok())
                    .map_or(SortValue::Null, SortValue::Int),
                OrderField::Path(path) => json
                    .and_then(|j| path.lookup(j).into_iter().next())
                    .and_then(scalar_text)
                    .map_or(SortValue::Null, |t| SortValue::Str(t.into_owned())),
                OrderField::Relevance => SortValue::Float(Float::new(score.unwrap_or(0.0))),
            })
            .collect()
    }

    /// Compares two positions in the total order (each field in its direction).
    pub fn compare(&self, a: &[SortValue], b: &[SortValue]) -> Ordering {
        self.order
            .iter()
            .zip(a.iter().zip(b))
            .map(|(o, (x, y))| if o.descending { y.cmp(x) } else { x.cmp(y) })
            .find(|c| c.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Filters, orders and pages `candidates` (which may include non-matching objects), a list
    /// of `listed`: skips to the continue position (or the offset), takes `limit` items, and
    /// returns the continue token and remaining count as the options ask ([`Pager`]). Items are
    /// returned as stored; apply [`present`] to each for `onlyMetadata` / `inject-events`.
    /// Candidates may be owned or borrowed (`&ResourceObject`, `Arc<ResourceObject>`): only the
    /// items of the page are cloned.
    ///
    /// Fails with `400` naming `continue` when the continue token was made by a list of
    /// something else.
    pub fn page<T: Borrow<ResourceObject>>(
        &self,
        listed: Listed<'_>,
        candidates: impl IntoIterator<Item = T>,
    ) -> Result<ListPage> {
        Ok(self
            .page_items(listed, candidates)?
            .map(|item| item.borrow().clone())
            .into_list_page(None))
    }

    /// [`Evaluator::page`], with the page's items the candidates themselves (nothing cloned).
    pub fn page_items<T: Borrow<ResourceObject>>(
        &self,
        listed: Listed<'_>,
        candidates: impl IntoIterator<Item = T>,
    ) -> Result<Page<T>> {
        let pager = Pager::new(self.options, listed)?;
        let mut keyed = Vec::new();
        for candidate in candidates {
            let object = candidate.borrow();
            if !self.matches_fields(&object.fields) {
                continue;
            }
            let json = if self.needs_json {
                Some(object.to_value()?)
            } else {
                None
            };
            let score = match &json {
                Some(json) => match self.matches_json(json) {
                    Some(score) => Some(score),
                    None => continue,
                },
                None => None,
            };
            let key = self.sort_key_with(&object.fields, json.as_ref(), score);
            keyed.push((key, candidate));
        }
        keyed.sort_by(|(a, _), (b, _)| self.compare(a, b));
        let after_position = pager.position().map_or(0, |position| {
            keyed.partition_point(|(key, _)| self.compare(key, &position.values).is_le())
        });
        let counted = (keyed.len() - after_position) as u64;
        let fetched: Vec<(Vec<SortValue>, T)> = keyed
            .into_iter()
            .skip(after_position)
            .skip(usize::try_from(pager.offset()).unwrap_or(usize::MAX))
            .take(
                pager
                    .fetch_limit()
                    .map_or(usize::MAX, |f| usize::try_from(f).unwrap_or(usize::MAX)),
            )
            .collect();
        let page = pager.finish(fetched, Some(counted), |(key, _)| Ok(key.clone()))?;
        Ok(page.map(|(_, item)| item))
    }
}

/// Readies one page item for the response: attaches `events` when the options ask for
/// `inject-events`, then strips it to metadata when they ask for `onlyMetadata`.
pub fn present(
    options: &ListOptions,
    object: ResourceObject,
    events: &[Bytes],
) -> Result<ResourceObject> {
    let mut object = object;
    if options.inject_events {
        object.raw = inject_events(&object.raw, events)?;
    }
    if options.only_metadata {
        object.raw = metadata_only(&object.raw)?;
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::object::Gvr;
    use crate::query::ContinuePosition;
    use crate::query::label_selector::LabelSelector;

    /// What the tests list: pods.
    fn pods() -> Listed<'static> {
        static PODS: std::sync::LazyLock<Gvr> =
            std::sync::LazyLock::new(|| Gvr::new("", "v1", "pods"));
        Listed::Resource(&PODS)
    }

    fn object(
        cluster: &str,
        ns: &str,
        name: &str,
        rv: &str,
        created: &str,
        extra: serde_json::Value,
    ) -> ResourceObject {
        let mut value = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": format!("{cluster}-{ns}-{name}"),
                         "resourceVersion": rv, "creationTimestamp": created},
        });
        if let (Some(target), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if k == "metadata" {
                    if let (Some(meta), Some(more)) =
                        (target["metadata"].as_object_mut(), v.as_object())
                    {
                        meta.extend(more.clone());
                    }
                } else {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
        ResourceObject::parse(
            cluster.into(),
            Arc::new(Gvr::new("", "v1", "pods")),
            serde_json::to_vec(&value).expect("json").into(),
        )
        .expect("valid object")
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.items
            .iter()
            .map(|o| {
                format!(
                    "{}/{}/{}",
                    o.fields.cluster, o.fields.namespace, o.fields.name
                )
            })
            .collect()
    }

    fn sample() -> Vec<ResourceObject> {
        vec![
            object(
                "c2",
                "a",
                "x",
                "9",
                "2024-01-01T00:00:03Z",
                serde_json::json!({"status": {"podIP": "10.0.0.2"}}),
            ),
            object(
                "c1",
                "b",
                "x",
                "10",
                "2024-01-01T00:00:01Z",
                serde_json::json!({"metadata": {"labels": {"app": "web"}}}),
            ),
            object(
                "c1",
                "a",
                "y",
                "100",
                "2024-01-01T00:00:02Z",
                serde_json::json!({"status": {"podIP": "10.0.0.1"}}),
            ),
            object(
                "c1",
                "a",
                "x",
                "8",
                "2024-01-01T00:00:02Z",
                serde_json::json!({"metadata": {"labels": {"app": "db"}}}),
            ),
        ]
    }

    fn full_text_sample() -> Vec<ResourceObject> {
        let with = |cluster: &str, name: &str, extra: serde_json::Value| {
            object(cluster, "ns", name, "1", "2024-01-01T00:00:00Z", extra)
        };
        vec![
            with("c1", "plain", serde_json::json!({})),
            with(
                "c1",
                "web-a",
                serde_json::json!({"spec": {"containers": [{"image": "nginx:1.25"}]}}),
            ),
            with(
                "c2",
                "web-b",
                serde_json::json!({"metadata": {"labels": {"tier": "web"}},
                                   "spec": {"containers": [{"image": "NGINX"}]}}),
            ),
            with(
                "c1",
                "web-c",
                serde_json::json!({"metadata": {"annotations": {"note": "web web"}},
                                   "spec": {"containers": [{"image": "redis"}]}}),
            ),
            with(
                "c2",
                "api",
                serde_json::json!({"metadata": {"labels": {"app": "web"}},
                                   "spec": {"template": {"spec": {"containers": [{"image": "nginx"}]}}}}),
            ),
        ]
    }

    #[test]
    fn full_text_matches_every_word_and_orders_by_relevance_then_key() {
        let query = |words: &str| ListOptions {
            full_text: Some(crate::query::full_text::FullTextQuery::parse([words]).expect("words")),
            ..ListOptions::default()
        };
        let options = query("web");
        let page = Evaluator::new(&options, None)
            .page(pods(), full_text_sample())
            .expect("page");
        // web-c: 3 (name, annotation twice); web-b: 2 (name, label); web-a and api: 1.
        assert_eq!(
            names(&page),
            ["c1/ns/web-c", "c2/ns/web-b", "c1/ns/web-a", "c2/ns/api"]
        );
        let options = query("Nginx WEB");
        let page = Evaluator::new(&options, None)
            .page(pods(), full_text_sample())
            .expect("page");
        assert_eq!(names(&page), ["c2/ns/web-b", "c1/ns/web-a", "c2/ns/api"]);
        let one = &page.items[0];
        assert!(Evaluator::new(&options, None).matches(one).expect("json"));
        assert!(
            !Evaluator::new(&options, None)
                .matches(&full_text_sample()[3])
                .expect("json")
        );

        // An explicit order wins over relevance.
        let mut options = query("web");
        options.order_by = vec![OrderBy {
            field: OrderField::Name,
            descending: false,
        }];
        let page = Evaluator::new(&options, None)
            .page(pods(), full_text_sample())
            .expect("page");
        assert_eq!(
            names(&page),
            ["c2/ns/api", "c1/ns/web-a", "c2/ns/web-b", "c1/ns/web-c"]
        );
    }

    /// Paging one item at a time through a relevance order (ties included) yields the full
    /// list: the score travels exactly in the token.
    #[test]
    fn full_text_pages_exactly_with_the_score_in_the_token() {
        let mut options = ListOptions {
            full_text: Some(crate::query::full_text::FullTextQuery::parse(["web"]).expect("words")),
            ..ListOptions::default()
        };
        let full = names(
            &Evaluator::new(&options, None)
                .page(pods(), full_text_sample())
                .expect("page"),
        );
        options.limit = Some(1);
        let mut walked = Vec::new();
        loop {
            let page = Evaluator::new(&options, None)
                .page(pods(), full_text_sample())
                .expect("page");
            walked.extend(names(&page));
            let Some(token) = page.continue_token else {
                break;
            };
            options.continue_from =
                Some(ContinuePosition::decode(&token, &options).expect("own token"));
            assert!(walked.len() <= full.len(), "{walked:?}");
        }
        assert_eq!(walked, full);
    }

    #[test]
    fn default_order_is_cluster_namespace_name() {
        let options = ListOptions::default();
        let page = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(names(&page), ["c1/a/x", "c1/a/y", "c1/b/x", "c2/a/x"]);
        assert_eq!(page.continue_token, None);
    }

    #[test]
    fn resource_versions_order_as_numbers_and_paths_as_text_with_missing_first() {
        let by = |field: OrderField, descending: bool| ListOptions {
            order_by: vec![OrderBy { field, descending }],
            ..ListOptions::default()
        };
        let options = by(OrderField::ResourceVersion, false);
        let page = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(
            names(&page),
            ["c1/a/x", "c2/a/x", "c1/b/x", "c1/a/y"],
            "8 < 9 < 10 < 100"
        );

        let path = crate::query::field_selector::FieldPath::parse("status.podIP").expect("path");
        let options = by(OrderField::Path(path), true);
        let page = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(
            names(&page),
            ["c2/a/x", "c1/a/y", "c1/a/x", "c1/b/x"],
            "missing sorts lowest"
        );

        let options = by(OrderField::CreatedAt, true);
        let page = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(
            names(&page),
            ["c2/a/x", "c1/a/x", "c1/a/y", "c1/b/x"],
            "ties broken by the default order"
        );
    }

    #[test]
    fn keyset_pages_cover_everything_once_with_tokens_and_counts() {
        let mut options = ListOptions {
            limit: Some(3),
            with_remaining_count: true,
            order_by: vec![OrderBy {
                field: OrderField::Name,
                descending: true,
            }],
            ..ListOptions::default()
        };
        let first = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(names(&first), ["c1/a/y", "c1/a/x", "c1/b/x"]);
        assert_eq!(first.remaining_item_count, Some(1));
        let token = first.continue_token.expect("more remain");
        options.continue_from = Some(ContinuePosition::decode(&token, &options).expect("token"));
        let second = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(names(&second), ["c2/a/x"]);
        assert_eq!(
            (second.continue_token, second.remaining_item_count),
            (None, Some(0))
        );

        options.continue_from = None;
        options.with_continue = false;
        let unlinked = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(
            unlinked.continue_token, None,
            "withContinue=false suppresses the token"
        );

        options.offset = 2;
        options.limit = Some(10);
        let skipped = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(names(&skipped), ["c1/b/x", "c2/a/x"]);
    }

    #[test]
    fn a_token_resumes_only_the_resource_that_made_it() {
        let mut options = ListOptions {
            limit: Some(1),
            ..ListOptions::default()
        };
        let first = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        let token = first.continue_token.expect("more remain");
        options.continue_from = Some(ContinuePosition::decode(&token, &options).expect("token"));
        assert!(
            Evaluator::new(&options, None)
                .page(pods(), sample())
                .is_ok()
        );
        let deployments = Gvr::new("apps", "v1", "deployments");
        let err = Evaluator::new(&options, None)
            .page(Listed::Resource(&deployments), sample())
            .expect_err("a pods token on deployments");
        assert_eq!(err.status().code, 400);
        assert!(err.to_string().starts_with("continue:"), "{err}");
    }

    #[test]
    fn filters_combine() {
        let options = ListOptions {
            clusters: vec!["c1".into()],
            label_selector: LabelSelector::parse("app!=web").expect("selector"),
            since: crate::object::parse_rfc3339_millis("2024-01-01T00:00:02Z"),
            ..ListOptions::default()
        };
        let page = Evaluator::new(&options, None)
            .page(pods(), sample())
            .expect("page");
        assert_eq!(
            names(&page),
            ["c1/a/x", "c1/a/y"],
            "!= matches objects without the label"
        );
        let options = ListOptions {
            fuzzy_names: vec!["y".into()],
            before: crate::object::parse_rfc3339_millis("2024-01-01T00:00:02Z"),
            ..ListOptions::default()
        };
        assert!(
            Evaluator::new(&options, None)
                .page(pods(), sample())
                .expect("page")
                .items
                .is_empty()
        );
    }

    #[test]
    fn owners_resolve_by_uid_name_kind_and_seniority() {
        let gvr = |g: &str, r: &str| Arc::new(Gvr::new(g, "v1", r));
        let obj = |gvr: Arc<Gvr>, kind: &str, name: &str, uid: &str, owner: Option<&str>| {
            let owners: Vec<_> = owner
                .map(|o| serde_json::json!({"uid": o, "controller": true}))
                .into_iter()
                .collect();
            let value = serde_json::json!({"kind": kind, "metadata": {"name": name, "namespace": "ns", "uid": uid, "ownerReferences": owners}});
            ResourceObject::parse(
                "c".into(),
                gvr,
                serde_json::to_vec(&value).expect("json").into(),
            )
            .expect("object")
        };
        let all = [
            obj(gvr("apps", "deployments"), "Deployment", "web", "d1", None),
            obj(gvr("", "services"), "Service", "web", "s1", None),
            obj(
                gvr("apps", "replicasets"),
                "ReplicaSet",
                "web-1",
                "r1",
                Some("d1"),
            ),
            obj(gvr("", "pods"), "Pod", "web-1-a", "p1", Some("r1")),
            obj(gvr("", "pods"), "Pod", "web-1-b", "p2", Some("r1")),
        ];
        let fields: Vec<&IndexedFields> = all.iter().map(|o| &o.fields).collect();
        let query = |name: Option<&str>, gr: Option<&str>, seniority| OwnerQuery {
            uid: None,
            name: name.map(Into::into),
            group_resource: gr.map(crate::object::GroupResource::parse),
            seniority,
        };
        let sorted = |set: HashSet<String>| {
            let mut v: Vec<_> = set.into_iter().collect();
            v.sort();
            v
        };
        assert_eq!(
            sorted(resolve_owner_uids(
                &query(Some("web"), None, 0),
                &[],
                &fields
            )),
            ["d1", "s1"]
        );
        assert_eq!(
            sorted(resolve_owner_uids(
                &query(Some("web"), Some("deployments.apps"), 1),
                &[],
                &fields
            )),
            ["r1"]
        );
        assert_eq!(
            sorted(resolve_owner_uids(
                &query(Some("web"), None, 2),
                &["other".into()],
                &fields
            )),
            Vec::<String>::new()
        );
        let by_uid = OwnerQuery {
            uid: Some("r1".into()),
            ..OwnerQuery::default()
        };
        let options = ListOptions {
            owner: Some(by_uid.clone()),
            ..ListOptions::default()
        };
        let uids = resolve_owner_uids(&by_uid, &[], &fields);
        let page = Evaluator::new(&options, Some(uids))
            .page(pods(), all.iter())
            .expect("page");
        assert_eq!(names(&page), ["c/ns/web-1-a", "c/ns/web-1-b"]);
    }

    #[test]
    fn present_injects_events_then_strips_to_metadata() {
        let options = ListOptions {
            inject_events: true,
            only_metadata: true,
            ..ListOptions::default()
        };
        let item = present(
            &options,
            sample().remove(0),
            &[Bytes::from_static(br#"{"reason":"Started"}"#)],
        )
        .expect("present");
        let value: serde_json::Value = serde_json::from_slice(&item.raw).expect("json");
        assert!(value.get("status").is_none());
        let events = value["metadata"]["annotations"][crate::object::EVENTS_ANNOTATION]
            .as_str()
            .expect("events");
        assert!(events.contains("Started"));
    }
}
