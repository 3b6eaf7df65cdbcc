"""Load the user's page once in Chromium and record what its ChatKit integration does.

The recording is the evidence every browser check reads: each request the page made (headers,
body, status, failure), console messages and uncaught errors, CSP violations, when
``openai-chatkit`` was defined and whether it received options, the ``chatkit.*`` events, and
how the element's text changed while a reply streamed. The harness drives the element only
through its public API (``sendUserMessage``), so the same recording works with the real CDN
script and with the stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.protocol.client import TargetUnreachable
from harness.protocol.sse import SSEParser, parse_all

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Request

    from harness.browser.login import FrontendUser, LoginHook
    from harness.browser.standin import ScriptMode

FIRST_MESSAGE = "Hello from the chatkit-harness browser check."
SECOND_MESSAGE = "And a second turn on the same thread, please."

# Runs before any page script, in every frame: watches chatkit.* events (capture phase, so
# non-bubbling events on the element are seen too), CSP violations, the definition of
# openai-chatkit and every setOptions call on the upgraded element.
INIT_SCRIPT = r"""
(() => {
  if (window.__chatkitHarness) return;
  const rec = window.__chatkitHarness = {
    events: [], csp: [], defined: null, setOptions: [], renders: [],
  };
  const now = () => Math.round(performance.now());
  const NAMES = ["chatkit.ready", "chatkit.error", "chatkit.effect", "chatkit.log",
    "chatkit.response.start", "chatkit.response.end", "chatkit.thread.change",
    "chatkit.thread.load.start", "chatkit.thread.load.end", "chatkit.tool.change"];
  for (const name of NAMES) {
    window.addEventListener(name, (e) => {
      let detail = null;
      const d = e.detail;
      if (d && d.error) detail = String(d.error.message || d.error);
      else if (d && "threadId" in d) detail = String(d.threadId);
      rec.events.push({ name, t: now(), detail });
    }, true);
  }
  document.addEventListener("securitypolicyviolation", (e) => {
    rec.csp.push({ blocked: e.blockedURI, directive: e.violatedDirective, t: now() });
  }, true);
  const define = customElements.define.bind(customElements);
  customElements.define = function (name, cls, options) {
    if (name === "openai-chatkit") {
      rec.defined = now();
      const original = cls.prototype.setOptions;
      if (typeof original === "function") {
        cls.prototype.setOptions = function (opts) {
          const api = (opts && opts.api) || {};
          rec.setOptions.push({
            t: now(),
            apiUrl: typeof api.url === "string" ? api.url : null,
            customFetch: typeof api.fetch === "function",
            domainKey: !!api.domainKey,
          });
          return original.apply(this, arguments);
        };
      }
    }
    return define(name, cls, options);
  };
})();
"""

# The seed's getPageContext(), evaluated by the harness itself: the truth to compare with.
EXPECTED_CONTEXT = r"""
() => {
  const metaDescription =
    document.querySelector('meta[name="description"]')?.getAttribute("content") || "";
  const mainContent =
    document.querySelector("article") || document.querySelector("main") || document.body;
  const headings = Array.from(mainContent.querySelectorAll("h1, h2, h3"))
    .slice(0, 5).map((h) => h.textContent?.trim()).filter(Boolean).join(", ");
  return { url: window.location.href, title: document.title, path: window.location.pathname,
           description: metaDescription, headings };
}
"""

# Sends one message through the element's public API and waits for the turn to settle.
# Besides the element's own text as it changes (the renders, first one taken before the
# message is sent), it keeps the text of the chat's container before and after the turn: the
# nearest ancestor holding anything besides the chat, where a page shows its chat errors.
SEND_TURN = r"""
async ([text, newThread, timeoutMs]) => {
  const el = document.querySelector("openai-chatkit");
  if (!el) return { outcome: "no-element" };
  if (typeof el.sendUserMessage !== "function") return { outcome: "not-upgraded" };
  const rec = window.__chatkitHarness;
  const root = el.shadowRoot || el;
  const textOf = () => Array.from(root.childNodes)
    .filter((n) => n.nodeName !== "STYLE" && n.nodeName !== "SCRIPT")
    .map((n) => n.textContent || "").join("\n");
  const container = (() => {
    let child = el;
    let node = el.parentElement;
    while (node && node !== document.body) {
      const others = Array.from(node.childNodes).some((n) => n !== child
        && (n.nodeType === 1 || (n.nodeType === 3 && n.textContent.trim())));
      if (others) return node;
      child = node;
      node = node.parentElement;
    }
    return node || document.documentElement;
  })();
  const chatText = () => (container.innerText || "") + "\n" + textOf();
  const containerBefore = chatText();
  rec.renders = [[Math.round(performance.now()), textOf()]];
  const observer = new MutationObserver(() => {
    rec.renders.push([Math.round(performance.now()), textOf()]);
  });
  observer.observe(root, { subtree: true, childList: true, characterData: true });
  const start = rec.events.length;
  const t0 = performance.now();
  const outcome = await new Promise((resolve) => {
    let settled = false;
    let errorAt = null;
    const finish = (o) => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      resolve(o);
    };
    const poll = setInterval(() => {
      const evs = rec.events.slice(start);
      const error = evs.find((e) => e.name === "chatkit.error");
      if (evs.some((e) => e.name === "chatkit.response.end")) finish(error ? "error" : "end");
      else if (error) {
        errorAt = errorAt ?? performance.now();
        if (performance.now() - errorAt > 500) finish("error");
      }
      if (performance.now() - t0 > timeoutMs) finish("timeout");
    }, 20);
    try {
      Promise.resolve(el.sendUserMessage({ text, newThread })).catch((e) => {
        setTimeout(() => finish("rejected: " + String((e && e.message) || e)), 300);
      });
    } catch (e) {
      finish("rejected: " + String((e && e.message) || e));
    }
  });
  await new Promise((r) => setTimeout(r, 50));
  observer.disconnect();
  const errors = rec.events.slice(start).filter((e) => e.name === "chatkit.error")
    .map((e) => e.detail);
  return { outcome, renders: rec.renders, errors, containerBefore, containerAfter: chatText() };
}
"""

STORAGE = r"""
() => {
  const dump = (s) => { try { return JSON.stringify(Object.assign({}, s)); } catch { return ""; } };
  return { cookie: document.cookie, local: dump(window.localStorage),
           session: dump(window.sessionStorage) };
}
"""


@dataclass
class NetRequest:
    """One request the page made, as the browser sent it."""

    url: str
    method: str
    resource_type: str
    headers: dict[str, str]
    body: str | None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    response_body: bytes | None = None
    # When the response's bytes reached the browser: (seconds, bytes) per network chunk,
    # from the DevTools protocol (empty where it is not available).
    arrivals: list[tuple[float, int]] = field(default_factory=list)

    @property
    def envelope(self) -> dict[str, Any] | None:
        """The ChatKit request ``{type, params}`` when this is one."""
        if self.method != "POST" or not self.body:
            return None
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        if isinstance(data, dict) and isinstance(data.get("type"), str) and "params" in data:
            return data
        return None

    @property
    def chatkit_type(self) -> str | None:
        env = self.envelope
        return str(env["type"]) if env else None

    @property
    def endpoint(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    @property
    def input_metadata(self) -> Any:
        env = self.envelope or {}
        params = env.get("params")
        inp = params.get("input") if isinstance(params, dict) else None
        return inp.get("metadata") if isinstance(inp, dict) else None

    def sse_payloads(self) -> list[dict[str, Any]]:
        if not self.response_body:
            return []
        events, _ = parse_all(self.response_body)
        out = []
        for ev in events:
            with contextlib.suppress(ValueError):
                data = json.loads(ev.data)
                if isinstance(data, dict):
                    out.append(data)
        return out

    def assistant_text(self) -> str:
        texts = []
        for p in self.sse_payloads():
            item = p.get("item") if p.get("type") == "thread.item.done" else None
            if isinstance(item, dict) and item.get("type") == "assistant_message":
                texts += [
                    str(c.get("text", "")) for c in item.get("content", []) if isinstance(c, dict)
                ]
        return "".join(texts)

    def arrival_bursts(self, gap: float = 0.005) -> list[tuple[float, int]]:
        """(time, bytes) of each group of chunks that reached the browser within ``gap`` s."""
        out: list[tuple[float, int]] = []
        for t, size in sorted(self.arrivals):
            if out and t - out[-1][0] <= gap:
                out[-1] = (out[-1][0], out[-1][1] + size)
            else:
                out.append((t, size))
        return out

    def text_steps(self) -> list[int]:
        """How much reply text (summed text deltas) the browser had after each burst.

        The most a page can show while a reply streams is one state per burst that brought
        new text: a stream that reached the browser in few pieces cannot render in many.
        """
        if not self.response_body or not self.arrivals:
            return []
        parser = SSEParser()
        body, pos, shown, out = self.response_body, 0, 0, []
        bursts = self.arrival_bursts()
        for i, (_, size) in enumerate(bursts):
            # The last burst takes whatever is left (sizes are decoded bytes, near enough).
            end = len(body) if i == len(bursts) - 1 else pos + size
            for ev in parser.feed(body[pos:end]):
                shown += _delta_length(ev.data)
            pos = end
            out.append(shown)
        return out

    @property
    def is_stream(self) -> bool:
        return "text/event-stream" in self.response_headers.get("content-type", "")


def _delta_length(data: str) -> int:
    try:
        payload = json.loads(data)
    except ValueError:
        return 0
    update = payload.get("update") if isinstance(payload, dict) else None
    if (
        isinstance(update, dict)
        and payload.get("type") == "thread.item.updated"
        and update.get("type") == "assistant_message.content_part.text_delta"
    ):
        return len(str(update.get("delta") or ""))
    return 0


@dataclass
class Turn:
    text: str
    outcome: str  # end, error, timeout, rejected: ..., no-element, not-upgraded
    renders: list[tuple[int, str]] = field(default_factory=list)  # [0]: before the send
    errors: list[str] = field(default_factory=list)  # chatkit.error details during the turn
    expected_context: dict[str, str] = field(default_factory=dict)
    # The chat's container (and the element's own text) before and after the turn.
    container_before: str = ""
    container_after: str = ""


@dataclass
class PageRecord:
    """Everything one page load showed; read by the checks, saved as artifacts on failure."""

    url: str
    logged_in: bool
    script_mode: str
    requests: list[NetRequest] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp: list[dict[str, Any]] = field(default_factory=list)
    defined_ms: int | None = None
    element_present: bool = False
    options_calls: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    storage: dict[str, str] = field(default_factory=dict)
    # --frontend-open: each selector clicked, with "" or why the click failed.
    opened: list[tuple[str, str]] = field(default_factory=list)
    elapsed: float = 0.0
    artifacts: list[Path] = field(default_factory=list)

    @property
    def defined(self) -> bool:
        return self.defined_ms is not None

    @property
    def chatkit_requests(self) -> list[NetRequest]:
        """ChatKit requests that actually left the page (not ones the page refused to send)."""
        return [r for r in self.requests if r.chatkit_type and r.failure != "not sent"]

    def script_requests(self) -> list[NetRequest]:
        return [
            r
            for r in self.requests
            if r.resource_type == "script" and "chatkit" in urlsplit(r.url).path.lower()
        ]


@dataclass
class RecordOptions:
    frontend_url: str
    script_mode: ScriptMode
    timeout: float
    storage_state: dict[str, Any] | None = None  # Playwright's {cookies, origins}
    login: LoginHook | None = None  # signs in before the page is loaded
    user: FrontendUser | None = None
    open_selectors: tuple[str, ...] = ()  # clicked in order before the element is awaited
    turns: int = 2
    workdir: Path | None = None
    logged_in: bool = True


async def record_page(browser: Browser, opts: RecordOptions) -> PageRecord:
    """Load the page, drive up to ``opts.turns`` messages, and return what happened."""
    from harness.browser import standin

    t0 = time.monotonic()
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="chatkit-browser-"))
    tag = "logged-in" if opts.logged_in else "logged-out"
    har = workdir / f"{tag}.har"
    record = PageRecord(opts.frontend_url, opts.logged_in, opts.script_mode)
    context = await browser.new_context(
        record_har_path=str(har),
        record_har_content="embed",
        storage_state=opts.storage_state,  # type: ignore[arg-type]
    )
    pending: list[Request] = []
    try:
        await standin.install(context, opts.script_mode)
        await context.add_init_script(INIT_SCRIPT)
        page = await context.new_page()
        arrivals = _Arrivals()
        await arrivals.attach(context, page)
        if opts.login is not None:
            await _login(page, opts)
        # Traced from here: what a login hook typed stays out of the trace.
        await context.tracing.start(screenshots=True, snapshots=True)
        page.on("request", lambda r: pending.append(r))
        page.on("console", lambda m: record.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: record.page_errors.append(str(e)))
        try:
            await _drive(page, record, opts)
        finally:
            record.requests = [await _materialise(r) for r in pending]
            arrivals.assign(record.requests)
            screenshot = workdir / f"{tag}.png"
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(screenshot), full_page=True, timeout=5000)
                record.artifacts.append(screenshot)
            trace = workdir / f"{tag}-trace.zip"
            with contextlib.suppress(Exception):
                await context.tracing.stop(path=str(trace))
                record.artifacts.append(trace)
    finally:
        await context.close()  # writes the HAR
        if har.is_file():
            record.artifacts.append(har)
        record.elapsed = time.monotonic() - t0
    return record


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def _login(page: Page, opts: RecordOptions) -> None:
    """Run the user's login hook; a hook that fails is a harness error (exit 2), not a verdict."""
    from harness.target.config import ConfigError

    assert opts.login is not None and opts.user is not None
    try:
        await asyncio.wait_for(opts.login(page, opts.user), timeout=max(opts.timeout, 30.0))
    except TimeoutError:
        raise ConfigError("frontend-login: login(page, user) did not return in time") from None
    except Exception as exc:
        raise ConfigError(
            f"frontend-login: login(page, user) raised {type(exc).__name__}: {_first_line(exc)}"
        ) from None


