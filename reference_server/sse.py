"""Turning the SDK's SSE byte stream into an HTTP response, and the stream faults.

The correct response streams each ``data: ...\\n\\n`` frame as it is produced, with
headers that tell proxies not to buffer or transform it. buffered-stream,
gzip-stream, no-cache-headers, stream-as-json, invented-events,
non-json-keepalive, malformed-stream-extras and invalid-widget each change one of those things.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from .config import ServerConfig
from .faults import Fault

SSE_CONTENT_TYPE = "text/event-stream"
# non-json-keepalive fault: what hand-rolled servers send to keep a connection open. A
# comment line (": ping") would be correct SSE; a data line is an event the client must parse.
PING_FRAME = b"data: ping\n\n"
# no-transform stops compressing proxies; X-Accel-Buffering stops nginx buffering.
NO_BUFFERING_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}


async def with_invented_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """After every text delta, an extra ``thread.message.delta`` frame (not a ChatKit type)."""
    async for chunk in chunks:
        yield chunk
        if b"assistant_message.content_part.text_delta" not in chunk:
            continue
        event = json.loads(chunk.removeprefix(b"data: "))
        invented = {
            "type": "thread.message.delta",
            "item_id": event.get("item_id"),
            "delta": event.get("update", {}).get("delta", ""),
        }
        yield b"data: " + json.dumps(invented, separators=(",", ":")).encode() + b"\n\n"


def _broken_extra(event: dict[str, object]) -> dict[str, object] | None:
    """The event with the one wrong field of malformed-stream-extras / invalid-widget."""
    kind = event.get("type")
    if kind == "progress_update" and "text" in event:
        return {**{k: v for k, v in event.items() if k != "text"}, "message": event["text"]}
    if kind == "client_effect":
        return {k: v for k, v in event.items() if k != "name"}
    if kind == "notice":
        return {**event, "level": "error"}
    return None


async def with_broken_extras(
    chunks: AsyncIterator[bytes], *, extras: bool, widgets: bool
) -> AsyncIterator[bytes]:
    """progress_update/client_effect/notice with a wrong field; widget roots without a type."""
    for_extras = (b'"progress_update"', b'"client_effect"', b'"notice"')
    async for chunk in chunks:
        hit_extra = extras and any(marker in chunk for marker in for_extras)
        hit_widget = widgets and b'"type":"widget"' in chunk
        if not (hit_extra or hit_widget):
            yield chunk
            continue
        event = json.loads(chunk.removeprefix(b"data: "))
        broken = _broken_extra(event) if hit_extra else None
        item = event.get("item")
        if hit_widget and isinstance(item, dict) and isinstance(item.get("widget"), dict):
            item["widget"].pop("type", None)
            broken = event
        out = broken if broken is not None else event
        yield b"data: " + json.dumps(out, separators=(",", ":")).encode() + b"\n\n"


async def with_ping(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A ``data: ping`` keep-alive event right after the first event."""
    first = True
    async for chunk in chunks:
        yield chunk
        if first:
            first = False
            yield PING_FRAME


async def _gzipped(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # No Z_SYNC_FLUSH between events, as compression middleware typically does: zlib
    # keeps the small frames in its window, so they come out together at the end.
    compressor = zlib.compressobj(wbits=31)  # 31: gzip container
    async for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


async def sse_response(chunks: AsyncIterator[bytes], cfg: ServerConfig) -> Response:
    """The HTTP response carrying ``chunks`` (already framed as SSE)."""
    content_type = "application/json" if cfg.has(Fault.STREAM_AS_JSON) else SSE_CONTENT_TYPE
    headers = {"Content-Type": content_type}
    if not cfg.has(Fault.NO_CACHE_HEADERS):
        headers.update(NO_BUFFERING_HEADERS)
    if cfg.has(Fault.INVENTED_EVENTS):
        chunks = with_invented_events(chunks)
    if cfg.has(Fault.NON_JSON_KEEPALIVE):
        chunks = with_ping(chunks)
    extras, widgets = cfg.has(Fault.MALFORMED_STREAM_EXTRAS), cfg.has(Fault.INVALID_WIDGET)
    if extras or widgets:
        chunks = with_broken_extras(chunks, extras=extras, widgets=widgets)
    if cfg.has(Fault.BUFFERED_STREAM):
        # Like a buffering proxy: nothing is sent until the last event exists.
        body = b"".join([chunk async for chunk in chunks])
        return Response(content=body, headers=headers)
    if cfg.has(Fault.GZIP_STREAM):
        headers["Content-Encoding"] = "gzip"
        return StreamingResponse(_gzipped(chunks), headers=headers)
    return StreamingResponse(chunks, headers=headers)
