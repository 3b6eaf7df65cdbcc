"""The whole non-browser suite against every hostile target: how long, how much memory.

tests/test_hostile.py runs a subset against the slow and heavy modes to stay quick; this
runs everything (``--quick``: the same subsets as the tests) with ``--timeout 3``, several
modes at once, and prints per mode the exit code, wall time, the harness's CPU time and peak
RSS, and the longest single check. Goals: every run ends by itself (no hang), exit 1 or 2,
no traceback, peak RSS under 1 GiB.

    .venv/bin/python benchmarks/hostile.py [--quick] [--modes a,b,...] [--jobs N]
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from bench_util import header, line, parser

from harness.testing.hostile import MODES, CliRun, HostileServer, run_cli

TIMEOUT = 3.0
RSS_GOAL_MB = 1024
SLOW = {"endless", "drip", "keepalive-only", "stall", "silent"}
HEAVY = {"flood", "big-event", "gzip-bomb"}
STREAM_CHECKS = ["protocol.framing", "sse.unbuffered", "errors.connection-survives"]


def quick_selection(mode: str) -> list[str]:
    if mode in SLOW:
        return [arg for check_id in STREAM_CHECKS for arg in ("--select", check_id)]
    if mode in HEAVY:
        return ["--select", "protocol.*"]
    return []


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--modes", help="comma-separated modes (default: all)")
    p.add_argument("--jobs", type=int, default=6, help="runs at once (6)")
    ns = p.parse_args()
    modes = ns.modes.split(",") if ns.modes else sorted(MODES)
    unknown = set(modes) - set(MODES)
    if unknown:
        print(f"unknown modes: {sorted(unknown)}; known: {', '.join(sorted(MODES))}")
        return 2
    scope = "test subsets" if ns.quick else "whole non-browser suite"
    header(f"hostile targets, {scope}, --timeout {TIMEOUT:g}, {len(modes)} modes")
    with HostileServer() as server, ThreadPoolExecutor(max_workers=ns.jobs) as pool:
        futures = {
            mode: pool.submit(
                run_cli,
                server.url(mode),
                *(quick_selection(mode) if ns.quick else []),
                timeout=TIMEOUT,
                kill_after=3600,
            )
            for mode in sorted(modes, key=lambda m: m not in SLOW)
        }
        runs: dict[str, CliRun] = {mode: f.result() for mode, f in futures.items()}
    hung = tracebacks = over = 0
    for mode in modes:
        run = runs[mode]
        checks = run.checks
        longest = max(checks.values(), key=lambda c: c["duration"], default=None)
        worst = f"{longest['id']} {longest['duration']:.1f} s" if longest else "-"
        traceback = "Traceback" in run.stdout + run.stderr
        hung += run.killed
        tracebacks += traceback
        over += run.peak_rss_mb >= RSS_GOAL_MB
        print(
            f"{mode:<19} exit {run.returncode}  {run.wall:6.1f} s wall  {run.cpu:5.1f} s cpu  "
            f"{run.peak_rss_mb:6.0f} MB  {len(checks):>2} checks, longest {worst}"
            + ("  TRACEBACK" if traceback else "")
            + ("  HUNG" if run.killed else ""),
            flush=True,
        )
    worst_rss = max(r.peak_rss_mb for r in runs.values())
    worst_wall = max(r.wall for r in runs.values())
    line("runs that hung", f"{hung}/{len(modes)}", "0", hung == 0)
    line("runs that printed a traceback", f"{tracebacks}/{len(modes)}", "0", tracebacks == 0)
    exits = sorted({r.returncode for r in runs.values()})
    line("exit codes", ", ".join(map(str, exits)), "1 or 2", set(exits) <= {1, 2})
    line("highest peak RSS", f"{worst_rss:.0f} MB", f"< {RSS_GOAL_MB} MB", over == 0)
    line("longest run", f"{worst_wall:.0f} s", "bounded (requests x timeout)", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
