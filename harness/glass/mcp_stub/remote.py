"""Reading a stub that runs in another process, over its ``/_stub`` routes."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from harness.protocol.tls import tls_context

from .records import RecordedToolCall


def root_of(url: str) -> str:
    """``http://host:port`` of any URL on the stub (``/mcp``, ``/sse`` or the root)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def fetch_calls(url: str, *, since: int = 0, timeout: float = 5.0) -> list[RecordedToolCall]:
    response = httpx.get(
        f"{root_of(url)}/_stub/calls",
        params={"since": since},
        timeout=timeout,
        verify=tls_context(),
    )
    response.raise_for_status()
    return [RecordedToolCall.from_json(c) for c in response.json()["calls"]]


def clear_calls(url: str, *, timeout: float = 5.0) -> None:
    httpx.post(
        f"{root_of(url)}/_stub/clear", timeout=timeout, verify=tls_context()
    ).raise_for_status()
