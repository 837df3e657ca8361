//! The in-memory discovery index: one slot per live card with its int8 vector, a 1-bit sign
//! sketch of it, filter fields, local trust and lexical terms.
//!
//! Search below [`PREFILTER_MIN`] cards is an exact scan: int8 dot products over contiguous rows
//! (compiled for AVX2/SSE4.1 with run-time dispatch), split across cores with rayon, keeping a
//! top-k per chunk. Above it an exact scan is memory-bound (100k × 256 bytes streamed per
//! query), so the scan first ranks every card by the Hamming distance of 32-byte sign sketches
//! (an eighth of the bytes), keeps the best [`RESCORE`] candidates (plus the best lexical
//! matches and an exact-ID match), and rescores those exactly. The benchmark reports its
//! recall against the exact scan.
//!
//! From [`ANN_MIN`] cards the vectors live in an HNSW graph ([`ann`]) instead: a search walks
//! the graph for the nearest cards that pass the filters, adds the best lexical matches and an
//! exact-ID match, and rescores them all exactly. The index's own rows and sketches are then
//! dropped (the graph keeps the int8 vectors), so a million cards fit in a few hundred MB.
//!
//! Inserting into the graph costs a few hundred microseconds of CPU a card, several times
//! what the rest of a registration costs, so registrations never wait for it: a card indexed
//! while there is a graph goes to the *tail* (its vector in a plain row, searched exactly
//! beside the graph), and a background inserter moves the tail into the graph in batches
//! ([`Index::take_graph_work`], [`Index::graph_work_done`]). The inserter is the graph's only
//! writer; an old version replaced or revoked is only marked (`stale`) for it to remove,
//! and the search skips keys that are no longer live.

pub mod ann;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rayon::prelude::*;

use super::lexical::Lexical;
use super::slot_table::{SlotTable, reuse_or_push};
use ann::{Ann, AnnError};

/// A vector quantized to int8 with one scale: `v ≈ scale * q`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// Multiplier back to floats.
    pub scale: f32,
    /// The components.
    pub q: Vec<i8>,
}

impl Quantized {
    /// Quantizes `v` symmetrically: the largest component maps to ±127.
    pub fn new(v: &[f32]) -> Self {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if max == 0.0 {
            return Self {
                scale: 0.0,
                q: vec![0; v.len()],
            };
        }
        let scale = max / 127.0;
        let q = v
            .iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Self { scale, q }
    }

    /// Stored form: 4-byte little-endian scale, then the components.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.q.len());
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend(self.q.iter().map(|x| *x as u8));
        out
    }

    /// Reads the stored form; `None` if the length is not `4 + dim`.
    pub fn from_bytes(b: &[u8], dim: usize) -> Option<Self> {
        if b.len() != 4 + dim {
            return None;
        }
        let scale = f32::from_le_bytes(b[..4].try_into().ok()?);
        Some(Self {
            scale,
            q: b[4..].iter().map(|x| *x as i8).collect(),
        })
    }
}

/// Dot product of two int8 vectors (written so LLVM vectorizes it).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum()
}

/// `out[r] = dot(query, rows[r])` for consecutive rows of `query.len()` bytes.
///
/// The hot loop of every search. `multiversion` compiles it for AVX2 and SSE4.1 as well as the
/// x86-64 baseline (SSE2) and picks the best at run time, which is ~4× faster on AVX2 machines
/// than the baseline build alone; no hand-written intrinsics are needed.
#[multiversion::multiversion(targets("x86_64+avx2", "x86_64+sse4.1", "aarch64+neon"))]
pub fn dots_i8(query: &[i8], rows: &[i8], out: &mut [i32]) {
    // The query is widened once so the loop sign-extends only the rows (16 lanes at a time
    // on AVX2) and multiply-adds pairs into i32 lanes.
    let q: Vec<i16> = query.iter().map(|x| i16::from(*x)).collect();
    let dim = q.len();
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        // Pairs summed per lane: the shape LLVM lowers to `pmaddwd`.
        let mut acc = [0i32; 8];
        for (qc, rc) in q.chunks_exact(16).zip(row.chunks_exact(16)) {
            for k in 0..8 {
                let (a0, a1) = (i32::from(qc[2 * k]), i32::from(qc[2 * k + 1]));
                let (b0, b1) = (
                    i32::from(i16::from(rc[2 * k])),
                    i32::from(i16::from(rc[2 * k + 1])),
                );
                acc[k] += a0 * b0 + a1 * b1;
            }
        }
        let tail: i32 = q[dim - dim % 16..]
            .iter()
            .zip(&row[dim - dim % 16..])
            .map(|(a, b)| i32::from(*a) * i32::from(*b))
            .sum();
        *o = acc.iter().sum::<i32>() + tail;
    }
}

/// The filter-relevant fields of a card in the index.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Public key bytes of the agent (its ID without the did:key wrapping).
    pub key: [u8; 32],
    /// The version's sequence number on this node.
    pub seq: i64,
    /// `issued_at`, for recency ordering.
    pub issued_at: i64,
    /// `expires_at` or `i64::MAX`.
    pub expires_at: i64,
    /// Interned lowercase tags, sorted.
    pub tags: Box<[u32]>,
    /// Interned lowercase protocols, sorted.
    pub protocols: Box<[u32]>,
}

/// What a slot keeps of [`Meta`] (the key and expiry live in their own arrays): 24 bytes.
#[derive(Debug, Clone)]
struct Slot {
    seq: i64,
    issued_at: i64,
    /// The card's tags and protocols, a set in [`LabelSets`].
    labels: LabelSet,
}

