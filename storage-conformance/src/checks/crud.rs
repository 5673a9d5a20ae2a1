//! Writing and reading single objects: `create`, `get`, `update`, `delete` and `apply`.

use serde_json::json;

use super::{configmaps, deployments, edited, first_fixture, nodes, pods, renamed, services};
use crate::harness::{Harness, Query, Target, assert_items, assert_status, identity};
use storage_api::Change;
use storage_api::object::ObjectKey;

/// `create` then `get` returns the object as given (JSON and indexed fields), for one object of
/// every fixture resource, cluster-scoped nodes included (`get` with an empty namespace).
pub async fn create_then_get(mut h: Harness) {
    for config in h.fixtures().gvrs() {
        let object = first_fixture(&h, &config.gvr);
        let storage = h.storage(&config.gvr).await;
        h.factory()
            .prepare_cluster(&object.fields.cluster)
            .await
            .expect("prepare_cluster");
        storage
            .create(object.clone())
            .await
            .unwrap_or_else(|e| panic!("create {} failed: {e}", identity(&object)));
        h.model_apply(&config.gvr, &[Change::Upsert(object.clone())]);
        let f = &object.fields;
        let got = storage
            .get(&f.cluster, &f.namespace, &f.name)
            .await
            .unwrap_or_else(|e| panic!("get {} after create failed: {e}", identity(&object)));
        assert_items(
            &format!("get {} after create", identity(&object)),
            &[got],
            std::slice::from_ref(&object),
        );
    }
}

/// A second `create` of the same key answers `409 AlreadyExists` and leaves the first object in
/// place (the synchro then falls back to `update`).
pub async fn create_existing_is_already_exists(mut h: Harness) {
    let object = first_fixture(&h, &deployments());
    h.apply(&deployments(), vec![Change::Upsert(object.clone())])
        .await;
    let storage = h.storage(&deployments()).await;
    let second = edited(&object, |v| {
        v["metadata"]["labels"]["tier"] = json!("second")
    });
    let error = assert_status(
        &format!("create {} twice", identity(&object)),
        storage.create(second).await,
        409,
    );
    assert!(
        error.is_already_exists(),
        "want AlreadyExists, got {error:?}"
    );
    let f = &object.fields;
    let got = storage
        .get(&f.cluster, &f.namespace, &f.name)
        .await
        .expect("get");
    assert_items(
        "get after a refused second create",
        &[got],
        std::slice::from_ref(&object),
    );
}

/// `update` of an object that is not stored answers `404 NotFound` and stores nothing (the
/// synchro then falls back to `create`).
pub async fn update_missing_is_not_found(mut h: Harness) {
    let object = first_fixture(&h, &pods());
    let storage = h.storage(&pods()).await;
    let error = assert_status(
        &format!("update of the missing {}", identity(&object)),
        storage.update(object.clone()).await,
        404,
    );
    assert!(error.is_not_found(), "want NotFound, got {error:?}");
    let f = &object.fields;
    assert_status(
        "get after a refused update",
        storage.get(&f.cluster, &f.namespace, &f.name).await,
        404,
    );
    h.check(&Target::Resource(pods()), &Query::new()).await;
}

/// `get` answers `404 NotFound` for a key that is not stored: on an empty layer, in another
/// namespace or cluster than the stored object, and in another resource holding an object of
/// that name (a deployment `api` is not a service `api`).
pub async fn get_missing_is_not_found(mut h: Harness) {
    let object = first_fixture(&h, &deployments());
    let storage = h.storage(&deployments()).await;
    let f = object.fields.clone();
    assert_status(
        "get on an empty layer",
        storage.get(&f.cluster, &f.namespace, &f.name).await,
        404,
    );
    h.load_resources(&[deployments()]).await;
    let other_cluster = h
        .fixtures()
        .clusters()
        .into_iter()
        .find(|c| *c != *f.cluster)
        .expect("several clusters");
    for (cluster, namespace, name, why) in [
        (
            &*f.cluster,
            f.namespace.as_str(),
            "no-such-deployment",
            "an unknown name",
        ),
        (
            &*f.cluster,
            "no-such-namespace",
            f.name.as_str(),
            "another namespace",
        ),
        (
            "no-such-cluster",
            f.namespace.as_str(),
            f.name.as_str(),
            "an unknown cluster",
        ),
        (
            &*f.cluster,
            "",
            f.name.as_str(),
            "an empty namespace for a namespaced object",
        ),
    ] {
        assert_status(
            &format!("get {cluster}/{namespace}/{name} ({why})"),
            storage.get(cluster, namespace, name).await,
            404,
        );
    }
    let in_other = h.model().get(
        &deployments(),
        &ObjectKey::new(&other_cluster, &f.namespace, &f.name),
    );
    if in_other.is_none() {
        assert_status(
            "get of a name stored only in another cluster",
            storage.get(&other_cluster, &f.namespace, &f.name).await,
            404,
        );
    }
    let services = h.storage(&services()).await;
    assert_status(
        &format!(
            "get of service {} while only the deployment of that name is stored",
            f.name
        ),
        services.get(&f.cluster, &f.namespace, &f.name).await,
        404,
    );
}

