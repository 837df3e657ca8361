//! The invocation gateway: `ANY /v1/agents/{id}/invoke/{*rest}`.
//!
//! Order of work, cheapest first: look the target's route up (memory, else one SQLite read),
//! refuse unknown (404), revoked or expired (410) targets; admit the call under the target's
//! `qps_budget` and `concurrency_limit` (429 with `Retry-After`) **before any cryptography**;
//! read the body under the size cap (413); verify the caller's signature for target `{id}` and
//! path `/{rest}?query` (401 with the precise code); then forward to the agent's `http(s)`
//! endpoint with the signed headers untouched, so the agent can verify the caller itself.
//! `relay://` agents are called over this node's tunnel when it holds one, else through the
//! first node in the card's `relays` that has the tunnel (the signed request unchanged, marked
//! with [`H_FORWARDED`] so it is never forwarded twice); none: 503 `agent_offline`.
//! Upstream timeouts answer 504, connection failures and dropped tunnels 502, oversized answers
//! 413. Outcomes go to the node's [`OutcomeSink`](crate::events::OutcomeSink).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, Path};
use crate::card::Card;
use crate::encoding::now_unix;
use crate::events::{OutcomeEvent, OutcomeKind};
use crate::handshake::{H_SIGNATURE, verify_response_batched};
use crate::ratelimit::Rejected;
use crate::store::StoredCard;
use crate::wire::ErrorCode;
use tracing::Instrument as _;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Longest wait for an agent's answer.
    pub upstream_timeout: Duration,
    /// Largest request or response body.
    pub max_body: usize,
    /// Accepted clock skew of signed requests, seconds.
    pub window_s: i64,
    /// Nonces remembered for replay protection.
    pub nonce_capacity: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            upstream_timeout: Duration::from_secs(30),
            max_body: 1024 * 1024,
            window_s: crate::handshake::DEFAULT_WINDOW_S,
            nonce_capacity: crate::handshake::DEFAULT_NONCE_CAPACITY,
        }
    }
}

/// The gateway's own state: what only calls to agents use (a sub-state of the node's
/// [`AppState`], extracted by handlers through axum's `FromRef`).
pub struct Gateway {
    config: GatewayConfig,
    routes: RouteCache,
    limiter: crate::ratelimit::Limiter,
    /// For `https://` agents and relays.
    http: reqwest::Client,
    /// Kept-alive connections to `http://` agents.
    upstreams: crate::upstream::Pool,
    /// Answer signatures checked at once; past it answers go unchecked (and are counted).
    response_checks: Arc<tokio::sync::Semaphore>,
    responses_unchecked: std::sync::atomic::AtomicU64,
}

