//! Trust API (PROTOCOL §6): read scores and breakdowns, list agents by score, and admin reports
//! — plus the background loop that keeps discovery's copy of the scores fresh and the records
//! on disk.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{ApiError, AppState};
use crate::discovery::Discovery;
use crate::encoding::now_unix;
use crate::events::OutcomeKind;
use crate::identity::public_from_did;
use crate::store::Store;
use crate::trust::{MAX_LIST, TrustManager, TrustSort, TrustView};

/// Largest report body.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Longest note on a report, in characters.
const MAX_NOTE_CHARS: usize = 1000;
/// How often changed scores reach discovery.
const PUSH_EVERY: Duration = Duration::from_secs(1);
/// How often every record is decayed in memory.
const DECAY_EVERY: Duration = Duration::from_secs(60);

/// `GET /v1/trust/{id}`: score and breakdown (neutral for an agent never seen).
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TrustView>, ApiError> {
    public_from_did(&id)?;
    Ok(Json(state.trust().view(&id)))
}

/// `GET /v1/trust?sort=score|low|events|recent&limit=N`: agents this node has seen, with their
/// names where a card is stored.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
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
    let names: std::collections::HashMap<&str, &str> = cards
        .iter()
        .filter_map(|c| {
            Some((
                c.agent_id.as_str(),
                c.envelope["manifest"]["name"].as_str()?,
            ))
        })
        .collect();
    let agents: Vec<Value> = agents
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).expect("plain data serializes");
            v["name"] = json!(names.get(a.agent_id.as_str()));
            v
        })
        .collect();
    Ok(Json(json!({"agents": agents, "total": total})))
}

/// A report's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    event: OutcomeKind,
    note: Option<String>,
}

/// `POST /v1/trust/{id}/events`: an admin records an outcome. The request must be signed
/// (PROTOCOL §4) with the node's ID as target, by the node's key or a configured admin:
/// a bad signature is 401, a valid one from anyone else 403.
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
    let header = super::header_lookup(&headers);
    let caller = state
        .verifier()
        .verify(header, method.as_str(), path, &body, now_unix())
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string()))?;
    if !state.is_admin(&caller) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{caller} is not an admin of this node; add it to `admins` in the node's [serve.trust] config or pass --admin"
            ),
        ));
    }
    let req: ReportBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
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
    let view = state.trust().report(&id, req.event, req.note, &caller);
    state.discovery().set_trusts(&[(id.clone(), view.score)]);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Keeps discovery's scores fresh, decays records and flushes changes until `stop`; the caller
/// flushes once more after the server has stopped.
pub async fn run_loop(
    trust: Arc<TrustManager>,
    store: Store,
    discovery: Arc<Discovery>,
    flush_every: Duration,
    stop: CancellationToken,
) {
    let mut push = tokio::time::interval(PUSH_EVERY);
    let mut decay = tokio::time::interval(DECAY_EVERY);
    let mut flush = tokio::time::interval(flush_every.max(Duration::from_millis(10)));
    for t in [&mut push, &mut decay, &mut flush] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = push.tick() => {
                let t = trust.clone();
                let d = discovery.clone();
                let _ = tokio::task::spawn_blocking(move || d.set_trusts(&t.take_unpushed())).await;
            }
            _ = decay.tick() => {
                let t = trust.clone();
                let _ = tokio::task::spawn_blocking(move || t.decay_all()).await;
            }
            _ = flush.tick() => {
                if let Err(e) = trust.flush(&store).await {
                    tracing::warn!(error = %e, "cannot flush trust records; will retry");
                }
            }
        }
    }
}
