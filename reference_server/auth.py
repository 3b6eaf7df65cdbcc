"""Bearer-token authentication: JWT verification against a JWKS, and who the caller is.

The correct path is strict on purpose: an allow-list of asymmetric algorithms, the
kid must name a key in the set (never "try every key"), tokens may not carry their own
key (jwk / jku / x5u / x5c headers), exp/nbf with a small leeway, iss/aud when
configured. The auth faults each relax exactly one of these rules.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from jwt import PyJWK

from .config import DEV_AUDIENCE, DEV_ISSUER, ServerConfig
from .faults import Fault
from .keysets import KeySet, KeySetError

ALLOWED_ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 5
# Headers that let a token name its own verification key: honouring any of them
# lets an attacker sign with a key of their choice.
FORBIDDEN_HEADERS = ("jwk", "jku", "x5u", "x5c")


class AuthError(Exception):
    """The request is not authenticated (401) or not allowed (403)."""

    def __init__(self, detail: str, *, status: int = 401, error: str = "invalid_token") -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.error = error


@dataclass(frozen=True)
class Identity:
    """Who is calling: the user id every store operation is scoped to."""

    user_id: str
    token: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token from ``Authorization: Bearer <token>``; AuthError when absent or malformed."""
    value = headers.get("authorization")
    if not value:
        raise AuthError("missing Authorization header")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization header is not 'Bearer <token>'")
    return token


# -- own-tokens-only: a deployment that trusts its own HS256 tokens and nothing else ----------

OWN_SECRET_CONTEXT = b"chatkit-reference-server own-tokens-only\0"


def own_secret(key_path: Path | None = None) -> bytes:
    """The HMAC secret of the own-tokens-only fault, derived from the dev key, so the server
    and ``--dev-token`` share it without another file."""
    from .dev_issuer import load_dev_key

    key = load_dev_key(key_path).private_key
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return hashlib.sha256(OWN_SECRET_CONTEXT + der).digest()


def own_issuer(cfg: ServerConfig) -> tuple[str, str]:
    """(iss, aud) of the server's own tokens."""
    return cfg.issuer or DEV_ISSUER, cfg.audience or DEV_AUDIENCE


def mint_own_token(cfg: ServerConfig, sub: str, *, ttl: int = 3600) -> str:
    """An HS256 token only an own-tokens-only server accepts (no kid: it has one key)."""
    iss, aud = own_issuer(cfg)
    now = int(time.time())
    claims = {"sub": sub, "iss": iss, "aud": aud, "iat": now, "nbf": now, "exp": now + ttl}
    return jwt.encode(claims, own_secret(cfg.dev_key_path), algorithm="HS256")


KEY_CACHE_SIZE = 64


