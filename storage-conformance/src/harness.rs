//! What the checks share: the [`Harness`] that drives a layer and keeps a [`Model`] of what it
//! should hold, the oracle answers of that model, [`Query`] (a list request as the apiserver
//! receives it), and the comparisons that explain the first difference.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;

use super::fixtures::{FixtureSpec, Fixtures};
use storage_api::collection::{CollectionResource, CollectionResourceType};
use storage_api::error::{Result, StorageError};
use storage_api::evaluator::{Evaluator, present, resolve_owner_uids};
use storage_api::object::{
    EVENTS_ANNOTATION, Gvr, IndexedFields, ObjectEvent, ObjectKey, ResourceObject,
};
use storage_api::query::ListOptions;
use storage_api::query::label_selector::LabelOperator;
use storage_api::query::paging::Listed;
use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{
    Change, ClusterResourceVersions, CollectionPage, CollectionResourceStorage, ListPage,
    ResourceStorage, ResourceStorageConfig, StorageFactory, StoredResourceType, Verb,
};

/// How many changes the harness writes per `apply` call when loading fixtures.
const LOAD_BATCH: usize = 64;

/// The fixtures every check uses ([`FixtureSpec::default`]), generated once per test binary.
pub fn default_fixtures() -> Arc<Fixtures> {
    static FIXTURES: OnceLock<Arc<Fixtures>> = OnceLock::new();
    FIXTURES
        .get_or_init(|| Arc::new(Fixtures::generate(&FixtureSpec::default())))
        .clone()
}

/// Prints a note about the layer under test (shown by `cargo test` for failing tests, and with
/// `--nocapture`): e.g. which well-formed queries it refused with `422 Invalid`.
pub fn note(message: impl fmt::Display) {
    eprintln!("conformance note: {message}");
}

/// A list request as the apiserver receives it: the path scope and the URL query.
///
/// Checks build [`ListOptions`] only through [`Query::options`], that is through
/// [`parse_list_options`], as the apiserver does; failure messages print the query decoded,
/// e.g. `/clusters/prod-eu-1?labelSelector=app in (api,web)&limit=7`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    scope: RequestScope,
    pairs: Vec<(String, String)>,
    /// The per-user access scope the apiserver would add (never from the URL).
    access: Option<storage_api::query::AccessScope>,
}

impl Query {
    /// The empty query: everything, in the default order, unpaged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a URL parameter (given decoded; it is percent-encoded as a client would).
    pub fn param(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.pairs.push((key.to_owned(), value.to_string()));
        self
    }

    /// Scopes the request to one cluster, as `.../clusters/<cluster>/...` does.
    pub fn in_cluster(mut self, cluster: &str) -> Self {
        self.scope.cluster = Some(cluster.to_owned());
        self
    }

    /// Scopes the request to one namespace, as `.../namespaces/<namespace>/...` does.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.scope.namespace = Some(namespace.to_owned());
        self
    }

    /// Restricts the answer to what a user may see, as the apiserver does for per-user results.
    pub fn with_access(mut self, access: storage_api::query::AccessScope) -> Self {
        self.access = Some(access);
        self
    }

    /// The percent-encoded URL query.
    pub fn encoded(&self) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.pairs {
            serializer.append_pair(key, value);
        }
        serializer.finish()
    }

    /// The parsed options, or the `400` the apiserver would answer.
    pub fn try_options(&self) -> Result<ListOptions> {
        let scope = RequestScope {
            access: self.access.clone(),
            ..self.scope.clone()
        };
        parse_list_options(&self.encoded(), &scope)
    }

    /// The parsed options; panics (naming the query) when it does not parse.
    pub fn options(&self) -> ListOptions {
        self.try_options()
            .unwrap_or_else(|e| panic!("the suite's query {self} does not parse: {e}"))
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cluster) = &self.scope.cluster {
            write!(f, "/clusters/{cluster}")?;
        }
        if let Some(namespace) = &self.scope.namespace {
            write!(f, "/namespaces/{namespace}")?;
        }
        if self.pairs.is_empty() && self.scope == RequestScope::default() {
            return f.write_str("?");
        }
        if !self.pairs.is_empty() {
            f.write_str("?")?;
        }
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(f, "{key}={value}")?;
        }
        if let Some(access) = &self.access {
            write!(f, " [access {access}]")?;
        }
        Ok(())
    }
}

