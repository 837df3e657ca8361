//! Node records: where a node's HTTP API answers, so a node that found it as a provider can
//! query its discovery API. The value is the node's signed peer announcement (the same
//! `AGENTMESH-PEER-V1` statement `POST /v1/peers` carries), stored under
//! `/agentmesh/node/<PeerId>`: the PeerId and the announcement's did:key must name the same
//! key, so only the node itself can say where it answers.

use libp2p::{PeerId, identity, kad};

use crate::encoding::{now_unix, parse_rfc3339};
use crate::federation::announcement_signing_string;
use crate::identity::{key_bytes_of_did, verify_b64};
use crate::wire::Announcement;

/// Prefix of a node record's key.
pub const NODE_KEY_PREFIX: &str = "/agentmesh/node/";
/// Most bytes of a node record.
pub const MAX_NODE_RECORD_BYTES: usize = 2048;
/// Longest API URL a node record may carry.
pub const MAX_API_URL: usize = 512;

/// The record key of node `peer`'s record.
pub fn node_key(peer: &PeerId) -> kad::RecordKey {
    kad::RecordKey::new(&format!("{NODE_KEY_PREFIX}{peer}"))
}

/// The PeerId of the key a did:key names.
pub fn peer_id_of_did(did: &str) -> Option<PeerId> {
    let bytes = key_bytes_of_did(did)?;
    let public = identity::ed25519::PublicKey::try_from_bytes(&bytes).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// Checks a node record: a verified announcement by the node its key names, at an http(s) URL,
/// not issued in the future, and not older than `stored`.
pub fn admit_node(
    record: &kad::Record,
    stored: Option<&kad::Record>,
) -> Result<Announcement, String> {
    if record.value.len() > MAX_NODE_RECORD_BYTES {
        return Err(format!("a node record of {} bytes", record.value.len()));
    }
    let a: Announcement = serde_json::from_slice(&record.value)
        .map_err(|e| format!("not a node announcement: {e}"))?;
    let peer = peer_id_of_did(&a.node_id).ok_or("node_id is not an Ed25519 did:key")?;
    if record.key != node_key(&peer) {
        return Err("the record's key does not name the announcing node".into());
    }
    if a.url.len() > MAX_API_URL {
        return Err(format!("a URL over {MAX_API_URL} bytes"));
    }
    let url = reqwest::Url::parse(&a.url).map_err(|e| format!("url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("url must be http(s) with a host".into());
    }
    let at = parse_rfc3339(&a.issued_at).ok_or("issued_at is not an RFC 3339 UTC time")?;
    if at > now_unix() + 300 {
        return Err("issued_at is in the future".into());
    }
    verify_b64(
        &a.node_id,
        announcement_signing_string(&a.node_id, &a.url, &a.issued_at).as_bytes(),
        &a.signature,
    )
    .map_err(|_| "the signature does not verify")?;
    if let Some(held) = stored.and_then(|r| serde_json::from_slice::<Announcement>(&r.value).ok())
        && parse_rfc3339(&held.issued_at).is_some_and(|h| h > at)
    {
        return Err("an older announcement".into());
    }
    Ok(a)
}

/// The record of `announcement` (made by [`Announcement::sign`]).
pub fn node_record(peer: &PeerId, announcement: &Announcement) -> kad::Record {
    kad::Record::new(
        node_key(peer),
        serde_json::to_vec(announcement).expect("an announcement serializes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn only_the_node_itself_can_say_where_it_answers() {
        let node = Identity::generate();
        let peer = super::super::peer_id_of(&node);
        assert_eq!(peer_id_of_did(node.id()), Some(peer));
        let a = Announcement::sign(&node, "http://127.0.0.1:7070");
        let r = node_record(&peer, &a);
        assert_eq!(admit_node(&r, None).expect("valid").url, a.url);
        // Under another node's key.
        let other = super::super::peer_id_of(&Identity::generate());
        let wrong = kad::Record::new(node_key(&other), r.value.clone());
        assert!(admit_node(&wrong, None).is_err());
        // A changed URL breaks the signature.
        let mut moved = a.clone();
        moved.url = "http://127.0.0.1:9999".into();
        assert!(admit_node(&node_record(&peer, &moved), None).is_err());
        // Not http(s); garbage; oversized.
        let ftp = Announcement::sign(&node, "ftp://127.0.0.1/");
        assert!(admit_node(&node_record(&peer, &ftp), None).is_err());
        for value in [b"{}".to_vec(), vec![b'x'; MAX_NODE_RECORD_BYTES + 1]] {
            assert!(admit_node(&kad::Record::new(node_key(&peer), value), None).is_err());
        }
    }
}
