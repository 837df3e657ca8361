//! The node: an axum server over the store.
//!
//! [`Node::spawn`] takes an already-bound listener and a shutdown future, so tests bind port 0
//! and the CLI binds the configured address. On shutdown the server stops accepting, finishes
//! in-flight requests, and the store's writer commits what is queued before the task ends.

pub(crate) mod activity;
mod dht_search;
mod error;
mod federation;
pub(crate) mod gateway;
mod handlers;
pub(crate) mod info;
pub(crate) mod ingest;
pub(crate) mod metrics;
pub mod openapi;
pub(crate) mod server;
mod trust;
pub(crate) mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use error::ApiError;
pub use gateway::{Gateway, GatewayConfig, Route, RouteCache};
pub use server::{ServerLimits, TlsError, tls_config};

use crate::card::MAX_ENVELOPE_BYTES;
use crate::discovery::{
    DEFAULT_LEXICAL_WEIGHT, Discovery, Embedder, EmbedderError, StaticEmbedder,
    TransformerEmbedder, builtin_embedder,
};
use crate::events::OutcomeSink;
use crate::federation::{Federation, FederationConfig};
use crate::handshake::Verifier;
use crate::identity::{Identity, KeyStore, KeyStoreError};
use crate::relay::server::{Relay, RelayConfig};
use crate::store::{Store, StoreError, StoreOptions};
use crate::trust::{SystemClock, Tee, TrustConfig, TrustManager};
use crate::wire::ErrorCode;

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Folder for the database and the node key.
    pub data_dir: PathBuf,
    /// The URL peers and clients reach this node at, if known.
    pub public_url: Option<String>,
    /// Database options.
    pub store: StoreOptions,
    /// A model2vec folder to embed with instead of the built-in model.
    pub embedder_dir: Option<PathBuf>,
    /// A sentence-transformers folder whose encoder re-ranks discovery (`--embedder minilm`).
    pub minilm_dir: Option<PathBuf>,
    /// Weight of the lexical share in discovery scores.
    pub lexical_weight: f32,
    /// From how many cards discovery keeps its vectors in an HNSW graph.
    pub ann_min_cards: usize,
    /// Invocation gateway settings.
    pub gateway: GatewayConfig,
    /// Trust weights, half-life, flush interval and admins.
    pub trust: TrustConfig,
    /// Relay tunnel settings (the body cap follows the gateway's).
    pub relay: RelayConfig,
    /// Seeds, fanout, sync and push intervals.
    pub federation: FederationConfig,
    /// Connection, time and size bounds of the listener.
    pub server: ServerLimits,
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The DHT mode (docs/protocol.md §7b); `None` runs full replication only.
    pub dht: Option<crate::dht::DhtConfig>,
    /// Serve the web dashboard at `/ui/` (`serve --no-ui` turns it off).
    pub ui: bool,
}

