"""chatkit-harness load end to end: 20 users for 10 s against the bundled reference server,
correct and with each concurrency fault, and a master with two workers.

Each run is a subprocess (Locust monkey-patches the standard library of whatever imports
it, and this test process runs asyncio). The TTFE gate has wide margins both ways: the
correct server's p95 is 0.3 s on an idle 2-core machine and under 1 s with the machine's
load average at 11, while pool-exhaustion queues the burst behind one connection, p95 5-7 s.
The two faulty runs go in parallel: both faults only get worse on a busier machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.auth.issuer import TestIssuer, load_or_create_key
from harness.target.launch import start_reference_server

ROOT = Path(__file__).resolve().parent.parent
TTFE_GATE = "ttfe_p95>2.5"
GATES = ["--fail-on", TTFE_GATE, "--fail-on", "error_rate>0.01"]
LOAD = ["--users", "20", "--spawn-rate", "20", "--run-time", "10s", "--quiet"]

pytestmark = pytest.mark.slow
Run = tuple[int, dict[str, Any], str]  # exit code, the JSON result, the output


def _command(out: Path | None, *args: str) -> list[str]:
    json_out = ["--json", str(out)] if out else []
    return [sys.executable, "-m", "harness.cli", "load", *args, *json_out]


def _result(out: Path, proc: subprocess.Popen[str], timeout: float = 150) -> Run:
    output, _ = proc.communicate(timeout=timeout)
    data = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, data, output


def _start(out: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command(out, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )


def _load(tmp_path: Path, *args: str) -> Run:
    out = tmp_path / "load.json"
    return _result(out, _start(out, *args))


@pytest.fixture(scope="module")
def faulty_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """racy-store and pool-exhaustion, run side by side."""
    folder = tmp_path_factory.mktemp("faulty")
    procs = {}
    for fault in ("racy-store", "pool-exhaustion"):
        out = folder / f"{fault}.json"
        procs[fault] = (out, _start(out, *LOAD, *GATES, "--fault", fault, "--settle", "1"))
    try:
        yield {fault: _result(out, proc) for fault, (out, proc) in procs.items()}
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def _crossed(data: dict[str, Any]) -> list[str]:
    return [t["threshold"] for t in data["thresholds"] if t["crossed"]]


def _violations(data: dict[str, Any], name: str) -> int:
    return int(data["invariants"][name]["violations"])


def test_correct_server_holds_under_load(tmp_path: Path) -> None:
    code, data, output = _load(tmp_path, *LOAD, *GATES)
    assert code == 0, output
    assert data["metrics"]["requests"] >= 60  # 20 users, several requests each
    assert not _crossed(data) and data["metrics"]["ttfe_p95"] > 0
    names = ("items-persisted", "isolation", "no-5xx", "complete-streams")
    assert all(_violations(data, n) == 0 for n in names)
    assert data["invariants"]["_items"] > 0 and data["invariants"]["_threads"] >= 20
    assert "load: passed" in output


def test_racy_store_fails_the_persistence_invariant(faulty_runs: dict[str, Run]) -> None:
    code, data, output = faulty_runs["racy-store"]
    assert code == 1, output
    assert _violations(data, "items-persisted") > 0
    evidence = data["invariants"]["items-persisted"]["evidence"][0]["detail"]
    assert "announced done are not in items.list" in evidence
    assert "invariant items-persisted failed" in data["verdict"]


def test_pool_exhaustion_fails_the_ttfe_gate(faulty_runs: dict[str, Run]) -> None:
    code, data, output = faulty_runs["pool-exhaustion"]
    assert code == 1, output
    assert _crossed(data) == [TTFE_GATE]
    assert data["metrics"]["ttfe_p95"] > 3.5  # queued for seconds, not a borderline miss
    assert data["verdict"] == f"FAILED: threshold {TTFE_GATE} crossed"


def test_master_aggregates_two_workers(tmp_path: Path) -> None:
    """A master and two workers as separate processes on 127.0.0.1: one result, with the
    requests of both workers and both workers' invariants."""
    key = tmp_path / "issuer.pem"
    issuer = TestIssuer(key=load_or_create_key(key))
    issuer.start()
    trust = ["--jwks-url", issuer.jwks_url, "--issuer", issuer.issuer]
    server = start_reference_server(["--db", ":memory:", *trust, "--audience", issuer.audience])
    port = _free_port()
    common = ["--issuer-key", str(key), "--master-port", str(port)]
    out = tmp_path / "master.json"
    procs: list[subprocess.Popen[str]] = []
    try:
        role = ["--master", "--master-bind-host", "127.0.0.1", "--expect-workers", "2"]
        load = ["--users", "8", "--spawn-rate", "8", "--run-time", "4s", "--quiet"]
        master = subprocess.Popen(
            _command(out, *role, "--url", server.url, *load, *common),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        procs.append(master)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    _command(None, "--worker", "--master-host", "127.0.0.1", *common),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=ROOT,
                )
            )
        output, _ = master.communicate(timeout=120)
        worker_codes = [p.wait(timeout=30) for p in procs[1:]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        server.stop()
        issuer.stop()
    assert master.returncode == 0, output
    assert worker_codes == [0, 0]
    data = json.loads(out.read_text())
    assert data["workers"] == 2 and data["mode"] == "master"
    per_worker = data["per_worker"]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values())
    assert sum(per_worker.values()) == data["metrics"]["requests"]
    assert data["invariants"]["_users"] == 8  # both workers' users were checked


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    time.sleep(0)  # released: zmq binds it next
    return port