/// What the layer should hold: every object and recorded event the harness wrote, and the
/// oracle answers over them (the reference evaluator).
#[derive(Debug, Clone, Default)]
pub struct Model {
    configs: BTreeMap<Gvr, ResourceStorageConfig>,
    objects: BTreeMap<Gvr, BTreeMap<ObjectKey, ResourceObject>>,
    /// Per object, its events by event uid (a re-recorded event replaces the previous one).
    events: HashMap<(Gvr, ObjectKey), BTreeMap<String, ObjectEvent>>,
}

impl Model {
    /// Registers the configuration of a resource (its kind and scope).
    pub fn configure(&mut self, config: &ResourceStorageConfig) {
        self.configs.insert(config.gvr.clone(), config.clone());
    }

    /// Applies changes in order: an upsert replaces the object of the same key (keeping its
    /// events), a delete removes the object and its events.
    pub fn apply(&mut self, gvr: &Gvr, changes: &[Change]) {
        let objects = self.objects.entry(gvr.clone()).or_default();
        for change in changes {
            match change {
                Change::Upsert(object) => {
                    objects.insert(object.fields.key(), object.clone());
                }
                Change::Delete(key) => {
                    objects.remove(key);
                    self.events.remove(&(gvr.clone(), key.clone()));
                }
            }
        }
    }

    /// Attaches events to the stored objects of `gvr` with the same cluster and uid as their
    /// involved object; the others are dropped.
    pub fn record_events(&mut self, gvr: &Gvr, events: &[ObjectEvent]) {
        let Some(objects) = self.objects.get(gvr) else {
            return;
        };
        for event in events {
            let owner = objects
                .values()
                .find(|o| o.fields.cluster == event.cluster && o.fields.uid == event.involved_uid);
            if let Some(object) = owner {
                self.events
                    .entry((gvr.clone(), object.fields.key()))
                    .or_default()
                    .insert(event.uid.clone(), event.clone());
            }
        }
    }

    /// The stored object of `gvr` with `key`.
    pub fn get(&self, gvr: &Gvr, key: &ObjectKey) -> Option<&ResourceObject> {
        self.objects.get(gvr)?.get(key)
    }

    /// The stored objects of `gvr`, in key order.
    pub fn objects(&self, gvr: &Gvr) -> Vec<&ResourceObject> {
        self.objects
            .get(gvr)
            .map(|m| m.values().collect())
            .unwrap_or_default()
    }

    /// Every stored object, of every resource.
    pub fn all_objects(&self) -> impl Iterator<Item = &ResourceObject> {
        self.objects.values().flat_map(BTreeMap::values)
    }

    /// The events attached to an object (JSON), ordered by event uid.
    pub fn events_of(&self, gvr: &Gvr, key: &ObjectKey) -> Vec<Bytes> {
        self.events
            .get(&(gvr.clone(), key.clone()))
            .map(|events| events.values().map(|e| e.raw.clone()).collect())
            .unwrap_or_default()
    }

    /// The oracle's owner uids for `options` (resolved over every stored object of its cluster).
    fn owner_uids(&self, options: &ListOptions) -> Option<HashSet<String>> {
        let owner = options.owner.as_ref()?;
        let cluster = options
            .clusters
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let fields: Vec<&IndexedFields> = self
            .all_objects()
            .filter(|o| &*o.fields.cluster == cluster)
            .map(|o| &o.fields)
            .collect();
        Some(resolve_owner_uids(owner, &options.namespaces, &fields))
    }

    fn present_page(&self, options: &ListOptions, mut page: ListPage) -> ListPage {
        page.items = page
            .items
            .into_iter()
            .map(|item| {
                let events = self.events_of(&item.fields.gvr, &item.fields.key());
                present(options, item, &events)
                    .expect("the reference evaluator presents fixture objects")
            })
            .collect();
        page
    }

