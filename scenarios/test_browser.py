"""The page side of an integration, checked in a real Chromium: script loading, the custom
fetch (auth and metadata), page context, streaming render, logged-out behaviour, and the
Next.js httpOnly-cookie proxy.

Source: building-chat-interfaces.txt, "Frontend Patterns" (custom fetch interceptor, page
context extraction, script loading detection) and "Next.js Integration" (httpOnly cookie proxy,
script loading strategy); the element contract in @openai/chatkit 1.9.0 types/index.d.ts.

Record, then judge: the page is loaded once with the test user's session (two messages sent
through the element's own ``sendUserMessage``) and once without one; what the endpoints the
page talks to need, and one reply through its proxy route, are probed once
(harness/browser/probes.py). Every check is a judgment over those recordings.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from harness.browser.probes import AuthProbe, accepted, endpoint_of
from harness.browser.recorder import NetRequest, PageRecord, empty_bearer
from harness.browser.session import SESSION_KEY, BrowserSession, save_artifacts
from harness.browser.standin import CDN_URL
from harness.engine.expect import evidence_of
from harness.engine.plan import Engine
from harness.plugin import target_flags
from harness.protocol.client import RecordedStream
from harness.registry import MUST, SHOULD, check, spec_of
from harness.report.redact import redact_header, redact_text
from harness.report.results import CheckFailure, blocked, fail, not_offered, untestable
from harness.target.config import Target, load_target

SEED = "building-chat-interfaces.txt"
NEED_FRONTEND = "pass --frontend-url URL of a page that embeds ChatKit"
SESSION_OPTIONS = (
    "--frontend-cookie, --frontend-local-storage, --frontend-storage-state or --frontend-login"
)
# The root of checks that found no chat to judge: the page recording itself.
PAGE = "browser.page"
NO_ELEMENT = (
    "the page rendered no <openai-chatkit>; if it opens on a click, pass --frontend-open SELECTOR"
)
CONTEXT_FIELDS = ("url", "title", "path", "description", "headings")
# Every check judges the recordings of one probe, so they are taken in the record phase.
BROWSER_PROBES = ("browser-recordings",)


# -- shared recordings -------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser_session(
    request: pytest.FixtureRequest, chatkit_engine: Engine
) -> AsyncIterator[BrowserSession | None]:
    """The run's browser recordings (a probe of the record phase), or None when no frontend
    URL was given (checks skip)."""
    if not load_target(target_flags(request.config)).frontend_url:
        yield None
        return
    engine = chatkit_engine
    try:
        session: BrowserSession = await engine.get("browser-recordings")
    except BaseException:
        shared = engine.ctx.extras.get(SESSION_KEY)
        if isinstance(shared, BrowserSession):
            await shared.close()
        raise
    try:
        yield session
    finally:
        await session.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def page_run(browser_session: BrowserSession | None) -> PageRecord:
    if browser_session is None:
        untestable(NEED_FRONTEND)
    return await browser_session.record(logged_in=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def auth_needs(browser_session: BrowserSession | None) -> dict[str, AuthProbe]:
    """What each endpoint the page talks to (and the backend) needs, probed once."""
    if browser_session is None:
        untestable(NEED_FRONTEND)
    return await browser_session.auth_needs()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def logged_out_run(
    request: pytest.FixtureRequest,
    browser_session: BrowserSession | None,
    page_run: PageRecord,
    chatkit_target: Target,
) -> PageRecord:
    """The page without a session; only worth loading when the logged-in page worked."""
    if browser_session is None:
        untestable(NEED_FRONTEND)
    require_chat(request, page_run, chatkit_target)
    if not chatkit_target.frontend_session:
        if any(accepted_request(r) for r in page_run.chatkit_requests):
            not_offered(
                "the page chats without any session given: it has no logged-out state to check"
            )
        untestable(f"pass the page's session ({SESSION_OPTIONS}): the check compares with none")
    return await browser_session.record(logged_in=False)


def accepted_request(req: NetRequest) -> bool:
    return req.status is not None and 200 <= req.status < 300


@contextlib.contextmanager
def artifacts_on_failure(
    request: pytest.FixtureRequest, target: Target, *records: PageRecord
) -> Iterator[None]:
    """On a failure, keep the trace, HAR and screenshot of the recordings in the check's folder."""
    try:
        yield
    except CheckFailure:
        folder = _artifact_dir(request)
        if folder is not None:
            for rec in records:
                save_artifacts(rec, folder, _secrets(request, target))
        raise


