"""What the stub remembers about each request it received."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

from .normalize import Message


@dataclass
class RecordedModelRequest:
    """One request to the stub, as the deployment sent it.

    Times are ``time.monotonic()`` readings; on Linux that clock is shared by all processes,
    so a harness in another process can compare them with its own readings.
    """

    index: int
    """Position in arrival order, from 0 (stable across ``/_stub/requests`` reads)."""
    method: str
    endpoint: str
    """The path, e.g. ``/v1/responses`` or ``/v1/chat/completions``."""
    model: str | None = None
    instructions: str | None = None
    """Responses ``instructions``, or Chat system/developer messages joined by blank lines."""
    messages: list[Message] = field(default_factory=list)
    """The input conversation, in order, as ``{"role", "text"}`` (Chat system/developer
    messages are in ``instructions`` instead)."""
    tools: list[str] = field(default_factory=list)
    body: Any = None
    """The raw JSON body (or the undecodable text, when it was not JSON)."""
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    previous_response_id: str | None = None
    received_at: float = 0.0
    received_wall: float = 0.0
    """``time.time()`` at receipt, for logs."""
    delta_send_times: list[float] = field(default_factory=list)
    """When each text delta was handed to the socket, in order."""
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    status_code: int = 200
    error: dict[str, Any] | None = None
    response_id: str | None = None
    reply: str | None = None
    tool_call: dict[str, str] | None = None
    """The function call the stub answered with (an MCP probe turn), else None."""
    finished_at: float | None = None
    """When the last byte was handed to the socket; ``None`` while streaming."""
    client_disconnected: bool = False

    @property
    def send_gaps(self) -> list[float]:
        times = self.delta_send_times
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    def user_texts(self) -> list[str]:
        return [m["text"] for m in self.messages if m.get("role") == "user"]

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # Copy the live list: the server thread may still be appending to it.
        data["delta_send_times"] = list(self.delta_send_times)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedModelRequest:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Drop credentials: recordings end up in reports and logs."""
    redacted: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower == "authorization":
            redacted[lower] = "Bearer ***" if value.lower().startswith("bearer") else "***"
        elif lower in {"api-key", "x-api-key", "openai-api-key", "cookie"}:
            redacted[lower] = "***"
        else:
            redacted[lower] = value
    return redacted
