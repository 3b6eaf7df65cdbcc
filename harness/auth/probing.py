"""Auth probing helpers: who the harness can be, which bad credentials it can forge, and how
a refusal is told from an acceptance. No I/O here but :func:`fetch_rsa_keys`; the probes that
send all this live in harness/probes/auth.py, the judgments in harness/auth/verdicts.py.

Every probe is the control request with exactly one thing changed: the credential under test.
Headers that identify nobody (an API gateway key, custom context headers) stay as they are, so
a refusal can only be about the credential, and the control request (same body, a credential
known to be good) shows the refusal was not about anything else.

A refusal counts only when it comes as HTTP 401 or 403 before any stream byte: a client (and
ChatKit's custom fetch) decides on the status line whether to refresh a token, and a 200 whose
stream carries an error event has already started the handler that should never have run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from harness.auth.issuer import TestIssuer, decode_unverified, public_pem, thumbprint
from harness.protocol.client import Exchange, JsonResponse, RecordedStream
from harness.protocol.tls import tls_context
from harness.target.config import Identity, Target

CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})
REFUSED = (401, 403)
PROBE_TEXT = "chatkit-harness auth probe. Please answer with one word."

# Who signed the tokens of a probe round, and so which valid credential is its control.
USER = "user"  # forged from user A's own token (or no token at all): A's credential
ISSUER = "issuer"  # signed by the test issuer or forged from its key: a valid issuer token
NOBODY = "nobody"  # invented claims, no key at all: no valid credential exists to compare


@dataclass(frozen=True)
class Attempt:
    """One bad credential: a label for the report and the identity carrying it."""

    label: str
    identity: Identity
    # The forged token's header, shown in the evidence (never the token itself).
    token_header: Mapping[str, Any] | None = None
    group: str = ""  # the check it belongs to, when one round serves several checks


@dataclass(frozen=True)
class People:
    """User A and B as the auth probes send them, and what their tokens say."""

    target: Target  # credential headers moved out of target.headers into the identities
    a: Identity  # user A's valid identity (may carry no credential at all)
    b: Identity | None
    a_id: str | None  # what a plain identity header says for A ("alice"), when known
    b_id: str | None
    template: tuple[dict[str, Any], dict[str, Any]] | None  # (header, claims) of A's JWT
    stranger: rsa.RSAPrivateKey = field(default_factory=lambda: _stranger_key())

    @property
    def user_header(self) -> str:
        return self.target.user_header

    @property
    def a_has_verified_credential(self) -> bool:
        """A proves who they are with a token or a cookie, not only a plain header."""
        return any(k.lower() in CREDENTIAL_HEADERS for k in self.a.headers)

    def secrets(self) -> list[str]:
        vals = self.target.secrets() + [v for v in (self.a.token,) if v]
        vals += [v for k, v in self.a.headers.items() if k.lower() == "cookie"]
        if self.b is not None and self.b.token:
            vals.append(self.b.token)
        return vals

    def plain_headers(self, identity: Identity | None = None) -> dict[str, str]:
        """The headers of ``identity`` (default A) that carry no credential."""
        who = identity or self.a
        return {k: v for k, v in who.headers.items() if k.lower() not in CREDENTIAL_HEADERS}

    def no_identity(self, name: str = "no credentials") -> Identity:
        """A's request without any credential and without A's plain identity headers (a
        header given with -H stays: every request carries it)."""
        user = {k.lower() for k in self.target.user_headers_a} | {self.user_header.lower()}
        return Identity(
            name, {k: v for k, v in self.plain_headers().items() if k.lower() not in user}
        )

    def with_authorization(self, value: str, label: str) -> Identity:
        """A's request with ``Authorization: value`` as its only credential."""
        headers = self.plain_headers()
        headers["Authorization"] = value
        token = value.partition(" ")[2] or None
        return Identity(label, headers, token=token)

    def bearer(self, token: str, label: str, group: str = "") -> Attempt:
        parts = decode_unverified(token)
        header = parts[0] if parts else _raw_header(token)
        return Attempt(label, self.with_authorization(f"Bearer {token}", label), header, group)

    def subject(self) -> str:
        if self.template is not None and isinstance(self.template[1].get("sub"), str):
            return str(self.template[1]["sub"])
        return self.a_id or "alice"

    def kid(self) -> str | None:
        if self.template is not None and isinstance(self.template[0].get("kid"), str):
            return str(self.template[0]["kid"])
        return None


