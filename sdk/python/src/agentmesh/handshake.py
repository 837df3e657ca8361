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

Beside the ``X-Agent-*`` form, requests and answers may carry the RFC 9421 form of §4b
(``Signature-Input``, ``Signature``, ``Content-Digest``; :mod:`agentmesh.httpsig`):
:func:`sign_request` adds it for the URL given as ``url=`` (and ``am-agent`` for an agent behind
a gateway, and the Web Bot Auth ``wba`` signature of §4c), :func:`sign_response` adds it to every
answer, and the verifiers accept either form or both — which must then agree on the caller, the
nonce and the time.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import _ed25519, httpsig
from .encoding import b64url, b64url_decode, join_endpoint, now_unix, sha256_hex
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
    "Verified",
    "agent_target",
    "default_nonce_cache",
    "request_nonce",
    "request_signing_string",
    "response_is_signed",
    "response_signing_string",
    "sign_request",
    "sign_response",
    "verify_request",
    "verify_request_nonce",
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
    url: str | None = None,
    agent_endpoint: str | None = None,
    web_bot_auth: str | None = None,
) -> dict[str, str]:
    """Signs a call of ``target`` (its did:key) and returns its headers: the five
    ``X-Agent-*`` ones, and with ``url`` the RFC 9421 form too (docs/protocol.md §4b).

    ``path_and_query`` is the path the callee sees, query included (``/forecast?days=2``); through
    a node's gateway, the part after ``/v1/agents/<id>/invoke`` (``/`` when empty). ``body`` is
    the exact bytes sent (a ``str`` is sent as UTF-8). ``timestamp`` (unix seconds, default now)
    and ``nonce`` (default 16 random bytes) are for tests and vectors.

    ``url`` is the absolute ``http(s)://`` URL the request is sent to: it adds
    ``Content-Digest``, ``Signature-Input`` and ``Signature`` with the signature ``am`` over it
    (same nonce and time as the ``X-Agent-*`` form). ``agent_endpoint`` is the agent's card
    endpoint when ``url`` is a gateway's: it adds ``am-agent`` over the URL the gateway will call
    (the endpoint joined with ``path_and_query``; for ``relay://``, ``@authority`` is the
    agent's did:key), which the gateway hands on to the agent. ``web_bot_auth`` is the signer's
    key directory URL (``<node>/v1/agents/<id>/http-message-signatures-directory``): it adds the
    Web Bot Auth signature ``wba`` over ``url`` and its ``Signature-Agent`` header (§4c).
    """
    ts = now_unix() if timestamp is None else int(timestamp)
    n = b64url(secrets.token_bytes(16)) if nonce is None else nonce
    data = _body_bytes(body)
    s = request_signing_string(
        method, path_and_query, target, identity.agent_id, ts, n, sha256_hex(data)
    )
    headers = {
        HEADER_AGENT_ID: identity.agent_id,
        HEADER_TARGET: target,
        HEADER_TIMESTAMP: str(ts),
        HEADER_NONCE: n,
        HEADER_SIGNATURE: identity.sign_b64(s.encode("utf-8")),
    }
    if url is None and agent_endpoint is None and web_bot_auth is None:
        return headers
    params = httpsig.Params.agentmesh(identity, ts, n)
    signed: list[httpsig.Signed] = []
    hop = None
    if url is not None:
        hop = httpsig.RequestTarget.of_url(method, url)
        if hop is None:
            raise ValueError(f"url {url!r} is not an absolute http(s):// URL")
        signed.append(httpsig.sign_request(identity, httpsig.LABEL, hop, data, params))
    if agent_endpoint is not None:
        agent = agent_target(method, target, agent_endpoint, path_and_query)
        if agent is None:
            raise ValueError(
                f"agent_endpoint {agent_endpoint!r} is not an http(s):// or relay:// endpoint"
            )
        signed.append(httpsig.sign_request(identity, httpsig.AGENT_LABEL, agent, data, params))
    signature_agent = None
    if web_bot_auth is not None:
        if hop is None:
            raise ValueError("web_bot_auth signs the URL requested: give url= too")
        signature_agent, wba = httpsig.sign_web_bot_auth(
            identity, hop, data, web_bot_auth, ts, secrets.token_bytes(64)
        )
        signed.append(wba)
    headers[httpsig.HEADER_CONTENT_DIGEST] = httpsig.content_digest(data)
    headers[httpsig.HEADER_SIGNATURE_INPUT] = ", ".join(x.input_member() for x in signed)
    headers[httpsig.HEADER_SIGNATURE] = ", ".join(x.signature_member() for x in signed)
    if signature_agent is not None:
        headers[httpsig.HEADER_SIGNATURE_AGENT] = signature_agent
    return headers


