"""The harness's own test issuer: a JWKS served on 127.0.0.1 and a token forge.

A deployment configured to trust this issuer (its JWKS URL, issuer and audience) can be probed
with validly signed but wrong tokens (expired, wrong audience, unknown kid) and with two
synthetic users for isolation. The forge also builds the classic attack tokens that need no
trusted key at all (alg none, HS256 signed with the RSA public key, an embedded jwk header).

Besides the JWKS, the same 127.0.0.1 server answers OpenID discovery (for deployments configured
by issuer URL) and an "attacker" key set at :data:`ATTACKER_PATH`, the URL a ``jku`` token points
at; every fetch of it is recorded, because a deployment that fetches it at all follows key URLs
named by the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

if TYPE_CHECKING:
    from harness.target.config import Target

DEFAULT_ISSUER = "chatkit-harness-test-issuer"
DEFAULT_AUDIENCE = "chatkit"
DEFAULT_JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
ATTACKER_PATH = "/attacker/jwks.json"
# OAuth token exchange (RFC 8693), so a deployment can trade its user's token for one issued
# for another resource (an MCP server, RFC 8707), advertised by RFC 8414 metadata.
AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
TOKEN_PATH = "/token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
EXCHANGED_LIFETIME = 300


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return jwk


def thumbprint(key: rsa.RSAPrivateKey) -> str:
    """RFC 7638 JWK thumbprint: a kid that stays the same as long as the key does."""
    jwk = _public_jwk(key)
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode()).digest())


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class IssuerKeyError(Exception):
    """The signing key file cannot be read or written; the message is one line."""


def load_or_create_key(path: str | Path) -> rsa.RSAPrivateKey:
    """The RSA key in ``path`` (PEM), created there (mode 0600) on first use."""
    path = Path(path).expanduser()
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise IssuerKeyError(f"cannot read the issuer key {path}: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise IssuerKeyError(f"the issuer key {path} is not an RSA private key")
        return key
    key = _new_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except OSError as exc:
        raise IssuerKeyError(f"cannot write the issuer key {path}: {exc.strerror}") from None
    return key


# -- forging from any token's parts (the deployment's own token, when it is a JWT) ----------


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, claims) of a JWT without verifying it; None when ``token`` is not a JWT."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def _segment(obj: Mapping[str, Any]) -> str:
    return _b64(json.dumps(dict(obj), separators=(",", ":")).encode())


def encode_unsigned(header: Mapping[str, Any], claims: Mapping[str, Any], alg: str = "none") -> str:
    """``alg: none`` (in any spelling) with an empty signature."""
    return f"{_segment({**header, 'alg': alg})}.{_segment(claims)}."


def sign_hs256(secret: bytes, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """HS256 by hand: libraries refuse to use a PEM public key as an HMAC secret."""
    signing_input = f"{_segment({**header, 'alg': 'HS256', 'typ': 'JWT'})}.{_segment(claims)}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def tamper_payload(token: str, **changes: Any) -> str:
    """The token with claims edited after signing (the signature no longer matches)."""
    head, payload, sig = token.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    claims = json.loads(base64.urlsafe_b64decode(padded))
    claims.update(changes)
    return f"{head}.{_segment(claims)}.{sig}"


def flip_signature(token: str) -> str:
    """The token with one byte of its signature changed."""
    head, payload, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) or b"\0")
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{_b64(bytes(raw))}"


@dataclass
class TestIssuer:
    """Two keys: ``key`` is published in the JWKS, ``stranger`` is not."""

    __test__ = False  # not a pytest test class

    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwks_path: str = DEFAULT_JWKS_PATH
    kid: str = ""  # default: the key's RFC 7638 thumbprint, so a kept key keeps its kid
    key: rsa.RSAPrivateKey = field(default_factory=_new_key)
    stranger: rsa.RSAPrivateKey = field(default_factory=_new_key)
    # Claims every token carries on top of sub/name/email/iss/aud/iat/nbf/exp, replacing any
    # of those defaults (None removes one); a string value may say "{sub}" for the user's
    # subject (e.g. {"user_id": "{sub}"}).
    extra_claims: Mapping[str, Any] = field(default_factory=dict)
    # Every GET the server answered: (path, monotonic time). Tells whether the deployment
    # fetched the JWKS at all, and whether it followed a jku URL.
    fetches: list[tuple[str, float]] = field(default_factory=list)
    # More kids the attacker key set claims (a jku token forged from a deployment's own token
    # carries that deployment's kid).
    attacker_kids: list[str] = field(default_factory=list)
    # Every token exchange granted: (sub, resource, monotonic time).
    exchanges: list[tuple[str, str, float]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        if not self.kid:
            self.kid = "harness-" + thumbprint(self.key)[:16]
        if not self.jwks_path.startswith("/"):
            self.jwks_path = "/" + self.jwks_path

    # -- the JWKS endpoint ------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        jwk = _public_jwk(self.key)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def attacker_jwks(self) -> dict[str, Any]:
        """The stranger's key under the trusted kid: what a jku token points at."""
        keys = []
        for kid in dict.fromkeys([self.kid, *self.attacker_kids]):
            jwk = _public_jwk(self.stranger)
            jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def authorization_server_metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.base_url,
            "token_endpoint": self.base_url + TOKEN_PATH,
            "jwks_uri": self.jwks_url,
            "grant_types_supported": [TOKEN_EXCHANGE],
            "token_endpoint_auth_methods_supported": ["none"],
        }

    def exchange(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """RFC 8693: a token for ``resource`` on behalf of a subject token this issuer signed.

        Public clients only (a test issuer has no client registry); the subject token must be
        this issuer's, signed by its published key and unexpired.
        """
        if form.get("grant_type") != TOKEN_EXCHANGE:
            return 400, {"error": "unsupported_grant_type"}
        subject = form.get("subject_token") or ""
        resource = form.get("resource") or form.get("audience") or ""
        if not subject or not resource:
            return 400, {
                "error": "invalid_request",
                "error_description": "subject_token and resource (or audience) are required",
            }
        try:
            claims = jwt.decode(
                subject, self.key.public_key(), algorithms=["RS256"], options={"verify_aud": False}
            )
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": type(exc).__name__}
        sub = str(claims.get("sub") or "")
        if not sub:
            return 400, {"error": "invalid_grant", "error_description": "subject token has no sub"}
        now = int(time.time())
        token = self.mint(
            sub,
            aud=resource,
            name=claims.get("name"),
            email=claims.get("email"),
            iat=now,
            nbf=now - 5,
            exp=now + EXCHANGED_LIFETIME,
        )
        self.exchanges.append((sub, resource, time.monotonic()))
        return 200, {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": EXCHANGED_LIFETIME,
        }

    def start(self, port: int = 0) -> str:
        """Serve the JWKS on 127.0.0.1 (OSError when the port is taken); returns its URL."""
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                issuer.fetches.append((path, time.monotonic()))
                pages = {
                    issuer.jwks_path: issuer.jwks,
                    DISCOVERY_PATH: issuer.discovery,
                    ATTACKER_PATH: issuer.attacker_jwks,
                    AS_METADATA_PATH: issuer.authorization_server_metadata,
                }
                page = pages.get(path)
                if page is None:
                    self.send_error(404)
                    return
                self._json(200, page())

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != TOKEN_PATH:
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 64 * 1024)).decode("utf-8", "replace")
                form = {k: v[0] for k, v in parse_qs(raw).items() if v}
                self._json(*issuer.exchange(form))

            def _json(self, status: int, page: Mapping[str, Any]) -> None:
                body = json.dumps(page).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        # shutdown() waits up to one poll interval: the default half second is paid by every run.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self.jwks_url

    @property
    def base_url(self) -> str:
        assert self._server is not None, "issuer not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return self.base_url + self.jwks_path

    @property
    def attacker_url(self) -> str:
        return self.base_url + ATTACKER_PATH

    def fetched(self, path: str, since: float = float("-inf")) -> int:
        """How many times ``path`` was fetched since the monotonic time ``since``."""
        return sum(1 for p, t in list(self.fetches) if p == path and t >= since)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- tokens -----------------------------------------------------------------------------

    def claims(self, sub: str, **overrides: Any) -> dict[str, Any]:
        """The default claims, then ``extra_claims`` over them, then ``overrides`` (the attack
        tokens' own changes); a claim whose value ends up None is left out."""
        now = int(time.time())
        base: dict[str, Any] = {
            "sub": sub,
            "name": sub.capitalize(),
            "email": f"{sub}@example.test",
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 3600,
        }
        for name, value in self.extra_claims.items():
            base[name] = value.replace("{sub}", sub) if isinstance(value, str) else value
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def mint(
        self,
        sub: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        hdr = {"kid": self.kid, **(headers or {})}
        return jwt.encode(self.claims(sub, **claims), key or self.key, "RS256", headers=hdr)

    # The attack tokens. Each names the hole it probes.

    def expired(self, sub: str) -> str:
        now = int(time.time())
        return self.mint(sub, iat=now - 7200, nbf=now - 7200, exp=now - 3600)

    def not_yet_valid(self, sub: str) -> str:
        now = int(time.time())
        return self.mint(sub, nbf=now + 3600, exp=now + 7200)

    def wrong_audience(self, sub: str) -> str:
        return self.mint(sub, aud="some-other-api")

    def wrong_issuer(self, sub: str) -> str:
        return self.mint(sub, iss="https://evil.example.test/")

    def unknown_kid(self, sub: str) -> str:
        """Signed by a key the JWKS does not publish, under a kid it does not name."""
        return self.mint(sub, key=self.stranger, headers={"kid": "unknown-" + uuid.uuid4().hex[:8]})

    def trusted_key_unknown_kid(self, sub: str) -> str:
        """Signed by the published key, under a kid the JWKS does not name: a verifier that
        tries every key (python-jose given the whole JWKS) accepts it, so a revoked or
        rotated-out kid never stops working."""
        return self.mint(sub, headers={"kid": "revoked-" + uuid.uuid4().hex[:8]})

    def stranger_same_kid(self, sub: str) -> str:
        """Right kid, wrong key: a bad signature."""
        return self.mint(sub, key=self.stranger)

    def alg_none(self, sub: str, alg: str = "none") -> str:
        """Unsigned; ``alg`` may be spelt "None" or "NONE" to probe case-sensitive deny lists."""
        return encode_unsigned({"typ": "JWT", "kid": self.kid}, self.claims(sub), alg)

    def alg_confusion(self, sub: str) -> str:
        """HS256 with the RSA *public* key PEM as the HMAC secret (libraries refuse to build it)."""
        pem = public_pem(self.key.public_key())
        return sign_hs256(pem, {"kid": self.kid}, self.claims(sub))

    def embedded_jwk(self, sub: str) -> str:
        """Signed by the stranger key, which the token itself carries in its ``jwk`` header."""
        jwk = _public_jwk(self.stranger)
        return self.mint(sub, key=self.stranger, headers={"kid": self.kid, "jwk": jwk})

    def embedded_jku(self, sub: str) -> str:
        """Signed by the stranger key, whose JWKS the ``jku`` header points at (served here)."""
        headers = {"kid": self.kid, "jku": self.attacker_url}
        return self.mint(sub, key=self.stranger, headers=headers)

    def tampered(self, sub: str) -> str:
        """A valid token whose payload was edited afterwards (signature no longer matches)."""
        head, _, sig = self.mint(sub).split(".")
        payload = _b64(json.dumps(self.claims("mallory")).encode())
        return f"{head}.{payload}.{sig}"


def issuer_for(target: Target) -> TestIssuer:
    """The test issuer shaped by the target's settings (issuer, audience, kid, path, claims)."""
    kw: dict[str, Any] = {}
    if target.issuer_iss:
        kw["issuer"] = target.issuer_iss
    if target.issuer_aud:
        kw["audience"] = target.issuer_aud
    if target.issuer_kid:
        kw["kid"] = target.issuer_kid
    if target.jwks_path:
        kw["jwks_path"] = target.jwks_path
    if target.issuer_key:
        kw["key"] = load_or_create_key(target.issuer_key)
    return TestIssuer(extra_claims=dict(target.issuer_claims), **kw)