/// `delete` of a key that is not stored succeeds and removes nothing (also a key of another
/// cluster or namespace than a stored object of that name).
pub async fn delete_missing_is_ok(mut h: Harness) {
    let storage = h.storage(&configmaps()).await;
    storage
        .delete(&ObjectKey::new("no-such-cluster", "default", "nothing"))
        .await
        .expect("delete on an empty layer must succeed");
    h.load_resources(&[configmaps()]).await;
    let object = first_fixture(&h, &configmaps());
    let f = &object.fields;
    for key in [
        ObjectKey::new(&f.cluster, &f.namespace, "no-such-configmap"),
        ObjectKey::new(&f.cluster, "no-such-namespace", &f.name),
        ObjectKey::new("no-such-cluster", &f.namespace, &f.name),
    ] {
        storage
            .delete(&key)
            .await
            .unwrap_or_else(|e| panic!("delete of the missing {key} failed: {e}"));
    }
    h.check(&Target::Resource(configmaps()), &Query::new())
        .await;
}

/// After `delete`, `get` answers `404` and lists no longer show the object, while objects of the
/// same name in other namespaces and clusters (`kube-root-ca.crt` is everywhere) stay; a second
/// delete succeeds.
pub async fn delete_then_get_is_not_found(mut h: Harness) {
    h.load_resources(&[configmaps(), nodes()]).await;
    let storage = h.storage(&configmaps()).await;
    let victim = h
        .model()
        .objects(&configmaps())
        .into_iter()
        .find(|o| o.fields.name == "kube-root-ca.crt")
        .cloned()
        .expect("kube-root-ca.crt fixtures");
    let key = victim.fields.key();
    storage.delete(&key).await.expect("delete");
    h.model_apply(&configmaps(), &[Change::Delete(key.clone())]);
    assert_status(
        &format!("get {} after delete", identity(&victim)),
        storage.get(&key.cluster, &key.namespace, &key.name).await,
        404,
    );
    storage
        .delete(&key)
        .await
        .expect("a second delete must succeed");
    h.check(&Target::Resource(configmaps()), &Query::new())
        .await;
    h.check(
        &Target::Resource(configmaps()),
        &Query::new().param("names", "kube-root-ca.crt"),
    )
    .await;

    let node = first_fixture(&h, &nodes());
    let nodes_storage = h.storage(&nodes()).await;
    nodes_storage
        .delete(&node.fields.key())
        .await
        .expect("delete node");
    h.model_apply(&nodes(), &[Change::Delete(node.fields.key())]);
    assert_status(
        "get of a deleted cluster-scoped node",
        nodes_storage
            .get(&node.fields.cluster, "", &node.fields.name)
            .await,
        404,
    );
    h.check(&Target::Resource(nodes()), &Query::new()).await;
}

