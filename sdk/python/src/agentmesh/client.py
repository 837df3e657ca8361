"""Clients of a node's HTTP API (docs/protocol.md §6): :class:`NodeClient` (blocking) and
:class:`AsyncNodeClient` (asyncio/trio through httpx), which mirror each other method for method.

Both register and revoke the identity's card, read and discover cards (every card read is
verified here, so a node cannot forge one), and invoke agents with signed requests through the
node's gateway (or straight at their endpoint), verifying the agent's signed answer.
Everything read from the network is capped (``max_response_bytes``).

Every invocation is signed in both forms of docs/protocol.md: the ``X-Agent-*`` headers (§4) and
RFC 9421 (§4b): ``am`` over the URL requested and, through the gateway, ``am-agent`` over the
URL the gateway will call (read from the agent's card, cached for a while), which the gateway
hands on to the agent as ``am``. ``web_bot_auth=True`` adds the Web Bot Auth signature (§4c).
"""

from __future__ import annotations

import json as jsonlib
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from .card import (
    MAX_ENVELOPE_BYTES,
    Card,
    build_manifest,
    envelope_bytes,
    sign_manifest,
    validate_manifest,
)
from .encoding import join_endpoint, now_unix, parse_rfc3339
from .errors import AgentMeshError, CardError, HandshakeError, NodeError, ResponseTooLargeError
from .handshake import HEADER_NONCE, sign_request, verify_response
from .httpsig import (
    HEADER_CONTENT_DIGEST,
    HEADER_SIGNATURE,
    HEADER_SIGNATURE_AGENT,
    HEADER_SIGNATURE_INPUT,
    RequestTarget,
    sign_directory,
)
from .identity import Identity, public_key_from_agent_id

__all__ = [
    "DEFAULT_INVOKE_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "AgentResponse",
    "AsyncNodeClient",
    "DiscoveryResult",
    "NetworkError",
    "NodeClient",
    "Registration",
]

#: Seconds an API call (register, get, discover, …) may take.
DEFAULT_TIMEOUT = 10.0
#: Seconds an invocation may take: the node's gateway waits 30 s for an agent by default.
DEFAULT_INVOKE_TIMEOUT = 35.0
#: Largest answer read from a node or an agent.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Seconds an agent's card endpoint is remembered for the ``am-agent`` signature (an answer
#: 401, 404 or 410 forgets it at once).
ENDPOINT_CACHE_TTL = 300.0
_ENDPOINT_CACHE_SIZE = 1024
_YEAR_S = 365 * 24 * 3600
# Headers the signatures set: a caller may not pass them.
_SIGNATURE_HEADERS = frozenset(
    h.lower()
    for h in (
        HEADER_CONTENT_DIGEST,
        HEADER_SIGNATURE,
        HEADER_SIGNATURE_INPUT,
        HEADER_SIGNATURE_AGENT,
    )
)

TimeoutTypes = float | httpx.Timeout | None

# A request target the callee sees byte for byte: RFC 3986 path and query characters only, so
# no HTTP library re-encodes what was signed.
_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
_DOT_SEGMENT = re.compile(r"(?:\.|%2[eE]){1,2}")


class NetworkError(AgentMeshError):
    """A node or agent could not be reached, or did not answer in time."""

    code = "upstream_failed"

    def __init__(self, url: str, error: Exception) -> None:
        kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
        # str(error) is empty for some httpx errors: name the class then.
        super().__init__(f"the call to {url} {kind}: {str(error) or type(error).__name__}")
        self.url = url


@dataclass(frozen=True)
class Registration:
    """A node's answer to ``POST /v1/agents``."""

    agent_id: str
    seq: int
    #: ``created``, ``updated`` or ``revoked``.
    status: str


@dataclass(frozen=True)
class DiscoveryResult:
    """One ranked discovery result; ``card`` is verified."""

    agent_id: str
    score: float
    similarity: float
    lexical: float
    trust: float
    card: Card


