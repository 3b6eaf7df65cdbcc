"""The glass.* checks end to end, through the CLI: each fault fails exactly its glass checks.

Three ways to run glass-box mode, all covered: the bundled reference server on the harness's
stub (``--model-stub``), the user's own start command (``--start ... --model-stub``), and a
deployment the user runs against a stub they run (``--model-stub-url``).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from harness.glass.model_stub.remote import fetch_requests
from harness.target.launch import start_reference_server
from reference_server.dev_issuer import mint_dev_token

pytestmark = pytest.mark.slow

GLASS = {
    "glass.context-in-prompt",
    "glass.history-in-prompt",
    "glass.no-secret-in-prompt",
    "glass.stream-pass-through",
    "glass.unique-message-ids",
}
# Bundled server (--model openai, the Responses path): fault -> the glass checks it fails.
BUNDLED = {
    "correct": set(),
    "token-in-prompt": {"glass.no-secret-in-prompt"},
    "duplicate-last-message": {"glass.history-in-prompt"},
    "history-as-repr": {"glass.history-in-prompt"},
    # A reply finished after every chunk is one reply with its own id (no glass check fails).
    "done-per-chunk": set(),
    "double-store": {"glass.history-in-prompt", "glass.unique-message-ids"},
}
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    checks: dict[str, dict[str, Any]]
    report: str

    def failing(self, prefix: str = "glass.") -> set[str]:
        return {
            i
            for i, c in self.checks.items()
            if i.startswith(prefix) and c["outcome"] in ("fail", "warn", "error")
        }

    def outcome(self, check_id: str) -> str:
        return str(self.checks[check_id]["outcome"])


def harness_run(args: Sequence[str], out: Path) -> Run:
    cmd = [sys.executable, "-m", "harness.cli", "run", *args, "--plain", "--json", str(out)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"}
    )
    report = out.read_text() if out.exists() else ""
    data = json.loads(report) if report else {"checks": []}
    checks = {c["id"]: c for c in data["checks"]}
    return Run(proc.returncode, proc.stdout, proc.stderr, checks, report)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A dev-issuer key the started servers trust, and a token it signed."""
    key = tmp_path_factory.mktemp("dev") / "dev.pem"
    return key, mint_dev_token("alice", key_path=key)