    /// The oracle's answer to a list of `gvr`.
    pub fn list(&self, gvr: &Gvr, options: &ListOptions) -> ListPage {
        let evaluator = Evaluator::new(options, self.owner_uids(options));
        let page = evaluator
            .page(Listed::Resource(gvr), self.objects(gvr))
            .expect("the reference evaluator pages fixture objects");
        self.present_page(options, page)
    }

    /// The oracle's answer to a collection list of `types`.
    pub fn collection(
        &self,
        types: &[CollectionResourceType],
        options: &ListOptions,
    ) -> CollectionPage {
        let evaluator = Evaluator::new(options, None);
        let candidates = self
            .objects
            .iter()
            .filter(|(gvr, _)| types.iter().any(|t| t.matches(gvr)))
            .flat_map(|(_, objects)| objects.values());
        let page = evaluator
            .page(Listed::Collection(types), candidates)
            .expect("the reference evaluator pages fixture objects");
        let mut resource_types: Vec<StoredResourceType> = Vec::new();
        for item in &page.items {
            let stored = self.stored_type(item);
            if !resource_types.contains(&stored) {
                resource_types.push(stored);
            }
        }
        CollectionPage {
            resource_types,
            page: self.present_page(options, page),
        }
    }

    fn stored_type(&self, object: &ResourceObject) -> StoredResourceType {
        let gvr = &*object.fields.gvr;
        StoredResourceType {
            cluster: object.fields.cluster.to_string(),
            gvr: gvr.clone(),
            kind: object.fields.kind.to_string(),
            namespaced: self
                .configs
                .get(gvr)
                .map_or(!object.fields.namespace.is_empty(), |c| c.namespaced),
        }
    }

    /// The resource types with at least one stored object, per cluster.
    pub fn stored_types(&self) -> BTreeSet<StoredResourceType> {
        self.all_objects().map(|o| self.stored_type(o)).collect()
    }

    /// What `resource_versions(cluster)` must answer: per resource with objects in the cluster,
    /// `namespace/name` → member resource version, and the attached events' keys → their
    /// resource versions.
    pub fn resource_versions(&self, cluster: &str) -> BTreeMap<Gvr, ClusterResourceVersions> {
        let mut map: BTreeMap<Gvr, ClusterResourceVersions> = BTreeMap::new();
        for (gvr, objects) in &self.objects {
            for (key, object) in objects.iter().filter(|(k, _)| k.cluster == cluster) {
                let versions = map.entry(gvr.clone()).or_default();
                versions.resources.insert(
                    key.namespaced_name(),
                    object.fields.resource_version.clone(),
                );
                for event in self
                    .events
                    .get(&(gvr.clone(), key.clone()))
                    .into_iter()
                    .flat_map(BTreeMap::values)
                {
                    versions
                        .events
                        .insert(event.key.clone(), event.resource_version.clone());
                }
            }
        }
        map
    }

    /// Removes every object (and event) of a cluster, or of one resource of it.
    pub fn clean(&mut self, cluster: &str, gvr: Option<&Gvr>) {
        for (g, objects) in &mut self.objects {
            if gvr.is_none_or(|only| only == g) {
                objects.retain(|key, _| key.cluster != cluster);
            }
        }
        self.events
            .retain(|(g, key), _| key.cluster != cluster || gvr.is_some_and(|only| only != g));
    }
}

/// What a paged list is made against: one resource, or a collection of several.
#[derive(Clone)]
pub enum Target {
    /// The storage of one resource.
    Resource(Gvr),
    /// A collection resource storage and the types asked of it.
    Collection {
        /// The collection's storage.
        storage: Arc<dyn CollectionResourceStorage>,
        /// The types to list.
        types: Vec<CollectionResourceType>,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resource(gvr) => write!(f, "{gvr}"),
            Self::Collection { storage, types } => {
                let types: Vec<String> = types
                    .iter()
                    .map(|t| format!("{}/{}/{}", t.group, t.version, t.resource))
                    .collect();
                write!(
                    f,
                    "collection {} [{}]",
                    storage.collection().name,
                    types.join(" ")
                )
            }
        }
    }
}

