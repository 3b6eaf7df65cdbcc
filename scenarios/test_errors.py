"""Bad input: clear 4xx answers, never a 5xx, a cut stream, or a dead connection.

openai-chatkit 1.6.5 ``process()`` raises pydantic's ValidationError on a malformed body and
the canonical FastAPI wiring turns that into a bare 500, after which uvicorn closes the
keep-alive connection; a streaming request for a missing thread answers 200 and then breaks
off with no error event (chatkit-protocol notes §1.4, verified).
Judgments only: the exchanges come from the probes in harness/probes/errors.py.

Which answers count as "refused as a bad request": every bad request is judged against a
well-formed request of the same shape sent with the same credential (threads.list, the
conversation's threads.create and second turn). When that one was answered normally, the
credential works, so a 401/403/407 on the bad one is not the server refusing the body: it
tells the ChatKit client "you are not signed in" (or "not allowed") for a request whose only
problem is its content, and the check fails saying so. 429 says nothing about the body either
(the check cannot be judged). Any other 4xx (400, 404, 405, 413, 415, 422, ...) with a message
is the check's pass. When the well-formed request itself was not answered normally, the check
is blocked by the check that judges that request.
"""

from __future__ import annotations

from harness.engine.expect import evidence_of
from harness.engine.preconditions import (
    CREATE,
    LIST_ITEMS,
    LIST_THREADS,
    SECOND_TURN,
    describe,
    needs_json,
    needs_stream,
    needs_thread,
)
from harness.probes.conversation import Conversation
from harness.probes.errors import BadRequests, KeepAlive, NothingLost
from harness.protocol.client import Exchange, JsonResponse, RecordedStream
from harness.registry import MUST, SHOULD, check
from harness.report.redact import curl_command
from harness.report.results import blocked, fail, untestable

FIX_400 = (
    "Catch pydantic.ValidationError (and json errors) around server.process() and answer 400 "
    "with a JSON message; never let it become a bare 500."
)
REF_ERRORS = "openai-chatkit 1.6.5 ChatKitServer.process (raises ValidationError)"
CREDENTIAL = (401, 403, 407)  # answers about the credential, not the body
RATE_LIMITED = 429


def _has_message(resp: JsonResponse) -> bool:
    data = resp.json
    if isinstance(data, dict):
        return any(
            isinstance(data.get(k), (str, dict)) and data.get(k)
            for k in ("error", "detail", "message")
        )
    return bool(resp.body.strip())


def _control(bad: BadRequests) -> None:
    """The well-formed threads.list next to the bad bodies was answered normally."""
    needs_json(bad.control, LIST_THREADS, "the well-formed threads.list sent beside it")


def _refused_for_content(
    resp: Exchange, what: str, *, credential_ok: tuple[int, ...] = (), message: bool = True
) -> None:
    """``resp`` refuses the bad request as a bad request: a 4xx about the body, with a message.

    ``credential_ok`` names the credential statuses that are still an answer about the
    request (403 for a thread that is not the user's to see).
    """
    status = resp.status
    if status in CREDENTIAL and status not in credential_ok:
        fail(
            f"{what}: answered HTTP {status}, although the same credential is accepted on a "
            "well-formed request",
            expected="a 4xx about the request (400, 404, 413, 422, ...) with a message",
            actual=f"HTTP {status}: the client is told the credential is wrong, for a request "
            "whose only problem is its content",
            evidence=evidence_of(resp),
            repro=curl_command(resp),
        )
    if status == RATE_LIMITED:
        untestable(f"{what}: the deployment answered 429 (rate limited): try again later")
    if not 400 <= status < 500:
        fail(
            f"{what}: expected a 4xx answer",
            expected="HTTP 400 (or another 4xx) with a JSON message",
            actual=f"HTTP {status or resp.transport_error}",
            evidence=evidence_of(resp),
            repro=curl_command(resp),
        )
    if message and isinstance(resp, JsonResponse) and not _has_message(resp):
        fail(f"{what}: the 4xx answer has no message", evidence=evidence_of(resp))


