//! The Kademlia DHT mode (PRD Phase 8), on rust-libp2p: `kad` over TCP with Noise and yamux,
//! plus `identify` to learn peers' listen addresses. Full replication (the federation) stays the
//! default; a node in DHT mode also stores each card it accepts in the DHT under its agent ID,
//! provides the card's tags, skills, protocols and semantic buckets, and publishes where its
//! HTTP API answers.
//!
//! The node's libp2p identity is its Ed25519 node key, so its PeerId (`12D3KooW…`) and its
//! did:key name the same key.
//!
//! Records are the agents' own signed envelopes, keyed `/agentmesh/card/<agent did:key>`, and
//! every node checks them before storing (inbound `PutRecord`s are filtered, not stored by kad):
//! the signature and did:key, the field rules, the key naming the card's agent, and the order
//! of versions — a record is never replaced by an older version (tombstones are versions too, so
//! a revoke wins over anything issued before it). Records fetched in a lookup are checked the
//! same way, and the newest valid one wins, so a hostile peer can neither forge nor roll back a
//! card. Records expire with their card.

pub mod mem;
pub mod node_record;
pub mod sim;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use libp2p::futures::StreamExt as _;
use libp2p::kad::store::RecordStore as _;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, identify, identity, kad, noise, tcp, yamux};
use parking_lot::RwLock;
use tokio::sync::{mpsc, oneshot};

pub use node_record::{NODE_KEY_PREFIX, admit_node, node_key, peer_id_of_did};

use crate::card::Card;
use crate::discovery::ProviderTerms;
use crate::discovery::lsh::Bucket;
use crate::identity::Identity;
use crate::wire::Announcement;

/// The Kademlia protocol AgentMesh nodes speak (not IPFS's: the records are ours).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/agentmesh/kad/1.0.0");
/// The identify protocol version AgentMesh nodes announce.
pub const IDENTIFY_PROTOCOL: &str = "/agentmesh/1.0.0";
/// Prefix of a card's record key.
pub const CARD_KEY_PREFIX: &str = "/agentmesh/card/";
/// Prefix of a tag's provider key (the tag lowercased).
pub const TAG_KEY_PREFIX: &str = "/agentmesh/tag/";
/// Prefix of a skill ID's provider key.
pub const SKILL_KEY_PREFIX: &str = "/agentmesh/skill/";
/// Prefix of a protocol's provider key (lowercased).
pub const PROTOCOL_KEY_PREFIX: &str = "/agentmesh/protocol/";
/// Prefix of a semantic bucket's provider key: `/agentmesh/lsh/<model>/<table>/<bucket>`.
pub const LSH_KEY_PREFIX: &str = "/agentmesh/lsh/";
/// Longest provider key accepted (longer tags or skill IDs are not provided).
pub const MAX_PROVIDER_KEY: usize = 256;
/// Most bytes of a record value (a card envelope is at most 64 KiB).
pub const MAX_RECORD_BYTES: usize = 65 * 1024;
/// How long a record of a card without `expires_at` lives unless republished.
pub const RECORD_TTL: Duration = Duration::from_secs(36 * 3600);
/// A card lookup ends once this many holders have answered with a valid record (or once the
/// closest peers have all answered): the newest of them wins, so a rollback needs every one of
/// the first answers to be stale.
pub const LOOKUP_QUORUM: usize = 5;
/// The longest wait between two republishings of this node's own records and provider keys
/// prompted by new peers (the first comes 2 s after a new peer, then the wait doubles).
pub const REPUBLISH_MAX: Duration = Duration::from_secs(300);

/// Why the DHT could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum DhtError {
    /// The libp2p stack could not be built or could not listen.
    #[error("DHT: {0}")]
    Setup(String),
    /// The DHT task has stopped.
    #[error("DHT: the node's DHT task has stopped")]
    Stopped,
    /// A store or query failed.
    #[error("DHT: {0}")]
    Query(String),
}

/// The record key of `agent_id`'s card.
pub fn card_key(agent_id: &str) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{CARD_KEY_PREFIX}{agent_id}"))
}

/// The provider key of a tag (case-insensitive, as discovery matches tags).
pub fn tag_key(tag: &str) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{TAG_KEY_PREFIX}{}", tag.to_lowercase()))
}

/// The provider key of a protocol (case-insensitive).
pub fn protocol_key(protocol: &str) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{PROTOCOL_KEY_PREFIX}{}", protocol.to_lowercase()))
}

