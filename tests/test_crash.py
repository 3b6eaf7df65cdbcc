"""``kill -9`` mid-stream, then a restart on the same store: the store is consistent.

Several replies are mid-stream and new threads are being written when the whole process
group gets SIGKILL (no shutdown hook runs). After a restart on the same SQLite file or
PostgreSQL tables:

* every thread lists, reads and lists its items; item ids are unique;
* what existed before the crash is unchanged, and everything a stream announced as done
  (thread.created, thread.item.done) was stored: an announced item is a durable item;
* no half-written reply: each stored assistant message is the offline model's whole reply;
* the interrupted thread takes a new turn; SQLite's integrity check passes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from ref_backends import BACKENDS, Backend, backend, body

from reference_server.testing import add_message_body, create_thread_body, parse_sse

IN_FLIGHT_TURNS = 2  # add_user_message on the seeded thread, mid-reply at the kill
IN_FLIGHT_CREATES = 2  # threads.create, mid-reply at the kill
WRITERS = 3  # loops renaming their own thread, so that writes are under way at the kill too
DELTAS_BEFORE_KILL = 3


class Recorder:
    """What the streams announced before the server died."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.items: dict[str, str] = {}  # item id -> thread id
        self.titles: dict[str, int] = {}  # writer thread id -> number of the last title sent
        self.confirmed_titles: dict[str, int] = {}  # ... and of the last one answered 200

    def see(self, event: dict[str, Any]) -> None:
        if event.get("type") == "thread.created":
            self.threads.add(event["thread"]["id"])
        elif event.get("type") == "thread.item.done":
            self.items[event["item"]["id"]] = event["item"]["thread_id"]


async def _stream(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    rec: Recorder,
    reached: asyncio.Event | None = None,
) -> None:
    """Read one stream event by event until it ends or the server dies."""
    deltas = 0
    buf = b""
    try:
        async with client.stream("POST", url, json=payload) as resp:
            async for chunk in resp.aiter_bytes():
                buf += chunk
                *frames, buf = buf.split(b"\n\n")
                for event in parse_sse(b"\n\n".join(frames) + b"\n\n") if frames else []:
                    rec.see(event)
                    if event.get("type") == "thread.item.updated":
                        deltas += 1
                        if reached is not None and deltas >= DELTAS_BEFORE_KILL:
                            reached.set()
    except httpx.HTTPError:
        pass  # the kill


async def _writer(client: httpx.AsyncClient, url: str, tid: str, rec: Recorder) -> None:
    """Rename ``tid`` as fast as the server answers: plain writes, under way at the kill."""
    for i in range(100_000):
        rec.titles[tid] = i  # sent
        try:
            resp = await client.post(url, json=body("threads.update", thread_id=tid, title=f"t{i}"))
        except httpx.HTTPError:
            return
        if resp.status_code == 200:
            rec.confirmed_titles[tid] = i


async def _crash(b: Backend, rec: Recorder) -> tuple[str, list[dict[str, Any]]]:
    """Seed a thread, start the traffic, SIGKILL mid-stream. (seeded thread, its items)."""
    server = b.start("--token-delay", "0.02")
    url = server.url
    try:
        async with httpx.AsyncClient(headers=b.headers("alice"), timeout=30) as client:
            seeded = parse_sse((await client.post(url, json=create_thread_body("seed"))).content)
            tid = next(e["thread"]["id"] for e in seeded if e["type"] == "thread.created")
            await client.post(url, json=add_message_body(tid, "seed two"))
            listing = body("items.list", thread_id=tid, limit=100, order="asc")
            before = (await client.post(url, json=listing)).json()["data"]
            assert len(before) == 4, before

            events = [asyncio.Event() for _ in range(IN_FLIGHT_TURNS + IN_FLIGHT_CREATES)]
            tasks = [
                asyncio.create_task(
                    _stream(client, url, add_message_body(tid, f"interrupted {i}"), rec, events[i])
                )
                for i in range(IN_FLIGHT_TURNS)
            ]
            tasks += [
                asyncio.create_task(
                    _stream(client, url, create_thread_body(f"new {i}"), rec, events[-1 - i])
                )
                for i in range(IN_FLIGHT_CREATES)
            ]
            for n in range(WRITERS):
                created = parse_sse(
                    (await client.post(url, json=create_thread_body(f"writer {n}"))).content
                )
                for event in created:
                    rec.see(event)
                wid = next(e["thread"]["id"] for e in created if e["type"] == "thread.created")
                tasks.append(asyncio.create_task(_writer(client, url, wid, rec)))
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 30)
            server.kill()  # SIGKILL to the process group, mid-stream
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
    finally:
        server.stop()
    return tid, before


