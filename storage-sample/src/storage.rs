//! The storage of one resource ([`SampleResourceStorage`]) and of the collection resources
//! ([`SampleCollectionStorage`]).
//!
//! # How a list is answered
//!
//! 1. **Pushdown.** The database returns the rows of the resource, narrowed by the request's
//!    clusters and namespaces: the leading columns of the primary key, so an index range.
//! 2. **Evaluation.** Each row becomes a [`ResourceObject`] again, and storage-api's reference
//!    evaluator ([`Evaluator::page`]) does everything else: names, label and field selectors,
//!    fuzzy names, creation times, owners, order, continue tokens, offsets and remaining counts.
//! 3. **Presentation.** [`present`] injects events and strips to metadata, for the page only.
//!
//! That is the whole trick of this layer: every query feature, answered exactly as the
//! conformance suite's oracle answers it, in a few lines. The price is that a list reads and
//! parses every row the pushdown lets through, which is fine up to some ten thousand objects
//! per resource and cluster. To go further, push more down (names, labels, an order and a
//! limit in SQL, owner uids in a column) and keep the evaluator for what is left: the
//! conformance suite tells you when an answer changes.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use storage_api::collection::{CollectionResource, CollectionResourceType};
use storage_api::evaluator::{Evaluator, present, resolve_owner_uids};
use storage_api::query::paging::Listed;
use storage_api::{
    Change, CollectionPage, CollectionResourceStorage, Gvr, IndexedFields, ListOptions, ListPage,
    ObjectEvent, ObjectKey, ResourceObject, ResourceStorage, ResourceStorageConfig, Result,
    StorageError, StoredResourceType,
};

use crate::database::{Database, Filter};
use crate::error::{classify, is_unique_violation};
use crate::rows::{
    Events, INSERT_ROW, SELECT_ROWS, StoredRow, WHERE_KEY, bind_key, bind_object, json_text,
    resource_filter, text,
};
use crate::schema;

/// What the database filters for a list: the request's clusters and namespaces. Everything
/// else is the evaluator's job.
fn pushdown(filter: Filter, options: &ListOptions) -> Filter {
    filter
        .one_of("cluster", &options.clusters)
        .one_of("namespace", &options.namespaces)
}

/// Refuses what this layer does not answer: a full-text `query`. (The evaluator could answer it
/// over every fetched row; the sample shows how a layer refuses a parameter it does not serve,
/// with the contract's one message, before any work.)
fn refuse_unsupported(options: &ListOptions) -> Result<()> {
    if options.full_text.is_some() {
        return Err(StorageError::full_text_unsupported("sample"));
    }
    Ok(())
}

/// The owner uids of an owner query (see [`resolve_owner_uids`]): resolved over every stored
/// object of the request's cluster, of every resource, since an owner may be of any kind.
async fn owner_uids(database: &Database, options: &ListOptions) -> Result<Option<HashSet<String>>> {
    let Some(owner) = &options.owner else {
        return Ok(None);
    };
    // The apiserver accepts owner queries for exactly one cluster.
    let Some(cluster) = options.clusters.first() else {
        return Ok(Some(HashSet::new()));
    };
    let rows = database
        .filtered(SELECT_ROWS, Filter::new().equals("cluster", cluster))
        .fetch_all(database.pool())
        .await
        .map_err(|e| classify("select the objects of the cluster", e))?
        .iter()
        .map(StoredRow::decode)
        .collect::<Result<Vec<_>>>()?;
    let fields: Vec<&IndexedFields> = rows.iter().map(|row| &row.object.fields).collect();
    Ok(Some(resolve_owner_uids(
        owner,
        &options.namespaces,
        &fields,
    )))
}

