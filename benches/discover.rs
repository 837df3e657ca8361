//! Discovery benchmark: builds a node database of N synthetic cards, measures how long the
//! index takes to load (cold: embedding every card; warm: stored vectors), the memory the index
//! holds, and search latency (p50/p99) and throughput.
//!
//! Run: `cargo bench --bench discover -- --cards 10000,100000 [--queries 2000]`
//! (add 1000000 to the list for the 1M figure; it needs ~10 minutes and ~2 GB while building).
//!
//! Each size is measured twice: without the HNSW graph (the exact scan, or the sketch
//! prefilter from 32k cards), which also gives the exact top 10 that recall is counted
//! against, and with the graph (built and saved by one load, loaded by the next), whatever
//! the size, to show where it starts to pay.
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

/// A small deterministic generator (SplitMix64), so every run builds the same set.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// N varied manifests. Card `i` mixes three cards of the evaluation set: its name and a run
/// of words from card `i mod 65`, a run of words and a tag from a second card, the skills of a
/// third (both drawn at random), and six words drawn from the whole set's vocabulary. An
/// earlier version of this set appended only a region and a number to each base card: 15,000
/// near-copies of every card at 1M, which made recall by ID meaningless. The bench prints how
/// close each card's nearest other card is.
fn synthetic(n: usize, eval: &Value) -> Vec<(String, Value)> {
    let cards = eval["cards"].as_array().expect("cards");
    let words = |t: &str| -> Vec<String> {
        t.split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
            .filter(|w| !w.is_empty())
            .collect()
    };
    // Each card's words: its description and skill descriptions.
    let texts: Vec<Vec<String>> = cards
        .iter()
        .map(|c| {
            let mut t = words(c["description"].as_str().unwrap_or(""));
            for s in c["skills"].as_array().into_iter().flatten() {
                t.extend(words(s["description"].as_str().unwrap_or("")));
            }
            t
        })
        .collect();
    let mut vocab: Vec<String> = texts
        .iter()
        .flatten()
        .filter(|w| w.len() > 3)
        .map(|w| w.to_lowercase())
        .collect();
    vocab.sort();
    vocab.dedup();
    (0..n)
        .into_par_iter()
        .map(|i| {
            let c = &cards[i % cards.len()];
            let mut r = mix(i as u64);
            let mut next = |m: usize| {
                r = mix(r);
                (r % m.max(1) as u64) as usize
            };
            let mut span = |t: &[String], min: usize, max: usize| -> String {
                let len = (min + next(max - min + 1)).min(t.len());
                let start = next(t.len() - len + 1);
                t[start..start + len].join(" ")
            };
            let own = span(&texts[i % cards.len()], 5, 10);
            let b = mix(i as u64 ^ 0xB) as usize % cards.len();
            let other = span(&texts[b], 4, 8);
            let skills = &cards[mix(i as u64 ^ 0xC) as usize % cards.len()]["skills"];
            let mut tags: Vec<Value> = c["tags"].as_array().cloned().unwrap_or_default();
            tags.truncate(2);
            tags.extend(cards[b]["tags"].as_array().into_iter().flatten().take(1).cloned());
            let extra: Vec<&str> = (0..6)
                .map(|k| vocab[mix(i as u64 * 8 + k) as usize % vocab.len()].as_str())
                .collect();
            let id = Identity::generate();
            let manifest = json!({
                "schema": "agentmesh/card/v1",
                "agent_id": id.id(),
                "name": format!("{}-{i}", c["name"].as_str().expect("name")),
                "description": format!("{own}; {other}; {}.", extra.join(" ")),
                "tags": tags, "protocols": c["protocols"], "skills": skills,
                "endpoint": format!("http://10.{}.{}.{}:8080", i >> 16 & 255, i >> 8 & 255, i & 255),
                "issued_at": "2026-11-24T00:00:00Z",
            });
            (id.id().to_string(), json!({"manifest": manifest, "manifest_signature": "bench"}))
        })
        .collect()
}

