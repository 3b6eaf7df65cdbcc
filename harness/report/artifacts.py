"""Everything a run saw, kept for debugging: ``--artifacts DIR`` / ``--chatkit-artifacts DIR``.

Layout::

    DIR/results.json                     the JSON report of the run
    DIR/exchanges/index.jsonl            one line per request: seq, check, phase, type, status
    DIR/exchanges/0001-threads.create.json   request and response headers, status, timings,
                                             the arrival time of every chunk and event
    DIR/exchanges/0001-threads.create.body   the response body, byte for byte as received
    DIR/checks/<check id>/result.json    the check's result and the exchanges it made or cited
    DIR/checks/<check id>/...            browser checks add trace.zip, page.har, screenshot.png

Secrets are masked everywhere, in the raw bodies too: a secret's bytes are replaced by as
many ``*`` so every chunk offset and length in the timeline stays true. A request made while
a session fixture was being set up is filed under the check whose setup triggered it
(``phase: setup``): that is when it happened, though every check using the fixture reads it.

Browser checks get their folder from :func:`check_dir`; it is ``None`` when no artifacts
directory was asked for, so they can skip recording entirely.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.protocol.client import Exchange, JsonResponse, RecordedStream
from harness.report.redact import redact_header, redact_text

ARTIFACTS_KEY = pytest.StashKey["ExchangeLog"]()

_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(rb"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]+)")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def mask_bytes(data: bytes, secrets: Iterable[str] = ()) -> bytes:
    """``data`` with every secret (and any bearer token or JWT) overwritten, length kept."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        raw = secret.encode()
        data = data.replace(raw, b"*" * len(raw))
    data = _BEARER.sub(lambda m: m.group(1) + b"*" * len(m.group(2)), data)
    return _JWT.sub(lambda m: b"*" * len(m.group(0)), data)


AUTH_SCHEMES = frozenset({"bearer", "basic", "digest", "token"})


def secrets_sent(ex: Exchange) -> list[str]:
    """The credentials a request carried: redacted everywhere from then on."""
    found = []
    for name, value in ex.request_headers.items():
        lower = name.lower()
        if lower in ("authorization", "proxy-authorization"):
            if value.strip().lower() in AUTH_SCHEMES:
                continue  # a scheme with no credential (a malformed-token probe) hides nothing
            found.append(value.split(" ", 1)[1].strip() if " " in value else value)
        elif lower in ("cookie", "x-api-key", "api-key"):
            found.append(value)
            found += [part.split("=", 1)[1] for part in value.split(";") if "=" in part]
    return [s.strip() for s in found if len(s.strip()) >= 4]


SLIM_ABOVE = 256 * 1024  # body bytes beyond which the log keeps a slim copy of an exchange


def _slim(ex: Exchange) -> Exchange:
    """``ex`` itself when small; else a copy with what evidence_of and curl_command read."""
    from dataclasses import replace

    if isinstance(ex, RecordedStream) and sum(len(c) for _, c in ex.chunks) > SLIM_ABOVE:
        head = [] if ex.events else [(ex.chunks[0][0], ex.body[:400])]
        return replace(ex, chunks=head, events=ex.events[:8])
    if isinstance(ex, JsonResponse) and len(ex.body) > SLIM_ABOVE:
        return replace(ex, body=ex.body[:2000])
    return ex


@dataclass
class Recorded:
    seq: int
    check: str
    phase: str
    exchange: Exchange
    stem: str = ""  # file name stem under exchanges/, when written