async def _open_chat(page: Page, record: PageRecord, opts: RecordOptions) -> None:
    """Click the --frontend-open selectors in order; stop at the first that cannot be clicked."""
    click_ms = int(min(opts.timeout, 10.0) * 1000)
    for selector in opts.open_selectors:
        try:
            await page.click(selector, timeout=click_ms)
        except Exception as exc:
            record.opened.append((selector, _first_line(exc)))
            return
        record.opened.append((selector, ""))


async def _drive(page: Page, record: PageRecord, opts: RecordOptions) -> None:
    timeout_ms = int(opts.timeout * 1000)
    try:
        response = await page.goto(opts.frontend_url, wait_until="load", timeout=timeout_ms)
    except Exception as exc:
        raise TargetUnreachable(f"cannot load {opts.frontend_url}: {_first_line(exc)}") from None
    if response is not None and response.status >= 400:
        raise TargetUnreachable(f"cannot load {opts.frontend_url}: HTTP {response.status}")
    loading = _Loading(page)
    try:
        await loading.until_defined(opts.timeout)
        if opts.open_selectors:
            await loading.until_settled(cap=min(opts.timeout, 3.0))
            await _open_chat(page, record, opts)
            # Opening may be what loads the script (a chat loaded on demand).
            await loading.until_defined(opts.timeout)
    finally:
        loading.close()
    # Once defined, the integration should render the element and hand it its options.
    defined = await page.evaluate("() => !!customElements.get('openai-chatkit')")
    with contextlib.suppress(Exception):
        if defined:
            await page.wait_for_function(
                "() => window.__chatkitHarness.setOptions.length > 0"
                " && !!document.querySelector('openai-chatkit')",
                timeout=min(3000, timeout_ms),
            )
    await _snapshot(page, record)
    if record.defined and record.element_present:
        for i in range(opts.turns):
            text = FIRST_MESSAGE if i == 0 else SECOND_MESSAGE
            expected = await page.evaluate(EXPECTED_CONTEXT)
            result = await page.evaluate(SEND_TURN, [text, i == 0, timeout_ms])
            record.turns.append(
                Turn(
                    text=text,
                    outcome=str(result.get("outcome")),
                    renders=[(int(t), str(s)) for t, s in result.get("renders", [])],
                    errors=[str(e) for e in result.get("errors", [])],
                    expected_context={k: str(v) for k, v in expected.items()},
                    container_before=str(result.get("containerBefore") or ""),
                    container_after=str(result.get("containerAfter") or ""),
                )
            )
            if record.turns[-1].outcome != "end":
                break
    else:
        # Logged out or broken: still give a page that reacts late a moment to show something.
        await asyncio.sleep(0.2)
    await _snapshot(page, record)
    with contextlib.suppress(Exception):
        record.storage = {k: str(v) for k, v in (await page.evaluate(STORAGE)).items()}


