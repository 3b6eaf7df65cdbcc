"""The auth area's evidence: bad credentials, each measured against a good one on the same request.

A probe *round* is one request body sent with a valid credential (the control) and with the
bad credentials under test. The control comes from whoever signed the bad tokens: user A's own
credential for probes forged from A's token (or carrying no token at all), a valid token of the
test issuer, with the same claims, for probes the issuer signed or that are forged from its key.
When the control is refused the round sends nothing else: the refusal of a bad token would prove
nothing. The two controls are shared probes (``auth-control``, ``auth-issuer-control``), one
model turn each (one in all when A's token is the issuer's), so a run costs few model turns.

Each probe makes its own threads and its own recording clients (``ctx.client``), so probes run
concurrently without reading each other's data, and every request reaches ``--artifacts``.
Probes record; harness/auth/verdicts.py and scenarios/test_auth.py judge.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from harness.auth.issuer import (
    ATTACKER_PATH,
    TestIssuer,
    encode_unsigned,
    flip_signature,
    sign_hs256,
    tamper_payload,
)
from harness.auth.probing import (
    ISSUER,
    NOBODY,
    PROBE_TEXT,
    USER,
    Attempt,
    People,
    accepted,
    build_people,
    embedded_jwk,
    embedded_kid,
    fetch_rsa_keys,
    invented_claims,
    issuer_public_key,
    signed_by,
)
from harness.engine.context import ProbeContext, settle
from harness.engine.preconditions import stream_usable
from harness.engine.probes import probe
from harness.probes.conversation import done_ids, page_ids, settled_view
from harness.protocol.client import (
    STREAMING_TYPES,
    ChatKitClient,
    Exchange,
    JsonResponse,
    RecordedStream,
    user_input,
)
from harness.target.config import Identity

PEOPLE_KEY = "auth-people"


def people_of(ctx: ProbeContext) -> People:
    """Users A and B as the auth probes send them (built once per run)."""
    people = ctx.extras.get(PEOPLE_KEY)
    if people is None:
        # ctx.main's identity is already resolved (a --token-command ran once).
        people = build_people(ctx.target, ctx.main.identity)
        ctx.extras[PEOPLE_KEY] = people
    assert isinstance(people, People)
    return people


# -- evidence --------------------------------------------------------------------------------


@dataclass
class Tried:
    """One bad credential as sent, and what came back."""

    label: str
    ex: Exchange
    token_header: Mapping[str, Any] | None = None
    group: str = ""


@dataclass
class Control:
    """The valid credential a round is measured against."""

    label: str
    signer: str  # USER, ISSUER or NOBODY (no valid credential exists: invented claims)
    rec: RecordedStream | None  # threads.create with the round's body; None for NOBODY

    @property
    def ok(self) -> bool:
        return self.rec is None or (stream_usable(self.rec) and bool(self.rec.thread_id))


@dataclass
class Round:
    control: Control
    tried: list[Tried]  # empty when the control did not work (nothing else was sent)


@dataclass
class Probed:
    """The rounds of one probe; ``missing`` says what no round could be built without."""

    rounds: list[Round]
    secrets: list[str]
    user_header: str
    missing: str = ""
    forced: dict[str, str] = field(default_factory=dict)  # identity headers given with -H
    extra: dict[str, Any] = field(default_factory=dict)

    def tried(self, group: str | None = None) -> list[Tried]:
        return [t for r in self.rounds for t in r.tried if group is None or t.group == group]


@dataclass
class Baseline:
    """The body every token round sends, and user A's control on it."""

    body: bytes
    control: Control


# -- sending ---------------------------------------------------------------------------------


