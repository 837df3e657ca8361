//! Ed25519 verification, one signature at a time or many at once, under one rule.
//!
//! The rule is RFC 8032 §5.1.7's group equation `[8][S]B = [8]R + [8][k]A`, with `S` canonical
//! (< ℓ), `R` canonically encoded and not of small order, and `A` not of small order (weak keys
//! are refused when a did:key is decoded). Every signature an RFC 8032 signer makes passes it.
//!
//! Why the cofactored equation and not the cofactorless `[S]B = R + [k]A` that ed25519-dalek's
//! `verify` checks: a batch check (one multiscalar multiplication over many signatures, about
//! half the cost of checking each) agrees with the single check only if both multiply by the
//! cofactor. ed25519-dalek's own `verify_batch` is cofactorless with coefficients derived from
//! the batch's contents, so a key's holder can grind a signature with a torsion component that
//! its batch accepts and a single check refuses. Nodes must agree on every record (a node that
//! refuses what a peer accepted charges the peer a bad-signature event), so this module checks
//! singles and batches with the same equation, with batch coefficients from the OS's random
//! source. That is the only thing written by hand here; the curve arithmetic is
//! curve25519-dalek's. ed25519-zebra (ZIP-215) was not taken: it also accepts non-canonical
//! point encodings, which RFC 8032 refuses.
//!
//! [`verify_batched`] is the asynchronous entry the node uses: alone, a signature is checked on
//! the caller's thread at once; while others are in flight it joins a queue that one verifier
//! thread per process drains in batches, so a busy node spends about half the CPU per signature
//! and an idle one adds no hand-off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity as _, VartimeMultiscalarMul as _};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest as _, Sha512};

use super::non_canonical_y;

/// One signature to check: the signer's key, the signed bytes, the 64 signature bytes.
#[derive(Debug, Clone)]
pub struct SigCheck {
    /// The signer's public key (from a did:key, so not weak).
    pub key: VerifyingKey,
    /// The exact bytes signed.
    pub msg: Vec<u8>,
    /// `R ‖ S`.
    pub sig: [u8; 64],
}

/// Most signatures checked in one multiscalar multiplication.
pub const MAX_BATCH: usize = 32;

/// A signature's parts, decoded: `S`, `R`, and `k = H(R ‖ A ‖ M)`.
struct Parsed {
    s: Scalar,
    r: EdwardsPoint,
    k: Scalar,
}

fn parse(c: &SigCheck) -> Option<Parsed> {
    let (r_bytes, s_bytes) = c.sig.split_at(32);
    let r_bytes: [u8; 32] = r_bytes.try_into().expect("32 of 64 bytes");
    let s_bytes: [u8; 32] = s_bytes.try_into().expect("32 of 64 bytes");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    if non_canonical_y(&r_bytes) {
        return None;
    }
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    if r.is_small_order() {
        return None;
    }
    let digest: [u8; 64] = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(c.key.as_bytes())
        .chain_update(&c.msg)
        .finalize()
        .into();
    Some(Parsed {
        s,
        r,
        k: Scalar::from_bytes_mod_order_wide(&digest),
    })
}

/// The canonical encodings of the eight points of small order.
fn small_order_encodings() -> &'static [[u8; 32]; 8] {
    static ENC: OnceLock<[[u8; 32]; 8]> = OnceLock::new();
    ENC.get_or_init(|| EIGHT_TORSION.map(|p| p.compress().to_bytes()))
}

/// Checks one signature.
pub fn verify_one(c: &SigCheck) -> bool {
    // Fast path: ed25519-dalek's cofactorless check. Passing it means R is the canonical
    // encoding of [S]B − [k]A, so the cofactored equation holds too; left to check is that R is
    // not of small order, which for a canonical encoding is a comparison with eight constants.
    // This skips decompressing R (~10 % of a check). Anything it refuses gets the full check.
    use ed25519_dalek::Verifier as _;
    let sig = ed25519_dalek::Signature::from_bytes(&c.sig);
    if c.key.verify(&c.msg, &sig).is_ok() {
        let r: &[u8; 32] = c.sig[..32].try_into().expect("32 of 64 bytes");
        return !small_order_encodings().contains(r);
    }
    let Some(p) = parse(c) else { return false };
    let minus_a = -c.key.to_edwards();
    // [S]B − [k]A − R, then the cofactor.
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &minus_a, &p.s);
    (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
}

