"""The tool tour (glass-box mode): the model stub calls each tool the deployment offered it.

A widget or a client tool of a real app appears when the app's model picks the app's tool,
and no generic prompt makes a model do that. In glass-box mode the harness *is* the model: a
message carrying ``#harness-call-tool:NAME`` makes the stub call NAME (tool_calls.py). The
tour reads which function tools the deployment offered on the first turn's model call (a turn
of its own when the stub did not see that one), opens one thread per tool (at most MAX_TOOLS,
by name) and records each stream. The feature probes then use, as the trigger for a feature
nobody gave a prompt for, the tour prompt whose stream showed it (features.trigger), and carry
on from the tour's own thread (features.triggered_thread).

A tool that fails, a stream that breaks, a turn that hangs: all just evidence (bounded by
TURN_TIMEOUT), never a broken run. The MCP stub's tools are left out: the MCP probes call
those on their own terms.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.engine import hints
from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.glass.mcp_stub.markers import PROBE_TOOL, TOOL_TAG
from harness.glass.model_stub import RecordedModelRequest
from harness.glass.model_stub.tool_calls import call_tool_marker
from harness.probes.conversation import FIRST_MESSAGE
from harness.probes.features import done_items, obj, usable
from harness.protocol.client import JsonResponse, RecordedStream

if TYPE_CHECKING:
    from harness.glass.box import GlassBox

MAX_TOOLS = 8
AT_ONCE = 4  # tour threads in flight together
TURN_TIMEOUT = 60.0  # one tour stop: the turn plus the thread read after it
CLOSED = ("closed", "locked")


@dataclass
class TourStop:
    tool: str
    prompt: str
    created: RecordedStream | None = None
    thread: JsonResponse | None = None  # threads.get_by_id after the turn (its status)
    error: str = ""  # the turn did not finish (a timeout, an exception in the client)
    claimed: bool = False  # a feature probe carries on from this stop's thread


@dataclass
class ToolTour:
    first: RecordedStream | None = None  # the turn that showed which tools are offered
    offered: list[str] = field(default_factory=list)  # function tools, as the model saw them
    left_out: list[str] = field(default_factory=list)  # the MCP stub's, and beyond MAX_TOOLS
    stops: list[TourStop] = field(default_factory=list)
    error: str = ""  # the offered tools could not be read (the stub's recordings failed)

    def showing(self, feature: str) -> TourStop | None:
        """The first stop (by tool name) whose stream showed ``feature``."""
        seen = SHOWS.get(feature)
        return next((s for s in self.stops if seen is not None and seen(s)), None)

    def summary(self) -> str:
        """What the tour tried, for a check that found nothing to judge."""
        if self.error:
            return f"the tool tour could not read the model stub's recordings ({self.error})"
        if not self.offered:
            return "the deployment offered its model no function tools to call"
        called = ", ".join(s.tool for s in self.stops)
        said = f"the model stub called the deployment's tools ({called}) and none showed one"
        broken = [s.tool for s in self.stops if s.error or not usable(s.created)]
        if broken:
            said += f" (no complete stream for {', '.join(broken)})"
        return said


def tour_prompt(tool: str) -> str:
    # Plain words first, so a live model given this message would make the same call.
    return f"Please use the {tool} tool. {call_tool_marker(tool)}"


def function_tools(call: RecordedModelRequest) -> list[tuple[str, str]]:
    """(name, description) of each function tool in a model request (either API's shape)."""
    body = call.body if isinstance(call.body, dict) else {}
    tools = body.get("tools")
    out: list[tuple[str, str]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        definition = obj(tool.get("function")) or tool  # Chat nests it, Responses does not
        name = definition.get("name")
        if isinstance(name, str) and name:
            out.append((name, str(definition.get("description") or "")))
    return out


def is_mcp_stub_tool(name: str, description: str) -> bool:
    return TOOL_TAG in description or name == PROBE_TOOL or name.endswith(f"_{PROBE_TOOL}")


def _pending(rec: RecordedStream | None, kind: str) -> bool:
    return any(i.get("status") == "pending" for i in done_items(rec, kind))


def _has_event(kind: str) -> Callable[[TourStop], bool]:
    return lambda s: s.created is not None and bool(s.created.of_type(kind))


def _closed(stop: TourStop) -> bool:
    data = stop.thread.json if stop.thread is not None else None
    status = obj(data).get("status") if isinstance(data, dict) else None
    return obj(status).get("type") in CLOSED


SHOWS: dict[str, Callable[[TourStop], bool]] = {
    "widgets": lambda s: bool(done_items(s.created, "widget")),
    "client-tools": lambda s: _pending(s.created, "client_tool_call"),
    "structured-input": lambda s: _pending(s.created, "structured_input"),
    "progress": _has_event("progress_update"),
    "client-effect": _has_event("client_effect"),
    "notice": _has_event("notice"),
    "closed-thread": _closed,
}


@probe("tool-tour", long=True)
async def tool_tour(ctx: ProbeContext) -> ToolTour | None:
    """None outside glass-box mode: only there does the harness play the model."""
    glass = ctx.glass
    if glass is None:
        return None
    tour = ToolTour()
    try:
        calls, tour.first = await _offering_calls(ctx, glass)
    except Exception as exc:  # a remote stub that went away: no tour, and the run goes on
        tour.error = f"{type(exc).__name__}: {exc}"[:200]
        return tour
    names: dict[str, None] = {}
    for call in calls:
        if call.tools:
            for name, description in function_tools(call):
                if is_mcp_stub_tool(name, description):
                    tour.left_out.append(name)
                else:
                    names.setdefault(name, None)
    tour.offered = sorted(names)
    tour.left_out += tour.offered[MAX_TOOLS:]
    gate = asyncio.Semaphore(AT_ONCE)

    async def visit(tool: str) -> TourStop:
        stop = TourStop(tool, tour_prompt(tool))
        async with gate:
            try:
                await asyncio.wait_for(_visit(ctx, stop), TURN_TIMEOUT)
            except TimeoutError:
                stop.error = f"no answer within {TURN_TIMEOUT:.0f} s"
            except Exception as exc:  # a broken target is evidence, never a broken run
                stop.error = f"{type(exc).__name__}: {exc}"[:200]
        return stop

    tour.stops = list(await asyncio.gather(*(visit(t) for t in tour.offered[:MAX_TOOLS])))
    return tour


async def _offering_calls(
    ctx: ProbeContext, glass: GlassBox
) -> tuple[list[RecordedModelRequest], RecordedStream]:
    """The model calls of one turn of the deployment's, which list the tools it offers.

    The first turn's, when the stub has it: every check waits for that turn anyway, and a
    turn of the tour's own would cost a model call. Probes run side by side, so a call is
    told apart by its message, never by "the calls since a mark".
    """
    first: RecordedStream = await ctx.probe("first-turn")
    calls = await asyncio.to_thread(glass.run_calls)
    own = [c for c in calls if any(FIRST_MESSAGE in t for t in c.user_texts())]
    if own:
        return own, first
    nonce = f"tool-tour-{secrets.token_hex(4)}"
    mark = glass.mark()
    turn = await ctx.main.create_thread(f"Which tools can you use? ({nonce})")
    calls = await asyncio.to_thread(glass.calls, mark)
    return [c for c in calls if any(nonce in t for t in c.user_texts())], turn


async def _visit(ctx: ProbeContext, stop: TourStop) -> None:
    stop.created = await ctx.main.create_thread(stop.prompt)
    tid = stop.created.thread_id if usable(stop.created) else None
    if tid is not None:
        stop.thread = await ctx.main.get_thread(tid)


async def tour_trigger(ctx: ProbeContext, feature: str) -> str | None:
    """The tour prompt that showed ``feature``, None outside glass-box mode or when none did."""
    if ctx.glass is None:
        return None
    tour = await _tour(ctx)
    stop = tour.showing(feature) if tour is not None else None
    return stop.prompt if stop is not None else None


async def claim_stop(ctx: ProbeContext, feature: str, prompt: str) -> TourStop | None:
    """The tour stop that showed ``feature`` with ``prompt``, for one probe to carry on from:
    its stream already holds what a new thread with the same prompt would (two model calls
    a tool, at a live model's pace)."""
    if ctx.glass is None or ctx.target.bundled or ctx.target.triggers.get(feature):
        return None  # a prompt that is not the tour's: the bundled keyword or the user's
    tour = await _tour(ctx)
    stop = tour.showing(feature) if tour is not None else None
    if stop is None or stop.claimed or stop.prompt != prompt or not usable(stop.created):
        return None
    stop.claimed = True
    return stop


async def tour_hint(ctx: ProbeContext) -> str:
    """What else could have reached a feature nobody gave a trigger for."""
    if ctx.target.bundled:
        return ""
    if ctx.glass is None:
        return (
            f"; or run in glass-box mode ({hints.flag('model-stub')} with {hints.flag('start')}, "
            f"or {hints.flag('model-stub-url')}), "
            "where the model stub calls the tools your deployment offers its model"
        )
    tour = await _tour(ctx)
    return f"; {tour.summary()}" if tour is not None else ""


async def _tour(ctx: ProbeContext) -> ToolTour | None:
    try:
        found: Any = await ctx.probe("tool-tour")
    except Exception:  # the tour is a best effort: a crash of it must not sink the feature probes
        return None
    return found if isinstance(found, ToolTour) else None
