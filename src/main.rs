//! The `agentmesh` binary: everything lives in the library; this only hands over.

fn main() -> std::process::ExitCode {
    agentmesh::cli::main()
}
