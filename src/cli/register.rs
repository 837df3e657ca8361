//! `agentmesh register`: build a card from flags and/or a TOML/JSON file, sign it with the key,
//! and publish it; `--revoke` publishes a signed tombstone instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Ctx, Outcome, out, out_json, runtime};
use crate::card::{MAX_FUTURE_SKEW_S, Manifest, Skill, sign_manifest};
use crate::client::{Client, ClientError};
use crate::encoding::{format_rfc3339, now_unix, parse_rfc3339};
use crate::identity::Identity;

/// `register` flags. Flags override the same fields of `--file`.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Card file (TOML, or JSON when it ends in .json) with the manifest's fields.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Import an A2A Agent Card (a URL — a base URL reads /.well-known/agent-card.json — or a
    /// file): name, description, skills, interface; the rest kept under meta.a2a. Flags override.
    #[arg(long, value_name = "URL|FILE", conflicts_with_all = ["file", "revoke"])]
    pub from_a2a: Option<String>,
    /// The A2A card read for --from-a2a (filled in by `run`).
    #[arg(skip)]
    pub imported: Option<Value>,
    /// Human-readable name (1–64 chars).
    #[arg(long)]
    pub name: Option<String>,
    /// What the agent does.
    #[arg(long)]
    pub description: Option<String>,
    /// A skill ID (repeatable); richer skills go in --file.
    #[arg(long = "skill", value_name = "ID")]
    pub skills: Vec<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// A protocol: http, mcp, a2a, ws, … (repeatable).
    #[arg(long = "protocol", value_name = "PROTO")]
    pub protocols: Vec<String>,
    /// Where the agent is reached: http(s)://, ws(s):// or relay://<agent_id>.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// A relay node's base URL (repeatable).
    #[arg(long = "relay", value_name = "URL")]
    pub relays: Vec<String>,
    /// Text embedded for discovery instead of the description.
    #[arg(long, value_name = "TEXT")]
    pub vector_desc: Option<String>,
    /// Most requests per second the agent accepts.
    #[arg(long, value_name = "QPS")]
    pub qps_budget: Option<f64>,
    /// Most requests in flight the agent accepts.
    #[arg(long, value_name = "N")]
    pub concurrency_limit: Option<u32>,
    /// Card lifetime (e.g. 30d, 12h); sets expires_at.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ttl: Option<Duration>,
    /// A meta entry KEY=VALUE (repeatable).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// Publish a signed tombstone: the agent's card is revoked everywhere.
    #[arg(long, conflicts_with_all = ["file", "endpoint"])]
    pub revoke: bool,
    /// Print the signed envelope instead of publishing it.
    #[arg(long)]
    pub dry_run: bool,
    /// HTTP timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// The card file: a manifest without the fields the CLI fills in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardFile {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    skills: Vec<Skill>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    protocols: Vec<String>,
    endpoint: Option<String>,
    #[serde(default)]
    relays: Vec<String>,
    vector_desc: Option<String>,
    qps_budget: Option<f64>,
    concurrency_limit: Option<u32>,
    ttl: Option<String>,
    expires_at: Option<String>,
    meta: Option<Map<String, Value>>,
}

fn load_card_file(path: &Path) -> anyhow::Result<CardFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read card file {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        toml::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| format!("invalid card file {}", path.display()))
}

/// Builds the manifest from the file and flags (flags win), issued at `issued_at`.
pub(super) fn build_manifest(
    id: &Identity,
    args: &Args,
    issued_at: i64,
) -> anyhow::Result<Manifest> {
    if let Some(card) = &args.imported {
        let m = crate::interop::a2a::manifest_from_card(card, id.id(), issued_at)
            .context("cannot import the A2A agent card")?;
        let file = CardFile {
            name: Some(m.name),
            description: Some(m.description),
            skills: m.skills,
            tags: m.tags,
            protocols: m.protocols,
            endpoint: m.endpoint,
            meta: m.meta,
            ..CardFile::default()
        };
        return manifest_from(id, args, issued_at, file);
    }
    let file = match &args.file {
        Some(p) => load_card_file(p)?,
        None => CardFile::default(),
    };
    manifest_from(id, args, issued_at, file)
}

