"""The browser matrix: each broken fixture page fails exactly its checks; the correct page,
the React page and the Next.js app pass them all.

Every run is the real thing: a Chromium, the stand-in element served in place of the CDN
script, the bundled reference server behind a CORS front, and the harness's own checks run
in a fresh pytest process as a user would run them. The React page and the Next.js app are
installed from npm and built on first use, then cached under .cache/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


def test_correct_page_passes_every_browser_check(stack: FixtureStack) -> None:
    results = run_checks(stack.harness_options("correct.html"))
    assert all(results[c]["outcome"] == "pass" for c in BROWSER_CHECKS), summary(results)
    # It talks to the backend directly: there is no proxy route to judge.
    for cid in PROXY_CHECKS:
        assert results[cid]["outcome"] == "skip-untestable", summary(results)
        assert "no proxy route" in results[cid]["message"]


@pytest.mark.parametrize("page", sorted(MATRIX))
def test_broken_page_fails_exactly_its_checks(stack: FixtureStack, page: str) -> None:
    results = run_checks(stack.harness_options(page))
    assert broken(results) == MATRIX[page], summary(results)


def test_script_failure_names_the_url(stack: FixtureStack) -> None:
    results = run_checks(stack.harness_options("wrong-cdn-url.html"))
    assert "cdn.openai.com/chatkit/v1/chatkit.min.js" in results["browser.script-loads"]["message"]
    results = run_checks(stack.harness_options("csp-blocks-cdn.html"))
    assert "Content-Security-Policy" in results["browser.script-loads"]["message"]


def test_failure_keeps_trace_screenshot_and_har_without_secrets(
    stack: FixtureStack, tmp_path: Path
) -> None:
    results = run_checks(stack.harness_options("no-auth-header.html"), artifacts=tmp_path)
    assert results["browser.fetch-auth"]["outcome"] == "fail"
    folder = tmp_path / "checks" / "browser.fetch-auth"
    names = {p.name for p in folder.iterdir()}
    assert {"trace.zip", "screenshot.png", "page.har"} <= names, names
    # The page fetched the token from /session: the saved files must not hold it.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert stack.token.encode() not in path.read_bytes(), path
    import zipfile

    with zipfile.ZipFile(folder / "trace.zip") as z:
        for name in z.namelist():
            assert stack.token.encode() not in z.read(name), name


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
