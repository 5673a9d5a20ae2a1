//! The `binding-apiserver` binary (see the `clusterpedia` crate docs).

fn main() -> std::process::ExitCode {
    clusterpedia::binding_apiserver_main()
}
