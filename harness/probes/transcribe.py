"""input.transcribe: the harness's test clip, bad base64 and a type that is not audio."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.protocol.client import JsonResponse

CLIP_TEXT = "hello from the harness"
# Not real speech: an Ogg page header and a marker the bundled reference server "hears".
# A deployment with a real speech model hears nothing in it, which the check allows.
CLIP = b"OggS\x00\x02" + bytes(20) + b"CHATKIT-HARNESS-CLIP:" + CLIP_TEXT.encode() + b"\n"
CLIP_MIME = "audio/ogg;codecs=opus"


@dataclass
class Transcribe:
    clip: JsonResponse
    bad_base64: JsonResponse
    not_audio: JsonResponse


@probe("transcribe")
async def transcribe(ctx: ProbeContext) -> Transcribe:
    c = ctx.main
    encoded = base64.b64encode(CLIP).decode()
    return Transcribe(
        await c.transcribe(encoded, CLIP_MIME),
        await c.transcribe("%% this is not base64 %%", "audio/ogg"),
        await c.transcribe(encoded, "text/plain"),
    )
