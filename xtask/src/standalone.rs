//! `cargo xtask new-storage-layer <name> --standalone <dir>`: a storage layer project of its own,
//! outside this repository (the Rust counterpart of the Go original's sample-storage repository).
//!
//! The layer's files are the sample's, renamed as the in-tree scaffold renames them
//! ([`Names::rename`], [`sample_files`]); its manifest takes the sample's dependencies from
//! `cargo metadata`, with the clusterpedia crates by path to this checkout (one place to switch
//! them to a git tag or a registry), and this workspace's lints and profiles (so that a shared
//! target directory reuses what is compiled). The three binaries are one line each
//! (`clusterpedia::main!`), and the project's own `cargo xtask dist` is this repository's
//! (`xtask::project_main`, the xtask library). [`check`] proves it all in CI.

use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, ensure};
use sha2::{Digest as _, Sha256};

use crate::new_storage_layer::{Names, SAMPLE_DIR, cargo_in, sample_files};

/// The layer name the CI check creates.
const CHECK_NAME: &str = "standalone-check";

/// The project's README; `{layer}`, `{crate}`, `{snake}`, `{upper}`, `{version}`, `{repo}` and
/// `{checkout}` are replaced.
const README: &str = include_str!("standalone-readme.md");

/// Creates the project of layer `name` in `dir` (which must not exist, or be empty), from the
/// sample of this repository at `root`.
pub(crate) fn run(root: &Path, name: &str, dir: &Path) -> anyhow::Result<()> {
    let names = Names::new(name)?;
    let root = std::fs::canonicalize(root).context("the clusterpedia checkout")?;
    let empty = std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none());
    ensure!(
        empty,
        "{} exists and is not empty: choose a new directory",
        dir.display()
    );
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    ensure!(
        !dir.starts_with(&root),
        "{} is inside the clusterpedia checkout: a standalone layer lives outside it (for a \
         layer in this workspace, leave out --standalone)",
        dir.display()
    );
    let checkout = relative_path(&dir, &root);
    let files = project_files(&root, &names, &checkout)?;
    for (relative, text) in &files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
    }
    // rustfmt wraps the renamed lines that grew.
    let formatted = xtask::cargo_command()
        .args(["fmt", "--all"])
        .current_dir(&dir)
        .status();
    if !formatted.is_ok_and(|status| status.success()) {
        eprintln!("warning: `cargo fmt` failed in {}", dir.display());
    }
    let layer = &names.layer;
    eprintln!(
        "created the storage layer project {} (layer \"{layer}\", crate storage-{layer}) from \
         {SAMPLE_DIR}/, with the clusterpedia crates by path to {}.\n\
         next, in {0}:\n  \
         cargo test --test conformance sqlite::\n  \
         cargo build && ./target/debug/apiserver storage-layers\n  \
         cargo xtask dist --storage {layer}\n\
         and its README.md",
        dir.display(),
        checkout.display()
    );
    Ok(())
}