def agent_target(
    method: str, agent_id: str, endpoint: str, path_and_query: str
) -> httpsig.RequestTarget | None:
    """What the ``am-agent`` signature covers for a call of ``path_and_query`` through a
    gateway to an agent whose card endpoint is ``endpoint``: the URL the gateway calls (the
    endpoint joined with the path, docs/protocol.md §7), or for a ``relay://`` endpoint the
    agent's did:key as ``@authority`` (lowercased) and the path itself. ``None`` for any other
    endpoint."""
    if endpoint.startswith("relay://"):
        return httpsig.RequestTarget.new(method, agent_id, path_and_query)
    return httpsig.RequestTarget.of_url(method, join_endpoint(endpoint, path_and_query))


def sign_response(
    identity: Identity,
    status: int,
    request_nonce: str,
    body: bytes | str | None = b"",
    *,
    timestamp: int | None = None,
    rfc9421: bool = True,
) -> dict[str, str]:
    """Signs an answer to the request that carried ``request_nonce`` and returns its headers:
    the three ``X-Agent-*`` ones (``X-Agent-ID``, ``X-Agent-Timestamp``,
    ``X-Agent-Signature``), and unless ``rfc9421=False`` the RFC 9421 form too
    (``Content-Digest``, ``Signature-Input``, ``Signature``: ``am`` over ``@status`` and the
    digest, ``nonce`` = the request's; docs/protocol.md §4b)."""
    ts = now_unix() if timestamp is None else int(timestamp)
    data = _body_bytes(body)
    s = response_signing_string(int(status), request_nonce, identity.agent_id, ts, sha256_hex(data))
    headers = {
        HEADER_AGENT_ID: identity.agent_id,
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: identity.sign_b64(s.encode("utf-8")),
    }
    if rfc9421:
        try:
            signed = httpsig.sign_response(identity, int(status), request_nonce, data, ts)
        except httpsig.HttpSigError:
            # A nonce no structured field can carry (a refused request's, as it came): the
            # X-Agent-* form alone, as the node's `connect` answers then.
            return headers
        headers[httpsig.HEADER_CONTENT_DIGEST] = httpsig.content_digest(data)
        headers[httpsig.HEADER_SIGNATURE_INPUT] = signed.input_member()
        headers[httpsig.HEADER_SIGNATURE] = signed.signature_member()
    return headers


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


def _lookup(headers: HeadersLike) -> httpsig.HeaderLookup:
    """Looks headers up by lowercase name, every line of one field joined with ``, `` as RFC
    9110 combines them; ``None`` when absent or when a line is not readable text (as the node
    reads them)."""
    lines: dict[str, list[str | None]] = {}
    for name, value in _pairs(headers):
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        lines.setdefault(name.lower(), []).append(_text(value))

    def lookup(name: str) -> str | None:
        values = lines.get(name)
        if not values or any(v is None for v in values):
            return None
        return ", ".join(v for v in values if v is not None)

    return lookup


@dataclass(frozen=True)
class Verified:
    """A verified request's caller and nonce (the nonce its answer is signed for)."""

    #: The caller's did:key.
    caller: str
    #: The request's nonce.
    nonce: str


