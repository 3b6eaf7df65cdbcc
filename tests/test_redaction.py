"""No secret reaches any output: terminal, JSON, JUnit, annotations, artifacts, baseline.

The target here is a hostile echo server: it sends every credential it receives back in
response headers, in JSON bodies and inside streamed events, so the redaction of every sink
(and of the raw bytes kept as artifacts) is exercised by real requests over a real socket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TOKEN = "sk-known-TOKEN-7f3c9a"
COOKIE = "cookie-SECRET-5521"
API_KEY = "hdr-SECRET-9911"
CMD_TOKEN = "sk-from-COMMAND-4242"
SECRETS = (TOKEN, COOKIE, API_KEY, CMD_TOKEN)


class Echo(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(size)
        try:
            kind = json.loads(raw).get("type", "")
        except (ValueError, AttributeError):
            kind = ""
        echoed = {
            "authorization": self.headers.get("Authorization", ""),
            "cookie": self.headers.get("Cookie", ""),
            "key": self.headers.get("X-Api-Key", ""),
        }
        if kind.startswith("threads.") and kind not in ("threads.list", "threads.get_by_id"):
            self._stream(echoed)
        else:
            self._json({"echo": echoed, "data": [], "has_more": False})

    def _stream(self, echoed: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("X-Echo-Authorization", echoed["authorization"])
        self.send_header("Set-Cookie", echoed["cookie"])
        self.end_headers()
        events = [
            {"type": "thread.created", "thread": {"id": "thr_1", "title": echoed["key"]}},
            {"type": "echo", **echoed},
            {
                "type": "thread.item.done",
                "item": {
                    "id": "msg_1",
                    "thread_id": "thr_1",
                    "type": "assistant_message",
                    "content": [{"type": "output_text", "text": f"you sent {echoed}"}],
                },
            },
        ]
        for event in events:
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()

    def _json(self, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Echo", json.dumps(data))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/chatkit"
    server.shutdown()
    server.server_close()


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(cwd / "step-summary.md"),
        "COLUMNS": "120",
    }
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# Everything but the browser (needs a page) and latency (timing, not content) checks.
SELECTION = ["--exclude", "browser.*", "--exclude", "proxy.*", "--exclude", "latency.*"]


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [s for s in SECRETS if s.encode() in data]


def assert_nothing_leaks(proc: subprocess.CompletedProcess[str], folder: Path) -> int:
    assert leaks(proc.stdout) == [], "secret in stdout"
    assert leaks(proc.stderr) == [], "secret in stderr"
    files = [p for p in folder.rglob("*") if p.is_file()]
    for path in files:
        assert leaks(path.read_bytes()) == [], f"secret in {path.relative_to(folder)}"
    return len(files)


def test_plain_run_redacts_every_sink(echo_url: str, tmp_path: Path) -> None:
    """A run with a known token, cookie and API key writes none of them anywhere."""
    proc = run_cli(
        [
            "run",
            "--url",
            echo_url,
            "--token",
            TOKEN,
            "--cookie",
            f"sid={COOKIE}",
            "-H",
            f"X-Api-Key: {API_KEY}",
            "--timeout",
            "10",
            *SELECTION,
            "--plain",
            "--json",
            "out/report.json",
            "--junit",
            "out/report.xml",
            "--artifacts",
            "out/artifacts",
            "--write-baseline",
            "out/baseline.toml",
        ],
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    # The echo server really did send the secrets back: the harness saw and hid them.
    assert "***" in proc.stdout and "::error" in proc.stdout
    assert "| check | level | outcome | fix |" in (tmp_path / "step-summary.md").read_text()
    body = (tmp_path / "out/artifacts/exchanges").glob("*.body")
    assert any(b"sk-known-" not in p.read_bytes() and b"*****" in p.read_bytes() for p in body)
    assert assert_nothing_leaks(proc, tmp_path) > 10
    doc = json.loads((tmp_path / "out/report.json").read_text())
    assert {c["outcome"] for c in doc["checks"]} >= {"fail"}


def test_rich_diagnose_with_a_token_command_redacts_the_learned_token(
    echo_url: str, tmp_path: Path
) -> None:
    """A token only known from --token-command is learned from the requests and hidden."""
    proc = run_cli(
        [
            "diagnose",
            "--url",
            echo_url,
            "--token-command",
            f"echo {CMD_TOKEN}",
            "--timeout",
            "10",
            *SELECTION,
            "--rich",
            "--artifacts",
            "diag",
            "--json",
            "diag.json",
        ],
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Diagnosis, most likely root cause first:" in proc.stdout
    assert_nothing_leaks(proc, tmp_path)
