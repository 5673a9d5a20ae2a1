//! End-to-end: the real `kubectl` (`/usr/bin/kubectl`, or `$KUBECTL`) against the apiserver,
//! over the conformance fixtures stored through the storage API, as a newcomer uses it: a
//! kubeconfig whose server is `.../resources` (every cluster), `.../resources/clusters/<name>`
//! (one cluster) or the server root (collection resources), with the generated CA and a token.
//!
//! The checks are generic over the storage layer: [`kubectl_suite!`] runs all of them against
//! one factory constructor: here `memory`, and `internal` on an embedded SQLite file.

#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use futures::FutureExt as _;
use storage_api::{Gvr, ResourceObject, StorageFactory};
use storage_conformance::fixtures::{FixtureSpec, Fixtures};
use support::{Harness, TOKEN};

/// The kubectl binary.
fn kubectl_binary() -> Option<PathBuf> {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    path.exists().then_some(path)
}

/// A server over one layer with the fixtures, and a kubeconfig to reach it.
pub struct Kube {
    harness: Harness,
    fixtures: Fixtures,
    kubeconfig: PathBuf,
    home: PathBuf,
    kubectl: PathBuf,
}

/// What a kubectl run printed.
#[derive(Debug)]
pub struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> String {
        assert!(self.success, "kubectl failed: {}", self.stderr);
        self.stdout
    }

    fn fails_with(self, message: &str) {
        self.fails_with_all(&[message]);
    }

    fn fails_with_all(self, messages: &[&str]) {
        assert!(!self.success, "kubectl succeeded: {}", self.stdout);
        for message in messages {
            assert!(
                self.stderr.contains(message),
                "stderr does not contain {message:?}:\n{}",
                self.stderr
            );
        }
    }
}

impl Kube {
    /// Starts a server over the factory `make` builds, loaded with the default fixtures.
    /// `None` when kubectl is not installed.
    pub fn start(
        make: impl FnOnce() -> futures::future::BoxFuture<'static, Arc<dyn StorageFactory>>
        + Send
        + 'static,
    ) -> Option<Self> {
        let Some(kubectl) = kubectl_binary() else {
            eprintln!("kubectl is not installed (set KUBECTL): skipping the kubectl checks");
            return None;
        };
        let fixtures = Fixtures::generate(&FixtureSpec::default());
        let objects = fixtures.objects.clone();
        let harness = Harness::start(
            make,
            move |factory| async move { support::load(&*factory, &objects).await }.boxed(),
            |_, _| {},
        );
        let home = harness.dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let kubeconfig = harness.dir.join("kubeconfig.json");
        std::fs::write(&kubeconfig, kubeconfig_json(&harness, &fixtures.clusters()))
            .expect("kubeconfig");
        Some(Self {
            harness,
            fixtures,
            kubeconfig,
            home,
            kubectl,
        })
    }

    /// Runs `kubectl --context <context> <args>`.
    fn run(&self, context: &str, args: &[&str]) -> Run {
        let output = Command::new(&self.kubectl)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .arg("--context")
            .arg(context)
            .args(args)
            .output()
            .expect("run kubectl");
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts `kubectl --context <context> <args>` and returns the lines of its stdout read
    /// until `wanted` lines arrived or `timeout` passed; then kills it.
    fn stream(
        &self,
        context: &str,
        args: &[&str],
        wanted: usize,
        timeout: std::time::Duration,
    ) -> Vec<String> {
        use std::io::BufRead as _;
        let mut child = Command::new(&self.kubectl)
            .env_clear()
            .env("HOME", &self.home)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .arg("--context")
            .arg(context)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run kubectl");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + timeout;
        let mut lines = Vec::new();
        while lines.len() < wanted {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        lines
    }

    /// `kubectl --context clusterpedia <args>`, which must succeed.
    fn all(&self, args: &[&str]) -> String {
        self.run("clusterpedia", args).ok()
    }

    fn of(&self, resource: &str, group: &str) -> Vec<&ResourceObject> {
        self.fixtures.of(&Gvr::new(group, "v1", resource))
    }

    fn cluster(&self, i: usize) -> String {
        self.fixtures.clusters()[i].clone()
    }
}

fn kubeconfig_json(harness: &Harness, clusters: &[String]) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(&harness.ca_pem);
    let root = format!("https://{}", harness.addr);
    let resources = format!("{root}{}", support::RESOURCES);
    let mut servers: Vec<(String, String)> = vec![
        ("clusterpedia".into(), resources.clone()),
        ("root".into(), root),
        ("unknown".into(), format!("{resources}/clusters/unknown")),
    ];
    servers.extend(
        clusters
            .iter()
            .map(|c| (c.clone(), format!("{resources}/clusters/{c}"))),
    );
    let mut contexts: Vec<serde_json::Value> = servers
        .iter()
        .map(|(name, _)| serde_json::json!({"name": name, "context": {"cluster": name, "user": "tester"}}))
        .collect();
    contexts.push(serde_json::json!({"name": "intruder", "context": {"cluster": "clusterpedia", "user": "intruder"}}));
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": servers.iter().map(|(name, server)| serde_json::json!({
            "name": name,
            "cluster": {"server": server, "certificate-authority-data": ca},
        })).collect::<Vec<_>>(),
        "users": [
            {"name": "tester", "user": {"token": TOKEN}},
            {"name": "intruder", "user": {"token": "not-a-known-token"}},
        ],
        "contexts": contexts,
        "current-context": "clusterpedia",
    })
    .to_string()
}

