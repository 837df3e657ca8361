//! `agentmesh register`: edit this key's card — the one the node holds, else the last one this
//! key published (kept in `<home>/cards/`) — with what flags and a TOML/JSON file say, sign it
//! and publish it, printing what changed; `--replace` publishes a whole new card instead, and
//! `--revoke` a signed tombstone.

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
    /// A key that may have signed the --from-a2a card: a did:key, or a JWK / JWKS file of
    /// Ed25519 keys (repeatable). A did:key `kid` needs none; a `jku` in the card is never
    /// followed.
    #[arg(long, value_name = "KEY|FILE", requires = "from_a2a")]
    pub a2a_key: Vec<String>,
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
    /// Publish a whole new card from the flags and --file alone instead of editing the current
    /// one.
    #[arg(long, conflicts_with = "revoke")]
    pub replace: bool,
    /// Clear a field of the current card (repeatable).
    #[arg(long = "unset", value_name = "FIELD", value_parser = clap::builder::PossibleValuesParser::new(UNSETTABLE))]
    pub unset: Vec<String>,
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

/// Fields `--unset` clears.
const UNSETTABLE: [&str; 10] = [
    "description",
    "skills",
    "tags",
    "protocols",
    "relays",
    "vector_desc",
    "qps_budget",
    "concurrency_limit",
    "expires_at",
    "meta",
];

/// The card file: a manifest without the fields the CLI fills in. A field it names replaces
/// the current card's; one it leaves out is kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardFile {
    name: Option<String>,
    description: Option<String>,
    skills: Option<Vec<Skill>>,
    tags: Option<Vec<String>>,
    protocols: Option<Vec<String>>,
    endpoint: Option<String>,
    relays: Option<Vec<String>>,
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

/// Puts in `m.meta.httpsig_directory` the agent's signature over its own key directory as the
/// node at `node_url` serves it (docs/protocol.md §4c): the webbotauth directory draft's proof of
/// possession, which only the key's holder can make. Valid from `issued_at` to the card's expiry
/// (a year when it has none).
pub(super) fn sign_key_directory(m: &mut Manifest, id: &crate::identity::Identity, node_url: &str) {
    use crate::httpsig;
    const YEAR_S: i64 = 365 * 24 * 3600;
    let Some(authority) = httpsig::RequestTarget::of_url("GET", node_url).map(|t| t.authority)
    else {
        return;
    };
    let created = parse_rfc3339(&m.issued_at).unwrap_or_else(crate::encoding::now_unix);
    let expires = m
        .expires_at
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(created + YEAR_S);
    let Ok(signed) = httpsig::sign_directory(id, &authority, created, expires) else {
        return;
    };
    let entry = serde_json::json!({
        "authority": authority,
        "signature_input": signed.input_member(),
        "signature": signed.signature_member(),
    });
    m.meta
        .get_or_insert_with(Map::new)
        .insert("httpsig_directory".into(), entry);
}

/// Builds the manifest issued at `issued_at`: `base` (the current card; `None` for a new one)
/// with the file's fields and then the flags over it.
pub(super) fn build_manifest(
    id: &Identity,
    args: &Args,
    issued_at: i64,
    base: Option<&Manifest>,
) -> anyhow::Result<Manifest> {
    if let Some(card) = &args.imported {
        let m = crate::interop::a2a::manifest_from_card(card, id.id(), issued_at)
            .context("cannot import the A2A agent card")?;
        let file = CardFile {
            name: Some(m.name),
            description: Some(m.description),
            skills: Some(m.skills),
            tags: Some(m.tags),
            protocols: Some(m.protocols),
            endpoint: m.endpoint,
            meta: m.meta,
            ..CardFile::default()
        };
        return manifest_from(id, args, issued_at, file, base);
    }
    let file = match &args.file {
        Some(p) => load_card_file(p)?,
        None => CardFile::default(),
    };
    manifest_from(id, args, issued_at, file, base)
}

