"""One simulated user's ChatKit conversation, and what it records for the invariants.

No Locust here: the requests go through :class:`harness.load.http.Connection` (blocking
sockets, cooperative under gevent), streams are parsed as they arrive by the harness's own
sans-I/O SSE parser, and everything the invariants need afterwards is kept in a
:class:`UserRecord`. The Locust user class (:mod:`harness.load.user`) only drives this and
reports the figures to Locust's statistics.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.load.http import Connection, Response, TransportError
from harness.protocol.sse import SSEParser

# Every user's messages carry its own marker; another user's marker in a stream or an item
# list is data that leaked across users. Markers are random, so a deployment cannot have
# them for any other reason.
MARKER_RE = re.compile(rb"lt-[0-9a-f]{12}")
MARKER_TEXT_RE = re.compile(r"lt-[0-9a-f]{12}")
TEXT_DELTA = "assistant_message.content_part.text_delta"
EXCERPT = 300


def new_marker() -> str:
    return "lt-" + uuid.uuid4().hex[:12]


@dataclass
class StreamResult:
    """What one streamed request showed, measured as the bytes arrived."""

    request_type: str
    status: int = 0
    ttfb: float | None = None
    ttfe: float | None = None  # send -> first complete event
    ttft: float | None = None  # send -> first assistant text delta
    gaps: list[float] = field(default_factory=list)  # between consecutive events
    events: int = 0
    elapsed: float = 0.0
    bytes: int = 0
    thread_id: str | None = None
    done_items: list[str] = field(default_factory=list)  # ids of thread.item.done items
    finished: bool = False  # an assistant message was announced done
    error_events: list[str] = field(default_factory=list)
    unterminated: bool = False  # the body ended inside an event
    transport_error: str | None = None
    markers: set[str] = field(default_factory=set)
    excerpt: str = ""  # the start of the body (for evidence)

    @property
    def failure(self) -> str | None:
        """Why this request counts as failed, or None."""
        if self.transport_error:
            return self.transport_error
        if self.status != 200:
            return f"HTTP {self.status}"
        if self.error_events:
            return f"error event: {self.error_events[0]}"
        if not self.finished or self.unterminated:
            return "stream ended without its final events"
        return None


class StreamReader:
    """Feeds arriving chunks through the SSE parser and keeps the figures (no I/O)."""

    def __init__(self, result: StreamResult, t0: float) -> None:
        self.result = result
        self.t0 = t0
        self.parser = SSEParser()
        self._last: float | None = None
        self._head = bytearray()

    def feed(self, chunk: bytes, t: float) -> None:
        r = self.result
        r.bytes += len(chunk)
        if len(self._head) < EXCERPT:
            self._head += chunk[: EXCERPT - len(self._head)]
        for ev in self.parser.feed(chunk, t):
            r.events += 1
            if r.ttfe is None:
                r.ttfe = ev.t - self.t0
            if self._last is not None:
                r.gaps.append(ev.t - self._last)
            self._last = ev.t
            self._event(ev.data, ev.t)

    def _event(self, data: str, t: float) -> None:
        r = self.result
        # Cheap prefilter: most events are text deltas, which need no JSON parse unless
        # they are the first one.
        if TEXT_DELTA in data:
            if r.ttft is None:
                r.ttft = t - self.t0
            return
        # Markers are looked for in whole events: a chunk boundary may split one.
        r.markers.update(MARKER_TEXT_RE.findall(data))
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        kind = payload.get("type")
        if kind == "thread.created":
            thread = payload.get("thread") or {}
            if isinstance(thread, dict) and isinstance(thread.get("id"), str):
                r.thread_id = thread["id"]
        elif kind == "thread.item.done":
            item = payload.get("item") or {}
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                r.done_items.append(item["id"])
                if item.get("type") == "assistant_message":
                    r.finished = True
        elif kind == "error":
            r.error_events.append(str(payload.get("code") or payload.get("message") or "error"))

    def close(self) -> None:
        framing = self.parser.close()
        self.result.unterminated = framing.unterminated is not None
        self.result.excerpt = self._head.decode("utf-8", "replace")


@dataclass
class JsonResult:
    request_type: str
    status: int = 0
    elapsed: float = 0.0
    bytes: int = 0
    payload: Any = None
    transport_error: str | None = None
    excerpt: str = ""

    @property
    def failure(self) -> str | None:
        if self.transport_error:
            return self.transport_error
        if self.status != 200:
            return f"HTTP {self.status}"
        if self.payload is None:
            return "the answer is not JSON"
        return None


@dataclass
class Evidence:
    """One thing that broke an invariant, with what shows it."""

    invariant: str
    user: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"invariant": self.invariant, "user": self.user, "detail": self.detail}


@dataclass
class UserRecord:
    """Everything one simulated user did that the invariants judge afterwards."""

    name: str  # the identity's subject (never a token)
    marker: str
    headers: dict[str, str]
    unique: bool  # nobody else sends as this identity (minted per user)
    threads: dict[str, list[str]] = field(default_factory=dict)  # thread -> done item ids
    evidence: list[Evidence] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # 5xx seen, as evidence lines
    incomplete: list[str] = field(default_factory=list)  # streams cut without final events
    streams: int = 0
    events: int = 0  # parsed from its finished streams
    interrupted: int = 0  # streams cut by the end of the run (not judged)
    # threads.create requests whose thread.created never arrived (cut by the end of the run,
    # a timeout): the server may have made a thread this user cannot know the id of.
    uncertain_creates: int = 0


class Registry:
    """The users of one process (a local run or one worker), shared by their greenlets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.users: list[UserRecord] = []
        self.markers: dict[str, str] = {}  # marker -> user name
        self.thread_owner: dict[str, str] = {}  # thread id -> user name

    def add(self, record: UserRecord) -> None:
        with self._lock:
            self.users.append(record)
            self.markers[record.marker] = record.name

    def own_thread(self, record: UserRecord, thread_id: str) -> None:
        with self._lock:
            self.thread_owner.setdefault(thread_id, record.name)
        record.threads.setdefault(thread_id, [])


