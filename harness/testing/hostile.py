"""A hostile ChatKit target: one server, one named misbehaviour per URL path.

A CI gate meets broken deployments: streams that never end or stall mid-event, a 50 MB
event, bytes that are not UTF-8, a login page where the API should be, a TLS port spoken to
in plain HTTP. The harness must end every check against them within its timeout, with a
verdict, without a traceback and without running out of memory. This server plays all of
them, on raw sockets so it can break HTTP itself (resets, bad chunking, huge headers).

Each mode answers at ``http://127.0.0.1:PORT/<mode>/chatkit`` (any path under the mode).
A second listener serves the same modes over TLS with a throwaway self-signed certificate,
so ``http://`` against the TLS port and ``https://`` against the plain port can be tried.

    python -m harness.testing.hostile [--port 0] [--tls-port 0]   # prints the URLs, Ctrl-C stops
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import ssl
import struct
import sys
import tempfile
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.protocol.client import STREAMING_TYPES

MAX_HEAD = 64 * 1024
MAX_KEPT_BODY = 1024 * 1024  # what is kept of a request body; the rest is read and dropped
BIG_EVENT_BYTES = 50 * 1024 * 1024
BOMB_BYTES = 1024 * 1024 * 1024  # what the gzip bomb expands to
TICK = 0.02  # seconds between events of the never-ending streams


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def type(self) -> str:
        try:
            value = json.loads(self.body)
        except ValueError:
            return ""
        return str(value.get("type", "")) if isinstance(value, dict) else ""

    @property
    def streaming(self) -> bool:
        return self.type in STREAMING_TYPES


class Conn:
    """One accepted connection: raw writes, chunked bodies, and an abortive close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def head(self, status: str, headers: list[tuple[str, str]]) -> None:
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers), "Connection: close"]
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def sse_head(self, content_type: str = "text/event-stream") -> None:
        await self.head(
            "200 OK",
            [("Content-Type", content_type), ("Transfer-Encoding", "chunked")],
        )

    async def chunk(self, data: bytes) -> None:
        if data:
            await self.send(b"%x\r\n%s\r\n" % (len(data), data))

    async def end(self) -> None:
        await self.send(b"0\r\n\r\n")

    async def whole(self, status: str, content_type: str, body: bytes, **extra: str) -> None:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
        await self.head(status, headers)
        await self.send(body)

    async def until_closed(self) -> None:
        """Hold the connection open, saying nothing, until the client gives up."""
        while await self.reader.read(65536):
            pass

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a crashed process or a killed proxy does."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


# -- plausible ChatKit events, to start a stream the way a real one starts ------------------

THREAD_ID = "thr_hostile"
ASSISTANT_ID = "msg_hostile_a"