@check(
    id="errors.malformed-json",
    title="A malformed JSON body gets a 4xx with a message",
    level=MUST,
    pitfall="The SDK raises on invalid JSON; with the standard wiring the client gets a bare "
    "500 and the connection is closed.",
    fix=FIX_400,
    ref=REF_ERRORS,
    probes=["bad-requests"],
)
def test_malformed_json(evidence) -> None:
    bad: BadRequests = evidence["bad-requests"]
    _control(bad)
    _refused_for_content(bad.malformed, "malformed JSON")


@check(
    id="errors.unknown-type",
    title="An unknown request type gets a 4xx with a message",
    level=MUST,
    pitfall="Clients newer than the backend (or hand-written ones sending threads.run) get a "
    "bare 500.",
    fix=FIX_400,
    ref=REF_ERRORS,
    probes=["bad-requests"],
)
def test_unknown_type(evidence) -> None:
    bad: BadRequests = evidence["bad-requests"]
    _control(bad)
    _refused_for_content(bad.unknown_type, "unknown type")


@check(
    id="errors.missing-params",
    title="A request without its params gets a 4xx with a message",
    level=MUST,
    pitfall="`curl -d '{}'` (the first thing anyone tries) yields a 500 (chatkit-python PR #118).",
    fix=FIX_400,
    ref=REF_ERRORS + "; openai/chatkit-python#118",
    probes=["first-turn", "bad-requests"],
)
def test_missing_params(evidence) -> None:
    # The complete threads.create is the conversation's first turn.
    needs_stream(evidence["first-turn"], CREATE, "the complete threads.create")
    bad: BadRequests = evidence["bad-requests"]
    _control(bad)
    for what, resp in bad.missing:
        _refused_for_content(resp, what)


@check(
    id="errors.unknown-thread",
    title="A streaming request for a missing thread is refused, not cut off silently",
    level=MUST,
    pitfall="The SDK answers 200 and then breaks the stream off with no error event: the UI "
    "spins forever on a deleted or foreign thread.",
    fix="Check the thread exists for this user before process() and answer 404 with a JSON "
    "message (or yield an ErrorEvent).",
    ref="chatkit-protocol notes §1.4 (streaming requests for unknown threads)",
    probes=["conversation", "unknown-thread"],
)
def test_unknown_thread(evidence) -> None:
    """A 404 (or 400) before the stream, or an error event in it. 403 counts as refusing too:
    answering "not yours" alike for foreign and missing threads hides which ids exist. 401
    does not: the same credential just streamed a turn on a thread that exists."""
    conversation: Conversation = evidence["conversation"]
    needs_thread(conversation.first)
    needs_stream(conversation.second, SECOND_TURN, "threads.add_user_message on its own thread")
    rec: RecordedStream = evidence["unknown-thread"]
    if rec.status == 200 and any(e.type == "error" for e in rec.events):
        return
    if rec.status == 200:
        fail(
            "a stream for a missing thread was neither refused nor ended with an error event",
            expected="a 4xx before the stream, or an 'error' event",
            actual=f"HTTP 200, {len(rec.events)} events, "
            f"{'no transport error' if not rec.transport_error else rec.transport_error}",
            evidence=evidence_of(rec),
            repro=curl_command(rec),
        )
    _refused_for_content(rec, "a stream for a missing thread", credential_ok=(403,), message=False)


