"""The ChatKit wire protocol itself: framing, event schema, ordering, and every JSON request.

Source: openai-chatkit 1.6.5 ``chatkit/server.py`` (``_process_streaming`` writes
``b"data: " + event.model_dump_json() + b"\\n\\n"``) and ``chatkit/types.py``.
Judgments only: the exchanges come from the probes in harness/probes/conversation.py.
"""

from __future__ import annotations

from collections import Counter

from harness.engine.expect import evidence_of, json_ok, shape_problem, status_4xx, stream_ok
from harness.engine.preconditions import (
    CREATE,
    LIST_ITEMS,
    SECOND_TURN,
    needs_stream,
    needs_thread,
)
from harness.probes.conversation import (
    FIRST_MESSAGE,
    SECOND_MESSAGE,
    Conversation,
    Deletion,
    Rename,
    ThreadReads,
    done_ids,
    page_ids,
)
from harness.protocol.client import RecordedStream
from harness.protocol.events import (
    event_problem,
    items_page_problem,
    thread_problem,
    threads_page_problem,
)
from harness.registry import MUST, SHOULD, check
from harness.report.results import blocked, fail

REF_SERVER = "openai-chatkit 1.6.5 chatkit/server.py"
REF_TYPES = "openai-chatkit 1.6.5 chatkit/types.py"


def _turns(conv: Conversation) -> list[RecordedStream]:
    """Both turns, each known to have completed (else blocked by its own check)."""
    first = needs_stream(conv.first, CREATE, "threads.create")
    second = needs_stream(conv.second, SECOND_TURN, "threads.add_user_message")
    return [first, second]


@check(
    id="protocol.framing",
    title="Streams are well-formed SSE: complete 'data:' events holding JSON objects",
    level=MUST,
    pitfall="A hand-written stream forgets the blank line after an event, breaks UTF-8, or "
    "sends non-JSON data; the ChatKit client drops or misreads events.",
    fix="Frame every event as b'data: ' + json + b'\\n\\n' (what ChatKitServer.process "
    "yields); do not wrap or re-chunk the SDK's bytes.",
    ref=f"{REF_SERVER} _process_streaming; WHATWG HTML §9.2 event stream",
    probes=["conversation"],
)
def test_framing(evidence) -> None:
    for rec in _turns(evidence["conversation"]):
        problems = []
        if rec.framing.unterminated is not None:
            problems.append(f"unterminated last event: {rec.framing.unterminated[:120]!r}")
        if rec.framing.invalid_utf8:
            problems.append("the body is not valid UTF-8")
        bad = [e for e in rec.events if e.error]
        if bad:
            problems.append(f"{len(bad)} events without a JSON object, first: {bad[0].error}")
        if problems:
            fail(
                f"{rec.request_type} stream is not well-formed",
                expected="every event 'data: {json}' followed by a blank line",
                actual="; ".join(problems),
                evidence=evidence_of(rec),
            )


@check(
    id="protocol.event-schema",
    title="Every streamed event is a valid ChatKit ThreadStreamEvent",
    level=MUST,
    pitfall="Projects built from blog posts emit invented events (e.g. thread.message.delta) "
    "or misshaped items; the client ignores them or fails to render.",
    fix="Yield only chatkit.types events (or let stream_agent_response produce them).",
    ref=f"{REF_TYPES} ThreadStreamEvent",
    probes=["conversation"],
)
def test_event_schema(evidence) -> None:
    for rec in _turns(evidence["conversation"]):
        for i, payload in enumerate(rec.payloads):
            problem = event_problem(payload)
            if problem:
                fail(
                    f"event #{i} of {rec.request_type} is not a ChatKit event",
                    expected="a ThreadStreamEvent (thread.created, thread.item.*, ...)",
                    actual=f"type {payload.get('type')!r}: {problem}",
                    evidence=evidence_of(rec),
                )