impl NodeConfig {
    /// Defaults with the database in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            public_url: None,
            store: StoreOptions::default(),
            embedder_dir: None,
            minilm_dir: None,
            lexical_weight: DEFAULT_LEXICAL_WEIGHT,
            ann_min_cards: crate::discovery::index::ANN_MIN,
            gateway: GatewayConfig::default(),
            trust: TrustConfig::default(),
            relay: RelayConfig::default(),
            federation: FederationConfig::default(),
            server: ServerLimits::default(),
            tls: None,
            dht: None,
            ui: true,
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Another node runs on the same data folder.
    #[error(
        "another node is running on the data folder {} ({holder}); stop it, or give this one its own folder with --data-dir",
        dir.display()
    )]
    Locked {
        /// The data folder.
        dir: PathBuf,
        /// Who holds it, as far as its lock file says.
        holder: String,
    },
    /// The database failed to open.
    #[error("cannot open the node's database: {0}")]
    Store(#[from] StoreError),
    /// The node key failed to load or be created.
    #[error("cannot load the node key: {0}")]
    Key(#[from] KeyStoreError),
    /// Socket trouble.
    #[error("listener error: {0}")]
    Io(#[from] std::io::Error),
    /// The embedding model failed to load.
    #[error("cannot load the embedding model: {0}")]
    Embedder(#[from] EmbedderError),
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    node: Identity,
    discovery: Arc<Discovery>,
    public_url: Option<String>,
    started: Instant,
    verifier: Verifier,
    outcomes: Arc<dyn OutcomeSink>,
    gateway: Arc<Gateway>,
    trust: Arc<TrustManager>,
    admins: Vec<String>,
    relay: Arc<Relay>,
    federation: Arc<Federation>,
    metrics: metrics::Metrics,
    activity: activity::Activity,
    server: ServerLimits,
    big_bodies: Arc<tokio::sync::Semaphore>,
    connections: Arc<server::ConnStats>,
    dht: std::sync::OnceLock<crate::dht::Dht>,
    ui: bool,
}

/// The parts of [`AppState`] beyond store, identity and discovery.
pub struct Services {
    /// Gateway settings.
    pub gateway: GatewayConfig,
    /// Trust records.
    pub trust: Arc<TrustManager>,
    /// Keys allowed to report trust events, besides the node's own.
    pub admins: Vec<String>,
    /// Where outcome events go (the trust manager, possibly teed).
    pub outcomes: Arc<dyn OutcomeSink>,
    /// Relay settings.
    pub relay: RelayConfig,
    /// Federation settings.
    pub federation: FederationConfig,
    /// Listener bounds (the router applies the body timeout).
    pub server: ServerLimits,
    /// Serve the web dashboard at `/ui/`.
    pub ui: bool,
}

impl Services {
    /// Default gateway, a fresh trust manager on the system clock as the only outcome sink,
    /// no extra admins.
    pub fn standard() -> Self {
        let trust = Arc::new(TrustManager::new(
            &TrustConfig::default(),
            Arc::new(SystemClock),
        ));
        Self {
            gateway: GatewayConfig::default(),
            outcomes: trust.clone(),
            trust,
            admins: Vec::new(),
            relay: RelayConfig::default(),
            federation: FederationConfig::default(),
            server: ServerLimits::default(),
            ui: true,
        }
    }
}

/// Gateway handlers extract their sub-state alone (`State<Arc<Gateway>>`).
impl axum::extract::FromRef<AppState> for Arc<Gateway> {
    fn from_ref(state: &AppState) -> Self {
        state.inner.gateway.clone()
    }
}

impl AppState {
    /// State over an opened store, with this node identity and discovery engine and
    /// [`Services::standard`].
    pub fn new(
        store: Store,
        node: Identity,
        discovery: Arc<Discovery>,
        public_url: Option<String>,
    ) -> Self {
        Self::with(store, node, discovery, public_url, Services::standard())
    }

    /// State with explicit services.
    pub fn with(
        store: Store,
        node: Identity,
        discovery: Arc<Discovery>,
        public_url: Option<String>,
        services: Services,
    ) -> Self {
        let Services {
            gateway,
            trust,
            admins,
            outcomes,
            relay,
            federation,
            server,
            ui,
        } = services;
        let metrics = metrics::Metrics::new();
        store.observe_batches(metrics.write_batch_histogram());
        Self {
            inner: Arc::new(Inner {
                verifier: Verifier::new(node.id(), gateway.window_s, gateway.nonce_capacity),
                store,
                discovery,
                public_url: public_url.clone(),
                started: Instant::now(),
                outcomes,
                gateway: Arc::new(Gateway::new(gateway)),
                trust,
                admins,
                relay: Arc::new(Relay::new(node.clone(), relay)),
                federation: Arc::new(Federation::new(
                    node.clone(),
                    public_url.clone(),
                    federation,
                )),
                node,
                metrics,
                activity: activity::Activity::new(),
                server,
                big_bodies: Arc::new(tokio::sync::Semaphore::new(MAX_BIG_BODIES)),
                connections: Arc::default(),
                dht: std::sync::OnceLock::new(),
                ui,
            }),
        }
    }

    /// This node's Prometheus metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Recent activity (rates, per-agent calls, events) for `/v1/node`.
    pub fn activity(&self) -> &activity::Activity {
        &self.inner.activity
    }

    /// The DHT, when this node runs it.
    pub fn dht(&self) -> Option<&crate::dht::Dht> {
        self.inner.dht.get()
    }

    /// Peers and sync.
    pub fn federation(&self) -> &Arc<Federation> {
        &self.inner.federation
    }

    /// The relay's tunnels.
    pub fn relay(&self) -> &Arc<Relay> {
        &self.inner.relay
    }

    /// This node's trust records.
    pub fn trust(&self) -> &Arc<TrustManager> {
        &self.inner.trust
    }

    /// Whether `did` may report trust events: the node's own key or a configured admin.
    pub fn is_admin(&self, did: &str) -> bool {
        did == self.inner.node.id() || self.inner.admins.iter().any(|a| a == did)
    }

    /// The gateway's own state.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.inner.gateway
    }

    /// The signed-request verifier (one nonce cache for every target).
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// Where outcome events go.
    pub fn outcomes(&self) -> &Arc<dyn OutcomeSink> {
        &self.inner.outcomes
    }

    /// The discovery engine.
    pub fn discovery(&self) -> &Arc<Discovery> {
        &self.inner.discovery
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// This node's identity.
    pub fn node(&self) -> &Identity {
        &self.inner.node
    }

    /// Listener bounds.
    pub fn server_limits(&self) -> &ServerLimits {
        &self.inner.server
    }

    /// The listener's connection counters.
    pub fn connections(&self) -> &Arc<server::ConnStats> {
        &self.inner.connections
    }
}

/// Large request bodies (over [`SMALL_BODY`]) read at once, over all routes: what a burst of
/// slow uploads can make the node hold is this many times the largest route cap.
const MAX_BIG_BODIES: usize = 4;
/// Bodies up to this size are read without taking one of the [`MAX_BIG_BODIES`] places.
const SMALL_BODY: u64 = 256 * 1024;

/// As [`header_lookup`], after refusing (401) a request that carries any `X-Agent-*` header
/// twice: a verifier reads one value and the agent might read another, so a signature would
/// not mean what it says.
pub fn signed_header_lookup(
    headers: &axum::http::HeaderMap,
) -> Result<impl Fn(&str) -> Option<String> + '_, ApiError> {
    use crate::handshake::{H_AGENT_ID, H_NONCE, H_SIGNATURE, H_TARGET, H_TIMESTAMP};
    for name in [H_AGENT_ID, H_TARGET, H_TIMESTAMP, H_NONCE, H_SIGNATURE] {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                ErrorCode::BadSignature,
                format!("the request carries {name} more than once; a signed request has one"),
            ));
        }
    }
    Ok(header_lookup(headers))
}

