//! `invoke --mcp` and `invoke --a2a`: MCP and A2A calls over signed requests, through the
//! node's gateway (or `--direct` to the agent's endpoint).

use std::io::IsTerminal as _;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::Args;
use crate::cli::{Ctx, Outcome, out, out_json, print_rows, runtime};
use crate::interop::SignedCaller;
use crate::interop::a2a::{self, Version};
use crate::interop::mcp::{McpSession, content_text};

/// The base URL calls go to: the gateway, or the agent's own http(s) endpoint with `--direct`;
/// and, through the gateway, the agent's endpoint (for the signature the agent checks), when
/// its card can be read.
pub(super) async fn base_url(
    args: &Args,
    client: &crate::client::Client,
) -> anyhow::Result<(String, Option<String>)> {
    if !args.direct {
        let endpoint = match client.get_agent(&args.agent_id).await {
            Ok(card) => card.fields().ok().and_then(|f| f.endpoint),
            // The gateway will say what is wrong with the agent.
            Err(_) => None,
        };
        return Ok((
            format!("{}/v1/agents/{}/invoke", client.base(), args.agent_id),
            endpoint,
        ));
    }
    let card = client
        .get_agent(&args.agent_id)
        .await
        .context("cannot look the agent's card up")?;
    let endpoint = card.fields()?.endpoint.unwrap_or_default();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        bail!("--direct needs an http(s) endpoint; this agent's is `{endpoint}`");
    }
    Ok((endpoint.to_string(), None))
}

fn parse_json_arg(flag: &str, text: Option<&str>) -> anyhow::Result<Option<Value>> {
    text.map(|t| {
        serde_json::from_str(t)
            .with_context(|| format!("{flag} must be JSON, e.g. '{{\"city\":\"Paris\"}}'"))
    })
    .transpose()
}

pub(super) fn run(
    ctx: &Ctx,
    args: &Args,
    headers: Vec<(String, String)>,
) -> anyhow::Result<Outcome> {
    let (id, _) = ctx.load_key(&ctx.key)?;
    let client = ctx.client(args.timeout)?;
    let http = client.http().clone();
    runtime()?.block_on(async {
        let (base, endpoint) = base_url(args, &client).await?;
        let caller = SignedCaller::new(http, id, &args.agent_id, &base)
            .with_headers(headers)
            .with_agent_endpoint(endpoint);
        let outcome = match (&args.mcp, &args.a2a) {
            (Some(method), _) => mcp(ctx, args, caller.clone(), method).await?,
            (None, Some(text)) => a2a_call(ctx, args, &caller, text).await?,
            (None, None) => unreachable!("run is called with --mcp or --a2a"),
        };
        if !ctx.quiet && ctx.verbose {
            eprintln!(
                "{}",
                match caller.verified() {
                    Some(true) => "response signatures verified",
                    Some(false) => "A RESPONSE SIGNATURE DID NOT VERIFY",
                    None => "responses not signed",
                }
            );
        }
        Ok(outcome)
    })
}

async fn mcp(
    ctx: &Ctx,
    args: &Args,
    caller: SignedCaller,
    method: &str,
) -> anyhow::Result<Outcome> {
    let params = parse_json_arg("--args", args.args.as_deref())?;
    if method == "tools/call" && args.tool.is_none() {
        bail!("--mcp tools/call needs --tool NAME (see --mcp tools/list)");
    }
    let mut session = McpSession::open(caller, &args.path)
        .await
        .context("the MCP handshake (initialize) failed")?;
    let result = match method {
        "tools/list" => session.list_tools().await.map(|t| json!({"tools": t})),
        "tools/call" => {
            let tool = args.tool.as_deref().unwrap_or_default();
            session
                .call_tool(tool, params.unwrap_or_else(|| json!({})))
                .await
        }
        other => session.request(other, params).await,
    };
    session.close().await;
    let result = result?;
    if ctx.json {
        out_json(&result)?;
        return Ok(if result["isError"] == true {
            Outcome::Negative
        } else {
            Outcome::Success
        });
    }
    match method {
        "tools/list" => print_tools(&result["tools"])?,
        "tools/call" => {
            out(content_text(&result))?;
            if result["isError"] == true {
                if !ctx.quiet {
                    eprintln!("the tool reported an error");
                }
                return Ok(Outcome::Negative);
            }
        }
        _ => out(serde_json::to_string_pretty(&result)?)?,
    }
    Ok(Outcome::Success)
}

fn print_tools(tools: &Value) -> anyhow::Result<()> {
    let rows: Vec<[String; 3]> = tools
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let required: Vec<&str> = t["inputSchema"]["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let params: Vec<String> = t["inputSchema"]["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let ty = v["type"].as_str().unwrap_or("any");
                    let opt = if required.contains(&k.as_str()) {
                        ""
                    } else {
                        "?"
                    };
                    format!("{k}{opt}: {ty}")
                })
                .collect();
            [
                t["name"].as_str().unwrap_or("").to_string(),
                params.join(", "),
                t["description"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ]
        })
        .collect();
    print_rows(
        ["TOOL", "ARGUMENTS", "DESCRIPTION"],
        &rows,
        std::io::stdout().is_terminal(),
    )
}

async fn a2a_call(
    ctx: &Ctx,
    args: &Args,
    caller: &SignedCaller,
    text: &str,
) -> anyhow::Result<Outcome> {
    let version = match args.a2a_version.as_str() {
        "1.0" => Version::V1,
        "0.3" => Version::V03,
        _ => Version::Auto,
    };
    let reply = a2a::send_message(caller, &args.path, text, version).await?;
    if ctx.json {
        out_json(&json!({"method": reply.method, "state": reply.state, "result": reply.raw}))?;
    } else {
        out(&reply.text)?;
        if let Some(state) = &reply.state
            && !ctx.quiet
        {
            eprintln!("task {state}");
        }
    }
    Ok(match reply.state.as_deref() {
        Some("failed" | "rejected" | "canceled" | "auth-required") => Outcome::Negative,
        _ => Outcome::Success,
    })
}
