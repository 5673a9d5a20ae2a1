//! The `apiserver` binary (see the `clusterpedia` crate docs).

fn main() -> std::process::ExitCode {
    clusterpedia::apiserver_main()
}
