"""``chatkit-harness mcp-stub``: serve the MCP stub until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import NoReturn
from urllib.parse import urlsplit

PROG = "MCP stub"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {text!r}")
    return int(text)


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chatkit-harness mcp-stub",
        description=(
            "Serve an MCP server (Streamable HTTP at /mcp, SSE at /sse) on 127.0.0.1 whose "
            "tools record what every call carries (GET /_stub/calls)."
        ),
    )
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--jwks-url",
        type=_url,
        action="append",
        default=[],
        metavar="URL",
        help="count JWTs signed by this key set as verified (repeatable)",
    )
    parser.add_argument(
        "--authorization-server",
        type=_url,
        metavar="URL",
        help="name this authorization server in the protected-resource metadata (RFC 9728)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM. 0 on a clean stop, 1 if it cannot listen, 2 on bad usage."""
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    from harness.glass.mcp_box import McpBox, url_key_set

    try:
        box = McpBox.start(
            key_sets=[url_key_set(u) for u in args.jwks_url],
            authorization_server=args.authorization_server,
            port=args.port,
        )
    except (OSError, RuntimeError) as exc:
        print(f"{PROG}: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"{PROG} listening on {box.url}", flush=True)
        while not stop.wait(0.2):
            if box.stub is not None and not box.stub.running:
                print(f"{PROG}: server thread stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        box.stop()
    return 0
