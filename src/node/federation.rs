//! Federation API (docs/protocol.md §6): `GET /v1/sync`, `POST /v1/sync/fetch`,
//! `POST /v1/sync/push`, `GET /v1/peers`, `POST /v1/peers`.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};

use super::{ApiError, AppState};
use crate::encoding::now_unix;
use crate::federation::Announcement;
use crate::wire::{ErrorCode, Peers, SyncDigest, SyncFetch, SyncPush, SyncPushed};

/// Records per sync page at most (and sequence numbers per fetch).
pub const MAX_SYNC_PAGE: usize = 1000;
/// Largest `POST /v1/sync/fetch` body: 1,000 sequence numbers of up to 19 digits.
pub const MAX_FETCH_BYTES: usize = 24 * 1024;
/// Largest push body from a peer (a batch of records, each up to 64 KiB).
pub const MAX_PUSH_BYTES: usize = 16 * 1024 * 1024;
/// Largest push body from a node that is not a peer: an offer of digests (a batch of 256 is
/// ~30 KB), or records it would be refused for anyway.
pub const MAX_UNSIGNED_PUSH_BYTES: usize = 256 * 1024;

/// `GET /v1/sync?since=<seq>&limit=<n>[&digests=true]`: records in this node's sequence order,
/// or only their digests.
#[utoipa::path(get, path = "/v1/sync", tag = "federation",
    params(
        ("since" = Option<i64>, Query, minimum = 0, description = "Sequence number to read after (0)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Most records (500)"),
        ("digests" = Option<bool>, Query, description = "Answer with the records' digests instead of the records (false)"),
    ),
    responses((status = 200, description = "Records in this node's sequence order", body = crate::wire::SyncPage)))]
pub async fn sync(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<(HeaderMap, Bytes), ApiError> {
    let mut since = 0i64;
    let mut limit = 500usize;
    let mut digests = false;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "digests" => {
                digests = match v.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(ApiError::bad_field("digests", "must be true or false")),
                };
            }
            "since" => {
                since = v
                    .parse()
                    .ok()
                    .filter(|s: &i64| *s >= 0)
                    .ok_or_else(|| ApiError::bad_field("since", "must be an integer ≥ 0"))?;
            }
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_SYNC_PAGE).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_field(
                            "limit",
                            format!("must be an integer in 1–{MAX_SYNC_PAGE}"),
                        )
                    })?;
            }
            other => {
                return Err(ApiError::bad_field(
                    other,
                    "unknown query parameter (use since, limit, digests)",
                ));
            }
        }
    }
    let last_seq = state.store().max_seq().await?;
    let (records, digests, more) = if digests {
        let (rows, more) = state
            .store()
            .digests_since(since, limit, crate::federation::sync::DIGEST_SIG_CHARS)
            .await?;
        let digests = rows
            .into_iter()
            .map(|(seq, id, at, sig)| SyncDigest {
                seq,
                digest: (id, at, sig),
            })
            .collect();
        (Vec::new(), digests, more)
    } else {
        let page = state.store().cards_since(since, limit).await?;
        (records_of(page.cards), Vec::new(), page.more)
    };
    let next = records
        .last()
        .map(|r: &crate::wire::SyncRecord| r.seq)
        .or(digests.last().map(|d: &SyncDigest| d.seq))
        .unwrap_or(since);
    let body = serde_json::to_vec(&crate::wire::SyncPage {
        node_id: state.node().id().to_string(),
        records,
        digests,
        next,
        more,
        last_seq: Some(last_seq),
        gossip_udp: state.federation().gossip_port(),
    })
    .map_err(ApiError::internal)?;
    json_answer(&state, body)
}

fn records_of(cards: Vec<crate::store::StoredCard>) -> Vec<crate::wire::SyncRecord> {
    cards
        .into_iter()
        .map(|c| crate::wire::SyncRecord {
            seq: c.seq,
            card: c.envelope,
        })
        .collect()
}

