"""The no-argument health check runs the browser and proxy checks on the bundled page.

``scripts/verify.py`` with no URL serves ``--frontend-url bundled:cookie-proxy.html`` in front
of the bundled reference server when a Chromium is found, and says in one line what to
install when none is (the run still ends, exit 0, without them).
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

from harness.browser.launch import ENV_VAR

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


@pytest.fixture
def fake_chromium(tmp_path: Path) -> str:
    exe = tmp_path / "chromium"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return str(exe)


def _contains(args: list[str], part: list[str]) -> bool:
    return any(args[i : i + len(part)] == part for i in range(len(args)))


def test_no_url_with_chromium_selects_the_bundled_page(
    verify: ModuleType, fake_chromium: str
) -> None:
    args, hints = verify.verify_args([], {ENV_VAR: fake_chromium, "PATH": ""})
    assert args[0] == "run" and "--url" not in args
    assert _contains(args, FRONTEND), args
    assert _contains(args, ["--script", "standin"]), args  # never OpenAI's CDN out of the box
    assert "--model-stub" in args and not hints


def test_no_chromium_prints_one_line_and_leaves_the_browser_out(
    verify: ModuleType, tmp_path: Path
) -> None:
    env = {"PATH": str(tmp_path), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path)}
    args, hints = verify.verify_args([], env)
    assert "--frontend-url" not in args
    assert len(hints) == 1 and "\n" not in hints[0]
    assert "apt-get install chromium" in hints[0], hints
    # An explicit Chromium that is not there says so.
    args, hints = verify.verify_args([], {ENV_VAR: str(tmp_path / "missing"), "PATH": ""})
    assert "--frontend-url" not in args and ENV_VAR in hints[0]


def test_a_url_or_a_page_of_ones_own_adds_nothing(verify: ModuleType, fake_chromium: str) -> None:
    env = {ENV_VAR: fake_chromium, "PATH": ""}
    args, hints = verify.verify_args(["https://chat.example.com/chatkit"], env)
    assert args[:3] == ["run", "--url", "https://chat.example.com/chatkit"]
    assert "--frontend-url" not in args and "--model-stub" not in args and not hints
    mine = ["--frontend-url", "http://127.0.0.1:3000/"]
    args, hints = verify.verify_args(mine, env)
    assert args.count("--frontend-url") == 1 and not hints
    args, _ = verify.verify_args(["--script", "cdn"], env)
    assert not _contains(args, ["--script", "standin"])


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
def test_no_chromium_run_ends_healthy_with_the_hint(tmp_path: Path) -> None:
    proc = _run_verify(
        "--select",
        "browser.script-loads",
        "--select",
        "attachments.delete-unknown",  # one check that runs: a run of skips only is exit 2
        "--model-stub",
        "false",
        env={ENV_VAR: str(tmp_path / "missing")},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    hints = [line for line in proc.stderr.splitlines() if line.startswith("verify:")]
    assert len(hints) == 1 and ENV_VAR in hints[0], proc.stderr
    assert "(skipped)  [browser.script-loads]" in proc.stdout


@pytest.mark.slow
@pytest.mark.browser
@needs_chromium
def test_no_url_run_passes_every_browser_and_proxy_check() -> None:
    proc = _run_verify("--select", "browser.*", "--select", "proxy.*")
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-2000:]
    assert "healthy (9 checks)" in out, out[-3000:]  # none skipped, blocked or not offered
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
