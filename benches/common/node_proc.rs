//! A release node as a subprocess (`agentmesh serve` on 127.0.0.1, port 0, a temporary
//! `AGENTMESH_HOME`), killed when dropped (also on panic), and its resident memory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The node subprocess.
pub struct NodeProc {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _home: tempfile::TempDir,
}

impl NodeProc {
    /// Starts `bin serve` with `env` added, and waits (up to 2 minutes) for it to say its URL.
    pub fn start(bin: &str, env: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().expect("temporary AGENTMESH_HOME");
        let log = home.path().join("node.log");
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--json"])
            .env("AGENTMESH_HOME", home.path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut r, &mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        // The guard exists before the wait, so a node that never answers is still killed.
        let (addr, _home) = (SocketAddr::from(([127, 0, 0, 1], 0)), home);
        let mut node = NodeProc {
            child,
            addr,
            log,
            _home,
        };
        let line = rx.recv_timeout(Duration::from_secs(120));
        let v: Value = serde_json::from_str(line.as_deref().unwrap_or("")).unwrap_or_default();
        let url = v["url"].as_str().and_then(|u| u.strip_prefix("http://"));
        let Some(addr) = url.and_then(|u| u.parse().ok()) else {
            panic!(
                "the node said {line:?}, not its URL; its log:\n{}",
                node.log_tail()
            )
        };
        node.addr = addr;
        node
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    #[allow(dead_code)] // not every bench watches for a crash
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of `/proc/<pid>/<file>` in MB (`status`: `VmRSS:`, `RssAnon:`; `smaps_rollup`:
/// `AnonHugePages:`; 0 once it is gone).
pub fn proc_mb(pid: u32, file: &str, field: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    let kb = text.lines().find_map(|l| l.strip_prefix(field));
    kb.and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// VmRSS of `pid` in MB.
pub fn rss_mb(pid: u32) -> f64 {
    proc_mb(pid, "status", "VmRSS:")
}
