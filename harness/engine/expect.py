"""Shared verifiers, so each check states its requirement in a few lines (h2spec's verifier.go).

Each raises :class:`CheckFailure` with expected, actual and evidence filled in.
"""

from __future__ import annotations

from typing import Any

from harness.engine.preconditions import stream_problem
from harness.protocol.client import Exchange, JsonResponse, RecordedStream
from harness.report.redact import curl_command, redact_header
from harness.report.results import fail


def evidence_of(ex: Exchange) -> str:
    lines = [f"POST {ex.url}  ({ex.request_type or 'raw'})", f"HTTP {ex.status or '-'}"]
    for k, v in ex.headers[:12]:
        lines.append(f"{k}: {redact_header(k, v)}")
    if ex.transport_error:
        lines.append(f"transport: {ex.transport_error}")
    if isinstance(ex, RecordedStream):
        lines.append(ex.excerpt())
    elif isinstance(ex, JsonResponse):
        lines.append(ex.text[:400])
    return "\n".join(lines)


def stream_ok(
    rec: RecordedStream, what: str = "the stream", *, check_shapes: bool = True
) -> RecordedStream:
    """The stream answered 200, as SSE, and ended cleanly with at least one event."""
    actual = stream_problem(rec)
    if actual is not None:
        fail(
            f"{what} did not complete",
            expected="HTTP 200 with a complete event stream",
            actual=actual,
            evidence=evidence_of(rec),
            repro=curl_command(rec),
        )
    bad = shape_problem(rec) if check_shapes else None
    if bad:
        fail(
            f"{what} carries a thread item event of the wrong shape",
            expected="thread.item.added/done with an item object and a string id; "
            "thread.item.updated with an item_id and an update object",
            actual=bad,
            evidence=evidence_of(rec),
        )
    return rec


def shape_problem(rec: RecordedStream) -> str | None:
    """The first item event the checks could not read, so they fail instead of crashing."""
    for i, p in enumerate(rec.payloads):
        kind = p.get("type")
        if kind in ("thread.item.added", "thread.item.done"):
            item = p.get("item")
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                return f"event #{i} ({kind}) has no item object with a string id"
        elif kind == "thread.item.updated" and not (
            isinstance(p.get("item_id"), str) and isinstance(p.get("update"), dict)
        ):
            return f"event #{i} (thread.item.updated) has no item_id string and update object"
    return None


def json_ok(resp: JsonResponse, what: str) -> Any:
    data = resp.json
    # Every ChatKit JSON answer is an object (a Thread, a Page, {} for deletes).
    if resp.status != 200 or not isinstance(data, dict):
        actual = f"HTTP {resp.status or resp.transport_error}"
        if resp.status == 200:  # e.g. an SSO login page in front of the API
            actual += (
                f", {resp.header('content-type') or 'no Content-Type'}, body is not a JSON object"
            )
        fail(
            f"{what} failed",
            expected="HTTP 200 with a JSON body",
            actual=actual,
            evidence=evidence_of(resp),
            repro=curl_command(resp),
        )
    return data


def status_4xx(resp: Exchange, what: str, *, allowed: tuple[int, ...] = ()) -> None:
    ok = 400 <= resp.status < 500 and (not allowed or resp.status in allowed)
    if not ok:
        want = " or ".join(map(str, allowed)) if allowed else "a 4xx status"
        fail(
            f"{what}: expected {want}",
            expected=want,
            actual=f"HTTP {resp.status or resp.transport_error}",
            evidence=evidence_of(resp),
            repro=curl_command(resp),
        )
