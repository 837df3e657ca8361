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

/// Which signature forms a request carries.
#[derive(Clone, Copy)]
enum Forms {
    /// `X-Agent-*` (docs/protocol.md §4).
    XAgent,
    /// RFC 9421 only (§4b).
    Rfc9421,
    /// Both, agreeing.
    Both,
}

/// `Verifier::verify` per call, best of five rounds of 5,000, for each signature form.
fn request_check() {
    for (forms, what) in [
        (Forms::XAgent, "X-Agent-*"),
        (Forms::Rfc9421, "RFC 9421"),
        (Forms::Both, "both forms"),
    ] {
        let us = request_check_of(forms);
        println!("| a whole signed request, {what} (`Verifier::verify`, 1 KiB body) | {us:.1} |");
    }
}

fn request_check_of(forms: Forms) -> f64 {
    use agentmesh::encoding::{b64url, now_unix, random_bytes};
    use agentmesh::handshake::{Verifier, sign_request_with_nonce};
    use agentmesh::httpsig::{self, Params, RequestTarget};
    let (caller, agent) = (Identity::generate(), Identity::generate());
    let body = format!("{{\"city\":\"Paris\",\"pad\":\"{}\"}}", "x".repeat(1000));
    let path = "/forecast?days=2";
    let target = RequestTarget::new("POST", "127.0.0.1:8080", path);
    let n = 5000;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let now = now_unix();
        let signed: Vec<Vec<(String, String)>> = (0..n)
            .map(|_| {
                let nonce = b64url(&random_bytes::<16>());
                let mut h: Vec<(String, String)> = vec![("host".into(), "127.0.0.1:8080".into())];
                if matches!(forms, Forms::XAgent | Forms::Both) {
                    let x = sign_request_with_nonce(
                        &caller,
                        agent.id(),
                        "POST",
                        path,
                        body.as_bytes(),
                        now,
                        &nonce,
                    );
                    h.extend(x.headers().map(|(k, v)| (k.to_string(), v)));
                }
                if matches!(forms, Forms::Rfc9421 | Forms::Both) {
                    let p = Params::agentmesh(&caller, now, &nonce);
                    let s = httpsig::sign_request(&caller, "am", &target, body.as_bytes(), &p)
                        .expect("sign");
                    h.push((
                        "content-digest".into(),
                        httpsig::content_digest(body.as_bytes()),
                    ));
                    h.push(("signature-input".into(), s.input_member()));
                    h.push(("signature".into(), s.signature_member()));
                }
                h
            })
            .collect();
        let verifier = Verifier::new(agent.id(), 60, 2 * n);
        let t = Instant::now();
        for h in &signed {
            let get = |name: &str| h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            verifier
                .verify(get, "POST", path, body.as_bytes(), now)
                .expect("a signed request verifies");
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    best
}