@dataclass
class _Pending:
    """One form's checks passed but its signature's: what to verify, and the nonce to record."""

    key: bytes
    message: bytes
    sig: bytes
    caller: str
    ts: int
    nonce: str
    #: Other messages the signature may cover (RFC 9421: other @authority), made on demand.
    alternatives: list[Callable[[], bytes]] = field(default_factory=list)

    def verify(self) -> bool:
        if _ed25519.verify(self.key, self.message, self.sig):
            return True
        for alternative in self.alternatives:
            try:
                message = alternative()
            except httpsig.HttpSigError:
                continue
            if _ed25519.verify(self.key, message, self.sig):
                return True
        return False


def _check_x(
    found: Mapping[str, str | None],
    method: str,
    path_and_query: str,
    body: bytes,
    target: str,
    at: int,
    clock_skew: int,
) -> _Pending:
    """The ``X-Agent-*`` form (docs/protocol.md §4), every check but the signature's."""
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
        method, path_and_query, got_target, caller, ts, nonce, sha256_hex(body)
    )
    return _Pending(key, msg.encode("utf-8"), sig, caller, ts, nonce)


def _rfc9421_error(e: httpsig.HttpSigError, what: str = "RFC 9421") -> HandshakeError:
    if e.kind == "missing" and e.header is not None:
        return HandshakeError("missing_header", f"missing or unreadable header {e.header}")
    if e.kind == "stale":
        return HandshakeError("stale_timestamp", f"{what}: {e.message}")
    return HandshakeError("bad_signature", f"bad signature: {what}: {e.message}")


def _check_rfc9421(
    lookup: httpsig.HeaderLookup,
    method: str,
    wires: Sequence[tuple[str, str]],
    body: bytes,
    at: int,
    clock_skew: int,
) -> _Pending:
    """The RFC 9421 form (docs/protocol.md §4b), every check but the signature's. ``wires``
    are the ``(@authority, @path and @query)`` the signature may cover, tried in order."""
    targets = [httpsig.RequestTarget.new(method, a, p) for a, p in wires]
    # As the node: an absent Content-Digest is named before anything else is read.
    if lookup("content-digest") is None:
        raise HandshakeError("missing_header", "missing or unreadable header content-digest")
    try:
        first = httpsig.parse(lookup, targets[0].value)
    except httpsig.HttpSigError as e:
        raise _rfc9421_error(e) from None
    if not first.covers(httpsig.REQUEST_COMPONENTS):
        covered = " ".join(f'"{c}"' for c in httpsig.REQUEST_COMPONENTS)
        raise HandshakeError(
            "bad_signature", f"bad signature: RFC 9421: the signature must cover {covered}"
        )
    digest = lookup("content-digest")
    if digest is None:
        raise HandshakeError("missing_header", "missing or unreadable header content-digest")
    try:
        digest_ok = httpsig.content_digest_matches(digest, body)
    except httpsig.HttpSigError as e:
        raise _rfc9421_error(e) from None
    if not digest_ok:
        raise HandshakeError(
            "bad_signature", "bad signature: Content-Digest does not match the body"
        )
    p = first.params
    try:
        first.check_time(at, clock_skew)
    except httpsig.HttpSigError as e:
        raise _rfc9421_error(e) from None
    if p.nonce is None or not 16 <= len(p.nonce) <= 256:
        raise HandshakeError(
            "bad_signature",
            "bad signature: RFC 9421: the signature needs a nonce of 16–256 characters",
        )
    try:
        key = public_key_from_agent_id(p.keyid)
    except InvalidAgentIdError as e:
        raise HandshakeError("bad_signature", f"bad signature: RFC 9421: keyid: {e}") from None
    if len(first.signature) != 64:
        raise HandshakeError(
            "bad_signature", "bad signature: RFC 9421: the signature is not 64 bytes (Ed25519)"
        )

    def base_at(target: httpsig.RequestTarget) -> Callable[[], bytes]:
        return lambda: first.base_for(target.value).encode("utf-8")

    alternatives = [base_at(t) for t in targets[1:] if t != targets[0]]
    return _Pending(
        key, first.base.encode("utf-8"), first.signature, p.keyid, p.created, p.nonce, alternatives
    )


