"""The reference server end to end over a real socket: protocol, context, errors, CLI."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from reference_server.config import DEV_AUDIENCE, DEV_ISSUER, ModelKind, ServerConfig
from reference_server.dev_issuer import load_dev_key, mint_dev_token
from reference_server.faults import Fault
from reference_server.serving import serve_in_thread
from reference_server.testing import (
    add_message_body,
    assistant_text,
    create_thread_body,
    parse_sse,
    thread_id_of,
)

REPO = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("CHATKIT_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("issuer") / "dev-key.pem"
    load_dev_key(path)
    return path


@pytest.fixture(scope="module")
def url(key_path: Path) -> Iterator[str]:
    cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path, token_delay=0)
    with serve_in_thread(cfg) as base:
        yield base


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as c:
        yield c


def auth(key_path: Path, user: str = "alice", **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(user, key_path=key_path)}", **extra}


def stream(
    client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    with client.stream("POST", url, json=body, headers=headers) as response:
        raw = response.read()
    return response, parse_sse(raw) if response.status_code == 200 else []


def call(
    client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return client.post(url, json=body, headers=headers)


# -- the happy path ---------------------------------------------------------------------


def test_create_thread_streams_sse_with_proxy_safe_headers(
    client: httpx.Client, url: str, key_path: Path
) -> None:
    """threads.create answers text/event-stream, unbuffered headers, ChatKit events in order."""
    response, events = stream(client, url, create_thread_body("hello there"), auth(key_path))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache, no-transform"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    types = [e["type"] for e in events]
    assert types[:3] == ["thread.created", "thread.item.done", "stream_options"]
    assert "thread.item.added" in types and types.count("thread.item.updated") > 3
    assert "You said: hello there" in assistant_text(events)
    assert "History: (none)" in assistant_text(events)


def test_second_turn_sees_the_first(client: httpx.Client, url: str, key_path: Path) -> None:
    """History is loaded from the store: turn 2's reply reports turn 1's message."""
    headers = auth(key_path)
    _, events = stream(client, url, create_thread_body("first canary-h1"), headers)
    thread_id = thread_id_of(events)
    _, events = stream(client, url, add_message_body(thread_id, "second"), headers)
    reply = assistant_text(events)
    assert "History: [first canary-h1]." in reply and reply.endswith("You said: second")
    _, events = stream(client, url, add_message_body(thread_id, "third"), headers)
    assert "History: [first canary-h1] [second]." in assistant_text(events)


def test_assistant_item_ids_are_unique_and_long(
    client: httpx.Client, url: str, key_path: Path
) -> None:
    """Every assistant message gets its own long id, as listed by items.list."""
    headers = auth(key_path)
    _, events = stream(client, url, create_thread_body("one"), headers)
    thread_id = thread_id_of(events)
    stream(client, url, add_message_body(thread_id, "two"), headers)
    page = call(
        client, url, {"type": "items.list", "params": {"thread_id": thread_id}}, headers
    ).json()
    ids = [item["id"] for item in page["data"]]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert all(len(i) >= 20 for i in ids)


PAGE = {
    "url": "https://docs.example/guide",
    "title": "Guide canary-title",
    "path": "/guide",
    "description": "About things",
    "headings": ["Intro", "Setup"],
}


def test_body_metadata_reaches_the_model(client: httpx.Client, url: str, key_path: Path) -> None:
    """The seed's params.input.metadata (dropped by the SDK) is read from the raw body."""
    metadata = {
        "userId": "alice",
        "userInfo": {"id": "alice", "name": "Ada canary-name"},
        "pageContext": PAGE,
    }
    _, events = stream(client, url, create_thread_body("hi", metadata), auth(key_path))
    reply = assistant_text(events)
    assert "User: Ada canary-name (id alice)" in reply
    assert (
        "Page: Guide canary-title | https://docs.example/guide | /guide | About things | "
        "headings: Intro, Setup" in reply
    )


def test_top_level_metadata_reaches_the_model(
    client: httpx.Client, url: str, key_path: Path
) -> None:
    """A top-level metadata object with the same keys works too."""
    body = create_thread_body("hi")
    body["metadata"] = {"userInfo": {"name": "Top canary-top"}, "pageContext": {"title": "T-top"}}
    _, events = stream(client, url, body, auth(key_path))
    assert "User: Top canary-top (id alice)" in assistant_text(events)
    assert "Page: T-top |" in assistant_text(events)


