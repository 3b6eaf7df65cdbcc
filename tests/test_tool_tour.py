"""The tool tour: in glass-box mode the model stub calls the deployment's own tools, so widgets
and client tools of an app are judged with no --trigger.

The reference server runs here as a *deployment* (``--start``, not bundled: no keyword
triggers); its agent offers app tools (reference_server/app_tools.py) the way a real app does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from harness.glass.mcp_stub import TOOL_TAG
from harness.glass.model_stub import RecordedModelRequest
from harness.probes.tool_tour import (
    ToolTour,
    TourStop,
    function_tools,
    is_mcp_stub_tool,
    tour_prompt,
)
from harness.protocol.client import RecordedStream, StreamEvent
from harness.protocol.sse import SSEEvent
from reference_server.dev_issuer import mint_dev_token

FEATURE_CHECKS = {
    "widgets.schema",
    "actions.custom",
    "actions.sync",
    "actions.other-user",
    "client-tools.round-trip",
    "client-tools.isolated",
}
# One widget fault and one client-tools fault, each caught only if the tour reached it.
FAULTS = ["invalid-widget", "tool-output-ignored"]
SELECT = ["--select", "widgets.*", "--select", "actions.*", "--select", "client-tools.*"]


@dataclass
class Run:
    code: int
    output: str
    checks: dict[str, dict[str, Any]]

    def outcome(self, check_id: str) -> str:
        return str(self.checks[check_id]["outcome"])

    def explain(self) -> str:
        rows = [f"{i}: {c['outcome']} {c['message'][:300]}" for i, c in sorted(self.checks.items())]
        return "\n".join([*rows, self.output[-2000:]])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _deployment_run(
    tmp: Path, name: str, *, stub: bool, model: str = "openai", faults: Sequence[str] = ()
) -> Run:
    key = tmp / "dev.pem"
    token, token_b = (mint_dev_token(u, key_path=key) for u in ("alice", "bob"))
    port = _free_port()
    # Without the stub the server runs its offline model (no OPENAI_BASE_URL to point at).
    model_args = f" --model {model}" if stub else ""
    command = (
        f"{sys.executable} -m reference_server --port {port} --db :memory: --dev-key {key}"
        + model_args
        + "".join(f" --fault {f}" for f in faults)
    )
    out = tmp / f"{name}.json"
    cmd = [
        sys.executable,
        *("-m", "harness.cli", "run", "--plain", "--json", str(out)),
        *("--url", f"http://127.0.0.1:{port}/chatkit", "--token", token, "--token-b", token_b),
        *("--start", command),
        *(["--model-stub"] if stub else []),
        *SELECT,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"}
    )
    data = json.loads(out.read_text()) if out.exists() else {"checks": []}
    return Run(proc.returncode, proc.stdout + proc.stderr, {c["id"]: c for c in data["checks"]})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("tour")
    jobs: dict[str, Callable[[], Run]] = {
        "glass": partial(_deployment_run, tmp, "glass", stub=True),
        "glass-chat": partial(_deployment_run, tmp, "glass-chat", stub=True, model="openai-chat"),
        "black": partial(_deployment_run, tmp, "black", stub=False),
        "faults": partial(_deployment_run, tmp, "faults", stub=True, faults=FAULTS),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: two runs at a time
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["glass", "glass-chat"])
def test_tour_reaches_the_apps_widget_and_client_tool(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert run.code == 0, run.explain()
    for check_id in FEATURE_CHECKS:
        assert run.outcome(check_id) == "pass", run.explain()
    widget = run.checks["widgets.schema"]["message"]
    assert tour_prompt("show_vote_widget") in widget, run.explain()
    tool = run.checks["client-tools.round-trip"]["message"]
    assert tour_prompt("harness_get_selection") in tool, run.explain()


@pytest.mark.slow
def test_without_the_stub_they_are_untestable_with_the_hint(runs: dict[str, Run]) -> None:
    run = runs["black"]
    for check_id in ("widgets.schema", "client-tools.round-trip"):
        check = run.checks[check_id]
        assert check["outcome"] == "skip-untestable", run.explain()
        assert "--trigger" in check["message"] and "--model-stub" in check["message"]


@pytest.mark.slow
def test_faults_are_caught_through_the_tour(runs: dict[str, Run]) -> None:
    run = runs["faults"]
    assert run.code == 1, run.explain()
    assert run.outcome("widgets.schema") == "fail", run.explain()
    assert run.outcome("client-tools.round-trip") == "fail", run.explain()
    assert run.outcome("actions.unknown-item") == "pass", run.explain()  # nothing else fires


# -- the tour's own pieces -------------------------------------------------------------------


def _call(tools: list[Any]) -> RecordedModelRequest:
    return RecordedModelRequest(index=0, method="POST", endpoint="/v1/x", body={"tools": tools})


def test_function_tools_in_either_shape() -> None:
    responses = [
        {"type": "function", "name": "show_vote_widget", "description": "Vote."},
        {"type": "web_search"},
    ]
    chat = [{"type": "function", "function": {"name": "lookup", "description": "Look up."}}]
    assert function_tools(_call(responses)) == [("show_vote_widget", "Vote.")]
    assert function_tools(_call(chat)) == [("lookup", "Look up.")]
    assert function_tools(_call("not a list")) == []  # type: ignore[arg-type]


def test_the_mcp_stubs_tools_are_left_out() -> None:
    assert is_mcp_stub_tool("add_task", "")
    assert is_mcp_stub_tool("tasks_add_task", "")
    assert is_mcp_stub_tool("list_tasks", f"List tasks. {TOOL_TAG}")
    assert not is_mcp_stub_tool("show_vote_widget", "Show the vote widget.")


def _stream(*payloads: dict[str, Any]) -> RecordedStream:
    events = [StreamEvent(0.0, SSEEvent(json.dumps(p)), p) for p in payloads]
    return RecordedStream("threads.create", b"{}", {}, "http://t/chatkit", 200, events=events)


def test_showing_picks_the_first_stop_with_the_feature() -> None:
    widget = {"type": "thread.item.done", "item": {"type": "widget", "id": "w"}}
    pending = {
        "type": "thread.item.done",
        "item": {"type": "client_tool_call", "id": "c", "status": "pending"},
    }
    tour = ToolTour(offered=["a", "b", "c"])
    tour.stops = [
        TourStop("a", tour_prompt("a"), created=_stream()),
        TourStop("b", tour_prompt("b"), created=_stream(widget)),
        TourStop("c", tour_prompt("c"), created=_stream(widget, pending)),
    ]
    assert tour.showing("widgets") is tour.stops[1]
    assert tour.showing("client-tools") is tour.stops[2]
    assert tour.showing("notice") is None
    assert tour.summary().endswith("tools (a, b, c) and none showed one (no complete stream for a)")
    assert "no function tools" in ToolTour().summary()
