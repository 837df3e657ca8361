//! `invoke --mcp` as an MCP client against a hand-written server: an answer stream that closes
//! before the answer is resumed (GET with Last-Event-ID after `retry`), and a stream that stays
//! open after the answer is not waited on.

use crate::common;

use std::sync::{Arc, Mutex};

use assert_cmd::assert::OutputAssertExt as _;
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::{ServeProcess, cmd};
use serde_json::{Value, json};

fn sse(chunk: String, stay_open: bool) -> Response {
    let first = futures_util::stream::iter([Ok::<_, std::io::Error>(chunk)]);
    let body = if stay_open {
        Body::from_stream(futures_util::StreamExt::chain(
            first,
            futures_util::stream::pending(),
        ))
    } else {
        Body::from_stream(first)
    };
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

#[test]
fn a_closed_answer_stream_is_resumed_and_an_open_one_is_not_waited_on() {
    let resumed: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = resumed.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                if method == Method::GET {
                    let last = headers
                        .get("last-event-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().expect("lock").push(last);
                    let answer = json!({"jsonrpc": "2.0", "id": 2, "result": {"tools": [
                        {"name": "echo", "description": "Echoes", "inputSchema": {"type": "object"}}
                    ]}});
                    // The answer, then the stream stays open: the client must not wait on it.
                    return sse(format!("id: e2\ndata: {answer}\n\n"), true);
                }
                let msg: Value = serde_json::from_slice(&body).unwrap_or_default();
                match msg["method"].as_str() {
                    Some("initialize") => (
                        [("mcp-session-id", "s1")],
                        axum::Json(json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                            "serverInfo": {"name": "resumer", "version": "1"}}})),
                    )
                        .into_response(),
                    Some("tools/list") => {
                        // Only a priming event, then the stream closes (SEP-1699).
                        sse("id: e1\nretry: 20\ndata:\n\n".to_string(), false)
                    }
                    _ => StatusCode::ACCEPTED.into_response(),
                }
            }
        },
    );
    let site = common::serve_app_on_thread(app);
    let home = tempfile::tempdir().expect("tmp");
    cmd(home.path()).arg("keygen").assert().success();
    let node = ServeProcess::start(home.path(), &[]);
    cmd(home.path())
        .args(["--node", &node.url, "register", "--name", "resumer"])
        .args(["--endpoint", &format!("{site}/mcp"), "--protocol", "mcp"])
        .assert()
        .success();
    let out = cmd(home.path())
        .args([
            "--node", &node.url, "--json", "invoke", "resumer", "--direct",
        ])
        .args(["--mcp", "tools/list", "--timeout", "20s"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["tools"][0]["name"], "echo", "{v}");
    assert_eq!(*resumed.lock().expect("lock"), ["e1"]);
}
