"""Wall time of the browser checks against the served correct fixture page (goal: < 20 s).

Starts the test issuer, the bundled reference server (behind the fixture site's CORS front)
and the fixture site, then runs, as a user would::

    chatkit-harness run --url API --token T --frontend-url SITE/correct.html \\
        --frontend-cookie 'auth_token={token}' --script standin --select 'browser.*' ...

and prints the wall time of the whole command and the time spent in the checks themselves
(their setup included: browser start, page loads). Usage: python benchmarks/browser_time.py [N]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.browser.fixture_server import FixtureStack

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 20.0


def one_run(stack: FixtureStack) -> tuple[float, float, dict[str, str]]:
    opts = stack.harness_options("correct.html")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "results.json"
        argv = [sys.executable, "-m", "harness.cli", "run"]
        for name, value in opts.items():
            argv += [f"--{name}", value]
        argv += ["--select", "browser.*", "--select", "proxy.*", "--json", str(report), "--plain"]
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300)
        wall = time.monotonic() - t0
        if not report.is_file():
            raise SystemExit(f"no report (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        data = json.loads(report.read_text(encoding="utf-8"))
    checks = data["checks"]
    in_checks = sum(float(c.get("duration", 0.0)) for c in checks)
    return wall, in_checks, {c["id"]: c["outcome"] for c in checks}


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    walls, inside = [], []
    with FixtureStack({"/": ROOT / "fixtures" / "pages"}) as stack:
        for i in range(runs):
            wall, in_checks, outcomes = one_run(stack)
            walls.append(wall)
            inside.append(in_checks)
            bad = {
                k: v
                for k, v in outcomes.items()
                if v not in ("pass", "not-offered", "skip-untestable")
            }
            print(
                f"run {i + 1}: wall {wall:5.1f} s, in checks {in_checks:5.1f} s, "
                f"{sum(v == 'pass' for v in outcomes.values())} passed"
                + (f", NOT PASSING: {bad}" if bad else "")
            )
    median = statistics.median(walls)
    print(
        f"browser checks, correct page: median wall {median:.1f} s "
        f"(in checks {statistics.median(inside):.1f} s) over {runs} runs; goal < {GOAL_S:.0f} s: "
        + ("met" if median < GOAL_S else "NOT met")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
