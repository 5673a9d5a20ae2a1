//! Watch, for layers whose `supported_verbs()` has `watch`; for the others every check asserts
//! that `watch` answers `405 MethodNotSupported` (no check is skipped).
//!
//! Every wait has a time limit ([`EVENT_TIMEOUT`]), so a layer that never sends an event fails
//! fast instead of hanging the suite.

use std::cmp::Ordering;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;

use super::{configmaps, edited, first_fixture, namespaces, renamed};
use crate::harness::{Harness, Query, assert_items, assert_status, identity, note};
use storage_api::evaluator::Evaluator;
use storage_api::object::{Gvr, ResourceObject};
use storage_api::query::ListOptions;
use storage_api::{Change, ResourceStorage, WatchEvent, WatchStream};

/// The most changes the `expired` check writes to find the layer's window before failing.
pub const EXPIRY_BOUND: usize = 50_000;
/// How long the suite waits for an expected event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a watch must stay silent when no event is expected.
pub const QUIET: Duration = Duration::from_millis(300);

/// Changes written per `apply` while looking for the layer's window.
const EXPIRY_BATCH: usize = 1_000;

/// True when the layer supports watch; otherwise asserts that `watch` answers `405`.
async fn supported(h: &mut Harness) -> bool {
    if h.supports_watch() {
        return true;
    }
    let storage = h.storage(&configmaps()).await;
    let result = storage
        .watch(&Query::new().options())
        .await
        .map(|_| "a stream");
    assert_status(
        "watch on a layer whose supported_verbs() has no watch",
        result,
        405,
    );
    false
}

/// Compares resource versions: numerically where both have digits, e.g. `9 < 10`, `a.9 < a.10`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (x, y) = (chunks(a), chunks(b));
    for ((dx, cx), (dy, cy)) in x.iter().zip(&y) {
        let order = if *dx && *dy {
            let (tx, ty) = (cx.trim_start_matches('0'), cy.trim_start_matches('0'));
            tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
        } else {
            cx.cmp(cy)
        };
        if order.is_ne() {
            return order;
        }
    }
    x.len().cmp(&y.len())
}

fn kind(event: &WatchEvent) -> &'static str {
    match event {
        WatchEvent::Added(_) => "ADDED",
        WatchEvent::Modified(_) => "MODIFIED",
        WatchEvent::Deleted(_) => "DELETED",
        WatchEvent::Bookmark { .. } => "BOOKMARK",
        _ => "UNKNOWN",
    }
}

fn object(event: &WatchEvent) -> &ResourceObject {
    match event {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o,
        _ => unreachable!("bookmarks are skipped"),
    }
}

/// The layer's resource version of an event: `metadata.resourceVersion` of its object.
fn version(context: &str, event: &WatchEvent) -> String {
    let value = object(event)
        .to_value()
        .expect("watch event objects are JSON");
    match value["metadata"]["resourceVersion"].as_str() {
        Some(rv) if !rv.is_empty() => rv.to_owned(),
        _ => panic!(
            "{context}: {} {} carries no metadata.resourceVersion",
            kind(event),
            identity(object(event))
        ),
    }
}

/// The next event that is not a bookmark.
async fn next(stream: &mut WatchStream, context: &str) -> WatchEvent {
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
            Err(_) => panic!("{context}: no event within {EVENT_TIMEOUT:?}"),
            Ok(None) => panic!("{context}: the watch ended"),
            Ok(Some(Err(e))) => panic!("{context}: the watch failed: {e}"),
            Ok(Some(Ok(WatchEvent::Bookmark { .. }))) => {}
            Ok(Some(Ok(event))) => return event,
        }
    }
}

