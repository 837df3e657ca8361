//! Speaking the protocols agents already run: MCP (Streamable HTTP) and A2A (JSON-RPC), over
//! AgentMesh's signed requests — through a node's gateway, a relay, or straight to the agent —
//! and A2A Agent Cards in and out of AgentMesh manifests.
//!
//! Every HTTP request of an exchange (an MCP session is several) is signed on its own (docs/protocol.md
//! §4), so the gateway admits it and the agent can verify the caller; the answer's signature is
//! checked when the agent signs it.

pub mod a2a;
pub mod a2a_sign;
pub mod mcp;
mod sse;

use axum::body::Bytes;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::encoding::now_unix;
use crate::handshake::{response_is_signed, sign_request_with_nonce, verify_response};
use crate::identity::Identity;

/// What can go wrong talking MCP or A2A to an agent.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// No answer at all.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// What was called.
        url: String,
        /// Why.
        reason: String,
    },
    /// An HTTP status the protocol does not expect.
    #[error("HTTP {status} from {url}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// What was called.
        url: String,
        /// The start of the body (the gateway's JSON error, or the agent's text).
        body: String,
    },
    /// A JSON-RPC error object.
    #[error("the agent answered {method} with error {code}: {message}")]
    Rpc {
        /// The method called.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// An answer that is not what the protocol says.
    #[error("unexpected answer to {method}: {reason}")]
    Protocol {
        /// The method called.
        method: String,
        /// What was wrong.
        reason: String,
    },
    /// The agent signed its answer and the signature does not verify.
    #[error("the answer to {0} carries a signature that does not verify: it may have been altered")]
    BadResponseSignature(String),
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// `Some(true)` when the agent signed it and the signature verified; `None` when unsigned.
    pub verified: Option<bool>,
}

impl Answer {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Most bytes of an agent's answer `invoke` reads.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Says, from the content type and the body read so far, that an answer holds what is wanted.
pub type Enough<'a> = &'a (dyn Fn(Option<&str>, &[u8]) -> bool + Sync);

/// Whether `body` holds the JSON-RPC answer (result or error) to `id`.
pub fn has_rpc_answer(content_type: Option<&str>, body: &[u8], id: &Value) -> bool {
    matches!(
        find_rpc_answer("", content_type, body, id),
        Ok(_) | Err(InteropError::Rpc { .. })
    )
}

/// Sends signed requests to one agent at one base URL: the gateway's
/// `<node>/v1/agents/<id>/invoke` or the agent's own endpoint.
#[derive(Clone)]
pub struct SignedCaller {
    http: reqwest::Client,
    key: Identity,
    target: String,
    base: String,
    /// Every answer the agent signed verified so far (false once one did not).
    all_verified: std::sync::Arc<std::sync::atomic::AtomicU8>,
    /// Headers added to every request (`invoke -H`).
    extra: Vec<(String, String)>,
    /// The agent's endpoint when `base` is a gateway: the URL the `am-agent` RFC 9421
    /// signature covers, so the agent can check its caller (docs/protocol.md §4b).
    agent_endpoint: Option<String>,
    /// The caller's key directory URL, when requests also carry a Web Bot Auth signature.
    web_bot_auth: Option<String>,
}

const SEEN_NONE: u8 = 0;
const SEEN_OK: u8 = 1;
const SEEN_BAD: u8 = 2;

impl SignedCaller {
    /// Calls agent `target` as `key` at `base` (no trailing path: request paths are joined as
    /// the gateway joins them, `/` being `base` itself).
    pub fn new(http: reqwest::Client, key: Identity, target: &str, base: &str) -> Self {
        Self {
            http,
            key,
            target: target.to_string(),
            base: base.to_string(),
            all_verified: std::sync::Arc::default(),
            extra: Vec::new(),
            agent_endpoint: None,
            web_bot_auth: None,
        }
    }

    /// Also signs each request with the Web Bot Auth profile (docs/protocol.md §4c), naming
    /// `directory` (the caller's key directory URL) in `Signature-Agent`.
    pub fn with_web_bot_auth(mut self, directory: Option<String>) -> Self {
        self.web_bot_auth = directory;
        self
    }

    /// The URL a request on `path` goes to.
    pub fn url_of(&self, path: &str) -> String {
        crate::encoding::join_endpoint(&self.base, path)
    }

    /// Also signs each request for the agent's own `endpoint` (calls through a gateway).
    pub fn with_agent_endpoint(mut self, endpoint: Option<String>) -> Self {
        self.agent_endpoint = endpoint;
        self
    }

