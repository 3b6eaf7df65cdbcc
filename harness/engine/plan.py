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
from harness.report.results import ProbeTiming

# True inside a probe that holds a concurrency slot: awaiting another probe gives it back
# meanwhile, so probes waiting on probes can never hold every slot and starve the plan.
_HOLDING: contextvars.ContextVar[bool] = contextvars.ContextVar("holding", default=False)
# The probe whose code is running: the exchange log files each request under it, since the
# record phase runs probes side by side, before and beside the checks that judge them.
CURRENT_PROBE: contextvars.ContextVar[str] = contextvars.ContextVar("probe", default="")


@dataclass
class ProbeRun:
    """When a probe ran and how long it took (shown by --timings and the JSON report)."""

    name: str
    quiet: bool
    started: float = 0.0
    finished: float = 0.0
    error: str = ""


class Slots:
    """A counting semaphore whose waiters can jump the queue.

    A probe that another running probe awaits (a control turn every auth probe shares) is
    often first requested only once dozens of planned probes queue for a slot; behind them
    in FIFO order it would hold up every probe that waits on it. ``promote`` moves it to the
    front, and a probe taking its slot back after such a wait goes first as well.
    """

    def __init__(self, n: int) -> None:
        self._free = max(1, n)
        self._waiters: list[tuple[list[bool], asyncio.Future[None], str]] = []
        self._promoted: set[str] = set()  # promoted before they even queued

    async def acquire(self, name: str = "", urgent: bool = False) -> None:
        urgent = urgent or name in self._promoted
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = ([urgent], fut, name)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise

    def release(self) -> None:
        while self._waiters:
            first = next((w for w in self._waiters if w[0][0]), self._waiters[0])
            self._waiters.remove(first)
            if not first[1].done():
                first[1].set_result(None)  # the slot passes straight to the waiter
                return
        self._free += 1

    def promote(self, name: str) -> None:
        self._promoted.add(name)
        for urgent, _, waiting in self._waiters:
            if waiting == name:
                urgent[0] = True


@dataclass
class Engine:
    ctx: ProbeContext
    concurrency: int = 8
    runs: dict[str, ProbeRun] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    _slots: Slots | None = None
    _quiet_lock: asyncio.Lock | None = None
    began: float = 0.0

    def __post_init__(self) -> None:
        self.began = time.monotonic()
        self._slots = Slots(self.concurrency)
        self._quiet_lock = asyncio.Lock()
        self.ctx.engine = self

    # -- the plan ---------------------------------------------------------------------------

    def start(self, names: Iterable[str]) -> None:
        """Start ``names`` (and nothing twice); quiet probes queue behind the others."""

        def order(name: str) -> tuple[bool, bool, bool, str]:
            spec = get_probe(name)
            return (spec.quiet, not spec.early, not spec.long, name)

        for name in sorted(set(names), key=order):
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
        self._slots.promote(name)  # it runs on the slot we give back, not behind the queue
        await asyncio.sleep(0)  # a task just created reaches its acquire() first
        self._slots.release()
        try:
            return await asyncio.shield(task)
        finally:
            await self._slots.acquire(CURRENT_PROBE.get(), urgent=True)

    async def close(self) -> None:
        for task in self._tasks.values():
            if not task.done():
                task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(BaseException):
                await task

    def timings(self) -> list[ProbeTiming]:
        """Every probe that ran, in start order, relative to the engine's start."""
        done = [r for r in self.runs.values() if r.started]
        return [
            ProbeTiming(
                r.name,
                r.quiet,
                r.started - self.began,
                (r.finished or time.monotonic()) - r.started,
                r.error,
            )
            for r in sorted(done, key=lambda r: r.started)
        ]

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
            await self._others_done(spec.name, restarts=spec.restarts)
            assert self._quiet_lock is not None
            async with self._quiet_lock:
                return await self._timed(spec, run)
        assert self._slots is not None
        await self._slots.acquire(spec.name)
        try:
            _HOLDING.set(True)
            return await self._timed(spec, run)
        finally:
            self._slots.release()

    async def _timed(self, spec: ProbeSpec, run: ProbeRun) -> Any:
        CURRENT_PROBE.set(spec.name)  # this task's own context: no reset needed
        run.started = time.monotonic()
        try:
            return await spec.fn(self.ctx)
        except BaseException as exc:
            run.error = f"{type(exc).__name__}: {exc}"[:300]
            raise
        finally:
            run.finished = time.monotonic()

    async def _others_done(self, me: str, restarts: bool = False) -> None:
        """Wait until no non-quiet probe is pending (new ones may start while we wait); a
        probe that restarts the target waits for the other quiet ones too."""
        while True:
            pending = [
                t
                for n, t in self._tasks.items()
                if n != me
                and not t.done()
                and (not self.runs[n].quiet or (restarts and not get_probe(n).restarts))
            ]
            if not pending:
                return
            await asyncio.wait(pending)
