"""An async ChatKit client over httpx, one method per request type.

Streaming calls return a :class:`RecordedStream`: the raw bytes with the monotonic time each
chunk came off the socket, the parsed events, status, headers, time to first byte and to first
event. Bodies are capped so a hostile target cannot exhaust memory, and every call is bounded
by the target's timeout so a stalled stream cannot hang the run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.protocol.sse import Framing, SSEEvent, SSEParser
from harness.protocol.tls import tls_context
from harness.target.config import Identity, Target

# A ChatKit reply is kilobytes; 4 MiB leaves room for long answers and widgets while keeping a
# run against a flooding target (a dozen capped streams alive at once) well under 1 GiB.
MAX_BODY_BYTES = 4 * 1024 * 1024
STALLS_BEFORE_SHORT = 2
STALLED_TIMEOUT = 2.0
# Consecutive timeouts per target URL, shared by every client in the process (the checks
# make their own clients, and a stalling target stalls for all of them).
_STALLS: dict[str, int] = {}
STREAMING_TYPES = frozenset(
    {
        "threads.create",
        "threads.add_user_message",
        "threads.add_client_tool_output",
        "threads.add_structured_input",
        "threads.retry_after_item",
        "threads.custom_action",
    }
)


class _Default:
    """Marks "the client's own identity" apart from ``None`` (no identity at all)."""


DEFAULT = _Default()


class TargetUnreachable(Exception):
    """The target could not be reached at all (connection refused, DNS, TLS): exit code 2."""


@dataclass
class StreamEvent:
    """One SSE event with its arrival time (seconds since the request was sent)."""

    t: float
    raw: SSEEvent
    json: dict[str, Any] | None
    error: str | None = None  # why the data is not a JSON object

    @property
    def type(self) -> str:
        return str(self.json.get("type", "")) if self.json else ""


@dataclass
class Exchange:
    """Common parts of any recorded request/response."""

    request_type: str
    request_body: bytes
    request_headers: dict[str, str]
    url: str
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    ttfb: float | None = None  # seconds from send to the response head
    elapsed: float = 0.0
    transport_error: str | None = None  # reset, timeout, protocol error mid-way
    truncated: bool = False  # the body cap was hit
    # Where the artifacts keep the request body, when it is too long for a repro's command
    # line (set by the run's exchange log as the exchange is recorded).
    request_body_file: str | None = None
    # This attempt died on a reused keep-alive connection before any answer and was sent
    # again on a fresh connection; the exchange returned to the caller is the second try.
    retried: bool = False
    # time.monotonic() when the request went out: lines the arrival times up with the model
    # stub's send times (same clock) in the HTML report's timelines.
    started: float = 0.0
    identity: str = ""  # the name of the identity the request was sent as (never a token)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


@dataclass
class RecordedStream(Exchange):
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    events: list[StreamEvent] = field(default_factory=list)
    framing: Framing = field(default_factory=Framing)
    first_event: float | None = None
    cancelled: bool = False  # the harness closed the stream on purpose (the stop button)

    @property
    def body(self) -> bytes:
        return b"".join(c for _, c in self.chunks)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [e.json for e in self.events if e.json is not None]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [p for p in self.payloads if p.get("type") == type_]

    @property
    def thread_id(self) -> str | None:
        # A hostile or broken target sends any JSON shape: a non-object is no thread.
        for p in self.of_type("thread.created"):
            tid = _obj(p.get("thread")).get("id")
            if isinstance(tid, str):
                return tid
        for p in self.of_type("thread.item.done"):
            tid = _obj(p.get("item")).get("thread_id")
            if isinstance(tid, str):
                return tid
        return None

    @property
    def assistant_text(self) -> str:
        """The final text of every assistant message finished in this stream."""
        texts = []
        for p in self.of_type("thread.item.done"):
            item = _obj(p.get("item"))
            content = item.get("content")
            if item.get("type") == "assistant_message" and isinstance(content, list):
                for part in content:
                    if isinstance(part, dict):
                        texts.append(str(part.get("text", "")))
        return "\n".join(texts)

    def delta_times(self) -> list[float]:
        return [
            e.t
            for e in self.events
            if e.json
            and e.type == "thread.item.updated"
            and _obj(e.json.get("update")).get("type")
            == "assistant_message.content_part.text_delta"
        ]

    def excerpt(self, lines: int = 8) -> str:
        """The first raw lines with their arrival times, for evidence."""
        out: list[str] = []
        for e in self.events[:lines]:
            out.append(f"+{e.t * 1000:7.1f} ms  data: {e.raw.data[:160]}")
        if not self.events:
            raw = self.body[:400].decode("utf-8", errors="replace")
            out.append(f"(no events) body starts: {raw!r}")
        return "\n".join(out)


@dataclass
class JsonResponse(Exchange):
    body: bytes = b""

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body[:2000].decode("utf-8", errors="replace")


def user_input(
    text: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    attachments: Iterable[str] = (),
    inference_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``UserMessageInput``; ``metadata`` is injected the way the seed's custom fetch does."""
    inp: dict[str, Any] = {
        "content": [{"type": "input_text", "text": text}],
        "attachments": list(attachments),
        "inference_options": dict(inference_options or {}),
    }
    if metadata is not None:
        inp["metadata"] = dict(metadata)
    return inp


