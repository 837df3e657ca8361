"""The signed-request handshake of docs/protocol.md §4.

A caller signs every call (:func:`sign_request`) over::

    AGENTMESH-REQUEST-V1
    <METHOD>
    <path and query, exactly as the callee sees them>
    <X-Agent-Target>
    <X-Agent-ID>
    <X-Agent-Timestamp>
    <X-Agent-Nonce>
    <sha256 hex of the body>

and sends it in five ``X-Agent-*`` headers. A callee (:func:`verify_request`) checks, in the
node's order: every header present (and none twice), the caller's ID, the target is itself, the
timestamp within ±``clock_skew``, the nonce's form, the signature, and only then records the
nonce in a bounded :class:`NonceCache` — so a forged request can neither fill the cache nor burn
a legitimate nonce. Answers are signed the same way (:func:`sign_response`,
:func:`verify_response`) so a caller knows no gateway or relay forged or altered them.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import secrets
import threading
from collections.abc import Iterable, Mapping

from . import _ed25519
from .encoding import b64url, b64url_decode, now_unix, sha256_hex
from .errors import HandshakeError, InvalidAgentIdError
from .identity import Identity, public_key_from_agent_id

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_NONCE_CAPACITY",
    "HEADER_AGENT_ID",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TARGET",
    "HEADER_TIMESTAMP",
    "HeadersLike",
    "NonceCache",
    "default_nonce_cache",
    "request_signing_string",
    "response_signing_string",
    "sign_request",
    "sign_response",
    "verify_request",
    "verify_response",
]

#: Caller's did:key (in a response: the responder's).
HEADER_AGENT_ID = "X-Agent-ID"
#: Callee's did:key.
HEADER_TARGET = "X-Agent-Target"
#: Unix seconds.
HEADER_TIMESTAMP = "X-Agent-Timestamp"
#: ≥ 16 random bytes, base64url.
HEADER_NONCE = "X-Agent-Nonce"
#: base64url Ed25519 signature.
HEADER_SIGNATURE = "X-Agent-Signature"

_ID, _TARGET, _TS, _NONCE, _SIG = (
    "x-agent-id",
    "x-agent-target",
    "x-agent-timestamp",
    "x-agent-nonce",
    "x-agent-signature",
)
_SIGNED = (_ID, _TARGET, _TS, _NONCE, _SIG)

#: Default accepted clock skew, seconds.
DEFAULT_CLOCK_SKEW = 60
#: Default number of nonces a :class:`NonceCache` remembers.
DEFAULT_NONCE_CAPACITY = 100_000

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
# Unix seconds in canonical decimal: the header is the very text signed (docs/protocol.md §4).
_CANONICAL_SECONDS = re.compile(r"0|[1-9][0-9]*")
# What a header value may hold to be read as text (the node reads no other): visible ASCII,
# space and tab.
_HEADER_TEXT = re.compile(r"[\t\x20-\x7e]*")

#: Headers as a mapping (``dict``, ``httpx.Headers``, Starlette's ``Headers``) or as
#: ``(name, value)`` pairs of ``str`` or ``bytes`` (an ASGI scope's ``headers``).
HeadersLike = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


def request_signing_string(
    method: str,
    path_and_query: str,
    target: str,
    caller: str,
    timestamp: int,
    nonce: str,
    body_sha256_hex: str,
) -> str:
    """The request signing string of docs/protocol.md §4 (an empty query is no query: ``/x?``
    is signed as ``/x``)."""
    path_and_query = path_and_query.removesuffix("?")
    return (
        f"AGENTMESH-REQUEST-V1\n{method.upper()}\n{path_and_query}\n{target}\n{caller}\n"
        f"{timestamp}\n{nonce}\n{body_sha256_hex}"
    )


def response_signing_string(
    status: int, request_nonce: str, responder: str, timestamp: int, body_sha256_hex: str
) -> str:
    """The response signing string of docs/protocol.md §4."""
    return (
        f"AGENTMESH-RESPONSE-V1\n{status}\n{request_nonce}\n{responder}\n{timestamp}\n"
        f"{body_sha256_hex}"
    )


def _body_bytes(body: bytes | bytearray | memoryview | str | None) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def sign_request(
    identity: Identity,
    method: str,
    path_and_query: str,
    target: str,
    body: bytes | str | None = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Signs a call of ``target`` (its did:key) and returns the five ``X-Agent-*`` headers.

    ``path_and_query`` is the path the callee sees, query included (``/forecast?days=2``); through
    a node's gateway, the part after ``/v1/agents/<id>/invoke`` (``/`` when empty). ``body`` is
    the exact bytes sent (a ``str`` is sent as UTF-8). ``timestamp`` (unix seconds, default now)
    and ``nonce`` (default 16 random bytes) are for tests and vectors.
    """
    ts = now_unix() if timestamp is None else int(timestamp)
    n = b64url(secrets.token_bytes(16)) if nonce is None else nonce
    s = request_signing_string(
        method, path_and_query, target, identity.agent_id, ts, n, sha256_hex(_body_bytes(body))
    )
    return {
        HEADER_AGENT_ID: identity.agent_id,
        HEADER_TARGET: target,
        HEADER_TIMESTAMP: str(ts),
        HEADER_NONCE: n,
        HEADER_SIGNATURE: identity.sign_b64(s.encode("utf-8")),
    }


