"""What the harness points at: the target description and where its settings come from.

Precedence, highest first: CLI flags (or pytest ``--chatkit-*`` options), ``CHATKIT_*``
environment variables, ``[tool.chatkit-harness]`` in the ``pyproject.toml`` of the current
directory. Every field has one name used in all three places (``token_command`` is
``--token-command``, ``CHATKIT_TOKEN_COMMAND`` and ``token-command``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

ContextMode = Literal["body", "headers", "both"]


class ConfigError(Exception):
    """The harness was configured wrongly; the message is one line for the user."""


@dataclass(frozen=True)
class Identity:
    """How one user authenticates: the headers every request of theirs carries."""

    name: str
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str | None = None  # the bearer token, kept apart so it can be redacted


@dataclass(frozen=True)
class Target:
    url: str = ""
    token: str | None = None
    token_command: str | None = None
    token_b: str | None = None  # a second user, for isolation and spoofing checks
    cookie: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    user_header: str = "X-User-ID"  # the plain identity header some deployments trust
    origin_url: str | None = None  # the same backend without the proxy in front
    frontend_url: str | None = None
    # Browser checks: where the ChatKit script comes from, and the session the page needs
    # ('NAME=VALUE', '{token}' stands for the test user's token; set as an httpOnly cookie).
    chatkit_script: str = "auto"  # standin, cdn or auto
    frontend_cookie: str | None = None
    # The page's session as real apps keep it (docs/browser.md): a Playwright storage-state
    # file (cookies and localStorage per origin), 'KEY=VALUE' localStorage entries of the
    # page's origin ('{token}' as above), or a Python file whose async login(page, user) signs
    # in through the app's own form. frontend_open: selectors clicked, in order, to open a chat
    # that renders only on demand (a floating button).
    frontend_storage_state: str | None = None
    frontend_local_storage: tuple[str, ...] = ()
    frontend_login: str | None = None
    frontend_open: tuple[str, ...] = ()
    context_mode: ContextMode = "body"
    timeout: float = 30.0
    ttfb_threshold: float = 2.0
    cold_start_threshold: float = 3.0
    start_command: str | None = None
    repeat: int = 1
    # The record phase: probes in flight at once (1 = strict sequence; None: 8 against a
    # deployment, which may limit one user's parallel streams, 16 against the bundled server,
    # which is built for it), and how long a read that verifies an earlier write may poll
    # before the data counts as missing.
    concurrency: int | None = None
    settle: float = 2.0
    bundled: bool = False  # the harness started the bundled reference server itself
    # The test issuer (docs/auth.md). A port makes it serve on 127.0.0.1:PORT for an external
    # deployment that trusts it; the rest shape its tokens like the deployment expects.
    issuer_port: int | None = None
    issuer_iss: str | None = None
    issuer_aud: str | None = None
    issuer_kid: str | None = None
    jwks_path: str | None = None
    issuer_claims: Mapping[str, Any] = field(default_factory=dict)
    issuer_key: str | None = None  # PEM file keeping the signing key stable across runs
    # Per-user header sets, for deployments that identify the user by plain headers.
    user_headers_a: Mapping[str, str] = field(default_factory=dict)
    user_headers_b: Mapping[str, str] = field(default_factory=dict)
    deployment_jwks: str | None = None  # the deployment's own JWKS URL (public keys only)
    # Glass-box mode: the harness's model stub stands in for the model and records its input.
    # model_stub starts one and points the target the harness starts at it; model_stub_url
    # reads a stub the user runs (`chatkit-harness model-stub --port P`).
    model_stub: bool = False
    model_stub_url: str | None = None
    # Sent as params.input.inference_options of every user message (the composer's model
    # picker and tool choice): some backends load history or tools only under some of them.
    inference_options: Mapping[str, Any] = field(default_factory=dict)
    # Prompts that make the deployment show an app-specific feature (a widget only its own
    # tool renders): feature name -> user message, e.g. widgets -> "show me the weather".
    triggers: Mapping[str, str] = field(default_factory=dict)
    # The MCP stub records what every tool call carries (docs/mcp.md). mcp_stub starts one and
    # points the target the harness starts at it (MCP_SERVER_URL); mcp_stub_url reads a stub
    # the user runs (`chatkit-harness mcp-stub --port P`).
    mcp_stub: bool = False
    mcp_stub_url: str | None = None

    def __post_init__(self) -> None:
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"target URL {self.url!r} is not an http(s) URL")
        if self.context_mode not in ("body", "headers", "both"):
            raise ConfigError(f"context mode {self.context_mode!r} is not body, headers or both")
        if self.timeout <= 0:
            raise ConfigError("timeout must be positive")
        if self.repeat < 1:
            raise ConfigError("repeat must be at least 1")
        if self.concurrency is not None and self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if self.settle < 0:
            raise ConfigError("settle must be 0 or more seconds")
        if self.issuer_port is not None and not 0 <= self.issuer_port <= 65535:
            raise ConfigError(f"issuer port {self.issuer_port} is not a TCP port")
        self._check_model_stub()
        self._check_mcp_stub()
        self._check_frontend_session()

    def _check_frontend_session(self) -> None:
        for entry in self.frontend_local_storage:
            key, sep, _ = entry.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"frontend-local-storage {entry!r} is not KEY=VALUE")
        for name, path in (
            ("frontend-storage-state", self.frontend_storage_state),
            ("frontend-login", self.frontend_login),
        ):
            if path and not Path(path).is_file():
                raise ConfigError(f"{name} {path!r} is not a file")
        if any(not s.strip() for s in self.frontend_open):
            raise ConfigError("frontend-open needs a CSS selector, got an empty one")

    @property
    def frontend_session(self) -> bool:
        """Some way of giving the page a logged-in session was configured."""
        return bool(
            self.frontend_cookie
            or self.frontend_storage_state
            or self.frontend_local_storage
            or self.frontend_login
        )

    def _check_model_stub(self) -> None:
        if self.model_stub_url:
            parts = urlsplit(self.model_stub_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"model stub URL {self.model_stub_url!r} is not an http(s) URL")
            if self.model_stub:
                raise ConfigError(
                    "pass --model-stub (the harness runs the stub) or --model-stub-url (you "
                    "run it), not both"
                )
        if self.model_stub and self.url and not self.start_command and not self.bundled:
            raise ConfigError(
                "--model-stub needs a target the harness starts (no --url, or --start); for a "
                "deployment you run, start `chatkit-harness model-stub --port P`, give the "
                "deployment OPENAI_BASE_URL=http://127.0.0.1:P/v1 and pass --model-stub-url "
                "http://127.0.0.1:P/v1"
            )

    def _check_mcp_stub(self) -> None:
        if self.mcp_stub_url:
            parts = urlsplit(self.mcp_stub_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"MCP stub URL {self.mcp_stub_url!r} is not an http(s) URL")
            if self.mcp_stub:
                raise ConfigError(
                    "pass --mcp-stub (the harness runs the MCP stub) or --mcp-stub-url (you run "
                    "it), not both"
                )
        if not self.mcp_stub:
            return
        if self.url and not self.start_command and not self.bundled:
            raise ConfigError(
                "--mcp-stub needs a target the harness starts (no --url, or --start); for a "
                "deployment you run, start `chatkit-harness mcp-stub --port P`, set the "
                "deployment's MCP server URL to http://127.0.0.1:P/mcp and pass --mcp-stub-url "
                "http://127.0.0.1:P/mcp"
            )
        if not self.url and not self.glass_box:
            raise ConfigError(
                "--mcp-stub with the bundled reference server needs --model-stub too: its "
                "offline model never calls tools"
            )

    @property
    def glass_box(self) -> bool:
        """A model stub records what the target sends its model."""
        return self.model_stub or bool(self.model_stub_url)

    def resolved_token(self) -> str | None:
        if self.token or not self.token_command:
            return self.token
        try:
            out = subprocess.run(
                shlex.split(self.token_command),
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"token command failed: {type(exc).__name__}") from None
        return out.stdout.strip() or None

    def identity(self, which: Literal["a", "b"] = "a") -> Identity | None:
        token = self.resolved_token() if which == "a" else self.token_b
        user_headers = self.user_headers_a if which == "a" else self.user_headers_b
        if token is None and which == "b" and not user_headers:
            return None
        headers: dict[str, str] = dict(user_headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.cookie and which == "a":
            headers["Cookie"] = self.cookie
        return Identity(name=which, headers=headers, token=token)

    def secrets(self) -> list[str]:
        """Every value that must never appear unredacted in output."""
        vals = [self.token, self.token_b, self.cookie, self.frontend_cookie]
        # A session planted in localStorage (short values such as a theme are no secrets).
        planted = [e.partition("=")[2] for e in self.frontend_local_storage]
        vals += [v for v in planted if len(v) >= 8]
        for hdrs in (self.headers, self.user_headers_a, self.user_headers_b):
            vals += [v for k, v in hdrs.items() if k.lower() in _SECRET_HEADERS]
        return [v for v in vals if v]


_SECRET_HEADERS = {"authorization", "cookie", "x-api-key", "api-key", "proxy-authorization"}

_FLOAT = {"timeout", "ttfb_threshold", "cold_start_threshold", "settle"}
_INT = {"repeat", "issuer_port", "concurrency"}
_BOOL = {"model_stub", "mcp_stub"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _coerce(name: str, value: Any) -> Any:
    try:
        if name in _FLOAT:
            return float(value)
        if name in _INT:
            return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name.replace('_', '-')} must be a number, got {value!r}") from None
    if name in _BOOL and not isinstance(value, bool):
        if str(value).strip().lower() not in _TRUE | _FALSE:
            raise ConfigError(f"{name.replace('_', '-')} must be true or false, got {value!r}")
        return str(value).strip().lower() in _TRUE
    if name in ("headers", "user_headers_a", "user_headers_b"):
        return parse_headers(value)
    if name == "issuer_claims":
        return parse_claims(value)
    if name == "inference_options":
        return parse_json_object(value, "inference options")
    if name in _REPEATED:
        return parse_repeated(value)
    if name == "triggers":
        return parse_triggers(value)
    return value


# Settings given once per item (repeatable flags, a TOML array, or lines of one variable).
_REPEATED = {"frontend_local_storage", "frontend_open"}


def parse_repeated(value: Any) -> tuple[str, ...]:
    """A list of strings from a list (flags, TOML) or a string holding one item per line."""
    items = value.splitlines() if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())


def parse_triggers(value: Any) -> dict[str, str]:
    """Triggers from a mapping (pyproject table) or 'feature=prompt' strings (repeatable)."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    items = [value] if isinstance(value, str) else list(value)
    out: dict[str, str] = {}
    for item in items:
        name, sep, prompt = str(item).partition("=")
        if not sep or not name.strip() or not prompt.strip():
            raise ConfigError(f"trigger {item!r} is not of the form 'feature=prompt'")
        out[name.strip()] = prompt.strip()
    return out


