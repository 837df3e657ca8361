//! Offers over UDP (docs/protocol.md §6, "Offers by datagram").
//!
//! Spreading one update through a network has every node offer it to each of its peers, and
//! most of those offers only learn that the peer has it already. As HTTP requests they were
//! most of the CPU of a 1,000-node network at one update a second (`agentmesh sim`); as
//! datagrams, as Serf's memberlist gossips, each costs a send and a receive. Records still
//! travel in signed HTTP pushes, and an offer that gets no answer is made again over HTTP, so
//! a lost datagram or a firewall costs time, never a record.
//!
//! Datagrams are authenticated per link: the two nodes' Ed25519 keys, taken to X25519, agree
//! on a shared secret, and every datagram carries an HMAC-SHA256 under a key derived from it.
//! Written here because nothing made for it fits: a datagram transport with a handshake
//! (QUIC, DTLS) would cost a connection per peer, which is what this avoids.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::Mac as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use super::{Federation, Host, Peer, lock};
use crate::encoding::now_unix;
use crate::identity::Identity;
use crate::wire::Digest;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// First bytes of every datagram (the format's version).
pub const MAGIC: &[u8; 4] = b"AMG1";
/// Largest datagram sent or read: under the 1,280 bytes every IPv6 path carries.
pub const MAX_DATAGRAM: usize = 1200;
const MAC_LEN: usize = 32;
/// Domain separation of the link key.
pub const LINK_DOMAIN: &str = "AGENTMESH-LINK-V1";
/// Seconds a datagram is accepted after (or before) its `at`.
pub const MAX_AGE: i64 = 30;
/// How long an offer waits for its answer before it is made again over HTTP.
pub const ANSWER_WAIT: Duration = Duration::from_secs(1);
/// Offers awaiting an answer at most; past it offers go over HTTP.
const MAX_PENDING: usize = 4096;
/// Link keys kept (one per node that sent a valid datagram or was offered to).
const MAX_KEYS: usize = 4096;
/// Link keys computed per second at most for nodes that are not peers (an X25519 each, ~40 µs):
/// a flood of datagrams from made-up node IDs takes at most ~8 % of a core. A seed is listed
/// by every node that started from it, so hundreds of nodes may offer to it at once.
const NEW_KEYS_PER_SEC: u32 = 2000;
/// Offers in a row a peer did not answer after which it is offered to over HTTP only, until
/// [`GOSSIP_OFF`] has passed.
pub const MAX_MISSES: u32 = 3;
/// How long a peer whose datagrams go unanswered is offered to over HTTP only.
pub const GOSSIP_OFF: Duration = Duration::from_secs(300);

/// What a datagram says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Versions the sender holds, by digest.
    Offer,
    /// The answer to an offer: which of its digests are wanted (possibly none).
    Want,
}

/// A datagram's body (JSON, after the magic and the MAC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datagram {
    /// Offer or want.
    pub k: Kind,
    /// The sending node.
    pub from: String,
    /// The node it is for.
    pub to: String,
    /// The offer's ID (a want repeats it).
    pub id: u64,
    /// Unix seconds when sent.
    pub at: i64,
    /// An offer's digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offer: Vec<Digest>,
    /// A want's indexes into the offer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub want: Vec<u32>,
}

/// Why a datagram was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GossipError {
    /// Not a datagram of this format.
    #[error("not an AgentMesh datagram")]
    Format,
    /// The body is not the JSON expected.
    #[error("invalid body: {0}")]
    Body(String),
    /// Addressed to another node, or from this one.
    #[error("addressed to {0}")]
    NotMine(String),
    /// Outside the accepted window.
    #[error("sent at {0}, outside ±{MAX_AGE} s")]
    Stale(i64),
    /// The sender's ID is not a usable key.
    #[error("sender: {0}")]
    Sender(String),
    /// The MAC does not match.
    #[error("bad MAC")]
    Mac,
    /// Too many new senders this second.
    #[error("too many new senders")]
    Busy,
    /// Too large to send as one datagram.
    #[error("over {MAX_DATAGRAM} bytes")]
    TooLarge,
}

