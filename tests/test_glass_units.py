"""Glass-box building blocks on synthetic recordings: no server, no subprocess, fast.

What the model was given (model_input), whether the model's schedule survived (pacing), and
how glass-box mode is configured (target, plugin, CLI).
"""

from __future__ import annotations

import argparse

import pytest

from harness.glass.model_input import (
    Turn,
    history_outline,
    history_problem,
    missing_context,
    secret_leaks,
)
from harness.glass.model_stub import RecordedModelRequest, tokenize
from harness.glass.pacing import compare
from harness.plugin import TARGET_OPTIONS, TARGET_SWITCHES, option_extra
from harness.target.config import ConfigError, load_target

T1 = Turn("Turn 1, marker canary-t1.\nSecond line.", "Reply one: canary-t1 noted.", "canary-t1")
T2 = Turn("Turn 2, marker canary-t2.\nSecond line.", "Reply two, it's fine.", "canary-t2")
T3 = Turn("Turn 3, marker canary-t3.\nSecond line.", "", "canary-t3")
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def request(
    instructions: str | None, *messages: tuple[str, str], body: object = None
) -> RecordedModelRequest:
    msgs = [{"role": role, "text": text} for role, text in messages]
    return RecordedModelRequest(
        0, "POST", "/v1/responses", instructions=instructions, messages=msgs, body=body
    )


# -- history ------------------------------------------------------------------------------


def test_history_as_input_messages_passes() -> None:
    req = request("Be brief.", ("user", T1.user), ("assistant", T1.reply), ("user", T2.user),
                  ("assistant", T2.reply), ("user", T3.user))  # fmt: skip
    assert history_problem(req, [T1, T2, T3]) is None
    assert history_problem(request("x", ("user", T1.user)), [T1]) is None


def test_assistant_replies_match_across_whitespace_and_parts() -> None:
    # Deployments may store the reply with other whitespace, or as several parts.
    req = request(None, ("user", T1.user), ("assistant", "Reply one:\ncanary-t1  noted."),
                  ("user", T2.user))  # fmt: skip
    assert history_problem(req, [T1, T2]) is None


def test_history_as_plain_text_in_instructions_passes() -> None:
    # The seed's "history as string in the system prompt", done with the messages' text.
    history = f"user: {T1.user}\nassistant: {T1.reply}\nuser: {T2.user}\nassistant: {T2.reply}"
    req = request(f"{history}\nBe brief.", ("user", T3.user))
    assert history_problem(req, [T1, T2, T3]) is None


def test_new_message_sent_twice_fails() -> None:
    req = request(None, ("user", T1.user), ("assistant", T1.reply), ("user", T2.user),
                  ("user", T2.user))  # fmt: skip
    assert history_problem(req, [T1, T2]) == "the new message (turn 2) reached the model 2 times"
    first_turn = request(None, ("user", T1.user), ("user", T1.user))
    assert "turn 1) reached the model 2 times" in str(history_problem(first_turn, [T1]))


def test_missing_history_fails() -> None:
    problem = history_problem(request("Be brief.", ("user", T2.user)), [T1, T2])
    assert problem == "turn 1's message is missing from turn 2's model input"


def test_history_of_object_reprs_fails_and_shows_the_repr() -> None:
    # What f"{item.type}: {item.content}" gives: the text inside a repr, newline escaped.
    reprs = f"user_message: [UserMessageTextContent(type='input_text', text={T1.user!r})]"
    req = request(f"Be brief.\n{reprs}", ("user", T2.user))
    problem = str(history_problem(req, [T1, T2]))
    assert problem.startswith("turn 1's message is missing from turn 2's model input")
    assert "marker appears in the instructions" in problem
    assert "UserMessageTextContent" in problem


def test_missing_or_replaced_reply_fails() -> None:
    no_reply = request(None, ("user", T1.user), ("user", T2.user))
    assert (
        history_problem(no_reply, [T1, T2]) == "turn 1's reply is missing from turn 2's model input"
    )
    # __fake_id__: turn 2's reply overwrote turn 1's in the store.
    replaced = request(None, ("user", T1.user), ("assistant", T2.reply), ("user", T2.user),
                       ("user", T3.user))  # fmt: skip
    assert history_problem(replaced, [T1, T2, T3]) == (
        "turn 1's reply is missing from turn 3's model input"
    )


def test_out_of_order_history_fails() -> None:
    req = request(None, ("user", T2.user), ("assistant", T2.reply), ("user", T1.user),
                  ("assistant", T1.reply), ("user", T3.user))  # fmt: skip
    problem = str(history_problem(req, [T1, T2, T3]))
    assert problem.startswith("turn 3's input messages are out of order: message 2, reply 2")