/// One answer of a list: the page and, for collections, the resource types.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The page.
    pub page: ListPage,
    /// The resource types of a collection page.
    pub types: Option<Vec<StoredResourceType>>,
}

/// Why a layer may refuse a well-formed query with `422 Invalid`, if it may.
pub fn invalid_allowance(options: &ListOptions) -> Option<&'static str> {
    if options
        .field_selector
        .requirements()
        .iter()
        .any(|r| r.path.has_list())
    {
        return Some("a field selector on a list field (`[]` or `[N]`)");
    }
    if options.label_selector.requirements().iter().any(|r| {
        matches!(
            r.operator,
            LabelOperator::GreaterThan | LabelOperator::LessThan
        )
    }) {
        return Some("a label selector with `>` or `<`");
    }
    None
}

/// Drives one layer through a check, keeping the [`Model`] of what it must hold.
pub struct Harness {
    factory: Arc<dyn StorageFactory>,
    fixtures: Arc<Fixtures>,
    storages: HashMap<Gvr, Arc<dyn ResourceStorage>>,
    prepared: HashSet<String>,
    model: Model,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("objects", &self.model.all_objects().count())
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// A harness for a fresh `factory`, with `fixtures` to load.
    pub fn new(factory: Arc<dyn StorageFactory>, fixtures: Arc<Fixtures>) -> Self {
        let mut model = Model::default();
        for config in fixtures.gvrs() {
            model.configure(&config);
        }
        Self {
            factory,
            fixtures,
            storages: HashMap::new(),
            prepared: HashSet::new(),
            model,
        }
    }

    /// The layer's factory.
    pub fn factory(&self) -> &Arc<dyn StorageFactory> {
        &self.factory
    }

    /// The fixtures.
    pub fn fixtures(&self) -> &Arc<Fixtures> {
        &self.fixtures
    }

    /// What the layer must hold.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Whether the layer advertises `watch`.
    pub fn supports_watch(&self) -> bool {
        self.factory.supported_verbs().contains(&Verb::Watch)
    }

    /// Whether the layer declares full-text search (`supports_full_text()`).
    pub fn supports_full_text(&self) -> bool {
        self.factory.supports_full_text()
    }

    /// The layer's storage of a fixture resource (created once, then reused).
    pub async fn storage(&mut self, gvr: &Gvr) -> Arc<dyn ResourceStorage> {
        if let Some(storage) = self.storages.get(gvr) {
            return storage.clone();
        }
        let config = self
            .fixtures
            .gvrs()
            .into_iter()
            .find(|c| c.gvr == *gvr)
            .unwrap_or_else(|| panic!("{gvr} is not a fixture resource"));
        let storage = self
            .factory
            .new_resource_storage(config.clone())
            .await
            .unwrap_or_else(|e| panic!("new_resource_storage({gvr}) failed: {e}"));
        assert_eq!(
            *storage.config(),
            config,
            "the storage of {gvr} reports another configuration"
        );
        self.storages.insert(gvr.clone(), storage.clone());
        storage
    }

