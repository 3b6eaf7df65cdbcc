"""The composite action at the repository root: its inputs, and its run step, as written.

The install step is ``pip install $GITHUB_ACTION_PATH`` (what tests/test_wheel.py proves
works from a built wheel); here the harness is installed already, and the action's run step is
executed with the inputs a workflow would give it, against a reference server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.target.launch import Launched, start_reference_server
from reference_server.dev_issuer import mint_dev_token

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"


def action() -> dict:
    data: dict = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return data


def step(name: str) -> dict:
    steps = {s.get("name"): s for s in action()["runs"]["steps"]}
    found: dict = steps[name]
    return found


def test_action_declares_its_inputs_and_installs_from_its_checkout() -> None:
    data = action()
    assert data["runs"]["using"] == "composite"
    inputs = data["inputs"]
    assert inputs["url"]["required"] is True
    assert {"url", "token", "args"} <= set(inputs)
    install = step("Install chatkit-harness")["run"]
    assert '"$GITHUB_ACTION_PATH"' in install
    # The token goes through the environment, never onto the command line.
    run = step("Run chatkit-harness")
    assert run["env"]["CHATKIT_TOKEN"] == "${{ inputs.token }}"
    assert "inputs.token" not in run["run"]


def test_ci_doc_shows_the_action() -> None:
    doc = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    assert "uses: OWNER/chatkit-harness@" in doc
    for key in ("url:", "args:"):
        assert key in doc[doc.index("### The composite action") :]
    assert "pip install chatkit-harness\n" not in doc  # no such package on any index


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Launched, str]]:
    key = tmp_path / "dev.pem"
    token = mint_dev_token("alice", key_path=key)
    launched = start_reference_server(["--db", ":memory:", "--dev-key", str(key)], timeout=90)
    try:
        yield launched, token
    finally:
        launched.stop()


@pytest.mark.slow
def test_run_step_gates_on_the_harness(server: tuple[Launched, str], tmp_path: Path) -> None:
    launched, token = server
    run = step("Run chatkit-harness")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHATKIT_")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # What GitHub sets from `with:`.
        "CHATKIT_URL": launched.url,
        "CHATKIT_TOKEN": token,
        "HARNESS_ARGS": "--select protocol.* --plain --json out.json",
        "STUB_PORT": "",
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", run["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "✓ chatkit deployment healthy (" in proc.stdout
    assert token not in proc.stdout + proc.stderr and (tmp_path / "out.json").is_file()
    # A broken gate is the step's exit code.
    env["HARNESS_ARGS"] = "--select no.such.check"
    failed = subprocess.run(
        ["bash", "-e", "-c", run["run"]], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert failed.returncode == 2
