"""Redaction as a property: no form of a secret comes out of any sink; plain text is untouched.

Random secrets (JWT-shaped and opaque) are planted whole, as one of their segments, cut short
at any point from 12 characters on, URL-encoded, and base64-wrapped at any alignment, in a
response body, a response header, the request body and a check's evidence; everything every
sink writes (terminal lines, the rich report, JSON, JUnit, GitHub annotations and summary,
the artifacts folder, the diagnosis, the curl repro) is searched for the planted text. And
the catalogue's own texts (titles, pitfalls, fixes, refs) come out of redaction unchanged,
whatever secrets the run knows.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.protocol.client import JsonResponse, RecordedStream
from harness.registry import load_catalogue
from harness.report.artifacts import ExchangeLog, mask_bytes
from harness.report.diagnose import diagnose, render_diagnosis
from harness.report.redact import curl_command, redact_text
from harness.report.results import CheckResult, Outcome, RunResult
from harness.report.sinks import github
from harness.report.sinks.json_sink import write_json
from harness.report.sinks.junit import write_junit
from harness.report.sinks.lines import LinePrinter
from harness.report.sinks.redacted import redact_result, redact_run
from harness.report.sinks.terminal import RichReporter, plain_console

MIN_FRAGMENT = 12  # a secret cut short is still hidden from this many characters on
MIN_SEGMENT = 8  # the shortest dot-separated part of a secret that counts as one


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(sub: str, kid: bytes, sig: bytes) -> str:
    head = _b64url(json.dumps({"alg": "RS256", "kid": kid.hex()}).encode())
    payload = _b64url(json.dumps({"sub": sub, "aud": "chatkit"}).encode())
    return f"{head}.{payload}.{_b64url(sig)}"


# Secrets as deployments have them: signed JWTs, and opaque tokens or cookie values made of
# random bytes (standard base64 too, whose '+', '/' and '=' URL-encoding changes).
jwt_like = st.builds(
    _jwt,
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=24),
    st.binary(min_size=4, max_size=12),
    st.binary(min_size=32, max_size=96),
)
opaque = st.builds(
    lambda prefix, raw, std: prefix + (base64.b64encode(raw).decode() if std else _b64url(raw)),
    st.sampled_from(["", "sk-", "sess_", "tok."]),
    st.binary(min_size=12, max_size=48),
    st.booleans(),
)
secrets_st = st.lists(st.one_of(jwt_like, opaque), min_size=1, max_size=3, unique=True)


def b64_core(frag: bytes, align: int) -> str:
    """The base64 characters of ``frag`` that its own bytes fix, at byte offset ``align``."""
    enc = base64.b64encode(b"\0" * align + frag).decode().rstrip("=")
    return enc[(8 * align + 5) // 6 : (8 * (align + len(frag))) // 6]


@dataclass
class Plant:
    text: str  # what is written into the exchange / result
    forbidden: str  # what must never come out


@st.composite
def plants(draw: st.DrawFn, secret: str) -> Plant:
    segments = [s for s in secret.split(".") if len(s) >= MIN_SEGMENT]
    how = draw(st.sampled_from(["whole", "segment", "cut"]))
    if how == "segment" and len(secret.split(".")) > 1 and segments:
        frag = draw(st.sampled_from(segments))
    elif how == "cut":
        frag = secret[: draw(st.integers(MIN_FRAGMENT, len(secret)))]
    else:
        frag = secret
    wrap = draw(st.sampled_from(["raw", "url", "base64", "base64url"]))
    if wrap == "raw":
        return Plant(frag, frag)
    if wrap == "url":
        encoded = quote(frag, safe="")
        return Plant(encoded, encoded)
    junk = draw(st.binary(max_size=5))
    tail = draw(st.binary(max_size=5))
    blob = base64.b64encode(junk + frag.encode() + tail).decode()
    core = b64_core(frag.encode(), len(junk) % 3)
    if wrap == "base64url":
        blob = blob.replace("+", "-").replace("/", "_")
        core = core.replace("+", "-").replace("/", "_")
    return Plant(blob, core)


def _result(evidence: str, repro: str) -> CheckResult:
    return CheckResult(
        id="sse.unbuffered",
        title="Stream events arrive as they are produced",
        area="sse",
        level="MUST",
        outcome=Outcome.FAIL,
        duration=0.1,
        pitfall="p",
        fix="f",
        ref="r",
        message=f"the target echoed {evidence}",
        expected="nothing secret",
        actual=evidence,
        evidence=f"HTTP 200\nX-Echo: {evidence}\n{evidence}",
        repro=repro,
    )


def every_sink(secrets: list[str], plant: str, folder: Path) -> list[bytes]:
    """Plant ``plant`` everywhere, run every sink, return everything they wrote."""
    auth = {"Authorization": f"Bearer {secrets[0]}", "Content-Type": "application/json"}
    body = f'{{"type":"threads.create","params":{{"input":"{plant}"}}}}'.encode()
    stream = RecordedStream("threads.create", body, auth, "http://127.0.0.1:9/chatkit", status=200)
    stream.headers = [("X-Echo", plant), ("Content-Type", "text/event-stream")]
    stream.chunks = [(0.01, f'data: {{"type":"notice","message":"{plant}"}}\n\n'.encode())]
    json_ex = JsonResponse("threads.list", b"{}", auth, "http://127.0.0.1:9/chatkit", status=500)
    json_ex.body = f'{{"error":"bad token {plant}"}}'.encode()
    json_ex.headers = [("Set-Cookie", f"sid={plant}"), ("X-Note", plant)]

    log = ExchangeLog(root=folder / "artifacts")
    for s in secrets:
        log.add_secret(s)
    log.record(stream)
    log.record(json_ex)
    result = _result(plant, curl_command(stream))
    run = RunResult(target="http://127.0.0.1:9/chatkit", harness_version="0", results=[result])
    log.write_result(redact_result(result, log.secrets))

    # The repro reaches the user only through the result, as every sink shows it.
    outputs: list[str] = []
    lines = io.StringIO()
    printer = LinePrinter(lines, secrets=secrets)
    printer.on_result(result)
    printer.verdict(run)
    outputs.append(lines.getvalue())
    rich_out = io.StringIO()
    reporter = RichReporter(plain_console(rich_out), secrets, live=False)
    reporter.on_result(result)
    reporter.render(run)
    outputs.append(rich_out.getvalue())
    write_json(run, folder / "r.json", secrets, artifacts=str(folder / "artifacts"))
    write_junit(run, folder / "r.xml", secrets)
    summary = folder / "summary.md"
    annotations: list[str] = []
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    github.emit(run, secrets, write=annotations.append, env=env)
    outputs += annotations
    safe = redact_run(run, secrets)
    outputs.append(render_diagnosis(safe, diagnose(safe, folder / "artifacts")))
    files = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    return [o.encode() for o in outputs] + files


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), secrets=secrets_st)
def test_no_form_of_a_secret_leaves_any_sink(data: st.DataObject, secrets: list[str]) -> None:
    planted = data.draw(plants(data.draw(st.sampled_from(secrets))))
    with tempfile.TemporaryDirectory() as tmp:
        written = every_sink(secrets, planted.text, Path(tmp))
    needle = planted.forbidden.encode()
    leaked = [out[max(0, out.find(needle) - 80) :][:200] for out in written if needle in out]
    assert not leaked, f"{planted.forbidden!r} came out: {leaked[:2]!r}"
    # The request's own token is never shown either.
    assert not [out for out in written if secrets[0].encode() in out]


def catalogue_texts() -> list[str]:
    out = []
    for spec in load_catalogue().values():
        out += [spec.title, spec.pitfall, spec.fix, spec.ref]
    return [t for t in out if t]


CORPUS = catalogue_texts()


def test_corpus_holds_the_texts_that_were_mangled() -> None:
    assert any('Bearer error="invalid_token"' in t for t in CORPUS)
    assert len(CORPUS) > 150


@settings(max_examples=40, deadline=None)
@given(secrets=secrets_st)
def test_catalogue_texts_come_out_unchanged(secrets: list[str]) -> None:
    for text in CORPUS:
        assert redact_text(text, secrets) == text
        assert mask_bytes(text.encode(), secrets) == text.encode()
    result = _result("nothing secret here", "")
    for spec in load_catalogue().values():
        shown = redact_result(CheckResult.from_spec(spec, Outcome.FAIL, 0.0), secrets)
        assert (shown.title, shown.pitfall, shown.fix) == (spec.title, spec.pitfall, spec.fix)
    lines = io.StringIO()
    printer = LinePrinter(lines, secrets=secrets)
    for spec in load_catalogue().values():
        printer.on_result(CheckResult.from_spec(spec, Outcome.FAIL, 0.0))
    printed = lines.getvalue()
    for spec in load_catalogue().values():
        assert f"    fix:     {spec.fix}\n" in printed
        assert f"    pitfall: {spec.pitfall}\n" in printed
    assert result.message == redact_text(result.message, secrets)


def test_an_unknown_jwt_hides_its_segments_elsewhere_in_the_text() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5fQ.c2lnbmF0dXJlLXNpZ25hdHVyZS0x"
    head, payload, sig = jwt.split(".")
    text = f"token {jwt}; later the payload alone: {payload}; and the signature {sig[:14]}"
    out = redact_text(text)
    assert head not in out and payload not in out and sig[:14] not in out
    assert out.startswith("token ***; later the payload alone: ***")


def test_fix_texts_with_bearer_are_not_rewritten() -> None:
    for text in (
        'WWW-Authenticate: Bearer error="invalid_token"',
        "send it as a Bearer token.",
        "Bearer authentication over TLS",
        "Authorization: Bearer <token>",
    ):
        assert redact_text(text) == text
    assert redact_text("Authorization: Bearer abc123XYZtoken") == "Authorization: Bearer ***"
