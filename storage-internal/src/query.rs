//! [`ListOptions`] → SQL: every option pushed down, values bound, keyset paging.
//!
//! One list is at most two statements:
//!
//! ```sql
//! SELECT p.k0, …, <object columns> FROM (
//!     SELECT r.id, <sort key 0> AS k0, … FROM resources r
//!     WHERE <resource or collection types> AND <filters> AND <after the continue position>
//!     ORDER BY <the non-constant sort keys> LIMIT <limit + 1> [OFFSET <offset>]
//! ) p JOIN resources r ON r.id = p.id ORDER BY <the same keys>
//! ```
//!
//! and, with `withRemainingCount`, `SELECT COUNT(*)` with the same conditions. The inner query
//! reads only columns and indexes; the object JSON is fetched by the outer join for the rows of
//! the page only. One extra row tells whether more items remain.
//!
//! # Keyset paging
//!
//! A continue token holds the sort values of the last item of its page, one per field of
//! [`ListOptions::effective_order`] (a total order). The next page is "the rows strictly after
//! that position", written as a row-value comparison `(a, b, c) > (?, ?, ?)` where the planner
//! turns it into an index seek (PostgreSQL, SQLite; every key ascending or every key
//! descending), or as `a >= ? AND (a > ? OR (a = ? AND (b > ? OR …)))` otherwise: the leading
//! bound keeps the seek. Keys that the filters pin to one value (the resource's group, version
//! and resource; a single cluster, namespace or name) are left out of the comparison and of
//! the `ORDER BY`: every matching row has the same value there.
//!
//! Missing values sort lowest. Columns never hold NULL: an object without creation time
//! stores [`NO_TIME`], one with a non-numeric resource version [`NO_RESOURCE_VERSION`]. Only
//! field paths are NULL when missing; their comparisons spell out the NULL cases.
//!
//! # Full-text search (PostgreSQL)
//!
//! `search_vector @@ <tsquery>` through the GIN index ([`crate::full_text`]); the relevance key
//! is `ts_rank` as `double precision`, so the score in a continue token (exact, its bits)
//! compares exactly with the one PostgreSQL computes again. MySQL and SQLite refuse the query.

use std::sync::Arc;

use storage_api::collection::CollectionResourceType;
use storage_api::evaluator::present;
use storage_api::query::paging::{Listed, Pager};
use storage_api::query::{ContinuePosition, ListOptions, OrderField, OwnerQuery, SortValue};
use storage_api::{Gvr, ListPage, ResourceObject, Result, StorageError};

use crate::db::{Col, Db, Reader, Row};
use crate::dialect::Dialect;
use crate::events;
use crate::rows::{Interner, NO_RESOURCE_VERSION, NO_TIME, OBJECT_COLS, object_from_row};
use crate::sql::{Bind, Sql};

/// What a list is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// The objects of one resource.
    Resource(&'a Arc<Gvr>),
    /// The objects of the resources of some collection types.
    Collection(&'a [CollectionResourceType]),
}

/// How a sort key is stored, and so compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKind {
    /// A NOT NULL text column.
    Text,
    /// A NOT NULL integer column where `missing` stands for a missing value.
    Int { missing: i64 },
    /// A field path: text, NULL when missing.
    Path,
    /// A NOT NULL float expression (the full-text relevance).
    Float,
}

/// One field of the effective order.
#[derive(Debug, Clone)]
struct SortKey {
    field: OrderField,
    descending: bool,
    kind: SortKind,
    /// Every matching row has the same value (the filters pin it).
    pinned: bool,
}

/// The SQL of one list request.
#[derive(Debug)]
pub(crate) struct ListQuery<'a> {
    dialect: Dialect,
    options: &'a ListOptions,
    pager: Pager<'a>,
    scope: Scope<'a>,
    keys: Vec<SortKey>,
}

