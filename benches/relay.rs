//! Relay benchmark, one run on loopback: the same echo agent called straight (direct HTTP),
//! through the node's gateway to its http:// endpoint, and through the gateway over a relay
//! tunnel held by the in-process `connect` client — 64 B and 1 MiB bodies, concurrency 1 and
//! 64: p50/p99, req/s, MB/s (request + answer bodies), and the relay's added p50. Then memory
//! per idle tunnel: a child process opens 1,000 tunnels to the node and the node's RSS growth
//! is divided by 1,000.
//!
//! Run: `cargo bench --bench relay -- [--requests 20000] [--tunnels 1000]`
//! (`--only relay|http|direct` and `--small` narrow it down, e.g. for a profiler).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentmesh::card::{Manifest, sign_manifest};
use agentmesh::client::Client;
use agentmesh::encoding::now_unix;
use agentmesh::handshake::sign_request;
use agentmesh::identity::Identity;
use agentmesh::node::{Node, NodeConfig};
use agentmesh::relay::client::{ConnState, ConnStats, ConnectConfig, run};
use agentmesh::relay::{AgentToNode, NodeToAgent, auth_signing_string, tunnel_url};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/raw_http.rs"]
mod raw_http;
#[path = "common/stats.rs"]
mod stats;

#[path = "common/mem.rs"]
mod mem;

fn rss_kb() -> f64 {
    mem::rss_bytes() / 1024.0
}

struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    mb_s: f64,
}

fn drive(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    path: Arc<String>,
    reqs: Arc<Vec<Vec<(&'static str, String)>>>,
    body: Arc<Vec<u8>>,
    conc: usize,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut lat: Vec<u64> = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..conc {
            let (next, reqs, path, body) = (next.clone(), reqs.clone(), path.clone(), body.clone());
            set.spawn(async move {
                let mut c = raw_http::Conn::open(addr).await;
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(h) = reqs.get(i) else { return lat };
                    let t = Instant::now();
                    let status = c.request("POST", &path, h, &body).await;
                    assert_eq!(status, 200, "every call answers 200");
                    lat.push(t.elapsed().as_micros() as u64);
                }
            });
        }
        let mut all = Vec::new();
        while let Some(r) = set.join_next().await {
            all.extend(r.expect("worker"));
        }
        all
    });
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| stats::percentile(&lat, p);
    Run {
        rps: lat.len() as f64 / secs,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        mb_s: (lat.len() * body.len() * 2) as f64 / secs / 1e6,
    }
}

/// Child mode: open `n` tunnels to `node` and hold them until stdin closes.
fn hold_tunnels(node: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            let id = Identity::generate();
            let url = tunnel_url(node, id.id()).expect("url");
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                panic!("no challenge")
            };
            let Ok(NodeToAgent::Challenge { nonce, relay_id }) = serde_json::from_str(t.as_str())
            else {
                panic!("not a challenge")
            };
            let auth = AgentToNode::Auth {
                agent_id: id.id().to_string(),
                signature: id.sign_b64(auth_signing_string(&relay_id, id.id(), &nonce).as_bytes()),
            };
            ws.send(Message::Text(
                serde_json::to_string(&auth).expect("ser").into(),
            ))
            .await
            .expect("auth");
            let Some(Ok(Message::Text(_ready))) = ws.next().await else {
                panic!("not ready")
            };
            held.push(ws);
        }
        println!("ready");
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
        drop(held);
    });
}

