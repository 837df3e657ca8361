//! Semantic buckets for the DHT: a locality-sensitive hash of an embedding, so that nodes
//! holding agents near a query in meaning can be found as providers of the query's buckets.
//!
//! Random-hyperplane LSH (Charikar's SimHash) with ±1 hyperplanes (Achlioptas): [`TABLES`]
//! tables of [`BITS`] planes each; bit `b` of table `t` is set when the dot product of the
//! vector with plane `(t, b)` is ≥ 0. Every node must draw the same planes, so they come from a
//! fixed, specified stream rather than a seeded crate RNG whose output could change between
//! versions: SplitMix64 (Steele et al.) seeded with [`SEED`], one output word per 64 plane
//! entries, least significant bit first, a set bit meaning +1 (docs/protocol.md §7b).
//!
//! Two vectors at angle θ share a table's bucket with probability (1 − θ/π)^BITS: for a cosine
//! of 0.7 that is 0.31 per table, and with a second probe per table (the least certain bit
//! flipped) a match in at least one of the 8 tables is likely (about 0.97).

use std::sync::{Arc, Mutex, OnceLock};

/// Hash tables.
pub const TABLES: usize = 8;
/// Planes (bits) per table: 16 buckets each.
pub const BITS: usize = 4;
/// The stream's seed: ASCII "AMLSHv1\0" read as a little-endian u64.
pub const SEED: u64 = u64::from_le_bytes(*b"AMLSHv1\0");

/// A bucket: table index and bucket bits.
pub type Bucket = (u8, u8);

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream's first output word (published in docs/test-vectors.json, so another
/// implementation can check its SplitMix64 before anything else).
pub fn first_output() -> u64 {
    let mut state = SEED;
    splitmix64(&mut state)
}

/// The planes for vectors of `dim` dimensions, as sign bits (table-major, then plane, then
/// dimension), cached per dimension.
/// Sign bits of the planes, table-major.
type Planes = Arc<Vec<bool>>;

fn planes(dim: usize) -> Planes {
    static CACHE: OnceLock<Mutex<Vec<(usize, Planes)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, p)) = cache.iter().find(|(d, _)| *d == dim) {
        return p.clone();
    }
    let n = TABLES * BITS * dim;
    let mut state = SEED;
    let mut signs = Vec::with_capacity(n);
    while signs.len() < n {
        let word = splitmix64(&mut state);
        for bit in 0..64 {
            if signs.len() == n {
                break;
            }
            signs.push(word >> bit & 1 == 1);
        }
    }
    let p = Arc::new(signs);
    cache.push((dim, p.clone()));
    p
}

/// Per table, the projections of `v` on its planes.
fn projections(v: &[f32]) -> Vec<[f32; BITS]> {
    let planes = planes(v.len());
    (0..TABLES)
        .map(|t| {
            let mut out = [0f32; BITS];
            for (b, o) in out.iter_mut().enumerate() {
                let plane = &planes[(t * BITS + b) * v.len()..][..v.len()];
                *o = v
                    .iter()
                    .zip(plane)
                    .map(|(x, &plus)| if plus { *x } else { -*x })
                    .sum();
            }
            out
        })
        .collect()
}

fn bits_of(p: &[f32; BITS]) -> u8 {
    p.iter()
        .enumerate()
        .fold(0u8, |acc, (b, x)| acc | (u8::from(*x >= 0.0) << b))
}

/// The bucket of `v` in every table (what a card is provided under).
pub fn buckets(v: &[f32]) -> Vec<Bucket> {
    if v.is_empty() {
        return Vec::new();
    }
    projections(v)
        .iter()
        .enumerate()
        .map(|(t, p)| (t as u8, bits_of(p)))
        .collect()
}

/// The buckets a query probes: its own in every table, and the neighbour across its least
/// certain plane (the smallest |projection|).
pub fn probes(v: &[f32]) -> Vec<Bucket> {
    if v.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(2 * TABLES);
    for (t, p) in projections(v).iter().enumerate() {
        let bits = bits_of(p);
        out.push((t as u8, bits));
        let weakest = (0..BITS)
            .min_by(|&a, &b| p[a].abs().total_cmp(&p[b].abs()))
            .unwrap_or(0);
        out.push((t as u8, bits ^ (1 << weakest)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plane_stream_is_the_specified_one() {
        // SplitMix64's published first output for seed 0 (Vigna's reference implementation).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
        let p = planes(3);
        assert_eq!(p.len(), TABLES * BITS * 3);
        let mut s = SEED;
        let w = splitmix64(&mut s);
        assert_eq!(p[0], w & 1 == 1);
        assert_eq!(p[5], w >> 5 & 1 == 1);
    }

    #[test]
    fn near_vectors_share_buckets_and_far_ones_mostly_do_not() {
        let dim = 64;
        let mut s = 7u64;
        let mut rand_vec = || -> Vec<f32> {
            (0..dim)
                .map(|_| (splitmix64(&mut s) as f64 / u64::MAX as f64 - 0.5) as f32)
                .collect()
        };
        let (mut near, mut far) = (0, 0);
        for _ in 0..200 {
            let a = rand_vec();
            let noise = rand_vec();
            let b: Vec<f32> = a.iter().zip(&noise).map(|(x, n)| x + 0.3 * n).collect();
            let c = rand_vec();
            let probes_b = probes(&b);
            if buckets(&a).iter().any(|x| probes_b.contains(x)) {
                near += 1;
            }
            if buckets(&c).iter().any(|x| probes_b.contains(x)) {
                far += 1;
            }
        }
        assert!(near > 190, "near vectors met in {near} of 200");
        assert!(far < near, "unrelated vectors met in {far} of 200");
        assert_eq!(buckets(&[]), vec![]);
        assert_eq!(probes(&[1.0; 8]).len(), 2 * TABLES);
    }
}
