//! Bodies of the node's HTTP API (docs/protocol.md §6), one type per body, written by the node
//! and read by its clients (the CLI, federation peers) so that both sides agree by construction.
//! Readers ignore fields they do not know: fields may be added, none renamed. `GET /v1/node`'s
//! [`NodeInfo`] is what `agentmesh top` draws.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::card::Envelope;

/// Every `error.code` a node answers with (docs/protocol.md §6, Errors). Clients keep the code
/// of an [`ErrorBody`] as a string, so a newer node's codes still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// `invalid_json`.
    InvalidJson,
    /// `invalid_id`.
    InvalidId,
    /// `invalid_field`.
    InvalidField,
    /// `too_large`.
    TooLarge,
    /// `bad_signature`.
    BadSignature,
    /// `missing_header`.
    MissingHeader,
    /// `wrong_target`.
    WrongTarget,
    /// `stale_timestamp`.
    StaleTimestamp,
    /// `replayed_nonce`.
    ReplayedNonce,
    /// `stale`.
    Stale,
    /// `not_found`.
    NotFound,
    /// `revoked`.
    Revoked,
    /// `forbidden`.
    Forbidden,
    /// `rate_limited`.
    RateLimited,
    /// `agent_offline`.
    AgentOffline,
    /// `upstream_failed`.
    UpstreamFailed,
    /// `upstream_timeout`.
    UpstreamTimeout,
    /// `internal`.
    Internal,
    /// `request_timeout`.
    RequestTimeout,
    /// `overloaded`.
    Overloaded,
    /// `insufficient_storage`.
    InsufficientStorage,
}

impl ErrorCode {
    /// Every code, in the protocol's order.
    pub const ALL: [ErrorCode; 21] = [
        Self::InvalidJson,
        Self::InvalidId,
        Self::InvalidField,
        Self::TooLarge,
        Self::BadSignature,
        Self::MissingHeader,
        Self::WrongTarget,
        Self::StaleTimestamp,
        Self::ReplayedNonce,
        Self::Stale,
        Self::NotFound,
        Self::Revoked,
        Self::Forbidden,
        Self::RateLimited,
        Self::AgentOffline,
        Self::UpstreamFailed,
        Self::UpstreamTimeout,
        Self::Internal,
        Self::RequestTimeout,
        Self::Overloaded,
        Self::InsufficientStorage,
    ];

    /// The code as it travels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidId => "invalid_id",
            Self::InvalidField => "invalid_field",
            Self::TooLarge => "too_large",
            Self::BadSignature => "bad_signature",
            Self::MissingHeader => "missing_header",
            Self::WrongTarget => "wrong_target",
            Self::StaleTimestamp => "stale_timestamp",
            Self::ReplayedNonce => "replayed_nonce",
            Self::Stale => "stale",
            Self::NotFound => "not_found",
            Self::Revoked => "revoked",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::AgentOffline => "agent_offline",
            Self::UpstreamFailed => "upstream_failed",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Internal => "internal",
            Self::RequestTimeout => "request_timeout",
            Self::Overloaded => "overloaded",
            Self::InsufficientStorage => "insufficient_storage",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"error":{"code","message"}}`: every refusal, from the listener to the handlers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A stable code (docs/protocol.md §6, Errors).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// An error body with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// `POST /v1/agents` → 201 or 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Registered {
    /// The agent.
    pub agent_id: String,
    /// The version's sequence number on this node.
    pub seq: i64,
    /// `created`, `updated` or `revoked`.
    pub status: String,
}

/// `GET /v1/sync?since=&limit=`: records in the node's sequence order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct SyncPage {
    /// The answering node.
    pub node_id: String,
    /// Records with `seq > since`, ascending (none when `digests` was asked for).
    pub records: Vec<SyncRecord>,
    /// With `digests=true`: the digests of the records with `seq > since` instead, ascending,
    /// for the caller to fetch the ones it lacks (`POST /v1/sync/fetch`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<SyncDigest>,
    /// The last `seq` returned (or `since`): the next page's cursor.
    #[serde(default)]
    pub next: i64,
    /// Whether more records follow.
    pub more: bool,
    /// The node's highest sequence number (a progress bar's total).
    #[serde(default)]
    pub last_seq: Option<i64>,
    /// The UDP port the node reads offer datagrams on, at its URL's host (docs/protocol.md §6,
    /// "Offers by datagram"); absent when it reads none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_udp: Option<u16>,
}

/// One digest of a [`SyncPage`]: a record's sequence number and its [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct SyncDigest {
    /// Its sequence number on the answering node.
    pub seq: i64,
    /// `[agent_id, issued_at, signature prefix]`, as in offers.
    #[cfg_attr(feature = "node", schema(value_type = Vec<Value>))]
    pub digest: Digest,
}

/// `POST /v1/sync/fetch`: the records at these sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyncFetch {
    /// Sequence numbers from a digest page, at most 1,000.
    pub seqs: Vec<i64>,
}

/// One record of a [`SyncPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct SyncRecord {
    /// Its sequence number on the answering node.
    pub seq: i64,
    /// The signed envelope, as stored (tombstones and expired cards included).
    #[cfg_attr(feature = "node", schema(value_type = Envelope))]
    pub card: Value,
}

