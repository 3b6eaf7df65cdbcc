"""``ModelStub``: the app served by uvicorn on 127.0.0.1 from a background thread."""

from __future__ import annotations

import re
import socket
import threading
import time
from types import TracebackType

import uvicorn

from .app import create_app
from .records import RecordedModelRequest
from .reply import DEFAULT_MARKER_PATTERN
from .state import StubState

HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class ModelStub:
    """An OpenAI-compatible model endpoint that records requests and streams on a schedule.

    ``with ModelStub() as stub:`` starts it; point a client at ``stub.base_url``.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        token_delay: float = 0.02,
        first_token_delay: float = 0.0,
        marker_pattern: str = DEFAULT_MARKER_PATTERN,
    ) -> None:
        self.state = StubState(
            token_delay=_delay("token_delay", token_delay),
            first_token_delay=_delay("first_token_delay", first_token_delay),
            marker_pattern=marker_pattern,
        )
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- settings ---------------------------------------------------------------------------

    @property
    def token_delay(self) -> float:
        return self.state.token_delay

    @token_delay.setter
    def token_delay(self, seconds: float) -> None:
        self.state.token_delay = _delay("token_delay", seconds)

    @property
    def first_token_delay(self) -> float:
        return self.state.first_token_delay

    @first_token_delay.setter
    def first_token_delay(self, seconds: float) -> None:
        self.state.first_token_delay = _delay("first_token_delay", seconds)

    @property
    def marker_pattern(self) -> str:
        return self.state.marker_pattern.pattern

    @marker_pattern.setter
    def marker_pattern(self, pattern: str) -> None:
        self.state.marker_pattern = re.compile(pattern)

    # -- recordings -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedModelRequest]:
        """Every request received so far, in arrival order (a snapshot list)."""
        return self.state.requests

    def model_requests(self) -> list[RecordedModelRequest]:
        """Only the calls to the two model endpoints."""
        return [
            r
            for r in self.state.requests
            if r.endpoint in {"/v1/responses", "/v1/chat/completions"}
        ]

    def clear(self) -> None:
        self.state.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedModelRequest]:
        """Wait until ``count`` requests were received and finished; raise on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            done = [r for r in self.state.requests if r.finished_at is not None]
            if len(done) >= count:
                return self.state.requests
            if time.monotonic() >= deadline:
                raise TimeoutError(f"model stub: {len(done)} of {count} requests after {timeout}s")
            time.sleep(0.01)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("model stub is not running; call start() first")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (where ``/_stub/...`` lives)."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: the value for OPENAI_BASE_URL / ``base_url=``."""
        return f"{self.root_url}/v1"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ModelStub:
        if self.running:
            return self
        # Binding here, not in uvicorn, gives the real port before the thread runs and turns
        # "address in use" into an OSError the caller can report.
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it each event written after the first waits out the
        # client's delayed ACK (~40 ms), which would swamp the token schedule.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((HOST, self._requested_port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            create_app(self.state),
            log_config=None,  # leave the embedding process's logging configuration alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="model-stub", daemon=True
        )
        self._socket, self._server, self._thread = sock, server, thread
        self._port = sock.getsockname()[1]
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("model stub did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        server, thread, sock = self._server, self._thread, self._socket
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                # Streams still open after the graceful period: cut them.
                server.force_exit = True
                thread.join(_STOP_TIMEOUT)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._socket = None
        self._port = None

    def __enter__(self) -> ModelStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _delay(name: str, seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {seconds!r}")
    if seconds == float("inf"):
        raise ValueError(f"{name} must be finite")
    return float(seconds)
