//! `agentmesh sim --mode dht`: N real DHT nodes (the same libp2p Kademlia stack as `serve
//! --dht`, with Noise and yamux) in one process over libp2p's in-memory transport. Cards are
//! put at random nodes, then looked up from random nodes; the report gives the lookups'
//! success rate, requests and latency, the bytes nodes wrote per card put, and how many records
//! each node holds — to set beside full replication at the same size.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::futures::StreamExt as _;
use serde::Serialize;

use super::{Dht, DhtConfig, DhtError, Transport};
use crate::card::{Card, Manifest, sign_manifest};
use crate::encoding::now_unix;
use crate::identity::Identity;
use crate::sim::random_index;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct DhtSimConfig {
    /// Nodes.
    pub nodes: usize,
    /// Cards put (one update each).
    pub records: usize,
    /// Lookups made after the puts.
    pub lookups: usize,
    /// Kademlia's k (how many nodes hold each record).
    pub replication: usize,
    /// Puts in flight at once (lookups run [`LOOKUPS_IN_FLIGHT`] at a time, so their latency
    /// is a lookup's, not a queue's).
    pub concurrency: usize,
}

/// The run's summary.
#[derive(Debug, Clone, Serialize)]
pub struct DhtSimReport {
    /// Nodes.
    pub nodes: usize,
    /// Cards put.
    pub records: usize,
    /// k.
    pub replication: usize,
    /// Lookups made.
    pub lookups: usize,
    /// Lookups that returned the card put.
    pub found: usize,
    /// found / lookups.
    pub success_rate: f64,
    /// Median requests a lookup sent (libp2p reports requests, not path length).
    pub requests_p50: f64,
    /// 99th percentile of requests per lookup.
    pub requests_p99: f64,
    /// Lookup latency, median, ms.
    pub p50_ms: f64,
    /// Lookup latency, 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest lookup, ms.
    pub max_ms: f64,
    /// Bytes all nodes wrote while the cards were put, per node per card.
    pub bytes_per_node_per_update: f64,
    /// Records a node holds: mean.
    pub records_per_node_mean: f64,
    /// Records a node holds: most.
    pub records_per_node_max: usize,
    /// What Kademlia should give: records × k / nodes (capped at records).
    pub records_per_node_expected: f64,
    /// Seconds until every node's routing table was filled.
    pub join_secs: f64,
    /// Seconds the run took.
    pub secs: f64,
}

/// Lookups in flight at once.
pub const LOOKUPS_IN_FLIGHT: usize = 8;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    crate::sim::percentile(sorted, p).unwrap_or(0.0)
}

fn sample_card(agent: &Identity, i: usize) -> Result<Card, DhtError> {
    let mut m = Manifest::new(agent.id(), &format!("sim-agent-{i}"), now_unix());
    m.endpoint = Some("http://127.0.0.1:9/".into());
    m.tags = vec!["sim".into()];
    let signed = sign_manifest(m.to_value(), agent).map_err(|e| DhtError::Setup(e.to_string()))?;
    Card::from_value(signed).map_err(|e| DhtError::Setup(e.to_string()))
}

