//! `serve` past `--ann-min-cards`: discovery moves its vectors into an HNSW graph as soon as
//! the index reaches that size, keeps it current as cards change, saves it at shutdown and
//! loads it at the next start; a damaged saved graph is rebuilt, never trusted.

use std::time::{Duration, Instant};

use agentmesh::encoding::now_unix;
use agentmesh::identity::Identity;
use serde_json::json;

use crate::common::{ServeProcess, envelope};
use crate::rerank::{discover, node_info};

const CARDS: [(&str, &str); 3] = [
    (
        "forecast",
        "Forecasts rain, wind and temperature for any city.",
    ),
    (
        "translator",
        "Translates documents between English, Spanish and French.",
    ),
    (
        "mailer",
        "Drafts polite emails and short notes to colleagues.",
    ),
];

async fn post(url: &str, id: &Identity, issued_at: i64, name: &str, desc: &str) {
    let env = envelope(id, issued_at, |m| {
        m["name"] = json!(name);
        m["description"] = json!(desc);
        m["tags"] = json!([]);
    });
    crate::rerank::post(url, &env).await;
}

/// The first result's agent ID.
fn first(home: &std::path::Path, url: &str, q: &str) -> String {
    let v = discover(home, url, q);
    v["results"][0]["agent_id"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_moves_into_a_graph_that_is_kept_saved_and_loaded() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let home = tempfile::tempdir().expect("home");
    let args = ["--ann-min-cards", "3"];
    let mut node = ServeProcess::start(home.path(), &args);
    let ids: Vec<Identity> = CARDS.iter().map(|_| Identity::generate()).collect();
    let now = now_unix();
    for (id, (name, desc)) in ids.iter().zip(CARDS).take(2) {
        post(&node.url, id, now, name, desc).await;
    }
    assert_eq!(node_info(&node.url).await["search"], "scan");
    // The third card reaches the size: the graph is built in the background, promptly.
    post(&node.url, &ids[2], now, CARDS[2].0, CARDS[2].1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while node_info(&node.url).await["search"] != "graph" {
        assert!(Instant::now() < deadline, "no graph after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        first(home.path(), &node.url, "will it rain in Oslo tomorrow"),
        ids[0].id()
    );
    // A new version moves its card in the graph.
    post(
        &node.url,
        &ids[0],
        now + 1,
        "forecast",
        "Writes cover letters and thank-you messages for job seekers.",
    )
    .await;
    assert_eq!(
        first(home.path(), &node.url, "cover letter for a job application"),
        ids[0].id()
    );
    assert_eq!(node_info(&node.url).await["indexed"], 3);
    // The new version reached the graph in the background (found meanwhile in its tail).
    let deadline = Instant::now() + Duration::from_secs(30);
    while node_info(&node.url).await["graph_pending"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the graph did not take the new version"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        first(home.path(), &node.url, "cover letter for a job application"),
        ids[0].id()
    );

    // A clean stop saves the graph; the next start uses it at once.
    assert!(node.terminate().success());
    let ann = home.path().join("data").join("ann");
    for f in ["graph.usearch", "graph.keys"] {
        assert!(ann.join(f).is_file(), "{f} saved");
    }
    // Three starts: from the saved graph as it is, then from a damaged graph (its second half
    // overwritten) and from garbage in place of both files, which the node rebuilds. Each time
    // it answers the same, the new version included.
    let graph = ann.join("graph.usearch");
    let damage: [&dyn Fn(); 3] = [
        &|| {},
        &|| {
            let mut bytes = std::fs::read(&graph).expect("read");
            let n = bytes.len();
            bytes[n / 2..].iter_mut().for_each(|b| *b = 0xa5);
            std::fs::write(&graph, &bytes).expect("write");
        },
        &|| {
            std::fs::write(&graph, b"\x00garbage").expect("write");
            std::fs::write(ann.join("graph.keys"), b"agentmesh-ann-v1\nnot a header")
                .expect("write");
        },
    ];
    for damage in damage {
        damage();
        let mut node = ServeProcess::start(home.path(), &args);
        assert_eq!(node_info(&node.url).await["search"], "graph");
        assert_eq!(
            first(
                home.path(),
                &node.url,
                "translate this contract into Spanish"
            ),
            ids[1].id()
        );
        assert_eq!(
            first(home.path(), &node.url, "draft a short email to a colleague"),
            ids[2].id()
        );
        assert_eq!(
            first(home.path(), &node.url, "cover letter for a job application"),
            ids[0].id(),
            "the graph has the new version"
        );
        assert!(node.terminate().success());
    }
}
