"""chatkit-harness load: options, thresholds, figures, stream reading, invariants (fast).

Nothing here imports Locust: that is the point of one of the tests. The load runs
themselves are in test_load_runs.py (subprocesses: Locust monkey-patches what it imports).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.load import invariants
from harness.load.config import (
    LoadConfigError,
    build_parser,
    load_settings,
    parse_duration,
    parse_threshold,
)
from harness.load.conversation import (
    ChatKitSession,
    Registry,
    StreamReader,
    StreamResult,
    UserRecord,
)
from harness.load.http import Connection, TransportError
from harness.load.metrics import compute, judge, percentile
from harness.target.config import load_target

ROOT = Path(__file__).resolve().parent.parent


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), ("10", 10), ("1m30s", 90)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "10x", "0s", "-5s", "1m garbage"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(LoadConfigError):
        parse_duration(text)


def test_thresholds() -> None:
    t = parse_threshold("ttfe_p95>1.0")
    assert (t.metric, t.op, t.limit) == ("ttfe_p95", ">", 1.0)
    assert t.crossed(1.2) and not t.crossed(0.9) and not t.crossed(1.0)
    assert parse_threshold("ttfe_p95 > 800ms").limit == pytest.approx(0.8)
    assert parse_threshold("error_rate>=0.01").crossed(0.01)
    assert parse_threshold("rps<5").crossed(4.0)
    assert parse_threshold("ttfe_p95>1").crossed(math.nan)  # unmeasured never passes


@pytest.mark.parametrize("text", ["ttfe>1", "ttfe_p95=1", "error_rate>10ms", "ttfe_p95>x"])
def test_bad_thresholds(text: str) -> None:
    with pytest.raises(LoadConfigError):
        parse_threshold(text)


def test_settings_from_pyproject_and_cli(tmp_path: Path) -> None:
    """[tool.chatkit-harness.load] supplies defaults, the command line wins, and the
    target's own [tool.chatkit-harness] reading ignores the load table."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.chatkit-harness]\ntimeout = 12\n\n[tool.chatkit-harness.load]\nusers = 7\n"
        'run-time = "2m"\nfail-on = ["ttfe_p95>1.0", "error_rate>0.01"]\n'
    )
    ns = build_parser().parse_args(["--users", "9"])
    s = load_settings(ns, pyproject)
    assert (s.users, s.run_time) == (9, 120)
    assert [t.text for t in s.thresholds] == ["ttfe_p95>1.0", "error_rate>0.01"]
    ns = build_parser().parse_args(["--fail-on", "rps<1"])
    assert [t.text for t in load_settings(ns, pyproject).thresholds] == ["rps<1"]
    assert load_target({}, env={}, pyproject=pyproject).timeout == 12


