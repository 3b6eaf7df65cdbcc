"""The reference server's MCP mode, built on the Agents SDK's MCPServerStreamableHttp, against
the MCP stub over real sockets: what each tool call carried, for each wiring.

Every piece is real: the reference server runs as a subprocess (openai-agents Responses or Chat
Completions model on the model stub, MCPServerStreamableHttp to the MCP stub, token exchange
at the test issuer); the probe is the one the mcp.* checks judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from harness.auth.issuer import TestIssuer
from harness.glass.box import GlassBox
from harness.glass.mcp_box import McpBox
from harness.probes.mcp import HEADER, McpEvidence, probe_mcp
from harness.protocol.client import ChatKitClient
from harness.target.config import Target
from harness.target.launch import start_reference_server

pytestmark = pytest.mark.slow

# (model, fault): the correct wiring on both model APIs, the seed's wiring, the shared client.
SETUPS = {
    "correct": ("openai", None),
    "correct-chat": ("openai-chat", None),
    "token-in-prompt": ("openai", "mcp-token-in-prompt"),
    "shared-client": ("openai", "mcp-shared-client"),
}


@pytest.fixture(scope="module")
def stubs() -> Iterator[tuple[TestIssuer, GlassBox, McpBox]]:
    issuer = TestIssuer()
    issuer.start()
    box = GlassBox.start()
    mcp = McpBox.start(key_sets=[issuer.jwks()], authorization_server=issuer.base_url)
    yield issuer, box, mcp
    mcp.stop()
    box.stop()
    issuer.stop()


@pytest.fixture(scope="module", params=list(SETUPS))
def evidence(
    request: pytest.FixtureRequest, stubs: tuple[TestIssuer, GlassBox, McpBox]
) -> tuple[str, McpEvidence, TestIssuer]:
    issuer, box, mcp = stubs
    model, fault = SETUPS[request.param]
    args = ["--db", ":memory:", "--model", model, "--jwks-url", issuer.jwks_url]
    args += ["--issuer", issuer.issuer, "--audience", issuer.audience]
    if fault:
        args += ["--fault", fault]
    server = start_reference_server(args, env={**box.env(), **mcp.env()}, timeout=90)
    try:
        target = Target(url=server.url, token=issuer.mint("alice"), token_b=issuer.mint("bob"))

        async def run() -> McpEvidence:
            async with ChatKitClient(target) as client:
                a, b = target.identity("a"), target.identity("b")
                assert a is not None
                return await probe_mcp(client, a, b, mcp, box, exchange_offered=True)

        return request.param, asyncio.run(run()), issuer
    finally:
        server.stop()


def test_every_turn_made_its_tool_call(evidence: tuple[str, McpEvidence, TestIssuer]) -> None:
    _, ev, _ = evidence
    for turn in ev.turns:
        assert turn.rec.status == 200, turn.label
        assert [c.tool for c in turn.calls] == ["add_task"], turn.label
    # The model saw the stub's tools under their own names, through the Agents SDK.
    assert {"add_task", "list_tasks"} <= set(ev.offered_tools())


def test_what_the_tool_calls_carried(evidence: tuple[str, McpEvidence, TestIssuer]) -> None:
    setup, ev, issuer = evidence
    calls = [(t, c) for t in ev.turns for c in t.calls]
    if setup.startswith("correct"):
        for turn, call in calls:
            who = ev.attribute(call)
            assert (who.user, who.via) == (turn.user.name, HEADER), turn.label
            seen = call.header_credential
            assert seen is not None and seen.verified and seen.aud == [ev.mcp_url]
            # Exchanged, not the session token; and nothing reached the arguments.
            assert seen.fingerprint != turn.user.token_fingerprint
            assert call.argument_credential is None and call.user_id_argument is None
        assert {sub for sub, resource, _ in issuer.exchanges if resource == ev.mcp_url} >= {
            "alice",
            "bob",
        }
        [failing] = ev.turns_of("failing")
        assert failing.calls[0].failed and "tool answered" in failing.rec.assistant_text
    elif setup == "token-in-prompt":
        for turn, call in calls:
            who = ev.attribute(call)
            assert call.header_credential is None
            # The obedient model copied the seed prompt's credentials into the arguments.
            assert (who.user, who.via) == (turn.user.name, "access_token argument")
            assert call.user_id_argument == turn.user.sub
            seen = call.argument_credential
            assert seen is not None and seen.fingerprint == turn.user.token_fingerprint
    else:  # one connection for everybody: the first user's identity on every call
        acting = {ev.attribute(c).user for _, c in calls}
        assert len(acting) == 1
        strangers = [t for t, c in calls if ev.attribute(c).user != t.user.name]
        assert strangers and all(t.user.name not in acting for t in strangers)
        # The stub answered with the wrong user's data, visible in the reply the user got.
        wrong = strangers[0]
        assert f"user '{ev.users[acting.pop() or 'A'].sub}'" in wrong.rec.assistant_text
