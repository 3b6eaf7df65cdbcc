"""The recording client over a real socket: timing, caps, timeouts, compression, context.

A small Starlette app runs under uvicorn on 127.0.0.1 (port 0) in a thread, because
httpx.ASGITransport buffers whole responses and would hide every timing property tested here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harness.protocol.client import (
    ChatKitClient,
    Exchange,
    RecordedStream,
    TargetUnreachable,
    context_headers,
)
from harness.target.config import Target

GAP = 0.060  # seconds between the events of /stream
THREAD_ID = "thr_client01"
ITEM_ID = "msg_client01"
DELTAS = ["Hel", "lo", " there"]
BIG_CHUNK = 64 * 1024
BIG_CHUNKS = 2000  # 128 MiB if anyone read it all
STALL_SECONDS = 30.0

_stop = threading.Event()  # set at teardown so stalled handlers end at once
_sent: dict[str, int] = {}


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def delta(text: str) -> dict[str, Any]:
    return {
        "type": "thread.item.updated",
        "item_id": ITEM_ID,
        "update": {
            "type": "assistant_message.content_part.text_delta",
            "content_index": 0,
            "delta": text,
        },
    }


PAYLOADS: list[dict[str, Any]] = [
    {"type": "thread.created", "thread": {"id": THREAD_ID, "items": {"data": []}}},
    *[delta(d) for d in DELTAS],
    {
        "type": "thread.item.done",
        "item": {
            "id": ITEM_ID,
            "thread_id": THREAD_ID,
            "type": "assistant_message",
            "content": [{"type": "output_text", "text": "".join(DELTAS), "annotations": []}],
        },
    },
]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Fixture": "stream"}


async def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while not _stop.is_set() and time.monotonic() < end:
        await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))


async def stream(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for payload in PAYLOADS:
            await asyncio.sleep(GAP)  # also before the first, so ttfb < first event
            yield sse(payload)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def echo(request: Request) -> Response:
    """Streams back what it received, so tests read the request from the response."""
    raw = await request.body()
    seen = {"headers": dict(request.headers), "body": json.loads(raw)}

    async def body() -> AsyncIterator[bytes]:
        yield sse({"type": "echo", **seen})

    return StreamingResponse(body(), media_type="text/event-stream")


async def json_echo(request: Request) -> Response:
    raw = await request.body()
    return JSONResponse({"received": json.loads(raw), "ok": True}, headers={"X-Fixture": "json"})


async def big(request: Request) -> Response:
    _sent["big"] = 0

    async def body() -> AsyncIterator[bytes]:
        line = b"data: " + b"x" * (BIG_CHUNK - 8) + b"\n\n"
        for _ in range(BIG_CHUNKS):
            # Once the client has gone, uvicorn drops further sends silently: stop counting.
            if _stop.is_set() or await request.is_disconnected():
                return
            _sent["big"] += len(line)
            yield line

    return StreamingResponse(body(), media_type="text/event-stream")


async def stall(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield sse(PAYLOADS[0])
        await _sleep(STALL_SECONDS)  # never finishes within the client's 1 s timeout

    return StreamingResponse(body(), media_type="text/event-stream")


async def gzipped(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        z = zlib.compressobj(wbits=31)  # gzip container
        for payload in PAYLOADS:
            # Sync-flush per event: the bytes leave on schedule, yet stay unreadable
            # to the harness until the whole body is there.
            yield z.compress(sse(payload)) + z.flush(zlib.Z_SYNC_FLUSH)
            await asyncio.sleep(GAP)
        yield z.flush()

    headers = {"Content-Encoding": "gzip"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def odd(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: [DONE]\n\ndata: [1]\n\n"
        yield sse(PAYLOADS[0])
        yield b'data: {"type":"thread.item.done"'  # cut off: no blank line follows

    return StreamingResponse(body(), media_type="text/event-stream")


APP = Starlette(
    routes=[
        Route("/stream", stream, methods=["POST"]),
        Route("/echo", echo, methods=["POST"]),
        Route("/json", json_echo, methods=["POST"]),
        Route("/big", big, methods=["POST"]),
        Route("/stall", stall, methods=["POST"]),
        Route("/gzip", gzipped, methods=["POST"]),
        Route("/odd", odd, methods=["POST"]),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = uvicorn.Config(
        APP,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    _stop.set()
    server.should_exit = True
    thread.join(10)


def client_for(url: str, **target: Any) -> ChatKitClient:
    max_body = target.pop("max_body", None)
    kw = {} if max_body is None else {"max_body": max_body}
    return ChatKitClient(Target(url=url, **target), **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- a timed stream -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timed(base_url: str) -> RecordedStream:
    async def go() -> RecordedStream:
        async with client_for(f"{base_url}/stream") as client:
            return await client.create_thread("hello")

    return asyncio.run(go())


def test_stream_status_headers_and_payloads(timed: RecordedStream) -> None:
    assert timed.status == 200
    assert timed.transport_error is None and timed.truncated is False
    assert (timed.header("content-type") or "").startswith("text/event-stream")
    assert timed.header("x-fixture") == "stream"
    assert timed.header("X-FIXTURE") == "stream"  # names compare case-insensitively
    assert timed.payloads == PAYLOADS
    assert [e.type for e in timed.events] == [p["type"] for p in PAYLOADS]
    assert all(e.error is None for e in timed.events)
    assert timed.thread_id == THREAD_ID
    assert timed.assistant_text == "".join(DELTAS)
    assert timed.request_type == "threads.create"
    assert timed.framing.unterminated is None and timed.framing.line_endings == {"LF"}


def test_stream_raw_chunks_are_the_body(timed: RecordedStream) -> None:
    assert timed.body == b"".join(sse(p) for p in PAYLOADS)
    times = [t for t, _ in timed.chunks]
    assert times == sorted(times)
    # Each event was written 60 ms after the previous one, so none can share a read.
    assert len(timed.chunks) >= len(PAYLOADS)


def test_stream_timing(timed: RecordedStream) -> None:
    assert timed.ttfb is not None and timed.first_event is not None
    assert 0 < timed.ttfb <= timed.first_event
    # The server sleeps GAP before the first event: it cannot arrive earlier.
    assert timed.first_event >= GAP * 0.8
    times = [e.t for e in timed.events]
    assert times[0] == timed.first_event
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g > 0 for g in gaps), gaps
    # Loose bounds (a shared machine): the spread is real, not one burst at the end.
    assert times[-1] - times[0] >= (len(times) - 1) * GAP * 0.7, gaps
    assert max(gaps) < 1.0, gaps
    assert timed.elapsed >= times[-1]


def test_stream_delta_times(timed: RecordedStream) -> None:
    want = [e.t for e in timed.events if e.type == "thread.item.updated"]
    assert len(want) == len(DELTAS)
    assert timed.delta_times() == want
    assert timed.delta_times() == sorted(timed.delta_times())


def test_excerpt_shows_times_and_data(timed: RecordedStream) -> None:
    text = timed.excerpt(2)
    assert text.count("ms  data: ") == 2 and "thread.created" in text


# -- other responses -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_request_raw_json(base_url: str) -> None:
    async with client_for(f"{base_url}/json") as client:
        resp = await client.list_threads(limit=5)
    assert resp.status == 200
    assert resp.header("x-fixture") == "json"
    assert resp.ttfb is not None and resp.ttfb <= resp.elapsed
    assert resp.transport_error is None and resp.truncated is False
    assert resp.request_type == "threads.list"
    assert resp.json == {
        "received": {"type": "threads.list", "params": {"limit": 5, "order": "desc"}},
        "ok": True,
    }
    assert resp.request_headers["Content-Type"] == "application/json"


@pytest.mark.asyncio
async def test_odd_stream_is_recorded_as_seen(base_url: str) -> None:
    async with client_for(f"{base_url}/odd") as client:
        rec = await client.create_thread("hello")
    assert [e.error is not None for e in rec.events] == [True, True, False]
    assert rec.events[0].error is not None and "not JSON" in rec.events[0].error
    assert rec.events[1].error == "data is JSON but not an object"
    assert rec.payloads == [PAYLOADS[0]]
    assert rec.framing.unterminated == 'data: {"type":"thread.item.done"'


@pytest.mark.asyncio
async def test_body_over_max_body_is_truncated_without_reading_it_all(base_url: str) -> None:
    cap = 256 * 1024
    async with client_for(f"{base_url}/big", timeout=10.0, max_body=cap) as client:
        rec = await client.create_thread("hello")
    assert rec.truncated is True
    assert rec.transport_error is None
    assert 0 < len(rec.body) <= cap
    # The client stopped reading and hung up: the server (held back by TCP flow control)
    # got nowhere near the whole 128 MiB out before it saw the disconnect.
    await asyncio.sleep(0.2)
    assert _sent["big"] < BIG_CHUNK * BIG_CHUNKS // 4, _sent
    assert rec.elapsed < 5.0


@pytest.mark.asyncio
async def test_stalled_stream_ends_with_transport_error(base_url: str) -> None:
    async with client_for(f"{base_url}/stall", timeout=1.0) as client:
        started = time.monotonic()
        rec = await client.create_thread("hello")
        took = time.monotonic() - started
    # Either the overall bound or httpx's read timeout (both 1 s) may fire first.
    assert rec.transport_error is not None and "time" in rec.transport_error.lower()
    assert rec.status == 200
    assert rec.payloads == [PAYLOADS[0]]  # what arrived before the stall is kept
    assert took < 3.0  # bounded by the target timeout, not by the 30 s stall


@pytest.mark.asyncio
async def test_stalled_json_ends_with_transport_error(base_url: str) -> None:
    async with client_for(f"{base_url}/stall", timeout=1.0) as client:
        started = time.monotonic()
        resp = await client.get_thread("thr_x")
        took = time.monotonic() - started
    assert resp.transport_error is not None
    assert took < 3.0


@pytest.mark.asyncio
async def test_a_stalling_target_gets_short_timeouts_until_it_answers(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two timeouts in a row shorten the next requests; one answer restores the full timeout."""
    stalls: dict[str, int] = {}
    monkeypatch.setattr("harness.protocol.client._STALLS", stalls)
    monkeypatch.setattr("harness.protocol.client.STALLED_TIMEOUT", 0.2)
    async with client_for(f"{base_url}/stall", timeout=0.8) as client:
        took = []
        for _ in range(3):
            started = time.monotonic()
            rec = await client.create_thread("hello")
            took.append(time.monotonic() - started)
        assert rec.transport_error is not None and "shortened" in rec.transport_error
        assert took[0] >= 0.7 and took[1] >= 0.7 and took[2] < 0.6, took
    # Another client for the same target inherits the verdict...
    async with client_for(f"{base_url}/stall", timeout=0.8) as other:
        started = time.monotonic()
        await other.list_threads()
        assert time.monotonic() - started < 0.6
    # ...and one answer from a URL clears it.
    json_url = f"{base_url}/json"
    stalls[json_url] = 5
    async with client_for(json_url, timeout=0.8) as client:
        ok = await client.request_raw(b"{}")
    assert ok.status == 200 and json_url not in stalls


