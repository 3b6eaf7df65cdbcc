"""The harness's own test issuer: a JWKS served on 127.0.0.1 and a token forge.

A deployment configured to trust this issuer (its JWKS URL, issuer and audience) can be probed
with validly signed but wrong tokens (expired, wrong audience, unknown kid) and with two
synthetic users for isolation. The forge also builds the classic attack tokens that need no
trusted key at all (alg none, HS256 signed with the RSA public key, an embedded jwk header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_ISSUER = "chatkit-harness-test-issuer"
DEFAULT_AUDIENCE = "chatkit"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class TestIssuer:
    """Two keys: ``key`` is published in the JWKS, ``stranger`` is not."""

    __test__ = False  # not a pytest test class

    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwks_path: str = "/.well-known/jwks.json"
    kid: str = field(default_factory=lambda: "harness-" + uuid.uuid4().hex[:12])
    key: rsa.RSAPrivateKey = field(default_factory=_new_key)
    stranger: rsa.RSAPrivateKey = field(default_factory=_new_key)
    _server: ThreadingHTTPServer | None = None

    # -- the JWKS endpoint ------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def start(self, port: int = 0) -> str:
        """Serve the JWKS on 127.0.0.1; returns its URL."""
        body = json.dumps(self.jwks()).encode()
        path = self.jwks_path

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != path:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.jwks_url

    @property
    def jwks_url(self) -> str:
        assert self._server is not None, "issuer not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.jwks_path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- tokens -----------------------------------------------------------------------------

    def claims(self, sub: str, **overrides: Any) -> dict[str, Any]:
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

    def stranger_same_kid(self, sub: str) -> str:
        """Right kid, wrong key: a bad signature."""
        return self.mint(sub, key=self.stranger)

    def alg_none(self, sub: str) -> str:
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(self.claims(sub)).encode())}."

    def alg_confusion(self, sub: str) -> str:
        """HS256 with the RSA *public* key PEM as the HMAC secret (libraries refuse to build it)."""
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(self.claims(sub)).encode())}"
        )
        sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(sig)}"

    def embedded_jwk(self, sub: str) -> str:
        """Signed by the stranger key, which the token itself carries in its ``jwk`` header."""
        jwk = json.loads(RSAAlgorithm.to_jwk(self.stranger.public_key()))
        return self.mint(sub, key=self.stranger, headers={"kid": self.kid, "jwk": jwk})

    def tampered(self, sub: str) -> str:
        """A valid token whose payload was edited afterwards (signature no longer matches)."""
        head, _, sig = self.mint(sub).split(".")
        payload = _b64(json.dumps(self.claims("mallory")).encode())
        return f"{head}.{payload}.{sig}"
