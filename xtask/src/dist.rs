//! `cargo xtask dist --storage <layer>`: a distribution per storage layer.
//!
//! For each layer: the binaries built with exactly that layer's cargo feature, then under
//! `dist/<version>-<layer>/`:
//!
//! ```text
//! <component>-<version>-<layer>-<target>.tar.gz   the binary, one tarball per component
//! <component>-<version>-<layer>.oci.tar           an OCI archive (the layout below, tarred)
//! oci/<component>/                                an OCI image layout, tag <version>-<layer>
//! values.yaml                                     chart values that run these images
//! manifest.json                                   version, git revision, layer, features, target
//! SHA256SUMS                                      `sha256sum -c` format
//! ```
//!
//! The images are written here, in Rust (blobs, config, manifest, index.json), without a
//! container engine. Each holds the binary, a non-root user (65532), and, when the binary is
//! dynamically linked (glibc), the loader and the exact shared libraries `ldd` names.
//!
//! A storage layer kept in a repository of its own (`cargo xtask new-storage-layer <name>
//! --standalone <dir>`) gets the same distribution from [`run_project`], which its own
//! `cargo xtask dist` calls: its package's binaries, with `<version>` the version of the
//! clusterpedia crates it is built with.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// The user and group the images run as (the "nonroot" of distroless images).
const NONROOT: u64 = 65532;
/// Where the binaries live in the images.
const BIN_DIR: &str = "usr/local/bin";
/// The CA bundle copied into the images when the build machine has one.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The package of this repository whose binaries are shipped (and whose version a standalone
/// layer's distribution carries).
const ROOT_PACKAGE: &str = "clusterpedia";

/// The options of `cargo xtask dist`.
#[derive(Debug, clap::Args)]
pub struct DistArgs {
    /// The storage layer of the distribution (`internal`, `memory`, `sample-storage-layer`, …),
    /// or `all` for every layer that registers itself.
    #[arg(long, value_name = "LAYER")]
    pub storage: String,
    /// The cargo profile: `release` (what users ship) or `dev` (reuses the debug builds; what
    /// CI checks).
    #[arg(long, default_value = "release", value_parser = ["release", "dev"])]
    pub profile: String,
    /// The output directory (one sub-directory per distribution).
    #[arg(long, default_value = "dist")]
    pub out: PathBuf,
    /// Only the binaries, tarballs and checksums, no images.
    #[arg(long)]
    pub no_images: bool,
}

/// A storage layer of a distribution: the name it registers and how its binaries are built.
#[derive(Debug, Clone)]
struct Layer {
    /// The name it registers (`--storage-name`).
    name: String,
    /// The package whose binaries are shipped.
    package: String,
    /// Its version.
    package_version: String,
    /// The cargo features it is built with, without the default ones; none: the defaults.
    features: Vec<String>,
}

/// What one distribution produced.
#[derive(Debug)]
pub struct Distribution {
    /// `dist/<version>-<layer>`.
    pub dir: PathBuf,
    /// `<version>-<layer>`: the image tag.
    pub tag: String,
    /// The layer name.
    pub layer: String,
    /// The components (binary names).
    pub components: Vec<String>,
    /// Where cargo built the binaries.
    pub bin_dir: PathBuf,
}

/// What every distribution of one run shares.
struct Release {
    /// The binaries of the package (`src/bin/*.rs`), the apiserver first.
    components: Vec<String>,
    /// The version of the clusterpedia crates: the first part of the tag.
    version: String,
    /// The git revision of the sources, `unknown` outside a git repository.
    revision: String,
    dirty: bool,
    /// The time written into every archive (SOURCE_DATE_EPOCH, else the last commit's).
    epoch: u64,
    /// The host target triple.
    target: String,
    /// The sources' repository, for the images' labels.
    source: String,
}