def signed_by(token: str | None, issuer: TestIssuer | None) -> bool:
    """The token carries the test issuer's kid and iss (it was minted by the harness)."""
    if not token or issuer is None:
        return False
    parts = decode_unverified(token)
    return (
        parts is not None
        and parts[0].get("kid") == issuer.kid
        and parts[1].get("iss") == issuer.issuer
    )


def invented_claims() -> dict[str, Any]:
    """Claims of a user nobody issued: for deployments that verify nothing (no key needed)."""
    now = int(time.time())
    sub = "harness-" + uuid.uuid4().hex[:8]
    return {"sub": sub, "name": "Harness Probe", "iat": now, "nbf": now - 5, "exp": now + 3600}


def embedded_kid(people: People, issuer: TestIssuer | None) -> str:
    """The kid a token carrying its own key names: A's, the issuer's, or one of its own (the
    probe sets its own header, so any JWT will do, with or without a kid)."""
    return (
        people.kid()
        or (issuer.kid if issuer is not None else "")
        or ("harness-" + thumbprint(people.stranger)[:16])
    )


def embedded_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return jwk


def issuer_public_key(issuer: TestIssuer) -> tuple[str, bytes]:
    return issuer.kid, public_pem(issuer.key.public_key())


def _raw_header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a token no library will decode (alg none, HS256 by hand)."""
    import base64

    head = token.split(".", 1)[0]
    try:
        value = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# -- what came back ------------------------------------------------------------------------


def accepted(ex: Exchange | None) -> bool:
    """The target served the request: a 2xx that is more than an error event."""
    if ex is None or not 200 <= ex.status < 300:
        return False
    if isinstance(ex, RecordedStream):
        types = {p.get("type") for p in ex.payloads}
        return not (types and types <= {"error"})
    return True


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


def sent_credentials(ex: Exchange, user_header: str) -> str:
    """What a request really carried, for its label: derived from the headers sent."""
    names = {k.lower(): (k, v) for k, v in ex.request_headers.items()}
    parts = []
    auth = names.get("authorization")
    scheme = auth[1].split(" ", 1)[0] if auth is not None else ""
    parts.append("no Authorization header" if auth is None else f"Authorization: {scheme} ...")
    parts.append("no cookie" if "cookie" not in names else "a Cookie header")
    ident = names.get(user_header.lower())
    parts.append("no identity header" if ident is None else f"{ident[0]}: {ident[1]}")
    return ", ".join(parts)


def _stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def fetch_rsa_keys(url: str, timeout: float) -> list[tuple[str, bytes]]:
    """(kid, PEM) of the RSA keys published at ``url``; empty when it cannot be read."""
    try:
        async with httpx.AsyncClient(timeout=timeout, verify=tls_context()) as http:
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
    if which == "a":
        for k, v in target.headers.items():  # -H 'X-User-ID: alice': every request's header
            if k.lower() == target.user_header.lower():
                return v
    if identity.token:
        parts = decode_unverified(identity.token)
        if parts is not None and isinstance(parts[1].get("sub"), str):
            return str(parts[1]["sub"])
    return None


def build_people(target: Target, a0: Identity | None = None) -> People:
    """Split the target's credentials from its plain headers and read what A's token says.

    ``a0`` is user A's identity when it is already resolved (a token command ran once)."""
    moved = {k: v for k, v in target.headers.items() if k.lower() in CREDENTIAL_HEADERS}
    plain_target = replace(
        target,
        headers={k: v for k, v in target.headers.items() if k.lower() not in CREDENTIAL_HEADERS},
    )
    a0 = a0 or target.identity("a")
    assert a0 is not None
    a = Identity("user A", {**moved, **a0.headers}, token=a0.token or _bearer_of(moved))
    b0 = target.identity("b")
    b = None if b0 is None else Identity("user B", dict(b0.headers), token=b0.token)
    return People(
        target=plain_target,
        a=a,
        b=b,
        a_id=user_id_of(a, target, "a"),
        b_id=user_id_of(b, target, "b"),
        template=decode_unverified(a.token) if a.token else None,
    )


def _bearer_of(headers: Mapping[str, str]) -> str | None:
    for k, v in headers.items():
        if k.lower() == "authorization" and v.lower().startswith("bearer "):
            return v[7:].strip() or None
    return None
