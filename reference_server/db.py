"""Database plumbing: URL normalisation, the async engine, and the table layout."""

from __future__ import annotations

import re
import sqlite3
import uuid

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
# BIGINT autoincrements on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


def normalize_database_url(url: str) -> str:
    """The seed's rewrite: plain ``postgresql://`` (or ``postgres://``) to asyncpg."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def sqlite_url(path: str) -> str:
    """The aiosqlite URL for a file path or ``:memory:``."""
    if path == ":memory:":
        return "sqlite+aiosqlite:///:memory:"
    return f"sqlite+aiosqlite:///{path}"


# PostgreSQL pool. A burst of 200 streams keeps 10-20 short transactions in flight at once;
# with SQLAlchemy's default pool_size of 5 every connection returned beyond the fifth was
# closed and the next transaction opened a new one (a connect per transaction, in the event
# loop). 20 are kept, all opened at start-up (SqlStore.start), and none beyond: a burst
# waits a moment for one of them rather than paying a connect (and its statement cache).
PG_POOL_SIZE = 20
PG_MAX_OVERFLOW = 0


def _memory_name(url: str) -> str | None:
    """The shared-cache name for an in-memory SQLite URL, None for any other URL."""
    if url.startswith("sqlite") and (":memory:" in url or url.endswith("://")):
        return f"chatkit-memory-{uuid.uuid4().hex}"
    return None


def make_engine(url: str) -> tuple[AsyncEngine, sqlite3.Connection | None]:
    """An async engine, and for in-memory SQLite the connection that keeps the data alive.

    In-memory SQLite is one named shared-cache database, not a private ``:memory:`` one: a
    request cancelled in the middle of a query (a client that disconnects mid-stream) makes
    SQLAlchemy invalidate the connection, and the pool's next connection to a private
    ``:memory:`` database would be a new, empty database (tables gone, every later request a
    500). A shared-cache database lives as long as any connection to it, so a plain
    connection the store never uses holds it for the store's lifetime.
    """
    name = _memory_name(url)
    if name is not None:
        uri = f"file:{name}?mode=memory&cache=shared"
        keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
        engine = create_async_engine(
            f"sqlite+aiosqlite:///{uri}&uri=true",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        return engine, keeper
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"timeout": 30}), None
    # No pre-ping: it is one more round trip on every checkout (a stream makes a dozen). A
    # connection the server dropped fails one request, and SQLAlchemy then replaces the pool.
    engine = create_async_engine(
        url,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        pool_recycle=1800,
    )
    return engine, None


class Tables:
    """The tables, named with a prefix so test runs can share one database."""

    def __init__(self, prefix: str, *, unique_item_ids: bool = True) -> None:
        if not _PREFIX.match(prefix):
            raise ValueError(f"table prefix {prefix!r} must be a short SQL identifier")
        self.metadata = MetaData()
        # seq is a monotonic insertion counter: items created within the same
        # microsecond (same created_at) still come back in insertion order.
        self.threads = Table(
            f"{prefix}threads",
            self.metadata,
            Column("seq", _SEQ, primary_key=True, autoincrement=True),
            Column("id", String(128), nullable=False, unique=True),
            Column("user_id", String(256), nullable=False),
            Column("created_at", DateTime(), nullable=False),
            Column("data", Text(), nullable=False),
            Index(f"{prefix}threads_user_order", "user_id", "created_at", "seq"),
        )
        self.items = Table(
            f"{prefix}items",
            self.metadata,
            Column("seq", _SEQ, primary_key=True, autoincrement=True),
            Column("id", String(128), nullable=False),
            Column("thread_id", String(128), nullable=False),
            Column("created_at", DateTime(), nullable=False),
            Column("data", Text(), nullable=False),
            # Off only for the double-store fault: a table that lets one id be stored twice.
            *(
                [UniqueConstraint("thread_id", "id", name=f"{prefix}items_thread_item")]
                if unique_item_ids
                else []
            ),
            Index(f"{prefix}items_thread_order", "thread_id", "created_at", "seq"),
        )
        self.attachments = Table(
            f"{prefix}attachments",
            self.metadata,
            Column("id", String(128), primary_key=True),
            Column("user_id", String(256), nullable=False),
            Column("data", Text(), nullable=False),
        )
        # Uploaded bytes and the thread an attachment was used in (set once a message holds
        # it), so deleting a thread deletes its attachments. A table of its own: create_all
        # adds it to databases made before attachments were stored.
        self.attachment_blobs = Table(
            f"{prefix}attachment_blobs",
            self.metadata,
            Column("id", String(128), primary_key=True),
            Column("user_id", String(256), nullable=False),
            Column("thread_id", String(128), nullable=True, index=True),
            Column("size", BigInteger(), nullable=False),
            Column("content", LargeBinary(), nullable=True),
        )
        # One vote per (user, item): a second vote replaces the first.
        self.feedback = Table(
            f"{prefix}feedback",
            self.metadata,
            Column("seq", _SEQ, primary_key=True, autoincrement=True),
            Column("thread_id", String(128), nullable=False),
            Column("item_id", String(128), nullable=False),
            Column("user_id", String(256), nullable=False),
            Column("kind", String(16), nullable=False),
            UniqueConstraint("user_id", "item_id", name=f"{prefix}feedback_user_item"),
        )
