//! The `clustersynchro-manager` binary (see the `clusterpedia` crate docs).

fn main() -> std::process::ExitCode {
    clusterpedia::clustersynchro_manager_main()
}
