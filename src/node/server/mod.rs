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
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod head;
mod io;

use head::{HeadError, MAX_HEADERS, error_response, read_first_head, refuse_overloaded};
use io::Guarded;

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

/// Connections allowed past the cap while evicted ones are closing.
const EVICTION_SLACK: usize = 64;

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

    /// A place for a new connection, evicting the longest-idle one at the cap; `None`: refuse.
    fn admit(self: &Arc<Self>) -> Option<Place> {
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
        Some(Place {
            conns: self.clone(),
            id,
            slot,
        })
    }

    /// Notes that `slot`'s connection moved a byte now.
    fn touch(&self, slot: &Slot) {
        slot.last.store(self.now_ms(), Ordering::Relaxed);
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
) -> std::io::Result<()> {
    let conns = Arc::new(Conns {
        max: limits.max_connections.max(1),
        stats,
        started: Instant::now(),
        next: AtomicU64::new(0),
        slots: parking_lot::Mutex::new(HashMap::new()),
    });
    let http = Arc::new(http_builder(&limits));
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
        let Some(place) = conns.admit() else {
            conns.stats.refused.fetch_add(1, Ordering::Relaxed);
            refuse_overloaded(&tcp);
            continue;
        };
        let (app, http, limits, stop, acceptor) = (
            app.clone(),
            http.clone(),
            limits.clone(),
            stop.clone(),
            acceptor.clone(),
        );
        tracker.spawn(async move {
            match acceptor {
                None => serve_conn(tcp, app, &http, &limits, place, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => serve_conn(tls, app, &http, &limits, place, stop).await,
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
    slot: Arc<Slot>,
}

/// hyper's settings for every connection: the same limits for the heads after the first (the
/// header timeout also closes idle keep-alive connections) and for HTTP/2.
fn http_builder(limits: &ServerLimits) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
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
    builder
}

impl Drop for Place {
    fn drop(&mut self) {
        self.conns.release(self.id);
    }
}

async fn serve_conn<IO>(
    mut io: IO,
    app: Router,
    http: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    limits: &ServerLimits,
    place: Place,
    stop: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (slot, stats) = (place.slot.clone(), place.conns.stats.clone());
    let head = tokio::select! {
        head = tokio::time::timeout(limits.header_timeout, read_first_head(&mut io, limits)) => head,
        () = slot.evict.notified() => return,
        () = stop.cancelled() => return,
    };
    let prefix = match head {
        Ok(Ok(prefix)) => prefix,
        Ok(Err(HeadError::Closed)) => return,
        Ok(Err(HeadError::Refused(status, reason, code, message))) => {
            stats.bad_heads.fetch_add(1, Ordering::Relaxed);
            let answer = error_response(status, reason, code, &message);
            let _ = tokio::time::timeout(limits.write_timeout, io.write_all(&answer)).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
            return;
        }
        Err(_) => {
            stats.head_timeouts.fetch_add(1, Ordering::Relaxed);
            let answer = error_response(
                408,
                "Request Timeout",
                crate::wire::ErrorCode::RequestTimeout,
                &format!(
                    "no complete request head within {}",
                    crate::encoding::format_duration(limits.header_timeout)
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
        place,
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
    let conn = http.serve_connection_with_upgrades(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        () = slot.evict.notified() => {}
        () = stop.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    // In-flight requests get their own time limits; this bounds the rest.
    let _ = tokio::time::timeout(limits.write_timeout, conn).await;
}

/// Marks a request's handler as running on its connection (an active connection is never
/// evicted).
struct ActiveGuard(Arc<Slot>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_picks_the_longest_idle_connection() {
        let conns = Arc::new(Conns {
            max: 2,
            stats: Arc::default(),
            started: Instant::now(),
            next: AtomicU64::new(0),
            slots: parking_lot::Mutex::new(HashMap::new()),
        });
        // Places are held for the test's length: dropping one gives its place back.
        let a = conns.admit().expect("first");
        let b = conns.admit().expect("second");
        a.slot.last.store(10, Ordering::Relaxed);
        b.slot.last.store(5, Ordering::Relaxed);
        b.slot.active.store(1, Ordering::Relaxed);
        // b is older but busy: a is asked to go.
        let c = conns.admit().expect("third, by evicting");
        assert!(a.slot.evicting.load(Ordering::Relaxed));
        assert!(!b.slot.evicting.load(Ordering::Relaxed));
        // Nobody idle and not already leaving: refused.
        a.slot.active.store(1, Ordering::Relaxed);
        c.slot.active.store(1, Ordering::Relaxed);
        assert!(conns.admit().is_none());
    }
}
