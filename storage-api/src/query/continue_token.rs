//! Continue tokens: opaque, tamper-checked keyset positions.
//!
//! A token carries the [`SortValue`]s of the last item of a page, one per field of
//! [`ListOptions::effective_order`], and a SHA-256 tag over those values and the query that made
//! them. The next page is "the items strictly after this position", so a layer answers it with
//! an index seek whose cost does not grow with depth, and paging over live data never shows an
//! item twice nor skips one that existed throughout the walk.
//!
//! Tokens are integrity-checked, not secret: they only hold values of the listed objects.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ListOptions, OrderField, SortValue};
use crate::error::{Result, StorageError};

/// The name of the parameter, for errors.
const PARAMETER: &str = "continue";
/// Bumped whenever the payload changes shape.
const TOKEN_VERSION: u8 = 1;

/// A verified position to resume a list after: the sort values of the last item returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinuePosition {
    /// One value per field of [`ListOptions::effective_order`], in that order.
    pub values: Vec<SortValue>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    k: Vec<SortValue>,
}

impl ContinuePosition {
    /// Encodes this position as a token for the query `options`.
    pub fn encode(&self, options: &ListOptions) -> String {
        let payload = Payload {
            v: TOKEN_VERSION,
            k: self.values.clone(),
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
    /// or was made by a different query (other filters or order).
    pub fn decode(token: &str, options: &ListOptions) -> Result<Self> {
        let malformed = || StorageError::bad_request(PARAMETER, "the continue token is malformed");
        let (payload, given_tag) = token.split_once('.').ok_or_else(malformed)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
        let given_tag = URL_SAFE_NO_PAD.decode(given_tag).map_err(|_| malformed())?;
        if given_tag != tag(&json, options) {
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
        let order = options.effective_order();
        let types_match = payload.k.len() == order.len()
            && order
                .iter()
                .zip(&payload.k)
                .all(|(o, v)| value_fits(&o.field, v));
        if !types_match {
            return Err(malformed());
        }
        Ok(Self { values: payload.k })
    }
}

/// Whether `value` can be a value of `field`.
fn value_fits(field: &OrderField, value: &SortValue) -> bool {
    match field {
        OrderField::CreatedAt | OrderField::ResourceVersion => {
            matches!(value, SortValue::Int(_) | SortValue::Null)
        }
        OrderField::Path(_) => matches!(value, SortValue::Str(_) | SortValue::Null),
        _ => matches!(value, SortValue::Str(_)),
    }
}

fn tag(payload: &[u8], options: &ListOptions) -> [u8; 12] {
    let mut hasher = Sha256::new();
    hasher.update(b"clusterpedia continue token\0");
    hasher.update(options.query_fingerprint().as_bytes());
    hasher.update(b"\0");
    hasher.update(payload);
    let digest = hasher.finalize();
    let mut tag = [0u8; 12];
    tag.copy_from_slice(&digest[..12]);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> ContinuePosition {
        ContinuePosition {
            values: vec![
                SortValue::Str("c1".into()),
                SortValue::Str("ns".into()),
                SortValue::Str("pod-9".into()),
                SortValue::Str("".into()),
                SortValue::Str("v1".into()),
                SortValue::Str("pods".into()),
            ],
        }
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
