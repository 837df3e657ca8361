"""Cards: signed as received (JCS), verified in the node's order, field rules named."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from agentmesh import Card, CardError, Identity, build_manifest, sign_manifest, validate_manifest
from agentmesh.card import canonical_json

ISSUED = 1_795_000_000


def signed(me: Identity, edit: Callable[[dict[str, Any]], None] = lambda m: None) -> dict[str, Any]:
    m = build_manifest(me.agent_id, name="svc", endpoint="http://127.0.0.1:9", issued_at=ISSUED)
    edit(m)
    return sign_manifest(m, me)


def test_build_sign_verify() -> None:
    me = Identity.generate()
    m = build_manifest(
        me.agent_id,
        name="weather",
        endpoint="http://127.0.0.1:8080",
        description="Forecasts",
        skills=["forecast", {"id": "alerts", "name": "Alerts", "examples": ["storm?"]}],
        tags=["weather"],
        protocols=["http"],
        qps_budget=5,
        concurrency_limit=2,
        ttl=timedelta(days=30),
        meta={"owner": "ops@example.com"},
        issued_at=ISSUED,
        x_future={"kept": True},
    )
    assert m["skills"] == [
        {"id": "forecast"},
        {"id": "alerts", "name": "Alerts", "examples": ["storm?"]},
    ]
    assert m["issued_at"] == "2026-11-18T11:06:40Z"
    assert m["expires_at"] == "2026-12-18T11:06:40Z"
    assert m["x_future"] == {"kept": True}
    card = Card.verify(sign_manifest(m, me))
    assert (card.agent_id, card.name, card.endpoint, card.tags, card.protocols) == (
        me.agent_id,
        "weather",
        "http://127.0.0.1:8080",
        ["weather"],
        ["http"],
    )
    assert card.issued_at == ISSUED and card.expires_at == ISSUED + 30 * 86400 and not card.revoked
    assert card.skills[0] == {"id": "forecast"}


def test_expires_at_spellings() -> None:
    me = Identity.generate()
    at = datetime(2027, 1, 2, 3, 4, 5, 600, tzinfo=timezone.utc)
    m = build_manifest(me.agent_id, name="x", endpoint="http://h", issued_at=ISSUED, expires_at=at)
    assert m["expires_at"] == "2027-01-02T03:04:05Z"
    m = build_manifest(
        me.agent_id, name="x", endpoint="http://h", issued_at=ISSUED, expires_at=ISSUED + 5
    )
    assert m["expires_at"] == "2026-11-18T11:06:45Z"
    with pytest.raises(CardError):
        build_manifest(
            me.agent_id,
            name="x",
            endpoint="http://h",
            issued_at=ISSUED,
            expires_at=datetime(2027, 1, 1),
        )
    with pytest.raises(TypeError):
        build_manifest(
            me.agent_id,
            name="x",
            endpoint="http://h",
            issued_at=ISSUED,
            ttl=5,
            expires_at=ISSUED + 9,
        )
    with pytest.raises(TypeError):
        build_manifest(me.agent_id, name="x", endpoint="http://h", issued_at=ISSUED, tags="weather")


def test_unknown_fields_are_signed_as_received() -> None:
    me = Identity.generate()
    env = signed(me, lambda m: m.update(x_future={"z": [3, 1.5, "é"], "a": None}))
    text = json.dumps(env, indent=2, sort_keys=True)
    card = Card.verify(json.loads(text))
    assert card.manifest["x_future"]["z"][1] == 1.5
    stripped = json.loads(text)
    del stripped["manifest"]["x_future"]
    with pytest.raises(CardError) as e:
        Card.verify(stripped)
    assert e.value.code == "bad_signature"
    # JCS sorts keys by UTF-16 code units and normalizes numbers.
    assert canonical_json({"b": 1.0, "a": 1e21, "é": "x"}) == '{"a":1e+21,"b":1,"é":"x"}'.encode()
    # Integers past 2^53 are read as the nearest double, as the node's canonicalizer reads them.
    assert canonical_json({"n": 2**64 - 1, "m": -(2**53) - 1, "k": 2**53}) == (
        b'{"k":9007199254740992,"m":-9007199254740992,"n":18446744073709552000}'
    )


def field_of(env: dict[str, Any]) -> str:
    with pytest.raises(CardError) as e:
        Card.verify(env)
    assert e.value.code == "invalid_field", e.value
    return e.value.field


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.__setitem__(key, value)


# The node's own cases (src/card/mod.rs, field_rules_name_the_field).
FIELD_CASES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("name", _set("name", "")),
    ("name", _set("name", "x" * 65)),
    ("name", _drop("name")),
    ("schema", _set("schema", "other/v9")),
    ("schema", _drop("schema")),
    ("description", _set("description", 7)),
    ("description", _set("description", "x" * 4001)),
    ("vector_desc", _set("vector_desc", "x" * 4001)),
    ("tags", _set("tags", ["t"] * 33)),
    ("tags[1]", _set("tags", ["ok", ""])),
    ("tags[0]", _set("tags", [3])),
    ("protocols", _set("protocols", ["p"] * 17)),
    ("protocols[0]", _set("protocols", ["p" * 33])),
    ("skills[0].id", _set("skills", [{"name": "no id"}])),
    ("skills[0].id", _set("skills", [{"id": None}])),
    ("skills[0].name", _set("skills", [{"id": "a", "name": 3}])),
    ("skills[0].tags", _set("skills", [{"id": "a", "tags": [1]}])),
    ("skills[0]", _set("skills", ["forecast"])),
    ("skills", _set("skills", [{"id": "a"}] * 65)),
    ("endpoint", _set("endpoint", "ftp://x")),
    ("endpoint", _set("endpoint", "http://")),
    ("endpoint", _set("endpoint", "relay://did:key:z6MkOther")),
    ("endpoint", _drop("endpoint")),
    ("qps_budget", _set("qps_budget", 0)),
    ("qps_budget", _set("qps_budget", "5")),
    ("qps_budget", _set("qps_budget", 1e-20)),
    ("qps_budget", _set("qps_budget", 5e-324)),
    ("qps_budget", _set("qps_budget", -1.0)),
    ("qps_budget", _set("qps_budget", 1e300)),
    ("qps_budget", _set("qps_budget", True)),
    ("concurrency_limit", _set("concurrency_limit", 2**64 - 1)),
    ("concurrency_limit", _set("concurrency_limit", 4_294_967_295)),
    ("concurrency_limit", _set("concurrency_limit", -1)),
    ("concurrency_limit", _set("concurrency_limit", 1.5)),
    ("concurrency_limit", _set("concurrency_limit", 2.0)),
    ("concurrency_limit", _set("concurrency_limit", 0)),
    ("issued_at", _set("issued_at", "yesterday")),
    ("issued_at", _set("issued_at", "2026-11-24T21:00:00.5Z")),
    ("issued_at", _set("issued_at", "2026-11-24T21:00:00+01:00")),
    ("issued_at", _set("issued_at", "1969-12-31T23:59:59Z")),
    ("expires_at", _set("expires_at", "2000-01-01T00:00:00Z")),
    ("expires_at", _set("expires_at", "2026-02-30T00:00:00Z")),
    ("revoked", _set("revoked", "yes")),
    ("meta", _set("meta", {"big": "x" * 9000})),
    ("meta", _set("meta", [1])),
    ("relays[0]", _set("relays", ["ws://x"])),
    ("relays", _set("relays", ["http://r"] * 9)),
]


@pytest.mark.parametrize(("field", "edit"), FIELD_CASES)
def test_field_rules_name_the_field(field: str, edit: Callable[[dict[str, Any]], None]) -> None:
    me = Identity.generate()
    assert field_of(signed(me, edit)) == field


def test_what_the_rules_allow() -> None:
    me = Identity.generate()
    for edit in [
        _set("endpoint", f"relay://{me.agent_id}"),
        _set("endpoint", "wss://h/ws"),
        _set("qps_budget", 0.001),
        _set("concurrency_limit", 1_000_000),
        _set("description", None),
        _set("revoked", None),
        _set("skills", [{"id": "a", "name": None, "tags": None, "inputModes": ["text"]}]),
        _set("issued_at", "2016-12-31T23:59:60Z"),  # a leap second reads as :59
    ]:
        Card.verify(signed(me, edit))

    def tombstone(m: dict[str, Any]) -> None:
        del m["endpoint"]
        m["revoked"] = True

    tomb = signed(me, tombstone)
    assert Card.verify(tomb).revoked


def test_ids_signatures_and_shapes() -> None:
    me = Identity.generate()

    def code(env: Any) -> tuple[str, str]:
        with pytest.raises(CardError) as e:
            Card.verify(env)
        return e.value.code, e.value.field

    env = signed(me)
    env["manifest"]["agent_id"] = "weather"
    assert code(env) == ("invalid_id", "agent_id")
    env = signed(me)
    env["manifest"]["name"] = "tampered"
    assert code(env) == ("bad_signature", "manifest_signature")
    env = signed(me)
    del env["manifest_signature"]
    assert code(env) == ("bad_signature", "manifest_signature")
    env = signed(me)
    env["manifest_signature"] = 7
    assert code(env) == ("bad_signature", "manifest_signature")
    env = signed(me)
    env["manifest_signature"] = "short"
    assert code(env) == ("bad_signature", "manifest_signature")
    other = Identity.generate()
    env = signed(other)
    env["manifest"]["agent_id"] = me.agent_id
    assert code(env) == ("bad_signature", "manifest_signature")
    env = signed(me)
    del env["manifest"]["agent_id"]
    assert code(env) == ("invalid_field", "agent_id")
    assert code([]) == ("invalid_field", "envelope")
    assert code({"manifest": 1}) == ("invalid_field", "manifest")
    assert code({}) == ("invalid_field", "manifest")
    # The signature is checked before any field rule: a bad name under a bad signature is a
    # bad signature.
    env = signed(me, _set("name", ""))
    env["manifest"]["description"] = "changed"
    assert code(env) == ("bad_signature", "manifest_signature")


def test_sign_manifest_refuses_another_agents_card() -> None:
    me, other = Identity.generate(), Identity.generate()
    m = build_manifest(other.agent_id, name="x", endpoint="http://h", issued_at=ISSUED)
    with pytest.raises(CardError) as e:
        sign_manifest(m, me)
    assert e.value.field == "agent_id"
    validate_manifest(m)
