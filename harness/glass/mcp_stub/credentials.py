"""What a credential says about its holder, without keeping the credential itself.

The stub records a fingerprint of every token it receives instead of the token: recordings go
to reports and over ``/_stub/calls``, and the harness, which knows each test user's token, can
still tell whose token arrived by comparing fingerprints. A JWT's claims are read (unverified)
so the reply can name the user, and its signature is checked against the key sets the stub
trusts, so "verified" means what it says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import jwt

# Signature algorithms the stub accepts from trusted key sets (never 'none', never HMAC: the
# stub holds no shared secrets).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]

KeySets = Callable[[], Sequence[Mapping[str, Any]]]


def fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for ``token`` (sha256, 16 hex digits)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass
class SeenCredential:
    """One credential as the tool server received it."""

    where: str  # "authorization header" or "access_token argument"
    fingerprint: str
    kind: str  # "jwt" or "opaque"
    length: int
    sub: str | None = None
    aud: list[str] = field(default_factory=list)
    iss: str | None = None
    exp: int | None = None
    verified: bool = False  # signature checked against a trusted key set, and not expired
    verify_error: str | None = None  # why it did not verify, when it is a JWT

    def describe(self) -> str:
        """One line for evidence: never the token, only what it is."""
        if self.kind != "jwt":
            return f"an opaque token ({self.length} chars, sha256 {self.fingerprint})"
        state = "verified" if self.verified else f"not verified: {self.verify_error or '?'}"
        aud = ", ".join(self.aud) or "(none)"
        return (
            f"a JWT for sub {self.sub!r}, aud {aud}, iss {self.iss!r} ({state}; "
            f"sha256 {self.fingerprint})"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SeenCredential | None:
        if not data:
            return None
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def _audiences(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def inspect_token(token: str, where: str, key_sets: KeySets | None = None) -> SeenCredential:
    """Fingerprint ``token``, read its claims when it is a JWT, and verify its signature."""
    seen = SeenCredential(where, fingerprint(token), "opaque", len(token))
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return seen
    if not isinstance(claims, dict):
        return seen
    seen.kind = "jwt"
    sub = claims.get("sub")
    seen.sub = str(sub) if sub is not None else None
    seen.aud = _audiences(claims.get("aud"))
    seen.iss = str(claims["iss"]) if claims.get("iss") is not None else None
    seen.exp = claims["exp"] if isinstance(claims.get("exp"), int) else None
    seen.verified, seen.verify_error = _verify(token, header, key_sets)
    return seen


def _verify(token: str, header: Mapping[str, Any], key_sets: KeySets | None) -> tuple[bool, str]:
    if key_sets is None:
        return False, "the stub trusts no key set"
    try:
        sets = list(key_sets())
    except Exception as exc:  # a key set URL that does not answer must not fail the call
        return False, f"cannot load the trusted key sets: {type(exc).__name__}"
    kid = header.get("kid")
    candidates = [
        key
        for keys in sets
        for key in keys.get("keys", [])
        if isinstance(key, Mapping) and (kid is None or key.get("kid") == kid)
    ]
    if not candidates:
        return False, f"no trusted key has kid {kid!r}"
    error = "no trusted key verifies its signature"
    for jwk in candidates:
        try:
            key = jwt.PyJWK.from_json(json.dumps(dict(jwk)))
            jwt.decode(token, key, algorithms=ALGORITHMS, options={"verify_aud": False})
            return True, ""
        except jwt.ExpiredSignatureError:
            return False, "expired"
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            error = f"{type(exc).__name__}"
    return False, error


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (any case), or None."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
