//! Agent cards: the signed manifest of docs/protocol.md §3.
//!
//! A card arrives as an envelope `{"manifest": {...}, "manifest_signature": "..."}`. Parsing
//! checks, in this order: the JSON, the envelope's shape, the agent ID (a did:key), the
//! signature over `"AGENTMESH-CARD-V1\n"` ‖ JCS(manifest) canonicalized **as received** (unknown
//! fields included, never a re-serialized struct), and then every field rule. Each failure names
//! the field and maps to one protocol status (400 / 401 / 413 / 422). Versions of one agent are
//! ordered by `issued_at`, ties broken by the larger signature ([`Card::supersedes`]).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

mod validate;

use validate::validate_manifest;

use crate::encoding::format_rfc3339;
use crate::identity::{
    IdError, Identity, SigCheck, public_from_did, signature_bytes, verify_batched, verify_one,
};

/// The manifest `schema` value this version speaks.
pub const SCHEMA: &str = "agentmesh/card/v1";
/// Domain separation prefix of card signatures.
pub const CARD_SIGNING_PREFIX: &[u8] = b"AGENTMESH-CARD-V1\n";
/// Largest envelope a node accepts, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// How far in the future `issued_at` may be, in seconds.
pub const MAX_FUTURE_SKEW_S: i64 = 300;
/// Most bytes of `meta` (serialized).
pub const MAX_META_BYTES: usize = 8 * 1024;
/// The smallest `qps_budget` a card may declare: one call every 1,000 s.
pub const MIN_QPS: f64 = 0.001;
/// The largest `qps_budget` a card may declare.
pub const MAX_QPS: f64 = 1_000_000.0;
/// The largest `concurrency_limit` a card may declare.
pub const MAX_CONCURRENCY: u32 = 1_000_000;
/// Most characters of `description` and `vector_desc`.
pub const MAX_TEXT_CHARS: usize = 4000;
const MAX_URL_CHARS: usize = 2048;

