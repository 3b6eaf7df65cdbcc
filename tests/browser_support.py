"""Running the harness's browser checks against the fixture pages, for the browser tests."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.browser.launch import system_chromium
from harness.runner import pytest_args

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "fixtures" / "pages"
BROWSER_CHECKS = (
    "browser.script-loads",
    "browser.upgrade-before-use",
    "browser.fetch-auth",
    "browser.fetch-metadata",
    "browser.page-context-accurate",
    "browser.stream-renders",
    "browser.logged-out",
)
PROXY_CHECKS = ("proxy.httponly-cookie", "proxy.sse-pass-through")


def have_chromium() -> bool:
    try:
        if system_chromium():
            return True
    except Exception:
        return False
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            return Path(pw.chromium.executable_path).is_file()
    except Exception:
        return False


needs_chromium = pytest.mark.skipif(
    not have_chromium(), reason="no Chromium (apt-get install chromium, or playwright install)"
)


def run_checks(
    options: dict[str, str], *, artifacts: Path | None = None, timeout: float = 240
) -> dict[str, dict[str, Any]]:
    """Run the browser and proxy checks in a fresh process; their results by check id."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        selection = pytest_args({"timeout": "15", **options}, select=["browser.*", "proxy.*"])
        args = [*selection, "--chatkit-json", str(out)]
        if artifacts is not None:
            args += ["--chatkit-artifacts", str(artifacts)]
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        if not out.is_file():
            raise AssertionError(
                f"no results (exit {proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
            )
        data = json.loads(out.read_text(encoding="utf-8"))
    results = {r["id"]: r for r in data["checks"]}
    assert set(results) == set(BROWSER_CHECKS + PROXY_CHECKS), sorted(results)
    return results


def broken(results: dict[str, dict[str, Any]]) -> set[str]:
    return {cid for cid, r in results.items() if r["outcome"] in ("fail", "warn", "error")}


def summary(results: dict[str, dict[str, Any]]) -> str:
    return "\n".join(
        f"{cid}: {r['outcome']} {r.get('message', '')[:200]}" for cid, r in sorted(results.items())
    )
