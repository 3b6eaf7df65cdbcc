"""The HTML report of a real fault run, opened in Chromium with the network cut off.

The run is the CLI against the bundled reference server with two faults (a buffered stream, no
history) in glass-box mode, so the buffered stream is drawn over the model stub's schedule.
The page must list the failing checks, filter and search them, draw the buffered stream as
one step against the stub's staircase, send no request and log no console error. A screenshot
is kept (``artifacts/test-html-report/``, or ``$CHATKIT_TEST_ARTIFACTS``) to look at.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from browser_support import needs_chromium

ROOT = Path(__file__).resolve().parent.parent
CANARY = "sekrit-api-key-8c1f"  # sent as X-Api-Key on every request: a secret of the run
FAILING = {"sse.unbuffered", "sse.no-content-length", "history.recall"}
MAX_BYTES = 5 * 1024 * 1024

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("CHATKIT_TEST_ARTIFACTS", ROOT / "artifacts")) / "test-html-report"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def fault_report() -> Path:
    out = artifacts_dir() / "fault-run.html"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "harness.cli", "run", "--plain", "--model-stub"]
    cmd += ["--fault", "buffered-stream", "--fault", "no-history"]
    cmd += ["--select", "sse.*", "--select", "history.*", "--select", "auth.alg-none"]
    cmd += ["-H", f"X-Api-Key: {CANARY}", "--html", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert out.is_file(), proc.stdout[-3000:]
    return out


def test_fault_report_is_small_and_holds_no_token(fault_report: Path) -> None:
    html = fault_report.read_text(encoding="utf-8")
    assert fault_report.stat().st_size < MAX_BYTES
    assert CANARY not in html
    # Every token of the run (the test users' and the forged alg=none ones) is a JWT.
    assert not re.search(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", html)
    assert not re.search(r"(?i)bearer\s+(?!\*\*\*|<)[A-Za-z0-9._~+/=-]{8,}", html)


async def _inspect(report: Path, shot: Path) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from harness.browser.launch import launch_chromium

    url = report.resolve().as_uri()
    requests: list[str] = []
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await context.route(
                re.compile(r"^(?!file:).*"),  # anything but the file itself: blocked
                lambda route: route.abort("blockedbyclient"),
            )
            page = await context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on(
                "console",
                lambda m: (
                    problems.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            await page.goto(url)
            out: dict[str, Any] = {}
            out["failing"] = await page.eval_on_selector_all(
                'details.check[data-group="fail"]', "els => els.map(e => e.id)"
            )
            card = page.locator('[id="check-sse.unbuffered"]')
            chart = card.locator("svg.pygal-chart").first
            out["chart_visible"] = await chart.is_visible()
            out["chart_box"] = await chart.bounding_box()
            out["event_x"] = await chart.locator(".serie-0 circle.dot").evaluate_all(
                "els => els.map(e => e.getBoundingClientRect().x)"
            )
            out["sent_x"] = await chart.locator(".serie-1 circle.dot").evaluate_all(
                "els => els.map(e => e.getBoundingClientRect().x)"
            )
            await page.screenshot(path=str(shot), full_page=False)
            await card.screenshot(path=str(shot.with_name("buffered-stream-card.png")))

            async def visible(group: str) -> list[bool]:
                cards = page.locator(f'details.check[data-group="{group}"]')
                return [await cards.nth(i).is_visible() for i in range(await cards.count())]

            out["pass_before"] = await visible("pass")
            await page.click('button.filter[data-group="pass"]')
            out["pass_hidden"] = await visible("pass")
            out["fail_while_pass_hidden"] = await visible("fail")
            await page.click('button.filter[data-group="fail"]')
            out["fail_hidden"] = await visible("fail")
            out["shown_text"] = await page.text_content("#shown")
            await page.click('button.filter[data-group="fail"]')
            await page.click('button.filter[data-group="pass"]')
            await page.fill("#search", "recall")
            out["after_search"] = await page.eval_on_selector_all(
                "details.check", "els => els.filter(e => !e.hidden).map(e => e.id)"
            )
            await page.fill("#search", "")
            await page.click('a[href="#streams"]')
            out["streams_drawn"] = await page.locator("#streams svg.pygal-chart").count()
        finally:
            await browser.close()
    out["requests"] = requests
    out["problems"] = problems
    out["url"] = url
    return out


def test_fault_report_in_chromium_offline(fault_report: Path) -> None:
    shot = artifacts_dir() / "fault-run.png"
    got = asyncio.run(_inspect(fault_report, shot))
    assert shot.is_file() and shot.stat().st_size > 10_000

    # The failing checks are listed (and open), failures first.
    assert {i.removeprefix("check-") for i in got["failing"]} == FAILING

    # The buffered stream is drawn: every event arrived at one moment (one vertical step),
    # while the model stub's sends spread across the plot (a staircase).
    assert got["chart_visible"] and got["chart_box"]["width"] > 400
    events, sent = got["event_x"], got["sent_x"]
    assert len(events) > 10 and len(sent) > 10
    width = got["chart_box"]["width"]
    assert max(events) - min(events) < 0.03 * width
    assert max(sent) - min(sent) > 0.4 * width

    # The filters work: pass cards hide and come back; fail cards hide on their own button.
    assert got["pass_before"] and all(got["pass_before"])
    assert got["pass_hidden"] and not any(got["pass_hidden"])
    assert all(got["fail_while_pass_hidden"])
    assert not any(got["fail_hidden"])
    assert re.match(r"\d+ of \d+ checks shown", got["shown_text"] or "")
    assert got["after_search"] == ["check-history.recall"]
    assert got["streams_drawn"] >= 3

    # Nothing left the page, and nothing complained (a CSP violation logs an error too).
    assert got["requests"] == [got["url"]], got["requests"]
    assert got["problems"] == [], got["problems"]


def test_probe_table_of_the_fault_run(fault_report: Path) -> None:
    html = fault_report.read_text(encoding="utf-8")
    body = html.split('id="check-auth.alg-none"', 1)[1].split('<details class="check', 1)[0]
    assert "Probes sent" in body
    assert "&#34;alg&#34;: &#34;none&#34;" in body or '"alg": "none"' in body
    assert re.search(r"<td>401</td><td>no[ <]", body), body[:3000]