/// A set's number in [`LabelSets`], from 1 so an `Option<Slot>` needs no extra word.
type LabelSet = std::num::NonZeroU32;

/// The distinct sets of labels (tags and protocols in one sorted list, protocols marked with
/// [`PROTOCOL_BIT`]) the live cards hold. A registry has far fewer distinct sets than cards, so
/// a slot keeps a set's number, not a list of its own (16 bytes and an allocation a card); a
/// set no card holds any more is dropped and its number reused.
#[derive(Debug, Default)]
struct LabelSets {
    sets: Vec<Box<[u32]>>,
    /// Cards holding each set.
    refs: Vec<u32>,
    free: Vec<u32>,
    find: SlotTable,
}

impl LabelSets {
    fn get(&self, id: LabelSet) -> &[u32] {
        &self.sets[id.get() as usize - 1]
    }

    /// The set holding exactly `labels` (sorted, deduplicated), counted as held once more.
    fn acquire(&mut self, labels: Vec<u32>) -> LabelSet {
        let sets = &self.sets;
        let i = match self.find.get(&&labels[..], |i| &*sets[i as usize]) {
            Some(i) => i,
            None => {
                let i = reuse_or_push(&mut self.sets, &mut self.free, labels.into_boxed_slice());
                self.refs.resize(self.sets.len(), 0);
                let sets = &self.sets;
                self.find.insert(i, |i| &*sets[i as usize]);
                i
            }
        };
        self.refs[i as usize] += 1;
        LabelSet::MIN.saturating_add(i)
    }

    /// One card fewer holds `id`.
    fn release(&mut self, id: LabelSet) {
        let i = id.get() - 1;
        let refs = &mut self.refs[i as usize];
        *refs -= 1;
        if *refs == 0 {
            let sets = &self.sets;
            self.find
                .remove(&&*sets[i as usize], |i| &*sets[i as usize]);
            self.sets[i as usize] = Box::default();
            self.free.push(i);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.sets.capacity() * 16
            + self.sets.iter().map(|s| s.len() * 4).sum::<usize>()
            + self.refs.capacity() * 4
            + self.free.capacity() * 4
            + self.find.heap_bytes()
    }
}

/// Reads a slot's key, for [`Index::by_key`].
fn key_field(keys: &[[u8; 32]]) -> impl Fn(u32) -> [u8; 32] + '_ {
    move |s| keys[s as usize]
}

/// Reads a slot's live version, for [`Index::by_seq`] (which holds only live slots).
fn seq_field(meta: &[Option<Slot>]) -> impl Fn(u32) -> u64 + '_ {
    move |s| meta[s as usize].as_ref().map_or(u64::MAX, |m| m.seq as u64)
}

/// Marks a protocol in [`Slot::labels`] (interned IDs stay far below it).
const PROTOCOL_BIT: u32 = 1 << 31;

/// A scored slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The slot.
    pub slot: u32,
    /// Final score.
    pub score: f32,
    /// Cosine similarity.
    pub similarity: f32,
    /// Lexical share in [0, 1].
    pub lexical: f32,
}

impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    // Reversed so a BinaryHeap is a min-heap on score (the worst kept result on top); ties by
    // slot for determinism.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.slot.cmp(&other.slot))
    }
}

/// Filters of one search, already interned.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Every one of these tags must be present.
    pub tags: Vec<u32>,
    /// This protocol must be present.
    pub protocol: Option<u32>,
    /// Local trust at least this.
    pub min_trust: f32,
    /// Cards expired at this time are skipped.
    pub now: i64,
}

/// One query against the index: the `k` best for `query`, each scored cosine +
/// `lex_weight` × `lexical[slot]` (+ `pinned.1` for the slot `pinned.0`, an exact ID match).
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// The query's vector.
    pub query: &'a Quantized,
    /// Lexical shares by slot (empty when no word matched).
    pub lexical: &'a [f32],
    /// The slots whose lexical share is above zero, when known.
    pub matched: Option<&'a [u32]>,
    /// Query words whose posting lists were not walked (graph searches only): their share is
    /// added to each rescored card's `lexical`.
    pub rest: Option<&'a super::lexical::Rest>,
    /// Weight of the lexical share.
    pub lex_weight: f32,
    /// An exact ID match and its bonus.
    pub pinned: Option<(u32, f32)>,
    /// What a result must pass.
    pub filter: &'a Filter,
    /// Results wanted.
    pub k: usize,
}

/// The index proper.
#[derive(Debug)]
pub struct Index {
    dim: usize,
    vectors: Vec<i8>,
    sketches: Vec<u64>,
    scales: Vec<f32>,
    meta: Vec<Option<Slot>>,
    keys: Vec<[u8; 32]>,
    /// `expires_at` per slot, `i64::MIN` for a free slot: the hot filter field, kept apart
    /// from `meta` so a scan touches 8 bytes per card, not the whole record.
    expires: Vec<i64>,
    trust: Vec<f32>,
    /// Scores other than 0.5 by key, so a card (re)indexed after its trust was set starts
    /// with it.
    trust_by_key: HashMap<[u8; 32], f32>,
    prefilter_min: usize,
    ann_min: usize,
    ann_candidates: usize,
    /// The graph, once the index is large enough (`vectors` and `sketches` are empty then).
    ann: Option<Arc<Ann>>,
    /// Live versions waiting to be inserted into the graph, searched exactly meanwhile.
    tail: Tail,
    /// Versions in the graph that are no longer live, for the inserter to remove.
    stale: Vec<u64>,
    /// Slot of each live version, in the graph or its tail (keys are sequence numbers), found
    /// by [`Slot::seq`]. Kept only while there is a graph.
    by_seq: SlotTable,
    free: Vec<u32>,
    /// Slot of each live card, found by `keys`.
    by_key: SlotTable,
    interned: HashMap<String, u32>,
    labels: LabelSets,
    /// The lexical index over the same slots.
    pub lexical: Lexical,
}

