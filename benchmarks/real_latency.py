"""The whole suite against a backend whose model answers at a realistic pace.

Set-up: the harness's model stub at 0.8 s to the first token and 30 ms a token
(``chatkit-harness model-stub --first-token-delay 0.8 --token-delay 0.03``), the bundled
reference server on it (``--model openai``, ``OPENAI_BASE_URL`` pointing at the stub), and
``chatkit-harness run --url ... --token ... --token-b ... --model-stub-url ...`` over every
non-browser check. Prints the median wall time and the number of model calls the run made.

With ``--compare REV`` the same run is made, side by side, with the harness of git revision
REV (checked out into a temporary worktree and put first on PYTHONPATH), so the before and
after figures come from one machine in one sitting.

    .venv/bin/python benchmarks/real_latency.py [--quick] [--runs N] [--compare REV]
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_util import (
    dev_key,
    drop_worktree,
    header,
    line,
    median,
    parser,
    show_phases,
    token,
    worktree,
)

GOAL_S = 15.0
GOAL_CALLS = 20
FIRST_TOKEN, PER_TOKEN = 0.8, 0.03


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(argv: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for out in proc.stdout:
        m = re.search(ready, out)
        if m:
            # Keep draining so a full pipe never blocks the server.
            import threading

            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"{argv[:4]} did not start")


def model_calls(stub: str) -> int:
    root = stub.removesuffix("/v1")
    rows = httpx.get(f"{root}/_stub/requests", timeout=10).json()
    records = rows.get("requests", rows) if isinstance(rows, dict) else rows
    return sum(
        1
        for r in records
        if str(r.get("endpoint", "")).endswith(("/responses", "/chat/completions"))
    )


def one_run(pythonpath: str | None) -> tuple[float, int, dict[str, int]]:
    env = {**os.environ, "NO_COLOR": "1", "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    stub_port = free_port()
    stub_proc, _ = start(
        [
            sys.executable,
            "-m",
            "harness.glass.model_stub",
            "--port",
            str(stub_port),
            "--first-token-delay",
            str(FIRST_TOKEN),
            "--token-delay",
            str(PER_TOKEN),
        ],
        env,
        r"(http://127\.0\.0\.1:\d+\S*)",
    )
    stub = f"http://127.0.0.1:{stub_port}/v1"
    key = dev_key()
    server_env = {**env, "OPENAI_BASE_URL": stub, "OPENAI_API_KEY": "sk-stub"}
    server, url = start(
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
            "--model",
            "openai",
            "--dev-key",
            str(key),
        ],
        server_env,
        r"listening on (http://\S+)",
    )
    before = model_calls(stub)
    run_env = dict(env)
    if pythonpath:
        run_env["PYTHONPATH"] = pythonpath
    try:
        with tempfile.TemporaryDirectory(prefix="real-latency-") as tmp:
            report = Path(tmp, "out.json")
            argv = [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                "--plain",
                "--json",
                str(report),
                "--url",
                url,
                "--token",
                token(key, "alice"),
                "--token-b",
                token(key, "bob"),
                "--model-stub-url",
                stub,
                "--exclude",
                "browser.*",
                "--exclude",
                "proxy.*",
            ]
            t0 = time.monotonic()
            proc = subprocess.run(
                argv, capture_output=True, text=True, cwd=tmp, env=run_env, timeout=900
            )
            wall = time.monotonic() - t0
            if not report.is_file():
                raise SystemExit(f"no report (exit {proc.returncode}): {proc.stderr[-500:]}")
            doc = json.loads(report.read_text())
            counts = doc["counts"]
            if not pythonpath:
                show_phases(doc.get("probes", []))
        return wall, model_calls(stub) - before, counts
    finally:
        server.terminate()
        stub_proc.terminate()
        server.wait(10)
        stub_proc.wait(10)


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, help="repetitions (default 3, --quick 1)")
    p.add_argument("--compare", metavar="REV", help="also run the harness of git revision REV")
    ns = p.parse_args()
    runs = ns.runs or (1 if ns.quick else 3)
    header(
        f"whole suite, model at {FIRST_TOKEN} s to first token and {PER_TOKEN * 1000:.0f} ms a "
        f"token, {runs} runs"
    )
    sides: list[tuple[str, str | None]] = [("this tree", None)]
    old = None
    if ns.compare:
        old = worktree(ns.compare)
        sides.append((ns.compare, old))
    results: dict[str, list[tuple[float, int]]] = {name: [] for name, _ in sides}
    try:
        for i in range(runs):
            for name, path in sides:  # interleaved, so machine noise hits both alike
                wall, calls, counts = one_run(path)
                results[name].append((wall, calls))
                print(f"run {i + 1} {name}: {wall:5.1f} s, {calls} model calls, {counts}")
    finally:
        if old:
            drop_worktree(old)
    for name, rows in results.items():
        wall = median([w for w, _ in rows])
        calls = int(median([float(c) for _, c in rows]))
        met = name == "this tree"
        line(
            f"wall, {name}",
            f"median {wall:.1f} s",
            f"<= {GOAL_S:.0f} s",
            wall <= GOAL_S if met else None,
        )
        line(
            f"model calls, {name}",
            f"{calls}",
            f"<= {GOAL_CALLS}",
            calls <= GOAL_CALLS if met else None,
        )
    if len(results) == 2:
        new, before = (median([w for w, _ in r]) for r in results.values())
        print(f"speed-up: {before / new:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
