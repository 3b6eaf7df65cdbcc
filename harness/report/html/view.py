"""What the HTML report shows, built from the run's results and its exchange log only.

Nothing here knows how a check works: a check is its :class:`CheckResult`, and what it sent
and received is whatever the exchange log attributed to it (or its evidence cites). The few
pictures tied to one check (cold start, edge vs origin, the auth probes) read only the
exchanges of that check or area, so a check that records its probes differently still gets
them drawn. Every string that came from a target or a request passes through the run's
redaction before it reaches the template.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.protocol.client import Exchange, JsonResponse, RecordedStream
from harness.report.artifacts import ExchangeLog, Recorded
from harness.report.diagnose import ROOT_ORDER, SYMPTOMS
from harness.report.redact import redact_header, redact_text
from harness.report.results import CheckResult, Outcome, RunResult
from harness.report.sinks.lines import MARKS
from harness.report.sinks.redacted import redact_run
from harness.report.sinks.text import verdict_lines
from harness.report.timeline import ModelCall, Timeline, calls_during

from . import charts
from .charts import Point, Turn, fmt_bytes, fmt_ms, ms

# The filter groups of the page, in the order of its buttons.
GROUPS: dict[str, tuple[str, frozenset[Outcome]]] = {
    "fail": ("fail", frozenset({Outcome.FAIL, Outcome.ERROR})),
    "warn": ("warn", frozenset({Outcome.WARN, Outcome.BASELINED})),
    "blocked": ("blocked", frozenset({Outcome.BLOCKED})),
    "untested": ("not tested", frozenset({Outcome.SKIP, Outcome.NOT_OFFERED})),
    "pass": ("pass", frozenset({Outcome.PASS})),
}
OPEN_BY_DEFAULT = frozenset({Outcome.FAIL, Outcome.ERROR, Outcome.WARN})
COLD_START_CHECK = "latency.cold-start"
EDGE_CHECK = "sse.edge-vs-origin"
AUTH_AREA = "auth"
MAX_EXCHANGES_LISTED = 40  # per check card; the Streams section has every stream
MAX_ROWS = 400  # rows of one arrival table
MIN_BYTES_DRAWN = 1024  # a body without events is drawn (as bytes) from this size on
MAX_DRAWN_IN_CARD = 2  # streams drawn in a broken check's card when its evidence cites none


def group_of(outcome: Outcome) -> str:
    return next(g for g, (_, members) in GROUPS.items() if outcome in members)


@dataclass
class ExchangeRef:
    seq: int
    anchor: str  # "" when the exchange has no figure of its own
    text: str
    cited: bool


@dataclass
class StreamView:
    seq: int
    anchor: str
    caption: str
    svg: str  # "" when nothing arrived to draw
    stats: list[tuple[str, str]]
    rows: list[tuple[str, str, str]]  # (#, ms, what) of the arrival table
    more_rows: int
    note: str = ""
    body_note: str = ""  # what came instead, when nothing is drawn


@dataclass
class ProbeRow:
    label: str
    credential: str
    jose_header: str
    request_type: str
    status: str
    stream: str  # whether any stream byte was sent
    answer: str  # refused / accepted / other, in a word
    kind: str  # css class: refused, accepted, other


@dataclass
class Figure:
    title: str
    svg: str
    table: list[tuple[str, ...]] = field(default_factory=list)  # header row first
    note: str = ""


@dataclass
class CheckView:
    result: CheckResult  # redacted
    anchor: str
    group: str
    mark: str
    open: bool
    search: str
    blocked_by_anchor: str = ""
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (id, anchor)
    exchanges: list[ExchangeRef] = field(default_factory=list)
    more_exchanges: int = 0
    streams: list[StreamView] = field(default_factory=list)  # drawn in the card itself
    figures: list[Figure] = field(default_factory=list)
    probes: list[ProbeRow] = field(default_factory=list)


@dataclass
class AreaView:
    name: str
    symptom: str
    checks: list[CheckView]
    tally: list[tuple[str, str, int]]  # (group, label, count)


@dataclass
class StreamGroup:
    title: str  # the probe that made the streams, or the check that made them itself
    code: bool  # the title is a name (shown as code)
    checks: list[tuple[str, str]]  # (check id, anchor) of the checks judging them
    streams: list[StreamView]


@dataclass
class Report:
    verdict: list[str]
    healthy: bool
    harness_error: str
    target: str
    version: str
    duration: str
    strict: bool
    counts: list[tuple[str, str, int]]  # (group, label, count)
    outcomes: list[tuple[str, int]]  # every outcome with a count
    areas: list[AreaView]
    stream_groups: list[StreamGroup]
    glass: bool
    exchanges: int
    stream_count: int
    stale_baseline: list[str]


def check_anchor(check_id: str) -> str:
    return "check-" + check_id


def stream_anchor(seq: int) -> str:
    return f"ex-{seq}"


def build_report(
    run: RunResult,
    log: ExchangeLog | None,
    secrets: Iterable[str] = (),
    *,
    origin_url: str | None = None,
) -> Report:
    keep = sorted({*secrets, *(log.secrets if log is not None else ())})
    entries = log.entries if log is not None else []
    calls = log.model_calls if log is not None else []
    scrub = _Scrubber(keep)
    # The cited exchange is found from the unredacted evidence, as the artifacts do.
    cited = {r.id: log.find_cited(r.evidence) if log else None for r in run.results}
    safe = redact_run(run, keep)
    streams = {
        rec.seq: _stream_view(rec, calls, scrub) for rec in entries if rec.timeline is not None
    }
    known = {r.id for r in safe.results}
    probes = _specific_probes(safe.results)
    blocks: dict[str, list[str]] = {}
    for r in safe.results:
        if r.outcome is Outcome.BLOCKED and r.blocked_by:
            blocks.setdefault(r.blocked_by, []).append(r.id)

    views: list[CheckView] = []
    for r in safe.results:
        view = CheckView(
            result=r,
            anchor=check_anchor(r.id),
            group=group_of(r.outcome),
            mark=MARKS.get(r.outcome, "?"),
            open=r.outcome in OPEN_BY_DEFAULT,
            search=" ".join([r.id, r.title, r.area, r.outcome.value, r.message]).lower(),
            blocked_by_anchor=check_anchor(r.blocked_by) if r.blocked_by in known else "",
            blocks=[(cid, check_anchor(cid)) for cid in blocks.get(r.id, [])],
        )
        own = [rec for rec in entries if _made_for(rec, r.id, probes)]
        hit = cited.get(r.id)
        listed = ([hit] if hit is not None else []) + [rec for rec in own if rec is not hit]
        view.exchanges = [
            _exchange_ref(rec, scrub, cited=rec is hit, drawn=rec.seq in streams)
            for rec in listed[:MAX_EXCHANGES_LISTED]
        ]
        view.more_exchanges = max(0, len(listed) - MAX_EXCHANGES_LISTED)
        if r.id == COLD_START_CHECK:
            view.figures += _cold_start(own)
        if r.id == EDGE_CHECK and origin_url:
            view.figures += _edge_vs_origin(entries, origin_url, scrub)
        if r.outcome is not Outcome.PASS:
            # The picture next to the failure: the stream its evidence cites, else its own
            # (unless the check has a picture of its own already).
            drawn = [hit] if hit is not None and hit.seq in streams else []
            if not drawn and not view.figures:
                drawn = [rec for rec in own if rec.seq in streams][:MAX_DRAWN_IN_CARD]
            view.streams = [streams[rec.seq] for rec in drawn]
        if r.area == AUTH_AREA:
            view.probes = [_probe_row(rec, scrub) for rec in own]
        views.append(view)

    return Report(
        verdict=verdict_lines(safe),
        healthy=safe.exit_code == 0,
        harness_error=safe.harness_error,
        target=safe.target,
        version=safe.harness_version,
        duration=f"{safe.duration:.1f} s",
        strict=safe.strict,
        counts=_tally(r.outcome for r in safe.results),
        outcomes=[(k, n) for k, n in safe.counts().items() if n],
        areas=_areas(views),
        stream_groups=_stream_groups(entries, streams, known, probes),
        glass=bool(calls),
        exchanges=len(entries),
        stream_count=len(streams),
        stale_baseline=list(safe.stale_baseline),
    )


# -- checks and areas ----------------------------------------------------------------------


def _tally(outcomes: Iterable[Outcome]) -> list[tuple[str, str, int]]:
    counts = dict.fromkeys(GROUPS, 0)
    for o in outcomes:
        counts[group_of(o)] += 1
    return [(g, GROUPS[g][0], counts[g]) for g in GROUPS]


def _areas(views: Sequence[CheckView]) -> list[AreaView]:
    by_area: dict[str, list[CheckView]] = {}
    for v in views:
        by_area.setdefault(v.result.area, []).append(v)
    order = list(GROUPS)
    areas = []
    for name, checks in by_area.items():
        checks.sort(key=lambda v: order.index(v.group))  # failures first, run order kept
        tally = [t for t in _tally(v.result.outcome for v in checks) if t[2]]
        areas.append(AreaView(name, SYMPTOMS.get(name, ""), checks, tally))
    # Broken areas first, upstream before downstream (as the diagnosis ranks them).
    rank = {name: i for i, name in enumerate(ROOT_ORDER)}
    areas.sort(key=lambda a: (order.index(a.checks[0].group), rank.get(a.name, len(rank))))
    return areas


def _exchange_ref(rec: Recorded, scrub: _Scrubber, *, cited: bool, drawn: bool) -> ExchangeRef:
    return ExchangeRef(
        seq=rec.seq,
        anchor=stream_anchor(rec.seq) if drawn else "",
        text=scrub(_describe(rec)),
        cited=cited,
    )


def _describe(rec: Recorded) -> str:
    ex = rec.exchange
    answer = f"HTTP {ex.status}" if ex.status else (ex.transport_error or "no response")
    text = f"#{rec.seq} {ex.request_type or 'raw request'} → {answer} in {fmt_ms(ms(ex.elapsed))}"
    tl = rec.timeline
    if tl is not None:
        text += f", {tl.total_events} events, {fmt_bytes(tl.total_bytes)}"
    elif isinstance(ex, JsonResponse):
        text += f", {fmt_bytes(len(ex.body))}"
    if ex.identity:
        text += f", sent as “{ex.identity}”"
    if rec.probe:
        text += f", by probe {rec.probe}"
    elif rec.phase == "setup":
        text += " (made while setting up a shared probe)"
    return text


# -- streams -------------------------------------------------------------------------------


def _stream_view(rec: Recorded, calls: Sequence[ModelCall], scrub: _Scrubber) -> StreamView:
    tl = rec.timeline
    assert tl is not None
    ex = rec.exchange
    caption = scrub(
        f"#{rec.seq} {ex.request_type or 'raw request'} to {ex.url} → "
        + (f"HTTP {ex.status}" if ex.status else (ex.transport_error or "no response"))
        + (f", sent as “{ex.identity}”" if ex.identity else "")
    )
    mine = [c for c in calls_during(tl, ex.request_body, calls) if c.stream and c.send_times]
    sent = _sent_points(tl, mine)
    svg = ""
    # A refusal's short error body is no stream: a line says so instead of an empty chart.
    if tl.events or tl.total_bytes >= MIN_BYTES_DRAWN:
        svg = charts.stream_chart(tl, sent, title=f"Arrivals of stream #{rec.seq}")
    rows = [
        (str(n), f"{ms(e.t):,.1f}", scrub(e.type or e.error or "no type") + (" ·" * e.delta))
        for n, e in enumerate(tl.events[:MAX_ROWS], 1)
    ]
    note = ""
    if tl.clipped:
        note = (
            f"Only the first {len(tl.events)} of {tl.total_events} events and "
            f"{len(tl.chunks)} of {tl.total_chunks} chunks are drawn."
        )
    if mine:
        note = (note + " " if note else "") + (
            f"Model stub: {sum(len(c.send_times) for c in mine)} text deltas sent by "
            f"{len(mine)} model call(s), each placed at the height of the delta event it became."
        )
    return StreamView(
        seq=rec.seq,
        anchor=stream_anchor(rec.seq),
        caption=caption,
        svg=svg,
        stats=_stream_stats(tl, ex, mine),
        rows=rows,
        more_rows=max(0, len(tl.events) - MAX_ROWS),
        note=note,
        body_note=f"a {fmt_bytes(tl.total_bytes)} body" if tl.total_bytes else "an empty body",
    )


def _sent_points(tl: Timeline, calls: Sequence[ModelCall]) -> list[Point]:
    """The stub's send times on the stream's clock, each at the height of the delta event
    it became (proportionally, when the target merged or split tokens)."""
    sends = sorted(t for c in calls for t in c.send_times)
    if not sends or not tl.started:
        return []
    deltas = [n for n, e in enumerate(tl.events, 1) if e.delta]
    heights = deltas or list(range(1, len(tl.events) + 1)) or [0]
    points = []
    for k, t in enumerate(sends):
        j = round(k * (len(heights) - 1) / max(1, len(sends) - 1)) if len(sends) > 1 else 0
        at = ms(t - tl.started)
        points.append(Point(at, heights[j], f"model stub sent token {k + 1} at {at:,.1f} ms"))
    return points


def _stream_stats(tl: Timeline, ex: Exchange, calls: Sequence[ModelCall]) -> list[tuple[str, str]]:
    times = [e.t for e in tl.events]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    deltas = [e.t for e in tl.events if e.delta]
    stats = [
        ("status", str(ex.status or ex.transport_error or "no response")),
        ("first byte", fmt_ms(ms(tl.ttfb) if tl.ttfb is not None else None)),
        ("first event", fmt_ms(ms(tl.first_event) if tl.first_event is not None else None)),
        ("last event", fmt_ms(ms(times[-1]) if times else None)),
        ("complete", fmt_ms(ms(tl.elapsed))),
        ("events", f"{tl.total_events} ({len(deltas)} text deltas)"),
        ("chunks", str(tl.total_chunks)),
        ("bytes", fmt_bytes(tl.total_bytes)),
        ("largest gap", fmt_ms(ms(max(gaps)) if gaps else None)),
    ]
    if len(deltas) > 1:
        stats.append(("text deltas span", fmt_ms(ms(deltas[-1] - deltas[0]))))
    sends = sorted(t for c in calls for t in c.send_times)
    if len(sends) > 1:
        stats.append(("model stub span", fmt_ms(ms(sends[-1] - sends[0]))))
    encoding = ex.header("content-encoding")
    if encoding:
        stats.append(("content-encoding", encoding))
    if ex.header("content-length"):
        stats.append(("content-length", str(ex.header("content-length"))))
    return stats


def _stream_groups(
    entries: Sequence[Recorded],
    streams: dict[int, StreamView],
    known: set[str],
    probes: dict[str, tuple[str, ...]],
) -> list[StreamGroup]:
    groups: dict[tuple[str, str], list[StreamView]] = {}
    for rec in entries:
        if rec.seq in streams:
            key = ("probe", rec.probe) if rec.probe else ("check", rec.check)
            groups.setdefault(key, []).append(streams[rec.seq])
    out = []
    for (kind, name), views in groups.items():
        if kind == "probe":
            judges = [cid for cid, names in probes.items() if name in names]
            title = f"probe {name}"
        else:
            judges = [name] if name in known else []
            title = name or "outside any check"
        links = [(cid, check_anchor(cid)) for cid in judges]
        out.append(StreamGroup(title, bool(name), links, views))
    return out


def _specific_probes(results: Sequence[CheckResult]) -> dict[str, tuple[str, ...]]:
    """Per check, the probes it judges that the fewest other checks share: its own evidence.

    A check also reads shared probes (the first turn, the missing-token refusal that every
    auth check's control rests on); listing those in every card would bury what it probed.
    """
    from harness.registry import load_catalogue

    try:
        catalogue = load_catalogue()
    except Exception:  # a catalogue that cannot load still leaves a report to write
        catalogue = {}
    declared = {r.id: tuple(getattr(catalogue.get(r.id), "probes", ())) for r in results}
    uses: dict[str, int] = {}
    for names in declared.values():
        for name in names:
            uses[name] = uses.get(name, 0) + 1
    out = {}
    for cid, names in declared.items():
        least = min((uses[n] for n in names), default=0)
        out[cid] = tuple(n for n in names if uses[n] == least)
    return out


def _made_for(rec: Recorded, check_id: str, probes: dict[str, tuple[str, ...]]) -> bool:
    """The check made this request itself, or one of its own probes did."""
    if rec.probe:
        return rec.probe in probes.get(check_id, ())
    return rec.check == check_id


# -- pictures of one check -----------------------------------------------------------------


def _cold_start(own: Sequence[Recorded]) -> list[Figure]:
    """Every turn of the cold-start check, in order: the first one ran on a fresh process."""
    turns = [rec for rec in own if rec.timeline is not None]
    if not turns:
        return []
    data = []
    for n, rec in enumerate(turns, 1):
        tl = rec.timeline
        assert tl is not None
        label = f"turn {n}" + (" (first after start)" if n == 1 else "")
        first = ms(tl.first_event) if tl.first_event is not None else None
        data.append(Turn(label, first, ms(tl.elapsed)))
    table: list[tuple[str, ...]] = [("turn", "first event", "complete")]
    table += [(t.label, fmt_ms(t.first_event_ms), fmt_ms(t.complete_ms)) for t in data]
    svg = charts.turns_chart(data, title="Cold start against warm turns")
    return [Figure("Cold start against warm turns", svg, table)]


def _edge_vs_origin(entries: Sequence[Recorded], origin_url: str, scrub: _Scrubber) -> list[Figure]:
    """Each request sent straight to the origin, drawn over the same request via the edge
    (the latest earlier stream with the same body to another URL)."""
    figures = []
    for i, rec in enumerate(entries):
        if rec.timeline is None or rec.exchange.url != origin_url:
            continue
        edge = next(
            (
                e
                for e in reversed(entries[:i])
                if e.timeline is not None
                and e.exchange.url != origin_url
                and e.exchange.request_body == rec.exchange.request_body
            ),
            None,
        )
        if edge is None or edge.timeline is None:
            continue
        title = f"Edge (#{edge.seq}) against origin (#{rec.seq})"
        svg = charts.edge_origin_chart(edge.timeline, rec.timeline, title=title)
        table: list[tuple[str, ...]] = [("", "edge", "origin")]
        for label, a, b in _pair_stats(edge.timeline, rec.timeline):
            table.append((label, a, b))
        note = scrub(f"edge {edge.exchange.url}, origin {rec.exchange.url}")
        figures.append(Figure(title, svg, table, note))
    return figures


def _pair_stats(a: Timeline, b: Timeline) -> list[tuple[str, str, str]]:
    def first(tl: Timeline) -> str:
        return fmt_ms(ms(tl.first_event) if tl.first_event is not None else None)

    def last(tl: Timeline) -> str:
        return fmt_ms(ms(tl.events[-1].t) if tl.events else None)

    return [
        ("first event", first(a), first(b)),
        ("last event", last(a), last(b)),
        ("events", str(a.total_events), str(b.total_events)),
        ("chunks", str(a.total_chunks), str(b.total_chunks)),
        ("bytes", fmt_bytes(a.total_bytes), fmt_bytes(b.total_bytes)),
    ]


# -- auth probes ---------------------------------------------------------------------------

CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization", "x-api-key")


def _probe_row(rec: Recorded, scrub: _Scrubber) -> ProbeRow:
    ex = rec.exchange
    creds = [(k, v) for k, v in ex.request_headers.items() if k.lower() in CREDENTIAL_HEADERS]
    shown = [f"{k}: {_credential_shape(k, v)}" for k, v in creds] or ["no credential"]
    header = next(
        (h for k, v in creds if k.lower() == "authorization" and (h := jose_header(v))), None
    )
    tl = rec.timeline
    if isinstance(ex, RecordedStream) and tl is not None:
        # A stream byte is an SSE event: a refusal's short JSON error body is not one.
        streamed = tl.total_events > 0
        if streamed:
            stream = f"yes: {tl.total_events} events, {fmt_bytes(tl.total_bytes)}"
        else:
            stream = f"no ({fmt_bytes(tl.total_bytes)} body, no event)" if tl.total_bytes else "no"
    else:
        streamed = False
        size = len(ex.body) if isinstance(ex, JsonResponse) else 0
        stream = f"JSON reply, {fmt_bytes(size)}"
    if ex.status in (401, 403) and not streamed:
        answer, kind = "refused", "refused"
    elif 200 <= ex.status < 300:
        answer, kind = "accepted", "accepted"
    else:
        answer, kind = (f"HTTP {ex.status}" if ex.status else "no answer"), "other"
    return ProbeRow(
        label=scrub(ex.identity or "(no identity)"),
        credential=scrub("; ".join(shown)),
        jose_header=scrub(json.dumps(header, separators=(", ", ": "))[:400]) if header else "",
        request_type=ex.request_type,
        status=str(ex.status) if ex.status else scrub(ex.transport_error or "none"),
        stream=stream,
        answer=answer,
        kind=kind,
    )


def _credential_shape(name: str, value: str) -> str:
    """What kind of credential a header held, never its value."""
    if name.lower() != "authorization":
        return redact_header(name, value)
    scheme, _, token = value.partition(" ")
    if not token:
        return "(empty)" if not value.strip() else "*** (no scheme)"
    kind = "JWT" if token.count(".") == 2 else "opaque"
    if not token.strip():
        kind = "empty"
    return f"{scheme} <{kind}, {len(token)} chars>"


def jose_header(authorization: str) -> dict[str, Any] | None:
    """The decoded header of a bearer JWT (its first segment only: never claims or signature)."""
    _, _, token = authorization.partition(" ")
    head = token.split(".", 1)[0] if token.count(".") == 2 else ""
    if not head:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return None
    return data if isinstance(data, dict) else None


class _Scrubber:
    """The run's redaction (known secrets, bearer tokens, JWTs) for text from exchanges."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = list(secrets)

    def __call__(self, text: str) -> str:
        return redact_text(text, self.secrets)