def test_unknown_assistant_message_is_out_of_order() -> None:
    req = request(None, ("user", T1.user), ("assistant", T1.reply), ("assistant", "invented"),
                  ("user", T2.user))  # fmt: skip
    assert "an unknown reply" in str(history_problem(req, [T1, T2]))


def test_outline_names_each_turn() -> None:
    req = request("Be brief.", ("user", T1.user), ("assistant", T1.reply), ("user", T2.user))
    outline = history_outline(req, [T1, T2])
    assert "message 1 (user): message 1 |" in outline
    assert "message 2 (assistant): reply 1 |" in outline
    assert "the instructions: - |" in outline


# -- context and secrets ------------------------------------------------------------------


def test_context_found_in_instructions_or_messages() -> None:
    req = request("User: Ann canary-name", ("user", "Page canary-title here"))
    assert missing_context(req, ["Ann canary-name", "Page canary-title"]) == []
    assert missing_context(request("nothing", ("user", "hi")), ["Ann"]) == ["Ann"]
    # Only echoed back in an earlier reply: the model was not told this turn.
    echoed = request("User: unknown", ("user", "hi"), ("assistant", "User: Ann"), ("user", "?"))
    assert missing_context(echoed, ["Ann"]) == ["Ann"]


def test_known_token_in_instructions_is_found_and_redacted() -> None:
    token = "opaque-session-token-0123456789"
    req = request(f"Be brief.\nAccess Token: {token}\nmore", ("user", "hi"))
    [leak] = secret_leaks(req, {"the test user's access token": token})
    assert (leak.what, leak.where) == ("the test user's access token", "the instructions, line 2")
    assert token not in leak.excerpt and "Access Token: ***" in leak.excerpt


def test_any_jwt_or_bearer_token_is_found_in_messages_and_other_fields() -> None:
    req = request(None, ("user", f"my token is {JWT}"), body={"tools": [{"headers": {
        "Authorization": "Bearer abcdefgh12345678"}}], "input": "ignored"})  # fmt: skip
    leaks = secret_leaks(req, {})
    assert [(leak.what, leak.where) for leak in leaks] == [
        ("a JWT", "message 1 (user)"),
        ("a bearer token", "request field 'tools'"),
    ]
    assert all(JWT not in leak.excerpt and "abcdefgh12345678" not in leak.excerpt for leak in leaks)


def test_clean_request_has_no_leaks() -> None:
    req = request("Be brief. User: Ann (id alice)", ("user", "hello"), body={"model": "m"})
    assert secret_leaks(req, {"the test user's access token": "not-in-there-123"}) == []


# -- pacing -------------------------------------------------------------------------------

REPLY = "Instructions: be brief. History: [one] [two]. You said: two, and that is all for now."


def schedule(gap: float, start: float = 100.0) -> tuple[list[str], list[float]]:
    tokens = tokenize(REPLY)
    return tokens, [start + i * gap for i in range(len(tokens))]


def test_stream_on_the_models_schedule_passes() -> None:
    tokens, sends = schedule(0.03)
    # Each delta 2 ms behind its send, every fifth one 10 ms more (a busy machine).
    arrivals = [
        (t + 0.002 + (0.01 if i % 5 == 0 else 0), tok)
        for i, (t, tok) in enumerate(zip(sends, tokens, strict=True))
    ]
    result = compare(sends, tokens, arrivals)
    assert result.judgeable and not result.held_back, result.describe()
    assert result.received == result.sent == len(tokens)


def test_merged_deltas_still_track_the_schedule() -> None:
    # A deployment that forwards two tokens per delta, each as soon as the second arrives.
    tokens, sends = schedule(0.03)
    pairs = [(sends[min(i + 1, len(sends) - 1)] + 0.003, "".join(tokens[i : i + 2]))
             for i in range(0, len(tokens), 2)]  # fmt: skip
    result = compare(sends, tokens, pairs)
    assert not result.held_back, result.describe()


def test_stream_delivered_at_the_end_is_held_back() -> None:
    tokens, sends = schedule(0.03)
    arrivals = [(sends[-1] + 0.01, tok) for tok in tokens]
    result = compare(sends, tokens, arrivals)
    assert result.judgeable and result.held_back
    assert "a median" in result.describe() and "behind the model's schedule" in result.describe()