/// The manifest of `file`'s fields with the flags over them.
fn manifest_from(
    id: &Identity,
    args: &Args,
    issued_at: i64,
    file: CardFile,
) -> anyhow::Result<Manifest> {
    let Some(name) = args.name.clone().or(file.name) else {
        bail!("a card needs a name: pass --name or set `name` in --file");
    };
    let mut m = Manifest::new(id.id(), &name, issued_at);
    m.description = args
        .description
        .clone()
        .or(file.description)
        .unwrap_or_default();
    m.skills = file.skills;
    m.skills.extend(args.skills.iter().map(|s| Skill {
        id: s.clone(),
        ..Skill::default()
    }));
    m.tags = merge(file.tags, &args.tags);
    m.protocols = merge(file.protocols, &args.protocols);
    m.relays = merge(file.relays, &args.relays);
    m.endpoint = args.endpoint.clone().or(file.endpoint);
    if m.endpoint.is_none() {
        bail!("a card needs an endpoint: pass --endpoint http://host:port (or relay://<agent_id>)");
    }
    m.vector_desc = args.vector_desc.clone().or(file.vector_desc);
    m.qps_budget = args.qps_budget.or(file.qps_budget);
    m.concurrency_limit = args.concurrency_limit.or(file.concurrency_limit);
    let ttl = match (args.ttl, file.ttl) {
        (Some(t), _) => Some(t),
        (None, Some(t)) => Some(
            humantime::parse_duration(&t)
                .with_context(|| format!("invalid ttl `{t}` in card file"))?,
        ),
        (None, None) => None,
    };
    m.expires_at = match (ttl, file.expires_at) {
        (Some(t), _) => Some(format_rfc3339(
            issued_at + i64::try_from(t.as_secs()).unwrap_or(i64::MAX / 2),
        )),
        (None, Some(e)) => {
            if parse_rfc3339(&e).is_none() {
                bail!(
                    "expires_at `{e}` in card file is not an RFC 3339 UTC time like 2026-11-24T21:00:00Z"
                );
            }
            Some(e)
        }
        (None, None) => None,
    };
    let mut meta = file.meta.unwrap_or_default();
    for kv in &args.meta {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--meta takes KEY=VALUE, got `{kv}`");
        };
        meta.insert(k.to_string(), Value::String(v.to_string()));
    }
    m.meta = (!meta.is_empty()).then_some(meta);
    Ok(m)
}

fn merge(mut base: Vec<String>, extra: &[String]) -> Vec<String> {
    for e in extra {
        if !base.contains(e) {
            base.push(e.clone());
        }
    }
    base
}

/// Picks `issued_at`: now, or one second past the stored version when that is not older, so
/// two registrations within a second do not collide as `stale`.
pub(super) fn next_issued_at(stored: Option<&Manifest>) -> i64 {
    let now = now_unix();
    let stored_at = stored.and_then(|m| parse_rfc3339(&m.issued_at));
    match stored_at {
        Some(t) if t >= now && t < now + MAX_FUTURE_SKEW_S => t + 1,
        _ => now,
    }
}

/// The manifest of `id`'s card on the node, if it holds a live one.
pub(super) async fn current_card(client: &Client, id: &str) -> anyhow::Result<Option<Manifest>> {
    match client.get_agent(id).await {
        Ok(env) => Ok(Some(
            env.fields()
                .context("the node's copy of the card does not read as a card")?,
        )),
        Err(ClientError::Api {
            status: 404 | 410, ..
        }) => Ok(None),
        Err(e) => Err(e).context("cannot read the current card from the node"),
    }
}

/// Largest A2A card read (real ones are a few KiB).
const MAX_A2A_CARD_BYTES: usize = 1024 * 1024;

