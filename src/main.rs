//! The `agentmesh` binary: everything lives in the library; this only hands over.

// The node allocates many small JSON values per request; mimalloc cut allocator time in the
// ingest benchmark (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns the pages mimalloc holds free (the calling thread's, and abandoned ones) to the OS.
fn release_free_memory() {
    // SAFETY: `mi_collect` takes no pointers; it only walks the allocator's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

fn main() -> std::process::ExitCode {
    agentmesh::set_release_free_memory(release_free_memory);
    agentmesh::cli::main()
}
