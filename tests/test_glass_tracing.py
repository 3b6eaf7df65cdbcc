"""A target the harness starts on the model stub never exports traces to OpenAI.

The Agents SDK sends every run's trace (prompts included) to api.openai.com unless
OPENAI_AGENTS_DISABLE_TRACING is set; glass-box runs are meant to stay on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from harness.glass.box import GlassBox

# A stand-in backend: writes its environment to a file, then answers every POST with a 500.
ENV_DUMPER = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, out = int(sys.argv[1]), sys.argv[2]
from agents.tracing import get_trace_provider  # what the SDK itself decides

provider = get_trace_provider()
provider._refresh_disabled_flag()
env = {k: v for k, v in os.environ.items() if k.startswith("OPENAI")}
with open(out, "w") as fh:
    json.dump({"env": env, "tracing_disabled": provider._disabled}, fh)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_stub_env_turns_agents_tracing_off() -> None:
    env = GlassBox("http://127.0.0.1:9/v1").env()
    assert env["OPENAI_AGENTS_DISABLE_TRACING"] == "1"


def test_target_started_on_the_stub_has_tracing_disabled(tmp_path: Path) -> None:
    script = tmp_path / "backend.py"
    script.write_text(ENV_DUMPER)
    out = tmp_path / "env.json"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_AGENTS_DISABLE_TRACING"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--model-stub",
            "--start",
            f"{sys.executable} {script} {port} {out}",
            "--url",
            f"http://127.0.0.1:{port}/chatkit",
            "--select",
            "protocol.create-order",
            "--plain",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.is_file(), proc.stdout + proc.stderr
    seen = json.loads(out.read_text())
    assert seen["env"]["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
    assert seen["env"]["OPENAI_AGENTS_DISABLE_TRACING"] == "1"
    assert seen["tracing_disabled"] is True
