"""Concurrent turns on one thread lose no item (SQLite file and PostgreSQL).

A user with two tabs open, or a retrying client, posts threads.add_user_message to the same
thread at once. Every request must stream to completion and the store must hold every user
message exactly once and one assistant reply per turn, with the ids the streams announced.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from ref_backends import BACKENDS, backend, body

from reference_server.testing import add_message_body, create_thread_body, parse_sse

TURNS = 24


async def _turn(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    resp = await client.post(url, json=payload)
    assert resp.status_code == 200, resp.text[:500]
    events = parse_sse(resp.content)
    assert not [e for e in events if e["type"] == "error"], events
    return events


def _done(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "thread.item.done"]


def _text(item: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in item.get("content", []))


@pytest.mark.parametrize("store", BACKENDS)
def test_concurrent_turns_on_one_thread_lose_nothing(store: str, tmp_path: Path) -> None:
    with backend(store, tmp_path) as b:
        # A token delay makes the streams overlap: every turn is mid-reply while others store.
        server = b.start("--token-delay", "0.005")
        try:
            asyncio.run(_scenario(server.url, b.headers("alice")))
        finally:
            server.stop()


async def _scenario(url: str, headers: dict[str, str]) -> None:
    limits = httpx.Limits(max_connections=TURNS + 2)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:
        first = await _turn(client, url, create_thread_body("turn-start"))
        tid = next(e["thread"]["id"] for e in first if e["type"] == "thread.created")
        texts = [f"turn-{i:02d}" for i in range(TURNS)]
        streams = await asyncio.gather(
            *(_turn(client, url, add_message_body(tid, text)) for text in texts)
        )
        resp = await client.post(
            url, json=body("items.list", thread_id=tid, limit=1000, order="asc")
        )
    assert resp.status_code == 200, resp.text[:500]
    stored = resp.json()["data"]
    ids = [item["id"] for item in stored]
    assert len(ids) == len(set(ids)), f"duplicate item ids: {Counter(ids).most_common(3)}"

    announced = [item["id"] for events in [first, *streams] for item in _done(events)]
    assert sorted(announced) == sorted(ids), "the store and the streams disagree on the items"

    users = Counter(_text(i) for i in stored if i["type"] == "user_message")
    assert users == Counter(["turn-start", *texts]), users
    assistants = [i for i in stored if i["type"] == "assistant_message"]
    assert len(assistants) == TURNS + 1
    for events in streams:
        # Each turn announced its own user message and one finished reply.
        kinds = [item["type"] for item in _done(events)]
        assert kinds == ["user_message", "assistant_message"], kinds