def parse_json_object(value: Any, what: str) -> dict[str, Any]:
    """A mapping (pyproject table) or a JSON object string."""
    if isinstance(value, Mapping):
        return dict(value)
    try:
        data = json.loads(str(value))
    except ValueError:
        raise ConfigError(f"{what} must be a JSON object, got {value!r}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object, got {value!r}")
    return data


def parse_claims(value: Any) -> dict[str, Any]:
    """Extra token claims: a mapping (pyproject table) or a JSON object string."""
    return parse_json_object(value, "issuer claims")


def parse_headers(value: Any) -> dict[str, str]:
    """Headers from a mapping, a list of 'Name: value', or a string of them separated by ';'."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    items = value.split(";") if isinstance(value, str) else list(value)
    out: dict[str, str] = {}
    for item in items:
        if not str(item).strip():
            continue
        name, sep, val = str(item).partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"header {item!r} is not of the form 'Name: value'")
        out[name.strip()] = val.strip()
    return out


def pyproject_settings(path: Path | None = None) -> dict[str, Any]:
    """``[tool.chatkit-harness]`` of ``path`` (default: ./pyproject.toml), keys as fields."""
    return _from_pyproject(path or Path.cwd() / "pyproject.toml")


def _from_pyproject(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    section = data.get("tool", {}).get("chatkit-harness", {})
    # [tool.chatkit-harness.load] holds the load subcommand's own settings, not the target's.
    return {k.replace("-", "_"): v for k, v in section.items() if k != "load"}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(Target):
        key = "CHATKIT_" + f.name.upper()
        if key in env and env[key] != "":
            out[f.name] = env[key]
    return out


DEPLOYMENT_CONCURRENCY = 8
BUNDLED_CONCURRENCY = 16


def load_target(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    pyproject: Path | None = None,
) -> Target:
    """Merge the three sources; ``flags`` holds only what the user actually passed."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    merged.update(_from_pyproject(pyproject or Path.cwd() / "pyproject.toml"))
    merged.update(_from_env(env))
    merged.update({k: v for k, v in flags.items() if v is not None})
    known = {f.name for f in fields(Target)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0].replace('_', '-')!r}")
    return Target(**{k: _coerce(k, v) for k, v in merged.items()})


def with_url(target: Target, url: str, **changes: Any) -> Target:
    return replace(target, url=url, **changes)
