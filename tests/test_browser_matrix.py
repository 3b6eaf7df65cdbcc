"""The browser matrix: each broken fixture page fails exactly its checks; the correct page,
the React page and the Next.js app pass them all.

Every run is the real thing: a Chromium, the stand-in element served in place of the CDN
script, the bundled reference server behind a CORS front, and the harness's own checks run
in a fresh pytest process as a user would run them. The React page and the Next.js app are
installed from npm and built on first use, then cached under .cache/.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from browser_builds import have_npm, nextjs_app, react_site, start_nextjs
from browser_support import (
    BROWSER_CHECKS,
    PAGES,
    PROXY_CHECKS,
    broken,
    needs_chromium,
    run_checks,
    summary,
)

from harness.browser.fixture_server import FixtureStack

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

# page -> the checks it must break (fail, or warn for a SHOULD check), and nothing else.
MATRIX = {
    "no-script.html": {"browser.script-loads"},
    "wrong-cdn-url.html": {"browser.script-loads"},
    "csp-blocks-cdn.html": {"browser.script-loads"},
    "render-before-defined.html": {"browser.upgrade-before-use"},
    "no-auth-header.html": {"browser.fetch-auth"},
    "no-metadata.html": {"browser.fetch-metadata"},
    "wrong-page-context.html": {"browser.page-context-accurate"},
    "no-login-guard.html": {"browser.logged-out"},
}


Results = dict[str, dict[str, dict[str, Any]]]  # page -> check id -> JSON result
needs_npm = pytest.mark.skipif(not have_npm(), reason="npm is needed to build the fixture")


@pytest.fixture(scope="module")
def stack() -> Iterator[FixtureStack]:
    with FixtureStack({"/": PAGES}) as s:
        yield s


@pytest.fixture(scope="module")
def nextjs(stack: FixtureStack) -> Iterator[str]:
    """The Next.js app's URL: built once (cached), its proxy routes aimed at the backend."""
    app = nextjs_app()
    launched = start_nextjs(app, stack.backend_url)
    try:
        yield launched.url
    finally:
        launched.stop()


def nextjs_options(stack: FixtureStack, url: str) -> dict[str, str]:
    # The browser talks to the app's own /api/chatkit; the harness knows the backend behind it.
    return {
        "url": stack.backend_url,
        "token": stack.token,
        "frontend-url": url,
        "frontend-cookie": stack.cookie,
        "script": "standin",
    }


def test_every_page_is_in_the_matrix() -> None:
    pages = {p.name for p in PAGES.glob("*.html")}
    assert pages == set(MATRIX) | {"correct.html"}


@pytest.fixture(scope="module")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-artifacts")


@pytest.fixture(scope="module")
def static_results(stack: FixtureStack, artifacts_dir: Path) -> Results:
    """Every static page checked once, two harness runs at a time (each is mostly waiting)."""
    pages = ["correct.html", *sorted(MATRIX)]

    def run(page: str) -> dict[str, dict[str, Any]]:
        # One run keeps artifacts: the failure-artifact test below reads them.
        keep = artifacts_dir if page == "no-auth-header.html" else None
        return run_checks(stack.harness_options(page), artifacts=keep)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(pages, pool.map(run, pages), strict=True))


def test_correct_page_passes_every_browser_check(static_results: Results) -> None:
    results = static_results["correct.html"]
    assert all(results[c]["outcome"] == "pass" for c in BROWSER_CHECKS), summary(results)
    # It talks to the backend directly: there is no proxy route to judge.
    for cid in PROXY_CHECKS:
        assert results[cid]["outcome"] == "skip-untestable", summary(results)
        assert "no proxy route" in results[cid]["message"]


@pytest.mark.parametrize("page", sorted(MATRIX))
def test_broken_page_fails_exactly_its_checks(static_results: Results, page: str) -> None:
    results = static_results[page]
    assert broken(results) == MATRIX[page], summary(results)


def test_script_failure_names_the_url(static_results: Results) -> None:
    message = static_results["wrong-cdn-url.html"]["browser.script-loads"]["message"]
    assert "cdn.openai.com/chatkit/v1/chatkit.min.js" in message
    message = static_results["csp-blocks-cdn.html"]["browser.script-loads"]["message"]
    assert "Content-Security-Policy" in message


def test_failure_keeps_trace_screenshot_and_har_without_secrets(
    static_results: Results, stack: FixtureStack, artifacts_dir: Path
) -> None:
    assert static_results["no-auth-header.html"]["browser.fetch-auth"]["outcome"] == "fail"
    folder = artifacts_dir / "checks" / "browser.fetch-auth"
    names = {p.name for p in folder.iterdir()}
    assert {"trace.zip", "screenshot.png", "page.har"} <= names, names
    # The page fetched the token from /session: no saved file may hold it.
    for path in artifacts_dir.rglob("*"):
        if path.is_file():
            assert stack.token.encode() not in path.read_bytes(), path
    with zipfile.ZipFile(folder / "trace.zip") as z:
        for name in z.namelist():
            assert stack.token.encode() not in z.read(name), name
    # Passing checks keep no browser files.
    assert not (artifacts_dir / "checks" / "browser.fetch-metadata" / "trace.zip").exists()


@needs_npm
def test_react_page_passes_every_browser_check() -> None:
    with FixtureStack({"/react/": react_site()}) as stack:
        results = run_checks(stack.harness_options("react/"))
    assert all(results[c]["outcome"] == "pass" for c in BROWSER_CHECKS), summary(results)
    assert all(results[c]["outcome"] == "skip-untestable" for c in PROXY_CHECKS), summary(results)


@needs_npm
def test_nextjs_app_passes_every_check(stack: FixtureStack, nextjs: str) -> None:
    results = run_checks(nextjs_options(stack, nextjs))
    assert all(r["outcome"] == "pass" for r in results.values()), summary(results)


@needs_npm
def test_nextjs_buffering_proxy_fails_exactly_its_checks(stack: FixtureStack, nextjs: str) -> None:
    results = run_checks(nextjs_options(stack, nextjs + "buffered"))
    assert broken(results) == {"proxy.sse-pass-through", "browser.stream-renders"}, summary(results)


@needs_npm
def test_nextjs_token_in_storage_fails_the_cookie_check(stack: FixtureStack, nextjs: str) -> None:
    results = run_checks(nextjs_options(stack, nextjs + "token-in-storage"))
    assert broken(results) == {"proxy.httponly-cookie"}, summary(results)
    assert "localStorage" in results["proxy.httponly-cookie"]["actual"]


@needs_npm
def test_nextjs_late_script_without_guard_fails_upgrade_before_use(
    stack: FixtureStack, nextjs: str
) -> None:
    """strategy="lazyOnload" and <ChatKit> at once: the page calls the element too early."""
    results = run_checks(nextjs_options(stack, nextjs + "late-script"))
    assert "browser.upgrade-before-use" in broken(results), summary(results)
    assert "is not a function" in results["browser.upgrade-before-use"]["actual"]


@needs_npm
def test_nextjs_late_script_with_the_seed_guard_passes(stack: FixtureStack, nextjs: str) -> None:
    """The same late script behind customElements.whenDefined: nothing breaks."""
    results = run_checks(nextjs_options(stack, nextjs + "late-script-guarded"))
    assert all(r["outcome"] == "pass" for r in results.values()), summary(results)