/// Runs the simulation; `progress` gets a line per phase.
pub async fn run(cfg: DhtSimConfig, progress: impl Fn(&str)) -> Result<DhtSimReport, DhtError> {
    let started = Instant::now();
    let n = cfg.nodes.max(2);
    let counters: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut nodes: Vec<Dht> = Vec::with_capacity(n);
    progress(&format!(
        "starting {n} DHT nodes (in-memory transport, Noise + yamux)"
    ));
    for (i, bytes_sent) in counters.iter().enumerate() {
        // Each node joins through up to three earlier ones, as nodes joining through their
        // seeds would.
        let bootstrap = if i == 0 {
            Vec::new()
        } else {
            let mut b: Vec<_> = (0..3.min(i))
                .map(|_| nodes[random_index(i)].multiaddrs()[0].clone())
                .collect();
            b.dedup();
            b
        };
        let node = Dht::start(
            &Identity::generate(),
            DhtConfig {
                listen: vec!["/memory/0".parse().expect("a memory multiaddr")],
                bootstrap,
                replication: cfg.replication,
                max_records: cfg.records * 4 + 1024,
                transport: Transport::Memory {
                    bytes_sent: bytes_sent.clone(),
                },
                idle_timeout: Duration::from_secs(60),
                // The simulated network does not churn, and a thousand nodes refreshing their
                // tables every five minutes on the machine's few cores would load the
                // lookups being measured with work each real node does on its own CPU.
                periodic_bootstrap: None,
            },
        )
        .await?;
        nodes.push(node);
    }
    // A second bootstrap round, once everyone is up, fills the early nodes' tables too.
    for node in &nodes {
        node.bootstrap().await?;
    }
    let want = cfg.replication.min(n - 1);
    let join_deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut least = usize::MAX;
        for node in &nodes {
            least = least.min(node.routing_peers().await?);
        }
        if least >= want || Instant::now() > join_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let join_secs = started.elapsed().as_secs_f64();
    progress(&format!(
        "joined in {join_secs:.1} s; putting {} cards",
        cfg.records
    ));

    let cards: Vec<Card> = (0..cfg.records)
        .map(|i| sample_card(&Identity::generate(), i))
        .collect::<Result<_, _>>()?;
    let total = |c: &[Arc<AtomicU64>]| c.iter().map(|b| b.load(Ordering::Relaxed)).sum::<u64>();
    let before = total(&counters);
    let puts = libp2p::futures::stream::iter(cards.iter().cloned().map(|card| {
        let node = nodes[random_index(n)].clone();
        async move { node.put_card(card, Vec::new()).await }
    }))
    .buffer_unordered(cfg.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    for r in puts {
        r?;
    }
    let put_bytes = total(&counters).saturating_sub(before);
    progress(&format!(
        "looking up {} cards from random nodes",
        cfg.lookups
    ));

    let results = libp2p::futures::stream::iter((0..cfg.lookups).map(|_| {
        let node = nodes[random_index(n)].clone();
        let card = &cards[random_index(cards.len().max(1))];
        async move {
            let t = Instant::now();
            let lookup = node.lookup(&card.agent_id).await;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            match lookup {
                Ok(l) => (
                    l.card.is_some_and(|c| c.signature == card.signature),
                    ms,
                    f64::from(l.requests),
                ),
                Err(_) => (false, ms, 0.0),
            }
        }
    }))
    .buffer_unordered(LOOKUPS_IN_FLIGHT)
    .collect::<Vec<_>>()
    .await;
    let found = results.iter().filter(|r| r.0).count();
    let mut ms: Vec<f64> = results.iter().map(|r| r.1).collect();
    let mut reqs: Vec<f64> = results.iter().map(|r| r.2).collect();
    ms.sort_by(f64::total_cmp);
    reqs.sort_by(f64::total_cmp);

    let mut held = Vec::with_capacity(n);
    for node in &nodes {
        // Node records are not published in the simulation: every record is a card.
        held.push(node.holdings().await?.records);
    }
    let lookups = results.len();
    Ok(DhtSimReport {
        nodes: n,
        records: cfg.records,
        replication: cfg.replication,
        lookups,
        found,
        success_rate: if lookups == 0 {
            0.0
        } else {
            found as f64 / lookups as f64
        },
        requests_p50: percentile(&reqs, 0.5),
        requests_p99: percentile(&reqs, 0.99),
        p50_ms: percentile(&ms, 0.5),
        p99_ms: percentile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
        bytes_per_node_per_update: put_bytes as f64 / n as f64 / cfg.records.max(1) as f64,
        records_per_node_mean: held.iter().sum::<usize>() as f64 / n as f64,
        records_per_node_max: held.iter().copied().max().unwrap_or(0),
        records_per_node_expected: (cfg.records as f64 * cfg.replication as f64 / n as f64)
            .min(cfg.records as f64),
        join_secs,
        secs: started.elapsed().as_secs_f64(),
    })
}
