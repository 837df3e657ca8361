//! Discovery by meaning: every live card is embedded by this node (never trusting vectors from
//! elsewhere) and kept in an in-memory index; a query is embedded the same way and ranked by
//! cosine similarity, plus a small lexical (BM25) boost for exact words, names, tags and IDs.
//!
//! Flow: `register` calls [`Discovery::prepare`] (embed + quantize) before the store write, the
//! vector is stored in the same transaction as the card (with the model's ID), and after the
//! commit [`Discovery::apply`] puts it in the index — newer sequence numbers win, so concurrent
//! updates cannot leave an older version indexed. At start [`Discovery::load`] rebuilds the
//! index from the store, re-embedding any card whose stored vector came from another model.

pub mod embed;
pub mod index;
pub mod lexical;
pub mod lsh;
pub mod rerank;
mod slot_table;
pub mod transformer;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{Map, Value};

pub use embed::{Embedder, EmbedderError, LazyBuiltin, StaticEmbedder};
pub use index::{Filter, Index, Meta, Quantized, Scored};
pub use rerank::{Rerank, RerankProgress};
pub use transformer::TransformerEmbedder;

use crate::encoding::{now_unix, parse_rfc3339};
use crate::identity::{did_from_key_bytes, key_bytes_of_did};
use crate::store::{Store, StoreError, VectorTable};

/// Default weight of the lexical share added to the cosine similarity.
pub const DEFAULT_LEXICAL_WEIGHT: f32 = 0.1;
/// Added to the score of the card whose agent ID is the query itself: more than any cosine
/// difference, so an exact ID always ranks first (when it passes the filters).
const EXACT_ID_BONUS: f32 = 2.0;
/// Most results one query returns.
pub const MAX_LIMIT: usize = 100;
/// The least `score` a result of a query has: below it a card shares next to nothing with the
/// query (docs/protocol.md §6, Readings: discovery).
pub const MIN_RELEVANCE: f32 = 0.05;
/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;

/// The built-in embedder, one per process; its model is loaded on first use ([`LazyBuiltin`]).
pub fn builtin_embedder() -> Arc<dyn Embedder> {
    static BUILTIN: OnceLock<Arc<LazyBuiltin>> = OnceLock::new();
    BUILTIN.get_or_init(|| Arc::new(LazyBuiltin::new())).clone()
}

/// What a card contributes to discovery.
#[derive(Debug, Clone)]
pub struct CardDoc {
    /// The text embedded: `vector_desc`, else name, description, skills and tags.
    pub embed_text: String,
    /// The text the re-ranker embeds: `vector_desc`, else the description, else `embed_text`.
    /// A transformer reads prose: names and tag lists dilute its mean-pooled vector (on the
    /// development query set, paraphrase recall@3 0.969 from the description alone, 0.938
    /// from everything; docs/protocol.md §6).
    pub rerank_text: String,
    /// The text indexed lexically: everything above plus skill IDs and the agent ID.
    pub lexical_text: String,
    /// Lowercased tags.
    pub tags: Vec<String>,
    /// Lowercased protocols.
    pub protocols: Vec<String>,
    /// `issued_at`, unix seconds.
    pub issued_at: i64,
    /// `expires_at`, unix seconds, or `i64::MAX`.
    pub expires_at: i64,
}

fn str_field<'a>(m: &'a Map<String, Value>, f: &str) -> &'a str {
    m.get(f).and_then(Value::as_str).unwrap_or("")
}

fn str_list(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

impl CardDoc {
    /// Extracts the discovery fields of a (verified) manifest.
    pub fn from_manifest(m: &Map<String, Value>) -> Self {
        let name = str_field(m, "name");
        let description = str_field(m, "description");
        let tags: Vec<&str> = str_list(m.get("tags")).collect();
        let mut skills = String::new();
        let mut skill_ids = String::new();
        for s in m
            .get("skills")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for f in ["name", "description"] {
                if let Some(t) = s.get(f).and_then(Value::as_str) {
                    skills.push_str(t);
                    skills.push_str(". ");
                }
            }
            for t in str_list(s.get("tags")) {
                skills.push_str(t);
                skills.push(' ');
            }
            if let Some(id) = s.get("id").and_then(Value::as_str) {
                skill_ids.push_str(id);
                skill_ids.push(' ');
            }
        }
        let described = format!("{name}. {description}. {skills} {}", tags.join(" "));
        let (embed_text, rerank_text) = match m.get("vector_desc").and_then(Value::as_str) {
            Some(v) if !v.trim().is_empty() => (v.to_string(), v.to_string()),
            _ if !description.trim().is_empty() => (described.clone(), description.to_string()),
            _ => (described.clone(), described.clone()),
        };
        // The agent ID is not indexed as a word: exact-ID queries are matched directly
        // (`EXACT_ID_BONUS`), and 100k unique IDs would double the lexical index's memory.
        let lexical_text = format!("{described} {skill_ids} {}", str_field(m, "vector_desc"));
        Self {
            embed_text,
            rerank_text,
            lexical_text,
            tags: tags.iter().map(|t| t.to_lowercase()).collect(),
            protocols: str_list(m.get("protocols"))
                .map(str::to_lowercase)
                .collect(),
            issued_at: parse_rfc3339(str_field(m, "issued_at")).unwrap_or(0),
            expires_at: m
                .get("expires_at")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339)
                .unwrap_or(i64::MAX),
        }
    }
}

