//! `agentmesh invoke`: a signed call to an agent, through the node's gateway by default or
//! straight to its endpoint with `--direct`; verifies a signed response.

mod interop;

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::{Ctx, Outcome, out_json, runtime};
use crate::interop::SignedCaller;

/// `invoke` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent: a did:key, @keyname, a card name, or the short form tables print.
    #[arg(value_name = "AGENT", add = clap_complete::ArgValueCompleter::new(super::complete::agents))]
    pub agent_id: String,
    /// Request body: inline text, @FILE, or - for stdin.
    #[arg(long, short = 'd', value_name = "DATA")]
    pub data: Option<String>,
    /// Path (and query) on the agent, e.g. /forecast?days=2.
    #[arg(long, default_value = "/", value_name = "PATH")]
    pub path: String,
    /// HTTP method (default: POST with --data, GET without).
    #[arg(long, short = 'X', value_name = "METHOD")]
    pub method: Option<String>,
    /// Extra header "Name: value" (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// How long to wait for the answer.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Call the agent's endpoint directly instead of through the node's gateway.
    #[arg(long)]
    pub direct: bool,
    /// Also sign as Web Bot Auth asks (for calling websites), naming this key's directory on
    /// the node in Signature-Agent.
    #[arg(long, requires = "direct")]
    pub web_bot_auth: bool,
    /// Speak MCP (Streamable HTTP): tools/list, tools/call, or any other method.
    #[arg(long, value_name = "METHOD", conflicts_with_all = ["data", "method", "a2a"])]
    pub mcp: Option<String>,
    /// The tool for `--mcp tools/call`.
    #[arg(long, value_name = "NAME", requires = "mcp")]
    pub tool: Option<String>,
    /// JSON arguments of the tool (`--mcp tools/call`) or params of another MCP method.
    #[arg(long, value_name = "JSON", requires = "mcp")]
    pub args: Option<String>,
    /// Speak A2A: send TEXT as a user message and print the reply and task state.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["data", "method"])]
    pub a2a: Option<String>,
    /// A2A methods to use: 1.0 (SendMessage), 0.3 (message/send), or auto (1.0, then 0.3).
    #[arg(long, value_name = "VERSION", default_value = "auto", value_parser = ["auto", "1.0", "0.3"], requires = "a2a")]
    pub a2a_version: String,
}

fn read_data(data: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match data {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read the body from stdin")?;
            Ok(buf)
        }
        Some(d) if d.starts_with('@') => {
            std::fs::read(&d[1..]).with_context(|| format!("cannot read body file {}", &d[1..]))
        }
        Some(d) => Ok(d.as_bytes().to_vec()),
    }
}

pub(super) fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Outcome> {
    if !args.path.starts_with('/') {
        bail!("--path must start with / (got `{}`)", args.path);
    }
    let mut extra = Vec::new();
    for h in &args.headers {
        let Some((k, v)) = h.split_once(':') else {
            bail!("--header takes \"Name: value\", got `{h}`");
        };
        extra.push((k.trim().to_string(), v.trim().to_string()));
    }
    let client = ctx.client(args.timeout)?;
    args.agent_id = runtime()?.block_on(ctx.resolve_agent(&client, &args.agent_id))?;
    if args.mcp.is_some() || args.a2a.is_some() {
        return interop::run(ctx, &args, extra);
    }
    let body = read_data(args.data.as_deref())?;
    let method = args
        .method
        .clone()
        .unwrap_or_else(|| if args.data.is_some() { "POST" } else { "GET" }.into())
        .to_ascii_uppercase();
    if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
        bail!("invalid method `{method}`");
    }
    if !body.is_empty()
        && !extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        extra.insert(0, ("content-type".into(), "application/json".into()));
    }
    let (id, _) = ctx.load_key(&ctx.key)?;
    let (answer, base) = runtime()?.block_on(async {
        let (base, endpoint) = interop::base_url(&args, &client).await?;
        let directory = args.web_bot_auth.then(|| {
            format!(
                "{}/v1/agents/{}/http-message-signatures-directory",
                client.base(),
                id.id()
            )
        });
        let caller = SignedCaller::new(client.http().clone(), id, &args.agent_id, &base)
            .with_headers(extra)
            .with_agent_endpoint(endpoint)
            .with_web_bot_auth(directory);
        anyhow::Ok((caller.send(&method, &args.path, &[], body).await?, base))
    })?;
    let (status, headers, bytes, verified) =
        (answer.status, answer.headers, answer.body, answer.verified);
    let body_json: Option<Value> = serde_json::from_slice(&bytes).ok();
    // A refusal by the node (the gateway's own error, not the agent's answer): one line.
    let refusal = (status >= 400 && !args.direct)
        .then(|| serde_json::from_slice::<crate::wire::ErrorBody>(&bytes).ok())
        .flatten()
        .filter(|_| verified.is_none());
    if let (Some(e), false) = (&refusal, ctx.json) {
        if !ctx.quiet {
            eprintln!(
                "error: the node at {} refused the call to {}: HTTP {status} {}: {}",
                client.base(),
                args.agent_id,
                e.error.code,
                e.error.message
            );
        }
        return Ok(Outcome::Negative);
    }
    if ctx.json {
        let hdrs: Map<String, Value> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), Value::String(v.to_str().ok()?.to_string()))))
            .collect();
        out_json(&json!({
            "status": status,
            "headers": hdrs,
            "body": body_json.clone().unwrap_or_else(|| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
            "response_verified": verified,
        }))?;
    } else {
        let mut stdout = std::io::stdout().lock();
        match (&body_json, std::io::stdout().is_terminal()) {
            (Some(v), true) => writeln!(stdout, "{}", serde_json::to_string_pretty(v)?)?,
            _ => {
                stdout.write_all(&bytes)?;
                // A JSON answer ends its line; other bytes are passed on exactly.
                if (std::io::stdout().is_terminal() || body_json.is_some())
                    && !bytes.is_empty()
                    && !bytes.ends_with(b"\n")
                {
                    writeln!(stdout)?;
                }
            }
        }
    }
    // A signed answer is always reported: it is how a caller knows no relay altered it.
    if !ctx.quiet && (status >= 400 || ctx.verbose || verified.is_some()) {
        let sig = match verified {
            Some(true) => "response signature verified",
            Some(false) => "RESPONSE SIGNATURE INVALID",
            None => "response not signed",
        };
        let from = crate::encoding::join_endpoint(&base, &args.path);
        eprintln!("HTTP {status} from {from} · {sig}");
    }
    if verified == Some(false) {
        bail!("the response signature does not verify: the answer may have been altered");
    }
    Ok(if (200..300).contains(&status) {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}