_LOADING_KINDS = {"script": "script", "fetch": "fetch", "xhr": "fetch"}


class _Loading:
    """The page's script and fetch requests in flight, and when each set last changed.

    A page may add the script late (after hydration, on idle, on the click that opens the
    chat), so the page's ``load`` is not enough; waiting for network idle is no good either,
    as one unread response body or a long poll keeps a connection open for ever.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.in_flight: dict[str, set[Any]] = {"script": set(), "fetch": set()}
        self.changed: dict[str, float] = {"script": time.monotonic(), "fetch": time.monotonic()}
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def close(self) -> None:
        self.page.remove_listener("request", self._started)
        self.page.remove_listener("requestfinished", self._ended)
        self.page.remove_listener("requestfailed", self._ended)

    def _started(self, req: Request) -> None:
        kind = _LOADING_KINDS.get(req.resource_type)
        if kind:
            self.in_flight[kind].add(req)
            self.changed[kind] = time.monotonic()

    def _ended(self, req: Request) -> None:
        for kind, reqs in self.in_flight.items():
            if req in reqs:
                reqs.discard(req)
                self.changed[kind] = time.monotonic()

    def quiet(self, kind: str, seconds: float) -> bool:
        return not self.in_flight[kind] and time.monotonic() - self.changed[kind] > seconds

    async def until_defined(self, timeout: float, quiet: float = 0.75) -> None:
        """Until openai-chatkit is defined, or no script has been loading for ``quiet`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.page.evaluate("() => !!customElements.get('openai-chatkit')"):
                return
            if self.quiet("script", quiet):
                return
            await asyncio.sleep(0.05)

    async def until_settled(self, cap: float, quiet: float = 0.5) -> None:
        """Until no fetch has been in flight for ``quiet`` s (at most ``cap`` s): a page still
        checking its session may not have wired its buttons up yet."""
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline and not self.quiet("fetch", quiet):
            await asyncio.sleep(0.05)


async def _snapshot(page: Page, record: PageRecord) -> None:
    state = await page.evaluate(
        "() => ({ rec: window.__chatkitHarness || null,"
        " present: !!document.querySelector('openai-chatkit') })"
    )
    rec = state.get("rec") or {}
    record.defined_ms = rec.get("defined")
    record.element_present = bool(state.get("present"))
    record.options_calls = list(rec.get("setOptions") or [])
    record.events = list(rec.get("events") or [])
    record.csp = list(rec.get("csp") or [])


class _Arrivals:
    """Arrival times of response bytes, per request, from the DevTools protocol.

    Playwright reports a response only once it is whole; Chromium's own Network events say
    when each chunk came in, which tells a stream that reached the browser in pieces from one
    held back before it (and so a page that buffers from a proxy that does).
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None]] = []  # (DevTools id, url, post data)
        self.data: dict[str, list[tuple[float, int]]] = {}

    async def attach(self, context: BrowserContext, page: Page) -> None:
        try:
            cdp = await context.new_cdp_session(page)
            cdp.on("Network.requestWillBeSent", self._will_send)
            cdp.on("Network.dataReceived", self._received)
            await cdp.send("Network.enable")
        except Exception:  # not Chromium, or no DevTools: the checks do without arrivals
            return

    def _will_send(self, params: dict[str, Any]) -> None:
        req = params.get("request") or {}
        if req.get("method") == "POST":
            self.sent.append(
                (str(params.get("requestId")), str(req.get("url")), req.get("postData"))
            )

    def _received(self, params: dict[str, Any]) -> None:
        rid = str(params.get("requestId"))
        size = int(params.get("dataLength") or 0)
        self.data.setdefault(rid, []).append((float(params.get("timestamp") or 0.0), size))

    def assign(self, requests: list[NetRequest]) -> None:
        """Match each POST of the recording to its DevTools request: same URL and body, in order."""
        unused = list(self.sent)
        for req in requests:
            if req.method != "POST":
                continue
            for i, (rid, url, body) in enumerate(unused):
                if url == req.url and (body is None or body == req.body):
                    req.arrivals = self.data.get(rid, [])
                    del unused[i]
                    break


async def _materialise(req: Request) -> NetRequest:
    try:
        headers = await req.all_headers()
    except Exception:
        headers = dict(req.headers)
    out = NetRequest(
        url=req.url,
        method=req.method,
        resource_type=req.resource_type,
        headers={k.lower(): v for k, v in headers.items()},
        body=req.post_data,
    )
    failure = req.failure
    if failure:
        out.failure = failure
    try:
        resp = await req.response()
    except Exception:
        resp = None
    if resp is not None:
        out.status = resp.status
        with contextlib.suppress(Exception):
            out.response_headers = {k.lower(): v for k, v in (await resp.all_headers()).items()}
        if out.chatkit_type:
            with contextlib.suppress(Exception):
                out.response_body = _utf8_body(await resp.body(), out.response_headers)
    elif not failure:
        out.failure = "no response"
    return out


# windows-1252 leaves five bytes undefined; the WHATWG decoder maps them to U+0081 etc.
_C1_KEPT = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})


def _windows_1252_bytes(text: str) -> bytes:
    """The bytes a WHATWG windows-1252 decoder turned into ``text`` (UnicodeEncodeError if
    ``text`` is no such decoding)."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code < 0x80 or 0xA0 <= code <= 0xFF or code in _C1_KEPT:
            out.append(code)
        else:
            out += ch.encode("cp1252")
    return bytes(out)


def _utf8_body(body: bytes, headers: dict[str, str]) -> bytes:
    """Undo DevTools decoding a charset-less body as windows-1252 (the web's "latin-1"; SSE is
    always UTF-8): "Â·" back to "·", and "â€¦" (a 0x80 byte read as "€") back to "…"."""
    if "charset" in headers.get("content-type", "").lower():
        return body
    try:
        return _windows_1252_bytes(body.decode("utf-8")).decode("utf-8").encode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return body


_AUTH_VALUE_RE = re.compile(r"(?i)^\s*bearer\s+(undefined|null|)\s*$")


def empty_bearer(value: str) -> bool:
    """``Bearer undefined`` and friends: a header that is there but carries no credential."""
    return bool(_AUTH_VALUE_RE.match(value))
