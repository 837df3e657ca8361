//! The Kademlia DHT mode (PRD Phase 8), on rust-libp2p: `kad` over TCP with Noise and yamux,
//! plus `identify` to learn peers' listen addresses. Full replication (the federation) stays the
//! default; a node in DHT mode also stores each card it accepts in the DHT under its agent ID.
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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::futures::StreamExt as _;
use libp2p::kad::store::RecordStore as _;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, identify, identity, kad, noise, tcp, yamux};
use parking_lot::RwLock;
use tokio::sync::{mpsc, oneshot};

use crate::card::Card;
use crate::identity::Identity;

/// The Kademlia protocol AgentMesh nodes speak (not IPFS's: the records are ours).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/agentmesh/kad/1.0.0");
/// The identify protocol version AgentMesh nodes announce.
pub const IDENTIFY_PROTOCOL: &str = "/agentmesh/1.0.0";
/// Prefix of a card's record key.
pub const CARD_KEY_PREFIX: &str = "/agentmesh/card/";
/// Most bytes of a record value (a card envelope is at most 64 KiB).
pub const MAX_RECORD_BYTES: usize = 65 * 1024;
/// How long a record of a card without `expires_at` lives unless republished.
pub const RECORD_TTL: Duration = Duration::from_secs(36 * 3600);

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

/// Checks a record as every node does before storing or believing it: a valid, signed card
/// of the agent its key names, not older than `stored` (the version already held, if any).
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
}

impl Default for DhtConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr")],
            bootstrap: Vec::new(),
            replication: 20,
            max_records: 1_000_000,
        }
    }
}

enum Cmd {
    Put {
        card: Card,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
    Get {
        agent_id: String,
        reply: oneshot::Sender<Option<Card>>,
    },
    Dial {
        addr: Multiaddr,
    },
    Local {
        agent_id: String,
        reply: oneshot::Sender<Option<Card>>,
    },
    Peers {
        reply: oneshot::Sender<usize>,
    },
    /// Store a raw record without checking it, and push it to peers: what a hostile node does
    /// (tests only).
    #[doc(hidden)]
    PutRaw {
        record: kad::Record,
        reply: oneshot::Sender<Result<(), DhtError>>,
    },
}

/// A running DHT node: a handle to the task that drives the libp2p swarm.
#[derive(Clone)]
pub struct Dht {
    tx: mpsc::Sender<Cmd>,
    peer_id: PeerId,
    addrs: Arc<RwLock<Vec<Multiaddr>>>,
}

impl Dht {
    /// Starts the DHT node of `node`'s key; resolves once it listens on every address.
    pub async fn start(node: &Identity, cfg: DhtConfig) -> Result<Self, DhtError> {
        let setup = |e: &dyn std::fmt::Display| DhtError::Setup(e.to_string());
        let keypair = keypair_of(node);
        let peer_id = keypair.public().to_peer_id();
        let replication =
            std::num::NonZeroUsize::new(cfg.replication.max(1)).expect("at least one");
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup(&e))?
            .with_behaviour(|key| {
                let id = key.public().to_peer_id();
                let mut kcfg = kad::Config::new(KAD_PROTOCOL);
                kcfg.set_record_filtering(kad::StoreInserts::FilterBoth)
                    .set_record_ttl(Some(RECORD_TTL))
                    .set_replication_factor(replication)
                    .set_max_packet_size(2 * MAX_RECORD_BYTES)
                    .set_query_timeout(Duration::from_secs(10));
                let store = kad::store::MemoryStore::with_config(
                    id,
                    kad::store::MemoryStoreConfig {
                        max_records: cfg.max_records,
                        max_value_bytes: MAX_RECORD_BYTES + 1,
                        ..Default::default()
                    },
                );
                Behaviour {
                    kad: kad::Behaviour::with_config(id, store, kcfg),
                    identify: identify::Behaviour::new(identify::Config::new(
                        IDENTIFY_PROTOCOL.into(),
                        key.public(),
                    )),
                }
            })
            .map_err(|e| setup(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
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
        tokio::spawn(drive(swarm, rx, addrs.clone()));
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

    /// Stores `card` in the DHT under its agent ID (here and at the closest peers).
    pub async fn put_card(&self, card: Card) -> Result<(), DhtError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Put { card, reply })
            .await
            .map_err(|_| DhtError::Stopped)?;
        rx.await.map_err(|_| DhtError::Stopped)?
    }

    /// The newest valid card of `agent_id` the DHT holds, if any.
    pub async fn get_card(&self, agent_id: &str) -> Result<Option<Card>, DhtError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Get {
                agent_id: agent_id.to_string(),
                reply,
            })
            .await
            .map_err(|_| DhtError::Stopped)?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// Connects to a peer (a multiaddr with `/p2p/<PeerId>`) and adds it to the routing table.
    pub async fn add_peer(&self, addr: Multiaddr) -> Result<(), DhtError> {
        self.tx
            .send(Cmd::Dial { addr })
            .await
            .map_err(|_| DhtError::Stopped)
    }