def verify_request_nonce(
    method: str,
    path_and_query: str,
    headers: HeadersLike,
    body: bytes | str | None,
    me: str | Identity,
    *,
    nonce_cache: NonceCache | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    now: int | None = None,
    authority: str | Iterable[str] | None = None,
    wire_path: str | None = None,
) -> Verified:
    """As :func:`verify_request`, returning the caller and the request's nonce (what the
    answer is signed for: ``X-Agent-Nonce``, or the RFC 9421 signature's ``nonce``)."""
    target = me.agent_id if isinstance(me, Identity) else me
    data = _body_bytes(body)
    found = _signed_headers(headers)
    lookup = _lookup(headers)
    at = now_unix() if now is None else now
    has_x = found.get(_SIG) is not None or found.get(_ID) is not None
    has_rfc = lookup("signature-input") is not None
    x = None
    if has_x or not has_rfc:
        x = _check_x(found, method, path_and_query, data, target, at, clock_skew)
    rfc = None
    if has_rfc:
        own = _ascii_lower(target)
        if authority is None:
            host = lookup("host")
            if host is None:
                raise HandshakeError("missing_header", "missing or unreadable header host")
            authorities = [host, own]
        else:
            authorities = [authority] if isinstance(authority, str) else list(authority)
            if not authorities:
                raise ValueError("authority names at least one @authority")
        # The agent's own did:key is the @authority of a call relayed by `connect`, which
        # signs the path the caller signed (§4b); any other authority covers the wire path.
        wires = list(
            dict.fromkeys(
                (a, path_and_query if _ascii_lower(a) == own else wire_path or path_and_query)
                for a in authorities
            )
        )
        rfc = _check_rfc9421(lookup, method, wires, data, at, clock_skew)
    if (
        x is not None
        and rfc is not None
        and (x.caller, x.nonce, x.ts) != (rfc.caller, rfc.nonce, rfc.ts)
    ):
        raise HandshakeError(
            "bad_signature",
            "bad signature: the X-Agent-* and RFC 9421 signatures disagree on the caller, "
            "nonce or time (keyid, nonce and created must equal X-Agent-ID, X-Agent-Nonce "
            "and X-Agent-Timestamp)",
        )
    pending = [f for f in (x, rfc) if f is not None]
    if not all(f.verify() for f in pending):
        raise HandshakeError(
            "bad_signature",
            "bad signature: does not match the request (method, path, body, headers)",
        )
    first = pending[0]
    cache = default_nonce_cache() if nonce_cache is None else nonce_cache
    cache.record(first.caller, first.nonce, first.ts, at, abs(clock_skew))
    return Verified(first.caller, first.nonce)


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
    authority: str | Iterable[str] | None = None,
    wire_path: str | None = None,
) -> str:
    """Verifies a signed call addressed to ``me`` (a did:key or an :class:`Identity`) and
    returns the caller's did:key.

    The call may carry the ``X-Agent-*`` form (docs/protocol.md §4), the RFC 9421 form (§4b),
    or both, which must then both hold and agree (``keyid`` = ``X-Agent-ID``, ``nonce`` =
    ``X-Agent-Nonce``, ``created`` = ``X-Agent-Timestamp``). ``path_and_query`` is the raw
    request target as received (never percent-decoded), without any base path the agent is
    mounted under. Raises :class:`HandshakeError` whose ``code`` is the node's:
    ``missing_header``, ``bad_signature``, ``wrong_target``, ``stale_timestamp`` or
    ``replayed_nonce``. ``nonce_cache`` defaults to one cache per process
    (:func:`default_nonce_cache`); ``now`` (unix seconds) is for tests.

    For the RFC 9421 form: ``authority`` is the ``@authority`` (or several) the signature may
    cover; by default the request's ``Host`` header, or this agent's own did:key (lowercased),
    which is what a call relayed by ``agentmesh connect`` covers. ``wire_path`` is the request
    target as received when it differs from ``path_and_query`` (an agent mounted under a base
    path: ``@path`` is the full path, except in a relayed call, which covers the path the
    caller signed).
    """
    return verify_request_nonce(
        method,
        path_and_query,
        headers,
        body,
        me,
        nonce_cache=nonce_cache,
        clock_skew=clock_skew,
        now=now,
        authority=authority,
        wire_path=wire_path,
    ).caller


