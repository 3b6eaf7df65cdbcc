"""Judging auth evidence: a round's control first, then its bad credentials; roots named.

Pure functions over what harness/probes/auth.py recorded. The order of questions is fixed:

1. Could a probe be built at all? If not and the deployment serves requests without any valid
   credential (the missing-token or malformed-token probe was accepted), the check fails with
   that root named: a deployment that verifies nothing is failed, not skipped. Otherwise it is
   skip-untestable with the option that enables it.
2. Did the round's control work (the valid credential, same request)? If not, the check is
   blocked: by the test issuer when a valid issuer token was refused, by user A's credential
   when A's unmodified token was, by protocol.create-order when the request itself broke.
3. Was every bad credential refused (401/403 before any stream byte)?
"""

from __future__ import annotations

from typing import NoReturn

from harness.auth.probing import NOBODY, REFUSED, accepted, refusal_problem
from harness.engine.expect import evidence_of
from harness.engine.hints import option
from harness.engine.preconditions import CREATE, MISSING_TOKEN, describe
from harness.probes.auth import NOT_A_JWT, Control, Probed, Tried
from harness.protocol.client import Exchange
from harness.report.redact import curl_command, redact_text
from harness.report.results import blocked, fail, note, untestable

ISSUER_ROOT = "the test issuer"
A_ROOT = "user A's credential"
B_ROOT = "user B's credential"
ROOT_OPEN = f"requests without a valid credential are served: see {MISSING_TOKEN}"
REFUSAL = "HTTP 401 (or 403) before any stream byte, for every probe"


# -- what to pass to make a skipped check run (rendered for the interface in use) ------------


def enable_issuer() -> str:
    return (
        "serve the harness's test issuer to a deployment that trusts it "
        f"({option('issuer-port', 'PORT')}, see docs/auth.md)"
    )


def enable_jwt() -> str:
    return f"pass user A's JWT ({option('token')}) or {enable_issuer()}"


def enable_key() -> str:
    keys = option("deployment-jwks", "URL")
    return f"give the deployment's public keys ({keys}) or {enable_issuer()}"


def enable_b() -> str:
    return (
        f"give a second user ({option('token-b')}, or {option('user-headers-b')} for "
        f"header-identified deployments) or {enable_issuer()}"
    )


# -- evidence text -----------------------------------------------------------------------------


def show(ex: Exchange, secrets: list[str], tried: Tried | None = None, label: str = "") -> str:
    import json

    lines = []
    if label or tried is not None:
        lines.append(f"probe: {label or (tried.label if tried else '')}")
    if tried is not None and tried.token_header is not None:
        lines.append(f"token header: {json.dumps(dict(tried.token_header))[:300]}")
    lines.append(evidence_of(ex))
    return redact_text("\n".join(lines), secrets)


# -- the root of an open deployment ------------------------------------------------------------


def open_evidence(
    missing: Probed, malformed: Probed | None = None, *, without_header: str | None = None
) -> Tried | None:
    """The request without a valid credential that was served, if one was.

    ``without_header``: only a request that did not carry this identity header counts (when
    it did, the header may be what got it served: that is another check's diagnosis)."""
    candidates = list(missing.tried())
    if malformed is not None:
        candidates += [t for t in malformed.tried() if t.label == NOT_A_JWT]
    for t in candidates:
        if without_header and any(
            k.lower() == without_header.lower() for k in t.ex.request_headers
        ):
            continue
        if accepted(t.ex):
            return t
    return None


def fail_open(open_: Tried, secrets: list[str], consequence: str) -> NoReturn:
    fail(
        f"{ROOT_OPEN}, so {consequence}",
        expected="HTTP 401 for a request without a valid credential",
        actual=f"{open_.label}: {refusal_problem(open_.ex)}",
        evidence=show(open_.ex, secrets, open_),
        repro=curl_command(open_.ex),
    )


def root_note(open_: Tried | None) -> str:
    return f" ({ROOT_OPEN.replace(' are served', ' are served too')})" if open_ else ""


# -- controls ----------------------------------------------------------------------------------


def control_blocked(control: Control) -> NoReturn:
    rec = control.rec
    assert rec is not None
    if control.signer == "issuer":
        if rec.status in REFUSED:
            blocked(
                ISSUER_ROOT,
                "the deployment does not trust the test issuer (a valid issuer token got "
                f"HTTP {rec.status})",
            )
        blocked(
            ISSUER_ROOT,
            f"a valid token of the test issuer: threads.create {describe(rec)}, so a refusal of "
            "a bad one proves nothing",
        )
    if rec.status in REFUSED:
        blocked(
            A_ROOT,
            f"user A's unmodified credential got HTTP {rec.status} in the same round, so a "
            "refusal of a forged one proves nothing",
        )
    blocked(CREATE, f"the control threads.create with user A's credential {describe(rec)}")


# -- a token check -----------------------------------------------------------------------------


def judge(
    probed: Probed,
    *,
    message: str,
    need: str,
    consequence: str,
    open_: Tried | None = None,
    group: str | None = None,
) -> None:
    """The common verdict of a token check (see the module docstring)."""
    if not probed.rounds:
        if open_ is not None:
            fail_open(open_, probed.secrets, consequence)
        untestable(need)
    usable = [r for r in probed.rounds if r.control.ok]
    if not usable:
        control_blocked(probed.rounds[0].control)
    tried = [t for r in usable for t in r.tried if group is None or t.group == group]
    bad = [(t, problem) for t in tried if (problem := refusal_problem(t.ex))]
    if bad:
        first, _ = bad[0]
        fail(
            message + root_note(open_),
            expected=REFUSAL,
            actual="; ".join(f"{t.label}: {problem}" for t, problem in bad),
            evidence=show(first.ex, probed.secrets, first),
            repro=curl_command(first.ex),
        )
    if all(r.control.signer == NOBODY for r in usable) and open_ is None:
        # Invented claims refused by a deployment that refuses everything unknown: no proof.
        untestable(need)
    left_out = [r.control for r in probed.rounds if not r.control.ok]
    if left_out:
        note(
            f"judged on the probes measured against {usable[0].control.label}; those measured "
            f"against {left_out[0].label} were not sent (it was refused: "
            f"{describe(left_out[0].rec)})"
        )
