//! The everyday commands: `show` (a card, readable), `keys` (my identities and whether each has
//! a live card on the node) and `status` (the node, my key, my card, my tunnels), in the spirit
//! of `gh auth status`.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;

use super::register::Current;
use super::{Ctx, Outcome, out, out_json, runtime};
use crate::card::Manifest;
use crate::client::{Client, ClientError};

/// `show` flags.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The agent: a did:key, @keyname, a card name, or the short form tables print (default:
    /// my own, --key).
    #[arg(add = clap_complete::ArgValueCompleter::new(super::complete::agents))]
    pub agent: Option<String>,
    /// HTTP timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

pub(super) fn show(ctx: &Ctx, args: ShowArgs) -> anyhow::Result<Outcome> {
    let client = ctx.client(args.timeout)?;
    runtime()?.block_on(async {
        let reference = args.agent.unwrap_or_else(|| format!("@{}", ctx.key));
        let id = ctx.resolve_agent(&client, &reference).await?;
        let envelope = match client.get_agent(&id).await {
            Err(ClientError::Api {
                status: 404 | 410,
                message,
                ..
            }) => {
                if !ctx.quiet {
                    eprintln!("{message}");
                }
                return Ok(Outcome::Negative);
            }
            other => other.context("cannot read the card")?,
        };
        if ctx.json {
            out_json(&envelope)?;
            return Ok(Outcome::Success);
        }
        let m = envelope
            .fields()
            .context("the node's card does not read as a card")?;
        print_card(&m)?;
        Ok(Outcome::Success)
    })
}

