//! An AgentMesh agent in Rust on the protocol library alone (`default-features = false`): it
//! verifies every caller's signed request (forgeries and replays get 401) and signs its answers,
//! so callers know no gateway or relay altered them.
//!
//! `cargo run --example verify_agent --no-default-features -- 127.0.0.1:8080 KEYFILE` (the key is
//! created there, 0600, if missing: the CLI's file store reads it as `--key NAME` for
//! `<home>/keys/NAME.key`); register a card with that endpoint and key, then call it with
//! `agentmesh invoke <id> --data '{"x":1}'`.

use std::sync::Arc;

use agentmesh::encoding::now_unix;
use agentmesh::handshake::{
    H_AGENT_ID, H_NONCE, H_SIGNATURE, H_TIMESTAMP, Verifier, sign_response,
};
use agentmesh::identity::KeyStore;
use axum::{body::Bytes, http::HeaderMap, http::Method, http::StatusCode, http::Uri};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let key = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "agent.key".into());
    let (me, _) = KeyStore::load_or_create_file(key.as_ref()).map_err(std::io::Error::other)?;
    let verifier = Arc::new(Verifier::new(me.id(), 60, 100_000));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("agent {} on http://{}", me.id(), listener.local_addr()?);
    let app =
        axum::Router::new().fallback(move |m: Method, uri: Uri, h: HeaderMap, body: Bytes| {
            let (me, verifier) = (me.clone(), verifier.clone());
            async move {
                let header = |name: &str| h.get(name)?.to_str().ok().map(str::to_string);
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let (status, text) = match verifier
                    .verify_batched(me.id(), &header, m.as_str(), path, &body, now_unix())
                    .await
                {
                    Ok(caller) => (StatusCode::OK, format!(r#"{{"hello":"{caller}"}}"#)),
                    Err(e) => (
                        StatusCode::UNAUTHORIZED,
                        format!(r#"{{"error":{{"code":"{}"}}}}"#, e.code()),
                    ),
                };
                let nonce = header(H_NONCE).unwrap_or_default();
                let s = sign_response(&me, status.as_u16(), &nonce, text.as_bytes(), now_unix());
                let signed = [
                    (H_AGENT_ID, s.agent_id),
                    (H_TIMESTAMP, s.timestamp.to_string()),
                    (H_SIGNATURE, s.signature),
                ];
                (status, signed, text)
            }
        });
    axum::serve(listener, app).await
}
