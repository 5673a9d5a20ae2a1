//! The caps on one list request: every request has a bounded cost on every storage layer.
//!
//! Each cap is a constant here, checked once by [`parse_list_options`](super::params::parse_list_options);
//! going over one is a `400 BadRequest` naming the parameter (or search label) and the cap.
//! They are set well above what a person or kubectl asks for, and below the limits of the
//! databases (SQLite: expression depth 1000, 200 tables in a join; PostgreSQL: 65535 bound
//! parameters), so a request a layer cannot take is refused here, never by the database.
//!
//! | what | cap | constant |
//! |---|---|---|
//! | length of the URL query (percent-encoded) | 65536 bytes | [`MAX_QUERY_BYTES`] |
//! | `orderby` field paths (the 8 columns are not counted) | 5 | [`MAX_ORDER_PATHS`] |
//! | `labelSelector` requirements (search labels included) | 100 | [`MAX_LABEL_REQUIREMENTS`] |
//! | `fieldSelector` requirements | 100 | [`MAX_FIELD_REQUIREMENTS`] |
//! | values of one `in` / `notin` requirement (both selectors) | 100 | [`MAX_SELECTOR_VALUES`] |
//! | `clusters`, `namespaces`, `names` values (each) | 1000 | [`MAX_LIST_VALUES`] |
//! | `fuzzyName` values | 20 | [`MAX_FUZZY_NAMES`] |
//! | segments of one field path (`fieldSelector`, `orderby`) | 32 | [`MAX_PATH_SEGMENTS`] |
//! | `[]` segments of one field path | 10 | [`MAX_PATH_LIST_SEGMENTS`] |
//! | length of one text value | 4096 bytes | [`MAX_VALUE_BYTES`] |
//! | words of the full-text `query` (distinct) | 16 | [`MAX_FULL_TEXT_WORDS`] |
//! | length of the full-text `query` (all label values together) | 1024 bytes | [`MAX_FULL_TEXT_BYTES`] |
//! | length of one word of the full-text `query` | 256 bytes | [`MAX_WORD_BYTES`](super::full_text::MAX_WORD_BYTES) |
//!
//! Text values a Kubernetes object cannot hold are refused the same way: a control character
//! (NUL included) in `clusters`, `namespaces`, `names`, `fuzzyName`, `ownerUID`, `ownerName`,
//! `ownerGR`, `resourceVersion` or a search label value, and NUL in a field selector value or in
//! a value of a continue token.

use crate::error::{Result, StorageError};

/// The longest URL query accepted, in bytes (percent-encoded), like kube's 64 KiB URL limit.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// The most `orderby` field paths (columns are cheap, and each may be given once): each field
/// path is evaluated on every matching object before the page is cut.
pub const MAX_ORDER_PATHS: usize = 5;
/// The most requirements of a `labelSelector`, search labels included.
pub const MAX_LABEL_REQUIREMENTS: usize = 100;
/// The most requirements of a `fieldSelector`.
pub const MAX_FIELD_REQUIREMENTS: usize = 100;
/// The most values of one `in` or `notin` requirement, in either selector.
pub const MAX_SELECTOR_VALUES: usize = 100;
/// The most values of `clusters`, `namespaces` or `names` (each).
pub const MAX_LIST_VALUES: usize = 1000;
/// The most `fuzzyName` values: each one is a substring scan of every name.
pub const MAX_FUZZY_NAMES: usize = 20;
/// The most segments of one field path (`a.b[0]` has three).
pub const MAX_PATH_SEGMENTS: usize = 32;
/// The most `[]` segments of one field path: each one is a join over a list.
pub const MAX_PATH_LIST_SEGMENTS: usize = 10;
/// The longest single text value (a name, a selector value, a fuzzy name), in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The most distinct words of a full-text `query`: each one is an index lookup, all must match.
pub const MAX_FULL_TEXT_WORDS: usize = 16;
/// The longest full-text `query`, in bytes (the values of its search label together).
pub const MAX_FULL_TEXT_BYTES: usize = 1024;

/// A `400` for `parameter` going over `cap`.
pub(crate) fn over(parameter: &str, what: &str, given: usize, cap: usize) -> StorageError {
    StorageError::bad_request(
        parameter.to_owned(),
        format!("too many {what}: {given} given, the limit is {cap}"),
    )
}

/// Fails when `count` is over `cap`.
pub(crate) fn check_count(parameter: &str, what: &str, count: usize, cap: usize) -> Result<()> {
    if count > cap {
        return Err(over(parameter, what, count, cap));
    }
    Ok(())
}

/// Fails when `value` holds a control character (NUL included) or is longer than
/// [`MAX_VALUE_BYTES`]: names, namespaces, uids and resource versions cannot hold them.
pub(crate) fn check_text(parameter: &str, value: &str) -> Result<()> {
    check_length(parameter, value)?;
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(StorageError::bad_request(
            parameter.to_owned(),
            format!("the value {value:?} holds the control character {c:?}, which is not allowed"),
        ));
    }
    Ok(())
}

/// Fails when `value` holds NUL (no database text can) or is longer than [`MAX_VALUE_BYTES`].
pub(crate) fn check_no_nul(parameter: &str, value: &str) -> Result<()> {
    check_length(parameter, value)?;
    if value.contains('\0') {
        return Err(StorageError::bad_request(
            parameter.to_owned(),
            format!("the value {value:?} holds a NUL character, which is not allowed"),
        ));
    }
    Ok(())
}

fn check_length(parameter: &str, value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StorageError::bad_request(
            parameter.to_owned(),
            format!(
                "a value is {} bytes long, the limit is {MAX_VALUE_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(())
}
