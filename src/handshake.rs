//! The signed-request handshake of docs/protocol.md §4, for callers, the node's gateway, the relay
//! client and agents written in Rust.
//!
//! A caller signs `AGENTMESH-REQUEST-V1\n<METHOD>\n<path?query>\n<target>\n<caller>\n<ts>\n
//! <nonce>\n<sha256(body)>` and sends it in `X-Agent-*` headers ([`sign_request`]). A verifier
//! ([`Verifier::verify`]) checks, in order: every header present, the caller's ID, the target
//! is itself, the timestamp within ±window, the signature, and only then records the nonce —
//! so a forged request can neither fill the nonce cache nor burn a legitimate nonce.
//!
//! The replay cache remembers each `(caller, nonce)` for the window. It is bounded: when full,
//! the oldest entries are evicted and the cache remembers the newest timestamp it evicted; from
//! then on requests at or before that timestamp are refused as `stale_timestamp`. The effective
//! window shrinks under a flood, but an evicted nonce can never be replayed.
//!
//! Responses are signed the same way over `AGENTMESH-RESPONSE-V1\n<status>\n<request nonce>\n
//! <responder>\n<ts>\n<sha256(body)>` ([`sign_response`], [`verify_response`]).
//!
//! ```
//! use agentmesh::handshake::{Verifier, sign_request};
//! use agentmesh::identity::Identity;
//! let (caller, agent) = (Identity::generate(), Identity::generate());
//! let signed = sign_request(&caller, agent.id(), "POST", "/forecast?days=2", b"{}", 1_795_000_000);
//! let verifier = Verifier::new(agent.id(), 60, 100_000);
//! let who = verifier
//!     .verify(|h| signed.get(h), "POST", "/forecast?days=2", b"{}", 1_795_000_010)
//!     .expect("verifies");
//! assert_eq!(who, caller.id());
//! ```

use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, HashSet};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::encoding::{b64url, random_bytes, sha256_hex};
use crate::identity::{
    Identity, SigCheck, public_from_did, signature_bytes, verify_batched, verify_one,
};

/// Caller's did:key.
pub const H_AGENT_ID: &str = "x-agent-id";
/// Callee's did:key (a node's ID for its admin API).
pub const H_TARGET: &str = "x-agent-target";
/// Unix seconds.
pub const H_TIMESTAMP: &str = "x-agent-timestamp";
/// ≥ 16 random bytes, base64url.
pub const H_NONCE: &str = "x-agent-nonce";
/// base64url Ed25519 signature.
pub const H_SIGNATURE: &str = "x-agent-signature";
/// Default accepted clock skew, seconds.
pub const DEFAULT_WINDOW_S: i64 = 60;
/// Default number of nonces remembered.
pub const DEFAULT_NONCE_CAPACITY: usize = 1_000_000;

/// The request signing string of docs/protocol.md §4.
#[allow(clippy::too_many_arguments)]
pub fn request_signing_string(
    method: &str,
    path_and_query: &str,
    target: &str,
    caller: &str,
    timestamp: i64,
    nonce: &str,
    body_sha256_hex: &str,
) -> String {
    // An empty query is no query: `/x?` is signed as `/x`, since many servers (ASGI, for one)
    // cannot tell the two apart.
    let path_and_query = path_and_query.strip_suffix('?').unwrap_or(path_and_query);
    format!(
        "AGENTMESH-REQUEST-V1\n{}\n{path_and_query}\n{target}\n{caller}\n{timestamp}\n{nonce}\n{body_sha256_hex}",
        method.to_ascii_uppercase()
    )
}

/// The response signing string of docs/protocol.md §4.
pub fn response_signing_string(
    status: u16,
    request_nonce: &str,
    responder: &str,
    timestamp: i64,
    body_sha256_hex: &str,
) -> String {
    format!(
        "AGENTMESH-RESPONSE-V1\n{status}\n{request_nonce}\n{responder}\n{timestamp}\n{body_sha256_hex}"
    )
}

/// The five `X-Agent-*` headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Caller's did:key.
    pub agent_id: String,
    /// Callee's did:key.
    pub target: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// base64url nonce.
    pub nonce: String,
    /// base64url signature.
    pub signature: String,
}

