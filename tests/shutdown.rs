//! SIGTERM drains: the apiserver and the binding-apiserver, as real processes, stop accepting
//! connections at once, let a list that is being streamed to a slow client finish, then exit 0;
//! a request still in flight at `--shutdown-grace-period` is cut and the process exits 0.
//! And, the same processes being at hand: apiserver replicas over one database are stateless,
//! a continue token minted by one is accepted by another that shares `--continue-token-key-file`.
//!
//! The pods are stored in a fresh PostgreSQL schema (`INTERNAL_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) through the internal layer; the client is `curl`
//! with `--limit-rate`, so that the body (about 18 MB) is still being sent when SIGTERM comes.

#![cfg(feature = "internal-storage")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_api::{Change, Gvr, ResourceObject, ResourceStorageConfig, StorageFactory as _};
use storage_internal::{InternalConfig, InternalStorageFactory};

/// Pods stored (3 KB each).
const PODS: usize = 6000;

fn postgres_url() -> String {
    std::env::var("INTERNAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn psql(sql: &str) {
    let status = Command::new("psql")
        .arg(postgres_url())
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .status()
        .expect("psql");
    assert!(status.success(), "psql {sql}");
}

/// A fresh schema holding [`PODS`] pods; dropped with the value.
struct Schema(String);

impl Schema {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!(
            "cp_shutdown_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000
        );
        // Once per database, in public. Tests run in parallel: on a fresh database two
        // `CREATE EXTENSION IF NOT EXISTS` race and one fails on the catalog's unique index, so
        // the creation is serialized by an advisory lock (one `-c`: one transaction).
        psql(
            "SELECT pg_advisory_xact_lock(7454215); \
             CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
        );
        psql(&format!("CREATE SCHEMA {name}"));
        let schema = Self(name);
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(schema.load());
        schema
    }

    async fn load(&self) {
        let mut config = InternalConfig {
            db_type: Some("postgres".into()),
            dsn: Some(postgres_url()),
            ..InternalConfig::default()
        };
        config.params = [("search_path".to_owned(), format!("{},public", self.0))]
            .into_iter()
            .collect();
        let factory = InternalStorageFactory::connect(config.connection().expect("config"))
            .await
            .expect("connect");
        let gvr = Gvr::new("", "v1", "pods");
        let pods = factory
            .new_resource_storage(ResourceStorageConfig {
                gvr: gvr.clone(),
                kind: "Pod".into(),
                namespaced: true,
            })
            .await
            .expect("pods storage");
        let gvr = Arc::new(gvr);
        for chunk in (0..PODS).collect::<Vec<_>>().chunks(500) {
            let changes = chunk
                .iter()
                .map(|i| {
                    let raw = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": format!("pod-{i:05}"), "namespace": "default",
                                     "uid": format!("uid-{i}"), "resourceVersion": "1"},
                        "spec": {"containers": [{"name": "c", "image": "nginx",
                                                 "padding": "x".repeat(3000)}]}});
                    let raw = serde_json::to_vec(&raw).expect("json");
                    Change::Upsert(
                        ResourceObject::parse("c1".into(), gvr.clone(), raw.into()).expect("pod"),
                    )
                })
                .collect();
            pods.apply(changes).await.expect("apply");
        }
        factory.shutdown().await.expect("shutdown");
    }

    fn config_file(&self, dir: &Path) -> PathBuf {
        let file = dir.join("storage.yaml");
        std::fs::write(
            &file,
            format!(
                "type: postgres\ndsn: {}\nparams: {{search_path: \"{},public\"}}\n",
                postgres_url(),
                self.0
            ),
        )
        .expect("write the storage config");
        file
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
    }
}

/// A started process, killed if the test fails before it exits.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(port: u16, path: &str) -> Command {
    let mut curl = Command::new("curl");
    curl.args(["-k", "-s", "--max-time", "120"])
        .arg(format!("https://127.0.0.1:{port}{path}"));
    curl
}