    /// How many peers this node's routing table holds.
    pub async fn routing_peers(&self) -> Result<usize, DhtError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Peers { reply })
            .await
            .map_err(|_| DhtError::Stopped)?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// The card of `agent_id` this node itself holds in its part of the DHT, if any.
    pub async fn local_card(&self, agent_id: &str) -> Result<Option<Card>, DhtError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Local {
                agent_id: agent_id.to_string(),
                reply,
            })
            .await
            .map_err(|_| DhtError::Stopped)?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// Stores and pushes a record without any check, as a hostile node would (tests only).
    #[doc(hidden)]
    /// Resolves once the push has been answered by the peers it reached.
    pub async fn put_raw_for_tests(&self, record: kad::Record) -> Result<(), DhtError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::PutRaw { record, reply })
            .await
            .map_err(|_| DhtError::Stopped)?;
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

/// A lookup in flight: the valid records found so far, and who asked.
struct Lookup {
    best: Option<Card>,
    reply: oneshot::Sender<Option<Card>>,
}

async fn drive(
    mut swarm: libp2p::Swarm<Behaviour>,
    mut rx: mpsc::Receiver<Cmd>,
    addrs: Arc<RwLock<Vec<Multiaddr>>>,
) {
    let mut puts: HashMap<kad::QueryId, oneshot::Sender<Result<(), DhtError>>> = HashMap::new();
    let mut gets: HashMap<kad::QueryId, Lookup> = HashMap::new();
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Cmd::Put { card, reply }) => {
                    // A `Card` is verified already: only the order of versions is left to check.
                    let record = record_of(&card);
                    let kad = &mut swarm.behaviour_mut().kad;
                    if let Err(why) = not_older(&card, kad.store_mut().get(&record.key).as_deref()) {
                        let _ = reply.send(Err(DhtError::Query(why)));
                        continue;
                    }
                    match kad.put_record(record, kad::Quorum::One) {
                        Ok(id) => { puts.insert(id, reply); }
                        Err(e) => { let _ = reply.send(Err(DhtError::Query(e.to_string()))); }
                    }
                }
                Some(Cmd::Get { agent_id, reply }) => {
                    let id = swarm.behaviour_mut().kad.get_record(card_key(&agent_id));
                    gets.insert(id, Lookup { best: None, reply });
                }
                Some(Cmd::Dial { addr }) => add_bootstrap_peer(&mut swarm, &addr),
                Some(Cmd::Peers { reply }) => {
                    let n = swarm
                        .behaviour_mut()
                        .kad
                        .kbuckets()
                        .map(|b| b.num_entries())
                        .sum();
                    let _ = reply.send(n);
                }
                Some(Cmd::Local { agent_id, reply }) => {
                    let store = swarm.behaviour_mut().kad.store_mut();
                    let card = store
                        .get(&card_key(&agent_id))
                        .and_then(|r| Card::from_slice(&r.value).ok());
                    let _ = reply.send(card);
                }
                Some(Cmd::PutRaw { record, reply }) => {
                    let kad = &mut swarm.behaviour_mut().kad;
                    let _ = kad.store_mut().put(record.clone());
                    match kad.put_record(record, kad::Quorum::One) {
                        Ok(id) => { puts.insert(id, reply); }
                        Err(e) => { let _ = reply.send(Err(DhtError::Query(e.to_string()))); }
                    }
                }
            },
            event = swarm.select_next_some() => handle(&mut swarm, event, &mut puts, &mut gets, &addrs),
        }
    }
}

fn handle(
    swarm: &mut libp2p::Swarm<Behaviour>,
    event: SwarmEvent<BehaviourEvent>,
    puts: &mut HashMap<kad::QueryId, oneshot::Sender<Result<(), DhtError>>>,
    gets: &mut HashMap<kad::QueryId, Lookup>,
    addrs: &RwLock<Vec<Multiaddr>>,
) {
    match event {
        SwarmEvent::NewListenAddr { address, .. } => {
            let mut a = addrs.write();
            if !a.contains(&address) {
                a.push(address);
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        })) if info.protocols.contains(&KAD_PROTOCOL) => {
            for a in info.listen_addrs {
                swarm.behaviour_mut().kad.add_address(&peer_id, a);
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::InboundRequest {
            request:
                kad::InboundRequest::PutRecord {
                    source,
                    record: Some(record),
                    ..
                },
        })) => {
            let store = swarm.behaviour_mut().kad.store_mut();
            let verdict = admit(&record, store.get(&record.key).as_deref()).map(|_| ());
            match verdict {
                Ok(()) => {
                    let _ = store.put(record);
                }
                Err(why) => tracing::debug!(%source, why, "refused a DHT record"),
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
            id,
            result,
            step,
            ..
        })) => match result {
            kad::QueryResult::PutRecord(r) => {
                if let Some(reply) = puts.remove(&id) {
                    // Stored here already; peers refusing or none answering is not a failure
                    // of the node (the record is republished), only worth a log line.
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "DHT put reached no peer");
                    }
                    let _ = reply.send(Ok(()));
                }
            }
            kad::QueryResult::GetRecord(r) => {
                if let Ok(kad::GetRecordOk::FoundRecord(kad::PeerRecord { record, .. })) = r
                    && let Some(lookup) = gets.get_mut(&id)
                    && let Ok(card) = admit(&record, None)
                {
                    let newer = lookup
                        .best
                        .as_ref()
                        .is_none_or(|b| card.supersedes(b.issued_at, &b.signature));
                    if newer {
                        lookup.best = Some(card);
                    }
                }
                if step.last
                    && let Some(lookup) = gets.remove(&id)
                {
                    let _ = lookup.reply.send(lookup.best);
                }
            }
            _ => {}
        },
        _ => {}
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
