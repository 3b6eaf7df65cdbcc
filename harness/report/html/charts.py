"""The report's pictures: pygal charts, rendered to SVG here and inlined in the page.

Why pygal: it draws on the server, in pure Python, to SVG, so a figure is there without any
script (a report opened with JavaScript off, or under a CSP that forbids scripts, still shows
every picture), it adds no compiled dependency, and its charts have the axes, secondary axes
and legends these need. Its output is made for the web with its own script and CSS, which an
inlined, offline, strict-CSP report cannot use, so :func:`inline_svg` turns each chart into
plain markup: no script, no style element or attribute (the page's one stylesheet styles the
pygal classes), no ids (a page holds many charts), coordinates rounded, and each point's value
as an SVG ``<title>``, which every browser shows on hover with no script at all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pygal

from harness.report.timeline import Timeline

WIDTH, HEIGHT = 720, 250
# pygal's config: no script or stylesheet of its own, no XML declaration (the SVG is inlined).
_BASE: dict[str, Any] = {
    "js": [],
    "css": [],
    "no_prefix": True,
    "disable_xml_declaration": True,
    "explicit_size": True,
    "width": WIDTH,
    "height": HEIGHT,
    "dots_size": 2.2,
    "legend_at_bottom": True,
    "margin": 8,
    "spacing": 8,
    "show_y_guides": True,
    "max_scale": 6,  # axis labels a small chart can hold without overlapping
    "truncate_legend": -1,
}
_NUMBER = re.compile(r"-?\d+\.\d+")
_ROUNDED_ATTRS = ("x", "y", "cx", "cy", "r", "width", "height", "x1", "x2", "y1", "y2")


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # shown on hover


@dataclass(frozen=True)
class Turn:
    label: str
    first_event_ms: float | None
    complete_ms: float


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def fmt_bytes(n: int) -> str:
    return f"{n:,} B" if n < 10_000 else f"{n / 1024:,.1f} KiB"


# -- the charts ----------------------------------------------------------------------------


def event_points(tl: Timeline, who: str = "") -> list[Point]:
    """One point per event: (arrival ms, event number), labelled with its type."""
    prefix = f"{who}: " if who else ""
    out = []
    for n, e in enumerate(tl.events, 1):
        kind = e.type or ("not JSON" if e.error else "no type")
        if e.delta:
            kind += " (text delta)"
        out.append(Point(ms(e.t), n, f"{prefix}event {n}: {kind}, at {ms(e.t):,.1f} ms"))
    return out


def byte_steps(tl: Timeline) -> list[tuple[float, float]]:
    """Cumulative bytes as a staircase: each chunk is a vertical step at its arrival time."""
    steps: list[tuple[float, float]] = [(0.0, 0.0)]
    total = 0
    for t, size in tl.chunks:
        steps.append((ms(t), total))
        total += size
        steps.append((ms(t), total))
    if tl.chunks:
        steps.append((ms(tl.elapsed), total))
    return steps


def stream_chart(tl: Timeline, sent: Sequence[Point] = (), *, title: str) -> str:
    """A stream's arrivals: events (dots, left axis), bytes (staircase, right axis) and, in
    glass-box mode, when the model stub sent each token (placed at the delta it became)."""
    if not tl.events:
        # Bytes but no event (not SSE, or never parseable): the bytes are the whole story.
        chart = pygal.XY(
            **_BASE,
            x_title="ms since the request was sent",
            y_title="bytes received",
            xrange=(0, _x_end(tl)),
            value_formatter=_count,
            x_value_formatter=_count,
        )
        chart.add("bytes received (no event parsed)", byte_steps(tl), show_dots=False)
        return inline_svg(chart, title)
    chart = pygal.XY(
        **_BASE,
        x_title="ms since the request was sent",
        y_title="event number",
        stroke=True,
        xrange=(0, _x_end(tl, sent)),
        range=(0, max(1, len(tl.events))),
        value_formatter=_count,
        x_value_formatter=_count,
    )
    chart.add(
        "events received",
        [{"value": (p.x, p.y), "label": p.label} for p in event_points(tl)],
        stroke_style={"width": 1},
    )
    if sent:
        chart.add(
            "model stub sent",
            [{"value": (p.x, p.y), "label": p.label} for p in sent],
            stroke=False,
        )
    steps = byte_steps(tl)
    if len(steps) > 1:
        chart.add("bytes received (right axis)", steps, secondary=True, show_dots=False)
    return inline_svg(chart, title)


def edge_origin_chart(edge: Timeline, origin: Timeline, *, title: str) -> str:
    """The same request through the edge and straight to the origin, on one time axis."""
    end = max(_x_end(edge), _x_end(origin))
    chart = pygal.XY(
        **_BASE,
        x_title="ms since the request was sent",
        y_title="event number",
        xrange=(0, end),
        range=(0, max(1, len(edge.events), len(origin.events))),
        value_formatter=_count,
        x_value_formatter=_count,
    )
    for name, tl in (("edge (through the proxy)", edge), ("origin (no proxy)", origin)):
        points = event_points(tl, name.split(" ")[0])
        chart.add(name, [{"value": (p.x, p.y), "label": p.label} for p in points])
    return inline_svg(chart, title)


def turns_chart(turns: Sequence[Turn], *, title: str) -> str:
    """First event and completion of each turn: a cold start stands out as the first bar."""
    chart = pygal.Bar(
        **_BASE,
        y_title="ms",
        x_labels=[t.label for t in turns],
        truncate_label=-1,
        value_formatter=_count,
    )
    first = [f"{t.label}: first event {fmt_ms(t.first_event_ms)}" for t in turns]
    done = [f"{t.label}: complete {fmt_ms(t.complete_ms)}" for t in turns]
    chart.add(
        "first event",
        [{"value": t.first_event_ms, "label": x} for t, x in zip(turns, first, strict=True)],
    )
    chart.add(
        "complete", [{"value": t.complete_ms, "label": x} for t, x in zip(turns, done, strict=True)]
    )
    return inline_svg(chart, title)


def _count(value: float) -> str:
    """Axis labels: whole numbers with thousands separators (bytes, ms, event numbers)."""
    return f"{value:,.0f}"


def _x_end(tl: Timeline, sent: Sequence[Point] = ()) -> float:
    last = max([ms(tl.elapsed), *(p.x for p in sent), 1.0])
    return float(last) * 1.02


# -- pygal's SVG made inline-safe ----------------------------------------------------------


def inline_svg(chart: Any, title: str) -> str:
    """``chart`` as one ``<svg>`` element for the page: see the module docstring."""
    root = chart.render_tree()
    _clean(root)
    root.set("role", "img")
    root.set("aria-label", title)
    for name in ("id", "width", "height"):
        root.attrib.pop(name, None)  # sized by the page's CSS from its viewBox
    label = ET.Element("title")
    label.text = title
    root.insert(0, label)
    ET.register_namespace("", "http://www.w3.org/2000/svg")
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _clean(el: ET.Element) -> None:
    for child in list(el):
        tag = child.tag if isinstance(child.tag, str) else ""
        if (
            not tag
            or tag in ("script", "style", "title")
            or "tooltip-overlay" in child.get("class", "")
        ):
            el.remove(child)  # comments, pygal's script/CSS, its JS tooltip, axis-label titles
            continue
        _clean(child)
    for name in ("id", "style"):
        el.attrib.pop(name, None)
    cls = el.get("class")
    if cls:
        kept = [c for c in cls.split() if c not in ("reactive", "tooltip-trigger", "top", "left")]
        el.set("class", " ".join(kept))
    for name in _ROUNDED_ATTRS:
        if name in el.attrib:
            el.set(name, _round(el.attrib[name]))
    for name in ("d", "points", "transform"):
        if name in el.attrib:
            el.set(name, _NUMBER.sub(lambda m: _round(m.group(0)), el.attrib[name]))
    descs = [c for c in el if c.tag == "desc"]
    if descs:
        # pygal's point: <desc class="label">, <desc class="value"> and its x/y for the JS
        # tooltip. Keep the words as a <title> (a hover tooltip without script).
        text = next((d.text for d in descs if d.get("class") == "label" and d.text), None)
        text = text or next((d.text for d in descs if d.get("class") == "value"), None)
        for d in descs:
            el.remove(d)
        if text:
            tip = ET.Element("title")
            tip.text = text
            el.insert(0, tip)


def _round(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    text = f"{number:.1f}"
    return text[:-2] if text.endswith(".0") else text