/// Most agents one `GET /v1/node` lists.
pub const MAX_AGENTS: usize = 500;

/// Sync counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SyncInfo {
    /// Records pulled and accepted as new.
    pub pulled: u64,
    /// Records received by pull.
    pub pull_records: u64,
    /// Records received by push and accepted as new.
    pub pushed_in: u64,
    /// Records sent in pushes.
    pub pushed_out: u64,
    /// Records refused.
    pub rejected: u64,
    /// Pull rounds finished.
    pub pull_rounds: u64,
    /// Body bytes sent for sync.
    pub bytes_sent: u64,
    /// Offers sent by UDP datagram.
    pub offer_datagrams: u64,
    /// Datagram offers that got no answer in time and went again over HTTP.
    pub offers_unanswered: u64,
    /// Datagrams received on the offer port and refused (garbage, a bad MAC, stale,
    /// addressed to another node): a flood of them shows here.
    pub datagrams_refused: u64,
}

/// Gateway counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct GatewayInfo {
    /// Response signatures left unchecked under load.
    pub responses_unchecked: u64,
}

/// Relay counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RelayInfo {
    /// Frames received from agents.
    pub frames_in: u64,
    /// Frames sent to agents.
    pub frames_out: u64,
}

/// Trust counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TrustInfo {
    /// Agents with a record.
    pub agents: u64,
    /// Events absorbed since start.
    pub events: u64,
    /// Of them, admin reports.
    pub reports: u64,
}

/// Store counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct StoreInfo {
    /// Write transactions.
    pub commits: u64,
    /// Writes in them.
    pub writes: u64,
    /// Largest batch.
    pub max_batch: u64,
}

/// One agent as `top` lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct AgentRow {
    /// Its did:key.
    pub agent_id: String,
    /// The card's name (absent when this node has no live card).
    pub name: Option<String>,
    /// The card's protocols.
    pub protocols: Vec<String>,
    /// The card's endpoint.
    pub endpoint: Option<String>,
    /// The card's description.
    pub description: Option<String>,
    /// Local trust score.
    pub trust: f64,
    /// Change of the score since the previous hour.
    pub trust_delta: f64,
    /// Trust events seen.
    pub trust_events: u64,
    /// Calls through this node's gateway.
    pub calls: u64,
    /// Of them, errors.
    pub errors: u64,
    /// When the latest call was (unix seconds here; RFC 3339 on the wire).
    #[serde(with = "rfc3339::option")]
    #[cfg_attr(feature = "node", schema(value_type = Option<String>, format = DateTime))]
    pub last_call_at: Option<i64>,
    /// Holds a relay tunnel to this node.
    pub online: bool,
    /// The card's endpoint is `relay://`.
    pub relayed: bool,
}

