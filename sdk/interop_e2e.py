"""The two SDKs against each other through a real node: a FastAPI agent (Python SDK middleware)
and an Express agent (TypeScript SDK middleware) register; each SDK's caller discovers the other
language's agent and invokes it through the gateway, then through a relay tunnel held by
`agentmesh connect`; every call is verified by the agent's middleware and every answer by the
caller. Run by .ci/run after both SDKs' own CI (it needs sdk/typescript/dist and the Python
SDK's venv): `.ci/venv-sdk-py/bin/python sdk/interop_e2e.py`. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from agentmesh import Identity, NodeClient

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("AGENTMESH_BIN", str(ROOT / "target/debug/agentmesh"))
TS = ROOT / "sdk/typescript"
PY = ROOT / "sdk/python"
DEADLINE_S = 30.0


class Proc:
    """A child process whose output lines are read on a thread (so waiting has a deadline)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.p = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, test: str) -> str:
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if test in line:
                return line
        raise SystemExit(f"no line with {test!r} in time from {self.p.args!r}: {self.seen}")

    def stop(self) -> None:
        self.p.kill()
        self.p.wait()


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMESH_")}
    env.update(AGENTMESH_HOME=str(home), AGENTMESH_KEYSTORE="file", NO_COLOR="1", **extra)
    return env


def ts_invoke(home: Path, node: str, agent_id: str) -> dict[str, object]:
    """The TypeScript SDK's caller: invoke `agent_id` through `node`, report what it saw."""
    script = f"""
import {{ Identity, NodeClient }} from {json.dumps(str(TS / "dist/src/index.js"))};
const me = await Identity.loadOrCreate('ts-caller', {json.dumps(str(home))});
const node = new NodeClient({json.dumps(node)}, me);
const found = (await node.discover({{ q: 'weather forecast', limit: 20 }})).results;
if (!found.some((h) => h.agent_id === {json.dumps(agent_id)})) throw new Error('not discovered');
const res = await node.invoke({json.dumps(agent_id)}, {{ path: '/forecast', json: {{ city: 'Oslo' }} }});
console.log(JSON.stringify({{ status: res.status, verified: res.verified, body: res.json(), me: me.agentId }}));
"""
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    if out.returncode != 0:
        raise SystemExit(f"TypeScript caller failed: {out.stderr}")
    answer: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return answer


PY_CALLER = Identity.generate()


def py_invoke(node: str, agent_id: str) -> dict[str, object]:
    """The Python SDK's caller: invoke `agent_id` through `node`."""
    me = PY_CALLER
    with NodeClient(node, me) as client:
        found = client.discover("weather forecast", limit=20)
        if not any(h.agent_id == agent_id for h in found):
            raise SystemExit("the Express agent was not discovered")
        res = client.invoke(agent_id, "/forecast", json={"city": "Lima"})
        return {"status": res.status, "verified": res.verified, "body": res.json(), "me": me.agent_id}


def check(what: str, got: dict[str, object], agent_id: str) -> None:
    body = got["body"]
    ok = (
        got["status"] == 200
        and got["verified"] is True
        and isinstance(body, dict)
        and body.get("caller") == got["me"]
        and body.get("forecast") == "sunny"
    )
    print(f"{'ok ' if ok else 'FAIL'} {what}: {got}", flush=True)
    if not ok:
        raise SystemExit(f"{what} failed (agent {agent_id})")


def main() -> None:
    procs: list[Proc] = []
    with tempfile.TemporaryDirectory() as tmp:
        homes = {k: Path(tmp) / k for k in ("node", "py", "ts", "callers")}
        for h in homes.values():
            h.mkdir()
        try:
            node_p = Proc([BIN, "serve", "--listen", "127.0.0.1:0", "--json"], env_for(homes["node"]))
            procs.append(node_p)
            node = json.loads(node_p.wait_for('"listening"'))["url"]

            subprocess.run([BIN, "keygen"], env=env_for(homes["py"]), check=True, capture_output=True)
            py_agent = Proc(
                [sys.executable, str(PY / "examples/agent.py")],
                env_for(homes["py"], PORT="0", AGENTMESH_NODE=node),
            )
            procs.append(py_agent)
            line = py_agent.wait_for("agent did:key:")
            py_id, py_url = line.split()[1], line.split()[-1]

            ts_agent = Proc(
                ["node", str(TS / "dist/examples/agent.js")],
                env_for(homes["ts"], PORT="0", AGENTMESH_NODE=node),
            )
            procs.append(ts_agent)
            line = ts_agent.wait_for("agent did:key:")
            ts_id, ts_url = line.split()[1], line.split()[-1]

            # Through the gateway: each language calls the other's agent.
            check("TypeScript → FastAPI agent via the gateway", ts_invoke(homes["callers"], node, py_id), py_id)
            check("Python → Express agent via the gateway", py_invoke(node, ts_id), ts_id)

            # Through relay tunnels: `connect --register` edits each card to relay://<id>.
            for home, url, key in ((homes["py"], py_url, "default"), (homes["ts"], ts_url, "weather")):
                c = Proc(
                    [BIN, "--node", node, "--key", key, "connect", "--forward", url, "--register"],
                    env_for(home),
                )
                procs.append(c)
                c.wait_for("ready via")
            with NodeClient(node) as n:
                for agent in (py_id, ts_id):
                    endpoint = n.get(agent).manifest["endpoint"]
                    if endpoint != f"relay://{agent}":
                        raise SystemExit(f"{agent} is not behind the relay: {endpoint}")
            check("TypeScript → FastAPI agent via a relay tunnel", ts_invoke(homes["callers"], node, py_id), py_id)
            check("Python → Express agent via a relay tunnel", py_invoke(node, ts_id), ts_id)
        finally:
            for p in reversed(procs):
                p.stop()
    print("interop e2e: 4 of 4 calls verified both ways")


if __name__ == "__main__":
    main()
