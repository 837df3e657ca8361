//! `examples/verify_agent.rs`, the README's agent on the protocol library, run for real behind a
//! node: a signed call is answered and the answer's signature verifies; a forged or replayed one
//! is refused with the handshake's code.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use agentmesh::encoding::now_unix;
use agentmesh::handshake::{sign_request, verify_response};
use agentmesh::identity::Identity;
use serde_json::{Value, json};

#[tokio::test]
async fn the_example_agent_verifies_callers_and_signs_answers() {
    // Built by `cargo test` with the other targets; built here when this test runs alone.
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "verify_agent"])
        .status()
        .expect("cargo build");
    assert!(status.success());
    let exe = std::env::current_exe().expect("test path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples/verify_agent");
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("agent.key");
    let mut child = Command::new(&bin)
        .args(["127.0.0.1:0", key.to_str().expect("utf8")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the example");
    let line = common::first_line(
        child.stdout.take().expect("stdout"),
        Duration::from_secs(30),
    )
    .expect("the agent printed its address");
    let _guard = KillOnDrop(child);
    // "agent <id> on http://<addr>"
    let words: Vec<&str> = line.split_whitespace().collect();
    let (agent_id, url) = (words[1].to_string(), words[3].to_string());
    let agent_key = agentmesh::identity::KeyStore::load_or_create_file(&key)
        .expect("the key it wrote")
        .0;
    assert_eq!(agent_key.id(), agent_id);

    let node = common::TestNode::start().await;
    let card = common::envelope(&agent_key, now_unix(), |m| m["endpoint"] = json!(url));
    assert_eq!(node.post_card(&card).await.0, 201);
    let caller = Identity::generate();
    let http = reqwest::Client::new();
    let call = |signed: agentmesh::handshake::SignedRequest| {
        let mut req = http
            .post(format!("{}/v1/agents/{agent_id}/invoke/x", node.url))
            .body("{}");
        for (k, v) in signed.headers() {
            req = req.header(k, v);
        }
        req.send()
    };
    let signed = sign_request(&caller, &agent_id, "POST", "/x", b"{}", now_unix());
    let res = call(signed.clone()).await.expect("call");
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let body = res.bytes().await.expect("body");
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["hello"], caller.id());
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    verify_response(&agent_id, 200, &signed.nonce, header, &body)
        .expect("the agent signed its answer");
    // Straight to the agent (no node in between): it refuses a replay and a forgery itself.
    let direct = |signed: &agentmesh::handshake::SignedRequest| {
        let mut req = http.post(format!("{url}/x")).body("{}");
        for (k, v) in signed.headers() {
            req = req.header(k, v);
        }
        req.send()
    };
    let fresh = sign_request(&caller, &agent_id, "POST", "/x", b"{}", now_unix());
    assert_eq!(direct(&fresh).await.expect("direct").status(), 200);
    let replay = direct(&fresh).await.expect("replay");
    assert_eq!(replay.status(), 401);
    let v: Value = replay.json().await.expect("json");
    assert_eq!(v["error"]["code"], "replayed_nonce");
    let mut forged = sign_request(
        &Identity::generate(),
        &agent_id,
        "POST",
        "/x",
        b"{}",
        now_unix(),
    );
    forged.agent_id = caller.id().to_string();
    let res = direct(&forged).await.expect("forged");
    assert_eq!(res.status(), 401);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
