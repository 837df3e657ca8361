//! Trust benchmark: how many outcome events the manager absorbs per second in-process (one
//! thread and all cores, over 10k and 100k agents), and how long a flush of 100k changed
//! records to SQLite takes (plus restoring them at start).
//!
//! Run: `cargo bench --bench trust -- [--events 4000000] [--agents 10000,100000] [--flush 100000]`

use std::sync::Arc;
use std::time::Instant;

use agentmesh::events::{OutcomeEvent, OutcomeKind, OutcomeSink as _};
use agentmesh::identity::did_from_key_bytes;
use agentmesh::store::{Durability, Store, StoreOptions};
use agentmesh::trust::{SystemClock, TrustConfig, TrustManager};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            did_from_key_bytes(&k)
        })
        .collect()
}

/// A kind mix like a busy gateway's: mostly successes, some failures and timeouts.
fn kind(i: usize) -> OutcomeKind {
    match i % 20 {
        0 => OutcomeKind::Failure,
        1 => OutcomeKind::Timeout,
        2 => OutcomeKind::RateLimit,
        _ => OutcomeKind::Success,
    }
}

/// Events per second with `threads` threads each recording `per_thread` events over `ids`
/// (events go through the same `OutcomeSink::record` the gateway calls, owned event included).
fn absorb(ids: &Arc<Vec<String>>, threads: usize, per_thread: usize) -> f64 {
    let m = Arc::new(TrustManager::new(
        &TrustConfig::default(),
        Arc::new(SystemClock),
    ));
    let now = agentmesh::encoding::now_unix();
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (m, ids) = (m.clone(), ids.clone());
            s.spawn(move || {
                let mut x = t * 7919;
                for i in 0..per_thread {
                    // A cheap scatter over the agents (an LCG step), so threads do not march
                    // through the shards in lockstep.
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    m.record(OutcomeEvent {
                        agent_id: ids[(x >> 17) % ids.len()].clone(),
                        kind: kind(i),
                        at: now,
                    });
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(m.events_seen() as usize, threads * per_thread);
    (threads * per_thread) as f64 / secs
}

fn main() {
    let events: usize = arg("--events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000_000);
    let agent_counts: Vec<usize> = arg("--agents")
        .unwrap_or_else(|| "10000,100000".into())
        .split(',')
        .filter_map(|v| v.parse().ok())
        .collect();
    let flush_n: usize = arg("--flush")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("trust bench: {events} events per run, {cores} cores");
    for &n in &agent_counts {
        let ids = Arc::new(ids(n));
        absorb(&ids, 1, events / 10); // warm-up: allocate the records
        for threads in [1, cores] {
            let rate = absorb(&ids, threads, events / threads);
            println!(
                "  absorb: {n:>7} agents, {threads} thread(s): {:>10.0} events/s",
                rate
            );
        }
    }

    let dir = tempfile::tempdir().expect("tmp");
    for durability in [Durability::Full, Durability::Normal] {
        let sub = dir.path().join(format!("{durability:?}"));
        let store = Store::open(
            &sub,
            StoreOptions {
                durability,
                ..StoreOptions::default()
            },
        )
        .expect("store");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let m = TrustManager::new(&TrustConfig::default(), Arc::new(SystemClock));
        let ids = ids(flush_n);
        let now = agentmesh::encoding::now_unix();
        for (i, id) in ids.iter().enumerate() {
            m.record_at(id, kind(i), now);
            m.record_at(id, OutcomeKind::Success, now);
        }
        let started = Instant::now();
        let written = rt.block_on(m.flush(&store)).expect("flush");
        let first = started.elapsed();
        for id in ids.iter().step_by(100) {
            m.record_at(id, OutcomeKind::Success, now);
        }
        let started = Instant::now();
        let again = rt.block_on(m.flush(&store)).expect("flush");
        let second = started.elapsed();
        let started = Instant::now();
        let rows = rt.block_on(store.load_trust()).expect("load");
        let m2 = TrustManager::new(&TrustConfig::default(), Arc::new(SystemClock));
        let restored = m2.restore(rows);
        let restore = started.elapsed();
        println!(
            "  flush ({durability:?}): {written} records in {:.0} ms ({:.0} records/s); {again} changed records in {:.1} ms; restore {restored} in {:.0} ms",
            first.as_secs_f64() * 1e3,
            written as f64 / first.as_secs_f64(),
            second.as_secs_f64() * 1e3,
            restore.as_secs_f64() * 1e3,
        );
        rt.block_on(store.close());
    }
}