/// Filters, orders and pages fetched rows with the reference evaluator, then readies each item
/// of the page ([`present`]). Returns the page and the stored resource type of each item.
fn evaluate(
    listed: Listed<'_>,
    rows: Vec<StoredRow>,
    options: &ListOptions,
    owner_uids: Option<HashSet<String>>,
) -> Result<(ListPage, Vec<StoredResourceType>)> {
    // The evaluator returns objects; keep what goes with each, by identity, for the page.
    let mut beside: HashMap<(Gvr, ObjectKey), (StoredResourceType, Events)> =
        HashMap::with_capacity(rows.len());
    let mut objects = Vec::with_capacity(rows.len());
    for row in rows {
        let identity = (row.resource_type.gvr.clone(), row.object.fields.key());
        beside.insert(identity, (row.resource_type, row.events));
        objects.push(row.object);
    }
    let mut page = Evaluator::new(options, owner_uids).page(listed, objects)?;
    let mut types = Vec::with_capacity(page.items.len());
    let mut items = Vec::with_capacity(page.items.len());
    for item in page.items {
        let identity = (item.fields.gvr.as_ref().clone(), item.fields.key());
        let (resource_type, events) =
            beside
                .remove(&identity)
                .ok_or_else(|| StorageError::Internal {
                    message: format!("page item {} was not fetched", item.fields.key()),
                    source: None,
                })?;
        items.push(present(options, item, &events.raw())?);
        types.push(resource_type);
    }
    page.items = items;
    Ok((page, types))
}

/// The storage of one resource, across clusters.
pub(crate) struct SampleResourceStorage {
    database: Database,
    config: ResourceStorageConfig,
}

impl SampleResourceStorage {
    pub(crate) fn new(database: Database, config: ResourceStorageConfig) -> Self {
        Self { database, config }
    }

    fn not_found(&self, key: &ObjectKey) -> StorageError {
        StorageError::not_found(format!("{} {key}", self.config.gvr))
    }
}

#[async_trait]
impl ResourceStorage for SampleResourceStorage {
    fn config(&self) -> &ResourceStorageConfig {
        &self.config
    }

    async fn get(&self, cluster: &str, namespace: &str, name: &str) -> Result<ResourceObject> {
        let key = ObjectKey::new(cluster, namespace, name);
        let statement = self
            .database
            .statement(&format!("{SELECT_ROWS}{WHERE_KEY}"));
        let row = bind_key(statement, &self.config.gvr, &key)
            .fetch_optional(self.database.pool())
            .await
            .map_err(|e| classify("get", e))?;
        match row {
            Some(row) => Ok(StoredRow::decode(&row)?.object),
            None => Err(self.not_found(&key)),
        }
    }

    async fn list(&self, options: &ListOptions) -> Result<ListPage> {
        refuse_unsupported(options)?;
        let filter = pushdown(resource_filter(&self.config.gvr), options);
        let rows = self
            .database
            .filtered(SELECT_ROWS, filter)
            .fetch_all(self.database.pool())
            .await
            .map_err(|e| classify("list", e))?;
        let rows = rows.iter().map(StoredRow::decode).collect::<Result<_>>()?;
        let owner_uids = owner_uids(&self.database, options).await?;
        Ok(evaluate(
            Listed::Resource(&self.config.gvr),
            rows,
            options,
            owner_uids,
        )?
        .0)
    }

    // `watch` keeps the trait's default: 405 MethodNotSupported. A relational database has no
    // change feed to serve it from; `memory` shows what watch takes.

