//! Invocation benchmark: small JSON calls straight to an agent vs. through a node's gateway
//! (which admits, verifies the signature and forwards), at concurrency 1 and 64, plus the 429
//! path of an agent over its `qps_budget`. Everything runs on this machine over loopback.
//!
//! Run: `cargo bench --bench invoke -- [--requests 20000] [--rounds 3]` (`--rounds`: side-by-side
//! direct/gateway rounds at concurrency 1, whose median overhead is reported)

use std::collections::HashMap;
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

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/raw_http.rs"]
mod raw_http;
#[path = "common/stats.rs"]
mod stats;

struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// Answers whose status was not the one wanted.
    other: usize,
    secs: f64,
}

/// Sends pre-signed requests from `conc` keep-alive connections; counts statuses other than
/// `want` (the caller decides how many are acceptable).
fn drive(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    path: Arc<String>,
    reqs: Arc<Vec<Vec<(&'static str, String)>>>,
    conc: usize,
    want: u16,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let lat: Vec<u64> = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..conc {
            let (next, reqs, path) = (next.clone(), reqs.clone(), path.clone());
            set.spawn(async move {
                let mut c = raw_http::Conn::open(addr).await;
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(h) = reqs.get(i) else { return lat };
                    let t = Instant::now();
                    let status = c.request("POST", &path, h, br#"{"city":"Paris"}"#).await;
                    lat.push((t.elapsed().as_micros() as u64) << 1 | u64::from(status != want));
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
    let other = lat.iter().filter(|l| *l & 1 == 1).count();
    let mut lat: Vec<u64> = lat.into_iter().map(|l| l >> 1).collect();
    lat.sort_unstable();
    let pct = |p: f64| stats::percentile(&lat, p);
    Run {
        rps: lat.len() as f64 / secs,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        other,
        secs,
    }
}

fn main() {
    let mut n = 20_000usize;
    let mut only: Option<String> = None;
    let mut c1_rounds = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--requests" => n = args.next().expect("N").parse().expect("number"),
            "--only" => only = args.next(),
            "--rounds" => {
                c1_rounds = args
                    .next()
                    .expect("N")
                    .parse::<usize>()
                    .expect("number")
                    .max(1)
            }
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
    // The agent runs on its own single-threaded runtime and OS thread, as a separate program
    // would; the node gets the two-worker runtime.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            let app = axum::Router::new().fallback(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"forecast":"sun","temp_c":21}"#,
                )
            });
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
        Node::spawn(l, NodeConfig::new(dir.path()), std::future::pending())
            .await
            .expect("node")
    });
    // Two agents at the same upstream: one unlimited, one with qps_budget 1 (the 429 path).
    let agent = Identity::generate();
    let limited = Identity::generate();
    client_rt.block_on(async {
        let client =
            Client::new(&format!("http://{}", node.addr), Duration::from_secs(10)).expect("client");
        for (id, qps) in [(&agent, None), (&limited, Some(1.0))] {
            let mut m = Manifest::new(id.id(), "bench", now_unix());
            m.endpoint = Some(format!("http://{upstream}"));
            m.qps_budget = qps;
            client
                .register(&sign_manifest(m.to_value(), id).expect("sign"))
                .await
                .expect("register");
        }
    });
    let caller = Identity::generate();
    let sign_all = |target: &Identity, count: usize| -> Arc<Vec<Vec<(&'static str, String)>>> {
        Arc::new(
            (0..count)
                .map(|_| {
                    sign_request(
                        &caller,
                        target.id(),
                        "POST",
                        "/forecast",
                        br#"{"city":"Paris"}"#,
                        now_unix(),
                    )
                    .headers()
                    .to_vec()
                })
                .collect(),
        )
    };
    let gateway_path = Arc::new(format!("/v1/agents/{}/invoke/forecast", agent.id()));
    let limited_path = Arc::new(format!("/v1/agents/{}/invoke/forecast", limited.id()));
    let direct_path = Arc::new("/forecast".to_string());
    println!(
        "invoke ({n} requests a run, small JSON, loopback, 2 cores shared by client, node and agent)"
    );
    println!("| path | concurrency | req/s | p50 µs | p99 µs |");
    println!("|---|---|---|---|---|");
    // At concurrency 1 the two paths alternate for `rounds` rounds and each row is the round
    // with the median p50: this machine drifts between fast and slow phases within minutes, and
    // the overhead is only meaningful between a direct and a gateway run made side by side.
    let mut overheads = Vec::new();
    for conc in [1usize, 64] {
        let (count, rounds) = if conc == 1 {
            (n / 4, c1_rounds)
        } else {
            (n, 1)
        };
        let mut runs: HashMap<&str, Vec<Run>> = HashMap::new();
        for _ in 0..rounds {
            for (name, addr, path) in [
                ("direct", upstream, direct_path.clone()),
                ("gateway", node.addr, gateway_path.clone()),
            ] {
                if only.as_deref().is_some_and(|o| o != name) {
                    continue;
                }
                let r = drive(&client_rt, addr, path, sign_all(&agent, count), conc, 200);
                assert_eq!(r.other, 0, "{name}: every call answers 200");
                runs.entry(name).or_default().push(r);
            }
            if conc == 1
                && let (Some(d), Some(g)) = (runs.get("direct"), runs.get("gateway"))
            {
                overheads.push(g[g.len() - 1].p50_us - d[d.len() - 1].p50_us);
            }
        }
        for name in ["direct", "gateway"] {
            let Some(mut rs) = runs.remove(name) else {
                continue;
            };
            rs.sort_by(|a, b| a.p50_us.total_cmp(&b.p50_us));
            let r = &rs[rs.len() / 2];
            println!(
                "| {name} | {conc} | {:.0} | {:.0} | {:.0} |",
                r.rps, r.p50_us, r.p99_us
            );
        }
    }
    if only.is_some() {
        return;
    }
    // The first call spends the bucket's one token; the rest are refused with 429.
    let _ = drive(
        &client_rt,
        node.addr,
        limited_path.clone(),
        sign_all(&limited, 1),
        1,
        200,
    );
    let r = drive(
        &client_rt,
        node.addr,
        limited_path,
        sign_all(&limited, n),
        64,
        429,
    );
    // The bucket refills at 1/s during the run: those calls are admitted, all others refused.
    assert!(
        r.other as f64 <= r.secs.ceil() + 1.0,
        "{} calls admitted in {:.1}s at qps_budget 1",
        r.other,
        r.secs
    );
    println!(
        "| gateway 429 (over qps_budget) | 64 | {:.0} | {:.0} | {:.0} |",
        r.rps, r.p50_us, r.p99_us
    );
    overheads.sort_by(f64::total_cmp);
    println!(
        "gateway overhead at p50 (concurrency 1): {:.0} µs median of {} side-by-side rounds ({})",
        overheads[overheads.len() / 2],
        overheads.len(),
        overheads
            .iter()
            .map(|o| format!("{o:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
