//! Requests a database cannot take are `400`s naming the parameter, never a `500` with the
//! database's text (the security test: a NUL byte gave PostgreSQL's "invalid byte sequence",
//! 1,000 label requirements, 2,000 `fuzzyName` values or 300 `[]` segments hit SQLite's
//! expression depth and join limits). And a request at every cap at once is answered: the caps
//! of `storage_api::query::limits` are below what each dialect takes.

mod support;

use std::sync::Arc;

use storage_api::query::limits::{
    MAX_FIELD_REQUIREMENTS, MAX_FUZZY_NAMES, MAX_LABEL_REQUIREMENTS, MAX_LIST_VALUES,
    MAX_ORDER_PATHS, MAX_PATH_LIST_SEGMENTS, MAX_SELECTOR_VALUES,
};
use storage_api::query::params::{RequestScope, parse_list_options};
use storage_api::{Change, Gvr, ResourceObject, ResourceStorage, StorageError, StorageFactory};

fn pod(name: &str) -> ResourceObject {
    let value = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "resourceVersion": "1", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
    ResourceObject::parse(
        "c1".into(),
        Arc::new(Gvr::new("", "v1", "pods")),
        serde_json::to_vec(&value).expect("json").into(),
    )
    .expect("valid pod")
}

/// The pod every capped query finds: each of the first 20 letters is a fuzzy name of it.
const NAME: &str = "abcdefghijklmnopqrstuvwxyz";

fn many(n: usize, item: impl Fn(usize) -> String) -> String {
    (0..n).map(item).collect::<Vec<_>>().join(",")
}

/// A URL query of `pairs`, every byte but ASCII letters and digits percent-encoded.
fn encode(pairs: &[(&str, String)]) -> String {
    let escape = |text: &str| {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What the apiserver does: parse the request, then ask the layer.
async fn answer(storage: &dyn ResourceStorage, query: &str) -> Result<usize, StorageError> {
    let options = parse_list_options(query, &RequestScope::default())?;
    Ok(storage.list(&options).await?.items.len())
}

/// [`MAX_FUZZY_NAMES`] distinct substrings of [`NAME`].
fn fuzzy() -> String {
    many(MAX_FUZZY_NAMES, |i| NAME[i..=i].to_owned())
}

async fn check(factory: &dyn StorageFactory, layer: &str) {
    let pods = support::pods(factory).await;
    pods.apply(vec![Change::Upsert(pod(NAME)), Change::Upsert(pod("b"))])
        .await
        .expect("apply");

    let hostile: Vec<(&str, String, &str)> = vec![
        (
            "1000 label requirements",
            encode(&[("labelSelector", many(1000, |i| format!("k{i}=v")))]),
            "labelSelector",
        ),
        (
            "2000 fuzzyName values",
            encode(&[("fuzzyName", many(2000, |i| format!("f{i}")))]),
            "fuzzyName",
        ),
        (
            "300 [] segments",
            encode(&[("fieldSelector", format!("spec{}.x=y", "[]".repeat(300)))]),
            "fieldSelector",
        ),
        (
            "100 order paths",
            encode(&[("orderby", many(100, |i| format!("metadata.labels.l{i}")))]),
            "orderby",
        ),
        ("NUL in clusters", "clusters=a%00".into(), "clusters"),
        ("NUL in namespaces", "namespaces=a%00".into(), "namespaces"),
        ("NUL in names", "names=a%00".into(), "names"),
        ("NUL in fuzzyName", "fuzzyName=a%00".into(), "fuzzyName"),
        (
            "NUL in ownerUID",
            "clusters=c1&ownerUID=a%00".into(),
            "ownerUID",
        ),
        (
            "NUL in a field selector value",
            "fieldSelector=metadata.name%3Da%00".into(),
            "fieldSelector",
        ),
    ];
    for (what, query, parameter) in hostile {
        let err = answer(pods.as_ref(), &query)
            .await
            .expect_err(&format!("{layer}: {what}"));
        let status = err.status();
        assert_eq!(status.code, 400, "{layer}: {what}: {err}");
        assert!(
            err.to_string().starts_with(&format!("{parameter}:")),
            "{layer}: {what}: {err}"
        );
    }

    // Everything at its cap at once is still answered by the database.
    let labels = many(MAX_LABEL_REQUIREMENTS, |i| {
        if i == 0 {
            format!(
                "app in ({})",
                many(MAX_SELECTOR_VALUES, |j| if j == 0 {
                    "web".into()
                } else {
                    format!("v{j}")
                })
            )
        } else {
            format!("!k{i}")
        }
    });
    let fields = many(MAX_FIELD_REQUIREMENTS, |i| {
        if i == 0 {
            "spec.containers[].image!=x".to_owned()
        } else if i == 1 {
            format!("spec{}.x!=y", "[]".repeat(MAX_PATH_LIST_SEGMENTS))
        } else {
            format!("metadata.annotations.a{i}!=x")
        }
    });
    let query = encode(&[
        ("labelSelector", labels),
        ("fieldSelector", fields),
        ("fuzzyName", fuzzy()),
        (
            "names",
            many(MAX_LIST_VALUES, |i| {
                if i == 0 { NAME.into() } else { format!("n{i}") }
            }),
        ),
        (
            "namespaces",
            many(MAX_LIST_VALUES, |i| {
                if i == 0 {
                    "default".into()
                } else {
                    format!("n{i}")
                }
            }),
        ),
        ("clusters", many(MAX_LIST_VALUES, |i| format!("c{}", i + 1))),
        (
            "orderby",
            many(MAX_ORDER_PATHS, |i| format!("metadata.labels.l{i} desc")),
        ),
        ("limit", "1".into()),
    ]);
    let found = answer(pods.as_ref(), &query)
        .await
        .unwrap_or_else(|e| panic!("{layer}: a request at every cap: {e}"));
    assert_eq!(found, 1, "{layer}: the pod matches");
    factory.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sqlite_refuses_hostile_input_with_400() {
    check(&support::sqlite().await, "sqlite").await;
}

#[tokio::test]
async fn postgres_refuses_hostile_input_with_400() {
    check(&support::postgres().await, "postgres").await;
}

#[tokio::test]
async fn mysql_refuses_hostile_input_with_400() {
    check(&support::mysql().await, "mysql").await;
}