/// `base` (or a new card) with `file`'s fields and then the flags over it.
fn manifest_from(
    id: &Identity,
    args: &Args,
    issued_at: i64,
    file: CardFile,
    base: Option<&Manifest>,
) -> anyhow::Result<Manifest> {
    let mut m = match base.filter(|_| !args.replace) {
        Some(b) => Manifest {
            schema: crate::card::SCHEMA.into(),
            agent_id: id.id().into(),
            issued_at: format_rfc3339(issued_at),
            revoked: false,
            ..b.clone()
        },
        None => {
            let Some(name) = args.name.clone().or(file.name.clone()) else {
                bail!("a card needs a name: pass --name or set `name` in --file");
            };
            Manifest::new(id.id(), &name, issued_at)
        }
    };
    for field in &args.unset {
        unset(&mut m, field);
    }
    if let Some(name) = args.name.clone().or(file.name) {
        m.name = name;
    }
    if let Some(d) = args.description.clone().or(file.description) {
        m.description = d;
    }
    if let Some(skills) = file.skills {
        m.skills = skills;
    }
    for s in &args.skills {
        if !m.skills.iter().any(|k| &k.id == s) {
            m.skills.push(Skill {
                id: s.clone(),
                ..Skill::default()
            });
        }
    }
    m.tags = merge(file.tags.unwrap_or(std::mem::take(&mut m.tags)), &args.tags);
    m.protocols = merge(
        file.protocols.unwrap_or(std::mem::take(&mut m.protocols)),
        &args.protocols,
    );
    m.relays = merge(
        file.relays.unwrap_or(std::mem::take(&mut m.relays)),
        &args.relays,
    );
    if let Some(e) = args.endpoint.clone().or(file.endpoint) {
        m.endpoint = Some(e);
    }
    if m.endpoint.is_none() {
        bail!("a card needs an endpoint: pass --endpoint http://host:port (or relay://<agent_id>)");
    }
    if let Some(v) = args.vector_desc.clone().or(file.vector_desc) {
        m.vector_desc = Some(v);
    }
    if let Some(q) = args.qps_budget.or(file.qps_budget) {
        m.qps_budget = Some(q);
    }
    if let Some(c) = args.concurrency_limit.or(file.concurrency_limit) {
        m.concurrency_limit = Some(c);
    }
    let ttl = match (args.ttl, file.ttl) {
        (Some(t), _) => Some(t),
        (None, Some(t)) => Some(
            humantime::parse_duration(&t)
                .with_context(|| format!("invalid ttl `{t}` in card file"))?,
        ),
        (None, None) => None,
    };
    match (ttl, file.expires_at) {
        (Some(t), _) => {
            m.expires_at = Some(format_rfc3339(
                issued_at + i64::try_from(t.as_secs()).unwrap_or(i64::MAX / 2),
            ));
        }
        (None, Some(e)) => {
            if parse_rfc3339(&e).is_none() {
                bail!(
                    "expires_at `{e}` in card file is not an RFC 3339 UTC time like 2026-11-24T21:00:00Z"
                );
            }
            m.expires_at = Some(e);
        }
        (None, None) => {
            if let Some(e) = m
                .expires_at
                .as_deref()
                .filter(|e| parse_rfc3339(e).is_some_and(|at| at <= issued_at))
            {
                bail!(
                    "the current card expired at {e}: pass --ttl DURATION for a new lifetime, or --unset expires_at"
                );
            }
        }
    }
    let mut meta = file.meta.or(m.meta.take()).unwrap_or_default();
    for kv in &args.meta {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--meta takes KEY=VALUE, got `{kv}`");
        };
        meta.insert(k.to_string(), Value::String(v.to_string()));
    }
    m.meta = (!meta.is_empty()).then_some(meta);
    Ok(m)
}

/// Clears `field` (one of [`UNSETTABLE`]).
fn unset(m: &mut Manifest, field: &str) {
    match field {
        "description" => m.description.clear(),
        "skills" => m.skills.clear(),
        "tags" => m.tags.clear(),
        "protocols" => m.protocols.clear(),
        "relays" => m.relays.clear(),
        "vector_desc" => m.vector_desc = None,
        "qps_budget" => m.qps_budget = None,
        "concurrency_limit" => m.concurrency_limit = None,
        "expires_at" => m.expires_at = None,
        "meta" => m.meta = None,
        _ => {}
    }
}

