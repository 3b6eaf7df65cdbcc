"""Authentication and isolation: bad credentials are refused before the stream, users stay apart.

Judgments only; the requests come from harness/probes/auth.py. Each token probe is a
threads.create with one bad credential, measured against a valid one on the same request in
the same round (user A's own credential, or a valid token of the test issuer for tokens it
signed): when the valid one is refused, the check is blocked, never passed. A deployment that
serves requests without any valid credential fails every token check it could not probe, with
auth.missing-token named as the root. Tokens come from the harness's test issuer when the
deployment trusts it (always for the bundled reference server; docs/auth.md), else they are
forged from user A's own JWT, else invented.

Sources: the seed's backend verifies with python-jose, ``jwt.decode(token, jwks,
algorithms=["RS256"])``, and its custom fetch sends ``'X-User-ID': userId`` beside the token.
"""

from __future__ import annotations

from harness.auth.probing import (
    REFUSED,
    USER,
    accepted,
    refers_to,
    refusal_problem,
    sent_credentials,
)
from harness.auth.verdicts import (
    B_ROOT,
    ISSUER_ROOT,
    REFUSAL,
    ROOT_OPEN,
    control_blocked,
    enable_b,
    enable_issuer,
    enable_jwt,
    enable_key,
    fail_open,
    judge,
    open_evidence,
    root_note,
    show,
)
from harness.engine.hints import option
from harness.engine.preconditions import CREATE, LIST_ITEMS, LIST_THREADS, describe, needs_thread
from harness.probes.auth import EveryType, Isolation, Probed, Spoof, changes
from harness.probes.conversation import page_ids
from harness.protocol.client import Exchange
from harness.registry import MUST, check
from harness.report.redact import curl_command
from harness.report.results import blocked, fail, note, untestable

RFC6750 = "RFC 6750 §3.1 (invalid_token: 401)"
RFC8725 = "RFC 8725 (JWT Best Current Practices)"
SEED_JOSE = "seed: JWT/JWKS Authentication (python-jose jwt.decode(token, jwks, ...))"
SEED_FETCH = "seed: Custom Fetch Interceptor ('X-User-ID': userId)"
BOLA = "OWASP API Security Top 10 2023 API1 (Broken Object Level Authorization)"
VERIFY_FIX = (
    "Verify every token with PyJWT against the JWKS: look the key up by kid (PyJWKClient), "
    "jwt.decode(token, key, algorithms=['RS256'], audience=AUD, issuer=ISS), and answer any "
    "failure with 401 before calling ChatKitServer.process()."
)
# Every token check reads the missing- and malformed-token probes too: they show whether the
# deployment verifies anything at all (the root of every token check it could not probe).
OPEN = ["auth-missing", "auth-malformed"]


def _open(evidence) -> object:
    return open_evidence(evidence["auth-missing"], evidence["auth-malformed"])


# -- missing and malformed credentials -----------------------------------------------------


def forced_note(ev: Probed) -> str:
    """An identity header given with -H rides on every request, probes included."""
    if not ev.forced:
        return ""
    names = ", ".join(f"{k}: {v}" for k, v in ev.forced.items())
    return (
        f"{names} was given with {option('header')}, which every request carries and no probe "
        f"can leave out; give it per user with {option('user-headers-a')}"
    )


@check(
    id="auth.missing-token",
    title="A request without any credential is refused with 401 before the stream",
    level=MUST,
    pitfall="The endpoint answers anonymous requests: anyone who finds the URL can run the "
    "agent on your model budget and read whatever the store hands an unknown user.",
    fix="Require the credential on every /chatkit request (a FastAPI dependency that raises "
    "HTTPException(401) when Authorization is absent) before ChatKitServer.process().",
    ref=f"{RFC6750}; seed Common Pitfalls: 'Auth headers missing'",
    probes=["auth-missing"],
)
def test_missing_token(evidence) -> None:
    ev: Probed = evidence["auth-missing"]
    rnd = ev.rounds[0]
    if not rnd.control.ok:
        control_blocked(rnd.control)
    t = rnd.tried[0]
    sent = sent_credentials(t.ex, ev.user_header)
    forced = forced_note(ev)
    problem = refusal_problem(t.ex)
    if problem:
        fail(
            "a request without any credential was not refused" + (f"; {forced}" if forced else ""),
            expected=REFUSAL,
            actual=f"{sent}: {problem}",
            evidence=show(t.ex, ev.secrets, t, label=sent),
            repro=curl_command(t.ex),
        )
    if forced:
        note(f"sent with {sent}; {forced}")


