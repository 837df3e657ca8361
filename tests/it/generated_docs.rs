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

#[test]
fn help_and_man_pages_have_examples_and_the_main_page_its_sections() {
    let pages = agentmesh::cli::man_pages();
    let page = |name: &str| {
        String::from_utf8(
            pages
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no page {name}"))
                .1
                .clone(),
        )
        .expect("utf8")
    };
    let main = page("agentmesh.1");
    for section in ["EXAMPLES", "ENVIRONMENT", "FILES", "EXIT STATUS"] {
        assert!(
            main.contains(&format!(".SH {section}")),
            "agentmesh.1 lacks {section}"
        );
    }
    // Every page a page refers to exists.
    for (name, bytes) in &pages {
        let text = String::from_utf8_lossy(bytes);
        for referred in text
            .split(|c: char| c.is_whitespace() || c == '"')
            .filter_map(|w| w.strip_suffix("(1)"))
            .map(|w| {
                w.replace("\\-", "-")
                    .replace("\\fB", "")
                    .replace("\\fR", "")
            })
            .filter(|w| w.starts_with("agentmesh"))
        {
            assert!(
                pages.iter().any(|(n, _)| *n == format!("{referred}.1")),
                "{name} refers to {referred}(1), which has no page"
            );
        }
        assert!(text.contains(".SH EXAMPLES"), "{name} has no EXAMPLES");
    }
    assert!(pages.iter().any(|(n, _)| n == "agentmesh-trust-show.1"));
}
