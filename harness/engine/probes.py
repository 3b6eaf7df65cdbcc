"""The probe registry: named async units that do the suite's network I/O and return evidence.

A probe talks to the target and hands back what it saw (exchanges with raw bytes and arrival
times, parsed events, what the model stub received); it never judges. Checks name the probes
they judge in their ``@check(probes=...)`` declaration, and the engine starts every probe the
selected checks need as soon as the session starts, one shared run per probe.

Probes that measure time are *quiet*: they run only once every other probe has finished, one
at a time, so concurrency never skews a timing verdict.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from harness.engine.context import ProbeContext

ProbeFn = Callable[["ProbeContext"], Awaitable[Any]]
F = TypeVar("F", bound=ProbeFn)


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    fn: ProbeFn
    quiet: bool
    doc: str
    # Started before the other planned probes: every check waits on it (the first turn).
    early: bool = False
    # A long chain of turns one after another: started before the short probes, so that it
    # does not begin last and end the record phase alone (longest first).
    long: bool = False
    # It may restart the target (cold start): a quiet probe that runs after every other
    # quiet probe, so no probe reads a thread an in-memory store lost in the restart.
    restarts: bool = False


class ProbeRegistryError(Exception):
    """A probe was declared twice, or a check names a probe that does not exist."""


_PROBES: dict[str, ProbeSpec] = {}


def probe(
    name: str,
    *,
    quiet: bool = False,
    early: bool = False,
    long: bool = False,
    restarts: bool = False,
) -> Callable[[F], F]:
    """Register ``fn(ctx) -> evidence`` as the probe ``name``."""

    def decorate(fn: F) -> F:
        existing = _PROBES.get(name)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ProbeRegistryError(f"probe {name!r} is declared twice")
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _PROBES[name] = ProbeSpec(name, fn, quiet or restarts, doc, early, long, restarts)
        return fn

    return decorate


def load_probes() -> dict[str, ProbeSpec]:
    """Import every module of ``harness.probes`` (each registers its probes) and return them."""
    import harness.probes

    for info in pkgutil.iter_modules(harness.probes.__path__, "harness.probes."):
        importlib.import_module(info.name)
    return dict(_PROBES)


def get_probe(name: str) -> ProbeSpec:
    probes = _PROBES if name in _PROBES else load_probes()
    try:
        return probes[name]
    except KeyError:
        raise ProbeRegistryError(f"no probe named {name!r}") from None
