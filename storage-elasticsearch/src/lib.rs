//! The `elasticsearch` storage layer crate. Its implementation is tracked by its own issue; until then the
//! crate registers nothing, so binaries built with its feature do not list it.
