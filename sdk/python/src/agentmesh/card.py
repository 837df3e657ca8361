"""Agent cards: the signed manifest of docs/protocol.md §3.

A card travels as an envelope ``{"manifest": {...}, "manifest_signature": "..."}``; the signature
covers ``"AGENTMESH-CARD-V1\\n"`` ‖ JCS(manifest) (RFC 8785), the manifest canonicalized **as
received** (unknown fields included). :func:`sign_manifest` makes one, :meth:`Card.verify`
checks one (the node's order: shape, ID, signature, then the field rules of
:func:`validate_manifest`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import rfc8785

from . import _ed25519
from .encoding import b64url_decode, format_rfc3339, parse_rfc3339
from .errors import CardError, InvalidAgentIdError
from .identity import Identity, public_key_from_agent_id

__all__ = [
    "CARD_SIGNING_PREFIX",
    "MAX_ENVELOPE_BYTES",
    "SCHEMA",
    "Card",
    "build_manifest",
    "canonical_json",
    "envelope_bytes",
    "sign_manifest",
    "signing_bytes",
    "validate_manifest",
]

#: The manifest ``schema`` value this version speaks.
SCHEMA = "agentmesh/card/v1"
#: Domain separation prefix of card signatures.
CARD_SIGNING_PREFIX = b"AGENTMESH-CARD-V1\n"
#: Largest envelope a node accepts, in bytes.
MAX_ENVELOPE_BYTES = 64 * 1024
#: How far in the future ``issued_at`` may be, in seconds.
MAX_FUTURE_SKEW_S = 300
_MAX_META_BYTES = 8 * 1024
_MAX_TEXT = 4000
_MAX_URL = 2048
_MIN_QPS, _MAX_QPS = 0.001, 1_000_000.0
_MAX_CONCURRENCY = 1_000_000


_SAFE_INT = 2**53


def _as_node_reads(value: Any) -> Any:
    """Integers of magnitude 2^53 or more as the node canonicalizes them: as the nearest double (RFC 8785
    has no other reading of them; the node's canonicalizer converts them, Python's refuses)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) >= _SAFE_INT:
        try:
            return float(value)
        except OverflowError:
            raise CardError(
                "manifest", f"the number {value} is outside what JSON can hold"
            ) from None
    if isinstance(value, dict):
        return {k: _as_node_reads(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_node_reads(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value, as the node computes them."""
    try:
        return rfc8785.dumps(_as_node_reads(value))
    except rfc8785.CanonicalizationError as e:
        raise CardError("manifest", f"cannot be canonicalized: {e}") from None


def signing_bytes(manifest: Mapping[str, Any]) -> bytes:
    """What a card signature covers: the domain prefix and the JCS form of the manifest."""
    return CARD_SIGNING_PREFIX + canonical_json(dict(manifest))


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The compact JSON an envelope is sent as."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def sign_manifest(manifest: Mapping[str, Any], identity: Identity) -> dict[str, Any]:
    """Signs a manifest with ``identity`` and wraps it in an envelope. The manifest's
    ``agent_id`` must be the identity's (checked here, so no card the network refuses ships)."""
    if manifest.get("agent_id") != identity.agent_id:
        raise CardError("agent_id", "must be the signing key's did:key")
    m = dict(manifest)
    return {"manifest": m, "manifest_signature": identity.sign_b64(signing_bytes(m))}


def _time(field: str, value: str | datetime | int) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CardError(field, "a datetime must be timezone-aware")
        return format_rfc3339(int(value.astimezone(timezone.utc).timestamp()))
    if isinstance(value, int) and not isinstance(value, bool):
        return format_rfc3339(value)
    if isinstance(value, str):
        return value
    raise CardError(field, "must be an RFC 3339 string, a datetime or unix seconds")


def build_manifest(
    agent_id: str,
    *,
    name: str,
    endpoint: str | None = None,
    description: str | None = None,
    skills: Iterable[str | Mapping[str, Any]] = (),
    tags: Iterable[str] = (),
    protocols: Iterable[str] = (),
    relays: Iterable[str] = (),
    vector_desc: str | None = None,
    qps_budget: float | None = None,
    concurrency_limit: int | None = None,
    expires_at: str | datetime | int | None = None,
    ttl: float | timedelta | None = None,
    meta: Mapping[str, Any] | None = None,
    revoked: bool = False,
    issued_at: int,
    **extra: Any,
) -> dict[str, Any]:
    """A manifest with these fields (``issued_at`` in unix seconds; ``ttl`` sets ``expires_at``
    that long after it). Skills given as strings become ``{"id": ...}``. Unknown keyword
    fields are kept as given (and signed)."""
    if isinstance(tags, str) or isinstance(protocols, str) or isinstance(relays, str):
        raise TypeError("tags, protocols and relays are lists of strings, not one string")
    m: dict[str, Any] = dict(extra)
    m.update(schema=SCHEMA, agent_id=agent_id, name=name, issued_at=format_rfc3339(issued_at))
    if description is not None:
        m["description"] = description
    skill_list = [{"id": s} if isinstance(s, str) else dict(s) for s in skills]
    for key, items in (
        ("skills", skill_list),
        ("tags", list(tags)),
        ("protocols", list(protocols)),
        ("relays", list(relays)),
    ):
        if items:
            m[key] = items
    if endpoint is not None:
        m["endpoint"] = endpoint
    if vector_desc is not None:
        m["vector_desc"] = vector_desc
    if qps_budget is not None:
        m["qps_budget"] = qps_budget
    if concurrency_limit is not None:
        m["concurrency_limit"] = concurrency_limit
    if ttl is not None:
        if expires_at is not None:
            raise TypeError("give ttl or expires_at, not both")
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
        m["expires_at"] = format_rfc3339(issued_at + int(seconds))
    elif expires_at is not None:
        m["expires_at"] = _time("expires_at", expires_at)
    if meta is not None:
        m["meta"] = dict(meta)
    if revoked:
        m["revoked"] = True
    return m


def _err(field: str, reason: str) -> CardError:
    return CardError(field, reason)


def _opt_str(m: Mapping[str, Any], field: str) -> str | None:
    v = m.get(field)
    if v is None:
        return None
    if not isinstance(v, str):
        raise _err(field, "must be a string")
    return v


def _req_str(m: Mapping[str, Any], field: str) -> str:
    v = _opt_str(m, field)
    if v is None:
        raise _err(field, "is required")
    return v


def _check_len(field: str, s: str, lo: int, hi: int) -> None:
    n = len(s)
    if n < lo or n > hi:
        want = f"at most {hi}" if lo == 0 else f"{lo}–{hi}"
        raise _err(field, f"must be {want} characters (got {n})")


def _req_time(m: Mapping[str, Any], field: str) -> int:
    s = _req_str(m, field)
    t = parse_rfc3339(s)
    if t is None:
        raise _err(
            field, f"`{s}` is not an RFC 3339 UTC time with whole seconds (2026-11-24T21:00:00Z)"
        )
    return t


def _str_array(m: Mapping[str, Any], field: str, max_items: int, lo: int, hi: int) -> list[str]:
    items = m.get(field)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _err(field, "must be an array of strings")
    if len(items) > max_items:
        raise _err(field, f"has {len(items)} entries; at most {max_items}")
    for i, v in enumerate(items):
        if not isinstance(v, str):
            raise _err(f"{field}[{i}]", "must be a string")
        _check_len(f"{field}[{i}]", v, lo, hi)
    return list(items)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_manifest(m: Mapping[str, Any], agent_id: str | None = None) -> None:
    """Checks every field rule of docs/protocol.md §3 as the node does; raises
    :class:`CardError` naming the first field that breaks one (``skills[3].id``)."""
    agent_id = m.get("agent_id") if agent_id is None else agent_id
    if m.get("schema") != SCHEMA:
        raise _err("schema", "is required" if "schema" not in m else f'must be "{SCHEMA}"')
    _check_len("name", _req_str(m, "name"), 1, 64)
    for f in ("description", "vector_desc"):
        d = _opt_str(m, f)
        if d is not None:
            _check_len(f, d, 0, _MAX_TEXT)
    _validate_skills(m)
    _str_array(m, "tags", 32, 1, 64)
    _str_array(m, "protocols", 16, 1, 32)
    for i, r in enumerate(_str_array(m, "relays", 8, 1, _MAX_URL)):
        if not (r.startswith("http://") or r.startswith("https://")):
            raise _err(f"relays[{i}]", "must be an http(s):// base URL")
    issued_at = _req_time(m, "issued_at")
    expires_at = _req_time(m, "expires_at") if _opt_str(m, "expires_at") is not None else None
    if expires_at is not None and expires_at <= issued_at:
        raise _err("expires_at", "must be after issued_at")
    revoked = m.get("revoked")
    if revoked is not None and not isinstance(revoked, bool):
        raise _err("revoked", "must be a boolean")
    endpoint = _opt_str(m, "endpoint")
    if endpoint is not None:
        _validate_endpoint(endpoint, agent_id)
    elif not revoked:
        raise _err("endpoint", "is required")
    qps = m.get("qps_budget")
    if qps is not None and not (
        _is_number(qps) and math.isfinite(qps) and _MIN_QPS <= qps <= _MAX_QPS
    ):
        raise _err("qps_budget", "must be a number from 0.001 (one call every 1,000 s) to 1000000")
    conc = m.get("concurrency_limit")
    if conc is not None and not (
        isinstance(conc, int) and not isinstance(conc, bool) and 1 <= conc <= _MAX_CONCURRENCY
    ):
        raise _err("concurrency_limit", "must be an integer from 1 to 1000000")
    meta = m.get("meta")
    if meta is not None:
        if not isinstance(meta, dict):
            raise _err("meta", "must be an object")
        size = len(envelope_bytes(meta))
        if size > _MAX_META_BYTES:
            raise _err("meta", f"is {size} bytes; at most {_MAX_META_BYTES} allowed")


def _validate_endpoint(e: str, agent_id: Any) -> None:
    _check_len("endpoint", e, 1, _MAX_URL)
    if e.startswith("relay://"):
        if e[len("relay://") :] != agent_id:
            raise _err("endpoint", "a relay:// endpoint must name the card's own agent_id")
        return
    if not any(
        len(e) > len(p) and e.startswith(p) for p in ("http://", "https://", "ws://", "wss://")
    ):
        raise _err("endpoint", "must be an http(s)://, ws(s):// or relay://<agent_id> URL")


def _validate_skills(m: Mapping[str, Any]) -> None:
    skills = m.get("skills")
    if skills is None:
        return
    if not isinstance(skills, list):
        raise _err("skills", "must be an array")
    if len(skills) > 64:
        raise _err("skills", f"has {len(skills)} entries; at most 64")
    for i, s in enumerate(skills):
        if not isinstance(s, dict):
            raise _err(f"skills[{i}]", "must be an object")
        sid = s.get("id")
        if sid is None and "id" not in s:
            raise _err(f"skills[{i}].id", "is required")
        if not isinstance(sid, str):
            raise _err(f"skills[{i}].id", "must be a string")
        _check_len(f"skills[{i}].id", sid, 1, 64)
        for f in ("name", "description"):
            if s.get(f) is not None and not isinstance(s[f], str):
                raise _err(f"skills[{i}].{f}", "must be a string")
        for f in ("tags", "examples"):
            v = s.get(f)
            if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise _err(f"skills[{i}].{f}", "must be an array of strings")


@dataclass(frozen=True)
class Card:
    """A card whose signature verified: the envelope exactly as received, and typed views of
    the fields callers use most (``manifest`` has them all)."""

    envelope: dict[str, Any]

    @classmethod
    def verify(cls, envelope: Any, *, validate: bool = True) -> Card:
        """Checks an envelope (a parsed JSON value) in the node's order — shape, ID, signature,
        then (``validate``) the field rules — and returns the card. Raises :class:`CardError`
        with the node's code (``invalid_field``, ``invalid_id``, ``bad_signature``)."""
        if not isinstance(envelope, dict):
            raise CardError("envelope", "must be a JSON object")
        manifest = envelope.get("manifest")
        if not isinstance(manifest, dict):
            raise CardError("manifest", "is required" if manifest is None else "must be an object")
        signature = envelope.get("manifest_signature")
        if not isinstance(signature, str):
            raise CardError(
                "manifest_signature",
                "is missing" if signature is None else "must be a base64url string",
                code="bad_signature",
            )
        agent_id = manifest.get("agent_id")
        if agent_id is None:
            raise CardError("agent_id", "is required")
        if not isinstance(agent_id, str):
            raise CardError("agent_id", "must be a string")
        try:
            key = public_key_from_agent_id(agent_id)
        except InvalidAgentIdError as e:
            raise CardError("agent_id", str(e), code="invalid_id") from None
        msg = signing_bytes(manifest)
        try:
            sig = b64url_decode(signature)
        except ValueError:
            sig = b""
        if len(sig) != 64:
            raise CardError(
                "manifest_signature", "is not 64 bytes of base64url", code="bad_signature"
            )
        if not _ed25519.verify(key, msg, sig):
            raise CardError(
                "manifest_signature",
                "does not match the manifest and agent_id",
                code="bad_signature",
            )
        if validate:
            validate_manifest(manifest, agent_id)
        return cls(envelope)

    @property
    def manifest(self) -> dict[str, Any]:
        """The signed manifest, as received."""
        m: dict[str, Any] = self.envelope["manifest"]
        return m

    @property
    def signature(self) -> str:
        """The base64url ``manifest_signature``."""
        s: str = self.envelope["manifest_signature"]
        return s

    @property
    def agent_id(self) -> str:
        """The agent's did:key."""
        a: str = self.manifest["agent_id"]
        return a

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", ""))

    @property
    def description(self) -> str:
        return str(self.manifest.get("description") or "")

    @property
    def endpoint(self) -> str | None:
        e = self.manifest.get("endpoint")
        return e if isinstance(e, str) else None

    @property
    def tags(self) -> list[str]:
        return [t for t in self.manifest.get("tags") or [] if isinstance(t, str)]

    @property
    def protocols(self) -> list[str]:
        return [p for p in self.manifest.get("protocols") or [] if isinstance(p, str)]

    @property
    def relays(self) -> list[str]:
        return [r for r in self.manifest.get("relays") or [] if isinstance(r, str)]

    @property
    def skills(self) -> list[dict[str, Any]]:
        return [s for s in self.manifest.get("skills") or [] if isinstance(s, dict)]

    @property
    def issued_at(self) -> int | None:
        """``issued_at`` in unix seconds."""
        v = self.manifest.get("issued_at")
        return parse_rfc3339(v) if isinstance(v, str) else None

    @property
    def expires_at(self) -> int | None:
        """``expires_at`` in unix seconds, if any."""
        v = self.manifest.get("expires_at")
        return parse_rfc3339(v) if isinstance(v, str) else None

    @property
    def revoked(self) -> bool:
        return self.manifest.get("revoked") is True
