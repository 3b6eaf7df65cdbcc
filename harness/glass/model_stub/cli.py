"""``python -m harness.glass.model_stub``: serve the stub until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

from .reply import DEFAULT_MARKER_PATTERN

PROG = "model stub"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    # argparse prints usage plus the error and exits; callers want one line and a code back.
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _delay(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {value}")
    return value


def _pattern(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m harness.glass.model_stub",
        description=(
            "Serve an OpenAI-compatible model stub on 127.0.0.1 that records every request "
            "(GET /_stub/requests) and streams its reply on a fixed token schedule."
        ),
    )
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--token-delay", type=_delay, default=0.02, metavar="S", help="seconds between deltas"
    )
    parser.add_argument(
        "--first-token-delay",
        type=_delay,
        default=0.0,
        metavar="S",
        help="seconds before the first delta",
    )
    parser.add_argument(
        "--marker-pattern",
        type=_pattern,
        default=DEFAULT_MARKER_PATTERN,
        metavar="REGEX",
        help="canary strings always echoed in replies (default: words containing 'canary')",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM. 0 on a clean stop, 1 if it cannot listen, 2 on bad usage."""
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except SystemExit as exc:  # --help: report its code instead of exiting the caller
        return exc.code if isinstance(exc.code, int) else 0
    # Imported here so that --help and usage errors answer without loading the web stack.
    from .server import ModelStub

    stub = ModelStub(
        port=args.port,
        token_delay=args.token_delay,
        first_token_delay=args.first_token_delay,
        marker_pattern=args.marker_pattern,
    )
    try:
        stub.start()
    except (OSError, RuntimeError) as exc:
        print(f"{PROG}: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    stop = threading.Event()
    restore = _on_signals(stop, (signal.SIGINT, signal.SIGTERM))
    try:
        print(f"{PROG} listening on {stub.base_url}", flush=True)
        while not stop.wait(0.2):
            if not stub.running:
                print(f"{PROG}: server thread stopped unexpectedly", file=sys.stderr, flush=True)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        restore()
        stub.stop()
    return 0


def _on_signals(stop: threading.Event, signals: Sequence[signal.Signals]) -> Callable[[], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for sig in signals:
        # Outside the main thread (embedded by another CLI) signals cannot be caught here:
        # Ctrl-C then arrives as KeyboardInterrupt in the main thread, which owns shutdown.
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
