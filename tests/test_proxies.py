"""Real proxies: Debian's nginx in front of the reference server, buffering and correct.

sse.unbuffered must fail through nginx's default proxy buffering, with the arrival times as
evidence and the nginx fix, and pass through the streaming configuration; sse.edge-vs-origin
names the proxy as the cause by comparing with the origin.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.auth.issuer import TestIssuer
from harness.target.launch import Launched, start_reference_server

ROOT = Path(__file__).resolve().parent.parent
PROXIES = ROOT / "fixtures" / "proxies"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        NGINX is None, reason="nginx is not installed (apt-get install nginx-light)"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_nginx(conf: str, upstream: int, prefix: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    text = (PROXIES / conf).read_text()
    user = "user root;" if os.geteuid() == 0 else ""
    text = (
        text.replace("{{PREFIX}}", str(prefix))
        .replace("{{PORT}}", str(port))
        .replace("{{UPSTREAM}}", str(upstream))
        .replace("{{USER}}", user)
    )
    path = prefix / "nginx.conf"
    path.write_text(text)
    assert NGINX is not None
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("nginx did not start listening")


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    iss = TestIssuer()
    iss.start()
    yield iss
    iss.stop()


@pytest.fixture(scope="module")
def origin(issuer: TestIssuer) -> Iterator[Launched]:
    # The SDK's canonical wiring sends no X-Accel-Buffering: what most deployments run.
    args = ["--db", ":memory:", "--jwks-url", issuer.jwks_url, "--issuer", issuer.issuer]
    args += ["--audience", issuer.audience, "--fault", "no-cache-headers"]
    launched = start_reference_server(args)
    yield launched
    launched.stop()


def _port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _run_through(
    conf: str, origin: Launched, issuer: TestIssuer, tmp_path: Path
) -> dict[str, dict[str, str]]:
    proc, port = _start_nginx(conf, _port(origin.url), tmp_path / "nginx")
    try:
        out = tmp_path / "report.json"
        cmd = [sys.executable, "-m", "harness.cli", "run", "--plain", "--json", str(out)]
        cmd += ["--url", f"http://127.0.0.1:{port}/chatkit", "--origin-url", origin.url]
        cmd += ["--token", issuer.mint("alice"), "--select", "sse.unbuffered"]
        cmd += ["--select", "sse.edge-vs-origin", "--html", str(tmp_path / "report.html")]
        subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        data = json.loads(out.read_text())
        return {c["id"]: c for c in data["checks"]}
    finally:
        proc.terminate()
        proc.wait(10)


def test_default_nginx_buffering_fails_unbuffered(
    origin: Launched, issuer: TestIssuer, tmp_path: Path
) -> None:
    checks = _run_through("nginx-buffered.conf", origin, issuer, tmp_path)
    unbuffered = checks["sse.unbuffered"]
    assert unbuffered["outcome"] == "fail"
    assert "bursts" in unbuffered["actual"]
    assert "delta   1: +" in unbuffered["evidence"]  # the arrival times
    assert "proxy_buffering off" in unbuffered["fix"]
    edge = checks["sse.edge-vs-origin"]
    assert edge["outcome"] == "fail"
    assert "buffers" in edge["message"]
    # The HTML report draws the edge's stream over the origin's, in the check's card.
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    card = html.split('id="check-sse.edge-vs-origin"', 1)[1].split('<details class="check', 1)[0]
    assert "against origin (#" in card and "<svg" in card
    assert "edge: event 1:" in card and "origin: event 1:" in card


def test_streaming_nginx_passes(origin: Launched, issuer: TestIssuer, tmp_path: Path) -> None:
    checks = _run_through("nginx-streaming.conf", origin, issuer, tmp_path)
    assert checks["sse.unbuffered"]["outcome"] == "pass"
    assert checks["sse.edge-vs-origin"]["outcome"] == "pass"