/// Cards indexed since the graph last caught up: their versions and int8 rows, in arrival
/// order except where a removal swapped the last one in.
#[derive(Debug, Default)]
struct Tail {
    slots: Vec<u32>,
    seqs: Vec<u64>,
    rows: Vec<i8>,
    /// Position of each slot in the three lists.
    pos: HashMap<u32, u32>,
}

impl Tail {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn push(&mut self, slot: u32, seq: u64, row: &[i8]) {
        self.pos.insert(slot, self.slots.len() as u32);
        self.slots.push(slot);
        self.seqs.push(seq);
        self.rows.extend_from_slice(row);
    }

    /// Takes `slot` out, returning the version it held there.
    fn remove(&mut self, slot: u32, dim: usize) -> Option<u64> {
        let p = self.pos.remove(&slot)? as usize;
        let last = self.slots.len() - 1;
        let seq = self.seqs[p];
        if p != last {
            self.rows.copy_within(last * dim..(last + 1) * dim, p * dim);
            self.pos.insert(self.slots[last], p as u32);
        }
        self.slots.swap_remove(p);
        self.seqs.swap_remove(p);
        self.rows.truncate(last * dim);
        Some(seq)
    }

    /// The version `slot` holds here, if any.
    fn seq_of(&self, slot: u32) -> Option<u64> {
        self.pos.get(&slot).map(|p| self.seqs[*p as usize])
    }

    fn row(&self, slot: u32, dim: usize) -> Option<&[i8]> {
        let p = *self.pos.get(&slot)? as usize;
        Some(&self.rows[p * dim..(p + 1) * dim])
    }

    fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 4
            + self.seqs.capacity() * 8
            + self.rows.capacity()
            + self.pos.capacity() * (std::mem::size_of::<(u32, u32)>() + 1)
    }
}

/// One batch of graph upkeep taken from the index by [`Index::take_graph_work`]: run it with
/// [`GraphWork::run`] without holding the index, then hand it back to
/// [`Index::graph_work_done`].
#[derive(Debug)]
pub struct GraphWork {
    ann: Arc<Ann>,
    dim: usize,
    /// Keys to take out of the graph.
    remove: Vec<u64>,
    /// (key, slot) to insert, with their rows in `rows`.
    insert: Vec<(u64, u32)>,
    rows: Vec<i8>,
}

impl GraphWork {
    /// Cards this batch inserts.
    pub fn inserts(&self) -> usize {
        self.insert.len()
    }

    /// Removes and inserts into the graph, the inserts in parallel on the current rayon pool.
    /// Searches may run meanwhile; nothing else may change the graph.
    pub fn run(&self) -> Result<(), AnnError> {
        for key in &self.remove {
            self.ann.remove(*key)?;
        }
        self.insert
            .par_iter()
            .zip(self.rows.par_chunks_exact(self.dim.max(1)))
            // A key already there was inserted by a batch that failed part way.
            .filter(|((key, _), _)| !self.ann.contains(*key))
            .try_for_each(|((key, _), row)| self.ann.insert_reserved(*key, row))
    }
}

/// Weight of local trust in a query's score: `TRUST_WEIGHT · (trust − 0.5)`, so an agent of
/// trust 0.1 loses 0.04 against a neutral one — enough to order near-equals, not to bury a
/// clearly better match.
pub const TRUST_WEIGHT: f32 = 0.1;
/// Rows per rayon task; below two chunks the scan stays on the calling thread.
const CHUNK: usize = 16 * 1024;
/// From this many slots on, search prefilters by sign sketches.
pub const PREFILTER_MIN: usize = 32 * 1024;
/// Candidates kept by the sketch prefilter for exact rescoring.
pub const RESCORE: usize = 1024;
/// From this many cards on, the index keeps its vectors in an HNSW graph (see [`ann`]), the
/// size from which the exact scan gives way anyway. On the bench's set the graph answers in
/// a tenth of the exact scan's time already at 10k cards (recall@10 0.998), and at 100k it
/// is as fast as the sketch prefilter with recall@10 0.987 instead of 0.855
/// (benches/discover.rs). The prefilter stays for a node whose graph is being built.
pub const ANN_MIN: usize = PREFILTER_MIN;
/// Nearest cards taken from the graph for rescoring: more than the usual 10 results, so that
/// the lexical and trust terms can reorder them.
const ANN_CANDIDATES: usize = 40;
/// Best lexical matches always rescored, whatever their sketch distance.
const LEXICAL_CANDIDATES: usize = 64;

/// Sign bits of a quantized vector, 64 components per word.
fn sketch(q: &[i8]) -> impl Iterator<Item = u64> + '_ {
    q.chunks(64).map(|c| {
        c.iter()
            .enumerate()
            .fold(0u64, |w, (b, x)| if *x > 0 { w | (1 << b) } else { w })
    })
}

