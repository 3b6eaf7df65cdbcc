"""Starting targets the harness owns: the bundled reference server, or a user's start command.

The process is always a real subprocess on a real socket, so streaming and cold-start timings
are what a client would see (an in-process ASGI transport buffers whole responses).
"""

from __future__ import annotations

import atexit
import contextlib
import json
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
# reference_server's hidden first argument: import everything, then read the real arguments
# (and environment) as one JSON line on stdin.
AWAIT_ARGS = "--await-args"
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

    def stop(self, timeout: float = 5.0, *, graceful: bool = True) -> None:
        """SIGTERM (SIGKILL when not ``graceful``) to the process group, then wait."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM if graceful else signal.SIGKILL)
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


def _spawn(
    argv: Sequence[str], env: Mapping[str, str] | None, *, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, **(env or {})}
    try:
        return subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,  # its own process group, so stop() reaches its children
        )
    except OSError as exc:
        raise LaunchError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None


# -- a reference server started before its arguments are known ------------------------------
#
# Nearly all of the server's ~2 s start-up is importing the Agents SDK, openai, mcp, chatkit
# and FastAPI. None of that depends on the run's arguments (the test issuer's keys, the
# faults, the model stub's URL), which the harness knows only once pytest has read its
# options and collected the checks, about a second later. A prewarmed process does the
# imports meanwhile and waits for its arguments on stdin.


@dataclass
class _Prewarmed:
    proc: subprocess.Popen[bytes]
    started_at: float


_PREWARMED: list[_Prewarmed] = []


def prewarm_reference_server() -> None:
    """Start importing a reference server now; the next start_reference_server() uses it."""
    if _PREWARMED:
        return
    argv = [sys.executable, "-m", "reference_server", AWAIT_ARGS]
    try:
        proc = _spawn(argv, None, stdin=subprocess.PIPE)
    except LaunchError:
        return  # start_reference_server() will say why, with the real arguments
    _PREWARMED.append(_Prewarmed(proc, time.monotonic()))
    if len(_PREWARMED) == 1:
        atexit.register(discard_prewarmed)


def discard_prewarmed() -> None:
    """Stop a prewarmed process nobody used: it has served nothing, so nothing is lost."""
    while _PREWARMED:
        pre = _PREWARMED.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pre.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            pre.proc.wait(5)
        for pipe in (pre.proc.stdin, pre.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def _hand_over(argv: Sequence[str], env: Mapping[str, str] | None) -> _Prewarmed | None:
    """The prewarmed process, given its arguments; None when there is none (or it died)."""
    while _PREWARMED:
        pre = _PREWARMED.pop()
        line = json.dumps({"argv": list(argv), "env": dict(env or {})}) + "\n"
        try:
            assert pre.proc.stdin is not None
            pre.proc.stdin.write(line.encode("utf-8"))
            pre.proc.stdin.close()
            return pre
        except (OSError, ValueError):
            with contextlib.suppress(ProcessLookupError):
                pre.proc.kill()
            pre.proc.wait(5)
    return None


def start_reference_server(
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> Launched:
    """Start ``chatkit-reference-server --port 0 ...`` and wait for its listening line.

    About 2 s on an idle machine, less when a prewarmed process takes the arguments; the
    generous limit is for a CI runner under load.
    """
    server_args = ["--host", "127.0.0.1", "--port", "0", *args]
    pre = _hand_over(server_args, env)
    if pre is not None:
        proc, t0 = pre.proc, pre.started_at
    else:
        t0 = time.monotonic()
        proc = _spawn([sys.executable, "-m", "reference_server", *server_args], env)
    assert proc.stdout is not None
    output: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
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