/// A JSON body, counted as federation bytes sent.
fn json_answer(state: &AppState, body: Vec<u8>) -> Result<(HeaderMap, Bytes), ApiError> {
    let fed = state.federation();
    fed.stats
        .bytes_sent
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let mut headers = HeaderMap::new();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok((headers, Bytes::from(body)))
}

/// `POST /v1/sync/fetch`: the records at the sequence numbers of a digest page (those still
/// stored there: a card updated since has moved to a higher one), ascending.
#[utoipa::path(post, path = "/v1/sync/fetch", tag = "federation",
    request_body(content = SyncFetch, description = "At most 1,000 sequence numbers"),
    responses(
        (status = 200, description = "The records, in a page whose `more` is false", body = crate::wire::SyncPage),
        (status = 400, description = "`invalid_json` or `invalid_field`", body = crate::wire::ErrorBody),
        (status = 413, description = "`too_large`", body = crate::wire::ErrorBody),
    ))]
pub async fn fetch(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(HeaderMap, Bytes), ApiError> {
    let body = body?;
    let ask: SyncFetch = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("expected {{\"seqs\": [sequence number, …]}}: {e}"),
        )
    })?;
    if ask.seqs.len() > MAX_SYNC_PAGE {
        return Err(ApiError::bad_field(
            "seqs",
            format!("at most {MAX_SYNC_PAGE} per fetch"),
        ));
    }
    let cards = state.store().cards_at(ask.seqs).await?;
    let next = cards.last().map_or(0, |c| c.seq);
    let body = serde_json::to_vec(&crate::wire::SyncPage {
        node_id: state.node().id().to_string(),
        records: records_of(cards),
        digests: Vec::new(),
        next,
        more: false,
        last_seq: None,
        gossip_udp: state.federation().gossip_port(),
    })
    .map_err(ApiError::internal)?;
    json_answer(&state, body)
}

/// `POST /v1/sync/push`: a peer's fresh records, in a request it signed (docs/protocol.md §4, target =
/// this node), each verified on its own — a push with invalid records charges the signer a
/// `bad_signature` trust event — or an unsigned offer of digests, answered with `want`.
#[utoipa::path(post, path = "/v1/sync/push", tag = "federation",
    request_body(content = crate::wire::SyncPush, description = "Records (signed by the pushing node, docs/protocol.md §4) or an unsigned offer of digests"),
    responses(
        (status = 200, description = "How the records went, and which offered digests are wanted", body = crate::wire::SyncPushed),
        (status = 401, description = "Records without a valid signature of the pusher", body = crate::wire::ErrorBody),
        (status = 411, description = "A push from a non-peer must declare its length", body = crate::wire::ErrorBody),
        (status = 413, description = "`too_large`", body = crate::wire::ErrorBody),
        (status = 422, description = "`invalid_field`: `from` is not the signer", body = crate::wire::ErrorBody),
    ))]
pub async fn push(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SyncPushed>, ApiError> {
    let body = body?;
    let header = super::signed_header_lookup(&headers)?;
    let push: SyncPush = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("expected {{\"from\", \"records\": [envelope, …]}}: {e}"),
        )
    })?;
    // Records must come in a request their pusher signed, so a bad one is charged to the
    // right node. An offer of digests alone changes nothing here and needs no signature (under
    // flooding most pushes are offers; verifying each would be most of the CPU).
    let caller = if push.records.is_empty() {
        push.from.clone()
    } else {
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        state
            .verifier()
            .verify(header, "POST", path, &body, now_unix())
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.error_code(), e.to_string()))?
    };
    if push.from != caller {
        return Err(ApiError::bad_field(
            "from",
            format!("says {} but the request is signed by {caller}", push.from),
        ));
    }
    let fed = state.federation();
    let want: Vec<usize> = fed
        .wants(&push.offer)
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let merged = crate::federation::sync::merge(&state, push.records).await;
    fed.stats
        .pushed_in
        .fetch_add(merged.accepted as u64, Ordering::Relaxed);
    if merged.rejected > 0 {
        crate::federation::sync::penalize(&state, &caller, merged.rejected).await;
    }
    if merged.errors > 0 {
        return Err(ApiError::internal(format!(
            "{} pushed records could not be stored",
            merged.errors
        )));
    }
    Ok(Json(SyncPushed {
        accepted: merged.accepted,
        stale: merged.stale,
        rejected: merged.rejected,
        want,
    }))
}

