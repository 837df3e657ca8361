//! `agentmesh sim`: N real nodes in one process on loopback (real HTTP, real SQLite in a temp
//! folder), updates registered at random nodes, and per update the time until every live node
//! has it — with faults: nodes killed and restarted, the network split in halves for a while,
//! a share of messages dropped.
//!
//! Convergence is observed through each node's accept hook (called when the node stores a
//! version new to it), so measuring costs no requests. Bytes are the sync bodies nodes send
//! (push requests and pull answers).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::card::{Manifest, sign_manifest};
use crate::encoding::{now_unix, random_bytes};
use crate::federation::{AcceptHook, Federation, FederationConfig, NetFilter};
use crate::identity::Identity;
use crate::node::{Node, NodeConfig};
use crate::store::{Durability, StoreOptions};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Nodes.
    pub nodes: usize,
    /// Push fanout.
    pub fanout: usize,
    /// Updates to register.
    pub updates: usize,
    /// Time between updates.
    pub update_every: Duration,
    /// Share of nodes killed (0–1) a quarter into the run and restarted later.
    pub kill: f64,
    /// Split the network in halves for this long, starting a third into the run.
    pub partition: Option<Duration>,
    /// Share of sync messages dropped (0–1).
    pub drop: f64,
    /// Pull anti-entropy interval.
    pub sync_interval: Duration,
    /// Push round interval.
    pub push_interval: Duration,
    /// Peers kept per node.
    pub max_peers: usize,
    /// Offer by UDP datagram (else over HTTP only).
    pub udp_offers: bool,
}

/// One update's fate.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateResult {
    /// Milliseconds until 99.99 % of the nodes live at registration had it (None: never).
    pub converged_ms: Option<f64>,
    /// Arrival times (ms after registration) at each node that got it, sorted.
    pub arrivals_ms: Vec<f64>,
    /// Nodes live at registration.
    pub live: usize,
    /// Registered while the network was split.
    pub during_partition: bool,
}

/// The run's summary.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// Nodes.
    pub nodes: usize,
    /// Fanout.
    pub fanout: usize,
    /// Per update.
    pub updates: Vec<UpdateResult>,
    /// p50 / p99 / max convergence over updates, ms (updates outside a partition).
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Push rounds of the p50 (p50 / push interval).
    pub rounds_p50: f64,
    /// Sync bytes sent per node per second, in kbit/s.
    pub kbps_per_node: f64,
    /// Sync bytes sent during the run, per node per update.
    pub bytes_per_node_per_update: f64,
    /// Push offers sent during the run, per update (every node offering to its peers).
    pub offers_per_update: f64,
    /// Records sent by push during the run, per update (one per node would be no duplicate).
    pub records_per_update: f64,
    /// Share of the offers made by UDP datagram.
    pub datagram_share: f64,
    /// Datagram offers per update that got no answer in time and went again over HTTP.
    pub unanswered_per_update: f64,
    /// Updates some node still lacked at the end (must be 0).
    pub lost: usize,
    /// Registrations the chosen node refused (overload); not measured.
    pub refused: usize,
    /// After the partition healed: ms until every update made during it was everywhere.
    pub heal_ms: Option<f64>,
    /// Seconds the run took.
    pub secs: f64,
}

/// Drops messages at random, and splits the network while `split` is set.
struct Faults {
    drop: f64,
    split: AtomicBool,
    side_b: Mutex<Vec<String>>,
}

struct NodeFilter {
    faults: Arc<Faults>,
    in_b: AtomicBool,
}

impl NetFilter for NodeFilter {
    fn allow(&self, url: &str) -> bool {
        if self.faults.drop > 0.0 {
            let r = f64::from(u32::from_le_bytes(random_bytes::<4>())) / f64::from(u32::MAX);
            if r < self.faults.drop {
                return false;
            }
        }
        if !self.faults.split.load(Ordering::Relaxed) {
            return true;
        }
        let b = self
            .faults
            .side_b
            .lock()
            .is_ok_and(|s| s.iter().any(|u| url.starts_with(u.as_str())));
        b == self.in_b.load(Ordering::Relaxed)
    }
}

type Arrivals = Arc<Mutex<HashMap<String, Vec<(usize, Instant)>>>>;

/// What every simulated node is started with: where arrivals are noted, and the one HTTP
/// client they all send with.
struct Shared {
    arrivals: Arrivals,
    http: reqwest::Client,
}

