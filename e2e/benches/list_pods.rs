//! The apiserver's read path over HTTPS, measured by an in-repo load client on loopback.
//!
//! For each storage (`memory`; the `internal` layer on a fresh PostgreSQL database and on a
//! fresh SQLite file), loads N realistic pods (default 100,000, about 3.5 KB of JSON each,
//! spread over 4 clusters; `storage_conformance::fixtures::generate_pods`) through the storage
//! API, starts the apiserver in-process (TLS, token authentication) on an ephemeral port, and
//! measures with keep-alive HTTP/2 connections (hyper + rustls), one request at a time per
//! connection:
//!
//! - list of 500 pods (`limit=500`, the first page and a page after 90% of the pods) as JSON,
//!   with and without gzip, and as a `Table` (what kubectl asks for), at concurrency 1 and 8;
//! - a single GET of one pod;
//! - on the first storage only, if kubectl is installed (`/usr/bin/kubectl` or `$KUBECTL`):
//!   the wall time of `kubectl get pods -A` over all the pods with `--chunk-size=500` and in
//!   one request (`--chunk-size=0`), output discarded. Paging is bounded by kubectl's own client-side rate
//!   limit (5 requests/s after a burst of 10), which the table states.
//!
//! The client and the server share the machine's cores: figures are for both together.
//! Prints one Markdown table on stdout, a column per storage (progress on stderr).
//!
//! Run: `cargo bench -p clusterpedia-e2e --bench list_pods` (or with a pod count and some
//! storages: `... --bench list_pods -- 20000 --storage postgres`), or
//! `cargo xtask bench apiserver-list`. `LIST_BENCH_KEEP=1` keeps the PostgreSQL database
//! `clusterpedia_bench_list` (and the SQLite file, whose path is printed) for a look with psql.
//! For a profiler: `--only TEXT` runs the cases whose name ends with TEXT, `--repeat N` makes
//! each N times longer (attach e.g. `perf record -p <pid>` once the server is ready).

#[path = "common/storage.rs"]
mod storage;
#[path = "../../components/apiserver/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::FutureExt as _;
use storage_conformance::fixtures::generate_pods;
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

/// The arguments: a pod count, and `--storage NAME` (repeatable; every storage when absent).
struct Args {
    smoke: bool,
    pods: usize,
    storages: Vec<String>,
    /// `--only TEXT`: the cases whose name ends with TEXT (for a profile of one of them).
    only: Option<String>,
    /// `--repeat N`: N times the requests of each case (for a profiler to attach).
    repeat: usize,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        // `cargo bench` passes --bench; `cargo test --all-targets` does not: then a smoke run.
        let mut smoke = true;
        let mut pods = None;
        let mut storages = Vec::new();
        let mut only = None;
        let mut repeat = 1;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => smoke = false,
                "--storage" => storages.push(
                    args.next()
                        .ok_or_else(|| anyhow::anyhow!("--storage needs a value"))?,
                ),
                "--only" => only = args.next(),
                "--repeat" => {
                    repeat = args
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("--repeat needs a value"))?
                        .parse()?;
                }
                other if !other.starts_with('-') => pods = Some(other.parse()?),
                _ => {}
            }
        }
        if storages.is_empty() {
            storages = STORAGES.iter().map(|s| (*s).to_owned()).collect();
        }
        Ok(Self {
            smoke,
            pods: pods.unwrap_or(if smoke { 1_000 } else { DEFAULT_PODS }),
            storages,
            only,
            repeat,
        })
    }
}

/// Every storage the table has a column for, in order.
const STORAGES: &[&str] = &["memory", "postgres", "sqlite"];
/// The PostgreSQL database (and SQLite file name) of a run; kept at the end when
/// `LIST_BENCH_KEEP=1` (for a look with psql: EXPLAIN).
const BENCH_DATABASE: &str = "clusterpedia_bench_list";

