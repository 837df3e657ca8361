//! A typed HTTP client of a node's API, used by the CLI, tests and benchmarks.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::card::Envelope;
use crate::wire::{Discovered, NodeInfo, TrustList, TrustReport};

/// What can go wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made, or it broke.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// The node's base URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an API error.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// docs/protocol.md §6 error code.
        code: String,
        /// The node's message.
        message: String,
    },
    /// The node answered something that is not the expected JSON.
    #[error("unexpected answer from {url}: {reason}")]
    Decode {
        /// The URL asked.
        url: String,
        /// Why it did not decode.
        reason: String,
    },
    /// The URL answered what no node sends (HTML, plain text, nothing): it is not a node.
    #[error(
        "not an AgentMesh node: {method} {path} answered {status} {content_type} (is --node right?)"
    )]
    NotANode {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The answer's status.
        status: u16,
        /// The answer's content type (`no content type` when it had none).
        content_type: String,
    },
    /// The answer was larger than any node's answer to this request.
    #[error("the answer from {url} is over {limit} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// The base URL is not a URL.
    #[error("invalid node URL `{0}`")]
    BadUrl(String),
    /// `--ca-cert` or `--client-cert` could not be read.
    #[error("cannot read certificates from {0}")]
    BadCa(String),
}

impl ClientError {
    /// `self` with `what` in front when the node refused (an API error), else `self` alone:
    /// "the node refused the card" must not stand in front of "cannot reach the node".
    pub fn refusing(self, what: impl FnOnce() -> String) -> anyhow::Error {
        match self {
            Self::Api { .. } => anyhow::Error::new(self).context(what()),
            other => anyhow::Error::new(other),
        }
    }

