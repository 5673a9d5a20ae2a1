//! The storages: [`InternalResourceStorage`] (one resource) and [`InternalCollectionStorage`]
//! (several resources at once).

use std::sync::Arc;

use async_trait::async_trait;
use storage_api::collection::{CollectionResource, CollectionResourceType};
use storage_api::{
    Change, CollectionPage, CollectionResourceStorage, Gvr, ListOptions, ListPage, ObjectEvent,
    ObjectKey, ResourceObject, ResourceStorage, ResourceStorageConfig, Result, StorageError,
    StoredResourceType, WatchStream,
};

use crate::changelog::{self, ChangeLog};
use crate::db::{Db, Reader};
use crate::events;
use crate::factory::InternalStorageFactory;
use crate::query::{ListQuery, Scope};
use crate::rows::{Interner, OBJECT_COLS, object_from_row};
use crate::watch::{self, Hub};
use crate::write;

/// The storage of one resource across every cluster.
#[derive(Debug)]
pub struct InternalResourceStorage {
    db: Db,
    config: ResourceStorageConfig,
    gvr: Arc<Gvr>,
    log: ChangeLog,
    hub: Arc<Hub>,
}

impl InternalResourceStorage {
    pub(crate) fn new(
        db: Db,
        config: ResourceStorageConfig,
        log: ChangeLog,
        hub: Arc<Hub>,
    ) -> Self {
        let gvr = Arc::new(config.gvr.clone());
        Self {
            db,
            config,
            gvr,
            log,
            hub,
        }
    }
}

/// A list read in one snapshot with the change log's revision at that snapshot: a watch from
/// that revision continues exactly where the list ends.
async fn list_at(db: &Db, gvr: &Arc<Gvr>, options: &ListOptions) -> Result<(ListPage, i64)> {
    let query = ListQuery::new(db, options, Scope::Resource(gvr))?;
    query.catch_up(db).await?;
    let mut snapshot = db.snapshot("list").await?;
    let mut reader = Reader::Snapshot(&mut snapshot);
    let state = changelog::state_on(&mut reader, db.dialect()).await?;
    let page = query
        .run_on(&mut reader, &mut Interner::with_gvr(gvr))
        .await?;
    snapshot.finish("list").await?;
    Ok((page, state.revision))
}

#[async_trait]
impl ResourceStorage for InternalResourceStorage {
    fn config(&self) -> &ResourceStorageConfig {
        &self.config
    }

    async fn get(&self, cluster: &str, namespace: &str, name: &str) -> Result<ResourceObject> {
        let gvr = &self.gvr;
        let mut sql = self.db.sql();
        sql.push("SELECT ")
            .push(self.db.dialect().object_columns())
            .push(" FROM resources r WHERE ")
            .push_resource_is(gvr, "r.")
            .push(" AND r.cluster = ")
            .bind(cluster)
            .push(" AND r.namespace = ")
            .bind(namespace)
            .push(" AND r.name = ")
            .bind(name);
        let mut rows = self.db.fetch("get", &sql, &OBJECT_COLS).await?;
        match rows.first_mut() {
            Some(row) => object_from_row(row, 0, &mut Interner::with_gvr(gvr)),
            None => Err(StorageError::not_found(format!(
                "{gvr} {}",
                ObjectKey::new(cluster, namespace, name)
            ))),
        }
    }

    async fn list(&self, options: &ListOptions) -> Result<ListPage> {
        let (mut page, revision) = list_at(&self.db, &self.gvr, options).await?;
        page.resource_version = Some(revision.to_string());
        page.pinned_to_first_page(options)
    }

    async fn watch(&self, options: &ListOptions) -> Result<WatchStream> {
        let db = self.db.clone();
        let gvr = self.gvr.clone();
        watch::watch(&self.hub, self.gvr.clone(), options, |filters| async move {
            let (page, revision) = list_at(&db, &gvr, &filters).await?;
            Ok((page.items, revision))
        })
        .await
    }

    async fn create(&self, object: ResourceObject) -> Result<()> {
        write::create(&self.db, &self.log, &self.gvr, object).await
    }

    async fn update(&self, object: ResourceObject) -> Result<()> {
        write::update(&self.db, &self.log, &self.gvr, object).await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        write::delete(&self.db, &self.log, &self.gvr, key).await
    }

    async fn apply(&self, changes: Vec<Change>) -> Result<()> {
        write::apply(&self.db, &self.log, &self.gvr, changes).await
    }

    async fn record_events(&self, events: Vec<ObjectEvent>) -> Result<()> {
        events::record(&self.db, &self.gvr, &events).await
    }
}

/// The storage of one collection resource.
#[derive(Debug)]
pub struct InternalCollectionStorage {
    factory: InternalStorageFactory,
    collection: CollectionResource,
}

impl InternalCollectionStorage {
    pub(crate) fn new(factory: InternalStorageFactory, collection: CollectionResource) -> Self {
        Self {
            factory,
            collection,
        }
    }
}

#[async_trait]
impl CollectionResourceStorage for InternalCollectionStorage {
    fn collection(&self) -> &CollectionResource {
        &self.collection
    }

    async fn list(
        &self,
        types: &[CollectionResourceType],
        options: &ListOptions,
    ) -> Result<CollectionPage> {
        let db = self.factory.db();
        let page = ListQuery::new(db, options, Scope::Collection(types))?
            .run(db, &mut Interner::default())
            .await?;
        let namespaced = self.factory.scope_of().await?;
        Ok(CollectionPage::from_page(page, |item| {
            let f = &item.fields;
            Some(StoredResourceType {
                cluster: f.cluster.to_string(),
                gvr: (*f.gvr).clone(),
                kind: f.kind.to_string(),
                namespaced: namespaced(&f.gvr, &f.namespace),
            })
        }))
    }
}