/// Looks request headers up by lowercase name as owned strings, several lines of one field
/// joined with `, ` as RFC 9110 §5.3 combines them (the shape the handshake's verifier takes;
/// `X-Agent-*` fields given twice are refused before this).
pub fn header_lookup(headers: &axum::http::HeaderMap) -> impl Fn(&str) -> Option<String> + '_ {
    |name| {
        let mut values = headers.get_all(name).iter();
        let first = values.next()?.to_str().ok()?.to_string();
        values.try_fold(first, |mut all, v| {
            all.push_str(", ");
            all.push_str(v.to_str().ok()?);
            Some(all)
        })
    }
}

/// The API's routes over `state` (the seam tests drive with `oneshot`).
pub fn router(state: AppState) -> Router {
    let body_timeout = state.server_limits().body_timeout;
    let dashboard = if state.inner.ui {
        ui::routes()
    } else {
        Router::new()
    };
    Router::new()
        .merge(dashboard)
        .route("/v1/events", get(ui::events))
        .route(
            "/v1/agents",
            post(handlers::register)
                .get(handlers::discover)
                .layer(DefaultBodyLimit::max(MAX_ENVELOPE_BYTES)),
        )
        .route("/v1/agents/{id}", get(handlers::get_agent))
        .route("/v1/agents/{id}/agent-card.json", get(handlers::a2a_card))
        .route(
            "/v1/agents/{id}/http-message-signatures-directory",
            get(handlers::key_directory),
        )
        .route(
            "/v1/agents/{id}/invoke",
            any(gateway::invoke_root).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/agents/{id}/invoke/",
            any(gateway::invoke_root).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/agents/{id}/invoke/{*rest}",
            any(gateway::invoke).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/trust", get(trust::list))
        .route("/v1/trust/{id}", get(trust::show))
        .route(
            "/v1/trust/{id}/events",
            post(trust::report).layer(DefaultBodyLimit::max(trust::MAX_REPORT_BYTES)),
        )
        .route("/v1/sync", get(federation::sync))
        .route(
            "/v1/sync/fetch",
            post(federation::fetch).layer(DefaultBodyLimit::max(federation::MAX_FETCH_BYTES)),
        )
        .route(
            "/v1/sync/push",
            post(federation::push).layer(DefaultBodyLimit::max(federation::MAX_PUSH_BYTES)),
        )
        .route(
            "/v1/peers",
            get(federation::peers)
                .post(federation::announce)
                .layer(DefaultBodyLimit::max(MAX_ANNOUNCE_BYTES)),
        )
        .route("/v1/node", get(info::node_info))
        .route("/metrics", get(info::metrics))
        .route("/relay/v1/ws/{agent_id}", get(relay_ws))
        .route("/", get(handlers::index))
        .route("/v1/resolve", get(handlers::resolve))
        .route("/healthz", get(handlers::healthz))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::no_method)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            bound_body,
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(axum::middleware::from_fn(access_log))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            handlers::panicked,
        ))
        .with_state(state)
}

