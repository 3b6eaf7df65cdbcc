"""Reference server capacity: 10, 50 and 200 concurrent conversations, SQLite and PostgreSQL.

Each conversation is one threads.create stream from its own user (offline model, default
token delay), all sent at once. Per level: how many completed (a finished assistant message,
no error event), p50/p95 time to first event, p95 time to the first text delta (beyond the
server's max_generations streams, a turn waits for a slot after its first events), events
per second over the level's wall time,
and the server's peak RSS (VmHWM) so far. Figures are medians over repeated rounds. The load
generator runs on the same 2 cores as the server, so the figures are a floor.

Goal: 200 concurrent, all complete, p95 time to first event < 1 s, peak RSS < 400 MB.

    .venv/bin/python benchmarks/capacity.py [--quick] [--rounds N] [--levels 10,50,200]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench_util import (
    dev_key,
    drop_pg_tables,
    header,
    line,
    median,
    parser,
    peak_rss_mb,
    percentile,
    pg_available,
    pg_url,
    token,
)

from harness.target.launch import start_reference_server

GOAL_LEVEL, GOAL_P95_S, GOAL_RSS_MB = 200, 1.0, 400.0


@dataclass
class Conversation:
    ttfe: float | None = None  # seconds from send to the first complete event
    ttft: float | None = None  # seconds from send to the chunk with the first text delta
    events: int = 0
    complete: bool = False
    error: str = ""


def _body(i: int) -> bytes:
    text = f"hello from conversation {i}"
    content = [{"type": "input_text", "text": text}]
    params = {"input": {"content": content, "attachments": [], "inference_options": {}}}
    return json.dumps({"type": "threads.create", "params": params}).encode()


async def converse(host: str, port: int, path: str, bearer: str, i: int) -> Conversation:
    """One conversation over a raw socket: httpx costs more CPU than the server it measures
    (10 s of client CPU for 200 streams on these 2 cores), so the load generator stays lean."""
    conv = Conversation()
    payload = _body(i)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {bearer}\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + payload
    body = bytearray()
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        await writer.drain()
        head_end = -1
        while chunk := await reader.read(65536):
            body += chunk
            if head_end < 0:
                head_end = body.find(b"\r\n\r\n")
            if conv.ttfe is None and head_end >= 0 and body.find(b"\n\n", head_end + 4) >= 0:
                conv.ttfe = time.monotonic() - t0
            if conv.ttft is None and b"text_delta" in chunk:
                conv.ttft = time.monotonic() - t0
        writer.close()
    except OSError as exc:
        conv.error = f"{type(exc).__name__}: {exc}"
        return conv
    status = body[:12].decode("latin-1")
    if not status.startswith("HTTP/1.1 200"):
        conv.error = status or "no answer"
        return conv
    conv.events = body.count(b"\n\n") - 1  # the head ends in CRLF CRLF, not in two LFs
    finished = b'"type":"assistant_message"' in body and b'"type":"thread.item.done"' in body
    conv.complete = finished and b'"type":"error"' not in body and body.endswith(b"0\r\n\r\n")
    if not conv.complete:
        conv.error = "stream ended without a finished reply"
    return conv


async def level_round(url: str, bearers: list[str], n: int) -> tuple[list[Conversation], float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    t0 = time.monotonic()
    convs = await asyncio.gather(
        *(converse(host, port, parts.path, bearers[i], i) for i in range(n))
    )
    return list(convs), time.monotonic() - t0


def run_backend(
    name: str, args: list[str], levels: list[int], rounds: int
) -> dict[int, dict[str, float]]:
    key = dev_key()
    bearers = [token(key, f"user{i}") for i in range(max(levels))]
    server = start_reference_server([*args, "--dev-key", str(key)], timeout=60)
    out: dict[int, dict[str, float]] = {}
    try:
        asyncio.run(level_round(server.url, bearers, 2))  # warm-up: pool, imports, first writes
        for n in levels:
            p50s, p95s, ttft95s, rates, done = [], [], [], [], []
            errors: list[str] = []
            for _ in range(rounds):
                convs, wall = asyncio.run(level_round(server.url, bearers, n))
                ttfes = [c.ttfe for c in convs if c.ttfe is not None]
                p50s.append(percentile(ttfes, 50))
                p95s.append(percentile(ttfes, 95))
                ttft95s.append(percentile([c.ttft for c in convs if c.ttft is not None], 95))
                rates.append(sum(c.events for c in convs) / wall)
                done.append(sum(c.complete for c in convs))
                errors += [c.error for c in convs if c.error]
            rss = peak_rss_mb(server.proc.pid)
            out[n] = {"p50": median(p50s), "p95": median(p95s), "eps": median(rates)}
            out[n]["ttft95"] = median(ttft95s)
            out[n].update(complete=float(min(done)), rss=rss)
            print(
                f"{name:<10} {n:>4} concurrent: {min(done)}/{n} complete, TTFE p50 "
                f"{out[n]['p50'] * 1000:6.0f} ms, p95 {out[n]['p95'] * 1000:6.0f} ms, TTFT p95 "
                f"{out[n]['ttft95'] * 1000:6.0f} ms, "
                f"{out[n]['eps']:7.0f} events/s, server peak RSS {rss:5.0f} MB"
                + (f"; errors: {sorted(set(errors))[:3]}" if errors else ""),
                flush=True,
            )
    finally:
        server.stop()
    return out


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, help="rounds per level (default 3, --quick 1)")
    p.add_argument("--levels", default="10,50,200", help="concurrency levels (10,50,200)")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    ns = p.parse_args()
    rounds = ns.rounds or (1 if ns.quick else 3)
    levels = [int(x) for x in ns.levels.split(",")]
    header(f"reference server capacity, levels {levels}, {rounds} round(s) each")
    backends: list[tuple[str, list[str], str | None]] = []
    tmp = tempfile.mkdtemp(prefix="capacity-")
    backends.append(("sqlite", ["--db", str(Path(tmp, "store.sqlite3"))], None))
    if not ns.no_postgres:
        if pg_available():
            pg_prefix = f"cap{uuid.uuid4().hex[:10]}_"
            pg_args = ["--database-url", pg_url(), "--table-prefix", pg_prefix]
            backends.append(("postgres", pg_args, pg_prefix))
        else:
            print(f"postgres: not reachable at {pg_url()}; not measured")
    results = {}
    for name, args, prefix in backends:
        try:
            results[name] = run_backend(name, args, levels, rounds)
        finally:
            if prefix:
                drop_pg_tables(prefix)
    for name, by_level in results.items():
        top = by_level.get(GOAL_LEVEL)
        if top is None:
            print(f"{name}: level {GOAL_LEVEL} not run; goal not judged")
            continue
        line(
            f"{name}: {GOAL_LEVEL} concurrent complete",
            f"{top['complete']:.0f}/{GOAL_LEVEL}",
            "all",
            top["complete"] == GOAL_LEVEL,
        )
        line(
            f"{name}: p95 time to first event at {GOAL_LEVEL}",
            f"{top['p95'] * 1000:.0f} ms",
            f"< {GOAL_P95_S * 1000:.0f} ms",
            top["p95"] < GOAL_P95_S,
        )
        line(
            f"{name}: server peak RSS",
            f"{top['rss']:.0f} MB",
            f"< {GOAL_RSS_MB:.0f} MB",
            top["rss"] < GOAL_RSS_MB,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