impl Release {
    /// `git` failing is an error only when `need_git` (this repository: always a git checkout).
    fn new(version: String, source: String, need_git: bool) -> anyhow::Result<Self> {
        let (revision, dirty) = match git(&["rev-parse", "HEAD"]) {
            Ok(revision) => (
                revision,
                !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty(),
            ),
            Err(e) if need_git => return Err(e),
            Err(_) => ("unknown".to_owned(), false),
        };
        let epoch: u64 = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .or_else(|| git(&["log", "-1", "--format=%ct"]).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Ok(Self {
            components: components()?,
            version,
            revision,
            dirty,
            epoch,
            target: host_target()?,
            source,
        })
    }
}

/// Runs `cargo xtask dist` in this repository (the current directory).
pub fn run(args: &DistArgs) -> anyhow::Result<Vec<Distribution>> {
    let started = Instant::now();
    let layers = layers_of_root_package(Path::new("."))?;
    let selected: Vec<&Layer> = if args.storage == "all" {
        layers.iter().collect()
    } else {
        let layer = layers
            .iter()
            .find(|l| {
                l.name == args.storage || l.features.first().is_some_and(|f| *f == args.storage)
            })
            .with_context(|| {
                format!(
                    "unknown storage layer {:?}; the root package has: {}",
                    args.storage,
                    layers
                        .iter()
                        .map(|l| l.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        vec![layer]
    };
    let release = Release::new(
        workspace_version(Path::new("."))?,
        env!("CARGO_PKG_REPOSITORY").to_owned(),
        true,
    )?;
    let mut done = Vec::new();
    let mut pending = Vec::new();
    for (i, layer) in selected.iter().enumerate() {
        step(&format!(
            "[{}/{}] {}: cargo build --profile {} --features {}",
            i + 1,
            selected.len(),
            layer.name,
            args.profile,
            layer.features.join(",")
        ));
        let bin_dir = build(layer, &args.profile)?;
        // The binary must list exactly this layer: a crate that registers nothing yet (a
        // pending layer) is refused here rather than shipped as a distribution that cannot start.
        let listed = listed_layers(&bin_dir.join(&release.components[0]))?;
        if listed != [layer.name.clone()] {
            let message = format!(
                "the binaries built with feature {} list {:?}, not [{:?}]: the {} layer is pending (its crate registers no storage layer yet)",
                layer.features.join(","),
                listed,
                layer.name,
                layer.name
            );
            if args.storage == "all" {
                eprintln!("dist: skipping {}: {message}", layer.name);
                pending.push(layer.name.clone());
                continue;
            }
            bail!("dist --storage {}: {message}", layer.name);
        }
        done.push(write_distribution(args, &release, layer, bin_dir)?);
    }
    if !pending.is_empty() {
        eprintln!("dist: pending layers skipped: {}", pending.join(", "));
    }
    step(&format!(
        "dist: {} distribution(s) in {:.0?}",
        done.len(),
        started.elapsed()
    ));
    Ok(done)
}

/// Runs `cargo xtask dist` in a storage layer project of its own (the current directory, made
/// by `cargo xtask new-storage-layer <name> --standalone <dir>`): the binaries of its root
/// package, built with its default features, must list exactly one layer, `args.storage` (or
/// any one for `all`). The tag is `<clusterpedia version>-<layer>`, as in this repository, so
/// that the charts' default tag for `storage.name` is this distribution.
pub fn run_project(args: &DistArgs) -> anyhow::Result<Vec<Distribution>> {
    let started = Instant::now();
    let metadata = crate::manifest::metadata(Path::new("."), false)?;
    let manifest = std::path::absolute("Cargo.toml").context("the project's Cargo.toml")?;
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata lists no packages")?;
    let root = packages
        .iter()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .with_context(|| format!("no package in {}", manifest.display()))?;
    let package = root["name"].as_str().unwrap_or_default().to_owned();
    let clusterpedia = packages
        .iter()
        .find(|p| p["name"] == ROOT_PACKAGE)
        .with_context(|| {
            format!(
                "{package} does not depend on the {ROOT_PACKAGE} crate (the binaries' entry points)"
            )
        })?;
    let version = clusterpedia["version"].as_str().unwrap_or_default();
    let source = root["repository"].as_str().unwrap_or_default();
    let release = Release::new(version.to_owned(), source.to_owned(), false)?;
    step(&format!(
        "{package}: cargo build --package {package} --bins --profile {}",
        args.profile
    ));
    let mut layer = Layer {
        name: String::new(),
        package: package.clone(),
        package_version: root["version"].as_str().unwrap_or_default().to_owned(),
        features: Vec::new(),
    };
    let bin_dir = build(&layer, &args.profile)?;
    let listed = listed_layers(&bin_dir.join(&release.components[0]))?;
    layer.name = match listed.as_slice() {
        [one] if args.storage == *one || args.storage == "all" => one.clone(),
        _ => bail!(
            "dist --storage {}: the binaries of {package} list the layers {listed:?}; a \
             distribution has exactly one (build them without the others' features)",
            args.storage
        ),
    };
    let done = vec![write_distribution(args, &release, &layer, bin_dir)?];
    step(&format!(
        "dist: 1 distribution in {:.0?}",
        started.elapsed()
    ));
    Ok(done)
}

/// Writes the distribution of `layer`, whose binaries are in `bin_dir`.
fn write_distribution(
    args: &DistArgs,
    release: &Release,
    layer: &Layer,
    bin_dir: PathBuf,
) -> anyhow::Result<Distribution> {
    let tag = format!("{}-{}", release.version, layer.name);
    let dir = args.out.join(&tag);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let context = Context {
        release,
        layer,
        tag: &tag,
        // The dev profile is for checks: its 100+ MB binaries are compressed fast.
        level: if args.profile == "dev" {
            flate2::Compression::fast()
        } else {
            flate2::Compression::best()
        },
    };
    let components = &release.components;
    let mut sums = Vec::new();
    let mut images = Vec::new();
    for component in components {
        let binary = bin_dir.join(component);
        step(&format!("    {component}: tarball"));
        let tarball = format!("{component}-{tag}-{}.tar.gz", release.target);
        let bytes = binary_tarball(&binary, component, &tag, release.epoch, context.level)?;
        std::fs::write(dir.join(&tarball), &bytes)?;
        sums.push((sha256_hex(&bytes), tarball));
        if !args.no_images {
            step(&format!("    {component}: OCI image {component}:{tag}"));
            let image = write_image(&context, component, &binary, &dir)?;
            sums.push((image.archive_sha256.clone(), image.archive.clone()));
            images.push(image);
        }
    }
    let values = chart_values(&layer.name, &tag);
    std::fs::write(dir.join("values.yaml"), &values)?;
    sums.push((sha256_hex(values.as_bytes()), "values.yaml".into()));
    let manifest = json!({
        "version": release.version,
        "revision": release.revision,
        "dirty": release.dirty,
        "layer": layer.name,
        "package": layer.package,
        "packageVersion": layer.package_version,
        "features": layer.features,
        "target": release.target,
        "profile": args.profile,
        "components": components,
        "images": images.iter().map(|i| json!({
            "component": i.component,
            "tag": tag,
            "layout": format!("oci/{}", i.component),
            "archive": i.archive,
            "manifestDigest": i.manifest_digest,
            "size": i.size,
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec_pretty(&manifest)?;
    std::fs::write(dir.join("manifest.json"), &manifest)?;
    sums.push((sha256_hex(&manifest), "manifest.json".into()));
    let mut text = String::new();
    for (sum, file) in &sums {
        text.push_str(&format!("{sum}  {file}\n"));
    }
    std::fs::write(dir.join("SHA256SUMS"), text)?;
    for image in &images {
        step(&format!(
            "    {}:{tag}: {:.1} MiB compressed ({})",
            image.component,
            image.size as f64 / 1_048_576.0,
            image.manifest_digest
        ));
    }
    step(&format!("    wrote {}", dir.display()));
    Ok(Distribution {
        dir,
        tag,
        layer: layer.name.clone(),
        components: components.clone(),
        bin_dir,
    })
}

/// The values of `charts/clusterpedia-core` (under `clusterpedia-core:` in the charts built on
/// it) that run the distribution `tag` of `layer`.
fn chart_values(layer: &str, tag: &str) -> String {
    format!(
        "# Values of charts/clusterpedia-core (under `clusterpedia-core:` in the charts built on it)\n\
         # that run this distribution:  helm install clusterpedia <chart> -f values.yaml\n\
         # Its images are <storage.image.registry>/<storage.image.repository>/<component>:{tag}: set\n\
         # registry and repository to where they are pushed (the chart's defaults are this\n\
         # repository's releases), and storage.config (or storage.configMap) to the layer's\n\
         # configuration (its --storage-config file).\n\
         storage:\n  name: {layer}\n  image:\n    tag: {tag}\n"
    )
}

fn step(message: &str) {
    eprintln!("{message}");
}

/// The storage layers of the root package: its `<x>-storage` features
/// ([`crate::manifest::storage_features`], the one rule of what a layer feature is), each named
/// by the layer in backquotes in its `##` doc comment, or `<x>` when it has none (a layer added
/// by `cargo xtask new-storage-layer <x>`, whose name is `<x>`).
fn layers_of_root_package(root: &Path) -> anyhow::Result<Vec<Layer>> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).context("read Cargo.toml")?;
    let documented = documented_layer_names(&text);
    let version = workspace_version(root)?;
    Ok(crate::manifest::storage_features()?
        .into_iter()
        .map(|feature| {
            let name = documented
                .get(&feature)
                .cloned()
                .unwrap_or_else(|| feature.trim_end_matches("-storage").to_owned());
            Layer {
                name,
                package: ROOT_PACKAGE.to_owned(),
                package_version: version.clone(),
                features: vec![feature],
            }
        })
        .collect())
}

/// The layer name each documented feature of `[features]` gives in backquotes in its `##`
/// comment, by feature.
fn documented_layer_names(manifest: &str) -> std::collections::HashMap<String, String> {
    let mut names = std::collections::HashMap::new();
    let mut in_features = false;
    let mut doc = String::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if let Some(comment) = line.strip_prefix("##").filter(|_| in_features) {
            doc.push_str(comment);
            continue;
        } else if let Some((feature, _)) = line.split_once('=').filter(|_| in_features)
            && let Some(name) = doc.split('`').nth(1)
        {
            names.insert(feature.trim().to_owned(), name.to_owned());
        }
        doc.clear();
    }
    names
}

/// The binaries of the root package (`src/bin/*.rs`).
fn components() -> anyhow::Result<Vec<String>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir("src/bin").context("read src/bin")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.insert(stem.to_owned());
        }
    }
    // The apiserver first: it is the one whose `storage-layers` is checked.
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort_by_key(|n| (n != "apiserver", n.clone()));
    Ok(names)
}

/// `version` of `[workspace.package]` in `root`'s Cargo.toml.
pub fn workspace_version(root: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).context("read Cargo.toml")?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("version")
            && let Some(value) = value.trim().strip_prefix('=')
        {
            return Ok(value.trim().trim_matches('"').to_owned());
        }
    }
    bail!("no version in [workspace.package] of Cargo.toml")
}

fn git(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git").args(args).output().context("run git")?;
    if !output.status.success() {
        bail!("git {} failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The host target triple (`rustc -vV`).
fn host_target() -> anyhow::Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("run rustc -vV")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("no host in rustc -vV")
}

/// Builds the binaries of `layer`'s package with its features; returns their directory.
fn build(layer: &Layer, profile: &str) -> anyhow::Result<PathBuf> {
    let features = layer.features.join(",");
    let mut args = vec![
        "build",
        "--package",
        &layer.package,
        "--bins",
        "--profile",
        profile,
    ];
    if !features.is_empty() {
        args.extend(["--no-default-features", "--features", &features]);
    }
    crate::cargo(&args)?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    Ok(target.join(if profile == "dev" { "debug" } else { profile }))
}

/// The layer names `binary storage-layers` prints.
pub fn listed_layers(binary: &Path) -> anyhow::Result<Vec<String>> {
    let output = Command::new(binary)
        .arg("storage-layers")
        .env_remove("STORAGE_PLUGINS")
        .output()
        .with_context(|| format!("run {} storage-layers", binary.display()))?;
    if !output.status.success() {
        bail!("{} storage-layers failed", binary.display());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    if text.starts_with("no storage layers") {
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A deterministic tar archive being written: fixed times, owners and modes.
struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
    epoch: u64,
    dirs: BTreeSet<String>,
}

impl TarWriter {
    fn new(epoch: u64) -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
            epoch,
            dirs: BTreeSet::new(),
        }
    }

    fn header(&self, kind: tar::EntryType, size: u64, mode: u32, owner: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_mtime(self.epoch);
        header
    }

    /// Adds `path`'s parent directories (root-owned, 0755) not added yet.
    fn parents(&mut self, path: &str) -> anyhow::Result<()> {
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            prefix.push_str(part);
            prefix.push('/');
            self.dir(&prefix.clone(), 0o755, 0)?;
        }
        Ok(())
    }

    fn dir(&mut self, path: &str, mode: u32, owner: u64) -> anyhow::Result<()> {
        let path = format!("{}/", path.trim_end_matches('/'));
        if !self.dirs.insert(path.clone()) {
            return Ok(());
        }
        self.parents(path.trim_end_matches('/'))?;
        let mut header = self.header(tar::EntryType::Directory, 0, mode, owner);
        self.builder
            .append_data(&mut header, &path, std::io::empty())?;
        Ok(())
    }

    fn file(&mut self, path: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
        self.parents(path)?;
        let mut header = self.header(tar::EntryType::Regular, bytes.len() as u64, mode, 0);
        self.builder.append_data(&mut header, path, bytes)?;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<Vec<u8>> {
        Ok(self.builder.into_inner()?)
    }
}

/// `<component>-<tag>/<component>` in a tar.gz.
fn binary_tarball(
    binary: &Path,
    component: &str,
    tag: &str,
    epoch: u64,
    level: flate2::Compression,
) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(binary).with_context(|| format!("read {}", binary.display()))?;
    let mut tar = TarWriter::new(epoch);
    tar.file(&format!("{component}-{tag}/{component}"), &bytes, 0o755)?;
    gzip(&tar.finish()?, level)
}

fn gzip(bytes: &[u8], level: flate2::Compression) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// What every image of one distribution shares.
struct Context<'a> {
    release: &'a Release,
    layer: &'a Layer,
    tag: &'a str,
    level: flate2::Compression,
}

/// One written image.
struct Image {
    component: String,
    archive: String,
    archive_sha256: String,
    manifest_digest: String,
    /// Compressed layers + config + manifest, in bytes.
    size: u64,
}

/// The shared libraries (and the loader) a dynamically linked binary needs, by `ldd`; empty for
/// a static binary.
fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .context("run ldd (the image needs the binary's shared libraries)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("not a dynamic executable") {
        return Ok(Vec::new());
    }
    let mut libraries = Vec::new();
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match line.split_once("=>") {
            Some((_, right)) => right.trim(),
            None => line.trim(),
        };
        let path = path.split_whitespace().next().unwrap_or_default();
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        } else if line.contains("not found") {
            bail!("ldd {}: {}", binary.display(), line.trim());
        }
    }
    Ok(libraries)
}