def _secrets(request: pytest.FixtureRequest, target: Target) -> list[str]:
    """The target's secrets, the session options' and whatever a login hook masked."""
    session = request.getfixturevalue("browser_session")
    if isinstance(session, BrowserSession):
        return session.secrets
    from harness.browser.session import secrets_of

    return secrets_of(target)


def _artifact_dir(request: pytest.FixtureRequest) -> Any:
    try:
        from harness.report.artifacts import check_dir
    except ImportError:  # artifacts not available in this build: the failure still reports
        return None
    spec = spec_of(request.node)
    return check_dir(request, spec.id if spec else request.node.name)


def _keep_screenshot(request: pytest.FixtureRequest, rec: PageRecord) -> None:
    """A blocked check keeps the screenshot of what the page showed instead of a chat."""
    folder = _artifact_dir(request)
    shot = next((p for p in rec.artifacts if p.suffix == ".png" and p.is_file()), None)
    if folder is not None and shot is not None:
        prefix = "" if rec.logged_in else "logged-out-"
        shutil.copyfile(shot, folder / f"{prefix}screenshot.png")


def require_chat(request: pytest.FixtureRequest, rec: PageRecord, target: Target) -> None:
    """Checks that need the element to have talked to the backend are blocked when it never did."""
    if not rec.defined:
        blocked("browser.script-loads", "<openai-chatkit> was never defined")
    if not rec.element_present:
        _keep_screenshot(request, rec)
        blocked(PAGE, no_element_reason(rec))
    if not rec.chatkit_requests:
        outcome = rec.turns[0].outcome if rec.turns else "no message could be sent"
        if not target.frontend_session:
            untestable(
                f"the page sent no ChatKit request ({outcome}); if it needs a session, pass "
                f"{SESSION_OPTIONS}"
            )
        blocked("browser.upgrade-before-use", f"the page sent no ChatKit request ({outcome})")


def no_element_reason(rec: PageRecord) -> str:
    failed = [(sel, why) for sel, why in rec.opened if why]
    if failed:
        sel, why = failed[0]
        return f"the page rendered no <openai-chatkit>: clicking {sel!r} failed ({why})"
    if rec.opened:
        clicked = ", then ".join(repr(sel) for sel, _ in rec.opened)
        return f"the page rendered no <openai-chatkit>, even after clicking {clicked}"
    return NO_ELEMENT


# -- evidence helpers --------------------------------------------------------------------------


def describe(req: NetRequest, secrets: list[str]) -> str:
    status = f"HTTP {req.status}" if req.status is not None else (req.failure or "no response")
    kind = f" ({req.chatkit_type})" if req.chatkit_type else ""
    lines = [f"{req.method} {redact_text(req.url, secrets)}{kind} -> {status}"]
    for name in ("authorization", "cookie", "content-type", "x-user-id"):
        if name in req.headers:
            lines.append(
                f"  {name}: {redact_header(name, redact_text(req.headers[name], secrets))}"
            )
    return "\n".join(lines)


def log_excerpt(rec: PageRecord, secrets: list[str]) -> str:
    lines = [f"uncaught: {e}" for e in rec.page_errors[:5]]
    lines += [
        f"console.{kind}: {text}" for kind, text in rec.console if kind in ("error", "warning")
    ]
    return redact_text("\n".join(lines[:12]), secrets)


def inserted(before: str, after: str) -> str:
    """What ``after`` holds in place of the middle of ``before``: the text a change added.

    The common prefix comes off first, then the common suffix, never overlapping it, so text
    appended anywhere (a new message above the composer) is returned whole, and text that was
    already there before (an earlier, similar reply) is never part of it.
    """
    limit = min(len(before), len(after))
    head = 0
    while head < limit and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < limit - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    return after[head : len(after) - tail]


# -- checks ----------------------------------------------------------------------------------


