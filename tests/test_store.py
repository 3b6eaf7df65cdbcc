"""SqlStore against SQLite (file and :memory:) and the real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from ref_backends import PG_URL, pg_available

from reference_server.context import RequestContext
from reference_server.db import normalize_database_url
from reference_server.faults import Fault
from reference_server.store import SqlStore

ALICE = RequestContext(user_id="alice")
BOB = RequestContext(user_id="bob")

PG_AVAILABLE = pg_available()
needs_pg = pytest.mark.skipif(not PG_AVAILABLE, reason=f"PostgreSQL not reachable at {PG_URL}")


@pytest.fixture(
    params=[
        "sqlite-memory",
        "sqlite-file",
        pytest.param("postgres", marks=[needs_pg, pytest.mark.postgres]),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite-memory":
        return "sqlite+aiosqlite:///:memory:"
    if request.param == "sqlite-file":
        return f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'store.sqlite3'}"
    return normalize_database_url(PG_URL)


async def _open(url: str, faults: frozenset[Fault] = frozenset()) -> SqlStore:
    store = SqlStore(url, table_prefix=f"t{uuid.uuid4().hex[:10]}_", faults=faults)
    await store.start()
    return store


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = await _open(store_url)
    yield s
    await s.drop_tables()
    await s.close()


def _thread(store: SqlStore, ctx: RequestContext = ALICE, **kw: object) -> ThreadMetadata:
    return ThreadMetadata(id=store.generate_thread_id(ctx), created_at=datetime.now(), **kw)  # type: ignore[arg-type]


def _user_msg(thread_id: str, text: str, at: datetime | None = None) -> UserMessageItem:
    return UserMessageItem(
        id=f"msg_{uuid.uuid4().hex}",
        thread_id=thread_id,
        created_at=at or datetime.now(),
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
    )


@pytest.mark.asyncio
async def test_thread_crud_round_trip(store: SqlStore) -> None:
    """A saved thread loads back equal, updates in place and deletes with its items."""
    thread = _thread(store, title="first", metadata={"k": [1, 2]})
    await store.save_thread(thread, ALICE)
    assert await store.load_thread(thread.id, ALICE) == thread
    thread.title = "renamed"
    await store.save_thread(thread, ALICE)
    assert (await store.load_thread(thread.id, ALICE)).title == "renamed"
    await store.add_thread_item(thread.id, _user_msg(thread.id, "hi"), ALICE)
    await store.delete_thread(thread.id, ALICE)
    with pytest.raises(NotFoundError):
        await store.load_thread(thread.id, ALICE)
    with pytest.raises(NotFoundError):
        await store.load_thread_items(thread.id, None, 10, "asc", ALICE)


@pytest.mark.asyncio
async def test_ids_are_long_and_unique(store: SqlStore) -> None:
    """Thread and item ids carry 32 hex digits, not the SDK's 8."""
    thread = _thread(store)
    ids = {store.generate_item_id("message", thread, ALICE) for _ in range(200)}
    assert len(ids) == 200
    assert thread.id.startswith("thr_") and len(thread.id) == 36
    assert all(i.startswith("msg_") and len(i) == 36 for i in ids)


@pytest.mark.asyncio
async def test_item_pagination_and_order(store: SqlStore) -> None:
    """Items page in both orders with an id cursor; equal timestamps keep insertion order."""
    thread = _thread(store)
    await store.save_thread(thread, ALICE)
    same_instant = datetime.now()
    items = [_user_msg(thread.id, f"m{n}", same_instant) for n in range(5)]
    for item in items:
        await store.add_thread_item(thread.id, item, ALICE)
    ids = [i.id for i in items]

    page = await store.load_thread_items(thread.id, None, 2, "asc", ALICE)
    assert [i.id for i in page.data] == ids[:2] and page.has_more and page.after == ids[1]
    page = await store.load_thread_items(thread.id, page.after, 2, "asc", ALICE)
    assert [i.id for i in page.data] == ids[2:4] and page.has_more
    page = await store.load_thread_items(thread.id, page.after, 2, "asc", ALICE)
    assert [i.id for i in page.data] == ids[4:] and not page.has_more and page.after is None

    # positional call order, as the SDK uses it: thread_id, after, limit, order, context
    page = await store.load_thread_items(thread.id, None, 3, "desc", ALICE)
    assert [i.id for i in page.data] == ids[::-1][:3]
    page = await store.load_thread_items(thread.id, page.after, 3, "desc", ALICE)
    assert [i.id for i in page.data] == ids[::-1][3:]


