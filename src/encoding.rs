//! The small encodings docs/protocol.md §1 fixes: base64url without padding for binary values,
//! lowercase hex SHA-256 digests, RFC 3339 UTC whole-second times in cards and unix seconds in
//! headers. Everything on the wire goes through these helpers so no call site picks its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Encodes bytes as base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; padded or standard-alphabet input is rejected.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Seconds since the unix epoch, now.
pub fn now_unix() -> i64 {
    unix_seconds(SystemTime::now())
}

/// Seconds since the unix epoch of `t` (negative before 1970).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// A duration as the flags take it, in its largest exact unit: `7d`, `12h`, `90m`, `45s`,
/// `250ms` — the one way durations are written everywhere (flags, config, output).
pub fn format_duration(d: std::time::Duration) -> String {
    let (s, ms) = (d.as_secs(), d.subsec_millis());
    match (s, ms) {
        (0, 0) => "0s".into(),
        (s, 0) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        (s, 0) if s % 3_600 == 0 => format!("{}h", s / 3_600),
        (s, 0) if s % 60 == 0 => format!("{}m", s / 60),
        (s, 0) => format!("{s}s"),
        (s, ms) => format!("{}ms", s * 1000 + u64::from(ms)),
    }
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(unix: i64) -> String {
    // RFC 3339 years are 0000–9999 and humantime formats 1970–9999; times from elsewhere
    // (a hostile node's answer, say) are shown at the nearest end rather than panicking.
    let unix = unix.clamp(0, MAX_RFC3339_UNIX);
    let t = if unix >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(t).to_string()
}

/// 9999-12-31T23:59:59Z, the last second RFC 3339 can spell.
const MAX_RFC3339_UNIX: i64 = 253_402_300_799;

/// Parses a card time: RFC 3339, UTC (`Z`), whole seconds. Returns unix seconds.
///
/// The protocol fixes one spelling per instant so that two nodes never disagree on a
/// timestamp's value; fractional seconds and offsets other than `Z` are refused.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    humantime::parse_rfc3339(text).ok().map(unix_seconds)
}

/// Fills `buf` from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    buf
}

/// The JSON Canonicalization Scheme (RFC 8785) of `value`: what every signature over JSON in
/// docs/protocol.md is made on.
///
/// `serde_json_canonicalizer` is the reference and handles every value. It is slow on the
/// registration path, though: it re-parses every object key as JSON and buffers every member
/// to sort them (~16 µs of a card's CPU). Most values take a shorter way to the same bytes:
/// when every object's keys are ASCII and already in ascending order (serde_json's map is a
/// `BTreeMap`, sorted by bytes, which for ASCII is RFC 8785's UTF-16 order), RFC 8785 is
/// serde_json's compact output with numbers written as ECMAScript writes doubles, and
/// serde_json already escapes strings as RFC 8785 does (`\"`, `\\`, `\b \f \n \r \t`,
/// other controls as lowercase `\u00xx`, nothing else). Anything else goes to the crate; the
/// property test `parsers_prop::fast_jcs_matches_the_reference` holds the two equal.
pub fn jcs_value(value: &serde_json::Value) -> serde_json::Result<Vec<u8>> {
    if !sorted_ascii_keys(value) {
        return serde_json_canonicalizer::to_vec(value);
    }
    with_ecma_numbers(value)
}

/// [`jcs_value`] of an object, given its members.
pub fn jcs_map(map: &serde_json::Map<String, serde_json::Value>) -> serde_json::Result<Vec<u8>> {
    if !sorted_ascii_members(map) {
        return serde_json_canonicalizer::to_vec(map);
    }
    with_ecma_numbers(map)
}

/// serde_json's compact output of `value`, numbers written by [`EcmaNumbers`]: RFC 8785 for
/// values whose keys [`sorted_ascii_keys`] accepts.
fn with_ecma_numbers<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        EcmaNumbers,
    ))?;
    Ok(out)
}

/// Whether every object in `value` has ASCII keys in strictly ascending byte order.
fn sorted_ascii_keys(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(m) => sorted_ascii_members(m),
        serde_json::Value::Array(a) => a.iter().all(sorted_ascii_keys),
        _ => true,
    }
}