impl<'a> ListQuery<'a> {
    /// The query of `options` over `scope`; `400` when the continue token is of another list.
    pub(crate) fn new(db: &Db, options: &'a ListOptions, scope: Scope<'a>) -> Result<Self> {
        let dialect = db.dialect();
        let listed = match scope {
            Scope::Resource(gvr) => Listed::Resource(gvr),
            Scope::Collection(types) => Listed::Collection(types),
        };
        let pager = Pager::new(options, listed)?;
        if options.full_text.is_some() && dialect != Dialect::Postgres {
            return Err(StorageError::full_text_unsupported(&format!(
                "internal ({})",
                dialect.name()
            )));
        }
        if let (Some(_), Scope::Resource(gvr)) = (&options.full_text, scope)
            && !db.full_text().includes(&gvr.group, &gvr.resource)
        {
            return Err(StorageError::bad_request(
                "query",
                format!(
                    "full-text search is off for {} in this storage's configuration \
                     (fullTextSearch.exclude); use fuzzyName or a field selector",
                    gvr.group_resource()
                ),
            ));
        }
        if let Some(order) = options.order_by.iter().find(|o| !has_sql_key(&o.field)) {
            return Err(StorageError::bad_request(
                "orderby",
                format!(
                    "ordering by {} is not supported by the internal layer",
                    order.field
                ),
            ));
        }
        let resource = matches!(scope, Scope::Resource(_));
        let keys = options
            .effective_order()
            .into_iter()
            .map(|order| {
                let kind = match &order.field {
                    OrderField::CreatedAt => SortKind::Int { missing: NO_TIME },
                    OrderField::ResourceVersion => SortKind::Int {
                        missing: NO_RESOURCE_VERSION,
                    },
                    OrderField::Path(_) => SortKind::Path,
                    OrderField::Relevance => SortKind::Float,
                    _ => SortKind::Text,
                };
                let pinned = match &order.field {
                    OrderField::Group | OrderField::Version | OrderField::Resource => resource,
                    OrderField::Cluster => options.clusters.len() == 1,
                    OrderField::Namespace => options.namespaces.len() == 1,
                    OrderField::Name => options.names.len() == 1,
                    _ => false,
                };
                SortKey {
                    field: order.field,
                    descending: order.descending,
                    kind,
                    pinned,
                }
            })
            .collect();
        Ok(Self {
            dialect,
            options,
            pager,
            scope,
            keys,
        })
    }

    /// ` FROM resources r`, on SQLite with the owner index named for owner queries.
    ///
    /// SQLite has no statistics until someone runs `ANALYZE` (nothing does on its own): without
    /// them it walks the resource's default-order index (`resources_key`, no sort needed) and
    /// tests each row's owner against the owner set, a scan of the whole resource of the
    /// cluster (the 59 ms of issue 15 at 20k pods); the owner index finds the few children at once. Owner
    /// queries always test `r.owner_uid <> ''` (the partial index's condition), so the index
    /// is always usable.
    fn push_from(&self, sql: &mut Sql) {
        sql.push(" FROM resources r");
        if self.dialect == Dialect::Sqlite
            && self.options.owner.is_some()
            && matches!(self.scope, Scope::Resource(_))
        {
            sql.push(" INDEXED BY resources_owner");
        }
    }

    /// `WHERE …`: the scope and every filter (not the position).
    fn push_where(&self, sql: &mut Sql) -> Result<()> {
        let o = self.options;
        sql.push(" WHERE ");
        match self.scope {
            Scope::Resource(gvr) => {
                sql.push_resource_is(gvr, "r.");
            }
            Scope::Collection(types) => push_collection_types(sql, types),
        }
        push_column_in(sql, "r.cluster", &o.clusters);
        push_column_in(sql, "r.namespace", &o.namespaces);
        push_column_in(sql, "r.name", &o.names);
        if let Some(access) = &o.access {
            push_access(sql, access);
        }
        if let Some(since) = o.since {
            sql.push(" AND r.created_at >= ").bind(since);
        }
        if let Some(before) = o.before {
            sql.push(" AND r.created_at < ")
                .bind(before)
                .push(" AND r.created_at > ")
                .bind(NO_TIME);
        }
        // With namespaces the namespace index narrows the rows first; a label then only filters
        // them (see `Dialect::push_label_requirement`).
        let labels_drive = o.namespaces.is_empty();
        for requirement in o.label_selector.requirements() {
            sql.push(" AND ");
            self.dialect
                .push_label_requirement(sql, requirement, labels_drive);
        }
        for needle in &o.fuzzy_names {
            sql.push(" AND ");
            self.dialect.push_name_contains(sql, needle);
        }
        if let Some(query) = &o.full_text {
            // Refused by `ListQuery::new` on the other dialects.
            sql.push(" AND r.search_vector @@ CAST(")
                .bind(crate::full_text::query_text(query))
                .push(" AS tsquery)");
        }
        for requirement in o.field_selector.requirements() {
            sql.push(" AND ");
            self.dialect.push_field_requirement(sql, requirement)?;
        }
        if let Some(owner) = &o.owner {
            match self.scope {
                Scope::Resource(_) => {
                    let cluster = o.clusters.first().map(String::as_str).unwrap_or_default();
                    push_owner(sql, owner, cluster, &o.namespaces);
                }
                // Owner queries do not apply to collections: the contract's evaluator answers
                // them with nothing.
                Scope::Collection(_) => {
                    sql.push(" AND 1 = 0");
                }
            }
        }
        Ok(())
    }

