"""End to end: a real node (`agentmesh serve`), a FastAPI agent behind AgentMeshMiddleware on
uvicorn, callers through the node's gateway, straight at the agent, and through a relay tunnel
held by `agentmesh connect`. The middleware verifies every caller and signs every answer; the
caller verifies the answer; replays, wrong targets, tampered bodies and stale timestamps are
refused with the node's codes."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from agentmesh import (
    AsyncNodeClient,
    HandshakeError,
    Identity,
    NodeClient,
    NonceCache,
    httpsig,
    sign_request,
    verify_request,
    verify_response,
)
from agentmesh.asgi import AgentMeshMiddleware

from .conftest import PYTHON, SDK, Node, child, connect, python_env, run_cli, serve_asgi


def agent_app(me: Identity) -> FastAPI:
    app = FastAPI()
    app.add_middleware(AgentMeshMiddleware, identity=me)

    @app.api_route("/echo", methods=["GET", "POST", "PUT"])
    async def echo(request: Request) -> dict[str, Any]:
        return {
            "caller": request.state.agentmesh_caller,
            "path": request.url.path,
            "query": request.url.query,
            "body": (await request.body()).decode(),
        }

    @app.api_route("/", methods=["GET", "HEAD"])
    async def root(request: Request) -> dict[str, str]:
        return {"hello": request.scope["agentmesh"]["caller"]}

    @app.post("/sig")
    async def sig(request: Request) -> dict[str, Any]:
        # The RFC 9421 signatures the agent received (the middleware verified them).
        return {
            "caller": request.state.agentmesh_caller,
            "nonce": request.scope["agentmesh"]["nonce"],
            "signature_input": request.headers.get("signature-input"),
            "x_agent": request.headers.get("x-agent-signature") is not None,
        }

    return app


@pytest.fixture
def agent() -> Iterator[tuple[Identity, str]]:
    me = Identity.generate()
    with serve_asgi(agent_app(me)) as url:
        yield me, url


def register(node: Node, me: Identity, endpoint: str) -> None:
    with NodeClient(node.url, me) as client:
        client.register(
            name="echo",
            description="Echoes what it is sent, and says who sent it",
            endpoint=endpoint,
            tags=["echo"],
            protocols=["http"],
        )


def test_register_discover_invoke_through_the_gateway(
    node: Node, agent: tuple[Identity, str]
) -> None:
    me, url = agent
    register(node, me, url)
    caller = Identity.generate()
    with NodeClient(node.url, caller) as client:
        [hit] = client.discover("echo what it is sent", tags=["echo"])
        assert hit.agent_id == me.agent_id and hit.card.endpoint == url
        res = client.invoke(hit.agent_id, "/echo?days=2&x=%20y", json={"city": "Paris"})
        assert res.status == 200, res.text
        assert res.verified, res.verify_error
        assert res.json() == {
            "caller": caller.agent_id,
            "path": "/echo",
            "query": "days=2&x=%20y",
            "body": '{"city":"Paris"}',
        }
        # Both forms reach the agent: X-Agent-*, and the caller's am-agent relabelled am.
        sig = client.invoke(me.agent_id, "/sig", data=b"{}")
        assert sig.status == 200 and sig.verified, sig.text
        assert sig.json()["x_agent"] and sig.json()["signature_input"].startswith("am=(")
        assert "am-agent" not in sig.json()["signature_input"]
        assert f'keyid="{caller.agent_id}"' in sig.json()["signature_input"]
        # The answer carried both forms, and both were checked.
        assert "signature-input" in sig.headers and "x-agent-signature" in sig.headers
        root = client.invoke(me.agent_id, "/", method="GET")
        assert root.status == 200 and root.verified
        assert root.json() == {"hello": caller.agent_id}
        put = client.invoke(me.agent_id, "/echo", method="put", data=b"raw \x00 bytes")
        assert put.status == 200 and put.verified and put.json()["body"] == "raw \x00 bytes"
        # An empty query is sent as the agent will see it; HEAD answers are signed empty.
        empty_query = client.invoke(me.agent_id, "/echo?", method="GET")
        assert empty_query.status == 200 and empty_query.verified
        head = client.invoke(me.agent_id, "/", method="HEAD")
        assert head.status == 200 and head.verified and head.body == b""
        # A 404 of the agent's own is signed by it too.
        missing = client.invoke(me.agent_id, "/nowhere", method="GET")
        assert missing.status == 404 and missing.verified
        # Straight at the endpoint, no node in between.
        direct = client.invoke(me.agent_id, "/echo", json={"direct": True}, direct=True)
        assert direct.status == 200 and direct.verified
        assert direct.json()["caller"] == caller.agent_id


def test_the_cli_calls_a_python_agent_and_checks_its_signature(
    node: Node, agent: tuple[Identity, str]
) -> None:
    me, url = agent
    register(node, me, url)
    Identity.generate().save(home=node.home)
    out = run_cli(
        node.home,
        "--node",
        node.url,
        "-v",
        "invoke",
        me.agent_id,
        "--path",
        "/echo",
        "--data",
        '{"a":1}',
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["body"] == '{"a":1}'
    assert "response signature verified" in out.stderr


def _send(
    url: str, path: str, headers: dict[str, str], body: bytes, method: str = "POST"
) -> httpx.Response:
    with httpx.Client(timeout=10) as http:
        return http.request(method, url + path, headers=headers, content=body)


def _refused(res: httpx.Response, agent_id: str, nonce: str, code: str) -> None:
    assert res.status_code == 401, res.text
    assert res.json()["error"]["code"] == code
    # The middleware's refusals are signed by the agent too.
    verify_response(agent_id, res.status_code, nonce, res.headers, res.content)


def test_the_middleware_refuses_with_the_nodes_codes(
    node: Node, agent: tuple[Identity, str]
) -> None:
    me, url = agent
    register(node, me, url)
    caller = Identity.generate()
    body = b'{"amount":1}'

    # A replay straight at the agent.
    h = sign_request(caller, "POST", "/echo", me.agent_id, body)
    assert _send(url, "/echo", h, body).status_code == 200
    _refused(_send(url, "/echo", h, body), me.agent_id, h["X-Agent-Nonce"], "replayed_nonce")

    # A call the gateway forwarded, replayed at the agent: the agent remembers its nonce.
    h = sign_request(caller, "POST", "/echo", me.agent_id, body)
    via_node = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/echo", h, body)
    assert via_node.status_code == 200
    verify_response(me.agent_id, 200, h["X-Agent-Nonce"], via_node.headers, via_node.content)
    _refused(_send(url, "/echo", h, body), me.agent_id, h["X-Agent-Nonce"], "replayed_nonce")
    # …and the node refuses the replay itself, with the same code.
    again = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/echo", h, body)
    assert again.status_code == 401 and again.json()["error"]["code"] == "replayed_nonce"

    # Signed for another agent.
    h = sign_request(caller, "POST", "/echo", Identity.generate().agent_id, body)
    _refused(_send(url, "/echo", h, body), me.agent_id, h["X-Agent-Nonce"], "wrong_target")

    # A tampered body.
    h = sign_request(caller, "POST", "/echo", me.agent_id, body)
    _refused(
        _send(url, "/echo", h, b'{"amount":1000}'), me.agent_id, h["X-Agent-Nonce"], "bad_signature"
    )

    # A tampered path.
    h = sign_request(caller, "POST", "/echo", me.agent_id, body)
    _refused(_send(url, "/echo?admin=1", h, body), me.agent_id, h["X-Agent-Nonce"], "bad_signature")

    # Stale timestamps, either side of the window.
    for skew in (-120, 120):
        h = sign_request(
            caller, "POST", "/echo", me.agent_id, body, timestamp=int(time.time()) + skew
        )
        _refused(_send(url, "/echo", h, body), me.agent_id, h["X-Agent-Nonce"], "stale_timestamp")

    # No signature at all.
    res = _send(url, "/echo", {}, body)
    assert res.status_code == 401 and res.json()["error"]["code"] == "missing_header"


def test_a_tampered_answer_is_caught_by_the_caller(node: Node, agent: tuple[Identity, str]) -> None:
    me, url = agent
    register(node, me, url)
    caller = Identity.generate()
    h = sign_request(caller, "GET", "/", me.agent_id, b"")
    res = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/", h, b"", method="GET")
    assert res.status_code == 200
    verify_response(me.agent_id, 200, h["X-Agent-Nonce"], res.headers, res.content)
    with pytest.raises(HandshakeError) as e:
        verify_response(
            me.agent_id, 200, h["X-Agent-Nonce"], res.headers, res.content.replace(b"did", b"DID")
        )
    assert e.value.code == "bad_signature"


def test_through_a_relay_tunnel_held_by_connect(node: Node, tmp_path: Path) -> None:
    me = Identity.generate()
    agent_home = tmp_path / "agent-home"
    me.save(home=agent_home)  # connect reads the key the SDK wrote
    with serve_asgi(agent_app(me)) as url, connect(node.url, agent_home, url, "hidden"):
        caller = Identity.generate()
        with NodeClient(node.url, caller) as client:
            card = client.get(me.agent_id)
            assert card.endpoint == f"relay://{me.agent_id}"
            assert card.relays == [node.url] and card.name == "hidden"
            res = client.invoke(me.agent_id, "/echo?via=relay", json={"hi": 1})
            assert res.status == 200, res.text
            assert res.verified, res.verify_error
            assert res.json()["caller"] == caller.agent_id
            assert res.json()["query"] == "via=relay"
            # A replay through the relay is refused (by the node, first) with the same code.
            h = sign_request(caller, "POST", "/echo", me.agent_id, b"{}")
            ok = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/echo", h, b"{}")
            assert ok.status_code == 200
            verify_response(me.agent_id, 200, h["X-Agent-Nonce"], ok.headers, ok.content)
            again = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/echo", h, b"{}")
            assert again.status_code == 401 and again.json()["error"]["code"] == "replayed_nonce"


@pytest.mark.anyio
async def test_the_async_client_end_to_end(node: Node, agent: tuple[Identity, str]) -> None:
    me, url = agent
    caller = Identity.generate()
    async with AsyncNodeClient(node.url, me) as as_agent:
        await as_agent.register(name="echo", endpoint=url, tags=["echo"])
    async with AsyncNodeClient(node.url, caller) as client:
        [hit] = await client.discover(tags=["echo"])
        res = await client.invoke(hit.agent_id, "/echo", json=[1, 2])
        assert res.status == 200 and res.verified
        assert res.json()["caller"] == caller.agent_id
        direct = await client.invoke(hit.agent_id, "/", method="GET", direct=True)
        assert direct.verified and direct.json() == {"hello": caller.agent_id}


def test_the_examples_run(node: Node, tmp_path: Path) -> None:
    agent_home, caller_home = tmp_path / "agent", tmp_path / "caller"
    made = run_cli(agent_home, "keygen")  # the agent's key from the CLI…
    assert made.returncode == 0, made.stderr
    Identity.generate().save(home=caller_home)  # …the caller's from the SDK
    agent_env = python_env(agent_home, AGENTMESH_NODE=node.url, PORT="0")
    with child([PYTHON, str(SDK / "examples" / "agent.py")], agent_env) as agent:
        agent.wait_line(
            agent.stdout, lambda s: s.startswith("agent did:key:"), "the agent's ready line"
        )
        caller_env = python_env(caller_home, AGENTMESH_NODE=node.url)
        with child([PYTHON, str(SDK / "examples" / "caller.py")], caller_env) as caller:
            line = caller.wait_line(
                caller.stdout, lambda s: s.startswith("200"), "the caller's answer"
            )
            assert "'forecast': 'sunny'" in line and line.endswith("verified")
            assert Identity.load(home=caller_home).agent_id in line
            assert caller.popen.wait(timeout=30) == 0


def test_the_rfc9421_form_alone_through_the_gateway(
    node: Node, agent: tuple[Identity, str]
) -> None:
    me, url = agent
    register(node, me, url)
    caller = Identity.generate()
    body = b'{"only":"rfc9421"}'
    gateway = f"{node.url}/v1/agents/{me.agent_id}/invoke/sig"
    h = sign_request(caller, "POST", "/sig", me.agent_id, body, url=gateway, agent_endpoint=url)
    rfc = {k: v for k, v in h.items() if not k.startswith("X-Agent-")}
    res = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/sig", rfc, body)
    assert res.status_code == 200, res.text
    got = res.json()
    assert got["caller"] == caller.agent_id and got["nonce"] == h["X-Agent-Nonce"]
    assert not got["x_agent"] and got["signature_input"].startswith("am=(")
    verify_response(me.agent_id, 200, h["X-Agent-Nonce"], res.headers, res.content)
    # Replayed at the agent itself (the node has seen it too).
    again = _send(
        url,
        "/sig",
        dict(
            rfc,
            **{
                "Signature-Input": got["signature_input"],
                "Signature": h["Signature"].split(", ")[1].replace("am-agent=", "am="),
            },
        ),
        body,
    )
    _refused(again, me.agent_id, h["X-Agent-Nonce"], "replayed_nonce")
    # Without am-agent the gateway admits the call and the agent has nothing to check: refused
    # there (missing_header), and the refusal reaches the caller signed.
    h = sign_request(caller, "POST", "/sig", me.agent_id, body, url=gateway)
    rfc = {k: v for k, v in h.items() if not k.startswith("X-Agent-")}
    res = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/sig", rfc, body)
    assert res.status_code == 401 and res.json()["error"]["code"] == "missing_header"
    verify_response(me.agent_id, 401, "", res.headers, res.content)


def test_the_relayed_signature_verifies_at_the_python_agent(node: Node, tmp_path: Path) -> None:
    me = Identity.generate()
    agent_home = tmp_path / "agent-home"
    me.save(home=agent_home)
    with serve_asgi(agent_app(me)) as url, connect(node.url, agent_home, url, "hidden"):
        caller = Identity.generate()
        with NodeClient(node.url, caller) as client:
            res = client.invoke(me.agent_id, "/sig", data=b"{}")
            assert res.status == 200 and res.verified, res.text
            # connect passed the caller's am-agent on (relabelled am): its @authority is the
            # agent's did:key, which the middleware accepts as its own.
            assert res.json()["signature_input"].startswith("am=(")
            # connect signs its answers in both forms too.
            assert "signature-input" in res.headers and "x-agent-signature" in res.headers
        # The RFC 9421 form alone, through the relay.
        body = b"{}"
        gateway = f"{node.url}/v1/agents/{me.agent_id}/invoke/sig"
        h = sign_request(
            caller,
            "POST",
            "/sig",
            me.agent_id,
            body,
            url=gateway,
            agent_endpoint=f"relay://{me.agent_id}",
        )
        rfc = {k: v for k, v in h.items() if not k.startswith("X-Agent-")}
        res2 = _send(node.url, f"/v1/agents/{me.agent_id}/invoke/sig", rfc, body)
        assert res2.status_code == 200, res2.text
        assert res2.json()["caller"] == caller.agent_id and not res2.json()["x_agent"]
        verify_response(me.agent_id, 200, h["X-Agent-Nonce"], res2.headers, res2.content)


def test_the_sdk_refuses_what_the_node_refuses_with_the_same_code(node: Node) -> None:
    """Differential: each malformed RFC 9421 request goes to the node's gateway and to this
    SDK's verifier (with the gateway's @authority and @path); the codes must be the same."""
    agent, caller = Identity.generate(), Identity.generate()
    register(node, agent, "http://127.0.0.1:9")  # nothing listens: a verified call is a 502
    authority = node.url.split("://", 1)[1]
    wire = f"/v1/agents/{agent.agent_id}/invoke/f?q=1"
    gateway = node.url + wire
    body = b'{"a":1}'
    digest = httpsig.content_digest(body)
    hop = httpsig.RequestTarget.of_url("POST", gateway)
    assert hop is not None

    def both(**kw: Any) -> dict[str, str]:
        return sign_request(caller, "POST", "/f?q=1", agent.agent_id, body, url=gateway, **kw)

    def rfc(**kw: Any) -> dict[str, str]:
        return {k: v for k, v in both(**kw).items() if not k.startswith("X-Agent-")}

    def custom(
        components: tuple[str, ...] = httpsig.REQUEST_COMPONENTS,
        label: str = "am",
        **params: Any,
    ) -> dict[str, str]:
        p = httpsig.Params.agentmesh(caller, int(time.time()), secrets.token_urlsafe(16))
        for k, v in params.items():
            setattr(p, k, v)
        values = [hop.value(c) or digest for c in components]
        s = httpsig.sign(caller, label, components, values, p)
        return {
            "Content-Digest": digest,
            "Signature-Input": s.input_member(),
            "Signature": s.signature_member(),
        }

    def raw(input_: str, sig: str = "am=:AAAA:") -> dict[str, str]:
        return {"Content-Digest": digest, "Signature-Input": input_, "Signature": sig}

    now = int(time.time())
    mixed = both()
    mixed.update({k: v for k, v in rfc().items() if k.startswith("Signature")})
    two = custom(label="one")
    other = custom(label="two")
    two["Signature-Input"] += ", " + other["Signature-Input"]
    two["Signature"] += ", " + other["Signature"]
    cases: list[tuple[str, dict[str, str] | list[tuple[str, str]], bytes]] = [
        ("both forms", both(), body),
        ("rfc9421 alone", rfc(), body),
        ("a stock label", custom(label="sig1"), body),
        ("no tag, no alg, no expires", custom(tag=None, alg=False, expires=None), body),
        ("no Content-Digest", {k: v for k, v in rfc().items() if k != "Content-Digest"}, body),
        ("no Signature", {k: v for k, v in rfc().items() if k != "Signature"}, body),
        ("another body", rfc(), b'{"a":2}'),
        ("stale", rfc(timestamp=now - 120), body),
        ("from the future", rfc(timestamp=now + 120), body),
        ("expired", custom(created=now - 10, expires=now - 5), body),
        ("short nonce", custom(nonce="0123456789abcde"), body),
        ("long nonce", custom(nonce="n" * 257), body),
        ("no nonce", custom(nonce=None), body),
        ("keyid not a did:key", custom(keyid="test-key-ed25519"), body),
        ("someone else's keyid", custom(keyid=Identity.generate().agent_id), body),
        ("two candidates", two, body),
        ("@query not covered", custom(("@method", "@authority", "@path", "content-digest")), body),
        ("@target-uri", custom((*httpsig.REQUEST_COMPONENTS, "@target-uri")), body),
        ("a covered header absent", custom((*httpsig.REQUEST_COMPONENTS, "x-absent")), body),
        ("a component parameter", raw('am=("@method";sf);created=1;keyid="x"'), body),
        (
            "alg rsa",
            raw(f'am=();created={now};keyid="{caller.agent_id}";alg="rsa-pss-sha512"'),
            body,
        ),
        ("created a string", raw(f'am=();created="{now}";keyid="{caller.agent_id}"'), body),
        ("garbage", raw("(("), body),
        ("huge", raw("am=(" + '"a" ' * 3000 + ")"), body),
        ("signature not bytes", raw(custom()["Signature-Input"], "am=1"), body),
        ("the forms disagree", mixed, body),
        ("X-Agent-Nonce twice", [*both().items(), ("X-Agent-Nonce", "n" * 22)], body),
        ("sha-512 only", dict(rfc(), **{"Content-Digest": "sha-512=:AAAA:"}), body),
    ]
    with httpx.Client(timeout=10) as http:
        for name, headers, sent in cases:
            res = http.post(gateway, headers=headers, content=sent)
            node_code = res.json()["error"]["code"]
            pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
            try:
                verify_request(
                    "POST",
                    "/f?q=1",
                    [*pairs, ("Host", authority)],
                    sent,
                    agent.agent_id,
                    nonce_cache=NonceCache(),
                    authority=authority,
                    wire_path=wire,
                )
                sdk_code = "upstream_failed"  # verified: the node went on to call the agent
            except HandshakeError as e:
                sdk_code = e.code
            assert (name, node_code) == (name, sdk_code), res.text