/// Every file of the project: path relative to it, text.
fn project_files(
    root: &Path,
    names: &Names,
    checkout: &Path,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("read the root Cargo.toml")?;
    let version = workspace_value(&manifest, "version")?;
    let repository = workspace_value(&manifest, "repository")?;
    let crate_name = format!("storage-{}", names.layer);
    let mut files = Vec::new();
    for (path, text) in sample_files(&root.join(SAMPLE_DIR))? {
        if path != Path::new("Cargo.toml") {
            files.push((path, names.rename(&text)));
        }
    }
    let sample_manifest = std::fs::read_to_string(root.join(SAMPLE_DIR).join("Cargo.toml"))?;
    files.push((
        "Cargo.toml".into(),
        project_manifest(
            root,
            names,
            checkout,
            &manifest,
            &sample_manifest,
            &version,
            &repository,
        )?,
    ));
    for component in components(root)? {
        let entry_point = format!("{}_main", component.replace('-', "_"));
        files.push((
            PathBuf::from("src/bin").join(format!("{component}.rs")),
            format!(
                "//! The `{component}` binary: clusterpedia's, with the storage layer `{}` linked in.\n\n\
                 clusterpedia::main!({entry_point}, storage_{});\n",
                names.layer, names.snake
            ),
        ));
    }
    files.push((
        "xtask/Cargo.toml".into(),
        format!(
            "[package]\n\
             name = \"{crate_name}-xtask\"\n\
             description = \"cargo xtask dist: the distribution of the layer {layer}, by clusterpedia's own (its xtask library)\"\n\
             version = \"0.1.0\"\n\
             edition = \"2024\"\n\
             publish = false\n\n\
             [dependencies]\n\
             xtask.workspace = true\n\n\
             [lints]\n\
             workspace = true\n",
            layer = names.layer
        ),
    ));
    files.push((
        "xtask/src/main.rs".into(),
        "//! `cargo xtask dist --storage <layer>`: this layer's distribution, built by clusterpedia's\n\
         //! own `dist` (the same tarballs, OCI images, chart values and checksums).\n\n\
         fn main() -> std::process::ExitCode {\n    \
             xtask::project_main(std::path::Path::new(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/..\")))\n\
         }\n"
            .to_owned(),
    ));
    files.push((
        ".cargo/config.toml".into(),
        format!("[alias]\nxtask = \"run --quiet --package {crate_name}-xtask --\"\n"),
    ));
    files.push((".gitignore".into(), "/target\n/dist\n".into()));
    // The dependency versions of this checkout (cargo drops what the project does not use, and
    // adds the project): what clusterpedia was tested with, and what a shared target directory
    // has compiled already.
    files.push((
        "Cargo.lock".into(),
        std::fs::read_to_string(root.join("Cargo.lock")).context("read Cargo.lock")?,
    ));
    let readme = README
        .replace("{layer}", &names.layer)
        .replace("{crate}", &crate_name)
        .replace("{snake}", &names.snake)
        .replace("{upper}", &names.upper)
        .replace("{version}", &version)
        .replace("{repo}", &repository)
        .replace("{checkout}", &checkout.display().to_string());
    files.push(("README.md".into(), readme));
    files.sort();
    Ok(files)
}