@check(
    id="browser.script-loads",
    probes=BROWSER_PROBES,
    title="The ChatKit script loads and defines <openai-chatkit>",
    level=MUST,
    pitfall="A missing or wrong script URL (e.g. cdn.openai.com/chatkit/v1/chatkit.min.js) or a "
    "Content-Security-Policy without cdn.platform.openai.com: the element is never defined "
    "and the chat silently never appears.",
    fix='Load <script src="https://cdn.platform.openai.com/deployments/chatkit/chatkit.js" '
    'async> (Next.js: next/script with strategy="beforeInteractive") and allow '
    "cdn.platform.openai.com in script-src.",
    ref=f"{SEED} Common Pitfalls: 'Script not loaded | Component fails to render | Detect script "
    "loading, wait before rendering'; Script Loading Strategy",
)
async def test_script_loads(
    request: pytest.FixtureRequest, page_run: PageRecord, chatkit_target: Target
) -> None:
    rec = page_run
    secrets = _secrets(request, chatkit_target)
    with artifacts_on_failure(request, chatkit_target, rec):
        scripts = rec.script_requests()
        broken = [r for r in scripts if r.failure or (r.status or 0) >= 400]
        csp = [v for v in rec.csp if v.get("directive", "").startswith("script-src")]
        evidence = "\n".join(
            [describe(r, secrets) for r in scripts]
            + [f"CSP blocked {v.get('blocked')} ({v.get('directive')})" for v in csp]
            + ([log_excerpt(rec, secrets)] if log_excerpt(rec, secrets) else [])
        )
        if broken:
            first = broken[0]
            what = first.failure or f"HTTP {first.status}"
            if what == "csp":
                what = "blocked by the page's Content-Security-Policy"
            fail(
                f"the ChatKit script request failed: GET {first.url} -> {what}",
                expected=f"GET {CDN_URL} -> 200",
                actual=f"{first.url} -> {what}",
                evidence=evidence,
            )
        if csp:
            fail(
                f"a Content-Security-Policy blocked the script {csp[0].get('blocked')}",
                expected="script-src allows https://cdn.platform.openai.com",
                actual=f"blocked by {csp[0].get('directive')}",
                evidence=evidence,
            )
        if not rec.defined:
            actual = (
                "no script whose URL names chatkit was requested"
                if not scripts
                else f"{len(scripts)} script request(s), none defined the element"
            )
            fail(
                "<openai-chatkit> was never defined",
                expected="customElements.get('openai-chatkit') within "
                f"{chatkit_target.timeout:g} s of page load",
                actual=actual,
                evidence=evidence or "no ChatKit script request and no console errors",
            )


@check(
    id="browser.upgrade-before-use",
    probes=BROWSER_PROBES,
    title="The element is used only after it is defined, and receives its options",
    level=MUST,
    pitfall="Calling setOptions()/sendUserMessage() on <openai-chatkit> before the script has "
    "defined it throws 'is not a function' (or React warns 'ChatKit element is not mounted'); "
    "the element then never gets its options and shows nothing.",
    fix="Wait for customElements.whenDefined('openai-chatkit') before rendering or calling the "
    "element (the seed's scriptStatus pattern), and load the script before your code runs.",
    ref=f"{SEED} Frontend Patterns 3. Script Loading Detection; @openai/chatkit-react "
    "ChatKit.tsx (whenDefined before setOptions)",
)
async def test_upgrade_before_use(
    request: pytest.FixtureRequest, page_run: PageRecord, chatkit_target: Target
) -> None:
    rec = page_run
    secrets = _secrets(request, chatkit_target)
    if not rec.defined:
        blocked("browser.script-loads", "<openai-chatkit> was never defined")
    with artifacts_on_failure(request, chatkit_target, rec):
        problems = [f"uncaught {e}" for e in rec.page_errors]
        problems += [
            f"console.{kind}: {text}"
            for kind, text in rec.console
            if (kind == "error" and not text.startswith("Failed to load resource"))
            or "not mounted" in text
        ]
        evidence = log_excerpt(rec, secrets)
        if problems:
            fail(
                "the page used ChatKit before it was ready, or the integration logged errors",
                expected="no uncaught errors and no console errors from the integration",
                actual=redact_text(problems[0], secrets),
                evidence=evidence,
            )
        if not rec.element_present:
            # A chat that opens on demand (a floating button) is the guide's own pattern: no
            # element is no verdict on how it is used, only a reason to look at the screenshot.
            _keep_screenshot(request, rec)
            blocked(PAGE, no_element_reason(rec))
        if not rec.options_calls:
            fail(
                "the upgraded element never received options",
                expected="setOptions({api: {url, domainKey, fetch}}) on the upgraded element",
                actual="no setOptions call after the element was defined",
                evidence=evidence,
            )


