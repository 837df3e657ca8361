//! The lexical side of ranking: a small BM25 index over card words, so exact names, tags, skill
//! IDs and rare words lift the right card a little above its semantic neighbours.
//!
//! Postings are plain slot lists (term frequency is taken as 1: card texts are short and BM25's
//! tf saturation makes repeats count little), each card keeps its own term list so an update
//! removes exactly its old postings, and each card contributes at most [`MAX_TERMS`] distinct
//! terms, which bounds memory.
//!
//! Most terms of a registry are on one card only (names, endpoints, model numbers): at a
//! million cards they outnumber the cards. Such a term costs 20-odd bytes here (its hash, its
//! slot inline and a place in the term table) instead of a list of its own, and a term no card
//! holds any more is forgotten and its ID reused, so cards replaced with new names do not
//! leave terms behind.

use roaring::RoaringBitmap;

use super::slot_table::{SlotTable, reuse_or_push};

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

/// Each term's posting list. A term on a single card keeps the slot itself in `heads`; a
/// longer list lives in `lists` and its head holds [`MANY`] and its index. A list of up to
/// [`BITMAP_FROM`] cards is a plain slot list; a longer one (a common word's, most of the
/// postings at a million cards) is a compressed bitmap (`roaring`: sorted 16-bit offsets in
/// blocks of 65,536 slots, or one bit a slot where a block is dense), about half the bytes. A
/// short list is not one: each block it touches costs a record of its own.
#[derive(Debug, Default)]
struct Postings {
    heads: Vec<u32>,
    lists: Vec<List>,
    /// Indexes of `lists` free for reuse.
    free: Vec<u32>,
}

/// A posting list of more than one card.
#[derive(Debug)]
enum List {
    /// In no order (a removal swaps the last one in).
    Few(Vec<u32>),
    Bitmap(RoaringBitmap),
    /// A common word's count alone, once searches no longer walk its list
    /// ([`Lexical::count_common_words`]): its cards are read from their own term lists.
    Counted(u32),
}

/// Cards from which a list is kept as a bitmap.
const BITMAP_FROM: usize = 4096;
/// Cards below which a bitmap goes back to a plain list (apart from [`BITMAP_FROM`], so a list
/// near the size does not flip on every change).
const BITMAP_BELOW: usize = 2048;

impl List {
    fn len(&self) -> usize {
        match self {
            List::Few(v) => v.len(),
            List::Bitmap(b) => b.len() as usize,
            List::Counted(n) => *n as usize,
        }
    }

    /// The list of `slots` (ascending), in the form its length calls for.
    fn of_sorted(slots: Vec<u32>) -> Self {
        if slots.len() >= BITMAP_FROM {
            List::Bitmap(RoaringBitmap::from_sorted_iter(slots).unwrap_or_default())
        } else {
            List::Few(slots)
        }
    }

    fn insert(&mut self, slot: u32) {
        match self {
            List::Few(v) => {
                v.push(slot);
                if v.len() >= BITMAP_FROM {
                    *self = List::Bitmap(v.iter().copied().collect());
                }
            }
            List::Bitmap(b) => {
                b.insert(slot);
            }
            List::Counted(n) => *n += 1,
        }
    }

    fn remove(&mut self, slot: u32) {
        match self {
            List::Few(v) => {
                if let Some(p) = v.iter().position(|s| *s == slot) {
                    v.swap_remove(p);
                }
            }
            List::Bitmap(b) => {
                b.remove(slot);
                if (b.len() as usize) < BITMAP_BELOW {
                    *self = List::Few(b.iter().collect());
                }
            }
            // The caller removes only a card that holds the term.
            List::Counted(n) => *n = n.saturating_sub(1),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            List::Few(v) => v.capacity() * 4,
            List::Bitmap(b) => {
                // Each block: its record (key and store header, 32 bytes) and its contents.
                // The library's own byte counts are not used: roaring 0.11 counts an array
                // block's 16-bit capacity at 4 bytes an entry and a bitmap block's 65,536 bits
                // as bytes, so they read 2 and 8 times the memory held.
                let s = b.statistics();
                (u64::from(s.n_containers) * 32
                    + s.n_bytes_array_containers / 2
                    + s.n_bytes_run_containers
                    + u64::from(s.n_bitset_containers) * 8192) as usize
            }
            List::Counted(_) => 0,
        }
    }
}