@dataclass(frozen=True)
class AgentResponse:
    """An agent's answer to :meth:`NodeClient.invoke` (or the node's own refusal).

    ``verified`` is true when the answer carries the called agent's valid signature over this
    status and body for this request (docs/protocol.md §4); otherwise ``verify_error`` says why
    (``missing_header`` for an unsigned answer, such as a node's own error).
    """

    status: int
    headers: httpx.Headers
    body: bytes
    verified: bool
    verify_error: HandshakeError | None
    #: The agent called.
    agent_id: str
    #: The request's nonce (what the answer's signature covers).
    nonce: str = field(repr=False)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body)

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        """The ``error.code`` of a body in the node's error shape, if it is one."""
        return _error_shape(self.body)[0]

    def raise_for_status(self) -> AgentResponse:
        """Raises :class:`~agentmesh.errors.NodeError` for a status that is not 2xx."""
        if not self.ok:
            raise _node_error(self.status, self.body)
        return self

    def raise_for_signature(self) -> AgentResponse:
        """Raises the :class:`~agentmesh.errors.HandshakeError` of an answer not verified."""
        if self.verify_error is not None:
            raise self.verify_error
        return self


def _error_shape(body: bytes) -> tuple[str | None, str | None]:
    try:
        v = jsonlib.loads(body)
    except ValueError:
        return None, None
    if isinstance(v, dict) and isinstance(v.get("error"), dict):
        code, message = v["error"].get("code"), v["error"].get("message")
        return (
            code if isinstance(code, str) else None,
            message if isinstance(message, str) else None,
        )
    return None, None


def _node_error(status: int, body: bytes) -> NodeError:
    code, message = _error_shape(body)
    if message is None:
        text = body[:200].decode("utf-8", errors="replace")
        message = text or "(empty body)"
    try:
        parsed: Any = jsonlib.loads(body)
    except ValueError:
        parsed = None
    return NodeError(status, code or "internal", message, body=parsed)


def _json_body(status: int, body: bytes) -> Any:
    try:
        return jsonlib.loads(body)
    except ValueError:
        raise NodeError(status, "invalid_json", "the node's answer is not JSON") from None


def _check_path(path: str) -> str:
    """The path to sign and send, checked so it reaches the agent byte for byte."""
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise ValueError(
            f"path {path!r} must start with / and hold only URL path and query characters "
            "(percent-encode anything else)"
        )
    route = path.split("?", 1)[0]
    if any(_DOT_SEGMENT.fullmatch(seg) for seg in route.split("/")):
        raise ValueError(f"path {path!r} has a dot-segment (. or ..); send the path it resolves to")
    # An empty query ("/x?") reaches an ASGI agent as "/x": send what it will see.
    return path[:-1] if path.find("?") == len(path) - 1 else path


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None
    params: list[tuple[str, str]] | None = None
    raw: bool = False
    timeout: TimeoutTypes = None