/// Returns the pages mimalloc holds free to the OS, so RSS figures count what is in use.
fn release_free_memory() {
    // SAFETY: `mi_collect` takes no pointers; it only walks the allocator's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

fn main() {
    agentmesh::set_release_free_memory(release_free_memory);
    let mut sizes = vec![10_000usize, 100_000];
    let mut queries_n = 2000usize;
    let mut minilm: Option<std::path::PathBuf> = None;
    let mut sweep: Vec<(usize, usize)> = Vec::new();
    let mut lexical = DEFAULT_LEXICAL_WEIGHT;
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
            // The lexical share's weight (0 ranks by vectors alone, to see the graph's own recall).
            "--lexical" => lexical = args.next().expect("W").parse().expect("number"),
            "--minilm" => minilm = Some(args.next().expect("--minilm DIR").into()),
            // Graph settings to try after the default: candidates:ef,candidates:ef…
            "--ann-sweep" => {
                sweep = args
                    .next()
                    .expect("--ann-sweep C:EF[,C:EF…]")
                    .split(',')
                    .map(|p| {
                        let (c, e) = p.split_once(':').expect("C:EF");
                        (c.parse().expect("number"), e.parse().expect("number"))
                    })
                    .collect();
            }
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
        // A sample of card texts, to measure how close each card's nearest other card is.
        let own: Vec<String> = cards
            .iter()
            .step_by((n / 200).max(1))
            .map(|(_, env)| {
                let m = &env["manifest"];
                format!(
                    "{} {}",
                    m["name"].as_str().unwrap_or(""),
                    m["description"].as_str().unwrap_or("")
                )
            })
            .collect();
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
        let ann_dir = dir.path().join("ann");
        let query = |i: usize| Query {
            text: texts[i % texts.len()].clone(),
            limit: 10,
            ..Query::default()
        };
        let sample = queries_n.min(500);
        let store = rt
            .block_on(async { Store::open(dir.path(), StoreOptions::default()) })
            .expect("store");
        let load = |ann_min: usize| {
            let d =
                Arc::new(Discovery::new(embedder.clone(), lexical).with_ann_dir(ann_dir.clone()));
            d.set_ann_min(ann_min);
            let stats = rt.block_on(d.load(&store)).expect("load");
            agentmesh::release_free_memory();
            (d, stats)
        };

        // 1. Without the graph (the size from which it is used set out of reach): the exact
        // scan, or the sketch prefilter from PREFILTER_MIN; and the exact reference for recall.
        let (discovery, cold) = load(usize::MAX);
        drop(discovery);
        let (discovery, warm) = load(usize::MAX);
        assert_eq!(warm.indexed, n);
        assert_eq!(warm.embedded, 0, "the warm load reuses stored vectors");
        let rows_mem = discovery.heap_bytes();
        let (rows_lat, rows_qps) = measure(&discovery, queries_n, query);
        let rows_fast = top10(&discovery, sample, query);
        discovery.set_prefilter_min(usize::MAX);
        let t = Instant::now();
        let exact = top10(&discovery, sample, query);
        let exact_ms = t.elapsed().as_secs_f64() * 1000.0 / sample as f64;
        // How close is each sampled card's nearest other card (its own text as the query)?
        let mut nearest: Vec<f64> = own
            .iter()
            .filter_map(|t| {
                let hits = discovery.search(&Query {
                    text: t.clone(),
                    limit: 2,
                    ..Query::default()
                });
                hits.get(1).map(|h| h.similarity)
            })
            .collect();
        nearest.sort_by(f64::total_cmp);
        let near_copies =
            nearest.iter().filter(|s| **s >= 0.95).count() as f64 / nearest.len().max(1) as f64;
        let (rows_recall, rows_gap) = recall(&exact, &rows_fast);
        drop(discovery);
        println!(
            "discover: {n} cards, no graph: load cold {:.2}s (embedding all) / warm {:.2}s; index {:.1} MB; \
             search p50 {:.2} ms, p99 {:.2} ms, {rows_qps:.0} QPS (2 threads); recall@10 vs exact {rows_recall:.3} (score gap {rows_gap:.4}); \
             exact scan mean {exact_ms:.2} ms; nearest other card's similarity p50 {:.3}, p99 {:.3}, {:.1} % at 0.95 or more",
            cold.millis as f64 / 1000.0,
            warm.millis as f64 / 1000.0,
            rows_mem as f64 / 1e6,
            percentile(&rows_lat, 0.5),
            percentile(&rows_lat, 0.99),
            percentile(&nearest, 0.5),
            percentile(&nearest, 0.99),
            near_copies * 100.0,
        );

        // 2. With the graph: built (and saved) by the first load, loaded by the second.
        let (discovery, built) = load(0);
        let built = built.ann.expect("graph built");
        drop(discovery);
        let rss_before = rss_mb();
        let (discovery, loaded) = load(0);
        let loaded_ann = loaded.ann.expect("graph loaded");
        assert!(loaded_ann.loaded, "the saved graph is loaded, not rebuilt");
        let rss = rss_mb();
        let parts: Vec<String> = discovery
            .heap_breakdown()
            .iter()
            .map(|(k, b)| format!("{k} {:.1}", *b as f64 / 1e6))
            .collect();
        let (lat, qps) = measure(&discovery, queries_n, query);
        let fast = top10(&discovery, sample, query);
        let (ann_recall, ann_gap) = recall(&exact, &fast);
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
        println!(
            "discover: {n} cards, HNSW graph: built in {:.1} s ({:.0} cards/s), loaded with the index in {:.2} s (graph {:.2} s); \
             index {:.1} MB ({}); process RSS {rss:.0} MB (before this load {rss_before:.0} MB); \
             search p50 {:.2} ms, p99 {:.2} ms, {qps:.0} QPS (2 threads); recall@10 vs exact {ann_recall:.3} (score gap {ann_gap:.4}); \
             tag-filtered {filtered:.2} ms",
            built.millis as f64 / 1000.0,
            n as f64 / (built.millis as f64 / 1000.0),
            loaded.millis as f64 / 1000.0,
            loaded_ann.millis as f64 / 1000.0,
            discovery.heap_bytes() as f64 / 1e6,
            parts.join(", "),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
        );
        for (c, ef) in &sweep {
            discovery.tune_ann(*c, *ef);
            let (lat, qps) = measure(&discovery, queries_n, query);
            let (r, gap) = recall(&exact, &top10(&discovery, sample, query));
            println!(
                "  graph with {c} candidates, ef {ef}: p50 {:.2} ms, p99 {:.2} ms, {qps:.0} QPS; recall@10 {r:.3} (gap {gap:.4})",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );
        }
        drop(discovery);
        rt.block_on(store.close());
        if let Some(dir_m) = &minilm {
            rerank(&rt, dir.path(), dir_m, n, &texts, queries_n);
        }
    }
}