    /// Calls `prepare_cluster` once for each cluster of `objects`.
    async fn prepare<'a>(&mut self, clusters: impl IntoIterator<Item = &'a str>) {
        for cluster in clusters {
            if self.prepared.insert(cluster.to_owned()) {
                self.factory
                    .prepare_cluster(cluster)
                    .await
                    .unwrap_or_else(|e| panic!("prepare_cluster({cluster}) failed: {e}"));
            }
        }
    }

    /// Loads every fixture object (through `apply`, in batches) and records every fixture
    /// event.
    pub async fn load(&mut self) {
        let gvrs: Vec<Gvr> = self.fixtures.gvrs().into_iter().map(|c| c.gvr).collect();
        self.load_resources(&gvrs).await;
        let events = self.fixtures.events.clone();
        self.record_events(&Gvr::new("", "v1", "pods"), events)
            .await;
    }

    /// Loads the fixture objects of some resources (through `apply`, in batches); no events.
    pub async fn load_resources(&mut self, gvrs: &[Gvr]) {
        let fixtures = self.fixtures.clone();
        let clusters = fixtures.clusters();
        self.prepare(clusters.iter().map(String::as_str)).await;
        for gvr in gvrs {
            let objects: Vec<ResourceObject> = fixtures.of(gvr).into_iter().cloned().collect();
            for batch in objects.chunks(LOAD_BATCH) {
                let changes = batch.iter().cloned().map(Change::Upsert).collect();
                self.apply(gvr, changes).await;
            }
        }
    }

    /// Applies changes to the layer (must succeed) and to the model.
    pub async fn apply(&mut self, gvr: &Gvr, changes: Vec<Change>) {
        let clusters: Vec<String> = changes
            .iter()
            .map(|c| match c {
                Change::Upsert(o) => o.fields.cluster.to_string(),
                Change::Delete(k) => k.cluster.clone(),
            })
            .collect();
        self.prepare(clusters.iter().map(String::as_str)).await;
        let storage = self.storage(gvr).await;
        self.model.apply(gvr, &changes);
        let count = changes.len();
        storage
            .apply(changes)
            .await
            .unwrap_or_else(|e| panic!("apply of {count} changes to {gvr} failed: {e}"));
    }

    /// Records events on the layer's storage of `gvr` (must succeed) and in the model.
    pub async fn record_events(&mut self, gvr: &Gvr, events: Vec<ObjectEvent>) {
        let storage = self.storage(gvr).await;
        self.model.record_events(gvr, &events);
        let count = events.len();
        storage
            .record_events(events)
            .await
            .unwrap_or_else(|e| panic!("record_events of {count} events on {gvr} failed: {e}"));
    }

    /// Tells the model about a change made to the layer directly (e.g. through `create`).
    pub fn model_apply(&mut self, gvr: &Gvr, changes: &[Change]) {
        self.model.apply(gvr, changes);
    }

    /// Tells the model about a clean made to the layer directly.
    pub fn model_clean(&mut self, cluster: &str, gvr: Option<&Gvr>) {
        self.model.clean(cluster, gvr);
    }

    /// The layer's storage of a collection resource it offers.
    pub async fn collection(&self, name: &str) -> Arc<dyn CollectionResourceStorage> {
        let offered: Vec<CollectionResource> = self.factory.collection_resources();
        let collection = offered.iter().find(|c| c.name == name).unwrap_or_else(|| {
            let names: Vec<&str> = offered.iter().map(|c| c.name.as_str()).collect();
            panic!(
                "the layer does not offer the built-in collection resource {name:?} \
                 (it offers {names:?}); every layer must offer storage_api::collection::builtin()"
            )
        });
        let storage = self
            .factory
            .new_collection_resource_storage(collection)
            .await
            .unwrap_or_else(|e| panic!("new_collection_resource_storage({name}) failed: {e}"));
        assert_eq!(
            storage.collection(),
            collection,
            "the storage of collection {name} reports another collection"
        );
        storage
    }

    /// The layer's answer to `options` on `target`.
    pub async fn answer(&mut self, target: &Target, options: &ListOptions) -> Result<Answer> {
        match target {
            Target::Resource(gvr) => {
                let storage = self.storage(gvr).await;
                Ok(Answer {
                    page: storage.list(options).await?,
                    types: None,
                })
            }
            Target::Collection { storage, types } => {
                let page = storage.list(types, options).await?;
                Ok(Answer {
                    page: page.page,
                    types: Some(page.resource_types),
                })
            }
        }
    }

    /// The oracle's answer to `options` on `target`.
    pub fn oracle(&self, target: &Target, options: &ListOptions) -> Answer {
        match target {
            Target::Resource(gvr) => Answer {
                page: self.model.list(gvr, options),
                types: None,
            },
            Target::Collection { types, .. } => {
                let page = self.model.collection(types, options);
                Answer {
                    page: page.page,
                    types: Some(page.resource_types),
                }
            }
        }
    }

    /// Lists `query` on `target` once and compares the whole answer with the oracle's.
    ///
    /// Returns false (after printing a note) when the layer refused the query with `422
    /// Invalid` and the query is one a layer may refuse ([`invalid_allowance`]); any other
    /// error fails the check.
    pub async fn check(&mut self, target: &Target, query: &Query) -> bool {
        let options = query.options();
        self.check_options(target, query, &options).await
    }

    /// [`Harness::check`] with options already parsed from `query`.
    pub async fn check_options(
        &mut self,
        target: &Target,
        query: &Query,
        options: &ListOptions,
    ) -> bool {
        let context = format!("list {target} {query}");
        match self.answer(target, options).await {
            Ok(got) => {
                let want = self.oracle(target, options);
                assert_answer(&context, &got, &want, options);
                true
            }
            Err(error) => {
                allow_refusal(&context, options, &error);
                false
            }
        }
    }

    /// Walks every page of `query` on `target` with `limit` items per page, following the
    /// layer's continue tokens through [`parse_list_options`] as the apiserver does.
    ///
    /// Asserts that every page equals the oracle's page for the same options (items, continue
    /// token present iff more items remain, exact remaining count), and that the pages put
    /// together are the oracle's whole answer: nothing twice, nothing missing, same order.
    /// Returns the items, or `None` when the layer refused the query with an allowed `422`.
    pub async fn walk(
        &mut self,
        target: &Target,
        query: &Query,
        limit: u64,
    ) -> Option<Vec<ResourceObject>> {
        let full = self.oracle(target, &query.options()).page.items;
        let first = query
            .clone()
            .param("limit", limit)
            .param("withRemainingCount", "true");
        let mut request = first.clone();
        let mut seen: Vec<ResourceObject> = Vec::new();
        let mut pages: Vec<usize> = Vec::new();
        loop {
            let options = request.try_options().unwrap_or_else(|e| {
                panic!(
                    "list {target} {first}: the continue token of page {} is refused by parse_list_options: {e}\n\
                     (a layer must return tokens made by ContinuePosition::encode for the options it was given)",
                    pages.len()
                )
            });
            let context = format!("list {target} {first}, page {}", pages.len() + 1);
            let got = match self.answer(target, &options).await {
                Ok(got) => got,
                Err(error) if pages.is_empty() => {
                    allow_refusal(&context, &options, &error);
                    return None;
                }
                Err(error) => panic!("{context}: the layer failed: {error}"),
            };
            let want = self.oracle(target, &options);
            assert_answer(&context, &got, &want, &options);
            for item in &got.page.items {
                let id = identity(item);
                if let Some(at) = seen.iter().position(|s| identity(s) == id) {
                    let page = pages.iter().take_while(|&&end| end <= at).count() + 1;
                    panic!("{context}: {id} was already returned on page {page}");
                }
            }
            seen.extend(got.page.items);
            pages.push(seen.len());
            match got.page.continue_token {
                Some(token) => request = first.clone().param("continue", token),
                None => break,
            }
            assert!(
                pages.len() <= full.len() + 1,
                "list {target} {first}: {} pages and still a continue token (the whole answer has {} items)",
                pages.len(),
                full.len()
            );
        }
        // Each page's content was compared with the oracle's page; here the order only.
        assert_sequence(
            &format!(
                "list {target} {first}: all {} pages put together",
                pages.len()
            ),
            &seen,
            &full,
        );
        Some(seen)
    }
}

