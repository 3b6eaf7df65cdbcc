"""--inference-options: every user message carries them, so a path chosen by them is testable.

A backend may load history only in a mode picked from the composer's model picker
(``inference_options.model``); the reference server's ``history-only-with-model`` fault is
such a backend. With the harness's default (empty) options ``history.recall`` fails on it;
with ``--inference-options '{"model": ...}'`` the same check passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.protocol.client import ChatKitClient, user_input
from harness.target.config import ConfigError, Target, load_target

OPTIONS = {"model": "gpt-4.1-mini"}


def _sent(target: Target, type_: str, params: dict) -> dict:
    client = ChatKitClient(target)
    return dict(json.loads(client.body(type_, params))["params"])


def test_every_user_message_carries_the_options() -> None:
    target = Target(url="http://127.0.0.1:9/chatkit", inference_options=OPTIONS)
    created = _sent(target, "threads.create", {"input": user_input("hi")})
    assert created["input"]["inference_options"] == OPTIONS
    added = _sent(target, "threads.add_user_message", {"thread_id": "t", "input": user_input("hi")})
    assert added["input"]["inference_options"] == OPTIONS
    # A request that sets its own option keeps it; others are filled in.
    own = user_input("hi")
    own["inference_options"] = {"tool_choice": {"id": "search"}}
    mixed = _sent(target, "threads.create", {"input": own})["input"]["inference_options"]
    assert mixed == {**OPTIONS, "tool_choice": {"id": "search"}}
    # Requests without a user message are left alone.
    assert _sent(target, "threads.list", {"limit": 5}) == {"limit": 5}


def test_default_is_empty_options() -> None:
    target = Target(url="http://127.0.0.1:9/chatkit")
    body = _sent(target, "threads.create", {"input": user_input("x")})
    assert body["input"]["inference_options"] == {}


def test_flag_env_and_pyproject_forms(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    assert load_target({"inference_options": '{"model": "m"}'}, env={}, pyproject=none) == Target(
        inference_options={"model": "m"}
    )
    env = {"CHATKIT_INFERENCE_OPTIONS": '{"model": "from-env"}'}
    assert load_target({}, env=env, pyproject=none).inference_options == {"model": "from-env"}
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.chatkit-harness]\ninference-options = { model = "from-file" }\n')
    assert load_target({}, env={}, pyproject=pyproject).inference_options == {"model": "from-file"}
    with pytest.raises(ConfigError, match="inference options must be a JSON object"):
        load_target({"inference_options": "[1]"}, env={}, pyproject=none)


def test_bad_options_are_one_line_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--inference-options", "{model"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "chatkit-harness: error: inference options must be a JSON object, got '{model'"
    ]


def _recall(tmp_path: Path, *extra: str) -> str:
    out = tmp_path / f"run{len(extra)}.json"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--plain", "--json", str(out)]
    cmd += ["--fault", "history-only-with-model", "--select", "history.recall", *extra]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.exists(), proc.stdout + proc.stderr
    [check] = json.loads(out.read_text())["checks"]
    return str(check["outcome"])


@pytest.mark.slow
def test_history_path_behind_a_model_option_is_reached(tmp_path: Path) -> None:
    assert _recall(tmp_path) == "fail"
    assert _recall(tmp_path, "--inference-options", json.dumps(OPTIONS)) == "pass"