fn sorted_ascii_members(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    let mut prev: Option<&str> = None;
    map.iter().all(|(k, v)| {
        let ok = k.is_ascii() && prev.is_none_or(|p| p < k.as_str()) && sorted_ascii_keys(v);
        prev = Some(k);
        ok
    })
}

/// serde_json's compact output but for numbers, written as RFC 8785 §3.2.2.3 says: as the
/// double they denote, in ECMAScript's shortest form (`ryu-js`, as the reference uses).
struct EcmaNumbers;

impl EcmaNumbers {
    fn double<W: ?Sized + std::io::Write>(w: &mut W, v: f64) -> std::io::Result<()> {
        if !v.is_finite() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "NaN and infinities are not JSON",
            ));
        }
        w.write_all(ryu_js::Buffer::new().format_finite(v).as_bytes())
    }
}

impl serde_json::ser::Formatter for EcmaNumbers {
    fn write_i64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: i64) -> std::io::Result<()> {
        Self::double(w, v as f64)
    }
    fn write_u64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: u64) -> std::io::Result<()> {
        Self::double(w, v as f64)
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        Self::double(w, v)
    }
    fn write_number_str<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        v: &str,
    ) -> std::io::Result<()> {
        let v: f64 = v
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a number"))?;
        Self::double(w, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_their_largest_exact_unit_and_they_parse_back() {
        use std::time::Duration;
        for (d, text) in [
            (Duration::from_secs(7 * 86_400), "7d"),
            (Duration::from_secs(12 * 3_600), "12h"),
            (Duration::from_secs(90 * 60), "90m"),
            (Duration::from_secs(45), "45s"),
            (Duration::from_millis(1_250), "1250ms"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(
                humantime::parse_duration(text).expect("parses"),
                d,
                "{text}"
            );
        }
    }

    #[test]
    fn rfc3339_round_trip_and_strictness() {
        let t = parse_rfc3339("2026-11-24T21:00:00Z").expect("valid");
        assert_eq!(format_rfc3339(t), "2026-11-24T21:00:00Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "2026-11-24T21:00:00.5Z",
            "2026-11-24T21:00:00+01:00",
            "2026-11-24 21:00:00Z",
            "2026-13-24T21:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn b64url_has_no_padding() {
        assert_eq!(b64url(b"nonce-nonce-nonce"), "bm9uY2Utbm9uY2Utbm9uY2U");
        assert!(b64url_decode("bm9uY2Utbm9uY2Utbm9uY2U=").is_err());
    }

    #[test]
    fn sha256_of_vector_body() {
        assert_eq!(
            sha256_hex(br#"{"city":"Paris"}"#),
            "6e1e312d537bc71b5410b0599f5a508142149e13174c6ee0d1671658845bc67d"
        );
    }
}

/// The URL of `path` (starting with `/`, query included) at an agent whose endpoint is `base`.
/// The bare path `/` is the endpoint itself, so an endpoint with a path of its own
/// (`http://host/mcp`) is called at exactly that URL, not at `…/mcp/` (which servers routing
/// `/mcp` answer with a redirect or 404); any other path is appended to it.
pub fn join_endpoint(base: &str, path: &str) -> String {
    match path.strip_prefix('/') {
        Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("{base}{rest}"),
        _ => format!("{}{path}", base.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod join_tests {
    use super::join_endpoint;

    #[test]
    fn the_root_path_is_the_endpoint_itself() {
        assert_eq!(join_endpoint("http://h:1/mcp", "/"), "http://h:1/mcp");
        assert_eq!(
            join_endpoint("http://h:1/mcp", "/?a=1"),
            "http://h:1/mcp?a=1"
        );
        assert_eq!(join_endpoint("http://h:1/", "/"), "http://h:1/");
        assert_eq!(join_endpoint("http://h:1", "/"), "http://h:1");
        assert_eq!(
            join_endpoint("http://h:1/mcp", "/x?y"),
            "http://h:1/mcp/x?y"
        );
        assert_eq!(join_endpoint("http://h:1/", "/x"), "http://h:1/x");
    }
}
