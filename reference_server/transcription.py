"""input.transcribe without a speech model: the harness's test clip, recognised by its marker.

A real deployment sends the audio to a speech-to-text model. The reference server must work
offline, so it "transcribes" only the known test clip: audio bytes carrying
``CHATKIT-HARNESS-CLIP:<text>``, whose text it returns. Any other audio gives a fixed answer
saying nothing was recognised, which is what a model says of silence.
"""

from __future__ import annotations

import base64
import binascii

CLIP_MARKER = b"CHATKIT-HARNESS-CLIP:"
# The media types ChatKit's composer records (AudioInput.media_type in openai-chatkit 1.6.5).
AUDIO_TYPES = frozenset({"audio/webm", "audio/ogg", "audio/mp4"})
NOTHING_HEARD = ""
MAX_AUDIO_BYTES = 512 * 1024


class TranscriptionRefused(ValueError):
    """Bad audio input: (status, error, detail) for a 4xx."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def check_audio(audio_base64: str, mime_type: str) -> bytes:
    """The decoded audio; TranscriptionRefused for bad base64, a wrong type or no audio."""
    media = mime_type.split(";", 1)[0].strip().lower()
    if media not in AUDIO_TYPES:
        allowed = ", ".join(sorted(AUDIO_TYPES))
        raise TranscriptionRefused(
            415, "unsupported_media_type", f"{media!r} is not one of {allowed}"
        )
    try:
        data = base64.b64decode(audio_base64, validate=True)
    except (binascii.Error, ValueError):
        raise TranscriptionRefused(400, "invalid_request", "audio_base64 is not base64") from None
    if not data:
        raise TranscriptionRefused(400, "invalid_request", "no audio")
    if len(data) > MAX_AUDIO_BYTES:
        raise TranscriptionRefused(413, "payload_too_large", f"audio over {MAX_AUDIO_BYTES} bytes")
    return data


def transcribe_clip(data: bytes, media_type: str) -> str:
    """The text of the test clip; NOTHING_HEARD for other audio."""
    if media_type not in AUDIO_TYPES:
        # Reached only without check_audio (the transcribe-unchecked fault): an unguarded
        # decoder that does not know the container.
        raise RuntimeError(f"no decoder for {media_type}")
    at = data.find(CLIP_MARKER)
    if at < 0:
        return NOTHING_HEARD
    text = data[at + len(CLIP_MARKER) :].split(b"\n", 1)[0]
    return text.decode("utf-8", errors="replace").strip()