def test_header_context_reaches_the_model(client: httpx.Client, url: str, key_path: Path) -> None:
    """X-User-Name and X-Page-Context / X-Page-Title / X-Page-Url headers feed the context."""
    headers = auth(
        key_path,
        **{
            "X-User-Name": "Hedy canary-hdr",
            "X-Page-Context": json.dumps({"path": "/from-json", "headings": "A, B"}),
            "X-Page-Title": "Header title",
            "X-Page-Url": "https://h.example/x",
        },
    )
    _, events = stream(client, url, create_thread_body("hi"), headers)
    reply = assistant_text(events)
    assert "User: Hedy canary-hdr (id alice)" in reply
    assert "Page: Header title | https://h.example/x | /from-json |  | headings: A, B" in reply


def test_context_is_remembered_on_the_thread(
    client: httpx.Client, url: str, key_path: Path
) -> None:
    """A later turn (or a retry) without context still uses the thread's last context."""
    headers = auth(key_path)
    metadata = {"userInfo": {"name": "Remembered canary-mem"}, "pageContext": PAGE}
    _, events = stream(client, url, create_thread_body("hi", metadata), headers)
    thread_id = thread_id_of(events)
    user_item = next(e["item"]["id"] for e in events if e["type"] == "thread.item.done")
    _, events = stream(client, url, add_message_body(thread_id, "again"), headers)
    assert "Remembered canary-mem" in assistant_text(events)
    retry = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": user_item},
    }
    response, events = stream(client, url, retry, headers)
    assert response.status_code == 200
    reply = assistant_text(events)
    assert "Remembered canary-mem" in reply and "Guide canary-title" in reply
    assert reply.endswith("You said: hi")  # retry dropped the later turn


def test_token_name_claim_is_the_fallback_name(
    client: httpx.Client, url: str, key_path: Path
) -> None:
    """Without body or header context the token's name claim names the user."""
    headers = {
        "Authorization": f"Bearer {mint_dev_token('carol', key_path=key_path, name='Carol')}"
    }
    _, events = stream(client, url, create_thread_body("hi"), headers)
    assert "User: Carol (id carol)" in assistant_text(events)


def test_json_operations(client: httpx.Client, url: str, key_path: Path) -> None:
    """get_by_id, list, update, items.list, feedback and delete answer JSON."""
    headers = auth(key_path, "dora")
    _, events = stream(client, url, create_thread_body("hello"), headers)
    thread_id = thread_id_of(events)
    got = call(
        client, url, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, headers
    )
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert [i["type"] for i in got.json()["items"]["data"]] == ["user_message", "assistant_message"]
    assert "request_context" not in got.text  # thread metadata stays server-side
    listed = call(client, url, {"type": "threads.list", "params": {}}, headers).json()
    assert [t["id"] for t in listed["data"]] == [thread_id]
    renamed = call(
        client,
        url,
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "New"}},
        headers,
    )
    assert renamed.json()["title"] == "New"
    item_ids = [i["id"] for i in got.json()["items"]["data"]]
    feedback = {
        "type": "items.feedback",
        "params": {"thread_id": thread_id, "item_ids": item_ids, "kind": "positive"},
    }
    assert call(client, url, feedback, headers).json() == {}
    deleted = call(
        client, url, {"type": "threads.delete", "params": {"thread_id": thread_id}}, headers
    )
    assert deleted.json() == {}
    gone = call(
        client, url, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, headers
    )
    assert gone.status_code == 404


