//! End-to-end access control with the real `kubectl`: the apiserver behind kube-sim as the host
//! cluster (`TokenReview` and `SubjectAccessReview` evaluated from the host's RBAC objects).
//! A user allowed by the host's RBAC lists pods (plain, chunked, Table); a user without rights
//! gets kubectl's `Forbidden` error; a token the host does not know is `Unauthorized`.

#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use futures::FutureExt as _;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_sim::{FixtureSpec as SimFixtures, Simulator, SimulatorHandle};
use serde_json::json;
use storage_api::{Gvr, StorageFactory};

use storage_conformance::fixtures::{FixtureSpec, Fixtures};
use support::Harness;

fn kubectl_binary() -> Option<PathBuf> {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    path.exists().then_some(path)
}

async fn grant_dev(sim: &SimulatorHandle) {
    let kubeconfig = Kubeconfig::from_yaml(&sim.kubeconfig_yaml("host")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "clusterpedia-reader"},
                "rules": [{"apiGroups": ["clusterpedia.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
                          {"nonResourceURLs": ["*"], "verbs": ["get"]}],
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

fn kubeconfig(harness: &Harness) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(&harness.ca_pem);
    let server = format!("https://{}{}", harness.addr, support::RESOURCES);
    // (A user without credentials makes kubectl prompt for a password: requests without
    // credentials are checked in the apiserver's tests/access.rs.)
    let users = [
        ("alice", "alice-token"),
        ("bob", "bob-token"),
        ("stranger", "not-a-known-token"),
    ];
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "clusterpedia", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": users.iter().map(|(name, token)| json!({
            "name": name,
            "user": {"token": token},
        })).collect::<Vec<_>>(),
        "contexts": users.iter().map(|(name, _)| json!({
            "name": name, "context": {"cluster": "clusterpedia", "user": name},
        })).collect::<Vec<_>>(),
        "current-context": "alice",
    })
    .to_string()
}

/// `kubectl` with the kubeconfig of `dir` in `context`, and nothing of the environment.
fn kubectl_command(kubectl: &Path, dir: &Path, context: &str) -> Command {
    let mut command = Command::new(kubectl);
    command
        .env_clear()
        .env("HOME", dir)
        .env("PATH", "/usr/bin:/bin")
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig.json"))
        .arg("--cache-dir")
        .arg(dir.join(format!("cache-{context}")))
        .arg("--context")
        .arg(context);
    command
}

