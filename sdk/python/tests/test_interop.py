"""Interoperability of the RFC 9421 form (docs/protocol.md §4b, §4c) with an independent
implementation, the `http-message-signatures` package (pinned in the dev extras), with no
AgentMesh code on its side but a key resolver that reads a did:key (or a key directory):

(a) its verifier checks a request this SDK signed, straight and through the gateway's eyes;
(b) a request its signer made (its own label, did:key keyid, nonce, created, expires) passes a
    real node's gateway, and a tampered body or a replay does not; the Python middleware takes
    it too;
(c) at an agent behind the gateway, its verifier checks the signature the gateway forwarded
    (the caller's `am-agent`, relabelled `am`) of a call this SDK made;
(d) its verifier checks answers this SDK signed, in process and as they come through the node;
(e) its verifier checks the key directory the node serves, signed by the agent at
    registration, and the Web Bot Auth signature of a direct call, by the key that directory
    lists.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

from agentmesh import (
    Identity,
    InvalidAgentIdError,
    NodeClient,
    httpsig,
    public_key_from_agent_id,
    sign_request,
    sign_response,
    verify_response,
)
from agentmesh.asgi import AgentMeshMiddleware
from agentmesh.encoding import b64url_decode

from .conftest import Node, serve_asgi

REQUEST_COMPONENTS = ("@method", "@authority", "@path", "@query", "content-digest")
MAX_AGE = datetime.timedelta(seconds=60)


class DidKeyResolver(HTTPSignatureKeyResolver):
    """Keys by did:key (what an AgentMesh keyid is), and the private keys of given seeds."""

    def __init__(self, *seeds: bytes) -> None:
        self.private = {
            Identity.from_seed(s).agent_id: Ed25519PrivateKey.from_private_bytes(s) for s in seeds
        }

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
        try:
            return Ed25519PublicKey.from_public_bytes(public_key_from_agent_id(key_id))
        except InvalidAgentIdError:
            return None

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        return self.private[key_id]


class JwksResolver(HTTPSignatureKeyResolver):
    """Keys by JWK thumbprint, from a key directory's JWKS."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.keys = {
            k["kid"]: Ed25519PublicKey.from_public_bytes(b64url_decode(k["x"]))
            for k in jwks["keys"]
            if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"
        }

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
        return self.keys.get(key_id)


def verifier(resolver: HTTPSignatureKeyResolver | None = None) -> HTTPMessageVerifier:
    return HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=resolver or DidKeyResolver()
    )


