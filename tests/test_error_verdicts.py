"""The errors and latency judgments on recorded evidence: what passes, fails, is blocked.

The checks are pure functions of their probes' evidence, so each rule is shown on a few
hand-made exchanges: a 401 on a bad body is never "a 4xx", a broken control request blocks
instead of failing, a lost thread is seen through items.list and threads.list, and a cold
start is judged on the first event, not on a reply that a loaded machine stretched.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from harness.probes.errors import BadRequests, NothingLost
from harness.probes.latency import ColdStart
from harness.protocol.client import JsonResponse, RecordedStream, StreamEvent
from harness.protocol.sse import SSEEvent
from harness.report.results import BLOCKED_PREFIX, UNTESTABLE_PREFIX, CheckFailure
from scenarios import test_errors, test_latency

URL = "http://127.0.0.1:9/chatkit"
Skipped = pytest.skip.Exception


def answer(status: int, body: Any = None, request_type: str = "threads.list") -> JsonResponse:
    raw = b"" if body is None else json.dumps(body).encode()
    return JsonResponse(request_type, b"{}", {}, URL, status=status, body=raw)


def stream(status: int = 200, payloads: list[dict[str, Any]] | None = None) -> RecordedStream:
    rec = RecordedStream("threads.create", b"{}", {}, URL, status=status, elapsed=0.5)
    for i, p in enumerate(payloads or []):
        data = json.dumps(p)
        rec.events.append(StreamEvent(0.01 * (i + 1), SSEEvent(data=data), p))
    rec.first_event = rec.events[0].t if rec.events else None
    return rec


OK_LIST = answer(200, {"data": [], "has_more": False})
MESSAGE = {"error": {"code": "invalid_request", "message": "bad body"}}


def bad(malformed: JsonResponse, control: JsonResponse = OK_LIST) -> dict[str, Any]:
    fine = answer(400, MESSAGE)
    return {
        "bad-requests": BadRequests(
            control, malformed, fine, [("empty object", fine)], answer(413, MESSAGE)
        )
    }


def test_a_400_with_a_message_passes() -> None:
    test_errors.test_malformed_json(bad(answer(400, MESSAGE)))
    test_errors.test_malformed_json(bad(answer(422, {"detail": [{"msg": "field required"}]})))


@pytest.mark.parametrize("status", [401, 403, 407])
def test_a_credential_answer_to_a_bad_body_fails(status: int) -> None:
    with pytest.raises(CheckFailure) as err:
        test_errors.test_malformed_json(bad(answer(status, {"error": "unauthorized"})))
    assert f"HTTP {status}" in err.value.message
    assert "same credential is accepted" in err.value.message


def test_a_500_fails_and_a_4xx_without_message_fails() -> None:
    with pytest.raises(CheckFailure, match="expected a 4xx"):
        test_errors.test_unknown_type({"bad-requests": replace_unknown(answer(500))})
    with pytest.raises(CheckFailure, match="no message"):
        test_errors.test_unknown_type({"bad-requests": replace_unknown(answer(400))})


def replace_unknown(resp: JsonResponse) -> BadRequests:
    evidence: BadRequests = bad(answer(400, MESSAGE))["bad-requests"]
    evidence.unknown_type = resp
    return evidence


def test_rate_limited_is_untestable() -> None:
    with pytest.raises(Skipped, match=UNTESTABLE_PREFIX):
        test_errors.test_malformed_json(bad(answer(429, MESSAGE)))


def test_a_broken_control_blocks_instead_of_judging() -> None:
    with pytest.raises(Skipped) as err:
        test_errors.test_malformed_json(bad(answer(500), control=answer(500)))
    assert str(err.value.msg).startswith(f"{BLOCKED_PREFIX}protocol.list-threads")


def test_oversized_needs_exactly_413() -> None:
    evidence = bad(answer(400, MESSAGE))
    test_errors.test_oversized_body(evidence)
    evidence["bad-requests"].oversized = answer(400, MESSAGE)
    with pytest.raises(CheckFailure, match="expected 413"):
        test_errors.test_oversized_body(evidence)


# -- unknown thread ---------------------------------------------------------------------------

THREAD = {"type": "thread.created", "thread": {"id": "thr_1"}}


def unknown(rec: RecordedStream) -> dict[str, Any]:
    from harness.probes.conversation import Conversation

    turn = stream(payloads=[THREAD, {"type": "thread.item.done", "item": {"id": "m1"}}])
    return {"conversation": Conversation(turn, turn, None, None, None), "unknown-thread": rec}


def test_unknown_thread_refusals() -> None:
    test_errors.test_unknown_thread(unknown(stream(404)))
    test_errors.test_unknown_thread(unknown(stream(403)))  # "not yours" alike for missing ones
    test_errors.test_unknown_thread(unknown(stream(payloads=[{"type": "error"}])))
    with pytest.raises(CheckFailure, match="HTTP 401"):
        test_errors.test_unknown_thread(unknown(stream(401)))
    with pytest.raises(CheckFailure, match="neither refused nor ended with an error event"):
        test_errors.test_unknown_thread(unknown(stream(200)))


# -- nothing lost ------------------------------------------------------------------------------

ROWS = [{"id": "m1", "type": "user_message"}, {"id": "m2", "type": "assistant_message"}]


def listed(title: str | None) -> JsonResponse:
    return answer(200, {"data": [{"id": "thr_1", "title": title}], "has_more": False})


def lost(items_after: JsonResponse, listed_after: JsonResponse) -> dict[str, Any]:
    created = stream(payloads=[THREAD])
    page = answer(200, {"data": ROWS, "has_more": False}, "items.list")
    ev = NothingLost(created, True, page, listed("chat"), [], items_after, listed_after)
    return {"nothing-lost": ev}


def test_nothing_lost_passes_when_items_and_title_are_unchanged() -> None:
    page = answer(200, {"data": ROWS, "has_more": False}, "items.list")
    test_errors.test_nothing_lost(lost(page, listed("chat")))


def test_nothing_lost_fails_on_a_vanished_or_changed_thread() -> None:
    with pytest.raises(CheckFailure, match="changed or vanished"):
        test_errors.test_nothing_lost(lost(answer(404, MESSAGE, "items.list"), listed("chat")))
    fewer = answer(200, {"data": ROWS[:1], "has_more": False}, "items.list")
    with pytest.raises(CheckFailure, match="changed or vanished"):
        test_errors.test_nothing_lost(lost(fewer, listed("chat")))
    page = answer(200, {"data": ROWS, "has_more": False}, "items.list")
    with pytest.raises(CheckFailure, match="renamed or unlisted"):
        test_errors.test_nothing_lost(lost(page, listed("x")))


# -- cold start ------------------------------------------------------------------------------


def turn(first_event: float, total: float) -> RecordedStream:
    rec = stream(payloads=[THREAD])
    rec.events[0].t = rec.first_event = first_event
    rec.elapsed = total
    return rec


def cold(first: RecordedStream) -> dict[str, Any]:
    warm = [turn(0.05, 0.3) for _ in range(3)]
    return {"cold-start": ColdStart(1.0, first, warm, 3.0, "a fresh bundled reference server")}


def test_cold_start_judges_the_first_event_and_the_whole_turn() -> None:
    # A reply stretched by a loaded machine, its first event on time: not a cold start.
    test_latency.test_cold_start(cold(turn(0.4, 2.4)))
    with pytest.raises(CheckFailure, match=re.escape("first event after 2.50 s")):
        test_latency.test_cold_start(cold(turn(2.5, 2.9)))  # waited before anything happened
    with pytest.raises(CheckFailure, match=re.escape("complete after 4.20 s")):
        test_latency.test_cold_start(cold(turn(0.1, 4.2)))  # over --cold-start-threshold