impl SignedRequest {
    /// The headers as `(name, value)` pairs.
    pub fn headers(&self) -> [(&'static str, String); 5] {
        [
            (H_AGENT_ID, self.agent_id.clone()),
            (H_TARGET, self.target.clone()),
            (H_TIMESTAMP, self.timestamp.to_string()),
            (H_NONCE, self.nonce.clone()),
            (H_SIGNATURE, self.signature.clone()),
        ]
    }

    /// One header's value by (lowercase) name.
    pub fn get(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// Signs a request with a fresh 16-byte nonce.
pub fn sign_request(
    id: &Identity,
    target: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: i64,
) -> SignedRequest {
    let nonce = b64url(&random_bytes::<16>());
    sign_request_with_nonce(id, target, method, path_and_query, body, now, &nonce)
}

/// Signs a request with a given nonce (test vectors; callers use [`sign_request`]).
pub fn sign_request_with_nonce(
    id: &Identity,
    target: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: i64,
    nonce: &str,
) -> SignedRequest {
    let s = request_signing_string(
        method,
        path_and_query,
        target,
        id.id(),
        now,
        nonce,
        &sha256_hex(body),
    );
    SignedRequest {
        agent_id: id.id().to_string(),
        target: target.to_string(),
        timestamp: now,
        nonce: nonce.to_string(),
        signature: id.sign_b64(s.as_bytes()),
    }
}

/// Why a signed request was refused. Each maps to one error code (all HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// A required header is absent or not text.
    #[error("missing or unreadable header {0}")]
    MissingHeader(&'static str),
    /// The caller ID is not an Ed25519 did:key, or the signature does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// Signed for someone else.
    #[error("request is addressed to {got}, not {expected}")]
    WrongTarget {
        /// This verifier's ID.
        expected: String,
        /// The request's target.
        got: String,
    },
    /// Outside the accepted window (or at/before the replay cache's floor).
    #[error("timestamp {ts} is outside the accepted window ({detail})")]
    StaleTimestamp {
        /// The request's timestamp.
        ts: i64,
        /// Why.
        detail: String,
    },
    /// This caller already used this nonce within the window.
    #[error("nonce already used by this caller")]
    ReplayedNonce,
}

impl HandshakeError {
    /// The docs/protocol.md §6 error code.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The docs/protocol.md §6 error code, typed.
    pub fn error_code(&self) -> crate::wire::ErrorCode {
        use crate::wire::ErrorCode;
        match self {
            Self::MissingHeader(_) => ErrorCode::MissingHeader,
            Self::BadSignature(_) => ErrorCode::BadSignature,
            Self::WrongTarget { .. } => ErrorCode::WrongTarget,
            Self::StaleTimestamp { .. } => ErrorCode::StaleTimestamp,
            Self::ReplayedNonce => ErrorCode::ReplayedNonce,
        }
    }
}

/// Remembers `(caller, nonce)` pairs for the window, bounded in memory (see the module docs).
#[derive(Debug)]
struct NonceCache {
    capacity: usize,
    seen: HashSet<u128>,
    by_time: BTreeSet<(i64, u128)>,
    floor: i64,
}

impl NonceCache {
    fn key(caller: &str, nonce: &str) -> u128 {
        let mut h = Sha256::new();
        h.update(caller.as_bytes());
        h.update([0]);
        h.update(nonce.as_bytes());
        let d = h.finalize();
        u128::from_le_bytes(d[..16].try_into().expect("sha256 has 32 bytes"))
    }

    /// Records the pair; `Err` if it was seen or is at/before the floor.
    fn insert(&mut self, key: u128, ts: i64, now: i64, window: i64) -> Result<(), HandshakeError> {
        // Forget what the window no longer accepts anyway.
        while let Some(&(t, k)) = self.by_time.first() {
            if t >= now - window {
                break;
            }
            self.by_time.pop_first();
            self.seen.remove(&k);
        }
        if ts <= self.floor {
            return Err(HandshakeError::StaleTimestamp {
                ts,
                detail: "at or before what this node can still check for replays (its replay \
                         cache is full, or it restarted after a crash); retry with a fresh timestamp"
                    .into(),
            });
        }
        if !self.seen.insert(key) {
            return Err(HandshakeError::ReplayedNonce);
        }
        self.by_time.insert((ts, key));
        self.evict_over_capacity();
        Ok(())
    }

    /// Forgets the oldest pairs past the capacity, raising the floor to the newest forgotten.
    fn evict_over_capacity(&mut self) {
        while self.seen.len() > self.capacity {
            let Some((t, k)) = self.by_time.pop_first() else {
                break;
            };
            self.seen.remove(&k);
            self.floor = self.floor.max(t);
        }
    }
}

/// First bytes of a saved replay cache.
const NONCE_FILE_MAGIC: &[u8; 8] = b"AMNONCE1";

/// Verifies signed requests addressed to one ID.
#[derive(Debug)]
pub struct Verifier {
    me: String,
    window_s: i64,
    nonces: Mutex<NonceCache>,
    /// Decoded keys of recent callers: decoding a did:key costs a point decompression (a
    /// field square root), about a fifth of a verification, and callers repeat.
    keys: Mutex<HashMap<String, VerifyingKey>>,
    /// The `@authority` RFC 9421 signatures must cover (else the request's `Host`).
    authority: Option<String>,
}

const KEY_CACHE: usize = 65_536;

impl Verifier {
    /// A verifier for requests to `me`, accepting ±`window_s` of clock skew and remembering up
    /// to `nonce_capacity` nonces.
    pub fn new(me: &str, window_s: i64, nonce_capacity: usize) -> Self {
        Self {
            me: me.to_string(),
            window_s,
            nonces: Mutex::new(NonceCache {
                capacity: nonce_capacity.max(1),
                seen: HashSet::new(),
                by_time: BTreeSet::new(),
                floor: i64::MIN,
            }),
            keys: Mutex::new(HashMap::new()),
            authority: None,
        }
    }

    /// Requires RFC 9421 signatures to cover `authority` (this agent's own host and port, as
    /// its card's endpoint names it) instead of trusting the request's `Host`: without it, a
    /// request signed for another agent at the same path could be replayed here with its
    /// `Host` left as it was (docs/protocol.md §4b). The `X-Agent-*` form names its target.
    pub fn with_authority(mut self, authority: &str) -> Self {
        self.authority = Some(authority.to_ascii_lowercase());
        self
    }

    /// Refuses every request signed at or before `ts` (as `stale_timestamp`): after a start
    /// without the saved replay cache, nothing signed before the start can be replayed.
    pub fn refuse_until(&self, ts: i64) {
        let mut n = self.nonces.lock();
        n.floor = n.floor.max(ts);
    }

    /// Writes the replay cache (the nonces still inside the window, and the floor) to `path`,
    /// so a restarted node refuses the replays this one would have; written to a temporary
    /// file, synced and renamed.
    pub fn save_nonces(&self, path: &std::path::Path, now: i64) -> std::io::Result<usize> {
        use std::io::Write as _;
        let mut out = Vec::new();
        let mut count = 0;
        {
            let n = self.nonces.lock();
            out.extend_from_slice(NONCE_FILE_MAGIC);
            out.extend_from_slice(&n.floor.to_le_bytes());
            for (t, k) in n.by_time.iter().filter(|(t, _)| *t >= now - self.window_s) {
                out.extend_from_slice(&t.to_le_bytes());
                out.extend_from_slice(&k.to_le_bytes());
                count += 1;
            }
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(count)
    }

    /// Loads a replay cache saved by [`Verifier::save_nonces`] and deletes the file (it is
    /// valid once: a crash after this start must not find it again). `Ok(None)` when there
    /// is none; a damaged file is an error (the caller then refuses older requests instead).
    pub fn restore_nonces(
        &self,
        path: &std::path::Path,
        now: i64,
    ) -> std::io::Result<Option<usize>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        std::fs::remove_file(path)?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "damaged nonce file");
        let rest = bytes.strip_prefix(NONCE_FILE_MAGIC).ok_or_else(bad)?;
        let (floor, entries) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        if entries.len() % 24 != 0 {
            return Err(bad());
        }
        let mut n = self.nonces.lock();
        n.floor = n.floor.max(i64::from_le_bytes(*floor));
        let mut count = 0;
        for e in entries.chunks_exact(24) {
            let (t, k) = e.split_at(8);
            let t = i64::from_le_bytes(t.try_into().map_err(|_| bad())?);
            let k = u128::from_le_bytes(k.try_into().map_err(|_| bad())?);
            if t >= now - self.window_s && n.seen.insert(k) {
                n.by_time.insert((t, k));
                count += 1;
            }
        }
        n.evict_over_capacity();
        Ok(Some(count))
    }

    fn key_of(&self, caller: &str) -> Result<VerifyingKey, HandshakeError> {
        if let Some(k) = self.keys.lock().get(caller) {
            return Ok(*k);
        }
        let key = public_from_did(caller)
            .map_err(|e| HandshakeError::BadSignature(format!("X-Agent-ID: {e}")))?;
        let mut keys = self.keys.lock();
        if keys.len() >= KEY_CACHE {
            keys.clear();
        }
        keys.insert(caller.to_string(), key);
        Ok(key)
    }

    /// Verifies a request; `header` looks a header up by lowercase name (all values joined
    /// with `, `). Returns the caller. The request may carry the `X-Agent-*` form, the RFC 9421
    /// form (§4b; `@authority` from `Host`), or both, which must then agree.
    pub fn verify(
        &self,
        header: impl Fn(&str) -> Option<String>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: i64,
    ) -> Result<String, HandshakeError> {
        self.verify_for(&self.me, header, method, path_and_query, body, now)
    }

    /// As [`Verifier::verify`], for requests addressed to `target` (a gateway verifies on
    /// behalf of many agents with one nonce cache).
    pub fn verify_for(
        &self,
        target: &str,
        header: impl Fn(&str) -> Option<String>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: i64,
    ) -> Result<String, HandshakeError> {
        let req = Request {
            method,
            path_and_query,
            wire: None,
            body,
        };
        let (checks, pending) = self.check(target, &header, &req, now)?;
        let ok = checks.iter().all(verify_one);
        self.record(pending, ok, now)
    }

    /// As [`Verifier::verify_for`], with the signatures checked in a batch with others in
    /// flight in this process ([`verify_batched`]): what a busy gateway or `connect` uses.
    /// `req.wire` says what the RFC 9421 form covers when it differs from the `X-Agent-*` path
    /// (at a gateway, the gateway's own URL).
    pub async fn verify_request_batched(
        &self,
        target: &str,
        header: impl Fn(&str) -> Option<String>,
        req: &Request<'_>,
        now: i64,
    ) -> Result<Verified, HandshakeError> {
        let (checks, pending) = self.check(target, &header, req, now)?;
        let mut ok = true;
        for check in checks {
            ok &= verify_batched(check).await;
        }
        let nonce = pending.nonce.clone();
        let caller = self.record(pending, ok, now)?;
        Ok(Verified { caller, nonce })
    }

    /// As [`Verifier::verify_request_batched`] for a request whose two forms cover the same
    /// URL.
    pub async fn verify_batched(
        &self,
        target: &str,
        header: impl Fn(&str) -> Option<String>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: i64,
    ) -> Result<String, HandshakeError> {
        let req = Request {
            method,
            path_and_query,
            wire: None,
            body,
        };
        self.verify_request_batched(target, header, &req, now)
            .await
            .map(|v| v.caller)
    }

    /// Every check but the signatures', cheapest first; returns the signature checks to run.
    fn check(
        &self,
        target: &str,
        header: &dyn Fn(&str) -> Option<String>,
        req: &Request<'_>,
        now: i64,
    ) -> Result<(Vec<SigCheck>, PendingRequest), HandshakeError> {
        let has_x = header(H_SIGNATURE).is_some() || header(H_AGENT_ID).is_some();
        // Signatures not meant for AgentMesh (Web Bot Auth's, a site's own) are not its concern
        // when the X-Agent-* form is there.
        let has_rfc = header(crate::httpsig::H_SIGNATURE_INPUT).is_some()
            && (!has_x || crate::httpsig::has_agentmesh_signature(header));
        let x = if has_x || !has_rfc {
            Some(self.check_x(target, header, req, now)?)
        } else {
            None
        };
        let rfc = if has_rfc {
            Some(self.check_rfc9421(header, req, now)?)
        } else {
            None
        };
        match (x, rfc) {
            (Some((a, p)), Some((b, q))) => {
                if p.caller != q.caller || p.nonce != q.nonce || p.ts != q.ts {
                    return Err(HandshakeError::BadSignature(
                        "the X-Agent-* and RFC 9421 signatures disagree on the caller, nonce or time (keyid, nonce and created must equal X-Agent-ID, X-Agent-Nonce and X-Agent-Timestamp)".into(),
                    ));
                }
                Ok((vec![a, b], p))
            }
            (Some((a, p)), None) | (None, Some((a, p))) => Ok((vec![a], p)),
            (None, None) => Err(HandshakeError::MissingHeader(H_AGENT_ID)),
        }
    }

    /// The RFC 9421 form (docs/protocol.md §4b).
    fn check_rfc9421(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        req: &Request<'_>,
        now: i64,
    ) -> Result<(SigCheck, PendingRequest), HandshakeError> {
        use crate::httpsig::{self, HttpSigError, Pick, REQUEST_COMPONENTS, RequestTarget};
        let bad = |m: String| HandshakeError::BadSignature(m);
        let (authority, path_and_query, also) = match (req.wire, &self.authority) {
            (Some(w), _) => (w.authority.to_string(), w.path_and_query, w.also_authority),
            (None, Some(pinned)) => (pinned.clone(), req.path_and_query, None),
            (None, None) => (
                header("host").ok_or(HandshakeError::MissingHeader("host"))?,
                req.path_and_query,
                None,
            ),
        };
        let also = also.filter(|a| !a.eq_ignore_ascii_case(&authority));
        let target = match also {
            // Two candidates: the one the signature holds for (an extra check, only on a node
            // whose public name differs from the one asked).
            Some(alt) => {
                let first = RequestTarget::new(req.method, &authority, path_and_query);
                let holds = httpsig::parse(header, &|c| first.value(c), Pick::AgentMesh)
                    .ok()
                    .and_then(|p| p.check().ok())
                    .is_some_and(|c| verify_one(&c));
                if holds {
                    first
                } else {
                    RequestTarget::new(req.method, alt, path_and_query)
                }
            }
            None => RequestTarget::new(req.method, &authority, path_and_query),
        };
        let digest = header(httpsig::H_CONTENT_DIGEST)
            .ok_or(HandshakeError::MissingHeader(httpsig::H_CONTENT_DIGEST))?;
        let parsed =
            httpsig::parse(header, &|c| target.value(c), Pick::AgentMesh).map_err(|e| match e {
                HttpSigError::Missing(h) => HandshakeError::MissingHeader(h),
                other => bad(format!("RFC 9421: {other}")),
            })?;
        if !parsed.covers(&REQUEST_COMPONENTS) {
            return Err(bad(format!(
                "RFC 9421: the signature must cover {}",
                REQUEST_COMPONENTS.map(|c| format!("\"{c}\"")).join(" ")
            )));
        }
        if !httpsig::content_digest_matches(&digest, req.body)
            .map_err(|e| bad(format!("RFC 9421: {e}")))?
        {
            return Err(bad("Content-Digest does not match the body".into()));
        }
        // `alg` is optional; when present, parsing checked it is ed25519.
        let p = &parsed.params;
        parsed
            .check_time(now, self.window_s)
            .map_err(|e| HandshakeError::StaleTimestamp {
                ts: p.created,
                detail: e.to_string(),
            })?;
        let nonce = p
            .nonce
            .clone()
            .filter(|n| (16..=256).contains(&n.len()))
            .ok_or_else(|| {
                bad("RFC 9421: the signature needs a nonce of 16–256 characters".into())
            })?;
        let key = self.key_of(&p.keyid)?;
        let check = parsed
            .check_with(key)
            .map_err(|e| bad(format!("RFC 9421: {e}")))?;
        Ok((
            check,
            PendingRequest {
                caller: p.keyid.clone(),
                ts: p.created,
                nonce,
            },
        ))
    }

    /// The `X-Agent-*` form (docs/protocol.md §4).
    fn check_x(
        &self,
        target: &str,
        header: &dyn Fn(&str) -> Option<String>,
        req: &Request<'_>,
        now: i64,
    ) -> Result<(SigCheck, PendingRequest), HandshakeError> {
        let (method, path_and_query, body) = (req.method, req.path_and_query, req.body);
        let get = |name: &'static str| header(name).ok_or(HandshakeError::MissingHeader(name));
        let (caller, got_target, ts, nonce, sig) = (
            get(H_AGENT_ID)?,
            get(H_TARGET)?,
            get(H_TIMESTAMP)?,
            get(H_NONCE)?,
            get(H_SIGNATURE)?,
        );
        let key = self.key_of(&caller)?;
        if got_target != target {
            return Err(HandshakeError::WrongTarget {
                expected: target.to_string(),
                got: got_target,
            });
        }
        let ts = parse_timestamp(&ts)?;
        // Saturating: a crafted timestamp near i64::MIN or MAX must not overflow.
        if ts.saturating_sub(now).unsigned_abs() > self.window_s.unsigned_abs() {
            return Err(HandshakeError::StaleTimestamp {
                ts,
                detail: format!(
                    "{} s from this node's clock; at most ±{} s",
                    ts.saturating_sub(now),
                    self.window_s
                ),
            });
        }
        match crate::encoding::b64url_decode(&nonce) {
            Ok(b) if b.len() >= 16 => {}
            _ => return Err(HandshakeError::MissingHeader(H_NONCE)),
        }
        let sig = signature_bytes(&sig).map_err(|_| {
            HandshakeError::BadSignature("X-Agent-Signature is not 64 bytes of base64url".into())
        })?;
        let msg = request_signing_string(
            method,
            path_and_query,
            &got_target,
            &caller,
            ts,
            &nonce,
            &sha256_hex(body),
        )
        .into_bytes();
        Ok((
            SigCheck { key, msg, sig },
            PendingRequest { caller, ts, nonce },
        ))
    }

    /// Given the signature's verdict, records the nonce (only for a good signature, so a forged
    /// request can neither fill the cache nor burn a legitimate nonce).
    fn record(
        &self,
        pending: PendingRequest,
        signature_ok: bool,
        now: i64,
    ) -> Result<String, HandshakeError> {
        if !signature_ok {
            return Err(HandshakeError::BadSignature(
                "does not match the request (method, path, body, headers)".into(),
            ));
        }
        self.nonces.lock().insert(
            NonceCache::key(&pending.caller, &pending.nonce),
            pending.ts,
            now,
            self.window_s,
        )?;
        Ok(pending.caller)
    }
}

/// A verified request's caller and nonce (the nonce its answer is signed for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The caller's did:key.
    pub caller: String,
    /// The request's nonce.
    pub nonce: String,
}

/// A request as a verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method.
    pub method: &'a str,
    /// The path and query the `X-Agent-*` form signs: the one the agent sees.
    pub path_and_query: &'a str,
    /// What the RFC 9421 form covers, when not `Host` and `path_and_query`.
    pub wire: Option<Wire<'a>>,
    /// The body.
    pub body: &'a [u8],
}