@check(
    id="browser.fetch-auth",
    probes=BROWSER_PROBES,
    title="Every request the element sends carries the auth the backend needs",
    level=MUST,
    pitfall="The custom fetch adds metadata and X-User-ID but no Authorization header (as the "
    "seed's snippet prints it), or only on the first request: the backend answers 401.",
    fix="In api.fetch, add 'Authorization: Bearer <token>' (or your configured header) to "
    "every request; behind a cookie proxy, let the proxy add it.",
    ref=f"{SEED} Common Pitfalls: 'Auth headers missing | Backend rejects requests | Use custom "
    "fetch interceptor'; Frontend Patterns 1. Custom Fetch Interceptor",
)
async def test_fetch_auth(
    request: pytest.FixtureRequest,
    page_run: PageRecord,
    auth_needs: dict[str, AuthProbe],
    chatkit_target: Target,
) -> None:
    rec = page_run
    require_chat(request, rec, chatkit_target)
    secrets = _secrets(request, chatkit_target)
    reqs = rec.chatkit_requests
    probes = [auth_needs[e] for e in dict.fromkeys(r.endpoint for r in reqs) if e in auth_needs]
    evidence = "\n".join(
        [describe(r, secrets) for r in reqs] + [_describe_probe(p, secrets) for p in probes]
    )
    with artifacts_on_failure(request, chatkit_target, rec):
        for i, req in enumerate(reqs):
            probe = auth_needs.get(req.endpoint)
            lacks = [h for h in (probe.required if probe else []) if not _carries(req, h)]
            if req.status not in (401, 403) and not lacks:
                continue
            lacking = lacks or (probe.missing if probe else [])
            if lacking:
                actual = f"the request carries no {', '.join(lacking)}"
            elif empty_bearer(req.headers.get("authorization", "")):
                actual = "an Authorization header without a token"
            else:
                actual = f"HTTP {req.status}"
            fail(
                f"the backend refused ChatKit request #{i + 1} ({req.chatkit_type})"
                if req.status in (401, 403)
                else f"ChatKit request #{i + 1} ({req.chatkit_type}) lacks what the backend needs",
                expected="every request carries what the backend needs"
                + (f" ({', '.join(lacking)})" if lacking else ""),
                actual=actual,
                evidence=evidence,
            )
        if probes and all(p.needs_nothing for p in probes):
            not_offered(
                "the backend answers requests without any credentials (threads.list with none: "
                f"HTTP {probes[0].anonymous.status if probes[0].anonymous else '-'}): there is "
                "nothing for the page to send (the auth.* checks judge that)"
            )
        if len(reqs) < 2:
            turn = rec.turns[-1] if rec.turns else None
            fail(
                "the second message never reached the backend",
                expected="a ChatKit request for each of the two messages",
                actual=f"{len(reqs)} request(s); turn outcome: {turn.outcome if turn else '-'}",
                evidence=evidence,
            )


def _carries(req: NetRequest, header: str) -> bool:
    value = req.headers.get(header, "").strip()
    return bool(value) and not (header == "authorization" and empty_bearer(value))


def _describe_probe(probe: AuthProbe, secrets: list[str]) -> str:
    def status(ex: Any) -> str:
        if ex is None:
            return "-"
        return ex.transport_error or f"HTTP {ex.status}"

    lines = [f"probe {redact_text(probe.endpoint, secrets)} with threads.list:"]
    if probe.error:
        return lines[0] + f" {probe.error}"
    lines.append(f"  no credentials -> {status(probe.anonymous)}")
    if probe.with_page is not None:
        names = ", ".join(probe.page_headers) or "none"
        lines.append(f"  the page's headers ({names}) -> {status(probe.with_page)}")
    for name, ex in probe.without.items():
        lines.append(f"  the page's headers without {name} -> {status(ex)}")
    if probe.with_identity is not None:
        names = ", ".join(probe.identity_headers)
        lines.append(f"  the harness's identity ({names}) -> {status(probe.with_identity)}")
    return "\n".join(lines)


