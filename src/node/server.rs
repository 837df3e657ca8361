//! The node's listener: every connection bounded in number, time and bytes before any handler
//! sees a request; TLS where configured.
//!
//! Flow of one connection: accept → admission against [`ServerLimits::max_connections`] (at the
//! cap the connection idle the longest is asked to close to make room; with none idle the new
//! one is answered 503 `overloaded` and closed — never an accept error) → TLS handshake within
//! the header timeout → the first request head read here, within the header timeout and
//! [`ServerLimits::max_header_bytes`], checked with `httparse` and refused with the API's JSON
//! error shape (400, 408, 414, 431) → hyper, with the same limits for later heads on the
//! connection (`header_read_timeout` also closes idle keep-alive connections) and a per-frame
//! body timeout ([`tower_http::timeout::RequestBodyTimeoutLayer`], in the router). Writes that
//! make no progress for [`ServerLimits::write_timeout`] end the connection, so a client that
//! never reads its answer cannot hold one forever.
//!
//! hyper answers a malformed head on a kept-alive connection itself (an empty 400/431); the
//! first head of every connection — where scanners and fuzzers send theirs — gets the JSON
//! shape. This is hand-written because no maintained crate reads a request head with limits and
//! answers in a custom format before handing the connection to hyper.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Bounds on every connection, with the defaults a public node runs with.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Open connections at most (also capped by the process's descriptor limit).
    pub max_connections: usize,
    /// A request head (and a TLS handshake) must arrive within this; also how long an idle
    /// keep-alive connection stays open.
    pub header_timeout: Duration,
    /// A request body must keep arriving: the longest gap between two pieces of it.
    pub body_timeout: Duration,
    /// An answer must keep leaving: the longest a write may make no progress.
    pub write_timeout: Duration,
    /// Largest request head (request line and headers).
    pub max_header_bytes: usize,
    /// Longest request target (path and query).
    pub max_uri_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
        }
    }
}

/// Connection counters, copied into `/metrics` when scraped.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Idle connections closed to make room at the cap.
    pub evicted: AtomicU64,
    /// Connections answered 503 at the cap.
    pub refused: AtomicU64,
    /// Connections whose first head did not arrive in time.
    pub head_timeouts: AtomicU64,
    /// First heads refused as malformed or too large.
    pub bad_heads: AtomicU64,
}

/// Headers a request may carry at most.
const MAX_HEADERS: usize = 128;
/// Connections allowed past the cap while evicted ones are closing.
const EVICTION_SLACK: usize = 64;
/// HTTP/2's connection preface.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Why TLS settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the certificate, key or CA.
    #[error("invalid TLS settings: {0}")]
    Config(String),
}

/// A rustls server configuration from PEM files: the certificate chain, its private key, and
/// optionally a CA whose certificates clients must present (mutual TLS).
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem_err = |path: &Path, e: &dyn std::fmt::Display| TlsError::Pem {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(cert, &e))?;
    if certs.is_empty() {
        return Err(pem_err(cert, &"no CERTIFICATE block"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| pem_err(ca, &e))? {
                roots
                    .add(c.map_err(|e| pem_err(ca, &e))?)
                    .map_err(|e| TlsError::Config(e.to_string()))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Raises the soft descriptor limit to the hard one and returns the connection cap that fits
/// in it: each connection may need a second descriptor (an upstream call), and the store,
/// listener and peers need some of their own.
pub fn fit_connections(wanted: usize) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the descriptor limit");
            return wanted;
        }
    };
    let room = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(256)
        / 2;
    wanted.min(room.max(16))
}

/// One open connection, as the admission table sees it.
struct Slot {
    /// Requests whose handler is running.
    active: AtomicU32,
    /// Milliseconds since the server started at the last byte read or written.
    last: AtomicU64,
    /// Asked to close.
    evicting: AtomicBool,
    /// Handed to a WebSocket (a relay tunnel): it keeps its place but is never evicted, since
    /// no one is listening for the request to close any more.
    upgraded: AtomicBool,
    evict: Notify,
}

