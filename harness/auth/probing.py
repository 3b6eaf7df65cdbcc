"""Auth probing: who the harness can be, which bad credentials it can forge, and the verdicts.

Every probe is the control request with exactly one thing changed: the credential under test.
Headers that identify nobody (an API gateway key, custom context headers) stay as they are, so
a refusal can only be about the credential, and the control request right after it (same body,
valid credential) shows the refusal was not about anything else.

A refusal counts only when it comes as HTTP 401 or 403 before any stream byte: a client (and
ChatKit's custom fetch) decides on the status line whether to refresh a token, and a 200 whose
stream carries an error event has already started the handler that should never have run.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from harness.auth.issuer import (
    TestIssuer,
    decode_unverified,
    encode_unsigned,
    flip_signature,
    public_pem,
    sign_hs256,
    tamper_payload,
)
from harness.engine.expect import evidence_of
from harness.protocol.client import (
    ChatKitClient,
    Exchange,
    JsonResponse,
    RecordedStream,
    user_input,
)
from harness.report.redact import curl_command, redact_text
from harness.report.results import fail
from harness.target.config import Identity, Target

CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})
REFUSED = (401, 403)
PROBE_TEXT = "chatkit-harness auth probe. Please answer with one word."

# What to pass to make a skipped auth check run; quoted in every skip-untestable reason.
ENABLE_ISSUER = (
    "serve the harness's test issuer to a deployment that trusts it "
    "(--chatkit-issuer-port PORT, see docs/auth.md)"
)
ENABLE_JWT = f"pass user A's JWT (--chatkit-token) or {ENABLE_ISSUER}"
ENABLE_KEY = "give the deployment's public keys (--chatkit-deployment-jwks URL) or " + ENABLE_ISSUER
ENABLE_B = (
    "give a second user (--chatkit-token-b, or --chatkit-user-headers-b for header-identified "
    "deployments) or " + ENABLE_ISSUER
)


@dataclass(frozen=True)
class Probe:
    """One bad credential: a label for the report and the identity carrying it."""

    label: str
    identity: Identity | None
    # The forged token's header, shown in the evidence (never the token itself).
    token_header: Mapping[str, Any] | None = None


@dataclass
class AuthSetup:
    """Everything the auth checks share for one session."""

    target: Target  # credential headers moved out of target.headers into the identities
    client: ChatKitClient
    a: Identity  # user A's valid identity (may carry no credential at all)
    b: Identity | None
    a_id: str | None  # what a plain identity header says for A ("alice"), when known
    b_id: str | None
    issuer: TestIssuer | None  # the test issuer, when the deployment trusts it
    helper: TestIssuer | None  # an issuer server for jku URLs when none is trusted
    template: tuple[dict[str, Any], dict[str, Any]] | None  # (header, claims) of A's JWT
    stranger: rsa.RSAPrivateKey = field(default_factory=lambda: _stranger_key())
    preflight: Exchange | None = None  # A's threads.list before any probe
    preflight_b: Exchange | None = None
    created: list[tuple[str, Identity]] = field(default_factory=list)  # for cleanup
    _confusion_keys: list[tuple[str, bytes]] | None = None

    # -- who the harness can be -----------------------------------------------------------

    @property
    def user_header(self) -> str:
        return self.target.user_header

    @property
    def a_token(self) -> str | None:
        return self.a.token

    @property
    def a_has_verified_credential(self) -> bool:
        """A proves who they are with a token or a cookie, not only a plain header."""
        return any(k.lower() in CREDENTIAL_HEADERS for k in self.a.headers)

    def plain_headers(self, identity: Identity | None = None) -> dict[str, str]:
        """The headers of ``identity`` (default A) that carry no credential."""
        who = identity or self.a
        return {k: v for k, v in who.headers.items() if k.lower() not in CREDENTIAL_HEADERS}

    def no_identity(self) -> Identity:
        """A's request without any credential and without a plain identity header."""
        user = {k.lower() for k in self.target.user_headers_a} | {self.user_header.lower()}
        return Identity(
            "no credentials",
            {k: v for k, v in self.plain_headers().items() if k.lower() not in user},
        )

    def with_authorization(self, value: str, label: str) -> Identity:
        """A's request with ``Authorization: value`` as its only credential."""
        headers = self.plain_headers()
        headers["Authorization"] = value
        token = value.partition(" ")[2] or None
        return Identity(label, headers, token=token)

    def bearer(self, token: str, label: str) -> Probe:
        header = decode_unverified(token)
        return Probe(label, self.with_authorization(f"Bearer {token}", label), header and header[0])

    # -- what can be forged -----------------------------------------------------------------

    @property
    def trusted(self) -> bool:
        return self.issuer is not None

    def subject(self) -> str:
        if self.template is not None and isinstance(self.template[1].get("sub"), str):
            return str(self.template[1]["sub"])
        return self.a_id or "alice"

    def claims(self) -> dict[str, Any] | None:
        """Claims a deployment would accept from A, for tokens forged without a trusted key."""
        if self.template is not None:
            return dict(self.template[1])
        if self.issuer is not None:
            return self.issuer.claims(self.subject())
        return None

    def kid(self) -> str | None:
        if self.template is not None and isinstance(self.template[0].get("kid"), str):
            return str(self.template[0]["kid"])
        return self.issuer.kid if self.issuer is not None else None

    async def confusion_keys(self) -> list[tuple[str, bytes]]:
        """(kid, public key PEM) of the RSA keys the deployment verifies with, when known."""
        if self._confusion_keys is None:
            keys: list[tuple[str, bytes]] = []
            if self.issuer is not None:
                keys.append((self.issuer.kid, public_pem(self.issuer.key.public_key())))
            elif self.target.deployment_jwks:
                keys = await fetch_rsa_keys(self.target.deployment_jwks, self.target.timeout)
                wanted = self.kid()
                keys = [k for k in keys if k[0] == wanted] or keys[:3]
            self._confusion_keys = keys
        return self._confusion_keys

    def forge_unsigned(self, alg: str) -> str | None:
        claims = self.claims()
        if claims is None:
            return None
        header: dict[str, Any] = {"typ": "JWT"}
        if self.kid():
            header["kid"] = self.kid()
        return encode_unsigned(header, claims, alg)

    def forge_hs256(self, kid: str, pem: bytes) -> str | None:
        claims = self.claims()
        return None if claims is None else sign_hs256(pem, {"kid": kid}, claims)

    def forge_embedded(self, how: str) -> str | None:
        """Signed by a key of the harness's choosing, which the token names itself."""
        import jwt

        claims, kid = self.claims(), self.kid()
        if claims is None or kid is None:
            return None
        header: dict[str, Any] = {"kid": kid}
        if how == "jwk":
            header["jwk"] = json.loads(RSAAlgorithm.to_jwk(self.stranger.public_key()))
            key = self.stranger
        else:
            server = self.issuer or self.helper
            if server is None:
                return None
            if kid not in server.attacker_kids:
                server.attacker_kids.append(kid)
            header["jku"] = server.attacker_url
            key = server.stranger
        return jwt.encode(claims, key, "RS256", headers=header)

    def bad_signature_tokens(self) -> list[tuple[str, str]]:
        """(label, token) whose signature does not verify, built from what is at hand."""
        out: list[tuple[str, str]] = []
        if self.issuer is not None:
            sub = self.subject()
            out.append(("the right kid signed by another key", self.issuer.stranger_same_kid(sub)))
            out.append(("a valid token with its payload edited", self.issuer.tampered(sub)))
        elif self.template is not None and self.a_token:
            sub = self.subject()
            edited = tamper_payload(self.a_token, sub=sub + "-other")
            out.append(("user A's token with its sub edited", edited))
            out.append(
                ("user A's token with one signature byte flipped", flip_signature(self.a_token))
            )
        return out

    # -- requests -------------------------------------------------------------------------------

    def create_body(self, tag: str) -> bytes:
        text = f"{PROBE_TEXT} ({tag} {uuid.uuid4().hex[:8]})"
        return self.client.body("threads.create", {"input": user_input(text)})

    async def stream(
        self, body: bytes, who: Identity | None, type_: str = "threads.create"
    ) -> RecordedStream:
        rec = await self.client.stream_raw(body, request_type=type_, identity=who)
        tid = rec.thread_id if rec.status == 200 and type_ == "threads.create" else None
        if tid and who is not None:
            self.created.append((tid, who))
        return rec

    async def json(
        self, type_: str, params: Mapping[str, Any], who: Identity | None
    ) -> JsonResponse:
        body = self.client.body(type_, params)
        return await self.client.request_raw(body, request_type=type_, identity=who)

    async def control(self, body: bytes, what: str) -> RecordedStream:
        """The same request as user A must still work after the probes."""
        rec = await self.stream(body, self.a)
        if rec.status != 200 or rec.transport_error or not rec.thread_id:
            fail(
                f"the control request (the same {what} with user A's valid credential) failed "
                "after the probes, so their refusals prove nothing",
                expected="HTTP 200 and a stream that creates the thread",
                actual=f"HTTP {rec.status or rec.transport_error}, {len(rec.events)} events",
                evidence=self.evidence(rec),
                repro=curl_command(rec),
            )
        return rec

    async def cleanup(self) -> None:
        """Delete the threads the probes and controls created (best effort)."""
        created, self.created = self.created, []
        for tid, who in created:
            # A failed cleanup never decides a check.
            with contextlib.suppress(Exception):
                await self.json("threads.delete", {"thread_id": tid}, who)

    # -- verdicts -------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        vals = self.target.secrets() + [v for v in (self.a.token,) if v]
        if self.b is not None and self.b.token:
            vals.append(self.b.token)
        return vals

    def evidence(self, ex: Exchange, probe: Probe | None = None) -> str:
        lines = []
        if probe is not None:
            lines.append(f"probe: {probe.label}")
            if probe.token_header is not None:
                lines.append(f"token header: {json.dumps(dict(probe.token_header))[:300]}")
        lines.append(evidence_of(ex))
        return redact_text("\n".join(lines), self.secrets())

    async def expect_refused(self, probes: Sequence[Probe], *, message: str) -> None:
        """Each probe (a threads.create) is refused with 401/403 before any stream byte; then
        the same request as user A succeeds."""
        body = self.create_body("auth")
        bad: list[tuple[Probe, RecordedStream, str]] = []
        for probe in probes:
            rec = await self.stream(body, probe.identity)
            problem = refusal_problem(rec)
            if problem:
                bad.append((probe, rec, problem))
        await self.control(body, "threads.create")
        await self.cleanup()
        if bad:
            probe, rec, _ = bad[0]
            fail(
                message,
                expected="HTTP 401 (or 403) before any stream byte, for every probe",
                actual="; ".join(f"{p.label}: {problem}" for p, _, problem in bad),
                evidence=self.evidence(rec, probe),
                repro=curl_command(rec),
            )


