"""Context propagation: do the user's name and the page context reach the agent?

Seed, Common Pitfalls: "Context not transmitted | Agent missing user/page info | Add to request
metadata, extract in backend". The seed's custom fetch injects
``params.input.metadata = {userId, userInfo, pageContext}``; openai-chatkit 1.6.5's
``UserMessageInput`` has no such field, so pydantic drops it silently unless the endpoint reads
the raw body before ``process()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest_asyncio

from harness.engine.expect import stream_ok
from harness.glass.canary import codeword, metadata
from harness.protocol.client import ChatKitClient, context_headers
from harness.registry import MUST, check
from harness.report.results import fail
from harness.target.config import Target

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
ASK = "What is my name, and what is the title of the page I am on?"


@dataclass
class ContextProbe:
    user_name: str
    page_title: str
    first: list[str]  # replies to the first turn (threads.create with context)
    follow_up: list[str]  # replies to the second turn (threads.add_user_message with context)
    headers_only: list[str]  # replies when the context travels only as headers


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def context_probe(chatkit_client: ChatKitClient, chatkit_target: Target) -> ContextProbe:
    probe = ContextProbe("User " + codeword(), "Page " + codeword(), [], [], [])
    ctx = metadata("harness-user", probe.user_name, probe.page_title)
    for _ in range(chatkit_target.repeat):
        rec = stream_ok(await chatkit_client.create_thread(ASK, context=ctx), "threads.create")
        probe.first.append(rec.assistant_text)
        follow = await chatkit_client.add_user_message(rec.thread_id or "", ASK, context=ctx)
        probe.follow_up.append(follow.assistant_text)
        # Whatever the target's context mode, this probe sends the context as headers alone.
        alone = await chatkit_client.create_thread(ASK, headers=context_headers(ctx))
        probe.headers_only.append(alone.assistant_text)
    return probe


def _require(replies: list[str], what: str, canary: str) -> None:
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
)
async def test_user_info(context_probe: ContextProbe) -> None:
    _require(context_probe.first, "user's name", context_probe.user_name)


@check(
    id="metadata.page-context",
    title="The page context (title, URL) reaches the agent",
    level=MUST,
    pitfall="pageContext from getPageContext() is injected into the request body but never read "
    "by the backend; the agent cannot answer questions about the current page.",
    fix=FIX,
    ref=REF,
)
async def test_page_context(context_probe: ContextProbe) -> None:
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
)
async def test_follow_up_turn(context_probe: ContextProbe) -> None:
    _require(context_probe.follow_up, "user's name (second turn)", context_probe.user_name)


@check(
    id="metadata.header-context",
    title="Context carried as headers reaches the agent",
    level=MUST,
    pitfall="ChatKit's docs advise sending app context as headers from the custom fetch; a "
    "backend that builds its context from the body alone ignores them.",
    fix=FIX_HEADERS,
    ref="ChatKit docs 'Pass extra app context to your model' (headers from custom fetch)",
)
async def test_header_context(context_probe: ContextProbe) -> None:
    _require(context_probe.headers_only, "user's name (sent as headers)", context_probe.user_name)