/// Largest peer announcement.
const MAX_ANNOUNCE_BYTES: usize = 16 * 1024;
/// Largest body on routes that take none.
const MAX_OTHER_BODY: u64 = 64 * 1024;

/// The most a request to `path` may send, by route (the same caps the routes' body limits
/// apply while reading), so that a declared `Content-Length` over it is refused before a byte
/// of the body is read; and whether it must declare one (a push from a node that is not a
/// peer: the route itself reads up to the peers' cap).
fn body_cap(state: &AppState, path: &str, headers: &axum::http::HeaderMap) -> (u64, bool) {
    let to_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    // The segments after `/v1/`, without allocating (this runs for every request).
    let mut seg = path.strip_prefix("/v1/").unwrap_or_default().split('/');
    let cap = match [seg.next(), seg.next(), seg.next(), seg.next()] {
        [Some("agents"), None, ..] => MAX_ENVELOPE_BYTES,
        [Some("agents"), Some(_), Some("invoke"), _] => state.gateway().config().max_body,
        [Some("trust"), Some(_), Some("events"), None] => trust::MAX_REPORT_BYTES,
        [Some("peers"), None, ..] => MAX_ANNOUNCE_BYTES,
        [Some("sync"), Some("push"), None, _] => {
            // Records come only in pushes signed by a peer; anyone else may offer digests.
            let from_peer = headers
                .get(crate::handshake::H_AGENT_ID)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|id| state.federation().is_peer(id));
            if !from_peer {
                return (to_u64(federation::MAX_UNSIGNED_PUSH_BYTES), true);
            }
            federation::MAX_PUSH_BYTES
        }
        _ => return (MAX_OTHER_BODY, false),
    };
    (to_u64(cap), false)
}

/// Refuses a declared body over the route's cap at once (413) and lets at most
/// [`MAX_BIG_BODIES`] large bodies be read at a time (503 `overloaded` past that).
async fn bound_body(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (cap, length_required) = body_cap(&state, req.uri().path(), req.headers());
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let chunked = declared.is_none()
        && req
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING);
    if declared.is_some_and(|n| n > cap) {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!(
                "the body is {} bytes; {} takes at most {cap}",
                declared.unwrap_or_default(),
                req.uri().path()
            ),
        )
        .into_response();
    }
    if chunked && length_required {
        return ApiError::new(
            axum::http::StatusCode::LENGTH_REQUIRED,
            ErrorCode::TooLarge,
            "a push from a node that is not a peer must carry Content-Length",
        )
        .into_response();
    }
    let big = cap > SMALL_BODY && (chunked || declared.is_some_and(|n| n > SMALL_BODY));
    let _permit = if big {
        match tokio::time::timeout(
            Duration::from_secs(1),
            state.inner.big_bodies.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => Some(p),
            _ => {
                let mut e = ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Overloaded,
                    "too many large uploads at once; retry shortly",
                );
                e.retry_after = Some(1);
                return e.into_response();
            }
        }
    } else {
        None
    };
    next.run(req).await
}

/// Wraps every request in a `request` span (method and path, so agent IDs in paths are on every
/// line logged inside it) and logs its status and latency at debug level. Headers and bodies —
/// signatures, cards — are never logged.
async fn access_log(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let span = tracing::debug_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
    );
    let res = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = res.status().as_u16(),
            millis = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        );
    });
    res
}