/// Why a card was refused. Each variant maps to one HTTP status of docs/protocol.md §3.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CardError {
    /// Over [`MAX_ENVELOPE_BYTES`] (413).
    #[error("envelope is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Size received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON (400).
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// `agent_id` is not an Ed25519 did:key (400).
    #[error("agent_id: {0}")]
    InvalidId(#[from] IdError),
    /// Missing or wrong signature (401).
    #[error("manifest_signature: {0}")]
    BadSignature(String),
    /// A field rule broken (422).
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field, as a JSON path (`skills[3].id`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn field_err(field: impl Into<String>, reason: impl Into<String>) -> CardError {
    CardError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A verified, validated card: the envelope exactly as received plus the fields a node needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    envelope: Value,
    /// The agent's did:key.
    pub agent_id: String,
    /// Human-readable name.
    pub name: String,
    /// `issued_at` in unix seconds.
    pub issued_at: i64,
    /// `expires_at` in unix seconds.
    pub expires_at: Option<i64>,
    /// True for a tombstone.
    pub revoked: bool,
    /// The base64url `manifest_signature`.
    pub signature: String,
    /// Where the agent is reached (absent only on tombstones).
    pub endpoint: Option<String>,
    /// Declared tags, as given.
    pub tags: Vec<String>,
    /// Declared protocols.
    pub protocols: Vec<String>,
    /// Relay nodes holding the agent's tunnel.
    pub relays: Vec<String>,
    /// Most requests per second the agent accepts.
    pub qps_budget: Option<f64>,
    /// Most requests in flight the agent accepts.
    pub concurrency_limit: Option<u32>,
}

impl Card {
    /// Parses, verifies and validates an envelope from raw bytes.
    pub fn from_slice(body: &[u8]) -> Result<Self, CardError> {
        Self::from_value(parse_envelope(body)?)
    }

    /// As [`Card::from_slice`], with the signature checked in a batch with others in flight
    /// in this process ([`verify_batched`]): what a node does with registrations.
    pub async fn from_slice_batched(body: &[u8]) -> Result<Self, CardError> {
        let (check, pending) = Pending::begin(parse_envelope(body)?)?;
        let ok = verify_batched(check).await;
        pending.finish(ok)
    }

    /// Verifies and validates an envelope already parsed as JSON.
    pub fn from_value(envelope: Value) -> Result<Self, CardError> {
        let (check, pending) = Pending::begin(envelope)?;
        let ok = verify_one(&check);
        pending.finish(ok)
    }

    /// Verifies and validates many envelopes at once (a sync page): their signatures are
    /// checked in batches, each envelope's result in order. CPU-bound; call it off the async
    /// workers.
    pub fn from_values(envelopes: Vec<Value>) -> Vec<Result<Self, CardError>> {
        let mut checks = Vec::with_capacity(envelopes.len());
        let begun: Vec<Result<Pending, CardError>> = envelopes
            .into_iter()
            .map(|e| {
                Pending::begin(e).map(|(check, pending)| {
                    checks.push(check);
                    pending
                })
            })
            .collect();
        let mut verdicts = checks
            .chunks(crate::identity::verify::MAX_BATCH)
            .flat_map(crate::identity::verify::verify_each)
            .collect::<Vec<bool>>()
            .into_iter();
        begun
            .into_iter()
            .map(|b| {
                b.and_then(|pending| {
                    let ok = verdicts.next().expect("one verdict per begun envelope");
                    pending.finish(ok)
                })
            })
            .collect()
    }

    /// The envelope exactly as received.
    pub fn envelope(&self) -> &Value {
        &self.envelope
    }

    /// The manifest's typed view.
    pub fn fields(&self) -> Manifest {
        // Card::from_value checked every rule, and the typed view reads whatever they allow.
        Manifest::of(&self.envelope).expect("a validated manifest reads as typed")
    }

    /// The manifest object as received.
    pub fn manifest(&self) -> &Map<String, Value> {
        self.envelope["manifest"]
            .as_object()
            .expect("validated: manifest is an object")
    }

    /// Rejects an `issued_at` more than [`MAX_FUTURE_SKEW_S`] after `now` (unix seconds).
    pub fn check_not_future(&self, now: i64) -> Result<(), CardError> {
        let ahead = self.issued_at - now;
        if ahead > MAX_FUTURE_SKEW_S {
            return Err(field_err(
                "issued_at",
                format!("is {ahead} s in the future (at most {MAX_FUTURE_SKEW_S} s allowed)"),
            ));
        }
        Ok(())
    }

    /// Whether this version replaces `other` (a version of the same agent): a higher
    /// `issued_at`, or an equal one with a lexicographically larger signature.
    pub fn supersedes(&self, other_issued_at: i64, other_signature: &str) -> bool {
        (self.issued_at, self.signature.as_str()) > (other_issued_at, other_signature)
    }
}

fn parse_envelope(body: &[u8]) -> Result<Value, CardError> {
    if body.len() > MAX_ENVELOPE_BYTES {
        return Err(CardError::TooLarge {
            size: body.len(),
            limit: MAX_ENVELOPE_BYTES,
        });
    }
    serde_json::from_slice(body).map_err(|e| CardError::InvalidJson(e.to_string()))
}

/// An envelope whose shape and agent ID are checked, waiting for its signature's verdict.
struct Pending {
    envelope: Value,
    agent_id: String,
    signature: String,
}

impl Pending {
    /// Checks the envelope's shape and ID and returns the signature check to run.
    fn begin(envelope: Value) -> Result<(SigCheck, Self), CardError> {
        let obj = envelope
            .as_object()
            .ok_or_else(|| field_err("envelope", "must be a JSON object"))?;
        let manifest = match obj.get("manifest") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(field_err("manifest", "must be an object")),
            None => return Err(field_err("manifest", "is required")),
        };
        let signature = match obj.get("manifest_signature") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(CardError::BadSignature("must be a base64url string".into())),
            None => return Err(CardError::BadSignature("is missing".into())),
        };
        let agent_id = match manifest.get("agent_id") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(field_err("agent_id", "must be a string")),
            None => return Err(field_err("agent_id", "is required")),
        };
        let key = public_from_did(&agent_id)?;
        let msg = signing_bytes(manifest)?;
        let sig = signature_bytes(&signature)
            .map_err(|_| CardError::BadSignature("is not 64 bytes of base64url".into()))?;
        let check = SigCheck { key, msg, sig };
        Ok((
            check,
            Self {
                envelope,
                agent_id,
                signature,
            },
        ))
    }

    /// Given the signature's verdict, validates every field and builds the card.
    fn finish(self, signature_ok: bool) -> Result<Card, CardError> {
        if !signature_ok {
            return Err(CardError::BadSignature(
                "does not match the manifest and agent_id".into(),
            ));
        }
        let manifest = self.envelope["manifest"]
            .as_object()
            .expect("begin checked: manifest is an object");
        let fields = validate_manifest(manifest, &self.agent_id)?;
        Ok(Card {
            agent_id: self.agent_id,
            signature: self.signature,
            name: fields.name,
            issued_at: fields.issued_at,
            expires_at: fields.expires_at,
            revoked: fields.revoked,
            endpoint: fields.endpoint,
            tags: fields.tags,
            protocols: fields.protocols,
            relays: fields.relays,
            qps_budget: fields.qps_budget,
            concurrency_limit: fields.concurrency_limit,
            envelope: self.envelope,
        })
    }
}

