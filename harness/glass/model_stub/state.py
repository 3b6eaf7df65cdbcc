"""Shared, thread-safe state of one stub: settings, recordings, stored responses."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .normalize import Message
from .records import RecordedModelRequest
from .reply import DEFAULT_MARKER_PATTERN

# Enough for any test run; bounded so a long-lived stub does not grow without limit.
MAX_STORED_RESPONSES = 1000


@dataclass
class StoredResponse:
    """A finished response kept for ``previous_response_id`` and ``GET /v1/responses/{id}``."""

    conversation: list[Message]
    response: dict[str, Any]


class StubState:
    """Settings and recordings shared between the server thread and the harness.

    The delays are read once at the start of each request, so changing them affects the next
    request, never one that is streaming.
    """

    def __init__(
        self,
        *,
        token_delay: float = 0.02,
        first_token_delay: float = 0.0,
        marker_pattern: str = DEFAULT_MARKER_PATTERN,
    ) -> None:
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.marker_pattern: re.Pattern[str] = re.compile(marker_pattern)
        self._lock = threading.Lock()
        self._requests: list[RecordedModelRequest] = []
        self._next_index = 0
        self._stored: OrderedDict[str, StoredResponse] = OrderedDict()

    @property
    def requests(self) -> list[RecordedModelRequest]:
        """A snapshot, in arrival order (the records themselves are live)."""
        with self._lock:
            return list(self._requests)

    def next_index(self) -> int:
        with self._lock:
            index = self._next_index
            self._next_index += 1
            return index

    def add(self, record: RecordedModelRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def clear(self) -> None:
        """Forget recordings and stored responses (indexes keep counting up)."""
        with self._lock:
            self._requests.clear()
            self._stored.clear()

    def store_response(self, response_id: str, stored: StoredResponse) -> None:
        with self._lock:
            self._stored[response_id] = stored
            while len(self._stored) > MAX_STORED_RESPONSES:
                self._stored.popitem(last=False)

    def stored_response(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            return self._stored.get(response_id)
