"""The reference server's token checks, over a real socket, and its JWKS handling."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from reference_server.config import DEV_AUDIENCE, DEV_ISSUER, ServerConfig
from reference_server.dev_issuer import load_dev_key, mint_dev_token
from reference_server.faults import Fault
from reference_server.keysets import RemoteKeySet
from reference_server.serving import serve_in_thread

LIST = {"type": "threads.list", "params": {}}
# One client for the module: creating one per request costs ~40 ms of TLS set-up.
CLIENT = httpx.Client(timeout=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "alice", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "iat": now, "exp": now + 600}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS built by hand (for tokens no library will sign)."""
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    return head + "." + _b64(signature)


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("issuer") / "dev-key.pem"
    load_dev_key(path)
    return path


@pytest.fixture(scope="module")
def stranger() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key_path: Path, claims: dict[str, Any], **headers: Any) -> str:
    dev = load_dev_key(key_path)
    return jwt.encode(
        claims, dev.private_key, algorithm="RS256", headers={"kid": dev.kid, **headers}
    )


def _serve(key_path: Path, **kw: Any) -> Iterator[str]:
    cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path, token_delay=0, **kw)
    with serve_in_thread(cfg) as url:
        yield url


@pytest.fixture(scope="module")
def url(key_path: Path) -> Iterator[str]:
    yield from _serve(key_path)


def _post(url: str, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return CLIENT.post(url, json=LIST, headers=headers)


def test_valid_dev_token_is_accepted(url: str, key_path: Path) -> None:
    """mint_dev_token's token opens the endpoint."""
    response = _post(url, mint_dev_token("alice", key_path=key_path, name="Alice"))
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []


def _bad_tokens(key_path: Path, stranger: rsa.RSAPrivateKey) -> dict[str, str | None]:
    dev = load_dev_key(key_path)
    pem = dev.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_head = {"alg": "HS256", "typ": "JWT", "kid": dev.kid}
    hs_body = _b64(json.dumps(hs_head).encode()) + "." + _b64(json.dumps(_claims()).encode())
    hs_sig = hmac.new(pem, hs_body.encode(), hashlib.sha256).digest()
    jwk_header = json.loads(RSAAlgorithm.to_jwk(stranger.public_key()))
    return {
        "missing": None,
        "malformed": "not-a-jwt",
        "bad-signature": jwt.encode(
            _claims(), stranger, algorithm="RS256", headers={"kid": dev.kid}
        ),
        "alg-none": unsigned({"alg": "none", "typ": "JWT", "kid": dev.kid}, _claims()),
        "hs256-with-public-key": hs_body + "." + _b64(hs_sig),
        "expired": _sign(key_path, _claims(exp=int(time.time()) - 60)),
        "nbf-in-future": _sign(key_path, _claims(nbf=int(time.time()) + 120)),
        "wrong-aud": _sign(key_path, _claims(aud="someone-else")),
        "wrong-iss": _sign(key_path, _claims(iss="https://evil.example")),
        "no-exp": _sign(key_path, _claims(exp=None)),
        "unknown-kid": jwt.encode(
            _claims(), dev.private_key, algorithm="RS256", headers={"kid": "no-such-kid"}
        ),
        "no-kid": jwt.encode(_claims(), dev.private_key, algorithm="RS256"),
        "embedded-jwk": jwt.encode(
            _claims(), stranger, algorithm="RS256", headers={"kid": dev.kid, "jwk": jwk_header}
        ),
        "jku-header": _sign(key_path, _claims(), jku="https://evil.example/jwks.json"),
    }


@pytest.fixture(scope="module")
def bad_tokens(key_path: Path, stranger: rsa.RSAPrivateKey) -> dict[str, str | None]:
    return _bad_tokens(key_path, stranger)


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "malformed",
        "bad-signature",
        "alg-none",
        "hs256-with-public-key",
        "expired",
        "nbf-in-future",
        "wrong-aud",
        "wrong-iss",
        "no-exp",
        "unknown-kid",
        "no-kid",
        "embedded-jwk",
        "jku-header",
    ],
)
def test_bad_token_is_rejected(url: str, bad_tokens: dict[str, str | None], case: str) -> None:
    """Every broken token gets 401 JSON with an RFC 6750 WWW-Authenticate header."""
    token = bad_tokens[case]
    response = _post(url, token)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_token" and body["detail"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    if token:
        assert token not in response.text


