"""``McpStub``: the MCP app served by uvicorn on 127.0.0.1 from a background thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from .app import MCP_PATH, SSE_PATH, create_app
from .credentials import KeySets
from .records import RecordedToolCall
from .state import McpStubState

HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class McpStub:
    """An MCP server (official ``mcp`` SDK) that records what every tool call carries.

    ``with McpStub() as stub:`` starts it; point a deployment's MCP URL at ``stub.url``.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        key_sets: KeySets | None = None,
        authorization_server: str | None = None,
    ) -> None:
        self.state = McpStubState(key_sets=key_sets, authorization_server=authorization_server)
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def calls(self) -> list[RecordedToolCall]:
        return self.state.calls

    def clear(self) -> None:
        self.state.clear()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("MCP stub is not running; call start() first")
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The Streamable HTTP endpoint: the value for the deployment's MCP URL."""
        return self.root_url + MCP_PATH

    @property
    def sse_url(self) -> str:
        """The SSE transport's endpoint, for clients that only speak that."""
        return self.root_url + SSE_PATH

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> McpStub:
        if self.running:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, self._requested_port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self.state.resource_url = self.url
        app = _quietly(lambda: create_app(self.state))
        config = uvicorn.Config(
            app,
            log_config=None,  # leave the embedding process's logging alone
            log_level="warning",
            access_log=False,
            lifespan="on",  # runs the Streamable HTTP session manager
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="mcp-stub", daemon=True
        )
        self._socket, self._server, self._thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("MCP stub did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        server, thread, sock = self._server, self._thread, self._socket
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                server.force_exit = True
                thread.join(_STOP_TIMEOUT)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._socket = None
        self._port = None

    def __enter__(self) -> McpStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _quietly(build: Callable[[], Starlette]) -> Starlette:
    """Build the app without letting the SDK configure the process's logging.

    MCPServer() calls logging.basicConfig with a rich handler, which would take over the
    output of whatever process embeds the stub; basicConfig does nothing once the root logger
    has a handler, so one is held there for the duration.
    """
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    try:
        return build()
    finally:
        if guard is not None:
            root.removeHandler(guard)
        # A failing call is the stub doing its job; the SDK logs each with a traceback.
        logging.getLogger("mcp").setLevel(logging.CRITICAL)
