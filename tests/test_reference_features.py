"""The reference server's request types beyond chat, end to end on SQLite and PostgreSQL.

Cancellation, paging, retry, feedback, attachments (two-phase upload), client tools,
structured input, widgets and actions, transcription, the tier-2 stream events, thread
status and the chat-only deployments: each correct path, and its refusals.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reference_server import features
from reference_server.config import ServerConfig
from reference_server.dev_issuer import load_dev_key, mint_dev_token
from reference_server.faults import Fault
from reference_server.serving import serve_in_thread
from reference_server.store import SqlStore
from reference_server.testing import create_thread_body, parse_sse, thread_id_of, user_input
from reference_server.transcription import CLIP_MARKER
from tests.ref_backends import PG_URL, needs_pg


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("issuer") / "dev-key.pem"
    load_dev_key(path)
    return path


def _config(backend: str, key_path: Path, prefix: str, **kw: Any) -> ServerConfig:
    if backend == "postgres":
        return ServerConfig(
            database_url=PG_URL, table_prefix=prefix, dev_key_path=key_path, token_delay=0, **kw
        )
    return ServerConfig(db_path=":memory:", dev_key_path=key_path, token_delay=0, **kw)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[needs_pg, pytest.mark.postgres])],
)
def server(request: pytest.FixtureRequest, key_path: Path) -> Iterator[tuple[str, ServerConfig]]:
    prefix = f"feat_{uuid.uuid4().hex[:8]}_"
    cfg = _config(request.param, key_path, prefix)
    with serve_in_thread(cfg) as url:
        yield url, cfg
    if request.param == "postgres":
        store = SqlStore(
            PG_URL.replace("postgresql://", "postgresql+asyncpg://"), table_prefix=prefix
        )

        async def drop() -> None:
            await store.drop_tables()
            await store.close()

        asyncio.run(drop())


class Api:
    """Synchronous ChatKit calls as one user."""

    def __init__(self, url: str, key_path: Path, user: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {mint_dev_token(user, key_path=key_path)}"}
        self.http = httpx.Client(timeout=20)

    def stream(self, type_: str, params: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        body = {"type": type_, "params": params}
        with self.http.stream("POST", self.url, json=body, headers=self.headers) as r:
            raw = r.read()
        return r.status_code, parse_sse(raw) if r.status_code == 200 else []

    def json(self, type_: str, params: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            self.url, json={"type": type_, "params": params}, headers=self.headers
        )

    def create(self, text: str, **inp: Any) -> tuple[str, list[dict[str, Any]]]:
        status, events = self.stream("threads.create", {"input": {**user_input(text), **inp}})
        assert status == 200, events
        return thread_id_of(events), events

    def say(self, tid: str, text: str, **inp: Any) -> tuple[int, list[dict[str, Any]]]:
        return self.stream(
            "threads.add_user_message", {"thread_id": tid, "input": {**user_input(text), **inp}}
        )

    def items(self, tid: str, **params: Any) -> list[dict[str, Any]]:
        r = self.json("items.list", {"thread_id": tid, "limit": 100, "order": "asc", **params})
        assert r.status_code == 200, r.text
        return list(r.json()["data"])


def done_items(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        e["item"] for e in events if e["type"] == "thread.item.done" and e["item"]["type"] == kind
    ]


@pytest.fixture
def alice(server: tuple[str, ServerConfig], key_path: Path) -> Api:
    return Api(server[0], key_path, f"alice-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def bob(server: tuple[str, ServerConfig], key_path: Path) -> Api:
    return Api(server[0], key_path, f"bob-{uuid.uuid4().hex[:6]}")


def test_stream_options_allow_cancel(alice: Api) -> None:
    _, events = alice.create("hello")
    assert {"type": "stream_options", "stream_options": {"allow_cancel": True}} in events


def test_cancel_keeps_partial_and_hidden_note(
    server: tuple[str, ServerConfig], key_path: Path
) -> None:
    _, cfg = server
    slow = ServerConfig(**{**cfg.__dict__, "token_delay": 0.02})
    with serve_in_thread(slow) as slow_url:
        api = Api(slow_url, key_path, f"carol-{uuid.uuid4().hex[:6]}")
        tid, _ = api.create("first")
        body = {
            "type": "threads.add_user_message",
            "params": {"thread_id": tid, "input": user_input("word " * 200)},
        }
        deltas = 0
        with api.http.stream("POST", slow_url, json=body, headers=api.headers) as r:
            for line in r.iter_lines():
                if "text_delta" in line:
                    deltas += 1
                    if deltas == 5:
                        break
        items: list[dict[str, Any]] = []
        for _ in range(40):  # the server notices the disconnect a moment later
            items = api.items(tid)
            if len(items) >= 4:
                break
            asyncio.run(asyncio.sleep(0.05))
        kinds = [i["type"] for i in items]
        assert kinds == ["user_message", "assistant_message", "user_message", "assistant_message"]
        partial = "".join(c["text"] for c in items[-1]["content"])
        assert partial and len(partial) < 400
        raw = api.json("items.list", {"thread_id": tid, "limit": 100})
        assert "sdk_hidden_context" not in raw.text
        status, events = api.say(tid, "next")
        assert status == 200 and done_items(events, "assistant_message")


def test_paging_walks_every_thread_once_and_refuses_bad_cursor(alice: Api) -> None:
    made = {alice.create(f"t{n}")[0] for n in range(7)}
    for order in ("asc", "desc"):
        seen: list[str] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 3, "order": order}
            if after:
                params["after"] = after
            page = alice.json("threads.list", params).json()
            seen += [t["id"] for t in page["data"]]
            if not page["has_more"]:
                break
            after = page["after"]
        assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    bad = alice.json("threads.list", {"limit": 3, "after": "thr_nope"})
    assert bad.status_code == 400
    tid = next(iter(made))
    assert alice.json("items.list", {"thread_id": tid, "after": "msg_nope"}).status_code == 400


def test_retry_replaces_newer_items_and_refuses_bad_items(alice: Api) -> None:
    tid, _ = alice.create("one")
    alice.say(tid, "two")
    before = alice.items(tid)
    first_user = before[0]["id"]
    status, events = alice.stream(
        "threads.retry_after_item", {"thread_id": tid, "item_id": first_user}
    )
    assert status == 200 and len(done_items(events, "assistant_message")) == 1
    after = alice.items(tid)
    assert after[0]["id"] == first_user and len(after) == 2
    assert after[1]["id"] not in {i["id"] for i in before}
    unknown = alice.json("threads.retry_after_item", {"thread_id": tid, "item_id": "msg_nope"})
    assert unknown.status_code == 404
    not_user = alice.json("threads.retry_after_item", {"thread_id": tid, "item_id": after[1]["id"]})
    assert not_user.status_code == 400


def test_feedback_is_per_user_and_scoped(alice: Api, bob: Api) -> None:
    tid, events = alice.create("rate me")
    item = done_items(events, "assistant_message")[0]["id"]
    for kind in ("positive", "negative"):  # changing a vote is fine
        r = alice.json("items.feedback", {"thread_id": tid, "item_ids": [item], "kind": kind})
        assert r.status_code == 200 and r.json() == {}
    assert (
        bob.json(
            "items.feedback", {"thread_id": tid, "item_ids": [item], "kind": "negative"}
        ).status_code
        == 404
    )
    assert (
        alice.json(
            "items.feedback", {"thread_id": tid, "item_ids": ["msg_x"], "kind": "positive"}
        ).status_code
        == 404
    )


def test_attachment_two_phase_upload_lifecycle_and_isolation(alice: Api, bob: Api) -> None:
    content = b"canary attachment body"
    r = alice.json(
        "attachments.create", {"name": "notes.txt", "size": len(content), "mime_type": "text/plain"}
    )
    assert r.status_code == 200, r.text
    att = r.json()
    upload = att["upload_descriptor"]
    assert upload["method"] == "PUT"
    # Only the owner may upload or read.
    assert bob.http.put(upload["url"], content=b"evil", headers=bob.headers).status_code == 404
    ok = alice.http.put(upload["url"], content=content, headers=alice.headers)
    assert ok.status_code == 200
    read = alice.http.get(upload["url"].rsplit("/upload", 1)[0], headers=alice.headers)
    assert read.content == content
    assert (
        bob.http.get(upload["url"].rsplit("/upload", 1)[0], headers=bob.headers).status_code == 404
    )
    # Bob can neither use nor delete it.
    status, _ = bob.stream(
        "threads.create", {"input": {**user_input("use it"), "attachments": [att["id"]]}}
    )
    assert status == 404
    assert bob.json("attachments.delete", {"attachment_id": att["id"]}).status_code == 404
    tid, events = alice.create("see attached", attachments=[att["id"]])
    msg = done_items(events, "user_message")[0]
    assert msg["attachments"][0]["id"] == att["id"]
    assert "notes.txt" in done_items(events, "assistant_message")[0]["content"][0]["text"]
    alice.json("threads.delete", {"thread_id": tid})
    assert alice.json("attachments.delete", {"attachment_id": att["id"]}).status_code == 404
    # Limits come before any upload; delete of an unknown id is a 404.
    too_big = alice.json(
        "attachments.create", {"name": "big.png", "size": 10**9, "mime_type": "image/png"}
    )
    assert too_big.status_code == 413
    bad_type = alice.json(
        "attachments.create", {"name": "x.exe", "size": 10, "mime_type": "application/x-msdownload"}
    )
    assert bad_type.status_code == 415
    image = alice.json(
        "attachments.create", {"name": "a.png", "size": 10, "mime_type": "image/png"}
    )
    assert image.json()["type"] == "image" and image.json()["preview_url"]
    assert (
        alice.json("attachments.delete", {"attachment_id": image.json()["id"]}).status_code == 200
    )
    assert alice.json("attachments.delete", {"attachment_id": "atc_nope"}).status_code == 404


def test_client_tool_round_trip(alice: Api) -> None:
    tid, events = alice.create(f"what is selected {features.KW_CLIENT_TOOL}")
    [call] = done_items(events, "client_tool_call")
    assert call["status"] == "pending" and call["name"] == features.CLIENT_TOOL_NAME
    status, events = alice.stream(
        "threads.add_client_tool_output", {"thread_id": tid, "result": {"text": "abc"}}
    )
    assert status == 200 and done_items(events, "assistant_message")
    stored = {i["id"]: i for i in alice.items(tid)}
    assert stored[call["id"]]["status"] == "completed" and stored[call["id"]]["output"] == {
        "text": "abc"
    }
    again = alice.json("threads.add_client_tool_output", {"thread_id": tid, "result": 1})
    assert again.status_code == 400


def test_structured_input_answer_and_resubmit(alice: Api) -> None:
    tid, events = alice.create(f"ask me {features.KW_STRUCTURED_INPUT}")
    [item] = done_items(events, "structured_input")
    answer = {"status": "answered", "answers": {"colour": {"values": ["blue"]}}}
    params = {"thread_id": tid, "item_id": item["id"], "input": answer}
    status, events = alice.stream("threads.add_structured_input", params)
    assert status == 200
    replaced = [e["item"] for e in events if e["type"] == "thread.item.replaced"]
    assert replaced[0]["status"] == "answered"
    stored = {i["id"]: i for i in alice.items(tid)}
    assert stored[item["id"]]["status"] == "answered"
    assert alice.json("threads.add_structured_input", params).status_code == 400


def test_widget_actions_custom_and_sync(alice: Api, bob: Api) -> None:
    tid, events = alice.create(f"show {features.KW_WIDGET}")
    [widget] = done_items(events, "widget")
    action = {"type": features.VOTE_ACTION, "payload": {"by": 1}}
    status, events = alice.stream(
        "threads.custom_action", {"thread_id": tid, "item_id": widget["id"], "action": action}
    )
    assert status == 200 and any(e["type"] == "thread.item.replaced" for e in events)
    r = alice.json(
        "threads.sync_custom_action", {"thread_id": tid, "item_id": widget["id"], "action": action}
    )
    assert r.status_code == 200 and "Votes: 2" in r.text
    stored = {i["id"]: i for i in alice.items(tid)}
    assert "Votes: 2" in str(stored[widget["id"]])
    # Not a widget, missing, another user's: refused.
    msg = done_items(
        alice.stream("threads.add_user_message", {"thread_id": tid, "input": user_input("x")})[1],
        "assistant_message",
    )[0]
    assert (
        alice.json(
            "threads.sync_custom_action", {"thread_id": tid, "item_id": msg["id"], "action": action}
        ).status_code
        == 400
    )
    assert (
        alice.json(
            "threads.sync_custom_action",
            {"thread_id": tid, "item_id": "msg_nope", "action": action},
        ).status_code
        == 404
    )
    btid, _ = bob.create("mine")
    assert (
        bob.json(
            "threads.sync_custom_action",
            {"thread_id": btid, "item_id": widget["id"], "action": action},
        ).status_code
        == 404
    )
    assert "Votes: 2" in str({i["id"]: i for i in alice.items(tid)}[widget["id"]])
    ping = alice.json(
        "threads.sync_custom_action", {"thread_id": tid, "action": {"type": features.PING_ACTION}}
    )
    assert ping.status_code == 200


def test_transcribe_known_clip_and_bad_input(alice: Api) -> None:
    clip = base64.b64encode(b"OggS\x00" + CLIP_MARKER + b"hello harness\n").decode()
    r = alice.json("input.transcribe", {"audio_base64": clip, "mime_type": "audio/ogg;codecs=opus"})
    assert r.status_code == 200 and r.json() == {"text": "hello harness"}
    assert (
        alice.json(
            "input.transcribe", {"audio_base64": "%%%", "mime_type": "audio/ogg"}
        ).status_code
        == 400
    )
    assert (
        alice.json(
            "input.transcribe", {"audio_base64": clip, "mime_type": "text/plain"}
        ).status_code
        == 415
    )


def test_progress_effect_notice_are_streamed_not_stored(alice: Api) -> None:
    text = f"go {features.KW_PROGRESS} {features.KW_EFFECT} {features.KW_NOTICE}"
    tid, events = alice.create(text)
    types = [e["type"] for e in events]
    assert {"progress_update", "client_effect", "notice"} <= set(types)
    assert [i["type"] for i in alice.items(tid)] == ["user_message", "assistant_message"]


def test_closed_thread_refuses_new_messages(alice: Api) -> None:
    tid, events = alice.create(f"bye {features.KW_CLOSE}")
    updated = [e for e in events if e["type"] == "thread.updated"]
    assert updated and updated[-1]["thread"]["status"]["type"] == "closed"
    status, _ = alice.say(tid, "still there?")
    assert status == 409
    assert len(alice.items(tid)) == 2


def test_unknown_thread_json_requests_are_404(alice: Api) -> None:
    for type_, params in (
        ("threads.get_by_id", {}),
        ("items.list", {"limit": 5}),
        ("threads.update", {"title": "x"}),
        ("threads.delete", {}),
    ):
        r = alice.json(type_, {"thread_id": "thr_nope", **params})
        assert r.status_code == 404, (type_, r.text)


@pytest.mark.parametrize(
    ("fault", "type_", "params"),
    [
        (Fault.UNKNOWN_THREAD_SILENT, "threads.update", {"thread_id": "thr_nope", "title": "x"}),
        (Fault.UNKNOWN_THREAD_SILENT, "threads.delete", {"thread_id": "thr_nope"}),
        (Fault.ATTACHMENT_DELETE_SILENT, "attachments.delete", {"attachment_id": "atc_nope"}),
    ],
)
def test_silent_faults_answer_200_for_unknown_ids(
    key_path: Path, fault: Fault, type_: str, params: dict[str, Any]
) -> None:
    cfg = ServerConfig(
        db_path=":memory:", dev_key_path=key_path, token_delay=0, faults=frozenset({fault})
    )
    with serve_in_thread(cfg) as url:
        r = Api(url, key_path, "erin").json(type_, params)
        assert (r.status_code, r.json()) == (200, {})


@pytest.mark.parametrize(("fault", "status"), [(Fault.CHAT_ONLY, 501), (Fault.CHAT_ONLY_500, 500)])
def test_chat_only_answers_the_rest(key_path: Path, fault: Fault, status: int) -> None:
    cfg = ServerConfig(
        db_path=":memory:", dev_key_path=key_path, token_delay=0, faults=frozenset({fault})
    )
    with serve_in_thread(cfg) as url:
        api = Api(url, key_path, "dave")
        tid, events = api.create(f"hi {features.KW_WIDGET}")
        assert not done_items(events, "widget")
        r = api.json("items.feedback", {"thread_id": tid, "item_ids": ["x"], "kind": "positive"})
        assert r.status_code == status
        body = create_thread_body("x")
        assert api.http.post(url, json=body, headers=api.headers).status_code == 200