    /// The RFC 9421 headers of a request (`Content-Digest`, `Signature-Input`, `Signature`):
    /// `am` for `url`, and `am-agent` for the agent's endpoint when calling through a gateway.
    fn rfc9421_headers(
        &self,
        method: &str,
        url: &str,
        path: &str,
        body: &[u8],
        params: &crate::httpsig::Params,
    ) -> Vec<(&'static str, String)> {
        use crate::httpsig::{self, AGENT_LABEL, LABEL, RequestTarget};
        let mut signed = Vec::new();
        // A Web Bot Auth request carries that signature alone: verifiers of that profile
        // (Cloudflare's among them) take one signature per request; X-Agent-* still goes along.
        if self.web_bot_auth.is_none()
            && let Some(hop) = RequestTarget::of_url(method, url)
        {
            signed.extend(httpsig::sign_request(&self.key, LABEL, &hop, body, params).ok());
        }
        let agent = self.agent_endpoint.as_deref().and_then(|e| {
            if e.starts_with("relay://") {
                // Through a relay, `@authority` is the agent's ID (what `connect` checks).
                Some(RequestTarget::new(method, &self.target, path))
            } else {
                RequestTarget::of_url(method, &crate::encoding::join_endpoint(e, path))
            }
        });
        if let Some(agent) = agent {
            signed.extend(httpsig::sign_request(&self.key, AGENT_LABEL, &agent, body, params).ok());
        }
        let mut signature_agent = None;
        if let (Some(directory), Some(site)) =
            (&self.web_bot_auth, RequestTarget::of_url(method, url))
        {
            let nonce = crate::encoding::random_bytes::<64>();
            if let Ok((agent, s)) = httpsig::sign_web_bot_auth(
                &self.key,
                &site,
                body,
                directory,
                params.created,
                &nonce,
            ) {
                signature_agent = Some(agent);
                signed.push(s);
            }
        }
        if signed.is_empty() {
            return Vec::new();
        }
        let join =
            |f: fn(&httpsig::Signed) -> String| signed.iter().map(f).collect::<Vec<_>>().join(", ");
        let mut headers = vec![
            (httpsig::H_CONTENT_DIGEST, httpsig::content_digest(body)),
            (
                httpsig::H_SIGNATURE_INPUT,
                join(httpsig::Signed::input_member),
            ),
            (
                httpsig::H_SIGNATURE,
                join(httpsig::Signed::signature_member),
            ),
        ];
        headers.extend(signature_agent.map(|a| (httpsig::H_SIGNATURE_AGENT, a)));
        headers
    }

    /// Adds `headers` to every request (after the protocol's own, before the signature's).
    pub fn with_headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.extra = headers;
        self
    }

    /// `Some(true)` when every signed answer so far verified, `Some(false)` when one did not,
    /// `None` when none was signed.
    pub fn verified(&self) -> Option<bool> {
        match self.all_verified.load(std::sync::atomic::Ordering::Relaxed) {
            SEEN_NONE => None,
            SEEN_OK => Some(true),
            _ => Some(false),
        }
    }