/// A card as lines of `label  value`, the empty fields left out.
fn print_card(m: &Manifest) -> anyhow::Result<()> {
    out(format!("{}  {}", m.name, m.agent_id))?;
    let mut rows: Vec<(&str, String)> = vec![
        ("description", m.description.clone()),
        ("endpoint", m.endpoint.clone().unwrap_or_default()),
        ("tags", m.tags.join(", ")),
        ("protocols", m.protocols.join(", ")),
        (
            "skills",
            m.skills
                .iter()
                .map(|s| match &s.name {
                    Some(n) => format!("{} ({n})", s.id),
                    None => s.id.clone(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("relays", m.relays.join(", ")),
        ("vector_desc", m.vector_desc.clone().unwrap_or_default()),
    ];
    let limits = [
        m.qps_budget.map(|q| format!("{q} calls/s")),
        m.concurrency_limit.map(|c| format!("{c} at once")),
    ];
    rows.push((
        "limits",
        limits.into_iter().flatten().collect::<Vec<_>>().join(" · "),
    ));
    rows.push(("issued", m.issued_at.clone()));
    rows.push(("expires", m.expires_at.clone().unwrap_or_default()));
    if let Some(dir) = m
        .meta
        .as_ref()
        .and_then(|meta| meta.get("httpsig_directory"))
    {
        rows.push((
            "key dir",
            format!(
                "signed for {} (docs/protocol.md §4c)",
                dir["authority"].as_str().unwrap_or("?")
            ),
        ));
    }
    if let Some(meta) = &m.meta {
        let pairs: Vec<String> = meta
            .iter()
            // Shown above, readable; --json has it whole.
            .filter(|(k, _)| k.as_str() != "httpsig_directory")
            .map(|(k, v)| match v.as_str() {
                Some(s) => format!("{k}={s}"),
                None => format!("{k}={v}"),
            })
            .collect();
        rows.push(("meta", pairs.join(", ")));
    }
    for (label, value) in rows.into_iter().filter(|(_, v)| !v.is_empty()) {
        out(format!("  {label:<12} {value}"))?;
    }
    Ok(())
}

/// What the node holds of one agent's card.
async fn card_state(client: &Client, id: &str) -> Result<String, ClientError> {
    Ok(match Current::of(client, id).await {
        Ok(Current::Live(m)) => format!("live as `{}`", m.name),
        // Served, so live, but not readable as a card here.
        Err(ClientError::Decode { .. }) => "live".into(),
        Ok(Current::Revoked) => "revoked".into(),
        Ok(Current::Expired) => "expired".into(),
        Ok(Current::Missing) => "none".into(),
        Err(e) => return Err(e),
    })
}

pub(super) fn keys(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let names = ctx.keystore.names();
    if names.is_empty() {
        if !ctx.quiet {
            eprintln!("no identities yet: create one with `agentmesh keygen`");
        }
        return Ok(Outcome::Negative);
    }
    let client = ctx.client(Duration::from_secs(5))?;
    let rows = runtime()?.block_on(async {
        let mut rows = Vec::new();
        let mut node_error = None;
        for name in names {
            let (id, location) = match ctx.load_key(&name) {
                Ok(k) => k,
                Err(e) => {
                    rows.push(json!({"name": name, "error": format!("{e:#}")}));
                    continue;
                }
            };
            // One unreachable node is said once, not per key.
            let card = if node_error.is_none() {
                match card_state(&client, id.id()).await {
                    Ok(state) => state,
                    Err(e) => {
                        node_error = Some(e.to_string());
                        "unknown (node unreachable)".into()
                    }
                }
            } else {
                "unknown (node unreachable)".into()
            };
            let store = match location {
                crate::identity::KeyLocation::Keyring => "keyring".to_string(),
                crate::identity::KeyLocation::File(p) => p.display().to_string(),
            };
            rows.push(
                json!({"name": name, "agent_id": id.id(), "store": store, "card": card,
                "default": name == ctx.key}),
            );
        }
        anyhow::Ok(rows)
    })?;
    if ctx.json {
        out_json(&rows)?;
        return Ok(Outcome::Success);
    }
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let mark = if r["default"] == true { "*" } else { "" };
            [
                format!("{}{mark}", s("name")),
                if r.get("error").is_some() {
                    s("error")
                } else {
                    s("agent_id")
                },
                s("store"),
                s("card"),
            ]
        })
        .collect();
    super::print_rows(
        ["NAME", "ID", "STORE", "CARD ON THE NODE"],
        &table,
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
    )?;
    Ok(Outcome::Success)
}

pub(super) fn status(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = ctx.client(Duration::from_secs(5))?;
    let key = ctx.load_key(&ctx.key);
    let report = runtime()?.block_on(async {
        let info = client.node_info().await;
        let mut v = json!({"node": {"url": client.base()}});
        match &info {
            Ok(i) => {
                v["node"]["reachable"] = json!(true);
                v["node"]["version"] = json!(i.version);
                v["node"]["node_id"] = json!(i.node_id);
                v["node"]["agents"] = json!(i.agents);
            }
            Err(e) => {
                v["node"]["reachable"] = json!(false);
                v["node"]["error"] = json!(e.to_string());
            }
        }
        match &key {
            Ok((id, location)) => {
                v["key"] =
                    json!({"name": ctx.key, "agent_id": id.id(), "store": location.to_string()});
                if info.is_ok() {
                    v["card"] = json!(
                        card_state(&client, id.id())
                            .await
                            .unwrap_or_else(|e| e.to_string())
                    );
                    let tunnel = info.as_ref().ok().and_then(|i| {
                        i.tunnel_list
                            .iter()
                            .find(|t| t.agent_id == id.id())
                            .cloned()
                    });
                    v["tunnel"] = json!(tunnel);
                }
            }
            Err(e) => v["key"] = json!({"name": ctx.key, "error": format!("{e:#}")}),
        }
        v
    });
    let ok = report["node"]["reachable"] == true && report["key"].get("error").is_none();
    if ctx.json {
        out_json(&report)?;
    } else {
        let n = &report["node"];
        if n["reachable"] == true {
            out(format!(
                "✓ node {} is up: agentmesh {}, node {} ({} agents)",
                n["url"].as_str().unwrap_or(""),
                n["version"].as_str().unwrap_or(""),
                n["node_id"].as_str().unwrap_or(""),
                n["agents"]
            ))?;
        } else {
            out(format!(
                "✗ node {}: {}",
                n["url"].as_str().unwrap_or(""),
                n["error"].as_str().unwrap_or("")
            ))?;
        }
        let k = &report["key"];
        match k.get("error") {
            None => out(format!(
                "✓ key `{}`: {} ({})",
                ctx.key,
                k["agent_id"].as_str().unwrap_or(""),
                k["store"].as_str().unwrap_or("")
            ))?,
            Some(e) => out(format!("✗ key `{}`: {}", ctx.key, e.as_str().unwrap_or("")))?,
        }
        if let Some(card) = report.get("card").and_then(|c| c.as_str()) {
            out(format!("  card on the node: {card}"))?;
        }
        if let Some(t) = report.get("tunnel") {
            if t.is_null() {
                out("  relay tunnel: none to this node")?;
            } else {
                out(format!(
                    "  relay tunnel: open for {} s, {} calls served, {} in flight",
                    t["age_s"], t["served"], t["in_flight"]
                ))?;
            }
        }
    }
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}
