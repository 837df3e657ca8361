//! Ingest benchmark: C concurrent clients register N distinct signed cards over loopback HTTP
//! into one node (real axum server, real SQLite with group commit), and report cards/s and
//! latency percentiles.
//!
//! Run: `cargo bench --bench ingest -- --cards 100000 --clients 64 [--durability full|normal]
//! [--client raw|reqwest] [--ann-min N] [--ceiling http|verify]`
//!
//! `--ceiling` measures what this machine allows below the node, with the same client and the
//! same two server threads: `http` answers every request at once (axum, nothing else), `verify`
//! also checks and embeds each card as the node does, without storing or indexing it. The
//! node's figure cannot pass either.
//!
//! Both ends share this 2-core machine, so the load generator's own CPU lowers the figure. The
//! default `raw` client writes pre-serialized HTTP/1.1 requests on keep-alive connections and
//! reads the answers with almost no work, so the figure is the node's; `reqwest` measures what
//! a typical Rust client pair reaches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentmesh::card::{Manifest, sign_manifest};
use agentmesh::client::Client;
use agentmesh::encoding::now_unix;
use agentmesh::identity::Identity;
use agentmesh::node::{Node, NodeConfig};
use agentmesh::store::{Durability, StoreOptions};

// The same allocator as the binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Opts {
    cards: usize,
    clients: usize,
    durability: Durability,
    raw: bool,
    ann_min: usize,
    ceiling: Option<Ceiling>,
}

/// A stand-in server for `--ceiling`.
#[derive(Clone, Copy, Debug)]
enum Ceiling {
    /// Reads the body and answers 201.
    Http,
    /// Also parses, verifies (batched, as the node does) and embeds the card.
    Verify,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        cards: 100_000,
        clients: 64,
        durability: Durability::Full,
        raw: true,
        ann_min: agentmesh::discovery::index::ANN_MIN,
        ceiling: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--cards" => o.cards = val().parse().expect("--cards N"),
            "--clients" => o.clients = val().parse().expect("--clients N"),
            "--durability" => {
                o.durability = match val().as_str() {
                    "normal" => Durability::Normal,
                    _ => Durability::Full,
                }
            }
            "--client" => o.raw = val() != "reqwest",
            // The size from which the node keeps a vector graph; `--ann-min 0` never builds
            // one (searches scan exactly), to tell the graph's share of the cost.
            "--ann-min" => {
                o.ann_min = match val().parse().expect("--ann-min N") {
                    0 => usize::MAX,
                    n => n,
                }
            }
            "--ceiling" => {
                o.ceiling = Some(match val().as_str() {
                    "http" => Ceiling::Http,
                    "verify" => Ceiling::Verify,
                    other => panic!("--ceiling http|verify, not {other}"),
                })
            }
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    o
}

#[path = "common/stats.rs"]
mod stats;
use stats::percentile;

/// The `p` percentile of latencies in µs, in ms.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    percentile(sorted, p) / 1000.0
}