def event(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def stream_start() -> bytes:
    thread = {
        "id": THREAD_ID,
        "created_at": "2025-01-01T00:00:00",
        "status": {"type": "active"},
        "metadata": {},
        "items": {"data": [], "has_more": False},
    }
    user = {
        "id": "msg_hostile_u",
        "thread_id": THREAD_ID,
        "created_at": "2025-01-01T00:00:00",
        "type": "user_message",
        "content": [{"type": "input_text", "text": "hello"}],
        "attachments": [],
        "inference_options": {},
    }
    assistant = {
        "id": ASSISTANT_ID,
        "thread_id": THREAD_ID,
        "created_at": "2025-01-01T00:00:01",
        "type": "assistant_message",
        "content": [],
    }
    return (
        event({"type": "thread.created", "thread": thread})
        + event({"type": "thread.item.done", "item": user})
        + event({"type": "thread.item.added", "item": assistant})
    )


def delta(text: str) -> bytes:
    update = {
        "type": "assistant_message.content_part.text_delta",
        "content_index": 0,
        "delta": text,
    }
    return event({"type": "thread.item.updated", "item_id": ASSISTANT_ID, "update": update})


DELTA_PREFIX = (
    b'data: {"type":"thread.item.updated","item_id":"' + ASSISTANT_ID.encode() + b'",'
    b'"update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"'
)
DELTA_SUFFIX = b'"}}\n\n'
EMPTY_PAGE = b'{"data":[],"has_more":false}'


# -- the modes ------------------------------------------------------------------------------

Handler = Callable[[Conn, Request], Awaitable[None]]
MODES: dict[str, tuple[str, Handler]] = {}


def mode(name: str, description: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        MODES[name] = (description, func)
        return func

    return register


@mode("endless", "a valid-looking stream that never ends: a text delta every 20 ms, forever")
async def _endless(c: Conn, req: Request) -> None:
    await c.sse_head()
    await c.chunk(stream_start())
    n = 0
    while True:
        n += 1
        await c.chunk(delta(f" word{n}"))
        await asyncio.sleep(TICK)


@mode("flood", "a never-ending stream sent as fast as the socket takes it (64 KB events)")
async def _flood(c: Conn, req: Request) -> None:
    await c.sse_head()
    await c.chunk(stream_start())
    block = delta("x" * 65536)
    while True:
        await c.chunk(block)


@mode("drip", "a valid stream one byte every 20 ms, never finishing")
async def _drip(c: Conn, req: Request) -> None:
    await c.sse_head()
    body = stream_start() + b"".join(delta(f" w{i}") for i in range(1000))
    for i in range(len(body)):
        await c.chunk(body[i : i + 1])
        await asyncio.sleep(TICK)


@mode("keepalive-only", "a stream of ': ping' comments every 20 ms and never an event")
async def _keepalive(c: Conn, req: Request) -> None:
    await c.sse_head()
    while True:
        await c.chunk(b": ping\n\n")
        await asyncio.sleep(TICK)


@mode("stall", "the stream starts, then stops in the middle of an event and holds the socket")
async def _stall(c: Conn, req: Request) -> None:
    await c.sse_head()
    await c.chunk(stream_start() + delta("Hel") + b'data: {"type":"thread.item.updated","item_')
    await c.until_closed()


@mode("silent", "reads the request and never answers, holding the connection open")
async def _silent(c: Conn, req: Request) -> None:
    await c.until_closed()


@mode("close", "reads the request and closes the connection without an answer")
async def _close(c: Conn, req: Request) -> None:
    c.writer.close()


@mode("big-event", "one 50 MB event (a single data line), then a normal end")
async def _big_event(c: Conn, req: Request) -> None:
    await c.sse_head()
    await c.chunk(stream_start() + DELTA_PREFIX)
    block = b"a" * (1024 * 1024)
    for _ in range(BIG_EVENT_BYTES // len(block)):
        await c.chunk(block)
    await c.chunk(DELTA_SUFFIX)
    await c.end()


# Invalid UTF-8: a lone continuation byte, a truncated sequence, an encoded surrogate, an
# overlong slash and bytes that never occur in UTF-8.
BAD_UTF8 = b"\x80 \xc3\x28 \xed\xa0\x80 \xc0\xaf \xfe\xff"


@mode("invalid-utf8", "a ChatKit-shaped stream and JSON bodies holding invalid UTF-8 bytes")
async def _invalid_utf8(c: Conn, req: Request) -> None:
    if not req.streaming:
        body = b'{"data":[{"id":"thr_hostile","title":"' + BAD_UTF8 + b'"}],"has_more":false}'
        await c.whole("200 OK", "application/json", body)
        return
    await c.sse_head()
    await c.chunk(stream_start())
    for _ in range(10):
        await c.chunk(DELTA_PREFIX + b"bad " + BAD_UTF8 + DELTA_SUFFIX)
    await c.end()


GARBAGE = (
    b"\x00\x01\x02\x03binary\xff\xfe\r\r\n"
    b"data\n\n"  # a field without a colon: an empty data line
    b"data: {not json\n\n"
    b"event: thread.created\n\n"  # an event name and no data
    b"retry: soon\nid: \x00\n:\n\n"
    b"data: [1, 2, 3]\n\n"
    b"data: null\n\n"
    b'data: "thread.created"\n\n'
    b"DATA: {}\n\n"
    b"\r\n\r\n\n\r\r"
    b'data: {"type": "thread.created"'  # unterminated, the stream ends here
)


@mode("garbage", "bytes that are not SSE framing: binary, half fields, non-JSON data")
async def _garbage(c: Conn, req: Request) -> None:
    rng = random.Random(req.body)
    noise = bytes(rng.randrange(256) for _ in range(4096))
    if not req.streaming:
        await c.whole("200 OK", "application/json", noise)
        return
    await c.sse_head()
    await c.chunk(GARBAGE[:40])
    await c.chunk(noise)
    await c.chunk(GARBAGE[40:])
    await c.end()


@mode("reset", "a few events, then the connection is reset (TCP RST) mid-stream")
async def _reset(c: Conn, req: Request) -> None:
    if not req.streaming:
        await c.head("200 OK", [("Content-Type", "application/json"), ("Content-Length", "400")])
        await c.send(b'{"data":[')
    else:
        await c.sse_head()
        await c.chunk(stream_start() + delta("Hello") + delta(" wor"))
    await asyncio.sleep(0.05)
    c.reset()


@mode("short-body", "announces a Content-Length, sends a tenth of it, closes the connection")
async def _short_body(c: Conn, req: Request) -> None:
    ctype = "text/event-stream" if req.streaming else "application/json"
    body = stream_start() if req.streaming else EMPTY_PAGE
    await c.head("200 OK", [("Content-Type", ctype), ("Content-Length", str(10 * len(body)))])
    await c.send(body)
    c.writer.close()


@mode("bad-chunked", "a stream whose chunked transfer encoding turns into garbage")
async def _bad_chunked(c: Conn, req: Request) -> None:
    await c.sse_head()
    await c.chunk(stream_start())
    await c.send(b"zz\r\nthis is not a chunk\r\n\r\n")
    await c.until_closed()


@mode("huge-headers", "a response head of 1 MB (thousands of long headers)")
async def _huge_headers(c: Conn, req: Request) -> None:
    headers = [(f"X-Filler-{i}", "f" * 1000) for i in range(1000)]
    await c.head("200 OK", [("Content-Type", "text/event-stream"), *headers])
    await c.send(stream_start())


@mode("wrong-content-type", "streams labelled application/json, JSON labelled text/plain")
async def _wrong_content_type(c: Conn, req: Request) -> None:
    if not req.streaming:
        await c.whole("200 OK", "text/plain", EMPTY_PAGE)
        return
    await c.sse_head("application/json")
    await c.chunk(stream_start() + b"".join(delta(f" w{i}") for i in range(10)))
    await c.end()


@mode("redirect-loop", "every request is redirected (307) to itself")
async def _redirect_loop(c: Conn, req: Request) -> None:
    await c.whole("307 Temporary Redirect", "text/plain", b"", Location=req.path)


LOGIN_PAGE = b"""<!doctype html>
<html><head><title>Sign in</title></head>
<body><form method="post" action="/login">
<input name="user"><input name="password" type="password"><button>Sign in</button>
</form></body></html>
"""


@mode("html-login", "an HTML login page with status 200 for every request (an SSO proxy)")
async def _html_login(c: Conn, req: Request) -> None:
    await c.whole("200 OK", "text/html; charset=utf-8", LOGIN_PAGE)


@mode("empty", "200 with an empty body, streaming or not")
async def _empty(c: Conn, req: Request) -> None:
    ctype = "text/event-stream" if req.streaming else "application/json"
    await c.whole("200 OK", ctype, b"")


_BOMB: bytes | None = None


def gzip_bomb() -> bytes:
    """About 1 MB of gzip that expands to 1 GiB of zeros (64 members of 16 MiB each)."""
    global _BOMB
    if _BOMB is None:
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        member = comp.compress(bytes(16 * 1024 * 1024)) + comp.flush()
        _BOMB = member * (BOMB_BYTES // (16 * 1024 * 1024))
    return _BOMB


@mode("gzip-bomb", "Content-Encoding: gzip bodies that expand 1000-fold, to 1 GiB")
async def _gzip_bomb(c: Conn, req: Request) -> None:
    ctype = "text/event-stream" if req.streaming else "application/json"
    await c.whole("200 OK", ctype, gzip_bomb(), Content_Encoding="gzip")


WRONG_SHAPES = [
    {"type": "thread.created", "thread": None},
    {"type": "thread.created", "thread": {"id": 123}},
    {"type": 5},
    {"type": "thread.item.done", "item": "not an item"},
    {"type": "thread.item.done", "item": {"id": None, "type": "assistant_message"}},
    {"type": "thread.item.added", "item": {}},
    {"type": "thread.item.updated", "item_id": ASSISTANT_ID, "update": None},
    {"type": "thread.item.updated", "item_id": None, "update": {"type": 7, "delta": 8}},
    {"type": "thread.item.done", "item": {"id": "x", "type": "assistant_message", "content": 3}},
    {"type": "thread.item.done", "item": {"id": "y", "type": "user_message", "content": [1]}},
    {"type": "error", "code": None, "message": {"nested": True}},
    {
        "type": "thread.item.done",
        "item": {"id": "z", "type": "assistant_message", "content": [{"text": None}]},
    },
]


@mode("wrong-shapes", "well-framed JSON of the wrong shapes: null threads, ids as numbers")
async def _wrong_shapes(c: Conn, req: Request) -> None:
    if not req.streaming:
        body: dict[str, Any] = {"data": "x", "has_more": "?", "id": None, "items": 5, "title": []}
        await c.whole("200 OK", "application/json", json.dumps(body).encode())
        return
    await c.sse_head()
    await c.chunk(b"".join(event(p) for p in WRONG_SHAPES))
    await c.end()


# -- the server -----------------------------------------------------------------------------


class HostileServer:
    """Both listeners in a background thread with its own event loop.

    >>> with HostileServer() as server:  # doctest: +SKIP
    ...     server.url("stall")
    'http://127.0.0.1:41234/stall/chatkit'
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls_port: int = 0) -> None:
        self.host = host
        self.port = port
        self.tls_port = tls_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.requests: list[tuple[str, str]] = []  # (mode, request type) of every request

    def url(self, mode_name: str, *, scheme: str = "http", tls_port: bool = False) -> str:
        port = self.tls_port if tls_port else self.port
        return f"{scheme}://{self.host}:{port}/{mode_name}/chatkit"

    def start(self) -> HostileServer:
        self._thread = threading.Thread(target=self._run, name="hostile-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"hostile server did not start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        # TLS handshakes that fail on purpose (plain HTTP to the TLS port) are not news.
        self._loop.set_exception_handler(lambda loop, context: None)
        self._stop = asyncio.Event()
        with _self_signed_context() as tls:
            plain = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)
            secure = await asyncio.start_server(
                self._serve,
                self.host,
                self.tls_port,
                ssl=tls,
                ssl_handshake_timeout=5,
                limit=MAX_HEAD,
            )
            self.port = plain.sockets[0].getsockname()[1]
            self.tls_port = secure.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            for server in (plain, secure):
                server.close()
            for writer in list(self._conns):
                writer.transport.abort()
            for server in (plain, secure):
                await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        conn = Conn(reader, writer)
        try:
            req = await asyncio.wait_for(_read_request(reader), 30)
            if req is None:
                # Not HTTP at all (a TLS ClientHello on the plain port): what nginx does.
                await conn.whole("400 Bad Request", "text/plain", b"not an HTTP request\n")
                return
            name = req.path.strip("/").split("/", 1)[0]
            entry = MODES.get(name)
            self.requests.append((name, req.type))
            if entry is None:
                listing = "\n".join(sorted(MODES)).encode() + b"\n"
                await conn.whole("404 Not Found", "text/plain", b"modes:\n" + listing)
                return
            await entry[1](conn, req)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away: exactly what a hostile mode provokes
        except (TimeoutError, ValueError):
            pass
        finally:
            self._conns.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    first_byte = await reader.readexactly(1)
    if not first_byte.isalpha():
        return None  # a TLS ClientHello starts with 0x16: answer at once, as nginx does
    head = first_byte + await reader.readuntil(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    parts = first.split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith("HTTP/"):
        return None
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    size = int(headers.get("content-length") or 0)
    body = bytearray()
    while size > 0:
        chunk = await reader.read(min(size, 65536))
        if not chunk:
            break
        size -= len(chunk)
        if len(body) < MAX_KEPT_BODY:
            body += chunk
    return Request(parts[0], parts[1], headers, bytes(body))


@contextlib.contextmanager
def _self_signed_context() -> Iterator[ssl.SSLContext]:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 and localhost."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatkit-harness hostile")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="hostile-tls-") as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        ctx.load_cert_chain(cert_file, key_file)
    yield ctx


# -- running the harness against it ----------------------------------------------------------


@dataclass
class CliRun:
    """One ``chatkit-harness run`` in a subprocess: how it ended, how long, how much memory."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float  # user + system seconds of the harness process
    peak_rss_mb: float
    killed: bool  # still running after ``kill_after``: a hang
    report: dict[str, Any] | None = None  # the --json report, when one was written

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in (self.report or {}).get("checks", [])}

    def describe(self) -> str:
        return (
            f"exit {self.returncode} after {self.wall:.1f} s, peak RSS {self.peak_rss_mb:.0f} MB"
            f"\nstderr: {self.stderr[-2000:]}\nstdout tail: {self.stdout[-1500:]}"
        )


def run_cli(url: str, *extra: str, timeout: float = 3.0, kill_after: float = 150.0) -> CliRun:
    """``chatkit-harness run --url URL --token x --timeout T --json ...`` (non-browser checks),
    in its own process group, SIGKILLed after ``kill_after`` seconds."""
    import os
    import signal
    import subprocess
    import time

    with tempfile.TemporaryDirectory(prefix="hostile-run-") as tmp:
        report = Path(tmp, "out.json")
        argv = [sys.executable, "-m", "harness.cli", "run", "--url", url, "--token", "x"]
        argv += ["--timeout", f"{timeout:g}", "--json", str(report), "--plain"]
        argv += ["--exclude", "browser.*", "--exclude", "proxy.*", *extra]
        out_path, err_path = Path(tmp, "stdout"), Path(tmp, "stderr")
        t0 = time.monotonic()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            # cwd: a folder without a pyproject.toml, so no local settings leak in.
            proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=tmp, start_new_session=True)
        killed = False
        while True:
            # wait4, not Popen.wait: it hands back this child's own peak RSS and CPU time.
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > kill_after:
                killed = True
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        run = CliRun(
            argv=argv,
            returncode=proc.returncode,
            stdout=out_path.read_text(encoding="utf-8", errors="replace"),
            stderr=err_path.read_text(encoding="utf-8", errors="replace"),
            wall=time.monotonic() - t0,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            killed=killed,
        )
        if report.is_file():
            run.report = json.loads(report.read_text(encoding="utf-8"))
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.testing.hostile", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="plain HTTP port (0: a free one)")
    parser.add_argument("--tls-port", type=int, default=0, help="TLS port (0: a free one)")
    ns = parser.parse_args(argv)
    try:
        server = HostileServer(ns.host, ns.port, ns.tls_port).start()
    except RuntimeError as exc:
        print(f"hostile: {exc}", file=sys.stderr)
        return 2
    width = max(map(len, MODES))
    for name, (description, _) in MODES.items():
        print(f"{name:<{width}}  {description}")
    print(f"hostile server listening on {server.url('<mode>')}", flush=True)
    print(f"TLS (self-signed) on {server.url('<mode>', scheme='https', tls_port=True)}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
