//! `agentmesh trust`: this node's trust in an agent (`show`), the agents it knows by score
//! (`list`), and admin reports (`report`).

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::wire::TrustListed;
use anyhow::Context as _;

use super::{Ctx, Outcome, out, out_json, print_rows, runtime};
use crate::events::OutcomeKind;
use crate::identity::{KeyStore, short_id};
use crate::trust::TrustView;

/// `trust` subcommands.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Sub,
}

/// What `trust` does.
#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// An agent's score, evidence, counts by event and hourly history.
    #[command(
        after_help = "Examples:\n  agentmesh trust show weather\n  agentmesh trust show did:key:z6Mk… --json"
    )]
    Show {
        /// The agent: a did:key, @keyname, a card name, or the short form tables print.
        #[arg(value_name = "AGENT", add = clap_complete::ArgValueCompleter::new(super::complete::agents))]
        agent_id: String,
    },
    /// Agents this node has seen, by score.
    #[command(
        after_help = "Examples:\n  agentmesh trust list\n  agentmesh trust list --sort low --limit 10"
    )]
    List {
        /// Order: score (highest first), low (lowest first), events or recent.
        #[arg(long, default_value = "score", value_parser = ["score", "low", "events", "recent"])]
        sort: String,
        /// How many.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// Record an outcome about an agent (signed; your key must be one of the node's admins).
    #[command(
        after_help = "Examples:\n  agentmesh trust report weather --event failure --note \"wrong answers\"\n  agentmesh trust report weather --event success --as-node"
    )]
    Report {
        /// The agent: a did:key, @keyname, a card name, or the short form tables print.
        #[arg(value_name = "AGENT", add = clap_complete::ArgValueCompleter::new(super::complete::agents))]
        agent_id: String,
        /// What happened.
        #[arg(long, value_enum)]
        event: EventArg,
        /// Why, for the record.
        #[arg(long)]
        note: Option<String>,
        /// Sign with the node's own key (data/node.key under the home folder) instead of --key.
        #[arg(long)]
        as_node: bool,
    },
}

/// `--event` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EventArg {
    /// A good answer.
    Success,
    /// A wrong or failed answer.
    Failure,
    /// No answer in time.
    Timeout,
    /// A forged or broken response signature.
    BadSignature,
    /// Calls beyond its limits.
    RateLimit,
}

impl From<EventArg> for OutcomeKind {
    fn from(e: EventArg) -> Self {
        match e {
            EventArg::Success => Self::Success,
            EventArg::Failure => Self::Failure,
            EventArg::Timeout => Self::Timeout,
            EventArg::BadSignature => Self::BadSignature,
            EventArg::RateLimit => Self::RateLimit,
        }
    }
}

pub(super) fn run(ctx: &Ctx, args: Args) -> anyhow::Result<Outcome> {
    let client = ctx.client(Duration::from_secs(30))?;
    let rt = runtime()?;
    match args.command {
        Sub::Show { agent_id } => {
            let agent_id = rt.block_on(ctx.resolve_agent(&client, &agent_id))?;
            let view = rt.block_on(client.trust(&agent_id))?;
            if ctx.json {
                out_json(&serde_json::to_value(&view)?)?;
            } else {
                print_view(&view)?;
            }
            Ok(Outcome::Success)
        }
        Sub::List { sort, limit } => {
            let body = rt.block_on(client.trust_list(&sort, usize::from(limit)))?;
            let agents = &body.agents;
            if ctx.json {
                out_json(&body)?;
            } else if agents.is_empty() {
                if !ctx.quiet {
                    eprintln!(
                        "this node has no trust records yet (they come from invocations through it)"
                    );
                }
            } else {
                print_list(agents, std::io::stdout().is_terminal())?;
            }
            Ok(if agents.is_empty() {
                Outcome::Negative
            } else {
                Outcome::Success
            })
        }
        Sub::Report {
            agent_id,
            event,
            note,
            as_node,
        } => {
            let agent_id = rt.block_on(ctx.resolve_agent(&client, &agent_id))?;
            let admin = if as_node {
                let path = ctx.paths.data_dir.join("node.key");
                anyhow::ensure!(
                    path.exists(),
                    "no node key at {} (run --as-node on the node's machine with the same --home)",
                    path.display()
                );
                KeyStore::load_or_create_file(&path)
                    .with_context(|| format!("cannot load the node key {}", path.display()))?
                    .0
            } else {
                ctx.load_key(&ctx.key)?.0
            };
            let view = rt.block_on(async {
                let node_id = client.node_info().await?.node_id;
                anyhow::ensure!(!node_id.is_empty(), "the node did not say its ID");
                client
                    .trust_report(&admin, &node_id, &agent_id, event.into(), note.as_deref())
                    .await
                    .map_err(|e| e.refusing(|| "the node refused the report".into()))
            })?;
            if ctx.json {
                out_json(&serde_json::to_value(&view)?)?;
            } else {
                out(format!(
                    "recorded {} for {} — score now {:.3}",
                    OutcomeKind::from(event).as_str(),
                    view.agent_id,
                    view.score
                ))?;
            }
            Ok(Outcome::Success)
        }
    }
}

