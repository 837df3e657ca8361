"""ASGI middleware for agents (FastAPI, Starlette, or any ASGI app): verifies every caller and
signs every answer (docs/protocol.md §4 and §4b).

.. code-block:: python

    app = FastAPI()
    app.add_middleware(AgentMeshMiddleware, identity=Identity.load())

    @app.post("/forecast")
    async def forecast(request: Request) -> dict[str, str]:
        return {"caller": request.state.agentmesh_caller}

For each HTTP request the middleware reads the body (at most ``max_body`` bytes: over it, 413
``too_large``), verifies the signed request against the raw path and query the agent received
(minus ``base_path``), the body and the ``X-Agent-*`` headers — or the RFC 9421 form
(``Signature-Input``, ``Signature``, ``Content-Digest``; its ``@authority`` is the request's
``Host``, or the agent's own did:key for a call relayed by ``agentmesh connect``, or what
``authority`` pins), or both, which must then agree — and refuses a failure with 401 and the
node's JSON error shape ``{"error": {"code", "message"}}`` (``missing_header``,
``bad_signature``, ``wrong_target``, ``stale_timestamp``, ``replayed_nonce``). A verified call
reaches the app with the caller's did:key in:

* ``request.state.agentmesh_caller`` (Starlette/FastAPI; :func:`caller_of` reads it), and
* ``scope["agentmesh"]["caller"]`` (any ASGI app; ``scope["agentmesh"]`` also holds ``nonce``
  and ``agent_id``, the agent's own ID).

Every answer — the app's and the middleware's own refusals — is buffered (at most
``max_response_body`` bytes: over it, 413 ``too_large`` instead, as a node answers an agent's
oversize answer) and signed with ``X-Agent-ID``, ``X-Agent-Timestamp`` and ``X-Agent-Signature``
over its status, the request's nonce and the body, and with the RFC 9421 form
(``Content-Digest``, ``Signature-Input``, ``Signature``: ``am`` over ``@status`` and the digest),
so callers can tell that no gateway or relay forged or altered it. Streaming answers are
therefore sent in one piece.

WebSocket connections are verified at the handshake (an empty body) and refused with close code
1008 (or a 401 body where the server supports the denial-response extension); their messages
are not signed. Lifespan events pass through.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from .encoding import now_unix
from .errors import HandshakeError
from .handshake import (
    DEFAULT_CLOCK_SKEW,
    NonceCache,
    request_nonce,
    sign_response,
    verify_request_nonce,
)
from .identity import Identity

__all__ = ["AgentMeshMiddleware", "caller_of", "DEFAULT_MAX_BODY"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest request body the middleware reads (and largest answer it signs), bytes.
DEFAULT_MAX_BODY = 1024 * 1024

_SIGNED_OUT = (
    b"x-agent-id",
    b"x-agent-timestamp",
    b"x-agent-signature",
    b"content-digest",
    b"signature-input",
    b"signature",
)
_DROPPED_OUT = _SIGNED_OUT + (b"content-length", b"transfer-encoding")
# Response extensions that would bypass the buffered, signed body.
_BYPASSING_EXTENSIONS = (
    "http.response.pathsend",
    "http.response.zerocopy",
    "http.response.trailers",
)


class _HasState(Protocol):
    @property
    def state(self) -> Any: ...


def caller_of(request: _HasState) -> str:
    """The verified caller's did:key of a Starlette/FastAPI ``Request`` that went through
    :class:`AgentMeshMiddleware` (``request.state.agentmesh_caller``)."""
    caller = getattr(request.state, "agentmesh_caller", None)
    if not isinstance(caller, str):
        raise RuntimeError("no verified caller: is AgentMeshMiddleware installed on this app?")
    return caller


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode()


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class AgentMeshMiddleware:
    """Verifies callers and signs answers for the agent ``identity``; see the module docs.

    ``nonce_cache`` defaults to one per middleware (bounded, 100,000 nonces); ``clock_skew`` is
    the accepted ±seconds; ``base_path`` is a prefix the agent is served under that callers do
    not sign (an endpoint like ``https://host/agent``: the caller signs ``/x``, the agent sees
    ``/agent/x``). ``authority`` pins the ``@authority`` (one or several) an RFC 9421 signature
    must cover — e.g. the public host of an agent behind a proxy that rewrites ``Host``;
    by default the request's ``Host``, or the agent's own did:key (lowercased) for a call
    relayed by ``agentmesh connect``.
    """

    def __init__(
        self,
        app: ASGIApp,
        identity: Identity,
        *,
        nonce_cache: NonceCache | None = None,
        clock_skew: int = DEFAULT_CLOCK_SKEW,
        max_body: int = DEFAULT_MAX_BODY,
        max_response_body: int | None = DEFAULT_MAX_BODY,
        base_path: str = "",
        authority: str | list[str] | tuple[str, ...] | None = None,
    ) -> None:
        if not isinstance(identity, Identity):
            raise TypeError("AgentMeshMiddleware needs the agent's Identity (identity=...)")
        if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
            raise ValueError("base_path starts with / and does not end with one (e.g. /agent)")
        self.app = app
        self.identity = identity
        self.nonce_cache = nonce_cache if nonce_cache is not None else NonceCache()
        self.clock_skew = clock_skew
        self.max_body = max_body
        self.max_response_body = max_response_body
        self.base_path = base_path
        if isinstance(authority, str):
            authority = [authority]
        if authority is not None and not authority:
            raise ValueError("authority names at least one @authority (host[:port])")
        self.authority = None if authority is None else list(authority)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- the request ------------------------------------------------------------------------

    def _paths(self, scope: Scope) -> tuple[str, str] | None:
        """The raw request target the caller signed (``X-Agent-*``) and the one received (RFC
        9421's ``@path`` and ``@query``), or ``None`` when it is outside ``base_path``."""
        raw = scope.get("raw_path")
        if isinstance(raw, (bytes, bytearray)):
            path = bytes(raw).decode("latin-1")
        else:
            from urllib.parse import quote

            path = quote(str(scope.get("path", "/")), safe="/:@!$&'()*+,;=-._~%")
        path = path.split("?", 1)[0]  # some servers leave the query on raw_path
        wire = path
        if self.base_path:
            if path == self.base_path:
                path = "/"
            elif path.startswith(self.base_path + "/"):
                path = path[len(self.base_path) :]
            else:
                return None
        qs = scope.get("query_string") or b""
        if isinstance(qs, (bytes, bytearray)) and qs:
            query = "?" + bytes(qs).decode("latin-1")
            path += query
            wire += query
        return path, wire

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for name, value in scope.get("headers") or ():
            if bytes(name).lower() == b"content-length":
                text = bytes(value).strip()
                if text.isdigit() and int(text) > self.max_body:
                    raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            if message["type"] != "http.request":
                continue
            chunk = message.get("body") or b""
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(bytes(chunk))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _nonce(self, scope: Scope) -> str:
        """The nonce the request claims (to sign a refusal for)."""
        for name, value in scope.get("headers") or ():
            if bytes(name).lower() == b"x-agent-nonce":
                try:
                    return bytes(value).decode("ascii")
                except UnicodeDecodeError:
                    return ""
        return request_nonce(scope.get("headers") or []) or ""

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        nonce = self._nonce(scope)
        paths = self._paths(scope)
        if paths is None:
            await self._refuse(
                send, nonce, 404, "not_found", f"this agent is served under {self.base_path}"
            )
            return
        try:
            body = await self._read_body(scope, receive)
        except _Disconnected:
            return
        except _TooLarge:
            await self._refuse(
                send, nonce, 413, "too_large", f"the request body is over {self.max_body} bytes"
            )
            return
        path, wire = paths
        try:
            verified = verify_request_nonce(
                str(scope.get("method", "GET")),
                path,
                scope.get("headers") or [],
                body,
                self.identity.agent_id,
                nonce_cache=self.nonce_cache,
                clock_skew=self.clock_skew,
                authority=self.authority,
                wire_path=wire,
            )
        except HandshakeError as e:
            await self._refuse(send, nonce, 401, e.code, e.message)
            return
        caller, nonce = verified.caller, verified.nonce
        inner = dict(scope)
        inner["agentmesh"] = {"caller": caller, "nonce": nonce, "agent_id": self.identity.agent_id}
        state = dict(scope.get("state") or {})
        state["agentmesh_caller"] = caller
        inner["state"] = state
        ext = scope.get("extensions")
        if isinstance(ext, dict):
            inner["extensions"] = {k: v for k, v in ext.items() if k not in _BYPASSING_EXTENSIONS}
        await self._run_app(
            inner, _replay(body, receive), send, nonce, str(scope.get("method", ""))
        )

    # -- the answer -------------------------------------------------------------------------

    async def _run_app(
        self, scope: Scope, receive: Receive, send: Send, nonce: str, method: str
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        too_large = False
        done = False

        async def capture(message: Message) -> None:
            nonlocal start, size, too_large, done
            kind = message.get("type")
            if kind == "http.response.start":
                start = message
            elif kind == "http.response.body" and not done:
                chunk = bytes(message.get("body") or b"")
                size += len(chunk)
                if self.max_response_body is not None and size > self.max_response_body:
                    too_large = True
                    chunks.clear()
                elif not too_large:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    done = True
                    await self._finish(send, start, b"".join(chunks), too_large, nonce, method)
            else:
                await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            if start is None or not done:
                await self._refuse(send, nonce, 500, "internal", "the agent failed to answer")
            raise
        if not done:
            if start is None:
                await self._refuse(send, nonce, 500, "internal", "the agent sent no answer")
            else:
                await self._finish(send, start, b"".join(chunks), too_large, nonce, method)

    async def _finish(
        self,
        send: Send,
        start: Message | None,
        body: bytes,
        too_large: bool,
        nonce: str,
        method: str,
    ) -> None:
        if start is None:
            await self._refuse(
                send, nonce, 500, "internal", "the agent sent a body before its status"
            )
            return
        if too_large:
            await self._refuse(
                send,
                nonce,
                413,
                "too_large",
                f"the agent's answer is over {self.max_response_body} bytes",
            )
            return
        status = int(start.get("status", 200))
        original = [(bytes(k), bytes(v)) for k, v in start.get("headers") or ()]
        headers = [(k, v) for k, v in original if k.lower() not in _DROPPED_OUT]
        if method.upper() == "HEAD":
            # No body goes out (servers drop it, and gateways read none): the signature covers
            # the empty body; the length stays the one the app declared for a GET.
            headers += [(k, v) for k, v in original if k.lower() == b"content-length"]
            body = b""
        else:
            headers.append((b"content-length", str(len(body)).encode()))
        await self._send_signed(send, status, headers, body, nonce, start)

    async def _send_signed(
        self,
        send: Send,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        nonce: str,
        start: Message | None = None,
    ) -> None:
        signed = sign_response(self.identity, status, nonce, body, timestamp=now_unix())
        headers = headers + [(k.lower().encode(), v.encode()) for k, v in signed.items()]
        message: Message = dict(start) if start is not None else {"type": "http.response.start"}
        message["status"] = status
        message["headers"] = headers
        message.pop("trailers", None)
        await send(message)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _refuse(self, send: Send, nonce: str, status: int, code: str, message: str) -> None:
        body = _error_body(code, message)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await self._send_signed(send, status, headers, body, nonce)

    # -- websockets -------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        paths = self._paths(scope)
        try:
            if paths is None:
                raise HandshakeError(
                    "bad_signature", f"this agent is served under {self.base_path}"
                )
            verified = verify_request_nonce(
                "GET",
                paths[0],
                scope.get("headers") or [],
                b"",
                self.identity.agent_id,
                nonce_cache=self.nonce_cache,
                clock_skew=self.clock_skew,
                authority=self.authority,
                wire_path=paths[1],
            )
        except HandshakeError as e:
            ext = scope.get("extensions") or {}
            if "websocket.http.response" in ext:
                body = _error_body(e.code, e.message)
                nonce = self._nonce(scope)
                signed = sign_response(self.identity, 401, nonce, body)
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                headers += [(k.lower().encode(), v.encode()) for k, v in signed.items()]
                await send(
                    {"type": "websocket.http.response.start", "status": 401, "headers": headers}
                )
                await send(
                    {"type": "websocket.http.response.body", "body": body, "more_body": False}
                )
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": e.code})
            return
        inner = dict(scope)
        inner["agentmesh"] = {
            "caller": verified.caller,
            "nonce": verified.nonce,
            "agent_id": self.identity.agent_id,
        }
        state = dict(scope.get("state") or {})
        state["agentmesh_caller"] = verified.caller
        inner["state"] = state
        await self.app(inner, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the server's messages
    (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
