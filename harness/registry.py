"""The check catalogue: one declaration per check, with a stable dotted id.

A check is a pytest test function in ``scenarios/`` wrapped by :func:`check`. The decorator
records the catalogue entry (id, title, level, pitfall, fix, ref) and marks the test so the
plugin can map pytest's outcome onto the harness's outcome model. The id is the name used
everywhere: CLI selection, JUnit testcase name, JSON key, docs heading.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pytest

F = TypeVar("F", bound=Callable[..., Any])

_ID_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")


class Level(enum.StrEnum):
    """How much a broken check matters (RFC 2119 words, as the protocol notes use them)."""

    MUST = "MUST"  # a failure fails the run
    SHOULD = "SHOULD"  # a failure warns; it fails the run only under --strict


MUST = Level.MUST
SHOULD = Level.SHOULD


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    level: Level
    pitfall: str
    fix: str
    ref: str
    module: str = ""
    function: str = ""
    # The probes whose evidence this check judges (harness/probes/); started at session start.
    probes: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]


class RegistryError(Exception):
    """A check was declared wrongly (duplicate id, bad id, missing catalogue text)."""


_REGISTRY: dict[str, CheckSpec] = {}
MARKER = "chatkit_check"


def _forget_unloaded() -> None:
    """Drop the checks whose module is no longer imported.

    The registry is process-global and outlives the modules that fill it. An in-process
    nested pytest run (pytester.runpytest) imports its test files, whose checks register
    here, then removes those modules from sys.modules when it ends; their checks stayed
    behind, so the outer process's catalogue (docs/checks.md, ``list``, the fault matrix)
    grew the nested run's inline checks. A check lives as long as its module is imported.
    """
    for check_id in [i for i, s in _REGISTRY.items() if s.module not in sys.modules]:
        del _REGISTRY[check_id]


def check(
    *,
    id: str,
    title: str,
    level: Level = MUST,
    pitfall: str,
    fix: str,
    ref: str,
    probes: Sequence[str] = (),
) -> Callable[[F], F]:
    """Declare ``func`` as the check ``id``. Duplicate ids are refused.

    ``probes`` names the evidence the check judges; the check receives it through the
    ``evidence`` fixture (``evidence["conversation"]``) and does no I/O of its own.
    """

    def decorate(func: F) -> F:
        if not _ID_RE.match(id):
            raise RegistryError(
                f"check id {id!r} is not a dotted lowercase id like 'sse.unbuffered'"
            )
        for field, value in (("title", title), ("pitfall", pitfall), ("fix", fix), ("ref", ref)):
            if not value.strip():
                raise RegistryError(f"check {id!r} has an empty {field}")
        spec = CheckSpec(
            id,
            title,
            Level(level),
            pitfall,
            fix,
            ref,
            func.__module__,
            func.__name__,
            tuple(probes),
        )
        _forget_unloaded()  # an unloaded module's id is free to declare again
        existing = _REGISTRY.get(id)
        if existing is not None and (existing.module, existing.function) != (
            spec.module,
            spec.function,
        ):
            raise RegistryError(
                f"check id {id!r} is declared twice: {existing.module}.{existing.function} "
                f"and {spec.module}.{spec.function}"
            )
        _REGISTRY[id] = spec
        marked: Any = pytest.mark.chatkit_check(spec)(func)
        if inspect.iscoroutinefunction(func):
            # Every check shares one event loop with the session fixtures (the recorded
            # conversation, the client), whatever the user's own asyncio settings are.
            marked = pytest.mark.asyncio(loop_scope="session")(marked)
        return cast(F, marked)

    return decorate


def spec_of(item: pytest.Item) -> CheckSpec | None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    spec = marker.args[0]
    assert isinstance(spec, CheckSpec)
    return spec


def load_catalogue() -> dict[str, CheckSpec]:
    """Import every scenario module and return the catalogue, sorted by id."""
    import scenarios

    for info in pkgutil.iter_modules(scenarios.__path__, "scenarios."):
        if info.name.rsplit(".", 1)[-1].startswith("test_"):
            importlib.import_module(info.name)
    _forget_unloaded()
    return dict(sorted(_REGISTRY.items()))


def matches(check_id: str, select: list[str], exclude: list[str]) -> bool:
    """Glob selection shared by the CLI (--select) and pytest (--chatkit-select)."""
    from fnmatch import fnmatchcase

    if select and not any(fnmatchcase(check_id, pat) for pat in select):
        return False
    return not any(fnmatchcase(check_id, pat) for pat in exclude)
