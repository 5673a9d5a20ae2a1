//! Full-text search: the `query` parameter (and the `search.clusterpedia.io/query` search
//! label), its words, and the one tokenizer every layer indexes objects with.
//!
//! # Words
//!
//! A text is cut into words the same way for objects and for queries ([`tokenize`]): it is
//! lowercased (Unicode, [`str::to_lowercase`]), then every maximal run of alphanumeric
//! characters ([`char::is_alphanumeric`]) is a word. `nginx:1.25-alpine` has the words `nginx`,
//! `1`, `25` and `alpine`; `app.kubernetes.io/name` has `app`, `kubernetes`, `io` and `name`.
//! A run longer than [`MAX_WORD_BYTES`] is not a word (nobody searches for it; it would only
//! bloat indexes); a query word that long is a `400`.
//!
//! # What is searched
//!
//! The words of an object ([`object_tokens`]) are those of `metadata.name`,
//! `metadata.namespace`, the label keys and values, the annotation values (except
//! [`IGNORED_ANNOTATIONS`]: `kubectl.kubernetes.io/last-applied-configuration` holds a copy of
//! the whole object, which would make every word of every field match), and the container
//! images: `image` of `containers[]` and `initContainers[]` of `spec`, `spec.template.spec`
//! (workloads) and `spec.jobTemplate.spec.template.spec` (CronJobs).
//!
//! # Matching and relevance
//!
//! An object matches when every word of the query is one of its words (AND; order and repeats
//! in the query do not matter). When no `orderby` is given, items come by relevance, highest
//! first ([`OrderField::Relevance`](super::OrderField::Relevance)), then in the default stable
//! order: see [`ListOptions::effective_order`](super::ListOptions::effective_order). Relevance
//! is each layer's own score (the reference evaluator counts how often the query's words occur
//! among the object's words, [`FullTextQuery::score`]; a search engine has its own formula):
//! scores, and so the order of equally matching items, differ between layers, but within one
//! layer the order is total and stable, so paging is exact.

use std::fmt;

use serde_json::Value;

/// The longest word, in bytes: longer alphanumeric runs are not words.
pub const MAX_WORD_BYTES: usize = 256;

/// Annotations whose values are not searched: they hold copies of the object.
pub const IGNORED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// The words of `text`, in order, repeats included: lowercased maximal runs of alphanumeric
/// characters, at most [`MAX_WORD_BYTES`] long (longer runs are dropped).
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    words(text).filter(|w| w.len() <= MAX_WORD_BYTES)
}

/// Every lowercased alphanumeric run of `text`, however long.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    // Lowercase first: a lowercase mapping may yield non-alphanumeric characters (combining
    // marks), which must split like any other.
    let lower = text.to_lowercase();
    let runs: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|run| !run.is_empty())
        .map(str::to_owned)
        .collect();
    runs.into_iter()
}

/// The words of an object (its JSON), in a fixed order (name, namespace, labels, annotations,
/// images), repeats included: what a layer indexes, and counts for relevance.
pub fn object_tokens(object: &Value) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut add = |text: &str| tokens.extend(tokenize(text));
    let metadata = &object["metadata"];
    if let Some(name) = metadata["name"].as_str() {
        add(name);
    }
    if let Some(namespace) = metadata["namespace"].as_str() {
        add(namespace);
    }
    if let Some(labels) = metadata["labels"].as_object() {
        for (key, value) in labels {
            add(key);
            if let Some(value) = value.as_str() {
                add(value);
            }
        }
    }
    if let Some(annotations) = metadata["annotations"].as_object() {
        for (key, value) in annotations {
            if IGNORED_ANNOTATIONS.contains(&key.as_str()) {
                continue;
            }
            if let Some(value) = value.as_str() {
                add(value);
            }
        }
    }
    let spec = &object["spec"];
    for pod_spec in [
        spec,
        &spec["template"]["spec"],
        &spec["jobTemplate"]["spec"]["template"]["spec"],
    ] {
        for list in ["containers", "initContainers"] {
            for container in pod_spec[list].as_array().into_iter().flatten() {
                if let Some(image) = container["image"].as_str() {
                    add(image);
                }
            }
        }
    }
    tokens
}

/// The words of a full-text query: what an object must all hold.
///
/// Made by the request parser ([`params`](super::params)), or by [`FullTextQuery::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullTextQuery {
    /// Distinct words, in written order.
    terms: Vec<String>,
}

/// Why a text is not a full-text query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullTextError {
    /// The text holds no word.
    NoWord,
    /// A word is longer than [`MAX_WORD_BYTES`].
    WordTooLong(usize),
}

impl fmt::Display for FullTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoWord => f.write_str(
                "the text holds no word to search for (a word is a run of letters or digits)",
            ),
            Self::WordTooLong(len) => write!(
                f,
                "a word is {len} bytes long, the limit is {MAX_WORD_BYTES} (longer words are not \
                 indexed)"
            ),
        }
    }
}

