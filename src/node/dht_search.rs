//! Discovery in DHT mode (docs/protocol.md §7b): after the local index, the nodes that provide
//! the query's tags and protocol — or, for free text alone, its semantic buckets — are found in
//! the DHT and asked for their own matches (`scope=local`, so the question goes no further),
//! within a bounded fan-out and time. Every card they return is verified here; their trust
//! scores are replaced by this node's (trust is never imported).

use std::collections::HashSet;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::futures::StreamExt as _;

use super::AppState;
use crate::card::Card;
use crate::dht::Dht;
use crate::discovery::Query as SearchQuery;
use crate::discovery::index::TRUST_WEIGHT;
use crate::wire::{DiscoverHit, Discovered};

/// Most other nodes one query is sent to.
pub const MAX_FANOUT: usize = 8;
/// How long finding providers may take.
pub const PROVIDER_WAIT: Duration = Duration::from_millis(1500);
/// How long the providers' answers may take (all in parallel).
pub const ANSWER_WAIT: Duration = Duration::from_millis(2000);
/// Biggest answer read from a node (100 results of 64 KiB cards, with room).
pub const MAX_ANSWER: usize = 8 << 20;
/// Fan-outs in flight at once (per process); a query beyond them gets this node's matches
/// only. Each costs up to 16 provider lookups, 8 node lookups and 8 requests, so a flood of
/// queries must not multiply into the network.
pub const FANOUTS_IN_FLIGHT: usize = 8;

fn fanouts() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(FANOUTS_IN_FLIGHT))
}

/// A match from another node, checked, with this node's trust in it.
pub struct Remote {
    /// The match as this node reports it.
    pub hit: DiscoverHit,
    /// The answering node ranked with the same embedding model as this one.
    pub same_model: bool,
}

/// The nodes to ask: providers of every tag and the protocol (all must match, so the sets are
/// intersected), or else of any of a free-text query's buckets; never this node.
async fn candidates(state: &AppState, dht: &Dht, q: &SearchQuery) -> Vec<PeerId> {
    let discovery = state.discovery();
    let filters: Vec<_> = q
        .tags
        .iter()
        .map(|t| crate::dht::tag_key(t))
        .chain(q.protocol.iter().map(|p| crate::dht::protocol_key(p)))
        .collect();
    let (keys, intersect) = if filters.is_empty() {
        let probes = discovery.query_probes(&q.text);
        let model = discovery.model_id();
        let keys = probes
            .into_iter()
            .map(|b| crate::dht::bucket_key(model, b))
            .collect();
        (keys, false)
    } else {
        (filters, true)
    };
    if keys.is_empty() {
        return Vec::new();
    }
    let lookups = keys.into_iter().map(|key| async move {
        let mut found = HashSet::new();
        if let Ok(mut rx) = dht.providers(key).await {
            let _ = tokio::time::timeout(PROVIDER_WAIT, async {
                while let Some(p) = rx.recv().await {
                    found.insert(p);
                }
            })
            .await;
        }
        found
    });
    let sets = libp2p::futures::future::join_all(lookups).await;
    let me = dht.peer_id();
    let mut peers: Vec<PeerId> = if intersect {
        let mut sets = sets.into_iter();
        let first = sets.next().unwrap_or_default();
        sets.fold(first, |acc, s| acc.intersection(&s).copied().collect())
            .into_iter()
            .collect()
    } else {
        // Peers met in more buckets first: they are likelier to hold close matches.
        let mut counts: std::collections::HashMap<PeerId, usize> = Default::default();
        for p in sets.into_iter().flatten() {
            *counts.entry(p).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().map(|(p, _)| p).collect()
    };
    peers.retain(|p| *p != me);
    peers.truncate(MAX_FANOUT);
    peers
}

/// Asks one provider: where it answers (its node record), then its matches.
async fn ask(state: &AppState, dht: &Dht, peer: PeerId, raw: &str) -> Option<Discovered> {
    let announcement = dht.node_api(peer).await.ok()??;
    let base = announcement.url.trim_end_matches('/');
    let sep = if raw.is_empty() { "" } else { "&" };
    let url = format!("{base}/v1/agents?{raw}{sep}scope=local");
    let res = state.federation().http().get(&url).send().await.ok()?;
    if !res.status().is_success() {
        tracing::debug!(%peer, status = %res.status(), "a DHT provider refused a discovery query");
        return None;
    }
    let body = crate::client::read_capped(res, MAX_ANSWER).await.ok()?;
    let mut answer: Discovered = serde_json::from_slice(&body).ok()?;
    for hit in &mut answer.results {
        hit.via = Some(base.to_string());
    }
    Some(answer)
}

/// The checked matches other nodes hold for `q` (`raw` is the query string as received,
/// without `scope`).
pub async fn remote_hits(state: &AppState, dht: &Dht, q: &SearchQuery, raw: &str) -> Vec<Remote> {
    let Ok(_slot) = fanouts().try_acquire() else {
        tracing::debug!("DHT discovery: {FANOUTS_IN_FLIGHT} fan-outs in flight; answering locally");
        return Vec::new();
    };
    let peers = candidates(state, dht, q).await;
    if peers.is_empty() {
        return Vec::new();
    }
    let asks = peers.into_iter().map(|p| ask(state, dht, p, raw));
    let answers = libp2p::futures::stream::iter(asks)
        .buffer_unordered(MAX_FANOUT)
        .take_until(tokio::time::sleep(ANSWER_WAIT))
        .collect::<Vec<_>>()
        .await;
    let model = state.discovery().ranking_model().to_string();
    // Up to 8 × limit signatures to check: off the async threads.
    let query = q.clone();
    let checked = tokio::task::spawn_blocking(move || {
        answers
            .into_iter()
            .flatten()
            .flat_map(|answer| {
                let same_model = answer.model.as_deref() == Some(model.as_str());
                let limit = query.limit;
                answer
                    .results
                    .into_iter()
                    .take(limit)
                    .filter(|hit| checked_card(hit, &query))
                    .map(move |hit| (hit, same_model))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut out = Vec::new();
    for (mut hit, same_model) in checked {
        let trust = state.trust().score(&hit.agent_id);
        if trust < q.min_trust {
            continue;
        }
        // The remote score carries the remote's trust term: swap in this node's.
        hit.score = if q.text.trim().is_empty() {
            trust
        } else {
            hit.score + f64::from(TRUST_WEIGHT) * (trust - hit.trust)
        };
        hit.trust = trust;
        out.push(Remote { hit, same_model });
    }
    out
}

/// Whether a remote hit's card is valid (a node may lie about anything it returns): signed,
/// of the agent the hit names, live, and passing the query's filters.
fn checked_card(hit: &DiscoverHit, q: &SearchQuery) -> bool {
    let Ok(value) = serde_json::to_value(&hit.card) else {
        return false;
    };
    let Ok(card) = Card::from_value(value) else {
        return false;
    };
    card.agent_id == hit.agent_id
        && !card.revoked
        && card
            .expires_at
            .is_none_or(|at| at > crate::encoding::now_unix())
        && card_matches(&card, q)
}

/// The filters a remote node claims its matches pass, checked against the signed card.
fn card_matches(card: &Card, q: &SearchQuery) -> bool {
    let terms = crate::discovery::CardDoc::from_manifest(card.manifest());
    q.tags
        .iter()
        .all(|t| terms.tags.iter().any(|c| c == &t.to_lowercase()))
        && q.protocol
            .as_ref()
            .is_none_or(|p| terms.protocols.iter().any(|c| c == &p.to_lowercase()))
}