impl Gateway {
    /// A gateway with these settings and nothing cached.
    pub fn new(config: GatewayConfig) -> Self {
        // Agents are called at the endpoints their cards name; a system proxy would sit
        // between the node and every agent, and checking for one costs time on every call.
        let http = crate::client::http_builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(256)
            .no_proxy()
            .build()
            .expect("an HTTP client with default TLS settings builds");
        Self {
            config,
            routes: RouteCache::default(),
            limiter: crate::ratelimit::Limiter::new(),
            http,
            upstreams: crate::upstream::Pool::new(256),
            response_checks: Arc::new(tokio::sync::Semaphore::new(MAX_RESPONSE_CHECKS)),
            responses_unchecked: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Cached routes of agents.
    pub fn routes(&self) -> &RouteCache {
        &self.routes
    }

    /// Answers whose signature was left unchecked under load.
    pub fn responses_unchecked(&self) -> u64 {
        self.responses_unchecked
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What the gateway needs of a card, cached in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The card version this came from.
    pub seq: i64,
    /// Where to forward (absent on tombstones).
    pub endpoint: Option<String>,
    /// `qps_budget`.
    pub qps: Option<f64>,
    /// `concurrency_limit`.
    pub concurrency: Option<u32>,
    /// `expires_at`, unix seconds.
    pub expires_at: Option<i64>,
    /// Tombstone.
    pub revoked: bool,
    /// Nodes holding the agent's tunnel (for `relay://`).
    pub relays: Arc<[String]>,
}

impl Route {
    /// The route of a card version.
    pub fn of(seq: i64, card: &Card) -> Self {
        Self {
            seq,
            endpoint: card.endpoint.clone(),
            qps: card.qps_budget,
            concurrency: card.concurrency_limit,
            expires_at: card.expires_at,
            revoked: card.revoked,
            relays: card.relays.clone().into(),
        }
    }

    /// The route of a stored version (a card that does not read as one routes nowhere).
    fn from_stored(c: &StoredCard) -> Self {
        let m = c.fields().unwrap_or_default();
        Self {
            seq: c.seq,
            endpoint: m.endpoint,
            qps: m.qps_budget,
            concurrency: m.concurrency_limit,
            expires_at: c.expires_at,
            revoked: c.revoked,
            relays: m.relays.into(),
        }
    }
}

/// Routes of recently called or registered agents; newer versions replace older ones.
#[derive(Debug, Default)]
pub struct RouteCache {
    map: RwLock<HashMap<String, Arc<Route>>>,
}

impl RouteCache {
    const MAX: usize = 200_000;

    /// The cached route of `agent_id`.
    pub fn get(&self, agent_id: &str) -> Option<Arc<Route>> {
        self.map.read().get(agent_id).cloned()
    }

    /// Caches `route` unless a newer version is cached.
    pub fn put(&self, agent_id: &str, route: Route) {
        let mut map = self.map.write();
        if map.get(agent_id).is_some_and(|r| r.seq >= route.seq) {
            return;
        }
        if map.len() >= Self::MAX {
            // Simple and bounded: start over; entries refill from SQLite on demand.
            map.clear();
        }
        map.insert(agent_id.to_string(), Arc::new(route));
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

fn forwardable(name: &HeaderName) -> bool {
    !HOP_BY_HOP.contains(&name.as_str())
}

/// The end-to-end headers of `headers`: those a proxy passes on (RFC 9110 §7.6.1).
fn end_to_end(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    headers.iter().filter(|(name, _)| forwardable(name))
}

/// `ANY /v1/agents/{id}/invoke`.
#[utoipa::path(post, path = "/v1/agents/{id}/invoke", tag = "gateway",
    description = "Calls the agent through this node. Any method is forwarded, and so is any path below `invoke/`. The request must be signed by the caller: X-Agent-* headers (docs/protocol.md §4, target = the agent), an RFC 9421 signature over this URL (§4b), or both, agreeing; an `am-agent` RFC 9421 signature is passed to the agent as `am`. The agent's answer comes back as it gave it, its signature checked.",
    params(("id" = String, Path, pattern = r"^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$", description = "The agent's did:key")),
    request_body(content = Object, description = "Whatever the agent takes"),
    responses(
        (status = "default", description = "The agent's own answer: its status, headers and body", content_type = "*/*"),
        (status = 401, description = "A missing, bad, stale or replayed request signature", body = crate::wire::ErrorBody),
        (status = 404, description = "`not_found`: no such agent here", body = crate::wire::ErrorBody),
        (status = 410, description = "`revoked`, or an expired card", body = crate::wire::ErrorBody),
        (status = 413, description = "`too_large`", body = crate::wire::ErrorBody),
        (status = 429, description = "`rate_limited`: over the agent's qps_budget or concurrency_limit", body = crate::wire::ErrorBody),
        (status = 502, description = "`upstream_failed` or `agent_offline`", body = crate::wire::ErrorBody),
        (status = 504, description = "`upstream_timeout`", body = crate::wire::ErrorBody),
    ))]
pub async fn invoke_root(
    state: State<AppState>,
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    invoke_inner(state, &gateway, id, method, uri, headers, body).await
}

/// `ANY /v1/agents/{id}/invoke/{*rest}`.
pub async fn invoke(
    state: State<AppState>,
    State(gateway): State<Arc<Gateway>>,
    Path((id, _)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    invoke_inner(state, &gateway, id, method, uri, headers, body).await
}

/// The path the caller signed and the agent receives: what follows `/invoke` in the request
/// target **exactly as sent** — never percent-decoded, so `%2F` stays inside a segment and
/// `%3F` never becomes a query — with `/` for nothing, then `?query`. Dot-segments (`.`, `..`,
/// or their percent-encoded spellings) are refused: URL libraries and agents' routers resolve
/// them, so they would reach another path than the one signed.
pub fn forwarded_path(uri: &Uri) -> Result<String, ApiError> {
    let raw = uri.path();
    // `/v1/agents/{id}/invoke` is four segments; the rest is the agent's.
    let rest = raw
        .match_indices('/')
        .nth(4)
        .map_or("", |(at, _)| &raw[at..]);
    if rest.split('/').any(is_dot_segment) {
        return Err(ApiError::bad_field(
            "path",
            "dot-segments (`.`, `..`) are not forwarded; send the path they resolve to",
        ));
    }
    let rest = if rest.is_empty() { "/" } else { rest };
    Ok(match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    })
}

/// `.` or `..`, each dot possibly spelled `%2e`/`%2E` (RFC 3986 §6.2.2.2), without allocating
/// (this runs for every path segment of every call).
fn is_dot_segment(seg: &str) -> bool {
    let (mut rest, mut dots) = (seg, 0);
    loop {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
        } else if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%2e")) {
            rest = &rest[3..];
        } else {
            break;
        }
        dots += 1;
    }
    rest.is_empty() && (dots == 1 || dots == 2)
}

async fn route_of(state: &AppState, id: &str) -> Result<Arc<Route>, ApiError> {
    let routes = state.gateway().routes();
    if let Some(r) = routes.get(id) {
        return Ok(r);
    }
    let stored = match super::handlers::stored_card(state, id).await {
        Ok(stored) => stored,
        // In DHT mode an agent this node does not hold is routed by the card a DHT lookup
        // finds. Not cached: this node hears of no update.
        Err(e) => {
            let card = super::handlers::from_dht(state, id, e).await?;
            return Ok(Arc::new(Route::of(0, &card)));
        }
    };
    let route = Route::from_stored(&stored);
    routes.put(id, route.clone());
    Ok(Arc::new(route))
}

#[allow(clippy::too_many_arguments)]
async fn invoke_inner(
    State(state): State<AppState>,
    gateway: &Gateway,
    id: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let span = tracing::debug_span!("invoke", agent_id = %id, caller = tracing::field::Empty);
    let (res, outcome) = match forward(&state, &id, method, &uri, headers, body)
        .instrument(span.clone())
        .await
    {
        Ok(res) if res.status().is_server_error() => (res, "agent_5xx"),
        Ok(res) => (res, "ok"),
        Err(e) => {
            let code = e.code.as_str();
            (e.into_response(), code)
        }
    };
    let took = started.elapsed();
    state.metrics().invocation(outcome, took);
    let status = res.status().as_u16();
    let millis = took.as_secs_f64() * 1000.0;
    // Counted per agent only when the path named an agent with a card here: anything else
    // is just a request path and must not take a place in the table.
    let known = gateway.routes().get(&id).is_some();
    state
        .activity()
        .invocation(known.then_some(id.as_str()), status, outcome, millis);
    span.in_scope(|| tracing::debug!(status, outcome, millis, "invocation"));
    res
}

async fn forward(
    state: &AppState,
    id: &str,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let route = route_of(state, id).await?;
    if headers
        .get(H_FORWARDED)
        .is_some_and(|v| v.as_bytes() == state.node().id().as_bytes())
    {
        // A relay list that names this node under another URL: it has no tunnel, say so.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::AgentOffline,
            format!("agent {id} has no tunnel to this node"),
        ));
    }
    let now = now_unix();
    super::handlers::check_live(id, route.revoked, route.expires_at)?;
    // Admission before cryptography: a flood costs a map lookup, not a signature check.
    let _permit = admit(state, id, &route)?;
    let cfg = state.gateway().config();
    let path = forwarded_path(uri)?;
    let header = super::signed_header_lookup(&headers)?;
    let body = read_body(body, cfg.max_body).await?;
    // The `@authority` callers signed: the request's own (HTTP/2's :authority, or Host), or —
    // behind a proxy that rewrites Host — the node's public URL's.
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| header("host"))
        .unwrap_or_default();
    let public_authority = state
        .inner
        .public_url
        .as_deref()
        .and_then(|u| crate::httpsig::RequestTarget::of_url("GET", u))
        .map(|t| t.authority);
    let wire_path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = crate::handshake::Request {
        method: method.as_str(),
        path_and_query: &path,
        wire: Some(crate::handshake::Wire {
            authority: &authority,
            path_and_query: wire_path,
            also_authority: public_authority.as_deref(),
        }),
        body: &body,
    };
    let verified = state
        .verifier()
        .verify_request_batched(id, &header, &req, now)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.error_code(), e.to_string()))?;
    let caller = verified.caller;
    // The agent gets the signature made for it (`am-agent`, relabelled `am`), not ours.
    let agent_sig = crate::httpsig::for_agent(&header);
    drop(header);
    let mut headers = headers;
    headers.remove(crate::httpsig::H_SIGNATURE_INPUT);
    headers.remove(crate::httpsig::H_SIGNATURE);
    if let Some((input, sig)) = agent_sig {
        for (name, value) in [
            (crate::httpsig::H_SIGNATURE_INPUT, input),
            (crate::httpsig::H_SIGNATURE, sig),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
    tracing::Span::current().record("caller", caller.as_str());
    let Some(endpoint) = route.endpoint.as_deref() else {
        return Err(ApiError::new(
            StatusCode::GONE,
            ErrorCode::Revoked,
            "the card has no endpoint",
        ));
    };
    let relayed = endpoint.starts_with("relay://");
    if !(relayed || endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamFailed,
            format!("the gateway cannot call a {endpoint} endpoint; call the agent directly"),
        ));
    }
    let url = crate::encoding::join_endpoint(endpoint, &path);
    let nonce = verified.nonce;
    let record = |agent: &str, kind| {
        state.outcomes().record(OutcomeEvent {
            agent_id: agent.to_string(),
            kind,
            at: now,
        });
    };
    let answer = if relayed {
        call_relay(state, id, &route, method, &path, &headers, body, cfg).await
    } else {
        call_upstream(state, method, &url, &headers, body, cfg).await
    };
    let (status, res_headers, bytes) = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let (kind, err) = refusal(e, id, cfg);
            if let Some(kind) = kind {
                record(id, kind);
            }
            return Err(err);
        }
    };
    record(
        id,
        if status.is_server_error() {
            OutcomeKind::Failure
        } else {
            OutcomeKind::Success
        },
    );
    if status == StatusCode::TOO_MANY_REQUESTS {
        record(&caller, OutcomeKind::RateLimit);
    }
    if res_headers.contains_key(H_SIGNATURE)
        || res_headers.contains_key(crate::httpsig::H_SIGNATURE_INPUT)
    {
        check_response_later(
            state,
            id,
            status.as_u16(),
            nonce,
            &res_headers,
            bytes.clone(),
            now,
        );
    }
    let mut out = Response::builder().status(status.as_u16());
    for (name, value) in end_to_end(&res_headers) {
        out = out.header(name, value);
    }
    out.body(Body::from(bytes)).map_err(ApiError::internal)
}

