"""Timing accuracy: the harness's time to first byte against curl's, on the same endpoint.

A tiny server (its own process, so it never competes with the measuring one for the GIL)
answers every POST with a known first-byte delay of 200 ms, then a short event stream. Each
round measures once with the harness (``RecordedStream.ttfb``, a fresh connection, as curl
has) and once with ``curl -w %{time_starttransfer}``, alternating; the goal is a median
difference within 5 ms.

    .venv/bin/python benchmarks/ttfb_accuracy.py [--quick] [--rounds N] [--delay S]
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import shutil
import subprocess
import sys
from multiprocessing.connection import Connection

from bench_util import header, line, median, parser

GOAL_MS = 5.0
BODY = json.dumps(
    {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [{"type": "input_text", "text": "hi"}],
                "attachments": [],
                "inference_options": {},
            }
        },
    }
).encode()


def serve(delay: float, ready: Connection) -> None:
    """Answer every request after ``delay`` seconds: head and first event together."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for row in head.split(b"\r\n"):
                name, _, value = row.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            await asyncio.sleep(delay)
            event = b'data: {"type":"thread.created","thread":{"id":"thr_1"}}\n\n'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Connection: close\r\n\r\n" + event
            )
            await writer.drain()
            for _ in range(3):
                await asyncio.sleep(0.01)
                writer.write(b'data: {"type":"progress_update","text":"x"}\n\n')
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def harness_ttfb(url: str) -> float:
    from harness.protocol.client import ChatKitClient
    from harness.target.config import Target

    async with ChatKitClient(Target(url=url, token="x", timeout=10)) as client:
        rec = await client.stream_raw(BODY, request_type="threads.create")
    if rec.ttfb is None or rec.status != 200:
        raise SystemExit(f"harness request failed: {rec.transport_error or rec.status}")
    return rec.ttfb


def curl_ttfb(url: str) -> float:
    out = subprocess.run(
        [
            *("curl", "-s", "-o", "/dev/null", "-w", "%{time_starttransfer}", "-X", "POST"),
            *("-H", "Content-Type: application/json", "--data-binary", "@-", url),
        ],
        input=BODY,
        capture_output=True,
        check=True,
        timeout=30,
    )
    return float(out.stdout.decode())


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, help="measurements of each (default 40, --quick 10)")
    p.add_argument("--delay", type=float, default=0.2, help="first-byte delay in s (0.2)")
    ns = p.parse_args()
    if shutil.which("curl") is None:
        print("curl is not installed: cannot compare (apt-get install curl)")
        return 2
    rounds = ns.rounds or (10 if ns.quick else 40)
    header(f"TTFB accuracy, harness vs curl, known first-byte delay {ns.delay * 1000:.0f} ms")
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=serve, args=(ns.delay, child), daemon=True)
    proc.start()
    try:
        port = parent.recv()
        url = f"http://127.0.0.1:{port}/chatkit"
        ours, theirs = [], []
        curl_ttfb(url)  # warm-up: page cache, first fork of curl
        asyncio.run(harness_ttfb(url))
        for _ in range(rounds):
            ours.append(asyncio.run(harness_ttfb(url)))
            theirs.append(curl_ttfb(url))
    finally:
        proc.terminate()
        proc.join(5)
    diffs = [(a - b) * 1000 for a, b in zip(ours, theirs, strict=True)]
    print(f"harness TTFB  median {median(ours) * 1000:7.2f} ms  (min {min(ours) * 1000:.2f})")
    print(f"curl TTFB     median {median(theirs) * 1000:7.2f} ms  (min {min(theirs) * 1000:.2f})")
    print(f"known delay          {ns.delay * 1000:7.2f} ms")
    diff = median(diffs)
    line(
        f"TTFB harness - curl, {rounds} rounds",
        f"median {diff:+.2f} ms",
        f"within ±{GOAL_MS:.0f} ms",
        abs(diff) <= GOAL_MS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