/// The provider key of a skill ID.
pub fn skill_key(skill: &str) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{SKILL_KEY_PREFIX}{skill}"))
}

/// The provider key of a semantic bucket of `model`'s embeddings (buckets of different models
/// never meet, as their vectors are not comparable).
pub fn bucket_key(model: &str, (table, bits): Bucket) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{LSH_KEY_PREFIX}{model}/{table}/{bits}"))
}

/// Every provider key of a card: its tags, protocols, skill IDs and buckets (deduplicated;
/// keys over [`MAX_PROVIDER_KEY`] bytes are left out).
pub fn provider_keys(terms: &ProviderTerms, model: &str) -> Vec<kad::RecordKey> {
    let mut keys: Vec<kad::RecordKey> = terms
        .tags
        .iter()
        .map(|t| tag_key(t))
        .chain(terms.protocols.iter().map(|p| protocol_key(p)))
        .chain(terms.skills.iter().map(|s| skill_key(s)))
        .chain(terms.buckets.iter().map(|b| bucket_key(model, *b)))
        .filter(|k| k.as_ref().len() <= MAX_PROVIDER_KEY)
        .collect();
    keys.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    keys.dedup();
    keys
}

/// The provider keys this node gives `card` (none for a tombstone, which provides nothing):
/// embeds it with `discovery`'s model, so DHT mode only.
pub fn card_provider_keys(
    card: &Card,
    discovery: &crate::discovery::Discovery,
) -> Vec<kad::RecordKey> {
    if card.revoked {
        return Vec::new();
    }
    provider_keys(
        &discovery.provider_terms(card.manifest()),
        discovery.model_id(),
    )
}

fn is_provider_key(key: &kad::RecordKey) -> bool {
    let k = key.as_ref();
    k.len() <= MAX_PROVIDER_KEY
        && [
            TAG_KEY_PREFIX,
            SKILL_KEY_PREFIX,
            PROTOCOL_KEY_PREFIX,
            LSH_KEY_PREFIX,
        ]
        .iter()
        .any(|p| k.starts_with(p.as_bytes()))
}

/// The libp2p identity of a node key: same Ed25519 key, so the PeerId names the did:key's key.
pub fn keypair_of(node: &Identity) -> identity::Keypair {
    let mut seed = node.secret_seed();
    identity::Keypair::ed25519_from_bytes(&mut seed[..])
        .expect("an Ed25519 seed is always 32 bytes")
}

/// The PeerId of a node key.
pub fn peer_id_of(node: &Identity) -> PeerId {
    keypair_of(node).public().to_peer_id()
}

/// Checks a card record as every node does before storing or believing it: a valid, signed
/// card of the agent its key names, not older than `stored` (the version already held, if any).
pub fn admit(record: &kad::Record, stored: Option<&kad::Record>) -> Result<Card, String> {
    if record.value.len() > MAX_RECORD_BYTES {
        return Err(format!("a record of {} bytes", record.value.len()));
    }
    let card = Card::from_slice(&record.value).map_err(|e| format!("not a valid card: {e}"))?;
    if record.key != card_key(&card.agent_id) {
        return Err("the record's key does not name the card's agent".into());
    }
    not_older(&card, stored)?;
    Ok(card)
}

/// Checks any inbound record: cards and node records are the only kinds a node stores.
fn admit_any(record: &kad::Record, stored: Option<&kad::Record>) -> Result<(), String> {
    let key = record.key.as_ref();
    if key.starts_with(CARD_KEY_PREFIX.as_bytes()) {
        admit(record, stored).map(|_| ())
    } else if key.starts_with(NODE_KEY_PREFIX.as_bytes()) {
        admit_node(record, stored).map(|_| ())
    } else {
        Err("an unknown kind of record".into())
    }
}

/// Refuses `card` when `stored` (a record this node admitted earlier, so its signature was
/// checked then) holds a newer version of the same agent.
fn not_older(card: &Card, stored: Option<&kad::Record>) -> Result<(), String> {
    let held = stored.and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.value).ok());
    if let Some((agent, issued_at, signature)) = held.as_ref().and_then(crate::card::version_of)
        && agent == card.agent_id
        && signature != card.signature
        && !card.supersedes(issued_at, signature)
    {
        return Err(format!(
            "an older version (issued_at {} against {issued_at})",
            card.issued_at
        ));
    }
    Ok(())
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
}

