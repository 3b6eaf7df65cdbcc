"""Secrets never leave the harness unredacted: one place that knows how to hide them.

What is hidden, in every sink:

- every known secret (a token, a cookie, a secret header's value) and each of its dot-separated
  segments (a JWT's header, payload and signature), wherever they appear, also cut short: a
  run of at least :data:`MIN_FRAGMENT` characters that starts like one of them is masked as
  far as it goes on matching (a deployment that echoes a truncated token leaks its head);
- the same in URL-encoded form and inside base64 (a secret wrapped in a Basic credential, a
  JSON blob, a cookie): for each of the three byte alignments, the base64 characters that
  only the secret's bytes determine;
- any JWT-shaped string, known or not, and its segments elsewhere in the same text;
- an unknown credential after ``Bearer`` that looks like one (a digit, a change of case or
  an inner separator), never an ordinary word: fix texts such as
  ``Bearer error="invalid_token"`` or "a Bearer token." come out unchanged.

Text that holds none of these is returned exactly as it came. Matching is by hand, not by one
big alternation regex: a run may know a hundred secrets, each with a dozen forms, and Python's
regex engine tries alternatives one by one at every position; here a cheap regex finds the
runs of characters a secret can consist of, and a set lookup of their 12-character windows
finds where a secret starts.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote, quote_plus

from harness.protocol.client import Exchange

MASK = "***"
MIN_SECRET = 4  # shorter known values are not hidden (they would hide ordinary text)
MIN_SEGMENT = 8  # shorter dot-separated parts of a secret are not secrets on their own
MIN_FRAGMENT = 12  # a cut-short secret is recognised from this many characters on
_SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"}
# A JWT anywhere in text: three base64url segments, the first starting with '{"' encoded.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# RFC 7235 token68 after "Bearer", ending where a token68 ends; an auth-param
# (error="invalid_token", realm=x) is not one: a name, "=", then a value.
_BEARER_RE = re.compile(
    r"(?i)\b(bearer\s+)(?![A-Za-z0-9_-]+=[^=\s,])([A-Za-z0-9._~+/-]+=*)(?![A-Za-z0-9._~+/=-])"
)
# What tells a credential from a word after "Bearer": a digit, a change of case, or an inner
# separator ("xyz.abc"); "a Bearer token." and 'Bearer error="invalid_token"' have none.
_CREDENTIAL_LIKE = re.compile(r"[0-9]|[a-z][A-Z]|[A-Z]{2}[a-z]|[A-Za-z0-9][._~+/-][A-Za-z0-9]")


def _looks_random(value: str) -> bool:
    return len(value) >= 6 and bool(_CREDENTIAL_LIKE.search(value))


def _pieces(secret: str) -> set[str]:
    """The secret and its dot-separated segments that are long enough to be secrets."""
    out = {secret} if len(secret) >= MIN_SECRET else set()
    parts = secret.split(".")
    if len(parts) > 1:
        out |= {p for p in parts if len(p) >= MIN_SEGMENT}
    return out


def _b64_cores(raw: bytes) -> set[str]:
    """The base64 characters fixed by ``raw`` alone, at each alignment, in both alphabets."""
    out = set()
    for align in range(3):
        enc = base64.b64encode(b"\0" * align + raw).decode("ascii").rstrip("=")
        core = enc[(8 * align + 5) // 6 : (8 * (align + len(raw))) // 6]
        if len(core) >= MIN_SEGMENT:
            out.add(core)
            out.add(core.replace("+", "-").replace("/", "_"))
    return out


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _forms(piece: str) -> set[str]:
    """Every spelling of ``piece`` to look for: raw, URL-encoded, inside base64."""
    out = {piece}
    for encoded in (quote(piece, safe=""), quote(piece), quote_plus(piece)):
        out |= {encoded, _lower_hex(encoded)}
    out |= _b64_cores(piece.encode("utf-8"))
    return out


@dataclass
class _Matcher:
    short: tuple[str, ...] = ()  # masked only whole: too short to be known from a fragment
    anchors: dict[str, tuple[str, ...]] = field(default_factory=dict)  # first 12 -> forms
    runs: re.Pattern[str] | None = None  # runs of characters the long forms consist of

    def spans(self, text: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        for form in self.short:
            found += [(at, at + len(form)) for at in _occurrences(text, form)]
        if self.runs is None:
            return found
        anchors, size = self.anchors, MIN_FRAGMENT
        for m in self.runs.finditer(text):
            run, base = m.group(), m.start()
            if len(run) > 32 * len(anchors):
                # A long run (a big base64 blob, a hostile body): str.find per anchor scans
                # at C speed, far faster than a Python step per position.
                starts = [k for anchor in anchors for k in _occurrences(run, anchor)]
            else:
                starts = [k for k in range(len(run) - size + 1) if run[k : k + size] in anchors]
            for k in starts:
                for form in anchors[run[k : k + size]]:
                    n = size
                    limit = min(len(form), len(run) - k)
                    while n < limit and run[k + n] == form[n]:
                        n += 1
                    found.append((base + k, base + k + n))
        return found


def _occurrences(text: str, sub: str) -> Iterable[int]:
    at = text.find(sub)
    while at != -1:
        yield at
        at = text.find(sub, at + 1)


@lru_cache(maxsize=256)
def _matcher(secrets: frozenset[str], latin1: bool = False) -> _Matcher:
    """What to look for, given the secrets; ``latin1``: the text is bytes decoded as latin-1."""
    forms: set[str] = set()
    for secret in secrets:
        for piece in _pieces(secret):
            forms |= _forms(piece)
    if latin1:  # match the UTF-8 bytes of each form, one character per byte
        forms = {f.encode("utf-8").decode("latin-1") for f in forms}
    short = tuple(sorted(f for f in forms if MIN_SECRET <= len(f) < MIN_FRAGMENT))
    anchors: dict[str, list[str]] = {}
    for form in forms:
        if len(form) >= MIN_FRAGMENT:
            anchors.setdefault(form[:MIN_FRAGMENT], []).append(form)
    if not anchors:
        return _Matcher(short=short)
    chars = "".join(sorted({c for group in anchors.values() for form in group for c in form}))
    runs = re.compile(f"[{re.escape(chars)}]{{{MIN_FRAGMENT},}}")
    return _Matcher(short, {a: tuple(sorted(f, key=len)) for a, f in anchors.items()}, runs)


def _masked(text: str, spans: list[tuple[int, int]], fill: Callable[[str], str]) -> str:
    if not spans:
        return text
    out, pos = [], 0
    for start, end in _merge(spans):
        out += [text[pos:start], fill(text[start:end])]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _mask(text: str, secrets: Iterable[str], fill: Callable[[str], str], latin1: bool) -> str:
    known = frozenset(s for s in secrets if s and len(s) >= MIN_SECRET)
    spans = _matcher(known, latin1).spans(text) if known else []
    jwts = frozenset(_JWT_RE.findall(text))
    if jwts:  # an unknown token: hide it, and its parts wherever else they are in this text
        spans += _matcher(jwts, latin1).spans(text)
        spans += [m.span() for m in _JWT_RE.finditer(text)]
    text = _masked(text, spans, fill)

    def bearer(m: re.Match[str]) -> str:
        value = m.group(2)
        return m.group(1) + fill(value) if _looks_random(value) else m.group(0)

    return _BEARER_RE.sub(bearer, text)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret (and any bearer token or JWT) replaced by ``***``."""
    if not text:
        return text
    return _mask(text, secrets, lambda _: MASK, latin1=False)