class Session:
    """One probe's client and the threads it created (deleted at the end, best effort)."""

    def __init__(self, ctx: ProbeContext, people: People) -> None:
        self.people = people
        self.client: ChatKitClient = ctx.client(people.a, target=people.target)
        self.created: list[tuple[str, Identity | None]] = []

    def body(self, type_: str, params: Mapping[str, Any]) -> bytes:
        return self.client.body(type_, params)

    def create_body(self, text: str) -> bytes:
        return self.body("threads.create", {"input": user_input(text)})

    async def stream(
        self, body: bytes, who: Identity | None, type_: str = "threads.create"
    ) -> RecordedStream:
        rec = await self.client.stream_raw(body, request_type=type_, identity=who)
        if rec.status == 200 and type_ == "threads.create" and rec.thread_id:
            self.created.append((rec.thread_id, who))
        return rec

    async def json(
        self, type_: str, params: Mapping[str, Any], who: Identity | None
    ) -> JsonResponse:
        body = self.body(type_, params)
        return await self.client.request_raw(body, request_type=type_, identity=who)

    async def send(self, type_: str, params: Mapping[str, Any], who: Identity | None) -> Exchange:
        if type_ in STREAMING_TYPES:
            return await self.stream(self.body(type_, params), who, type_)
        return await self.json(type_, params, who)

    async def cleanup(self) -> None:
        created, self.created = self.created, []
        for tid, who in created:
            with contextlib.suppress(Exception):  # a failed cleanup never decides a check
                await self.json("threads.delete", {"thread_id": tid}, who)


async def run_round(
    s: Session, control: Control, attempts: Sequence[Attempt], body: bytes
) -> Round:
    """The attempts on ``body``, concurrently, once the control has worked."""
    if not control.ok:
        return Round(control, [])
    recs = await asyncio.gather(*(s.stream(body, a.identity) for a in attempts))
    return Round(
        control,
        [
            Tried(a.label, rec, a.token_header, a.group)
            for a, rec in zip(attempts, recs, strict=True)
        ],
    )


def _probed(s: Session, rounds: list[Round], missing: str = "", **extra: Any) -> Probed:
    p = s.people
    forced = {
        k: v
        for k, v in p.target.headers.items()
        if k.lower() == p.user_header.lower()
        or k.lower() in {h.lower() for h in p.target.user_headers_a}
    }
    return Probed(rounds, p.secrets(), p.user_header, missing, forced, dict(extra))


# -- the controls ----------------------------------------------------------------------------


@probe("auth-control")
async def auth_control(ctx: ProbeContext) -> Baseline:
    """threads.create as user A with the body every token round sends."""
    p = people_of(ctx)
    s = Session(ctx, p)
    body = s.create_body(f"{PROBE_TEXT} (auth {uuid.uuid4().hex[:8]})")
    rec = await s.stream(body, p.a)
    await s.cleanup()
    return Baseline(body, Control("user A's own credential", USER, rec))


@probe("auth-issuer-control")
async def auth_issuer_control(ctx: ProbeContext) -> Control | None:
    """A valid token of the test issuer for A's subject, on the same body (None: no issuer)."""
    issuer = ctx.issuer
    if issuer is None:
        return None
    base: Baseline = await ctx.probe("auth-control")
    p = people_of(ctx)
    if signed_by(p.a.token, issuer):
        # A's token is the issuer's own: A's control is the issuer's too (one model turn).
        return Control("user A's token, signed by the test issuer", ISSUER, base.control.rec)
    s = Session(ctx, p)
    token = issuer.mint(p.subject())
    who = p.with_authorization(f"Bearer {token}", "a valid token of the test issuer")
    rec = await s.stream(base.body, who)
    await s.cleanup()
    return Control("a valid token of the test issuer, same claims", ISSUER, rec)


async def _controls(ctx: ProbeContext) -> tuple[Baseline, Control | None]:
    base: Baseline = await ctx.probe("auth-control")
    issuer_control: Control | None = await ctx.probe("auth-issuer-control")
    return base, issuer_control


# -- missing and malformed credentials -------------------------------------------------------


@probe("auth-missing")
async def auth_missing(ctx: ProbeContext) -> Probed:
    """threads.create without any credential (and without A's identity headers)."""
    base: Baseline = await ctx.probe("auth-control")
    p = people_of(ctx)
    s = Session(ctx, p)
    rnd = await run_round(s, base.control, [Attempt("no credential", p.no_identity())], base.body)
    await s.cleanup()
    return _probed(s, [rnd])


MALFORMED = (
    ("'Bearer' with no token", "Bearer"),
    ("a token that is not a JWT", "Bearer not-a-jwt"),
    ("three segments of garbage", "Bearer abc.def.ghi"),
    ("a JWT with its signature segment missing", "Bearer eyJhbGciOiJSUzI1NiJ9.e30"),
    ("the Basic scheme", "Basic Y2hhdGtpdDpoYXJuZXNz"),
)
NOT_A_JWT = MALFORMED[1][0]