/// How nodes reach each other.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// TCP with Noise and yamux (what `serve --dht` uses).
    #[default]
    Tcp,
    /// In one process (`/memory/<port>` addresses), counting the bytes written (the simulator).
    Memory {
        /// Bytes this node has written.
        bytes_sent: Arc<AtomicU64>,
    },
}

/// Settings of the DHT mode.
#[derive(Debug, Clone)]
pub struct DhtConfig {
    /// Where to listen (`/ip4/127.0.0.1/tcp/0`, …).
    pub listen: Vec<Multiaddr>,
    /// Peers to bootstrap from (each with its `/p2p/<PeerId>`).
    pub bootstrap: Vec<Multiaddr>,
    /// How many nodes hold each record (Kademlia's k for replication).
    pub replication: usize,
    /// Most records a node holds.
    pub max_records: usize,
    /// The transport.
    pub transport: Transport,
    /// How long a connection with nothing in flight stays open.
    pub idle_timeout: Duration,
    /// How often the routing table is refreshed by a bootstrap (`None`: only when asked and
    /// while it holds fewer than 20 peers).
    pub periodic_bootstrap: Option<Duration>,
}

impl Default for DhtConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr")],
            bootstrap: Vec::new(),
            replication: 20,
            max_records: 1_000_000,
            transport: Transport::Tcp,
            idle_timeout: Duration::from_secs(60),
            periodic_bootstrap: Some(Duration::from_secs(5 * 60)),
        }
    }
}

/// What one card lookup found, and what it cost.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The newest valid card found.
    pub card: Option<Card>,
    /// Requests the lookup sent (libp2p reports no path length).
    pub requests: u32,
}

/// What a node holds in its part of the DHT.
#[derive(Debug, Clone, Copy, Default)]
pub struct Holdings {
    /// Records (cards and node records).
    pub records: usize,
    /// Provider keys this node provides.
    pub providers: usize,
    /// Peers in the routing table.
    pub routing_peers: usize,
}