def mask_bytes(data: bytes, secrets: Iterable[str] = ()) -> bytes:
    """``data`` with every secret overwritten by as many ``*``: every offset stays true."""
    if not data:
        return data
    text = data.decode("latin-1")  # one character per byte: spans are byte offsets
    return _mask(text, secrets, lambda s: "*" * len(s), latin1=True).encode("latin-1")


def redact_header(name: str, value: str) -> str:
    if name.lower() in _SECRET_HEADERS:
        scheme = value.split(" ", 1)[0] if " " in value else ""
        return f"{scheme} {MASK}".strip() if scheme.lower() == "bearer" else MASK
    return redact_text(value)


# Longer request bodies are never printed in a repro (and never cut: a cut body is another
# request, malformed JSON as often as not); the artifacts folder keeps them as a file.
REPRO_BODY_LIMIT = 2000


def curl_command(ex: Exchange) -> str:
    """A copy-paste repro; the token stays as ``***`` for the user to fill in.

    A body longer than :data:`REPRO_BODY_LIMIT` is sent from its file in the artifacts folder
    (``--data-binary @FILE``); without ``--artifacts`` the line says the body was too long to
    print instead of sending a different one.
    """
    parts = ["curl", "-N" if ex.request_type.startswith("threads.") else "-s", "-X", "POST"]
    parts.append(shlex.quote(ex.url))
    for k, v in ex.request_headers.items():
        parts += ["-H", shlex.quote(f"{k}: {redact_header(k, v)}")]
    body = ex.request_body
    if len(body) <= REPRO_BODY_LIMIT:
        text = body.decode("utf-8", errors="replace")
        parts += ["--data-raw", shlex.quote(redact_text(text))]
    elif ex.request_body_file:
        parts += ["--data-binary", shlex.quote("@" + ex.request_body_file)]
    else:
        parts += [
            "--data-binary",
            "@request-body",
            f"# the {len(body)}-byte request body is too long to print: run with --artifacts "
            "DIR for a repro that sends it from a file",
        ]
    return " ".join(parts)