@check(
    id="browser.fetch-metadata",
    probes=BROWSER_PROBES,
    title="Message requests carry params.input.metadata with userInfo and pageContext",
    level=MUST,
    pitfall="The custom fetch forwards the body untouched, so the agent never learns who the "
    "user is or which page they are on.",
    fix="In api.fetch, JSON.parse the body and set parsed.params.input.metadata = {userId, "
    "userInfo, pageContext, ...}, then JSON.stringify it back.",
    ref=f"{SEED} Common Pitfalls: 'Context not transmitted | Agent missing user/page info | Add "
    "to request metadata'; Frontend Patterns 1. Custom Fetch Interceptor",
)
async def test_fetch_metadata(
    request: pytest.FixtureRequest, page_run: PageRecord, chatkit_target: Target
) -> None:
    rec = page_run
    require_chat(request, rec, chatkit_target)
    with artifacts_on_failure(request, chatkit_target, rec):
        inputs = [r for r in rec.chatkit_requests if _has_input(r)]
        if not inputs:
            fail(
                "no message request was sent",
                expected="threads.create / threads.add_user_message requests",
                actual=", ".join(str(r.chatkit_type) for r in rec.chatkit_requests),
            )
        for req in inputs:
            meta = req.input_metadata
            missing = [
                key
                for key in ("userInfo", "pageContext")
                if not isinstance(meta, dict)
                or not isinstance(meta.get(key), dict)
                or not meta.get(key)
            ]
            if missing:
                shown = redact_text(repr(meta)[:300], _secrets(request, chatkit_target))
                fail(
                    f"{req.chatkit_type} lacks metadata {', '.join(missing)}",
                    expected="params.input.metadata = {userInfo: {...}, pageContext: {...}}",
                    actual=f"params.input.metadata = {shown}",
                    evidence=redact_text((req.body or "")[:600], _secrets(request, chatkit_target)),
                )


def _has_input(req: NetRequest) -> bool:
    params = (req.envelope or {}).get("params")
    return isinstance(params, dict) and isinstance(params.get("input"), dict)


@check(
    id="browser.page-context-accurate",
    probes=BROWSER_PROBES,
    title="pageContext's url, title, path, description and headings match the page",
    level=SHOULD,
    pitfall="getPageContext() reads the wrong nodes (the first <h1> as title, og:description, "
    "headings from the whole document) or a stale snapshot: the agent answers about another page.",
    fix="Compute pageContext when the request is sent, from window.location, document.title, "
    "meta[name=description] and the h1-h3 of article/main/body, as the seed does.",
    ref=f"{SEED} Frontend Patterns 2. Page Context Extraction",
)
async def test_page_context_accurate(
    request: pytest.FixtureRequest, page_run: PageRecord, chatkit_target: Target
) -> None:
    rec = page_run
    require_chat(request, rec, chatkit_target)
    inputs = [r for r in rec.chatkit_requests if _has_input(r)]
    sent = []
    for i, req in enumerate(inputs):
        meta = req.input_metadata
        if isinstance(meta, dict) and isinstance(meta.get("pageContext"), dict):
            sent.append((i, meta["pageContext"]))
    if not sent:
        blocked("browser.fetch-metadata", "no message request carried a pageContext")
    with artifacts_on_failure(request, chatkit_target, rec):
        for i, ctx in sent:
            turn = rec.turns[min(i, len(rec.turns) - 1)]
            expected = turn.expected_context
            wrong = []
            for key in CONTEXT_FIELDS:
                got = _normalise(key, ctx.get(key))
                want = _normalise(key, expected.get(key))
                if got != want:
                    wrong.append(f"{key}: sent {got!r}, page has {want!r}")
            if wrong:
                fail(
                    f"pageContext of {inputs[i].chatkit_type} does not match the page",
                    expected="; ".join(f"{k}={expected.get(k)!r}" for k in CONTEXT_FIELDS),
                    actual=wrong[0],
                    evidence="\n".join(wrong),
                )