@check(
    id="auth.malformed-token",
    title="Malformed Authorization values are refused with 401, never a 500",
    level=MUST,
    pitfall="The token parser throws on garbage and the exception becomes a 500 (or is "
    "swallowed and the request goes through as nobody); the seed's "
    "authorization.replace('Bearer ', '') also takes 'Basic ...' for a token.",
    fix="Parse 'Bearer <token>' strictly and map every decode error (jwt.PyJWTError, "
    'ValueError) to 401 with WWW-Authenticate: Bearer error="invalid_token".',
    ref=f"{RFC6750}; RFC 7519 §7.2 (validating a JWT)",
    probes=OPEN,
)
def test_malformed_token(evidence) -> None:
    judge(
        evidence["auth-malformed"],
        message="a malformed Authorization header was not refused",
        need="",
        consequence="",
        open_=open_evidence(evidence["auth-missing"]),
    )


# -- forged signatures ------------------------------------------------------------------------


@check(
    id="auth.bad-signature",
    title="A token whose signature does not verify is refused",
    level=MUST,
    pitfall="The backend decodes the token without verifying it (jwt.decode with "
    "verify_signature=False, or get_unverified_claims), so anyone can edit 'sub' and be "
    "someone else.",
    fix=VERIFY_FIX,
    ref=f"{RFC8725} §3.1; RFC 7515 §5.2 (signature validation)",
    probes=["auth-bad-signature", *OPEN],
)
def test_bad_signature(evidence) -> None:
    judge(
        evidence["auth-bad-signature"],
        message="a token with a broken signature was accepted",
        need=f"needs a JWT to tamper with: {enable_jwt()}",
        consequence="a token whose signature does not verify is served too",
        open_=_open(evidence),  # type: ignore[arg-type]
    )


@check(
    id="auth.alg-none",
    title="An unsigned token (alg none, in any spelling) is refused",
    level=MUST,
    pitfall="The verifier takes the algorithm from the token's own header; 'alg: none' "
    "(or 'None', 'NONE') makes the signature optional and anyone can mint any user.",
    fix="Pass an explicit allow-list, jwt.decode(..., algorithms=['RS256']), never the "
    "token's own alg; do not accept 'none' in any case.",
    ref=f"{RFC8725} §2.1, §3.1; RFC 7518 §3.6",
    probes=["auth-alg-none", *OPEN],
)
def test_alg_none(evidence) -> None:
    judge(
        evidence["auth-alg-none"],
        message="an unsigned alg=none token was accepted",
        need=f"needs claims the deployment accepts: {enable_jwt()}",
        consequence="an unsigned token is served too",
        open_=_open(evidence),  # type: ignore[arg-type]
    )


@check(
    id="auth.alg-confusion",
    title="An HS256 token keyed with the RSA public key is refused",
    level=MUST,
    pitfall="A verifier that lets the token pick the algorithm uses the RSA public key (which "
    "anyone can fetch from the JWKS) as an HMAC secret, so anyone can sign tokens.",
    fix="Fix the algorithms per key: jwt.decode(token, rsa_key, algorithms=['RS256']); never "
    "list HS256 beside RS256 for the same key material.",
    ref=f"{RFC8725} §2.1, §3.1 (algorithm verification); CVE-2015-9235",
    probes=["auth-alg-confusion", *OPEN],
)
def test_alg_confusion(evidence) -> None:
    ev: Probed = evidence["auth-alg-confusion"]
    why = ev.extra.get("fetch_problem") or ""
    judge(
        ev,
        message="an HS256 token signed with the public key was accepted",
        need=f"needs the RSA public key the deployment verifies with{f' ({why})' if why else ''}: "
        f"{enable_key()}",
        consequence="an HS256 token keyed with a public key is served too",
        open_=_open(evidence),  # type: ignore[arg-type]
    )


