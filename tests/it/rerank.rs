//! `serve --embedder minilm`: a transformer re-ranks discovery, its card vectors are computed
//! in the background, shown in `/v1/node`, kept across restarts and replaced with the card.
//! Needs the all-MiniLM-L6-v2 folder (`AGENTMESH_TEST_MINILM_DIR`, set by `.ci/run`), except
//! the tests of bad folders.

use std::time::{Duration, Instant};

use agentmesh::encoding::now_unix;
use agentmesh::identity::Identity;
use serde_json::{Value, json};

use crate::common::{ServeProcess, cmd, envelope};

const CARDS: [(&str, &str); 3] = [
    (
        "mailer",
        "Drafts polite emails and short notes to colleagues, managers and clients.",
    ),
    (
        "helpdesk",
        "Answers customer support tickets for an online shop: refunds, orders, shipping.",
    ),
    (
        "forecast",
        "Forecasts rain, wind and temperature for any city.",
    ),
];

/// `GET /v1/node` as JSON.
pub(crate) async fn node_info(url: &str) -> Value {
    reqwest::get(format!("{url}/v1/node"))
        .await
        .expect("GET /v1/node")
        .json()
        .await
        .expect("json")
}

/// Polls `/v1/node` until `done` holds of its `rerank` object (deadline 60 s).
async fn wait_rerank(url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = node_info(url).await["rerank"].clone();
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "re-ranker stuck at {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers `env`, asserting success.
pub(crate) async fn post(url: &str, env: &Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/agents"))
        .json(env)
        .send()
        .await
        .expect("POST");
    assert!(r.status().is_success(), "{}", r.status());
}

/// `agentmesh discover Q --json` against `url`.
pub(crate) fn discover(home: &std::path::Path, url: &str, q: &str) -> Value {
    let out = cmd(home)
        .args(["discover", q, "--json", "--node", url])
        .output()
        .expect("discover");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minilm_reranks_in_the_background_and_keeps_its_vectors() {
    let Some(dir) = crate::discovery_eval::minilm_dir() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = dir.to_str().expect("utf-8 path").to_string();
    let home = tempfile::tempdir().expect("home");
    let args = ["--embedder", "minilm", "--minilm-dir", dir.as_str()];
    let mut node = ServeProcess::start(home.path(), &args);
    let ids: Vec<Identity> = CARDS.iter().map(|_| Identity::generate()).collect();
    for (id, (name, desc)) in ids.iter().zip(CARDS) {
        post(
            &node.url,
            &envelope(id, now_unix(), |m| {
                m["name"] = json!(name);
                m["description"] = json!(desc);
                m["tags"] = json!([]);
            }),
        )
        .await;
    }
    let r = wait_rerank(&node.url, |r| r["ready"] == 3).await;
    let model = r["model"].as_str().expect("model").to_string();
    assert!(
        model.starts_with("sentence-transformers__all-MiniLM-L6-v2@"),
        "{model}"
    );
    assert_eq!(r["embedded"], 3);

    // A paraphrase sharing no word with the mailer's card; the static model alone puts the
    // helpdesk first (the issue's example).
    let found = discover(
        home.path(),
        &node.url,
        "help me write a note to my boss asking for Friday off",
    );
    assert_eq!(
        found["model"],
        model.as_str(),
        "scores are the transformer's"
    );
    assert_eq!(found["results"][0]["agent_id"], ids[0].id(), "{found}");

    // Hostile query text through the transformer: the longest allowed, of control characters,
    // emoji, combining marks and a word repeated past the 256-token cut, is answered; one
    // character more is refused, as without a re-ranker.
    let garbage: String = "\u{0}\u{7f}\u{202e}😀e\u{301} ünïcødé wörd "
        .chars()
        .cycle()
        .take(1000)
        .collect();
    for (q, want) in [(garbage.clone(), 200), (format!("{garbage}x"), 400)] {
        let mut url = reqwest::Url::parse(&format!("{}/v1/agents", node.url)).expect("url");
        url.query_pairs_mut().append_pair("q", &q);
        let res = reqwest::get(url).await.expect("GET");
        assert_eq!(res.status().as_u16(), want);
    }

    // Restart: the vectors were stored, nothing is embedded again.
    assert!(node.terminate().success());
    let mut node = ServeProcess::start(home.path(), &args);
    let r = wait_rerank(&node.url, |r| r["ready"] == 3 && r["scanning"] == false).await;
    assert_eq!(r["embedded"], 0, "{r}");

    // A new version of a card is embedded anew, and ranks by its new text.
    post(
        &node.url,
        &envelope(&ids[2], now_unix() + 1, |m| {
            m["name"] = json!("forecast");
            m["description"] =
                json!("Writes cover letters and thank-you messages for job seekers.");
            m["tags"] = json!([]);
        }),
    )
    .await;
    let r = wait_rerank(&node.url, |r| r["embedded"] == 1 && r["ready"] == 3).await;
    assert_eq!(r["queued"], 0);
    let found = discover(
        home.path(),
        &node.url,
        "I need to thank the recruiter after my interview",
    );
    assert_eq!(found["results"][0]["agent_id"], ids[2].id(), "{found}");
    node.kill();
}

#[test]
fn a_missing_or_broken_minilm_folder_is_a_clear_error() {
    let home = tempfile::tempdir().expect("home");
    // No folder at the default place.
    let out = cmd(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--embedder", "minilm"])
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("models/all-MiniLM-L6-v2") && err.contains("hint: pass --minilm-dir"),
        "{err}"
    );
    // A folder of garbage: refused with the file named, never a panic.
    let bad = home.path().join("bad");
    std::fs::create_dir(&bad).expect("mkdir");
    std::fs::write(
        bad.join("config.json"),
        br#"{"model_type": "bert", "hidden_size": 8}"#,
    )
    .expect("w");
    std::fs::write(bad.join("model.safetensors"), b"\xff\x00 not safetensors").expect("w");
    std::fs::write(bad.join("tokenizer.json"), b"{}").expect("w");
    let out = cmd(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--minilm-dir"])
        .arg(&bad)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("config.json")
            || err.contains("tokenizer.json")
            || err.contains("model.safetensors"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
