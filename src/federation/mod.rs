//! Federation: nodes find each other from seeds and keep every card everywhere, without any
//! node owning the network.
//!
//! Flow: at start a node asks each seed who it is (`GET /v1/node`), announces itself to it
//! (`POST /v1/peers`, signed; the receiver checks the URL answers with that node ID before
//! trusting it), and pulls everything the seed has. From then on:
//! - **eager push** ([`Federation::accepted`]): every version this node accepts for the first
//!   time — from a client or a peer — is queued and pushed (`POST /v1/sync/push`, signed, in
//!   batches every `push_interval`) to `fanout` random peers per round, never twice to the same
//!   peer, until every peer has had it. A push first offers digests (agent, issued_at, 16
//!   characters of signature) and sends only the records the peer asks for, so the flood's
//!   duplicates cost ~100 bytes, not a card. Peers push it on only if it was new to them, so an
//!   update spreads in O(log N) rounds;
//! - **pull anti-entropy** ([`sync`]): every `sync_interval` each peer is asked for what
//!   followed the cursor this node keeps for it (`GET /v1/sync?since=`, persisted, so a restart
//!   resumes), repairing whatever push missed — a partition heals within one interval;
//! - **peer exchange**: a random peer's `GET /v1/peers` offers more peers, each checked before
//!   use; the active set is bounded, failing peers are backed off and dropped after
//!   [`MAX_FAILURES`] failures in a row (seeds are kept).
//!
//! Every record is verified on its own (signature, did:key, field rules) before it is stored, so
//! no peer can forge or roll back a card; a peer that serves an invalid record gets a
//! `bad_signature` trust event against its node ID and is backed off. Trust never travels.

pub mod gossip;
pub mod sync;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::card::Card;
use crate::encoding::{format_rfc3339, now_unix};
use crate::events::OutcomeSink;
use crate::identity::{Identity, verify_b64};
use crate::store::{PeerRow, PutOutcome, Store, StoreError};
pub use crate::wire::{Announcement, PeerView};

/// Domain separation tag of peer announcements.
pub const PEER_DOMAIN: &str = "AGENTMESH-PEER-V1";
/// Failures in a row after which a non-seed peer is forgotten.
pub const MAX_FAILURES: u32 = 8;
/// Records queued for push at most (oldest dropped; pull repairs them).
const MAX_QUEUE: usize = 50_000;
/// Records per push request at most.
const PUSH_BATCH: usize = 256;

/// Decides whether a message may reach a URL (the simulator's faults; `None` in production).
pub trait NetFilter: Send + Sync {
    /// Whether a request to `url` gets through.
    fn allow(&self, url: &str) -> bool;
}

/// Called with `(agent_id, issued_at)` whenever this node accepts a new version (the
/// simulator measures convergence with it).
pub type AcceptHook = Arc<dyn Fn(&str, i64) + Send + Sync>;
/// Called with `(records pulled, records the seed holds)` during the bootstrap pull.
pub type ProgressHook = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Federation settings.
#[derive(Clone)]
pub struct FederationConfig {
    /// Seed nodes' base URLs.
    pub seeds: Vec<String>,
    /// Peers each push round goes to.
    pub fanout: usize,
    /// Interval of pull anti-entropy.
    pub sync_interval: Duration,
    /// Interval of push rounds (the batching window).
    pub push_interval: Duration,
    /// Peers kept at most.
    pub max_peers: usize,
    /// Records per pull page.
    pub pull_page: usize,
    /// Largest sync page read from a peer, bytes (fewer records are asked past it).
    pub max_page_bytes: usize,
    /// The HTTP client to reach peers with; `None` builds one for this node. The simulator
    /// gives all its nodes one client, so a thousand nodes' kept-alive connections share one
    /// pool within the process's file descriptors (each request is still signed by, and
    /// attributed to, the node that sends it).
    pub http: Option<reqwest::Client>,
    /// Fault injection (simulator only).
    pub net: Option<Arc<dyn NetFilter>>,
    /// New-version observer (simulator only).
    pub on_accept: Option<AcceptHook>,
    /// Bootstrap progress (a terminal progress bar in `serve`).
    pub on_progress: Option<ProgressHook>,
    /// Offer by UDP datagram to peers that read them (on the HTTP listener's port; see
    /// [`gossip`]), HTTP otherwise.
    pub gossip: bool,
}

