"""The web dashboard's figures (issue: page weight <= 200 KB, first render <= 300 ms on loopback,
the node's CPU with ten open dashboards <= 1 % of a core when idle).

    cargo build --release
    .ci/ui-test                      # once: installs Chromium and Playwright into .ci/venv-ui
    .ci/venv-ui/bin/python benches/dashboard.py [--bin target/release/agentmesh] [--idle 60]

One node on 127.0.0.1 with 20 agents and a few calls. Page weight is every byte the browser
received for a first visit (the three files and the API answers the first view reads). First
render is the time from navigation start to the first view's content on the page (the
`first-render` performance mark), over 20 fresh pages. CPU is the node process's user + system
time (from /proc) over --idle seconds: with no dashboard open, then with ten open on the
network view (which refreshes every 5 s and holds the live event stream)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "agentmesh"))
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="agentmesh-dash-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = subprocess.Popen([a.bin, "serve", "--listen", f"127.0.0.1:{port}"],
                            env={**os.environ, "AGENTMESH_HOME": str(home / "node")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "AGENTMESH_HOME": str(home / "user")}
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        for i in range(20):
            subprocess.run([a.bin, "keygen", "--name", f"a{i}"], env=env, check=True, capture_output=True)
            subprocess.run([a.bin, "--node", url, "--key", f"a{i}", "register", "--name", f"agent-{i}",
                            "--description", f"Agent number {i} does task {i}", "--tag", f"t{i % 4}",
                            "--endpoint", f"http://127.0.0.1:{free_port()}"],
                           env=env, check=True, capture_output=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=a.chromium, headless=True, args=ARGS)
            # Page weight of a first visit.
            page = browser.new_page()
            received: list[int] = []
            page.on("response", lambda r: received.append(len(r.body()) if r.request.resource_type != "eventsource" else 0))
            page.goto(f"{url}/ui/")
            page.wait_for_selector("#graph")
            page.wait_for_timeout(500)
            files = sum(len(urllib.request.urlopen(f"{url}/ui/{f}").read()) for f in ("", "app.js", "app.css"))
            weight = sum(received)
            page.close()
            # First render, 20 fresh pages.
            renders = []
            for _ in range(20):
                p = browser.new_page()
                p.goto(f"{url}/ui/")
                # Polled with evaluate: wait_for_function evaluates a string, which the page's
                # Content-Security-Policy forbids.
                mark = "() => (performance.getEntriesByName('first-render')[0] || {}).startTime"
                deadline = time.monotonic() + 10
                while (t := p.evaluate(mark)) is None:
                    assert time.monotonic() < deadline, "the first view never rendered"
                    time.sleep(0.01)
                renders.append(t)
                p.close()
            # CPU, idle: none open, then ten open.
            time.sleep(2)
            c0 = cpu_seconds(node.pid)
            time.sleep(a.idle)
            none_open = (cpu_seconds(node.pid) - c0) / a.idle
            pages = [browser.new_page() for _ in range(10)]
            for p in pages:
                p.goto(f"{url}/ui/")
                p.wait_for_selector("#graph")
            time.sleep(5)
            c0 = cpu_seconds(node.pid)
            time.sleep(a.idle)
            ten_open = (cpu_seconds(node.pid) - c0) / a.idle
            browser.close()
        result = {
            "dashboard_files_bytes": files,
            "first_visit_bytes": weight,
            "first_render_ms_p50": round(statistics.median(renders), 1),
            "first_render_ms_max": round(max(renders), 1),
            "idle_cpu_pct_no_dashboard": round(100 * none_open, 3),
            "idle_cpu_pct_ten_dashboards": round(100 * ten_open, 3),
            "idle_seconds": a.idle,
        }
        print(json.dumps(result, indent=2))
    finally:
        node.terminate()
        node.wait(timeout=10)


if __name__ == "__main__":
    main()
