"""Glass-box mode: one handle on the model stub, whether the harness runs it or the user does.

The harness runs a :class:`~harness.glass.model_stub.ModelStub` in-process when it also starts the
target (the bundled reference server, or ``--start``), and hands the target
``OPENAI_BASE_URL``/``OPENAI_API_KEY`` pointing at it. For a deployment the user runs, the user
starts ``chatkit-harness model-stub --port P`` themselves and the harness reads the recordings
over HTTP (``--model-stub-url``). Checks see the same :class:`GlassBox` either way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

from harness.glass.model_stub import DEFAULT_MARKER_PATTERN, RecordedModelRequest
from harness.glass.model_stub import remote as stub_remote
from harness.report.results import CheckResult, Outcome

if TYPE_CHECKING:
    from harness.glass.model_stub import ModelStub

# Any key works: the stub ignores it. A recognisable value shows up plainly in the target's
# logs, and is no secret.
STUB_API_KEY = "harness-stub"
MODEL_ENDPOINTS = frozenset({"/v1/responses", "/v1/chat/completions"})
# The schedule of a stub the harness runs: 1 ms a token for the run, so that replies still
# stream as deltas apart in time, and 10 ms for the one stream that is timed (stream-timing,
# through ProbeContext.timed_pace): the buffering verdict needs deltas spread over 300 ms and
# reads 1 ms gaps as bursts. No other check needs a pace, and every turn of a run paid it.
SESSION_TOKEN_DELAY = 0.001
TIMED_TOKEN_DELAY = 0.01
# Markers the stub's reply always repeats, wherever in the prompt they were: its default
# ("canary" words) plus the harness's codewords (harness.glass.canary: 'cobalt-fjord-3f9a'). A live
# model reads a codeword anywhere in its prompt, even inside a garbled history; the stub's reply
# summarises long prompts, so without this the black-box checks would judge the stub's
# summary instead of what the model was given.
MARKER_PATTERN = DEFAULT_MARKER_PATTERN + r"|\b[a-z]+-[a-z]+-[0-9a-f]{4}\b"


NOT_POINTED = (
    "the model stub received no model request: the backend is not pointed at it (OPENAI_BASE_URL)"
)


class StubUnreachable(Exception):
    """The user's model stub did not answer; the message is one line."""


