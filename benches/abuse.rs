//! Abuse benchmark: does a node hold up under hostile clients? It starts `agentmesh serve` as a
//! subprocess (a temporary `AGENTMESH_HOME`; `AGENTMESH_SYNC_INTERVAL=1s` so it pulls from a
//! new peer at once), measures its idle RSS, then runs four attacks one after the other, each
//! for `--secs` seconds, while a prober sends `GET /healthz` every 20 ms (alternately on a
//! kept-alive and on a fresh connection; 2 s timeout; a failed probe counts with the time until
//! it failed):
//! - `slow`: `--conns` connections trickle a request head, one byte every 3–4.5 s, never ending;
//! - `headers`: `--conns` connections send one header line growing toward 1 MiB in 16 KiB writes;
//! - `bodies`: `--conns` POSTs to `/v1/agents`, `/v1/sync/push`, `/v1/trust/<did>/events` and
//!   `/v1/agents/<did>/invoke/x` (a registered agent), half with `Content-Length: 10 GiB`, half
//!   chunked without end, trickling 4 KiB every 250 ms;
//! - `page`: a fake peer on loopback (it signs the node's challenge) is announced with a signed
//!   `POST /v1/peers`, then answers every `GET /v1/sync` with a 600 MB JSON page made on the fly.
//!
//! Connections the node closes are reopened (after 250 ms) and counted, as are the statuses it
//! answers. Per attack: the node's peak RSS (VmRSS, sampled every 20 ms) and its excess over the
//! idle RSS (the least over 2 s, 12 s after the start), /healthz p50/p99/max and failures; then
//! a table and the goal, RSS ≤ idle + 64 MB and /healthz p99 ≤ 50 ms with no failed probe,
//! PASS/FAIL per attack (`FAIL*`: the attack began over the goal, on memory the node kept from
//! an earlier one; `--only` runs it alone). All traffic stays on 127.0.0.1; every socket
//! operation has a timeout and the node is killed at the end.
//!
//! Run: `cargo bench --bench abuse -- --secs 30` (also `--conns 2000`, `--only
//! slow|headers|bodies|page` (comma-separated), `--bin PATH` to attack another agentmesh binary
//! for A/B, `--json` for one JSON object on stdout with progress on stderr).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use agentmesh::card::{Manifest, sign_manifest};
use agentmesh::encoding::now_unix;
use agentmesh::federation::{Announcement, node_challenge_string};
use agentmesh::identity::Identity;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse as _, Response};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant as TInstant, sleep_until, timeout};

const IO_TIMEOUT: Duration = Duration::from_secs(2);
const PROBE_EVERY: Duration = Duration::from_millis(20);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const REOPEN_AFTER: Duration = Duration::from_millis(250);
const RSS_SLACK_MB: f64 = 64.0;
const P99_GOAL_MS: f64 = 50.0;
const PAGE_BYTES: usize = 600_000_000;
const HUGE_LENGTH: &str = "content-length: 10737418240";
const ATTACKS: [&str; 4] = ["slow", "headers", "bodies", "page"];

fn status_of(buf: &[u8]) -> Option<u16> {
    let code = buf.strip_prefix(b"HTTP/1.")?.get(2..5)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// Writes `req` and reads one whole answer (its body by Content-Length): status and body.
async fn roundtrip(s: &mut TcpStream, req: &[u8]) -> Result<(u16, Vec<u8>), &'static str> {
    s.write_all(req).await.map_err(|_| "closed")?;
    let (mut buf, mut chunk) = (Vec::with_capacity(512), [0u8; 4096]);
    let mut end = None;
    while end.is_none_or(|(e, len)| buf.len() < e + len) {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err("closed"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if end.is_none()
            && let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head.lines().find_map(|l| l.strip_prefix("content-length:"));
            end = Some((i + 4, len.and_then(|v| v.trim().parse().ok()).unwrap_or(0)));
        }
    }
    let body = buf.split_off(end.map_or(0, |e| e.0));
    Ok((status_of(&buf).ok_or("bad answer")?, body))
}

