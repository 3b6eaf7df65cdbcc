"""The auth checks against the reference server: correct, broken, and configured like real
deployments (trusting the test issuer on a fixed port, trusting only its own tokens, verifying
nothing at all), through the CLI as a user runs it (``chatkit-harness run --select 'auth.*'``).

Faults share a run where they do not interact (each breaks a different rule; ignore-kid
replaces the whole verifier, so it runs apart from the token-claim faults);
tests/test_fault_matrix.py runs every bundled fault on its own.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness.auth.issuer import TestIssuer, load_or_create_key
from harness.cli import build_parser
from harness.engine import hints
from harness.registry import load_catalogue
from harness.report.results import Outcome
from harness.target.launch import Launched, start_reference_server

AUTH = sorted(i for i in load_catalogue() if i.startswith("auth."))
NEEDS_ISSUER = {
    "auth.expired",
    "auth.not-yet-valid",
    "auth.wrong-audience",
    "auth.wrong-issuer",
    "auth.unknown-kid",
}
# Faults sharing one bundled run: each relaxes a different rule, so each fails its own check.
TOKEN_FAULTS = {
    "accept-alg-none": "auth.alg-none",
    "accept-expired": "auth.expired",
    "ignore-audience": "auth.wrong-audience",
    "shared-threads": "auth.tenant-isolation",
}
DEPLOYMENT_FAULTS = {
    "ignore-kid": "auth.unknown-kid",
    "trust-user-header": "auth.identity-header-spoof",
}
ISS, AUD, JWKS_PATH = "https://auth.example.test/", "chat-api", "/api/auth/jwks"
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")
OPTION_RE = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120.0  # a loaded CI machine starts a server slowly
NO_AUTH = ["--db", ":memory:", "--fault", "no-auth"]

Results = dict[str, dict[str, Any]]


def cli_run(tmp: Path, *args: str, artifacts: bool = False) -> Results:
    """``chatkit-harness run --plain --json F --select 'auth.*' ARGS`` in a subprocess."""
    out = tmp / f"auth-{os.urandom(4).hex()}.json"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--plain", "--json", str(out)]
    cmd += ["--select", "auth.*", *args]
    if artifacts:
        cmd += ["--artifacts", str(out.with_suffix(""))]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=400, env={**os.environ, "NO_COLOR": "1"}
    )
    assert proc.returncode in (0, 1) and out.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    results = {c["id"]: c for c in data["checks"]}
    assert sorted(results) == AUTH
    for r in results.values():
        assert r["outcome"] != Outcome.ERROR.value, (r["id"], r["message"])
        # No token ever reaches a result, not even a forged one.
        for name in ("message", "expected", "actual", "evidence", "repro"):
            assert not JWT_RE.search(r.get(name) or ""), (r["id"], r[name][:300])
    return results


def failing(results: Mapping[str, dict[str, Any]]) -> set[str]:
    return {i for i, r in results.items() if r["outcome"] in ("fail", "warn")}


def outcomes(results: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    return {i: str(r["outcome"]) for i, r in results.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth")


# -- hints name options the interface accepts (fast) -----------------------------------------


def test_hint_options_follow_the_interface() -> None:
    assert hints.option("token-b", interface=hints.CLI, env={}) == "--token-b"
    assert hints.option("token-b", interface=hints.PYTEST, env={}) == "--chatkit-token-b"
    assert hints.option("header", interface=hints.CLI, env={}) == "-H"
    assert hints.option("issuer-port", "PORT", interface=hints.CLI, env={}) == "--issuer-port PORT"
    configured = {"CHATKIT_URL": "http://127.0.0.1:1/chatkit"}
    assert hints.option("token-b", interface=hints.CLI, env=configured) == (
        "--token-b (or CHATKIT_TOKEN_B)"
    )
    with pytest.raises(KeyError):
        hints.option("chatkit-token-b")


# -- the bundled reference server ------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled(tmp: Path) -> dict[str, Results]:
    """Correct, and with the token faults: independent runs, two at a time."""
    runs: dict[str, list[str]] = {
        "correct": [],
        "token faults": [a for f in sorted(TOKEN_FAULTS) for a in ("--fault", f)],
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(cli_run, tmp, *args, artifacts=name == "correct")
            for name, args in runs.items()
        }
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.slow
def test_correct_bundled_server_passes_every_auth_check(bundled: dict[str, Results]) -> None:
    assert outcomes(bundled["correct"]) == dict.fromkeys(AUTH, "pass")


@pytest.mark.slow
def test_auth_checks_cost_few_model_turns(bundled: dict[str, Results], tmp: Path) -> None:
    """Shared controls: the whole auth area streams five replies on a correct server (the
    preflight's first turn, one control, and one own thread each for every-request-type,
    tenant-isolation and identity-header-spoof)."""
    (index,) = tmp.glob("auth-*/exchanges/index.jsonl")
    rows = [json.loads(line) for line in index.read_text().splitlines()]
    turns = [
        r
        for r in rows
        if r["request_type"] in ("threads.create", "threads.add_user_message")
        and r["status"] == 200
    ]
    assert len(turns) <= 5, [r["request_type"] for r in turns]
    assert len(rows) > 40  # every probe request is recorded, the refused ones too


@pytest.mark.slow
def test_token_faults_fail_their_own_checks(bundled: dict[str, Results]) -> None:
    results = bundled["token faults"]
    assert failing(results) == set(TOKEN_FAULTS.values())
    alg_none = results["auth.alg-none"]
    assert "alg 'none'" in alg_none["actual"] and "accepted" in alg_none["actual"]
    assert "Bearer ***" in alg_none["repro"]
    assert "exp one hour ago: accepted" in results["auth.expired"]["actual"]
    # One store shared by every user: the spoofing check names that root, not X-User-ID.
    spoof = results["auth.identity-header-spoof"]
    assert spoof["outcome"] == "blocked" and spoof["blocked_by"] == "auth.tenant-isolation"


def _trusting_server(tmp: Path, *faults: str) -> tuple[Launched, list[str]]:
    """A reference server trusting the test issuer on its own fixed port and kept key, and
    the options that point a run at it: several runs share it without a start-up each."""
    port = _free_port()
    key = tmp / f"issuer-{port}.pem"
    args = ["--db", ":memory:", "--jwks-url", f"http://127.0.0.1:{port}/.well-known/jwks.json"]
    args += ["--issuer", "chatkit-harness-test-issuer", "--audience", "chatkit"]
    for fault in faults:
        args += ["--fault", fault]
    server = start_reference_server(args, timeout=START_TIMEOUT)
    return server, ["--url", server.url, "--issuer-port", str(port), "--issuer-key", str(key)]


@pytest.mark.slow
def test_eventual_writes_change_no_auth_verdict(tmp: Path) -> None:
    """A store that writes 300 ms after the stream: five runs, each with the correct server's
    verdicts (A's thread is compared through settled items.list and threads.list reads)."""
    servers = [
        _trusting_server(tmp),
        _trusting_server(tmp, "eventual-writes"),
        _trusting_server(tmp, "eventual-writes"),
    ]
    try:
        (_, correct), (_, slow1), (_, slow2) = servers
        # One run at a time per server (each run serves the issuer on the server's port).
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(lambda: [cli_run(tmp, *a) for a in (correct, slow1, slow1)])
            second = pool.submit(lambda: [cli_run(tmp, *slow2) for _ in range(3)])
            want, *runs = first.result()
            runs += second.result()
    finally:
        for server, _ in servers:
            server.stop()
    assert outcomes(want) == dict.fromkeys(AUTH, "pass")
    assert len(runs) == 5
    for results in runs:
        assert outcomes(results) == outcomes(want)


# -- a deployment configured like a real one ---------------------------------------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Launched, int, Path]]:
    """A reference server trusting an issuer at a fixed 127.0.0.1 port, as docs/auth.md shows,
    with the seed's try-every-key verifier (ignore-kid) and X-User-ID overriding the token."""
    port = _free_port()
    key = tmp_path_factory.mktemp("issuer") / "issuer.pem"
    jwks = f"http://127.0.0.1:{port}{JWKS_PATH}"
    args = ["--db", ":memory:", "--jwks-url", jwks, "--issuer", ISS, "--audience", AUD]
    for fault in DEPLOYMENT_FAULTS:
        args += ["--fault", fault]
    server = start_reference_server(args, timeout=START_TIMEOUT)
    yield server, port, key
    server.stop()


@pytest.mark.slow
def test_external_deployment_trusting_the_test_issuer(
    deployment: tuple[Launched, int, Path], tmp: Path
) -> None:
    server, port, key = deployment
    results = cli_run(
        tmp,
        *("--url", server.url, "--issuer-port", str(port), "--issuer-iss", ISS),
        *("--issuer-aud", AUD, "--jwks-path", JWKS_PATH, "--issuer-key", str(key)),
        *("--issuer-claims", '{"role": "member", "email": "{sub}@acme.test"}'),
    )
    assert failing(results) == set(DEPLOYMENT_FAULTS.values())
    assert all(r["outcome"] in ("pass", "fail") for r in results.values())
    spoof = results["auth.identity-header-spoof"]
    assert "identity taken from an unverified header" in spoof["message"]
    assert "user B's thread" in spoof["actual"]
    assert "X-User-ID: bob" in spoof["repro"] and "Bearer ***" in spoof["repro"]


@pytest.mark.slow
def test_external_deployment_without_a_trusted_issuer(
    deployment: tuple[Launched, int, Path], tmp: Path
) -> None:
    """Only the user's own tokens: the probes are forged from them; the rest is untestable,
    with hints naming the CLI's options."""
    server, port, key = deployment
    # The deployment's own identity provider (same key file, so the same kid either way).
    idp = TestIssuer(issuer=ISS, audience=AUD, jwks_path=JWKS_PATH, key=load_or_create_key(key))
    idp.start(port)
    try:
        results = cli_run(
            tmp,
            *("--url", server.url, "--token", idp.mint("dana"), "--token-b", idp.mint("erin")),
            *("--deployment-jwks", idp.jwks_url),
        )
    finally:
        idp.stop()
    skipped = {i for i, r in results.items() if r["outcome"] == Outcome.SKIP.value}
    assert skipped == NEEDS_ISSUER
    for i in skipped:
        assert "--issuer-port" in results[i]["message"]
        assert "--chatkit-" not in results[i]["message"]
    # Forged from dana's and erin's own tokens the spoofing probe still works; ignore-kid is
    # real here too, but no probe without a trusted key can show it.
    assert failing(results) == {"auth.identity-header-spoof"}
    assert "X-User-ID: erin" in results["auth.identity-header-spoof"]["repro"]
    assert results["auth.alg-confusion"]["outcome"] == "pass"  # keyed from the deployment JWKS
    assert results["auth.embedded-key"]["outcome"] == "pass"


# -- a deployment that verifies nothing ------------------------------------------------------


@pytest.mark.slow
def test_a_deployment_without_auth_is_failed_not_skipped(tmp: Path) -> None:
    """no-auth, given only its URL: no token, no second user, no issuer. Every check that
    could not build its probe fails naming auth.missing-token; alg-none sends an unsigned
    token with invented claims; isolation runs with two callers who send nothing."""
    server = start_reference_server(
        ["--db", ":memory:", "--fault", "no-auth"], timeout=START_TIMEOUT
    )
    try:
        results = cli_run(tmp, "--url", server.url)
    finally:
        server.stop()
    must_fail = {
        "auth.missing-token",
        "auth.alg-none",
        "auth.expired",
        "auth.wrong-audience",
        "auth.unknown-kid",
        "auth.tenant-isolation",
    }
    assert must_fail <= failing(results)
    assert failing(results) == set(AUTH)
    for check_id in ("auth.expired", "auth.wrong-audience", "auth.unknown-kid"):
        message = results[check_id]["message"]
        assert "requests without a valid credential are served" in message
        assert "auth.missing-token" in message
    assert "alg 'none'" in results["auth.alg-none"]["actual"]
    for check_id in ("auth.identity-header-spoof", "auth.unverified-identity-header"):
        message = results[check_id]["message"]
        assert "auth.missing-token" in message and "identity taken from" not in message
    isolation = results["auth.tenant-isolation"]
    assert "share one store" in isolation["message"] and "threads.list" in isolation["actual"]


@pytest.mark.slow
def test_header_identity_given_with_h_is_said_and_pointed_at(tmp: Path) -> None:
    """-H 'X-User-ID: alice' rides on every probe: the missing-token label says so instead of
    claiming no identity header was sent. Per-user headers isolate, but only by an unverified
    header: tenant-isolation passes with that condition as its note."""
    server = start_reference_server(
        ["--db", ":memory:", "--fault", "no-auth"], timeout=START_TIMEOUT
    )
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            forced_f = pool.submit(cli_run, tmp, "--url", server.url, "-H", "X-User-ID: alice")
            per_user_f = pool.submit(
                cli_run,
                tmp,
                *("--url", server.url, "--user-headers-a", "X-User-ID: alice"),
                *("--user-headers-b", "X-User-ID: bob"),
            )
            forced, per_user = forced_f.result(), per_user_f.result()
    finally:
        server.stop()
    missing = forced["auth.missing-token"]
    assert "no identity header" not in missing["actual"]
    assert "X-User-ID: alice" in missing["actual"] and "X-User-ID: alice" in missing["repro"]
    assert "--user-headers-a" in missing["message"] and "-H" in missing["message"]
    isolation = per_user["auth.tenant-isolation"]
    assert isolation["outcome"] == "pass"
    assert "auth.unverified-identity-header" in isolation["message"]
    assert "alice" in isolation["message"] and "bob" in isolation["message"]


# -- a deployment that trusts only its own tokens --------------------------------------------


def _own_token(key: Path, sub: str) -> str:
    mint = ["--fault", "own-tokens-only", "--dev-key", str(key), "--dev-token", sub]
    proc = subprocess.run(
        [sys.executable, "-m", "reference_server", *mint],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip()


ISSUER_SIGNED = NEEDS_ISSUER | {
    "auth.alg-confusion",  # keyed with the issuer's public key (no --deployment-jwks)
    "auth.tenant-isolation",  # user B is the issuer's bob
    "auth.identity-header-spoof",
}


@pytest.mark.slow
def test_untrusted_issuer_blocks_every_issuer_signed_check(tmp: Path) -> None:
    """own-tokens-only with --issuer-port: the deployment never trusts the test issuer, so
    every check built on its tokens is blocked by it (never passed); the checks forged from
    the user's own token (which has no kid) run and pass."""
    key = tmp / "own-key.pem"
    server = start_reference_server(
        ["--db", ":memory:", "--fault", "own-tokens-only", "--dev-key", str(key)],
        timeout=START_TIMEOUT,
    )
    try:
        token = _own_token(key, "dana")
        results = cli_run(
            tmp, "--url", server.url, "--token", token, "--issuer-port", str(_free_port())
        )
    finally:
        server.stop()
    for check_id in ISSUER_SIGNED:
        r = results[check_id]
        assert r["outcome"] == "blocked", (check_id, r["outcome"], r["message"])
        assert r["blocked_by"] == "the test issuer"
        assert "does not trust the test issuer" in r["message"] and "HTTP 401" in r["message"]
    others = outcomes(results)
    assert {i: o for i, o in others.items() if i not in ISSUER_SIGNED} == dict.fromkeys(
        set(AUTH) - ISSUER_SIGNED, "pass"
    )


# -- hints name options the interface accepts (a real run) -----------------------------------


@pytest.fixture(scope="module")
def plain_server(tmp: Path) -> Iterator[tuple[str, str]]:
    """A correct reference server trusting its own dev issuer, and user A's dev token."""
    key = tmp / "dev-key.pem"
    server = start_reference_server(
        ["--db", ":memory:", "--dev-key", str(key)], timeout=START_TIMEOUT
    )
    token = subprocess.run(
        [sys.executable, "-m", "reference_server", "--dev-key", str(key), "--dev-token", "ann"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    yield server.url, token
    server.stop()


def _hinted(results: Results) -> list[tuple[str, str]]:
    """(check id, option) of every option named by a skip or blocked reason."""
    out = []
    for r in results.values():
        if r["outcome"] in ("skip-untestable", "blocked"):
            out += [(r["id"], opt) for opt in OPTION_RE.findall(r["message"])]
    return out


@pytest.mark.slow
def test_hints_name_options_the_cli_accepts(plain_server: tuple[str, str], tmp: Path) -> None:
    url, token = plain_server
    results = cli_run(tmp, "--url", url, "--token", token)
    named = _hinted(results)
    assert {o for _, o in named} >= {"--token-b", "--issuer-port", "--deployment-jwks"}
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    accepted = set(run._option_string_actions)
    assert [(i, o) for i, o in named if o not in accepted] == []


@pytest.mark.slow
def test_hints_name_options_pytest_accepts(plain_server: tuple[str, str], tmp: Path) -> None:
    """Plain pytest, configured through the environment as CI jobs often are."""
    url, token = plain_server
    out = tmp / "pytest-auth.json"
    env = {**os.environ, "CHATKIT_URL": url, "CHATKIT_TOKEN": token, "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "scenarios", "-q", "-p", "no:cacheprovider"]
    cmd += ["-p", "no:randomly", "--chatkit-select", "auth.*", "--chatkit-json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp, env=env)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    results = {c["id"]: c for c in json.loads(out.read_text())["checks"]}
    named = _hinted(results)
    assert {o for _, o in named} >= {"--chatkit-token-b", "--chatkit-issuer-port"}
    helptext = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
    ).stdout
    accepted = set(OPTION_RE.findall(helptext))
    assert [(i, o) for i, o in named if o not in accepted] == []
    skipped = [r["message"] for r in results.values() if r["outcome"] == "skip-untestable"]
    assert any("(or CHATKIT_TOKEN_B)" in m for m in skipped)


def test_runner_tells_the_plugin_it_is_the_cli() -> None:
    from harness.runner import pytest_args

    args = pytest_args({}, select=["auth.*"])
    assert args[args.index("--chatkit-interface") + 1] == hints.CLI