fn main() {
    let opts = parse_args();
    eprintln!("signing {} cards…", opts.cards);
    let t = Instant::now();
    let now = now_unix();
    let bodies: Vec<Vec<u8>> = (0..opts.cards)
        .map(|i| {
            let id = Identity::generate();
            let mut m = Manifest::new(id.id(), &format!("agent-{i}"), now);
            m.description = format!(
                "Benchmark agent number {i} that answers questions about topic {}",
                i % 97
            );
            m.endpoint = Some(format!("http://10.0.{}.{}:8080", (i / 250) % 250, i % 250));
            m.tags = vec!["bench".into(), format!("t{}", i % 13)];
            m.protocols = vec!["http".into()];
            m.qps_budget = Some(10.0);
            serde_json::to_vec(&sign_manifest(m.to_value(), &id).expect("sign")).expect("ser")
        })
        .collect();
    eprintln!("signed in {:.1}s", t.elapsed().as_secs_f64());

    // The node's per-card CPU floor: parse + verify + validate on one core, no HTTP, no SQLite.
    let sample = &bodies[..bodies.len().min(10_000)];
    let t = Instant::now();
    for b in sample {
        std::hint::black_box(agentmesh::card::Card::from_slice(b).expect("valid"));
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / sample.len() as f64;
    println!("verify: parse + verify + validate one card: {verify_us:.1} µs on one core");
    // The two Ed25519 costs no card escapes, as the node pays them under load: decoding the
    // signer's did:key to a curve point, and its signature's share of a 32-signature batch.
    let signers: Vec<Identity> = (0..1024).map(|_| Identity::generate()).collect();
    let t = Instant::now();
    for s in &signers {
        std::hint::black_box(agentmesh::identity::public_from_did(s.id()).expect("did:key"));
    }
    let key_us = t.elapsed().as_secs_f64() * 1e6 / signers.len() as f64;
    let checks: Vec<agentmesh::identity::verify::SigCheck> = signers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let msg = bodies[i % bodies.len()].clone();
            agentmesh::identity::verify::SigCheck {
                key: s.verifying_key(),
                sig: s.sign(&msg).to_bytes(),
                msg,
            }
        })
        .collect();
    let t = Instant::now();
    for chunk in checks.chunks(agentmesh::identity::verify::MAX_BATCH) {
        assert!(agentmesh::identity::verify::verify_batch(chunk));
    }
    let batch_us = t.elapsed().as_secs_f64() * 1e6 / checks.len() as f64;
    println!(
        "ed25519: did:key to a point {key_us:.1} µs, a signature in a batch of {} {batch_us:.1} µs, on one core",
        agentmesh::identity::verify::MAX_BATCH
    );
    let discovery = agentmesh::discovery::Discovery::new(
        agentmesh::discovery::builtin_embedder(),
        agentmesh::discovery::DEFAULT_LEXICAL_WEIGHT,
    );
    let cards: Vec<_> = sample[..sample.len().min(2000)]
        .iter()
        .map(|b| agentmesh::card::Card::from_slice(b).expect("valid"))
        .collect();
    // The model loads on first use: not part of a card's cost.
    std::hint::black_box(discovery.prepare(cards[0].manifest()));
    let t = Instant::now();
    for c in &cards {
        std::hint::black_box(discovery.prepare(c.manifest()));
    }
    let embed_us = t.elapsed().as_secs_f64() * 1e6 / cards.len() as f64;
    println!(
        "embed: discovery fields + embedding + quantization of one card: {embed_us:.1} µs on one core"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    if let Some(mode) = opts.ceiling {
        let addr = server_rt.block_on(spawn_ceiling(mode));
        let (rate, latencies) = drive(&opts, addr, bodies);
        println!(
            "ceiling {mode:?} ({} client): {} requests, {} clients: {rate:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
            if opts.raw { "raw" } else { "reqwest" },
            opts.cards,
            opts.clients,
            percentile_ms(&latencies, 0.50),
            percentile_ms(&latencies, 0.99),
        );
        return;
    }
    let node = server_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut config = NodeConfig::new(dir.path());
        config.store = StoreOptions {
            durability: opts.durability,
            ..StoreOptions::default()
        };
        config.ann_min_cards = opts.ann_min;
        Node::spawn(listener, config, async {
            let _ = stop_rx.await;
        })
        .await
        .expect("node")
    });
    let url = format!("http://{}", node.addr);
    let (rate, latencies) = drive(&opts, node.addr, bodies);
    // Past the graph's size the node builds the graph, then inserts into it, in the
    // background: how far behind it was when the last card was answered, and how long it took
    // to catch up.
    let (stats, behind, caught_up) = server_rt.block_on(async {
        let client = Client::new(&url, Duration::from_secs(30)).expect("client");
        let first = client.node_info().await.expect("node info");
        let t = Instant::now();
        let mut info = first.clone();
        let graph_due = |i: &agentmesh::wire::NodeInfo| {
            i.graph_pending > 0 || (i.search != "graph" && i.indexed >= opts.ann_min as u64)
        };
        while graph_due(&info) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            info = client.node_info().await.expect("node info");
        }
        let behind = if first.search == "graph" {
            first.graph_pending
        } else {
            first.indexed
        };
        let caught_up = t.elapsed().as_secs_f64();
        // `GET /v1/node` at this size: `top` and the dashboard poll it every second.
        let mut info_us: Vec<u64> = Vec::with_capacity(200);
        for _ in 0..200 {
            let t = Instant::now();
            client.node_info().await.expect("node info");
            info_us.push(t.elapsed().as_micros() as u64);
        }
        info_us.sort_unstable();
        println!(
            "node info: GET /v1/node at {} cards, p50 {:.2} ms, p99 {:.2} ms (200 calls, one at a time)",
            info.agents,
            percentile_ms(&info_us, 0.50),
            percentile_ms(&info_us, 0.99)
        );
        (info, behind, caught_up)
    });
    let _ = stop_tx.send(());
    server_rt.block_on(node.task).expect("join").expect("node");

    let elapsed = opts.cards as f64 / rate;
    println!(
        "ingest ({} client): {} cards, {} clients, durability {:?}: {:.0} cards/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({:.1}s); commits {} (max batch {})",
        if opts.raw { "raw" } else { "reqwest" },
        opts.cards,
        opts.clients,
        opts.durability,
        rate,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        percentile_ms(&latencies, 1.0),
        elapsed,
        stats.store.commits,
        stats.store.max_batch,
    );
    println!(
        "search: {} over {} cards; graph behind by {behind} cards at the end, caught up {caught_up:.1}s later",
        stats.search, stats.indexed
    );
    assert_eq!(stats.agents, opts.cards as u64, "every card stored");
}

