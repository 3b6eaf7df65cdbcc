"""The judgments of the browser checks over recorded evidence, without a browser: what a render
added, the current turn's reply only, errors in the chat only, and what an endpoint needs."""

from __future__ import annotations

from harness.browser.probes import AuthProbe, credential_headers
from harness.browser.recorder import NetRequest
from harness.protocol.client import JsonResponse
from scenarios.test_browser import _prefix_shown, _says_error, inserted, turn_progress

# Two replies of a model that forgets (or of any model asked similar things): the second
# shares most of its words with the first, which is still on screen while it streams.
REPLY_1 = "History: (none). User: Alice (id alice). Page: Lessons | /lesson . You said: Hello"
REPLY_2 = "History: (none). User: Alice (id alice). Page: Lessons | /lesson . You said: Again"
COMPOSER = "\nSend"


def test_inserted_is_what_a_change_added() -> None:
    assert inserted("ab" + COMPOSER, "ab" + "NEW" + COMPOSER) == "NEW"
    assert inserted("same", "same") == ""
    assert inserted("", "all new") == "all new"
    # A message appended whose end looks like the text after it is still returned whole.
    assert inserted("x\nSend", "x\nhi.\nSend") == "hi.\n"
    assert inserted("Loading chat…", "Chat error: User must be logged in") == (
        "Chat error: User must be logged in"
    )


def test_the_second_reply_is_judged_only_by_what_this_turn_rendered() -> None:
    before = f"Hello{REPLY_1}{COMPOSER}"
    words = REPLY_2.split(" ")
    renders = [(0, before)]
    for n in range(1, len(words) + 1):
        renders.append(
            (n * 10, before[: -len(COMPOSER)] + "Again" + " ".join(words[:n]) + COMPOSER)
        )
    # The old way found most of the second reply on screen before it had even started.
    assert _prefix_shown(REPLY_2, before) > len(REPLY_2) // 2
    progress = turn_progress(REPLY_2, renders)
    assert progress[0] == 0 and progress[1] == len("History:")
    assert progress == sorted(progress) and progress[-1] == len(REPLY_2)
    assert len({n for n in progress if 0 < n < len(REPLY_2)}) == len(words) - 1


def test_a_reply_that_never_arrives_shows_nothing_even_if_the_last_one_matches() -> None:
    before = f"Hello{REPLY_1}{COMPOSER}"
    renders = [(0, before), (10, before[: -len(COMPOSER)] + "Again" + COMPOSER)]
    assert turn_progress(REPLY_1, renders) == [0, 0]


def test_only_new_text_in_the_chat_says_error() -> None:
    page = "Robotics Course · Sign In\nEvery sensor read can fail. An error must not stop..."
    assert _says_error(page)  # which is why page text is never looked at whole
    assert not _says_error(inserted(page, page))
    assert _says_error(inserted(page, page + "\nError: User must be logged in"))
    assert _says_error("Sign in to chat.")
    assert not _says_error("Hello from the chatkit-harness browser check.")


def answer(status: int) -> JsonResponse:
    return JsonResponse("threads.list", b"", {}, "http://h/chatkit", status=status)


def test_auth_probe_says_what_the_endpoint_needs() -> None:
    page = {"authorization": "Bearer t", "x-user-id": "alice"}
    probe = AuthProbe("http://h/chatkit", page, anonymous=answer(401), with_page=answer(200))
    probe.without = {"authorization": answer(401), "x-user-id": answer(200)}
    assert not probe.needs_nothing and probe.conclusive
    assert probe.required == ["authorization"]
    # -H or --user-headers-a: a header the backend refuses to do without, the page sent.
    probe.without = {"authorization": answer(200), "x-user-id": answer(400)}
    assert probe.required == ["x-user-id"]
    open_backend = AuthProbe("http://h/chatkit", page, anonymous=answer(200))
    assert open_backend.needs_nothing and open_backend.required == []


