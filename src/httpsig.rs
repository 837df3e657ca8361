//! RFC 9421 HTTP Message Signatures over Ed25519, with RFC 9530 `Content-Digest`: the second
//! signature form of docs/protocol.md §4b, beside the `X-Agent-*` handshake.
//!
//! A request signature covers `("@method" "@authority" "@path" "@query" "content-digest")` with
//! `created`, `keyid` (the caller's did:key), `alg="ed25519"`, `expires`, `nonce` and
//! `tag="agentmesh"` (in that order, the Web Bot Auth drafts'), under the label `am`. Through a gateway the caller adds a second one,
//! `am-agent`, over the URL the gateway will call (the card's endpoint joined with the path);
//! the gateway verifies `am`, drops it and passes `am-agent` on as `am`, so the agent checks a
//! signature over the very request it receives. Answers are signed over
//! `("@status" "content-digest")` with `nonce` = the request's nonce, binding them to it.
//!
//! Why our own code: the Structured Field syntax is the `sfv` crate's, but no maintained crate
//! lets a signer choose `created` (needed to make both forms agree and for exact test vectors)
//! or reproduce RFC 9421 Appendix B.2.6 (Cloudflare's `web-bot-auth` always adds `expires`,
//! `nonce`, `tag` and `alg`). The signature base is ~100 lines; the tests check it against
//! B.2.6 byte for byte and against `web-bot-auth`'s verifier, and CI against the
//! `http-message-signatures` Python package.

use sfv::{BareItem, Dictionary, FieldType as _, Item, KeyRef, ListEntry, Parser, StringRef};
use sha2::{Digest, Sha256};

use crate::identity::{Identity, SigCheck, public_from_did};

/// The label of the signature for the hop a request is sent on.
pub const LABEL: &str = "am";
/// The label of the signature for the agent-side URL, when a request goes through a gateway.
pub const AGENT_LABEL: &str = "am-agent";
/// The `tag` of AgentMesh signatures.
pub const TAG: &str = "agentmesh";
/// The `tag` of the Web Bot Auth profile.
pub const WEB_BOT_AUTH_TAG: &str = "web-bot-auth";
/// `Signature-Input`.
pub const H_SIGNATURE_INPUT: &str = "signature-input";
/// `Signature`.
pub const H_SIGNATURE: &str = "signature";
/// `Content-Digest` (RFC 9530).
pub const H_CONTENT_DIGEST: &str = "content-digest";
/// `Signature-Agent` (Web Bot Auth).
pub const H_SIGNATURE_AGENT: &str = "signature-agent";
/// What an AgentMesh request signature covers, in order.
pub const REQUEST_COMPONENTS: [&str; 5] =
    ["@method", "@authority", "@path", "@query", "content-digest"];
/// What an AgentMesh response signature covers, in order.
pub const RESPONSE_COMPONENTS: [&str; 2] = ["@status", "content-digest"];
/// How long a signature AgentMesh makes stays valid (`expires` − `created`), seconds.
pub const VALIDITY_S: i64 = 60;
/// Most bytes of `Signature-Input` or `Signature` a verifier parses.
pub const MAX_FIELD_BYTES: usize = 8 * 1024;

/// Why an RFC 9421 signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpSigError {
    /// A header the signature needs is absent.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// The fields do not parse, or name something this verifier does not support.
    #[error("{0}")]
    Malformed(String),
    /// Outside `created`…`expires` or the clock window.
    #[error("{0}")]
    Stale(String),
}

/// `sha-256=:<base64>:` of `body` (RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
    )
}

/// Whether a `Content-Digest` value carries a `sha-256` member equal to `body`'s digest, and
/// every other member it can check (`sha-512`) equal too.
pub fn content_digest_matches(value: &str, body: &[u8]) -> Result<bool, HttpSigError> {
    let dict: Dictionary = Parser::new(value)
        .parse()
        .map_err(|e| HttpSigError::Malformed(format!("Content-Digest: {e}")))?;
    let member = |name: &str| match dict.get(name) {
        Some(ListEntry::Item(Item {
            bare_item: BareItem::ByteSequence(d),
            ..
        })) => Ok(Some(d.clone())),
        None => Ok(None),
        Some(_) => Err(HttpSigError::Malformed(format!(
            "Content-Digest: {name} is not a byte sequence"
        ))),
    };
    let Some(sha256) = member("sha-256")? else {
        return Err(HttpSigError::Malformed(
            "Content-Digest has no sha-256 member".into(),
        ));
    };
    let sha512_ok =
        member("sha-512")?.is_none_or(|d| d.as_slice() == sha2::Sha512::digest(body).as_slice());
    Ok(sha256.as_slice() == Sha256::digest(body).as_slice() && sha512_ok)
}

/// The parameters of one signature.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params {
    /// `created`, unix seconds.
    pub created: i64,
    /// `expires`, unix seconds.
    pub expires: Option<i64>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `keyid`.
    pub keyid: String,
    /// `alg` (always `ed25519` when present).
    pub alg: bool,
    /// `tag`.
    pub tag: Option<String>,
    /// The order to write them in.
    pub order: ParamOrder,
}

