"""Attachments: two-phase upload, use in a message, limits, ownership, deletion with the thread.

Judgments only: evidence from harness/probes/attachments.py.
"""

from __future__ import annotations

from harness.engine import hints
from harness.engine.expect import evidence_of, json_ok, stream_ok
from harness.engine.offers import accepted, refused_cleanly, require_offered
from harness.probes.attachments import Attachments
from harness.probes.features import done_items, obj
from harness.registry import MUST, SHOULD, check
from harness.report.results import blocked, fail, untestable

REF = "openai-chatkit 1.6.5 chatkit/store.py AttachmentStore; chatkit/types.py Attachment"
ROOT = "attachments.lifecycle"


def _offered(ev: Attachments) -> None:
    require_offered(ev.first.created, "attachments", ROOT)
    if not accepted(ev.first.created) or ev.first.id is None:
        blocked(ROOT, f"attachments.create answered HTTP {ev.first.created.status}")


def _attachment_problem(value: object) -> str | None:
    from chatkit.types import Attachment
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(Attachment).validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    return None


@check(
    id="attachments.lifecycle",
    title="Create, upload, use in a message and delete an attachment",
    level=MUST,
    pitfall="The two-phase upload breaks at one step: no upload_descriptor, an upload URL that "
    "refuses the bytes, a message whose attachment is missing, a delete that fails.",
    fix="Return a FileAttachment/ImageAttachment with an upload_descriptor from "
    "AttachmentStore.create_attachment, accept the bytes at that URL, convert attachments "
    "in ThreadItemConverter.attachment_to_message_content.",
    ref=REF,
    probes=["attachments"],
)
def test_lifecycle(evidence) -> None:
    ev: Attachments = evidence["attachments"]
    require_offered(ev.first.created, "attachments", ROOT)
    created = json_ok(ev.first.created, "attachments.create")
    problem = _attachment_problem(created)
    if problem or not obj(created.get("upload_descriptor")).get("url"):
        fail(
            "attachments.create answered no valid attachment with an upload URL",
            actual=problem or "no upload_descriptor.url",
            evidence=evidence_of(ev.first.created),
        )
    up = ev.first.uploaded
    if up is None or not accepted(up):
        fail(
            "the upload URL did not take the bytes",
            actual=f"HTTP {up.status if up else '-'}",
            evidence=evidence_of(up) if up else "",
        )
    assert ev.used is not None
    rec = stream_ok(ev.used, "threads.create with the attachment")
    users = done_items(rec, "user_message")
    held = [obj(a).get("id") for u in users for a in u.get("attachments") or []]
    if ev.first.id not in held:
        fail(
            "the user message does not carry the attachment",
            actual=f"attachments: {held}",
            evidence=evidence_of(rec),
        )
    if ev.deleted is None or not accepted(ev.deleted):
        fail(
            "attachments.delete of an uploaded file failed",
            evidence=evidence_of(ev.deleted) if ev.deleted else "not sent",
        )


@check(
    id="attachments.limits",
    title="Oversized files, refused types and negative sizes are refused before any upload",
    level=MUST,
    pitfall="attachments.create hands out an upload URL for anything: a 1 TB 'file' or an "
    "executable is accepted, and the limit (if any) hits only after the upload.",
    fix="Check size and MIME type in create_attachment and answer 4xx (413, 415, 400).",
    ref=REF,
    probes=["attachments"],
)
def test_limits(evidence) -> None:
    ev: Attachments = evidence["attachments"]
    _offered(ev)
    for resp, what in zip(
        ev.limits, ("a 1 TiB file", "an executable", "a negative size"), strict=True
    ):
        if not 400 <= resp.status < 500:
            fail(
                f"attachments.create of {what} was not refused",
                expected="a 4xx",
                actual=f"HTTP {resp.status}",
                evidence=evidence_of(resp),
            )


@check(
    id="attachments.delete-unknown",
    title="Deleting an unknown attachment is a 4xx",
    level=MUST,
    pitfall="attachments.delete answers {} for any id: the client believes a file was removed "
    "that never existed (or belongs to someone else).",
    fix="Raise NotFoundError for an unknown or foreign id (answered 404).",
    ref=REF,
    probes=["attachments"],
)
def test_delete_unknown(evidence) -> None:
    ev: Attachments = evidence["attachments"]
    _offered(ev)
    refused_cleanly(ev.unknown_delete, "attachments.delete of an unknown id")


