//! HTTP/1.1 calls to agents' `http://` endpoints, each driven inside the calling task.
//!
//! The gateway and `connect` spend most of a small call's life handing it between tasks. A
//! pooled client such as hyper-util's runs every connection as a task of its own, so one call
//! is two more hand-offs (caller → connection task → caller), and on a multi-threaded runtime
//! each may wake another worker thread. Here a call takes an idle connection (or dials one),
//! and the calling task polls the connection itself while it waits for the answer; the
//! connection goes back to the pool when the answer has been read. hyper's own connection
//! type does the HTTP; only the pool is ours (nothing published pools connections this way).
//!
//! An idle connection is not polled, so a closed one is found when it is taken: it is polled
//! once first, and one that has ended is dropped. A request that the connection refused before
//! writing a byte (it closed in between) is sent again on a fresh connection; one that may
//! have been written is never sent twice.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use axum::body::Bytes;
use axum::http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest wait for a TCP connection to an agent.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

type Conn = Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// A connection not in use.
struct Idle {
    sender: SendRequest<Full<Bytes>>,
    conn: Conn,
    since: std::time::Instant,
}

/// An idle connection older than this is closed rather than reused (as hyper-util's pool).
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);
/// Most idle connections kept over all agents: a gateway calling many agents must not hold a
/// descriptor for each of them forever.
const MAX_IDLE_TOTAL: usize = 1024;

#[derive(Default)]
struct IdleSet {
    by_addr: HashMap<String, Vec<Idle>>,
    total: usize,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The URL is not `http://host[:port]/…`.
    #[error("not an http:// URL: {0}")]
    BadUrl(String),
    /// No TCP connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange broke.
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// The connection closed before a whole answer came.
    #[error("the connection to {addr} closed before a whole answer: {why}")]
    Closed {
        /// `host:port`.
        addr: String,
        /// What was seen.
        why: String,
    },
    /// The answer's body is over the cap.
    #[error("the answer is over {0} bytes")]
    TooLarge(usize),
}

/// Idle connections by `host:port`.
pub struct Pool {
    idle: Mutex<IdleSet>,
    max_idle_per_host: usize,
    max_idle_total: usize,
    idle_timeout: std::time::Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_idle_per_host", &self.max_idle_per_host)
            .finish_non_exhaustive()
    }
}

/// Polls `fut` and, while it waits, `conn`; `None` if the connection ended first and `fut`
/// cannot finish without it.
async fn drive<T>(conn: &mut Conn, fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = std::pin::pin!(fut);
    let mut conn_done = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if !conn_done && conn.as_mut().poll(cx).is_ready() {
            conn_done = true;
            // What the connection delivered before it ended (a body up to a close) is
            // buffered: one more poll finishes `fut`, or nothing ever will.
            return Poll::Ready(match fut.as_mut().poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            });
        }
        Poll::Pending
    })
    .await
}

/// True if the idle connection has ended (the agent closed it while it sat in the pool).
fn has_ended(conn: &mut Conn) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    conn.as_mut().poll(&mut cx).is_ready()
}

impl Pool {
    /// A pool keeping at most `max_idle_per_host` idle connections per `host:port`.
    pub fn new(max_idle_per_host: usize) -> Self {
        Self::with_limits(max_idle_per_host, MAX_IDLE_TOTAL, IDLE_TIMEOUT)
    }

    /// A pool with its every limit given.
    pub fn with_limits(
        max_idle_per_host: usize,
        max_idle_total: usize,
        idle_timeout: std::time::Duration,
    ) -> Self {
        Self {
            idle: Mutex::new(IdleSet::default()),
            max_idle_per_host,
            max_idle_total,
            idle_timeout,
        }
    }

    fn take(&self, addr: &str) -> Option<Idle> {
        let mut idle = self.idle.lock();
        let IdleSet { by_addr, total } = &mut *idle;
        let list = by_addr.get_mut(addr)?;
        let mut found = None;
        while let Some(mut c) = list.pop() {
            *total -= 1;
            if c.since.elapsed() < self.idle_timeout
                && !c.sender.is_closed()
                && !has_ended(&mut c.conn)
            {
                found = Some(c);
                break;
            }
        }
        if list.is_empty() {
            by_addr.remove(addr);
        }
        found
    }

    fn put(&self, addr: String, mut c: Idle) {
        if c.sender.is_closed() || has_ended(&mut c.conn) {
            return;
        }
        c.since = std::time::Instant::now();
        let mut idle = self.idle.lock();
        if idle.total >= self.max_idle_total {
            // Make room by closing every expired connection; if none, this one goes.
            let IdleSet { by_addr, total } = &mut *idle;
            by_addr.retain(|_, list| {
                let before = list.len();
                list.retain(|c| c.since.elapsed() < self.idle_timeout);
                *total -= before - list.len();
                !list.is_empty()
            });
            if *total >= self.max_idle_total {
                return;
            }
        }
        let list = idle.by_addr.entry(addr).or_default();
        if list.len() < self.max_idle_per_host {
            list.push(c);
            idle.total += 1;
        }
    }

