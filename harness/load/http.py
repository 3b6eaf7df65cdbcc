"""A small blocking HTTP/1.1 client: one keep-alive socket, every body chunk with its time.

Blocking sockets, because under Locust the ``socket`` module is gevent's (cooperative), and a
plain thread works too: no event loop anywhere. h11 (sans-I/O, already installed under httpx)
does the framing. Why not Locust's own clients: they read a streamed body in fixed-size
blocks, so the arrival time of an event would be the time its block filled up; here every
``recv`` goes to the caller at once, stamped with ``time.monotonic()``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

READ_SIZE = 65536
MAX_BODY = 4 * 1024 * 1024  # a ChatKit reply is kilobytes; a flooding target is cut off


class TransportError(Exception):
    """The exchange failed below HTTP (refused, reset, timeout, not HTTP/1.1)."""

    def __init__(self, reason: str, *, status: int = 0) -> None:
        super().__init__(reason)
        self.status = status  # of the response head, when one had arrived

    @property
    def answered(self) -> bool:
        """A response head had arrived: the request must never be sent again."""
        return self.status != 0


@dataclass
class Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ttfb: float | None = None  # seconds from send to the response head
    elapsed: float = 0.0
    truncated: bool = False


class Connection:
    """HTTP/1.1 to one origin over one socket, reopened when the server closes it."""

    def __init__(self, url: str, timeout: float = 30.0, verify: bool = True) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.verify = verify
        self._sock: socket.socket | None = None
        self._conn = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._conn = h11.Connection(h11.CLIENT)

    def _open(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                ctx = ssl.create_default_context()
                if not self.verify:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                sock = ctx.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise TransportError(_reason(exc)) from None
        return sock

    def post(
        self,
        body: bytes,
        headers: Mapping[str, str],
        on_chunk: Callable[[bytes, float], None] | None = None,
    ) -> Response:
        """POST ``body``; ``on_chunk(data, t)`` sees every body chunk as it arrives (``t`` is
        monotonic seconds) and the body is then not kept (``Response.body`` stays empty)."""
        reuse = self._sock is not None and self._conn.our_state is h11.IDLE
        if self._sock is not None and not reuse:
            if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
                self._conn.start_next_cycle()
                reuse = True
            else:
                self.close()
        try:
            return self._exchange(body, headers, on_chunk)
        except TransportError as exc:
            self.close()
            if not reuse or exc.answered:
                raise
        # A kept-alive socket the server had already closed: one fresh try, as browsers do.
        return self._exchange(body, headers, on_chunk)

    def _exchange(
        self,
        body: bytes,
        headers: Mapping[str, str],
        on_chunk: Callable[[bytes, float], None] | None,
    ) -> Response:
        if self._sock is None:
            self._sock = self._open()
        sock, conn = self._sock, self._conn
        hdrs = [("Host", f"{self.host}:{self.port}"), ("Content-Length", str(len(body)))]
        hdrs += [(k, v) for k, v in headers.items() if k.lower() not in ("host", "content-length")]
        out = conn.send(h11.Request(method="POST", target=self.path, headers=hdrs)) or b""
        out += conn.send(h11.Data(data=body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        resp = Response()
        t0 = time.monotonic()
        try:
            sock.sendall(out)
            size = 0
            kept = bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = sock.recv(READ_SIZE)
                    if not data and resp.status == 0:
                        raise TransportError("the server closed the connection without answering")
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Response):
                    resp.status = event.status_code
                    resp.ttfb = time.monotonic() - t0
                    resp.headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if on_chunk is not None:
                        on_chunk(bytes(event.data), time.monotonic())
                    else:
                        kept += event.data
                    if size > MAX_BODY:
                        resp.truncated = True
                        self.close()
                        break
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
            resp.body = bytes(kept)
        except h11.ProtocolError as exc:
            reason = f"the answer is not valid HTTP/1.1: {exc}"
            raise TransportError(reason, status=resp.status) from None
        except OSError as exc:
            raise TransportError(_reason(exc), status=resp.status) from None
        resp.elapsed = time.monotonic() - t0
        if conn.our_state is h11.MUST_CLOSE or conn.their_state in (h11.MUST_CLOSE, h11.CLOSED):
            self.close()
        return resp


def _reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return exc.strerror or type(exc).__name__