/// `update` replaces the stored object, and everything derived from it: a list by the new label
/// finds it, a list by the old label does not, an order by creation time sees the new time.
pub async fn update_replaces_object_and_its_index(mut h: Harness) {
    h.load_resources(&[pods()]).await;
    let storage = h.storage(&pods()).await;
    let before = first_fixture(&h, &pods());
    let after = edited(&before, |v| {
        v["metadata"]["labels"]["app"] = json!("moved-app");
        v["metadata"]["labels"]["tier"] = json!("moved-tier");
        v["metadata"]["creationTimestamp"] = json!("2020-01-01T00:00:00Z");
        v["status"]["phase"] = json!("Succeeded");
    });
    storage
        .update(after.clone())
        .await
        .expect("update of a stored object");
    h.model_apply(&pods(), &[Change::Upsert(after.clone())]);
    let f = &after.fields;
    let got = storage
        .get(&f.cluster, &f.namespace, &f.name)
        .await
        .expect("get after update");
    assert_items("get after update", &[got], std::slice::from_ref(&after));
    let target = Target::Resource(pods());
    let old_app = before
        .fields
        .labels
        .get("app")
        .unwrap_or_default()
        .to_owned();
    for query in [
        Query::new().param("labelSelector", "app=moved-app"),
        Query::new().param("labelSelector", format!("app={old_app}")),
        Query::new().param("labelSelector", "tier=moved-tier"),
        Query::new().param("fieldSelector", "status.phase=Succeeded"),
        Query::new()
            .param("orderby", "created_at")
            .param("limit", 3),
        Query::new().param("before", "2021-01-01"),
    ] {
        h.check(&target, &query).await;
    }
}

/// One `apply` batch of upserts and deletes is applied in order: new objects are stored, an
/// upsert of a stored key replaces it, a delete removes, a delete then an upsert of the same key
/// leaves the upserted object, an upsert then a delete leaves nothing, a delete of a missing key
/// is fine; the final state is checked with `get` and `list`.
pub async fn apply_batch_upserts_and_deletes(mut h: Harness) {
    h.load_resources(&[configmaps()]).await;
    let existing: Vec<_> = h
        .model()
        .objects(&configmaps())
        .into_iter()
        .take(4)
        .cloned()
        .collect();
    let [a, b, c, d] = <[_; 4]>::try_from(existing).expect("four configmaps");
    let new = renamed(&a, "conformance-new");
    let transient = renamed(&a, "conformance-transient");
    let changes = vec![
        Change::Upsert(new.clone()),
        Change::Upsert(edited(&b, |v| v["data"] = json!({"replaced": "yes"}))),
        Change::Delete(c.fields.key()),
        Change::Delete(d.fields.key()),
        Change::Upsert(edited(&d, |v| {
            v["data"] = json!({"deleted-then-upserted": "yes"})
        })),
        Change::Upsert(transient.clone()),
        Change::Delete(transient.fields.key()),
        Change::Delete(ObjectKey::new(
            &a.fields.cluster,
            &a.fields.namespace,
            "never-stored",
        )),
    ];
    h.apply(&configmaps(), changes).await;
    let storage = h.storage(&configmaps()).await;
    for key in [
        new.fields.key(),
        b.fields.key(),
        c.fields.key(),
        d.fields.key(),
        transient.fields.key(),
    ] {
        let got = storage.get(&key.cluster, &key.namespace, &key.name).await;
        match h.model().get(&configmaps(), &key) {
            Some(want) => {
                let got = got.unwrap_or_else(|e| panic!("get {key} after the batch failed: {e}"));
                assert_items(
                    &format!("get {key} after the batch"),
                    &[got],
                    std::slice::from_ref(want),
                );
            }
            None => {
                assert_status(&format!("get {key} after the batch"), got, 404);
            }
        }
    }
    h.check(&Target::Resource(configmaps()), &Query::new())
        .await;
}

/// Storing every fixture object one by one with `create` succeeds (same names in other
/// namespaces, clusters and resources are different keys), and each resource then lists
/// exactly the fixtures: a layer keying objects by name alone loses some here.
pub async fn create_every_fixture_object(mut h: Harness) {
    for cluster in h.fixtures().clusters() {
        h.factory()
            .prepare_cluster(&cluster)
            .await
            .expect("prepare_cluster");
    }
    for config in h.fixtures().gvrs() {
        let storage = h.storage(&config.gvr).await;
        let objects: Vec<_> = h.fixtures().of(&config.gvr).into_iter().cloned().collect();
        for object in objects {
            storage
                .create(object.clone())
                .await
                .unwrap_or_else(|e| panic!("create {} failed: {e}", identity(&object)));
            h.model_apply(&config.gvr, &[Change::Upsert(object)]);
        }
    }
    for config in h.fixtures().gvrs() {
        h.check(&Target::Resource(config.gvr), &Query::new()).await;
    }
}