    async fn dial(addr: &str) -> Result<Idle, UpstreamError> {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr));
        let stream = match connect.await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(UpstreamError::Connect {
                    addr: addr.to_string(),
                    source,
                });
            }
            Err(_) => {
                return Err(UpstreamError::Connect {
                    addr: addr.to_string(),
                    source: std::io::ErrorKind::TimedOut.into(),
                });
            }
        };
        // Small calls: send each write at once rather than waiting for an ACK (Nagle).
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        Ok(Idle {
            sender,
            conn: Box::pin(conn),
            since: std::time::Instant::now(),
        })
    }

    /// Sends `req` (an absolute `http://` URI) and reads the whole answer, its body capped at
    /// `max_body` bytes. No timeout here: the caller bounds the whole call.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        max_body: usize,
    ) -> Result<(axum::http::response::Parts, Bytes), UpstreamError> {
        let (addr, mut req) = origin_form(req)?;
        let mut fresh = false;
        loop {
            let mut c = match self.take(&addr) {
                Some(c) => c,
                None => {
                    fresh = true;
                    Self::dial(&addr).await?
                }
            };
            let Idle { sender, conn, .. } = &mut c;
            let ready = drive(conn, sender.ready()).await;
            if !matches!(ready, Some(Ok(()))) {
                if fresh {
                    return Err(match ready {
                        Some(Err(e)) => e.into(),
                        _ => UpstreamError::Closed {
                            addr,
                            why: "closed before the request could be sent".into(),
                        },
                    });
                }
                continue; // a stale pooled connection: take another or dial
            }
            let answer = drive(conn, async {
                let res: Response<_> = sender.try_send_request(req).await?;
                let (parts, body) = res.into_parts();
                let bytes = Limited::new(body, max_body)
                    .collect()
                    .await
                    .map_err(|e| {
                        if e.is::<LengthLimitError>() {
                            Answer::TooLarge
                        } else {
                            match e.downcast::<hyper::Error>() {
                                Ok(e) => Answer::Http(*e),
                                Err(e) => Answer::Other(e.to_string()),
                            }
                        }
                    })?
                    .to_bytes();
                Ok::<_, Answer>((parts, bytes))
            })
            .await;
            match answer {
                Some(Ok(done)) => {
                    // `put` polls the connection once more, so it sees the exchange end.
                    self.put(addr, c);
                    return Ok(done);
                }
                Some(Err(Answer::Unsent(mut e))) if !fresh => match e.take_message() {
                    // Refused before a byte was written: safe to send on another connection.
                    Some(back) => req = back,
                    None => return Err(e.into_error().into()),
                },
                Some(Err(Answer::Unsent(e))) => return Err(e.into_error().into()),
                Some(Err(Answer::Http(e))) => return Err(e.into()),
                Some(Err(Answer::TooLarge)) => return Err(UpstreamError::TooLarge(max_body)),
                Some(Err(Answer::Other(why))) => return Err(UpstreamError::Closed { addr, why }),
                None => {
                    return Err(UpstreamError::Closed {
                        addr,
                        why: "no answer".into(),
                    });
                }
            }
        }
    }
}

/// How one exchange on a connection ended, short of an answer.
enum Answer {
    Unsent(Box<hyper::client::conn::TrySendError<Request<Full<Bytes>>>>),
    Http(hyper::Error),
    TooLarge,
    Other(String),
}

impl From<hyper::client::conn::TrySendError<Request<Full<Bytes>>>> for Answer {
    fn from(e: hyper::client::conn::TrySendError<Request<Full<Bytes>>>) -> Self {
        Self::Unsent(Box::new(e))
    }
}

