//! Continue tokens: opaque, signed keyset positions.
//!
//! A token carries the [`SortValue`]s of the last item of a page, one per field of
//! [`ListOptions::effective_order`], a digest of what was listed ([`Listed`]: a resource, or
//! collection types), and an HMAC-SHA256 tag over both and the query that made them
//! ([`ListOptions::query_fingerprint`]), keyed with the process-wide key ([`install_key`]). The parser checks the tag against the query; the
//! layer's [`Pager`](super::paging::Pager) checks the list. The next page is "the items strictly after this position", so a layer answers it with
//! an index seek whose cost does not grow with depth, and paging over live data never shows an
//! item twice nor skips one that existed throughout the walk.
//!
//! Tokens are signed, not secret: they only hold values of the listed objects. Without the key
//! a client cannot make or alter one; replicas behind one Service must share the key (the
//! apiserver's `--continue-token-key-file`), else a token made by one is refused by another.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::paging::{ListId, Listed};
use super::{ListOptions, OrderField, SortValue};
use crate::error::{Result, StorageError};

/// The name of the parameter, for errors.
const PARAMETER: &str = "continue";
/// Bumped whenever the payload changes shape (2: the list digest `r`).
const TOKEN_VERSION: u8 = 2;

/// The shortest key [`install_key`] accepts, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The key of every token of this process: installed once at start ([`install_key`]), else a
/// random one made at first use.
static KEY: OnceLock<Vec<u8>> = OnceLock::new();

/// Installs the key that signs and checks continue tokens, once per process, before the first
/// token is made (the apiserver does it at start, from `--continue-token-key-file` or a random
/// key). Replicas that serve the same clients must use the same key.
///
/// Fails when `key` is shorter than [`MIN_KEY_BYTES`], or when a key is already in use (a
/// second call, or a token was made before): the key of a process never changes.
pub fn install_key(key: &[u8]) -> std::result::Result<(), String> {
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the continue token key is {} bytes long, at least {MIN_KEY_BYTES} are needed",
            key.len()
        ));
    }
    KEY.set(key.to_vec())
        .map_err(|_| "a continue token key is already installed in this process".to_owned())
}

/// Whether a key was installed (or made at first use) in this process.
pub fn key_installed() -> bool {
    KEY.get().is_some()
}

/// The process key; when none was installed, a random one (from the operating system's
/// randomness behind the standard library's hash keys): tokens then only work in this process.
fn key() -> &'static [u8] {
    KEY.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut key = Vec::with_capacity(MIN_KEY_BYTES);
        for i in 0..MIN_KEY_BYTES / 8 {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(i);
            key.extend_from_slice(&hasher.finish().to_le_bytes());
        }
        key
    })
}

/// A verified position to resume a list after: the sort values of the last item returned, in
/// the list that returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinuePosition {
    /// One value per field of [`ListOptions::effective_order`], in that order.
    pub values: Vec<SortValue>,
    /// What was listed (checked by [`Pager::new`](super::paging::Pager::new)).
    pub(crate) list: ListId,
    /// The resourceVersion of the list's first page, for layers that keep one: every later
    /// page reports it ([`ListPage::pinned_to_first_page`](crate::ListPage::pinned_to_first_page)).
    pub(crate) list_resource_version: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    k: Vec<SortValue>,
    /// The resourceVersion of the list's first page (absent from tokens of layers without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rv: Option<String>,
}

impl ContinuePosition {
    /// The position after the item with sort values `values` in a list of `listed`.
    pub fn new(listed: Listed<'_>, values: Vec<SortValue>) -> Self {
        Self {
            values,
            list: listed.id(),
            list_resource_version: None,
        }
    }