/// One request on a fresh connection, 15 s at most.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<(u16, String), String> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let go = async {
        let mut s = TcpStream::connect(addr).await.map_err(|_| "refused")?;
        roundtrip(&mut s, &[head.as_bytes(), body].concat()).await
    };
    match timeout(Duration::from_secs(15), go).await {
        Ok(Ok((code, body))) => Ok((code, String::from_utf8_lossy(&body).into_owned())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    }
}

type Pool = Arc<Mutex<Vec<TcpStream>>>;

/// `GET /healthz` on a kept-alive connection from `pool` (`keep`) or on a fresh one.
async fn probe(addr: SocketAddr, pool: Pool, keep: bool) -> Result<(), &'static str> {
    let req: &[u8] = match keep {
        true => b"GET /healthz HTTP/1.1\r\nhost: bench\r\n\r\n",
        false => b"GET /healthz HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n",
    };
    let mut pooled = keep.then(|| pool.lock().expect("pool").pop()).flatten();
    let mut answer = None;
    if let Some(s) = &mut pooled {
        // One the node has closed since is retried on a fresh connection, as clients do.
        answer = roundtrip(s, req).await.ok();
    }
    let (s, code) = match (pooled, answer) {
        (Some(s), Some((code, _))) => (s, code),
        _ => {
            let mut s = TcpStream::connect(addr).await.map_err(|_| "refused")?;
            let _ = s.set_nodelay(true);
            let code = roundtrip(&mut s, req).await?.0;
            (s, code)
        }
    };
    if code != 200 {
        return Err("not 200");
    }
    if keep {
        pool.lock().expect("pool").push(s);
    }
    Ok(())
}

#[derive(Default)]
struct Probes {
    lat_us: Vec<u64>,
    fails: BTreeMap<&'static str, u64>,
    /// The node's peak RSS, MB.
    peak_rss: f64,
}

impl Probes {
    fn failures(&self) -> u64 {
        self.fails.values().sum()
    }

    /// (p50, p99, max) in ms.
    fn pcts(&self) -> (f64, f64, f64) {
        let mut v = self.lat_us.clone();
        v.sort_unstable();
        let at = |p: f64| stats::percentile(&v, p) / 1000.0;
        (at(0.5), at(0.99), at(1.0))
    }
}

/// Probes `/healthz` and samples the node's RSS every 20 ms, on its own thread and runtime (so
/// the attackers cannot delay it), until `stop` or `until`.
fn prober(node: &NodeProc, stop: Arc<AtomicBool>, until: Instant) -> JoinHandle<Probes> {
    let (addr, pid) = (node.addr, node.pid());
    std::thread::spawn(move || {
        let rt = runtime(false);
        let out = Arc::new(Mutex::new(Probes::default()));
        let pool: Pool = Arc::default();
        let peak_rss = rt.block_on(async {
            let (mut set, mut peak) = (tokio::task::JoinSet::new(), 0f64);
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            for i in 0u64.. {
                if stop.load(Relaxed) || Instant::now() >= until {
                    break;
                }
                tick.tick().await;
                peak = peak.max(rss_mb(pid));
                while set.try_join_next().is_some() {}
                let (out, pool) = (out.clone(), pool.clone());
                set.spawn(async move {
                    let t = Instant::now();
                    let r = timeout(PROBE_TIMEOUT, probe(addr, pool, i % 2 == 0)).await;
                    let us = t.elapsed().as_micros() as u64;
                    let mut o = out.lock().expect("probes");
                    o.lat_us.push(us);
                    if let Err(kind) = r.unwrap_or(Err("timeout")) {
                        *o.fails.entry(kind).or_default() += 1;
                    }
                });
            }
            let drain = async { while set.join_next().await.is_some() {} };
            let _ = timeout(PROBE_TIMEOUT + Duration::from_millis(500), drain).await;
            peak
        });
        let probes = std::mem::take(&mut *out.lock().expect("probes"));
        Probes { peak_rss, ..probes }
    })
}