/// `GET /v1/node`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeInfo {
    /// The node's did:key.
    pub node_id: String,
    /// Its signature over `?challenge=` (federation's proof of identity).
    pub challenge_signature: Option<String>,
    /// Software version.
    pub version: String,
    /// Where peers reach it.
    pub public_url: Option<String>,
    /// Seconds since start.
    pub uptime_s: u64,
    /// Live cards stored.
    pub agents: u64,
    /// Cards in the discovery index.
    pub indexed: u64,
    /// Embedding model.
    pub model: String,
    /// How discovery searches its index: `scan` (every card, exactly), `prefilter` (sign
    /// sketches, then exactly) or `graph` (an HNSW graph, then exactly).
    pub search: String,
    /// Cards indexed but not yet inserted into the graph (searched exactly meanwhile; the
    /// graph catches up in the background).
    pub graph_pending: u64,
    /// Peers known.
    pub peers: u64,
    /// The UDP port the node reads offer datagrams on (docs/protocol.md §6); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip_udp: Option<u16>,
    /// Relay tunnels open.
    pub tunnels: u64,
    /// Sync counters.
    pub sync: SyncInfo,
    /// Gateway counters.
    pub gateway: GatewayInfo,
    /// Relay counters.
    pub relay: RelayInfo,
    /// Trust counters.
    pub trust: TrustInfo,
    /// Store counters.
    pub store: StoreInfo,
    /// Activity counts since start.
    pub totals: Totals,
    /// Per-second counts of the last minute.
    pub rates: Rates,
    /// Peers with last sync and lag.
    pub peer_list: Vec<PeerView>,
    /// Tunnels.
    pub tunnel_list: Vec<TunnelInfo>,
    /// Agents active here lately (called, tunnelled, or with fresh trust events).
    pub top_agents: Vec<AgentRow>,
    /// Recent events, oldest first.
    pub events: Vec<NodeEvent>,
    /// Seq of the newest event (pass as `events_since` to get only newer ones).
    pub events_seq: u64,
    /// The DHT mode, when this node runs it (`serve --dht`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dht: Option<DhtInfo>,
    /// The transformer re-ranker, when this node runs one (`serve --embedder minilm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank: Option<RerankInfo>,
}

/// The re-ranker's background embedding (docs/protocol.md §6, Re-ranking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct RerankInfo {
    /// The transformer's model ID: the `model` of this node's discovery answers.
    pub model: String,
    /// Indexed cards with a transformer vector of their current version (of `indexed`).
    pub ready: u64,
    /// Cards waiting in the queue.
    pub queued: u64,
    /// Vectors computed since the node started.
    pub embedded: u64,
    /// True while the start-up walk of the store runs.
    pub scanning: bool,
}

/// A peer on the wire (`GET /v1/peers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct PeerView {
    /// Its did:key.
    pub node_id: String,
    /// Its base URL.
    pub url: String,
    /// When it last answered, RFC 3339.
    pub last_seen: Option<String>,
    /// `active` or `backoff`.
    pub state: String,
    /// When the last pull from it completed, RFC 3339.
    #[serde(default)]
    pub last_sync: Option<String>,
    /// Records the last pull from it brought.
    #[serde(default)]
    pub lag: i64,
    /// The node IDs of the peers it listed when this node last asked (at most 16; for the
    /// dashboard's graph of peers' peers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knows: Vec<String>,
}

/// A relay tunnel as `GET /v1/node` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct TunnelInfo {
    /// The agent.
    pub agent_id: String,
    /// Seconds since it authenticated.
    pub age_s: u64,
    /// Calls waiting for an answer.
    pub in_flight: usize,
    /// Calls answered.
    pub served: u64,
}

/// One entry of the event ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct NodeEvent {
    /// Increases by one per event since the node started.
    pub seq: u64,
    /// When it happened (unix milliseconds here; RFC 3339 seconds on the wire, as `at`).
    #[serde(rename = "at", with = "rfc3339::millis")]
    #[cfg_attr(feature = "node", schema(value_type = String, format = DateTime))]
    pub at_ms: i64,
    /// `invoke`, `register`, `trust`, `report` or `sync`.
    pub kind: String,
    /// The agent it concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Whether it went well.
    pub ok: bool,
    /// What happened, for people.
    pub text: String,
}

/// Calls to one agent through this node's gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct AgentCalls {
    /// Calls since the node started (or since the agent was last forgotten).
    pub calls: u64,
    /// Of them, answered with an error.
    pub errors: u64,
    /// Unix seconds of the latest call.
    pub last_at: i64,
}

/// Per-second counts, oldest first, ending with the current second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Rates {
    /// Seconds covered.
    pub window_s: u32,
    /// Gateway calls per second.
    pub invocations: Vec<u32>,
    /// Gateway errors per second.
    pub errors: Vec<u32>,
    /// Registrations per second.
    pub registrations: Vec<u32>,
    /// Discovery queries per second.
    pub discoveries: Vec<u32>,
}

/// Counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Totals {
    /// Gateway calls.
    pub invocations: u64,
    /// Gateway errors.
    pub errors: u64,
    /// Registrations accepted.
    pub registrations: u64,
    /// Discovery queries.
    pub discoveries: u64,
    /// Agents not counted per agent because the node's limit of were.
    pub untracked: u64,
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