enum Cmd {
    Put {
        card: Card,
        keys: Vec<kad::RecordKey>,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    Get {
        agent_id: String,
        reply: oneshot::Sender<Lookup>,
    },
    GetNode {
        peer: PeerId,
        reply: oneshot::Sender<Option<Announcement>>,
    },
    PutNode {
        record: kad::Record,
    },
    Providers {
        key: kad::RecordKey,
        found: mpsc::UnboundedSender<PeerId>,
    },
    Dial {
        addr: Multiaddr,
    },
    Bootstrap,
    Local {
        agent_id: String,
        reply: oneshot::Sender<Option<Card>>,
    },
    Holdings {
        reply: oneshot::Sender<Holdings>,
    },
    /// Store a raw record without checking it, and push it to peers: what a hostile node does
    /// (tests only).
    #[doc(hidden)]
    PutRaw {
        record: kad::Record,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
}

/// A running DHT node: a handle to the task that drives the libp2p swarm. The task ends when
/// every handle is dropped.
#[derive(Clone)]
pub struct Dht {
    tx: mpsc::Sender<Cmd>,
    peer_id: PeerId,
    addrs: Arc<RwLock<Vec<Multiaddr>>>,
}

fn behaviour(key: &identity::Keypair, cfg: &DhtConfig) -> Behaviour {
    let id = key.public().to_peer_id();
    let replication = std::num::NonZeroUsize::new(cfg.replication.max(1)).expect("at least one");
    let mut kcfg = kad::Config::new(KAD_PROTOCOL);
    kcfg.set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_record_ttl(Some(RECORD_TTL))
        .set_replication_factor(replication)
        .set_max_packet_size(2 * MAX_RECORD_BYTES)
        .set_query_timeout(Duration::from_secs(10))
        .set_periodic_bootstrap_interval(cfg.periodic_bootstrap);
    let store = kad::store::MemoryStore::with_config(
        id,
        kad::store::MemoryStoreConfig {
            max_records: cfg.max_records,
            max_value_bytes: MAX_RECORD_BYTES + 1,
            max_providers_per_key: cfg.replication.max(1),
            max_provided_keys: 1 << 16,
        },
    );
    Behaviour {
        kad: kad::Behaviour::with_config(id, store, kcfg),
        identify: identify::Behaviour::new(identify::Config::new(
            IDENTIFY_PROTOCOL.into(),
            key.public(),
        )),
    }
}

impl Dht {
    /// Starts the DHT node of `node`'s key; resolves once it listens on every address.
    pub async fn start(node: &Identity, cfg: DhtConfig) -> Result<Self, DhtError> {
        let setup = |e: &dyn std::fmt::Display| DhtError::Setup(e.to_string());
        let keypair = keypair_of(node);
        let peer_id = keypair.public().to_peer_id();
        let idle_timeout = cfg.idle_timeout;
        let idle = |c: libp2p::swarm::Config| c.with_idle_connection_timeout(idle_timeout);
        let mut swarm = match &cfg.transport {
            Transport::Tcp => libp2p::SwarmBuilder::with_existing_identity(keypair)
                .with_tokio()
                .with_tcp(
                    tcp::Config::default().nodelay(true),
                    noise::Config::new,
                    yamux::Config::default,
                )
                .map_err(|e| setup(&e))?
                .with_behaviour(|key| behaviour(key, &cfg))
                .map_err(|e| setup(&e))?
                .with_swarm_config(idle)
                .build(),
            Transport::Memory { bytes_sent } => {
                libp2p::SwarmBuilder::with_existing_identity(keypair)
                    .with_tokio()
                    .with_other_transport(|key| {
                        mem::transport(key, bytes_sent.clone())
                            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                    })
                    .map_err(|e| setup(&e))?
                    .with_behaviour(|key| behaviour(key, &cfg))
                    .map_err(|e| setup(&e))?
                    .with_swarm_config(idle)
                    .build()
            }
        };
        // Private networks and loopback never confirm an external address: serve anyway.
        swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
        for addr in &cfg.listen {
            swarm.listen_on(addr.clone()).map_err(|e| setup(&e))?;
        }
        let mut listening = Vec::new();
        while listening.len() < cfg.listen.len() {
            match tokio::time::timeout(Duration::from_secs(10), swarm.select_next_some()).await {
                Ok(SwarmEvent::NewListenAddr { address, .. }) => listening.push(address),
                Ok(SwarmEvent::ListenerError { error, .. }) => return Err(setup(&error)),
                Ok(_) => {}
                Err(_) => return Err(DhtError::Setup("no listen address within 10 s".into())),
            }
        }
        for addr in &cfg.bootstrap {
            add_bootstrap_peer(&mut swarm, addr);
        }
        if !cfg.bootstrap.is_empty() {
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }
        let addrs = Arc::new(RwLock::new(listening));
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(Driver::new(swarm, addrs.clone()).run(rx));
        Ok(Self { tx, peer_id, addrs })
    }

    /// This node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Where this node listens, each with its `/p2p/<PeerId>`.
    pub fn multiaddrs(&self) -> Vec<Multiaddr> {
        self.addrs
            .read()
            .iter()
            .map(|a| {
                a.clone()
                    .with(libp2p::multiaddr::Protocol::P2p(self.peer_id))
            })
            .collect()
    }

    async fn send(&self, cmd: Cmd) -> Result<(), DhtError> {
        self.tx.send(cmd).await.map_err(|_| DhtError::Stopped)
    }

    /// Stores `card` in the DHT under its agent ID (here and at the closest peers), and makes
    /// this node a provider of `keys` for it (replacing the keys of its previous version; a
    /// revoked card provides nothing).
    pub async fn put_card(&self, card: Card, keys: Vec<kad::RecordKey>) -> Result<(), DhtError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Put { card, keys, reply }).await?;
        rx.await.map_err(|_| DhtError::Stopped)?
    }

    /// The newest valid card of `agent_id` the DHT holds, if any.
    pub async fn get_card(&self, agent_id: &str) -> Result<Option<Card>, DhtError> {
        Ok(self.lookup(agent_id).await?.card)
    }