@check(
    id="attachments.isolated",
    title="User B can neither use nor delete user A's attachment",
    level=MUST,
    pitfall="Attachment rows are looked up by id alone: whoever learns an id reads the file "
    "through their own conversation, or deletes it.",
    fix="Scope Store.load_attachment / delete_attachment by the authenticated user.",
    ref=REF,
    probes=["attachments"],
)
def test_isolated(evidence) -> None:
    ev: Attachments = evidence["attachments"]
    _offered(ev)
    if ev.b_use is None:
        untestable("needs a second user (--token-b)")
    held = [
        obj(a).get("id")
        for u in done_items(ev.b_use, "user_message")
        for a in u.get("attachments") or []
    ]
    if ev.first.id in held:
        fail("user B's message carries user A's attachment", evidence=evidence_of(ev.b_use))
    refused_cleanly(ev.b_use, "user B's message with user A's attachment")
    if ev.b_delete is None or ev.a_delete is None:
        return
    # Judged by its effect: a delete that B is told succeeded but that removed nothing is the
    # delete-unknown pitfall (attachments.delete-unknown), not a breach.
    if accepted(ev.b_delete) and not accepted(ev.a_delete):
        fail(
            "user B deleted user A's attachment",
            expected="user B's attachments.delete refused, user A's file kept",
            actual=f"B's delete: HTTP {ev.b_delete.status}; "
            f"A's delete afterwards: HTTP {ev.a_delete.status}",
            evidence=evidence_of(ev.b_delete),
        )
    if not accepted(ev.b_delete):
        refused_cleanly(ev.b_delete, "user B deleting user A's attachment")


@check(
    id="attachments.upload-isolated",
    title="User B cannot read or overwrite user A's upload through its URL",
    level=SHOULD,
    pitfall="The upload endpoint checks that a credential is present but not whose: any user "
    "can read or replace any file. (A presigned URL is a capability: whoever holds it can use "
    "it, so keep it short-lived.)",
    fix="Check the attachment's owner against the authenticated user at the upload URL.",
    ref=REF,
    probes=["attachments"],
)
def test_upload_isolated(evidence) -> None:
    ev: Attachments = evidence["attachments"]
    _offered(ev)
    if ev.b_get is None or ev.b_put is None:
        untestable("needs a second user (--token-b) and an upload URL")
    if accepted(ev.b_get) and ev.content in ev.b_get.body:
        fail("user B read user A's upload", evidence=evidence_of(ev.b_get))
    if accepted(ev.b_put):
        fail(
            "user B overwrote user A's upload",
            actual=f"HTTP {ev.b_put.status}",
            evidence=evidence_of(ev.b_put),
        )


@check(
    id="attachments.thread-delete",
    title="Deleting a thread deletes the attachments its messages held",
    level=MUST,
    pitfall="threads.delete removes the items but not the files: deleted conversations leave "
    "their uploads behind, still usable by id.",
    fix="Delete the thread's attachments (metadata and bytes) in Store.delete_thread.",
    ref=REF,
    probes=["attachments"],
)
def test_thread_delete(evidence) -> None:
    ev: Attachments = evidence["attachments"]
    _offered(ev)
    if ev.reuse is None or ev.thread_deleted is None or not accepted(ev.thread_deleted):
        blocked("protocol.delete-thread", "the thread holding the attachment was not deleted")
    held = [
        obj(a).get("id")
        for u in done_items(ev.reuse, "user_message")
        for a in u.get("attachments") or []
    ]
    if ev.first.id in held or (accepted(ev.reuse) and not ev.reuse.of_type("error")):
        fail(
            "the attachment of a deleted thread can still be used",
            expected="a 4xx (or error event) for the attachment id",
            actual=f"HTTP {ev.reuse.status}, attachments in the message: {held}",
            evidence=evidence_of(ev.reuse),
        )


@check(
    id="attachments.reaches-model",
    title="Glass-box: an attachment in a message reaches the model request",
    level=MUST,
    pitfall="attachment_to_message_content is left out or returns nothing: the UI shows the "
    "file, the model never sees it and answers as if nothing was attached.",
    fix="Convert attachments to input_text / input_file / input_image content.",
    ref=f"{REF}; chatkit/agents.py ThreadItemConverter.attachment_to_message_content",
    probes=["attachments"],
)
def test_reaches_model(evidence) -> None:
    ev: Attachments = evidence["attachments"]
    if ev.calls is None:
        untestable(f"needs glass-box mode ({hints.flag('model-stub')})")
    _offered(ev)
    marker = ev.content.decode().split(":", 1)[0]
    seen = [c for c in ev.calls if marker in str(c.body)]
    if not seen:
        fail(
            "no model request carried the attachment's content",
            expected=f"{marker!r} (the file's first words) in the model input",
            actual=f"{len(ev.calls)} model requests during the turn",
        )