@check(
    id="errors.oversized-body",
    title="An oversized body is refused with 413",
    level=SHOULD,
    pitfall="Without a size limit one request can make the backend parse (and store, and send "
    "to the model) megabytes of text.",
    fix="Refuse bodies over a limit (e.g. 1 MiB) with 413 before parsing them.",
    ref="RFC 9110 §15.5.14 413 Content Too Large",
    probes=["bad-requests"],
)
def test_oversized_body(evidence) -> None:
    bad: BadRequests = evidence["bad-requests"]
    _control(bad)
    resp = bad.oversized
    if resp.status != 413:
        fail(
            "a 2 MiB body: expected 413",
            expected="413",
            actual=f"HTTP {resp.status or resp.transport_error}",
            evidence=evidence_of(resp),
            repro=curl_command(resp),
        )


@check(
    id="errors.connection-survives",
    title="After each bad request, the same keep-alive connection still works",
    level=MUST,
    pitfall="An unhandled exception makes uvicorn close the connection after the 500; proxies "
    "and clients then see resets on the next request.",
    fix=FIX_400,
    ref="environment notes: process() raising closes the keep-alive connection",
    probes=["keepalive"],
)
def test_connection_survives(evidence) -> None:
    ka: KeepAlive = evidence["keepalive"]
    if ka.opened is not None:
        untestable(f"could not open a raw HTTP/1.1 connection to the target: {ka.opened}")
    if ka.first_status != 200:
        # The harness's own HTTP/1.1 connection could not do what httpx did in the preflight
        # (an HTTP/2-only edge, a proxy that wants something else): no verdict either way.
        untestable(
            "a well-formed threads.list on a raw HTTP/1.1 connection was answered "
            f"{ka.first_status or ka.first_error}; the connection test needs it to work"
        )
    for step in ka.steps:
        if step.dropped is not None:
            fail(
                f"the connection did not survive a {step.what} request",
                expected="the next request on the same connection answered",
                actual=step.dropped + _answered(step.what, step.bad_status),
            )
        if step.good_status != 200:
            fail(
                f"after a {step.what} request, a good request on the same connection failed",
                expected="HTTP 200",
                actual=f"HTTP {step.good_status}",
            )


def _answered(what: str, status: int | None) -> str:
    return f" (the {what} request itself was answered HTTP {status})" if status else ""


@check(
    id="errors.nothing-lost",
    title="Bad requests leave existing threads intact",
    level=MUST,
    pitfall="Error paths that write before validating (or fall back to 'the latest thread') "
    "delete or change conversations the user still has.",
    fix="Validate the request and look the thread up for this user before any write; an "
    "unknown id is a 404, never a fallback.",
    ref="chatkit/store.py (delete_thread, save_thread)",
    probes=["nothing-lost"],
)
def test_nothing_lost(evidence) -> None:
    """Compares items.list and the thread's title in threads.list, both settled, before and
    after the bad requests (never threads.get_by_id, which protocol.get-thread judges)."""
    nl: NothingLost = evidence["nothing-lost"]
    tid = needs_thread(nl.created)
    rows = nl.rows_before()
    if rows is None or nl.items_before is None:
        blocked(LIST_ITEMS, f"items.list of a fresh thread {describe(nl.items_before)}")
    after = nl.items_after
    assert after is not None  # read whenever the thread was there before
    if nl.rows_after() != rows:
        fail(
            "a thread changed or vanished after bad requests that named other threads",
            expected=f"thread {tid} with the same {len(rows)} items",
            actual=f"items.list HTTP {after.status or after.transport_error}: "
            + (f"{len(nl.rows_after() or [])} items" if after.status == 200 else after.text[:200]),
            evidence=evidence_of(after),
        )
    listed, title = nl.title(nl.listed_before)
    if not listed:
        return  # threads.list does not show the thread at all: protocol.list-threads says so
    listed_after, title_after = nl.title(nl.listed_after)
    if not listed_after or title_after != title:
        fail(
            "a thread was renamed or unlisted by bad requests that named other threads",
            expected=f"thread {tid} listed with title {title!r}",
            actual=f"title {title_after!r}" if listed_after else "no longer in threads.list",
            evidence=evidence_of(nl.listed_after) if nl.listed_after is not None else "",
        )