/// The order a signer writes parameters in (it is part of what is signed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParamOrder {
    /// `created`, `keyid`, `alg`, `expires`, `nonce`, `tag`: the Web Bot Auth drafts' and
    /// Cloudflare's order, used by AgentMesh signatures.
    #[default]
    Standard,
    /// `created`, `expires`, `keyid`, `alg`, `nonce`, `tag`: the directory draft's example.
    ExpiresFirst,
}

impl Params {
    /// AgentMesh's parameters: `created`=now, `expires`=now+60, the nonce, the signer's did:key,
    /// `alg="ed25519"`, `tag="agentmesh"`.
    pub fn agentmesh(id: &Identity, now: i64, nonce: &str) -> Self {
        Self {
            created: now,
            expires: Some(now + VALIDITY_S),
            nonce: Some(nonce.to_string()),
            keyid: id.id().to_string(),
            alg: true,
            tag: Some(TAG.to_string()),
            order: ParamOrder::Standard,
        }
    }
}

/// The parts of a request URL a signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    /// `@method`, uppercase.
    pub method: String,
    /// `@authority`: host and port as sent, lowercase, no default port.
    pub authority: String,
    /// `@path`, as sent (`/` when empty).
    pub path: String,
    /// The query without `?`, as sent (`None` or empty: `@query` is `?`).
    pub query: Option<String>,
}

impl RequestTarget {
    /// `method` and `path_and_query` at `authority`.
    pub fn new(method: &str, authority: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path_and_query, None),
        };
        Self {
            method: method.to_ascii_uppercase(),
            authority: authority.to_ascii_lowercase(),
            path: if path.is_empty() { "/" } else { path }.to_string(),
            query,
        }
    }

    /// `method` on an absolute `http(s)://` URL; `None` for anything else. The authority drops
    /// the scheme's default port, as HTTP clients do when they write `Host`.
    pub fn of_url(method: &str, url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        let rest = rest.split('#').next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let authority = match (
            scheme.to_ascii_lowercase().as_str(),
            authority.rsplit_once(':'),
        ) {
            ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_string(),
            ("http" | "https", _) => authority.to_string(),
            _ => return None,
        };
        if authority.is_empty() {
            return None;
        }
        Some(Self::new(method, &authority, rest))
    }

    /// The value of derived component `component` (`@method`, `@authority`, `@path`,
    /// `@query`, `@request-target`).
    pub fn value(&self, component: &str) -> Option<String> {
        Some(match component {
            "@method" => self.method.clone(),
            "@authority" => self.authority.clone(),
            "@path" => self.path.clone(),
            "@query" => format!("?{}", self.query.as_deref().unwrap_or_default()),
            "@request-target" => match &self.query {
                Some(q) => format!("{}?{q}", self.path),
                None => self.path.clone(),
            },
            _ => return None,
        })
    }
}

/// One `Signature-Input` member and its `Signature` member, without the labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The label.
    pub label: String,
    /// The `Signature-Input` member value: `("@method" …);created=…;…`.
    pub input: String,
    /// The `Signature` member value: `:<base64>:`.
    pub signature: String,
    /// The signature base that was signed (for test vectors and debugging).
    pub base: String,
}

impl Signed {
    /// `label=value` for `Signature-Input`.
    pub fn input_member(&self) -> String {
        format!("{}={}", self.label, self.input)
    }
    /// `label=value` for `Signature`.
    pub fn signature_member(&self) -> String {
        format!("{}={}", self.label, self.signature)
    }
}

/// Serializes `(components…);params…` as RFC 8941 requires (the `@signature-params` value).
fn serialize_params(components: &[&str], p: &Params) -> Result<String, HttpSigError> {
    let bad =
        |what: &str| HttpSigError::Malformed(format!("{what} is not a printable ASCII string"));
    let key = |k: &'static str| KeyRef::constant(k);
    let mut list = sfv::ListSerializer::new();
    {
        let mut inner = list.inner_list();
        for c in components {
            let (name, param) = split_component(c);
            let item =
                inner.bare_item(StringRef::from_str(name).map_err(|_| bad("a component name"))?);
            match param {
                ComponentParam::Key(m) => {
                    item.parameter(
                        key("key"),
                        StringRef::from_str(m).map_err(|_| bad("a key"))?,
                    );
                }
                ComponentParam::Req => {
                    item.parameter(key("req"), true);
                }
                ComponentParam::None => {}
            }
        }
        let mut params = inner.finish();
        // The order of the Web Bot Auth drafts and Cloudflare's implementations (or the
        // directory draft's, with `expires` before `keyid`).
        params = params.parameter(key("created"), sfv::Integer::constant(p.created));
        let expires_first = p.order == ParamOrder::ExpiresFirst;
        if let Some(e) = p.expires.filter(|_| expires_first) {
            params = params.parameter(key("expires"), sfv::Integer::constant(e));
        }
        params = params.parameter(
            key("keyid"),
            StringRef::from_str(&p.keyid).map_err(|_| bad("the keyid"))?,
        );
        if p.alg {
            params = params.parameter(key("alg"), StringRef::constant("ed25519"));
        }
        if let Some(e) = p.expires.filter(|_| !expires_first) {
            params = params.parameter(key("expires"), sfv::Integer::constant(e));
        }
        if let Some(n) = &p.nonce {
            params = params.parameter(
                key("nonce"),
                StringRef::from_str(n).map_err(|_| bad("the nonce"))?,
            );
        }
        if let Some(t) = &p.tag {
            params.parameter(
                key("tag"),
                StringRef::from_str(t).map_err(|_| bad("the tag"))?,
            );
        }
    }
    list.finish()
        .ok_or_else(|| HttpSigError::Malformed("empty signature parameters".into()))
}