/// Checks every signature with one multiscalar multiplication: true only if all verify (up to
/// a 2^-128 chance over the random coefficients). Empty is true.
pub fn verify_batch(checks: &[SigCheck]) -> bool {
    match checks {
        [] => return true,
        [one] => return verify_one(one),
        _ => {}
    }
    let mut parsed = Vec::with_capacity(checks.len());
    for c in checks {
        match parse(c) {
            Some(p) => parsed.push(p),
            None => return false,
        }
    }
    // Σ z·([S]B − R − [k]A) = 0 with random 128-bit z: an unpredictable combination, so no
    // set of wrong signatures can cancel out.
    let mut z_bytes = vec![0u8; 16 * checks.len()];
    getrandom::fill(&mut z_bytes).expect("the OS random source is available");
    let zs: Vec<Scalar> = z_bytes
        .chunks_exact(16)
        .map(|b| {
            let mut wide = [0u8; 32];
            wide[..16].copy_from_slice(b);
            Scalar::from_bytes_mod_order(wide)
        })
        .collect();
    let b_coefficient: Scalar = parsed.iter().zip(&zs).map(|(p, z)| z * p.s).sum();
    let scalars = std::iter::once(b_coefficient)
        .chain(zs.iter().map(|z| -z))
        .chain(parsed.iter().zip(&zs).map(|(p, z)| -(z * p.k)));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(parsed.iter().map(|p| p.r))
        .chain(checks.iter().map(|c| c.key.to_edwards()));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// The outcome of each check, in order: one batch, and where it fails, each on its own.
pub fn verify_each(checks: &[SigCheck]) -> Vec<bool> {
    if verify_batch(checks) {
        return vec![true; checks.len()];
    }
    if checks.len() == 1 {
        return vec![false];
    }
    checks.iter().map(verify_one).collect()
}

struct Job {
    check: SigCheck,
    done: tokio::sync::oneshot::Sender<bool>,
}

/// The process's verifier: a queue and the thread that drains it.
struct Batcher {
    queue: Mutex<Vec<Job>>,
    ready: Condvar,
}

/// Checks in flight through [`verify_batched`] (inline ones included).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

fn batcher() -> &'static Batcher {
    static BATCHER: OnceLock<&'static Batcher> = OnceLock::new();
    BATCHER.get_or_init(|| {
        let b: &'static Batcher = Box::leak(Box::new(Batcher {
            queue: Mutex::new(Vec::new()),
            ready: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("agentmesh-verify".into())
            .spawn(move || b.run())
            .expect("the verifier thread starts");
        b
    })
}

impl Batcher {
    fn run(&self) {
        loop {
            let jobs: Vec<Job> = {
                let mut q = self.queue.lock().expect("verifier queue lock");
                while q.is_empty() {
                    q = self.ready.wait(q).expect("verifier queue lock");
                }
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            let (checks, senders): (Vec<SigCheck>, Vec<_>) =
                jobs.into_iter().map(|j| (j.check, j.done)).unzip();
            for (ok, done) in verify_each(&checks).into_iter().zip(senders) {
                // The asker may have gone (its request was dropped): nothing to tell.
                let _ = done.send(ok);
            }
        }
    }
}

/// Decrements [`IN_FLIGHT`] however the check ends (a dropped future included).
struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Checks one signature, batched with others in flight in this process.
pub async fn verify_batched(check: SigCheck) -> bool {
    let alone = IN_FLIGHT.fetch_add(1, Ordering::Relaxed) == 0;
    let _in_flight = InFlight;
    if alone {
        return verify_one(&check);
    }
    let (done, answer) = tokio::sync::oneshot::channel();
    let b = batcher();
    b.queue
        .lock()
        .expect("verifier queue lock")
        .push(Job { check, done });
    b.ready.notify_one();
    // The thread never drops a job unanswered; if it somehow did, refusing is the safe side.
    answer.await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn check(id: &Identity, msg: &[u8]) -> SigCheck {
        SigCheck {
            key: id.verifying_key(),
            msg: msg.to_vec(),
            sig: id.sign(msg).to_bytes(),
        }
    }

    #[test]
    fn single_and_batch_accept_good_signatures() {
        let ids: Vec<Identity> = (0..20).map(|_| Identity::generate()).collect();
        let checks: Vec<SigCheck> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| check(id, format!("message {i}").as_bytes()))
            .collect();
        assert!(checks.iter().all(verify_one));
        assert!(verify_batch(&checks));
        assert_eq!(verify_each(&checks), vec![true; 20]);
    }

