"""A hand-built run with every outcome, the input of the golden tests of all sinks.

Deterministic on purpose: fixed durations, fixed texts, one secret planted in a failure's
evidence and repro so the golden files also prove the sinks redact.
"""

from __future__ import annotations

from harness.report.results import CheckResult, Outcome, RunResult

SECRET = "sk-golden-SECRET-4f9a"

EVIDENCE = "\n".join(
    [
        "POST http://127.0.0.1:8000/chatkit  (threads.create)",
        "HTTP 200",
        "content-type: text/event-stream",
        f"x-echo: {SECRET}",
        '+    3.1 ms  data: {"type":"thread.created","thread":{"id":"thr_1"}}',
        '+    4.0 ms  data: {"type":"thread.message.delta","delta":"Hi [bold]there[/]"}',
    ]
)
REPRO = (
    "curl -N -X POST http://127.0.0.1:8000/chatkit -H 'Authorization: Bearer "
    + SECRET
    + "' -H 'Content-Type: application/json' --data-raw '{\"type\": \"threads.create\"}'"
)


def _r(
    id: str,
    title: str,
    outcome: Outcome,
    *,
    level: str = "MUST",
    duration: float = 0.25,
    **fields: str,
) -> CheckResult:
    return CheckResult(
        id=id,
        title=title,
        area=id.split(".", 1)[0],
        level=level,
        outcome=outcome,
        duration=duration,
        pitfall=f"pitfall of {id}",
        fix=f"fix for {id}",
        ref=f"ref of {id}",
        **fields,
    )


def sample_run(*, strict: bool = False, stale: tuple[str, ...] = ()) -> RunResult:
    results = [
        _r("protocol.framing", "Streams are well-formed SSE", Outcome.PASS, duration=0.012),
        _r(
            "protocol.event-schema",
            "Every streamed event is a valid ChatKit ThreadStreamEvent",
            Outcome.FAIL,
            message="event #1 of threads.create is not a ChatKit event",
            expected="a ThreadStreamEvent (thread.created, thread.item.*, ...)",
            actual="type 'thread.message.delta': unknown event type",
            evidence=EVIDENCE,
            repro=REPRO,
        ),
        _r(
            "history.recall",
            "The agent remembers earlier turns of the conversation",
            Outcome.BASELINED,
            duration=1.5,
            message="the reply to turn 2 does not contain the codeword",
            expected="a reply containing 'PLUM-42'",
            actual="'I do not know any codeword.'",
            baseline_reason="TICKET-7: history is loaded from the store only in v2",
        ),
        _r(
            "sse.no-cache",
            "Streams say Cache-Control: no-cache",
            Outcome.WARN,
            level="SHOULD",
            message="no Cache-Control header",
            expected="Cache-Control: no-cache",
            actual="(absent)",
        ),
        _r(
            "auth.isolation",
            "One user cannot read another user's thread",
            Outcome.SKIP,
            duration=0.0,
            message="needs a second user: pass --token-b (or use the test issuer)",
        ),
        _r(
            "errors.bad-request",
            "A malformed request gets a 4xx, not a bare 500",
            Outcome.ERROR,
            message="KeyError: 'status'",
        ),
        _r("history.persisted", "items.list shows every turn, in order", Outcome.PASS),
    ]
    return RunResult(
        target="http://127.0.0.1:8000/chatkit",
        harness_version="0.1.0",
        results=results,
        duration=3.75,
        strict=strict,
        stale_baseline=list(stale),
    )


def passing_run() -> RunResult:
    return RunResult(
        target="http://127.0.0.1:8000/chatkit",
        harness_version="0.1.0",
        results=[
            _r("protocol.framing", "Streams are well-formed SSE", Outcome.PASS),
            _r("sse.no-cache", "Streams say Cache-Control: no-cache", Outcome.WARN, level="SHOULD"),
        ],
        duration=0.5,
    )
