"""Every repro reproduces: run with curl, it gets the status its check saw.

A fault run of the reference server fails a handful of error checks, one of them with a
2 MiB body; each failure's ``repro`` (the ``curl`` line of the JSON report) is run as a user
would, with only the ``***`` token filled in, and must get the HTTP status the check saw. A
body too long for a command line is never cut (a cut body is malformed JSON, another request
altogether): it is sent from the artifacts folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.protocol.client import JsonResponse
from harness.report.redact import curl_command
from harness.target.launch import Launched, start_reference_server
from reference_server.dev_issuer import mint_dev_token

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Launched, str]]:
    key = tmp_path_factory.mktemp("key") / "dev.pem"
    token = mint_dev_token("alice", key_path=key)
    args = ["--db", ":memory:", "--dev-key", str(key), "--fault", "bare-500"]
    server = start_reference_server(args, timeout=90)
    try:
        yield server, token
    finally:
        server.stop()


def run_harness(url: str, token: str, cwd: Path, *extra: str) -> dict:
    out = cwd / "report.json"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--url", url, "--token", token]
    cmd += ["--select", "errors.*", "--plain", "--json", str(out), *extra]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    data: dict = json.loads(out.read_text())
    return data


def seen_status(evidence: str) -> str:
    m = re.search(r"^HTTP (\S+)$", evidence, re.M)
    assert m is not None, evidence
    return "000" if m.group(1) == "-" else m.group(1)


@pytest.mark.slow
def test_every_repro_of_a_fault_run_gets_the_status_its_check_saw(
    faulty: tuple[Launched, str], tmp_path: Path
) -> None:
    server, token = faulty
    report = run_harness(server.url, token, tmp_path, "--artifacts", "artifacts")
    failing = [c for c in report["checks"] if c["outcome"] in ("fail", "warn") and c["repro"]]
    ids = {c["id"] for c in failing}
    assert "errors.oversized-body" in ids and len(ids) >= 3, ids
    for check in failing:
        repro = check["repro"]
        assert "..." not in repro and "#" not in repro, repro
        command = repro.replace("Bearer ***", f"Bearer {token}")
        assert "***" not in command, repro
        proc = subprocess.run(
            ["bash", "-c", command + " -s -o /dev/null -w '%{http_code}' --max-time 60"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.stdout.strip() == seen_status(check["evidence"]), (check["id"], repro)
    oversized = next(c for c in failing if c["id"] == "errors.oversized-body")
    assert "--data-binary @artifacts/exchanges/" in oversized["repro"]
    file = shlex.split(oversized["repro"])[-1].removeprefix("@")
    sent = json.loads((tmp_path / file).read_bytes())  # the whole body, valid JSON
    assert len(sent["padding"]) == 2 * 1024 * 1024


@pytest.mark.slow
def test_without_artifacts_a_long_body_is_said_too_long_not_cut(
    faulty: tuple[Launched, str], tmp_path: Path
) -> None:
    server, token = faulty
    report = run_harness(server.url, token, tmp_path, "--exclude", "errors.connection-survives")
    oversized = next(c for c in report["checks"] if c["id"] == "errors.oversized-body")
    assert "too long to print: run with --artifacts DIR" in oversized["repro"]
    assert '"padding"' not in oversized["repro"]


def test_short_bodies_stay_inline_and_long_ones_are_never_cut() -> None:
    short = JsonResponse("threads.list", b'{"type": "threads.list"}', {}, "http://h/chatkit")
    assert curl_command(short).endswith("""--data-raw '{"type": "threads.list"}'""")
    body = json.dumps({"type": "threads.list", "padding": "x" * 4096}).encode()
    long = JsonResponse("threads.list", body, {}, "http://h/chatkit")
    assert "xxxx" not in curl_command(long)
    long.request_body_file = os.path.join("art", "exchanges", "0001-threads.list.request")
    assert curl_command(long).endswith("--data-binary @art/exchanges/0001-threads.list.request")
