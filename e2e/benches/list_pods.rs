//! The apiserver's read path over HTTPS, measured by an in-repo load client on loopback.
//!
//! Loads N realistic pods (default 100,000, about 3.5 KB of JSON each, spread over 4 clusters;
//! `storage_conformance::fixtures::generate_pods`) into a `memory` layer through the
//! storage API, starts the apiserver in-process (TLS, token authentication) on an ephemeral
//! port, and measures with keep-alive HTTP/2 connections (hyper + rustls), one request at a
//! time per connection:
//!
//! - list of 500 pods (`limit=500`, the first page and a page after 90% of the pods) as JSON,
//!   with and without gzip, and as a `Table` (what kubectl asks for), at concurrency 1 and 8;
//! - a single GET of one pod;
//! - if kubectl is installed (`/usr/bin/kubectl` or `$KUBECTL`): the wall time of
//!   `kubectl get pods -A` over all the pods with `--chunk-size=500` and in one request
//!   (`--chunk-size=0`), output discarded. Paging is bounded by kubectl's own client-side rate
//!   limit (5 requests/s after a burst of 10), which the table states.
//!
//! The client and the server share the machine's cores: figures are for both together.
//! Prints one Markdown table on stdout (progress on stderr).
//!
//! Run: `cargo bench -p clusterpedia-e2e --bench list_pods` (or with a pod count:
//! `... --bench list_pods -- 20000`), or `cargo xtask bench apiserver-list`.

#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::FutureExt as _;
use storage_api::StorageFactory;
use storage_conformance::fixtures::generate_pods;
use storage_memory::MemoryStorageFactory;
use support::{Client, Harness, RESOURCES, TOKEN};

/// Pods stored when no count is given.
const DEFAULT_PODS: usize = 100_000;
/// Member clusters the pods are spread over.
const CLUSTERS: usize = 4;
/// The generator's seed.
const SEED: u64 = 0x00c1_5eed;
/// Requests per connection before measuring.
const WARMUP: usize = 5;
/// kubectl's Accept header for `get`.
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// A scenario: its name, path, headers, concurrency and requests per connection.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], usize, usize);

/// The outcome of one scenario.
struct Stats {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    body_bytes: usize,
}

impl Stats {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    }
}

/// Runs `per_connection` requests on each of `concurrency` connections at once.
async fn scenario(
    client: &Client,
    path: &str,
    headers: &[(&str, &str)],
    concurrency: usize,
    per_connection: usize,
) -> anyhow::Result<Stats> {
    let mut connections = Vec::new();
    for _ in 0..concurrency {
        let mut connection = client.connect().await?;
        for _ in 0..WARMUP {
            let answer = connection.get(path, headers).await?;
            anyhow::ensure!(answer.status == 200, "{path}: {}", answer.status);
        }
        connections.push(connection);
    }
    let started = Instant::now();
    let runs = connections.into_iter().map(|mut connection| async move {
        let mut latencies = Vec::with_capacity(per_connection);
        let mut bytes = 0;
        for _ in 0..per_connection {
            let sent = Instant::now();
            let answer = connection.get(path, headers).await?;
            latencies.push(sent.elapsed());
            anyhow::ensure!(answer.status == 200, "{path}: {}", answer.status);
            bytes = answer.body.len();
        }
        Ok::<_, anyhow::Error>((latencies, bytes))
    });
    let results = futures::future::join_all(runs).await;
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    let mut body_bytes = 0;
    for result in results {
        let (l, bytes) = result?;
        latencies.extend(l);
        body_bytes = bytes;
    }
    Ok(Stats {
        requests: latencies.len(),
        elapsed,
        latencies,
        body_bytes,
    })
}

fn row(name: &str, concurrency: usize, stats: &Stats) -> String {
    format!(
        "| {name} | {concurrency} | {} | {:.0} | {:.2} | {:.2} | {} |",
        stats.requests,
        stats.requests as f64 / stats.elapsed.as_secs_f64(),
        stats.percentile(0.50),
        stats.percentile(0.99),
        stats.body_bytes / 1024,
    )
}

