//! Re-ranking by a transformer (`serve --embedder minilm`). The static model's index still
//! retrieves the candidates — fast, and at any size — and the transformer's vectors of those
//! candidates decide their order: paraphrases that share no word with a card land where the
//! static model cannot put them.
//!
//! Card vectors are computed off the request path: a registration queues its card, and a
//! background task ([`super::Discovery::run_rerank`]) embeds queued cards in batches, stores
//! each vector beside the static one (same `embeddings` table, keyed by the transformer's model
//! ID, dropped with the version it belongs to) and adds it to the map searched here. At start
//! the task walks the store once: stored vectors are loaded, missing ones computed. Until a
//! card has its vector it keeps its static score, so a node answers from the first second and
//! gets better as the backlog drains (progress in `/v1/node` → `rerank`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::index::{Quantized, dot_i8};
use super::transformer::TransformerEmbedder;

/// Cards embedded per forward pass: long enough to amortize the matrix set-up, short enough
/// that a query waiting for the CPU does not wait long.
pub const BATCH: usize = 16;
/// Candidates the static index hands to the re-ranker (at least; 4 × the limit when larger).
pub const CANDIDATES: usize = 100;
/// Queued cards kept in memory; past it the task re-walks the store instead.
const QUEUE_CAP: usize = 4096;

/// One card version waiting for its transformer vector.
#[derive(Debug)]
pub(super) struct Job {
    pub key: [u8; 32],
    pub seq: i64,
    pub text: String,
}

/// How far the background embedding has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RerankProgress {
    /// Indexed cards with a transformer vector of their current version.
    pub ready: u64,
    /// Cards waiting in the queue (a store walk in progress may find more).
    pub queued: u64,
    /// Vectors computed since the node started.
    pub embedded: u64,
    /// True while the start-up walk of the store runs.
    pub scanning: bool,
}

/// The re-ranker's state: the encoder, the vectors, the queue.
pub struct Rerank {
    pub(super) encoder: Arc<TransformerEmbedder>,
    vectors: RwLock<HashMap<[u8; 32], (i64, Quantized)>>,
    queue: Mutex<VecDeque<Job>>,
    pub(super) rescan: AtomicBool,
    pub(super) scanning: AtomicBool,
    embedded: AtomicU64,
    pub(super) wake: tokio::sync::Notify,
    queries: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Rerank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rerank")
            .field("model", &self.encoder)
            .field("progress", &self.progress())
            .finish()
    }
}