class _Core:
    """What both clients share: building requests and reading answers (no I/O)."""

    def __init__(
        self,
        url: str,
        identity: Identity | None,
        max_response_bytes: int,
        rfc9421: bool = True,
    ) -> None:
        if not isinstance(url, str) or not re.match(r"https?://[^/?#]+", url):
            raise ValueError(f"node URL {url!r} must be an http:// or https:// base URL")
        self.url = url.rstrip("/")
        self.identity = identity
        self.max_response_bytes = max_response_bytes
        self.rfc9421 = rfc9421
        self._last_issued: dict[str, int] = {}
        # agent ID → (card endpoint, when read): what `am-agent` signs for.
        self._endpoints: dict[str, tuple[str | None, float]] = {}

    # -- the agent-side URL (am-agent) ------------------------------------------------------

    def cached_endpoint(self, agent_id: str) -> tuple[bool, str | None]:
        """``(True, endpoint)`` when the agent's card endpoint is remembered and fresh."""
        hit = self._endpoints.get(agent_id)
        if hit is None or time.monotonic() - hit[1] > ENDPOINT_CACHE_TTL:
            return False, None
        return True, hit[0]

    def remember(self, card: Card) -> None:
        if len(self._endpoints) >= _ENDPOINT_CACHE_SIZE:
            self._endpoints.clear()
        self._endpoints[card.agent_id] = (card.endpoint, time.monotonic())

    def forget(self, agent_id: str) -> None:
        self._endpoints.pop(agent_id, None)

    def directory_url(self, agent_id: str) -> str:
        return f"{self.agent_url(agent_id)}/http-message-signatures-directory"

    def me(self, what: str) -> Identity:
        if self.identity is None:
            raise AgentMeshError(
                f"{what} needs an identity: NodeClient(url, identity=Identity.load())"
            )
        return self.identity

    def agent_url(self, agent_id: str) -> str:
        public_key_from_agent_id(agent_id)  # InvalidAgentIdError before anything is sent
        return f"{self.url}/v1/agents/{agent_id}"

    # -- register / revoke ------------------------------------------------------------------

    def get_current(self, agent_id: str) -> _Call:
        return _Call("GET", self.agent_url(agent_id), {"accept": "application/json"})

    def stored_issued_at(self, status: int, body: bytes) -> int | None:
        if status in (404, 410):
            return None
        if status != 200:
            raise _node_error(status, body)
        v = _json_body(status, body)
        try:
            t = v["manifest"]["issued_at"]
        except (KeyError, TypeError):
            return None
        return parse_rfc3339(t) if isinstance(t, str) else None

    def issued_at(self, agent_id: str, stored: int | None) -> int:
        """Now, or one second past the newest version known (the node's or one this client
        sent), so two registrations within a second do not collide as ``stale``."""
        now = now_unix()
        t = now
        for known in (stored, self._last_issued.get(agent_id)):
            if known is not None and now <= known < now + 300:
                t = max(t, known + 1)
        return t

    def sign_key_directory(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Puts in ``meta.httpsig_directory`` the agent's signature over its own key directory
        as this node serves it (docs/protocol.md §4c): the directory draft's proof of
        possession, which only the key's holder can make. Valid from ``issued_at`` to the
        card's expiry (a year when it has none). A revocation carries none."""
        if manifest.get("revoked") is True:
            return manifest
        target = RequestTarget.of_url("GET", self.url)
        created = parse_rfc3339(str(manifest.get("issued_at")))
        if target is None or created is None:
            return manifest
        expires_at = manifest.get("expires_at")
        expires = parse_rfc3339(expires_at) if isinstance(expires_at, str) else None
        signed = sign_directory(
            self.me("register"), target.authority, created, expires or created + _YEAR_S
        )
        meta = manifest.get("meta")
        manifest["meta"] = dict(meta) if isinstance(meta, Mapping) else {}
        manifest["meta"]["httpsig_directory"] = {
            "authority": target.authority,
            "signature_input": signed.input_member(),
            "signature": signed.signature_member(),
        }
        return manifest

    def post_card(self, manifest: dict[str, Any]) -> _Call:
        me = self.me("register")
        validate_manifest(manifest, me.agent_id)
        envelope = sign_manifest(manifest, me)
        body = envelope_bytes(envelope)
        if len(body) > MAX_ENVELOPE_BYTES:
            raise CardError(
                "envelope",
                f"is {len(body)} bytes; the limit is {MAX_ENVELOPE_BYTES}",
                code="too_large",
            )
        self._last_issued[me.agent_id] = parse_rfc3339(manifest["issued_at"]) or now_unix()
        return _Call(
            "POST",
            f"{self.url}/v1/agents",
            {"content-type": "application/json", "accept": "application/json"},
            body,
        )

    def registration(self, status: int, body: bytes) -> Registration:
        if status not in (200, 201):
            raise _node_error(status, body)
        v = _json_body(status, body)
        try:
            return Registration(str(v["agent_id"]), int(v["seq"]), str(v["status"]))
        except (KeyError, TypeError, ValueError):
            raise NodeError(
                status, "invalid_json", f"unexpected registration answer: {v!r}"
            ) from None

    # -- get / discover ---------------------------------------------------------------------

    def card(self, agent_id: str, status: int, body: bytes) -> Card:
        if status != 200:
            raise _node_error(status, body)
        card = Card.verify(_json_body(status, body), validate=False)
        if card.agent_id != agent_id:
            raise CardError(
                "agent_id", f"the node answered {card.agent_id} for {agent_id}", code="invalid_id"
            )
        return card

    def discover_call(
        self,
        q: str | None,
        tags: Iterable[str],
        protocol: str | None,
        min_trust: float | None,
        limit: int,
    ) -> _Call:
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ValueError(f"limit must be 1–100, not {limit!r}")
        if min_trust is not None and not 0 <= min_trust <= 1:
            raise ValueError(f"min_trust must be 0–1, not {min_trust!r}")
        params: list[tuple[str, str]] = []
        if q:
            params.append(("q", q))
        params.extend(("tags", t) for t in tags)
        if protocol:
            params.append(("protocol", protocol))
        if min_trust is not None:
            params.append(("min_trust", repr(float(min_trust))))
        params.append(("limit", str(limit)))
        return _Call("GET", f"{self.url}/v1/agents", {"accept": "application/json"}, params=params)

    def results(self, status: int, body: bytes) -> list[DiscoveryResult]:
        if status != 200:
            raise _node_error(status, body)
        v = _json_body(status, body)
        out = []
        try:
            for r in v["results"]:
                card = Card.verify(r["card"], validate=False)
                if card.agent_id != r["agent_id"]:
                    raise CardError(
                        "agent_id",
                        f"a result for {r['agent_id']} carries another agent's card",
                        code="invalid_id",
                    )
                out.append(
                    DiscoveryResult(
                        agent_id=str(r["agent_id"]),
                        score=float(r.get("score", 0.0)),
                        similarity=float(r.get("similarity", 0.0)),
                        lexical=float(r.get("lexical", 0.0)),
                        trust=float(r.get("trust", 0.5)),
                        card=card,
                    )
                )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, CardError):
                raise
            raise NodeError(status, "invalid_json", f"unexpected discovery answer: {e!r}") from None
        return out

    # -- invoke -----------------------------------------------------------------------------

    def invoke_call(
        self,
        agent_id: str,
        path: str,
        json: Any,
        data: bytes | str | None,
        method: str,
        headers: Mapping[str, str] | None,
        timeout: TimeoutTypes,
        endpoint: str | None,
        agent_endpoint: str | None = None,
        web_bot_auth: bool = False,
    ) -> tuple[_Call, str]:
        me = self.me("invoke")
        base = self.agent_url(agent_id)
        path = _check_path(path)
        method = method.upper()
        if json is not None and data is not None:
            raise TypeError("give json or data, not both")
        hdrs: dict[str, str] = {"accept-encoding": "identity"}
        if json is not None:
            body = jsonlib.dumps(
                json, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode()
            hdrs["content-type"] = "application/json"
        elif isinstance(data, str):
            body = data.encode("utf-8")
        else:
            body = bytes(data) if data is not None else b""
        for k, v in (headers or {}).items():
            if k.lower().startswith("x-agent-") or k.lower() in _SIGNATURE_HEADERS:
                raise ValueError(f"header {k} is set by the signature; do not pass it")
            hdrs[k.lower()] = v
        if endpoint is None:
            url = f"{base}/invoke{path}"
            reaches = httpx.URL(url).raw_path.decode("ascii").endswith(f"/invoke{path}")
        else:
            if not (endpoint.startswith("http://") or endpoint.startswith("https://")):
                raise AgentMeshError(
                    f"agent {agent_id} is reached at {endpoint}, which cannot be called directly; "
                    "call it through the node's gateway (direct=False)"
                )
            url = join_endpoint(endpoint, path)
            reaches = path == "/" or httpx.URL(url).raw_path.decode("ascii").endswith(path)
        if not reaches:
            raise ValueError(f"path {path!r} would not reach the agent byte for byte")
        if endpoint is not None or not (
            agent_endpoint is not None
            and agent_endpoint.startswith(("http://", "https://", "relay://"))
        ):
            agent_endpoint = None
        if web_bot_auth and not self.rfc9421:
            raise ValueError("web_bot_auth is an RFC 9421 signature: not with rfc9421=False")
        signed = sign_request(
            me,
            method,
            path,
            agent_id,
            body,
            url=url if self.rfc9421 else None,
            agent_endpoint=agent_endpoint if self.rfc9421 else None,
            web_bot_auth=self.directory_url(me.agent_id) if web_bot_auth else None,
        )
        hdrs.update({k.lower(): v for k, v in signed.items()})
        return _Call(method, url, hdrs, body, raw=True, timeout=timeout), signed[HEADER_NONCE]

    def agent_response(
        self, agent_id: str, nonce: str, status: int, headers: httpx.Headers, body: bytes
    ) -> AgentResponse:
        if status in (401, 404, 410):
            # The card may have changed (moved, revoked): read it again next time.
            self.forget(agent_id)
        try:
            verify_response(agent_id, status, nonce, headers, body)
            error = None
        except HandshakeError as e:
            error = e
        return AgentResponse(status, headers, body, error is None, error, agent_id, nonce)

    def direct_endpoint(self, card: Card) -> str:
        if card.endpoint is None:
            raise AgentMeshError(f"agent {card.agent_id} has no endpoint (its card is revoked)")
        return card.endpoint

    def revoke_manifest(self, agent_id: str, status: int, body: bytes) -> dict[str, Any]:
        stored = self.stored_issued_at(status, body)
        name = "revoked"
        if status == 200:
            try:
                n = jsonlib.loads(body)["manifest"]["name"]
                if isinstance(n, str) and n:
                    name = n
            except (ValueError, KeyError, TypeError):
                pass
        return build_manifest(
            agent_id, name=name, revoked=True, issued_at=self.issued_at(agent_id, stored)
        )

    # -- reading ----------------------------------------------------------------------------

    def check_length(self, headers: httpx.Headers) -> None:
        cl = headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) > self.max_response_bytes:
            raise ResponseTooLargeError(self.max_response_bytes)

    def add(self, chunks: list[bytes], size: int, chunk: bytes) -> int:
        size += len(chunk)
        if size > self.max_response_bytes:
            raise ResponseTooLargeError(self.max_response_bytes)
        chunks.append(chunk)
        return size


