//! The first request head of a connection, read here before hyper sees the connection: within
//! the header timeout and byte cap, checked with `httparse`, and refused in the API's JSON error
//! shape (hyper's own refusals are empty bodies). Hand-written because no maintained crate reads
//! a request head with limits and answers in a custom format before handing the connection on.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::ServerLimits;
use crate::wire::ErrorCode;

/// Headers a request may carry at most.
pub(super) const MAX_HEADERS: usize = 128;
/// HTTP/2's connection preface.
pub(super) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Answers a connection over the cap with a 503 in the API's shape and closes it, without
/// waiting for its request (the write fits in any socket buffer; if it does not go out, the
/// client sees a closed connection, which is what it would see anyway).
pub(super) fn refuse_overloaded(tcp: &tokio::net::TcpStream) {
    let _ = tcp.try_write(&error_response(
        503,
        "Service Unavailable",
        ErrorCode::Overloaded,
        "the node is at its connection limit; retry shortly",
    ));
}

/// A complete HTTP/1.1 error answer in the API's JSON shape, closing the connection.
pub(super) fn error_response(status: u16, reason: &str, code: ErrorCode, message: &str) -> Vec<u8> {
    let body = serde_json::to_string(&crate::wire::ErrorBody::new(code.as_str(), message))
        .expect("an error body serializes");
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
pub(super) enum HeadError {
    /// The connection closed before a head began: nothing to answer.
    Closed,
    /// An answer to send before closing: status, reason, code, message.
    Refused(u16, &'static str, ErrorCode, String),
}

/// Reads the first request head (or an HTTP/2 preface) of a connection under the limits;
/// returns the bytes read, which hyper then reads again.
pub(super) async fn read_first_head<IO: AsyncRead + Unpin>(
    io: &mut IO,
    limits: &ServerLimits,
) -> Result<Vec<u8>, HeadError> {
    // Grown a little at a time and never past the cap (plus one read's worth): an unfinished
    // head costs what it sent, not a doubling of it.
    let mut buf = Vec::new();
    // Where the request line ends, once seen. Only new bytes are scanned for it, and the head
    // is parsed again only when a line ends: a client trickling bytes one at a time costs
    // linear work, not a parse of the whole buffer per byte.
    let mut line_end = None;
    loop {
        let before = buf.len();
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
                    ErrorCode::InvalidJson,
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
        let new_line = buf[before..].iter().position(|&b| b == b'\n');
        if line_end.is_none() {
            line_end = new_line.map(|i| before + i);
        }
        check_head(&buf, line_end, limits)?;
        // The first read is parsed whatever it holds, so garbage is refused at once.
        if (before == 0 || new_line.is_some()) && head_complete(&buf, limits)? {
            return Ok(buf);
        }
    }
}

fn refused(status: u16, reason: &'static str, code: ErrorCode, msg: &str) -> HeadError {
    HeadError::Refused(status, reason, code, msg.to_string())
}

/// Size rules that hold whether or not the head is complete yet (`line_end`: where the request
/// line ends, if it has).
fn check_head(buf: &[u8], line_end: Option<usize>, limits: &ServerLimits) -> Result<(), HeadError> {
    let line_len = line_end.unwrap_or(buf.len());
    // "METHOD " and " HTTP/1.1\r" around the target.
    if line_len > limits.max_uri_bytes + 32 {
        return Err(HeadError::Refused(
            414,
            "URI Too Long",
            ErrorCode::TooLarge,
            format!("the request target is over {} bytes", limits.max_uri_bytes),
        ));
    }
    if buf.len() > limits.max_header_bytes {
        return Err(HeadError::Refused(
            431,
            "Request Header Fields Too Large",
            ErrorCode::TooLarge,
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
                    ErrorCode::TooLarge,
                    format!("the request target is over {} bytes", limits.max_uri_bytes),
                ));
            }
            Ok(true)
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::Refused(
            431,
            "Request Header Fields Too Large",
            ErrorCode::TooLarge,
            format!("a request carries at most {MAX_HEADERS} headers"),
        )),
        Err(e) => Err(HeadError::Refused(
            400,
            "Bad Request",
            ErrorCode::InvalidJson,
            format!("malformed HTTP request head: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::server::ServerLimits;

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

    /// Hands out one byte per read, as a client trickling its head would.
    struct Trickle<'a>(&'a [u8]);

    impl AsyncRead for Trickle<'_> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if let Some((first, rest)) = self.0.split_first() {
                buf.put_slice(&[*first]);
                self.0 = rest;
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn heads_trickled_a_byte_at_a_time_are_read_whole_or_refused() {
        let head = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n";
        let got = read_first_head(&mut Trickle(head), &limits()).await;
        assert_eq!(got.ok().as_deref(), Some(&head[..]));
        let bad = b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n";
        assert_eq!(
            status(read_first_head(&mut Trickle(bad), &limits()).await),
            400
        );
        let big = format!("GET / HTTP/1.1\r\nX-Pad: {}", "a".repeat(2000));
        assert_eq!(
            status(read_first_head(&mut Trickle(big.as_bytes()), &limits()).await),
            431
        );
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
        let r = String::from_utf8(error_response(
            431,
            "Too Large",
            ErrorCode::TooLarge,
            "x\"y",
        ))
        .expect("utf8");
        let (head, body) = r.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "too_large");
        assert_eq!(v["error"]["message"], "x\"y");
    }
}
