//! `docs/test-vectors.json`, the protocol's machine-readable test vectors (the SDKs read the same
//! file): every identity, signing string, signature and frame is reproduced exactly by this
//! crate, and every invalid ID is refused.

use agentmesh::card::{CARD_SIGNING_PREFIX, Card, sign_manifest};
use agentmesh::encoding::sha256_hex;
use agentmesh::handshake::{
    Verifier, request_signing_string, response_signing_string, sign_request_with_nonce,
    sign_response, verify_response,
};
use agentmesh::identity::{Identity, did_from_key_bytes, public_from_did};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/test-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/test-vectors.json"))
        .expect("valid JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

fn identity(v: &Value, name: &str) -> Identity {
    let key = v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == name)
        .expect("named key");
    let secret: [u8; 32] = hex::decode(s(key, "secret_hex"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    Identity::from_secret(&secret)
}

#[test]
fn identities() {
    let v = vectors();
    for k in v["keys"].as_array().expect("keys") {
        let id = identity(&v, s(k, "name"));
        assert_eq!(
            hex::encode(id.verifying_key().as_bytes()),
            s(k, "public_hex")
        );
        assert_eq!(id.id(), s(k, "did"));
        assert!(public_from_did(s(k, "did")).is_ok());
    }
}

#[test]
fn card_envelope() {
    let v = vectors();
    let c = &v["card"];
    let signer = identity(&v, s(c, "signer"));
    assert_eq!(
        serde_json_canonicalizer::to_string(&c["manifest"]).expect("jcs"),
        s(c, "jcs")
    );
    assert_eq!(CARD_SIGNING_PREFIX, s(c, "signing_prefix").as_bytes());
    let envelope = sign_manifest(c["manifest"].clone(), &signer).expect("sign");
    assert_eq!(envelope["manifest_signature"], c["manifest_signature"]);
    Card::from_value(envelope).expect("the vector card verifies and validates");
}

#[test]
fn signed_request() {
    let v = vectors();
    let r = &v["request"];
    let signer = identity(&v, s(r, "signer"));
    let body = s(r, "body").as_bytes();
    assert_eq!(sha256_hex(body), s(r, "body_sha256_hex"));
    let ts = r["timestamp"].as_i64().expect("timestamp");
    let string = request_signing_string(
        s(r, "method"),
        s(r, "path_and_query"),
        s(r, "target"),
        signer.id(),
        ts,
        s(r, "nonce"),
        s(r, "body_sha256_hex"),
    );
    assert_eq!(string, s(r, "signing_string"));
    let signed = sign_request_with_nonce(
        &signer,
        s(r, "target"),
        s(r, "method"),
        s(r, "path_and_query"),
        body,
        ts,
        s(r, "nonce"),
    );
    assert_eq!(signed.signature, s(r, "signature"));
    let verifier = Verifier::new(s(r, "target"), 60, 16);
    let caller = verifier
        .verify(
            |h| signed.get(h),
            s(r, "method"),
            s(r, "path_and_query"),
            body,
            ts,
        )
        .expect("verifies");
    assert_eq!(caller, signer.id());
}

#[test]
fn signed_response() {
    let v = vectors();
    let r = &v["response"];
    let signer = identity(&v, s(r, "signer"));
    let body = s(r, "body").as_bytes();
    let ts = r["timestamp"].as_i64().expect("timestamp");
    let status = u16::try_from(r["status"].as_u64().expect("status")).expect("u16");
    assert_eq!(sha256_hex(body), s(r, "body_sha256_hex"));
    assert_eq!(
        response_signing_string(
            status,
            s(r, "request_nonce"),
            signer.id(),
            ts,
            &sha256_hex(body)
        ),
        s(r, "signing_string")
    );
    let signed = sign_response(&signer, status, s(r, "request_nonce"), body, ts);
    assert_eq!(signed.signature, s(r, "signature"));
    let header = |name: &str| match name {
        "x-agent-id" => Some(signed.agent_id.clone()),
        "x-agent-timestamp" => Some(signed.timestamp.to_string()),
        "x-agent-signature" => Some(signed.signature.clone()),
        _ => None,
    };
    verify_response(signer.id(), status, s(r, "request_nonce"), header, body).expect("verifies");
}

#[test]
fn relay_peer_and_node_signatures() {
    let v = vectors();
    let relay = &v["relay_auth"];
    assert_eq!(
        agentmesh::relay::auth_signing_string(
            s(relay, "relay_id"),
            s(relay, "agent_id"),
            s(relay, "nonce")
        ),
        s(relay, "signing_string")
    );
    let peer = &v["peer_announcement"];
    assert_eq!(
        agentmesh::federation::announcement_signing_string(
            s(peer, "node_id"),
            s(peer, "url"),
            s(peer, "issued_at")
        ),
        s(peer, "signing_string")
    );
    let node = &v["node_challenge"];
    assert_eq!(
        agentmesh::federation::node_challenge_string(s(node, "node_id"), s(node, "challenge")),
        s(node, "signing_string")
    );
    for e in [relay, peer, node] {
        let signer = identity(&v, s(e, "signer"));
        assert_eq!(
            signer.sign_b64(s(e, "signing_string").as_bytes()),
            s(e, "signature")
        );
    }
}

#[test]
fn relay_frame() {
    let v = vectors();
    let f = &v["relay_frame"];
    let head: agentmesh::relay::RequestHead =
        serde_json::from_value(f["head"].clone()).expect("a request head");
    let frame = agentmesh::relay::encode(&head, s(f, "body").as_bytes());
    assert_eq!(hex::encode(&frame), s(f, "frame_hex"));
    let (decoded, body) =
        agentmesh::relay::decode::<agentmesh::relay::RequestHead>(&frame).expect("decodes");
    assert_eq!(decoded, head);
    assert_eq!(body, s(f, "body").as_bytes());
}

#[test]
fn invalid_ids_are_refused() {
    for e in vectors()["invalid_ids"].as_array().expect("list") {
        let id = match e["id"].as_str() {
            Some(id) => id.to_string(),
            None => {
                let raw: [u8; 32] = hex::decode(s(e, "id_of_key_hex"))
                    .expect("hex")
                    .try_into()
                    .expect("32 bytes");
                did_from_key_bytes(&raw)
            }
        };
        assert!(public_from_did(&id).is_err(), "{id}: {}", s(e, "why"));
    }
}

#[test]
fn rfc9421_request_and_what_the_agent_receives() {
    use agentmesh::httpsig::{self, Params, RequestTarget};
    let v = vectors();
    let r = &v["rfc9421_request"];
    let signer = identity(&v, s(r, "signer"));
    let body = s(r, "body").as_bytes();
    assert_eq!(httpsig::content_digest(body), s(r, "content_digest"));
    let created = r["created"].as_i64().expect("created");
    let params = Params::agentmesh(&signer, created, s(r, "nonce"));
    assert_eq!(params.expires, r["expires"].as_i64());
    let sigs = &r["signatures"];
    for (name, target) in [
        ("am", RequestTarget::of_url("POST", s(r, "gateway_url"))),
        (
            "am_agent_http",
            RequestTarget::of_url("POST", s(r, "agent_url")),
        ),
        (
            "am_agent_relay",
            Some(RequestTarget::new(
                "POST",
                s(r, "target"),
                "/forecast?days=2",
            )),
        ),
    ] {
        let want = &sigs[name];
        let signed = httpsig::sign_request(
            &signer,
            s(want, "label"),
            &target.expect("url"),
            body,
            &params,
        )
        .expect("sign");
        assert_eq!(signed.base, s(want, "signature_base"), "{name}");
        assert_eq!(signed.input, s(want, "signature_input"), "{name}");
        assert_eq!(signed.signature, s(want, "signature"), "{name}");
    }
    // The gateway verifies `am` and hands the agent `am-agent` as `am`.
    let through = &r["headers_through_gateway"];
    let header = |n: &str| through[n].as_str().map(str::to_string);
    let (input, signature) = httpsig::for_agent(&header).expect("am-agent");
    let at_agent = &r["headers_at_agent"];
    assert_eq!(input, s(at_agent, "signature-input"));
    assert_eq!(signature, s(at_agent, "signature"));
    // The agent (a Verifier, Host = its endpoint's authority) accepts it, with the §4 form too.
    let x = sign_request_with_nonce(
        &signer,
        s(r, "target"),
        "POST",
        "/forecast?days=2",
        body,
        created,
        s(r, "nonce"),
    );
    let header = |n: &str| match n {
        "host" => Some("127.0.0.1:8080".to_string()),
        "signature-input" | "signature" | "content-digest" => {
            at_agent[n].as_str().map(str::to_string)
        }
        other => x.get(other),
    };
    let verifier = Verifier::new(s(r, "target"), 60, 16);
    let caller = verifier
        .verify(header, "POST", "/forecast?days=2", body, created)
        .expect("both forms verify and agree");
    assert_eq!(caller, signer.id());
    // An agent that pins its authority refuses the same RFC 9421 signature under another one
    // (the X-Agent-* form left out, so only the RFC 9421 form decides).
    let rfc_only = |n: &str| match n {
        "host" => Some("127.0.0.1:8080".to_string()),
        "signature-input" | "signature" | "content-digest" => {
            at_agent[n].as_str().map(str::to_string)
        }
        _ => None,
    };
    let pinned = Verifier::new(s(r, "target"), 60, 16).with_authority("127.0.0.1:8080");
    pinned
        .verify(rfc_only, "POST", "/forecast?days=2", body, created)
        .expect("its own authority");
    let elsewhere = Verifier::new(s(r, "target"), 60, 16).with_authority("agent-b.example");
    assert_eq!(
        elsewhere
            .verify(rfc_only, "POST", "/forecast?days=2", body, created)
            .map_err(|e| e.code()),
        Err("bad_signature")
    );
}

#[test]
fn rfc9421_response() {
    use agentmesh::httpsig;
    let v = vectors();
    let r = &v["rfc9421_response"];
    let signer = identity(&v, s(r, "signer"));
    let body = s(r, "body").as_bytes();
    let status = u16::try_from(r["status"].as_u64().expect("status")).expect("u16");
    let created = r["created"].as_i64().expect("created");
    let signed = httpsig::sign_response(&signer, status, s(r, "request_nonce"), body, created)
        .expect("sign");
    assert_eq!(httpsig::content_digest(body), s(r, "content_digest"));
    assert_eq!(signed.base, s(r, "signature_base"));
    assert_eq!(signed.input_member(), s(r, "signature_input"));
    assert_eq!(signed.signature_member(), s(r, "signature"));
    let header = |n: &str| match n {
        "signature-input" => Some(signed.input_member()),
        "signature" => Some(signed.signature_member()),
        "content-digest" => Some(httpsig::content_digest(body)),
        _ => None,
    };
    verify_response(signer.id(), status, s(r, "request_nonce"), header, body).expect("verifies");
    assert!(verify_response(signer.id(), 201, s(r, "request_nonce"), header, body).is_err());
}

#[test]
fn rfc9421_appendix_b26() {
    use agentmesh::httpsig::{self, Params};
    let v = vectors();
    let r = &v["rfc9421_b26"];
    let secret: [u8; 32] = agentmesh::encoding::b64url_decode(s(r, "secret_b64url"))
        .expect("b64")
        .try_into()
        .expect("32 bytes");
    let key = Identity::from_secret(&secret);
    assert_eq!(
        agentmesh::encoding::b64url(key.verifying_key().as_bytes()),
        s(r, "public_b64url")
    );
    let strings = |k: &str| -> Vec<String> {
        r[k].as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_str().expect("str").to_string())
            .collect()
    };
    let components = strings("components");
    let components: Vec<&str> = components.iter().map(String::as_str).collect();
    let params = Params {
        created: r["created"].as_i64().expect("created"),
        keyid: s(r, "keyid").into(),
        ..Params::default()
    };
    let signed =
        httpsig::sign(&key, "sig-b26", &components, &strings("values"), &params).expect("sign");
    assert_eq!(signed.base, s(r, "signature_base"));
    assert_eq!(signed.input_member(), s(r, "signature_input"));
    assert_eq!(signed.signature_member(), s(r, "signature"));
}

#[test]
fn web_bot_auth_and_key_directory() {
    use agentmesh::httpsig::{self, RequestTarget};
    let v = vectors();
    let w = &v["web_bot_auth"];
    let signer = identity(&v, s(w, "signer"));
    let public = signer.verifying_key().to_bytes();
    assert_eq!(httpsig::jwk_thumbprint(&public), s(w, "jwk_thumbprint"));
    let nonce: [u8; 64] = hex::decode(s(w, "nonce_bytes_hex"))
        .expect("hex")
        .try_into()
        .expect("64 bytes");
    let (agent, signed) = httpsig::sign_web_bot_auth(
        &signer,
        &RequestTarget::of_url(s(w, "method"), s(w, "url")).expect("url"),
        s(w, "body").as_bytes(),
        s(w, "directory"),
        w["created"].as_i64().expect("created"),
        &nonce,
    )
    .expect("sign");
    assert_eq!(agent, s(w, "signature-agent"));
    assert_eq!(signed.base, s(w, "signature_base"));
    assert_eq!(signed.input_member(), s(w, "signature_input"));
    assert_eq!(signed.signature_member(), s(w, "signature"));

    let d = &v["rfc9421_directory"];
    let secret: [u8; 32] =
        agentmesh::encoding::b64url_decode(s(&v["rfc9421_b26"], "secret_b64url"))
            .expect("b64")
            .try_into()
            .expect("32 bytes");
    let key = Identity::from_secret(&secret);
    let public = key.verifying_key().to_bytes();
    assert_eq!(httpsig::jwk_thumbprint(&public), s(d, "jwk_thumbprint"));
    assert_eq!(httpsig::directory_body(&public), s(d, "body"));
    assert_eq!(
        httpsig::content_digest(s(d, "body").as_bytes()),
        s(d, "content_digest")
    );
    let signed = httpsig::sign_directory(
        &key,
        s(d, "authority"),
        d["created"].as_i64().expect("created"),
        d["expires"].as_i64().expect("expires"),
    )
    .expect("sign");
    assert_eq!(signed.base, s(d, "signature_base"));
    assert_eq!(signed.input_member(), s(d, "signature_input"));
    assert_eq!(signed.signature_member(), s(d, "signature"));
}

#[test]
fn dht_lsh_stream_buckets_probes_and_keys() {
    use agentmesh::discovery::lsh;
    let v = vectors();
    let d = &v["dht"];
    assert_eq!(s(d, "lsh_seed"), format!("0x{:016X}", lsh::SEED));
    let vector: Vec<f32> = d["lsh_vector"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    let pairs = |key: &str| -> Vec<lsh::Bucket> {
        d[key]
            .as_array()
            .expect("pairs")
            .iter()
            .map(|p| {
                let n = |i: usize| u8::try_from(p[i].as_u64().expect("int")).expect("u8");
                (n(0), n(1))
            })
            .collect()
    };
    assert_eq!(lsh::buckets(&vector), pairs("lsh_buckets"));
    assert_eq!(lsh::probes(&vector), pairs("lsh_probes"));
    assert_eq!(
        s(d, "lsh_first_output"),
        format!("0x{:016X}", lsh::first_output())
    );
    for k in d["keys"].as_array().expect("keys") {
        let of = s(k, "of");
        let key = match s(k, "kind") {
            "card" => agentmesh::dht::card_key(of),
            "tag" => agentmesh::dht::tag_key(of),
            "protocol" => agentmesh::dht::protocol_key(of),
            "skill" => agentmesh::dht::skill_key(of),
            "bucket" => {
                let parts: Vec<&str> = of.split(' ').collect();
                agentmesh::dht::bucket_key(
                    parts[0],
                    (
                        parts[1].parse().expect("table"),
                        parts[2].parse().expect("bucket"),
                    ),
                )
            }
            other => panic!("unknown key kind {other}"),
        };
        assert_eq!(key.as_ref(), s(k, "key").as_bytes(), "{k}");
    }
}

#[test]
fn offer_datagram_link_key_and_seal() {
    // The values were checked with libsodium (crypto_sign_ed25519_*_to_curve25519,
    // crypto_scalarmult) and Python's hmac, independently of this implementation.
    use agentmesh::federation::gossip::{Datagram, check, link_key, parse, seal};
    let v = vectors();
    let g = &v["offer_datagram"];
    let (a, b) = (identity(&v, "a"), identity(&v, "b"));
    let key = link_key(&a, b.id()).expect("link key");
    let hex = |bytes: &[u8]| bytes.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(key, link_key(&b, a.id()).expect("the other end"));
    let d: Datagram = serde_json::from_value(g["datagram"].clone()).expect("datagram");
    let sealed = seal(&key, &d).expect("seal");
    assert_eq!(hex(&key), s(g, "link_key_hex"));
    assert_eq!(hex(&sealed), s(g, "sealed_hex"));
    assert_eq!(parse(&sealed).expect("parse"), d);
    check(&key, &sealed).expect("MAC");
}
