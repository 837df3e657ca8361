"""The node's web dashboard in a real browser: Debian's Chromium, headless, driven by Playwright
for Python with that system browser (nothing downloaded). Three `agentmesh serve` nodes on
127.0.0.1 form a federation; three agents are registered, one at each node, and called through
the first node's gateway. The dashboard of the first node must show the three nodes in its
graph, list the agents, find the right one by a paraphrased search, show an agent's trust, take
new events from the live stream, and log no console error. A screenshot of each view is saved
under target/ui/.

Run by .ci/ui-test (which installs what it needs); AGENTMESH_BIN names the binary."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("AGENTMESH_BIN", str(ROOT / "target" / "debug" / "agentmesh"))
CHROMIUM = os.environ.get("AGENTMESH_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "target" / "ui"
# The flags this machine's closed network needs (no background fetches to Google's hosts).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def eventually(what: str, check, within: float = 30.0):
    deadline = time.monotonic() + within
    while True:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.1)


class Agent(http.server.BaseHTTPRequestHandler):
    """A local agent: answers every call 200."""

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def mesh():
    home = Path(tempfile.mkdtemp(prefix="agentmesh-ui-"))
    agent = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Agent)
    threading.Thread(target=agent.serve_forever, daemon=True).start()
    agent_url = f"http://127.0.0.1:{agent.server_address[1]}"
    procs: list[subprocess.Popen] = []
    urls: list[str] = []
    env = {**os.environ, "AGENTMESH_HOME": str(home / "user"), "NO_COLOR": "1"}

    def cli(*args: str) -> str:
        out = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"{args}: {out.stderr}"
        return out.stdout

    try:
        for i in range(3):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            args = [BIN, "serve", "--listen", f"127.0.0.1:{port}", "--public-url", url]
            if urls:
                args += ["--seed", urls[0]]
            node_env = {**os.environ, "AGENTMESH_HOME": str(home / f"node{i}")}
            log = open(home / f"node{i}.log", "w")
            procs.append(subprocess.Popen(args, env=node_env, stdout=log, stderr=log))
            eventually(f"node {i} answers", lambda u=url: get_json(f"{u}/healthz"))
            urls.append(url)
        agents = [
            ("weather", "Weather forecasts for any city, hourly and daily", "weather"),
            ("translator", "Translates documents and text between forty languages", "language"),
            ("mail-drafter", "Drafts polite emails and replies for you", "email"),
        ]
        ids = {}
        for (name, description, tag), node in zip(agents, urls):
            cli("keygen", "--name", name)
            cli("--node", node, "--key", name, "register", "--name", name, "--description",
                description, "--tag", tag, "--endpoint", agent_url)
            ids[name] = cli("keygen", "--name", name, "--show").strip()
        eventually("the first node holds all three agents and knows both peers",
                   lambda: (lambda i: i["agents"] == 3 and i["peers"] == 2)(get_json(f"{urls[0]}/v1/node")))
        for _ in range(3):
            cli("--node", urls[0], "--key", "translator", "invoke", ids["weather"], "--data", "{}")
        yield {"urls": urls, "ids": ids, "cli": cli}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        agent.shutdown()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_dashboard(browser, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(f"{url}/ui/")
    return page, problems


def test_the_dashboard_shows_the_network_agents_and_trust(mesh, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page, problems = open_dashboard(browser, mesh["urls"][0])
    ids = mesh["ids"]

    # The network: this node and its two peers.
    expect(page.locator("#graph .node")).to_have_count(3)
    expect(page.locator("#graph .node.self")).to_have_count(1)
    expect(page.locator("#peers tbody tr")).to_have_count(2)
    expect(page.locator("#live")).to_have_class("live on")
    page.screenshot(path=str(SHOTS / "network.png"), full_page=True)

    # The agents, all three, with trust bars.
    page.click("nav a[data-view=agents]")
    rows = page.locator("#agents tbody tr")
    expect(rows).to_have_count(3)
    for name in ("weather", "translator", "mail-drafter"):
        expect(page.locator("#agents tbody")).to_contain_text(name)
    expect(page.locator("#agents .bar").first).to_be_visible()

    # A search by meaning puts the right agent first.
    page.fill("#search", "put this letter into Spanish")
    expect(rows.first).to_have_attribute("data-agent", ids["translator"], timeout=10_000)
    page.screenshot(path=str(SHOTS / "agents.png"), full_page=True)

    # An agent's page: its trust, raised by the three successful calls, and its history.
    page.fill("#search", "")
    expect(rows).to_have_count(3)
    page.click(f"#agents a.agent-link[data-agent='{ids['weather']}']")
    score = page.locator("#trust-score")
    expect(score).to_be_visible()
    assert float(score.inner_text()) > 0.5, score.inner_text()
    expect(page.locator("#trust")).to_contain_text("success")
    expect(page.locator("#trust-history")).to_be_visible()
    page.screenshot(path=str(SHOTS / "agent.png"), full_page=True)

    # Trust relations: the agent it trusts most.
    page.click("nav a[data-view=trust]")
    expect(page.locator("#trust-high tbody tr").first).to_contain_text("weather")

    # Events: a call made now arrives on the live stream, without a reload.
    page.click("nav a[data-view=events]")
    expect(page.locator("#events")).to_be_visible()
    calls = page.locator("#events tbody tr", has_text="invoke")
    before = calls.count()
    mesh["cli"]("--node", mesh["urls"][0], "--key", "translator", "invoke", ids["weather"], "--data", "{}")
    expect(calls).to_have_count(before + 1, timeout=10_000)
    page.screenshot(path=str(SHOTS / "events.png"), full_page=True)

    assert problems == [], problems
    page.close()


def test_the_dashboard_is_locked_down(mesh):
    url = mesh["urls"][1]
    with urllib.request.urlopen(f"{url}/ui/", timeout=5) as r:
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    # Read-only: the dashboard's paths take no writes.
    req = urllib.request.Request(f"{url}/ui/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
