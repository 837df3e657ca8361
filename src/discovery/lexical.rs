//! The lexical side of ranking: a small BM25 index over card words, so exact names, tags, skill
//! IDs and rare words lift the right card a little above its semantic neighbours.
//!
//! Postings are plain slot lists (term frequency is taken as 1: card texts are short and BM25's
//! tf saturation makes repeats count little), each card keeps its own term list so an update
//! removes exactly its old postings, and each card contributes at most [`MAX_TERMS`] distinct
//! terms, which bounds memory.

use std::collections::HashMap;

/// Most distinct terms indexed per card.
pub const MAX_TERMS: usize = 96;
const K1: f32 = 1.2;
const B: f32 = 0.75;

const STOPWORDS: &[&str] = &[
    "a", "about", "an", "and", "any", "are", "as", "at", "be", "by", "can", "do", "for", "from",
    "how", "i", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "that",
    "the", "their", "this", "to", "was", "we", "what", "when", "which", "who", "will", "with",
    "you", "your",
];

/// Lowercased alphanumeric words (with inner `-`, `_`, `.`, `:` kept so IDs and names like
/// `did:key:z6Mk…` or `gpt-4o` stay whole), stopwords dropped.
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || "-_.:".contains(c)))
        .map(|w| w.trim_matches(|c: char| "-_.:".contains(c)))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
}

/// The words of a query whose posting lists a search left unwalked ([`Lexical::walk_into`]):
/// their share is added per candidate instead ([`Lexical::rest_share`]).
#[derive(Debug, Clone, Default)]
pub struct Rest {
    /// (term ID, its BM25 weight before length normalisation), by term ID.
    terms: Vec<(u32, f32)>,
    best: f32,
    avg: f32,
}

impl Rest {
    /// True when every word's list was walked.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// An inverted index from terms to card slots.
#[derive(Debug, Default)]
pub struct Lexical {
    /// Term → ID, keyed by a 64-bit hash of the term rather than the term itself: a registry
    /// has a unique word or two per card (names, model numbers), and storing 100k strings
    /// would cost more than the postings. Two terms colliding (odds ~1e-9 at a million terms)
    /// would only share a posting list.
    ids: HashMap<u64, u32>,
    postings: Vec<Vec<u32>>,
    /// Each slot's term IDs, sorted, as LEB128 varint deltas (about 2 bytes a term instead of
    /// 4): read only when the slot's document is replaced.
    doc_terms: Vec<Box<[u8]>>,
    doc_len: Vec<u16>,
    total_len: u64,
    docs: u32,
}

impl Lexical {
    /// Indexes `text` as the document of `slot`, replacing what the slot had.
    pub fn set(&mut self, slot: u32, text: &str) {
        self.clear(slot);
        let mut seen: Vec<u32> = Vec::new();
        let mut len = 0usize;
        for t in terms(text) {
            len += 1;
            if seen.len() >= MAX_TERMS {
                continue;
            }
            let next = self.postings.len() as u32;
            let id = *self.ids.entry(term_hash(&t)).or_insert(next);
            if id == next {
                self.postings.push(Vec::new());
            }
            if !seen.contains(&id) {
                seen.push(id);
                self.postings[id as usize].push(slot);
            }
        }
        let i = slot as usize;
        if self.doc_terms.len() <= i {
            self.doc_terms.resize_with(i + 1, Default::default);
            self.doc_len.resize(i + 1, 0);
        }
        let len = u16::try_from(len.max(1)).unwrap_or(u16::MAX);
        seen.sort_unstable();
        self.doc_terms[i] = encode_sorted(&seen);
        self.doc_len[i] = len;
        self.total_len += u64::from(len);
        self.docs += 1;
    }

    /// Removes the document of `slot`, if any.
    pub fn clear(&mut self, slot: u32) {
        let i = slot as usize;
        let Some(old) = self.doc_terms.get_mut(i).map(std::mem::take) else {
            return;
        };
        if self.doc_len[i] == 0 {
            return;
        }
        for t in decode_sorted(&old) {
            let list = &mut self.postings[t as usize];
            if let Some(p) = list.iter().position(|s| *s == slot) {
                list.swap_remove(p);
            }
        }
        self.total_len -= u64::from(self.doc_len[i]);
        self.doc_len[i] = 0;
        self.docs -= 1;
    }