/// Every open connection, for the cap and for choosing whom to evict.
struct Conns {
    max: usize,
    stats: Arc<ConnStats>,
    started: Instant,
    next: AtomicU64,
    slots: parking_lot::Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Conns {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A slot for a new connection, evicting the longest-idle one at the cap; `None`: refuse.
    fn admit(&self) -> Option<(u64, Arc<Slot>)> {
        let mut slots = self.slots.lock();
        if slots.len() >= self.max {
            if slots.len() >= self.max + EVICTION_SLACK {
                return None;
            }
            let victim = slots
                .values()
                .filter(|s| {
                    s.active.load(Ordering::Relaxed) == 0
                        && !s.evicting.load(Ordering::Relaxed)
                        && !s.upgraded.load(Ordering::Relaxed)
                })
                .min_by_key(|s| s.last.load(Ordering::Relaxed))?;
            victim.evicting.store(true, Ordering::Relaxed);
            victim.evict.notify_one();
            self.stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            active: AtomicU32::new(0),
            last: AtomicU64::new(self.now_ms()),
            evicting: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
            evict: Notify::new(),
        });
        slots.insert(id, slot.clone());
        self.stats.open.store(slots.len() as u64, Ordering::Relaxed);
        Some((id, slot))
    }

    fn release(&self, id: u64) {
        let mut slots = self.slots.lock();
        slots.remove(&id);
        self.stats.open.store(slots.len() as u64, Ordering::Relaxed);
    }
}

/// Serves `app` on `listener` under `limits` (over TLS when `tls` is set) until `shutdown`
/// resolves; then stops accepting, lets open connections finish their requests, and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    stats: Arc<ConnStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let conns = Arc::new(Conns {
        max: limits.max_connections.max(1),
        stats,
        started: Instant::now(),
        next: AtomicU64::new(0),
        slots: parking_lot::Mutex::new(HashMap::new()),
    });
    let limits = Arc::new(limits);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or memory: back off instead of spinning; the
                    // connections being closed free what the next accept needs.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let Some((id, slot)) = conns.admit() else {
            conns.stats.refused.fetch_add(1, Ordering::Relaxed);
            refuse_overloaded(&tcp);
            continue;
        };
        let place = Place {
            conns: conns.clone(),
            id,
        };
        let (app, limits, conns, stop, acceptor) = (
            app.clone(),
            limits.clone(),
            conns.clone(),
            stop.clone(),
            acceptor.clone(),
        );
        tracker.spawn(async move {
            match acceptor {
                None => serve_conn(tcp, app, &limits, &conns, slot, place, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            serve_conn(tls, app, &limits, &conns, slot, place, stop).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// A connection's place in the table, given back when the connection's bytes are dropped —
/// for a relay tunnel that is when the WebSocket ends, not when hyper hands it over.
struct Place {
    conns: Arc<Conns>,
    id: u64,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.conns.release(self.id);
    }
}

/// Answers a connection over the cap with a 503 in the API's shape and closes it, without
/// waiting for its request (the write fits in any socket buffer; if it does not go out, the
/// client sees a closed connection, which is what it would see anyway).
fn refuse_overloaded(tcp: &TcpStream) {
    let _ = tcp.try_write(&error_response(
        503,
        "Service Unavailable",
        "overloaded",
        "the node is at its connection limit; retry shortly",
    ));
}

/// A complete HTTP/1.1 error answer in the API's JSON shape, closing the connection.
fn error_response(status: u16, reason: &str, code: &str, message: &str) -> Vec<u8> {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let retry = if status == 503 {
        "retry-after: 1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Why the first request head was refused.
#[derive(Debug, PartialEq)]
enum HeadError {
    /// The connection closed before a head began: nothing to answer.
    Closed,
    /// An answer to send before closing: status, reason, code, message.
    Refused(u16, &'static str, &'static str, String),
}

/// Reads the first request head (or an HTTP/2 preface) of a connection under the limits;
/// returns the bytes read, which hyper then reads again.
async fn read_first_head<IO: AsyncRead + Unpin>(
    io: &mut IO,
    limits: &ServerLimits,
) -> Result<Vec<u8>, HeadError> {
    // Grown a little at a time and never past the cap (plus one read's worth): an unfinished
    // head costs what it sent, not a doubling of it.
    let mut buf = Vec::new();
    loop {
        let room = (limits.max_header_bytes + 1)
            .saturating_sub(buf.len())
            .clamp(1, 2048);
        buf.reserve_exact(room);
        let n = io.read_buf(&mut buf).await.map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                HeadError::Closed
            } else {
                refused(
                    400,
                    "Bad Request",
                    "invalid_json",
                    "the request head ended early",
                )
            });
        }
        if H2_PREFACE.starts_with(&buf[..buf.len().min(H2_PREFACE.len())]) {
            if buf.len() >= H2_PREFACE.len() {
                return Ok(buf);
            }
            continue;
        }
        check_head(&buf, limits)?;
        if head_complete(&buf, limits)? {
            return Ok(buf);
        }
    }
}

fn refused(status: u16, reason: &'static str, code: &'static str, msg: &str) -> HeadError {
    HeadError::Refused(status, reason, code, msg.to_string())
}

/// Size rules that hold whether or not the head is complete yet.
fn check_head(buf: &[u8], limits: &ServerLimits) -> Result<(), HeadError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    let line_len = line_end.unwrap_or(buf.len());
    // "METHOD " and " HTTP/1.1\r" around the target.
    if line_len > limits.max_uri_bytes + 32 {
        return Err(HeadError::Refused(
            414,
            "URI Too Long",
            "too_large",
            format!("the request target is over {} bytes", limits.max_uri_bytes),
        ));
    }
    if buf.len() > limits.max_header_bytes {
        return Err(HeadError::Refused(
            431,
            "Request Header Fields Too Large",
            "too_large",
            format!("the request head is over {} bytes", limits.max_header_bytes),
        ));
    }
    Ok(())
}

/// Parses what has arrived: `true` once the head is whole and valid.
fn head_complete(buf: &[u8], limits: &ServerLimits) -> Result<bool, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(false),
        Ok(httparse::Status::Complete(_)) => {
            if req.path.is_some_and(|p| p.len() > limits.max_uri_bytes) {
                return Err(HeadError::Refused(
                    414,
                    "URI Too Long",
                    "too_large",
                    format!("the request target is over {} bytes", limits.max_uri_bytes),
                ));
            }
            Ok(true)
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::Refused(
            431,
            "Request Header Fields Too Large",
            "too_large",
            format!("a request carries at most {MAX_HEADERS} headers"),
        )),
        Err(e) => Err(HeadError::Refused(
            400,
            "Bad Request",
            "invalid_json",
            format!("malformed HTTP request head: {e}"),
        )),
    }
}