/// Admits one call under the agent's `qps_budget` and `concurrency_limit` (429 with
/// `Retry-After` otherwise).
fn admit(state: &AppState, id: &str, route: &Route) -> Result<crate::ratelimit::Permit, ApiError> {
    state
        .gateway()
        .limiter
        .try_acquire(id, route.qps, route.concurrency, Instant::now())
        .map_err(|r| {
            state
                .metrics()
                .rate_limited(matches!(r, Rejected::Concurrency));
            let (retry, msg) = match r {
                Rejected::Rate { retry_after } => (
                    retry_after.as_secs_f64().ceil().max(1.0) as u64,
                    format!(
                        "agent {id} accepts {} requests per second",
                        route.qps.unwrap_or(0.0)
                    ),
                ),
                Rejected::Concurrency => (
                    1,
                    format!(
                        "agent {id} accepts {} requests in flight",
                        route.concurrency.unwrap_or(0)
                    ),
                ),
            };
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, msg);
            e.retry_after = Some(retry);
            e
        })
}

/// Reads the caller's body under the gateway's cap (413) and the listener's body timeout (408).
async fn read_body(body: Body, max: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        if super::error::is_body_timeout(&e) {
            return ApiError::body_timeout();
        }
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("request body is over the gateway's {max} byte limit"),
        )
    })
}

