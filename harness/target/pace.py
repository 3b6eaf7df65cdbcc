"""The bundled reference server's pace: fast for the run, slower for the one timed stream.

Its offline model sleeps before every text delta. Only one verdict needs that pace:
sse.unbuffered reads the stream-timing probe's reply, which must bring at least 5 deltas
over 300 ms. Every other turn of a run paid it too, one turn after another in the long
chains (0.25 s of a 2.3 s record phase, measured). So the harness starts the server at
RUN_TOKEN_DELAY with ``--pace-control`` and sets TIMED_TOKEN_DELAY for the timed stream
alone, through the server's ``POST /_reference/pace``; the stream-timing probe runs in the
quiet phase, when nothing else is streaming.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx

from harness.protocol.tls import tls_context

# 1 ms, not 0: a reply still streams as deltas apart in time, so the stop button lands
# mid-stream (cancel.*) and no delta loop runs without yielding to the event loop.
RUN_TOKEN_DELAY = 0.001
# 5 ms: the counting reply's 80 deltas stream over 400 ms, enough for the buffering verdict.
TIMED_TOKEN_DELAY = 0.005
PACE_PATH = "/_reference/pace"  # reference_server.pace


class PaceError(RuntimeError):
    """The bundled server did not take its pace: a timed stream would judge the wrong pace."""


def server_args() -> list[str]:
    """The bundled server's pace options."""
    return ["--token-delay", str(RUN_TOKEN_DELAY), "--pace-control"]


def pace_url(chatkit_url: str) -> str:
    parts = urlsplit(chatkit_url)
    return f"{parts.scheme}://{parts.netloc}{PACE_PATH}"


async def _set(client: httpx.AsyncClient, url: str, delay: float) -> None:
    try:
        resp = await client.post(url, json={"token_delay": delay})
    except httpx.HTTPError as exc:
        raise PaceError(f"cannot set the bundled server's pace: {exc}") from None
    if resp.status_code != 200:
        raise PaceError(f"the bundled server refused its pace: HTTP {resp.status_code}")


@asynccontextmanager
async def timed(url: str | None) -> AsyncIterator[None]:
    """TIMED_TOKEN_DELAY inside the block, RUN_TOKEN_DELAY after; nothing when ``url`` is
    None (a deployment, or the bundled server on the model stub, which keeps its own)."""
    if url is None:
        yield
        return
    async with httpx.AsyncClient(timeout=10, verify=tls_context()) as client:
        await _set(client, url, TIMED_TOKEN_DELAY)
        try:
            yield
        finally:
            await _set(client, url, RUN_TOKEN_DELAY)
