//! `GET /v1/node` (everything `agentmesh top` shows, in one call) and `GET /metrics`.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::activity::EVENT_RING;
use super::metrics::Snapshot;
use super::{ApiError, AppState};
use crate::wire::TunnelInfo;

pub use crate::wire::{
    AgentRow, GatewayInfo, MAX_AGENTS, NodeInfo, RelayInfo, StoreInfo, SyncInfo, TrustInfo,
};
const DEFAULT_AGENTS: usize = 50;
const DEFAULT_EVENTS: usize = 100;

struct InfoQuery {
    challenge: Option<String>,
    agents: usize,
    events: usize,
    events_since: u64,
}

fn parse_query(raw: Option<&str>) -> Result<InfoQuery, ApiError> {
    let mut q = InfoQuery {
        challenge: None,
        agents: DEFAULT_AGENTS,
        events: DEFAULT_EVENTS,
        events_since: 0,
    };
    let number = |k: &str, v: &str, max: usize| -> Result<usize, ApiError> {
        v.parse::<usize>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| ApiError::bad_field(k, format!("must be a whole number 0–{max}")))
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "challenge" => match crate::encoding::b64url_decode(&v) {
                Ok(b) if (16..=64).contains(&b.len()) => q.challenge = Some(v.into_owned()),
                _ => {
                    return Err(ApiError::bad_field(
                        "challenge",
                        "must be 16–64 bytes of base64url",
                    ));
                }
            },
            "agents" => q.agents = number("agents", &v, MAX_AGENTS)?,
            "events" => q.events = number("events", &v, 2 * EVENT_RING)?,
            "events_since" => {
                q.events_since = v.parse().map_err(|_| {
                    ApiError::bad_field("events_since", "must be an event seq (a whole number)")
                })?;
            }
            other => {
                return Err(ApiError::bad_field(
                    other,
                    "unknown query parameter (use challenge, agents, events or events_since)",
                ));
            }
        }
    }
    Ok(q)
}

/// `GET /v1/node?challenge=&agents=&events=&events_since=`.
#[utoipa::path(get, path = "/v1/node", tag = "node",
    params(
        ("challenge" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{22,86}$", description = "16–64 bytes of base64url for the node to sign"),
        ("agents" = Option<u32>, Query, minimum = 0, maximum = 500, description = "Most agents listed"),
        ("events" = Option<u32>, Query, minimum = 0, maximum = 512, description = "Most events listed"),
        ("events_since" = Option<u64>, Query, minimum = 0, description = "Only events after this seq"),
    ),
    responses((status = 200, description = "The node's identity, counters and activity", body = crate::wire::NodeInfo)))]
