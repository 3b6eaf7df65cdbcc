"""Smoke tests of the faults that behave like real backends seen in the field (one per fault)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_faults import faulty, headers_for, turn

from reference_server.dev_issuer import load_dev_key
from reference_server.faults import Fault
from reference_server.testing import add_message_body, create_thread_body, thread_id_of


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("issuer") / "dev-key.pem"
    load_dev_key(path)
    return path


def call(url: str, type_: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return httpx.post(url, json={"type": type_, "params": params}, headers=headers, timeout=20)


def test_refuse_all(key_path: Path) -> None:
    """refuse-all: a valid token gets 401 like any other."""
    with faulty(key_path, Fault.REFUSE_ALL) as url:
        got = call(url, "threads.list", headers_for(key_path))
    assert got.status_code == 401 and "Bearer" in got.headers["www-authenticate"]


def test_eventual_writes(key_path: Path) -> None:
    """eventual-writes: the assistant item shows in items.list only a moment after the stream."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.EVENTUAL_WRITES) as url:
        thread_id = thread_id_of(turn(url, create_thread_body("hi"), headers))
        right_after = call(url, "items.list", headers, thread_id=thread_id, order="asc").json()[
            "data"
        ]
        time.sleep(0.6)
        later = call(url, "items.list", headers, thread_id=thread_id, order="asc").json()["data"]
    assert [i["type"] for i in right_after] == ["user_message"]
    assert [i["type"] for i in later] == ["user_message", "assistant_message"]


def test_get_thread_500_after_rename(key_path: Path) -> None:
    """get-thread-500-after-rename: only a renamed thread breaks get_by_id; list shows the name."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.GET_THREAD_500_AFTER_RENAME) as url:
        renamed = thread_id_of(turn(url, create_thread_body("one"), headers))
        other = thread_id_of(turn(url, create_thread_body("two"), headers))
        assert call(url, "threads.update", headers, thread_id=renamed, title="x").status_code == 200
        broken = call(url, "threads.get_by_id", headers, thread_id=renamed)
        fine = call(url, "threads.get_by_id", headers, thread_id=other)
        listed = call(url, "threads.list", headers).json()["data"]
    assert broken.status_code == 500 and fine.status_code == 200
    assert {t["id"]: t.get("title") for t in listed}[renamed] == "x"


def test_header_name_only(key_path: Path) -> None:
    """header-name-only: X-User-Name reaches the agent, X-Page-Title does not."""
    extra = {"X-User-Name": "Nora", "X-Page-Title": "Pricing page"}
    headers = headers_for(key_path, **extra)
    with faulty(key_path, Fault.HEADER_NAME_ONLY) as url:
        events = turn(url, create_thread_body("what is my name and page?"), headers)
        follow = turn(url, add_message_body(thread_id_of(events), "again"), headers)
    text = " ".join(
        c.get("text", "")
        for e in events + follow
        if e.get("type") == "thread.item.done" and e["item"]["type"] == "assistant_message"
        for c in e["item"]["content"]
    )
    assert "Nora" in text and "Pricing page" not in text
