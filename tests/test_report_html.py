"""The HTML report without a browser: what it holds, what it never holds, and how it is built.

A hand-built run and exchange log (streams with planted secrets, a forged-token probe, a
blocked check, the model stub's send times) go in; the page must draw the streams, link the
blocked check to its root cause, show the probe's JOSE header but no token, and load nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from golden.sample import SECRET, sample_run

from harness.cli import main
from harness.protocol.client import JsonResponse, RecordedStream, StreamEvent
from harness.protocol.sse import SSEParser
from harness.report.artifacts import ExchangeLog
from harness.report.html import render_html, write_html
from harness.report.html.charts import inline_svg
from harness.report.html.view import build_report, jose_header
from harness.report.results import CheckResult, Outcome
from harness.report.timeline import ModelCall, Timeline, calls_during

TOKEN = "sk-html-TOKEN-5e1d"
HEADER = {"alg": "none", "typ": "JWT", "kid": "k-1"}
FORGED = (
    base64.urlsafe_b64encode(json.dumps(HEADER).encode()).rstrip(b"=").decode()
    + ".eyJzdWIiOiJhbGljZSJ9."
)
STARTED = 1000.0  # the client's monotonic clock when the stream was sent


def sse(*payloads: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads)


def delta(text: str) -> dict:
    return {
        "type": "thread.item.updated",
        "item_id": "m1",
        "update": {"type": "assistant_message.content_part.text_delta", "delta": text},
    }


def stream(
    chunks: list[tuple[float, bytes]],
    *,
    auth: str = f"Bearer {TOKEN}",
    status: int = 200,
    text: str = "hello",
    url: str = "http://127.0.0.1:1/chatkit",
    identity: str = "user A",
) -> RecordedStream:
    body = {"type": "threads.create", "params": {"input": {"content": [{"text": text}]}}}
    rec = RecordedStream(
        "threads.create",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": auth},
        url,
        status=status,
        headers=[("content-type", "text/event-stream")],
        ttfb=0.004,
        elapsed=max([0.05, *(t for t, _ in chunks)]) + 0.01,
    )
    rec.started, rec.identity = STARTED, identity
    parser = SSEParser()
    for t, data in chunks:
        rec.chunks.append((t, data))
        for ev in parser.feed(data, t):
            rec.events.append(StreamEvent(ev.t, ev, json.loads(ev.data)))
            rec.first_event = rec.first_event if rec.first_event is not None else ev.t
    return rec


def buffered() -> RecordedStream:
    """Every event in one chunk at the end: what a buffering proxy delivers."""
    events = [{"type": "thread.created"}, *(delta(f"w{i} ") for i in range(8))]
    return stream([(0.9, sse(*events))])


def streaming(url: str = "http://127.0.0.1:1/chatkit") -> RecordedStream:
    events = [{"type": "thread.created"}, *(delta(f"w{i} ") for i in range(8))]
    return stream([(0.05 + 0.1 * i, sse(e)) for i, e in enumerate(events)], url=url)


def result(check_id: str, outcome: Outcome, **fields: str) -> CheckResult:
    return CheckResult(
        id=check_id,
        title=f"title of {check_id}",
        area=check_id.split(".", 1)[0],
        level="MUST",
        outcome=outcome,
        duration=0.1,
        pitfall="p",
        fix="f",
        ref="r",
        **fields,
    )


@pytest.fixture
def fixture_run() -> tuple:
    log = ExchangeLog()
    run = sample_run()
    log.current = ("sse.unbuffered", "call")
    slow = buffered()
    log.record(slow)
    log.current = ("auth.alg-none", "call")
    refused = stream([(0.01, b'{"error":"unauthorized"}')], auth=f"Bearer {FORGED}", status=401)
    refused.identity = "alg 'none', empty signature"
    log.record(refused)
    log.current = ("latency.cold-start", "setup")
    for first in (0.9, 0.1, 0.12):
        log.record(stream([(first, sse({"type": "thread.created"}))]))
    log.current = ("protocol.framing", "call")
    log.record(
        JsonResponse("items.list", b"{}", {"Authorization": f"Bearer {TOKEN}"}, "u", status=200)
    )
    # The model stub sent its 8 tokens spread over 0.7 s while the client got them at once.
    sends = tuple(STARTED + 0.1 + 0.1 * i for i in range(8))
    log.model_calls = [ModelCall(0, "/v1/responses", True, STARTED + 0.05, STARTED + 0.9, sends)]
    from harness.protocol.client import Exchange

    _ = Exchange  # the log holds both kinds
    run.results += [
        result(
            "sse.unbuffered",
            Outcome.FAIL,
            message="the stream arrived in bursts",
            evidence=f"token {TOKEN} was echoed",
        ),
        result("auth.alg-none", Outcome.PASS),
        result("latency.cold-start", Outcome.PASS),
        result("history.metadata", Outcome.BLOCKED, blocked_by="sse.unbuffered", message="x"),
    ]
    return run, log


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, list[str]] = {"style": [], "script": []}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in self.data else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in].append(data)


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_no_secret_or_token_reaches_the_page(fixture_run: tuple) -> None:
    """Known secrets, bearer tokens and JWTs (even forged ones) are masked everywhere."""
    run, log = fixture_run
    html = render_html(run, log, [SECRET])
    assert TOKEN not in html and SECRET not in html and FORGED not in html
    assert not re.search(r"eyJ[A-Za-z0-9_-]{5,}\.", html)
    assert "***" in html


def test_page_loads_nothing_and_its_csp_allows_only_its_own_style_and_script(
    fixture_run: tuple,
) -> None:
    run, log = fixture_run
    html = render_html(run, log)
    page = parse(html)
    (csp,) = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp is not None and "default-src 'none'" in csp
    styles, scripts = page.data["style"], page.data["script"]
    assert len(styles) == 1 and len(scripts) == 1
    assert sha(styles[0]) in csp and sha(scripts[0]) in csp
    for tag, attrs in page.tags:
        assert "style" not in attrs, tag  # a style attribute would break under the CSP
        assert not any(k.startswith("on") for k in attrs), tag  # no inline handlers
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        for name in ("src", "href", "action"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    assert len({a["id"] for _, a in page.tags if a.get("id")}) == sum(
        1 for _, a in page.tags if a.get("id")
    ), "duplicate ids"


def test_buffered_stream_is_drawn_with_the_model_schedule(fixture_run: tuple) -> None:
    """The buffered stream's events sit at one time; the stub's sends spread over 0.7 s."""
    run, log = fixture_run
    report = build_report(run, log)
    card = next(c for a in report.areas for c in a.checks if c.result.id == "sse.unbuffered")
    (view,) = card.streams  # drawn next to the failure
    svg = view.svg
    assert "<script" not in svg and "<style" not in svg and " id=" not in svg
    events = re.findall(r'<g class="dots"><title>event \d+: [^<]* at ([\d,.]+) ms', svg)
    sends = re.findall(r"<title>model stub sent token \d+ at ([\d,.]+) ms", svg)
    assert len(events) == 9 and len(sends) == 8
    assert {float(t.replace(",", "")) for t in events} == {900.0}
    times = [float(t.replace(",", "")) for t in sends]
    assert min(times) == pytest.approx(100.0) and max(times) == pytest.approx(800.0)
    assert ("text deltas span", "0.0 ms") in view.stats
    assert ("model stub span", "700.0 ms") in view.stats


def test_blocked_check_links_to_its_root_cause_and_back(fixture_run: tuple) -> None:
    run, log = fixture_run
    html = render_html(run, log)
    assert 'Blocked by <a href="#check-sse.unbuffered">sse.unbuffered</a>' in html
    assert 'Root cause of 1 blocked check: <a href="#check-history.metadata">' in html
    assert 'id="check-sse.unbuffered"' in html and 'id="check-history.metadata"' in html


def test_auth_probes_show_the_jose_header_and_status_never_the_token(fixture_run: tuple) -> None:
    run, log = fixture_run
    report = build_report(run, log)
    card = next(c for a in report.areas for c in a.checks if c.result.id == "auth.alg-none")
    (row,) = card.probes
    assert row.label == "alg 'none', empty signature"
    assert json.loads(row.jose_header) == HEADER
    assert row.credential.startswith("Authorization: Bearer <JWT, ")
    assert (row.status, row.answer, row.kind) == ("401", "refused", "refused")
    assert row.stream.startswith("no ")  # a JSON error body, no event


def test_cold_start_turns_chart_and_numbers(fixture_run: tuple) -> None:
    run, log = fixture_run
    report = build_report(run, log)
    card = next(c for a in report.areas for c in a.checks if c.result.id == "latency.cold-start")
    (figure,) = card.figures
    turns = [row[0] for row in figure.table[1:]]
    assert turns == ["turn 1 (first after start)", "turn 2", "turn 3"]
    assert figure.table[1][1] == "900.0 ms"
    assert "turn 1 (first after start): first event 900.0 ms" in figure.svg


def test_failures_come_first_and_filters_cover_every_outcome(fixture_run: tuple) -> None:
    run, log = fixture_run
    report = build_report(run, log)
    assert report.areas[0].checks[0].group == "fail"
    groups = {c.group for a in report.areas for c in a.checks}
    assert groups == {"fail", "warn", "blocked", "untested", "pass"}
    assert [label for _, label, _ in report.counts] == [
        "fail",
        "warn",
        "blocked",
        "not tested",
        "pass",
    ]


def test_model_calls_pair_with_the_request_that_caused_them() -> None:
    """Two streams open at once: the call whose last user message is a stream's input is
    that stream's; a call outside every stream's window is nobody's."""
    a = stream([(0.5, sse({"type": "thread.created"}))], text="first question")
    b = stream([(0.5, sse({"type": "thread.created"}))], text="second question")
    call_a = ModelCall(1, "/v1/responses", True, STARTED + 0.1, None, (), "first question")
    call_b = ModelCall(2, "/v1/responses", True, STARTED + 0.2, None, (), "second question")
    late = ModelCall(3, "/v1/responses", True, STARTED + 5.0, None, (), "first question")
    calls = [call_a, call_b, late]
    assert calls_during(Timeline.of(a), a.request_body, calls) == [call_a]
    assert calls_during(Timeline.of(b), b.request_body, calls) == [call_b]