/// What the caller is told when the agent could not be called, and the trust event it costs
/// the agent (`None` when nothing says the agent is at fault).
fn refusal(e: Upstream, id: &str, cfg: &GatewayConfig) -> (Option<OutcomeKind>, ApiError) {
    match e {
        Upstream::Offline(why) => {
            // Not the agent's fault as far as this node can tell: no trust event.
            (
                None,
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::AgentOffline,
                    format!("agent {id} is not connected to a relay: {why}"),
                ),
            )
        }
        Upstream::Busy(n) => {
            // The node's own bound, not the agent's doing: no trust event.
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::UpstreamFailed,
                format!("the tunnel of agent {id} has {n} calls in flight; retry"),
            );
            e.retry_after = Some(1);
            (None, e)
        }
        Upstream::Dropped => (
            Some(OutcomeKind::Failure),
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::UpstreamFailed,
                format!("the tunnel of agent {id} closed before it answered"),
            ),
        ),
        Upstream::Timeout => (
            Some(OutcomeKind::Timeout),
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::UpstreamTimeout,
                format!(
                    "agent {id} did not answer within {:?}",
                    cfg.upstream_timeout
                ),
            ),
        ),
        Upstream::TooLarge => (
            Some(OutcomeKind::Failure),
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!(
                    "the agent's answer is over the gateway's {} byte limit",
                    cfg.max_body
                ),
            ),
        ),
        Upstream::Local(why) => {
            // Nothing reached the agent: no trust event.
            (
                None,
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::UpstreamFailed,
                    format!("this node cannot build the call to agent {id}: {why}"),
                ),
            )
        }
        Upstream::Failed(why) => {
            tracing::debug!(agent_id = id, error = %why, "upstream failed");
            (
                Some(OutcomeKind::Failure),
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::UpstreamFailed,
                    format!("cannot reach agent {id} at its endpoint"),
                ),
            )
        }
    }
}

