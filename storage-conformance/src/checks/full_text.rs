//! Full-text search: the `query` parameter and the `search.clusterpedia.io/query` search label
//! ([`storage_api::query::full_text`]), for layers whose `supports_full_text()` is true; for
//! the others every check asserts that a full-text list answers `400 BadRequest` naming the
//! parameter `query` (no check is skipped).
//!
//! Relevance is each layer's own score, so under the relevance order (a full-text query without
//! `orderby`) the suite compares **sets** of items with the oracle's (every item, with its
//! JSON), and checks the order through paging: the pages put together must be the layer's own
//! unpaged answer, nothing twice, nothing missing. With an explicit `orderby` the order is the
//! contract's, and answers and pages are compared exactly.

use serde_json::{Value, json};

use super::{edited, first_fixture, namespaces, pods, renamed, widgets};
use crate::harness::{
    Harness, Query, Target, assert_items, assert_sequence, assert_status, identity,
};
use storage_api::collection::{self, CollectionResourceType};
use storage_api::error::StorageError;
use storage_api::object::{Gvr, ResourceObject};
use storage_api::query::ListOptions;
use storage_api::{Change, ListPage};

/// The parameter every refusal must name.
const PARAMETER: &str = "query";

/// True when the layer supports full-text search; otherwise asserts that full-text lists of a
/// resource and of a collection, in both forms, answer `400` naming `query`.
async fn supported(h: &mut Harness) -> bool {
    if h.supports_full_text() {
        return true;
    }
    let queries = [
        Query::new().param("query", "nginx"),
        Query::new().param("labelSelector", "search.clusterpedia.io/query=nginx"),
    ];
    let storage = h.storage(&pods()).await;
    let any = h.collection(collection::ANY).await;
    for query in &queries {
        let options = query.options();
        let context = format!(
            "full-text list {} {query} on a layer whose supports_full_text() is false",
            pods()
        );
        refused(&context, storage.list(&options).await);
        let context = format!(
            "full-text list of collection any {query} on a layer whose supports_full_text() is false"
        );
        let types = [CollectionResourceType::all()];
        refused(&context, any.list(&types, &options).await.map(|p| p.page));
    }
    false
}

/// Asserts the refusal of a layer without full-text search: `400` naming `query`.
fn refused(context: &str, result: storage_api::Result<ListPage>) {
    let result = result.map(|page| page.items.iter().map(identity).take(3).collect::<Vec<_>>());
    match assert_status(context, result, 400) {
        StorageError::BadRequest { parameter, .. } => assert_eq!(
            parameter, PARAMETER,
            "{context}: the 400 must name the parameter {PARAMETER} \
             (StorageError::full_text_unsupported)"
        ),
        other => panic!("{context}: want a BadRequest naming {PARAMETER}, got {other:?}"),
    }
}

/// A fixture object of `gvr` renamed to `name` (fresh uid) and changed by `edit`.
fn variant(h: &Harness, gvr: &Gvr, name: &str, edit: impl FnOnce(&mut Value)) -> ResourceObject {
    let template = first_fixture(h, gvr);
    edited(&renamed(&template, name), edit)
}

/// Objects whose words are known: each searched field holds a word of its own, and words in
/// fields that are not searched must not be found.
fn crafted(h: &Harness) -> Vec<(Gvr, ResourceObject)> {
    let high = variant(h, &pods(), "quokka-high", |v| {
        v["metadata"]["labels"]["zoo.example.io/animal"] = json!("quokka");
        v["metadata"]["annotations"] = json!({"note": "Quokka QUOKKA quokka"});
        v["spec"]["containers"][0]["image"] = json!("registry.example.io/quokka:1.0");
        v["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox-Wombat"}]);
    });
    let low = variant(h, &pods(), "quokka-low", |v| {
        v["metadata"]["annotations"] = json!({"note": "a quokka"});
    });
    let wombat = variant(h, &pods(), "wombat-only", |v| {
        v["spec"]["containers"][0]["image"] = json!("wombat/marsupial-server:2");
    });
    let hidden = variant(h, &pods(), "hidden-words", |v| {
        v["spec"]["containers"][0]["name"] = json!("echidna");
        v["status"]["message"] = json!("platypus");
        v["metadata"]["annotations"] = json!({
            "kookaburra.example.io/key": "value",
            "kubectl.kubernetes.io/last-applied-configuration": "{\"dingo\":true}",
        });
    });
    let templated = variant(h, &widgets(), "templated", |v| {
        v["spec"]["template"] =
            json!({"spec": {"initContainers": [{"name": "i", "image": "bilby/init"}]}});
        v["spec"]["jobTemplate"] = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "numbat/job:3"}]}}}});
    });
    let labelled = variant(h, &widgets(), "labelled", |v| {
        v["metadata"]["labels"]["Numbat.example.io/colour"] = json!("Ochre");
    });
    vec![
        (pods(), high),
        (pods(), low),
        (pods(), wombat),
        (pods(), hidden),
        (widgets(), templated),
        (widgets(), labelled),
    ]
}

