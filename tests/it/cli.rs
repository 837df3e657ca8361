//! The binary end to end: keygen → serve → register → GET, plus its error paths and exit codes.

use crate::common;

use assert_cmd::assert::OutputAssertExt as _;
use common::{ServeProcess, cmd};
use predicates::prelude::*;
use serde_json::Value;

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn keygen_serve_register_get() {
    let home = tempfile::tempdir().expect("tmp");
    let out = cmd(home.path())
        .args(["keygen", "--json"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let key = stdout_json(&out);
    let agent_id = key["agent_id"].as_str().expect("agent_id").to_string();
    assert!(agent_id.starts_with("did:key:z6Mk"));
    assert_eq!(key["name"], "default");
    assert_eq!(key["store"], "file");

    // The same identity is shown, and keygen refuses to overwrite it.
    cmd(home.path())
        .args(["keygen", "--show"])
        .assert()
        .success()
        .stdout(format!("{agent_id}\n"));
    cmd(home.path()).arg("keygen").assert().code(2).stderr(
        predicate::str::contains("already exists").and(predicate::str::contains("--force")),
    );

    let node = ServeProcess::start(home.path(), &[]);
    let card = home.path().join("card.toml");
    std::fs::write(
        &card,
        "name = \"weather\"\ndescription = \"Forecasts for any city\"\nendpoint = \"http://127.0.0.1:8080\"\ntags = [\"weather\"]\n[[skills]]\nid = \"forecast\"\nexamples = [\"rain in Paris?\"]\n",
    )
    .expect("write card");
    let out = cmd(home.path())
        .args(["--node", &node.url, "register", "--json", "--file"])
        .arg(&card)
        .args([
            "--qps-budget",
            "5",
            "--concurrency-limit",
            "2",
            "--ttl",
            "30d",
            "--protocol",
            "http",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = stdout_json(&out);
    assert_eq!(res["status"], "created");
    assert_eq!(res["agent_id"], agent_id.as_str());

    // Registering again right away is an update, not a stale conflict.
    cmd(home.path())
        .args([
            "--node",
            &node.url,
            "register",
            "--name",
            "weather2",
            "--endpoint",
            "http://127.0.0.1:8081",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("updated weather2"));

    let env: Value = http_get::blocking_get(&format!("{}/v1/agents/{agent_id}", node.url));
    assert_eq!(env["manifest"]["name"], "weather2");

    cmd(home.path())
        .args(["--node", &node.url, "register", "--revoke"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("revoked"));
    let status = http_get::blocking_status(&format!("{}/v1/agents/{agent_id}", node.url));
    assert_eq!(status, 410);
}

/// A tiny blocking GET (the tests do not pull in reqwest's blocking feature).
mod http_get {
    use serde_json::Value;

    fn get(url: &str) -> (u16, Value) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            let client = agentmesh::client::Client::new(
                url.split("/v1/").next().expect("base"),
                std::time::Duration::from_secs(10),
            )
            .expect("client");
            let path = &url[client.base().len()..];
            match client.get::<Value>(path).await {
                Ok(v) => (200, v),
                Err(agentmesh::client::ClientError::Api { status, .. }) => (status, Value::Null),
                Err(e) => panic!("{e}"),
            }
        })
    }

    pub fn blocking_get(url: &str) -> Value {
        let (s, v) = get(url);
        assert_eq!(s, 200);
        v
    }

    pub fn blocking_status(url: &str) -> u16 {
        get(url).0
    }
}

#[test]
fn register_against_a_stopped_node_is_a_clear_error() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    // Bind then drop a port so nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    cmd(home.path())
        .args([
            "--node",
            &format!("http://127.0.0.1:{port}"),
            "register",
            "--name",
            "x",
            "--endpoint",
            "http://127.0.0.1:1",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("error: ")
                .and(predicate::str::contains("cannot reach the node"))
                .and(predicate::str::contains("hint: is the node running?")),
        );
}

#[test]
fn usage_and_key_errors() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path())
        .args(["register", "--bogus"])
        .assert()
        .code(2);
    cmd(home.path())
        .args([
            "register",
            "--name",
            "x",
            "--endpoint",
            "http://127.0.0.1:1",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no key named `default`")
                .and(predicate::str::contains("agentmesh keygen")),
        );
    cmd(home.path())
        .args(["keygen", "--name", "../etc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid key name"));
    // A card the node would refuse (checked before sending): exit 2 with the node's code and
    // the field in the message.
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    cmd(home.path())
        .args([
            "--node",
            &node.url,
            "register",
            "--name",
            "x",
            "--endpoint",
            "ftp://nope",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("invalid_field").and(predicate::str::contains("endpoint")),
        );
}

#[test]
fn dry_run_prints_a_verifiable_envelope() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let out = cmd(home.path())
        .args([
            "register",
            "--dry-run",
            "--name",
            "w",
            "--endpoint",
            "http://127.0.0.1:1",
            "--meta",
            "team=core",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    let card = agentmesh::card::Card::from_slice(&out.stdout).expect("verifies");
    assert_eq!(card.manifest()["meta"]["team"], "core");
}

#[test]
fn serve_shuts_down_cleanly_on_sigterm() {
    let home = tempfile::tempdir().expect("tmp");
    let mut node = ServeProcess::start(home.path(), &[]);
    let status = node.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn trust_report_show_list_and_admin_refusal() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let mut node = ServeProcess::start(home.path(), &[]);
    let agent = agentmesh::identity::Identity::generate();
    let id = agent.id();
    let run = |args: &[&str]| {
        cmd(home.path())
            .args(["--node", &node.url])
            .args(args)
            .assert()
    };
    // The default key is not an admin: refused with the server's reason, exit 2.
    run(&["trust", "report", id, "--event", "failure"])
        .code(2)
        .stderr(predicate::str::contains("not an admin"));
    // The node's own key is.
    run(&[
        "trust",
        "report",
        id,
        "--event",
        "failure",
        "--note",
        "wrong answer",
        "--as-node",
    ])
    .success()
    .stdout(predicate::str::contains("recorded failure"));
    run(&["trust", "show", id]).success().stdout(
        predicate::str::contains("failure 1")
            .and(predicate::str::contains("wrong answer"))
            .and(predicate::str::contains("0.333"))
            .and(predicate::str::contains("history")),
    );
    let out = cmd(home.path())
        .args(["--node", &node.url, "trust", "show", id, "--json"])
        .output()
        .expect("run");
    assert_eq!(stdout_json(&out)["counts"]["failure"], 1);
    run(&["trust", "list", "--sort", "low"])
        .success()
        .stdout(predicate::str::contains(id));
    run(&["trust", "show", "did:key:bogus"])
        .code(2)
        .stderr(predicate::str::contains("not an agent ID"));
    // Restart: the record is still there (flushed at shutdown).
    assert!(node.terminate().success());
    node = ServeProcess::start(home.path(), &[]);
    cmd(home.path())
        .args(["--node", &node.url, "trust", "show", id])
        .assert()
        .success()
        .stdout(predicate::str::contains("failure 1"));
}

#[test]
fn connect_registers_relays_and_invoke_reaches_the_agent_behind_it() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let agent_id = common::key_id(home.path());
    let node = ServeProcess::start(home.path(), &[]);
    // The local service: a tiny HTTP server on its own runtime thread.
    let local = common::serve_app_on_thread(
        axum::Router::new().fallback(|| async { "hello from behind NAT" }),
    );
    let mut connect = cmd(home.path())
        .args(["--node", &node.url, "connect", "--forward", &local])
        .args(["--register", "--name", "hidden"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn connect");
    // Wait (with a deadline) for connect to say it is ready.
    let rx = common::lines_of(connect.stderr.take().expect("stderr"));
    common::wait_for_line(&rx, std::time::Duration::from_secs(30), |l| {
        l.starts_with("ready via")
    });
    let card = http_get::blocking_get(&format!("{}/v1/agents/{agent_id}", node.url));
    assert_eq!(card["manifest"]["endpoint"], format!("relay://{agent_id}"));
    assert_eq!(card["manifest"]["relays"][0], node.url.as_str());
    cmd(home.path())
        .args(["--node", &node.url, "invoke", &agent_id, "--data", "{}"])
        .assert()
        .success()
        .stdout("hello from behind NAT")
        .stderr(predicate::str::contains("response signature verified"));
    let _ = connect.kill();
    let _ = connect.wait();
    // Its tunnel is gone: 503 agent_offline, exit 1.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = cmd(home.path())
            .args(["--node", &node.url, "invoke", &agent_id, "--json"])
            .output()
            .expect("run");
        let v = stdout_json(&out);
        if v["status"] == 503 {
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(v["body"]["error"]["code"], "agent_offline");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {v}");
    }
}
