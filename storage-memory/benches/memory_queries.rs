//! Query latency of the `memory` layer at a million pods: whether any query class scans.
//!
//! Generates N realistic pods (default 1,000,000; `storage_conformance::fixtures::generate_pods`,
//! 4 clusters, namespaces of 100 pods), loads them through `apply` batches of 1000, then times
//! each query through the storage API (`ResourceStorage::list`, in-process: no HTTP, no JSON
//! encoding of the answer): list 500, label selectors (selective, common, absent), fuzzy names
//! (one hit, none), `orderby` name desc / created_at desc (alone and after a label), owner
//! queries (by uid; by name with a seniority), one namespace across clusters, and a page after
//! 90% of the pods. Prints one Markdown table (p50 / p99 / max in ms and the items
//! returned) and the load time and process RSS.
//!
//! Run: `cargo bench -p storage-memory --bench memory_queries` (1M pods: about 8 GB of memory at
//! the peak; run it niced), or with a size: `… --bench memory_queries -- 200000`. To profile one
//! query: `… -- 200000 --case 'orderby name' --runs 1000` (the queries whose name contains the
//! text, that many times each).

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage_api::query::label_selector::LabelSelector;
use storage_api::query::{ContinuePosition, OrderBy, OrderField, OwnerQuery};
use storage_api::{
    Change, Gvr, ListOptions, ResourceStorage, ResourceStorageConfig, StorageFactory,
};
use storage_conformance::fixtures::generate_pods;
use storage_memory::MemoryStorageFactory;

/// Pods when no size is given.
const DEFAULT_PODS: usize = 1_000_000;
/// Member clusters the pods are spread over.
const CLUSTERS: usize = 4;
/// The generator's seed.
const SEED: u64 = 0x00c1_5eed;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |pages| pages * 4096.0 / (1 << 20) as f64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn time(
    storage: &dyn ResourceStorage,
    options: &ListOptions,
    runs: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut times = Vec::with_capacity(runs);
    let mut items = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let page = storage.list(options).await?;
        times.push(started.elapsed());
        items = page.items.len();
    }
    times.sort_unstable();
    Ok((times, items))
}

