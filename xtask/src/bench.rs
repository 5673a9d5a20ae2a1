//! `cargo xtask bench`: runs the benchmarks and writes their results into docs/benchmarks.md.
//!
//! Each benchmark is a bench target that prints a Markdown table on stdout. Its section of
//! docs/benchmarks.md (between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`) is replaced by
//! the table, the command that produced it, the date and the machine.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

/// A benchmark: its name (the section of docs/benchmarks.md) and the cargo arguments that run it.
struct Benchmark {
    name: &'static str,
    title: &'static str,
    cargo_args: &'static [&'static str],
    /// A cargo command to run first (e.g. building a binary the benchmark starts).
    prepare: Option<&'static [&'static str]>,
}

const BENCHMARKS: &[Benchmark] = &[
    Benchmark {
        name: "memory-per-object",
        title: "memory layer: bytes per stored pod",
        cargo_args: &[
            "bench",
            "--package",
            "storage-memory",
            "--bench",
            "memory_per_object",
        ],
        prepare: None,
    },
    Benchmark {
        name: "apiserver-list",
        title: "apiserver: list 500 of 100,000 pods (JSON, Table), get one, kubectl paging",
        cargo_args: &[
            "bench",
            "--package",
            "clusterpedia-e2e",
            "--bench",
            "list_pods",
        ],
        prepare: None,
    },
    Benchmark {
        name: "internal-queries",
        title: "internal layer on PostgreSQL, MariaDB and SQLite: ingest, size, queries at 100,000 pods",
        cargo_args: &[
            "bench",
            "--package",
            "storage-internal",
            "--bench",
            "internal_queries",
        ],
        prepare: None,
    },
    Benchmark {
        name: "initial-sync",
        title: "clustersynchro-manager: initial sync of the 100k set from kube-sim",
        cargo_args: &[
            "bench",
            "--package",
            "clusterpedia-e2e",
            "--bench",
            "initial_sync",
        ],
        prepare: Some(&[
            "build",
            "--release",
            "--package",
            "kube-sim",
            "--bin",
            "kube-sim",
        ]),
    },
    Benchmark {
        name: "apiserver-limits",
        title: "apiserver at 100,000 pods on PostgreSQL, MariaDB, SQLite and memory: peak RSS of `limit=0`, the costliest allowed query, 45 slow clients",
        cargo_args: &[
            "bench",
            "--package",
            "clusterpedia",
            "--bench",
            "apiserver_limits",
        ],
        prepare: None,
    },
    Benchmark {
        name: "es-queries",
        title: "elasticsearch layer on the osmem-server emulator (not Elasticsearch): ingest, queries, full text (100,000 pods unless said)",
        cargo_args: &[
            "bench",
            "--package",
            "storage-elasticsearch",
            "--bench",
            "es_queries",
        ],
        prepare: None,
    },
    Benchmark {
        name: "churn",
        title: "update → visible under churn: PostgreSQL, SQLite and memory at 100 and 500 updates/s",
        cargo_args: &["bench", "--package", "clusterpedia-e2e", "--bench", "churn"],
        prepare: None,
    },
    Benchmark {
        name: "memory-queries",
        title: "memory layer: queries at 1,000,000 pods",
        cargo_args: &[
            "bench",
            "--package",
            "storage-memory",
            "--bench",
            "memory_queries",
        ],
        prepare: None,
    },
];

/// Runs the benchmarks named in `only` (all when empty).
pub(crate) fn run(only: &[String]) -> anyhow::Result<()> {
    let unknown: Vec<_> = only
        .iter()
        .filter(|name| !BENCHMARKS.iter().any(|b| b.name == name.as_str()))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<_> = BENCHMARKS.iter().map(|b| b.name).collect();
        bail!(
            "unknown benchmark(s) {unknown:?}; known: {}",
            known.join(", ")
        );
    }
    let docs = Path::new("docs/benchmarks.md");
    let mut text = std::fs::read_to_string(docs).unwrap_or_else(|_| "# Benchmarks\n".into());
    for bench in BENCHMARKS
        .iter()
        .filter(|b| only.is_empty() || only.iter().any(|n| n == b.name))
    {
        let table = run_one(bench)?;
        text = replace_section(&text, bench, &table);
        std::fs::write(docs, &text).with_context(|| format!("write {}", docs.display()))?;
        eprintln!("wrote the {} section of {}", bench.name, docs.display());
    }
    Ok(())
}

fn run_one(bench: &Benchmark) -> anyhow::Result<String> {
    if let Some(prepare) = bench.prepare {
        crate::test::cargo(prepare)?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", bench.cargo_args.join(" "));
    let output = Command::new(&cargo)
        .args(bench.cargo_args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !output.status.success() {
        bail!("benchmark {} failed ({})", bench.name, output.status);
    }
    let table = String::from_utf8(output.stdout).context("benchmark output is not UTF-8")?;
    if !table.contains('|') {
        bail!("benchmark {} printed no table", bench.name);
    }
    Ok(table)
}

fn replace_section(text: &str, bench: &Benchmark, table: &str) -> String {
    let begin = format!("<!-- bench:{} -->", bench.name);
    let end = format!("<!-- /bench:{} -->", bench.name);
    let section = format!(
        "{begin}\n## {}\n\nCommand: `cargo xtask bench {}` (runs `cargo {}`), {}, on {}.\n\n{}\n{end}",
        bench.title,
        bench.name,
        bench.cargo_args.join(" "),
        today(),
        machine(),
        table.trim_end()
    );
    match (text.find(&begin), text.find(&end)) {
        (Some(start), Some(stop)) if stop > start => {
            format!("{}{section}{}", &text[..start], &text[stop + end.len()..])
        }
        _ => format!("{}\n{section}\n", text.trim_end()),
    }
}

fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores ({model})")
}
