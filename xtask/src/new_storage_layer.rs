//! `cargo xtask new-storage-layer <name>`: a new storage layer crate, copied from the sample.
//!
//! The sample layer (`storage-sample/`) is the single source: its files are copied with its
//! names replaced ([`Names::rename`]). The workspace takes the new crate by its `storage-*`
//! members glob, and three lines link it ([`WIRING`]): its cargo feature and optional dependency
//! in the root `Cargo.toml`, and its line in `src/lib.rs`. The tests and the CI feature matrix
//! read the features from the manifest. The result builds and passes the conformance suite as
//! it is; [`check`] proves it in CI, and that nothing else had to change.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

/// The crate everything is copied from.
pub(crate) const SAMPLE_DIR: &str = "storage-sample";

/// The name the scaffold check creates (with a dash, to catch names that are not identifiers).
const CHECK_NAME: &str = "scaffold-check";

/// One wiring line: in `file`, `line` (with `{layer}` and `{snake}` replaced) is inserted after
/// the last line for which `is_layer_line` holds, i.e. after the line of the last layer.
struct Wiring {
    file: &'static str,
    line: &'static str,
    is_layer_line: fn(&str) -> bool,
}

/// The three lines that link a layer crate: its feature, its optional dependency of the root
/// package, and the line that names it in the binaries. The workspace takes the crate by the
/// `storage-*` members glob; the tests and the CI matrix read the features from the manifest.
const WIRING: &[Wiring] = &[
    Wiring {
        file: "Cargo.toml",
        line: "{layer}-storage = [\"dep:storage-{layer}\"]\n",
        is_layer_line: |line| line.contains("-storage = [\"dep:storage-"),
    },
    Wiring {
        file: "Cargo.toml",
        line: "storage-{layer} = { path = \"storage-{layer}\", optional = true }\n",
        is_layer_line: |line| line.starts_with("storage-") && line.contains("optional = true"),
    },
    Wiring {
        file: "src/lib.rs",
        line: "    \"{layer}-storage\" => storage_{snake},\n",
        is_layer_line: |line| line.trim_start().starts_with('"') && line.contains("-storage\" => "),
    },
];

/// `text` with `line` inserted after its last line for which `is_layer_line` holds.
fn insert_after_last(text: &str, is_layer_line: fn(&str) -> bool, line: &str) -> Option<String> {
    let mut at = None;
    let mut offset = 0;
    for existing in text.split_inclusive('\n') {
        offset += existing.len();
        if is_layer_line(existing) {
            at = Some(offset);
        }
    }
    let at = at?;
    Some(format!("{}{line}{}", &text[..at], &text[at..]))
}

/// The names of a new layer, in each form the sample's names take.
pub(crate) struct Names {
    /// The layer name (`--storage-name`), e.g. `my-store`.
    pub(crate) layer: String,
    /// For Rust identifiers and SQL: `my_store`.
    pub(crate) snake: String,
    /// For Rust types: `MyStore`.
    camel: String,
    /// For environment variables: `MY_STORE`.
    pub(crate) upper: String,
}

impl Names {
    /// The names of layer `name`, checked: lowercase letters, digits and single dashes,
    /// starting with a letter and ending with a letter or digit (a DNS label, at most 40 long).
    pub(crate) fn new(name: &str) -> anyhow::Result<Self> {
        let valid = !name.is_empty()
            && name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('-')
            && !name.contains("--")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ensure!(
            valid,
            "invalid layer name {name:?}: use lowercase letters, digits and single dashes, \
             starting with a letter and ending with a letter or digit, at most 40 characters \
             (e.g. \"redis\" or \"my-store\")"
        );
        let camel = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        Ok(Self {
            layer: name.to_owned(),
            snake: name.replace('-', "_"),
            camel,
            upper: name.replace('-', "_").to_ascii_uppercase(),
        })
    }

