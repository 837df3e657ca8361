"""docs/test-vectors.json, the vectors every implementation shares: every one is reproduced here
(keys and IDs, the card's JCS form and signature, the request and response signing strings and
signatures, refused IDs, and the relay, peer and node signatures and framing)."""

from __future__ import annotations

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
from agentmesh.handshake import request_signing_string, response_signing_string

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
    headers = sign_response(signer, s["status"], s["request_nonce"], body, timestamp=s["timestamp"])
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