/// Loads the fixtures and the crafted objects.
async fn load(h: &mut Harness) {
    h.load().await;
    for (gvr, object) in crafted(h) {
        h.apply(&gvr, vec![Change::Upsert(object)]).await;
    }
}

/// Sorts items by identity (for set comparisons).
fn by_identity(mut items: Vec<ResourceObject>) -> Vec<ResourceObject> {
    items.sort_by_key(identity);
    items
}

/// Lists `query` on `target` unpaged and asserts that the layer returns exactly the oracle's
/// items (each with its JSON), in any order, with no continue token. Returns the layer's items
/// in its order.
async fn check_set(h: &mut Harness, target: &Target, query: &Query) -> Vec<ResourceObject> {
    let options = query.options();
    let context = format!("list {target} {query}");
    let got = h
        .answer(target, &options)
        .await
        .unwrap_or_else(|e| panic!("{context}: the layer failed: {e}"))
        .page;
    let want = h.oracle(target, &options).page;
    assert_eq!(
        got.continue_token, None,
        "{context}: an unpaged list has no continue token"
    );
    assert_items(
        &format!("{context} (as a set: relevance order is the layer's)"),
        &by_identity(got.items.clone()),
        &by_identity(want.items),
    );
    got.items
}

/// The names of the items.
fn names(items: &[ResourceObject]) -> Vec<String> {
    let mut names: Vec<String> = items.iter().map(|o| o.fields.name.clone()).collect();
    names.sort();
    names
}

/// Words in each searched field are found (name, namespace, label keys and values, annotation
/// values, container and init container images of pods, of templates and of job templates);
/// words in other fields (container names, status, annotation keys, the last applied
/// configuration) are not; whole words only. Checked on pods, widgets and the `any`
/// collection, against the oracle and against the expected names.
pub async fn words_of_each_field(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    load(&mut h).await;
    let pods_target = Target::Resource(pods());
    let widgets_target = Target::Resource(widgets());
    let expected: [(&Target, &str, &[&str]); 12] = [
        (&pods_target, "quokka", &["quokka-high", "quokka-low"]),
        (&pods_target, "high", &["quokka-high"]),
        (&pods_target, "animal", &["quokka-high"]),
        (&pods_target, "busybox", &["quokka-high"]),
        (&pods_target, "wombat", &["quokka-high", "wombat-only"]),
        (&widgets_target, "numbat", &["labelled", "templated"]),
        (&widgets_target, "bilby", &["templated"]),
        (&widgets_target, "ochre", &["labelled"]),
        (&pods_target, "echidna platypus", &[]),
        (&pods_target, "kookaburra", &[]),
        (&pods_target, "dingo", &[]),
        (&pods_target, "quok", &[]),
    ];
    for (target, words, names_wanted) in expected {
        let query = Query::new().param("query", words);
        let got = check_set(&mut h, target, &query).await;
        assert_eq!(
            names(&got),
            names_wanted,
            "list {target} {query}: the objects holding every word"
        );
    }
    // The fixtures' own words: images, labels, annotations, namespaces, names.
    let ns = namespaces(&h);
    let mut words = vec![
        "envoy".to_owned(),
        "registry".to_owned(),
        "prometheus".to_owned(),
        "9090".to_owned(),
        "kube root ca".to_owned(),
        "api".to_owned(),
        "true".to_owned(),
    ];
    words.extend(ns.iter().take(2).cloned());
    for gvr in h.fixtures().gvrs().into_iter().map(|c| c.gvr) {
        let target = Target::Resource(gvr);
        for word in &words {
            check_set(&mut h, &target, &Query::new().param("query", word)).await;
        }
    }
    let any = h.collection(collection::ANY).await;
    let target = Target::Collection {
        storage: any,
        types: vec![CollectionResourceType::all()],
    };
    for word in ["quokka", "numbat", "envoy", "api"] {
        check_set(&mut h, &target, &Query::new().param("query", word)).await;
    }
}

