"""The MCP stub over real sockets, driven by the Agents SDK's own MCP clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents.mcp import MCPServerSse, MCPServerStreamableHttp

from harness.auth.issuer import TestIssuer
from harness.glass.mcp_box import McpBox, McpStubUnreachable
from harness.glass.mcp_stub import TOOL_TAG, fingerprint
from harness.glass.mcp_stub.credentials import bearer_token, inspect_token
from harness.glass.mcp_stub.remote import fetch_calls


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    issuer = TestIssuer()
    issuer.start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def box(issuer: TestIssuer) -> Iterator[McpBox]:
    box = McpBox.start(key_sets=[issuer.jwks()], authorization_server=issuer.base_url)
    yield box
    box.stop()


def _call(url: str, headers: dict[str, str], tool: str, args: dict[str, Any]) -> Any:
    async def go() -> Any:
        params = {"url": url, "headers": headers}
        async with MCPServerStreamableHttp(params=params) as server:  # type: ignore[arg-type]
            return await server.call_tool(tool, args)

    return asyncio.run(go())


def test_tools_are_seed_shaped_and_tagged(box: McpBox) -> None:
    async def go() -> list[Any]:
        async with MCPServerStreamableHttp(params={"url": box.url}) as server:
            return await server.list_tools()

    tools = {t.name: t for t in asyncio.run(go())}
    assert set(tools) == {"list_tasks", "add_task"}
    for tool in tools.values():
        assert TOOL_TAG in (tool.description or "")
        props = tool.input_schema["properties"]
        assert {"user_id", "access_token"} <= set(props)
    assert tools["add_task"].input_schema["required"] == ["title"]


def test_records_the_verified_header_credential(box: McpBox, issuer: TestIssuer) -> None:
    since = box.mark()
    token = issuer.mint("alice", aud=box.url)
    result = _call(
        box.url, {"Authorization": f"Bearer {token}"}, "add_task", {"title": "mcp-probe-abc123-a1"}
    )
    assert "user 'alice'" in result.content[0].text
    [call] = box.calls(since)
    assert call.marker == "mcp-probe-abc123-a1"
    assert call.transport == "streamable-http"
    assert call.identity == "alice" and call.identity_source == "authorization header"
    seen = call.header_credential
    assert seen is not None and seen.verified and seen.sub == "alice" and seen.aud == [box.url]
    assert seen.fingerprint == fingerprint(token)
    # The token itself is never recorded.
    assert token not in json.dumps(call.to_json())
    assert call.headers["authorization"] == "Bearer ***"


def test_unverified_and_argument_credentials(box: McpBox, issuer: TestIssuer) -> None:
    since = box.mark()
    forged = issuer.mint("mallory", key=issuer.stranger)
    result = _call(
        box.url,
        {},
        "add_task",
        {"title": "mcp-probe-abc123-x1", "user_id": "bob", "access_token": forged},
    )
    [call] = box.calls(since)
    assert call.header_credential is None
    seen = call.argument_credential
    assert seen is not None and seen.sub == "mallory" and not seen.verified
    assert call.identity == "mallory" and call.identity_source == "access_token argument"
    assert call.arguments["access_token"] == f"<token sha256:{fingerprint(forged)}>"
    assert call.user_id_argument == "bob"
    assert "'mallory'" in result.content[0].text


def test_answers_are_keyed_by_identity(box: McpBox) -> None:
    _call(box.url, {}, "add_task", {"title": "carol's task", "user_id": "carol"})
    mine = _call(box.url, {}, "list_tasks", {"user_id": "carol"}).content[0].text
    theirs = _call(box.url, {}, "list_tasks", {"user_id": "dave"}).content[0].text
    assert "carol's task" in mine and "carol's task" not in theirs
    nobody = _call(box.url, {}, "list_tasks", {}).content[0].text
    assert "'anonymous'" in nobody


def test_a_marked_call_fails_with_a_jsonrpc_error(box: McpBox) -> None:
    since = box.mark()
    with pytest.raises(Exception, match="task store is unavailable"):
        _call(box.url, {}, "add_task", {"title": "mcp-fail-abc123-a3"})
    [call] = box.calls(since)
    assert call.failed and "JSON-RPC error" in call.reply


def test_sse_transport_is_recorded_too(box: McpBox) -> None:
    since = box.mark()

    async def go() -> Any:
        url = box.stub.sse_url if box.stub else ""
        params = {"url": url, "headers": {"Authorization": "Bearer x1"}}
        async with MCPServerSse(params=params) as server:  # type: ignore[arg-type]
            return await server.call_tool("list_tasks", {})

    asyncio.run(go())
    [call] = box.calls(since)
    assert call.transport == "sse" and call.session_id
    assert call.header_credential is not None and call.header_credential.kind == "opaque"


def test_protected_resource_metadata_names_the_issuer(box: McpBox, issuer: TestIssuer) -> None:
    well_known = "/.well-known/oauth-protected-resource"
    for path in (well_known + "/mcp", well_known):
        meta = httpx.get(box.url.removesuffix("/mcp") + path).json()
        assert meta["resource"] == box.url
        assert meta["authorization_servers"] == [issuer.base_url]


def test_remote_reads_match_local(box: McpBox) -> None:
    _call(box.url, {}, "list_tasks", {"user_id": "erin"})
    local = box.calls(0)
    remote = fetch_calls(box.url)
    assert [c.to_json() for c in remote] == [c.to_json() for c in local]
    assert McpBox.connect(box.url).calls(0)[-1].user_id_argument == "erin"


def test_connect_to_nothing_is_one_line() -> None:
    with pytest.raises(McpStubUnreachable) as info:
        McpBox.connect("http://127.0.0.1:9/mcp")
    assert "\n" not in str(info.value) and "chatkit-harness mcp-stub" in str(info.value)


def test_inspect_token_kinds(issuer: TestIssuer) -> None:
    def trusted() -> list[dict[str, Any]]:
        return [issuer.jwks()]

    assert inspect_token("opaque-value", "x").kind == "opaque"
    good = inspect_token(issuer.mint("alice"), "x", trusted)
    assert good.verified and good.sub == "alice" and good.aud == [issuer.audience]
    assert inspect_token(issuer.expired("alice"), "x", trusted).verify_error == "expired"
    stranger = inspect_token(issuer.unknown_kid("alice"), "x", trusted)
    assert not stranger.verified and "kid" in (stranger.verify_error or "")
    assert bearer_token({"Authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None


def test_cli_serves_and_refuses_bad_options() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "harness.cli", "mcp-stub", "--port", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "mcp-stub", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("MCP stub listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert fetch_calls(url) == []
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