fn main() {
    let mut n = 20_000usize;
    let mut tunnels = 1000usize;
    let mut only: Option<String> = None;
    let mut small_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--requests" => n = args.next().expect("N").parse().expect("number"),
            "--tunnels" => tunnels = args.next().expect("N").parse().expect("number"),
            "--hold-tunnels" => {
                let node = args.next().expect("node URL");
                let count = args.next().expect("N").parse().expect("number");
                return hold_tunnels(&node, count);
            }
            "--only" => only = args.next(),
            "--small" => small_only = true,
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let dir = tempfile::tempdir().expect("tmp");
    // The echo agent on its own thread, as a separate program would be.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            let app = axum::Router::new()
                .fallback(|body: axum::body::Bytes| async move { body })
                .layer(axum::extract::DefaultBodyLimit::max(4 << 20));
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send");
            axum::serve(l, app).await
        })
    });
    let upstream = rx.recv().expect("upstream address");
    let node = server_rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut cfg = NodeConfig::new(dir.path());
        cfg.gateway.max_body = 2 << 20;
        Node::spawn(l, cfg, std::future::pending())
            .await
            .expect("node")
    });
    let node_url = format!("http://{}", node.addr);
    // Memory per idle tunnel, measured in this (the node's) process before any load, so the
    // allocator's high-water mark from bulk runs does not hide it.
    let info = |c: &Client| client_rt.block_on(c.node_info()).expect("node info");
    let client = Client::new(&node_url, Duration::from_secs(10)).expect("client");
    let _ = info(&client);
    let before = rss_kb();
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--hold-tunnels", &node_url, &tunnels.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the tunnel holder");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("read");
    assert_eq!(line.trim(), "ready");
    let deadline = Instant::now() + Duration::from_secs(30);
    while info(&client).tunnels < tunnels as u64 {
        assert!(Instant::now() < deadline, "tunnels did not register");
    }
    let after = rss_kb();
    println!(
        "idle tunnels: {tunnels} held; node RSS grew {:.1} MB, {:.1} KB per tunnel",
        (after - before) / 1024.0,
        (after - before) / tunnels as f64
    );
    drop(child.stdin.take());
    let _ = child.wait();
    let plain = Identity::generate();
    let relayed = Identity::generate();
    client_rt.block_on(async {
        let client = Client::new(&node_url, Duration::from_secs(10)).expect("client");
        for (id, endpoint, relays) in [
            (&plain, format!("http://{upstream}"), vec![]),
            (
                &relayed,
                format!("relay://{}", relayed.id()),
                vec![node_url.clone()],
            ),
        ] {
            let mut m = Manifest::new(id.id(), "bench", now_unix());
            m.endpoint = Some(endpoint);
            m.relays = relays;
            client
                .register(&sign_manifest(m.to_value(), id).expect("sign"))
                .await
                .expect("register");
        }
    });
    // The agent's connect client on its own thread and runtime.
    let (state_tx, mut state_rx) = tokio::sync::watch::channel(ConnState::Connecting(0));
    {
        let mut cfg = ConnectConfig::new(&node_url, &format!("http://{upstream}"), relayed.clone());
        cfg.max_body = 2 << 20;
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(run(
                cfg,
                state_tx,
                Arc::new(ConnStats::default()),
                tokio_util::sync::CancellationToken::new(),
            ))
        });
    }
    client_rt.block_on(async {
        while !matches!(*state_rx.borrow_and_update(), ConnState::Ready(_)) {
            state_rx.changed().await.expect("tunnel task alive");
        }
    });
    let caller = Identity::generate();
    println!(
        "relay ({n} small requests a run; loopback; 2 cores shared by client, node, connect and agent)"
    );
    println!("| path | body | concurrency | req/s | MB/s | p50 µs | p99 µs |");
    println!("|---|---|---|---|---|---|---|");
    let mut p50 = std::collections::HashMap::new();
    for (label, size) in [("64 B", 64usize), ("1 MiB", 1 << 20)] {
        if small_only && size > 64 {
            continue;
        }
        let body = Arc::new(vec![b'x'; size]);
        for conc in [1usize, 64] {
            let count = match (size, conc) {
                (64, 1) => n / 4,
                (64, _) => n,
                (_, 1) => 200,
                _ => 1000,
            };
            for (name, addr, target) in [
                ("direct", upstream, None),
                ("gateway → http", node.addr, Some(&plain)),
                ("gateway → relay", node.addr, Some(&relayed)),
            ] {
                if only.as_deref().is_some_and(|o| !name.contains(o)) {
                    continue;
                }
                let (path, signer_target) = match target {
                    None => ("/echo".to_string(), plain.id()),
                    Some(t) => (format!("/v1/agents/{}/invoke/echo", t.id()), t.id()),
                };
                let reqs: Vec<_> = (0..count)
                    .map(|_| {
                        sign_request(&caller, signer_target, "POST", "/echo", &body, now_unix())
                            .headers()
                            .to_vec()
                    })
                    .collect();
                let r = drive(
                    &client_rt,
                    addr,
                    Arc::new(path),
                    Arc::new(reqs),
                    body.clone(),
                    conc,
                );
                println!(
                    "| {name} | {label} | {conc} | {:.0} | {:.1} | {:.0} | {:.0} |",
                    r.rps, r.mb_s, r.p50_us, r.p99_us
                );
                p50.insert((name, size, conc), r.p50_us);
            }
        }
    }
    if only.is_some() || small_only {
        return;
    }
    for (label, size) in [("64 B", 64usize), ("1 MiB", 1 << 20)] {
        for conc in [1usize, 64] {
            println!(
                "relay adds at p50 ({label}, concurrency {conc}): {:.0} µs over gateway → http, {:.0} µs over direct",
                p50[&("gateway → relay", size, conc)] - p50[&("gateway → http", size, conc)],
                p50[&("gateway → relay", size, conc)] - p50[&("direct", size, conc)],
            );
        }
    }
}