def _build_url(call: _Call) -> httpx.URL:
    url = httpx.URL(call.url)
    if call.params:
        url = url.copy_merge_params(tuple(call.params))
    return url


class _ClientBase:
    """What both clients show of themselves: their node and identity."""

    _core: _Core

    @property
    def url(self) -> str:
        """The node's base URL."""
        return self._core.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core.url!r}, identity={self._core.identity!r})"

    @property
    def identity(self) -> Identity | None:
        """Who this client acts as."""
        return self._core.identity


class NodeClient(_ClientBase):
    """A blocking client of one node, acting as ``identity`` (needed to register, revoke and
    invoke; reading and discovering need none).

    >>> with NodeClient("http://127.0.0.1:7070", Identity.load()) as node:  # doctest: +SKIP
    ...     [hit] = node.discover("weather in Paris", limit=1)
    ...     print(node.invoke(hit.agent_id, "/forecast", json={"city": "Paris"}).json())

    ``timeout`` bounds API calls, ``invoke_timeout`` invocations (seconds or an
    ``httpx.Timeout``); ``max_response_bytes`` caps every answer read. Pass ``http_client`` to
    use your own ``httpx.Client`` (TLS settings, proxies, transports); it is then not closed
    by :meth:`close`. ``rfc9421=False`` signs invocations in the ``X-Agent-*`` form only (for
    a node behind a proxy that rewrites ``Host`` or the path, where the RFC 9421 form, which
    covers them, cannot verify).
    """

    def __init__(
        self,
        url: str,
        identity: Identity | None = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        invoke_timeout: TimeoutTypes = DEFAULT_INVOKE_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http_client: httpx.Client | None = None,
        rfc9421: bool = True,
    ) -> None:
        self._core = _Core(url, identity, max_response_bytes, rfc9421)
        self._timeout = timeout
        self._invoke_timeout = invoke_timeout
        self._own = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Closes the connection pool (unless the ``httpx.Client`` was passed in)."""
        if self._own:
            self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, call: _Call) -> tuple[int, httpx.Headers, bytes]:
        timeout = self._timeout if call.timeout is None else call.timeout
        try:
            with self._http.stream(
                call.method,
                _build_url(call),
                headers=call.headers,
                content=call.content,
                timeout=timeout,
            ) as r:
                self._core.check_length(r.headers)
                chunks: list[bytes] = []
                size = 0
                stream: Iterator[bytes] = r.iter_raw() if call.raw else r.iter_bytes()
                for chunk in stream:
                    size = self._core.add(chunks, size, chunk)
                return r.status_code, r.headers, b"".join(chunks)
        except httpx.RequestError as e:
            raise NetworkError(call.url.split("?", 1)[0], e) from e

    def register(self, **card_fields: Any) -> Registration:
        """Signs and publishes this identity's card; the fields are the manifest's
        (docs/protocol.md §3): ``name`` and ``endpoint`` (required), ``description``,
        ``skills`` (strings or dicts), ``tags``, ``protocols``, ``relays``, ``vector_desc``,
        ``qps_budget``, ``concurrency_limit``, ``expires_at`` or ``ttl`` (seconds), ``meta``,
        and any other field (kept and signed). ``issued_at`` is set here, and
        ``meta.httpsig_directory``: this key's signature over its key directory as this node
        serves it (docs/protocol.md §4c).

        Checks the card as the node will before sending it (raises
        :class:`~agentmesh.errors.CardError` naming the field); a node's refusal raises
        :class:`~agentmesh.errors.NodeError`.
        """
        me = self._core.me("register")
        stored = self._core.stored_issued_at(
            *self._status_body(self._core.get_current(me.agent_id))
        )
        issued_at = self._core.issued_at(me.agent_id, stored)
        manifest = build_manifest(me.agent_id, issued_at=issued_at, **card_fields)
        manifest = self._core.sign_key_directory(manifest)
        return self._core.registration(*self._status_body(self._core.post_card(manifest)))

    def revoke(self) -> Registration:
        """Publishes a signed tombstone: this identity's card is revoked everywhere, and no
        older version can come back (a newer card may re-activate it)."""
        me = self._core.me("revoke")
        current = self._status_body(self._core.get_current(me.agent_id))
        manifest = self._core.revoke_manifest(me.agent_id, *current)
        return self._core.registration(*self._status_body(self._core.post_card(manifest)))

    def get(self, agent_id: str) -> Card:
        """The agent's current card, verified (``NodeError`` 404 ``not_found``, 410 when
        revoked or expired)."""
        return self._core.card(agent_id, *self._status_body(self._core.get_current(agent_id)))

    def discover(
        self,
        q: str | None = None,
        *,
        tags: Iterable[str] = (),
        protocol: str | None = None,
        min_trust: float | None = None,
        limit: int = 10,
    ) -> list[DiscoveryResult]:
        """Agents ranked by what they do (``q``, in plain words), filtered by ``tags`` (all
        must match), ``protocol`` and local ``min_trust``; best first, cards verified."""
        call = self._core.discover_call(q, tags, protocol, min_trust, limit)
        return self._core.results(*self._status_body(call))

    def invoke(
        self,
        agent_id: str,
        path: str = "/",
        *,
        json: Any = None,
        data: bytes | str | None = None,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = None,
        direct: bool = False,
        web_bot_auth: bool = False,
    ) -> AgentResponse:
        """Calls an agent with a signed request through the node's gateway
        (``POST <node>/v1/agents/<id>/invoke<path>``), or straight at its endpoint with
        ``direct=True``, and verifies its signed answer (``.verified``).

        ``path`` is what the agent sees, query included (``/forecast?days=2``); ``json`` is
        sent as compact JSON, ``data`` as is. ``timeout`` (``None``: the client's
        ``invoke_timeout``) bounds the whole call. Any status comes back as an
        :class:`AgentResponse` (see :meth:`AgentResponse.raise_for_status`).

        The request carries both signature forms: ``X-Agent-*`` and RFC 9421 (``am`` for the
        URL requested; through the gateway also ``am-agent`` for the agent's own URL, from its
        card, read once and cached). ``web_bot_auth=True`` adds the Web Bot Auth signature
        ``wba`` and ``Signature-Agent`` naming this identity's key directory on this node
        (docs/protocol.md §4c): for websites that check Web Bot Auth (``direct=True``; a
        gateway drops it).
        """
        if direct:
            card = self.get(agent_id)
            self._core.remember(card)
            endpoint, agent_endpoint = self._core.direct_endpoint(card), None
        else:
            endpoint, agent_endpoint = None, self._agent_endpoint(agent_id)
        call, nonce = self._core.invoke_call(
            agent_id,
            path,
            json,
            data,
            method,
            headers,
            self._invoke_timeout if timeout is None else timeout,
            endpoint,
            agent_endpoint,
            web_bot_auth,
        )
        status, hdrs, body = self._send(call)
        return self._core.agent_response(agent_id, nonce, status, hdrs, body)

    def _agent_endpoint(self, agent_id: str) -> str | None:
        hit, endpoint = self._core.cached_endpoint(agent_id)
        if hit or not self._core.rfc9421:
            return endpoint
        try:
            card = self.get(agent_id)
        except AgentMeshError:
            return None  # the gateway will say what is wrong with the agent
        self._core.remember(card)
        return card.endpoint

    def key_directory_url(self, agent_id: str | None = None) -> str:
        """The URL of an agent's key directory on this node (docs/protocol.md §4c; default:
        this identity's): what ``Signature-Agent`` names with ``web_bot_auth=True``."""
        return self._core.directory_url(agent_id or self._core.me("key_directory_url").agent_id)

    def node_info(self) -> dict[str, Any]:
        """``GET /v1/node``: the node's ID, version, uptime and counters."""
        status, body = self._status_body(
            _Call("GET", f"{self._core.url}/v1/node", {"accept": "application/json"})
        )
        if status != 200:
            raise _node_error(status, body)
        v = _json_body(status, body)
        if not isinstance(v, dict):
            raise NodeError(status, "invalid_json", "GET /v1/node did not answer an object")
        return v

    def _status_body(self, call: _Call) -> tuple[int, bytes]:
        status, _, body = self._send(call)
        return status, body