    /// Encodes this position as a token for the query `options`.
    pub fn encode(&self, options: &ListOptions) -> String {
        let payload = Payload {
            v: TOKEN_VERSION,
            r: Some(URL_SAFE_NO_PAD.encode(self.list.0)),
            k: self.values.clone(),
            rv: self.list_resource_version.clone(),
        };
        // Serializing plain integers and strings cannot fail.
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let tag = tag(&json, options);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Decodes and verifies `token` for the query `options` (whose `continue_from` is ignored).
    ///
    /// Fails with `400 BadRequest` naming `continue` when the token is malformed, was altered,
    /// or was made by a different query (other filters or order). Whether it was made by a
    /// list of the same resource is checked by the layer's [`Pager`](super::paging::Pager).
    pub fn decode(token: &str, options: &ListOptions) -> Result<Self> {
        let malformed = || StorageError::bad_request(PARAMETER, "the continue token is malformed");
        let (payload, given_tag) = token.split_once('.').ok_or_else(malformed)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
        let given_tag = URL_SAFE_NO_PAD.decode(given_tag).map_err(|_| malformed())?;
        if !same(&given_tag, &tag(&json, options)) {
            return Err(StorageError::bad_request(
                PARAMETER,
                "the continue token was altered or belongs to a different query \
                 (the filters and order must stay the same while paging)",
            ));
        }
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| malformed())?;
        if payload.v != TOKEN_VERSION {
            return Err(StorageError::bad_request(
                PARAMETER,
                format!("continue token version {} is not supported", payload.v),
            ));
        }
        let list = payload
            .r
            .as_deref()
            .and_then(|r| URL_SAFE_NO_PAD.decode(r).ok())
            .and_then(|r| <[u8; 8]>::try_from(r).ok())
            .map(ListId)
            .ok_or_else(malformed)?;
        let order = options.effective_order();
        let types_match = payload.k.len() == order.len()
            && order
                .iter()
                .zip(&payload.k)
                .all(|(o, v)| value_fits(&o.field, v));
        if !types_match {
            return Err(malformed());
        }
        // No object value holds NUL (no database text can): refuse it here, not in the layer.
        if payload
            .k
            .iter()
            .any(|v| matches!(v, SortValue::Str(s) if s.contains('\0')))
        {
            return Err(malformed());
        }
        Ok(Self {
            values: payload.k,
            list,
            list_resource_version: payload.rv,
        })
    }
}

impl ListOptions {
    /// A digest of everything that decides which items match and in what order (not paging,
    /// not presentation): a continue token is only valid for the query that produced it.
    ///
    /// Every field of [`ListOptions`] is named below, so a new field does not compile until it
    /// is sorted into the query (part of the digest) or into paging and presentation (left
    /// out); the test `the_fingerprint_covers_every_query_field` checks that each query field
    /// changes the digest and no other field does.
    pub fn query_fingerprint(&self) -> String {
        let ListOptions {
            // The query: which items match, and their order.
            clusters,
            namespaces,
            names,
            label_selector,
            field_selector,
            fuzzy_names,
            owner,
            full_text,
            order_by,
            since,
            before,
            access,
            // Paging and presentation: a token stays valid when these change.
            limit: _,
            offset: _,
            continue_from: _,
            with_continue: _,
            with_remaining_count: _,
            only_metadata: _,
            inject_events: _,
            resource_version: _,
            allow_watch_bookmarks: _,
        } = self;
        let order: Vec<String> = order_by.iter().map(ToString::to_string).collect();
        format!(
            "c={clusters:?};ns={namespaces:?};n={names:?};l={label_selector};f={field_selector};\
             fz={fuzzy_names:?};o={owner:?};ob={order:?};s={since:?};b={before:?};\
             q={full_text:?}{}",
            access
                .as_ref()
                .map(|a| format!(";a={a}"))
                .unwrap_or_default()
        )
    }
}