/// Every word must match (AND), in any case and order, with punctuation splitting words as in
/// objects; the search label (`=` and `in`) means the same; an object holding a word many times
/// comes before one holding it once.
pub async fn all_words_any_case(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    load(&mut h).await;
    let target = Target::Resource(pods());
    let queries: [(Query, &[&str]); 8] = [
        (
            Query::new().param("query", "quokka wombat"),
            &["quokka-high"],
        ),
        (
            Query::new().param("query", "WOMBAT Quokka"),
            &["quokka-high"],
        ),
        (
            Query::new().param("query", "Busybox-WOMBAT"),
            &["quokka-high"],
        ),
        (Query::new().param("query", "quokka nosuchword"), &[]),
        (
            Query::new().param("labelSelector", "search.clusterpedia.io/query=Quokka"),
            &["quokka-high", "quokka-low"],
        ),
        (
            Query::new().param(
                "labelSelector",
                "search.clusterpedia.io/query in (quokka,wombat)",
            ),
            &["quokka-high"],
        ),
        (
            Query::new()
                .param("query", "quokka")
                .param("fuzzyName", "low"),
            &["quokka-low"],
        ),
        (
            Query::new()
                .param("query", "wombat")
                .param("names", "wombat-only,quokka-low"),
            &["wombat-only"],
        ),
    ];
    for (query, names_wanted) in queries {
        let got = check_set(&mut h, &target, &query).await;
        assert_eq!(
            names(&got),
            names_wanted,
            "list {target} {query}: the objects holding every word"
        );
    }
    // Ranking: quokka-high holds the word six times, quokka-low twice.
    let query = Query::new().param("query", "quokka");
    let got = check_set(&mut h, &target, &query).await;
    let order: Vec<&str> = got.iter().map(|o| o.fields.name.as_str()).collect();
    assert_eq!(
        order,
        ["quokka-high", "quokka-low"],
        "list {target} {query}: by relevance, the object holding the word six times comes first \
         (then the one holding it twice)"
    );
    // Combined with other filters, on the fixtures.
    let clusters = h.fixtures().clusters();
    let ns = namespaces(&h);
    for query in [
        Query::new()
            .param("query", "envoy")
            .in_cluster(&clusters[1]),
        Query::new()
            .param("query", "registry example")
            .param("namespaces", format!("{},{}", ns[0], ns[1])),
        Query::new()
            .param("query", "api")
            .param("labelSelector", "tier!=cache"),
        Query::new()
            .param("query", "prometheus")
            .param("fieldSelector", "status.phase=Running"),
    ] {
        check_set(&mut h, &target, &query).await;
    }
}

/// Paging through the relevance order, one item at a time and seven at a time: every page
/// has a continue token exactly when more items remain and the exact remaining count, and the
/// pages put together are the layer's unpaged answer (same order, nothing twice, nothing
/// missing), which is the oracle's set. Also on the `any` collection.
pub async fn relevance_paging(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    load(&mut h).await;
    let any = h.collection(collection::ANY).await;
    let targets = [
        Target::Resource(pods()),
        Target::Collection {
            storage: any,
            types: vec![CollectionResourceType::all()],
        },
    ];
    for target in &targets {
        for words in ["envoy", "registry example", "quokka"] {
            let query = Query::new().param("query", words);
            let full = check_set(&mut h, target, &query).await;
            // One item per page where that stays quick, else a few per page.
            let limits = if full.len() <= 60 { [1, 7] } else { [7, 31] };
            for limit in limits {
                walk_relevance(&mut h, target, &query, limit, &full).await;
            }
        }
    }
}

