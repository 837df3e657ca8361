//! The agent's side of a tunnel (`agentmesh connect`).
//!
//! Flow: connect to the node's tunnel URL, answer the challenge with the agent's key, then read
//! request frames and handle each on its own task: verify the caller's signature for *this*
//! agent (the relay is not trusted: a request it altered fails here), admit it under the
//! agent's own `qps_budget` and `concurrency_limit`, forward it to the local service, and sign
//! the answer (docs/protocol.md §4) — every answer, refusals included — so the caller can tell that no
//! relay forged or changed it. When the tunnel ends, reconnect after an exponential backoff with
//! jitter (reset once a tunnel was ready).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{
    AgentToNode, MAX_HEAD_BYTES, NodeToAgent, PING_EVERY, RequestHead, ResponseHead, ResponseTag,
    auth_signing_string, decode, encode, tunnel_url,
};
use crate::encoding::{b64url_decode, now_unix};
use crate::handshake::{H_AGENT_ID, H_NONCE, H_SIGNATURE, H_TIMESTAMP, Verifier, sign_response};
use crate::identity::Identity;
use crate::ratelimit::{Limiter, Rejected};

/// What `connect` needs.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// The relay node's base URL (`http(s)://host:port`).
    pub relay: String,
    /// The local service's base URL (`http://host:port`).
    pub forward: String,
    /// The agent's key.
    pub identity: Identity,
    /// The agent's own `qps_budget`.
    pub qps: Option<f64>,
    /// The agent's own `concurrency_limit`.
    pub concurrency: Option<u32>,
    /// Largest body either way.
    pub max_body: usize,
    /// Accepted clock skew of callers' signatures, seconds.
    pub window_s: i64,
    /// Longest wait for the local service.
    pub forward_timeout: Duration,
    /// Longest wait between reconnect attempts.
    pub backoff_max: Duration,
}

impl ConnectConfig {
    /// Defaults for `identity` relaying through `relay` to `forward`.
    pub fn new(relay: &str, forward: &str, identity: Identity) -> Self {
        Self {
            relay: relay.to_string(),
            // Kept as given: paths are joined as the gateway joins them (`/` is this URL).
            forward: forward.to_string(),
            identity,
            qps: None,
            concurrency: None,
            max_body: 1024 * 1024,
            window_s: crate::handshake::DEFAULT_WINDOW_S,
            forward_timeout: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Where the tunnel stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnState {
    /// Dialling (attempt number, from 1).
    Connecting(u32),
    /// Authenticated; relaying for the node with this ID.
    Ready(String),
    /// Down; the next attempt is after this long.
    Waiting(Duration, String),
    /// Stopped on request.
    Stopped,
}

/// Counters of a running tunnel.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Requests answered by the local service.
    pub served: AtomicU64,
    /// Requests refused here (bad signature, over budget).
    pub refused: AtomicU64,
    /// Tunnels established.
    pub connects: AtomicU64,
    /// Whether the local service failed its latest call (said once when it starts failing and
    /// once when it answers again, not per call).
    pub forward_down: std::sync::atomic::AtomicBool,
}

/// Why `connect` cannot even start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The relay URL is not http(s)/ws(s).
    #[error("relay URL `{0}` must start with http://, https://, ws:// or wss://")]
    BadRelay(String),
    /// The forward URL is not http.
    #[error("--forward `{0}` must be an http:// URL of the local service")]
    BadForward(String),
}

struct Ctx {
    cfg: ConnectConfig,
    verifier: Verifier,
    limiter: Limiter,
    http: crate::upstream::Pool,
    stats: Arc<ConnStats>,
}

/// Holds the tunnel until `stop`, reconnecting as needed; reports state on `state`.
pub async fn run(
    cfg: ConnectConfig,
    state: watch::Sender<ConnState>,
    stats: Arc<ConnStats>,
    stop: CancellationToken,
) -> Result<(), ConnectError> {
    crate::client::init_tls();
    let url = tunnel_url(&cfg.relay, cfg.identity.id())
        .ok_or_else(|| ConnectError::BadRelay(cfg.relay.clone()))?;
    if !cfg.forward.starts_with("http://") {
        return Err(ConnectError::BadForward(cfg.forward.clone()));
    }
    let ctx = Arc::new(Ctx {
        verifier: Verifier::new(
            cfg.identity.id(),
            cfg.window_s,
            crate::handshake::DEFAULT_NONCE_CAPACITY,
        ),
        limiter: Limiter::new(),
        http: crate::upstream::Pool::new(256),
        stats,
        cfg,
    });
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let _ = state.send(ConnState::Connecting(attempt));
        // Session first: it sees `stop` itself and closes the tunnel cleanly; the second
        // branch only cuts a session stuck before its loop (dialling, authenticating).
        let why = tokio::select! {
            biased;
            r = session(&ctx, &url, &state, &stop) => Some(r),
            () = stop.cancelled() => None,
        };
        let Some(result) = why else { break };
        let reason = match result {
            Ok(SessionEnd::Stopped) => break,
            Ok(SessionEnd::Lost(why)) => {
                attempt = 0; // it was up: start the backoff over
                why
            }
            Err(e) => e,
        };
        let wait = backoff(attempt, ctx.cfg.backoff_max);
        tracing::info!(reason, retry_in = ?wait, "relay tunnel down");
        let _ = state.send(ConnState::Waiting(wait, reason));
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    let _ = state.send(ConnState::Stopped);
    Ok(())
}

/// 250 ms doubling per failed attempt up to `max`, with full jitter in the upper half so a
/// fleet of agents that lost the same relay does not reconnect in step.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(250)
        .saturating_mul(1u32 << attempt.min(16))
        .min(max);
    let r = u16::from_le_bytes(crate::encoding::random_bytes::<2>());
    base.mul_f64(0.5 + 0.5 * f64::from(r) / f64::from(u16::MAX))
}

