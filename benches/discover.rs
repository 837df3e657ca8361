//! Discovery benchmark: builds a node database of N synthetic cards, measures how long the
//! index takes to load (cold: embedding every card; warm: stored vectors), the memory the index
//! holds, and search latency (p50/p99) and throughput.
//!
//! Run: `cargo bench --bench discover -- --cards 10000,100000 [--queries 2000]`
//! (add 1000000 to the list for the 1M figure; it needs ~40 s and ~1 GB while building).

use std::sync::Arc;
use std::time::Instant;

use agentmesh::discovery::{DEFAULT_LEXICAL_WEIGHT, Discovery, Query, builtin_embedder};
use agentmesh::identity::Identity;
use agentmesh::store::{Store, StoreOptions};
use rayon::prelude::*;
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "common/mem.rs"]
mod mem;

fn rss_mb() -> f64 {
    mem::rss_bytes() / 1e6
}

#[path = "common/stats.rs"]
mod stats;
use stats::percentile;

/// N varied manifests: the evaluation set's cards, each reworded with a region, a variant and
/// its own tags, so texts differ the way a real registry's would.
fn synthetic(n: usize, eval: &Value) -> Vec<(String, Value)> {
    let cards = eval["cards"].as_array().expect("cards");
    let regions = [
        "EU", "US", "APAC", "LATAM", "Nordics", "Africa", "Japan", "India",
    ];
    let flavours = [
        "fast",
        "budget",
        "enterprise",
        "open-source",
        "experimental",
        "certified",
    ];
    (0..n)
        .into_par_iter()
        .map(|i| {
            let c = &cards[i % cards.len()];
            let id = Identity::generate();
            let region = regions[(i / cards.len()) % regions.len()];
            let flavour = flavours[(i / 7) % flavours.len()];
            let manifest = json!({
                "schema": "agentmesh/card/v1",
                "agent_id": id.id(),
                "name": format!("{}-{i}", c["name"].as_str().expect("name")),
                "description": format!("{} A {flavour} service for the {region} region (variant {}).",
                    c["description"].as_str().expect("desc"), i % 1000),
                "tags": c["tags"], "protocols": c["protocols"], "skills": c["skills"],
                "endpoint": format!("http://10.{}.{}.{}:8080", i >> 16 & 255, i >> 8 & 255, i & 255),
                "issued_at": "2026-11-24T00:00:00Z",
            });
            (id.id().to_string(), json!({"manifest": manifest, "manifest_signature": "bench"}))
        })
        .collect()
}

