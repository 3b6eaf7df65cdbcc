#!/usr/bin/env python3
"""Health check: ``python scripts/verify.py [URL] [chatkit-harness run options]``.

With no URL it starts the bundled reference server and checks that, so it works out of the
box: on the harness's model stub (the glass-box checks run) and, when a Chromium is found,
with the bundled correct page served in front of it (``--frontend-url
bundled:cookie-proxy.html``: the browser checks and, through its httpOnly cookie proxy route,
the proxy checks run); without one, one line says what to install.
Prints one line per check (✓ / ✗) and a verdict; exit 0 healthy, 1 a check failed, 2 the
harness could not run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

# Run from a checkout without installing: the project root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.cli import main

BUNDLED_PAGE = "bundled:cookie-proxy.html"


def chromium_missing(env: Mapping[str, str]) -> str | None:
    """Why no Chromium can run the browser checks, or None when one is found."""
    from harness.browser.launch import HOW_TO_GET_ONE, BrowserUnavailable, system_chromium

    try:
        if system_chromium(dict(env)) is not None:
            return None
    except BrowserUnavailable as exc:
        return str(exc)
    if not env.get("CHATKIT_HARNESS_CHROMIUM"):
        # Playwright's own download (``playwright install chromium``), found without starting it.
        root = env.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache/ms-playwright")
        if any(Path(root).glob("chromium-*/chrome-linux*/chrome")):
            return None
    return HOW_TO_GET_ONE


def bundled_extras(args: list[str], env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Options the no-URL run adds for the browser and proxy checks, and the hint lines."""
    frontend_given = any(a.startswith("--frontend-url") for a in args) or env.get(
        "CHATKIT_FRONTEND_URL"
    )
    if frontend_given:
        return [], []
    why = chromium_missing(env)
    if why is not None:
        return [], [f"verify: the browser and proxy checks are skipped: {why}"]
    extras = ["--frontend-url", BUNDLED_PAGE, "--frontend-cookie", "auth_token={token}"]
    if not any(a.startswith("--script") for a in args) and not env.get("CHATKIT_SCRIPT"):
        extras += ["--script", "standin"]  # offline: never ask OpenAI's CDN
    return extras, []


def verify_args(argv: list[str], env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The ``chatkit-harness run`` arguments of ``verify [URL] [options]``, and hint lines."""
    args = list(argv)
    if args and not args[0].startswith("-"):
        args = ["--url", args[0], *args[1:]]
    bundled = not any(a == "--url" or a.startswith("--url=") for a in args) and not env.get(
        "CHATKIT_URL"
    )
    hints: list[str] = []
    if bundled:
        stub_chosen = any(a.startswith("--model-stub") for a in args) or any(
            k in env for k in ("CHATKIT_MODEL_STUB", "CHATKIT_MODEL_STUB_URL")
        )
        if not stub_chosen:
            # Out of the box, the bundled server runs on the harness's model stub, so the
            # glass-box checks (what reached the model) run too; --model-stub false turns it off.
            args.append("--model-stub")
        extras, hints = bundled_extras(args, env)
        args += extras
    if "--rich" not in args:
        args.append("--plain")  # the health check's contract: one ✓ / ✗ line per check
    return ["run", *args], hints


if __name__ == "__main__":
    run_args, hint_lines = verify_args(sys.argv[1:], os.environ)
    for line in hint_lines:
        print(line, file=sys.stderr)
    sys.exit(main(run_args))
