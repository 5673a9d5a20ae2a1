//! Memory per stored object of the `memory` layer, and its load rate.
//!
//! For each size N, the parent process generates N realistic pods (about 3.5 KB of JSON each,
//! `storage_conformance::fixtures::generate_pods`, pruned and stamped as the synchro hands
//! them over) and pipes their JSON to a fresh child process. The child reads the bytes, as the
//! synchro receives them from a member cluster, parses each object
//! (`ResourceObject::parse`), loads them into a new memory factory through `apply` batches of
//! 500, drops the input, and measures:
//!
//! - **heap bytes per object**: the live bytes requested from the allocator (a counting global
//!   allocator, `stats_alloc`) after the load minus before the input was read: exactly what the
//!   store keeps (its JSON is the stored one, with the layer's resource version);
//! - **heap blocks per object**: live allocations per object (each costs the allocator about
//!   8–16 bytes more than requested);
//! - **RSS bytes per object**: the growth of the resident set (`/proc/self/statm`) over the same
//!   span, allocator overhead and fragmentation included (the input buffer is freed whole);
//! - **load time**: the `apply` calls only (reading and parsing excluded).
//!
//! Generating in the parent keeps the generator's garbage out of the child's resident set; a
//! fresh child per size keeps one size's freed memory out of the next one's figures. Prints one
//! Markdown table row per size.
//!
//! Run: `cargo bench -p storage-memory --bench memory_per_object` (sizes 10000 and 100000), or
//! with sizes: `cargo bench -p storage-memory --bench memory_per_object -- 1000 50000`.

use std::alloc::System;
use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use storage_api::{Change, Gvr, ResourceObject, ResourceStorageConfig, StorageFactory};
use storage_conformance::fixtures::generate_pods;
use storage_memory::MemoryStorageFactory;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The sizes measured when none are given.
const DEFAULT_SIZES: &[usize] = &[10_000, 100_000];
/// Member clusters the pods are spread over.
const CLUSTERS: usize = 4;
/// The generator's seed (fixed: the same pods every run).
const SEED: u64 = 0x00c1_5eed;
/// Changes per `apply` call.
const BATCH: usize = 500;
/// The argument that makes the binary load the pods piped to it and print their row.
const CHILD_FLAG: &str = "--measure-stdin";

/// Live heap bytes and blocks right now.
fn heap() -> (i128, i128) {
    let stats = GLOBAL.stats();
    // `stats_alloc` already folds reallocations into both totals (`bytes_reallocated` is the
    // same growth again, for information).
    let bytes = stats.bytes_allocated as i128 - stats.bytes_deallocated as i128;
    let blocks = stats.allocations as i128 - stats.deallocations as i128;
    (bytes, blocks)
}

/// The resident set size in bytes, from `/proc/self/statm` (0 where unavailable).
fn rss() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|r| r.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

/// One measured row.
struct Row {
    objects: usize,
    json_bytes: u64,
    heap_bytes: i128,
    heap_blocks: i128,
    rss_bytes: u64,
    load: Duration,
}

impl Row {
    fn print(&self) {
        let n = self.objects as f64;
        let json = self.json_bytes as f64 / n;
        let heap = self.heap_bytes as f64 / n;
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.3}× | {:.1} | {:.0} | {:.3}× | {:.3} s | {:.0} |",
            self.objects,
            json,
            heap,
            heap - json,
            heap / json,
            self.heap_blocks as f64 / n,
            self.rss_bytes as f64 / n,
            self.rss_bytes as f64 / n / json,
            self.load.as_secs_f64(),
            n / self.load.as_secs_f64().max(1e-9),
        );
    }
}

/// The wire format between parent and child: one `cluster\tJSON\n` line per pod (the JSON of
/// the generator is compact: it has no newline).
fn encode(pods: &[ResourceObject]) -> Vec<u8> {
    let mut out = Vec::new();
    for pod in pods {
        out.extend_from_slice(pod.fields.cluster.as_bytes());
        out.push(b'\t');
        out.extend_from_slice(&pod.raw);
        out.push(b'\n');
    }
    out
}

