"""glass.unique-message-ids and the protocol id checks on hand-made streams: each cause of a
repeated id gets its own diagnosis.

Two replies under one id (the Chat Completions '__fake_id__') and one reply stored twice (a
second add_thread_item into a store that keeps both rows) fail with different messages and
fixes; one reply finished after every chunk is one reply, which only protocol.item-lifecycle
fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.glass.box import GlassBox
from harness.glass.model_input import Turn
from harness.glass.model_stub import RecordedModelRequest
from harness.probes.conversation import Conversation, done_ids
from harness.probes.glass import GlassProbe, GlassTurn, replies_of, shown_reply
from harness.protocol.client import JsonResponse, RecordedStream, StreamEvent
from harness.protocol.sse import SSEEvent
from harness.report.results import CheckFailure
from reference_server.config import ServerConfig
from reference_server.dev_issuer import mint_dev_token
from reference_server.faults import Fault
from reference_server.serving import serve_in_thread
from reference_server.testing import add_message_body, create_thread_body, parse_sse, thread_id_of
from scenarios import test_glass, test_protocol

URL = "http://127.0.0.1:9/chatkit"
REPLY = ["Hello", " there", ", glass", " box."]


def stream(payloads: list[dict[str, Any]], request_type: str = "threads.create") -> RecordedStream:
    rec = RecordedStream(request_type, b"{}", {}, URL, status=200, elapsed=0.5)
    for i, p in enumerate(payloads):
        rec.events.append(StreamEvent(0.01 * (i + 1), SSEEvent(data=json.dumps(p)), p))
    rec.first_event = rec.events[0].t
    return rec


def message(item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "assistant_message",
        "id": item_id,
        "thread_id": "thr_1",
        "created_at": "2026-01-01T00:00:00",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def user(item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "user_message",
        "id": item_id,
        "thread_id": "thr_1",
        "created_at": "2026-01-01T00:00:00",
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


def turn_events(k: int, item_id: str, *, done_per_chunk: bool = False) -> list[dict[str, Any]]:
    """A turn as the SDK streams it; with ``done_per_chunk``, a done after every delta too."""
    events: list[dict[str, Any]] = []
    if k == 1:
        events.append({"type": "thread.created", "thread": {"id": "thr_1", "title": None}})
    events.append({"type": "thread.item.done", "item": user(f"msg_user{k}", f"turn {k}")})
    events.append({"type": "thread.item.added", "item": message(item_id, "")})
    events.append(
        {
            "type": "thread.item.updated",
            "item_id": item_id,
            "update": {"type": "assistant_message.content_part.added", "content_index": 0},
        }
    )
    text = ""
    for chunk in REPLY:
        text += chunk
        delta = {"type": "assistant_message.content_part.text_delta", "delta": chunk}
        events.append({"type": "thread.item.updated", "item_id": item_id, "update": delta})
        if done_per_chunk:
            events.append({"type": "thread.item.done", "item": message(item_id, text)})
    events.append(
        {
            "type": "thread.item.updated",
            "item_id": item_id,
            "update": {"type": "assistant_message.content_part.done", "content_index": 0},
        }
    )
    events.append({"type": "thread.item.done", "item": message(item_id, text)})
    return events


def glass_probe(ids: list[str], stored: list[str], *, done_per_chunk: bool = False) -> GlassProbe:
    probe = GlassProbe(GlassBox("http://127.0.0.1:9/v1"), "User n", "Page t")
    for k, item_id in enumerate(ids, 1):
        rec = stream(turn_events(k, item_id, done_per_chunk=done_per_chunk))
        call = RecordedModelRequest(index=k - 1, method="POST", endpoint="/v1/responses")
        turn = Turn(f"turn {k}", shown_reply(rec), f"m{k}")
        probe.turns.append(GlassTurn(turn, rec, 0.0, [call], call))
    rows = [message(i, "".join(REPLY)) for i in stored]
    body = json.dumps({"data": rows, "has_more": False, "after": None}).encode()
    probe.items = JsonResponse("items.list", b"{}", {}, URL, status=200, body=body)
    return probe


def judge_glass(probe: GlassProbe) -> CheckFailure | None:
    try:
        test_glass.test_unique_message_ids({"glass": probe})
    except CheckFailure as failure:
        return failure
    return None


def test_distinct_replies_stored_once_pass() -> None:
    assert (
        judge_glass(glass_probe(["msg_a", "msg_b", "msg_c"], ["msg_a", "msg_b", "msg_c"])) is None
    )


def test_two_turns_with_one_id_is_the_placeholder_id_diagnosis() -> None:
    failure = judge_glass(glass_probe(["__fake_id__", "__fake_id__"], ["__fake_id__"]))
    assert failure is not None
    assert failure.message == "assistant replies of different turns share one item id"
    assert "'__fake_id__'" in failure.actual and "turns 1, 2" in failure.actual
    assert "generate_item_id" in failure.fix


def test_a_reply_stored_twice_is_its_own_diagnosis() -> None:
    ids = ["msg_a", "msg_b", "msg_c"]
    failure = judge_glass(glass_probe(ids, [i for i in ids for _ in range(2)]))
    assert failure is not None
    assert failure.message == "the store holds turn 1's reply 2 times under its one id"
    assert "6 stored" in failure.actual and "turn 3's 'msg_c' 2 times" in failure.actual
    assert "Save each item once" in failure.fix and "unique constraint" in failure.fix
    assert "generate_item_id" not in failure.fix


def test_a_reply_done_after_every_chunk_is_one_reply() -> None:
    probe = glass_probe(["msg_a", "msg_b"], ["msg_a", "msg_b"], done_per_chunk=True)
    assert judge_glass(probe) is None
    rec = probe.turns[0].rec
    assert len(rec.of_type("thread.item.done")) == len(REPLY) + 2  # user, chunks, final
    assert replies_of(rec) == [("msg_a", "".join(REPLY))]
    assert probe.turns[0].turn.reply == "".join(REPLY)  # what a client shows, not every done


def test_two_messages_added_under_one_id_in_one_turn_share_it() -> None:
    rec = stream(turn_events(1, "__fake_id__") + turn_events(2, "__fake_id__")[1:])
    assert [i for i, _ in replies_of(rec)] == ["__fake_id__", "__fake_id__"]


def conversation(*, done_per_chunk: bool = False, second_id: str = "msg_b") -> Conversation:
    first = stream(turn_events(1, "msg_a", done_per_chunk=done_per_chunk))
    second = stream(
        turn_events(2, second_id, done_per_chunk=done_per_chunk), "threads.add_user_message"
    )
    return Conversation(first, second, None, None, 0.0)


def test_done_per_chunk_fails_item_lifecycle_with_its_own_message() -> None:
    conv = conversation(done_per_chunk=True)
    with pytest.raises(CheckFailure) as err:
        test_protocol.test_item_lifecycle({"conversation": conv})
    assert err.value.message == f"assistant item msg_a finished {len(REPLY) + 1} times"
    assert f"{len(REPLY) - 1} of its text deltas came after the first one" in err.value.actual
    assert "once per item" in err.value.fix
    # Each turn still has one item with its own id.
    test_protocol.test_unique_item_ids({"conversation": conv})
    assert done_ids(conv.first, conv.second) == ["msg_user1", "msg_a", "msg_user2", "msg_b"]


def test_one_id_in_two_turns_still_repeats() -> None:
    with pytest.raises(CheckFailure, match="item ids repeat") as err:
        test_protocol.test_unique_item_ids({"conversation": conversation(second_id="msg_a")})
    assert err.value.actual == "'msg_a' used for 2 items"


# -- the reference server's faults, over a real socket -----------------------------------------


def _two_turns(key: Path, fault: Fault) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """(each turn's events, items.list) of two turns on a server with ``fault``."""
    cfg = ServerConfig(
        db_path=":memory:", dev_key_path=key, token_delay=0.0, faults=frozenset({fault})
    )
    headers = {"Authorization": f"Bearer {mint_dev_token('alice', key_path=key)}"}
    with serve_in_thread(cfg) as url:
        first = parse_sse(httpx.post(url, json=create_thread_body("hi"), headers=headers).content)
        tid = thread_id_of(first)
        body = add_message_body(tid, "again")
        second = parse_sse(httpx.post(url, json=body, headers=headers, timeout=20).content)
        listed = httpx.post(
            url, json={"type": "items.list", "params": {"thread_id": tid}}, headers=headers
        )
    return [first, second], listed.json()["data"]


def test_double_store_keeps_two_rows_under_one_id(tmp_path: Path) -> None:
    turns, items = _two_turns(tmp_path / "key.pem", Fault.DOUBLE_STORE)
    streamed = [
        e["item"]["id"]
        for events in turns
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    ]
    assert len(streamed) == len(set(streamed)) == 2  # the stream itself is fine
    stored = [i["id"] for i in items if i["type"] == "assistant_message"]
    assert sorted(stored) == sorted(streamed * 2)
    assert sum(i["type"] == "user_message" for i in items) == 2


def test_done_per_chunk_finishes_one_message_many_times(tmp_path: Path) -> None:
    turns, items = _two_turns(tmp_path / "key.pem", Fault.DONE_PER_CHUNK)
    for events in turns:
        dones = [
            e["item"]
            for e in events
            if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
        ]
        assert len(dones) > 2 and len({d["id"] for d in dones}) == 1
        # The last done has the whole text; the store keeps that one row.
        texts = [d["content"][0]["text"] for d in dones]
        assert texts[-1] == max(texts, key=len) and texts[0] != texts[-1]
    stored = [i for i in items if i["type"] == "assistant_message"]
    assert len(stored) == 2 and len({i["id"] for i in stored}) == 2