impl std::fmt::Debug for FederationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederationConfig")
            .field("seeds", &self.seeds)
            .field("fanout", &self.fanout)
            .field("sync_interval", &self.sync_interval)
            .field("push_interval", &self.push_interval)
            .finish_non_exhaustive()
    }
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            fanout: 3,
            sync_interval: Duration::from_secs(60),
            push_interval: Duration::from_millis(100),
            max_peers: 64,
            pull_page: 500,
            max_page_bytes: sync::MAX_PAGE_BYTES,
            http: None,
            net: None,
            on_accept: None,
            on_progress: None,
            gossip: true,
        }
    }
}

/// `AGENTMESH-NODE-V1\n<node_id>\n<challenge>`: what a node signs to prove it answers at a URL.
pub fn node_challenge_string(node_id: &str, challenge: &str) -> String {
    format!("AGENTMESH-NODE-V1\n{node_id}\n{challenge}")
}

/// `AGENTMESH-PEER-V1\n<node_id>\n<url>\n<issued_at>`.
pub fn announcement_signing_string(node_id: &str, url: &str, issued_at: &str) -> String {
    format!("{PEER_DOMAIN}\n{node_id}\n{url}\n{issued_at}")
}

impl Announcement {
    /// `node` announcing itself at `url`, now.
    pub fn sign(node: &Identity, url: &str) -> Self {
        let issued_at = format_rfc3339(now_unix());
        let signature =
            node.sign_b64(announcement_signing_string(node.id(), url, &issued_at).as_bytes());
        Self {
            node_id: node.id().to_string(),
            url: url.to_string(),
            issued_at,
            signature,
        }
    }

    /// Checks the signature and that it was issued within ±5 minutes of `now`.
    pub fn verify(&self, now: i64) -> Result<(), PeerError> {
        let at = crate::encoding::parse_rfc3339(&self.issued_at).ok_or(
            PeerError::BadAnnouncement("issued_at is not an RFC 3339 UTC time"),
        )?;
        if at.saturating_sub(now).unsigned_abs() > 300 {
            return Err(PeerError::BadAnnouncement(
                "issued_at is more than 5 minutes from this node's clock",
            ));
        }
        verify_b64(
            &self.node_id,
            announcement_signing_string(&self.node_id, &self.url, &self.issued_at).as_bytes(),
            &self.signature,
        )
        .map_err(|_| PeerError::BadAnnouncement("the signature does not verify"))
    }
}

