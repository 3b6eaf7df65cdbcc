"""The no-argument health check leaves no area unchecked where the machine allows it.

``scripts/verify.py`` with no URL serves ``--frontend-url bundled:cookie-proxy.html`` in front
of the bundled reference server when a Chromium is found (browser and proxy checks), runs the
server behind a local nginx when one is found (``sse.edge-vs-origin``), and says in one line
per missing piece what to install (the run still ends, exit 0, without it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from browser_support import needs_chromium

from harness.browser.edge import ENV_VAR as NGINX_VAR
from harness.browser.edge import NginxUnavailable, find_nginx, render_conf
from harness.browser.launch import ENV_VAR
from harness.probes.features import BUNDLED_TRIGGERS

ROOT = Path(__file__).resolve().parent.parent
VERIFY = ROOT / "scripts" / "verify.py"
FRONTEND = [
    "--frontend-url",
    "bundled:cookie-proxy.html",
    "--frontend-cookie",
    "auth_token={token}",
]


def _verify_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_script", VERIFY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def verify() -> ModuleType:
    return _verify_module()


def _fake_exe(path: Path) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def fake_chromium(tmp_path: Path) -> str:
    return _fake_exe(tmp_path / "chromium")


@pytest.fixture
def no_nginx(tmp_path: Path) -> dict[str, str]:
    return {NGINX_VAR: str(tmp_path / "no-nginx")}


@pytest.fixture
def fake_nginx(tmp_path: Path) -> dict[str, str]:
    return {NGINX_VAR: _fake_exe(tmp_path / "nginx")}


def _contains(args: list[str], part: list[str]) -> bool:
    return any(args[i : i + len(part)] == part for i in range(len(args)))


def test_no_url_with_chromium_selects_the_bundled_page(
    verify: ModuleType, fake_chromium: str, no_nginx: dict[str, str]
) -> None:
    args, hints = verify.verify_args([], {ENV_VAR: fake_chromium, "PATH": "", **no_nginx})
    assert args[0] == "run" and "--url" not in args and "--start" not in args
    assert _contains(args, FRONTEND), args
    assert _contains(args, ["--script", "standin"]), args  # never OpenAI's CDN out of the box
    assert "--model-stub" in args and "--mcp-stub" in args
    assert len(hints) == 1 and "sse.edge-vs-origin" in hints[0] and "nginx" in hints[0], hints


def test_no_url_with_nginx_puts_the_server_behind_it(
    verify: ModuleType, fake_chromium: str, fake_nginx: dict[str, str]
) -> None:
    env = {ENV_VAR: fake_chromium, "PATH": "", **fake_nginx}
    args, hints = verify.verify_args(["--fault", "no-history"], env)
    assert not hints
    start = args[args.index("--start") + 1]
    assert "harness.browser.edge" in start and "reference_server" in start
    assert "--fault no-history" in start and "--fault" not in args  # the server gets it
    assert "--model openai" in start  # glass-box: the server's model calls go to the stub
    edge, origin = args[args.index("--url") + 1], args[args.index("--origin-url") + 1]
    assert edge != origin and f"--port {edge.split(':')[2].split('/')[0]}" in start
    issuer_port = args[args.index("--issuer-port") + 1]
    assert f"127.0.0.1:{issuer_port}/.well-known/jwks.json" in start
    triggers = [args[i + 1] for i, a in enumerate(args) if a == "--trigger"]
    assert {t.split("=", 1)[0] for t in triggers} == set(BUNDLED_TRIGGERS)
    assert _contains(args, FRONTEND)


def test_finding_nginx(tmp_path: Path, fake_nginx: dict[str, str]) -> None:
    assert find_nginx(fake_nginx) == fake_nginx[NGINX_VAR]
    with pytest.raises(NginxUnavailable, match=NGINX_VAR):
        find_nginx({NGINX_VAR: str(tmp_path / "missing")})
    conf = render_conf("listen {{PORT}}; proxy_pass :{{UPSTREAM}}; {{PREFIX}}", tmp_path, 1, 2)
    assert conf == f"listen 1; proxy_pass :2; {tmp_path}"


def test_no_chromium_prints_one_line_and_leaves_the_browser_out(
    verify: ModuleType, tmp_path: Path, fake_nginx: dict[str, str]
) -> None:
    env = {"PATH": str(tmp_path), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path), **fake_nginx}
    args, hints = verify.verify_args([], env)
    assert "--frontend-url" not in args and "--start" in args
    assert len(hints) == 1 and "\n" not in hints[0]
    assert "apt-get install chromium" in hints[0], hints
    # An explicit Chromium that is not there says so.
    env = {ENV_VAR: str(tmp_path / "missing"), "PATH": "", **fake_nginx}
    args, hints = verify.verify_args([], env)
    assert "--frontend-url" not in args and ENV_VAR in hints[0]


def test_a_url_or_options_of_ones_own_add_nothing(
    verify: ModuleType, fake_chromium: str, fake_nginx: dict[str, str]
) -> None:
    env = {ENV_VAR: fake_chromium, "PATH": "", **fake_nginx}
    args, hints = verify.verify_args(["https://chat.example.com/chatkit"], env)
    assert args[:3] == ["run", "--url", "https://chat.example.com/chatkit"]
    assert "--frontend-url" not in args and "--model-stub" not in args and not hints
    assert "--start" not in args and "--mcp-stub" not in args
    mine = ["--frontend-url", "http://127.0.0.1:3000/", "--origin-url", "http://127.0.0.1:9/c"]
    args, hints = verify.verify_args(mine, env)
    assert args.count("--frontend-url") == 1 and args.count("--origin-url") == 1
    assert "--start" not in args and not hints
    args, _ = verify.verify_args(["--script", "cdn"], env)
    assert not _contains(args, ["--script", "standin"])
    args, _ = verify.verify_args(["--model-stub", "false"], env)
    assert "--mcp-stub" not in args  # the MCP checks need the model stub's tool calls
    args, _ = verify.verify_args(["--mcp-stub", "false"], env)
    assert args.count("--mcp-stub") == 1  # the user's own choice stands


def _have_nginx() -> bool:
    try:
        find_nginx()
    except NginxUnavailable:
        return False
    return True


def _run_verify(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFY), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_run_without_chromium_and_nginx_ends_healthy_with_two_hints(tmp_path: Path) -> None:
    proc = _run_verify(
        "--select",
        "browser.script-loads",
        "--select",
        "attachments.delete-unknown",  # one check that runs: a run of skips only is exit 2
        "--model-stub",
        "false",
        env={ENV_VAR: str(tmp_path / "missing"), NGINX_VAR: str(tmp_path / "missing")},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    hints = [line for line in proc.stderr.splitlines() if line.startswith("verify:")]
    assert len(hints) == 2 and ENV_VAR in hints[0] and NGINX_VAR in hints[1], proc.stderr
    assert "(skipped)  [browser.script-loads]" in proc.stdout


@pytest.mark.slow
@pytest.mark.browser
@needs_chromium
@pytest.mark.skipif(
    not _have_nginx(), reason="nginx is not installed (apt-get install nginx-light)"
)
def test_no_url_run_passes_every_browser_proxy_and_edge_check() -> None:
    proc = _run_verify(
        "--select", "browser.*", "--select", "proxy.*", "--select", "sse.edge-vs-origin"
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-2000:]
    assert "healthy (10 checks)" in out, out[-3000:]  # none skipped, blocked or not offered
    assert not [line for line in proc.stderr.splitlines() if line.startswith("verify:")]


@pytest.mark.slow
def test_unknown_bundled_page_is_one_line_exit_2() -> None:
    proc = _run_verify(
        "--frontend-url",
        "bundled:nope.html",
        "--script",
        "standin",
        "--select",
        "browser.script-loads",
        "--model-stub",
        "false",
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "bundled:nope.html: no such page" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
