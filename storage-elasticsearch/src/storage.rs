//! The storage of one resource ([`ElasticsearchResourceStorage`]) and of the collection
//! resources ([`ElasticsearchCollectionStorage`]).
//!
//! # How a list is answered
//!
//! 1. The options become a query ([`crate::dsl`]); an owner query is first resolved to owner
//!    uids, level by level ([`Store::owner_uids`]).
//! 2. When the DSL answers every option exactly ([`dsl::is_exact`]: no field selector, no
//!    label `>`/`<`, no order by a field path), the server sorts and pages:
//!    [`Store::exact_page`] (`search_after`, `_count` for the remaining count, [`Pager`]).
//! 3. Otherwise the layer walks the documents the DSL narrows to, and storage-api's
//!    [`Evaluator`] answers the rest, exactly as the conformance suite's oracle.
//! 4. [`present`] injects events and strips to metadata, for the page only.
//!
//! [`Pager`]: storage_api::query::paging::Pager

use std::borrow::Borrow;
use std::collections::HashSet;

use async_trait::async_trait;
use bytes::Bytes;
use elasticsearch::http::Method;
use serde_json::{Value, json};
use storage_api::collection::{CollectionResource, CollectionResourceType};
use storage_api::evaluator::{Evaluator, present};
use storage_api::query::paging::{Listed, Page};
use storage_api::{
    Change, CollectionPage, CollectionResourceStorage, ListOptions, ListPage, ObjectEvent,
    ObjectKey, ResourceObject, ResourceStorage, ResourceStorageConfig, Result, StorageError,
    StoredResourceType,
};

use crate::dsl;
use crate::mapping::{self, document_id};
use crate::store::{BulkAction, Hit, ItemOutcome, Store};

/// A fetched document with its object, for the evaluator.
struct Fetched {
    object: ResourceObject,
    hit: Hit,
}

impl Borrow<ResourceObject> for Fetched {
    fn borrow(&self) -> &ResourceObject {
        &self.object
    }
}

