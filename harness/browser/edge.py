"""A local nginx in front of a backend: the edge the ``sse.edge-vs-origin`` check compares.

``python -m harness.browser.edge --port EDGE --upstream ORIGIN -- COMMAND...`` starts
``COMMAND`` (the backend, listening on 127.0.0.1:ORIGIN), waits until it accepts connections,
then starts nginx on 127.0.0.1:EDGE with the streaming configuration of
``fixtures/proxies/nginx-streaming.conf`` (the fix the SSE checks print). nginx starts only once
the backend is up, so a harness ``--start`` that waits for EDGE waits for both, and a restart
(the cold-start check) restarts both. SIGTERM stops both; when either exits, so does the other.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STREAMING_CONF = ROOT / "fixtures" / "proxies" / "nginx-streaming.conf"
ENV_VAR = "CHATKIT_HARNESS_NGINX"
# Debian installs nginx in /usr/sbin, which is not on a normal user's PATH.
SBIN = "/usr/sbin:/usr/local/sbin"
HOW_TO_GET_ONE = (
    f"no nginx found: install it (e.g. 'apt-get install nginx-light') or point {ENV_VAR} at one"
)
READY_TIMEOUT = 90.0  # the backend's start on a loaded CI machine


class NginxUnavailable(Exception):
    """No usable nginx; the message is one line."""


def find_nginx(env: Mapping[str, str] | None = None) -> str:
    """The explicit ``CHATKIT_HARNESS_NGINX``, else nginx on PATH or in /usr/sbin."""
    env = dict(os.environ) if env is None else env
    explicit = env.get(ENV_VAR)
    if explicit:
        path = shutil.which(explicit) or explicit
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            raise NginxUnavailable(f"{ENV_VAR}={explicit} is not an executable file")
        return path
    found = shutil.which("nginx", path=env.get("PATH", "")) or shutil.which("nginx", path=SBIN)
    if found is None:
        raise NginxUnavailable(HOW_TO_GET_ONE)
    return found


def render_conf(template: str, prefix: Path, port: int, upstream: int) -> str:
    """The configuration with its placeholders filled in (``user root`` only when root)."""
    return (
        template.replace("{{PREFIX}}", str(prefix))
        .replace("{{PORT}}", str(port))
        .replace("{{UPSTREAM}}", str(upstream))
        .replace("{{USER}}", "user root;" if os.geteuid() == 0 else "")
    )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_nginx(nginx: str, prefix: Path, port: int, upstream: int) -> subprocess.Popen[bytes]:
    """nginx on 127.0.0.1:``port`` in front of 127.0.0.1:``upstream``, its files in ``prefix``."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render_conf(STREAMING_CONF.read_text(), prefix, port, upstream))
    # -e: nginx opens its compiled-in error log before it reads the configuration.
    argv = [nginx, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


def _wait_for(port: int, procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        if _accepts(port):
            return True
        time.sleep(0.02)
    return False


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.browser.edge")
    parser.add_argument("--port", type=int, required=True, help="nginx listens here")
    parser.add_argument("--upstream", type=int, required=True, help="the backend's port")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the backend's command")
    ns = parser.parse_args(argv)
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    if not command:
        parser.error("give the backend's command after --")
    try:
        nginx = find_nginx()
    except NginxUnavailable as exc:
        print(f"edge: {exc}", file=sys.stderr)
        return 2
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    procs: list[subprocess.Popen[bytes]] = [subprocess.Popen(command, stdin=subprocess.DEVNULL)]
    with tempfile.TemporaryDirectory(prefix="chatkit-edge-") as tmp:
        try:
            if not _wait_for(ns.upstream, procs, READY_TIMEOUT) or stopping:
                return procs[0].poll() or 1
            procs.append(start_nginx(nginx, Path(tmp), ns.port, ns.upstream))
            if not _wait_for(ns.port, procs, 10):
                log = Path(tmp) / "error.log"
                tail = log.read_text(errors="replace").strip() if log.is_file() else ""
                print(f"edge: nginx did not listen on {ns.port}: {tail[-300:]}", file=sys.stderr)
                return 1
            print(f"edge: nginx on 127.0.0.1:{ns.port} in front of {ns.upstream}", flush=True)
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.1)
            return next((p.returncode for p in procs if p.returncode), 0)
        finally:
            _stop(procs)


if __name__ == "__main__":
    sys.exit(main())
