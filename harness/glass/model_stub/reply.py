"""The stub's deterministic reply, and how it is cut into streamed tokens.

The reply reports what the model was given, so a check can read a canary (a marker string it
planted in the page, the user's context or an earlier turn) back out of the assistant's
answer as the end user would see it. Long texts are shortened to keep streams brief, and any
marker lost to shortening is appended so a planted canary always reaches the reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .normalize import Message

# Canaries the harness plants contain this word; override per stub for other formats.
DEFAULT_MARKER_PATTERN = r"(?i)[\w.:@/-]*canary[\w.:@/-]*"

INSTRUCTIONS_HEAD = 200
HISTORY_ITEM_LIMIT = 200
LAST_MESSAGE_LIMIT = 1000
MAX_CONTEXT_LINES = 8
# Lines of long instructions that carry per-user or per-page context are worth echoing.
_CONTEXT_LINE = re.compile(r"(?i)\b(user|page)\b")
_TOKEN = re.compile(r"\s*\S+")
_SPACES = re.compile(r"\s+")


def compose_reply(
    instructions: str | None,
    messages: Sequence[Message],
    marker_pattern: str | re.Pattern[str] = DEFAULT_MARKER_PATTERN,
) -> str:
    """``Instructions: ... History: [..] [..]. You said: ...`` plus lost markers."""
    user_texts = [m["text"] for m in messages if m.get("role") == "user"]
    history = " ".join(f"[{_shorten(t, HISTORY_ITEM_LIMIT)}]" for t in user_texts) or "(none)"
    last = _shorten(user_texts[-1], LAST_MESSAGE_LIMIT) if user_texts else "(nothing)"
    reply = (
        f"Instructions: {_sentence(_instructions_summary(instructions))} "
        f"History: {_sentence(history)} You said: {last}"
    )
    sources = [instructions or "", *(m["text"] for m in messages)]
    lost = [m for m in find_markers(sources, marker_pattern) if m not in reply]
    if lost:
        reply = f"{_sentence(reply)} Markers: {' '.join(lost)}"
    return reply


def _sentence(text: str) -> str:
    # "Be kind." must not become "Be kind.." when the section is closed.
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def find_markers(
    texts: Sequence[str], marker_pattern: str | re.Pattern[str] = DEFAULT_MARKER_PATTERN
) -> list[str]:
    """Distinct marker strings in ``texts``, in order of first appearance."""
    pattern = re.compile(marker_pattern) if isinstance(marker_pattern, str) else marker_pattern
    seen: dict[str, None] = {}
    for text in texts:
        for match in pattern.finditer(text):
            if match.group(0):
                seen.setdefault(match.group(0), None)
    return list(seen)


def tokenize(text: str) -> list[str]:
    """Whitespace-preserving chunks: each token carries the whitespace before it.

    Joining the tokens gives back ``text`` (less trailing whitespace), so a client that
    concatenates deltas sees exactly the reply.
    """
    tokens = _TOKEN.findall(text)
    return tokens or ([text] if text else [])


def count_tokens(*texts: str | None) -> int:
    return sum(len(_TOKEN.findall(t)) for t in texts if t)


def _instructions_summary(instructions: str | None) -> str:
    if not instructions or not instructions.strip():
        return "(none)"
    head = _collapse(instructions)
    if len(head) <= INSTRUCTIONS_HEAD:
        return head
    summary = head[:INSTRUCTIONS_HEAD].rstrip() + "…"
    context_lines = [
        _shorten(line, HISTORY_ITEM_LIMIT)
        for line in instructions.splitlines()
        if _CONTEXT_LINE.search(line) and _collapse(line) not in summary
    ]
    if context_lines:
        summary += " | " + " | ".join(context_lines[:MAX_CONTEXT_LINES])
    return summary


def _shorten(text: str, limit: int) -> str:
    collapsed = _collapse(text)
    return collapsed if len(collapsed) <= limit else collapsed[:limit].rstrip() + "…"


def _collapse(text: str) -> str:
    # Newlines inside the reply would be rendered by ChatKit; one line reads better in logs.
    return _SPACES.sub(" ", text).strip()
