"""The development token issuer: one RSA key on disk, its JWKS, and token minting.

Kept free of chatkit imports so ``--dev-token`` answers in well under a second.
The key lives in the user's cache dir (mode 0600) so the server, the harness and a
newcomer's shell all share it without configuration.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .config import DEV_AUDIENCE, DEV_ISSUER, default_dev_key_path


@dataclass(frozen=True)
class DevKey:
    """The issuer's private key and the public JWK (with kid) that verifies it."""

    private_key: rsa.RSAPrivateKey
    kid: str
    public_jwk: dict[str, Any]

    def jwks(self) -> dict[str, Any]:
        """The public key set served at ``/.well-known/jwks.json``."""
        return {"keys": [self.public_jwk]}


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a kid that is stable for the key and unique to it."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _create_key_file(path: Path) -> None:
    """Write a fresh RSA key with mode 0600; losing a creation race is fine."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Write to a private temp file and link it into place: another process either
    # sees no file or a complete one, never half a key. The name is unique per call, not
    # per process: two threads of one process (a test minting tokens for two runs) racing
    # on one name would unlink each other's file before the link.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first; use theirs
    finally:
        tmp.unlink(missing_ok=True)


def load_dev_key(key_path: Path | None = None) -> DevKey:
    """Load the development issuer key, creating it on first use."""
    path = key_path or default_dev_key_path()
    if not path.exists():
        _create_key_file(path)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    public_jwk: dict[str, Any] = RSAAlgorithm.to_jwk(loaded.public_key(), as_dict=True)
    kid = _thumbprint(public_jwk)
    public_jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return DevKey(private_key=loaded, kid=kid, public_jwk=public_jwk)


def mint_dev_token(
    sub: str,
    *,
    key_path: Path | None = None,
    name: str | None = None,
    ttl: int = 3600,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
) -> str:
    """A token the reference server accepts by default (RS256, kid set, ``ttl`` seconds)."""
    key = load_dev_key(key_path)
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    }
    if name is not None:
        claims["name"] = name
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
