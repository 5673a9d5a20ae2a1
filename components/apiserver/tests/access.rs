//! Access control as an aggregated API server, with kube-sim as the host cluster: bearer tokens
//! checked with `TokenReview`, requests authorized with `SubjectAccessReview` (evaluated from the
//! host's RBAC objects), front-proxy identity headers honoured only over the front proxy's
//! certificate with an allowed name.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_sim::{FixtureSpec, Simulator, SimulatorHandle};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;
use storage_api::testing::ReferenceStorageFactory;
use storage_api::{Gvr, ResourceObject, StorageFactory};
use storage_conformance::fixtures::{FixtureSpec as Objects, Fixtures};
use support::{Client, Harness};

/// The name the front proxy's certificate must have.
const PROXY_NAME: &str = "front-proxy-client";

/// A CA and client certificates it signed, by Common Name.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        let ca_pem = ca.self_signed(&key).expect("ca").pem();
        Self {
            ca_pem,
            issuer: Issuer::new(ca, key),
        }
    }

    /// A client certificate and key (PEM) for `name`.
    fn client(&self, name: &str) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

async fn host() -> SimulatorHandle {
    Simulator::builder()
        .fixtures(FixtureSpec::empty())
        .user("alice-token", "alice", &["dev"])
        .user("bob-token", "bob", &[])
        .start()
        .await
        .expect("host cluster")
}