/// Most response signatures checked at once; beyond this, answers go unchecked (counted).
pub const MAX_RESPONSE_CHECKS: usize = 256;

/// Checks an agent's response signature after the answer has gone to the caller (a check is
/// an Ed25519 verification, ~50 µs the caller need not wait for; the caller verifies the answer
/// itself anyway) and records `bad_signature` against the agent if it fails. Under a flood,
/// checks beyond [`MAX_RESPONSE_CHECKS`] in flight are skipped and counted rather than queued.
fn check_response_later(
    state: &AppState,
    id: &str,
    status: u16,
    nonce: String,
    headers: &HeaderMap,
    body: Bytes,
    now: i64,
) {
    let Ok(slot) = state.gateway().response_checks.clone().try_acquire_owned() else {
        state
            .gateway()
            .responses_unchecked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return;
    };
    let lookup = super::header_lookup(headers);
    let sig: Vec<(&'static str, Option<String>)> = [
        crate::handshake::H_AGENT_ID,
        crate::handshake::H_TIMESTAMP,
        H_SIGNATURE,
        crate::httpsig::H_SIGNATURE_INPUT,
        crate::httpsig::H_SIGNATURE,
        crate::httpsig::H_CONTENT_DIGEST,
    ]
    .into_iter()
    .map(|n| (n, lookup(n)))
    .collect();
    let (state, id) = (state.clone(), id.to_string());
    tokio::spawn(async move {
        let _slot = slot;
        let get = |n: &str| {
            sig.iter()
                .find(|(k, _)| *k == n)
                .and_then(|(_, v)| v.clone())
        };
        if verify_response_batched(&id, status, &nonce, get, &body)
            .await
            .is_err()
        {
            state.outcomes().record(OutcomeEvent {
                agent_id: id,
                kind: OutcomeKind::BadSignature,
                at: now,
            });
        }
    });
}