/// `name;key=member` (a Dictionary header's member, RFC 9421 §2.1.2) and `name;req` (§2.4).
fn split_component(c: &str) -> (&str, ComponentParam<'_>) {
    if let Some((name, member)) = c.split_once(";key=") {
        (name, ComponentParam::Key(member))
    } else if let Some(name) = c.strip_suffix(";req") {
        (name, ComponentParam::Req)
    } else {
        (c, ComponentParam::None)
    }
}

/// The one component parameter a signer here may set.
enum ComponentParam<'a> {
    None,
    /// `;key="member"`: one member of a Dictionary header.
    Key(&'a str),
    /// `;req`: the request's component, in a response signature.
    Req,
}

/// The signature base of RFC 9421 §2.5: one `"<component>": <value>` line per component, then
/// `"@signature-params": <params>`.
fn signature_base(lines: &[(&str, String)], params_value: &str) -> Result<String, HttpSigError> {
    let mut base = String::new();
    for (name, value) in lines {
        if value.contains(['\n', '\r']) {
            return Err(HttpSigError::Malformed(format!(
                "the value of {name} has a line break"
            )));
        }
        match split_component(name) {
            (name, ComponentParam::Key(member)) => {
                base.push_str(&format!("\"{name}\";key=\"{member}\": {value}\n"))
            }
            (name, ComponentParam::Req) => base.push_str(&format!("\"{name}\";req: {value}\n")),
            (name, ComponentParam::None) => base.push_str(&format!("\"{name}\": {value}\n")),
        }
    }
    base.push_str(&format!("\"@signature-params\": {params_value}"));
    Ok(base)
}

/// Signs `components` with values `values` (same order) under `label`. A component
/// `name;key=member` covers one member of a Dictionary header (`"signature-agent";key="am"`),
/// `name;req` the request's component in a response.
pub fn sign(
    id: &Identity,
    label: &str,
    components: &[&str],
    values: &[String],
    params: &Params,
) -> Result<Signed, HttpSigError> {
    use base64::Engine as _;
    let input = serialize_params(components, params)?;
    let lines: Vec<(&str, String)> = components
        .iter()
        .copied()
        .zip(values.iter().cloned())
        .collect();
    let base = signature_base(&lines, &input)?;
    let sig = id.sign(base.as_bytes()).to_bytes();
    Ok(Signed {
        label: label.to_string(),
        input,
        signature: format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(sig)
        ),
        base,
    })
}

/// Signs a request for `target` with AgentMesh's components and `params`; `body` gives the
/// `Content-Digest` the signature covers (send it as that header).
pub fn sign_request(
    id: &Identity,
    label: &str,
    target: &RequestTarget,
    body: &[u8],
    params: &Params,
) -> Result<Signed, HttpSigError> {
    let digest = content_digest(body);
    let values: Vec<String> = REQUEST_COMPONENTS
        .iter()
        .map(|c| target.value(c).unwrap_or_else(|| digest.clone()))
        .collect();
    sign(id, label, &REQUEST_COMPONENTS, &values, params)
}

/// Signs an answer with `status` and `body` to the request whose nonce was `request_nonce`.
pub fn sign_response(
    id: &Identity,
    status: u16,
    request_nonce: &str,
    body: &[u8],
    now: i64,
) -> Result<Signed, HttpSigError> {
    let params = Params::agentmesh(id, now, request_nonce);
    let values = [status.to_string(), content_digest(body)];
    sign(id, LABEL, &RESPONSE_COMPONENTS, &values, &params)
}

/// The RFC 7638 JWK SHA-256 thumbprint (base64url) of an Ed25519 key: the `keyid` of the Web
/// Bot Auth profile and of key directories.
pub fn jwk_thumbprint(public: &[u8; 32]) -> String {
    let x = crate::encoding::b64url(public);
    let jwk = format!("{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{x}\"}}");
    crate::encoding::b64url(&Sha256::digest(jwk.as_bytes()))
}

/// The tag of a key directory's signatures.
pub const DIRECTORY_TAG: &str = "http-message-signatures-directory";
/// The label of a key directory's signature.
pub const DIRECTORY_LABEL: &str = "binding";
/// The media type of a key directory.
pub const DIRECTORY_MEDIA_TYPE: &str = "application/http-message-signatures-directory+json";

