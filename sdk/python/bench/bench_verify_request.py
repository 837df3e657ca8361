"""How long `verify_request` takes per call, in µs: a known caller (its did:key already decoded,
as for any caller seen before), a 1 KiB JSON body, a fresh nonce each call (recorded in the
nonce cache), best of several rounds. Also: a forged signature (refused after the fallback
cofactored check), a caller never seen before (its did:key decoded and checked first), and the
RFC 9421 form (docs/protocol.md §4b), alone and beside the X-Agent-* form (two signatures).

    python bench/bench_verify_request.py [calls-per-round]
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from agentmesh import HandshakeError, Identity, NonceCache, sign_request, verify_request
from agentmesh.identity import public_key_from_agent_id


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = 5
    caller, agent = Identity.generate(), Identity.generate()
    body = json.dumps({"city": "Paris", "pad": "x" * 1000}).encode()
    path = "/forecast?days=2"
    now = int(time.time())

    per_call = []
    for _ in range(rounds):
        signed = [
            sign_request(caller, "POST", path, agent.agent_id, body, timestamp=now)
            for _ in range(n)
        ]
        cache = NonceCache(capacity=2 * n)
        verify_request(
            "POST",
            path,
            sign_request(caller, "POST", path, agent.agent_id, body),
            body,
            agent,
            nonce_cache=cache,
        )
        t0 = time.perf_counter()
        for h in signed:
            verify_request("POST", path, h, body, agent.agent_id, nonce_cache=cache, now=now)
        per_call.append((time.perf_counter() - t0) / n * 1e6)

    forged = []
    for _ in range(rounds):
        signed = [
            sign_request(caller, "POST", path, agent.agent_id, body, timestamp=now)
            for _ in range(n // 5)
        ]
        cache = NonceCache(capacity=2 * n)
        t0 = time.perf_counter()
        for h in signed:
            try:
                verify_request(
                    "POST", path, h, body + b" ", agent.agent_id, nonce_cache=cache, now=now
                )
            except HandshakeError:
                pass
        forged.append((time.perf_counter() - t0) / len(signed) * 1e6)

    fresh = []
    for _ in range(rounds):
        callers = [Identity.generate() for _ in range(n // 5)]
        signed = [
            sign_request(c, "POST", path, agent.agent_id, body, timestamp=now) for c in callers
        ]
        public_key_from_agent_id.cache_clear()
        cache = NonceCache(capacity=2 * n)
        t0 = time.perf_counter()
        for h in signed:
            verify_request("POST", path, h, body, agent.agent_id, nonce_cache=cache, now=now)
        fresh.append((time.perf_counter() - t0) / len(signed) * 1e6)

    url = "http://agent.test" + path
    rfc: dict[str, list[float]] = {"alone": [], "with X-Agent-*": []}
    for _ in range(rounds):
        for kind, times in rfc.items():
            signed = []
            for _ in range(n // 5):
                h = sign_request(caller, "POST", path, agent.agent_id, body, timestamp=now, url=url)
                if kind == "alone":
                    h = {k: v for k, v in h.items() if not k.startswith("X-Agent-")}
                signed.append(dict(h, Host="agent.test"))
            cache = NonceCache(capacity=2 * n)
            t0 = time.perf_counter()
            for h in signed:
                verify_request("POST", path, h, body, agent.agent_id, nonce_cache=cache, now=now)
            times.append((time.perf_counter() - t0) / len(signed) * 1e6)

    print(f"python {sys.version.split()[0]}, {n} calls x {rounds} rounds")
    print(f"verify_request: {min(per_call):.1f} us/call (median {statistics.median(per_call):.1f})")
    print(f"  forged signature (refused): {min(forged):.1f} us/call")
    print(f"  first call of a new caller: {min(fresh):.1f} us/call")
    for kind, times in rfc.items():
        print(f"  RFC 9421 form {kind}: {min(times):.1f} us/call")


if __name__ == "__main__":
    main()