enum SessionEnd {
    Stopped,
    Lost(String),
}

async fn session(
    ctx: &Arc<Ctx>,
    url: &str,
    state: &watch::Sender<ConnState>,
    stop: &CancellationToken,
) -> Result<SessionEnd, String> {
    let ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(ctx.cfg.max_body + MAX_HEAD_BYTES))
        .max_frame_size(Some(ctx.cfg.max_body + MAX_HEAD_BYTES));
    let connector = crate::client::ws_tls_config().map(tokio_tungstenite::Connector::Rustls);
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, Some(ws_config), true, connector)
            .await
            .map_err(|e| format!("cannot open {url}: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    let relay_id = authenticate(ctx, &mut sink, &mut stream).await?;
    ctx.stats.connects.fetch_add(1, Ordering::Relaxed);
    tracing::info!(relay_id, "relay tunnel ready");
    let _ = state.send(ConnState::Ready(relay_id));
    // Answers and control messages go out through one writer task, so reading requests never
    // waits behind a write the relay is slow to take (both sides blocked on writes deadlock).
    let (tx, frames) = mpsc::channel::<Message>(256);
    // Aborted if this future is dropped, so the socket never outlives the tunnel.
    let mut writer = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        let mut frames = frames;
        while let Some(m) = frames.recv().await {
            let closing = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
    }));
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut writer_done = false;
    let end = loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                let _ = tx.send(Message::Close(None)).await;
                break SessionEnd::Stopped;
            }
            _ = &mut writer, if !writer_done => {
                writer_done = true;
                break SessionEnd::Lost("send failed".into());
            }
            msg = stream.next() => {
                last_heard = Instant::now();
                match msg {
                    Some(Ok(Message::Binary(b))) => match decode::<RequestHead>(&b) {
                        Ok((head, body)) => {
                            let body = b.slice(b.len() - body.len()..);
                            let (ctx, tx) = (ctx.clone(), tx.clone());
                            tokio::spawn(async move {
                                let frame = handle(&ctx, head, body).await;
                                let _ = tx.send(Message::Binary(frame.into())).await;
                            });
                        }
                        Err(e) => break SessionEnd::Lost(format!("bad frame from the relay: {e}")),
                    },
                    Some(Ok(Message::Ping(p))) => {
                        let _ = tx.try_send(Message::Pong(p));
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        break SessionEnd::Lost("the relay closed the tunnel".into());
                    }
                    Some(Err(e)) => break SessionEnd::Lost(format!("read error: {e}")),
                    Some(Ok(_)) => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > PING_EVERY * 2 {
                    break SessionEnd::Lost("the relay went silent".into());
                }
                let _ = tx.try_send(Message::Ping(Bytes::new()));
            }
        }
    };
    drop(tx);
    super::finish_writer(writer, writer_done).await;
    Ok(end)
}