/// What one attacking connection sends: `first` bytes of `bytes` at once, then `step` bytes
/// every `every` (jittered per connection); once `bytes` is spent it holds the connection.
struct Plan {
    /// Names the statuses it gets (bodies: method, route and framing).
    label: String,
    bytes: Vec<u8>,
    first: usize,
    step: usize,
    every: Duration,
}

fn plan(label: String, bytes: Vec<u8>, first: usize, step: usize, every: Duration) -> Arc<Plan> {
    Arc::new(Plan {
        label,
        bytes,
        first,
        step,
        every,
    })
}

/// Named counts of an attack, shared by its tasks.
#[derive(Default)]
struct Counts {
    map: Mutex<BTreeMap<String, u64>>,
    open: AtomicU64,
}

impl Counts {
    fn add(&self, k: &str, v: u64) {
        let mut m = self.map.lock().expect("counts");
        *m.entry(k.into()).or_default() += v;
    }

    fn max(&self, k: &str, v: u64) {
        let mut m = self.map.lock().expect("counts");
        let e = m.entry(k.into()).or_default();
        *e = (*e).max(v);
    }

    fn report(&self) -> Vec<(String, u64)> {
        let m = self.map.lock().expect("counts");
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

enum End {
    Closed,
    Status(u16),
    Deadline,
}

/// One attacking connection, reopened until `deadline` whenever the node ends it.
async fn hammer(
    addr: SocketAddr,
    plan: Arc<Plan>,
    every: Duration,
    c: Arc<Counts>,
    deadline: TInstant,
) {
    let pause = || sleep_until((TInstant::now() + REOPEN_AFTER).min(deadline));
    while TInstant::now() < deadline {
        let Ok(Ok(s)) = timeout(IO_TIMEOUT, TcpStream::connect(addr)).await else {
            c.add("connect_failed", 1);
            pause().await;
            continue;
        };
        c.add("opened", 1);
        c.max("peak_open", c.open.fetch_add(1, Relaxed) + 1);
        let (mut rd, mut wr) = s.into_split();
        let (mut sent, mut got, mut buf) = (0usize, Vec::new(), [0u8; 1024]);
        let mut next = TInstant::now();
        let end = loop {
            let len = if sent == 0 { plan.first } else { plan.step }.min(plan.bytes.len() - sent);
            let wake = if len > 0 { next } else { deadline }.min(deadline);
            tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break End::Closed,
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        if let Some(code) = status_of(&got) {
                            break End::Status(code);
                        }
                        if got.len() > 4096 {
                            break End::Closed;
                        }
                    }
                },
                () = sleep_until(wake) => {
                    if TInstant::now() >= deadline {
                        break End::Deadline;
                    }
                    match timeout(IO_TIMEOUT, wr.write_all(&plan.bytes[sent..sent + len])).await {
                        Ok(Ok(())) => {
                            sent += len;
                            c.add("bytes_sent", len as u64);
                        }
                        Ok(Err(_)) => break End::Closed,
                        Err(_) => c.add("write_stalled", 1),
                    }
                    next = TInstant::now() + every;
                }
            }
        };
        c.open.fetch_sub(1, Relaxed);
        match end {
            End::Deadline => break,
            End::Closed => c.add("closed_by_node", 1),
            End::Status(code) => c.add(&format!("http_{code}{}", plan.label), 1),
        }
        c.max("most_bytes_sent_before_node_ended", sent as u64);
        pause().await;
    }
}