/// Latencies of `n` searches one at a time (sorted, ms), and throughput with two callers at
/// once (the machine has two cores).
fn measure(d: &Discovery, n: usize, query: impl Fn(usize) -> Query + Sync) -> (Vec<f64>, f64) {
    let lat = latencies_ms(d, n, &query);
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..2 {
            let query = &query;
            s.spawn(move || {
                for i in (w..n).step_by(2) {
                    std::hint::black_box(d.search(&query(i)));
                }
            });
        }
    });
    (lat, n as f64 / t.elapsed().as_secs_f64())
}

/// The top 10 (ID, score) of the first `n` queries.
fn top10(d: &Discovery, n: usize, query: impl Fn(usize) -> Query) -> Vec<Vec<(String, f64)>> {
    (0..n)
        .map(|i| {
            d.search(&query(i))
                .into_iter()
                .map(|h| (h.agent_id, h.score))
                .collect()
        })
        .collect()
}

/// Recall@10 of `fast` against `exact`, and how much lower the mean score of `fast`'s top 10
/// is than the exact top 10's.
fn recall(exact: &[Vec<(String, f64)>], fast: &[Vec<(String, f64)>]) -> (f64, f64) {
    let mean = |v: &[(String, f64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len().max(1) as f64;
    let (mut found, mut wanted, mut gap) = (0usize, 0usize, 0.0f64);
    for (e, f) in exact.iter().zip(fast) {
        wanted += e.len();
        found += e.iter().filter(|h| f.iter().any(|x| x.0 == h.0)).count();
        gap += mean(e) - mean(f);
    }
    (
        found as f64 / wanted.max(1) as f64,
        gap / exact.len().max(1) as f64,
    )
}

/// Milliseconds of `n` searches run one at a time, sorted.
fn latencies_ms(d: &Discovery, n: usize, query: &impl Fn(usize) -> Query) -> Vec<f64> {
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
    let lat = latencies_ms(&d, queries_n, &query);
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
