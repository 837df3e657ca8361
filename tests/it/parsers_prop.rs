//! Property tests over every parser that reads untrusted network input: fed arbitrary bytes,
//! arbitrary strings, arbitrary JSON and validly signed inputs with parts mutated, none may
//! panic (refusing is fine), and what they accept round-trips.
//!
//! | test | parser |
//! |---|---|
//! | `did_*` | `identity::public_from_did`, `key_bytes_of_did`, `short_id` |
//! | `card_*` | `card::Card::from_slice` / `from_value` / `from_values` |
//! | `request_*`, `response_*` | `handshake::Verifier::verify` / `verify_for`, `verify_response` |
//! | `relay_*` | `relay::decode` (binary frames), `AgentToNode` / `NodeToAgent`, tunnel auth |
//! | `announcement_*` | `federation::Announcement` parsing and `verify` |
//! | `federation_endpoints_*` | `POST /v1/sync/push` and `POST /v1/peers` through the router |
//! | `sync_records_*` | `federation::sync::merge` over the records of a sync page or push |
//! | `rfc3339_*` | `encoding::parse_rfc3339` (card and announcement times) |
//! | `interop_*` | `interop::a2a`, `interop::mcp::content_text`, `interop::find_rpc_answer` |
//! | `fast_jcs_*` | `encoding::jcs_value` / `jcs_map` (what signatures over JSON are made on) against the reference canonicalizer |
//!
//! `request_verify_survives_extreme_timestamps` and `rfc3339_format_is_total` found panics
//! (an overflowing timestamp check, a time formatter outside 1970–9999); they now pass.

use std::fmt::Debug;
use std::sync::{Arc, LazyLock};

use agentmesh::card::{Card, CardError, MAX_ENVELOPE_BYTES, Manifest, Skill, sign_manifest};
use agentmesh::encoding::{b64url, format_rfc3339, now_unix, parse_rfc3339};
use agentmesh::federation::Announcement;
use agentmesh::handshake::{
    H_AGENT_ID, H_NONCE, H_SIGNATURE, H_TARGET, H_TIMESTAMP, HandshakeError, Verifier,
    sign_request, sign_request_with_nonce, sign_response, verify_response,
};
use agentmesh::identity::{
    Identity, did_from_key_bytes, did_from_public, key_bytes_of_did, public_from_did, short_id,
    verify_b64,
};
use agentmesh::relay::{
    AgentToNode, FrameError, NodeToAgent, RequestHead, RequestTag, ResponseHead, ResponseTag,
    auth_signing_string, decode, encode, tunnel_url,
};
use curve25519_dalek::edwards::CompressedEdwardsY;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------
// Shared helpers and strategies
// ---------------------------------------------------------------------------------------------

/// A fixed "now" for signed requests (2026-11-18).
const NOW: i64 = 1_795_000_000;
/// The last second humantime (and so a card time) can spell: 9999-12-31T23:59:59Z.
const MAX_CARD_TIME: i64 = 253_402_300_799;

/// Signs the manifests of the card tests.
static SIGNER: LazyLock<Identity> = LazyLock::new(Identity::generate);
/// The callee of the handshake tests and the relay node of the relay tests.
static TARGET: LazyLock<Identity> = LazyLock::new(Identity::generate);

/// `cases` cases (`PROPTEST_CASES` overrides it, for a longer soak), and no regression files
/// written next to the tests.
fn config(cases: u32) -> ProptestConfig {
    let soak = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    ProptestConfig {
        cases: soak.unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `test` over `strategy` outside `proptest!`, for tests that share one fixture (a node).
fn check<S>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    if let Err(e) = TestRunner::new(config(cases)).run(&strategy, test) {
        panic!("{e}");
    }
}

/// Any text: empty, printable ASCII, any Unicode, control characters and newlines.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ -~]{1,24}",
        "\\PC{0,40}",
        prop::collection::vec(any::<char>(), 0..16).prop_map(String::from_iter),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..300)
}

/// A random Ed25519 identity (from a seed, so a failing case can be replayed).
fn identity() -> impl Strategy<Value = Identity> {
    any::<[u8; 32]>().prop_map(|seed| Identity::from_secret(&seed))
}

/// Numbers at and past every edge a field rule or JCS could trip on.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            1e-300,
            1e308,
            -0.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e-20,
            0.001,
            0.5,
            1.5,
            -1.0,
            1e6,
            1e21,
        ])
        .prop_map(|f| json!(f)),
        prop::sample::select(vec![
            json!(u64::MAX),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(9_007_199_254_740_993_u64),
            json!(u64::from(u32::MAX) + 1),
            json!(u32::MAX),
            json!(1_000_001),
            json!(0),
            json!(1),
            json!(-1),
        ]),
        any::<f64>().prop_filter_map("JSON numbers are finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
    ]
}

/// Strings at the length limits of the field rules, in 1- to 4-byte characters.
fn long_string() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            0_usize, 1, 32, 33, 64, 65, 2048, 2049, 4000, 4001, 9000,
        ]),
        prop::sample::select(vec!["x", "é", "😀", "\u{0}", "\n", "\u{202e}"]),
    )
        .prop_map(|(n, c)| Value::String(c.repeat(n)))
}

/// Object keys: the protocol's field names (so shapes are sometimes almost right) or any text.
fn key() -> impl Strategy<Value = String> {
    const KEYS: &[&str] = &[
        "manifest",
        "manifest_signature",
        "schema",
        "agent_id",
        "name",
        "description",
        "skills",
        "id",
        "tags",
        "protocols",
        "endpoint",
        "relays",
        "issued_at",
        "expires_at",
        "revoked",
        "qps_budget",
        "concurrency_limit",
        "meta",
        "type",
        "method",
        "path",
        "headers",
        "status",
        "node_id",
        "url",
        "signature",
        "from",
        "records",
        "offer",
        "seq",
        "card",
        "nonce",
        "relay_id",
        "content",
        "text",
        "supportedInterfaces",
        "protocolBinding",
        "protocolVersion",
        "result",
        "jsonrpc",
    ];
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => text(),
    ]
}

/// Strings a parser might take for real: IDs, URLs, times, tags of the wire formats.
fn plausible_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(SIGNER.id().to_string()),
        Just(TARGET.id().to_string()),
        Just("did:key:z6Mk".to_string()),
        Just(agentmesh::card::SCHEMA.to_string()),
        Just("http://127.0.0.1:9".to_string()),
        Just(format!("relay://{}", SIGNER.id())),
        Just("request".to_string()),
        Just("response".to_string()),
        Just("auth".to_string()),
        Just("JSONRPC".to_string()),
        Just("text/event-stream".to_string()),
        time_text(),
    ]
}

/// Any JSON value, nested up to four levels.
fn json_value() -> impl Strategy<Value = Value> {
    json_keyed_by(key().boxed())
}

/// Any JSON value, nested up to four levels, its objects' keys drawn from `keys`.
fn json_keyed_by(keys: BoxedStrategy<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
        plausible_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Arbitrary bytes, or the text of arbitrary JSON (so parsers get past the JSON step).
fn bytes_or_json_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes(),
        json_value().prop_map(|v| serde_json::to_vec(&v).expect("a Value serializes")),
    ]
}

/// Times: valid card times, their shape with any digits, near misses and any text.
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..=MAX_CARD_TIME).prop_map(format_rfc3339),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
        "[0-9T:Z.+ -]{18,22}",
        prop::sample::select(vec![
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "2024-02-29T23:59:60Z",
            "2023-02-29T00:00:00Z",
            "2026-11-24T21:00:00.5Z",
            "2026-11-24T21:00:00+01:00",
            "2026-11-24t21:00:00z",
            "2026-11-24 21:00:00Z",
            "+2026-11-24T21:00:00Z",
        ])
        .prop_map(str::to_string),
        text(),
    ]
}