/// A card ready to index: its discovery fields and its vector.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Discovery fields.
    pub doc: CardDoc,
    /// The quantized embedding.
    pub vector: Quantized,
}

/// One search.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Natural-language text; empty for filter-only browsing.
    pub text: String,
    /// Tags that must all be present (case-insensitive).
    pub tags: Vec<String>,
    /// A protocol that must be present.
    pub protocol: Option<String>,
    /// Lowest local trust.
    pub min_trust: f64,
    /// Most results.
    pub limit: usize,
}

/// One ranked result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The agent.
    pub agent_id: String,
    /// The indexed version's sequence number.
    pub seq: i64,
    /// Final rank score.
    pub score: f64,
    /// Cosine similarity to the query (0 without one).
    pub similarity: f64,
    /// Lexical share in [0, 1] (0 without a query).
    pub lexical: f64,
    /// Local trust score.
    pub trust: f64,
}

/// What a card is provided under in the DHT (docs/protocol.md §7b): its lowercased tags and
/// protocols, its skill IDs, and the semantic buckets of this node's embedding of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderTerms {
    /// Lowercased tags.
    pub tags: Vec<String>,
    /// Lowercased protocols.
    pub protocols: Vec<String>,
    /// Skill IDs as written.
    pub skills: Vec<String>,
    /// LSH buckets of the embedding.
    pub buckets: Vec<lsh::Bucket>,
}

/// How a start-up load went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadStats {
    /// Cards indexed.
    pub indexed: usize,
    /// Of those, embedded anew (no vector of this model was stored).
    pub embedded: usize,
    /// Milliseconds the load took.
    pub millis: u64,
    /// The vector graph, when the index is large enough for one.
    pub ann: Option<AnnReport>,
}

/// The discovery engine of a node.
pub struct Discovery {
    embedder: Arc<dyn Embedder>,
    index: RwLock<Index>,
    tombstones: RwLock<HashMap<[u8; 32], i64>>,
    lexical_weight: f32,
    rerank: Option<Rerank>,
    /// Where the vector graph is saved (none: rebuilt at every start).
    ann_dir: Option<std::path::PathBuf>,
    /// Woken when a registration makes the index large enough for a graph.
    ann_wanted: tokio::sync::Notify,
    /// Woken when a card waits in the graph's tail (see [`Discovery::drain_graph`]).
    graph_tail: tokio::sync::Notify,
    /// Card versions indexed or removed since start: how busy registration is (see
    /// [`Discovery::changes`]).
    changes: std::sync::atomic::AtomicU64,
    /// Zeroed lexical score arrays, reused by searches (at most [`LEX_BUFFERS`] kept).
    lex_buffers: std::sync::Mutex<Vec<Vec<f32>>>,
}

/// Lexical score arrays kept for reuse: one per search running at once on a small machine.
const LEX_BUFFERS: usize = 8;

/// Cards inserted into the vector graph per batch: ~0.1 s of one core at 100k cards, so the
/// index is taken briefly and often, and a shutdown waits for at most one batch.
pub const GRAPH_BATCH: usize = 256;

/// The threads that build and insert into the vector graph: as many as the global pool's, at
/// a lower scheduling priority (nice 10, on Linux), so a burst of registrations is answered
/// first and the graph catches up with the CPU left over. The global pool stays for searches.
fn graph_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("graph-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            // Only fails if the OS refuses threads; the global pool is the fallback.
            .unwrap_or_else(|_| {
                rayon::ThreadPoolBuilder::new()
                    .build()
                    .expect("a rayon pool")
            })
    })
}

/// Lowers the calling thread's scheduling priority (Linux keeps a nice value per thread, and
/// `setpriority` given a thread ID sets that thread's alone).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::debug!(error = %e, "cannot lower the graph threads' priority");
    }
}

/// What [`Discovery::maintain_ann`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnnReport {
    /// A graph was loaded from disk (true) or built from the vectors (false).
    pub loaded: bool,
    /// Cards a loaded graph lacked (changed since it was saved), queued for insertion.
    pub inserted: usize,
    /// Versions removed from a loaded graph (revoked or replaced since it was saved).
    pub removed: usize,
    /// Cards in the graph.
    pub cards: usize,
    /// Milliseconds it took.
    pub millis: u64,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("model", &self.embedder.id())
            .finish_non_exhaustive()
    }
}

