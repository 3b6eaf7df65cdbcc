"""Smoke tests of the faults that break one request handler (one test per fault).

Each test shows the broken handler misbehaving and a neighbouring request still correct,
since each fault must kill only its own check.
"""

from __future__ import annotations

import time
import uuid
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


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["type"]) for e in events]


def test_late_thread_created(key_path: Path) -> None:
    """late-thread-created: threads.create streams the user message, then thread.created."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.LATE_THREAD_CREATED) as url:
        events = turn(url, create_thread_body("hi"), headers)
        second = turn(url, add_message_body(thread_id_of(events), "again"), headers)
    assert types_of(events)[:3] == ["thread.item.done", "thread.created", "stream_options"]
    assert events[0]["item"]["type"] == "user_message"
    assert events[0]["item"]["thread_id"] == thread_id_of(events)
    assert types_of(second)[0] == "thread.item.done"  # other streams unchanged


def test_spurious_thread_created(key_path: Path) -> None:
    """spurious-thread-created: a follow-up turn starts with thread.created for its thread."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.SPURIOUS_THREAD_CREATED) as url:
        first = turn(url, create_thread_body("hi"), headers)
        thread_id = thread_id_of(first)
        second = turn(url, add_message_body(thread_id, "again"), headers)
    assert types_of(first).count("thread.created") == 1
    assert types_of(second)[:2] == ["thread.created", "thread.item.done"]
    assert second[0]["thread"]["id"] == thread_id
    assert second[1]["item"]["thread_id"] == thread_id


def test_get_thread_no_items(key_path: Path) -> None:
    """get-thread-no-items: threads.get_by_id has an empty items page; items.list has them."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.GET_THREAD_NO_ITEMS) as url:
        thread_id = thread_id_of(turn(url, create_thread_body("hi"), headers))
        got = call(url, "threads.get_by_id", headers, thread_id=thread_id).json()
        items = call(url, "items.list", headers, thread_id=thread_id).json()
    assert got["id"] == thread_id and got["items"]["data"] == []
    assert len(items["data"]) == 2


def test_list_threads_empty(key_path: Path) -> None:
    """list-threads-empty: threads.list is empty although the thread exists."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.LIST_THREADS_EMPTY) as url:
        thread_id = thread_id_of(turn(url, create_thread_body("hi"), headers))
        listed = call(url, "threads.list", headers).json()
        got = call(url, "threads.get_by_id", headers, thread_id=thread_id)
    assert listed == {"data": [], "has_more": False}
    assert got.status_code == 200


def test_no_title_save(key_path: Path) -> None:
    """no-title-save: threads.update echoes the new title; the stored one is unchanged."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.NO_TITLE_SAVE) as url:
        thread_id = thread_id_of(turn(url, create_thread_body("hi"), headers))
        updated = call(url, "threads.update", headers, thread_id=thread_id, title="renamed")
        got = call(url, "threads.get_by_id", headers, thread_id=thread_id).json()
    assert updated.status_code == 200 and updated.json()["title"] == "renamed"
    assert got.get("title") is None and len(got["items"]["data"]) == 2


def test_json_as_text(key_path: Path) -> None:
    """json-as-text: JSON answers say text/plain; streams and errors keep their types."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.JSON_AS_TEXT) as url:
        listed = call(url, "threads.list", headers)
        missing = call(url, "threads.get_by_id", headers, thread_id="thr_" + uuid.uuid4().hex)
        stream = httpx.post(url, json=create_thread_body("hi"), headers=headers, timeout=20)
    assert listed.headers["content-type"].startswith("text/plain")
    assert listed.json() == {"data": [], "has_more": False}
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert stream.headers["content-type"] == "text/event-stream"


def test_delete_wrong_thread(key_path: Path) -> None:
    """delete-wrong-thread: deleting an unknown id deletes the user's newest thread."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.DELETE_WRONG_THREAD) as url:
        older = thread_id_of(turn(url, create_thread_body("older"), headers))
        newer = thread_id_of(turn(url, create_thread_body("newer"), headers))
        bob = headers_for(key_path, "bob")
        bobs = thread_id_of(turn(url, create_thread_body("bob's"), bob))
        deleted = call(url, "threads.delete", headers, thread_id="thr_" + uuid.uuid4().hex)
        statuses = {
            tid: call(url, "threads.get_by_id", hdrs, thread_id=tid).status_code
            for tid, hdrs in ((older, headers), (newer, headers), (bobs, bob))
        }
        updated = call(url, "threads.update", headers, thread_id="thr_nope", title="x")
    assert deleted.status_code == 200 and deleted.json() == {}
    assert statuses == {older: 200, newer: 404, bobs: 200}
    assert updated.status_code == 404  # only threads.delete falls back


def test_unindexed_list(key_path: Path) -> None:
    """unindexed-list: threads.list and items.list each take the configured scan time."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.UNINDEXED_LIST, unindexed_list_seconds=0.5) as url:
        thread_id = thread_id_of(turn(url, create_thread_body("hi"), headers))
        timings: dict[str, float] = {}
        for type_, params in (("threads.list", {}), ("items.list", {"thread_id": thread_id})):
            started = time.monotonic()
            response = call(url, type_, headers, **params)
            timings[type_] = time.monotonic() - started
            assert response.status_code == 200 and response.json()["data"]
    assert min(timings.values()) >= 0.45, timings
