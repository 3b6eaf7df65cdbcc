"""The per-request context handed to ChatKitServer.process() and every Store call.

ChatKit never builds a context itself and silently drops ``params.input.metadata``
(the seed's custom-fetch injection), so the app reads the raw body and the headers
here, before process(), and carries the result in RequestContext.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

PAGE_FIELDS = ("url", "title", "path", "description", "headings")


class PageContext(BaseModel):
    """What the user was looking at (the seed's getPageContext())."""

    url: str | None = None
    title: str | None = None
    path: str | None = None
    description: str | None = None
    # The seed joins the first headings with ", "; a list is joined the same way.
    headings: str | None = None

    def is_empty(self) -> bool:
        """True when no field is set."""
        return not any(getattr(self, name) for name in PAGE_FIELDS)

    @classmethod
    def from_any(cls, value: object) -> PageContext | None:
        """Lenient parse of a pageContext object; None when it holds nothing usable."""
        if not isinstance(value, Mapping):
            return None
        fields: dict[str, str] = {}
        for name in PAGE_FIELDS:
            raw = value.get(name)
            if isinstance(raw, list):
                raw = ", ".join(str(part) for part in raw if part)
            if raw is not None and raw != "":
                fields[name] = str(raw)
        page = cls(**fields)
        return None if page.is_empty() else page

    def merged_over(self, fallback: PageContext | None) -> PageContext:
        """This page context with empty fields filled from ``fallback``."""
        if fallback is None:
            return self
        return PageContext(
            **{name: getattr(self, name) or getattr(fallback, name) for name in PAGE_FIELDS}
        )


class RequestContext(BaseModel):
    """Who is asking and from where; passed to respond() and scopes every store call."""

    user_id: str
    user_name: str | None = None
    page: PageContext | None = None
    request_type: str | None = None
    # Where this server is reached (upload URLs of attachments point back to it).
    base_url: str | None = None
    # Only the token-in-prompt fault reads this; repr=False keeps it out of logs.
    access_token: str | None = Field(default=None, repr=False)
    # Deliberately never filled: the seed reads context.metadata, which no SDK code
    # populates. The drop-metadata fault reproduces exactly that read.
    metadata: dict[str, Any] = Field(default_factory=dict)


def _header_text(value: str) -> str:
    # Starlette decodes header bytes as latin-1; browsers send UTF-8 bytes.
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _metadata_sources(body: object) -> list[Mapping[str, Any]]:
    """The metadata dicts a request body may carry, most specific first."""
    if not isinstance(body, Mapping):
        return []
    sources: list[Mapping[str, Any]] = []
    params = body.get("params")
    if isinstance(params, Mapping):
        input_ = params.get("input")
        if isinstance(input_, Mapping) and isinstance(input_.get("metadata"), Mapping):
            sources.append(input_["metadata"])
    if isinstance(body.get("metadata"), Mapping):
        sources.append(body["metadata"])
    return sources


def _header_source(headers: Mapping[str, str]) -> dict[str, Any]:
    """The same keys as the body metadata, read from X-User-Name / X-Page-* headers."""
    source: dict[str, Any] = {}
    name = headers.get("x-user-name")
    if name:
        source["userInfo"] = {"name": _header_text(name)}
    page: dict[str, Any] = {}
    raw_page = headers.get("x-page-context")
    if raw_page:
        try:
            parsed = json.loads(_header_text(raw_page))
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            page.update(parsed)
    for header, key in (("x-page-title", "title"), ("x-page-url", "url")):
        if headers.get(header) and not page.get(key):
            page[key] = _header_text(headers[header])
    if page:
        source["pageContext"] = page
    return source


def extract_user_and_page(
    body: object, headers: Mapping[str, str], claims: Mapping[str, Any]
) -> tuple[str | None, PageContext | None]:
    """User display name and page context from body metadata, headers, then token claims."""
    sources = [*_metadata_sources(body), _header_source(headers)]
    user_name: str | None = None
    page: PageContext | None = None
    for source in sources:
        info = source.get("userInfo")
        if user_name is None and isinstance(info, Mapping) and info.get("name"):
            user_name = str(info["name"])
        found = PageContext.from_any(source.get("pageContext"))
        if found is not None:
            page = found if page is None else page.merged_over(found)
    if user_name is None and isinstance(claims.get("name"), str) and claims["name"]:
        user_name = claims["name"]
    return user_name, page
