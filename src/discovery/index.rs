//! The in-memory discovery index: one slot per live card with its int8 vector, filter fields,
//! local trust and lexical terms. Search is an exact scan: int8 dot products over contiguous
//! rows (auto-vectorized), split across cores with rayon once the index is large enough to pay
//! for it, keeping a top-k per chunk.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use rayon::prelude::*;

use super::lexical::Lexical;

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

/// The index proper.
#[derive(Debug)]
pub struct Index {
    dim: usize,
    vectors: Vec<i8>,
    scales: Vec<f32>,
    meta: Vec<Option<Meta>>,
    trust: Vec<f32>,
    free: Vec<u32>,
    by_key: HashMap<[u8; 32], u32>,
    interned: HashMap<String, u32>,
    /// The lexical index over the same slots.
    pub lexical: Lexical,
}

/// Rows per rayon task; below two chunks the scan stays on the calling thread.
const CHUNK: usize = 16 * 1024;

impl Index {
    /// An empty index for vectors of `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            vectors: Vec::new(),
            scales: Vec::new(),
            meta: Vec::new(),
            trust: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            interned: HashMap::new(),
            lexical: Lexical::default(),
        }
    }

    /// Live cards indexed.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when no card is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
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
        let slot = *self.by_key.get(key)?;
        self.meta[slot as usize].as_ref().map(|m| m.seq)
    }

    /// Inserts or replaces the card of `meta.key`; `text` feeds the lexical index.
    pub fn upsert(&mut self, meta: Meta, v: &Quantized, text: &str) {
        debug_assert_eq!(v.q.len(), self.dim);
        let slot = match self.by_key.get(&meta.key) {
            Some(s) => *s,
            None => {
                let s = self.free.pop().unwrap_or_else(|| {
                    self.meta.push(None);
                    self.scales.push(0.0);
                    self.trust.push(0.5);
                    self.vectors.resize(self.vectors.len() + self.dim, 0);
                    (self.meta.len() - 1) as u32
                });
                self.by_key.insert(meta.key, s);
                s
            }
        };
        let i = slot as usize;
        self.vectors[i * self.dim..(i + 1) * self.dim].copy_from_slice(&v.q);
        self.scales[i] = v.scale;
        self.meta[i] = Some(meta);
        self.lexical.set(slot, text);
    }

    /// Removes `key`'s card (revoked); keeps its slot for reuse.
    pub fn remove(&mut self, key: &[u8; 32]) {
        if let Some(slot) = self.by_key.remove(key) {
            self.meta[slot as usize] = None;
            self.trust[slot as usize] = 0.5;
            self.lexical.clear(slot);
            self.free.push(slot);
        }
    }

    /// Sets the local trust score used by `min_trust` and empty-query ordering.
    pub fn set_trust(&mut self, key: &[u8; 32], score: f32) {
        if let Some(slot) = self.by_key.get(key) {
            self.trust[*slot as usize] = score;
        }
    }

    /// The card metadata and trust of a slot.
    pub fn slot(&self, slot: u32) -> Option<(&Meta, f32)> {
        let i = slot as usize;
        Some((self.meta.get(i)?.as_ref()?, self.trust[i]))
    }

    fn passes(&self, i: usize, f: &Filter) -> bool {
        let Some(m) = &self.meta[i] else { return false };
        m.expires_at > f.now
            && self.trust[i] >= f.min_trust
            && f.tags.iter().all(|t| m.tags.binary_search(t).is_ok())
            && f.protocol
                .is_none_or(|p| m.protocols.binary_search(&p).is_ok())
    }

    /// The slot holding `key`'s card.
    pub fn slot_of(&self, key: &[u8; 32]) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// The `k` best slots for a query vector, each scored `cosine + lex_weight * lexical`, plus
    /// `pinned.1` for the slot `pinned.0` (an exact ID match).
    pub fn search(
        &self,
        query: &Quantized,
        lexical: &HashMap<u32, f32>,
        lex_weight: f32,
        pinned: Option<(u32, f32)>,
        filter: &Filter,
        k: usize,
    ) -> Vec<Scored> {
        let n = self.meta.len();
        let scan = |start: usize, end: usize| {
            let mut heap = BinaryHeap::with_capacity(k + 1);
            for i in start..end {
                if !self.passes(i, filter) {
                    continue;
                }
                let row = &self.vectors[i * self.dim..(i + 1) * self.dim];
                let similarity = dot_i8(&query.q, row) as f32 * query.scale * self.scales[i];
                let lex = lexical.get(&(i as u32)).copied().unwrap_or(0.0);
                let bonus = match pinned {
                    Some((slot, b)) if slot == i as u32 => b,
                    _ => 0.0,
                };
                let s = Scored {
                    slot: i as u32,
                    score: similarity + lex_weight * lex + bonus,
                    similarity,
                    lexical: lex,
                };
                if heap.len() < k {
                    heap.push(s);
                } else if heap.peek().is_some_and(|worst| s < *worst) {
                    heap.pop();
                    heap.push(s);
                }
            }
            heap.into_vec()
        };
        let mut all: Vec<Scored> = if n >= 2 * CHUNK {
            (0..n.div_ceil(CHUNK))
                .into_par_iter()
                .flat_map_iter(|c| scan(c * CHUNK, ((c + 1) * CHUNK).min(n)))
                .collect()
        } else {
            scan(0, n)
        };
        all.sort_unstable();
        all.truncate(k);
        all
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

    /// Approximate heap bytes held (vectors, metadata, lexical postings excluded).
    pub fn vector_bytes(&self) -> usize {
        self.vectors.capacity() + self.scales.capacity() * 4 + self.trust.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_round_trip() {
        let v = [0.5f32, -0.25, 0.0, 1.0];
        let q = Quantized::new(&v);
        assert_eq!(q.q, vec![64, -32, 0, 127]);
        let back = Quantized::from_bytes(&q.to_bytes(), 4).expect("len");
        assert_eq!(back, q);
        assert!(Quantized::from_bytes(&q.to_bytes(), 5).is_none());
        assert_eq!(Quantized::new(&[0.0, 0.0]).scale, 0.0);
    }

    fn meta(k: u8, tags: &[u32]) -> Meta {
        Meta {
            key: [k; 32],
            seq: i64::from(k),
            issued_at: i64::from(k),
            expires_at: i64::MAX,
            tags: tags.into(),
            protocols: Box::new([]),
        }
    }

    #[test]
    fn search_ranks_filters_and_reuses_slots() {
        let mut idx = Index::new(2);
        idx.upsert(meta(1, &[1]), &Quantized::new(&[1.0, 0.0]), "east");
        idx.upsert(meta(2, &[1, 2]), &Quantized::new(&[0.6, 0.8]), "north east");
        idx.upsert(meta(3, &[]), &Quantized::new(&[0.0, 1.0]), "north");
        let q = Quantized::new(&[1.0, 0.0]);
        let f = Filter::default();
        let hits = idx.search(&q, &HashMap::new(), 0.0, None, &f, 2);
        assert_eq!(hits.iter().map(|h| h.slot).collect::<Vec<_>>(), vec![0, 1]);
        assert!((hits[0].similarity - 1.0).abs() < 0.02);
        // Tag filter: all must match.
        let f = Filter {
            tags: vec![1, 2],
            ..Filter::default()
        };
        let hits = idx.search(&q, &HashMap::new(), 0.0, None, &f, 10);
        assert_eq!(hits.iter().map(|h| h.slot).collect::<Vec<_>>(), vec![1]);
        // Lexical boost can reorder close calls.
        let lex = HashMap::from([(1u32, 1.0f32)]);
        let hits = idx.search(&q, &lex, 0.5, None, &Filter::default(), 1);
        assert_eq!(hits[0].slot, 1);
        // Trust filter and browse order.
        idx.set_trust(&[3; 32], 0.9);
        let f = Filter {
            min_trust: 0.6,
            ..Filter::default()
        };
        assert_eq!(idx.browse(&f, 10).len(), 1);
        let all = idx.browse(&Filter::default(), 10);
        assert_eq!(
            all.iter().map(|h| h.slot).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
        // Removal frees the slot for the next card.
        idx.remove(&[1; 32]);
        assert_eq!(idx.len(), 2);
        idx.upsert(meta(4, &[]), &Quantized::new(&[1.0, 0.0]), "x");
        assert_eq!(idx.by_key[&[4; 32]], 0);
        // Expired cards are skipped.
        let f = Filter {
            now: i64::MAX,
            ..Filter::default()
        };
        assert!(
            idx.search(&q, &HashMap::new(), 0.0, None, &f, 10)
                .is_empty()
        );
    }

    #[test]
    fn parallel_scan_matches_serial() {
        let dim = 8;
        let mut idx = Index::new(dim);
        let n = 2 * CHUNK + 77;
        for i in 0..n {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let v: Vec<f32> = (0..dim)
                .map(|d| ((i * 31 + d * 7) % 17) as f32 - 8.0)
                .collect();
            idx.upsert(
                Meta {
                    key,
                    expires_at: i64::MAX,
                    ..Meta::default()
                },
                &Quantized::new(&v),
                "",
            );
        }
        let q = Quantized::new(&[1.0, -1.0, 0.5, 0.0, 0.25, -0.5, 1.0, 0.0]);
        let par = idx.search(&q, &HashMap::new(), 0.0, None, &Filter::default(), 10);
        let mut serial: Vec<Scored> = (0..n)
            .map(|i| {
                let row = &idx.vectors[i * dim..(i + 1) * dim];
                let s = dot_i8(&q.q, row) as f32 * q.scale * idx.scales[i];
                Scored {
                    slot: i as u32,
                    score: s,
                    similarity: s,
                    lexical: 0.0,
                }
            })
            .collect();
        serial.sort_unstable();
        serial.truncate(10);
        assert_eq!(par, serial);
    }
}