def test_other_users_thread_is_not_found(client: httpx.Client, url: str, key_path: Path) -> None:
    """Bob gets 404 for Alice's thread on every request type and never sees it listed."""
    _, events = stream(client, url, create_thread_body("alice only"), auth(key_path))
    thread_id = thread_id_of(events)
    bob = auth(key_path, "bob")
    bodies: list[dict[str, Any]] = [
        {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        {"type": "items.list", "params": {"thread_id": thread_id}},
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "x"}},
        {"type": "threads.delete", "params": {"thread_id": thread_id}},
        {
            "type": "items.feedback",
            "params": {"thread_id": thread_id, "item_ids": [], "kind": "negative"},
        },
        add_message_body(thread_id, "let me in"),
        {"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": "x"}},
        {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": thread_id, "result": {}},
        },
    ]
    for body in bodies:
        response = call(client, url, body, bob)
        assert response.status_code == 404, body["type"]
        assert response.headers["content-type"] == "application/json"
    assert call(client, url, {"type": "threads.list", "params": {}}, bob).json()["data"] == []
    still = call(
        client,
        url,
        {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        auth(key_path),
    )
    assert still.status_code == 200


# -- errors keep the connection ---------------------------------------------------------


def test_errors_are_json_and_keep_the_connection(url: str, key_path: Path) -> None:
    """400/404/413/415 are complete JSON responses on the same keep-alive socket."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=20)
    headers = {**auth(key_path), "Content-Type": "application/json"}

    def send(body: bytes) -> tuple[int, dict[str, Any], str]:
        conn.request("POST", parts.path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, json.loads(payload), response.getheader("content-type", "")

    ok = json.dumps({"type": "threads.list", "params": {}}).encode()
    assert send(ok)[0] == 200
    sock = conn.sock
    missing = json.dumps(add_message_body("thr_" + uuid.uuid4().hex, "hi")).encode()
    cases = [
        (b"{}", 400, "invalid_request"),
        (b"{not json", 400, "invalid_json"),
        (b'{"type":"threads.explode","params":{}}', 400, "invalid_request"),
        (b'{"type":"threads.list"}', 400, "invalid_request"),
        (missing, 404, "not_found"),
        (b'{"type":"threads.get_by_id","params":{"thread_id":"thr_nope"}}', 404, "not_found"),
        (
            b'{"type":"attachments.create","params":{"name":"a","size":1,"mime_type":"x/y"}}',
            415,
            "unsupported_media_type",
        ),
        (b'{"pad":"' + b"x" * (2 * 1024 * 1024) + b'"}', 413, "payload_too_large"),
    ]
    for body, status, error in cases:
        got_status, payload, content_type = send(body)
        assert (got_status, payload["error"]) == (status, error), body[:60]
        assert content_type == "application/json"
        assert send(ok)[0] == 200
        assert conn.sock is sock, f"connection was replaced after {status}"
    conn.close()


def test_healthz(client: httpx.Client, url: str) -> None:
    """/healthz answers without a token."""
    response = client.get(url.removesuffix("/chatkit") + "/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_tokens_stream_incrementally(key_path: Path) -> None:
    """With a per-token delay the deltas arrive spread over time, not in one burst."""
    cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path, token_delay=0.05)
    with serve_in_thread(cfg) as base, httpx.Client(timeout=20) as c:
        arrivals: list[float] = []
        with c.stream(
            "POST", base, json=create_thread_body("one two three"), headers=auth(key_path)
        ) as r:
            for line in r.iter_lines():
                if "text_delta" in line:
                    arrivals.append(time.monotonic())
    assert len(arrivals) > 8
    assert arrivals[-1] - arrivals[0] > 0.3


# -- the CLI ----------------------------------------------------------------------------


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference_server", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_cli_list_names_every_fault() -> None:
    """--list prints one line per fault and does not import chatkit."""
    result = _run_cli("--list")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == [f.value for f in Fault]
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, reference_server.cli as c; c.main(['--list']); "
            "print('chatkit.server' in sys.modules)",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip().endswith("False")


def test_cli_dev_token(tmp_path: Path) -> None:
    """--dev-token prints a token the dev issuer's key verifies, with the default iss/aud."""
    key = tmp_path / "k.pem"
    result = _run_cli("--dev-token", "alice", "--dev-key", str(key))
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(
        result.stdout.strip(),
        load_dev_key(key).private_key.public_key(),
        algorithms=["RS256"],
        audience=DEV_AUDIENCE,
        issuer=DEV_ISSUER,
    )
    assert claims["sub"] == "alice" and 3500 < claims["exp"] - time.time() <= 3600


@pytest.mark.parametrize(
    "args",
    [
        ["--fault", "no-such-fault"],
        ["--port", "70000"],
        ["--token-delay", "-1"],
        ["--model", "gpt"],
        ["--database-url", "mysql://x/y"],
        ["--db", "a.db", "--database-url", "sqlite:///b.db"],
        ["--table-prefix", "bad-prefix;"],
    ],
)
def test_cli_bad_options_exit_2_with_one_line(args: list[str]) -> None:
    """Bad options: exit status 2, one line on stderr, no traceback."""
    result = _run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chatkit-reference-server: error:"), (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def _pg_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


class _Proc:
    """The server as a subprocess on --port 0; the URL comes from its listening line."""

    def __init__(self, args: list[str], env: dict[str, str], stderr: Path) -> None:
        self.stderr_path = stderr
        self.err = stderr.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reference_server", "--port", "0", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self.err,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
        )
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(45)
        if not line or not line[0]:
            self.proc.kill()
            raise AssertionError(f"no listening line; stderr: {stderr.read_text()[-800:]}")
        self.line = line[0].decode().rstrip("\n")
        self.url = self.line.rsplit(" ", 1)[1]

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(20)
        self.err.close()
        return code


