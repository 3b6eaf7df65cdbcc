"""Secrets never leave the harness unredacted: one place that knows how to hide them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from harness.protocol.client import Exchange

MASK = "***"
_SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"}
# A JWT anywhere in text: three base64url segments, the first starting with '{"' encoded.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _BEARER_RE.sub(lambda m: m.group(1) + MASK, text)
    return _JWT_RE.sub(MASK, text)


def redact_header(name: str, value: str) -> str:
    if name.lower() in _SECRET_HEADERS:
        scheme = value.split(" ", 1)[0] if " " in value else ""
        return f"{scheme} {MASK}".strip() if scheme.lower() == "bearer" else MASK
    return redact_text(value)


def curl_command(ex: Exchange) -> str:
    """A copy-paste repro; the token stays as ``***`` for the user to fill in."""
    parts = ["curl", "-N" if ex.request_type.startswith("threads.") else "-s", "-X", "POST"]
    parts.append(shlex.quote(ex.url))
    for k, v in ex.request_headers.items():
        parts += ["-H", shlex.quote(f"{k}: {redact_header(k, v)}")]
    body = ex.request_body.decode("utf-8", errors="replace")
    if len(body) > 2000:
        body = body[:2000] + "..."
    parts += ["--data-raw", shlex.quote(redact_text(body))]
    return " ".join(parts)
