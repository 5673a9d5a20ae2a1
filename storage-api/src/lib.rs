//! The storage layer contract of clusterpedia (placeholder while the crate is written).
pub mod query;
