//! Relay end to end: real nodes, the in-process tunnel client (`agentmesh connect`'s core) and
//! real local upstreams on 127.0.0.1.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use agentmesh::encoding::now_unix;
use agentmesh::handshake::{H_NONCE, sign_request, verify_response};
use agentmesh::identity::Identity;
use agentmesh::relay::client::{ConnState, ConnStats, ConnectConfig, run};
use agentmesh::relay::{AgentToNode, NodeToAgent, auth_signing_string, tunnel_url};
use axum::body::Bytes;
use axum::http::Uri;
use common::{TestNode, envelope};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// A local service that echoes path and body; `/hold` waits forever after notifying `arrived`.
async fn upstream(arrived: Arc<Notify>) -> String {
    let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
        let arrived = arrived.clone();
        async move {
            if uri.path() == "/hold" {
                arrived.notify_one();
                std::future::pending::<()>().await;
            }
            axum::Json(json!({"path": uri.to_string(), "body": String::from_utf8_lossy(&body)}))
        }
    });
    common::serve_app(app).await
}

async fn register_relayed(node: &TestNode, agent: &Identity, relays: &[&str]) {
    let card = envelope(agent, now_unix(), |m| {
        m["endpoint"] = json!(format!("relay://{}", agent.id()));
        m["relays"] = json!(relays);
    });
    assert_eq!(node.post_card(&card).await.0, 201);
}

struct Tunnel {
    state: watch::Receiver<ConnState>,
    stats: Arc<ConnStats>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Tunnel {
    fn start(relay: &str, forward: &str, agent: &Identity) -> Self {
        let (tx, state) = watch::channel(ConnState::Connecting(0));
        let stats = Arc::new(ConnStats::default());
        let stop = CancellationToken::new();
        let cfg = ConnectConfig::new(relay, forward, agent.clone());
        let (s, st) = (stats.clone(), stop.clone());
        let task = tokio::spawn(async move {
            run(cfg, tx, s, st).await.expect("valid config");
        });
        Self {
            state,
            stats,
            stop,
            task,
        }
    }

    /// Waits (with a deadline) until the tunnel has been established `n` times and is ready.
    async fn ready(&mut self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if matches!(*self.state.borrow_and_update(), ConnState::Ready(_))
                && self.stats.connects.load(Ordering::SeqCst) >= n
            {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "tunnel not ready in time: {:?}",
                *self.state.borrow()
            );
            let _ = tokio::time::timeout(left, self.state.changed()).await;
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("tunnel task");
    }
}

/// A signed call through `node`'s gateway; returns status, body and whether the response
/// signature verified as the agent's.
async fn call(
    node: &str,
    caller: &Identity,
    agent: &str,
    path: &str,
    body: &str,
) -> (u16, Value, bool) {
    let signed = sign_request(caller, agent, "POST", path, body.as_bytes(), now_unix());
    let mut req = reqwest::Client::new()
        .post(format!("{node}/v1/agents/{agent}/invoke{path}"))
        .body(body.to_string());
    for (k, v) in signed.headers() {
        req = req.header(k, v);
    }
    let res = req.send().await.expect("send");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let nonce = signed.get(H_NONCE).unwrap_or_default();
    let verified = verify_response(agent, status, &nonce, get, &bytes).is_ok();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        verified,
    )
}

#[tokio::test]
async fn a_call_through_the_relay_succeeds_and_its_answer_verifies() {
    let node = TestNode::start().await;
    let local = upstream(Arc::new(Notify::new())).await;
    let agent = Identity::generate();
    register_relayed(&node, &agent, &[&node.url]).await;
    // No tunnel yet: 503 agent_offline.
    let caller = Identity::generate();
    let (s, b, _) = call(&node.url, &caller, agent.id(), "/x", "{}").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("agent_offline")),
        "{b}"
    );

    let mut t = Tunnel::start(&node.url, &local, &agent);
    t.ready(1).await;
    let (s, b, verified) = call(
        &node.url,
        &caller,
        agent.id(),
        "/forecast?days=2",
        "{\"city\":\"Paris\"}",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["path"], "/forecast?days=2");
    assert_eq!(b["body"], "{\"city\":\"Paris\"}");
    assert!(verified, "the agent signs every answer");
    // A bad caller signature is refused by the agent itself, and that refusal is signed too.
    let signed = sign_request(&caller, agent.id(), "POST", "/other", b"{}", now_unix());
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/agents/{}/invoke/x", node.url, agent.id()))
        .body("{}");
    for (k, v) in signed.headers() {
        req = req.header(k, v);
    }
    assert_eq!(
        req.send().await.expect("send").status().as_u16(),
        401,
        "signed path differs"
    );
    // Many calls in flight at once share the tunnel.
    let calls = (0..32).map(|i| {
        let (url, caller, id) = (node.url.clone(), caller.clone(), agent.id().to_string());
        tokio::spawn(async move { call(&url, &caller, &id, &format!("/n{i}"), "x").await })
    });
    for (i, c) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        let (s, b, v) = c.expect("task");
        assert_eq!((s, v), (200, true));
        assert_eq!(b["path"], format!("/n{i}"));
    }
    let info: Value = reqwest::get(format!("{}/v1/node", node.url))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(info["tunnels"], 1);
    t.stop().await;
    // Tunnel gone: offline again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _, _) = call(&node.url, &caller, agent.id(), "/x", "{}").await;
        if s == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {s} after the tunnel closed"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn connect_rejects_a_request_the_relay_altered() {
    let node = TestNode::start_with(|c| c.relay.tamper_requests = true, None).await;
    let local = upstream(Arc::new(Notify::new())).await;
    let agent = Identity::generate();
    register_relayed(&node, &agent, &[&node.url]).await;
    let mut t = Tunnel::start(&node.url, &local, &agent);
    t.ready(1).await;
    let (s, b, verified) = call(
        &node.url,
        &Identity::generate(),
        agent.id(),
        "/x",
        "{\"a\":1}",
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{b}"
    );
    assert!(
        verified,
        "the refusal comes signed by the agent, not the relay"
    );
    assert_eq!(
        t.stats.served.load(Ordering::SeqCst),
        0,
        "nothing reached the local service"
    );
    t.stop().await;
}

