"""Reading one recorded model call: which conversation turns it held, what context, what secrets.

The model stub records every call as instructions plus ``{role, text}`` messages, whichever
API the deployment speaks. The functions here judge that record against what the harness
itself sent and saw: the user messages of each turn (planted with a newline, so a history built
from object reprs, which escape it as ``\\n``, never matches verbatim) and the replies the client
was shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.glass.model_stub import RecordedModelRequest
from harness.report.redact import redact_text

_SPACES = re.compile(r"\s+")
# A JWT anywhere (header segment base64url of '{"'), as harness.report.redact hides them.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER_RE = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")


def collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Turn:
    """One exchange as the harness knows it: the message it sent, the reply it was shown."""

    user: str
    reply: str
    marker: str  # a word unique to this turn inside ``user``, to find it even when mangled


def model_text(req: RecordedModelRequest) -> str:
    """Everything the model reads: instructions, then each message."""
    return "\n".join([req.instructions or "", *(m.get("text", "") for m in req.messages)])


# -- history ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    kind: str  # "user" or "assistant"
    turn: int  # 1-based; 0 for an assistant message that is no reply the client was shown
    where: str  # "instructions" or "message N"

    def label(self) -> str:
        who = "reply" if self.kind == "assistant" else "message"
        return f"{who} {self.turn}" if self.turn else "an unknown reply"


def _count(haystack: str, needle: str) -> int:
    return haystack.count(needle) if needle else 0


def history_problem(req: RecordedModelRequest, turns: Sequence[Turn]) -> str | None:
    """Why the model input of the last of ``turns`` does not hold the conversation, or None.

    Expected: the user message and the reply of every earlier turn, each exactly once and in
    order, then the new message exactly once. Earlier turns may be input messages (the SDK's
    way) or plain text in the instructions (the seed's "history as string" fix, done right).
    """
    n = len(turns)
    seen: list[_Seen] = []  # the input messages, in order, as far as they are turns
    for i, message in enumerate(req.messages, 1):
        role, text = message.get("role", ""), message.get("text", "")
        if role == "user":
            # A message may carry several turns (merged history): in the order they appear.
            hits = sorted((text.find(t.user), k) for k, t in enumerate(turns, 1) if t.user in text)
            for _, k in hits:
                seen += [_Seen("user", k, f"message {i}")] * _count(text, turns[k - 1].user)
        elif role == "assistant":
            flat = collapse(text)
            match = [
                k for k, t in enumerate(turns[:-1], 1) if t.reply and collapse(t.reply) in flat
            ]
            seen.append(_Seen("assistant", match[-1] if match else 0, f"message {i}"))
    instructions = req.instructions or ""
    flat_instructions = collapse(instructions)
    in_instructions = {k: _count(instructions, t.user) for k, t in enumerate(turns, 1)}
    replies_in_instructions = {
        k: bool(t.reply) and collapse(t.reply) in flat_instructions
        for k, t in enumerate(turns[:-1], 1)
    }

    def users(k: int) -> int:
        return sum(s.kind == "user" and s.turn == k for s in seen) + in_instructions[k]

    def replies(k: int) -> int:
        return sum(s.kind == "assistant" and s.turn == k for s in seen)

    current = users(n)
    if current == 0:
        return f"the new message (turn {n}) is not in the model input" + _mangled(req, turns[-1])
    if current > 1:
        return f"the new message (turn {n}) reached the model {current} times"
    for k, turn in enumerate(turns[:-1], 1):
        if users(k) == 0:
            return f"turn {k}'s message is missing from turn {n}'s model input" + _mangled(
                req, turn
            )
        if users(k) > 1:
            return f"turn {k}'s message is in turn {n}'s model input {users(k)} times"
        if replies(k) == 0 and not replies_in_instructions[k]:
            return f"turn {k}'s reply is missing from turn {n}'s model input"
        if replies(k) > 1:
            return f"turn {k}'s reply is in turn {n}'s model input {replies(k)} times"
    order = [(s.turn, s.kind == "assistant") for s in seen]
    if any(s.turn == 0 for s in seen) or order != sorted(order):
        got = ", ".join(s.label() for s in seen)
        return f"turn {n}'s input messages are out of order: {got}"
    positions = [instructions.find(t.user) for t in turns if t.user in instructions]
    if positions != sorted(positions):
        return "the earlier turns in the instructions are out of order"
    return None


def _mangled(req: RecordedModelRequest, turn: Turn) -> str:
    """Where the turn's marker shows up although its text does not (e.g. an object repr)."""
    for where, text in _places(req):
        at = text.find(turn.marker)
        if at >= 0:
            excerpt = text[max(0, at - 100) : at + len(turn.marker) + 40].replace("\n", "⏎")
            return f"; its marker appears in {where}, but not its text verbatim: …{excerpt}…"
    return ""


def _places(req: RecordedModelRequest) -> Iterable[tuple[str, str]]:
    yield "the instructions", req.instructions or ""
    for i, m in enumerate(req.messages, 1):
        yield f"message {i} ({m.get('role', '?')})", m.get("text", "")


def history_outline(req: RecordedModelRequest, turns: Sequence[Turn]) -> str:
    """One line per input message naming the turn it carries, for evidence."""
    rows = []
    for where, text in _places(req):
        found = [f"message {k}" for k, t in enumerate(turns, 1) if t.user in text]
        found += [
            f"reply {k}"
            for k, t in enumerate(turns[:-1], 1)
            if t.reply and collapse(t.reply) in collapse(text) and not where.endswith("(user)")
        ]
        rows.append(f"  {where}: {', '.join(found) or '-'} | {collapse(text)[:100]!r}")
    return "\n".join(rows)


# -- context ----------------------------------------------------------------------------------


def missing_context(req: RecordedModelRequest, needles: Iterable[str]) -> list[str]:
    """The needles found neither in the instructions nor in a message the model is given.

    Earlier replies do not count: the stub's replies echo the instructions they were given,
    so turn 1's context would otherwise seem to reach turn 2 through the history alone.
    """
    given = [m.get("text", "") for m in req.messages if m.get("role") != "assistant"]
    text = "\n".join([req.instructions or "", *given])
    return [n for n in needles if n not in text]


# -- secrets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    what: str  # "the test user's token", "a JWT", ...
    where: str  # "the instructions, line 4", "message 2 (user)", "request field 'tools'"
    excerpt: str  # redacted


def secret_leaks(req: RecordedModelRequest, secrets: dict[str, str]) -> list[Leak]:
    """Credentials in anything the model call carried. ``secrets`` maps description -> value."""
    leaks: list[Leak] = []
    hidden = list(secrets.values())

    def scan(where: str, text: str) -> None:
        for what, value in secrets.items():
            at = text.find(value) if len(value) >= 8 else -1
            if at >= 0:
                leaks.append(Leak(what, where, _excerpt(text, at, len(value), hidden)))
        if not any(leak.where == where for leak in leaks):
            for pattern, what in ((_JWT_RE, "a JWT"), (_BEARER_RE, "a bearer token")):
                found = pattern.search(text)
                if found:
                    excerpt = _excerpt(text, found.start(), len(found.group(0)), hidden)
                    leaks.append(Leak(what, where, excerpt))
                    break

    instructions = req.instructions or ""
    for number, line in enumerate(instructions.splitlines(), 1):
        scan(f"the instructions, line {number}", line)
    for i, m in enumerate(req.messages, 1):
        scan(f"message {i} ({m.get('role', '?')})", m.get("text", ""))
    if isinstance(req.body, dict):
        # Everything else the call carried: tool definitions, metadata, MCP headers...
        for key, value in req.body.items():
            if key not in ("instructions", "input", "messages"):
                scan(f"request field {key!r}", json.dumps(value))
    return leaks


def _excerpt(text: str, at: int, length: int, secrets: list[str]) -> str:
    window = text[max(0, at - 40) : at + length + 20].replace("\n", "⏎")
    return redact_text(window, secrets)
