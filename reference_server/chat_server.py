"""The ChatKitServer subclass: history from the store, context into the instructions.

respond() is the one correct path the seed gets wrong in several ways; each fault
that concerns what the model sees is a small branch right where it happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from agents import Agent, Runner, set_tracing_disabled
from agents.items import TResponseInputItem
from agents.mcp import MCPServer
from agents.models.interface import Model
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    ChatKitReq,
    ItemsListReq,
    NonStreamingReq,
    Page,
    StreamingReq,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    UserMessageItem,
    UserMessageTagContent,
    is_streaming_req,
)
from openai.types.responses import ResponseInputContentParam, ResponseInputTextParam
from pydantic import TypeAdapter

from .config import ServerConfig
from .context import PageContext, RequestContext
from .faults import Fault
from .item_ids import AssistantIdRewriter
from .mcp_tools import McpTools, UnhandledToolError, is_tool_failure
from .prompt import build_instructions
from .store import SqlStore

# lost-deltas fault: every LOST_DELTA_EVERY-th text delta never reaches the client.
LOST_DELTA_EVERY = 7

# thread.metadata key holding the last user/page context seen on the thread, so turns
# without any (retry, tool output, a client that sends context only once) still have it.
CONTEXT_KEY = "request_context"


def remember_context(
    thread: ThreadMetadata, context: RequestContext
) -> tuple[str | None, PageContext | None]:
    """Merge this request's user/page context over the thread's saved one; save the result."""
    saved: dict[str, Any] = thread.metadata.get(CONTEXT_KEY) or {}
    saved_page = PageContext.from_any(saved.get("page"))
    user_name = context.user_name or saved.get("user_name")
    page = context.page.merged_over(saved_page) if context.page else saved_page
    current = {
        "user_name": user_name,
        "page": page.model_dump(exclude_none=True) if page else None,
    }
    if current != saved:
        # Changing thread.metadata makes the SDK save the thread after the next event.
        thread.metadata[CONTEXT_KEY] = current
    return user_name, page


def for_chat_completions(items: list[TResponseInputItem]) -> list[TResponseInputItem]:
    """Assistant history as plain-string content, which the Chat Completions path accepts.

    simple_to_agent_input writes earlier assistant replies as ``output_text`` parts;
    openai-agents' Chat Completions converter rejects those ("Unknown content"), so the
    second turn of every conversation would fail in openai-chat mode.
    """
    converted: list[TResponseInputItem] = []
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(item, dict) and item.get("role") == "assistant" and isinstance(content, list):
            text = "".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "output_text"
            )
            item = cast(TResponseInputItem, {"role": "assistant", "content": text})
        converted.append(item)
    return converted


def _is_text_delta(event: ThreadStreamEvent) -> bool:
    return isinstance(event, ThreadItemUpdatedEvent) and isinstance(
        event.update, AssistantMessageContentPartTextDelta
    )


class _Converter(ThreadItemConverter):
    """simple_to_agent_input's converter, plus @-mention tags: the SDK's default raises
    NotImplementedError for them, which broke every turn whose message carried a tag."""

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        return ResponseInputTextParam(type="input_text", text=f"@{tag.text} (id {tag.id})")


_CONVERTER = _Converter()
# Built once: openai-chatkit 1.6.5's process() builds this adapter on every request.
_REQUEST = TypeAdapter[ChatKitReq](ChatKitReq)


class ReferenceChatServer(ChatKitServer[RequestContext]):
    """A correct ChatKit server around an agents Agent, plus the model-side faults."""

    def __init__(self, store: SqlStore, cfg: ServerConfig, model: Model) -> None:
        super().__init__(store)
        self.sql_store = store
        self.cfg = cfg
        self.model = model
        self.mcp = McpTools(cfg) if cfg.mcp_url else None
        # No tracing export: the offline model must not reach any network.
        set_tracing_disabled(True)

    async def process(
        self, request: str | bytes | bytearray, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        """The SDK's process(), with the request adapter built once instead of per request:
        that schema build (about 3 ms of CPU) doubled the p95 time to first event of 200
        concurrent conversations (benchmarks/capacity.py)."""
        parsed = _REQUEST.validate_json(request)
        if is_streaming_req(parsed):
            return StreamingResult(self._process_streaming(parsed, context))
        return NonStreamingResult(await self._process_non_streaming(parsed, context))

    async def _thread_items(
        self, thread: ThreadMetadata, context: RequestContext
    ) -> list[ThreadItem]:
        """The newest ``history_limit`` items, oldest first (ends with the new user message)."""
        if self.cfg.has(Fault.CROSS_THREAD_HISTORY):
            # A history query without the thread id: every thread of the user leaks in.
            newest = await self.sql_store.load_user_items(self.cfg.history_limit, context)
            return list(reversed(newest))
        page = await self.store.load_thread_items(
            thread.id, None, self.cfg.history_limit, "desc", context
        )
        return list(reversed(page.data))

    def _user_and_page(
        self, thread: ThreadMetadata, context: RequestContext
    ) -> tuple[str | None, PageContext | None]:
        if self.cfg.has(Fault.CONTEXT_ON_CREATE_ONLY) and context.request_type != "threads.create":
            # Context is read while creating the thread and never again, not even the saved one.
            return None, None
        if self.cfg.has(Fault.DROP_METADATA):
            # The seed: context.metadata.get('userInfo') -- a dict nothing ever fills.
            user_info = context.metadata.get("userInfo", {})
            return user_info.get("name"), PageContext.from_any(context.metadata.get("pageContext"))
        return remember_context(thread, context)

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Run the agent over the thread's history and stream its reply."""
        if self.mcp is None:
            async for event in self._run_agent(thread, input_user_message, context, []):
                yield event
            return
        # The turn's MCP connection acts for this turn's user, and lives as long as the turn.
        async with self.mcp.servers_for(context) as servers:
            async for event in self._run_agent(thread, input_user_message, context, servers):
                yield event

    async def _run_agent(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
        mcp_servers: list[MCPServer],
    ) -> AsyncIterator[ThreadStreamEvent]:
        cfg = self.cfg
        # The new user message is already stored, so the history ends with it.
        items = await self._thread_items(thread, context)
        extra_lines: list[str] = []
        if cfg.has(Fault.NO_HISTORY):
            items = [input_user_message] if input_user_message else []
        elif cfg.has(Fault.DUPLICATE_LAST_MESSAGE) and input_user_message:
            items = [*items, input_user_message]
        elif cfg.has(Fault.HISTORY_AS_REPR):
            extra_lines = [f"{item.type}: {getattr(item, 'content', '')}" for item in items]
            items = [input_user_message] if input_user_message else []
        if cfg.has(Fault.TOKEN_IN_PROMPT):
            extra_lines.append(f"access_token={context.access_token}")
        if self.mcp is not None:
            extra_lines += self.mcp.instruction_lines(context)

        user_name, page = self._user_and_page(thread, context)
        agent = Agent[AgentContext[RequestContext]](
            name="ChatKit reference assistant",
            instructions=build_instructions(context.user_id, user_name, page, extra_lines),
            model=self.model,
            mcp_servers=mcp_servers,
        )
        agent_context = AgentContext[RequestContext](
            thread=thread, store=self.store, request_context=context
        )
        agent_input = await _CONVERTER.to_agent_input(items)
        if cfg.model == "openai-chat":
            agent_input = for_chat_completions(agent_input)
        result = Runner.run_streamed(agent, agent_input, context=agent_context)
        rewrite_id = AssistantIdRewriter(
            lambda: self.store.generate_item_id("message", thread, context),
            force_fake=cfg.has(Fault.FAKE_ITEM_IDS),
        )
        deltas = 0
        try:
            async for event in stream_agent_response(agent_context, result):
                if _is_text_delta(event):
                    deltas += 1
                    if cfg.has(Fault.LOST_DELTAS) and deltas % LOST_DELTA_EVERY == 0:
                        continue  # a lossy relay: the final item.done still has all the text
                yield rewrite_id(event)
        except Exception as exc:
            if cfg.has(Fault.MCP_ERROR_500) and is_tool_failure(exc):
                raise UnhandledToolError(str(exc)) from exc
            raise

    # The SDK's request handlers, overridden only for the faults that break one of them.

    async def _process_streaming_impl(
        self, request: StreamingReq, context: RequestContext
    ) -> AsyncGenerator[ThreadStreamEvent, None]:
        cfg = self.cfg
        if cfg.has(Fault.SPURIOUS_THREAD_CREATED) and isinstance(request, ThreadsAddUserMessageReq):
            # A hand-rolled handler that announces the thread on every turn.
            thread = await self.store.load_thread(request.params.thread_id, context)
            yield ThreadCreatedEvent(thread=self._to_thread_response(thread))
        events = super()._process_streaming_impl(request, context)
        if cfg.has(Fault.LATE_THREAD_CREATED) and isinstance(request, ThreadsCreateReq):
            # The user message is stored (and streamed) before the thread is announced.
            created = await anext(events)
            yield await anext(events)
            yield created
        async for event in events:
            yield event

    async def _process_non_streaming(
        self, request: NonStreamingReq, context: RequestContext
    ) -> bytes:
        cfg = self.cfg
        if cfg.has(Fault.UNINDEXED_LIST) and isinstance(request, (ThreadsListReq, ItemsListReq)):
            await asyncio.sleep(cfg.unindexed_list_seconds)  # a full table scan per page
        if cfg.has(Fault.LIST_THREADS_EMPTY) and isinstance(request, ThreadsListReq):
            return self._serialize(Page[ThreadMetadata](data=[], has_more=False))
        if cfg.has(Fault.GET_THREAD_NO_ITEMS) and isinstance(request, ThreadsGetByIdReq):
            # Returns the stored metadata and forgets to load the items.
            thread = await self.store.load_thread(request.params.thread_id, context)
            return self._serialize(self._to_thread_response(thread))
        if cfg.has(Fault.NO_TITLE_SAVE) and isinstance(request, ThreadsUpdateReq):
            thread = await self.store.load_thread(request.params.thread_id, context)
            thread.title = request.params.title
            return self._serialize(self._to_thread_response(thread))  # never saved
        return await super()._process_non_streaming(request, context)