def request_nonce(headers: HeadersLike) -> str | None:
    """The nonce a request claims (``X-Agent-Nonce``, else its RFC 9421 signature's), to sign
    the answer to it — also a refusal, before or without verifying it."""
    lookup = _lookup(headers)
    return lookup("x-agent-nonce") or httpsig.nonce_of(lookup)


def _response_check_x(
    found: Mapping[str, str | None],
    expected: str,
    status: int,
    request_nonce: str,
    body: bytes,
) -> _Pending:
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
    msg = response_signing_string(int(status), request_nonce, responder, ts, sha256_hex(body))
    return _Pending(key, msg.encode("utf-8"), sig, responder, ts, request_nonce)


def _response_check_rfc9421(
    lookup: httpsig.HeaderLookup,
    expected: str,
    status: int,
    request_nonce: str,
    body: bytes,
) -> _Pending:
    def derived(component: str) -> str | None:
        return str(int(status)) if component == "@status" else None

    def bad(e: httpsig.HttpSigError) -> HandshakeError:
        return HandshakeError("bad_signature", f"bad signature: RFC 9421 answer: {e.message}")

    try:
        parsed = httpsig.parse(lookup, derived, httpsig.LABEL)
    except httpsig.HttpSigError as e:
        raise bad(e) from None
    p = parsed.params
    if p.keyid != expected:
        raise HandshakeError("wrong_target", f"response is signed by {p.keyid}, not {expected}")
    digest = lookup("content-digest")
    if digest is None:
        raise HandshakeError("missing_header", "missing or unreadable header content-digest")
    try:
        digest_ok = httpsig.content_digest_matches(digest, body)
    except httpsig.HttpSigError as e:
        raise bad(e) from None
    if not (parsed.covers(httpsig.RESPONSE_COMPONENTS) and p.nonce == request_nonce and digest_ok):
        raise HandshakeError("bad_signature", "bad signature: response signature does not match")
    try:
        key = public_key_from_agent_id(p.keyid)
    except InvalidAgentIdError as e:
        raise bad(httpsig.HttpSigError.malformed(f"keyid: {e}")) from None
    if len(parsed.signature) != 64:
        raise bad(httpsig.HttpSigError.malformed("the signature is not 64 bytes (Ed25519)"))
    return _Pending(
        key, parsed.base.encode("utf-8"), parsed.signature, p.keyid, p.created, request_nonce
    )


def verify_response(
    expected: str,
    status: int,
    request_nonce: str,
    headers: HeadersLike,
    body: bytes | str | None,
) -> None:
    """Checks that an answer with ``status`` and ``body`` was signed by ``expected`` (the
    did:key called) for the request that carried ``request_nonce``, in the ``X-Agent-*`` form,
    the RFC 9421 form (docs/protocol.md §4b), or both (then both must hold). Raises
    :class:`HandshakeError`: ``missing_header`` (unsigned), ``wrong_target`` (signed by
    someone else), ``bad_signature`` (forged or altered)."""
    data = _body_bytes(body)
    found = _signed_headers(headers)
    lookup = _lookup(headers)
    has_rfc = lookup("signature-input") is not None
    checks = []
    if found.get(_SIG) is not None or not has_rfc:
        checks.append(_response_check_x(found, expected, status, request_nonce, data))
    if has_rfc:
        checks.append(_response_check_rfc9421(lookup, expected, status, request_nonce, data))
    if not all(c.verify() for c in checks):
        raise HandshakeError("bad_signature", "bad signature: response signature does not match")


def response_is_signed(headers: HeadersLike) -> bool:
    """Whether an answer carries a signature in either form."""
    lookup = _lookup(headers)
    return lookup("x-agent-signature") is not None or lookup("signature-input") is not None


def _ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
