"""Building the React and Next.js fixtures from npm, cached in ``.cache/`` between runs.

Each fixture is copied into its own cache folder (``node_modules`` and build output stay
there, never in the source tree) and rebuilt only when its sources change. ``npm ci`` installs
exactly the committed lock file from the npm registry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.target.launch import Launched

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CACHE = Path(os.environ.get("CHATKIT_HARNESS_BUILD_CACHE", ROOT / ".cache"))
SKIP_DIRS = {"node_modules", ".next", "dist"}


class BuildError(Exception):
    """npm or the build failed; the message holds the tail of its output."""


def have_npm() -> bool:
    return shutil.which("npm") is not None


def _sources(src: Path) -> Iterable[Path]:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_file() and not (set(rel.parts) & SKIP_DIRS):
            yield path


def _digest(src: Path, names: Iterable[str] | None = None) -> str:
    h = hashlib.sha256()
    files = [src / n for n in names] if names is not None else list(_sources(src))
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _run(argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise BuildError(f"{' '.join(argv)} failed ({proc.returncode}):\n" + "\n".join(tail))


def prepare(name: str) -> Path:
    """Copy ``fixtures/<name>`` into the cache and ``npm ci`` it when its lock file changed."""
    src = FIXTURES / name
    work = CACHE / f"{name}-fixture"
    work.mkdir(parents=True, exist_ok=True)
    wanted = {path.relative_to(src) for path in _sources(src)}
    for old in list(_sources(work)):  # a source moved or removed since the last copy
        if old.relative_to(work) not in wanted and not old.name.startswith("."):
            old.unlink()
    for path in _sources(src):
        dest = work / path.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_file() or dest.read_bytes() != path.read_bytes():
            shutil.copyfile(path, dest)
    deps = _digest(src, ["package.json", "package-lock.json"])
    stamp = work / ".deps-installed"
    if not (stamp.is_file() and stamp.read_text() == deps and (work / "node_modules").is_dir()):
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], work, 600)
        stamp.write_text(deps)
    return work


def react_site() -> Path:
    """The bundled React page: a folder with index.html and app.js, to mount at /react/."""
    work = prepare("react")
    key = _digest(FIXTURES / "react")
    dist = work / "dist"
    stamp = work / ".built"
    if not (stamp.is_file() and stamp.read_text() == key and (dist / "app.js").is_file()):
        _run(["npm", "run", "build", "--silent"], work, 300)
        shutil.copyfile(work / "index.html", dist / "index.html")
        stamp.write_text(key)
    return dist


def nextjs_app() -> Path:
    """The built Next.js app folder, ready for ``next start``."""
    work = prepare("nextjs")
    key = _digest(FIXTURES / "nextjs")
    stamp = work / ".built"
    if not (
        stamp.is_file() and stamp.read_text() == key and (work / ".next" / "BUILD_ID").is_file()
    ):
        _run(["npm", "run", "build"], work, 900, env={"NEXT_TELEMETRY_DISABLED": "1"})
        stamp.write_text(key)
    return work


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nextjs(app: Path, backend_url: str) -> Launched:
    """``next start`` on a free port, its proxy routes pointed at ``backend_url``'s origin."""
    from urllib.parse import urlsplit

    from harness.target.launch import start_command

    parts = urlsplit(backend_url)
    port = free_port()
    command = f"{app / 'node_modules' / '.bin' / 'next'} start {app} -H 127.0.0.1 -p {port}"
    env = {"CHATKIT_API_BASE": f"{parts.scheme}://{parts.netloc}", "NEXT_TELEMETRY_DISABLED": "1"}
    return start_command(command, f"http://127.0.0.1:{port}/", env=env, timeout=60)