    /// A lookup of `agent_id`'s card, with what it cost.
    pub async fn lookup(&self, agent_id: &str) -> Result<Lookup, DhtError> {
        let (reply, rx) = oneshot::channel();
        let agent_id = agent_id.to_string();
        self.send(Cmd::Get { agent_id, reply }).await?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// Publishes where this node's HTTP API answers (`announcement` must be this node's).
    pub async fn announce(&self, announcement: &Announcement) -> Result<(), DhtError> {
        let record = node_record::node_record(&self.peer_id, announcement);
        self.send(Cmd::PutNode { record }).await
    }

    /// Where node `peer` says its HTTP API answers, if it published that.
    pub async fn node_api(&self, peer: PeerId) -> Result<Option<Announcement>, DhtError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::GetNode { peer, reply }).await?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// The providers of `key`, as they are found: the stream ends when the lookup does.
    pub async fn providers(
        &self,
        key: kad::RecordKey,
    ) -> Result<mpsc::UnboundedReceiver<PeerId>, DhtError> {
        let (found, rx) = mpsc::unbounded_channel();
        self.send(Cmd::Providers { key, found }).await?;
        Ok(rx)
    }

    /// Connects to a peer (a multiaddr with `/p2p/<PeerId>`) and adds it to the routing table.
    pub async fn add_peer(&self, addr: Multiaddr) -> Result<(), DhtError> {
        self.send(Cmd::Dial { addr }).await
    }

    /// Runs a Kademlia bootstrap (a lookup of this node's own ID), filling the routing table.
    pub async fn bootstrap(&self) -> Result<(), DhtError> {
        self.send(Cmd::Bootstrap).await
    }

    /// How many peers this node's routing table holds.
    pub async fn routing_peers(&self) -> Result<usize, DhtError> {
        Ok(self.holdings().await?.routing_peers)
    }

    /// What this node holds in its part of the DHT.
    pub async fn holdings(&self) -> Result<Holdings, DhtError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Holdings { reply }).await?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// The card of `agent_id` this node itself holds in its part of the DHT, if any.
    pub async fn local_card(&self, agent_id: &str) -> Result<Option<Card>, DhtError> {
        let (reply, rx) = oneshot::channel();
        let agent_id = agent_id.to_string();
        self.send(Cmd::Local { agent_id, reply }).await?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// Stores and pushes a record without any check, as a hostile node would (tests only).
    /// Resolves once the push has been answered by the peers it reached.
    #[doc(hidden)]
    pub async fn put_raw_for_tests(&self, record: kad::Record) -> Result<(), DhtError> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::PutRaw { record, reply }).await?;
        rx.await.map_err(|_| DhtError::Stopped)?
    }
}

fn add_bootstrap_peer(swarm: &mut libp2p::Swarm<Behaviour>, addr: &Multiaddr) {
    let peer = addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
        _ => None,
    });
    if let Some(peer) = peer {
        swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
    }
    let _ = swarm.dial(addr.clone());
}

/// The record of `card`, expiring with it.
fn record_of(card: &Card) -> kad::Record {
    let mut record = kad::Record::new(
        card_key(&card.agent_id),
        serde_json::to_vec(card.envelope()).expect("a JSON value serializes"),
    );
    let now = crate::encoding::now_unix();
    record.expires = Some(
        Instant::now()
            + match card.expires_at {
                Some(at) => {
                    Duration::from_secs(u64::try_from(at - now).unwrap_or(0)).min(RECORD_TTL)
                }
                None => RECORD_TTL,
            },
    );
    record
}

/// A card lookup in flight: the newest valid record found so far, how many valid records
/// came in, and who asked.
struct CardLookup {
    best: Option<Card>,
    valid: usize,
    reply: oneshot::Sender<Lookup>,
}

/// A node-record lookup in flight.
struct NodeLookup {
    best: Option<(i64, Announcement)>,
    reply: oneshot::Sender<Option<Announcement>>,
}

/// The task that owns the swarm: it runs commands, answers queries, filters inbound records
/// and republishes this node's own records and provider keys as the network grows.
struct Driver {
    swarm: libp2p::Swarm<Behaviour>,
    addrs: Arc<RwLock<Vec<Multiaddr>>>,
    puts: HashMap<kad::QueryId, oneshot::Sender<Result<(), DhtError>>>,
    cards: HashMap<kad::QueryId, CardLookup>,
    nodes: HashMap<kad::QueryId, NodeLookup>,
    providers: HashMap<kad::QueryId, mpsc::UnboundedSender<PeerId>>,
    /// Records this node published itself (its cards and its node record).
    own: HashSet<kad::RecordKey>,
    /// Provider keys by agent, and how many agents each key is provided for.
    provided: HashMap<String, Vec<kad::RecordKey>>,
    provided_count: HashMap<kad::RecordKey, usize>,
    /// The routing table gained a peer since the last republishing.
    grew: bool,
    next_republish: Instant,
    republish_wait: Duration,
}

