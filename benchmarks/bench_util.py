"""Shared bits of the benchmark scripts: options, statistics, goal lines, servers, memory.

Every script prints its figures with the goal next to them; ``--quick`` runs fewer
repetitions (a smoke run), the default runs enough for stable medians.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# As scripts/run does: the processes a benchmark starts keep their bytecode under .cache/,
# so an environment with PYTHONDONTWRITEBYTECODE (common in containers) does not time the
# compiler instead of the harness.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(ROOT / ".cache" / "pycache"))


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(description or "").splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions: a smoke run")
    return p


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank: a value that was actually observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def verdict(met: bool) -> str:
    return "goal met" if met else "goal NOT met"


def line(label: str, figure: str, goal: str, met: bool | None) -> None:
    """One result: the figure, the goal, and whether it was met."""
    status = "" if met is None else f"  [{verdict(met)}]"
    print(f"{label:<44} {figure:<28} goal: {goal}{status}", flush=True)


def peak_rss_mb(pid: int) -> float:
    """VmHWM (the peak resident set) of a live process, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return math.nan
    for row in status.splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return math.nan


def dev_key(folder: str | None = None) -> Path:
    """A fresh development-issuer key the reference server will trust via --dev-key."""
    from reference_server.dev_issuer import load_dev_key

    path = Path(folder or tempfile.mkdtemp(prefix="bench-")) / "dev-key.pem"
    load_dev_key(path)
    return path


def token(key: Path, user: str) -> str:
    from reference_server.dev_issuer import mint_dev_token

    return mint_dev_token(user, key_path=key)


def pg_url() -> str:
    return os.environ.get("CHATKIT_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test")


def pg_available() -> bool:
    import asyncio

    import asyncpg

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(pg_url(), timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def drop_pg_tables(prefix: str) -> None:
    import asyncio

    from reference_server.db import normalize_database_url
    from reference_server.store import SqlStore

    async def drop() -> None:
        store = SqlStore(normalize_database_url(pg_url()), table_prefix=prefix)
        try:
            await store.drop_tables()
        finally:
            await store.close()

    asyncio.run(drop())


def worktree(rev: str) -> str:
    """A detached checkout of git revision REV, for a side-by-side run with this tree."""
    path = tempfile.mkdtemp(prefix="bench-rev-")
    subprocess.run(
        ["git", "worktree", "add", "--detach", path, rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return path


def drop_worktree(path: str) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", path], cwd=ROOT, check=False)


def header(title: str) -> None:
    print(f"== {title}  (python {sys.version.split()[0]}, {os.cpu_count()} cores)", flush=True)


def show_phases(probes: list[dict[str, Any]]) -> None:
    """Where the run's time went: the record phase's longest probes, then the quiet phase."""
    if not probes:
        return
    busy = [p for p in probes if not p["quiet"]]
    quiet = [p for p in probes if p["quiet"]]
    end = lambda p: float(p["started"]) + float(p["elapsed"])  # noqa: E731
    if busy:
        slow = sorted(busy, key=end, reverse=True)[:4]
        print(
            f"  record phase {max(map(end, busy)):.1f} s; last to finish: "
            + ", ".join(f"{p['name']} {end(p):.1f} s" for p in slow)
        )
    if quiet:
        print(
            f"  quiet phase {sum(float(p['elapsed']) for p in quiet):.1f} s: "
            + ", ".join(f"{p['name']} {float(p['elapsed']):.1f} s" for p in quiet)
        )