/// The key two nodes share for their link: SHA-256 over the domain, the X25519 agreement of
/// their keys, and both node IDs in byte order.
pub fn link_key(me: &Identity, peer: &str) -> Result<[u8; 32], GossipError> {
    let public =
        crate::identity::public_from_did(peer).map_err(|e| GossipError::Sender(e.to_string()))?;
    let secret = ed25519_dalek::SigningKey::from_bytes(&me.secret_seed());
    let shared = zeroize::Zeroizing::new(
        public
            .to_montgomery()
            .mul_clamped(secret.to_scalar_bytes())
            .to_bytes(),
    );
    if shared.iter().all(|b| *b == 0) {
        return Err(GossipError::Sender("a low-order key".into()));
    }
    let (a, b) = if me.id() <= peer {
        (me.id(), peer)
    } else {
        (peer, me.id())
    };
    let mut h = sha2::Sha256::new();
    h.update(LINK_DOMAIN.as_bytes());
    h.update(b"\n");
    h.update(&shared[..]);
    h.update(a.as_bytes());
    h.update(b"\n");
    h.update(b.as_bytes());
    Ok(h.finalize().into())
}

fn mac(key: &[u8; 32]) -> HmacSha256 {
    <HmacSha256 as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

/// `MAGIC ‖ HMAC-SHA256(key, body) ‖ body`.
pub fn seal(key: &[u8; 32], d: &Datagram) -> Result<Vec<u8>, GossipError> {
    let body = serde_json::to_vec(d).map_err(|e| GossipError::Body(e.to_string()))?;
    let mut m = mac(key);
    m.update(&body);
    let mut out = Vec::with_capacity(MAGIC.len() + MAC_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&m.finalize().into_bytes());
    out.extend_from_slice(&body);
    if out.len() > MAX_DATAGRAM {
        return Err(GossipError::TooLarge);
    }
    Ok(out)
}

/// The body of a datagram, not yet authenticated (its `from` picks the key to check it with).
pub fn parse(bytes: &[u8]) -> Result<Datagram, GossipError> {
    if bytes.len() > MAX_DATAGRAM || bytes.len() < MAGIC.len() + MAC_LEN {
        return Err(GossipError::Format);
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(GossipError::Format);
    }
    let d: Datagram = serde_json::from_slice(&bytes[MAGIC.len() + MAC_LEN..])
        .map_err(|e| GossipError::Body(e.to_string()))?;
    if d.offer.len() > 64 || d.want.len() > 64 {
        return Err(GossipError::Body("over 64 entries".into()));
    }
    Ok(d)
}

/// Checks the MAC of `bytes` (as parsed by [`parse`]) under `key`, in constant time.
pub fn check(key: &[u8; 32], bytes: &[u8]) -> Result<(), GossipError> {
    let (tag, body) = bytes
        .get(MAGIC.len()..)
        .and_then(|b| b.split_at_checked(MAC_LEN))
        .ok_or(GossipError::Format)?;
    let mut m = mac(key);
    m.update(body);
    m.verify_slice(tag).map_err(|_| GossipError::Mac)
}

struct Pending {
    peer: Peer,
    batch: Vec<Value>,
    sent: Instant,
}

/// Counters of the datagram path.
#[derive(Debug, Default)]
pub struct GossipStats {
    /// Offers sent by datagram.
    pub offers: AtomicU64,
    /// Offers made again over HTTP after no answer.
    pub fallbacks: AtomicU64,
    /// Datagrams received and refused (garbage, a bad MAC, stale, addressed elsewhere…).
    pub refused: AtomicU64,
}

/// This node's datagram socket and the offers awaiting answers.
pub struct Gossip {
    socket: tokio::net::UdpSocket,
    port: u16,
    keys: Mutex<HashMap<String, [u8; 32]>>,
    /// New keys computed in the current second: (second, count).
    new_keys: Mutex<(i64, u32)>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    /// Counters.
    pub stats: GossipStats,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Gossip {
    /// Binds the datagram socket at `addr` (the HTTP listener's address, so a node's offers
    /// arrive on the port its API answers on).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        let port = socket.local_addr()?.port();
        Ok(Self {
            socket,
            port,
            keys: Mutex::new(HashMap::new()),
            new_keys: Mutex::new((0, 0)),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(u64::from_le_bytes(crate::encoding::random_bytes::<8>())),
            stats: GossipStats::default(),
        })
    }

    /// The UDP port datagrams are read on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The link key with `peer`, computed once. `known` says whether the peer was already
    /// vetted (a peer this node offers to); others are rate-limited.
    fn key(&self, me: &Identity, peer: &str, known: bool) -> Result<[u8; 32], GossipError> {
        if let Some(k) = lock(&self.keys).get(peer) {
            return Ok(*k);
        }
        if !known {
            let mut n = lock(&self.new_keys);
            let now = now_unix();
            if n.0 != now {
                *n = (now, 0);
            }
            if n.1 >= NEW_KEYS_PER_SEC {
                return Err(GossipError::Busy);
            }
            n.1 += 1;
        }
        let k = link_key(me, peer)?;
        let mut keys = lock(&self.keys);
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(peer.to_string(), k);
        Ok(k)
    }

    /// Offers `batch` to `peer` at `addr`; its records go when the answer comes. Gives the
    /// batch back when it cannot go by datagram (too large, too many offers in flight).
    pub async fn offer(
        &self,
        fed: &Federation,
        peer: &Peer,
        addr: SocketAddr,
        batch: Vec<Value>,
    ) -> Result<(), Vec<Value>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let d = Datagram {
            k: Kind::Offer,
            from: fed.node_id().to_string(),
            to: peer.node_id.clone(),
            id,
            at: now_unix(),
            offer: batch.iter().map(super::sync::digest).collect(),
            want: Vec::new(),
        };
        let Ok(bytes) = self
            .key(&fed.me, &peer.node_id, true)
            .and_then(|k| seal(&k, &d))
        else {
            return Err(batch);
        };
        {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_PENDING {
                return Err(batch);
            }
            pending.insert(
                id,
                Pending {
                    peer: peer.clone(),
                    batch,
                    sent: Instant::now(),
                },
            );
        }
        self.stats.offers.fetch_add(1, Ordering::Relaxed);
        fed.count(&fed.stats.bytes_sent, bytes.len());
        // A datagram the simulator drops, or one lost on the way, is an offer without an
        // answer: it is made again over HTTP after [`ANSWER_WAIT`].
        if fed.allowed(&peer.url)
            && let Err(e) = self.socket.send_to(&bytes, addr).await
        {
            tracing::debug!(%addr, error = %e, "cannot send an offer datagram");
            if let Some(p) = lock(&self.pending).remove(&id) {
                return Err(p.batch);
            }
        }
        Ok(())
    }

    /// Reads datagrams until `stop`, answering offers and sending what answers want; every
    /// quarter second, offers left unanswered are made again over HTTP.
    pub async fn serve(
        self: Arc<Self>,
        state: impl Host,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        let mut tick = tokio::time::interval(ANSWER_WAIT / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                _ = tick.tick() => self.expire(&state),
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    if let Err(e) = self.handle(&state, &buf[..n], from).await {
                        self.stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%from, error = %e, "datagram refused");
                    }
                }
            }
        }
    }

    async fn handle(
        &self,
        state: &impl Host,
        bytes: &[u8],
        src: SocketAddr,
    ) -> Result<(), GossipError> {
        let fed = state.federation();
        let d = parse(bytes)?;
        if d.to != fed.node_id() || d.from == fed.node_id() {
            return Err(GossipError::NotMine(d.to));
        }
        let now = now_unix();
        if (d.at - now).abs() > MAX_AGE {
            return Err(GossipError::Stale(d.at));
        }
        let key = self.key(&fed.me, &d.from, fed.peer(&d.from).is_some())?;
        check(&key, bytes)?;
        match d.k {
            Kind::Offer => {
                let want = fed.wants(&d.offer);
                // Answered even when nothing is wanted: the answer tells the offerer its
                // datagrams arrive. Sent to the offer's source, and never larger than it.
                let answer = Datagram {
                    k: Kind::Want,
                    from: d.to,
                    to: d.from,
                    id: d.id,
                    at: now,
                    offer: Vec::new(),
                    want,
                };
                let bytes = seal(&key, &answer)?;
                fed.count(&fed.stats.bytes_sent, bytes.len());
                if let Err(e) = self.socket.send_to(&bytes, src).await {
                    tracing::debug!(%src, error = %e, "cannot answer an offer datagram");
                }
            }
            Kind::Want => {
                let taken = {
                    let mut pending = lock(&self.pending);
                    // Checked before it is taken: a peer that answers another peer's offer
                    // (IDs are sequential) must not cancel it.
                    if pending.get(&d.id).is_some_and(|p| p.peer.node_id != d.from) {
                        return Err(GossipError::NotMine(d.from));
                    }
                    pending.remove(&d.id)
                };
                let Some(p) = taken else {
                    return Ok(()); // answered late, after the offer went over HTTP
                };
                fed.gossip_answered(&d.from);
                let records: Vec<Value> = d
                    .want
                    .iter()
                    .filter_map(|&i| p.batch.get(i as usize).cloned())
                    .collect();
                if !records.is_empty() {
                    let fed = fed.clone();
                    tokio::spawn(async move {
                        let n = records.len();
                        match super::sync::send_records(&fed, &p.peer, records).await {
                            Ok(()) => fed.count(&fed.stats.pushed_out, n),
                            Err(e) => tracing::debug!(peer = p.peer.url, error = %e, "push failed"),
                        }
                    });
                }
            }
        }
        Ok(())
    }

    /// Offers unanswered for [`ANSWER_WAIT`]: counted against their peers and made over HTTP.
    fn expire(&self, state: &impl Host) {
        let late: Vec<Pending> = lock(&self.pending)
            .extract_if(|_, p| p.sent.elapsed() >= ANSWER_WAIT)
            .map(|(_, p)| p)
            .collect();
        for p in late {
            self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
            let fed = state.federation().clone();
            fed.gossip_missed(&p.peer.node_id);
            tokio::spawn(async move {
                if let Err(e) = super::sync::offer_over_http(&fed, &p.peer, p.batch).await {
                    tracing::debug!(peer = p.peer.url, error = %e, "push failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(from: &Identity, to: &Identity) -> Datagram {
        Datagram {
            k: Kind::Offer,
            from: from.id().to_string(),
            to: to.id().to_string(),
            id: 7,
            at: 1_800_000_000,
            offer: vec![(
                "did:key:z6MkA".into(),
                1_800_000_000,
                "abcdefghijklmnop".into(),
            )],
            want: Vec::new(),
        }
    }

    #[test]
    fn both_ends_of_a_link_agree_on_its_key_and_no_one_else_does() {
        let (a, b, c) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let ab = link_key(&a, b.id()).expect("test value");
        assert_eq!(ab, link_key(&b, a.id()).expect("test value"));
        assert_ne!(ab, link_key(&a, c.id()).expect("test value"));
        assert_ne!(ab, link_key(&c, b.id()).expect("test value"));
        assert!(matches!(
            link_key(&a, "did:key:nonsense"),
            Err(GossipError::Sender(_))
        ));
    }

    #[test]
    fn a_sealed_datagram_opens_only_with_its_key_and_unchanged() {
        let (a, b, c) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let key = link_key(&a, b.id()).expect("test value");
        let d = datagram(&a, &b);
        let bytes = seal(&key, &d).expect("test value");
        assert_eq!(parse(&bytes).expect("test value"), d);
        check(&key, &bytes).expect("test value");
        assert_eq!(
            check(&link_key(&c, b.id()).expect("test value"), &bytes),
            Err(GossipError::Mac)
        );
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 1;
            assert!(
                parse(&t).is_err() || check(&key, &t).is_err(),
                "a flipped bit at {i} passed"
            );
        }
    }

    #[test]
    fn garbage_is_refused_without_a_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let key = [7u8; 32];
        for len in [0, 1, 4, 35, 36, 37, 100, 1199, 1200, 1201, 4000] {
            for _ in 0..50 {
                let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if len >= 4 && next() % 2 == 0 {
                    bytes[..4].copy_from_slice(MAGIC);
                }
                let _ = parse(&bytes);
                let _ = check(&key, &bytes);
            }
        }
        let mut big = MAGIC.to_vec();
        big.extend_from_slice(&[0u8; 32]);
        let many: Vec<u32> = (0..65).collect();
        big.extend_from_slice(
            &serde_json::to_vec(
                &serde_json::json!({"k":"want","from":"a","to":"b","id":1,"at":1,"want":many}),
            )
            .expect("test value"),
        );
        assert!(matches!(parse(&big), Err(GossipError::Body(_))));
        let mut extra = MAGIC.to_vec();
        extra.extend_from_slice(&[0u8; 32]);
        extra.extend_from_slice(br#"{"k":"offer","from":"a","to":"b","id":1,"at":1,"x":1}"#);
        assert!(
            matches!(parse(&extra), Err(GossipError::Body(_))),
            "unknown fields"
        );
    }

    #[test]
    fn a_datagram_over_the_size_is_not_sealed() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let mut d = datagram(&a, &b);
        d.offer = vec![d.offer[0].clone(); 40];
        assert_eq!(
            seal(&link_key(&a, b.id()).expect("test value"), &d),
            Err(GossipError::TooLarge)
        );
    }
}