@pytest.mark.asyncio
async def test_connection_refused_raises_target_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}/chatkit"
    async with client_for(url, timeout=5.0) as client:
        with pytest.raises(TargetUnreachable, match="cannot connect"):
            await client.create_thread("hello")
        with pytest.raises(TargetUnreachable, match="cannot connect"):
            await client.list_threads()


@pytest.mark.asyncio
async def test_gzip_stream_is_decoded_and_stamped_at_the_end(base_url: str) -> None:
    async with client_for(f"{base_url}/gzip") as client:
        rec = await client.create_thread("hello")
    assert rec.header("content-encoding") == "gzip"
    assert rec.transport_error is None
    assert rec.payloads == PAYLOADS
    # The chunks are the wire bytes (still compressed) and arrived over time...
    assert rec.body[:2] == b"\x1f\x8b"
    assert rec.chunks[-1][0] - rec.chunks[0][0] >= (len(PAYLOADS) - 1) * GAP * 0.7
    # ...but no event was readable before the body ended.
    assert {e.t for e in rec.events} == {rec.elapsed}
    assert rec.first_event == rec.elapsed
    assert all(e.t >= rec.chunks[-1][0] for e in rec.events)


# -- context injection -------------------------------------------------------------------

CONTEXT = {
    "userId": "user-42",
    "userInfo": {"id": "user-42", "name": "Ada Lovelace"},
    "pageContext": {"title": "Pricing", "url": "https://example.test/pricing", "headings": ["A"]},
}


