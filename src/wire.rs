//! Bodies of the node's HTTP API (docs/protocol.md §6), one type per body, written by the node
//! and read by its clients (the CLI, federation peers) so that both sides agree by construction.
//! Readers ignore fields they do not know: fields may be added, none renamed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"error":{"code","message"}}`: every refusal, from the listener to the handlers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable code (docs/protocol.md §6, Errors).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

impl ErrorBody {
    /// An error body with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

/// `POST /v1/agents` → 201 or 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The agent.
    pub agent_id: String,
    /// The version's sequence number on this node.
    pub seq: i64,
    /// `created`, `updated` or `revoked`.
    pub status: String,
}

/// `GET /v1/sync?since=&limit=`: records in the node's sequence order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncPage {
    /// The answering node.
    pub node_id: String,
    /// Records with `seq > since`, ascending.
    pub records: Vec<SyncRecord>,
    /// The last `seq` returned (or `since`): the next page's cursor.
    #[serde(default)]
    pub next: i64,
    /// Whether more records follow.
    pub more: bool,
    /// The node's highest sequence number (a progress bar's total).
    #[serde(default)]
    pub last_seq: Option<i64>,
}

/// One record of a [`SyncPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// Its sequence number on the answering node.
    pub seq: i64,
    /// The signed envelope, as stored (tombstones and expired cards included).
    pub card: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes docs/protocol.md §6 gives, field for field.
    #[test]
    fn bodies_have_the_protocol_shapes() {
        let e = serde_json::to_value(ErrorBody::new("stale", "older")).expect("json");
        assert_eq!(
            e,
            serde_json::json!({"error": {"code": "stale", "message": "older"}})
        );
        let page: SyncPage = serde_json::from_value(serde_json::json!({
            "node_id": "n", "records": [{"seq": 3, "card": {"manifest": {}}}],
            "next": 3, "more": false, "last_seq": 9, "added_later": true
        }))
        .expect("a page, unknown fields ignored");
        assert_eq!(
            (page.next, page.records[0].seq, page.last_seq),
            (3, 3, Some(9))
        );
        let r = serde_json::to_value(Registered {
            agent_id: "a".into(),
            seq: 1,
            status: "created".into(),
        })
        .expect("json");
        assert_eq!(
            r,
            serde_json::json!({"agent_id": "a", "seq": 1, "status": "created"})
        );
    }
}