def test_wrong_scheme_is_rejected(url: str, key_path: Path) -> None:
    """A token sent as Basic (or bare) is not a bearer token."""
    token = mint_dev_token("alice", key_path=key_path)
    response = CLIENT.post(url, json=LIST, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 401


def test_expiry_leeway_is_small(url: str, key_path: Path) -> None:
    """A token expired 2 s ago passes the 5 s leeway; one expired 30 s ago does not."""
    assert _post(url, _sign(key_path, _claims(exp=int(time.time()) - 2))).status_code == 200
    assert _post(url, _sign(key_path, _claims(exp=int(time.time()) - 30))).status_code == 401


def test_x_user_id_must_match_subject(url: str, key_path: Path) -> None:
    """X-User-ID naming someone else is 403 JSON; naming the subject is fine."""
    token = mint_dev_token("alice", key_path=key_path)
    denied = _post(url, token, **{"X-User-ID": "bob"})
    assert denied.status_code == 403
    assert denied.json()["error"] == "forbidden"
    assert _post(url, token, **{"X-User-ID": "alice"}).status_code == 200


def test_jwks_endpoint_publishes_the_dev_key(url: str, key_path: Path) -> None:
    """/.well-known/jwks.json holds the dev issuer's public key under its kid."""
    base = url.removesuffix("/chatkit")
    jwks = CLIENT.get(base + "/.well-known/jwks.json").json()
    dev = load_dev_key(key_path)
    assert [k["kid"] for k in jwks["keys"]] == [dev.kid]
    assert "d" not in jwks["keys"][0]  # never the private part


def test_dev_key_file_is_private_and_shared(tmp_path: Path) -> None:
    """The dev key is created with mode 0600 and reused by later loads."""
    path = tmp_path / "nested" / "key.pem"
    first = load_dev_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_dev_key(path).kid == first.kid
    claims = jwt.decode(
        mint_dev_token("zoe", key_path=path, name="Zoe", ttl=60),
        first.private_key.public_key(),
        algorithms=["RS256"],
        audience=DEV_AUDIENCE,
        issuer=DEV_ISSUER,
    )
    assert claims["sub"] == "zoe" and claims["name"] == "Zoe"
    assert 55 <= claims["exp"] - time.time() <= 61


def test_threads_of_one_process_creating_the_dev_key_all_get_it(tmp_path: Path) -> None:
    """Two runs of one test process mint tokens at once: creating the key races in-process."""
    for round_ in range(5):
        path = tmp_path / f"race-{round_}" / "key.pem"
        kids: list[str] = []
        errors: list[BaseException] = []

        def load(path: Path = path, kids: list[str] = kids, errors: list[BaseException] = errors):
            try:
                kids.append(load_dev_key(path).kid)
            except BaseException as exc:  # the thread's failure, reported by the assertion
                errors.append(exc)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors and len(set(kids)) == 1 and len(kids) == 4


# -- an external issuer through --jwks-url ---------------------------------------------


class _JwksServer:
    """Serves a mutable JWKS on 127.0.0.1 and counts the fetches."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps(outer.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server() -> Iterator[_JwksServer]:
    server = _JwksServer()
    yield server
    server.close()


def _jwk(public: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    jwk = json.loads(algo.to_jwk(public))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


def test_external_issuer_rs256_and_es256(
    key_path: Path, jwks_server: _JwksServer, stranger: rsa.RSAPrivateKey
) -> None:
    """With --jwks-url the server trusts that issuer (RS256 and ES256), fetching keys once."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks_server.jwks = {
        "keys": [
            _jwk(stranger.public_key(), "rsa-1", "RS256"),
            _jwk(ec_key.public_key(), "ec-1", "ES256"),
        ]
    }
    claims = _claims(iss="https://issuer.test", aud="my-api")
    rs = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    swapped = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "rsa-1"})
    for url in _serve(
        key_path, jwks_url=jwks_server.url, issuer="https://issuer.test", audience="my-api"
    ):
        assert _post(url, rs).status_code == 200
        assert _post(url, es).status_code == 200
        assert _post(url, swapped).status_code == 401  # the kid's key decides the algorithm
        assert _post(url, mint_dev_token("alice", key_path=key_path)).status_code == 401
        assert jwks_server.fetches == 1
        unknown = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-2"})
        for _ in range(3):
            assert _post(url, unknown).status_code == 401
        # an unknown kid refetches at most once per 5 s, never per request
        assert jwks_server.fetches <= 2


def test_remote_key_set_picks_up_rotated_keys(jwks_server: _JwksServer) -> None:
    """An unknown kid triggers a refetch once the interval has passed."""
    jwks_server.jwks = {"keys": [{"kty": "RSA", "kid": "a", "n": "x", "e": "AQAB"}]}
    keys = RemoteKeySet(jwks_server.url, refetch_interval=0.2)

    async def scenario() -> None:
        assert await keys.key_for("a") is not None
        jwks_server.jwks["keys"].append({"kty": "RSA", "kid": "b", "n": "y", "e": "AQAB"})
        assert await keys.key_for("b") is None  # too soon: no refetch
        await asyncio.sleep(0.25)
        assert await keys.key_for("b") is not None

    asyncio.run(scenario())
    assert jwks_server.fetches == 2