/// One page of a list of `index` (the documents of `base`), with each item's hit.
async fn list(
    store: &Store,
    index: &str,
    base: Vec<Value>,
    listed: Listed<'_>,
    options: &ListOptions,
) -> Result<Page<(ResourceObject, Hit)>> {
    let owner_uids = store.owner_uids(options).await?;
    let query = dsl::list_query(base, options, owner_uids.as_deref());
    let exact = dsl::is_exact(options);
    let source = dsl::list_source(options, exact);
    if exact {
        let page = store
            .exact_page(index, query, listed, options, &source)
            .await?;
        let metadata = options.only_metadata;
        return page.try_map(|hit| Ok((hit.object(metadata)?, hit)));
    }
    let candidates = store
        .walk(index, &query, &source)
        .await?
        .into_iter()
        .map(|hit| {
            Ok(Fetched {
                object: hit.object(false)?,
                hit,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let owner_uids: Option<HashSet<String>> = owner_uids.map(|u| u.into_iter().collect());
    let page = Evaluator::new(options, owner_uids).page_items(listed, candidates)?;
    Ok(page.map(|f| (f.object, f.hit)))
}

/// Readies the items of a page ([`present`]) and returns their resource types beside.
fn finish(
    options: &ListOptions,
    page: Page<(ResourceObject, Hit)>,
) -> Result<(ListPage, Vec<StoredResourceType>)> {
    let mut types = Vec::with_capacity(page.items.len());
    let page = page.try_map(|(object, hit)| {
        types.push(hit.resource_type()?);
        let events: Vec<Bytes> = hit
            .events()
            .into_iter()
            .map(|(_, raw)| Bytes::from(raw))
            .collect();
        present(options, object, &events)
    })?;
    Ok((page.into_list_page(None), types))
}

/// The storage of one resource, across clusters.
pub(crate) struct ElasticsearchResourceStorage {
    store: Store,
    config: ResourceStorageConfig,
    index: String,
}

impl ElasticsearchResourceStorage {
    pub(crate) fn new(store: Store, config: ResourceStorageConfig) -> Self {
        let index = store.names.index(&config.gvr);
        Self {
            store,
            config,
            index,
        }
    }

    fn not_found(&self, key: &ObjectKey) -> StorageError {
        StorageError::not_found(format!("{} {key}", self.config.gvr))
    }

    fn base(&self) -> Vec<Value> {
        dsl::resource_filter(&self.config.gvr)
    }

    fn doc(&self, object: &ResourceObject) -> Result<(String, Value)> {
        Ok((
            document_id(&object.fields.key()),
            mapping::document(&self.config, object)?,
        ))
    }
}

#[async_trait]
impl ResourceStorage for ElasticsearchResourceStorage {
    fn config(&self) -> &ResourceStorageConfig {
        &self.config
    }

    /// A real-time `GET _doc/{id}`: no search, no refresh needed.
    async fn get(&self, cluster: &str, namespace: &str, name: &str) -> Result<ResourceObject> {
        let key = ObjectKey::new(cluster, namespace, name);
        let answer = self
            .store
            .client
            .request(
                Method::Get,
                &format!("/{}/_doc/{}", self.index, document_id(&key)),
                &[("_source_includes", "raw,cluster,group,version,resource")],
                None,
            )
            .await?;
        if answer.status == 404 || answer.body["found"] == json!(false) {
            return Err(self.not_found(&key));
        }
        if answer.status != 200 {
            return Err(crate::client::failed("get", &answer));
        }
        let hit = Hit {
            id: String::new(),
            index: self.index.clone(),
            source: answer.body["_source"].clone(),
            seq_no: None,
            primary_term: None,
        };
        hit.object(false)
    }

    async fn list(&self, options: &ListOptions) -> Result<ListPage> {
        let page = list(
            &self.store,
            &self.index,
            self.base(),
            Listed::Resource(&self.config.gvr),
            options,
        )
        .await?;
        Ok(finish(options, page)?.0)
    }

    // `watch` keeps the trait's default: 405 MethodNotSupported (no change feed here).

    async fn create(&self, object: ResourceObject) -> Result<()> {
        let (id, mut doc) = self.doc(&object)?;
        doc["events"] = json!([]);
        let outcome = self
            .store
            .bulk(&[BulkAction::Create {
                index: self.index.clone(),
                id,
                doc,
            }])
            .await?;
        match outcome.first() {
            Some(ItemOutcome::Conflict) => Err(StorageError::AlreadyExists {
                what: format!("{} {}", self.config.gvr, object.fields.key()),
            }),
            _ => Ok(()),
        }
    }

    async fn update(&self, object: ResourceObject) -> Result<()> {
        let (id, doc) = self.doc(&object)?;
        let outcome = self
            .store
            .bulk(&[BulkAction::Update {
                index: self.index.clone(),
                id,
                doc,
            }])
            .await?;
        match outcome.first() {
            Some(ItemOutcome::Missing) => Err(self.not_found(&object.fields.key())),
            Some(ItemOutcome::Conflict) => Err(StorageError::Unavailable {
                message: format!(
                    "{} {}: concurrent update",
                    self.config.gvr,
                    object.fields.key()
                ),
                source: None,
            }),
            _ => Ok(()),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.store
            .bulk(&[BulkAction::Delete {
                index: self.index.clone(),
                id: document_id(key),
            }])
            .await?;
        Ok(())
    }

    /// The batch through `_bulk` (in requests of `bulkSize`), every item checked. Upserts keep
    /// the object's events; deletes of absent objects are fine.
    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        let actions = changes
            .iter()
            .map(|change| {
                Ok(match change {
                    Change::Upsert(object) => {
                        let (id, doc) = self.doc(object)?;
                        BulkAction::Upsert {
                            index: self.index.clone(),
                            id,
                            doc,
                        }
                    }
                    Change::Delete(key) => BulkAction::Delete {
                        index: self.index.clone(),
                        id: document_id(key),
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for (action, outcome) in actions.iter().zip(self.store.bulk(&actions).await?) {
            if outcome == ItemOutcome::Conflict {
                return Err(StorageError::Unavailable {
                    message: format!("_bulk: concurrent write of {action:?}"),
                    source: None,
                });
            }
        }
        Ok(())
    }

    /// Each event is added to the events of the stored object with its involved uid (others
    /// are dropped, as the original does): a read, then a write conditional on the document
    /// not having changed (`if_seq_no`), retried when it did.
    async fn record_events(&self, events: Vec<ObjectEvent>) -> Result<()> {
        for event in &events {
            let raw = std::str::from_utf8(&event.raw)
                .map_err(|e| StorageError::internal("event JSON is not UTF-8", e))?;
            let mut recorded = false;
            for _ in 0..16 {
                let mut filter = self.base();
                filter.push(json!({"term": {"cluster": &*event.cluster}}));
                filter.push(json!({"term": {"uid": event.involved_uid}}));
                let body = json!({
                    "query": {"bool": {"filter": filter}},
                    "size": 1,
                    "seq_no_primary_term": true,
                    "_source": ["events"],
                });
                let answer = self.store.search(&self.index, &body).await?;
                let Some(hit) = answer["hits"]["hits"].as_array().and_then(|h| h.first()) else {
                    recorded = true;
                    break;
                };
                let hit = Hit {
                    id: hit["_id"].as_str().unwrap_or_default().to_owned(),
                    index: hit["_index"].as_str().unwrap_or_default().to_owned(),
                    source: hit["_source"].clone(),
                    seq_no: hit["_seq_no"].as_u64(),
                    primary_term: hit["_primary_term"].as_u64(),
                };
                let mut stored: Vec<Value> = hit
                    .events()
                    .into_iter()
                    .filter(|(uid, _)| *uid != event.uid)
                    .map(|(uid, raw)| json!({"uid": uid, "raw": raw}))
                    .collect();
                stored.push(json!({"uid": event.uid, "raw": raw}));
                if self.store.set_events(&hit, stored).await? {
                    recorded = true;
                    break;
                }
            }
            if !recorded {
                return Err(StorageError::Unavailable {
                    message: format!(
                        "events of {}: too many concurrent writes",
                        event.involved_uid
                    ),
                    source: None,
                });
            }
        }
        Ok(())
    }
}

/// The storage of one collection resource: the same list, over the alias of every index.
pub(crate) struct ElasticsearchCollectionStorage {
    store: Store,
    collection: CollectionResource,
}

impl ElasticsearchCollectionStorage {
    pub(crate) fn new(store: Store, collection: CollectionResource) -> Self {
        Self { store, collection }
    }
}

#[async_trait]
impl CollectionResourceStorage for ElasticsearchCollectionStorage {
    fn collection(&self) -> &CollectionResource {
        &self.collection
    }

    async fn list(
        &self,
        types: &[CollectionResourceType],
        options: &ListOptions,
    ) -> Result<CollectionPage> {
        let base: Vec<Value> = dsl::collection_filter(types).into_iter().collect();
        let page = list(
            &self.store,
            &self.store.names.all(),
            base,
            Listed::Collection(types),
            options,
        )
        .await?;
        let (page, item_types) = finish(options, page)?;
        let mut item_types = item_types.into_iter();
        Ok(CollectionPage::from_page(page, |_| item_types.next()))
    }
}