fn main() {
    let mut sizes = vec![10_000usize, 100_000];
    let mut queries_n = 2000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cards" => {
                sizes = args
                    .next()
                    .expect("--cards N[,N…]")
                    .split(',')
                    .map(|s| s.parse().expect("number"))
                    .collect();
            }
            "--queries" => queries_n = args.next().expect("N").parse().expect("number"),
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    let eval: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/discovery_eval.json"
        ))
        .expect("eval set"),
    )
    .expect("json");
    let texts: Vec<String> = eval["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .map(|q| q["q"].as_str().expect("q").to_string())
        .collect();
    let embedder = builtin_embedder();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");

    for n in sizes {
        eprintln!("building {n} cards…");
        let cards = synthetic(n, &eval);
        let dir = tempfile::tempdir().expect("tmp");
        {
            // Write rows straight into the schema: load() reads verified cards, it does not
            // re-verify, so the bench skips signing N cards.
            let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
            drop(store);
            let mut conn = rusqlite::Connection::open(dir.path().join("agentmesh.db")).expect("db");
            let tx = conn.transaction().expect("tx");
            {
                let mut stmt = tx
                    .prepare("INSERT INTO cards (agent_id, seq, issued_at, signature, revoked, expires_at, name, envelope, received_at) VALUES (?1, ?2, 0, 'bench', 0, NULL, 'bench', ?3, 0)")
                    .expect("prepare");
                for (i, (id, env)) in cards.iter().enumerate() {
                    stmt.execute(rusqlite::params![id, i as i64 + 1, env.to_string()])
                        .expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
        drop(cards);
        let (cold, warm, discovery) = rt.block_on(async {
            let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
            let d = Arc::new(Discovery::new(embedder.clone(), DEFAULT_LEXICAL_WEIGHT));
            let cold = d.load(&store).await.expect("cold load");
            drop(d);
            let d = Arc::new(Discovery::new(embedder.clone(), DEFAULT_LEXICAL_WEIGHT));
            let warm = d.load(&store).await.expect("warm load");
            store.close().await;
            (cold, warm, d)
        });
        assert_eq!(warm.indexed, n);
        assert_eq!(warm.embedded, 0, "the warm load reuses stored vectors");
        let parts: Vec<String> = discovery
            .heap_breakdown()
            .iter()
            .map(|(k, b)| format!("{k} {:.1}", *b as f64 / 1e6))
            .collect();
        println!("index memory at {n} cards (MB): {}", parts.join(", "));

        let query = |i: usize| Query {
            text: texts[i % texts.len()].clone(),
            limit: 10,
            ..Query::default()
        };
        // Latency: one query at a time.
        let mut lat: Vec<f64> = (0..queries_n)
            .map(|i| {
                let q = query(i);
                let t = Instant::now();
                std::hint::black_box(discovery.search(&q));
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        lat.sort_by(f64::total_cmp);
        // Throughput: two callers at once (the machine has two cores).
        let t = Instant::now();
        std::thread::scope(|s| {
            for w in 0..2 {
                let d = &discovery;
                s.spawn(move || {
                    for i in (w..queries_n).step_by(2) {
                        std::hint::black_box(d.search(&query(i)));
                    }
                });
            }
        });
        let qps = queries_n as f64 / t.elapsed().as_secs_f64();
        // Recall@10 of the searches above against the exact scan, and the exact scan's latency.
        let sample = queries_n.min(500);
        let fast: Vec<Vec<(String, f64)>> = (0..sample)
            .map(|i| {
                discovery
                    .search(&query(i))
                    .into_iter()
                    .map(|h| (h.agent_id, h.score))
                    .collect()
            })
            .collect();
        discovery.set_prefilter_min(usize::MAX);
        let mut exact_lat = Vec::with_capacity(sample);
        let mut found = 0usize;
        let mut wanted = 0usize;
        let mut gap = 0.0f64;
        for (i, f) in fast.iter().enumerate() {
            let t = Instant::now();
            let exact = discovery.search(&query(i));
            exact_lat.push(t.elapsed().as_secs_f64() * 1000.0);
            wanted += exact.len();
            found += exact
                .iter()
                .filter(|h| f.iter().any(|(id, _)| *id == h.agent_id))
                .count();
            // How much worse the prefiltered top 10 is than the exact one, in score.
            let mean = |xs: &mut dyn Iterator<Item = f64>| {
                let v: Vec<f64> = xs.collect();
                v.iter().sum::<f64>() / v.len().max(1) as f64
            };
            gap += mean(&mut exact.iter().map(|h| h.score)) - mean(&mut f.iter().map(|x| x.1));
        }
        let gap = gap / sample as f64;
        discovery.set_prefilter_min(agentmesh::discovery::index::PREFILTER_MIN);
        exact_lat.sort_by(f64::total_cmp);
        let recall = found as f64 / wanted.max(1) as f64;
        // A filtered query and an empty (browse) query.
        let filtered = {
            let q = Query {
                tags: vec!["weather".into()],
                ..query(0)
            };
            let t = Instant::now();
            for _ in 0..100 {
                std::hint::black_box(discovery.search(&q));
            }
            t.elapsed().as_secs_f64() * 10.0
        };
        let browse = {
            let q = Query {
                limit: 10,
                ..Query::default()
            };
            let t = Instant::now();
            for _ in 0..20 {
                std::hint::black_box(discovery.search(&q));
            }
            t.elapsed().as_secs_f64() * 50.0
        };
        println!(
            "discover: {n} cards: load cold {:.2}s (embedding all) / warm {:.2}s; index {:.1} MB (process RSS {:.0} MB); \
             search p50 {:.2} ms, p99 {:.2} ms, {:.0} QPS (2 threads); recall@10 vs exact {:.3}, mean top-10 score gap {:.4} (exact p50 {:.2} ms, p99 {:.2} ms); \
             tag-filtered {:.2} ms; browse {:.2} ms",
            cold.millis as f64 / 1000.0,
            warm.millis as f64 / 1000.0,
            discovery.heap_bytes() as f64 / 1e6,
            rss_mb(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            qps,
            recall,
            gap,
            percentile(&exact_lat, 0.5),
            percentile(&exact_lat, 0.99),
            filtered,
            browse,
        );
    }
}
