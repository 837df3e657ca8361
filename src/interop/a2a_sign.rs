//! Signed A2A Agent Cards: the `signatures` of A2A 1.0 (`AgentCardSignature`), each a JWS with
//! a detached payload — `protected` (base64url of the JOSE header) and `signature` (base64url of
//! the Ed25519 signature over `<protected>.<base64url(JCS(card without signatures))>`).
//!
//! The node signs the cards it serves with its own key (`kid` = its did:key): the card is the
//! node's rendering of the agent's self-signed AgentMesh card (its interfaces name this node's
//! gateway), which the agent never saw, so only the node can vouch for it; the agent's own
//! signature stays on `/v1/agents/{id}` (docs/protocol.md §7).
//!
//! Two canonical forms are in use: A2A's text (JCS of the card as sent) and a2a-sdk's (JCS after
//! dropping empty strings, lists and objects, as its protobuf round trip does). A card signed
//! here has no empty values, so both are the same; a card read here verifies if either holds.
//! A `jku` in a header is never followed: keys come from a did:key `kid` or from the caller.

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde_json::{Value, json};

use crate::encoding::{b64url, b64url_decode};
use crate::identity::{Identity, public_from_did};

/// Drops empty strings, arrays and objects, recursively (what a2a-sdk signs).
fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for x in m.values_mut() {
                prune(x);
            }
            m.retain(|_, x| !is_empty(x));
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                prune(x);
            }
            a.retain(|x| !is_empty(x));
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// base64url(JCS(card without `signatures`)), of the card as is or pruned.
fn payload(card: &Value, pruned: bool) -> Option<String> {
    let mut c = card.clone();
    c.as_object_mut()?.remove("signatures");
    if pruned {
        prune(&mut c);
    }
    let jcs = crate::encoding::jcs_value(&c).ok()?;
    Some(b64url(&jcs))
}

/// Adds `key`'s signature to `card` (replacing any), after dropping its empty values so the
/// A2A and a2a-sdk canonical forms agree.
pub fn sign(card: &mut Value, key: &Identity) {
    prune(card);
    let header = json!({"alg": "EdDSA", "kid": key.id(), "typ": "JOSE"});
    let protected = b64url(header.to_string().as_bytes());
    let Some(payload) = payload(card, false) else {
        return;
    };
    let signature = key.sign_b64(format!("{protected}.{payload}").as_bytes());
    if let Some(m) = card.as_object_mut() {
        m.insert(
            "signatures".into(),
            json!([{"protected": protected, "signature": signature}]),
        );
    }
}

/// What a check of one signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It verifies with the key `kid` names.
    Valid {
        /// The header's `kid`.
        kid: String,
    },
    /// It does not verify, or is malformed.
    Invalid {
        /// The header's `kid`, when it has one.
        kid: String,
        /// Why.
        why: String,
    },
    /// No trusted key for its `kid` (a `jku` is never followed).
    Unverifiable {
        /// The header's `kid`.
        kid: String,
    },
}

/// Checks every signature of `card` against `trusted` keys (by `kid`) and did:key `kid`s.
pub fn check(card: &Value, trusted: &[(String, VerifyingKey)]) -> Vec<Check> {
    let Some(sigs) = card.get("signatures") else {
        return Vec::new();
    };
    let Some(sigs) = sigs.as_array() else {
        return vec![Check::Invalid {
            kid: String::new(),
            why: "`signatures` is not a list".into(),
        }];
    };
    sigs.iter().map(|s| check_one(card, s, trusted)).collect()
}

fn check_one(card: &Value, sig: &Value, trusted: &[(String, VerifyingKey)]) -> Check {
    let invalid = |kid: &str, why: &str| Check::Invalid {
        kid: kid.to_string(),
        why: why.to_string(),
    };
    let (Some(protected), Some(signature)) = (
        sig.get("protected").and_then(Value::as_str),
        sig.get("signature").and_then(Value::as_str),
    ) else {
        return invalid("", "a signature needs `protected` and `signature` strings");
    };
    let Some(header) = b64url_decode(protected)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return invalid("", "`protected` is not base64url of a JSON header");
    };
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
    match header.get("alg").and_then(Value::as_str) {
        Some("EdDSA" | "Ed25519") => {}
        other => {
            return invalid(
                kid,
                &format!("alg {other:?} is not EdDSA (only Ed25519 is supported)"),
            );
        }
    }
    // `kid` names the key: one the caller trusts, or a did:key (with or without a fragment).
    let key = trusted
        .iter()
        .find(|(k, _)| k == kid)
        .map(|(_, key)| *key)
        .or_else(|| public_from_did(kid.split('#').next().unwrap_or(kid)).ok());
    let Some(key) = key else {
        return Check::Unverifiable {
            kid: kid.to_string(),
        };
    };
    let Some(sig) = b64url_decode(signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return invalid(kid, "`signature` is not 64 bytes of base64url");
    };
    let sig = Signature::from_bytes(&sig);
    let holds = [false, true].into_iter().any(|pruned| {
        payload(card, pruned).is_some_and(|p| {
            key.verify(format!("{protected}.{p}").as_bytes(), &sig)
                .is_ok()
        })
    });
    if holds {
        Check::Valid {
            kid: kid.to_string(),
        }
    } else {
        invalid(kid, "the signature does not match the card")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_card_verifies_and_a_changed_one_does_not() {
        let node = Identity::generate();
        let mut card = json!({"name": "w", "description": "", "skills": [], "capabilities": {}, "version": "1"});
        sign(&mut card, &node);
        assert!(
            card.get("description").is_none(),
            "empty values are dropped"
        );
        assert_eq!(
            check(&card, &[]),
            [Check::Valid {
                kid: node.id().to_string()
            }]
        );
        card["name"] = json!("x");
        assert!(matches!(check(&card, &[])[0], Check::Invalid { .. }));
        // A kid that is not a did:key, with a jku: never fetched, not verifiable.
        let header = b64url(br#"{"alg":"EdDSA","kid":"k1","jku":"http://127.0.0.1:9/keys"}"#);
        card["signatures"] = json!([{"protected": header, "signature": "AAAA"}]);
        assert_eq!(
            check(&card, &[]),
            [Check::Unverifiable { kid: "k1".into() }]
        );
        for bad in [
            json!("x"),
            json!([{"protected": 1}]),
            json!([{"protected": "!!", "signature": "x"}]),
        ] {
            card["signatures"] = bad;
            assert!(matches!(check(&card, &[])[0], Check::Invalid { .. }));
        }
    }
}