/// Asserts that no event (bookmarks aside) comes on any of `streams` within [`QUIET`] (one wait
/// for all of them).
async fn assert_quiet(streams: &mut [(&mut WatchStream, &str)]) {
    tokio::time::sleep(QUIET).await;
    for (stream, context) in streams {
        loop {
            match tokio::time::timeout(Duration::ZERO, stream.next()).await {
                Err(_) => break,
                Ok(Some(Ok(WatchEvent::Bookmark { .. }))) => {}
                Ok(Some(Ok(event))) => panic!(
                    "{context}: unexpected {} {} (no more changes were made)",
                    kind(&event),
                    identity(object(&event))
                ),
                Ok(Some(Err(e))) => panic!("{context}: the watch failed: {e}"),
                Ok(None) => panic!("{context}: the watch ended"),
            }
        }
    }
}

/// An expected event: its type and object.
#[derive(Debug, Clone)]
struct Expected(&'static str, ResourceObject);

/// Reads `expected.len()` events and compares them in order (type, object); returns their
/// versions, after asserting they strictly increase (and exceed `after`, if given).
async fn expect_events(
    stream: &mut WatchStream,
    context: &str,
    expected: &[Expected],
    after: Option<&str>,
) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for (i, Expected(want_kind, want)) in expected.iter().enumerate() {
        let context = format!("{context}, event {} of {}", i + 1, expected.len());
        let event = next(stream, &context).await;
        assert!(
            kind(&event) == *want_kind,
            "{context}: got {} {}, want {want_kind} {}",
            kind(&event),
            identity(object(&event)),
            identity(want)
        );
        assert_items(
            &context,
            std::slice::from_ref(object(&event)),
            std::slice::from_ref(want),
        );
        let rv = version(&context, &event);
        if let Some(previous) = versions.last().map(String::as_str).or(after) {
            assert!(
                compare_versions(previous, &rv).is_lt(),
                "{context}: resource version {rv} does not come after {previous}"
            );
        }
        versions.push(rv);
    }
    versions
}

