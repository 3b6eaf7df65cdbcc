"""Dictation: input.transcribe. Judgments only (harness/probes/transcribe.py)."""

from __future__ import annotations

from harness.engine.expect import evidence_of, json_ok
from harness.engine.offers import refused_cleanly, require_offered
from harness.probes.transcribe import CLIP_TEXT, Transcribe
from harness.protocol.client import JsonResponse
from harness.registry import MUST, check
from harness.report.results import fail, untestable

REF = "openai-chatkit 1.6.5 chatkit/server.py transcribe; chatkit/types.py TranscriptionResult"
ROOT = "transcribe.accepted"


def _offered(ev: Transcribe, bundled: bool) -> JsonResponse:
    clip = require_offered(ev.clip, "transcription", ROOT)
    assert isinstance(clip, JsonResponse)
    if not bundled and 400 <= clip.status < 500:
        untestable("the deployment refused the harness's test clip (it is not real speech)")
    return clip


@check(
    id="transcribe.accepted",
    title='input.transcribe answers a TranscriptionResult ({"text": ...})',
    level=MUST,
    pitfall='transcribe() returns the speech API\'s own shape ({"transcript": ...}) or raises '
    "the SDK's NotImplementedError: the composer's microphone fills in nothing.",
    fix="Return chatkit.types.TranscriptionResult(text=...); answer 501 where dictation is off.",
    ref=REF,
    probes=["transcribe"],
)
def test_accepted(evidence, chatkit_target) -> None:
    ev: Transcribe = evidence["transcribe"]
    clip = _offered(ev, chatkit_target.bundled)
    data = json_ok(clip, "input.transcribe")
    text = data.get("text")
    if not isinstance(text, str) or set(data) - {"text"}:
        fail(
            "input.transcribe did not answer a TranscriptionResult",
            expected='{"text": "..."}',
            actual=clip.text[:200],
            evidence=evidence_of(clip),
        )
    if chatkit_target.bundled and text != CLIP_TEXT:
        fail("the test clip was transcribed wrongly", expected=CLIP_TEXT, actual=text)


@check(
    id="transcribe.bad-input",
    title="Bad base64 and a type that is not audio are refused with a 4xx",
    level=MUST,
    pitfall="The audio is decoded and sent on unchecked: garbage base64 or a text file becomes "
    "a 500 from the speech model call.",
    fix="Validate base64 (validate=True) and the media type before transcribing (400 / 415).",
    ref=REF,
    probes=["transcribe"],
)
def test_bad_input(evidence, chatkit_target) -> None:
    ev: Transcribe = evidence["transcribe"]
    _offered(ev, chatkit_target.bundled)
    refused_cleanly(ev.bad_base64, "input.transcribe with bad base64")
    refused_cleanly(ev.not_audio, "input.transcribe of text/plain")