/// `GET /` for clients: what this is and where its API starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Index {
    /// Always `agentmesh`.
    pub name: String,
    /// Software version.
    pub version: String,
    /// The node's did:key.
    pub node_id: String,
    /// The API's OpenAPI document.
    pub openapi: String,
    /// Discovery and registration.
    pub agents: String,
    /// The node's identity, counters and activity.
    pub node: String,
}

/// `GET /v1/resolve?ref=`: the live agents a reference as people type it names — a did:key or
/// its prefix, the short form tables print (`z6Mk…mH8AzofB`), or a card name (any case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Resolved {
    /// At most ten agents (fifty with `prefix=true`), by ID.
    pub matches: Vec<ResolvedAgent>,
    /// Whether more matched than are listed.
    pub more: bool,
}

/// One agent a reference names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct ResolvedAgent {
    /// Its did:key.
    pub agent_id: String,
    /// Its card's name.
    pub name: String,
}

/// A node's place in the DHT (docs/protocol.md §7b).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct DhtInfo {
    /// Its libp2p PeerId (`12D3KooW…`): the same Ed25519 key as `node_id`.
    pub peer_id: String,
    /// Where it listens, each ending in `/p2p/<peer_id>`: what other nodes bootstrap from.
    pub multiaddrs: Vec<String>,
    /// Peers in its routing table.
    pub routing_peers: u64,
    /// Records it holds in its part of the DHT (cards and node records, its own and others').
    #[serde(default)]
    pub records: u64,
    /// Provider keys it provides (tags, skills, protocols, semantic buckets of its cards).
    #[serde(default)]
    pub provided: u64,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /v1/agents?q=&tags=&protocol=&min_trust=&limit=`: discovery results, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Discovered {
    /// The matches, best first.
    pub results: Vec<DiscoverHit>,
    /// Time the node took, milliseconds.
    pub took_ms: f64,
    /// The ID of the embedding model that ranked them (similarities of different models are
    /// not comparable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// One discovery match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct DiscoverHit {
    /// The agent.
    pub agent_id: String,
    /// The ranking score (docs/protocol.md §6, Discovery).
    pub score: f64,
    /// Cosine similarity of the query and the card.
    pub similarity: f64,
    /// Lexical match of the query's words, 0–1.
    pub lexical: f64,
    /// This node's trust score of the agent.
    pub trust: f64,
    /// The signed card, exactly as the agent signed it.
    pub card: Envelope,
    /// In DHT mode, for a match found at another node: that node's API URL (absent for this
    /// node's own matches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Trust
// ---------------------------------------------------------------------------------------------

/// Kinds of outcome, declared in [`OutcomeKind::ALL`] order (so `kind as usize` indexes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Answered (any status below 500).
    Success,
    /// 5xx or no connection.
    Failure,
    /// No answer within the gateway's timeout.
    Timeout,
    /// Its own response signature failed.
    BadSignature,
    /// Sent more than the callee accepts.
    RateLimit,
}

impl OutcomeKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::Failure,
        Self::Timeout,
        Self::BadSignature,
        Self::RateLimit,
    ];

    /// This kind's position in [`OutcomeKind::ALL`] (and in count arrays).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Timeout => "timeout",
            Self::BadSignature => "bad_signature",
            Self::RateLimit => "rate_limit",
        }
    }
}

/// Event counts by kind, as they appear on the wire and in the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct EventCounts {
    /// Successes.
    pub success: u64,
    /// Failures.
    pub failure: u64,
    /// Timeouts.
    pub timeout: u64,
    /// Bad response signatures.
    pub bad_signature: u64,
    /// Rate-limit violations.
    pub rate_limit: u64,
}

impl EventCounts {
    /// Counts given in [`OutcomeKind::ALL`] order.
    pub fn from_array(c: [u64; 5]) -> Self {
        Self {
            success: c[0],
            failure: c[1],
            timeout: c[2],
            bad_signature: c[3],
            rate_limit: c[4],
        }
    }

    /// The counts in [`OutcomeKind::ALL`] order.
    pub fn to_array(self) -> [u64; 5] {
        [
            self.success,
            self.failure,
            self.timeout,
            self.bad_signature,
            self.rate_limit,
        ]
    }

    /// All events.
    pub fn total(&self) -> u64 {
        self.to_array().iter().sum()
    }
}

/// One hour of history on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct HourView {
    /// The hour's start, RFC 3339.
    pub at: String,
    /// Score after the hour's last event.
    pub score: f64,
    /// Events in the hour.
    pub counts: EventCounts,
}

/// `GET /v1/trust/{id}` (docs/protocol.md §6): one agent's score and its breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct TrustView {
    /// The agent.
    pub agent_id: String,
    /// `(α+1)/(α+β+2)` as of now.
    pub score: f64,
    /// Positive evidence, decayed to now.
    pub alpha: f64,
    /// Negative evidence, decayed to now.
    pub beta: f64,
    /// Every event seen, by kind.
    pub counts: EventCounts,
    /// When the latest event happened, RFC 3339.
    pub last_event_at: Option<String>,
    /// The latest event's kind.
    pub last_event: Option<OutcomeKind>,
    /// Hourly history, oldest first (kept `HISTORY_HOURS` (168) hours).
    pub history: Vec<HourView>,
    /// Whether this node has seen any event about the agent.
    pub known: bool,
    /// Of the events, how many were admin reports.
    pub reports: u64,
    /// The latest admin report.
    pub last_report: Option<Report>,
    /// When α and β were last decayed in memory (reads decay lazily on top), RFC 3339.
    pub last_decay_at: String,
    /// Half-life of evidence, seconds.
    pub half_life_s: u64,
}

/// One agent in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct TrustSummary {
    /// The agent.
    pub agent_id: String,
    /// Score as of now.
    pub score: f64,
    /// Positive evidence as of now.
    pub alpha: f64,
    /// Negative evidence as of now.
    pub beta: f64,
    /// Events seen.
    pub events: u64,
    /// When the latest event happened, RFC 3339.
    pub last_event_at: Option<String>,
    /// The same in unix seconds (for sorting).
    #[serde(skip)]
    #[cfg_attr(feature = "node", schema(ignore))]
    pub last_event_unix: Option<i64>,
}

/// An admin's report, kept for the breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Report {
    /// The admin's did:key.
    pub by: String,
    /// The event reported.
    pub kind: OutcomeKind,
    /// Free text.
    pub note: Option<String>,
    /// When it was reported (unix seconds here; RFC 3339 on the wire and in the store, which
    /// also reads the unix seconds older versions wrote).
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "node", schema(value_type = String, format = DateTime))]
    pub at: i64,
}

/// `GET /v1/trust?sort=&limit=`: agents by score, events or recency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct TrustList {
    /// One page of the listing.
    pub agents: Vec<TrustListed>,
    /// Agents with a trust record here.
    pub total: u64,
}

/// One agent of a [`TrustList`]: its summary and its card's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct TrustListed {
    /// Score and counts.
    #[serde(flatten)]
    pub summary: TrustSummary,
    /// The card's name (absent when this node holds no card of it).
    pub name: Option<String>,
}

/// `POST /v1/trust/{id}/events`: an admin's report of an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TrustReport {
    /// What happened.
    pub event: OutcomeKind,
    /// Free text, kept with the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Federation
// ---------------------------------------------------------------------------------------------

/// A signed peer announcement (`POST /v1/peers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    /// The announcing node's did:key.
    pub node_id: String,
    /// Where it answers.
    pub url: String,
    /// RFC 3339.
    pub issued_at: String,
    /// Ed25519 over `AGENTMESH-PEER-V1\\n<node_id>\\n<url>\\n<issued_at>` (docs/protocol.md §5), base64url.
    pub signature: String,
}