/// `GET /v1/peers`.
#[utoipa::path(get, path = "/v1/peers", tag = "federation",
    responses((status = 200, description = "The peers this node knows", body = crate::wire::Peers)))]
pub async fn peers(State(state): State<AppState>) -> Json<Peers> {
    Json(Peers {
        peers: state.federation().peer_views(),
    })
}

/// `POST /v1/peers`: a signed announcement. The URL must answer `GET /v1/node` with the
/// announced ID before the peer is kept. Answers with this node's peers (peer exchange).
#[utoipa::path(post, path = "/v1/peers", tag = "federation",
    request_body(content = crate::wire::Announcement, description = "A node announcing itself, signed by its key"),
    responses(
        (status = 200, description = "Kept; this node's peers (peer exchange)", body = crate::wire::Peers),
        (status = 401, description = "`bad_signature`", body = crate::wire::ErrorBody),
        (status = 413, description = "`too_large`", body = crate::wire::ErrorBody),
        (status = 422, description = "`invalid_field`: the URL does not answer as the node", body = crate::wire::ErrorBody),
    ))]
pub async fn announce(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Peers>, ApiError> {
    let body = body?;
    let ann: Announcement = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("expected {{\"node_id\",\"url\",\"issued_at\",\"signature\"}}: {e}"),
        )
    })?;
    crate::identity::public_from_did(&ann.node_id)?;
    if !(ann.url.starts_with("http://") || ann.url.starts_with("https://")) {
        return Err(ApiError::bad_field("url", "must be an http(s) base URL"));
    }
    ann.verify(now_unix()).map_err(|e| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::BadSignature,
            e.to_string(),
        )
    })?;
    let fed = state.federation();
    if ann.node_id == fed.node_id() {
        return Err(ApiError::bad_field("node_id", "is this node's own ID"));
    }
    let (answered, gossip_udp) = fed
        .check_node(&ann.url)
        .await
        .map_err(|e| ApiError::bad_field("url", format!("{} does not answer: {e}", ann.url)))?;
    if answered != ann.node_id {
        return Err(ApiError::bad_field(
            "url",
            format!("{} answers as {answered}, not {}", ann.url, ann.node_id),
        ));
    }
    let peers = fed.peer_views();
    if fed.add_announced_peer(&ann.node_id, &ann.url) {
        tracing::info!(peer = ann.node_id, url = ann.url, "peer announced itself");
        fed.learn_gossip(&ann.node_id, &ann.url, gossip_udp).await;
        if let Some(row) = fed.peer_row(&ann.node_id) {
            state.store().put_peer(row).await?;
        }
    }
    Ok(Json(Peers { peers }))
}

impl crate::federation::Host for AppState {
    fn federation(&self) -> &std::sync::Arc<crate::federation::Federation> {
        AppState::federation(self)
    }

    fn store(&self) -> &crate::store::Store {
        AppState::store(self)
    }

    fn accept(
        &self,
        card: crate::card::Card,
    ) -> impl Future<Output = Result<crate::store::PutOutcome, crate::store::StoreError>> + Send
    {
        super::ingest::accept(self, card)
    }

    fn outcomes(&self) -> &dyn crate::events::OutcomeSink {
        AppState::outcomes(self).as_ref()
    }

    fn sync_round(&self, peer: &str, outcome: &'static str) {
        self.metrics().sync_round(peer, outcome);
    }

    fn event(&self, kind: &'static str, agent_id: Option<&str>, ok: bool, text: String) {
        self.activity().event(kind, agent_id, ok, text);
    }
}
