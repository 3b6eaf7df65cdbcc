"""HTTP/1.1 on one socket we control, to see whether a server keeps a connection usable.

httpx quietly opens a new connection when the server closes one, which is exactly what a
check of "the keep-alive connection survives a bad request" must not hide. h11 (already
installed under httpx) does the framing; we own the socket (TLS for https URLs, verified
like httpx verifies).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class ConnectionClosed(Exception):
    """The server closed the connection (or answered Connection: close)."""


class OneConnection:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path or "/"
        if parts.query:
            self.path += "?" + parts.query
        self.timeout = timeout
        self._conn = h11.Connection(h11.CLIENT)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.requests = 0

    async def __aenter__(self) -> OneConnection:
        if urlsplit(f"//{self.host}").hostname is None:
            raise ConnectionClosed("bad host")
        tls = ssl.create_default_context() if self.tls else None
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.host, self.port, ssl=tls, server_hostname=self.host if tls else None
            ),
            self.timeout,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def post(self, body: bytes, headers: Mapping[str, str]) -> RawResponse:
        """One request/response on the same socket; raises ConnectionClosed if it was dropped."""
        assert self._reader is not None and self._writer is not None
        if self._conn.our_state is h11.MUST_CLOSE or self._conn.their_state is h11.MUST_CLOSE:
            raise ConnectionClosed("the server announced Connection: close on the last response")
        if self._conn.our_state is h11.DONE:
            self._conn.start_next_cycle()
        hdrs = [("Host", f"{self.host}:{self.port}"), ("Content-Length", str(len(body)))]
        hdrs += [(k, v) for k, v in headers.items() if k.lower() not in ("host", "content-length")]
        data = self._conn.send(h11.Request(method="POST", target=self.path, headers=hdrs))
        data = (data or b"") + (self._conn.send(h11.Data(data=body)) or b"")
        data += self._conn.send(h11.EndOfMessage()) or b""
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            raise ConnectionClosed(f"writing failed: {exc}") from None
        self.requests += 1
        return await asyncio.wait_for(self._read_response(), self.timeout)

    async def _read_response(self) -> RawResponse:
        assert self._reader is not None
        status, headers, body = 0, {}, bytearray()
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:  # bad chunking, a 1 MB head: not HTTP
                raise ConnectionClosed(f"the answer is not valid HTTP/1.1: {exc}") from None
            if event is h11.NEED_DATA:
                try:
                    chunk = await self._reader.read(65536)
                except OSError as exc:
                    raise ConnectionClosed(f"reading failed: {exc}") from None
                if not chunk and status == 0:
                    raise ConnectionClosed("the server closed the connection without answering")
                self._conn.receive_data(chunk)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > 4 * 1024 * 1024:
                    raise ConnectionClosed("response body too large")
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return RawResponse(status, headers, bytes(body))
