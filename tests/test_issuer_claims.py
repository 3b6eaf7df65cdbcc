"""--issuer-claims replaces or removes any default claim of the tokens the harness mints.

Driven through pytester: the tokens under test are the ones the plugin's ``chatkit_target``
fixture hands every check (users A and B), for a deployment that trusts the test issuer.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]

DUMP_TOKENS = """
import json, jwt


def test_dump(chatkit_target):
    out = {}
    for which, token in (("a", chatkit_target.token), ("b", chatkit_target.token_b)):
        out[which] = jwt.decode(token, options={"verify_signature": False})
    print("CLAIMS=" + json.dumps(out))
"""


@pytest.fixture
def listening() -> Iterator[str]:
    """Something listening, so the plugin's preflight connects; nothing is ever sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/chatkit"


def minted_claims(pytester: pytest.Pytester, url: str, claims: str) -> dict[str, dict]:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_tokens=DUMP_TOKENS)
    result = pytester.runpytest_subprocess(
        "-s",
        "-p",
        "no:cacheprovider",
        "--chatkit-url",
        url,
        "--chatkit-issuer-port",
        "0",
        "--chatkit-issuer-claims",
        claims,
    )
    assert result.ret == 0, result.stdout.str()
    line = next(x for x in result.outlines if "CLAIMS=" in x)
    data: dict[str, dict] = json.loads(line.partition("CLAIMS=")[2])
    return data


def test_every_default_claim_can_be_replaced(pytester: pytest.Pytester, listening: str) -> None:
    claims = minted_claims(
        pytester,
        listening,
        '{"name": "Tester {sub}", "email": "{sub}@acme.test", "sub": "user-{sub}", '
        '"iss": "https://auth.acme.test/", "aud": "chat-api", "exp": 4102444800}',
    )
    a, b = claims["a"], claims["b"]
    assert (a["name"], b["name"]) == ("Tester alice", "Tester bob")
    assert (a["email"], b["email"]) == ("alice@acme.test", "bob@acme.test")
    assert (a["sub"], b["sub"]) == ("user-alice", "user-bob")
    assert a["iss"] == "https://auth.acme.test/" and a["aud"] == "chat-api"
    assert a["exp"] == 4102444800


def test_null_removes_a_default_claim(pytester: pytest.Pytester, listening: str) -> None:
    claims = minted_claims(pytester, listening, '{"name": null, "email": null, "nbf": null}')
    for user in claims.values():
        assert not {"name", "email", "nbf"} & set(user), user
        assert {"sub", "iss", "aud", "iat", "exp"} <= set(user)


def test_defaults_without_claims(pytester: pytest.Pytester, listening: str) -> None:
    claims = minted_claims(pytester, listening, "{}")
    assert (claims["a"]["name"], claims["b"]["name"]) == ("Alice", "Bob")
    assert claims["a"]["email"] == "alice@example.test"
