"""Shared, thread-safe state of one MCP stub: trusted keys, recordings, each identity's tasks."""

from __future__ import annotations

import threading
from collections import defaultdict

from .credentials import KeySets
from .records import RecordedToolCall

# Enough for any run; bounded so a long-lived stub does not grow without limit.
MAX_CALLS = 5000


class McpStubState:
    """What the uvicorn thread writes and the harness reads."""

    def __init__(
        self, *, key_sets: KeySets | None = None, authorization_server: str | None = None
    ) -> None:
        self.key_sets = key_sets
        # Named in the protected-resource metadata (RFC 9728): where a deployment exchanges
        # its user's token for one meant for this server.
        self.authorization_server = authorization_server
        self.resource_url = ""  # the /mcp URL, set once the stub listens
        self._lock = threading.Lock()
        self._calls: list[RecordedToolCall] = []
        self._next_index = 0
        self._tasks: dict[str, list[str]] = defaultdict(list)

    @property
    def calls(self) -> list[RecordedToolCall]:
        """A snapshot, in arrival order."""
        with self._lock:
            return list(self._calls)

    def next_index(self) -> int:
        with self._lock:
            index = self._next_index
            self._next_index += 1
            return index

    def add(self, call: RecordedToolCall) -> None:
        with self._lock:
            self._calls.append(call)
            del self._calls[:-MAX_CALLS]

    def clear(self) -> None:
        """Forget recordings and tasks (indexes keep counting up)."""
        with self._lock:
            self._calls.clear()
            self._tasks.clear()

    def add_task(self, identity: str, title: str) -> list[str]:
        with self._lock:
            self._tasks[identity].append(title)
            return list(self._tasks[identity])

    def tasks(self, identity: str) -> list[str]:
        with self._lock:
            return list(self._tasks.get(identity, []))