async fn authenticate<S, R>(ctx: &Ctx, sink: &mut S, stream: &mut R) -> Result<String, String>
where
    S: futures_util::Sink<Message> + Unpin,
    S::Error: std::fmt::Display,
    R: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let read = async |stream: &mut R| -> Result<NodeToAgent, String> {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(t.as_str())
                .map_err(|e| format!("unexpected message from the relay: {e}")),
            Ok(Some(Ok(other))) => Err(format!("unexpected frame from the relay: {other:?}")),
            Ok(Some(Err(e))) => Err(format!("read error: {e}")),
            Ok(None) => Err("the relay closed the connection".into()),
            Err(_) => Err("the relay did not answer in 10 s".into()),
        }
    };
    let NodeToAgent::Challenge { nonce, relay_id } = read(stream).await? else {
        return Err("the relay did not start with a challenge".into());
    };
    match b64url_decode(&nonce) {
        Ok(b) if b.len() >= 16 => {}
        _ => return Err("the relay's challenge nonce is not 16+ bytes of base64url".into()),
    }
    let me = &ctx.cfg.identity;
    let auth = AgentToNode::Auth {
        agent_id: me.id().to_string(),
        signature: me.sign_b64(auth_signing_string(&relay_id, me.id(), &nonce).as_bytes()),
    };
    let text = serde_json::to_string(&auth).expect("auth serializes");
    sink.send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("cannot send auth: {e}"))?;
    match read(stream).await? {
        NodeToAgent::Ready => Ok(relay_id),
        NodeToAgent::Error { code, message } => {
            Err(format!("the relay refused the tunnel: {code}: {message}"))
        }
        NodeToAgent::Challenge { .. } => Err("the relay sent a second challenge".into()),
    }
}

/// Handles one relayed request; returns the signed response frame.
async fn handle(ctx: &Ctx, head: RequestHead, body: Bytes) -> Vec<u8> {
    // Several lines of one field read as one, joined as RFC 9110 combines them.
    let header = |name: &str| {
        let mut values = head
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next()?.to_string();
        Some(values.fold(first, |all, v| all + ", " + v))
    };
    // The nonce the answer is signed for: the verified request's, or (for a refusal) the one
    // it claims.
    let mut nonce = header(H_NONCE)
        .or_else(|| crate::httpsig::nonce_of(&header))
        .unwrap_or_default();
    let (status, headers, out) = match admit_and_forward(ctx, &head, &body, &header).await {
        Ok((answer, verified)) => {
            ctx.stats.served.fetch_add(1, Ordering::Relaxed);
            nonce = verified;
            answer
        }
        Err((status, code, message)) => {
            ctx.stats.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(code, message, "refused a relayed request");
            let body = crate::wire::ErrorBody::new(code, message);
            (
                status,
                vec![("content-type".to_string(), "application/json".to_string())],
                Bytes::from(serde_json::to_vec(&body).expect("an error body serializes")),
            )
        }
    };
    let now = now_unix();
    let signed = sign_response(&ctx.cfg.identity, status, &nonce, &out, now);
    let ours = [
        H_AGENT_ID,
        H_TIMESTAMP,
        H_SIGNATURE,
        crate::httpsig::H_SIGNATURE_INPUT,
        crate::httpsig::H_SIGNATURE,
        crate::httpsig::H_CONTENT_DIGEST,
    ];
    let mut headers: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(k, _)| !ours.contains(&k.to_ascii_lowercase().as_str()))
        .collect();
    headers.push((H_AGENT_ID.into(), signed.agent_id));
    headers.push((H_TIMESTAMP.into(), signed.timestamp.to_string()));
    headers.push((H_SIGNATURE.into(), signed.signature));
    // The same answer signed as RFC 9421 (docs/protocol.md §4b).
    if let Ok(rfc) = crate::httpsig::sign_response(&ctx.cfg.identity, status, &nonce, &out, now) {
        headers.push((
            crate::httpsig::H_CONTENT_DIGEST.into(),
            crate::httpsig::content_digest(&out),
        ));
        headers.push((crate::httpsig::H_SIGNATURE_INPUT.into(), rfc.input_member()));
        headers.push((crate::httpsig::H_SIGNATURE.into(), rfc.signature_member()));
    }
    let head = ResponseHead {
        kind: ResponseTag::Response,
        id: head.id,
        status,
        headers,
    };
    encode(&head, &out)
}