@dataclass
class ExchangeLog:
    """Every exchange of the run in order, attributed to the check running when it happened.

    Always on (it only keeps references); writes files only when ``root`` is set.
    """

    root: Path | None = None
    secrets: set[str] = field(default_factory=set)
    current: tuple[str, str] = ("", "session")  # (check id, phase) set by the plugin
    entries: list[Recorded] = field(default_factory=list)
    on_secret: list[Callable[[str], None]] = field(default_factory=list)

    # -- recording --------------------------------------------------------------------------

    def record(self, ex: Exchange) -> None:
        """The client's ``on_exchange`` callback."""
        for secret in secrets_sent(ex):
            self.add_secret(secret)
        check, phase = self.current
        rec = Recorded(len(self.entries) + 1, check, phase, ex)
        self.entries.append(rec)
        if self.root is not None:
            self._write_exchange(rec)
        # The log lives as long as the run, a check's (capped, 16 MB) bodies must not: against
        # a target that fills every body, N requests held N x 3 x 16 MB. Once written, only the
        # request and the evidence excerpt are read again (find_cited, the repro command).
        rec.exchange = _slim(ex)

    def add_secret(self, secret: str) -> None:
        if secret and secret not in self.secrets:
            self.secrets.add(secret)
            for callback in self.on_secret:
                callback(secret)

    def for_check(self, check_id: str) -> list[Recorded]:
        return [r for r in self.entries if r.check == check_id]

    def find_cited(self, evidence: str) -> Recorded | None:
        """The exchange a failure's evidence was made from (the latest, if several)."""
        if not evidence:
            return None
        from harness.engine.expect import evidence_of

        for rec in reversed(self.entries):
            if evidence_of(rec.exchange) in evidence:
                return rec
        return None

    # -- files ------------------------------------------------------------------------------

    def check_dir(self, check_id: str) -> Path | None:
        if self.root is None:
            return None
        path = self.root / "checks" / _SAFE.sub("_", check_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _write_exchange(self, rec: Recorded) -> None:
        assert self.root is not None
        folder = self.root / "exchanges"
        folder.mkdir(parents=True, exist_ok=True)
        ex = rec.exchange
        rec.stem = f"{rec.seq:04d}-{_SAFE.sub('_', ex.request_type or 'raw')}"
        body = ex.body if isinstance(ex, (RecordedStream, JsonResponse)) else b""
        (folder / f"{rec.stem}.body").write_bytes(mask_bytes(body, self.secrets))
        meta = self._describe(rec)
        text = json.dumps(meta, indent=2, ensure_ascii=False)
        (folder / f"{rec.stem}.json").write_text(text + "\n", encoding="utf-8")
        line = {
            "seq": rec.seq,
            "check": rec.check or None,
            "phase": rec.phase,
            "request_type": ex.request_type,
            "status": ex.status,
            "files": [f"{rec.stem}.json", f"{rec.stem}.body"],
        }
        with (folder / "index.jsonl").open("a", encoding="utf-8") as index:
            index.write(json.dumps(line) + "\n")

    def _describe(self, rec: Recorded) -> dict[str, Any]:
        ex = rec.exchange
        secrets = self.secrets
        out: dict[str, Any] = {
            "seq": rec.seq,
            "check": rec.check or None,
            "phase": rec.phase,
            "request": {
                "method": "POST",
                "url": redact_text(ex.url, secrets),
                "type": ex.request_type,
                "headers": [
                    [k, redact_header(k, redact_text(v, secrets))]
                    for k, v in ex.request_headers.items()
                ],
                "body": redact_text(ex.request_body.decode("utf-8", errors="replace"), secrets),
            },
            "response": {
                "status": ex.status,
                "headers": [[k, redact_header(k, redact_text(v, secrets))] for k, v in ex.headers],
                "ttfb_s": ex.ttfb,
                "elapsed_s": ex.elapsed,
                "transport_error": ex.transport_error,
                "truncated": ex.truncated,
                "body_file": f"{rec.stem}.body",
            },
        }
        if isinstance(ex, RecordedStream):
            offset = 0
            chunks = []
            for t, data in ex.chunks:
                chunks.append({"t_s": round(t, 6), "offset": offset, "size": len(data)})
                offset += len(data)
            out["response"]["first_event_s"] = ex.first_event
            out["chunks"] = chunks
            out["events"] = [
                {"t_s": round(e.t, 6), "type": e.type, "error": e.error} for e in ex.events
            ]
        return out

    def write_result(self, result: Any, cited: Recorded | None = None) -> Path | None:
        """``checks/<id>/result.json``: the (already redacted) result and its exchanges."""
        folder = self.check_dir(result.id)
        if folder is None:
            return None
        files = [f"exchanges/{r.stem}.json" for r in self.for_check(result.id) if r.stem]
        if cited is not None and cited.stem and f"exchanges/{cited.stem}.json" not in files:
            files.insert(0, f"exchanges/{cited.stem}.json")
        data = {**result.to_json(), "exchanges": files}
        path = folder / "result.json"
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


MARKER = ".chatkit-artifacts"


def prepare_root(root: Path) -> None:
    """Create ``root``; if an earlier run left its files there, remove those (only those)."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    if (root / MARKER).exists():
        for name in ("exchanges", "checks"):
            shutil.rmtree(root / name, ignore_errors=True)
        (root / "results.json").unlink(missing_ok=True)
    (root / MARKER).write_text("written by chatkit-harness; rewritten on every run\n")


def log_of(config_or_request: pytest.Config | pytest.FixtureRequest) -> ExchangeLog | None:
    config = getattr(config_or_request, "config", config_or_request)
    assert isinstance(config, pytest.Config)
    return config.stash.get(ARTIFACTS_KEY, None)


def check_dir(
    config_or_request: pytest.Config | pytest.FixtureRequest, check_id: str
) -> Path | None:
    """The folder for ``check_id``'s own files (trace, HAR, screenshot), or None when the run
    keeps no artifacts. Safe to call from fixtures and tests alike."""
    log = log_of(config_or_request)
    return None if log is None else log.check_dir(check_id)


def exchange_observers(config: pytest.Config) -> list[Callable[[Exchange], None]]:
    """What the plugin's client fixtures pass as ``on_exchange``."""
    log = config.stash.get(ARTIFACTS_KEY, None)
    return [] if log is None else [log.record]
