//! The Kubernetes wire format, written once for every server of the workspace.
//!
//! The clusterpedia apiserver and the kube API simulator (`kube-sim`) both answer kubectl and
//! kube-rs; what they must say alike lives here:
//!
//! - [`status`]: the `meta.k8s.io/v1` `Status` every failure is answered with (the storage
//!   contract maps its errors into it too);
//! - [`table`]: `meta.k8s.io` `Table` output, with the column definitions and kubectl-faithful
//!   printers of the common kinds, so one object prints the same row from both servers;
//! - [`time`]: RFC 3339 times as Kubernetes writes them and ages as kubectl shows them;
//! - [`watch`]: the framing of watch events, one JSON line each;
//! - [`rbac`]: RBAC evaluation (roles, bindings, rules) as the kube-apiserver's authorizer does it.
//!
//! No HTTP here: the servers wrap these in their own responses.

pub mod rbac;
pub mod status;
pub mod table;
pub mod time;
pub mod watch;

pub use status::{Status, StatusCause, StatusDetails, StatusReason};
pub use time::human_duration;
pub use watch::EventType;
