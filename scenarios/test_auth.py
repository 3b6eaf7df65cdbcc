"""Authentication and isolation: bad credentials are refused before the stream, users stay apart.

Each token check sends threads.create with one bad credential (the probe), expects HTTP 401/403
before any stream byte, then sends the same request as user A (the control), which must work.
Tokens come from the harness's test issuer when the deployment trusts it (always for the bundled
reference server, ``--chatkit-issuer-port`` for others; docs/auth.md), else they are forged from
user A's own JWT where no trusted key is needed; what cannot be built is skip-untestable.

Sources: the seed's backend verifies with python-jose, ``jwt.decode(token, jwks,
algorithms=["RS256"])``, and its custom fetch sends ``'X-User-ID': userId`` beside the token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from harness.auth.issuer import ATTACKER_PATH, TestIssuer
from harness.auth.probing import (
    ENABLE_B,
    ENABLE_ISSUER,
    ENABLE_JWT,
    ENABLE_KEY,
    AuthSetup,
    Probe,
    build_setup,
    refers_to,
    refusal_problem,
)
from harness.engine.expect import json_ok, stream_ok
from harness.protocol.client import (
    STREAMING_TYPES,
    Exchange,
    JsonResponse,
    RecordedStream,
    user_input,
)
from harness.registry import MUST, check
from harness.report.artifacts import exchange_observers
from harness.report.redact import curl_command
from harness.report.results import fail, untestable
from harness.target.config import Identity, Target

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


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def auth_setup(
    request: pytest.FixtureRequest, chatkit_target: Target
) -> AsyncIterator[AuthSetup]:
    trusted = chatkit_target.bundled or chatkit_target.issuer_port is not None
    issuer: TestIssuer | None = request.getfixturevalue("chatkit_issuer") if trusted else None
    helper = None
    if issuer is None:
        # Nothing trusts this one; it only serves the attacker key set a jku token names.
        helper = TestIssuer()
        helper.start()
    setup = build_setup(chatkit_target, issuer, helper)
    setup.client.on_exchange = exchange_observers(request.config)  # probes in the reports
    setup.preflight = await setup.json("threads.list", {"limit": 1, "order": "desc"}, setup.a)
    if setup.b is not None:
        setup.preflight_b = await setup.json("threads.list", {"limit": 1, "order": "desc"}, setup.b)
    try:
        yield setup
    finally:
        await setup.cleanup()
        await setup.client.aclose()
        if helper is not None:
            helper.stop()


# -- preconditions -------------------------------------------------------------------------


def require_a(s: AuthSetup) -> None:
    """User A's valid request works; otherwise no refusal means anything."""
    pre = s.preflight
    if pre is not None and pre.status == 200:
        return
    status = f"HTTP {pre.status or pre.transport_error}" if pre else "not tried"
    hint = ""
    if s.issuer is not None and not s.target.bundled and not s.issuer.fetched(s.issuer.jwks_path):
        hint = (
            f"; the deployment never fetched {s.issuer.jwks_url}, so it does not trust the "
            "test issuer yet (docs/auth.md)"
        )
    untestable(
        f"user A's valid request (threads.list) is refused ({status}), so a refusal of a bad "
        f"credential proves nothing; give a credential the deployment accepts{hint}"
    )


def require_b(s: AuthSetup) -> Identity:
    if s.b is None:
        untestable(f"needs a second user: {ENABLE_B}")
    pre = s.preflight_b
    if pre is None or pre.status != 200:
        status = f"HTTP {pre.status or pre.transport_error}" if pre else "not tried"
        untestable(f"user B's valid request (threads.list) is refused ({status}): {ENABLE_B}")
    return s.b


def require_issuer(s: AuthSetup) -> TestIssuer:
    if s.issuer is None:
        untestable(f"needs validly signed tokens the deployment trusts: {ENABLE_ISSUER}")
    return s.issuer


def ids_of(resp: JsonResponse) -> list[str]:
    data = resp.json
    rows = data.get("data", []) if isinstance(data, dict) else []
    return [str(t.get("id")) for t in rows if isinstance(t, dict)]


