//! HTTP-level tests of the whole router (authentication, routing, discovery, lists, gets,
//! tables, watches, collections, errors, health and metrics) over the conformance fixtures in
//! the reference layer (`storage_api::testing`), without TLS (see `tests/` for TLS and kubectl).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use serde_json::Value;
use storage_api::collection::CollectionResource;
use storage_api::testing::ReferenceStorageFactory;
use storage_api::{
    Change, ClusterResourceVersions, CollectionResourceStorage, Gvr, ResourceStorage,
    ResourceStorageConfig, StorageFactory, StoredResourceType, Verb,
};
use storage_conformance::fixtures::{FixtureSpec, Fixtures};
use tokio::sync::OnceCell;
use tower::ServiceExt as _;

use crate::auth::Authenticator;
use crate::catalog::Catalog;
use crate::inflight::InflightLimit;
use crate::metrics::Metrics;
use crate::routes::router;
use crate::state::AppState;

const PREFIX: &str = "/apis/clusterpedia.io/v1beta1/resources";
const TOKEN: &str = "test-token";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// The fixtures, loaded once into a reference layer.
struct World {
    fixtures: Fixtures,
    factory: ReferenceStorageFactory,
}

async fn world() -> &'static World {
    static WORLD: OnceCell<World> = OnceCell::const_new();
    WORLD
        .get_or_init(|| async {
            let fixtures = Fixtures::generate(&FixtureSpec::default());
            let factory = ReferenceStorageFactory::new();
            load(&factory, &fixtures).await;
            World { fixtures, factory }
        })
        .await
}

/// Stores every fixture object through the storage API, as the synchro would.
pub(crate) async fn load(factory: &dyn StorageFactory, fixtures: &Fixtures) {
    for config in fixtures.gvrs() {
        let storage = factory
            .new_resource_storage(config.clone())
            .await
            .expect("storage");
        let changes: Vec<Change> = fixtures
            .of(&config.gvr)
            .into_iter()
            .map(|o| Change::Upsert(o.clone()))
            .collect();
        storage.apply(changes).await.expect("apply");
    }
}

/// The router over `factory`, with the token [`TOKEN`] and anonymous access as asked.
async fn app_over(factory: Arc<dyn StorageFactory>, anonymous: bool) -> Router {
    app_limited(factory, anonymous, None).await
}

/// [`app_over`] with `--max-requests-inflight` permits.
async fn app_limited(
    factory: Arc<dyn StorageFactory>,
    anonymous: bool,
    inflight: Option<usize>,
) -> Router {
    let catalog = Arc::new(Catalog::new(factory));
    catalog.refresh().await.expect("refresh");
    let (shutdown, receiver) = tokio::sync::watch::channel(false);
    std::mem::forget(shutdown);
    let metrics = Arc::new(Metrics::default());
    router(Arc::new(AppState {
        catalog,
        inflight: InflightLimit::new(inflight, metrics.inflight()),
        metrics,
        auth: Arc::new(Authenticator {
            tokens: crate::auth::parse_token_file(&format!("{TOKEN},tester,1")).expect("tokens"),
            anonymous,
            ..Authenticator::default()
        }),
        authz: Arc::new(crate::authz::Authorizer::default()),
        member_rbac: None,
        shutdown: receiver,
    }))
}

async fn app() -> Router {
    app_over(Arc::new(world().await.factory.clone()), false).await
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(400)])
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a kube `Status` with this code and message.
    fn status(&self, code: u16, reason: &str, message: &str) {
        assert_eq!(self.status.as_u16(), code, "{}", self.text());
        let json = self.json();
        assert_eq!(json["kind"], "Status");
        assert_eq!(json["code"], code);
        assert_eq!(json["reason"], reason);
        assert!(
            json["message"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{} does not contain {message:?}",
            json["message"]
        );
    }
}

async fn send(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    let mut has_auth = false;
    for (name, value) in headers {
        has_auth |= name.eq_ignore_ascii_case("authorization");
        request = request.header(*name, *value);
    }
    if !has_auth {
        request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Method::GET, uri, &[]).await
}

