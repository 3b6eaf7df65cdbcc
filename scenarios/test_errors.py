"""Bad input: clear 4xx answers, never a 5xx, a cut stream, or a dead connection.

openai-chatkit 1.6.5 ``process()`` raises pydantic's ValidationError on a malformed body and
the canonical FastAPI wiring turns that into a bare 500, after which uvicorn closes the
keep-alive connection; a streaming request for a missing thread answers 200 and then breaks
off with no error event (chatkit-protocol notes §1.4, verified).
"""

from __future__ import annotations

import json

from harness.engine.expect import evidence_of, json_ok, status_4xx, stream_ok
from harness.protocol.client import ChatKitClient, JsonResponse
from harness.protocol.rawhttp import ConnectionClosed, OneConnection
from harness.registry import MUST, SHOULD, check
from harness.report.redact import curl_command
from harness.report.results import fail

FIX_400 = (
    "Catch pydantic.ValidationError (and json errors) around server.process() and answer 400 "
    "with a JSON message; never let it become a bare 500."
)
REF_ERRORS = "openai-chatkit 1.6.5 ChatKitServer.process (raises ValidationError)"


def _has_message(resp: JsonResponse) -> bool:
    data = resp.json
    if isinstance(data, dict):
        return any(
            isinstance(data.get(k), (str, dict)) and data.get(k)
            for k in ("error", "detail", "message")
        )
    return bool(resp.body.strip())


async def _bad(client: ChatKitClient, body: bytes, what: str) -> JsonResponse:
    resp = await client.request_raw(body, request_type=what)
    if resp.status >= 500 or not 400 <= resp.status < 500:
        fail(
            f"{what}: expected a 4xx answer",
            expected="HTTP 400 (or another 4xx) with a JSON message",
            actual=f"HTTP {resp.status or resp.transport_error}",
            evidence=evidence_of(resp),
            repro=curl_command(resp),
        )
    if not _has_message(resp):
        fail(f"{what}: the 4xx answer has no message", evidence=evidence_of(resp))
    return resp


@check(
    id="errors.malformed-json",
    title="A malformed JSON body gets a 4xx with a message",
    level=MUST,
    pitfall="The SDK raises on invalid JSON; with the standard wiring the client gets a bare "
    "500 and the connection is closed.",
    fix=FIX_400,
    ref=REF_ERRORS,
)
async def test_malformed_json(chatkit_client: ChatKitClient) -> None:
    await _bad(chatkit_client, b'{"type": "threads.list", "params": {', "malformed JSON")


@check(
    id="errors.unknown-type",
    title="An unknown request type gets a 4xx with a message",
    level=MUST,
    pitfall="Clients newer than the backend (or hand-written ones sending threads.run) get a "
    "bare 500.",
    fix=FIX_400,
    ref=REF_ERRORS,
)
async def test_unknown_type(chatkit_client: ChatKitClient) -> None:
    body = json.dumps({"type": "threads.frobnicate", "params": {}}).encode()
    await _bad(chatkit_client, body, "unknown type")


@check(
    id="errors.missing-params",
    title="A request without its params gets a 4xx with a message",
    level=MUST,
    pitfall="`curl -d '{}'` (the first thing anyone tries) yields a 500 (chatkit-python PR #118).",
    fix=FIX_400,
    ref=REF_ERRORS + "; openai/chatkit-python#118",
)
async def test_missing_params(chatkit_client: ChatKitClient) -> None:
    await _bad(chatkit_client, b"{}", "empty object")
    await _bad(chatkit_client, json.dumps({"type": "threads.create"}).encode(), "no params")
    body = {"type": "threads.create", "params": {"input": {"content": []}}}
    await _bad(chatkit_client, json.dumps(body).encode(), "incomplete input")


@check(
    id="errors.unknown-thread",
    title="A streaming request for a missing thread is refused, not cut off silently",
    level=MUST,
    pitfall="The SDK answers 200 and then breaks the stream off with no error event: the UI "
    "spins forever on a deleted or foreign thread.",
    fix="Check the thread exists for this user before process() and answer 404 with a JSON "
    "message (or yield an ErrorEvent).",
    ref="chatkit-protocol notes §1.4 (streaming requests for unknown threads)",
)
async def test_unknown_thread(chatkit_client: ChatKitClient) -> None:
    rec = await chatkit_client.add_user_message("thr_does_not_exist_harness", "hello?")
    if 400 <= rec.status < 500:
        return
    if rec.status == 200 and any(e.type == "error" for e in rec.events):
        return
    fail(
        "a stream for a missing thread was neither refused nor ended with an error event",
        expected="a 4xx before the stream, or an 'error' event",
        actual=f"HTTP {rec.status or rec.transport_error}, {len(rec.events)} events, "
        f"{'no ' if not rec.transport_error else ''}transport error",
        evidence=evidence_of(rec),
        repro=curl_command(rec),
    )


