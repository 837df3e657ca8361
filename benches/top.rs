//! `top` benchmark: (1) frame render time of the full screen at 200×50 and 80×24 with a busy
//! node's data (200 agents, 64 peers, 500 events, a week of trust history), drawn through
//! ratatui's diffing `Terminal` into an in-memory backend (terminal I/O excluded); (2) the
//! node's CPU cost of being polled: a node holding 10,000 cards, 200 of them recently called,
//! answers `GET /v1/node?agents=200` (what `top` asks each refresh) and `GET /metrics`
//! repeatedly; process CPU time per answer says what one poll a second costs.
//!
//! Run: `cargo bench --bench top -- [--frames 2000] [--cards 10000] [--polls 500]`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use agentmesh::card::{Manifest, sign_manifest};
use agentmesh::client::Client;
use agentmesh::encoding::{format_rfc3339, now_unix};
use agentmesh::federation::PeerView;
use agentmesh::handshake::sign_request;
use agentmesh::identity::Identity;
use agentmesh::node::{Node, NodeConfig};
use agentmesh::trust::{EventCounts, HourView, TrustView};
use agentmesh::tui::app::App;
use agentmesh::tui::ui;
use agentmesh::wire::{AgentRow, NodeEvent, NodeInfo, Rates};
use ratatui::backend::TestBackend;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/raw_http.rs"]
mod raw_http;
#[path = "common/stats.rs"]
mod stats;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fake_id(i: usize) -> String {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&(i as u64).to_le_bytes());
    agentmesh::identity::did_from_key_bytes(&k)
}

fn busy_info(now: i64, calls: u64) -> NodeInfo {
    NodeInfo {
        node_id: fake_id(999_999),
        version: "0.1.0".into(),
        uptime_s: 86_400 * 3 + 17,
        agents: 10_000,
        peers: 64,
        tunnels: 40,
        rates: Rates {
            window_s: 60,
            invocations: (0..60).map(|i| 900 + (i * 37 % 200) as u32).collect(),
            errors: vec![3; 60],
            registrations: vec![1; 60],
            discoveries: vec![20; 60],
        },
        peer_list: (0..64)
            .map(|i| PeerView {
                node_id: fake_id(500_000 + i),
                url: format!("http://10.0.{}.{}:7070", i / 250, i % 250),
                last_seen: Some(format_rfc3339(now - 3)),
                state: if i % 9 == 0 { "backoff" } else { "active" }.into(),
                last_sync: Some(format_rfc3339(now - (i as i64 % 60))),
                lag: (i % 13) as i64,
                knows: Vec::new(),
            })
            .collect(),
        top_agents: (0..200)
            .map(|i| AgentRow {
                agent_id: fake_id(i),
                name: Some(format!("agent-{i:03}")),
                protocols: vec!["http".into(), "mcp".into()],
                trust: (i % 100) as f64 / 100.0,
                trust_delta: ((i % 7) as f64 - 3.0) / 100.0,
                trust_events: calls,
                calls: calls + i as u64,
                errors: i as u64 / 10,
                last_call_at: Some(now - 1),
                online: i % 5 == 0,
                relayed: i % 5 == 0,
                endpoint: Some(format!("http://127.0.0.1:{}", 8000 + i)),
                description: Some("Forecasts weather for any city".into()),
            })
            .collect(),
        events: (1..=500)
            .map(|i| NodeEvent {
                seq: i,
                at_ms: (now - 500 + i as i64) * 1000,
                kind: ["invoke", "register", "trust", "sync"][i as usize % 4].into(),
                agent_id: Some(fake_id(i as usize % 200)),
                ok: i % 11 != 0,
                text: format!("200 in {}.{} ms", i % 9, i % 10),
            })
            .collect(),
        events_seq: 500,
        ..NodeInfo::default()
    }
}

fn busy_app() -> App {
    let now = now_unix();
    let mut app = App::new("http://127.0.0.1:7070", true);
    app.apply(busy_info(now, 1000), Duration::ZERO, now - 1);
    app.apply(busy_info(now, 1900), Duration::from_secs(1), now);
    let counts = EventCounts {
        success: 4000,
        failure: 40,
        ..EventCounts::default()
    };
    app.trust = Some(TrustView {
        agent_id: app.agents()[0].agent_id.clone(),
        score: 0.93,
        alpha: 300.0,
        beta: 20.0,
        counts,
        last_event_at: Some(format_rfc3339(now - 1)),
        last_event: None,
        history: (0..168)
            .map(|h| HourView {
                at: format_rfc3339(now - 3600 * (168 - h)),
                score: 0.5 + (h % 40) as f64 / 100.0,
                counts,
            })
            .collect(),
        known: true,
        reports: 0,
        last_report: None,
        last_decay_at: format_rfc3339(now),
        half_life_s: 604_800,
    });
    app
}

