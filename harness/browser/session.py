"""One Chromium per run, the page recordings the checks share, and their failure artifacts."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.browser.recorder import PageRecord, RecordOptions, record_page
from harness.browser.standin import ScriptMode, resolve_mode
from harness.report.redact import redact_text
from harness.target.config import ConfigError, Target

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

TOKEN_PLACEHOLDER = "{token}"


def session_cookies(target: Target) -> list[dict[str, Any]]:
    """The page's session: ``frontend_cookie`` as httpOnly cookies on the frontend's origin."""
    if not target.frontend_cookie or not target.frontend_url:
        return []
    token = target.resolved_token() or ""
    if TOKEN_PLACEHOLDER in target.frontend_cookie and not token:
        raise ConfigError("frontend-cookie uses {token} but no token is configured")
    parts = urlsplit(target.frontend_url)
    cookies = []
    for part in target.frontend_cookie.split(";"):
        name, sep, value = part.strip().partition("=")
        if not sep or not name:
            raise ConfigError(f"frontend-cookie {part.strip()!r} is not NAME=VALUE")
        cookies.append(
            {
                "name": name,
                "value": value.replace(TOKEN_PLACEHOLDER, token),
                # The whole site's session, not just the page's folder.
                "domain": parts.hostname or "",
                "path": "/",
                "secure": parts.scheme == "https",
                "httpOnly": True,
                "sameSite": "Lax",
            }
        )
    return cookies


def cookie_header(target: Target) -> str:
    """The same session as a ``Cookie`` header, for replaying requests outside the browser."""
    return "; ".join(f"{c['name']}={c['value']}" for c in session_cookies(target))


def secrets_of(target: Target) -> list[str]:
    out = list(target.secrets())
    token = target.resolved_token()
    if token:
        out.append(token)
    out += [str(c["value"]) for c in session_cookies(target)]
    return [s for s in out if s]


@dataclass
class BrowserSession:
    """Starts Playwright and Chromium on first use; records each page variant once."""

    target: Target
    mode: ScriptMode = "standin"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chatkit-pw-")))
    _pw: Playwright | None = None
    _browser: Browser | None = None
    _records: dict[bool, PageRecord] = field(default_factory=dict)

    @classmethod
    def for_target(cls, target: Target) -> BrowserSession:
        return cls(target, resolve_mode(target.chatkit_script))

    async def browser(self) -> Browser:
        if self._browser is None:
            from playwright.async_api import async_playwright

            from harness.browser.launch import launch_chromium

            self._pw = await async_playwright().start()
            self._browser = await launch_chromium(self._pw)
        return self._browser

    async def record(self, *, logged_in: bool) -> PageRecord:
        """The page as the logged-in test user (two turns) or with no session (one turn)."""
        if logged_in not in self._records:
            assert self.target.frontend_url
            opts = RecordOptions(
                frontend_url=self.target.frontend_url,
                script_mode=self.mode,
                cookies=session_cookies(self.target) if logged_in else [],
                timeout=self.target.timeout,
                turns=2 if logged_in else 1,
                workdir=self.workdir,
                logged_in=logged_in,
            )
            self._records[logged_in] = await record_page(await self.browser(), opts)
        return self._records[logged_in]

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._pw is not None:
            await self._pw.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


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
