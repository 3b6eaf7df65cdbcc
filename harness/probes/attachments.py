"""Attachments: two-phase upload, use in a message, limits, user B, deletion with the thread."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.glass.model_stub import RecordedModelRequest
from harness.probes.features import client_b, obj
from harness.protocol.client import ChatKitClient, JsonResponse, RecordedStream

MIME = "text/plain"
# Far over any sensible limit, and a type no chat app takes.
HUGE = 2**40
REFUSED_MIME = "application/x-msdownload"


@dataclass
class Upload:
    created: JsonResponse
    uploaded: JsonResponse | None = None

    @property
    def attachment(self) -> dict[str, Any]:
        return obj(self.created.json)

    @property
    def id(self) -> str | None:
        value = self.attachment.get("id")
        return value if isinstance(value, str) else None


@dataclass
class Attachments:
    name: str
    content: bytes
    first: Upload
    used: RecordedStream | None = None
    calls: list[RecordedModelRequest] | None = None  # glass-box: model requests during `used`
    second: Upload | None = None
    deleted: JsonResponse | None = None  # attachments.delete of the second one
    unknown_delete: JsonResponse | None = None
    limits: list[JsonResponse] = field(default_factory=list)
    b_get: JsonResponse | None = None  # user B reads A's upload URL
    b_put: JsonResponse | None = None  # user B writes to A's upload URL
    b_use: RecordedStream | None = None  # user B sends a message with A's attachment
    b_delete: JsonResponse | None = None  # user B deletes A's `target` attachment
    target: Upload | None = None  # A's file that B tries to delete (not the one A goes on using)
    a_delete: JsonResponse | None = None  # then A deletes it: a 4xx means B's delete went through
    thread_deleted: JsonResponse | None = None
    reuse: RecordedStream | None = None  # A reuses it after deleting the thread that held it


def _same_origin(url: str, target_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(target_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


async def upload(c: ChatKitClient, name: str, content: bytes) -> Upload:
    """attachments.create, then the bytes to its upload URL (the two phases)."""
    created = await c.create_attachment(name, len(content), MIME)
    up = Upload(created)
    desc = obj(up.attachment.get("upload_descriptor"))
    url, method = desc.get("url"), str(desc.get("method") or "PUT")
    if created.status == 200 and isinstance(url, str):
        headers = {str(k): str(v) for k, v in obj(desc.get("headers")).items()}
        # The user's credentials go only to the deployment itself, never to a storage host.
        who: Any = c.identity if _same_origin(url, c.url) else None
        up.uploaded = await c.send(
            method, url, content, headers={"Content-Type": MIME, **headers}, identity=who
        )
    return up


def upload_url(up: Upload) -> str | None:
    url = obj(up.attachment.get("upload_descriptor")).get("url")
    return url if isinstance(url, str) else None


@probe("attachments", long=True)
async def attachments(ctx: ProbeContext) -> Attachments:
    c = ctx.main
    tag = uuid.uuid4().hex[:8]
    name = f"harness-canary-{tag}.txt"
    content = f"canary-attachment-{tag}: the body of the harness's test file.".encode()
    first = await upload(c, name, content)
    ev = Attachments(name, content, first)
    ev.limits = list(
        await asyncio.gather(
            c.create_attachment("harness-huge.txt", HUGE, MIME),
            c.create_attachment("harness.exe", 64, REFUSED_MIME),
            c.create_attachment("harness-negative.txt", -1, MIME),
        )
    )
    ev.unknown_delete = await c.delete_attachment("atc_harness_unknown")
    if first.id is None or first.created.status != 200:
        return ev
    b = client_b(ctx)
    url = upload_url(first)
    if b is not None:
        if url is not None:
            ev.b_get = await b.send("GET", url)
            ev.b_put = await b.send("PUT", url, b"overwritten by user B")
        ev.b_use = await b.create_thread("Read this file.", attachments=[first.id])
        # B tries to delete a file of A's own, so that a delete that goes through is seen by
        # its effect (A can no longer delete it) and does not break A's use of `first`.
        ev.target = await upload(c, f"harness-keep-{tag}.txt", b"a file user B must not delete")
        if ev.target.id is not None:
            ev.b_delete = await b.delete_attachment(ev.target.id)
            ev.a_delete = await c.delete_attachment(ev.target.id)
    mark = ctx.glass.mark() if ctx.glass is not None else None
    ev.used = await c.create_thread(
        f"Please read the attached file {name}.", attachments=[first.id]
    )
    if ctx.glass is not None and mark is not None:
        ev.calls = await asyncio.to_thread(ctx.glass.calls, mark)
    ev.second = await upload(c, f"harness-delete-{tag}.txt", b"a file to delete")
    if ev.second.id is not None:
        ev.deleted = await c.delete_attachment(ev.second.id)
    tid = ev.used.thread_id if ev.used.status == 200 else None
    if tid is not None:
        ev.thread_deleted = await c.delete_thread(tid)
        ev.reuse = await c.create_thread("Reusing a deleted file.", attachments=[first.id])
    return ev
