"""Consecutive runs of the browser matrix: every run must give the same verdicts (goal: N/N).

    .venv/bin/python benchmarks/browser_stability.py [RUNS] [--quick]   (default 20; quick 3)

One run is every case of harness/testing/browser_matrix.py (a fresh harness process each, two
at a time, as tests/test_browser_matrix.py runs them), against fixture stacks started once.
The verdict of a check is its outcome and, when blocked, its root. Prints one line per run,
naming any case whose verdicts differ from the first run's or from the matrix, then the count
of runs identical to the first. Exits 1 if any run differed or left the matrix. Heavy (a
Chromium per case): run it on a quiet machine.
"""

from __future__ import annotations

import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.browser.fixture_server import FixtureStack
from harness.testing.browser_matrix import CASES, Case, mismatches, run_case, stacks, verdicts

Verdicts = dict[str, dict[str, str]]  # case -> check id -> verdict


def one_run(running: dict[str, FixtureStack], workdir: Path) -> tuple[float, Verdicts, list[str]]:
    def run(case: Case) -> tuple[dict[str, str], list[str]]:
        results = run_case(case, running[case.backend], workdir)
        off = [f"{case.name}: {m}" for m in mismatches(case, results)]
        if off:  # what the stray verdicts said, to tell a flake from a finding
            off += [
                f"{case.name}.{cid}: {r['message']} / {r['actual']}"
                for cid, r in results.items()
                if r["outcome"] in ("fail", "warn", "error") and cid not in case.broken
            ]
        return verdicts(results), off

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(run, CASES))
    off = [m for _, ms in done for m in ms]
    return time.monotonic() - t0, {c.name: v for c, (v, _) in zip(CASES, done, strict=True)}, off


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # A bounded run (`timeout 25m ...`) ends with SIGTERM: unwind, so the fixture stacks'
    # servers stop with it instead of outliving the benchmark.
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    quick = "--quick" in argv
    numbers = [a for a in argv if a.isdigit()]
    runs = int(numbers[0]) if numbers else (3 if quick else 20)
    first: Verdicts | None = None
    identical = off_runs = 0
    walls: list[float] = []
    with stacks() as running, tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            wall, got, off = one_run(running, Path(tmp))
            walls.append(wall)
            first = first or got
            changed = [
                f"{case}.{cid}: {first[case][cid]} -> {v}"
                for case, checks in got.items()
                for cid, v in checks.items()
                if first[case][cid] != v
            ]
            identical += not changed
            off_runs += bool(off)
            notes = "; ".join(changed + off)
            print(
                f"run {i + 1}/{runs}: {len(got)} cases x {len(next(iter(got.values())))} checks, "
                f"{'identical' if not changed else 'DIFFERS'}"
                f"{', off the matrix' if off else ''}, {wall:.0f} s"
                + (f" ({notes})" if notes else ""),
                flush=True,
            )
    print(
        f"browser stability: {identical}/{runs} runs gave verdicts identical to the first "
        f"(goal {runs}/{runs}), {off_runs} off the matrix (goal 0); median wall "
        f"{statistics.median(walls):.0f} s per matrix run"
    )
    return 0 if identical == runs and not off_runs else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("browser stability: interrupted (count the run lines above)", flush=True)
        sys.exit(130)