/// Whether `value` can be a value of `field`.
fn value_fits(field: &OrderField, value: &SortValue) -> bool {
    match field {
        OrderField::CreatedAt | OrderField::ResourceVersion => {
            matches!(value, SortValue::Int(_) | SortValue::Null)
        }
        OrderField::Path(_) => matches!(value, SortValue::Str(_) | SortValue::Null),
        OrderField::Relevance => matches!(value, SortValue::Float(_)),
        _ => matches!(value, SortValue::Str(_)),
    }
}

/// The tag of a token's payload for the query `options`: HMAC-SHA256 with the process key
/// ([`install_key`]) over a domain string, the query fingerprint and the payload, cut to 12
/// bytes (96 bits). The one place tokens are signed.
fn tag(payload: &[u8], options: &ListOptions) -> [u8; 12] {
    tag_with_key(key(), payload, options)
}

fn tag_with_key(key: &[u8], payload: &[u8], options: &ListOptions) -> [u8; 12] {
    // HMAC takes keys of any length: this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 12];
    };
    mac.update(b"clusterpedia continue token\0");
    mac.update(options.query_fingerprint().as_bytes());
    mac.update(b"\0");
    mac.update(payload);
    let digest = mac.finalize().into_bytes();
    let mut tag = [0u8; 12];
    tag.copy_from_slice(&digest[..12]);
    tag
}

