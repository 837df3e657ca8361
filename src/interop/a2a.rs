//! A2A: Agent Cards in and out of AgentMesh manifests, and the JSON-RPC send-message call.
//!
//! Cards come in two shapes in the wild: A2A 1.0 (`supportedInterfaces[{url, protocolBinding,
//! protocolVersion}]`) and 0.2/0.3 (top-level `url`, `preferredTransport`, `protocolVersion`,
//! `additionalInterfaces[{url, transport}]`). Both are read the way a2a-sdk's own client reads
//! them: `supportedInterfaces` wins; otherwise the top-level URL and the additional ones, JSON-RPC
//! and version 0.3 assumed where unsaid. Fields AgentMesh has no place for are kept under
//! `meta.a2a`, so the card served back (`GET /v1/agents/{id}/agent-card.json`) carries them.

use serde_json::{Map, Value, json};

use super::{InteropError, SignedCaller, find_rpc_answer};
use crate::card::{MAX_META_BYTES, Manifest, Skill};

/// Why an A2A card could not become a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a JSON object.
    #[error("an A2A agent card must be a JSON object")]
    NotObject,
    /// A required field is missing or has the wrong type.
    #[error("A2A card: `{field}` {reason}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn field(field: impl Into<String>, reason: impl Into<String>) -> ImportError {
    ImportError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// One way to reach an agent, as a card lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Where.
    pub url: String,
    /// `JSONRPC`, `GRPC`, `HTTP+JSON` (upper-cased).
    pub binding: String,
    /// `1.0`, `0.3`, … (empty when the card does not say).
    pub version: String,
}

impl Interface {
    fn to_json(&self) -> Value {
        json!({"url": self.url, "protocolBinding": self.binding, "protocolVersion": self.version})
    }

    /// Whether this interface speaks A2A 1.x (else the 0.x JSON-RPC methods are used).
    pub fn is_v1(&self) -> bool {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0)
            >= 1
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty())
}

/// The card's interfaces, in its order of preference.
pub fn interfaces(card: &Value) -> Vec<Interface> {
    let of = |i: &Value, default_version: &str| -> Option<Interface> {
        Some(Interface {
            url: s(i, "url")?.to_string(),
            binding: s(i, "protocolBinding")
                .or_else(|| s(i, "transport"))
                .unwrap_or("JSONRPC")
                .to_ascii_uppercase(),
            version: s(i, "protocolVersion")
                .unwrap_or(default_version)
                .to_string(),
        })
    };
    if let Some(list) = card.get("supportedInterfaces").and_then(Value::as_array)
        && !list.is_empty()
    {
        let top = s(card, "protocolVersion").unwrap_or("");
        return list.iter().filter_map(|i| of(i, top)).collect();
    }
    let version = s(card, "protocolVersion").unwrap_or("0.3.0");
    let mut out = Vec::new();
    if let Some(url) = s(card, "url") {
        out.push(Interface {
            url: url.to_string(),
            binding: s(card, "preferredTransport")
                .unwrap_or("JSONRPC")
                .to_ascii_uppercase(),
            version: version.to_string(),
        });
    }
    for i in card
        .get("additionalInterfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(i) = of(i, version)
            && !out.contains(&i)
        {
            out.push(i);
        }
    }
    out
}

/// The interface AgentMesh calls: JSON-RPC over http(s), the newest version first; else the
/// first http(s) one.
pub fn pick_interface(card: &Value) -> Option<Interface> {
    let all: Vec<Interface> = interfaces(card)
        .into_iter()
        .filter(|i| i.url.starts_with("http://") || i.url.starts_with("https://"))
        .collect();
    // The card's own order breaks ties: the first JSON-RPC 1.x interface, else the first
    // JSON-RPC one, else the first at all.
    all.iter()
        .find(|i| i.binding == "JSONRPC" && i.is_v1())
        .or_else(|| all.iter().find(|i| i.binding == "JSONRPC"))
        .or_else(|| all.first())
        .cloned()
}

