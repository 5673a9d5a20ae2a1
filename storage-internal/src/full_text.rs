//! Full-text search on PostgreSQL (the `query` parameter; MySQL and SQLite refuse it).
//!
//! Each row keeps the words of its object in `search_vector`, a `tsvector` the layer builds
//! itself from the contract's tokenizer ([`object_tokens`]): its text form lists the words
//! quoted, with their positions (`'nginx':3,9 'web':1`), and PostgreSQL stores them as given.
//! Neither PostgreSQL's parser nor its dictionaries (nor the database's locale) are involved,
//! so the words are exactly those of every other layer. A query is the `tsquery` of the words
//! joined by `&` ([`query_text`]), matched through a GIN index; relevance is `ts_rank`.
//!
//! A row whose `search_pending` is set has no words yet (stored before the words existed, or
//! inserted by a replica of an earlier version during a rolling upgrade: the column defaults
//! to pending): [`catch_up`] fills the words in at start-up and before every full-text list,
//! so an answer never misses an object because of it. The writer sets the words and clears
//! the flag in the same statement. (An earlier version's *update* of a row keeps the row's
//! flag and so its previous words until the next write: detecting it took an index on
//! `resource_version`, which made every update of the table non-HOT; see migration 22.)

use serde_json::Value;
use storage_api::query::full_text::{FullTextQuery, object_tokens};
use storage_api::{Result, StorageError};

use crate::db::{Col, Db};
use crate::sql::Bind;

/// PostgreSQL keeps at most this many positions of one word (more are dropped).
const MAX_POSITIONS: usize = 256;
/// PostgreSQL's highest position (higher ones are stored as this).
const MAX_POSITION: usize = 16_383;
/// Pending rows filled in per statement by [`catch_up`].
const CATCH_UP_BATCH: i64 = 500;

/// The `tsvector` text of an object (its JSON text): every word quoted, with up to
/// [`MAX_POSITIONS`] positions, in order of first appearance.
pub(crate) fn vector_text(json: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(json) else {
        // Stored objects are JSON (they were parsed before); nothing to search otherwise.
        return String::new();
    };
    let tokens = object_tokens(&value);
    let mut words: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, token) in tokens.iter().enumerate() {
        let position = (i + 1).min(MAX_POSITION);
        let at = *index.entry(token.as_str()).or_insert_with(|| {
            words.push((token.as_str(), Vec::new()));
            words.len() - 1
        });
        let positions = &mut words[at].1;
        if positions.len() < MAX_POSITIONS && positions.last() != Some(&position) {
            positions.push(position);
        }
    }
    let mut text = String::new();
    for (word, positions) in words {
        if !text.is_empty() {
            text.push(' ');
        }
        // Words are alphanumeric: no quote or backslash to escape.
        text.push('\'');
        text.push_str(word);
        text.push_str("':");
        for (i, position) in positions.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&position.to_string());
        }
    }
    text
}