/// `a == b` in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Gvr;

    fn position() -> ContinuePosition {
        ContinuePosition::new(
            Listed::Resource(&Gvr::new("", "v1", "pods")),
            vec![
                SortValue::Str("c1".into()),
                SortValue::Str("ns".into()),
                SortValue::Str("pod-9".into()),
                SortValue::Str("".into()),
                SortValue::Str("v1".into()),
                SortValue::Str("pods".into()),
            ],
        )
    }

    #[test]
    fn round_trips() {
        let options = ListOptions::default();
        let token = position().encode(&options);
        assert_eq!(
            ContinuePosition::decode(&token, &options).expect("valid"),
            position()
        );
        assert!(!token.contains("pod-9"), "opaque: {token}");
    }

    #[test]
    fn rejects_tampering_other_queries_and_garbage() {
        let options = ListOptions::default();
        let token = position().encode(&options);

        let mut altered = position();
        altered.values[2] = SortValue::Str("pod-1".into());
        let (_, tag) = token.split_once('.').expect("dot");
        let forged = format!(
            "{}.{tag}",
            altered.encode(&options).split_once('.').expect("dot").0
        );
        let err = ContinuePosition::decode(&forged, &options).expect_err("tampered");
        assert!(err.to_string().contains("altered"), "{err}");

        let other = ListOptions {
            namespaces: vec!["other".into()],
            ..ListOptions::default()
        };
        assert!(ContinuePosition::decode(&token, &other).is_err());

        for garbage in ["", "20", "abc.def", "!!.!!", "eyJ2IjoxfQ"] {
            let err = ContinuePosition::decode(garbage, &options).expect_err(garbage);
            assert_eq!(err.status().code, 400, "{garbage}");
            assert!(err.to_string().starts_with("continue:"), "{err}");
        }
    }

    /// The forgery of the security test: a token whose tag is recomputed with the unkeyed
    /// SHA-256 of the old scheme (all public data) is refused; so is a token signed with
    /// another key (another deployment).
    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        use sha2::Digest as _;
        let options = ListOptions::default();
        let token = position().encode(&options);
        let (payload, _) = token.split_once('.').expect("dot");
        let json = URL_SAFE_NO_PAD.decode(payload).expect("base64");

        let mut hasher = Sha256::new();
        hasher.update(b"clusterpedia continue token\0");
        hasher.update(options.query_fingerprint().as_bytes());
        hasher.update(b"\0");
        hasher.update(&json);
        let unkeyed = &hasher.finalize()[..12];
        let forged = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(unkeyed));
        let err = ContinuePosition::decode(&forged, &options).expect_err("unkeyed forgery");
        assert!(err.to_string().contains("altered"), "{err}");

        let foreign_tag = tag_with_key(&[7u8; MIN_KEY_BYTES], &json, &options);
        let foreign = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(foreign_tag));
        let err = ContinuePosition::decode(&foreign, &options).expect_err("another key");
        assert!(err.to_string().contains("altered"), "{err}");

        // The process key is in use now: it cannot change, and a short key is refused.
        assert!(key_installed());
        assert!(install_key(&[1u8; MIN_KEY_BYTES]).is_err());
        assert!(install_key(b"short").is_err());
    }

    /// A correctly tagged token whose value holds NUL (no object value can) is a `400`, never
    /// passed to a layer (PostgreSQL answered it with a 500).
    #[test]
    fn a_nul_value_is_refused() {
        let options = ListOptions::default();
        let mut bad = position();
        bad.values[2] = SortValue::Str("a\0b".into());
        let token = bad.encode(&options);
        let err = ContinuePosition::decode(&token, &options).expect_err("NUL");
        assert_eq!(err.status().code, 400);
        assert!(err.to_string().starts_with("continue:"), "{err}");
    }

    /// Each field of [`ListOptions`], alone, set to a value other than the default: a query
    /// field changes the fingerprint (a token of the old query is refused), a paging or
    /// presentation field does not. The struct literal and the pattern name every field, so a
    /// new field does not compile until it is listed here, with its kind.
    #[test]
    fn the_fingerprint_covers_every_query_field() {
        use crate::query::field_selector::FieldSelector;
        use crate::query::full_text::FullTextQuery;
        use crate::query::label_selector::LabelSelector;
        use crate::query::{OrderBy, OwnerQuery};

        let base = ListOptions::default;
        let other = ListOptions {
            clusters: vec!["c1".into()],
            namespaces: vec!["ns".into()],
            names: vec!["web".into()],
            label_selector: LabelSelector::parse("app=web").expect("selector"),
            field_selector: FieldSelector::parse("status.phase=Running").expect("selector"),
            fuzzy_names: vec!["we".into()],
            owner: Some(OwnerQuery {
                uid: Some("u1".into()),
                ..OwnerQuery::default()
            }),
            full_text: Some(FullTextQuery::parse(["nginx"]).expect("words")),
            order_by: vec![OrderBy {
                field: OrderField::Name,
                descending: true,
            }],
            since: Some(1),
            before: Some(2),
            limit: Some(5),
            offset: 3,
            continue_from: Some(position()),
            with_continue: false,
            with_remaining_count: true,
            only_metadata: true,
            inject_events: true,
            resource_version: Some("7".into()),
            allow_watch_bookmarks: true,
            access: Some(crate::query::AccessScope {
                clusters: [("c1".to_owned(), crate::query::NamespaceAccess::All)].into(),
            }),
        };
        let ListOptions {
            clusters,
            namespaces,
            names,
            label_selector,
            field_selector,
            fuzzy_names,
            owner,
            full_text,
            order_by,
            since,
            before,
            limit,
            offset,
            continue_from,
            with_continue,
            with_remaining_count,
            only_metadata,
            inject_events,
            resource_version,
            allow_watch_bookmarks,
            access,
        } = other;
        const QUERY: bool = true;
        const PAGING: bool = false;
        let cases = [
            ("clusters", QUERY, ListOptions { clusters, ..base() }),
            (
                "namespaces",
                QUERY,
                ListOptions {
                    namespaces,
                    ..base()
                },
            ),
            ("names", QUERY, ListOptions { names, ..base() }),
            (
                "label_selector",
                QUERY,
                ListOptions {
                    label_selector,
                    ..base()
                },
            ),
            (
                "field_selector",
                QUERY,
                ListOptions {
                    field_selector,
                    ..base()
                },
            ),
            (
                "fuzzy_names",
                QUERY,
                ListOptions {
                    fuzzy_names,
                    ..base()
                },
            ),
            ("owner", QUERY, ListOptions { owner, ..base() }),
            (
                "full_text",
                QUERY,
                ListOptions {
                    full_text,
                    ..base()
                },
            ),
            ("order_by", QUERY, ListOptions { order_by, ..base() }),
            ("since", QUERY, ListOptions { since, ..base() }),
            ("before", QUERY, ListOptions { before, ..base() }),
            ("limit", PAGING, ListOptions { limit, ..base() }),
            ("offset", PAGING, ListOptions { offset, ..base() }),
            (
                "continue_from",
                PAGING,
                ListOptions {
                    continue_from,
                    ..base()
                },
            ),
            (
                "with_continue",
                PAGING,
                ListOptions {
                    with_continue,
                    ..base()
                },
            ),
            (
                "with_remaining_count",
                PAGING,
                ListOptions {
                    with_remaining_count,
                    ..base()
                },
            ),
            (
                "only_metadata",
                PAGING,
                ListOptions {
                    only_metadata,
                    ..base()
                },
            ),
            (
                "inject_events",
                PAGING,
                ListOptions {
                    inject_events,
                    ..base()
                },
            ),
            (
                "resource_version",
                PAGING,
                ListOptions {
                    resource_version,
                    ..base()
                },
            ),
            (
                "allow_watch_bookmarks",
                PAGING,
                ListOptions {
                    allow_watch_bookmarks,
                    ..base()
                },
            ),
            ("access", QUERY, ListOptions { access, ..base() }),
        ];
        let token = position().encode(&base());
        for (field, query, options) in cases {
            assert_ne!(
                options,
                base(),
                "{field}: the test value must not be the default"
            );
            let changed = options.query_fingerprint() != base().query_fingerprint();
            assert_eq!(changed, query, "{field}: fingerprint changed: {changed}");
            assert_eq!(
                ContinuePosition::decode(&token, &options).is_ok(),
                !query,
                "{field}: whether a token of the default query resumes this one"
            );
        }
    }

    /// A relevance score travels exactly (its bits), whatever its value; a relevance position
    /// must hold a float, and a float is refused where a column value is expected.
    #[test]
    fn relevance_scores_round_trip_exactly() {
        use crate::query::Float;
        use crate::query::full_text::FullTextQuery;
        let options = ListOptions {
            full_text: Some(FullTextQuery::parse(["web"]).expect("words")),
            ..ListOptions::default()
        };
        let pods = Gvr::new("", "v1", "pods");
        for score in [
            0.0,
            1.0,
            0.1 + 0.2,
            f64::from(0.060_792_7_f32),
            1e-300,
            123_456_789.123_456_79,
        ] {
            let mut values = vec![SortValue::Float(Float::new(score))];
            values.extend(position().values);
            let position = ContinuePosition::new(Listed::Resource(&pods), values);
            let decoded =
                ContinuePosition::decode(&position.encode(&options), &options).expect("valid");
            assert_eq!(decoded, position);
            match &decoded.values[0] {
                SortValue::Float(f) => assert_eq!(f.get().to_bits(), score.to_bits()),
                other => panic!("not a float: {other:?}"),
            }
        }
        // The default-order position does not fit the relevance order, nor the reverse.
        let token = position().encode(&options);
        assert!(ContinuePosition::decode(&token, &options).is_err());
        let mut values = vec![SortValue::Float(Float::new(1.0))];
        values.extend(position().values.into_iter().skip(1));
        let misplaced = ContinuePosition::new(Listed::Resource(&pods), values);
        let plain = ListOptions::default();
        assert!(ContinuePosition::decode(&misplaced.encode(&plain), &plain).is_err());
    }

    #[test]
    fn paging_parameters_do_not_invalidate_tokens() {
        let options = ListOptions::default();
        let token = position().encode(&options);
        let next = ListOptions {
            limit: Some(10),
            with_remaining_count: true,
            ..ListOptions::default()
        };
        assert!(ContinuePosition::decode(&token, &next).is_ok());
    }
}