@check(
    id="protocol.create-order",
    title="threads.create starts with thread.created, then the stored user message",
    level=MUST,
    pitfall="A backend that streams the reply before announcing the thread leaves the client "
    "without a thread id; later turns then start new threads.",
    fix="Let ChatKitServer.process drive threads.create; do not emit events before it.",
    ref=f"{REF_SERVER} _process_streaming_impl (threads.create)",
    probes=["first-turn"],
)
def test_create_order(evidence) -> None:
    rec = stream_ok(evidence["first-turn"], "threads.create")
    types = [p.get("type") for p in rec.payloads]
    if types[:1] != ["thread.created"]:
        fail(
            "threads.create did not start with thread.created",
            expected="thread.created, thread.item.done (user_message), ...",
            actual=", ".join(map(str, types[:5])),
            evidence=evidence_of(rec),
        )
    done = [p["item"] for p in rec.of_type("thread.item.done") if isinstance(p.get("item"), dict)]
    user = [i for i in done if i.get("type") == "user_message"]
    texts = [c.get("text") for i in user for c in i.get("content", []) if isinstance(c, dict)]
    if not user or FIRST_MESSAGE not in texts or types.index("thread.item.done") != 1:
        fail(
            "the user message was not echoed as the first stored item",
            expected=f"thread.item.done user_message {FIRST_MESSAGE!r} right after thread.created",
            actual=", ".join(map(str, types[:5])),
            evidence=evidence_of(rec),
        )
    if not any(i.get("type") == "assistant_message" for i in done):
        fail(
            "no assistant message was finished in the stream",
            expected="a thread.item.done with an assistant_message",
            actual=", ".join(map(str, types)),
            evidence=evidence_of(rec),
        )


@check(
    id="protocol.item-lifecycle",
    title="Assistant items are added, updated, and done exactly once; deltas add up to the text",
    level=MUST,
    pitfall="Lost or duplicated deltas show garbled text while streaming and a different text "
    "after reload.",
    fix="Emit thread.item.added, content_part.added, text deltas, content_part.done and one "
    "thread.item.done per item (stream_agent_response does).",
    ref=f"{REF_TYPES} ThreadItemUpdate; chatkit/agents.py stream_agent_response",
    probes=["conversation"],
)
def test_item_lifecycle(evidence) -> None:
    for rec in _turns(evidence["conversation"]):
        _shapes_ok(rec)
        added = {p["item"]["id"]: p for p in rec.of_type("thread.item.added")}
        done_counts = Counter(p["item"]["id"] for p in rec.of_type("thread.item.done"))
        for item_id, ev in added.items():
            if ev["item"].get("type") != "assistant_message":
                continue
            if done_counts[item_id] != 1:
                late = _deltas_after_done(rec, item_id)
                fail(
                    f"assistant item {item_id} finished {done_counts[item_id]} times",
                    expected="exactly one thread.item.done per item, after its last text delta",
                    actual=f"{done_counts[item_id]} thread.item.done events for {item_id}"
                    + (f"; {late} of its text deltas came after the first one" if late else ""),
                    evidence=evidence_of(rec),
                    fix="Send thread.item.done once per item, when it is complete: the "
                    "streaming text goes in thread.item.updated text deltas (a hand-written "
                    "converter must not finish the item per chunk); stream_agent_response "
                    "does this.",
                )
            updates = [
                p["update"]
                for p in rec.of_type("thread.item.updated")
                if p.get("item_id") == item_id
            ]
            kinds = [u.get("type", "") for u in updates]
            deltas = "".join(
                u.get("delta", "")
                for u in updates
                if u.get("type") == "assistant_message.content_part.text_delta"
            )
            final = next(
                p["item"] for p in rec.of_type("thread.item.done") if p["item"]["id"] == item_id
            )
            text = "".join(c.get("text", "") for c in final.get("content", []))
            if deltas and deltas != text:
                fail(
                    f"the deltas of {item_id} do not add up to its final text",
                    expected=repr(text[:200]),
                    actual=repr(deltas[:200]),
                    evidence=evidence_of(rec),
                )
            if deltas and (
                "assistant_message.content_part.added" not in kinds
                or "assistant_message.content_part.done" not in kinds
            ):
                fail(
                    f"{item_id}: text deltas without content_part.added/done",
                    expected="content_part.added, text_delta..., content_part.done",
                    actual=", ".join(sorted(set(kinds))),
                    evidence=evidence_of(rec),
                )
        orphans = [i for i in done_counts if i not in added]
        assistant_orphans = [
            p["item"]["id"]
            for p in rec.of_type("thread.item.done")
            if p["item"]["id"] in orphans and p["item"].get("type") == "assistant_message"
        ]
        if assistant_orphans and any(rec.of_type("thread.item.updated")):
            fail(
                "an assistant item was updated and finished without being added",
                expected="thread.item.added before updates",
                actual=f"no thread.item.added for {assistant_orphans[0]}",
                evidence=evidence_of(rec),
            )


