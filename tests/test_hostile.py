"""The harness against hostile targets: every run ends, with a verdict, without a traceback,
in bounded memory.

Each mode of :mod:`harness.testing.hostile` gets one real ``chatkit-harness run --timeout 3`` in a
subprocess, as a CI job would run it. Modes that answer at once get the whole non-browser
suite. To keep the file within its time budget, modes where every request waits out the
timeout (endless, drip, stall, ...) get the checks that read streams, and modes that push
16 MB per request (flood, big-event, gzip-bomb) get the protocol checks; the whole suite
against every mode is ``benchmarks/hostile.py``. The runs go in parallel (most of their time
is waiting), and each one's peak RSS comes from ``wait4``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from harness.testing.hostile import MODES, CliRun, HostileServer, run_cli

pytestmark = pytest.mark.slow

TIMEOUT = 3  # --timeout: seconds per request
KILL_AFTER = 150.0  # a run still going after this is a hang
CHECK_BOUND = 10 * TIMEOUT  # no single check may take longer (a few requests, each bounded)
# Peak RSS of one harness process. A capped body costs about three times the 16 MB cap (raw
# chunks, event text, parsed JSON) and the session keeps the exchanges its fixtures recorded;
# an uncapped 50 MB event, or the gzip bomb decoded (1 GiB), goes far beyond this.
RSS_BOUND_MB = 1024

# Modes where each request waits out the timeout: only the checks that read streams.
SLOW = {"endless", "drip", "keepalive-only", "stall", "silent"}
# protocol.create-order judges the first threads.create: the root of every stream check.
STREAM_CHECKS = [
    "protocol.create-order",
    "protocol.framing",
    "sse.unbuffered",
    "errors.connection-survives",
]
# Modes that send 16 MB or more per request: the protocol checks (a dozen capped bodies).
HEAVY = {"flood", "big-event", "gzip-bomb"}

# mode -> (a check that must not pass, words its message/actual must contain)
EXPECTED: dict[str, tuple[str, str]] = {
    "endless": ("protocol.create-order", "timed out after 3 s"),
    "drip": ("protocol.create-order", "timed out after 3 s"),
    "keepalive-only": ("protocol.create-order", "timed out after 3 s"),
    "stall": ("protocol.create-order", "timed out after 3 s"),
    "silent": ("protocol.create-order", "no response, timed out"),
    "flood": ("protocol.create-order", "size cap"),
    "big-event": ("protocol.create-order", "size cap"),
    "gzip-bomb": ("protocol.create-order", "size cap"),
    "close": ("protocol.create-order", "Server disconnected"),
    "reset": ("protocol.create-order", "Connection reset"),
    "bad-chunked": ("protocol.create-order", "chunk"),
    "short-body": ("protocol.create-order", "without sending complete message body"),
    "huge-headers": ("protocol.create-order", "no response, RemoteProtocolError"),
    "invalid-utf8": ("protocol.framing", "not valid UTF-8"),
    "garbage": ("protocol.create-order", "did not start with thread.created"),
    "wrong-content-type": ("sse.content-type", "application/json"),
    "redirect-loop": ("protocol.create-order", "HTTP 307"),
    "html-login": ("protocol.json-content-type", "text/html"),
    "empty": ("protocol.create-order", "HTTP 200, 0 events"),
    "wrong-shapes": ("protocol.create-order", "of the wrong shape"),
}


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


TLS_RUNS = {
    # TLS spoken wrongly, in both directions, and a certificate nobody trusts.
    "https-to-plain-port": ("https", False),
    "http-to-tls-port": ("http", True),
    "https-self-signed": ("https", True),
}


@pytest.fixture(scope="module")
def runs(
    hostile: HostileServer, request: pytest.FixtureRequest
) -> Iterator[dict[str, Future[CliRun]]]:
    """Start the selected tests' runs at once (six at a time); each test waits for its own."""
    wanted: set[str] = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "mode" in callspec.params:
            wanted.add(callspec.params["mode"])
        wanted.update(name for name in TLS_RUNS if name.replace("-", "_") in item.name)

    def start(url: str, *extra: str) -> Future[CliRun]:
        return pool.submit(run_cli, url, *extra, timeout=TIMEOUT, kill_after=KILL_AFTER)

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures: dict[str, Future[CliRun]] = {}
        # The slow ones first: they mostly wait, and the quick ones fill the gaps.
        for name in sorted(wanted & set(MODES), key=lambda m: m not in SLOW):
            extra: list[str] = []
            if name in SLOW:
                for check_id in STREAM_CHECKS:
                    extra += ["--select", check_id]
            elif name in HEAVY:
                extra += ["--select", "protocol.*"]
            futures[name] = start(hostile.url(name), *extra)
        for name, (scheme, tls_port) in TLS_RUNS.items():
            if name in wanted:
                url = hostile.url("empty", scheme=scheme, tls_port=tls_port)
                futures[name] = start(url, "--select", "protocol.*")
        yield futures