    /// The API error code, if the node answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Largest answer read from a node (a discovery page of 100 cards of 64 KiB is 6.4 MB).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The answer to `POST /v1/agents` (the node writes the same type).
pub type RegisterResponse = crate::wire::Registered;

/// A client of one node.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// Installs the `ring` rustls provider once per process (reqwest is built without a default
/// provider to avoid compiling aws-lc).
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why [`read_capped`] gave up.
#[derive(Debug)]
pub enum CappedReadError {
    /// The body is over the cap (as declared, or as it arrived).
    TooLarge,
    /// The body could not be read (the connection broke or timed out).
    Body(reqwest::Error),
}

/// Reads an answer's body of at most `max` bytes: a declared length over the cap is refused
/// before a byte is read, an undeclared one stops at the cap. For answers from hosts this
/// process does not trust (agents, peers), which could otherwise make it hold any amount.
pub async fn read_capped(
    mut res: reqwest::Response,
    max: usize,
) -> Result<axum::body::Bytes, CappedReadError> {
    let declared = res.content_length();
    if declared.is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX)) {
        return Err(CappedReadError::TooLarge);
    }
    let mut buf = Vec::with_capacity(
        declared
            .map_or(0, |n| usize::try_from(n).unwrap_or(max))
            .min(max),
    );
    while let Some(chunk) = res.chunk().await.map_err(CappedReadError::Body)? {
        if buf.len() + chunk.len() > max {
            return Err(CappedReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(axum::body::Bytes::from(buf))
}

/// CA certificates trusted besides the system's roots (`--ca-cert`).
static EXTRA_ROOTS: std::sync::OnceLock<Vec<rustls::pki_types::CertificateDer<'static>>> =
    std::sync::OnceLock::new();

/// Trusts the CA certificates of a PEM file, besides the system's roots, for every HTTPS and
/// WSS connection this process makes as a client (nodes, agents, relays, peers). Call before
/// building clients; returns how many certificates were read.
pub fn trust_ca_file(path: &std::path::Path) -> Result<usize, ClientError> {
    use rustls::pki_types::pem::PemObject as _;
    let bad = |e: &dyn std::fmt::Display| ClientError::BadCa(format!("{}: {e}", path.display()));
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no CERTIFICATE block in the file"));
    }
    let n = certs.len();
    let _ = EXTRA_ROOTS.set(certs);
    Ok(n)
}

/// The client certificate chain and key presented to nodes that require mutual TLS
/// (`--client-cert`), parsed once: for reqwest, and for rustls (WebSockets).
struct ClientIdentity {
    identity: reqwest::Identity,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

static CLIENT_IDENTITY: std::sync::OnceLock<ClientIdentity> = std::sync::OnceLock::new();

/// Presents the certificate chain and private key of a PEM file (both in the one file) to
/// servers that ask for a client certificate, on every HTTPS and WSS connection this process
/// makes as a client. Call before building clients.
pub fn use_client_cert_file(path: &std::path::Path) -> Result<(), ClientError> {
    use rustls::pki_types::pem::PemObject as _;
    let bad = |e: &dyn std::fmt::Display| ClientError::BadCa(format!("{}: {e}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(&e))?;
    let chain = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if chain.is_empty() {
        return Err(bad(&"no CERTIFICATE block in the file"));
    }
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem).map_err(|e| bad(&e))?;
    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| bad(&e))?;
    let _ = CLIENT_IDENTITY.set(ClientIdentity {
        identity,
        chain,
        key,
    });
    Ok(())
}

/// A reqwest builder with the TLS provider installed, the `--ca-cert` roots added and the
/// `--client-cert` identity presented.
pub fn http_builder() -> reqwest::ClientBuilder {
    init_tls();
    let mut b = reqwest::Client::builder();
    for der in EXTRA_ROOTS.get().into_iter().flatten() {
        if let Ok(c) = reqwest::Certificate::from_der(der) {
            b = b.add_root_certificate(c);
        }
    }
    if let Some(id) = CLIENT_IDENTITY.get() {
        b = b.identity(id.identity.clone());
    }
    b
}

/// A rustls client configuration for `wss://` when `--ca-cert` or `--client-cert` was given
/// (the web PKI's roots plus those); `None` uses the WebSocket library's default.
pub fn ws_tls_config() -> Option<std::sync::Arc<rustls::ClientConfig>> {
    let (extra, identity) = (EXTRA_ROOTS.get(), CLIENT_IDENTITY.get());
    if extra.is_none() && identity.is_none() {
        return None;
    }
    init_tls();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra.into_iter().flatten() {
        let _ = roots.add(c.clone());
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .ok()?,
        None => builder.with_no_client_auth(),
    };
    Some(std::sync::Arc::new(config))
}

impl Client {
    /// A client of the node at `base` (e.g. `http://127.0.0.1:7070`) with a per-request timeout.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        let http = http_builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("agentmesh/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::BadUrl(format!("{base}: {e}")))?;
        Ok(Self { http, base })
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The underlying HTTP client (for calls the typed API does not cover).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        let reason = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection refused or unreachable".to_string()
        } else {
            e.to_string()
        };
        ClientError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    /// Sends `req` and decodes the node's JSON answer as `T` (an API error as
    /// [`ClientError::Api`]), logging the step at debug level.
    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let req = req.build().map_err(|e| self.unreachable(&e))?;
        let method = req.method().as_str().to_string();
        let method = method.as_str();
        let started = std::time::Instant::now();
        let res = self.http.execute(req).await.map_err(|e| {
            tracing::debug!(method, base = self.base, error = %e, "no answer");
            self.unreachable(&e)
        })?;
        let status = res.status();
        let url = res.url().to_string();
        tracing::debug!(
            method,
            url,
            status = status.as_u16(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "node answered"
        );
        // A node answers JSON to every API request, refusals included.
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase());
        if content_type.as_deref() != Some("application/json") {
            return Err(ClientError::NotANode {
                method: method.to_string(),
                path: res.url().path().to_string(),
                status: status.as_u16(),
                content_type: content_type.unwrap_or_else(|| "no content type".into()),
            });
        }
        let bytes = read_capped(res, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                CappedReadError::TooLarge => ClientError::TooLarge {
                    url: url.clone(),
                    limit: MAX_ANSWER_BYTES,
                },
                CappedReadError::Body(e) => self.unreachable(&e),
            })?;
        if !status.is_success() {
            let err = serde_json::from_slice::<crate::wire::ErrorBody>(&bytes).map(|b| b.error);
            return Err(ClientError::Api {
                status: status.as_u16(),
                code: err
                    .as_ref()
                    .map_or_else(|_| "unknown".to_string(), |e| e.code.clone()),
                message: err.map(|e| e.message).unwrap_or_else(|_| {
                    String::from_utf8_lossy(&bytes).chars().take(200).collect()
                }),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// `POST /v1/agents` with a signed envelope.
    pub async fn register(
        &self,
        envelope: &impl serde::Serialize,
    ) -> Result<RegisterResponse, ClientError> {
        let body = serde_json::to_vec(envelope).expect("an envelope serializes");
        self.register_raw(body).await
    }

    /// `POST /v1/agents` with an envelope already serialized.
    pub async fn register_raw(&self, body: Vec<u8>) -> Result<RegisterResponse, ClientError> {
        self.call(
            self.http
                .post(format!("{}/v1/agents", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
    }

    /// `GET /v1/agents/{id}`: the signed envelope.
    pub async fn get_agent(&self, id: &str) -> Result<Envelope, ClientError> {
        self.get(&format!("/v1/agents/{id}")).await
    }

    /// `GET /v1/agents?…`: discovery. Empty strings and `None` leave a filter out.
    pub async fn discover(
        &self,
        query: &str,
        tags: &[String],
        protocol: Option<&str>,
        min_trust: Option<f64>,
        limit: usize,
    ) -> Result<Discovered, ClientError> {
        let mut params: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if !query.is_empty() {
            params.push(("q", query.to_string()));
        }
        if !tags.is_empty() {
            params.push(("tags", tags.join(",")));
        }
        if let Some(p) = protocol {
            params.push(("protocol", p.to_string()));
        }
        if let Some(t) = min_trust {
            params.push(("min_trust", t.to_string()));
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        self.get(&format!("/v1/agents?{query}")).await
    }

    /// `GET /v1/resolve?ref=`: the live agents a reference names.
    pub async fn resolve(&self, reference: &str) -> Result<crate::wire::Resolved, ClientError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("ref", reference)
            .finish();
        self.get(&format!("/v1/resolve?{query}")).await
    }

    /// `GET /v1/resolve?ref=&prefix=true`: live agents whose name or ID starts with `prefix`.
    pub async fn complete(&self, prefix: &str) -> Result<crate::wire::Resolved, ClientError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("ref", prefix)
            .append_pair("prefix", "true")
            .finish();
        self.get(&format!("/v1/resolve?{query}")).await
    }

    /// `GET /v1/trust/{id}`.
    pub async fn trust(&self, id: &str) -> Result<crate::trust::TrustView, ClientError> {
        self.get(&format!("/v1/trust/{id}")).await
    }

    /// `GET /v1/trust?sort=&limit=`.
    pub async fn trust_list(&self, sort: &str, limit: usize) -> Result<TrustList, ClientError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("sort", sort)
            .append_pair("limit", &limit.to_string())
            .finish();
        self.get(&format!("/v1/trust?{query}")).await
    }

    /// `POST /v1/trust/{id}/events`, signed by `admin` for this node (`node_id`).
    pub async fn trust_report(
        &self,
        admin: &crate::identity::Identity,
        node_id: &str,
        id: &str,
        event: crate::events::OutcomeKind,
        note: Option<&str>,
    ) -> Result<crate::trust::TrustView, ClientError> {
        let path = format!("/v1/trust/{id}/events");
        let body = TrustReport {
            event,
            note: note.map(str::to_string),
        };
        let body = serde_json::to_vec(&body).expect("a report serializes");
        let signed = crate::handshake::sign_request(
            admin,
            node_id,
            "POST",
            &path,
            &body,
            crate::encoding::now_unix(),
        );
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (k, v) in signed.headers() {
            req = req.header(k, v);
        }
        self.call(req.body(body)).await
    }

    /// `GET /v1/node`.
    pub async fn node_info(&self) -> Result<NodeInfo, ClientError> {
        self.get("/v1/node").await
    }

    /// `GET <path>` decoded as `T` (path starts with `/`, query included).
    pub async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, ClientError> {
        self.call(self.http.get(format!("{}{path_and_query}", self.base)))
            .await
    }
}