@pytest.mark.asyncio
async def test_items_round_trip_and_replace(store: SqlStore) -> None:
    """Items come back as the right pydantic types; save_item replaces by id in place."""
    thread = _thread(store)
    await store.save_thread(thread, ALICE)
    user = _user_msg(thread.id, "question")
    reply = AssistantMessageItem(
        id=f"msg_{uuid.uuid4().hex}",
        thread_id=thread.id,
        created_at=datetime.now() + timedelta(seconds=1),
        content=[AssistantMessageContent(text="draft")],
    )
    await store.add_thread_item(thread.id, user, ALICE)
    await store.add_thread_item(thread.id, reply, ALICE)
    loaded = await store.load_item(thread.id, reply.id, ALICE)
    assert isinstance(loaded, AssistantMessageItem) and loaded == reply
    reply.content[0].text = "final"
    await store.save_item(thread.id, reply, ALICE)
    page = await store.load_thread_items(thread.id, None, 10, "asc", ALICE)
    assert [i.id for i in page.data] == [user.id, reply.id]
    assert (
        isinstance(page.data[1], AssistantMessageItem) and page.data[1].content[0].text == "final"
    )
    await store.delete_thread_item(thread.id, user.id, ALICE)
    with pytest.raises(NotFoundError):
        await store.load_item(thread.id, user.id, ALICE)


@pytest.mark.asyncio
async def test_thread_listing(store: SqlStore) -> None:
    """load_threads lists only the caller's threads, newest first by default, with paging."""
    threads = []
    for n in range(3):
        t = ThreadMetadata(
            id=f"thr_{n}_{uuid.uuid4().hex}", created_at=datetime(2026, 1, 1, 0, 0, n)
        )
        await store.save_thread(t, ALICE)
        threads.append(t)
    await store.save_thread(_thread(store, BOB), BOB)
    page = await store.load_threads(2, None, "desc", ALICE)
    assert [t.id for t in page.data] == [threads[2].id, threads[1].id] and page.has_more
    page = await store.load_threads(2, page.after, "desc", ALICE)
    assert [t.id for t in page.data] == [threads[0].id] and not page.has_more
    page = await store.load_threads(10, None, "asc", ALICE)
    assert [t.id for t in page.data] == [t.id for t in threads]


@pytest.mark.asyncio
async def test_another_users_thread_is_not_found_everywhere(store: SqlStore) -> None:
    """Every operation on another user's thread raises NotFoundError and changes nothing."""
    thread = _thread(store, title="alice's")
    await store.save_thread(thread, ALICE)
    item = _user_msg(thread.id, "secret")
    await store.add_thread_item(thread.id, item, ALICE)

    attempts = [
        store.load_thread(thread.id, BOB),
        store.save_thread(thread.model_copy(update={"title": "hijacked"}), BOB),
        store.load_thread_items(thread.id, None, 10, "asc", BOB),
        store.add_thread_item(thread.id, _user_msg(thread.id, "x"), BOB),
        store.save_item(thread.id, item, BOB),
        store.load_item(thread.id, item.id, BOB),
        store.delete_thread_item(thread.id, item.id, BOB),
        store.delete_thread(thread.id, BOB),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError):
            await attempt
    assert (await store.load_threads(10, None, "desc", BOB)).data == []
    assert (await store.load_thread(thread.id, ALICE)).title == "alice's"
    assert [
        i.id for i in (await store.load_thread_items(thread.id, None, 10, "asc", ALICE)).data
    ] == [item.id]


@pytest.mark.asyncio
async def test_attachments_are_scoped(store: SqlStore) -> None:
    """Attachment metadata round-trips for its owner and is NotFound for anyone else."""
    attachment = FileAttachment(id="atc_" + uuid.uuid4().hex, name="a.txt", mime_type="text/plain")
    await store.save_attachment(attachment, ALICE)
    assert await store.load_attachment(attachment.id, ALICE) == attachment
    for attempt in (
        store.load_attachment(attachment.id, BOB),
        store.delete_attachment(attachment.id, BOB),
        store.save_attachment(attachment, BOB),
    ):
        with pytest.raises(NotFoundError):
            await attempt
    await store.delete_attachment(attachment.id, ALICE)
    with pytest.raises(NotFoundError):
        await store.load_attachment(attachment.id, ALICE)


@pytest.mark.asyncio
async def test_shared_threads_fault_unscopes(store_url: str) -> None:
    """With the shared-threads fault another user reads and deletes the thread."""
    store = await _open(store_url, frozenset({Fault.SHARED_THREADS}))
    try:
        thread = _thread(store)
        await store.save_thread(thread, ALICE)
        assert (await store.load_thread(thread.id, BOB)).id == thread.id
        assert [t.id for t in (await store.load_threads(10, None, "desc", BOB)).data] == [thread.id]
        await store.delete_thread(thread.id, BOB)
        with pytest.raises(NotFoundError):
            await store.load_thread(thread.id, ALICE)
    finally:
        await store.drop_tables()
        await store.close()


@pytest.mark.asyncio
async def test_no_delete_fault_keeps_thread(store_url: str) -> None:
    """With the no-delete fault delete_thread returns but the thread stays."""
    store = await _open(store_url, frozenset({Fault.NO_DELETE}))
    try:
        thread = _thread(store)
        await store.save_thread(thread, ALICE)
        await store.delete_thread(thread.id, ALICE)
        assert (await store.load_thread(thread.id, ALICE)).id == thread.id
    finally:
        await store.drop_tables()
        await store.close()


def test_database_url_rewrite() -> None:
    """The seed's postgresql:// URL becomes an asyncpg URL; others pass through."""
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_database_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
