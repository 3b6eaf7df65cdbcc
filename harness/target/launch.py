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
from pathlib import Path
from urllib.parse import urlsplit

LISTENING_RE = re.compile(r"listening on (http://\S+)")
TAIL_LINES = 20  # of the backend's output, shown when it dies
KEEP_LINES = 20_000  # kept for backend.log in the artifacts folder


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

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The backend's last output lines, as a block to append to an error message."""
        last = [line for line in self.output[-lines:] if line.strip()]
        if not last:
            return " (it printed nothing)"
        return f"; its last {len(last)} lines:\n" + "\n".join("  " + line for line in last)

    def died(self) -> int | None:
        """The exit code when the process has exited, else None."""
        return self.proc.poll()

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
    """Start a user's target with ``command`` and wait until ``url``'s port accepts connections.

    Only the started process counts: a port that is already taken is refused up front (the
    harness would otherwise judge whatever listens there), and a process that exits before
    the port opens is reported with its last lines.
    """
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if _accepts(host, port):
        raise LaunchError(
            f"--start: {host}:{port} is already taken{listener_of(port)}; stop that process "
            "or give --url a free port, so the harness judges the backend it starts"
        )
    t0 = time.monotonic()
    proc = _spawn(shlex.split(command), env)
    launched = Launched(proc, url, t0, t0)
    _drain_in_background(launched)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            time.sleep(0.1)  # let the drain thread read the last lines
            raise LaunchError(
                f"the backend started with --start exited with code {proc.returncode} before "
                f"{host}:{port} accepted connections{launched.tail()}"
            )
        if _accepts(host, port):
            launched.ready_at = time.monotonic()
            return launched
        time.sleep(0.02)
    launched.stop()
    raise LaunchError(
        f"{host}:{port} did not accept connections within {timeout:g} s{launched.tail()}"
    )


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def listener_of(port: int) -> str:
    """' by PID 123 (cmd ...)' for the process listening on ``port``, where Linux tells."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return ""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if not any(os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] in inodes for fd in fds):
                continue
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        cmd = raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]
        return f" by PID {pid} ({cmd})"
    return ""


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
                if len(launched.output) > KEEP_LINES:
                    del launched.output[: len(launched.output) - KEEP_LINES]
        except (OSError, ValueError):
            pass

    threading.Thread(target=drain, daemon=True).start()
