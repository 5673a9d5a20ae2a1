//! [`Store`]: the requests of the layer (index set-up, bulk writes, searches, walks, counts),
//! shared by the factory and every storage.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use elasticsearch::http::Method;
use serde_json::{Value, json};
use storage_api::query::OrderBy;
use storage_api::query::paging::{Listed, Pager};
use storage_api::{Gvr, ListOptions, ResourceObject, Result, StorageError, StoredResourceType};

use crate::client::{Client, failed, short};
use crate::config::{ElasticsearchConfig, RefreshPolicy};
use crate::dsl;
use crate::mapping::{self, Names};

/// Documents per page of a walk (and at most per search).
const WALK_BATCH: usize = 1000;
/// The deepest `from` the servers accept (`index.max_result_window`).
const MAX_WINDOW: u64 = 10_000;
/// How long a point in time of a walk lives between two of its requests.
const PIT_KEEP_ALIVE: &str = "1m";

/// What a walk reads.
struct Walk<'a> {
    query: &'a Value,
    includes: &'a [&'a str],
    order: &'a [OrderBy],
    max: Option<usize>,
}

/// One document read back: its `_id`, `_index` and `_source`.
#[derive(Debug)]
pub(crate) struct Hit {
    pub(crate) id: String,
    pub(crate) index: String,
    pub(crate) source: Value,
    pub(crate) seq_no: Option<u64>,
    pub(crate) primary_term: Option<u64>,
}

impl Hit {
    fn from_json(hit: &Value) -> Self {
        Self {
            id: hit["_id"].as_str().unwrap_or_default().to_owned(),
            index: hit["_index"].as_str().unwrap_or_default().to_owned(),
            source: hit["_source"].clone(),
            seq_no: hit["_seq_no"].as_u64(),
            primary_term: hit["_primary_term"].as_u64(),
        }
    }

    /// The stored resource type of the document.
    pub(crate) fn resource_type(&self) -> Result<StoredResourceType> {
        self.source["stored_type"]
            .as_str()
            .and_then(mapping::parse_stored_type)
            .ok_or_else(|| corrupt(&self.id, "stored_type"))
    }

    /// The object of the document (its `raw`, or its `meta` when `metadata` and stored).
    pub(crate) fn object(&self, metadata: bool) -> Result<ResourceObject> {
        let text = metadata
            .then(|| self.source["meta"].as_str())
            .flatten()
            .or_else(|| self.source["raw"].as_str())
            .ok_or_else(|| corrupt(&self.id, "raw"))?;
        let gvr = Gvr {
            group: self.text("group"),
            version: self.text("version"),
            resource: self.text("resource"),
        };
        ResourceObject::parse(
            Arc::from(self.text("cluster")),
            Arc::new(gvr),
            Bytes::copy_from_slice(text.as_bytes()),
        )
    }