struct SimNode {
    addr: SocketAddr,
    url: String,
    dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), crate::node::NodeError>>>,
    /// What stopped incarnations of this node sent (their counters went with them).
    sent_before: [u64; 5],
    node: Option<Arc<Federation>>,
}

/// A uniformly random index below `n` (the simulators' choice of node).
pub(crate) fn random_index(n: usize) -> usize {
    (u64::from_le_bytes(random_bytes::<8>()) % n as u64) as usize
}

/// The nearest-rank `p` quantile of `sorted` (None when empty).
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(last as f64 * p).round() as usize])
}

async fn start_node(
    i: usize,
    listener: tokio::net::TcpListener,
    dir: PathBuf,
    seeds: Vec<String>,
    cfg: &SimConfig,
    filter: Arc<NodeFilter>,
    shared: &Shared,
) -> Result<(tokio::sync::oneshot::Sender<()>, Node), crate::node::NodeError> {
    let arrivals = shared.arrivals.clone();
    let addr = listener.local_addr()?;
    let mut c = NodeConfig::new(dir);
    c.public_url = Some(format!("http://{addr}"));
    c.store = StoreOptions {
        durability: Durability::Normal,
        // A thousand databases in one process: keep two idle readers each, not eight (a
        // reader opened past the idle ones is closed after use, and its prepared statements
        // with it).
        max_idle_readers: if cfg.nodes > 200 { 2 } else { 8 },
        ..StoreOptions::default()
    };
    let hook: AcceptHook = Arc::new(move |agent_id: &str, _issued_at| {
        if let Ok(mut a) = arrivals.lock() {
            a.entry(agent_id.to_string())
                .or_default()
                .push((i, Instant::now()));
        }
    });
    c.federation = FederationConfig {
        seeds,
        fanout: cfg.fanout,
        sync_interval: cfg.sync_interval,
        push_interval: cfg.push_interval,
        max_peers: cfg.max_peers,
        http: Some(shared.http.clone()),
        net: Some(filter),
        on_accept: Some(hook),
        gossip: cfg.udp_offers,
        ..FederationConfig::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let node = Node::spawn(listener, c, async {
        let _ = rx.await;
    })
    .await?;
    Ok((tx, node))
}

/// Runs the simulation; `progress` gets a line per phase.
pub async fn run(
    cfg: SimConfig,
    root: PathBuf,
    progress: impl Fn(&str),
) -> Result<SimReport, crate::node::NodeError> {
    let started = Instant::now();
    let faults = Arc::new(Faults {
        drop: cfg.drop,
        split: AtomicBool::new(false),
        side_b: Mutex::new(Vec::new()),
    });
    // One client for all nodes, speaking HTTP/2 (the nodes' servers take it without TLS): a
    // thousand nodes, each holding its own connections to its peers with a descriptor at both
    // ends in this one process, exceed its descriptor limit (20,000 here), and so does one
    // HTTP/1.1 pool, which needs a connection per request in flight. Over HTTP/2 every request
    // to a node shares one connection: a thousand connections, two thousand descriptors.
    let http = crate::federation::peer_client_builder()
        .http2_prior_knowledge()
        .build()
        .map_err(std::io::Error::other)?;
    let shared = Shared {
        arrivals: Arc::new(Mutex::new(HashMap::new())),
        http,
    };
    let arrivals = &shared.arrivals;
    let mut nodes: Vec<SimNode> = Vec::with_capacity(cfg.nodes);
    let mut filters = Vec::with_capacity(cfg.nodes);
    progress(&format!("starting {} nodes", cfg.nodes));
    for i in 0..cfg.nodes {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let url = format!("http://{addr}");
        let in_b = i >= cfg.nodes / 2;
        if in_b {
            faults
                .side_b
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .push(url.clone());
        }
        let filter = Arc::new(NodeFilter {
            faults: faults.clone(),
            in_b: AtomicBool::new(in_b),
        });
        filters.push(filter.clone());
        // Seed from the first node and a random earlier one, so the peer graph is not a star.
        let mut seeds = Vec::new();
        if i > 0 {
            seeds.push(nodes[0].url.clone());
            let j = random_index(i);
            if j != 0 {
                seeds.push(nodes[j].url.clone());
            }
        }
        let dir = root.join(format!("n{i}"));
        let (tx, node) = start_node(i, l, dir.clone(), seeds, &cfg, filter, &shared).await?;
        nodes.push(SimNode {
            addr,
            url,
            dir,
            stop: Some(tx),
            sent_before: [0; 5],
            node: Some(node.federation.clone()),
            task: Some(node.task),
        });
    }
    progress("waiting for peer exchange");
    let want = cfg.fanout.min(cfg.nodes - 1);
    let deadline = Instant::now() + cfg.sync_interval * 3 + Duration::from_secs(30);
    while nodes
        .iter()
        .any(|n| n.node.as_ref().is_some_and(|f| f.peer_count() < want))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = total_sent(&nodes);
    let measure_start = Instant::now();
    let kill_at = cfg.updates / 4;
    let restart_at = cfg.updates * 3 / 5;
    let split_at = cfg.updates / 3;
    let mut killed: Vec<usize> = Vec::new();
    let mut split_until: Option<Instant> = None;
    let mut healed_at: Option<Instant> = None;
    let mut registered: Vec<(String, Instant, Vec<usize>, bool)> = Vec::new();
    let mut refused = 0usize;
    progress(&format!("registering {} updates", cfg.updates));
    for u in 0..cfg.updates {
        if u == kill_at && cfg.kill > 0.0 {
            let k = ((cfg.nodes as f64) * cfg.kill).round() as usize;
            while killed.len() < k.min(cfg.nodes - 1) {
                let j = 1 + random_index(cfg.nodes - 1);
                if !killed.contains(&j) {
                    killed.push(j);
                }
            }
            for &j in &killed {
                stop_node(&mut nodes[j]).await;
            }
            progress(&format!("killed {} nodes", killed.len()));
        }
        if u == restart_at && !killed.is_empty() {
            for &j in &killed {
                restart(&mut nodes, j, &cfg, &filters, &shared).await?;
            }
            progress(&format!("restarted {} nodes", killed.len()));
            killed.clear();
        }
        if let Some(d) = cfg.partition
            && u == split_at
        {
            faults.split.store(true, Ordering::SeqCst);
            split_until = Some(Instant::now() + d);
            progress(&format!(
                "network split for {}",
                crate::encoding::format_duration(d)
            ));
        }
        if let Some(t) = split_until
            && Instant::now() >= t
        {
            faults.split.store(false, Ordering::SeqCst);
            split_until = None;
            healed_at = Some(Instant::now());
            progress("network healed");
        }
        let live: Vec<usize> = (0..cfg.nodes).filter(|j| !killed.contains(j)).collect();
        let at = live[random_index(live.len())];
        let agent = Identity::generate();
        let mut m = Manifest::new(agent.id(), &format!("sim-{u}"), now_unix());
        m.description = format!("simulated agent {u}");
        m.endpoint = Some("http://127.0.0.1:9".into());
        let env = sign_manifest(m.to_value(), &agent).expect("a fresh manifest signs");
        let t0 = Instant::now();
        let res = shared
            .http
            .post(format!("{}/v1/agents", nodes[at].url))
            .json(&env)
            .send()
            .await;
        if !matches!(&res, Ok(r) if r.status().is_success()) {
            // Never accepted anywhere: not a record the network could lose.
            progress(&format!("update {u} was refused by node {at}"));
            refused += 1;
        } else {
            registered.push((agent.id().to_string(), t0, live, split_until.is_some()));
        }
        tokio::time::sleep(cfg.update_every).await;
    }
    // The split may outlast the updates.
    if let Some(t) = split_until {
        tokio::time::sleep(t.saturating_duration_since(Instant::now())).await;
        faults.split.store(false, Ordering::SeqCst);
        healed_at = Some(Instant::now());
        progress("network healed");
    }
    for &j in &killed {
        restart(&mut nodes, j, &cfg, &filters, &shared).await?;
    }
    killed.clear();
    progress("waiting for convergence");
    let deadline = Instant::now() + cfg.sync_interval * 2 + Duration::from_secs(10);
    loop {
        let done = {
            let a = arrivals
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?;
            registered.iter().all(|(id, ..)| {
                a.get(id).is_some_and(|v| {
                    let mut seen: Vec<usize> = v.iter().map(|x| x.0).collect();
                    seen.sort_unstable();
                    seen.dedup();
                    seen.len() == cfg.nodes
                })
            })
        };
        if done || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = measure_start.elapsed().as_secs_f64();
    let after = total_sent(&nodes);
    let mut report = summarize(
        &cfg,
        &registered,
        arrivals,
        healed_at,
        std::array::from_fn(|i| (after[i] - before[i]) as f64),
        elapsed,
        started,
    );
    report.refused = refused;
    progress("stopping nodes");
    for n in &mut nodes {
        stop_node(n).await;
    }
    Ok(report)
}

/// Starts killed node `j` again on its port and data folder, seeded from node 0.
async fn restart(
    nodes: &mut [SimNode],
    j: usize,
    cfg: &SimConfig,
    filters: &[Arc<NodeFilter>],
    shared: &Shared,
) -> Result<(), crate::node::NodeError> {
    let l = tokio::net::TcpListener::bind(nodes[j].addr).await?;
    let seeds = vec![nodes[0].url.clone()];
    let (tx, node) = start_node(
        j,
        l,
        nodes[j].dir.clone(),
        seeds,
        cfg,
        filters[j].clone(),
        shared,
    )
    .await?;
    nodes[j].stop = Some(tx);
    nodes[j].task = Some(node.task);
    nodes[j].node = Some(node.federation.clone());
    Ok(())
}

/// What a node's federation sent: body bytes, offers, records pushed, offers by datagram, and
/// datagram offers made again over HTTP for want of an answer.
fn fed_sent(f: &Federation) -> [u64; 5] {
    [
        f.stats.bytes_sent.load(Ordering::Relaxed),
        f.stats.push_requests.load(Ordering::Relaxed),
        f.stats.pushed_out.load(Ordering::Relaxed),
        f.gossip()
            .map_or(0, |g| g.stats.offers.load(Ordering::Relaxed)),
        f.gossip()
            .map_or(0, |g| g.stats.fallbacks.load(Ordering::Relaxed)),
    ]
}

/// [`fed_sent`] summed over every node and its stopped incarnations.
fn total_sent(nodes: &[SimNode]) -> [u64; 5] {
    let mut t = [0u64; 5];
    for n in nodes {
        let live = n.node.as_deref().map(fed_sent).unwrap_or_default();
        for (i, v) in t.iter_mut().enumerate() {
            *v += live[i] + n.sent_before[i];
        }
    }
    t
}

async fn stop_node(n: &mut SimNode) {
    if let Some(f) = &n.node {
        for (kept, v) in n.sent_before.iter_mut().zip(fed_sent(f)) {
            *kept += v;
        }
    }
    n.node = None;
    if let Some(s) = n.stop.take() {
        let _ = s.send(());
    }
    if let Some(t) = n.task.take() {
        let _ = t.await;
    }
}

fn summarize(
    cfg: &SimConfig,
    registered: &[(String, Instant, Vec<usize>, bool)],
    arrivals: &Arrivals,
    healed_at: Option<Instant>,
    [bytes, offers, records, by_datagram, unanswered]: [f64; 5],
    secs: f64,
    started: Instant,
) -> SimReport {
    let a = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut updates = Vec::new();
    let mut lost = 0;
    let mut heal_ms: Option<f64> = None;
    for (id, t0, live, during) in registered {
        let mut first: HashMap<usize, Instant> = HashMap::new();
        for (node, t) in a.get(id).into_iter().flatten() {
            first.entry(*node).or_insert(*t);
        }
        if first.len() < cfg.nodes {
            lost += 1;
        }
        let mut times: Vec<f64> = live
            .iter()
            .filter_map(|n| first.get(n))
            .map(|t| t.saturating_duration_since(*t0).as_secs_f64() * 1e3)
            .collect();
        times.sort_by(f64::total_cmp);
        let need = ((live.len() as f64) * 0.9999).ceil() as usize;
        let converged = (times.len() >= need && need > 0).then(|| times[need - 1]);
        if *during && let (Some(h), Some(last)) = (healed_at, first.values().max()) {
            let ms = last.saturating_duration_since(h).as_secs_f64() * 1e3;
            heal_ms = Some(heal_ms.map_or(ms, |x: f64| x.max(ms)));
        }
        updates.push(UpdateResult {
            converged_ms: converged,
            arrivals_ms: times,
            live: live.len(),
            during_partition: *during,
        });
    }
    let mut conv: Vec<f64> = updates
        .iter()
        .filter(|u| !u.during_partition)
        .filter_map(|u| u.converged_ms)
        .collect();
    conv.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&conv, p).unwrap_or(f64::NAN);
    let p50 = pct(0.5);
    SimReport {
        nodes: cfg.nodes,
        fanout: cfg.fanout,
        p50_ms: p50,
        p99_ms: pct(0.99),
        max_ms: conv.last().copied().unwrap_or(f64::NAN),
        rounds_p50: p50 / (cfg.push_interval.as_secs_f64() * 1e3),
        kbps_per_node: bytes * 8.0 / 1e3 / secs / cfg.nodes as f64,
        bytes_per_node_per_update: bytes / cfg.nodes as f64 / cfg.updates.max(1) as f64,
        offers_per_update: offers / cfg.updates.max(1) as f64,
        records_per_update: records / cfg.updates.max(1) as f64,
        datagram_share: if offers > 0.0 {
            by_datagram / offers
        } else {
            0.0
        },
        unanswered_per_update: unanswered / cfg.updates.max(1) as f64,
        lost,
        refused: 0,
        heal_ms,
        secs: started.elapsed().as_secs_f64(),
        updates,
    }
}

/// An SVG of the convergence curves: share of nodes holding each update against time since
/// it was registered (grey), and their median (blue). Written by hand: a plotting crate
/// would add a font stack and image codecs for one line chart.
pub fn svg(report: &SimReport) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 420.0, 60.0, 50.0, 30.0, 20.0);
    let max_ms = report
        .updates
        .iter()
        .filter(|u| !u.during_partition)
        .filter_map(|u| u.arrivals_ms.last().copied())
        .fold(1.0f64, f64::max);
    let x = |ms: f64| left + (ms / max_ms) * (w - left - right);
    let y = |frac: f64| h - bottom - frac * (h - top - bottom);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    out += &format!(
        "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">{} nodes, fanout {}: share of nodes holding an update</text>\n",
        w / 2.0,
        report.nodes,
        report.fanout
    );
    out += &format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for i in 0..=5 {
        let ms = max_ms * f64::from(i) / 5.0;
        out += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0} ms</text>\n",
            x(ms),
            h - bottom + 18.0,
            ms
        );
        let frac = f64::from(i) / 5.0;
        out += &format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>\n",
            left - 6.0,
            y(frac) + 4.0,
            frac * 100.0
        );
    }
    let curve = |times: &[f64], live: usize| -> String {
        let mut pts = vec![format!("{:.1},{:.1}", x(0.0), y(0.0))];
        for (k, t) in times.iter().enumerate() {
            pts.push(format!("{:.1},{:.1}", x(*t), y(k as f64 / live as f64)));
            pts.push(format!(
                "{:.1},{:.1}",
                x(*t),
                y((k + 1) as f64 / live as f64)
            ));
        }
        pts.join(" ")
    };
    for u in report.updates.iter().filter(|u| !u.during_partition) {
        out += &format!(
            "<polyline fill=\"none\" stroke=\"#999\" stroke-opacity=\"0.35\" points=\"{}\"/>\n",
            curve(&u.arrivals_ms, u.live.max(1))
        );
    }
    // The median curve: at each share of nodes, the median time across updates.
    let normal: Vec<&UpdateResult> = report
        .updates
        .iter()
        .filter(|u| !u.during_partition && !u.arrivals_ms.is_empty())
        .collect();
    if !normal.is_empty() {
        let mut pts = Vec::new();
        for step in 0..=100 {
            let frac = f64::from(step) / 100.0;
            let mut ts: Vec<f64> = normal
                .iter()
                .map(|u| {
                    let k = ((frac * u.live as f64).ceil() as usize).clamp(1, u.arrivals_ms.len());
                    u.arrivals_ms[k - 1]
                })
                .collect();
            ts.sort_by(f64::total_cmp);
            pts.push(format!("{:.1},{:.1}", x(ts[ts.len() / 2]), y(frac)));
        }
        out += &format!(
            "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2.5\" points=\"{}\"/>\n",
            pts.join(" ")
        );
    }
    out += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">p50 {:.0} ms · p99 {:.0} ms · max {:.0} ms · {:.1} kbps/node · lost {}</text>\n</svg>\n",
        w - right,
        top + 16.0,
        report.p50_ms,
        report.p99_ms,
        report.max_ms,
        report.kbps_per_node,
        report.lost
    );
    out
}