async def _echoed(base_url: str, mode: str) -> dict[str, Any]:
    async with client_for(f"{base_url}/echo", context_mode=mode) as client:
        rec = await client.create_thread("hi", context=CONTEXT)
    assert rec.status == 200 and rec.payloads, rec.excerpt()
    seen: dict[str, Any] = rec.payloads[0]
    return seen


@pytest.mark.parametrize("mode", ["body", "headers", "both"])
@pytest.mark.asyncio
async def test_context_injection(base_url: str, mode: str) -> None:
    seen = await _echoed(base_url, mode)
    inp = seen["body"]["params"]["input"]
    headers = seen["headers"]
    assert seen["body"]["type"] == "threads.create"
    assert inp["content"] == [{"type": "input_text", "text": "hi"}]
    assert "metadata" not in seen["body"]  # the seed injects into params.input, not the envelope
    if mode in ("body", "both"):
        assert inp["metadata"] == CONTEXT
    else:
        assert "metadata" not in inp
    context_header_names = {"x-user-name", "x-page-context", "x-page-title", "x-page-url"}
    # userId never becomes an X-User-ID header: identity is the auth checks' business.
    assert "x-user-id" not in headers
    if mode in ("headers", "both"):
        assert headers["x-user-name"] == "Ada Lovelace"
        assert json.loads(headers["x-page-context"]) == CONTEXT["pageContext"]
        assert headers["x-page-title"] == "Pricing"
        assert headers["x-page-url"] == "https://example.test/pricing"
    else:
        assert not context_header_names & set(headers)
    assert headers["accept"] == "text/event-stream"
    assert headers["content-type"] == "application/json"


