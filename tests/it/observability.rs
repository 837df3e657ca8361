//! Observability end to end: `/metrics` parses as Prometheus text and its counters move with real
//! traffic; `/v1/node` carries what `top` shows; `top --once` prints it; `serve` logs JSON with
//! agent IDs and never a secret.

use crate::common;

use std::collections::HashMap;
use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use agentmesh::encoding::now_unix;
use agentmesh::identity::Identity;
use agentmesh::wire::NodeInfo;
use axum::routing::any;
use common::{ServeProcess, TestNode, cmd, envelope, serve_app};
use serde_json::Value;

/// Samples of a scrape keyed by `name{label="value",…}` (labels sorted), histogram and summary
/// series included as their `_count`.
fn scrape(text: &str) -> HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
    let mut out = HashMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.sort();
        let (name, value) = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => (s.metric, v),
            prometheus_parse::Value::Histogram(h) => (
                format!("{}_count", s.metric),
                h.last().map_or(0.0, |b| b.count),
            ),
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(format!("{name}{{{}}}", labels.join(",")), value);
    }
    out
}

async fn metrics(node: &TestNode) -> (String, HashMap<String, f64>) {
    let res = reqwest::get(format!("{}/metrics", node.url))
        .await
        .expect("GET /metrics");
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(ct.starts_with("text/plain"), "content type {ct}");
    let text = res.text().await.expect("body");
    let map = scrape(&text);
    (text, map)
}

