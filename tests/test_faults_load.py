"""Smoke tests of the concurrency faults at the store, where they break (fast, in-process).

The end-to-end proof that ``chatkit-harness load`` catches them is tests/test_load_runs.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import pytest
from chatkit.types import InferenceOptions, ThreadMetadata, UserMessageItem, UserMessageTextContent

from reference_server.context import RequestContext
from reference_server.faults import Fault
from reference_server.store import TINY_POOL_CONNECT_SECONDS, SqlStore

MEMORY = "sqlite+aiosqlite:///:memory:"


def _msg(thread_id: str) -> UserMessageItem:
    return UserMessageItem(
        id=f"msg_{uuid.uuid4().hex}",
        thread_id=thread_id,
        created_at=datetime.now(),
        content=[UserMessageTextContent(text="hi")],
        inference_options=InferenceOptions(),
    )


async def _two_conversations_at_once(faults: frozenset[Fault]) -> list[int]:
    """Two users each add an item to their own thread at the same moment; items listed."""
    store = SqlStore(MEMORY, faults=faults)
    await store.start()
    try:
        users = [RequestContext(user_id=u) for u in ("alice", "bob")]
        threads = []
        for ctx in users:
            thread = ThreadMetadata(id=store.generate_thread_id(ctx), created_at=datetime.now())
            await store.save_thread(thread, ctx)
            threads.append(thread.id)
        await asyncio.gather(
            *(store.add_thread_item(t, _msg(t), ctx) for t, ctx in zip(threads, users, strict=True))
        )
        pages = [
            await store.load_thread_items(t, None, 10, "asc", ctx)
            for t, ctx in zip(threads, users, strict=True)
        ]
        return [len(p.data) for p in pages]
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_racy_store_loses_an_item_written_concurrently() -> None:
    """racy-store: of two appends that overlap, the second write-back drops the first."""
    assert sorted(await _two_conversations_at_once(frozenset({Fault.RACY_STORE}))) == [0, 1]


@pytest.mark.asyncio
async def test_correct_store_keeps_concurrent_items() -> None:
    assert await _two_conversations_at_once(frozenset()) == [1, 1]


@pytest.mark.asyncio
async def test_pool_exhaustion_queues_the_second_request() -> None:
    """pool-exhaustion: one connection, opened on first use; a second request waits for the
    first to give it back."""
    store = SqlStore(MEMORY, faults=frozenset({Fault.POOL_EXHAUSTION}))
    t0 = time.monotonic()
    await store.hold_request_connection()
    assert time.monotonic() - t0 >= TINY_POOL_CONNECT_SECONDS * 0.9  # not pre-warmed
    second = asyncio.create_task(store.hold_request_connection())
    await asyncio.sleep(0.05)
    assert not second.done()
    store.release_request_connection()
    await asyncio.wait_for(second, 2)
    store.release_request_connection()
    await store.close()


def test_correct_store_has_no_request_pool() -> None:
    assert SqlStore(MEMORY).request_pool is None
