"""The exchange log and the artifacts folder: raw bytes, arrival times, headers, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

from golden.sample import sample_run

from harness.engine.expect import evidence_of
from harness.protocol.client import JsonResponse, RecordedStream, StreamEvent
from harness.protocol.sse import SSEParser
from harness.report.artifacts import ExchangeLog, mask_bytes, secrets_sent

TOKEN = "sk-artifact-TOKEN-77"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


def stream(chunks: list[tuple[float, bytes]]) -> RecordedStream:
    rec = RecordedStream(
        "threads.create",
        b'{"type": "threads.create"}',
        {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        "http://127.0.0.1:1/chatkit",
        status=200,
        headers=[("content-type", "text/event-stream"), ("set-cookie", "sid=abcdef123")],
        ttfb=0.004,
        elapsed=0.2,
    )
    parser = SSEParser()
    for t, data in chunks:
        rec.chunks.append((t, data))
        for ev in parser.feed(data, t):
            payload = json.loads(ev.data)
            rec.events.append(StreamEvent(ev.t, ev, payload))
            rec.first_event = rec.first_event or ev.t
    rec.framing = parser.close()
    return rec


CHUNKS = [
    (0.010, b'data: {"type":"thread.created"}\n\n'),
    (0.050, b'data: {"type":"notice","message":"your token is ' + TOKEN.encode() + b'"}\n\n'),
    (0.090, b'data: {"type":"notice","message":"' + JWT.encode() + b'"}\n\n'),
]


def test_mask_bytes_keeps_every_length() -> None:
    """Secrets, bearer tokens and JWTs become as many '*': offsets stay true."""
    body = b"a " + TOKEN.encode() + b" Bearer xyz.abc " + JWT.encode()
    masked = mask_bytes(body, [TOKEN])
    assert len(masked) == len(body)
    assert TOKEN.encode() not in masked and JWT.encode() not in masked
    assert b"Bearer ***" in masked


def test_secrets_sent_are_learned_from_requests() -> None:
    """The bearer token and cookie values a request carried become secrets."""
    rec = stream([])
    rec.request_headers["Cookie"] = "session=cookie-SECRET-1; theme=dark"
    found = secrets_sent(rec)
    assert TOKEN in found and "cookie-SECRET-1" in found


def test_log_writes_raw_body_timeline_and_headers(tmp_path: Path) -> None:
    """Each exchange: masked raw body, chunk arrival times with offsets, both header sets."""
    log = ExchangeLog(root=tmp_path)
    log.current = ("protocol.framing", "setup")
    rec = stream(CHUNKS)
    log.record(rec)
    body = (tmp_path / "exchanges/0001-threads.create.body").read_bytes()
    assert len(body) == sum(len(c) for _, c in CHUNKS)
    assert TOKEN.encode() not in body and JWT.encode() not in body
    meta = json.loads((tmp_path / "exchanges/0001-threads.create.json").read_text())
    assert meta["check"] == "protocol.framing" and meta["phase"] == "setup"
    assert [c["t_s"] for c in meta["chunks"]] == [0.01, 0.05, 0.09]
    offsets = [(c["offset"], c["size"]) for c in meta["chunks"]]
    assert offsets == [(0, len(CHUNKS[0][1])), (len(CHUNKS[0][1]), len(CHUNKS[1][1])), offsets[2]]
    first = body[offsets[0][0] : offsets[0][0] + offsets[0][1]]
    assert first == CHUNKS[0][1]
    assert [e["type"] for e in meta["events"]] == ["thread.created", "notice", "notice"]
    assert dict(meta["request"]["headers"])["Authorization"] == "Bearer ***"
    assert dict(meta["response"]["headers"])["set-cookie"] == "***"
    assert meta["response"]["ttfb_s"] == 0.004
    index = [json.loads(line) for line in (tmp_path / "exchanges/index.jsonl").open()]
    assert index[0]["check"] == "protocol.framing" and index[0]["status"] == 200
    assert TOKEN not in (tmp_path / "exchanges/0001-threads.create.json").read_text()


def test_log_without_root_writes_nothing(tmp_path: Path) -> None:
    """Without an artifacts folder the log only keeps references (for repro commands)."""
    log = ExchangeLog()
    log.record(stream(CHUNKS))
    assert len(log.entries) == 1 and log.check_dir("x.y") is None
    assert not list(tmp_path.iterdir())


def test_find_cited_matches_the_evidence_of_an_exchange() -> None:
    """A failure's evidence leads back to the exchange it was made from."""
    log = ExchangeLog()
    first, second = stream(CHUNKS), stream(CHUNKS[:1])
    second.request_type = "threads.add_user_message"
    log.record(first)
    log.record(second)
    cited = log.find_cited("context line\n" + evidence_of(first))
    assert cited is not None and cited.exchange is first
    assert log.find_cited("nothing like it") is None
    assert log.find_cited("") is None


def test_json_exchange_is_recorded(tmp_path: Path) -> None:
    """A JSON response is kept too, body byte for byte."""
    log = ExchangeLog(root=tmp_path)
    resp = JsonResponse("items.list", b"{}", {}, "http://127.0.0.1:1/chatkit", status=404)
    resp.body = b'{"error": "not found"}'
    log.record(resp)
    assert (tmp_path / "exchanges/0001-items.list.body").read_bytes() == resp.body


def test_write_result_lists_the_exchanges(tmp_path: Path) -> None:
    """checks/<id>/result.json holds the result and the exchanges made or cited."""
    log = ExchangeLog(root=tmp_path)
    log.current = ("protocol.event-schema", "call")
    log.record(stream(CHUNKS))
    result = sample_run().results[1]
    path = log.write_result(result)
    assert path is not None
    data = json.loads(path.read_text())
    assert data["id"] == "protocol.event-schema"
    assert data["exchanges"] == ["exchanges/0001-threads.create.json"]


def test_learned_secrets_reach_listeners() -> None:
    """A token learned from a request is handed on to whoever redacts output."""
    seen: list[str] = []
    log = ExchangeLog(on_secret=[seen.append])
    log.record(stream([]))
    log.record(stream([]))
    assert seen == [TOKEN]
