//! The web dashboard at `/ui/` (PRD Phase 9): three static files compiled into the binary
//! (`assets/ui/`: no CDN, works offline), read-only, under a strict Content-Security-Policy,
//! drawing everything from the node's own API; plus `GET /v1/events`, the live event stream
//! (server-sent events) it and anyone else can follow instead of polling.

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::{ApiError, AppState};

const INDEX: &str = include_str!("../../assets/ui/index.html");
const APP_JS: &str = include_str!("../../assets/ui/app.js");
const APP_CSS: &str = include_str!("../../assets/ui/app.css");

/// What the dashboard's pages may load: its own scripts, styles and API, nothing inline (the
/// scripts set styles through the CSSOM, which the policy allows), and no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Most event streams open at once (`/v1/events`); more are answered 503.
pub const MAX_STREAMS: usize = 64;
/// How often a stream looks for new events.
const STREAM_TICK: Duration = Duration::from_secs(1);
/// Most events one stream sends per tick.
const STREAM_BATCH: usize = 256;

/// The dashboard's routes (`serve --no-ui` leaves them out).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|h: HeaderMap| async move { asset(&h, INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/ui/app.js",
            get(|h: HeaderMap| async move { asset(&h, APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/ui/app.css",
            get(|h: HeaderMap| async move { asset(&h, APP_CSS, "text/css; charset=utf-8") }),
        )
}

/// A strong validator of the three files together (they change only with the binary).
fn etag() -> &'static HeaderValue {
    static TAG: OnceLock<HeaderValue> = OnceLock::new();
    TAG.get_or_init(|| {
        let digest = crate::encoding::sha256_hex([INDEX, APP_JS, APP_CSS].concat().as_bytes());
        HeaderValue::from_str(&format!("\"{}\"", &digest[..16])).expect("hex is a valid header")
    })
}

fn asset(req: &HeaderMap, body: &'static str, content_type: &'static str) -> Response {
    let tag = etag();
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, tag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// `GET /v1/events`: the node's events as they happen, as server-sent events (`event:
/// node-event`, `id:` its seq, `data:` the event as `/v1/node` lists it). A client that
/// reconnects with `Last-Event-ID` gets what it missed that is still in the ring; a new one
/// starts with what happens next. A comment every 15 s keeps proxies from closing it.
#[utoipa::path(get, path = "/v1/events", tag = "node",
    params(("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event's seq")),
    responses(
        (status = 200, description = "`text/event-stream`: one `node-event` per event, `data` a NodeEvent", content_type = "text/event-stream", body = String),
        (status = 503, description = "`overloaded`: too many streams open", body = crate::wire::ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = state.activity().stream_permit(MAX_STREAMS).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::wire::ErrorCode::Overloaded,
            "too many event streams are open; try again later",
        )
    })?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let since = match resume {
        Some(seq) => seq,
        None => state.activity().events(u64::MAX, 0).1,
    };
    let mut tick = tokio::time::interval(STREAM_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = (since, tick, std::collections::VecDeque::new(), permit);
    let stream =
        futures_util::stream::unfold(start, move |(mut since, mut tick, mut pending, permit)| {
            let state = state.clone();
            async move {
                loop {
                    if let Some(e) = pending.pop_front() {
                        return Some((
                            Ok::<_, Infallible>(to_event(&e)),
                            (since, tick, pending, permit),
                        ));
                    }
                    tick.tick().await;
                    let (events, newest) = state.activity().events(since, STREAM_BATCH);
                    since = since.max(events.last().map_or(newest, |e| e.seq));
                    pending.extend(events);
                }
            }
        });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn to_event(e: &crate::wire::NodeEvent) -> Event {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    Event::default()
        .event("node-event")
        .id(e.seq.to_string())
        .data(data)
}
