//! The tunnel server inside the node: `GET /relay/v1/ws/{agent_id}`.
//!
//! Each authenticated tunnel is one task running a `biased` select loop (the shape of
//! iroh-relay's per-client actor): node shutdown or replacement first, then frames queued for
//! the agent, then frames from the agent, then the ping timer. Calls ([`Relay::call`]) take a
//! slot of the tunnel's in-flight bound, register a one-shot for their `id`, queue the request
//! frame and wait; the loop completes them as responses arrive. When a tunnel ends — the agent
//! left, it went silent, a newer tunnel replaced it, the node stops — every call still waiting
//! on it fails with [`RelayError::Dropped`] (the gateway answers 502).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    AgentToNode, NodeToAgent, PING_EVERY, RequestHead, RequestTag, ResponseHead,
    auth_signing_string, decode, encode,
};
use crate::encoding::b64url;
use crate::identity::{Identity, verify_b64};
pub use crate::wire::TunnelInfo;

/// Tunnel settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Calls in flight per tunnel; more answer 503.
    pub max_in_flight: usize,
    /// Largest body either way (frames may be this plus the head).
    pub max_body: usize,
    /// Time an agent has to answer the challenge.
    pub auth_timeout: Duration,
    /// Interval between pings; two silent intervals drop the tunnel.
    pub ping_every: Duration,
    /// Test hook: flip a byte of every relayed request body, as a malicious relay would.
    #[doc(hidden)]
    pub tamper_requests: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            max_body: 1024 * 1024,
            auth_timeout: Duration::from_secs(10),
            ping_every: PING_EVERY,
            tamper_requests: false,
        }
    }
}

/// Why a relayed call got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// No tunnel for the agent.
    #[error("agent has no tunnel to this node")]
    Offline,
    /// The tunnel has as many calls in flight as it allows.
    #[error("the agent's tunnel has {0} calls in flight")]
    Busy(usize),
    /// The tunnel ended before the answer came.
    #[error("the tunnel closed before the agent answered")]
    Dropped,
    /// No answer in time.
    #[error("no answer through the tunnel in time")]
    Timeout,
}

/// An answer that came back through a tunnel.
#[derive(Debug, Clone)]
pub struct RelayAnswer {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

type Pending = Mutex<HashMap<u64, oneshot::Sender<RelayAnswer>>>;

struct Tunnel {
    generation: u64,
    out: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    next_id: AtomicU64,
    slots: Arc<Semaphore>,
    close: CancellationToken,
    opened: Instant,
    served: AtomicU64,
}

/// The node's tunnels, one per agent.
pub struct Relay {
    node: Identity,
    config: RelayConfig,
    tunnels: Mutex<HashMap<String, Arc<Tunnel>>>,
    generation: AtomicU64,
    shutdown: CancellationToken,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("tunnels", &self.len())
            .finish_non_exhaustive()
    }
}