pub async fn node_info(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<NodeInfo>, ApiError> {
    let q = parse_query(raw.as_deref())?;
    let challenge_signature = q.challenge.map(|c| {
        state
            .node()
            .sign_b64(crate::federation::node_challenge_string(state.node().id(), &c).as_bytes())
    });
    let snap = snapshot(&state).await?;
    let tunnel_list = state.relay().tunnels();
    let top_agents = top_agents(&state, &tunnel_list, q.agents).await?;
    let (events, events_seq) = state.activity().events(q.events_since, q.events);
    let fed = &state.federation().stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let dht = match state.dht() {
        Some(d) => {
            let held = d.holdings().await.unwrap_or_default();
            Some(crate::wire::DhtInfo {
                peer_id: d.peer_id().to_string(),
                multiaddrs: d.multiaddrs().iter().map(ToString::to_string).collect(),
                routing_peers: held.routing_peers as u64,
                records: held.records as u64,
                provided: held.providers as u64,
            })
        }
        None => None,
    };
    let rerank = state.discovery().rerank().map(|r| {
        let p = r.progress();
        crate::wire::RerankInfo {
            model: r.model_id().to_string(),
            ready: p.ready,
            queued: p.queued,
            embedded: p.embedded,
            scanning: p.scanning,
        }
    });
    let gossip = state.federation().gossip();
    Ok(Json(NodeInfo {
        dht,
        rerank,
        node_id: state.node().id().to_string(),
        challenge_signature,
        version: crate::VERSION.to_string(),
        public_url: state.inner.public_url.clone(),
        uptime_s: snap.uptime_s as u64,
        agents: snap.agents,
        indexed: snap.indexed,
        model: state.discovery().model_id().to_string(),
        search: state.discovery().search_kind().to_string(),
        graph_pending: state.discovery().graph_pending() as u64,
        peers: snap.peers,
        gossip_udp: gossip.map(|g| g.port()),
        tunnels: snap.tunnels,
        sync: SyncInfo {
            pulled: load(&fed.pulled),
            pull_records: load(&fed.pull_records),
            pushed_in: load(&fed.pushed_in),
            pushed_out: load(&fed.pushed_out),
            rejected: load(&fed.rejected),
            pull_rounds: load(&fed.pull_rounds),
            bytes_sent: load(&fed.bytes_sent),
            offer_datagrams: gossip.map_or(0, |g| load(&g.stats.offers)),
            offers_unanswered: gossip.map_or(0, |g| load(&g.stats.fallbacks)),
            datagrams_refused: gossip.map_or(0, |g| load(&g.stats.refused)),
        },
        gateway: GatewayInfo {
            responses_unchecked: state.gateway().responses_unchecked(),
        },
        relay: RelayInfo {
            frames_in: snap.frames.0,
            frames_out: snap.frames.1,
        },
        trust: TrustInfo {
            agents: snap.trust_agents,
            events: snap.trust_events.iter().sum(),
            reports: snap.trust_reports,
        },
        store: StoreInfo {
            commits: snap.commits.0,
            writes: snap.commits.1,
            max_batch: state.store().batch_stats().max_batch,
        },
        totals: state.activity().totals(),
        rates: state.activity().rates(),
        peer_list: state.federation().peer_views(),
        tunnel_list,
        top_agents,
        events,
        events_seq,
    }))
}

/// Counters gathered from every module (shared by `/v1/node` and `/metrics`).
async fn snapshot(state: &AppState) -> Result<Snapshot, ApiError> {
    let fed = &state.federation().stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let batches = state.store().batch_stats();
    Ok(Snapshot {
        agents: state.store().live_count().await?,
        indexed: state.discovery().len() as u64,
        peers: state.federation().peer_count() as u64,
        tunnels: state.relay().len() as u64,
        frames: state.relay().frames(),
        pulled: (load(&fed.pulled), load(&fed.pull_records)),
        pushed: (load(&fed.pushed_in), load(&fed.pushed_out)),
        rejected: load(&fed.rejected),
        trust_events: state.trust().events_by_kind(),
        trust_reports: state.trust().reports_seen(),
        trust_agents: state.trust().len() as u64,
        commits: (batches.commits, batches.jobs),
        uptime_s: state.inner.started.elapsed().as_secs_f64(),
        connections: {
            let c = state.connections();
            [
                &c.open,
                &c.evicted,
                &c.refused,
                &c.head_timeouts,
                &c.bad_heads,
            ]
            .map(load)
        },
    })
}

/// Agents worth showing, each with a live card here: called lately, holding a tunnel, most
/// trusted, with the latest trust events, or registered lately — in that order of preference,
/// at most `limit` — listed by trust, highest first.
async fn top_agents(
    state: &AppState,
    tunnels: &[TunnelInfo],
    limit: usize,
) -> Result<Vec<AgentRow>, ApiError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut ids: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let recent = state.activity().recent_agents(limit);
    // A pass over every trust record: off the async workers.
    let trust = state.trust().clone();
    let (most_trusted, latest_events) = tokio::task::spawn_blocking(move || trust.top_ids(limit))
        .await
        .map_err(ApiError::internal)?;
    // A node nobody has called yet still shows what it holds.
    let newest = state.store().newest_live(limit).await?;
    let candidates: Vec<String> = recent
        .into_iter()
        .map(|(id, _)| id)
        .chain(tunnels.iter().map(|t| t.agent_id.clone()))
        .chain(most_trusted)
        .chain(latest_events)
        .chain(newest)
        .filter(|id| seen.insert(id.clone()))
        .collect();
    // Only agents with a live card here are rows: a revoked or unknown one would be a `?`.
    let cards = state.store().get_cards(candidates.clone()).await?;
    let live: HashSet<&str> = cards
        .iter()
        .filter(|c| !c.revoked && c.expires_at.is_none_or(|e| e > crate::encoding::now_unix()))
        .map(|c| c.agent_id.as_str())
        .collect();
    ids.extend(
        candidates
            .iter()
            .filter(|id| live.contains(id.as_str()))
            .take(limit)
            .cloned(),
    );
    let online: HashSet<&str> = tunnels.iter().map(|t| t.agent_id.as_str()).collect();
    let mut rows: Vec<AgentRow> = ids
        .into_iter()
        .map(|id| {
            let card = cards.iter().find(|c| c.agent_id == id && !c.revoked);
            let m = card.and_then(crate::store::StoredCard::summary);
            let (trust, trust_delta, trust_events) = state.trust().score_and_delta(&id);
            let calls = state.activity().calls(&id);
            let relayed = m
                .as_ref()
                .and_then(|m| m.endpoint.as_deref())
                .is_some_and(|e| e.starts_with("relay://"));
            let (name, protocols, endpoint, description) = m
                .map(|m| (Some(m.name), m.protocols, m.endpoint, m.description))
                .unwrap_or_default();
            AgentRow {
                name,
                protocols,
                endpoint,
                description,
                relayed,
                trust,
                trust_delta,
                trust_events,
                calls: calls.calls,
                errors: calls.errors,
                last_call_at: (calls.calls > 0).then_some(calls.last_at),
                online: online.contains(id.as_str()),
                agent_id: id,
            }
        })
        .collect();
    // Highest trust first; equal scores by ID, so the order is stable between polls.
    rows.sort_by(|a, b| {
        b.trust
            .total_cmp(&a.trust)
            .then_with(|| a.agent_id.cmp(&b.agent_id))
    });
    Ok(rows)
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let snap = snapshot(&state).await?;
    let text = state.metrics().render(&snap);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