/// The events `changes` must cause on a watch of `options`, given the model before them.
fn events_for(h: &Harness, gvr: &Gvr, options: &ListOptions, changes: &[Change]) -> Vec<Expected> {
    let evaluator = Evaluator::new(options, None);
    let mut model = h.model().clone();
    let mut expected = Vec::new();
    for change in changes {
        let event = match change {
            Change::Upsert(o) => {
                let kind = if model.get(gvr, &o.fields.key()).is_some() {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                Some(Expected(kind, o.clone()))
            }
            Change::Delete(key) => model.get(gvr, key).map(|o| Expected("DELETED", o.clone())),
        };
        model.apply(gvr, std::slice::from_ref(change));
        if let Some(event) = event
            && evaluator
                .matches(&event.1)
                .expect("fixture objects are JSON")
        {
            expected.push(event);
        }
    }
    expected
}

async fn watch(storage: &dyn ResourceStorage, query: &Query) -> WatchStream {
    storage
        .watch(&query.options())
        .await
        .unwrap_or_else(|e| panic!("watch {query} failed: {e}"))
}

/// Reads the initial `ADDED` events of a watch without a resource version and compares them, as
/// a set, with the oracle's list of `query`; returns the highest version.
async fn expect_initial(h: &Harness, stream: &mut WatchStream, query: &Query) -> Option<String> {
    let context = format!("watch configmaps {query}: initial events");
    let mut want = h.model().list(&configmaps(), &query.options()).items;
    let mut got = Vec::new();
    let mut highest: Option<String> = None;
    for i in 0..want.len() {
        let event = next(stream, &format!("{context} ({} of {})", i + 1, want.len())).await;
        assert!(
            matches!(event, WatchEvent::Added(_)),
            "{context}: got {} {}, want ADDED for each existing object",
            kind(&event),
            identity(object(&event))
        );
        let rv = version(&context, &event);
        if highest
            .as_deref()
            .is_none_or(|h| compare_versions(h, &rv).is_lt())
        {
            highest = Some(rv);
        }
        got.push(object(&event).clone());
    }
    got.sort_by_key(|o| o.fields.key());
    want.sort_by_key(|o| o.fields.key());
    assert_items(&format!("{context} (as a set)"), &got, &want);
    highest
}

/// A touch of an object that changes no field a filter of these checks looks at.
fn touched(object: &ResourceObject, n: usize) -> ResourceObject {
    edited(object, |v| {
        v["metadata"]["annotations"]["conformance.example.io/touched"] = json!(n.to_string())
    })
}

/// Without a resource version a watch starts with `ADDED` for every existing object (in any
/// order, each with a resource version), then reports each change in order: `ADDED` for a new
/// object, `MODIFIED` with the new state, `DELETED` with the last state; the versions of the
/// live events strictly increase and come after those of the initial events.
pub async fn initial_and_live_events(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    h.load_resources(&[configmaps()]).await;
    let storage = h.storage(&configmaps()).await;
    let query = Query::new();
    let mut stream = watch(&*storage, &query).await;
    let highest = expect_initial(&h, &mut stream, &query).await;

    let template = first_fixture(&h, &configmaps());
    let new = renamed(&template, "watch-live");
    let changed = edited(&new, |v| v["data"] = json!({"changed": "yes"}));
    let existing: Vec<ResourceObject> = h
        .model()
        .objects(&configmaps())
        .into_iter()
        .skip(5)
        .take(3)
        .cloned()
        .collect();
    let rounds = vec![
        vec![Change::Upsert(new.clone())],
        vec![Change::Upsert(changed.clone())],
        vec![Change::Delete(new.fields.key())],
        vec![
            Change::Upsert(touched(&existing[0], 1)),
            Change::Upsert(touched(&existing[1], 1)),
            Change::Delete(existing[2].fields.key()),
        ],
    ];
    let mut last = highest;
    for (i, changes) in rounds.into_iter().enumerate() {
        let expected = events_for(&h, &configmaps(), &query.options(), &changes);
        h.apply(&configmaps(), changes).await;
        let context = format!("watch configmaps {query}: live changes, round {}", i + 1);
        let versions = expect_events(&mut stream, &context, &expected, last.as_deref()).await;
        last = versions.last().cloned().or(last);
    }
    assert_quiet(&mut [(&mut stream, "watch configmaps: after the live changes")]).await;
}

/// Changes written after a list are exactly what a watch from the list's resource version
/// (`ListPage::resource_version`, which a watch-capable layer must set) delivers, in order,
/// with no initial events.
pub async fn resume_from_list_resource_version(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    h.load_resources(&[configmaps()]).await;
    let storage = h.storage(&configmaps()).await;
    let page = storage
        .list(&Query::new().param("limit", 5).options())
        .await
        .expect("list");
    let rv = page.resource_version.unwrap_or_else(|| {
        panic!("a watch-capable layer must set ListPage::resource_version on lists")
    });
    let existing: Vec<ResourceObject> = h
        .model()
        .objects(&configmaps())
        .into_iter()
        .take(3)
        .cloned()
        .collect();
    let changes = vec![
        Change::Upsert(renamed(&existing[0], "watch-resume")),
        Change::Upsert(touched(&existing[1], 2)),
        Change::Delete(existing[2].fields.key()),
    ];
    let query = Query::new().param("resourceVersion", &rv);
    let expected = events_for(&h, &configmaps(), &query.options(), &changes);
    h.apply(&configmaps(), changes).await;
    let mut stream = watch(&*storage, &query).await;
    let context = format!("watch configmaps {query} (the version of a list made before 3 changes)");
    expect_events(&mut stream, &context, &expected, Some(&rv)).await;
    assert_quiet(&mut [(&mut stream, &context)]).await;
}

/// A watch from the resource version of an event delivers exactly the events after it (the
/// same types, objects and versions as the first watch saw); from the last event's version,
/// nothing until the next change.
pub async fn resume_from_event_resource_version(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    h.load_resources(&[configmaps()]).await;
    let storage = h.storage(&configmaps()).await;
    let page = storage
        .list(&Query::new().param("limit", 1).options())
        .await
        .expect("list");
    let start = page
        .resource_version
        .expect("a watch-capable layer must set ListPage::resource_version");
    let mut first = watch(&*storage, &Query::new().param("resourceVersion", &start)).await;
    let existing: Vec<ResourceObject> = h
        .model()
        .objects(&configmaps())
        .into_iter()
        .take(4)
        .cloned()
        .collect();
    let changes = vec![
        Change::Upsert(touched(&existing[0], 3)),
        Change::Upsert(renamed(&existing[1], "watch-from-event")),
        Change::Delete(existing[2].fields.key()),
        Change::Upsert(touched(&existing[3], 3)),
    ];
    let expected = events_for(&h, &configmaps(), &Query::new().options(), &changes);
    for change in changes {
        h.apply(&configmaps(), vec![change]).await;
    }
    let versions = expect_events(
        &mut first,
        "watch configmaps from a list version",
        &expected,
        Some(&start),
    )
    .await;
    let mut resumed = Vec::new();
    for (i, rv) in versions.iter().enumerate() {
        let query = Query::new().param("resourceVersion", rv);
        let mut stream = watch(&*storage, &query).await;
        let context = format!(
            "watch configmaps {query} (the version of event {} of {})",
            i + 1,
            versions.len()
        );
        let again = expect_events(&mut stream, &context, &expected[i + 1..], Some(rv)).await;
        assert_eq!(
            again,
            versions[i + 1..],
            "{context}: the resumed events carry other resource versions"
        );
        resumed.push((stream, context));
    }
    let mut quiet: Vec<(&mut WatchStream, &str)> =
        resumed.iter_mut().map(|(s, c)| (s, c.as_str())).collect();
    assert_quiet(&mut quiet).await;
    let last = versions.last().expect("events").clone();
    let mut tail = watch(&*storage, &Query::new().param("resourceVersion", &last)).await;
    let change = vec![Change::Upsert(touched(&existing[0], 4))];
    let expected = events_for(&h, &configmaps(), &Query::new().options(), &change);
    h.apply(&configmaps(), change).await;
    expect_events(
        &mut tail,
        "watch from the last event's version, then one change",
        &expected,
        Some(&last),
    )
    .await;
}

/// A watch reports only objects matching its clusters, namespaces, names, label and field
/// selectors: in its initial events and in its live events (changes that keep each object in
/// or out of the filter).
pub async fn filtered(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    h.load_resources(&[configmaps()]).await;
    let storage = h.storage(&configmaps()).await;
    let clusters = h.fixtures().clusters();
    let ns = namespaces(&h);
    let queries = [
        Query::new().in_namespace(&ns[0]),
        Query::new().param("clusters", &clusters[1]),
        Query::new().param("labelSelector", "app=api"),
        Query::new().param("names", "kube-root-ca.crt"),
        Query::new().param("fieldSelector", "data.LOG_FORMAT=json"),
        Query::new()
            .in_cluster(&clusters[0])
            .param("namespaces", &ns[1])
            .param("labelSelector", "tier"),
    ];
    let mut streams = Vec::new();
    for query in &queries {
        let mut stream = watch(&*storage, query).await;
        expect_initial(&h, &mut stream, query).await;
        streams.push(stream);
    }
    let objects: Vec<ResourceObject> = h
        .model()
        .objects(&configmaps())
        .into_iter()
        .cloned()
        .collect();
    let mut changes = Vec::new();
    for (i, object) in objects.iter().enumerate().step_by(3) {
        changes.push(match i % 4 {
            0 => Change::Upsert(touched(object, i)),
            1 => Change::Delete(object.fields.key()),
            _ => Change::Upsert(renamed(object, &format!("{}-copy", object.fields.name))),
        });
    }
    let expected: Vec<Vec<Expected>> = queries
        .iter()
        .map(|q| events_for(&h, &configmaps(), &q.options(), &changes))
        .collect();
    h.apply(&configmaps(), changes).await;
    let contexts: Vec<String> = queries
        .iter()
        .map(|q| format!("watch configmaps {q}: live changes"))
        .collect();
    for ((context, stream), expected) in contexts.iter().zip(&mut streams).zip(&expected) {
        expect_events(stream, context, expected, None).await;
    }
    let mut quiet: Vec<(&mut WatchStream, &str)> = streams
        .iter_mut()
        .zip(&contexts)
        .map(|(s, c)| (s, c.as_str()))
        .collect();
    assert_quiet(&mut quiet).await;
}

/// A watch from a resource version older than the layer keeps answers `410 Expired` (from
/// `watch` or as the stream's first item) so that the client lists again: the check writes
/// changes (up to [`EXPIRY_BOUND`]) until a watch from the first change's version expires.
pub async fn expired(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    let template = first_fixture(&h, &configmaps());
    let probe = renamed(&template, "watch-expiry-probe");
    let storage = h.storage(&configmaps()).await;
    let mut stream = watch(&*storage, &Query::new()).await;
    h.apply(&configmaps(), vec![Change::Upsert(probe.clone())])
        .await;
    let first = expect_events(
        &mut stream,
        "watch configmaps on an empty layer",
        &[Expected("ADDED", probe.clone())],
        None,
    )
    .await
    .remove(0);
    drop(stream);
    let query = Query::new().param("resourceVersion", &first);
    let mut written = 1;
    while written < EXPIRY_BOUND {
        let changes: Vec<Change> = (0..EXPIRY_BATCH)
            .map(|i| Change::Upsert(touched(&probe, written + i)))
            .collect();
        written += EXPIRY_BATCH;
        h.apply(&configmaps(), changes).await;
        let outcome = match storage.watch(&query.options()).await {
            Err(error) => Some(error),
            Ok(mut stream) => match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
                Err(_) => panic!(
                    "watch {query} after {written} changes: neither an event nor an error within {EVENT_TIMEOUT:?}"
                ),
                Ok(None) => panic!(
                    "watch {query} after {written} changes: the watch ended without an error"
                ),
                Ok(Some(Err(error))) => Some(error),
                Ok(Some(Ok(event))) => {
                    let context = format!("watch {query} after {written} changes");
                    let rv = version(&context, &event);
                    assert!(
                        compare_versions(&first, &rv).is_lt(),
                        "{context}: the first event ({rv}) does not come after {first}"
                    );
                    None
                }
            },
        };
        if let Some(error) = outcome {
            assert_eq!(
                error.status().code,
                410,
                "watch {query} after {written} changes: want 410 Expired, got {error:?}"
            );
            note(format!(
                "the layer's watch window is under {written} changes"
            ));
            return;
        }
    }
    panic!(
        "watch {query}: still replayed after {written} later changes; a layer must bound the \
         history it keeps and answer 410 Expired for versions older than it"
    );
}