/// The base layer: the non-root user, the writable data directory, CA certificates, and the
/// loader and shared libraries of a dynamically linked binary (as regular files at the paths
/// the binary asks for).
fn base_layer(binary: &Path, epoch: u64) -> anyhow::Result<Vec<u8>> {
    let mut tar = TarWriter::new(epoch);
    tar.file(
        "etc/passwd",
        format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n").as_bytes(),
        0o644,
    )?;
    tar.file(
        "etc/group",
        format!("root:x:0:\nnonroot:x:{NONROOT}:\n").as_bytes(),
        0o644,
    )?;
    tar.file(
        "etc/nsswitch.conf",
        b"hosts: files dns\npasswd: files\ngroup: files\n",
        0o644,
    )?;
    tar.dir("home/nonroot", 0o750, NONROOT)?;
    tar.dir("tmp", 0o1777, 0)?;
    // The embedded SQLite database of `internal` ($XDG_DATA_HOME/clusterpedia/internal.db).
    tar.dir("var/lib/clusterpedia", 0o750, NONROOT)?;
    if let Ok(bundle) = std::fs::read(CA_BUNDLE) {
        tar.file(CA_BUNDLE.trim_start_matches('/'), &bundle, 0o644)?;
    }
    for library in shared_libraries(binary)? {
        let bytes = std::fs::read(&library)
            .with_context(|| format!("read {} (named by ldd)", library.display()))?;
        let path = library.to_string_lossy();
        tar.file(path.trim_start_matches('/'), &bytes, 0o755)?;
    }
    tar.finish()
}

