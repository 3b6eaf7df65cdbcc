"""Context propagation: do the user's name and the page context reach the agent?

Seed, Common Pitfalls: "Context not transmitted | Agent missing user/page info | Add to request
metadata, extract in backend". The seed's custom fetch injects
``params.input.metadata = {userId, userInfo, pageContext}``; openai-chatkit 1.6.5's
``UserMessageInput`` has no such field, so pydantic drops it silently unless the endpoint reads
the raw body before ``process()``.
"""

from __future__ import annotations

from harness.engine.preconditions import CREATE, SECOND_TURN, needs_stream
from harness.probes.context import ContextProbe
from harness.protocol.client import RecordedStream
from harness.registry import MUST, check
from harness.report.results import fail

FIX = (
    "The SDK drops params.input.metadata silently: in your endpoint, json.loads the raw body "
    "before server.process(), read params.input.metadata (userInfo, pageContext) and put it in "
    "the request context you pass to process(); then build the agent's instructions from it."
)
FIX_HEADERS = (
    "Read the context headers your custom fetch sends (e.g. X-User-Name, X-Page-Context) into "
    "the request context before server.process(), and build the instructions from them."
)
REF = "seed: Frontend 'Custom fetch interceptor' and Common Pitfalls 'Context not transmitted'"


def _require(streams: list[RecordedStream], what: str, canary: str, root: str = CREATE) -> None:
    for rec in streams:
        needs_stream(rec, root, rec.request_type or "the turn")
    if not streams:
        needs_stream(None, root, "the turn")
    replies = [rec.assistant_text for rec in streams]
    hits = sum(canary.lower() in r.lower() for r in replies)
    if hits * 2 <= len(replies):
        fail(
            f"the {what} did not reach the agent",
            expected=f"the reply mentions {canary!r}",
            actual=f"{hits} of {len(replies)} replies did",
            evidence="\n".join(f"reply {i + 1}: {r[:300]!r}" for i, r in enumerate(replies)),
        )


@check(
    id="metadata.user-info",
    title="The user's name sent by the custom fetch reaches the agent",
    level=MUST,
    pitfall="userInfo is injected into params.input.metadata, which the SDK drops; the agent "
    "never learns who it talks to.",
    fix=FIX,
    ref=REF,
    probes=["context"],
)
def test_user_info(evidence) -> None:
    context_probe: ContextProbe = evidence["context"]
    _require(context_probe.first, "user's name", context_probe.user_name)


@check(
    id="metadata.page-context",
    title="The page context (title, URL) reaches the agent",
    level=MUST,
    pitfall="pageContext from getPageContext() is injected into the request body but never read "
    "by the backend; the agent cannot answer questions about the current page.",
    fix=FIX,
    ref=REF,
    probes=["context"],
)
def test_page_context(evidence) -> None:
    context_probe: ContextProbe = evidence["context"]
    _require(context_probe.first, "page title", context_probe.page_title)


@check(
    id="metadata.follow-up-turn",
    title="The context still reaches the agent on threads.add_user_message",
    level=MUST,
    pitfall="Context is read only on threads.create (or only from the first request), so the "
    "second turn answers without it.",
    fix="Build the request context on every request type, not only threads.create; persist "
    "it on the thread for requests that carry no input.",
    ref=REF,
    probes=["context"],
)
def test_follow_up_turn(evidence) -> None:
    context_probe: ContextProbe = evidence["context"]
    firsts: list[RecordedStream | None] = [*context_probe.first] or [None]
    for rec in firsts:
        needs_stream(rec, CREATE, "threads.create")
    follow = context_probe.follow_up
    _require(follow, "user's name (second turn)", context_probe.user_name, SECOND_TURN)


@check(
    id="metadata.header-context",
    title="Context carried as headers reaches the agent",
    level=MUST,
    pitfall="ChatKit's docs advise sending app context as headers from the custom fetch; a "
    "backend that builds its context from the body alone ignores them.",
    fix=FIX_HEADERS,
    ref="ChatKit docs 'Pass extra app context to your model' (headers from custom fetch)",
    probes=["context"],
)
def test_header_context(evidence) -> None:
    context_probe: ContextProbe = evidence["context"]
    alone = context_probe.headers_only
    # The name and the page both: a backend that reads X-User-Name but drops the page
    # headers still leaves the agent blind to where the user is.
    _require(alone, "user's name (sent as headers)", context_probe.user_name)
    _require(alone, "page title (sent as headers)", context_probe.page_title)