@check(
    id="errors.oversized-body",
    title="An oversized body is refused with 413",
    level=SHOULD,
    pitfall="Without a size limit one request can make the backend parse (and store, and send "
    "to the model) megabytes of text.",
    fix="Refuse bodies over a limit (e.g. 1 MiB) with 413 before parsing them.",
    ref="RFC 9110 §15.5.14 413 Content Too Large",
)
async def test_oversized_body(chatkit_client: ChatKitClient) -> None:
    pad = "x" * (2 * 1024 * 1024)
    body = json.dumps({"type": "threads.list", "params": {}, "padding": pad}).encode()
    resp = await chatkit_client.request_raw(body, request_type="threads.list (2 MiB)")
    status_4xx(resp, "a 2 MiB body", allowed=(413,))


@check(
    id="errors.connection-survives",
    title="After each bad request, the same keep-alive connection still works",
    level=MUST,
    pitfall="An unhandled exception makes uvicorn close the connection after the 500; proxies "
    "and clients then see resets on the next request.",
    fix=FIX_400,
    ref="environment notes: process() raising closes the keep-alive connection",
)
async def test_connection_survives(chatkit_client: ChatKitClient) -> None:
    headers = chatkit_client.headers_for(chatkit_client.identity)
    good = json.dumps({"type": "threads.list", "params": {"limit": 1}}).encode()
    bad_bodies = [
        ("malformed JSON", b'{"type": '),
        ("unknown type", b'{"type": "threads.frobnicate", "params": {}}'),
        ("empty object", b"{}"),
    ]
    async with OneConnection(chatkit_client.url, chatkit_client.target.timeout) as conn:
        for what, body in bad_bodies:
            try:
                await conn.post(body, headers)
                after = await conn.post(good, headers)
            except (ConnectionClosed, TimeoutError, OSError) as exc:
                fail(
                    f"the connection did not survive a {what} request",
                    expected="the next request on the same connection answered",
                    actual=str(exc) or type(exc).__name__,
                )
            if after.status != 200:
                fail(
                    f"after a {what} request, a good request on the same connection failed",
                    expected="HTTP 200",
                    actual=f"HTTP {after.status}",
                )


@check(
    id="errors.nothing-lost",
    title="Bad requests leave existing threads intact",
    level=MUST,
    pitfall="Error paths that write before validating (or fall back to 'the latest thread') "
    "delete or change conversations the user still has.",
    fix="Validate the request and look the thread up for this user before any write; an "
    "unknown id is a 404, never a fallback.",
    ref="chatkit/store.py (delete_thread, save_thread)",
)
async def test_nothing_lost(chatkit_client: ChatKitClient) -> None:
    rec = stream_ok(await chatkit_client.create_thread("keep this thread"), "threads.create")
    tid = rec.thread_id or ""
    before = json_ok(await chatkit_client.list_items(tid), "items.list")
    thread_before = json_ok(await chatkit_client.get_thread(tid), "threads.get_by_id")
    for body in (
        {"type": "threads.delete", "params": {"thread_id": "thr_missing_harness"}},
        {"type": "threads.update", "params": {"thread_id": "thr_missing_harness", "title": "x"}},
        {"type": "threads.delete", "params": {}},
        {"type": "threads.retry_after_item", "params": {"thread_id": tid, "item_id": "nope"}},
        {"type": "threads.add_user_message", "params": {"thread_id": tid}},
    ):
        await chatkit_client.request_raw(json.dumps(body).encode(), request_type=str(body["type"]))
    after = await chatkit_client.list_items(tid)
    thread_after = await chatkit_client.get_thread(tid)
    if (
        after.status != 200
        or after.json != before
        or ((thread_after.json or {}).get("title") != thread_before.get("title"))
    ):
        fail(
            "a thread changed or vanished after bad requests that named other threads",
            expected=f"thread {tid} with the same {len(before.get('data', []))} items",
            actual=f"items.list HTTP {after.status}: {after.text[:200]}",
            evidence=evidence_of(after),
        )
