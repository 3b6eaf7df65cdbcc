"""What the MCP stub remembers about each tool call it answered."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .credentials import SeenCredential

# Argument names that carry a credential; their values are recorded as fingerprints only.
TOKEN_ARGUMENTS = frozenset({"access_token", "token", "auth_token", "bearer_token", "api_key"})
USER_ARGUMENTS = frozenset({"user_id", "userid", "user", "uid"})


@dataclass
class RecordedToolCall:
    """One ``tools/call`` as the deployment sent it."""

    index: int
    tool: str
    arguments: dict[str, Any]
    """The call's arguments; credential values are replaced by ``<token sha256:...>``."""
    transport: str  # "streamable-http" or "sse"
    session_id: str | None
    headers: dict[str, str]
    """The HTTP request headers of the call, credentials masked."""
    header_credential: SeenCredential | None = None
    argument_credential: SeenCredential | None = None
    user_id_argument: str | None = None
    identity: str = "anonymous"
    """Whose data the stub answered with."""
    identity_source: str = "nothing"
    """What that identity came from: the authorization header, an argument, or nothing."""
    marker: str | None = None
    """The probe marker in the arguments: which conversation the call was made for."""
    failed: bool = False
    """The stub answered this call with an error (a marked ``mcp-fail-...`` call)."""
    reply: str = ""
    received_at: float = 0.0  # time.monotonic()
    received_wall: float = 0.0  # time.time()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("header_credential", "argument_credential"):
            seen = getattr(self, name)
            data[name] = seen.to_json() if seen is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedToolCall:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("header_credential", "argument_credential"):
            values[name] = SeenCredential.from_json(values.get(name))
        return cls(**values)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header values as recorded: credentials masked, the rest as sent."""
    masked: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in ("authorization", "proxy-authorization"):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            masked[lower] = f"{scheme} ***".strip()
        elif lower in ("cookie", "x-api-key", "api-key"):
            masked[lower] = "***"
        else:
            masked[lower] = value
    return masked