def test_unknown_pyproject_load_setting(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.chatkit-harness.load]\nuser = 7\n")
    with pytest.raises(LoadConfigError, match="unknown load setting 'user'"):
        load_settings(build_parser().parse_args([]), pyproject)


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "load", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--users", "0"], "--users must be at least 1"),
        (["--fail-on", "latency>1"], "unknown metric 'latency'"),
        (["--run-time", "soon"], "is not a duration"),
        (["--url", "ftp://x/chatkit"], "is not an http(s) URL"),
        (["--url", "http://127.0.0.1:9/chatkit", "--fault", "racy-store"], "leave out --url"),
        (["--master"], "needs --issuer-key"),
        (["--url", "http://127.0.0.1:1/chatkit", "--token", "t"], "cannot reach"),
        (["--users", "many"], "invalid int value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    res = _cli(*args)
    assert res.returncode == 2, res.stderr
    assert says in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_locust_is_never_imported_by_run_or_the_plugin() -> None:
    """Locust monkey-patches the standard library on import: the run path, the pytest
    plugin and the load modules that work out options must not import it."""
    code = (
        "import sys, harness.cli, harness.plugin, harness.load.cli, harness.load.config, "
        "harness.load.conversation, harness.load.invariants, harness.load.metrics; "
        "harness.cli.build_parser(); "
        "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- reading a stream ---------------------------------------------------------------------


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


STREAM = b"".join(
    [
        _frame({"type": "thread.created", "thread": {"id": "thr_1"}}),
        _frame({"type": "thread.item.done", "item": {"id": "msg_u", "type": "user_message"}}),
        _frame(
            {
                "type": "thread.item.updated",
                "item_id": "msg_a",
                "update": {"type": "assistant_message.content_part.text_delta", "delta": "hi"},
            }
        ),
        _frame(
            {
                "type": "thread.item.done",
                "item": {"id": "msg_a", "type": "assistant_message", "text": "lt-0123456789ab"},
            }
        ),
    ]
)


def test_stream_reader_measures_as_bytes_arrive() -> None:
    """Chunks split anywhere (mid-line, mid-marker) give the same events; times are the
    arrival times of the chunk that completed each event."""
    r = StreamResult("threads.create")
    reader = StreamReader(r, t0=100.0)
    cuts = [0, 7, 60, 61, 150, 230, len(STREAM) - 3, len(STREAM)]
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        reader.feed(STREAM[a:b], 100.0 + 0.1 * (i + 1))
    reader.close()
    assert r.events == 4 and r.thread_id == "thr_1"
    assert r.done_items == ["msg_u", "msg_a"] and r.finished and not r.unterminated
    assert r.ttfe == pytest.approx(0.3)  # the first event's blank line came in chunk 3
    assert r.ttft is not None and r.ttft > r.ttfe
    assert len(r.gaps) == 3 and all(g >= 0 for g in r.gaps)
    assert r.markers == {"lt-0123456789ab"}
    r.status = 200
    assert r.failure is None


def test_stream_without_final_events_fails() -> None:
    r = StreamResult("threads.create", status=200)
    reader = StreamReader(r, 0.0)
    reader.feed(STREAM[:200] + b"data: {", 1.0)
    reader.close()
    assert not r.finished and r.unterminated
    assert r.failure == "stream ended without its final events"


# -- the HTTP client ------------------------------------------------------------------------


class _Chunked(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, piece in enumerate((STREAM[:100], STREAM[100:])):
            if i:
                time.sleep(0.3)  # the first chunk must reach the caller before this one
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


def test_connection_streams_chunks_and_keeps_alive() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chunked)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = Connection(f"http://127.0.0.1:{server.server_address[1]}/chatkit", timeout=5)
        for _ in range(2):  # the second request reuses the socket
            seen: list[tuple[bytes, float]] = []
            resp = conn.post(b"{}", {}, on_chunk=lambda c, t, seen=seen: seen.append((c, t)))
            assert resp.status == 200 and resp.ttfb is not None
            assert b"".join(c for c, _ in seen) == STREAM
            assert seen[-1][1] - seen[0][1] >= 0.25  # handed over as it arrived
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(TransportError):
        Connection(f"http://127.0.0.1:{server.server_address[1]}/x", timeout=2).post(b"", {})


# -- figures and thresholds ---------------------------------------------------------------


@dataclass
class _Entry:
    name: str
    method: str
    num_requests: int = 0
    num_failures: int = 0
    response_times: Counter[int] = field(default_factory=Counter)


@dataclass
class _Stats:
    entries: dict[tuple[str, str], _Entry]
    errors: dict[str, Any] = field(default_factory=dict)


def test_figures_from_locust_histograms() -> None:
    stream = _Entry("threads.create", "POST", 100, 2, Counter({500: 90, 2000: 10}))
    ttfe = _Entry("threads.create", "TTFE", 100, 0, Counter({100: 94, 1300: 6}))
    ttfe_b = _Entry("threads.add_user_message", "TTFE", 10, 0, Counter({50: 10}))
    stats = _Stats({(e.name, e.method): e for e in (stream, ttfe, ttfe_b)})
    m = compute(stats, wall=10.0)["metrics"]
    assert m["requests"] == 100 and m["error_rate"] == pytest.approx(0.02)
    assert m["ttfe_p95"] == pytest.approx(1.3) and m["ttfe_p50"] == pytest.approx(0.1)
    assert m["rps"] == pytest.approx(10.0) and math.isnan(m["ttft_p95"])
    verdicts = judge(m, [parse_threshold("ttfe_p95>1.0"), parse_threshold("error_rate>0.05")])
    assert [v["crossed"] for v in verdicts] == [True, False]
    assert percentile({}, 0.5) != percentile({}, 0.5)  # NaN


# -- invariants ---------------------------------------------------------------------------


def test_foreign_markers_and_threads_are_isolation_evidence() -> None:
    reg = Registry()
    alice = UserRecord("alice", "lt-aaaaaaaaaaaa", {}, unique=True)
    bob = UserRecord("bob", "lt-bbbbbbbbbbbb", {}, unique=True)
    reg.add(alice)
    reg.add(bob)
    reg.own_thread(bob, "thr_bob")
    s = ChatKitSession("http://127.0.0.1:9/chatkit", alice, reg)
    s._judge_markers("threads.create", {"lt-aaaaaaaaaaaa", "lt-bbbbbbbbbbbb"})
    unknown = s._judge_thread_list("threads.list", ["thr_bob", "thr_nobody"])
    assert unknown == ["thr_nobody"]
    details = [e.detail for e in alice.evidence]
    assert any("bob's message marker" in d for d in details)
    assert any("bob's thread thr_bob" in d for d in details)


def test_merging_worker_results() -> None:
    a = invariants.merge([])
    b = invariants.merge([])
    a["isolation"] = {"checked": 3, "violations": 1, "evidence": [{"detail": "x"}]}
    a["_users"], b["_users"] = 3, 4
    merged = invariants.merge([a, b])
    assert merged["_users"] == 7 and merged["isolation"]["violations"] == 1
    assert invariants.failed(merged) == ["isolation"]
    assert invariants.failed(b) == []


def test_parser_has_the_distributed_options() -> None:
    ns = build_parser().parse_args(["--worker", "--master-host", "10.0.0.5"])
    assert isinstance(ns, argparse.Namespace) and ns.worker and ns.master_host == "10.0.0.5"