/// What the federation loops need from the node they run in — its store, its registry's
/// ingest, its judgement of peers and its telemetry — and nothing of its HTTP server. The
/// node's state implements it; federation never names the node.
pub trait Host: Clone + Send + Sync + 'static {
    /// This node's federation state.
    fn federation(&self) -> &Arc<Federation>;
    /// The store peers and cursors are saved in.
    fn store(&self) -> &Store;
    /// Stores a verified card as a registration would (index, routes, push queue).
    fn accept(&self, card: Card) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;
    /// Where a peer's bad records are charged.
    fn outcomes(&self) -> &dyn OutcomeSink;
    /// Counts one pull round from `peer` that ended as `outcome`.
    fn sync_round(&self, peer: &str, outcome: &'static str);
    /// Notes an event for `top` and `/v1/node`.
    fn event(&self, kind: &'static str, agent_id: Option<&str>, ok: bool, text: String);
}

/// Why a peer, a seed or a candidate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The simulator's partition cuts this link.
    #[error("unreachable (simulated)")]
    Partitioned,
    /// No connection could be made, or it broke.
    #[error("{0}")]
    Connect(#[source] reqwest::Error),
    /// The peer answered with an error status.
    #[error("HTTP {0}")]
    Status(u16),
    /// The answer was over the cap.
    #[error("the answer is over {0} bytes")]
    TooLarge(usize),
    /// The answer was not the JSON expected.
    #[error("invalid answer: {0}")]
    Decode(#[source] serde_json::Error),
    /// The answer broke a rule of the protocol.
    #[error("{0}")]
    Protocol(String),
    /// The node at `url` did not prove it holds the key of `id`.
    #[error("the node at {url} did not prove it holds {id}: {why}")]
    Unproven {
        /// Where it was asked.
        url: String,
        /// The ID it claimed.
        id: String,
        /// What failed.
        why: String,
    },
    /// A peer announcement that does not hold.
    #[error("{0}")]
    BadAnnouncement(&'static str),
}

/// What this node knows of a peer.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its did:key.
    pub node_id: String,
    /// Its base URL.
    pub url: String,
    /// Highest of its sequence numbers pulled.
    pub cursor: i64,
    /// Unix time it last answered.
    pub last_seen: Option<i64>,
    /// Unix time of the last complete pull.
    pub last_sync: Option<i64>,
    /// Records pulled from it in the last pull.
    pub lag: i64,
    /// Failures in a row.
    pub failures: u32,
    /// Not to be called before this.
    pub backoff_until: Option<Instant>,
    /// Configured as a seed.
    pub seed: bool,
    /// The node IDs of the peers it listed when last asked (at most [`MAX_KNOWS`]).
    pub knows: Vec<String>,
    /// Where it reads offer datagrams, as it last said (`/v1/node` when it was added, then
    /// each sync page; `None`: offered by HTTP).
    pub gossip: Option<std::net::SocketAddr>,
    /// Datagram offers in a row it did not answer.
    pub gossip_misses: u32,
    /// Offered by HTTP only until then (its datagrams went unanswered).
    pub gossip_off_until: Option<Instant>,
    /// Pulled whole pages of records until then: it refused a digest page (a node from
    /// before them; asked again after [`RECORDS_ONLY_FOR`], in case it was upgraded).
    pub records_only: Option<Instant>,
}

/// How long a peer that refused a digest page is pulled whole pages from.
pub const RECORDS_ONLY_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Most of a peer's own peers kept and shown per peer (`PeerView::knows`).
pub const MAX_KNOWS: usize = 16;

impl Peer {
    fn row(&self) -> PeerRow {
        PeerRow {
            node_id: self.node_id.clone(),
            url: self.url.clone(),
            cursor: self.cursor,
            last_seen: self.last_seen,
            failures: self.failures,
            seed: self.seed,
        }
    }

    fn usable(&self, now: Instant) -> bool {
        self.backoff_until.is_none_or(|t| now >= t)
    }
}

/// Counters of sync traffic.
#[derive(Debug, Default)]
pub struct FedStats {
    /// Records pulled and accepted as new.
    pub pulled: AtomicU64,
    /// Records received by pull, new or not.
    pub pull_records: AtomicU64,
    /// Records received by push and accepted as new.
    pub pushed_in: AtomicU64,
    /// Records sent in pushes.
    pub pushed_out: AtomicU64,
    /// Records refused (invalid or forged).
    pub rejected: AtomicU64,
    /// Pull rounds finished.
    pub pull_rounds: AtomicU64,
    /// Push requests sent.
    pub push_requests: AtomicU64,
    /// Request and response bytes this node sent (bodies).
    pub bytes_sent: AtomicU64,
}

struct Queued {
    envelope: Value,
    remaining: u32,
    /// Peers it went to already: a record is never sent to the same peer twice, so its
    /// transmissions reach that many distinct peers.
    sent_to: Vec<String>,
    /// Left in the queue at most [`QUEUE_TTL`] (the peer set may shrink under it).
    queued_at: Instant,
}

/// Longest a record waits for its transmissions; pull repairs whatever it did not reach.
const QUEUE_TTL: Duration = Duration::from_secs(30);

/// This node's federation state.
pub struct Federation {
    me: Identity,
    public_url: Option<String>,
    config: FederationConfig,
    http: reqwest::Client,
    peers: Mutex<HashMap<String, Peer>>,
    queue: Mutex<std::collections::VecDeque<Queued>>,
    /// The newest version this node accepted per agent since start, `(issued_at, signature)`:
    /// a synced record not newer than it is stale without checking its signature (most pushes
    /// under flooding are duplicates).
    seen: Mutex<HashMap<String, (i64, String)>>,
    /// Sync counters.
    pub stats: FedStats,
    /// The offer datagram socket, once bound.
    gossip: std::sync::OnceLock<Arc<gossip::Gossip>>,
    /// Digests this node asked a peer for, and when ([`Federation::wants`]).
    asked: Mutex<HashMap<crate::wire::Digest, Instant>>,
}

/// How long a wanted record is waited for before another peer's offer of it is wanted too.
const WANT_HOLD: Duration = Duration::from_millis(500);
/// Wanted digests remembered at most.
const MAX_ASKED: usize = 8192;

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("node", &self.me.id())
            .field("peers", &self.peer_count())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How a node's client to its peers is set up: 10 s per request, 3 s to connect.
pub fn peer_client_builder() -> reqwest::ClientBuilder {
    crate::client::http_builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .no_proxy()
        .user_agent(concat!("agentmesh/", env!("CARGO_PKG_VERSION")))
}

impl Federation {
    /// The HTTP client this node talks to peers with (also used for DHT-mode discovery).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Federation for node `me`, reachable at `public_url`.
    pub fn new(me: Identity, public_url: Option<String>, config: FederationConfig) -> Self {
        let http = config.http.clone().unwrap_or_else(|| {
            peer_client_builder()
                .pool_max_idle_per_host(4)
                .build()
                .expect("an HTTP client with default TLS settings builds")
        });
        Self {
            me,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            config,
            http,
            peers: Mutex::new(HashMap::new()),
            queue: Mutex::new(std::collections::VecDeque::new()),
            seen: Mutex::new(HashMap::new()),
            stats: FedStats::default(),
            gossip: std::sync::OnceLock::new(),
            asked: Mutex::new(HashMap::new()),
        }
    }

    /// Reads offer datagrams on `g` from now on (once; later calls are ignored).
    pub fn set_gossip(&self, g: Arc<gossip::Gossip>) {
        let _ = self.gossip.set(g);
    }

    /// The offer datagram socket, if bound.
    pub fn gossip(&self) -> Option<&Arc<gossip::Gossip>> {
        self.gossip.get()
    }

    /// The UDP port offer datagrams are read on, if any (told to peers in sync pages).
    pub fn gossip_port(&self) -> Option<u16> {
        self.gossip.get().map(|g| g.port())
    }

    /// Notes where `node_id` reads offer datagrams (from its sync page), unless its datagrams
    /// went unanswered lately.
    fn set_peer_gossip(&self, node_id: &str, addr: Option<std::net::SocketAddr>) {
        if let Some(p) = lock(&self.peers).get_mut(node_id)
            && p.gossip_off_until.is_none_or(|t| Instant::now() >= t)
        {
            p.gossip_off_until = None;
            p.gossip = addr;
        }
    }

    /// `node_id` answered a datagram offer.
    fn gossip_answered(&self, node_id: &str) {
        if let Some(p) = lock(&self.peers).get_mut(node_id) {
            p.gossip_misses = 0;
        }
    }

    /// `node_id` left a datagram offer unanswered: after [`gossip::MAX_MISSES`] in a row it is
    /// offered to over HTTP for [`gossip::GOSSIP_OFF`].
    fn gossip_missed(&self, node_id: &str) {
        if let Some(p) = lock(&self.peers).get_mut(node_id) {
            p.gossip_misses += 1;
            if p.gossip_misses >= gossip::MAX_MISSES {
                tracing::debug!(
                    peer = p.url,
                    "offer datagrams unanswered; offering over HTTP"
                );
                p.gossip = None;
                p.gossip_misses = 0;
                p.gossip_off_until = Some(Instant::now() + gossip::GOSSIP_OFF);
            }
        }
    }

    /// Settings.
    pub fn config(&self) -> &FederationConfig {
        &self.config
    }

    /// This node's ID.
    pub fn node_id(&self) -> &str {
        self.me.id()
    }

    /// Known peers.
    pub fn peer_count(&self) -> usize {
        lock(&self.peers).len()
    }

    /// Whether accepted versions are worth cloning for push (there is someone to push to).
    pub fn wants_push(&self) -> bool {
        self.config.on_accept.is_some() || !lock(&self.peers).is_empty()
    }

    /// Whether a record `(issued_at, signature)` of `agent_id` is not newer than a version
    /// this node already accepted (the docs/protocol.md §3 order).
    pub fn is_known(&self, agent_id: &str, issued_at: i64, signature: &str) -> bool {
        lock(&self.seen)
            .get(agent_id)
            .is_some_and(|(t, s)| (issued_at, signature) <= (*t, s.as_str()))
    }

    /// Whether an offered digest `(agent_id, issued_at, signature prefix)` names a version
    /// not newer than one this node accepted (an equal prefix counts as the same version).
    pub fn knows_digest(&self, agent_id: &str, issued_at: i64, sig_prefix: &str) -> bool {
        lock(&self.seen).get(agent_id).is_some_and(|(t, s)| {
            let mine = s.get(..sig_prefix.len()).unwrap_or(s);
            (issued_at, sig_prefix) <= (*t, mine)
        })
    }

    /// Which of `offer`'s digests this node wants: those it does not hold and has not asked
    /// another peer for within [`WANT_HOLD`] (while that record is on its way, a second copy
    /// would only cost a signed push and a verification; past the hold, the next offer of it
    /// is wanted again in case the first push failed).
    pub fn wants(&self, offer: &[crate::wire::Digest]) -> Vec<u32> {
        let now = Instant::now();
        let mut asked = lock(&self.asked);
        if asked.len() >= MAX_ASKED {
            asked.retain(|_, t| now.duration_since(*t) < WANT_HOLD);
            if asked.len() >= MAX_ASKED {
                asked.clear();
            }
        }
        let mut want = Vec::new();
        for (i, (id, at, sig)) in (0u32..).zip(offer) {
            if self.knows_digest(id, *at, sig) {
                continue;
            }
            let key = (id.clone(), *at, sig.clone());
            if asked
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < WANT_HOLD)
            {
                continue;
            }
            asked.insert(key, now);
            want.push(i);
        }
        want
    }

    /// A new version was accepted: remember it, tell the observer and queue it for push.
    pub fn accepted(
        &self,
        agent_id: &str,
        issued_at: i64,
        signature: &str,
        envelope: Option<Value>,
    ) {
        {
            let mut seen = lock(&self.seen);
            match seen.get_mut(agent_id) {
                Some(v) if (issued_at, signature) > (v.0, v.1.as_str()) => {
                    *v = (issued_at, signature.to_string());
                }
                Some(_) => {}
                None => {
                    seen.insert(agent_id.to_string(), (issued_at, signature.to_string()));
                }
            }
        }
        if let Some(hook) = &self.config.on_accept {
            hook(agent_id, issued_at);
        }
        let Some(envelope) = envelope else { return };
        let peers = self.peer_count();
        if peers == 0 {
            return;
        }
        // Every peer once, `fanout` per round. memberlist's 4·⌈log10(N+1)⌉ transmissions
        // assume uniformly random targets over the whole cluster; over a bounded peer set,
        // where some nodes are listed by only a few others, that left about one node in a
        // thousand to the pull (measured with `agentmesh sim`).
        let remaining = peers as u32;
        let mut q = lock(&self.queue);
        if q.len() >= MAX_QUEUE {
            q.pop_front();
        }
        q.push_back(Queued {
            envelope,
            remaining,
            sent_to: Vec::new(),
            queued_at: Instant::now(),
        });
    }

    /// Peers as listed by `GET /v1/peers`.
    pub fn peer_views(&self) -> Vec<PeerView> {
        let now = Instant::now();
        let mut v: Vec<PeerView> = lock(&self.peers)
            .values()
            .map(|p| PeerView {
                node_id: p.node_id.clone(),
                url: p.url.clone(),
                last_seen: p.last_seen.map(format_rfc3339),
                state: if p.usable(now) { "active" } else { "backoff" }.into(),
                last_sync: p.last_sync.map(format_rfc3339),
                lag: p.lag,
                knows: p.knows.clone(),
            })
            .collect();
        v.sort_by(|a, b| a.url.cmp(&b.url));
        v
    }

    /// Notes the peers `node_id` listed when asked (peer exchange), for the dashboard's graph
    /// of peers' peers; at most [`MAX_KNOWS`], never this node.
    pub fn note_knows(&self, node_id: &str, listed: &[PeerView]) {
        if let Some(p) = lock(&self.peers).get_mut(node_id) {
            p.knows = listed
                .iter()
                .map(|v| v.node_id.clone())
                .filter(|id| id != self.me.id() && id != node_id)
                .take(MAX_KNOWS)
                .collect();
        }
    }

    /// Adds (or refreshes) a peer whose ID was checked; returns whether it is new. When the
    /// set is full a seed still gets in, a peer that announced itself replaces a random
    /// non-seed peer (so nodes that joined late are still somebody's push target), and a
    /// peer learned second-hand is skipped.
    pub fn add_peer(&self, node_id: &str, url: &str, seed: bool) -> bool {
        self.add_peer_with(node_id, url, seed, false)
    }

    /// [`Federation::add_peer`] for a peer that announced itself (`make_room`).
    pub fn add_announced_peer(&self, node_id: &str, url: &str) -> bool {
        self.add_peer_with(node_id, url, false, true)
    }

    fn add_peer_with(&self, node_id: &str, url: &str, seed: bool, make_room: bool) -> bool {
        if node_id == self.me.id() {
            return false;
        }
        let url = url.trim_end_matches('/').to_string();
        let mut peers = lock(&self.peers);
        if let Some(p) = peers.get_mut(node_id) {
            p.url = url;
            p.seed |= seed;
            return false;
        }
        if peers.len() >= self.config.max_peers && !seed {
            if !make_room {
                return false;
            }
            let others: Vec<String> = peers
                .values()
                .filter(|p| !p.seed)
                .map(|p| p.node_id.clone())
                .collect();
            if others.is_empty() {
                return false;
            }
            let r = u64::from_le_bytes(crate::encoding::random_bytes::<8>());
            peers.remove(&others[(r % others.len() as u64) as usize]);
        }
        peers.insert(
            node_id.to_string(),
            Peer {
                node_id: node_id.to_string(),
                url,
                cursor: 0,
                last_seen: Some(now_unix()),
                last_sync: None,
                lag: 0,
                failures: 0,
                backoff_until: None,
                seed,
                knows: Vec::new(),
                gossip: None,
                gossip_misses: 0,
                gossip_off_until: None,
                records_only: None,
            },
        );
        true
    }

    /// Restores saved peers (cursors included).
    pub fn restore(&self, rows: Vec<PeerRow>) {
        let mut peers = lock(&self.peers);
        for r in rows {
            if r.node_id == self.me.id() {
                continue;
            }
            peers.insert(
                r.node_id.clone(),
                Peer {
                    node_id: r.node_id,
                    url: r.url,
                    cursor: r.cursor,
                    last_seen: r.last_seen,
                    last_sync: None,
                    lag: 0,
                    failures: r.failures,
                    backoff_until: None,
                    seed: r.seed,
                    knows: Vec::new(),
                    gossip: None,
                    gossip_misses: 0,
                    gossip_off_until: None,
                    records_only: None,
                },
            );
        }
    }

    fn peer(&self, node_id: &str) -> Option<Peer> {
        lock(&self.peers).get(node_id).cloned()
    }

    /// Whether `node_id` is a known peer.
    pub fn is_peer(&self, node_id: &str) -> bool {
        lock(&self.peers).contains_key(node_id)
    }

    fn usable_peers(&self) -> Vec<Peer> {
        let now = Instant::now();
        lock(&self.peers)
            .values()
            .filter(|p| p.usable(now))
            .cloned()
            .collect()
    }

    /// Records a success with `node_id` (and its new cursor); returns the row to persist.
    fn succeeded(&self, node_id: &str, cursor: Option<i64>) -> Option<PeerRow> {
        let mut peers = lock(&self.peers);
        let p = peers.get_mut(node_id)?;
        p.failures = 0;
        p.backoff_until = None;
        p.last_seen = Some(now_unix());
        if let Some(c) = cursor {
            p.cursor = p.cursor.max(c);
        }
        Some(p.row())
    }

    /// `node_id` refused a digest page: pull whole records from it for [`RECORDS_ONLY_FOR`].
    fn set_records_only(&self, node_id: &str) {
        if let Some(p) = lock(&self.peers).get_mut(node_id) {
            p.records_only = Some(Instant::now() + RECORDS_ONLY_FOR);
        }
    }

    /// Moves a peer's cursor forward without counting an answer as a success.
    fn advance(&self, node_id: &str, cursor: i64) -> Option<PeerRow> {
        let mut peers = lock(&self.peers);
        let p = peers.get_mut(node_id)?;
        p.cursor = p.cursor.max(cursor);
        Some(p.row())
    }

    /// Fills the record of accepted versions from the store at start, so offers of cards held
    /// before a restart are not asked for again.
    pub fn remember(&self, versions: Vec<(String, i64, String)>) {
        let mut seen = lock(&self.seen);
        for (id, at, sig) in versions {
            seen.insert(id, (at, sig));
        }
    }

    /// Records a failure: exponential backoff (1 s doubling to 5 min); a non-seed peer that
    /// failed [`MAX_FAILURES`] times in a row is forgotten. Returns the row to persist, or
    /// `None` when the peer was dropped.
    fn failed(&self, node_id: &str) -> Option<PeerRow> {
        let mut peers = lock(&self.peers);
        let p = peers.get_mut(node_id)?;
        p.failures += 1;
        let wait = Duration::from_secs(1)
            .saturating_mul(1 << p.failures.min(9))
            .min(Duration::from_secs(300));
        p.backoff_until = Some(Instant::now() + wait);
        if p.failures >= MAX_FAILURES && !p.seed {
            peers.remove(node_id);
            return None;
        }
        Some(p.row())
    }

    fn allowed(&self, url: &str) -> bool {
        self.config.net.as_ref().is_none_or(|n| n.allow(url))
    }

    /// Takes the records due for `peer` this round (at most a batch, none it was sent before)
    /// and counts the transmission; records that reached enough peers leave the queue.
    fn take_push_batch(&self, peer: &str) -> Vec<Value> {
        let mut q = lock(&self.queue);
        let mut batch = Vec::new();
        for r in q.iter_mut() {
            if batch.len() >= PUSH_BATCH {
                break;
            }
            if r.remaining > 0 && !r.sent_to.iter().any(|p| p == peer) {
                batch.push(r.envelope.clone());
                r.sent_to.push(peer.to_string());
                r.remaining -= 1;
            }
        }
        q.retain(|r| r.remaining > 0 && r.queued_at.elapsed() < QUEUE_TTL);
        batch
    }

    /// The node ID the node at `url` answers with, and the UDP port it reads offer datagrams
    /// on (if it said).
    pub async fn check_node(&self, url: &str) -> Result<(String, Option<u16>), PeerError> {
        sync::node_at(self, url).await
    }

    /// Notes that peer `node_id` at `url` reads offer datagrams on UDP `port`.
    pub async fn learn_gossip(&self, node_id: &str, url: &str, port: Option<u16>) {
        sync::learn_gossip(self, node_id, url, port).await;
    }

    /// The persisted form of a known peer.
    pub fn peer_row(&self, node_id: &str) -> Option<PeerRow> {
        self.peer(node_id).map(|p| p.row())
    }

    /// Records waiting to be pushed.
    pub fn queued(&self) -> usize {
        lock(&self.queue).len()
    }

    fn count(&self, c: &AtomicU64, n: usize) {
        c.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_verify_and_refuse_tampering() {
        let node = Identity::generate();
        let a = Announcement::sign(&node, "http://a.example:7070");
        let now = now_unix();
        assert!(a.verify(now).is_ok());
        let mut moved = a.clone();
        moved.url = "http://evil.example:7070".into();
        assert!(moved.verify(now).is_err());
        assert!(a.verify(now + 3600).is_err(), "stale");
        assert_eq!(
            announcement_signing_string("N", "U", "T"),
            "AGENTMESH-PEER-V1\nN\nU\nT"
        );
    }

    #[test]
    fn peers_back_off_and_are_dropped_after_repeated_failures() {
        let f = Federation::new(Identity::generate(), None, FederationConfig::default());
        assert!(f.add_peer("did:key:z6MkP", "http://p:1/", false));
        assert!(!f.add_peer("did:key:z6MkP", "http://p:1", false), "known");
        assert!(!f.add_peer(f.node_id(), "http://me", false), "never itself");
        assert!(f.failed("did:key:z6MkP").is_some());
        assert!(f.usable_peers().is_empty(), "backed off");
        for _ in 1..MAX_FAILURES {
            let _ = f.failed("did:key:z6MkP");
        }
        assert_eq!(f.peer_count(), 0, "dropped after {MAX_FAILURES} failures");
        assert!(f.add_peer("did:key:z6MkS", "http://s:1", true));
        for _ in 0..20 {
            let _ = f.failed("did:key:z6MkS");
        }
        assert_eq!(f.peer_count(), 1, "seeds are kept");
        assert!(f.succeeded("did:key:z6MkS", Some(9)).is_some());
        assert_eq!(f.peer("did:key:z6MkS").map(|p| p.cursor), Some(9));
    }

    #[test]
    fn pushes_retransmit_a_bounded_number_of_times() {
        let f = Federation::new(Identity::generate(), None, FederationConfig::default());
        for i in 0..9 {
            f.add_peer(&format!("did:key:z6Mk{i}"), &format!("http://p{i}"), false);
        }
        f.accepted("a", 1, "sig", Some(serde_json::json!({"x": 1})));
        assert!(f.is_known("a", 1, "sig") && f.is_known("a", 0, "zzz"));
        assert!(f.knows_digest("a", 1, "si") && !f.knows_digest("a", 1, "sj"));
        assert!(!f.is_known("a", 1, "sih") && !f.is_known("b", 1, "sig"));
        // 9 peers: 9 transmissions, each to a different peer.
        assert_eq!(f.take_push_batch("p1").len(), 1);
        assert!(
            f.take_push_batch("p1").is_empty(),
            "never twice to one peer"
        );
        for i in 2..=9 {
            assert_eq!(f.take_push_batch(&format!("p{i}")).len(), 1);
        }
        assert!(
            f.take_push_batch("p10").is_empty(),
            "every peer had it: done"
        );
        assert_eq!(f.queued(), 0);
    }
}
