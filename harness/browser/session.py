"""One Chromium per run, the page recordings the checks share, and their failure artifacts."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.browser.login import (
    FrontendUser,
    LoginHook,
    load_login_hook,
    local_storage,
    session_cookies,
    state_secrets,
    storage_state,
)
from harness.browser.probes import (
    AuthProbe,
    Observer,
    ProxyProbe,
    endpoint_of,
    probe_auth,
    probe_proxy,
)
from harness.browser.recorder import NetRequest, PageRecord, RecordOptions, record_page
from harness.browser.standin import ScriptMode, resolve_mode
from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.report.redact import redact_text
from harness.target.config import Target

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

__all__ = ["BrowserSession", "save_artifacts", "secrets_of", "session_cookies"]


def secrets_of(target: Target, extra: list[str] | None = None) -> list[str]:
    out = list(target.secrets())
    token = target.resolved_token()
    if token:
        out.append(token)
    out += [str(c["value"]) for c in session_cookies(target)]
    out += [e["value"] for e in local_storage(target) if len(e["value"]) >= 8]
    if target.frontend_storage_state:
        out += state_secrets(storage_state(target))
    out += list(extra or [])
    return [s for s in out if s]


@dataclass
class BrowserSession:
    """Starts Playwright and Chromium on first use; records each page variant once.

    Besides the two page recordings it holds the run's other browser-area evidence, each
    taken once: what the endpoints the page talks to need (:func:`probe_auth`) and one reply
    streamed through the page's proxy route (:func:`probe_proxy`).
    """

    target: Target
    mode: ScriptMode = "standin"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chatkit-pw-")))
    observers: list[Observer] = field(default_factory=list)
    login: LoginHook | None = None
    user: FrontendUser | None = None
    _pw: Playwright | None = None
    _browser: Browser | None = None
    _records: dict[bool, PageRecord] = field(default_factory=dict)
    _auth: dict[str, AuthProbe] | None = None
    _proxy: dict[str, ProxyProbe] = field(default_factory=dict)
    # Endpoints that stand for the backend itself (the CORS front of a bundled page's site):
    # requests to them go to the backend, not to a proxy route of the page.
    backend_endpoints: tuple[str, ...] = ()
    served: Any = None  # the bundled page's site (--frontend-url bundled:PAGE), stopped on close

    @classmethod
    def for_target(cls, target: Target, observers: list[Observer] | None = None) -> BrowserSession:
        """Checks every session option up front (ConfigError: a harness error, exit 2)."""
        storage_state(target)
        login = load_login_hook(target.frontend_login) if target.frontend_login else None
        user = FrontendUser(
            name="a",
            frontend_url=target.frontend_url or "",
            token=target.resolved_token(),
            headers=dict(target.user_headers_a),
        )
        return cls(
            target,
            resolve_mode(target.chatkit_script),
            observers=list(observers or []),
            login=login,
            user=user,
        )

    @property
    def secrets(self) -> list[str]:
        """Every secret of the target, the session options and what a login hook typed."""
        return secrets_of(self.target, self.user.secrets if self.user else [])

    async def browser(self) -> Browser:
        if self._browser is None:
            from playwright.async_api import async_playwright

            from harness.browser.launch import launch_chromium

            self._pw = await async_playwright().start()
            self._browser = await launch_chromium(self._pw)
        return self._browser

    async def record(self, *, logged_in: bool) -> PageRecord:
        """The page with the test user's session (two turns) or with none (one turn)."""
        if logged_in not in self._records:
            assert self.target.frontend_url
            opts = RecordOptions(
                frontend_url=self.target.frontend_url,
                script_mode=self.mode,
                storage_state=storage_state(self.target) if logged_in else None,
                login=self.login if logged_in else None,
                user=self.user,
                open_selectors=self.target.frontend_open,
                timeout=self.target.timeout,
                turns=2 if logged_in else 1,
                workdir=self.workdir,
                logged_in=logged_in,
            )
            self._records[logged_in] = await record_page(await self.browser(), opts)
        return self._records[logged_in]

    async def auth_needs(self) -> dict[str, AuthProbe]:
        """What each endpoint of the logged-in recording needs (probed once)."""
        if self._auth is None:
            rec = await self.record(logged_in=True)
            self._auth = await probe_auth(self.target, rec, self.observers)
        return self._auth

    async def proxy_stream(self, req: NetRequest) -> ProxyProbe:
        """One reply through the route ``req`` went to, and the same from the backend."""
        if req.endpoint not in self._proxy:
            self._proxy[req.endpoint] = await probe_proxy(self.target, req, self.observers)
        return self._proxy[req.endpoint]

    def routed(self, rec: PageRecord) -> list[NetRequest]:
        """ChatKit requests that went to a route of the page's own rather than to the backend."""
        backends = {endpoint_of(u).rstrip("/") for u in (self.target.url, *self.backend_endpoints)}
        return [r for r in rec.chatkit_requests if r.endpoint.rstrip("/") not in backends]

    async def record_all(self) -> None:
        """Every recording the browser and proxy checks may judge, taken now: the logged-in
        page, what its endpoints need, one reply through its proxy route and, when the page
        chatted with a session, the page without one. The checks then only read them."""
        rec = await self.record(logged_in=True)
        await self.auth_needs()
        routed = self.routed(rec)
        if routed:
            await self.proxy_stream(routed[0])
        chatted = any(r.status is not None and 200 <= r.status < 300 for r in rec.chatkit_requests)
        if rec.element_present and chatted and self.target.frontend_session:
            await self.record(logged_in=False)

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._pw is not None:
            await self._pw.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.served is not None:
            self.served.stop()
            self.served = None