# -- validly signed, wrong claims (need the test issuer) ---------------------------------------

NEED_ISSUER = "needs validly signed tokens the deployment trusts: "


def _issuer_check(evidence, check_id: str, message: str, consequence: str) -> None:
    judge(
        evidence["auth-issuer-tokens"],
        message=message,
        need=NEED_ISSUER + enable_issuer(),
        consequence=consequence,
        open_=_open(evidence),  # type: ignore[arg-type]
        group=check_id,
    )


@check(
    id="auth.expired",
    title="An expired token is refused",
    level=MUST,
    pitfall="exp is not checked (verify_exp off, or a hand-rolled check), so a leaked or "
    "logged-out token works forever.",
    fix="Keep exp verification on and require the claim: jwt.decode(..., "
    "options={'require': ['exp', 'sub']}, leeway=a few seconds).",
    ref="RFC 7519 §4.1.4",
    probes=["auth-issuer-tokens", *OPEN],
)
def test_expired(evidence) -> None:
    _issuer_check(
        evidence, "auth.expired", "an expired token was accepted", "an expired token is served too"
    )


@check(
    id="auth.not-yet-valid",
    title="A token that is not valid yet (nbf in the future) is refused",
    level=MUST,
    pitfall="nbf is ignored, so tokens minted for later (or by a skewed clock) work now.",
    fix="Keep PyJWT's nbf and iat verification on (the default) with a small leeway.",
    ref="RFC 7519 §4.1.5",
    probes=["auth-issuer-tokens", *OPEN],
)
def test_not_yet_valid(evidence) -> None:
    _issuer_check(
        evidence,
        "auth.not-yet-valid",
        "a token that is not valid yet was accepted",
        "a token that is not valid yet is served too",
    )


@check(
    id="auth.wrong-audience",
    title="A token issued for another audience is refused",
    level=MUST,
    pitfall="aud is not checked, so a token your identity provider issued for any other app "
    "(or API) opens this one too.",
    fix="Pass audience=<this API's audience> to jwt.decode (python-jose and PyJWT then "
    "refuse other audiences).",
    ref=f"RFC 7519 §4.1.3; {RFC8725} §3.9",
    probes=["auth-issuer-tokens", *OPEN],
)
def test_wrong_audience(evidence) -> None:
    _issuer_check(
        evidence,
        "auth.wrong-audience",
        "a token for another audience was accepted",
        "a token for another audience is served too",
    )


@check(
    id="auth.wrong-issuer",
    title="A token naming another issuer is refused",
    level=MUST,
    pitfall="iss is not checked, so when keys are shared or fetched per token, any issuer's "
    "tokens are taken.",
    fix="Pass issuer=<your issuer> to jwt.decode.",
    ref=f"RFC 7519 §4.1.1; {RFC8725} §3.8",
    probes=["auth-issuer-tokens", *OPEN],
)
def test_wrong_issuer(evidence) -> None:
    _issuer_check(
        evidence,
        "auth.wrong-issuer",
        "a token from another issuer was accepted",
        "a token from another issuer is served too",
    )


@check(
    id="auth.unknown-kid",
    title="A token whose kid is not in the JWKS is refused, whatever key signed it",
    level=MUST,
    pitfall="The seed's python-jose jwt.decode(token, jwks, algorithms=['RS256']) tries every "
    "key in the set and ignores the kid: a revoked or rotated-out kid keeps working.",
    fix="Select the key by kid (PyJWKClient(jwks_url).get_signing_key_from_jwt(token)) and "
    "refuse a kid the JWKS does not publish.",
    ref=f"RFC 7515 §4.1.4 (kid); {SEED_JOSE}",
    probes=["auth-issuer-tokens", *OPEN],
)
def test_unknown_kid(evidence) -> None:
    _issuer_check(
        evidence,
        "auth.unknown-kid",
        "a token with an unknown kid was accepted",
        "a token with an unknown kid is served too",
    )