/// Why a call to an agent produced no usable answer.
enum Upstream {
    /// A `relay://` agent with no tunnel here and no relay node that answered.
    Offline(String),
    /// The tunnel closed while the call waited.
    Dropped,
    /// This node's tunnel to the agent has as many calls in flight as it allows.
    Busy(usize),
    /// No complete answer within the timeout.
    Timeout,
    /// The answer is over the size cap.
    TooLarge,
    /// No connection, or it broke.
    Failed(String),
    /// This node could not build the call (the gateway's failure, not the agent's).
    Local(String),
}

/// Calls the agent and reads its whole answer under the size cap and the timeout.
///
/// `http://` agents are called over [`crate::upstream`]'s connections, driven in this task:
/// reqwest's per-request layers (URL re-parsing, redirect and timeout wrappers) and a pooled
/// client's connection tasks cost the gateway measurable latency on the common path.
/// `https://` agents go through reqwest, which carries the TLS stack.
async fn call_upstream(
    state: &AppState,
    method: Method,
    url: &str,
    headers: &HeaderMap,
    body: Bytes,
    cfg: &GatewayConfig,
) -> Result<(StatusCode, HeaderMap, Bytes), Upstream> {
    if url.starts_with("http://") {
        let mut req = axum::http::Request::builder().method(method).uri(url);
        for (name, value) in end_to_end(headers) {
            req = req.header(name, value);
        }
        let req = req
            .body(http_body_util::Full::new(body))
            .map_err(|e| Upstream::Local(e.to_string()))?;
        let call = async {
            use crate::upstream::UpstreamError;
            let (parts, bytes) = state
                .gateway()
                .upstreams
                .send(req, cfg.max_body)
                .await
                .map_err(|e| match e {
                    UpstreamError::TooLarge(_) => Upstream::TooLarge,
                    e => Upstream::Failed(e.to_string()),
                })?;
            Ok((parts.status, parts.headers, bytes))
        };
        return tokio::time::timeout(cfg.upstream_timeout, call)
            .await
            .map_err(|_| Upstream::Timeout)?;
    }
    let mut req = state
        .gateway()
        .http
        .request(method, url)
        .timeout(cfg.upstream_timeout)
        .body(body);
    for (name, value) in end_to_end(headers) {
        req = req.header(name, value);
    }
    let mut res = req.send().await.map_err(|e| {
        if e.is_timeout() {
            Upstream::Timeout
        } else if e.is_builder() {
            Upstream::Local(e.to_string())
        } else {
            Upstream::Failed(e.to_string())
        }
    })?;
    let status = res.status();
    let res_headers = std::mem::take(res.headers_mut());
    let bytes = read_capped(res, cfg.max_body).await?;
    Ok((status, res_headers, bytes))
}

