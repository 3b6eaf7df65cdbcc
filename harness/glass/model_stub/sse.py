"""Server-sent events sent on a known schedule, with each delta's send time recorded.

Buffering checks compare the gaps a client observed between deltas with the gaps at which
the stub sent them, so the send time is read right after the bytes were handed to the
server (uvicorn writes to the socket in that call; asyncio sets TCP_NODELAY).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Send

from .records import RecordedModelRequest


@dataclass(frozen=True)
class PlannedEvent:
    """One SSE event to send; ``is_delta`` marks the ones on the token schedule."""

    event_type: str
    data: dict[str, Any]
    is_delta: bool = False


def encode(event: PlannedEvent, *, named: bool) -> bytes:
    """``event: <type>\\ndata: <json>\\n\\n`` (Responses) or ``data: <json>\\n\\n`` (Chat)."""
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    prefix = f"event: {event.event_type}\n" if named else ""
    return f"{prefix}data: {data}\n\n".encode()


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class TimedEventStream(StreamingResponse):
    """Streams planned events, holding each delta until its slot in the schedule.

    The first delta goes ``first_token_delay`` after the events before it; each later one
    ``token_delay`` after the previous delta was sent. Spacing from the previous *send*
    (rather than fixed slots) means a late delta never makes the next one bunch up behind
    it, so any gap a client sees that is much shorter than ``token_delay`` was made by
    something between the stub and the client.
    """

    def __init__(
        self,
        events: list[PlannedEvent],
        record: RecordedModelRequest,
        *,
        named_events: bool,
        done_marker: bool,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(_nothing(), media_type="text/event-stream", headers=headers)
        self._events = events
        self._record = record
        self._named = named_events
        self._done_marker = done_marker

    async def stream_response(self, send: Send) -> None:
        record = self._record
        completed = False
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            last_delta: float | None = None
            for event in self._events:
                if event.is_delta:
                    if last_delta is None:
                        due = time.monotonic() + record.first_token_delay
                    else:
                        due = last_delta + record.token_delay
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self._send_body(send, encode(event, named=self._named))
                if event.is_delta:
                    last_delta = time.monotonic()
                    record.delta_send_times.append(last_delta)
            if self._done_marker:
                await self._send_body(send, b"data: [DONE]\n\n")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            completed = True
        finally:
            # Reached on cancellation too, which is how Starlette stops us on disconnect.
            record.finished_at = time.monotonic()
            record.client_disconnected = not completed

    @staticmethod
    async def _send_body(send: Send, body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})
