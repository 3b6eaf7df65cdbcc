"""The thread-scoped JSON requests on an unknown thread: each is its own bad input.

Judgments only: evidence from harness/probes/lookups.py. (What a bad request leaves behind is
errors.nothing-lost; a streaming request on an unknown thread is errors.unknown-thread.)
"""

from __future__ import annotations

from harness.engine.offers import refused_cleanly
from harness.probes.lookups import UnknownThread
from harness.registry import MUST, check
from harness.report.results import untestable

REF = (
    "openai-chatkit 1.6.5 chatkit/server.py _process_non_streaming; chatkit/store.py NotFoundError"
)


@check(
    id="lookups.unknown-thread",
    title="threads.get_by_id, items.list, threads.update and threads.delete of an unknown "
    "thread are a 4xx",
    level=MUST,
    pitfall="A hand-rolled handler runs UPDATE/DELETE ... WHERE id = ? and answers {} without "
    "looking at the row count: the client is told a thread was renamed or deleted that never "
    "existed (or is someone else's), and a 500 where the store raised NotFoundError.",
    fix="Load the thread for the authenticated user first (Store.load_thread raises "
    "NotFoundError) and answer 404.",
    ref=REF,
    probes=["unknown-thread-json"],
)
def test_unknown_thread(evidence) -> None:
    ev: UnknownThread = evidence["unknown-thread-json"]
    for what, resp in ev.answers():
        refused_cleanly(resp, f"{what} of an unknown thread")
    if ev.update is None or ev.delete is None:
        untestable(
            "threads.update and threads.delete of an unknown id are sent only as a user of the "
            "harness's own (a deployment that trusts the test issuer): one that falls back to "
            "the newest thread would otherwise rename or delete user A's"
        )