@probe("auth-malformed")
async def auth_malformed(ctx: ProbeContext) -> Probed:
    base: Baseline = await ctx.probe("auth-control")
    p = people_of(ctx)
    s = Session(ctx, p)
    attempts = [Attempt(label, p.with_authorization(value, label)) for label, value in MALFORMED]
    rnd = await run_round(s, base.control, attempts, base.body)
    await s.cleanup()
    return _probed(s, [rnd])


@probe("auth-identity-header")
async def auth_identity_header(ctx: ProbeContext) -> Probed:
    """Only A's plain identity header (X-User-ID), no token, no cookie."""
    base: Baseline = await ctx.probe("auth-control")
    p = people_of(ctx)
    s = Session(ctx, p)
    headers = p.plain_headers()
    every = {k.lower() for k in (*headers, *p.target.headers)}
    if p.user_header.lower() not in every:
        headers[p.user_header] = p.a_id or "alice"
    who = Identity(f"only {p.user_header}", headers)
    rnd = await run_round(s, base.control, [Attempt(who.name, who)], base.body)
    await s.cleanup()
    return _probed(s, [rnd])


# -- forged and wrongly signed tokens --------------------------------------------------------


@probe("auth-bad-signature")
async def auth_bad_signature(ctx: ProbeContext) -> Probed:
    base, issuer_control = await _controls(ctx)
    p = people_of(ctx)
    s = Session(ctx, p)
    issuer = ctx.issuer
    rounds: list[Round] = []
    if p.template is not None and p.a.token and not signed_by(p.a.token, issuer):
        token = p.a.token
        attempts = [
            p.bearer(
                tamper_payload(token, sub=p.subject() + "-other"),
                "user A's token with its sub edited",
            ),
            p.bearer(flip_signature(token), "user A's token with one signature byte flipped"),
        ]
        rounds.append(await run_round(s, base.control, attempts, base.body))
    if issuer is not None and issuer_control is not None:
        sub = p.subject()
        attempts = [
            p.bearer(issuer.stranger_same_kid(sub), "the right kid signed by another key"),
            p.bearer(issuer.tampered(sub), "a valid token with its payload edited"),
        ]
        rounds.append(await run_round(s, issuer_control, attempts, base.body))
    await s.cleanup()
    return _probed(s, rounds, "" if rounds else "a JWT to tamper with")


def _claims_source(
    p: People, ctx: ProbeContext, base: Baseline, issuer_control: Control | None
) -> tuple[dict[str, Any], str | None, Control]:
    """Claims a deployment would accept from A, the kid they go with, and their control:
    A's own token's, else the issuer's, else invented ones (no key, no control)."""
    if p.template is not None:
        return dict(p.template[1]), p.kid(), base.control
    if ctx.issuer is not None and issuer_control is not None:
        return ctx.issuer.claims(p.subject()), ctx.issuer.kid, issuer_control
    return invented_claims(), None, Control("no valid credential exists", NOBODY, None)


@probe("auth-alg-none")
async def auth_alg_none(ctx: ProbeContext) -> Probed:
    """Unsigned tokens: A's claims, the issuer's, or claims the harness makes up."""
    base, issuer_control = await _controls(ctx)
    p = people_of(ctx)
    s = Session(ctx, p)
    claims, kid, control = _claims_source(p, ctx, base, issuer_control)
    header: dict[str, Any] = {"typ": "JWT"}
    if kid:
        header["kid"] = kid
    attempts = [
        p.bearer(encode_unsigned(header, claims, alg), f"alg {alg!r}, empty signature")
        for alg in ("none", "None", "NONE", "nOnE")
    ]
    rnd = await run_round(s, control, attempts, base.body)
    await s.cleanup()
    return _probed(s, [rnd])