@check(
    id="protocol.unique-item-ids",
    title="Item ids are unique within a turn and across turns",
    level=MUST,
    pitfall="The Agents SDK's Chat Completions path gives every message the id '__fake_id__' "
    "(chatkit-python #36): messages overwrite each other in the store and the UI.",
    fix="Generate item ids in your store (store.generate_item_id) and replace model-supplied "
    "placeholder ids before they are saved.",
    ref="openai/chatkit-python#36; openai-agents chatcmpl_stream_handler FAKE_RESPONSES_ID",
    probes=["conversation"],
)
def test_unique_item_ids(evidence) -> None:
    seen: Counter[str] = Counter()
    for rec in _turns(evidence["conversation"]):
        _shapes_ok(rec)
        seen.update(_item_ids(rec))
    dupes = [i for i, n in seen.items() if n > 1]
    if dupes:
        fail(
            "item ids repeat",
            expected="every item (each thread.item.added, or a done without one) with its own id",
            actual=f"{dupes[0]!r} used for {seen[dupes[0]]} items",
        )


TEXT_DELTA = "assistant_message.content_part.text_delta"


def _deltas_after_done(rec: RecordedStream, item_id: str) -> int:
    """How many of the item's text deltas the stream sent after its first thread.item.done."""
    done, late = False, 0
    for p in rec.payloads:
        if p.get("type") == "thread.item.done" and p["item"]["id"] == item_id:
            done = True
        elif done and p.get("type") == "thread.item.updated" and p.get("item_id") == item_id:
            update = p.get("update")
            if isinstance(update, dict) and update.get("type") == TEXT_DELTA:
                late += 1
    return late


def _item_ids(rec: RecordedStream) -> list[str]:
    """One id per item the stream carried: each thread.item.added starts an item, and an item
    only ever sent as done (the user message) is one item however often it was sent. An item
    finished twice is one item finished twice: protocol.item-lifecycle judges that."""
    added = [p["item"]["id"] for p in rec.of_type("thread.item.added")]
    done_only = dict.fromkeys(
        i for i in (p["item"]["id"] for p in rec.of_type("thread.item.done")) if i not in added
    )
    return added + list(done_only)


@check(
    id="protocol.add-user-message",
    title="A second turn streams on the same thread without a new thread.created",
    level=MUST,
    pitfall="Each message starts a new thread, so the conversation never continues.",
    fix="Handle threads.add_user_message by loading the thread (ChatKitServer does).",
    ref=f"{REF_SERVER} threads.add_user_message",
    probes=["conversation"],
)
def test_add_user_message(evidence) -> None:
    conversation: Conversation = evidence["conversation"]
    needs_thread(conversation.first)
    rec = conversation.second
    assert rec is not None  # sent whenever the first turn named its thread
    stream_ok(rec, "threads.add_user_message")
    if rec.of_type("thread.created"):
        fail(
            "threads.add_user_message announced a new thread",
            expected="no thread.created",
            actual="thread.created in the stream",
            evidence=evidence_of(rec),
        )
    users = [
        p["item"]
        for p in rec.of_type("thread.item.done")
        if p["item"].get("type") == "user_message"
    ]
    if not users or users[0].get("thread_id") != conversation.thread_id:
        fail(
            "the second user message was not stored on the same thread",
            expected=f"user_message with thread_id {conversation.thread_id}",
            actual=str(users[0].get("thread_id") if users else "no user_message item"),
            evidence=evidence_of(rec),
        )
    if not rec.assistant_text:
        fail("the second turn has no assistant reply", evidence=evidence_of(rec))