    /// One signed request: `method` on `path` with `headers` and `body`; the answer, whose
    /// `verified` says whether the agent's signature on it held.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, InteropError> {
        self.send_until(method, path, headers, body, None).await
    }

    /// As [`SignedCaller::send`], reading the answer only until `enough(content type, body so
    /// far)` holds: an SSE stream that stays open after the event wanted. An answer cut short
    /// this way is not checked against its signature (`verified` is `None`): the signature
    /// covers the whole body.
    pub async fn send_until(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        enough: Option<Enough<'_>>,
    ) -> Result<Answer, InteropError> {
        let url = crate::encoding::join_endpoint(&self.base, path);
        // Both forms (docs/protocol.md §4 and §4b), agreeing on nonce and time.
        let (now, nonce) = (
            now_unix(),
            crate::encoding::b64url(&crate::encoding::random_bytes::<16>()),
        );
        let signed =
            sign_request_with_nonce(&self.key, &self.target, method, path, &body, now, &nonce);
        let params = crate::httpsig::Params::agentmesh(&self.key, now, &nonce);
        let rfc9421 = self.rfc9421_headers(method, &url, path, &body, &params);
        let m =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| InteropError::Protocol {
                method: method.to_string(),
                reason: e.to_string(),
            })?;
        tracing::debug!(
            method,
            url,
            target = self.target,
            "sending a signed request"
        );
        let started = std::time::Instant::now();
        let mut req = self.http.request(m, &url).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        for (k, v) in &self.extra {
            req = req.header(k, v);
        }
        for (k, v) in signed.headers().into_iter().chain(rfc9421) {
            req = req.header(k, v);
        }
        let res = req.send().await.map_err(|e| InteropError::Unreachable {
            url: url.clone(),
            reason: if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "connection refused or unreachable".into()
            } else {
                e.to_string()
            },
        })?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut res = res;
        let mut buf = Vec::new();
        let mut whole = true;
        loop {
            let chunk = res.chunk().await.map_err(|e| InteropError::Unreachable {
                url: url.clone(),
                reason: if e.is_timeout() {
                    "timed out while the answer was still coming".into()
                } else {
                    format!("the answer broke off: {e}")
                },
            })?;
            let Some(chunk) = chunk else { break };
            if buf.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(InteropError::Unreachable {
                    url: url.clone(),
                    reason: format!("the answer is over {} MiB", MAX_ANSWER_BYTES >> 20),
                });
            }
            buf.extend_from_slice(&chunk);
            if enough.is_some_and(|f| f(content_type.as_deref(), &buf)) {
                whole = false;
                break;
            }
        }
        let body = Bytes::from(buf);
        let get = |n: &str| {
            let mut values = headers.get_all(n).iter().filter_map(|v| v.to_str().ok());
            let first = values.next()?.to_string();
            Some(values.fold(first, |all, v| all + ", " + v))
        };
        let verified = (whole && response_is_signed(get))
            .then(|| verify_response(&self.target, status, &signed.nonce, get, &body).is_ok());
        tracing::debug!(
            url,
            status,
            ms = started.elapsed().as_secs_f64() * 1e3,
            bytes = body.len(),
            signature = match verified {
                Some(true) => "verified",
                Some(false) => "FAILED",
                None => "absent",
            },
            "agent answered"
        );
        let seen = match verified {
            Some(true) => SEEN_OK,
            Some(false) => SEEN_BAD,
            None => SEEN_NONE,
        };
        self.all_verified
            .fetch_max(seen, std::sync::atomic::Ordering::Relaxed);
        Ok(Answer {
            status,
            headers,
            body,
            verified,
        })
    }

    /// As [`SignedCaller::send`], failing when the agent signed its answer and the signature
    /// does not verify (the answer may have been altered on the way).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, InteropError> {
        self.call_until(method, path, headers, body, None).await
    }

    /// As [`SignedCaller::call`], reading the answer only until `enough` holds (see
    /// [`SignedCaller::send_until`]).
    pub async fn call_until(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        enough: Option<Enough<'_>>,
    ) -> Result<Answer, InteropError> {
        let answer = self.send_until(method, path, headers, body, enough).await?;
        if answer.verified == Some(false) {
            return Err(InteropError::BadResponseSignature(
                crate::encoding::join_endpoint(&self.base, path),
            ));
        }
        Ok(answer)
    }
}

/// The error for a non-2xx answer to `method`: the JSON-RPC error in its body when there is
/// one (MCP and A2A servers send them with 4xx statuses too), else the status.
fn status_error(method: &str, url: &str, answer: &Answer) -> InteropError {
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&answer.body)
        && let Some(e) = m.get("error")
        && e.get("code").is_some_and(Value::is_i64)
    {
        return InteropError::Rpc {
            method: method.to_string(),
            code: e["code"].as_i64().unwrap_or(0),
            message: e["message"].as_str().unwrap_or("").to_string(),
        };
    }
    InteropError::Status {
        status: answer.status,
        url: format!("{url} ({method})"),
        body: snippet(&answer.body),
    }
}

/// The start of a body for an error message (at most 300 characters).
fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

/// The JSON-RPC message with `id` in a body that is either one JSON object or an SSE stream of
/// them (MCP's Streamable HTTP may send notifications before the answer).
pub fn find_rpc_answer(
    method: &str,
    content_type: Option<&str>,
    body: &[u8],
    id: &Value,
) -> Result<Value, InteropError> {
    let protocol = |reason: String| InteropError::Protocol {
        method: method.to_string(),
        reason,
    };
    let messages: Vec<Value> = if content_type.is_some_and(|c| c.starts_with("text/event-stream")) {
        sse::data_payloads(body)
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    } else {
        vec![
            serde_json::from_slice(body)
                .map_err(|e| protocol(format!("not JSON ({e}): {}", snippet(body))))?,
        ]
    };
    let answer = messages
        .into_iter()
        // A message with a `method` is the server's own request or notification, whatever its id.
        .filter(|m| m.get("method").is_none())
        .find(|m| {
            m.get("id") == Some(id)
                || (m.get("id") == Some(&Value::Null) && m.get("error").is_some())
        })
        .ok_or_else(|| {
            protocol(format!(
                "no JSON-RPC answer with id {id} in: {}",
                snippet(body)
            ))
        })?;
    if let Some(err) = answer.get("error") {
        return Err(InteropError::Rpc {
            method: method.to_string(),
            code: err["code"].as_i64().unwrap_or(0),
            message: err["message"].as_str().unwrap_or("").to_string(),
        });
    }
    answer
        .get("result")
        .cloned()
        .ok_or_else(|| protocol("a JSON-RPC answer without result or error".into()))
}