/// What changed from `before` to `after`, a line per field (`issued_at` left out): lists as
/// `+added −removed`, the rest as `old → new`.
pub(super) fn changes(before: &Manifest, after: &Manifest) -> Vec<String> {
    let (b, a) = (before.to_value(), after.to_value());
    let (Some(b), Some(a)) = (b.as_object(), a.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&Value>| match v {
        None => "(none)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 60 {
                format!("{}…", s.chars().take(59).collect::<String>())
            } else {
                s
            }
        }
    };
    let strings = |v: Option<&Value>| -> Option<Vec<String>> {
        match v {
            None => Some(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => None,
        }
    };
    let mut out = Vec::new();
    for k in keys.into_iter().filter(|k| *k != "issued_at") {
        let (old, new) = (b.get(k), a.get(k));
        if old == new {
            continue;
        }
        match (strings(old), strings(new)) {
            (Some(o), Some(n)) => {
                let added: Vec<&str> = n
                    .iter()
                    .filter(|x| !o.contains(x))
                    .map(String::as_str)
                    .collect();
                let removed: Vec<&str> = o
                    .iter()
                    .filter(|x| !n.contains(x))
                    .map(String::as_str)
                    .collect();
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!("+{}", added.join(" +")));
                }
                if !removed.is_empty() {
                    parts.push(format!("−{}", removed.join(" −")));
                }
                if parts.is_empty() {
                    parts.push("reordered".into());
                }
                out.push(format!("{k}: {}", parts.join(" ")));
            }
            _ => out.push(format!("{k}: {} → {}", show(old), show(new))),
        }
    }
    out
}

fn merge(mut base: Vec<String>, extra: &[String]) -> Vec<String> {
    for e in extra {
        if !base.contains(e) {
            base.push(e.clone());
        }
    }
    base
}

/// Picks `issued_at` for a version that must be newer than `after` (the latest this key is
/// known to have signed): now — after waiting for the clock to pass `after` when that is this
/// second or the next (versions are ordered by whole seconds) — so quick updates never date a
/// card ahead of the clock. A version already dated further ahead (by an older client) can only
/// be followed by one second past it.
pub(super) async fn next_issued_at(after: Option<i64>) -> i64 {
    let Some(after) = after else {
        return now_unix();
    };
    if after - now_unix() > 1 {
        return (after + 1).min(now_unix() + MAX_FUTURE_SKEW_S);
    }
    loop {
        let now = now_unix();
        if now > after {
            return now;
        }
        let into_second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_millis())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(u64::from(1000 - into_second) + 5)).await;
    }
}

/// What the node holds of a key's card.
pub(super) enum Current {
    /// A live card.
    Live(Box<Manifest>),
    /// A tombstone.
    Revoked,
    /// A card past its `expires_at`.
    Expired,
    /// Nothing (never registered here).
    Missing,
}

impl Current {
    /// What the node at `client` holds of `id`'s card.
    pub(super) async fn of(client: &Client, id: &str) -> Result<Self, ClientError> {
        match client.get_agent(id).await {
            Ok(env) => {
                env.fields()
                    .map(|m| Self::Live(Box::new(m)))
                    .map_err(|e| ClientError::Decode {
                        url: format!("{}/v1/agents/{id}", client.base()),
                        reason: format!("the node's copy of the card does not read as a card: {e}"),
                    })
            }
            Err(ClientError::Api {
                status: 410, code, ..
            }) if code == "revoked" => Ok(Self::Revoked),
            Err(ClientError::Api { status: 410, .. }) => Ok(Self::Expired),
            Err(ClientError::Api { status: 404, .. }) => Ok(Self::Missing),
            Err(e) => Err(e),
        }
    }

    /// The live card, if any.
    pub(super) fn live(self) -> Option<Manifest> {
        match self {
            Self::Live(m) => Some(*m),
            _ => None,
        }
    }
}

