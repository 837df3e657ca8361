"""NodeClient and AsyncNodeClient against a real node (`agentmesh serve` on 127.0.0.1)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from agentmesh import (
    AgentMeshError,
    AsyncNodeClient,
    CardError,
    Identity,
    InvalidAgentIdError,
    NetworkError,
    NodeClient,
    NodeError,
    ResponseTooLargeError,
    build_manifest,
    httpsig,
    sign_manifest,
    sign_response,
)

from .conftest import Node, run_cli


def card(**extra: object) -> dict[str, object]:
    fields: dict[str, object] = dict(
        name="weather",
        description="Forecasts weather for any city: rain, sun and temperature",
        endpoint="http://127.0.0.1:9",
        tags=["weather"],
        protocols=["http"],
        skills=["forecast"],
    )
    fields.update(extra)
    return fields


def test_register_get_discover_revoke(node: Node) -> None:
    me = Identity.generate()
    with NodeClient(node.url, me) as client:
        first = client.register(**card())
        assert (first.agent_id, first.status) == (me.agent_id, "created")
        # Again within the same second: issued_at moves past the stored version.
        second = client.register(**card(description="Forecasts weather, now with pollen counts"))
        assert second.status == "updated" and second.seq > first.seq
        got = client.get(me.agent_id)
        assert got.agent_id == me.agent_id
        assert got.description == "Forecasts weather, now with pollen counts"
        assert got.tags == ["weather"] and got.skills == [{"id": "forecast"}]
        hits = client.discover("will it rain in Paris tomorrow", limit=5)
        assert [h.agent_id for h in hits] == [me.agent_id]
        assert hits[0].card.name == "weather" and 0 <= hits[0].trust <= 1
        assert client.discover(tags=["WEATHER"], protocol="http")[0].agent_id == me.agent_id
        assert client.discover(tags=["nope"]) == []
        assert client.discover(tags=["weather", "Weather"])[0].agent_id == me.agent_id
        assert client.discover(tags=["weather", "nope"]) == []
        assert client.discover(protocol="mcp") == []
        assert client.discover(me.agent_id)[0].score >= 2  # an exact ID ranks first
        gone = client.revoke()
        assert gone.status == "revoked"
        with pytest.raises(NodeError) as e:
            client.get(me.agent_id)
        assert (e.value.status, e.value.code) == (410, "revoked")
        assert client.discover("rain in Paris") == []
        # The key's owner may re-activate with a newer card (same second: issued_at moves on).
        assert client.register(**card()).status == "updated"
        assert client.get(me.agent_id).name == "weather"


def test_the_cli_sees_what_the_sdk_registered(node: Node, tmp_path: object) -> None:
    me = Identity.generate()
    me.save(home=node.home)
    with NodeClient(node.url, me) as client:
        client.register(**card(name="from-python"))
    out = run_cli(node.home, "--node", node.url, "discover", "--tag", "weather", "--json")
    assert out.returncode == 0, out.stderr
    assert me.agent_id in out.stdout and "from-python" in out.stdout


def test_errors_are_named(node: Node) -> None:
    with NodeClient(node.url) as anonymous:
        with pytest.raises(AgentMeshError, match="needs an identity"):
            anonymous.register(**card())
        with pytest.raises(AgentMeshError, match="needs an identity"):
            anonymous.invoke(Identity.generate().agent_id)
        with pytest.raises(NodeError) as e:
            anonymous.get(Identity.generate().agent_id)
        assert (e.value.status, e.value.code) == (404, "not_found")
        with pytest.raises(InvalidAgentIdError):
            anonymous.get("did:web:example.com")
        with pytest.raises(ValueError, match="limit"):
            anonymous.discover("x", limit=0)
        with pytest.raises(ValueError, match="min_trust"):
            anonymous.discover("x", min_trust=1.5)
        assert anonymous.discover("x", min_trust=0.9) == []
        assert anonymous.node_info()["node_id"] == node.node_id
    me = Identity.generate()
    with NodeClient(node.url, me) as client:
        with pytest.raises(CardError) as ce:
            client.register(**card(name="x" * 65))
        assert ce.value.field == "name"
        with pytest.raises(CardError) as ce:
            client.register(**card(endpoint="ftp://nope"))
        assert ce.value.field == "endpoint"
        with pytest.raises(TypeError):
            client.register(description="no name")
        with pytest.raises(NodeError) as e:
            client.get(me.agent_id)
        assert e.value.code == "not_found", "nothing was sent"
    with pytest.raises(ValueError):
        NodeClient("127.0.0.1:7070")
    with NodeClient(node.url, me) as client:
        assert repr(client) == f"NodeClient({node.url!r}, identity=Identity({me.agent_id!r}))"


def test_invoking_an_unknown_agent_is_the_nodes_404(node: Node) -> None:
    target = Identity.generate().agent_id
    with NodeClient(node.url, Identity.generate()) as client:
        res = client.invoke(target, "/x", json={"a": 1})
        assert res.status == 404 and res.error_code == "not_found"
        assert not res.verified and res.verify_error is not None
        assert res.verify_error.code == "missing_header"
        with pytest.raises(NodeError) as e:
            res.raise_for_status()
        assert e.value.code == "not_found"
        with pytest.raises(AgentMeshError):
            res.raise_for_signature()


@pytest.mark.parametrize(
    "path", ["x", "/a b", "/a#b", "/a/../b", "/a/%2e%2E/b", "/./x", "/%zz", "/é"]
)
def test_paths_that_would_not_arrive_as_signed_are_refused(node: Node, path: str) -> None:
    with NodeClient(node.url, Identity.generate()) as client:
        with pytest.raises(ValueError):
            client.invoke(Identity.generate().agent_id, path)


def test_signature_headers_cannot_be_overridden(node: Node) -> None:
    with NodeClient(node.url, Identity.generate()) as client:
        with pytest.raises(ValueError, match="X-Agent-Nonce"):
            client.invoke(Identity.generate().agent_id, headers={"X-Agent-Nonce": "mine"})
        for name in ("Signature-Input", "signature", "Content-Digest", "Signature-Agent"):
            with pytest.raises(ValueError, match=name):
                client.invoke(Identity.generate().agent_id, headers={name: "mine"})
        with pytest.raises(TypeError):
            client.invoke(Identity.generate().agent_id, json={}, data=b"")


def test_answers_are_capped(node: Node) -> None:
    me = Identity.generate()
    with NodeClient(node.url, me) as client:
        client.register(**card())
    with NodeClient(node.url, max_response_bytes=100) as small:
        with pytest.raises(ResponseTooLargeError):
            small.discover("weather")


def test_an_unreachable_node_is_a_network_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with NodeClient(f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(NetworkError, match=f"127.0.0.1:{port}"):
            client.discover("x")


def test_a_caller_supplied_http_client_is_not_closed(node: Node) -> None:
    with httpx.Client() as http:
        with NodeClient(node.url, http_client=http) as client:
            assert client.discover("x") == []
        assert not http.is_closed


@pytest.mark.anyio
async def test_the_async_client_mirrors_the_sync_one(node: Node) -> None:
    me = Identity.generate()
    async with AsyncNodeClient(node.url, me) as client:
        assert (await client.register(**card())).status == "created"
        assert (await client.register(**card(name="weather2"))).status == "updated"
        assert (await client.get(me.agent_id)).name == "weather2"
        hits = await client.discover("rain tomorrow", tags=["weather"])
        assert hits[0].agent_id == me.agent_id
        res = await client.invoke(Identity.generate().agent_id, "/")
        assert res.status == 404 and not res.verified
        assert (await client.node_info())["node_id"] == node.node_id
        assert (await client.revoke()).status == "revoked"
        with pytest.raises(NodeError):
            await client.get(me.agent_id)
    # The same public names, method for method.
    sync_api = {n for n in dir(NodeClient) if not n.startswith("_")} - {"close"}
    async_api = {n for n in dir(AsyncNodeClient) if not n.startswith("_")} - {"aclose"}
    assert sync_api == async_api


def test_the_card_carries_the_signed_key_directory(node: Node) -> None:
    me = Identity.generate()
    with NodeClient(node.url, me) as client:
        client.register(**card(ttl=3600))
        got = client.get(me.agent_id)
        d = got.manifest["meta"]["httpsig_directory"]
        assert d["authority"] == node.url.split("://", 1)[1]
        assert got.issued_at is not None
        signed = httpsig.sign_directory(me, d["authority"], got.issued_at, got.issued_at + 3600)
        assert (d["signature_input"], d["signature"]) == (
            signed.input_member(),
            signed.signature_member(),
        )
        # Without an expiry: valid a year; other meta is kept.
        client.register(**card(meta={"owner": "ops"}))
        got = client.get(me.agent_id)
        assert got.manifest["meta"]["owner"] == "ops" and got.issued_at is not None
        year = got.issued_at + 365 * 24 * 3600
        assert f";expires={year};" in got.manifest["meta"]["httpsig_directory"]["signature_input"]
        res = httpx.get(client.key_directory_url(me.agent_id))
        assert res.status_code == 200 and "binding=" in res.headers["signature"]
        # Asked under another authority (localhost for 127.0.0.1): served unsigned.
        other = client.key_directory_url(me.agent_id).replace("127.0.0.1", "localhost")
        res = httpx.get(other)
        assert res.status_code == 200 and "signature" not in res.headers
        assert res.text == httpsig.directory_body(me.public_key)
        # A revocation carries none.
        client.revoke()


def _answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    # A streamed body, as the network gives it (the clients read answers raw).
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def test_the_agent_endpoint_is_read_once_and_forgotten_on_refusal() -> None:
    agent, caller = Identity.generate(), Identity.generate()
    envelope = sign_manifest(
        build_manifest(
            agent.agent_id, name="a", endpoint="http://agent.example/base", issued_at=1_795_000_000
        ),
        agent,
    )
    seen: list[httpx.Request] = []
    status = [200]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET" and request.url.path == f"/v1/agents/{agent.agent_id}":
            return _answer(200, json.dumps(envelope).encode())
        nonce = request.headers["x-agent-nonce"]
        return _answer(status[0], b"ok", sign_response(agent, status[0], nonce, b"ok"))

    with NodeClient(
        "http://node.test", caller, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    ) as client:
        for _ in range(2):
            res = client.invoke(agent.agent_id, "/f?x=1", data=b"hi")
            assert res.status == 200 and res.verified, res.verify_error
        gets = [r for r in seen if r.method == "GET"]
        assert len(gets) == 1  # the card, once
        call = seen[-1]
        assert call.url == f"http://node.test/v1/agents/{agent.agent_id}/invoke/f?x=1"
        labels = [m.split("=", 1)[0] for m in call.headers["signature-input"].split(", ")]
        assert labels == ["am", "am-agent"]
        assert call.headers["content-digest"] == httpsig.content_digest(b"hi")
        # The am-agent covers the URL the gateway will call.
        target = httpsig.RequestTarget.of_url("POST", "http://agent.example/base/f?x=1")
        assert target is not None
        params = httpsig.Params.agentmesh(
            caller, int(call.headers["x-agent-timestamp"]), call.headers["x-agent-nonce"]
        )
        expected = httpsig.sign_request(caller, "am-agent", target, b"hi", params)
        assert expected.signature_member() in call.headers["signature"]
        # A 401 answer forgets the endpoint: the next call reads the card again.
        status[0] = 401
        client.invoke(agent.agent_id, "/f", data=b"hi")
        status[0] = 200
        client.invoke(agent.agent_id, "/f", data=b"hi")
        assert len([r for r in seen if r.method == "GET"]) == 2
        # Direct calls sign am for the agent's own URL, and no am-agent.
        client.invoke(agent.agent_id, "/g", direct=True, web_bot_auth=True)
        call = seen[-1]
        assert str(call.url) == "http://agent.example/base/g"
        labels = [m.split("=", 1)[0] for m in call.headers["signature-input"].split(", ")]
        assert labels == ["am", "wba"]
        assert call.headers["signature-agent"] == (
            f'wba="http://node.test/v1/agents/{caller.agent_id}'
            '/http-message-signatures-directory";type=jwks_uri'
        )


def test_the_x_agent_form_alone_on_request() -> None:
    agent, caller = Identity.generate(), Identity.generate()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _answer(
            200, b"ok", sign_response(agent, 200, request.headers["x-agent-nonce"], b"ok")
        )

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with NodeClient("http://node.test", caller, http_client=http, rfc9421=False) as client:
        res = client.invoke(agent.agent_id, "/", data=b"x")
        assert res.verified
        [call] = seen  # no card read either
        assert "signature-input" not in call.headers and "x-agent-signature" in call.headers
        with pytest.raises(ValueError, match="web_bot_auth"):
            client.invoke(agent.agent_id, "/", web_bot_auth=True)


def test_an_unreadable_card_still_lets_the_gateway_answer() -> None:
    agent, caller = Identity.generate(), Identity.generate()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            assert "am-agent" not in request.headers["signature-input"]
        return _answer(404, b'{"error":{"code":"not_found","message":"no"}}')

    with NodeClient(
        "http://node.test", caller, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    ) as client:
        res = client.invoke(agent.agent_id, "/")
        assert res.status == 404 and res.error_code == "not_found" and not res.verified
