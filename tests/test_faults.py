"""Each fault mode breaks what its name says, and only there (one smoke test per fault).

The auth faults (no-auth, accept-alg-none, accept-expired, ignore-audience, ignore-kid,
trust-user-header) are exercised in tests/test_ref_auth.py next to the correct checks; the
faults of single request handlers in tests/test_faults_requests.py.
"""

from __future__ import annotations

import gzip
import http.client
import json
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from reference_server.config import ServerConfig
from reference_server.dev_issuer import load_dev_key, mint_dev_token
from reference_server.faults import Fault, list_faults
from reference_server.offline_model import deltas, tokenize
from reference_server.serving import serve_in_thread
from reference_server.testing import (
    add_message_body,
    assistant_text,
    create_thread_body,
    parse_sse,
    thread_id_of,
)


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("issuer") / "dev-key.pem"
    load_dev_key(path)
    return path


@pytest.fixture(scope="module")
def token(key_path: Path) -> str:
    return mint_dev_token("alice", key_path=key_path)


@contextmanager
def faulty(key_path: Path, *faults: Fault, **cfg: Any) -> Iterator[str]:
    config = ServerConfig(
        db_path=":memory:",
        dev_key_path=key_path,
        token_delay=cfg.pop("token_delay", 0.0),
        faults=frozenset(faults),
        **cfg,
    )
    with serve_in_thread(config) as url:
        yield url


def headers_for(key_path: Path, user: str = "alice", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(user, key_path=key_path)}", **extra}