fn kubectl(kubectl: &Path, dir: &Path, context: &str, args: &[&str]) -> (bool, String, String) {
    let output = kubectl_command(kubectl, dir, context)
        .args(args)
        .output()
        .expect("run kubectl");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_users_are_authorized_by_the_host_cluster() {
    let Some(binary) = kubectl_binary() else {
        eprintln!("kubectl is not installed (set KUBECTL): skipping");
        return;
    };
    let sim = Simulator::builder()
        .fixtures(SimFixtures::empty())
        .user("alice-token", "alice", &["dev"])
        .user("bob-token", "bob", &[])
        .start()
        .await
        .expect("host cluster");
    grant_dev(&sim).await;
    let fixtures = Fixtures::generate(&FixtureSpec::default());
    let pods = fixtures.of(&Gvr::new("", "v1", "pods")).len();
    assert!(pods > 3);
    let objects = fixtures.objects.clone();
    let host_kubeconfig = support::temp_dir("access-host").join("host.kubeconfig");
    sim.write_kubeconfig(&host_kubeconfig, "host")
        .expect("kubeconfig");
    let harness = Harness::start(
        || {
            async {
                Arc::new(storage_memory::MemoryStorageFactory::default()) as Arc<dyn StorageFactory>
            }
            .boxed()
        },
        move |factory| async move { support::load(&*factory, &objects).await }.boxed(),
        move |options, _| {
            options.authentication_kubeconfig = Some(host_kubeconfig.clone());
            options.authorization_kubeconfig = Some(host_kubeconfig);
        },
    );
    std::fs::write(harness.dir.join("kubeconfig.json"), kubeconfig(&harness)).expect("write");
    let dir = harness.dir.clone();
    let run = move |context: &'static str, args: &'static [&'static str]| {
        let binary = binary.clone();
        let dir = dir.clone();
        async move {
            tokio::task::spawn_blocking(move || kubectl(&binary, &dir, context, args))
                .await
                .expect("kubectl")
        }
    };

    let (ok, stdout, stderr) = run("alice", &["get", "pods", "-A"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), pods + 1, "{stdout}");
    assert!(
        stdout.lines().next().is_some_and(|h| h.contains("CLUSTER")),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(
        "alice",
        &["get", "pods", "-A", "--chunk-size=2", "-o", "name"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), pods, "{stdout}");

    let (ok, _, stderr) = run("bob", &["get", "pods", "-A"]).await;
    assert!(!ok);
    // kubectl's discovery fails first, and client-go prints discovery errors without their
    // message (`Error from server (Forbidden): unknown`, as against a kube-apiserver); the
    // message naming the user is checked in the apiserver's tests/access.rs.
    assert!(stderr.contains("Error from server (Forbidden)"), "{stderr}");

    let (ok, _, stderr) = run("stranger", &["get", "pods", "-A"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("You must be logged in to the server"),
        "{stderr}"
    );
    sim.shutdown().await;
}

/// An RBAC object of `cluster` as the synchro stores it.
fn rbac_object(
    cluster: &str,
    resource: &str,
    mut object: serde_json::Value,
) -> storage_api::ResourceObject {
    object["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    object["metadata"]["uid"] = json!(format!(
        "{cluster}-{resource}-{}",
        object["metadata"]["name"].as_str().unwrap_or_default()
    ));
    object["metadata"]["resourceVersion"] = json!("1");
    object["metadata"]["creationTimestamp"] = json!("2024-01-01T00:00:00Z");
    storage_api::ResourceObject::parse(
        Arc::from(cluster),
        Arc::new(Gvr::new("rbac.authorization.k8s.io", "v1", resource)),
        bytes::Bytes::from(serde_json::to_vec(&object).expect("json")),
    )
    .expect("object")
}

/// A copy of the pod `template` named `name` in `namespace` (same cluster).
fn new_pod(
    template: &storage_api::ResourceObject,
    namespace: &str,
    name: &str,
) -> storage_api::ResourceObject {
    let mut object: serde_json::Value = serde_json::from_slice(&template.raw).expect("json");
    object["metadata"]["name"] = json!(name);
    object["metadata"]["namespace"] = json!(namespace);
    object["metadata"]["uid"] = json!(format!("uid-{name}"));
    object["metadata"]["resourceVersion"] = json!("999999");
    storage_api::ResourceObject::parse(
        template.fields.cluster.clone(),
        template.fields.gvr.clone(),
        bytes::Bytes::from(serde_json::to_vec(&object).expect("json")),
    )
    .expect("pod")
}

/// Waits until the file at `path` contains `text` (at most 60 s).
async fn wait_for_output(path: &Path, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let output = std::fs::read_to_string(path).unwrap_or_default();
        if output.contains(text) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{text} not in {}: {output:?}; stderr: {:?}",
            path.display(),
            std::fs::read_to_string(path.with_extension("err")).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `--member-rbac-filter`: two users with different RBAC in the member clusters see different
/// pods through kubectl (plain, chunked, Table, watch), a user with no rights sees none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_users_see_what_member_rbac_allows() {
    let Some(binary) = kubectl_binary() else {
        eprintln!("kubectl is not installed (set KUBECTL): skipping");
        return;
    };
    let fixtures = Fixtures::generate(&FixtureSpec::default());
    let pods: Vec<storage_api::ResourceObject> = fixtures
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
    let n1 = namespaces[1].clone();
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
    let mut objects = fixtures.objects.clone();
    objects.extend([
        reader(&c0),
        reader(&c1),
        rbac_object(&c0, "clusterrolebindings", json!({
            "kind": "ClusterRoleBinding", "metadata": {"name": "alice"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
            "subjects": [{"kind": "User", "name": "alice"}],
        })),
        rbac_object(&c1, "rolebindings", json!({
            "kind": "RoleBinding", "metadata": {"name": "bob", "namespace": n1},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
            "subjects": [{"kind": "Group", "name": "team-b"}],
        })),
    ]);
    let count = |f: &dyn Fn(&str, &str) -> bool| {
        pods.iter()
            .filter(|p| f(&p.fields.cluster, &p.fields.namespace))
            .count()
    };
    let alice = count(&|c, _| c == c0);
    let bob = count(&|c, n| c == c1 && n == n1);
    assert!(alice > 0 && bob > 0 && alice != bob);
    let harness = Harness::start(
        || {
            async {
                Arc::new(storage_memory::MemoryStorageFactory::default()) as Arc<dyn StorageFactory>
            }
            .boxed()
        },
        move |factory| async move { support::load(&*factory, &objects).await }.boxed(),
        |options, dir| {
            let tokens = dir.join("users.csv");
            std::fs::write(
                &tokens,
                "alice-token,alice,1\nbob-token,bob,2,team-b\nstranger-token,carol,3\n",
            )
            .expect("tokens");
            options.token_auth_file = Some(tokens);
            options.member_rbac_filter = true;
        },
    );
    let kubeconfig = kubeconfig(&harness).replace("not-a-known-token", "stranger-token");
    std::fs::write(harness.dir.join("kubeconfig.json"), kubeconfig).expect("write");
    let dir = harness.dir.clone();
    let run = |context: &'static str, args: &'static [&'static str]| {
        let binary = binary.clone();
        let dir = dir.clone();
        async move {
            tokio::task::spawn_blocking(move || kubectl(&binary, &dir, context, args))
                .await
                .expect("kubectl")
        }
    };
    for (user, wanted) in [("alice", alice), ("bob", bob)] {
        let (ok, stdout, stderr) = run(user, &["get", "pods", "-A"]).await;
        assert!(ok, "{user}: {stderr}");
        assert_eq!(stdout.lines().count(), wanted + 1, "{user}: {stdout}");
        let (ok, stdout, stderr) =
            run(user, &["get", "pods", "-A", "--chunk-size=2", "-o", "name"]).await;
        assert!(ok, "{user}: {stderr}");
        assert_eq!(stdout.lines().count(), wanted, "{user}: {stdout}");
    }
    let (ok, stdout, stderr) = run("alice", &["get", "pods", "-A"]).await;
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains(&*c1),
        "alice sees nothing of {c1}: {stdout}"
    );
    let (ok, stdout, stderr) = run("stranger", &["get", "pods", "-A"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "", "{stdout}");
    assert!(stderr.contains("No resources found"), "{stderr}");

    // Watch: each user sees the events of the pods they may list, and only those.
    let mut watchers = Vec::new();
    for user in ["alice", "bob", "stranger"] {
        let out = dir.join(format!("watch-{user}.out"));
        let child = kubectl_command(&binary, &dir, user)
            .args(["get", "pods", "-A", "--watch-only", "-o", "name"])
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(out.with_extension("err")).expect("err"))
            .spawn()
            .expect("kubectl watch");
        watchers.push((user, child, out));
    }
    // kubectl lists, then watches from the list's resource version: events stored after the
    // list are delivered however late its watch request arrives.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let template = |cluster: &str| {
        pods.iter()
            .find(|p| *p.fields.cluster == *cluster)
            .expect("a pod")
    };
    let hidden = namespaces
        .iter()
        .find(|n| **n != n1)
        .expect("another namespace");
    support::load(
        &*harness.factory,
        &[
            new_pod(template(&c1), hidden, "watched-nobody"),
            new_pod(template(&c1), &n1, "watched-bob"),
            new_pod(template(&c0), "default", "watched-alice"),
        ],
    )
    .await;
    for (user, _, out) in &watchers {
        match *user {
            "alice" => wait_for_output(out, "pod/watched-alice").await,
            "bob" => wait_for_output(out, "pod/watched-bob").await,
            _ => {}
        }
    }
    // The events of other pods were written before: give them time to show, if they would.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for (user, mut child, out) in watchers {
        let _ = child.kill();
        let _ = child.wait();
        let output = std::fs::read_to_string(&out).unwrap_or_default();
        let lines: Vec<&str> = output.lines().collect();
        let expected: &[&str] = match user {
            "alice" => &["pod/watched-alice"],
            "bob" => &["pod/watched-bob"],
            _ => &[],
        };
        assert_eq!(lines, expected, "{user}");
    }
}