@probe("auth-alg-confusion")
async def auth_alg_confusion(ctx: ProbeContext) -> Probed:
    """HS256 keyed with an RSA public key the deployment verifies with."""
    base, issuer_control = await _controls(ctx)
    p = people_of(ctx)
    s = Session(ctx, p)
    groups: list[tuple[list[tuple[str, bytes]], dict[str, Any], Control]] = []
    issuer = ctx.issuer
    if issuer is not None and issuer_control is not None:
        groups.append(([issuer_public_key(issuer)], issuer.claims(p.subject()), issuer_control))
    fetched = ""
    if p.target.deployment_jwks:
        keys = await fetch_rsa_keys(p.target.deployment_jwks, p.target.timeout)
        wanted = p.kid()
        keys = [k for k in keys if k[0] == wanted] or keys[:3]
        fetched = "" if keys else f"no RSA key could be read from {p.target.deployment_jwks}"
        if keys and p.template is not None:
            groups.append((keys, dict(p.template[1]), base.control))
        elif keys and issuer is not None and issuer_control is not None:
            groups.append((keys, issuer.claims(p.subject()), issuer_control))
    rounds = []
    for keys, claims, control in groups:
        attempts = []
        for kid, pem in keys:
            for secret, how in ((pem, "PEM"), (pem.rstrip(b"\n"), "PEM without final newline")):
                token = sign_hs256(secret, {"kid": kid}, claims)
                attempts.append(
                    p.bearer(token, f"HS256 keyed with the public key of {kid!r} ({how})")
                )
        rounds.append(await run_round(s, control, attempts, base.body))
    await s.cleanup()
    missing = "" if rounds else "the RSA public key the deployment verifies with"
    return _probed(s, rounds, missing, fetch_problem=fetched)


# Validly signed by the test issuer, one claim wrong: (check id, label, how to mint).
def _issuer_tokens(issuer: TestIssuer, sub: str) -> list[tuple[str, str, str]]:
    return [
        ("auth.expired", "signed by the trusted key, exp one hour ago", issuer.expired(sub)),
        (
            "auth.not-yet-valid",
            "signed by the trusted key, nbf one hour ahead",
            issuer.not_yet_valid(sub),
        ),
        (
            "auth.wrong-audience",
            "signed by the trusted key, aud 'some-other-api'",
            issuer.wrong_audience(sub),
        ),
        (
            "auth.wrong-issuer",
            "signed by the trusted key, iss 'https://evil.example.test/'",
            issuer.wrong_issuer(sub),
        ),
        (
            "auth.unknown-kid",
            "the trusted key under a kid not in the JWKS",
            issuer.trusted_key_unknown_kid(sub),
        ),
        (
            "auth.unknown-kid",
            "an unpublished key under a kid not in the JWKS",
            issuer.unknown_kid(sub),
        ),
    ]


@probe("auth-issuer-tokens")
async def auth_issuer_tokens(ctx: ProbeContext) -> Probed:
    """Expired, not yet valid, wrong aud, wrong iss, unknown kid: one round, the issuer's."""
    base, issuer_control = await _controls(ctx)
    p = people_of(ctx)
    s = Session(ctx, p)
    issuer = ctx.issuer
    if issuer is None or issuer_control is None:
        return _probed(s, [], "validly signed tokens the deployment trusts")
    attempts = [
        p.bearer(token, label, check) for check, label, token in _issuer_tokens(issuer, p.subject())
    ]
    rnd = await run_round(s, issuer_control, attempts, base.body)
    await s.cleanup()
    return _probed(s, [rnd])


@probe("auth-embedded-key")
async def auth_embedded_key(ctx: ProbeContext) -> Probed:
    """Signed by a key of the harness's own, which the token names itself (jwk, jku)."""
    base, issuer_control = await _controls(ctx)
    p = people_of(ctx)
    s = Session(ctx, p)
    claims, _, control = _claims_source(p, ctx, base, issuer_control)
    if control.signer == NOBODY:
        return _probed(s, [], "claims the deployment accepts")
    kid = embedded_kid(p, ctx.issuer)
    server = ctx.issuer
    helper = None
    if server is None:
        # Nothing trusts this one; it only serves the attacker key set a jku token names.
        helper = server = await asyncio.to_thread(TestIssuer)
        server.start()
    try:
        if kid not in server.attacker_kids:
            server.attacker_kids.append(kid)
        jwk_token = jwt.encode(
            claims, p.stranger, "RS256", headers={"kid": kid, "jwk": embedded_jwk(p.stranger)}
        )
        jku_token = jwt.encode(
            claims, server.stranger, "RS256", headers={"kid": kid, "jku": server.attacker_url}
        )
        attempts = [
            p.bearer(
                jwk_token, "signed by an unknown key, named by its own public key in a jwk header"
            ),
            p.bearer(jku_token, "signed by an unknown key, named by a jku URL"),
        ]
        started = time.monotonic()
        rnd = await run_round(s, control, attempts, base.body)
        fetches = server.fetched(ATTACKER_PATH, since=started)
        url = server.attacker_url
    finally:
        if helper is not None:
            helper.stop()
    await s.cleanup()
    return _probed(s, [rnd], jku_fetches=fetches, jku_url=url)


