"""Latency: a warm turn, a cold process's first turns, and the JSON reads, each timed alone.

All three are quiet probes (run after every other probe, one at a time): a verdict about
seconds must not depend on how many other probes were talking to the target meanwhile.

A true cold start can only be measured on a process the harness starts: the bundled
reference server, whose first turn is timed before anything else reaches it (the plugin runs
this probe ahead of the preflight), or the user's own target under ``--start``, which is
restarted after every other probe and then serves the rest of the run.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.protocol.client import JsonResponse, RecordedStream
from harness.target.launch import Launched, LaunchError, start_reference_server

WARM_TURNS = 3
JSON_ROUNDS = 3
SAY_HI = "Say hi."
RESTART_TIMEOUT = 60.0  # a fresh bundled server started alone, on a possibly loaded machine


@dataclass
class WarmTurn:
    warmup: JsonResponse  # threads.list first: the connection and the process are warm
    turn: RecordedStream
    limit: float  # --ttfb-threshold


@probe("warm-ttfb", quiet=True)
async def warm_ttfb(ctx: ProbeContext) -> WarmTurn:
    """threads.list, then a short threads.create on the same warm connection."""
    warmup = await ctx.main.list_threads(limit=1)
    turn = await ctx.main.create_thread(SAY_HI)
    return WarmTurn(warmup, turn, ctx.target.ttfb_threshold)


def first_assistant_output(rec: RecordedStream) -> float | None:
    """When the answer's first words arrived: a text delta, or a finished assistant message
    when the reply is not streamed (not the SDK's immediate thread.created)."""
    for e in rec.events:
        payload = e.json or {}
        update = payload.get("update")
        item = payload.get("item")
        delta = isinstance(update, dict) and str(update.get("type", "")).endswith("text_delta")
        done = (
            e.type == "thread.item.done"
            and isinstance(item, dict)
            and item.get("type") == "assistant_message"
        )
        if (e.type == "thread.item.updated" and delta) or done:
            return e.t
    return None


# -- cold start ------------------------------------------------------------------------------


@dataclass
class ColdStart:
    """The first turn of a fresh process and the warm turns after it."""

    startup_seconds: float  # process start to the port accepting connections
    first: RecordedStream
    warm: list[RecordedStream]
    limit: float  # --cold-start-threshold
    restarted: str  # what was timed: the fresh bundled server, the --start command restarted, ...

    @property
    def warm_totals(self) -> list[float]:
        return [w.elapsed for w in self.warm]

    @property
    def warm_median(self) -> float:
        return statistics.median(self.warm_totals)

    @property
    def first_event(self) -> float:
        return self.first.first_event or self.first.elapsed

    @property
    def warm_first_event_median(self) -> float:
        return statistics.median(w.first_event or w.elapsed for w in self.warm)

    def phases(self) -> str:
        return (
            f"{self.restarted}: process start to ready {self.startup_seconds:.2f} s; first "
            f"turn: first event {self.first_event:.2f} s, complete {self.first.elapsed:.2f} s; "
            f"warm turns: median first event {self.warm_first_event_median:.2f} s, complete "
            f"{self.warm_median:.2f} s"
        )


@dataclass
class ColdStartUnavailable:
    """No cold process to measure: why (the target is not one the harness starts), or the
    start itself failed."""

    reason: str
    launch_error: str | None = None


def _launcher(ctx: ProbeContext) -> tuple[Callable[[], Launched], str, bool] | None:
    """(start it, what it is, stop it afterwards) for the process the probe may start."""
    from harness.plugin import bundled_args

    config = ctx.extras.get("config")
    target = ctx.target
    fresh, ctx.fresh = ctx.fresh, None
    if target.bundled and fresh is not None:
        # The run's own server before its first request: as cold as a process gets, and no
        # second ~2 s start-up (2.5 CPU-s of imports) competes with the probes for a core.
        return (lambda: fresh), "the bundled reference server, before any other request", False
    if target.bundled and config is not None and ctx.issuer is not None:
        args = bundled_args(config, ctx.issuer)
        env = ctx.glass.env() if ctx.glass is not None else {}

        def launch() -> Launched:
            return start_reference_server(args, env=env, timeout=RESTART_TIMEOUT)

        return launch, "a fresh bundled reference server", True
    if ctx.owned is not None:
        # The run's own process, restarted: it serves the rest of the run.
        return ctx.owned.restart, "the --start command, restarted", False
    return None


@probe("cold-start", restarts=True)
async def cold_start(ctx: ProbeContext) -> ColdStart | ColdStartUnavailable:
    """Start (or restart) the target, then its first turn and a few warm ones."""
    how = _launcher(ctx)
    if how is None:
        return ColdStartUnavailable(
            "pass --start 'command that starts the target' so the harness owns the process"
        )
    launch, what, stop_after = how
    try:
        launched = await asyncio.to_thread(launch)
    except LaunchError as exc:
        return ColdStartUnavailable(f"{what} could not be started", launch_error=str(exc))
    try:
        fresh = replace(ctx.target, url=launched.url) if ctx.target.bundled else ctx.target
        client = ctx.client(target=fresh)
        first = await client.create_thread(SAY_HI)
        warm = [await client.create_thread(SAY_HI) for _ in range(WARM_TURNS)]
        await client.aclose()  # before the process goes: no dead pooled connections left
        return ColdStart(
            launched.startup_seconds, first, warm, ctx.target.cold_start_threshold, what
        )
    finally:
        if stop_after:
            await asyncio.to_thread(launched.stop)


# -- the JSON reads --------------------------------------------------------------------------


@dataclass
class JsonLatency:
    created: RecordedStream  # the thread items.list pages (the first turn's)
    lists: list[JsonResponse] = field(default_factory=list)  # threads.list limit=20
    items: list[JsonResponse] = field(default_factory=list)  # items.list limit=20
    limit: float = 1.0  # half of --ttfb-threshold


@probe("json-latency", quiet=True)
async def json_latency(ctx: ProbeContext) -> JsonLatency:
    """threads.list and items.list three times each, on the first turn's thread."""
    # The first turn's thread: no probe deletes it, and cold start (which may restart an
    # owned target and lose an in-memory store) runs after every other quiet probe. A turn
    # of its own would cost a model turn in the quiet phase, where nothing runs beside it.
    created: RecordedStream = await ctx.probe("first-turn")
    if created.status != 200 or created.thread_id is None:
        created = await ctx.main.create_thread(SAY_HI)
    out = JsonLatency(created, limit=ctx.target.ttfb_threshold / 2)
    tid = created.thread_id
    if created.status != 200 or tid is None:
        return out
    for _ in range(JSON_ROUNDS):
        out.lists.append(await ctx.main.list_threads(limit=20))
        out.items.append(await ctx.main.list_items(tid, limit=20))
    return out