def test_edge_and_origin_are_drawn_together() -> None:
    log = ExchangeLog()
    log.current = ("sse.content-type", "setup")
    log.record(buffered())
    log.record(streaming(url="http://origin:2/chatkit"))
    run = sample_run()
    run.results.append(result("sse.edge-vs-origin", Outcome.FAIL, message="the edge buffers"))
    report = build_report(run, log, origin_url="http://origin:2/chatkit")
    card = next(c for a in report.areas for c in a.checks if c.result.id == "sse.edge-vs-origin")
    (figure,) = card.figures
    assert figure.title == "Edge (#1) against origin (#2)"
    assert "edge: event 1" in figure.svg and "origin: event 1" in figure.svg
    assert figure.table[1] == ("first event", "900.0 ms", "50.0 ms")


def test_jose_header_reads_only_the_first_segment() -> None:
    assert jose_header(f"Bearer {FORGED}") == HEADER
    assert jose_header("Bearer opaque-token") is None
    assert jose_header("Basic dXNlcjpwYXNz") is None


def test_inline_svg_strips_pygal_script_style_and_ids() -> None:
    import pygal

    chart = pygal.XY(js=[], css=[])
    chart.add("s", [{"value": (1, 2), "label": "one"}, {"value": (2, 3), "label": "two"}])
    svg = inline_svg(chart, "a title")
    assert "<script" not in svg and "<style" not in svg and ' id="' not in svg
    assert 'style="' not in svg and "<desc" not in svg and "<!--" not in svg
    assert "<title>one</title>" in svg and 'aria-label="a title"' in svg


