"""JSON error responses: every failure the endpoint reports is a normal, complete response."""

from __future__ import annotations

from starlette.responses import JSONResponse

from .auth import AuthError


def json_error(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``{"error": ..., "detail": ...}`` with ``status``."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def _quoted(text: str) -> str:
    # A quoted-string in a header: no quotes, backslashes or non-latin-1 characters.
    cleaned = text.replace("\\", "/").replace('"', "'")
    return cleaned.encode("latin-1", "replace").decode("latin-1")


def auth_error_response(exc: AuthError) -> JSONResponse:
    """401 with RFC 6750 WWW-Authenticate, 403 for identity mismatches, 503 without keys."""
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{_quoted(exc.detail)}"'
        )
    return json_error(exc.status, exc.error, exc.detail, headers)
