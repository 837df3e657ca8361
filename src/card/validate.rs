//! The field rules of docs/protocol.md §3, applied to a manifest whose signature already verified.
//! Every failure names its field as a JSON path (`skills[3].id`).

use serde_json::{Map, Value};

use super::{CardError, MAX_META_BYTES, MAX_TEXT_CHARS, MAX_URL_CHARS, SCHEMA, field_err};
use super::{MAX_CONCURRENCY, MAX_QPS, MIN_QPS};
use crate::encoding::parse_rfc3339;

/// What `qps_budget` may be: a budget the limiter can honour exactly.
const QPS_RULE: &str = "must be a number from 0.001 (one call every 1,000 s) to 1000000";
/// What `concurrency_limit` may be.
const CONCURRENCY_RULE: &str = "must be an integer from 1 to 1000000";

/// Fields pulled out during validation.
pub(super) struct Fields {
    pub(super) name: String,
    pub(super) issued_at: i64,
    pub(super) expires_at: Option<i64>,
    pub(super) revoked: bool,
    pub(super) endpoint: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) protocols: Vec<String>,
    pub(super) relays: Vec<String>,
    pub(super) qps_budget: Option<f64>,
    pub(super) concurrency_limit: Option<u32>,
}

pub(super) fn validate_manifest(
    m: &Map<String, Value>,
    agent_id: &str,
) -> Result<Fields, CardError> {
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
            Some(q) if (MIN_QPS..=MAX_QPS).contains(&q) => Some(q),
            _ => return Err(field_err("qps_budget", QPS_RULE)),
        },
        Some(_) => return Err(field_err("qps_budget", QPS_RULE)),
    };
    let concurrency_limit = match m.get("concurrency_limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (1..=MAX_CONCURRENCY).contains(&n) => Some(n),
            _ => return Err(field_err("concurrency_limit", CONCURRENCY_RULE)),
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