    #[test]
    fn one_bad_signature_fails_the_batch_and_is_found() {
        let ids: Vec<Identity> = (0..9).map(|_| Identity::generate()).collect();
        let mut checks: Vec<SigCheck> = ids.iter().map(|id| check(id, b"same text")).collect();
        checks[4].msg = b"other text".to_vec();
        checks[7].sig[40] ^= 1;
        assert!(!verify_batch(&checks));
        let each = verify_each(&checks);
        assert_eq!(each.iter().filter(|ok| !**ok).count(), 2);
        assert!(!each[4] && !each[7]);
    }

    /// A signature whose R carries a torsion component: cofactorless checks refuse it, the
    /// cofactored rule accepts it — and the batch must say exactly what the single check says,
    /// which dalek's own batch (cofactorless, content-derived coefficients) does not.
    #[test]
    fn batch_and_single_agree_on_torsion_in_r() {
        let id = Identity::generate();
        let msg = b"torsion";
        // Sign by hand with R' = rB + T (T of order 8): S = r + k'·a where k' hashes R'.
        let secret = id.key.to_scalar();
        let r = Scalar::from_bytes_mod_order_wide(&[7u8; 64]);
        let r_point = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[1];
        let r_bytes = r_point.compress().to_bytes();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r_bytes)
                .chain_update(id.verifying_key().as_bytes())
                .chain_update(msg)
                .finalize()
                .into(),
        );
        let s = r + k * secret;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        let odd = SigCheck {
            key: id.verifying_key(),
            msg: msg.to_vec(),
            sig,
        };
        use ed25519_dalek::Verifier as _;
        assert!(
            id.verifying_key()
                .verify(msg, &ed25519_dalek::Signature::from_bytes(&sig))
                .is_err(),
            "the cofactorless check refuses it"
        );
        assert!(verify_one(&odd), "the cofactored rule accepts it");
        let others: Vec<SigCheck> = (0..5).map(|_| check(&Identity::generate(), b"x")).collect();
        for _ in 0..32 {
            let mut batch = others.clone();
            batch.push(odd.clone());
            assert!(verify_batch(&batch), "batch and single agree");
        }
    }

    #[test]
    fn malformed_parts_are_refused() {
        let id = Identity::generate();
        let good = check(&id, b"m");
        let mut big_s = good.clone();
        big_s.sig[63] = 0xff; // S ≥ ℓ
        assert!(!verify_one(&big_s));
        // R = the identity and S = k·a satisfy even the cofactorless equation (dalek's plain
        // `verify` takes it); a small-order R is refused all the same, as `verify_strict` does.
        let mut one = [0u8; 32];
        one[0] = 1; // y = 1: the identity
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(one)
                .chain_update(id.verifying_key().as_bytes())
                .chain_update(b"m")
                .finalize()
                .into(),
        );
        let mut identity_r = good.clone();
        identity_r.sig[..32].copy_from_slice(&one);
        identity_r.sig[32..].copy_from_slice((k * id.key.to_scalar()).as_bytes());
        {
            use ed25519_dalek::Verifier as _;
            let sig = ed25519_dalek::Signature::from_bytes(&identity_r.sig);
            assert!(id.verifying_key().verify(b"m", &sig).is_ok());
        }
        assert!(!verify_one(&identity_r), "small-order R");
        assert!(!verify_batch(&[good.clone(), identity_r]));
        let mut non_canonical = [0xffu8; 32];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(non_canonical_y(&non_canonical));
        let mut nc = good.clone();
        nc.sig[..32].copy_from_slice(&non_canonical);
        assert!(!verify_one(&nc));
        assert!(!verify_batch(&[good.clone(), nc]));
        assert!(verify_batch(&[good.clone(), good]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_checks_answer_each_caller() {
        let ids: Vec<Identity> = (0..200).map(|_| Identity::generate()).collect();
        let mut set = tokio::task::JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let mut c = check(id, format!("m{i}").as_bytes());
            let bad = i % 17 == 3;
            if bad {
                c.msg.push(b'!');
            }
            set.spawn(async move { (verify_batched(c).await, bad) });
        }
        let mut n = 0;
        while let Some(r) = set.join_next().await {
            let (ok, bad) = r.expect("task");
            assert_eq!(ok, !bad);
            n += 1;
        }
        assert_eq!(n, 200);
    }
}
