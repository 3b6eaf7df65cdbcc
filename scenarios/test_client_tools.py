"""Client tools: threads.add_client_tool_output. Judgments only (harness/probes/client_tools.py)."""

from __future__ import annotations

from harness.engine.expect import evidence_of, stream_ok
from harness.engine.offers import needs_trigger, refused_cleanly, require_offered
from harness.probes.client_tools import ClientTools
from harness.probes.features import page_items
from harness.registry import MUST, check
from harness.report.results import fail, untestable

REF = (
    "openai-chatkit 1.6.5 chatkit/server.py _process_streaming_impl (ThreadsAddClientToolOutputReq)"
)
ROOT = "client-tools.no-pending"


def _call(ev: ClientTools) -> str:
    needs_trigger(
        ev.prompt, "client-tools", ev.call_id is not None, "pending client_tool_call", ev.hint
    )
    assert ev.call_id is not None
    return ev.call_id


@check(
    id="client-tools.round-trip",
    title="Output for a pending client tool call completes it and the agent continues",
    level=MUST,
    pitfall="The tool output is acknowledged but not saved: the call stays pending, the model "
    "never sees the result, and the next turn asks for the tool again.",
    fix="Let ChatKitServer handle threads.add_client_tool_output (it saves the output, marks "
    "the call completed and responds).",
    ref=REF,
    probes=["client-tools"],
)
def test_round_trip(evidence) -> None:
    ev: ClientTools = evidence["client-tools"]
    call = _call(ev)
    require_offered(ev.output, "client tools", ROOT)
    assert ev.output is not None
    rec = stream_ok(ev.output, "threads.add_client_tool_output")
    if not rec.assistant_text:
        fail("the agent did not continue after the tool output", evidence=evidence_of(rec))
    stored = next((i for i in page_items(ev.after) if i.get("id") == call), None)
    if stored is None or stored.get("status") != "completed" or stored.get("output") is None:
        fail(
            "the client tool call is not stored as completed with its output",
            actual=f"stored: {stored and {k: stored.get(k) for k in ('status', 'output')}}",
            evidence=evidence_of(ev.after) if ev.after else "",
        )


@check(
    id="client-tools.no-pending",
    title="Tool output with no pending call is refused cleanly",
    level=MUST,
    pitfall="The SDK raises ValueError inside the stream when nothing is pending; unguarded "
    "that is a 500 or a stream that stops with no error.",
    fix="Answer 400 before streaming (or let the error reach the client as an error event).",
    ref=REF,
    probes=["client-tools"],
)
def test_no_pending(evidence) -> None:
    ev: ClientTools = evidence["client-tools"]
    require_offered(ev.no_pending, "client tools", "protocol.create-order")
    refused_cleanly(ev.no_pending, "threads.add_client_tool_output without a pending call")


@check(
    id="client-tools.isolated",
    title="User B cannot complete user A's pending client tool call",
    level=MUST,
    pitfall="Tool output is matched by thread id only: another user can inject a tool result "
    "into someone's conversation.",
    fix="Load the thread for the authenticated user first.",
    ref=REF,
    probes=["client-tools"],
)
def test_isolated(evidence) -> None:
    ev: ClientTools = evidence["client-tools"]
    _call(ev)
    require_offered(ev.output, "client tools", ROOT)
    if ev.other_user is None:
        untestable("needs a second user (--token-b)")
    refused_cleanly(ev.other_user, "user B's tool output in user A's thread")
    stored = next((i for i in page_items(ev.other_after) if i.get("id") == ev.other_call_id), None)
    if stored is None or stored.get("status") != "pending":
        fail(
            "user B's output changed user A's pending tool call",
            evidence=evidence_of(ev.other_after) if ev.other_after else "",
        )
