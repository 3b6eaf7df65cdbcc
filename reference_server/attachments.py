"""Two-phase attachment upload: attachments.create hands out an upload URL this server serves.

attachments.create checks the declared size and MIME type before anything is uploaded and
reserves a slot owned by the caller; the client then PUTs the bytes to the upload URL with
its own credentials. Only the owner may upload to or read from that URL, and the bytes go
when the attachment is deleted or when the thread whose message used it is deleted.
"""

from __future__ import annotations

from typing import Any

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)
from pydantic import AnyUrl
from starlette.requests import Request
from starlette.responses import Response

from .auth import AuthError, TokenVerifier, authenticate
from .config import ServerConfig
from .context import RequestContext
from .errors import auth_error_response, json_error
from .faults import Fault
from .store import SqlStore, new_id

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
FILE_TYPES = frozenset({"text/plain", "text/markdown", "text/csv", "application/pdf"})
UPLOAD_PATH = "/chatkit/attachments/{attachment_id}/upload"
CONTENT_PATH = "/chatkit/attachments/{attachment_id}"
# How much of a text attachment the model is shown.
TEXT_EXCERPT = 500


class RequestRefused(Exception):
    """A request the server answers with a 4xx of its own choosing (status, error, detail)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def media_type(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


class SqlAttachmentStore(AttachmentStore[RequestContext]):
    """Upload slots in the SqlStore; URLs on this server."""

    def __init__(self, store: SqlStore, cfg: ServerConfig) -> None:
        self.store = store
        self.cfg = cfg

    def _check(self, params: AttachmentCreateParams) -> None:
        if self.cfg.has(Fault.NO_ATTACHMENT_LIMITS):
            return  # no-attachment-limits fault: any size, any type
        kind = media_type(params.mime_type)
        if kind not in IMAGE_TYPES | FILE_TYPES:
            allowed = ", ".join(sorted(IMAGE_TYPES | FILE_TYPES))
            raise RequestRefused(415, "unsupported_media_type", f"{kind!r} not allowed ({allowed})")
        if params.size < 0:
            raise RequestRefused(400, "invalid_request", "size must not be negative")
        if params.size > self.cfg.max_attachment_bytes:
            raise RequestRefused(
                413,
                "payload_too_large",
                f"attachments are limited to {self.cfg.max_attachment_bytes} bytes",
            )
        if not params.name.strip():
            raise RequestRefused(400, "invalid_request", "name must not be empty")

    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> Attachment:
        self._check(input)
        attachment_id = new_id("attachment")
        base = (context.base_url or "http://127.0.0.1/").rstrip("/")
        upload = AttachmentUploadDescriptor(
            url=AnyUrl(base + UPLOAD_PATH.format(attachment_id=attachment_id)), method="PUT"
        )
        await self.store.create_blob(attachment_id, input.size, context)
        common: dict[str, Any] = {
            "id": attachment_id,
            "name": input.name,
            "mime_type": input.mime_type,
            "upload_descriptor": upload,
        }
        if media_type(input.mime_type) in IMAGE_TYPES:
            preview = AnyUrl(base + CONTENT_PATH.format(attachment_id=attachment_id))
            return ImageAttachment(**common, preview_url=preview)
        return FileAttachment(**common)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        # The bytes go with the metadata row (SqlStore.delete_attachment); this only makes
        # an unknown id a 404 before anything is touched. (attachment-delete-silent lives in
        # the server's request handler: the SDK deletes the row after this, which checks too.)
        await self.store.load_attachment(attachment_id, context)


async def attachment_text(store: SqlStore, attachment: Attachment) -> str:
    """What the model is told about an attachment: its name, type, size and a text excerpt."""
    data = await store.get_blob(attachment.id)
    size = len(data) if data is not None else 0
    line = f"[attachment {attachment.name} ({attachment.mime_type}, {size} bytes)]"
    if data and media_type(attachment.mime_type).startswith("text/"):
        line += " " + data[:TEXT_EXCERPT].decode("utf-8", errors="replace")
    return line


class UploadEndpoint:
    """PUT/POST the bytes of an attachment; GET them back. The owner only."""

    def __init__(self, cfg: ServerConfig, store: SqlStore, verifier: TokenVerifier) -> None:
        self.cfg = cfg
        self.store = store
        self.verifier = verifier

    async def _owner_ok(self, request: Request, attachment_id: str) -> Response | tuple[int, bool]:
        try:
            identity = await authenticate(request.headers, self.cfg, self.verifier)
        except AuthError as exc:
            return auth_error_response(exc)
        slot = await self.store.blob_owner(attachment_id)
        unscoped = self.cfg.has(Fault.UPLOAD_URL_UNSCOPED)
        if slot is None or (slot[0] != identity.user_id and not unscoped):
            # Someone else's upload slot looks exactly like a missing one.
            return json_error(404, "not_found", f"attachment {attachment_id} not found")
        return slot[1], slot[2]

    async def upload(self, request: Request) -> Response:
        attachment_id = request.path_params["attachment_id"]
        checked = await self._owner_ok(request, attachment_id)
        if isinstance(checked, Response):
            return checked
        declared, _ = checked
        limit = declared if not self.cfg.has(Fault.NO_ATTACHMENT_LIMITS) else 64 * 1024 * 1024
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return json_error(
                    413, "payload_too_large", f"more than the declared {declared} bytes"
                )
        await self.store.put_blob(attachment_id, bytes(body))
        return Response(content=b"{}", media_type="application/json")

    async def content(self, request: Request) -> Response:
        attachment_id = request.path_params["attachment_id"]
        checked = await self._owner_ok(request, attachment_id)
        if isinstance(checked, Response):
            return checked
        data = await self.store.get_blob(attachment_id)
        if data is None:
            return json_error(404, "not_found", "nothing uploaded yet")
        return Response(content=data, media_type="application/octet-stream")


__all__ = ["NotFoundError", "RequestRefused", "SqlAttachmentStore", "UploadEndpoint"]
