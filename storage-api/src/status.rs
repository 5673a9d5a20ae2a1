//! The Kubernetes `meta.k8s.io/v1` `Status` object every error is answered with.
//!
//! The model lives in the `kube-wire` crate (the Kubernetes wire format shared by the
//! components); it is re-exported here because [`StorageError`](crate::StorageError) maps into
//! it.

pub use kube_wire::status::{Status, StatusCause, StatusDetails, StatusReason};