impl FullTextQuery {
    /// The query of the words of `texts` (each cut into words by [`tokenize`]).
    ///
    /// Fails when they hold no word, or a word longer than [`MAX_WORD_BYTES`].
    pub fn parse<'t>(texts: impl IntoIterator<Item = &'t str>) -> Result<Self, FullTextError> {
        let mut terms: Vec<String> = Vec::new();
        for text in texts {
            for word in words(text) {
                if word.len() > MAX_WORD_BYTES {
                    return Err(FullTextError::WordTooLong(word.len()));
                }
                if !terms.contains(&word) {
                    terms.push(word);
                }
            }
        }
        if terms.is_empty() {
            return Err(FullTextError::NoWord);
        }
        Ok(Self { terms })
    }

    /// The distinct words, lowercased, in written order; never empty. Each is a non-empty run
    /// of alphanumeric characters, at most [`MAX_WORD_BYTES`] long.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether every word is among `tokens`.
    pub fn matches<S: AsRef<str>>(&self, tokens: &[S]) -> bool {
        self.terms
            .iter()
            .all(|term| tokens.iter().any(|t| t.as_ref() == term))
    }

    /// The reference relevance of an object with words `tokens`: `None` when it does not match,
    /// else how many of its words are words of the query (repeats counted).
    pub fn score<S: AsRef<str>>(&self, tokens: &[S]) -> Option<f64> {
        if !self.matches(tokens) {
            return None;
        }
        let hits = tokens
            .iter()
            .filter(|t| self.terms.iter().any(|term| term == t.as_ref()))
            .count();
        Some(hits as f64)
    }
}

impl fmt::Display for FullTextQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.terms.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words_of(text: &str) -> Vec<String> {
        tokenize(text).collect()
    }

    #[test]
    fn words_are_lowercased_alphanumeric_runs() {
        assert_eq!(
            words_of("nginx:1.25-Alpine"),
            ["nginx", "1", "25", "alpine"]
        );
        assert_eq!(
            words_of("app.kubernetes.io/name"),
            ["app", "kubernetes", "io", "name"]
        );
        assert_eq!(
            words_of("  Ünïcode_Wörter 東京  "),
            ["ünïcode", "wörter", "東京"]
        );
        assert!(words_of("--- ... ///").is_empty());
        // A lowercase mapping that yields a combining mark splits there, so every word is
        // alphanumeric only.
        assert!(
            words_of("İstanbul")
                .iter()
                .all(|w| w.chars().all(char::is_alphanumeric))
        );
        let long = "a".repeat(MAX_WORD_BYTES + 1);
        assert_eq!(words_of(&format!("x {long} y")), ["x", "y"]);
        assert_eq!(words_of(&"b".repeat(MAX_WORD_BYTES)).len(), 1);
    }

    #[test]
    fn object_words_come_from_the_searched_fields_only() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-frontend", "namespace": "Shop",
                "labels": {"app.kubernetes.io/tier": "Gold"},
                "annotations": {
                    "note": "owned by Team-Blue",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"secretword\":1}"
                },
                "uid": "uidword"
            },
            "spec": {
                "containers": [{"name": "cname", "image": "registry.io/nginx:1.25"}],
                "initContainers": [{"image": "busybox"}],
                "nodeName": "nodeword"
            },
            "status": {"phase": "Running"}
        });
        let tokens = object_tokens(&pod);
        for word in [
            "web",
            "frontend",
            "shop",
            "app",
            "kubernetes",
            "io",
            "tier",
            "gold",
            "owned",
            "by",
            "team",
            "blue",
            "registry",
            "nginx",
            "1",
            "25",
            "busybox",
        ] {
            assert!(tokens.iter().any(|t| t == word), "{word} in {tokens:?}");
        }
        for word in [
            "secretword",
            "uidword",
            "cname",
            "nodeword",
            "running",
            "pod",
            "note",
        ] {
            assert!(!tokens.iter().any(|t| t == word), "{word} in {tokens:?}");
        }

        let cronjob = json!({
            "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"image": "cronimage"}]}}}}}
        });
        assert!(object_tokens(&cronjob).contains(&"cronimage".to_owned()));
        let deployment = json!({
            "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"initContainers": [{"image": "initimage"}]}}}
        });
        assert!(object_tokens(&deployment).contains(&"initimage".to_owned()));
        // Odd shapes are not errors: nothing is found there.
        assert_eq!(
            object_tokens(&json!({"metadata": {"name": 5}, "spec": []})),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_query_is_its_distinct_words() {
        let query = FullTextQuery::parse(["Nginx  WEB,nginx", "web-2"]).expect("words");
        assert_eq!(query.terms(), ["nginx", "web", "2"]);
        assert_eq!(query.to_string(), "nginx web 2");
        assert_eq!(FullTextQuery::parse([" -- "]), Err(FullTextError::NoWord));
        assert_eq!(FullTextQuery::parse([]), Err(FullTextError::NoWord));
        let long = "a".repeat(MAX_WORD_BYTES + 1);
        assert_eq!(
            FullTextQuery::parse([long.as_str()]),
            Err(FullTextError::WordTooLong(MAX_WORD_BYTES + 1))
        );
    }

    #[test]
    fn every_word_must_match_and_the_score_counts_occurrences() {
        let tokens = ["web", "nginx", "web", "shop"];
        let query = FullTextQuery::parse(["WEB nginx"]).expect("words");
        assert!(query.matches(&tokens));
        assert_eq!(query.score(&tokens), Some(3.0));
        let missing = FullTextQuery::parse(["web redis"]).expect("words");
        assert!(!missing.matches(&tokens));
        assert_eq!(missing.score(&tokens), None);
        // Whole words only: no prefixes or substrings.
        assert!(!FullTextQuery::parse(["ngin"]).expect("w").matches(&tokens));
    }
}
