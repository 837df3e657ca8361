//! The relay (docs/protocol.md §5): agents behind NAT hold a WebSocket tunnel to a node, and the node
//! forwards `relay://<agent_id>` calls over it.
//!
//! Flow: the agent (`agentmesh connect`, [`client`]) opens `GET /relay/v1/ws/{agent_id}`; the
//! node ([`server`]) sends a [`NodeToAgent::Challenge`] with a random nonce and its own ID, the
//! agent answers [`AgentToNode::Auth`] signing [`auth_signing_string`] (domain-separated, with
//! the node's ID in it so an answer cannot be replayed to another relay), and the node answers
//! [`NodeToAgent::Ready`] or an error and closes. Control messages are JSON text frames.
//!
//! Then calls are multiplexed by a numeric `id`, each in **one binary frame** (see [`encode`]):
//!
//! ```text
//! u32 big-endian N | N bytes of JSON head | body bytes (raw, to the end of the frame)
//! ```
//!
//! The head is [`RequestHead`] (node → agent) or [`ResponseHead`] (agent → node); bodies are
//! never base64'd or copied into JSON. Each side accepts only the head legal in its direction.
//! Frames are bounded (body cap + 64 KiB for the head), pings go out every 15 s, and a tunnel
//! silent for two intervals is dropped.

#[cfg(feature = "node")]
pub mod client;
#[cfg(feature = "node")]
pub mod server;

use serde::{Deserialize, Serialize};

/// Domain separation tag of the relay handshake.
pub const RELAY_DOMAIN: &str = "AGENTMESH-RELAY-V1";
/// Room for a frame's head on top of the body cap.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Interval between keep-alive pings.
pub const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Gives a tunnel's writer task a second to send what is queued (a Close), then stops it.
#[cfg(feature = "node")]
pub(crate) async fn finish_writer(
    mut writer: tokio_util::task::AbortOnDropHandle<()>,
    already_done: bool,
) {
    if !already_done
        && tokio::time::timeout(std::time::Duration::from_secs(1), &mut writer)
            .await
            .is_err()
    {
        writer.abort();
    }
}

/// The string an agent signs to authenticate its tunnel.
pub fn auth_signing_string(relay_id: &str, agent_id: &str, nonce: &str) -> String {
    format!("{RELAY_DOMAIN}\n{relay_id}\n{agent_id}\n{nonce}")
}

/// Control messages from the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeToAgent {
    /// Step 1: prove you hold the key.
    Challenge {
        /// 32 random bytes, base64url.
        nonce: String,
        /// The node's did:key.
        relay_id: String,
    },
    /// Step 3: the tunnel is up.
    Ready,
    /// Step 3, refused (the node closes next).
    Error {
        /// A docs/protocol.md §6 error code.
        code: String,
        /// Why.
        message: String,
    },
}

/// Control messages from the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentToNode {
    /// Step 2: the signed answer to the challenge.
    Auth {
        /// The agent's did:key (must match the URL's).
        agent_id: String,
        /// Ed25519 over [`auth_signing_string`], base64url.
        signature: String,
    },
}

/// Head of a call, node → agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestHead {
    /// Always `"request"`.
    #[serde(rename = "type")]
    pub kind: RequestTag,
    /// Correlates the response.
    pub id: u64,
    /// HTTP method.
    pub method: String,
    /// Path and query as the caller signed it.
    pub path: String,
    /// Headers, in order (names lowercase).
    pub headers: Vec<(String, String)>,
}

/// Head of an answer, agent → node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseHead {
    /// Always `"response"`.
    #[serde(rename = "type")]
    pub kind: ResponseTag,
    /// The request's id.
    pub id: u64,
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
}

/// The `type` of a [`RequestHead`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestTag {
    /// The only value.
    #[default]
    Request,
}

/// The `type` of a [`ResponseHead`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseTag {
    /// The only value.
    #[default]
    Response,
}

/// A frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than its length prefix says.
    #[error("frame truncated")]
    Truncated,
    /// The head is not the JSON expected in this direction.
    #[error("bad frame head: {0}")]
    Head(String),
    /// Over the size bound.
    #[error("frame of {0} bytes is over the bound")]
    TooLarge(usize),
}

/// Encodes a head and body into one binary frame.
pub fn encode<H: Serialize>(head: &H, body: &[u8]) -> Vec<u8> {
    let head = serde_json::to_vec(head).expect("a frame head serializes");
    let mut out = Vec::with_capacity(4 + head.len() + body.len());
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
    out
}

/// Splits a binary frame into its head (of the type legal here) and body.
pub fn decode<H: for<'de> Deserialize<'de>>(frame: &[u8]) -> Result<(H, &[u8]), FrameError> {
    let Some((len, rest)) = frame.split_first_chunk::<4>() else {
        return Err(FrameError::Truncated);
    };
    let n = u32::from_be_bytes(*len) as usize;
    if n > MAX_HEAD_BYTES {
        return Err(FrameError::TooLarge(n));
    }
    if rest.len() < n {
        return Err(FrameError::Truncated);
    }
    let (head, body) = rest.split_at(n);
    let head = serde_json::from_slice(head).map_err(|e| FrameError::Head(e.to_string()))?;
    Ok((head, body))
}

/// The WebSocket URL of `agent_id`'s tunnel at the node `base` (`http(s)://host:port`).
pub fn tunnel_url(base: &str, agent_id: &str) -> Option<String> {
    let base = base.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if base.starts_with("ws://") || base.starts_with("wss://") {
        base.to_string()
    } else {
        return None;
    };
    Some(format!("{ws}/relay/v1/ws/{agent_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_the_wrong_direction() {
        let head = RequestHead {
            kind: RequestTag::Request,
            id: 7,
            method: "POST".into(),
            path: "/x?y=1".into(),
            headers: vec![("x-agent-id".into(), "did:key:z6Mk".into())],
        };
        let body = [0u8, 1, 2, 255];
        let frame = encode(&head, &body);
        let (back, b): (RequestHead, &[u8]) = decode(&frame).expect("decode");
        assert_eq!((back, b), (head, &body[..]));
        assert!(matches!(
            decode::<ResponseHead>(&frame),
            Err(FrameError::Head(_))
        ));
        assert_eq!(
            decode::<RequestHead>(&frame[..10]),
            Err(FrameError::Truncated)
        );
        assert_eq!(decode::<RequestHead>(&[0, 0]), Err(FrameError::Truncated));
        let mut huge = (u32::MAX).to_be_bytes().to_vec();
        huge.push(b'{');
        assert!(matches!(
            decode::<RequestHead>(&huge),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn control_messages_have_the_protocol_shape() {
        let c = NodeToAgent::Challenge {
            nonce: "n".into(),
            relay_id: "did:key:z6MkR".into(),
        };
        assert_eq!(
            serde_json::to_value(&c).expect("ser"),
            serde_json::json!({"type":"challenge","nonce":"n","relay_id":"did:key:z6MkR"})
        );
        let a: AgentToNode =
            serde_json::from_str(r#"{"type":"auth","agent_id":"a","signature":"s"}"#)
                .expect("auth parses");
        assert!(matches!(a, AgentToNode::Auth { .. }));
        assert_eq!(
            auth_signing_string("R", "A", "N"),
            "AGENTMESH-RELAY-V1\nR\nA\nN"
        );
        assert_eq!(
            tunnel_url("https://relay.example:7070/", "A").as_deref(),
            Some("wss://relay.example:7070/relay/v1/ws/A")
        );
        assert_eq!(tunnel_url("ftp://x", "A"), None);
    }
}