#[tokio::test]
async fn in_flight_calls_answer_502_when_the_tunnel_dies() {
    let node = TestNode::start().await;
    let arrived = Arc::new(Notify::new());
    let local = upstream(arrived.clone()).await;
    let agent = Identity::generate();
    register_relayed(&node, &agent, &[&node.url]).await;
    let mut t = Tunnel::start(&node.url, &local, &agent);
    t.ready(1).await;
    let (url, id) = (node.url.clone(), agent.id().to_string());
    let pending =
        tokio::spawn(async move { call(&url, &Identity::generate(), &id, "/hold", "").await });
    tokio::time::timeout(Duration::from_secs(10), arrived.notified())
        .await
        .expect("the call reached the local service");
    t.stop().await;
    let (s, b, _) = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("answered in time")
        .expect("task");
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (502, Some("upstream_failed")),
        "{b}"
    );
}

#[tokio::test]
async fn a_newer_tunnel_replaces_the_older_one() {
    let node = TestNode::start().await;
    let local = upstream(Arc::new(Notify::new())).await;
    let agent = Identity::generate();
    register_relayed(&node, &agent, &[&node.url]).await;
    let mut first = Tunnel::start(&node.url, &local, &agent);
    first.ready(1).await;
    let mut second = Tunnel::start(&node.url, &local, &agent);
    second.ready(1).await;
    // The node closed the first tunnel; stop it before its reconnect replaces the second.
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(*first.state.borrow_and_update(), ConnState::Ready(_)) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the first tunnel was not closed");
        let _ = tokio::time::timeout(left, first.state.changed()).await;
    }
    first.stop().await;
    let caller = Identity::generate();
    let (s, _, v) = call(&node.url, &caller, agent.id(), "/x", "").await;
    assert_eq!((s, v), (200, true));
    assert_eq!(second.stats.served.load(Ordering::SeqCst), 1);
    second.stop().await;
}

/// Opens a raw tunnel for `agent_id`, answering the challenge with `signer`'s key.
async fn raw_auth(node: &TestNode, agent_id: &str, signer: &Identity) -> NodeToAgent {
    let url = tunnel_url(&node.url, agent_id).expect("url");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no challenge")
    };
    let NodeToAgent::Challenge { nonce, relay_id } =
        serde_json::from_str(t.as_str()).expect("challenge")
    else {
        panic!("not a challenge: {t}")
    };
    assert_eq!(relay_id, node.node_id, "the challenge names the node");
    let auth = AgentToNode::Auth {
        agent_id: agent_id.to_string(),
        signature: signer.sign_b64(auth_signing_string(&relay_id, agent_id, &nonce).as_bytes()),
    };
    ws.send(Message::Text(
        serde_json::to_string(&auth).expect("ser").into(),
    ))
    .await
    .expect("send");
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no answer")
    };
    serde_json::from_str(t.as_str()).expect("answer")
}

#[tokio::test]
async fn a_forged_auth_is_refused() {
    let node = TestNode::start().await;
    let agent = Identity::generate();
    let forger = Identity::generate();
    match raw_auth(&node, agent.id(), &forger).await {
        NodeToAgent::Error { code, .. } => assert_eq!(code, "bad_signature"),
        other => panic!("forged auth accepted: {other:?}"),
    }
    assert_eq!(
        raw_auth(&node, agent.id(), &agent).await,
        NodeToAgent::Ready
    );
}

#[tokio::test]
async fn connect_reconnects_after_a_node_restart() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let node = TestNode::start_on(listener, |_| {}, None).await;
    let local = upstream(Arc::new(Notify::new())).await;
    let agent = Identity::generate();
    register_relayed(&node, &agent, &[&node.url]).await;
    let mut t = Tunnel::start(&node.url, &local, &agent);
    t.ready(1).await;
    let url = node.url.clone();
    let dir = node.stop().await;
    let data = dir.path().join("data");
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("rebind the same port");
    let node = TestNode::start_on(listener, move |c| c.data_dir = data, None).await;
    t.ready(2).await;
    let (s, _, v) = call(&url, &Identity::generate(), agent.id(), "/again", "").await;
    assert_eq!((s, v), (200, true));
    t.stop().await;
    drop(node);
}

#[tokio::test]
async fn a_node_without_the_tunnel_forwards_to_the_relay_node() {
    let relay = TestNode::start().await;
    let other = TestNode::start().await;
    let local = upstream(Arc::new(Notify::new())).await;
    let agent = Identity::generate();
    // Federation is not there yet: the card is registered on both nodes.
    register_relayed(&relay, &agent, &[&relay.url]).await;
    register_relayed(&other, &agent, &[&relay.url]).await;
    let mut t = Tunnel::start(&relay.url, &local, &agent);
    t.ready(1).await;
    let (s, b, v) = call(&other.url, &Identity::generate(), agent.id(), "/via", "hi").await;
    assert_eq!((s, v), (200, true), "{b}");
    assert_eq!(b["path"], "/via");
    t.stop().await;
    let (s, b, _) = call(&other.url, &Identity::generate(), agent.id(), "/via", "hi").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("agent_offline")),
        "{b}"
    );
}
