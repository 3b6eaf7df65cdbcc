"""A reference server prewarmed before its arguments are known: what it is handed is what runs.

The CLI starts the bundled server's imports at once and hands over the run's arguments (the
test issuer, the faults, the model stub's URL) when pytest has them; these tests hold the
handed-over process to the same behaviour as one started with those arguments directly.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.glass.model_stub import ModelStub
from harness.target import launch
from harness.target.launch import AWAIT_ARGS, discard_prewarmed, prewarm_reference_server
from reference_server.dev_issuer import load_dev_key, mint_dev_token
from reference_server.testing import create_thread_body, parse_sse


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "dev-key.pem"
    load_dev_key(path)
    return path


@pytest.fixture
def stub() -> Iterator[ModelStub]:
    running = ModelStub(token_delay=0.0).start()
    yield running
    running.stop()


def test_the_prewarmed_process_runs_with_the_arguments_and_environment_handed_over(
    key_path: Path, stub: ModelStub
) -> None:
    prewarm_reference_server()
    prewarmed = launch._PREWARMED[0].proc
    env = {
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "harness-stub",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }
    args = ["--db", ":memory:", "--dev-key", str(key_path), "--model", "openai"]
    server = launch.start_reference_server(args, env=env)
    try:
        assert server.proc is prewarmed and not launch._PREWARMED
        # Counted from the spawn, imports included: the figure a cold-start verdict quotes.
        assert server.startup_seconds > 0.2
        token = mint_dev_token("alice", key_path=key_path)
        response = httpx.post(
            server.url,
            json=create_thread_body("hello prewarmed"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200
        assert any(e["type"] == "thread.created" for e in parse_sse(response.content))
        # The environment handed over (not the one at spawn) chose the model: the stub's.
        assert any("hello prewarmed" in " ".join(r.user_texts()) for r in stub.requests)
    finally:
        server.stop()


def test_an_unused_prewarmed_process_goes_away() -> None:
    prewarm_reference_server()
    proc = launch._PREWARMED[0].proc
    discard_prewarmed()
    assert proc.poll() is not None and not launch._PREWARMED


def test_await_args_refuses_a_bad_hand_over_with_one_line() -> None:
    argv = [sys.executable, "-m", "reference_server", AWAIT_ARGS]
    done = subprocess.run(argv, input="not json\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "chatkit-reference-server: error: --await-args expects one JSON line {argv, env}"
    ]
    left = subprocess.run(argv, input="", capture_output=True, text=True, timeout=60)
    assert left.returncode == 0 and not left.stderr


@pytest.mark.parametrize(
    ("argv", "pyproject", "env_url", "prewarm"),
    [
        (["run"], None, "", True),
        (["diagnose", "--plain"], None, "", True),
        (["run", "--url", "http://127.0.0.1:9/chatkit"], None, "", False),
        (["run", "--url=http://127.0.0.1:9/chatkit"], None, "", False),
        (["run", "--list"], None, "", False),
        (["run"], None, "http://127.0.0.1:9/chatkit", False),
        (["run"], '[tool.chatkit-harness]\nurl = "http://127.0.0.1:9/chatkit"\n', "", False),
        (["run"], "[tool.chatkit-harness]\nstrict = true\n", "", True),
        (["run"], "not toml [", "", True),  # cmd_run reports the broken file
        (["load"], None, "", False),
    ],
)
def test_only_a_run_without_a_url_anywhere_prewarms(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    pyproject: str | None,
    env_url: str,
    prewarm: bool,
) -> None:
    from harness.cli import _bundled_run

    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATKIT_URL", env_url)
    assert _bundled_run(argv) is prewarm