/// Accepts a layer error for a well-formed query only when it is a `422 Invalid` the query may
/// get ([`invalid_allowance`]), with a note; panics otherwise.
fn allow_refusal(context: &str, options: &ListOptions, error: &StorageError) {
    match (error, invalid_allowance(options)) {
        (StorageError::Invalid { .. }, Some(why)) => {
            note(format!(
                "{context}: the layer refused {why} with 422 Invalid ({error}); allowed"
            ));
        }
        (StorageError::Invalid { .. }, None) => panic!(
            "{context}: the layer answered 422 Invalid ({error}); a layer may refuse only field \
             selectors on list fields and label selectors with > or <, every other well-formed \
             query must be answered"
        ),
        _ => panic!(
            "{context}: the layer failed: {error} (status {})",
            error.status().code
        ),
    }
}

/// How failure messages name an item: `cluster gvr namespace/name`.
pub fn identity(object: &ResourceObject) -> String {
    let f = &object.fields;
    format!(
        "{} {} {}",
        f.cluster,
        f.gvr,
        storage_api::object::namespaced_name(&f.namespace, &f.name)
    )
}

/// An object's JSON as the suite compares it: `metadata.resourceVersion` and the member-version
/// annotation removed (watch-capable layers write their own version and keep the member's in
/// that annotation; an emptied `annotations` goes too), and an events annotation parsed and ordered by event uid (the
/// order of an object's events is not specified).
pub fn normalized(object: &ResourceObject) -> Value {
    let mut value: Value = match serde_json::from_slice(&object.raw) {
        Ok(value) => value,
        Err(e) => return Value::String(format!("<not JSON: {e}>")),
    };
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
        // The member's version, kept by watch-capable layers that replace the one above.
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            annotations.remove(storage_api::resource_version::MEMBER_RESOURCE_VERSION_ANNOTATION);
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
            && let Some(Value::String(text)) = annotations.get(EVENTS_ANNOTATION)
            && let Ok(Value::Array(mut events)) = serde_json::from_str::<Value>(text)
        {
            events.sort_by(|a, b| {
                a["metadata"]["uid"]
                    .to_string()
                    .cmp(&b["metadata"]["uid"].to_string())
            });
            annotations.insert(EVENTS_ANNOTATION.into(), Value::Array(events));
        }
    }
    value
}