# -- before and after: A's thread as A reads it ----------------------------------------------


@dataclass
class Snapshot:
    """A's thread through items.list (item ids) and threads.list (its title)."""

    items: JsonResponse
    listed: JsonResponse
    # Items A's own streams finished: one that shows up late is the store catching up (a
    # write queue, or a settle read that took longer than --settle), never a change.
    expected: list[str] = field(default_factory=list)

    def item_ids(self) -> list[str]:
        return page_ids(self.items)

    def row(self, thread_id: str) -> dict[str, Any] | None:
        data = self.listed.json
        rows = data.get("data") if isinstance(data, dict) else None
        for r in rows if isinstance(rows, list) else []:
            if isinstance(r, dict) and r.get("id") == thread_id:
                return r
        return None


def changes(before: Snapshot, after: Snapshot, thread_id: str) -> str:
    """How A's thread differs ('' when it does not): gone, items, title."""
    if before.items.status == 200 and after.items.status != 200:
        return f"A's thread is gone (A's items.list: HTTP {after.items.status})"
    out = []
    b_ids, a_ids = before.item_ids(), after.item_ids()
    added = set(a_ids) - set(b_ids) - set(before.expected)
    lost = set(b_ids) - set(a_ids)
    if added or lost:
        out.append(f"items {len(b_ids)} -> {len(a_ids)} ({len(added)} new, {len(lost)} gone)")
    b_row, a_row = before.row(thread_id), after.row(thread_id)
    if b_row is not None and a_row is None:
        out.append("no longer in A's threads.list")
    elif b_row is not None and a_row is not None and b_row.get("title") != a_row.get("title"):
        out.append(f"title {b_row.get('title')!r} -> {a_row.get('title')!r}")
    return "; ".join(out)


async def snapshot(
    ctx: ProbeContext, s: Session, who: Identity, thread_id: str, want: list[str]
) -> Snapshot:
    """Settled: items.list holds what the streams finished, threads.list holds the thread."""
    items_of: Callable[[], Awaitable[JsonResponse]] = lambda: s.json(  # noqa: E731
        "items.list", {"thread_id": thread_id, "limit": 100, "order": "asc"}, who
    )
    listed_of: Callable[[], Awaitable[JsonResponse]] = lambda: s.json(  # noqa: E731
        "threads.list", {"limit": 100, "order": "desc"}, who
    )
    items, listed = await settled_view(items_of, listed_of, thread_id, want, ctx.settle)
    return Snapshot(items, listed, list(want))


async def snapshot_after(
    ctx: ProbeContext, s: Session, who: Identity, thread_id: str, before: Snapshot
) -> Snapshot:
    """A's thread after the probes, settled towards "unchanged": a store that writes in the
    background is judged on what it holds once its writes landed, not on a racing read."""

    async def read() -> Snapshot:
        items, listed = await asyncio.gather(
            s.json("items.list", {"thread_id": thread_id, "limit": 100, "order": "asc"}, who),
            s.json("threads.list", {"limit": 100, "order": "desc"}, who),
        )
        return Snapshot(items, listed, before.expected)

    _, last, _ = await settle(read, lambda snap: not changes(before, snap, thread_id), ctx.settle)
    return last


def header_value(ex: Exchange | None, name: str) -> str | None:
    if ex is None:
        return None
    for k, v in ex.request_headers.items():
        if k.lower() == name.lower():
            return v
    return None


# -- every request type ----------------------------------------------------------------------


