"""Request bodies for fuzzing a ChatKit endpoint, and a client that checks every answer.

Shared by tests/test_fuzz.py (a few thousand cases in CI) and benchmarks/fuzz.py (many more).
The bodies mix five kinds: ChatKit envelopes of every request type with fuzzed params (the
deepest code paths), arbitrary JSON, arbitrary bytes, byte-level mutations of valid bodies,
and hand-picked nasties (deep nesting, huge numbers, lone surrogates, NaN).

Who sends what matters for "existing threads unchanged": user A owns the threads that must
survive, so A's fuzzed requests never name them; user B's do, and must be refused.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hypothesis import strategies as st

from reference_server.testing import add_message_body, create_thread_body, parse_sse

REQUEST_TYPES = [
    "threads.create",
    "threads.add_user_message",
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "threads.retry_after_item",
    "threads.custom_action",
    "threads.sync_custom_action",
    "threads.get_by_id",
    "threads.list",
    "threads.update",
    "threads.delete",
    "items.list",
    "items.feedback",
    "attachments.create",
    "attachments.delete",
    "input.transcribe",
]
# Request types the reference server answers 501 on purpose: none any more (it implements
# every request type); kept so a deployment-specific run can list its own.
NOT_IMPLEMENTED: set[str] = set()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)  # json.dumps writes NaN and Infinity
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
weird_text = st.text(max_size=60) | st.sampled_from(
    ["", " ", "\x00", "\u2028", "\ufeff", "é" * 50, "thr_", "../../x", "' OR 1=1 --", "%s%n"]
)


@dataclass(frozen=True)
class Ids:
    """Real ids the fuzzer may aim at: user A's (must survive) and user B's own."""

    a_threads: tuple[str, ...]
    a_items: tuple[str, ...]
    b_threads: tuple[str, ...]
    b_items: tuple[str, ...]


def _id(real: tuple[str, ...]) -> st.SearchStrategy[Any]:
    options: st.SearchStrategy[Any] = weird_text | json_values
    return st.sampled_from(real) | options if real else options


def user_input() -> st.SearchStrategy[dict[str, Any]]:
    """A well-formed UserMessageInput with odd text in it."""
    content = st.lists(
        st.fixed_dictionaries({"type": st.just("input_text"), "text": weird_text})
        | st.fixed_dictionaries(
            {"type": st.just("input_tag"), "id": weird_text, "text": weird_text},
            optional={"data": st.dictionaries(st.text(max_size=8), json_values, max_size=3)},
        ),
        min_size=1,
        max_size=3,
    )
    return st.fixed_dictionaries(
        {
            "content": content,
            "attachments": st.just([]),
            "inference_options": st.fixed_dictionaries(
                {}, optional={"model": weird_text | st.none()}
            ),
        },
        optional={"quoted_text": weird_text | st.none()},
    )


# The fields of every request type's params (chatkit.types), each with well-formed values.
PARAMS: dict[str, list[str]] = {
    "threads.create": ["input"],
    "threads.add_user_message": ["thread_id", "input"],
    "threads.add_client_tool_output": ["thread_id", "result"],
    "threads.add_structured_input": ["thread_id", "item_id", "input"],
    "threads.retry_after_item": ["thread_id", "item_id"],
    "threads.custom_action": ["thread_id", "item_id", "action"],
    "threads.sync_custom_action": ["thread_id", "item_id", "action"],
    "threads.get_by_id": ["thread_id"],
    "threads.list": ["limit", "order", "after"],
    "threads.update": ["thread_id", "title"],
    "threads.delete": ["thread_id"],
    "items.list": ["thread_id", "limit", "order", "after"],
    "items.feedback": ["thread_id", "item_ids", "kind"],
    "attachments.create": ["name", "size", "mime_type"],
    "attachments.delete": ["attachment_id"],
    "input.transcribe": ["audio_base64", "mime_type"],
}


def params_for(
    type_: str, threads: st.SearchStrategy[Any], items: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Well-formed params of ``type_``, half the time with one field broken or dropped."""
    structured = st.fixed_dictionaries(
        {"status": st.sampled_from(["answered", "skipped"])},
        optional={
            "answers": st.dictionaries(
                weird_text,
                st.fixed_dictionaries({"values": st.lists(weird_text, max_size=2)}),
                max_size=2,
            )
        },
    )
    fields: dict[str, st.SearchStrategy[Any]] = {
        "thread_id": threads,
        "item_id": items,
        "input": structured if type_ == "threads.add_structured_input" else user_input(),
        "limit": st.integers(min_value=-5, max_value=500) | st.none(),
        "order": st.sampled_from(["asc", "desc"]),
        "after": items | st.none(),
        "title": weird_text,
        "result": json_values,
        "item_ids": st.lists(items, max_size=3),
        "kind": st.sampled_from(["positive", "negative"]),
        "action": st.fixed_dictionaries({"type": weird_text}, optional={"payload": json_values}),
        "attachment_id": weird_text,
        "name": weird_text,
        "size": st.integers(min_value=-1, max_value=2**40),
        "mime_type": st.sampled_from(["text/plain", "image/png", "audio/webm"]) | weird_text,
        "audio_base64": weird_text,
    }
    good = st.fixed_dictionaries({k: fields[k] for k in PARAMS.get(type_, [])})

    def corrupt(params: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        if not params:
            return st.dictionaries(st.text(max_size=8), json_values, min_size=1, max_size=2)
        keys = sorted(params)
        drop = st.sampled_from(keys).map(lambda k: {x: v for x, v in params.items() if x != k})
        swap = st.tuples(st.sampled_from(keys), json_values).map(
            lambda kv: {**params, kv[0]: kv[1]}
        )
        extra = st.tuples(st.text(max_size=8), json_values).map(lambda kv: {kv[0]: kv[1], **params})
        return drop | swap | extra

    return st.one_of(good, good.flatmap(corrupt))


def envelope(
    threads: st.SearchStrategy[Any], items: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """``{"type": ..., "params": {...}, "metadata": ...}``: mostly well-formed, never quite."""
    metadata = st.fixed_dictionaries(
        {},
        optional={
            "userInfo": st.fixed_dictionaries({}, optional={"name": weird_text, "id": weird_text})
            | json_values,
            "pageContext": st.dictionaries(weird_text, weird_text, max_size=3) | json_values,
        },
    )

    def build(type_: str) -> st.SearchStrategy[dict[str, Any]]:
        params = params_for(type_, threads, items)
        return st.one_of(
            st.fixed_dictionaries({"type": st.just(type_), "params": params}),
            st.fixed_dictionaries(
                {"type": st.just(type_), "params": params, "metadata": metadata | json_values}
            ),
            st.fixed_dictionaries({"type": st.just(type_)}, optional={"params": json_values}),
        )

    known = st.sampled_from(REQUEST_TYPES).flatmap(build)
    unknown = st.fixed_dictionaries({"type": weird_text | json_values, "params": json_values})
    return st.one_of(known, known, known, unknown)  # mostly real request types


NASTIES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'"threads.list"',
    b"[" * 50_000 + b"]" * 50_000,  # deeper than any recursion limit
    b'{"type":"threads.list","params":{"limit":' + b"9" * 5000 + b"}}",  # int too long to parse
    b'{"type":"threads.get_by_id","params":{"thread_id":"\\ud800"}}',  # a lone surrogate
    b'{"type":"threads.list","params":{"limit":NaN}}',
    b'{"type":"threads.list","params":{"limit":1e999}}',
    b"\xef\xbb\xbf" + b'{"type":"threads.list","params":{}}',  # a BOM
    b'{"type":"threads.list","params":{},"type":"threads.delete"}',  # duplicate keys
    b'{"type":"threads.list\x00","params":{}}',
    b"\xff\xfe\xfd",
    json.dumps({"type": "threads.list", "params": {"limit": 1}}).encode("utf-16"),
]


def mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    """``valid`` with a few bytes replaced, inserted or cut out."""

    def apply(ops: list[tuple[int, int, int]]) -> bytes:
        data = bytearray(valid)
        for kind, pos, byte in ops:
            i = pos % (len(data) + 1)
            if kind == 0 and data:
                data[i % len(data)] = byte
            elif kind == 1:
                data.insert(i, byte)
            elif data:
                del data[i % len(data)]
        return bytes(data)

    op = st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255))
    return st.lists(op, min_size=1, max_size=4).map(apply)