/// A small change to a string, or its replacement.
#[derive(Debug, Clone)]
enum Edit {
    Replace(String),
    Insert(usize, char),
    Remove(usize),
    Truncate(usize),
    Append(String),
}

impl Edit {
    fn apply(&self, s: &str) -> String {
        let mut chars: Vec<char> = s.chars().collect();
        match self {
            Self::Replace(t) => t.clone(),
            Self::Insert(i, c) => {
                chars.insert(i % (chars.len() + 1), *c);
                chars.into_iter().collect()
            }
            Self::Remove(i) => {
                if !chars.is_empty() {
                    chars.remove(i % chars.len());
                }
                chars.into_iter().collect()
            }
            Self::Truncate(i) => chars[..i % (chars.len() + 1)].iter().collect(),
            Self::Append(t) => format!("{s}{t}"),
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        prop_oneof![text(), plausible_string()].prop_map(Edit::Replace),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
        text().prop_map(Edit::Append),
    ]
}

/// Signs `manifest` as `id` whatever it holds (even another `agent_id`), as a forger would.
fn sign_any(manifest: Map<String, Value>, id: &Identity) -> Value {
    let sig = match agentmesh::card::signing_bytes(&manifest) {
        Ok(msg) => id.sign_b64(&msg),
        Err(_) => b64url(&[0; 64]),
    };
    json!({"manifest": manifest, "manifest_signature": sig})
}

/// A minimal valid manifest of `id`, issued at `issued_at`.
fn base_manifest(id: &Identity, issued_at: i64) -> Map<String, Value> {
    let mut m = Manifest::new(id.id(), "svc", issued_at);
    m.endpoint = Some("http://127.0.0.1:9".into());
    match m.to_value() {
        Value::Object(map) => map,
        other => panic!("a manifest is an object, got {other}"),
    }
}

/// The manifest fields, an unknown one and the empty key.
fn manifest_field() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "schema",
        "agent_id",
        "name",
        "description",
        "vector_desc",
        "skills",
        "tags",
        "protocols",
        "endpoint",
        "relays",
        "qps_budget",
        "concurrency_limit",
        "issued_at",
        "expires_at",
        "revoked",
        "meta",
        "x_unknown",
        "",
    ])
    .prop_map(str::to_string)
}

/// Values for a manifest field: extreme numbers, strings at the limits, wrong types, and
/// arrays of strings or skills of every size around the limits.
fn field_value() -> impl Strategy<Value = Value> {
    let skill = prop_oneof![
        (text(), text()).prop_map(|(id, name)| json!({"id": id, "name": name})),
        json_value(),
    ];
    prop_oneof![
        4 => number(),
        2 => long_string(),
        2 => json_value(),
        2 => plausible_string().prop_map(Value::String),
        1 => prop::collection::vec(prop_oneof![text().prop_map(Value::String), long_string()], 0..40)
            .prop_map(Value::Array),
        1 => prop::collection::vec(skill, 0..70).prop_map(Value::Array),
    ]
}

/// Up to four edits of manifest fields (`None` removes the field).
fn manifest_edits() -> impl Strategy<Value = Vec<(String, Option<Value>)>> {
    prop::collection::vec(
        (manifest_field(), prop::option::weighted(0.9, field_value())),
        1..4,
    )
}

fn apply_edits(m: &mut Map<String, Value>, edits: &[(String, Option<Value>)]) {
    for (field, value) in edits {
        match value {
            Some(v) => m.insert(field.clone(), v.clone()),
            None => m.remove(field),
        };
    }
}

/// A manifest every rule accepts, with unknown `x_…` fields on top.
fn valid_manifest() -> impl Strategy<Value = (Manifest, Vec<(String, Value)>)> {
    let skill = (
        "[a-z0-9_-]{1,64}",
        prop::option::of("\\PC{0,40}"),
        prop::option::of("\\PC{0,80}"),
        prop::collection::vec("\\PC{1,20}", 0..3),
        prop::collection::vec("\\PC{0,40}", 0..3),
    )
        .prop_map(|(id, name, description, tags, examples)| Skill {
            id,
            name,
            description,
            tags,
            examples,
            ..Skill::default()
        });
    let text_fields = (
        "\\PC{1,64}",
        "\\PC{0,300}",
        prop::option::of("\\PC{0,300}"),
        prop::collection::vec(skill, 0..4),
        prop::collection::vec("\\PC{1,64}", 0..6),
        prop::collection::vec("[a-z0-9+.-]{1,32}", 0..4),
    );
    let endpoint = prop_oneof![
        "(http|https|ws|wss)://[a-z0-9.-]{1,30}(:[0-9]{1,5})?(/[a-zA-Z0-9/_.~-]{0,40})?",
        Just(format!("relay://{}", SIGNER.id())),
    ];
    let rest = (
        endpoint,
        prop::collection::vec("https?://[a-z0-9.-]{1,30}", 0..=8),
        prop::option::of(prop_oneof![Just(0.01), Just(1000.0), 0.01..1000.0_f64]),
        prop::option::of(1..=1000_u32),
        0..MAX_CARD_TIME,
        prop::option::of(1..100_000_000_i64),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::collection::btree_map(
            "[a-z]{1,8}",
            "\\PC{0,30}",
            0..4,
        )),
    );
    let unknown = prop::collection::vec(("x_[a-z_]{1,10}", json_value()), 0..3);
    (text_fields, rest, unknown).prop_map(
        |(
            (name, description, vector_desc, skills, tags, protocols),
            (endpoint, relays, qps, conc, issued_at, ttl, revoked, no_endpoint, meta),
            unknown,
        )| {
            let mut m = Manifest::new(SIGNER.id(), &name, issued_at);
            m.description = description;
            m.vector_desc = vector_desc;
            m.skills = skills;
            m.tags = tags;
            m.protocols = protocols;
            // Only a tombstone may go without an endpoint.
            m.endpoint = (!(revoked && no_endpoint)).then_some(endpoint);
            m.relays = relays;
            m.qps_budget = qps;
            m.concurrency_limit = conc;
            m.expires_at = ttl
                .map(|t| (issued_at + t).min(MAX_CARD_TIME))
                .filter(|&e| e > issued_at)
                .map(format_rfc3339);
            m.revoked = revoked;
            m.meta = meta.map(|kv| kv.into_iter().map(|(k, v)| (k, json!(v))).collect());
            (m, unknown)
        },
    )
}

/// A verifier's answer must be a refusal with a protocol code, and print.
fn assert_refusal(r: &Result<String, HandshakeError>) -> Result<(), TestCaseError> {
    match r {
        Ok(who) => Err(TestCaseError::fail(format!("accepted as {who}"))),
        Err(e) => {
            let _ = e.to_string();
            prop_assert!(
                [
                    "missing_header",
                    "bad_signature",
                    "wrong_target",
                    "stale_timestamp",
                    "replayed_nonce"
                ]
                .contains(&e.code())
            );
            Ok(())
        }
    }
}

/// The five request headers, in `SignedRequest::headers` order.
const REQUEST_HEADERS: [&str; 5] = [H_AGENT_ID, H_TARGET, H_TIMESTAMP, H_NONCE, H_SIGNATURE];

fn lookup<'a>(
    headers: &'a [(&'static str, Option<String>)],
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// did:key
// ---------------------------------------------------------------------------------------------

