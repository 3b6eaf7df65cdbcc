"""Preconditions: what must hold for a judgment to mean anything, and its root check.

When an exchange a check builds on is broken, the check is *blocked* by the check that judges
that exchange (its root), never failed with its own unrelated fix text and never passed. The
root check itself uses the strict verifiers of :mod:`harness.engine.expect` and fails.
"""

from __future__ import annotations

from typing import Any

from harness.protocol.client import Exchange, JsonResponse, RecordedStream
from harness.report.results import blocked

# The check that judges each basic exchange; a check reading through it names it as its root.
CREATE = "protocol.create-order"  # threads.create streams and opens a thread
SECOND_TURN = "protocol.add-user-message"
GET_THREAD = "protocol.get-thread"
LIST_ITEMS = "protocol.list-items"
LIST_THREADS = "protocol.list-threads"
UPDATE = "protocol.update-title"
MISSING_TOKEN = "auth.missing-token"


def stream_problem(rec: RecordedStream) -> str | None:
    """Why ``rec`` cannot be read as a whole stream, in words; None when it completed.

    One wording for both uses: the root check failing on it (expect.stream_ok) and every
    check blocked by that root.
    """
    if rec.status == 200 and not rec.transport_error and not rec.truncated and rec.events:
        return None
    parts = [f"HTTP {rec.status or 'no response'}"]
    if rec.transport_error:
        parts.append(rec.transport_error)
    if rec.truncated:  # a never-ending or oversized body: the harness stopped reading
        parts.append("the body exceeded the harness's size cap and was cut off")
    parts.append(f"{len(rec.events)} events")
    return ", ".join(parts)


def describe(ex: Exchange | None) -> str:
    if ex is None:
        return "was never sent"
    if isinstance(ex, RecordedStream):
        problem = stream_problem(ex) or f"HTTP {ex.status}, {len(ex.events)} events"
        return f"answered {problem}" if ex.status else f"failed ({problem})"
    if ex.transport_error:
        return f"failed ({ex.transport_error})"
    return f"answered HTTP {ex.status}"


def stream_usable(rec: RecordedStream | None) -> bool:
    return rec is not None and stream_problem(rec) is None


def needs_stream(rec: RecordedStream | None, root: str, what: str) -> RecordedStream:
    """The stream this judgment reads completed; else blocked by ``root``."""
    if rec is None or not stream_usable(rec):
        blocked(root, f"{what} {describe(rec)}")
    return rec


def needs_thread(
    rec: RecordedStream | None, root: str = CREATE, what: str = "threads.create"
) -> str:
    """The stream completed and named its thread."""
    rec = needs_stream(rec, root, what)
    if not rec.thread_id:
        blocked(root, f"{what} streamed no thread.created with a thread id")
    return rec.thread_id


def needs_json(resp: JsonResponse | None, root: str, what: str) -> Any:
    """A 200 with a JSON object; else blocked by ``root``."""
    if resp is None or resp.status != 200 or not isinstance(resp.json, dict):
        blocked(root, f"{what} {describe(resp)}")
    return resp.json
