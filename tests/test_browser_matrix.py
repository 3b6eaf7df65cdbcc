"""The browser matrix: each broken fixture page fails exactly its checks; each correct page
(the plain one, its twins shaped like real sites, the React page and the Next.js app) passes.

Every run is the real thing: a Chromium, the stand-in element served in place of the CDN
script, the bundled reference server behind a CORS front, and the harness's own checks run
in a fresh pytest process as a user would run them (harness/testing/browser_matrix.py holds
the cases). The React page and the Next.js app are installed from npm and built on first use,
then cached under .cache/.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser_builds import have_npm, nextjs_app, react_site, start_nextjs
from browser_support import needs_chromium

from harness.browser.fixture_server import FixtureStack
from harness.testing.browser_matrix import (
    ALL_CHECKS,
    BROWSER_CHECKS,
    CASES,
    NO_ELEMENT_HINT,
    NOT_CHAT_PAGES,
    PAGES,
    PROXY_CHECKS,
    Case,
    Results,
    broken,
    mismatches,
    run_case,
    run_checks,
    stacks,
    summary,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

needs_npm = pytest.mark.skipif(not have_npm(), reason="npm is needed to build the fixture")
BY_NAME = {c.name: c for c in CASES}
KEEP_ARTIFACTS = {"no-auth-header", "floating-button-not-opened", "login-hook"}


@pytest.fixture(scope="module")
def fixture_stacks() -> Iterator[dict[str, FixtureStack]]:
    with stacks() as running:
        yield running


@pytest.fixture(scope="module")
def stack(fixture_stacks: dict[str, FixtureStack]) -> FixtureStack:
    return fixture_stacks["token"]


@pytest.fixture(scope="module")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-artifacts")


@pytest.fixture(scope="module")
def results(
    fixture_stacks: dict[str, FixtureStack],
    artifacts_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Results]:
    """Every case run once, two harness runs at a time (each is mostly waiting)."""
    workdir = tmp_path_factory.mktemp("browser-cases")

    def run(case: Case) -> Results:
        keep = artifacts_dir / case.name if case.name in KEEP_ARTIFACTS else None
        return run_case(case, fixture_stacks[case.backend], workdir, artifacts=keep)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([c.name for c in CASES], pool.map(run, CASES), strict=True))


def test_every_page_is_in_the_matrix() -> None:
    pages = {p.name for p in PAGES.glob("*.html")} - NOT_CHAT_PAGES
    assert pages == {c.page for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_gives_its_verdicts(results: dict[str, Results], case: Case) -> None:
    got = results[case.name]
    assert not mismatches(case, got), summary(got)
    assert not any(r["outcome"] == "error" for r in got.values()), summary(got)


def test_script_failure_names_the_url(results: dict[str, Results]) -> None:
    message = results["wrong-cdn-url"]["browser.script-loads"]["message"]
    assert "cdn.openai.com/chatkit/v1/chatkit.min.js" in message
    message = results["csp-blocks-cdn"]["browser.script-loads"]["message"]
    assert "Content-Security-Policy" in message


def test_unopened_chat_is_blocked_with_the_hint_and_a_screenshot(
    results: dict[str, Results], artifacts_dir: Path
) -> None:
    got = results["floating-button-not-opened"]
    for cid in ALL_CHECKS:
        if cid == "browser.script-loads":
            continue
        assert got[cid]["blocked_by"] == "browser.page", summary(got)
        assert NO_ELEMENT_HINT in got[cid]["message"], got[cid]["message"]
    shot = artifacts_dir / "floating-button-not-opened" / "checks" / "browser.upgrade-before-use"
    assert (shot / "screenshot.png").is_file()


def test_opened_chat_runs_every_check(results: dict[str, Results]) -> None:
    got = results["floating-button"]
    assert all(got[c]["outcome"] == "pass" for c in BROWSER_CHECKS), summary(got)
    assert not any(r["outcome"].startswith("skip") for r in got.values()), summary(got)


def test_metadata_on_create_only_fails_on_the_follow_up_turn(results: dict[str, Results]) -> None:
    message = results["floating-button-create-only"]["browser.fetch-metadata"]["message"]
    assert message.startswith("threads.add_user_message lacks metadata"), message


def test_backend_that_needs_nothing_is_never_an_auth_failure(results: dict[str, Results]) -> None:
    got = results["dev-proxy"]
    assert got["browser.fetch-auth"]["outcome"] == "not-offered", summary(got)
    assert "without any credentials" in got["browser.fetch-auth"]["message"]
    # The anonymous dev proxy is streamed through without any session option.
    assert got["proxy.sse-pass-through"]["outcome"] == "pass", summary(got)


def test_failure_keeps_trace_screenshot_and_har_without_secrets(
    results: dict[str, Results], stack: FixtureStack, artifacts_dir: Path
) -> None:
    assert results["no-auth-header"]["browser.fetch-auth"]["outcome"] == "fail"
    root = artifacts_dir / "no-auth-header"
    folder = root / "checks" / "browser.fetch-auth"
    names = {p.name for p in folder.iterdir()}
    assert {"trace.zip", "screenshot.png", "page.har"} <= names, names
    # The page fetched the token from /session: no saved file may hold it.
    for path in root.rglob("*"):
        if path.is_file():
            assert stack.token.encode() not in path.read_bytes(), path
    with zipfile.ZipFile(folder / "trace.zip") as z:
        for name in z.namelist():
            assert stack.token.encode() not in z.read(name), name
    # Passing checks keep no browser files.
    assert not (root / "checks" / "browser.fetch-metadata" / "trace.zip").exists()


def test_login_hook_password_and_token_stay_out_of_the_artifacts(
    results: dict[str, Results], stack: FixtureStack, artifacts_dir: Path
) -> None:
    assert results["login-hook"]["browser.fetch-auth"]["outcome"] == "pass"
    for path in (artifacts_dir / "login-hook").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert stack.password.encode() not in data, path
            assert stack.token.encode() not in data, path


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


@needs_npm
def test_react_page_passes_every_browser_check() -> None:
    with FixtureStack({"/react/": react_site()}) as react:
        got = run_checks(react.harness_options("react/"))
    assert all(got[c]["outcome"] == "pass" for c in BROWSER_CHECKS), summary(got)
    assert all(got[c]["outcome"] == "not-offered" for c in PROXY_CHECKS), summary(got)


@needs_npm
def test_nextjs_app_passes_every_check(stack: FixtureStack, nextjs: str) -> None:
    got = run_checks(nextjs_options(stack, nextjs))
    assert all(r["outcome"] == "pass" for r in got.values()), summary(got)


@needs_npm
def test_nextjs_buffering_proxy_fails_exactly_its_checks(stack: FixtureStack, nextjs: str) -> None:
    got = run_checks(nextjs_options(stack, nextjs + "buffered"))
    assert broken(got) == {"proxy.sse-pass-through", "browser.stream-renders"}, summary(got)


@needs_npm
def test_nextjs_token_in_storage_fails_the_cookie_check(stack: FixtureStack, nextjs: str) -> None:
    got = run_checks(nextjs_options(stack, nextjs + "token-in-storage"))
    assert broken(got) == {"proxy.httponly-cookie"}, summary(got)
    assert "localStorage" in got["proxy.httponly-cookie"]["actual"]


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