fn main() -> anyhow::Result<()> {
    let smoke = !std::env::args().any(|a| a == "--bench");
    // The size is the first argument that is not a flag or a flag's value.
    let mut size = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--case" || arg == "--runs" {
            args.next();
        } else if !arg.starts_with('-') {
            size = Some(arg);
            break;
        }
    }
    let pods: usize = match size {
        Some(count) => count.parse()?,
        None if smoke => 2_000,
        None => DEFAULT_PODS,
    };
    let flag = |name: &str| {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let only = flag("--case");
    let runs = match flag("--runs") {
        Some(runs) => runs.parse()?,
        None if smoke => 2,
        None => 30,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        eprintln!("generating {pods} pods...");
        let objects = generate_pods(pods, CLUSTERS, SEED);
        // Query values taken from the data: a selective label, a name suffix.
        let sample = &objects[objects.len() / 3];
        let hash = sample
            .fields
            .labels
            .get("pod-template-hash")
            .unwrap_or_default()
            .to_owned();
        let app = sample
            .fields
            .labels
            .get("app")
            .unwrap_or_default()
            .to_owned();
        let suffix = sample
            .fields
            .name
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .to_owned();
        let namespace = sample.fields.namespace.clone();
        let sample_cluster = sample.fields.cluster.to_string();
        let owner_uid = sample.fields.owner_uid.clone();
        // Pods are named after their replica set: `<replica set>-<5 characters>`.
        let owner_name = sample
            .fields
            .name
            .rsplit_once('-')
            .map(|(owner, _)| owner.to_owned())
            .unwrap_or_default();

        let factory = MemoryStorageFactory::default();
        let storage = factory
            .new_resource_storage(ResourceStorageConfig {
                gvr: Gvr::new("", "v1", "pods"),
                kind: "Pod".into(),
                namespaced: true,
            })
            .await?;
        eprintln!("loading...");
        let started = Instant::now();
        let mut objects = objects.into_iter().peekable();
        while objects.peek().is_some() {
            let batch: Vec<Change> = objects.by_ref().take(1000).map(Change::Upsert).collect();
            storage.apply(batch).await?;
        }
        let load = started.elapsed();
        drop(objects);

        let base = || {
            let mut options = ListOptions::default();
            options.limit = Some(500);
            options
        };
        let with = |f: &dyn Fn(&mut ListOptions)| {
            let mut options = base();
            f(&mut options);
            options
        };
        let label = |s: String| {
            move |o: &mut ListOptions| {
                o.label_selector = LabelSelector::parse(&s).expect("selector");
            }
        };
        let order = |field: OrderField| {
            move |o: &mut ListOptions| {
                o.order_by = vec![OrderBy {
                    field: field.clone(),
                    descending: true,
                }];
            }
        };
        // The continue token after 90% of the pods (found once with an offset).
        let deep = {
            let mut options = base();
            options.limit = Some(1);
            options.offset = (pods * 9 / 10) as u64;
            let page = storage.list(&options).await?;
            let mut options = base();
            if let Some(token) = page.continue_token {
                options.continue_from = Some(ContinuePosition::decode(&token, &options)?);
            }
            options
        };
        let cases: Vec<(String, ListOptions)> = vec![
            ("list, limit=500".into(), base()),
            (
                format!("label pod-template-hash={hash} (one deployment)"),
                with(&label(format!("pod-template-hash={hash}"))),
            ),
            (
                format!("label app={app}"),
                with(&label(format!("app={app}"))),
            ),
            (
                "label app=absent (0 hits)".into(),
                with(&label("app=absent".into())),
            ),
            (
                format!("label app in ({app},absent), orderby name desc"),
                with(&|o: &mut ListOptions| {
                    label(format!("app in ({app},absent)"))(o);
                    order(OrderField::Name)(o);
                }),
            ),
            (
                format!("fuzzyName={suffix} (one hit)"),
                with(&|o: &mut ListOptions| o.fuzzy_names = vec![suffix.clone()]),
            ),
            (
                "fuzzyName=zzzzzz (0 hits)".into(),
                with(&|o: &mut ListOptions| o.fuzzy_names = vec!["zzzzzz".into()]),
            ),
            (
                format!("label app={app}, orderby created_at desc"),
                with(&|o: &mut ListOptions| {
                    label(format!("app={app}"))(o);
                    order(OrderField::CreatedAt)(o);
                }),
            ),
            ("orderby name desc".into(), with(&order(OrderField::Name))),
            (
                "orderby created_at desc".into(),
                with(&order(OrderField::CreatedAt)),
            ),
            (
                "ownerUID (one replica set's pods), one cluster".into(),
                with(&|o: &mut ListOptions| {
                    o.clusters = vec![sample_cluster.clone()];
                    o.owner = Some(OwnerQuery {
                        uid: Some(owner_uid.clone()),
                        name: None,
                        group_resource: None,
                        seniority: 0,
                    });
                }),
            ),
            (
                format!("ownerName={owner_name}, seniority 1 (owner not stored: 0 hits)"),
                with(&|o: &mut ListOptions| {
                    o.clusters = vec![sample_cluster.clone()];
                    o.owner = Some(OwnerQuery {
                        uid: None,
                        name: Some(owner_name.clone()),
                        group_resource: None,
                        seniority: 1,
                    });
                }),
            ),
            (
                format!("namespace {namespace}, all clusters"),
                with(&|o: &mut ListOptions| o.namespaces = vec![namespace.clone()]),
            ),
            ("page after 90% of the pods (continue)".into(), deep),
        ];
        let mut rows = Vec::new();
        for (name, options) in &cases {
            if only
                .as_ref()
                .is_some_and(|only| !name.contains(only.as_str()))
            {
                continue;
            }
            eprintln!("{name}...");
            let (times, items) = time(&*storage, options, runs).await?;
            rows.push(format!(
                "| {name} | {items} | {:.2} | {:.2} | {:.2} |",
                ms(times[times.len() / 2]),
                ms(times[(times.len() * 99).div_ceil(100) - 1]),
                ms(times[times.len() - 1]),
            ));
        }
        println!(
            "{pods} pods (4 clusters, namespaces of 100 pods) loaded in {:.1} s; process RSS \
             {:.0} MiB. `ResourceStorage::list` in-process, {runs} runs per query, ms.\n",
            load.as_secs_f64(),
            rss_mib()
        );
        println!("| query (limit=500) | items | p50 | p99 | max |");
        println!("|---|---:|---:|---:|---:|");
        for row in rows {
            println!("{row}");
        }
        drop(factory);
        let _: Arc<dyn ResourceStorage> = storage;
        Ok(())
    })
}