/// A head naming a list in [`Postings::lists`] (slots stay below it: 2³¹ cards would need
/// terabytes).
const MANY: u32 = 1 << 31;
/// The head of a term on no card.
const EMPTY: u32 = u32::MAX;

/// The slots of one posting list.
enum Slots<'a> {
    One(Option<u32>),
    Few(std::slice::Iter<'a, u32>),
    Bitmap(roaring::bitmap::Iter<'a>),
}

impl Iterator for Slots<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            Slots::One(s) => s.take(),
            Slots::Few(it) => it.next().copied(),
            Slots::Bitmap(it) => it.next(),
        }
    }
}

impl Postings {
    /// How many cards hold term `id`, and which (`None` for a counted list).
    fn get(&self, id: u32) -> (usize, Option<Slots<'_>>) {
        match self.heads[id as usize] {
            EMPTY => (0, Some(Slots::One(None))),
            h if h & MANY != 0 => match &self.lists[(h & !MANY) as usize] {
                List::Few(v) => (v.len(), Some(Slots::Few(v.iter()))),
                List::Bitmap(b) => (b.len() as usize, Some(Slots::Bitmap(b.iter()))),
                List::Counted(n) => (*n as usize, None),
            },
            one => (1, Some(Slots::One(Some(one)))),
        }
    }

    /// The list of term `id`, if it has one of its own (more than one card).
    fn list_mut(&mut self, id: u32) -> Option<&mut List> {
        let h = self.heads[id as usize];
        (h != EMPTY && h & MANY != 0).then(|| &mut self.lists[(h & !MANY) as usize])
    }

    /// A new term's (empty) list.
    fn add_term(&mut self, id: u32) {
        let i = id as usize;
        if i == self.heads.len() {
            self.heads.push(EMPTY);
        } else {
            self.heads[i] = EMPTY;
        }
    }

    fn push(&mut self, id: u32, slot: u32) {
        debug_assert!(slot < MANY);
        let head = &mut self.heads[id as usize];
        match *head {
            EMPTY => *head = slot,
            h if h & MANY != 0 => self.lists[(h & !MANY) as usize].insert(slot),
            one => {
                let at = reuse_or_push(&mut self.lists, &mut self.free, List::Few(vec![one, slot]));
                *head = MANY | at;
            }
        }
    }

    /// Takes `slot` off term `id`'s list; true when no card holds the term any more.
    fn remove(&mut self, id: u32, slot: u32) -> bool {
        let head = &mut self.heads[id as usize];
        match *head {
            EMPTY => true,
            h if h & MANY != 0 => {
                let at = (h & !MANY) as usize;
                let list = &mut self.lists[at];
                list.remove(slot);
                // A counted list is listed again long before it is this short
                // ([`Lexical::clear`]); should one empty, the term is simply gone.
                let counted = matches!(list, List::Counted(n) if *n > 0);
                if list.len() <= 1 && !counted {
                    // Back inline: a list of one would cost its own allocation.
                    *head = match list {
                        List::Few(v) => v.first().copied(),
                        List::Bitmap(b) => b.min(),
                        List::Counted(_) => None,
                    }
                    .unwrap_or(EMPTY);
                    self.lists[at] = List::Few(Vec::new());
                    self.free.push(at as u32);
                }
                *head == EMPTY
            }
            one => {
                if one == slot {
                    *head = EMPTY;
                }
                *head == EMPTY
            }
        }
    }

    /// Lists held (terms on more than one card).
    #[cfg(test)]
    fn lists_held(&self) -> usize {
        self.lists.len() - self.free.len()
    }

    fn shrink_to_fit(&mut self) {
        self.heads.shrink_to_fit();
        self.lists.shrink_to_fit();
        for l in &mut self.lists {
            if let List::Few(v) = l {
                v.shrink_to_fit();
            }
        }
        self.free.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        self.heads.capacity() * 4
            + self.lists.capacity() * std::mem::size_of::<List>()
            + self.lists.iter().map(List::heap_bytes).sum::<usize>()
            + self.free.capacity() * 4
    }
}