async fn get_with(app: &Router, uri: &str, accept: &str) -> Answer {
    send(app, Method::GET, uri, &[("accept", accept)]).await
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            format!(
                "{}/{}/{}",
                i["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"]
                    .as_str()
                    .unwrap_or_default(),
                i["metadata"]["namespace"].as_str().unwrap_or_default(),
                i["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn fixture_names(
    fixtures: &Fixtures,
    gvr: &Gvr,
    filter: impl Fn(&storage_api::ResourceObject) -> bool,
) -> BTreeSet<String> {
    fixtures
        .of(gvr)
        .into_iter()
        .filter(|o| filter(o))
        .map(|o| {
            format!(
                "{}/{}/{}",
                o.fields.cluster, o.fields.namespace, o.fields.name
            )
        })
        .collect()
}

fn pods() -> Gvr {
    Gvr::new("", "v1", "pods")
}

#[tokio::test]
async fn server_group_discovery() {
    let app = app().await;
    let apis = get(&app, "/apis").await.json();
    assert_eq!(apis["kind"], "APIGroupList");
    assert_eq!(apis["groups"][0]["name"], "clusterpedia.io");
    let group = get(&app, "/apis/clusterpedia.io").await.json();
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(
        group["preferredVersion"]["groupVersion"],
        "clusterpedia.io/v1beta1"
    );
    let resources = get(&app, "/apis/clusterpedia.io/v1beta1").await.json();
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["collectionresources", "resources"]);
    assert_eq!(
        get(&app, "/api").await.json()["versions"],
        serde_json::json!([])
    );
    assert_eq!(
        get(&app, "/version").await.json()["gitVersion"]
            .as_str()
            .map(|v| v.ends_with("-clusterpedia-rs")),
        Some(true)
    );
    get(&app, "/apis/other.io").await.status(
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    send(&app, Method::POST, "/apis", &[])
        .await
        .status(405, "MethodNotAllowed", "does not allow");
}

#[tokio::test]
async fn kubernetes_discovery_of_all_clusters_and_of_one() {
    let app = app().await;
    let api = get(&app, &format!("{PREFIX}/api")).await.json();
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], serde_json::json!(["v1"]));

    let core = get(&app, &format!("{PREFIX}/api/v1")).await.json();
    assert_eq!(core["kind"], "APIResourceList");
    assert_eq!(core["groupVersion"], "v1");
    let by_name: HashMap<&str, &Value> = core["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| (r["name"].as_str().unwrap_or_default(), r))
        .collect();
    let pods = by_name["pods"];
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["singularName"], "pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["verbs"], serde_json::json!(["get", "list", "watch"]));
    assert_eq!(pods["shortNames"], serde_json::json!(["po"]));
    assert_eq!(pods["categories"], serde_json::json!(["all"]));
    assert_eq!(by_name["nodes"]["namespaced"], false);
    assert!(!by_name.contains_key("secrets"), "only stored resources");

    let groups = get(&app, &format!("{PREFIX}/apis")).await.json();
    let group_names: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(group_names, ["apps", "discovery.k8s.io", "example.io"]);
    let apps = get(&app, &format!("{PREFIX}/apis/apps")).await.json();
    assert_eq!(apps["preferredVersion"]["groupVersion"], "apps/v1");
    let apps_v1 = get(&app, &format!("{PREFIX}/apis/apps/v1")).await.json();
    assert!(apps_v1["resources"].as_array().expect("resources").iter().any(|r| r["name"] == "deployments" && r["shortNames"] == serde_json::json!(["deploy"])));
    get(&app, &format!("{PREFIX}/apis/apps/v2")).await.status(
        404,
        "NotFound",
        "could not find the requested resource",
    );
    get(&app, &format!("{PREFIX}/apis/batch")).await.status(
        404,
        "NotFound",
        "could not find the requested resource",
    );

    let cluster = &world().await.fixtures.clusters()[0];
    let one = get(&app, &format!("{PREFIX}/clusters/{cluster}/apis/apps/v1")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["groupVersion"], "apps/v1");
    assert_eq!(
        get(&app, &format!("{PREFIX}/clusters/{cluster}/api"))
            .await
            .json()["versions"],
        serde_json::json!(["v1"])
    );
}

#[tokio::test]
async fn cluster_paths_and_unknown_clusters() {
    let app = app().await;
    for path in [
        "/clusters",
        "/clusters/",
        "/clusters/prod-eu-1",
        "/clusters/prod-eu-1/",
        "",
        "/",
        "/nothing",
    ] {
        get(&app, &format!("{PREFIX}{path}")).await.status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    }
    for path in [
        "/api/v1/pods",
        "/apis/apps/v1/namespaces/default/deployments/x",
        "/api/v1/pods?watch=1",
    ] {
        get(&app, &format!("{PREFIX}/clusters/unknown{path}"))
            .await
            .status(
                400,
                "BadRequest",
                "the server could not find the requested cluster",
            );
    }
    // Discovery of an unknown cluster is that of all clusters, so that kubectl gets to the
    // resource request and prints the 400 above.
    let all = get(&app, &format!("{PREFIX}/apis/apps/v1")).await;
    let unknown = get(&app, &format!("{PREFIX}/clusters/unknown/apis/apps/v1")).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.body, all.body);
}

#[tokio::test]
async fn lists_splice_the_stored_objects() {
    let world = world().await;
    let app = app().await;
    let answer = get(&app, &format!("{PREFIX}/api/v1/pods")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    let list = answer.json();
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    let got: Vec<String> = names(&list);
    let expected = fixture_names(&world.fixtures, &pods(), |_| true);
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(got.len(), expected.len(), "no duplicates");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "default order: cluster, namespace, name");
    assert!(list["metadata"]["resourceVersion"].is_string());
    // Byte-for-byte splicing of what the storage returns.
    let storage = world
        .factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: pods(),
            kind: "Pod".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let page = storage
        .list(&storage_api::ListOptions::default())
        .await
        .expect("list");
    let text = answer.text();
    for item in &page.items {
        assert!(
            text.contains(std::str::from_utf8(&item.raw).expect("utf8")),
            "item spliced as stored"
        );
    }
}