/// `axum::extract::Path` answering a path it cannot decode (a segment that is not UTF-8, say)
/// with the API's JSON error rather than axum's plain text.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `GET /relay/v1/ws/{agent_id}`: upgrade and run the tunnel (docs/protocol.md §5).
#[utoipa::path(get, path = "/relay/v1/ws/{agent_id}", tag = "relay",
    description = "Opens an agent's relay tunnel: a WebSocket of the frames of docs/protocol.md §7.",
    params(("agent_id" = String, Path, pattern = r"^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$", description = "The agent's did:key")),
    responses(
        (status = 101, description = "The WebSocket is open"),
        (status = 405, description = "Not a GET", body = crate::wire::ErrorBody),
        (status = 426, description = "Not a WebSocket upgrade", body = crate::wire::ErrorBody),
    ))]
async fn relay_ws(
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(agent_id): Path<String>,
    ws: Result<
        axum::extract::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let ws = match ws {
        Ok(ws) => ws,
        Err(r) => {
            return ApiError::new(
                r.status(),
                ErrorCode::InvalidField,
                format!(
                    "this route opens a relay tunnel over a WebSocket: {}",
                    r.body_text()
                ),
            )
            .into_response();
        }
    };
    let relay = state.relay().clone();
    let cap = relay.config().max_body + crate::relay::MAX_HEAD_BYTES;
    // Small buffers: an idle tunnel should cost kilobytes, not the 128 KiB defaults.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| relay.serve(socket, agent_id))
}

/// `<data_dir>/lock`, held exclusively while a node runs: a second node on the same folder
/// stops at once instead of sharing the node key, the database and the replay cache. The OS
/// releases it when the process ends, however it ends.
struct DataDirLock(#[allow(dead_code)] std::fs::File);

impl DataDirLock {
    fn acquire(dir: &std::path::Path) -> Result<Self, NodeError> {
        use std::io::{Read as _, Seek as _, Write as _};
        std::fs::create_dir_all(dir)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("lock"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut who = String::new();
                let _ = file.read_to_string(&mut who);
                let who = who.trim();
                return Err(NodeError::Locked {
                    dir: dir.to_path_buf(),
                    holder: if who.is_empty() {
                        "its process is unknown".into()
                    } else {
                        format!("pid {who}")
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Self(file))
    }
}

/// How often the node checks whether its discovery index wants a vector graph (it grew past
/// the size) and saves a graph that changed.
const ANN_MAINTENANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// While registrations arrive at least this fast, graph work (a build, inserting the tail)
/// waits: measured with the ingest bench, a graph build or insert running beside a burst cut
/// its rate by a quarter or more, even at the lowest CPU priority (it competes for caches and
/// memory, not only for time), while the cards it would take are searched exactly meanwhile.
const GRAPH_BUSY_PER_SEC: u64 = 1_000;
/// How often the rate is read while graph work waits.
const GRAPH_LULL_WINDOW: std::time::Duration = std::time::Duration::from_millis(200);
/// The longest graph work waits for a lull: past it, one round runs beside the registrations
/// (the tail's exact scan, which every search pays, stays bounded under endless load).
const GRAPH_DEFER_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until the index's changes (`changes`, a counter: [`Discovery::changes`]) slow below
/// [`GRAPH_BUSY_PER_SEC`], for [`GRAPH_DEFER_MAX`] at most (or until `stop`).
async fn registration_lull(
    changes: &(dyn Fn() -> u64 + Sync),
    stop: &tokio_util::sync::CancellationToken,
) {
    let deadline = tokio::time::Instant::now() + GRAPH_DEFER_MAX;
    let busy = GRAPH_BUSY_PER_SEC * GRAPH_LULL_WINDOW.as_millis() as u64 / 1000;
    let mut seen = changes();
    while tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(GRAPH_LULL_WINDOW) => {}
        }
        let now = changes();
        if now.saturating_sub(seen) < busy {
            return;
        }
        seen = now;
    }
    tracing::debug!("registrations kept busy past the graph's wait; inserting beside them");
}

/// Builds the vector graph once the index grows large enough (woken by the registration that
/// makes it so; after a failed build only the next tick retries, not every registration),
/// inserts the cards registered since into it in the background (both after a burst of
/// registrations, see [`registration_lull`]), saves it every
/// [`ANN_MAINTENANCE`] when it changed and once more at shutdown, so the next start loads it
/// instead of building it. The only task that changes the graph.
async fn maintain_ann(discovery: Arc<Discovery>, stop: tokio_util::sync::CancellationToken) {
    // One round of upkeep off the runtime; false when the build failed.
    let round = |d: Arc<Discovery>, build: bool, stop: tokio_util::sync::CancellationToken| async move {
        match tokio::task::spawn_blocking(move || d.ann_round(build, &|| stop.is_cancelled())).await
        {
            Ok(built) => built.is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "vector graph maintenance panicked");
                false
            }
        }
    };
    let mut tick = tokio::time::interval(ANN_MAINTENANCE);
    tick.tick().await; // the first tick is now; the load just did this
    let mut healthy = true;
    // False after an insert failed: only the next tick tries again, not every registration.
    let mut inserting = true;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                healthy = round(discovery.clone(), true, stop.clone()).await;
                inserting = true;
            }
            // Registrations made the index large enough: build now, not at the next tick.
            () = discovery.ann_wanted(), if healthy => {
                registration_lull(&|| discovery.changes(), &stop).await;
                healthy = round(discovery.clone(), true, stop.clone()).await;
            }
            // Cards wait in the graph's tail: insert them (a batch at a time, so a shutdown
            // waits for one batch at most; as many as waited, then back here).
            () = discovery.graph_tail(), if inserting => {
                registration_lull(&|| discovery.changes(), &stop).await;
                let (d, stop) = (discovery.clone(), stop.clone());
                let drained =
                    tokio::task::spawn_blocking(move || d.drain_graph(&|| stop.is_cancelled()))
                        .await;
                match drained {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "cannot insert into the vector graph");
                        inserting = false;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "vector graph inserter panicked");
                        inserting = false;
                    }
                }
            }
        }
    }
    round(discovery, false, stop).await;
}