/// The key directory of one Ed25519 key, byte for byte as docs/protocol.md §4c fixes it.
pub fn directory_body(public: &[u8; 32]) -> String {
    format!(
        "{{\"keys\":[{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"{}\",\"x\":\"{}\",\"use\":\"sig\"}}]}}",
        jwk_thumbprint(public),
        crate::encoding::b64url(public)
    )
}

/// The signature a key makes over its own directory as served at `authority` (the directory
/// draft's proof of possession), valid `created`…`expires`.
pub fn sign_directory(
    id: &Identity,
    authority: &str,
    created: i64,
    expires: i64,
) -> Result<Signed, HttpSigError> {
    let public = id.verifying_key().to_bytes();
    let body = directory_body(&public);
    let params = Params {
        created,
        expires: Some(expires),
        keyid: jwk_thumbprint(&public),
        tag: Some(DIRECTORY_TAG.into()),
        order: ParamOrder::ExpiresFirst,
        ..Params::default()
    };
    let values = [
        authority.to_ascii_lowercase(),
        content_digest(body.as_bytes()),
    ];
    sign(
        id,
        DIRECTORY_LABEL,
        &["@authority;req", "content-digest"],
        &values,
        &params,
    )
}

/// Whether `signature` (a `Signature` member value `:…:`) over `input` (an inner list as
/// [`sign_directory`] writes it) is `public`'s directory signature for `authority`. The input
/// must be exactly what [`sign_directory`] would write for its own `created` and `expires`.
pub fn check_directory(public: &[u8; 32], authority: &str, input: &str, signature: &str) -> bool {
    use base64::Engine as _;
    let Ok(dict) = Parser::new(&format!("{DIRECTORY_LABEL}={input}")).parse::<Dictionary>() else {
        return false;
    };
    let Some(ListEntry::InnerList(inner)) = dict.get(DIRECTORY_LABEL) else {
        return false;
    };
    let Ok(params) = read_params(&inner.params) else {
        return false;
    };
    let body = directory_body(public);
    let expected = Params {
        created: params.created,
        expires: params.expires,
        keyid: jwk_thumbprint(public),
        tag: Some(DIRECTORY_TAG.into()),
        order: ParamOrder::ExpiresFirst,
        ..Params::default()
    };
    let Ok(want) = serialize_params(&["@authority;req", "content-digest"], &expected) else {
        return false;
    };
    if want != input || params.expires.is_none() {
        return false;
    }
    let values = [
        ("@authority;req", authority.to_ascii_lowercase()),
        ("content-digest", content_digest(body.as_bytes())),
    ];
    let Ok(base) = signature_base(&values, input) else {
        return false;
    };
    let Some(sig) = signature
        .strip_prefix(':')
        .and_then(|s| s.strip_suffix(':'))
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
    else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        return false;
    };
    // The node's one verification rule (docs/protocol.md §2).
    crate::identity::verify_one(&SigCheck {
        key,
        msg: base.into_bytes(),
        sig,
    })
}

/// The Web Bot Auth profile's label.
pub const WEB_BOT_AUTH_LABEL: &str = "wba";

/// The Web Bot Auth signature of a request to a website (docs/protocol.md §4c): `directory` is
/// the agent's key directory URL; returns `(Signature-Agent, Signed)`.
pub fn sign_web_bot_auth(
    id: &Identity,
    target: &RequestTarget,
    body: &[u8],
    directory: &str,
    now: i64,
    nonce64: &[u8; 64],
) -> Result<(String, Signed), HttpSigError> {
    use base64::Engine as _;
    let agent = format!("{WEB_BOT_AUTH_LABEL}=\"{directory}\";type=jwks_uri");
    let member = format!("\"{directory}\";type=jwks_uri");
    let params = Params {
        created: now,
        expires: Some(now + VALIDITY_S),
        nonce: Some(base64::engine::general_purpose::STANDARD.encode(nonce64)),
        keyid: jwk_thumbprint(&id.verifying_key().to_bytes()),
        alg: true,
        tag: Some(WEB_BOT_AUTH_TAG.into()),
        order: ParamOrder::Standard,
    };
    let mut components: Vec<&str> = REQUEST_COMPONENTS.to_vec();
    let covered = format!("{H_SIGNATURE_AGENT};key={WEB_BOT_AUTH_LABEL}");
    components.push(&covered);
    let digest = content_digest(body);
    let values: Vec<String> = REQUEST_COMPONENTS
        .iter()
        .map(|c| target.value(c).unwrap_or_else(|| digest.clone()))
        .chain(std::iter::once(member))
        .collect();
    let signed = sign(id, WEB_BOT_AUTH_LABEL, &components, &values, &params)?;
    Ok((agent, signed))
}

/// One signature read off a message, with everything needed to check it.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Its label.
    pub label: String,
    /// What it covers, in order.
    pub components: Vec<String>,
    /// Its parameters.
    pub params: Params,
    /// The signature base to verify.
    pub base: String,
    /// The signature.
    pub signature: Vec<u8>,
}