/// The whitespace-separated fields of each line (kubectl tables).
fn rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect()
}

/// `cluster/namespace/name` of objects.
fn keys<'a>(objects: impl IntoIterator<Item = &'a ResourceObject>) -> BTreeSet<String> {
    objects
        .into_iter()
        .map(|o| {
            format!(
                "{}/{}/{}",
                o.fields.cluster, o.fields.namespace, o.fields.name
            )
        })
        .collect()
}

/// The header cells of a kubectl table (split on runs of two spaces, kubectl's column gap).
fn header(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The checks, each a function of a started [`Kube`].
#[allow(missing_docs)]
pub mod checks {
    use super::*;

    pub fn get_pods_all_namespaces(kube: &Kube) {
        let out = kube.all(&["get", "pods", "-A"]);
        assert_eq!(
            header(&out),
            [
                "NAMESPACE",
                "CLUSTER",
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE"
            ]
        );
        let rows = rows(&out);
        let got: Vec<String> = rows[1..]
            .iter()
            .map(|r| format!("{}/{}/{}", r[1], r[0], r[2]))
            .collect();
        let expected = keys(kube.of("pods", ""));
        assert_eq!(got.len(), expected.len(), "one row per pod");
        assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    }

    pub fn get_deployments_in_a_namespace(kube: &Kube) {
        let out = kube.all(&["get", "deploy", "-n", "payments"]);
        assert_eq!(
            header(&out),
            ["CLUSTER", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        );
        let got: BTreeSet<String> = rows(&out)[1..]
            .iter()
            .map(|r| format!("{}/payments/{}", r[0], r[1]))
            .collect();
        let expected = keys(
            kube.of("deployments", "apps")
                .into_iter()
                .filter(|o| o.fields.namespace == "payments"),
        );
        assert_eq!(got, expected);
        let names = kube.all(&["get", "deploy", "-n", "payments", "-o", "name"]);
        assert!(
            names.lines().all(|l| l.starts_with("deployment.apps/")),
            "{names}"
        );
        assert_eq!(names.lines().count(), expected.len());
    }

    pub fn search_labels_select_clusters(kube: &Kube) {
        let (a, b) = (kube.cluster(0), kube.cluster(2));
        let selector = format!("search.clusterpedia.io/clusters in ({a},{b})");
        let out = kube.all(&["get", "pods", "-A", "-l", &selector, "--no-headers"]);
        let got: BTreeSet<String> = rows(&out)
            .iter()
            .map(|r| format!("{}/{}/{}", r[1], r[0], r[2]))
            .collect();
        let expected = keys(
            kube.of("pods", "")
                .into_iter()
                .filter(|o| *o.fields.cluster == *a || *o.fields.cluster == *b),
        );
        assert_eq!(got, expected);
    }

    pub fn search_labels_order_by_name_descending(kube: &Kube) {
        let out = kube.all(&[
            "get",
            "configmaps",
            "-A",
            "-l",
            "search.clusterpedia.io/orderby=name_desc",
            "--no-headers",
        ]);
        let names: Vec<&str> = rows(&out).iter().map(|r| r[2]).collect();
        assert_eq!(names.len(), kube.of("configmaps", "").len());
        let mut sorted = names.clone();
        sorted.sort_by(|x, y| y.cmp(x));
        assert_eq!(names, sorted);
    }

    pub fn search_labels_select_by_owner(kube: &Kube) {
        let cluster = kube.cluster(1);
        let deployment = kube
            .of("deployments", "apps")
            .into_iter()
            .find(|d| *d.fields.cluster == *cluster)
            .expect("a deployment");
        let replica_sets: BTreeSet<&str> = kube
            .of("replicasets", "apps")
            .into_iter()
            .filter(|r| {
                *r.fields.cluster == *cluster && r.fields.owner_uid == deployment.fields.uid
            })
            .map(|r| r.fields.uid.as_str())
            .collect();
        let expected = keys(kube.of("pods", "").into_iter().filter(|p| {
            *p.fields.cluster == *cluster && replica_sets.contains(p.fields.owner_uid.as_str())
        }));
        assert!(!expected.is_empty());
        let selector = format!(
            "search.clusterpedia.io/owner-name={},search.clusterpedia.io/owner-gr=deployments.apps,search.clusterpedia.io/owner-seniority=1",
            deployment.fields.name
        );
        let out = kube
            .run(
                &cluster,
                &[
                    "get",
                    "pods",
                    "-n",
                    &deployment.fields.namespace,
                    "-l",
                    &selector,
                    "--no-headers",
                ],
            )
            .ok();
        let got: BTreeSet<String> = rows(&out)
            .iter()
            .map(|r| format!("{}/{}/{}", r[0], deployment.fields.namespace, r[1]))
            .collect();
        assert_eq!(got, expected);
    }

    pub fn chunked_lists_have_no_gap_and_no_duplicate(kube: &Kube) {
        let expected = keys(kube.of("pods", ""));
        // Tables, page by page.
        let out = kube.all(&["get", "pods", "-A", "--chunk-size=7", "--no-headers"]);
        let got: Vec<String> = rows(&out)
            .iter()
            .map(|r| format!("{}/{}/{}", r[1], r[0], r[2]))
            .collect();
        assert_eq!(got.len(), expected.len());
        assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
        // JSON, page by page.
        let out = kube.all(&[
            "get",
            "pods",
            "-A",
            "--chunk-size=11",
            "--no-headers",
            "-o",
            r"custom-columns=C:.metadata.annotations.shadow\.clusterpedia\.io/cluster-name,NS:.metadata.namespace,N:.metadata.name",
        ]);
        let got: Vec<String> = rows(&out).iter().map(|r| r.join("/")).collect();
        assert_eq!(got.len(), expected.len());
        assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);
    }

    pub fn wide_json_and_name_output(kube: &Kube) {
        let wide = kube.all(&["get", "pods", "-n", "default", "-o", "wide"]);
        assert_eq!(
            header(&wide),
            [
                "CLUSTER",
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES"
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(&kube.all(&["get", "pods", "-n", "default", "-o", "json"]))
                .expect("JSON");
        let items = json["items"].as_array().expect("items");
        assert_eq!(
            items.len(),
            kube.of("pods", "")
                .iter()
                .filter(|p| p.fields.namespace == "default")
                .count()
        );
        assert!(items.iter().all(|i| {
            i["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"].is_string()
        }));
        assert_eq!(items[0]["kind"], "Pod");
        let names = kube.all(&["get", "pods", "-n", "default", "-o", "name"]);
        assert!(names.lines().all(|l| l.starts_with("pod/")), "{names}");
        let nodes = kube.all(&["get", "nodes"]);
        assert_eq!(
            header(&nodes),
            ["CLUSTER", "NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        );
        assert_eq!(rows(&nodes).len() - 1, kube.of("nodes", "").len());
    }

    pub fn get_one_object_of_one_cluster(kube: &Kube) {
        let pod = kube.of("pods", "")[0];
        let out = kube
            .run(
                &pod.fields.cluster,
                &["get", "pod", &pod.fields.name, "-n", &pod.fields.namespace],
            )
            .ok();
        let rows = rows(&out);
        assert_eq!(rows.len(), 2, "{out}");
        assert_eq!(rows[1][0], &*pod.fields.cluster);
        assert_eq!(rows[1][1], pod.fields.name);
        let yaml = kube
            .run(
                &pod.fields.cluster,
                &[
                    "get",
                    "pod",
                    &pod.fields.name,
                    "-n",
                    &pod.fields.namespace,
                    "-o",
                    "jsonpath={.metadata.uid}",
                ],
            )
            .ok();
        assert_eq!(yaml, pod.fields.uid);
    }

    pub fn api_resources_lists_what_is_stored(kube: &Kube) {
        let out = kube.all(&["api-resources"]);
        let rows = rows(&out);
        let find = |name: &str| {
            rows.iter()
                .find(|r| r[0] == name)
                .unwrap_or_else(|| panic!("{name} not listed:\n{out}"))
                .clone()
        };
        assert_eq!(find("pods"), ["pods", "po", "v1", "true", "Pod"]);
        assert_eq!(find("nodes"), ["nodes", "no", "v1", "false", "Node"]);
        assert_eq!(
            find("deployments"),
            ["deployments", "deploy", "apps/v1", "true", "Deployment"]
        );
        assert_eq!(
            find("widgets"),
            ["widgets", "example.io/v1", "true", "Widget"]
        );
        assert!(!out.contains("secrets"), "only stored resources: {out}");
        let cluster_out = kube
            .run(&kube.cluster(0), &["api-resources", "--api-group=apps"])
            .ok();
        assert!(cluster_out.contains("deployments"), "{cluster_out}");
    }

    pub fn collection_resources_through_get_raw_and_get(kube: &Kube) {
        let list: serde_json::Value = serde_json::from_str(
            &kube
                .run(
                    "root",
                    &[
                        "get",
                        "--raw",
                        "/apis/clusterpedia.io/v1beta1/collectionresources",
                    ],
                )
                .ok(),
        )
        .expect("JSON");
        assert_eq!(list["kind"], "CollectionResourceList");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(3));
        let workloads: serde_json::Value = serde_json::from_str(
            &kube
                .run(
                    "root",
                    &[
                        "get",
                        "--raw",
                        "/apis/clusterpedia.io/v1beta1/collectionresources/workloads?limit=3",
                    ],
                )
                .ok(),
        )
        .expect("JSON");
        assert_eq!(workloads["kind"], "CollectionResource");
        assert_eq!(workloads["items"].as_array().map(Vec::len), Some(3));
        let table = kube.run("root", &["get", "collectionresources"]).ok();
        let rows = rows(&table);
        assert_eq!(rows[0], ["NAME", "RESOURCES"]);
        assert_eq!(rows[1], ["any", "*"]);
        assert_eq!(
            rows[2],
            [
                "workloads",
                "deployments.apps,daemonsets.apps,statefulsets.apps"
            ]
        );
        let items = kube
            .run("root", &["get", "collectionresources", "workloads"])
            .ok();
        assert_eq!(
            header(&items),
            [
                "CLUSTER",
                "GROUP",
                "VERSION",
                "KIND",
                "NAMESPACE",
                "NAME",
                "AGE"
            ]
        );
        let workloads_count = ["deployments", "daemonsets", "statefulsets"]
            .iter()
            .map(|r| kube.of(r, "apps").len())
            .sum::<usize>();
        assert_eq!(super::rows(&items).len() - 1, workloads_count);
    }

    pub fn errors_print_the_original_messages(kube: &Kube) {
        let pod = kube.of("pods", "")[0];
        kube.run("clusterpedia", &["get", "pod", &pod.fields.name, "-n", &pod.fields.namespace])
            .fails_with("Error from server (BadRequest): please specify the cluster name when using the resource name to get a specific resource.");
        kube.run("unknown", &["get", "pods"])
            .fails_with("the server could not find the requested cluster");
        kube.run("clusterpedia", &["get", "secrets"])
            .fails_with("the server doesn't have a resource type \"secrets\"");
        kube.run("intruder", &["get", "pods"])
            .fails_with("error: You must be logged in to the server (Unauthorized)");
        kube.run(
            "clusterpedia",
            &[
                "get",
                "pods",
                "-l",
                "search.clusterpedia.io/since=2022-13-01",
            ],
        )
        .fails_with_all(&[
            "Error from server (BadRequest)",
            "search.clusterpedia.io/since: Invalid datetime: 2022-13-01",
        ]);
        kube.run(
            "clusterpedia",
            &["get", "pods", "-l", "search.clusterpedia.io/owner-name=web"],
        )
        .fails_with("Error from server (BadRequest)");
        kube.run(
            &pod.fields.cluster,
            &["get", "pod", "nope", "-n", &pod.fields.namespace],
        )
        .fails_with("Error from server (NotFound): pods \"nope\" not found");
        kube.run(
            "root",
            &[
                "get",
                "--raw",
                "/apis/clusterpedia.io/v1beta1/resources/clusters",
            ],
        )
        .fails_with("Error from server (NotFound)");
        kube.run(
            "root",
            &[
                "get",
                "--raw",
                "/apis/clusterpedia.io/v1beta1/collectionresources/any",
            ],
        )
        .fails_with("Error from server (BadRequest)");
        kube.run(
            "root",
            &[
                "get",
                "--raw",
                "/apis/clusterpedia.io/v1beta1/resources/api/v1/secrets",
            ],
        )
        .fails_with("Error from server (NotFound)");
    }
}

/// Runs every check of [`checks`] as its own test against one server over the factory `$make`
/// builds (a `fn() -> BoxFuture<'static, Arc<dyn StorageFactory>>`).
macro_rules! kubectl_suite {
    ($layer:ident, $make:expr) => {
        mod $layer {
            use super::*;

            pub(super) fn kube() -> Option<&'static Kube> {
                static KUBE: std::sync::OnceLock<Option<Kube>> = std::sync::OnceLock::new();
                KUBE.get_or_init(|| Kube::start($make)).as_ref()
            }

            kubectl_suite!(@checks
                get_pods_all_namespaces,
                get_deployments_in_a_namespace,
                search_labels_select_clusters,
                search_labels_order_by_name_descending,
                search_labels_select_by_owner,
                chunked_lists_have_no_gap_and_no_duplicate,
                wide_json_and_name_output,
                get_one_object_of_one_cluster,
                api_resources_lists_what_is_stored,
                collection_resources_through_get_raw_and_get,
                errors_print_the_original_messages
            );
        }
    };
    (@checks $($check:ident),*) => {
        $(
            #[test]
            fn $check() {
                if let Some(kube) = kube() {
                    checks::$check(kube);
                }
            }
        )*
    };
}

kubectl_suite!(memory, || {
    async { Arc::new(storage_memory::MemoryStorageFactory::default()) as Arc<dyn StorageFactory> }
        .boxed()
});

/// `kubectl get -w --watch-only`: kubectl lists, then watches from the list's resource
/// version; a change made through the storage API then arrives as a one-row table. Returns
/// the table and the changed object.
fn watch_one_change(kube: &Kube, resource: &str, args: &[&str]) -> (String, ResourceObject) {
    let gvr = Gvr::new("", "v1", resource);
    let object = kube
        .of(resource, "")
        .into_iter()
        .find(|o| o.fields.namespace == "payments")
        .expect("an object in payments")
        .clone();
    let (lines, _) = std::thread::scope(|scope| {
        let watching = scope
            .spawn(|| kube.stream("clusterpedia", args, 2, std::time::Duration::from_secs(20)));
        // Let kubectl list and start watching, then change the object.
        std::thread::sleep(std::time::Duration::from_secs(3));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let storage = kube
                .harness
                .factory
                .new_resource_storage(storage_api::ResourceStorageConfig {
                    gvr,
                    kind: object.fields.kind.to_string(),
                    namespaced: true,
                })
                .await
                .expect("storage");
            storage
                .apply(vec![storage_api::Change::Upsert(object.clone())])
                .await
                .expect("update");
        });
        (watching.join().expect("kubectl"), ())
    });
    (lines.join("\n"), object)
}

/// `kubectl get -w --watch-only` on memory (a layer with watch): the change arrives as a
/// one-row table with the CLUSTER column.
#[test]
fn memory_watch_streams_table_rows() {
    let Some(kube) = memory::kube() else {
        return;
    };
    let args = ["get", "configmaps", "-n", "payments", "--watch-only"];
    let (text, configmap) = watch_one_change(kube, "configmaps", &args);
    assert_eq!(header(&text), ["CLUSTER", "NAME", "DATA", "AGE"], "{text}");
    let row = &rows(&text)[1];
    assert_eq!(
        (row[0], row[1]),
        (&*configmap.fields.cluster, configmap.fields.name.as_str())
    );
}

/// `kubectl get pods -A -w --watch-only` on `internal` (its change log): a change arrives as a
/// row with the NAMESPACE and CLUSTER columns.
#[test]
fn internal_watch_all_namespaces_streams_rows_with_the_cluster() {
    let Some(kube) = internal_sqlite::kube() else {
        return;
    };
    let args = ["get", "pods", "-A", "--watch-only"];
    let (text, pod) = watch_one_change(kube, "pods", &args);
    assert_eq!(
        header(&text)[..3],
        ["NAMESPACE", "CLUSTER", "NAME"],
        "{text}"
    );
    let row = &rows(&text)[1];
    assert_eq!(
        (row[0], row[1], row[2]),
        (
            pod.fields.namespace.as_str(),
            &*pod.fields.cluster,
            pod.fields.name.as_str()
        ),
        "{text}"
    );
}

kubectl_suite!(internal_sqlite, || {
    async {
        let path = support::temp_dir("sqlite").join("clusterpedia.db");
        let config = storage_internal::InternalConfig::sqlite(&path);
        let factory = storage_internal::InternalStorageFactory::connect(
            config.connection().expect("SQLite connection"),
        )
        .await
        .expect("SQLite database");
        Arc::new(factory) as Arc<dyn StorageFactory>
    }
    .boxed()
});
