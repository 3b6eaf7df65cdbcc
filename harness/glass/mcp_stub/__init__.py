"""An MCP server for glass-box checks: it sees what every tool call carries.

A deployment under test is started with its MCP URL pointing at the stub; the stub offers a
few seed-shaped tools (``list_tasks``, ``add_task`` with optional ``user_id`` and
``access_token`` arguments), records every call (headers, session, arguments, the credential
it carried, the probe marker naming its conversation) and answers with the data of whoever the
call says it is, so a wrong identity shows in the reply.

Importing this package is cheap: the ``mcp`` SDK and uvicorn load on first use of ``McpStub``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .credentials import SeenCredential, fingerprint
from .markers import MARKER_RE, PROBE_TOOL, TOOL_TAG, find_marker
from .records import RecordedToolCall

if TYPE_CHECKING:
    from .server import McpStub

_LAZY = {"McpStub": ".server"}

__all__ = [
    "MARKER_RE",
    "PROBE_TOOL",
    "TOOL_TAG",
    "McpStub",
    "RecordedToolCall",
    "SeenCredential",
    "find_marker",
    "fingerprint",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