impl Parsed {
    /// The Ed25519 check of this signature by its did:key `keyid`.
    pub fn check(&self) -> Result<SigCheck, HttpSigError> {
        let key = public_from_did(&self.params.keyid)
            .map_err(|e| HttpSigError::Malformed(format!("keyid: {e}")))?;
        let sig: [u8; 64] = self.signature.as_slice().try_into().map_err(|_| {
            HttpSigError::Malformed("the signature is not 64 bytes (Ed25519)".into())
        })?;
        Ok(SigCheck {
            key,
            msg: self.base.clone().into_bytes(),
            sig,
        })
    }

    /// The Ed25519 check of this signature by `key` (the `keyid`'s, already decoded).
    pub fn check_with(&self, key: ed25519_dalek::VerifyingKey) -> Result<SigCheck, HttpSigError> {
        let sig: [u8; 64] = self.signature.as_slice().try_into().map_err(|_| {
            HttpSigError::Malformed("the signature is not 64 bytes (Ed25519)".into())
        })?;
        Ok(SigCheck {
            key,
            msg: self.base.clone().into_bytes(),
            sig,
        })
    }

    /// Whether it covers every one of `required`.
    pub fn covers(&self, required: &[&str]) -> bool {
        required
            .iter()
            .all(|r| self.components.iter().any(|c| c == r))
    }

    /// Refuses a signature created outside ±`window_s` of `now`, or expired.
    pub fn check_time(&self, now: i64, window_s: i64) -> Result<(), HttpSigError> {
        let created = self.params.created;
        if created.saturating_sub(now).unsigned_abs() > window_s.unsigned_abs() {
            return Err(HttpSigError::Stale(format!(
                "created {created} is {} s from this clock; at most ±{window_s} s",
                created.saturating_sub(now)
            )));
        }
        if let Some(expires) = self.params.expires
            && (expires < now || expires < created)
        {
            return Err(HttpSigError::Stale(format!(
                "the signature expired at {expires}"
            )));
        }
        Ok(())
    }
}

/// Which signature of a message to read.
#[derive(Debug, Clone, Copy)]
pub enum Pick<'a> {
    /// The one with this label.
    Label(&'a str),
    /// `am` if present, else the only one whose `keyid` is a did:key and whose label is not
    /// `am-agent` (a stock RFC 9421 signer chooses its own label).
    AgentMesh,
}

/// Whether a `Signature-Input` member could be an AgentMesh caller's signature when none is
/// labelled `am`: its `keyid` is a did:key and it is not the copy for the agent (`am-agent`).
fn is_candidate(label: &str, entry: &ListEntry) -> bool {
    label != AGENT_LABEL
        && matches!(entry, ListEntry::InnerList(l) if l
            .params
            .get("keyid")
            .and_then(BareItem::as_string)
            .is_some_and(|k| k.as_str().starts_with("did:key:")))
}

/// The label [`Pick::AgentMesh`] reads: `am`, else the only candidate ([`is_candidate`]).
fn agentmesh_label(inputs: &Dictionary) -> Result<&str, HttpSigError> {
    if inputs.contains_key(LABEL) {
        return Ok(LABEL);
    }
    let mut ours = inputs
        .iter()
        .filter(|(l, e)| is_candidate(l.as_str(), e))
        .map(|(l, _)| l.as_str());
    match (ours.next(), ours.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(HttpSigError::Malformed(
            "no signature in Signature-Input has a did:key keyid".into(),
        )),
        (Some(_), Some(_)) => Err(HttpSigError::Malformed(
            "several signatures have a did:key keyid and none is labelled am".into(),
        )),
    }
}

/// Reads one signature off a message: `header` looks header fields up by lowercase name (all
/// values joined with `, `), `derived` gives derived components (`@method`, `@status`, …).
pub fn parse(
    header: &dyn Fn(&str) -> Option<String>,
    derived: &dyn Fn(&str) -> Option<String>,
    pick: Pick<'_>,
) -> Result<Parsed, HttpSigError> {
    let field = |name: &'static str| -> Result<Dictionary, HttpSigError> {
        let value = header(name).ok_or(HttpSigError::Missing(name))?;
        if value.len() > MAX_FIELD_BYTES {
            return Err(HttpSigError::Malformed(format!(
                "{name} is over {MAX_FIELD_BYTES} bytes"
            )));
        }
        Parser::new(&value)
            .parse()
            .map_err(|e| HttpSigError::Malformed(format!("{name}: {e}")))
    };
    let inputs = field(H_SIGNATURE_INPUT)?;
    let signatures = field(H_SIGNATURE)?;
    let label = match pick {
        Pick::Label(l) => l.to_string(),
        Pick::AgentMesh => agentmesh_label(&inputs)?.to_string(),
    };
    let Some(ListEntry::InnerList(inner)) = inputs.get(label.as_str()) else {
        return Err(HttpSigError::Malformed(format!(
            "Signature-Input has no inner list labelled {label}"
        )));
    };
    let signature = match signatures.get(label.as_str()) {
        Some(ListEntry::Item(Item {
            bare_item: BareItem::ByteSequence(s),
            ..
        })) => s.clone(),
        _ => {
            return Err(HttpSigError::Malformed(format!(
                "Signature has no byte sequence labelled {label}"
            )));
        }
    };
    let mut components = Vec::with_capacity(inner.items.len());
    let mut lines = Vec::with_capacity(inner.items.len());
    for item in &inner.items {
        let Some(name) = item.bare_item.as_string().map(|s| s.as_str().to_string()) else {
            return Err(HttpSigError::Malformed(
                "a covered component is not a string".into(),
            ));
        };
        if !item.params.is_empty() {
            return Err(HttpSigError::Malformed(format!(
                "component parameters ({name};…) are not supported"
            )));
        }
        if components.contains(&name) {
            return Err(HttpSigError::Malformed(format!("{name} is covered twice")));
        }
        let value = if name.starts_with('@') {
            derived(&name).ok_or_else(|| {
                HttpSigError::Malformed(format!("derived component {name} is not supported"))
            })?
        } else if name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        }) {
            header(&name).map(|v| v.trim().to_string()).ok_or_else(|| {
                HttpSigError::Malformed(format!("covered header {name} is absent"))
            })?
        } else {
            return Err(HttpSigError::Malformed(format!(
                "{name:?} is not a lowercase header name"
            )));
        };
        components.push(name.clone());
        lines.push((name, value));
    }
    let params = read_params(&inner.params)?;
    let mut serialized = String::new();
    {
        let mut list = sfv::ListSerializer::with_buffer(&mut serialized);
        list.members([&ListEntry::InnerList(inner.clone())]);
        let _ = list.finish();
    }
    let refs: Vec<(&str, String)> = lines.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let base = signature_base(&refs, &serialized)?;
    Ok(Parsed {
        label,
        components,
        params,
        base,
        signature,
    })
}

