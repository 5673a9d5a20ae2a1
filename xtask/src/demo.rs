//! `cargo xtask demo`: three simulated member clusters, binding-apiserver syncing them into the
//! embedded default storage, a kubeconfig, and kubectl commands that work.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How many member clusters the demo simulates.
const CLUSTERS: usize = 3;
/// Pods per simulated cluster with kube-sim's `small` fixtures.
const PODS_PER_CLUSTER: usize = 36;
/// The bearer token of the demo user.
const TOKEN: &str = "clusterpedia-demo-token";

/// The demo's options.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Where the demo writes its certificates, kubeconfig and logs.
    #[arg(long, default_value = "target/demo")]
    dir: PathBuf,
    /// The storage layer (`--storage-name` of binding-apiserver); `internal` uses its embedded
    /// SQLite database.
    #[arg(long, default_value = "internal")]
    storage_name: String,
    /// Run the printed kubectl commands, check them, and stop (what CI does).
    #[arg(long)]
    check: bool,
}

impl DemoArgs {
    /// The demo as `cargo xtask test` runs it on `storage_name`: check every printed command,
    /// then stop.
    pub(crate) fn check(storage_name: &str) -> Self {
        Self {
            dir: PathBuf::from(format!("target/demo-check-{storage_name}")),
            storage_name: storage_name.into(),
            check: true,
        }
    }
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the demo.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    crate::test::cargo(&[
        "build",
        "--package",
        "clusterpedia",
        "--bin",
        "binding-apiserver",
    ])?;
    crate::test::cargo(&["build", "--package", "kube-sim", "--bin", "kube-sim"])?;
    let bin = target_dir().join("debug");
    let dir = std::env::current_dir()?.join(&args.dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;

    let mut children = Vec::new();
    let mut members = Vec::new();
    for i in 1..=CLUSTERS {
        let name = format!("cluster-{i}");
        let cluster_dir = dir.join(&name);
        std::fs::create_dir_all(&cluster_dir)?;
        let kubeconfig = cluster_dir.join("kubeconfig");
        let _ = std::fs::remove_file(&kubeconfig);
        let port = free_port()?;
        let log = std::fs::File::create(cluster_dir.join("kube-sim.log"))?;
        let child = Command::new(bin.join("kube-sim"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--size", "small"])
            .args(["--seed", &i.to_string(), "--churn-per-second", "1"])
            .args([
                "--token",
                &format!("member-token-{i}"),
                "--cluster-name",
                &name,
            ])
            .arg("--cert-dir")
            .arg(&cluster_dir)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start kube-sim")?;
        children.push(Guard(child));
        wait_for(&format!("kube-sim {name}"), Duration::from_secs(60), || {
            kubeconfig.exists()
        })?;
        members.push((name, kubeconfig));
    }

    let clusters_file = dir.join("clusters.yaml");
    std::fs::write(&clusters_file, clusters_yaml(&members)?)?;
    let tokens_file = dir.join("tokens.csv");
    std::fs::write(
        &tokens_file,
        format!("{TOKEN},demo,demo-uid,\"system:masters\"\n"),
    )?;
    let apiserver_dir = dir.join("apiserver");
    std::fs::create_dir_all(&apiserver_dir)?;
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("binding-apiserver.log"))?;
    let mut apiserver = Command::new(bin.join("binding-apiserver"));
    apiserver.args(["--storage-name", &args.storage_name]);
    if args.check && args.storage_name == "internal" {
        // A fresh database, so that the check proves this run's sync, not an earlier one's.
        let database = dir.join("check.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
        }
        let config = dir.join("storage-config.yaml");
        std::fs::write(
            &config,
            format!("type: sqlite\ndsn: {}\n", database.display()),
        )?;
        apiserver.arg("--storage-config").arg(&config);
    }
    let child = apiserver
        .args([
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            &port.to_string(),
        ])
        .args(["--metrics-port", "0"])
        .arg("--cert-dir")
        .arg(&apiserver_dir)
        .arg("--token-auth-file")
        .arg(&tokens_file)
        .arg("--clusters-config")
        .arg(&clusters_file)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("start binding-apiserver")?;
    children.push(Guard(child));
    let ca = apiserver_dir.join("apiserver.crt");
    wait_for("binding-apiserver", Duration::from_secs(60), || ca.exists())?;

    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_yaml(port, &ca, &members))?;
    let expected = CLUSTERS * PODS_PER_CLUSTER;
    wait_for("the initial sync", Duration::from_secs(120), || {
        kubectl(&kubeconfig, &["get", "pods", "-A", "-o", "name"])
            .map(|out| out.lines().count() >= expected)
            .unwrap_or(false)
    })?;

    let shown = Path::new(&args.dir).join("kubeconfig");
    let commands = demo_commands();
    println!(
        "\nclusterpedia demo: {CLUSTERS} simulated clusters synced by binding-apiserver (storage: {})",
        args.storage_name
    );
    println!("logs and certificates: {}\n", args.dir.display());
    println!("export KUBECONFIG={}", shown.display());
    for (command, _) in &commands {
        println!("{command}");
    }
    if args.check {
        for (command, expect) in &commands {
            let words = shell_words(command);
            let out = kubectl(&kubeconfig, &words[1..])
                .with_context(|| format!("demo command failed: {command}"))?;
            if !out.contains(expect) {
                bail!("demo command {command:?} printed no {expect:?}:\n{out}");
            }
        }
        println!("\nall demo commands work");
        return Ok(());
    }
    println!("\nPress Ctrl-C to stop.");
    let apiserver = children
        .last_mut()
        .map(|g| &mut g.0)
        .context("no apiserver")?;
    let status = apiserver.wait()?;
    bail!(
        "binding-apiserver exited ({status}); see {}",
        dir.join("binding-apiserver.log").display()
    )
}

/// The commands printed to the user, each with a text its output must contain.
fn demo_commands() -> Vec<(String, &'static str)> {
    vec![
        ("kubectl get pods -A".into(), "CLUSTER"),
        (
            "kubectl get deployments -A -l search.clusterpedia.io/clusters=cluster-1".into(),
            "cluster-1",
        ),
        (
            "kubectl get pods -A -l search.clusterpedia.io/orderby=created_at_desc --chunk-size=20 -o wide".into(),
            "NODE",
        ),
        ("kubectl --context cluster-2 get services -A".into(), "cluster-2"),
        ("kubectl api-resources".into(), "deployments"),
        (
            "kubectl --context clusterpedia-root get --raw /apis/clusterpedia.io/v1beta1/collectionresources/workloads?limit=2".into(),
            "CollectionResource",
        ),
    ]
}

/// Splits a demo command on spaces (the commands hold no quoted spaces).
fn shell_words(command: &str) -> Vec<&str> {
    command.split(' ').collect()
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .context("run kubectl (is it installed?)")?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn clusters_yaml(members: &[(String, PathBuf)]) -> anyhow::Result<String> {
    use base64::Engine as _;
    let mut yaml = String::new();
    for (name, kubeconfig) in members {
        let data =
            std::fs::read(kubeconfig).with_context(|| format!("read {}", kubeconfig.display()))?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        yaml.push_str(&format!(
            "---\napiVersion: cluster.clusterpedia.io/v1alpha2\nkind: PediaCluster\nmetadata:\n  name: {name}\nspec:\n  kubeconfig: {encoded}\n  syncResources:\n  - group: \"\"\n    resources: [pods, services, configmaps, namespaces, nodes]\n    eventsInvolvedResources: [pods]\n  - group: apps\n    resources: [deployments, replicasets, statefulsets, daemonsets]\n  - group: example.io\n    resources: [widgets]\n"
        ));
    }
    Ok(yaml)
}

fn kubeconfig_yaml(port: u16, ca: &Path, members: &[(String, PathBuf)]) -> String {
    let root = format!("https://127.0.0.1:{port}");
    let resources = format!("{root}/apis/clusterpedia.io/v1beta1/resources");
    let mut clusters = vec![
        ("clusterpedia".to_owned(), resources.clone()),
        ("clusterpedia-root".to_owned(), root),
    ];
    clusters.extend(
        members
            .iter()
            .map(|(name, _)| (name.clone(), format!("{resources}/clusters/{name}"))),
    );
    let mut yaml =
        String::from("apiVersion: v1\nkind: Config\ncurrent-context: clusterpedia\nclusters:\n");
    for (name, server) in &clusters {
        yaml.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority: {}\n",
            ca.display()
        ));
    }
    yaml.push_str(&format!(
        "users:\n- name: demo\n  user:\n    token: {TOKEN}\ncontexts:\n"
    ));
    for (name, _) in &clusters {
        yaml.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: demo\n"
        ));
    }
    yaml
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > limit {
            bail!("{what} is not ready after {limit:?} (see the logs in the demo directory)");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}
