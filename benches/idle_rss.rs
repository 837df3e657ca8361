//! Where an idle node's memory goes (#24: an idle node at most 20 MB resident). One node is
//! built up in this process stage by stage — a store, the node, a few seconds idle, then a
//! first query, which loads the embedding model — and the resident set (`VmRSS`, with the
//! binary's allocator, mimalloc, and its memory release as in src/main.rs) is read after each;
//! the deltas say what each part holds.
//!
//!     cargo bench --bench idle_rss
//!     cargo bench --bench idle_rss -- --keep-free-memory    # as before the node released it
//!     cargo bench --bench idle_rss -- --before OLD_BINARY   # and an older build, alternating
//!
//! Single process, so the stages add up: a stage's delta is what it added on top of the ones
//! before it. Then the release binary itself: `agentmesh serve` idle for 6 s, three starts (with
//! `--before`, three of each binary, alternating).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

use agentmesh::node::{Node, NodeConfig};
use agentmesh::store::{Store, StoreOptions};

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Row {
    stage: &'static str,
    rss: u64,
    anon: u64,
}

fn reading(stage: &'static str) -> Row {
    Row {
        stage,
        rss: status_kb("VmRSS:"),
        anon: status_kb("RssAnon:"),
    }
}

#[path = "common/node_proc.rs"]
mod node_proc;

/// As the binary does (src/main.rs).
fn release_free_memory() {
    // SAFETY: `mi_collect` takes no pointers; it only walks the allocator's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

fn main() {
    if std::env::args().all(|a| a != "--keep-free-memory") {
        agentmesh::set_release_free_memory(release_free_memory);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let mut rows = vec![reading("process with a runtime")];
    let store = Store::open(&dir.path().join("probe"), StoreOptions::default()).expect("store");
    rows.push(reading("+ an empty store (writer, readers)"));
    drop(store);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let node = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Node::spawn(listener, NodeConfig::new(dir.path().join("node")), async {
            let _ = rx.await;
        })
        .await
        .expect("node")
    });
    rows.push(reading(
        "+ the node (model ID, store, trust, federation, HTTP)",
    ));
    std::thread::sleep(Duration::from_secs(3));
    rows.push(reading("+ 3 s idle: the idle node"));
    let url = format!("http://{}/v1/agents?q=translate+a+letter", node.addr);
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .expect("query")
            .status()
    });
    assert!(status.is_success(), "{status}");
    rows.push(reading("+ a first query (the model loads)"));
    std::thread::sleep(Duration::from_secs(3));
    rows.push(reading("+ 3 s idle"));
    println!("| stage | RSS | of it anonymous | added |");
    println!("|---|---|---|---|");
    let mut last = 0u64;
    for r in &rows {
        println!(
            "| {} | {:.1} MB | {:.1} MB | {:+.1} MB |",
            r.stage,
            r.rss as f64 / 1024.0,
            r.anon as f64 / 1024.0,
            (r.rss as f64 - last as f64) / 1024.0
        );
        last = r.rss;
    }
    let _ = tx.send(());
    let _ = rt.block_on(node.task);
    release_binary();
}

/// `agentmesh serve` idle for 6 s, `VmRSS` and `RssAnon`: this build's release binary and,
/// with `--before PATH`, an older one, three starts each, alternating.
fn release_binary() {
    let args: Vec<String> = std::env::args().collect();
    let mut bins = vec![("this build", env!("CARGO_BIN_EXE_agentmesh").to_string())];
    if let Some(i) = args.iter().position(|a| a == "--before") {
        let old = args
            .get(i + 1)
            .expect("--before needs the path of a binary");
        bins.push(("--before", old.clone()));
    }
    println!();
    println!(
        "| `agentmesh serve`, idle 6 s | RSS | of it anonymous | of it transparent huge pages |"
    );
    println!("|---|---|---|---|");
    for _ in 0..3 {
        for (label, bin) in &bins {
            let node = node_proc::NodeProc::start(bin, &[]);
            assert!(
                std::net::TcpStream::connect(node.addr).is_ok(),
                "the node does not accept connections"
            );
            std::thread::sleep(Duration::from_secs(6));
            let pid = node.pid();
            let rss = node_proc::rss_mb(pid);
            assert!(rss > 0.0, "the node exited; its log:\n{}", node.log_tail());
            println!(
                "| {label} | {rss:.1} MB | {:.1} MB | {:.1} MB |",
                node_proc::proc_mb(pid, "status", "RssAnon:"),
                node_proc::proc_mb(pid, "smaps_rollup", "AnonHugePages:"),
            );
        }
    }
}