@check(
    id="protocol.get-thread",
    title="threads.get_by_id returns the thread with its items",
    level=MUST,
    pitfall="Reopening a conversation (initialThread, history panel) fails or shows it empty.",
    fix="Implement Store.load_thread and load_thread_items for the requesting user.",
    ref=f"{REF_SERVER} threads.get_by_id",
    probes=["conversation", "thread-reads", "rename"],
)
def test_get_thread(evidence) -> None:
    _turns(evidence["conversation"])
    reads: ThreadReads = evidence["thread-reads"]
    rename: Rename = evidence["rename"]
    tid = reads.thread_id
    assert reads.get is not None  # read whenever both turns completed
    data = json_ok(reads.get, "threads.get_by_id")
    problem = thread_problem(data)
    if problem or data.get("id") != tid or not data.get("items", {}).get("data"):
        fail(
            "threads.get_by_id did not return the thread",
            expected=f"a Thread with id {tid} and its items",
            actual=problem
            or f"id {data.get('id')!r}, {len(data.get('items', {}).get('data', []))} items",
            evidence=evidence_of(reads.get),
        )
    if rename.get is not None and rename.update is not None and rename.update.status == 200:
        # Reopening a renamed conversation is the same request; some stores break on it.
        renamed = json_ok(rename.get, "threads.get_by_id of a renamed thread")
        if renamed.get("id") != rename.created.thread_id:
            fail(
                "threads.get_by_id did not return the renamed thread",
                expected=f"a Thread with id {rename.created.thread_id}",
                actual=f"id {renamed.get('id')!r}",
                evidence=evidence_of(rename.get),
            )


@check(
    id="protocol.list-items",
    title="items.list returns exactly the items the streams finished, in order",
    level=MUST,
    pitfall="History shown after a reload differs from what streamed: items lost, duplicated "
    "or out of order (often a store that orders by an 8-hex random id).",
    fix="Persist every thread.item.done; order items by creation time with a stable tiebreak.",
    ref=f"{REF_SERVER} items.list; chatkit/store.py load_thread_items",
    probes=["conversation"],
)
def test_list_items(evidence) -> None:
    conversation: Conversation = evidence["conversation"]
    streams = _turns(conversation)
    for rec in streams:
        _shapes_ok(rec)
    resp = conversation.items
    assert resp is not None  # read whenever both turns completed
    data = json_ok(resp, "items.list")
    problem = items_page_problem(data)
    if problem:
        fail(
            "items.list did not return a page of items", actual=problem, evidence=evidence_of(resp)
        )
    stored = [i["id"] for i in data["data"]]
    streamed = done_ids(*streams)
    if stored != streamed:
        waited = f" (after waiting up to {conversation_settle(conversation)})"
        fail(
            "the stored items differ from the streamed ones" + waited,
            expected=" ".join(streamed),
            actual=" ".join(stored),
            evidence=evidence_of(resp),
        )
    texts = [
        c.get("text")
        for i in data["data"]
        if i.get("type") == "user_message"
        for c in i.get("content", [])
    ]
    if texts[:2] != [FIRST_MESSAGE, SECOND_MESSAGE]:
        fail(
            "the user messages are not stored in order",
            expected=f"{FIRST_MESSAGE!r}, {SECOND_MESSAGE!r}",
            actual=", ".join(map(repr, texts)),
        )


def conversation_settle(conv: Conversation) -> str:
    return "the --settle time" if conv.lag is None else f"{conv.lag:.2f} s"


@check(
    id="protocol.read-your-writes",
    title="Items a stream finished are in items.list as soon as the stream has ended",
    level=SHOULD,
    pitfall="The store writes in the background (a queue, a task after the response): a "
    "client that reloads the thread right after a reply, or the next turn's history load, "
    "misses the newest items for a moment.",
    fix="Await the store writes inside respond() (ChatKitServer stores each thread.item.done "
    "before it yields it); do not hand them to a background task or queue.",
    ref=f"{REF_SERVER} _process_events (store.add_thread_item before yielding)",
    probes=["conversation"],
)
def test_read_your_writes(evidence) -> None:
    conversation: Conversation = evidence["conversation"]
    _turns(conversation)
    if conversation.lag is None:
        blocked(LIST_ITEMS, "items.list never showed the streamed items")
    if conversation.lag > 0:
        first = conversation.items_first
        assert first is not None
        fail(
            f"the streamed items appeared in items.list only {conversation.lag * 1000:.0f} ms "
            "after the stream ended",
            expected="every finished item stored before the stream ends",
            actual=f"right after the stream: {len(page_ids(first))} items "
            f"({' '.join(page_ids(first)) or 'none'}); settled: "
            f"{len(page_ids(conversation.items))} items",
            evidence=evidence_of(first),
        )