/// The `tsquery` text of a full-text query: its words quoted, joined by `&`.
pub(crate) fn query_text(query: &FullTextQuery) -> String {
    query
        .terms()
        .iter()
        .map(|term| format!("'{term}'"))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// Fills in the words of every pending row of a resource that gets words (see the
/// [module documentation](self)); returns how many rows were filled in. At start-up: it reads
/// every pending row's resource, so that none is left out.
pub(crate) async fn catch_up_all(db: &Db) -> Result<u64> {
    catch_up_each(
        db,
        "full-text pending",
        "SELECT DISTINCT api_group, resource FROM resources WHERE search_pending",
    )
    .await
}

/// Before a collection's full-text list: fills in the pending rows of every registered
/// resource that gets words, one probe of the pending-words index per resource, so that the
/// pending rows of excluded resources (possibly millions) are never walked per request.
pub(crate) async fn catch_up_registered(db: &Db) -> Result<u64> {
    catch_up_each(
        db,
        "registered resources",
        "SELECT DISTINCT api_group, resource FROM resource_types",
    )
    .await
}

/// [`catch_up`] for each resource (`api_group`, `resource`) `select` reads that gets words.
async fn catch_up_each(db: &Db, what: &str, select: &'static str) -> Result<u64> {
    let mut sql = db.sql();
    sql.push(select);
    let resources = db.fetch(what, &sql, &[Col::Text, Col::Text]).await?;
    let mut filled = 0;
    for row in &resources {
        let (group, resource) = (row.text(0), row.text(1));
        if db.full_text().includes(group, resource) {
            filled += catch_up(db, group, resource).await?;
        }
    }
    Ok(filled)
}

/// Fills in the words of the pending rows of `group`/`resource`, in batches; returns how many
/// rows were filled in. A row written meanwhile keeps its own words: a batch only updates rows
/// still at the resource version it read.
pub(crate) async fn catch_up(db: &Db, group: &str, resource: &str) -> Result<u64> {
    let mut filled = 0u64;
    loop {
        let mut select = db.sql();
        select
            .push(
                "SELECT id, resource_version, object::text FROM resources \
                 WHERE search_pending AND api_group = ",
            )
            .bind(group)
            .push(" AND resource = ")
            .bind(resource)
            .push(" ORDER BY id LIMIT ")
            .bind(CATCH_UP_BATCH);
        let rows = db
            .fetch(
                "full-text catch-up",
                &select,
                &[Col::Int, Col::Text, Col::Text],
            )
            .await?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.int(0)).collect();
        let versions: Vec<String> = rows.iter().map(|r| r.text(1).to_owned()).collect();
        let vectors: Vec<String> = rows.iter().map(|r| vector_text(r.text(2))).collect();
        let mut update = db.sql();
        update
            .push(
                "UPDATE resources SET search_vector = CAST(v.words AS tsvector), \
                 search_pending = false FROM UNNEST(",
            )
            .bind(Bind::IntArray(ids))
            .push("::bigint[], ")
            .bind(Bind::TextArray(versions))
            .push("::text[], ")
            .bind(Bind::TextArray(vectors))
            .push(
                "::text[]) AS v(id, version, words) \
                 WHERE resources.id = v.id AND resources.resource_version = v.version",
            );
        let updated = db.execute("full-text catch-up", &update).await?;
        filled += updated;
        if updated == 0 {
            // Every row read was rewritten meanwhile (and so has its words): read again, unless
            // that is all there is to read, to never loop on rows something else keeps pending.
            if rows.len() < usize::try_from(CATCH_UP_BATCH).unwrap_or(usize::MAX) {
                return Ok(filled);
            }
            return Err(StorageError::Unavailable {
                message: "full-text catch-up: the pending rows keep changing; retry".to_owned(),
                source: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_list_each_word_once_with_its_positions() {
        let json = r#"{"metadata":{"name":"web-Web","namespace":"shop",
            "labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx:1"}]}}"#;
        assert_eq!(
            vector_text(json),
            "'web':1,2,5 'shop':3 'app':4 'nginx':6 '1':7"
        );
        assert_eq!(vector_text("not json"), "");
        assert_eq!(vector_text("{}"), "");
    }

    #[test]
    fn positions_are_capped_as_postgres_caps_them() {
        let many = "w ".repeat(20_000);
        let json =
            serde_json::json!({"metadata": {"name": "x", "annotations": {"a": many}}}).to_string();
        let text = vector_text(&json);
        let positions = text
            .split_once("'w':")
            .map(|(_, p)| p.split(',').count())
            .unwrap_or(0);
        assert_eq!(positions, MAX_POSITIONS);
    }

    #[test]
    fn queries_join_quoted_words() {
        let query = FullTextQuery::parse(["Nginx web"]).expect("words");
        assert_eq!(query_text(&query), "'nginx' & 'web'");
    }
}
