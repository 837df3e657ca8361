//! Trust API (docs/protocol.md §6): read scores and breakdowns, list agents by score, and admin reports
//! — plus the background loop that keeps discovery's copy of the scores fresh and the records
//! on disk.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use tokio_util::sync::CancellationToken;

use super::{ApiError, AppState, Path};
use crate::encoding::now_unix;
use crate::identity::public_from_did;
use crate::trust::{MAX_LIST, TrustSort, TrustView};
use crate::wire::{ErrorCode, TrustList, TrustListed, TrustReport};

/// Largest report body.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Longest note on a report, in characters.
const MAX_NOTE_CHARS: usize = 1000;
/// How often changed scores reach discovery.
const PUSH_EVERY: Duration = Duration::from_secs(1);
/// How often every record is decayed in memory.
const DECAY_EVERY: Duration = Duration::from_secs(60);
/// How often histogram buffers are drained into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// `GET /v1/trust/{id}`: score and breakdown (neutral for an agent never seen).
#[utoipa::path(get, path = "/v1/trust/{id}", tag = "trust",
    params(("id" = String, Path, pattern = r"^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$", description = "The agent's did:key")),
    responses((status = 200, description = "Score and breakdown (neutral for an agent never seen)", body = crate::wire::TrustView)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TrustView>, ApiError> {
    public_from_did(&id)?;
    Ok(Json(state.trust().view(&id)))
}

/// `GET /v1/trust?sort=score|low|events|recent&limit=N`: agents this node has seen, with their
/// names where a card is stored.
#[utoipa::path(get, path = "/v1/trust", tag = "trust",
    params(
        ("sort" = Option<String>, Query, pattern = "^(score|low|-score|events|recent)$", description = "`score` (default), `low`, `events` or `recent`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Most agents (20)"),
    ),
    responses((status = 200, description = "Agents with a trust record", body = crate::wire::TrustList)))]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TrustList>, ApiError> {
    let mut sort = TrustSort::Score;
    let mut limit = 20;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "sort" => sort = v.parse().map_err(|e| ApiError::bad_field("sort", e))?,
            "limit" => {
                limit = match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIST).contains(&n) => n,
                    _ => {
                        return Err(ApiError::bad_field(
                            "limit",
                            format!("must be an integer in 1–{MAX_LIST}"),
                        ));
                    }
                }
            }
            other => {
                return Err(ApiError::bad_field(
                    other,
                    "unknown query parameter (use sort, limit)",
                ));
            }
        }
    }
    let trust = state.trust().clone();
    let (total, agents) = tokio::task::spawn_blocking(move || trust.list(sort, limit))
        .await
        .map_err(ApiError::internal)?;
    let cards = state
        .store()
        .get_cards(agents.iter().map(|a| a.agent_id.clone()).collect())
        .await?;
    let mut names: std::collections::HashMap<String, String> = cards
        .iter()
        .filter_map(|c| Some((c.agent_id.clone(), c.summary()?.name)))
        .collect();
    let agents = agents
        .into_iter()
        .map(|summary| TrustListed {
            name: names.remove(&summary.agent_id),
            summary,
        })
        .collect();
    Ok(Json(TrustList {
        agents,
        total: total as u64,
    }))
}

/// `POST /v1/trust/{id}/events`: an admin records an outcome. The request must be signed
/// (docs/protocol.md §4) with the node's ID as target, by the node's key or a configured admin:
/// a bad signature is 401, a valid one from anyone else 403.
#[utoipa::path(post, path = "/v1/trust/{id}/events", tag = "trust",
    params(("id" = String, Path, pattern = r"^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$", description = "The agent's did:key")),
    request_body(content = crate::wire::TrustReport, description = "Signed by the node's key or an admin's (docs/protocol.md §4), target = the node"),
    responses(
        (status = 200, description = "The agent's trust after the report", body = crate::wire::TrustView),
        (status = 401, description = "A missing or bad request signature", body = crate::wire::ErrorBody),
        (status = 403, description = "`forbidden`: the signer is not an admin", body = crate::wire::ErrorBody),
        (status = 413, description = "`too_large`", body = crate::wire::ErrorBody),
        (status = 422, description = "`invalid_field`", body = crate::wire::ErrorBody),
    ))]