def _normalise(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if key == "headings" and isinstance(value, list):
        return ", ".join(str(v).strip() for v in value if str(v).strip())
    text = str(value).strip()
    if key == "url":
        text = text.split("#", 1)[0]
    return text


@check(
    id="browser.stream-renders",
    probes=BROWSER_PROBES,
    title="The assistant reply appears in the page while it streams",
    level=MUST,
    pitfall="Something between backend and element buffers the SSE stream (a proxy route that "
    "awaits the whole body, compression, a custom fetch reading response.text()): the reply "
    "appears all at once after a long blank wait.",
    fix="Return the upstream response.body as it arrives (new Response(upstream.body, ...)), "
    "never read the whole stream in api.fetch or a proxy, and send 'Cache-Control: no-cache, "
    "no-transform' so no compression layer gzips (and so batches) the events.",
    ref=f"{SEED} httpOnly Cookie Proxy ('Handle SSE streaming': new Response(response.body))",
)
async def test_stream_renders(
    request: pytest.FixtureRequest, page_run: PageRecord, chatkit_target: Target
) -> None:
    rec = page_run
    require_chat(request, rec, chatkit_target)
    streams = [r for r in rec.chatkit_requests if r.status == 200 and r.is_stream]
    turns = [(t, s) for t, s in zip(rec.turns, streams, strict=False) if s.assistant_text()]
    if not turns:
        blocked("browser.fetch-auth", "no ChatKit stream succeeded with a reply")
    if rec.script_mode == "cdn" and not any(s for t, _ in turns for _, s in t.renders):
        untestable("the real element renders inside a cross-origin frame the harness cannot read")
    with artifacts_on_failure(request, chatkit_target, rec):
        for turn, stream in turns:
            reply = stream.assistant_text()
            lengths = turn_progress(reply, turn.renders)
            partial = sorted({n for n in lengths if 0 < n < len(reply)})
            timeline = _timeline(turn.renders, lengths, len(reply))
            if max(lengths, default=0) < len(reply):
                fail(
                    "the assistant reply never appeared in full in the page",
                    expected=f"the reply ({len(reply)} characters) rendered in <openai-chatkit>",
                    actual=f"at most {max(lengths, default=0)} characters shown",
                    evidence=timeline,
                )
            deltas = sum(
                1
                for p in stream.sse_payloads()
                if p.get("type") == "thread.item.updated"
                and (p.get("update") or {}).get("type")
                == "assistant_message.content_part.text_delta"
            )
            # The page is judged against what reached the browser, not against the deltas the
            # backend sent: on a busy machine several deltas arrive in one network chunk, and
            # no page can render a state it never received.
            steps = stream.text_steps()
            if not steps:
                # No arrival times (not Chromium): each delta is a chance to render; a stream
                # held back shows a handful of jumps for dozens of deltas.
                needed = max(2, deltas // 8)
                if len(partial) < needed:
                    fail(
                        "the reply appeared all at once instead of while streaming"
                        if len(partial) < 2
                        else "the reply appeared in a few large bursts instead of while streaming",
                        expected=f"the reply growing over at least {needed} renders "
                        f"({deltas} text deltas streamed)",
                        actual=f"{len(partial)} partial render(s) before the full reply",
                        evidence=timeline,
                    )
                continue
            pieces = len(stream.arrival_bursts())
            timeline = f"reached the browser in {pieces} network chunk(s)\n{timeline}"
            received = sorted({n for n in steps if 0 < n < steps[-1]})
            if deltas >= 2 and not received:
                fail(
                    "the reply reached the browser in one piece: something between the backend "
                    "and the page holds the stream back",
                    expected=f"the {deltas} text deltas reaching the browser as they are sent",
                    actual=f"all of the reply's text in one of {pieces} network chunk(s)",
                    evidence=timeline,
                )
            needed = (len(received) + 1) // 2
            if len(partial) < needed:
                fail(
                    "the page held back a reply that reached it while streaming: it appeared "
                    + ("all at once" if not partial else "in a few large jumps"),
                    expected=f"the reply growing over at least {needed} renders (the browser "
                    f"received it in {len(received) + 1} growing pieces)",
                    actual=f"{len(partial)} partial render(s) before the full reply",
                    evidence=timeline,
                )


def turn_progress(reply: str, renders: list[tuple[int, str]]) -> list[int]:
    """How much of this turn's ``reply`` each render showed (0 for the one before the send).

    Only what the render added to the element's text since the turn began counts: an earlier
    reply still on screen, however much it shares with this one, is never taken for it.
    """
    if not renders:
        return []
    before = renders[0][1]
    return [0] + [_prefix_shown(reply, inserted(before, text)) for _, text in renders[1:]]


def _prefix_shown(reply: str, text: str) -> int:
    """The length of the longest prefix of ``reply`` present in ``text`` (binary search)."""
    lo, hi = 0, len(reply)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if reply[:mid] in text:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _timeline(renders: list[tuple[int, str]], lengths: list[int], total: int) -> str:
    if not renders:
        return "no renders observed"
    t0 = renders[0][0]
    rows = [
        f"+{t - t0:5d} ms  {n:4d}/{total} characters"
        for (t, _), n in zip(renders, lengths, strict=True)
    ]
    return "\n".join(rows[:20] + ([f"... {len(rows) - 20} more"] if len(rows) > 20 else []))


@check(
    id="browser.logged-out",
    probes=BROWSER_PROBES,
    title="Without a session the page refuses to send and shows an error instead of hanging",
    level=SHOULD,
    pitfall="The custom fetch never checks the session: logged out it sends 'Bearer undefined', "
    "the backend answers 401 and the chat spins or fails silently.",
    fix="In api.fetch, throw when the user is not logged in (the seed's isLoggedIn check) and "
    "show a sign-in message (listen for chatkit.error).",
    ref=f"{SEED} Frontend Patterns 1. Custom Fetch Interceptor: "
    "'if (!isLoggedIn) { throw new Error(\"User must be logged in\") }'",
)
async def test_logged_out(
    request: pytest.FixtureRequest,
    page_run: PageRecord,
    logged_out_run: PageRecord,
    chatkit_target: Target,
) -> None:
    rec = logged_out_run
    secrets = _secrets(request, chatkit_target)
    with artifacts_on_failure(request, chatkit_target, rec):
        left = rec.chatkit_requests
        if left:
            fail(
                "a ChatKit request left the page without a session",
                expected="the custom fetch throws before any request is sent",
                actual=f"{len(left)} request(s) sent, first answered "
                f"{left[0].status or left[0].failure}",
                evidence="\n".join(describe(r, secrets) for r in left),
            )
        turn = rec.turns[0] if rec.turns else None
        if turn is None:
            # Logged out, the page offers no chat at all: nothing can be sent, nothing hangs.
            return
        # Only what the chat itself does counts: its custom fetch refusing (the element then
        # reports chatkit.error and sendUserMessage rejects), or an error appearing in the
        # chat or its container. Words like "Sign In" in a navbar say nothing about the chat.
        refused = turn.outcome == "error" or turn.outcome.startswith("rejected") or turn.errors
        shown = inserted(turn.container_before, turn.container_after).strip()
        if not refused and not _says_error(shown):
            fail(
                "logged out, the chat neither refused to send nor showed an error",
                expected="the custom fetch throws ('User must be logged in'): chatkit.error, "
                "and a message such as 'Sign in to chat' in the chat",
                actual=f"turn outcome: {turn.outcome}; new text in the chat: "
                f"{redact_text(shown[:200], secrets)!r}",
                evidence=redact_text(turn.container_after[:400], secrets),
            )


def _says_error(text: str) -> bool:
    return bool(
        re.search(
            r"(?i)\b(sign|log)\s?-?in\b|\berror\b|not (logged|signed|authenticated)"
            r"|unauthori[sz]ed|\bfailed\b",
            text,
        )
    )


# -- the httpOnly cookie proxy -----------------------------------------------------------------


def proxied(request: pytest.FixtureRequest, rec: PageRecord, target: Target) -> list[NetRequest]:
    """ChatKit requests that went to a route of the page's own rather than to the backend."""
    require_chat(request, rec, target)
    session = request.getfixturevalue("browser_session")
    assert isinstance(session, BrowserSession)
    routed = session.routed(rec)
    if not routed:
        not_offered("the page sends ChatKit requests straight to the backend: no proxy route")
    return routed


@check(
    id="proxy.httponly-cookie",
    probes=BROWSER_PROBES,
    title="The proxy route reads the httpOnly session cookie, forwards it as Authorization, "
    "and answers 401 without it",
    level=MUST,
    pitfall="The token is copied somewhere page JavaScript can read it (a plain cookie, "
    "localStorage, an Authorization header built in the browser), or the proxy forwards "
    "requests without a session.",
    fix="Keep the token in an httpOnly cookie; in app/api/chatkit/route.ts read it with "
    "cookies(), return 401 when absent, and send 'Authorization: Bearer <token>' upstream.",
    ref=f"{SEED} Next.js Integration: httpOnly Cookie Proxy (app/api/chatkit/route.ts)",
)
async def test_proxy_httponly_cookie(
    request: pytest.FixtureRequest,
    page_run: PageRecord,
    auth_needs: dict[str, AuthProbe],
    chatkit_target: Target,
) -> None:
    rec = page_run
    routed = proxied(request, rec, chatkit_target)
    token = chatkit_target.resolved_token() or ""
    secrets = _secrets(request, chatkit_target)
    route = auth_needs.get(routed[0].endpoint)
    backend = auth_needs.get(endpoint_of(chatkit_target.url))
    with artifacts_on_failure(request, chatkit_target, rec):
        for where, value in rec.storage.items():
            if token and token in value:
                fail(
                    "page JavaScript can read the session token",
                    expected="the token only in an httpOnly cookie",
                    actual=f"the token is in {_STORAGE_NAMES.get(where, where)}",
                )
        for req in routed:
            auth = req.headers.get("authorization", "")
            if token and token in auth:
                fail(
                    "the page sends the token itself: it is exposed to JavaScript",
                    expected="the browser sends only the cookie; the proxy adds Authorization",
                    actual="an Authorization header with the token, set in the browser",
                    evidence=describe(req, secrets),
                )
            if req.status in (401, 403):
                fail(
                    "the proxy did not forward the session as Authorization",
                    expected="HTTP 200 for a request with the session cookie",
                    actual=f"HTTP {req.status}",
                    evidence=describe(req, secrets),
                )
        if route is None or route.anonymous is None:
            blocked(PAGE, f"the proxy route could not be probed ({route.error if route else '-'})")
        if accepted(route.anonymous) and backend is not None and backend.needs_nothing:
            not_offered(
                "neither the proxy route nor the backend asks for a session: there is no "
                "session cookie to keep from page JavaScript"
            )
        if route.anonymous.status != 401:
            fail(
                "without the session cookie the proxy did not answer 401",
                expected="HTTP 401 from the proxy route",
                actual=f"HTTP {route.anonymous.status or route.anonymous.transport_error}",
                evidence=redact_text(evidence_of(route.anonymous), secrets),
            )


_STORAGE_NAMES = {"cookie": "document.cookie", "local": "localStorage", "session": "sessionStorage"}


@check(
    id="proxy.sse-pass-through",
    probes=BROWSER_PROBES,
    title="The proxy route passes text/event-stream through as it arrives",
    level=MUST,
    pitfall="The route awaits the whole upstream body (await response.text() / .json()) or "
    "answers with NextResponse.json: the stream arrives at once, or not as SSE at all.",
    fix="When the upstream answers text/event-stream, return new Response(response.body, "
    "{headers: {'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, "
    "no-transform'}}); no-transform keeps compressing layers in front from batching it.",
    ref=f"{SEED} Next.js Integration: httpOnly Cookie Proxy ('Handle SSE streaming')",
)
async def test_proxy_sse_pass_through(
    request: pytest.FixtureRequest,
    page_run: PageRecord,
    browser_session: BrowserSession,
    chatkit_target: Target,
) -> None:
    routed = proxied(request, page_run, chatkit_target)
    secrets = _secrets(request, chatkit_target)
    # The route gets what the page itself sent (its session cookie, or nothing at all for an
    # anonymous dev proxy); the backend gets the harness's own identity.
    probe = await browser_session.proxy_stream(routed[0])
    if probe.error or probe.via_proxy is None or probe.direct is None:
        blocked(PAGE, f"the proxy route could not be streamed from ({probe.error or '-'})")
    via_proxy, direct = probe.via_proxy, probe.direct
    with artifacts_on_failure(request, chatkit_target, page_run):
        ctype = via_proxy.header("content-type") or ""
        if via_proxy.status != 200 or "text/event-stream" not in ctype:
            fail(
                "the proxy did not answer a streaming request with text/event-stream",
                expected="HTTP 200, Content-Type: text/event-stream",
                actual=f"HTTP {via_proxy.status or via_proxy.transport_error}, "
                f"Content-Type: {ctype or '-'}",
                evidence=redact_text(evidence_of(via_proxy), secrets),
            )
        if direct.status != 200:
            blocked(
                "auth preflight",
                f"the backend refused the harness's own streaming request (HTTP "
                f"{direct.status or direct.transport_error}): nothing to compare the route with",
            )
        # Count the moments bytes arrived (on the wire, before any gzip decoding): the backend
        # sends each event on its own; a proxy that buffers delivers one or a few bursts.
        direct_bursts = _bursts(direct)
        if len(direct_bursts) < 4:
            untestable(
                f"the backend itself delivers its reply in {len(direct_bursts)} burst(s): too "
                "few to tell a buffering proxy apart"
            )
        proxy_bursts = _bursts(via_proxy)
        if len(proxy_bursts) < max(2, len(direct_bursts) // 4):
            sizes = ", ".join(f"+{t * 1000:.0f} ms: {n}" for t, n in proxy_bursts[:8])
            fail(
                "the proxy buffers the stream: it arrived in "
                f"{len(proxy_bursts)} burst(s) instead of {len(direct_bursts)}",
                expected=f"the stream arriving over about {len(direct_bursts)} moments, as it "
                "does straight from the backend",
                actual=f"bytes per burst: {sizes}",
                evidence=redact_text(evidence_of(via_proxy), secrets),
            )


def _bursts(rec: RecordedStream, gap: float = 0.005) -> list[tuple[float, int]]:
    """(arrival time, bytes) for each group of body chunks arriving within ``gap`` seconds."""
    out: list[tuple[float, int]] = []
    for t, data in sorted(rec.chunks, key=lambda c: c[0]):
        if not data:
            continue
        if out and t - out[-1][0] <= gap:
            out[-1] = (out[-1][0], out[-1][1] + len(data))
        else:
            out.append((t, len(data)))
    return out