/// Joins the DHT through the seeds' advertised multiaddrs (their `/v1/node`), publishes where
/// this node's API answers (`api`: its public URL, or its bound address unless that is a
/// wildcard), then stores every live card this node holds in it and provides their terms (a
/// node that joins knows its own records).
async fn dht_join(state: AppState, seeds: Vec<String>, api: Option<String>) {
    let Some(dht) = state.dht().cloned() else {
        return;
    };
    match api {
        Some(url) => {
            let announcement = crate::wire::Announcement::sign(state.node(), &url);
            if let Err(e) = dht.announce(&announcement).await {
                tracing::warn!(error = %e, "cannot publish this node's API address in the DHT");
            }
        }
        None => tracing::warn!(
            "DHT mode: this node listens on a wildcard address and has no --public-url, so \
             other nodes cannot query its discovery API for the agents it provides"
        ),
    }
    for seed in seeds {
        let Ok(client) = crate::client::Client::new(&seed, Duration::from_secs(5)) else {
            continue;
        };
        match client.node_info().await {
            Ok(info) => {
                for addr in info.dht.map(|d| d.multiaddrs).unwrap_or_default() {
                    if let Ok(addr) = addr.parse() {
                        let _ = dht.add_peer(addr).await;
                    }
                }
            }
            Err(e) => tracing::warn!(seed, error = %e, "cannot read a seed's DHT addresses"),
        }
    }
    let mut since = 0;
    loop {
        let Ok(page) = state.store().cards_since(since, 500).await else {
            return;
        };
        for stored in &page.cards {
            since = since.max(stored.seq);
            if let Ok(card) = crate::card::Card::from_value(stored.envelope.clone()) {
                let keys = crate::dht::card_provider_keys(&card, state.discovery());
                let _ = dht.put_card(card, keys).await;
            }
        }
        if !page.more {
            return;
        }
    }
}

/// A running node.
pub struct Node {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its did:key.
    pub node_id: String,
    /// Its peers and sync counters.
    pub federation: Arc<Federation>,
    /// Ends when the node has shut down and flushed.
    pub task: JoinHandle<Result<(), NodeError>>,
}