pub async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TrustView>), ApiError> {
    let body = body?;
    public_from_did(&id)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let header = super::signed_header_lookup(&headers)?;
    let caller = state
        .verifier()
        .verify(header, method.as_str(), path, &body, now_unix())
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.error_code(), e.to_string()))?;
    if !state.is_admin(&caller) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "{caller} is not an admin of this node; add it to `admins` in the node's [serve.trust] config or pass --admin"
            ),
        ));
    }
    let req: TrustReport = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!(
                "expected {{\"event\": \"success|failure|timeout|bad_signature|rate_limit\", \"note\"?: \"…\"}}: {e}"
            ),
        )
    })?;
    if let Some(n) = &req.note
        && n.chars().count() > MAX_NOTE_CHARS
    {
        return Err(ApiError::bad_field(
            "note",
            format!("is longer than {MAX_NOTE_CHARS} characters"),
        ));
    }
    tracing::info!(
        agent_id = id,
        by = caller,
        event = req.event.as_str(),
        "trust report"
    );
    let before = state.trust().score(&id);
    let view = state.trust().report(&id, req.event, req.note, &caller);
    state.discovery().set_trusts([(id.as_str(), view.score)]);
    state.activity().event(
        "report",
        Some(&id),
        matches!(req.event, crate::events::OutcomeKind::Success),
        format!(
            "{} reported by {}: {before:.2} → {:.2}",
            req.event.as_str(),
            crate::identity::short_id(&caller),
            view.score
        ),
    );
    Ok((StatusCode::CREATED, Json(view)))
}

/// Most score changes turned into events per push (the largest moves).
const MAX_CHANGE_EVENTS: usize = 5;
/// A score change at least this big becomes an event.
const EVENT_DELTA: f64 = 0.02;

/// Keeps discovery's scores fresh (and notes the largest moves as events), decays records,
/// flushes changes and drains metric buffers until `stop`; the caller flushes once more after
/// the server has stopped.
pub async fn run_loop(state: AppState, flush_every: Duration, stop: CancellationToken) {
    let mut push = tokio::time::interval(PUSH_EVERY);
    let mut decay = tokio::time::interval(DECAY_EVERY);
    let mut flush = tokio::time::interval(flush_every.max(Duration::from_millis(10)));
    let mut upkeep = tokio::time::interval(UPKEEP_EVERY);
    for t in [&mut push, &mut decay, &mut flush, &mut upkeep] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let trust = state.trust().clone();
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = push.tick() => {
                // Nothing to push (a node nobody has called yet): no trip to a blocking thread.
                if trust.is_empty() {
                    continue;
                }
                let t = trust.clone();
                let d = state.discovery().clone();
                let changes = tokio::task::spawn_blocking(move || {
                    let mut changes = t.take_unpushed();
                    d.set_trusts(changes.iter().map(|(id, _, s)| (id.as_str(), *s)));
                    changes.retain(|(_, from, to)| (to - from).abs() >= EVENT_DELTA);
                    changes.sort_by(|a, b| (b.2 - b.1).abs().total_cmp(&(a.2 - a.1).abs()));
                    changes.truncate(MAX_CHANGE_EVENTS);
                    changes
                })
                .await
                .unwrap_or_default();
                for (id, from, to) in changes {
                    state.activity().event(
                        "trust",
                        Some(&id),
                        to >= from,
                        format!("{from:.2} → {to:.2}"),
                    );
                }
            }
            _ = decay.tick() => {
                let t = trust.clone();
                let _ = tokio::task::spawn_blocking(move || t.decay_all()).await;
            }
            _ = flush.tick() => {
                if let Err(e) = trust.flush(state.store()).await {
                    tracing::warn!(error = %e, "cannot flush trust records; will retry");
                }
            }
            _ = upkeep.tick() => state.metrics().run_upkeep(),
        }
    }
}