@pytest.mark.asyncio
async def test_add_user_message_carries_context(base_url: str) -> None:
    async with client_for(f"{base_url}/echo", context_mode="both") as client:
        rec = await client.add_user_message("thr_1", "again", context=CONTEXT)
    seen = rec.payloads[0]
    assert seen["body"]["params"]["thread_id"] == "thr_1"
    assert seen["body"]["params"]["input"]["metadata"] == CONTEXT
    assert seen["headers"]["x-user-name"] == "Ada Lovelace"


@pytest.mark.asyncio
async def test_on_exchange_sees_every_exchange(base_url: str) -> None:
    seen: list[tuple[str, int]] = []
    client = ChatKitClient(
        Target(url=f"{base_url}/json"), on_exchange=[lambda ex: seen.append((ex.url, ex.status))]
    )
    async with client:
        await client.list_threads()
        await client.create_thread("hi", context=CONTEXT)
    assert seen == [(f"{base_url}/json", 200), (f"{base_url}/json", 200)]


def test_context_headers_page_context_is_ascii_json() -> None:
    ctx = {"pageContext": {"title": "Café — menu"}}
    assert context_headers(ctx)["X-Page-Context"].isascii()


@pytest.mark.asyncio
async def test_non_ascii_context_in_headers(base_url: str) -> None:
    ctx = {"userInfo": {"name": "Zoë"}, "pageContext": {"title": "Café — menu"}}
    async with client_for(f"{base_url}/echo", context_mode="headers") as client:
        rec = await client.create_thread("hi", context=ctx)
    assert rec.status == 200


# -- a keep-alive connection the server drops ---------------------------------------------


class DroppingServer:
    """Answers with keep-alive; the first connection's second request is dropped unanswered.

    ``how`` is "close" (a FIN, what uvicorn does after an unhandled error) or "reset" (an
    RST); ``every`` drops every connection's first request instead (no reuse at all).
    """

    def __init__(self, how: str = "close", every: bool = False) -> None:
        self.how = how
        self.every = every
        self.connections = 0
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/chatkit"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first_connection = self.connections == 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for row in head.split(b"\r\n"):
                    name, _, value = row.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length))
                self.requests += 1
                if (self.every and served == 0) or (first_connection and served == 1):
                    self._drop(writer)
                    return
                streaming = body.get("type") == "threads.create"
                payload = sse(PAYLOADS[0]) if streaming else json.dumps({"data": []}).encode()
                ctype = b"text/event-stream" if streaming else b"application/json"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: "
                    + ctype
                    + b"\r\nContent-Length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
                await writer.drain()
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        if self.how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_dropped_keepalive_connection_is_retried_once_on_a_fresh_one(how: str) -> None:
    seen: list[Exchange] = []
    async with (
        DroppingServer(how) as url,
        ChatKitClient(Target(url=url), on_exchange=[seen.append]) as client,
    ):
        first = await client.list_threads()
        second = await client.list_threads()  # the pooled connection: dropped, retried
        stream = await client.create_thread("hi")
    assert (first.status, second.status, stream.status) == (200, 200, 200)
    assert second.transport_error is None and not second.retried
    assert stream.payloads == [PAYLOADS[0]]
    # The dropped attempt reached the target and is reported, marked; then the retry.
    assert [(ex.status, ex.retried) for ex in seen] == [
        (200, False),
        (0, True),
        (200, False),
        (200, False),
    ]
    dropped = seen[1]
    assert dropped.transport_error is not None
    assert "sent again on a fresh connection" in dropped.transport_error


@pytest.mark.asyncio
async def test_a_stream_on_a_dropped_keepalive_connection_is_retried() -> None:
    seen: list[Exchange] = []
    async with (
        DroppingServer("reset") as url,
        ChatKitClient(Target(url=url), on_exchange=[seen.append]) as client,
    ):
        await client.list_threads()
        rec = await client.create_thread("hi")
    assert rec.status == 200 and rec.payloads == [PAYLOADS[0]] and not rec.retried
    assert [(ex.request_type, ex.status, ex.retried) for ex in seen] == [
        ("threads.list", 200, False),
        ("threads.create", 0, True),
        ("threads.create", 200, False),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_drop_on_a_fresh_connection_is_evidence_not_retried(how: str) -> None:
    seen: list[Exchange] = []
    server = DroppingServer(how, every=True)
    async with (
        server as url,
        ChatKitClient(Target(url=url), on_exchange=[seen.append]) as client,
    ):
        resp = await client.list_threads()
    assert resp.status == 0 and resp.transport_error and not resp.retried
    assert seen == [resp] and server.requests == 1
