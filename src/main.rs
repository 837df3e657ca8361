//! The `agentmesh` binary: everything lives in the library; this only hands over.

// The node allocates many small JSON values per request; mimalloc cut allocator time in the
// ingest benchmark (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    agentmesh::cli::main()
}
