"""The in-memory store survives a query cancelled half-way (a client gone mid-stream)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from chatkit.types import ThreadMetadata
from sqlalchemy import text

from reference_server.context import RequestContext
from reference_server.store import SqlStore

ALICE = RequestContext(user_id="alice")


@pytest.mark.asyncio
async def test_memory_store_survives_cancelled_queries() -> None:
    """A cancelled query makes SQLAlchemy drop its connection; with a private :memory:
    database the next connection was a new, empty one (every later request a 500)."""
    store = SqlStore("sqlite+aiosqlite:///:memory:")
    await store.start()
    thread = ThreadMetadata(id=store.generate_thread_id(ALICE), created_at=datetime.now())
    await store.save_thread(thread, ALICE)

    async def busy() -> None:
        while True:
            async with store._tx() as conn:
                await conn.execute(text("SELECT count(*) FROM chatkit_threads"))

    try:
        for i in range(20):
            task = asyncio.create_task(busy())
            await asyncio.sleep(0.002 * (i % 5))
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert (await store.load_thread(thread.id, ALICE)).id == thread.id
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_two_memory_stores_are_separate() -> None:
    """Each in-memory store is a database of its own (the shared-cache name is unique)."""
    a, b = SqlStore("sqlite+aiosqlite:///:memory:"), SqlStore("sqlite+aiosqlite:///:memory:")
    await a.start()
    await b.start()
    try:
        thread = ThreadMetadata(id=a.generate_thread_id(ALICE), created_at=datetime.now())
        await a.save_thread(thread, ALICE)
        assert (await b.load_threads(10, None, "asc", ALICE)).data == []
    finally:
        await a.close()
        await b.close()
