"""``python -m harness.glass.model_stub`` and ``harness.glass.model_stub.cli.main``."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from harness.glass.model_stub import ModelStub
from harness.glass.model_stub.cli import main
from harness.glass.model_stub.remote import fetch_requests

REPO = Path(__file__).resolve().parents[1]


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "harness.glass.model_stub", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    return lines.get(timeout=timeout)


def test_serves_until_sigterm_and_exits_zero() -> None:
    process = _spawn("--port", "0", "--token-delay", "0.01")
    try:
        line = _first_line(process)
        prefix = "model stub listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/v1\n")
        base_url = line.strip().removeprefix("model stub listening on ")
        port = int(base_url.removeprefix("http://127.0.0.1:").removesuffix("/v1"))
        assert port > 0

        response = httpx.post(
            f"{base_url}/responses", json={"model": "m", "input": "from the cli canary-cli-1"}
        )
        assert response.status_code == 200
        [recorded] = fetch_requests(base_url)
        assert recorded.messages == [{"role": "user", "text": "from the cli canary-cli-1"}]
        assert recorded.token_delay == 0.01
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--token-delay", "-1"],
        ["--token-delay", "soon"],
        ["--first-token-delay", "nan"],
        ["--port", "70000"],
        ["--port", "eighty"],
        ["--bogus"],
        ["--marker-pattern", "("],
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("model stub: error: ")


def test_bad_option_as_a_process_has_no_traceback() -> None:
    process = _spawn("--token-delay", "-0.5")
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr


def test_port_in_use_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with ModelStub() as holder:
        port = holder.port
        assert main(["--port", str(port)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"model stub: cannot listen on 127.0.0.1:{port}: ")


def test_help_returns_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--token-delay" in capsys.readouterr().out