class TokenVerifier:
    """Verifies JWTs for one server configuration."""

    def __init__(self, cfg: ServerConfig, keys: KeySet) -> None:
        self.cfg = cfg
        self.keys = keys
        self._own = own_secret(cfg.dev_key_path) if cfg.has(Fault.OWN_TOKENS_ONLY) else None
        self._keys: dict[str, PyJWK] = {}

    async def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; AuthError on any failure."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        for name in FORBIDDEN_HEADERS:
            if name in header:
                raise AuthError(f"token carries its own key reference ({name!r} header)")
        if self._own is not None:
            return self._decode_own(token, header.get("alg"))
        if self.cfg.has(Fault.IGNORE_KID):
            return await self._decode_like_seed(token)
        alg = header.get("alg")
        if self.cfg.has(Fault.ACCEPT_ALG_NONE) and str(alg).lower() == "none":
            # The fault: an unsigned token is taken at its word (claims still checked).
            return self._decode(token, key=None, alg=None)
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"algorithm {alg!r} is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token has no kid")
        try:
            jwk = await self.keys.key_for(kid)
        except KeySetError as exc:
            raise AuthError(str(exc), status=503, error="jwks_unavailable") from None
        if jwk is None:
            raise AuthError(f"unknown kid {kid!r}")
        try:
            # The key's own alg (or its kty's default) decides; jwt.decode then refuses a
            # token whose alg differs, so an RSA key can never verify an HS256 token.
            key = self._key(jwk)
        except jwt.PyJWTError as exc:
            raise AuthError(f"key {kid!r} cannot verify {alg}: {exc}") from None
        return self._decode(token, key=key, alg=alg)

    def _key(self, jwk: dict[str, Any]) -> PyJWK:
        """PyJWK of a JWK, built once per distinct key: loading an RSA public key costs more
        than verifying a signature with it, and every request of a burst needs one."""
        cache_key = json.dumps(jwk, sort_keys=True)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()  # a rotating key set: start over rather than grow
            key = self._keys[cache_key] = PyJWK(jwk)
        return key

    def _decode(self, token: str, *, key: PyJWK | None, alg: str | None) -> dict[str, Any]:
        cfg = self.cfg
        audience = cfg.expected_audience
        options: dict[str, Any] = {
            "verify_signature": key is not None,
            "verify_exp": not cfg.has(Fault.ACCEPT_EXPIRED),
            "verify_nbf": True,
            "verify_iat": True,
            "verify_iss": cfg.expected_issuer is not None,
            "verify_aud": audience is not None and not cfg.has(Fault.IGNORE_AUDIENCE),
            "require": ["sub"] if cfg.has(Fault.ACCEPT_EXPIRED) else ["sub", "exp"],
        }
        try:
            return jwt.decode(
                token,
                key=key if key is not None else "",
                algorithms=[alg] if alg else None,
                options=options,  # type: ignore[arg-type]
                audience=audience,
                issuer=cfg.expected_issuer,
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise AuthError(_describe(exc)) from None

    def _decode_own(self, token: str, alg: object) -> dict[str, Any]:
        # The fault: one symmetric secret of its own; any JWKS, issuer or key it is configured
        # with is ignored, so a test issuer's tokens are refused however valid.
        assert self._own is not None
        if alg != "HS256":
            raise AuthError("only this server's own HS256 tokens are accepted")
        iss, aud = own_issuer(self.cfg)
        try:
            return jwt.decode(
                token,
                self._own,
                algorithms=["HS256"],
                audience=aud,
                issuer=iss,
                leeway=LEEWAY_SECONDS,
                options={"require": ["sub", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(_describe(exc)) from None

    async def _decode_like_seed(self, token: str) -> dict[str, Any]:
        # The seed's own code: python-jose given the whole JWKS tries every key in it,
        # so the kid (and any kid-based revocation) is ignored.
        from jose import JWTError
        from jose import jwt as jose_jwt

        cfg = self.cfg
        try:
            jwks = await self.keys.jwks()
        except KeySetError as exc:
            raise AuthError(str(exc), status=503, error="jwks_unavailable") from None
        try:
            claims: dict[str, Any] = jose_jwt.decode(
                token,
                jwks,
                algorithms=["RS256"],
                audience=cfg.expected_audience,
                issuer=cfg.expected_issuer,
                options={"leeway": LEEWAY_SECONDS, "require_sub": True, "require_exp": True},
            )
        except JWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        return claims


def _describe(exc: jwt.PyJWTError) -> str:
    """A short, token-free reason for the 401 body and WWW-Authenticate header."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token is not valid yet (nbf/iat in the future)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "token audience is not accepted"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "token issuer is not accepted"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "token signature does not verify"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"token algorithm is not accepted: {exc}"
    return f"invalid token: {exc}"


async def authenticate(
    headers: Mapping[str, str], cfg: ServerConfig, verifier: TokenVerifier
) -> Identity:
    """Resolve the caller from the request headers (AuthError when that fails)."""
    header_user = headers.get("x-user-id") or None
    if cfg.has(Fault.NO_AUTH):
        return Identity(user_id=header_user or "anonymous")
    token = bearer_token(headers)
    claims = await verifier.verify(token)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthError("token subject is empty")
    if header_user is not None and header_user != sub:
        if cfg.has(Fault.TRUST_USER_HEADER):
            return Identity(user_id=header_user, token=token, claims=claims)
        raise AuthError(
            "X-User-ID names a different user than the token's subject",
            status=403,
            error="forbidden",
        )
    return Identity(user_id=sub, token=token, claims=claims)
