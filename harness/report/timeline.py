"""When each byte and event of a stream arrived, and when the model stub sent its tokens.

The exchange log keeps a big body only until it is written (see ``artifacts._slim``), but the
HTML report draws every stream; so the log takes this small copy of the timing first: one
``(time, size)`` per chunk and one mark per event, never the bytes themselves. In glass-box mode
it also keeps what the model stub recorded about each model call (when each text delta left
it), with the prompt reduced to the last user message, which only serves to pair a call with
the ChatKit request that caused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.protocol.client import RecordedStream

if TYPE_CHECKING:
    from harness.glass.model_stub import RecordedModelRequest

# A ChatKit reply has tens to hundreds of events; a flooding target can send far more. Past
# this many the rest is left out of the picture (and the report says so).
MAX_MARKS = 2000
TEXT_DELTA = "assistant_message.content_part.text_delta"


@dataclass(frozen=True)
class EventMark:
    t: float  # seconds since the request was sent
    type: str  # the event's "type", "" when its data is not a JSON object
    delta: bool  # an assistant text delta: the stub's tokens become these
    size: int  # characters of its data line(s)
    error: str | None = None


@dataclass
class Timeline:
    """The arrival times of one recorded stream, relative to when it was sent."""

    started: float  # time.monotonic() at send (0.0 when the client did not say)
    elapsed: float
    ttfb: float | None
    first_event: float | None
    chunks: list[tuple[float, int]] = field(default_factory=list)  # (t, bytes)
    events: list[EventMark] = field(default_factory=list)
    total_chunks: int = 0
    total_events: int = 0
    total_bytes: int = 0

    @property
    def clipped(self) -> bool:
        return self.total_chunks > len(self.chunks) or self.total_events > len(self.events)

    @classmethod
    def of(cls, ex: RecordedStream) -> Timeline:
        chunks = [(t, len(data)) for t, data in ex.chunks[:MAX_MARKS]]
        events = []
        for e in ex.events[:MAX_MARKS]:
            update = e.json.get("update") if e.json else None
            delta = (
                e.type == "thread.item.updated"
                and isinstance(update, dict)
                and update.get("type") == TEXT_DELTA
            )
            events.append(EventMark(e.t, e.type, delta, len(e.raw.data), e.error))
        return cls(
            started=ex.started,
            elapsed=ex.elapsed,
            ttfb=ex.ttfb,
            first_event=ex.first_event,
            chunks=chunks,
            events=events,
            total_chunks=len(ex.chunks),
            total_events=len(ex.events),
            total_bytes=sum(len(data) for _, data in ex.chunks),
        )


@dataclass(frozen=True)
class ModelCall:
    """One model call as the stub saw it: enough to draw its schedule and pair it."""

    index: int
    endpoint: str
    stream: bool
    received_at: float  # time.monotonic(), the clock the client's ``started`` uses
    finished_at: float | None
    send_times: tuple[float, ...]  # when each text delta was handed to the socket
    last_user_text: str = ""  # for pairing only; never shown

    @classmethod
    def of(cls, req: RecordedModelRequest) -> ModelCall:
        users = req.user_texts()
        return cls(
            index=req.index,
            endpoint=req.endpoint,
            stream=req.stream,
            received_at=req.received_at,
            finished_at=req.finished_at,
            send_times=tuple(req.delta_send_times),
            last_user_text=users[-1] if users else "",
        )


def user_texts_of(request_body: bytes) -> list[str]:
    """The input texts of a ChatKit request body (``params.input.content[].text``)."""
    import json

    try:
        env: Any = json.loads(request_body)
    except ValueError:
        return []
    params = env.get("params") if isinstance(env, dict) else None
    inp = params.get("input") if isinstance(params, dict) else None
    content = inp.get("content") if isinstance(inp, dict) else None
    if not isinstance(content, list):
        return []
    return [str(p.get("text")) for p in content if isinstance(p, dict) and p.get("text")]


def calls_during(
    timeline: Timeline, request_body: bytes, calls: Sequence[ModelCall]
) -> list[ModelCall]:
    """The model calls a ChatKit request caused: received while it was open.

    Two requests open at once (the concurrency checks) would both claim a call; a call whose
    last user message is one of this request's input texts is this request's for sure, so
    when any call matches by text, only those are kept.
    """
    if not timeline.started:
        return []
    start, end = timeline.started, timeline.started + timeline.elapsed
    during = [c for c in calls if start <= c.received_at <= end]
    texts = set(user_texts_of(request_body))
    by_text = [c for c in during if c.last_user_text and c.last_user_text in texts]
    return by_text or during
