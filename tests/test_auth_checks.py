"""The auth checks against the reference server: correct, broken, and configured like a real
deployment (trusting the test issuer on a fixed port, or trusting nothing of the harness).

Each run goes through the same engine as the CLI (``run_suite``) with ``--select 'auth.*'``.
Faults share a run where they do not interact (each breaks a different rule; ignore-kid
replaces the whole verifier, so it runs apart from the token-claim faults), which keeps the
file under a minute; tests/test_fault_matrix.py runs every fault on its own.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness.auth.issuer import TestIssuer, load_or_create_key
from harness.registry import load_catalogue
from harness.report.results import Outcome
from harness.target.launch import Launched, start_reference_server

pytestmark = pytest.mark.slow

AUTH = sorted(i for i in load_catalogue() if i.startswith("auth."))
NEEDS_ISSUER = {
    "auth.expired",
    "auth.not-yet-valid",
    "auth.wrong-audience",
    "auth.wrong-issuer",
    "auth.unknown-kid",
}
# Faults sharing one run: each relaxes a different rule, so each fails its own check only.
TOKEN_FAULTS = {
    "accept-alg-none": "auth.alg-none",
    "accept-expired": "auth.expired",
    "ignore-audience": "auth.wrong-audience",
}
DEPLOYMENT_FAULTS = {
    "ignore-kid": "auth.unknown-kid",
    "shared-threads": "auth.tenant-isolation",
    "trust-user-header": "auth.identity-header-spoof",
}
ISS, AUD, JWKS_PATH = "https://auth.example.test/", "chat-api", "/api/auth/jwks"
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")


def auth_run(options: Mapping[str, Any], faults: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """``run_suite`` in a child process: pytest inside this pytest would share its plugins'
    global state (pytest-playwright allows one assertion scope per process)."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(dict(options)), json.dumps(list(faults))],
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(lines[-1][len(MARK) :])
    assert not data["harness_error"], data["harness_error"]
    results = {r["id"]: r for r in data["results"]}
    assert sorted(results) == AUTH
    for r in results.values():
        assert r["outcome"] != Outcome.ERROR.value, (r["id"], r["message"])
        # No token ever reaches a result, not even a forged one (before any sink redacts).
        for name in ("message", "expected", "actual", "evidence", "repro"):
            assert not JWT_RE.search(r[name]), (r["id"], r[name][:300])
    return results


MARK = "@@auth-results "
CHILD = f"""
import json, sys
from harness.runner import pytest_args, run_suite
options, faults = json.loads(sys.argv[1]), json.loads(sys.argv[2])
run = run_suite(pytest_args(options, select=["auth.*"], faults=faults))
out = {{"harness_error": run.harness_error, "results": [r.to_json() for r in run.results]}}
print({MARK!r} + json.dumps(out))
"""


def failing(results: Mapping[str, dict[str, Any]]) -> set[str]:
    return {i for i, r in results.items() if r["outcome"] in ("fail", "warn")}


def outcome(results: Mapping[str, dict[str, Any]], check_id: str) -> str:
    return str(results[check_id]["outcome"])


@pytest.fixture(scope="module")
def bundled() -> dict[str, dict[str, dict[str, Any]]]:
    """The bundled server, correct and with the token faults: two independent runs at once."""
    runs = {"correct": (), "token faults": sorted(TOKEN_FAULTS)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(auth_run, {}, faults) for name, faults in runs.items()}
        return {name: f.result() for name, f in futures.items()}


def test_correct_bundled_server_passes_every_auth_check(
    bundled: dict[str, dict[str, dict[str, Any]]],
) -> None:
    results = bundled["correct"]
    assert {i: r["outcome"] for i, r in results.items()} == dict.fromkeys(AUTH, "pass")


def test_token_faults_fail_their_own_checks(bundled: dict[str, dict[str, dict[str, Any]]]) -> None:
    results = bundled["token faults"]
    assert failing(results) == set(TOKEN_FAULTS.values())
    alg_none = results["auth.alg-none"]
    assert "alg 'none'" in alg_none["actual"] and "accepted" in alg_none["actual"]
    assert "Bearer ***" in alg_none["repro"]
    assert "exp one hour ago: accepted" in results["auth.expired"]["actual"]


# -- a deployment configured like a real one ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Launched, int, Path]]:
    """A reference server trusting an issuer at a fixed 127.0.0.1 port, as docs/auth.md shows,
    with the seed's try-every-key verifier (ignore-kid), an unscoped store and X-User-ID
    overriding the token."""
    port = _free_port()
    key = tmp_path_factory.mktemp("issuer") / "issuer.pem"
    jwks = f"http://127.0.0.1:{port}{JWKS_PATH}"
    args = ["--db", ":memory:", "--jwks-url", jwks, "--issuer", ISS, "--audience", AUD]
    for fault in DEPLOYMENT_FAULTS:
        args += ["--fault", fault]
    server = start_reference_server(args)
    yield server, port, key
    server.stop()


def test_external_deployment_trusting_the_test_issuer(
    deployment: tuple[Launched, int, Path],
) -> None:
    server, port, key = deployment
    options = {
        "url": server.url,
        "issuer-port": port,
        "issuer-iss": ISS,
        "issuer-aud": AUD,
        "jwks-path": JWKS_PATH,
        "issuer-key": str(key),
        "issuer-claims": '{"role": "member", "email": "{sub}@acme.test"}',
    }
    results = auth_run(options)
    assert failing(results) == set(DEPLOYMENT_FAULTS.values())
    assert all(r["outcome"] in ("pass", "fail") for r in results.values())
    spoof = results["auth.identity-header-spoof"]
    assert "identity taken from an unverified header" in spoof["message"]
    assert "user B's thread" in spoof["actual"]
    assert "X-User-ID: bob" in spoof["repro"] and "Bearer ***" in spoof["repro"]
    isolation = results["auth.tenant-isolation"]["actual"]
    for verb in ("threads.list", "threads.get_by_id", "items.list", "threads.update"):
        assert verb in isolation


def test_external_deployment_without_a_trusted_issuer(
    deployment: tuple[Launched, int, Path],
) -> None:
    """Only the user's own tokens: the probes are forged from them; the rest is untestable."""
    server, port, key = deployment
    # The deployment's own identity provider (same key file, so the same kid either way).
    idp = TestIssuer(issuer=ISS, audience=AUD, jwks_path=JWKS_PATH, key=load_or_create_key(key))
    idp.start(port)
    try:
        options = {
            "url": server.url,
            "token": idp.mint("dana"),
            "token-b": idp.mint("erin"),
            "deployment-jwks": idp.jwks_url,
        }
        results = auth_run(options)
    finally:
        idp.stop()
    skipped = {i for i, r in results.items() if r["outcome"] == Outcome.SKIP.value}
    assert skipped == NEEDS_ISSUER
    for i in skipped:
        assert "--chatkit-issuer-port" in results[i]["message"]
    # Forged from dana's and erin's own tokens, the isolation and spoofing probes still work;
    # ignore-kid is real here too, but no probe without a trusted key can show it.
    assert failing(results) == {"auth.tenant-isolation", "auth.identity-header-spoof"}
    assert "X-User-ID: erin" in results["auth.identity-header-spoof"]["repro"]
    assert outcome(results, "auth.alg-confusion") == "pass"  # keyed from the deployment's JWKS
