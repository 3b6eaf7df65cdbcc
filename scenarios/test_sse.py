"""Streaming: does the event stream reach the client as it is produced?

A proxy (nginx's default proxy_buffering, a gzip middleware, a CDN) can hold the whole answer
until the end; the UI then shows nothing, then everything. Starlette's StreamingResponse sends
no Cache-Control and no X-Accel-Buffering (verified with openai-chatkit 1.6.5's canonical
FastAPI wiring), so nothing tells a proxy to pass the stream through.
Judgments only: the timed turns come from the quiet probe in harness/probes/streams.py.
"""

from __future__ import annotations

from harness.engine.expect import evidence_of, stream_ok
from harness.engine.preconditions import CREATE, describe, stream_usable
from harness.probes.streams import TimedTurns
from harness.protocol.client import RecordedStream
from harness.protocol.timing import arrival_table, spread
from harness.registry import MUST, SHOULD, check
from harness.report.results import blocked, fail, untestable

NGINX_FIX = (
    "Send Cache-Control: no-cache, no-transform and X-Accel-Buffering: no on the stream; in "
    "nginx set 'proxy_buffering off; proxy_cache off; gzip off;' (and proxy_http_version 1.1) "
    "for the ChatKit location; exclude text/event-stream from compression middleware."
)
REF = "seed: Next.js httpOnly cookie proxy (stream the upstream body); WHATWG SSE"
PROBES = ["first-turn", "stream-timing"]


def _root(first: RecordedStream) -> None:
    """Blocked by protocol.create-order when the conversation's own threads.create broke."""
    if not stream_usable(first):
        blocked(CREATE, f"threads.create {describe(first)}")


def answered(first: RecordedStream, rec: RecordedStream, what: str) -> RecordedStream:
    """A timed stream whose head came back 200: its headers can be judged, even when the
    body then broke. A stream that failed while the conversation's did not fails here."""
    if rec.status != 200:
        _root(first)
        stream_ok(rec, what)
    return rec


def complete(first: RecordedStream, rec: RecordedStream, what: str) -> RecordedStream:
    """A timed stream that completed (for judgments of its events and their timing)."""
    if not stream_usable(rec):
        _root(first)
    return stream_ok(rec, what)


def _edge(evidence) -> tuple[RecordedStream, TimedTurns]:
    turns: TimedTurns = evidence["stream-timing"]
    return evidence["first-turn"], turns