/// `conns` connections, the i-th following `plans[i % len]`, opened over a short ramp.
async fn swarm(
    addr: SocketAddr,
    plans: Vec<Arc<Plan>>,
    conns: usize,
    deadline: TInstant,
) -> Vec<(String, u64)> {
    let c = Arc::new(Counts::default());
    for k in [
        "opened",
        "peak_open",
        "closed_by_node",
        "connect_failed",
        "write_stalled",
    ] {
        c.add(k, 0);
    }
    let now = TInstant::now();
    let ramp = ((deadline - now) / 4).min(Duration::from_secs(2));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..conns {
        let plan = plans[i % plans.len()].clone();
        let every = plan.every.mul_f64(1.0 + (i * 7919 % 1000) as f64 / 2000.0);
        let (start, c) = (now + ramp.mul_f64(i as f64 / conns as f64), c.clone());
        set.spawn(async move {
            sleep_until(start).await;
            hammer(addr, plan, every, c, deadline).await;
        });
    }
    let all = async { while set.join_next().await.is_some() {} };
    let _ = timeout(deadline - now + Duration::from_secs(5), all).await;
    set.abort_all();
    c.report()
}

fn slow_plans() -> Vec<Arc<Plan>> {
    let mut bytes = b"GET /healthz HTTP/1.1\r\nhost: bench\r\n".to_vec();
    while bytes.len() < 8192 {
        bytes.extend_from_slice(b"x-slow: a\r\n"); // never the blank line that ends a head
    }
    vec![plan(String::new(), bytes, 1, 1, Duration::from_secs(3))]
}

fn header_plans(secs: u64) -> Vec<Arc<Plan>> {
    let mut bytes = b"GET /healthz HTTP/1.1\r\nhost: bench\r\nx-pad: ".to_vec();
    let first = bytes.len();
    bytes.resize(first + (1 << 20), b'a');
    // 64 writes of 16 KiB: 1 MiB in half the attack.
    let every = Duration::from_millis((secs * 1000 / 2 / 64).clamp(20, 500));
    vec![plan(String::new(), bytes, first, 16 << 10, every)]
}

fn body_plans(did: &str) -> Vec<Arc<Plan>> {
    let paths = [
        "/v1/agents",
        "/v1/sync/push",
        &format!("/v1/trust/{did}/events"),
        &format!("/v1/agents/{did}/invoke/x"),
    ];
    let mut plans = Vec::new();
    for path in paths {
        for chunked in [false, true] {
            let framing = [HUGE_LENGTH, "transfer-encoding: chunked"][usize::from(chunked)];
            let mut bytes =
                format!("POST {path} HTTP/1.1\r\nhost: bench\r\n{framing}\r\n\r\n").into_bytes();
            let first = bytes.len();
            while bytes.len() < first + (1 << 20) {
                if chunked {
                    bytes.extend_from_slice(b"1000\r\n"); // 4096 bytes; never the last chunk
                }
                bytes.resize(bytes.len() + 4096, b'a');
                if chunked {
                    bytes.extend_from_slice(b"\r\n");
                }
            }
            let step = 4096 + 6 * usize::from(chunked);
            let label = format!(
                " POST {path} {}",
                ["length", "chunked"][usize::from(chunked)]
            );
            let label = label.replace(did, "<did>");
            plans.push(plan(label, bytes, first, step, Duration::from_millis(250)));
        }
    }
    plans
}

/// The fake peer of the `page` attack and what it was asked.
struct FakePeer {
    id: Identity,
    chunk: Bytes,
    counts: Counts,
}

