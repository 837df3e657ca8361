//! Discovery benchmark: builds a node database of N synthetic cards, measures how long the
//! index takes to load (cold: embedding every card; warm: stored vectors), the memory the index
//! holds, and search latency (p50/p99) and throughput.
//!
//! Run: `cargo bench --bench discover -- --cards 10000,100000 [--queries 2000]`
//! (add 1000000 to the list for the 1M figure; it needs ~40 s and ~1 GB while building).
//!
//! `-- --minilm DIR` also measures `serve --embedder minilm` at each size: how fast the
//! background task embeds every card with the transformer in DIR (a sentence-transformers
//! folder), and search latency with re-ranking. At 100k cards that embedding takes minutes.

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
    let mut minilm: Option<std::path::PathBuf> = None;
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
            "--minilm" => minilm = Some(args.next().expect("--minilm DIR").into()),
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
        if let Some(dir_m) = &minilm {
            rerank(&rt, dir.path(), dir_m, n, &texts, queries_n);
        }
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
        let lat = latencies_ms(&discovery, queries_n, query);
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

/// Milliseconds of `n` searches run one at a time, sorted.
fn latencies_ms(d: &Discovery, n: usize, query: impl Fn(usize) -> Query) -> Vec<f64> {
    let mut lat: Vec<f64> = (0..n)
        .map(|i| {
            let q = query(i);
            let t = Instant::now();
            std::hint::black_box(d.search(&q));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    lat
}

/// `serve --embedder minilm` at `n` cards: the background embedding's rate, the transformer
/// vectors' memory, and search latency with re-ranking (one query at a time).
fn rerank(
    rt: &tokio::runtime::Runtime,
    db: &std::path::Path,
    model: &std::path::Path,
    n: usize,
    texts: &[String],
    queries_n: usize,
) {
    let encoder =
        Arc::new(agentmesh::discovery::TransformerEmbedder::from_dir(model).expect("model"));
    let d = Arc::new(Discovery::with_rerank(
        builtin_embedder(),
        DEFAULT_LEXICAL_WEIGHT,
        encoder,
    ));
    let store = Store::open(db, StoreOptions::default()).expect("store");
    rt.block_on(d.load(&store)).expect("load");
    let stop = tokio_util::sync::CancellationToken::new();
    let task = rt.spawn(d.clone().run_rerank(store.clone(), stop.clone()));
    let started = Instant::now();
    let mut last_print = Instant::now();
    loop {
        let p = d.rerank().expect("re-ranker").progress();
        if p.ready as usize >= n {
            break;
        }
        if last_print.elapsed().as_secs() >= 30 {
            eprintln!(
                "  re-rank: {}/{n} after {:.0} s",
                p.ready,
                started.elapsed().as_secs_f64()
            );
            last_print = Instant::now();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let secs = started.elapsed().as_secs_f64();
    stop.cancel();
    rt.block_on(task).expect("join").expect("run");
    let query = |i: usize| Query {
        text: texts[i % texts.len()].clone(),
        limit: 10,
        ..Query::default()
    };
    let lat = latencies_ms(&d, queries_n, query);
    let enc = d.rerank().expect("re-ranker");
    let mut embed_lat: Vec<f64> = (0..queries_n.min(500))
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(enc.embed_query(&texts[i % texts.len()]));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    embed_lat.sort_by(f64::total_cmp);
    // Restart: the stored transformer vectors are read back instead of computed.
    let d2 = Arc::new(Discovery::with_rerank(
        builtin_embedder(),
        DEFAULT_LEXICAL_WEIGHT,
        enc.encoder().clone(),
    ));
    rt.block_on(d2.load(&store)).expect("load");
    let t = Instant::now();
    let stop = tokio_util::sync::CancellationToken::new();
    let task = rt.spawn(d2.clone().run_rerank(store.clone(), stop.clone()));
    while (d2.rerank().expect("re-ranker").progress().ready as usize) < n {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let reload = t.elapsed().as_secs_f64();
    stop.cancel();
    rt.block_on(task).expect("join").expect("run");
    assert_eq!(d2.rerank().expect("re-ranker").progress().embedded, 0);
    rt.block_on(store.close());
    println!(
        "rerank: {n} cards: background embedding {:.0} cards/s ({secs:.1} s for all), reloaded from the store in {reload:.2} s; \
         process RSS {:.0} MB (both indexes, the model, its vectors); search with re-ranking p50 {:.2} ms, p99 {:.2} ms \
         (of which the query's transformer embedding p50 {:.2} ms, p99 {:.2} ms)",
        n as f64 / secs,
        rss_mb(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&embed_lat, 0.5),
        percentile(&embed_lat, 0.99),
    );
}
