//! Agent cards: the signed manifest of PROTOCOL §3.
//!
//! A card arrives as an envelope `{"manifest": {...}, "manifest_signature": "..."}`. Parsing
//! checks, in this order: the JSON, the envelope's shape, the agent ID (a did:key), the
//! signature over `"AGENTMESH-CARD-V1\n"` ‖ JCS(manifest) canonicalized **as received** (unknown
//! fields included, never a re-serialized struct), and then every field rule. Each failure names
//! the field and maps to one protocol status (400 / 401 / 413 / 422). Versions of one agent are
//! ordered by `issued_at`, ties broken by the larger signature ([`Card::supersedes`]).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::encoding::{format_rfc3339, parse_rfc3339};
use crate::identity::{IdError, Identity, VerifyError, public_from_did, verify_with_key};

/// The manifest `schema` value this version speaks.
pub const SCHEMA: &str = "agentmesh/card/v1";
/// Domain separation prefix of card signatures.
pub const CARD_SIGNING_PREFIX: &[u8] = b"AGENTMESH-CARD-V1\n";
/// Largest envelope a node accepts, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// How far in the future `issued_at` may be, in seconds.
pub const MAX_FUTURE_SKEW_S: i64 = 300;
const MAX_META_BYTES: usize = 8 * 1024;
const MAX_TEXT_CHARS: usize = 4000;
const MAX_URL_CHARS: usize = 2048;

/// Why a card was refused. Each variant maps to one HTTP status of PROTOCOL §3.
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
        if body.len() > MAX_ENVELOPE_BYTES {
            return Err(CardError::TooLarge {
                size: body.len(),
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| CardError::InvalidJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// Verifies and validates an envelope already parsed as JSON.
    pub fn from_value(envelope: Value) -> Result<Self, CardError> {
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
        verify_with_key(&key, &msg, &signature).map_err(|e| match e {
            VerifyError::Id(e) => CardError::InvalidId(e),
            VerifyError::Malformed => {
                CardError::BadSignature("is not 64 bytes of base64url".into())
            }
            VerifyError::Mismatch => {
                CardError::BadSignature("does not match the manifest and agent_id".into())
            }
        })?;
        let fields = validate_manifest(manifest, &agent_id)?;
        Ok(Self {
            agent_id,
            signature,
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
            envelope,
        })
    }

    /// The envelope exactly as received.
    pub fn envelope(&self) -> &Value {
        &self.envelope
    }

    /// The manifest object as received.
    pub fn manifest(&self) -> &Map<String, Value> {
        self.envelope["manifest"]
            .as_object()
            .expect("validated: manifest is an object")
    }

    /// A manifest string field, if present.
    pub fn manifest_str(&self, field: &str) -> Option<&str> {
        self.manifest().get(field).and_then(Value::as_str)
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

    /// True once `expires_at` has passed.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Whether this version replaces `other` (a version of the same agent): a higher
    /// `issued_at`, or an equal one with a lexicographically larger signature.
    pub fn supersedes(&self, other_issued_at: i64, other_signature: &str) -> bool {
        (self.issued_at, self.signature.as_str()) > (other_issued_at, other_signature)
    }
}

/// The bytes a card signature covers: the domain prefix and the JCS form of the manifest.
pub fn signing_bytes(manifest: &Map<String, Value>) -> Result<Vec<u8>, CardError> {
    let mut msg = CARD_SIGNING_PREFIX.to_vec();
    let jcs = serde_json_canonicalizer::to_vec(manifest)
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
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Example requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// A manifest as a publisher builds it; [`Manifest::to_value`] gives the JSON to sign.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The publisher's did:key.
    pub agent_id: String,
    /// 1–64 chars.
    pub name: String,
    /// ≤ 4,000 chars.
    pub description: String,
    /// ≤ 64 skills.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<Skill>,
    /// ≤ 32 tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `http`, `mcp`, `a2a`, `ws`, …
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<String>,
    /// Where the agent is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Relay nodes for `relay://` endpoints.
    #[serde(skip_serializing_if = "Vec::is_empty")]
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
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    /// Free-form, ≤ 8 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
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
}

/// Fields pulled out during validation.
struct Fields {
    name: String,
    issued_at: i64,
    expires_at: Option<i64>,
    revoked: bool,
    endpoint: Option<String>,
    tags: Vec<String>,
    protocols: Vec<String>,
    relays: Vec<String>,
    qps_budget: Option<f64>,
    concurrency_limit: Option<u32>,
}

fn validate_manifest(m: &Map<String, Value>, agent_id: &str) -> Result<Fields, CardError> {
    match m.get("schema") {
        Some(Value::String(s)) if s == SCHEMA => {}
        Some(_) => return Err(field_err("schema", format!("must be \"{SCHEMA}\""))),
        None => return Err(field_err("schema", "is required")),
    }
    let name = req_str(m, "name")?;
    check_len("name", &name, 1, 64)?;
    if let Some(d) = opt_str(m, "description")? {
        check_len("description", &d, 0, MAX_TEXT_CHARS)?;
    }
    if let Some(d) = opt_str(m, "vector_desc")? {
        check_len("vector_desc", &d, 0, MAX_TEXT_CHARS)?;
    }
    validate_skills(m)?;
    let tags = str_array(m, "tags", 32, 1, 64)?;
    let protocols = str_array(m, "protocols", 16, 1, 32)?;
    let relays = str_array(m, "relays", 8, 1, MAX_URL_CHARS)?;
    for (i, r) in relays.iter().enumerate() {
        if !(r.starts_with("http://") || r.starts_with("https://")) {
            return Err(field_err(
                format!("relays[{i}]"),
                "must be an http(s):// base URL",
            ));
        }
    }
    let issued_at = req_time(m, "issued_at")?;
    let expires_at = match opt_str(m, "expires_at")? {
        Some(_) => Some(req_time(m, "expires_at")?),
        None => None,
    };
    if expires_at.is_some_and(|e| e <= issued_at) {
        return Err(field_err("expires_at", "must be after issued_at"));
    }
    let revoked = match m.get("revoked") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(field_err("revoked", "must be a boolean")),
    };
    let endpoint = opt_str(m, "endpoint")?;
    match &endpoint {
        Some(e) => validate_endpoint(e, agent_id)?,
        None if !revoked => return Err(field_err("endpoint", "is required")),
        None => {}
    }
    let qps_budget = match m.get("qps_budget") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(q) if q.is_finite() && q > 0.0 => Some(q),
            _ => return Err(field_err("qps_budget", "must be a number > 0")),
        },
        Some(_) => return Err(field_err("qps_budget", "must be a number > 0")),
    };
    let concurrency_limit = match m.get("concurrency_limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => return Err(field_err("concurrency_limit", "must be an integer ≥ 1")),
        },
    };
    match m.get("meta") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => {
            let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
            if size > MAX_META_BYTES {
                return Err(field_err(
                    "meta",
                    format!("is {size} bytes; at most {MAX_META_BYTES} allowed"),
                ));
            }
        }
        Some(_) => return Err(field_err("meta", "must be an object")),
    }
    Ok(Fields {
        name,
        issued_at,
        expires_at,
        revoked,
        endpoint,
        tags,
        protocols,
        relays,
        qps_budget,
        concurrency_limit,
    })
}

