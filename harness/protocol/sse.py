"""An incremental Server-Sent Events parser, written to the WHATWG event-stream rules.

Why our own and not httpx-sse's decoder: the harness needs the arrival time of every event as
its bytes came off the socket, must see CR-only line ends and a stray BOM exactly as sent, and
must *report* an unterminated last event instead of dispatching it. httpx-sse splits decoded
text and dispatches a trailing event, which hides the very framing bugs we look for.

Spec (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream):
  "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF)
   character pair, a single U+000A LINE FEED (LF) character, or a single U+000D CARRIAGE
   RETURN (CR) character."
  "Once the end of the file is reached, any pending data must be discarded. (If the file ends
   in the middle of an event, before the final empty line, the incomplete event is not
   dispatched.)"

Lines are split on the bytes 0x0D/0x0A before decoding. Neither byte occurs inside a UTF-8
multi-byte sequence, so this equals decoding first, and it keeps U+2028, U+2029, U+0085, \\x0b
and \\x0c inside data, where ``str.splitlines()`` would wrongly break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"
_EOL = re.compile(rb"\r\n|\r|\n")
_EOL_NAME = {b"\r\n": "CRLF", b"\r": "CR", b"\n": "LF"}
DROPPED = "[oversized line dropped]"  # stands for a capped line in Framing.unterminated


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None  # the last event ID in force (it carries over, as in the spec)
    retry: int | None = None  # the last valid retry value seen so far
    t: float = 0.0  # monotonic time the dispatching blank line arrived


@dataclass
class Framing:
    """What the parser noticed about the framing itself (findings, not errors)."""

    comments: int = 0
    bom: bool = False
    invalid_utf8: bool = False
    line_endings: set[str] = field(default_factory=set)  # subset of {"LF", "CRLF", "CR"}
    # The raw lines of a last event with no blank line after it (comments alone do not count:
    # a trailing keep-alive is harmless), joined with "\n"; None when the stream ended cleanly.
    unterminated: str | None = None
    oversized: bool = False  # a line exceeded the cap: it and its whole event were dropped
    fields: set[str] = field(default_factory=set)  # field names seen ("data", "event", ...)


class SSEParser:
    """Feed bytes as they arrive; get complete events back.

    >>> p = SSEParser()
    >>> [e.data for e in p.feed(b"data: a\\n\\ndata: b")]
    ['a']
    >>> p.close().unterminated
    'data: b'
    """

    def __init__(self, max_line_bytes: int = 8 * 1024 * 1024) -> None:
        self.framing = Framing()
        self._max_line = max_line_bytes
        self._buf = bytearray()  # the current partial line (or, before the start, BOM bytes)
        self._started = False
        self._pending_cr = False  # last chunk ended in CR: a following LF belongs to it
        self._discarding = False  # inside an oversized line: drop bytes up to its end
        self._poisoned = False  # the current event lost a line to the cap: do not dispatch
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._raw_pending: list[str] = []
        self._pending_content = False  # a non-comment line since the last dispatch

    def feed(self, chunk: bytes, t: float = 0.0) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if not self._started:
            # Only a BOM at the very start is stripped ("UTF-8 decode"), and it may itself be
            # split across chunks: wait until it is known whether the stream starts with one.
            probe = bytes(self._buf) + chunk
            if len(probe) < len(BOM) and BOM.startswith(probe):
                self._buf = bytearray(probe)
                return out
            self._started = True
            self._buf.clear()
            if probe.startswith(BOM):
                self.framing.bom = True
                probe = probe[len(BOM) :]
            chunk = probe
        if not chunk:
            return out  # an empty read must not cancel a pending CR
        if self._pending_cr:
            self._pending_cr = False
            if chunk[:1] == b"\n":
                self.framing.line_endings.add("CRLF")
                chunk = chunk[1:]
            else:
                self.framing.line_endings.add("CR")
        pos = 0
        end = len(chunk)
        for m in _EOL.finditer(chunk):
            eol = m.group()
            line = self._take(chunk, pos, m.start())
            pos = m.end()
            if eol == b"\r" and pos == end:
                self._pending_cr = True  # CR or the first half of a CRLF: decided next feed
            else:
                self.framing.line_endings.add(_EOL_NAME[eol])
            if line is not None:
                ev = self._line(line, t)
                if ev is not None:
                    out.append(ev)
        self._keep(chunk, pos, end)
        return out

    def close(self) -> Framing:
        """End of stream: anything not terminated by a blank line is reported, not dispatched."""
        if self._pending_cr:
            self._pending_cr = False
            self.framing.line_endings.add("CR")
        if self._buf and not self._discarding:
            tail = self._decode(bytes(self._buf))
            self._raw_pending.append(tail)
            if not tail.startswith(":"):
                self._pending_content = True
        if self._pending_content:
            self.framing.unterminated = "\n".join(self._raw_pending)
        self._buf.clear()
        self._raw_pending.clear()
        self._pending_content = False
        self._discarding = False
        self._data.clear()
        return self.framing

    # -- lines --------------------------------------------------------------------------------

    def _take(self, chunk: bytes, start: int, stop: int) -> bytes | None:
        """The complete line ending at ``stop``, or None when the cap dropped it."""
        if self._discarding:
            self._discarding = False
            self._buf.clear()
            return None
        if len(self._buf) + (stop - start) > self._max_line:
            self._drop_line()
            self._buf.clear()
            return None
        if self._buf:
            line = bytes(self._buf) + chunk[start:stop]
            self._buf.clear()
            return line
        return chunk[start:stop]

    def _keep(self, chunk: bytes, start: int, stop: int) -> None:
        """Hold the partial last line of a chunk, unless it already exceeds the cap."""
        if self._discarding or start == stop:
            return
        if len(self._buf) + (stop - start) > self._max_line:
            self._drop_line()
            self._discarding = True
            self._buf.clear()
            return
        self._buf += chunk[start:stop]

    def _drop_line(self) -> None:
        # Keeping a truncated line would hand checks a corrupted payload; drop the event.
        self.framing.oversized = True
        self._poisoned = True
        self._raw_pending.append(DROPPED)
        self._pending_content = True

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.framing.invalid_utf8 = True
            return raw.decode("utf-8", errors="replace")

    def _line(self, raw: bytes, t: float) -> SSEEvent | None:
        if not raw:
            return self._dispatch(t)
        line = self._decode(raw)
        self._raw_pending.append(line)
        if line.startswith(":"):
            self.framing.comments += 1
            return None
        self._pending_content = True
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self.framing.fields.add(name)
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:  # an id holding NUL is ignored
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Any other field name is ignored, as the spec says.
        return None

    def _dispatch(self, t: float) -> SSEEvent | None:
        self._raw_pending.clear()
        self._pending_content = False
        data, event, poisoned = self._data, self._event, self._poisoned
        self._data, self._event, self._poisoned = [], "", False
        if not data or poisoned:
            return None
        return SSEEvent(
            data="\n".join(data),
            event=event or "message",
            id=self._id,
            retry=self._retry,
            t=t,
        )


def parse_all(body: bytes) -> tuple[list[SSEEvent], Framing]:
    """Parse a whole recorded body at once."""
    parser = SSEParser()
    events = parser.feed(body)
    return events, parser.close()
