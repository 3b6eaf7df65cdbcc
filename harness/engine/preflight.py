"""Authentication preflight: is the credential accepted at all, before anything is judged?

With a refused credential every request gets 401, and without this step bad-request checks
pass ("a 401 is a 4xx") while 30 others fail with fixes that have nothing to do with the
cause. So user A's credential is tried on ``threads.list`` (and ``threads.create``, the first
turn of the conversation probe), and user B's on ``threads.list``; a refusal ends the run with
exit 2 and one line saying which request, which status, what was sent.
"""

from __future__ import annotations

from harness.auth.issuer import TestIssuer
from harness.protocol.client import ChatKitClient, Exchange, TargetUnreachable
from harness.report.redact import redact_text
from harness.target.config import Identity, Target

# 401/403: the credential; 407: a proxy wants its own; 503 before any handler runs is how
# deployments answer when their identity provider is unreachable.
REFUSED = (401, 403, 407, 503)


class CredentialRefused(TargetUnreachable):
    """The deployment refused the harness's credential: no verdict would mean anything."""


def sent(identity: Identity | None, target: Target) -> str:
    """What the request carried, by header name and kind (values redacted)."""
    headers = dict(target.headers)
    if identity is not None:
        headers.update(identity.headers)
    if not headers:
        return "no credential and no identity header"
    parts = []
    for name, value in headers.items():
        low = name.lower()
        if low == "authorization":
            scheme, _, rest = value.partition(" ")
            kind = "a JWT" if rest.count(".") == 2 else "a non-JWT value"
            parts.append(f"Authorization: {scheme} <{kind}>")
        elif low == "cookie":
            names = [c.split("=", 1)[0].strip() for c in value.split(";") if c.strip()]
            parts.append(f"Cookie: {', '.join(names)}")
        else:
            parts.append(f"{name}: {redact_text(value, target.secrets())}")
    return "; ".join(parts)


def refusal_line(
    ex: Exchange, who: str, identity: Identity | None, target: Target, issuer: TestIssuer | None
) -> str:
    status = f"HTTP {ex.status}" if ex.status else (ex.transport_error or "no answer")
    line = (
        f"{who}'s credential was refused: {ex.request_type} answered {status} "
        f"(sent {sent(identity, target)})"
    )
    if issuer is not None and not target.bundled:
        if issuer.fetched(issuer.jwks_path):
            line += f"; the deployment fetched {issuer.jwks_url} but refused its token"
        else:
            line += f"; the deployment never fetched the test issuer's JWKS {issuer.jwks_url}"
    return line + "; give a credential the deployment accepts (--token, --cookie or -H)"


async def check_list(
    client: ChatKitClient,
    target: Target,
    issuer: TestIssuer | None,
    b: Identity | None,
) -> None:
    """threads.list as A (and B); raises :class:`CredentialRefused` with one line."""
    for who, identity in (("user A", client.identity), ("user B", b)):
        if who == "user B" and identity is None:
            continue
        body = client.body("threads.list", {"limit": 1, "order": "desc"})
        resp = await client.request_raw(body, request_type="threads.list", identity=identity)
        if resp.status in REFUSED:
            raise CredentialRefused(refusal_line(resp, who, identity, target, issuer))


def check_create(
    ex: Exchange, client: ChatKitClient, target: Target, issuer: TestIssuer | None
) -> None:
    if ex.status in REFUSED:
        raise CredentialRefused(refusal_line(ex, "user A", client.identity, target, issuer))