/// What the node holds of `id`'s card.
pub(super) async fn current_card(client: &Client, id: &str) -> anyhow::Result<Current> {
    Current::of(client, id)
        .await
        .context("cannot read the current card from the node")
}

/// What this machine remembers of the cards a key published: the latest `issued_at` it signed
/// (tombstones included) and its latest live card, in `<home>/cards/<agent_id>.json`.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
pub(super) struct Published {
    /// The newest `issued_at` published.
    pub last_issued_at: i64,
    /// The newest live card published.
    pub live: Option<Manifest>,
}

impl Published {
    /// What an edit starts from — the node's live card, else the last live one this key
    /// published — and the `issued_at` the next version must pass (`None`: any).
    pub(super) fn edit_base(self, live: Option<Manifest>) -> (Option<Manifest>, Option<i64>) {
        let after = live
            .as_ref()
            .and_then(|m| parse_rfc3339(&m.issued_at))
            .max(Some(self.last_issued_at).filter(|t| *t > 0));
        (live.or(self.live), after)
    }

    fn path(ctx: &Ctx, agent_id: &str) -> PathBuf {
        // did:key:z… has a colon, which some file systems refuse.
        ctx.paths
            .cards_dir
            .join(format!("{}.json", agent_id.replace(':', "_")))
    }

