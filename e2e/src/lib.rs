//! The tests and benchmarks that cross parts of clusterpedia, as a user runs them:
//! simulated member clusters (`kube-sim`) → clustersynchro-manager → a storage layer →
//! apiserver → kubectl. Naming storage layers is the binding's job, so they live here and not
//! in a component (whose own tests use `storage_api::testing::ReferenceStorageFactory`).
//!
//! | target | what |
//! |---|---|
//! | `tests/kubectl.rs` | the real `kubectl` against the apiserver over `memory` and `internal` (SQLite) |
//! | `tests/synchro.rs` | `kube-sim` → synchro → `memory`: initial sync, watch, restarts, storage faults |
//! | `tests/fleet.rs` | synchro replicas over PostgreSQL: cluster sharding with a killed and a joining replica, leader election hand-over |
//! | `benches/list_pods.rs` | `cargo xtask bench apiserver-list`: the apiserver's read path over `memory` |
//! | `benches/initial_sync.rs` | `cargo xtask bench initial-sync`: the synchro's initial sync into null, `memory` and PostgreSQL |
//!
//! The crate has no code of its own; the apiserver's HTTPS test client is shared with
//! `components/apiserver/tests/support/mod.rs`.
