"""Judging features a deployment may not offer: "not supported" versus broken.

Many real backends implement only chat. A request type answered with a clear refusal (501,
or a 4xx / error event that says it is not supported) makes that feature's checks
*not offered*; a 500, a hang, a cut stream or a 200 that does nothing stays a failure.
"""

from __future__ import annotations

import re

from harness.engine import hints
from harness.engine.expect import evidence_of
from harness.glass.model_stub.tool_calls import requested_tool
from harness.protocol.client import Exchange, JsonResponse, RecordedStream
from harness.report.redact import curl_command
from harness.report.results import blocked, fail, not_offered, note, untestable

_NOT_SUPPORTED = re.compile(r"(?i)not (supported|implemented|available|enabled)|unsupported")


def _text(ex: Exchange) -> str:
    if isinstance(ex, JsonResponse):
        return ex.text
    if isinstance(ex, RecordedStream):
        return " ".join(str(p.get("message", "")) for p in ex.of_type("error"))
    return ""


def refusal(ex: Exchange | None) -> str | None:
    """Why ``ex`` is a clear "this deployment does not do that", or None."""
    if ex is None or ex.transport_error:
        return None
    if ex.status == 501:
        return "HTTP 501"
    said = _text(ex)
    if 400 <= ex.status < 500 and _NOT_SUPPORTED.search(said):
        return f"HTTP {ex.status}: {said[:120]}"
    if ex.status == 200 and isinstance(ex, RecordedStream) and _NOT_SUPPORTED.search(said):
        return f"an error event: {said[:120]}"
    return None


def require_offered(ex: Exchange | None, feature: str, root: str) -> Exchange:
    """The feature's first valid request: not offered when clearly refused, blocked if missing."""
    if ex is None:
        blocked(root, f"{feature}: the request was never sent")
    why = refusal(ex)
    if why is not None:
        not_offered(f"{feature}: {ex.request_type} answered {why}")
    return ex


def needs_trigger(prompt: str | None, feature: str, seen: bool, what: str, hint: str = "") -> None:
    """A feature only the app can provoke: untestable without a trigger, not offered when the
    trigger shows nothing of it.

    ``hint`` (the probe's, "; ...") says what else could reach it: glass-box mode's tool tour
    when the run has no model stub, or what the tour tried when it had one. A pass reached
    through the tour says which tool's call it judged.
    """
    if seen:
        tool = requested_tool(prompt or "")
        if tool is not None:
            note(f"reached by the model stub calling the deployment's {tool} tool: {prompt!r}")
        return
    if prompt is None:
        untestable(
            f"no {what} in any recorded stream; pass {hints.flag('trigger')} {feature}='a message "
            f"that makes your app show one'{hint}"
        )
    not_offered(f"the {feature} trigger prompt {prompt[:60]!r} streamed no {what}")


def error_events(rec: RecordedStream) -> list[str]:
    return [str(p.get("code") or p.get("message") or "error") for p in rec.of_type("error")]


def refused_cleanly(ex: Exchange | None, what: str) -> None:
    """A 4xx, or a complete stream that carries an error event: never a 5xx, a cut stream,
    or a 200 that silently does nothing."""
    if ex is None:
        return
    if 400 <= ex.status < 500 and not ex.transport_error:
        return
    if (
        isinstance(ex, RecordedStream)
        and ex.status == 200
        and not ex.transport_error
        and error_events(ex)
    ):
        return
    actual = f"HTTP {ex.status or ex.transport_error}"
    if isinstance(ex, RecordedStream) and ex.status == 200:
        actual += f", {len(ex.events)} events, no error event"
    fail(
        f"{what} was not refused cleanly",
        expected="a 4xx with a JSON error, or a stream ending in an error event",
        actual=actual,
        evidence=evidence_of(ex),
        repro=curl_command(ex),
    )


def accepted(ex: Exchange | None) -> bool:
    return ex is not None and 200 <= ex.status < 300 and not ex.transport_error