impl Rerank {
    /// A re-ranker over `encoder`, with no vectors yet; the first run walks the store.
    pub fn new(encoder: Arc<TransformerEmbedder>) -> Self {
        Self {
            encoder,
            vectors: RwLock::new(HashMap::new()),
            queue: Mutex::new(VecDeque::new()),
            rescan: AtomicBool::new(true),
            scanning: AtomicBool::new(false),
            embedded: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            queries: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// The transformer's model ID.
    pub fn model_id(&self) -> &str {
        use super::Embedder as _;
        self.encoder.id()
    }

    /// The transformer.
    pub fn encoder(&self) -> &Arc<TransformerEmbedder> {
        &self.encoder
    }

    /// The transformer's vector of a query (what a search computes before re-ranking).
    pub fn embed_query(&self, text: &str) -> Quantized {
        use super::Embedder as _;
        Quantized::new(&self.encoder.embed(text))
    }

    /// A turn to run a query through the transformer (about 8 ms of one core each): as many at
    /// once as there are cores, so a flood of queries waits in line (bounded by the server's
    /// request timeout) instead of piling threads and activations onto the blocking pool.
    pub async fn query_slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.queries
            .acquire()
            .await
            .expect("the query semaphore is never closed")
    }

    /// Progress of the background embedding.
    pub fn progress(&self) -> RerankProgress {
        RerankProgress {
            ready: self.vectors.read().expect("rerank lock").len() as u64,
            queued: self.queue.lock().expect("rerank queue").len() as u64,
            embedded: self.embedded.load(Ordering::Relaxed),
            scanning: self.scanning.load(Ordering::Relaxed),
        }
    }

    /// Queues version `seq` of `key` (indexing it already dropped its older vector).
    pub(super) fn enqueue(&self, key: [u8; 32], seq: i64, text: &str) {
        let mut q = self.queue.lock().expect("rerank queue");
        if q.len() >= QUEUE_CAP {
            self.rescan.store(true, Ordering::Relaxed);
        } else {
            q.push_back(Job {
                key,
                seq,
                text: text.to_string(),
            });
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Drops `key`'s vector (its card was replaced or removed).
    pub(super) fn forget(&self, key: &[u8; 32]) {
        self.vectors.write().expect("rerank lock").remove(key);
    }

    /// Up to `n` queued jobs.
    pub(super) fn take(&self, n: usize) -> Vec<Job> {
        let mut q = self.queue.lock().expect("rerank queue");
        let n = n.min(q.len());
        q.drain(..n).collect()
    }

    /// True when `key` has a vector of version `seq` (or newer).
    pub(super) fn has(&self, key: &[u8; 32], seq: i64) -> bool {
        self.vectors
            .read()
            .expect("rerank lock")
            .get(key)
            .is_some_and(|(s, _)| *s >= seq)
    }

    /// Keeps `v` as the vector of version `seq` of `key` unless a newer one is held.
    pub(super) fn insert(&self, key: [u8; 32], seq: i64, v: Quantized) {
        let mut m = self.vectors.write().expect("rerank lock");
        match m.get(&key) {
            Some((s, _)) if *s >= seq => {}
            _ => {
                m.insert(key, (seq, v));
            }
        }
    }

    /// Embeds `jobs`, keeps each vector (unless a newer one is held) and returns their stored
    /// form `(seq, bytes)`: the queue's batches and the store walk's pages alike.
    pub(super) fn embed_jobs(&self, jobs: &[Job]) -> Vec<(i64, Vec<u8>)> {
        let texts: Vec<&str> = jobs.iter().map(|j| j.text.as_str()).collect();
        let vectors = self.embed_all(&texts);
        self.embedded
            .fetch_add(vectors.len() as u64, Ordering::Relaxed);
        jobs.iter()
            .zip(vectors)
            .map(|(j, v)| {
                let bytes = v.to_bytes();
                self.insert(j.key, j.seq, v);
                (j.seq, bytes)
            })
            .collect()
    }

    /// Embeds `texts` in batches of [`BATCH`], shortest first (less padding).
    fn embed_all(&self, texts: &[&str]) -> Vec<Quantized> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Option<Quantized>> = (0..texts.len()).map(|_| None).collect();
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vecs = match self.encoder.embed_batch(&batch) {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, "transformer embedding failed");
                    batch.iter().map(|_| vec![0.0; 1]).collect()
                }
            };
            for (&i, v) in chunk.iter().zip(vecs) {
                out[i] = Some(Quantized::new(&v));
            }
        }
        out.into_iter()
            .map(|v| v.unwrap_or_else(|| Quantized::new(&[0.0])))
            .collect()
    }

    /// The transformer similarity of `query` to each `(key, seq)` whose vector of exactly that
    /// version is held (one lock for the whole candidate list).
    pub(super) fn similarities(
        &self,
        query: &Quantized,
        items: &[([u8; 32], i64)],
    ) -> Vec<Option<f32>> {
        let m = self.vectors.read().expect("rerank lock");
        items
            .iter()
            .map(|(key, seq)| {
                let (s, v) = m.get(key)?;
                (*s == *seq && v.q.len() == query.q.len())
                    .then(|| dot_i8(&query.q, &v.q) as f32 * query.scale * v.scale)
            })
            .collect()
    }
}