/// The continue token of the page after `skip` pods (walks the pages of 500).
async fn token_after(client: &Client, skip: usize) -> anyhow::Result<String> {
    let mut connection = client.connect().await?;
    let bearer = format!("Bearer {TOKEN}");
    let mut token = String::new();
    for _ in 0..skip / 500 {
        let query = if token.is_empty() {
            "limit=500".to_owned()
        } else {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("limit", "500")
                .append_pair("continue", &token)
                .finish()
        };
        let answer = connection
            .get(
                &format!("{RESOURCES}/api/v1/pods?{query}"),
                &[("authorization", &bearer)],
            )
            .await?;
        token = answer.json()["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(!token.is_empty(), "fewer pods than {skip}");
    }
    Ok(token)
}

/// The wall time of `kubectl get pods -A --chunk-size=<chunk>` (discovery cached first), and
/// the rows it printed.
fn kubectl_all_pods(harness: &Harness, chunk: usize) -> Option<(Duration, usize)> {
    let kubectl = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    if !kubectl.exists() {
        eprintln!("kubectl not found: skipping the kubectl row");
        return None;
    }
    let home = harness.dir.join("home");
    std::fs::create_dir_all(&home).ok()?;
    let kubeconfig = home.join("kubeconfig.json");
    let config = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "clusterpedia", "cluster": {
            "server": format!("https://{}{RESOURCES}", harness.addr),
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&harness.ca_pem)}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "clusterpedia", "user": "u"}}],
        "current-context": "c",
    });
    std::fs::write(&kubeconfig, config.to_string()).ok()?;
    let run = |args: &[String]| {
        let started = Instant::now();
        let output = Command::new(&kubectl)
            .env_clear()
            .env("HOME", &home)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(home.join("cache"))
            .args(args)
            .output()
            .ok()?;
        let elapsed = started.elapsed();
        if !output.status.success() {
            eprintln!(
                "kubectl failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return None;
        }
        Some((
            elapsed,
            output
                .stdout
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
        ))
    };
    run(&["api-resources".into()])?; // fills kubectl's discovery cache
    run(&[
        "get".into(),
        "pods".into(),
        "-A".into(),
        "--no-headers".into(),
        format!("--chunk-size={chunk}"),
    ])
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not: then only a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let pods: usize = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(count) => count.parse()?,
        None if smoke => 1_000,
        None => DEFAULT_PODS,
    };
    eprintln!("generating and storing {pods} pods...");
    let started = Instant::now();
    let harness = Harness::start(
        || async { Arc::new(MemoryStorageFactory::default()) as Arc<dyn StorageFactory> }.boxed(),
        move |factory| {
            async move {
                let objects = generate_pods(pods, CLUSTERS, SEED);
                support::load(&*factory, &objects).await;
            }
            .boxed()
        },
        |_, _| {},
    );
    eprintln!(
        "server ready on {} after {:?}",
        harness.addr,
        started.elapsed()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = harness.client();
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("authorization", bearer.as_str());
    let list = format!("{RESOURCES}/api/v1/pods?limit=500");
    let mut rows = Vec::new();
    runtime.block_on(async {
        let deep_token = token_after(&client, pods * 9 / 10).await?;
        let deep = format!(
            "{RESOURCES}/api/v1/pods?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("limit", "500")
                .append_pair("continue", &deep_token)
                .finish()
        );
        let one: serde_json::Value = client
            .get(&format!("{RESOURCES}/api/v1/pods?limit=1"), &[auth])
            .await?
            .json();
        let item = &one["items"][0];
        let get_one = format!(
            "{RESOURCES}/clusters/{}/api/v1/namespaces/{}/pods/{}",
            item["metadata"]["annotations"]["shadow.clusterpedia.io/cluster-name"]
                .as_str()
                .unwrap_or_default(),
            item["metadata"]["namespace"].as_str().unwrap_or_default(),
            item["metadata"]["name"].as_str().unwrap_or_default(),
        );

        let json_headers = [auth, ("accept", "application/json")];
        let gzip_headers = [
            auth,
            ("accept", "application/json"),
            ("accept-encoding", "gzip"),
        ];
        let table_headers = [auth, ("accept", TABLE)];
        let cases: Vec<Case<'_>> = vec![
            ("list 500 pods, JSON", &list, &json_headers, 1, 200),
            ("list 500 pods, JSON", &list, &json_headers, 8, 40),
            ("list 500 pods, JSON, gzip", &list, &gzip_headers, 1, 100),
            ("list 500 pods, JSON, gzip", &list, &gzip_headers, 8, 20),
            ("list 500 pods, Table", &list, &table_headers, 1, 200),
            ("list 500 pods, Table", &list, &table_headers, 8, 40),
            (
                "list 500 pods after 90% of them, JSON",
                &deep,
                &json_headers,
                1,
                100,
            ),
            ("get one pod, JSON", &get_one, &json_headers, 1, 2000),
            ("get one pod, Table", &get_one, &table_headers, 1, 2000),
        ];
        for (name, path, headers, concurrency, per_connection) in cases {
            let per_connection = if smoke {
                per_connection.min(3)
            } else {
                per_connection
            };
            eprintln!("{name}, concurrency {concurrency}...");
            let stats = scenario(&client, path, headers, concurrency, per_connection).await?;
            rows.push(row(name, concurrency, &stats));
        }
        Ok::<_, anyhow::Error>(())
    })?;

    let chunks: &[usize] = if smoke { &[] } else { &[500, 0] };
    let kubectl: Vec<(usize, Duration, usize)> = chunks
        .iter()
        .copied()
        .filter_map(|chunk| {
            eprintln!("kubectl get pods -A --chunk-size={chunk}...");
            kubectl_all_pods(&harness, chunk).map(|(t, rows)| (chunk, t, rows))
        })
        .collect();
    println!(
        "{pods} pods stored (memory layer, {CLUSTERS} clusters); HTTP/2 over TLS on loopback, \
         one request at a time per connection; latency = request sent to body fully read.\n"
    );
    println!("| request | concurrency | requests | req/s | p50 ms | p99 ms | body KiB |");
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    if !kubectl.is_empty() {
        println!();
        println!("| kubectl (discovery cached) | rows | wall time |");
        println!("|---|---|---|");
        for (chunk, elapsed, rows) in &kubectl {
            println!(
                "| `kubectl get pods -A --chunk-size={chunk}` | {rows} | {:.2} s |",
                elapsed.as_secs_f64()
            );
        }
        let pages = pods.div_ceil(500);
        println!(
            "\nkubectl (client-go) rate-limits its own requests to 5 per second after a burst of \
             10, so {pages} pages of 500 cannot take less than {:.1} s whatever the server does \
             (the server answers each page in a few milliseconds, see above).",
            pages.saturating_sub(10) as f64 / 5.0
        );
    }
    Ok(())
}
