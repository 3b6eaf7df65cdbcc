"""Validate what a target sends against the SDK's own pydantic types.

Using ``chatkit.types`` (not a schema of our own) means an invented event type, a missing
field or a wrongly shaped item is caught exactly as the ChatKit client would choke on it.
``chatkit.types`` imports in ~0.2 s; ``chatkit.server`` (2 s) is never needed here.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

# chatkit.widgets marks its named widget classes deprecated (for the SDK's users, who should
# build widgets from templates); the SDK's own types subclass and validate them, so importing
# chatkit.types or validating a widget item warns though nobody used them "directly". Only
# that one warning is silenced, and only around our own use of the SDK's types: a user's
# `pytest -W error` run must not fail on it.
_WIDGET_DEPRECATION = r"Direct usage of named widget classes is deprecated"


@contextmanager
def _sdk_types() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_WIDGET_DEPRECATION, category=DeprecationWarning)
        yield


@lru_cache(maxsize=1)
def _adapters() -> dict[str, TypeAdapter[Any]]:
    with _sdk_types():
        from chatkit import types

        return {
            "event": TypeAdapter(types.ThreadStreamEvent),
            "thread": TypeAdapter(types.Thread),
            "item": TypeAdapter(types.ThreadItem),
            "threads_page": TypeAdapter(types.Page[types.Thread]),
            "items_page": TypeAdapter(types.Page[types.ThreadItem]),
        }


def _problem(kind: str, payload: Any) -> str | None:
    try:
        with _sdk_types():
            _adapters()[kind].validate_python(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc or '(root)'}: {first.get('msg', 'invalid')}"
    return None


def event_problem(payload: Any) -> str | None:
    """Why ``payload`` is not a valid ``ThreadStreamEvent``, or None."""
    return _problem("event", payload)


def thread_problem(payload: Any) -> str | None:
    return _problem("thread", payload)


def threads_page_problem(payload: Any) -> str | None:
    return _problem("threads_page", payload)


def items_page_problem(payload: Any) -> str | None:
    return _problem("items_page", payload)


KNOWN_EVENT_TYPES = frozenset(
    {
        "thread.created",
        "thread.updated",
        "thread.item.added",
        "thread.item.updated",
        "thread.item.done",
        "thread.item.removed",
        "thread.item.replaced",
        "stream_options",
        "progress_update",
        "client_effect",
        "error",
        "notice",
    }
)