impl Node {
    /// Opens the store and node key under `config.data_dir`, rebuilds the discovery index, and
    /// serves on `listener` until `shutdown` resolves.
    pub async fn spawn(
        listener: TcpListener,
        config: NodeConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Self, NodeError> {
        Self::spawn_with(listener, config, None, shutdown).await
    }

    /// As [`Node::spawn`], also sending outcome events to `outcomes` (tests count them there;
    /// the trust manager always gets them).
    pub async fn spawn_with(
        listener: TcpListener,
        config: NodeConfig,
        outcomes: Option<Arc<dyn OutcomeSink>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Self, NodeError> {
        let addr = listener.local_addr()?;
        let lock = DataDirLock::acquire(&config.data_dir)?;
        let (node, created) = KeyStore::load_or_create_file(&config.data_dir.join("node.key"))?;
        if created {
            tracing::info!(node_id = node.id(), "created a new node key");
        }
        let store = Store::open(&config.data_dir, config.store.clone())?;
        let embedder: Arc<dyn Embedder> = match &config.embedder_dir {
            Some(dir) => Arc::new(StaticEmbedder::from_dir(dir)?),
            None => builtin_embedder(),
        };
        let discovery = match &config.minilm_dir {
            Some(dir) => {
                let dir = dir.clone();
                let encoder =
                    tokio::task::spawn_blocking(move || TransformerEmbedder::from_dir(&dir))
                        .await
                        .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))??;
                tracing::info!(model = encoder.id(), "re-ranking by a transformer");
                Discovery::with_rerank(embedder, config.lexical_weight, Arc::new(encoder))
            }
            None => Discovery::new(embedder, config.lexical_weight),
        };
        let discovery = Arc::new(discovery.with_ann_dir(config.data_dir.join("ann")));
        discovery.set_ann_min(config.ann_min_cards);
        let loaded = discovery.load(&store).await?;
        // A model read from a folder, and the pages of a large index load, are freed by now.
        crate::release_free_memory();
        tracing::info!(
            model = discovery.model_id(),
            indexed = loaded.indexed,
            embedded = loaded.embedded,
            millis = loaded.millis,
            "discovery index ready"
        );
        let trust = Arc::new(TrustManager::new(&config.trust, Arc::new(SystemClock)));
        let restored = trust.restore(store.load_trust().await?);
        discovery.set_trusts(
            trust
                .take_unpushed()
                .iter()
                .map(|(id, _, s)| (id.as_str(), *s)),
        );
        tracing::info!(agents = restored, "trust records restored");
        let sink: Arc<dyn OutcomeSink> = match outcomes {
            Some(extra) => Arc::new(Tee(vec![trust.clone(), extra])),
            None => trust.clone(),
        };
        let state = AppState::with(
            store.clone(),
            node.clone(),
            discovery.clone(),
            config.public_url.clone(),
            Services {
                gateway: config.gateway.clone(),
                trust: trust.clone(),
                admins: config.trust.admins.clone(),
                outcomes: sink,
                relay: RelayConfig {
                    max_body: config.gateway.max_body,
                    ..config.relay.clone()
                },
                federation: config.federation.clone(),
                server: config.server.clone(),
                ui: config.ui,
            },
        );
        if let Some(dht_config) = config.dht.clone() {
            let dht = crate::dht::Dht::start(&node, dht_config)
                .await
                .map_err(|e| NodeError::Io(std::io::Error::other(e.to_string())))?;
            tracing::info!(peer_id = %dht.peer_id(), addrs = ?dht.multiaddrs(), "DHT mode on");
            let _ = state.inner.dht.set(dht);
            let api = config.public_url.clone().or_else(|| {
                let scheme = if config.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                (!addr.ip().is_unspecified()).then(|| format!("{scheme}://{addr}"))
            });
            tokio::spawn(dht_join(
                state.clone(),
                config.federation.seeds.clone(),
                api,
            ));
        }
        let nonce_file = config.data_dir.join("nonces.bin");
        match state
            .verifier()
            .restore_nonces(&nonce_file, crate::encoding::now_unix())
        {
            Ok(Some(n)) => tracing::info!(nonces = n, "replay cache restored"),
            other => {
                if let Err(e) = other {
                    tracing::warn!(error = %e, "cannot read the saved replay cache");
                }
                // Started after a crash (or for the first time): whatever was accepted before
                // is unknown, so nothing signed before this second is accepted (a crashed
                // node cannot have restarted within the second it last accepted a call).
                state
                    .verifier()
                    .refuse_until(crate::encoding::now_unix() - 1);
            }
        }
        if config.federation.gossip {
            match crate::federation::gossip::Gossip::bind(addr).await {
                Ok(g) => state.federation().set_gossip(Arc::new(g)),
                Err(e) => tracing::warn!(
                    %addr,
                    error = %e,
                    "cannot read offer datagrams on UDP; offering to peers over HTTP"
                ),
            }
        }
        let verifier_state = state.clone();
        let federation = state.federation().clone();
        let stop_trust = tokio_util::sync::CancellationToken::new();
        let fed_loop = tokio::spawn(crate::federation::sync::run(
            state.clone(),
            stop_trust.child_token(),
        ));
        let relay = state.relay().clone();
        let trust_loop = tokio::spawn(trust::run_loop(
            state.clone(),
            config.trust.flush_interval,
            stop_trust.clone(),
        ));
        let rerank_loop = tokio::spawn({
            let (discovery, store) = (state.discovery().clone(), state.store().clone());
            let stop = stop_trust.child_token();
            async move {
                if let Err(e) = discovery.run_rerank(store, stop).await {
                    tracing::error!(error = %e, "the re-ranker's background embedding stopped");
                }
            }
        });
        let ann_loop = tokio::spawn(maintain_ann(
            state.discovery().clone(),
            stop_trust.child_token(),
        ));
        let conn_stats = state.connections().clone();
        let app = router(state);
        let limits = ServerLimits {
            max_connections: server::fit_connections(config.server.max_connections),
            ..config.server.clone()
        };
        let tls = config.tls.clone();
        let task = tokio::spawn(async move {
            let served = server::serve(listener, app, limits, tls, conn_stats, shutdown).await;
            relay.shutdown();
            stop_trust.cancel();
            let _ = fed_loop.await;
            let _ = trust_loop.await;
            let _ = rerank_loop.await;
            let _ = ann_loop.await;
            // Last flush after the server stopped, so events of the final requests are kept.
            match trust.flush(&store).await {
                Ok(n) => tracing::info!(agents = n, "trust records flushed"),
                Err(e) => tracing::error!(error = %e, "cannot flush trust records at shutdown"),
            }
            match verifier_state
                .verifier()
                .save_nonces(&nonce_file, crate::encoding::now_unix())
            {
                Ok(n) => tracing::info!(nonces = n, "replay cache saved"),
                Err(e) => tracing::error!(error = %e, "cannot save the replay cache"),
            }
            // The state holds a handle of the store; closing waits for every handle to go.
            drop(verifier_state);
            store.close().await;
            drop(lock);
            served.map_err(NodeError::Io)
        });
        Ok(Self {
            addr,
            node_id: node.id().to_string(),
            federation,
            task,
        })
    }
}

