"""The Locust user: one realistic ChatKit conversation after another.

Importing this module imports Locust, which monkey-patches the standard library (gevent):
only the ``load`` subcommand and its subprocesses import it.

Every request is reported to Locust's statistics as a request event, so its CSV and HTML
outputs and the master's aggregation of workers work unchanged:

- ``POST <request type>``: the whole request (a stream to its last byte); a failure when
  the status is not 200, the transport broke, an error event came, or the stream ended
  without its final events.
- ``TTFE <type>``, ``TTFT <type>``: time to the first event and to the first assistant text
  delta of each stream.
- ``GAP <type>``: each stream's 95th-percentile gap between events.
"""

from __future__ import annotations

import math
import time
from typing import Any

import gevent
from locust import User, constant, task

from harness.load.conversation import ChatKitSession, JsonResult, StreamResult
from harness.load.plan import LoadContext

STREAM, FIRST_EVENT, FIRST_TEXT, GAP = "POST", "TTFE", "TTFT", "GAP"


class RequestFailed(Exception):
    """What Locust shows in its failures table for one failed request."""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class ChatKitUser(User):
    """Create a thread, add a few messages, list threads, list items, rename; repeat."""

    wait_time = constant(0)  # the conversation paces itself (think time between requests)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.ctx: LoadContext = environment.chatkit
        url = self.ctx.url or environment.host
        self.record = self.ctx.new_user()
        self.session = ChatKitSession(
            url,
            self.record,
            self.ctx.registry,
            extra_headers=self.ctx.extra_headers,
            timeout=self.ctx.timeout,
        )
        self.conversations = 0

    def on_stop(self) -> None:
        self.session.close()

    def _pause(self) -> None:
        if self.ctx.think_time > 0:
            gevent.sleep(self.ctx.think_time)

    def _fire(
        self, request_type: str, name: str, seconds: float, length: int = 0, **kw: Any
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=seconds * 1000,
            response_length=length,
            context={},
            **kw,
        )

    def _report_stream(self, r: StreamResult, started: float) -> None:
        failure = r.failure
        self._fire(
            STREAM,
            r.request_type,
            r.elapsed,
            r.bytes,
            exception=RequestFailed(failure) if failure else None,
            start_time=started,
        )
        if r.ttfe is not None:
            self._fire(FIRST_EVENT, r.request_type, r.ttfe)
        if r.ttft is not None:
            self._fire(FIRST_TEXT, r.request_type, r.ttft)
        if r.gaps:
            self._fire(GAP, r.request_type, _p95(r.gaps))

    def _report_json(self, r: JsonResult, started: float) -> None:
        failure = r.failure
        self._fire(
            STREAM,
            r.request_type,
            r.elapsed,
            r.bytes,
            exception=RequestFailed(failure) if failure else None,
            start_time=started,
        )

    def _stream(self, r_of: Any) -> StreamResult:
        started = time.time()
        result: StreamResult = r_of()
        self._report_stream(result, started)
        return result

    def _json(self, r_of: Any) -> JsonResult:
        started = time.time()
        result: JsonResult = r_of()
        self._report_json(result, started)
        return result

    @task
    def conversation(self) -> None:
        s = self.session
        created = self._stream(s.create)
        thread_id = created.thread_id
        self._pause()
        if thread_id is None or created.status != 200:
            return
        for turn in range(1, self.ctx.turns + 1):
            self._stream(lambda turn=turn: s.add_message(thread_id, turn))
            self._pause()
        self._json(s.list_threads)
        self._pause()
        self._json(lambda: s.list_items(thread_id))
        self._pause()
        self.conversations += 1
        self._json(lambda: s.rename(thread_id, f"load {self.record.marker} #{self.conversations}"))
        self._pause()
