"""The test issuer and the token forge: each attack token is what its name says.

A forged token is only useful if it fails for the right reason: the expired one is validly
signed and only expired, the alg-confusion one really verifies under a verifier that uses the
public key as an HMAC secret, the jku one points at a key set that really holds its key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jose import JWTError
from jose import jwt as jose_jwt

from harness.auth.issuer import (
    ATTACKER_PATH,
    DISCOVERY_PATH,
    IssuerKeyError,
    TestIssuer,
    decode_unverified,
    encode_unsigned,
    flip_signature,
    issuer_for,
    load_or_create_key,
    public_pem,
    sign_hs256,
    tamper_payload,
)
from harness.auth.probing import fetch_rsa_keys, refusal_problem, user_id_of
from harness.protocol.client import JsonResponse, RecordedStream
from harness.target.config import ConfigError, load_target


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    iss = TestIssuer(extra_claims={"user_id": "{sub}", "org": "acme", "tier": 2})
    iss.start()
    yield iss
    iss.stop()


def verify(issuer: TestIssuer, token: str, **kw: Any) -> dict[str, Any]:
    """What a correct verifier does: key by kid from the served JWKS, RS256 only, iss/aud."""
    client = jwt.PyJWKClient(issuer.jwks_url)
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=issuer.audience,
        issuer=issuer.issuer,
        **kw,
    )
    return claims


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    def b64(s: str) -> bytes:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

    head, payload, sig = token.split(".")
    return json.loads(b64(head)), json.loads(b64(payload)), b64(sig)


def test_minted_token_verifies_against_the_served_jwks(issuer: TestIssuer) -> None:
    claims = verify(issuer, issuer.mint("alice"))
    assert claims["sub"] == "alice"
    assert claims["user_id"] == "alice"  # "{sub}" in a custom claim becomes the subject
    assert claims["org"] == "acme" and claims["tier"] == 2
    assert issuer.fetched(issuer.jwks_path) >= 1


def test_discovery_names_the_issuer_and_jwks(issuer: TestIssuer) -> None:
    doc = httpx.get(issuer.base_url + DISCOVERY_PATH).json()
    assert doc["issuer"] == issuer.issuer
    assert doc["jwks_uri"] == issuer.jwks_url
    assert httpx.get(issuer.base_url + "/nothing-here").status_code == 404


@pytest.mark.parametrize(
    ("forge", "error"),
    [
        ("expired", jwt.ExpiredSignatureError),
        ("not_yet_valid", jwt.ImmatureSignatureError),
        ("wrong_audience", jwt.InvalidAudienceError),
        ("wrong_issuer", jwt.InvalidIssuerError),
        ("stranger_same_kid", jwt.InvalidSignatureError),
        ("tampered", jwt.InvalidSignatureError),
    ],
)
def test_each_bad_token_fails_for_its_own_reason(
    issuer: TestIssuer, forge: str, error: type[Exception]
) -> None:
    token = getattr(issuer, forge)("alice")
    with pytest.raises(error):
        verify(issuer, token)


def test_bad_claims_tokens_are_validly_signed(issuer: TestIssuer) -> None:
    """expired/nbf/aud/iss differ from a good token only in that claim."""
    for forge in ("expired", "not_yet_valid", "wrong_audience", "wrong_issuer"):
        token = getattr(issuer, forge)("alice")
        verify(
            issuer,
            token,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )


def test_unknown_kid_tokens(issuer: TestIssuer) -> None:
    jwks = httpx.get(issuer.jwks_url).json()
    trusted = issuer.trusted_key_unknown_kid("alice")
    stranger = issuer.unknown_kid("alice")
    for token in (trusted, stranger):
        with pytest.raises(jwt.PyJWKClientError):
            verify(issuer, token)
    # The seed's python-jose call tries every key in the set: the trusted key under an
    # unknown kid gets in (the ignore-kid pitfall), the stranger's key does not.
    claims = jose_jwt.decode(trusted, jwks, algorithms=["RS256"], audience=issuer.audience)
    assert claims["sub"] == "alice"
    with pytest.raises(JWTError):
        jose_jwt.decode(stranger, jwks, algorithms=["RS256"], audience=issuer.audience)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_unsigned_with_the_real_claims(issuer: TestIssuer, alg: str) -> None:
    token = issuer.alg_none("alice", alg)
    header, claims, sig = segments(token)
    assert header["alg"] == alg and header["kid"] == issuer.kid
    assert sig == b"" and token.endswith(".")
    assert claims["iss"] == issuer.issuer and claims["aud"] == issuer.audience
    with pytest.raises(jwt.PyJWTError):
        verify(issuer, token)


def test_alg_confusion_verifies_under_a_verifier_using_the_public_key_as_hmac_secret(
    issuer: TestIssuer,
) -> None:
    token = issuer.alg_confusion("alice")
    header, _, sig = segments(token)
    assert header["alg"] == "HS256"
    signing_input = token.rsplit(".", 1)[0].encode()
    pem = public_pem(issuer.key.public_key())
    assert hmac.compare_digest(sig, hmac.new(pem, signing_input, hashlib.sha256).digest())
    with pytest.raises(jwt.PyJWTError):
        verify(issuer, token)


def test_embedded_jwk_carries_the_key_that_signed_it(issuer: TestIssuer) -> None:
    token = issuer.embedded_jwk("alice")
    header = jwt.get_unverified_header(token)
    own = jwt.PyJWK(header["jwk"])
    assert jwt.decode(token, own.key, algorithms=["RS256"], audience=issuer.audience)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(issuer, token)


def test_jku_points_at_a_key_set_holding_its_key(issuer: TestIssuer) -> None:
    issuer.attacker_kids.append("someone-elses-kid")
    token = issuer.embedded_jku("alice")
    header = jwt.get_unverified_header(token)
    assert header["jku"] == issuer.attacker_url
    before = issuer.fetched(ATTACKER_PATH)
    keys = httpx.get(header["jku"]).json()["keys"]
    assert issuer.fetched(ATTACKER_PATH) == before + 1
    assert {k["kid"] for k in keys} == {issuer.kid, "someone-elses-kid"}
    attacker = jwt.PyJWK(keys[0])
    assert jwt.decode(token, attacker.key, algorithms=["RS256"], audience=issuer.audience)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(issuer, token)


def test_forging_from_a_foreign_token(issuer: TestIssuer) -> None:
    """The no-trusted-key probes work from any JWT: its claims, its kid, its signature."""
    real = issuer.mint("carol")
    parts = decode_unverified(real)
    assert parts is not None
    header, claims = parts
    assert claims["sub"] == "carol" and header["kid"] == issuer.kid
    assert decode_unverified("not-a-jwt") is None
    assert decode_unverified("abc.def.ghi") is None

    edited = tamper_payload(real, sub="mallory")
    assert segments(edited)[1]["sub"] == "mallory"
    flipped = flip_signature(real)
    assert flipped != real and flipped.rsplit(".", 1)[0] == real.rsplit(".", 1)[0]
    for token in (edited, flipped):
        with pytest.raises(jwt.InvalidSignatureError):
            verify(issuer, token)

    unsigned = encode_unsigned(header, claims, "none")
    assert segments(unsigned)[0]["alg"] == "none" and segments(unsigned)[1] == claims
    pem = public_pem(issuer.key.public_key())
    hs = sign_hs256(pem, {"kid": header["kid"]}, claims)
    assert segments(hs)[0] == {"kid": issuer.kid, "alg": "HS256", "typ": "JWT"}


@pytest.mark.asyncio
async def test_fetch_rsa_keys_reads_a_deployment_jwks(issuer: TestIssuer) -> None:
    keys = await fetch_rsa_keys(issuer.jwks_url, 5)
    assert keys == [(issuer.kid, public_pem(issuer.key.public_key()))]
    assert await fetch_rsa_keys(issuer.base_url + "/nothing-here", 5) == []


def test_key_file_keeps_key_and_kid(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "issuer.pem"
    first = TestIssuer(key=load_or_create_key(path))
    assert path.exists() and (os.stat(path).st_mode & 0o777) == 0o600
    second = TestIssuer(key=load_or_create_key(path))
    assert first.kid == second.kid and first.kid.startswith("harness-")
    assert TestIssuer().kid != first.kid
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(IssuerKeyError, match="cannot read"):
        load_or_create_key(bad)


def test_issuer_for_takes_the_target_settings(tmp_path: Path) -> None:
    target = load_target(
        {
            "issuer_iss": "https://auth.example.test/",
            "issuer_aud": "chat-api",
            "issuer_kid": "k1",
            "jwks_path": "api/auth/jwks",
            "issuer_claims": '{"role": "user", "email": "{sub}@acme.test"}',
            "issuer_key": str(tmp_path / "k.pem"),
        },
        env={},
        pyproject=tmp_path / "none.toml",
    )
    iss = issuer_for(target)
    assert (iss.issuer, iss.audience, iss.kid, iss.jwks_path) == (
        "https://auth.example.test/",
        "chat-api",
        "k1",
        "/api/auth/jwks",
    )
    claims = iss.claims("bob")
    assert claims["role"] == "user" and claims["email"] == "bob@acme.test"


def test_fixed_port_that_is_taken_raises() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(OSError):
            TestIssuer().start(port)


def test_target_header_sets_and_claims(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    target = load_target(
        {"user_headers_a": "X-User-ID: alice; X-Org: acme", "user_headers_b": "X-User-ID: bob"},
        env={},
        pyproject=none,
    )
    a, b = target.identity("a"), target.identity("b")
    assert a is not None and b is not None
    assert dict(a.headers) == {"X-User-ID": "alice", "X-Org": "acme"} and a.token is None
    assert dict(b.headers) == {"X-User-ID": "bob"}
    assert user_id_of(a, target, "a") == "alice" and user_id_of(b, target, "b") == "bob"
    assert load_target({}, env={}, pyproject=none).identity("b") is None
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.chatkit-harness]\nissuer-port = 8765\n"
        'issuer-claims = { role = "member", user_id = "{sub}" }\n'
        'user-headers-a = { "X-User-ID" = "carol" }\n'
    )
    from_file = load_target({}, env={"CHATKIT_ISSUER_AUD": "chat-api"}, pyproject=pyproject)
    assert from_file.issuer_port == 8765 and from_file.issuer_aud == "chat-api"
    assert issuer_for(from_file).claims("dave")["user_id"] == "dave"
    assert user_id_of(from_file.identity("a"), from_file, "a") == "carol"
    with pytest.raises(ConfigError, match="JSON object"):
        load_target({"issuer_claims": "[1, 2]"}, env={}, pyproject=none)
    with pytest.raises(ConfigError, match="not a TCP port"):
        load_target({"issuer_port": "70000"}, env={}, pyproject=none)


def _stream(status: int, body: bytes) -> RecordedStream:
    from harness.protocol.sse import SSEParser

    rec = RecordedStream("threads.create", b"{}", {}, "http://x/chatkit", status=status)
    rec.chunks.append((0.0, body))
    parser = SSEParser()
    from harness.protocol.client import ChatKitClient

    ChatKitClient._add_events(rec, parser.feed(body, 0.0))
    rec.framing = parser.close()
    return rec


def test_refusal_verdicts() -> None:
    assert refusal_problem(_stream(401, b'{"error": "invalid_token"}')) is None
    assert refusal_problem(JsonResponse("threads.list", b"{}", {}, "u", status=403)) is None
    streamed = refusal_problem(_stream(401, b'data: {"type": "thread.created"}\n\n'))
    assert streamed is not None and "streams" in streamed
    accepted = refusal_problem(_stream(200, b'data: {"type": "thread.created"}\n\n'))
    assert accepted is not None and accepted.startswith("accepted")
    in_stream = refusal_problem(_stream(200, b'data: {"type": "error", "code": "auth"}\n\n'))
    assert in_stream is not None and "inside the stream" in in_stream
    crashed = refusal_problem(JsonResponse("threads.list", b"{}", {}, "u", status=500))
    assert crashed is not None and "crashed" in crashed
    wrong = refusal_problem(JsonResponse("threads.list", b"{}", {}, "u", status=400))
    assert wrong is not None and "instead of 401/403" in wrong
    nothing = refusal_problem(JsonResponse("threads.list", b"", {}, "u", transport_error="reset"))
    assert nothing is not None and "no HTTP response" in nothing