def refusal_problem(ex: Exchange) -> str | None:
    """None when ``ex`` is a proper refusal (401/403, no stream data); else what it was."""
    streamed = isinstance(ex, RecordedStream) and (ex.events or "data" in ex.framing.fields)
    if ex.status == 0:
        return f"no HTTP response ({ex.transport_error or 'connection closed'})"
    if ex.status in REFUSED:
        if streamed:
            assert isinstance(ex, RecordedStream)
            return f"HTTP {ex.status}, but the body streams {len(ex.events)} events"
        return None
    if 200 <= ex.status < 300:
        if isinstance(ex, RecordedStream):
            types = {p.get("type") for p in ex.payloads}
            if types and types <= {"error"}:
                return (
                    f"HTTP {ex.status} with the refusal as an error event inside the stream, "
                    "after the handler had started"
                )
            return f"accepted: HTTP {ex.status}, {len(ex.events)} events streamed"
        return f"accepted: HTTP {ex.status}"
    if ex.status >= 500:
        return f"HTTP {ex.status}: the bad credential crashed the handler instead of a 401"
    if 300 <= ex.status < 400:
        return (
            f"HTTP {ex.status} redirect instead of 401 (an API client cannot follow a login page)"
        )
    return (
        f"HTTP {ex.status} instead of 401/403 (a client cannot tell a bad credential from a bad "
        "request, so it never refreshes the token)"
    )