/// Walks the pages of `query` with `limit`, comparing them with the layer's unpaged answer.
async fn walk_relevance(
    h: &mut Harness,
    target: &Target,
    query: &Query,
    limit: u64,
    full: &[ResourceObject],
) {
    let first = query
        .clone()
        .param("limit", limit)
        .param("withRemainingCount", "true");
    let mut request = first.clone();
    let mut seen: Vec<ResourceObject> = Vec::new();
    let mut pages = 0usize;
    loop {
        pages += 1;
        let context = format!("list {target} {first}, page {pages}");
        let options: ListOptions = request.try_options().unwrap_or_else(|e| {
            panic!("{context}: the continue token is refused by parse_list_options: {e}")
        });
        let page = h
            .answer(target, &options)
            .await
            .unwrap_or_else(|e| panic!("{context}: the layer failed: {e}"))
            .page;
        assert!(
            page.items.len() as u64 <= limit,
            "{context}: {} items, more than the limit",
            page.items.len()
        );
        for item in &page.items {
            let id = identity(item);
            assert!(
                !seen.iter().any(|s| identity(s) == id),
                "{context}: {id} was already returned on an earlier page"
            );
        }
        seen.extend(page.items);
        let remaining = full.len().saturating_sub(seen.len()) as u64;
        assert_eq!(
            page.remaining_item_count,
            Some(remaining),
            "{context}: remainingItemCount"
        );
        match page.continue_token {
            Some(token) => {
                assert!(
                    remaining > 0,
                    "{context}: a continue token, but every item was returned"
                );
                request = first.clone().param("continue", token);
            }
            None => {
                assert_eq!(
                    remaining, 0,
                    "{context}: no continue token, but items remain"
                );
                break;
            }
        }
        assert!(
            pages <= full.len() + 1,
            "{context}: still a continue token after more pages than items"
        );
    }
    assert_sequence(
        &format!("list {target} {first}: all {pages} pages put together, against the unpaged list"),
        &seen,
        full,
    );
}

/// An explicit `orderby` wins over relevance: answers and every page equal the oracle's exactly.
pub async fn explicit_order(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    load(&mut h).await;
    let target = Target::Resource(pods());
    for order in ["name desc", "created_at,name", "resource_version desc"] {
        let query = Query::new()
            .param("query", "registry")
            .param("orderby", order);
        h.check(&target, &query).await;
        h.walk(&target, &query, 5).await;
    }
    let query = Query::new()
        .param("query", "quokka")
        .param("labelSelector", "search.clusterpedia.io/orderby=name_desc");
    h.check(&target, &query).await;
    let any = h.collection(collection::ANY).await;
    let target = Target::Collection {
        storage: any,
        types: vec![CollectionResourceType::all()],
    };
    let query = Query::new()
        .param("query", "envoy")
        .param("orderby", "resource desc,name");
    h.check(&target, &query).await;
    h.walk(&target, &query, 6).await;
}

/// Writes are searched at once: an updated object is found by its new words and no longer by
/// its old ones; a deleted object is not found.
pub async fn follows_writes(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    load(&mut h).await;
    let target = Target::Resource(pods());
    let low = h
        .model()
        .objects(&pods())
        .into_iter()
        .find(|o| o.fields.name == "quokka-low")
        .cloned()
        .expect("the crafted quokka-low");
    let wombat = h
        .model()
        .objects(&pods())
        .into_iter()
        .find(|o| o.fields.name == "wombat-only")
        .cloned()
        .expect("the crafted wombat-only");
    let got = check_set(&mut h, &target, &Query::new().param("query", "marsupial")).await;
    assert_eq!(names(&got), ["wombat-only"], "before the update, marsupial");
    let changed = edited(&wombat, |v| {
        v["spec"]["containers"][0]["image"] = json!("koala/server:3");
    });
    h.apply(&pods(), vec![Change::Upsert(changed)]).await;
    let got = check_set(&mut h, &target, &Query::new().param("query", "marsupial")).await;
    assert!(
        got.is_empty(),
        "after the update, marsupial: {:?}",
        names(&got)
    );
    let got = check_set(&mut h, &target, &Query::new().param("query", "koala")).await;
    assert_eq!(names(&got), ["wombat-only"], "after the update, koala");
    h.apply(&pods(), vec![Change::Delete(low.fields.key())])
        .await;
    let got = check_set(&mut h, &target, &Query::new().param("query", "quokka")).await;
    assert_eq!(names(&got), ["quokka-high"], "after the delete, quokka");
}
