//! The test kit of the contract (feature `testing`): what the tests of components and layers
//! need to have "a layer" without naming one.
//!
//! - [`ReferenceStorageFactory`]: the contract's own layer, in memory, answering every query
//!   with the reference evaluator, watch included. Components use it in their unit tests; the
//!   conformance suite (`storage-conformance`) proves itself on it and on its deliberately
//!   broken variants ([`ReferenceBug`]).
//! - [`Forwarding`]: a [`StorageFactory`](crate::StorageFactory) that forwards every call to
//!   an inner layer, with a [`Probe`] that sees each write before it is forwarded (to count it,
//!   measure it or fail it) and runs a teardown after shutdown (to drop a scratch database).
//!
//! ```text
//! [dev-dependencies]
//! storage-api = { workspace = true, features = ["testing"] }
//! ```

mod forwarding;
mod reference;

pub use forwarding::{AfterWrite, Forwarding, ForwardingStorage, Probe, Write};
pub use reference::{ReferenceBug, ReferenceStorageFactory};
