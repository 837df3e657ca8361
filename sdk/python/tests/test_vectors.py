"""docs/test-vectors.json, the vectors every implementation shares: every one is reproduced here
(keys and IDs, the card's JCS form and signature, the request and response signing strings and
signatures, refused IDs, the relay, peer and node signatures and framing, and the RFC 9421
signature bases, inputs and signatures: AgentMesh's request, agent-side and response signatures,
RFC 9421 Appendix B.2.6, the signed key directory and the Web Bot Auth profile)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

import pytest

from agentmesh import (
    Card,
    CardError,
    HandshakeError,
    Identity,
    InvalidAgentIdError,
    NonceCache,
    agent_id_from_public_key,
    httpsig,
    public_key_from_agent_id,
    sign_manifest,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
    verify_signature,
)
from agentmesh.card import CARD_SIGNING_PREFIX, canonical_json
from agentmesh.encoding import b64url, b64url_decode, sha256_hex
from agentmesh.handshake import agent_target, request_signing_string, response_signing_string

# Every section of the file and the test that checks it: a new section fails here until the
# SDK's tests cover it.
SECTIONS = {
    "about": "description only",
    "keys": "test_keys",
    "card": "test_card_jcs_and_signature",
    "request": "test_request_signing_string_and_signature",
    "response": "test_response_signing_string_and_signature",
    "relay_auth": "test_other_signed_strings",
    "relay_frame": "test_relay_frame",
    "peer_announcement": "test_other_signed_strings",
    "node_challenge": "test_other_signed_strings",
    "invalid_ids": "test_invalid_ids",
    "rfc9421_request": "test_rfc9421_request",
    "rfc9421_response": "test_rfc9421_response",
    "rfc9421_b26": "test_rfc9421_b26",
    "rfc9421_directory": "test_rfc9421_directory",
    "web_bot_auth": "test_web_bot_auth",
    "dht": "not SDK: node-to-node DHT keys and buckets (tests/it/vectors.rs)",
    "offer_datagram": "not SDK: node-to-node offer datagrams (tests/it/vectors.rs)",
}


def key(vectors: dict[str, Any], name: str) -> Identity:
    [k] = [k for k in vectors["keys"] if k["name"] == name]
    return Identity.from_seed(bytes.fromhex(k["secret_hex"]))


def test_every_section_is_checked(vectors: dict[str, Any]) -> None:
    assert set(vectors) == set(SECTIONS)


def test_keys(vectors: dict[str, Any]) -> None:
    assert len(vectors["keys"]) == 2
    for k in vectors["keys"]:
        me = Identity.from_seed(bytes.fromhex(k["secret_hex"]))
        assert me.public_key.hex() == k["public_hex"]
        assert me.agent_id == k["did"]
        assert me.agent_id.startswith("did:key:z6Mk")
        assert agent_id_from_public_key(bytes.fromhex(k["public_hex"])) == k["did"]
        assert public_key_from_agent_id(k["did"]).hex() == k["public_hex"]


def test_contract_keys_in_protocol_md(vectors: dict[str, Any]) -> None:
    # docs/protocol.md §8 spells the same values out.
    a = Identity.from_seed(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    assert a.agent_id == "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
    assert a.agent_id == vectors["keys"][0]["did"]


def test_card_jcs_and_signature(vectors: dict[str, Any]) -> None:
    c = vectors["card"]
    signer = key(vectors, c["signer"])
    assert canonical_json(c["manifest"]).decode("utf-8") == c["jcs"]
    assert c["signing_prefix"].encode() == CARD_SIGNING_PREFIX
    envelope = sign_manifest(c["manifest"], signer)
    assert envelope["manifest_signature"] == c["manifest_signature"]
    card = Card.verify({"manifest": c["manifest"], "manifest_signature": c["manifest_signature"]})
    assert (card.name, card.agent_id, card.issued_at) == ("weather", signer.agent_id, 1_795_478_400)
    # The signature covers the JCS form, not the file's key order.
    reordered = json.loads(json.dumps(c["manifest"], sort_keys=True, indent=3))
    Card.verify({"manifest": reordered, "manifest_signature": c["manifest_signature"]})
    assert verify_signature(
        signer.agent_id,
        CARD_SIGNING_PREFIX + c["jcs"].encode(),
        b64url_decode(c["manifest_signature"]),
    )


def test_card_vector_tampered_fails(vectors: dict[str, Any]) -> None:
    c = vectors["card"]
    m = dict(c["manifest"], name="weather2")
    with pytest.raises(CardError) as e:
        Card.verify({"manifest": m, "manifest_signature": c["manifest_signature"]})
    assert e.value.code == "bad_signature"


def test_request_signing_string_and_signature(vectors: dict[str, Any]) -> None:
    r = vectors["request"]
    signer = key(vectors, r["signer"])
    body = r["body"].encode()
    assert sha256_hex(body) == r["body_sha256_hex"]
    assert (
        request_signing_string(
            r["method"],
            r["path_and_query"],
            r["target"],
            signer.agent_id,
            r["timestamp"],
            r["nonce"],
            r["body_sha256_hex"],
        )
        == r["signing_string"]
    )
    for method in (r["method"], r["method"].lower()):
        headers = sign_request(
            signer,
            method,
            r["path_and_query"],
            r["target"],
            body,
            timestamp=r["timestamp"],
            nonce=r["nonce"],
        )
        assert headers == {
            "X-Agent-ID": signer.agent_id,
            "X-Agent-Target": r["target"],
            "X-Agent-Timestamp": str(r["timestamp"]),
            "X-Agent-Nonce": r["nonce"],
            "X-Agent-Signature": r["signature"],
        }
    assert signer.sign_b64(r["signing_string"].encode()) == r["signature"]


def test_request_vector_verifies_at_its_target(vectors: dict[str, Any]) -> None:
    r = vectors["request"]
    signer = key(vectors, r["signer"])
    headers = {
        "X-Agent-ID": signer.agent_id,
        "X-Agent-Target": r["target"],
        "X-Agent-Timestamp": str(r["timestamp"]),
        "X-Agent-Nonce": r["nonce"],  # 17 bytes: valid
        "X-Agent-Signature": r["signature"],
    }
    assert len(b64url_decode(r["nonce"])) == 17
    cache = NonceCache()
    caller = verify_request(
        r["method"],
        r["path_and_query"],
        headers,
        r["body"].encode(),
        r["target"],
        nonce_cache=cache,
        now=r["timestamp"] + 30,
    )
    assert caller == signer.agent_id
    with pytest.raises(HandshakeError) as e:
        verify_request(
            r["method"],
            r["path_and_query"],
            headers,
            r["body"].encode(),
            r["target"],
            nonce_cache=cache,
            now=r["timestamp"] + 30,
        )
    assert e.value.code == "replayed_nonce"
    with pytest.raises(HandshakeError) as e:
        verify_request(
            r["method"],
            r["path_and_query"],
            headers,
            r["body"].encode(),
            r["target"],
            nonce_cache=NonceCache(),
            now=r["timestamp"] + 61,
        )
    assert e.value.code == "stale_timestamp"


def test_response_signing_string_and_signature(vectors: dict[str, Any]) -> None:
    s = vectors["response"]
    signer = key(vectors, s["signer"])
    body = s["body"].encode()
    assert sha256_hex(body) == s["body_sha256_hex"]
    assert (
        response_signing_string(
            s["status"], s["request_nonce"], signer.agent_id, s["timestamp"], s["body_sha256_hex"]
        )
        == s["signing_string"]
    )
    headers = sign_response(
        signer, s["status"], s["request_nonce"], body, timestamp=s["timestamp"], rfc9421=False
    )
    assert headers == {
        "X-Agent-ID": signer.agent_id,
        "X-Agent-Timestamp": str(s["timestamp"]),
        "X-Agent-Signature": s["signature"],
    }
    verify_response(signer.agent_id, s["status"], s["request_nonce"], headers, body)
    with pytest.raises(HandshakeError) as e:
        verify_response(signer.agent_id, s["status"], s["request_nonce"], headers, body + b" ")
    assert e.value.code == "bad_signature"


@pytest.mark.parametrize("section", ["relay_auth", "peer_announcement", "node_challenge"])
def test_other_signed_strings(vectors: dict[str, Any], section: str) -> None:
    v = vectors[section]
    signer = key(vectors, v["signer"])
    if section == "relay_auth":
        expected = f"AGENTMESH-RELAY-V1\n{v['relay_id']}\n{v['agent_id']}\n{v['nonce']}"
        assert v["agent_id"] == signer.agent_id
    elif section == "peer_announcement":
        expected = f"AGENTMESH-PEER-V1\n{v['node_id']}\n{v['url']}\n{v['issued_at']}"
    else:
        expected = f"AGENTMESH-NODE-V1\n{v['node_id']}\n{v['challenge']}"
    assert v["signing_string"] == expected
    assert signer.sign_b64(expected.encode()) == v["signature"]
    assert verify_signature(signer.agent_id, expected.encode(), b64url_decode(v["signature"]))
    assert not verify_signature(
        signer.agent_id, expected.encode() + b"x", b64url_decode(v["signature"])
    )


def test_relay_frame(vectors: dict[str, Any]) -> None:
    f = vectors["relay_frame"]
    frame = bytes.fromhex(f["frame_hex"])
    (n,) = struct.unpack(">I", frame[:4])
    head, body = frame[4 : 4 + n], frame[4 + n :]
    assert json.loads(head) == f["head"]
    assert body == f["body"].encode()
    # The head is compact JSON in the field order shown.
    assert head == json.dumps(f["head"], separators=(",", ":")).encode()


def test_invalid_ids(vectors: dict[str, Any]) -> None:
    assert vectors["invalid_ids"]
    for bad in vectors["invalid_ids"]:
        did = bad.get("id") or agent_id_from_public_key(bytes.fromhex(bad["id_of_key_hex"]))
        with pytest.raises(InvalidAgentIdError) as e:
            public_key_from_agent_id(did)
        assert e.value.code == "invalid_id", bad["why"]
        # A request from such an ID is a bad signature, as at the node.
        me = Identity.generate()
        headers = {
            "X-Agent-ID": did,
            "X-Agent-Target": me.agent_id,
            "X-Agent-Timestamp": "1795000000",
            "X-Agent-Nonce": b64url(hashlib.sha256(did.encode()).digest()[:16]),
            "X-Agent-Signature": b64url(bytes(64)),
        }
        with pytest.raises(HandshakeError) as he:
            verify_request("GET", "/", headers, b"", me, nonce_cache=NonceCache(), now=1795000000)
        assert he.value.code == "bad_signature", bad["why"]


def test_rfc9421_request(vectors: dict[str, Any]) -> None:
    r = vectors["rfc9421_request"]
    signer = key(vectors, r["signer"])
    body = r["body"].encode()
    assert httpsig.content_digest(body) == r["content_digest"]
    assert r["expires"] == r["created"] + httpsig.VALIDITY_S
    params = httpsig.Params.agentmesh(signer, r["created"], r["nonce"])
    path = "/" + r["agent_url"].split("/", 3)[3]  # the path the agent sees: /forecast?days=2
    for name, s in r["signatures"].items():
        if "url" in s:
            target = httpsig.RequestTarget.of_url(r["method"], r[s["url"]])
        else:
            target = agent_target(r["method"], r["target"], f"relay://{r['target']}", path)
            assert target is not None and target.authority == s["authority"]
        assert target is not None
        signed = httpsig.sign_request(signer, s["label"], target, body, params)
        assert signed.base == s["signature_base"], name
        assert signed.input == s["signature_input"], name
        assert signed.signature == s["signature"], name
        assert verify_signature(
            signer.agent_id, s["signature_base"].encode(), base64.b64decode(s["signature"][1:-1])
        )
    # The am-agent for an http endpoint is the endpoint joined with the path (§7).
    http = agent_target(r["method"], r["target"], "http://127.0.0.1:8080", path)
    assert http == httpsig.RequestTarget.of_url(r["method"], r["agent_url"])

    # The caller's headers, exactly: both forms, agreeing on nonce and time.
    headers = sign_request(
        signer,
        r["method"],
        path,
        r["target"],
        body,
        timestamp=r["created"],
        nonce=r["nonce"],
        url=r["gateway_url"],
        agent_endpoint="http://127.0.0.1:8080",
    )
    through = r["headers_through_gateway"]
    assert {k.lower(): v for k, v in headers.items() if not k.startswith("X-Agent-")} == through
    assert headers["X-Agent-Signature"] == vectors["request"]["signature"]

    # The gateway verifies them (its own URL as @authority and @path; the X-Agent-* form over
    # the agent's path), and hands the agent its own signature, relabelled am.
    gateway = dict(headers, Host="127.0.0.1:7070")
    wire = r["gateway_url"].split("7070", 1)[1]
    caller = verify_request(
        r["method"],
        path,
        gateway,
        body,
        r["target"],
        nonce_cache=NonceCache(),
        now=r["created"] + 1,
        wire_path=wire,
    )
    assert caller == signer.agent_id
    lookup = {k.lower(): v for k, v in through.items()}.get
    assert httpsig.for_agent(lookup) == (
        r["headers_at_agent"]["signature-input"],
        r["headers_at_agent"]["signature"],
    )
    at_agent = {
        "Host": "127.0.0.1:8080",
        "Content-Digest": r["headers_at_agent"]["content-digest"],
        "Signature-Input": r["headers_at_agent"]["signature-input"],
        "Signature": r["headers_at_agent"]["signature"],
    }
    assert httpsig.nonce_of({k.lower(): v for k, v in at_agent.items()}.get) == r["nonce"]
    # The RFC 9421 form alone verifies at the agent, and both forms together.
    for extra in ({}, {k: v for k, v in headers.items() if k.startswith("X-Agent-")}):
        caller = verify_request(
            r["method"],
            path,
            dict(at_agent, **extra),
            body,
            r["target"],
            nonce_cache=NonceCache(),
            now=r["created"] + 1,
        )
        assert caller == signer.agent_id
    # The relayed form verifies where @authority is the agent's did:key (`connect`'s check).
    relay_sig = r["signatures"]["am_agent_relay"]
    relayed = {
        "Host": "127.0.0.1:9999",
        "Content-Digest": r["content_digest"],
        "Signature-Input": f"am={relay_sig['signature_input']}",
        "Signature": f"am={relay_sig['signature']}",
    }
    caller = verify_request(
        r["method"], path, relayed, body, r["target"], nonce_cache=NonceCache(), now=r["created"]
    )
    assert caller == signer.agent_id
    # Expired (created + 60 passed, whatever the clock window) and from the future: stale.
    for now, skew in ((r["expires"] + 1, 3600), (r["created"] - 61, 60)):
        with pytest.raises(HandshakeError) as e:
            verify_request(
                r["method"],
                path,
                at_agent,
                body,
                r["target"],
                nonce_cache=NonceCache(),
                now=now,
                clock_skew=skew,
            )
        assert e.value.code == "stale_timestamp"


def test_rfc9421_response(vectors: dict[str, Any]) -> None:
    s = vectors["rfc9421_response"]
    signer = key(vectors, s["signer"])
    body = s["body"].encode()
    assert httpsig.content_digest(body) == s["content_digest"]
    signed = httpsig.sign_response(signer, s["status"], s["request_nonce"], body, s["created"])
    assert signed.base == s["signature_base"]
    assert signed.input_member() == s["signature_input"]
    assert signed.signature_member() == s["signature"]
    assert s["expires"] == s["created"] + httpsig.VALIDITY_S
    headers = sign_response(signer, s["status"], s["request_nonce"], body, timestamp=s["created"])
    assert headers["Content-Digest"] == s["content_digest"]
    assert headers["Signature-Input"] == s["signature_input"]
    assert headers["Signature"] == s["signature"]
    # Either form alone verifies, and both together; a changed body or nonce does not.
    rfc_only = {k: v for k, v in headers.items() if not k.startswith("X-Agent-")}
    for h in (headers, rfc_only):
        verify_response(signer.agent_id, s["status"], s["request_nonce"], h, body)
        for status, nonce, b in (
            (s["status"], s["request_nonce"], body + b" "),
            (s["status"], "another-nonce-another-nonce", body),
            (500, s["request_nonce"], body),
        ):
            with pytest.raises(HandshakeError) as e:
                verify_response(signer.agent_id, status, nonce, h, b)
            assert e.value.code == "bad_signature"
    with pytest.raises(HandshakeError) as e:
        verify_response(key(vectors, "a").agent_id, s["status"], s["request_nonce"], rfc_only, body)
    assert e.value.code == "wrong_target"


def test_rfc9421_b26(vectors: dict[str, Any]) -> None:
    b = vectors["rfc9421_b26"]
    secret = b64url_decode(b["secret_b64url"])
    me = Identity.from_seed(secret)
    assert b64url(me.public_key) == b["public_b64url"]
    params = httpsig.Params(created=b["created"], keyid=b["keyid"])
    label = b["signature_input"].split("=", 1)[0]
    signed = httpsig.sign(me, label, b["components"], b["values"], params)
    assert signed.base == b["signature_base"]
    assert signed.input_member() == b["signature_input"]
    assert signed.signature_member() == b["signature"]
    # And the verifier rebuilds the same base from the message (the query is not covered).
    headers = {
        "signature-input": b["signature_input"],
        "signature": b["signature"],
        "date": b["values"][0],
        "content-type": b["values"][4],
        "content-length": b["values"][5],
    }
    target = httpsig.RequestTarget.new("POST", "example.com", "/foo?param=Value&Pet=dog")
    parsed = httpsig.parse(headers.get, target.value, label)
    assert parsed.base == b["signature_base"]
    assert parsed.signature == base64.b64decode(b["signature"].split(":")[1])
    assert verify_signature(me.agent_id, parsed.base.encode(), parsed.signature)


def test_rfc9421_directory(vectors: dict[str, Any]) -> None:
    d = vectors["rfc9421_directory"]
    me = Identity.from_seed(b64url_decode(vectors["rfc9421_b26"]["secret_b64url"]))
    assert httpsig.jwk_thumbprint(me.public_key) == d["jwk_thumbprint"]
    assert httpsig.directory_body(me.public_key) == d["body"]
    assert json.loads(d["body"])["keys"][0]["kid"] == d["jwk_thumbprint"]
    assert httpsig.content_digest(d["body"].encode()) == d["content_digest"]
    signed = httpsig.sign_directory(me, d["authority"], d["created"], d["expires"])
    assert signed.base == d["signature_base"]
    assert signed.input_member() == d["signature_input"]
    assert signed.signature_member() == d["signature"]
    # The authority is lowercased, as RFC 9421 normalizes it.
    assert httpsig.sign_directory(me, d["authority"].upper(), d["created"], d["expires"]) == signed


def test_web_bot_auth(vectors: dict[str, Any]) -> None:
    w = vectors["web_bot_auth"]
    signer = key(vectors, w["signer"])
    assert httpsig.jwk_thumbprint(signer.public_key) == w["jwk_thumbprint"]
    # RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace.
    jwk = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": b64url(signer.public_key)}, separators=(",", ":")
    )
    assert b64url(hashlib.sha256(jwk.encode()).digest()) == w["jwk_thumbprint"]
    target = httpsig.RequestTarget.of_url(w["method"], w["url"])
    assert target is not None
    nonce = bytes.fromhex(w["nonce_bytes_hex"])
    agent, signed = httpsig.sign_web_bot_auth(
        signer, target, w["body"].encode(), w["directory"], w["created"], nonce
    )
    assert agent == w["signature-agent"]
    assert signed.base == w["signature_base"]
    assert signed.input_member() == w["signature_input"]
    assert signed.signature_member() == w["signature"]
    assert base64.b64decode(signed.input.split('nonce="')[1].split('"')[0]) == nonce
    # sign_request(web_bot_auth=…) adds it beside am, and Signature-Agent.
    headers = sign_request(
        signer,
        w["method"],
        "/page?x=1",
        Identity.generate().agent_id,
        w["body"],
        url=w["url"],
        web_bot_auth=w["directory"],
    )
    assert headers["Signature-Agent"] == w["signature-agent"]
    labels = [m.split("=", 1)[0] for m in headers["Signature-Input"].split(", ")]
    assert labels == ["am", "wba"]