def test_a_long_stream_keeps_its_timeline_after_the_log_slims_it() -> None:
    """The log drops a big body after writing it; the picture keeps every chunk's time."""
    log = ExchangeLog()
    chunk = sse(delta("x" * 4000))
    log.record(stream([(0.001 * i, chunk) for i in range(80)]))
    (rec,) = log.entries
    assert rec.timeline is not None
    assert rec.timeline.total_chunks == 80 and len(rec.timeline.chunks) == 80
    assert rec.timeline.total_bytes == 80 * len(chunk)


def test_cli_writes_the_report_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--html reaches the plugin as --chatkit-html (it holds the exchange log)."""
    seen: dict[str, list[str]] = {}

    def fake_run_suite(args: list[str], listeners: object) -> object:
        seen["args"] = args
        return sample_run()

    monkeypatch.setattr("harness.runner.run_suite", fake_run_suite)
    out = tmp_path / "r.html"
    main(["run", "--plain", "--html", str(out), "--select", "protocol.framing"])
    i = seen["args"].index("--chatkit-html")
    assert seen["args"][i + 1] == str(out)


def test_diagnose_writes_the_report_into_its_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, list[str]] = {}

    def fake_run_suite(args: list[str], listeners: object) -> object:
        seen["args"] = args
        return sample_run()

    monkeypatch.setattr("harness.runner.run_suite", fake_run_suite)
    main(["diagnose", "--plain", "--artifacts", str(tmp_path / "a")])
    i = seen["args"].index("--chatkit-html")
    assert seen["args"][i + 1] == str(tmp_path / "a" / "report.html")


def test_unwritable_html_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--html", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTML report" in err


def test_write_html_is_atomic_and_small(fixture_run: tuple, tmp_path: Path) -> None:
    run, log = fixture_run
    path = write_html(run, tmp_path / "out" / "report.html", log)
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert not list(path.parent.glob(".*.tmp"))
    assert path.stat().st_size < 300_000


def test_a_bare_scheme_is_no_secret() -> None:
    """'Bearer' alone (a malformed-token probe) must not be masked out of every fix text."""
    from harness.report.artifacts import secrets_sent

    assert secrets_sent(stream([], auth="Bearer")) == []
    assert secrets_sent(stream([], auth=f"Bearer {TOKEN}")) == [TOKEN]


def test_a_refusal_body_is_a_line_not_an_empty_chart(fixture_run: tuple) -> None:
    run, log = fixture_run
    report = build_report(run, log)
    (group,) = [g for g in report.stream_groups if g.title == "auth.alg-none"]
    (view,) = group.streams
    assert view.svg == "" and view.body_note.endswith("B body")


def test_exchanges_of_a_probe_belong_to_the_checks_that_judge_it() -> None:
    """The record phase runs probes side by side: a request is filed under its probe, and a
    card lists the probes the check itself judges, not the ones every check shares."""
    from harness.engine.plan import CURRENT_PROBE

    log = ExchangeLog()
    log.current = ("protocol.framing", "setup")  # whichever check happened to be running
    token = CURRENT_PROBE.set("stream-timing")
    try:
        log.record(buffered())
    finally:
        CURRENT_PROBE.reset(token)
    (rec,) = log.entries
    assert rec.probe == "stream-timing"
    run = sample_run()
    run.results += [
        result("sse.unbuffered", Outcome.FAIL),
        result("sse.content-type", Outcome.PASS),
    ]
    report = build_report(run, log)
    cards = {c.result.id: c for a in report.areas for c in a.checks}
    assert [e.seq for e in cards["sse.unbuffered"].exchanges] == [1]
    assert cards["sse.unbuffered"].streams  # drawn next to the failure
    assert cards["protocol.framing"].exchanges == []
    (group,) = report.stream_groups
    assert group.title == "probe stream-timing"
    assert {cid for cid, _ in group.checks} == {"sse.unbuffered", "sse.content-type"}