def test_unreachable_jwks_is_503_not_500(key_path: Path) -> None:
    """When the issuer's JWKS cannot be fetched the answer is a JSON 503."""
    claims = _claims(iss="https://issuer.test", aud="my-api")
    token = unsigned({"alg": "RS256", "kid": "k"}, claims, b"sig")
    for url in _serve(
        key_path, jwks_url="http://127.0.0.1:9/jwks.json", issuer="https://issuer.test"
    ):
        response = _post(url, token)
        assert response.status_code == 503
        assert response.json()["error"] == "jwks_unavailable"


# -- the auth faults --------------------------------------------------------------------


def test_fault_accept_alg_none(key_path: Path, bad_tokens: dict[str, str | None]) -> None:
    """accept-alg-none lets unsigned tokens in but still refuses a bad signature."""
    for url in _serve(key_path, faults=frozenset({Fault.ACCEPT_ALG_NONE})):
        assert _post(url, bad_tokens["alg-none"]).status_code == 200
        assert _post(url, bad_tokens["bad-signature"]).status_code == 401
        assert _post(url, bad_tokens["expired"]).status_code == 401


def test_fault_accept_expired(key_path: Path, bad_tokens: dict[str, str | None]) -> None:
    """accept-expired lets expired tokens in but still checks the audience."""
    for url in _serve(key_path, faults=frozenset({Fault.ACCEPT_EXPIRED})):
        assert _post(url, bad_tokens["expired"]).status_code == 200
        assert _post(url, bad_tokens["wrong-aud"]).status_code == 401


def test_fault_ignore_audience(key_path: Path, bad_tokens: dict[str, str | None]) -> None:
    """ignore-audience accepts any aud but still checks expiry."""
    for url in _serve(key_path, faults=frozenset({Fault.IGNORE_AUDIENCE})):
        assert _post(url, bad_tokens["wrong-aud"]).status_code == 200
        assert _post(url, bad_tokens["expired"]).status_code == 401


def test_fault_ignore_kid(key_path: Path, bad_tokens: dict[str, str | None]) -> None:
    """ignore-kid (the seed's python-jose call) accepts a valid signature under any kid."""
    for url in _serve(key_path, faults=frozenset({Fault.IGNORE_KID})):
        assert _post(url, bad_tokens["unknown-kid"]).status_code == 200
        assert _post(url, bad_tokens["no-kid"]).status_code == 200
        assert _post(url, bad_tokens["bad-signature"]).status_code == 401
        assert _post(url, bad_tokens["alg-none"]).status_code == 401


def test_fault_no_auth(key_path: Path) -> None:
    """no-auth serves requests without a token, as the X-User-ID user or 'anonymous'."""
    for url in _serve(key_path, faults=frozenset({Fault.NO_AUTH})):
        assert _post(url, None).status_code == 200
        assert _post(url, None, **{"X-User-ID": "mallory"}).status_code == 200


def test_fault_trust_user_header(key_path: Path) -> None:
    """trust-user-header lets X-User-ID override the token's subject instead of a 403."""
    token = mint_dev_token("alice", key_path=key_path)
    for url in _serve(key_path, faults=frozenset({Fault.TRUST_USER_HEADER})):
        assert _post(url, token, **{"X-User-ID": "bob"}).status_code == 200
        assert _post(url, None).status_code == 401


def test_fault_own_tokens_only(key_path: Path, bad_tokens: dict[str, str | None]) -> None:
    """own-tokens-only accepts its own HS256 tokens (no kid) and nothing else, not even a
    valid token of the issuer it was told to trust."""
    from reference_server.auth import mint_own_token, own_secret

    cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path)
    own = mint_own_token(cfg, "dana")
    assert jwt.get_unverified_header(own) == {"alg": "HS256", "typ": "JWT"}
    for url in _serve(key_path, faults=frozenset({Fault.OWN_TOKENS_ONLY})):
        assert _post(url, own).status_code == 200
        assert _post(url, mint_dev_token("alice", key_path=key_path)).status_code == 401
        assert _post(url, bad_tokens["alg-none"]).status_code == 401
        assert _post(url, bad_tokens["hs256-with-public-key"]).status_code == 401
        expired = jwt.encode(
            {"sub": "dana", "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "exp": int(time.time()) - 60},
            own_secret(key_path),
            algorithm="HS256",
        )
        assert _post(url, expired).status_code == 401


def test_dev_token_mints_the_own_token_under_the_fault(key_path: Path) -> None:
    """``--fault own-tokens-only --dev-token SUB`` prints the HS256 token the fault accepts."""
    import subprocess
    import sys

    from reference_server.auth import own_secret

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_server",
            "--fault",
            "own-tokens-only",
            "--dev-key",
            str(key_path),
            "--dev-token",
            "dana",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    claims = jwt.decode(
        out, own_secret(key_path), algorithms=["HS256"], audience=DEV_AUDIENCE, issuer=DEV_ISSUER
    )
    assert claims["sub"] == "dana"
