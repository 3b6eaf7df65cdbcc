"""Finding and starting a Chromium through Playwright.

Playwright's own browser is preferred when it is installed; otherwise a system Chromium is
used (``CHATKIT_HARNESS_CHROMIUM``, ``chromium``, ``chromium-browser``, ``google-chrome``) with
the arguments that let it run headless as root inside containers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from harness.target.launch import LaunchError

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

ENV_VAR = "CHATKIT_HARNESS_CHROMIUM"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# A system Chromium started as root in a container needs --no-sandbox; the rest keep it from
# phoning home (updates, sync, QUIC probes), which would slow it down or hang it offline.
SYSTEM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
HOW_TO_GET_ONE = (
    "no Chromium found: run 'playwright install chromium', or install a system Chromium "
    f"(e.g. 'apt-get install chromium') or point {ENV_VAR} at one"
)


class BrowserUnavailable(LaunchError):
    """No usable Chromium: a harness error (exit 2), not a verdict on the target."""


def system_chromium(env: dict[str, str] | None = None) -> str | None:
    """The explicit ``CHATKIT_HARNESS_CHROMIUM``, else the first Chromium on PATH."""
    env = dict(os.environ) if env is None else env
    explicit = env.get(ENV_VAR)
    if explicit:
        path = shutil.which(explicit) or explicit
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            raise BrowserUnavailable(f"{ENV_VAR}={explicit} is not an executable file")
        return path
    for name in SYSTEM_NAMES:
        found = shutil.which(name, path=env.get("PATH"))
        if found:
            return found
    return None


def bundled_chromium(pw: Playwright) -> str | None:
    """Playwright's downloaded Chromium, when ``playwright install`` has been run."""
    try:
        path = pw.chromium.executable_path
    except Exception:  # older Playwright raises when the browser was never installed
        return None
    return path if path and Path(path).is_file() else None


async def launch_chromium(pw: Playwright, *, headless: bool = True) -> Browser:
    """Start Chromium, preferring an explicit override, then Playwright's, then the system's."""
    explicit = os.environ.get(ENV_VAR)
    executable = system_chromium() if explicit else (bundled_chromium(pw) or system_chromium())
    if executable is None:
        raise BrowserUnavailable(HOW_TO_GET_ONE)
    args = list(SYSTEM_ARGS)
    try:
        return await pw.chromium.launch(
            executable_path=executable, headless=headless, args=args, timeout=30_000
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserUnavailable(f"cannot start Chromium at {executable}: {first}") from None