/// Removes a call's one-shot when the caller stops waiting (timeout, client gone).
struct PendingGuard<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Relay {
    /// A relay answering challenges as `node`.
    pub fn new(node: Identity, config: RelayConfig) -> Self {
        Self {
            node,
            config,
            tunnels: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            frames_in: AtomicU64::new(0),
            frames_out: AtomicU64::new(0),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Tunnel>>> {
        self.tunnels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Open tunnels.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no tunnel is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames received from and sent to agents.
    pub fn frames(&self) -> (u64, u64) {
        (
            self.frames_in.load(Ordering::Relaxed),
            self.frames_out.load(Ordering::Relaxed),
        )
    }

    /// Whether `agent_id` has a tunnel here.
    pub fn has(&self, agent_id: &str) -> bool {
        self.map().contains_key(agent_id)
    }

    /// Every open tunnel.
    pub fn tunnels(&self) -> Vec<TunnelInfo> {
        self.map()
            .iter()
            .map(|(id, t)| TunnelInfo {
                agent_id: id.clone(),
                age_s: t.opened.elapsed().as_secs(),
                in_flight: t.pending.lock().map_or(0, |p| p.len()),
                served: t.served.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Closes every tunnel (node shutdown).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Sends a call through `agent_id`'s tunnel and waits up to `timeout` for the answer.
    pub async fn call(
        &self,
        agent_id: &str,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
        timeout: Duration,
    ) -> Result<RelayAnswer, RelayError> {
        let tunnel = self
            .map()
            .get(agent_id)
            .cloned()
            .ok_or(RelayError::Offline)?;
        let _slot = tunnel
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| RelayError::Busy(self.config.max_in_flight))?;
        let id = tunnel.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        tunnel
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, tx);
        let _guard = PendingGuard {
            pending: &tunnel.pending,
            id,
        };
        let head = RequestHead {
            kind: RequestTag::Request,
            id,
            method: method.to_string(),
            path: path.to_string(),
            headers,
        };
        let mut frame = encode(&head, body);
        if self.config.tamper_requests && !body.is_empty() {
            let last = frame.len() - 1;
            frame[last] ^= 0x01;
        }
        let exchange = async {
            tunnel
                .out
                .send(frame)
                .await
                .map_err(|_| RelayError::Dropped)?;
            self.frames_out.fetch_add(1, Ordering::Relaxed);
            rx.await.map_err(|_| RelayError::Dropped)
        };
        let answer = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| RelayError::Timeout)??;
        tunnel.served.fetch_add(1, Ordering::Relaxed);
        Ok(answer)
    }

    /// Runs one tunnel from the upgraded socket until it ends.
    pub async fn serve(self: Arc<Self>, mut socket: WebSocket, agent_id: String) {
        match self.handshake(&mut socket, &agent_id).await {
            Ok(()) => {}
            Err((code, message)) => {
                tracing::info!(agent_id, code, message, "relay handshake refused");
                let err = NodeToAgent::Error {
                    code: code.into(),
                    message,
                };
                let _ = socket.send(text(&err)).await;
                let _ = socket.close().await;
                return;
            }
        }
        let (tx, rx) = mpsc::channel(256);
        let tunnel = Arc::new(Tunnel {
            generation: self.generation.fetch_add(1, Ordering::Relaxed),
            out: tx,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            slots: Arc::new(Semaphore::new(self.config.max_in_flight)),
            close: self.shutdown.child_token(),
            opened: Instant::now(),
            served: AtomicU64::new(0),
        });
        if let Some(old) = self.map().insert(agent_id.clone(), tunnel.clone()) {
            tracing::info!(agent_id, "a newer tunnel replaces the open one");
            old.close.cancel();
        }
        tracing::info!(agent_id, "relay tunnel ready");
        let why = self.pump(socket, &tunnel, rx).await;
        {
            let mut map = self.map();
            if map
                .get(&agent_id)
                .is_some_and(|t| t.generation == tunnel.generation)
            {
                map.remove(&agent_id);
            }
        }
        // Waiting calls see their one-shot dropped: 502 at the gateway.
        tunnel
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        tracing::info!(agent_id, why, "relay tunnel closed");
    }

    async fn handshake(
        &self,
        socket: &mut WebSocket,
        agent_id: &str,
    ) -> Result<(), (&'static str, String)> {
        crate::identity::public_from_did(agent_id)
            .map_err(|e| ("invalid_id", format!("{agent_id}: {e}")))?;
        let nonce = b64url(&crate::encoding::random_bytes::<32>());
        let challenge = NodeToAgent::Challenge {
            nonce: nonce.clone(),
            relay_id: self.node.id().to_string(),
        };
        socket
            .send(text(&challenge))
            .await
            .map_err(|e| ("internal", format!("cannot send the challenge: {e}")))?;
        let msg = tokio::time::timeout(self.config.auth_timeout, socket.recv())
            .await
            .map_err(|_| {
                (
                    "stale_timestamp",
                    "no auth within the time allowed".to_string(),
                )
            })?;
        let Some(Ok(Message::Text(t))) = msg else {
            return Err(("invalid_json", "expected an auth text frame".into()));
        };
        let AgentToNode::Auth {
            agent_id: claimed,
            signature,
        } = serde_json::from_str(t.as_str())
            .map_err(|e| ("invalid_json", format!("expected an auth message: {e}")))?;
        if claimed != agent_id {
            return Err((
                "bad_signature",
                format!("auth is for {claimed}, the tunnel for {agent_id}"),
            ));
        }
        verify_b64(
            agent_id,
            auth_signing_string(self.node.id(), agent_id, &nonce).as_bytes(),
            &signature,
        )
        .map_err(|_| {
            (
                "bad_signature",
                "the auth signature does not verify for this agent ID".to_string(),
            )
        })?;
        socket
            .send(text(&NodeToAgent::Ready))
            .await
            .map_err(|e| ("internal", format!("cannot send ready: {e}")))
    }

    /// The tunnel's loop; returns why it ended. Writes run on their own task so that a full
    /// socket towards the agent never stops this loop from reading its answers (with both sides
    /// blocked on writes, bulk traffic would deadlock).
    async fn pump(
        &self,
        socket: WebSocket,
        tunnel: &Tunnel,
        rx: mpsc::Receiver<Vec<u8>>,
    ) -> &'static str {
        let (sink, mut stream) = socket.split();
        let (ctl, ctl_rx) = mpsc::channel::<Message>(4);
        // Aborted if this future is dropped, so the socket never outlives the tunnel.
        let mut writer =
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(write_loop(sink, ctl_rx, rx)));
        let mut ping = tokio::time::interval(self.config.ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut last_heard = Instant::now();
        let mut writer_done = false;
        let why = loop {
            tokio::select! {
                biased;
                () = tunnel.close.cancelled() => {
                    // Never wait here: the writer may be stuck on an agent that stopped reading.
                    let _ = ctl.try_send(Message::Close(None));
                    break "closed by the node (replaced or shutting down)";
                }
                _ = &mut writer, if !writer_done => {
                    writer_done = true;
                    break "send failed";
                }
                msg = stream.next() => {
                    last_heard = Instant::now();
                    match msg {
                        Some(Ok(Message::Binary(b))) => {
                            self.frames_in.fetch_add(1, Ordering::Relaxed);
                            if let Err(e) = complete(tunnel, b) {
                                tracing::warn!(error = %e, "dropping a tunnel that sent a bad frame");
                                break "bad frame from the agent";
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => break "the agent closed it",
                        Some(Err(_)) => break "read error",
                        Some(Ok(_)) => {} // ping, pong, text: liveness only
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.config.ping_every * 2 {
                        break "silent for two ping intervals";
                    }
                    let _ = ctl.try_send(Message::Ping(Bytes::new()));
                }
            }
        };
        // Let a queued Close go out, then stop writing.
        drop(ctl);
        super::finish_writer(writer, writer_done).await;
        why
    }
}

/// Hands an agent's answer to the call waiting for it.
fn complete(tunnel: &Tunnel, frame: Bytes) -> Result<(), super::FrameError> {
    let (head, body) = decode::<ResponseHead>(&frame)?;
    let body_len = body.len();
    let waiting = tunnel
        .pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&head.id);
    if let Some(tx) = waiting {
        let _ = tx.send(RelayAnswer {
            status: head.status,
            headers: head.headers,
            body: frame.slice(frame.len() - body_len..),
        });
    }
    Ok(())
}

/// Writes control messages (first) and request frames to the agent until both queues close
/// or the socket fails.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut ctl: mpsc::Receiver<Message>,
    mut frames: mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let msg = tokio::select! {
            biased;
            m = ctl.recv() => match m {
                Some(m) => m,
                None => break,
            },
            f = frames.recv() => match f {
                Some(f) => Message::Binary(f.into()),
                None => break,
            },
        };
        let closing = matches!(msg, Message::Close(_));
        if sink.send(msg).await.is_err() || closing {
            break;
        }
    }
}

fn text<T: serde::Serialize>(msg: &T) -> Message {
    Message::Text(
        serde_json::to_string(msg)
            .expect("a control message serializes")
            .into(),
    )
}
