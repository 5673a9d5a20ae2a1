//! `kube-sim`: runs one simulated cluster until interrupted (or `POST /_sim/stop`).
//!
//! ```text
//! kube-sim --size 100k --listen 127.0.0.1:6443 --kubeconfig /tmp/member-1.yaml --cluster-name member-1
//! kubectl --kubeconfig /tmp/member-1.yaml get pods -A --chunk-size=500
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use kube_sim::{FixtureSpec, Simulator};

/// A Kubernetes API simulator: one simulated cluster with generated objects.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443", env = "KUBE_SIM_LISTEN")]
    listen: SocketAddr,
    /// Fixture preset: empty, small or 100k (the flags below override its parts).
    #[arg(long, default_value = "small")]
    size: String,
    /// Fixture namespaces.
    #[arg(long)]
    namespaces: Option<usize>,
    /// Deployments per namespace (each with a replica set and a service).
    #[arg(long)]
    deployments_per_namespace: Option<usize>,
    /// Pods per deployment.
    #[arg(long)]
    replicas: Option<usize>,
    /// Configmaps per namespace.
    #[arg(long)]
    configmaps_per_namespace: Option<usize>,
    /// Events per deployment.
    #[arg(long)]
    events_per_deployment: Option<usize>,
    /// Widget custom objects.
    #[arg(long)]
    widgets: Option<usize>,
    /// Nodes.
    #[arg(long)]
    nodes: Option<usize>,
    /// Seed of the generated names and uids.
    #[arg(long)]
    seed: Option<u64>,
    /// Pod updates per second.
    #[arg(long, default_value_t = 0.0)]
    churn_per_second: f64,
    /// Bearer token clients must present (default: random, printed).
    #[arg(long, env = "KUBE_SIM_TOKEN")]
    token: Option<String>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    no_tls: bool,
    /// Directory for ca.crt, tls.crt, tls.key, client.crt, client.key.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Write a kubeconfig for this cluster to this file.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Name of the cluster, user and context in the kubeconfig.
    #[arg(long, default_value = "kube-sim")]
    cluster_name: String,
    /// Changes retained for watches and continue tokens (older ones get 410).
    #[arg(long, default_value_t = 100_000)]
    history: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 10.0)]
    bookmark_interval_seconds: f64,
    /// The gitVersion served at /version.
    #[arg(long, default_value = "v1.36.0")]
    git_version: String,
    /// Do not serve the clusterpedia CRDs (pediaclusters, clustersyncresources).
    #[arg(long)]
    no_host_crds: bool,
    /// Log filter (RUST_LOG syntax).
    #[arg(long, default_value = "info", env = "RUST_LOG")]
    log: String,
}

impl Args {
    fn fixtures(&self) -> anyhow::Result<FixtureSpec> {
        let mut spec = FixtureSpec::preset(&self.size)
            .with_context(|| format!("unknown size {:?} (empty, small, 100k)", self.size))?;
        let set = |field: &mut usize, value: Option<usize>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut spec.namespaces, self.namespaces);
        set(
            &mut spec.deployments_per_namespace,
            self.deployments_per_namespace,
        );
        set(&mut spec.replicas, self.replicas);
        set(
            &mut spec.configmaps_per_namespace,
            self.configmaps_per_namespace,
        );
        set(&mut spec.events_per_deployment, self.events_per_deployment);
        set(&mut spec.widgets, self.widgets);
        set(&mut spec.nodes, self.nodes);
        if let Some(seed) = self.seed {
            spec.seed = seed;
        }
        Ok(spec)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .init();
    let started = Instant::now();
    let mut builder = Simulator::builder()
        .fixtures(args.fixtures()?)
        .bind(args.listen)
        .tls(!args.no_tls)
        .churn_per_second(args.churn_per_second)
        .history_limit(args.history)
        .bookmark_interval(Duration::from_secs_f64(
            args.bookmark_interval_seconds.max(0.01),
        ))
        .git_version(args.git_version.clone())
        .host_crds(!args.no_host_crds);
    if let Some(token) = &args.token {
        builder = builder.token(token.clone());
    }
    if let Some(dir) = &args.cert_dir {
        builder = builder.write_certs(dir.clone());
    }
    let mut sim = builder.start().await?;
    println!(
        "kube-sim serving {} at {}",
        sim.fixture_objects(),
        sim.url()
    );
    println!("started in {:.2?}", started.elapsed());
    if args.token.is_none() {
        println!("token: {}", sim.token());
    }
    if let Some(path) = &args.kubeconfig {
        sim.write_kubeconfig(path, &args.cluster_name)?;
        println!("kubeconfig: {}", path.display());
    }
    tokio::select! {
        () = sim.wait() => {}
        signal = tokio::signal::ctrl_c() => signal.context("waiting for ctrl-c")?,
    }
    sim.shutdown().await;
    Ok(())
}