    async fn create(&self, object: ResourceObject) -> Result<()> {
        let statement = bind_object(self.database.statement(INSERT_ROW), &self.config, &object)?;
        match statement.execute(self.database.pool()).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StorageError::AlreadyExists {
                what: format!("{} {}", self.config.gvr, object.fields.key()),
            }),
            Err(e) => Err(classify("insert", e)),
        }
    }

    async fn update(&self, object: ResourceObject) -> Result<()> {
        let key = object.fields.key();
        let statement = self
            .database
            .statement(&format!(
                "UPDATE sample_resources SET uid = ?, object = ?{WHERE_KEY}"
            ))
            .bind(object.fields.uid.clone())
            .bind(json_text(&object.raw)?.to_owned());
        let result = bind_key(statement, &self.config.gvr, &key)
            .execute(self.database.pool())
            .await
            .map_err(|e| classify("update", e))?;
        // Matched rows, not changed rows: sqlx asks MySQL for "found rows".
        if result.rows_affected() == 0 {
            return Err(self.not_found(&key));
        }
        Ok(())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        let statement = self
            .database
            .statement(&format!("DELETE FROM sample_resources{WHERE_KEY}"));
        bind_key(statement, &self.config.gvr, key)
            .execute(self.database.pool())
            .await
            .map_err(|e| classify("delete", e))?;
        Ok(())
    }

    /// The batch, in one transaction: all of it is stored, or none of it (and the synchro
    /// retries it whole).
    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        let upsert = schema::upsert_sql(self.database.kind());
        let delete = format!("DELETE FROM sample_resources{WHERE_KEY}");
        let mut transaction = self
            .database
            .pool()
            .begin()
            .await
            .map_err(|e| classify("begin", e))?;
        for change in &changes {
            let statement = match change {
                Change::Upsert(object) => {
                    bind_object(self.database.statement(&upsert), &self.config, object)?
                }
                Change::Delete(key) => {
                    bind_key(self.database.statement(&delete), &self.config.gvr, key)
                }
            };
            statement
                .execute(&mut *transaction)
                .await
                .map_err(|e| classify("apply", e))?;
        }
        transaction
            .commit()
            .await
            .map_err(|e| classify("commit", e))
    }

    /// Each event is added to the events of the object with its involved uid, if stored: a
    /// read-modify-write of that row, with the row locked so that concurrent writers cannot
    /// lose each other's events.
    async fn record_events(&self, events: Vec<ObjectEvent>) -> Result<()> {
        let gvr = &self.config.gvr;
        let select = format!(
            "SELECT namespace, name, events FROM sample_resources WHERE api_group = ? \
             AND version = ? AND resource = ? AND cluster = ? AND uid = ?{}",
            schema::lock_rows(self.database.kind())
        );
        let update = format!("UPDATE sample_resources SET events = ?{WHERE_KEY}");
        let mut transaction = self
            .database
            .pool()
            .begin()
            .await
            .map_err(|e| classify("begin", e))?;
        for event in &events {
            let row = self
                .database
                .statement(&select)
                .bind(gvr.group.clone())
                .bind(gvr.version.clone())
                .bind(gvr.resource.clone())
                .bind(event.cluster.to_string())
                .bind(event.involved_uid.clone())
                .fetch_optional(&mut *transaction)
                .await
                .map_err(|e| classify("select events", e))?;
            // Events of objects that are not stored are dropped, as the original does.
            let Some(row) = row else { continue };
            let mut stored = Events::parse(&text(&row, "events")?)?;
            stored.record(event)?;
            let key = ObjectKey {
                cluster: event.cluster.to_string(),
                namespace: text(&row, "namespace")?,
                name: text(&row, "name")?,
            };
            let statement = self.database.statement(&update).bind(stored.to_text()?);
            bind_key(statement, gvr, &key)
                .execute(&mut *transaction)
                .await
                .map_err(|e| classify("update events", e))?;
        }
        transaction
            .commit()
            .await
            .map_err(|e| classify("commit", e))
    }
}

/// The storage of one collection resource: the same list, over the rows of several resources.
pub(crate) struct SampleCollectionStorage {
    database: Database,
    collection: CollectionResource,
}

impl SampleCollectionStorage {
    pub(crate) fn new(database: Database, collection: CollectionResource) -> Self {
        Self {
            database,
            collection,
        }
    }
}

#[async_trait]
impl CollectionResourceStorage for SampleCollectionStorage {
    fn collection(&self) -> &CollectionResource {
        &self.collection
    }

    async fn list(
        &self,
        types: &[CollectionResourceType],
        options: &ListOptions,
    ) -> Result<CollectionPage> {
        refuse_unsupported(options)?;
        let mut filter = pushdown(Filter::new(), options);
        // The wildcard type (`groups=*`) is every resource: no condition at all.
        if !types.iter().any(CollectionResourceType::is_all) {
            let alternatives = types
                .iter()
                .map(|t| {
                    let mut alternative = Filter::new().equals("api_group", &t.group);
                    if !t.version.is_empty() {
                        alternative = alternative.equals("version", &t.version);
                    }
                    if !t.resource.is_empty() {
                        alternative = alternative.equals("resource", &t.resource);
                    }
                    alternative
                })
                .collect();
            filter = filter.any_of(alternatives);
        }
        let rows = self
            .database
            .filtered(SELECT_ROWS, filter)
            .fetch_all(self.database.pool())
            .await
            .map_err(|e| classify("list", e))?;
        let rows = rows.iter().map(StoredRow::decode).collect::<Result<_>>()?;
        let owner_uids = owner_uids(&self.database, options).await?;
        let (page, item_types) = evaluate(Listed::Collection(types), rows, options, owner_uids)?;
        // `evaluate` returns the type of each item beside it, in the items' order.
        let mut item_types = item_types.into_iter();
        Ok(CollectionPage::from_page(page, |_| item_types.next()))
    }
}