type Refusal = (u16, &'static str, String);

async fn admit_and_forward(
    ctx: &Ctx,
    head: &RequestHead,
    body: &Bytes,
    header: &impl Fn(&str) -> Option<String>,
) -> Result<((u16, Vec<(String, String)>, Bytes), String), Refusal> {
    if !head.path.starts_with('/') {
        // `<forward><path>` must stay on the local service: `@host/…` would change the host.
        return Err((
            400,
            "invalid_field",
            "the path must start with /".to_string(),
        ));
    }
    let me = ctx.cfg.identity.id();
    let _permit = ctx
        .limiter
        .try_acquire(me, ctx.cfg.qps, ctx.cfg.concurrency, Instant::now())
        .map_err(|r| {
            let what = match r {
                Rejected::Rate { .. } => "over this agent's qps_budget",
                Rejected::Concurrency => "over this agent's concurrency_limit",
            };
            (429, "rate_limited", what.to_string())
        })?;
    // The RFC 9421 form, through a relay, is signed for `@authority` = this agent's ID (the
    // caller's `am-agent` signature, which the gateway passed on as `am`): that binds it to
    // this agent as `X-Agent-Target` binds the other form.
    let req = crate::handshake::Request {
        method: &head.method,
        path_and_query: &head.path,
        wire: Some(crate::handshake::Wire {
            authority: me,
            path_and_query: &head.path,
            also_authority: None,
        }),
        body,
    };
    let verified = ctx
        .verifier
        .verify_request_batched(me, header, &req, now_unix())
        .await
        .map_err(|e| (401, e.code(), e.to_string()))?;
    let mut req = axum::http::Request::builder()
        .method(head.method.as_str())
        .uri(crate::encoding::join_endpoint(&ctx.cfg.forward, &head.path));
    for (k, v) in &head.headers {
        if !["host", "content-length", "connection", "transfer-encoding"].contains(&k.as_str()) {
            req = req.header(k, v);
        }
    }
    let req = req
        .body(http_body_util::Full::new(body.clone()))
        .map_err(|e| {
            (
                400,
                "invalid_field",
                format!("cannot build the request: {e}"),
            )
        })?;
    let call = async {
        let (parts, bytes) = ctx
            .http
            .send(req, ctx.cfg.max_body)
            .await
            .map_err(|e| match e {
                crate::upstream::UpstreamError::TooLarge(_) => (
                    413,
                    "too_large",
                    "the local service's answer is too large".to_string(),
                ),
                e => (502, "upstream_failed", format!("the local service: {e}")),
            })?;
        let headers = parts
            .headers
            .iter()
            .filter(|(k, _)| {
                !["connection", "transfer-encoding", "content-length"].contains(&k.as_str())
            })
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        Ok((parts.status.as_u16(), headers, bytes))
    };
    let result = tokio::time::timeout(ctx.cfg.forward_timeout, call)
        .await
        .map_err(|_| {
            (
                504,
                "upstream_timeout",
                "the local service did not answer in time".to_string(),
            )
        })
        .and_then(|r| r);
    let down = matches!(&result, Err((502 | 504, _, _)));
    if ctx.stats.forward_down.swap(down, Ordering::Relaxed) != down {
        match &result {
            Err((_, _, why)) => tracing::warn!(
                forward = ctx.cfg.forward,
                "the local service at {} does not answer ({why}); callers get 502 until it does",
                ctx.cfg.forward
            ),
            Ok(_) => tracing::warn!(
                forward = ctx.cfg.forward,
                "the local service at {} answers again",
                ctx.cfg.forward
            ),
        }
    }
    result.map(|answer| (answer, verified.nonce))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_path_that_would_change_the_forward_host_is_refused() {
        let cfg = ConnectConfig::new("http://relay", "http://127.0.0.1:9", Identity::generate());
        let ctx = Ctx {
            verifier: Verifier::new(cfg.identity.id(), 60, 16),
            limiter: Limiter::new(),
            http: crate::upstream::Pool::new(4),
            stats: Arc::new(ConnStats::default()),
            cfg,
        };
        let head = RequestHead {
            kind: super::super::RequestTag::Request,
            id: 1,
            method: "GET".into(),
            path: "@169.254.169.254/latest".into(),
            headers: Vec::new(),
        };
        let header = |_: &str| None;
        let refused = admit_and_forward(&ctx, &head, &Bytes::new(), &header).await;
        assert_eq!(
            refused.map(|_| ()).map_err(|e| (e.0, e.1)),
            Err((400, "invalid_field"))
        );
        // The refusal still goes back signed by the agent.
        let frame = handle(&ctx, head, Bytes::new()).await;
        let (resp, _): (ResponseHead, &[u8]) = decode(&frame).expect("a response frame");
        assert_eq!(resp.status, 400);
        assert!(resp.headers.iter().any(|(k, _)| k == H_SIGNATURE));
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        let max = Duration::from_secs(30);
        for attempt in 1..30 {
            let d = backoff(attempt, max);
            let base = Duration::from_millis(250)
                .saturating_mul(1 << attempt.min(16))
                .min(max);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
        }
    }
}
