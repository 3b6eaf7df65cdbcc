"""Consecutive runs of the whole suite against the correct reference server: zero failures.

    .venv/bin/python benchmarks/stability.py [RUNS]      (default 5)

Each run is a fresh ``chatkit-harness run`` process (the bundled server started anew), so the
figure covers start-up, timing checks and canaries together. Prints one line per run and the
total; exits 1 if any run had a failing, warning or erroring check.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(out: Path) -> tuple[float, dict[str, str]]:
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "harness.cli", "run", "--plain", "--json", str(out)]
    cmd += ["--exclude", "browser.*", "--exclude", "proxy.*"]
    subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    data = json.loads(out.read_text())
    return wall, {c["id"]: c["outcome"] for c in data["checks"]}


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    walls: list[float] = []
    bad_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            wall, outcomes = one_run(Path(tmp) / f"run{i}.json")
            walls.append(wall)
            bad = sorted(k for k, v in outcomes.items() if v in ("fail", "warn", "error"))
            bad_total += len(bad)
            passed = sum(v == "pass" for v in outcomes.values())
            print(
                f"run {i + 1}/{runs}: {passed} passed, {len(bad)} failed"
                f"{' (' + ', '.join(bad) + ')' if bad else ''}, {wall:.1f} s",
                flush=True,
            )
    print(
        f"stability: {bad_total} failures in {runs} consecutive runs "
        f"(goal 0); median wall {statistics.median(walls):.1f} s"
    )
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())
