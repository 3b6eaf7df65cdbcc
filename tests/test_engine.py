"""The record phase's plan: bounded concurrency, shared probes, and a quiet phase.

Timing verdicts are only as good as the quiet phase: a quiet probe must start after every
other probe finished (also ones started late, by another probe) and run alone. Fake probes
count what is in flight; a real record phase against the reference server checks the same
on the recorded start and finish times of the timing probes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness.auth.issuer import TestIssuer
from harness.engine.context import ProbeContext
from harness.engine.plan import Engine, ProbeRun
from harness.engine.probes import probe
from harness.target.config import Target
from harness.target.launch import Launched, start_reference_server


class Flight:
    """What is in flight right now, and what each quiet probe saw while it ran."""

    def __init__(self) -> None:
        self.now: set[str] = set()
        self.peak = 0
        self.beside_quiet: dict[str, set[str]] = {}

    async def run(self, name: str, seconds: float, quiet: bool = False) -> str:
        if quiet:
            self.beside_quiet[name] = set(self.now)
        self.now.add(name)
        self.peak = max(self.peak, len(self.now))
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now.discard(name)
        if quiet:
            self.beside_quiet[name] |= set(self.now)
        return name


FLIGHT = Flight()


def _flight(ctx: ProbeContext) -> Flight:
    flight = ctx.extras.get("flight", FLIGHT)
    assert isinstance(flight, Flight)
    return flight


@probe("test-engine-slow")
async def _slow(ctx: ProbeContext) -> str:
    return await _flight(ctx).run("test-engine-slow", 0.20)


@probe("test-engine-starter")
async def _starter(ctx: ProbeContext) -> str:
    # Starts a probe nobody declared, late: the quiet phase must wait for it too.
    await _flight(ctx).run("test-engine-starter", 0.05)
    return str(await ctx.probe("test-engine-late"))


@probe("test-engine-late")
async def _late(ctx: ProbeContext) -> str:
    return await _flight(ctx).run("test-engine-late", 0.30)


@probe("test-engine-quiet-a", quiet=True)
async def _quiet_a(ctx: ProbeContext) -> str:
    return await _flight(ctx).run("test-engine-quiet-a", 0.05, quiet=True)


@probe("test-engine-quiet-b", quiet=True)
async def _quiet_b(ctx: ProbeContext) -> str:
    # A quiet probe may read a non-quiet one's evidence (long finished by now).
    slow = await ctx.probe("test-engine-slow")
    await _flight(ctx).run("test-engine-quiet-b", 0.05, quiet=True)
    return f"after {slow}"


WORKERS = [f"test-engine-worker-{i}" for i in range(10)]


def _worker(name: str) -> None:
    async def fn(ctx: ProbeContext) -> str:
        return await _flight(ctx).run(name, 0.03)

    fn.__qualname__ = f"worker_{name}"
    probe(name)(fn)


for _name in WORKERS:
    _worker(_name)


def overlapping(runs: dict[str, ProbeRun], name: str) -> list[str]:
    me = runs[name]
    return [
        other
        for other, r in runs.items()
        if other != name and r.started < me.finished and me.started < r.finished
    ]


def engine_for(concurrency: int) -> tuple[Engine, Flight]:
    ctx = ProbeContext(target=Target(url="http://127.0.0.1:9/chatkit"))
    flight = Flight()
    ctx.extras["flight"] = flight
    return Engine(ctx, concurrency=concurrency), flight


QUIET = ["test-engine-quiet-a", "test-engine-quiet-b"]
BUSY = ["test-engine-slow", "test-engine-starter", *WORKERS]


@pytest.mark.asyncio
@pytest.mark.parametrize("concurrency", [1, 3, 8])
async def test_quiet_probes_run_alone_after_everything_else(concurrency: int) -> None:
    engine, flight = engine_for(concurrency)
    engine.start([*QUIET, *BUSY])
    try:
        got = {name: await engine.get(name) for name in [*QUIET, *BUSY]}
    finally:
        await engine.close()
    assert got["test-engine-starter"] == "test-engine-late"
    assert got["test-engine-quiet-b"] == "after test-engine-slow"
    # Nothing else in flight while either quiet probe ran, by the probes' own count...
    assert flight.beside_quiet == {name: set() for name in QUIET}
    # ... and by the engine's recorded times, the late-started probe included.
    assert "test-engine-late" in engine.runs
    busy_end = max(r.finished for n, r in engine.runs.items() if not r.quiet)
    for name in QUIET:
        assert overlapping(engine.runs, name) == []
        assert engine.runs[name].started >= busy_end
    assert all(not r.error for r in engine.runs.values())


@pytest.mark.asyncio
async def test_concurrency_bounds_the_probes_in_flight() -> None:
    engine, flight = engine_for(3)
    engine.start(WORKERS)
    try:
        for name in WORKERS:
            await engine.get(name)
    finally:
        await engine.close()
    assert flight.peak == 3


@pytest.mark.asyncio
async def test_a_probe_waiting_on_another_gives_its_slot_back() -> None:
    # At concurrency 1 the starter holds the only slot while it awaits the late probe: the
    # engine must lend the slot out, or the plan would deadlock.
    engine, _ = engine_for(1)
    engine.start(["test-engine-starter"])
    try:
        got = await asyncio.wait_for(engine.get("test-engine-starter"), 5)
    finally:
        await engine.close()
    assert got == "test-engine-late"


@probe("test-engine-shared-control")
async def _shared_control(ctx: ProbeContext) -> str:
    return await _flight(ctx).run("test-engine-shared-control", 0.05)


@probe("test-engine-needs-control")
async def _needs_control(ctx: ProbeContext) -> str:
    # Like every auth probe: nothing to do before the shared control turn is done.
    return str(await ctx.probe("test-engine-shared-control"))


@pytest.mark.asyncio
async def test_a_probe_others_wait_on_jumps_the_queue() -> None:
    # Two slots, eight planned probes queued behind one that asks for an undeclared shared
    # control: the control must run on the slot the asker gave back, not after the queue.
    engine, _ = engine_for(2)
    queue = [f"test-engine-worker-{i}" for i in range(8)]
    engine.start(["test-engine-needs-control", *queue])
    try:
        got = await asyncio.wait_for(engine.get("test-engine-needs-control"), 5)
        for name in queue:
            await engine.get(name)
    finally:
        await engine.close()
    assert got == "test-engine-shared-control"
    control = engine.runs["test-engine-shared-control"]
    before = [n for n in queue if engine.runs[n].started < control.started]
    assert before == ["test-engine-worker-0"]  # the one that took the second slot at once


@probe("test-engine-restart", restarts=True)
async def _restart(ctx: ProbeContext) -> str:
    return await _flight(ctx).run("test-engine-restart", 0.02, quiet=True)


@pytest.mark.asyncio
async def test_a_probe_that_restarts_the_target_runs_after_every_quiet_probe() -> None:
    # Started first, it still waits: a restart would take an in-memory store's threads with it.
    engine, flight = engine_for(8)
    engine.start(["test-engine-restart", *QUIET, "test-engine-slow"])
    try:
        for name in ["test-engine-restart", *QUIET]:
            await engine.get(name)
    finally:
        await engine.close()
    restart = engine.runs["test-engine-restart"]
    assert restart.quiet and flight.beside_quiet["test-engine-restart"] == set()
    assert all(restart.started >= engine.runs[q].finished for q in QUIET)


@probe("test-engine-z-long-chain", long=True)
async def _long_chain(ctx: ProbeContext) -> str:
    return await _flight(ctx).run("test-engine-z-long-chain", 0.02)


@pytest.mark.asyncio
async def test_a_long_chain_starts_before_the_short_probes() -> None:
    # Named to sort last: with one slot, only its `long` flag can put it first in the queue.
    engine, _ = engine_for(1)
    queue = [f"test-engine-worker-{i}" for i in range(4)]
    engine.start([*queue, "test-engine-z-long-chain"])
    try:
        for name in [*queue, "test-engine-z-long-chain"]:
            await engine.get(name)
    finally:
        await engine.close()
    chain = engine.runs["test-engine-z-long-chain"]
    assert all(chain.finished <= engine.runs[n].started for n in queue)


# -- a real record phase -----------------------------------------------------------------------

REAL_BUSY = ["first-turn", "conversation", "bad-requests", "unknown-thread", "keepalive"]
REAL_BUSY += ["nothing-lost"]
REAL_QUIET = ["stream-timing", "warm-ttfb", "json-latency"]


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    iss = TestIssuer()
    iss.start()
    yield iss
    iss.stop()


@pytest.fixture(scope="module")
def server(issuer: TestIssuer) -> Iterator[Launched]:
    args = ["--db", ":memory:", "--token-delay", "0.005", "--jwks-url", issuer.jwks_url]
    args += ["--issuer", issuer.issuer, "--audience", issuer.audience]
    launched = start_reference_server(args, timeout=60)
    yield launched
    launched.stop()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_real_timing_probes_overlap_nothing(server: Launched, issuer: TestIssuer) -> None:
    target = replace(Target(url=server.url), token=issuer.mint("alice"), bundled=True)
    ctx = ProbeContext(target=target, issuer=issuer)
    engine = Engine(ctx, concurrency=8)
    engine.start([*REAL_BUSY, *REAL_QUIET])
    try:
        evidence = {name: await engine.get(name) for name in [*REAL_BUSY, *REAL_QUIET]}
    finally:
        await engine.close()
        await ctx.aclose()
    runs = engine.runs
    assert all(not r.error for r in runs.values()), {n: r.error for n, r in runs.items()}
    # The non-quiet probes did run side by side (or this would prove nothing)...
    assert any(overlapping(runs, name) for name in REAL_BUSY)
    # ... and every timing probe ran alone.
    for name in REAL_QUIET:
        assert runs[name].quiet
        assert overlapping(runs, name) == [], name
    assert evidence["stream-timing"].edge.status == 200
    assert evidence["stream-timing"].edge.delta_times()
    assert evidence["warm-ttfb"].turn.status == 200
    assert len(evidence["json-latency"].lists) == 3
    assert evidence["nothing-lost"].own_user  # the issuer is trusted: a user of its own
    # The JSON report's "probes": every probe that ran, in start order, quiet ones last.
    timings = engine.timings()
    assert {t.name for t in timings} == set(runs)
    assert [t.started for t in timings] == sorted(t.started for t in timings)
    assert {t.name for t in timings[-len(REAL_QUIET) :]} == set(REAL_QUIET)
    assert all(t.elapsed > 0 for t in timings)
