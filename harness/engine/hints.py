"""Hints that name options the user can actually type, in the interface the run came from.

A skip or blocked reason says how to enable a check ("give a second user: --token-b"). Under
the CLI (and scripts/verify.py) that option is ``--token-b``; under plain pytest it is
``--chatkit-token-b``; a run configured through the environment is fixed by editing
``CHATKIT_TOKEN_B``. The CLI tells the plugin which interface it is (``--chatkit-interface
cli``, added by :func:`harness.runner.pytest_args`); the plugin records it here when pytest
is configured, so checks, which judge without any fixture, can render their hints.

An unknown option name raises ``KeyError``: a hint can never name an option that does not
exist.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

CLI = "cli"
PYTEST = "pytest"
INTERFACES = (CLI, PYTEST)

# Options that are not target settings: (CLI spelling, pytest spelling).
_OTHER: dict[str, tuple[str, str]] = {
    "header": ("-H", "--chatkit-header"),
    "select": ("--select", "--chatkit-select"),
    "exclude": ("--exclude", "--chatkit-exclude"),
    "fault": ("--fault", "--chatkit-fault"),
    "strict": ("--strict", "--chatkit-strict"),
}

_current = PYTEST


def configure(config: Any) -> None:
    """Record the interface of this pytest run (``--chatkit-interface``, default pytest)."""
    global _current
    value = config.getoption("chatkit_interface", default=None)
    _current = value if value in INTERFACES else PYTEST


def current() -> str:
    return _current


def _target_options() -> Mapping[str, tuple[str, str]]:
    from harness.plugin import TARGET_OPTIONS  # the plugin imports this module

    return TARGET_OPTIONS


def env_name(name: str) -> str | None:
    """The environment variable of target option ``name`` (``CHATKIT_TOKEN_B``), else None."""
    if name == "header":
        return "CHATKIT_HEADERS"
    table = _target_options()
    return f"CHATKIT_{table[name][0].upper()}" if name in table else None


def flag(name: str, interface: str | None = None) -> str:
    """The option ``name`` as the interface spells it: ``--token-b`` or ``--chatkit-token-b``."""
    pytest_style = (interface or _current) == PYTEST
    if name in _OTHER:
        return _OTHER[name][1 if pytest_style else 0]
    if name not in _target_options():
        raise KeyError(f"no option named {name!r}")
    return f"--chatkit-{name}" if pytest_style else f"--{name}"


def _configured_by_env(env: Mapping[str, str]) -> bool:
    fields = {f.upper() for f, _ in _target_options().values()}
    return any(k.startswith("CHATKIT_") and k[8:] in fields and v for k, v in env.items())


def option(
    name: str,
    metavar: str = "",
    *,
    interface: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """``--token-b`` (CLI) / ``--chatkit-token-b`` (pytest), with ``metavar`` after it, and
    "or CHATKIT_TOKEN_B" when that variable is set or the run is configured by environment."""
    text = flag(name, interface)
    if metavar:
        text += f" {metavar}"
    env = os.environ if env is None else env
    var = env_name(name)
    if var is not None and (env.get(var) or _configured_by_env(env)):
        text += f" (or {var})"
    return text
