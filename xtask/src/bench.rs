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
        name: "watch-delivery",
        title: "write → watch delivery through the apiserver: PostgreSQL and SQLite, 10 and 100 watchers at 500 updates/s; idle cost of the change log",
        cargo_args: &[
            "bench",
            "--package",
            "clusterpedia-e2e",
            "--bench",
            "watch_delivery",
        ],
        prepare: None,
    },
    Benchmark {
        name: "scale",
        title: "scale on PostgreSQL: sync, memory, database size and queries at 10k, 100k and 1M pods (10 clusters each); 100 clusters of 1k pods",
        cargo_args: &["bench", "--package", "clusterpedia-e2e", "--bench", "scale"],
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

/// Runs the benchmarks named in `only` (all when empty), each with `args` after its own.
pub(crate) fn run(only: &[String], args: &[String]) -> anyhow::Result<()> {
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
    for bench in BENCHMARKS
        .iter()
        .filter(|b| only.is_empty() || only.iter().any(|n| n == b.name))
    {
        let table = run_one(bench, args)?;
        // Read after the run: the file may have been edited while the benchmark ran.
        let text = std::fs::read_to_string(docs).unwrap_or_else(|_| "# Benchmarks\n".into());
        let date = if args.is_empty() {
            today()
        } else {
            format!("with `-- {}`, {}", args.join(" "), today())
        };
        let text = replace_section(&text, bench, &table, &date, &machine());
        std::fs::write(docs, &text).with_context(|| format!("write {}", docs.display()))?;
        eprintln!("wrote the {} section of {}", bench.name, docs.display());
    }
    Ok(())
}

fn run_one(bench: &Benchmark, args: &[String]) -> anyhow::Result<String> {
    if let Some(prepare) = bench.prepare {
        crate::test::cargo(prepare)?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command: Vec<&str> = bench.cargo_args.to_vec();
    if !args.is_empty() {
        command.push("--");
        command.extend(args.iter().map(String::as_str));
    }
    eprintln!("$ cargo {}", command.join(" "));
    let output = Command::new(&cargo)
        .args(&command)
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

/// The heading under which a section keeps the run before the newest one.
const PREVIOUS_RUN: &str = "### Previous run";

/// `text` with the section of `bench` replaced by `table` (with the command, `date` and
/// `machine`), or with that section appended when it has none. The section's previous content
/// (its command line, date and tables) is kept below the new table under "Previous run";
/// only the latest previous run is kept, so that the file does not grow with every run.
fn replace_section(
    text: &str,
    bench: &Benchmark,
    table: &str,
    date: &str,
    machine: &str,
) -> String {
    let begin = format!("<!-- bench:{} -->", bench.name);
    let end = format!("<!-- /bench:{} -->", bench.name);
    let mut section = format!(
        "{begin}\n## {}\n\nCommand: `cargo xtask bench {}` (runs `cargo {}`), {date}, on {machine}.\n\n{}",
        bench.title,
        bench.name,
        bench.cargo_args.join(" "),
        table.trim_end()
    );
    let (start, stop) = match (text.find(&begin), text.find(&end)) {
        (Some(start), Some(stop)) if stop > start => (start, stop),
        _ => return format!("{}\n{section}\n{end}\n", text.trim_end()),
    };
    let previous = previous_run(&text[start + begin.len()..stop]);
    if !previous.is_empty() {
        section.push_str(&format!("\n\n{PREVIOUS_RUN}\n\n{previous}"));
    }
    format!(
        "{}{section}\n{end}{}",
        &text[..start],
        &text[stop + end.len()..]
    )
}

/// The run described by a section's body (between its markers): without its `## ` title and
/// without the run it kept itself under "Previous run".
fn previous_run(body: &str) -> &str {
    let body = body.trim_start();
    let body = match body.strip_prefix("## ") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, rest)| rest),
        None => body,
    };
    let body = body
        .find(&format!("\n{PREVIOUS_RUN}\n"))
        .map_or(body, |at| &body[..at]);
    body.trim()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bench() -> &'static Benchmark {
        BENCHMARKS
            .iter()
            .find(|b| b.name == "apiserver-list")
            .expect("present")
    }

    fn run(text: &str, table: &str, date: &str) -> String {
        replace_section(text, bench(), table, date, "2 cores (test CPU)")
    }

    #[test]
    fn replace_section_appends_a_missing_section() {
        let text = run(
            "# Benchmarks\n\nIntro.\n",
            "| a |\n|---|\n| 1 |\n",
            "2026-01-01",
        );
        assert_eq!(
            text,
            "# Benchmarks\n\nIntro.\n<!-- bench:apiserver-list -->\n## apiserver: list 500 of \
             100,000 pods (JSON, Table), get one, kubectl paging\n\nCommand: `cargo xtask bench \
             apiserver-list` (runs `cargo bench --package clusterpedia-e2e --bench list_pods`), \
             2026-01-01, on 2 cores (test CPU).\n\n| a |\n|---|\n| 1 |\n\
             <!-- /bench:apiserver-list -->\n"
        );
        assert!(!text.contains(PREVIOUS_RUN), "no previous run yet: {text}");
    }

    #[test]
    fn replace_section_keeps_the_previous_run_below_the_new_one() {
        let first = run("# Benchmarks\n", "| a |\n|---|\n| 1 |\n", "2026-01-01");
        let text = format!("{first}\nText after the section.\n");
        let second = run(&text, "| a |\n|---|\n| 2 |\n", "2026-02-02");
        let new_at = second.find("2026-02-02").expect("present");
        let heading_at = second.find(PREVIOUS_RUN).expect("present");
        let old_at = second.find("2026-01-01").expect("present");
        assert!(new_at < heading_at && heading_at < old_at, "{second}");
        assert!(
            second.contains("| 2 |\n\n### Previous run\n\nCommand: "),
            "{second}"
        );
        assert!(
            second.contains("| 1 |\n<!-- /bench:apiserver-list -->"),
            "{second}"
        );
        assert_eq!(
            second.matches("## apiserver: list 500").count(),
            1,
            "{second}"
        );
        assert!(second.starts_with("# Benchmarks\n"), "{second}");
        assert!(
            second.ends_with("-->\n\nText after the section.\n"),
            "{second}"
        );
    }

    #[test]
    fn replace_section_keeps_only_the_latest_previous_run() {
        let mut text = "# Benchmarks\n".to_owned();
        for (date, value) in [("2026-01-01", 1), ("2026-02-02", 2), ("2026-03-03", 3)] {
            text = run(&text, &format!("| a |\n|---|\n| {value} |\n"), date);
        }
        assert_eq!(text.matches(PREVIOUS_RUN).count(), 1, "{text}");
        assert!(
            !text.contains("2026-01-01") && !text.contains("| 1 |"),
            "{text}"
        );
        let (new, previous) = text.split_once(PREVIOUS_RUN).expect("present");
        assert!(
            new.contains("2026-03-03") && new.contains("| 3 |"),
            "{text}"
        );
        assert!(
            previous.contains("2026-02-02") && previous.contains("| 2 |"),
            "{text}"
        );
    }

    #[test]
    fn replace_section_moves_notes_written_in_the_section_with_their_run() {
        let text = "<!-- bench:apiserver-list -->\n## old title\n\nCommand: old.\n\n| x |\n\n\
                    A note on the old run.\n<!-- /bench:apiserver-list -->\n<!-- bench:churn -->\n\
                    ## churn\n<!-- /bench:churn -->\n";
        let text = run(text, "| y |\n", "2026-04-04");
        let (_, previous) = text.split_once(PREVIOUS_RUN).expect("present");
        assert!(
            previous.starts_with("\n\nCommand: old.\n\n| x |\n\nA note on the old run.\n<!-- /bench:apiserver-list -->\n<!-- bench:churn -->\n## churn\n"),
            "{text}"
        );
        assert!(!text.contains("old title"), "{text}");
    }
}
