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
"""

from __future__ import annotations

from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None
    t: float = 0.0  # monotonic time the dispatching blank line arrived


@dataclass
class Framing:
    """What the parser noticed about the framing itself (findings, not errors)."""

    comments: int = 0
    bom: bool = False
    invalid_utf8: bool = False
    line_endings: set[str] = field(default_factory=set)  # subset of {"LF", "CRLF", "CR"}
    unterminated: str | None = None  # the raw text of a last event with no blank line after it
    oversized: bool = False  # a line exceeded the cap and was dropped
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
        self._buf = bytearray()
        self._started = False
        self._pending_cr = False  # last chunk ended in CR: a following LF belongs to it
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._raw_pending: list[str] = []

    def feed(self, chunk: bytes, t: float = 0.0) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if not self._started:
            # The BOM may itself be split across chunks; wait until three bytes are known.
            probe = bytes(self._buf) + chunk
            if len(probe) < len(BOM) and BOM.startswith(probe):
                self._buf += chunk
                return out
            self._started = True
            self._buf.clear()
            if probe.startswith(BOM):
                self.framing.bom = True
                probe = probe[len(BOM) :]
            chunk = probe
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
            self.framing.line_endings.discard("CR")
            self.framing.line_endings.add("CRLF")
        self._pending_cr = False
        start = 0
        n = len(chunk)
        i = 0
        while i < n:
            b = chunk[i]
            if b == 0x0A or b == 0x0D:
                self._buf += chunk[start:i]
                if b == 0x0D:
                    if i + 1 < n:
                        if chunk[i + 1] == 0x0A:
                            self.framing.line_endings.add("CRLF")
                            i += 1
                        else:
                            self.framing.line_endings.add("CR")
                    else:
                        self._pending_cr = True
                        self.framing.line_endings.add("CR")
                else:
                    self.framing.line_endings.add("LF")
                ev = self._line(bytes(self._buf), t)
                self._buf.clear()
                if ev is not None:
                    out.append(ev)
                start = i + 1
            i += 1
        self._buf += chunk[start:]
        if len(self._buf) > self._max_line:
            self.framing.oversized = True
            self._buf.clear()
        return out

    def close(self) -> Framing:
        """End of stream: anything not terminated by a blank line is reported, not dispatched."""
        tail = self._decode(bytes(self._buf)) if self._buf else ""
        pending = [*self._raw_pending, tail] if tail else list(self._raw_pending)
        if pending:
            self.framing.unterminated = "\n".join(pending)
        self._buf.clear()
        self._raw_pending.clear()
        self._data.clear()
        return self.framing

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
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self.framing.fields.add(name)
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        # Any other field name is ignored, as the spec says.
        return None

    def _dispatch(self, t: float) -> SSEEvent | None:
        self._raw_pending.clear()
        if not self._data:
            self._event = ""
            return None
        ev = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._id,
            retry=self._retry,
            t=t,
        )
        self._data = []
        self._event = ""
        return ev


def parse_all(body: bytes) -> tuple[list[SSEEvent], Framing]:
    """Parse a whole recorded body at once."""
    parser = SSEParser()
    events = parser.feed(body)
    return events, parser.close()