class Fields:
    """Header field lines, in order, as the library reads them (``items()``)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def items(self) -> list[tuple[str, str]]:
        return list(self.pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(n for n, _ in self.pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self.pairs)

    def get(self, name: str) -> str | None:
        values = [v for n, v in self.pairs if n.lower() == name.lower()]
        return ", ".join(values) if values else None


@dataclass
class Message:
    """A request (``method``, absolute ``url``) or a response (``status_code``, ``request``)
    as the library takes them: any object with these attributes."""

    headers: Fields
    method: str = "GET"
    url: str = ""


@dataclass
class Answer:
    status_code: int
    headers: Fields
    request: Message | None = None


@dataclass
class Recorded:
    method: str
    target: str
    headers: Fields
    body: bytes

    def as_request(self) -> Message:
        """The request as it arrived, with its absolute URL made from Host."""
        host = self.headers.get("host")
        assert host is not None
        return Message(self.headers, self.method, f"http://{host}{self.target}")


@dataclass
class Recorder:
    """An agent that records each call and answers 200 ``{"ok":true}``, unsigned."""

    calls: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        headers = Fields((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
        with self.lock:
            self.calls.append(Recorded(scope["method"], target, headers, body))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"ok":true}'})

    def last(self) -> Recorded:
        with self.lock:
            assert self.calls, "the agent was not called"
            return self.calls[-1]


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    rec = Recorder()
    with serve_asgi(rec) as url:
        yield rec, url


def register(node: Node, me: Identity, endpoint: str) -> None:
    with NodeClient(node.url, me) as client:
        client.register(name="recorder", description="Records what it is sent", endpoint=endpoint)


# -- (a) the stock verifier checks what this SDK signs --------------------------------------


def test_a_stock_verifier_checks_a_request_this_sdk_signed() -> None:
    caller, agent = Identity.generate(), Identity.generate()
    body = b'{"city":"Paris"}'
    url = "http://agent.example:8080/forecast?days=2"
    h = sign_request(caller, "POST", "/forecast?days=2", agent.agent_id, body, url=url)
    req = Message(Fields(h.items()), "POST", url)
    [result] = verifier().verify(
        req,
        expect_tag="agentmesh",
        body=body,
        require_components=REQUEST_COMPONENTS,
        max_age=MAX_AGE,
    )
    assert result.label == "am" and result.body == body
    assert result.parameters["keyid"] == caller.agent_id
    assert result.nonce == h["X-Agent-Nonce"]
    assert result.parameters["created"] == int(h["X-Agent-Timestamp"])
    assert result.parameters["expires"] == int(h["X-Agent-Timestamp"]) + 60
    assert result.parameters["alg"] == "ed25519"
    # A changed body, path or authority fails there too.
    with pytest.raises(InvalidSignature):
        verifier().verify(req, expect_tag="agentmesh", body=b"{}")
    for other in (
        "http://agent.example:8080/forecast?days=3",
        "http://evil.example:8080/forecast?days=2",
    ):
        with pytest.raises(InvalidSignature):
            verifier().verify(Message(req.headers, "POST", other), expect_tag="agentmesh")


def test_a_stock_verifier_checks_both_signatures_of_a_gateway_call() -> None:
    caller, agent = Identity.generate(), Identity.generate()
    body = b"hello"
    gateway = f"http://127.0.0.1:7070/v1/agents/{agent.agent_id}/invoke/x?y=1"
    h = sign_request(
        caller,
        "PUT",
        "/x?y=1",
        agent.agent_id,
        body,
        url=gateway,
        agent_endpoint="https://Agent.Example:443/base",
    )
    headers = Fields(h.items())
    # Both carry tag="agentmesh": the label picks one (labels are not signed, the URL is).
    [am] = verifier().verify(
        Message(headers, "PUT", gateway), expect_tag="agentmesh", expect_label="am", body=body
    )
    [agent_side] = verifier().verify(
        Message(headers, "PUT", "https://agent.example/base/x?y=1"),
        expect_tag="agentmesh",
        expect_label="am-agent",
        body=body,
    )
    assert am.nonce == agent_side.nonce == h["X-Agent-Nonce"]


def test_a_stock_verifier_checks_a_direct_call_of_the_client(
    node: Node, recorder: tuple[Recorder, str]
) -> None:
    rec, url = recorder
    agent, caller = Identity.generate(), Identity.generate()
    register(node, agent, url + "/base")
    with NodeClient(node.url, caller) as client:
        res = client.invoke(agent.agent_id, "/f?q=%20a", json={"n": 1}, direct=True)
    assert res.status == 200 and not res.verified  # the recorder signs nothing
    got = rec.last()
    assert got.target == "/base/f?q=%20a"
    [result] = verifier().verify(
        got.as_request(),
        expect_tag="agentmesh",
        body=got.body,
        require_components=REQUEST_COMPONENTS,
        max_age=MAX_AGE,
    )
    assert result.label == "am" and result.parameters["keyid"] == caller.agent_id
    assert got.headers.get("x-agent-nonce") == result.nonce


# -- (b) what the stock signer signs passes the node's gateway --------------------------------


def stock_signed(
    url: str, body: bytes, seed: bytes, *, label: str = "sig1", method: str = "POST"
) -> httpx.Request:
    req = httpx.Request(method, url, content=body, headers={"content-type": "application/json"})
    now = datetime.datetime.now(datetime.timezone.utc)
    HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=DidKeyResolver(seed)
    ).sign(
        req,
        key_id=Identity.from_seed(seed).agent_id,
        label=label,
        tag="interop",
        created=now,
        expires=now + datetime.timedelta(seconds=30),
        nonce=secrets.token_urlsafe(24),
        covered_component_ids=REQUEST_COMPONENTS,
        body=body,
    )
    return req


def test_b_the_gateway_admits_a_request_of_the_stock_signer(
    node: Node, recorder: tuple[Recorder, str]
) -> None:
    rec, url = recorder
    agent = Identity.generate()
    register(node, agent, url)
    seed = secrets.token_bytes(32)
    caller = Identity.from_seed(seed).agent_id
    gateway = f"{node.url}/v1/agents/{agent.agent_id}/invoke/orders?id=7"
    body = b'{"qty":2}'
    req = stock_signed(gateway, body, seed)
    assert "x-agent-id" not in req.headers  # the RFC 9421 form alone
    assert req.headers["signature-input"].startswith('sig1=("@method" "@authority" "@path"')
    with httpx.Client(timeout=10) as http:
        res = http.send(req)
        assert res.status_code == 200, res.text
        assert res.json() == {"ok": True}
        got = rec.last()
        assert (got.method, got.target, got.body) == ("POST", "/orders?id=7", body)
        # The caller sent no am-agent: the agent receives no RFC 9421 signature.
        assert got.headers.get("signature-input") is None
        assert got.headers.get("signature") is None
        calls = len(rec.calls)

        # The same request again: a replay.
        again = http.send(req)
        assert again.status_code == 401 and again.json()["error"]["code"] == "replayed_nonce"
        # A tampered body under a fresh signature: the digest does not match.
        fresh = stock_signed(gateway, body, seed)
        tampered = httpx.Request(
            "POST",
            gateway,
            content=b'{"qty":200}',
            headers=[(k, v) for k, v in fresh.headers.multi_items() if k != "content-length"],
        )
        res = http.send(tampered)
        assert res.status_code == 401, res.text
        assert res.json()["error"]["code"] == "bad_signature"
        # Signed for one agent, sent to another: the path names the agent, so it fails.
        other_agent = Identity.generate()
        register(node, other_agent, url)
        other = stock_signed(gateway, body, seed)
        wrong = httpx.Request(
            "POST",
            gateway.replace(agent.agent_id, other_agent.agent_id),
            content=body,
            headers=other.headers,
        )
        res = http.send(wrong)
        assert res.status_code == 401 and res.json()["error"]["code"] == "bad_signature"
        # No tag, no expires, another label: still an RFC 9421 signature the gateway takes.
        plain = httpx.Request("POST", gateway, content=body)
        HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519, key_resolver=DidKeyResolver(seed)
        ).sign(
            plain,
            key_id=caller,
            label="x",
            nonce=secrets.token_urlsafe(16),
            covered_component_ids=REQUEST_COMPONENTS,
            body=body,
        )
        assert http.send(plain).status_code == 200
    assert len(rec.calls) == calls + 1  # none of the refused calls reached the agent


@pytest.mark.anyio
async def test_b_the_middleware_admits_a_request_of_the_stock_signer() -> None:
    agent = Identity.generate()
    seed = secrets.token_bytes(32)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        body = json.dumps(scope["agentmesh"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    transport = httpx.ASGITransport(app=AgentMeshMiddleware(app, agent))
    async with httpx.AsyncClient(transport=transport) as http:
        req = stock_signed("http://agent.test/do?x=1", b"{}", seed, label="mine")
        res = await http.send(req)
        assert res.status_code == 200, res.text
        nonce = res.json()["nonce"]
        assert res.json()["caller"] == Identity.from_seed(seed).agent_id
        # The answer is signed in both forms for the request's nonce, which the stock
        # verifier checks too.
        verify_response(agent.agent_id, 200, nonce, res.headers, res.content)
        answer = Answer(200, Fields(res.headers.multi_items()))
        [r] = verifier().verify(answer, expect_tag="agentmesh", body=res.content)
        assert r.nonce == nonce and r.parameters["keyid"] == agent.agent_id
        res = await http.send(req)
        assert res.status_code == 401 and res.json()["error"]["code"] == "replayed_nonce"
        # Another Host than the one signed: refused.
        other = stock_signed("http://agent.test/do?x=1", b"{}", seed)
        other.headers["host"] = "elsewhere.test"
        res = await http.send(other)
        assert res.status_code == 401 and res.json()["error"]["code"] == "bad_signature"


# -- (c) at the agent, the stock verifier checks the signature the gateway forwarded ----------


def test_c_the_agent_checks_the_forwarded_signature_with_a_stock_verifier(
    node: Node, recorder: tuple[Recorder, str]
) -> None:
    rec, url = recorder
    agent, caller = Identity.generate(), Identity.generate()
    register(node, agent, url + "/agent/")
    with NodeClient(node.url, caller) as client:
        for path, method, body in (
            ("/forecast?days=2&x=%2F", "POST", b'{"city":"Paris"}'),
            ("/", "GET", b""),
            ("/?q=1", "DELETE", b""),
        ):
            data = body if body else None
            res = client.invoke(agent.agent_id, path, data=data, method=method)
            assert res.status == 200, res.text
            got = rec.last()
            # What the gateway forwarded: one signature, am (the caller's am-agent).
            labels = [
                m.split("=", 1)[0] for m in (got.headers.get("signature-input") or "").split(", ")
            ]
            assert labels == ["am"], got.headers.get("signature-input")
            [result] = verifier().verify(
                got.as_request(),
                expect_tag="agentmesh",
                body=got.body,
                require_components=REQUEST_COMPONENTS,
                max_age=MAX_AGE,
            )
            assert result.parameters["keyid"] == caller.agent_id
            assert result.nonce == got.headers.get("x-agent-nonce")
            assert got.body == body


# -- (d) the stock verifier checks answers this SDK signed -----------------------------------


def test_d_a_stock_verifier_checks_an_answer_this_sdk_signed() -> None:
    agent = Identity.generate()
    body = b'{"forecast":"sunny"}'
    nonce = "bm9uY2Utbm9uY2Utbm9uY2U"
    h = sign_response(agent, 201, nonce, body)
    answer = Answer(201, Fields(h.items()))
    [result] = verifier().verify(
        answer,
        expect_tag="agentmesh",
        body=body,
        require_components=("@status", "content-digest"),
        max_age=MAX_AGE,
    )
    assert result.label == "am" and result.nonce == nonce
    assert result.parameters["keyid"] == agent.agent_id
    with pytest.raises(InvalidSignature):
        verifier().verify(Answer(200, answer.headers), expect_tag="agentmesh", body=body)
    with pytest.raises(InvalidSignature):
        verifier().verify(answer, expect_tag="agentmesh", body=body + b"!")


def test_d_answers_through_the_gateway_verify_with_a_stock_verifier(node: Node) -> None:
    agent, caller = Identity.generate(), Identity.generate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"accepted"})

    with serve_asgi(AgentMeshMiddleware(app, agent)) as url:
        register(node, agent, url)
        with NodeClient(node.url, caller) as client:
            res = client.invoke(agent.agent_id, "/job", data=b"x")
    assert res.status == 202 and res.verified, res.verify_error
    answer = Answer(202, Fields(res.headers.multi_items()))
    [result] = verifier().verify(answer, expect_tag="agentmesh", body=res.body)
    assert result.nonce == res.nonce and result.parameters["keyid"] == agent.agent_id


# -- (e) key directories and Web Bot Auth ------------------------------------------------------


def test_e_the_node_serves_the_directory_the_agent_signed(node: Node) -> None:
    agent = Identity.generate()
    register(node, agent, "http://127.0.0.1:9")
    with NodeClient(node.url, agent) as client:
        directory = client.key_directory_url()
        meta = client.get(agent.agent_id).manifest["meta"]["httpsig_directory"]
    assert directory == f"{node.url}/v1/agents/{agent.agent_id}/http-message-signatures-directory"
    assert meta["authority"] == node.url.split("://", 1)[1]
    with httpx.Client(timeout=10) as http:
        res = http.get(directory)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == httpsig.DIRECTORY_MEDIA_TYPE
    assert res.text == httpsig.directory_body(agent.public_key)
    assert res.headers["signature-input"] == meta["signature_input"]
    answer = Answer(200, Fields(res.headers.multi_items()), Message(Fields([]), "GET", directory))
    [result] = verifier(JwksResolver(res.json())).verify(
        answer,
        expect_tag=httpsig.DIRECTORY_TAG,
        body=res.content,
        require_components=('"@authority";req', "content-digest"),
        max_age=None,
    )
    assert result.parameters["keyid"] == httpsig.jwk_thumbprint(agent.public_key)


def test_e_web_bot_auth_verifies_by_the_key_directory(
    node: Node, recorder: tuple[Recorder, str]
) -> None:
    rec, url = recorder
    site, caller = Identity.generate(), Identity.generate()
    register(node, site, url)
    register(node, caller, "http://127.0.0.1:9")
    with NodeClient(node.url, caller) as client:
        res = client.invoke(site.agent_id, "/page?x=1", data=b"q", direct=True, web_bot_auth=True)
        assert res.status == 200
    got = rec.last()
    agent = got.headers.get("signature-agent")
    assert agent is not None and agent.endswith(";type=jwks_uri")
    directory_url = agent.split('"')[1]
    assert (
        directory_url == f"{node.url}/v1/agents/{caller.agent_id}/http-message-signatures-directory"
    )
    with httpx.Client(timeout=10) as http:
        jwks = http.get(directory_url).json()
    [result] = verifier(JwksResolver(jwks)).verify(
        got.as_request(),
        expect_tag="web-bot-auth",
        body=got.body,
        require_components=(*REQUEST_COMPONENTS, '"signature-agent";key="wba"'),
        max_age=MAX_AGE,
    )
    assert result.label == "wba"
    assert result.parameters["keyid"] == httpsig.jwk_thumbprint(caller.public_key)
    nonce = result.nonce
    assert nonce is not None and len(base64.b64decode(nonce)) == 64
    # The AgentMesh signature goes along unchanged.
    [am] = verifier().verify(got.as_request(), expect_tag="agentmesh", body=got.body)
    assert am.parameters["keyid"] == caller.agent_id
