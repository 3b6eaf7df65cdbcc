"""Where the ChatKit script comes from: OpenAI's CDN, or the packaged stand-in element.

A page written for the real script keeps its ``<script src=CDN_URL>``; with ``standin`` the
browser context answers that exact URL with ``static/chatkit-standin.js`` so the page runs
unchanged offline. Any other URL (a wrong one, say) is left alone and fails as it would for a
user.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING, Literal

from harness.target.config import ConfigError

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Route

CDN_URL = "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js"
ScriptMode = Literal["standin", "cdn"]
MODES = ("standin", "cdn", "auto")


@functools.cache
def standin_source() -> str:
    return (
        resources.files("harness.browser")
        .joinpath("static/chatkit-standin.js")
        .read_text(encoding="utf-8")
    )


def resolve_mode(setting: str, *, probe_timeout: float = 3.0) -> ScriptMode:
    """``auto`` means the real script when the CDN answers, else the stand-in."""
    if setting not in MODES:
        raise ConfigError(f"chatkit script {setting!r} is not standin, cdn or auto")
    if setting != "auto":
        return setting  # type: ignore[return-value]
    return "cdn" if cdn_reachable(probe_timeout) else "standin"


@functools.cache
def cdn_reachable(timeout: float = 3.0) -> bool:
    import httpx

    try:
        resp = httpx.head(CDN_URL, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError:
        return False
    return resp.status_code < 400


async def install(context: BrowserContext, mode: ScriptMode) -> None:
    """Answer the CDN URL with the stand-in (query strings included) when ``mode`` says so."""
    if mode != "standin":
        return
    body = standin_source()

    async def answer(route: Route) -> None:
        await route.fulfill(
            status=200,
            content_type="application/javascript; charset=utf-8",
            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"},
            body=body,
        )

    await context.route(CDN_URL, answer)
    await context.route(CDN_URL + "?*", answer)