@dataclass(frozen=True)
class Case:
    who: str  # "a", "b", "none" (no credential) or "bad" (a garbage token)
    body: bytes

    def __repr__(self) -> str:  # hypothesis prints failing examples with this
        return f"Case({self.who!r}, {self.body[:300]!r}{'...' if len(self.body) > 300 else ''})"


def cases(ids: Ids) -> st.SearchStrategy[Case]:
    """One request: who sends it and its body."""
    valid = json.dumps(
        {
            "type": "threads.create",
            "params": {
                "input": {
                    "content": [{"type": "input_text", "text": "hi"}],
                    "attachments": [],
                    "inference_options": {},
                }
            },
        }
    ).encode()

    def bodies(
        threads: st.SearchStrategy[Any], items: st.SearchStrategy[Any]
    ) -> st.SearchStrategy[bytes]:
        return st.one_of(
            envelope(threads, items).map(lambda v: json.dumps(v).encode()),
            envelope(threads, items).map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
            json_values.map(lambda v: json.dumps(v).encode()),
            st.binary(max_size=200),
            mutated(valid),
            st.sampled_from(NASTIES),
        )

    # A never names its own existing threads or items; B may name A's (and must be refused).
    a_threads = _id(ids.b_threads)
    a_items = _id(ids.b_items)
    b_threads = _id(ids.a_threads + ids.b_threads)
    b_items = _id(ids.a_items + ids.b_items)
    return st.one_of(
        bodies(a_threads, a_items).map(lambda b: Case("a", b)),
        bodies(b_threads, b_items).map(lambda b: Case("b", b)),
        bodies(b_threads, b_items).map(lambda b: Case("b", b)),
        st.sampled_from(["none", "bad"]).flatmap(
            lambda who: bodies(b_threads, b_items).map(lambda b: Case(who, b))
        ),
    )


