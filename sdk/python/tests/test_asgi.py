"""The ASGI middleware in process (httpx's ASGI transport and raw ASGI calls): callers verified,
answers signed, refusals in the node's JSON shape, bodies capped."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from agentmesh import HandshakeError, Identity, NonceCache, sign_request, verify_response
from agentmesh.asgi import AgentMeshMiddleware, caller_of

pytestmark = pytest.mark.anyio

AGENT = Identity.generate()
CALLER = Identity.generate()


def make_app(**options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(AgentMeshMiddleware, identity=AGENT, **options)

    @app.api_route("/echo", methods=["GET", "POST", "PUT", "HEAD"])
    async def echo(request: Request) -> dict[str, Any]:
        return {
            "caller": request.state.agentmesh_caller,
            "scope_caller": request.scope["agentmesh"]["caller"],
            "helper": caller_of(request),
            "body": (await request.body()).decode(),
            "query": str(request.query_params),
        }

    @app.get("/")
    async def root() -> PlainTextResponse:
        return PlainTextResponse("root")

    @app.get("/a/{rest:path}")
    async def anything(rest: str) -> dict[str, str]:
        return {"rest": rest}

    @app.get("/big")
    async def big() -> PlainTextResponse:
        return PlainTextResponse("x" * 5000)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"part{i};".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the agent broke")

    return app


async def call(
    app: Any,
    path: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    signer: Identity = CALLER,
    target: str | None = None,
    signed_path: str | None = None,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    sign: bool = True,
) -> tuple[httpx.Response, dict[str, str]]:
    h = (
        sign_request(
            signer, method, signed_path or path, target or AGENT.agent_id, body, timestamp=timestamp
        )
        if sign
        else {}
    )
    h.update(headers or {})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent.test") as client:
        res = await client.request(method, path, content=body, headers=h)
    return res, h


def assert_signed(res: httpx.Response, h: dict[str, str]) -> None:
    verify_response(
        AGENT.agent_id, res.status_code, h.get("X-Agent-Nonce", ""), res.headers, res.content
    )


def assert_refused(res: httpx.Response, h: dict[str, str], status: int, code: str) -> None:
    assert res.status_code == status, res.text
    assert res.headers["content-type"] == "application/json"
    body = res.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert_signed(res, h)


async def test_a_verified_call_reaches_the_app_and_its_answer_is_signed() -> None:
    app = make_app()
    res, h = await call(app, "/echo?b=2&a=%20x", body=b'{"city":"Paris"}')
    assert res.status_code == 200, res.text
    got = res.json()
    assert got["caller"] == got["scope_caller"] == got["helper"] == CALLER.agent_id
    assert got["body"] == '{"city":"Paris"}'
    assert got["query"] == "b=2&a=+x"
    assert res.headers["x-agent-id"] == AGENT.agent_id
    assert int(res.headers["content-length"]) == len(res.content)
    assert_signed(res, h)
    # A tampered answer would not verify.
    with pytest.raises(HandshakeError):
        verify_response(
            AGENT.agent_id, res.status_code, h["X-Agent-Nonce"], res.headers, res.content + b" "
        )


async def test_each_refusal_has_the_nodes_code_and_shape() -> None:
    app = make_app()
    res, h = await call(app, "/echo", sign=False)
    assert_refused(res, h, 401, "missing_header")
    res, h = await call(app, "/echo", target=Identity.generate().agent_id)
    assert_refused(res, h, 401, "wrong_target")
    res, h = await call(app, "/echo", timestamp=int(time.time()) - 120)
    assert_refused(res, h, 401, "stale_timestamp")
    res, h = await call(app, "/echo", timestamp=int(time.time()) + 120)
    assert_refused(res, h, 401, "stale_timestamp")
    res, h = await call(app, "/echo", signed_path="/other")
    assert_refused(res, h, 401, "bad_signature")
    # A tampered body: signed over one body, sent with another.
    tampered = sign_request(CALLER, "POST", "/echo", AGENT.agent_id, b'{"amount":1}')
    res, h = await call(app, "/echo", body=b'{"amount":1000}', sign=False, headers=tampered)
    assert_refused(res, h, 401, "bad_signature")
    # A replay.
    ok, h = await call(app, "/echo", body=b"once")
    assert ok.status_code == 200
    res, _ = await call(app, "/echo", body=b"once", sign=False, headers=h)
    assert_refused(res, h, 401, "replayed_nonce")


async def test_a_header_twice_and_garbage_headers_are_refused() -> None:
    app = make_app()
    h = sign_request(CALLER, "GET", "/echo", AGENT.agent_id, b"")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent.test") as client:
        twice = list(h.items()) + [("X-Agent-ID", CALLER.agent_id)]
        res = await client.get("/echo", headers=twice)
        assert_refused(res, h, 401, "bad_signature")
        garbage = dict(h)
        garbage["X-Agent-Timestamp"] = "\u00e9\u00e9"
        res = await client.get(
            "/echo", headers=[(k.encode(), v.encode("latin-1")) for k, v in garbage.items()]
        )
        assert_refused(res, h, 401, "missing_header")
        res = await client.get("/echo", headers=[(b"X-Agent-Nonce", b"\xff\x00\x01")])
        assert res.status_code == 401 and res.json()["error"]["code"] == "missing_header"


async def test_paths_are_verified_raw() -> None:
    app = make_app()
    res, h = await call(app, "/a/b%2Fc?q=%3F", method="GET")
    assert res.status_code == 200, res.text
    assert res.json() == {"rest": "b/c"}
    # A signature over the decoded path does not verify the encoded one.
    res, h = await call(app, "/a/b%2Fc", method="GET", signed_path="/a/b/c")
    assert_refused(res, h, 401, "bad_signature")
    res, h = await call(app, "/", method="GET")
    assert res.status_code == 200 and res.text == "root"
    assert_signed(res, h)


async def test_base_path_is_stripped_before_verifying() -> None:
    inner = make_app()
    outer = AgentMeshMiddleware(_strip("/agent", inner), AGENT, base_path="/agent")
    res, h = await call(outer, "/agent/echo?x=1", signed_path="/echo?x=1")
    assert res.status_code == 200, res.text
    res, h = await call(outer, "/agent?x=1", method="GET", signed_path="/?x=1")
    assert res.status_code == 200, res.text
    res, h = await call(outer, "/elsewhere/echo", signed_path="/echo")
    assert_refused(res, h, 404, "not_found")
    with pytest.raises(ValueError):
        AgentMeshMiddleware(inner, AGENT, base_path="agent/")


def _strip(prefix: str, app: Any) -> Any:
    """A router stand-in: hands `app` the path below `prefix`."""

    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            raw = scope["raw_path"].split(b"?")[0][len(prefix) :] or b"/"
            scope["raw_path"], scope["path"] = raw, raw.decode()
        await app(scope, receive, send)

    return mounted


async def test_bodies_over_the_cap_are_413() -> None:
    app = make_app(max_body=1024)
    res, h = await call(app, "/echo", body=b"x" * 1025)  # declared by Content-Length
    assert_refused(res, h, 413, "too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"y" * 400

    body = b"y" * 1600
    h = sign_request(CALLER, "POST", "/echo", AGENT.agent_id, body)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent.test") as client:
        res = await client.post("/echo", content=chunks(), headers=h)  # chunked: no length
    assert_refused(res, h, 413, "too_large")
    res, h = await call(app, "/echo", body=b"x" * 1024)
    assert res.status_code == 200


async def test_answers_over_the_cap_are_413_and_streams_are_signed_whole() -> None:
    app = make_app(max_response_body=4096)
    res, h = await call(app, "/big", method="GET")
    assert_refused(res, h, 413, "too_large")
    res, h = await call(app, "/stream", method="GET")
    assert res.status_code == 200 and res.text == "part0;part1;part2;"
    assert_signed(res, h)
    res, h = await call(make_app(max_response_body=None), "/big", method="GET")
    assert res.status_code == 200 and len(res.content) == 5000


async def test_head_keeps_the_declared_length() -> None:
    res, h = await call(make_app(), "/echo", method="HEAD")
    assert res.status_code == 200
    assert res.content == b""
    assert int(res.headers["content-length"]) > 0
    assert_signed(res, h)


async def test_an_app_failure_is_a_signed_500() -> None:
    res, h = await call(make_app(), "/boom", method="GET")
    assert_refused(res, h, 500, "internal")


async def test_unknown_routes_are_signed_too() -> None:
    res, h = await call(make_app(), "/nowhere", method="GET")
    assert res.status_code == 404
    assert_signed(res, h)


async def test_a_shared_nonce_cache_sees_replays_across_apps() -> None:
    cache = NonceCache()
    first, second = make_app(nonce_cache=cache), make_app(nonce_cache=cache)
    ok, h = await call(first, "/echo")
    assert ok.status_code == 200
    res, _ = await call(second, "/echo", sign=False, headers=h)
    assert_refused(res, h, 401, "replayed_nonce")


# -- the RFC 9421 form (docs/protocol.md §4b) ------------------------------------------------


def rfc9421_only(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.startswith("X-Agent-")}


async def call_rfc(
    app: Any,
    path: str,
    *,
    url: str | None = None,
    body: bytes = b"",
    method: str = "POST",
    signed_path: str | None = None,
    both: bool = False,
    host: str = "agent.test",
) -> tuple[httpx.Response, dict[str, str]]:
    h = sign_request(
        CALLER,
        method,
        signed_path or path,
        AGENT.agent_id,
        body,
        url=url or f"http://agent.test{path}",
    )
    if not both:
        h = rfc9421_only(h)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
        res = await client.request(method, path, content=body, headers=h)
    return res, h


def nonce_of(h: dict[str, str]) -> str:
    return h["Signature-Input"].split('nonce="')[1].split('"')[0]


async def test_the_rfc9421_form_alone_or_with_the_other() -> None:
    app = make_app()
    for both in (False, True):
        res, h = await call_rfc(app, "/echo?q=1", body=b"hi", both=both)
        assert res.status_code == 200, res.text
        assert res.json()["caller"] == CALLER.agent_id and res.json()["body"] == "hi"
        # The answer carries both forms, for the request's nonce.
        for name in ("x-agent-signature", "signature-input", "signature", "content-digest"):
            assert name in res.headers
        assert res.headers["signature-input"].startswith('am=("@status" "content-digest")')
        verify_response(AGENT.agent_id, 200, nonce_of(h), res.headers, res.content)
        verify_response(
            AGENT.agent_id, 200, nonce_of(h), rfc9421_only(dict(res.headers)), res.content
        )
        # A replay is refused, in either form, with the answer signed for its nonce.
        again, _ = await call(app, "/echo?q=1", body=b"hi", sign=False, headers=h)
        assert again.status_code == 401 and again.json()["error"]["code"] == "replayed_nonce"
        verify_response(AGENT.agent_id, 401, nonce_of(h), again.headers, again.content)


async def test_rfc9421_refusals_are_signed_for_the_claimed_nonce() -> None:
    app = make_app()
    # Signed for another host (another agent's URL): refused, signed for the nonce it claims.
    res, h = await call_rfc(app, "/echo", url="http://other.test/echo", body=b"x")
    assert res.status_code == 401 and res.json()["error"]["code"] == "bad_signature"
    verify_response(AGENT.agent_id, 401, nonce_of(h), res.headers, res.content)
    # A tampered body.
    h = rfc9421_only(
        sign_request(CALLER, "POST", "/echo", AGENT.agent_id, b"a", url="http://agent.test/echo")
    )
    res, _ = await call(app, "/echo", body=b"b", sign=False, headers=h)
    assert res.status_code == 401 and res.json()["error"]["code"] == "bad_signature"
    # The two forms disagreeing.
    x = sign_request(CALLER, "POST", "/echo", AGENT.agent_id, b"a")
    res, _ = await call(app, "/echo", body=b"a", sign=False, headers=dict(h, **x))
    assert res.status_code == 401 and res.json()["error"]["code"] == "bad_signature"
    assert "disagree" in res.json()["error"]["message"]


async def test_rfc9421_under_a_base_path_and_a_pinned_authority() -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        body = scope["raw_path"] + b" " + scope["agentmesh"]["caller"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    outer = AgentMeshMiddleware(bare, AGENT, base_path="/agent")
    # @path is the path as received; the X-Agent-* form signs the one below the base path.
    for both in (False, True):
        res, h = await call_rfc(outer, "/agent/echo?x=1", signed_path="/echo?x=1", both=both)
        assert res.status_code == 200, res.text
        assert res.text == f"/agent/echo {CALLER.agent_id}"
    res, _ = await call_rfc(outer, "/agent/echo", url="http://agent.test/echo")
    assert res.status_code == 401 and res.json()["error"]["code"] == "bad_signature"
    # Behind a proxy that rewrites Host: pin the authority the callers sign.
    pinned = make_app(authority="public.example")
    res, _ = await call_rfc(pinned, "/echo", url="https://public.example/echo")
    assert res.status_code == 200, res.text
    res, _ = await call_rfc(pinned, "/echo")
    assert res.status_code == 401 and res.json()["error"]["code"] == "bad_signature"
    with pytest.raises(ValueError):
        AgentMeshMiddleware(bare, AGENT, authority=[])


async def test_websockets_take_the_rfc9421_form() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["agentmesh"])
        await send({"type": "websocket.accept"})

    h = rfc9421_only(
        sign_request(CALLER, "GET", "/ws", AGENT.agent_id, b"", url="http://agent.test/ws")
    )
    r = Recorder([{"type": "websocket.connect"}])
    await AgentMeshMiddleware(app, AGENT)(ws_scope(dict(h, host="agent.test")), r.receive, r.send)
    assert r.sent == [{"type": "websocket.accept"}]
    assert seen[0]["caller"] == CALLER.agent_id and seen[0]["nonce"] == nonce_of(h)


# -- raw ASGI: websockets, lifespan, the middleware's own contract -------------------------


class Recorder:
    def __init__(self, incoming: list[dict[str, Any]]) -> None:
        self.incoming = list(incoming)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0) if self.incoming else {"type": "http.disconnect"}

    async def send(self, message: Any) -> None:
        self.sent.append(dict(message))


def ws_scope(headers: dict[str, str], extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "extensions": extensions or {},
    }


async def test_websockets_are_verified_at_the_handshake() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["agentmesh"]["caller"])
        await send({"type": "websocket.accept"})

    mw = AgentMeshMiddleware(app, AGENT)
    h = sign_request(CALLER, "GET", "/ws", AGENT.agent_id, b"")
    r = Recorder([{"type": "websocket.connect"}])
    await mw(ws_scope(h), r.receive, r.send)
    assert seen == [CALLER.agent_id] and r.sent == [{"type": "websocket.accept"}]
    # The same handshake again is a replay: closed with 1008 before the app sees it.
    r = Recorder([{"type": "websocket.connect"}])
    await mw(ws_scope(h), r.receive, r.send)
    assert r.sent == [{"type": "websocket.close", "code": 1008, "reason": "replayed_nonce"}]
    # With the denial-response extension, a signed 401 in the node's shape.
    r = Recorder([])
    await mw(ws_scope({}, {"websocket.http.response": {}}), r.receive, r.send)
    assert r.sent[0]["type"] == "websocket.http.response.start" and r.sent[0]["status"] == 401
    assert json.loads(r.sent[1]["body"])["error"]["code"] == "missing_header"
    assert seen == [CALLER.agent_id]


async def test_lifespan_passes_through() -> None:
    got: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got.append(scope["type"])

    await AgentMeshMiddleware(app, AGENT)(
        {"type": "lifespan"}, Recorder([]).receive, Recorder([]).send
    )
    assert got == ["lifespan"]


async def test_a_client_gone_mid_body_gets_nothing() -> None:
    called: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    h = sign_request(CALLER, "POST", "/", AGENT.agent_id, b"abc")
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in h.items()],
    }
    r = Recorder(
        [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}]
    )
    await AgentMeshMiddleware(app, AGENT)(scope, r.receive, r.send)
    assert called == [] and r.sent == []


async def test_pathsend_and_trailers_are_not_offered_to_the_app() -> None:
    offered: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        offered.append(scope["extensions"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    h = sign_request(CALLER, "GET", "/", AGENT.agent_id, b"")
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in h.items()],
        "extensions": {"http.response.pathsend": {}, "http.response.trailers": {}, "other": {}},
    }
    r = Recorder([{"type": "http.request", "body": b""}])
    await AgentMeshMiddleware(app, AGENT)(scope, r.receive, r.send)
    assert offered == [{"other": {}}]
    assert r.sent[0]["status"] == 204
    names = [k for k, _ in r.sent[0]["headers"]]
    assert b"x-agent-signature" in names


def test_caller_of_without_the_middleware() -> None:
    class FakeRequest:
        class state:  # noqa: N801
            pass

    with pytest.raises(RuntimeError, match="AgentMeshMiddleware"):
        caller_of(FakeRequest())


def test_the_middleware_needs_an_identity() -> None:
    with pytest.raises(TypeError):
        AgentMeshMiddleware(make_app(), AGENT.agent_id)  # type: ignore[arg-type]