class AsyncNodeClient(_ClientBase):
    """The asynchronous twin of :class:`NodeClient` (same methods, awaited; ``async with``;
    pass your own ``httpx.AsyncClient`` as ``http_client``)."""

    def __init__(
        self,
        url: str,
        identity: Identity | None = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        invoke_timeout: TimeoutTypes = DEFAULT_INVOKE_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http_client: httpx.AsyncClient | None = None,
        rfc9421: bool = True,
    ) -> None:
        self._core = _Core(url, identity, max_response_bytes, rfc9421)
        self._timeout = timeout
        self._invoke_timeout = invoke_timeout
        self._own = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Closes the connection pool (unless the ``httpx.AsyncClient`` was passed in)."""
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncNodeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, call: _Call) -> tuple[int, httpx.Headers, bytes]:
        timeout = self._timeout if call.timeout is None else call.timeout
        try:
            async with self._http.stream(
                call.method,
                _build_url(call),
                headers=call.headers,
                content=call.content,
                timeout=timeout,
            ) as r:
                self._core.check_length(r.headers)
                chunks: list[bytes] = []
                size = 0
                stream: AsyncIterator[bytes] = r.aiter_raw() if call.raw else r.aiter_bytes()
                async for chunk in stream:
                    size = self._core.add(chunks, size, chunk)
                return r.status_code, r.headers, b"".join(chunks)
        except httpx.RequestError as e:
            raise NetworkError(call.url.split("?", 1)[0], e) from e

    async def _status_body(self, call: _Call) -> tuple[int, bytes]:
        status, _, body = await self._send(call)
        return status, body

    async def register(self, **card_fields: Any) -> Registration:
        """See :meth:`NodeClient.register`."""
        me = self._core.me("register")
        stored = self._core.stored_issued_at(
            *await self._status_body(self._core.get_current(me.agent_id))
        )
        issued_at = self._core.issued_at(me.agent_id, stored)
        manifest = build_manifest(me.agent_id, issued_at=issued_at, **card_fields)
        manifest = self._core.sign_key_directory(manifest)
        return self._core.registration(*await self._status_body(self._core.post_card(manifest)))

    async def revoke(self) -> Registration:
        """See :meth:`NodeClient.revoke`."""
        me = self._core.me("revoke")
        current = await self._status_body(self._core.get_current(me.agent_id))
        manifest = self._core.revoke_manifest(me.agent_id, *current)
        return self._core.registration(*await self._status_body(self._core.post_card(manifest)))

    async def get(self, agent_id: str) -> Card:
        """See :meth:`NodeClient.get`."""
        return self._core.card(agent_id, *await self._status_body(self._core.get_current(agent_id)))

    async def discover(
        self,
        q: str | None = None,
        *,
        tags: Iterable[str] = (),
        protocol: str | None = None,
        min_trust: float | None = None,
        limit: int = 10,
    ) -> list[DiscoveryResult]:
        """See :meth:`NodeClient.discover`."""
        call = self._core.discover_call(q, tags, protocol, min_trust, limit)
        return self._core.results(*await self._status_body(call))

    async def invoke(
        self,
        agent_id: str,
        path: str = "/",
        *,
        json: Any = None,
        data: bytes | str | None = None,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        timeout: TimeoutTypes = None,
        direct: bool = False,
        web_bot_auth: bool = False,
    ) -> AgentResponse:
        """See :meth:`NodeClient.invoke`."""
        if direct:
            card = await self.get(agent_id)
            self._core.remember(card)
            endpoint, agent_endpoint = self._core.direct_endpoint(card), None
        else:
            endpoint, agent_endpoint = None, await self._agent_endpoint(agent_id)
        call, nonce = self._core.invoke_call(
            agent_id,
            path,
            json,
            data,
            method,
            headers,
            self._invoke_timeout if timeout is None else timeout,
            endpoint,
            agent_endpoint,
            web_bot_auth,
        )
        status, hdrs, body = await self._send(call)
        return self._core.agent_response(agent_id, nonce, status, hdrs, body)

    async def _agent_endpoint(self, agent_id: str) -> str | None:
        hit, endpoint = self._core.cached_endpoint(agent_id)
        if hit or not self._core.rfc9421:
            return endpoint
        try:
            card = await self.get(agent_id)
        except AgentMeshError:
            return None  # the gateway will say what is wrong with the agent
        self._core.remember(card)
        return card.endpoint

    def key_directory_url(self, agent_id: str | None = None) -> str:
        """See :meth:`NodeClient.key_directory_url`."""
        return self._core.directory_url(agent_id or self._core.me("key_directory_url").agent_id)

    async def node_info(self) -> dict[str, Any]:
        """See :meth:`NodeClient.node_info`."""
        status, body = await self._status_body(
            _Call("GET", f"{self._core.url}/v1/node", {"accept": "application/json"})
        )
        if status != 200:
            raise _node_error(status, body)
        v = _json_body(status, body)
        if not isinstance(v, dict):
            raise NodeError(status, "invalid_json", "GET /v1/node did not answer an object")
        return v
