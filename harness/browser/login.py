"""The page's session as real apps keep it: storage state, localStorage entries, a login hook.

A page may keep its session in an httpOnly cookie (``--frontend-cookie``), in ``localStorage``
(an ID token its own code reads), in whatever a sign-in leaves behind (``--frontend-storage-state``,
a file written by Playwright, e.g. ``playwright codegen --save-storage=state.json URL``), or only
get one by signing in through its form (``--frontend-login login.py``). All of them end up in
the one browser context the logged-in recording uses; the logged-out recording gets none.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.target.config import ConfigError, Target

TOKEN_PLACEHOLDER = "{token}"
LoginHook = Callable[[Any, "FrontendUser"], Awaitable[None]]


@dataclass
class FrontendUser:
    """What a login hook knows about the test user.

    ``token`` is the test user's bearer token (``--token`` or the test issuer's), ``headers``
    the identity headers given with ``--user-headers-a``. A hook that types a password calls
    ``redact(password)`` so saved traces and reports mask it.
    """

    name: str
    frontend_url: str
    token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def redact(self, value: str) -> str:
        if value:
            self.secrets.append(value)
        return value


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _token(target: Target, what: str) -> str:
    token = target.resolved_token() or ""
    if not token:
        raise ConfigError(f"{what} uses {{token}} but no token is configured")
    return token


def session_cookies(target: Target) -> list[dict[str, Any]]:
    """The page's session: ``frontend_cookie`` as httpOnly cookies on the frontend's origin."""
    if not target.frontend_cookie or not target.frontend_url:
        return []
    token = _token(target, "frontend-cookie") if TOKEN_PLACEHOLDER in target.frontend_cookie else ""
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


def local_storage(target: Target) -> list[dict[str, str]]:
    """``frontend_local_storage`` as Playwright's ``[{name, value}]``, ``{token}`` filled in."""
    out = []
    for entry in target.frontend_local_storage:
        key, _, value = entry.partition("=")
        if TOKEN_PLACEHOLDER in value:
            value = value.replace(TOKEN_PLACEHOLDER, _token(target, "frontend-local-storage"))
        out.append({"name": key.strip(), "value": value})
    return out


def read_storage_state(path: str) -> dict[str, Any]:
    """A Playwright storage-state file: ``{"cookies": [...], "origins": [...]}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"frontend-storage-state {path!r}: {exc}") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("cookies", []), list)
        or not isinstance(data.get("origins", []), list)
    ):
        raise ConfigError(
            f"frontend-storage-state {path!r} is not a Playwright storage state "
            "({cookies: [...], origins: [...]})"
        )
    return {"cookies": list(data.get("cookies", [])), "origins": list(data.get("origins", []))}


def storage_state(target: Target) -> dict[str, Any] | None:
    """The logged-in context's storage: the file, then the cookie and localStorage options.

    The options win over the file where both name the same cookie or key.
    """
    if not target.frontend_url:
        return None
    state: dict[str, Any] = (
        read_storage_state(target.frontend_storage_state)
        if target.frontend_storage_state
        else {"cookies": [], "origins": []}
    )
    cookies = session_cookies(target)
    if cookies:
        ours = {(c["name"], c["domain"]) for c in cookies}
        state["cookies"] = [
            c for c in state["cookies"] if (c.get("name"), c.get("domain")) not in ours
        ] + cookies
    entries = local_storage(target)
    if entries:
        origin = origin_of(target.frontend_url)
        existing = next((o for o in state["origins"] if o.get("origin") == origin), None)
        if existing is None:
            existing = {"origin": origin, "localStorage": []}
            state["origins"].append(existing)
        names = {e["name"] for e in entries}
        kept = [e for e in existing.get("localStorage", []) if e.get("name") not in names]
        existing["localStorage"] = kept + entries
    if not state["cookies"] and not state["origins"]:
        return None
    return state


def state_secrets(state: Mapping[str, Any] | None) -> list[str]:
    """Cookie and localStorage values of a storage state long enough to be credentials."""
    if not state:
        return []
    values = [str(c.get("value", "")) for c in state.get("cookies", [])]
    for origin in state.get("origins", []):
        values += [str(e.get("value", "")) for e in origin.get("localStorage", [])]
    # Short values (a theme, a flag) are not secrets, and masking them would mangle output.
    return [v for v in values if len(v) >= 8]


def load_login_hook(path: str) -> LoginHook:
    """The ``login`` coroutine function of the Python file at ``path``."""
    spec = importlib.util.spec_from_file_location("chatkit_frontend_login", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"frontend-login {path!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            f"frontend-login {path!r} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    hook = getattr(module, "login", None)
    if not inspect.iscoroutinefunction(hook):
        raise ConfigError(f"frontend-login {path!r} defines no 'async def login(page, user)'")
    return hook