    /// The SQL expression of a sort key.
    fn push_key(&self, sql: &mut Sql, key: &SortKey) {
        match &key.field {
            OrderField::Cluster => sql.push("r.cluster"),
            OrderField::Namespace => sql.push("r.namespace"),
            OrderField::Name => sql.push("r.name"),
            OrderField::Group => sql.push("r.api_group"),
            OrderField::Version => sql.push("r.api_version"),
            OrderField::Resource => sql.push("r.resource"),
            OrderField::CreatedAt => sql.push("r.created_at"),
            OrderField::ResourceVersion => sql.push("r.rv_number"),
            OrderField::Path(path) => {
                self.dialect.push_path_sort_value(sql, path);
                sql
            }
            OrderField::Relevance => match &self.options.full_text {
                Some(query) => sql
                    .push("CAST(ts_rank(r.search_vector, CAST(")
                    .bind(crate::full_text::query_text(query))
                    .push(" AS tsquery)) AS double precision)"),
                // Only in the effective order of a full-text query.
                None => sql.push("0"),
            },
            // Refused by `ListQuery::new` (see `has_sql_key`).
            _ => sql.push("NULL"),
        };
    }

    /// ` AND <strictly after position>`.
    fn push_after(&self, sql: &mut Sql, position: &ContinuePosition) {
        let keys: Vec<(&SortKey, &SortValue)> = self
            .keys
            .iter()
            .zip(&position.values)
            .filter(|(key, _)| !key.pinned)
            .collect();
        sql.push(" AND ");
        if keys.is_empty() {
            // Every key is pinned: the position's row was the only one.
            sql.push("1 = 0");
            return;
        }
        let uniform = keys
            .iter()
            .all(|(k, _)| k.descending == keys[0].0.descending);
        let nullable = keys.iter().any(|(k, _)| k.kind == SortKind::Path);
        if self.dialect.seeks_row_values() && uniform && !nullable {
            sql.push("(");
            sql.join(&keys, ", ", |sql, (key, _)| self.push_key(sql, key));
            sql.push(if keys[0].0.descending {
                ") < ("
            } else {
                ") > ("
            });
            sql.join(&keys, ", ", |sql, (key, value)| {
                sql.bind(bind_of(key, value));
            });
            sql.push(")");
            return;
        }
        sql.push("(");
        let (first, first_value) = keys[0];
        if first.kind != SortKind::Path {
            // The leading bound: an index range even where the disjunction is not one.
            self.push_key(sql, first);
            sql.push(if first.descending { " <= " } else { " >= " })
                .bind(bind_of(first, first_value))
                .push(" AND ");
        }
        sql.push("(");
        let mut disjuncts = 0;
        for i in 0..keys.len() {
            let (key, value) = keys[i];
            if key.descending && *value == SortValue::Null {
                // Nothing sorts after a missing value in a descending key.
                continue;
            }
            if disjuncts > 0 {
                sql.push(" OR ");
            }
            disjuncts += 1;
            sql.push("(");
            for &(equal, equal_value) in &keys[..i] {
                self.push_equal(sql, equal, equal_value);
                sql.push(" AND ");
            }
            self.push_beyond(sql, key, value);
            sql.push(")");
        }
        if disjuncts == 0 {
            sql.push("1 = 0");
        }
        sql.push("))");
    }

    /// `key = value` (`IS NULL` for a missing path value).
    fn push_equal(&self, sql: &mut Sql, key: &SortKey, value: &SortValue) {
        self.push_key(sql, key);
        if key.kind == SortKind::Path && *value == SortValue::Null {
            sql.push(" IS NULL");
        } else {
            sql.push(" = ").bind(bind_of(key, value));
        }
    }