def request_body(type_: str, params: Mapping[str, Any]) -> bytes:
    return json.dumps({"type": type_, "params": dict(params)}, separators=(",", ":")).encode()


def user_message(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


class ChatKitSession:
    """The requests of one simulated user over its own keep-alive connection."""

    def __init__(
        self,
        url: str,
        record: UserRecord,
        registry: Registry,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.conn = Connection(url, timeout=timeout)
        self.record = record
        self.registry = registry
        self.headers = {"Content-Type": "application/json", **(extra_headers or {})}
        self.headers.update(record.headers)
        self.stream_headers = {**self.headers, "Accept": "text/event-stream"}

    def close(self) -> None:
        self.conn.close()

    # -- transports -------------------------------------------------------------------------

    def stream(self, type_: str, params: Mapping[str, Any]) -> StreamResult:
        result = StreamResult(type_)
        body = request_body(type_, params)
        t0 = time.monotonic()
        reader = StreamReader(result, t0)
        try:
            resp = self.conn.post(body, self.stream_headers, on_chunk=reader.feed)
        except TransportError as exc:
            result.transport_error = str(exc)
            result.status = exc.status
            result.elapsed = time.monotonic() - t0
            reader.close()
            self._judge_stream(result)
            return result
        except BaseException:
            # The run ended (Locust kills the user's greenlet mid-read): not judged.
            self.record.interrupted += 1
            self._keep(result)
            self.conn.close()
            raise
        reader.close()
        result.status, result.ttfb, result.elapsed = resp.status, resp.ttfb, resp.elapsed
        self._judge_stream(result)
        return result

    def call(self, type_: str, params: Mapping[str, Any]) -> JsonResult:
        result = JsonResult(type_)
        t0 = time.monotonic()
        try:
            resp: Response = self.conn.post(request_body(type_, params), self.headers)
        except TransportError as exc:
            result.transport_error = str(exc)
            result.elapsed = time.monotonic() - t0
            return result
        result.status, result.elapsed, result.bytes = resp.status, resp.elapsed, len(resp.body)
        result.excerpt = resp.body[:EXCERPT].decode("utf-8", "replace")
        try:
            result.payload = json.loads(resp.body) if resp.body else None
        except ValueError:
            result.payload = None
        if resp.status >= 500:
            self.record.server_errors.append(f"{type_}: HTTP {resp.status} {result.excerpt!r}")
        self._judge_markers(type_, {m.decode() for m in MARKER_RE.findall(resp.body)})
        return result

    # -- what the run itself can already tell -----------------------------------------------

    def _keep(self, result: StreamResult) -> None:
        if result.request_type == "threads.create" and not result.thread_id:
            self.record.uncertain_creates += 1
        if result.thread_id:
            self.registry.own_thread(self.record, result.thread_id)
            known = self.record.threads[result.thread_id]
            known += [i for i in result.done_items if i not in known]

    def _judge_stream(self, result: StreamResult) -> None:
        rec = self.record
        rec.streams += 1
        rec.events += result.events
        self._keep(result)
        if result.status >= 500:
            rec.server_errors.append(
                f"{result.request_type}: HTTP {result.status} {result.excerpt!r}"
            )
        if result.status == 200 and not result.transport_error and not result.error_events:
            if not result.finished or result.unterminated:
                rec.incomplete.append(
                    f"{result.request_type} on {result.thread_id or '(no thread)'}: "
                    f"{result.events} events, no finished assistant message"
                    + (", last event unterminated" if result.unterminated else "")
                )
        elif result.transport_error and result.status == 200:
            rec.incomplete.append(f"{result.request_type}: cut off: {result.transport_error}")
        self._judge_markers(result.request_type, result.markers)

    def _judge_markers(self, where: str, markers: set[str]) -> None:
        rec = self.record
        for marker in sorted(m for m in markers if m != rec.marker):
            owner = self.registry.markers.get(marker)
            if owner == rec.name or (owner is None and not rec.unique):
                continue  # the same identity (a shared token) in another simulated user
            owner = owner or "another user"
            self.record.evidence.append(
                Evidence(
                    "isolation",
                    self.record.name,
                    f"{where} answered {self.record.name} with {owner}'s message marker {marker}",
                )
            )

    # -- the conversation -------------------------------------------------------------------

    def text(self, turn: int) -> str:
        return f"load test message {turn} from {self.record.marker}"

    def create(self) -> StreamResult:
        return self.stream("threads.create", {"input": user_message(self.text(0))})

    def add_message(self, thread_id: str, turn: int) -> StreamResult:
        params = {"thread_id": thread_id, "input": user_message(self.text(turn))}
        return self.stream("threads.add_user_message", params)

    def list_threads(self) -> JsonResult:
        result = self.call("threads.list", {"limit": 20, "order": "desc"})
        data = result.payload.get("data") if isinstance(result.payload, dict) else None
        if isinstance(data, list):
            self._judge_thread_list(
                "threads.list", [t.get("id") for t in data if isinstance(t, dict)]
            )
        return result

    def _judge_thread_list(self, where: str, ids: list[Any]) -> list[str]:
        """Record every thread of another simulated user; return the ids nobody here made."""
        rec = self.record
        unknown: list[str] = []
        for thread_id in ids:
            if not isinstance(thread_id, str) or thread_id in rec.threads:
                continue
            owner = self.registry.thread_owner.get(thread_id)
            if owner is None:
                unknown.append(thread_id)
            elif owner != rec.name:
                rec.evidence.append(
                    Evidence("isolation", rec.name, f"{where} showed {owner}'s thread {thread_id}")
                )
        return unknown

    def list_items(self, thread_id: str, limit: int = 50, after: str | None = None) -> JsonResult:
        params: dict[str, Any] = {"thread_id": thread_id, "limit": limit, "order": "asc"}
        if after:
            params["after"] = after
        return self.call("items.list", params)

    def rename(self, thread_id: str, title: str) -> JsonResult:
        return self.call("threads.update", {"thread_id": thread_id, "title": title})