/// The project's `Cargo.toml`: its package with the sample's dependencies (from `cargo
/// metadata`) and other sections (benches), one workspace with the project's xtask, the
/// clusterpedia crates in `[workspace.dependencies]`, and this workspace's lints and profiles.
fn project_manifest(
    root: &Path,
    names: &Names,
    checkout: &Path,
    manifest: &str,
    sample_manifest: &str,
    version: &str,
    repository: &str,
) -> anyhow::Result<String> {
    let metadata = xtask::manifest::metadata(root, true)?;
    let sample = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == SAMPLE_DIR))
        .context("cargo metadata lists no storage-sample package")?;
    let str_of = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    let layer = &names.layer;
    let mut out = format!(
        "# The storage layer `{layer}` of clusterpedia, in a project of its own: see README.md.\n\
         # Generated by `cargo xtask new-storage-layer {layer} --standalone <dir>` from the sample\n\
         # layer of clusterpedia-rs {version}.\n\n\
         [package]\n\
         name = \"storage-{layer}\"\n\
         description = {description:?}\n\
         version = \"0.1.0\"\n\
         edition = \"{edition}\"\n\
         rust-version = \"{rust_version}\"\n\
         license = \"{license}\"\n\
         publish = false\n\n\
         [dependencies]\n\
         # The binaries' entry points (`clusterpedia::main!` in src/bin/), without clusterpedia's\n\
         # own layers: the binaries link this layer only, and `cargo xtask dist` ships it.\n\
         clusterpedia.workspace = true\n",
        description = names.rename(&str_of(&sample["description"])),
        edition = str_of(&sample["edition"]),
        rust_version = str_of(&sample["rust_version"]),
        license = str_of(&sample["license"]),
    );
    // The clusterpedia crates: the root package, the path dependencies of the sample, xtask.
    let mut ours = vec![
        (
            "clusterpedia".to_owned(),
            PathBuf::new(),
            ", default-features = false",
        ),
        ("xtask".to_owned(), PathBuf::from("xtask"), ""),
    ];
    let dependencies = sample["dependencies"]
        .as_array()
        .context("storage-sample has no dependencies")?;
    for (kind, header) in [
        (serde_json::Value::Null, ""),
        ("dev".into(), "\n[dev-dependencies]\n"),
    ] {
        out.push_str(header);
        for dependency in dependencies.iter().filter(|d| d["kind"] == kind) {
            let name = str_of(&dependency["name"]);
            let mut keys = Vec::new();
            if let Some(path) = dependency["path"].as_str() {
                let path = Path::new(path)
                    .strip_prefix(root)
                    .unwrap_or(Path::new(path));
                if !ours.iter().any(|(n, _, _)| *n == name) {
                    ours.push((name.clone(), path.to_owned(), ""));
                }
                keys.push("workspace = true".to_owned());
            } else {
                let req = str_of(&dependency["req"]);
                keys.push(format!("version = {:?}", req.trim_start_matches('^')));
                if dependency["uses_default_features"] == false {
                    keys.push("default-features = false".into());
                }
            }
            let mut features: Vec<String> = Vec::new();
            for feature in dependency["features"].as_array().into_iter().flatten() {
                let feature = format!("{:?}", feature.as_str().unwrap_or_default());
                if !features.contains(&feature) {
                    features.push(feature);
                }
            }
            if !features.is_empty() {
                keys.push(format!("features = [{}]", features.join(", ")));
            }
            if keys == ["workspace = true"] {
                out.push_str(&format!("{name}.workspace = true\n"));
            } else if let [version] = keys.as_slice()
                && let Some(version) = version.strip_prefix("version = ")
            {
                out.push_str(&format!("{name} = {version}\n"));
            } else {
                out.push_str(&format!("{name} = {{ {} }}\n", keys.join(", ")));
            }
        }
    }
    // The sample's other sections (its benches), renamed.
    for (header, body) in sections(sample_manifest) {
        if header.starts_with("[[") {
            out.push_str(&format!("\n{header}\n{}", names.rename(body.trim_end())));
        }
    }
    out.push_str(
        "\n\n[lints]\nworkspace = true\n\n\
         [workspace]\n\
         resolver = \"3\"\n\
         members = [\".\", \"xtask\"]\n\n\
         [workspace.dependencies]\n\
         # The clusterpedia crates: all from the same source and release, never mixed (the layer\n\
         # registers in storage-api's registry, which the binaries read: one storage-api). By path\n\
         # to a clusterpedia-rs checkout for local development (the one that generated this\n\
         # project), with the release they are; to build against the release itself, on every\n\
         # line below replace `path = \"...\"` with\n",
    );
    out.push_str(&format!(
        "#   git = \"{repository}\", tag = \"v{version}\"      (a git tag), or delete it (the registry).\n\
         # Which releases a layer may use: README.md, \"Versions\".\n"
    ));
    for (name, path, extra) in &ours {
        let path = checkout.join(path);
        let path = path.to_string_lossy();
        let path = path.trim_end_matches('/');
        out.push_str(&format!(
            "{name} = {{ path = {path:?}, version = \"{version}\"{extra} }}\n"
        ));
    }
    // This workspace's lints and profiles: the same code standards, and the same compiled
    // dependencies when a target directory is shared.
    out.push('\n');
    for (header, body) in sections(manifest) {
        if header.starts_with("[workspace.lints.") || header.starts_with("[profile.") {
            out.push_str(&format!("{header}\n{body}"));
        }
    }
    Ok(out)
}

