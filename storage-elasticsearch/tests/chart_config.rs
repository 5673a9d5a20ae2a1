//! The `config.yaml` the Helm charts render for this layer is one it accepts: every golden
//! render of `charts/clusterpedia-elasticsearch` and the original's way (clusterpedia-core with
//! the plugin's keys), parsed by [`ElasticsearchConfig::from_yaml`] with the values the chart
//! was given. `cargo xtask check-dist` keeps the golden files equal to what helm renders.

use std::path::Path;

use storage_elasticsearch::{ElasticsearchConfig, RefreshPolicy};

/// The `config.yaml: |` blocks of the ConfigMaps of a rendered chart.
fn rendered_configs(golden: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(golden);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut configs = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() != "config.yaml: |" {
            continue;
        }
        let key_indent = line.len() - line.trim_start().len();
        let mut block = String::new();
        while let Some(next) = lines.peek() {
            let indent = next.len() - next.trim_start().len();
            if !next.trim().is_empty() && indent <= key_indent {
                break;
            }
            block.push_str(next.get(key_indent + 2..).unwrap_or_default());
            block.push('\n');
            lines.next();
        }
        configs.push(block);
    }
    assert!(!configs.is_empty(), "{golden}: no config.yaml");
    configs
}

fn parse(golden: &str) -> ElasticsearchConfig {
    let configs = rendered_configs(golden);
    assert_eq!(configs.len(), 1, "{golden}: one storage ConfigMap");
    ElasticsearchConfig::from_yaml(&configs[0]).unwrap_or_else(|e| {
        panic!(
            "{golden}: the layer refuses the rendered config: {e}\n{}",
            configs[0]
        )
    })
}

#[test]
fn the_elasticsearch_chart_renders_configs_the_layer_accepts() {
    let plain = parse("charts/clusterpedia-elasticsearch/tests/golden/default.yaml");
    assert_eq!(plain.addresses, ["http://elasticsearch.search.svc:9200"]);
    assert_eq!(
        plain,
        ElasticsearchConfig {
            addresses: plain.addresses.clone(),
            ..ElasticsearchConfig::default()
        }
    );
    // Credentials are never in the file: ES_USER / ES_PASSWORD / ES_API_KEY come from a Secret.
    let secret = parse("charts/clusterpedia-elasticsearch/tests/golden/existing-secret.yaml");
    assert_eq!(secret.addresses.len(), 2);
    assert_eq!(
        (secret.user, secret.password, secret.api_key),
        (None, None, None)
    );

    let tls = parse("charts/clusterpedia-elasticsearch/tests/golden/tls.yaml");
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(Path::new("/etc/clusterpedia/elasticsearch-ca/ca.crt"))
    );
    assert_eq!((tls.user, tls.api_key), (None, None));
    assert_eq!(tls.index_prefix, "cp-prod");
    assert_eq!((tls.shards, tls.replicas), (3, 1));
    assert_eq!(tls.refresh, RefreshPolicy::False);
}

#[test]
fn the_original_plugin_values_on_clusterpedia_core_are_accepted() {
    let config = parse("charts/clusterpedia-core/tests/golden/upstream-elasticsearch.yaml");
    assert_eq!(
        config.addresses,
        ["http://elasticsearch-master.search.svc:9200"]
    );
    assert_eq!(config.user.as_deref(), Some("clusterpedia"));
}