    /// What is remembered of `agent_id` (nothing when the file is missing or unreadable).
    pub(super) fn load(ctx: &Ctx, agent_id: &str) -> Self {
        std::fs::read(Self::path(ctx, agent_id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Remembers `manifest` as published (written to a temporary file and renamed, so a crash
    /// leaves the old record or the new one). A failure is a warning: the card is published.
    pub(super) fn record(ctx: &Ctx, manifest: &Manifest) {
        let mut p = Self::load(ctx, &manifest.agent_id);
        p.last_issued_at = p
            .last_issued_at
            .max(parse_rfc3339(&manifest.issued_at).unwrap_or(0));
        if !manifest.revoked {
            p.live = Some(manifest.clone());
        }
        let path = Self::path(ctx, &manifest.agent_id);
        let tmp = path.with_extension("json.tmp");
        let written = std::fs::create_dir_all(&ctx.paths.cards_dir)
            .and_then(|()| std::fs::write(&tmp, serde_json::to_vec_pretty(&p).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot remember the published card");
        }
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

/// The keys `--a2a-key` names, by `kid`: did:keys, and the Ed25519 keys of JWK / JWKS files
/// (by their `kid`, else their JWK thumbprint).
fn a2a_keys(specs: &[String]) -> anyhow::Result<Vec<(String, ed25519_dalek::VerifyingKey)>> {
    let mut keys = Vec::new();
    for spec in specs {
        if let Ok(key) = crate::identity::public_from_did(spec) {
            keys.push((spec.clone(), key));
            continue;
        }
        let text = std::fs::read_to_string(spec).with_context(|| {
            format!("--a2a-key `{spec}` is neither a did:key nor a readable JWK/JWKS file")
        })?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("--a2a-key {spec} is not JSON"))?;
        let list = v["keys"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![v.clone()]);
        for jwk in list {
            if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
                continue;
            }
            let x = jwk["x"].as_str().unwrap_or_default();
            let bytes: [u8; 32] = crate::encoding::b64url_decode(x)
                .ok()
                .and_then(|b| b.try_into().ok())
                .with_context(|| format!("--a2a-key {spec}: `x` is not 32 bytes of base64url"))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .with_context(|| format!("--a2a-key {spec}: not an Ed25519 public key"))?;
            let kid = jwk["kid"]
                .as_str()
                .map_or_else(|| crate::httpsig::jwk_thumbprint(&bytes), str::to_string);
            keys.push((kid, key));
        }
    }
    Ok(keys)
}

/// Checks the `signatures` of an A2A card before importing it: a bad one refuses the card; one
/// whose key is unknown is reported (a `jku` in the card never chooses its own trust root).
fn check_a2a_signatures(
    ctx: &Ctx,
    card: &Value,
    specs: &[String],
    src: &str,
) -> anyhow::Result<()> {
    use crate::interop::a2a_sign::{Check, check};
    let trusted = a2a_keys(specs)?;
    for c in check(card, &trusted) {
        match c {
            Check::Valid { kid } => {
                if !ctx.quiet {
                    eprintln!("verified the A2A card's signature by {kid}");
                }
            }
            Check::Invalid { kid, why } => bail!(
                "the A2A card at {src} carries a signature{} that does not verify: {why}; refusing to import it",
                if kid.is_empty() {
                    String::new()
                } else {
                    format!(" by {kid}")
                }
            ),
            Check::Unverifiable { kid } => {
                if !ctx.quiet {
                    eprintln!(
                        "warning: the A2A card's signature by `{kid}` was not checked: no key for it (pass --a2a-key with a did:key or a JWKS file; a jku in the card is never followed)"
                    );
                }
            }
        }
    }
    Ok(())
}

pub(super) fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Outcome> {
    let (id, _) = ctx.load_key(&ctx.key)?;
    let client = ctx.client(args.timeout)?;
    runtime()?.block_on(async {
        if let Some(src) = &args.from_a2a {
            let mut card = load_a2a_card(src, args.timeout).await?;
            check_a2a_signatures(ctx, &card, &args.a2a_key, src)?;
            // Its signatures signed the card as it was; they go with it, not into meta.a2a.
            if let Some(m) = card.as_object_mut() {
                m.remove("signatures");
            }
            args.imported = Some(card);
        }
        let current = if args.dry_run && args.replace {
            Current::Missing
        } else {
            match current_card(&client, id.id()).await {
                Ok(c) => c,
                // A dry run works offline, from the last card this key published.
                Err(e) if args.dry_run => {
                    tracing::info!(error = %format!("{e:#}"), "dry run without the node's card");
                    Current::Missing
                }
                Err(e) => return Err(e),
            }
        };
        let published = Published::load(ctx, id.id());
        if args.revoke && matches!(current, Current::Revoked) {
            if ctx.json {
                out_json(&serde_json::json!({"agent_id": id.id(), "status": "already_revoked"}))?;
            } else {
                out(format!("already revoked: {} on {}", id.id(), client.base()))?;
            }
            return Ok(Outcome::Success);
        }
        if !args.revoke && matches!(current, Current::Revoked) && !ctx.quiet {
            eprintln!(
                "note: {} was revoked on {}; publishing a newer card re-activates it",
                id.id(),
                client.base()
            );
        }
        // An edit starts from the node's card, else from the last live one this key published.
        let (base, after) = published.edit_base(current.live());
        let issued_at = if args.dry_run {
            now_unix().max(after.map_or(0, |t| t + 1))
        } else {
            next_issued_at(after).await
        };
        let manifest = if args.revoke {
            let name = base
                .as_ref()
                .map_or_else(|| ctx.key.clone(), |m| m.name.clone());
            let mut m = Manifest::new(id.id(), &name, issued_at);
            m.revoked = true;
            m
        } else {
            build_manifest(&id, &args, issued_at, base.as_ref())?
        };
        let edits = match (&base, args.revoke || args.replace) {
            (Some(b), false) => Some(changes(b, &manifest)),
            _ => None,
        };
        let name = manifest.name.clone();
        let mut manifest = manifest;
        if !manifest.revoked {
            sign_key_directory(&mut manifest, &id, &ctx.node);
        }
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
        let res = client.register(&envelope).await.map_err(|e| {
            e.refusing(|| format!("the node at {} refused the card", client.base()))
        })?;
        Published::record(ctx, &manifest);
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
            match edits {
                Some(lines) if lines.is_empty() => out("  no field changed (issued_at renewed)")?,
                Some(lines) => {
                    for l in lines {
                        out(format!("  {l}"))?;
                    }
                }
                None => {}
            }
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
        let m = build_manifest(&id, &args, 1_000_000, None).expect("build");
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
        let e = build_manifest(&id, &Args::default(), 1, None).expect_err("no name");
        assert!(e.to_string().contains("--name"));
        let args = Args {
            name: Some("x".into()),
            ..Args::default()
        };
        let e = build_manifest(&id, &args, 1, None).expect_err("no endpoint");
        assert!(e.to_string().contains("--endpoint"));
    }

    fn current(id: &Identity) -> Manifest {
        let mut m = Manifest::new(id.id(), "weather", 1_000);
        m.description = "Forecasts".into();
        m.endpoint = Some("http://127.0.0.1:8080".into());
        m.tags = vec!["weather".into(), "forecast".into()];
        m.protocols = vec!["http".into()];
        m.skills = vec![Skill {
            id: "forecast".into(),
            ..Skill::default()
        }];
        m.qps_budget = Some(5.0);
        m.expires_at = Some(format_rfc3339(10_000_000));
        m.meta = Some(serde_json::Map::from_iter([("owner".into(), "me".into())]));
        m.extra.insert("x_future".into(), serde_json::json!(1));
        m
    }

    #[test]
    fn an_edit_changes_only_what_flags_say() {
        let id = Identity::generate();
        let base = current(&id);
        let args = Args {
            description: Some("Forecasts and warnings".into()),
            tags: vec!["storms".into()],
            ..Args::default()
        };
        let m = build_manifest(&id, &args, 2_000, Some(&base)).expect("edit");
        let mut want = base.clone();
        want.description = "Forecasts and warnings".into();
        want.tags.push("storms".into());
        want.issued_at = format_rfc3339(2_000);
        assert_eq!(m, want, "everything else, unknown fields included, is kept");
        assert_eq!(
            changes(&base, &m),
            vec![
                "description: \"Forecasts\" → \"Forecasts and warnings\"",
                "tags: +storms"
            ]
        );
        // A name alone is enough: the card need not be restated.
        let rename = Args {
            name: Some("weather-eu".into()),
            ..Args::default()
        };
        let m = build_manifest(&id, &rename, 2_000, Some(&base)).expect("rename");
        assert_eq!(m.name, "weather-eu");
        assert_eq!(m.skills, base.skills);
        assert_eq!(m.qps_budget, Some(5.0));
    }

    #[test]
    fn unset_clears_and_replace_starts_over() {
        let id = Identity::generate();
        let base = current(&id);
        let args = Args {
            unset: vec!["tags".into(), "qps_budget".into(), "meta".into()],
            ..Args::default()
        };
        let m = build_manifest(&id, &args, 2_000, Some(&base)).expect("unset");
        assert!(m.tags.is_empty() && m.qps_budget.is_none() && m.meta.is_none());
        assert_eq!(m.description, base.description);
        let lines = changes(&base, &m);
        assert!(
            lines.contains(&"tags: −weather −forecast".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"qps_budget: 5.0 → (none)".to_string()),
            "{lines:?}"
        );
        let fresh = Args {
            replace: true,
            name: Some("new".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            ..Args::default()
        };
        let m = build_manifest(&id, &fresh, 2_000, Some(&base)).expect("replace");
        assert_eq!(m, {
            let mut n = Manifest::new(id.id(), "new", 2_000);
            n.endpoint = Some("http://127.0.0.1:9".into());
            n
        });
        // An expired current card needs a new lifetime.
        let mut old = base.clone();
        old.expires_at = Some(format_rfc3339(1_500));
        let e = build_manifest(&id, &Args::default(), 2_000, Some(&old)).expect_err("expired");
        assert!(e.to_string().contains("--ttl"), "{e}");
    }

    #[tokio::test]
    async fn issued_at_never_runs_ahead_of_the_clock() {
        let now = now_unix();
        assert_eq!(next_issued_at(None).await, now_unix().max(now));
        // A version dated this second: the next waits for the clock instead of running ahead.
        let at = next_issued_at(Some(now)).await;
        assert!(at > now && at <= now_unix(), "{at} vs {now}");
        // One dated far ahead (an older client) can only be followed by one second past it.
        assert_eq!(next_issued_at(Some(now + 100)).await, now + 101);
    }
}