async fn serve_conn<IO>(
    mut io: IO,
    app: Router,
    limits: &ServerLimits,
    conns: &Conns,
    slot: Arc<Slot>,
    place: Place,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let head = tokio::select! {
        head = tokio::time::timeout(limits.header_timeout, read_first_head(&mut io, limits)) => head,
        () = slot.evict.notified() => return,
        () = stop.cancelled() => return,
    };
    let prefix = match head {
        Ok(Ok(prefix)) => prefix,
        Ok(Err(HeadError::Closed)) => return,
        Ok(Err(HeadError::Refused(status, reason, code, message))) => {
            conns.stats.bad_heads.fetch_add(1, Ordering::Relaxed);
            let answer = error_response(status, reason, code, &message);
            let _ = tokio::time::timeout(limits.write_timeout, io.write_all(&answer)).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
            return;
        }
        Err(_) => {
            conns.stats.head_timeouts.fetch_add(1, Ordering::Relaxed);
            let answer = error_response(
                408,
                "Request Timeout",
                "request_timeout",
                &format!(
                    "no complete request head within {}",
                    humantime::format_duration(limits.header_timeout)
                ),
            );
            let _ = tokio::time::timeout(Duration::from_secs(1), io.write_all(&answer)).await;
            return;
        }
    };
    let io = Guarded {
        inner: io,
        prefix,
        pos: 0,
        slot: slot.clone(),
        _place: place,
        started: conns.started,
        write_timeout: limits.write_timeout,
        stall: None,
    };
    let service = {
        let slot = slot.clone();
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            let slot = slot.clone();
            slot.active.fetch_add(1, Ordering::Relaxed);
            async move {
                let _active = ActiveGuard(slot.clone());
                let res = tower::ServiceExt::oneshot(app, req.map(axum::body::Body::new)).await;
                if let Ok(r) = &res
                    && r.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS
                {
                    slot.upgraded.store(true, Ordering::Relaxed);
                }
                res
            }
        })
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(limits.header_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let closing = tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        () = slot.evict.notified() => true,
        () = stop.cancelled() => true,
    };
    if closing {
        conn.as_mut().graceful_shutdown();
        // In-flight requests get their own time limits; this bounds the rest.
        let _ = tokio::time::timeout(limits.write_timeout, conn).await;
    }
}

