//! A node on the open internet, tried as an attacker would (issue: safe to expose).
//!
//! Each test feeds a real node on 127.0.0.1:0 what a hostile client or peer would send and
//! checks it stays up, bounded and honest: no panic from extreme card values, every stalled or
//! oversized connection closed or refused in the API's JSON shape, federation pages capped,
//! signatures meaning exactly what was signed (duplicate headers, percent-encoded and
//! dot-segment paths, replays across restarts), only canonical keys as IDs, a full database
//! answered 507, a node with an unwritable stderr still serving, and TLS (and mutual TLS) with
//! the CLI trusting a private CA. Long soaks are `cargo bench --bench abuse`.

use crate::common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use agentmesh::encoding::now_unix;
use agentmesh::handshake::sign_request;
use agentmesh::identity::Identity;
use agentmesh::node::{Node, NodeConfig};
use common::{TestNode, envelope};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Sends raw bytes and reads the answer until the server closes or `within` passes:
/// `(status, JSON body or Null, closed)`.
async fn raw(url: &str, bytes: &[u8], within: Duration) -> (u16, Value, bool) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_answer(&mut s, within).await
}

/// Reads until the peer closes (or the deadline), then parses one HTTP/1.1 answer.
async fn read_answer(s: &mut TcpStream, within: Duration) -> (u16, Value, bool) {
    let deadline = Instant::now() + within;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut closed = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if answer_complete(&buf) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body, closed)
}

/// A whole answer with a Content-Length body has arrived.
fn answer_complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .is_some_and(|n| body.len() >= n)
}

/// Waits (with a deadline) for the server to close `s`; what it sent before closing.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<(u16, Value)> {
    let deadline = Instant::now() + within;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                let text = String::from_utf8_lossy(&buf).to_string();
                let status = text.split(' ').nth(1).and_then(|s| s.parse().ok());
                let body = text
                    .split_once("\r\n\r\n")
                    .and_then(|(_, b)| serde_json::from_str(b).ok())
                    .unwrap_or(Value::Null);
                return Some((status.unwrap_or(0), body));
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
    None
}

/// An agent that answers every call with the path and query it received, as sent.
async fn echo_agent() -> String {
    let app = axum::Router::new().fallback(|uri: axum::http::Uri| async move {
        axum::Json(json!({"path": uri.path(), "query": uri.query()}))
    });
    common::serve_app(app).await
}

/// Registers an agent at `endpoint` with `edit` applied; its identity.
async fn agent_at(node: &TestNode, endpoint: &str, edit: impl FnOnce(&mut Value)) -> Identity {
    let id = Identity::generate();
    let card = envelope(&id, now_unix(), |m| {
        m["endpoint"] = json!(endpoint);
        edit(m);
    });
    let (status, body) = node.post_card(&card).await;
    assert_eq!(status, 201, "{body}");
    id
}

/// The signed headers of a call as raw header lines.
fn signed_lines(caller: &Identity, target: &str, method: &str, path: &str, body: &[u8]) -> String {
    sign_request(caller, target, method, path, body, now_unix())
        .headers()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect()
}

#[tokio::test]
async fn extreme_budgets_are_refused_and_cannot_break_admission() {
    let node = TestNode::start().await;
    // Card validation: budgets the limiter cannot honour are a clear 422.
    for (field, value) in [
        ("qps_budget", json!(1e-20)),
        ("qps_budget", json!(5e-324)),
        ("qps_budget", json!(1e300)),
        ("concurrency_limit", json!(4_294_967_295u64)),
        ("concurrency_limit", json!(0)),
    ] {
        let id = Identity::generate();
        let card = envelope(&id, now_unix(), |m| m[field] = value.clone());
        let (status, body) = node.post_card(&card).await;
        assert_eq!(status, 422, "{field}={value}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{body}"
        );
    }
    // The smallest budget: unsigned calls are turned away with a bounded Retry-After, and the
    // gate keeps working for everyone else afterwards.
    let agent = echo_agent().await;
    let slow = agent_at(&node, &agent, |m| m["qps_budget"] = json!(0.001)).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = http
            .post(format!("{}/v1/agents/{}/invoke/x", node.url, slow.id()))
            .send()
            .await
            .expect("call");
        if res.status() == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!((1..=1000).contains(&retry), "retry-after {retry}");
        }
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 429, 429],
        "first admitted (then unsigned), then limited"
    );
    let other = agent_at(&node, &agent, |m| {
        m["qps_budget"] = json!(1000);
        m["concurrency_limit"] = json!(1_000_000);
    })
    .await;
    let caller = Identity::generate();
    assert_eq!(
        node.invoke(&caller, other.id(), "GET", "/ok", b"").await,
        200
    );
}

