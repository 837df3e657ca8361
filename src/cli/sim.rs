//! `agentmesh sim`: a federation of real in-process nodes with fault injection; prints the
//! convergence summary and writes the convergence plot.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::{Ctx, Outcome, out, out_json, print_rows};
use crate::sim::{SimConfig, run, svg};

/// `sim` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Nodes to run.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=2000))]
    pub nodes: u32,
    /// Peers each push round goes to.
    #[arg(long, default_value_t = 3)]
    pub fanout: usize,
    /// Updates registered at random nodes.
    #[arg(long, default_value_t = 50)]
    pub updates: usize,
    /// Time between updates.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub update_every: Duration,
    /// Share of nodes to kill a quarter into the run and restart later (e.g. 10%).
    #[arg(long, default_value = "0%", value_parser = parse_percent)]
    pub kill: f64,
    /// Split the network in halves for this long, a third into the run (e.g. 20s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub partition: Option<Duration>,
    /// Share of sync messages dropped (e.g. 1%).
    #[arg(long, default_value = "0%", value_parser = parse_percent)]
    pub drop: f64,
    /// Pull anti-entropy interval of every node.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub sync_interval: Duration,
    /// Push round interval (the batching window).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub push_interval: Duration,
    /// Peers each node keeps.
    #[arg(long, default_value_t = 16)]
    pub max_peers: usize,
    /// Offer over HTTP only, not by UDP datagram (to compare).
    #[arg(long)]
    pub no_udp_offers: bool,
    /// Write the convergence plot here (SVG; replication mode).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// What to simulate: full replication (the federation), or the Kademlia DHT mode (which
    /// also runs full replication at the same size, to compare, unless --no-compare).
    #[arg(long, value_enum, default_value_t = Mode::Replication)]
    pub mode: Mode,
    /// DHT mode: lookups made from random nodes once the cards are stored.
    #[arg(long, default_value_t = 2000)]
    pub lookups: usize,
    /// DHT mode: how many nodes hold each record (Kademlia's k).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub replication: u16,
    /// DHT mode: skip the full-replication run beside it.
    #[arg(long)]
    pub no_compare: bool,
}

/// What `sim` simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Every node stores every card (the federation's sync).
    Replication,
    /// The Kademlia DHT on libp2p, in memory, beside full replication.
    Dht,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%');
    let v: f64 = t
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage like 10%"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("`{s}` must be between 0% and 100%"));
    }
    Ok(v / 100.0)
}

pub(super) fn run_cmd(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.fanout >= 1, "--fanout must be at least 1");
    anyhow::ensure!(args.updates >= 1, "--updates must be at least 1");
    let cfg = SimConfig {
        nodes: args.nodes as usize,
        fanout: args.fanout,
        updates: args.updates,
        update_every: args.update_every,
        kill: args.kill,
        partition: args.partition,
        drop: args.drop,
        sync_interval: args.sync_interval,
        push_interval: args.push_interval,
        max_peers: args.max_peers.max(args.fanout),
        udp_offers: !args.no_udp_offers,
    };
    if args.mode == Mode::Dht {
        return run_dht(ctx, &args, cfg);
    }
    let root = tempfile_dir()?;
    let rt = super::server_runtime()?;
    let quiet = ctx.quiet;
    let report = rt
        .block_on(run(cfg, root.clone(), |line| {
            if !quiet {
                eprintln!("sim: {line}");
            }
        }))
        .context("the simulation failed")?;
    rt.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&root);
    if let Some(p) = &args.plot {
        std::fs::write(p, svg(&report)).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if ctx.json {
        out_json(&serde_json::to_value(&report)?)?;
    } else {
        let ms = |v: f64| {
            if v.is_nan() {
                "-".to_string()
            } else {
                format!("{v:.0}")
            }
        };
        print_rows(
            [
                "NODES",
                "FANOUT",
                "P50 MS",
                "P99 MS",
                "MAX MS",
                "ROUNDS",
                "KBPS/NODE",
                "OFFERS/UPD",
                "HEAL MS",
                "LOST",
                "REFUSED",
            ],
            &[[
                report.nodes.to_string(),
                report.fanout.to_string(),
                ms(report.p50_ms),
                ms(report.p99_ms),
                ms(report.max_ms),
                format!("{:.1}", report.rounds_p50),
                format!("{:.1}", report.kbps_per_node),
                format!("{:.0}", report.offers_per_update),
                report.heal_ms.map_or("-".into(), ms),
                report.lost.to_string(),
                report.refused.to_string(),
            ]],
            true,
        )?;
        if let Some(p) = &args.plot {
            out(format!("plot written to {}", p.display()))?;
        }
    }
    Ok(if report.lost == 0 {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

/// `sim --mode dht`: the DHT at `cfg.nodes` nodes, then (unless `--no-compare`) full
/// replication at the same size and number of updates; one row each.
fn run_dht(ctx: &Ctx, args: &Args, cfg: SimConfig) -> anyhow::Result<Outcome> {
    let rt = super::server_runtime()?;
    let quiet = ctx.quiet;
    let say = |line: &str| {
        if !quiet {
            eprintln!("sim: {line}");
        }
    };
    let dht_cfg = crate::dht::sim::DhtSimConfig {
        nodes: cfg.nodes,
        records: cfg.updates,
        lookups: args.lookups,
        replication: usize::from(args.replication),
        concurrency: 64,
    };
    let dht = rt
        .block_on(crate::dht::sim::run(dht_cfg, say))
        .context("the DHT simulation failed")?;
    let full = if args.no_compare {
        None
    } else {
        say("now full replication at the same size");
        let root = tempfile_dir()?;
        let r = rt
            .block_on(run(cfg, root.clone(), say))
            .context("the replication simulation failed")?;
        let _ = std::fs::remove_dir_all(&root);
        Some(r)
    };
    rt.shutdown_timeout(Duration::from_secs(5));
    let ok = dht.success_rate >= 0.999;
    if ctx.json {
        out_json(&serde_json::json!({ "dht": dht, "replication": full }))?;
    } else {
        let mut rows = vec![[
            format!("dht (k={})", dht.replication),
            dht.nodes.to_string(),
            format!(
                "{:.1} (k·n/N {:.1})",
                dht.records_per_node_mean, dht.records_per_node_expected
            ),
            format!("{:.0}", dht.bytes_per_node_per_update),
            format!("{:.2}% of {}", dht.success_rate * 100.0, dht.lookups),
            format!("{:.0}", dht.requests_p50),
            format!("{:.1} / {:.1}", dht.p50_ms, dht.p99_ms),
            "-".into(),
        ]];
        if let Some(f) = &full {
            rows.push([
                "replication".into(),
                f.nodes.to_string(),
                f.updates.len().to_string(),
                format!("{:.0}", f.bytes_per_node_per_update),
                "local read".into(),
                "0".into(),
                "-".into(),
                format!("{:.0} / {:.0}", f.p50_ms, f.p99_ms),
            ]);
        }
        print_rows(
            [
                "MODE",
                "NODES",
                "RECORDS/NODE",
                "BYTES/NODE/UPDATE",
                "LOOKUPS FOUND",
                "REQUESTS P50",
                "LOOKUP P50/P99 MS",
                "CONVERGE P50/P99 MS",
            ],
            &rows,
            true,
        )?;
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

/// A fresh folder for the nodes' databases under the system temp dir.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let name = format!(
        "agentmesh-sim-{}",
        crate::encoding::b64url(&crate::encoding::random_bytes::<6>())
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