/// Splits an absolute `http://` request into its `host:port` and the origin-form request
/// (path and query as the URI, `Host` set) that goes on the wire.
fn origin_form(
    mut req: Request<Full<Bytes>>,
) -> Result<(String, Request<Full<Bytes>>), UpstreamError> {
    let uri = req.uri().clone();
    let bad = || UpstreamError::BadUrl(uri.to_string());
    if uri.scheme_str() != Some("http") {
        return Err(bad());
    }
    let authority = uri.authority().ok_or_else(bad)?;
    let addr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    // `Host` without the default port, as HTTP clients write it (RFC 9110 §4.2.3): the agent
    // then sees the `@authority` an RFC 9421 signer covered (docs/protocol.md §4b).
    let host = match authority.port_u16() {
        Some(80) => HeaderValue::from_str(authority.host()),
        _ => HeaderValue::from_str(authority.as_str()),
    }
    .map_err(|_| bad())?;
    req.headers_mut().insert(header::HOST, host);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *req.uri_mut() = path.parse::<Uri>().map_err(|_| bad())?;
    Ok((addr, req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_keeps_path_query_and_host() {
        let req = Request::builder()
            .uri("http://127.0.0.1:8080/forecast?days=2")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let (addr, req) = origin_form(req).expect("http URL");
        assert_eq!(addr, "127.0.0.1:8080");
        assert_eq!(req.uri().to_string(), "/forecast?days=2");
        assert_eq!(req.headers()[header::HOST], "127.0.0.1:8080");
        let req = Request::builder()
            .uri("http://example.test")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let (addr, req) = origin_form(req).expect("http URL");
        assert_eq!((addr.as_str(), req.uri().path()), ("example.test:80", "/"));
        let req = Request::builder()
            .uri("http://Example.test:80/x")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let (addr, req) = origin_form(req).expect("http URL");
        assert_eq!(addr, "Example.test:80");
        assert_eq!(
            req.headers()[header::HOST],
            "Example.test",
            "no default port"
        );
        let tls = Request::builder()
            .uri("https://example.test/")
            .body(Full::new(Bytes::new()))
            .expect("request");
        assert!(matches!(origin_form(tls), Err(UpstreamError::BadUrl(_))));
    }

    /// One keep-alive connection serves many calls; when the agent closes it between calls,
    /// the next call notices and dials again instead of failing.
    #[tokio::test]
    async fn reuses_connections_and_survives_a_closed_one() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        // A tiny HTTP/1.1 server: answers two requests per connection, then closes it.
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    for _ in 0..2 {
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            let Ok(n) = s.read(&mut buf).await else {
                                return;
                            };
                            if n == 0 {
                                return;
                            }
                            got.extend_from_slice(&buf[..n]);
                        }
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                    }
                });
            }
        });
        let pool = Pool::new(4);
        for i in 0..6 {
            let req = Request::builder()
                .uri(format!("http://{addr}/call/{i}"))
                .body(Full::new(Bytes::new()))
                .expect("request");
            let (parts, body) = pool.send(req, 1024).await.expect("answered");
            assert_eq!(parts.status, 200);
            assert_eq!(&body[..], b"ok");
        }
        let n = accepted.load(Ordering::SeqCst);
        assert!((3..=6).contains(&n), "{n} connections for 6 calls");
    }

    /// Counts the connections a keep-alive HTTP server on port 0 accepts.
    async fn counting_server() -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let app = app.clone();
                tokio::spawn(async move {
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn idle_connections_expire_and_the_total_is_capped() {
        use std::sync::atomic::Ordering;
        let get = |addr: std::net::SocketAddr| {
            Request::builder()
                .uri(format!("http://{addr}/"))
                .body(Full::new(Bytes::new()))
                .expect("request")
        };
        let (a, a_count) = counting_server().await;
        let (b, b_count) = counting_server().await;
        // Kept: three calls, one connection.
        let keep = Pool::with_limits(4, 8, std::time::Duration::from_secs(60));
        for _ in 0..3 {
            keep.send(get(a), 100).await.expect("answered");
        }
        assert_eq!(a_count.load(Ordering::SeqCst), 1);
        // Expired at once: every call dials.
        let expire = Pool::with_limits(4, 8, std::time::Duration::ZERO);
        for _ in 0..3 {
            expire.send(get(a), 100).await.expect("answered");
        }
        assert_eq!(a_count.load(Ordering::SeqCst), 4);
        // One idle connection in all: a's is kept, b's is closed after its call.
        let capped = Pool::with_limits(4, 1, std::time::Duration::from_secs(60));
        capped.send(get(a), 100).await.expect("answered");
        capped.send(get(b), 100).await.expect("answered");
        capped.send(get(b), 100).await.expect("answered");
        capped.send(get(a), 100).await.expect("answered");
        assert_eq!(a_count.load(Ordering::SeqCst), 5, "a's connection was kept");
        assert_eq!(b_count.load(Ordering::SeqCst), 2, "b found no room");
    }

    #[tokio::test]
    async fn caps_the_body_and_reports_refused_connections() {
        let app = axum::Router::new().fallback(|| async { "x".repeat(5000) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let pool = Pool::new(4);
        let req = |url: String| {
            Request::builder()
                .uri(url)
                .body(Full::new(Bytes::new()))
                .expect("request")
        };
        let big = pool.send(req(format!("http://{addr}/")), 1000).await;
        assert!(matches!(big, Err(UpstreamError::TooLarge(1000))), "{big:?}");
        let ok = pool.send(req(format!("http://{addr}/")), 10_000).await;
        assert_eq!(ok.expect("fits").1.len(), 5000);
        // A port nobody listens on (bound, then closed).
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let refused = pool
            .send(req(format!("http://127.0.0.1:{port}/")), 10)
            .await;
        assert!(
            matches!(refused, Err(UpstreamError::Connect { .. })),
            "{refused:?}"
        );
    }
}