def context_headers(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The same context carried as headers, as ChatKit's docs advise for custom fetch."""
    # No X-User-ID here: identity headers are the auth checks' business, and a correct
    # server refuses one that disagrees with the token's subject.
    out: dict[str, str] = {}
    user = metadata.get("userInfo") or {}
    if user.get("name"):
        out["X-User-Name"] = str(user["name"])
    page = metadata.get("pageContext")
    if page:
        out["X-Page-Context"] = json.dumps(page, separators=(",", ":"))
        if page.get("title"):
            out["X-Page-Title"] = str(page["title"])
        if page.get("url"):
            out["X-Page-Url"] = str(page["url"])
    return out


class ChatKitClient:
    def __init__(
        self,
        target: Target,
        *,
        identity: Identity | None = None,
        url: str | None = None,
        max_body: int = MAX_BODY_BYTES,
        on_exchange: Iterable[Callable[[Exchange], None]] = (),
    ) -> None:
        self.target = target
        self.url = url or target.url
        self.identity = identity if identity is not None else target.identity("a")
        self.max_body = max_body
        # Called with every finished exchange (the artifacts recorder); pass
        # ``on_exchange=other.on_exchange`` to a second client so it is recorded too.
        self.on_exchange = list(on_exchange)
        timeout = httpx.Timeout(target.timeout, connect=min(10.0, target.timeout))
        self._http = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, verify=tls_context()
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ChatKitClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- building requests ------------------------------------------------------------------

    def headers_for(
        self,
        identity: Identity | None,
        extra: Mapping[str, str] | None = None,
        *,
        streaming: bool = False,
    ) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if streaming:
            h["Accept"] = "text/event-stream"
        h.update(self.target.headers)
        if identity is not None:
            h.update(identity.headers)
        if extra:
            h.update(extra)
        return h

    def body(
        self, type_: str, params: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
    ) -> bytes:
        env: dict[str, Any] = {"type": type_, "params": dict(params)}
        inp = env["params"].get("input")
        if self.target.inference_options and isinstance(inp, dict):
            # Every user message, whoever built it, carries the configured options (the
            # composer's model picker): a request that set its own keeps them.
            options = inp.get("inference_options") or {}
            merged = {**self.target.inference_options, **options}
            env["params"]["input"] = {**inp, "inference_options": merged}
        if metadata is not None:
            env["metadata"] = dict(metadata)
        return json.dumps(env).encode()

    # -- the two transports -----------------------------------------------------------------

    async def stream_raw(
        self,
        body: bytes,
        *,
        request_type: str = "",
        headers: Mapping[str, str] | None = None,
        identity: Identity | _Default | None = DEFAULT,
        url: str | None = None,
        stop_after_deltas: int | None = None,
    ) -> RecordedStream:
        """POST ``body`` and record the stream; ``stop_after_deltas`` closes the connection
        after that many assistant text deltas, as the stop button does."""
        who = self.identity if isinstance(identity, _Default) else identity
        h = self.headers_for(who, headers, streaming=True)
        target = url or self.url
        rec, reused = await self._stream_once(
            self._http,
            RecordedStream(request_type, body, h, target, identity=_name(who)),
            stop_after_deltas,
        )
        if reused and _dropped(rec) and not rec.cancelled:
            self._mark_retried(rec)
            async with self._fresh() as http:
                rec, _ = await self._stream_once(
                    http,
                    RecordedStream(request_type, body, h, target, identity=_name(who)),
                    stop_after_deltas,
                )
        self._observe(rec)
        return rec

    async def _stream_once(
        self, http: httpx.AsyncClient, rec: RecordedStream, stop_after_deltas: int | None = None
    ) -> tuple[RecordedStream, bool]:
        """One attempt; also says whether it went out on a reused (pooled) connection."""
        parser = SSEParser()
        trace = _ConnectionTrace()
        t0 = rec.started = time.monotonic()
        try:
            async with asyncio.timeout(limit := self._limit(rec.url)):
                async with http.stream(
                    "POST",
                    rec.url,
                    content=rec.request_body,
                    headers=_wire(rec.request_headers),
                    extensions={"trace": trace},
                ) as resp:
                    rec.ttfb = time.monotonic() - t0
                    rec.status = resp.status_code
                    rec.headers = list(resp.headers.multi_items())
                    size = 0
                    # aiter_raw: the bytes as sent (no gzip decoding), so framing and
                    # compression checks see the wire; decoded separately below if needed.
                    async for chunk in resp.aiter_raw():
                        t = time.monotonic() - t0
                        size += len(chunk)
                        if size > self.max_body:
                            rec.truncated = True
                            break
                        rec.chunks.append((t, chunk))
                        if _encoding(rec) == "identity":
                            self._add_events(rec, parser.feed(chunk, t))
                        if stop_after_deltas is not None and (
                            len(rec.delta_times()) >= stop_after_deltas
                        ):
                            rec.cancelled = True
                            break  # leaving the block closes the connection mid-stream
        except (TimeoutError, httpx.TimeoutException):
            rec.transport_error = self._stalled(rec.url, limit)
        except httpx.ConnectError as exc:
            raise TargetUnreachable(f"cannot connect to {rec.url}: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            rec.transport_error = f"{type(exc).__name__}: {_reason(exc)}"
        rec.elapsed = time.monotonic() - t0
        if not rec.transport_error:
            _STALLS.pop(rec.url, None)
        encoding = _encoding(rec)
        if encoding != "identity" and not rec.truncated:
            # A compressed stream only becomes readable once whole; its events all carry
            # the time the body ended, which is the truth about when a client could act.
            decoded = _decode_body(rec.body, encoding, self.max_body)
            if decoded is not None:
                if len(decoded) > self.max_body:  # a compression bomb: the cap holds here too
                    rec.truncated = True
                    decoded = decoded[: self.max_body]
                self._add_events(rec, parser.feed(decoded, rec.elapsed))
        rec.framing = parser.close()
        return rec, trace.reused

    async def request_raw(
        self,
        body: bytes,
        *,
        request_type: str = "",
        headers: Mapping[str, str] | None = None,
        identity: Identity | _Default | None = DEFAULT,
        url: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> JsonResponse:
        who = self.identity if isinstance(identity, _Default) else identity
        h = self.headers_for(who, headers)
        target = url or self.url
        http = client or self._http
        rec, reused = await self._request_once(
            http, JsonResponse(request_type, body, h, target, identity=_name(who))
        )
        if reused and _dropped(rec):
            self._mark_retried(rec)
            async with self._fresh() as fresh:
                rec, _ = await self._request_once(
                    fresh, JsonResponse(request_type, body, h, target, identity=_name(who))
                )
        self._observe(rec)
        return rec

    async def _request_once(
        self, http: httpx.AsyncClient, rec: JsonResponse
    ) -> tuple[JsonResponse, bool]:
        trace = _ConnectionTrace()
        t0 = rec.started = time.monotonic()
        try:
            async with asyncio.timeout(limit := self._limit(rec.url)):
                async with http.stream(
                    "POST",
                    rec.url,
                    content=rec.request_body,
                    headers=_wire(rec.request_headers),
                    extensions={"trace": trace},
                ) as resp:
                    rec.ttfb = time.monotonic() - t0
                    rec.status = resp.status_code
                    rec.headers = list(resp.headers.multi_items())
                    buf = bytearray()
                    async for chunk in resp.aiter_bytes():
                        buf += chunk
                        if len(buf) > self.max_body:
                            rec.truncated = True
                            break
                    rec.body = bytes(buf)
        except (TimeoutError, httpx.TimeoutException):
            rec.transport_error = self._stalled(rec.url, limit)
        except httpx.ConnectError as exc:
            raise TargetUnreachable(f"cannot connect to {rec.url}: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            rec.transport_error = f"{type(exc).__name__}: {_reason(exc)}"
        rec.elapsed = time.monotonic() - t0
        if not rec.transport_error:
            _STALLS.pop(rec.url, None)
        return rec, trace.reused

    def _fresh(self) -> httpx.AsyncClient:
        """A short-lived client for one retry: its own pool, so no other dead connection."""
        timeout = httpx.Timeout(self.target.timeout, connect=min(10.0, self.target.timeout))
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=tls_context())

    def _mark_retried(self, rec: Exchange) -> None:
        """The failed attempt still reached the target: observers see it, marked."""
        rec.retried = True
        rec.transport_error = f"{rec.transport_error}; sent again on a fresh connection"
        self._observe(rec)

    def _limit(self, url: str) -> float:
        """The time one request gets: the full timeout, or a short one once the target stalls.

        Against a target that stalls every request, waiting the full timeout each time turns a
        run of ~100 requests into most of an hour. After two timeouts in a row the next
        requests to that URL get STALLED_TIMEOUT s each until one of them completes.
        """
        if _STALLS.get(url, 0) >= STALLS_BEFORE_SHORT:
            return min(self.target.timeout, STALLED_TIMEOUT)
        return self.target.timeout

    def _stalled(self, url: str, limit: float) -> str:
        _STALLS[url] = _STALLS.get(url, 0) + 1
        note = "" if limit == self.target.timeout else " (shortened: the target stalled before)"
        return f"timed out after {limit:g} s{note}"

    def _observe(self, rec: Exchange) -> None:
        for callback in self.on_exchange:
            callback(rec)

    @staticmethod
    def _add_events(rec: RecordedStream, events: list[SSEEvent]) -> None:
        for ev in events:
            payload: dict[str, Any] | None = None
            error = None
            try:
                value = json.loads(ev.data)
                if isinstance(value, dict):
                    payload = value
                else:
                    error = "data is JSON but not an object"
            except ValueError as exc:
                error = f"data is not JSON: {exc}"
            if rec.first_event is None:
                rec.first_event = ev.t
            rec.events.append(StreamEvent(ev.t, ev, payload, error))

    # -- one method per request type --------------------------------------------------------

    async def call(
        self,
        type_: str,
        params: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        identity: Identity | _Default | None = DEFAULT,
    ) -> RecordedStream | JsonResponse:
        body = self.body(type_, params, metadata)
        if type_ in STREAMING_TYPES:
            return await self.stream_raw(
                body, request_type=type_, headers=headers, identity=identity
            )
        return await self.request_raw(body, request_type=type_, headers=headers, identity=identity)

    def _ctx_headers(self, context: Mapping[str, Any] | None) -> dict[str, str]:
        if context and self.target.context_mode in ("headers", "both"):
            return context_headers(context)
        return {}

    def _ctx_body(self, context: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if context and self.target.context_mode in ("body", "both"):
            return context
        return None

    async def create_thread(
        self,
        text: str,
        *,
        context: Mapping[str, Any] | None = None,
        identity: Identity | _Default | None = DEFAULT,
        headers: Mapping[str, str] | None = None,
        attachments: Iterable[str] = (),
        inference_options: Mapping[str, Any] | None = None,
    ) -> RecordedStream:
        inp = user_input(
            text,
            self._ctx_body(context),
            attachments=attachments,
            inference_options=inference_options,
        )
        params = {"input": inp}
        h = {**self._ctx_headers(context), **(headers or {})}
        body = self.body("threads.create", params)
        return await self.stream_raw(
            body, request_type="threads.create", headers=h, identity=identity
        )

    async def add_user_message(
        self,
        thread_id: str,
        text: str,
        *,
        context: Mapping[str, Any] | None = None,
        identity: Identity | _Default | None = DEFAULT,
        headers: Mapping[str, str] | None = None,
        attachments: Iterable[str] = (),
        inference_options: Mapping[str, Any] | None = None,
        stop_after_deltas: int | None = None,
    ) -> RecordedStream:
        inp = user_input(
            text,
            self._ctx_body(context),
            attachments=attachments,
            inference_options=inference_options,
        )
        params = {"thread_id": thread_id, "input": inp}
        h = {**self._ctx_headers(context), **(headers or {})}
        body = self.body("threads.add_user_message", params)
        return await self.stream_raw(
            body,
            request_type="threads.add_user_message",
            headers=h,
            identity=identity,
            stop_after_deltas=stop_after_deltas,
        )

    async def _json(self, type_: str, params: Mapping[str, Any], **kw: Any) -> JsonResponse:
        body = self.body(type_, params)
        return await self.request_raw(body, request_type=type_, **kw)

    async def get_thread(self, thread_id: str, **kw: Any) -> JsonResponse:
        return await self._json("threads.get_by_id", {"thread_id": thread_id}, **kw)

    async def list_items(
        self,
        thread_id: str,
        *,
        limit: int = 100,
        order: str = "asc",
        after: str | None = None,
        **kw: Any,
    ) -> JsonResponse:
        params: dict[str, Any] = {"thread_id": thread_id, "limit": limit, "order": order}
        if after is not None:
            params["after"] = after
        return await self._json("items.list", params, **kw)

    async def list_threads(
        self, *, limit: int = 100, order: str = "desc", after: str | None = None, **kw: Any
    ) -> JsonResponse:
        params: dict[str, Any] = {"limit": limit, "order": order}
        if after is not None:
            params["after"] = after
        return await self._json("threads.list", params, **kw)

    async def update_thread(self, thread_id: str, title: str, **kw: Any) -> JsonResponse:
        return await self._json("threads.update", {"thread_id": thread_id, "title": title}, **kw)

    async def delete_thread(self, thread_id: str, **kw: Any) -> JsonResponse:
        return await self._json("threads.delete", {"thread_id": thread_id}, **kw)

    async def retry_after_item(self, thread_id: str, item_id: str, **kw: Any) -> RecordedStream:
        body = self.body("threads.retry_after_item", {"thread_id": thread_id, "item_id": item_id})
        return await self.stream_raw(body, request_type="threads.retry_after_item", **kw)

    async def _stream(self, type_: str, params: Mapping[str, Any], **kw: Any) -> RecordedStream:
        return await self.stream_raw(self.body(type_, params), request_type=type_, **kw)

    async def feedback(
        self, thread_id: str, item_ids: Iterable[str], kind: str, **kw: Any
    ) -> JsonResponse:
        params = {"thread_id": thread_id, "item_ids": list(item_ids), "kind": kind}
        return await self._json("items.feedback", params, **kw)

    async def create_attachment(
        self, name: str, size: int, mime_type: str, **kw: Any
    ) -> JsonResponse:
        params = {"name": name, "size": size, "mime_type": mime_type}
        return await self._json("attachments.create", params, **kw)

    async def delete_attachment(self, attachment_id: str, **kw: Any) -> JsonResponse:
        return await self._json("attachments.delete", {"attachment_id": attachment_id}, **kw)

    async def transcribe(self, audio_base64: str, mime_type: str, **kw: Any) -> JsonResponse:
        params = {"audio_base64": audio_base64, "mime_type": mime_type}
        return await self._json("input.transcribe", params, **kw)

    async def add_client_tool_output(
        self, thread_id: str, result: Any, **kw: Any
    ) -> RecordedStream:
        params = {"thread_id": thread_id, "result": result}
        return await self._stream("threads.add_client_tool_output", params, **kw)

    async def add_structured_input(
        self, thread_id: str, item_id: str, submission: Mapping[str, Any], **kw: Any
    ) -> RecordedStream:
        params = {"thread_id": thread_id, "item_id": item_id, "input": dict(submission)}
        return await self._stream("threads.add_structured_input", params, **kw)

    @staticmethod
    def _action_params(
        thread_id: str, item_id: str | None, action: Mapping[str, Any]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"thread_id": thread_id, "action": dict(action)}
        if item_id is not None:
            params["item_id"] = item_id
        return params

    async def custom_action(
        self, thread_id: str, item_id: str | None, action: Mapping[str, Any], **kw: Any
    ) -> RecordedStream:
        params = self._action_params(thread_id, item_id, action)
        return await self._stream("threads.custom_action", params, **kw)

    async def sync_custom_action(
        self, thread_id: str, item_id: str | None, action: Mapping[str, Any], **kw: Any
    ) -> JsonResponse:
        params = self._action_params(thread_id, item_id, action)
        return await self._json("threads.sync_custom_action", params, **kw)

    async def send(
        self,
        method: str,
        url: str,
        content: bytes = b"",
        *,
        headers: Mapping[str, str] | None = None,
        identity: Identity | _Default | None = DEFAULT,
        request_type: str = "",
    ) -> JsonResponse:
        """Any request to any URL (an attachment's upload URL), recorded like the others."""
        who = self.identity if isinstance(identity, _Default) else identity
        h: dict[str, str] = dict(who.headers) if who is not None else {}
        h.update(headers or {})
        rec = JsonResponse(request_type or f"{method} upload", content, h, url)
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(self._limit(url)):
                resp = await self._http.request(method, url, content=content, headers=_wire(h))
                rec.ttfb = time.monotonic() - t0
                rec.status = resp.status_code
                rec.headers = list(resp.headers.multi_items())
                rec.body = resp.content[: self.max_body]
        except (TimeoutError, httpx.TimeoutException):
            rec.transport_error = self._stalled(url, self.target.timeout)
        except httpx.HTTPError as exc:
            rec.transport_error = f"{type(exc).__name__}: {_reason(exc)}"
        rec.elapsed = time.monotonic() - t0
        self._observe(rec)
        return rec


class _ConnectionTrace:
    """httpcore's ``trace`` extension: did this request open a connection of its own?

    A request that opened none went out on a pooled keep-alive connection, the one case where
    a close or reset before any answer can be the server ending an idle connection just as
    the request arrived (a race of the transport, not an answer to the request).
    """

    def __init__(self) -> None:
        self.connected = False

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event.startswith(("connection.connect_tcp.", "connection.connect_unix_socket.")):
            self.connected = True

    @property
    def reused(self) -> bool:
        return not self.connected


# What a dropped connection looks like once httpx has reported it (timeouts are not drops).
_DROPPED = ("connection reset", "server disconnected", "connection aborted", "broken pipe")


def _dropped(rec: Exchange) -> bool:
    """Closed or reset before any status line: worth one more try on a fresh connection."""
    if rec.status != 0 or not rec.transport_error or rec.transport_error.startswith("timed out"):
        return False
    kind = rec.transport_error.split(":", 1)[0]
    text = rec.transport_error.lower()
    return kind in _DROPPED_TYPES or any(word in text for word in _DROPPED)


_DROPPED_TYPES = frozenset({"RemoteProtocolError", "ReadError", "WriteError"})


def _name(who: Identity | None) -> str:
    return who.name if who is not None else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _wire(headers: Mapping[str, str]) -> dict[bytes, bytes]:
    """Header values as UTF-8 bytes: httpx would refuse a non-ASCII user name or page title."""
    return {k.encode("ascii"): v.encode("utf-8") for k, v in headers.items()}


def _encoding(ex: Exchange) -> str:
    # Content codings are case-insensitive (RFC 9110 §8.4.1).
    return (ex.header("content-encoding") or "").strip().lower() or "identity"


def _reason(exc: BaseException) -> str:
    # httpx.ReadError for a reset has no text; the OSError underneath it says what happened.
    cause: BaseException | None = exc
    while cause is not None and not str(cause):
        cause = cause.__cause__ or cause.__context__
    text = str(cause) if cause is not None else type(exc).__name__
    return text.splitlines()[0][:200]


def _decode_body(body: bytes, encoding: str, limit: int) -> bytes | None:
    """The decoded body, at most ``limit + 1`` bytes (a few KB of gzip can expand to GBs);
    None when it is not valid gzip/deflate or ends inside a member."""
    import zlib

    wbits = {"gzip": 31, "deflate": 15}.get(encoding)
    if wbits is None:
        return None
    out = bytearray()
    data = body
    try:
        while data and len(out) <= limit:
            d = zlib.decompressobj(wbits)
            out += d.decompress(data, limit + 1 - len(out))
            if not d.eof:
                # Either the limit was reached (fine: the caller truncates) or the body
                # ended inside the member (not decodable, as gzip.decompress would say).
                return bytes(out) if len(out) > limit else None
            data = d.unused_data
            if encoding != "gzip" or not data.startswith(b"\x1f\x8b"):
                break  # gzip may hold several members; anything else after the end is ignored
    except zlib.error:
        return None
    return bytes(out)