/// The member cluster's own RBAC, end to end (kube-sim → clustersynchro-manager → memory →
/// apiserver): a RoleBinding created in the member cluster shows its namespace's pods to the
/// user, its deletion hides them, each within the synchro's delay: the memory layer has watch,
/// so the apiserver reads the RBAC objects again on their change, not only every 10 s
/// (`member_rbac::SNAPSHOT_TTL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_rbac_changes_show_and_hide_pods_within_the_bound() {
    use clusterpedia_crds::{ClusterGroupResources, ClusterSpec, PediaCluster};
    use clusterpedia_synchro::{ClusterInput, Manager, SyncResourcesRef, SynchroOptions};
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use std::time::{Duration, Instant};

    /// What the test allows: the synchro's delay on a loaded machine, under the 10 s refresh
    /// that applies without watch (measured: a second or less).
    const BOUND: Duration = Duration::from_secs(8);

    let sim = Simulator::builder()
        .fixtures(SimFixtures::small())
        .bookmark_interval(Duration::from_millis(500))
        .start()
        .await
        .expect("simulator");
    let kubeconfig = Kubeconfig::from_yaml(&sim.kubeconfig_yaml("member")).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    let member = kube::Client::try_from(config).expect("client");
    let roles: Api<ClusterRole> = Api::all(member.clone());
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
            }))
            .expect("role"),
        )
        .await
        .expect("create role");
    // As in every real cluster, some RoleBinding exists already (so the apiserver knows the
    // resource and watches it; a type with no object yet is found by the 10 s refresh).
    Api::<RoleBinding>::namespaced(member.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "someone-else", "namespace": "default"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "someone-else"}],
            }))
            .expect("binding"),
        )
        .await
        .expect("create binding");
    let pods = Api::<Pod>::all(member.clone())
        .list(&Default::default())
        .await
        .expect("pods");
    let namespace = pods.items[0]
        .metadata
        .namespace
        .clone()
        .expect("namespaced");
    let in_namespace = pods
        .items
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(&namespace))
        .count();
    assert!(in_namespace > 0 && in_namespace < pods.items.len());

    let memory: Arc<dyn StorageFactory> = Arc::new(storage_memory::MemoryStorageFactory::default());
    let mut options = SynchroOptions::defaults();
    options.metrics_port = 0;
    options.health_check_interval = Duration::from_millis(200);
    options.feature_gates.sync_member_rbac = true;
    let manager = Manager::new(
        &options,
        memory.clone(),
        Default::default(),
        Arc::new(clusterpedia_synchro::status::LogStatusWriter),
        None,
    );
    manager.apply(ClusterInput {
        cluster: PediaCluster::new(
            "member",
            ClusterSpec {
                kubeconfig: Some(k8s_openapi::ByteString(
                    sim.kubeconfig_yaml("member").into_bytes(),
                )),
                sync_resources: vec![ClusterGroupResources {
                    group: String::new(),
                    resources: vec!["pods".into()],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ),
        sync_resources_ref: SyncResourcesRef::None,
    });
    let served = memory.clone();
    let harness = Harness::start(
        move || async move { served }.boxed(),
        |_| async {}.boxed(),
        |options, dir| {
            let tokens = dir.join("users.csv");
            std::fs::write(&tokens, "alice-token,alice,1\n").expect("tokens");
            options.token_auth_file = Some(tokens);
            options.member_rbac_filter = true;
        },
    );
    let client = harness.client();
    let stored = |resource: &'static str| {
        let memory = memory.clone();
        async move {
            let gvr = if resource == "pods" {
                Gvr::new("", "v1", "pods")
            } else {
                Gvr::new("rbac.authorization.k8s.io", "v1", resource)
            };
            let types = memory.stored_resource_types().await.expect("types");
            let Some(t) = types.iter().find(|t| t.gvr == gvr) else {
                return 0;
            };
            let storage = memory
                .new_resource_storage(storage_api::ResourceStorageConfig {
                    gvr,
                    kind: t.kind.clone(),
                    namespaced: t.namespaced,
                })
                .await
                .expect("storage");
            storage
                .list(&storage_api::ListOptions::default())
                .await
                .expect("list")
                .items
                .len()
        }
    };
    let alice_sees = || {
        let client = client.clone();
        async move {
            let answer = client
                .get(
                    "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods",
                    &[("authorization", "Bearer alice-token")],
                )
                .await
                .expect("list");
            // 404 until the apiserver's catalog knows that pods are stored.
            assert!(
                answer.status == 200 || answer.status == 404,
                "{:?}",
                answer.body
            );
            (answer.status == 200).then(|| answer.json()["items"].as_array().map_or(0, Vec::len))
        }
    };
    let wait = |what: &'static str, bound: Duration, pred: Box<dyn Fn(usize) -> bool + Send>| {
        let alice_sees = &alice_sees;
        async move {
            let started = Instant::now();
            loop {
                let seen = alice_sees().await.expect("pods are served");
                if pred(seen) {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < bound,
                    "{what}: alice still sees {seen} pods after {:?}",
                    started.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Synced: every pod and the ClusterRole stored; Alice, bound to nothing, sees nothing.
    let started = Instant::now();
    while stored("pods").await < pods.items.len()
        || stored("clusterroles").await == 0
        || stored("rolebindings").await == 0
    {
        assert!(started.elapsed() < Duration::from_secs(60), "not synced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = loop {
        if let Some(seen) = alice_sees().await {
            break seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "pods not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen, 0);

    let bindings: Api<RoleBinding> = Api::namespaced(member.clone(), &namespace);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "alice", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
            }))
            .expect("binding"),
        )
        .await
        .expect("create binding");
    let shown = wait(
        "binding created",
        BOUND,
        Box::new(move |seen| seen == in_namespace),
    )
    .await;
    bindings
        .delete("alice", &DeleteParams::default())
        .await
        .expect("delete binding");
    let hidden = wait("binding deleted", BOUND, Box::new(|seen| seen == 0)).await;
    eprintln!("a RoleBinding showed its pods after {shown:?} and hid them after {hidden:?}");
    manager.shutdown().await;
    sim.shutdown().await;
}
