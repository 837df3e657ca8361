//! The committed `completions/` and `man/` must be what the binary generates now.
//! Regenerate with: `cargo run -- completions --out-dir completions && cargo run -- man --out-dir man`.

use std::path::Path;

fn check(dir: &str, files: Vec<(String, Vec<u8>)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut stale = Vec::new();
    for (name, want) in &files {
        match std::fs::read(root.join(name)) {
            Ok(have) if &have == want => {}
            _ => stale.push(name.clone()),
        }
    }
    assert!(
        stale.is_empty(),
        "{dir}/ is stale for {stale:?}; regenerate with `cargo run -- completions --out-dir completions && cargo run -- man --out-dir man`"
    );
}

#[test]
fn completions_are_fresh() {
    check("completions", agentmesh::cli::completion_files());
}

#[test]
fn openapi_document_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == agentmesh::node::openapi::document_json(),
        "docs/openapi.json is stale; regenerate with `cargo run -- openapi --out docs/openapi.json`"
    );
}

#[test]
fn man_pages_are_fresh() {
    check("man", agentmesh::cli::man_pages());
}