async def _verify(
    url: str, headers: dict[str, str], tid: str, before: list[Any], rec: Recorder
) -> None:
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:

        async def post(payload: dict[str, Any]) -> Any:
            resp = await client.post(url, json=payload)
            what = payload["type"]
            assert resp.status_code == 200, f"{what}: HTTP {resp.status_code} {resp.text[:300]}"
            return resp.json()

        listed = {t["id"] for t in (await post(body("threads.list", limit=1000)))["data"]}
        assert tid in listed
        missing_threads = rec.threads - listed
        assert not missing_threads, f"announced threads lost in the crash: {missing_threads}"

        stored: dict[str, str] = {}
        for thread_id in listed:
            thread = await post(body("threads.get_by_id", thread_id=thread_id))
            listing = body("items.list", thread_id=thread_id, limit=1000, order="asc")
            items = (await post(listing))["data"]
            ids = [i["id"] for i in items]
            assert len(ids) == len(set(ids)), f"duplicate item ids in {thread_id}"
            stored.update((i["id"], thread_id) for i in items)
            users = [_text(i) for i in items if i["type"] == "user_message"]
            for item in items:
                if item["type"] == "assistant_message":
                    text = _text(item)
                    assert any(text.endswith(f"You said: {u}") for u in users), (
                        f"a half-written reply in {thread_id}: {text!r}"
                    )
            if thread_id == tid:
                assert items[: len(before)] == before, "the seeded thread's turns changed"
            if thread_id in rec.titles:
                # The last rename answered 200 is durable; a later one may or may not be.
                title = thread.get("title") or ""
                confirmed = rec.confirmed_titles.get(thread_id)
                if not title:
                    assert confirmed is None, f"{thread_id}: rename t{confirmed} was lost"
                    continue
                assert title[:1] == "t" and title[1:].isdigit(), f"{thread_id}: title {title!r}"
                number = int(title[1:])
                assert (confirmed or 0) <= number <= rec.titles[thread_id], (
                    f"{thread_id}: title {title!r}, last answered t{confirmed}"
                )

        lost = {i: t for i, t in rec.items.items() if stored.get(i) != t}
        assert not lost, f"items announced as done but not stored: {lost}"

        again = await client.post(url, json=add_message_body(tid, "after the crash"))
        assert again.status_code == 200
        events = parse_sse(again.content)
        assert [e for e in events if e["type"] == "thread.item.done"], events
        assert not [e for e in events if e["type"] == "error"], events


def _text(item: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in item.get("content", []))


@pytest.mark.parametrize("store", BACKENDS)
def test_kill_9_mid_stream_leaves_a_consistent_store(store: str, tmp_path: Path) -> None:
    with backend(store, tmp_path) as b:
        rec = Recorder()
        tid, before = asyncio.run(_crash(b, rec))
        assert rec.threads and rec.items, "nothing was streamed before the kill"
        writes = sum(n + 1 for n in rec.titles.values())
        print(f"{store}: {len(rec.threads)} threads, {len(rec.items)} items, {writes} renames")
        server = b.start()
        try:
            asyncio.run(_verify(server.url, b.headers("alice"), tid, before, rec))
        finally:
            server.stop()
        if b.sqlite_file is not None:
            with sqlite3.connect(b.sqlite_file) as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