fn validate_endpoint(e: &str, agent_id: &str) -> Result<(), CardError> {
    check_len("endpoint", e, 1, MAX_URL_CHARS)?;
    if let Some(target) = e.strip_prefix("relay://") {
        if target != agent_id {
            return Err(field_err(
                "endpoint",
                "a relay:// endpoint must name the card's own agent_id",
            ));
        }
        return Ok(());
    }
    let ok = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .any(|p| e.len() > p.len() && e.starts_with(p));
    if ok {
        Ok(())
    } else {
        Err(field_err(
            "endpoint",
            "must be an http(s)://, ws(s):// or relay://<agent_id> URL",
        ))
    }
}

fn validate_skills(m: &Map<String, Value>) -> Result<(), CardError> {
    let skills = match m.get("skills") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(field_err("skills", "must be an array")),
    };
    if skills.len() > 64 {
        return Err(field_err(
            "skills",
            format!("has {} entries; at most 64", skills.len()),
        ));
    }
    for (i, skill) in skills.iter().enumerate() {
        let Value::Object(s) = skill else {
            return Err(field_err(format!("skills[{i}]"), "must be an object"));
        };
        let at = |f: &str| format!("skills[{i}].{f}");
        match s.get("id") {
            Some(Value::String(id)) => check_len(&at("id"), id, 1, 64)?,
            Some(_) => return Err(field_err(at("id"), "must be a string")),
            None => return Err(field_err(at("id"), "is required")),
        }
        for f in ["name", "description"] {
            match s.get(f) {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(_) => return Err(field_err(at(f), "must be a string")),
            }
        }
        for f in ["tags", "examples"] {
            match s.get(f) {
                None | Some(Value::Null) => {}
                Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
                Some(_) => return Err(field_err(at(f), "must be an array of strings")),
            }
        }
    }
    Ok(())
}

fn check_len(field: &str, s: &str, min: usize, max: usize) -> Result<(), CardError> {
    let n = s.chars().count();
    if n < min || n > max {
        let want = if min == 0 {
            format!("at most {max}")
        } else {
            format!("{min}–{max}")
        };
        return Err(field_err(
            field,
            format!("must be {want} characters (got {n})"),
        ));
    }
    Ok(())
}

fn req_str(m: &Map<String, Value>, field: &str) -> Result<String, CardError> {
    opt_str(m, field)?.ok_or_else(|| field_err(field, "is required"))
}

fn opt_str(m: &Map<String, Value>, field: &str) -> Result<Option<String>, CardError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_err(field, "must be a string")),
    }
}

fn req_time(m: &Map<String, Value>, field: &str) -> Result<i64, CardError> {
    let s = req_str(m, field)?;
    parse_rfc3339(&s).ok_or_else(|| {
        field_err(
            field,
            format!("`{s}` is not an RFC 3339 UTC time with whole seconds (2026-11-24T21:00:00Z)"),
        )
    })
}

fn str_array(
    m: &Map<String, Value>,
    field: &str,
    max_items: usize,
    min_len: usize,
    max_len: usize,
) -> Result<Vec<String>, CardError> {
    let items = match m.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(field_err(field, "must be an array of strings")),
    };
    if items.len() > max_items {
        return Err(field_err(
            field,
            format!("has {} entries; at most {max_items}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => {
                check_len(&format!("{field}[{i}]"), s, min_len, max_len)?;
                Ok(s.clone())
            }
            _ => Err(field_err(format!("{field}[{i}]"), "must be a string")),
        })
        .collect()
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