# -- sending ---------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class KeepAlive:
    """One HTTP/1.1 connection, reused for every case: a dropped one is a finding."""

    url: str
    tokens: dict[str, str]
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.path = parts.path
        host = parts.hostname or "127.0.0.1"
        self.conn = http.client.HTTPConnection(host, parts.port, timeout=30)
        self.conn.connect()

    def close(self) -> None:
        self.conn.close()

    def reconnect(self) -> None:
        """A fresh connection (after a drop was recorded, to go on measuring)."""
        self.conn.close()
        self.conn.connect()

    def post(self, body: bytes, who: str) -> Answer:
        headers = {"Content-Type": "application/json"}
        if who in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        elif who == "bad":
            headers["Authorization"] = "Bearer not.a-token"
        sock = self.conn.sock
        self.conn.request("POST", self.path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        self.sent += 1
        self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
        if resp.will_close or self.conn.sock is not sock or sock is None:
            raise AssertionError(f"the server closed the connection after HTTP {resp.status}")
        return answer


def check_answer(case: Case, answer: Answer) -> None:
    """Never a 5xx (but 501 for the unimplemented types), never a stream that broke."""
    try:
        type_ = json.loads(case.body).get("type")
    except (ValueError, AttributeError, RecursionError, UnicodeDecodeError):
        type_ = None
    if answer.status >= 500 and not (answer.status == 501 and type_ in NOT_IMPLEMENTED):
        raise AssertionError(f"HTTP {answer.status} for {case!r}: {answer.body[:300]!r}")
    if b'"code":"stream.error"' in answer.body:
        raise AssertionError(f"the stream broke off with stream.error for {case!r}")
    if case.who in ("none", "bad") and answer.status != 401:
        raise AssertionError(f"HTTP {answer.status} without a valid credential for {case!r}")


Snapshot = dict[str, Any]


def snapshot(post: Callable[[bytes], Answer], thread_ids: tuple[str, ...]) -> Snapshot:
    """Everything user A can read about the given threads."""
    out: Snapshot = {}
    for tid in thread_ids:
        for type_, params in (
            ("threads.get_by_id", {"thread_id": tid}),
            ("items.list", {"thread_id": tid, "limit": 100, "order": "asc"}),
        ):
            answer = post(json.dumps({"type": type_, "params": params}).encode())
            out[f"{type_} {tid}"] = (answer.status, json.loads(answer.body))
    return out


def seed_threads(conn: KeepAlive, who: str, n: int) -> tuple[list[str], list[str]]:
    """``n`` threads of two turns each for ``who``: (thread ids, item ids)."""
    threads, items = [], []
    for i in range(n):
        body = json.dumps(create_thread_body(f"{who} {i}")).encode()
        first = parse_sse(conn.post(body, who).body)
        tid = next(e["thread"]["id"] for e in first if e["type"] == "thread.created")
        body = json.dumps(add_message_body(tid, "more")).encode()
        second = parse_sse(conn.post(body, who).body)
        threads.append(tid)
        items += [e["item"]["id"] for e in first + second if e["type"] == "thread.item.done"]
    return threads, items