ARTIFACT_NAMES = {".png": "screenshot.png", ".zip": "trace.zip", ".har": "page.har"}


def save_artifacts(record: PageRecord, folder: Path, secrets: list[str]) -> list[Path]:
    """Copy the recording's trace, HAR and screenshot into ``folder``, secrets masked."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "" if record.logged_in else "logged-out-"
    saved = []
    for src in record.artifacts:
        if not src.is_file():
            continue
        dest = folder / (prefix + ARTIFACT_NAMES.get(src.suffix, src.name))
        if src.suffix == ".zip":
            _copy_zip_redacted(src, dest, secrets)
        elif src.suffix == ".har":
            text = src.read_text(encoding="utf-8", errors="replace")
            dest.write_text(redact_text(text, secrets), encoding="utf-8")
        else:
            shutil.copyfile(src, dest)
        saved.append(dest)
    return saved


def _copy_zip_redacted(src: Path, dest: Path, secrets: list[str]) -> None:
    """A Playwright trace holds request headers and bodies: mask every text entry."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                zout.writestr(info, data)
                continue
            zout.writestr(info, redact_text(text, secrets).encode("utf-8"))


# -- the recordings as a probe of the record phase ---------------------------------------------

SESSION_KEY = "browser-session"


def shared_session(ctx: ProbeContext) -> BrowserSession:
    """The run's one :class:`BrowserSession` (with ``--frontend-url bundled:PAGE``, the page
    served in front of the target first); the plugin's teardown closes it (:func:`close_shared`)."""
    existing = ctx.extras.get(SESSION_KEY)
    if isinstance(existing, BrowserSession):
        return existing
    from dataclasses import replace

    from harness.browser.fixture_server import BundledPage, bundled_page
    from harness.report.artifacts import exchange_observers

    target = ctx.target
    config = ctx.extras.get("config")
    observers = exchange_observers(config) if config is not None else []
    served = None
    page = bundled_page(target.frontend_url)
    if page is not None:
        jwks = ctx.issuer.jwks_url if ctx.issuer is not None else ""
        served = BundledPage(target.url, page, jwks or target.deployment_jwks or "").start()
        target = replace(target, frontend_url=served.url)
    try:
        session = BrowserSession.for_target(target, observers)
    except BaseException:
        if served is not None:
            served.stop()
        raise
    if served is not None:
        session.backend_endpoints = served.backend_endpoints
        session.served = served
    ctx.extras[SESSION_KEY] = session
    return session


@probe("browser-recordings")
async def browser_recordings(ctx: ProbeContext) -> BrowserSession | None:
    """The page with and without the session, its endpoints' needs and one proxied reply.

    A probe of the record phase, so the timed (quiet) probes wait for it: a cold start that
    restarts a --start backend never cuts a recording short, and Chromium's work never skews
    a timing verdict.
    """
    if not ctx.target.frontend_url:
        return None  # no page: the checks skip, asking for --frontend-url
    session = shared_session(ctx)
    await session.record_all()
    return session