/// Skills imported at most (the card's limit).
const MAX_SKILLS: usize = 64;
/// Tags kept per skill, examples per skill, characters of a skill's description or example:
/// an A2A card has no such limits, an AgentMesh card has a size limit.
const MAX_SKILL_TAGS: usize = 16;
const MAX_EXAMPLES: usize = 8;
const MAX_SKILL_TEXT: usize = 1000;
/// Room left in the envelope (64 KiB) for `meta`, the signature and what flags add.
const MAX_MANIFEST_BYTES: usize = 40 * 1024;

/// Keys of a card that map onto manifest fields (everything else goes to `meta.a2a`).
const MAPPED: &[&str] = &[
    "name",
    "description",
    "skills",
    "url",
    "preferredTransport",
    "additionalInterfaces",
    "supportedInterfaces",
    "protocolVersion",
];

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A manifest for `agent_id` from an A2A card, issued at `issued_at`: name, description, skills
/// (and their tags as the card's tags), `a2a` as protocol, the chosen interface as endpoint;
/// the rest under `meta.a2a` (largest fields dropped, and named, if over the meta limit).
pub fn manifest_from_card(
    card: &Value,
    agent_id: &str,
    issued_at: i64,
) -> Result<Manifest, ImportError> {
    let obj = card.as_object().ok_or(ImportError::NotObject)?;
    let name = s(card, "name").ok_or_else(|| field("name", "is missing"))?;
    let iface = pick_interface(card).ok_or_else(|| {
        field(
            "supportedInterfaces",
            "lists no http(s) interface (nor a top-level `url`): nowhere to call the agent",
        )
    })?;
    let mut m = Manifest::new(agent_id, &cut(name, 64), issued_at);
    m.description = cut(
        s(card, "description").unwrap_or(""),
        crate::card::MAX_TEXT_CHARS,
    );
    let mut a2a = Map::new();
    if name.chars().count() > 64 {
        a2a.insert("name".into(), json!(name));
    }
    let mut skill_extras = Map::new();
    let skills = card.get("skills").and_then(Value::as_array);
    for (i, sk) in skills.into_iter().flatten().enumerate() {
        if m.skills.len() == MAX_SKILLS {
            a2a.insert(
                "skills_dropped".into(),
                json!(skills.map_or(0, Vec::len) - MAX_SKILLS),
            );
            break;
        }
        let id = s(sk, "id").ok_or_else(|| field(format!("skills[{i}].id"), "is missing"))?;
        if id.chars().count() > 64 {
            return Err(field(
                format!("skills[{i}].id"),
                format!(
                    "is {} characters; AgentMesh skill IDs are 1–64",
                    id.chars().count()
                ),
            ));
        }
        let tags: Vec<String> = strings(sk.get("tags"))
            .into_iter()
            .filter(|t| (1..=64).contains(&t.chars().count()))
            .take(MAX_SKILL_TAGS)
            .collect();
        for t in &tags {
            if m.tags.len() < 32 && (1..=64).contains(&t.chars().count()) && !m.tags.contains(t) {
                m.tags.push(t.clone());
            }
        }
        m.skills.push(Skill {
            id: id.to_string(),
            name: s(sk, "name").map(|n| cut(n, 200)),
            description: s(sk, "description").map(|d| cut(d, MAX_SKILL_TEXT)),
            tags,
            examples: strings(sk.get("examples"))
                .into_iter()
                .take(MAX_EXAMPLES)
                .map(|e| cut(&e, MAX_SKILL_TEXT))
                .collect(),
            ..Skill::default()
        });
        let extra: Map<String, Value> = sk
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| {
                !["id", "name", "description", "tags", "examples"].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !extra.is_empty() {
            skill_extras.insert(id.to_string(), Value::Object(extra));
        }
    }
    m.protocols = vec!["a2a".into()];
    m.endpoint = Some(iface.url.clone());
    a2a.insert("interface".into(), iface.to_json());
    for (k, v) in obj {
        if !MAPPED.contains(&k.as_str()) {
            a2a.insert(k.clone(), v.clone());
        }
    }
    if !skill_extras.is_empty() {
        a2a.insert("skill_extras".into(), Value::Object(skill_extras));
    }
    fit_meta(&mut a2a);
    // Many long skills can pass the card's size limit on their own: the last ones go first.
    let mut cut_skills = 0;
    while !m.skills.is_empty() && manifest_bytes(&m) > MAX_MANIFEST_BYTES {
        m.skills.pop();
        cut_skills += 1;
    }
    if cut_skills > 0 {
        let before = a2a
            .get("skills_dropped")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        a2a.insert("skills_dropped".into(), json!(before + cut_skills));
    }
    let mut meta = Map::new();
    meta.insert("a2a".into(), Value::Object(a2a));
    m.meta = Some(meta);
    Ok(m)
}

fn manifest_bytes(m: &Manifest) -> usize {
    serde_json::to_vec(&m.to_value()).map_or(usize::MAX, |v| v.len())
}

/// Drops the largest kept fields (never the interface) until `meta.a2a` fits the card's meta
/// limit, naming them under `dropped`.
fn fit_meta(a2a: &mut Map<String, Value>) {
    let size = |m: &Map<String, Value>, dropped: &[Value]| {
        let mut m = m.clone();
        if !dropped.is_empty() {
            m.insert("dropped".into(), Value::Array(dropped.to_vec()));
        }
        serde_json::to_vec(&json!({"a2a": m})).map_or(usize::MAX, |v| v.len())
    };
    let mut dropped: Vec<Value> = Vec::new();
    while size(a2a, &dropped) > MAX_META_BYTES {
        let largest = a2a
            .iter()
            .filter(|(k, _)| k.as_str() != "interface")
            .max_by_key(|(_, v)| v.to_string().len())
            .map(|(k, _)| k.clone());
        match largest {
            Some(k) => {
                a2a.remove(&k);
                // A key name itself could be huge: keep at most 64 characters of it.
                dropped.push(Value::String(cut(&k, 64)));
            }
            None => break,
        }
    }
    if !dropped.is_empty() {
        a2a.insert("dropped".into(), Value::Array(dropped));
    }
}

/// The URI of the A2A extension under which a served card names the agent's did:key, its
/// protocols and the gateway (`capabilities.extensions[].params`).
pub const AGENTMESH_EXTENSION: &str = "urn:agentmesh:a2a:gateway:v1";

/// The A2A card (1.0 shape) of a stored manifest. `gateway` is the URL that reaches the agent
/// through this node (signed requests, docs/protocol.md §4): listed after the agent's own http(s)
/// endpoint, or alone for a relayed agent.
pub fn card_from_manifest(manifest: &Value, gateway: &str) -> Value {
    let a2a = manifest["meta"]["a2a"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let iface = &a2a.get("interface").cloned().unwrap_or(Value::Null);
    let binding = s(iface, "protocolBinding").unwrap_or("JSONRPC");
    let version = s(iface, "protocolVersion").unwrap_or("1.0");
    let endpoint = manifest["endpoint"].as_str().unwrap_or("");
    let mut interfaces = Vec::new();
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        interfaces
            .push(json!({"url": endpoint, "protocolBinding": binding, "protocolVersion": version}));
    }
    interfaces
        .push(json!({"url": gateway, "protocolBinding": binding, "protocolVersion": version}));
    let skills: Vec<Value> = manifest["skills"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|sk| {
            let id = sk["id"].as_str().unwrap_or("");
            let mut out = json!({
                "id": id,
                "name": sk["name"].as_str().unwrap_or(id),
                "description": sk["description"].as_str().unwrap_or(""),
                "tags": sk.get("tags").cloned().unwrap_or_else(|| json!([])),
            });
            if let Some(e) = sk.get("examples") {
                out["examples"] = e.clone();
            }
            if let Some(Value::Object(extra)) = a2a.get("skill_extras").and_then(|x| x.get(id)) {
                for (k, v) in extra {
                    out[k] = v.clone();
                }
            }
            out
        })
        .collect();
    let mut card = json!({
        "name": a2a.get("name").cloned().unwrap_or_else(|| manifest["name"].clone()),
        "description": manifest["description"].as_str().unwrap_or(""),
        "supportedInterfaces": interfaces,
        // A2A wants a string; cards in the wild have numbers too.
        "version": match a2a.get("version") {
            Some(Value::String(v)) => json!(v),
            Some(v) if !v.is_null() => json!(v.to_string()),
            _ => manifest["issued_at"].clone(),
        },
        "capabilities": a2a.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "defaultInputModes": a2a.get("defaultInputModes").cloned().unwrap_or_else(|| json!(["text/plain"])),
        "defaultOutputModes": a2a.get("defaultOutputModes").cloned().unwrap_or_else(|| json!(["text/plain"])),
        "skills": skills,
    });
    for k in [
        "provider",
        "documentationUrl",
        "iconUrl",
        "securityRequirements",
    ] {
        if let Some(v) = a2a.get(k) {
            card[k] = v.clone();
        }
    }
    // Security schemes in the 1.0 shape (`{name: {httpAuthSecurityScheme: …}}`) pass through;
    // 0.3's (`{name: {type: "http", …}}`) and its `security` list would make this 1.0 card
    // invalid for strict readers, and stay only under the stored card's meta.
    if let Some(Value::Object(schemes)) = a2a.get("securitySchemes")
        && schemes.values().all(|v| v.get("type").is_none())
    {
        card["securitySchemes"] = Value::Object(schemes.clone());
    }
    // What AgentMesh adds, as an A2A extension (a top-level field of our own would be dropped
    // by readers that parse cards into A2A's schema, and with it their signature check).
    let ext = json!({
        "uri": AGENTMESH_EXTENSION,
        "description": "Reached through an AgentMesh node's gateway; every call through it is signed as AgentMesh docs/protocol.md §4 describes",
        "params": {
            "agentId": manifest["agent_id"],
            "protocols": manifest["protocols"],
            "gateway": gateway,
        },
    });
    if !card["capabilities"].is_object() {
        card["capabilities"] = json!({});
    }
    match card["capabilities"].get_mut("extensions") {
        Some(Value::Array(list)) => list.push(ext),
        _ => card["capabilities"]["extensions"] = json!([ext]),
    }
    card
}

/// What an agent answered to a message.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `completed`, `working`, `input-required`, … for a task; `None` for a direct message.
    pub state: Option<String>,
    /// The text of its answer (message parts, else artifacts, else the status message).
    pub text: String,
    /// The JSON-RPC `result` as sent.
    pub raw: Value,
    /// The method that worked (`SendMessage` or `message/send`).
    pub method: &'static str,
}