fn read_params(raw: &sfv::Parameters) -> Result<Params, HttpSigError> {
    let bad = |m: String| Err(HttpSigError::Malformed(m));
    let mut p = Params::default();
    let mut created = None;
    for (k, v) in raw {
        match (k.as_str(), v) {
            ("created", BareItem::Integer(i)) => created = Some(i64::from(*i)),
            ("expires", BareItem::Integer(i)) => p.expires = Some(i64::from(*i)),
            ("nonce", BareItem::String(s)) => p.nonce = Some(s.as_str().to_string()),
            ("keyid", BareItem::String(s)) => p.keyid = s.as_str().to_string(),
            ("alg", BareItem::String(s)) if s.as_str() == "ed25519" => p.alg = true,
            ("alg", _) => return bad("alg must be \"ed25519\"".into()),
            ("tag", BareItem::String(s)) => p.tag = Some(s.as_str().to_string()),
            ("created" | "expires" | "nonce" | "keyid" | "tag", _) => {
                return bad(format!("the {} parameter has the wrong type", k.as_str()));
            }
            _ => {}
        }
    }
    p.created = match created {
        Some(c) => c,
        None => return bad("the signature has no created parameter".into()),
    };
    if p.keyid.is_empty() {
        return bad("the signature has no keyid parameter".into());
    }
    Ok(p)
}

/// Whether `Signature-Input` holds a signature [`Pick::AgentMesh`] could read (an `am` label, or
/// one whose `keyid` is a did:key), rather than only others' (Web Bot Auth's, say).
pub fn has_agentmesh_signature(header: &dyn Fn(&str) -> Option<String>) -> bool {
    let Some(inputs) =
        header(H_SIGNATURE_INPUT).and_then(|v| Parser::new(&v).parse::<Dictionary>().ok())
    else {
        // Unparseable: let the verifier say what is wrong with it.
        return true;
    };
    inputs
        .iter()
        .any(|(label, entry)| label.as_str() == LABEL || is_candidate(label.as_str(), entry))
}

/// The `nonce` of the request signature [`Pick::AgentMesh`] would read, if any (to sign the
/// answer to a request that was refused before it was verified).
pub fn nonce_of(header: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let inputs: Dictionary = Parser::new(&header(H_SIGNATURE_INPUT)?).parse().ok()?;
    let entry = inputs.get(agentmesh_label(&inputs).ok()?)?;
    match entry {
        ListEntry::InnerList(l) => l
            .params
            .get("nonce")
            .and_then(BareItem::as_string)
            .map(|n| n.as_str().to_string()),
        ListEntry::Item(_) => None,
    }
}

