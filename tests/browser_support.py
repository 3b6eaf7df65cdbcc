"""Running the harness's browser checks against the fixture pages, for the browser tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.browser.launch import system_chromium
from harness.testing.browser_matrix import (
    BROWSER_CHECKS,
    PAGES,
    PROXY_CHECKS,
    broken,
    run_checks,
    summary,
)

__all__ = [
    "BROWSER_CHECKS",
    "PAGES",
    "PROXY_CHECKS",
    "broken",
    "needs_chromium",
    "run_checks",
    "summary",
]


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