/// [`normalized`], remembered per JSON text: checks compare the same stored objects many
/// times (every page of every order), and parsing dominates their cost.
fn normalized_cached(object: &ResourceObject) -> Rc<Value> {
    const CAPACITY: usize = 20_000;
    thread_local! {
        static CACHE: RefCell<HashMap<Bytes, Rc<Value>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(value) = cache.get(&object.raw) {
            return value.clone();
        }
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        let value = Rc::new(normalized(object));
        cache.insert(object.raw.clone(), value.clone());
        value
    })
}

/// The first place two JSON values differ, as `path: got ..., want ...`.
pub fn first_difference(got: &Value, want: &Value) -> Option<String> {
    fn walk(path: &str, got: Option<&Value>, want: Option<&Value>) -> Option<String> {
        let show = |v: Option<&Value>| {
            v.map_or_else(
                || "nothing".to_owned(),
                |v| {
                    let text = v.to_string();
                    if text.len() > 200 {
                        format!("{}…", &text[..text.floor_char_boundary(200)])
                    } else {
                        text
                    }
                },
            )
        };
        match (got, want) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                keys.into_iter()
                    .find_map(|k| walk(&format!("{path}.{k}"), a.get(k), b.get(k)))
            }
            (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| walk(&format!("{path}[{i}]"), Some(x), Some(y))),
            (a, b) if a == b => None,
            (a, b) => Some(format!(
                "{}: got {}, want {}",
                if path.is_empty() { "." } else { path },
                show(a),
                show(b)
            )),
        }
    }
    walk("", Some(got), Some(want))
}

fn fields_without_rv(fields: &IndexedFields) -> IndexedFields {
    IndexedFields {
        resource_version: String::new(),
        ..fields.clone()
    }
}

/// Asserts that `got` are the items `want`, in the same order (by cluster, resource,
/// namespace and name), each with the same indexed fields and JSON (see [`normalized`]).
pub fn assert_items(context: &str, got: &[ResourceObject], want: &[ResourceObject]) {
    assert_sequence(context, got, want);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (gf, wf) = (fields_without_rv(&g.fields), fields_without_rv(&w.fields));
        assert!(
            gf == wf,
            "{context}: item [{i}] {}: the indexed fields differ (resource version aside)\n  got:  {gf:?}\n  want: {wf:?}",
            identity(w)
        );
        if g.raw == w.raw {
            continue;
        }
        let (gv, wv) = (normalized_cached(g), normalized_cached(w));
        if gv == wv {
            continue;
        }
        if let Some(difference) = first_difference(&gv, &wv) {
            panic!(
                "{context}: item [{i}] {}: the JSON differs (metadata.resourceVersion aside) at {difference}",
                identity(w)
            );
        }
    }
}

