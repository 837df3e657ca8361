//! `agentmesh top`: a live TUI of a node. Without a terminal (or with `--once`) it prints one
//! snapshot instead: the screen as plain text, or the node's JSON with `--json`.

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;

use super::{Ctx, Outcome, out, out_json, runtime};
use crate::tui::{self, TopConfig};
use crate::wire::MAX_AGENTS;

/// `top` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Time between refreshes (e.g. 500ms, 2s).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Most agents to list.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=MAX_AGENTS as i64))]
    pub agents: u16,
    /// Print one snapshot and exit (what happens anyway when stdout is not a terminal).
    #[arg(long)]
    pub once: bool,
    /// Width of the printed snapshot (default: the terminal's, or 120).
    #[arg(long, value_parser = clap::value_parser!(u16).range(60..=500))]
    pub width: Option<u16>,
    /// Height of the printed snapshot (default: the terminal's, or 40).
    #[arg(long, value_parser = clap::value_parser!(u16).range(16..=300))]
    pub height: Option<u16>,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (e.g. 1s, 500ms)"))?;
    if d < Duration::from_millis(100) {
        return Err(format!("`{s}` is shorter than 100ms"));
    }
    Ok(d)
}

pub(super) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let interactive = !args.once && !ctx.json && std::io::stdout().is_terminal();
    let rt = runtime()?;
    if interactive {
        let cfg = TopConfig {
            node: ctx.node.clone(),
            interval: args.interval,
            agents: usize::from(args.agents),
            color,
        };
        rt.block_on(tui::run(cfg))
            .context("the terminal UI failed")?;
        return Ok(Outcome::Success);
    }
    let client = tui::event::client(&ctx.node, args.interval)?;
    let (app, raw) = rt.block_on(tui::snapshot(&client, usize::from(args.agents)))?;
    if ctx.json {
        out_json(&raw)?;
        return Ok(Outcome::Success);
    }
    let (tw, th) = crossterm::terminal::size().unwrap_or((120, 40));
    let width = args.width.unwrap_or(if std::io::stdout().is_terminal() {
        tw
    } else {
        120
    });
    let height = args.height.unwrap_or(if std::io::stdout().is_terminal() {
        th
    } else {
        40
    });
    out(tui::render_text(&app, width, height).trim_end_matches('\n'))?;
    Ok(Outcome::Success)
}