/// The `[section]` headers of a manifest with the lines that follow each, up to the next one.
fn sections(manifest: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in manifest.lines() {
        if line.starts_with('[') {
            sections.push((line.to_owned(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections
}

/// `key` of `[workspace.package]`.
fn workspace_value(manifest: &str, key: &str) -> anyhow::Result<String> {
    sections(manifest)
        .into_iter()
        .filter(|(header, _)| header == "[workspace.package]")
        .flat_map(|(_, body)| body.lines().map(str::to_owned).collect::<Vec<_>>())
        .find_map(|line| {
            let (k, v) = line.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("no {key} in [workspace.package] of Cargo.toml"))
}

/// The binaries of the root package (`src/bin/*.rs`).
fn components(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("src/bin")).context("read src/bin")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// `to` relative to `from` (both absolute), or `to` itself when they share only the root.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return to.iter().collect();
    }
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for component in &to[common..] {
        path.push(component);
    }
    path
}

/// The CI check: generates the project of layer `standalone-check` outside the workspace at
/// `root` (in the target directory, shared with it), runs its conformance suite on SQLite,
/// checks that its binaries list its layer, and builds its distribution (dev profile) with its
/// own `cargo xtask dist`. Building it outside the workspace proves that a layer needs only
/// the public API of the clusterpedia crates.
///
/// The project's files get the time of their newest input (this xtask, the sample), so that a
/// second run, with nothing changed, compiles nothing again.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let target = std::path::absolute(&target).context("the target directory")?;
    let project = target.join("xtask").join(CHECK_NAME);
    if project.exists() {
        std::fs::remove_dir_all(&project)
            .with_context(|| format!("remove {}", project.display()))?;
    }
    eprintln!(
        "$ cargo xtask new-storage-layer {CHECK_NAME} --standalone {}",
        project.display()
    );
    run(root, CHECK_NAME, &project)?;
    let inputs = newest_time(&root.join(SAMPLE_DIR))?
        .max(std::fs::metadata(std::env::current_exe()?)?.modified()?);
    set_times(&project, inputs)?;
    cargo_in(
        &project,
        &target,
        &["test", "--test", "conformance", "sqlite::"],
    )?;
    // `cargo test` built the binaries too.
    for component in components(root)? {
        let binary = target.join("debug").join(&component);
        let listed = crate::dist::listed_layers(&binary)?;
        ensure!(
            listed == [CHECK_NAME],
            "{} storage-layers lists {listed:?}, not [{CHECK_NAME:?}]",
            binary.display()
        );
    }
    let out = target.join("xtask").join(format!("{CHECK_NAME}-dist"));
    let out_arg = out.to_string_lossy();
    cargo_in(
        &project,
        &target,
        &[
            "xtask",
            "dist",
            "--storage",
            CHECK_NAME,
            "--profile",
            "dev",
            "--out",
            &out_arg,
        ],
    )?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let tag = format!("{}-{CHECK_NAME}", workspace_value(&manifest, "version")?);
    let dist = out.join(&tag);
    check_distribution(&dist, &tag, &components(root)?)?;
    // Its values.yaml selects its layer and images in clusterpedia-core (helm template).
    crate::check_dist::render_dist_values(root, &dist, CHECK_NAME, &tag)?;
    eprintln!("standalone check: {} is complete", dist.display());
    std::fs::remove_dir_all(&out).with_context(|| format!("remove {}", out.display()))?;
    std::fs::remove_dir_all(&project).with_context(|| format!("remove {}", project.display()))
}

/// The distribution in `dir` has its checksums right, an OCI image per component tagged `tag`,
/// chart values naming the layer, and a manifest naming the layer and the project's package.
fn check_distribution(dir: &Path, tag: &str, components: &[String]) -> anyhow::Result<()> {
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .with_context(|| format!("{} has no SHA256SUMS", dir.display()))?;
    let mut listed = Vec::new();
    for line in sums.lines() {
        let (sum, file) = line.split_once("  ").context("a SHA256SUMS line")?;
        let bytes = std::fs::read(dir.join(file)).with_context(|| format!("read {file}"))?;
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        ensure!(
            actual == sum,
            "{file}: SHA256SUMS says {sum}, it is {actual}"
        );
        listed.push(file.to_owned());
    }
    for component in components {
        for file in [
            format!("{component}-{tag}.oci.tar"),
            format!("oci/{component}/index.json"),
        ] {
            ensure!(dir.join(&file).exists(), "no {file} in {}", dir.display());
        }
        let index = std::fs::read_to_string(dir.join(format!("oci/{component}/index.json")))?;
        ensure!(
            index.contains(&format!("\"org.opencontainers.image.ref.name\":\"{tag}\"")),
            "oci/{component} is not tagged {tag}"
        );
        ensure!(
            listed
                .iter()
                .any(|f| f.starts_with(&format!("{component}-"))),
            "SHA256SUMS lists no file of {component}"
        );
    }
    let values = std::fs::read_to_string(dir.join("values.yaml"))?;
    ensure!(
        values.contains(&format!("  name: {CHECK_NAME}\n")) && values.contains(tag),
        "values.yaml does not select the layer {CHECK_NAME} and the tag {tag}:\n{values}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
    ensure!(
        manifest["layer"] == CHECK_NAME && manifest["package"] == format!("storage-{CHECK_NAME}"),
        "manifest.json names another layer or package: {manifest}"
    );
    Ok(())
}

/// The newest modification time of the files under `dir`.
fn newest_time(dir: &Path) -> anyhow::Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let time = if entry.file_type()?.is_dir() {
            newest_time(&entry.path())?
        } else {
            entry.metadata()?.modified()?
        };
        newest = newest.max(time);
    }
    Ok(newest)
}

/// Sets the modification time of every file under `dir` to `time`.
fn set_times(dir: &Path, time: SystemTime) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            set_times(&entry.path(), time)?;
        } else {
            std::fs::File::options()
                .write(true)
                .open(entry.path())
                .and_then(|file| file.set_modified(time))
                .with_context(|| format!("set the time of {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conformance_suite_requires_exactly_its_storage_api() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let metadata = xtask::manifest::metadata(&root, true).expect("metadata");
        let conformance = metadata["packages"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "storage-conformance"))
            .expect("storage-conformance");
        assert_eq!(conformance["version"], env!("CARGO_PKG_VERSION"));
        let requirement = conformance["dependencies"]
            .as_array()
            .and_then(|d| {
                d.iter()
                    .find(|d| d["name"] == "storage-api" && d["kind"].is_null())
            })
            .expect("a storage-api dependency")["req"]
            .clone();
        assert_eq!(
            requirement,
            format!("={}", env!("CARGO_PKG_VERSION")),
            "storage-conformance/Cargo.toml: storage-api's version must be \"=<workspace version>\""
        );
    }

    #[test]
    fn relative_paths_go_up_then_down() {
        assert_eq!(
            relative_path(Path::new("/a/b/project"), Path::new("/a/clusterpedia")),
            PathBuf::from("../../clusterpedia")
        );
        assert_eq!(
            relative_path(Path::new("/work/x"), Path::new("/work/x/y")),
            PathBuf::from("y")
        );
        assert_eq!(
            relative_path(Path::new("/tmp/project"), Path::new("/work/clusterpedia")),
            PathBuf::from("/work/clusterpedia")
        );
    }

    #[test]
    fn the_manifest_takes_every_dependency_of_the_sample() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let root = std::fs::canonicalize(root).expect("root");
        let names = Names::new("my-store").expect("valid");
        let version = env!("CARGO_PKG_VERSION");
        let files = project_files(&root, &names, Path::new("../clusterpedia-rs")).expect("files");
        let manifest = &files
            .iter()
            .find(|(path, _)| path == Path::new("Cargo.toml"))
            .expect("a manifest")
            .1;
        for line in [
            "name = \"storage-my-store\"".to_owned(),
            "clusterpedia.workspace = true".to_owned(),
            "storage-api.workspace = true".to_owned(),
            "storage-api = { workspace = true, features = [\"testing\"] }".to_owned(),
            "storage-conformance.workspace = true".to_owned(),
            format!(
                "clusterpedia = {{ path = \"../clusterpedia-rs\", version = \"{version}\", default-features = false }}"
            ),
            format!(
                "storage-api = {{ path = \"../clusterpedia-rs/storage-api\", version = \"{version}\" }}"
            ),
            format!("xtask = {{ path = \"../clusterpedia-rs/xtask\", version = \"{version}\" }}"),
            "[profile.dev.package.\"*\"]".to_owned(),
            "[workspace.lints.rust]".to_owned(),
            "name = \"sqlite_list\"".to_owned(),
        ] {
            assert!(
                manifest.lines().any(|l| l == line.as_str()),
                "no line {line:?} in\n{manifest}"
            );
        }
        // The code and the configuration are renamed throughout.
        for (path, text) in &files {
            let code = path.extension().is_some_and(|e| e == "rs" || e == "yaml");
            assert!(
                !code || !text.contains("sample"),
                "{} names the sample",
                path.display()
            );
        }
        let bin = &files
            .iter()
            .find(|(path, _)| path == Path::new("src/bin/apiserver.rs"))
            .expect("the apiserver")
            .1;
        assert!(bin.contains("clusterpedia::main!(apiserver_main, storage_my_store);"));
    }
}