/// The bytes a card signature covers: the domain prefix and the JCS form of the manifest.
pub fn signing_bytes(manifest: &Map<String, Value>) -> Result<Vec<u8>, CardError> {
    let mut msg = CARD_SIGNING_PREFIX.to_vec();
    let jcs = crate::encoding::jcs_map(manifest)
        .map_err(|e| field_err("manifest", format!("cannot be canonicalized: {e}")))?;
    msg.extend_from_slice(&jcs);
    Ok(msg)
}

/// Signs a manifest with `id` and wraps it in an envelope.
///
/// The manifest's `agent_id` must be `id`'s; it is checked here so no caller ships a card the
/// network will refuse.
pub fn sign_manifest(manifest: Value, id: &Identity) -> Result<Value, CardError> {
    let Value::Object(map) = manifest else {
        return Err(field_err("manifest", "must be an object"));
    };
    if map.get("agent_id").and_then(Value::as_str) != Some(id.id()) {
        return Err(field_err("agent_id", "must be the signing key's did:key"));
    }
    let signature = id.sign_b64(&signing_bytes(&map)?);
    Ok(serde_json::json!({ "manifest": map, "manifest_signature": signature }))
}

/// A skill in the A2A `AgentSkill` shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Skill {
    /// 1–64 chars.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags of this skill.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// Example requests.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub examples: Vec<String>,
    /// Fields this version does not know (A2A's `inputModes`, …), kept as signed.
    #[serde(flatten)]
    #[cfg_attr(feature = "node", schema(ignore))]
    pub extra: Map<String, Value>,
}

/// A field the card rules allow to be `null`, read as its default.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A manifest as a publisher builds it ([`Manifest::to_value`] gives the JSON to sign) and as a
/// reader sees a verified one ([`Manifest::of`]): every field the card rules know, typed.
/// Reading is lenient where the rules are (`null` reads as absent); fields this version does
/// not know are kept in `extra`, so a card edited and signed again does not lose them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The publisher's did:key.
    pub agent_id: String,
    /// 1–64 chars.
    pub name: String,
    /// ≤ 4,000 chars.
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    /// ≤ 64 skills.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub skills: Vec<Skill>,
    /// ≤ 32 tags.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// `http`, `mcp`, `a2a`, `ws`, …
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub protocols: Vec<String>,
    /// Where the agent is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Relay nodes for `relay://` endpoints.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub relays: Vec<String>,
    /// Text embedded for discovery instead of the description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_desc: Option<String>,
    /// Requests per second accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qps_budget: Option<f64>,
    /// Requests in flight accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<u32>,
    /// RFC 3339 signing time.
    pub issued_at: String,
    /// RFC 3339 expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Tombstone marker.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub revoked: bool,
    /// Free-form, ≤ 8 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    /// Fields this version does not know, kept as signed.
    #[serde(flatten)]
    #[cfg_attr(feature = "node", schema(ignore))]
    pub extra: Map<String, Value>,
}

impl Manifest {
    /// A manifest for `agent_id` issued at `issued_at` (unix seconds).
    pub fn new(agent_id: &str, name: &str, issued_at: i64) -> Self {
        Self {
            schema: SCHEMA.into(),
            agent_id: agent_id.into(),
            name: name.into(),
            issued_at: format_rfc3339(issued_at),
            ..Self::default()
        }
    }

    /// The JSON value that gets signed.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a manifest always serializes")
    }

    /// The typed view of an envelope's manifest (a verified card's, or one read back from a
    /// node). Fails only on a manifest the card rules refuse.
    pub fn of(envelope: &Value) -> Result<Self, CardError> {
        Self::deserialize(&envelope["manifest"]).map_err(|e| CardError::InvalidJson(e.to_string()))
    }
}

