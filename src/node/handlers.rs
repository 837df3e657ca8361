//! Handlers of the registry API (PROTOCOL §3 and §6).

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::card::Card;
use crate::encoding::{format_rfc3339, now_unix};
use crate::identity::public_from_did;
use crate::store::{PutOutcome, StoredCard};

/// `POST /v1/agents`: verify a signed envelope and store it if newer.
pub async fn register(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body?;
    let card = Card::from_slice(&body)?;
    card.check_not_future(now_unix())?;
    let agent_id = card.agent_id.clone();
    let outcome = state.store().put_card(card).await?;
    let (status, seq, word) = match outcome {
        PutOutcome::Created { seq } => (StatusCode::CREATED, seq, "created"),
        PutOutcome::Updated { seq } => (StatusCode::OK, seq, "updated"),
        PutOutcome::Revoked { seq } => (StatusCode::OK, seq, "revoked"),
        PutOutcome::Stale {
            stored_issued_at,
            stored_revoked,
        } => {
            let what = if stored_revoked {
                "tombstone"
            } else {
                "version"
            };
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "stale",
                format!(
                    "a {what} issued at {} is already stored; sign the card with a newer issued_at",
                    format_rfc3339(stored_issued_at)
                ),
            ));
        }
    };
    tracing::debug!(agent_id, seq, status = word, "card stored");
    Ok((
        status,
        Json(json!({"agent_id": agent_id, "seq": seq, "status": word})),
    ))
}

/// Answers 410 for tombstones and expired cards.
fn check_served(card: &StoredCard) -> Result<(), ApiError> {
    if card.revoked {
        return Err(ApiError::new(
            StatusCode::GONE,
            "revoked",
            format!("agent {} has revoked its card", card.agent_id),
        ));
    }
    if let Some(exp) = card.expires_at.filter(|e| *e <= now_unix()) {
        return Err(ApiError::new(
            StatusCode::GONE,
            "not_found",
            format!(
                "the card of agent {} expired at {}",
                card.agent_id,
                format_rfc3339(exp)
            ),
        ));
    }
    Ok(())
}

/// Looks up a live card, mapping unknown/revoked/expired to their errors.
pub async fn live_card(state: &AppState, id: &str) -> Result<StoredCard, ApiError> {
    public_from_did(id)?;
    let card = state
        .store()
        .get_card(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no agent {id} is registered here")))?;
    check_served(&card)?;
    Ok(card)
}

/// `GET /v1/agents/{id}`: the current signed envelope.
pub async fn get_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(live_card(&state, &id).await?.envelope))
}

/// Query of the plain listing.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    after: Option<i64>,
}

/// `GET /v1/agents`: live cards, paged in sequence order (`after` = the last `seq` seen).
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_field("limit", "must be 1–100"));
    }
    let mut after = q.after.unwrap_or(0);
    let now = now_unix();
    let mut results = Vec::new();
    // Skip tombstones and expired cards, reading further pages until the page is full.
    let next = loop {
        let page = state.store().cards_since(after, limit).await?;
        for c in page.cards {
            after = c.seq;
            if c.revoked || c.expires_at.is_some_and(|e| e <= now) {
                continue;
            }
            results.push(json!({"agent_id": c.agent_id, "seq": c.seq, "card": c.envelope}));
            if results.len() == limit {
                break;
            }
        }
        if results.len() == limit || !page.more {
            break (results.len() == limit).then_some(after);
        }
    };
    Ok(Json(json!({
        "results": results,
        "next": next,
        "took_ms": started.elapsed().as_secs_f64() * 1000.0,
    })))
}

/// `GET /v1/node`: what this node is and holds.
pub async fn node_info(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let agents = state.store().live_count().await?;
    let batches = state.store().batch_stats();
    Ok(Json(json!({
        "node_id": state.node().id(),
        "version": crate::VERSION,
        "public_url": state.inner.public_url,
        "uptime_s": state.inner.started.elapsed().as_secs(),
        "agents": agents,
        "peers": 0,
        "tunnels": 0,
        "store": {
            "commits": batches.commits,
            "writes": batches.jobs,
            "max_batch": batches.max_batch,
        },
    })))
}

/// `GET /healthz`.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Any unknown path.
pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// A known path with the wrong method.
pub async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not_found",
        "method not allowed on this path",
    )
}
