#!/usr/bin/env python3
"""Health check: ``python scripts/verify.py [URL] [chatkit-harness run options]``.

With no URL it starts the bundled reference server and checks that, so it works out of the
box, and adds what the machine allows so that no area goes unchecked:

- the harness's model stub and MCP stub under the server (the glass-box and MCP checks run);
- a Chromium found: the bundled correct page served in front of the server (``--frontend-url
  bundled:cookie-proxy.html``): the browser checks and, through its httpOnly cookie proxy
  route, the proxy checks run;
- nginx found: the server behind a local nginx with the streaming configuration
  (``python -m harness.browser.edge``); the harness talks to nginx and compares with the
  server itself (``--origin-url``), so ``sse.edge-vs-origin`` runs. The server is then started
  through ``--start`` on a port chosen here, trusting the harness's test issuer
  (``--issuer-port``): the same server, flags and users as the plain bundled run.

A missing piece gets one line saying what to install; the run goes on without it.
Prints one line per check (✓ / ✗) and a verdict; exit 0 healthy, 1 a check failed, 2 the
harness could not run.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the project root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.cli import main

BUNDLED_PAGE = "bundled:cookie-proxy.html"
# An in-memory store, as the plugin starts the bundled server, and 5 ms a token throughout:
# started through --start the server is a deployment to the harness, which then changes no
# pace (the plugin's bundled server runs at 1 ms and slows down for the timed stream only).
SERVER_FLAGS = ("--db", ":memory:", "--token-delay", "0.005")


def chromium_missing(env: Mapping[str, str]) -> str | None:
    """Why no Chromium can run the browser checks, or None when one is found."""
    from harness.browser.launch import ENV_VAR, HOW_TO_GET_ONE, BrowserUnavailable, system_chromium

    try:
        if system_chromium(dict(env)) is not None:
            return None
    except BrowserUnavailable as exc:
        return str(exc)
    if not env.get(ENV_VAR):
        # Playwright's own download (``playwright install chromium``), found without starting it.
        root = env.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache/ms-playwright")
        if any(Path(root).glob("chromium-*/chrome-linux*/chrome")):
            return None
    return HOW_TO_GET_ONE


def nginx_missing(env: Mapping[str, str]) -> str | None:
    """Why no nginx can stand in front of the server, or None when one is found."""
    from harness.browser.edge import NginxUnavailable, find_nginx

    try:
        find_nginx(env)
    except NginxUnavailable as exc:
        return str(exc)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def effective_target(args: Sequence[str]) -> tuple[Any, Any] | None:
    """The parsed options and the target settings they make (with environment and
    pyproject.toml), or None when they are bad (the harness then says why, in one line)."""
    from harness.cli import build_parser
    from harness.plugin import TARGET_OPTIONS
    from harness.target.config import ConfigError, load_target

    try:
        ns = build_parser().parse_args(["run", *args])
        flags = {}
        for name, (field_name, _) in TARGET_OPTIONS.items():
            value = getattr(ns, name.replace("-", "_"))
            if value:
                flags[field_name] = value
        return ns, load_target(flags)
    except (SystemExit, ConfigError):
        return None


def browser_extras(target: Any, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Options for the browser and proxy checks on the bundled page, and the hint lines."""
    if target.frontend_url:
        return [], []
    why = chromium_missing(env)
    if why is not None:
        return [], [f"verify: the browser and proxy checks are skipped: {why}"]
    extras = ["--frontend-url", BUNDLED_PAGE, "--frontend-cookie", "auth_token={token}"]
    if target.chatkit_script == "auto":
        extras += ["--script", "standin"]  # offline: never ask OpenAI's CDN
    return extras, []


def edge_extras(ns: Any, target: Any, env: Mapping[str, str]) -> tuple[list[str], list[str], bool]:
    """Options that run the bundled server behind nginx, the hint lines, and whether the
    server is now started through --start (so --fault goes into its command)."""
    if target.origin_url or ns.list:
        return [], [], False
    why = nginx_missing(env)
    if why is not None:
        return (
            [],
            [f"verify: sse.edge-vs-origin is skipped (it needs nginx in front): {why}"],
            False,
        )
    from harness.auth.issuer import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_JWKS_PATH
    from harness.probes.features import BUNDLED_TRIGGERS
    from harness.target.config import BUNDLED_CONCURRENCY

    server_port, edge_port = free_port(), free_port()
    issuer_port = target.issuer_port or free_port()
    jwks_path = "/" + (target.jwks_path or DEFAULT_JWKS_PATH).lstrip("/")
    server = [sys.executable, "-m", "reference_server", "--host", "127.0.0.1"]
    server += ["--port", str(server_port), *SERVER_FLAGS]
    server += ["--jwks-url", f"http://127.0.0.1:{issuer_port}{jwks_path}"]
    server += ["--issuer", target.issuer_iss or DEFAULT_ISSUER]
    server += ["--audience", target.issuer_aud or DEFAULT_AUDIENCE]
    if target.glass_box:
        server += ["--model", "openai"]  # the real openai-agents Responses path, on the stub
    for fault in ns.fault:
        server += ["--fault", fault]
    command = [sys.executable, "-m", "harness.browser.edge", "--port", str(edge_port)]
    command += ["--upstream", str(server_port), "--", *server]
    extras = ["--start", shlex.join(command), "--url", f"http://127.0.0.1:{edge_port}/chatkit"]
    extras += ["--origin-url", f"http://127.0.0.1:{server_port}/chatkit"]
    extras += ["--issuer-port", str(issuer_port)]
    if target.concurrency is None:  # still the bundled server, though started through --start
        extras += ["--concurrency", str(BUNDLED_CONCURRENCY)]
    for feature, prompt in BUNDLED_TRIGGERS.items():
        if feature not in target.triggers:
            extras += ["--trigger", f"{feature}={prompt}"]  # the server's own keywords
    return extras, [], True


def without_faults(args: Sequence[str]) -> list[str]:
    rest: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a == "--fault":
            skip = True
        elif not a.startswith("--fault="):
            rest.append(a)
    return rest


def verify_args(argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], list[str]]:
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
        parsed = effective_target(args)
        if parsed is not None and not parsed[1].url and not parsed[1].start_command:
            ns, target = parsed
            extras, hints = browser_extras(target, env)
            mcp_chosen = any(a.startswith("--mcp-stub") for a in args) or any(
                k in env for k in ("CHATKIT_MCP_STUB", "CHATKIT_MCP_STUB_URL")
            )
            if target.glass_box and not mcp_chosen:
                extras.append("--mcp-stub")  # the MCP checks: the model stub makes tool calls
            edge, edge_hints, started = edge_extras(ns, target, env)
            hints += edge_hints
            if started:
                args = without_faults(args)
            args += extras + edge
    if "--rich" not in args:
        args.append("--plain")  # the health check's contract: one ✓ / ✗ line per check
    return ["run", *args], hints


if __name__ == "__main__":
    run_args, hint_lines = verify_args(sys.argv[1:], os.environ)
    for line in hint_lines:
        print(line, file=sys.stderr)
    sys.exit(main(run_args))
