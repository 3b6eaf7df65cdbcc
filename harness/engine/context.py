"""What a probe may use: the target, recording clients, the test issuer, the model stub.

Every client a probe makes through :meth:`ProbeContext.client` reports its exchanges to the
run's recorder, so ``--artifacts`` holds every request the target received, whichever probe
sent it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from harness.protocol.client import ChatKitClient, Exchange
from harness.target import pace
from harness.target.config import Identity, Target

if TYPE_CHECKING:
    from harness.auth.issuer import TestIssuer
    from harness.engine.plan import Engine
    from harness.glass.box import GlassBox
    from harness.glass.mcp_box import McpBox
    from harness.target.launch import Launched
    from harness.target.owned import OwnedTarget

T = TypeVar("T")


@dataclass
class ProbeContext:
    target: Target
    observers: list[Callable[[Exchange], None]] = field(default_factory=list)
    issuer: TestIssuer | None = None  # the test issuer, when the deployment trusts it
    glass: GlassBox | None = None  # the model stub in glass-box mode
    mcp: McpBox | None = None  # the MCP stub (--mcp-stub / --mcp-stub-url)
    owned: OwnedTarget | None = None  # the user's backend, when the harness started it
    # The bundled server before its first request: the cold-start probe times it, then clears it.
    fresh: Launched | None = None
    # The bundled server's pace control (harness.target.pace); None where there is none.
    pace_url: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    engine: Engine | None = None
    _clients: list[ChatKitClient] = field(default_factory=list)
    _main: ChatKitClient | None = None

    @property
    def settle(self) -> float:
        return self.target.settle

    def client(
        self,
        identity: Identity | None = None,
        *,
        url: str | None = None,
        target: Target | None = None,
    ) -> ChatKitClient:
        """A recording client (closed with the context). ``identity`` None means user A."""
        c = ChatKitClient(
            target or self.target, identity=identity, url=url, on_exchange=self.observers
        )
        self._clients.append(c)
        return c

    @property
    def main(self) -> ChatKitClient:
        """User A's shared client."""
        if self._main is None:
            self._main = self.client()
        return self._main

    async def probe(self, name: str) -> Any:
        """The evidence of another probe (started now if nobody started it yet)."""
        assert self.engine is not None, "probe context used outside an engine"
        return await self.engine.get(name)

    @asynccontextmanager
    async def timed_pace(self) -> AsyncIterator[None]:
        """Inside: the stream is timed, so the model streams at its timed pace, whether it is
        the model stub the harness runs or the bundled server's own (harness.target.pace).
        A stub the user runs keeps the schedule the user gave it."""
        if self.glass is not None and self.glass.stub is not None:
            from harness.glass.box import TIMED_TOKEN_DELAY

            with self.glass.schedule(TIMED_TOKEN_DELAY):
                yield
            return
        async with pace.timed(self.pace_url):
            yield

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


async def settle(
    read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], within: float
) -> tuple[T, T, float | None]:
    """Read until ``ok`` holds or ``within`` seconds passed: (first, last, lag).

    Read-your-writes: a store that writes in the background shows an item a few hundred ms
    after the stream that announced it ended. ``lag`` is the time from the first read to the
    first read that was ``ok`` (0.0 when the first one was), None when none was. Backoff from
    50 ms, doubling, so a settled store costs one read.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = last = await read()
    if ok(first):
        return first, last, 0.0
    delay = 0.05
    tries = 0
    # At least one more read: a single slow read (a busy machine) must not use up the budget.
    while tries < 1 or loop.time() - started < within:
        tries += 1
        await asyncio.sleep(min(delay, max(0.0, within - (loop.time() - started))))
        delay *= 2
        last = await read()
        if ok(last):
            return first, last, loop.time() - started
    return first, last, None
