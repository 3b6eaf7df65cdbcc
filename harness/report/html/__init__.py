"""The HTML report (``--html FILE`` / ``--chatkit-html FILE``; ``diagnose`` writes one).

One self-contained file: the stylesheet, the small script (filters, search, copy buttons) and
every chart (SVG) are inlined, and the page carries a Content-Security-Policy that lets it
load nothing at all (``default-src 'none'``; the one style and one script are allowed by
their hashes). It opens offline, from a CI artifact, in any current browser, and reads
without JavaScript: only the filters and copy buttons need it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path

from harness.report.artifacts import ExchangeLog
from harness.report.redact import MASK
from harness.report.results import RunResult

from .view import GROUPS, build_report

TEMPLATES = "templates"


@cache
def _environment() -> object:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report.html", TEMPLATES),
        autoescape=True,  # every value from a target is text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(TEMPLATES, name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(
    run: RunResult,
    log: ExchangeLog | None = None,
    secrets: Iterable[str] = (),
    *,
    origin_url: str | None = None,
) -> str:
    """The report as one HTML document; nothing in it names a secret of the run."""
    from markupsafe import Markup

    keep = sorted({s for s in (*secrets, *(log.secrets if log else ())) if s and len(s) >= 4})
    report = build_report(run, log, keep, origin_url=origin_url)
    css, js = _asset("report.css"), _asset("report.js")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"style-src {_hash(css)}",
            f"script-src {_hash(js)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    template = _environment().get_template("report.html.j2")  # type: ignore[attr-defined]
    html: str = template.render(
        report=report,
        groups=GROUPS,
        css=Markup(css),
        js=Markup(js),
        csp=csp,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        markup=Markup,
    )
    # Last line of defence: a secret that reached the page some way the view did not redact
    # (a chart label, an attribute) is masked here too.
    for secret in sorted(keep, key=len, reverse=True):
        html = html.replace(secret, MASK)
    return html


def write_html(
    run: RunResult,
    path: str | os.PathLike[str],
    log: ExchangeLog | None = None,
    secrets: Iterable[str] = (),
    *,
    origin_url: str | None = None,
) -> Path:
    from harness.report.sinks.json_sink import write_text

    return write_text(path, render_html(run, log, secrets, origin_url=origin_url))