/// A signed card on the wire: `{"manifest": {...}, "manifest_signature": "..."}`, the manifest
/// kept exactly as signed (its typed view is [`Envelope::fields`]). What `GET /v1/agents/{id}`
/// answers and what discovery results carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "node", derive(utoipa::ToSchema))]
pub struct Envelope {
    /// The signed manifest.
    #[cfg_attr(feature = "node", schema(value_type = Manifest))]
    pub manifest: Map<String, Value>,
    /// base64url Ed25519 signature over `AGENTMESH-CARD-V1\n` ‖ JCS(manifest).
    pub manifest_signature: String,
}

impl Envelope {
    /// The manifest's typed view.
    pub fn fields(&self) -> Result<Manifest, CardError> {
        Manifest::deserialize(&Value::Object(self.manifest.clone()))
            .map_err(|e| CardError::InvalidJson(e.to_string()))
    }

    /// Verifies and validates it: the [`Card`] it signs.
    pub fn verify(self) -> Result<Card, CardError> {
        Card::from_value(
            serde_json::to_value(self).map_err(|e| CardError::InvalidJson(e.to_string()))?,
        )
    }
}

/// The fields a listing shows of a card (`top`'s rows, trust listings), read without the cost
/// of the whole typed view: listings read hundreds of cards per request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The card's name.
    pub name: String,
    /// Where the agent is reached.
    pub endpoint: Option<String>,
    /// What it does (`None` when empty).
    pub description: Option<String>,
    /// Its protocols.
    pub protocols: Vec<String>,
}