async def thread_of(s: AuthSetup, who: Identity, text: str) -> tuple[str, RecordedStream]:
    rec = stream_ok(
        await s.stream(s.client.body("threads.create", {"input": user_input(text)}), who)
    )
    tid = rec.thread_id
    if not tid:
        fail("threads.create gave no thread id", evidence=s.evidence(rec))
    return tid, rec


# -- missing and malformed credentials -----------------------------------------------------


@check(
    id="auth.missing-token",
    title="A request without any credential is refused with 401 before the stream",
    level=MUST,
    pitfall="The endpoint answers anonymous requests: anyone who finds the URL can run the "
    "agent on your model budget and read whatever the store hands an unknown user.",
    fix="Require the credential on every /chatkit request (a FastAPI dependency that raises "
    "HTTPException(401) when Authorization is absent) before ChatKitServer.process().",
    ref=f"{RFC6750}; seed Common Pitfalls: 'Auth headers missing'",
)
async def test_missing_token(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    await s.expect_refused(
        [Probe("no Authorization header, no cookie, no identity header", s.no_identity())],
        message="a request without any credential was not refused",
    )


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
)
async def test_malformed_token(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    values = [
        ("'Bearer' with no token", "Bearer"),
        ("a token that is not a JWT", "Bearer not-a-jwt"),
        ("three segments of garbage", "Bearer abc.def.ghi"),
        ("a JWT with its signature segment missing", "Bearer eyJhbGciOiJSUzI1NiJ9.e30"),
        ("the Basic scheme", "Basic Y2hhdGtpdDpoYXJuZXNz"),
    ]
    probes = [Probe(label, s.with_authorization(value, label)) for label, value in values]
    await s.expect_refused(probes, message="a malformed Authorization header was not refused")


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
)
async def test_bad_signature(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    tokens = s.bad_signature_tokens()
    if not tokens:
        untestable(f"needs a JWT to tamper with: {ENABLE_JWT}")
    await s.expect_refused(
        [s.bearer(token, label) for label, token in tokens],
        message="a token with a broken signature was accepted",
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
)
async def test_alg_none(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    probes = []
    for alg in ("none", "None", "NONE", "nOnE"):
        token = s.forge_unsigned(alg)
        if token is None:
            untestable(f"needs claims the deployment accepts: {ENABLE_JWT}")
        probes.append(s.bearer(token, f"alg {alg!r}, empty signature"))
    await s.expect_refused(probes, message="an unsigned alg=none token was accepted")


@check(
    id="auth.alg-confusion",
    title="An HS256 token keyed with the RSA public key is refused",
    level=MUST,
    pitfall="A verifier that lets the token pick the algorithm uses the RSA public key (which "
    "anyone can fetch from the JWKS) as an HMAC secret, so anyone can sign tokens.",
    fix="Fix the algorithms per key: jwt.decode(token, rsa_key, algorithms=['RS256']); never "
    "list HS256 beside RS256 for the same key material.",
    ref=f"{RFC8725} §2.1, §3.1 (algorithm verification); CVE-2015-9235",
)
async def test_alg_confusion(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    keys = await s.confusion_keys()
    if not keys:
        untestable(f"needs the RSA public key the deployment verifies with: {ENABLE_KEY}")
    probes = []
    for kid, pem in keys:
        for secret, how in ((pem, "PEM"), (pem.rstrip(b"\n"), "PEM without final newline")):
            token = s.forge_hs256(kid, secret)
            if token is None:
                untestable(f"needs claims the deployment accepts: {ENABLE_JWT}")
            probes.append(s.bearer(token, f"HS256 keyed with the public key of {kid!r} ({how})"))
    await s.expect_refused(probes, message="an HS256 token signed with the public key was accepted")


# -- validly signed, wrong claims (need the test issuer) ---------------------------------------


@check(
    id="auth.expired",
    title="An expired token is refused",
    level=MUST,
    pitfall="exp is not checked (verify_exp off, or a hand-rolled check), so a leaked or "
    "logged-out token works forever.",
    fix="Keep exp verification on and require the claim: jwt.decode(..., "
    "options={'require': ['exp', 'sub']}, leeway=a few seconds).",
    ref="RFC 7519 §4.1.4",
)
async def test_expired(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    issuer = require_issuer(s)
    token = issuer.expired(s.subject())
    await s.expect_refused(
        [s.bearer(token, "signed by the trusted key, exp one hour ago")],
        message="an expired token was accepted",
    )


@check(
    id="auth.not-yet-valid",
    title="A token that is not valid yet (nbf in the future) is refused",
    level=MUST,
    pitfall="nbf is ignored, so tokens minted for later (or by a skewed clock) work now.",
    fix="Keep PyJWT's nbf and iat verification on (the default) with a small leeway.",
    ref="RFC 7519 §4.1.5",
)
async def test_not_yet_valid(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    issuer = require_issuer(s)
    token = issuer.not_yet_valid(s.subject())
    await s.expect_refused(
        [s.bearer(token, "signed by the trusted key, nbf one hour ahead")],
        message="a token that is not valid yet was accepted",
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
)
async def test_wrong_audience(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    issuer = require_issuer(s)
    token = issuer.wrong_audience(s.subject())
    await s.expect_refused(
        [s.bearer(token, "signed by the trusted key, aud 'some-other-api'")],
        message="a token for another audience was accepted",
    )


@check(
    id="auth.wrong-issuer",
    title="A token naming another issuer is refused",
    level=MUST,
    pitfall="iss is not checked, so when keys are shared or fetched per token, any issuer's "
    "tokens are taken.",
    fix="Pass issuer=<your issuer> to jwt.decode.",
    ref=f"RFC 7519 §4.1.1; {RFC8725} §3.8",
)
async def test_wrong_issuer(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    issuer = require_issuer(s)
    token = issuer.wrong_issuer(s.subject())
    await s.expect_refused(
        [s.bearer(token, "signed by the trusted key, iss 'https://evil.example.test/'")],
        message="a token from another issuer was accepted",
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
)
async def test_unknown_kid(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    issuer = require_issuer(s)
    sub = s.subject()
    probes = [
        s.bearer(
            issuer.trusted_key_unknown_kid(sub), "the trusted key under a kid not in the JWKS"
        ),
        s.bearer(issuer.unknown_kid(sub), "an unpublished key under a kid not in the JWKS"),
    ]
    await s.expect_refused(probes, message="a token with an unknown kid was accepted")


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
)
async def test_embedded_key(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    started = time.monotonic()
    probes = []
    for how, label in (("jwk", "its own public key in a jwk header"), ("jku", "a jku URL")):
        token = s.forge_embedded(how)
        if token is None:
            untestable(f"needs claims and a kid the deployment accepts: {ENABLE_JWT}")
        probes.append(s.bearer(token, f"signed by an unknown key, named by {label}"))
    await s.expect_refused(probes, message="a token carrying its own key was accepted")
    server = s.issuer or s.helper
    if server is not None and server.fetched(ATTACKER_PATH, since=started):
        fail(
            "the deployment fetched the key URL named by the token's jku header",
            expected="no request to the jku URL (it comes from the attacker)",
            actual=f"{server.fetched(ATTACKER_PATH, since=started)} GET {server.attacker_url}",
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
)
async def test_every_request_type(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    tid, _ = await thread_of(s, s.a, "chatkit-harness auth probe: every request type")
    before = json_ok(
        await s.json("threads.get_by_id", {"thread_id": tid}, s.a), "threads.get_by_id"
    )
    creds: list[Probe] = [
        Probe("no credential", s.no_identity()),
        Probe("a token that is not a JWT", s.with_authorization("Bearer not-a-jwt", "not a JWT")),
    ]
    creds += [s.bearer(token, label) for label, token in s.bad_signature_tokens()[:1]]
    requests: list[tuple[str, dict[str, object]]] = [
        ("threads.create", {"input": user_input("auth probe: must be refused")}),
        ("threads.add_user_message", {"thread_id": tid, "input": user_input("hijacked turn")}),
        ("threads.list", {"limit": 20, "order": "desc"}),
        ("threads.get_by_id", {"thread_id": tid}),
        ("items.list", {"thread_id": tid, "limit": 20, "order": "asc"}),
        ("threads.update", {"thread_id": tid, "title": "hijacked title"}),
        ("threads.delete", {"thread_id": tid}),
    ]
    bad: list[tuple[str, Probe, Exchange, str]] = []
    for type_, params in requests:
        for probe in creds:
            ex: Exchange
            if type_ in STREAMING_TYPES:
                ex = await s.stream(s.client.body(type_, params), probe.identity, type_)
            else:
                ex = await s.json(type_, params, probe.identity)
            problem = refusal_problem(ex)
            if problem:
                bad.append((type_, probe, ex, problem))
    # The control: A's thread is still there and unchanged.
    after = await s.json("threads.get_by_id", {"thread_id": tid}, s.a)
    await s.json("threads.delete", {"thread_id": tid}, s.a)
    await s.cleanup()
    if bad:
        type_, probe, ex, _ = bad[0]
        fail(
            f"{len({b[0] for b in bad})} request types do not refuse bad credentials",
            expected="HTTP 401/403 before any stream byte for every request type",
            actual="; ".join(f"{t} with {p.label}: {problem}" for t, p, _, problem in bad[:8]),
            evidence=s.evidence(ex, probe),
            repro=curl_command(ex),
        )
    data = json_ok(after, "threads.get_by_id as user A after the probes")
    changed = _thread_changes(before, data)
    if changed:
        fail(
            "user A's thread changed although every probe was refused",
            expected="the same title and items as before",
            actual=changed,
            evidence=s.evidence(after),
        )


def _text(ex: Exchange) -> str:
    body = ex.body if isinstance(ex, (JsonResponse, RecordedStream)) else b""
    return body[:500_000].decode("utf-8", "replace")


def _thread_changes(before: object, after: object) -> str:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return "the thread is not a JSON object"
    out = []
    if before.get("title") != after.get("title"):
        out.append(f"title {before.get('title')!r} -> {after.get('title')!r}")
    n_before = len((before.get("items") or {}).get("data", []))
    n_after = len((after.get("items") or {}).get("data", []))
    if n_before != n_after:
        out.append(f"{n_before} items -> {n_after}")
    return "; ".join(out)


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
)
async def test_unverified_identity_header(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    headers = s.plain_headers()
    if not any(k.lower() == s.user_header.lower() for k in headers):
        headers[s.user_header] = s.a_id or "alice"
    named = headers.get(s.user_header) or next(
        v for k, v in headers.items() if k.lower() == s.user_header.lower()
    )
    probe = Probe(
        f"only {s.user_header}: {named} (no token, no cookie)", Identity("plain", headers)
    )
    await s.expect_refused(
        [probe],
        message=f"identity taken from an unverified header: a request with only {s.user_header} "
        "was served",
    )


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
)
async def test_identity_header_spoof(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    b = require_b(s)
    if not s.a_has_verified_credential:
        untestable(
            "user A is identified only by plain headers, so there is no verified identity to "
            "override (auth.unverified-identity-header reports that); pass --chatkit-token"
        )
    if not s.b_id:
        untestable(
            f"needs user B's id as {s.user_header} would carry it: a JWT with a sub for B, "
            f"--chatkit-user-headers-b '{s.user_header}: <id>', or {ENABLE_ISSUER}"
        )
    tb, _ = await thread_of(s, b, "chatkit-harness: user B's own thread")
    headers = {k: v for k, v in s.a.headers.items() if k.lower() != s.user_header.lower()}
    spoof = Identity(
        f"user A's credential with {s.user_header}: {s.b_id}",
        {**headers, s.user_header: s.b_id},
        token=s.a.token,
    )
    problems: list[tuple[str, Exchange]] = []

    listed = await s.json("threads.list", {"limit": 100, "order": "desc"}, spoof)
    if listed.status == 200 and tb in ids_of(listed):
        problems.append((f"threads.list shows user B's thread {tb}", listed))
    got = await s.json("threads.get_by_id", {"thread_id": tb}, spoof)
    if refers_to(got, tb):
        problems.append((f"threads.get_by_id returns user B's thread {tb}", got))

    body = s.client.body("threads.create", {"input": user_input("spoofed create")})
    created = await s.stream(body, spoof)
    if created.status == 200:
        new = created.thread_id
        if new and await owns(s, b, new):
            problems.append((f"threads.create made thread {new} for user B", created))
        elif new and not await owns(s, s.a, new):
            problems.append(
                (
                    f"threads.create made thread {new} for neither A nor B (for the header's "
                    "user, not the token's)",
                    created,
                )
            )
        if new:
            s.created.append((new, s.a))

    control = await s.json("threads.list", {"limit": 5, "order": "desc"}, s.a)
    s.created.append((tb, b))
    await s.cleanup()
    if problems:
        _, ex = problems[0]
        fail(
            f"identity taken from an unverified header: {s.user_header} overrides the token",
            expected=f"HTTP 403, or every request acting as the token's user ({s.a_id or 'A'})",
            actual="; ".join(p for p, _ in problems),
            evidence=s.evidence(ex, Probe(spoof.name, spoof)),
            repro=curl_command(ex),
        )
    json_ok(control, "the control threads.list as user A")


async def owns(s: AuthSetup, who: Identity, thread_id: str) -> bool:
    """``who`` can read the thread or sees it listed (either may be broken on its own)."""
    if refers_to(await s.json("threads.get_by_id", {"thread_id": thread_id}, who), thread_id):
        return True
    listed = await s.json("threads.list", {"limit": 100, "order": "desc"}, who)
    return thread_id in ids_of(listed)


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
)
async def test_tenant_isolation(auth_setup: AuthSetup) -> None:
    s = auth_setup
    require_a(s)
    b = require_b(s)
    canary = "canary-" + uuid.uuid4().hex[:10]
    ta, _ = await thread_of(s, s.a, f"chatkit-harness isolation probe {canary}")
    before = json_ok(await s.json("threads.get_by_id", {"thread_id": ta}, s.a), "threads.get_by_id")
    problems: list[tuple[str, Exchange, str]] = []  # (what, exchange, whose request)
    as_b = "user B's own valid credential"

    def leaked(ex: Exchange, what: str) -> None:
        """B reached A's thread: A's message came back, or the answer is about A's thread.
        Other answers (4xx, even 5xx or a 200 about something else) are not leaks; errors.*
        judge status codes, and A's thread is compared before and after to catch a write
        hidden behind any answer."""
        if canary in _text(ex):
            problems.append((f"{what}: the reply holds A's message", ex, as_b))
        elif refers_to(ex, ta):
            problems.append((f"{what}: served on A's thread (HTTP {ex.status})", ex, as_b))

    listed = await s.json("threads.list", {"limit": 100, "order": "desc"}, b)
    if ta in ids_of(listed) or canary in listed.text:
        problems.append((f"threads.list as B shows A's thread {ta}", listed, as_b))
    leaked(await s.json("threads.get_by_id", {"thread_id": ta}, b), "threads.get_by_id")
    leaked(
        await s.json("items.list", {"thread_id": ta, "limit": 50, "order": "asc"}, b),
        "items.list",
    )
    body = s.client.body(
        "threads.add_user_message", {"thread_id": ta, "input": user_input("B was here")}
    )
    leaked(await s.stream(body, b, "threads.add_user_message"), "threads.add_user_message")
    leaked(
        await s.json("threads.update", {"thread_id": ta, "title": "renamed by B"}, b),
        "threads.update",
    )
    deleted = await s.json("threads.delete", {"thread_id": ta}, b)
    leaked(deleted, "threads.delete")

    after = await s.json("threads.get_by_id", {"thread_id": ta}, s.a)
    s.created.append((ta, s.a))
    await s.cleanup()
    if after.status != 200:
        gone = f"A's thread is gone (A's threads.get_by_id: HTTP {after.status})"
        problems.append((gone, deleted, as_b))
    else:
        changed = _thread_changes(before, after.json)
        if changed:
            problems.append((f"A's thread changed: {changed}", after, "user A, reading back"))
    if problems:
        _, ex, who = problems[0]
        fail(
            "user B reached user A's thread",
            expected="a refusal (404 or 403) for every request B makes on A's thread, and A's "
            "thread unchanged",
            actual="; ".join(p for p, _, _ in problems),
            evidence=s.evidence(ex, Probe(who, b)),
            repro=curl_command(ex),
        )
