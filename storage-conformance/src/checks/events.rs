//! Events (`record_events`, reference §3.5) and their injection into list items
//! (`search.clusterpedia.io/inject-events=true`).
//!
//! Decision: with inject-events every item carries the events annotation, an object without
//! events an empty array `[]`; the order of the array is free (compared by event uid).

use serde_json::json;

use super::{configmaps, pods};
use crate::harness::{Harness, Query, Target, assert_items, comparable_versions};
use storage_api::Change;
use storage_api::object::ObjectEvent;

const INJECT: &str = "search.clusterpedia.io/inject-events=true";

fn inject() -> Query {
    Query::new().param("labelSelector", INJECT)
}

/// A copy of `event` about another object (`involved_uid`) with a new uid and name.
fn event_about(
    event: &ObjectEvent,
    cluster: &str,
    involved_uid: &str,
    suffix: &str,
) -> ObjectEvent {
    let mut value: serde_json::Value =
        serde_json::from_slice(&event.raw).expect("fixture events are JSON");
    value["involvedObject"]["uid"] = json!(involved_uid);
    value["metadata"]["uid"] = json!(format!("{}-{suffix}", event.uid));
    value["metadata"]["name"] = json!(format!(
        "{}-{suffix}",
        value["metadata"]["name"].as_str().unwrap_or_default()
    ));
    let raw = serde_json::to_vec(&value).expect("events serialize");
    ObjectEvent::parse(cluster.into(), raw.into()).expect("edited events parse")
}

/// With inject-events, every item carries exactly the events recorded for it (matched by
/// cluster and involved uid), and `[]` when it has none; with other filters, paging and
/// `onlyMetadata` too. Without it, items are as stored, and `get` never injects.
pub async fn inject_events(mut h: Harness) {
    h.load().await;
    let target = Target::Resource(pods());
    for query in [
        inject(),
        inject().param("limit", 5),
        inject()
            .param("onlyMetadata", "true")
            .param("fieldSelector", "status.phase=Pending"),
        Query::new().param("labelSelector", format!("{INJECT},app=api")),
        Query::new(),
    ] {
        h.check(&target, &query).await;
    }
    h.walk(&target, &inject(), 13).await;
    let storage = h.storage(&pods()).await;
    let with_events = h
        .model()
        .objects(&pods())
        .into_iter()
        .find(|p| !h.model().events_of(&pods(), &p.fields.key()).is_empty())
        .cloned()
        .expect("a pod with events");
    let f = &with_events.fields;
    let got = storage
        .get(&f.cluster, &f.namespace, &f.name)
        .await
        .expect("get");
    assert_items(
        "get of a pod with events (no injection on get)",
        &[got],
        std::slice::from_ref(&with_events),
    );
}

/// Events whose involved object is not stored are dropped without error: an unknown uid, and a
/// uid stored only in another cluster (events never cross clusters). They appear neither in
/// injected items nor in `resource_versions`.
pub async fn events_of_unknown_objects_are_dropped(mut h: Harness) {
    h.load_resources(&[pods(), configmaps()]).await;
    let clusters = h.fixtures().clusters();
    let template = h.fixtures().events[0].clone();
    let pod = h
        .model()
        .objects(&pods())
        .into_iter()
        .find(|p| *p.fields.cluster == *clusters[0])
        .cloned()
        .expect("a pod");
    let events = vec![
        event_about(
            &template,
            &clusters[0],
            "00000000-0000-0000-0000-000000000000",
            "unknown",
        ),
        event_about(&template, &clusters[1], &pod.fields.uid, "other-cluster"),
        event_about(&template, "no-such-cluster", &pod.fields.uid, "no-cluster"),
    ];
    h.record_events(&pods(), events).await;
    // An event about a pod recorded on the configmaps storage is not about a configmap.
    let misplaced = vec![event_about(
        &template,
        &clusters[0],
        &pod.fields.uid,
        "misplaced",
    )];
    h.record_events(&configmaps(), misplaced).await;
    h.check(&Target::Resource(pods()), &inject()).await;
    h.check(&Target::Resource(configmaps()), &inject()).await;
    for cluster in &clusters {
        let got = h
            .factory()
            .resource_versions(cluster)
            .await
            .expect("resource_versions");
        assert_eq!(
            comparable_versions(got),
            comparable_versions(h.model().resource_versions(cluster)),
            "resource_versions({cluster}) after recording events of objects that are not stored"
        );
    }
}

/// An event recorded again with the same uid (a Kubernetes event whose count went up) replaces
/// the previous one, in injected items and in the event resource versions.
pub async fn recorded_again_replaces(mut h: Harness) {
    h.load().await;
    let event = h
        .fixtures()
        .events
        .iter()
        .find(|e| {
            h.model()
                .objects(&pods())
                .iter()
                .any(|p| p.fields.cluster == e.cluster && p.fields.uid == e.involved_uid)
        })
        .cloned()
        .expect("an event of a stored pod");
    let mut value: serde_json::Value = serde_json::from_slice(&event.raw).expect("json");
    value["count"] = json!(2);
    value["metadata"]["resourceVersion"] = json!("999999999999");
    value["message"] = json!("recorded again");
    let again = ObjectEvent::parse(
        event.cluster.clone(),
        serde_json::to_vec(&value).expect("json").into(),
    )
    .expect("parse");
    h.record_events(&pods(), vec![again]).await;
    h.check(&Target::Resource(pods()), &inject()).await;
    let cluster = event.cluster.to_string();
    let got = h
        .factory()
        .resource_versions(&cluster)
        .await
        .expect("resource_versions");
    assert_eq!(
        comparable_versions(got),
        comparable_versions(h.model().resource_versions(&cluster)),
        "resource_versions({cluster}) after an event was recorded again"
    );
}

/// Events belong to their object: an update (upsert) of the object keeps them, a delete drops
/// them (and a later object with the same key starts without events).
pub async fn events_follow_their_object(mut h: Harness) {
    h.load().await;
    let mut with_events: Vec<_> = h
        .model()
        .objects(&pods())
        .into_iter()
        .filter(|p| !h.model().events_of(&pods(), &p.fields.key()).is_empty())
        .cloned()
        .collect();
    assert!(with_events.len() >= 2, "pods with events");
    let updated = with_events.remove(0);
    let deleted = with_events.remove(0);
    let changes = vec![
        Change::Upsert(super::edited(&updated, |v| {
            v["status"]["phase"] = json!("Succeeded")
        })),
        Change::Delete(deleted.fields.key()),
    ];
    h.apply(&pods(), changes).await;
    h.check(&Target::Resource(pods()), &inject()).await;
    h.apply(&pods(), vec![Change::Upsert(deleted.clone())])
        .await;
    h.check(
        &Target::Resource(pods()),
        &inject().param(
            "names",
            format!("{},{}", updated.fields.name, deleted.fields.name),
        ),
    )
    .await;
    for cluster in h.fixtures().clusters() {
        let got = h
            .factory()
            .resource_versions(&cluster)
            .await
            .expect("resource_versions");
        assert_eq!(
            comparable_versions(got),
            comparable_versions(h.model().resource_versions(&cluster)),
            "resource_versions({cluster}) after an update kept and a delete dropped events"
        );
    }
}