/// Which A2A methods to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `SendMessage` with `A2A-Version: 1.0`.
    V1,
    /// `message/send` (0.2/0.3).
    V03,
    /// 1.0 first; `message/send` when the agent does not know the 1.0 method.
    Auto,
}

fn parts_text(parts: &Value) -> Vec<String> {
    parts
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match p.get("text").and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None => match p.get("data") {
                Some(d) => d.to_string(),
                None => format!("[{} part]", p["kind"].as_str().unwrap_or("non-text")),
            },
        })
        .collect()
}

/// `TASK_STATE_INPUT_REQUIRED` and `input-required` alike become `input-required`.
fn state_name(s: &str) -> String {
    s.trim_start_matches("TASK_STATE_")
        .to_ascii_lowercase()
        .replace('_', "-")
}

fn reply_of(result: Value, method: &'static str) -> Reply {
    // 1.0 wraps the payload (`{"message":…}` / `{"task":…}`); 0.3 sends it bare with `kind`.
    let (kind, body) = if let Some(m) = result.get("message") {
        ("message", m.clone())
    } else if let Some(t) = result.get("task") {
        ("task", t.clone())
    } else {
        (
            if result["kind"] == "task" || result.get("status").is_some() {
                "task"
            } else {
                "message"
            },
            result.clone(),
        )
    };
    if kind == "message" {
        return Reply {
            state: None,
            text: parts_text(&body["parts"]).join("\n"),
            raw: result,
            method,
        };
    }
    let mut text: Vec<String> = body["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| parts_text(&a["parts"]))
        .collect();
    if text.is_empty() {
        text = parts_text(&body["status"]["message"]["parts"]);
    }
    Reply {
        state: body["status"]["state"].as_str().map(state_name),
        text: text.join("\n"),
        raw: result,
        method,
    }
}

async fn send_once(
    caller: &SignedCaller,
    path: &str,
    text: &str,
    v1: bool,
) -> Result<Reply, InteropError> {
    let message_id = hex::encode(crate::encoding::random_bytes::<16>());
    let (method, message) = if v1 {
        (
            "SendMessage",
            json!({"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}]}),
        )
    } else {
        (
            "message/send",
            json!({"messageId": message_id, "role": "user", "kind": "message",
                   "parts": [{"kind": "text", "text": text}]}),
        )
    };
    let body = serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 1, "method": method, "params": {"message": message},
    }))
    .expect("a JSON value serializes");
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("accept", "application/json".to_string()),
    ];
    if v1 {
        headers.push(("a2a-version", "1.0".to_string()));
    }
    let answer = caller.call("POST", path, &headers, body).await?;
    if !(200..300).contains(&answer.status) {
        return Err(super::status_error(method, &caller.url_of(path), &answer));
    }
    let result = find_rpc_answer(
        method,
        answer.header("content-type"),
        &answer.body,
        &json!(1),
    )?;
    Ok(reply_of(result, method))
}