/// Encodings no ID may use: the 38 with y ≥ p (y = p + k, k < 19, either sign bit), the two
/// with x = 0 and the sign bit set, and the eight points of small order.
fn bad_key() -> impl Strategy<Value = [u8; 32]> {
    let y_over_p = (0..19_u8, any::<bool>()).prop_map(|(k, sign)| {
        // p = 2^255 - 19: little-endian ed ff … ff 7f.
        let mut y = [0xff_u8; 32];
        y[0] = 0xed + k;
        y[31] = 0x7f | if sign { 0x80 } else { 0 };
        y
    });
    let mut minus_zero_x = [[0_u8; 32], [0xff_u8; 32]];
    minus_zero_x[0][0] = 1; // y = 1
    minus_zero_x[1][0] = 0xec; // y = p - 1
    for y in &mut minus_zero_x {
        y[31] |= 0x80;
    }
    let small_order = curve25519_dalek::constants::EIGHT_TORSION.map(|p| p.compress().to_bytes());
    prop_oneof![
        y_over_p,
        prop::sample::select(minus_zero_x.to_vec()),
        prop::sample::select(small_order.to_vec()),
    ]
}

/// Strings that are, or are near, a did:key.
fn did_like() -> impl Strategy<Value = String> {
    const B58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    prop_oneof![
        text(),
        "did:key:z[1-9A-HJ-NP-Za-km-z]{0,70}",
        "did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{40,48}",
        // Any payload in base58: wrong multicodec, wrong length, leading zero bytes.
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| format!("did:key:z{}", bs58::encode(b).into_string())),
        // An Ed25519 prefix over any 32 bytes: points off the curve, small order, y ≥ p.
        prop_oneof![any::<[u8; 32]>(), bad_key()].prop_map(|k| did_from_key_bytes(&k)),
        (identity(), edit()).prop_map(|(id, e)| e.apply(id.id())),
        (
            identity(),
            0..3_usize,
            prop::sample::select(B58.chars().collect::<Vec<_>>())
        )
            .prop_map(|(id, n, c)| format!("{}{}", id.id(), c.to_string().repeat(n + 1))),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Any string: parsing never panics, and whatever parses is the one canonical spelling of
    /// its key (base58 and point encoding), so one key never has two IDs.
    #[test]
    fn did_parsing_never_panics_and_accepts_only_canonical_ids(did in did_like()) {
        let _ = short_id(&did);
        match public_from_did(&did) {
            Ok(key) => {
                prop_assert_eq!(did_from_public(&key), did.clone());
                prop_assert_eq!(key_bytes_of_did(&did), Some(key.to_bytes()));
                prop_assert!(!key.is_weak());
                let point = CompressedEdwardsY(key.to_bytes()).decompress();
                prop_assert_eq!(point.map(|p| p.compress().to_bytes()), Some(key.to_bytes()));
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        if let Some(raw) = key_bytes_of_did(&did) {
            prop_assert_eq!(did_from_key_bytes(&raw), did);
        }
    }

    /// Any 32 bytes round-trip through `key_bytes_of_did`; a real key through
    /// `public_from_did`; a non-canonical or small-order point is refused.
    #[test]
    fn did_round_trips_keys(raw in any::<[u8; 32]>(), id in identity(), bad in bad_key()) {
        prop_assert_eq!(key_bytes_of_did(&did_from_key_bytes(&raw)), Some(raw));
        prop_assert_eq!(public_from_did(id.id()), Ok(id.verifying_key()));
        prop_assert!(public_from_did(&did_from_key_bytes(&bad)).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Card envelopes
// ---------------------------------------------------------------------------------------------

/// Envelope-shaped values: a real manifest or any JSON under `manifest`, any signature.
fn envelope_like() -> impl Strategy<Value = Value> {
    let manifest = prop_oneof![
        manifest_edits().prop_map(|edits| {
            let mut m = base_manifest(&SIGNER, NOW);
            apply_edits(&mut m, &edits);
            Value::Object(m)
        }),
        json_value(),
    ];
    let signature = prop_oneof![
        json_value(),
        prop::collection::vec(any::<u8>(), 60..68).prop_map(|b| Value::String(b64url(&b))),
    ];
    (manifest, signature, any::<bool>()).prop_map(|(m, s, drop_sig)| {
        if drop_sig {
            json!({ "manifest": m })
        } else {
            json!({ "manifest": m, "manifest_signature": s })
        }
    })
}

/// Number spellings at the edge of what JSON parsers take.
const NUMBER_LITERALS: &[&str] = &[
    "1e400",
    "-1e400",
    "1E-400",
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "1000000.0000000001",
    "-0",
    "-0.0",
    "0.0000000000000000000000000001",
    "1.0",
    "1e0",
    "00",
    "+1",
    "NaN",
    "Infinity",
    "1e",
    "--1",
    "0x10",
];

/// An envelope's JSON text with `field` spelled as `literal`, signed over the value that text
/// parses to (a random signature when it does not parse): returns the text and the parsed
/// envelope, if any.
fn envelope_text_with_literal(field: &str, literal: &str) -> (Vec<u8>, Option<Value>) {
    let mut m = base_manifest(&SIGNER, NOW);
    m.remove(field);
    let rest = serde_json::to_string(&m).expect("a map serializes");
    let parsed = serde_json::from_str::<Value>(literal).ok().map(|v| {
        let mut with = m.clone();
        with.insert(field.to_string(), v);
        sign_any(with, &SIGNER)
    });
    let sig = parsed.as_ref().map_or_else(
        || json!(b64url(&[7; 64])),
        |e| e["manifest_signature"].clone(),
    );
    let field = serde_json::to_string(field).expect("a string serializes");
    let text = format!(
        r#"{{"manifest":{{{field}:{literal},{}, "manifest_signature":{sig}}}"#,
        &rest[1..]
    );
    (text.into_bytes(), parsed)
}

/// What a node would make of a card: the invariants of an accepted card.
fn check_accepted(card: &Card, envelope: &Value) -> Result<(), TestCaseError> {
    prop_assert_eq!(card.envelope(), envelope);
    prop_assert_eq!(card.agent_id.as_str(), SIGNER.id());
    prop_assert!((1..=64).contains(&card.name.chars().count()));
    prop_assert!(card.revoked || card.endpoint.is_some());
    prop_assert!(card.expires_at.is_none_or(|e| e > card.issued_at));
    prop_assert!(card.qps_budget.is_none_or(|q| q.is_finite() && q > 0.0));
    prop_assert!(card.concurrency_limit.is_none_or(|c| c >= 1));
    prop_assert!((0..=MAX_CARD_TIME + 1).contains(&card.issued_at));
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary bytes, JSON and envelope-shaped values are refused, never a panic.
    #[test]
    fn card_envelope_parsing_never_panics_on_arbitrary_input(
        raw in bytes_or_json_text(),
        value in prop_oneof![json_value(), envelope_like()],
    ) {
        prop_assert!(Card::from_slice(&raw).is_err());
        let text = serde_json::to_vec(&value).expect("a Value serializes");
        let from_text = Card::from_slice(&text);
        let from_value = Card::from_value(value.clone());
        prop_assert!(from_value.is_err());
        if text.len() <= MAX_ENVELOPE_BYTES {
            prop_assert_eq!(&from_text, &from_value);
        }
        let batch = Card::from_values(vec![value]);
        prop_assert_eq!(batch.len(), 1);
        prop_assert_eq!(&batch[0], &from_value);
        if let Err(e) = from_value {
            let _ = e.to_string();
        }
    }

    /// Validly signed manifests whose fields are set to extreme values and wrong types: the
    /// signature verifies, so the field rules run; they refuse or accept without panicking,
    /// alone, in a batch and from the envelope's text alike.
    #[test]
    fn card_envelopes_with_extreme_signed_fields_never_panic(
        edits in manifest_edits(),
        literal_field in manifest_field(),
        literal in prop::sample::select(NUMBER_LITERALS),
    ) {
        let mut m = base_manifest(&SIGNER, NOW);
        apply_edits(&mut m, &edits);
        let envelope = sign_any(m, &SIGNER);
        let alone = Card::from_value(envelope.clone());
        if let Ok(card) = &alone {
            check_accepted(card, &envelope)?;
        }
        let text = serde_json::to_vec(&envelope).expect("a Value serializes");
        let from_text = Card::from_slice(&text);
        if text.len() <= MAX_ENVELOPE_BYTES {
            prop_assert_eq!(&from_text, &alone);
        } else {
            let too_large = matches!(from_text, Err(CardError::TooLarge { .. }));
            prop_assert!(too_large);
        }
        // Two envelopes take the batch (multiscalar) path; it must agree with the single check.
        let other = sign_any(base_manifest(&SIGNER, NOW + 1), &SIGNER);
        let batch = Card::from_values(vec![envelope, other]);
        prop_assert_eq!(&batch[0], &alone);
        prop_assert!(batch[1].is_ok());

        // The same at the byte level, with numbers spelled as JSON parsers disagree on.
        let (text, parsed) = envelope_text_with_literal(&literal_field, literal);
        let from_text = Card::from_slice(&text);
        match parsed {
            Some(envelope) => prop_assert_eq!(from_text, Card::from_value(envelope)),
            None => {
                let invalid_json = matches!(from_text, Err(CardError::InvalidJson(_)));
                prop_assert!(invalid_json);
            }
        }
    }

    /// Every valid card round-trips (bytes, reordered keys, batch), and any change to its
    /// manifest after signing is caught by the signature before a field rule looks at it.
    #[test]
    fn card_valid_envelopes_round_trip_and_tampering_is_caught(
        (manifest, unknown) in valid_manifest(),
        tamper in (manifest_field(), prop::option::weighted(0.9, field_value())),
    ) {
        let mut value = manifest.to_value();
        for (k, v) in &unknown {
            value[k] = v.clone();
        }
        let envelope = sign_manifest(value, &SIGNER).expect("a valid manifest signs");
        let text = serde_json::to_vec(&envelope).expect("a Value serializes");
        prop_assume!(text.len() <= MAX_ENVELOPE_BYTES);
        let card = Card::from_slice(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_accepted(&card, &envelope)?;
        prop_assert_eq!(&card.name, &manifest.name);
        prop_assert_eq!(Some(card.issued_at), parse_rfc3339(&manifest.issued_at));
        prop_assert_eq!(card.expires_at, manifest.expires_at.as_deref().and_then(parse_rfc3339));
        prop_assert_eq!(card.revoked, manifest.revoked);
        prop_assert_eq!(&card.endpoint, &manifest.endpoint);
        prop_assert_eq!(&card.tags, &manifest.tags);
        prop_assert_eq!(&card.protocols, &manifest.protocols);
        prop_assert_eq!(&card.relays, &manifest.relays);
        prop_assert_eq!(card.qps_budget, manifest.qps_budget);
        prop_assert_eq!(card.concurrency_limit, manifest.concurrency_limit);
        // The typed view reads back every field, and keeps the unknown ones as signed.
        let mut expected = manifest.clone();
        expected.extra = unknown.into_iter().collect();
        prop_assert_eq!(card.fields(), expected);
        let pretty = serde_json::to_string_pretty(&envelope).expect("a Value serializes");
        prop_assert_eq!(Card::from_slice(pretty.as_bytes()), Ok(card.clone()));
        prop_assert_eq!(Card::from_values(vec![envelope.clone()]), vec![Ok(card)]);

        let (field, value) = tamper;
        let mut tampered = envelope.clone();
        let m = tampered["manifest"].as_object_mut().expect("an envelope has a manifest");
        let before = agentmesh::card::signing_bytes(m).expect("it was signed");
        match value {
            Some(v) => m.insert(field.clone(), v),
            None => m.remove(&field),
        };
        let same_bytes = agentmesh::card::signing_bytes(m).ok() == Some(before);
        let r = Card::from_value(tampered);
        if same_bytes {
            prop_assert!(r.is_ok(), "{r:?}");
        } else if field == "agent_id" {
            let refused_id = matches!(
                &r,
                Err(CardError::InvalidId(_) | CardError::BadSignature(_))
            ) || matches!(&r, Err(CardError::InvalidField { field, .. }) if field == "agent_id");
            prop_assert!(refused_id, "{r:?}");
        } else {
            let bad_signature = matches!(r, Err(CardError::BadSignature(_)));
            prop_assert!(bad_signature, "{r:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signed requests and responses
// ---------------------------------------------------------------------------------------------

/// A value for request header `i`: absent, any text, or one that passes that header's check.
fn request_header(i: usize) -> BoxedStrategy<Option<String>> {
    let plausible: BoxedStrategy<String> = match i {
        0 => prop_oneof![identity().prop_map(|id| id.id().to_string()), did_like()].boxed(),
        1 => prop_oneof![Just(TARGET.id().to_string()), did_like()].boxed(),
        // Wide, but short of i64's edges (those are `request_verify_survives_extreme_timestamps`).
        2 => prop_oneof![
            (-100..=100_i64).prop_map(|d| (NOW + d).to_string()),
            (-(1_i64 << 60)..(1_i64 << 60)).prop_map(|t| t.to_string()),
        ]
        .boxed(),
        3 => prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| b64url(&b))
            .boxed(),
        _ => prop::collection::vec(any::<u8>(), 60..68)
            .prop_map(|b| b64url(&b))
            .boxed(),
    };
    prop_oneof![
        1 => Just(None),
        2 => text().prop_map(Some),
        4 => plausible.prop_map(Some),
    ]
    .boxed()
}

fn request_headers() -> impl Strategy<Value = Vec<Option<String>>> {
    (0..5).map(request_header).collect::<Vec<_>>()
}

/// Methods, including lowercase spellings (the signing string upper-cases them).
fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["GET", "POST", "put", "Delete", "PATCH"])
            .prop_map(str::to_string),
        text(),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof!["/[a-zA-Z0-9/_.~?=&%-]{0,40}", text()]
}

/// One change to a signed request.
#[derive(Debug, Clone)]
enum RequestChange {
    Method(String),
    Path(Edit),
    Body(Vec<u8>),
    Header(usize, Edit),
    DropHeader(usize),
    Clock(i64),
}

fn request_change() -> impl Strategy<Value = RequestChange> {
    prop_oneof![
        1 => method().prop_map(RequestChange::Method),
        1 => edit().prop_map(RequestChange::Path),
        1 => bytes().prop_map(RequestChange::Body),
        3 => (0..5_usize, edit()).prop_map(|(i, e)| RequestChange::Header(i, e)),
        1 => (0..5_usize).prop_map(RequestChange::DropHeader),
        1 => prop_oneof![-60..=60_i64, 61..1_000_000_i64, -1_000_000..-60_i64]
            .prop_map(RequestChange::Clock),
    ]
}

/// The timestamp header is the very text signed: another spelling of the same second
/// (`+T`, `0T`) is refused in a request and in a response, and the canonical one still passes
/// after them (a refusal burns no nonce).
#[test]
fn timestamps_are_refused_in_any_spelling_but_the_signed_one() {
    let caller = Identity::generate();
    let nonce = b64url(&[7; 16]);
    let signed = sign_request_with_nonce(&caller, TARGET.id(), "POST", "/x", b"{}", NOW, &nonce);
    let original: Vec<(&'static str, Option<String>)> = signed
        .headers()
        .into_iter()
        .map(|(n, v)| (n, Some(v)))
        .collect();
    let response = sign_response(&TARGET, 200, &nonce, b"ok", NOW);
    let answer = |timestamp: String| {
        [
            (H_AGENT_ID, Some(response.agent_id.clone())),
            (H_TIMESTAMP, Some(timestamp)),
            (H_SIGNATURE, Some(response.signature.clone())),
        ]
    };
    let verifier = Verifier::new(TARGET.id(), 60, 1000);
    for spelling in [
        format!("+{NOW}"),
        format!("0{NOW}"),
        format!("{NOW} "),
        format!("{NOW}.0"),
    ] {
        let mut request = original.clone();
        request[2].1 = Some(spelling.clone());
        let got = verifier.verify(lookup(&request), "POST", "/x", b"{}", NOW);
        assert_eq!(
            got.map_err(|e| e.code()),
            Err("stale_timestamp"),
            "request with {spelling:?}"
        );
        let got = verify_response(
            TARGET.id(),
            200,
            &nonce,
            lookup(&answer(spelling.clone())),
            b"ok",
        );
        assert_eq!(
            got.map_err(|e| e.code()),
            Err("stale_timestamp"),
            "response with {spelling:?}"
        );
    }
    assert_eq!(
        verifier.verify(lookup(&original), "POST", "/x", b"{}", NOW),
        Ok(caller.id().to_string())
    );
    assert_eq!(
        verify_response(
            TARGET.id(),
            200,
            &nonce,
            lookup(&answer(NOW.to_string())),
            b"ok"
        ),
        Ok(())
    );
}

proptest! {
    #![proptest_config(config(256))]

    /// Any header values, method, path and body: refused with a protocol code, never a panic.
    #[test]
    fn request_verify_never_panics_on_arbitrary_headers(
        values in request_headers(),
        method in method(),
        path in path(),
        body in bytes(),
        skew in -100..=100_i64,
        other_target in did_like(),
    ) {
        let headers: Vec<(&'static str, Option<String>)> =
            REQUEST_HEADERS.iter().copied().zip(values).collect();
        let verifier = Verifier::new(TARGET.id(), 60, 1000);
        assert_refusal(&verifier.verify(lookup(&headers), &method, &path, &body, NOW + skew))?;
        assert_refusal(&verifier.verify_for(
            &other_target,
            lookup(&headers),
            &method,
            &path,
            &body,
            NOW + skew,
        ))?;
    }

    /// A validly signed request verifies exactly when a change leaves what was signed intact;
    /// a refused attempt burns nothing, so the original still verifies after it.
    #[test]
    fn request_verify_refuses_mutated_signed_requests(
        caller in identity(),
        method in method(),
        path in path(),
        body in bytes(),
        nonce in prop::collection::vec(any::<u8>(), 16..33),
        change in request_change(),
    ) {
        let nonce = b64url(&nonce);
        let signed =
            sign_request_with_nonce(&caller, TARGET.id(), &method, &path, &body, NOW, &nonce);
        let original: Vec<(&'static str, Option<String>)> =
            signed.headers().into_iter().map(|(n, v)| (n, Some(v))).collect();
        let (mut m, mut p, mut b, mut h, mut now) =
            (method.clone(), path.clone(), body.clone(), original.clone(), NOW);
        let unchanged = match &change {
            RequestChange::Method(new) => {
                m = new.clone();
                m.eq_ignore_ascii_case(&method)
            }
            RequestChange::Path(e) => {
                p = e.apply(&path);
                // An empty query is no query (docs/protocol.md §4): `/x?` is the path `/x`.
                let bare = |s: &str| s.strip_suffix('?').unwrap_or(s).to_string();
                bare(&p) == bare(&path)
            }
            RequestChange::Body(new) => {
                b = new.clone();
                b == body
            }
            RequestChange::Header(i, e) => {
                let old = original[*i].1.clone().unwrap_or_default();
                let new = e.apply(&old);
                h[*i].1 = Some(new.clone());
                // Only the signed text itself: `+1795000000` or `01795000000` is refused
                // (docs/protocol.md: the timestamp header is the very text signed).
                new == old
            }
            RequestChange::DropHeader(i) => {
                h[*i].1 = None;
                false
            }
            RequestChange::Clock(d) => {
                now = NOW + d;
                d.abs() <= 60
            }
        };
        let verifier = Verifier::new(TARGET.id(), 60, 1000);
        let got = verifier.verify(lookup(&h), &m, &p, &b, now);
        if unchanged {
            prop_assert_eq!(got, Ok(caller.id().to_string()));
        } else {
            assert_refusal(&got)?;
            let again = verifier.verify(lookup(&original), &method, &path, &body, NOW);
            prop_assert_eq!(again, Ok(caller.id().to_string()));
        }
    }

    /// Response headers: arbitrary ones are refused; a signed response verifies only for its
    /// own status, request nonce, responder and body.
    #[test]
    fn response_verify_never_panics_and_refuses_mutations(
        values in (request_header(0), request_header(2), request_header(4)),
        status in any::<u16>(),
        request_nonce in text(),
        body in bytes(),
        change in (0..6_usize, edit(), any::<u16>(), bytes()),
    ) {
        let arbitrary = [
            (H_AGENT_ID, values.0),
            (H_TIMESTAMP, values.1),
            (H_SIGNATURE, values.2),
        ];
        let r = verify_response(TARGET.id(), status, &request_nonce, lookup(&arbitrary), &body);
        prop_assert!(r.is_err());

        let signed = sign_response(&TARGET, status, &request_nonce, &body, NOW);
        let mut headers = [
            (H_AGENT_ID, Some(signed.agent_id.clone())),
            (H_TIMESTAMP, Some(signed.timestamp.to_string())),
            (H_SIGNATURE, Some(signed.signature.clone())),
        ];
        let (which, e, new_status, new_body) = change;
        let (mut s, mut n, mut b) = (status, request_nonce.clone(), body.clone());
        let unchanged = match which {
            0..=2 => {
                let old = headers[which].1.clone().unwrap_or_default();
                let new = e.apply(&old);
                headers[which].1 = Some(new.clone());
                // As for requests, another spelling of the signed second is refused.
                new == old
            }
            3 => {
                s = new_status;
                s == status
            }
            4 => {
                n = e.apply(&request_nonce);
                n == request_nonce
            }
            _ => {
                b = new_body;
                b == body
            }
        };
        let r = verify_response(TARGET.id(), s, &n, lookup(&headers), &b);
        prop_assert_eq!(r.is_ok(), unchanged, "{:?}", r);
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Timestamps at i64's edges, from a caller with a valid ID addressing the verifier.
    #[test]
    fn request_verify_survives_extreme_timestamps(
        caller in identity(),
        ts in prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            i64::MIN..i64::MIN + (1 << 40),
            i64::MAX - (1 << 40)..=i64::MAX,
        ],
    ) {
        let signed = sign_request(&caller, TARGET.id(), "GET", "/", b"", ts);
        let verifier = Verifier::new(TARGET.id(), 60, 1000);
        assert_refusal(&verifier.verify(|h| signed.get(h), "GET", "/", b"", NOW))?;
    }
}

// ---------------------------------------------------------------------------------------------
// Relay
// ---------------------------------------------------------------------------------------------

fn header_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((text(), text()), 0..5)
}

fn request_head() -> impl Strategy<Value = RequestHead> {
    (any::<u64>(), method(), path(), header_pairs()).prop_map(|(id, method, path, headers)| {
        RequestHead {
            kind: RequestTag::Request,
            id,
            method,
            path,
            headers,
        }
    })
}

fn response_head() -> impl Strategy<Value = ResponseHead> {
    (any::<u64>(), any::<u16>(), header_pairs()).prop_map(|(id, status, headers)| ResponseHead {
        kind: ResponseTag::Response,
        id,
        status,
        headers,
    })
}

/// The length prefix of a generated frame.
#[derive(Debug, Clone)]
enum Length {
    Exact,
    Off(i64),
    Fixed(u32),
}

/// Frames whose length prefix and head are each right, near right or wrong.
fn frame_like() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        request_head().prop_map(|h| serde_json::to_value(h).expect("a head serializes")),
        response_head().prop_map(|h| serde_json::to_value(h).expect("a head serializes")),
        json_value(),
    ];
    let head = (head, prop::collection::vec((key(), json_value()), 0..2)).prop_map(|(h, kv)| {
        let mut h = h;
        if let Value::Object(o) = &mut h {
            o.extend(kv);
        }
        serde_json::to_vec(&h).expect("a Value serializes")
    });
    // The true length, off by a few, or far too large.
    let length = prop_oneof![
        Just(Length::Exact),
        (-3..=3_i64).prop_map(Length::Off),
        prop::sample::select(vec![u32::MAX, 64 * 1024, 64 * 1024 + 1]).prop_map(Length::Fixed),
    ];
    (head, length, bytes()).prop_map(|(head, length, body)| {
        let n = match length {
            Length::Exact => head.len() as u32,
            Length::Off(d) => (head.len() as i64 + d).clamp(0, u32::MAX.into()) as u32,
            Length::Fixed(n) => n,
        };
        let mut frame = n.to_be_bytes().to_vec();
        frame.extend_from_slice(&head);
        frame.extend_from_slice(&body);
        frame
    })
}

/// A decoded frame's body is the frame's tail after its declared head.
fn check_decoded<H>(frame: &[u8], r: Result<(H, &[u8]), FrameError>) -> Result<(), TestCaseError> {
    match r {
        Ok((_, body)) => {
            let n = u32::from_be_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
            prop_assert_eq!(4 + n + body.len(), frame.len());
            prop_assert!(frame.ends_with(body));
        }
        Err(e) => {
            let _ = e.to_string();
            if frame.len() < 4 {
                prop_assert_eq!(e, FrameError::Truncated);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes and any near-frames decode or are refused in both directions, never a panic.
    #[test]
    fn relay_decode_never_panics_on_arbitrary_frames(
        frame in prop_oneof![bytes(), frame_like()],
    ) {
        check_decoded(&frame, decode::<RequestHead>(&frame))?;
        check_decoded(&frame, decode::<ResponseHead>(&frame))?;
        check_decoded(&frame, decode::<Value>(&frame))?;
    }

    /// Every head and body round-trips; the other direction's decoder refuses it; every cut
    /// inside the head is `Truncated`.
    #[test]
    fn relay_frames_round_trip(
        request in request_head(),
        response in response_head(),
        body in bytes(),
        cut in any::<usize>(),
    ) {
        let frame = encode(&request, &body);
        prop_assert_eq!(decode::<RequestHead>(&frame), Ok((request, &body[..])));
        let wrong_direction = matches!(decode::<ResponseHead>(&frame), Err(FrameError::Head(_)));
        prop_assert!(wrong_direction);
        let head_end = frame.len() - body.len();
        prop_assert_eq!(
            decode::<RequestHead>(&frame[..cut % head_end]).map(|_| ()),
            Err(FrameError::Truncated)
        );

        let frame = encode(&response, &body);
        prop_assert_eq!(decode::<ResponseHead>(&frame), Ok((response, &body[..])));
        let wrong_direction = matches!(decode::<RequestHead>(&frame), Err(FrameError::Head(_)));
        prop_assert!(wrong_direction);
    }

    /// Control messages: any text parses or is refused; real ones round-trip; the tunnel's
    /// auth check (as the relay server runs it) passes only the key holder's answer to this
    /// challenge.
    #[test]
    fn relay_control_messages_and_auth_never_panic(
        raw in prop_oneof![bytes_or_json_text(), text().prop_map(String::into_bytes)],
        agent in identity(),
        nonce in prop::collection::vec(any::<u8>(), 32),
        message in (text(), text(), text()),
        change in (0..3_usize, edit()),
        base in text(),
    ) {
        if let Ok(AgentToNode::Auth { agent_id, signature }) = serde_json::from_slice(&raw) {
            let r = verify_b64(
                &agent_id,
                auth_signing_string(TARGET.id(), &agent_id, "n").as_bytes(),
                &signature,
            );
            prop_assert!(r.is_err());
        }
        let _ = serde_json::from_slice::<NodeToAgent>(&raw);
        let _ = tunnel_url(&base, agent.id());

        let (a, b, c) = message;
        for m in [
            NodeToAgent::Challenge { nonce: a.clone(), relay_id: b.clone() },
            NodeToAgent::Ready,
            NodeToAgent::Error { code: a, message: c },
        ] {
            let text = serde_json::to_string(&m).expect("a message serializes");
            prop_assert_eq!(serde_json::from_str::<NodeToAgent>(&text).ok(), Some(m));
        }

        let nonce = b64url(&nonce);
        let signing = auth_signing_string(TARGET.id(), agent.id(), &nonce);
        let auth = AgentToNode::Auth {
            agent_id: agent.id().to_string(),
            signature: agent.sign_b64(signing.as_bytes()),
        };
        let text = serde_json::to_string(&auth).expect("a message serializes");
        prop_assert_eq!(serde_json::from_str::<AgentToNode>(&text).ok(), Some(auth.clone()));
        let AgentToNode::Auth { mut agent_id, mut signature } = auth;
        let (which, e) = change;
        let mut nonce_seen = nonce.clone();
        match which {
            0 => agent_id = e.apply(&agent_id),
            1 => signature = e.apply(&signature),
            _ => nonce_seen = e.apply(&nonce),
        }
        let unchanged = agent_id == agent.id()
            && signature == agent.sign_b64(signing.as_bytes())
            && nonce_seen == nonce;
        // The server checks the claimed ID against the tunnel's, then the signature.
        let r = verify_b64(
            agent.id(),
            auth_signing_string(TARGET.id(), agent.id(), &nonce_seen).as_bytes(),
            &signature,
        );
        prop_assert_eq!(r.is_ok() && agent_id == agent.id(), unchanged);
    }
}

// ---------------------------------------------------------------------------------------------
// Federation
// ---------------------------------------------------------------------------------------------

fn announcement_like() -> impl Strategy<Value = Vec<u8>> {
    let fields = (
        prop_oneof![did_like(), identity().prop_map(|id| id.id().to_string())],
        prop_oneof![text(), Just("http://127.0.0.1:1".to_string())],
        time_text(),
        prop_oneof![
            text(),
            prop::collection::vec(any::<u8>(), 64).prop_map(|b| b64url(&b))
        ],
    )
        .prop_map(|(node_id, url, issued_at, signature)| {
            json!({"node_id": node_id, "url": url, "issued_at": issued_at, "signature": signature})
        });
    let value = (fields, prop::collection::vec((key(), json_value()), 0..2)).prop_map(|(v, kv)| {
        let mut v = v;
        if let Value::Object(o) = &mut v {
            o.extend(kv);
        }
        v
    });
    prop_oneof![
        bytes_or_json_text(),
        value.prop_map(|v| serde_json::to_vec(&v).expect("a Value serializes")),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Any body of `POST /v1/peers`: it parses or not, and a parsed announcement round-trips
    /// and fails verification (nobody signed it), never a panic.
    #[test]
    fn announcement_parsing_never_panics(raw in announcement_like(), skew in -400..=400_i64) {
        if let Ok(a) = serde_json::from_slice::<Announcement>(&raw) {
            let _ = public_from_did(&a.node_id);
            prop_assert!(a.verify(now_unix() + skew).is_err());
            let text = serde_json::to_vec(&a).expect("an announcement serializes");
            prop_assert_eq!(serde_json::from_slice::<Announcement>(&text).ok(), Some(a));
        }
    }

    /// A signed announcement round-trips and verifies within ±5 minutes; changing any field
    /// makes it fail, as does a clock more than 5 minutes away.
    #[test]
    fn announcement_signed_round_trips_and_refuses_mutations(
        node in identity(),
        url in prop_oneof![text(), "https?://[a-z0-9.:-]{1,40}"],
        change in (0..4_usize, edit()),
        late in 301..100_000_i64,
        sign in any::<bool>(),
    ) {
        let a = Announcement::sign(&node, &url);
        let now = now_unix();
        let text = serde_json::to_vec(&a).expect("an announcement serializes");
        prop_assert_eq!(serde_json::from_slice::<Announcement>(&text).ok(), Some(a.clone()));
        prop_assert!(a.verify(now).is_ok());
        let away = if sign { now + late } else { now - late };
        prop_assert!(a.verify(away).is_err());

        let (which, e) = change;
        let mut m = a.clone();
        let field = match which {
            0 => &mut m.node_id,
            1 => &mut m.url,
            2 => &mut m.issued_at,
            _ => &mut m.signature,
        };
        *field = e.apply(field);
        prop_assert_eq!(m.verify(now).is_ok(), m == a);
    }
}

/// A node's state and router over a temporary store, driven on its own runtime.
struct TestNode {
    rt: tokio::runtime::Runtime,
    state: agentmesh::node::AppState,
    app: axum::Router,
    id: Identity,
    _dir: tempfile::TempDir,
}

impl TestNode {
    fn new() -> Self {
        use agentmesh::discovery::{DEFAULT_LEXICAL_WEIGHT, Discovery, builtin_embedder};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        let dir = tempfile::tempdir().expect("a temp dir");
        let id = Identity::generate();
        let state = rt.block_on(async {
            let store = agentmesh::store::Store::open(dir.path(), Default::default())
                .expect("the store opens");
            let discovery = Arc::new(Discovery::new(builtin_embedder(), DEFAULT_LEXICAL_WEIGHT));
            agentmesh::node::AppState::new(store, id.clone(), discovery, None)
        });
        let app = agentmesh::node::router(state.clone());
        Self {
            rt,
            state,
            app,
            id,
            _dir: dir,
        }
    }

    /// POSTs `body` to `path` with `headers`; the status and the JSON answer.
    fn post(&self, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let mut req = axum::http::Request::post(path).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(axum::body::Body::from(body))
            .expect("a request builds");
        self.rt.block_on(async {
            let res = self.app.clone().oneshot(req).await.expect("infallible");
            let status = res.status().as_u16();
            let bytes = res
                .into_body()
                .collect()
                .await
                .expect("the body reads")
                .to_bytes();
            let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, v)
        })
    }
}

/// One request to a federation endpoint.
#[derive(Debug, Clone)]
enum FedCall {
    /// Any bytes to `POST /v1/sync/push`.
    Push(Vec<u8>),
    /// Any bytes to `POST /v1/peers`.
    Announce(Vec<u8>),
    /// An unsigned offer of digests.
    Offer(String, Vec<(Value, Value, Value)>),
    /// A push of records, signed by the key of this seed, claiming to be `from` (the signer if
    /// `None`).
    Signed([u8; 32], Option<String>, Vec<Value>),
}

fn fed_call() -> impl Strategy<Value = FedCall> {
    let digest_part = prop_oneof![json_value(), did_like().prop_map(Value::String)];
    prop_oneof![
        bytes_or_json_text().prop_map(FedCall::Push),
        announcement_like().prop_map(FedCall::Announce),
        (
            text(),
            prop::collection::vec(
                (digest_part, number(), text().prop_map(Value::String)),
                0..8
            )
        )
            .prop_map(|(from, offer)| FedCall::Offer(from, offer)),
        (
            any::<[u8; 32]>(),
            prop::option::weighted(0.2, text()),
            prop::collection::vec(json_value(), 1..4)
        )
            .prop_map(|(id, from, records)| FedCall::Signed(id, from, records)),
    ]
}

/// Arbitrary, valid, edited and tampered records of a sync page. Signed ones get a fresh key
/// each, so no two records (nor two cases on the same node) are versions of one agent.
#[derive(Debug, Clone)]
enum Record {
    Arbitrary(Value),
    Valid,
    Edited(Vec<(String, Option<Value>)>),
    Tampered(String, Value),
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        prop_oneof![json_value(), envelope_like()].prop_map(Record::Arbitrary),
        Just(Record::Valid),
        manifest_edits().prop_map(Record::Edited),
        (manifest_field(), field_value()).prop_map(|(f, v)| Record::Tampered(f, v)),
    ]
}

impl Record {
    fn envelope(&self, now: i64) -> Value {
        let id = Identity::generate();
        match self {
            Self::Arbitrary(v) => v.clone(),
            Self::Valid => sign_any(base_manifest(&id, now - 10), &id),
            Self::Edited(edits) => {
                let mut m = base_manifest(&id, now - 10);
                apply_edits(&mut m, edits);
                sign_any(m, &id)
            }
            Self::Tampered(field, value) => {
                let mut e = sign_any(base_manifest(&id, now - 10), &id);
                e["manifest"][field.as_str()] = value.clone();
                e
            }
        }
    }
}

/// `POST /v1/sync/push` and `POST /v1/peers` with arbitrary bodies, offers and signed pushes
/// of arbitrary records: every answer is a JSON client error or a well-formed success, never a
/// 5xx (the router turns a panic into a 500).
#[test]
fn federation_endpoints_never_fail_on_arbitrary_bodies() {
    let node = TestNode::new();
    check(256, fed_call(), |call| {
        match call {
            FedCall::Push(body) => {
                let (status, v) = node.post("/v1/sync/push", &[], body);
                prop_assert!(
                    (400..500).contains(&status) || status == 200,
                    "{status} {v}"
                );
            }
            FedCall::Announce(body) => {
                let (status, v) = node.post("/v1/peers", &[], body);
                prop_assert!((400..500).contains(&status), "{status} {v}");
            }
            FedCall::Offer(from, offer) => {
                let n = offer.len();
                let offer: Vec<Value> = offer
                    .into_iter()
                    .map(|(a, b, c)| json!([a, b, c]))
                    .collect();
                let body =
                    serde_json::to_vec(&json!({"from": from, "records": [], "offer": offer}))
                        .expect("a Value serializes");
                let (status, v) = node.post("/v1/sync/push", &[], body);
                prop_assert!(
                    (400..500).contains(&status) || status == 200,
                    "{status} {v}"
                );
                if status == 200 {
                    let want = v["want"].as_array().expect("an answer lists `want`");
                    prop_assert!(
                        want.iter()
                            .all(|i| i.as_u64().is_some_and(|i| (i as usize) < n))
                    );
                }
            }
            FedCall::Signed(seed, from, records) => {
                let caller = Identity::from_secret(&seed);
                let n = records.len();
                let honest = from.is_none();
                let from = from.unwrap_or_else(|| caller.id().to_string());
                let body = serde_json::to_vec(&json!({"from": from, "records": records}))
                    .expect("a Value serializes");
                let signed = sign_request(
                    &caller,
                    node.id.id(),
                    "POST",
                    "/v1/sync/push",
                    &body,
                    now_unix(),
                );
                let headers: Vec<(&str, String)> = signed.headers().into_iter().collect();
                let (status, v) = node.post("/v1/sync/push", &headers, body);
                if honest || from == caller.id() {
                    prop_assert_eq!(status, 200, "{}", v);
                    prop_assert_eq!(v["rejected"].as_u64(), Some(n as u64), "{}", v);
                } else {
                    prop_assert_eq!(status, 400, "{}", v);
                }
            }
        }
        Ok(())
    });
}

/// The records of a sync page (or push) are each verified on their own: every one is counted
/// once, exactly the ones a lone check accepts are stored, and nothing panics.
#[test]
fn sync_records_merge_never_panics() {
    let node = TestNode::new();
    check(256, prop::collection::vec(record(), 0..6), |records| {
        let now = now_unix();
        let envelopes: Vec<Value> = records.iter().map(|r| r.envelope(now)).collect();
        let expected = envelopes
            .iter()
            .filter(|e| {
                Card::from_value((*e).clone())
                    .and_then(|c| c.check_not_future(now))
                    .is_ok()
            })
            .count();
        let n = envelopes.len();
        let merged = node
            .rt
            .block_on(agentmesh::federation::sync::merge(&node.state, envelopes));
        prop_assert_eq!(merged.errors, 0);
        prop_assert_eq!(merged.accepted, expected, "{:?}", merged);
        prop_assert_eq!(merged.stale + merged.rejected, n - expected, "{:?}", merged);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    /// Card times: any text parses or not; what parses is in range and is the canonical
    /// spelling of its second (a leap second `:60` aside, which names the next one); every
    /// second in range round-trips.
    #[test]
    fn rfc3339_parse_never_panics_and_round_trips(s in time_text(), t in 0..=MAX_CARD_TIME) {
        if let Some(at) = parse_rfc3339(&s) {
            prop_assert!((0..=MAX_CARD_TIME + 1).contains(&at));
            let leap = s.get(17..19) == Some("60");
            if !leap {
                prop_assert_eq!(format_rfc3339(at), s);
            }
        }
        prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
    }

    /// `format_rfc3339` over the whole i64 range (the CLI prints times a node sends).
    #[test]
    fn rfc3339_format_is_total(t in prop_oneof![i64::MIN..0, MAX_CARD_TIME + 1..=i64::MAX]) {
        let _ = format_rfc3339(t);
    }
}

// ---------------------------------------------------------------------------------------------
// Interop (A2A cards, MCP answers)
// ---------------------------------------------------------------------------------------------

/// A2A-card-shaped values: a template whose fields are replaced by anything.
fn a2a_card_like() -> impl Strategy<Value = Value> {
    let interface = (
        prop_oneof![text(), "https?://[a-z0-9.:/-]{1,40}"],
        prop_oneof![text(), Just("JSONRPC".to_string()), Just("HTTP+JSON".to_string())],
        prop_oneof![text(), Just("1.0".to_string()), Just("0.3.0".to_string())],
    )
        .prop_map(|(url, binding, version)| {
            json!({"url": url, "protocolBinding": binding, "protocolVersion": version})
        });
    let skill = (text(), text(), prop::collection::vec(json_value(), 0..3))
        .prop_map(|(id, name, tags)| json!({"id": id, "name": name, "tags": tags}));
    let template = (
        text(),
        prop::collection::vec(interface, 0..3),
        prop::collection::vec(skill, 0..4),
        prop::collection::vec((key(), json_value()), 0..3),
    )
        .prop_map(|(name, interfaces, skills, extra)| {
            let mut card = json!({
                "name": name,
                "description": "d",
                "url": "http://127.0.0.1:9",
                "supportedInterfaces": interfaces,
                "skills": skills,
            });
            if let Value::Object(o) = &mut card {
                o.extend(extra);
            }
            card
        });
    prop_oneof![template, json_value()]
}

/// An answer body: JSON, an SSE stream of JSON events, or any bytes.
fn rpc_body() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        json_value().prop_map(|v| format!("data: {v}")),
        text().prop_map(|t| format!("data:{t}")),
        Just("event: message".to_string()),
        Just(":".to_string()),
        Just(String::new()),
        text(),
    ];
    prop_oneof![
        bytes_or_json_text(),
        (prop::collection::vec(line, 0..8), any::<bool>())
            .prop_map(|(lines, crlf)| lines.join(if crlf { "\r\n" } else { "\n" }).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// A2A cards and MCP answers from the network: read or refused, never a panic.
    #[test]
    fn interop_parsers_never_panic(
        card in a2a_card_like(),
        body in rpc_body(),
        content_type in prop::option::of(prop_oneof![
            Just("application/json".to_string()),
            Just("text/event-stream; charset=utf-8".to_string()),
            text(),
        ]),
        id in json_value(),
    ) {
        use agentmesh::interop::{a2a, find_rpc_answer, mcp};
        let _ = a2a::interfaces(&card);
        let _ = a2a::pick_interface(&card);
        if let Ok(m) = a2a::manifest_from_card(&card, SIGNER.id(), NOW) {
            let _ = a2a::card_from_manifest(&m.to_value(), "http://127.0.0.1:7070/v1/agents/x");
        }
        let _ = a2a::card_from_manifest(&card, "http://127.0.0.1:7070/v1/agents/x");
        let _ = mcp::content_text(&card);
        if let Ok(answer) = find_rpc_answer("tools/call", content_type.as_deref(), &body, &id) {
            let _ = mcp::content_text(&answer);
        }
    }
}

/// JSON whose object keys are mostly ASCII (the fast canonical path's case), with the awkward
/// parts of RFC 8785 in it: keys that need escaping or sort by their escapes or differently in
/// UTF-8 and UTF-16, every kind of number (doubles, integers past 2^53, -0), strings with
/// controls and characters past the BMP.
fn ascii_keyed_json() -> impl Strategy<Value = Value> {
    json_keyed_by(
        prop_oneof![
            key(),
            "[ -~]{0,6}",
            "[\\x00-\\x1f\"\\\\/]{1,3}",
            // UTF-8 and UTF-16 order these differently: U+E000..U+FFFF sort below U+10000 by
            // bytes, above it by UTF-16 code units.
            prop::sample::select(vec!["\u{e000}", "\u{ffff}", "\u{10000}", "😀", "é"])
                .prop_map(String::from),
        ]
        .boxed(),
    )
}

proptest! {
    #![proptest_config(config(1024))]

    /// `encoding::jcs_value` (a fast path for ASCII keys, the crate otherwise) gives exactly
    /// the reference canonicalizer's bytes, or fails where it fails, on any JSON.
    #[test]
    fn fast_jcs_matches_the_reference(v in prop_oneof![ascii_keyed_json(), json_value()]) {
        let reference = serde_json_canonicalizer::to_vec(&v).ok();
        prop_assert_eq!(agentmesh::encoding::jcs_value(&v).ok(), reference.clone());
        if let Value::Object(m) = &v {
            prop_assert_eq!(agentmesh::encoding::jcs_map(m).ok(), reference);
        }
    }
}