/// Starts `binary` on `port` over the schema, with the extra `args`; waits until `/readyz`.
fn start(binary: &str, port: u16, storage: &Path, dir: &Path, args: &[&str]) -> Process {
    let name = Path::new(binary)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = Command::new(binary)
        .args(["--bind-address", "127.0.0.1", "--anonymous-auth"])
        .arg("--secure-port")
        .arg(port.to_string())
        .arg("--storage-config")
        .arg(storage)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the server");
    let process = Process(child);
    let started = Instant::now();
    loop {
        let ready = curl(port, "/readyz").output().expect("curl");
        if ready.stdout == b"ok" {
            return process;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{binary} not ready: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sigterm(process: &Process) {
    let status = Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Starts the unlimited pods list (streamed, [`PODS`] items) at `rate` bytes/s into `out`,
/// and waits until its body has started.
fn slow_list(port: u16, rate: &str, out: &Path) -> Child {
    let child = curl(port, "/apis/clusterpedia.io/v1beta1/resources/api/v1/pods")
        .args(["--limit-rate", rate, "-o"])
        .arg(out)
        .args(["-w", "%{http_code}"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let started = Instant::now();
    while std::fs::metadata(out).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "no body");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Waits for `process` to exit, at most `limit`; its exit status.
fn wait_exit(process: &mut Process, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = process.0.try_wait().expect("wait") {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "the server did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM during a streamed list: new connections are refused at once, the list is answered
/// whole, then the process exits 0.
fn drains(binary: &str, extra: &[&str]) {
    let schema = Schema::new();
    let dir = tempdir();
    let storage = schema.config_file(&dir);
    let port = free_port();
    let mut args = vec!["--shutdown-grace-period", "60s"];
    args.extend_from_slice(extra);
    let mut server = start(binary, port, &storage, &dir, &args);
    let out = dir.join("pods.json");
    // About 18 MB at 3 MB/s: six seconds of streaming.
    let list = slow_list(port, "3M", &out);
    sigterm(&server);
    let refused_at = Instant::now();
    loop {
        let livez = curl(port, "/livez").output().expect("curl");
        if !livez.status.success() {
            break;
        }
        assert!(
            refused_at.elapsed() < Duration::from_secs(5),
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let answer = list.wait_with_output().expect("curl");
    assert_eq!(String::from_utf8_lossy(&answer.stdout), "200");
    assert!(answer.status.success(), "curl: {answer:?}");
    let body: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("body")).expect("a whole JSON list");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(PODS));
    let status = wait_exit(&mut server, Duration::from_secs(30));
    assert!(status.success(), "{binary} exited with {status}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cp-shutdown-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

#[test]
fn apiserver_drains_a_streamed_list_on_sigterm_and_exits_0() {
    drains(env!("CARGO_BIN_EXE_apiserver"), &[]);
}

#[test]
fn binding_apiserver_drains_a_streamed_list_on_sigterm_and_exits_0() {
    let dir = tempdir();
    let clusters = dir.join("clusters.yaml");
    std::fs::write(&clusters, "").expect("clusters file");
    let clusters = clusters.to_string_lossy().into_owned();
    drains(
        env!("CARGO_BIN_EXE_binding-apiserver"),
        &["--clusters-config", &clusters, "--metrics-port", "0"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client slower than `--shutdown-grace-period`: the process does not wait for it longer
/// than that, and still exits 0.
#[test]
fn apiserver_stops_at_the_shutdown_grace_period() {
    let schema = Schema::new();
    let dir = tempdir();
    let storage = schema.config_file(&dir);
    let port = free_port();
    let mut server = start(
        env!("CARGO_BIN_EXE_apiserver"),
        port,
        &storage,
        &dir,
        &["--shutdown-grace-period", "1s"],
    );
    let out = dir.join("pods.json");
    // 18 MB at 100 KB/s would take three minutes.
    let mut list = slow_list(port, "100K", &out);
    sigterm(&server);
    let signalled = Instant::now();
    let status = wait_exit(&mut server, Duration::from_secs(15));
    assert!(status.success(), "exited with {status}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "{:?}",
        signalled.elapsed()
    );
    let _ = list.kill();
    let _ = list.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The pods' names of one page, and its continue token.
fn page(port: u16, query: &str) -> (u16, serde_json::Value) {
    let out = curl(
        port,
        &format!("/apis/clusterpedia.io/v1beta1/resources/api/v1/pods?{query}"),
    )
    .args(["-w", "\n%{http_code}"])
    .output()
    .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status code");
    let code = code.trim().parse().expect("status code");
    (code, serde_json::from_str(body).unwrap_or_default())
}

fn names(list: &serde_json::Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Three apiserver processes over one schema: the two sharing `--continue-token-key-file`
/// continue each other's lists (the same next page either way), the third, with another key,
/// refuses the token with a 400 naming it.
#[test]
fn apiserver_replicas_accept_each_others_continue_tokens() {
    let schema = Schema::new();
    let dir = tempdir();
    let storage = schema.config_file(&dir);
    let shared_key = dir.join("shared.key");
    std::fs::write(&shared_key, format!("{}\n", "s".repeat(44))).expect("key");
    let other_key = dir.join("other.key");
    std::fs::write(&other_key, "o".repeat(44)).expect("key");
    let replica = |key: &Path, name: &str| {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).expect("dir");
        let port = free_port();
        let key = key.to_string_lossy().into_owned();
        let process = start(
            env!("CARGO_BIN_EXE_apiserver"),
            port,
            &storage,
            &home,
            &["--continue-token-key-file", &key],
        );
        (port, process)
    };
    let (a, _a) = replica(&shared_key, "a");
    let (b, _b) = replica(&shared_key, "b");
    let (c, _c) = replica(&other_key, "c");

    let (code, first) = page(a, "limit=500");
    assert_eq!(code, 200, "{first}");
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("a continue token")
        .to_owned();
    let query = format!("limit=500&continue={token}");
    let (code, from_b) = page(b, &query);
    assert_eq!(code, 200, "replica b refused replica a's token: {from_b}");
    let (code, from_a) = page(a, &query);
    assert_eq!(code, 200, "{from_a}");
    assert_eq!(
        names(&from_b),
        names(&from_a),
        "the same next page from either replica"
    );
    assert_eq!(names(&from_b).len(), 500);
    let first_names = names(&first);
    assert!(
        names(&from_b).iter().all(|n| !first_names.contains(n)),
        "the next page repeats the first"
    );
    let (code, refused) = page(c, &query);
    assert_eq!(code, 400, "a replica with another key: {refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("continue"),
        "{refused}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
