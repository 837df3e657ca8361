//! The README's tour as a new user runs it, then off the path: cards are edited, not replaced;
//! revoking is idempotent; quick updates never date a card ahead of the clock.

use crate::common;

use assert_cmd::assert::OutputAssertExt as _;
use common::{ServeProcess, cmd};
use predicates::prelude::*;
use serde_json::Value;

fn json_out(c: &mut std::process::Command) -> Value {
    let out = c.output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// The manifest of the home's default key as the node holds it.
fn manifest(node: &str, home: &std::path::Path) -> Value {
    let id = common::key_id(home);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let client =
        agentmesh::client::Client::new(node, std::time::Duration::from_secs(10)).expect("client");
    let env = rt
        .block_on(client.get_agent(&id))
        .expect("the node holds the card");
    Value::Object(env.manifest)
}

#[test]
fn the_tour_edits_the_card_instead_of_wiping_it() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    let at = |args: &[&str]| {
        let mut c = cmd(home.path());
        c.args(["--node", &node.url]).args(args);
        c
    };
    at(&[
        "register",
        "--name",
        "weather",
        "--description",
        "Forecasts for any city",
        "--endpoint",
        "http://127.0.0.1:8080",
        "--tag",
        "weather",
        "--skill",
        "forecast",
        "--protocol",
        "http",
        "--qps-budget",
        "5",
        "--ttl",
        "30d",
        "--meta",
        "owner=me",
    ])
    .assert()
    .success()
    .stdout(predicate::str::starts_with("created weather"));

    // A field alone is an edit: the rest of the card stays, and the change is printed.
    at(&["register", "--description", "Forecasts and storm warnings"])
        .assert()
        .success()
        .stdout(
            predicate::str::starts_with("updated weather").and(predicate::str::contains(
                "description: \"Forecasts for any city\" → \"Forecasts and storm warnings\"",
            )),
        );
    let m = manifest(&node.url, home.path());
    assert_eq!(m["tags"], serde_json::json!(["weather"]));
    assert_eq!(m["skills"][0]["id"], "forecast");
    assert_eq!(m["qps_budget"], 5.0);
    assert_eq!(m["meta"]["owner"], "me");
    assert!(m["expires_at"].is_string());

    // The tour's `connect --register --name weather` keeps the card too.
    let local = common::serve_app_on_thread(axum::Router::new().fallback(|| async { "sunny" }));
    let mut connect = at(&[
        "connect",
        "--forward",
        &local,
        "--register",
        "--name",
        "weather",
    ])
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn connect");
    let rx = common::lines_of(connect.stderr.take().expect("stderr"));
    let seen = common::wait_for_line(&rx, std::time::Duration::from_secs(30), |l| {
        l.starts_with("ready via")
    });
    assert!(
        seen.iter()
            .any(|l| l.contains("endpoint:") && l.contains("relay://")),
        "connect prints what it changed: {seen:?}"
    );
    let found = json_out(&mut at(&[
        "discover", "--tag", "weather", "--json", "--limit", "5",
    ]));
    let card = &found["results"][0]["card"]["manifest"];
    assert_eq!(card["name"], "weather");
    assert_eq!(
        card["endpoint"].as_str().map(|e| e.starts_with("relay://")),
        Some(true)
    );
    assert_eq!(card["skills"][0]["id"], "forecast");
    assert_eq!(card["qps_budget"], 5.0);
    assert_eq!(card["meta"]["owner"], "me");
    let _ = connect.kill();
    let _ = connect.wait();

    // --replace publishes a whole new card.
    at(&[
        "register",
        "--replace",
        "--name",
        "plain",
        "--endpoint",
        "http://127.0.0.1:8080",
    ])
    .assert()
    .success();
    let m = manifest(&node.url, home.path());
    assert_eq!(m["name"], "plain");
    assert!(
        m.get("tags").is_none() && m.get("qps_budget").is_none(),
        "{m}"
    );
}