@check(
    id="auth.embedded-key",
    title="A token that carries its own key (jwk header) or key URL (jku header) is refused",
    level=MUST,
    pitfall="The verifier trusts a key named by the token itself (jwk, jku, x5u, x5c), so "
    "anyone signs with their own key; following jku also lets tokens make the server fetch "
    "arbitrary URLs.",
    fix="Take keys only from your configured JWKS; refuse tokens with jwk/jku/x5u/x5c headers "
    "and never fetch a URL named by a token.",
    ref=f"RFC 7515 §4.1.2, §4.1.3; {RFC8725} §3.10",
    probes=["auth-embedded-key", *OPEN],
)
def test_embedded_key(evidence) -> None:
    ev: Probed = evidence["auth-embedded-key"]
    judge(
        ev,
        message="a token carrying its own key was accepted",
        need=f"needs claims the deployment accepts: {enable_jwt()}",
        consequence="a token signed by a key it names itself is served too",
        open_=_open(evidence),  # type: ignore[arg-type]
    )
    fetches = int(ev.extra.get("jku_fetches") or 0)
    if fetches:
        fail(
            "the deployment fetched the key URL named by the token's jku header",
            expected="no request to the jku URL (it comes from the attacker)",
            actual=f"{fetches} GET {ev.extra.get('jku_url')}",
        )


# -- every request type ------------------------------------------------------------------------


@check(
    id="auth.every-request-type",
    title="Every request type, streaming or JSON, refuses a missing or bad credential",
    level=MUST,
    pitfall="Auth sits in front of the streaming path only (or only threads.create), so "
    "threads.list, items.list, threads.update or threads.delete answer anyone.",
    fix="Authenticate once for the whole /chatkit endpoint, before the request type is "
    "looked at, and scope every Store call to the authenticated user.",
    ref=f"{RFC6750}; openai-chatkit 1.6.5 chatkit/server.py (one endpoint, many request types)",
    probes=["auth-every-request-type", "auth-missing"],
)
def test_every_request_type(evidence) -> None:
    ev: EveryType = evidence["auth-every-request-type"]
    tid = needs_thread(ev.created, CREATE, "user A's own threads.create")
    assert ev.before is not None and ev.after is not None
    if ev.before.items.status != 200:
        blocked(LIST_ITEMS, f"items.list of user A's own thread {describe(ev.before.items)}")
    open_ = open_evidence(evidence["auth-missing"])
    bad = [(type_, t, p) for type_, t in ev.tried if (p := refusal_problem(t.ex))]
    if bad:
        _, first, _ = bad[0]
        fail(
            f"{len({b[0] for b in bad})} request types do not refuse bad credentials"
            + root_note(open_),
            expected="HTTP 401/403 before any stream byte for every request type",
            actual="; ".join(f"{t} with {p.label}: {problem}" for t, p, problem in bad[:8]),
            evidence=show(first.ex, ev.secrets, first),
            repro=curl_command(first.ex),
        )
    changed = changes(ev.before, ev.after, tid)
    if changed:
        fail(
            "user A's thread changed although every probe was refused",
            expected="the same items and title as before (items.list and threads.list as A)",
            actual=changed,
            evidence=show(ev.after.items, ev.secrets),
        )


# -- identity from headers -----------------------------------------------------------------


@check(
    id="auth.unverified-identity-header",
    title="A plain identity header (X-User-ID) without a credential is refused",
    level=MUST,
    pitfall="Identity taken from an unverified header: the seed's custom fetch sends "
    "'X-User-ID': userId and backends key the store on it, so anyone can be anyone by "
    "typing a user id.",
    fix="Derive the user from a verified credential (the token's sub, or a server-side "
    "session); if a trusted proxy sets X-User-ID, strip the client's copy at that proxy and "
    "never expose the backend directly.",
    ref=f"{SEED_FETCH}; OWASP API Security Top 10 2023 API2 (Broken Authentication)",
    probes=["auth-identity-header", "auth-missing"],
)
def test_unverified_identity_header(evidence) -> None:
    ev: Probed = evidence["auth-identity-header"]
    rnd = ev.rounds[0]
    if not rnd.control.ok:
        control_blocked(rnd.control)
    t = rnd.tried[0]
    problem = refusal_problem(t.ex)
    if not problem:
        return
    label = sent_credentials(t.ex, ev.user_header)
    open_ = open_evidence(evidence["auth-missing"], without_header=ev.user_header)
    if open_ is not None:
        # Not a header diagnosis: a request with nothing at all is served as well.
        message = f"{ROOT_OPEN}, so a request with only {ev.user_header} is served too"
    else:
        message = (
            f"identity taken from an unverified header: a request with only {ev.user_header} "
            "was served"
        )
    fail(
        message,
        expected=REFUSAL,
        actual=f"{label}: {problem}",
        evidence=show(t.ex, ev.secrets, t, label=label),
        repro=curl_command(t.ex),
    )


