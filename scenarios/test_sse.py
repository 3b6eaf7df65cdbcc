"""Streaming: does the event stream reach the client as it is produced?

A proxy (nginx's default proxy_buffering, a gzip middleware, a CDN) can hold the whole answer
until the end; the UI then shows nothing, then everything. Starlette's StreamingResponse sends
no Cache-Control and no X-Accel-Buffering (verified with openai-chatkit 1.6.5's canonical
FastAPI wiring), so nothing tells a proxy to pass the stream through.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest_asyncio

from harness.engine.expect import evidence_of, stream_ok
from harness.protocol.client import ChatKitClient, RecordedStream
from harness.protocol.timing import arrival_table, spread
from harness.registry import MUST, SHOULD, check
from harness.report.results import fail, untestable
from harness.target.config import Target

# A long enough reply for a verdict (at least 5 deltas over 300 ms) from a live model, and from
# an echoing offline model, which repeats the numbers back.
PROMPT = (
    "Count from one to forty in words, one number per line: one two three four five six seven "
    "eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen "
    "twenty twenty-one twenty-two twenty-three twenty-four twenty-five twenty-six twenty-seven "
    "twenty-eight twenty-nine thirty thirty-one thirty-two thirty-three thirty-four thirty-five "
    "thirty-six thirty-seven thirty-eight thirty-nine forty"
)
NGINX_FIX = (
    "Send Cache-Control: no-cache, no-transform and X-Accel-Buffering: no on the stream; in "
    "nginx set 'proxy_buffering off; proxy_cache off; gzip off;' (and proxy_http_version 1.1) "
    "for the ChatKit location; exclude text/event-stream from compression middleware."
)
REF = "seed: Next.js httpOnly cookie proxy (stream the upstream body); WHATWG SSE"


@dataclass
class TimedTurns:
    edge: RecordedStream
    origin: RecordedStream | None


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def timed_turns(chatkit_client: ChatKitClient, chatkit_target: Target) -> TimedTurns:
    edge = await chatkit_client.create_thread(PROMPT)
    origin = None
    if chatkit_target.origin_url:
        async with ChatKitClient(
            chatkit_target, url=chatkit_target.origin_url, on_exchange=chatkit_client.on_exchange
        ) as direct:
            origin = await direct.create_thread(PROMPT)
    return TimedTurns(edge, origin)


@check(
    id="sse.content-type",
    title="Streams are served as text/event-stream",
    level=MUST,
    pitfall="A stream labelled application/json or text/plain is buffered by proxies and not "
    "parsed as events by the client.",
    fix="Return StreamingResponse(result, media_type='text/event-stream') for StreamingResult.",
    ref="WHATWG HTML §9.2 (text/event-stream); chatkit docs quickstart wiring",
)
async def test_content_type(timed_turns: TimedTurns) -> None:
    rec = stream_ok(timed_turns.edge, "threads.create")
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
)
async def test_unbuffered(timed_turns: TimedTurns) -> None:
    rec = stream_ok(timed_turns.edge, "threads.create")
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
)
async def test_no_content_length(timed_turns: TimedTurns) -> None:
    rec = stream_ok(timed_turns.edge, "threads.create")
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
)
async def test_cache_control(timed_turns: TimedTurns) -> None:
    rec = stream_ok(timed_turns.edge, "threads.create")
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
)
async def test_no_compression(timed_turns: TimedTurns) -> None:
    rec = timed_turns.edge
    if rec.status != 200:
        stream_ok(rec, "threads.create")
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
)
async def test_edge_vs_origin(timed_turns: TimedTurns, chatkit_target: Target) -> None:
    if timed_turns.origin is None:
        untestable("pass --origin-url (the backend without the proxy) to compare edge and origin")
    edge = stream_ok(timed_turns.edge, "threads.create via the edge")
    origin = stream_ok(timed_turns.origin, "threads.create via the origin")
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
