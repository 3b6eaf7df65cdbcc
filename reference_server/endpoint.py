"""The ``POST /chatkit`` handler: everything the SDK's process() does not do itself.

Order of checks (each answers with a complete JSON response, so the keep-alive
connection stays usable): read the whole body -> authenticate -> size (413) ->
JSON (400) -> ChatKit request validation (400) -> thread exists for this user
(404) -> process(). A stream starts only once its first event exists, so every
error that happens before respond() still becomes a JSON status, not a broken 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import ChatKitReq, is_streaming_req
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from .attachments import RequestRefused
from .auth import AuthError, Identity, TokenVerifier, authenticate
from .chat_server import CHAT_TYPES, ReferenceChatServer
from .config import ServerConfig
from .context import RequestContext, extract_user_and_page
from .errors import auth_error_response, json_error
from .faults import Fault
from .sse import sse_response
from .store import SqlStore
from .transcription import TranscriptionRefused, check_audio

log = logging.getLogger("reference_server")
_REQUEST = TypeAdapter[ChatKitReq](ChatKitReq)
# Beyond this much we stop draining an oversized body and close the connection.
DRAIN_LIMIT = 64 * 1024 * 1024
# Requests that add to a thread: refused while the thread is closed or locked.
ADDS_TO_THREAD = frozenset(
    {
        "threads.add_user_message",
        "threads.add_client_tool_output",
        "threads.add_structured_input",
        "threads.retry_after_item",
        "threads.custom_action",
    }
)
ACTIONS = frozenset({"threads.custom_action", "threads.sync_custom_action"})
STREAM_ERROR_FRAME = b'data: {"type":"error","code":"stream.error","allow_retry":true}\n\n'


async def read_body(request: Request, limit: int) -> tuple[bytes, bool, bool]:
    """(body, too_large, fully_read): the body is always drained so the connection survives."""
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            too_large = True
        if not too_large:
            chunks.append(chunk)
        if size > DRAIN_LIMIT:
            return b"", True, False
    return b"".join(chunks), too_large, True


def _validation_detail(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    where = ".".join(str(part) for part in errors[0]["loc"]) or "(root)"
    return f"{exc.error_count()} validation error(s); first at {where}: {errors[0]['msg']}"


class ChatKitEndpoint:
    """State shared by all /chatkit requests of one app."""

    def __init__(
        self,
        cfg: ServerConfig,
        store: SqlStore,
        server: ReferenceChatServer,
        verifier: TokenVerifier,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.server = server
        self.verifier = verifier
        self._cold = cfg.has(Fault.COLD_START)
        self._cold_lock = asyncio.Lock()

    async def _cold_start(self) -> None:
        # cold-start fault: the first request pays for connecting an unwarmed database.
        async with self._cold_lock:
            if self._cold:
                await asyncio.sleep(self.cfg.cold_start_seconds)
                self._cold = False

    async def handle(self, request: Request) -> Response:
        """Answer one ChatKit request; never raises except under the bare-500 fault."""
        if self.store.request_pool is not None:
            return await self._holding_connection(request)
        return await self._answer(request)

    async def _holding_connection(self, request: Request) -> Response:
        """pool-exhaustion: a session-per-request dependency that keeps its pooled connection
        until the response is over, a stream's last byte included."""
        await self.store.hold_request_connection()
        try:
            response = await self._answer(request)
        except BaseException:
            self.store.release_request_connection()
            raise
        if not isinstance(response, StreamingResponse):
            self.store.release_request_connection()
            return response
        inner = response.body_iterator

        async def held() -> AsyncIterator[Any]:
            try:
                async for chunk in inner:
                    yield chunk
            finally:
                self.store.release_request_connection()

        response.body_iterator = held()
        return response

    async def _answer(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except Exception:
            if self.cfg.has(Fault.BARE_500):
                # The SDK's default wiring: the framework's bare 500, connection dropped.
                log.exception("unhandled error (bare-500 fault)")
                return PlainTextResponse(
                    "Internal Server Error", status_code=500, headers={"Connection": "close"}
                )
            log.exception("internal error while handling a ChatKit request")
            return json_error(500, "internal", "unexpected server error")

    async def _handle(self, request: Request) -> Response:
        cfg = self.cfg
        limit = cfg.max_body_bytes
        if cfg.has(Fault.NO_BODY_LIMIT) or cfg.has(Fault.BARE_500):
            limit = DRAIN_LIMIT  # no limit of its own (the SDK's default wiring has none)
        body, too_large, fully_read = await read_body(request, limit)
        if self._cold:
            await self._cold_start()
        if cfg.has(Fault.REFUSE_ALL):
            return auth_error_response(AuthError("the token is not accepted"))
        try:
            identity = await authenticate(request.headers, cfg, self.verifier)
        except AuthError as exc:
            return auth_error_response(exc)
        request.state.user = identity.user_id
        if too_large:
            headers = None if fully_read else {"Connection": "close"}
            return json_error(413, "payload_too_large", f"body exceeds {limit} bytes", headers)
        try:
            raw: Any = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            if not cfg.has(Fault.BARE_500):
                return json_error(400, "invalid_json", f"body is not JSON: {exc}")
            raw = None
        request_type = raw.get("type") if isinstance(raw, dict) else None
        if isinstance(request_type, str):
            request.state.request_type = request_type
        context = self._context(raw, request, identity)
        if cfg.has(Fault.BARE_500):
            # No validation or existence check in front of process(): its exceptions
            # surface as the bare 500 above, or break a stream already under way.
            result = await self.server.process(body, context)
            if isinstance(result, StreamingResult):
                return await sse_response(result.json_events, cfg)
            return Response(content=result.json, media_type="application/json")
        return await self._validated(body, context)

    def _context(self, raw: Any, request: Request, identity: Identity) -> RequestContext:
        headers: Mapping[str, str] = request.headers
        if self.cfg.has(Fault.HEADER_NAME_ONLY):
            headers = {k: v for k, v in headers.items() if not k.lower().startswith("x-page-")}
        user_name, page = extract_user_and_page(raw, headers, identity.claims)
        return RequestContext(
            user_id=identity.user_id,
            user_name=user_name,
            page=page,
            request_type=getattr(request.state, "request_type", None),
            access_token=identity.token,
            base_url=str(request.base_url),
        )

    def _not_chat(self, request_type: str) -> Response | None:
        """chat-only faults: every request type beyond chat is 501 (or a bare 500)."""
        if request_type in CHAT_TYPES:
            return None
        if self.cfg.has(Fault.CHAT_ONLY):
            return json_error(501, "not_implemented", f"{request_type} is not supported here")
        if self.cfg.has(Fault.CHAT_ONLY_500):
            return json_error(500, "internal", "unexpected server error")
        return None

    def _skips_item_check(self, request_type: str) -> bool:
        cfg = self.cfg
        if request_type == "threads.retry_after_item":
            return cfg.has(Fault.RETRY_UNKNOWN_EMPTY)
        if request_type in ACTIONS:
            return cfg.has(Fault.ACTION_ITEM_UNSCOPED) or cfg.has(Fault.ACTION_MISSING_ITEM_500)
        return False

    async def _precheck(self, parsed: Any, context: RequestContext) -> Response | None:
        """Thread, item and state checks that answer with a JSON status before process()."""
        cfg = self.cfg
        streaming = is_streaming_req(parsed)
        thread_id = getattr(parsed.params, "thread_id", None)
        skip_check = streaming and cfg.has(Fault.CUT_STREAM_ON_MISSING_THREAD)
        if parsed.type == "items.feedback" and cfg.has(Fault.FEEDBACK_UNSCOPED):
            skip_check = True
        if parsed.type == "input.transcribe" and not cfg.has(Fault.TRANSCRIBE_UNCHECKED):
            try:
                check_audio(parsed.params.audio_base64, parsed.params.mime_type)
            except TranscriptionRefused as exc:
                return json_error(exc.status, exc.error, exc.detail)
        inp = getattr(parsed.params, "input", None)
        for attachment_id in getattr(inp, "attachments", None) or []:
            # Before the stream starts: the SDK loads them after thread.created is sent.
            try:
                await self.store.load_attachment(attachment_id, context)
            except NotFoundError:
                return json_error(404, "not_found", f"attachment {attachment_id} not found")
        if not isinstance(thread_id, str) or skip_check:
            return None
        try:
            thread = await self.store.load_thread(thread_id, context)
        except NotFoundError:
            if parsed.type == "threads.delete" and cfg.has(Fault.DELETE_WRONG_THREAD):
                return await self._delete_active_thread(context)
            if parsed.type in ("threads.update", "threads.delete") and cfg.has(
                Fault.UNKNOWN_THREAD_SILENT
            ):
                return Response(content=b"{}", media_type="application/json")
            return json_error(404, "not_found", f"thread {thread_id} not found")
        # An unknown item: retry_after_item would otherwise stream an empty 200.
        item_id = getattr(parsed.params, "item_id", None)
        if isinstance(item_id, str) and not self._skips_item_check(parsed.type):
            try:
                await self.store.load_item(thread_id, item_id, context)
            except NotFoundError:
                return json_error(404, "not_found", f"item {item_id} not found")
        if parsed.type in ADDS_TO_THREAD:
            if thread.status.type != "active" and not cfg.has(Fault.CLOSED_THREAD_ACCEPTS):
                reason = getattr(thread.status, "reason", None) or "no reason given"
                return json_error(
                    409, "thread_closed", f"thread {thread_id} is {thread.status.type}: {reason}"
                )
            if cfg.has(Fault.CANCEL_LOCKS_THREAD) and thread_id in self.server.generating:
                return json_error(409, "busy", f"a reply is still being generated in {thread_id}")
        return None

    async def _validated(self, body: bytes, context: RequestContext) -> Response:
        try:
            parsed = _REQUEST.validate_json(body)
        except ValidationError as exc:
            return json_error(400, "invalid_request", _validation_detail(exc))
        refused = self._not_chat(parsed.type) or await self._precheck(parsed, context)
        if refused is not None:
            return refused
        try:
            result = await self.server.process(body, context)
        except (RequestRefused, TranscriptionRefused) as exc:
            return json_error(exc.status, exc.error, exc.detail)
        except NotFoundError as exc:
            return json_error(404, "not_found", str(exc) or "not found")
        except NotImplementedError as exc:
            return json_error(501, "not_implemented", str(exc) or "not implemented")
        except ValueError as exc:
            return json_error(400, "invalid_request", str(exc))
        if isinstance(result, StreamingResult):
            return await self._stream(result.json_events)
        # json-as-text: the JSON body mislabelled, as a bare Response(content=...) ends up.
        media_type = "text/plain" if self.cfg.has(Fault.JSON_AS_TEXT) else "application/json"
        return Response(content=result.json, media_type=media_type)

    async def _delete_active_thread(self, context: RequestContext) -> Response:
        """delete-wrong-thread: an unknown id falls back to the user's newest thread."""
        newest = await self.store.load_threads(1, None, "desc", context)
        for thread in newest.data:
            await self.store.delete_thread(thread.id, context)
        return Response(content=b"{}", media_type="application/json")

    async def _stream(self, events: AsyncIterator[bytes]) -> Response:
        """Start the SSE response only once the first event exists."""
        try:
            first = await anext(events)
        except StopAsyncIteration:
            first = b""
        except NotFoundError as exc:
            if self.cfg.has(Fault.CUT_STREAM_ON_MISSING_THREAD):
                return await sse_response(_nothing(), self.cfg)  # 200, then silence
            return json_error(404, "not_found", str(exc) or "not found")
        except ValueError as exc:
            return json_error(400, "invalid_request", str(exc))
        return await sse_response(_rest(first, events), self.cfg)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover  (makes this an async generator)


async def _rest(first: bytes, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``first`` then the remaining events; a late failure ends with an error event."""
    if first:
        yield first
    try:
        async for chunk in events:
            yield chunk
    except Exception:
        # Headers are gone: the only honest signal left is ChatKit's own error event.
        log.exception("stream failed after it started")
        yield STREAM_ERROR_FRAME
