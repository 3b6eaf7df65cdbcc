"""The composer's model and tool pickers (glass-box): what reaches the model request."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.glass.model_stub import RecordedModelRequest
from harness.protocol.client import RecordedStream

REQUESTED_MODEL = "harness-composer-model"


@dataclass
class Inference:
    marker: str
    model_turn: RecordedStream
    model_calls: list[RecordedModelRequest]
    tool: str | None = None  # the first tool the deployment gave its model
    tool_turn: RecordedStream | None = None
    tool_calls: list[RecordedModelRequest] | None = None

    def call_for(
        self, calls: list[RecordedModelRequest] | None, text: str
    ) -> RecordedModelRequest | None:
        for call in calls or []:
            if any(text in t for t in call.user_texts()):
                return call
        return None


@probe("inference", long=True)
async def inference(ctx: ProbeContext) -> Inference | None:
    """None outside glass-box mode: only the model stub sees the model request."""
    glass = ctx.glass
    if glass is None:
        return None
    c = ctx.main
    marker = f"inference-{uuid.uuid4().hex[:8]}"
    mark = glass.mark()
    turn = await c.create_thread(
        f"Model picker check {marker}", inference_options={"model": REQUESTED_MODEL}
    )
    calls = await asyncio.to_thread(glass.calls, mark)
    ev = Inference(marker, turn, calls)
    first = ev.call_for(calls, marker)
    ev.tool = first.tools[0] if first is not None and first.tools else None
    tid = turn.thread_id
    if ev.tool is None or tid is None:
        return ev
    mark = glass.mark()
    ev.tool_turn = await c.add_user_message(
        tid, f"Tool picker check {marker}-tool", inference_options={"tool_choice": {"id": ev.tool}}
    )
    ev.tool_calls = await asyncio.to_thread(glass.calls, mark)
    return ev
