"""Time to verdict: the whole non-browser suite against the bundled reference server.

Measured from process start, as CI pays it: ``chatkit-harness run --exclude 'browser.*'
--exclude 'proxy.*'`` with no URL, so the harness starts the reference server itself. Prints
the median wall time of repeated runs, where the time goes (server start-up, the record and
quiet phases), and then runs benchmarks/browser_time.py for the browser checks when it is there.

With ``--compare REV`` each run is paired with one of git revision REV (checked out into a
temporary worktree and put first on PYTHONPATH, so its harness and its reference server both
run), interleaved, so that the before and after figures share the machine's noise.

    .venv/bin/python benchmarks/time_to_verdict.py [--quick] [--runs N] [--no-browser]
        [--compare REV]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_util import (
    ROOT,
    drop_worktree,
    header,
    line,
    median,
    parser,
    show_phases,
    worktree,
)

GOAL_S = 5.0


def one_run(pythonpath: str | None = None) -> tuple[float, list[dict[str, Any]], dict[str, int]]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with tempfile.TemporaryDirectory(prefix="ttv-") as tmp:
        report = Path(tmp, "out.json")
        argv = [sys.executable, "-m", "harness.cli", "run", "--plain", "--json", str(report)]
        argv += ["--exclude", "browser.*", "--exclude", "proxy.*"]
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, env=env, timeout=600)
        wall = time.monotonic() - t0
        if not report.is_file():
            raise SystemExit(f"no report (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        data = json.loads(report.read_text(encoding="utf-8"))
    return wall, list(data.get("probes") or []), data["counts"]


def startup_seconds() -> float:
    """How long the bundled reference server takes to become ready on its own."""
    from harness.target.launch import start_reference_server

    launched = start_reference_server(["--db", ":memory:"])
    launched.stop()
    return launched.startup_seconds


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, help="repetitions (default 5, --quick 2)")
    p.add_argument("--no-browser", action="store_true", help="skip benchmarks/browser_time.py")
    p.add_argument("--compare", metavar="REV", help="also run git revision REV, interleaved")
    ns = p.parse_args()
    runs = ns.runs or (2 if ns.quick else 5)
    header(f"time to verdict, non-browser suite, bundled reference server, {runs} runs")
    walls: list[float] = []
    runs_probes: list[list[dict[str, Any]]] = []
    old = worktree(ns.compare) if ns.compare else None
    old_walls: list[float] = []
    try:
        for i in range(runs):
            wall, probes, counts = one_run()
            walls.append(wall)
            runs_probes.append(probes)
            checks = sum(counts.values())
            print(f"run {i + 1}: {wall:5.1f} s wall, {checks} checks, {counts}", flush=True)
            if old:
                wall, _, counts = one_run(old)
                old_walls.append(wall)
                checks = sum(counts.values())
                print(f"run {i + 1} {ns.compare}: {wall:5.1f} s wall, {checks} checks", flush=True)
    finally:
        if old:
            drop_worktree(old)
    boot = median([startup_seconds() for _ in range(min(runs, 3))])
    print("where the time goes (the median run):")
    print(f"  reference server start-up alone, not prewarmed  {boot:5.2f} s")
    show_phases(runs_probes[walls.index(sorted(walls)[len(walls) // 2])])
    total = median(walls)
    line(
        "non-browser suite, from process start",
        f"median {total:.1f} s (min {min(walls):.1f})",
        f"< {GOAL_S:.0f} s on 2 cores",
        total < GOAL_S,
    )
    if old_walls:
        before = median(old_walls)
        line(
            f"the same, {ns.compare}",
            f"median {before:.1f} s (min {min(old_walls):.1f})",
            "-",
            None,
        )
        print(f"this tree takes {total / before:.2f}x as long as {ns.compare}")
    browser = ROOT / "benchmarks" / "browser_time.py"
    if ns.no_browser:
        return 0
    if not browser.is_file():
        print("browser checks: benchmarks/browser_time.py is not there; not measured")
        return 0
    print(flush=True)
    browser_runs = "1" if ns.quick else "3"
    done = subprocess.run([sys.executable, str(browser), browser_runs], cwd=ROOT, check=False)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
