//! `agentmesh discover`: natural-language search with tag, protocol and trust filters.

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::wire::DiscoverHit;
use anyhow::Context as _;

use super::{Ctx, Outcome, out_json, print_rows, runtime};
use crate::identity::short_id;

/// `discover` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What you need, in plain words (empty: list by trust, then recency).
    pub query: Option<String>,
    /// Only agents with this tag (repeatable; all must match).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only agents speaking this protocol (http, mcp, a2a, ws, …).
    #[arg(long, value_name = "PROTO")]
    pub protocol: Option<String>,
    /// Only agents whose local trust score is at least this (0–1).
    #[arg(long, value_name = "SCORE", value_parser = parse_trust)]
    pub min_trust: Option<f64>,
    /// Most results (1–100).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// HTTP timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

fn parse_trust(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if (0.0..=1.0).contains(&t) => Ok(t),
        _ => Err(format!("`{s}` is not a score between 0 and 1")),
    }
}

pub(super) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let client = ctx.client(args.timeout)?;
    let query = args.query.unwrap_or_default();
    let body = runtime()?.block_on(async {
        client
            .discover(
                &query,
                &args.tags,
                args.protocol.as_deref(),
                args.min_trust,
                args.limit.into(),
            )
            .await
            .with_context(|| format!("discovery at {} failed", client.base()))
    })?;
    let results = &body.results;
    if ctx.json {
        out_json(&body)?;
    } else if results.is_empty() {
        if !ctx.quiet {
            eprintln!("no agent matches");
        }
    } else {
        print_table(results, std::io::stdout().is_terminal())?;
    }
    Ok(if results.is_empty() {
        Outcome::Negative
    } else {
        Outcome::Success
    })
}

fn print_table(results: &[DiscoverHit], tty: bool) -> anyhow::Result<()> {
    let rows: Vec<[String; 6]> = results
        .iter()
        .map(|r| {
            // A card that does not read (the node holds only verified ones) shows its ID alone.
            let m = r.card.fields().unwrap_or_default();
            let id = &r.agent_id;
            [
                m.name,
                if tty { short_id(id) } else { id.clone() },
                format!("{:.3}", r.score),
                format!("{:.2}", r.trust),
                m.protocols.join(","),
                m.endpoint.unwrap_or_default(),
            ]
        })
        .collect();
    print_rows(
        ["NAME", "ID", "SCORE", "TRUST", "PROTOCOLS", "ENDPOINT"],
        &rows,
        tty,
    )
}