/// Sends `text` as a user message and waits for the answer (a message or a task).
pub async fn send_message(
    caller: &SignedCaller,
    path: &str,
    text: &str,
    version: Version,
) -> Result<Reply, InteropError> {
    match version {
        Version::V1 => send_once(caller, path, text, true).await,
        Version::V03 => send_once(caller, path, text, false).await,
        Version::Auto => match send_once(caller, path, text, true).await {
            // -32601 method not found (a 0.x server), -32009 version not supported.
            Err(
                first @ InteropError::Rpc {
                    code: -32601 | -32009,
                    ..
                },
            ) => send_once(caller, path, text, false)
                .await
                .map_err(|second| InteropError::Protocol {
                    method: "message/send".into(),
                    reason: format!("{second} (after SendMessage: {first})"),
                }),
            other => other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    /// An agent that knows only A2A 0.3: `SendMessage` is "method not found" (as a 4xx with a
    /// JSON-RPC body, which some servers send), `message/send` answers a 0.3 task.
    async fn old_agent() -> String {
        let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
            let req: Value = serde_json::from_slice(&body).unwrap_or_default();
            let id = req["id"].clone();
            if req["method"] == "message/send" {
                let text = req["params"]["message"]["parts"][0]["text"]
                    .as_str()
                    .unwrap_or("");
                let task = json!({"kind": "task", "id": "t1", "status": {"state": "completed"},
                    "artifacts": [{"parts": [{"kind": "text", "text": format!("old: {text}")}]}]});
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": task})),
                )
            } else {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    axum::Json(json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32601, "message": "Method not found"}})),
                )
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(l, app).await });
        url
    }

    #[tokio::test]
    async fn auto_falls_back_to_message_send_and_1_0_only_says_why_not() {
        crate::client::init_tls();
        let url = old_agent().await;
        let agent = Identity::generate();
        let caller = SignedCaller::new(
            reqwest::Client::new(),
            Identity::generate(),
            agent.id(),
            &url,
        );
        let r = send_message(&caller, "/", "hi", Version::Auto)
            .await
            .expect("falls back");
        assert_eq!(r.method, "message/send");
        assert_eq!(r.state.as_deref(), Some("completed"));
        assert_eq!(r.text, "old: hi");
        let e = send_message(&caller, "/", "hi", Version::V1)
            .await
            .expect_err("1.0 only");
        assert!(
            matches!(e, InteropError::Rpc { code: -32601, .. }),
            "a JSON-RPC error in a 4xx body is read as such: {e}"
        );
    }
}
