"""Scheduling the record phase: every needed probe started at once, bounded, quiet ones last.

One :class:`Engine` per session. ``start`` launches the probes the selected checks declared as
asyncio tasks on the session loop; ``get`` awaits one (starting it if nobody declared it).
Concurrency is bounded by a semaphore (``--concurrency``; 1 reproduces strict sequence).
Quiet probes (timing) wait until every other started probe is done and then run one at a
time with nothing else in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.engine.context import ProbeContext
from harness.engine.probes import ProbeSpec, get_probe

# True inside a probe that holds a concurrency slot: awaiting another probe gives it back
# meanwhile, so probes waiting on probes can never hold every slot and starve the plan.
_HOLDING: contextvars.ContextVar[bool] = contextvars.ContextVar("holding", default=False)


@dataclass
class ProbeRun:
    """When a probe ran and how long it took (shown by --timings and the JSON report)."""

    name: str
    quiet: bool
    started: float = 0.0
    finished: float = 0.0
    error: str = ""


@dataclass
class Engine:
    ctx: ProbeContext
    concurrency: int = 8
    runs: dict[str, ProbeRun] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    _slots: asyncio.Semaphore | None = None
    _quiet_lock: asyncio.Lock | None = None

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(max(1, self.concurrency))
        self._quiet_lock = asyncio.Lock()
        self.ctx.engine = self

    # -- the plan ---------------------------------------------------------------------------

    def start(self, names: Iterable[str]) -> None:
        """Start ``names`` (and nothing twice); quiet probes queue behind the others."""
        for name in sorted(set(names), key=lambda n: (get_probe(n).quiet, n)):
            self._task(name)

    async def get(self, name: str) -> Any:
        """The evidence of probe ``name``; raises what the probe raised (a harness error).

        Rules that keep the plan deadlock-free: a non-quiet probe never awaits a quiet one,
        and a quiet probe never awaits another quiet one.
        """
        task = self._task(name)
        if not _HOLDING.get() or task.done():
            return await asyncio.shield(task)
        assert self._slots is not None
        self._slots.release()
        try:
            return await asyncio.shield(task)
        finally:
            await self._slots.acquire()

    async def close(self) -> None:
        for task in self._tasks.values():
            if not task.done():
                task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(BaseException):
                await task

    # -- running ------------------------------------------------------------------------------

    def _task(self, name: str) -> asyncio.Task[Any]:
        task = self._tasks.get(name)
        if task is None:
            spec = get_probe(name)
            self.runs[name] = ProbeRun(name, spec.quiet)
            task = asyncio.ensure_future(self._run(spec))
            self._tasks[name] = task
        return task

    async def _run(self, spec: ProbeSpec) -> Any:
        run = self.runs[spec.name]
        if spec.quiet:
            await self._others_done(spec.name)
            assert self._quiet_lock is not None
            async with self._quiet_lock:
                return await self._timed(spec, run)
        assert self._slots is not None
        async with self._slots:
            _HOLDING.set(True)
            return await self._timed(spec, run)

    async def _timed(self, spec: ProbeSpec, run: ProbeRun) -> Any:
        run.started = time.monotonic()
        try:
            return await spec.fn(self.ctx)
        except BaseException as exc:
            run.error = f"{type(exc).__name__}: {exc}"[:300]
            raise
        finally:
            run.finished = time.monotonic()

    async def _others_done(self, me: str) -> None:
        """Wait until no non-quiet probe is pending (new ones may start while we wait)."""
        while True:
            pending = [
                t
                for n, t in self._tasks.items()
                if n != me and not t.done() and not self.runs[n].quiet
            ]
            if not pending:
                return
            await asyncio.wait(pending)