@check(
    id="sse.content-type",
    title="Streams are served as text/event-stream",
    level=MUST,
    pitfall="A stream labelled application/json or text/plain is buffered by proxies and not "
    "parsed as events by the client.",
    fix="Return StreamingResponse(result, media_type='text/event-stream') for StreamingResult.",
    ref="WHATWG HTML §9.2 (text/event-stream); chatkit docs quickstart wiring",
    probes=PROBES,
)
def test_content_type(evidence) -> None:
    first, turns = _edge(evidence)
    rec = answered(first, turns.edge, "threads.create")
    ctype = (rec.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "text/event-stream":
        fail(
            "the stream has the wrong content type",
            expected="Content-Type: text/event-stream",
            actual=f"Content-Type: {rec.header('content-type')}",
            evidence=evidence_of(rec),
        )


@check(
    id="sse.unbuffered",
    title="Stream events arrive as they are produced, not all at the end",
    level=MUST,
    pitfall="A proxy (nginx proxy_buffering, gzip middleware) holds the stream until the end; "
    "the reply appears all at once after a long blank wait.",
    fix=NGINX_FIX,
    ref=REF,
    probes=PROBES,
)
def test_unbuffered(evidence) -> None:
    first, turns = _edge(evidence)
    rec = complete(first, turns.edge, "threads.create")
    times = rec.delta_times()
    s = spread(times, rec.elapsed)
    if not s.judgeable:
        untestable(
            f"the reply was too short to judge buffering ({s.describe()}); a model that "
            "streams at least 5 text deltas over 300 ms is needed"
        )
    if s.buffered:
        fail(
            "the stream arrived in bursts: it is buffered on the way",
            expected="text deltas arriving spread over time, as generated",
            actual=s.describe(),
            evidence=arrival_table(times) + "\n" + evidence_of(rec),
        )


@check(
    id="sse.no-content-length",
    title="Streams carry no Content-Length",
    level=MUST,
    pitfall="A Content-Length on an event stream means the body was assembled before sending "
    "(buffered), or a proxy rewrote the response.",
    fix="Let the server stream with chunked transfer encoding; do not collect the body.",
    ref="RFC 9112 §6 (message body length); WHATWG SSE",
    probes=PROBES,
)
def test_no_content_length(evidence) -> None:
    first, turns = _edge(evidence)
    rec = answered(first, turns.edge, "threads.create")
    if rec.header("content-length") is not None:
        fail(
            "the stream has a Content-Length",
            expected="no Content-Length (chunked or close-delimited body)",
            actual=f"Content-Length: {rec.header('content-length')}",
            evidence=evidence_of(rec),
        )


@check(
    id="sse.cache-control",
    title="Streams tell caches and proxies not to store or transform them",
    level=SHOULD,
    pitfall="Without Cache-Control: no-cache (and no-transform), CDNs and proxies may cache "
    "or compress the stream, delaying or replaying answers.",
    fix="Add headers={'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no'} "
    "to the StreamingResponse.",
    ref="RFC 9111 §5.2.2.4 no-cache, §5.2.2.6 no-transform",
    probes=PROBES,
)
def test_cache_control(evidence) -> None:
    first, turns = _edge(evidence)
    rec = answered(first, turns.edge, "threads.create")
    value = (rec.header("cache-control") or "").lower()
    if "no-cache" not in value and "no-store" not in value:
        fail(
            "the stream does not forbid caching",
            expected="Cache-Control: no-cache, no-transform",
            actual=f"Cache-Control: {rec.header('cache-control')}",
            evidence=evidence_of(rec),
        )


@check(
    id="sse.no-compression",
    title="Streams are not compressed",
    level=SHOULD,
    pitfall="gzip or br on an event stream makes the compressor hold bytes until its buffer "
    "fills: the answer arrives in lumps or at the end.",
    fix="Exclude text/event-stream from compression (GZipMiddleware, nginx 'gzip off', CDN "
    "rules) or send Cache-Control: no-transform.",
    ref="RFC 9110 §8.4 Content-Encoding",
    probes=PROBES,
)
def test_no_compression(evidence) -> None:
    first, turns = _edge(evidence)
    rec = answered(first, turns.edge, "threads.create")
    encoding = (rec.header("content-encoding") or "identity").lower()
    if encoding not in ("identity", ""):
        fail(
            "the stream is compressed",
            expected="no Content-Encoding",
            actual=f"Content-Encoding: {encoding}",
            evidence=evidence_of(rec),
        )


@check(
    id="sse.edge-vs-origin",
    title="The edge delivers the same events as the origin, with a comparable spread",
    level=MUST,
    pitfall="The backend streams fine, but the proxy or CDN in front of it buffers, compresses "
    "or cuts the stream; testing only the origin misses it.",
    fix=NGINX_FIX,
    ref=REF,
    probes=PROBES,
)
def test_edge_vs_origin(evidence) -> None:
    first, turns = _edge(evidence)
    if turns.origin is None:
        untestable("pass --origin-url (the backend without the proxy) to compare edge and origin")
    edge = complete(first, turns.edge, "threads.create via the edge")
    origin = complete(first, turns.origin, "threads.create via the origin")
    e_types = [p.get("type") for p in edge.payloads]
    o_types = [p.get("type") for p in origin.payloads]
    if e_types != o_types:
        fail(
            "the edge delivers different events than the origin",
            expected=" ".join(map(str, o_types[:12])),
            actual=" ".join(map(str, e_types[:12])),
            evidence=evidence_of(edge),
        )
    es, os_ = spread(edge.delta_times(), edge.elapsed), spread(origin.delta_times(), origin.elapsed)
    if os_.judgeable and not os_.buffered and es.buffered:
        causes = []
        if edge.header("content-encoding"):
            causes.append(
                f"the edge compresses (Content-Encoding: {edge.header('content-encoding')})"
            )
        if edge.header("content-length"):
            causes.append("the edge sends a Content-Length: it assembled the body first")
        if not causes:
            causes.append("the proxy buffers the response (nginx proxy_buffering is on by default)")
        fail(
            "the edge buffers a stream the origin delivers incrementally: " + "; ".join(causes),
            expected=f"like the origin: {os_.describe()}",
            actual=es.describe(),
            evidence=arrival_table(edge.delta_times()),
        )