    /// The sample's names and what they become, most specific first.
    fn replacements(&self) -> [(&'static str, String); 8] {
        let Self {
            layer,
            snake,
            camel,
            upper,
        } = self;
        [
            ("sample-storage-layer", layer.clone()),
            ("sample-storage", format!("{layer}-storage")),
            ("storage-sample", format!("storage-{layer}")),
            ("storage_sample", format!("storage_{snake}")),
            ("Sample", camel.clone()),
            ("SAMPLE_", format!("{upper}_")),
            ("sample_", format!("{snake}_")),
            ("sample", layer.clone()),
        ]
    }

    /// `text` with every name of the sample replaced, in one pass (a replacement is never
    /// replaced again).
    pub(crate) fn rename(&self, text: &str) -> String {
        let replacements = self.replacements();
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while let Some(c) = rest.chars().next() {
            for (from, to) in &replacements {
                if let Some(after) = rest.strip_prefix(from) {
                    out.push_str(to);
                    rest = after;
                    continue 'scan;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// Creates `storage-<name>/` in the workspace at `root` and wires it in.
pub(crate) fn run(root: &Path, name: &str) -> anyhow::Result<()> {
    let names = Names::new(name)?;
    let crate_dir = format!("storage-{}", names.layer);
    refuse_taken(root, &names, &crate_dir)?;
    // Read and check everything before writing anything.
    let files = sample_files(&root.join(SAMPLE_DIR))?;
    let mut edits: Vec<(PathBuf, String)> = Vec::new();
    for wiring in WIRING {
        let path = root.join(wiring.file);
        let text = match edits.iter().position(|(p, _)| *p == path) {
            Some(i) => edits.remove(i).1,
            None => std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?,
        };
        let line = wiring
            .line
            .replace("{layer}", &names.layer)
            .replace("{snake}", &names.snake);
        let text = insert_after_last(&text, wiring.is_layer_line, &line).with_context(|| {
            format!(
                "{} has no storage layer line to add {:?} after: update WIRING in \
                 xtask/src/new_storage_layer.rs",
                wiring.file,
                line.trim()
            )
        })?;
        edits.push((path, text));
    }
    for (relative, text) in &files {
        let path = root.join(&crate_dir).join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, names.rename(text))
            .with_context(|| format!("write {}", path.display()))?;
    }
    for (path, text) in &edits {
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    }
    // rustfmt orders the `extern crate` lines and wraps the renamed lines that grew.
    let formatted = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fmt", "--package", &crate_dir, "--package", "clusterpedia"])
        .current_dir(root)
        .status();
    if !formatted.is_ok_and(|status| status.success()) {
        eprintln!("warning: `cargo fmt` failed: run it before committing");
    }
    let layer = &names.layer;
    eprintln!(
        "created {crate_dir}/ (layer \"{layer}\", cargo feature {layer}-storage) from \
         {SAMPLE_DIR}/, and linked it with three lines: its feature and optional dependency in \
         Cargo.toml, its line in src/lib.rs.\n\
         next:\n  \
         cargo test -p {crate_dir} --test conformance sqlite::\n  \
         cargo build --features {layer}-storage && ./target/debug/apiserver storage-layers\n  \
         then make it yours: its documentation (src/lib.rs), its configuration, its storage \
         (docs/storage-layer-guide.md)"
    );
    Ok(())
}

/// Fails when the crate directory, the cargo feature or the layer name is taken.
fn refuse_taken(root: &Path, names: &Names, crate_dir: &str) -> anyhow::Result<()> {
    let layer = &names.layer;
    ensure!(
        !root.join(crate_dir).exists(),
        "{crate_dir}/ exists already: choose another name"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("read Cargo.toml")?;
    ensure!(
        !manifest.contains(&format!("\n{layer}-storage = ")),
        "the cargo feature {layer}-storage exists already: choose another name"
    );
    // Layer crates register their name in their src/lib.rs, as a `LAYER_NAME` constant (the
    // sample's way) or in the macro call itself.
    let declarations = [
        format!("pub const LAYER_NAME: &str = \"{layer}\";"),
        format!("name: \"{layer}\","),
    ];
    for entry in std::fs::read_dir(root).context("read the workspace")? {
        let lib = entry?.path().join("src/lib.rs");
        let registered = std::fs::read_to_string(&lib)
            .is_ok_and(|text| declarations.iter().any(|d| text.contains(d.as_str())));
        if registered {
            bail!(
                "the layer name \"{layer}\" is registered by {} already: choose another name",
                lib.display()
            );
        }
    }
    Ok(())
}

/// The sample's files (path relative to its directory, text), without build output.
pub(crate) fn sample_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&relative))
            .with_context(|| format!("read {}", dir.join(&relative).display()))?
        {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                if entry.file_name() != "target" {
                    pending.push(path);
                }
            } else {
                let text = std::fs::read_to_string(entry.path())
                    .with_context(|| format!("read {}", entry.path().display()))?;
                files.push((path, text));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The CI check: scaffolds a layer in a copy of the workspace at `root`, then runs its
/// conformance suite on SQLite and checks that the binaries built with its feature list it.
///
/// The copy lives at a fixed place in the target directory and shares it, so that only the
/// workspace's own crates are compiled again (third-party ones are reused), and keeps the
/// files' times, so that a second run recompiles only what the scaffold wrote.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let target = std::path::absolute(&target).context("the target directory")?;
    let copy = target.join("xtask").join("scaffold-check");
    if copy.exists() {
        std::fs::remove_dir_all(&copy).with_context(|| format!("remove {}", copy.display()))?;
    }
    copy_workspace(root, &copy)?;
    eprintln!(
        "$ cargo xtask new-storage-layer {CHECK_NAME}   (in {})",
        copy.display()
    );
    run(&copy, CHECK_NAME)?;
    let crate_dir = format!("storage-{CHECK_NAME}");
    let added = lines_added_outside(root, &copy, Path::new(&crate_dir))?;
    ensure!(
        added == WIRING.len(),
        "new-storage-layer added {added} lines outside {crate_dir}/, expected {}",
        WIRING.len()
    );
    let package = format!("storage-{CHECK_NAME}");
    let feature = format!("{CHECK_NAME}-storage");
    cargo_in(
        &copy,
        &target,
        &[
            "test",
            "--package",
            &package,
            "--test",
            "conformance",
            "sqlite::",
        ],
    )?;
    cargo_in(
        &copy,
        &target,
        &[
            "test",
            "--package",
            "clusterpedia",
            "--test",
            "storage_layers",
            "--no-default-features",
            "--features",
            &feature,
        ],
    )?;
    std::fs::remove_dir_all(&copy).with_context(|| format!("remove {}", copy.display()))
}

/// The number of lines that the copy `copy` of the workspace `root` has in addition, outside
/// `crate_dir` (`Cargo.lock`, which cargo writes, aside). Fails when a line of `root` was changed
/// or removed, or when a file outside `crate_dir` was added.
fn lines_added_outside(root: &Path, copy: &Path, crate_dir: &Path) -> anyhow::Result<usize> {
    let mut added = 0;
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(copy.join(&relative))
            .with_context(|| format!("read {}", copy.join(&relative).display()))?
        {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if path == crate_dir || path == Path::new("Cargo.lock") {
                continue;
            }
            if entry.file_type()?.is_dir() {
                pending.push(path);
                continue;
            }
            let original = std::fs::read_to_string(root.join(&path))
                .with_context(|| format!("new-storage-layer added {}", path.display()))?;
            let changed = std::fs::read_to_string(entry.path())
                .with_context(|| format!("read {}", entry.path().display()))?;
            let mut original_lines = original.lines().peekable();
            for line in changed.lines() {
                if original_lines.peek() == Some(&line) {
                    original_lines.next();
                } else {
                    added += 1;
                }
            }
            ensure!(
                original_lines.next().is_none(),
                "new-storage-layer changed or removed a line of {}",
                path.display()
            );
        }
    }
    Ok(added)
}

/// Copies the workspace at `from` to `to`, without build output and git data, keeping the
/// files' modification times.
fn copy_workspace(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if ["target", "dist", ".git"].iter().any(|skip| name == *skip) {
            continue;
        }
        let (source, destination) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_workspace(&source, &destination)?;
        } else if entry.file_type()?.is_file() {
            std::fs::copy(&source, &destination)
                .with_context(|| format!("copy {}", source.display()))?;
            let modified = entry.metadata()?.modified()?;
            std::fs::File::options()
                .write(true)
                .open(&destination)
                .and_then(|file| file.set_modified(modified))
                .with_context(|| format!("set the time of {}", destination.display()))?;
        }
    }
    Ok(())
}

/// Runs cargo in `dir` with the target directory `target`, failing on a non-zero exit.
pub(crate) fn cargo_in(dir: &Path, target: &Path, args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}   (in {})", args.join(" "), dir.display());
    let status = xtask::cargo_command()
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    ensure!(
        status.success(),
        "cargo {} failed ({status})",
        args.join(" ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_every_form_and_bad_ones_are_refused() {
        let names = Names::new("my-store2").expect("valid");
        assert_eq!(
            (
                names.snake.as_str(),
                names.camel.as_str(),
                names.upper.as_str()
            ),
            ("my_store2", "MyStore2", "MY_STORE2")
        );
        for bad in [
            "",
            "My",
            "1st",
            "a_b",
            "end-",
            "a--b",
            "x.y",
            &"a".repeat(41),
        ] {
            assert!(Names::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn renames_in_one_pass_most_specific_first() {
        let names = Names::new("my-store").expect("valid");
        let text = "storage-sample sample-storage sample-storage-layer storage_sample::SampleConfig \
                    SAMPLE_TEST_MYSQL_URL sample_resources the sample layer example";
        assert_eq!(
            names.rename(text),
            "storage-my-store my-store-storage my-store storage_my_store::MyStoreConfig \
             MY_STORE_TEST_MYSQL_URL my_store_resources the my-store layer example"
        );
    }

    #[test]
    fn every_wiring_line_finds_its_place_in_the_workspace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for wiring in WIRING {
            let text = std::fs::read_to_string(root.join(wiring.file)).expect("read");
            let wired = insert_after_last(&text, wiring.is_layer_line, "NEW\n")
                .unwrap_or_else(|| panic!("{} has no layer line", wiring.file));
            assert_eq!(wired.lines().count(), text.lines().count() + 1);
        }
    }

    #[test]
    fn a_line_goes_after_the_last_layer_line() {
        let text =
            "[features]\na-storage = [\"dep:storage-a\"]\nb-storage = [\"dep:storage-b\"]\n\n[x]\n";
        let wired = insert_after_last(text, WIRING[0].is_layer_line, "c\n").expect("place");
        assert_eq!(
            wired,
            "[features]\na-storage = [\"dep:storage-a\"]\nb-storage = [\"dep:storage-b\"]\nc\n\n[x]\n"
        );
    }
}