fn get(m: &HashMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

/// A node with one agent answering 200 at a local upstream; returns it and the agent.
async fn node_with_agent() -> (TestNode, Identity) {
    let node = TestNode::start().await;
    let upstream = serve_app(axum::Router::new().fallback(any(|| async { "ok" }))).await;
    let agent = Identity::generate();
    let card = envelope(&agent, now_unix(), |m| {
        m["endpoint"] = Value::String(upstream.clone());
        m["qps_budget"] = serde_json::json!(1);
    });
    assert_eq!(node.post_card(&card).await.0, 201);
    (node, agent)
}

async fn invoke(node: &TestNode, caller: &Identity, target: &str) -> u16 {
    node.invoke(caller, target, "POST", "/x", b"{}").await
}

/// A key made with `keygen` under `home`, its card registered at `node` with an endpoint where
/// nothing listens, and one call made to it (a 502); the agent's ID.
fn cli_agent_called_once(home: &std::path::Path, node: &str, name: &str) -> String {
    assert!(
        cmd(home)
            .args(["keygen", "-q"])
            .status()
            .expect("keygen")
            .success()
    );
    let reg = cmd(home)
        .args([
            "--node",
            node,
            "register",
            "--name",
            name,
            "--description",
            "Forecasts",
        ])
        .args(["--endpoint", "http://127.0.0.1:9"])
        .output()
        .expect("register");
    assert!(
        reg.status.success(),
        "{}",
        String::from_utf8_lossy(&reg.stderr)
    );
    let show = cmd(home).args(["keygen", "--show"]).output().expect("show");
    let id = String::from_utf8(show.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    let _ = cmd(home)
        .args(["--node", node, "invoke", &id, "--data", "{}"])
        .output()
        .expect("invoke");
    id
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_with_traffic() {
    let node = TestNode::start().await;
    let (text, before) = metrics(&node).await;
    assert!(text.contains("# TYPE agentmesh_registrations_total counter"));
    assert!(text.contains("# HELP agentmesh_invocations_total"));
    assert_eq!(
        get(
            &before,
            r#"agentmesh_registrations_total{outcome="created"}"#
        ),
        0.0
    );
    node.stop().await;

    let (node, agent) = node_with_agent().await;
    let caller = Identity::generate();
    assert_eq!(invoke(&node, &caller, agent.id()).await, 200);
    // qps_budget 1, burst 1: the second call at once is over budget.
    assert_eq!(invoke(&node, &caller, agent.id()).await, 429);
    let res = reqwest::get(format!("{}/v1/agents?q=weather", node.url))
        .await
        .expect("discover");
    assert_eq!(res.status(), 200);
    // A registration the node refuses.
    let (status, _) = node.post_card(&serde_json::json!({"manifest": 1})).await;
    assert_eq!(status, 422);

    let (_, m) = metrics(&node).await;
    let expect = [
        (r#"agentmesh_registrations_total{outcome="created"}"#, 1.0),
        (r#"agentmesh_registrations_total{outcome="invalid"}"#, 1.0),
        (r#"agentmesh_invocations_total{outcome="ok"}"#, 1.0),
        (
            r#"agentmesh_invocations_total{outcome="rate_limited"}"#,
            1.0,
        ),
        (r#"agentmesh_rate_limited_total{reason="rate"}"#, 1.0),
        ("agentmesh_invocation_duration_seconds_count{}", 2.0),
        (r#"agentmesh_discovery_queries_total{outcome="ok"}"#, 1.0),
        ("agentmesh_discovery_duration_seconds_count{}", 1.0),
        (r#"agentmesh_trust_events_total{kind="success"}"#, 1.0),
        ("agentmesh_agents{}", 1.0),
        ("agentmesh_store_write_batch_size_count{}", 1.0),
        ("agentmesh_store_commits_total{}", 1.0),
    ];
    for (key, want) in expect {
        assert_eq!(get(&m, key), want, "{key}");
    }
    assert!(get(&m, "agentmesh_uptime_seconds{}") > 0.0);
    node.stop().await;
}

async fn node_info(node: &TestNode) -> NodeInfo {
    reqwest::get(format!("{}/v1/node", node.url))
        .await
        .expect("GET /v1/node")
        .json()
        .await
        .expect("NodeInfo")
}

#[tokio::test]
async fn node_info_carries_rates_agents_and_events() {
    let (node, agent) = node_with_agent().await;
    let caller = Identity::generate();
    assert_eq!(invoke(&node, &caller, agent.id()).await, 200);
    let http = reqwest::Client::new();
    let info = node_info(&node).await;
    assert_eq!(info.node_id, node.node_id);
    assert_eq!(
        (
            info.agents,
            info.totals.invocations,
            info.totals.registrations
        ),
        (1, 1, 1)
    );
    assert_eq!(info.rates.invocations.len(), 60);
    assert_eq!(info.rates.invocations.iter().sum::<u32>(), 1);
    let row = info
        .top_agents
        .iter()
        .find(|a| a.agent_id == agent.id())
        .expect("the called agent is listed");
    assert_eq!(row.name.as_deref(), Some("weather"));
    assert_eq!((row.calls, row.errors), (1, 0));
    assert_eq!(row.protocols, vec!["http".to_string()]);
    assert!(row.trust > 0.5, "a success raised trust: {}", row.trust);
    let kinds: Vec<&str> = info.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["register", "invoke"]);

    // A second agent, called later but failing: listed after the trusted one.
    let broken = Identity::generate();
    let card = envelope(&broken, now_unix(), |m| {
        m["endpoint"] = Value::String("http://127.0.0.1:9".into());
    });
    assert_eq!(node.post_card(&card).await.0, 201);
    assert_eq!(invoke(&node, &caller, broken.id()).await, 502);
    let info = node_info(&node).await;
    let order: Vec<&str> = info
        .top_agents
        .iter()
        .map(|a| a.agent_id.as_str())
        .collect();
    assert_eq!(order, [agent.id(), broken.id()], "highest trust first");
    assert_eq!(info.top_agents[1].errors, 1);
    // A path naming no agent here is counted as a call but takes no place among the agents.
    let junk = "did:key:z6Mkaéaéaéaéaéaéaéaéaéaéaéaéaé";
    assert_eq!(invoke(&node, &caller, junk).await, 400);
    let info2 = node_info(&node).await;
    assert_eq!(info2.top_agents.len(), 2);
    assert_eq!(info2.totals.invocations, 3);
    assert!(
        info.top_agents[1].trust_delta < 0.0,
        "fell below neutral this hour"
    );
    assert_eq!(info.totals.errors, 1);
    assert!(
        info.events[1].text.starts_with("200 in "),
        "{}",
        info.events[1].text
    );

    // Only newer events when asked; limits and unknown parameters are checked.
    let later: NodeInfo = http
        .get(format!(
            "{}/v1/node?events_since={}&agents=0",
            node.url, info2.events_seq
        ))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("NodeInfo");
    assert!(later.events.is_empty() && later.top_agents.is_empty());
    for (q, field) in [
        ("agents=501", "agents"),
        ("events=x", "events"),
        ("bogus=1", "bogus"),
    ] {
        let res = http
            .get(format!("{}/v1/node?{q}", node.url))
            .send()
            .await
            .expect("GET");
        assert_eq!(res.status(), 400, "{q}");
        let v: Value = res.json().await.expect("JSON error");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with(field),
            "{q}: {v}"
        );
    }
    node.stop().await;
}

#[test]
fn top_once_prints_the_screen_and_json_and_names_an_unreachable_node() {
    let home = tempfile::tempdir().expect("tmp");
    let serve = ServeProcess::start(home.path(), &[]);
    // Called once (a 502: nothing listens on port 9), so it shows among active agents.
    let agent_id = cli_agent_called_once(home.path(), &serve.url, "forecaster");

    let out = cmd(home.path())
        .args([
            "--node", &serve.url, "top", "--once", "--width", "100", "--height", "30",
        ])
        .output()
        .expect("top --once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8(out.stdout).expect("utf8");
    assert_eq!(screen.lines().count(), 30, "{screen}");
    for want in [
        "Agents 1/1",
        "Peers 0",
        "Trust · forecaster",
        "Events",
        "forecaster",
        "invoke",
        "502 upstream",
    ] {
        assert!(screen.contains(want), "missing {want:?} in\n{screen}");
    }
    assert!(
        screen.contains(&serve.node_id[serve.node_id.len() - 8..]),
        "{screen}"
    );

    let out = cmd(home.path())
        .args(["--node", &serve.url, "--json", "top"])
        .output()
        .expect("top --json");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["node_id"], serve.node_id.as_str());
    assert_eq!(v["top_agents"][0]["agent_id"], agent_id.as_str());

    let out = cmd(home.path())
        .args(["--node", "http://127.0.0.1:9", "top", "--once"])
        .output()
        .expect("top against nothing");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the node at http://127.0.0.1:9"),
        "{err}"
    );

    let out = cmd(home.path())
        .args(["top", "--interval", "10ms"])
        .output()
        .expect("bad interval");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than 100ms"));
}

/// Every `*.key` file under `dir`, as text.
fn key_files(dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            key_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "key") {
            out.push(
                std::fs::read_to_string(&p)
                    .expect("key file")
                    .trim()
                    .to_string(),
            );
        }
    }
}

#[test]
fn serve_logs_json_lines_with_agent_ids_and_never_a_secret() {
    let home = tempfile::tempdir().expect("tmp");
    let mut child = cmd(home.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--log-format",
            "json",
        ])
        .env("AGENTMESH_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && stdout.read(&mut byte).expect("read") == 1
        && byte[0] != b'\n'
    {
        first.push(byte[0]);
    }
    let url = serde_json::from_slice::<Value>(&first).expect("listening line")["url"]
        .as_str()
        .expect("url")
        .to_string();
    let id = cli_agent_called_once(home.path(), &url, "w");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let logs = logs.join().expect("log reader");

    assert!(logs.lines().count() > 5, "{logs}");
    for line in logs.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(
        logs.lines()
            .any(|l| l.contains("\"invoke\"") && l.contains(&id)),
        "an invoke span names the agent"
    );
    let mut secrets = Vec::new();
    key_files(home.path(), &mut secrets);
    assert_eq!(secrets.len(), 2, "the node key and the agent key");
    for s in secrets {
        assert!(s.len() >= 40);
        assert!(!logs.contains(&s), "a secret key was logged");
    }
}
