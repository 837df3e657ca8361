//! `agentmesh connect`: hold a relay tunnel for an agent behind NAT and forward its calls to a
//! local service; `--register` publishes the card as `relay://<id>` through that relay.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::card::Manifest;
use anyhow::Context as _;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::register::{Published, build_manifest, changes, current_card, next_issued_at};
use super::serve::{parse_size, shutdown_signal};
use super::{Ctx, Outcome, out};
use crate::card::sign_manifest;
use crate::client::Client;
use crate::relay::client::{ConnState, ConnStats, ConnectConfig, run};

/// `connect` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The relay node's URL (default: --node).
    #[arg(long, value_name = "URL", value_parser = super::addr::node_url)]
    pub relay: Option<String>,
    /// The local service calls are forwarded to, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub forward: String,
    /// Publish the card with endpoint relay://<id> and this relay in `relays` (fields from
    /// --card/--name, else from the card the relay already holds).
    #[arg(long)]
    pub register: bool,
    /// Card file (TOML or JSON, as for `register --file`) for --register.
    #[arg(long, value_name = "FILE", requires = "register")]
    pub card: Option<PathBuf>,
    /// Card name for --register.
    #[arg(long, requires = "register")]
    pub name: Option<String>,
    /// Longest wait for the local service.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub forward_timeout: Duration,
    /// Largest body either way (e.g. 1MiB).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub max_body: usize,
}

pub(super) fn run_cmd(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let (id, _) = ctx.load_key(&ctx.key)?;
    let relay = args
        .relay
        .clone()
        .unwrap_or_else(|| ctx.node.clone())
        .trim_end_matches('/')
        .to_string();
    let client = Client::new(&relay, Duration::from_secs(10))?;
    let rt = super::server_runtime()?;
    rt.block_on(async {
        // A relay that is down at start is waited for, as a relay that goes down later is.
        let mut wait = Duration::from_secs(1);
        let current = loop {
            match current_card(&client, id.id()).await {
                Ok(c) => break c,
                Err(e) if is_unreachable(&e) => {
                    if !ctx.quiet {
                        let why = format!("{:#}", e.root_cause());
                        event(ctx.json, json!({"event": "down", "reason": why, "retry_in_s": wait.as_secs()}),
                            || format!("down: cannot reach {relay} ({why}); retrying in {}s", wait.as_secs()));
                    }
                    tokio::select! {
                        () = shutdown_signal() => return Ok(Outcome::Success),
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
                Err(e) => return Err(e),
            }
        };
        if matches!(current, super::register::Current::Revoked) && !args.register && !ctx.quiet {
            event(ctx.json, json!({"event": "revoked", "agent_id": id.id()}), || format!(
                "warning: the card of {} is revoked on {relay}: callers cannot reach this tunnel; publish one with --register",
                id.id()
            ));
        }
        let stored = current.live();
        let manifest = if args.register {
            let (base, after) = Published::load(ctx, id.id()).edit_base(stored);
            let issued_at = next_issued_at(after).await;
            let mut m = relay_manifest(&id, &args, &relay, base.as_ref(), issued_at)?;
            super::register::sign_key_directory(&mut m, &id, &relay);
            let envelope = sign_manifest(m.to_value(), &id)?;
            let res = client
                .register(&envelope)
                .await
                .map_err(|e| e.refusing(|| format!("the relay at {relay} refused the card")))?;
            Published::record(ctx, &m);
            if !ctx.quiet {
                eprintln!(
                    "{} {} as relay://{} via {relay}",
                    res.status,
                    m.name,
                    id.id()
                );
                for line in base.as_ref().map(|b| changes(b, &m)).unwrap_or_default() {
                    eprintln!("  {line}");
                }
            }
            Some(m)
        } else {
            stored
        };
        let mut cfg = ConnectConfig::new(&relay, &args.forward, id.clone());
        if let Some(m) = &manifest {
            cfg.qps = m.qps_budget;
            cfg.concurrency = m.concurrency_limit;
        }
        cfg.max_body = args.max_body;
        cfg.forward_timeout = args.forward_timeout;
        let stop = CancellationToken::new();
        let (tx, rx) = watch::channel(ConnState::Connecting(0));
        let stats = Arc::new(ConnStats::default());
        let mut task = tokio::spawn(run(cfg, tx, stats.clone(), stop.clone()));
        let shown = tokio::spawn(show(rx, stats, relay.clone(), ctx.quiet, ctx.json));
        let ended = tokio::select! {
            () = shutdown_signal() => None,
            r = &mut task => Some(r),
        };
        stop.cancel();
        let result = match ended {
            Some(r) => r,
            None => task.await,
        };
        shown.abort();
        result.context("the tunnel task panicked")??;
        if !ctx.quiet && !ctx.json {
            out("stopped")?;
        }
        Ok(Outcome::Success)
    })
}

/// The manifest to publish: the current card (`base`: the relay's, else the last this key
/// published) edited by --card/--name, with the relay endpoint and this relay first.
fn relay_manifest(
    id: &crate::identity::Identity,
    args: &Args,
    relay: &str,
    base: Option<&Manifest>,
    issued_at: i64,
) -> anyhow::Result<Manifest> {
    if base.is_none() && args.card.is_none() && args.name.is_none() {
        anyhow::bail!(
            "no card of this key is on {relay} yet: pass --name NAME (and optionally --card FILE) with --register"
        );
    }
    let reg = super::register::Args {
        file: args.card.clone(),
        name: args.name.clone(),
        endpoint: Some(format!("relay://{}", id.id())),
        ..super::register::Args::default()
    };
    let mut m = build_manifest(id, &reg, issued_at, base)?;
    // This relay first: callers' nodes try relays in order.
    m.relays.retain(|r| r != relay);
    m.relays.insert(0, relay.to_string());
    Ok(m)
}

/// Whether `e` is a node that could not be reached (worth waiting for).
fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<crate::client::ClientError>(),
            Some(crate::client::ClientError::Unreachable { .. })
        )
    })
}