/// The `@authority` and path of the hop a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct Wire<'a> {
    /// `@authority`.
    pub authority: &'a str,
    /// `@path` and `@query`.
    pub path_and_query: &'a str,
    /// Another `@authority` callers may have signed (a node's public URL's, behind a proxy
    /// that rewrites `Host`); tried when `authority` does not verify.
    pub also_authority: Option<&'a str>,
}

/// A request whose headers passed, waiting for its signature's verdict.
struct PendingRequest {
    caller: String,
    ts: i64,
    nonce: String,
}

/// The three `X-Agent-*` headers of a signed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedResponse {
    /// Responder's did:key.
    pub agent_id: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// base64url signature.
    pub signature: String,
}

/// Signs a response to the request that carried `request_nonce`.
pub fn sign_response(
    id: &Identity,
    status: u16,
    request_nonce: &str,
    body: &[u8],
    now: i64,
) -> SignedResponse {
    let s = response_signing_string(status, request_nonce, id.id(), now, &sha256_hex(body));
    SignedResponse {
        agent_id: id.id().to_string(),
        timestamp: now,
        signature: id.sign_b64(s.as_bytes()),
    }
}

/// Checks that a response was signed by `expected` for the request with `request_nonce`, in
/// the `X-Agent-*` form, the RFC 9421 form, or both (then both must hold). `header` looks a
/// response header up by lowercase name.
pub fn verify_response(
    expected: &str,
    status: u16,
    request_nonce: &str,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), HandshakeError> {
    let checks = response_checks(expected, status, request_nonce, &header, body)?;
    response_verdict(checks.iter().all(verify_one))
}