    /// Gives back spare capacity (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.postings.shrink_to_fit();
        for p in &mut self.postings {
            p.shrink_to_fit();
        }
        self.doc_terms.shrink_to_fit();
        self.doc_len.shrink_to_fit();
    }

    /// Heap bytes held (capacities; allocator overhead not included).
    pub fn heap_bytes(&self) -> usize {
        let ids = self.ids.capacity() * (std::mem::size_of::<(u64, u32)>() + 1);
        let postings: usize = self.postings.iter().map(|p| p.capacity() * 4 + 24).sum();
        let terms: usize = self.doc_terms.iter().map(|t| t.len() + 16).sum();
        ids + postings + terms + self.doc_len.capacity() * 2
    }

    /// BM25 scores of `query` indexed by slot (`slots` long, or empty when no word matched),
    /// each divided by the best score any document could get for this query, so a value is in
    /// [0, 1]: the share of the query's information matched.
    pub fn scores(&self, query: &str, slots: usize) -> Vec<f32> {
        let mut out: Vec<f32> = Vec::new();
        self.scores_into(query, slots, &mut out);
        out
    }

    /// [`Lexical::scores`] into `out`, which must hold only zeros (it is grown to `slots` when
    /// it has a match), returning the slots with a score above zero, so a caller need not scan
    /// every slot for them. A caller that zeroes those slots afterwards can reuse `out`, and a
    /// large index does not allocate and fault in megabytes per query.
    pub fn scores_into(&self, query: &str, slots: usize, out: &mut Vec<f32>) -> Vec<u32> {
        self.walk_into(query, slots, out, usize::MAX).0
    }

    /// [`Lexical::scores_into`], walking only the posting lists of words on at most `max_df`
    /// cards: the others (common words, whose lists are the longest and whose weight is the
    /// least) are returned as a [`Rest`] whose share [`Lexical::rest_share`] adds per card.
    /// The scores written and the slots returned are then those of the rarer words alone.
    pub fn walk_into(
        &self,
        query: &str,
        slots: usize,
        out: &mut Vec<f32>,
        max_df: usize,
    ) -> (Vec<u32>, Rest) {
        let mut matched: Vec<u32> = Vec::new();
        let mut rest = Rest::default();
        if self.docs == 0 {
            return (matched, rest);
        }
        let n = self.docs as f32;
        let avg = self.total_len as f32 / n;
        let mut qterms: Vec<String> = terms(query).collect();
        qterms.sort_unstable();
        qterms.dedup();
        let mut best = 0.0f32;
        for t in &qterms {
            let Some((id, list)) = self
                .ids
                .get(&term_hash(t))
                .map(|id| (*id, &self.postings[*id as usize]))
            else {
                // An unknown word still counts toward what a full match would score.
                best += (1.0 + (n + 0.5) / 0.5).ln() * (K1 + 1.0) / (1.0 + K1 * (1.0 - B));
                continue;
            };
            let df = list.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            best += idf * (K1 + 1.0) / (1.0 + K1 * (1.0 - B));
            if list.len() > max_df {
                rest.terms.push((id, idf * (K1 + 1.0)));
                continue;
            }
            let want = slots.max(self.doc_len.len());
            if !list.is_empty() && out.len() < want {
                out.resize(want, 0.0);
            }
            for slot in list {
                let len = f32::from(self.doc_len[*slot as usize]);
                let o = &mut out[*slot as usize];
                // Every term adds a positive share, so a zero means a first match.
                if *o == 0.0 {
                    matched.push(*slot);
                }
                *o += idf * (K1 + 1.0) / (1.0 + K1 * (1.0 - B + B * len / avg));
            }
        }
        if best > 0.0 {
            for slot in &matched {
                let v = &mut out[*slot as usize];
                *v = (*v / best).min(1.0);
            }
        }
        rest.terms.sort_unstable_by_key(|t| t.0);
        rest.best = best;
        rest.avg = avg;
        (matched, rest)
    }