/// Reads the piped pods, loads them and measures (the child's work).
fn measure_stdin() -> Result<Row, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let gvr = Gvr::new("", "v1", "pods");
        let factory = MemoryStorageFactory::default();
        let pods = factory
            .new_resource_storage(ResourceStorageConfig {
                gvr: gvr.clone(),
                kind: "Pod".into(),
                namespaced: true,
            })
            .await
            .map_err(|e| format!("storage: {e}"))?;
        let gvr = Arc::new(gvr);
        let rss_before = rss();
        let (heap_before, blocks_before) = heap();

        let mut input = Vec::new();
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| format!("reading the pods: {e}"))?;
        let input = Bytes::from(input);
        let mut clusters: Vec<Arc<str>> = Vec::new();
        let mut json_bytes = 0u64;
        let mut objects = Vec::new();
        let mut start = 0;
        while let Some(end) = input[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| start + i)
        {
            let line = input.slice(start..end);
            start = end + 1;
            let Some(tab) = line.iter().position(|b| *b == b'\t') else {
                return Err("a line without a cluster".into());
            };
            let name =
                std::str::from_utf8(&line[..tab]).map_err(|e| format!("cluster name: {e}"))?;
            let cluster = match clusters.iter().find(|c| ***c == *name) {
                Some(cluster) => cluster.clone(),
                None => {
                    let cluster: Arc<str> = Arc::from(name);
                    clusters.push(cluster.clone());
                    cluster
                }
            };
            let raw = line.slice(tab + 1..);
            json_bytes += raw.len() as u64;
            objects.push(
                ResourceObject::parse(cluster, gvr.clone(), raw)
                    .map_err(|e| format!("parse: {e}"))?,
            );
        }
        let count = objects.len();
        let mut batches: Vec<Vec<Change>> = Vec::with_capacity(count.div_ceil(BATCH));
        let mut objects = objects.into_iter().peekable();
        while objects.peek().is_some() {
            batches.push(objects.by_ref().take(BATCH).map(Change::Upsert).collect());
        }
        drop(objects);

        let started = Instant::now();
        for batch in batches {
            pods.apply(batch).await.map_err(|e| format!("apply: {e}"))?;
        }
        let load = started.elapsed();
        // Every input byte was copied into the store or freed (the store keeps its own JSON,
        // with its resource version): what remains is the store.
        drop((input, clusters, gvr));
        let (heap_after, blocks_after) = heap();
        let rss_after = rss();
        if factory.object_count() != count || count == 0 {
            return Err(format!(
                "stored {} objects, read {count}",
                factory.object_count()
            ));
        }
        Ok(Row {
            objects: count,
            json_bytes,
            heap_bytes: heap_after - heap_before,
            heap_blocks: blocks_after - blocks_before,
            rss_bytes: rss_after.saturating_sub(rss_before),
            load,
        })
    })
}

/// Generates `size` pods and has a child process load and measure them.
fn run_size(exe: &std::path::Path, size: usize) -> Result<(), String> {
    let payload = encode(&generate_pods(size, CLUSTERS, SEED));
    let mut child = Command::new(exe)
        .arg(CHILD_FLAG)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    {
        let Some(mut stdin) = child.stdin.take() else {
            return Err("no pipe to the child".into());
        };
        stdin
            .write_all(&payload)
            .map_err(|e| format!("writing the pods to the child: {e}"))?;
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the child: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the run of {size} objects failed ({status})"))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == CHILD_FLAG) {
        return match measure_stdin() {
            Ok(row) => {
                row.print();
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("memory_per_object: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // `cargo bench` passes `--bench`; other flags are ignored, numbers are sizes.
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        DEFAULT_SIZES.to_vec()
    } else {
        sizes
    };
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("memory_per_object: cannot find the benchmark binary");
        return ExitCode::FAILURE;
    };
    println!(
        "Memory layer: generated pods over {CLUSTERS} clusters, loaded with `apply` batches of {BATCH}; \
         target: ≤ 1.3 × JSON + 300 B per object.\n"
    );
    println!(
        "| objects | JSON bytes/object | heap bytes/object | overhead bytes/object | heap/JSON | heap blocks/object | RSS bytes/object | RSS/JSON | load time | objects/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for size in sizes {
        if let Err(e) = run_size(&exe, size) {
            eprintln!("memory_per_object: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