#[cfg(test)]
mod lull_tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::time::{Duration, Instant};

    /// Registrations at `per_sec` for `busy_for`, then none; how long the graph waits.
    async fn waited(per_sec: u64, busy_for: Duration) -> Duration {
        let count = Arc::new(AtomicU64::new(0));
        let feeder = {
            let count = count.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                while start.elapsed() < busy_for {
                    count.fetch_add(per_sec / 100, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let start = Instant::now();
        registration_lull(&|| count.load(Ordering::Relaxed), &stop).await;
        let waited = start.elapsed();
        feeder.abort();
        waited
    }

    // Paused time: the clock moves only when every task waits, so these run in microseconds
    // and measure the schedule exactly.
    #[tokio::test(start_paused = true)]
    async fn graph_work_waits_out_a_burst_of_registrations_within_bounds() {
        // Quiet: one look, then go.
        assert_eq!(waited(0, Duration::ZERO).await, GRAPH_LULL_WINDOW);
        // A trickle below the rate does not hold the graph back.
        assert_eq!(
            waited(500, Duration::from_secs(60)).await,
            GRAPH_LULL_WINDOW
        );
        // A 5 s burst: the graph waits it out, and starts within a window or two of its end.
        let w = waited(10_000, Duration::from_secs(5)).await;
        assert!(
            w >= Duration::from_secs(5) && w <= Duration::from_secs(5) + 2 * GRAPH_LULL_WINDOW,
            "{w:?}"
        );
        // Endless load: the wait is bounded.
        let w = waited(10_000, Duration::from_secs(600)).await;
        assert!(
            w >= GRAPH_DEFER_MAX && w <= GRAPH_DEFER_MAX + GRAPH_LULL_WINDOW,
            "{w:?}"
        );
        // A shutdown does not wait for the burst to end.
        let stop = tokio_util::sync::CancellationToken::new();
        stop.cancel();
        let start = Instant::now();
        registration_lull(&|| 0, &stop).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
