"""Shared fixtures: the test vectors, a private AGENTMESH_HOME, `agentmesh serve` and `connect`
processes on 127.0.0.1, and ASGI apps served by uvicorn on a port-0 socket.

Nothing here sleeps to wait: every wait polls with a deadline. Every child process is killed
when its test ends."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SDK = Path(__file__).resolve().parents[1]
VECTORS_PATH = REPO / "docs" / "test-vectors.json"
DEADLINE_S = 30.0


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """docs/test-vectors.json, the vectors every implementation shares."""
    with open(VECTORS_PATH, encoding="utf-8") as f:
        v: dict[str, Any] = json.load(f)
    return v


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs with its own AGENTMESH_HOME and no other agentmesh settings, so no test
    reads or writes the user's keys."""
    for k in list(os.environ):
        if k.startswith("AGENTMESH_") and k != "AGENTMESH_BIN":
            monkeypatch.delenv(k)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AGENTMESH_HOME", str(home))
    return home


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def agentmesh_bin() -> Path:
    """The node binary: $AGENTMESH_BIN, else the repository's target/debug/agentmesh."""
    path = Path(os.environ.get("AGENTMESH_BIN") or REPO / "target" / "debug" / "agentmesh")
    if not path.is_file():
        if os.environ.get("AGENTMESH_SKIP_E2E") == "1":
            pytest.skip(f"no agentmesh binary at {path} (AGENTMESH_SKIP_E2E=1)")
        pytest.fail(
            f"no agentmesh binary at {path}: build it (cargo build) or set AGENTMESH_BIN "
            "(AGENTMESH_SKIP_E2E=1 skips the tests that need it)"
        )
    return path


def cli_env(home: Path) -> dict[str, str]:
    """The environment of a CLI process: a private home, the file key store, nothing else of
    the caller's agentmesh settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMESH_")}
    env.update(
        AGENTMESH_HOME=str(home),
        AGENTMESH_KEYSTORE="file",
        AGENTMESH_LOG="warn",
        NO_COLOR="1",
    )
    return env


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the CLI to completion (with a timeout)."""
    return subprocess.run(
        [str(agentmesh_bin()), *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )


class Proc:
    """A child process whose stdout and stderr lines are read by threads into queues (so a
    silent or chatty child never blocks a test)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.args = args
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        for stream, q in ((self.popen.stdout, self.stdout), (self.popen.stderr, self.stderr)):
            assert stream is not None
            threading.Thread(target=_drain, args=(stream, q), daemon=True).start()

    def wait_line(self, q: queue.Queue[str], pred: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{what} did not come in {DEADLINE_S} s; seen: {self.seen[-20:]}"
                )
            try:
                line = q.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.popen.poll() is not None and q.empty():
                    raise AssertionError(
                        f"{self.args[0]} exited ({self.popen.returncode}) before {what}; "
                        f"seen: {self.seen[-20:]}"
                    ) from None
                continue
            self.seen.append(line)
            if pred(line):
                return line

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def _drain(stream: IO[str], q: queue.Queue[str]) -> None:
    for line in stream:
        q.put(line.rstrip("\n"))
    stream.close()


@contextmanager
def child(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[Proc]:
    """A child process, killed when the block ends."""
    p = Proc(args, env, cwd)
    try:
        yield p
    finally:
        p.stop()


@dataclass
class Node:
    url: str
    node_id: str
    home: Path
    proc: Proc = field(repr=False)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """`agentmesh serve` on 127.0.0.1 port 0, with its own home."""
    home = tmp_path / "node-home"
    home.mkdir()
    args = [str(agentmesh_bin()), "serve", "--listen", "127.0.0.1:0", "--json"]
    with child(args, cli_env(home)) as p:
        line = p.wait_line(
            p.stdout, lambda s: s.startswith("{") and "listening" in s, "the node's listening line"
        )
        info = json.loads(line)
        assert info["url"].startswith("http://127.0.0.1:")
        yield Node(info["url"], info["node_id"], home, p)


@contextmanager
def connect(node_url: str, home: Path, forward: str, name: str) -> Iterator[Proc]:
    """`agentmesh connect --register`: a relay tunnel for the key `default` of `home`, ready."""
    args = [
        str(agentmesh_bin()),
        "--node",
        node_url,
        "connect",
        "--forward",
        forward,
        "--register",
        "--name",
        name,
    ]
    with child(args, cli_env(home)) as p:
        p.wait_line(p.stderr, lambda s: "ready via" in s, "connect's ready line")
        yield p


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serves an ASGI app with uvicorn on 127.0.0.1 port 0 in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped before it started"
            assert time.monotonic() < deadline, "uvicorn did not start in time"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=DEADLINE_S)
        sock.close()


def python_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a Python child (an example) with a private home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMESH_")}
    env["AGENTMESH_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


PYTHON = sys.executable
