"""Shared, expensive interactions: recorded once per session, read by many checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest_asyncio

from harness.protocol.client import ChatKitClient, JsonResponse, RecordedStream


@dataclass
class Conversation:
    """Two turns on one thread, and what the store says afterwards."""

    first: RecordedStream
    second: RecordedStream | None
    items: JsonResponse | None

    @property
    def thread_id(self) -> str | None:
        return self.first.thread_id


FIRST_MESSAGE = "Hello from chatkit-harness. Please answer briefly."
SECOND_MESSAGE = "Thanks. One more short answer, please."


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def conversation(chatkit_client: ChatKitClient) -> Conversation:
    first = await chatkit_client.create_thread(FIRST_MESSAGE)
    tid = first.thread_id
    second = items = None
    if tid and first.status == 200:
        second = await chatkit_client.add_user_message(tid, SECOND_MESSAGE)
        items = await chatkit_client.list_items(tid)
    return Conversation(first, second, items)