def _b_blocked(signer: str, ex, what: str) -> None:
    """B's own request must work before anything B does means something."""
    if ex is None or (ex.status == 200 and not ex.transport_error):
        return
    if ex.status in REFUSED:
        if signer != USER:
            blocked(
                ISSUER_ROOT,
                "the deployment does not trust the test issuer (user B's issuer token got "
                f"HTTP {ex.status})",
            )
        blocked(B_ROOT, f"user B's own {what} got HTTP {ex.status}")


@check(
    id="auth.identity-header-spoof",
    title="An X-User-ID naming another user changes nothing: 403, or the request acts as "
    "the token's user",
    level=MUST,
    pitfall="The backend lets a plain X-User-ID header override the verified token (the "
    "seed's custom fetch sends both), so any logged-in user reads and writes anyone's "
    "threads by changing one header.",
    fix="Take the user id from the verified token only; ignore X-User-ID or refuse a request "
    "whose X-User-ID differs from the token's subject with 403.",
    ref=f"{SEED_FETCH}; {BOLA}",
    probes=["auth-spoof", "auth-missing"],
)
def test_identity_header_spoof(evidence) -> None:
    ev: Spoof = evidence["auth-spoof"]
    missing: Probed = evidence["auth-missing"]
    h = missing.user_header
    open_ = open_evidence(missing, without_header=h)
    consequence = f"{h} alone decides who the caller is"
    if ev.missing:
        if open_ is not None:
            fail_open(open_, ev.secrets, consequence)
        if ev.missing == "b":
            untestable(f"needs a second user: {enable_b()}")
        if ev.missing == "verified-a":
            untestable(
                "user A is identified only by plain headers, so there is no verified identity "
                "to override (auth.unverified-identity-header reports that); pass "
                + option("token")
            )
        untestable(
            f"needs user B's id as {h} would carry it: a JWT with a sub for B, "
            f"{option('user-headers-b')} '{h}: <id>', or {enable_issuer()}"
        )
    _b_blocked(ev.b_signer, ev.b_thread, "threads.create")
    tb = needs_thread(ev.b_thread, CREATE, "user B's own threads.create")
    if (ev.a_listed is not None and tb in page_ids(ev.a_listed)) or (
        ev.a_got is not None and refers_to(ev.a_got, tb)
    ):
        if open_ is not None:  # the deeper root: nobody's identity is verified at all
            fail_open(open_, ev.secrets, consequence)
        blocked(
            "auth.tenant-isolation",
            f"user A sees user B's thread without any {h}: one store is shared by every user",
        )
    problems: list[tuple[str, Exchange]] = []
    if ev.listed is not None and ev.listed.status == 200 and tb in page_ids(ev.listed):
        problems.append((f"threads.list shows user B's thread {tb}", ev.listed))
    if ev.got is not None and refers_to(ev.got, tb):
        problems.append((f"threads.get_by_id returns user B's thread {tb}", ev.got))
    created = ev.created
    if created is not None and created.status == 200 and created.thread_id:
        if ev.created_for_b:
            problems.append((f"threads.create made thread {created.thread_id} for user B", created))
        elif not ev.created_for_a:
            problems.append(
                (
                    f"threads.create made thread {created.thread_id} for neither A nor B (for "
                    "the header's user, not the token's)",
                    created,
                )
            )
    if problems:
        _, ex = problems[0]
        message = (
            f"{ROOT_OPEN}, so {consequence}"
            if open_ is not None
            else f"identity taken from an unverified header: {h} overrides the token"
        )
        spoofed = ", ".join(
            f"{k}: {v}" for k, v in ev.spoof_headers.items() if k.lower() == h.lower()
        )
        fail(
            message,
            expected="HTTP 403, or every request acting as the token's user",
            actual="; ".join(p for p, _ in problems),
            evidence=show(ex, ev.secrets, label=f"user A's credential with {spoofed}"),
            repro=curl_command(ex),
        )