/// The binary's layer.
fn binary_layer(binary: &Path, component: &str, epoch: u64) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(binary).with_context(|| format!("read {}", binary.display()))?;
    let mut tar = TarWriter::new(epoch);
    tar.file(&format!("{BIN_DIR}/{component}"), &bytes, 0o755)?;
    tar.finish()
}

/// A content-addressed blob: its descriptor and bytes.
struct Blob {
    media_type: &'static str,
    digest: String,
    bytes: Vec<u8>,
}

impl Blob {
    fn new(media_type: &'static str, bytes: Vec<u8>) -> Self {
        Self {
            media_type,
            digest: format!("sha256:{}", sha256_hex(&bytes)),
            bytes,
        }
    }

    fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// The OCI architecture of a target triple.
pub fn oci_architecture(target: &str) -> anyhow::Result<&'static str> {
    Ok(match target.split('-').next().unwrap_or_default() {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => bail!("no OCI architecture known for {other}"),
    })
}

/// Writes `oci/<component>/` (an OCI image layout) and `<component>-<tag>.oci.tar` in `dir`.
fn write_image(
    context: &Context<'_>,
    component: &str,
    binary: &Path,
    dir: &Path,
) -> anyhow::Result<Image> {
    let base = base_layer(binary, context.release.epoch)?;
    let app = binary_layer(binary, component, context.release.epoch)?;
    let diff_ids = [&base, &app].map(|layer| format!("sha256:{}", sha256_hex(layer)));
    let layers = [
        Blob::new(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            gzip(&base, context.level)?,
        ),
        Blob::new(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            gzip(&app, context.level)?,
        ),
    ];
    let created = rfc3339(context.release.epoch)?;
    let labels = json!({
        "org.opencontainers.image.source": context.release.source,
        "org.opencontainers.image.revision": context.release.revision,
        "org.opencontainers.image.version": context.tag,
        "org.opencontainers.image.title": component,
        "org.opencontainers.image.description": format!("clusterpedia {component} with the {} storage layer", context.layer.name),
        "org.opencontainers.image.licenses": env!("CARGO_PKG_LICENSE"),
        "io.clusterpedia.storage-layer": context.layer.name,
    });
    let config = json!({
        "created": created,
        "architecture": oci_architecture(&context.release.target)?,
        "os": "linux",
        "config": {
            "User": format!("{NONROOT}:{NONROOT}"),
            "Entrypoint": [format!("/{BIN_DIR}/{component}")],
            "Env": [
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "XDG_DATA_HOME=/var/lib",
                "HOME=/home/nonroot",
            ],
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": created, "created_by": "cargo xtask dist: non-root user, data directory, CA certificates, shared libraries"},
            {"created": created, "created_by": format!("cargo xtask dist: /{BIN_DIR}/{component} ({} {}, {})", context.layer.package, context.layer.features.join(","), context.release.target)},
        ],
    });
    let config = Blob::new(
        "application/vnd.oci.image.config.v1+json",
        serde_json::to_vec(&config)?,
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        "annotations": {
            "org.opencontainers.image.source": context.release.source,
            "org.opencontainers.image.revision": context.release.revision,
            "org.opencontainers.image.version": context.tag,
            "org.opencontainers.image.title": component,
            "org.opencontainers.image.created": created,
        },
    });
    let manifest = Blob::new(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&manifest)?,
    );
    let mut manifest_descriptor = manifest.descriptor();
    manifest_descriptor["annotations"] = json!({
        "org.opencontainers.image.ref.name": context.tag,
    });
    // The platform of the build's target, as in the config: an index of several targets'
    // manifests under one tag (amd64 + arm64) is chosen from by it.
    manifest_descriptor["platform"] = json!({
        "architecture": oci_architecture(&context.release.target)?,
        "os": "linux",
    });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest_descriptor],
    });
    let index = serde_json::to_vec(&index)?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;

    // The layout directory.
    let root = dir.join("oci").join(component);
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    std::fs::write(root.join("oci-layout"), layout)?;
    std::fs::write(root.join("index.json"), &index)?;
    let all: Vec<&Blob> = layers.iter().chain([&config, &manifest]).collect();
    for blob in &all {
        let hex = blob.digest.trim_start_matches("sha256:");
        std::fs::write(blobs.join(hex), &blob.bytes)?;
    }
    // The same layout as an OCI archive.
    let mut tar = TarWriter::new(context.release.epoch);
    tar.file("oci-layout", layout, 0o644)?;
    tar.file("index.json", &index, 0o644)?;
    for blob in &all {
        let hex = blob.digest.trim_start_matches("sha256:");
        tar.file(&format!("blobs/sha256/{hex}"), &blob.bytes, 0o644)?;
    }
    let archive_bytes = tar.finish()?;
    let archive = format!("{component}-{}.oci.tar", context.tag);
    std::fs::write(dir.join(&archive), &archive_bytes)?;
    Ok(Image {
        component: component.to_owned(),
        archive,
        archive_sha256: sha256_hex(&archive_bytes),
        manifest_digest: manifest.digest.clone(),
        size: all.iter().map(|b| b.bytes.len() as u64).sum(),
    })
}

/// `seconds` since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
fn rfc3339(seconds: u64) -> anyhow::Result<String> {
    let seconds = i64::try_from(seconds).context("timestamp out of range")?;
    Ok(jiff::Timestamp::from_second(seconds)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_epoch_seconds() {
        assert_eq!(rfc3339(0).expect("valid"), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_795_564_309).expect("valid"),
            "2026-11-24T23:51:49Z"
        );
    }

    #[test]
    fn layers_come_from_the_root_features() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let layers = layers_of_root_package(&root).expect("layers");
        let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        assert!(names.contains(&"internal"), "{names:?}");
        assert!(names.contains(&"sample-storage-layer"), "{names:?}");
        assert!(layers.iter().all(|l| l.features.len() == 1
            && l.features[0].ends_with("-storage")
            && l.features[0] != "all-storage"));
    }
}