def sign_response(
    identity: Identity,
    status: int,
    request_nonce: str,
    body: bytes | str | None = b"",
    *,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Signs an answer to the request that carried ``request_nonce`` and returns the three
    ``X-Agent-*`` response headers (``X-Agent-ID``, ``X-Agent-Timestamp``,
    ``X-Agent-Signature``)."""
    ts = now_unix() if timestamp is None else int(timestamp)
    s = response_signing_string(
        int(status), request_nonce, identity.agent_id, ts, sha256_hex(_body_bytes(body))
    )
    return {
        HEADER_AGENT_ID: identity.agent_id,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: identity.sign_b64(s.encode("utf-8")),
    }


class NonceCache:
    """Remembers ``(caller, nonce)`` pairs for the clock-skew window, bounded in memory.

    When full it forgets the oldest pairs and remembers the newest timestamp it forgot (its
    *floor*); from then on requests signed at or before the floor are refused as
    ``stale_timestamp``. The window shrinks under a flood, but no forgotten nonce can be
    replayed. Thread-safe. Each process (each server worker) has its own: run one worker per
    agent key, or replays to different workers are not detected.
    """

    def __init__(self, capacity: int = DEFAULT_NONCE_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a nonce cache holds at least one nonce")
        self.capacity = capacity
        self._seen: set[bytes] = set()
        self._by_time: list[tuple[int, bytes]] = []
        self._floor = _I64_MIN
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def floor(self) -> int:
        """Requests signed at or before this unix time are refused."""
        return self._floor

    def refuse_until(self, timestamp: int) -> None:
        """Refuses every request signed at or before ``timestamp`` (``stale_timestamp``)."""
        with self._lock:
            self._floor = max(self._floor, timestamp)

    @staticmethod
    def _key(caller: str, nonce: str) -> bytes:
        return hashlib.sha256(caller.encode() + b"\0" + nonce.encode()).digest()[:16]

    def record(self, caller: str, nonce: str, timestamp: int, now: int, window: int) -> None:
        """Records a verified request's nonce; raises :class:`HandshakeError` with
        ``replayed_nonce`` if this caller used it already, or ``stale_timestamp`` at or before
        the floor."""
        key = self._key(caller, nonce)
        with self._lock:
            # Forget what the window no longer accepts anyway.
            while self._by_time and self._by_time[0][0] < now - window:
                _, old = heapq.heappop(self._by_time)
                self._seen.discard(old)
            if timestamp <= self._floor:
                raise HandshakeError(
                    "stale_timestamp",
                    f"timestamp {timestamp} is at or before what this agent can still check for "
                    "replays (its replay cache is full); retry with a fresh timestamp",
                )
            if key in self._seen:
                raise HandshakeError("replayed_nonce", "nonce already used by this caller")
            self._seen.add(key)
            heapq.heappush(self._by_time, (timestamp, key))
            while len(self._seen) > self.capacity and self._by_time:
                t, old = heapq.heappop(self._by_time)
                self._seen.discard(old)
                self._floor = max(self._floor, t)


_default_cache: NonceCache | None = None
_default_lock = threading.Lock()


def default_nonce_cache() -> NonceCache:
    """The process-wide cache :func:`verify_request` uses when given none."""
    global _default_cache
    with _default_lock:
        if _default_cache is None:
            _default_cache = NonceCache()
        return _default_cache


def _text(value: str | bytes) -> str | None:
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or not _HEADER_TEXT.fullmatch(value):
        return None
    return value


def _pairs(headers: HeadersLike) -> Iterable[tuple[str | bytes, str | bytes]]:
    multi = getattr(headers, "multi_items", None)  # httpx.Headers: items() joins repeats
    if callable(multi):
        pairs: Iterable[tuple[str | bytes, str | bytes]] = multi()
        return pairs
    if isinstance(headers, Mapping):
        return headers.items()
    return headers


def _signed_headers(headers: HeadersLike) -> dict[str, str | None]:
    """The ``X-Agent-*`` headers by lowercase name (``None``: present but not readable text).
    Raises ``bad_signature`` for one given twice, as the node does."""
    found: dict[str, str | None] = {}
    for name, value in _pairs(headers):
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        lname = name.lower()
        if not lname.startswith("x-agent-") or lname not in _SIGNED:
            continue
        if lname in found:
            raise HandshakeError(
                "bad_signature",
                f"the message carries {lname} more than once; a signed message has one",
            )
        found[lname] = _text(value)
    return found


def _get(found: Mapping[str, str | None], name: str) -> str:
    value = found.get(name)
    if value is None:
        raise HandshakeError("missing_header", f"missing or unreadable header {name}")
    return value


def _parse_timestamp(text: str) -> int:
    # As the node reads it: digits only, no sign, no leading zero, within an i64.
    if len(text) <= 19 and _CANONICAL_SECONDS.fullmatch(text):
        ts = int(text)
        if ts <= _I64_MAX:
            return ts
    raise HandshakeError(
        "stale_timestamp",
        f"timestamp `{text[:40]}` is not unix seconds in canonical decimal "
        "(digits only, no sign, no leading zero)",
    )


def _signature(text: str, what: str) -> bytes:
    try:
        sig = b64url_decode(text)
    except ValueError:
        sig = b""
    if len(sig) != 64:
        raise HandshakeError("bad_signature", f"bad signature: {what} is not 64 bytes of base64url")
    return sig


def verify_request(
    method: str,
    path_and_query: str,
    headers: HeadersLike,
    body: bytes | str | None,
    me: str | Identity,
    *,
    nonce_cache: NonceCache | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    now: int | None = None,
) -> str:
    """Verifies a signed call addressed to ``me`` (a did:key or an :class:`Identity`) and
    returns the caller's did:key.

    ``path_and_query`` is the raw request target as received (never percent-decoded), without
    any base path the agent is mounted under. Raises :class:`HandshakeError` whose ``code`` is
    the node's: ``missing_header``, ``bad_signature``, ``wrong_target``, ``stale_timestamp`` or
    ``replayed_nonce``. ``nonce_cache`` defaults to one cache per process
    (:func:`default_nonce_cache`); ``now`` (unix seconds) is for tests.
    """
    target = me.agent_id if isinstance(me, Identity) else me
    found = _signed_headers(headers)
    caller = _get(found, _ID)
    got_target = _get(found, _TARGET)
    ts_text = _get(found, _TS)
    nonce = _get(found, _NONCE)
    sig_text = _get(found, _SIG)
    try:
        key = public_key_from_agent_id(caller)
    except InvalidAgentIdError as e:
        raise HandshakeError("bad_signature", f"bad signature: X-Agent-ID: {e}") from None
    if got_target != target:
        raise HandshakeError("wrong_target", f"request is addressed to {got_target}, not {target}")
    ts = _parse_timestamp(ts_text)
    at = now_unix() if now is None else now
    if abs(ts - at) > abs(clock_skew):
        raise HandshakeError(
            "stale_timestamp",
            f"timestamp {ts} is outside the accepted window ({ts - at} s from this agent's "
            f"clock; at most ±{abs(clock_skew)} s)",
        )
    try:
        nonce_ok = len(b64url_decode(nonce)) >= 16
    except ValueError:
        nonce_ok = False
    if not nonce_ok:
        raise HandshakeError("missing_header", "missing or unreadable header x-agent-nonce")
    sig = _signature(sig_text, "X-Agent-Signature")
    msg = request_signing_string(
        method, path_and_query, got_target, caller, ts, nonce, sha256_hex(_body_bytes(body))
    )
    if not _ed25519.verify(key, msg.encode("utf-8"), sig):
        raise HandshakeError(
            "bad_signature",
            "bad signature: does not match the request (method, path, body, headers)",
        )
    cache = default_nonce_cache() if nonce_cache is None else nonce_cache
    cache.record(caller, nonce, ts, at, abs(clock_skew))
    return caller


def verify_response(
    expected: str,
    status: int,
    request_nonce: str,
    headers: HeadersLike,
    body: bytes | str | None,
) -> None:
    """Checks that an answer with ``status`` and ``body`` was signed by ``expected`` (the
    did:key called) for the request that carried ``request_nonce``. Raises
    :class:`HandshakeError`: ``missing_header`` (unsigned), ``wrong_target`` (signed by
    someone else), ``bad_signature`` (forged or altered)."""
    found = _signed_headers(headers)
    responder = _get(found, _ID)
    if responder != expected:
        raise HandshakeError("wrong_target", f"response is signed by {responder}, not {expected}")
    ts = _parse_timestamp(_get(found, _TS))
    sig_text = _get(found, _SIG)
    try:
        key = public_key_from_agent_id(responder)
    except InvalidAgentIdError as e:
        raise HandshakeError("bad_signature", f"bad signature: X-Agent-ID: {e}") from None
    sig = _signature(sig_text, "the response's X-Agent-Signature")
    msg = response_signing_string(
        int(status), request_nonce, responder, ts, sha256_hex(_body_bytes(body))
    )
    if not _ed25519.verify(key, msg.encode("utf-8"), sig):
        raise HandshakeError("bad_signature", "bad signature: response signature does not match")