fn render_bench(frames: usize, w: u16, h: u16) {
    let mut app = busy_app();
    let mut terminal = ratatui::Terminal::new(TestBackend::new(w, h)).expect("backend");
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        // Move the selection so every frame differs from the last (as a live screen does).
        app.on_key(crossterm::event::KeyEvent::from(if i % 50 < 25 {
            crossterm::event::KeyCode::Down
        } else {
            crossterm::event::KeyCode::Up
        }));
        let t = Instant::now();
        terminal.draw(|f| ui::draw(f, &app)).expect("draw");
        times.push(t.elapsed());
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = times.iter().map(|d| us(*d)).sum::<f64>() / frames as f64;
    println!(
        "| render {w}×{h} | {frames} frames | mean {:.0} µs | p50 {:.0} µs | p99 {:.0} µs |",
        mean,
        stats::percentile(&times, 0.5),
        stats::percentile(&times, 0.99)
    );
}

async fn setup_node(cards: usize) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let node = Node::spawn(
        listener,
        NodeConfig::new(dir.path()),
        std::future::pending(),
    )
    .await
    .expect("node");
    let upstream = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move { axum::serve(l, app).await });
        url
    };
    let client =
        Client::new(&format!("http://{}", node.addr), Duration::from_secs(30)).expect("client");
    let ids: Vec<Identity> = (0..cards).map(|_| Identity::generate()).collect();
    let t = Instant::now();
    for chunk in ids.chunks(64) {
        let posts = chunk.iter().enumerate().map(|(i, id)| {
            let mut m = Manifest::new(id.id(), &format!("agent {i}"), now_unix());
            m.description = "Answers questions about the weather in a city".into();
            m.endpoint = Some(upstream.clone());
            m.protocols = vec!["http".into()];
            let env = sign_manifest(m.to_value(), id).expect("sign");
            let client = client.clone();
            async move { client.register(&env).await.expect("register") }
        });
        futures_util::future::join_all(posts).await;
    }
    eprintln!(
        "registered {cards} cards in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let caller = Identity::generate();
    let mut conn = raw_http::Conn::open(node.addr).await;
    for id in ids.iter().take(200) {
        let signed = sign_request(&caller, id.id(), "POST", "/x", b"{}", now_unix());
        let path = format!("/v1/agents/{}/invoke/x", id.id());
        let headers: Vec<(&str, String)> = signed.headers().into_iter().collect();
        assert_eq!(conn.request("POST", &path, &headers, b"{}").await, 200);
    }
    (node.addr, dir)
}

async fn poll_bench(addr: SocketAddr, path: &str, polls: usize) {
    let mut conn = raw_http::Conn::open(addr).await;
    for _ in 0..10 {
        assert_eq!(conn.request("GET", path, &[], b"").await, 200);
    }
    let cpu = cpu_seconds();
    let t = Instant::now();
    let mut lat = Vec::with_capacity(polls);
    for _ in 0..polls {
        let s = Instant::now();
        assert_eq!(conn.request("GET", path, &[], b"").await, 200);
        lat.push(s.elapsed());
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    lat.sort();
    let per = cpu / polls as f64;
    println!(
        "| `GET {path}` | {polls} polls | {:.2} ms CPU each → {:.2}% of a core at 1/s | p50 {:.2} ms | wall {:.2} ms each |",
        per * 1e3,
        per * 100.0,
        stats::percentile(&lat, 0.5) / 1e3,
        wall / polls as f64 * 1e3
    );
}

fn main() {
    let frames = arg("--frames", 2000);
    let cards = arg("--cards", 10_000);
    let polls = arg("--polls", 500);
    println!("| what | runs | figure | | |");
    println!("|---|---|---|---|---|");
    render_bench(frames, 200, 50);
    render_bench(frames, 80, 24);
    if std::env::args().any(|a| a == "--render-only") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (addr, _dir) = setup_node(cards).await;
        poll_bench(addr, "/v1/node?agents=200", polls).await;
        poll_bench(addr, "/metrics", polls).await;
    });
}

#[path = "common/cpu.rs"]
mod cpu;
use cpu::cpu_seconds;