class GlassBox:
    """The model stub of this run: its base URL, its recordings and its token schedule."""

    def __init__(self, base_url: str, stub: ModelStub | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.stub = stub  # None: a stub in another process, read over /_stub
        self._remote_seen = 0  # the next index a remote stub will hand out, as far as we know
        self._first = 0  # the index of the first request of this run
        self.asked = False  # a check read the recordings (a glass check ran)

    @classmethod
    def start(cls, token_delay: float = SESSION_TOKEN_DELAY) -> GlassBox:
        """Run a stub in this process on a free 127.0.0.1 port."""
        from harness.glass.model_stub import ModelStub

        stub = ModelStub(
            token_delay=token_delay, first_token_delay=0.0, marker_pattern=MARKER_PATTERN
        ).start()
        return cls(stub.base_url, stub)

    @classmethod
    def connect(cls, base_url: str) -> GlassBox:
        """Use a stub the user runs; fail with one line when it does not answer like one."""
        box = cls(base_url)
        try:
            box._remote_seen = box._first = box._next_index()
            stub_remote.configure(base_url, marker_pattern=MARKER_PATTERN)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
            raise StubUnreachable(
                f"no model stub answers at {base_url} ({reason}); start one with "
                "`chatkit-harness model-stub --port P` and pass --model-stub-url "
                "http://127.0.0.1:P/v1"
            ) from None
        return box

    def stop(self) -> None:
        if self.stub is not None:
            self.stub.stop()

    @property
    def local(self) -> bool:
        return self.stub is not None

    def env(self) -> dict[str, str]:
        """What a target the harness starts needs to use this stub as its model.

        Tracing off: the Agents SDK otherwise exports every run's trace (the prompts included)
        to OpenAI's servers, with the stub's fake key, from a run meant to stay on 127.0.0.1.
        """
        return {
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": STUB_API_KEY,
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
        }

    # -- recordings -------------------------------------------------------------------------

    def mark(self) -> int:
        """The index the next request will get: pass it to :meth:`calls` as ``since``."""
        self.asked = True
        if self.stub is not None:
            done = self.stub.requests
            # Empty (never used, or cleared): every later request has an index >= 0 anyway.
            return done[-1].index + 1 if done else 0
        self._remote_seen = self._next_index()
        return self._remote_seen

    def run_calls(self) -> list[RecordedModelRequest]:
        """Every model call of this run so far, finished or not (a user's stub may have served
        earlier runs: those are left out)."""
        return self.calls(self._first, settle=0)

    def calls(self, since: int, *, settle: float = 3.0) -> list[RecordedModelRequest]:
        """Model calls (Responses, Chat Completions) received from index ``since`` on.

        Waits up to ``settle`` seconds for the ones still streaming to finish: the target may
        close its ChatKit stream a moment before the stub records its own last byte.
        """
        deadline = time.monotonic() + settle
        while True:
            got = [r for r in self._fetch(since) if r.endpoint in MODEL_ENDPOINTS]
            if all(r.finished_at is not None for r in got) or time.monotonic() >= deadline:
                return got
            time.sleep(0.02)

    def received_model_request(self) -> bool:
        """Whether any model call reached the stub during this run."""
        try:
            return any(r.endpoint in MODEL_ENDPOINTS for r in self._fetch(self._first))
        except httpx.HTTPError:
            return True  # a stub that went away says nothing about the backend

    def idle_problem(self, results: Iterable[CheckResult]) -> str:
        """:data:`NOT_POINTED` when glass checks ran, none could judge, and the stub saw
        no model call all run long; else "".

        The checks themselves only skip (each alone cannot tell a backend that ignores
        OPENAI_BASE_URL from one that never called its model this turn); over a whole run
        it is a setup error, and reported healthy it would pass a gate that checked nothing.
        """
        glass = [r for r in results if r.id.startswith("glass.")]
        if not self.asked or not glass or any(r.outcome is not Outcome.SKIP for r in glass):
            return ""
        return "" if self.received_model_request() else NOT_POINTED

    def _fetch(self, since: int) -> list[RecordedModelRequest]:
        if self.stub is not None:
            return [r for r in self.stub.requests if r.index >= since]
        got = stub_remote.fetch_requests(self.base_url, since=since)
        if got:
            self._remote_seen = max(self._remote_seen, got[-1].index + 1)
        return got

    def _next_index(self) -> int:
        got = stub_remote.fetch_requests(self.base_url, since=self._remote_seen)
        return got[-1].index + 1 if got else self._remote_seen

    # -- schedule ---------------------------------------------------------------------------

    def delays(self) -> tuple[float, float]:
        """``(first_token_delay, token_delay)`` now in force."""
        if self.stub is not None:
            return self.stub.first_token_delay, self.stub.token_delay
        settings = stub_remote.configure(self.base_url)
        return float(settings["first_token_delay"]), float(settings["token_delay"])

    @contextmanager
    def schedule(self, token_delay: float, first_token_delay: float = 0.0) -> Iterator[None]:
        """Stream the next replies on this schedule; the previous one is restored after."""
        before_first, before_token = self.delays()
        self._set(token_delay, first_token_delay)
        try:
            yield
        finally:
            self._set(before_token, before_first)

    def _set(self, token_delay: float, first_token_delay: float) -> None:
        if self.stub is not None:
            self.stub.token_delay = token_delay
            self.stub.first_token_delay = first_token_delay
        else:
            stub_remote.configure(
                self.base_url, token_delay=token_delay, first_token_delay=first_token_delay
            )
