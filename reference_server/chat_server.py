"""The ChatKitServer subclass: history from the store, context into the instructions.

respond() is the one correct path the seed gets wrong in several ways; each fault
that concerns what the model sees is a small branch right where it happens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any, cast

import anyio
from agents import Agent, ModelSettings, Runner, function_tool, set_tracing_disabled
from agents.items import TResponseInputItem
from agents.mcp import MCPServer
from agents.models.interface import Model
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult, stream_widget
from chatkit.store import NotFoundError
from chatkit.types import (
    Action,
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    Attachment,
    AttachmentsDeleteReq,
    AudioInput,
    ChatKitReq,
    ClientToolCallItem,
    ClosedStatus,
    FeedbackKind,
    InferenceOptions,
    InputTranscribeReq,
    ItemsListReq,
    NonStreamingReq,
    Page,
    ProgressUpdateEvent,
    StreamingReq,
    StreamOptions,
    StreamOptionsEvent,
    StructuredInputItem,
    StructuredInputSubmission,
    SyncCustomActionResponse,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    TranscriptionResult,
    UserMessageItem,
    UserMessageTagContent,
    WidgetItem,
    WidgetRootUpdated,
    is_streaming_req,
)
from openai.types.responses import ResponseInputContentParam, ResponseInputTextParam
from pydantic import TypeAdapter

from . import app_tools, features
from .attachments import SqlAttachmentStore, attachment_text
from .config import ServerConfig
from .context import PageContext, RequestContext
from .faults import Fault
from .item_ids import AssistantIdRewriter
from .mcp_tools import McpTools, UnhandledToolError, is_tool_failure
from .prompt import build_instructions
from .store import SqlStore
from .transcription import transcribe_clip

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


class _DonePerChunk:
    """done-per-chunk fault: a hand-written stream converter that finishes the assistant
    message after every text chunk (thread.item.done with the text so far, same item id)."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[AssistantMessageItem, str]] = {}

    def after(self, event: ThreadStreamEvent) -> ThreadItemDoneEvent | None:
        """The extra thread.item.done to send after ``event``, if any."""
        if isinstance(event, ThreadItemAddedEvent) and isinstance(event.item, AssistantMessageItem):
            self._open[event.item.id] = (event.item, "")
        elif isinstance(event, ThreadItemDoneEvent):
            self._open.pop(event.item.id, None)
        elif (
            isinstance(event, ThreadItemUpdatedEvent)
            and isinstance(event.update, AssistantMessageContentPartTextDelta)
            and event.item_id in self._open
        ):
            item, text = self._open[event.item_id]
            text += event.update.delta
            self._open[item.id] = (item, text)
            partial = item.model_copy(update={"content": [AssistantMessageContent(text=text)]})
            return ThreadItemDoneEvent(item=partial)
        return None


class _Converter(ThreadItemConverter):
    """simple_to_agent_input's converter, plus @-mention tags and attachments: the SDK's
    default raises NotImplementedError for both, which broke every turn carrying one."""

    def __init__(self, store: SqlStore, *, drop_attachments: bool = False) -> None:
        self.store = store
        self.drop_attachments = drop_attachments

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        return ResponseInputTextParam(type="input_text", text=f"@{tag.text} (id {tag.id})")

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        if self.drop_attachments:  # attachment-not-in-prompt fault
            return ResponseInputTextParam(type="input_text", text="")
        return ResponseInputTextParam(
            type="input_text", text=" " + await attachment_text(self.store, attachment)
        )


@function_tool
def harness_lookup(word: str) -> str:
    """Look a word up in the reference server's glossary (a tool the composer can choose)."""
    return f"{word}: not in the glossary"


