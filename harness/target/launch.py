"""Starting targets the harness owns: the bundled reference server, or a user's start command.

The process is always a real subprocess on a real socket, so streaming and cold-start timings
are what a client would see (an in-process ASGI transport buffers whole responses).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LISTENING_RE = re.compile(r"listening on (http://\S+)")


class LaunchError(Exception):
    """The target process could not be started or never became ready."""


@dataclass
class Launched:
    proc: subprocess.Popen[bytes]
    url: str
    started_at: float  # monotonic, just before the process was spawned
    ready_at: float  # monotonic, when the port accepted a connection
    output: list[str] = field(default_factory=list)

    @property
    def startup_seconds(self) -> float:
        return self.ready_at - self.started_at

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def kill(self) -> None:
        """SIGKILL the whole process group (crash simulation)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _spawn(argv: Sequence[str], env: Mapping[str, str] | None) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, **(env or {})}
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,  # its own process group, so stop() reaches its children
        )
    except OSError as exc:
        raise LaunchError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None


def start_reference_server(
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Launched:
    """Start ``chatkit-reference-server --port 0 ...`` and wait for its listening line."""
    argv = [sys.executable, "-m", "reference_server", "--host", "127.0.0.1", "--port", "0", *args]
    t0 = time.monotonic()
    proc = _spawn(argv, env)
    assert proc.stdout is not None
    output: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = t0 + timeout
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *lines, rest = buf.split(b"\n")
            buf = rest
            for raw in lines:
                line = raw.decode("utf-8", errors="replace")
                output.append(line)
                m = LISTENING_RE.search(line)
                if m:
                    launched = Launched(proc, m.group(1), t0, time.monotonic(), output)
                    _drain_in_background(launched)
                    return launched
    finally:
        sel.close()
    proc.kill()
    proc.wait(5)
    tail = " | ".join(output[-3:]) or "no output"
    raise LaunchError(f"reference server did not become ready within {timeout:g} s: {tail}")


def start_command(
    command: str,
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Launched:
    """Start a user's target with ``command`` and wait until ``url``'s port accepts connections."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    t0 = time.monotonic()
    proc = _spawn(shlex.split(command), env)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            tail = " | ".join(out.strip().splitlines()[-3:]) or "no output"
            raise LaunchError(f"start command exited with {proc.returncode}: {tail}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                launched = Launched(proc, url, t0, time.monotonic())
                _drain_in_background(launched)
                return launched
        except OSError:
            time.sleep(0.02)
    proc.kill()
    proc.wait(5)
    raise LaunchError(f"{host}:{port} did not accept connections within {timeout:g} s")


def _drain_in_background(launched: Launched) -> None:
    """Keep reading the child's output so a full pipe never blocks it; keep the last lines."""
    import threading

    stream = launched.proc.stdout
    if stream is None:
        return

    def drain() -> None:
        try:
            for raw in iter(stream.readline, b""):
                launched.output.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
                del launched.output[:-200]
        except (OSError, ValueError):
            pass

    threading.Thread(target=drain, daemon=True).start()