/// An inverted index from terms to card slots.
#[derive(Debug, Default)]
pub struct Lexical {
    /// Term IDs, found by a 64-bit hash of the term ([`Lexical::hashes`]) rather than the term
    /// itself: a registry has a unique word or two per card (names, model numbers), and
    /// storing their strings would cost more than the postings. Two terms colliding (odds
    /// ~1e-9 at a million terms) would only share a posting list.
    ids: SlotTable,
    /// Each term ID's hash.
    hashes: Vec<u64>,
    /// Term IDs no card holds, for reuse.
    free_ids: Vec<u32>,
    postings: Postings,
    /// Each slot's term IDs: read when the slot's document is replaced, and for a common
    /// word's share ([`Lexical::rest_share`]).
    doc_terms: DocTerms,
    doc_len: Vec<u16>,
    total_len: u64,
    docs: u32,
    /// Set by [`Lexical::count_common_words`]: searches walk only the lists of words on at
    /// most one card in `share` (and always those of at most `min` cards).
    walk: Option<Walk>,
    /// The terms whose lists are [`List::Counted`].
    counted: Vec<u32>,
}

/// Which posting lists a search walks, once common words are counted.
#[derive(Debug, Clone, Copy)]
struct Walk {
    share: usize,
    min: usize,
}