#[test]
fn revoking_twice_is_fine_and_reregistering_says_what_happened() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    let at = |args: &[&str]| {
        let mut c = cmd(home.path());
        c.args(["--node", &node.url]).args(args);
        c
    };
    at(&[
        "register",
        "--name",
        "w",
        "--endpoint",
        "http://127.0.0.1:8080",
        "--tag",
        "t",
    ])
    .assert()
    .success();
    at(&["register", "--revoke"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("revoked"));
    at(&["register", "--revoke"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("already revoked"));
    let v = json_out(&mut at(&["register", "--revoke", "--json"]));
    assert_eq!(v["status"], "already_revoked");
    // Publishing again re-activates it, from the last card this key published, and says so.
    at(&["register", "--description", "back"])
        .assert()
        .success()
        .stderr(predicate::str::contains("was revoked"))
        .stdout(predicate::str::starts_with("updated w"));
    let m = manifest(&node.url, home.path());
    assert_eq!(m["tags"], serde_json::json!(["t"]));
    assert_eq!(m["description"], "back");
}

#[test]
fn quick_updates_never_date_the_card_ahead_of_the_clock() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    for i in 0..4 {
        let mut c = cmd(home.path());
        c.args(["--node", &node.url, "register", "--name", "q"])
            .args(["--endpoint", "http://127.0.0.1:8080", "--description"])
            .arg(format!("v{i}"));
        c.assert().success();
        let m = manifest(&node.url, home.path());
        let issued = agentmesh::encoding::parse_rfc3339(m["issued_at"].as_str().expect("at"))
            .expect("rfc3339");
        assert!(
            issued <= agentmesh::encoding::now_unix(),
            "update {i} dated {issued}, ahead of the clock"
        );
        assert_eq!(m["description"], format!("v{i}"));
    }
}

/// A web server that is not a node: 404 text/html for everything.
fn not_a_node() -> String {
    common::serve_app_on_thread(axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::response::Html("<html><body>Not Found</body></html>"),
        )
    }))
}

#[test]
fn a_url_that_is_not_a_node_is_named_as_such() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let web = not_a_node();
    cmd(home.path())
        .args(["--node", &web, "discover", "weather"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(
                "not an AgentMesh node: GET /v1/agents answered 404 text/html",
            )
            .and(predicate::str::contains("<html>").not()),
        );
    cmd(home.path())
        .args([
            "--node",
            &web,
            "register",
            "--name",
            "w",
            "--endpoint",
            "http://127.0.0.1:1",
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("not an AgentMesh node")
                .and(predicate::str::contains("refused the card").not()),
        );
}

#[test]
fn addresses_as_people_type_them_and_one_node_per_data_folder() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    // host:port and a bare port on 127.0.0.1 both name the node.
    let hostport = node.url.trim_start_matches("http://").to_string();
    let port = hostport.rsplit(':').next().expect("port").to_string();
    for (i, typed) in [hostport.as_str(), port.as_str()].into_iter().enumerate() {
        cmd(home.path())
            .args(["--node", typed, "register", "--name", "w", "--description"])
            .arg(format!("v{i}"))
            .args(["--endpoint", "http://127.0.0.1:8080"])
            .assert()
            .success()
            .stdout(predicate::str::contains(node.url.as_str()));
    }
    cmd(home.path())
        .args(["--node", "ftp://x", "discover", "a"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a node URL scheme"));
    // A second node on the same data folder stops at once, naming the first.
    let mut second = cmd(home.path())
        .args(["serve", "--listen", "localhost:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = second.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second node on the same data folder kept running");
        }
        std::thread::yield_now();
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut err)
        .expect("read");
    assert!(!status.success());
    assert!(
        err.contains("another node is running on the data folder")
            && err.contains(&format!("pid {}", node.child.id())),
        "{err}"
    );
    cmd(home.path())
        .args(["serve", "--listen", "host-without-port"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an address to listen on"));
}

#[test]
fn verbose_shows_agentmeshs_own_steps_and_bare_agentmesh_prints_help() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    let out = cmd(home.path())
        .args(["-v", "--node", &node.url, "register", "--name", "v"])
        .args(["--endpoint", "http://127.0.0.1:8080"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node answered") && err.contains("status=201") && err.contains("ms="),
        "{err}"
    );
    for noisy in ["rustls", "hyper", "mio", "reqwest::"] {
        assert!(
            !err.contains(noisy),
            "{noisy} logs without AGENTMESH_LOG: {err}"
        );
    }
    let out = cmd(home.path()).output().expect("run");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Usage: agentmesh") && text.contains("Commands:"),
        "{text}"
    );
}

#[test]
fn invoke_failures_read_as_one_line() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    let stranger = agentmesh::identity::Identity::generate();
    let out = cmd(home.path())
        .args(["--node", &node.url, "invoke", stranger.id(), "--data", "{}"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no raw JSON on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: the node at {} refused the call to {}: HTTP 404 not_found:",
            node.url,
            stranger.id()
        )),
        "{err}"
    );
    // --direct to an agent whose endpoint does not answer: the hint is about the agent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    cmd(home.path())
        .args([
            "--node",
            &node.url,
            "register",
            "--name",
            "gone",
            "--endpoint",
            &dead,
        ])
        .assert()
        .success();
    let me = common::key_id(home.path());
    cmd(home.path())
        .args(["--node", &node.url, "invoke", me.trim(), "--direct"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!("hint: is the agent running at {dead}?"))
                .and(predicate::str::contains("agentmesh serve").not()),
        );
}