def turn(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    response = httpx.post(url, json=body, headers=headers, timeout=20)
    assert response.status_code == 200, response.text
    return parse_sse(response.content)


def two_turns(url: str, headers: dict[str, str], first: str, second: str) -> tuple[str, str]:
    """(thread id, reply to the second message)."""
    events = turn(url, create_thread_body(first), headers)
    thread_id = thread_id_of(events)
    return thread_id, assistant_text(turn(url, add_message_body(thread_id, second), headers))


def test_every_fault_is_listed_and_tested() -> None:
    """--list names every fault; each has a smoke test (test_faults*.py, test_ref_auth.py,
    test_reference_features.py) or a row in the fault matrix, which runs it end to end."""
    from harness.testing.fault_matrix import EXPECTED_KILLS, STUB_KILLS

    listing = list_faults()
    here = Path(__file__).parent
    files = [*sorted(here.glob("test_faults*.py")), here / "test_ref_auth.py"]
    files.append(here / "test_reference_features.py")
    sources = "".join(path.read_text() for path in files)
    in_matrix = set(EXPECTED_KILLS) | set(STUB_KILLS)
    for fault in Fault:
        assert fault.value in listing
        tested = f"Fault.{fault.name}" in sources or fault.value in sources
        assert tested or fault.value in in_matrix, f"{fault.value} has no smoke test"


# -- what reaches the model -------------------------------------------------------------


def test_no_history(key_path: Path) -> None:
    """no-history: the second turn's model input holds only the new message."""
    with faulty(key_path, Fault.NO_HISTORY) as url:
        _, reply = two_turns(url, headers_for(key_path), "canary-first", "second")
    assert "canary-first" not in reply and reply.startswith("History: (none).")


def test_drop_metadata(key_path: Path) -> None:
    """drop-metadata: neither body metadata nor headers reach the instructions."""
    metadata = {"userInfo": {"name": "canary-name"}, "pageContext": {"title": "canary-page"}}
    hdrs = headers_for(key_path, **{"X-User-Name": "canary-hdr", "X-Page-Title": "canary-hdr-page"})
    with faulty(key_path, Fault.DROP_METADATA) as url:
        reply = assistant_text(turn(url, create_thread_body("hi", metadata), hdrs))
    assert "canary" not in reply
    assert "User: unknown (id alice)." in reply and "Page:" not in reply


def test_duplicate_last_message(key_path: Path) -> None:
    """duplicate-last-message: the model gets the new message twice."""
    with faulty(key_path, Fault.DUPLICATE_LAST_MESSAGE) as url:
        reply = assistant_text(turn(url, create_thread_body("canary-dup"), headers_for(key_path)))
    assert reply.startswith("History: [canary-dup].") and reply.endswith("You said: canary-dup")


def test_history_as_repr(key_path: Path) -> None:
    """history-as-repr: history lands in the instructions as reprs, not as input items."""
    with faulty(key_path, Fault.HISTORY_AS_REPR) as url:
        _, reply = two_turns(url, headers_for(key_path), "canary-repr", "second")
    assert reply.startswith("History: (none).")
    assert "Instructions also say: user_message: [UserMessageTextContent(" in reply
    assert "canary-repr" in reply


def test_token_in_prompt(key_path: Path, token: str) -> None:
    """token-in-prompt: the bearer token reaches the model (and so the reply)."""
    with faulty(key_path, Fault.TOKEN_IN_PROMPT) as url:
        headers = {"Authorization": f"Bearer {token}"}
        reply = assistant_text(turn(url, create_thread_body("hi"), headers))
    assert f"access_token={token}" in reply


def test_fake_item_ids(key_path: Path) -> None:
    """fake-item-ids: every assistant message is __fake_id__, so turn 2 overwrites turn 1."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.FAKE_ITEM_IDS) as url:
        events = turn(url, create_thread_body("one"), headers)
        thread_id = thread_id_of(events)
        events += turn(url, add_message_body(thread_id, "two"), headers)
        items = httpx.post(
            url, json={"type": "items.list", "params": {"thread_id": thread_id}}, headers=headers
        ).json()["data"]
    assistant_ids = {
        e["item"]["id"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    }
    assert assistant_ids == {"__fake_id__"}
    assert [i["type"] for i in items].count("assistant_message") == 1  # the first reply is gone


def test_slow_first_token(key_path: Path) -> None:
    """slow-first-token: the first delta waits, the rest follow at the normal pace."""
    delay = 0.05
    with faulty(
        key_path, Fault.SLOW_FIRST_TOKEN, slow_first_token_seconds=0.6, token_delay=delay
    ) as url:
        options = 0.0
        deltas: list[float] = []
        with httpx.stream(
            "POST", url, json=create_thread_body("hi"), headers=headers_for(key_path), timeout=20
        ) as response:
            for line in response.iter_lines():
                if "stream_options" in line:
                    options = time.monotonic()
                if "text_delta" in line:
                    deltas.append(time.monotonic())
    assert deltas[0] - options >= 0.55
    # Not one burst after the wait (the model did not run ahead): the later deltas keep
    # roughly their token_delay apart.
    gaps = sorted(b - a for a, b in pairwise(deltas[1:]))
    assert len(gaps) >= 5 and gaps[len(gaps) // 2] >= delay / 2


def test_cross_thread_history(key_path: Path) -> None:
    """cross-thread-history: a fresh thread's model input holds another thread's messages."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.CROSS_THREAD_HISTORY) as url:
        turn(url, create_thread_body("canary-elsewhere"), headers)
        reply = assistant_text(turn(url, create_thread_body("fresh"), headers))
        bob = assistant_text(turn(url, create_thread_body("bob's"), headers_for(key_path, "bob")))
    assert reply.startswith("History: [canary-elsewhere].") and reply.endswith("You said: fresh")
    assert bob.startswith("History: (none).")  # still one user's threads, not everyone's


def test_context_on_create_only(key_path: Path) -> None:
    """context-on-create-only: the second turn sees neither its own nor the saved context."""
    metadata = {"userInfo": {"name": "canary-name"}, "pageContext": {"title": "canary-page"}}
    headers = headers_for(key_path)
    with faulty(key_path, Fault.CONTEXT_ON_CREATE_ONLY) as url:
        events = turn(url, create_thread_body("one", metadata), headers)
        thread_id = thread_id_of(events)
        with_context = headers_for(key_path, **{"X-User-Name": "canary-hdr"})
        follow_up = turn(url, add_message_body(thread_id, "two", metadata), with_context)
    assert "User: canary-name (id alice)." in assistant_text(events)
    reply = assistant_text(follow_up)
    assert "canary" not in reply and "User: unknown (id alice)." in reply


# -- the store --------------------------------------------------------------------------


def test_shared_threads(key_path: Path) -> None:
    """shared-threads: Bob reads and lists Alice's thread."""
    with faulty(key_path, Fault.SHARED_THREADS) as url:
        thread_id = thread_id_of(turn(url, create_thread_body("alice's"), headers_for(key_path)))
        bob = headers_for(key_path, "bob")
        got = httpx.post(
            url, json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, headers=bob
        )
        listed = httpx.post(url, json={"type": "threads.list", "params": {}}, headers=bob).json()
    assert got.status_code == 200
    assert thread_id in [t["id"] for t in listed["data"]]


def test_no_delete(key_path: Path) -> None:
    """no-delete: threads.delete says {} and the thread is still there."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.NO_DELETE) as url:
        thread_id = thread_id_of(turn(url, create_thread_body("keep me"), headers))
        params = {"thread_id": thread_id}
        deleted = httpx.post(
            url, json={"type": "threads.delete", "params": params}, headers=headers
        )
        got = httpx.post(url, json={"type": "threads.get_by_id", "params": params}, headers=headers)
    assert deleted.json() == {}
    assert got.status_code == 200


# -- the stream -------------------------------------------------------------------------


def _delta_arrivals(url: str, headers: dict[str, str]) -> tuple[httpx.Headers, list[float]]:
    arrivals: list[float] = []
    with httpx.stream(
        "POST", url, json=create_thread_body("a b c"), headers=headers, timeout=20
    ) as response:
        for line in response.iter_lines():
            arrivals.extend(time.monotonic() for _ in range(line.count("text_delta")))
    return response.headers, arrivals


def test_buffered_stream(key_path: Path) -> None:
    """buffered-stream: all deltas arrive together, with a Content-Length."""
    with faulty(key_path, Fault.BUFFERED_STREAM, token_delay=0.05) as url:
        headers, arrivals = _delta_arrivals(url, headers_for(key_path))
    assert "content-length" in headers
    assert len(arrivals) > 5 and arrivals[-1] - arrivals[0] < 0.1


def test_gzip_stream(key_path: Path) -> None:
    """gzip-stream: Content-Encoding gzip and the compressed body arrives in one piece."""
    with (
        faulty(key_path, Fault.GZIP_STREAM, token_delay=0.03) as url,
        httpx.stream(
            "POST", url, json=create_thread_body("hi"), headers=headers_for(key_path), timeout=20
        ) as response,
    ):
        pieces = [(time.monotonic(), piece) for piece in response.iter_raw() if piece]
    assert response.headers["content-encoding"] == "gzip"
    raw = b"".join(piece for _, piece in pieces)
    events = parse_sse(gzip.decompress(raw))
    assert "You said: hi" in assistant_text(events)
    # nothing decodable shows up before the end: the first piece holds no full event
    first = zlib.decompressobj(wbits=31).decompress(pieces[0][1])
    assert len(pieces) == 1 or b"text_delta" not in first


def test_no_cache_headers(key_path: Path) -> None:
    """no-cache-headers: the stream lacks Cache-Control and X-Accel-Buffering."""
    with faulty(key_path, Fault.NO_CACHE_HEADERS) as url:
        headers, arrivals = _delta_arrivals(url, headers_for(key_path))
    assert headers["content-type"] == "text/event-stream"
    assert "cache-control" not in headers and "x-accel-buffering" not in headers
    assert arrivals


def test_stream_as_json(key_path: Path) -> None:
    """stream-as-json: application/json on a stream that is otherwise unchanged SSE."""
    with faulty(key_path, Fault.STREAM_AS_JSON) as url:
        headers, arrivals = _delta_arrivals(url, headers_for(key_path))
    assert headers["content-type"] == "application/json"
    assert "content-length" not in headers and headers["cache-control"].startswith("no-cache")
    assert len(arrivals) > 3


def test_non_json_keepalive(key_path: Path) -> None:
    """non-json-keepalive: a 'data: ping' event right after the first, the rest JSON."""
    with faulty(key_path, Fault.NON_JSON_KEEPALIVE) as url:
        body = httpx.post(
            url, json=create_thread_body("hi"), headers=headers_for(key_path), timeout=20
        ).content
    frames = [frame for frame in body.decode().split("\n\n") if frame]
    assert frames[1] == "data: ping"
    rest = [json.loads(frame.removeprefix("data: ")) for i, frame in enumerate(frames) if i != 1]
    assert rest[0]["type"] == "thread.created" and "ping" not in str(rest[1:])


def test_lost_deltas(key_path: Path) -> None:
    """lost-deltas: every 7th text delta is missing; the finished item has the whole text."""
    message = "one two three four five six seven eight nine ten"
    with faulty(key_path, Fault.LOST_DELTAS) as url:
        events = turn(url, create_thread_body(message), headers_for(key_path))
    deltas = [
        e["update"]["delta"]
        for e in events
        if e["type"] == "thread.item.updated" and e["update"]["type"].endswith("text_delta")
    ]
    text = assistant_text(events)
    tokens = tokenize(text)
    assert len(tokens) >= 14 and text.endswith(message)
    assert deltas == [token for n, token in enumerate(tokens, 1) if n % 7]


def test_long_replies_stream_in_at_most_max_deltas() -> None:
    """A reply repeating a long history streams in runs of words, not one delta a word."""
    short = "one two three"
    assert deltas(short) == tokenize(short)
    long = " ".join(f"w{n}" for n in range(205))
    pieces = deltas(long, limit=48)
    assert len(pieces) == 48 and "".join(pieces) == long
    sizes = [len(p.split()) for p in pieces]
    assert max(sizes) - min(sizes) <= 1  # evenly cut: the pace stays steady


def test_invented_events(key_path: Path) -> None:
    """invented-events: thread.message.delta frames appear beside the real deltas."""
    with faulty(key_path, Fault.INVENTED_EVENTS) as url:
        events = turn(url, create_thread_body("hi"), headers_for(key_path))
    invented = [e for e in events if e["type"] == "thread.message.delta"]
    assert invented and "".join(e["delta"] for e in invented) == assistant_text(events)


def test_cold_start(key_path: Path) -> None:
    """cold-start: only the first /chatkit request waits."""
    body = {"type": "threads.list", "params": {}}
    with (
        faulty(key_path, Fault.COLD_START, cold_start_seconds=1.0) as url,
        httpx.Client(timeout=20) as client,
    ):
        assert client.get(url.removesuffix("/chatkit") + "/healthz").status_code == 200
        timings = []
        for _ in range(2):
            started = time.monotonic()
            assert client.post(url, json=body, headers=headers_for(key_path)).status_code == 200
            timings.append(time.monotonic() - started)
    assert timings[0] >= 0.95 and timings[1] < 0.5


# -- errors -----------------------------------------------------------------------------


def test_bare_500(key_path: Path) -> None:
    """bare-500: bad body -> text 500 + closed connection; missing thread -> broken stream."""
    with faulty(key_path, Fault.BARE_500) as url:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
        conn.request("POST", parts.path, body=b"{}", headers=headers_for(key_path))
        response = conn.getresponse()
        assert response.status == 500
        assert response.read() == b"Internal Server Error"
        assert response.getheader("connection") == "close"
        assert response.getheader("content-type", "").startswith("text/plain")
        conn.close()

        missing = add_message_body("thr_" + uuid.uuid4().hex, "hi")
        with (
            pytest.raises(httpx.HTTPError),
            httpx.stream(
                "POST", url, json=missing, headers=headers_for(key_path), timeout=20
            ) as stream,
        ):
            assert stream.status_code == 200
            stream.read()


def _two_mib_list(url: str, headers: dict[str, str]) -> httpx.Response:
    body = json.dumps({"type": "threads.list", "params": {}, "padding": "x" * (2 << 20)})
    return httpx.post(url, content=body, headers=headers, timeout=20)


def test_no_body_limit(key_path: Path) -> None:
    """no-body-limit: a 2 MiB body is parsed and answered, not refused with 413."""
    headers = headers_for(key_path)
    with faulty(key_path, Fault.NO_BODY_LIMIT) as url:
        turn(url, create_thread_body("one"), headers)
        response = _two_mib_list(url, headers)
    assert response.status_code == 200 and len(response.json()["data"]) == 1


def test_bare_500_has_no_body_limit(key_path: Path) -> None:
    """bare-500 is the SDK's default wiring, which has no body limit either."""
    with faulty(key_path, Fault.BARE_500) as url:
        response = _two_mib_list(url, headers_for(key_path))
    assert response.status_code == 200 and response.json()["data"] == []


def test_cut_stream_on_missing_thread(key_path: Path) -> None:
    """cut-stream-on-missing-thread: 200 and an empty stream; JSON requests still 404."""
    headers = headers_for(key_path)
    missing = "thr_" + uuid.uuid4().hex
    with faulty(key_path, Fault.CUT_STREAM_ON_MISSING_THREAD) as url:
        streamed = httpx.post(url, json=add_message_body(missing, "hi"), headers=headers)
        got = httpx.post(
            url,
            json={"type": "threads.get_by_id", "params": {"thread_id": missing}},
            headers=headers,
        )
    assert streamed.status_code == 200 and streamed.content == b""
    assert streamed.headers["content-type"] == "text/event-stream"
    assert got.status_code == 404 and json.loads(got.content)["error"] == "not_found"