    /// The recorded events of the document: (event uid, event JSON).
    pub(crate) fn events(&self) -> Vec<(String, String)> {
        self.source["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| {
                        Some((e["uid"].as_str()?.to_owned(), e["raw"].as_str()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A keyword field of the document.
    pub(crate) fn text(&self, field: &str) -> String {
        self.source[field].as_str().unwrap_or_default().to_owned()
    }
}

fn corrupt(id: &str, field: &str) -> StorageError {
    StorageError::Internal {
        message: format!("document {id} has no valid {field}"),
        source: None,
    }
}

/// One write of a `_bulk` request.
#[derive(Debug)]
pub(crate) enum BulkAction {
    /// Create or replace the object's fields, keeping its events.
    Upsert {
        index: String,
        id: String,
        doc: Value,
    },
    /// Create; fails when the document exists.
    Create {
        index: String,
        id: String,
        doc: Value,
    },
    /// Replace the object's fields; fails when the document is absent.
    Update {
        index: String,
        id: String,
        doc: Value,
    },
    /// Delete (absent is fine).
    Delete { index: String, id: String },
}

impl BulkAction {
    /// Appends the action's lines (each ends in `\n`, as `_bulk` requires).
    pub(crate) fn write(&self, body: &mut String) {
        let (head, source) = match self {
            Self::Upsert { index, id, doc } => (
                json!({"update": {"_index": index, "_id": id}}),
                Some(json!({"doc": doc, "doc_as_upsert": true})),
            ),
            Self::Create { index, id, doc } => (
                json!({"create": {"_index": index, "_id": id}}),
                Some(doc.clone()),
            ),
            Self::Update { index, id, doc } => (
                json!({"update": {"_index": index, "_id": id}}),
                Some(json!({"doc": doc})),
            ),
            Self::Delete { index, id } => (json!({"delete": {"_index": index, "_id": id}}), None),
        };
        body.push_str(&head.to_string());
        body.push('\n');
        if let Some(source) = source {
            body.push_str(&source.to_string());
            body.push('\n');
        }
    }
}

/// The outcome of one bulk item that the caller judges itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemOutcome {
    Done,
    Conflict,
    Missing,
}

/// The layer's requests.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub(crate) client: Client,
    pub(crate) names: Names,
    refresh: RefreshPolicy,
    bulk_size: usize,
    shards: u32,
    replicas: u32,
}

impl Store {
    /// Connects, and puts the index template.
    pub(crate) async fn connect(config: &ElasticsearchConfig) -> Result<Self> {
        let client = Client::connect(config).await?;
        let store = Self {
            client,
            names: Names::new(&config.index_prefix),
            refresh: config.refresh,
            bulk_size: config.bulk_size,
            shards: config.shards,
            replicas: config.replicas,
        };
        let template = mapping::template(&store.names, store.shards, store.replicas);
        store
            .client
            .ok(
                Method::Put,
                &format!("/_index_template/{}", store.names.template()),
                &[],
                Some(template.to_string()),
            )
            .await?;
        Ok(store)
    }

    /// Creates the index of `gvr` with its aliases, unless it exists.
    pub(crate) async fn ensure_index(&self, gvr: &Gvr) -> Result<()> {
        let index = self.names.index(gvr);
        let answer = self
            .client
            .request(
                Method::Put,
                &format!("/{index}"),
                &[],
                Some(mapping::index_body(&self.names, gvr).to_string()),
            )
            .await?;
        let exists = matches!(
            answer.error_type(),
            "resource_already_exists_exception" | "index_already_exists_exception"
        );
        if (200..300).contains(&answer.status) || exists {
            Ok(())
        } else {
            Err(failed(&format!("create index {index}"), &answer))
        }
    }

    /// Sends `actions` in `_bulk` requests of at most `bulkSize` actions, and checks every
    /// item: an item refused with 429/503 makes the whole call [`StorageError::Unavailable`]
    /// (the synchro retries it: every action is idempotent); 409 and 404 are returned for the
    /// caller to judge; any other refusal fails the call naming the item.
    pub(crate) async fn bulk(&self, actions: &[BulkAction]) -> Result<Vec<ItemOutcome>> {
        let mut outcomes = Vec::with_capacity(actions.len());
        for chunk in actions.chunks(self.bulk_size) {
            let mut body = String::new();
            for action in chunk {
                action.write(&mut body);
            }
            let answer = self
                .client
                .ok(
                    Method::Post,
                    "/_bulk",
                    &[("refresh", self.refresh.as_param())],
                    Some(body),
                )
                .await?;
            let items = answer["items"].as_array().cloned().unwrap_or_default();
            if items.len() != chunk.len() {
                return Err(StorageError::Internal {
                    message: format!(
                        "_bulk answered {} items for {} actions",
                        items.len(),
                        chunk.len()
                    ),
                    source: None,
                });
            }
            for item in &items {
                let result = item
                    .as_object()
                    .and_then(|o| o.values().next())
                    .cloned()
                    .unwrap_or_default();
                let status = result["status"].as_u64().unwrap_or(0);
                outcomes.push(match status {
                    200..=299 => ItemOutcome::Done,
                    409 => ItemOutcome::Conflict,
                    404 => ItemOutcome::Missing,
                    429 | 502 | 503 | 504 => {
                        return Err(StorageError::Unavailable {
                            message: format!(
                                "_bulk item {}: {status}: {}",
                                result["_id"],
                                short(&result)
                            ),
                            source: None,
                        });
                    }
                    _ => {
                        return Err(StorageError::Internal {
                            message: format!(
                                "_bulk item {}: {status}: {}",
                                result["_id"],
                                short(&result)
                            ),
                            source: None,
                        });
                    }
                });
            }
        }
        Ok(outcomes)
    }

    /// One `_search` of `index`; a missing index is an empty answer.
    pub(crate) async fn search(&self, index: &str, body: &Value) -> Result<Value> {
        self.search_path(&format!("/{index}/_search"), index, body)
            .await
    }

    /// One search at `path` (of `index`, for messages); a missing index is an empty answer.
    async fn search_path(&self, path: &str, index: &str, body: &Value) -> Result<Value> {
        let answer = self
            .client
            .request(Method::Post, path, &[], Some(body.to_string()))
            .await?;
        match answer.status {
            200 => Ok(answer.body),
            404 if answer.error_type() == "index_not_found_exception" => {
                Ok(json!({"hits": {"hits": [], "total": {"value": 0}}}))
            }
            400 if is_search_after_error(&answer.body) => Err(StorageError::bad_request(
                "continue",
                format!("the server refused the position: {}", short(&answer.body)),
            )),
            _ => Err(failed(&format!("search {index}"), &answer)),
        }
    }

    /// The number of documents of `index` matching `query`.
    pub(crate) async fn count(&self, index: &str, query: &Value) -> Result<u64> {
        let answer = self
            .client
            .request(
                Method::Post,
                &format!("/{index}/_count"),
                &[],
                Some(json!({"query": query}).to_string()),
            )
            .await?;
        match answer.status {
            200 => answer.body["count"]
                .as_u64()
                .ok_or_else(|| StorageError::Internal {
                    message: format!("_count answered {}", short(&answer.body)),
                    source: None,
                }),
            404 if answer.error_type() == "index_not_found_exception" => Ok(0),
            _ => Err(failed(&format!("count {index}"), &answer)),
        }
    }

    /// Every document of `index` matching `query`, in the stable order, read `WALK_BATCH` at a
    /// time with `search_after` (no 10 000 ceiling); `source` names the `_source` fields read
    /// (the sort fields are always added).
    pub(crate) async fn walk(
        &self,
        index: &str,
        query: &Value,
        source: &[&str],
    ) -> Result<Vec<Hit>> {
        let order = dsl::stable_order();
        self.walk_ordered(index, query, source, &order, None, None)
            .await
    }

    /// Documents of `index` matching `query` in `order` (every field with a
    /// [`dsl::sort_field`]), after the position `after` (`search_after` values), at most `max`
    /// of them (`None`: all), in requests of at most `WALK_BATCH`.
    ///
    /// A walk longer than one request reads a point in time of the indices (ES `_pit`,
    /// OpenSearch `_search/point_in_time`, by [`Flavour`](crate::Flavour)), so that
    /// concurrent writes cannot move documents across its batches. A walk that fits in one
    /// request needs none, and opens none.
    pub(crate) async fn walk_ordered(
        &self,
        index: &str,
        query: &Value,
        source: &[&str],
        order: &[OrderBy],
        after: Option<Vec<Value>>,
        max: Option<usize>,
    ) -> Result<Vec<Hit>> {
        let mut includes: Vec<&str> = source.to_vec();
        for o in order {
            if let Some((field, _)) = dsl::sort_field(&o.field)
                && !includes.contains(&field)
            {
                includes.push(field);
            }
        }
        let walk = Walk {
            query,
            includes: &includes,
            order,
            max,
        };
        let (hits, complete) = self
            .walk_batches(&walk, index, None, after.clone(), true)
            .await?;
        if complete {
            return Ok(hits);
        }
        let Some(pit) = self.open_pit(index).await? else {
            return Ok(hits);
        };
        let walked = self
            .walk_batches(&walk, index, Some(pit.clone()), after, false)
            .await;
        self.close_pit(&pit).await;
        Ok(walked?.0)
    }

    /// The batches of `walk` from `after`, in the point in time `pit` if any; with
    /// `first_only`, only the first batch. Returns the hits and whether the walk is complete.
    async fn walk_batches(
        &self,
        walk: &Walk<'_>,
        index: &str,
        mut pit: Option<String>,
        mut after: Option<Vec<Value>>,
        first_only: bool,
    ) -> Result<(Vec<Hit>, bool)> {
        let mut hits = Vec::new();
        loop {
            let want = walk
                .max
                .map_or(WALK_BATCH, |m| (m - hits.len()).min(WALK_BATCH));
            if want == 0 {
                return Ok((hits, true));
            }
            let mut body = dsl::search_body(
                walk.query,
                walk.order,
                want as u64,
                0,
                after.as_deref(),
                walk.includes,
            );
            let answer = match &pit {
                Some(id) => {
                    body["pit"] = json!({"id": id, "keep_alive": PIT_KEEP_ALIVE});
                    let answer = self.search_path("/_search", index, &body).await?;
                    if let Some(next) = answer["pit_id"].as_str() {
                        pit = Some(next.to_owned());
                    }
                    answer
                }
                None => self.search(index, &body).await?,
            };
            let batch: Vec<Hit> = answer["hits"]["hits"]
                .as_array()
                .map(|h| h.iter().map(Hit::from_json).collect())
                .unwrap_or_default();
            let full = batch.len() == want;
            if let Some(last) = batch.last() {
                after = Some(dsl::search_after(
                    walk.order,
                    &dsl::document_sort_values(walk.order, &last.source),
                ));
            }
            hits.extend(batch);
            if !full {
                return Ok((hits, true));
            }
            if first_only {
                let complete = walk.max.is_some_and(|m| hits.len() >= m);
                return Ok((hits, complete));
            }
        }
    }

    /// Opens a point in time of `index`: `None` when there is no such index.
    async fn open_pit(&self, index: &str) -> Result<Option<String>> {
        let answer = self
            .client
            .request(
                Method::Post,
                &self.client.flavour.open_pit_path(index),
                &[("keep_alive", PIT_KEEP_ALIVE)],
                None,
            )
            .await?;
        match answer.status {
            200 => {
                // Elasticsearch answers `id`, OpenSearch `pit_id`.
                let id = answer.body["id"]
                    .as_str()
                    .or_else(|| answer.body["pit_id"].as_str())
                    .ok_or_else(|| failed("open a point in time", &answer))?;
                Ok(Some(id.to_owned()))
            }
            404 => Ok(None),
            _ => Err(failed(&format!("open a point in time of {index}"), &answer)),
        }
    }

    /// Closes a point in time (best effort: it expires anyway).
    async fn close_pit(&self, id: &str) {
        let (path, body) = self.client.flavour.close_pit(id);
        if let Err(e) = self
            .client
            .request(Method::Delete, path, &[], Some(body.to_string()))
            .await
        {
            tracing::debug!("closing a point in time: {e}");
        }
    }

    /// One page of a list whose filters the DSL answers exactly ([`dsl::is_exact`]): the
    /// server sorts, skips (`search_after` from the continue position, `from` for a small
    /// offset, a walk for a deep one) and counts; [`Pager`] decides the page.
    pub(crate) async fn exact_page(
        &self,
        index: &str,
        query: Value,
        listed: Listed<'_>,
        options: &ListOptions,
        source: &[&str],
    ) -> Result<storage_api::query::paging::Page<Hit>> {
        let pager = Pager::new(options, listed)?;
        let order = options.effective_order();
        let mut after = pager
            .position()
            .map(|position| dsl::search_after(&order, &position.values));
        let offset = pager.offset();
        let fetch = pager.fetch_limit();
        let mut from = 0;
        if offset > 0 {
            if offset + fetch.unwrap_or(MAX_WINDOW) <= MAX_WINDOW && fetch.is_some() {
                from = offset;
            } else {
                // A deep offset: walk past it (its cost grows with it, as offsets do).
                let skipped = self
                    .walk_ordered(
                        index,
                        &query,
                        &[],
                        &order,
                        after.clone(),
                        Some(usize::try_from(offset).unwrap_or(usize::MAX)),
                    )
                    .await?;
                if (skipped.len() as u64) < offset {
                    after = None;
                    from = u64::MAX;
                } else if let Some(last) = skipped.last() {
                    after = Some(dsl::search_after(
                        &order,
                        &dsl::document_sort_values(&order, &last.source),
                    ));
                }
            }
        }
        let fetched = if from == u64::MAX || fetch == Some(0) {
            Vec::new()
        } else if from > 0 {
            let body = dsl::search_body(
                &query,
                &order,
                fetch.unwrap_or(MAX_WINDOW),
                from,
                None,
                source,
            );
            let answer = self.search(index, &body).await?;
            answer["hits"]["hits"]
                .as_array()
                .map(|h| h.iter().map(Hit::from_json).collect())
                .unwrap_or_default()
        } else {
            self.walk_ordered(
                index,
                &query,
                source,
                &order,
                after,
                fetch.map(|f| usize::try_from(f).unwrap_or(usize::MAX)),
            )
            .await?
        };
        let counted = if pager.counts_remaining() {
            let counting = match pager.position() {
                Some(position) => json!({"bool": {"filter": [
                    query.clone(),
                    dsl::after_position(&order, &position.values),
                ]}}),
                None => query.clone(),
            };
            Some(self.count(index, &counting).await?)
        } else {
            None
        };
        pager.finish(fetched, counted, |last| {
            Ok(dsl::document_sort_values(&order, &last.source))
        })
    }

    /// The uids of the owners an owner query selects, level by level over the documents of
    /// the cluster (every resource: an owner may be of any kind), each level walked whole.
    pub(crate) async fn owner_uids(&self, options: &ListOptions) -> Result<Option<Vec<String>>> {
        let Some(owner) = &options.owner else {
            return Ok(None);
        };
        // The apiserver accepts owner queries for exactly one cluster.
        let Some(cluster) = options.clusters.first() else {
            return Ok(Some(Vec::new()));
        };
        let all = self.names.all();
        let mut uids: HashSet<String> = match (
            &owner.uid,
            dsl::owner_roots(owner, cluster, &options.namespaces),
        ) {
            (Some(uid), _) => HashSet::from([uid.clone()]),
            (None, Some(query)) => self
                .walk(&all, &query, &["uid"])
                .await?
                .iter()
                .map(|h| h.text("uid"))
                .collect(),
            (None, None) => HashSet::new(),
        };
        for _ in 0..owner.seniority {
            if uids.is_empty() {
                break;
            }
            let mut level: Vec<String> = uids.into_iter().collect();
            level.sort();
            let query = dsl::owner_children(cluster, &level);
            uids = self
                .walk(&all, &query, &["uid"])
                .await?
                .iter()
                .map(|h| h.text("uid"))
                .collect();
        }
        let mut uids: Vec<String> = uids.into_iter().collect();
        uids.sort();
        Ok(Some(uids))
    }

    /// The concrete indices behind the alias over every index.
    pub(crate) async fn indices(&self) -> Result<Vec<String>> {
        let answer = self
            .client
            .request(
                Method::Get,
                &format!("/_alias/{}", self.names.all()),
                &[],
                None,
            )
            .await?;
        match answer.status {
            200 => Ok(answer
                .body
                .as_object()
                .map(|indices| indices.keys().cloned().collect())
                .unwrap_or_default()),
            404 => Ok(Vec::new()),
            _ => Err(failed("list the indices", &answer)),
        }
    }

    /// Deletes the documents of every index of the layer matching `query`. Sent to the
    /// concrete indices, a few at a time (noida-db deletes from one index only when given an
    /// alias over several; URLs stay under the servers' 4 KB line limit).
    pub(crate) async fn delete_everywhere(&self, query: Value) -> Result<()> {
        let indices = self.indices().await?;
        let mut batch = String::new();
        for index in &indices {
            if !batch.is_empty() && batch.len() + index.len() > 3000 {
                self.delete_by_query(&batch, query.clone()).await?;
                batch.clear();
            }
            if !batch.is_empty() {
                batch.push(',');
            }
            batch.push_str(index);
        }
        if !batch.is_empty() {
            self.delete_by_query(&batch, query).await?;
        }
        Ok(())
    }

    /// Deletes the documents of `index` matching `query`, refreshed before it returns.
    pub(crate) async fn delete_by_query(&self, index: &str, query: Value) -> Result<()> {
        let answer = self
            .client
            .request(
                Method::Post,
                &format!("/{index}/_delete_by_query"),
                &[("refresh", "true"), ("conflicts", "proceed")],
                Some(json!({"query": query}).to_string()),
            )
            .await?;
        match answer.status {
            200 => {
                let failures = answer.body["failures"].as_array().map_or(0, Vec::len);
                if failures > 0 {
                    return Err(StorageError::Unavailable {
                        message: format!(
                            "_delete_by_query on {index}: {failures} failures: {}",
                            answer.body["failures"]
                        ),
                        source: None,
                    });
                }
                Ok(())
            }
            404 if answer.error_type() == "index_not_found_exception" => Ok(()),
            _ => Err(failed(&format!("_delete_by_query on {index}"), &answer)),
        }
    }

    /// Replaces the `events` of document `id` of `index`, if it is still at `seq_no` /
    /// `primary_term`; `false` when it changed meanwhile (the caller reads it again).
    pub(crate) async fn set_events(&self, hit: &Hit, events: Vec<Value>) -> Result<bool> {
        let seq_no = hit.seq_no.map(|n| n.to_string()).unwrap_or_default();
        let primary_term = hit.primary_term.map(|n| n.to_string()).unwrap_or_default();
        let answer = self
            .client
            .request(
                Method::Post,
                &format!("/{}/_update/{}", hit.index, hit.id),
                &[
                    ("if_seq_no", &seq_no),
                    ("if_primary_term", &primary_term),
                    ("refresh", self.refresh.as_param()),
                ],
                Some(json!({"doc": {"events": events}}).to_string()),
            )
            .await?;
        match answer.status {
            200..=299 => Ok(true),
            409 | 404 => Ok(false),
            _ => Err(failed(&format!("update events of {}", hit.id), &answer)),
        }
    }

    /// Deletes every index and the template of this layer's prefix (tests; uninstall).
    pub(crate) async fn destroy(&self) -> Result<()> {
        {
            for index in &self.indices().await? {
                let deleted = self
                    .client
                    .request(Method::Delete, &format!("/{index}"), &[], None)
                    .await?;
                if !(200..300).contains(&deleted.status) && deleted.status != 404 {
                    return Err(failed(&format!("delete index {index}"), &deleted));
                }
            }
        }
        let template = self
            .client
            .request(
                Method::Delete,
                &format!("/_index_template/{}", self.names.template()),
                &[],
                None,
            )
            .await?;
        if !(200..300).contains(&template.status) && template.status != 404 {
            return Err(failed("delete the index template", &template));
        }
        Ok(())
    }
}

/// Whether a 400 is the server refusing `search_after` values (a token whose values do not
/// fit the sort).
fn is_search_after_error(body: &Value) -> bool {
    body.to_string().contains("search_after")
}