/// Marks a request one node already forwarded to a relay node, so that node answers from its
/// own tunnel or 503 instead of forwarding again (no loops between relays).
pub const H_FORWARDED: &str = "x-agentmesh-forwarded";

/// Calls a `relay://` agent: over this node's tunnel when it holds one, else through a node in
/// the card's `relays` with the signed request unchanged.
#[allow(clippy::too_many_arguments)]
async fn call_relay(
    state: &AppState,
    id: &str,
    route: &Route,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
    cfg: &GatewayConfig,
) -> Result<(StatusCode, HeaderMap, Bytes), Upstream> {
    use crate::relay::server::RelayError;
    if state.relay().has(id) {
        let pairs = headers
            .iter()
            .filter(|(n, _)| forwardable(n))
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let answer = state
            .relay()
            .call(
                id,
                method.as_str(),
                path,
                pairs,
                &body,
                cfg.upstream_timeout,
            )
            .await
            .map_err(|e| match e {
                RelayError::Offline => Upstream::Offline("its tunnel just closed".into()),
                RelayError::Busy(n) => Upstream::Busy(n),
                RelayError::Dropped => Upstream::Dropped,
                RelayError::Timeout => Upstream::Timeout,
            })?;
        if answer.body.len() > cfg.max_body {
            return Err(Upstream::TooLarge);
        }
        let mut map = HeaderMap::with_capacity(answer.headers.len());
        for (k, v) in &answer.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_str(v),
            ) {
                map.append(k, v);
            }
        }
        let status = StatusCode::from_u16(answer.status)
            .map_err(|_| Upstream::Failed(format!("bad status {}", answer.status)))?;
        return Ok((status, map, answer.body));
    }
    if headers.contains_key(H_FORWARDED) {
        return Err(Upstream::Offline("no tunnel at this relay".into()));
    }
    let own = state
        .inner
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'));
    let mut last = String::from("its card names no relay");
    for relay in route.relays.iter().map(|r| r.trim_end_matches('/')) {
        if Some(relay) == own {
            continue;
        }
        let url = format!("{relay}/v1/agents/{id}/invoke{path}");
        let mut req = state
            .gateway()
            .http
            .request(method.clone(), &url)
            .timeout(cfg.upstream_timeout)
            .header(H_FORWARDED, state.node().id())
            .body(body.clone());
        for (name, value) in end_to_end(headers) {
            req = req.header(name, value);
        }
        match req.send().await {
            Ok(mut res) => {
                let status = res.status();
                let res_headers = std::mem::take(res.headers_mut());
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    last = format!("{relay} has no tunnel for it");
                    continue;
                }
                let bytes = read_capped(res, cfg.max_body).await?;
                return Ok((status, res_headers, bytes));
            }
            Err(e) if e.is_timeout() => return Err(Upstream::Timeout),
            Err(e) => last = format!("{relay}: {e}"),
        }
    }
    Err(Upstream::Offline(last))
}

async fn read_capped(res: reqwest::Response, max: usize) -> Result<Bytes, Upstream> {
    use crate::client::CappedReadError;
    crate::client::read_capped(res, max)
        .await
        .map_err(|e| match e {
            CappedReadError::TooLarge => Upstream::TooLarge,
            CappedReadError::Body(e) if e.is_timeout() => Upstream::Timeout,
            CappedReadError::Body(e) => Upstream::Failed(e.to_string()),
        })
}

#[cfg(test)]
mod dot_tests {
    use super::is_dot_segment;

    #[test]
    fn dot_segments_in_every_spelling() {
        for seg in [".", "..", "%2e", "%2E", ".%2e", "%2E.", "%2e%2E"] {
            assert!(is_dot_segment(seg), "{seg}");
        }
        for seg in [
            "",
            "...",
            "a",
            ".a",
            "%2e%2e%2e",
            "%2",
            "%2f",
            "..%",
            "é.",
            "%2é",
        ] {
            assert!(!is_dot_segment(seg), "{seg}");
        }
    }
}
