"""The reference server as a subprocess on a chosen store: a SQLite file or PostgreSQL.

For the tests that need a real process (kill -9, concurrency over real sockets): each server
gets its own SQLite file or its own PostgreSQL table prefix, dropped afterwards, so runs can
share the database and each other's leftovers never matter.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.target.launch import Launched, start_reference_server
from reference_server.db import normalize_database_url, sqlite_url
from reference_server.dev_issuer import load_dev_key, mint_dev_token
from reference_server.store import SqlStore

PG_URL = os.environ.get("CHATKIT_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test")


@functools.cache
def pg_available() -> bool:
    import asyncpg

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(PG_URL, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


needs_pg = pytest.mark.skipif(not pg_available(), reason=f"PostgreSQL not reachable at {PG_URL}")
BACKENDS = ["sqlite", pytest.param("postgres", marks=[needs_pg, pytest.mark.postgres])]


@dataclass
class Backend:
    """Where one test's store lives, and the server arguments that point at it."""

    name: str
    key: Path
    sqlite_file: Path | None = None
    prefix: str = "chatkit_"

    @property
    def args(self) -> list[str]:
        args = ["--dev-key", str(self.key)]
        if self.sqlite_file is not None:
            return [*args, "--db", str(self.sqlite_file)]
        return [*args, "--database-url", PG_URL, "--table-prefix", self.prefix]

    @property
    def store_url(self) -> str:
        if self.sqlite_file is not None:
            return sqlite_url(str(self.sqlite_file))
        return normalize_database_url(PG_URL)

    def token(self, user: str) -> str:
        return mint_dev_token(user, key_path=self.key)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def start(self, *extra: str) -> Launched:
        return start_reference_server([*self.args, *extra])

    def drop(self) -> None:
        async def drop() -> None:
            store = SqlStore(self.store_url, table_prefix=self.prefix)
            try:
                await store.drop_tables()
            finally:
                await store.close()

        asyncio.run(drop())


@contextmanager
def backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    key = tmp_path / "dev-key.pem"
    load_dev_key(key)
    if name == "sqlite":
        yield Backend(name, key, sqlite_file=tmp_path / "store.sqlite3")
        return
    b = Backend(name, key, prefix=f"t{uuid.uuid4().hex[:12]}_")
    try:
        yield b
    finally:
        b.drop()


def body(type_: str, **params: Any) -> dict[str, Any]:
    return {"type": type_, "params": params}
