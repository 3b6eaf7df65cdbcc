"""SqlStore: the chatkit Store on SQLAlchemy async (SQLite by default, PostgreSQL too).

Every operation is scoped to ``context.user_id``: another user's thread (or
attachment) behaves exactly like a missing one, NotFoundError, for every method.
Thread and item bodies are stored as JSON and re-validated with the SDK's own
pydantic models on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter
from sqlalchemy import Select, Table, and_, delete, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from .context import RequestContext
from .db import Tables, make_engine
from .faults import Fault

_ITEM = TypeAdapter[ThreadItem](ThreadItem)
_ATTACHMENT = TypeAdapter[Attachment](Attachment)
_ID_PREFIXES: dict[StoreItemType, str] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "workflow": "wf",
    "task": "tsk",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}


# pool-exhaustion fault: the pool's size, and what opening one of its connections costs.
TINY_POOL_SIZE = 1
TINY_POOL_CONNECT_SECONDS = 0.5
FIXED_PAGE = 20  # the page size of the paging-ignores-limit fault


def new_id(item_type: StoreItemType) -> str:
    """``<prefix>_<32 hex>``: the SDK's 8 hex chars collide in a large store."""
    return f"{_ID_PREFIXES[item_type]}_{uuid.uuid4().hex}"


def _naive(moment: datetime) -> datetime:
    # The SDK stamps naive local datetimes; store aware ones as naive UTC so the
    # column type is the same on SQLite and PostgreSQL.
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