/// Proves its ID like a node, lists no peers, and answers `GET /v1/sync` with a 600 MB page
/// (valid JSON, streamed from one shared chunk of records).
async fn fake_peer(
    State(p): State<Arc<FakePeer>>,
    Query(q): Query<HashMap<String, String>>,
    method: axum::http::Method,
    uri: Uri,
) -> Response {
    p.counts.add(&format!("{method} {}", uri.path()), 1);
    match uri.path() {
        "/v1/node" => {
            let sign = |c: &String| {
                p.id.sign_b64(node_challenge_string(p.id.id(), c).as_bytes())
            };
            let sig = q.get("challenge").map(sign);
            axum::Json(json!({"node_id": p.id.id(), "challenge_signature": sig})).into_response()
        }
        "/v1/peers" => axum::Json(json!({"peers": []})).into_response(),
        "/v1/sync" => {
            let head = format!(
                r#"{{"node_id":"{}","more":false,"records":[{{"seq":1,"card":{{}}}}"#,
                p.id.id()
            );
            let n = PAGE_BYTES / p.chunk.len();
            let parts = std::iter::once(Bytes::from(head))
                .chain(std::iter::repeat_n(p.chunk.clone(), n))
                .chain(std::iter::once(Bytes::from_static(b"]}")));
            let (p, mut left) = (p.clone(), n + 2);
            let stream = futures_util::stream::iter(parts).map(move |b| {
                p.counts.add("mb_streamed", b.len() as u64);
                left -= 1;
                p.counts.add("pages_streamed_whole", u64::from(left == 0));
                Ok::<_, std::convert::Infallible>(b)
            });
            let ct = [(axum::http::header::CONTENT_TYPE, "application/json")];
            (ct, axum::body::Body::from_stream(stream)).into_response()
        }
        _ => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// Runs the fake peer on its own runtime, announces it, waits out the attack.
fn page_attack(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    deadline: TInstant,
) -> Vec<(String, u64)> {
    let record = format!(r#",{{"seq":2,"card":{{"pad":"{}"}}}}"#, "a".repeat(1000));
    let (id, chunk) = (Identity::generate(), Bytes::from(record.repeat(256)));
    let p = Arc::new(FakePeer {
        id,
        chunk,
        counts: Counts::default(),
    });
    let peer_rt = runtime(true);
    let listener = peer_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .fallback(fake_peer)
        .with_state(p.clone());
    peer_rt.spawn(async move { axum::serve(listener, app).await });
    let ann = serde_json::to_vec(&Announcement::sign(&p.id, &url)).expect("announcement");
    let announced = rt.block_on(async {
        let r = request(addr, "POST", "/v1/peers", &ann).await;
        sleep_until(deadline).await;
        r
    });
    peer_rt.shutdown_background(); // ends the streams in flight too
    if !matches!(announced, Ok((200..300, _))) {
        eprintln!("  the node did not take the announcement: {announced:?}");
    }
    let status = announced.map_or(0, |(code, _)| code);
    let mut v = vec![("announce_status".to_string(), u64::from(status))];
    let mb = |(k, n): (String, u64)| {
        (
            k.clone(),
            if k == "mb_streamed" { n / 1_000_000 } else { n },
        )
    };
    v.extend(p.counts.report().into_iter().map(mb));
    v
}

struct Row {
    name: &'static str,
    rss_start: f64,
    peak: f64,
    excess: f64,
    probes: Probes,
    counts: Vec<(String, u64)>,
    note: Option<String>,
}

impl Row {
    fn pass(&self) -> bool {
        let p99 = self.probes.pcts().1;
        self.note.is_none()
            && self.excess <= RSS_SLACK_MB
            && p99 <= P99_GOAL_MS
            && self.probes.failures() == 0
    }

    /// Whether the attack began over the goal already (memory kept from an earlier attack).
    fn carried_over(&self) -> bool {
        self.rss_start - (self.peak - self.excess) > RSS_SLACK_MB
    }

    fn verdict(&self) -> &'static str {
        match (self.pass(), self.carried_over()) {
            (true, _) => "PASS",
            (false, false) => "FAIL",
            (false, true) => "FAIL*",
        }
    }

    fn to_json(&self) -> Value {
        let (p, (p50, p99, max)) = (&self.probes, self.probes.pcts());
        json!({
            "attack": self.name, "rss_start_mb": self.rss_start, "peak_rss_mb": self.peak,
            "excess_mb": self.excess, "pass": self.pass(), "carried_over": self.carried_over(),
            "note": self.note,
            "healthz": {"probes": p.lat_us.len(), "p50_ms": p50, "p99_ms": p99, "max_ms": max,
                "failures": p.failures(), "failure_kinds": p.fails},
            "counts": self.counts.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// Runs attack `name` for `secs` while probing and sampling the node.
fn run_attack(
    rt: &tokio::runtime::Runtime,
    node: &mut NodeProc,
    name: &'static str,
    secs: u64,
    conns: usize,
    did: &str,
    idle: f64,
) -> Row {
    let stop = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + Duration::from_secs(secs + 30);
    let rss_start = rss_mb(node.pid());
    let prober = prober(node, stop.clone(), until);
    let deadline = TInstant::now() + Duration::from_secs(secs);
    let counts = match name {
        "slow" => rt.block_on(swarm(node.addr, slow_plans(), conns, deadline)),
        "headers" => rt.block_on(swarm(node.addr, header_plans(secs), conns, deadline)),
        "bodies" => rt.block_on(swarm(node.addr, body_plans(did), conns, deadline)),
        _ => page_attack(rt, node.addr, deadline),
    };
    stop.store(true, Relaxed);
    let probes = prober.join().expect("prober");
    let peak = probes.peak_rss;
    let note = node
        .exited()
        .map(|s| format!("node exited ({s}); its log:\n{}", node.log_tail()));
    let excess = peak - idle;
    Row {
        name,
        rss_start,
        peak,
        excess,
        probes,
        counts,
        note,
    }
}

/// A runtime on this thread, or (`worker`) on one worker thread of its own.
fn runtime(worker: bool) -> tokio::runtime::Runtime {
    let mut b = match worker {
        true => tokio::runtime::Builder::new_multi_thread(),
        false => tokio::runtime::Builder::new_current_thread(),
    };
    b.worker_threads(1).enable_all().build().expect("runtime")
}

fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut l = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

#[path = "common/node_proc.rs"]
mod node_proc;
use node_proc::{NodeProc, rss_mb};
#[path = "common/stats.rs"]
mod stats;
fn main() {
    let (mut secs, mut conns, mut only, mut bin, mut as_json) =
        (30u64, 2000usize, None, None, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).expect("--secs N"),
            "--conns" => conns = args.next().and_then(|v| v.parse().ok()).expect("--conns N"),
            "--only" => only = args.next(),
            "--bin" => bin = args.next(),
            "--json" => as_json = true,
            "--bench" => {}
            other => panic!(
                "unknown flag {other} (--secs N --conns N --only slow|headers|bodies|page --bin PATH --json)"
            ),
        }
    }
    let only = only.unwrap_or_else(|| ATTACKS.join(","));
    let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
    let unknown = wanted.iter().find(|w| !ATTACKS.contains(w));
    assert!(
        unknown.is_none(),
        "--only takes slow, headers, bodies or page"
    );
    let say = |s: String| match as_json {
        true => eprintln!("{s}"),
        false => println!("{s}"),
    };
    let bin = bin.unwrap_or_else(|| env!("CARGO_BIN_EXE_agentmesh").to_string());
    let (started, mut node) = (
        Instant::now(),
        NodeProc::start(&bin, &[("AGENTMESH_SYNC_INTERVAL", "1s")]),
    );
    // The node keeps the open-file limit it was started with; only this process is raised.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", node.pid()));
    let limits = limits.unwrap_or_default();
    let fd_line = limits.lines().find(|l| l.starts_with("Max open files"));
    let fd_limit = fd_line
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap_or("?");
    raise_fd_limit();
    let rt = runtime(false);
    // A registered agent gives the trust and invoke routes a real target (its endpoint is never
    // called: the attack's requests are unsigned). Registering also loads the embedder, which
    // belongs to the idle figure.
    let agent = Identity::generate();
    let mut m = Manifest::new(agent.id(), "abuse-target", now_unix());
    m.endpoint = Some("http://127.0.0.1:9".into());
    let envelope = sign_manifest(m.to_value(), &agent).expect("sign");
    let body = envelope.to_string();
    let registered = rt.block_on(request(node.addr, "POST", "/v1/agents", body.as_bytes()));
    if !matches!(registered, Ok((200..300, _))) {
        eprintln!("warning: registering the target agent: {registered:?}");
    }
    for _ in 0..10 {
        let _ = rt.block_on(request(node.addr, "GET", "/healthz", b""));
    }
    // Idle: the least RSS over 2 s, from 12 s after the start (the node gives back ~20 MB of
    // start-up memory about 10 s after it starts).
    std::thread::sleep(Duration::from_secs(12).saturating_sub(started.elapsed()));
    let mut idle = f64::MAX;
    for _ in 0..20 {
        idle = idle.min(rss_mb(node.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (pid, addr) = (node.pid(), node.addr);
    say(format!(
        "node {bin} (pid {pid}) at {addr}: idle RSS {idle:.1} MB"
    ));
    say(format!(
        "node open files limit {fd_limit}; {secs} s per attack, {conns} connections"
    ));
    let mut rows: Vec<Row> = Vec::new();
    for name in ATTACKS.into_iter().filter(|a| wanted.contains(a)) {
        if let Some(status) = node.exited() {
            say(format!("{name}: skipped, the node exited ({status})"));
            break;
        }
        say(format!("{name}: {secs} s…"));
        let r = run_attack(&rt, &mut node, name, secs, conns, agent.id(), idle);
        let ((p50, p99, max), fails, n) =
            (r.probes.pcts(), r.probes.failures(), r.probes.lat_us.len());
        let (peak, excess, start, kinds) = (r.peak, r.excess, r.rss_start, &r.probes.fails);
        say(format!(
            "  RSS peak {peak:.1} MB, {excess:+.1} MB over idle ({start:.1} MB at start)"
        ));
        say(format!(
            "  /healthz p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; {fails} of {n} failed {kinds:?}"
        ));
        let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        say(format!("  {}", counts.join(", ")));
        if let Some(note) = &r.note {
            say(format!("  {note}"));
        }
        rows.push(r);
        std::thread::sleep(Duration::from_secs(2)); // the node drops the attack's connections
    }
    let goal = format!("RSS ≤ idle + {RSS_SLACK_MB:.0} MB and /healthz p99 ≤ {P99_GOAL_MS:.0} ms");
    if as_json {
        let attacks: Vec<Value> = rows.iter().map(Row::to_json).collect();
        let (final_mb, ok) = (rss_mb(node.pid()), rows.iter().all(Row::pass));
        println!(
            "{}",
            json!({"bin": bin, "secs": secs, "conns": conns, "idle_rss_mb": idle, "final_rss_mb": final_mb,
                "node_open_files_limit": fd_limit, "goal": goal, "pass": ok, "attacks": attacks})
        );
        return;
    }
    println!(
        "\nattack   start MB  peak MB  +idle MB  p50 ms  p99 ms  max ms  fail/probes  verdict"
    );
    for r in &rows {
        let ((p50, p99, max), name, verdict) = (r.probes.pcts(), r.name, r.verdict());
        let fails = format!("{}/{}", r.probes.failures(), r.probes.lat_us.len());
        let (start, peak, excess) = (r.rss_start, r.peak, r.excess);
        println!(
            "{name:<8} {start:>8.1} {peak:>8.1} {excess:>+9.1} {p50:>7.2} {p99:>7.2} {max:>7.1} {fails:>12}  {verdict}"
        );
    }
    if rows.iter().any(|r| !r.pass() && r.carried_over()) {
        println!(
            "* began over the goal: memory kept from an earlier attack (run it alone: --only)"
        );
    }
    let verdict = |r: &Row| format!("{} {}", r.name, r.verdict());
    let verdicts: Vec<String> = rows.iter().map(verdict).collect();
    println!("goal: {goal}, no failed probe — {}", verdicts.join(", "));
}