AGENT_TOOLS = [harness_lookup]
TOOL_IDS = frozenset(tool.name for tool in AGENT_TOOLS)
# Requests that are not chat: the chat-only faults answer them 501 (or 500).
CHAT_TYPES = frozenset(
    {
        "threads.create",
        "threads.add_user_message",
        "threads.get_by_id",
        "threads.list",
        "items.list",
        "threads.update",
        "threads.delete",
    }
)
# Built once: openai-chatkit 1.6.5's process() builds this adapter on every request.
_REQUEST = TypeAdapter[ChatKitReq](ChatKitReq)


class ReferenceChatServer(ChatKitServer[RequestContext]):
    """A correct ChatKit server around an agents Agent, plus the model-side faults."""

    def __init__(self, store: SqlStore, cfg: ServerConfig, model: Model) -> None:
        super().__init__(store, SqlAttachmentStore(store, cfg))
        self.sql_store = store
        self.cfg = cfg
        self.model = model
        self.mcp = McpTools(cfg) if cfg.mcp_url else None
        self.converter = _Converter(store, drop_attachments=cfg.has(Fault.ATTACHMENT_NOT_IN_PROMPT))
        # cancel-locks-thread fault: threads with a reply under way (never cleared on a stop).
        self.generating: set[str] = set()
        self.renamed: set[str] = set()  # get-thread-500-after-rename: threads.update saw these
        # Agent turns streaming at once. Beyond this a turn waits for a slot after its first
        # events (thread.created, the user's message) went out: under a burst the event loop
        # is not flooded by every stream's token events at once, so a new request's first
        # event is not stuck behind them.
        self.generations = asyncio.Semaphore(cfg.max_generations)
        # No tracing export: the offline model must not reach any network.
        set_tracing_disabled(True)

    @property
    def features_on(self) -> bool:
        """Keyword features (widgets, client tools, ...): off where only chat is offered."""
        return not (self.cfg.has(Fault.CHAT_ONLY) or self.cfg.has(Fault.CHAT_ONLY_500))

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

    def _model_for(self, options: InferenceOptions | None) -> Model:
        """The model the composer asked for (OpenAI modes); the offline model has one."""
        name = options.model if options else None
        if not name or self.cfg.has(Fault.DROP_INFERENCE_OPTIONS):
            return self.model
        from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel

        if isinstance(self.model, (OpenAIResponsesModel, OpenAIChatCompletionsModel)):
            return type(self.model)(model=name, openai_client=self.model._client)
        return self.model

    def _settings_for(self, options: InferenceOptions | None) -> ModelSettings:
        """The composer's tool choice as the model's tool_choice (refused when unknown)."""
        choice = options.tool_choice if options else None
        if choice is None or self.cfg.has(Fault.DROP_INFERENCE_OPTIONS):
            return ModelSettings()
        if choice.id not in TOOL_IDS:
            raise CustomStreamError(
                f"unknown tool {choice.id!r} (this assistant has: {', '.join(sorted(TOOL_IDS))})",
                allow_retry=False,
            )
        return ModelSettings(tool_choice=choice.id)

    @staticmethod
    def _options(
        message: UserMessageItem | None, items: list[ThreadItem]
    ) -> InferenceOptions | None:
        """The inference options of this turn: the new message's, else the last user message's."""
        if message is not None:
            return message.inference_options
        for item in reversed(items):
            if isinstance(item, UserMessageItem):
                return item.inference_options
        return None

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Run the agent over the thread's history and stream its reply."""
        cfg = self.cfg
        text = features.message_text(input_user_message) if self.features_on else ""
        for event in features.before_reply(text):
            yield event
        if features.KW_NOTICE in text and cfg.has(Fault.EXTRAS_STORED):
            await self.store.add_thread_item(
                thread.id, self._assistant(thread, context, features.NOTICE_TEXT), context
            )
        pending = features.pending_items(
            thread, text, lambda kind: self.store.generate_item_id(kind, thread, context)
        )
        if pending:
            # The turn waits for the client (a tool to run, a question to answer).
            for item in pending:
                yield ThreadItemDoneEvent(item=item)
            return
        self.generating.add(thread.id)
        async with self.generations:
            async for event in self._agent_reply(thread, input_user_message, context):
                yield event
        if features.wants_widget(text):
            async for event in stream_widget(
                thread,
                features.vote_widget(0),
                copy_text="Votes: 0",
                generate_id=lambda kind: self.store.generate_item_id(kind, thread, context),
            ):
                yield event
        if features.wants_close(text):
            # Changing the status makes the SDK save the thread and stream thread.updated.
            thread.status = ClosedStatus(reason=features.CLOSED_REASON)
        # Cleared on a normal end only: the cancel-locks-thread fault reads it.
        self.generating.discard(thread.id)

    def _assistant(
        self, thread: ThreadMetadata, context: RequestContext, text: str
    ) -> AssistantMessageItem:
        return AssistantMessageItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=text)],
        )

    async def _agent_reply(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if self.mcp is None:
            async for event in self._agent_turn(thread, input_user_message, context, []):
                yield event
            return
        # The turn's MCP connection acts for this turn's user, and lives as long as the turn.
        async with self.mcp.servers_for(context) as servers:
            async for event in self._agent_turn(thread, input_user_message, context, servers):
                yield event

    async def _agent_turn(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
        mcp_servers: list[MCPServer],
    ) -> AsyncIterator[ThreadStreamEvent]:
        cfg = self.cfg
        # The new user message is already stored, so the history ends with it.
        items = await self._thread_items(thread, context)
        options = self._options(input_user_message, items)
        extra_lines: list[str] = []
        if cfg.has(Fault.NO_HISTORY) or (
            cfg.has(Fault.HISTORY_ONLY_WITH_MODEL)
            and not (input_user_message and input_user_message.inference_options.model)
        ):
            # HISTORY_ONLY_WITH_MODEL: a "chat with memory" mode chosen from the model picker.
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
            model=self._model_for(options),
            model_settings=self._settings_for(options),
            # The app tools show what the keywords show; chat-only faults offer neither.
            tools=[*AGENT_TOOLS, *(app_tools.APP_TOOLS if self.features_on else [])],
            tool_use_behavior=app_tools.STOP_AT_CLIENT_TOOL,
            mcp_servers=mcp_servers,
        )
        agent_context = AgentContext[RequestContext](
            thread=thread, store=self.store, request_context=context
        )
        agent_input = await self.converter.to_agent_input(items)
        if cfg.model == "openai-chat":
            agent_input = for_chat_completions(agent_input)
        result = Runner.run_streamed(agent, agent_input, context=agent_context)
        rewrite_id = AssistantIdRewriter(
            lambda: self.store.generate_item_id("message", thread, context),
            force_fake=cfg.has(Fault.FAKE_ITEM_IDS),
        )
        deltas = 0
        per_chunk = _DonePerChunk() if cfg.has(Fault.DONE_PER_CHUNK) else None
        try:
            async for event in stream_agent_response(agent_context, result):
                if _is_text_delta(event):
                    deltas += 1
                    if cfg.has(Fault.LOST_DELTAS) and deltas % LOST_DELTA_EVERY == 0:
                        continue  # a lossy relay: the final item.done still has all the text
                event = rewrite_id(event)
                event = app_tools.with_store_id(
                    event, lambda: self.store.generate_item_id("tool_call", thread, context)
                )
                yield event
                extra = per_chunk.after(event) if per_chunk is not None else None
                if extra is not None:
                    yield extra
                if (
                    cfg.has(Fault.DOUBLE_STORE)
                    and isinstance(event, ThreadItemDoneEvent)
                    and isinstance(event.item, AssistantMessageItem)
                ):
                    # ChatKitServer saved the item when it took the event; this saves it again.
                    await self.store.add_thread_item(thread.id, event.item, context)
        except Exception as exc:
            if cfg.has(Fault.MCP_ERROR_500) and is_tool_failure(exc):
                raise UnhandledToolError(str(exc)) from exc
            raise

    # -- the request types beyond chat -------------------------------------------------------

    def get_stream_options(self, thread: ThreadMetadata, context: RequestContext) -> StreamOptions:
        return StreamOptions(allow_cancel=not self.cfg.has(Fault.NO_CANCEL_OPTION))

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: RequestContext
    ) -> None:
        """The SDK's cleanup (partial reply and the hidden 'cancelled' note), shielded: the
        request's cancel scope is still cancelled, so every await of it would raise again."""
        if self.cfg.has(Fault.CANCEL_DROPS_PARTIAL):
            return
        with anyio.CancelScope(shield=True):
            await super().handle_stream_cancelled(thread, pending_items, context)

    async def add_feedback(
        self, thread_id: str, item_ids: list[str], feedback: FeedbackKind, context: RequestContext
    ) -> None:
        if self.cfg.has(Fault.FEEDBACK_UNSCOPED):
            return  # feedback-unscoped fault: 200 for any ids, nothing checked
        await self.sql_store.save_feedback(thread_id, item_ids, feedback, context)

    async def transcribe(
        self, audio_input: AudioInput, context: RequestContext
    ) -> TranscriptionResult:
        return TranscriptionResult(text=transcribe_clip(audio_input.data, audio_input.media_type))

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """harness.vote on the vote widget replaces it with the new count; harness.ping
        (no widget) answers with a progress update."""
        if action.type == features.VOTE_ACTION and sender is not None:
            updated = features.voted(
                sender,
                (action.payload or {}).get("by") if isinstance(action.payload, dict) else None,
            )
            if self.cfg.has(Fault.ACTION_NOT_SAVED):
                yield ThreadItemUpdatedEvent(
                    item_id=updated.id, update=WidgetRootUpdated(widget=updated.widget)
                )
                return
            yield ThreadItemReplacedEvent(item=updated)  # the SDK saves replaced items
            return
        if action.type == features.PING_ACTION:
            yield ProgressUpdateEvent(text="pong")
            return
        raise CustomStreamError(f"unknown action {action.type!r}", allow_retry=False)

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> SyncCustomActionResponse:
        if action.type == features.VOTE_ACTION and sender is not None:
            by = action.payload.get("by") if isinstance(action.payload, dict) else None
            updated = features.voted(sender, by)
            if not self.cfg.has(Fault.ACTION_NOT_SAVED):
                await self.store.save_item(thread.id, updated, context)
            return SyncCustomActionResponse(updated_item=updated)
        if action.type == features.PING_ACTION:
            return SyncCustomActionResponse()
        raise ValueError(f"unknown action {action.type!r}")

    async def _apply_structured_input_submission(
        self, item: StructuredInputItem, submission: StructuredInputSubmission
    ) -> StructuredInputItem:
        if self.cfg.has(Fault.STRUCTURED_INPUT_RESUBMIT):
            item = item.model_copy(update={"status": "pending"})  # the pending check forgotten
        return await super()._apply_structured_input_submission(item, submission)

    async def _unscoped_action(
        self, request: ThreadsCustomActionReq | ThreadsSyncCustomActionReq, context: RequestContext
    ) -> tuple[str, WidgetItem] | None:
        """action-item-unscoped fault: the widget is found by item id alone, in any thread."""
        if not request.params.item_id:
            return None
        found = await self.sql_store.load_item_anywhere(request.params.item_id)
        if found is None or not isinstance(found[1], WidgetItem):
            raise NotFoundError(f"item {request.params.item_id} not found")
        return cast(tuple[str, WidgetItem], found)

    async def _process_sync_custom_action(
        self, request: ThreadsSyncCustomActionReq, context: RequestContext
    ) -> bytes:
        cfg = self.cfg
        if cfg.has(Fault.ACTION_MISSING_ITEM_500) and request.params.item_id:
            try:
                await self.store.load_item(
                    request.params.thread_id, request.params.item_id, context
                )
            except NotFoundError:
                raise RuntimeError("sender item is None") from None  # an unguarded attribute read
        if cfg.has(Fault.ACTION_ITEM_UNSCOPED):
            found = await self._unscoped_action(request, context)
            if found is not None:
                owner_thread, item = found
                updated = features.voted(item, None)
                await self.sql_store.replace_item_anywhere(owner_thread, updated)
                return self._serialize(SyncCustomActionResponse(updated_item=updated))
        return await super()._process_sync_custom_action(request, context)

    # The SDK's request handlers, overridden only for the faults that break one of them.

    async def _process_streaming_impl(
        self, request: StreamingReq, context: RequestContext
    ) -> AsyncGenerator[ThreadStreamEvent, None]:
        cfg = self.cfg
        if cfg.has(Fault.SPURIOUS_THREAD_CREATED) and isinstance(request, ThreadsAddUserMessageReq):
            # A hand-rolled handler that announces the thread on every turn.
            thread = await self.store.load_thread(request.params.thread_id, context)
            yield ThreadCreatedEvent(thread=self._to_thread_response(thread))
        special = self._faulty_stream(request, context)
        if special is not None:
            async for event in special:
                yield event
            return
        events = super()._process_streaming_impl(request, context)
        if cfg.has(Fault.LATE_THREAD_CREATED) and isinstance(request, ThreadsCreateReq):
            # The user message is stored (and streamed) before the thread is announced.
            created = await anext(events)
            yield await anext(events)
            yield created
        async for event in events:
            yield event

    def _respond_events(
        self, thread: ThreadMetadata, item: UserMessageItem | None, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        return self._process_events(thread, context, lambda: self.respond(thread, item, context))

    def _faulty_stream(
        self, request: StreamingReq, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent] | None:
        """The streaming handlers that one of the protocol faults replaces, else None."""
        cfg = self.cfg
        if isinstance(request, ThreadsAddClientToolOutputReq) and (
            cfg.has(Fault.TOOL_OUTPUT_IGNORED) or cfg.has(Fault.TOOL_OUTPUT_CUT_STREAM)
        ):
            return self._tool_output_faulty(request, context)
        if isinstance(request, ThreadsAddStructuredInputReq) and cfg.has(
            Fault.STRUCTURED_INPUT_IGNORED
        ):
            return self._structured_input_ignored(request, context)
        if isinstance(request, ThreadsRetryAfterItemReq) and cfg.has(Fault.RETRY_KEEPS_NEWER):
            return self._retry_keeping_newer(request, context)
        if isinstance(request, ThreadsCustomActionReq) and (
            cfg.has(Fault.ACTION_ITEM_UNSCOPED) or cfg.has(Fault.ACTION_MISSING_ITEM_500)
        ):
            return self._custom_action_faulty(request, context)
        return None

    async def _tool_output_faulty(
        self, request: ThreadsAddClientToolOutputReq, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        thread = await self.store.load_thread(request.params.thread_id, context)
        last = await self.store.load_thread_items(thread.id, None, 1, "desc", context)
        pending = [
            i for i in last.data if isinstance(i, ClientToolCallItem) and i.status == "pending"
        ]
        if not pending:
            if self.cfg.has(Fault.TOOL_OUTPUT_CUT_STREAM):
                # 200, the stream options, then the stream simply ends: no error event.
                yield StreamOptionsEvent(stream_options=self.get_stream_options(thread, context))
                return
            raise ValueError(f"Last thread item in {thread.id} was not a ClientToolCallItem")
        if not self.cfg.has(Fault.TOOL_OUTPUT_IGNORED):
            # tool-output-cut-stream breaks only the no-pending case.
            async for event in super()._process_streaming_impl(request, context):
                yield event
            return
        # tool-output-ignored: the output is never saved, the agent runs as if it were.
        async for event in self._respond_events(thread, None, context):
            yield event

    async def _structured_input_ignored(
        self, request: ThreadsAddStructuredInputReq, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        thread = await self.store.load_thread(request.params.thread_id, context)
        item = await self.store.load_item(thread.id, request.params.item_id, context)
        if not isinstance(item, StructuredInputItem):
            raise ValueError(f"Item {item.id} is not a StructuredInputItem")
        async for event in self._respond_events(thread, None, context):
            yield event

    async def _retry_keeping_newer(
        self, request: ThreadsRetryAfterItemReq, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        thread = await self.store.load_thread(request.params.thread_id, context)
        item = await self.store.load_item(thread.id, request.params.item_id, context)
        if not isinstance(item, UserMessageItem):
            raise ValueError(f"Item {item.id} is not a user message")
        async for event in self._respond_events(thread, item, context):
            yield event

    async def _custom_action_faulty(
        self, request: ThreadsCustomActionReq, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        params = request.params
        if self.cfg.has(Fault.ACTION_MISSING_ITEM_500) and params.item_id:
            try:
                await self.store.load_item(params.thread_id, params.item_id, context)
            except NotFoundError:
                raise RuntimeError("sender item is None") from None
        if self.cfg.has(Fault.ACTION_ITEM_UNSCOPED):
            found = await self._unscoped_action(request, context)
            if found is not None:
                thread = await self.store.load_thread(params.thread_id, context)
                owner_thread, item = found
                updated = features.voted(item, None)
                await self.sql_store.replace_item_anywhere(owner_thread, updated)
                yield StreamOptionsEvent(stream_options=self.get_stream_options(thread, context))
                yield ThreadItemReplacedEvent(item=updated)
                return
        async for event in super()._process_streaming_impl(request, context):
            yield event

    async def _process_non_streaming(
        self, request: NonStreamingReq, context: RequestContext
    ) -> bytes:
        cfg = self.cfg
        if cfg.has(Fault.HIDDEN_ITEMS_LISTED) and isinstance(request, ItemsListReq):
            p = request.params
            page = await self.store.load_thread_items(
                p.thread_id, p.after, p.limit or 20, p.order, context
            )
            return self._serialize(page)  # hidden context items not filtered out
        if cfg.has(Fault.TRANSCRIBE_WRONG_SHAPE) and isinstance(request, InputTranscribeReq):
            import base64

            data = base64.b64decode(request.params.audio_base64)
            text = transcribe_clip(data, request.params.mime_type.split(";", 1)[0])
            return json.dumps({"transcript": text}).encode()
        if cfg.has(Fault.UNINDEXED_LIST) and isinstance(request, (ThreadsListReq, ItemsListReq)):
            await asyncio.sleep(cfg.unindexed_list_seconds)  # a full table scan per page
        if cfg.has(Fault.LIST_THREADS_EMPTY) and isinstance(request, ThreadsListReq):
            return self._serialize(Page[ThreadMetadata](data=[], has_more=False))
        if cfg.has(Fault.GET_THREAD_NO_ITEMS) and isinstance(request, ThreadsGetByIdReq):
            # Returns the stored metadata and forgets to load the items.
            thread = await self.store.load_thread(request.params.thread_id, context)
            return self._serialize(self._to_thread_response(thread))
        if cfg.has(Fault.GET_THREAD_500_AFTER_RENAME):
            if isinstance(request, ThreadsUpdateReq):
                self.renamed.add(request.params.thread_id)
            elif (
                isinstance(request, ThreadsGetByIdReq) and request.params.thread_id in self.renamed
            ):
                raise RuntimeError("cannot serialise the stored thread object")
        if cfg.has(Fault.NO_TITLE_SAVE) and isinstance(request, ThreadsUpdateReq):
            thread = await self.store.load_thread(request.params.thread_id, context)
            thread.title = request.params.title
            return self._serialize(self._to_thread_response(thread))  # never saved
        if cfg.has(Fault.ATTACHMENT_DELETE_SILENT) and isinstance(request, AttachmentsDeleteReq):
            # A hand-rolled delete that treats "nothing to delete" as done.
            try:
                return await super()._process_non_streaming(request, context)
            except NotFoundError:
                return b"{}"
        return await super()._process_non_streaming(request, context)