#[tokio::test]
async fn lists_by_namespace_cluster_and_search_parameters() {
    let world = world().await;
    let app = app().await;
    let clusters = world.fixtures.clusters();
    let namespaced = get(&app, &format!("{PREFIX}/api/v1/namespaces/default/pods"))
        .await
        .json();
    assert_eq!(
        names(&namespaced).into_iter().collect::<BTreeSet<_>>(),
        fixture_names(&world.fixtures, &pods(), |o| o.fields.namespace
            == "default")
    );
    let one = get(
        &app,
        &format!("{PREFIX}/clusters/{}/apis/apps/v1/deployments", clusters[1]),
    )
    .await
    .json();
    assert_eq!(
        names(&one).into_iter().collect::<BTreeSet<_>>(),
        fixture_names(
            &world.fixtures,
            &Gvr::new("apps", "v1", "deployments"),
            |o| *o.fields.cluster == *clusters[1]
        )
    );
    let selector = format!(
        "search.clusterpedia.io/clusters in ({},{})",
        clusters[0], clusters[2]
    );
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("labelSelector", &selector)
        .finish();
    let two = get(&app, &format!("{PREFIX}/api/v1/pods?{query}"))
        .await
        .json();
    assert_eq!(
        names(&two).into_iter().collect::<BTreeSet<_>>(),
        fixture_names(&world.fixtures, &pods(), |o| *o.fields.cluster
            == *clusters[0]
            || *o.fields.cluster == *clusters[2])
    );
    let desc = get(
        &app,
        &format!("{PREFIX}/api/v1/configmaps?orderby=name%20desc"),
    )
    .await
    .json();
    let desc_names: Vec<String> = desc["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let mut sorted = desc_names.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(desc_names, sorted);
    let nodes = get(&app, &format!("{PREFIX}/api/v1/nodes")).await.json();
    assert_eq!(nodes["kind"], "NodeList");
    assert!(!nodes["items"].as_array().expect("items").is_empty());
}

#[tokio::test]
async fn paging_with_continue_has_no_gap_and_no_duplicate() {
    let world = world().await;
    let app = app().await;
    let mut seen = Vec::new();
    let mut uri = format!("{PREFIX}/api/v1/pods?limit=7&withRemainingCount=true");
    let total = fixture_names(&world.fixtures, &pods(), |_| true).len();
    loop {
        let page = get(&app, &uri).await.json();
        let names = names(&page);
        assert!(names.len() <= 7);
        seen.extend(names);
        match page["metadata"]["continue"].as_str() {
            Some(token) => {
                assert_eq!(
                    page["metadata"]["remainingItemCount"].as_u64(),
                    Some((total - seen.len()) as u64)
                );
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("limit", "7")
                    .append_pair("withRemainingCount", "true")
                    .append_pair("continue", token)
                    .finish();
                uri = format!("{PREFIX}/api/v1/pods?{query}");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), total);
}

#[tokio::test]
async fn get_needs_a_cluster_and_answers_not_found() {
    let world = world().await;
    let app = app().await;
    let pod = world.fixtures.of(&pods())[0].clone();
    let (cluster, namespace, name) = (&pod.fields.cluster, &pod.fields.namespace, &pod.fields.name);
    let answer = get(
        &app,
        &format!("{PREFIX}/clusters/{cluster}/api/v1/namespaces/{namespace}/pods/{name}"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let object = answer.json();
    assert_eq!(object["metadata"]["name"], name.as_str());
    assert_eq!(
        object["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"],
        cluster.as_ref()
    );
    get(
        &app,
        &format!("{PREFIX}/api/v1/namespaces/{namespace}/pods/{name}"),
    )
    .await
    .status(
        400,
        "BadRequest",
        "please specify the cluster name when using the resource name to get a specific resource.",
    );
    let missing = get(
        &app,
        &format!("{PREFIX}/clusters/{cluster}/api/v1/namespaces/{namespace}/pods/nope"),
    )
    .await;
    missing.status(404, "NotFound", "pods \"nope\" not found");
    assert_eq!(
        missing.json()["details"],
        serde_json::json!({"name": "nope", "kind": "pods"})
    );
    get(
        &app,
        &format!(
            "{PREFIX}/clusters/{cluster}/apis/apps/v1/namespaces/{namespace}/deployments/nope"
        ),
    )
    .await
    .status(404, "NotFound", "deployments.apps \"nope\" not found");
    let node = get(
        &app,
        &format!("{PREFIX}/clusters/{cluster}/api/v1/nodes/worker-1"),
    )
    .await;
    assert_eq!(node.status, StatusCode::OK, "{}", node.text());
    assert_eq!(node.json()["kind"], "Node");
    let table = get_with(
        &app,
        &format!("{PREFIX}/clusters/{cluster}/api/v1/namespaces/{namespace}/pods/{name}"),
        TABLE,
    )
    .await
    .json();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(1));
    let partial = get_with(
        &app,
        &format!("{PREFIX}/clusters/{cluster}/api/v1/namespaces/{namespace}/pods/{name}"),
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    )
    .await
    .json();
    assert_eq!(partial["kind"], "PartialObjectMetadata");
    assert!(partial.get("spec").is_none());
}

#[tokio::test]
async fn errors_of_resource_paths() {
    let app = app().await;
    get(&app, &format!("{PREFIX}/api/v1/secrets")).await.status(
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    get(&app, &format!("{PREFIX}/apis/apps/v1/cronjobs"))
        .await
        .status(404, "NotFound", "could not find");
    get(&app, &format!("{PREFIX}/api/v1/namespaces/default/nodes"))
        .await
        .status(404, "NotFound", "could not find");
    get(
        &app,
        &format!("{PREFIX}/clusters/prod-eu-1/api/v1/namespaces/default/pods/x/log"),
    )
    .await
    .status(404, "NotFound", "could not find");
    send(&app, Method::POST, &format!("{PREFIX}/api/v1/pods"), &[])
        .await
        .status(405, "MethodNotAllowed", "does not allow this method");
    send(
        &app,
        Method::DELETE,
        &format!("{PREFIX}/clusters/prod-eu-1/api/v1/namespaces/default/pods/x"),
        &[],
    )
    .await
    .status(405, "MethodNotAllowed", "does not allow this method");
    get(&app, &format!("{PREFIX}/api/v1/pods?since=2022-13-01"))
        .await
        .status(400, "BadRequest", "Invalid datetime");
    get(
        &app,
        &format!("{PREFIX}/api/v1/pods?orderby=name%20cluster"),
    )
    .await
    .status(400, "BadRequest", "Invalid Query OrderBy");
    get(&app, &format!("{PREFIX}/api/v1/pods?ownerName=web"))
        .await
        .status(400, "BadRequest", "cluster must be specified");
    get(
        &app,
        &format!("{PREFIX}/api/v1/pods?labelSelector=a%20in%20("),
    )
    .await
    .status(400, "BadRequest", "labelSelector");
    get(&app, &format!("{PREFIX}/api/v1/pods?continue=bogus-token"))
        .await
        .status(400, "BadRequest", "continue");
    get_with(&app, &format!("{PREFIX}/api/v1/pods"), "application/yaml")
        .await
        .status(406, "NotAcceptable", "application/json");
    get(
        &app,
        &format!("{PREFIX}/api/v1/pods?includeObject=Everything"),
    )
    .await
    .status(400, "BadRequest", "includeObject");
}

#[tokio::test]
async fn tables_have_a_cluster_column_and_partial_objects() {
    let world = world().await;
    let app = app().await;
    let table = get_with(&app, &format!("{PREFIX}/api/v1/pods?limit=10"), TABLE)
        .await
        .json();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    let columns: Vec<(&str, u64)> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default(),
                c["priority"].as_u64().unwrap_or(9),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("Cluster", 0),
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
    );
    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 10);
    assert!(table["metadata"]["continue"].is_string());
    let first = &rows[0];
    assert_eq!(first["cells"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        first["cells"][0],
        world
            .fixtures
            .clusters()
            .iter()
            .min()
            .map(String::as_str)
            .unwrap_or_default()
    );
    assert_eq!(first["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(first["object"]["apiVersion"], "meta.k8s.io/v1");
    assert!(first["object"]["metadata"]["namespace"].is_string());
    assert!(first["object"].get("spec").is_none());

    let full = get_with(
        &app,
        &format!("{PREFIX}/api/v1/pods?limit=1&includeObject=Object"),
        TABLE,
    )
    .await
    .json();
    assert_eq!(full["rows"][0]["object"]["kind"], "Pod");
    let none = get_with(
        &app,
        &format!("{PREFIX}/api/v1/pods?limit=1&includeObject=None"),
        TABLE,
    )
    .await
    .json();
    assert_eq!(none["rows"][0]["object"], Value::Null);
    let old = get_with(
        &app,
        &format!("{PREFIX}/apis/apps/v1/deployments?limit=1"),
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    )
    .await
    .json();
    assert_eq!(old["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(old["columnDefinitions"][2]["name"], "Ready");
    let widgets = get_with(
        &app,
        &format!("{PREFIX}/apis/example.io/v1/widgets?limit=1"),
        TABLE,
    )
    .await
    .json();
    let widget_columns: Vec<&str> = widgets["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(widget_columns, ["Cluster", "Name", "Created At"]);

    let partial = get_with(
        &app,
        &format!("{PREFIX}/api/v1/pods?limit=3"),
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
    )
    .await
    .json();
    assert_eq!(partial["kind"], "PartialObjectMetadataList");
    assert_eq!(partial["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(partial["items"][0]["kind"], "PartialObjectMetadata");
    assert!(partial["items"][0].get("spec").is_none());
    assert!(partial["metadata"]["continue"].is_string());
}

#[tokio::test]
async fn large_lists_are_gzipped_when_asked() {
    let app = app().await;
    let big = send(
        &app,
        Method::GET,
        &format!("{PREFIX}/api/v1/pods"),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(
        big.headers.get(header::CONTENT_ENCODING),
        Some(&HeaderValue::from_static("gzip"))
    );
    let small = send(
        &app,
        Method::GET,
        &format!("{PREFIX}/api/v1/pods?limit=1"),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert!(small.headers.get(header::CONTENT_ENCODING).is_none());
    let plain = get(&app, &format!("{PREFIX}/api/v1/pods")).await;
    assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
}

#[tokio::test]
async fn collection_resources() {
    let app = app().await;
    let root = "/apis/clusterpedia.io/v1beta1/collectionresources";
    let list = get(&app, root).await.json();
    assert_eq!(list["kind"], "CollectionResourceList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["any", "workloads", "kuberesources"]);
    assert_eq!(
        list["items"][1]["resourceTypes"][0],
        serde_json::json!({"group": "apps", "version": "", "resource": "deployments"})
    );
    let table = get_with(&app, root, TABLE).await.json();
    let rows: Vec<(String, String)> = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["cells"][0].as_str().unwrap_or_default().to_owned(),
                r["cells"][1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(rows[0], ("any".into(), "*".into()));
    assert_eq!(
        rows[1],
        (
            "workloads".into(),
            "deployments.apps,daemonsets.apps,statefulsets.apps".into()
        )
    );
    assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "any");

    let workloads = get(&app, &format!("{root}/workloads?limit=5")).await.json();
    assert_eq!(workloads["kind"], "CollectionResource");
    assert_eq!(workloads["apiVersion"], "clusterpedia.io/v1beta1");
    assert_eq!(workloads["metadata"]["name"], "workloads");
    assert_eq!(workloads["items"].as_array().map(Vec::len), Some(5));
    assert!(workloads["continue"].is_string());
    for t in workloads["resourceTypes"].as_array().expect("types") {
        assert_eq!(t["group"], "apps");
        assert!(
            ["deployments", "daemonsets", "statefulsets"]
                .contains(&t["resource"].as_str().unwrap_or_default()),
            "{t}"
        );
        assert!(t["kind"].is_string());
    }
    let items_table = get_with(&app, &format!("{root}/workloads?limit=2"), TABLE)
        .await
        .json();
    let columns: Vec<&str> = items_table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Cluster",
            "Group",
            "Version",
            "Kind",
            "Namespace",
            "Name",
            "Age"
        ]
    );
    assert_eq!(items_table["rows"][0]["cells"][1], "apps");

    let any = get(
        &app,
        &format!("{root}/any?groups=apps&resources=/pods&limit=3"),
    )
    .await
    .json();
    assert_eq!(any["items"].as_array().map(Vec::len), Some(3));
    get(&app, &format!("{root}/any")).await.status(
        400,
        "BadRequest",
        "`groups` or `resources` is required",
    );
    get(&app, &format!("{root}/nothing")).await.status(
        404,
        "NotFound",
        "collectionresources.clusterpedia.io \"nothing\" not found",
    );
    get(&app, &format!("{root}/workloads/extra"))
        .await
        .status(404, "NotFound", "could not find");
}

/// A collection list without a limit is cut at 5,000 items with a continue token (it was one
/// body of every object: memory grew with the collection), and the token leads to the rest.
#[tokio::test]
async fn an_unlimited_collection_list_is_cut_with_a_continue_token() {
    let factory = ReferenceStorageFactory::new();
    let deployments = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("apps", "v1", "deployments"),
            kind: "Deployment".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let gvr = Arc::new(Gvr::new("apps", "v1", "deployments"));
    let changes = (0..5003)
        .map(|i| {
            let raw = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("d-{i:05}"), "namespace": "default",
                             "uid": format!("uid-{i}"), "resourceVersion": "1"}});
            Change::Upsert(
                storage_api::ResourceObject::parse(
                    "c1".into(),
                    gvr.clone(),
                    serde_json::to_vec(&raw).expect("json").into(),
                )
                .expect("deployment"),
            )
        })
        .collect();
    deployments.apply(changes).await.expect("apply");
    let app = app_over(Arc::new(factory), false).await;
    let root = "/apis/clusterpedia.io/v1beta1/collectionresources/workloads";
    let first = get(&app, root).await.json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(5000));
    let token = first["continue"].as_str().expect("a continue token");
    let rest = get(&app, &format!("{root}?continue={token}")).await.json();
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(3), "{rest}");
    assert!(rest["continue"].is_null());
}

/// Reads the events of a watch response body until it ends.
async fn watch_lines(app: &Router, uri: &str, accept: &str) -> (StatusCode, Vec<Value>) {
    let answer = get_with(app, uri, accept).await;
    let lines = answer
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect();
    (answer.status, lines)
}

#[tokio::test]
async fn watch_streams_events_until_the_timeout() {
    let world = world().await;
    let factory = ReferenceStorageFactory::new();
    load(&factory, &world.fixtures).await;
    let app = app_over(Arc::new(factory.clone()), false).await;
    let cluster = world.fixtures.clusters()[0].clone();
    let uri = format!("{PREFIX}/clusters/{cluster}/api/v1/configmaps?watch=1&timeoutSeconds=1");
    let expected = fixture_names(&world.fixtures, &Gvr::new("", "v1", "configmaps"), |o| {
        *o.fields.cluster == *cluster
    })
    .len();

    let app2 = app.clone();
    let uri2 = uri.clone();
    let watching = tokio::spawn(async move { watch_lines(&app2, &uri2, "application/json").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // A change while the watch is open arrives as MODIFIED.
    let storage = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: Gvr::new("", "v1", "configmaps"),
            kind: "ConfigMap".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let object = world
        .fixtures
        .of(&Gvr::new("", "v1", "configmaps"))
        .into_iter()
        .find(|o| *o.fields.cluster == *cluster)
        .expect("configmap")
        .clone();
    storage
        .apply(vec![Change::Upsert(object.clone())])
        .await
        .expect("update");

    let (status, events) = watching.await.expect("join");
    assert_eq!(status, StatusCode::OK);
    let added = events.iter().filter(|e| e["type"] == "ADDED").count();
    assert_eq!(added, expected);
    let modified: Vec<&Value> = events.iter().filter(|e| e["type"] == "MODIFIED").collect();
    assert_eq!(modified.len(), 1, "{events:?}");
    assert_eq!(
        modified[0]["object"]["metadata"]["name"],
        object.fields.name.as_str()
    );
    assert_eq!(events[0]["object"]["kind"], "ConfigMap");

    let (_, tables) = watch_lines(&app, &uri, TABLE).await;
    assert_eq!(tables[0]["object"]["kind"], "Table");
    assert_eq!(
        tables[0]["object"]["columnDefinitions"][0]["name"],
        "Cluster"
    );
    assert_eq!(
        tables[1]["object"]["columnDefinitions"],
        serde_json::json!([])
    );
    assert_eq!(
        tables[1]["object"]["rows"].as_array().map(Vec::len),
        Some(1)
    );

    let (_, expired) = watch_lines(
        &app,
        &format!("{uri}&resourceVersion=999999999"),
        "application/json",
    )
    .await;
    let last = expired.last().expect("an event");
    assert_eq!(last["type"], "ERROR");
    assert_eq!(last["object"]["kind"], "Status");
    assert_eq!(last["object"]["code"], 410);
}

/// A reference layer that does not support watch (like a relational layer).
struct NoWatch(ReferenceStorageFactory);

#[async_trait::async_trait]
impl StorageFactory for NoWatch {
    fn supported_verbs(&self) -> &'static [Verb] {
        &[Verb::Get, Verb::List]
    }
    async fn prepare_cluster(&self, cluster: &str) -> storage_api::Result<()> {
        self.0.prepare_cluster(cluster).await
    }
    async fn resource_versions(
        &self,
        cluster: &str,
    ) -> storage_api::Result<HashMap<Gvr, ClusterResourceVersions>> {
        self.0.resource_versions(cluster).await
    }
    async fn stored_resource_types(&self) -> storage_api::Result<Vec<StoredResourceType>> {
        self.0.stored_resource_types().await
    }
    fn collection_resources(&self) -> Vec<CollectionResource> {
        self.0.collection_resources()
    }
    async fn new_resource_storage(
        &self,
        config: ResourceStorageConfig,
    ) -> storage_api::Result<Arc<dyn ResourceStorage>> {
        self.0.new_resource_storage(config).await
    }
    async fn new_collection_resource_storage(
        &self,
        collection: &CollectionResource,
    ) -> storage_api::Result<Arc<dyn CollectionResourceStorage>> {
        self.0.new_collection_resource_storage(collection).await
    }
    async fn clean_cluster(&self, cluster: &str) -> storage_api::Result<()> {
        self.0.clean_cluster(cluster).await
    }
    async fn clean_cluster_resource(&self, cluster: &str, gvr: &Gvr) -> storage_api::Result<()> {
        self.0.clean_cluster_resource(cluster, gvr).await
    }
    async fn check_ready(&self) -> storage_api::Result<()> {
        Err(storage_api::StorageError::Unavailable {
            message: "database down".into(),
            source: None,
        })
    }
    async fn shutdown(&self) -> storage_api::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn watch_on_a_layer_without_watch_is_405_and_readyz_reports_the_storage() {
    let app = app_over(Arc::new(NoWatch(world().await.factory.clone())), false).await;
    get(&app, &format!("{PREFIX}/api/v1/pods?watch=true"))
        .await
        .status(405, "MethodNotAllowed", "watch is not supported");
    let core = get(&app, &format!("{PREFIX}/api/v1")).await.json();
    assert_eq!(
        core["resources"][0]["verbs"],
        serde_json::json!(["get", "list"])
    );
    let ready = send(
        &app,
        Method::GET,
        "/readyz?verbose",
        &[("authorization", "none")],
    )
    .await;
    assert_eq!(ready.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        ready
            .text()
            .contains("[-]storage failed: storage unavailable: database down"),
        "{}",
        ready.text()
    );
    assert!(ready.text().contains("[+]discovery ok"));
}

#[tokio::test]
async fn authentication_health_and_metrics() {
    let app = app().await;
    get_with(&app, &format!("{PREFIX}/api"), "application/json").await;
    send(
        &app,
        Method::GET,
        &format!("{PREFIX}/api"),
        &[("authorization", "Bearer wrong")],
    )
    .await
    .status(401, "Unauthorized", "Unauthorized");
    send(
        &app,
        Method::GET,
        "/apis",
        &[("authorization", "Basic eDp5")],
    )
    .await
    .status(401, "Unauthorized", "Unauthorized");
    let no_credentials = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/apis")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(no_credentials.status(), StatusCode::UNAUTHORIZED);

    let anonymous = app_over(Arc::new(world().await.factory.clone()), true).await;
    let open = anonymous
        .clone()
        .oneshot(
            Request::builder()
                .uri("/apis")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(open.status(), StatusCode::OK);
    send(
        &anonymous,
        Method::GET,
        "/apis",
        &[("authorization", "Bearer wrong")],
    )
    .await
    .status(401, "Unauthorized", "Unauthorized");

    for path in ["/livez", "/readyz", "/healthz"] {
        let answer = app
            .clone()
            .oneshot(
                Request::builder()
                    .uri(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let body = answer.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"ok");
    }
    let verbose = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/readyz?verbose")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let text = String::from_utf8(
        verbose
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec(),
    )
    .expect("utf8");
    assert_eq!(
        text,
        "[+]ping ok\n[+]storage ok\n[+]discovery ok\nreadyz check passed\n"
    );

    get(&app, &format!("{PREFIX}/api/v1/pods?limit=1")).await;
    get(&app, &format!("{PREFIX}/api/v1/secrets")).await;
    let metrics = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = String::from_utf8(
        metrics
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec(),
    )
    .expect("utf8");
    assert!(
        text.contains(
            r#"apiserver_request_total{verb="list",group="",resource="pods",code="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"apiserver_request_total{verb="list",group="",resource="secrets",code="404"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"apiserver_request_total{verb="GET",group="",resource="",code="401"}"#),
        "{text}"
    );
    assert!(
        text.contains("apiserver_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(
        text.contains("apiserver_current_inflight_requests"),
        "{text}"
    );
    assert!(text.contains("apiserver_longrunning_requests"), "{text}");
}

/// The series of `apiserver_request_total` in a scrape of `/metrics`.
async fn request_series(app: &Router) -> BTreeSet<String> {
    let scrape = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let body = scrape.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|line| line.starts_with("apiserver_request_total{"))
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

#[tokio::test]
async fn requests_for_made_up_resources_do_not_grow_the_metrics() {
    let app = app().await;
    let made_up = |i: usize| {
        [
            format!("{PREFIX}/apis/made-up-{i}.example.com/v1/things-{i}"),
            format!("{PREFIX}/apis/made-up-{i}.example.com/v1/things-{i}?watch=1"),
            format!("{PREFIX}/api/v1/made-up-{i}"),
            format!("{PREFIX}/clusters/prod-eu-1/api/v1/namespaces/default/made-up-{i}/x"),
            format!("{PREFIX}/apis/apps/v1/made-up-{i}"),
        ]
    };
    // Warm up: the scrape itself and one request of each shape.
    request_series(&app).await;
    for uri in made_up(0) {
        get(&app, &uri)
            .await
            .status(404, "NotFound", "could not find");
    }
    let before = request_series(&app).await;
    for i in 1..=50 {
        for uri in made_up(i) {
            get(&app, &uri)
                .await
                .status(404, "NotFound", "could not find");
        }
    }
    let after = request_series(&app).await;
    assert_eq!(
        after.len(),
        before.len(),
        "new series: {:?}",
        after.difference(&before).take(5).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn requests_over_the_inflight_limit_get_429_but_watches_pass() {
    // No permit at all: every request is over the limit.
    let app = app_limited(Arc::new(world().await.factory.clone()), false, Some(0)).await;
    let refused = get(&app, &format!("{PREFIX}/api/v1/pods?limit=1")).await;
    refused.status(429, "TooManyRequests", "Too many requests");
    assert_eq!(refused.headers[header::RETRY_AFTER], "1");
    let (status, events) = watch_lines(
        &app,
        &format!("{PREFIX}/api/v1/nodes?watch=1&timeoutSeconds=1"),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!events.is_empty());
    let one = app_limited(Arc::new(world().await.factory.clone()), false, Some(1)).await;
    assert_eq!(
        get(&one, &format!("{PREFIX}/api/v1/pods?limit=1"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get(&one, &format!("{PREFIX}/api/v1/pods?limit=1"))
            .await
            .status,
        StatusCode::OK,
        "the permit is released"
    );
}

#[test]
#[ignore = "timing probe: cargo test --release -- --ignored --nocapture table_timing"]
fn table_timing() {
    use crate::negotiate::{IncludeObject, MetaVersion};
    use crate::table::{ResourceTable, printer_for};
    let pods = storage_conformance::fixtures::generate_pods(500, 4, 7);
    let page = storage_api::ListPage {
        items: pods,
        ..Default::default()
    };
    let table = ResourceTable {
        printer: printer_for("", "pods"),
        version: MetaVersion::V1,
        include: IncludeObject::Metadata,
    };
    for include in [IncludeObject::Metadata, IncludeObject::None] {
        let table = ResourceTable { include, ..table };
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..50 {
            bytes = table.render(&page, true).expect("table").len();
        }
        eprintln!(
            "{include:?}: {:?} per table of 500 pods ({bytes} bytes)",
            started.elapsed() / 50
        );
    }
    let started = std::time::Instant::now();
    for _ in 0..50 {
        let _ = crate::list::list_json("Pod", "v1", &page);
    }
    eprintln!("json: {:?} per list", started.elapsed() / 50);
    let started = std::time::Instant::now();
    for _ in 0..50 {
        for item in &page.items {
            let _ = crate::list::metadata_of(item).expect("metadata");
        }
    }
    eprintln!("metadata_of: {:?} per 500", started.elapsed() / 50);
}

/// `sendInitialEvents=true` (the streaming list): `ADDED` for every object, the bookmark
/// annotated `k8s.io/initial-events-end: "true"` at the list's version, then live changes;
/// without `resourceVersionMatch=NotOlderThan` or bookmarks it is a `400`.
#[tokio::test]
async fn send_initial_events_ends_with_the_annotated_bookmark() {
    let world = world().await;
    let factory = ReferenceStorageFactory::new();
    load(&factory, &world.fixtures).await;
    let app = app_over(Arc::new(factory.clone()), false).await;
    let cluster = world.fixtures.clusters()[0].clone();
    let gvr = Gvr::new("", "v1", "configmaps");
    let base = format!("{PREFIX}/clusters/{cluster}/api/v1/configmaps?watch=1&timeoutSeconds=1");
    let uri = format!(
        "{base}&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    );
    let expected = fixture_names(&world.fixtures, &gvr, |o| *o.fields.cluster == *cluster).len();

    let app2 = app.clone();
    let uri2 = uri.clone();
    let watching = tokio::spawn(async move { watch_lines(&app2, &uri2, "application/json").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let storage = factory
        .new_resource_storage(ResourceStorageConfig {
            gvr: gvr.clone(),
            kind: "ConfigMap".into(),
            namespaced: true,
        })
        .await
        .expect("storage");
    let object = world
        .fixtures
        .of(&gvr)
        .into_iter()
        .find(|o| *o.fields.cluster == *cluster)
        .expect("configmap")
        .clone();
    storage
        .apply(vec![Change::Upsert(object.clone())])
        .await
        .expect("update");
    let (status, events) = watching.await.expect("join");
    assert_eq!(status, StatusCode::OK);
    let types: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] != "BOOKMARK" || e["object"]["metadata"]["annotations"].is_object())
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    let mut want = vec!["ADDED"; expected];
    want.extend(["BOOKMARK", "MODIFIED"]);
    assert_eq!(types, want, "{events:?}");
    let end = events
        .iter()
        .find(|e| e["type"] == "BOOKMARK")
        .expect("the initial-events-end bookmark");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(end["object"]["kind"], "ConfigMap");
    assert!(end["object"]["metadata"]["resourceVersion"].is_string());

    for bad in [
        format!("{base}&sendInitialEvents=true&allowWatchBookmarks=true"),
        format!("{base}&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"),
    ] {
        get(&app, &bad)
            .await
            .status(400, "BadRequest", "sendInitialEvents requires");
    }
}

/// The full-text `query` parameter flows from the URL (and its search label) to the layer:
/// the items holding every word, by relevance, paged without gap or duplicate, as JSON and as a
/// Table; bad words and a layer without full-text search answer a `400` naming `query`.
#[tokio::test]
async fn full_text_search_through_the_api() {
    use storage_api::query::full_text::{FullTextQuery, object_tokens};

    let world = world().await;
    let app = app().await;
    let holding = |words: &str| {
        let query = FullTextQuery::parse([words]).expect("words");
        fixture_names(&world.fixtures, &pods(), |o| {
            query.matches(&object_tokens(&o.to_value().expect("json")))
        })
    };
    let want = holding("envoy registry");
    assert!(want.len() > 3, "the fixtures have envoy sidecars: {want:?}");
    let encoded = |pairs: &[(&str, &str)]| -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let all = get(
        &app,
        &format!(
            "{PREFIX}/api/v1/pods?{}",
            encoded(&[("query", "Envoy registry")])
        ),
    )
    .await
    .json();
    let order = names(&all);
    assert_eq!(order.iter().cloned().collect::<BTreeSet<_>>(), want);
    let label = get(
        &app,
        &format!(
            "{PREFIX}/api/v1/pods?{}",
            encoded(&[(
                "labelSelector",
                "search.clusterpedia.io/query in (envoy,REGISTRY)"
            )])
        ),
    )
    .await
    .json();
    assert_eq!(names(&label), order, "the search label means the same");

    // Paging through the relevance order gives the unpaged order.
    let mut seen = Vec::new();
    let mut pairs = vec![
        ("query", "envoy registry".to_owned()),
        ("limit", "3".to_owned()),
    ];
    loop {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = get(
            &app,
            &format!("{PREFIX}/api/v1/pods?{}", encoded(&borrowed)),
        )
        .await
        .json();
        seen.extend(names(&page));
        match page["metadata"]["continue"].as_str() {
            Some(token) => {
                pairs.truncate(2);
                pairs.push(("continue", token.to_owned()));
            }
            None => break,
        }
        assert!(seen.len() <= order.len(), "{seen:?}");
    }
    assert_eq!(seen, order);

    let table = get_with(
        &app,
        &format!(
            "{PREFIX}/api/v1/pods?{}",
            encoded(&[("query", "envoy registry")])
        ),
        TABLE,
    )
    .await
    .json();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().expect("rows").len(), order.len());

    get(&app, &format!("{PREFIX}/api/v1/pods?query=---"))
        .await
        .status(400, "BadRequest", "query");
    let factory =
        ReferenceStorageFactory::with_bug(storage_api::testing::ReferenceBug::WithoutFullText);
    load(&factory, &world.fixtures).await;
    let without = app_over(Arc::new(factory), false).await;
    get(&without, &format!("{PREFIX}/api/v1/pods?query=envoy"))
        .await
        .status(
            400,
            "BadRequest",
            "full-text search is not supported by the reference storage layer",
        );
}
