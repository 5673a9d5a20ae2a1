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
use kube::api::PostParams;
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

fn kubectl(kubectl: &Path, dir: &Path, context: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(kubectl)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", "/usr/bin:/bin")
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig.json"))
        .arg("--cache-dir")
        .arg(dir.join(format!("cache-{context}")))
        .arg("--context")
        .arg(context)
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

/// `--member-rbac-filter`: two users with different RBAC in the member clusters see different
/// pods through kubectl (plain, chunked, Table), a user with no rights sees none.
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
}