/// `GET /v1/peers` and the answer to `POST /v1/peers` (peer exchange).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Peers {
    /// The peers this node knows.
    pub peers: Vec<PeerView>,
}

/// A push digest `[agent_id, issued_at (unix seconds), signature prefix]`.
pub type Digest = (String, i64, String);

/// `POST /v1/sync/push`: fresh records from a peer (signed), or an unsigned offer of digests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyncPush {
    /// The pushing node's did:key.
    pub from: String,
    /// Signed envelopes (tombstones included).
    #[serde(default)]
    #[cfg_attr(feature = "node", schema(value_type = Vec<Envelope>))]
    pub records: Vec<Value>,
    /// Digests offered before records are sent; the answer's `want` picks among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "node", schema(value_type = Vec<Vec<Value>>))]
    pub offer: Vec<Digest>,
}

/// The answer to a [`SyncPush`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SyncPushed {
    /// Records stored as new.
    pub accepted: usize,
    /// Records already held (or older).
    pub stale: usize,
    /// Records refused.
    pub rejected: usize,
    /// Indexes of the offered digests this node does not hold.
    pub want: Vec<usize>,
}

/// Times on the wire: RFC 3339 UTC with whole seconds (`2026-12-05T20:50:29Z`), the one
/// format of every timestamp in the API. Readers also take unix seconds, so records written by
/// an older version still read.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::encoding::{format_rfc3339, parse_rfc3339};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Unix(i64),
        Text(String),
    }

    impl Either {
        fn unix<E: serde::de::Error>(self) -> Result<i64, E> {
            match self {
                Self::Unix(n) => Ok(n),
                Self::Text(s) => parse_rfc3339(&s)
                    .ok_or_else(|| E::custom(format!("`{s}` is not an RFC 3339 UTC time"))),
            }
        }
    }

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Either::deserialize(d)?.unix()
    }

    pub(super) fn serialize<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(*t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        read(d)
    }

    /// `Option<i64>`: `null` when absent.
    pub(super) mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<i64>, D::Error> {
            Option::<super::Either>::deserialize(d)?
                .map(super::Either::unix)
                .transpose()
        }
    }

    /// Unix milliseconds, written to the second.
    pub(super) mod millis {
        use serde::{Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(&ms.div_euclid(1000), s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
            Ok(super::read(d)?.saturating_mul(1000))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_travel_as_rfc3339_and_old_unix_seconds_still_read() {
        let row = AgentRow {
            last_call_at: Some(1_795_478_400),
            ..AgentRow::default()
        };
        let v = serde_json::to_value(&row).expect("ser");
        assert_eq!(v["last_call_at"], "2026-11-24T00:00:00Z");
        assert_eq!(serde_json::from_value::<AgentRow>(v).expect("de"), row);
        let none = serde_json::to_value(AgentRow::default()).expect("ser");
        assert!(none["last_call_at"].is_null());
        let event = NodeEvent {
            seq: 1,
            at_ms: 1_795_478_400_123,
            kind: "invoke".into(),
            agent_id: None,
            ok: true,
            text: String::new(),
        };
        let v = serde_json::to_value(&event).expect("ser");
        assert_eq!(v["at"], "2026-11-24T00:00:00Z");
        assert!(v.get("at_ms").is_none());
        assert_eq!(
            serde_json::from_value::<NodeEvent>(v).expect("de").at_ms,
            1_795_478_400_000
        );
        // A report as an older version stored it (unix seconds) reads, and is written anew.
        let old = serde_json::json!({"by": "did:key:z", "kind": "failure", "note": null, "at": 1_795_478_400});
        let r: Report = serde_json::from_value(old).expect("old report");
        assert_eq!(r.at, 1_795_478_400);
        assert_eq!(
            serde_json::to_value(&r).expect("ser")["at"],
            "2026-11-24T00:00:00Z"
        );
        assert!(
            serde_json::from_value::<Report>(
                serde_json::json!({"by": "x", "kind": "failure", "note": null, "at": "yesterday"})
            )
            .is_err()
        );
    }

    /// The shapes docs/protocol.md §6 gives, field for field.
    /// Each code serializes as the string `as_str` gives (the enum and the wire agree).
    #[test]
    fn error_codes_travel_as_their_strings() {
        for c in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(c).expect("json"),
                serde_json::json!(c.as_str())
            );
        }
    }

    #[test]
    fn bodies_have_the_protocol_shapes() {
        let e = serde_json::to_value(ErrorBody::new("stale", "older")).expect("json");
        assert_eq!(
            e,
            serde_json::json!({"error": {"code": "stale", "message": "older"}})
        );
        let page: SyncPage = serde_json::from_value(serde_json::json!({
            "node_id": "n", "records": [{"seq": 3, "card": {"manifest": {}}}],
            "next": 3, "more": false, "last_seq": 9, "added_later": true
        }))
        .expect("a page, unknown fields ignored");
        assert_eq!(
            (page.next, page.records[0].seq, page.last_seq),
            (3, 3, Some(9))
        );
        let r = serde_json::to_value(Registered {
            agent_id: "a".into(),
            seq: 1,
            status: "created".into(),
        })
        .expect("json");
        assert_eq!(
            r,
            serde_json::json!({"agent_id": "a", "seq": 1, "status": "created"})
        );
    }
}