def refers_to(ex: Exchange, thread_id: str) -> bool:
    """A 2xx answer about ``thread_id``: the thread itself, a page holding it or its items,
    or stream events (other than errors) that carry it."""
    if not 200 <= ex.status < 300:
        return False
    if isinstance(ex, RecordedStream):
        return any(p.get("type") != "error" and thread_id in json.dumps(p) for p in ex.payloads)
    data = ex.json if isinstance(ex, JsonResponse) else None
    if not isinstance(data, dict):
        return False
    page = data.get("data")
    rows: list[Any] = page if isinstance(page, list) else [data]
    return any(isinstance(r, dict) and thread_id in (r.get("id"), r.get("thread_id")) for r in rows)


def _stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def fetch_rsa_keys(url: str, timeout: float) -> list[tuple[str, bytes]]:
    """(kid, PEM) of the RSA keys published at ``url``; empty when it cannot be read."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            resp = await http.get(url)
        data = resp.json()
    except (httpx.HTTPError, ValueError):
        return []
    keys = data.get("keys") if isinstance(data, dict) else None
    out: list[tuple[str, bytes]] = []
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        try:
            public = RSAAlgorithm.from_jwk(json.dumps(jwk))
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(public, rsa.RSAPublicKey):
            out.append((str(jwk.get("kid", "")), public_pem(public)))
    return out


def user_id_of(identity: Identity | None, target: Target, which: str) -> str | None:
    """What a plain identity header says for this user: from their header set, else the
    subject of their JWT."""
    if identity is None:
        return None
    headers = target.user_headers_a if which == "a" else target.user_headers_b
    for k, v in headers.items():
        if k.lower() == target.user_header.lower():
            return v
    if identity.token:
        parts = decode_unverified(identity.token)
        if parts is not None and isinstance(parts[1].get("sub"), str):
            return str(parts[1]["sub"])
    return None


def build_setup(target: Target, issuer: TestIssuer | None, helper: TestIssuer | None) -> AuthSetup:
    """Split the target's credentials from its plain headers and find what can be forged.

    The caller closes ``setup.client``."""
    moved = {k: v for k, v in target.headers.items() if k.lower() in CREDENTIAL_HEADERS}
    from dataclasses import replace

    plain_target = replace(
        target,
        headers={k: v for k, v in target.headers.items() if k.lower() not in CREDENTIAL_HEADERS},
    )
    a0 = target.identity("a")
    assert a0 is not None
    a = Identity("user A", {**moved, **a0.headers}, token=a0.token or _bearer_of(moved))
    b0 = target.identity("b")
    b = None if b0 is None else Identity("user B", dict(b0.headers), token=b0.token)
    client = ChatKitClient(plain_target, identity=a)
    template = decode_unverified(a.token) if a.token else None
    return AuthSetup(
        target=plain_target,
        client=client,
        a=a,
        b=b,
        a_id=user_id_of(a, target, "a"),
        b_id=user_id_of(b, target, "b"),
        issuer=issuer,
        helper=helper,
        template=template,
    )


def _bearer_of(headers: Mapping[str, str]) -> str | None:
    for k, v in headers.items():
        if k.lower() == "authorization" and v.lower().startswith("bearer "):
            return v[7:].strip() or None
    return None