/// `out[r]` = Hamming distance between `query` and sketch row `r`.
#[multiversion::multiversion(targets("x86_64+avx2+popcnt", "x86_64+popcnt", "aarch64+neon"))]
fn hamming_rows(query: &[u64], rows: &[u64], out: &mut [u16]) {
    let words = query.len();
    for (row, o) in rows.chunks_exact(words).zip(out.iter_mut()) {
        let d: u32 = row
            .iter()
            .zip(query)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        *o = d as u16;
    }
}

/// `scan(start, end)` over rows `0..n`: in [`CHUNK`]s across the rayon pool from two chunks
/// on, else on the calling thread; the chunks' results concatenated.
fn in_chunks<T: Send>(n: usize, scan: impl Fn(usize, usize) -> Vec<T> + Sync) -> Vec<T> {
    if n >= 2 * CHUNK {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .flat_map_iter(|c| scan(c * CHUNK, ((c + 1) * CHUNK).min(n)))
            .collect()
    } else {
        scan(0, n)
    }
}

/// The lexical share of slot `i` (zero past the array: no word matched).
fn lex_at(lexical: &[f32], i: usize) -> f32 {
    lexical.get(i).copied().unwrap_or(0.0)
}

/// Keeps the `k` highest dot products of `v` (in no order).
fn keep_best(v: &mut Vec<(i32, u32)>, k: usize) {
    if v.len() > k && k > 0 {
        v.select_nth_unstable_by(k - 1, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    }
    v.truncate(k);
}

impl Index {
    /// An empty index for vectors of `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            vectors: Vec::new(),
            sketches: Vec::new(),
            scales: Vec::new(),
            meta: Vec::new(),
            keys: Vec::new(),
            expires: Vec::new(),
            trust: Vec::new(),
            trust_by_key: HashMap::new(),
            prefilter_min: PREFILTER_MIN,
            ann_min: ANN_MIN,
            ann_candidates: ANN_CANDIDATES,
            ann: None,
            tail: Tail::default(),
            stale: Vec::new(),
            by_seq: SlotTable::default(),
            free: Vec::new(),
            by_key: SlotTable::default(),
            interned: HashMap::new(),
            labels: LabelSets::default(),
            lexical: Lexical::default(),
        }
    }

    /// Sets the size from which searches prefilter by sketches (`usize::MAX`: always exact).
    pub fn set_prefilter_min(&mut self, n: usize) {
        self.prefilter_min = n;
    }

    fn words(&self) -> usize {
        self.dim.div_ceil(64)
    }

    /// Live cards indexed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when no card is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_key.len() == 0
    }

    /// The interned ID of a lowercase word, creating it.
    pub fn intern(&mut self, word: &str) -> u32 {
        let next = self.interned.len() as u32;
        *self.interned.entry(word.to_lowercase()).or_insert(next)
    }

    /// The interned ID of a word, if any card ever used it.
    pub fn lookup(&self, word: &str) -> Option<u32> {
        self.interned.get(&word.to_lowercase()).copied()
    }

    /// The sequence number of what is indexed for `key`.
    pub fn seq_of(&self, key: &[u8; 32]) -> Option<i64> {
        let slot = self.by_key.get(key, key_field(&self.keys))?;
        self.meta[slot as usize].as_ref().map(|m| m.seq)
    }

    /// Inserts or replaces the card of `meta.key`; `text` feeds the lexical index.
    pub fn upsert(&mut self, meta: Meta, v: &Quantized, text: &str) {
        debug_assert_eq!(v.q.len(), self.dim);
        let rows = self.ann.is_none();
        let slot = match self.by_key.get(&meta.key, key_field(&self.keys)) {
            Some(s) => s,
            None => {
                let s = self.free.pop().unwrap_or_else(|| {
                    self.meta.push(None);
                    self.keys.push([0; 32]);
                    self.expires.push(i64::MIN);
                    self.scales.push(0.0);
                    self.trust.push(0.5);
                    if rows {
                        self.vectors.resize(self.vectors.len() + self.dim, 0);
                        self.sketches
                            .resize(self.sketches.len() + self.dim.div_ceil(64), 0);
                    }
                    (self.meta.len() - 1) as u32
                });
                self.keys[s as usize] = meta.key;
                self.by_key.insert(s, key_field(&self.keys));
                s
            }
        };
        let i = slot as usize;
        if self.ann.is_some() {
            // The graph is the inserter's to change: the new version waits in the tail.
            if let Some(old) = self.meta[i].as_ref().map(|m| m.seq as u64) {
                self.retire(slot, old);
            }
            self.tail.push(slot, meta.seq as u64, &v.q);
        } else {
            self.vectors[i * self.dim..(i + 1) * self.dim].copy_from_slice(&v.q);
            let w = self.words();
            for (dst, src) in self.sketches[i * w..(i + 1) * w]
                .iter_mut()
                .zip(sketch(&v.q))
            {
                *dst = src;
            }
        }
        self.scales[i] = v.scale;
        self.trust[i] = self.trust_by_key.get(&meta.key).copied().unwrap_or(0.5);
        self.expires[i] = meta.expires_at;
        let labels = {
            let mut l: Vec<u32> = meta.tags.to_vec();
            l.extend(meta.protocols.iter().map(|p| p | PROTOCOL_BIT));
            l.sort_unstable();
            l.dedup();
            self.labels.acquire(l)
        };
        if let Some(old) = self.meta[i].replace(Slot {
            seq: meta.seq,
            issued_at: meta.issued_at,
            labels,
        }) {
            self.labels.release(old.labels);
        }
        if self.ann.is_some() {
            self.by_seq.insert(slot, seq_field(&self.meta));
        }
        self.lexical.set(slot, text);
    }

    /// Removes `key`'s card (revoked); keeps its slot for reuse.
    pub fn remove(&mut self, key: &[u8; 32]) {
        if let Some(slot) = self.by_key.remove(key, key_field(&self.keys)) {
            if self.ann.is_some()
                && let Some(seq) = self.meta[slot as usize].as_ref().map(|m| m.seq as u64)
            {
                self.retire(slot, seq);
            }
            if let Some(old) = self.meta[slot as usize].take() {
                self.labels.release(old.labels);
            }
            self.expires[slot as usize] = i64::MIN;
            self.trust[slot as usize] = 0.5;
            self.lexical.clear(slot);
            self.free.push(slot);
        }
    }

    /// Version `seq` of `slot` is no longer live: out of the tail if it waits there, else
    /// marked for the inserter to take out of the graph.
    fn retire(&mut self, slot: u32, seq: u64) {
        self.by_seq.remove(&seq, seq_field(&self.meta));
        if self.tail.remove(slot, self.dim).is_none() {
            self.stale.push(seq);
        }
    }

    /// Cards waiting for the graph (searched exactly meanwhile).
    pub fn graph_pending(&self) -> usize {
        self.tail.len()
    }

    /// The next batch of graph upkeep: every stale key and up to `max` of the tail's cards
    /// (copied; they stay searchable in the tail until [`Index::graph_work_done`]). Grows the
    /// graph first if the batch would not fit: callers hold the index exclusively, so no
    /// search runs meanwhile. `None` when there is nothing to do.
    pub fn take_graph_work(&mut self, max: usize) -> Result<Option<GraphWork>, AnnError> {
        let Some(ann) = self.ann.clone() else {
            return Ok(None);
        };
        let n = self.tail.len().min(max);
        if n == 0 && self.stale.is_empty() {
            return Ok(None);
        }
        ann.reserve_for(n)?;
        Ok(Some(GraphWork {
            ann,
            dim: self.dim,
            remove: std::mem::take(&mut self.stale),
            insert: (0..n)
                .map(|p| (self.tail.seqs[p], self.tail.slots[p]))
                .collect(),
            rows: self.tail.rows[..n * self.dim].to_vec(),
        }))
    }

    /// `work` failed part way: its removals are kept for the next batch (removing twice does
    /// nothing), the inserts that went in are handed back as by [`Index::graph_work_done`],
    /// and the rest stay in the tail.
    pub fn graph_work_failed(&mut self, work: GraphWork) {
        for (seq, slot) in &work.insert {
            if work.ann.contains(*seq) {
                self.inserted(*seq, *slot);
            }
        }
        self.stale.extend(work.remove);
    }

    /// Takes what `work` inserted out of the tail. A card replaced or revoked while the batch
    /// ran left a version in the graph that is no longer live: it is marked stale.
    pub fn graph_work_done(&mut self, work: &GraphWork) {
        for (seq, slot) in &work.insert {
            self.inserted(*seq, *slot);
        }
    }

    /// Version `seq` of `slot` is in the graph now.
    fn inserted(&mut self, seq: u64, slot: u32) {
        if self.tail.seq_of(slot) == Some(seq) {
            self.tail.remove(slot, self.dim);
        } else {
            self.stale.push(seq);
        }
    }

    /// Sets the local trust score used by `min_trust` and ordering (kept for a key whose card
    /// is not indexed yet).
    pub fn set_trust(&mut self, key: &[u8; 32], score: f32) {
        if score == 0.5 {
            self.trust_by_key.remove(key);
        } else {
            self.trust_by_key.insert(*key, score);
        }
        if let Some(slot) = self.by_key.get(key, key_field(&self.keys)) {
            self.trust[slot as usize] = score;
        }
    }

    /// The key, indexed sequence number and trust of a live slot.
    pub fn slot(&self, slot: u32) -> Option<(&[u8; 32], i64, f32)> {
        let i = slot as usize;
        let m = self.meta.get(i)?.as_ref()?;
        Some((&self.keys[i], m.seq, self.trust[i]))
    }

    /// Gives back spare capacity (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.vectors.shrink_to_fit();
        self.sketches.shrink_to_fit();
        self.scales.shrink_to_fit();
        self.meta.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.expires.shrink_to_fit();
        self.trust.shrink_to_fit();
        self.by_key.shrink_to_fit(key_field(&self.keys));
        self.by_seq.shrink_to_fit(seq_field(&self.meta));
        self.lexical.shrink_to_fit();
    }

    fn passes(&self, i: usize, f: &Filter) -> bool {
        self.expires[i] > f.now
            && self.trust[i] >= f.min_trust
            && ((f.tags.is_empty() && f.protocol.is_none())
                || self.meta[i].as_ref().is_some_and(|m| {
                    let labels = self.labels.get(m.labels);
                    f.tags.iter().all(|t| labels.binary_search(t).is_ok())
                        && f.protocol
                            .is_none_or(|p| labels.binary_search(&(p | PROTOCOL_BIT)).is_ok())
                }))
    }

    /// Scores slot `i` exactly.
    fn score(
        &self,
        i: usize,
        dot: i32,
        query: &Quantized,
        lex: f32,
        lex_weight: f32,
        pinned: Option<(u32, f32)>,
    ) -> Scored {
        let similarity = dot as f32 * query.scale * self.scales[i];
        let bonus = match pinned {
            Some((slot, b)) if slot == i as u32 => b,
            _ => 0.0,
        };
        Scored {
            slot: i as u32,
            score: similarity + lex_weight * lex + bonus + TRUST_WEIGHT * (self.trust[i] - 0.5),
            similarity,
            lexical: lex,
        }
    }

    /// Slots worth rescoring: the [`RESCORE`] nearest by sketch among those passing `filter`,
    /// the best lexical matches, and the pinned slot.
    fn candidates(
        &self,
        query: &Quantized,
        lexical: &[f32],
        matched: Option<&[u32]>,
        pinned: Option<(u32, f32)>,
        filter: &Filter,
    ) -> Vec<u32> {
        let n = self.meta.len();
        let w = self.words();
        let qs: Vec<u64> = sketch(&query.q).collect();
        let mut dist = vec![u16::MAX; n];
        dist.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
            let start = c * CHUNK;
            hamming_rows(&qs, &self.sketches[start * w..(start + out.len()) * w], out);
            for (j, d) in out.iter_mut().enumerate() {
                if !self.passes(start + j, filter) {
                    *d = u16::MAX;
                }
            }
        });
        // The smallest distance within which RESCORE candidates lie, by counting (distances
        // are small integers); ties at that distance all come along.
        let mut hist = vec![0usize; self.dim + 2];
        for d in &dist {
            hist[usize::from(*d).min(self.dim + 1)] += 1;
        }
        let mut cutoff = 0usize;
        let mut seen = 0usize;
        while cutoff <= self.dim && seen < RESCORE {
            seen += hist[cutoff];
            cutoff += 1;
        }
        let mut out: Vec<u32> = (0..n as u32)
            .filter(|i| usize::from(dist[*i as usize]) < cutoff)
            .collect();
        self.more_candidates(lexical, matched, pinned, |i| dist[i] != u16::MAX, &mut out);
        out
    }

    /// Adds the best lexical matches and the pinned slot among those `ok` accepts to `out`,
    /// then sorts it and drops repeats.
    fn more_candidates(
        &self,
        lexical: &[f32],
        matched: Option<&[u32]>,
        pinned: Option<(u32, f32)>,
        ok: impl Fn(usize) -> bool,
        out: &mut Vec<u32>,
    ) {
        let n = self.meta.len();
        if !lexical.is_empty() {
            let score = |i: u32| lexical.get(i as usize).copied().unwrap_or(0.0);
            // Score and slot side by side, so choosing the best reads no other array.
            let scored = |i: u32| ((i as usize) < n && score(i) > 0.0).then(|| (score(i), i));
            let mut pool: Vec<(f32, u32)> = match matched {
                Some(m) => m.iter().filter_map(|i| scored(*i)).collect(),
                None => (0..n as u32).filter_map(scored).collect(),
            };
            // The best LEXICAL_CANDIDATES that pass `ok`, checked best first in rounds of a
            // few times that many: `ok` reads per-card arrays at random, too slow to ask of
            // every one of 100k matches.
            let best_first =
                |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
            let mut taken = 0;
            let mut rest = &mut pool[..];
            while taken < LEXICAL_CANDIDATES && !rest.is_empty() {
                let m = (4 * LEXICAL_CANDIDATES).min(rest.len());
                if m < rest.len() {
                    rest.select_nth_unstable_by(m - 1, best_first);
                }
                let (head, tail) = rest.split_at_mut(m);
                head.sort_unstable_by(best_first);
                for (_, i) in head.iter() {
                    if taken == LEXICAL_CANDIDATES {
                        break;
                    }
                    if ok(*i as usize) {
                        out.push(*i);
                        taken += 1;
                    }
                }
                rest = tail;
            }
        }
        if let Some((slot, _)) = pinned
            && (slot as usize) < n
            && ok(slot as usize)
        {
            out.push(slot);
        }
        out.sort_unstable();
        out.dedup();
    }

    /// How a search runs now: through the graph, a sketch prefilter, or an exact scan.
    pub fn search_kind(&self) -> &'static str {
        if self.ann.is_some() {
            "graph"
        } else if self.meta.len() >= self.prefilter_min {
            "prefilter"
        } else {
            "scan"
        }
    }

    /// The graph, when the vectors live in one.
    pub fn ann(&self) -> Option<&Arc<Ann>> {
        self.ann.as_ref()
    }

    /// Sets the size from which [`Index::wants_ann`] asks for a graph.
    pub fn set_ann_min(&mut self, n: usize) {
        self.ann_min = n;
    }

    /// Sets how many nearest cards a search takes from the graph, and the graph's search
    /// breadth (ef), for benchmarks that trade recall against time.
    pub fn tune_ann(&mut self, candidates: usize, ef: usize) {
        self.ann_candidates = candidates;
        if let Some(a) = &self.ann {
            a.set_expansion(ef);
        }
    }

    /// True when the index is large enough for a graph and has none yet.
    pub fn wants_ann(&self) -> bool {
        self.ann.is_none() && self.len() >= self.ann_min
    }

    /// Live slots with their versions' keys in the graph (sequence numbers).
    fn live(&self) -> impl rayon::iter::ParallelIterator<Item = (u64, usize)> + '_ {
        self.meta
            .par_iter()
            .enumerate()
            .filter_map(|(i, m)| m.as_ref().map(|m| (m.seq as u64, i)))
    }

    /// Moves the vectors into `ann`, a graph saved or built earlier holding `saved` keys:
    /// versions no longer live are removed from it, live ones it lacks (or holds with another
    /// vector) go to the tail for the inserter. Returns how many were (queued, removed).
    pub fn attach_ann(&mut self, ann: Ann, saved: &[u64]) -> Result<(usize, usize), AnnError> {
        if self.ann.is_some() {
            return Err(AnnError::Graph(
                "the index already keeps its vectors in a graph".into(),
            ));
        }
        // The live versions, as the graph will be keyed from now on.
        let live: Vec<(u64, u32)> = self.live().map(|(seq, i)| (seq, i as u32)).collect();
        let mut by_seq = SlotTable::default();
        for (_, i) in &live {
            by_seq.insert(*i, seq_field(&self.meta));
        }
        let mut removed = 0;
        for key in saved
            .iter()
            .filter(|k| by_seq.get(*k, seq_field(&self.meta)).is_none())
        {
            ann.remove(*key)?;
            removed += 1;
        }
        // Checked by content, not only by key: a key the graph holds with another vector (a
        // database restored from a backup reuses sequence numbers) is replaced too.
        let dim = self.dim;
        let row = |i: u32| &self.vectors[i as usize * dim..(i as usize + 1) * dim];
        let missing: Vec<(u64, u32)> = live
            .into_par_iter()
            .filter(|(seq, i)| {
                let mut held = vec![0i8; dim];
                !ann.get(*seq, &mut held) || held[..] != *row(*i)
            })
            .collect();
        let mut tail = Tail::default();
        for (seq, i) in &missing {
            ann.remove(*seq)?;
            tail.push(*i, *seq, row(*i));
        }
        self.tail = tail;
        self.stale.clear();
        self.by_seq = by_seq;
        self.vectors = Vec::new();
        self.sketches = Vec::new();
        self.ann = Some(Arc::new(ann));
        self.lexical
            .count_common_words(super::lexical::WALK_SHARE, super::lexical::WALK_MIN);
        Ok((missing.len(), removed))
    }

    /// The live cards' keys and rows (contiguous, `dim` each), copied to build a graph from
    /// without holding the index.
    pub fn snapshot(&self) -> (Vec<u64>, Vec<i8>) {
        let live: Vec<(u64, usize)> = self.live().collect();
        let mut rows = Vec::with_capacity(live.len() * self.dim);
        if self.ann.is_none() {
            for (_, i) in &live {
                rows.extend_from_slice(&self.vectors[i * self.dim..(i + 1) * self.dim]);
            }
        }
        (live.into_iter().map(|(k, _)| k).collect(), rows)
    }

    /// Every key in the graph (for saving it): the live versions not waiting in the tail, and
    /// the stale ones not yet removed. Exact only while no [`GraphWork`] is running.
    pub fn ann_keys(&self) -> Vec<u64> {
        let seq = seq_field(&self.meta);
        self.by_seq
            .iter()
            .map(|slot| (seq(slot), slot))
            .filter(|(seq, slot)| self.tail.seq_of(*slot) != Some(*seq))
            .map(|(seq, _)| seq)
            .chain(self.stale.iter().copied())
            .collect()
    }

    /// Slots allocated (live cards plus free slots).
    pub fn slots(&self) -> usize {
        self.meta.len()
    }

    /// The slot holding `key`'s card.
    pub fn slot_of(&self, key: &[u8; 32]) -> Option<u32> {
        self.by_key.get(key, key_field(&self.keys))
    }

    /// The `k` best slots for a query vector, each scored `cosine + lex_weight * lexical`, plus
    /// `pinned.1` for the slot `pinned.0` (an exact ID match). `lexical` is indexed by slot
    /// (empty when no word matched).
    pub fn search(
        &self,
        query: &Quantized,
        lexical: &[f32],
        lex_weight: f32,
        pinned: Option<(u32, f32)>,
        filter: &Filter,
        k: usize,
    ) -> Vec<Scored> {
        self.lookup_k(&Lookup {
            query,
            lexical,
            matched: None,
            rest: None,
            lex_weight,
            pinned,
            filter,
            k,
        })
    }

    /// [`Index::search`] with the slots that have a lexical share named
    /// ([`Lookup::matched`]), so the graph and the prefilter need not scan every slot for them.
    pub fn lookup_k(&self, l: &Lookup<'_>) -> Vec<Scored> {
        let Lookup {
            query,
            lexical,
            matched,
            rest: _,
            lex_weight,
            pinned,
            filter,
            k,
        } = *l;
        let n = self.meta.len();
        let push = |heap: &mut BinaryHeap<Scored>, s: Scored| {
            if heap.len() < k {
                heap.push(s);
            } else if heap.peek().is_some_and(|worst| s < *worst) {
                heap.pop();
                heap.push(s);
            }
        };
        if let Some(ann) = &self.ann {
            return self.search_ann(ann, l);
        }
        if n >= self.prefilter_min {
            let mut heap = BinaryHeap::with_capacity(k + 1);
            for slot in self.candidates(query, lexical, matched, pinned, filter) {
                let i = slot as usize;
                let dot = dot_i8(&query.q, &self.vectors[i * self.dim..(i + 1) * self.dim]);
                push(
                    &mut heap,
                    self.score(i, dot, query, lex_at(lexical, i), lex_weight, pinned),
                );
            }
            return heap.into_sorted_vec().into_iter().take(k).collect();
        }
        let scan = |start: usize, end: usize| {
            let mut heap = BinaryHeap::with_capacity(k + 1);
            let mut dots = vec![0i32; end - start];
            dots_i8(
                &query.q,
                &self.vectors[start * self.dim..end * self.dim],
                &mut dots,
            );
            for i in start..end {
                if self.passes(i, filter) {
                    let s = self.score(
                        i,
                        dots[i - start],
                        query,
                        lex_at(lexical, i),
                        lex_weight,
                        pinned,
                    );
                    push(&mut heap, s);
                }
            }
            heap.into_vec()
        };
        let mut all = in_chunks(n, scan);
        all.sort_unstable();
        all.truncate(k);
        all
    }

    /// [`Index::lookup_k`] through the graph.
    fn search_ann(&self, ann: &Ann, l: &Lookup<'_>) -> Vec<Scored> {
        let ok = |key: u64| {
            self.by_seq
                .get(&key, seq_field(&self.meta))
                .is_some_and(|s| self.passes(s as usize, l.filter))
        };
        let mut slots: Vec<u32> = ann
            .search(&l.query.q, l.k.max(self.ann_candidates), ok)
            .iter()
            .filter_map(|key| self.by_seq.get(key, seq_field(&self.meta)))
            .collect();
        self.tail_candidates(l, &mut slots);
        self.more_candidates(
            l.lexical,
            l.matched,
            l.pinned,
            |i| self.passes(i, l.filter),
            &mut slots,
        );
        let mut held = vec![0i8; self.dim];
        let mut scored: Vec<Scored> = slots
            .into_iter()
            .filter_map(|slot| {
                let seq = self.meta.get(slot as usize)?.as_ref()?.seq as u64;
                let row = match self.tail.row(slot, self.dim) {
                    Some(r) => Some(r),
                    None => ann.get(seq, &mut held).then_some(&held[..]),
                };
                row.map(|row| {
                    let dot = dot_i8(&l.query.q, row);
                    // The share of the words whose lists were not walked, from the card's
                    // own terms.
                    let lex = lex_at(l.lexical, slot as usize)
                        + l.rest.map_or(0.0, |r| self.lexical.rest_share(slot, r));
                    self.score(
                        slot as usize,
                        dot,
                        l.query,
                        lex.min(1.0),
                        l.lex_weight,
                        l.pinned,
                    )
                })
            })
            .collect();
        scored.sort_unstable();
        scored.truncate(l.k);
        scored
    }

    /// Adds the tail's cards nearest to the query that pass the filter, as many as the
    /// graph gives (found by an exact scan of the tail's rows).
    fn tail_candidates(&self, l: &Lookup<'_>, out: &mut Vec<u32>) {
        let n = self.tail.len();
        if n == 0 {
            return;
        }
        let want = l.k.max(self.ann_candidates);
        let scan = |start: usize, end: usize| {
            let mut dots = vec![0i32; end - start];
            dots_i8(
                &l.query.q,
                &self.tail.rows[start * self.dim..end * self.dim],
                &mut dots,
            );
            let mut best: Vec<(i32, u32)> = (start..end)
                .map(|p| (dots[p - start], self.tail.slots[p]))
                .filter(|(_, slot)| self.passes(*slot as usize, l.filter))
                .collect();
            keep_best(&mut best, want);
            best
        };
        let mut best = in_chunks(n, scan);
        keep_best(&mut best, want);
        out.extend(best.into_iter().map(|(_, slot)| slot));
    }

    /// Filter-only listing: trust, then recency, best first.
    pub fn browse(&self, filter: &Filter, k: usize) -> Vec<Scored> {
        let mut hits: Vec<(f32, i64, u32)> = (0..self.meta.len())
            .filter(|i| self.passes(*i, filter))
            .map(|i| {
                let m = self.meta[i].as_ref().expect("passes() checked the slot");
                (self.trust[i], m.issued_at, i as u32)
            })
            .collect();
        let k = k.min(hits.len());
        if k == 0 {
            return Vec::new();
        }
        let cmp = |a: &(f32, i64, u32), b: &(f32, i64, u32)| {
            b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
        };
        hits.select_nth_unstable_by(k - 1, cmp);
        hits.truncate(k);
        hits.sort_unstable_by(cmp);
        hits.into_iter()
            .map(|(trust, _, slot)| Scored {
                slot,
                score: trust,
                similarity: 0.0,
                lexical: 0.0,
            })
            .collect()
    }

    /// Heap bytes by part: the graph, the other vector stores, the version map, per-slot
    /// arrays, the key map, the tag interner and the lexical index's parts.
    pub fn heap_breakdown(&self) -> Vec<(&'static str, usize)> {
        use std::mem::size_of;
        let mut parts = vec![
            ("graph", self.ann.as_ref().map_or(0, |a| a.memory_bytes())),
            (
                "vectors",
                self.vectors.capacity()
                    + self.sketches.capacity() * 8
                    + self.tail.heap_bytes()
                    + self.stale.capacity() * 8,
            ),
            ("versions", self.by_seq.heap_bytes()),
            (
                "slots",
                self.scales.capacity() * 4
                    + self.expires.capacity() * 8
                    + self.trust.capacity() * 4
                    + self.free.capacity() * 4
                    + self.meta.capacity() * size_of::<Option<Slot>>()
                    + self.keys.capacity() * 32
                    + self.labels.heap_bytes(),
            ),
            ("keys", self.by_key.heap_bytes()),
            (
                "tags",
                self.interned
                    .keys()
                    .map(|k| k.capacity() + size_of::<(String, u32)>() + 1)
                    .sum::<usize>(),
            ),
        ];
        parts.extend(self.lexical.heap_breakdown());
        parts
    }

    /// Heap bytes this index holds, counted from its containers' capacities (hash maps at
    /// their bucket sizes; allocator overhead not included).
    pub fn heap_bytes(&self) -> usize {
        self.heap_breakdown().iter().map(|(_, b)| b).sum()
    }
}

#[cfg(test)]
mod tests;