/// Marks a request's handler as running on its connection (an active connection is never
/// evicted).
struct ActiveGuard(Arc<Slot>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's byte stream as hyper sees it: the head already read replayed first, every
/// byte moved noted for eviction, and writes that stall past the limit turned into an error.
struct Guarded<IO> {
    inner: IO,
    prefix: Vec<u8>,
    pos: usize,
    slot: Arc<Slot>,
    _place: Place,
    started: Instant,
    write_timeout: Duration,
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> Guarded<IO> {
    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.slot.last.store(ms, Ordering::Relaxed);
    }

    /// Notes a write's progress, or its stall (an error once the stall outlasts the limit).
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.stall = None;
                if matches!(ready, Poll::Ready(Ok(n)) if n > 0) {
                    self.touch();
                }
                ready
            }
        }
    }

    /// Called when a write could not proceed: errors once the stall outlasts the limit.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let timeout = self.write_timeout;
        let sleep = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        res
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        this.wrote(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ServerLimits {
        ServerLimits {
            max_header_bytes: 1024,
            max_uri_bytes: 100,
            ..ServerLimits::default()
        }
    }

    async fn head_of(bytes: &[u8]) -> Result<Vec<u8>, HeadError> {
        let mut input = bytes;
        read_first_head(&mut input, &limits()).await
    }

    fn status(r: Result<Vec<u8>, HeadError>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(HeadError::Closed) => 0,
            Err(HeadError::Refused(s, ..)) => s,
        }
    }

    #[tokio::test]
    async fn heads_are_checked_before_hyper_sees_them() {
        assert_eq!(
            status(head_of(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await),
            200
        );
        assert_eq!(status(head_of(b"GET / HTTP/1.0\r\n\r\n").await), 200);
        assert_eq!(status(head_of(H2_PREFACE).await), 200);
        assert_eq!(status(head_of(b"").await), 0);
        assert_eq!(status(head_of(b"GET /x HTTP/1.1\r\nHo").await), 400);
        assert_eq!(status(head_of(b"GE\x00T / HTTP/1.1\r\n\r\n").await), 400);
        assert_eq!(status(head_of(b"GET / HTTP/2.0\r\n\r\n").await), 400);
        let long_uri = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(200));
        assert_eq!(status(head_of(long_uri.as_bytes()).await), 414);
        let long_uri_unfinished = format!("GET /{}", "a".repeat(200));
        assert_eq!(status(head_of(long_uri_unfinished.as_bytes()).await), 414);
        let big = format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n", "a".repeat(2000));
        assert_eq!(status(head_of(big.as_bytes()).await), 431);
        let many: String = (0..200).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            status(
                read_first_head(
                    &mut many.as_bytes(),
                    &ServerLimits {
                        max_header_bytes: 64 * 1024,
                        ..limits()
                    }
                )
                .await
            ),
            431
        );
    }

    #[test]
    fn error_answers_are_json() {
        let r =
            String::from_utf8(error_response(431, "Too Large", "too_large", "x\"y")).expect("utf8");
        let (head, body) = r.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "too_large");
        assert_eq!(v["error"]["message"], "x\"y");
    }

    #[test]
    fn eviction_picks_the_longest_idle_connection() {
        let conns = Conns {
            max: 2,
            stats: Arc::default(),
            started: Instant::now(),
            next: AtomicU64::new(0),
            slots: parking_lot::Mutex::new(HashMap::new()),
        };
        let (_, a) = conns.admit().expect("first");
        let (_, b) = conns.admit().expect("second");
        a.last.store(10, Ordering::Relaxed);
        b.last.store(5, Ordering::Relaxed);
        b.active.store(1, Ordering::Relaxed);
        // b is older but busy: a is asked to go.
        let (_, _c) = conns.admit().expect("third, by evicting");
        assert!(a.evicting.load(Ordering::Relaxed));
        assert!(!b.evicting.load(Ordering::Relaxed));
        // Nobody idle and not already leaving: refused.
        a.active.store(1, Ordering::Relaxed);
        _c.active.store(1, Ordering::Relaxed);
        assert!(conns.admit().is_none());
    }
}
