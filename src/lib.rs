//! The clusterpedia binaries: `apiserver`, `clustersynchro-manager` and `binding-apiserver`,
//! linked with the storage layers chosen by cargo features.
//!
//! Each storage layer is a crate with a cargo feature `<layer>-storage` of this package that
//! enables it as an optional dependency; `<binary> storage-layers` lists what a build links,
//! with the crate that provides each layer.

/// Names each feature-selected layer crate once, so that its registration reaches the registry:
/// rustc links only the crates a binary names. `tests/storage_layers.rs` checks that every
/// `*-storage` feature of the manifest is here.
macro_rules! link_storage_layers {
    ($($feature:literal => $layer_crate:ident),* $(,)?) => {
        $(
            #[cfg(feature = $feature)]
            extern crate $layer_crate as _;
        )*
    };
}

// One line per storage layer crate: "<cargo feature>" => <crate>.
link_storage_layers! {
    "internal-storage" => storage_internal,
    "memory-storage" => storage_memory,
    "sample-storage" => storage_sample,
    "elasticsearch-storage" => storage_elasticsearch,
}

mod cli;

pub use cli::{apiserver_main, binding_apiserver_main, clustersynchro_manager_main};

/// The `main` of a binary that links storage layer crates of its own:
/// `clusterpedia::main!(apiserver_main, storage_my_store);` runs the entry point
/// `apiserver_main` (or `clustersynchro_manager_main`, `binding_apiserver_main`) with the crates
/// named after it linked in. Naming them is what links them (rustc links only the crates a
/// binary names), and so what brings their `storage_api::register_storage_layer!` into the
/// registry. It is how a layer kept in a repository of its own makes the three binaries, one line
/// each (`cargo xtask new-storage-layer <name> --standalone <dir>`, see
/// `docs/storage-layer-guide.md`).
#[macro_export]
macro_rules! main {
    ($entry_point:ident $(, $layer_crate:ident)* $(,)?) => {
        $(extern crate $layer_crate as _;)*

        fn main() -> ::std::process::ExitCode {
            $crate::$entry_point()
        }
    };
}