/// As [`verify_response`], with the signatures checked in a batch with others in flight in
/// this process ([`verify_batched`]).
pub async fn verify_response_batched(
    expected: &str,
    status: u16,
    request_nonce: &str,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), HandshakeError> {
    let checks = response_checks(expected, status, request_nonce, &header, body)?;
    let mut ok = true;
    for check in checks {
        ok &= verify_batched(check).await;
    }
    response_verdict(ok)
}

/// Whether a response carries a signature in either form.
pub fn response_is_signed(header: impl Fn(&str) -> Option<String>) -> bool {
    header(H_SIGNATURE).is_some() || header(crate::httpsig::H_SIGNATURE_INPUT).is_some()
}

fn response_checks(
    expected: &str,
    status: u16,
    request_nonce: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<Vec<SigCheck>, HandshakeError> {
    let mut checks = Vec::with_capacity(2);
    let has_rfc = header(crate::httpsig::H_SIGNATURE_INPUT).is_some();
    if header(H_SIGNATURE).is_some() || !has_rfc {
        checks.push(response_check(
            expected,
            status,
            request_nonce,
            header,
            body,
        )?);
    }
    if has_rfc {
        checks.push(response_check_rfc9421(
            expected,
            status,
            request_nonce,
            header,
            body,
        )?);
    }
    Ok(checks)
}

fn response_check_rfc9421(
    expected: &str,
    status: u16,
    request_nonce: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<SigCheck, HandshakeError> {
    use crate::httpsig::{self, Pick, RESPONSE_COMPONENTS};
    let derived = |c: &str| (c == "@status").then(|| status.to_string());
    let parsed = httpsig::parse(header, &derived, Pick::Label(httpsig::LABEL))
        .map_err(|e| HandshakeError::BadSignature(format!("RFC 9421 answer: {e}")))?;
    if parsed.params.keyid != expected {
        return Err(HandshakeError::WrongTarget {
            expected: expected.to_string(),
            got: parsed.params.keyid,
        });
    }
    let digest = header(httpsig::H_CONTENT_DIGEST)
        .ok_or(HandshakeError::MissingHeader(httpsig::H_CONTENT_DIGEST))?;
    let digest_ok = httpsig::content_digest_matches(&digest, body)
        .map_err(|e| HandshakeError::BadSignature(format!("RFC 9421 answer: {e}")))?;
    if !parsed.covers(&RESPONSE_COMPONENTS)
        || parsed.params.nonce.as_deref() != Some(request_nonce)
        || !digest_ok
    {
        return Err(response_mismatch());
    }
    parsed
        .check()
        .map_err(|e| HandshakeError::BadSignature(format!("RFC 9421 answer: {e}")))
}

fn response_check(
    expected: &str,
    status: u16,
    request_nonce: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<SigCheck, HandshakeError> {
    let get = |name: &'static str| header(name).ok_or(HandshakeError::MissingHeader(name));
    let responder = get(H_AGENT_ID)?;
    if responder != expected {
        return Err(HandshakeError::WrongTarget {
            expected: expected.to_string(),
            got: responder,
        });
    }
    let ts = parse_timestamp(&get(H_TIMESTAMP)?)?;
    let sig = get(H_SIGNATURE)?;
    let key = public_from_did(&responder)
        .map_err(|e| HandshakeError::BadSignature(format!("X-Agent-ID: {e}")))?;
    let sig = signature_bytes(&sig).map_err(|_| response_mismatch())?;
    let msg = response_signing_string(status, request_nonce, &responder, ts, &sha256_hex(body))
        .into_bytes();
    Ok(SigCheck { key, msg, sig })
}

fn response_verdict(ok: bool) -> Result<(), HandshakeError> {
    if ok { Ok(()) } else { Err(response_mismatch()) }
}

fn response_mismatch() -> HandshakeError {
    HandshakeError::BadSignature("response signature does not match".into())
}

/// `X-Agent-Timestamp` as signed: unix seconds in canonical decimal (no sign, no leading zero),
/// so the header an agent reads is exactly the text that was signed.
fn parse_timestamp(text: &str) -> Result<i64, HandshakeError> {
    text.parse::<i64>()
        .ok()
        .filter(|ts| *ts >= 0 && ts.to_string() == text)
        .ok_or_else(|| HandshakeError::StaleTimestamp {
            ts: 0,
            detail: format!("`{text}` is not unix seconds in canonical decimal"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replay after a restart is refused: with the cache saved at shutdown, by the nonce;
    /// after a crash (no file), by the floor at the start time.
    #[test]
    fn replays_are_refused_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nonces.bin");
        let (caller, me) = (Identity::generate(), Identity::generate());
        let now = 1_795_000_000;
        let signed = sign_request(&caller, me.id(), "POST", "/x", b"{}", now);
        let first = Verifier::new(me.id(), 60, 1000);
        first
            .verify(|h| signed.get(h), "POST", "/x", b"{}", now)
            .expect("first call");
        assert_eq!(first.save_nonces(&path, now + 1).expect("save"), 1);
        // Clean restart: the saved nonce is refused, a fresh one accepted.
        let second = Verifier::new(me.id(), 60, 1000);
        assert_eq!(
            second.restore_nonces(&path, now + 2).expect("load"),
            Some(1)
        );
        assert!(!path.exists(), "a saved cache is used once");
        assert_eq!(
            second
                .verify(|h| signed.get(h), "POST", "/x", b"{}", now + 2)
                .map_err(|e| e.code()),
            Err("replayed_nonce")
        );
        let fresh = sign_request(&caller, me.id(), "POST", "/x", b"{}", now + 2);
        assert!(
            second
                .verify(|h| fresh.get(h), "POST", "/x", b"{}", now + 2)
                .is_ok()
        );
        // Crash restart: no file, so everything signed up to the start is refused.
        let third = Verifier::new(me.id(), 60, 1000);
        assert_eq!(third.restore_nonces(&path, now + 3).expect("none"), None);
        third.refuse_until(now + 3);
        assert_eq!(
            third
                .verify(|h| fresh.get(h), "POST", "/x", b"{}", now + 3)
                .map_err(|e| e.code()),
            Err("stale_timestamp")
        );
        let later = sign_request(&caller, me.id(), "POST", "/x", b"{}", now + 4);
        assert!(
            third
                .verify(|h| later.get(h), "POST", "/x", b"{}", now + 4)
                .is_ok()
        );
        // A damaged file is an error, never a panic.
        std::fs::write(&path, b"AMNONCE1\x01").expect("write");
        assert!(third.restore_nonces(&path, now).is_err());
    }

    fn key(hex_secret: &str) -> Identity {
        Identity::from_secret(
            &hex::decode(hex_secret)
                .expect("hex")
                .try_into()
                .expect("32"),
        )
    }

    #[test]
    fn protocol_request_vector() {
        let a = key("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let b = key("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
        let body = br#"{"city":"Paris"}"#;
        let signed = sign_request_with_nonce(
            &a,
            b.id(),
            "post",
            "/forecast?days=2",
            body,
            1_795_000_000,
            "bm9uY2Utbm9uY2Utbm9uY2U",
        );
        assert_eq!(
            signed.signature,
            "2mJDvHIeUqIldQVY2BGms0EUEX-ZrhHO6OgF9HjIXZqI-mpBQWkUxBqm-DUUlEsusS1XArhkvLM7aZdsgSWWDw"
        );
        // The vector's nonce is 17 bytes: valid, and it verifies at the callee.
        let v = Verifier::new(b.id(), 60, 10);
        let caller = v
            .verify(
                |h| signed.get(h),
                "POST",
                "/forecast?days=2",
                body,
                1_795_000_030,
            )
            .expect("verifies");
        assert_eq!(caller, a.id());
    }

    fn setup() -> (Identity, Identity, Verifier) {
        let (c, t) = (Identity::generate(), Identity::generate());
        let v = Verifier::new(t.id(), 60, 1000);
        (c, t, v)
    }

    #[test]
    fn each_rejection_has_its_code() {
        let (c, t, v) = setup();
        let now = 1_800_000_000;
        let ok = sign_request(&c, t.id(), "GET", "/x", b"", now);
        let verify = |s: &SignedRequest, path: &str, body: &[u8], at: i64| {
            v.verify(|h| s.get(h), "GET", path, body, at)
                .map_err(|e| e.code())
        };
        assert_eq!(verify(&ok, "/x", b"", now), Ok(c.id().to_string()));
        assert_eq!(verify(&ok, "/x", b"", now), Err("replayed_nonce"));
        let fresh = sign_request(&c, t.id(), "GET", "/x", b"", now);
        assert_eq!(
            verify(&fresh, "/y", b"", now),
            Err("bad_signature"),
            "path is signed"
        );
        assert_eq!(
            verify(&fresh, "/x", b"tampered", now),
            Err("bad_signature"),
            "body is signed"
        );
        assert_eq!(verify(&fresh, "/x", b"", now + 61), Err("stale_timestamp"));
        assert_eq!(verify(&fresh, "/x", b"", now - 61), Err("stale_timestamp"));
        let other = sign_request(&c, Identity::generate().id(), "GET", "/x", b"", now);
        assert_eq!(verify(&other, "/x", b"", now), Err("wrong_target"));
        let missing = |name: &str| {
            v.verify(
                |h| if h == name { None } else { fresh.get(h) },
                "GET",
                "/x",
                b"",
                now,
            )
            .map_err(|e| e.code())
        };
        for h in [H_AGENT_ID, H_TARGET, H_TIMESTAMP, H_NONCE, H_SIGNATURE] {
            assert_eq!(missing(h), Err("missing_header"), "{h}");
        }
        // An empty query is no query: signed as `/x?`, it verifies as `/x` and the other way.
        let q = sign_request(&c, t.id(), "GET", "/x?", b"", now);
        assert_eq!(verify(&q, "/x", b"", now), Ok(c.id().to_string()));
        let q = sign_request(&c, t.id(), "GET", "/x", b"", now);
        assert_eq!(verify(&q, "/x?", b"", now), Ok(c.id().to_string()));
        // The timestamp header must be the very text signed: no sign, no leading zero.
        for spelled in [
            format!("+{now}"),
            format!("0{now}"),
            format!("{now}.0"),
            " 1".into(),
        ] {
            let got = v
                .verify(
                    |h| {
                        if h == H_TIMESTAMP {
                            Some(spelled.clone())
                        } else {
                            fresh.get(h)
                        }
                    },
                    "GET",
                    "/x",
                    b"",
                    now,
                )
                .map_err(|e| e.code());
            assert_eq!(got, Err("stale_timestamp"), "{spelled}");
        }
        // A failed verification does not burn the nonce.
        assert_eq!(verify(&fresh, "/x", b"", now), Ok(c.id().to_string()));
        // Someone else may use the same nonce value: the cache is per caller.
        let c2 = Identity::generate();
        let same = sign_request_with_nonce(&c2, t.id(), "GET", "/x", b"", now, &fresh.nonce);
        assert_eq!(verify(&same, "/x", b"", now), Ok(c2.id().to_string()));
    }

    #[test]
    fn a_full_replay_cache_refuses_old_timestamps_instead_of_forgetting() {
        let (c, t, _) = setup();
        let v = Verifier::new(t.id(), 60, 3);
        let now = 1_800_000_000;
        let reqs: Vec<SignedRequest> = (0..4)
            .map(|i| sign_request(&c, t.id(), "GET", "/", b"", now - 10 + i))
            .collect();
        for r in &reqs {
            v.verify(|h| r.get(h), "GET", "/", b"", now).expect("fresh");
        }
        // reqs[0] was evicted; replaying it must still fail.
        let e = v
            .verify(|h| reqs[0].get(h), "GET", "/", b"", now)
            .expect_err("replay");
        assert_eq!(e.code(), "stale_timestamp");
        let e = v
            .verify(|h| reqs[3].get(h), "GET", "/", b"", now)
            .expect_err("replay");
        assert_eq!(e.code(), "replayed_nonce");
    }

    #[test]
    fn responses_verify_only_for_their_request_and_body() {
        let (c, t, _) = setup();
        let req = sign_request(&c, t.id(), "GET", "/", b"", 1_800_000_000);
        let res = sign_response(&t, 200, &req.nonce, b"ok", 1_800_000_001);
        let get = |h: &str| match h {
            H_AGENT_ID => Some(res.agent_id.clone()),
            H_TIMESTAMP => Some(res.timestamp.to_string()),
            H_SIGNATURE => Some(res.signature.clone()),
            _ => None,
        };
        assert!(verify_response(t.id(), 200, &req.nonce, get, b"ok").is_ok());
        assert!(verify_response(t.id(), 200, &req.nonce, get, b"forged").is_err());
        assert!(verify_response(t.id(), 500, &req.nonce, get, b"ok").is_err());
        assert!(verify_response(t.id(), 200, "other-nonce", get, b"ok").is_err());
        assert_eq!(
            verify_response(c.id(), 200, &req.nonce, get, b"ok").map_err(|e| e.code()),
            Err("wrong_target")
        );
    }
}