def assert_survived(run: CliRun) -> None:
    """Ended by itself, one-line errors only, memory within the bound."""
    assert not run.killed, f"the harness hung:\n{run.describe()}"
    assert "Traceback" not in run.stdout + run.stderr, run.describe()
    assert run.peak_rss_mb < RSS_BOUND_MB, run.describe()
    for line in run.stderr.strip().splitlines():
        assert line.startswith("chatkit-harness: "), f"unexpected stderr line {line!r}"


def test_every_mode_has_an_expectation() -> None:
    assert set(EXPECTED) == set(MODES)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_mode_ends_with_a_verdict(mode: str, runs: dict[str, Future[CliRun]]) -> None:
    run = runs[mode].result()
    assert_survived(run)
    assert run.returncode == 1, f"expected failed checks (exit 1):\n{run.describe()}"
    assert run.report is not None and run.report["harness_error"] is None, run.describe()
    assert run.checks, run.describe()
    for check_id, c in run.checks.items():
        assert c["duration"] < CHECK_BOUND, f"{check_id} took {c['duration']} s"
        assert c["outcome"] != "error" or c.get("message"), f"{check_id}: an error without text"
    check_id, words = EXPECTED[mode]
    verdict = run.checks[check_id]
    assert verdict["outcome"] in ("fail", "warn"), (check_id, verdict["outcome"])
    said = f"{verdict.get('message', '')}\n{verdict.get('actual', '')}"
    assert words in said, f"{check_id} said: {said}"


def test_https_to_plain_port_is_one_clear_line(runs: dict[str, Future[CliRun]]) -> None:
    run = runs["https-to-plain-port"].result()
    assert_survived(run)
    assert run.returncode == 2, run.describe()
    [line] = run.stderr.strip().splitlines()
    assert "cannot connect" in line and "SSL" in line, line


def test_http_to_tls_port_fails_the_checks(runs: dict[str, Future[CliRun]]) -> None:
    run = runs["http-to-tls-port"].result()
    assert_survived(run)
    assert run.returncode == 1, run.describe()
    create = run.checks["protocol.create-order"]  # the root: the stream checks are blocked by it
    assert create["outcome"] == "fail"
    assert run.checks["protocol.framing"]["blocked_by"] == "protocol.create-order"
    # A TLS server answers plaintext by hanging up: a close or a reset, whichever the kernel
    # delivers first. Either way the check must name the dropped connection.
    dropped = ("Server disconnected", "Connection reset")
    assert any(d in create["actual"] for d in dropped), create["actual"]


def test_https_self_signed_is_one_clear_line(runs: dict[str, Future[CliRun]]) -> None:
    run = runs["https-self-signed"].result()
    assert_survived(run)
    assert run.returncode == 2, run.describe()
    [line] = run.stderr.strip().splitlines()
    assert "certificate verify failed" in line, line
