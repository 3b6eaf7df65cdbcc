"""Fuzzing the reference server with many more bodies than CI sends.

The same strategies and checks as tests/test_fuzz.py (tests/fuzz_support.py): on one
keep-alive connection, never a 5xx (but the deliberate 501 of unimplemented types), never a
dropped connection or a broken stream, only 401 without a credential, and user A's threads
unchanged at the end. Prints the bodies sent, their rate, the answers, and any violation.

    .venv/bin/python benchmarks/fuzz.py [--quick] [--cases N] [--seed S]
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from bench_util import ROOT, dev_key, header, line, parser, token

sys.path.insert(0, str(ROOT / "tests"))

from fuzz_support import (
    Case,
    Ids,
    KeepAlive,
    cases,
    check_answer,
    seed_threads,
    snapshot,
)
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from harness.target.launch import start_reference_server


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--cases", type=int, help="bodies to send (default 20000, --quick 2000)")
    p.add_argument("--seed", type=int, default=0, help="hypothesis seed (0)")
    ns = p.parse_args()
    target = ns.cases or (2000 if ns.quick else 20000)
    header(f"fuzzing the reference server, {target} bodies")
    key = dev_key()
    args = ["--db", ":memory:", "--token-delay", "0", "--dev-key", str(key)]
    server = start_reference_server(args)
    conn = KeepAlive(server.url, {who: token(key, who) for who in ("a", "b")})
    violations: Counter[str] = Counter()
    first_violation = ""
    try:
        a_threads, a_items = seed_threads(conn, "a", 2)
        b_threads, b_items = seed_threads(conn, "b", 1)
        ids = Ids(tuple(a_threads), tuple(a_items), tuple(b_threads), tuple(b_items))
        before = snapshot(lambda body: conn.post(body, "a"), ids.a_threads)
        start, t0 = conn.sent, time.monotonic()

        @seed(ns.seed)
        @settings(
            max_examples=target // 6 + 1,  # at least 6 bodies each
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(cases(ids), min_size=6, max_size=10))
        def prop(batch: list[Case]) -> None:
            nonlocal first_violation
            for case in batch:
                try:
                    check_answer(case, conn.post(case.body, case.who))
                except AssertionError as exc:
                    # Count and go on: a benchmark reports every kind of violation.
                    violations[str(exc).split(" for ")[0][:80]] += 1
                    first_violation = first_violation or str(exc)[:500]
                    if "closed the connection" in str(exc):
                        conn.reconnect()

        prop()
        sent, wall = conn.sent - start, time.monotonic() - t0
        after = snapshot(lambda body: conn.post(body, "a"), ids.a_threads)
    finally:
        conn.close()
        server.stop()
    print(f"answers: {dict(sorted(conn.statuses.items()))}")
    if first_violation:
        print(f"first violation: {first_violation}")
    rate = f"{sent} in {wall:.0f} s ({sent / wall:.0f}/s)"
    line("bodies sent", rate, f">= {target}", sent >= target)
    count = str(sum(violations.values()))
    line("violations (5xx, drops, broken streams)", count, "0", not violations)
    for kind, n in violations.most_common():
        print(f"  {n:>6}  {kind}")
    line("user A's threads unchanged", str(after == before), "True", after == before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