def test_auth_probe_names_what_the_page_lacked() -> None:
    probe = AuthProbe(
        "http://h/chatkit",
        {"x-user-id": "alice"},
        anonymous=answer(401),
        with_page=answer(401),
        with_identity=answer(200),
        identity_headers={"Authorization": "Bearer t", "X-User-ID": "alice"},
    )
    assert probe.missing == ["Authorization"]
    assert probe.required == []  # the page's own headers never worked: nothing to leave out
    # threads.list not offered at all: the probe says nothing about auth.
    unknown = AuthProbe("http://h/chatkit", {}, anonymous=answer(404), with_page=answer(404))
    assert not unknown.conclusive and not unknown.needs_nothing


def test_credential_headers_leave_out_what_every_browser_sends() -> None:
    headers = {
        "accept": "text/event-stream",
        "content-type": "application/json",
        "origin": "http://127.0.0.1:5",
        "referer": "http://127.0.0.1:5/",
        "user-agent": "Chromium",
        "sec-ch-ua": '"Chromium"',
        "authorization": "Bearer t",
        "cookie": "auth_token=t",
        "x-page-path": "/lesson",
    }
    req = NetRequest("http://h/chatkit", "POST", "fetch", headers, "{}")
    assert credential_headers(req) == {
        "authorization": "Bearer t",
        "cookie": "auth_token=t",
        "x-page-path": "/lesson",
    }


def sse(*events: dict[str, object]) -> bytes:
    import json

    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


def delta(text: str) -> dict[str, object]:
    return {
        "type": "thread.item.updated",
        "item_id": "m1",
        "update": {"type": "assistant_message.content_part.text_delta", "delta": text},
    }


def test_text_steps_say_what_reached_the_browser_when() -> None:
    head = sse({"type": "thread.created", "thread": {"id": "t"}})
    parts = [sse(delta("Hel")), sse(delta("lo ")), sse(delta("there"))]
    tail = sse({"type": "thread.item.done", "item": {"id": "m1"}})
    body = head + b"".join(parts) + tail
    req = NetRequest("http://h/chatkit", "POST", "fetch", {}, "{}", response_body=body)
    assert req.text_steps() == []  # no arrival times: nothing to say
    sizes = [len(head), *map(len, parts), len(tail)]
    req.arrivals = [(i * 0.1, n) for i, n in enumerate(sizes)]
    assert req.text_steps() == [0, 3, 6, 11, 11]
    # Under load two deltas come in one chunk: one state fewer, and no page can show it.
    req.arrivals = [(0.0, sizes[0]), (0.1, sizes[1] + sizes[2]), (0.2, sizes[3] + sizes[4])]
    assert req.text_steps() == [0, 6, 11]
    # Held back by a buffer: everything in one piece.
    req.arrivals = [(0.0, len(body))]
    assert req.text_steps() == [11]
    # Chunks within 5 ms of each other are one moment.
    req.arrivals = [(0.0, sizes[0]), (0.001, sizes[1]), (0.5, sum(sizes[2:]))]
    assert len(req.arrival_bursts()) == 2


def test_no_element_reason_names_the_hint_or_the_click() -> None:
    from harness.browser.recorder import PageRecord
    from scenarios.test_browser import NO_ELEMENT, no_element_reason

    rec = PageRecord("http://h/", True, "standin")
    assert no_element_reason(rec) == NO_ELEMENT
    assert "pass --frontend-open SELECTOR" in NO_ELEMENT
    rec.opened = [("#menu", ""), ("#chat", "Timeout 10000ms exceeded.")]
    assert no_element_reason(rec) == (
        "the page rendered no <openai-chatkit>: clicking '#chat' failed (Timeout 10000ms exceeded.)"
    )
    rec.opened = [("#menu", ""), ("#chat", "")]
    assert no_element_reason(rec).endswith("even after clicking '#menu', then '#chat'")