impl Driver {
    fn new(swarm: libp2p::Swarm<Behaviour>, addrs: Arc<RwLock<Vec<Multiaddr>>>) -> Self {
        Self {
            swarm,
            addrs,
            puts: HashMap::new(),
            cards: HashMap::new(),
            nodes: HashMap::new(),
            providers: HashMap::new(),
            own: HashSet::new(),
            provided: HashMap::new(),
            provided_count: HashMap::new(),
            grew: false,
            next_republish: Instant::now(),
            republish_wait: Duration::from_secs(2),
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(cmd) => self.command(cmd),
                },
                event = self.swarm.select_next_some() => self.event(event),
                _ = tick.tick() => self.maybe_republish(),
            }
        }
    }

    fn kad(&mut self) -> &mut kad::Behaviour<kad::store::MemoryStore> {
        &mut self.swarm.behaviour_mut().kad
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Put { card, keys, reply } => {
                // A `Card` is verified already: only the order of versions is left to check.
                let record = record_of(&card);
                let held = self
                    .kad()
                    .store_mut()
                    .get(&record.key)
                    .map(|r| r.into_owned());
                if let Err(why) = not_older(&card, held.as_ref()) {
                    let _ = reply.send(Err(DhtError::Query(why)));
                    return;
                }
                let keys = if card.revoked { Vec::new() } else { keys };
                self.provide(&card.agent_id, keys);
                self.own.insert(record.key.clone());
                match self.kad().put_record(record, kad::Quorum::One) {
                    Ok(id) => {
                        self.puts.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(DhtError::Query(e.to_string())));
                    }
                }
            }
            Cmd::Get { agent_id, reply } => {
                let id = self.kad().get_record(card_key(&agent_id));
                self.cards.insert(
                    id,
                    CardLookup {
                        best: None,
                        valid: 0,
                        reply,
                    },
                );
            }
            Cmd::GetNode { peer, reply } => {
                let id = self.kad().get_record(node_key(&peer));
                self.nodes.insert(id, NodeLookup { best: None, reply });
            }
            Cmd::PutNode { record } => {
                self.own.insert(record.key.clone());
                if let Err(e) = self.kad().put_record(record, kad::Quorum::One) {
                    tracing::debug!(error = %e, "DHT node record");
                }
            }
            Cmd::Providers { key, found } => {
                let id = self.kad().get_providers(key);
                self.providers.insert(id, found);
            }
            Cmd::Dial { addr } => add_bootstrap_peer(&mut self.swarm, &addr),
            Cmd::Bootstrap => {
                let _ = self.kad().bootstrap();
            }
            Cmd::Holdings { reply } => {
                let kad = self.kad();
                let routing_peers = kad.kbuckets().map(|b| b.num_entries()).sum();
                let store = kad.store_mut();
                let records = store.records().count();
                let providers = store.provided().count();
                let _ = reply.send(Holdings {
                    records,
                    providers,
                    routing_peers,
                });
            }
            Cmd::Local { agent_id, reply } => {
                let card = self
                    .kad()
                    .store_mut()
                    .get(&card_key(&agent_id))
                    .and_then(|r| Card::from_slice(&r.value).ok());
                let _ = reply.send(card);
            }
            Cmd::PutRaw { record, reply } => {
                let kad = self.kad();
                let _ = kad.store_mut().put(record.clone());
                match kad.put_record(record, kad::Quorum::One) {
                    Ok(id) => {
                        self.puts.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(DhtError::Query(e.to_string())));
                    }
                }
            }
        }
    }

    /// Makes this node a provider of `keys` for `agent_id`, and stops providing the keys of
    /// its previous version that no other agent here still needs.
    fn provide(&mut self, agent_id: &str, keys: Vec<kad::RecordKey>) {
        let old = self.provided.remove(agent_id).unwrap_or_default();
        for key in &keys {
            let n = self.provided_count.entry(key.clone()).or_insert(0);
            *n += 1;
            if *n == 1
                && let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key.clone())
            {
                tracing::debug!(error = %e, "DHT provider record");
            }
        }
        for key in old {
            if let Some(n) = self.provided_count.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.provided_count.remove(&key);
                    self.kad().stop_providing(&key);
                }
            }
        }
        if !keys.is_empty() {
            self.provided.insert(agent_id.to_string(), keys);
        }
    }

    /// A node that published before it knew its closest peers (or before they joined) holds
    /// records others cannot find: after the routing table grows, push this node's own records
    /// and provider keys again — 2 s after the first new peer, then at doubling intervals up
    /// to [`REPUBLISH_MAX`] (kad's own republishing runs hourly, far too late for a new node).
    fn maybe_republish(&mut self) {
        if !self.grew || Instant::now() < self.next_republish {
            return;
        }
        self.grew = false;
        self.next_republish = Instant::now() + self.republish_wait;
        self.republish_wait = (self.republish_wait * 2).min(REPUBLISH_MAX);
        let own: Vec<kad::RecordKey> = self.own.iter().cloned().collect();
        for key in own {
            let record = self.kad().store_mut().get(&key).map(|r| r.into_owned());
            match record {
                Some(r) => {
                    let _ = self.kad().put_record(r, kad::Quorum::One);
                }
                // Expired or evicted: no longer this node's to push.
                None => {
                    self.own.remove(&key);
                }
            }
        }
        let keys: Vec<kad::RecordKey> = self.provided_count.keys().cloned().collect();
        for key in keys {
            let _ = self.kad().start_providing(key);
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut a = self.addrs.write();
                if !a.contains(&address) {
                    a.push(address);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if info.protocols.contains(&KAD_PROTOCOL) => {
                for a in info.listen_addrs.into_iter().take(8) {
                    self.kad().add_address(&peer_id, a);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.kad_event(event),
            _ => {}
        }
    }

    fn kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::RoutingUpdated {
                is_new_peer: true, ..
            } => {
                if self.next_republish <= Instant::now() {
                    // The first push after new peers waits a moment, so a burst of joins
                    // (a node's bootstrap) is answered once.
                    self.next_republish = Instant::now() + Duration::from_secs(2);
                }
                self.grew = true;
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                let store = self.kad().store_mut();
                let verdict = admit_any(&record, store.get(&record.key).as_deref());
                match verdict {
                    Ok(()) => {
                        let _ = store.put(record);
                    }
                    Err(why) => tracing::debug!(%source, why, "refused a DHT record"),
                }
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(mut record),
                    },
            } if is_provider_key(&record.key) => {
                // kad checked the provider is the peer that sent it; keep only our kinds of
                // key (others fall through and are dropped) and a few addresses.
                record.addresses.truncate(4);
                let _ = self.kad().store_mut().add_provider(record);
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result,
                step,
                stats,
            } => self.query_progressed(id, result, step.last, &stats),
            _ => {}
        }
    }

    fn query_progressed(
        &mut self,
        id: kad::QueryId,
        result: kad::QueryResult,
        last: bool,
        stats: &kad::QueryStats,
    ) {
        match result {
            kad::QueryResult::PutRecord(r) => {
                if let Some(reply) = self.puts.remove(&id) {
                    // Stored here already; peers refusing or none answering is not a failure
                    // of the node (the record is republished), only worth a log line.
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "DHT put reached no peer");
                    }
                    let _ = reply.send(Ok(()));
                }
            }
            kad::QueryResult::GetRecord(r) => {
                let found = match r {
                    Ok(kad::GetRecordOk::FoundRecord(kad::PeerRecord { record, .. })) => {
                        Some(record)
                    }
                    _ => None,
                };
                if let Some(lookup) = self.cards.get_mut(&id) {
                    if let Some(card) = found.as_ref().and_then(|r| admit(r, None).ok()) {
                        lookup.valid += 1;
                        let newer = lookup
                            .best
                            .as_ref()
                            .is_none_or(|b| card.supersedes(b.issued_at, &b.signature));
                        if newer {
                            lookup.best = Some(card);
                        }
                        if lookup.valid == LOOKUP_QUORUM
                            && let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id)
                        {
                            // Ends with one more event, marked last, that answers the asker.
                            query.finish();
                        }
                    }
                    if last && let Some(lookup) = self.cards.remove(&id) {
                        let _ = lookup.reply.send(Lookup {
                            card: lookup.best,
                            requests: stats.num_requests(),
                        });
                    }
                } else if let Some(lookup) = self.nodes.get_mut(&id) {
                    if let Some(a) = found.as_ref().and_then(|r| admit_node(r, None).ok()) {
                        let at = crate::encoding::parse_rfc3339(&a.issued_at).unwrap_or(0);
                        if lookup.best.as_ref().is_none_or(|(b, _)| at > *b) {
                            lookup.best = Some((at, a));
                        }
                    }
                    if last && let Some(lookup) = self.nodes.remove(&id) {
                        let _ = lookup.reply.send(lookup.best.map(|(_, a)| a));
                    }
                }
            }
            kad::QueryResult::GetProviders(r) => {
                if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = r
                    && let Some(found) = self.providers.get(&id)
                    && providers.into_iter().any(|p| found.send(p).is_err())
                {
                    // Nobody listens any more (the asker's time ran out): stop the query
                    // rather than let it run to kad's timeout.
                    self.providers.remove(&id);
                    if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                        query.finish();
                    }
                }
                if last {
                    self.providers.remove(&id);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{Manifest, sign_manifest};

    fn card(id: &Identity, issued_at: i64, name: &str) -> Card {
        let mut m = Manifest::new(id.id(), name, issued_at);
        m.endpoint = Some("http://127.0.0.1:8080".into());
        Card::from_value(sign_manifest(m.to_value(), id).expect("sign")).expect("valid")
    }

    #[test]
    fn only_cards_node_records_and_our_provider_keys_are_kept() {
        let agent = Identity::generate();
        let r = record_of(&card(&agent, crate::encoding::now_unix(), "a"));
        assert!(admit_any(&r, None).is_ok());
        for key in ["/ipfs/whatever", "/agentmesh/other/x", ""] {
            let r = kad::Record::new(kad::RecordKey::new(&key), r.value.clone());
            assert!(admit_any(&r, None).is_err(), "{key}");
        }
        assert!(is_provider_key(&tag_key("Weather")));
        assert_eq!(tag_key("Weather"), tag_key("weather"));
        assert!(is_provider_key(&bucket_key("static-v1", (7, 15))));
        assert!(!is_provider_key(&card_key(agent.id())));
        assert!(!is_provider_key(&tag_key(&"x".repeat(MAX_PROVIDER_KEY))));
        let terms = ProviderTerms {
            tags: vec!["a".into(), "a".into(), "x".repeat(MAX_PROVIDER_KEY)],
            protocols: vec!["mcp".into()],
            skills: vec!["greet".into()],
            buckets: vec![(0, 3)],
        };
        let keys = provider_keys(&terms, "m");
        assert_eq!(keys.len(), 4, "deduplicated, the long tag left out");
    }

    #[test]
    fn the_peer_id_names_the_node_key() {
        let node = Identity::generate();
        let peer = peer_id_of(&node);
        assert!(peer.to_string().starts_with("12D3KooW"));
        let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
        let public = identity::PublicKey::try_decode_protobuf(mh.digest())
            .expect("an identity multihash")
            .try_into_ed25519()
            .expect("Ed25519");
        assert_eq!(public.to_bytes(), node.verifying_key().to_bytes());
    }

    #[test]
    fn only_valid_newer_cards_of_the_named_agent_are_admitted() {
        let agent = Identity::generate();
        let now = crate::encoding::now_unix();
        let (old, new) = (card(&agent, now - 20, "old"), card(&agent, now - 10, "new"));
        let (r_old, r_new) = (record_of(&old), record_of(&new));
        assert!(admit(&r_new, None).is_ok());
        assert!(admit(&r_new, Some(&r_old)).is_ok(), "newer replaces older");
        assert!(
            admit(&r_new, Some(&r_new)).is_ok(),
            "the same version again"
        );
        assert!(admit(&r_old, Some(&r_new)).is_err(), "never rolled back");
        // Forged: the manifest changed after signing.
        let mut forged = serde_json::to_value(new.envelope()).expect("json");
        forged["manifest"]["name"] = serde_json::json!("forged");
        let r = kad::Record::new(
            card_key(agent.id()),
            serde_json::to_vec(&forged).expect("json"),
        );
        assert!(admit(&r, None).is_err());
        // Under another agent's key.
        let r = kad::Record::new(card_key(Identity::generate().id()), r_new.value.clone());
        assert!(admit(&r, None).is_err());
        // Garbage and oversized values.
        for value in [b"not json".to_vec(), vec![b' '; MAX_RECORD_BYTES + 1]] {
            let r = kad::Record::new(card_key(agent.id()), value);
            assert!(admit(&r, None).is_err());
        }
    }
}