/// `width` cells of a bar filled in proportion to `score` (0–1).
pub fn bar(score: f64, width: usize) -> String {
    let filled = ((score.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// One block character per value (0–1).
pub fn sparkline(values: impl IntoIterator<Item = f64>) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    values
        .into_iter()
        .map(|v| BLOCKS[((v.clamp(0.0, 1.0) * 7.0).round() as usize).min(7)])
        .collect()
}

fn print_view(v: &TrustView) -> anyhow::Result<()> {
    out(format!("agent     {}", v.agent_id))?;
    out(format!("score     {:.3}  {}", v.score, bar(v.score, 20)))?;
    if !v.known {
        out("          no events seen on this node: neutral")?;
        return Ok(());
    }
    out(format!(
        "evidence  α {:.2} positive · β {:.2} negative (half-life {})",
        v.alpha,
        v.beta,
        crate::encoding::format_duration(Duration::from_secs(v.half_life_s))
    ))?;
    let c = &v.counts;
    out(format!(
        "events    success {} · failure {} · timeout {} · bad_signature {} · rate_limit {}{}",
        c.success,
        c.failure,
        c.timeout,
        c.bad_signature,
        c.rate_limit,
        if v.reports > 0 {
            format!(" ({} by admins)", v.reports)
        } else {
            String::new()
        }
    ))?;
    if let (Some(kind), Some(at)) = (v.last_event, &v.last_event_at) {
        out(format!("last      {} at {at}", kind.as_str()))?;
    }
    if let Some(r) = &v.last_report {
        out(format!(
            "report    {} by {}{} at {}",
            r.kind.as_str(),
            short_id(&r.by),
            r.note
                .as_deref()
                .map(|n| format!(": \"{n}\""))
                .unwrap_or_default(),
            crate::encoding::format_rfc3339(r.at)
        ))?;
    }
    if let (Some(first), Some(last)) = (v.history.first(), v.history.last()) {
        out(format!(
            "history   {}  hourly score, {} → {}",
            sparkline(v.history.iter().map(|h| h.score)),
            first.at,
            last.at
        ))?;
    }
    Ok(())
}

fn print_list(agents: &[TrustListed], tty: bool) -> anyhow::Result<()> {
    let rows: Vec<[String; 6]> = agents
        .iter()
        .map(|a| {
            let s = &a.summary;
            [
                format!("{:.3}", s.score),
                bar(s.score, 10),
                s.events.to_string(),
                s.last_event_at.clone().unwrap_or_else(|| "-".into()),
                a.name.clone().unwrap_or_else(|| "-".into()),
                if tty {
                    short_id(&s.agent_id)
                } else {
                    s.agent_id.clone()
                },
            ]
        })
        .collect();
    print_rows(
        ["SCORE", "", "EVENTS", "LAST EVENT", "NAME", "ID"],
        &rows,
        tty,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_sparklines_scale() {
        assert_eq!(bar(0.5, 10), "█████░░░░░");
        assert_eq!(bar(1.5, 4), "████");
        assert_eq!(bar(-1.0, 4), "░░░░");
        assert_eq!(sparkline([0.0, 0.5, 1.0]), "▁▅█");
    }
}