@dataclass
class EveryType:
    created: RecordedStream  # A's own thread (the control of every bad credential here)
    before: Snapshot | None = None
    tried: list[tuple[str, Tried]] = field(default_factory=list)  # (request type, attempt)
    after: Snapshot | None = None
    secrets: list[str] = field(default_factory=list)


@probe("auth-every-request-type")
async def auth_every_request_type(ctx: ProbeContext) -> EveryType:
    p = people_of(ctx)
    s = Session(ctx, p)
    created = await s.stream(s.create_body("chatkit-harness auth probe: every request type"), p.a)
    tid = created.thread_id
    ev = EveryType(created, secrets=p.secrets())
    if not stream_usable(created) or tid is None:
        await s.cleanup()
        return ev
    ev.before = await snapshot(ctx, s, p.a, tid, done_ids(created))
    creds = [
        Attempt("no credential", p.no_identity()),
        Attempt(NOT_A_JWT, p.with_authorization("Bearer not-a-jwt", NOT_A_JWT)),
    ]
    if p.template is not None and p.a.token:
        creds.append(
            p.bearer(flip_signature(p.a.token), "user A's token with one signature byte flipped")
        )
    requests: list[tuple[str, dict[str, Any]]] = [
        ("threads.create", {"input": user_input("auth probe: must be refused")}),
        ("threads.add_user_message", {"thread_id": tid, "input": user_input("hijacked turn")}),
        ("threads.list", {"limit": 20, "order": "desc"}),
        ("threads.get_by_id", {"thread_id": tid}),
        ("items.list", {"thread_id": tid, "limit": 20, "order": "asc"}),
        ("threads.update", {"thread_id": tid, "title": "hijacked title"}),
    ]

    async def one(type_: str, params: dict[str, Any], a: Attempt) -> tuple[str, Tried]:
        ex = await s.send(type_, params, a.identity)
        return type_, Tried(a.label, ex, a.token_header)

    ev.tried = list(await asyncio.gather(*(one(t, prm, a) for t, prm in requests for a in creds)))
    # Deletes last: an accepted one must not hide what the other requests did.
    ev.tried += await asyncio.gather(*(one("threads.delete", {"thread_id": tid}, a) for a in creds))
    ev.after = await snapshot_after(ctx, s, p.a, tid, ev.before)
    await s.cleanup()
    return ev


# -- a plain identity header overriding the token --------------------------------------------


@dataclass
class Spoof:
    missing: str = ""  # what the probe could not run without
    b_signer: str = USER
    b_thread: RecordedStream | None = None  # B's own thread (B's control)
    spoof_headers: dict[str, str] = field(default_factory=dict)
    listed: JsonResponse | None = None  # as A with X-User-ID: B
    got: JsonResponse | None = None
    created: RecordedStream | None = None
    created_for_b: bool = False
    created_for_a: bool = False
    a_listed: JsonResponse | None = None  # as A, no X-User-ID: does A see B's thread anyway?
    a_got: JsonResponse | None = None
    secrets: list[str] = field(default_factory=list)


async def _owns(s: Session, who: Identity, thread_id: str) -> bool:
    """``who`` can read the thread or sees it listed (either may be broken on its own)."""
    from harness.auth.probing import refers_to

    got = await s.json("threads.get_by_id", {"thread_id": thread_id}, who)
    if refers_to(got, thread_id):
        return True
    listed = await s.json("threads.list", {"limit": 100, "order": "desc"}, who)
    return thread_id in page_ids(listed)