impl Summary {
    /// The summary of an envelope's manifest (`None` if it has no name).
    pub fn of(envelope: &Value) -> Option<Self> {
        let m = envelope.get("manifest")?;
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Self {
            name: text("name")?,
            endpoint: text("endpoint"),
            description: text("description").filter(|d| !d.is_empty()),
            protocols: m
                .get("protocols")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// `(agent_id, issued_at, signature)` of an envelope not yet verified, if it has that shape:
/// enough to tell a version already held without checking its signature.
pub fn version_of(envelope: &Value) -> Option<(&str, i64, &str)> {
    let m = envelope.get("manifest")?;
    Some((
        m.get("agent_id")?.as_str()?,
        crate::encoding::parse_rfc3339(m.get("issued_at")?.as_str()?)?,
        envelope.get("manifest_signature")?.as_str()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VECTOR_MANIFEST: &str = r#"{"schema":"agentmesh/card/v1","agent_id":"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw","name":"weather","description":"Forecasts weather for any city","tags":["weather"],"protocols":["http"],"endpoint":"http://127.0.0.1:8080","issued_at":"2026-11-24T00:00:00Z"}"#;
    const VECTOR_JCS: &str = r#"{"agent_id":"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw","description":"Forecasts weather for any city","endpoint":"http://127.0.0.1:8080","issued_at":"2026-11-24T00:00:00Z","name":"weather","protocols":["http"],"schema":"agentmesh/card/v1","tags":["weather"]}"#;
    const VECTOR_SIG: &str =
        "Q993SPkOWWg3W4ZF0suo2FsGUWamY9EbWQpRrXfxF28A6Z8MIdka-ZGQJlQgyF6aWoOJmHeT_CnNgQrqvMH7Cw";

    fn vector_key() -> Identity {
        let s: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .expect("hex")
                .try_into()
                .expect("32");
        Identity::from_secret(&s)
    }

    #[test]
    fn protocol_vector_jcs_and_signature() {
        let manifest: Value = serde_json::from_str(VECTOR_MANIFEST).expect("json");
        let jcs = serde_json_canonicalizer::to_string(&manifest).expect("jcs");
        assert_eq!(jcs, VECTOR_JCS);
        let envelope = sign_manifest(manifest, &vector_key()).expect("sign");
        assert_eq!(envelope["manifest_signature"], VECTOR_SIG);
        let card = Card::from_value(envelope).expect("verifies");
        assert_eq!(card.name, "weather");
        assert_eq!(card.issued_at, 1_795_478_400);
    }

    #[test]
    fn a_summary_reads_what_listings_show() {
        let id = Identity::generate();
        let mut m = Manifest::new(id.id(), "weather", 1_795_000_000);
        m.endpoint = Some("relay://x".into());
        m.protocols = vec!["http".into(), "mcp".into()];
        let env = sign_manifest(m.to_value(), &id).expect("sign");
        let s = Summary::of(&env).expect("a summary");
        assert_eq!(
            s,
            Summary {
                name: "weather".into(),
                endpoint: Some("relay://x".into()),
                description: None,
                protocols: vec!["http".into(), "mcp".into()],
            }
        );
        assert_eq!(Summary::of(&json!({"manifest": {}})), None);
    }

    #[test]
    fn unknown_fields_are_signed_as_received() {
        let id = Identity::generate();
        let mut m = Manifest::new(id.id(), "x", 1_795_000_000);
        m.endpoint = Some("http://127.0.0.1:1".into());
        let mut v = m.to_value();
        v["x_future"] = json!({"z": [3, 1.5, "é"], "a": null});
        let env = sign_manifest(v, &id).expect("sign");
        // Reorder keys by round-tripping through text with a different layout.
        let text = serde_json::to_string_pretty(&env).expect("ser");
        let card = Card::from_slice(text.as_bytes()).expect("unknown fields verify");
        assert_eq!(card.manifest()["x_future"]["z"][1], json!(1.5));
        // Dropping the unknown field breaks the signature: it is covered.
        let mut stripped = env.clone();
        stripped["manifest"]
            .as_object_mut()
            .expect("obj")
            .remove("x_future");
        assert!(matches!(
            Card::from_value(stripped),
            Err(CardError::BadSignature(_))
        ));
        // JCS sorts keys by UTF-16 code units and normalizes numbers.
        let jcs = serde_json_canonicalizer::to_string(&json!({"b": 1.0, "a": 1e21, "é": "x"}))
            .expect("jcs");
        assert_eq!(jcs, r#"{"a":1e+21,"b":1,"é":"x"}"#);
    }

    fn signed(id: &Identity, edit: impl FnOnce(&mut Value)) -> Value {
        let mut m = Manifest::new(id.id(), "svc", 1_795_000_000);
        m.endpoint = Some("http://127.0.0.1:9".into());
        let mut v = m.to_value();
        edit(&mut v);
        sign_manifest(v, id).expect("sign")
    }

    /// A sync page verified at once answers each record as a card checked alone would.
    #[test]
    fn many_envelopes_are_judged_one_by_one() {
        let ids: Vec<Identity> = (0..40).map(|_| Identity::generate()).collect();
        let mut envelopes: Vec<Value> = ids.iter().map(|id| signed(id, |_| {})).collect();
        envelopes[3]["manifest"]["name"] = json!("changed after signing");
        envelopes[35]["manifest_signature"] = envelopes[34]["manifest_signature"].clone();
        envelopes[7] = json!({"manifest": 1});
        envelopes[20] = signed(&ids[20], |m| m["name"] = json!(""));
        let alone: Vec<Result<Card, CardError>> =
            envelopes.iter().cloned().map(Card::from_value).collect();
        let together = Card::from_values(envelopes);
        assert_eq!(together, alone);
        let bad: Vec<usize> = (0..40).filter(|&i| together[i].is_err()).collect();
        assert_eq!(bad, vec![3, 7, 20, 35]);
        assert!(matches!(together[3], Err(CardError::BadSignature(_))));
        assert!(matches!(together[35], Err(CardError::BadSignature(_))));
        assert_eq!(together[0].as_ref().expect("valid").agent_id, ids[0].id());
    }

    fn field_of(r: Result<Card, CardError>) -> String {
        match r {
            Err(CardError::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn field_rules_name_the_field() {
        let id = Identity::generate();
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("name", Box::new(|v| v["name"] = json!(""))),
            ("name", Box::new(|v| v["name"] = json!("x".repeat(65)))),
            (
                "name",
                Box::new(|v| {
                    v.as_object_mut().expect("o").remove("name");
                }),
            ),
            ("schema", Box::new(|v| v["schema"] = json!("other/v9"))),
            ("description", Box::new(|v| v["description"] = json!(7))),
            ("tags", Box::new(|v| v["tags"] = json!(vec!["t"; 33]))),
            ("tags[1]", Box::new(|v| v["tags"] = json!(["ok", ""]))),
            (
                "skills[0].id",
                Box::new(|v| v["skills"] = json!([{"name": "no id"}])),
            ),
            ("endpoint", Box::new(|v| v["endpoint"] = json!("ftp://x"))),
            (
                "endpoint",
                Box::new(|v| v["endpoint"] = json!("relay://did:key:z6MkOther")),
            ),
            (
                "endpoint",
                Box::new(|v| {
                    v.as_object_mut().expect("o").remove("endpoint");
                }),
            ),
            ("qps_budget", Box::new(|v| v["qps_budget"] = json!(0))),
            ("qps_budget", Box::new(|v| v["qps_budget"] = json!("5"))),
            ("qps_budget", Box::new(|v| v["qps_budget"] = json!(1e-20))),
            ("qps_budget", Box::new(|v| v["qps_budget"] = json!(5e-324))),
            ("qps_budget", Box::new(|v| v["qps_budget"] = json!(-1.0))),
            ("qps_budget", Box::new(|v| v["qps_budget"] = json!(1e300))),
            (
                "concurrency_limit",
                Box::new(|v| v["concurrency_limit"] = json!(u64::MAX)),
            ),
            (
                "concurrency_limit",
                Box::new(|v| v["concurrency_limit"] = json!(4_294_967_295u64)),
            ),
            (
                "concurrency_limit",
                Box::new(|v| v["concurrency_limit"] = json!(-1)),
            ),
            (
                "concurrency_limit",
                Box::new(|v| v["concurrency_limit"] = json!(1.5)),
            ),
            (
                "concurrency_limit",
                Box::new(|v| v["concurrency_limit"] = json!(0)),
            ),
            (
                "issued_at",
                Box::new(|v| v["issued_at"] = json!("yesterday")),
            ),
            (
                "expires_at",
                Box::new(|v| v["expires_at"] = json!("2000-01-01T00:00:00Z")),
            ),
            ("revoked", Box::new(|v| v["revoked"] = json!("yes"))),
            (
                "meta",
                Box::new(|v| v["meta"] = json!({"big": "x".repeat(9000)})),
            ),
            ("relays[0]", Box::new(|v| v["relays"] = json!(["ws://x"]))),
        ];
        for (want, edit) in cases {
            assert_eq!(field_of(Card::from_value(signed(&id, edit))), want);
        }
    }

    #[test]
    fn ids_signatures_and_sizes() {
        let id = Identity::generate();
        let mut env = signed(&id, |_| {});
        env["manifest"]["agent_id"] = json!("weather");
        assert!(matches!(
            Card::from_value(env),
            Err(CardError::InvalidId(_))
        ));

        let mut env = signed(&id, |_| {});
        env["manifest"]["name"] = json!("tampered");
        assert!(matches!(
            Card::from_value(env),
            Err(CardError::BadSignature(_))
        ));

        let mut env = signed(&id, |_| {});
        env.as_object_mut().expect("o").remove("manifest_signature");
        assert!(matches!(
            Card::from_value(env),
            Err(CardError::BadSignature(_))
        ));

        // Signed by someone else.
        let other = Identity::generate();
        let mut env = signed(&other, |_| {});
        env["manifest"]["agent_id"] = json!(id.id());
        assert!(matches!(
            Card::from_value(env),
            Err(CardError::BadSignature(_))
        ));

        let big = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            Card::from_slice(&big),
            Err(CardError::TooLarge { .. })
        ));
        assert!(matches!(
            Card::from_slice(b"{nope"),
            Err(CardError::InvalidJson(_))
        ));
    }

    #[test]
    fn ordering_and_time_checks() {
        let id = Identity::generate();
        let card = Card::from_value(signed(&id, |_| {})).expect("ok");
        assert!(card.supersedes(card.issued_at - 1, "zzz"));
        assert!(!card.supersedes(card.issued_at + 1, ""));
        assert!(card.supersedes(card.issued_at, ""));
        assert!(!card.supersedes(card.issued_at, &card.signature));
        assert!(card.check_not_future(card.issued_at - 300).is_ok());
        assert_eq!(
            field_of(
                card.check_not_future(card.issued_at - 301)
                    .map(|()| card.clone())
            ),
            "issued_at"
        );
        let tomb = Card::from_value(signed(&id, |v| {
            v["revoked"] = json!(true);
            v.as_object_mut().expect("o").remove("endpoint");
        }))
        .expect("a tombstone needs no endpoint");
        assert!(tomb.revoked);
    }
}
