"""The probe markers shared by the MCP stub, the model stub and the probe.

A probe message carries one marker; the model stub copies it into the ``title`` argument of
the tool call it makes, so every call the MCP stub records names the conversation it was made
for, whatever identity (or none) it carries. ``mcp-fail-...`` asks the MCP stub to answer
that call with a tool error.
"""

from __future__ import annotations

import re

MARKER_RE = re.compile(r"\bmcp-(probe|fail)-[0-9a-f]{6,32}-[a-z0-9]{1,12}\b")
# Every tool the MCP stub offers says so in its description, so the model stub can tell an
# MCP-derived tool from the deployment's own tools even when a prefix renamed it.
TOOL_TAG = "[chatkit-harness MCP stub]"
# The stub's tools the model stub may call for a probe message, in order of preference.
PROBE_TOOL = "add_task"


def find_marker(text: str) -> str | None:
    match = MARKER_RE.search(text)
    return match.group(0) if match else None


def is_failing(marker: str | None) -> bool:
    return bool(marker) and str(marker).startswith("mcp-fail-")