/// Through the graph, the posting lists of words on more than one card in this many are not
/// walked…
pub const WALK_SHARE: usize = 100;
/// …but a list of at most this many cards always is.
pub const WALK_MIN: usize = 1000;

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
            let id = self.term_id(term_hash(&t));
            if !seen.contains(&id) {
                seen.push(id);
                self.postings.push(id, slot);
            }
        }
        let i = slot as usize;
        if self.doc_len.len() <= i {
            self.doc_len.resize(i + 1, 0);
        }
        let len = u16::try_from(len.max(1)).unwrap_or(u16::MAX);
        seen.sort_unstable();
        self.doc_terms.set(i, &encode_sorted(&seen));
        self.doc_len[i] = len;
        self.total_len += u64::from(len);
        let limit = self.walk_limit();
        self.docs += 1;
        if self.walk.is_some() {
            for id in seen {
                self.count_if_common(id);
            }
            if self.walk_limit() > limit {
                // More cards: a counted word may now be rare enough to walk.
                let rare: Vec<u32> = self.counted_at_most(self.walk_limit(), &self.counted);
                self.list_again(&rare);
            }
        }
    }

    /// From now on, searches walk only the posting lists of words on at most
    /// [`Lexical::walk_limit`] cards (one in `share`, and any of at most `min`), and a list
    /// half as long again is dropped for its count: a common word's share of a card's score is
    /// then read from the card's own term list ([`Lexical::rest_share`]). At a million cards
    /// those lists are most of the postings. A word whose count falls to the limit is listed
    /// again, so a search walks exactly the words it walked before.
    ///
    /// Called when the vectors move into a graph, which finds cards by meaning; there is no
    /// way back, as the graph stays.
    pub fn count_common_words(&mut self, share: usize, min: usize) {
        // A limit of at least 1 lists a counted word again before its count can reach 1, so a
        // counted word is never forgotten ([`Lexical::clear`]).
        self.walk = Some(Walk {
            share: share.max(1),
            min: min.max(1),
        });
        for id in 0..self.postings.heads.len() as u32 {
            self.count_if_common(id);
        }
    }

    /// The longest posting list a search walks ([`Lexical::walk_into`]'s `max_df`):
    /// `usize::MAX` until [`Lexical::count_common_words`].
    pub fn walk_limit(&self) -> usize {
        self.walk
            .map_or(usize::MAX, |w| (self.docs as usize / w.share).max(w.min))
    }

    /// Drops term `id`'s list for its count if it is half as long again as the walk limit.
    fn count_if_common(&mut self, id: u32) {
        let limit = self.walk_limit();
        let over = limit.saturating_add(limit / 2);
        if let Some(list) = self.postings.list_mut(id)
            && !matches!(list, List::Counted(_))
            && list.len() > over
        {
            *list = List::Counted(list.len() as u32);
            self.counted.push(id);
        }
    }

    /// Those of `ids` whose list is counted and on at most `limit` cards.
    fn counted_at_most(&self, limit: usize, ids: &[u32]) -> Vec<u32> {
        ids.iter()
            .copied()
            .filter(|id| matches!(self.postings.get(*id), (n, None) if n <= limit))
            .collect()
    }

    /// Lists counted terms `ids` again, from every card's own term list: one pass over all of
    /// them (about 30 MB at a million cards), which the hysteresis of
    /// [`Lexical::count_common_words`] keeps rare: a word must lose a third of its cards.
    fn list_again(&mut self, ids: &[u32]) {
        if ids.is_empty() {
            return;
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); ids.len()];
        for (slot, len) in self.doc_len.iter().enumerate() {
            if *len == 0 {
                continue;
            }
            for t in decode_sorted(self.doc_terms.get(slot)) {
                if let Ok(k) = ids.binary_search(&t) {
                    lists[k].push(slot as u32);
                }
            }
        }
        for (id, slots) in ids.iter().zip(lists) {
            if let Some(list) = self.postings.list_mut(*id) {
                *list = List::of_sorted(slots);
            }
        }
        self.counted.retain(|id| ids.binary_search(id).is_err());
    }

    /// Removes the document of `slot`, if any.
    pub fn clear(&mut self, slot: u32) {
        let i = slot as usize;
        if self.doc_len.get(i).is_none_or(|l| *l == 0) {
            return;
        }
        let old = decode_sorted(self.doc_terms.get(i));
        self.doc_terms.clear(i);
        for &t in &old {
            if self.postings.remove(t, slot) {
                // Nothing holds the term now: forget it.
                self.ids
                    .remove(&self.hashes[t as usize], hash_field(&self.hashes));
                self.free_ids.push(t);
                debug_assert!(!self.counted.contains(&t), "a counted word was forgotten");
            }
        }
        self.total_len -= u64::from(self.doc_len[i]);
        self.doc_len[i] = 0;
        self.docs -= 1;
        if self.walk.is_some() {
            // A counted word on fewer cards now may be rare enough to walk.
            let rare = self.counted_at_most(self.walk_limit(), &old);
            self.list_again(&rare);
        }
    }

    /// The ID of the term hashing to `h`, a new one if no card holds it.
    fn term_id(&mut self, h: u64) -> u32 {
        if let Some(id) = self.find(h) {
            return id;
        }
        let id = reuse_or_push(&mut self.hashes, &mut self.free_ids, h);
        self.postings.add_term(id);
        self.ids.insert(id, hash_field(&self.hashes));
        id
    }

    /// The ID of the term hashing to `h`, if a card holds it.
    fn find(&self, h: u64) -> Option<u32> {
        self.ids.get(&h, hash_field(&self.hashes))
    }

    /// Terms held by at least one card.
    pub fn term_count(&self) -> usize {
        self.ids.len()
    }

    /// Gives back spare capacity (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit(hash_field(&self.hashes));
        self.hashes.shrink_to_fit();
        self.free_ids.shrink_to_fit();
        self.postings.shrink_to_fit();
        self.doc_terms.shrink_to_fit();
        self.doc_len.shrink_to_fit();
    }

    /// Heap bytes held by part: the term map, the posting lists and each card's terms
    /// (capacities; allocator overhead not included).
    pub fn heap_breakdown(&self) -> [(&'static str, usize); 3] {
        let ids = self.ids.heap_bytes() + self.hashes.capacity() * 8 + self.free_ids.capacity() * 4;
        let postings = self.postings.heap_bytes();
        let terms = self.doc_terms.heap_bytes();
        [
            ("lexical terms", ids),
            ("lexical postings", postings),
            ("lexical cards", terms + self.doc_len.capacity() * 2),
        ]
    }

    /// Heap bytes held (capacities; allocator overhead not included).
    pub fn heap_bytes(&self) -> usize {
        self.heap_breakdown().iter().map(|(_, b)| b).sum()
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
        let (mut matched, rest) = self.walk_into(query, slots, out, usize::MAX);
        if !rest.is_empty() {
            // Counted words ([`Lexical::count_common_words`]): their cards are found from each
            // card's own term list.
            let want = slots.max(self.doc_len.len());
            for slot in 0..self.doc_len.len() {
                let share = self.rest_share(slot as u32, &rest);
                if share <= 0.0 {
                    continue;
                }
                if out.len() < want {
                    out.resize(want, 0.0);
                }
                let o = &mut out[slot];
                if *o == 0.0 {
                    matched.push(slot as u32);
                }
                *o = (*o + share).min(1.0);
            }
        }
        matched
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
            let Some((id, (df, list))) = self
                .find(term_hash(t))
                .map(|id| (id, self.postings.get(id)))
            else {
                // An unknown word still counts toward what a full match would score.
                best += (1.0 + (n + 0.5) / 0.5).ln() * (K1 + 1.0) / (1.0 + K1 * (1.0 - B));
                continue;
            };
            let idf = (1.0 + (n - df as f32 + 0.5) / (df as f32 + 0.5)).ln();
            best += idf * (K1 + 1.0) / (1.0 + K1 * (1.0 - B));
            let Some(list) = list.filter(|_| df <= max_df) else {
                rest.terms.push((id, idf * (K1 + 1.0)));
                continue;
            };
            let want = slots.max(self.doc_len.len());
            if df > 0 && out.len() < want {
                out.resize(want, 0.0);
            }
            for slot in list {
                let len = f32::from(self.doc_len[slot as usize]);
                let o = &mut out[slot as usize];
                // Every term adds a positive share, so a zero means a first match.
                if *o == 0.0 {
                    matched.push(slot);
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
        for id in decode_sorted(self.doc_terms.get(i)) {
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

/// Every card's term IDs, sorted, as LEB128 varint deltas (about 2 bytes a term instead of 4),
/// one list after another in one buffer. A slot finds its list by one word (start and length):
/// 8 bytes a card, where a boxed list cost 16 and an allocation of its own. A replaced list's
/// bytes are left where they are until the dead bytes are as many as the live ones; then the
/// live lists are copied into a new buffer in one pass (tens of milliseconds at a million
/// cards, after as many changes).
#[derive(Debug, Default)]
struct DocTerms {
    bytes: Vec<u8>,
    /// Per slot: `start << 16 | length` (a list is at most [`MAX_TERMS`] × 5 bytes); 0 for none.
    at: Vec<u64>,
    dead: usize,
}

impl DocTerms {
    fn get(&self, i: usize) -> &[u8] {
        let (start, len) = span(self.at.get(i).copied().unwrap_or(0));
        &self.bytes[start..start + len]
    }

    fn set(&mut self, i: usize, list: &[u8]) {
        self.clear(i);
        if self.at.len() <= i {
            self.at.resize(i + 1, 0);
        }
        if list.is_empty() {
            return;
        }
        if self.dead >= 1 << 16 && self.dead * 2 >= self.bytes.len() {
            self.compact();
        }
        debug_assert!(list.len() <= 0xFFFF);
        let start = self.bytes.len() as u64;
        self.bytes.extend_from_slice(list);
        self.at[i] = start << 16 | list.len() as u64;
    }

    fn clear(&mut self, i: usize) {
        if let Some(w) = self.at.get_mut(i) {
            self.dead += span(*w).1;
            *w = 0;
        }
    }

    fn compact(&mut self) {
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.dead);
        for w in &mut self.at {
            let (start, len) = span(*w);
            if len > 0 {
                let to = bytes.len() as u64;
                bytes.extend_from_slice(&self.bytes[start..start + len]);
                *w = to << 16 | len as u64;
            }
        }
        self.bytes = bytes;
        self.dead = 0;
    }

    fn shrink_to_fit(&mut self) {
        if self.dead > 0 {
            self.compact();
        }
        self.bytes.shrink_to_fit();
        self.at.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.at.capacity() * 8
    }
}

/// A [`DocTerms::at`] word's start and length.
fn span(w: u64) -> (usize, usize) {
    ((w >> 16) as usize, (w & 0xFFFF) as usize)
}

/// Reads a term ID's hash, for [`Lexical::ids`].
fn hash_field(hashes: &[u64]) -> impl Fn(u32) -> u64 + '_ {
    move |id| hashes[id as usize]
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
fn encode_sorted(ids: &[u32]) -> Vec<u8> {
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
    out
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

    /// Lists replaced many times: every slot reads its last list, and the dead bytes are
    /// reclaimed.
    #[test]
    fn doc_terms_survive_compaction() {
        let mut d = DocTerms::default();
        let mut model: Vec<Vec<u8>> = vec![Vec::new(); 100];
        for round in 0..5000usize {
            let i = round * 7 % 100;
            let list: Vec<u8> = (0..(round % 60) as u8).map(|b| b ^ round as u8).collect();
            d.set(i, &list);
            model[i] = list;
            if round % 11 == 0 {
                d.clear(round % 100);
                model[round % 100].clear();
            }
        }
        for (i, want) in model.iter().enumerate() {
            assert_eq!(d.get(i), &want[..], "slot {i}");
        }
        assert_eq!(d.get(1000), &[] as &[u8]);
        let live: usize = model.iter().map(Vec::len).sum();
        assert!(
            d.bytes.len() <= 2 * live + (1 << 16) + 64,
            "{}",
            d.bytes.len()
        );
        d.shrink_to_fit();
        assert_eq!(d.bytes.len(), live);
        for (i, want) in model.iter().enumerate() {
            assert_eq!(d.get(i), &want[..], "slot {i} after shrinking");
        }
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
    fn terms_on_no_card_are_forgotten_and_lists_go_back_inline() {
        let mut l = Lexical::default();
        l.set(0, "shared unique0");
        l.set(1, "shared unique1");
        assert_eq!(l.term_count(), 3);
        assert_eq!(l.postings.lists_held(), 1);
        for round in 0..1000 {
            l.set(1, &format!("shared name{round}"));
        }
        assert_eq!(l.term_count(), 3, "replaced names are forgotten");
        assert!(
            l.hashes.len() <= 4,
            "and their IDs reused: {}",
            l.hashes.len()
        );
        l.clear(0);
        assert_eq!(
            l.postings.lists_held(),
            0,
            "a term on one card is inline again"
        );
        let s = l.scores("shared", 2);
        assert!(s[0] == 0.0 && s[1] > 0.0, "{s:?}");
        l.clear(1);
        assert_eq!(l.term_count(), 0);
        assert!(l.scores("shared", 2).is_empty());
    }

    /// A common word's list becomes a bitmap past [`BITMAP_FROM`] cards and a plain list again
    /// below [`BITMAP_BELOW`], matching the same cards and scoring them the same throughout.
    #[test]
    fn long_lists_become_bitmaps_and_back() {
        let mut l = Lexical::default();
        for slot in 0..5000u32 {
            l.set(slot, &format!("common w{}", slot % 7));
        }
        let common = l.postings.lists.iter().find(|x| x.len() == 5000);
        assert!(matches!(common, Some(List::Bitmap(_))));
        // One dense block: 8 KiB of bits and its record, not 20 KB of slots.
        assert_eq!(common.map(List::heap_bytes), Some(8192 + 32));
        let hits = |l: &Lexical| {
            let s = l.scores("common", 5000);
            (0..5000)
                .filter(|i| s.get(*i).is_some_and(|v| *v > 0.0))
                .count()
        };
        assert_eq!(hits(&l), 5000);
        for slot in (0..5000u32).step_by(2) {
            l.clear(slot);
        }
        assert_eq!(hits(&l), 2500);
        for slot in (1..5000u32).step_by(4) {
            l.clear(slot);
        }
        assert_eq!(hits(&l), 1250);
        assert!(l.postings.lists.iter().all(|x| matches!(x, List::Few(_))));
        let mut fresh = Lexical::default();
        for slot in (3..5000u32).step_by(4) {
            fresh.set(slot, &format!("common w{}", slot % 7));
        }
        assert_eq!(l.scores("common w3", 5000), fresh.scores("common w3", 5000));
    }

    /// A fixed xorshift stream: each call gives a number below its argument.
    fn below(mut r: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r % m
        }
    }

    /// Random sets and clears over a small vocabulary: every word's matches are always the
    /// cards whose current text holds it.
    #[test]
    fn postings_follow_every_change() {
        let vocab = ["ant", "bee", "cat", "dog", "eel", "fox"];
        let mut l = Lexical::default();
        let mut docs: Vec<Option<Vec<&str>>> = vec![None; 12];
        let mut next = below(0x9E37_79B9_7F4A_7C15u64);
        for _ in 0..3000 {
            let slot = next(12) as usize;
            if next(4) == 0 {
                l.clear(slot as u32);
                docs[slot] = None;
            } else {
                let words: Vec<&str> = (0..1 + next(3)).map(|_| vocab[next(6) as usize]).collect();
                l.set(slot as u32, &words.join(" "));
                docs[slot] = Some(words);
            }
            for w in vocab {
                let s = l.scores(w, 12);
                for (slot, d) in docs.iter().enumerate() {
                    let holds = d.as_ref().is_some_and(|d| d.contains(&w));
                    assert_eq!(
                        s.get(slot).is_some_and(|v| *v > 0.0),
                        holds,
                        "{w} on slot {slot}: {d:?}"
                    );
                }
            }
            let held = vocab
                .iter()
                .filter(|w| docs.iter().flatten().any(|d| d.contains(w)))
                .count();
            assert_eq!(l.term_count(), held);
        }
    }

    /// Common words counted instead of listed ([`Lexical::count_common_words`]): through random
    /// sets and clears whose word frequencies drift across the walk limit both ways, every
    /// walk finds what an index keeping every list finds, with the same scores and the same
    /// share left for the rest, and the full scores are the same too.
    #[test]
    fn counted_common_words_walk_as_listed_ones() {
        const SLOTS: u64 = 300;
        let vocab = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"];
        let queries = [
            "ant",
            "bee cat",
            "dog eel fox",
            "gnu hen ant u7",
            "hen",
            "zzz fox",
        ];
        let mut plain = Lexical::default();
        let mut counted = Lexical::default();
        counted.count_common_words(10, 4);
        let mut next = below(0x2545_F491_4F6C_DD1Du64);
        let (mut most_counted, mut relisted) = (0, 0);
        for step in 0..6000u64 {
            let slot = next(SLOTS) as u32;
            if next(6) == 0 {
                plain.clear(slot);
                counted.clear(slot);
            } else {
                // Each word's chance drifts between 0 and 1, so its count crosses the limit.
                let unique = format!("u{}", next(50));
                let words: Vec<String> = vocab
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| {
                        let phase = step as f64 / 700.0 + *k as f64;
                        (next(1000) as f64) < 500.0 * (1.0 + phase.sin())
                    })
                    .map(|(_, w)| w.to_string())
                    .chain([unique])
                    .collect();
                plain.set(slot, &words.join(" "));
                counted.set(slot, &words.join(" "));
            }
            let limit = counted.walk_limit();
            for id in &counted.counted {
                assert!(
                    counted.postings.get(*id).0 > limit,
                    "a counted word is walkable"
                );
            }
            if counted.counted.len() < most_counted {
                relisted += 1;
            }
            most_counted = most_counted.max(counted.counted.len());
            if step % 25 != 0 {
                continue;
            }
            for q in queries {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let (mut ma, ra) = plain.walk_into(q, SLOTS as usize, &mut a, limit);
                let (mut mb, rb) = counted.walk_into(q, SLOTS as usize, &mut b, limit);
                ma.sort_unstable();
                mb.sort_unstable();
                assert_eq!(ma, mb, "{q}: the same cards walked at step {step}");
                for slot in 0..SLOTS as u32 {
                    let at = |v: &Vec<f32>| v.get(slot as usize).copied().unwrap_or(0.0);
                    assert_eq!(at(&a), at(&b), "{q}: slot {slot} at step {step}");
                    assert_eq!(plain.rest_share(slot, &ra), counted.rest_share(slot, &rb));
                }
                let (fa, fb) = (
                    plain.scores(q, SLOTS as usize),
                    counted.scores(q, SLOTS as usize),
                );
                for slot in 0..SLOTS as usize {
                    let at = |v: &Vec<f32>| v.get(slot).copied().unwrap_or(0.0);
                    assert!(
                        (at(&fa) - at(&fb)).abs() < 1e-5,
                        "{q}: full score of {slot}"
                    );
                }
            }
        }
        assert!(
            most_counted >= 3,
            "common words were counted: {most_counted}"
        );
        assert!(relisted > 0, "and listed again when they grew rare");
        assert!(counted.postings.heap_bytes() < plain.postings.heap_bytes());
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