/// Asserts that `got` and `want` are the same objects in the same order, by identity (cluster,
/// resource, namespace, name) only; the message shows the first difference with its
/// neighbours, and what is missing or unexpected.
pub fn assert_sequence(context: &str, got: &[ResourceObject], want: &[ResourceObject]) {
    let got_ids: Vec<String> = got.iter().map(identity).collect();
    let want_ids: Vec<String> = want.iter().map(identity).collect();
    if got_ids != want_ids {
        let at = got_ids
            .iter()
            .zip(&want_ids)
            .position(|(a, b)| a != b)
            .unwrap_or(got_ids.len().min(want_ids.len()));
        let window = |ids: &[String]| {
            let start = at.saturating_sub(2);
            ids.iter()
                .enumerate()
                .skip(start)
                .take(5)
                .map(|(i, id)| format!("      [{i}] {id}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let got_set: HashSet<&String> = got_ids.iter().collect();
        let want_set: HashSet<&String> = want_ids.iter().collect();
        let missing: Vec<&str> = want_ids
            .iter()
            .filter(|id| !got_set.contains(id))
            .take(5)
            .map(String::as_str)
            .collect();
        let unexpected: Vec<&str> = got_ids
            .iter()
            .filter(|id| !want_set.contains(id))
            .take(5)
            .map(String::as_str)
            .collect();
        panic!(
            "{context}: the items differ from the reference evaluator's\n  \
             got {} items, want {}; first difference at position {at}: got {}, want {}\n  \
             got around it:\n{}\n  want around it:\n{}\n  \
             missing (first 5): {missing:?}\n  unexpected (first 5): {unexpected:?}",
            got.len(),
            want.len(),
            got_ids.get(at).map_or("the end", String::as_str),
            want_ids.get(at).map_or("the end", String::as_str),
            window(&got_ids),
            window(&want_ids),
        );
    }
}

/// Asserts that a page equals the oracle's: items, continue token present exactly when the
/// oracle has one, remaining count, collection resource types.
pub fn assert_answer(context: &str, got: &Answer, want: &Answer, options: &ListOptions) {
    assert_items(context, &got.page.items, &want.page.items);
    let presence = |t: &Option<String>| {
        if t.is_some() {
            "a continue token"
        } else {
            "no continue token"
        }
    };
    assert!(
        got.page.continue_token.is_some() == want.page.continue_token.is_some(),
        "{context}: got {}, want {} (with_continue={}, {} items after this page)",
        presence(&got.page.continue_token),
        presence(&want.page.continue_token),
        options.with_continue,
        want.page
            .remaining_item_count
            .map_or_else(|| "?".to_owned(), |n| n.to_string()),
    );
    assert_eq!(
        got.page.remaining_item_count, want.page.remaining_item_count,
        "{context}: remaining_item_count (with_remaining_count={})",
        options.with_remaining_count
    );
    if let (Some(got_types), Some(want_types)) = (&got.types, &want.types) {
        assert_eq!(
            got_types, want_types,
            "{context}: resource_types must be the distinct types of the page's items, in order of first appearance"
        );
    }
}

/// Asserts that an error has the given HTTP status code.
pub fn assert_status<T: fmt::Debug>(context: &str, result: Result<T>, code: u16) -> StorageError {
    match result {
        Ok(value) => panic!("{context}: want an error with status {code}, got Ok({value:?})"),
        Err(error) => {
            assert_eq!(
                error.status().code,
                code,
                "{context}: want status {code}, got {error:?}"
            );
            error
        }
    }
}

/// Resource versions as the suite compares them: per resource, the sorted `resources` and
/// `events` maps.
pub type ComparableVersions = BTreeMap<Gvr, (BTreeMap<String, String>, BTreeMap<String, String>)>;

/// Resource-version maps with the empty entries dropped, sorted (missing and empty are equal).
pub fn comparable_versions(
    map: impl IntoIterator<Item = (Gvr, ClusterResourceVersions)>,
) -> ComparableVersions {
    map.into_iter()
        .filter(|(_, v)| !v.resources.is_empty() || !v.events.is_empty())
        .map(|(gvr, v)| {
            (
                gvr,
                (
                    v.resources.into_iter().collect(),
                    v.events.into_iter().collect(),
                ),
            )
        })
        .collect()
}
