"""Verdicts that hold on real deployments: refused credentials, --start, every exchange kept,
a store that writes in the background, one broken read.

Each test runs the real CLI in a subprocess against the reference server with a fault that
behaves like a real backend, and reads the JSON report.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.target.launch import Launched, start_reference_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def harness(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    out = cwd / f"run-{len(list(cwd.glob('run-*.json')))}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--plain", "--json", str(out), *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    report = json.loads(out.read_text()) if out.exists() else None
    return proc, report


def outcomes(report: dict | None) -> dict[str, str]:
    assert report is not None
    return {c["id"]: c["outcome"] for c in report["checks"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dev_token(user: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "reference_server", "--dev-token", user, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Launched]:
    """A reference server of our own (the harness is given only its URL)."""
    args = getattr(request, "param", [])
    launched = start_reference_server(["--db", ":memory:", "--token-delay", "0.002", *args])
    yield launched
    launched.stop()


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# -- refused credentials -------------------------------------------------------------------


def test_refuse_all_ends_the_run_before_any_verdict(tmp_path: Path) -> None:
    proc, report = harness("--fault", "refuse-all", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = one_line(proc.stderr)
    assert "credential was refused" in line and "HTTP 401" in line, line
    assert "pass" not in outcomes(report).values() if report and report["checks"] else True


def test_a_garbage_token_exits_2_and_nothing_passes(server: Launched, tmp_path: Path) -> None:
    proc, report = harness("--url", server.url, "--token", "garbage", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = one_line(proc.stderr)
    assert "threads.list answered HTTP 401" in line and "Bearer <a non-JWT value>" in line
    assert "garbage" not in proc.stdout + proc.stderr  # what was sent, redacted
    if report is not None:
        assert "pass" not in outcomes(report).values()


# -- one broken read, eventual writes -------------------------------------------------------


def test_a_broken_get_by_id_fails_only_get_thread(tmp_path: Path) -> None:
    proc, report = harness(
        "--fault",
        "get-thread-500-after-rename",
        "--select",
        "protocol.*",
        "--select",
        "errors.*",
        cwd=tmp_path,
    )
    got = outcomes(report)
    failed = {c for c, o in got.items() if o in ("fail", "warn", "error")}
    assert failed == {"protocol.get-thread"}, proc.stdout
    assert got["protocol.update-title"] == "pass"  # read back through threads.list
    assert got["errors.nothing-lost"] == "pass"  # compares items.list and threads.list


def test_eventual_writes_give_the_correct_verdicts_every_time(tmp_path: Path) -> None:
    """A background write queue: only read-your-writes warns, and identically on each run."""
    select = ["protocol.*", "errors.nothing-lost", "history.*", "auth.tenant-isolation"]
    args = [a for pat in select for a in ("--select", pat)]

    def one(i: int) -> dict[str, str]:
        (tmp_path / str(i)).mkdir()
        _, report = harness("--fault", "eventual-writes", *args, cwd=tmp_path / str(i))
        return outcomes(report)

    # Two at a time, as the fault matrix runs: a busier machine only makes the lag longer.
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(one, range(5)))
    assert all(v == verdicts[0] for v in verdicts), verdicts
    broken = {c: o for c, o in verdicts[0].items() if o != "pass"}
    assert broken == {"protocol.read-your-writes": "warn"}, broken


# -- --start owns its process ---------------------------------------------------------------

DIES = textwrap.dedent(
    """
    import socket, sys, time
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    for i in range(25):
        print(f"backend line {i}", flush=True)
    print("fatal: the database went away", flush=True)
    time.sleep(1)
    sys.exit(3)
    """
)


def test_start_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"http://127.0.0.1:{port}/chatkit"
        proc, _ = harness("--url", url, "--start", "sleep 30", cwd=tmp_path)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert f"127.0.0.1:{port} is already taken" in line
    assert re.search(r"by PID \d+", line), line  # this test's own process holds it


def test_start_reports_a_backend_that_dies(tmp_path: Path) -> None:
    script = tmp_path / "dies.py"
    script.write_text(DIES)
    port = free_port()
    url = f"http://127.0.0.1:{port}/chatkit"
    art = tmp_path / "art"
    proc, _ = harness(
        "--url",
        url,
        "--start",
        f"{sys.executable} {script} {port}",
        "--artifacts",
        str(art),
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "exited with code 3" in proc.stderr and "Traceback" not in proc.stderr
    assert "fatal: the database went away" in proc.stderr
    assert "backend line 4" not in proc.stderr  # the last 20 lines, not all of them
    assert "backend line 24" in proc.stderr
    assert "backend line 0" in (art / "backend.log").read_text()


# -- every exchange recorded ----------------------------------------------------------------


def test_every_request_the_target_received_is_in_the_artifacts(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reference_server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            ":memory:",
            "--token-delay",
            "0.002",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    url = None
    for line in proc.stdout:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    assert url
    try:
        token = dev_token("alice")
        art = tmp_path / "art"
        run, report = harness(
            "--url",
            url,
            "--token",
            token,
            "--artifacts",
            str(art),
            "--select",
            "protocol.*",
            "--select",
            "errors.*",
            "--select",
            "auth.*",
            cwd=tmp_path,
        )
        assert report is not None, run.stderr
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=10)
    served = [line for line in rest.splitlines() if re.search(r"\bPOST /chatkit\b", line)]
    recorded = (art / "exchanges" / "index.jsonl").read_text().splitlines()
    assert served and len(recorded) == len(served), (len(recorded), len(served))
