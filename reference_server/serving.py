"""Running the app under uvicorn on a socket we bind ourselves (so ``--port 0`` works).

The CLI uses it in the foreground; tests and in-process users run it in a thread
with :func:`serve_in_thread`. Either way the port is known before uvicorn starts,
and readiness is signalled only once start-up (tables, pool warm-up) is done.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn

from .config import ServerConfig

GRACEFUL_SHUTDOWN_SECONDS = 3


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0 picks a free one), not yet listening.

    asyncio calls listen() when uvicorn starts serving, after the lifespan start-up (tables,
    pool warm-up) is done. Listening earlier would queue connections in the backlog while
    chatkit is still importing: a client that waits for the port would then measure our own
    start-up as a slow first request.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def endpoint_url(host: str, sock: socket.socket) -> str:
    """``http://<host>:<port>/chatkit`` for the bound socket (IPv6 hosts bracketed)."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/chatkit"


class ReadyServer(uvicorn.Server):
    """A uvicorn Server that calls ``on_ready`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up, then the readiness callback."""
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_ready()


def uvicorn_config(app: object) -> uvicorn.Config:
    """Quiet uvicorn: our own middleware writes the one line per request."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


@contextmanager
def serve_in_thread(cfg: ServerConfig, *, port: int = 0, timeout: float = 30.0) -> Iterator[str]:
    """Run the reference server in a background thread; yields its ``/chatkit`` URL.

    ``cfg.port`` is ignored: the thread listens on ``port`` (a free one by default).
    """
    from .app import create_app

    sock = bind_socket(cfg.host, port)
    ready = threading.Event()
    server = ReadyServer(uvicorn_config(create_app(cfg)), ready.set)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="reference-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("reference server thread did not start")
    try:
        yield endpoint_url(cfg.host, sock)
    finally:
        server.should_exit = True
        thread.join(GRACEFUL_SHUTDOWN_SECONDS + 5)
        sock.close()
