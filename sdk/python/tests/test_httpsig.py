"""The RFC 9421 form (docs/protocol.md §4b) in process: parsing as the node parses, which
signature is picked, every refusal with the node's code, both forms together, and answers."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest

from agentmesh import (
    HandshakeError,
    Identity,
    NonceCache,
    httpsig,
    request_nonce,
    sign_request,
    sign_response,
    verify_request,
    verify_request_nonce,
    verify_response,
)
from agentmesh.httpsig import HttpSigError, Params, RequestTarget

CALLER = Identity.generate()
AGENT = Identity.generate()
BODY = b'{"city":"Paris"}'
NONCE = "bm9uY2Utbm9uY2Utbm9uY2U"


def lookup(headers: dict[str, str]) -> httpsig.HeaderLookup:
    low = {k.lower(): v for k, v in headers.items()}
    return low.get


def rfc_only(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.startswith("X-Agent-")}


def signed(
    *,
    url: str = "http://agent.test/forecast?days=2",
    path: str = "/forecast?days=2",
    body: bytes = BODY,
    timestamp: int | None = None,
    nonce: str | None = None,
    method: str = "POST",
) -> dict[str, str]:
    h = sign_request(
        CALLER, method, path, AGENT.agent_id, body, url=url, timestamp=timestamp, nonce=nonce
    )
    h["Host"] = url.split("/")[2]
    return h


def code_of(
    headers: dict[str, str],
    *,
    path: str = "/forecast?days=2",
    body: bytes = BODY,
    method: str = "POST",
    **kw: object,
) -> str:
    with pytest.raises(HandshakeError) as e:
        verify_request(
            method,
            path,
            headers,
            body,
            AGENT,
            nonce_cache=NonceCache(),
            **kw,  # type: ignore[arg-type]
        )
    return e.value.code


def test_target_of_a_url() -> None:
    t = RequestTarget.of_url("post", "HTTP://User:pw@Node.Example:80/v1/x?a=1#frag")
    assert t == RequestTarget("POST", "node.example", "/v1/x", "a=1")
    assert RequestTarget.of_url("GET", "https://h:443") == RequestTarget("GET", "h", "/", None)
    assert RequestTarget.of_url("GET", "https://h:8443/?") == RequestTarget(
        "GET", "h:8443", "/", ""
    )
    assert RequestTarget.of_url("GET", "http://[::1]:80/a") == RequestTarget(
        "GET", "[::1]", "/a", None
    )
    assert RequestTarget.of_url("GET", "http://h:443/") == RequestTarget("GET", "h:443", "/", None)
    for bad in ("ws://h/", "relay://did:key:z6Mk", "http:///x", "/just/a/path", "h:80"):
        assert RequestTarget.of_url("GET", bad) is None, bad
    t = RequestTarget.new("get", "did:key:z6MkABC", "/a%2Fb?x=%3F?y")
    assert (t.authority, t.path, t.query) == ("did:key:z6mkabc", "/a%2Fb", "x=%3F?y")
    assert t.value("@query") == "?x=%3F?y" and t.value("@request-target") == "/a%2Fb?x=%3F?y"
    assert RequestTarget.new("GET", "h", "").value("@path") == "/"
    assert RequestTarget.new("GET", "h", "/").value("@query") == "?"
    assert t.value("@target-uri") is None and t.value("@scheme") is None


def test_content_digest() -> None:
    d = httpsig.content_digest(b"")
    assert d == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    assert httpsig.content_digest_matches(d, b"")
    assert not httpsig.content_digest_matches(d, b"x")
    # A sha-512 member beside it must hold too, as the node checks.
    assert not httpsig.content_digest_matches("sha-512=:AAAA:, " + d, b"")
    sha512 = base64.b64encode(hashlib.sha512(b"").digest()).decode()
    assert httpsig.content_digest_matches(f"sha-512=:{sha512}:, " + d, b"")
    for bad in ("sha-512=:AAAA:", "((", "sha-256=1", "sha-256"):
        with pytest.raises(HttpSigError):
            httpsig.content_digest_matches(bad, b"")


def test_garbage_is_refused_without_crashing() -> None:
    # The node's own list (src/httpsig.rs, garbage_is_refused_without_panicking).
    target = RequestTarget.new("GET", "h", "/")
    cases = [
        ("", ""),
        ("am", "am"),
        ('am=("@method")', "am=:AAAA:"),
        ('am=("@method";sf);created=1;keyid="x"', "am=:AAAA:"),
        ('am=("@method" "@method");created=1;keyid="x"', "am=:AAAA:"),
        ('am=("@target-uri");created=1;keyid="x"', "am=:AAAA:"),
        ('am=("X-Upper");created=1;keyid="x"', "am=:AAAA:"),
        ('am=("absent");created=1;keyid="x"', "am=:AAAA:"),
        ('am=();created="1";keyid="x"', "am=:AAAA:"),
        ('am=();created=1;keyid="x";alg="rsa-pss-sha512"', "am=:AAAA:"),
        ("am=();created=1", "am=:AAAA:"),
        ('am=();created=1;keyid="x"', "am=1"),
        ('x=();created=1;keyid="did:key:a", y=();created=1;keyid="did:key:b"', ""),
        ('am=(@method);created=1;keyid="x"', "am=:AAAA:"),  # a token, not a string
        ('am=();created=?1;keyid="x"', "am=:AAAA:"),  # a boolean is no integer
        ('am=();created=1;keyid=""', "am=:AAAA:"),
        ("am=();created=1;keyid=x", "am=:AAAA:"),  # a token keyid
        ('am=();created=1;keyid="x";nonce=%"x"', "am=:AAAA:"),  # a display string
        ('am=("@status");created=1;keyid="x"', "am=:AAAA:"),  # not a request's
        ('am="x"', "am=:AAAA:"),
    ]
    for input_, sig in cases:
        h = {"signature-input": input_, "signature": sig}
        with pytest.raises(HttpSigError):
            httpsig.parse(h.get, target.value)
    huge = "am=(" + '"a" ' * 5000 + ")"
    with pytest.raises(HttpSigError):
        httpsig.parse({"signature-input": huge, "signature": "am=:AAAA:"}.get, target.value)
    with pytest.raises(HttpSigError) as e:
        httpsig.parse({"signature-input": "am=()"}.get, target.value)
    assert e.value.kind == "missing" and e.value.header == "signature"


def test_which_signature_is_read() -> None:
    t = RequestTarget.new("GET", "h", "/")
    p = Params.agentmesh(CALLER, 1_795_000_000, NONCE)
    mine = httpsig.sign_request(CALLER, "mine", t, b"", p)
    am = httpsig.sign_request(CALLER, "am", t, b"", p)
    agent = httpsig.sign_request(CALLER, "am-agent", t, b"", p)
    other = httpsig.sign(
        CALLER, "wba", ("@method",), ("GET",), Params(created=1, keyid="thumbprint")
    )

    def pick(*sigs: httpsig.Signed) -> str:
        h = {
            "signature-input": ", ".join(s.input_member() for s in sigs),
            "signature": ", ".join(s.signature_member() for s in sigs),
            "content-digest": httpsig.content_digest(b""),
        }
        return httpsig.parse(h.get, t.value).label

    assert pick(mine) == "mine"
    assert pick(agent, mine, other) == "mine"  # am-agent and non-did:key keyids are not ours
    assert pick(mine, am) == "am"  # am wins
    with pytest.raises(HttpSigError):
        pick(agent)
    with pytest.raises(HttpSigError):
        pick(mine, httpsig.sign_request(CALLER, "mine2", t, b"", p))
    # The nonce to sign a refusal for is read the same way, and from X-Agent-Nonce first.
    assert request_nonce({"Signature-Input": mine.input_member()}) == NONCE
    assert request_nonce({"Signature-Input": "junk(("}) is None
    assert request_nonce({"X-Agent-Nonce": "n", "Signature-Input": mine.input_member()}) == "n"


def test_the_signature_base_is_rebuilt_from_the_fields_as_sent() -> None:
    # A signature input spelled with extra spaces, over two field lines: the base uses its
    # canonical serialization, as RFC 9421 §2.3 and the node do.
    t = RequestTarget.new("POST", "agent.test", "/x")
    p = Params.agentmesh(CALLER, int(time.time()), NONCE)
    s = httpsig.sign_request(CALLER, "am", t, b"", p)
    spaced = s.input_member().replace('" "', '"   "')
    assert spaced != s.input_member()
    h = {
        "Signature-Input": 'other=();created=1;keyid="k", ' + spaced,
        "Signature": s.signature_member(),
        "Content-Digest": httpsig.content_digest(b""),
        "Host": "agent.test",
    }
    assert httpsig.parse(lookup(h), t.value).base == s.base
    assert verify_request("POST", "/x", h, b"", AGENT, nonce_cache=NonceCache()) == CALLER.agent_id
    pairs = [
        ("Signature-Input", 'other=();created=1;keyid="k"'),
        ("Signature-Input", s.input_member()),
        ("Signature", s.signature_member()),
        ("Content-Digest", httpsig.content_digest(b"")),
        ("Host", "agent.test"),
    ]
    caller = verify_request("POST", "/x", pairs, b"", AGENT, nonce_cache=NonceCache())
    assert caller == CALLER.agent_id


def test_either_form_or_both() -> None:
    h = signed()
    cache = NonceCache()
    for headers in (h, rfc_only(h)):
        v = verify_request_nonce(
            "POST", "/forecast?days=2", headers, BODY, AGENT, nonce_cache=NonceCache()
        )
        assert (v.caller, v.nonce) == (CALLER.agent_id, h["X-Agent-Nonce"])
    # One nonce for both forms: a replay in the other form is a replay.
    verify_request("POST", "/forecast?days=2", h, BODY, AGENT, nonce_cache=cache)
    with pytest.raises(HandshakeError) as e:
        verify_request("POST", "/forecast?days=2", rfc_only(h), BODY, AGENT, nonce_cache=cache)
    assert e.value.code == "replayed_nonce"


def test_both_forms_must_hold_and_agree() -> None:
    h = signed()
    # A good X-Agent-* form does not excuse a bad RFC 9421 one, and the other way round.
    assert code_of(dict(h, Host="elsewhere.test")) == "bad_signature"
    assert (
        code_of(dict(h, **{"X-Agent-Signature": signed()["X-Agent-Signature"]})) == "bad_signature"
    )
    # Each form valid alone, but not the same call: they disagree.
    other = signed()
    mixed = dict(h)
    for k in ("Signature-Input", "Signature"):
        mixed[k] = other[k]
    assert code_of(mixed) == "bad_signature"
    # An X-Agent-* form checked first: its code comes first.
    assert code_of(dict(h, **{"X-Agent-Target": CALLER.agent_id})) == "wrong_target"


def test_each_rfc9421_refusal_has_the_nodes_code() -> None:
    now = int(time.time())
    h = rfc_only(signed())
    assert code_of({k: v for k, v in h.items() if k != "Signature"}) == "missing_header"
    assert code_of({k: v for k, v in h.items() if k != "Host"}) == "missing_header"
    # A covered Content-Digest that is absent fails the signature's parse, as at the node.
    assert code_of({k: v for k, v in h.items() if k != "Content-Digest"}) == "missing_header"
    assert code_of(h, body=b"{}") == "bad_signature"
    assert code_of(h, path="/forecast?days=3") == "bad_signature"
    assert code_of(h, method="PUT") == "bad_signature"
    assert code_of(rfc_only(signed(timestamp=now - 120))) == "stale_timestamp"
    assert code_of(rfc_only(signed(timestamp=now + 120))) == "stale_timestamp"
    assert code_of(rfc_only(signed(nonce="short"))) == "bad_signature"
    assert code_of(rfc_only(signed(nonce="n" * 257))) == "bad_signature"
    assert verify_request(
        "POST",
        "/forecast?days=2",
        rfc_only(signed(nonce="n" * 256)),
        BODY,
        AGENT,
        nonce_cache=NonceCache(),
    )

    def resign(components: tuple[str, ...], params: Params, label: str = "am") -> dict[str, str]:
        t = RequestTarget.new("POST", "agent.test", "/forecast?days=2")
        fields = {"host": "agent.test", "content-digest": httpsig.content_digest(BODY)}
        values = [t.value(c) or fields[c] for c in components]
        s = httpsig.sign(CALLER, label, components, values, params)
        return dict(h, **{"Signature-Input": s.input_member(), "Signature": s.signature_member()})

    p = Params.agentmesh(CALLER, now, NONCE)
    assert (
        code_of(resign(("@method", "@authority", "@path", "content-digest"), p)) == "bad_signature"
    )
    # Covering more is fine, also @request-target and other headers.
    more = resign((*httpsig.REQUEST_COMPONENTS, "@request-target", "host"), p)
    assert verify_request("POST", "/forecast?days=2", more, BODY, AGENT, nonce_cache=NonceCache())
    # Expired: expires before now, or before created.
    expired = Params(created=now - 30, keyid=CALLER.agent_id, expires=now - 1, nonce=NONCE)
    assert code_of(resign(httpsig.REQUEST_COMPONENTS, expired)) == "stale_timestamp"
    # No alg and no tag is fine (they are optional); a keyid that is not a did:key is not.
    bare = Params(created=now, keyid=CALLER.agent_id, nonce=NONCE)
    assert verify_request(
        "POST",
        "/forecast?days=2",
        resign(httpsig.REQUEST_COMPONENTS, bare),
        BODY,
        AGENT,
        nonce_cache=NonceCache(),
    )
    other_key = Params(created=now, keyid="test-key-ed25519", nonce=NONCE)
    assert code_of(resign(httpsig.REQUEST_COMPONENTS, other_key)) == "bad_signature"
    # Someone else's did:key as keyid: the signature does not verify.
    forged = Params(created=now, keyid=Identity.generate().agent_id, nonce=NONCE)
    assert code_of(resign(httpsig.REQUEST_COMPONENTS, forged)) == "bad_signature"
    # Duplicate X-Agent-* headers are refused before anything, as the node does.
    dup = list(signed().items()) + [("X-Agent-Nonce", NONCE)]
    with pytest.raises(HandshakeError) as e:
        verify_request("POST", "/forecast?days=2", dup, BODY, AGENT, nonce_cache=NonceCache())
    assert e.value.code == "bad_signature"


def test_authority_and_wire_path() -> None:
    # Behind a proxy that rewrites Host: pin the public authority.
    h = signed(url="https://public.example/forecast?days=2")
    h["Host"] = "10.0.0.7:8080"
    assert code_of(rfc_only(h)) == "bad_signature"
    assert verify_request(
        "POST",
        "/forecast?days=2",
        rfc_only(h),
        BODY,
        AGENT,
        nonce_cache=NonceCache(),
        authority="PUBLIC.example",
    )
    assert code_of(rfc_only(h), authority=["other.example", "10.0.0.7:8080"]) == "bad_signature"
    # Under a base path: the X-Agent-* form signs /x, the RFC 9421 form the URL as sent.
    h = sign_request(CALLER, "GET", "/x", AGENT.agent_id, b"", url="http://agent.test/base/x")
    h["Host"] = "agent.test"
    assert verify_request("GET", "/x", h, b"", AGENT, nonce_cache=NonceCache(), wire_path="/base/x")
    assert code_of(h, path="/x", method="GET", body=b"") == "bad_signature"
    # Relayed by `connect`: @authority is the agent's did:key, @path the caller's path.
    h = sign_request(
        CALLER, "GET", "/x", AGENT.agent_id, b"", agent_endpoint=f"relay://{AGENT.agent_id}"
    )
    relayed = {
        "Host": "127.0.0.1:5000",
        "Content-Digest": h["Content-Digest"],
        "Signature-Input": h["Signature-Input"].replace("am-agent=", "am="),
        "Signature": h["Signature"].replace("am-agent=", "am="),
    }
    assert verify_request(
        "GET", "/x", relayed, b"", AGENT, nonce_cache=NonceCache(), wire_path="/base/x"
    )
    # …but not at another agent, nor when the authority is pinned to something else.
    with pytest.raises(HandshakeError):
        verify_request("GET", "/x", relayed, b"", Identity.generate(), nonce_cache=NonceCache())
    assert code_of(relayed, path="/x", method="GET", body=b"", authority="127.0.0.1:5000") == (
        "bad_signature"
    )


def test_sign_request_options() -> None:
    h = sign_request(CALLER, "GET", "/", AGENT.agent_id, b"")
    assert set(h) == {
        "X-Agent-ID",
        "X-Agent-Target",
        "X-Agent-Timestamp",
        "X-Agent-Nonce",
        "X-Agent-Signature",
    }
    with pytest.raises(ValueError):
        sign_request(CALLER, "GET", "/", AGENT.agent_id, b"", url="ws://h/")
    with pytest.raises(ValueError):
        sign_request(CALLER, "GET", "/", AGENT.agent_id, b"", agent_endpoint="ws://h/")
    with pytest.raises(ValueError):
        sign_request(CALLER, "GET", "/", AGENT.agent_id, b"", web_bot_auth="http://n/dir")
    h = sign_request(
        CALLER,
        "GET",
        "/?a=1",
        AGENT.agent_id,
        b"",
        url=f"http://node:7070/v1/agents/{AGENT.agent_id}/invoke/?a=1",
        agent_endpoint="http://agent:8080/mcp",
        web_bot_auth="http://node:7070/dir",
    )
    labels = [m.split("=", 1)[0] for m in h["Signature-Input"].split(", ")]
    assert labels == ["am", "am-agent", "wba"]
    agent = RequestTarget.of_url("GET", "http://agent:8080/mcp?a=1")
    assert agent is not None
    p = Params.agentmesh(CALLER, int(h["X-Agent-Timestamp"]), h["X-Agent-Nonce"])
    expected = httpsig.sign_request(CALLER, "am-agent", agent, b"", p)
    assert expected.input_member() in h["Signature-Input"]
    assert expected.signature_member() in h["Signature"]


def test_answers_in_either_form_or_both() -> None:
    body = b"ok"
    h = sign_response(AGENT, 200, NONCE, body)
    assert set(h) == {
        "X-Agent-ID",
        "X-Agent-Timestamp",
        "X-Agent-Signature",
        "Content-Digest",
        "Signature-Input",
        "Signature",
    }
    assert h["X-Agent-Timestamp"] in h["Signature-Input"]  # created = X-Agent-Timestamp
    verify_response(AGENT.agent_id, 200, NONCE, h, body)
    verify_response(AGENT.agent_id, 200, NONCE, rfc_only(h), body)
    x_only = sign_response(AGENT, 200, NONCE, body, rfc9421=False)
    verify_response(AGENT.agent_id, 200, NONCE, x_only, body)

    def code(headers: dict[str, str], who: str = AGENT.agent_id) -> str:
        with pytest.raises(HandshakeError) as e:
            verify_response(who, 200, NONCE, headers, body)
        return e.value.code

    # Both present: both must hold.
    other = sign_response(AGENT, 200, "another-nonce-another", body)
    assert code(dict(h, Signature=other["Signature"])) == "bad_signature"
    assert code(dict(h, **{"X-Agent-Signature": other["X-Agent-Signature"]})) == "bad_signature"
    assert code(dict(h, **{"Signature-Input": other["Signature-Input"]})) == "bad_signature"
    assert code(rfc_only(h), Identity.generate().agent_id) == "wrong_target"
    assert code({k: v for k, v in h.items() if k != "Content-Digest"}) == "bad_signature"
    assert code({}) == "missing_header"
    assert code({k: v for k, v in rfc_only(h).items() if k != "Signature"}) == "bad_signature"
    # A nonce no structured field can hold: the X-Agent-* form alone.
    odd = sign_response(AGENT, 401, "tab\there", body)
    assert "Signature-Input" not in odd
    verify_response(AGENT.agent_id, 401, "tab\there", odd, body)


def test_for_agent_relabels_am_agent() -> None:
    h = sign_request(
        CALLER,
        "POST",
        "/f",
        AGENT.agent_id,
        BODY,
        url=f"http://node/v1/agents/{AGENT.agent_id}/invoke/f",
        agent_endpoint="http://agent.test/",
    )
    forwarded = httpsig.for_agent(lookup(h))
    assert forwarded is not None
    input_, sig = forwarded
    assert input_.startswith('am=("@method"') and sig.startswith("am=:")
    at_agent = {
        "Host": "agent.test",
        "Content-Digest": h["Content-Digest"],
        "Signature-Input": input_,
        "Signature": sig,
    }
    assert verify_request("POST", "/f", at_agent, BODY, AGENT, nonce_cache=NonceCache())
    assert httpsig.for_agent(lookup(signed())) is None


def test_the_fast_serialization_is_http_sf_s() -> None:
    import http_sf

    from agentmesh.httpsig import _serialize_inner_list

    for text, is_fast in (
        ('am=("@method" "content-digest");created=1;keyid="a\\\\b\\"c";alg="ed25519";f;o=?0', True),
        ('x=();created=-5;expires=999999999999999;nonce=" sp ace ";tag=""', True),
        ('y=("a" "b");dec=1.50;created=1', False),  # a Decimal: left to http-sf
        ("z=();tok=abc;created=1", False),  # a Token: left to http-sf
        ('w=();bytes=:AAAA:;created=1;d=@12;ds=%"h%c3%a9"', False),
    ):
        parsed: Any = http_sf.parse(text.encode(), tltype="dictionary")
        [(items, params)] = parsed.values()
        names = [n for n, _ in items]
        fast = _serialize_inner_list(names, params)
        assert (fast is not None) == is_fast, text
        assert fast is None or fast == http_sf.ser([(items, params)]), text
    t = RequestTarget.new("GET", "h", "/")
    # The base rebuilt for another target equals a fresh parse against it.
    s = httpsig.sign_request(CALLER, "am", t, b"", Params.agentmesh(CALLER, 1, NONCE))
    h = {
        "signature-input": s.input_member(),
        "signature": s.signature_member(),
        "content-digest": httpsig.content_digest(b""),
    }
    other = RequestTarget.new("GET", "did:key:z6MkX", "/y?z")
    assert httpsig.parse(h.get, t.value).base_for(other.value) == (
        httpsig.parse(h.get, other.value).base
    )
