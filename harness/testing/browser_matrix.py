"""The browser matrix: each fixture page, with the options a user would give, and its verdicts.

``tests/test_browser_matrix.py`` runs every case once and asserts its verdicts;
``benchmarks/browser_stability.py`` runs the whole table again and again and counts the runs
whose verdicts are all identical. A case is one harness run, as a user would start it, in a
fresh process: a Chromium, the stand-in element in place of the CDN script, the bundled
reference server behind the fixture site.

Two backends: ``token`` trusts the test issuer's tokens (the pages' sessions hold one), and
``open`` needs no credentials at all and forgets history (``no-auth``, ``no-history``), so a
page without any login works and its two replies share most of their words.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.browser.fixture_server import SESSION_COOKIE, FixtureStack
from harness.runner import pytest_args

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "fixtures" / "pages"
LOGIN_HOOK = PAGES / "login_hook.py"
NOT_CHAT_PAGES = frozenset({"login.html"})  # pages of the site that embed no chat
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
ALL_CHECKS = BROWSER_CHECKS + PROXY_CHECKS
BACKENDS: dict[str, tuple[str, ...]] = {
    "token": (),
    "open": ("--fault", "no-auth", "--fault", "no-history"),
}
NO_ELEMENT_HINT = "if it opens on a click, pass --frontend-open SELECTOR"
DIRECT = {c: "not-offered" for c in PROXY_CHECKS}  # a page that talks to the backend itself


@dataclass(frozen=True)
class Case:
    """One harness run: ``page`` with ``session`` and ``options``, against ``backend``.

    ``session`` is how the page gets the test user's session: ``cookie`` (--frontend-cookie),
    ``local-storage`` (the ID token in localStorage), ``storage-state`` (a Playwright storage
    state file holding the cookie), ``login`` (the login hook signs in through /login.html) or
    ``none``. ``broken`` are the checks that must fail (or warn), nothing else; ``outcomes``
    pins other verdicts (blocked, not-offered). ``routed``: the page talks to a route of its
    own, so the harness is given the backend behind it (as a user of such a site would).
    """

    name: str
    page: str
    broken: frozenset[str] = frozenset()
    session: str = "cookie"
    backend: str = "token"
    options: Mapping[str, Any] = field(default_factory=dict)
    outcomes: Mapping[str, str] = field(default_factory=dict)
    routed: bool = False


OPEN = {"frontend-open": ["#chat-launcher"]}
CASES: tuple[Case, ...] = (
    Case("correct", "correct.html", outcomes=DIRECT),
    Case("no-script", "no-script.html", frozenset({"browser.script-loads"})),
    Case("wrong-cdn-url", "wrong-cdn-url.html", frozenset({"browser.script-loads"})),
    Case("csp-blocks-cdn", "csp-blocks-cdn.html", frozenset({"browser.script-loads"})),
    Case(
        "render-before-defined",
        "render-before-defined.html",
        frozenset({"browser.upgrade-before-use"}),
    ),
    Case("no-auth-header", "no-auth-header.html", frozenset({"browser.fetch-auth"})),
    Case("no-metadata", "no-metadata.html", frozenset({"browser.fetch-metadata"})),
    Case(
        "wrong-page-context",
        "wrong-page-context.html",
        frozenset({"browser.page-context-accurate"}),
    ),
    Case("no-login-guard", "no-login-guard.html", frozenset({"browser.logged-out"})),
    Case("buffering-fetch", "buffering-fetch.html", frozenset({"browser.stream-renders"})),
    # The chat opens from a floating button; the session is an ID token in localStorage.
    Case(
        "floating-button",
        "floating-button.html",
        session="local-storage",
        options=OPEN,
        outcomes=DIRECT,
    ),
    Case(
        "floating-button-not-opened",
        "floating-button.html",
        session="local-storage",
        outcomes={
            "browser.script-loads": "pass",
            **{c: "blocked" for c in ALL_CHECKS if c != "browser.script-loads"},
        },
    ),
    Case(
        "floating-button-create-only",
        "floating-button-create-only.html",
        frozenset({"browser.fetch-metadata"}),
        session="local-storage",
        options=OPEN,
        outcomes={"browser.page-context-accurate": "pass", **DIRECT},
    ),
    Case(
        "floating-button-early",
        "floating-button-early.html",
        frozenset({"browser.upgrade-before-use"}),
        session="local-storage",
        options=OPEN,
    ),
    # No login, a dev-server proxy, a backend that needs nothing, replies alike.
    Case(
        "dev-proxy",
        "dev-proxy.html",
        session="none",
        backend="open",
        options={"user-headers-a": "X-User-ID: alice"},
        outcomes={
            "browser.fetch-auth": "not-offered",
            "browser.logged-out": "not-offered",
            "browser.stream-renders": "pass",
            "proxy.httponly-cookie": "not-offered",
            "proxy.sse-pass-through": "pass",
        },
    ),
    # The same correct page, logged in from a storage-state file and through its sign-in form.
    Case("storage-state", "correct.html", session="storage-state", outcomes=DIRECT),
    Case("login-hook", "correct.html", session="login", outcomes=DIRECT),
    # The guide's httpOnly cookie proxy on a static site: every check applies and passes (the
    # page scripts/verify.py serves when no URL is given).
    Case("cookie-proxy", "cookie-proxy.html", routed=True),
)
Results = dict[str, dict[str, Any]]  # check id -> JSON result


@contextmanager
def stacks(backends: set[str] | None = None) -> Iterator[dict[str, FixtureStack]]:
    """The fixture stacks the cases need, by backend name, started once."""
    names = backends or {c.backend for c in CASES}
    with ExitStack() as stack:
        yield {n: stack.enter_context(FixtureStack({"/": PAGES}, args=BACKENDS[n])) for n in names}


def case_options(
    case: Case, stack: FixtureStack, workdir: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """The harness options of ``case`` and the environment its run needs."""
    assert stack.site is not None
    opts: dict[str, Any] = {
        "url": stack.site.api_url,
        "token": stack.token,
        "frontend-url": stack.site.url + case.page,
        "script": "standin",  # never --script auto here: that would ask OpenAI's CDN
    }
    env: dict[str, str] = {}
    if case.backend == "open" or case.routed:
        # The page goes through a route of its own; the harness talks to the backend directly.
        opts["url"] = stack.backend_url
    if case.backend == "open":
        del opts["token"]
    if case.session == "cookie":
        opts["frontend-cookie"] = stack.cookie
    elif case.session == "local-storage":
        opts["frontend-local-storage"] = ["id_token={token}"]
    elif case.session == "storage-state":
        state = workdir / f"{case.name}-state.json"
        cookie: dict[str, Any] = {
            "name": SESSION_COOKIE,
            "value": stack.token,
            "domain": "127.0.0.1",
            "path": "/",
            "expires": -1,
            "httpOnly": True,
            "secure": False,
            "sameSite": "Lax",
        }
        state.write_text(json.dumps({"cookies": [cookie], "origins": []}), encoding="utf-8")
        opts["frontend-storage-state"] = str(state)
    elif case.session == "login":
        opts["frontend-login"] = str(LOGIN_HOOK)
        env = {"APP_TEST_EMAIL": stack.email, "APP_TEST_PASSWORD": stack.password}
    opts.update(case.options)
    return opts, env


def run_checks(
    options: Mapping[str, Any],
    *,
    artifacts: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 240,
) -> Results:
    """Run the browser and proxy checks in a fresh process; their results by check id."""
    if options.get("script", "auto") == "auto":
        raise ValueError("the browser matrix never runs --script auto (it contacts OpenAI's CDN)")
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
            env={**os.environ, **(env or {})},
        )
        if not out.is_file():
            raise AssertionError(
                f"no results (exit {proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
            )
        data = json.loads(out.read_text(encoding="utf-8"))
    results = {r["id"]: r for r in data["checks"]}
    assert set(results) == set(ALL_CHECKS), sorted(results)
    return results


def run_case(
    case: Case, stack: FixtureStack, workdir: Path, *, artifacts: Path | None = None
) -> Results:
    opts, env = case_options(case, stack, workdir)
    return run_checks(opts, artifacts=artifacts, env=env)


def broken(results: Results) -> set[str]:
    return {cid for cid, r in results.items() if r["outcome"] in ("fail", "warn", "error")}


def mismatches(case: Case, results: Results) -> list[str]:
    """How ``results`` differ from what ``case`` expects (empty: as expected)."""
    out = []
    got = broken(results)
    if got != case.broken:
        out.append(f"broken {sorted(got)}, expected {sorted(case.broken)}")
    for cid in ALL_CHECKS:
        # A page that breaks nothing must pass every check whose verdict is not pinned.
        want = case.outcomes.get(cid, None if case.broken else "pass")
        if want is not None and results[cid]["outcome"] != want:
            out.append(f"{cid}: {results[cid]['outcome']}, expected {want}")
    return out


def verdicts(results: Results) -> dict[str, str]:
    """Outcome and blocking root of every check: what must not change from run to run."""
    return {
        cid: r["outcome"] + (f" by {r['blocked_by']}" if r.get("blocked_by") else "")
        for cid, r in sorted(results.items())
    }


def summary(results: Results) -> str:
    return "\n".join(
        f"{cid}: {r['outcome']} {r.get('message', '')[:200]}" for cid, r in sorted(results.items())
    )