/// The column heading of a storage.
fn storage_title(storage: &str) -> &str {
    match storage {
        "postgres" => "PostgreSQL",
        "sqlite" => "SQLite",
        other => other,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let Args {
        pods, ref storages, ..
    } = args;
    let keep = std::env::var_os("LIST_BENCH_KEEP").is_some_and(|v| v == "1");
    let mut columns = Vec::new();
    let mut kubectl = Vec::new();
    for (i, storage) in storages.iter().enumerate() {
        // kubectl's wall time is bounded by its own rate limit: measured on the first only.
        let (column, rows) = measure(storage, &args, keep, i == 0)?;
        columns.push(column);
        if i == 0 {
            kubectl = rows;
        }
    }
    print_table(pods, storages, &columns, &kubectl);
    Ok(())
}

/// One storage's measurements: the rows of each case ((name, concurrency, stats)).
type Column = Vec<(String, usize, Stats)>;
/// kubectl's rows: (chunk size, wall time, rows printed).
type KubectlRows = Vec<(usize, Duration, usize)>;

/// Stores `pods` pods in `storage`, starts a server over it and measures every case (and
/// kubectl when `with_kubectl`).
fn measure(
    storage: &str,
    args: &Args,
    keep: bool,
    with_kubectl: bool,
) -> anyhow::Result<(Column, KubectlRows)> {
    let (pods, smoke) = (args.pods, args.smoke);
    eprintln!("{storage}: generating and storing {pods} pods...");
    let started = Instant::now();
    let data_dir = support::temp_dir(&format!("list-pods-{storage}"));
    let name = storage.to_owned();
    let dir = data_dir.clone();
    // `LIST_BENCH_REUSE=1`: the PostgreSQL database a `LIST_BENCH_KEEP=1` run kept, as it is.
    let reuse =
        storage == "postgres" && std::env::var_os("LIST_BENCH_REUSE").is_some_and(|v| v == "1");
    let harness = Harness::start(
        move || {
            async move {
                storage::factory(&name, &dir, BENCH_DATABASE, reuse)
                    .await
                    .expect("the storage of the benchmark")
            }
            .boxed()
        },
        move |factory| {
            async move {
                if !reuse {
                    let objects = generate_pods(pods, CLUSTERS, SEED);
                    support::load(&*factory, &objects).await;
                }
            }
            .boxed()
        },
        |_, _| {},
    );
    eprintln!(
        "{storage}: server ready on {} after {:?}",
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
    let mut column = Vec::new();
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
            if args
                .only
                .as_ref()
                .is_some_and(|only| !name.ends_with(only.as_str()))
            {
                continue;
            }
            let per_connection = if smoke {
                per_connection.min(3)
            } else {
                per_connection * args.repeat
            };
            eprintln!("{storage}: {name}, concurrency {concurrency}...");
            let stats = scenario(&client, path, headers, concurrency, per_connection).await?;
            column.push((name.to_owned(), concurrency, stats));
        }
        Ok::<_, anyhow::Error>(())
    })?;

    let chunks: &[usize] = if smoke || !with_kubectl || args.only.is_some() {
        &[]
    } else {
        &[500, 0]
    };
    let kubectl: Vec<(usize, Duration, usize)> = chunks
        .iter()
        .copied()
        .filter_map(|chunk| {
            eprintln!("kubectl get pods -A --chunk-size={chunk}...");
            kubectl_all_pods(&harness, chunk).map(|(t, rows)| (chunk, t, rows))
        })
        .collect();
    runtime.block_on(async {
        let _ = harness.factory.shutdown().await;
        if keep {
            eprintln!(
                "{storage}: kept database {BENCH_DATABASE} (LIST_BENCH_KEEP=1) in {}",
                data_dir.display()
            );
            return Ok(());
        }
        storage::drop_database(storage, BENCH_DATABASE).await
    })?;
    if !keep {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    let _ = std::fs::remove_dir_all(&harness.dir);
    Ok((column, kubectl))
}

/// Prints the table: one row per case, one column per storage.
fn print_table(
    pods: usize,
    storages: &[String],
    columns: &[Column],
    kubectl: &[(usize, Duration, usize)],
) {
    let titles: Vec<&str> = storages.iter().map(|s| storage_title(s)).collect();
    println!(
        "{pods} pods stored ({CLUSTERS} clusters) in each storage ({}; PostgreSQL and SQLite \
         through the `internal` layer); HTTP/2 over TLS on loopback, one request at a time per \
         connection; latency = request sent to body fully read; p50 / p99 ms (requests per \
         second).\n",
        titles.join(", ")
    );
    let mut heading = "| request | concurrency | requests |".to_owned();
    let mut rule = "|---|---|---|".to_owned();
    for title in &titles {
        heading.push_str(&format!(" {title} |"));
        rule.push_str("---|");
    }
    println!("{heading} body KiB |");
    println!("{rule}---|");
    let Some(first) = columns.first() else {
        return;
    };
    for (i, (name, concurrency, stats)) in first.iter().enumerate() {
        let mut line = format!("| {name} | {concurrency} | {} |", stats.requests);
        for column in columns {
            let stats = &column[i].2;
            line.push_str(&format!(
                " {:.2} / {:.2} ({:.0}) |",
                stats.percentile(0.50),
                stats.percentile(0.99),
                stats.requests as f64 / stats.elapsed.as_secs_f64(),
            ));
        }
        println!("{line} {} |", stats.body_bytes / 1024);
    }
    if !kubectl.is_empty() {
        println!();
        println!(
            "| kubectl (discovery cached), {} | rows | wall time |",
            titles.first().copied().unwrap_or_default()
        );
        println!("|---|---|---|");
        for (chunk, elapsed, rows) in kubectl {
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
}