@pytest.fixture(scope="module")
def remote_stub() -> Iterator[str]:
    """``chatkit-harness model-stub --port 0`` in its own process, as a user would run it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "model-stub", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = proc.stdout.readline().decode() if sel.select(timeout=30) else ""
    sel.close()
    match = re.search(r"listening on (http://\S+/v1)", line)
    try:
        assert match, f"model stub did not start: {line!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, dev: tuple[Path, str], remote_stub: str
) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("glass")
    key, token = dev
    glass = ["--select", "glass.*"]

    def bundled(fault: str) -> Run:
        faults = [] if fault == "correct" else ["--fault", fault]
        return harness_run(["--model-stub", *glass, *faults], tmp / f"{fault}.json")

    def started(name: str, faults: Sequence[str], extra: Sequence[str] = ()) -> Run:
        # The user's own start command; the harness adds OPENAI_BASE_URL/OPENAI_API_KEY.
        port = _free_port()
        command = (
            f"{sys.executable} -m reference_server --port {port} --db :memory: "
            f"--model openai-chat --dev-key {key}" + "".join(f" --fault {f}" for f in faults)
        )
        args = ["--url", f"http://127.0.0.1:{port}/chatkit", "--token", token]
        args += ["--start", command, "--model-stub", *glass, *extra]
        return harness_run(args, tmp / f"{name}.json")

    def remote() -> Run:
        # A deployment the user runs, pointed at the stub the user runs.
        env = {"OPENAI_BASE_URL": remote_stub, "OPENAI_API_KEY": "anything"}
        server = start_reference_server(
            ["--db", ":memory:", "--model", "openai", "--dev-key", str(key)], env=env
        )
        try:
            args = ["--url", server.url, "--token", token, "--model-stub-url", remote_stub]
            return harness_run([*args, *glass], tmp / "remote.json")
        finally:
            server.stop()

    jobs: dict[str, Callable[[], Run]] = {name: partial(bundled, name) for name in BUNDLED}
    # The restart of the cold-start check, then a later check on the restarted process.
    after_restart = ["--select", "latency.cold-start", "--select", "protocol.add-user-message"]
    jobs["chat-correct"] = partial(started, "chat-correct", [], after_restart)
    jobs["chat-fake-item-ids"] = partial(started, "chat-fake-item-ids", ["fake-item-ids"])
    jobs["remote"] = remote
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: two runs at a time
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def _explain(run: Run) -> str:
    rows = [f"{i}: {c['outcome']} {c['message'][:200]}" for i, c in sorted(run.checks.items())]
    return "\n".join([*rows, run.stdout[-1500:], run.stderr[-1500:]])


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_fault_fails_exactly_its_glass_checks(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert set(run.checks) == GLASS, _explain(run)
    assert run.failing() == BUNDLED[name], _explain(run)
    assert not JWT_RE.search(run.report + run.stdout + run.stderr), "a token reached the output"


def test_token_in_prompt_warns_with_redacted_evidence(runs: dict[str, Run]) -> None:
    run = runs["token-in-prompt"]
    check = run.checks["glass.no-secret-in-prompt"]
    assert check["outcome"] == "warn" and run.code == 0  # a SHOULD: warns, the run passes
    assert check["message"] == (
        "the test user's access token was sent to the model, in the instructions, line 4"
    )
    assert "access_token=***" in check["evidence"]


def test_history_failures_say_what_the_model_got(runs: dict[str, Run]) -> None:
    dup = runs["duplicate-last-message"].checks["glass.history-in-prompt"]
    assert dup["message"] == "the new message (turn 1) reached the model 2 times"
    reprs = runs["history-as-repr"].checks["glass.history-in-prompt"]
    assert reprs["message"].startswith("turn 1's message is missing from turn 2's model input")
    assert "UserMessageTextContent(" in reprs["message"]
    assert runs["correct"].code == 0 and runs["duplicate-last-message"].code == 1


def test_reply_stored_twice_is_not_called_a_placeholder_id(runs: dict[str, Run]) -> None:
    check = runs["double-store"].checks["glass.unique-message-ids"]
    assert check["message"] == "the store holds turn 1's reply 2 times under its one id"
    assert "6 stored" in check["actual"] and "/v1/responses" in check["actual"]
    # This failure's own fix reaches the report, not the check's placeholder-id one.
    assert check["fix"].startswith("Save each item once") and "generate_item_id" not in check["fix"]


def test_start_command_on_the_stub_over_chat_completions(runs: dict[str, Run]) -> None:
    run = runs["chat-correct"]
    assert run.failing() == set(), _explain(run)
    assert {i for i, c in run.checks.items() if c["outcome"] == "pass"} >= GLASS
    # The cold-start check restarted the harness-owned process; later checks still reach it.
    assert run.outcome("latency.cold-start") in ("pass", "fail"), _explain(run)
    assert run.outcome("protocol.add-user-message") == "pass", _explain(run)


def test_fake_item_ids_on_chat_completions(runs: dict[str, Run]) -> None:
    run = runs["chat-fake-item-ids"]
    assert run.failing() == {"glass.unique-message-ids", "glass.history-in-prompt"}, _explain(run)
    check = run.checks["glass.unique-message-ids"]
    assert "'__fake_id__'" in check["actual"] and "/v1/chat/completions" in check["actual"]


def test_stub_run_by_the_user(runs: dict[str, Run], remote_stub: str) -> None:
    run = runs["remote"]
    assert {i for i, c in run.checks.items() if c["outcome"] == "pass"} == GLASS, _explain(run)
    calls = fetch_requests(remote_stub)
    assert {c.endpoint for c in calls} == {"/v1/responses"} and len(calls) >= 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model-stub", "--url", "http://127.0.0.1:9/chatkit"],
            "--model-stub needs a target the harness starts",
        ),
        (["--model-stub-url", "http://127.0.0.1:9/v1"], "no model stub answers at"),
    ],
)
def test_unusable_glass_box_settings_are_one_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    run = harness_run([*args, "--select", "glass.*"], tmp_path / "out.json")
    assert run.code == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in run.stderr
