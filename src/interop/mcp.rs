//! An MCP client over the Streamable HTTP transport (protocol revision 2025-11-25, the newest
//! one negotiated by `initialize`): `initialize` → `Mcp-Session-Id` → `notifications/initialized`
//! → requests → `DELETE` to end the session. Answers may be JSON or an SSE stream; both are read.

use serde_json::{Value, json};

use super::{InteropError, SignedCaller, find_rpc_answer, snippet};

/// The protocol revision offered in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
const ACCEPT: &str = "application/json, text/event-stream";
const SESSION: &str = "mcp-session-id";
/// Most times one answer's stream is resumed.
const MAX_RESUMES: usize = 5;
/// The wait before resuming when the stream named none (`retry`), milliseconds.
const DEFAULT_RETRY_MS: u64 = 1_000;
/// The longest `retry` honoured, milliseconds (a server cannot park the CLI).
const MAX_RETRY_MS: u64 = 10_000;

/// An initialized MCP session with one agent.
pub struct McpSession {
    caller: SignedCaller,
    path: String,
    session: Option<String>,
    version: String,
    next_id: u64,
    initialized: bool,
    /// The server's `serverInfo` and `capabilities` from `initialize`.
    pub server: Value,
}

impl McpSession {
    /// Runs the handshake at `path` (`/` for the endpoint itself).
    pub async fn open(caller: SignedCaller, path: &str) -> Result<Self, InteropError> {
        let mut s = Self {
            caller,
            path: path.to_string(),
            session: None,
            version: PROTOCOL_VERSION.to_string(),
            next_id: 0,
            initialized: false,
            server: Value::Null,
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "agentmesh", "version": crate::VERSION},
        });
        let (result, answer) = s.exchange("initialize", Some(params)).await?;
        s.session = answer.header(SESSION).map(str::to_string);
        if let Some(v) = result["protocolVersion"].as_str() {
            s.version = v.to_string();
        }
        s.server = result;
        s.initialized = true;
        s.notify("notifications/initialized").await?;
        Ok(s)
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("content-type", "application/json".to_string()),
            ("accept", ACCEPT.to_string()),
        ];
        if let Some(s) = &self.session {
            h.push(("mcp-session-id", s.clone()));
        }
        // Every request after the handshake names the negotiated revision (stateless servers
        // included).
        if self.initialized {
            h.push(("mcp-protocol-version", self.version.clone()));
        }
        h
    }

    async fn exchange(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> Result<(Value, super::Answer), InteropError> {
        self.next_id += 1;
        let id = json!(self.next_id);
        let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        let body = serde_json::to_vec(&msg).expect("a JSON value serializes");
        // An SSE answer is read until it holds the answer: a server may keep the stream open.
        let wanted = id.clone();
        let enough = move |ct: Option<&str>, buf: &[u8]| {
            ct.is_some_and(|c| c.starts_with("text/event-stream"))
                && super::has_rpc_answer(ct, buf, &wanted)
        };
        let mut answer = self
            .caller
            .call_until("POST", &self.path, &self.headers(), body, Some(&enough))
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(super::status_error(
                method,
                &self.caller.url_of(&self.path),
                &answer,
            ));
        }
        // A stream that closed before the answer, having named an event ID, is resumed: GET
        // with Last-Event-ID after the `retry` it asked for (SEP-1699; the wait is a MUST).
        for _ in 0..MAX_RESUMES {
            let sse = answer
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/event-stream"));
            if !sse || super::has_rpc_answer(answer.header("content-type"), &answer.body, &id) {
                break;
            }
            let (Some(last), retry) = super::sse::resume_point(&answer.body) else {
                break;
            };
            let wait = retry.unwrap_or(DEFAULT_RETRY_MS).min(MAX_RETRY_MS);
            tracing::debug!(
                method,
                last_event_id = last,
                wait_ms = wait,
                "resuming the answer stream"
            );
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            let mut headers: Vec<(&'static str, String)> = self
                .headers()
                .into_iter()
                .filter(|(k, _)| *k != "content-type" && *k != "accept")
                .collect();
            headers.push(("accept", "text/event-stream".into()));
            headers.push(("last-event-id", last));
            answer = self
                .caller
                .call_until("GET", &self.path, &headers, Vec::new(), Some(&enough))
                .await?;
            if !(200..300).contains(&answer.status) {
                return Err(super::status_error(
                    method,
                    &self.caller.url_of(&self.path),
                    &answer,
                ));
            }
        }
        let result = find_rpc_answer(method, answer.header("content-type"), &answer.body, &id)?;
        Ok((result, answer))
    }

    async fn notify(&self, method: &str) -> Result<(), InteropError> {
        let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": method}))
            .expect("a JSON value serializes");
        let a = self
            .caller
            .call("POST", &self.path, &self.headers(), body)
            .await?;
        if (200..300).contains(&a.status) {
            Ok(())
        } else {
            Err(InteropError::Status {
                status: a.status,
                url: format!("{} ({method})", self.path),
                body: snippet(&a.body),
            })
        }
    }

    /// Any request; its `result`.
    pub async fn request(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, InteropError> {
        Ok(self.exchange(method, params).await?.0)
    }

    /// `tools/list`, following `nextCursor` pages.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, InteropError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let params = cursor.as_ref().map(|c| json!({"cursor": c}));
            let r = self.request("tools/list", params).await?;
            tools.extend(r["tools"].as_array().cloned().unwrap_or_default());
            match r["nextCursor"].as_str() {
                Some(c) if !c.is_empty() => cursor = Some(c.to_string()),
                _ => break,
            }
        }
        Ok(tools)
    }

    /// `tools/call` of `name` with `arguments`; the result (`content`, `isError`, …).
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Result<Value, InteropError> {
        self.request(
            "tools/call",
            Some(json!({"name": name, "arguments": arguments})),
        )
        .await
    }

    /// Ends the session (`DELETE`); errors are ignored: the server forgets idle sessions anyway.
    pub async fn close(self) {
        if self.session.is_some() {
            let _ = self
                .caller
                .call("DELETE", &self.path, &self.headers(), Vec::new())
                .await;
        }
    }

    /// Whether every answer the agent signed verified (`None`: it signed none).
    pub fn verified(&self) -> Option<bool> {
        self.caller.verified()
    }
}

/// The text of a `tools/call` result's content: text parts as they are, other parts by type.
pub fn content_text(result: &Value) -> String {
    let mut out = Vec::new();
    for c in result["content"].as_array().into_iter().flatten() {
        match c["type"].as_str() {
            Some("text") => out.push(c["text"].as_str().unwrap_or("").to_string()),
            Some(t) => out.push(format!("[{t} content]")),
            None => out.push(c.to_string()),
        }
    }
    if out.is_empty()
        && let Some(s) = result.get("structuredContent")
    {
        out.push(s.to_string());
    }
    out.join("\n")
}