@check(
    id="protocol.list-threads",
    title="threads.list shows the user's thread",
    level=MUST,
    pitfall="The history panel stays empty although conversations exist.",
    fix="Implement Store.load_threads scoped to the requesting user.",
    ref=f"{REF_SERVER} threads.list",
    probes=["conversation", "thread-reads"],
)
def test_list_threads(evidence) -> None:
    _turns(evidence["conversation"])
    reads: ThreadReads = evidence["thread-reads"]
    tid = reads.thread_id
    assert reads.listed is not None
    data = json_ok(reads.listed, "threads.list")
    problem = threads_page_problem(data)
    ids = page_ids(reads.listed)
    if problem or tid not in ids:
        fail(
            "threads.list does not show the thread just created",
            expected=f"a page containing {tid}",
            actual=problem or f"{len(ids)} threads: {ids[:5]}",
            evidence=evidence_of(reads.listed),
        )


@check(
    id="protocol.update-title",
    title="threads.update renames the thread and the new title is stored",
    level=MUST,
    pitfall="Renaming in the history panel seems to work but the old title comes back.",
    fix="Save the thread in threads.update (Store.save_thread) for the requesting user.",
    ref=f"{REF_SERVER} threads.update",
    probes=["rename"],
)
def test_update_title(evidence) -> None:
    rename: Rename = evidence["rename"]
    needs_thread(rename.created)
    assert rename.update is not None
    json_ok(rename.update, "threads.update")
    # Read back through threads.get_by_id, or through threads.list where get_by_id is broken
    # (protocol.get-thread judges that): the rename is what this check is about.
    get = rename.get
    if get is not None and get.status == 200 and isinstance(get.json, dict):
        stored, where = get.json.get("title"), "threads.get_by_id"
    else:
        stored, where = rename.title_in_list(), "threads.list"
    if stored != rename.title:
        shown = get if where == "threads.get_by_id" else rename.listed or get
        fail(
            "the new title was not stored",
            expected=repr(rename.title),
            actual=f"{stored!r} (read back through {where})",
            evidence=evidence_of(shown) if shown is not None else "",
        )


@check(
    id="protocol.delete-thread",
    title="threads.delete removes the thread; reading it afterwards is a 4xx",
    level=MUST,
    pitfall="Deleted conversations come back (or their items linger in the store).",
    fix="Delete the thread and its items in Store.delete_thread; answer a missing thread with 404.",
    ref=f"{REF_SERVER} threads.delete",
    probes=["delete"],
)
def test_delete_thread(evidence) -> None:
    deletion: Deletion = evidence["delete"]
    tid = needs_thread(deletion.created)
    assert deletion.delete is not None and deletion.get_after is not None
    json_ok(deletion.delete, "threads.delete")
    status_4xx(deletion.get_after, "threads.get_by_id after delete")
    if deletion.listed_after is not None:
        json_ok(deletion.listed_after, "threads.list")
        if tid in page_ids(deletion.listed_after):
            fail(
                "the deleted thread is still listed", expected=f"{tid} gone", actual="still listed"
            )


@check(
    id="protocol.json-content-type",
    title="Non-streaming responses are application/json",
    level=SHOULD,
    pitfall="A JSON answer labelled text/plain or text/event-stream confuses proxies and clients.",
    fix="Return NonStreamingResult.json with media_type='application/json'.",
    ref=f"{REF_SERVER} NonStreamingResult",
    probes=["thread-reads"],
)
def test_json_content_type(evidence) -> None:
    resp = evidence["thread-reads"].small_list
    json_ok(resp, "threads.list")
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        fail(
            "threads.list is not labelled as JSON",
            expected="Content-Type: application/json",
            actual=f"Content-Type: {resp.header('content-type')}",
            evidence=evidence_of(resp),
        )


def _shapes_ok(rec: RecordedStream) -> None:
    bad = shape_problem(rec)
    if bad:
        fail(
            f"{rec.request_type} carries a thread item event of the wrong shape",
            expected="thread.item.added/done with an item object and a string id; "
            "thread.item.updated with an item_id and an update object",
            actual=bad,
            evidence=evidence_of(rec),
        )