/// Stores freshly computed transformer vectors `(seq, bytes)` (nothing to do for none).
async fn put_rerank_vectors(
    store: &Store,
    model: &str,
    fresh: Vec<(i64, Vec<u8>)>,
) -> Result<(), StoreError> {
    if fresh.is_empty() {
        return Ok(());
    }
    let model = model.to_string();
    store
        .write(move |ctx| crate::store::put_vectors(ctx, VectorTable::Rerank, &model, &fresh))
        .await
}

/// One result from a scored slot.
fn hit(s: &Scored, key: &[u8; 32], seq: i64, trust: f32) -> Hit {
    Hit {
        agent_id: did_from_key_bytes(key),
        seq,
        score: f64::from(s.score),
        similarity: f64::from(s.similarity),
        lexical: f64::from(s.lexical),
        trust: f64::from(trust),
    }
}

/// Index keys are the IDs' key bytes; cards reaching the index were verified already, so the
/// bytes are decoded without the point decompression a full check costs.
fn key_of(agent_id: &str) -> Option<[u8; 32]> {
    key_bytes_of_did(agent_id)
}

impl Discovery {
    /// An empty engine over `embedder`.
    pub fn new(embedder: Arc<dyn Embedder>, lexical_weight: f32) -> Self {
        let dim = embedder.dim();
        Self {
            embedder,
            index: RwLock::new(Index::new(dim)),
            tombstones: RwLock::new(HashMap::new()),
            lexical_weight,
            rerank: None,
            ann_dir: None,
            ann_wanted: tokio::sync::Notify::new(),
            graph_tail: tokio::sync::Notify::new(),
            changes: std::sync::atomic::AtomicU64::new(0),
            lex_buffers: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// As [`Discovery::new`], re-ranking candidates by `encoder` (see [`rerank`]): run
    /// [`Discovery::run_rerank`] to compute the cards' transformer vectors.
    pub fn with_rerank(
        embedder: Arc<dyn Embedder>,
        lexical_weight: f32,
        encoder: Arc<TransformerEmbedder>,
    ) -> Self {
        Self {
            rerank: Some(Rerank::new(encoder)),
            ..Self::new(embedder, lexical_weight)
        }
    }

    /// Saves the vector graph in `dir` (a folder of its own) and reloads it from there.
    pub fn with_ann_dir(self, dir: std::path::PathBuf) -> Self {
        Self {
            ann_dir: Some(dir),
            ..self
        }
    }

    /// Sets the size from which the index keeps its vectors in a graph (`usize::MAX`: never).
    pub fn set_ann_min(&self, n: usize) {
        self.index.write().expect("index lock").set_ann_min(n);
    }

    /// Resolves when the index has grown large enough for a graph (see
    /// [`Discovery::maintain_ann`]).
    pub async fn ann_wanted(&self) {
        self.ann_wanted.notified().await;
    }

    /// See [`Index::tune_ann`].
    pub fn tune_ann(&self, candidates: usize, ef: usize) {
        self.index
            .write()
            .expect("index lock")
            .tune_ann(candidates, ef);
    }

    /// How searches run: `scan`, `prefilter` or `graph` (see [`Index::search_kind`]).
    pub fn search_kind(&self) -> &'static str {
        self.index.read().expect("index lock").search_kind()
    }

    /// Gives the index its vector graph when it has grown past [`index::ANN_MIN`] cards: the
    /// one saved in the graph folder, brought up to date, or else a new one built on all cores
    /// from a copy of the vectors (searches and registrations go on meanwhile; what changed is
    /// applied before the graph is used). `None` when no graph was wanted. Blocking: minutes for
    /// a million cards built anew, about a second loaded.
    pub fn maintain_ann(&self) -> Result<Option<AnnReport>, index::ann::AnnError> {
        use index::ann::Ann;
        let started = Instant::now();
        if !self.index.read().expect("index lock").wants_ann() {
            return Ok(None);
        }
        let dim = self.embedder.dim();
        let saved = match &self.ann_dir {
            Some(dir) => match Ann::open(dir, dim, self.model_id()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "rebuilding the vector graph");
                    None
                }
            },
            None => None,
        };
        let loaded = saved.is_some();
        let (ann, keys) = match saved {
            Some(s) => s,
            None => {
                let (keys, rows) = self.index.read().expect("index lock").snapshot();
                let ann = graph_pool().install(|| {
                    Ann::build(
                        dim,
                        keys.par_iter()
                            .copied()
                            .zip(rows.par_chunks_exact(dim.max(1))),
                        keys.len(),
                    )
                })?;
                (ann, keys)
            }
        };
        let mut idx = self.index.write().expect("index lock");
        if !idx.wants_ann() {
            return Ok(None); // another caller got there first
        }
        let (inserted, removed) = idx.attach_ann(ann, &keys)?;
        Ok(Some(AnnReport {
            loaded,
            inserted,
            removed,
            cards: idx.len(),
            millis: started.elapsed().as_millis() as u64,
        }))
    }

    /// Resolves when cards wait in the graph's tail (see [`Discovery::drain_graph`]).
    pub async fn graph_tail(&self) {
        self.graph_tail.notified().await;
    }

    /// Card versions indexed or removed since start (a counter: the node's graph task reads
    /// how fast it moves to leave the CPU to a burst of registrations).
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Cards indexed but not yet in the vector graph (searched exactly meanwhile).
    pub fn graph_pending(&self) -> usize {
        self.index.read().expect("index lock").graph_pending()
    }

    /// Moves the cards waiting in the graph's tail into the graph, [`GRAPH_BATCH`] at a time
    /// on low-priority threads, and takes out versions no longer live; returns when as many
    /// cards as waited on entry went in (registrations may outpace the inserter: the caller
    /// gets back control, to save or stop, and comes again), or when `stop` says so.
    /// Registrations and searches go on meanwhile (the index is held only to take and hand
    /// back each batch). Returns the cards inserted. Blocking; the graph's only writer, so
    /// callers run it from one task, as [`Discovery::ann_round`] is.
    pub fn drain_graph(&self, stop: &dyn Fn() -> bool) -> Result<usize, index::ann::AnnError> {
        let budget = self.graph_pending().max(1);
        let mut inserted = 0;
        while inserted < budget && !stop() {
            let Some(work) = self
                .index
                .write()
                .expect("index lock")
                .take_graph_work(GRAPH_BATCH)?
            else {
                break;
            };
            if let Err(e) = graph_pool().install(|| work.run()) {
                self.index
                    .write()
                    .expect("index lock")
                    .graph_work_failed(work);
                return Err(e);
            }
            self.index
                .write()
                .expect("index lock")
                .graph_work_done(&work);
            inserted += work.inserts();
        }
        Ok(inserted)
    }

    /// One round of graph upkeep, logged: [`Discovery::maintain_ann`] when `build`, the tail
    /// drained into the graph (until `stop`), then [`Discovery::save_ann`] (so a graph built
    /// anew is on disk at once and a crash does not cost the next start a rebuild). Returns
    /// what the build did. Blocking.
    pub fn ann_round(
        &self,
        build: bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<AnnReport>, index::ann::AnnError> {
        let built = if build { self.maintain_ann() } else { Ok(None) };
        if build && let Err(e) = self.drain_graph(stop) {
            tracing::error!(error = %e, "cannot insert into the vector graph");
        }
        match self.save_ann() {
            Ok(true) => tracing::info!("vector graph saved"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot save the vector graph"),
        }
        match &built {
            Ok(Some(r)) => tracing::info!(
                cards = r.cards,
                loaded = r.loaded,
                inserted = r.inserted,
                removed = r.removed,
                millis = r.millis,
                "vector graph ready"
            ),
            Ok(None) => {}
            // The sketch prefilter still answers; the next round tries again.
            Err(e) => tracing::error!(error = %e, "cannot build the vector graph"),
        }
        built
    }

    /// Saves the vector graph to the graph folder if it changed since it was built, loaded or
    /// last saved. True when it was written. Blocking (about a second per million cards);
    /// registrations and searches go on meanwhile. Run only where the graph's inserter runs
    /// ([`Discovery::ann_round`]): the keys saved are those in the graph between two batches.
    pub fn save_ann(&self) -> Result<bool, index::ann::AnnError> {
        let Some(dir) = &self.ann_dir else {
            return Ok(false);
        };
        let (ann, keys) = {
            let idx = self.index.read().expect("index lock");
            let Some(ann) = idx.ann().filter(|a| a.changes() > 0) else {
                return Ok(false);
            };
            (ann.clone(), idx.ann_keys())
        };
        ann.save(dir, self.model_id(), &keys)?;
        Ok(true)
    }

    /// The re-ranker, when there is one.
    pub fn rerank(&self) -> Option<&Rerank> {
        self.rerank.as_ref()
    }

    /// The model whose similarities a query's scores are: the re-ranker's when there is one.
    pub fn ranking_model(&self) -> &str {
        match &self.rerank {
            Some(r) => r.model_id(),
            None => self.model_id(),
        }
    }

    /// The embedding model's ID.
    pub fn model_id(&self) -> &str {
        self.embedder.id()
    }

    /// Searches from `n` cards on prefilter by sign sketches (`usize::MAX`: always exact).
    pub fn set_prefilter_min(&self, n: usize) {
        self.index.write().expect("index lock").set_prefilter_min(n);
    }

    /// Heap bytes held by the index, by part.
    pub fn heap_breakdown(&self) -> Vec<(&'static str, usize)> {
        self.index.read().expect("index lock").heap_breakdown()
    }

    /// Heap bytes held by the index.
    pub fn heap_bytes(&self) -> usize {
        self.index.read().expect("index lock").heap_bytes()
    }

    /// Live cards in the index.
    pub fn len(&self) -> usize {
        self.index.read().expect("index lock").len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Embeds a manifest (CPU only; tens of microseconds).
    pub fn prepare(&self, manifest: &Map<String, Value>) -> Prepared {
        let doc = CardDoc::from_manifest(manifest);
        let vector = Quantized::new(&self.embedder.embed(&doc.embed_text));
        Prepared { doc, vector }
    }

    /// What `manifest`'s card is provided under in the DHT (embeds it again: DHT mode only).
    pub fn provider_terms(&self, manifest: &Map<String, Value>) -> ProviderTerms {
        let doc = CardDoc::from_manifest(manifest);
        let skills = manifest
            .get("skills")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("id").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        ProviderTerms {
            buckets: lsh::buckets(&self.embedder.embed(&doc.embed_text)),
            tags: doc.tags,
            protocols: doc.protocols,
            skills,
        }
    }

    /// The semantic buckets a free-text query probes (none for an empty query).
    pub fn query_probes(&self, text: &str) -> Vec<lsh::Bucket> {
        let text = text.trim();
        if text.is_empty() {
            return Vec::new();
        }
        lsh::probes(&self.embedder.embed(text))
    }

    /// Indexes version `seq` of `agent_id` unless a newer version is already indexed or revoked.
    pub fn apply(&self, agent_id: &str, seq: i64, p: &Prepared) {
        if let (Some(key), true, Some(r)) = (
            key_of(agent_id),
            self.index_version(agent_id, seq, p),
            &self.rerank,
        ) {
            r.enqueue(key, seq, &p.doc.rerank_text);
        }
    }

    /// Puts version `seq` in the index; false when a newer one is indexed or revoked.
    fn index_version(&self, agent_id: &str, seq: i64, p: &Prepared) -> bool {
        let Some(key) = key_of(agent_id) else {
            return false;
        };
        if self
            .tombstones
            .read()
            .expect("tombstone lock")
            .get(&key)
            .is_some_and(|t| *t >= seq)
        {
            return false;
        }
        let mut idx = self.index.write().expect("index lock");
        if idx.seq_of(&key).is_some_and(|s| s >= seq) {
            return false;
        }
        let mut tags: Vec<u32> = p.doc.tags.iter().map(|t| idx.intern(t)).collect();
        tags.sort_unstable();
        tags.dedup();
        let mut protocols: Vec<u32> = p.doc.protocols.iter().map(|t| idx.intern(t)).collect();
        protocols.sort_unstable();
        protocols.dedup();
        let meta = Meta {
            key,
            seq,
            issued_at: p.doc.issued_at,
            expires_at: p.doc.expires_at,
            tags: tags.into(),
            protocols: protocols.into(),
        };
        idx.upsert(meta, &p.vector, &p.doc.lexical_text);
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if idx.wants_ann() {
            self.ann_wanted.notify_one();
        } else if idx.graph_pending() > 0 {
            self.graph_tail.notify_one();
        }
        if let Some(r) = &self.rerank {
            r.forget(&key);
        }
        true
    }

    /// Drops `agent_id` from the index: version `seq` is a tombstone.
    pub fn remove(&self, agent_id: &str, seq: i64) {
        let Some(key) = key_of(agent_id) else { return };
        let mut tombs = self.tombstones.write().expect("tombstone lock");
        let t = tombs.entry(key).or_insert(seq);
        *t = (*t).max(seq);
        let mut idx = self.index.write().expect("index lock");
        if idx.seq_of(&key).is_none_or(|s| s < seq) {
            idx.remove(&key);
            self.changes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(r) = &self.rerank {
                r.forget(&key);
            }
        }
    }

    /// Updates the local trust score of `agent_id` (used by `min_trust` and browsing order).
    pub fn set_trust(&self, agent_id: &str, score: f64) {
        if let Some(key) = key_of(agent_id) {
            self.index
                .write()
                .expect("index lock")
                .set_trust(&key, score as f32);
        }
    }

    /// Updates several scores under one lock.
    pub fn set_trusts<'a>(&self, scores: impl IntoIterator<Item = (&'a str, f64)>) {
        let mut idx = self.index.write().expect("index lock");
        for (agent_id, score) in scores {
            if let Some(key) = key_of(agent_id) {
                idx.set_trust(&key, score as f32);
            }
        }
    }

    /// Ranks the index for `q`. CPU-bound (an exact scan): call it off the async executor.
    pub fn search(&self, q: &Query) -> Vec<Hit> {
        let text = q.text.trim();
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let Some(r) = self.rerank.as_ref().filter(|_| !text.is_empty()) else {
            return self
                .ranked(q, text, limit)
                .into_iter()
                .map(|(s, key, seq, trust)| hit(&s, &key, seq, trust))
                .collect();
        };
        // The transformer's view of the query (milliseconds) is computed on one core while the
        // static index finds the candidates on the other.
        let wanted = (limit * 4).max(rerank::CANDIDATES);
        let (qv, mut candidates) =
            rayon::join(|| r.embed_query(text), || self.ranked(q, text, wanted));
        // The transformer's similarity replaces the static one; the lexical share, the exact-ID
        // bonus and the trust term stay. Cards still waiting for their vector keep their static
        // score.
        let items: Vec<([u8; 32], i64)> = candidates.iter().map(|c| (c.1, c.2)).collect();
        for (c, sim) in candidates.iter_mut().zip(r.similarities(&qv, &items)) {
            if let Some(sim) = sim {
                c.0.score += sim - c.0.similarity;
                c.0.similarity = sim;
            }
        }
        candidates.sort_unstable_by_key(|c| c.0);
        candidates
            .into_iter()
            .filter(|c| c.0.score >= MIN_RELEVANCE)
            .take(limit)
            .map(|(s, key, seq, trust)| hit(&s, &key, seq, trust))
            .collect()
    }

    /// The static index's best `wanted` for `q`, each with its card's key, version and trust
    /// (read under the same lock, so a slot reused afterwards cannot mislabel a result). With
    /// text, only matches (an unrelated card's score is near zero or negative).
    fn ranked(&self, q: &Query, text: &str, wanted: usize) -> Vec<(Scored, [u8; 32], i64, f32)> {
        let query_vec = (!text.is_empty()).then(|| Quantized::new(&self.embedder.embed(text)));
        let idx = self.index.read().expect("index lock");
        let mut filter = Filter {
            tags: Vec::with_capacity(q.tags.len()),
            protocol: None,
            min_trust: q.min_trust as f32,
            now: now_unix(),
        };
        for t in &q.tags {
            match idx.lookup(t) {
                Some(id) => filter.tags.push(id),
                None => return Vec::new(), // no card has this tag
            }
        }
        if let Some(p) = &q.protocol {
            match idx.lookup(p) {
                Some(id) => filter.protocol = Some(id),
                None => return Vec::new(),
            }
        }
        let scored = match &query_vec {
            Some(v) => {
                // A zeroed score array from the pool (a million slots are 4 MB to allocate and
                // fault in per query), zeroed again where it was written before it goes back.
                let mut lex = self
                    .lex_buffers
                    .lock()
                    .expect("buffer pool lock")
                    .pop()
                    .unwrap_or_default();
                // Through the graph, common words' posting lists (tens of thousands of cards
                // each at a million) are not walked: the graph finds cards by meaning, and
                // those words' share is added per rescored card.
                let max_df = idx.lexical.walk_limit();
                let (matched, rest) = idx.lexical.walk_into(text, idx.slots(), &mut lex, max_df);
                let pinned = key_of(text).and_then(|k| idx.slot_of(&k)).map(|slot| {
                    if lex.len() <= slot as usize {
                        lex.resize(idx.slots(), 0.0);
                    }
                    lex[slot as usize] = 1.0;
                    (slot, EXACT_ID_BONUS)
                });
                let found = idx.lookup_k(&index::Lookup {
                    query: v,
                    lexical: &lex,
                    matched: Some(&matched),
                    rest: (!rest.is_empty()).then_some(&rest),
                    lex_weight: self.lexical_weight,
                    pinned,
                    filter: &filter,
                    k: wanted,
                });
                for slot in matched.iter().chain(pinned.as_ref().map(|p| &p.0)) {
                    lex[*slot as usize] = 0.0;
                }
                let mut pool = self.lex_buffers.lock().expect("buffer pool lock");
                if pool.len() < LEX_BUFFERS {
                    pool.push(lex);
                }
                found
            }
            None => idx.browse(&filter, wanted),
        };
        scored
            .into_iter()
            // The re-ranker may lift a candidate: only the final score is held to the bar.
            .filter(|s| query_vec.is_none() || self.rerank.is_some() || s.score >= MIN_RELEVANCE)
            .filter_map(|s| {
                let (key, seq, trust) = idx.slot(s.slot)?;
                Some((s, *key, seq, trust))
            })
            .collect()
    }

    /// Rebuilds the index from the store: stored vectors of this model are used as they are,
    /// others are embedded now and written back.
    pub async fn load(self: &Arc<Self>, store: &Store) -> Result<LoadStats, StoreError> {
        let started = Instant::now();
        let model = self.model_id().to_string();
        let dim = self.embedder.dim();
        let mut stats = LoadStats::default();
        let mut after = 0i64;
        loop {
            let m = model.clone();
            let page = store
                .read(move |c| {
                    crate::store::live_cards_with_vectors(c, VectorTable::Index, &m, after, 4096)
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let this = self.clone();
            let model = model.clone();
            let (indexed, fresh) = tokio::task::spawn_blocking(move || {
                let now = now_unix();
                let mut fresh = Vec::new();
                let mut indexed = 0;
                for row in page {
                    let Some(manifest) = row.envelope.get("manifest").and_then(Value::as_object)
                    else {
                        continue;
                    };
                    let doc = CardDoc::from_manifest(manifest);
                    if doc.expires_at <= now {
                        continue;
                    }
                    let vector = match row
                        .vector
                        .as_deref()
                        .and_then(|b| Quantized::from_bytes(b, dim))
                    {
                        Some(v) => v,
                        None => {
                            let v = Quantized::new(&this.embedder.embed(&doc.embed_text));
                            fresh.push((row.seq, v.to_bytes()));
                            v
                        }
                    };
                    // Not queued for the re-ranker: its own start-up walk finds what it lacks.
                    this.index_version(&row.agent_id, row.seq, &Prepared { doc, vector });
                    indexed += 1;
                }
                (indexed, fresh)
            })
            .await
            .map_err(|_| StoreError::Closed)?;
            stats.indexed += indexed;
            stats.embedded += fresh.len();
            if !fresh.is_empty() {
                store
                    .write(move |ctx| {
                        crate::store::put_vectors(ctx, VectorTable::Index, &model, &fresh)
                    })
                    .await?;
            }
        }
        self.index.write().expect("index lock").shrink_to_fit();
        let this = self.clone();
        stats.ann = tokio::task::spawn_blocking(move || this.ann_round(true, &|| false))
            .await
            .map_err(|_| StoreError::Closed)?
            .ok()
            .flatten();
        stats.millis = started.elapsed().as_millis() as u64;
        Ok(stats)
    }

    /// Computes the re-ranker's vectors until `stop`: first a walk of the store (stored vectors
    /// are loaded, missing ones computed and stored), then every card queued by a registration.
    /// Returns at once without a re-ranker.
    pub async fn run_rerank(
        self: Arc<Self>,
        store: Store,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<(), StoreError> {
        let Some(r) = &self.rerank else {
            return Ok(());
        };
        loop {
            if r.rescan.swap(false, std::sync::atomic::Ordering::Relaxed) {
                r.scanning.store(true, std::sync::atomic::Ordering::Relaxed);
                let walked = self.rerank_walk(&store, &stop).await;
                r.scanning
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                walked?;
            }
            loop {
                if stop.is_cancelled() {
                    return Ok(());
                }
                let this = self.clone();
                let fresh = tokio::task::spawn_blocking(move || this.rerank_queued(rerank::BATCH))
                    .await
                    .map_err(|_| StoreError::Closed)?;
                let Some(fresh) = fresh else { break };
                put_rerank_vectors(&store, r.model_id(), fresh).await?;
            }
            tokio::select! {
                () = r.wake.notified() => {}
                () = stop.cancelled() => return Ok(()),
            }
        }
    }

    /// Embeds up to `n` queued cards still indexed at their queued version; returns their
    /// stored form, or `None` when the queue was empty.
    pub fn rerank_queued(&self, n: usize) -> Option<Vec<(i64, Vec<u8>)>> {
        let r = self.rerank.as_ref()?;
        let jobs = r.take(n);
        if jobs.is_empty() {
            return None;
        }
        let jobs: Vec<_> = {
            let idx = self.index.read().expect("index lock");
            jobs.into_iter()
                .filter(|j| idx.seq_of(&j.key) == Some(j.seq) && !r.has(&j.key, j.seq))
                .collect()
        };
        Some(r.embed_jobs(&jobs))
    }

    /// The re-ranker's walk of the store: loads its stored vectors of indexed versions and
    /// computes the missing ones, a page at a time.
    async fn rerank_walk(
        self: &Arc<Self>,
        store: &Store,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<(), StoreError> {
        let Some(r) = &self.rerank else {
            return Ok(());
        };
        let model = r.model_id().to_string();
        let dim = {
            use embed::Embedder as _;
            r.encoder.dim()
        };
        let mut after = 0i64;
        while !stop.is_cancelled() {
            let m = model.clone();
            let page = store
                .read(move |c| {
                    crate::store::live_cards_with_vectors(c, VectorTable::Rerank, &m, after, 256)
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let this = self.clone();
            let fresh = tokio::task::spawn_blocking(move || {
                let Some(r) = &this.rerank else {
                    return Vec::new();
                };
                let mut todo = Vec::new();
                {
                    let idx = this.index.read().expect("index lock");
                    for row in page {
                        let Some(key) = key_of(&row.agent_id) else {
                            continue;
                        };
                        if idx.seq_of(&key) != Some(row.seq) || r.has(&key, row.seq) {
                            continue;
                        }
                        match row
                            .vector
                            .as_deref()
                            .and_then(|b| Quantized::from_bytes(b, dim))
                        {
                            Some(v) => r.insert(key, row.seq, v),
                            None => {
                                let Some(m) =
                                    row.envelope.get("manifest").and_then(Value::as_object)
                                else {
                                    continue;
                                };
                                todo.push(rerank::Job {
                                    key,
                                    seq: row.seq,
                                    text: CardDoc::from_manifest(m).rerank_text,
                                });
                            }
                        }
                    }
                }
                r.embed_jobs(&todo)
            })
            .await
            .map_err(|_| StoreError::Closed)?;
            put_rerank_vectors(store, &model, fresh).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embed_text_prefers_vector_desc() {
        let m = json!({"name": "w", "description": "forecasts", "tags": ["Weather"],
            "skills": [{"id": "fc", "name": "Forecast", "description": "daily"}],
            "protocols": ["HTTP"], "issued_at": "2026-11-24T00:00:00Z"});
        let d = CardDoc::from_manifest(m.as_object().expect("obj"));
        assert!(d.embed_text.contains("forecasts") && d.embed_text.contains("Forecast. daily"));
        assert_eq!(d.tags, vec!["weather"]);
        assert_eq!(d.protocols, vec!["http"]);
        assert_eq!(d.expires_at, i64::MAX);
        let mut m2 = m.clone();
        m2["vector_desc"] = json!("rain and sun");
        let d = CardDoc::from_manifest(m2.as_object().expect("obj"));
        assert_eq!(d.embed_text, "rain and sun");
        assert!(d.lexical_text.contains("fc") && d.lexical_text.contains("forecasts"));
        assert!(!d.lexical_text.contains("did:key"));
    }

    /// Searches reuse zeroed lexical score arrays: whatever one query wrote must not lift a
    /// card in the next, so every answer equals a fresh engine's.
    #[test]
    fn reused_lexical_scores_leave_nothing_behind() {
        let cards = [
            ("weather", "Forecasts rain and wind for any city."),
            (
                "translator",
                "Translates documents into Spanish and French.",
            ),
            ("mailer", "Drafts emails and notes to colleagues."),
            ("stocks", "Quotes stock prices and market news."),
        ];
        let fill = |d: &Discovery| {
            let mut ids = Vec::new();
            for (i, (name, desc)) in cards.iter().enumerate() {
                let id = crate::identity::Identity::from_secret(&[i as u8 + 1; 32]);
                let m =
                    json!({"name": name, "description": desc, "issued_at": "2026-11-24T00:00:00Z"});
                d.apply(
                    id.id(),
                    i as i64 + 1,
                    &d.prepare(m.as_object().expect("obj")),
                );
                ids.push(id.id().to_string());
            }
            ids
        };
        let used = Discovery::new(builtin_embedder(), DEFAULT_LEXICAL_WEIGHT);
        let ids = fill(&used);
        let q = |text: &str| Query {
            text: text.into(),
            limit: 4,
            ..Query::default()
        };
        // Queries with many matched words, and one that is an agent ID (its slot is pinned).
        for text in [
            "rain wind city forecasts",
            "translate documents spanish french emails notes",
            ids[3].as_str(),
        ] {
            used.search(&q(text));
        }
        for text in ["stock market prices", "emails to colleagues", "weather"] {
            let fresh = Discovery::new(builtin_embedder(), DEFAULT_LEXICAL_WEIGHT);
            fill(&fresh);
            let got: Vec<(String, f64)> = used
                .search(&q(text))
                .into_iter()
                .map(|h| (h.agent_id, h.score))
                .collect();
            let want: Vec<(String, f64)> = fresh
                .search(&q(text))
                .into_iter()
                .map(|h| (h.agent_id, h.score))
                .collect();
            assert_eq!(got, want, "{text}");
        }
        let pool = used.lex_buffers.lock().expect("lock");
        assert!(!pool.is_empty(), "a buffer was kept for reuse");
        assert!(
            pool.iter().all(|b| b.iter().all(|v| *v == 0.0)),
            "buffers go back zeroed"
        );
    }
}