def test_stalled_first_token_is_held_back() -> None:
    tokens, sends = schedule(0.03)
    arrivals = [(sends[-1] + 1.5 + i * 0.0005, tok) for i, tok in enumerate(tokens)]
    assert compare(sends, tokens, arrivals).held_back


def test_rewritten_text_is_paired_by_share_of_text() -> None:
    tokens, sends = schedule(0.03)
    upper = [(t + 0.002, tok.upper()) for t, tok in zip(sends, tokens, strict=True)]
    assert not compare(sends, tokens, upper).held_back
    at_end = [(sends[-1], tok.upper()) for tok in tokens]
    assert compare(sends, tokens, at_end).held_back


def test_nothing_received_or_too_short() -> None:
    tokens, sends = schedule(0.03)
    assert compare(sends, tokens, []).held_back
    short_tokens, short_sends = tokens[:3], sends[:3]
    assert not compare(short_sends, short_tokens, []).judgeable


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("off", False)])
def test_model_stub_switch_values(value: str, expected: bool) -> None:
    assert load_target({"model_stub": value}, env={}).model_stub is expected


def test_model_stub_from_environment() -> None:
    target = load_target({}, env={"CHATKIT_MODEL_STUB": "yes"})
    assert target.model_stub and target.glass_box


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"model_stub": "maybe"}, "model-stub must be true or false"),
        ({"model_stub": "1", "url": "http://127.0.0.1:9/chatkit"}, "needs a target the harness"),
        ({"model_stub_url": "127.0.0.1:9"}, r"is not an http\(s\) URL"),
        ({"model_stub_url": "http://127.0.0.1:9/v1", "model_stub": "1"}, "not both"),
    ],
)
def test_bad_glass_box_settings(flags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_target(flags, env={})


def test_model_stub_with_start_or_a_stub_url_is_fine() -> None:
    url = "http://127.0.0.1:9/chatkit"
    assert load_target({"model_stub": "1", "url": url, "start_command": "x"}, env={}).glass_box
    assert load_target({"model_stub_url": "http://127.0.0.1:9/v1", "url": url}, env={}).glass_box


def test_cli_takes_model_stub_as_a_bare_switch() -> None:
    from harness.cli import build_parser

    ns = build_parser().parse_args(["run", "--model-stub", "--model-stub-url", "http://x/v1"])
    assert (ns.model_stub, ns.model_stub_url) == ("true", "http://x/v1")
    assert build_parser().parse_args(["run"]).model_stub is None
    assert set(TARGET_SWITCHES) <= set(TARGET_OPTIONS)
    parser = argparse.ArgumentParser()
    parser.add_argument("--chatkit-model-stub", **option_extra("model-stub"))
    assert parser.parse_args(["--chatkit-model-stub"]).chatkit_model_stub == "true"
    assert parser.parse_args(["--chatkit-model-stub", "true"]).chatkit_model_stub == "true"


# -- the stub handle ----------------------------------------------------------------------


def test_checks_are_untestable_without_a_stub(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.engine import hints
    from scenarios.test_glass import _ready

    # The options as the interface spells them: plain pytest's, then the CLI's.
    pattern = r"pass --chatkit-model-stub .* or --chatkit-model-stub-url"
    with pytest.raises(pytest.skip.Exception, match=pattern):
        _ready(None)
    monkeypatch.setattr(hints, "_current", hints.CLI)
    with pytest.raises(pytest.skip.Exception, match=r"pass --model-stub .* or --model-stub-url"):
        _ready(None)


def test_glass_box_marks_calls_and_schedule_in_process_and_over_http() -> None:
    import httpx

    from harness.glass.box import GlassBox, StubUnreachable

    local = GlassBox.start(token_delay=0.001)
    try:
        remote = GlassBox.connect(local.base_url)  # the same stub, read over /_stub
        assert local.mark() == remote.mark() == 0
        body = {"model": "any", "input": "hello canary-unit"}
        httpx.post(f"{local.base_url}/responses", json=body, timeout=5).raise_for_status()
        httpx.get(f"{local.base_url}/models", timeout=5)  # not a model call: not counted
        for box in (local, remote):
            [call] = box.calls(0)
            assert call.messages == [{"role": "user", "text": "hello canary-unit"}]
            assert box.calls(box.mark()) == []
            with box.schedule(0.05, first_token_delay=0.1):
                assert box.delays() == (0.1, 0.05)
            assert box.delays() == (0.0, 0.001)
    finally:
        local.stop()
    with pytest.raises(StubUnreachable, match="no model stub answers at"):
        GlassBox.connect(local.base_url)
