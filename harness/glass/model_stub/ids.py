"""Identifiers for emitted objects.

Deployments store output item ids as database primary keys, so every id must be unique
across requests, stub restarts and parallel stubs: random UUIDs, never counters.
"""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def response_id() -> str:
    return new_id("resp_")


def message_id() -> str:
    return new_id("msg_")


def chat_completion_id() -> str:
    return new_id("chatcmpl-")


def request_id() -> str:
    return new_id("req_")
