"""The thread-scoped JSON requests (read, list items, rename, delete) naming an unknown thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.protocol.client import JsonResponse
from harness.target.config import Identity

# An id no deployment has handed out: the answers say how each request treats a miss.
UNKNOWN_THREAD = "thr_harness_unknown_lookup"


@dataclass
class UnknownThread:
    get: JsonResponse  # threads.get_by_id
    items: JsonResponse  # items.list
    # Sent only as a user of the probe's own: see own_user.
    update: JsonResponse | None = None  # threads.update
    delete: JsonResponse | None = None  # threads.delete

    def answers(self) -> list[tuple[str, JsonResponse]]:
        sent = [
            ("threads.get_by_id", self.get),
            ("items.list", self.items),
            ("threads.update", self.update),
            ("threads.delete", self.delete),
        ]
        return [(what, resp) for what, resp in sent if resp is not None]


def own_user(ctx: ProbeContext) -> Identity | None:
    """A user only this probe uses, when the deployment trusts the test issuer.

    A backend that falls back to "the user's newest thread" on an unknown id would rename or
    delete a thread another probe is using; a user of its own has no thread to lose.
    """
    if ctx.issuer is None:
        return None
    token = ctx.issuer.mint("harness-lookups", name="Lookups Check")
    return Identity("lookups user", {"Authorization": f"Bearer {token}"}, token=token)


@probe("unknown-thread-json")
async def unknown_thread_json(ctx: ProbeContext) -> UnknownThread:
    c = ctx.main
    get, items = await asyncio.gather(c.get_thread(UNKNOWN_THREAD), c.list_items(UNKNOWN_THREAD))
    ev = UnknownThread(get, items)
    own = own_user(ctx)
    if own is None:
        return ev
    mine = ctx.client(own)
    update, delete = await asyncio.gather(
        mine.update_thread(UNKNOWN_THREAD, "renamed by the harness"),
        mine.delete_thread(UNKNOWN_THREAD),
    )
    if update.status not in (401, 403) or delete.status not in (401, 403):
        # (Both refused: the deployment trusts the issuer but not this user.)
        ev.update, ev.delete = update, delete
    return ev