# -- isolation -----------------------------------------------------------------------------


@check(
    id="auth.tenant-isolation",
    title="User B can neither list, read, list items of, post to, rename nor delete user A's "
    "thread",
    level=MUST,
    pitfall="The store is not scoped by user (load_thread(thread_id) without the user), so "
    "anyone who learns a thread id reads and changes someone else's conversation.",
    fix="Scope every Store method by context.user_id (WHERE thread_id = ? AND user_id = ?) "
    "and answer another user's thread with 404.",
    ref=f"{BOLA}; openai-chatkit 1.6.5 chatkit/store.py (every method takes the request context)",
    probes=["auth-isolation", "auth-identity-header", "auth-missing"],
)
def test_tenant_isolation(evidence) -> None:
    ev: Isolation = evidence["auth-isolation"]
    open_ = open_evidence(evidence["auth-missing"])
    if not ev.b_kind:
        untestable(f"needs a second user: {enable_b()}")
    control = ev.b_control
    assert control is not None
    _b_blocked(ev.b_signer, control, "threads.list")
    if control.status != 200:
        blocked(LIST_THREADS, f"user B's own threads.list {describe(control)}")
    ta = needs_thread(ev.created, CREATE, "user A's own threads.create")
    assert ev.before is not None and ev.after is not None
    if ev.before.items.status != 200:
        blocked(LIST_ITEMS, f"items.list of user A's own thread {describe(ev.before.items)}")
    problems: list[tuple[str, Exchange]] = []
    for what, ex in ev.attempts:
        # B reached A's thread: A's message came back, or the answer is about A's thread.
        # Other answers (4xx, even 5xx or a 200 about something else) are not leaks; errors.*
        # judge status codes, and A's thread is compared before and after to catch a write
        # hidden behind any answer.
        body = getattr(ex, "body", b"")
        text = body[:500_000].decode("utf-8", "replace") if isinstance(body, bytes) else ""
        if what == "threads.list":
            if ta in page_ids(ex) or ev.canary in text:  # type: ignore[arg-type]
                problems.append((f"threads.list as B shows A's thread {ta}", ex))
        elif ev.canary in text:
            problems.append((f"{what}: the reply holds A's message", ex))
        elif refers_to(ex, ta):
            problems.append((f"{what}: served on A's thread (HTTP {ex.status})", ex))
    changed = changes(ev.before, ev.after, ta)
    if changed:
        problems.append((f"A's thread changed: {changed}", ev.after.items))
    if problems:
        _, ex = problems[0]
        if ev.b_kind == "synthetic":
            message = (
                "two callers without any credential share one store: the second reached the "
                f"first one's thread ({ROOT_OPEN})"
            )
            who = "a second caller without any credential"
        else:
            message = "user B reached user A's thread" + root_note(open_)
            who = "user B's own valid credential"
        fail(
            message,
            expected="a refusal (404 or 403) for every request B makes on A's thread, and A's "
            "thread unchanged",
            actual="; ".join(p for p, _ in problems),
            evidence=show(ex, ev.secrets, label=who),
            repro=curl_command(ex),
        )
    header: Probed = evidence["auth-identity-header"]
    plain_served = any(accepted(t.ex) for t in header.tried())
    if ev.a_ident and ev.b_ident and ev.a_ident != ev.b_ident and plain_served:
        note(
            f"isolation holds only because A and B send different {header.user_header} values "
            f"({ev.a_ident}, {ev.b_ident}), which the deployment does not verify: see "
            "auth.unverified-identity-header"
        )
