"""The agent's instructions: a fixed preamble plus the user and page lines.

Shared by the server (which writes the lines) and the offline model (which reads
them back and reports them), so both agree on the exact prefixes.
"""

from __future__ import annotations

from .context import PageContext

BASE_INSTRUCTIONS = (
    "You are the ChatKit reference assistant. Answer briefly, using the user and page "
    "context below when it helps."
)
USER_PREFIX = "User: "
PAGE_PREFIX = "Page: "


def user_line(user_id: str, user_name: str | None) -> str:
    """``User: <name> (id <id>)``."""
    return f"{USER_PREFIX}{user_name or 'unknown'} (id {user_id})"


def page_line(page: PageContext) -> str:
    """``Page: <title> | <url> | <path> | <description> | headings: <headings>``."""
    return (
        f"{PAGE_PREFIX}{page.title or ''} | {page.url or ''} | {page.path or ''} | "
        f"{page.description or ''} | headings: {page.headings or ''}"
    )


def build_instructions(
    user_id: str,
    user_name: str | None,
    page: PageContext | None,
    extra_lines: list[str] | None = None,
) -> str:
    """The full instructions, one fact per line."""
    lines = [BASE_INSTRUCTIONS, user_line(user_id, user_name)]
    if page is not None and not page.is_empty():
        lines.append(page_line(page))
    lines.extend(extra_lines or [])
    return "\n".join(lines)