def test_threads_survive_a_restart(
    tmp_path: Path, key_path: Path, request: pytest.FixtureRequest
) -> None:
    """A thread outlives a killed server process (DATABASE_URL=PostgreSQL, else SQLite)."""
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    if _pg_reachable():
        env, args = {"DATABASE_URL": PG_URL}, ["--table-prefix", prefix]
        request.addfinalizer(lambda: _drop_tables(prefix))
    else:  # pragma: no cover - the CI machine has PostgreSQL
        env, args = {}, ["--db", str(tmp_path / "restart.sqlite3")]
    args += ["--dev-key", str(key_path), "--token-delay", "0"]
    headers = auth(key_path, "ruth")
    token = headers["Authorization"].split()[1]
    first = _Proc(args, env, tmp_path / "first.err")
    try:
        assert first.line == f"chatkit-reference-server listening on {first.url}"
        assert first.url.startswith("http://127.0.0.1:") and first.url.endswith("/chatkit")
        with httpx.Client(timeout=20) as c:
            _, events = stream(c, first.url, create_thread_body("persist canary-pg"), headers)
        thread_id = thread_id_of(events)
    finally:
        first.stop(signal.SIGKILL)
    second = _Proc(args, env, tmp_path / "second.err")
    try:
        with httpx.Client(timeout=20) as c:
            got = call(
                c,
                second.url,
                {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
                headers,
            )
            assert got.status_code == 200
            texts = json.dumps(got.json()["items"]["data"])
            assert "persist canary-pg" in texts
            _, events = stream(c, second.url, add_message_body(thread_id, "after restart"), headers)
            assert "History: [persist canary-pg]." in assistant_text(events)
    finally:
        code = second.stop(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the parent sees it.
    assert code in (0, -signal.SIGTERM)
    # (the first process was SIGKILLed, possibly before its last log line was written)
    log = (tmp_path / "first.err").read_text() + (tmp_path / "second.err").read_text()
    assert "POST /chatkit threads.get_by_id user=ruth status=200" in log
    assert "POST /chatkit threads.add_user_message user=ruth status=200" in log
    assert token not in log
    assert "Traceback" not in (tmp_path / "second.err").read_text()


def _drop_tables(prefix: str) -> None:
    import asyncio

    from reference_server.db import normalize_database_url
    from reference_server.store import SqlStore

    async def drop() -> None:
        store = SqlStore(normalize_database_url(PG_URL), table_prefix=prefix)
        await store.drop_tables()
        await store.close()

    asyncio.run(drop())


@pytest.mark.parametrize("mode", ["openai", "openai-chat"])
def test_openai_modes_against_a_local_model(
    mode: ModelKind, key_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--model openai / openai-chat honour OPENAI_BASE_URL; chat mode gets unique item ids."""
    model_stub = pytest.importorskip("harness.glass.model_stub")
    with model_stub.ModelStub(token_delay=0.0) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path, model=mode)
        with serve_in_thread(cfg) as url, httpx.Client(timeout=30) as c:
            headers = auth(key_path)
            _, events = stream(c, url, create_thread_body("first canary-oa"), headers)
            thread_id = thread_id_of(events)
            _, events = stream(c, url, add_message_body(thread_id, "second"), headers)
            assert "canary-oa" in assistant_text(events)
            body = {"type": "items.list", "params": {"thread_id": thread_id}}
            items = call(c, url, body, headers).json()["data"]
        requests = stub.model_requests()
    assert len(requests) == 2 and "User: unknown (id alice)" in (requests[-1].instructions or "")
    assistant_ids = [i["id"] for i in items if i["type"] == "assistant_message"]
    assert len(assistant_ids) == 2 and len(set(assistant_ids)) == 2
    assert "__fake_id__" not in assistant_ids


def test_retry_of_unknown_item_is_404(client: httpx.Client, url: str, key_path: Path) -> None:
    """retry_after_item naming no item of the thread is a JSON 404, not an empty 200 stream."""
    headers = auth(key_path)
    _, events = stream(client, url, create_thread_body("hi"), headers)
    retry = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id_of(events), "item_id": "msg_nope"},
    }
    response = call(client, url, retry, headers)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_cors_preflight_when_an_origin_is_allowed(key_path: Path) -> None:
    """With cors_origins set, a browser preflight for Authorization + X-User-ID passes."""
    cfg = ServerConfig(
        db_path=":memory:", dev_key_path=key_path, cors_origins=("http://localhost:3000",)
    )
    with serve_in_thread(cfg) as base, httpx.Client(timeout=20) as c:
        preflight = c.options(
            base,
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, x-user-id",
            },
        )
        listed = c.post(
            base,
            json={"type": "threads.list", "params": {}},
            headers={**auth(key_path), "Origin": "http://localhost:3000"},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "x-user-id" in preflight.headers["access-control-allow-headers"].lower()
    assert listed.headers["access-control-allow-origin"] == "http://localhost:3000"
