"""Reading and steering a stub that runs in another process, over its ``/_stub`` routes."""

from __future__ import annotations

from typing import Any

import httpx

from harness.protocol.tls import tls_context

from .records import RecordedModelRequest


def _root(base_url: str) -> str:
    """Accept either the ``.../v1`` base URL or the root URL."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def fetch_requests(
    base_url: str, *, since: int = 0, timeout: float = 5.0
) -> list[RecordedModelRequest]:
    response = httpx.get(
        f"{_root(base_url)}/_stub/requests",
        params={"since": since},
        timeout=timeout,
        verify=tls_context(),
    )
    response.raise_for_status()
    return [RecordedModelRequest.from_json(r) for r in response.json()["requests"]]


def clear_requests(base_url: str, *, timeout: float = 5.0) -> None:
    httpx.post(
        f"{_root(base_url)}/_stub/clear", timeout=timeout, verify=tls_context()
    ).raise_for_status()


def configure(
    base_url: str,
    *,
    token_delay: float | None = None,
    first_token_delay: float | None = None,
    marker_pattern: str | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Change the schedule (or marker pattern) of a running stub; returns its settings."""
    settings: dict[str, Any] = {
        "token_delay": token_delay,
        "first_token_delay": first_token_delay,
        "marker_pattern": marker_pattern,
    }
    payload = {k: v for k, v in settings.items() if v is not None}
    response = httpx.post(
        f"{_root(base_url)}/_stub/config", json=payload, timeout=timeout, verify=tls_context()
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result
