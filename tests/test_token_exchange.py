"""The test issuer's token exchange (RFC 8693) and the reference server's client of it, which
finds the endpoint through the MCP stub's protected-resource metadata (RFC 9728, RFC 8414)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import jwt
import pytest

from harness.auth.issuer import TOKEN_EXCHANGE, TestIssuer
from harness.glass.mcp_box import McpBox
from reference_server.token_exchange import TokenExchangeError, TokenExchanger


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    issuer = TestIssuer()
    issuer.start()
    yield issuer
    issuer.stop()


def _exchange(issuer: TestIssuer, **form: str) -> httpx.Response:
    return httpx.post(issuer.base_url + "/token", data=form, timeout=5)


def test_exchange_mints_a_token_for_the_resource(issuer: TestIssuer) -> None:
    subject = issuer.mint("alice", name="Alice")
    got = _exchange(
        issuer, grant_type=TOKEN_EXCHANGE, subject_token=subject, resource="http://tools/mcp"
    )
    assert got.status_code == 200, got.text
    token = got.json()["access_token"]
    claims = jwt.decode(
        token, issuer.key.public_key(), algorithms=["RS256"], audience="http://tools/mcp"
    )
    assert claims["sub"] == "alice" and claims["name"] == "Alice" and token != subject
    assert issuer.exchanges[-1][:2] == ("alice", "http://tools/mcp")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": TOKEN_EXCHANGE, "subject_token": "x"}, "invalid_request"),
        ({"grant_type": TOKEN_EXCHANGE, "subject_token": "x", "resource": "r"}, "invalid_grant"),
    ],
)
def test_exchange_refusals(issuer: TestIssuer, form: dict[str, str], error: str) -> None:
    got = _exchange(issuer, **form)
    assert got.status_code == 400 and got.json()["error"] == error


def test_exchange_refuses_a_stranger_token(issuer: TestIssuer) -> None:
    forged = issuer.mint("mallory", key=issuer.stranger)
    got = _exchange(issuer, grant_type=TOKEN_EXCHANGE, subject_token=forged, resource="r")
    assert got.json()["error"] == "invalid_grant"


def test_reference_server_discovers_and_exchanges(issuer: TestIssuer) -> None:
    box = McpBox.start(key_sets=[issuer.jwks()], authorization_server=issuer.base_url)
    try:
        exchanger = TokenExchanger(box.url)
        subject = issuer.mint("bob")
        token = asyncio.run(exchanger.token_for(subject))
        assert jwt.decode(token, options={"verify_signature": False})["aud"] == box.url
        assert asyncio.run(exchanger.token_for(subject)) == token  # cached until near expiry
        refused = TokenExchanger(box.url)
        with pytest.raises(TokenExchangeError):
            asyncio.run(refused.token_for("not-a-jwt"))
    finally:
        box.stop()


def test_no_metadata_means_the_session_token_is_kept() -> None:
    box = McpBox.start()  # no authorization server: the MCP server shares our audience
    try:
        assert asyncio.run(TokenExchanger(box.url).token_for("session")) == "session"
    finally:
        box.stop()