/// Rewrites the `Signature-Input` and `Signature` of a request the gateway verified, for the
/// agent: the `am-agent` signature, relabelled `am`; `None` when there is none.
pub fn for_agent(header: &dyn Fn(&str) -> Option<String>) -> Option<(String, String)> {
    let dict = |name| -> Option<Dictionary> { Parser::new(&header(name)?).parse().ok() };
    let (inputs, signatures) = (dict(H_SIGNATURE_INPUT)?, dict(H_SIGNATURE)?);
    let (input, signature) = (inputs.get(AGENT_LABEL)?, signatures.get(AGENT_LABEL)?);
    let serialize = |entry: &ListEntry| {
        let mut d = Dictionary::new();
        d.insert(KeyRef::constant(LABEL).to_owned(), entry.clone());
        d.serialize()
    };
    Some((serialize(input)?, serialize(signature)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::verify_one;

    fn rfc_key() -> Identity {
        // RFC 9421 Appendix B.1.4, test-key-ed25519.
        let d = crate::encoding::b64url_decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU")
            .expect("b64");
        Identity::from_secret(&d.try_into().expect("32 bytes"))
    }

    /// RFC 9421 Appendix B.2.6, byte for byte: the base, Signature-Input and Signature.
    #[test]
    fn rfc9421_b26_is_reproduced() {
        let components = [
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ];
        let values = [
            "Tue, 20 Apr 2021 02:07:55 GMT",
            "POST",
            "/foo",
            "example.com",
            "application/json",
            "18",
        ]
        .map(str::to_string);
        let params = Params {
            created: 1_618_884_473,
            keyid: "test-key-ed25519".into(),
            ..Params::default()
        };
        let signed = sign(&rfc_key(), "sig-b26", &components, &values, &params).expect("sign");
        assert_eq!(
            signed.base,
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n\"content-type\": application/json\n\"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
        );
        assert_eq!(
            signed.input_member(),
            "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
        );
        assert_eq!(
            signed.signature_member(),
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
        );
        // And the verifier rebuilds the same base from the message.
        let headers = |n: &str| -> Option<String> {
            Some(match n {
                "signature-input" => signed.input_member(),
                "signature" => signed.signature_member(),
                "date" => "Tue, 20 Apr 2021 02:07:55 GMT".into(),
                "content-type" => "application/json".into(),
                "content-length" => "18".into(),
                _ => return None,
            })
        };
        let target = RequestTarget::new("POST", "example.com", "/foo?param=Value&Pet=dog");
        let parsed = parse(&headers, &|c| target.value(c), Pick::Label("sig-b26")).expect("parse");
        assert_eq!(parsed.base, signed.base);
        assert_eq!(parsed.signature.len(), 64);
    }

    /// The directory draft's signed-directory example, byte for byte.
    #[test]
    fn directory_draft_vector_is_reproduced() {
        let key = rfc_key();
        let public = key.verifying_key().to_bytes();
        assert_eq!(
            jwk_thumbprint(&public),
            "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
        );
        let body = directory_body(&public);
        assert_eq!(
            body,
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","use":"sig"}]}"#
        );
        assert_eq!(
            content_digest(body.as_bytes()),
            "sha-256=:CADMT2aBdV/rqQr/NIru64ERQkCobVvllA4V0fLFDu0=:"
        );
        let signed = sign_directory(&key, "signature-agent.test", 1_735_689_600, 4_889_289_600)
            .expect("sign");
        assert_eq!(
            signed.signature_member(),
            "binding=:l6P8R67tm3kujAxbHWio7ll01qrEZ0dKD/WWlGhNYEmTnFZM8Wt0VQ9zqGfvo7T/UMkBxsigzChM1Gpz7gOVBg==:"
        );
        assert!(check_directory(
            &public,
            "signature-agent.test",
            &signed.input,
            &signed.signature
        ));
        assert!(!check_directory(
            &public,
            "other.test",
            &signed.input,
            &signed.signature
        ));
        let other = Identity::generate().verifying_key().to_bytes();
        assert!(!check_directory(
            &other,
            "signature-agent.test",
            &signed.input,
            &signed.signature
        ));
        assert!(!check_directory(
            &public,
            "signature-agent.test",
            "((",
            &signed.signature
        ));
    }

    /// The Web Bot Auth draft's dictionary-form vector: `"signature-agent";key="agent2"`.
    #[test]
    fn web_bot_auth_draft_vector_is_reproduced() {
        let params = Params {
            created: 1_735_689_600,
            expires: Some(4_889_289_600),
            nonce: Some("n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA==".into()),
            keyid: "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U".into(),
            alg: true,
            tag: Some(WEB_BOT_AUTH_TAG.into()),
            order: ParamOrder::Standard,
        };
        let signed = sign(
            &rfc_key(),
            "sig2",
            &["@authority", "signature-agent;key=agent2"],
            &[
                "example.com".into(),
                "\"https://signature-agent.test\"".into(),
            ],
            &params,
        )
        .expect("sign");
        assert_eq!(
            signed.signature,
            ":RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg==:"
        );
    }

    fn headers_of<'a>(
        signed: &'a [&'a Signed],
        digest: &'a str,
    ) -> impl Fn(&str) -> Option<String> + 'a {
        move |n: &str| match n {
            "signature-input" => Some(
                signed
                    .iter()
                    .map(|s| s.input_member())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            "signature" => Some(
                signed
                    .iter()
                    .map(|s| s.signature_member())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            "content-digest" => Some(digest.to_string()),
            _ => None,
        }
    }

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let id = Identity::generate();
        let target = RequestTarget::new("post", "Node.Example:7070", "/v1/agents/x/invoke/f?a=1");
        let body = br#"{"city":"Paris"}"#;
        let params = Params::agentmesh(&id, 1_795_000_000, "bm9uY2Utbm9uY2Utbm9uY2U");
        let signed = sign_request(&id, LABEL, &target, body, &params).expect("sign");
        assert!(signed.base.contains("\"@authority\": node.example:7070\n\"@path\": /v1/agents/x/invoke/f\n\"@query\": ?a=1\n"));
        let digest = content_digest(body);
        let list = [&signed];
        let headers = headers_of(&list, &digest);
        let parsed = parse(&headers, &|c| target.value(c), Pick::AgentMesh).expect("parse");
        assert!(parsed.covers(&REQUEST_COMPONENTS));
        assert_eq!(parsed.params, params);
        assert!(verify_one(&parsed.check().expect("check")));
        assert!(content_digest_matches(&digest, body).expect("digest"));
        assert!(!content_digest_matches(&digest, b"{}").expect("digest"));
        // Another path: the base changes and the signature fails.
        let other = RequestTarget::new("POST", "node.example:7070", "/v1/agents/y/invoke/f?a=1");
        let parsed = parse(&headers, &|c| other.value(c), Pick::AgentMesh).expect("parse");
        assert!(!verify_one(&parsed.check().expect("check")));
        // Time: within the window, not after expires.
        let p = parse(&headers, &|c| target.value(c), Pick::AgentMesh).expect("parse");
        assert!(p.check_time(1_795_000_030, 60).is_ok());
        assert!(p.check_time(1_795_000_061, 600).is_err(), "expired");
        assert!(p.check_time(1_794_999_000, 60).is_err(), "from the future");
    }

    #[test]
    fn the_gateway_hands_the_agent_its_own_signature() {
        let id = Identity::generate();
        let params = Params::agentmesh(&id, 1_795_000_000, "bm9uY2Utbm9uY2Utbm9uY2U");
        let hop = RequestTarget::new("POST", "node:7070", "/v1/agents/x/invoke/f");
        let agent = RequestTarget::of_url("POST", "http://Agent.Example:80/base/f").expect("url");
        assert_eq!(agent.authority, "agent.example");
        assert_eq!(agent.path, "/base/f");
        let a = sign_request(&id, LABEL, &hop, b"", &params).expect("sign");
        let b = sign_request(&id, AGENT_LABEL, &agent, b"", &params).expect("sign");
        let digest = content_digest(b"");
        let list = [&a, &b];
        let headers = headers_of(&list, &digest);
        let (input, signature) = for_agent(&headers).expect("am-agent present");
        assert!(input.starts_with("am=(\"@method\""));
        let forwarded = |n: &str| match n {
            "signature-input" => Some(input.clone()),
            "signature" => Some(signature.clone()),
            "content-digest" => Some(digest.clone()),
            _ => None,
        };
        let parsed = parse(&forwarded, &|c| agent.value(c), Pick::Label(LABEL)).expect("parse");
        assert!(verify_one(&parsed.check().expect("check")));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let target = RequestTarget::new("GET", "h", "/");
        for (input, sig) in [
            ("", ""),
            ("am", "am"),
            ("am=(\"@method\")", "am=:AAAA:"),
            (
                "am=(\"@method\");created=1;keyid=\"did:key:z6Mk\"",
                "am=:AAAA:",
            ),
            ("am=(\"@method\";sf);created=1;keyid=\"x\"", "am=:AAAA:"),
            (
                "am=(\"@method\" \"@method\");created=1;keyid=\"x\"",
                "am=:AAAA:",
            ),
            ("am=(\"@target-uri\");created=1;keyid=\"x\"", "am=:AAAA:"),
            ("am=(\"X-Upper\");created=1;keyid=\"x\"", "am=:AAAA:"),
            ("am=(\"absent\");created=1;keyid=\"x\"", "am=:AAAA:"),
            ("am=();created=\"1\";keyid=\"x\"", "am=:AAAA:"),
            (
                "am=();created=1;keyid=\"x\";alg=\"rsa-pss-sha512\"",
                "am=:AAAA:",
            ),
            ("am=();created=1", "am=:AAAA:"),
            ("am=();created=1;keyid=\"x\"", "am=1"),
            (
                "x=();created=1;keyid=\"did:key:a\", y=();created=1;keyid=\"did:key:b\"",
                "",
            ),
        ] {
            let headers = |n: &str| match n {
                "signature-input" => Some(input.to_string()),
                "signature" => Some(sig.to_string()),
                _ => None,
            };
            let got = parse(&headers, &|c| target.value(c), Pick::AgentMesh)
                .and_then(|p| p.check().map(|_| ()));
            assert!(got.is_err(), "{input:?} {sig:?}");
        }
        let huge = format!("am=({})", "\"a\" ".repeat(5000));
        let headers = |n: &str| match n {
            "signature-input" => Some(huge.clone()),
            "signature" => Some("am=:AAAA:".to_string()),
            _ => None,
        };
        assert!(parse(&headers, &|c| target.value(c), Pick::AgentMesh).is_err());
        assert!(content_digest_matches("sha-512=:AAAA:", b"").is_err());
        let both = format!("{}, sha-512=:AAAA:", content_digest(b""));
        assert!(
            !content_digest_matches(&both, b"").expect("parses"),
            "a wrong sha-512 fails"
        );
        assert!(content_digest_matches("((", b"").is_err());
    }
}