/// Runs the clients against `addr` until every body is sent: the rate and the sorted
/// latencies (µs).
fn drive(opts: &Opts, addr: std::net::SocketAddr, bodies: Vec<Vec<u8>>) -> (f64, Vec<u64>) {
    let url = format!("http://{addr}");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu::cpu_seconds();
    let started = Instant::now();
    let mut latencies: Vec<u64> = client_rt.block_on(async {
        let client = Client::new(&url, Duration::from_secs(30)).expect("client");
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..opts.clients {
            let (client, bodies, next, done) =
                (client.clone(), bodies.clone(), next.clone(), done.clone());
            let raw = opts.raw;
            set.spawn(async move {
                let mut lat = Vec::new();
                let mut conn = if raw {
                    Some(raw_http::Conn::open(addr).await)
                } else {
                    None
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return lat;
                    };
                    let t = Instant::now();
                    match &mut conn {
                        Some(c) => {
                            let status = c.request("POST", "/v1/agents", &[], body).await;
                            assert!((200..300).contains(&status), "HTTP {status}");
                        }
                        None => {
                            client.register_raw(body.clone()).await.expect("registered");
                        }
                    }
                    lat.push(t.elapsed().as_micros() as u64);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // Progress: the rate of each tenth of the run, to show whether ingest slows as the
        // node fills up.
        let marks = {
            let done = done.clone();
            let total = opts.cards;
            tokio::spawn(async move {
                let mut marks = Vec::new();
                let mut next = total / 10;
                while next <= total && next > 0 {
                    if done.load(Ordering::Relaxed) >= next {
                        marks.push(Instant::now());
                        next += total / 10;
                    } else {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                marks
            })
        };
        let mut all = Vec::with_capacity(opts.cards);
        while let Some(r) = set.join_next().await {
            all.extend(r.expect("worker"));
        }
        let marks = marks.await.expect("marks");
        let mut prev = started;
        let rates: Vec<String> = marks
            .iter()
            .map(|m| {
                let r = (opts.cards / 10) as f64 / m.duration_since(prev).as_secs_f64();
                prev = *m;
                format!("{r:.0}")
            })
            .collect();
        println!(
            "ingest rate per tenth of the run (cards/s): {}",
            rates.join(" ")
        );
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu::cpu_seconds() - cpu_before;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "cpu: {:.0} µs a card, client and server together; {:.0} % of {cores} cores busy",
        cpu * 1e6 / opts.cards as f64,
        cpu / elapsed / cores * 100.0
    );
    latencies.sort_unstable();
    (opts.cards as f64 / elapsed, latencies)
}

/// A server with only what `mode` names, on the caller's runtime; its address.
async fn spawn_ceiling(mode: Ceiling) -> std::net::SocketAddr {
    use axum::body::Bytes;
    use axum::http::StatusCode;
    let discovery = Arc::new(agentmesh::discovery::Discovery::new(
        agentmesh::discovery::builtin_embedder(),
        agentmesh::discovery::DEFAULT_LEXICAL_WEIGHT,
    ));
    let app = axum::Router::new().route(
        "/v1/agents",
        axum::routing::post(move |body: Bytes| {
            let discovery = discovery.clone();
            async move {
                let id = match mode {
                    Ceiling::Http => String::new(),
                    Ceiling::Verify => {
                        let card = agentmesh::card::Card::from_slice_batched(&body)
                            .await
                            .expect("a valid card");
                        std::hint::black_box(discovery.prepare(card.manifest()));
                        card.agent_id
                    }
                };
                (
                    StatusCode::CREATED,
                    axum::Json(serde_json::json!({"agent_id": id, "seq": 1, "status": "created"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[path = "common/cpu.rs"]
mod cpu;

#[path = "common/raw_http.rs"]
mod raw_http;