/// One event: a JSON object on stdout with --json, else a line on stderr.
fn event(json: bool, value: serde_json::Value, line: impl FnOnce() -> String) {
    if json {
        let _ = out(value);
    } else {
        eprintln!("{}", line());
    }
}

/// The JSON event of a state.
fn state_event(s: &ConnState, relay: &str) -> serde_json::Value {
    match s {
        ConnState::Connecting(n) => json!({"event": "connecting", "relay": relay, "attempt": n}),
        ConnState::Ready(node) => json!({"event": "ready", "relay": relay, "node_id": node}),
        ConnState::Waiting(d, why) => {
            json!({"event": "down", "reason": why, "retry_in_s": d.as_secs_f64()})
        }
        ConnState::Stopped => json!({"event": "stopped"}),
    }
}

/// Shows the tunnel's state: a live status line on a terminal, a line per change otherwise
/// (each state once), or with --json one JSON event per line on stdout.
async fn show(
    mut rx: watch::Receiver<ConnState>,
    stats: Arc<ConnStats>,
    relay: String,
    quiet: bool,
    json: bool,
) {
    if quiet {
        return;
    }
    if json {
        let mut last = None;
        loop {
            let e = state_event(&rx.borrow_and_update(), &relay);
            if last.as_ref() != Some(&e) {
                let _ = out(&e);
                last = Some(e);
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
    let describe = |s: &ConnState| match s {
        ConnState::Connecting(n) if *n > 1 => format!("connecting to {relay} (attempt {n})"),
        ConnState::Connecting(_) => format!("connecting to {relay}"),
        ConnState::Ready(node) => format!(
            "ready via {relay} (node {})",
            crate::identity::short_id(node)
        ),
        ConnState::Waiting(d, why) => format!("down: {why}; retrying in {:.1}s", d.as_secs_f64()),
        ConnState::Stopped => "stopping".to_string(),
    };
    if !std::io::stderr().is_terminal() {
        let mut last = String::new();
        loop {
            let line = describe(&rx.borrow_and_update());
            if line != last {
                eprintln!("{line}");
                last = line;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let line = format!(
            "{} · {} served · {} refused",
            describe(&rx.borrow()),
            stats.served.load(Ordering::Relaxed),
            stats.refused.load(Ordering::Relaxed)
        );
        bar.set_message(line);
        tokio::select! {
            r = rx.changed() => if r.is_err() { bar.finish(); return },
            _ = tick.tick() => {}
        }
    }
}