/// A malformed resource version answers `400 BadRequest` (from `watch` or as the stream's first
/// item), never a stream of everything.
pub async fn malformed_resource_version(mut h: Harness) {
    if !supported(&mut h).await {
        return;
    }
    h.load_resources(&[configmaps()]).await;
    let storage = h.storage(&configmaps()).await;
    for rv in ["not a resource version!", "-5"] {
        let query = Query::new().param("resourceVersion", rv);
        let error = match storage.watch(&query.options()).await {
            Err(error) => error,
            Ok(mut stream) => match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
                Ok(Some(Err(error))) => error,
                Ok(Some(Ok(event))) => panic!(
                    "watch {query}: got {} {}, want 400",
                    kind(&event),
                    identity(object(&event))
                ),
                Ok(None) => panic!("watch {query}: the watch ended without an error, want 400"),
                Err(_) => panic!("watch {query}: no error within {EVENT_TIMEOUT:?}, want 400"),
            },
        };
        assert_eq!(
            error.status().code,
            400,
            "watch {query}: want 400 BadRequest, got {error:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers_where_digits() {
        assert!(compare_versions("9", "10").is_lt());
        assert!(compare_versions("99999999", "100000001").is_lt());
        assert!(compare_versions("a.9", "a.10").is_lt());
        assert!(compare_versions("a.10.5", "a.10.12").is_lt());
        assert!(compare_versions("007", "7").is_eq());
        assert!(compare_versions("12", "12").is_eq());
        assert!(compare_versions("b.1", "a.2").is_gt());
    }
}