    /// `key` strictly after `value` in the key's direction, missing values lowest.
    fn push_beyond(&self, sql: &mut Sql, key: &SortKey, value: &SortValue) {
        match (key.kind, key.descending, value) {
            (SortKind::Path, false, SortValue::Null) => {
                self.push_key(sql, key);
                sql.push(" IS NOT NULL");
            }
            (SortKind::Path, true, _) => {
                sql.push("(");
                self.push_key(sql, key);
                sql.push(" < ").bind(bind_of(key, value)).push(" OR ");
                self.push_key(sql, key);
                sql.push(" IS NULL)");
            }
            (_, descending, _) => {
                self.push_key(sql, key);
                sql.push(if descending { " < " } else { " > " })
                    .bind(bind_of(key, value));
            }
        }
    }

    /// ` ORDER BY` the unpinned keys, by their aliases (`prefix` + `k<i>`).
    fn push_order_by(&self, sql: &mut Sql, prefix: &'static str) {
        let keys: Vec<(usize, &SortKey)> = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.pinned)
            .collect();
        if keys.is_empty() {
            return;
        }
        sql.push(" ORDER BY ");
        sql.join(keys, ", ", |sql, (i, key)| {
            sql.push(prefix).push("k").push_int(i);
            sql.push(if key.descending { " DESC" } else { " ASC" });
            if key.kind == SortKind::Path {
                sql.push(self.dialect.nulls_lowest(key.descending));
            }
        });
    }

    /// The page query (see the module documentation); `fetch` rows at most.
    fn page_sql(&self, fetch: Option<u64>, inject_events: bool) -> Result<Sql> {
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT ");
        for i in 0..self.keys.len() {
            sql.push("p.k").push_int(i).push(", ");
        }
        sql.push(self.dialect.object_columns());
        if inject_events {
            sql.push(", ").push(self.dialect.events_column());
        }
        sql.push(" FROM (SELECT r.id AS id");
        for (i, key) in self.keys.iter().enumerate() {
            sql.push(", ");
            self.push_key(&mut sql, key);
            sql.push(" AS k").push_int(i);
        }
        self.push_from(&mut sql);
        self.push_where(&mut sql)?;
        if let Some(position) = self.pager.position() {
            self.push_after(&mut sql, position);
        }
        self.push_order_by(&mut sql, "");
        self.dialect
            .push_limit_offset(&mut sql, fetch, self.pager.offset());
        sql.push(") p JOIN resources r ON r.id = p.id");
        self.push_order_by(&mut sql, "p.");
        Ok(sql)
    }

    /// The count of the rows after the position (offset not applied).
    fn count_sql(&self) -> Result<Sql> {
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT COUNT(*)");
        self.push_from(&mut sql);
        self.push_where(&mut sql)?;
        if let Some(position) = self.pager.position() {
            self.push_after(&mut sql, position);
        }
        Ok(sql)
    }

    /// The column types of a page row.
    fn page_cols(&self, inject_events: bool) -> Vec<Col> {
        let mut cols: Vec<Col> = self
            .keys
            .iter()
            .map(|k| match k.kind {
                SortKind::Text => Col::Text,
                SortKind::Int { .. } => Col::Int,
                SortKind::Path => Col::OptText,
                SortKind::Float => Col::Float,
            })
            .collect();
        cols.extend(OBJECT_COLS);
        if inject_events {
            cols.push(Col::OptText);
        }
        cols
    }

    /// The sort values of a page row.
    fn sort_values_of(&self, row: &Row) -> Vec<SortValue> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, key)| match key.kind {
                SortKind::Text => SortValue::Str(row.text(i).to_owned()),
                SortKind::Int { missing } => match row.int(i) {
                    n if n == missing => SortValue::Null,
                    n => SortValue::Int(n),
                },
                SortKind::Path => row
                    .opt_text(i)
                    .map_or(SortValue::Null, |s| SortValue::Str(s.to_owned())),
                SortKind::Float => SortValue::Float(row.float(i).into()),
            })
            .collect()
    }

    /// The database's plan of the page query (`EXPLAIN`), one line per row of its output.
    pub(crate) async fn explain(&self, db: &Db) -> Result<String> {
        let page = self.page_sql(self.pager.fetch_limit(), self.options.inject_events)?;
        let (prefix, cols, detail): (&'static str, &[Col], usize) = match self.dialect {
            Dialect::Postgres => (
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ",
                &[Col::Text],
                0,
            ),
            Dialect::MySql => ("EXPLAIN FORMAT=JSON ", &[Col::Text], 0),
            Dialect::Sqlite => (
                "EXPLAIN QUERY PLAN ",
                &[Col::Int, Col::Int, Col::Int, Col::Text],
                3,
            ),
        };
        let mut explained = Sql::new(self.dialect);
        explained.push(prefix).append(&page);
        let rows = db.fetch("explain", &explained, cols).await?;
        Ok(rows
            .iter()
            .map(|r| r.text(detail).to_owned())
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Runs the list: the page, its continue token and, when asked, the remaining count.
    pub(crate) async fn run(&self, db: &Db, interner: &mut Interner) -> Result<ListPage> {
        self.catch_up(db).await?;
        self.run_on(&mut Reader::Pool(db), interner).await
    }

    /// Before a full-text list: fills in the words of rows that have none yet, so that none is
    /// missed (outside any snapshot the list then reads).
    pub(crate) async fn catch_up(&self, db: &Db) -> Result<()> {
        if self.options.full_text.is_some() {
            match self.scope {
                Scope::Resource(gvr) => {
                    crate::full_text::catch_up(db, &gvr.group, &gvr.resource).await?;
                }
                Scope::Collection(_) => {
                    crate::full_text::catch_up_registered(db).await?;
                }
            }
        }
        Ok(())
    }

    /// [`ListQuery::run`] on `reader` (e.g. a snapshot transaction), after
    /// [`ListQuery::catch_up`].
    pub(crate) async fn run_on(
        &self,
        db: &mut Reader<'_, '_>,
        interner: &mut Interner,
    ) -> Result<ListPage> {
        let o = self.options;
        let what = "list";
        let fetch = self.pager.fetch_limit();
        let rows = if fetch == Some(0) {
            Vec::new()
        } else {
            let sql = self.page_sql(fetch, o.inject_events)?;
            db.fetch(what, &sql, &self.page_cols(o.inject_events))
                .await?
        };
        let counted = if self.pager.counts_remaining() {
            let rows = db.fetch(what, &self.count_sql()?, &[Col::Int]).await?;
            Some(rows.first().map_or(0, |r| r.int(0)).max(0) as u64)
        } else {
            None
        };
        let at = self.keys.len();
        let page = self
            .pager
            .finish(rows, counted, |last| Ok(self.sort_values_of(last)))?
            .try_map(|mut row| {
                let object = object_from_row(&mut row, at, interner)?;
                self.present(object, &mut row, at)
            })?;
        Ok(page.into_list_page(None))
    }

    /// Attaches the row's events (inject-events) and strips to metadata (onlyMetadata).
    fn present(&self, object: ResourceObject, row: &mut Row, at: usize) -> Result<ResourceObject> {
        let o = self.options;
        if !o.inject_events && !o.only_metadata {
            return Ok(object);
        }
        let events = if o.inject_events {
            events::event_list(row.opt_text(at + OBJECT_COLS.len()))?
        } else {
            Vec::new()
        };
        present(o, object, &events)
    }
}

/// The value bound for a sort key's position.
fn bind_of(key: &SortKey, value: &SortValue) -> Bind {
    match (key.kind, value) {
        (SortKind::Int { missing }, SortValue::Null) => Bind::Int(missing),
        (_, SortValue::Int(n)) => Bind::Int(*n),
        (_, SortValue::Str(s)) => Bind::Text(s.clone()),
        (_, SortValue::Float(f)) => Bind::Float(*f),
        // A missing text (paths: handled by the callers) binds as the empty string.
        (_, SortValue::Null) => Bind::Text(String::new()),
    }
}

/// ` AND column = ?` / ` AND column IN (…)`; nothing for an empty list.
fn push_column_in(sql: &mut Sql, column: &'static str, values: &[String]) {
    match values {
        [] => {}
        [one] => {
            sql.push(" AND ").push(column).push(" = ").bind(one);
        }
        many => {
            sql.push(" AND ")
                .push(column)
                .push(" IN ")
                .bind_list(many.iter());
        }
    }
}

/// The per-user access scope as a condition: `(r.cluster IN (whole…) OR (r.cluster = ? AND
/// r.namespace IN (…)) OR …)`; `1 = 0` when it allows nothing.
fn push_access(sql: &mut Sql, access: &storage_api::query::AccessScope) {
    let (whole, partial) = access.split();
    if whole.is_empty() && partial.is_empty() {
        sql.push(" AND 1 = 0");
        return;
    }
    sql.push(" AND (");
    let mut first = true;
    if !whole.is_empty() {
        sql.push("r.cluster IN ").bind_list(whole.iter().copied());
        first = false;
    }
    for (cluster, namespaces) in partial {
        if !first {
            sql.push(" OR ");
        }
        first = false;
        sql.push("(r.cluster = ")
            .bind(cluster)
            .push(" AND r.namespace IN ")
            .bind_list(namespaces.iter().copied())
            .push(")");
    }
    sql.push(")");
}

/// The collection types as a condition: `(group = ? [AND version = ?] [AND resource = ?]) OR
/// …`; nothing when one of them is the wildcard, `1 = 0` when there are none.
pub(crate) fn push_collection_types(sql: &mut Sql, types: &[CollectionResourceType]) {
    if types.iter().any(CollectionResourceType::is_all) {
        sql.push("1 = 1");
        return;
    }
    if types.is_empty() {
        sql.push("1 = 0");
        return;
    }
    sql.push("(");
    sql.join(types, " OR ", |sql, t| {
        sql.push("(r.api_group = ").bind(&t.group);
        if !t.version.is_empty() {
            sql.push(" AND r.api_version = ").bind(&t.version);
        }
        if !t.resource.is_empty() {
            sql.push(" AND r.resource = ").bind(&t.resource);
        }
        sql.push(")");
    });
    sql.push(")");
}

/// ` AND r.owner_uid IN (…)`: the controller owner is the owner (seniority 0), or one of its
/// children (1), and so on, within `cluster` (reference §14.5, with the contract's rules: an
/// owner found by name must be cluster-scoped or in one of the request's namespaces).
fn push_owner(sql: &mut Sql, owner: &OwnerQuery, cluster: &str, namespaces: &[String]) {
    sql.push(" AND r.owner_uid <> '' AND r.owner_uid");
    let seniority = usize::try_from(owner.seniority).unwrap_or(usize::MAX);
    match (&owner.uid, &owner.name) {
        (Some(uid), _) if seniority == 0 => {
            sql.push(" = ").bind(uid);
        }
        (None, None) => {
            // Neither uid nor name: no owner matches (the parser does not produce this).
            sql.push(" IS NULL");
        }
        (uid, name) => {
            sql.push(" IN ");
            push_owner_set(
                sql,
                uid.as_deref(),
                name.as_deref(),
                owner,
                cluster,
                namespaces,
                seniority,
            );
        }
    }
}

/// `(SELECT uid …)`: the uids whose children match at `level` more steps down.
fn push_owner_set(
    sql: &mut Sql,
    uid: Option<&str>,
    name: Option<&str>,
    owner: &OwnerQuery,
    cluster: &str,
    namespaces: &[String],
    level: usize,
) {
    match (uid, level) {
        (Some(uid), 0) => {
            sql.push("(").bind(uid).push(")");
        }
        (None, 0) => {
            sql.push("(SELECT o0.uid FROM resources o0 WHERE o0.cluster = ")
                .bind(cluster)
                .push(" AND o0.name = ")
                .bind(name.unwrap_or_default())
                .push(" AND o0.uid <> ''");
            if let Some(gr) = &owner.group_resource {
                sql.push(" AND o0.api_group = ")
                    .bind(&gr.group)
                    .push(" AND o0.resource = ")
                    .bind(&gr.resource);
            }
            if !namespaces.is_empty() {
                sql.push(" AND (o0.namespace = '' OR o0.namespace IN ")
                    .bind_list(namespaces.iter())
                    .push(")");
            }
            sql.push(")");
        }
        (_, level) => {
            let alias = |sql: &mut Sql| {
                sql.push("o").push_int(level);
            };
            sql.push("(SELECT ");
            alias(sql);
            sql.push(".uid FROM resources ");
            alias(sql);
            sql.push(" WHERE ");
            alias(sql);
            sql.push(".cluster = ").bind(cluster).push(" AND ");
            alias(sql);
            sql.push(".uid <> '' AND ");
            alias(sql);
            sql.push(".owner_uid <> '' AND ");
            alias(sql);
            sql.push(".owner_uid IN ");
            push_owner_set(sql, uid, name, owner, cluster, namespaces, level - 1);
            sql.push(")");
        }
    }
}

/// Whether [`ListQuery::push_key`] has an SQL expression for `field` (a field the contract adds
/// later is refused with a 400 until this layer learns it).
fn has_sql_key(field: &OrderField) -> bool {
    matches!(
        field,
        OrderField::Cluster
            | OrderField::Namespace
            | OrderField::Name
            | OrderField::Group
            | OrderField::Version
            | OrderField::Resource
            | OrderField::CreatedAt
            | OrderField::ResourceVersion
            | OrderField::Path(_)
    )
}