/// Reads an A2A card from a URL (a bare base URL means its `/.well-known/agent-card.json`) or
/// a file.
async fn load_a2a_card(src: &str, timeout: Duration) -> anyhow::Result<Value> {
    let text = if src.starts_with("http://") || src.starts_with("https://") {
        let url = match src.split_once("://").map(|(_, rest)| rest.split_once('/')) {
            Some(None) | Some(Some((_, ""))) => {
                format!("{}/.well-known/agent-card.json", src.trim_end_matches('/'))
            }
            _ => src.to_string(),
        };
        let http = crate::client::http_builder()
            .timeout(timeout)
            .build()
            .context("cannot build an HTTP client")?;
        let res = http
            .get(&url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })
            .context("cannot fetch the A2A agent card")?;
        let status = res.status();
        if res
            .content_length()
            .is_some_and(|n| n > MAX_A2A_CARD_BYTES as u64)
        {
            bail!("the agent card at {url} is over {MAX_A2A_CARD_BYTES} bytes");
        }
        let body = res.bytes().await.context("the agent card broke off")?;
        if body.len() > MAX_A2A_CARD_BYTES {
            bail!("the agent card at {url} is over {MAX_A2A_CARD_BYTES} bytes");
        }
        if !status.is_success() {
            bail!("{url} answered HTTP {status} for the agent card");
        }
        String::from_utf8_lossy(&body).into_owned()
    } else {
        std::fs::read_to_string(src).with_context(|| format!("cannot read A2A card file {src}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("the A2A card at {src} is not JSON"))
}

pub(super) fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Outcome> {
    let (id, _) = ctx.load_key(&ctx.key)?;
    let client = ctx.client(args.timeout)?;
    runtime()?.block_on(async {
        if let Some(src) = &args.from_a2a {
            args.imported = Some(load_a2a_card(src, args.timeout).await?);
        }
        let stored = if args.dry_run {
            None
        } else {
            current_card(&client, id.id()).await?
        };
        let issued_at = next_issued_at(stored.as_ref());
        let manifest = if args.revoke {
            let name = stored.map_or_else(|| ctx.key.clone(), |m| m.name);
            let mut m = Manifest::new(id.id(), &name, issued_at);
            m.revoked = true;
            m
        } else {
            build_manifest(&id, &args, issued_at)?
        };
        let name = manifest.name.clone();
        let envelope = sign_manifest(manifest.to_value(), &id)?;
        // Checked here as the node will check it, so a card that breaks a limit (an imported
        // one, or flags on top of it) is named field by field before anything is sent.
        if let Err(e) = crate::card::Card::from_slice(&serde_json::to_vec(&envelope)?) {
            let why = e.to_string();
            let code = crate::node::ApiError::from(e).code;
            bail!("the node would refuse this card ({code}): {why}");
        }
        if args.dry_run {
            out_json(&envelope)?;
            return Ok(Outcome::Success);
        }
        let res = client
            .register(&envelope)
            .await
            .with_context(|| format!("the node at {} refused the card", client.base()))?;
        if ctx.json {
            out_json(&res)?;
        } else {
            out(format!(
                "{} {} ({}) on {} — seq {}",
                res.status,
                name,
                res.agent_id,
                client.base(),
                res.seq
            ))?;
        }
        Ok(Outcome::Success)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_ttl_sets_expiry() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("card.toml");
        std::fs::write(
            &path,
            r#"
name = "from-file"
description = "file desc"
tags = ["a"]
endpoint = "http://127.0.0.1:1"
ttl = "1h"
[[skills]]
id = "forecast"
name = "Forecast"
[meta]
owner = "me"
"#,
        )
        .expect("write");
        let id = Identity::generate();
        let args = Args {
            file: Some(path),
            name: Some("from-flag".into()),
            tags: vec!["b".into(), "a".into()],
            skills: vec!["extra".into()],
            ..Args::default()
        };
        let m = build_manifest(&id, &args, 1_000_000).expect("build");
        assert_eq!(m.name, "from-flag");
        assert_eq!(m.description, "file desc");
        assert_eq!(m.tags, vec!["a", "b"]);
        assert_eq!(m.skills.len(), 2);
        assert_eq!(
            m.expires_at.as_deref(),
            Some(format_rfc3339(1_003_600).as_str())
        );
        assert_eq!(m.meta.expect("meta")["owner"], "me");
    }

    #[test]
    fn missing_name_or_endpoint_is_a_clear_error() {
        let id = Identity::generate();
        let e = build_manifest(&id, &Args::default(), 1).expect_err("no name");
        assert!(e.to_string().contains("--name"));
        let args = Args {
            name: Some("x".into()),
            ..Args::default()
        };
        let e = build_manifest(&id, &args, 1).expect_err("no endpoint");
        assert!(e.to_string().contains("--endpoint"));
    }
}
