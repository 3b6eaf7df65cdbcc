"""Canaries: random nonces planted in history or context, looked for in the agent's reply.

A canary appears in the reply exactly when it reached the model (the reference server's
offline model and the model stub report what they were given; a live model is asked to repeat
it). Every probe has a negative control that must *not* see the canary, which separates memory
from leaks and from guessing. Live models are noisy: probes repeat and decide by majority.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

_WORDS = (
    "amber", "basil", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo",
    "juniper", "kelp", "lumen", "marble", "nectar", "onyx", "pebble", "quartz", "russet",
)  # fmt: skip


def codeword() -> str:
    """A nonce no model would guess: two words and four hex digits, e.g. 'cobalt-fjord-3f9a'."""
    a, b = secrets.choice(_WORDS), secrets.choice(_WORDS)
    return f"{a}-{b}-{secrets.token_hex(2)}"


def page_context(title: str, path: str = "/docs/pricing") -> dict[str, object]:
    """The seed's getPageContext() shape."""
    return {
        "url": f"https://app.example.test{path}",
        "title": title,
        "path": path,
        "description": "Harness canary page",
        "headings": ["Overview", "Plans"],
    }


def metadata(user_id: str, user_name: str, page_title: str) -> dict[str, object]:
    """What the seed's custom fetch injects into ``params.input.metadata``."""
    return {
        "userId": user_id,
        "userInfo": {"id": user_id, "name": user_name},
        "pageContext": page_context(page_title),
    }


@dataclass
class Vote:
    """The outcome of a repeated probe."""

    hits: int = 0
    runs: int = 0
    replies: list[str] = field(default_factory=list)

    @property
    def majority(self) -> bool:
        return self.hits * 2 > self.runs


async def vote(probe: Callable[[], Awaitable[str]], needle: str, repeat: int) -> Vote:
    """Run ``probe`` ``repeat`` times at once; count replies containing ``needle``
    (case-insensitive). The repeats are independent conversations, so they run concurrently."""
    v = Vote()
    for reply in await asyncio.gather(*(probe() for _ in range(max(1, repeat)))):
        v.runs += 1
        v.replies.append(reply)
        if needle.lower() in reply.lower():
            v.hits += 1
    return v
