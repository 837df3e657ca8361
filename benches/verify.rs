//! Signature verification costs on this machine: one Ed25519 check under the node's rule
//! (cofactored), ed25519-dalek's own cofactorless `verify` for comparison, and batches of
//! several sizes (what a busy node's verifier thread runs), per signature; then a whole signed
//! request checked as the gateway checks it (`Verifier::verify`: headers, target, window, body
//! hash, signature, nonce cache), the shape the SDKs' `verify_request` benches measure — a known
//! caller, a 1 KiB JSON body, a fresh nonce per call.
//!
//! Run: `cargo bench --bench verify`

use std::time::Instant;

use agentmesh::identity::Identity;
use agentmesh::identity::verify::{SigCheck, verify_batch, verify_one};

fn main() {
    let n = 4096;
    let checks: Vec<SigCheck> = (0..n)
        .map(|i| {
            let id = Identity::generate();
            let msg = format!("AGENTMESH-REQUEST-V1\nPOST\n/forecast\nmessage {i}").into_bytes();
            SigCheck {
                key: id.verifying_key(),
                sig: id.sign(&msg).to_bytes(),
                msg,
            }
        })
        .collect();
    let per_sig = |f: &dyn Fn() -> usize| {
        let t = Instant::now();
        let done = f();
        t.elapsed().as_secs_f64() * 1e6 / done as f64
    };
    println!("| check | µs per signature |");
    println!("|---|---|");
    let us = per_sig(&|| checks.iter().filter(|c| verify_one(c)).count());
    println!("| one at a time (cofactored, the node's rule) | {us:.1} |");
    let us = per_sig(&|| {
        use ed25519_dalek::Verifier as _;
        checks
            .iter()
            .filter(|c| {
                c.key
                    .verify(&c.msg, &ed25519_dalek::Signature::from_bytes(&c.sig))
                    .is_ok()
            })
            .count()
    });
    println!("| one at a time (ed25519-dalek `verify`, cofactorless) | {us:.1} |");
    for size in [2usize, 4, 8, 16, 32, 64] {
        let us = per_sig(&|| {
            checks
                .chunks_exact(size)
                .map(|c| {
                    assert!(verify_batch(c));
                    c.len()
                })
                .sum()
        });
        println!("| batch of {size} | {us:.1} |");
    }
    request_check();
}

/// `Verifier::verify` per call, best of five rounds of 5,000.
fn request_check() {
    use agentmesh::encoding::now_unix;
    use agentmesh::handshake::{Verifier, sign_request};
    let (caller, agent) = (Identity::generate(), Identity::generate());
    let body = format!("{{\"city\":\"Paris\",\"pad\":\"{}\"}}", "x".repeat(1000));
    let path = "/forecast?days=2";
    let n = 5000;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let now = now_unix();
        let signed: Vec<_> = (0..n)
            .map(|_| sign_request(&caller, agent.id(), "POST", path, body.as_bytes(), now))
            .collect();
        let verifier = Verifier::new(agent.id(), 60, 2 * n);
        let t = Instant::now();
        for s in &signed {
            verifier
                .verify(|h| s.get(h), "POST", path, body.as_bytes(), now)
                .expect("a signed request verifies");
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    println!("| a whole signed request (`Verifier::verify`, 1 KiB body) | {best:.1} |");
}
