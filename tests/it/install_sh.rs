//! install.sh puts completions and man pages where shells and `man` look, is idempotent, and
//! `--uninstall` removes them. (`--no-build` skips `cargo install`, which the README covers.)

use std::path::Path;
use std::process::Command;

fn run(prefix: &Path, extra: &[&str]) -> String {
    let out = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .args(extra)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn installs_idempotently_and_uninstalls() {
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = dir.path();
    let expected = [
        "share/bash-completion/completions/agentmesh",
        "share/zsh/site-functions/_agentmesh",
        "share/fish/vendor_completions.d/agentmesh.fish",
        "share/man/man1/agentmesh.1",
        "share/man/man1/agentmesh-register.1",
    ];
    let first = run(prefix, &["--no-build"]);
    assert!(first.contains("installed"), "{first}");
    for f in expected {
        assert!(prefix.join(f).is_file(), "{f} installed");
    }
    run(prefix, &["--no-build"]);
    let gone = run(prefix, &["--uninstall"]);
    assert!(gone.contains("removed"), "{gone}");
    for f in expected {
        assert!(!prefix.join(f).exists(), "{f} removed");
    }
    let status = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
        .arg("--bogus")
        .status()
        .expect("sh runs");
    assert_eq!(status.code(), Some(2));
}