class SqlStore(Store[RequestContext]):
    """A user-scoped chatkit Store over one SQLAlchemy async engine."""

    def __init__(
        self,
        url: str,
        *,
        table_prefix: str = "chatkit_",
        faults: frozenset[Fault] = frozenset(),
    ) -> None:
        self.url = url
        self.engine, self._keeper = make_engine(url)
        self.tables = Tables(table_prefix, unique_item_ids=Fault.DOUBLE_STORE not in faults)
        self.scoped = Fault.SHARED_THREADS not in faults
        self.no_delete = Fault.NO_DELETE in faults
        self.faults = faults
        # attachments-unscoped fault: attachment rows are looked up by id alone.
        self.attachments_scoped = self.scoped and Fault.ATTACHMENTS_UNSCOPED not in faults
        # eventual-writes: assistant items go through a background queue (a write 300 ms late).
        self.write_delay = 0.3 if Fault.EVENTUAL_WRITES in faults else 0.0
        self._pending: set[asyncio.Task[None]] = set()
        # racy-store fault: thread id -> item ids, one shared document (see add_thread_item).
        self.racy = Fault.RACY_STORE in faults
        self._index: dict[str, list[str]] = {}
        # pool-exhaustion fault: the connections a request holds for its whole response.
        self.request_pool = (
            asyncio.Semaphore(TINY_POOL_SIZE) if Fault.POOL_EXHAUSTION in faults else None
        )
        self._pool_opened = 0
        # SQLite has one writer at a time (and :memory: shares one connection), so
        # operations are serialised in-process instead of failing with "locked".
        self._lock: asyncio.Lock | None = asyncio.Lock() if url.startswith("sqlite") else None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, *, warm: bool = True) -> None:
        """Create the tables; with ``warm``, run ``SELECT 1`` so the pool holds a connection."""
        database = make_url(self.url).database
        if self.url.startswith("sqlite") and database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        async with self._tx() as conn:
            await conn.run_sync(self.tables.metadata.create_all)
        if warm:
            await self._warm()

    async def _warm(self) -> None:
        """Open the pool's connections now, not in the first burst of requests."""
        if self._lock is not None:  # SQLite: one connection at a time anyway
            async with self._tx() as conn:
                await conn.execute(text("SELECT 1"))
            return

        async def one() -> AsyncConnection:
            conn = await self.engine.connect()
            await conn.execute(text("SELECT 1"))
            return conn

        held = await asyncio.gather(*(one() for _ in range(self.engine.pool.size())))  # type: ignore[attr-defined]
        for conn in held:
            await conn.close()

    async def close(self) -> None:
        """Release every pooled connection (an in-memory database goes with the last)."""
        await self.engine.dispose()
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    async def drop_tables(self) -> None:
        """Drop this store's tables (tests clean up shared PostgreSQL databases with it)."""
        async with self._tx() as conn:
            await conn.run_sync(self.tables.metadata.drop_all)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads: on PostgreSQL in autocommit, so a lookup is one round trip
        instead of three (BEGIN, the SELECT, COMMIT); a stream makes several before its
        first event, and under a burst every round trip waits a whole event-loop turn."""
        if self._lock is not None:
            async with self._tx() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        if self._lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._lock, self.engine.begin() as conn:
            yield conn

    # -- the pool-exhaustion fault -------------------------------------------------

    async def hold_request_connection(self) -> None:
        """pool-exhaustion: take one of the tiny pool's connections for a whole request
        (opening it first, 0.5 s, the first time: nothing was pre-warmed)."""
        assert self.request_pool is not None
        await self.request_pool.acquire()
        if self._pool_opened < TINY_POOL_SIZE:
            self._pool_opened += 1
            await asyncio.sleep(TINY_POOL_CONNECT_SECONDS)

    def release_request_connection(self) -> None:
        assert self.request_pool is not None
        self.request_pool.release()

    # -- ids ---------------------------------------------------------------------

    def generate_thread_id(self, context: RequestContext) -> str:
        """``thr_`` + 32 hex digits."""
        return new_id("thread")

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        """``<type prefix>_`` + 32 hex digits."""
        return new_id(item_type)

    # -- scoping -----------------------------------------------------------------

    def _owned(self, stmt: Select[Any], table: Table, context: RequestContext) -> Select[Any]:
        if not self.scoped:
            return stmt  # shared-threads fault: every user sees every row
        return stmt.where(table.c.user_id == context.user_id)

    async def _require_thread(
        self, conn: AsyncConnection, thread_id: str, context: RequestContext
    ) -> None:
        t = self.tables.threads
        found = await conn.scalar(
            self._owned(select(t.c.seq).where(t.c.id == thread_id), t, context)
        )
        if found is None:
            raise NotFoundError(f"thread {thread_id} not found")

    # -- threads -----------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        """The thread's metadata; NotFoundError when missing or someone else's."""
        t = self.tables.threads
        async with self._read() as conn:
            data = await conn.scalar(
                self._owned(select(t.c.data).where(t.c.id == thread_id), t, context)
            )
        if data is None:
            raise NotFoundError(f"thread {thread_id} not found")
        return ThreadMetadata.model_validate_json(data)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        """Insert or update; a thread id owned by another user is NotFound, not overwritten."""
        t = self.tables.threads
        # The SDK sometimes hands over a Thread (with items); only metadata is stored.
        data = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"})).model_dump_json()
        if self.engine.dialect.name == "postgresql":
            await self._save_thread_pg(thread, data, context)
            return
        async with self._tx() as conn:
            owner = await conn.scalar(select(t.c.user_id).where(t.c.id == thread.id))
            if owner is None:
                await conn.execute(
                    insert(t).values(
                        id=thread.id,
                        user_id=context.user_id,
                        created_at=_naive(thread.created_at),
                        data=data,
                    )
                )
            elif owner == context.user_id or not self.scoped:
                await conn.execute(update(t).where(t.c.id == thread.id).values(data=data))
            else:
                raise NotFoundError(f"thread {thread.id} not found")

    async def _save_thread_pg(
        self, thread: ThreadMetadata, data: str, context: RequestContext
    ) -> None:
        # One statement in autocommit, not BEGIN, SELECT owner, INSERT/UPDATE, COMMIT: the
        # first event of every threads.create waits for this, and on asyncpg each round trip
        # is protocol work on the event loop that a burst of 200 streams is queueing for.
        t = self.tables.threads
        insert = pg_insert(t).values(
            id=thread.id, user_id=context.user_id, created_at=_naive(thread.created_at), data=data
        )
        # Another user's thread id is not overwritten (shared-threads fault: it is).
        mine = t.c.user_id == insert.excluded.user_id if self.scoped else None
        upsert = insert.on_conflict_do_update(
            index_elements=[t.c.id], set_={"data": insert.excluded.data}, where=mine
        ).returning(t.c.seq)
        async with self._read() as conn:
            saved = await conn.scalar(upsert)
        if saved is None:
            raise NotFoundError(f"thread {thread.id} not found")

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        """A page of the user's threads ordered by creation time."""
        t = self.tables.threads
        limit = self._limit(limit)
        async with self._read() as conn:
            stmt = self._owned(select(t.c.id, t.c.data), t, context)
            scope = t.c.user_id == context.user_id if self.scoped else None
            stmt = await self._paginate(conn, stmt, t, after, order, limit, scope)
            rows = (await conn.execute(stmt)).all()
        return self._page([ThreadMetadata.model_validate_json(r.data) for r in rows], limit)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        """Delete the thread and its items."""
        t, i = self.tables.threads, self.tables.items
        async with self._tx() as conn:
            await self._require_thread(conn, thread_id, context)
            if self.no_delete:
                return  # no-delete fault: report success, keep everything
            await conn.execute(delete(i).where(i.c.thread_id == thread_id))
            await conn.execute(delete(t).where(t.c.id == thread_id))
            if Fault.ATTACHMENTS_OUTLIVE_THREAD in self.faults:
                return  # attachments-outlive-thread fault: the files stay behind
            b, a = self.tables.attachment_blobs, self.tables.attachments
            gone = select(b.c.id).where(b.c.thread_id == thread_id)
            await conn.execute(delete(a).where(a.c.id.in_(gone)))
            await conn.execute(delete(b).where(b.c.thread_id == thread_id))

    # -- items -------------------------------------------------------------------

    async def _paginate(
        self,
        conn: AsyncConnection,
        stmt: Select[Any],
        table: Table,
        after: str | None,
        order: str,
        limit: int,
        scope: Any = None,
    ) -> Select[Any]:
        """Order by (created_at, seq) and continue after the row whose id is ``after``."""
        descending = order == "desc"
        if after is not None:
            cursor_stmt = select(table.c.created_at, table.c.seq).where(table.c.id == after)
            if scope is not None:
                cursor_stmt = cursor_stmt.where(scope)
            cursor = (await conn.execute(cursor_stmt)).first()
            if cursor is None:
                if Fault.BAD_CURSOR_500 in self.faults:
                    raise RuntimeError(f"cursor row {after!r} vanished")  # an unguarded lookup
                # A cursor that is not one of this list's rows: the client's mistake, a 400
                # (answering the first page again would make a pager loop forever).
                raise ValueError(f"unknown cursor {after!r}")
            else:
                at, seq = cursor.created_at, cursor.seq
                if Fault.PAGING_DUPLICATE_BOUNDARY in self.faults:
                    # paging-duplicate-boundary fault: <= / >= instead of < / >, so every
                    # page starts again with the last row of the one before.
                    seq = seq + 1 if descending else seq - 1
                if descending:
                    stmt = stmt.where(
                        or_(
                            table.c.created_at < at,
                            and_(table.c.created_at == at, table.c.seq < seq),
                        )
                    )
                else:
                    stmt = stmt.where(
                        or_(
                            table.c.created_at > at,
                            and_(table.c.created_at == at, table.c.seq > seq),
                        )
                    )
        if descending:
            stmt = stmt.order_by(table.c.created_at.desc(), table.c.seq.desc())
        else:
            stmt = stmt.order_by(table.c.created_at.asc(), table.c.seq.asc())
        # One extra row tells whether another page exists.
        return stmt.limit(max(limit, 0) + 1)

    def _limit(self, limit: int) -> int:
        # paging-ignores-limit fault: a hard-coded LIMIT, as in a store written for one screen.
        return FIXED_PAGE if Fault.PAGING_IGNORES_LIMIT in self.faults else limit

    @staticmethod
    def _page(rows: list[Any], limit: int) -> Page[Any]:
        has_more = len(rows) > limit
        data = rows[:limit]
        return Page(data=data, has_more=has_more, after=data[-1].id if has_more and data else None)

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: RequestContext,
    ) -> Page[ThreadItem]:
        """A page of the thread's items; ``order`` is "asc" or "desc" by creation."""
        i = self.tables.items
        limit = self._limit(limit)
        async with self._read() as conn:
            await self._require_thread(conn, thread_id, context)
            scope = i.c.thread_id == thread_id
            stmt = select(i.c.data).where(scope)
            stmt = await self._paginate(conn, stmt, i, after, order, limit, scope)
            rows = (await conn.execute(stmt)).scalars().all()
        items = [_ITEM.validate_json(r) for r in rows]
        if self.racy:
            # racy-store: the index document decides which items the thread has.
            listed = set(self._index.get(thread_id, ()))
            items = [item for item in items if item.id in listed]
        return self._page(items, limit)

    async def load_user_items(self, limit: int, context: RequestContext) -> list[ThreadItem]:
        """The newest ``limit`` items of all the user's threads (cross-thread-history fault).

        The correct history query is load_thread_items(thread.id, ...); this is the bug of
        forgetting its thread id filter, scoped by user only.
        """
        t, i = self.tables.threads, self.tables.items
        async with self._tx() as conn:
            stmt = self._owned(select(i.c.data).join(t, t.c.id == i.c.thread_id), t, context)
            stmt = await self._paginate(conn, stmt, i, None, "desc", limit)
            rows = (await conn.execute(stmt)).scalars().all()
        return [_ITEM.validate_json(r) for r in rows[:limit]]

    async def _upsert_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        # Keyed by (thread_id, id): a repeated id replaces the stored body in place,
        # which is what a dict-backed store does too (see the fake-item-ids fault).
        i = self.tables.items
        data = _ITEM.dump_json(item).decode()
        async with self._tx() as conn:
            await self._require_thread(conn, thread_id, context)
            existing = await conn.scalar(
                select(i.c.seq).where(i.c.thread_id == thread_id, i.c.id == item.id)
            )
            if existing is None:
                await conn.execute(
                    insert(i).values(
                        id=item.id,
                        thread_id=thread_id,
                        created_at=_naive(item.created_at),
                        data=data,
                    )
                )
            else:
                await conn.execute(update(i).where(i.c.seq == existing).values(data=data))

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        """Append an item to the thread."""
        if Fault.DOUBLE_STORE in self.faults:
            await self._insert_item(thread_id, item, context)
            return
        if self.write_delay and item.type != "user_message":
            task = asyncio.create_task(self._later(thread_id, item, context))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        if self.racy:
            await self._racy_append(thread_id, item, context)
            return
        await self._upsert_item(thread_id, item, context)

    async def _insert_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        """double-store fault: a plain INSERT, so an item added twice becomes two rows."""
        i = self.tables.items
        async with self._tx() as conn:
            await self._require_thread(conn, thread_id, context)
            await conn.execute(
                insert(i).values(
                    id=item.id,
                    thread_id=thread_id,
                    created_at=_naive(item.created_at),
                    data=_ITEM.dump_json(item).decode(),
                )
            )

    async def _racy_append(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        # racy-store fault: read the shared index, write the item, write the index back.
        # Another conversation's append that lands while this one awaits its write is
        # overwritten by this stale copy: its item stays in the table but leaves the list.
        index = dict(self._index)
        ids = list(index.get(thread_id, ()))
        await self._upsert_item(thread_id, item, context)
        if item.id not in ids:
            ids.append(item.id)
        index[thread_id] = ids
        self._index = index

    async def _later(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await asyncio.sleep(self.write_delay)
        # The thread may be deleted meanwhile; a queue worker then drops the write.
        with contextlib.suppress(NotFoundError):
            await self._upsert_item(thread_id, item, context)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        """Insert or replace an item by id."""
        await self._upsert_item(thread_id, item, context)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        """One item; NotFoundError when it (or its thread, for this user) is missing."""
        i = self.tables.items
        async with self._read() as conn:
            await self._require_thread(conn, thread_id, context)
            data = await conn.scalar(
                select(i.c.data).where(i.c.thread_id == thread_id, i.c.id == item_id)
            )
        if data is None:
            raise NotFoundError(f"item {item_id} not found")
        return _ITEM.validate_json(data)

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        """Remove one item (no error when it is already gone)."""
        i = self.tables.items
        async with self._tx() as conn:
            await self._require_thread(conn, thread_id, context)
            await conn.execute(delete(i).where(i.c.thread_id == thread_id, i.c.id == item_id))

    # -- attachments -------------------------------------------------------------

    def _owned_attachment(self, stmt: Select[Any], context: RequestContext) -> Select[Any]:
        a = self.tables.attachments
        return stmt.where(a.c.user_id == context.user_id) if self.attachments_scoped else stmt

    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        """Insert or update attachment metadata owned by the user (and note its thread)."""
        a, b = self.tables.attachments, self.tables.attachment_blobs
        data = _ATTACHMENT.dump_json(attachment).decode()
        async with self._tx() as conn:
            owner = await conn.scalar(select(a.c.user_id).where(a.c.id == attachment.id))
            if owner is None:
                await conn.execute(
                    insert(a).values(id=attachment.id, user_id=context.user_id, data=data)
                )
            elif owner == context.user_id or not self.attachments_scoped:
                await conn.execute(update(a).where(a.c.id == attachment.id).values(data=data))
            else:
                raise NotFoundError(f"attachment {attachment.id} not found")
            if attachment.thread_id is not None:
                await conn.execute(
                    update(b).where(b.c.id == attachment.id).values(thread_id=attachment.thread_id)
                )

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        """Attachment metadata; NotFoundError when missing or someone else's."""
        a = self.tables.attachments
        async with self._read() as conn:
            data = await conn.scalar(
                self._owned_attachment(select(a.c.data).where(a.c.id == attachment_id), context)
            )
        if data is None:
            raise NotFoundError(f"attachment {attachment_id} not found")
        return _ATTACHMENT.validate_json(data)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        """Delete attachment metadata and bytes; NotFoundError when missing or someone else's."""
        a, b = self.tables.attachments, self.tables.attachment_blobs
        async with self._tx() as conn:
            found = await conn.scalar(
                self._owned_attachment(select(a.c.id).where(a.c.id == attachment_id), context)
            )
            if found is None:
                raise NotFoundError(f"attachment {attachment_id} not found")
            await conn.execute(delete(a).where(a.c.id == attachment_id))
            await conn.execute(delete(b).where(b.c.id == attachment_id))

    async def create_blob(self, attachment_id: str, size: int, context: RequestContext) -> None:
        """Reserve the upload slot of a new attachment: ``size`` bytes, nothing uploaded yet."""
        b = self.tables.attachment_blobs
        async with self._tx() as conn:
            await conn.execute(
                insert(b).values(id=attachment_id, user_id=context.user_id, size=size)
            )

    async def blob_owner(self, attachment_id: str) -> tuple[str, int, bool] | None:
        """(owner, declared size, uploaded) of an upload slot, None when there is none."""
        b = self.tables.attachment_blobs
        async with self._tx() as conn:
            row = (
                await conn.execute(
                    select(b.c.user_id, b.c.size, b.c.content.is_not(None)).where(
                        b.c.id == attachment_id
                    )
                )
            ).first()
        return (row[0], int(row[1]), bool(row[2])) if row is not None else None

    async def put_blob(self, attachment_id: str, content: bytes) -> None:
        b = self.tables.attachment_blobs
        async with self._tx() as conn:
            await conn.execute(update(b).where(b.c.id == attachment_id).values(content=content))

    async def get_blob(self, attachment_id: str) -> bytes | None:
        b = self.tables.attachment_blobs
        async with self._tx() as conn:
            data = await conn.scalar(select(b.c.content).where(b.c.id == attachment_id))
        return bytes(data) if data is not None else None

    # -- feedback ----------------------------------------------------------------

    async def save_feedback(
        self, thread_id: str, item_ids: list[str], kind: str, context: RequestContext
    ) -> None:
        """One vote per (user, item) on items of the user's own thread; NotFound otherwise."""
        i, f = self.tables.items, self.tables.feedback
        async with self._tx() as conn:
            await self._require_thread(conn, thread_id, context)
            for item_id in item_ids:
                found = await conn.scalar(
                    select(i.c.seq).where(i.c.thread_id == thread_id, i.c.id == item_id)
                )
                if found is None:
                    raise NotFoundError(f"item {item_id} not found")
            for item_id in item_ids:
                existing = None
                if Fault.FEEDBACK_INSERT_ONLY not in self.faults:
                    existing = await conn.scalar(
                        select(f.c.seq).where(
                            f.c.user_id == context.user_id, f.c.item_id == item_id
                        )
                    )
                if existing is None:
                    # feedback-insert-only fault: a second vote hits the unique constraint.
                    await conn.execute(
                        insert(f).values(
                            thread_id=thread_id, item_id=item_id, user_id=context.user_id, kind=kind
                        )
                    )
                else:
                    await conn.execute(update(f).where(f.c.seq == existing).values(kind=kind))

    async def load_feedback(self, thread_id: str, context: RequestContext) -> dict[str, str]:
        """item id -> kind of the user's votes in a thread (tests read it back)."""
        f = self.tables.feedback
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(f.c.item_id, f.c.kind).where(
                        f.c.thread_id == thread_id, f.c.user_id == context.user_id
                    )
                )
            ).all()
        return {r.item_id: r.kind for r in rows}

    async def load_item_anywhere(self, item_id: str) -> tuple[str, ThreadItem] | None:
        """(thread id, item) of an item found by id alone: the action-item-unscoped fault."""
        i = self.tables.items
        async with self._tx() as conn:
            row = (
                await conn.execute(select(i.c.thread_id, i.c.data).where(i.c.id == item_id))
            ).first()
        return (row.thread_id, _ITEM.validate_json(row.data)) if row is not None else None

    async def replace_item_anywhere(self, thread_id: str, item: ThreadItem) -> None:
        """Overwrite an item without any owner check (the action-item-unscoped fault)."""
        i = self.tables.items
        data = _ITEM.dump_json(item).decode()
        async with self._tx() as conn:
            await conn.execute(
                update(i).where(i.c.thread_id == thread_id, i.c.id == item.id).values(data=data)
            )
