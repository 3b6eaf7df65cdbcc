"""The CI recipe of docs/ci.md checks what it promises, and a run that judged nothing fails.

The documented job is read from docs/ci.md itself and its steps are run as written, with
two substitutions only: the backend line marked ``# <- yours`` becomes the bundled reference
server (the line the same page gives for trying the job), and the fixed ports become free
ones (the machine may be running other things). The install step is left out: the harness is
installed here already, and tests/test_wheel.py installs it from a built wheel.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.glass.model_stub import ModelStub
from harness.target.launch import Launched, start_reference_server
from reference_server.dev_issuer import mint_dev_token

ROOT = Path(__file__).resolve().parent.parent
CI_DOC = ROOT / "docs" / "ci.md"
BIN = Path(sys.executable).parent
GLASS = {
    "glass.history-in-prompt",
    "glass.context-in-prompt",
    "glass.no-secret-in-prompt",
    "glass.stream-pass-through",
    "glass.unique-message-ids",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def documented_job() -> dict:
    """The first YAML block of the GitHub Actions section, parsed."""
    text = CI_DOC.read_text(encoding="utf-8")
    section = text[text.index("## GitHub Actions") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "no yaml block in the GitHub Actions section"
    workflow = yaml.safe_load(block.group(1))
    jobs = list(workflow["jobs"].values())
    assert len(jobs) == 1
    job: dict = jobs[0]
    return job


def reference_backend_line() -> str:
    """The start line the page gives for trying the job on the bundled reference server."""
    text = " ".join(CI_DOC.read_text(encoding="utf-8").split())
    m = re.search(r"the marked start line is `(chatkit-reference-server [^`]+)`", text)
    assert m is not None, "docs/ci.md no longer says how to try the job on the reference server"
    return m.group(1)


def run_cli(args: list[str], cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        **kw,  # type: ignore[arg-type]
    )


# -- the documented job ----------------------------------------------------------------------


@pytest.mark.slow
def test_documented_job_runs_the_glass_checks(tmp_path: Path) -> None:
    job = documented_job()
    ports = {"8000": str(free_port()), "8787": str(free_port()), "8765": str(free_port())}

    def local(text: str) -> str:  # one pass: a free port may contain a fixed one's digits
        return re.sub(r"\b(8000|8787|8765)\b", lambda m: ports[m.group(1)], text)

    steps = {s["name"]: s for s in job["steps"] if "name" in s}
    start = steps["Start the model stub and the backend"]["run"]
    gate = steps["Gate on the harness"]["run"]
    assert "--model-stub-url" in gate, "the gate does not read the model stub"
    ours = [line for line in start.splitlines() if "# <- yours" in line]
    assert len(ours) == 1, start
    start = start.replace(ours[0], reference_backend_line())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CHATKIT_", "OPENAI_"))},
        **{k: local(str(v)) for k, v in job["env"].items()},
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_ACTIONS": "true",
    }
    # Each step is its own shell, as on a runner; what the start step leaves running (the
    # stub and the backend) lives in that step's process group, ended at the end.
    starter = subprocess.Popen(
        ["bash", "-e", "-c", local(start)], cwd=tmp_path, env=env, start_new_session=True
    )
    try:
        assert starter.wait(timeout=180) == 0, (tmp_path / "backend.log").read_text()
        proc = subprocess.run(
            ["bash", "-e", "-c", local(gate)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(starter.pid, signal.SIGTERM)
    report = json.loads((tmp_path / "chatkit.json").read_text())
    outcomes = {c["id"]: c["outcome"] for c in report["checks"]}
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert {cid: outcomes.get(cid) for cid in GLASS} == dict.fromkeys(GLASS, "pass"), outcomes
    assert (tmp_path / "chatkit.xml").is_file() and (tmp_path / "chatkit-artifacts").is_dir()
    assert "✓ chatkit deployment healthy" in proc.stdout


# -- runs that judged nothing ----------------------------------------------------------------


def test_every_check_skipped_exits_2(tmp_path: Path) -> None:
    proc = run_cli(["run", "--select", "glass.*", "--plain", "--json", "out.json"], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(
        "chatkit-harness: error: no check could run: "
        "all 5 selected checks were skipped or blocked ("
    ), proc.stderr
    assert "--model-stub" in errors[0]
    assert "healthy" not in proc.stdout
    assert json.loads((tmp_path / "out.json").read_text())["harness_error"].startswith(
        "no check could run"
    )


def test_every_check_skipped_fails_the_pytest_session(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "scenarios",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--chatkit-select",
            "glass.*",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, proc.stdout[-3000:]
    assert "could not judge the target: no check could run" in proc.stdout


@pytest.fixture
def unpointed_backend(tmp_path: Path) -> Iterator[tuple[Launched, str]]:
    """A reference server on its offline model: it never calls the stub."""
    key = tmp_path / "dev.pem"
    token = mint_dev_token("alice", key_path=key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    server = start_reference_server(["--db", ":memory:", "--dev-key", str(key)], env=env)
    try:
        yield server, token
    finally:
        server.stop()


def test_stub_never_called_exits_2(tmp_path: Path, unpointed_backend: tuple[Launched, str]) -> None:
    server, token = unpointed_backend
    with ModelStub() as stub:
        proc = run_cli(
            [
                "run",
                "--url",
                server.url,
                "--token",
                token,
                "--model-stub-url",
                stub.base_url,
                "--select",
                "glass.*",
                "--select",
                "protocol.create-order",
                "--plain",
            ],
            tmp_path,
        )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "chatkit-harness: error: the model stub received no model request: the backend is "
        "not pointed at it (OPENAI_BASE_URL)"
    ]
    # The black-box check did run and pass: the error is about the set-up, not the target.
    assert "[protocol.create-order]" in proc.stdout and "healthy" not in proc.stdout
