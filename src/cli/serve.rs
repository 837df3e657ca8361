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
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "AGENTMESH_LISTEN", value_name = "ADDR")]
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

pub(super) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let file = match &args.config {
        Some(p) => FileConfig::load(p, true)?.serve,
        None => ctx.file.serve.clone(),
    };
    let listen = match (args.listen, &file.listen) {
        (Some(l), _) => l,
        (None, Some(s)) => s
            .parse()
            .with_context(|| format!("invalid listen address `{s}` in the config file"))?,
        (None, None) => DEFAULT_LISTEN
            .parse()
            .expect("default listen address parses"),
    };
    let gateway = gateway_config(&args, &file)?;
    let trust = trust_config(&args, &file)?;
    let config = NodeConfig {
        gateway,
        trust,
        relay: crate::relay::server::RelayConfig::default(),
        federation: federation_config(&args, &file)?,
        data_dir: args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| ctx.paths.data_dir.clone()),
        public_url: args.public_url.or(file.public_url),
        embedder_dir: args.embedder_dir.or(file.embedder_dir),
        lexical_weight: crate::discovery::DEFAULT_LEXICAL_WEIGHT,
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
            ..StoreOptions::default()
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
            format!("cannot listen on {listen} (is another node running? try --listen 127.0.0.1:0)")
        })?;
        let node = Node::spawn(listener, config.clone(), shutdown_signal()).await?;
        let url = format!("http://{}", node.addr);
        if ctx.json {
            out_json(&json!({"event": "listening", "url": url, "node_id": node.node_id,
                "data_dir": config.data_dir}))?;
        } else {
            out(format!("agentmesh node {} listening on {url}", node.node_id))?;
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