    /// The share of `slot`'s score from the words of `rest` its card holds (read from the
    /// card's own term list), on the scale of [`Lexical::scores_into`].
    pub fn rest_share(&self, slot: u32, rest: &Rest) -> f32 {
        let i = slot as usize;
        if rest.terms.is_empty() || rest.best <= 0.0 || self.doc_len.get(i).is_none_or(|l| *l == 0)
        {
            return 0.0;
        }
        let norm = 1.0 + K1 * (1.0 - B + B * f32::from(self.doc_len[i]) / rest.avg);
        let mut sum = 0.0;
        let mut want = rest.terms.iter().peekable();
        for id in decode_sorted(&self.doc_terms[i]) {
            while want.peek().is_some_and(|t| t.0 < id) {
                want.next();
            }
            match want.peek() {
                Some(t) if t.0 == id => sum += t.1 / norm,
                Some(_) => {}
                None => break,
            }
        }
        sum / rest.best
    }
}

/// A fixed (unkeyed) 64-bit hash of a term: the same on every run, so nothing depends on
/// process-random hashing.
fn term_hash(t: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// Sorted IDs as varint deltas.
fn encode_sorted(ids: &[u32]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(ids.len() * 2);
    let mut prev = 0u32;
    for id in ids {
        let mut d = id - prev;
        prev = *id;
        loop {
            let byte = (d & 0x7f) as u8;
            d >>= 7;
            if d == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out.into_boxed_slice()
}

/// Inverse of [`encode_sorted`].
fn decode_sorted(bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let (mut prev, mut cur, mut shift) = (0u32, 0u32, 0u32);
    for b in bytes {
        cur |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            prev += cur;
            out.push(prev);
            cur = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_deltas_round_trip() {
        let ids = [0u32, 1, 127, 128, 300, 70_000, 2_000_000, u32::MAX];
        assert_eq!(decode_sorted(&encode_sorted(&ids)), ids);
        assert!(encode_sorted(&[5, 6, 7, 8]).len() == 4);
    }

    #[test]
    fn terms_keep_ids_and_drop_stopwords() {
        let t: Vec<String> = terms("Review my Pull-Request for did:key:z6MkAbc, gpt-4o!").collect();
        assert_eq!(
            t,
            vec!["review", "pull-request", "did:key:z6mkabc", "gpt-4o"]
        );
    }

    /// Leaving common words' lists unwalked and adding their share per card gives the same
    /// scores as walking them all.
    #[test]
    fn a_partial_walk_plus_the_rest_equals_the_full_scores() {
        let mut l = Lexical::default();
        let words = ["alpha", "beta", "gamma", "delta", "omega"];
        for slot in 0..200u32 {
            let text: Vec<&str> = words
                .iter()
                .enumerate()
                .filter(|(w, _)| slot % (*w as u32 + 2) == 0 || *w == 0)
                .map(|(_, t)| *t)
                .chain(["filler"; 3].into_iter().take(slot as usize % 4))
                .collect();
            l.set(slot, &text.join(" "));
        }
        let q = "alpha gamma omega unknown";
        let full = l.scores(q, 200);
        let mut part = Vec::new();
        let (matched, rest) = l.walk_into(q, 200, &mut part, 60);
        assert!(!rest.is_empty(), "alpha (every card) is left unwalked");
        assert!(matched.len() < 200);
        for slot in 0..200u32 {
            let got = part.get(slot as usize).copied().unwrap_or(0.0) + l.rest_share(slot, &rest);
            assert!(
                (got - full[slot as usize]).abs() < 1e-5,
                "slot {slot}: {got} vs {}",
                full[slot as usize]
            );
        }
    }

    #[test]
    fn rare_terms_score_higher_and_updates_replace() {
        let mut l = Lexical::default();
        l.set(0, "weather forecast agent");
        l.set(1, "code review agent");
        l.set(2, "translation agent");
        let s = l.scores("weather agent", 3);
        assert!(s[0] > s[1], "{s:?}");
        assert!(s[0] <= 1.0);
        l.set(0, "stock quotes");
        let s = l.scores("weather", 3);
        assert!(s.is_empty(), "old postings removed: {s:?}");
        l.clear(1);
        assert!(l.scores("review", 3).is_empty());
        assert_eq!(l.docs, 2);
    }
}
