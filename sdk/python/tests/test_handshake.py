"""The handshake: each refusal has the node's code, in the node's order; replays, the bounded
nonce cache, header forms, garbage headers, and signed responses."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.datastructures import Headers

from agentmesh import (
    HandshakeError,
    Identity,
    NonceCache,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from agentmesh.encoding import b64url
from agentmesh.handshake import HeadersLike, default_nonce_cache

NOW = 1_800_000_000


def code_of(fn: Callable[[], object]) -> str:
    with pytest.raises(HandshakeError) as e:
        fn()
    assert e.value.status == 401
    assert e.value.message
    return e.value.code


@pytest.fixture
def pair() -> tuple[Identity, Identity]:
    return Identity.generate(), Identity.generate()


def test_each_refusal_has_its_code(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    cache = NonceCache(1000)

    def verify(
        h: dict[str, str], path: str = "/x", body: bytes = b"", at: int = NOW, method: str = "GET"
    ) -> str:
        return verify_request(method, path, h, body, me.agent_id, nonce_cache=cache, now=at)

    ok = sign_request(caller, "GET", "/x", me.agent_id, b"", timestamp=NOW)
    assert verify(ok) == caller.agent_id
    assert code_of(lambda: verify(ok)) == "replayed_nonce"
    fresh = sign_request(caller, "GET", "/x", me.agent_id, b"", timestamp=NOW)
    assert code_of(lambda: verify(fresh, path="/y")) == "bad_signature"  # the path is signed
    assert code_of(lambda: verify(fresh, path="/x?a=1")) == "bad_signature"  # so is the query
    assert code_of(lambda: verify(fresh, body=b"tampered")) == "bad_signature"
    assert code_of(lambda: verify(fresh, method="POST")) == "bad_signature"
    assert code_of(lambda: verify(fresh, at=NOW + 61)) == "stale_timestamp"
    assert code_of(lambda: verify(fresh, at=NOW - 61)) == "stale_timestamp"
    other = sign_request(caller, "GET", "/x", Identity.generate().agent_id, b"", timestamp=NOW)
    assert code_of(lambda: verify(other)) == "wrong_target"
    for name in list(fresh):
        missing = {k: v for k, v in fresh.items() if k != name}
        assert code_of(lambda: verify(missing)) == "missing_header", name
    # A refused request does not burn its nonce.
    assert verify(fresh) == caller.agent_id
    # Another caller may use the same nonce value: the cache is per caller.
    c2 = Identity.generate()
    same = sign_request(
        c2, "GET", "/x", me.agent_id, b"", timestamp=NOW, nonce=fresh["X-Agent-Nonce"]
    )
    assert verify(same) == c2.agent_id
    # The window is ±60 s inclusive.
    edge = sign_request(caller, "GET", "/x", me.agent_id, b"", timestamp=NOW - 60)
    assert verify(edge) == caller.agent_id


def test_checks_run_in_the_nodes_order(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    h = sign_request(caller, "GET", "/", Identity.generate().agent_id, b"", timestamp=NOW - 500)
    # Wrong target is reported before the stale timestamp, a bad caller ID before both.
    assert (
        code_of(lambda: verify_request("GET", "/", h, b"", me, nonce_cache=NonceCache(), now=NOW))
        == "wrong_target"
    )
    h["X-Agent-ID"] = "did:key:zBogus"
    assert (
        code_of(lambda: verify_request("GET", "/", h, b"", me, nonce_cache=NonceCache(), now=NOW))
        == "bad_signature"
    )


def test_clock_skew_is_configurable(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    h = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW - 10)
    assert (
        code_of(
            lambda: verify_request(
                "GET", "/", h, b"", me, nonce_cache=NonceCache(), clock_skew=5, now=NOW
            )
        )
        == "stale_timestamp"
    )
    assert (
        verify_request("GET", "/", h, b"", me, nonce_cache=NonceCache(), clock_skew=10, now=NOW)
        == caller.agent_id
    )


def test_a_full_cache_refuses_old_timestamps_instead_of_forgetting(
    pair: tuple[Identity, Identity],
) -> None:
    caller, me = pair
    cache = NonceCache(3)
    reqs = [
        sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW - 10 + i) for i in range(4)
    ]
    for r in reqs:
        verify_request("GET", "/", r, b"", me, nonce_cache=cache, now=NOW)
    assert len(cache) == 3
    assert cache.floor == NOW - 10
    # reqs[0] was evicted; replaying it still fails.
    assert (
        code_of(lambda: verify_request("GET", "/", reqs[0], b"", me, nonce_cache=cache, now=NOW))
        == "stale_timestamp"
    )
    assert (
        code_of(lambda: verify_request("GET", "/", reqs[3], b"", me, nonce_cache=cache, now=NOW))
        == "replayed_nonce"
    )


def test_the_cache_forgets_what_the_window_refuses_anyway(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    cache = NonceCache(100)
    for i in range(5):
        r = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW + i)
        verify_request("GET", "/", r, b"", me, nonce_cache=cache, now=NOW + i)
    assert len(cache) == 5
    later = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW + 200)
    verify_request("GET", "/", later, b"", me, nonce_cache=cache, now=NOW + 200)
    assert len(cache) == 1
    with pytest.raises(ValueError):
        NonceCache(0)


def test_refuse_until(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    cache = NonceCache()
    cache.refuse_until(NOW)
    h = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW)
    assert (
        code_of(lambda: verify_request("GET", "/", h, b"", me, nonce_cache=cache, now=NOW))
        == "stale_timestamp"
    )
    h = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW + 1)
    assert verify_request("GET", "/", h, b"", me, nonce_cache=cache, now=NOW + 1) == caller.agent_id


def test_the_default_cache_is_per_process(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    h = sign_request(caller, "POST", "/", me.agent_id, "{}")
    assert verify_request("POST", "/", h, b"{}", me) == caller.agent_id  # a str body is UTF-8
    assert code_of(lambda: verify_request("POST", "/", h, "{}", me)) == "replayed_nonce"
    assert len(default_nonce_cache()) >= 1


def test_header_forms(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    forms: list[Callable[[dict[str, str]], HeadersLike]] = [
        lambda h: h,
        lambda h: {k.lower(): v for k, v in h.items()},
        lambda h: {k.upper(): v for k, v in h.items()},
        lambda h: [(k.lower().encode(), v.encode()) for k, v in h.items()],  # an ASGI scope's
        lambda h: list(h.items()),
        lambda h: httpx.Headers(h),
        lambda h: Headers(headers=h),
    ]
    for form in forms:
        h = sign_request(caller, "PUT", "/a%2Fb?x=%20", me.agent_id, b"\x00\xff")
        got = verify_request(
            "PUT", "/a%2Fb?x=%20", form(h), b"\x00\xff", me, nonce_cache=NonceCache()
        )
        assert got == caller.agent_id


def test_a_header_given_twice_is_a_bad_signature(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    h = sign_request(caller, "GET", "/", me.agent_id, b"")
    twice = list(h.items()) + [("x-agent-id", h["X-Agent-ID"])]
    assert (
        code_of(lambda: verify_request("GET", "/", twice, b"", me, nonce_cache=NonceCache()))
        == "bad_signature"
    )
    multi = httpx.Headers(twice)
    assert (
        code_of(lambda: verify_request("GET", "/", multi, b"", me, nonce_cache=NonceCache()))
        == "bad_signature"
    )
    both_cases = dict(h, **{"x-agent-nonce": h["X-Agent-Nonce"]})
    assert (
        code_of(lambda: verify_request("GET", "/", both_cases, b"", me, nonce_cache=NonceCache()))
        == "bad_signature"
    )


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        ("X-Agent-ID", "garbage", "bad_signature"),
        ("X-Agent-ID", "did:key:z6Mk" + "x" * 5000, "bad_signature"),
        ("X-Agent-Timestamp", "soon", "stale_timestamp"),
        ("X-Agent-Timestamp", "1_800_000_000", "stale_timestamp"),
        ("X-Agent-Timestamp", "١٨٠٠٠٠٠٠٠٠", "missing_header"),  # not ASCII: unreadable
        ("X-Agent-Timestamp", " 1800000000", "stale_timestamp"),
        ("X-Agent-Timestamp", "9" * 40, "stale_timestamp"),
        ("X-Agent-Timestamp", "-9223372036854775809", "stale_timestamp"),
        ("X-Agent-Nonce", b64url(bytes(15)), "missing_header"),
        ("X-Agent-Nonce", b64url(bytes(16)) + "=", "missing_header"),
        ("X-Agent-Nonce", "!!!!!!!!!!!!!!!!!!!!!!!!", "missing_header"),
        ("X-Agent-Signature", "not base64", "bad_signature"),
        ("X-Agent-Signature", b64url(bytes(63)), "bad_signature"),
        ("X-Agent-Signature", b64url(bytes(64)), "bad_signature"),
        ("X-Agent-Signature", "", "bad_signature"),
    ],
)
def test_garbage_headers_are_refused_never_crash(
    pair: tuple[Identity, Identity], header: str, value: str, code: str
) -> None:
    caller, me = pair
    h = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW)
    h[header] = value
    assert (
        code_of(lambda: verify_request("GET", "/", h, b"", me, nonce_cache=NonceCache(), now=NOW))
        == code
    )


def test_unreadable_header_bytes_are_missing_headers(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    h = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW)
    raw = [(k.lower().encode(), v.encode()) for k, v in h.items()]
    for i in range(len(raw)):
        bad = list(raw)
        bad[i] = (bad[i][0], b"\xff\xfe\x00")
        assert code_of(
            lambda: verify_request("GET", "/", bad, b"", me, nonce_cache=NonceCache(), now=NOW)
        ) in ("missing_header",)


def test_the_timestamp_header_is_the_very_text_signed(pair: tuple[Identity, Identity]) -> None:
    # Canonical decimal only, as the node reads it: "+T", "0T", "T.0" are refused even though
    # they spell the signed number, and so is anything negative.
    caller, me = pair
    for spelling in (f"+{NOW}", f"0{NOW}", f"{NOW}.0", f"{NOW} ", "-0", "-1", "1e9", ""):
        h = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW)
        h["X-Agent-Timestamp"] = spelling
        got = code_of(
            lambda: verify_request("GET", "/", h, b"", me, nonce_cache=NonceCache(), now=NOW)
        )
        assert got == "stale_timestamp", spelling
        res = sign_response(me, 200, "n" * 22, b"", timestamp=NOW)
        res["X-Agent-Timestamp"] = spelling
        assert code_of(lambda: verify_response(me.agent_id, 200, "n" * 22, res, b"")) == (
            "stale_timestamp"
        ), spelling
    # "0" is canonical (and outside the window).
    h = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=0)
    assert code_of(
        lambda: verify_request("GET", "/", h, b"", me, nonce_cache=NonceCache(), now=NOW)
    ) == ("stale_timestamp")
    verify_response(me.agent_id, 200, "n", sign_response(me, 200, "n", b"", timestamp=0), b"")


def test_responses_verify_only_for_their_request_and_body(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    req = sign_request(caller, "GET", "/", me.agent_id, b"", timestamp=NOW)
    nonce = req["X-Agent-Nonce"]
    res = sign_response(me, 200, nonce, b"ok", timestamp=NOW + 1)
    verify_response(me.agent_id, 200, nonce, res, b"ok")
    verify_response(me.agent_id, 200, nonce, httpx.Headers(res), "ok")
    assert (
        code_of(lambda: verify_response(me.agent_id, 200, nonce, res, b"forged")) == "bad_signature"
    )
    assert code_of(lambda: verify_response(me.agent_id, 500, nonce, res, b"ok")) == "bad_signature"
    assert (
        code_of(lambda: verify_response(me.agent_id, 200, "other-nonce", res, b"ok"))
        == "bad_signature"
    )
    assert (
        code_of(lambda: verify_response(caller.agent_id, 200, nonce, res, b"ok")) == "wrong_target"
    )
    assert code_of(lambda: verify_response(me.agent_id, 200, nonce, {}, b"ok")) == "missing_header"
    assert (
        code_of(
            lambda: verify_response(
                me.agent_id, 200, nonce, dict(res, **{"X-Agent-Timestamp": "x"}), b"ok"
            )
        )
        == "stale_timestamp"
    )
    assert (
        code_of(
            lambda: verify_response(
                me.agent_id, 200, nonce, dict(res, **{"X-Agent-Signature": "x"}), b"ok"
            )
        )
        == "bad_signature"
    )
    # Old answers still verify: a response's timestamp is not held to a window.
    old = sign_response(me, 200, nonce, b"ok", timestamp=1)
    verify_response(me.agent_id, 200, nonce, old, b"ok")


def test_an_empty_query_is_no_query(pair: tuple[Identity, Identity]) -> None:
    caller, me = pair
    for signed_path, seen_path in (("/x?", "/x"), ("/x", "/x?")):
        headers = sign_request(caller, "GET", signed_path, me.agent_id, b"", timestamp=NOW)
        got = verify_request("GET", seen_path, headers, b"", me, nonce_cache=NonceCache(), now=NOW)
        assert got == caller.agent_id