#[tokio::test]
async fn numeric_query_extremes_answer_4xx_json() {
    let node = TestNode::start().await;
    let http = reqwest::Client::new();
    for q in [
        "/v1/agents?limit=1e308",
        "/v1/agents?limit=-1",
        "/v1/agents?limit=18446744073709551616",
        "/v1/agents?min_trust=NaN",
        "/v1/agents?min_trust=1e309",
        "/v1/agents?min_trust=-0",
        "/v1/sync?since=-1",
        "/v1/sync?since=9223372036854775808",
        "/v1/sync?limit=0",
        "/v1/node?agents=99999999999999999999",
        "/v1/node?events_since=-9223372036854775808",
        "/v1/trust?limit=-5",
        "/v1/trust?limit=4294967296",
    ] {
        let res = http
            .get(format!("{}{q}", node.url))
            .send()
            .await
            .expect("get");
        let status = res.status().as_u16();
        assert!(status < 500, "{q}: {status}");
        if status >= 400 {
            let v: Value = res.json().await.expect("JSON error");
            assert!(v["error"]["code"].is_string(), "{q}: {v}");
        }
    }
}

#[tokio::test]
async fn stalled_and_idle_connections_are_closed() {
    let node = TestNode::start_with(
        |c| {
            c.server.header_timeout = Duration::from_millis(400);
            c.server.body_timeout = Duration::from_millis(400);
        },
        None,
    )
    .await;
    let addr = node.url.trim_start_matches("http://").to_string();
    let cases: [(&str, &[u8]); 6] = [
        ("idle", b""),
        ("half a request line", b"GET /heal"),
        ("half the headers", b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A"),
        (
            "a stalled body",
            b"POST /v1/agents HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{\"manif",
        ),
        (
            "a stalled chunked body",
            b"POST /v1/agents HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"man\r\n",
        ),
        (
            "idle keep-alive",
            b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
    ];
    for (what, bytes) in cases {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(bytes).await.expect("write");
        let (status, body) = closed_within(&mut s, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{what}: still open after 10 s"));
        match what {
            "a stalled body" | "a stalled chunked body" => {
                assert_eq!(status, 408, "{what}: {body}");
                assert_eq!(body["error"]["code"], "request_timeout", "{what}");
            }
            "idle keep-alive" => assert_eq!(status, 200, "{what}"),
            _ => assert!(
                status == 0 || (status == 408 && body["error"]["code"] == "request_timeout"),
                "{what}: {status} {body}"
            ),
        }
    }
}

#[tokio::test]
async fn at_the_connection_cap_idle_connections_make_room() {
    let node = TestNode::start_with(|c| c.server.max_connections = 8, None).await;
    let addr = node.url.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..24 {
        idle.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    // Fresh clients still get answers: the longest-idle connections were asked to close.
    for _ in 0..5 {
        let (status, body, _) = raw(
            &node.url,
            b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let mut closed = 0;
    for s in &mut idle {
        if closed_within(s, Duration::from_millis(200)).await.is_some() {
            closed += 1;
        }
    }
    assert!(
        closed >= 16,
        "only {closed} of 24 idle connections were closed"
    );
    let metrics = reqwest::get(format!("{}/metrics", node.url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("agentmesh_connections_evicted_total"),
        "eviction is counted"
    );
}

#[tokio::test]
async fn declared_bodies_over_the_cap_are_refused_at_once() {
    let node = TestNode::start().await;
    let agent = echo_agent().await;
    let target = agent_at(&node, &agent, |_| {}).await;
    let any_id = Identity::generate();
    for path in [
        "/v1/agents".to_string(),
        "/v1/sync/push".to_string(),
        "/v1/peers".to_string(),
        format!("/v1/trust/{}/events", any_id.id()),
        format!("/v1/agents/{}/invoke/x", target.id()),
    ] {
        let started = Instant::now();
        let (status, body, _) = raw(
            &node.url,
            format!(
                "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n"
            )
            .as_bytes(),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(body["error"]["code"], "too_large", "{path}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}");
    }
    // A push from a node that is not a peer: small offers only, and it must say how much.
    let (status, body, _) = raw(
        &node.url,
        b"POST /v1/sync/push HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let (status, body, _) = raw(
        &node.url,
        b"POST /v1/sync/push HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 411, "{body}");
}

#[tokio::test]
async fn every_refusal_is_the_json_error_shape() {
    let node = TestNode::start().await;
    let long_uri = format!(
        "GET /v1/agents?q={} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(10_000)
    );
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let many_headers = format!("GET /healthz HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "malformed request line",
            b"GET\x01 / HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "not HTTP",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n".to_vec(),
            400,
        ),
        ("long URI", long_uri.into_bytes(), 414),
        ("huge header", big_header.into_bytes(), 431),
        ("many headers", many_headers.into_bytes(), 431),
        (
            "wrong method",
            b"DELETE /v1/node HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            405,
        ),
        (
            "invalid UTF-8 in an ID",
            b"GET /v1/trust/did:key:%FF HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "relay route without Upgrade",
            format!(
                "GET /relay/v1/ws/{} HTTP/1.1\r\nHost: a\r\n\r\n",
                Identity::generate().id()
            )
            .into_bytes(),
            400,
        ),
        (
            "unknown route",
            b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            404,
        ),
        (
            "bad JSON",
            b"POST /v1/agents HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n{x}".to_vec(),
            400,
        ),
    ];
    for (what, bytes, want) in cases {
        let (status, body, _) = raw(&node.url, &bytes, Duration::from_secs(5)).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{what}: not the JSON error shape: {body}"
        );
    }
}

#[tokio::test]
async fn federation_pages_are_capped_and_asked_smaller() {
    use std::sync::{Arc, Mutex};
    type Params = axum::extract::Query<std::collections::HashMap<String, String>>;
    let fake = Identity::generate();
    let limits: Arc<Mutex<Vec<usize>>> = Arc::default();
    let app = {
        let fake = fake.clone();
        let limits = limits.clone();
        axum::Router::new()
            .route(
                "/v1/node",
                axum::routing::get(
                    move |axum::extract::Query(q): Params| {
                        let fake = fake.clone();
                        async move {
                            let challenge = q.get("challenge").cloned().unwrap_or_default();
                            let sig = fake.sign_b64(
                                agentmesh::federation::node_challenge_string(
                                    fake.id(),
                                    &challenge,
                                )
                                .as_bytes(),
                            );
                            axum::Json(json!({"node_id": fake.id(), "challenge_signature": sig}))
                        }
                    },
                ),
            )
            .route(
                "/v1/sync",
                axum::routing::get(
                    move |axum::extract::Query(q): Params| {
                        let limits = limits.clone();
                        async move {
                            let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
                            limits.lock().expect("lock").push(limit);
                            // 1 MB of padding in any page, whatever was asked.
                            format!(
                                "{{\"node_id\":\"x\",\"records\":[],\"next\":0,\"more\":false,\"pad\":\"{}\"}}",
                                "a".repeat(1 << 20)
                            )
                        }
                    },
                ),
            )
    };
    let fake_url = common::serve_app(app).await;
    let node = TestNode::start_with(
        |c| {
            c.federation.max_page_bytes = 256 * 1024;
            c.federation.sync_interval = Duration::from_millis(200);
        },
        None,
    )
    .await;
    let ann = agentmesh::federation::Announcement::sign(&fake, &fake_url);
    let res = reqwest::Client::new()
        .post(format!("{}/v1/peers", node.url))
        .json(&ann)
        .send()
        .await
        .expect("announce");
    assert!(res.status().is_success(), "{}", res.status());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !limits.lock().expect("lock").contains(&1) {
        assert!(
            Instant::now() < deadline,
            "pages never asked smaller: {limits:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = limits.lock().expect("lock").clone();
    assert_eq!(&asked[..4], [500, 62, 7, 1], "{asked:?}");
    // The peer is backed off, the node answers.
    let peers: Value = reqwest::get(format!("{}/v1/peers", node.url))
        .await
        .expect("peers")
        .json()
        .await
        .expect("json");
    assert_eq!(peers["peers"][0]["state"], "backoff", "{peers}");
}

#[tokio::test]
async fn signed_requests_mean_exactly_what_was_signed() {
    let node = TestNode::start().await;
    let agent = echo_agent().await;
    let target = agent_at(&node, &format!("{agent}/base"), |_| {}).await;
    let caller = Identity::generate();
    let t = target.id();
    let call = |path: &str, signed_path: &str, extra: &str| {
        format!(
            "GET /v1/agents/{t}/invoke{path} HTTP/1.1\r\nHost: a\r\n{}{extra}Connection: close\r\n\r\n",
            signed_lines(&caller, t, "GET", signed_path, b"")
        )
    };
    // Duplicate X-Agent-* headers: the agent could read the other value.
    let dup = call("/a", "/a", "X-Agent-Nonce: AAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n");
    let (status, body, _) = raw(&node.url, dup.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{body}"
    );
    // A signature over /a/b does not cover /a%2Fb…
    let (status, _, _) = raw(
        &node.url,
        call("/a%2Fb", "/a/b", "").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 401);
    // …and /a%2Fb is forwarded as sent, under the endpoint's base path.
    let (status, body, _) = raw(
        &node.url,
        call("/a%2Fb", "/a%2Fb", "").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/base/a%2Fb");
    // %3F stays in the path: no query appears.
    let (status, body, _) = raw(
        &node.url,
        call("/x%3Fy=1", "/x%3Fy=1", "").as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["path"].as_str(), &body["query"]),
        (Some("/base/x%3Fy=1"), &Value::Null)
    );
    // Dot-segments would climb out of the base path: refused.
    for path in ["/%2e%2e/secret", "/a/../secret", "/./x", "/a/.%2E/x"] {
        let (status, body, _) = raw(
            &node.url,
            call(path, path, "").as_bytes(),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_field", "{path}");
    }
}

#[tokio::test]
async fn replays_after_a_restart_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let agent = echo_agent().await;
    let start = |data: std::path::PathBuf| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let node = Node::spawn(listener, NodeConfig::new(&data), async {
            let _ = rx.await;
        })
        .await
        .expect("node");
        (node, tx)
    };
    let (node, stop) = start(data.clone()).await;
    let url = format!("http://{}", node.addr);
    let target = Identity::generate();
    let card = envelope(&target, now_unix(), |m| m["endpoint"] = json!(agent));
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{url}/v1/agents"))
        .json(&card)
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    let caller = Identity::generate();
    let signed = sign_request(&caller, target.id(), "POST", "/x", b"{}", now_unix());
    let send = |url: String| {
        let signed = signed.clone();
        let http = http.clone();
        let t = target.id().to_string();
        async move {
            let mut req = http
                .post(format!("{url}/v1/agents/{t}/invoke/x"))
                .body("{}");
            for (k, v) in signed.headers() {
                req = req.header(k, v);
            }
            let res = req.send().await.expect("call");
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            (
                status,
                v["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    assert_eq!(send(url.clone()).await.0, 200);
    let _ = stop.send(());
    node.task.await.expect("join").expect("clean stop");
    let (node, _stop) = start(data).await;
    let (status, code) = send(format!("http://{}", node.addr)).await;
    assert_eq!((status, code.as_str()), (401, "replayed_nonce"));
}

#[tokio::test]
async fn the_gateways_own_failures_are_not_charged_to_the_agent() {
    let node = TestNode::start().await;
    // The card is valid, but no URL can be built from its endpoint.
    let target = agent_at(&node, "http://bad host:1", |_| {}).await;
    let caller = Identity::generate();
    assert_eq!(
        node.invoke(&caller, target.id(), "GET", "/x", b"").await,
        502
    );
    let v: Value = reqwest::get(format!("{}/v1/trust/{}", node.url, target.id()))
        .await
        .expect("trust")
        .json()
        .await
        .expect("json");
    assert_eq!(v["counts"]["failure"], 0, "{v}");
}

#[tokio::test]
async fn only_canonical_keys_are_ids() {
    let node = TestNode::start().await;
    // y = 2^255 - 1 ≥ p: decompresses, but is not the point's encoding.
    let mut raw_key = [0xffu8; 32];
    raw_key[31] = 0x7f;
    let did = agentmesh::identity::did_from_key_bytes(&raw_key);
    for path in [format!("/v1/trust/{did}"), format!("/v1/agents/{did}")] {
        let res = reqwest::get(format!("{}{path}", node.url))
            .await
            .expect("get");
        assert_eq!(res.status(), 400, "{path}");
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["error"]["code"], "invalid_id", "{path}");
    }
}

#[tokio::test]
async fn a_full_database_answers_507_and_keeps_what_it_acknowledged() {
    let node = TestNode::start_with(|c| c.store.max_db_bytes = Some(400 * 1024), None).await;
    let mut acknowledged = Vec::new();
    let mut full = None;
    for _ in 0..2000 {
        let id = Identity::generate();
        let card = envelope(&id, now_unix(), |m| {
            m["description"] = json!("x".repeat(3000));
        });
        let (status, body) = node.post_card(&card).await;
        match status {
            201 => acknowledged.push(id),
            507 => {
                full = Some(body);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let body = full.expect("the database filled up");
    assert_eq!(body["error"]["code"], "insufficient_storage", "{body}");
    assert!(!acknowledged.is_empty());
    for id in &acknowledged {
        let res = reqwest::get(format!("{}/v1/agents/{}", node.url, id.id()))
            .await
            .expect("get");
        assert_eq!(res.status(), 200, "an acknowledged card is kept");
    }
    let res = reqwest::get(format!("{}/healthz", node.url))
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200);
}

#[test]
fn a_node_whose_stderr_cannot_be_written_keeps_serving() {
    let home = tempfile::tempdir().expect("tmp");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut child = common::cmd(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--json"])
        .env("AGENTMESH_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(full)
        .spawn()
        .expect("spawn");
    let line = common::first_line(
        child.stdout.take().expect("stdout"),
        Duration::from_secs(30),
    )
    .expect("listening line");
    let v: Value = serde_json::from_str(&line).expect("json");
    let url = v["url"].as_str().expect("url").to_string();
    let addr = url.trim_start_matches("http://").to_string();
    for _ in 0..20 {
        use std::io::Read as _;
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert!(child.try_wait().expect("wait").is_none(), "the node exited");
    let _ = child.kill();
    let _ = child.wait();
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn pki(dir: &std::path::Path) -> [std::path::PathBuf; 5] {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("server cert");
    let client_key = KeyPair::generate().expect("key");
    let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params
        .signed_by(&client_key, &ca)
        .expect("client cert");
    let files = [
        ("ca.pem", ca.pem()),
        ("server.pem", server.pem()),
        ("server.key", server_key.serialize_pem()),
        ("client.pem", client.pem()),
        ("client.key", client_key.serialize_pem()),
    ];
    files.map(|(name, pem)| {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(pem.as_bytes()))
            .expect("write pem");
        p
    })
}

#[test]
fn tls_serves_https_and_the_cli_trusts_a_private_ca() {
    let home = tempfile::tempdir().expect("tmp");
    let [ca, cert, key, _, _] = pki(home.path());
    let s = |p: &std::path::Path| p.to_str().expect("utf8").to_string();
    let node = common::ServeProcess::start(
        home.path(),
        &["--tls-cert", &s(&cert), "--tls-key", &s(&key)],
    );
    assert!(node.url.starts_with("https://127.0.0.1:"), "{}", node.url);
    // The CLI with the CA finds the node; without it, the certificate is refused.
    let ok = common::cmd(home.path())
        .args([
            "discover",
            "--json",
            "--node",
            &node.url,
            "--ca-cert",
            &s(&ca),
        ])
        .output()
        .expect("discover");
    assert!(
        ok.status.code() == Some(0) || ok.status.code() == Some(1),
        "{ok:?}"
    );
    let v: Value = serde_json::from_slice(&ok.stdout).expect("json results");
    assert!(v["results"].is_array(), "{v}");
    let refused = common::cmd(home.path())
        .args(["discover", "--json", "--node", &node.url])
        .output()
        .expect("discover");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    // Plain HTTP to the TLS port gets no answer in HTTP.
    let plain = node.url.replace("https://", "http://");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let (status, _, _) = rt.block_on(raw(
        &plain,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(5),
    ));
    assert_ne!(status, 200);
}

#[test]
fn mutual_tls_needs_a_client_certificate_from_the_ca() {
    let home = tempfile::tempdir().expect("tmp");
    let [ca, cert, key, client_cert, client_key] = pki(home.path());
    let s = |p: &std::path::Path| p.to_str().expect("utf8").to_string();
    let node = common::ServeProcess::start(
        home.path(),
        &[
            "--tls-cert",
            &s(&cert),
            "--tls-key",
            &s(&key),
            "--tls-client-ca",
            &s(&ca),
        ],
    );
    agentmesh::client::init_tls();
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("ca")).expect("ca");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let anonymous = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .build()
        .expect("client");
    assert!(
        rt.block_on(anonymous.get(format!("{}/healthz", node.url)).send())
            .is_err(),
        "a client without a certificate is refused"
    );
    let mut pem = std::fs::read(&client_cert).expect("cert");
    pem.extend(std::fs::read(&client_key).expect("key"));
    // The CLI presents it with --client-cert (one PEM file: chain and key).
    let combined = home.path().join("client-with-key.pem");
    std::fs::write(&combined, &pem).expect("write");
    for (extra, want) in [(None, Some(2)), (Some(&combined), Some(0))] {
        let mut cmd = common::cmd(home.path());
        cmd.args([
            "discover",
            "--json",
            "--node",
            &node.url,
            "--ca-cert",
            &s(&ca),
        ]);
        if let Some(c) = extra {
            cmd.args(["--client-cert", &s(c)]);
        }
        let out = cmd.output().expect("discover");
        let code = out.status.code();
        assert!(
            code == want || (want == Some(0) && code == Some(1)),
            "client cert {extra:?}: {out:?}"
        );
    }
    let with_cert = reqwest::Client::builder()
        .add_root_certificate(root)
        .identity(reqwest::Identity::from_pem(&pem).expect("identity"))
        .build()
        .expect("client");
    let res = rt
        .block_on(with_cert.get(format!("{}/healthz", node.url)).send())
        .expect("healthz over mutual TLS");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn relay_tunnels_keep_their_place_under_the_cap() {
    let node = TestNode::start_with(|c| c.server.max_connections = 2, None).await;
    let ws_url = node.url.replace("http://", "ws://");
    let mut tunnels = Vec::new();
    for _ in 0..2 {
        let (ws, _) = tokio_tungstenite::connect_async(format!(
            "{ws_url}/relay/v1/ws/{}",
            Identity::generate().id()
        ))
        .await
        .expect("upgrade");
        tunnels.push(ws);
    }
    // Both places are held by WebSockets, which are never evicted: a newcomer is told so.
    let (status, body, _) = raw(
        &node.url,
        b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "overloaded");
    drop(tunnels);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = raw(
            &node.url,
            b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "places were not given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