@probe("auth-spoof")
async def auth_spoof(ctx: ProbeContext) -> Spoof:
    """A's credential with X-User-ID naming B: does the header override the token?"""
    p = people_of(ctx)
    s = Session(ctx, p)
    ev = Spoof(secrets=p.secrets())
    if p.b is None:
        ev.missing = "b"
        return ev
    if not p.a_has_verified_credential:
        ev.missing = "verified-a"
        return ev
    if not p.b_id:
        ev.missing = "b-id"
        return ev
    ev.b_signer = ISSUER if signed_by(p.b.token, ctx.issuer) else USER
    b = p.b
    ev.b_thread = await s.stream(s.create_body("chatkit-harness: user B's own thread"), b)
    tb = ev.b_thread.thread_id
    if not stream_usable(ev.b_thread) or tb is None:
        await s.cleanup()
        return ev
    headers = {k: v for k, v in p.a.headers.items() if k.lower() != p.user_header.lower()}
    spoof = Identity(
        f"user A's credential with {p.user_header}: {p.b_id}",
        {**headers, p.user_header: p.b_id},
        token=p.a.token,
    )
    ev.spoof_headers = dict(spoof.headers)
    page = {"limit": 100, "order": "desc"}
    ev.listed, ev.got, created, ev.a_listed, ev.a_got = await asyncio.gather(
        s.json("threads.list", page, spoof),
        s.json("threads.get_by_id", {"thread_id": tb}, spoof),
        s.stream(s.create_body("spoofed create"), spoof),
        s.json("threads.list", page, p.a),
        s.json("threads.get_by_id", {"thread_id": tb}, p.a),
    )
    ev.created = created
    new = created.thread_id if created.status == 200 else None
    if new:
        ev.created_for_b = await _owns(s, b, new)
        ev.created_for_a = await _owns(s, p.a, new)
    await s.cleanup()
    return ev


# -- isolation -------------------------------------------------------------------------------


@dataclass
class Isolation:
    b_kind: str = ""  # "configured", "synthetic" (an open deployment: a caller with nothing)
    b_signer: str = USER
    b_control: JsonResponse | None = None  # B's own threads.list
    created: RecordedStream | None = None  # A's thread
    canary: str = ""
    before: Snapshot | None = None
    attempts: list[tuple[str, Exchange]] = field(default_factory=list)  # (what, exchange)
    after: Snapshot | None = None
    a_ident: str | None = None  # the identity header A's and B's requests carried
    b_ident: str | None = None
    secrets: list[str] = field(default_factory=list)


@probe("auth-isolation")
async def auth_isolation(ctx: ProbeContext) -> Isolation:
    """User B lists, reads, posts to, renames and deletes A's thread; A's thread before/after."""
    p = people_of(ctx)
    s = Session(ctx, p)
    ev = Isolation(secrets=p.secrets())
    b = p.b
    if b is not None:
        ev.b_kind = "configured"
        ev.b_signer = ISSUER if signed_by(b.token, ctx.issuer) else USER
    else:
        missing: Probed = await ctx.probe("auth-missing")
        if not any(accepted(t.ex) for t in missing.tried()):
            return ev
        # The deployment serves callers who send nothing: a second one is anybody at all.
        b = p.no_identity("a second caller without any credential")
        ev.b_kind = "synthetic"
    ev.b_control = await s.json("threads.list", {"limit": 1, "order": "desc"}, b)
    if ev.b_control.status != 200:
        return ev
    ev.canary = "canary-" + uuid.uuid4().hex[:10]
    ev.created = await s.stream(s.create_body(f"chatkit-harness isolation probe {ev.canary}"), p.a)
    ta = ev.created.thread_id
    if not stream_usable(ev.created) or ta is None:
        await s.cleanup()
        return ev
    ev.before = await snapshot(ctx, s, p.a, ta, done_ids(ev.created))
    reads: list[tuple[str, str, dict[str, Any]]] = [
        ("threads.list", "threads.list", {"limit": 100, "order": "desc"}),
        ("threads.get_by_id", "threads.get_by_id", {"thread_id": ta}),
        ("items.list", "items.list", {"thread_id": ta, "limit": 50, "order": "asc"}),
        (
            "threads.add_user_message",
            "threads.add_user_message",
            {"thread_id": ta, "input": user_input("B was here")},
        ),
        ("threads.update", "threads.update", {"thread_id": ta, "title": "renamed by B"}),
    ]
    got = await asyncio.gather(*(s.send(t, prm, b) for _, t, prm in reads))
    ev.attempts = [(what, ex) for (what, _, _), ex in zip(reads, got, strict=True)]
    ev.attempts.append(("threads.delete", await s.send("threads.delete", {"thread_id": ta}, b)))
    ev.after = await snapshot_after(ctx, s, p.a, ta, ev.before)
    ev.a_ident = header_value(ev.created, p.user_header)
    ev.b_ident = header_value(ev.b_control, p.user_header)
    await s.cleanup()
    return ev