#[test]
fn agents_are_named_as_users_see_them() {
    let node_home = tempfile::tempdir().expect("tmp");
    let node = ServeProcess::start(node_home.path(), &[]);
    // Three agents, each with its own key: "weather-eu", and two named "dup".
    let mut ids = Vec::new();
    for name in ["weather-eu", "dup", "dup"] {
        let home = tempfile::tempdir().expect("tmp");
        cmd(home.path()).arg("keygen").assert().success();
        cmd(home.path())
            .args(["--node", &node.url, "register", "--name", name])
            .args(["--endpoint", "http://127.0.0.1:8080"])
            .assert()
            .success();
        let id = common::key_id(home.path());
        ids.push((id, home));
    }
    let (eu, eu_home) = (&ids[0].0, &ids[0].1);
    let shown = |reference: &str, home: &std::path::Path| {
        json_out(&mut {
            let mut c = cmd(home);
            c.args(["--node", &node.url, "trust", "show", reference, "--json"]);
            c
        })["agent_id"]
            .as_str()
            .expect("agent_id")
            .to_string()
    };
    let short = agentmesh::identity::short_id(eu);
    let prefix = &eu[..20];
    for reference in ["weather-eu", "WEATHER-EU", short.as_str(), prefix] {
        assert_eq!(&shown(reference, node_home.path()), eu, "{reference}");
    }
    assert_eq!(
        &shown("@default", eu_home.path()),
        eu,
        "@keyname is one's own key"
    );
    let out = cmd(node_home.path())
        .args(["--node", &node.url, "trust", "show", "dup"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`dup` names 2 agents") && err.contains(&ids[1].0) && err.contains(&ids[2].0),
        "{err}"
    );
    cmd(node_home.path())
        .args(["--node", &node.url, "trust", "show", "nobody"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no live agent"));
}

#[test]
fn show_keys_and_status() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    cmd(home.path())
        .args(["keygen", "--name", "billing"])
        .assert()
        .success();
    let node = ServeProcess::start(home.path(), &[]);
    let at = |args: &[&str]| {
        let mut c = cmd(home.path());
        c.args(["--node", &node.url]).args(args);
        c
    };
    at(&[
        "register",
        "--name",
        "weather",
        "--endpoint",
        "http://127.0.0.1:8080",
    ])
    .args([
        "--tag",
        "weather",
        "--qps-budget",
        "5",
        "--meta",
        "owner=me",
    ])
    .assert()
    .success();
    // show: my own card by default, readable; --json is the envelope.
    at(&["show"]).assert().success().stdout(
        predicate::str::starts_with("weather  did:key:z6Mk")
            .and(predicate::str::contains(
                "endpoint     http://127.0.0.1:8080",
            ))
            .and(predicate::str::contains("limits       5 calls/s"))
            .and(predicate::str::contains("meta         owner=me")),
    );
    let env = json_out(&mut at(&["show", "weather", "--json"]));
    assert_eq!(env["manifest"]["name"], "weather");
    at(&["show", "@billing"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no agent"));
    // keys: both identities, which has a live card, the default marked.
    let keys = json_out(&mut at(&["keys", "--json"]));
    let rows = keys.as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{keys}");
    let by = |n: &str| rows.iter().find(|r| r["name"] == n).expect("row").clone();
    assert_eq!(by("default")["card"], "live as `weather`");
    assert_eq!(by("default")["default"], true);
    assert_eq!(by("billing")["card"], "none");
    // status: the node, my key, my card.
    at(&["status"]).assert().success().stdout(
        predicate::str::contains(format!("✓ node {} is up", node.url))
            .and(predicate::str::contains("✓ key `default`: did:key:z6Mk"))
            .and(predicate::str::contains(
                "card on the node: live as `weather`",
            ))
            .and(predicate::str::contains("relay tunnel: none")),
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    cmd(home.path())
        .args(["--node", &dead, "status"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!("✗ node {dead}")));
}

#[test]
fn replacing_a_key_whose_card_is_live_warns() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    cmd(home.path())
        .args(["--node", &node.url, "register", "--name", "w"])
        .args(["--endpoint", "http://127.0.0.1:8080"])
        .assert()
        .success();
    cmd(home.path())
        .args(["--node", &node.url, "keygen", "--force"])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("can never be revoked").and(predicate::str::contains(
                "agentmesh register --revoke --key default",
            )),
        );
    // The new key has no card: replacing it again says nothing of cards.
    cmd(home.path())
        .args(["--node", &node.url, "keygen", "--force"])
        .assert()
        .success()
        .stderr(predicate::str::contains("can never be revoked").not());
}

#[test]
fn help_has_examples_global_options_apart_and_completions_find_the_shell() {
    let home = tempfile::tempdir().expect("tmp");
    for sub in ["invoke", "register", "serve", "show", "status"] {
        cmd(home.path())
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(
                predicate::str::contains("\nExamples:\n  agentmesh ")
                    .and(predicate::str::contains("\nGlobal options:\n")),
            );
    }
    cmd(home.path())
        .arg("completions")
        .env("SHELL", "/usr/bin/zsh")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("#compdef agentmesh"));
    cmd(home.path())
        .arg("completions")
        .env_remove("SHELL")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("$SHELL"));
}

/// What the shell gets at a <TAB>: the fish protocol prints one `value\thelp` per line.
fn complete(home: &std::path::Path, node: &str, words: &[&str]) -> Vec<String> {
    let out = cmd(home)
        .env("AGENTMESH_COMPLETE", "fish")
        .env("AGENTMESH_NODE", node)
        .arg("--")
        .arg("agentmesh")
        .args(words)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn completions_offer_key_names_and_the_nodes_agents() {
    let home = tempfile::tempdir().expect("tmp");
    for key in ["alice", "bob"] {
        cmd(home.path())
            .args(["keygen", "--name", key])
            .assert()
            .success();
    }
    let node = ServeProcess::start(home.path(), &[]);
    for (key, name) in [("alice", "weather"), ("bob", "weather-eu")] {
        cmd(home.path())
            .args([
                "--node", &node.url, "--key", key, "register", "--name", name,
            ])
            .args(["--endpoint", "http://127.0.0.1:8080"])
            .assert()
            .success();
    }
    assert_eq!(
        complete(home.path(), &node.url, &["--key", ""]),
        ["alice", "bob"]
    );
    assert_eq!(
        complete(home.path(), &node.url, &["invoke", "wea"]),
        ["weather", "weather-eu"]
    );
    assert_eq!(
        complete(home.path(), &node.url, &["show", "@a"]),
        ["@alice"]
    );
    assert_eq!(
        complete(home.path(), &node.url, &["trust", "show", "weather-"]),
        ["weather-eu"]
    );
    // An ID's start completes to IDs, as typed.
    let alice = common::key_id_named(home.path(), "alice");
    let typed = &alice["did:key:".len()..alice.len() - 20];
    assert!(
        complete(home.path(), &node.url, &["trust", "report", typed])
            .contains(&alice["did:key:".len()..].to_string())
    );
    // No node: keys still complete, and nothing hangs or fails.
    assert_eq!(
        complete(home.path(), "http://127.0.0.1:9", &["invoke", "@"]),
        ["@alice", "@bob"]
    );
    // The installed scripts call the binary back.
    cmd(home.path())
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("AGENTMESH_COMPLETE=\"bash\""));
}

#[test]
fn top_shows_what_the_node_holds() {
    let node_home = tempfile::tempdir().expect("tmp");
    let node = ServeProcess::start(node_home.path(), &[]);
    for (name, revoke) in [("fresh-agent", false), ("gone-agent", true)] {
        let home = tempfile::tempdir().expect("tmp");
        cmd(home.path()).arg("keygen").assert().success();
        cmd(home.path())
            .args(["--node", &node.url, "register", "--name", name])
            .args(["--endpoint", "http://127.0.0.1:8080"])
            .assert()
            .success();
        if revoke {
            cmd(home.path())
                .args(["--node", &node.url, "register", "--revoke"])
                .assert()
                .success();
        }
    }
    let out = cmd(node_home.path())
        .args([
            "--node", &node.url, "top", "--once", "--width", "120", "--height", "30",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Agents 1/1"),
        "a never-called agent is listed: {text}"
    );
    assert!(text.contains("fresh-agent"), "{text}");
    assert!(
        !text.contains("gone-agent") && !text.contains(" ? "),
        "no revoked row: {text}"
    );
    assert!(
        text.contains("snapshot of") && !text.contains("q quit"),
        "a snapshot takes no keys: {text}"
    );
}

#[test]
fn connect_waits_for_a_relay_that_is_down_and_speaks_json() {
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let relay = format!("http://127.0.0.1:{port}");
    let mut connect = cmd(home.path())
        .args([
            "--json",
            "connect",
            "--relay",
            &relay,
            "--forward",
            "http://127.0.0.1:9",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn connect");
    let rx = common::lines_of(connect.stdout.take().expect("stdout"));
    let erx = common::lines_of(connect.stderr.take().expect("stderr"));
    let next = || -> Value {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("an event in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    };
    let first = next();
    assert_eq!(first["event"], "down", "{first}");
    // The relay comes up: connect gets there by itself.
    let node_home = tempfile::tempdir().expect("tmp");
    let mut node = cmd(node_home.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn node");
    let mut seen = vec![first];
    loop {
        let e = next();
        assert_ne!(seen.last(), Some(&e), "a state is printed once");
        let ready = e["event"] == "ready";
        seen.push(e);
        if ready {
            break;
        }
    }
    // A call through the tunnel to a local service that does not answer: connect says so.
    let me = common::key_id(home.path());
    cmd(home.path())
        .args(["--node", &relay, "register", "--name", "behind"])
        .args(["--endpoint", &format!("relay://{me}"), "--relay", &relay])
        .assert()
        .success();
    cmd(home.path())
        .args(["--node", &relay, "invoke", &me, "--data", "{}"])
        .assert()
        .code(1);
    common::wait_for_line(&erx, std::time::Duration::from_secs(30), |l| {
        l.contains("the local service at http://127.0.0.1:9 does not answer")
    });
    let _ = connect.kill();
    let _ = connect.wait();
    let _ = node.kill();
    let _ = node.wait();
}