async fn kube_client(sim: &SimulatorHandle) -> kube::Client {
    let kubeconfig = Kubeconfig::from_yaml(&sim.kubeconfig_yaml("host")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// Group `dev` may read everything of `clusterpedia.io` (as Clusterpedia's docs grant it).
async fn grant_dev(sim: &SimulatorHandle) {
    let client = kube_client(sim).await;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "clusterpedia-reader"},
                "rules": [{"apiGroups": ["clusterpedia.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                          {"nonResourceURLs": ["/version", "/apis", "/apis/*", "/api", "/api/*"], "verbs": ["get"]}],
            }))
            .expect("role"),
        )
        .await
        .expect("create role");
    let bindings: Api<ClusterRoleBinding> = Api::all(client);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "dev-reads-clusterpedia"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "clusterpedia-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "dev"}],
            }))
            .expect("binding"),
        )
        .await
        .expect("create binding");
}

/// The apiserver with `sim` as its host cluster (the test runtime must keep serving `sim` while
/// this blocks: multi-threaded); the front proxy's CA from a file when given,
/// else from the host's `extension-apiserver-authentication` ConfigMap.
fn server(sim: &SimulatorHandle, front_proxy_ca: Option<&str>, allowed_ttl: Duration) -> Harness {
    let dir = support::temp_dir("host");
    let kubeconfig = dir.join("host.kubeconfig");
    sim.write_kubeconfig(&kubeconfig, "host")
        .expect("kubeconfig");
    let ca = front_proxy_ca.map(|pem| {
        let ca = dir.join("front-proxy-ca.crt");
        std::fs::write(&ca, pem).expect("CA");
        ca
    });
    Harness::start(
        || async { Arc::new(ReferenceStorageFactory::new()) as Arc<dyn StorageFactory> }.boxed(),
        |factory| {
            async move {
                let fixtures = Fixtures::generate(&Objects::default());
                support::load(&*factory, &fixtures.objects).await;
            }
            .boxed()
        },
        move |options, _| {
            options.authentication_kubeconfig = Some(kubeconfig.clone());
            options.authorization_kubeconfig = Some(kubeconfig);
            if ca.is_some() {
                options.requestheader_client_ca_file = ca;
                options.requestheader_allowed_names = vec![PROXY_NAME.into()];
            }
            options.authorization_webhook_cache_authorized_ttl = allowed_ttl;
            options.authorization_webhook_cache_unauthorized_ttl = Duration::ZERO;
        },
    )
}

const PODS: &str = "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods?limit=1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_reviewed_and_requests_authorized_by_the_host_cluster() {
    let sim = host().await;
    grant_dev(&sim).await;
    let proxy_pki = Pki::new("front-proxy-ca");
    let harness = server(&sim, Some(&proxy_pki.ca_pem), Duration::from_millis(300));
    let client = harness.client();
    let get = |token: &'static str| {
        let client = client.clone();
        async move {
            let bearer = format!("Bearer {token}");
            client
                .get(PODS, &[("authorization", &bearer)])
                .await
                .expect("answer")
        }
    };

    // Unauthenticated, or a token the host does not know: 401.
    assert_eq!(client.get(PODS, &[]).await.expect("401").status, 401);
    let unknown = get("nobody-token").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json()["reason"], "Unauthorized");

    // alice (group dev) may; bob is authenticated but not allowed: 403 saying who and what.
    let alice = get("alice-token").await;
    assert_eq!(alice.status, 200, "{:?}", alice.body);
    assert_eq!(alice.json()["items"].as_array().map(Vec::len), Some(1));
    let bob = get("bob-token").await;
    assert_eq!(bob.status, 403);
    let status = bob.json();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        r#"resources.clusterpedia.io "api" is forbidden: User "bob" cannot get resource "resources/v1" in API group "clusterpedia.io" at the cluster scope"#
    );
    assert_eq!(status["details"]["group"], "clusterpedia.io");
    let version = client
        .get("/version", &[("authorization", "Bearer bob-token")])
        .await
        .expect("answer");
    assert_eq!(version.status, 403);
    assert_eq!(
        version.json()["message"],
        r#"forbidden: User "bob" cannot get path "/version""#
    );
    // Health is always served; the host's admin (system:masters) is never asked about.
    assert_eq!(
        client.get("/readyz", &[]).await.expect("readyz").status,
        200
    );
    let admin = format!("Bearer {}", sim.token());
    let answer = client
        .get(PODS, &[("authorization", &admin)])
        .await
        .expect("admin");
    assert_eq!(answer.status, 200);

    // Forged identity headers without the front proxy's certificate: ignored.
    let forged = [
        ("authorization", "Bearer bob-token"),
        ("x-remote-user", "alice"),
        ("x-remote-group", "dev"),
        ("x-remote-group", "system:masters"),
    ];
    assert_eq!(client.get(PODS, &forged).await.expect("403").status, 403);
    assert_eq!(
        client.get(PODS, &forged[1..]).await.expect("401").status,
        401
    );

    // Over the front proxy's certificate with the allowed name, the headers name the user.
    let (cert, key) = proxy_pki.client(PROXY_NAME);
    let proxy = Client::build(harness.addr, &harness.ca_pem, Some((&cert, &key)), &[b"h2"]);
    let as_alice = proxy
        .get(
            PODS,
            &[("x-remote-user", "alice"), ("x-remote-group", "dev")],
        )
        .await
        .expect("proxied");
    assert_eq!(as_alice.status, 200, "{:?}", as_alice.body);
    let as_bob = proxy
        .get(PODS, &[("x-remote-user", "bob")])
        .await
        .expect("proxied");
    assert_eq!(as_bob.status, 403);
    assert!(
        as_bob.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains(r#"User "bob""#))
    );
    // The same CA with another name: the headers are ignored (no other credential: 401).
    let (cert, key) = proxy_pki.client("someone-else");
    let impostor = Client::build(harness.addr, &harness.ca_pem, Some((&cert, &key)), &[b"h2"]);
    let answer = impostor
        .get(
            PODS,
            &[("x-remote-user", "alice"), ("x-remote-group", "dev")],
        )
        .await
        .expect("answer");
    assert_eq!(answer.status, 401);
    // Another CA's certificate does not get through the handshake.
    let stranger_pki = Pki::new("stranger");
    let (cert, key) = stranger_pki.client(PROXY_NAME);
    let stranger = Client::build(harness.addr, &harness.ca_pem, Some((&cert, &key)), &[b"h2"]);
    let refused = match stranger.connect().await {
        Err(_) => true,
        Ok(mut connection) => connection
            .get(PODS, &[("x-remote-user", "alice")])
            .await
            .map_or(true, |a| a.status == 401),
    };
    assert!(refused);

    // Revoking the binding on the host takes effect once the allowed answer expires (300 ms).
    let bindings: Api<ClusterRoleBinding> = Api::all(kube_client(&sim).await);
    bindings
        .delete("dev-reads-clusterpedia", &DeleteParams::default())
        .await
        .expect("delete binding");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(get("alice-token").await.status, 403);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_cluster_refuses_and_says_nothing_secret() {
    let sim = host().await;
    grant_dev(&sim).await;
    let proxy_pki = Pki::new("front-proxy-ca");
    let harness = server(&sim, Some(&proxy_pki.ca_pem), Duration::ZERO);
    let client = harness.client();
    sim.set_reachable(false).await;
    let answer = client
        .get(PODS, &[("authorization", "Bearer alice-token")])
        .await
        .expect("answer");
    assert_eq!(answer.status, 401, "a token that cannot be reviewed");
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    assert!(!body.contains("alice-token"), "{body}");
    // Front-proxy users need no TokenReview: the authorization check fails with a 500.
    let (cert, key) = proxy_pki.client(PROXY_NAME);
    let proxy = Client::build(harness.addr, &harness.ca_pem, Some((&cert, &key)), &[b"h2"]);
    let answer = proxy
        .get(
            PODS,
            &[("x-remote-user", "alice"), ("x-remote-group", "dev")],
        )
        .await
        .expect("answer");
    assert_eq!(answer.status, 500);
    assert_eq!(answer.json()["reason"], "InternalError");
    sim.set_reachable(true).await;
    let answer = proxy
        .get(
            PODS,
            &[("x-remote-user", "alice"), ("x-remote-group", "dev")],
        )
        .await
        .expect("answer");
    assert_eq!(answer.status, 200);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_proxy_configuration_is_read_from_the_host_cluster() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let sim = host().await;
    grant_dev(&sim).await;
    let proxy_pki = Pki::new("front-proxy-ca");
    let client = kube_client(&sim).await;
    // (kube-sim has the kube-system namespace, as a cluster has.)
    let maps: Api<ConfigMap> = Api::namespaced(client, "kube-system");
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "extension-apiserver-authentication"},
            "data": {
                "requestheader-client-ca-file": proxy_pki.ca_pem,
                "requestheader-allowed-names": format!("[\"{PROXY_NAME}\"]"),
                "requestheader-username-headers": "[\"X-Remote-User\"]",
                "requestheader-group-headers": "[\"X-Remote-Group\"]",
                "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
            },
        }))
        .expect("config map"),
    )
    .await
    .expect("create config map");
    let harness = server(&sim, None, Duration::from_secs(10));
    let (cert, key) = proxy_pki.client(PROXY_NAME);
    let proxy = Client::build(harness.addr, &harness.ca_pem, Some((&cert, &key)), &[b"h2"]);
    let answer = proxy
        .get(
            PODS,
            &[("x-remote-user", "alice"), ("x-remote-group", "dev")],
        )
        .await
        .expect("answer");
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let (cert, key) = proxy_pki.client("not-allowed");
    let impostor = Client::build(harness.addr, &harness.ca_pem, Some((&cert, &key)), &[b"h2"]);
    let answer = impostor
        .get(
            PODS,
            &[("x-remote-user", "alice"), ("x-remote-group", "dev")],
        )
        .await
        .expect("answer");
    assert_eq!(answer.status, 401);
    sim.shutdown().await;
}

/// An RBAC object of `cluster` as the synchro stores it.
fn rbac_object(cluster: &str, resource: &str, object: serde_json::Value) -> ResourceObject {
    let mut object = object;
    object["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    object["metadata"]["uid"] = json!(format!(
        "{cluster}-{resource}-{}",
        object["metadata"]["name"].as_str().unwrap_or_default()
    ));
    object["metadata"]["resourceVersion"] = json!("1");
    object["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    ResourceObject::parse(
        Arc::from(cluster),
        Arc::new(Gvr::new("rbac.authorization.k8s.io", "v1", resource)),
        bytes::Bytes::from(serde_json::to_vec(&object).expect("json")),
    )
    .expect("object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_rbac_filters_each_users_results() {
    let fixtures = Fixtures::generate(&Objects::default());
    let pods: Vec<ResourceObject> = fixtures
        .of(&Gvr::new("", "v1", "pods"))
        .into_iter()
        .cloned()
        .collect();
    let clusters = fixtures.clusters();
    let (c0, c1) = (clusters[0].clone(), clusters[1].clone());
    let mut namespaces: Vec<String> = pods
        .iter()
        .filter(|p| *p.fields.cluster == *c1)
        .map(|p| p.fields.namespace.to_string())
        .collect();
    namespaces.sort();
    namespaces.dedup();
    assert!(namespaces.len() >= 2, "{namespaces:?}");
    let (n0, n1) = (namespaces[0].clone(), namespaces[1].clone());
    let deployments: Vec<ResourceObject> = fixtures
        .of(&Gvr::new("apps", "v1", "deployments"))
        .into_iter()
        .cloned()
        .collect();
    let reader = |cluster: &str| {
        rbac_object(
            cluster,
            "clusterroles",
            json!({
                "kind": "ClusterRole", "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
            }),
        )
    };
    let deployment_reader = rbac_object(
        &c1,
        "clusterroles",
        json!({
            "kind": "ClusterRole", "metadata": {"name": "deployment-reader"},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}],
        }),
    );
    let binding = |cluster: &str, namespace: Option<&str>, name: &str, user: &str| {
        let (resource, kind) = match namespace {
            Some(_) => ("rolebindings", "RoleBinding"),
            None => ("clusterrolebindings", "ClusterRoleBinding"),
        };
        let mut metadata = json!({"name": name});
        if let Some(namespace) = namespace {
            metadata["namespace"] = json!(namespace);
        }
        rbac_object(
            cluster,
            resource,
            json!({
                "kind": kind, "metadata": metadata,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            }),
        )
    };
    let mut objects = fixtures.objects.clone();
    objects.extend([
        reader(&c0),
        reader(&c1),
        binding(&c0, None, "alice-everywhere", "alice"),
        binding(&c1, Some(&n0), "alice-n0", "alice"),
        binding(&c1, Some(&n1), "bob-n1", "bob"),
        deployment_reader,
        rbac_object(
            &c1,
            "clusterrolebindings",
            json!({
                "kind": "ClusterRoleBinding", "metadata": {"name": "alice-deployments"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "deployment-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
            }),
        ),
    ]);
    let expected = |user: &str| -> Vec<String> {
        let mut names: Vec<String> = pods
            .iter()
            .filter(|p| {
                let (c, n) = (&*p.fields.cluster, &*p.fields.namespace);
                match user {
                    "alice" => c == c0 || (c == c1 && n == n0),
                    "bob" => c == c1 && n == n1,
                    _ => false,
                }
            })
            .map(|p| {
                format!(
                    "{}/{}/{}",
                    p.fields.cluster, p.fields.namespace, p.fields.name
                )
            })
            .collect();
        names.sort();
        names
    };
    assert!(!expected("alice").is_empty() && !expected("bob").is_empty());

    let harness = Harness::start(
        || async { Arc::new(ReferenceStorageFactory::new()) as Arc<dyn StorageFactory> }.boxed(),
        move |factory| async move { support::load(&*factory, &objects).await }.boxed(),
        |options, dir| {
            let tokens = dir.join("users.csv");
            std::fs::write(
                &tokens,
                "alice-token,alice,1\nbob-token,bob,2\ncarol-token,carol,3\n",
            )
            .expect("tokens");
            options.token_auth_file = Some(tokens);
            options.member_rbac_filter = true;
        },
    );
    let client = harness.client();
    let list = |token: &'static str, query: String| {
        let client = client.clone();
        async move {
            let bearer = format!("Bearer {token}");
            let answer = client
                .get(
                    &format!("/apis/clusterpedia.io/v1beta1/resources/api/v1/pods{query}"),
                    &[("authorization", &bearer)],
                )
                .await
                .expect("list");
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            answer.json()
        }
    };
    let names = |list: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| {
                format!(
                    "{}/{}/{}",
                    p["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"]
                        .as_str()
                        .unwrap_or_default(),
                    p["metadata"]["namespace"].as_str().unwrap_or_default(),
                    p["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        names.sort();
        names
    };
    for user in ["alice", "bob", "carol"] {
        let token = match user {
            "alice" => "alice-token",
            "bob" => "bob-token",
            _ => "carol-token",
        };
        assert_eq!(
            names(&list(token, String::new()).await),
            expected(user),
            "{user}"
        );
        // Paged: every page filtered in the query, the remaining count exact.
        let mut seen = Vec::new();
        let mut query = "?limit=2&withRemainingCount=true".to_owned();
        loop {
            let page = list(token, query.clone()).await;
            seen.extend(names(&page));
            let left = page["metadata"]["remainingItemCount"].as_u64();
            match page["metadata"]["continue"].as_str() {
                Some(token) if !token.is_empty() => {
                    assert_eq!(
                        left,
                        Some((expected(user).len() - seen.len()) as u64),
                        "{user}"
                    );
                    query = format!("?limit=2&withRemainingCount=true&continue={token}");
                }
                _ => break,
            }
        }
        seen.sort();
        assert_eq!(seen, expected(user), "{user}: paged");
    }
    // A continue token of one user does not resume another user's list.
    let first = list("alice-token", "?limit=1".into()).await;
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_owned();
    let answer = client
        .get(
            &format!(
                "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods?limit=1&continue={token}"
            ),
            &[("authorization", "Bearer bob-token")],
        )
        .await
        .expect("answer");
    assert_eq!(answer.status, 400);
    // An object the user may not see is not found.
    let hidden = pods
        .iter()
        .find(|p| *p.fields.cluster == *c1 && *p.fields.namespace == *n1)
        .expect("a pod of bob's");
    let path = format!(
        "/apis/clusterpedia.io/v1beta1/resources/clusters/{}/api/v1/namespaces/{}/pods/{}",
        hidden.fields.cluster, hidden.fields.namespace, hidden.fields.name
    );
    let as_alice = client
        .get(&path, &[("authorization", "Bearer alice-token")])
        .await
        .expect("get");
    assert_eq!(as_alice.status, 404);
    let as_bob = client
        .get(&path, &[("authorization", "Bearer bob-token")])
        .await
        .expect("get");
    assert_eq!(as_bob.status, 200);
    // Collections: each type filtered where the user may list it. Alice sees pods (all of
    // c0, n0 of c1) and deployments (all of c1): two access sets, merged in one order; Bob
    // sees his pods only; Carol nothing.
    let expected_collection = |user: &str| -> Vec<String> {
        let mut names = expected(user)
            .into_iter()
            .map(|n| format!("Pod/{n}"))
            .collect::<Vec<_>>();
        if user == "alice" {
            names.extend(
                deployments
                    .iter()
                    .filter(|d| *d.fields.cluster == *c1)
                    .map(|d| {
                        format!(
                            "Deployment/{}/{}/{}",
                            d.fields.cluster, d.fields.namespace, d.fields.name
                        )
                    }),
            );
        }
        names
    };
    let collection = |token: &'static str, query: String| {
        let client = client.clone();
        async move {
            let bearer = format!("Bearer {token}");
            let answer = client
                .get(
                    &format!(
                        "/apis/clusterpedia.io/v1beta1/collectionresources/any?resources=/pods,apps/deployments{query}"
                    ),
                    &[("authorization", &bearer)],
                )
                .await
                .expect("collection");
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            answer.json()
        }
    };
    let kinds = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| {
                format!(
                    "{}/{}/{}/{}",
                    p["kind"].as_str().unwrap_or_default(),
                    p["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"]
                        .as_str()
                        .unwrap_or_default(),
                    p["metadata"]["namespace"].as_str().unwrap_or_default(),
                    p["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    for (user, token) in [
        ("alice", "alice-token"),
        ("bob", "bob-token"),
        ("carol", "carol-token"),
    ] {
        let whole = collection(token, String::new()).await;
        let mut all = kinds(&whole);
        all.sort();
        let mut expected = expected_collection(user);
        expected.sort();
        assert_eq!(all, expected, "{user}: collection");
        // Paged: the same items in the same order, the remaining count exact.
        let mut seen = Vec::new();
        let mut query = "&limit=3&withRemainingCount=true".to_owned();
        loop {
            let page = collection(token, query.clone()).await;
            seen.extend(kinds(&page));
            let left = page["remainingItemCount"].as_u64();
            match page["continue"].as_str() {
                Some(next) if !next.is_empty() => {
                    assert_eq!(left, Some((expected.len() - seen.len()) as u64), "{user}");
                    query = format!("&limit=3&withRemainingCount=true&continue={next}");
                }
                _ => break,
            }
        }
        assert_eq!(seen, kinds(&whole), "{user}: paged collection");
    }
    // Alice's collection token does not resume Bob's.
    let first = collection("alice-token", "&limit=1".into()).await;
    let token = first["continue"].as_str().expect("continue").to_owned();
    let answer = client
        .get(
            &format!(
                "/apis/clusterpedia.io/v1beta1/collectionresources/any?resources=/pods,apps/deployments&limit=1&continue={token}"
            ),
            &[("authorization", "Bearer bob-token")],
        )
        .await
        .expect("answer");
    assert_eq!(answer.status, 400);

    // Change-driven: a binding stored now shows at the next requests, long before the 10 s
    // refresh of the RBAC objects read moments ago (the layer's watch tells the apiserver).
    assert!(names(&list("carol-token", String::new()).await).is_empty());
    support::load(
        &*harness.factory,
        &[binding(&c0, None, "carol-everywhere", "carol")],
    )
    .await;
    let expected_carol: Vec<String> = {
        let mut names: Vec<String> = pods
            .iter()
            .filter(|p| *p.fields.cluster == *c0)
            .map(|p| {
                format!(
                    "{}/{}/{}",
                    p.fields.cluster, p.fields.namespace, p.fields.name
                )
            })
            .collect();
        names.sort();
        names
    };
    let started = std::time::Instant::now();
    loop {
        let seen = names(&list("carol-token", String::new()).await);
        if seen == expected_carol {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "carol still sees {} pods",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
